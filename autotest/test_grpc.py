"""gRPC (issue 15) end to end against the stand-in's gRPC services (grpc_server.py): the same
pixels as REST for every model and gRPC format, the request fields sent, batching by
MAX_PAYLOAD_BYTES, metadata at open, the cost guard, the cache, ON_ERROR, credentials, and
every injected fault (UNAVAILABLE, RESOURCE_EXHAUSTED, stalled stream, malformed message,
wrong shape, oversized message)."""

import json

import numpy as np
import pytest
from osgeo import gdal

from conftest import config_options
from predictor import models

TILE = (16, 12)
OVERLAP = (3, 3)

# model -> (OUTPUT_BANDS, input tile, overlap, output tile or None)
MODEL_CASES = {
    "identity": ("output:float32:2", TILE, OVERLAP, None),
    "ndi": ("output:float32", TILE, OVERLAP, None),
    "conv": ("output:float32", TILE, OVERLAP, None),
    "up2": ("output:float32", TILE, (0, 0), (32, 24)),
    "pool2": ("output:float32", TILE, (0, 0), (8, 6)),
    "classify": ("probs:float32:3,class:uint8", (16, 16), (0, 0), None),
    "tilemean": ("output:float32", TILE, (0, 0), (1, 1)),
}

# gRPC backend -> (descriptor keys for {model}, PAYLOAD_FORMAT, logged api, logged format)
GRPC_BACKENDS = {
    "tf-tensors": ("url={grpc}/v1/models/{model}", None, "tfserving-grpc", "GRPC_TF_TENSORS"),
    "tf-version-serialized": ("url={grpc}/v1/models/{model}/versions/7", "GRPC_SERIALIZED_TF_TENSORS",
                              "tfserving-grpc", "GRPC_SERIALIZED_TF_TENSORS"),
    "tf-label-examples": ("url={grpc}/v1/models/{model}/labels/stable", "GRPC_SERIALIZED_TF_EXAMPLES",
                          "tfserving-grpc", "GRPC_SERIALIZED_TF_EXAMPLES"),
    "oip": ("url={grpc}/v2/models/{model}", None, "kserve-grpc", "GRPC_OIP_V2"),
    "oip-version": ("url={grpc}/v2/models/{model}/versions/3/infer", "GRPC_OIP_V2", "kserve-grpc", "GRPC_OIP_V2"),
    "vertex": ("api_root={grpc};endpoint=projects/p/locations/us-central1/endpoints/{model}", "GRPC_TF_TENSORS",
               "vertex-grpc", "GRPC_TF_TENSORS"),
}


def grpc_name(predictor, src, backend, model, bands=None, tile=None, overlap=None, out_tile=None, fmt=None,
              **extra):
    case = MODEL_CASES.get(model, ("output:float32", TILE, OVERLAP, None))
    keys, default_fmt, _, _ = GRPC_BACKENDS[backend]
    tile = tile or case[1]
    overlap = overlap if overlap is not None else case[2]
    out_tile = out_tile or case[3]
    parts = ["input=%s" % src, keys.format(grpc=predictor.grpc_root, model=model),
             "input_tile_size=%d,%d" % tile, "input_overlap_size=%d,%d" % overlap,
             "output_bands=%s" % (bands or case[0])]
    if out_tile:
        parts.append("output_tile_size=%d,%d" % out_tile)
    if fmt or default_fmt:
        parts.append("payload_format=%s" % (fmt or default_fmt))
    parts += ["%s=%s" % (k, v) for k, v in extra.items() if v is not None]
    return "EEMODEL:" + ";".join(parts)


def rest_name(predictor, src, model):
    bands, tile, overlap, out_tile = MODEL_CASES[model]
    parts = ["input=%s" % src, "url=%s/v1/models/%s:predict" % (predictor.url, model),
             "input_tile_size=%d,%d" % tile, "input_overlap_size=%d,%d" % overlap,
             "output_bands=%s" % bands, "payload_format=RAW_JSON"]
    if out_tile:
        parts.append("output_tile_size=%d,%d" % out_tile)
    return "EEMODEL:" + ";".join(parts)


@pytest.fixture
def scene(make_raster):
    rng = np.random.default_rng(15)
    return make_raster(rng.integers(0, 1000, size=(2, 37, 45)).astype(np.uint16))


def example_hw(model):
    _, tile, overlap, _ = MODEL_CASES[model]
    return [tile[1] + 2 * overlap[1], tile[0] + 2 * overlap[0]]


# ---------------------------------------------------------------------------
# The protocol matrix's gRPC rows: same pixels as REST, for every model


@pytest.mark.parametrize("backend", list(GRPC_BACKENDS))
@pytest.mark.parametrize("model", list(MODEL_CASES))
def test_grpc_gives_the_same_pixels_as_rest(predictor, scene, tools, backend, model):
    reference = tools.read_bands(gdal.Open(rest_name(predictor, scene, model)))
    rest_instances = sum(r["n_instances"] for r in predictor.log() if r["api"] == "tfserving")
    predictor.reset()
    if backend == "tf-label-examples":
        predictor.config(grpc_example_hw=example_hw(model))
    ds = gdal.Open(grpc_name(predictor, scene, backend, model))
    got = tools.read_bands(ds)
    assert got.dtype == reference.dtype
    assert np.array_equal(got, reference, equal_nan=True)  # masked: NaN in both
    _, _, api, fmt = GRPC_BACKENDS[backend]
    log = [r for r in predictor.log() if r["api"] == api]
    assert log and all(r["grpc_status"] == 0 and r["format"] == fmt for r in log)
    assert all(r["model"] == model for r in log)
    assert sum(r["n_instances"] for r in log) == rest_instances > 0
    if backend == "tf-version-serialized":
        assert all(r["version"] == "7" for r in log)
    if backend == "tf-label-examples":
        assert all(r["label"] == "stable" for r in log)
        assert log[0]["keys"] == ["b1", "b2"]


def test_conv_matches_the_whole_image_reference(predictor, scene, tools):
    x = tools.read_hwc(scene)
    got = gdal.Open(grpc_name(predictor, scene, "tf-tensors", "conv")).ReadAsArray()
    assert np.array_equal(got, models.conv_padded(x)[:, :, 0].astype(np.float32))


@pytest.mark.parametrize("encoding", ["typed", "broadcast"])
def test_typed_tensorproto_answers(predictor, scene, tools, encoding):
    """TF Serving answers with typed fields by default (AsProtoField): decoded the same."""
    reference = tools.read_bands(gdal.Open(grpc_name(predictor, scene, "tf-tensors", "classify")))
    predictor.config(tensor_encoding=encoding)
    got = tools.read_bands(gdal.Open(grpc_name(predictor, scene, "tf-tensors", "classify")))
    assert np.array_equal(got, reference, equal_nan=True)  # masked: NaN in both


def test_oip_typed_contents_answers(predictor, scene, tools):
    reference = tools.read_bands(gdal.Open(grpc_name(predictor, scene, "oip", "classify")))
    predictor.config(grpc_typed_answer=True)
    got = tools.read_bands(gdal.Open(grpc_name(predictor, scene, "oip", "classify")))
    assert np.array_equal(got, reference, equal_nan=True)  # masked: NaN in both


@pytest.mark.parametrize("input_type", ["float16", "bfloat16", "float64", "int8"])
def test_oip_carries_every_element_type_raw(predictor, make_raster, input_type):
    """raw_input_contents carry FP16 / BF16 (which JSON cannot) and the echo model answers them back."""
    values = np.array([[0.5, -2.0, 3.25, 1024.0]], dtype=np.float32)
    if input_type == "int8":
        values = np.array([[1, -2, 3, -128]], dtype=np.float32)
    src = make_raster(np.tile(values, (4, 1)))
    name = grpc_name(predictor, src, "oip", "echo", bands="output:float32", tile=(4, 4), overlap=(0, 0),
                     input_type=input_type)
    got = gdal.Open(name).ReadAsArray()
    assert np.array_equal(got, np.tile(values, (4, 1)))
    log = _predicts(predictor, "kserve-grpc")
    assert log[-1]["binary"] is True
    assert log[-1]["dtypes"]["b1"] == {"bfloat16": "float32"}.get(input_type, input_type)


# ---------------------------------------------------------------------------
# What is sent


def test_request_fields_and_headers(predictor, scene):
    with config_options(GDAL_HTTP_TIMEOUT="42"):
        gdal.Open(grpc_name(predictor, scene, "tf-tensors", "conv", signature_name="serving_default")).ReadAsArray()
    log = [r for r in predictor.log() if r["api"] == "tfserving-grpc"]
    assert log
    for r in log:
        assert r["path"] == "/tensorflow.serving.PredictionService/Predict"
        assert r["signature_name"] == "serving_default"
        # grpcio refuses calls without te: trailers and application/grpc, and keeps those
        # reserved headers to itself; grpc-timeout arrives as the call's deadline
        assert "te" not in r["headers"] and "content-type" not in r["headers"]
        assert 0 < r["deadline_s"] <= 42
        assert r["headers"]["user-agent"].startswith("EEMODEL/")
        assert r["shapes"] == {"b1": [18, 22, 1], "b2": [18, 22, 1]}
        assert "authorization" not in r["headers"]  # TF Serving: no Google credentials


def test_batching_by_max_payload_bytes_on_the_encoded_message(predictor, scene):
    """Each message (plus its 5-byte prefix) fits MAX_PAYLOAD_BYTES; one more instance would not."""
    one = 18 * 22 * 2 * 2  # one instance: 2 keys of 18x22 uint16
    limit = 4 * one + 400
    gdal.Open(grpc_name(predictor, scene, "tf-tensors", "conv", max_payload_bytes=limit)).ReadAsArray()
    log = [r for r in predictor.log() if r["api"] == "tfserving-grpc"]
    assert sum(r["n_instances"] for r in log) == 12
    assert all(r["body_bytes"] + 5 <= limit for r in log)
    assert max(r["n_instances"] for r in log) == 4
    full = [r for r in log if r["n_instances"] == 4]
    per_instance = (full[0]["body_bytes"] - min(r["body_bytes"] for r in log if r["n_instances"] == 4)) or one
    assert full[0]["body_bytes"] + 5 + per_instance > limit


def test_oversized_single_tile_refused_before_sending(predictor, scene):
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(grpc_name(predictor, scene, "oip", "conv", tile=(64, 64), max_payload_bytes=2000)).ReadAsArray()
    assert "MAX_PAYLOAD_BYTES" in str(excinfo.value)
    assert not [r for r in predictor.log() if r["api"] == "kserve-grpc"]


def test_cost_guard_before_any_request(predictor, scene):
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(grpc_name(predictor, scene, "tf-tensors", "conv", max_predictions=2)).ReadAsArray()
    assert "2" in str(excinfo.value)
    assert not [r for r in predictor.log() if r["api"] == "tfserving-grpc"]


def test_cache_serves_the_second_read(predictor, scene, tmp_path):
    name = grpc_name(predictor, scene, "oip", "conv", cache_dir=str(tmp_path / "cache"))
    first = gdal.Open(name).ReadAsArray()
    sent = len([r for r in predictor.log() if r["api"] == "kserve-grpc"])
    assert sent > 0
    second = gdal.Open(name).ReadAsArray()
    assert np.array_equal(first, second, equal_nan=True)
    assert len([r for r in predictor.log() if r["api"] == "kserve-grpc"]) == sent


# ---------------------------------------------------------------------------
# Model metadata at open


def test_metadata_fills_output_length(predictor, scene, tools, tmp_path):
    predictor.config(metadata={"inputs": [{"name": "b1", "datatype": "UINT16", "shape": [-1, 18, 22, 1]},
                                          {"name": "b2", "datatype": "UINT16", "shape": [-1, 18, 22, 1]}],
                               "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, 18, 22, 2]}]})
    for backend in ("tf-tensors", "oip"):
        keys = GRPC_BACKENDS[backend][0].format(grpc=predictor.grpc_root, model="identity")
        descriptor = {"input": scene, "url": keys[len("url="):], "inputTileSize": [16, 12],
                      "inputOverlapSize": [3, 3], "outputBands": {"output": {"type": "float32", "dimensions": 1}}}
        path = tmp_path / ("%s.eemodel.json" % backend)
        path.write_text(json.dumps(descriptor))
        ds = gdal.Open(str(path))
        assert ds.RasterCount == 2
        assert np.array_equal(tools.read_bands(ds), np.moveaxis(tools.read_hwc(scene), -1, 0).astype(np.float32))
    apis = {r["api"] for r in predictor.log()}
    assert {"tfserving-grpc-metadata", "kserve-grpc-metadata"} <= apis
    # metadata calls are cheap: their deadline is at most 30 s whatever GDAL_HTTP_TIMEOUT says
    assert all(0 < r["deadline_s"] <= 30 for r in predictor.log() if r["api"].endswith("-metadata"))


@pytest.mark.parametrize("backend", ["tf-tensors", "oip"])
def test_metadata_mismatch_fails_at_open(predictor, scene, backend):
    predictor.config(metadata={"inputs": [{"name": "b1", "datatype": "FP32", "shape": [-1, 18, 22, 1]},
                                          {"name": "b2", "datatype": "FP32", "shape": [-1, 18, 22, 1]}],
                               "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, 18, 22, 1]}]})
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(grpc_name(predictor, scene, backend, "conv"))
    message = str(excinfo.value)
    assert "INPUT_TYPE" in message and "float32" in message
    assert "Metadata" in message


def test_unknown_signature_named(predictor, scene):
    predictor.config(metadata={"signature_name": "serving_default", "inputs": [], "outputs": []})
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(grpc_name(predictor, scene, "tf-tensors", "conv", signature_name="nope"))
    assert 'no signature "nope"' in str(excinfo.value)
    assert '"serving_default"' in str(excinfo.value)


# ---------------------------------------------------------------------------
# Faults


def _predicts(predictor, api="tfserving-grpc"):
    return [r for r in predictor.log() if r["api"] == api]


@pytest.mark.parametrize("code", [14, 8, 4, 10])
def test_retryable_status_codes_are_retried(predictor, scene, tools, code):
    reference = tools.read_bands(gdal.Open(grpc_name(predictor, scene, "tf-tensors", "conv")))
    predictor.reset()
    predictor.fault(kind="status", grpc_code=code, count=2)
    with config_options(GDAL_HTTP_RETRY_DELAY="0.01"):
        got = tools.read_bands(gdal.Open(grpc_name(predictor, scene, "tf-tensors", "conv", max_payload_bytes=100000)))
    assert np.array_equal(got, reference, equal_nan=True)  # masked: NaN in both
    log = _predicts(predictor)
    assert [r["grpc_status"] for r in log[:2]] == [code, code]
    assert log[2]["grpc_status"] == 0
    # the retried request carried the same tiles
    assert log[2]["instance_digests"] == log[0]["instance_digests"]


def test_resource_exhausted_size_limit_is_not_retried(predictor, scene):
    predictor.fault(kind="status", grpc_code=8, message="Received message larger than max (9437217 vs. 8388608)")
    with config_options(GDAL_HTTP_RETRY_DELAY="0.01"):
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(grpc_name(predictor, scene, "tf-tensors", "conv", max_payload_bytes=100000)).ReadAsArray()
    assert "gRPC status 8 RESOURCE_EXHAUSTED: Received message larger than max" in str(excinfo.value)
    assert len(_predicts(predictor)) == 1


@pytest.mark.parametrize("code,name", [(3, "INVALID_ARGUMENT"), (2, "UNKNOWN"), (12, "UNIMPLEMENTED")])
def test_other_status_codes_fail_without_retry(predictor, scene, code, name):
    predictor.fault(kind="status", grpc_code=code, message="bad ñ 100% value\nline2")
    with config_options(GDAL_HTTP_RETRY_DELAY="0.01"):
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(grpc_name(predictor, scene, "oip", "conv", max_payload_bytes=100000)).ReadAsArray()
    message = str(excinfo.value)
    assert "gRPC status %d %s: bad ñ 100%% value line2" % (code, name) in message
    assert len(_predicts(predictor, "kserve-grpc")) == 1


def test_retries_exhausted_names_the_status_and_attempts(predictor, scene):
    predictor.fault(kind="status", grpc_code=14, count=10)
    with config_options(GDAL_HTTP_RETRY_DELAY="0.01", GDAL_HTTP_MAX_RETRY="2"):
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(grpc_name(predictor, scene, "tf-tensors", "conv", max_payload_bytes=100000)).ReadAsArray()
    assert "gRPC status 14 UNAVAILABLE" in str(excinfo.value)
    assert "after 3 attempts" in str(excinfo.value)


def test_stalled_stream_ends_at_the_deadline(predictor, scene):
    """The server stalls far longer than GDAL_HTTP_TIMEOUT: the deadline ends the call
    (DEADLINE_EXCEEDED from the server, or the client's own timeout a second later)."""
    predictor.fault(kind="stall", seconds=600)
    with config_options(GDAL_HTTP_TIMEOUT="1", GDAL_HTTP_MAX_RETRY="0"):
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(grpc_name(predictor, scene, "tf-tensors", "conv", max_payload_bytes=100000)).ReadAsArray()
    message = str(excinfo.value)
    assert "DEADLINE_EXCEEDED" in message or "timed out" in message.lower()


def test_malformed_message_is_refused(predictor, scene):
    predictor.fault(kind="malformed")
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(grpc_name(predictor, scene, "tf-tensors", "conv", max_payload_bytes=100000)).ReadAsArray()
    assert "PredictResponse: not a valid protobuf message" in str(excinfo.value)


def test_wrong_shape_is_refused(predictor, scene):
    predictor.fault(kind="wrong_shape")
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(grpc_name(predictor, scene, "oip", "conv", max_payload_bytes=100000)).ReadAsArray()
    assert "the model answered shape [17,21,1]; expected [12,16,1]" in str(excinfo.value)


def test_oversized_message_stops_at_the_response_cap(predictor, scene):
    predictor.fault(kind="huge", bytes=8 << 20)
    with config_options(EEMODEL_MAX_RESPONSE_BYTES="1000000"):
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(grpc_name(predictor, scene, "tf-tensors", "conv", max_payload_bytes=100000)).ReadAsArray()
    assert "larger than EEMODEL_MAX_RESPONSE_BYTES=1000000" in str(excinfo.value)


def test_on_error_nodata_masks_the_failed_tiles(predictor, scene):
    predictor.fault(kind="status", grpc_code=3, message="stand-in: refused")
    one_request = 18 * 22 * 2 * 2 + 300  # one instance per request
    ds = gdal.Open(grpc_name(predictor, scene, "tf-tensors", "conv", max_payload_bytes=one_request,
                             on_error="NODATA", nodata=-1))
    got = ds.ReadAsArray()
    assert (got == -1).sum() == 16 * 12  # exactly one tile masked
    assert len(_predicts(predictor)) == 12


# ---------------------------------------------------------------------------
# Credentials (Vertex AI) and descriptor errors


def test_vertex_sends_the_bearer_token(predictor, scene, token):
    gdal.Open(grpc_name(predictor, scene, "vertex", "conv")).ReadAsArray()
    log = _predicts(predictor, "vertex-grpc")
    assert log and all(r["auth_ok"] and r["grpc_status"] == 0 for r in log)
    assert all(r["method_name"] == "/tensorflow.serving.PredictionService/Predict" for r in log)
    assert all(r["authorization"].startswith("Bearer ") and token not in r["authorization"] for r in log)


def test_vertex_refused_token_is_named(predictor, scene):
    with config_options(EEMODEL_ACCESS_TOKEN="wrong-token"):
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(grpc_name(predictor, scene, "vertex", "conv")).ReadAsArray()
    message = str(excinfo.value)
    assert "UNAUTHENTICATED" in message
    assert "wrong-token" not in message


@pytest.mark.parametrize("keys,needles", [
    ("url=grpc://127.0.0.1:1/v1/models/m;payload_format=RAW_JSON",
     ["RAW_JSON", "REST format", "GRPC_TF_TENSORS"]),
    ("url=grpc://127.0.0.1:1/v2/models/m;payload_format=GRPC_TF_TENSORS",
     ["GRPC_TF_TENSORS", "OIP v2", "accepted: GRPC_OIP_V2"]),
    ("url=grpc://127.0.0.1:1/v1/models/m;payload_format=GRPC_OIP_V2",
     ["GRPC_OIP_V2", "TF Serving"]),
    ("url=grpc://127.0.0.1:1/predict", ["does not name a model for gRPC", "/v1/models/M"]),
    ("url=grpc://127.0.0.1:1/v1/models/m/versions/x", ["version \"x\" is not a number"]),
    ("project=p;model=m;payload_format=GRPC_TF_TENSORS", ["AI Platform has no gRPC API"]),
    ("url=grpc://127.0.0.1:1/v2/models/m;signature_name=s", ["SIGNATURE_NAME", "OIP v2"]),
    ("url=grpc://127.0.0.1:1/v1/models/m;request_layout=columnar", ["REQUEST_LAYOUT"]),
    ("url=grpc://127.0.0.1:1/v1/models/m;payload_format=GRPC_NOPE", ["GRPC_NOPE", "GRPC_SERIALIZED_TF_EXAMPLES"]),
])
def test_descriptor_errors_say_what_is_accepted(scene, keys, needles):
    name = "EEMODEL:input=%s;%s;input_tile_size=16,16;output_bands=o:float32" % (scene, keys)
    with config_options(EEMODEL_CHECK_METADATA="NO"):
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(name)
    for needle in needles:
        assert needle in str(excinfo.value)


def test_examples_refuse_types_float_list_cannot_carry(predictor, make_raster):
    src = make_raster(np.zeros((4, 4), dtype=np.float64))
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(grpc_name(predictor, src, "tf-label-examples", "conv", tile=(4, 4), overlap=(0, 0)))
    assert "INPUT_TYPE" in str(excinfo.value) and "float32" in str(excinfo.value)


def test_unreachable_server_is_unavailable(scene):
    name = "EEMODEL:input=%s;url=grpc://127.0.0.1:9/v1/models/m;input_tile_size=16,16;output_bands=o:float32" % scene
    with config_options(GDAL_HTTP_MAX_RETRY="0", EEMODEL_CHECK_METADATA="NO"):
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(name).ReadAsArray()
    assert "127.0.0.1:9" in str(excinfo.value)


def test_verbose_output_never_shows_the_token(predictor, make_raster):
    """CPL_CURL_VERBOSE over HTTP/2: libcurl also prints request headers as text lines
    ("h2h3 [authorization: ...]"); the credential is redacted there too."""
    import os
    import subprocess
    src = make_raster(np.zeros((2, 16, 16), dtype=np.uint16))
    name = grpc_name(predictor, src, "vertex", "conv", tile=(16, 16), overlap=(0, 0))
    env = dict(os.environ)
    proc = subprocess.run(["gdal_translate", "-q", "--config", "CPL_CURL_VERBOSE", "YES", name,
                           src + ".out.tif"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    token = env["EEMODEL_ACCESS_TOKEN"]
    lines = [line for line in proc.stderr.splitlines() if "authorization" in line.lower()]
    assert any("h2h3 [authorization: [redacted]]" in line for line in lines)
    assert lines and all(token not in line for line in lines)
    assert token not in proc.stderr
