"""Talking to the predictor end to end: routes, credentials, wire encodings,
batching, server errors and faults (DESIGN.md sections 5-6)."""

import contextlib
import re
import time

import numpy as np
import pytest
from osgeo import gdal

from conftest import config_options
from predictor import models


@contextlib.contextmanager
def captured_gdal_messages():
    """Every CPLError/CPLDebug message emitted while active (CPL_DEBUG on)."""
    messages = []

    def handler(err_class, err_no, message):
        messages.append(message)

    gdal.PushErrorHandler(handler)
    try:
        with config_options(CPL_DEBUG="ON"):
            yield messages
    finally:
        gdal.PopErrorHandler()


def random_raster(make_raster, shape=(3, 45, 70), seed=20, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    return make_raster(rng.integers(1, 256, size=shape).astype(dtype))


def as_bands(tools, path):
    return np.moveaxis(tools.read_hwc(path), -1, 0)


def read_fails(name, read=lambda ds: ds.ReadAsArray()):
    """Open + read, which must fail; returns the error message."""
    with pytest.raises(RuntimeError) as excinfo:
        ds = gdal.Open(name)
        read(ds)
    return str(excinfo.value)


# ---------------------------------------------------------------------------
# routes


@pytest.mark.parametrize("backend,extra,path", [
    ("aiplatform", {}, "/v1/projects/p/models/identity:predict"),
    ("aiplatform", {"version": "v3"}, "/v1/projects/p/models/identity/versions/v3:predict"),
    ("vertex", {}, "/v1/projects/p/locations/us-central1/endpoints/identity:predict"),
    ("url", {}, "/v1/projects/p/models/identity:predict"),
])
def test_routes(predictor, eem_name, make_raster, tools, backend, extra, path):
    src = random_raster(make_raster)
    ds = gdal.Open(eem_name(src, model="identity", tile=(32, 32), backend=backend,
                            output_bands="output:float32:3", **extra))
    got = ds.ReadAsArray()
    assert np.array_equal(got, as_bands(tools, src).astype(np.float32))
    log = predictor.log()
    assert log
    for record in log:
        assert record["path"] == path
        assert record["method"] == "POST"
        assert record["status"] == 200
        assert record["model"] == "identity"
    assert sum(r["n_instances"] for r in log) == 3 * 2


def test_camel_case_keys(predictor, make_raster, tools):
    src = random_raster(make_raster, seed=21)
    name = ("EEMODEL:input=%s;apiRoot=%s;projectId=p;modelName=identity;version=v1;"
            "inputTileSize=32,16;inputOverlapSize=2,1;outputTileSize=32,16;"
            "outputBands=output:float32:3" % (src, predictor.url))
    got = gdal.Open(name).ReadAsArray()
    assert np.array_equal(got, as_bands(tools, src).astype(np.float32))
    record = predictor.log()[0]
    assert record["path"] == "/v1/projects/p/models/identity/versions/v1:predict"
    assert record["shapes"]["b1"] == [18, 36, 1]


# ---------------------------------------------------------------------------
# credentials


def test_bearer_token_sent(predictor, eem_name, make_raster, token):
    src = random_raster(make_raster, seed=22)
    gdal.Open(eem_name(src, model="identity", output_bands="output:float32:3")).ReadAsArray()
    log = predictor.log()
    assert log
    for record in log:
        assert record["auth_ok"] is True
        assert record["authorization"].startswith("Bearer " + token[:4])
        assert record["headers"].get("content-type", "").startswith("application/json")


def test_token_never_in_messages(predictor, eem_name, make_raster, token):
    src = random_raster(make_raster, seed=23)
    with captured_gdal_messages() as messages:
        ds = gdal.Open(eem_name(src, model="identity", output_bands="output:float32:3"))
        ds.ReadAsArray()
        ds = None
    assert predictor.log() and all(r["auth_ok"] for r in predictor.log())
    assert not [m for m in messages if token in m]


def test_wrong_token_fails_with_server_message(predictor, eem_name, make_raster, token):
    src = random_raster(make_raster, seed=24)
    wrong = "wrong-secret-98765"
    with config_options(EEMODEL_ACCESS_TOKEN=wrong):
        with captured_gdal_messages() as messages:
            message = read_fails(eem_name(src, model="identity", output_bands="output:float32:3"))
    assert "Request had invalid authentication credentials" in message, message
    assert "401" in message, message
    assert wrong not in message and token not in message
    assert not [m for m in messages if wrong in m]
    log = predictor.log()
    assert log and all(r["status"] == 401 and not r["auth_ok"] for r in log)
    # at most one retry after a refresh per request, not a retry storm
    assert len(log) <= 2 * 2

    # the right token works again afterwards (no stale credential kept)
    predictor.reset()
    gdal.Open(eem_name(src, model="identity", output_bands="output:float32:3")).ReadAsArray()
    assert predictor.log() and all(r["auth_ok"] for r in predictor.log())


# ---------------------------------------------------------------------------
# wire encodings of the answers


@pytest.mark.parametrize("b64", ["standard", "standard_nopad", "urlsafe", "urlsafe_nopad"])
@pytest.mark.parametrize("tile", [(32, 32), (31, 17), (29, 13)])
def test_answer_base64_variants(predictor, eem_name, make_raster, tools, b64, tile):
    # random bytes: '+', '/', '-', '_' all occur; tile sizes vary the padding
    src = random_raster(make_raster, seed=25)
    predictor.config(b64=b64)
    ds = gdal.Open(eem_name(src, model="identity", tile=tile, output_bands="output:float32:3"))
    assert np.array_equal(ds.ReadAsArray(), as_bands(tools, src).astype(np.float32))
    assert all(r["status"] == 200 for r in predictor.log())


@pytest.mark.parametrize("encoding", ["content", "typed", "broadcast"])
@pytest.mark.parametrize("out_dtype", ["float32", "float64", "int32", "int64", "uint8", "int16", "uint16"])
def test_answer_tensor_encodings_and_types(predictor, eem_name, make_raster, tools, encoding, out_dtype):
    rng = np.random.default_rng(26)
    data = rng.integers(1, 256, size=(2, 40, 64)).astype(np.uint8)
    data[:, :, :32] = 7          # constant tiles: "broadcast" sends a single value
    src = make_raster(data)
    predictor.config(tensor_encoding=encoding, out_dtype=out_dtype)
    ds = gdal.Open(eem_name(src, model="identity", tile=(32, 20), output_bands="output:float32:2"))
    assert np.array_equal(ds.ReadAsArray(), data.astype(np.float32))
    assert sum(r["n_instances"] for r in predictor.log()) == 4


@pytest.mark.parametrize("out_dtype", ["float64", "int32", "float32"])
def test_answer_converted_to_declared_type(predictor, eem_name, make_raster, out_dtype):
    data = (np.arange(40 * 64, dtype=np.int32).reshape(1, 40, 64) % 200 + 1).astype(np.uint8)
    src = make_raster(data)
    predictor.config(out_dtype=out_dtype)
    ds = gdal.Open(eem_name(src, model="identity", tile=(32, 20), output_bands="output:int16"))
    band = ds.GetRasterBand(1)
    assert band.DataType == gdal.GDT_Int16
    got = band.ReadAsArray()
    assert got.dtype == np.int16
    assert np.array_equal(got, data[0].astype(np.int16))


def test_single_output_as_object(predictor, eem_name, make_raster, tools):
    src = random_raster(make_raster, seed=27)
    predictor.config(single_output="object")
    ds = gdal.Open(eem_name(src, model="conv", tile=(32, 32), overlap=(3, 3)))
    got = ds.GetRasterBand(1).ReadAsArray()
    assert np.array_equal(got, models.conv_padded(tools.read_hwc(src))[:, :, 0])


def test_negative_and_fractional_values(predictor, eem_name, make_raster, tools):
    src = random_raster(make_raster, seed=28)
    ds = gdal.Open(eem_name(src, model="ndi", tile=(32, 32), output_bands="ndi:float64"))
    got = ds.GetRasterBand(1).ReadAsArray()
    expected = models.ndi(tools.read_hwc(src))[:, :, 0].astype(np.float64)
    assert (expected < 0).any() and (expected > 0).any()
    assert np.array_equal(got, expected)


# ---------------------------------------------------------------------------
# batching


def test_batches_fit_max_payload_bytes(predictor, eem_name, make_raster, tools):
    src = random_raster(make_raster, shape=(3, 48, 64), seed=29)
    limit = 4000   # one 16x16x3-key uint8 instance is about 1.1 kB of JSON
    ds = gdal.Open(eem_name(src, model="identity", tile=(16, 16), output_bands="output:float32:3",
                            max_payload_bytes=limit))
    assert np.array_equal(ds.ReadAsArray(), as_bands(tools, src).astype(np.float32))
    log = predictor.log()
    assert all(r["status"] == 200 for r in log)
    assert sum(r["n_instances"] for r in log) == 12
    assert all(r["body_bytes"] <= limit for r in log), [r["body_bytes"] for r in log]
    assert max(r["n_instances"] for r in log) >= 2
    assert len(log) >= 4


def test_batches_without_small_limit_group_tiles(predictor, eem_name, make_raster):
    src = random_raster(make_raster, shape=(3, 48, 64), seed=30)
    ds = gdal.Open(eem_name(src, model="identity", tile=(16, 16), output_bands="output:float32:3"))
    ds.ReadAsArray()
    log = predictor.log()
    assert sum(r["n_instances"] for r in log) == 12
    assert len(log) < 12


def test_instance_larger_than_max_payload_bytes(predictor, eem_name, make_raster):
    src = random_raster(make_raster, seed=31)
    message = read_fails(eem_name(src, model="identity", tile=(32, 32), output_bands="output:float32:3",
                                  max_payload_bytes=500))
    assert "MAX_PAYLOAD_BYTES" in message.upper().replace("MAXPAYLOADBYTES", "MAX_PAYLOAD_BYTES"), message
    assert predictor.log() == []


# ---------------------------------------------------------------------------
# server errors and faults


def one_tile_raster(make_raster, seed=32):
    return random_raster(make_raster, shape=(3, 24, 32), seed=seed)


def test_error_body_message(predictor, eem_name, make_raster):
    src = one_tile_raster(make_raster)
    predictor.fault(kind="error_body", message="stand-in: the model ran out of llamas")
    message = read_fails(eem_name(src, model="identity", tile=(32, 24), output_bands="output:float32:3"))
    assert "the model ran out of llamas" in message, message


def test_model_error_400_message(predictor, eem_name, make_raster):
    src = one_tile_raster(make_raster)
    # pool2 refuses odd patch sizes with a 400 and a message
    message = read_fails(eem_name(src, model="pool2", tile=(31, 24), out_tile=(16, 12)))
    assert "pool2 needs even H and W" in message, message
    assert "400" in message, message
    log = predictor.log()
    assert log and all(r["status"] == 400 for r in log)


def test_injected_400_not_retried(predictor, eem_name, make_raster):
    src = one_tile_raster(make_raster)
    predictor.fault(kind="status", status=400, count=5)
    message = read_fails(eem_name(src, model="identity", tile=(32, 24), output_bands="output:float32:3"))
    assert "stand-in: injected HTTP 400" in message, message
    assert [r["status"] for r in predictor.log()] == [400]


def test_unknown_model_404(predictor, eem_name, make_raster):
    src = one_tile_raster(make_raster)
    message = read_fails(eem_name(src, model="nosuchmodel", tile=(32, 24)))
    assert "model nosuchmodel not found" in message, message
    assert [r["status"] for r in predictor.log()] == [404]


def test_malformed_body(predictor, eem_name, make_raster):
    src = one_tile_raster(make_raster)
    predictor.fault(kind="malformed", count=10)
    message = read_fails(eem_name(src, model="identity", tile=(32, 24), output_bands="output:float32:3"))
    assert re.search(r"json|pars|malformed|invalid", message, re.IGNORECASE), message
    assert predictor.log()


@pytest.mark.parametrize("overlap,received,expected", [
    # conv on a 32x24 tile, no overlap: expected (24, 32), received (23, 31, 1)
    ((0, 0), (23, 31), [(24, 32)]),
    # with overlap (2, 3) the padded answer (30, 36) is also acceptable: both named
    ((2, 3), (29, 35), [(24, 32), (30, 36)]),
])
def test_wrong_shape_names_shapes(predictor, eem_name, make_raster, overlap, received, expected):
    src = one_tile_raster(make_raster)
    predictor.fault(kind="wrong_shape", count=10)
    message = read_fails(eem_name(src, model="conv", tile=(32, 24), overlap=overlap))
    assert "shape" in message.lower(), message
    for h, w in [received] + expected:
        assert re.search(r"\b%d\s*[,x\u00d7]\s*%d\b" % (h, w), message), message


def test_retry_after_503(predictor, eem_name, make_raster, tools):
    src = one_tile_raster(make_raster)
    predictor.fault(kind="status", status=503, count=2)
    with config_options(GDAL_HTTP_RETRY_DELAY="0.05", GDAL_HTTP_MAX_RETRY="3"):
        ds = gdal.Open(eem_name(src, model="identity", tile=(32, 24), output_bands="output:float32:3"))
        got = ds.ReadAsArray()
    assert np.array_equal(got, as_bands(tools, src).astype(np.float32))
    assert [r["status"] for r in predictor.log()] == [503, 503, 200]


def test_retry_after_dropped_connection(predictor, eem_name, make_raster, tools):
    src = one_tile_raster(make_raster)
    predictor.fault(kind="drop", count=1)
    with config_options(GDAL_HTTP_RETRY_DELAY="0.05", GDAL_HTTP_MAX_RETRY="3"):
        ds = gdal.Open(eem_name(src, model="identity", tile=(32, 24), output_bands="output:float32:3"))
        got = ds.ReadAsArray()
    assert np.array_equal(got, as_bands(tools, src).astype(np.float32))
    assert len(predictor.log()) == 2


def test_retries_exhausted(predictor, eem_name, make_raster):
    src = one_tile_raster(make_raster)
    predictor.fault(kind="status", status=503, count=10)
    with config_options(GDAL_HTTP_RETRY_DELAY="0.05", GDAL_HTTP_MAX_RETRY="2"):
        message = read_fails(eem_name(src, model="identity", tile=(32, 24), output_bands="output:float32:3"))
    assert "503" in message, message
    assert [r["status"] for r in predictor.log()] == [503, 503, 503]


def test_stalled_answer_times_out(predictor, eem_name, make_raster):
    src = one_tile_raster(make_raster)
    stall_s = 60
    predictor.fault(kind="stall", seconds=stall_s, count=1)
    start = time.monotonic()
    with config_options(GDAL_HTTP_TIMEOUT="1", GDAL_HTTP_MAX_RETRY="0"):
        message = read_fails(eem_name(src, model="identity", tile=(32, 24), output_bands="output:float32:3"))
    # gave up on its own timeout: far sooner than the stalled answer would have come
    assert time.monotonic() - start < stall_s / 2
    assert re.search(r"time", message, re.IGNORECASE), message
    # the stalled request is still held by the stand-in: nothing else was sent
    assert predictor.log() == []


def test_huge_answer_refused(predictor, eem_name, make_raster):
    src = one_tile_raster(make_raster)
    predictor.fault(kind="huge", count=10)
    start = time.monotonic()
    with config_options(GDAL_HTTP_MAX_RETRY="0"):
        message = read_fails(eem_name(src, model="identity", tile=(32, 24), output_bands="output:float32:3"))
    assert time.monotonic() - start < 60   # refused, not read for minutes
    assert message


# ---------------------------------------------------------------------------
# cost guard, ON_ERROR, persistent cache


def test_cost_guard_refuses_large_reads(predictor, eem_name, make_raster, tools):
    src = random_raster(make_raster, shape=(3, 48, 64), seed=33)
    name = eem_name(src, model="identity", tile=(16, 16), output_bands="output:float32:3",
                    max_predictions=5)
    ds = gdal.Open(name)
    with pytest.raises(RuntimeError) as excinfo:
        ds.ReadAsArray()
    message = str(excinfo.value)
    assert "MAX_PREDICTIONS" in message, message
    assert re.search(r"\b12\b", message), message
    assert predictor.log() == []
    # a window of 4 tiles is fine
    got = ds.ReadAsArray(0, 0, 32, 32)
    assert np.array_equal(got, as_bands(tools, src)[:, :32, :32].astype(np.float32))
    assert sum(r["n_instances"] for r in predictor.log()) == 4


def test_cost_guard_config_option(predictor, eem_name, make_raster):
    src = random_raster(make_raster, shape=(3, 48, 64), seed=34)
    with config_options(EEMODEL_MAX_PREDICTIONS="3"):
        message = read_fails(eem_name(src, model="identity", tile=(16, 16), output_bands="output:float32:3"))
    assert "12" in message, message
    assert predictor.log() == []


def test_on_error_nodata(predictor, eem_name, make_raster):
    src = one_tile_raster(make_raster, seed=35)
    predictor.fault(kind="status", status=400, count=10)
    ds = gdal.Open(eem_name(src, model="identity", tile=(32, 24), output_bands="output:float32:3",
                            on_error="NODATA", nodata=-9999))
    got = ds.ReadAsArray()
    assert (got == -9999).all()
    assert (ds.GetRasterBand(1).GetMaskBand().ReadAsArray() == 0).all()
    assert predictor.log() and predictor.log()[0]["status"] == 400
