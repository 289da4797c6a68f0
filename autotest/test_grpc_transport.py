"""gRPC transport (issue 15): calls multiplexed as streams of one connection over h2c
(grpc://) despite Debian 12's libcurl prior-knowledge reuse bug (EEMODEL_GRPC_CONNECTION_REUSE
=YES; the default with libcurl >= 8 only, as 7.88.1 loses the trailers of concurrent h2c
streams, which are then asked again), a connection per call otherwise, a restarted server reached
again at once, grpcs:// against a TLS stand-in (trusted through the CA options, refused fast
when not), credentials over TLS to a non-loopback host but never over h2c, and Vertex's
x-goog-request-params routing metadata.

Connections are counted on the server side: each gRPC record carries the client's
address:port (`peer`), one per TCP connection."""

import subprocess
import shutil

import numpy as np
import pytest
from osgeo import gdal

from conftest import Messages, config_options
from netns_run import NETNS_ADDRESS, run_in_netns
from predictor.harness import StandIn

TILE = (16, 16)
ONE_INSTANCE = 16 * 16 * 2 * 2 + 300  # one 16x16 tile of 2 uint16 keys per call


@pytest.fixture
def many_tiles(make_raster):
    """48 tiles of 16x16: with ONE_INSTANCE, 48 calls."""
    rng = np.random.default_rng(150)
    return make_raster(rng.integers(0, 1000, size=(2, 96, 128)).astype(np.uint16))


def grpc_name(root, src, model="conv", api="v1", **extra):
    parts = ["input=%s" % src, "url=%s/%s/models/%s" % (root, api, model),
             "input_tile_size=%d,%d" % TILE, "input_overlap_size=0,0", "output_bands=output:float32"]
    parts += ["%s=%s" % (k, v) for k, v in extra.items() if v is not None]
    return "EEMODEL:" + ";".join(parts)


def rest_name(server, src, model="conv"):
    parts = ["input=%s" % src, "url=%s/v1/models/%s:predict" % (server.url, model),
             "input_tile_size=%d,%d" % TILE, "input_overlap_size=0,0", "output_bands=output:float32",
             "payload_format=RAW_JSON"]
    return "EEMODEL:" + ";".join(parts)


def libcurl_shares_h2c_by_default():
    """EEMODEL_GRPC_CONNECTION_REUSE=AUTO: shared h2c connections from libcurl 8 on."""
    vernum = subprocess.run([shutil.which("curl-config"), "--vernum"], check=True, capture_output=True,
                            text=True).stdout.strip()
    return int(vernum, 16) >= 0x080000


def calls(server, api="tfserving-grpc"):
    return [r for r in server.log() if r["api"] == api]


def peers(records):
    return {r["peer"] for r in records}


def read(name):
    ds = gdal.Open(name)
    return ds.ReadAsArray()


@pytest.fixture(scope="module")
def own_standin():
    """A stand-in of this module's own: no connection from another module's tests."""
    with StandIn.start() as server:
        yield server


@pytest.fixture
def fresh(own_standin):
    own_standin.renew()
    return own_standin


# ---------------------------------------------------------------------------
# h2c: one connection, streams multiplexed


def test_h2c_calls_share_one_connection(fresh, many_tiles):
    """48 calls, 8 in flight at a time, all arrive over one TCP connection; pixels as REST.
    (With libcurl 7.88.1 some calls lose their trailers and are asked again: >= 48 calls.)"""
    reference = read(rest_name(fresh, many_tiles))
    fresh.reset()
    with config_options(EEMODEL_MAX_CONNECTIONS="8", EEMODEL_GRPC_CONNECTION_REUSE="YES"):
        got = read(grpc_name(fresh.grpc_root, many_tiles, max_payload_bytes=ONE_INSTANCE))
    assert np.array_equal(got, reference, equal_nan=True)
    log = calls(fresh)
    assert len(log) >= 48 and all(r["grpc_status"] == 0 and r["n_instances"] == 1 for r in log)
    assert len({tuple(r["instance_digests"]) for r in log}) == 48  # every tile asked
    assert len(peers(log)) == 1, sorted(peers(log))


@pytest.mark.parametrize("reuse", ["NO", None])
def test_h2c_one_connection_per_call_when_reuse_is_off(fresh, many_tiles, reuse):
    """EEMODEL_GRPC_CONNECTION_REUSE=NO, and the default with libcurl < 8: the old way round
    the libcurl bug (workaround A), a connection of its own for every call; the same pixels."""
    with config_options(EEMODEL_GRPC_CONNECTION_REUSE="YES"):
        reference = read(grpc_name(fresh.grpc_root, many_tiles, max_payload_bytes=ONE_INSTANCE))
    fresh.reset()
    with config_options(EEMODEL_GRPC_CONNECTION_REUSE=reuse):
        got = read(grpc_name(fresh.grpc_root, many_tiles, max_payload_bytes=ONE_INSTANCE))
    assert np.array_equal(got, reference, equal_nan=True)
    log = calls(fresh)
    if reuse is None and libcurl_shares_h2c_by_default():
        assert len(log) >= 48 and len(peers(log)) == 1
    else:
        assert len(log) == 48  # no trailers lost: nothing asked twice
        assert len(peers(log)) == 48


def test_h2c_calls_in_flight_together_are_never_retried(fresh, many_tiles):
    """A connection per call with 8 calls in flight at once: each call opens its own
    connection and none is put on another call's live one (libcurl would multiplex it there,
    the broken prior-knowledge reuse: "Error in the HTTP2 framing layer", then a retry a
    second later), so no call is retried and no warning is given."""
    with config_options(EEMODEL_MAX_CONNECTIONS="8", EEMODEL_GRPC_CONNECTION_REUSE="NO"):
        with Messages() as m:
            ds = gdal.Open(grpc_name(fresh.grpc_root, many_tiles, max_payload_bytes=ONE_INSTANCE))
            ds.ReadAsArray()
            retries = int(ds.GetMetadataItem("RETRIES", "EEMODEL_STATS"))
            requests = int(ds.GetMetadataItem("REQUESTS", "EEMODEL_STATS"))
            ds = None
    assert (retries, requests) == (0, 48)
    assert m.warnings() == []
    assert len(calls(fresh)) == 48 and len(peers(calls(fresh))) == 48


def test_h2c_server_restart_between_reads(many_tiles):
    """The pooled connection dies with its server; a new server on the same port is reached
    at once: the call that finds the connection gone is retried without counting (with
    GDAL_HTTP_MAX_RETRY=0 a counted retry would fail the read), and the calls after it share
    the new connection.  Calls go one at a time here
    (EEMODEL_MAX_CONNECTIONS=1), so that libcurl 7.88.1 loses no trailers."""
    first = StandIn.start()
    port = first.grpc_port
    try:
        with config_options(GDAL_HTTP_MAX_RETRY="2", GDAL_HTTP_RETRY_DELAY="0.01",
                            EEMODEL_GRPC_CONNECTION_REUSE="YES"):
            before = read(grpc_name(first.grpc_root, many_tiles, max_payload_bytes=ONE_INSTANCE))
        assert len(peers(calls(first))) == 1
    finally:
        first.stop()
    with StandIn.start(grpc_port=port) as second:
        assert second.grpc_root == "grpc://127.0.0.1:%d" % port
        with config_options(GDAL_HTTP_MAX_RETRY="0",
                            EEMODEL_GRPC_CONNECTION_REUSE="YES", EEMODEL_MAX_CONNECTIONS="1"):
            after = read(grpc_name(second.grpc_root, many_tiles, max_payload_bytes=ONE_INSTANCE))
        assert np.array_equal(after, before, equal_nan=True)
        log = calls(second)
        assert len(log) == 48 and all(r["grpc_status"] == 0 for r in log)
        assert len(peers(log)) == 1


# ---------------------------------------------------------------------------
# grpcs:// against a TLS stand-in


def make_certificates(folder, addresses):
    """A private CA and a server certificate it signs for the IP addresses given."""
    ca_key, ca_cert = folder / "ca.key", folder / "ca.pem"
    key, csr, cert, chain = folder / "server.key", folder / "server.csr", folder / "server.pem", folder / "chain.pem"
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=%s\n" % ",".join("IP:%s" % a for a in addresses))

    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca_cert),
        "-subj", "/CN=eemodel-test-ca", "-days", "1")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=eemodel-grpc")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "1", "-extfile", str(ext))
    chain.write_bytes(cert.read_bytes() + ca_cert.read_bytes())
    return {"ca": str(ca_cert), "chain": str(chain), "key": str(key)}


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("grpc-tls"), ["127.0.0.1", NETNS_ADDRESS])


@pytest.fixture(scope="module")
def tls_standin(certificates):
    with StandIn.start(token="tls-token", grpc_tls=(certificates["chain"], certificates["key"])) as server:
        yield server


@pytest.fixture
def tls(tls_standin):
    tls_standin.renew()
    return tls_standin


@pytest.mark.parametrize("option", ["GDAL_CURL_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_grpcs_predicts_with_the_ca_trusted(tls, many_tiles, certificates, option, monkeypatch):
    """grpcs:// with the private CA given through the CA options: the same pixels as REST,
    every call multiplexed on one TLS connection (ALPN h2)."""
    # a CA option inherited from the environment (rasterio, imported by an earlier test,
    # points GDAL_CURL_CA_BUNDLE at its own bundle) would win over the one under test
    for name in ("GDAL_CURL_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    assert tls.grpc_root.startswith("grpcs://127.0.0.1:")
    reference = read(rest_name(tls, many_tiles))
    tls.reset()
    trust = {"GDAL_CURL_CA_BUNDLE": None, "CURL_CA_BUNDLE": None, option: certificates["ca"]}
    with config_options(GDAL_HTTP_UNSAFESSL="NO", **trust):
        got = read(grpc_name(tls.grpc_root, many_tiles, max_payload_bytes=ONE_INSTANCE))
        oip = read(grpc_name(tls.grpc_root, many_tiles, api="v2", max_payload_bytes=ONE_INSTANCE))
    assert np.array_equal(got, reference, equal_nan=True)
    assert np.array_equal(oip, reference, equal_nan=True)
    for api in ("tfserving-grpc", "kserve-grpc"):
        log = calls(tls, api)
        assert len(log) == 48 and all(r["grpc_status"] == 0 for r in log)
        assert len(peers(log)) == 1


@pytest.mark.parametrize("check_metadata", ["YES", "NO"])
def test_grpcs_untrusted_certificate_fails_fast(tls, many_tiles, check_metadata):
    """Without the private CA the handshake fails once, with an error naming TLS and the
    certificate: at open by the model-metadata call, else on the first read; no retry (10 by
    default, 600 s apart here), no call reaches the server."""
    with config_options(GDAL_HTTP_UNSAFESSL="NO", GDAL_CURL_CA_BUNDLE="/etc/ssl/certs/ca-certificates.crt",
                        CURL_CA_BUNDLE=None, GDAL_HTTP_RETRY_DELAY="600", EEMODEL_CHECK_METADATA=check_metadata):
        with pytest.raises(RuntimeError) as excinfo:
            ds = gdal.Open(grpc_name(tls.grpc_root, many_tiles))
            assert check_metadata == "NO"  # the open fails when the check runs
            ds.ReadAsArray()
    message = str(excinfo.value)
    assert ("model metadata check at open" in message) == (check_metadata == "YES")
    assert "certificate" in message.lower() and "TLS" in message
    assert "not retried" in message and "attempts" not in message
    assert tls.grpc_root.replace("grpcs://", "") in message
    assert not [r for r in tls.log() if r.get("grpc")]


def test_metadata_call_at_open_fails_fast_when_nothing_listens(many_tiles):
    """As over REST: a refused connection fails the open, once."""
    with config_options(GDAL_HTTP_RETRY_DELAY="600"):
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(grpc_name("grpc://127.0.0.1:9", many_tiles))
    message = str(excinfo.value)
    assert "model metadata check at open" in message and "127.0.0.1:9" in message
    assert "not retried" in message and "attempts" not in message


def test_metadata_not_published_is_skipped_silently(fresh, many_tiles):
    """NOT_FOUND (the stand-in without a `metadata` config, like a server without the
    method) is the gRPC 404: the descriptor is used as written, without a warning."""
    from conftest import Messages
    with Messages() as messages:
        got = read(grpc_name(fresh.grpc_root, many_tiles))
    assert got.shape == (96, 128)
    assert not messages.warnings()
    assert [r["grpc_status"] for r in fresh.log() if r["api"] == "tfserving-grpc-metadata"] == [5]


# ---------------------------------------------------------------------------
# Credentials: over TLS to any host, over h2c only to loopback (request_headers.c)

SECRET = "grpc-SECRET-bearer-4c9d"
NETNS_JOB = r'''
import json, sys
sys.path.insert(0, %(autotest)r)
from osgeo import gdal
from predictor.harness import StandIn
job = json.loads(sys.stdin.read())
tls = (job["chain"], job["key"]) if job["scheme"] == "grpcs" else None
with StandIn.start(host=job["host"], grpc_tls=tls) as server:
    for key, value in job["config"].items():
        gdal.SetConfigOption(key, value)
    result = {"root": server.grpc_root, "read": False, "error": None}
    try:
        gdal.UseExceptions()
        ds = gdal.Open(job["name"].replace("{ROOT}", server.grpc_root))
        result["read"] = ds.GetRasterBand(1).ReadRaster(0, 0, 16, 16) is not None
    except RuntimeError as e:
        result["error"] = str(e)
    result["log"] = [r for r in server.log() if r.get("grpc")]
print(json.dumps(result))
'''


def run_grpc_in_netns(scheme, name, certificates, subprocess_env):
    import os
    import tempfile
    autotest = os.path.dirname(os.path.abspath(__file__))
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(NETNS_JOB % {"autotest": autotest})
        script = f.name
    env = dict(subprocess_env)
    for key in ("EEMODEL_ACCESS_TOKEN", "GDAL_CURL_CA_BUNDLE", "CURL_CA_BUNDLE"):
        env.pop(key, None)
    job = {"scheme": scheme, "host": NETNS_ADDRESS, "name": name, "chain": certificates["chain"],
           "key": certificates["key"],
           # the header through a config option (GDAL's own CPL_DEBUG line of GDALOpen would
           # print a HEADERS key of the connection string)
           "config": {"EEMODEL_HEADERS": "authorization: Bearer %s" % SECRET,
                      "GDAL_CURL_CA_BUNDLE": certificates["ca"], "GDAL_HTTP_MAX_RETRY": "0",
                      "GDAL_HTTP_UNSAFESSL": "NO", "EEMODEL_CHECK_METADATA": "NO"}}
    try:
        return run_in_netns(job, env, script=script)
    finally:
        os.unlink(script)


def test_bearer_goes_over_grpcs_to_a_non_loopback_host(make_raster, certificates, subprocess_env):
    src = make_raster(np.zeros((2, 16, 16), dtype=np.uint16))
    name = grpc_name("{ROOT}", src)
    result = run_grpc_in_netns("grpcs", name, certificates, subprocess_env)
    assert result["root"].startswith("grpcs://%s:" % NETNS_ADDRESS)
    assert result["read"], result
    log = result["log"]
    assert log and all(r["authorization"] and r["authorization"].startswith("Bearer ") for r in log)
    assert SECRET not in result["stderr"]


def test_bearer_never_goes_over_h2c_to_a_non_loopback_host(make_raster, certificates, subprocess_env):
    src = make_raster(np.zeros((2, 16, 16), dtype=np.uint16))
    name = grpc_name("{ROOT}", src)
    result = run_grpc_in_netns("grpc", name, certificates, subprocess_env)
    assert result["root"].startswith("grpc://%s:" % NETNS_ADDRESS)
    assert not result["read"]
    assert 'refusing to send the HTTP header "authorization"' in result["error"]
    assert SECRET not in result["error"] and SECRET not in result["stderr"]
    assert result["log"] == []  # nothing was sent, not even without the header


# ---------------------------------------------------------------------------
# Vertex routing metadata


def test_vertex_sends_x_goog_request_params(predictor, make_raster, token):
    src = make_raster(np.zeros((2, 16, 16), dtype=np.uint16))
    name = ("EEMODEL:input=%s;api_root=%s;endpoint=projects/p-1/locations/us-central1/endpoints/conv;"
            "payload_format=GRPC_TF_TENSORS;input_tile_size=16,16;output_bands=output:float32"
            % (src, predictor.grpc_root))
    read(name)
    log = [r for r in predictor.log() if r["api"] == "vertex-grpc"]
    assert log and all(r["grpc_status"] == 0 for r in log)
    for r in log:
        assert r["headers"]["x-goog-request-params"] == "endpoint=projects/p-1/locations/us-central1/endpoints/conv"
        assert token not in r["headers"]["x-goog-request-params"]
    # TF Serving and OIP calls carry no routing metadata
    predictor.reset()
    read(grpc_name(predictor.grpc_root, src))
    assert all("x-goog-request-params" not in r["headers"] for r in calls(predictor))
