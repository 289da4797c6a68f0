"""A server that is down, busy or wrong (issue 12 items 1 and 8).

A refused connection, a name that does not resolve or a TLS failure fails at
once with one clear error (at open when the model-metadata check runs, else at
the first read), never retried like a 503; 429/503 keep the patient retry
schedule but say so (a warning at the first long wait, a CPL_DEBUG line per
retry); a tile that failed lastingly is not asked again through the same
dataset; a 404 with ON_ERROR=NODATA costs one request, not a volley; the
metadata check at open is skipped silently only on 404/405, and bounded in
time; a 401/403 to a request without credentials says what was looked for.

Timing: no test asserts a duration except as a bound derived from configured
retry delays (a retried schedule could not have finished within it).
"""

import http.server
import os
import socket
import subprocess
import threading
import time

import numpy as np
import pytest
from osgeo import gdal

from conftest import Messages, build_name, config_options

TILE = 32
JITTER = 0.25  # http.c: retry delays vary by +-25 %


def closed_port():
    """A loopback port nothing listens on: bound, then closed."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(program, args, env, config=None):
    command = [program]
    for key, value in (config or {}).items():
        command += ["--config", key, value]
    return subprocess.run(command + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=600)


def float_raster(make_raster, tiles_x, tiles_y, bands=1, seed=1):
    rng = np.random.default_rng(seed)
    return make_raster((rng.random((bands, tiles_y * TILE, tiles_x * TILE)) * 100).astype(np.float32))


@pytest.fixture
def stand_log(predictor):
    start = [time.time()]
    return lambda: [r for r in predictor.log() if r["t_start"] >= start[0]]


# ---------------------------------------------------------------------------
# Unreachable: fails fast, one error


def test_refused_connection_fails_fast_with_one_error_at_first_read(make_raster, subprocess_env, tmp_path):
    src = float_raster(make_raster, 4, 4)
    name = build_name("http://127.0.0.1:%d" % closed_port(), src, tile=(TILE, TILE))
    delay = 30.0
    t0 = time.monotonic()
    result = run("gdal_translate", ["-srcwin", "40", "40", "10", "10", name, str(tmp_path / "out.tif")],
                 subprocess_env, {"GDAL_HTTP_MAX_RETRY": "10", "GDAL_HTTP_RETRY_DELAY": str(delay),
                                  "CPL_DEBUG": "ON"})
    elapsed = time.monotonic() - t0
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, result.stderr
    assert "Failed to connect to 127.0.0.1" in errors[0]
    assert "nothing accepts connections there; not retried" in errors[0]
    assert "EEMODEL: retry" not in result.stderr          # not one retry
    # one retry would have waited at least delay * (1 - jitter)
    assert elapsed < delay * (1 - JITTER), elapsed


def test_unresolvable_name_fails_fast(make_raster):
    src = float_raster(make_raster, 2, 2)
    # .invalid never resolves (RFC 2606); the token must not travel over http to it,
    # so use a URL backend without Google credentials
    name = ("EEMODEL:input=%s;url=http://eemodel-test.invalid/v1/models/m:predict;"
            "input_tile_size=32,32;output_bands=out:float32" % src)
    with config_options(GDAL_HTTP_MAX_RETRY="10", GDAL_HTTP_RETRY_DELAY="30",
                        EEMODEL_CHECK_METADATA="NO"):
        ds = gdal.Open(name)
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match=r"the host name does not resolve; not retried"):
            ds.ReadRaster(0, 0, 8, 8)
        assert time.monotonic() - t0 < 30 * (1 - JITTER)


def test_refused_connection_fails_at_open_when_the_metadata_check_runs(make_raster):
    src = float_raster(make_raster, 2, 2)
    name = ("EEMODEL:input=%s;url=http://127.0.0.1:%d/v1/models/m:predict;input_tile_size=32,32;"
            "output_bands=out:float32" % (src, closed_port()))
    with config_options(GDAL_HTTP_MAX_RETRY="10", GDAL_HTTP_RETRY_DELAY="30"):
        t0 = time.monotonic()
        with pytest.raises(RuntimeError) as e:
            gdal.Open(name)
        assert time.monotonic() - t0 < 30 * (1 - JITTER)
    message = str(e.value)
    assert "model metadata check at open" in message and "not retried" in message, message


def test_unreachable_read_is_not_repeated_by_the_next_band(make_raster):
    src = float_raster(make_raster, 2, 2, bands=3)
    name = build_name("http://127.0.0.1:%d" % closed_port(), src, tile=(TILE, TILE),
                      output_bands="out:float32:3")
    ds = gdal.Open(name)
    with pytest.raises(RuntimeError, match=r"not retried"):
        ds.GetRasterBand(1).ReadAsArray(0, 0, 40, 40)
    with pytest.raises(RuntimeError, match=r"is not asked again: its prediction failed earlier "
                                           r"through this dataset .*not retried"):
        ds.GetRasterBand(2).ReadAsArray(0, 0, 40, 40)


# ---------------------------------------------------------------------------
# Failed tiles are remembered; a wrong model costs one request


@pytest.mark.parametrize("on_error", ["FAIL", "NODATA"])
def test_failed_tiles_are_not_asked_again_by_the_next_band(predictor, stand_log, make_raster, on_error):
    src = float_raster(make_raster, 2, 2, bands=3)
    name = build_name(predictor.url, src, tile=(TILE, TILE), output_bands="out:float32:3",
                      on_error=on_error, nodata=-1 if on_error == "NODATA" else None)
    retries = 2
    with config_options(GDAL_HTTP_MAX_RETRY=str(retries), GDAL_HTTP_RETRY_DELAY="0.01"):
        ds = gdal.Open(name)
        predictor.fault(kind="status", status=503, count=100)
        for band in (1, 2, 3):
            with Messages() as m:
                if on_error == "FAIL":
                    with pytest.raises(RuntimeError, match=r"HTTP 503"):
                        ds.GetRasterBand(band).ReadAsArray(0, 0, 2 * TILE, TILE)
                else:
                    data = ds.GetRasterBand(band).ReadAsArray(0, 0, 2 * TILE, TILE)
                    assert (data == -1).all()
                    assert any("HTTP 503" in w for w in m.warnings()), m.items
        # the first band's read tried (1 + retries) times; the others sent nothing
        log = stand_log()
        assert len(log) == 1 + retries, [(r["status"], r["n_instances"]) for r in log]
        # a new handle asks again
        predictor.reset()
        again, truth = gdal.Open(name), gdal.Open(src)  # kept: bands need their dataset
        data = again.GetRasterBand(1).ReadAsArray(0, 0, 2 * TILE, TILE)
        assert (data == truth.GetRasterBand(1).ReadAsArray(0, 0, 2 * TILE, TILE)).all()
        assert len(stand_log()) == 1


def test_wrong_model_with_on_error_nodata_costs_one_request(predictor, stand_log, make_raster,
                                                            subprocess_env, tmp_path):
    src = float_raster(make_raster, 7, 5)                        # 35 tiles
    name = build_name(predictor.url, src, model="missing", tile=(TILE, TILE),
                      output_bands="out:float32", on_error="NODATA", nodata=-1,
                      max_payload_bytes=20000)                   # a few tiles per request
    result = run("gdal_translate", ["-q", name, str(tmp_path / "out.tif")], subprocess_env)
    assert result.returncode == 0, result.stderr
    assert "HTTP 404" in result.stderr
    log = stand_log()
    assert [r["status"] for r in log] == [404]
    out = gdal.Open(str(tmp_path / "out.tif")).ReadAsArray()
    assert (out == -1).all()


# ---------------------------------------------------------------------------
# Busy: patient, but not silent


def test_long_wait_is_announced_and_each_retry_logged(predictor, stand_log, make_raster, subprocess_env, tmp_path):
    src = float_raster(make_raster, 1, 1)
    name = build_name(predictor.url, src, tile=(TILE, TILE), output_bands="out:float32")
    predictor.fault(kind="status", status=503, retry_after=2, count=1)   # one long wait
    predictor.fault(kind="status", status=429, retry_after=0, count=1)   # one short one
    result = run("gdal_translate", [name, str(tmp_path / "out.tif")], subprocess_env,
                 {"CPL_DEBUG": "EEMODEL", "GDAL_HTTP_MAX_RETRY": "5"})
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning")]
    assert len(warnings) == 1, result.stderr                       # the long wait only, once
    assert "answered HTTP 503; waiting 2 s before retry 1 of 5" in warnings[0]
    assert "Interrupt to stop" in warnings[0]
    retries = [line for line in result.stderr.splitlines() if "EEMODEL: retry " in line]
    assert len(retries) == 2, result.stderr
    assert "retry 1 of 5" in retries[0] and "HTTP 503" in retries[0]
    assert "retry 2 of 5" in retries[1] and "HTTP 429" in retries[1]
    assert [r["status"] for r in stand_log()] == [503, 429, 200]


# ---------------------------------------------------------------------------
# The metadata check at open


class MetadataServer:
    """A TF Serving look-alike on loopback whose metadata route answers `status`
    (with Retry-After when given); counts the GETs.  Runs in a thread: only
    subprocesses talk to it (the GIL stays free)."""

    def __init__(self, status, retry_after=None):
        outer = self
        self.gets = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.gets += 1
                body = b'{"error": "unavailable"}'
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", str(retry_after))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status,warned", [(404, False), (405, False), (503, True), (500, True), (401, True)])
def test_metadata_check_skipped_silently_only_on_404_and_405(make_raster, subprocess_env, status, warned):
    src = float_raster(make_raster, 1, 1)
    server = MetadataServer(status, retry_after=300 if status == 503 else None)
    try:
        name = ("EEMODEL:input=%s;url=%s/v1/models/m:predict;input_tile_size=32,32;"
                "output_bands=out:float32" % (src, server.url))
        t0 = time.monotonic()
        result = run("gdalinfo", [name], subprocess_env, {"GDAL_HTTP_MAX_RETRY": "10"})
        elapsed = time.monotonic() - t0
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    skipped = [line for line in result.stderr.splitlines() if "model metadata check skipped" in line]
    if warned:
        assert len(skipped) == 1, result.stderr
        assert "HTTP %d" % status in skipped[0]
        assert "EEMODEL_CHECK_METADATA=NO" in skipped[0]
    else:
        assert skipped == [] and "Warning" not in result.stderr, result.stderr
    if status == 503:
        # bounded at open: one retry, not GDAL_HTTP_MAX_RETRY=10, and not after 300 s
        assert server.gets == 2
        assert elapsed < 300


# ---------------------------------------------------------------------------
# Item 8: a 401/403 to a request that carried no credentials


@pytest.mark.parametrize("status", [401, 403])
def test_refusal_without_credentials_names_what_was_looked_for(predictor, make_raster, tmp_path, status):
    from predictor.harness import StandIn

    src = float_raster(make_raster, 1, 1)
    # 401: the session's stand-in wants a token; 403: one that wants none refuses anyway
    server = predictor if status == 401 else StandIn.start()
    saved = os.environ.pop("EEMODEL_ACCESS_TOKEN", None)
    try:
        if status == 403:
            server.fault(kind="status", status=403)
        name = build_name(server.url, src, tile=(TILE, TILE), output_bands="out:float32")
        with config_options(EEMODEL_ACCESS_TOKEN=None, GOOGLE_APPLICATION_CREDENTIALS=None,
                            EEMODEL_ACCESS_TOKEN_FILE=None, CLOUDSDK_CONFIG=str(tmp_path),
                            GCE_METADATA_HOST=None):
            ds = gdal.Open(name)                  # loopback: no credentials is not an error at open
            with pytest.raises(RuntimeError) as e:
                ds.ReadRaster()
        assert [r["status"] for r in server.log()] == [status]
    finally:
        if saved is not None:
            os.environ["EEMODEL_ACCESS_TOKEN"] = saved
        if server is not predictor:
            server.stop()
    message = str(e.value)
    assert "HTTP %d" % status in message
    assert "the request carried no credentials" in message
    assert "EEMODEL_ACCESS_TOKEN: not set" in message
    assert "gcloud application-default credentials" in message
