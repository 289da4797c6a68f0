"""GDAL's HTTP configuration options, with GDAL's names and meanings, on every
request the driver makes (issue 11): proxies (through a logging proxy the test
starts on 127.0.0.1), proxy authentication, user agent, extra headers and
header file, CA bundle."""

import base64
import http.server
import json
import socket
import threading
import urllib.request

import pytest
from osgeo import gdal

from conftest import config_options
from netns_run import run_in_netns
from test_secrets import _env, _job, _name, tls_pair  # noqa: F401  (fixture)

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LoggingProxy:
    """A forward proxy on 127.0.0.1 that records each request it gets.

    Absolute-URI requests (plain http through a proxy) are forwarded to the
    origin; CONNECT (https through a proxy) is recorded and refused with 403."""

    def __init__(self):
        self.log = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.log.append({"method": self.command, "target": self.path,
                                  "headers": dict(self.headers.items())})
                if self.command == "CONNECT":
                    self.send_response(403)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("proxy-authorization", "proxy-connection", "host")}
                request = urllib.request.Request(self.path, data=body, method=self.command,
                                                 headers=headers)
                try:
                    with _NO_PROXY.open(request, timeout=60) as answer:
                        status, payload, ctype = answer.status, answer.read(), answer.headers.get(
                            "Content-Type", "application/json")
                except urllib.error.HTTPError as e:
                    status, payload, ctype = e.code, e.read(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_CONNECT = _forward

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy():
    p = LoggingProxy()
    yield p
    p.stop()


def _read_middle(name):
    ds = gdal.Open(name)
    data = ds.GetRasterBand(1).ReadRaster(395, 359, 1, 1)
    ds = None
    return data


def test_http_proxy_with_basic_auth_and_user_agent(predictor, eem_name, rgb_byte, proxy):
    with config_options(GDAL_HTTP_PROXY=proxy.address, GDAL_HTTP_PROXYUSERPWD="alice:pr0xy-pw",
                        GDAL_PROXY_AUTH="BASIC", GDAL_HTTP_USERAGENT="QGIS/3.28 test-agent"):
        assert _read_middle(eem_name(rgb_byte, output_bands="output:float32:3")) is not None
    posts = [r for r in proxy.log if r["method"] == "POST"]
    assert posts, proxy.log
    assert posts[0]["target"].startswith(predictor.url + "/v1/projects/p/models/identity")
    assert posts[0]["headers"]["Proxy-Authorization"] == "Basic " + base64.b64encode(
        b"alice:pr0xy-pw").decode()
    assert posts[0]["headers"]["User-Agent"] == "QGIS/3.28 test-agent"
    assert predictor.log()[0]["headers"]["user-agent"] == "QGIS/3.28 test-agent"


def test_metadata_request_at_open_goes_through_the_proxy(predictor, rgb_byte, proxy):
    name = ("EEMODEL:input=%s;url=%s/v1/models/identity:predict;input_tile_size=64,64;"
            "output_bands=output:float32:3" % (rgb_byte, predictor.url))
    with config_options(GDAL_HTTP_PROXY=proxy.address):
        ds = gdal.Open(name)
        ds = None
    assert [r["target"] for r in proxy.log if r["method"] == "GET"] == [
        predictor.url + "/v1/models/identity/metadata"], proxy.log


def test_https_proxy_is_used_for_https_urls_only(predictor, eem_name, rgb_byte, proxy):
    """GDAL_HTTPS_PROXY takes https URLs (CONNECT); plain http keeps GDAL_HTTP_PROXY (none)."""
    with config_options(GDAL_HTTPS_PROXY=proxy.address, GDAL_HTTP_MAX_RETRY="0"):
        assert _read_middle(eem_name(rgb_byte, output_bands="output:float32:3")) is not None
        assert proxy.log == []
        name = ("EEMODEL:input=%s;url=https://127.0.0.1:9/v1/models/m:predict;"
                "input_tile_size=64,64;output_bands=output:float32:3" % rgb_byte)
        with pytest.raises(RuntimeError):
            ds = gdal.Open(name)
            ds.GetRasterBand(1).ReadRaster(395, 359, 1, 1)
            ds = None
    assert [r["method"] for r in proxy.log][:1] == ["CONNECT"]
    assert proxy.log[0]["target"] == "127.0.0.1:9"


def test_bad_proxy_auth_is_refused_with_the_accepted_values(predictor, eem_name, rgb_byte, proxy):
    with config_options(GDAL_HTTP_PROXY=proxy.address, GDAL_PROXY_AUTH="KERBEROS5"):
        with pytest.raises(RuntimeError) as e:
            _read_middle(eem_name(rgb_byte, output_bands="output:float32:3"))
    assert "GDAL_PROXY_AUTH" in str(e.value) and "NTLM" in str(e.value)
    assert proxy.log == []


def test_gdal_http_headers_and_header_file_are_sent(predictor, eem_name, rgb_byte, tmp_path):
    header_file = tmp_path / "headers.txt"
    header_file.write_text("X-From-File: f1\n\nX-Other-File: f2, with comma\n")
    with config_options(GDAL_HTTP_HEADERS="X-Gdal-A: a\r\nX-Gdal-B: b",
                        GDAL_HTTP_HEADER_FILE=str(header_file)):
        assert _read_middle(eem_name(rgb_byte, output_bands="output:float32:3")) is not None
    sent = predictor.log()[0]["headers"]
    assert sent["x-gdal-a"] == "a" and sent["x-gdal-b"] == "b"
    assert sent["x-from-file"] == "f1" and sent["x-other-file"] == "f2, with comma"


def test_gdal_http_headers_comma_list(predictor, eem_name, rgb_byte):
    with config_options(GDAL_HTTP_HEADERS="X-Gdal-A: a, X-Gdal-B: b"):
        assert _read_middle(eem_name(rgb_byte, output_bands="output:float32:3")) is not None
    sent = predictor.log()[0]["headers"]
    assert sent["x-gdal-a"] == "a" and sent["x-gdal-b"] == "b"


def test_bad_header_file_line_is_named(predictor, eem_name, rgb_byte, tmp_path):
    header_file = tmp_path / "headers.txt"
    header_file.write_text("X-Ok: 1\nnot a header\n")
    with config_options(GDAL_HTTP_HEADER_FILE=str(header_file)):
        with pytest.raises(RuntimeError) as e:
            gdal.Open(eem_name(rgb_byte))
    assert "GDAL_HTTP_HEADER_FILE" in str(e.value) and "line 2" in str(e.value)


def test_ca_bundle_verifies_a_private_ca(rgb_byte, tls_pair, subprocess_env):  # noqa: F811
    cert, _ = tls_pair
    name = _name(rgb_byte, "/v1/projects/x/models/y:predict")
    for option in ("GDAL_CURL_CA_BUNDLE", "CURL_CA_BUNDLE"):
        job = _job(name, tls=tls_pair, GDAL_HTTP_UNSAFESSL="NO", **{option: cert})
        result = run_in_netns(job, _env(subprocess_env))
        assert result["requests"], (option, result["errors"])
    job = _job(name, tls=tls_pair, GDAL_HTTP_UNSAFESSL="NO")
    result = run_in_netns(job, _env(subprocess_env))
    assert result["requests"] == []
    assert "certificate" in " ".join(result["errors"]).lower(), result["errors"]


BAD_NUMBERS = [
    ("EEMODEL_MAX_CONNECTIONS", "0", "a whole number from 1 to 256"),
    ("EEMODEL_MAX_CONNECTIONS", "eight", "a whole number from 1 to 256"),
    ("GDAL_HTTP_TIMEOUT", "30s", "seconds, 0 or more"),
    ("GDAL_HTTP_CONNECTTIMEOUT", "-2", "seconds, 0 or more"),
    ("GDAL_HTTP_MAX_RETRY", "1000", "a whole number from 0 to 100"),
    ("GDAL_HTTP_RETRY_DELAY", "1,5", "seconds, 0 or more"),
    ("EEMODEL_MAX_RESPONSE_BYTES", "64MB", "a whole number of bytes, 1 or more"),
    ("EEMODEL_MAX_PREDICTIONS", "10k", "a whole number of predictions, 1 or more"),
    ("EEMODEL_JOB_MAX_PREDICTIONS", "5k", "a whole number of predictions, 1 or more"),
    ("EEMODEL_TILE_STORE_MEMORY", "256M", "a whole number of MB, 0 or more"),
    ("EEMODEL_TILE_STORE_DISK", "-1", "a whole number of MB, 0 or more"),
    ("EEMODEL_CACHE_LEASE_SECONDS", "0", "a whole number of seconds, 1 or more"),
    ("EEMODEL_OIP_BINARY", "maybe", "AUTO, YES or NO"),
    ("EEMODEL_GRPC_CONNECTION_REUSE", "sometimes", "AUTO, YES or NO"),
    ("EEMODEL_CHECK_METADATA", "AUTO", "YES or NO"),
    ("EEMODEL_DIRECT_READ", "y", "YES or NO"),
]


@pytest.mark.parametrize("key,value,accepted", BAD_NUMBERS)
def test_a_bad_number_is_refused_at_open_naming_it(predictor, eem_name, rgb_byte, key, value,
                                                   accepted):
    """A numeric option that is not a number in its range fails the open, naming the option,
    its value and what it accepts, before any request (it used to be replaced by the default
    in silence: a 30 s timeout written "30s" waited 600 s, a job budget written "5k" was no
    budget at all)."""
    with config_options(**{key: value}), pytest.raises(RuntimeError) as e:
        gdal.OpenEx(eem_name(rgb_byte, output_bands="output:float32:3"), gdal.OF_RASTER)
    assert '%s: "%s" is not accepted; %s' % (key, value, accepted) in str(e.value)
    assert predictor.log() == []


def _one_point(tmp_path):
    """A GeoJSON file of one point with the properties test_vector's descriptors read."""
    src = str(tmp_path / "pts.geojson")
    with open(src, "w") as f:
        json.dump({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"elev": 1.0, "slope": 2},
             "geometry": {"type": "Point", "coordinates": [0, 0]}}]}, f)
    return src


def test_a_bad_number_is_refused_by_a_vector_open_too(predictor, tmp_path):
    from test_vector import name_for, open_failure
    src = _one_point(tmp_path)
    with config_options(GDAL_HTTP_MAX_RETRY="many"):
        text = open_failure(name_for(predictor.url, src))
    assert 'GDAL_HTTP_MAX_RETRY: "many" is not accepted; a whole number from 0 to 100' in text
    assert predictor.log() == []


def test_a_good_number_beside_the_descriptor_limit_opens(predictor, eem_name, rgb_byte):
    """MAX_PREDICTIONS in the descriptor wins: EEMODEL_MAX_PREDICTIONS is not read, so a bad
    value there does not fail the open; valid numbers with spaces around open."""
    with config_options(EEMODEL_MAX_PREDICTIONS="lots", GDAL_HTTP_TIMEOUT=" 30 ",
                        EEMODEL_MAX_CONNECTIONS="256"):
        ds = gdal.OpenEx(eem_name(rgb_byte, output_bands="output:float32:3",
                                  max_predictions=10000), gdal.OF_RASTER)
        assert ds is not None
        assert ds.GetRasterBand(1).ReadRaster(395, 359, 1, 1) is not None
        ds = None


@pytest.mark.parametrize("read_ahead", ["AUTO", "NO"])
def test_a_bad_number_set_after_open_fails_the_read_naming_it(predictor, eem_name, rgb_byte,
                                                              read_ahead):
    """A value set between open and read (a thread-local option, QGIS's way) is checked by the
    read too: the read fails naming it, nothing is sent."""
    ds = gdal.OpenEx(eem_name(rgb_byte, output_bands="output:float32:3"), gdal.OF_RASTER,
                     open_options=["READ_AHEAD=" + read_ahead])
    assert ds is not None
    with config_options(GDAL_HTTP_RETRY_DELAY="2 s"), pytest.raises(RuntimeError) as e:
        ds.GetRasterBand(1).ReadRaster(0, 0, 64, 64)
    assert 'GDAL_HTTP_RETRY_DELAY: "2 s" is not accepted; seconds, 0 or more' in str(e.value)
    assert predictor.log() == []
    assert ds.GetRasterBand(1).ReadRaster(0, 0, 64, 64) is not None   # fine again once fixed
    ds = None


def test_a_bad_number_set_after_a_vector_open_fails_the_read_naming_it(predictor, tmp_path):
    from test_vector import gdaltest_error, name_for, open_layer
    src = _one_point(tmp_path)
    ds, lyr = open_layer(name_for(predictor.url, src))
    with config_options(EEMODEL_MAX_CONNECTIONS="eight"), gdaltest_error() as errors:
        assert [f for f in lyr] == []
    assert any('EEMODEL_MAX_CONNECTIONS: "eight" is not accepted; a whole number from 1 to 256'
               in e for e in errors), errors
    assert predictor.log() == []
    lyr.ResetReading()
    assert len([f for f in lyr]) == 1
    ds = None
