"""Where secrets may go (issue 11): Google credentials only to Google API hosts,
loopback or an explicitly named gateway; HEADERS values and tokens never over
plain http except to loopback, for every request (the model-metadata GET at
open included); one header rule.

Servers on a non-loopback address run inside a private network namespace the
test creates (netns_run.py)."""

import json
import subprocess

import pytest
from osgeo import gdal

from conftest import config_options
from netns_run import NETNS_ADDRESS, run_in_netns

SECRET_TOKEN = "ya29.SECRET-token-7f3a9c"
SECRET_KEY = "api-key-SECRET-5b1e2d"


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-subj", "/CN=eemodel-test", "-days", "1",
                    "-addext", "subjectAltName=IP:%s" % NETNS_ADDRESS],
                   check=True, capture_output=True)
    return str(cert), str(key)


def _name(rgb_byte, url_path, *extra):
    parts = ["input=%s" % rgb_byte, "url={URL}%s" % url_path, "input_tile_size=64,64",
             "output_bands=output:float32"] + list(extra)
    return "EEMODEL:" + ";".join(parts)


def _job(name, tls=None, **config):
    base = {"GDAL_HTTP_MAX_RETRY": "0", "EEMODEL_ACCESS_TOKEN": SECRET_TOKEN}
    base.update(config)
    job = {"name": name, "config": base}
    if tls:
        job["tls_cert"], job["tls_key"] = tls
        job["config"].setdefault("GDAL_HTTP_UNSAFESSL", "YES")
    return job


def _env(subprocess_env):
    env = dict(subprocess_env)
    env.pop("EEMODEL_ACCESS_TOKEN", None)
    # the jobs set the CA options they test; one inherited from the environment (rasterio,
    # imported by an earlier test, points GDAL_CURL_CA_BUNDLE at its own bundle) would win
    for name in ("GDAL_CURL_CA_BUNDLE", "CURL_CA_BUNDLE"):
        env.pop(name, None)
    return env


def _sent(result, secret):
    """The requests that carried secret anywhere (headers, path or body)."""
    return [r for r in result["requests"] if secret in json.dumps(r)]


def _all_text(result):
    return json.dumps({k: v for k, v in result.items() if k != "requests"})


# ---- 1. Google credentials only where they belong ------------------------

def test_google_token_not_sent_to_a_non_google_host_with_a_google_path(rgb_byte, tls_pair,
                                                                        subprocess_env):
    """https://other-host/v1/projects/x/models/y:predict gets no Google token."""
    result = run_in_netns(_job(_name(rgb_byte, "/v1/projects/x/models/y:predict"), tls=tls_pair),
                          _env(subprocess_env))
    assert result["requests"], result  # the prediction was sent, without credentials
    assert not _sent(result, SECRET_TOKEN)
    assert all("Authorization" not in r["headers"] for r in result["requests"])
    assert SECRET_TOKEN not in _all_text(result)


def test_google_token_not_sent_to_a_vertex_api_root_elsewhere(rgb_byte, tls_pair, subprocess_env):
    name = ("EEMODEL:input=%s;api_root={URL};endpoint=projects/p/locations/l/endpoints/e;"
            "input_tile_size=64,64;output_bands=output:float32" % rgb_byte)
    result = run_in_netns(_job(name, tls=tls_pair), _env(subprocess_env))
    assert result["requests"], result
    assert not _sent(result, SECRET_TOKEN)


def test_google_token_sent_to_a_gateway_named_by_config(rgb_byte, tls_pair, subprocess_env):
    job = _job(_name(rgb_byte, "/v1/projects/x/models/y:predict"), tls=tls_pair,
               EEMODEL_GOOGLE_CREDENTIALS_HOSTS="gw.example.com, %s" % NETNS_ADDRESS)
    result = run_in_netns(job, _env(subprocess_env))
    assert result["requests"], result
    assert all(r["headers"].get("Authorization") == "Bearer " + SECRET_TOKEN for r in result["requests"])
    assert SECRET_TOKEN not in _all_text(result)


def test_google_token_sent_to_a_gateway_named_by_open_option(rgb_byte, tls_pair, subprocess_env):
    job = _job(_name(rgb_byte, "/v1/projects/x/models/y:predict"), tls=tls_pair)
    job["open_options"] = ["GOOGLE_CREDENTIALS_HOST=%s" % NETNS_ADDRESS]
    result = run_in_netns(job, _env(subprocess_env))
    assert result["requests"], result
    assert all(r["headers"].get("Authorization") == "Bearer " + SECRET_TOKEN for r in result["requests"])


def test_gateway_opt_in_is_refused_from_a_descriptor_file(rgb_byte, tmp_path, predictor):
    """A shared .eemodel.json must not be able to send the user's token elsewhere."""
    path = tmp_path / "shared.eemodel.json"
    path.write_text(json.dumps({"input": rgb_byte, "url": predictor.aiplatform_url("identity"),
                                "input_tile_size": [64, 64], "output_bands": "output:float32",
                                "google_credentials_host": "evil.example.com"}))
    with pytest.raises(RuntimeError) as e:
        gdal.Open(str(path))
    assert "GOOGLE_CREDENTIALS_HOST" in str(e.value) and "the JSON descriptor" in str(e.value)
    assert "open option" in str(e.value)
    # nor from a connection string (VRT SourceFilename, QGIS projects carry them)
    name = ("EEMODEL:input=%s;url=%s;input_tile_size=64,64;output_bands=output:float32;"
            "google_credentials_host=evil.example.com" % (rgb_byte, predictor.aiplatform_url("identity")))
    with pytest.raises(RuntimeError) as e:
        gdal.Open(name)
    assert "GOOGLE_CREDENTIALS_HOST" in str(e.value) and "the connection string" in str(e.value)


# ---- 2. no secret over plain http, at open or later ----------------------

@pytest.mark.parametrize("how", ["key", "config"])
@pytest.mark.parametrize("header", ["X-Api-Key", "X-Route"])
def test_headers_never_cross_plain_http_even_at_open(rgb_byte, subprocess_env, how, header):
    """The TF Serving metadata GET at open is refused before any connection."""
    extra = ['headers="%s: %s"' % (header, SECRET_KEY)] if how == "key" else []
    config = {"EEMODEL_HEADERS": "%s: %s" % (header, SECRET_KEY)} if how == "config" else {}
    result = run_in_netns(_job(_name(rgb_byte, "/v1/models/m:predict", *extra), **config),
                          _env(subprocess_env))
    assert result["requests"] == [], result
    assert not result["opened"]
    text = " ".join(result["errors"])
    assert header in text and "plain http" in text, text
    assert SECRET_KEY not in _all_text(result)


def test_gdal_http_headers_never_cross_plain_http(rgb_byte, subprocess_env, tmp_path):
    header_file = tmp_path / "headers.txt"
    header_file.write_text("X-Api-Key: %s\n" % SECRET_KEY)
    for config in ({"GDAL_HTTP_HEADERS": "X-Api-Key: %s" % SECRET_KEY},
                   {"GDAL_HTTP_HEADER_FILE": str(header_file)}):
        result = run_in_netns(_job(_name(rgb_byte, "/v2/models/m/infer"), **config),
                              _env(subprocess_env))
        assert result["requests"] == [], result
        assert "X-Api-Key" in " ".join(result["errors"])
        assert SECRET_KEY not in _all_text(result)


def test_plain_http_without_secrets_still_works(rgb_byte, subprocess_env):
    """The rule refuses secrets, not plain http: a keyless server is reached."""
    result = run_in_netns(_job(_name(rgb_byte, "/v1/models/m:predict"), EEMODEL_ACCESS_TOKEN=""),
                          _env(subprocess_env))
    assert [r["method"] for r in result["requests"]][:1] == ["GET"], result


def test_headers_over_https_to_another_host_are_sent(rgb_byte, tls_pair, subprocess_env):
    result = run_in_netns(_job(_name(rgb_byte, "/v1/models/m:predict",
                                     'headers="X-Api-Key: %s"' % SECRET_KEY), tls=tls_pair),
                          _env(subprocess_env))
    assert result["requests"], result
    assert all(r["headers"].get("X-Api-Key") == SECRET_KEY for r in result["requests"])
    assert SECRET_KEY not in _all_text(result)


# ---- 4. one header rule ---------------------------------------------------

def test_headers_split_by_the_rule_that_validates_them(predictor, eem_name, rgb_byte):
    name = eem_name(rgb_byte, backend="url", output_bands="output:float32:3",
                    headers='"X-A: 1, X.B: 2, X-C: a,b"')
    ds = gdal.Open(name)
    assert ds.GetRasterBand(1).ReadRaster(395, 359, 1, 1) is not None
    ds = None
    sent = predictor.log()[0]["headers"]
    assert sent.get("x-a") == "1"
    assert sent.get("x.b") == "2"
    assert sent.get("x-c") == "a,b"


@pytest.mark.parametrize("text,problem", [
    ("X-A 1", "no header name"),
    ("X A: 1", "no header name"),
    (": 1", "no header name"),
])
def test_bad_headers_are_refused_with_the_rule(predictor, eem_name, rgb_byte, text, problem):
    with pytest.raises(RuntimeError) as e:
        gdal.Open(eem_name(rgb_byte, backend="url", headers='"%s"' % text))
    assert "HEADERS" in str(e.value)
    assert problem in str(e.value)


def test_bad_config_headers_are_refused_too(predictor, eem_name, rgb_byte):
    with config_options(EEMODEL_HEADERS="X-A 1"):
        with pytest.raises(RuntimeError) as e:
            gdal.Open(eem_name(rgb_byte, backend="url"))
    assert "EEMODEL_HEADERS" in str(e.value)


# ---- 3. nothing secret is ever shown --------------------------------------

LEAK_PROBE = r'''
import json, sys
from osgeo import gdal
gdal.UseExceptions()
job = json.loads(sys.argv[1])
out = {"errors": []}
def handler(cls, code, msg):
    out["errors"].append(msg)
gdal.PushErrorHandler(handler)
for k, v in job["config"].items():
    gdal.SetConfigOption(k, v)
ds = gdal.Open(job["name"])
out["description"] = ds.GetDescription()
out["info"] = gdal.Info(ds, format="json")
out["metadata"] = {d: ds.GetMetadata(d) for d in (ds.GetMetadataDomainList() or [])}
out["band_metadata"] = [ds.GetRasterBand(b + 1).GetMetadata() for b in range(ds.RasterCount)]
out["read"] = ds.GetRasterBand(1).ReadRaster(395, 359, 1, 1) is not None
vrt = gdal.BuildVRT(job["vrt"], [ds])
vrt = None
out["vrt"] = open(job["vrt"]).read()
ds = None
for bad in (job["bad_name"], job["vrt"]):
    try:
        bad_ds = gdal.Open(bad)  # kept while its band is used (GDAL 3.6 Python)
        bad_ds.GetRasterBand(1).ReadRaster(395, 359, 1, 1)
    except RuntimeError as e:
        out["errors"].append(str(e))
    bad_ds = None
print(json.dumps(out))
'''


def test_no_secret_in_messages_debug_metadata_or_descriptions(predictor, rgb_byte, tmp_path,
                                                              subprocess_env, token):
    """Every secret the driver is given, grepped for in everything it shows."""
    secrets = {"token": token, "header": SECRET_KEY, "config_header": "cfg-SECRET-91ac",
               "password": "pw-SECRET-33d0", "query": "q-SECRET-e72b"}
    base = predictor.url.replace("http://", "http://user:%s@" % secrets["password"])

    def name(model):
        return ("EEMODEL:input=%s;url=%s/v1/projects/p/models/%s:predict?key=%s&alt=json;"
                "input_tile_size=64,64;output_bands=output:float32:3;"
                'headers="X-Api-Key: %s, X-Route: blue"'
                % (rgb_byte, base, model, secrets["query"], secrets["header"]))

    job = {"name": name("identity"), "bad_name": name("no-such-model"),
           "vrt": str(tmp_path / "leak.vrt"),
           "config": {"EEMODEL_HEADERS": "X-Team-Token: " + secrets["config_header"],
                      "GDAL_HTTP_MAX_RETRY": "0"}}
    env = dict(subprocess_env, CPL_DEBUG="ON", CPL_CURL_VERBOSE="YES")
    proc = subprocess.run(["/usr/bin/python3", "-c", LEAK_PROBE, json.dumps(job)], env=env,
                          capture_output=True, timeout=300)
    stdout, stderr = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, stderr[-3000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    # the probe really exercised the paths: prediction, debug trace, errors, VRT
    assert out["read"]
    assert "> POST /v1/projects/p/models/identity:predict" in stderr
    assert "X-Api-Key: [redacted]" in stderr
    assert any("no-such-model" in e for e in out["errors"]), out["errors"]
    assert "[redacted]" in out["description"] and "[redacted]" in out["vrt"]
    assert any("[redacted]" in e for e in out["errors"]), out["errors"]  # the VRT reopened
    sent = predictor.log()[0]
    assert sent["headers"]["x-api-key"] == secrets["header"]
    assert sent["headers"]["x-team-token"] == secrets["config_header"]
    assert secrets["query"] in sent["path"]
    # GDAL's own "GDALOpen(<name>, this=...)" debug line echoes the name the
    # caller gave; the driver does not control it (hence the docs' advice to
    # keep secrets out of names).  Everything else must be clean.
    out["errors"] = [e for e in out["errors"] if not e.startswith("GDAL: GDALOpen(")]
    stderr = "\n".join(l for l in stderr.splitlines() if "GDAL: GDALOpen(" not in l)
    shown = json.dumps(out)
    for what, secret in secrets.items():
        assert secret not in shown, (what, shown)
        assert secret not in stderr, (what, [l for l in stderr.splitlines() if secret in l])
    assert "blue" not in stderr  # every HEADERS value is a secret, not just key-like names


def test_inline_json_description_is_redacted(predictor, rgb_byte):
    doc = {"input": rgb_byte, "url": predictor.aiplatform_url("identity") + "?key=q-SECRET-1",
           "inputTileSize": [64, 64], "outputBands": "output:float32:3",
           "headers": {"X-Api-Key": SECRET_KEY}}
    ds = gdal.Open("EEMODEL:" + json.dumps(doc))
    shown = ds.GetDescription()
    ds = None
    assert shown.startswith("EEMODEL:{") and "[redacted]" in shown
    assert SECRET_KEY not in shown and "q-SECRET-1" not in shown
    assert json.loads(shown[len("EEMODEL:"):])["headers"] == "[redacted]"


def test_plain_names_keep_their_description(predictor, eem_name, rgb_byte):
    name = eem_name(rgb_byte, output_bands="output:float32:3")
    ds = gdal.Open(name)
    assert ds.GetDescription() == name
    ds = None
