"""Credentials (issue 4): the chain EEMODEL_ACCESS_TOKEN -> EEMODEL_ACCESS_TOKEN_FILE ->
GOOGLE_APPLICATION_CREDENTIALS (service_account / authorized_user) -> gcloud ADC file ->
metadata server, against the stand-in's token endpoint and metadata emulation
(predictor/oauth.py), which verifies every JWT (signature, aud, scope, iat, exp).

The driver runs in subprocesses: the token cache is process-wide, and each test
needs a fresh process to count token fetches.  RSA keys are generated at test
time with `openssl genpkey`; nothing secret is committed.
"""

import json
import subprocess
import time
import urllib.request

import numpy as np
import pytest

from conftest import build_name
from predictor.harness import StandIn

PYTHON = "/usr/bin/python3"
STATIC = "static-SECRET-token-0123456789"
CLIENT_EMAIL = "eem-test@p.iam.gserviceaccount.com"
CLIENT_ID = "client-id-42.apps.example.com"
CLIENT_SECRET = "client-SECRET-abcdefghijklmnop"
REFRESH_TOKEN = "1//refresh-SECRET-qrstuvwxyz0123456789"
ISSUED_PREFIX = "ya29.standin-"      # every token the stand-in issues starts so (oauth.py)
JWT_PREFIX = "eyJhbGciOiJSUzI1NiIs"   # base64url of '{"alg":"RS256",'
PLAIN_HTTP_REMOTE = "http://192.0.2.1"  # TEST-NET-1: never routed; nothing may be sent there
RUN_TIMEOUT = 120

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

RUNNER = r'''
import json, os, sys, threading, urllib.request
from osgeo import gdal
gdal.UseExceptions()
job = json.loads(sys.argv[1])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

def post(path, body):
    req = urllib.request.Request(job["standin"] + path, data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    opener.open(req, timeout=30).read()

def read(ds, window):
    if window is None:
        return float(ds.ReadAsArray().astype("float64").sum())
    x, y, w, h = window
    return float(ds.ReadAsArray(x, y, w, h).astype("float64").sum())

out = {"sums": [], "ok": False}
try:
    if job.get("threads"):
        barrier = threading.Barrier(job["threads"])
        sums, errors = [None] * job["threads"], []
        def work(k):
            try:
                barrier.wait()
                ds = gdal.Open(job["name"])
                sums[k] = read(ds, None)
            except Exception as e:
                errors.append(str(e))
        threads = [threading.Thread(target=work, args=(k,)) for k in range(job["threads"])]
        for t in threads: t.start()
        for t in threads: t.join()
        out["sums"] = sums
        if errors:
            raise RuntimeError(errors[0])
    else:
        ds = gdal.Open(job["name"])
        for step in job.get("steps", [{"read": None}]):
            if "read" in step:
                out["sums"].append(read(ds, step["read"]))
            elif "post" in step:
                post(step["post"], step.get("body", {}))
            elif "new_token_in" in step:
                # a fresh metadata token written over the file, size and mtime kept
                req = urllib.request.Request(job["standin"] + "/computeMetadata/v1/instance/"
                                             "service-accounts/default/token",
                                             headers={"Metadata-Flavor": "Google"})
                token = json.loads(opener.open(req, timeout=30).read())["access_token"]
                st = os.stat(step["new_token_in"])
                with open(step["new_token_in"], "w") as f:
                    f.write(token)
                assert os.stat(step["new_token_in"]).st_size == st.st_size
                os.utime(step["new_token_in"], ns=(st.st_atime_ns, st.st_mtime_ns))
    out["ok"] = True
except Exception as e:
    out["error"] = str(e)
print(json.dumps(out))
'''


# ---------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two RSA key pairs made now with openssl: the trusted one and a rogue one."""
    folder = tmp_path_factory.mktemp("keys")
    pairs = {}
    for name in ("trusted", "rogue"):
        private = folder / ("%s.pem" % name)
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", str(private)], check=True, capture_output=True)
        public = subprocess.run(["openssl", "pkey", "-in", str(private), "-pubout"], check=True,
                                capture_output=True, text=True).stdout
        pairs[name] = (private.read_text(), public)
    return pairs


@pytest.fixture(scope="module")
def auth_server():
    server = StandIn.start(token=STATIC)
    try:
        yield server
    finally:
        server.stop()


class OAuthControl:
    def __init__(self, server):
        self.server = server
        self.url = server.url
        self.token_uri = server.url + "/token"

    def configure(self, **doc):
        return self.server._call("POST", "/_oauth", doc)

    def log(self):
        return self.server._call("GET", "/_oauth/log")

    def grants(self):
        """Token requests (pings excluded)."""
        return [r for r in self.log() if r["grant"] != "metadata-ping"]

    def predict_log(self):
        return self.server.log()

    def metadata_token(self):
        request = urllib.request.Request(self.url + "/computeMetadata/v1/instance/service-accounts/default/token",
                                         headers={"Metadata-Flavor": "Google"})
        with _NO_PROXY.open(request, timeout=30) as answer:
            return json.loads(answer.read())["access_token"]


@pytest.fixture
def oauth(auth_server, keys):
    auth_server.renew()
    control = OAuthControl(auth_server)
    control.configure(service_accounts=[{"client_email": CLIENT_EMAIL, "public_key_pem": keys["trusted"][1]}],
                      authorized_users=[{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                         "refresh_token": REFRESH_TOKEN}])
    return control


@pytest.fixture
def source(make_raster):
    values = (np.arange(96 * 96, dtype=np.uint32).reshape(96, 96) % 251).astype(np.uint8)
    return make_raster(values), float(values.astype(np.float64).sum())


@pytest.fixture
def base_env(subprocess_env, tmp_path):
    """Subprocess environment with no credentials at all."""
    env = dict(subprocess_env)
    for name in ("EEMODEL_ACCESS_TOKEN", "EEMODEL_ACCESS_TOKEN_FILE", "GOOGLE_APPLICATION_CREDENTIALS",
                 "GCE_METADATA_HOST", "GCE_METADATA_ROOT", "GOOGLE_CLOUD_QUOTA_PROJECT", "CPL_DEBUG",
                 "CPL_CURL_VERBOSE"):
        env.pop(name, None)
    env["CLOUDSDK_CONFIG"] = str(tmp_path / "no-gcloud")
    env["HOME"] = str(tmp_path / "home")
    env["NO_GCE_CHECK"] = "true"
    return env


def service_account_file(path, private_pem, token_uri, **extra):
    doc = {"type": "service_account", "project_id": "p", "private_key_id": "kid-1",
           "private_key": private_pem, "client_email": CLIENT_EMAIL, "client_id": "1234",
           "token_uri": token_uri}
    doc.update(extra)
    path.write_text(json.dumps(doc))
    return str(path)


def authorized_user_file(path, token_uri, **extra):
    doc = {"type": "authorized_user", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
           "refresh_token": REFRESH_TOKEN, "token_uri": token_uri}
    doc.update(extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return str(path)


def run(env, name, standin_url, steps=None, threads=None):
    job = {"name": name, "standin": standin_url}
    if steps is not None:
        job["steps"] = steps
    if threads:
        job["threads"] = threads
    proc = subprocess.run([PYTHON, "-c", RUNNER, json.dumps(job)], env=env, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT)
    lines = proc.stdout.strip().splitlines()
    assert lines, "runner printed nothing; stderr: %s" % proc.stderr[-3000:]
    result = json.loads(lines[-1])
    result["stderr"] = proc.stderr
    return result


def name_for(server, path, **extra):
    return build_name(server.url, path, model="identity", tile=(32, 32), **extra)


def sources_used(control):
    return [r.get("auth_source") for r in control.predict_log() if r["status"] == 200]


# ---------------------------------------------------------------------------
# each link alone


def test_static_token_alone(oauth, source, base_env):
    path, total = source
    base_env["EEMODEL_ACCESS_TOKEN"] = STATIC
    result = run(base_env, name_for(oauth.server, path), oauth.url)
    assert result["ok"], result
    assert result["sums"] == [total]
    assert set(sources_used(oauth)) == {"static"}
    assert oauth.grants() == []


def test_token_file_alone(oauth, source, base_env, tmp_path):
    path, total = source
    token_file = tmp_path / "token.txt"
    token_file.write_text("\n  %s  \n" % oauth.metadata_token())
    base_env["EEMODEL_ACCESS_TOKEN_FILE"] = str(token_file)
    result = run(base_env, name_for(oauth.server, path), oauth.url)
    assert result["ok"], result
    assert result["sums"] == [total]
    assert set(sources_used(oauth)) == {"metadata"}   # the token our test fetched and wrote


def test_token_file_is_read_again_when_refused(oauth, source, base_env, tmp_path):
    """Same mtime and size: only the 401 can make the driver read the file again."""
    path, total = source
    token_file = tmp_path / "token.txt"
    token_file.write_text(oauth.metadata_token())
    base_env["EEMODEL_ACCESS_TOKEN_FILE"] = str(token_file)
    steps = [{"read": [0, 0, 32, 32]},
             {"post": "/_oauth/expire"},
             {"new_token_in": str(token_file)},   # issued after the expiry, same size and mtime
             {"read": [64, 64, 32, 32]}]
    result = run(base_env, name_for(oauth.server, path), oauth.url, steps=steps)
    assert result["ok"], result
    assert [r["status"] for r in oauth.predict_log()] == [200, 401, 200]


def test_token_file_refused_twice_fails_clearly(oauth, source, base_env, tmp_path):
    path, _ = source
    token_file = tmp_path / "token.txt"
    token_file.write_text(oauth.metadata_token())
    base_env["EEMODEL_ACCESS_TOKEN_FILE"] = str(token_file)
    steps = [{"read": [0, 0, 32, 32]}, {"post": "/_oauth/expire"}, {"read": [64, 64, 32, 32]}]
    result = run(base_env, name_for(oauth.server, path), oauth.url, steps=steps)
    assert not result["ok"]
    assert "401" in result["error"] and "EEMODEL_ACCESS_TOKEN_FILE" in result["error"]
    assert "also after one refresh" in result["error"]
    assert ISSUED_PREFIX not in result["error"]
    assert [r["status"] for r in oauth.predict_log()] == [200, 401, 401]


def test_service_account_alone(oauth, source, base_env, keys, tmp_path):
    path, total = source
    base_env["GOOGLE_APPLICATION_CREDENTIALS"] = service_account_file(
        tmp_path / "sa.json", keys["trusted"][0], oauth.token_uri)
    result = run(base_env, name_for(oauth.server, path), oauth.url)
    assert result["ok"], result
    assert result["sums"] == [total]
    grants = oauth.grants()
    assert [(g["grant"], g["status"]) for g in grants] == [("jwt-bearer", 200)]
    assert set(sources_used(oauth)) == {"service_account:" + CLIENT_EMAIL}


def test_authorized_user_alone_with_quota_project(oauth, source, base_env, tmp_path):
    path, total = source
    base_env["GOOGLE_APPLICATION_CREDENTIALS"] = authorized_user_file(
        tmp_path / "user.json", oauth.token_uri, quota_project_id="billing-project")
    result = run(base_env, name_for(oauth.server, path), oauth.url)
    assert result["ok"], result
    assert result["sums"] == [total]
    assert [(g["grant"], g["status"]) for g in oauth.grants()] == [("refresh_token", 200)]
    records = [r for r in oauth.predict_log() if r["status"] == 200]
    assert records and all(r["auth_source"] == "authorized_user:" + CLIENT_ID for r in records)
    assert all(r["headers"].get("x-goog-user-project") == "billing-project" for r in records)


@pytest.mark.parametrize("where", ["CLOUDSDK_CONFIG", "HOME"])
def test_gcloud_adc_file_alone(oauth, source, base_env, tmp_path, where):
    path, total = source
    if where == "CLOUDSDK_CONFIG":
        folder = tmp_path / "gcloud-config"
        base_env["CLOUDSDK_CONFIG"] = str(folder)
    else:
        folder = tmp_path / "home" / ".config" / "gcloud"
        base_env.pop("CLOUDSDK_CONFIG")
    authorized_user_file(folder / "application_default_credentials.json", oauth.token_uri)
    result = run(base_env, name_for(oauth.server, path), oauth.url)
    assert result["ok"], result
    assert result["sums"] == [total]
    assert set(sources_used(oauth)) == {"authorized_user:" + CLIENT_ID}


def test_metadata_server_alone(oauth, source, base_env):
    path, total = source
    base_env.pop("NO_GCE_CHECK")
    base_env["GCE_METADATA_HOST"] = "127.0.0.1:%d" % oauth.server.port
    result = run(base_env, name_for(oauth.server, path), oauth.url)
    assert result["ok"], result
    assert result["sums"] == [total]
    assert [(r["grant"], r["status"]) for r in oauth.log()] == [("metadata-ping", 200), ("metadata", 200)]
    assert set(sources_used(oauth)) == {"metadata"}


def test_metadata_answer_without_flavor_is_not_trusted(oauth, source, base_env):
    path, _ = source
    oauth.configure(metadata_flavor_reply=False)
    base_env.pop("NO_GCE_CHECK")
    base_env["GCE_METADATA_HOST"] = "127.0.0.1:%d" % oauth.server.port
    result = run(base_env, name_for(oauth.server, path), oauth.url)
    assert not result["ok"]
    # detection failed: no token was asked for, nothing was sent with the request
    assert [r["grant"] for r in oauth.log()] == ["metadata-ping"]
    assert all(r["authorization"] is None for r in oauth.predict_log())


def test_precedence(oauth, source, base_env, keys, tmp_path):
    """All five links configured; remove them one by one from the front."""
    path, total = source
    token_file = tmp_path / "token.txt"
    token_file.write_text(oauth.metadata_token())
    adc_folder = tmp_path / "gcloud"
    authorized_user_file(adc_folder / "application_default_credentials.json", oauth.token_uri)
    env = dict(base_env)
    env.pop("NO_GCE_CHECK")
    env.update({"EEMODEL_ACCESS_TOKEN": STATIC, "EEMODEL_ACCESS_TOKEN_FILE": str(token_file),
                "GOOGLE_APPLICATION_CREDENTIALS": service_account_file(tmp_path / "sa.json", keys["trusted"][0],
                                                                       oauth.token_uri),
                "CLOUDSDK_CONFIG": str(adc_folder),
                "GCE_METADATA_HOST": "127.0.0.1:%d" % oauth.server.port})
    expected = [("EEMODEL_ACCESS_TOKEN", "static"), ("EEMODEL_ACCESS_TOKEN_FILE", "metadata"),
                ("GOOGLE_APPLICATION_CREDENTIALS", "service_account:" + CLIENT_EMAIL),
                ("CLOUDSDK_CONFIG", "authorized_user:" + CLIENT_ID), (None, "metadata")]
    for remove, source_name in expected:
        oauth.server._call("POST", "/_reset", {})
        oauth.configure(service_accounts=[{"client_email": CLIENT_EMAIL, "public_key_pem": keys["trusted"][1]}],
                        authorized_users=[{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                           "refresh_token": REFRESH_TOKEN}])
        if remove == "EEMODEL_ACCESS_TOKEN_FILE":
            token_file.write_text(oauth.metadata_token())  # /_reset forgot the earlier one
        result = run(env, name_for(oauth.server, path), oauth.url)
        assert result["ok"], (remove, result)
        assert result["sums"] == [total]
        assert set(sources_used(oauth)) == {source_name}, remove
        if remove:
            env.pop(remove)
            if remove == "CLOUDSDK_CONFIG":
                env["CLOUDSDK_CONFIG"] = str(tmp_path / "empty-gcloud")


# ---------------------------------------------------------------------------
# refused assertions


def open_error(env, name, url):
    result = run(env, name, url)
    assert not result["ok"]
    return result["error"], result["stderr"]


def test_wrong_signature_is_refused_and_reported(oauth, source, base_env, keys, tmp_path):
    path, _ = source
    key_path = service_account_file(tmp_path / "sa.json", keys["rogue"][0], oauth.token_uri)
    base_env["GOOGLE_APPLICATION_CREDENTIALS"] = key_path
    message, _ = open_error(base_env, name_for(oauth.server, path), oauth.url)
    assert "Invalid JWT Signature" in message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message and key_path in message
    assert CLIENT_EMAIL in message and "HTTP 400" in message
    assert JWT_PREFIX not in message and "PRIVATE KEY" not in message
    assert [(g["grant"], g["status"]) for g in oauth.grants()] == [("jwt-bearer", 400)]
    assert oauth.predict_log() == []


def test_wrong_audience_is_refused_and_reported(oauth, source, base_env, keys, tmp_path):
    path, _ = source
    oauth.configure(audience="https://oauth2.googleapis.com/token")
    base_env["GOOGLE_APPLICATION_CREDENTIALS"] = service_account_file(
        tmp_path / "sa.json", keys["trusted"][0], oauth.token_uri)
    message, _ = open_error(base_env, name_for(oauth.server, path), oauth.url)
    assert "audience" in message and "invalid_grant" in message
    assert JWT_PREFIX not in message


def test_expired_assertion_is_refused_and_reported(oauth, source, base_env, keys, tmp_path):
    path, _ = source
    oauth.configure(clock_offset=7200)   # the stand-in lives two hours ahead: the JWT has expired
    base_env["GOOGLE_APPLICATION_CREDENTIALS"] = service_account_file(
        tmp_path / "sa.json", keys["trusted"][0], oauth.token_uri)
    message, _ = open_error(base_env, name_for(oauth.server, path), oauth.url)
    assert "iat and exp" in message and "HTTP 400" in message
    assert JWT_PREFIX not in message


def test_bad_refresh_token_is_refused_and_reported(oauth, source, base_env, tmp_path):
    path, _ = source
    key = tmp_path / "user.json"
    authorized_user_file(key, oauth.token_uri, refresh_token="1//revoked-SECRET-000000")
    base_env["GOOGLE_APPLICATION_CREDENTIALS"] = str(key)
    message, _ = open_error(base_env, name_for(oauth.server, path), oauth.url)
    assert "expired or revoked" in message and "refresh-token" in message
    assert "revoked-SECRET" not in message and CLIENT_SECRET not in message


def test_nothing_found_lists_what_was_tried(base_env, source):
    path, _ = source
    name = "EEMODEL:input=%s;project=p;model=m;input_tile_size=32,32;output_bands=o:float32" % path
    result = run(base_env, name, "http://127.0.0.1:9")
    assert not result["ok"]
    message = result["error"]
    for word in ("no credentials for https://us-central1-ml.googleapis.com", "EEMODEL_ACCESS_TOKEN:",
                 "EEMODEL_ACCESS_TOKEN_FILE:", "GOOGLE_APPLICATION_CREDENTIALS:",
                 "gcloud auth application-default login", "NO_GCE_CHECK"):
        assert word in message, (word, message)


def test_unsupported_credentials_type(oauth, source, base_env, tmp_path):
    path, _ = source
    key = tmp_path / "ext.json"
    key.write_text(json.dumps({"type": "external_account", "audience": "x"}))
    base_env["GOOGLE_APPLICATION_CREDENTIALS"] = str(key)
    message, _ = open_error(base_env, name_for(oauth.server, path), oauth.url)
    assert '"external_account" are not supported' in message and "service_account" in message


# ---------------------------------------------------------------------------
# expiry, 401, refresh


def test_token_expiring_mid_translate_is_refreshed(oauth, source, base_env, keys, tmp_path):
    path, total = source
    oauth.configure(lifetime=2)
    oauth.server.fault(kind="stall", seconds=0.5, count=9)   # 9 one-tile requests of 0.5 s each
    base_env["GOOGLE_APPLICATION_CREDENTIALS"] = service_account_file(
        tmp_path / "sa.json", keys["trusted"][0], oauth.token_uri)
    base_env["EEMODEL_MAX_CONNECTIONS"] = "1"
    name = name_for(oauth.server, path, max_payload_bytes=2500)
    started = time.monotonic()
    result = run(base_env, name, oauth.url)
    assert result["ok"], result
    assert result["sums"] == [total]
    assert time.monotonic() - started > 4   # outlived two token lifetimes
    grants = oauth.grants()
    assert len(grants) >= 2 and all(g["status"] == 200 for g in grants)
    records = oauth.predict_log()
    assert sum(r["status"] == 200 for r in records) == 9
    # any request refused for an expired token was sent again and succeeded
    assert all(r["status"] in (200, 401) for r in records)


def test_401_leads_to_exactly_one_refresh(oauth, source, base_env, keys, tmp_path):
    path, total = source
    base_env["GOOGLE_APPLICATION_CREDENTIALS"] = service_account_file(
        tmp_path / "sa.json", keys["trusted"][0], oauth.token_uri)
    base_env["EEMODEL_MAX_CONNECTIONS"] = "4"
    name = name_for(oauth.server, path, max_payload_bytes=2500)   # one tile per request
    steps = [{"read": [0, 0, 32, 32]}, {"post": "/_oauth/expire"}, {"read": [32, 0, 64, 96]}]
    result = run(base_env, name, oauth.url, steps=steps)
    assert result["ok"], result
    assert [(g["grant"], g["status"]) for g in oauth.grants()] == [("jwt-bearer", 200)] * 2
    statuses = [r["status"] for r in oauth.predict_log()]
    assert statuses.count(200) == 1 + 6
    # requests queued with the expired token were each sent again once, with the one new token
    assert 1 <= statuses.count(401) <= 6


def test_401_again_after_refresh_fails_without_looping(oauth, source, base_env, keys, tmp_path):
    path, _ = source
    base_env["GOOGLE_APPLICATION_CREDENTIALS"] = service_account_file(
        tmp_path / "sa.json", keys["trusted"][0], oauth.token_uri)
    steps = [{"read": [0, 0, 32, 32]}, {"post": "/_oauth", "body": {"reject_all": True}},
             {"read": [64, 64, 32, 32]}]
    result = run(base_env, name_for(oauth.server, path), oauth.url, steps=steps)
    assert not result["ok"]
    assert "401" in result["error"] and "also after one refresh" in result["error"]
    assert "GOOGLE_APPLICATION_CREDENTIALS" in result["error"]
    assert len(oauth.grants()) == 2
    assert [r["status"] for r in oauth.predict_log()] == [200, 401, 401]


def test_static_token_refused_is_not_retried(oauth, source, base_env):
    path, _ = source
    base_env["EEMODEL_ACCESS_TOKEN"] = "wrong-SECRET-static"
    result = run(base_env, name_for(oauth.server, path), oauth.url, steps=[{"read": [0, 0, 32, 32]}])
    assert not result["ok"]
    assert "401" in result["error"] and "EEMODEL_ACCESS_TOKEN" in result["error"]
    assert "wrong-SECRET" not in result["error"]
    assert [r["status"] for r in oauth.predict_log()] == [401]


def test_threads_share_one_token_fetch(oauth, source, base_env, keys, tmp_path):
    path, total = source
    oauth.configure(token_delay=0.5)   # every thread arrives while the fetch is under way
    base_env["GOOGLE_APPLICATION_CREDENTIALS"] = service_account_file(
        tmp_path / "sa.json", keys["trusted"][0], oauth.token_uri)
    result = run(base_env, name_for(oauth.server, path), oauth.url, threads=8)
    assert result["ok"], result
    assert result["sums"] == [total] * 8
    assert len(oauth.grants()) == 1
    assert len(set(sources_used(oauth))) == 1


# ---------------------------------------------------------------------------
# security


def test_token_never_sent_over_plain_http_to_remote(source, base_env, tmp_path):
    path, _ = source
    base_env["EEMODEL_ACCESS_TOKEN"] = STATIC
    base_env["CPL_CURL_VERBOSE"] = "YES"
    base_env["GDAL_HTTP_CONNECTTIMEOUT"] = "0.2"
    base_env["GDAL_HTTP_MAX_RETRY"] = "0"
    # a non-Google host gets Google credentials only when named as a gateway
    base_env["EEMODEL_GOOGLE_CREDENTIALS_HOSTS"] = "192.0.2.1"
    name = build_name(PLAIN_HTTP_REMOTE, path, model="identity", tile=(32, 32))
    started = time.monotonic()
    result = run(base_env, name, "http://127.0.0.1:9")
    elapsed = time.monotonic() - started
    assert not result["ok"]
    assert "refusing to send the access token" in result["error"]
    assert "plain http" in result["error"] and "192.0.2.1" in result["error"]
    assert STATIC not in result["error"] + result["stderr"]
    # nothing was even attempted: no connection in curl's verbose output
    assert "Trying" not in result["stderr"] and "192.0.2.1:80" not in result["stderr"]
    assert elapsed < 30


def test_credentials_file_never_sent_over_plain_http(oauth, source, base_env, keys, tmp_path):
    """Neither the assertion (token_uri over plain http) nor the token (predict URL)."""
    path, _ = source
    base_env["CPL_CURL_VERBOSE"] = "YES"
    base_env["GDAL_HTTP_CONNECTTIMEOUT"] = "0.2"
    base_env["GOOGLE_APPLICATION_CREDENTIALS"] = service_account_file(
        tmp_path / "sa.json", keys["trusted"][0], PLAIN_HTTP_REMOTE + "/token")
    message, stderr = open_error(base_env, name_for(oauth.server, path), oauth.url)
    assert "refusing to send credentials to the token endpoint" in message
    assert "Trying" not in stderr
    base_env["GOOGLE_APPLICATION_CREDENTIALS"] = service_account_file(
        tmp_path / "sa2.json", keys["trusted"][0], oauth.token_uri)
    base_env["EEMODEL_GOOGLE_CREDENTIALS_HOSTS"] = "192.0.2.1"  # a named gateway
    message, stderr = open_error(base_env, build_name(PLAIN_HTTP_REMOTE, path, model="identity",
                                                      tile=(32, 32)), oauth.url)
    assert "refusing to send the access token" in message
    assert oauth.grants() == []   # refused before any token was even fetched
    assert "Trying" not in stderr


def test_secret_headers_not_sent_over_plain_http(source, base_env):
    path, _ = source
    base_env["EEMODEL_HEADERS"] = "X-Api-Key: key-SECRET-123"
    base_env["EEMODEL_ACCESS_TOKEN"] = STATIC
    name = build_name(PLAIN_HTTP_REMOTE, path, model="identity", tile=(32, 32))
    result = run(base_env, name, "http://127.0.0.1:9")
    assert not result["ok"] and "plain http" in result["error"]
    assert "key-SECRET" not in result["error"]


def test_static_headers_reach_the_server(oauth, source, base_env):
    path, total = source
    base_env["EEMODEL_ACCESS_TOKEN"] = STATIC
    base_env["EEMODEL_HEADERS"] = "X-Gateway-Key: gw-123, X-Trace: a,b"
    name = name_for(oauth.server, path, headers="X-From-Descriptor: yes")
    result = run(base_env, name, oauth.url)
    assert result["ok"], result
    headers = oauth.predict_log()[0]["headers"]
    assert headers["x-gateway-key"] == "gw-123"
    assert headers["x-trace"] == "a,b"
    assert headers["x-from-descriptor"] == "yes"


def _translate(env, name, out):
    return subprocess.run(["gdal_translate", "-q", "-of", "GTiff", name, str(out)], env=env,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)


@pytest.mark.parametrize("link", ["service_account", "authorized_user", "static"])
def test_no_secret_in_debug_or_curl_verbose_output(oauth, source, base_env, keys, tmp_path, link):
    path, _ = source
    if link == "service_account":
        base_env["GOOGLE_APPLICATION_CREDENTIALS"] = service_account_file(
            tmp_path / "sa.json", keys["trusted"][0], oauth.token_uri, quota_project_id="quota-p")
    elif link == "authorized_user":
        base_env["GOOGLE_APPLICATION_CREDENTIALS"] = authorized_user_file(tmp_path / "u.json", oauth.token_uri)
    else:
        base_env["EEMODEL_ACCESS_TOKEN"] = STATIC
    base_env["CPL_DEBUG"] = "ON"
    base_env["CPL_CURL_VERBOSE"] = "YES"
    proc = _translate(base_env, name_for(oauth.server, path), tmp_path / "out.tif")
    assert proc.returncode == 0, proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    # the capture works: debug lines, curl's verbose lines, the redacted header
    assert "EEMODEL" in output and "Authorization: [redacted]" in output
    if link != "static":
        assert "credentials:" in output and "EEMODEL auth curl:" in output
        assert len(oauth.grants()) == 1
    private_body = keys["trusted"][0].splitlines()[1]
    for secret in (ISSUED_PREFIX, JWT_PREFIX, "PRIVATE KEY", private_body, REFRESH_TOKEN, CLIENT_SECRET,
                   STATIC, "assertion="):
        assert secret not in output, secret
