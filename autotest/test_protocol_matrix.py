"""Every protocol x payload format the driver speaks, end to end against the stand-in
(issue 3): identical pixels over the whole matrix, every legal answer shape, malformed
answers named by JSON path, batching to the exact MAX_PAYLOAD_BYTES, instance caps,
the tile size that fits, and model metadata checked at open."""

import json

import numpy as np
import pytest
from osgeo import gdal

from conftest import config_options
from predictor import models

TILE = (16, 12)
OVERLAP = (3, 3)


# backend -> the descriptor keys naming {model} on that backend of the stand-in at {url}
BACKEND_KEYS = {
    "aiplatform": "api_root={url};project=p;model={model}",
    "vertex": "api_root={url};endpoint=projects/p/locations/us-central1/endpoints/{model}",
    "vertex-raw": "url={url}/v1/projects/p/locations/us-central1/endpoints/{model}:rawPredict",
    "tfserving": "url={url}/v1/models/{model}:predict",
    "tfserving-version": "url={url}/v1/models/{model}/versions/7:predict",
    "tfserving-label": "url={url}/v1/models/{model}/labels/stable:predict",
    "kserve": "url={url}/v2/models/{model}/infer",
    "kserve-version": "url={url}/v2/models/{model}/versions/3/infer",
}


def backend_keys(url, backend, model):
    """The descriptor keys naming `model` on `backend` of the stand-in at url."""
    return BACKEND_KEYS[backend].format(url=url, model=model)


def name_for(url, src, backend, model, output_bands, fmt=None, tile=TILE, overlap=OVERLAP, **extra):
    parts = ["input=%s" % src, backend_keys(url, backend, model), "input_tile_size=%d,%d" % tile,
             "input_overlap_size=%d,%d" % overlap, "output_bands=%s" % output_bands]
    if fmt:
        parts.append("payload_format=%s" % fmt)
    parts += ["%s=%s" % (k, v) for k, v in extra.items() if v is not None]
    return "EEMODEL:" + ";".join(parts)


@pytest.fixture
def scene(make_raster):
    rng = np.random.default_rng(3)
    return make_raster(rng.integers(0, 1000, size=(2, 37, 45)).astype(np.uint16))


# (backend, PAYLOAD_FORMAT, extra keys, EEMODEL_OIP_BINARY, expected log: format, layout, binary, path end)
MATRIX = [
    ("aiplatform", None, {}, None, ("SERIALIZED_TF_TENSORS", "row", False, "/models/M:predict")),
    ("aiplatform", "RAW_JSON", {}, None, ("RAW_JSON", "row", False, "/models/M:predict")),
    ("aiplatform", "ND_ARRAYS", {"signature_name": "serving_default"}, None, ("ND_ARRAYS", "row", False, "/models/M:predict")),
    ("vertex", None, {}, None, ("SERIALIZED_TF_TENSORS", "row", False, "/endpoints/M:predict")),
    ("vertex", "RAW_JSON", {}, None, ("RAW_JSON", "row", False, "/endpoints/M:predict")),
    ("vertex", "ND_ARRAYS", {}, None, ("ND_ARRAYS", "row", False, "/endpoints/M:predict")),
    ("vertex", "OIP_V2", {}, None, ("OIP_V2", "columnar", False, "/endpoints/M:rawPredict")),
    ("vertex-raw", None, {"request_layout": "columnar"}, None, ("SERIALIZED_TF_TENSORS", "columnar", False, "/endpoints/M:rawPredict")),
    ("vertex-raw", "RAW_JSON", {"signature_name": "serving_default"}, None, ("RAW_JSON", "row", False, "/endpoints/M:rawPredict")),
    ("tfserving", None, {}, None, ("RAW_JSON", "row", False, "/v1/models/M:predict")),
    ("tfserving", "RAW_JSON", {"request_layout": "columnar"}, None, ("RAW_JSON", "columnar", False, "/v1/models/M:predict")),
    ("tfserving-version", "SERIALIZED_TF_TENSORS", {}, None, ("SERIALIZED_TF_TENSORS", "row", False, "/v1/models/M/versions/7:predict")),
    ("tfserving-label", "SERIALIZED_TF_TENSORS", {"request_layout": "columnar", "signature_name": "serving_default"}, None,
     ("SERIALIZED_TF_TENSORS", "columnar", False, "/v1/models/M/labels/stable:predict")),
    ("tfserving", "ND_ARRAYS", {}, None, ("ND_ARRAYS", "row", False, "/v1/models/M:predict")),
    ("tfserving", "ND_ARRAYS", {"request_layout": "columnar"}, None, ("ND_ARRAYS", "columnar", False, "/v1/models/M:predict")),
    ("kserve", None, {}, "NO", ("OIP_V2", "columnar", False, "/v2/models/M/infer")),
    ("kserve", "OIP_V2", {}, None, ("OIP_V2", "columnar", True, "/v2/models/M/infer")),
    ("kserve-version", None, {}, "YES", ("OIP_V2", "columnar", True, "/v2/models/M/versions/3/infer")),
]
MATRIX_IDS = ["%s-%s-%s%s" % (b, f or "default", "-".join("%s" % v for v in e.values()) or "plain",
                              "-bin" + o if o else "") for b, f, e, o, _ in MATRIX]


@pytest.mark.parametrize("backend,fmt,extra,binary,expect", MATRIX, ids=MATRIX_IDS)
def test_same_model_same_pixels_over_every_protocol_and_format(predictor, scene, tools, backend, fmt,
                                                               extra, binary, expect):
    """conv equals the whole-image reference bitwise; classify (two outputs) equals the
    reference computed tile by tile, whatever the protocol and payload format."""
    x = tools.read_hwc(scene)
    with config_options(EEMODEL_OIP_BINARY=binary):
        ds = gdal.Open(name_for(predictor.url, scene, backend, "conv", "output:float32", fmt, **extra))
        got = ds.ReadAsArray()
        assert np.array_equal(got, models.conv_padded(x)[:, :, 0].astype(np.float32))
        ds = gdal.Open(name_for(predictor.url, scene, backend, "classify", "probs:float32:3,class:uint8", fmt,
                                tile=(16, 16), overlap=(0, 0), **extra))
        got = tools.read_bands(ds)
    want = models.classify(x)
    probs = np.moveaxis(want["probs"], -1, 0)
    assert np.array_equal(got[:3], probs.astype(np.float32))
    assert np.array_equal(got[3], want["class"])
    log = predictor.log()
    assert log and all(r["status"] == 200 for r in log)
    fmt_name, layout, is_binary, path_end = expect
    for record in log:
        assert record["format"] == fmt_name
        assert record["layout"] == layout
        assert record["binary"] == is_binary
        assert record["path"].endswith(path_end.replace("M", record["model"]))
        assert record["signature_name"] == extra.get("signature_name")
    if is_binary:
        assert log[0]["headers"]["content-type"] == "application/octet-stream"
        assert int(log[0]["headers"]["inference-header-content-length"]) < log[0]["body_bytes"]


# ---------------------------------------------------------------------------
# Answers in every legal shape


SHAPES = [
    {"answer_layout": "columnar"},                       # object of lists under "outputs"
    {"answer_layout": "columnar", "answer_key": "predictions"},
    {"answer_layout": "row", "answer_key": "outputs"},
    {"batch_dim": True},                                 # (1, H, W, C) per instance
    {"single_output": "object"},                         # {"name": value}
    {"single_output": "object", "output_name": "whatever"},
    {"numbers_as_strings": True},                        # "12.5" (Earth Engine RAW_JSON)
]


def _answer_shape_cases():
    """Every (format, answer shape, model) combination that exists: base64
    strings carry no JSON numbers, and single-output options need a model
    with one output."""
    for fmt in ["SERIALIZED_TF_TENSORS", "RAW_JSON", "ND_ARRAYS"]:
        for shape in SHAPES:
            for model, bands in [("conv", "output:float32"), ("classify", "probs:float32:3,class:uint8")]:
                if shape.get("numbers_as_strings") and fmt == "SERIALIZED_TF_TENSORS":
                    continue
                if model == "classify" and "single_output" in shape:
                    continue
                yield pytest.param(fmt, shape, model, bands,
                                   id="%s-%s-%s" % (fmt, "-".join("%s=%s" % kv for kv in shape.items()), model))


@pytest.mark.parametrize("fmt,shape,model,bands", list(_answer_shape_cases()))
def test_every_legal_answer_shape(predictor, scene, tools, fmt, shape, model, bands):
    overlap = (0, 0) if model == "classify" else OVERLAP
    reference = tools.read_bands(gdal.Open(name_for(predictor.url, scene, "tfserving", model, bands, fmt,
                                                    overlap=overlap)))
    predictor.config(**shape)
    got = tools.read_bands(gdal.Open(name_for(predictor.url, scene, "tfserving", model, bands, fmt,
                                              overlap=overlap)))
    assert np.array_equal(got, reference)


@pytest.mark.parametrize("backend,fmt", [("tfserving", "RAW_JSON"), ("tfserving", "ND_ARRAYS"),
                                         ("kserve", "OIP_V2")])
def test_nan_and_infinity_literals(predictor, make_raster, backend, fmt):
    values = np.array([[np.nan, np.inf, -np.inf, -0.0, 1.5, np.float32(3.4028235e38)]], dtype=np.float32)
    src = make_raster(np.tile(values, (4, 1)))
    with config_options(EEMODEL_OIP_BINARY="NO"):
        ds = gdal.Open(name_for(predictor.url, src, backend, "echo", "output:float32", fmt, tile=(6, 4),
                                overlap=(0, 0)))
        got = ds.ReadAsArray()
    assert np.array_equal(got, np.tile(values, (4, 1)), equal_nan=True)
    assert np.signbit(got[0, 3])


# ---------------------------------------------------------------------------
# Malformed answers: each fails the read naming where in the JSON it went wrong


MALFORMED = [
    ("ragged", ["ragged nested list", " entries, expected ", "predictions[0]["]),
    ("string_value", ['expected a number, got the string "twelve"', "predictions[0][0]"]),
    ("null_value", ["expected a number, got null", "predictions[0][0]"]),
    ("missing_output", ['no output named "probs"', "renamed_probs"]),
    ("wrong_count", ["entries but", "instances were sent"]),
    ("not_a_list", ["predictions: expected a list (one entry per instance) or an object"]),
]


@pytest.mark.parametrize("fmt", ["RAW_JSON", "ND_ARRAYS"])
@pytest.mark.parametrize("mangle,needles", MALFORMED, ids=[m for m, _ in MALFORMED])
def test_malformed_answers_name_the_json_path(predictor, scene, fmt, mangle, needles):
    predictor.config(answer_mangle=mangle)
    if mangle == "missing_output":
        name = name_for(predictor.url, scene, "tfserving", "classify", "probs:float32:3,class:uint8", fmt,
                        overlap=(0, 0))
    else:
        name = name_for(predictor.url, scene, "tfserving", "conv", "output:float32", fmt, tile=(24, 20))
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(name).ReadAsArray()
    for needle in needles:
        assert needle in str(excinfo.value)


def test_malformed_columnar_answer_names_output(predictor, scene):
    predictor.config(answer_layout="columnar", answer_mangle="wrong_count")
    name = name_for(predictor.url, scene, "tfserving", "classify", "probs:float32:3,class:uint8", "RAW_JSON",
                    overlap=(0, 0), tile=(16, 16))
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(name).ReadAsArray()
    assert "outputs.probs: expected a list with one entry per instance" in str(excinfo.value)


# ---------------------------------------------------------------------------
# Batching to the exact limit


LIMIT_CASES = [("aiplatform", "SERIALIZED_TF_TENSORS", None), ("tfserving", "RAW_JSON", None),
               ("tfserving", "ND_ARRAYS", None), ("tfserving", "RAW_JSON", "columnar"),
               ("kserve", "OIP_V2", "NO"), ("kserve", "OIP_V2", "YES")]


@pytest.mark.parametrize("backend,fmt,option", LIMIT_CASES, ids=["-".join(filter(None, c)) for c in LIMIT_CASES])
def test_bodies_fit_max_payload_bytes_with_fewest_requests(predictor, make_raster, backend, fmt, option):
    """Identical tiles encode to identical bytes: every body fits the limit, and one more
    instance would not have fitted into any full request (so no fewer requests exist)."""
    src = make_raster(np.full((2, 48, 64), 77, dtype=np.uint16))   # 4 x 4 = 16 tiles
    limit = 9000 if fmt in ("SERIALIZED_TF_TENSORS", "OIP_V2") else 20000
    extra = {"request_layout": option} if option == "columnar" else {}
    with config_options(EEMODEL_OIP_BINARY=option if backend == "kserve" else None):
        ds = gdal.Open(name_for(predictor.url, src, backend, "identity", "output:float32:2", fmt, tile=(16, 12),
                                overlap=(2, 2), max_payload_bytes=limit, **extra))
        ds.ReadAsArray()
    log = predictor.log()
    sizes = [r["body_bytes"] for r in log]
    counts = [r["n_instances"] for r in log]
    assert sum(counts) == 16
    assert all(size <= limit for size in sizes)
    assert len(log) >= 2
    full, last = max(counts), min(counts)
    full_size = max(s for s, c in zip(sizes, counts) if c == full)
    if full != last:
        last_size = min(s for s, c in zip(sizes, counts) if c == last)
        per_instance = (full_size - last_size) / (full - last)
    else:  # every request full: the per-instance size from the body itself
        per_instance = full_size / full
    assert full_size + per_instance > limit - 2           # one more would not fit
    assert len(log) == -(-16 // full)                      # the fewest requests at that size


def test_instance_cap_per_backend(predictor, make_raster):
    """Google backends take at most 100 instances per request; TF Serving has no cap."""
    src = make_raster(np.full((1, 20, 30), 5, dtype=np.uint8))    # 2x2 tiles: 150 tiles
    for backend, expected in (("aiplatform", [100, 50]), ("tfserving", [150])):
        predictor.reset()
        ds = gdal.Open(name_for(predictor.url, src, backend, "identity", "output:float32",
                                "SERIALIZED_TF_TENSORS", tile=(2, 2), overlap=(0, 0), max_predictions=1000))
        ds.ReadAsArray()
        assert sorted((r["n_instances"] for r in predictor.log()), reverse=True) == expected


@pytest.mark.parametrize("backend,fmt", [("aiplatform", "SERIALIZED_TF_TENSORS"), ("tfserving", "RAW_JSON"),
                                         ("tfserving", "ND_ARRAYS"), ("kserve", "OIP_V2")])
def test_single_tile_too_large_says_which_tile_size_fits(predictor, make_raster, backend, fmt):
    rng = np.random.default_rng(9)
    src = make_raster(rng.random((2, 64, 64)).astype(np.float32))
    limit = 12000
    name = name_for(predictor.url, src, backend, "identity", "output:float32:2", fmt, tile=(64, 64),
                    overlap=(2, 2), max_payload_bytes=limit)
    if fmt == "SERIALIZED_TF_TENSORS":
        # the body size does not depend on the values: refused at open, nothing sent
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(name)
        assert predictor.log() == []
    else:
        # JSON numbers: a zero tile may fit at open, the real one not at read
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(name).ReadAsArray()
    message = str(excinfo.value)
    assert "MAX_PAYLOAD_BYTES" in message and fmt in message
    side = int(message.split("INPUT_TILE_SIZE of at most ")[1].split(",")[0])
    assert 4 <= side < 64
    predictor.reset()
    ds = gdal.Open(name_for(predictor.url, src, backend, "identity", "output:float32:2", fmt, tile=(side, side),
                            overlap=(2, 2), max_payload_bytes=limit))
    ds.GetRasterBand(1).ReadAsArray(0, 0, side, side)       # the suggested size really fits
    assert all(r["body_bytes"] <= limit for r in predictor.log())
    assert predictor.log()[0]["n_instances"] == 1


# ---------------------------------------------------------------------------
# Model metadata at open


def conv_metadata(inputs=None, outputs=None):
    h, w = TILE[1] + 2 * OVERLAP[1], TILE[0] + 2 * OVERLAP[0]
    return {"inputs": inputs if inputs is not None else [
                {"name": "b1", "datatype": "UINT16", "shape": [-1, h, w, 1]},
                {"name": "b2", "datatype": "UINT16", "shape": [-1, h, w, 1]}],
            "outputs": outputs if outputs is not None else [
                {"name": "output", "datatype": "FP32", "shape": [-1, h, w, 1]}]}


@pytest.mark.parametrize("backend,fmt", [("tfserving", "RAW_JSON"), ("kserve", "OIP_V2")])
def test_metadata_agrees_and_the_read_works(predictor, scene, tools, backend, fmt):
    predictor.config(metadata=conv_metadata())
    if backend == "tfserving":
        # TF Serving's REST JSON has no uint16 tensors (issue 12 item 7): refused at
        # open; the same model with int32 inputs is served
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(name_for(predictor.url, scene, backend, "conv", "output:float32", fmt))
        assert 'input "b1" is DT_UINT16' in str(excinfo.value)
        assert predictor.log() == []
        h, w = TILE[1] + 2 * OVERLAP[1], TILE[0] + 2 * OVERLAP[0]
        predictor.config(metadata=conv_metadata(inputs=[
            {"name": b, "datatype": "INT32", "shape": [-1, h, w, 1]} for b in ("b1", "b2")]))
        ds = gdal.Open(name_for(predictor.url, scene, backend, "conv", "output:float32", fmt,
                                input_type="int32"))
    else:
        ds = gdal.Open(name_for(predictor.url, scene, backend, "conv", "output:float32", fmt))
    assert np.array_equal(ds.ReadAsArray(), models.conv_padded(tools.read_hwc(scene))[:, :, 0].astype(np.float32))


METADATA_MISMATCHES = [
    ("input key", dict(inputs=[{"name": "red", "datatype": "UINT16", "shape": [-1, -1, -1, 1]},
                               {"name": "b2", "datatype": "UINT16", "shape": [-1, -1, -1, 1]}]),
     ['no input named "b1"', '"red" ', '"b1" uint16']),
    ("type", dict(inputs=[{"name": "b1", "datatype": "FP32", "shape": [-1, -1, -1, 1]},
                          {"name": "b2", "datatype": "UINT16", "shape": [-1, -1, -1, 1]}]),
     ['key "b1" is sent as uint16', "INPUT_TYPE=b1:float32", '"b1" uint16 [N,18,22,1]']),
    ("output length", dict(outputs=[{"name": "output", "datatype": "FP32", "shape": [-1, 18, 22, 4]}]),
     ['declared with 1 band(s)', "has 4 channel(s)", "OUTPUT_BANDS: output:float32"]),
    ("tile shape", dict(inputs=[{"name": "b1", "datatype": "UINT16", "shape": [-1, 64, 64, 1]},
                                {"name": "b2", "datatype": "UINT16", "shape": [-1, 64, 64, 1]}]),
     ['tile shape of key "b1"', "[-1,64,64,1]", "[N,18,22,1]"]),
]


@pytest.mark.parametrize("backend,fmt", [("tfserving", "RAW_JSON"), ("kserve", "OIP_V2")])
@pytest.mark.parametrize("what,change,needles", METADATA_MISMATCHES, ids=[m[0] for m in METADATA_MISMATCHES])
def test_metadata_mismatch_fails_at_open_showing_both_sides(predictor, scene, backend, fmt, what, change, needles):
    predictor.config(metadata=conv_metadata(**change))
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(name_for(predictor.url, scene, backend, "conv", "output:float32", fmt))
    message = str(excinfo.value)
    for needle in needles:
        assert needle in message
    assert "the model (" in message and "the descriptor" in message
    assert predictor.log() == []                 # nothing predicted


def test_metadata_fills_undeclared_output_length(predictor, scene, tools, tmp_path):
    """dimensions 1 without a length: the model's metadata says how many bands."""
    any_tile = [{"name": b, "datatype": "INT32", "shape": [-1, -1, -1, 1]} for b in ("b1", "b2")]
    predictor.config(metadata=conv_metadata(inputs=any_tile,
                                            outputs=[{"name": "probs", "datatype": "FP32", "shape": [-1, 16, 16, 3]},
                                                     {"name": "class", "datatype": "UINT8", "shape": [-1, 16, 16]}]))
    descriptor = {"input": scene, "url": predictor.url + "/v1/models/classify:predict", "payloadFormat": "RAW_JSON",
                  "inputTypeOverride": "int32", "inputTileSize": [16, 16], "outputBands": {"probs": {"type": "float32", "dimensions": 1},
                                                             "class": {"type": "uint8"}}}
    path = tmp_path / "classify.eemodel.json"
    path.write_text(json.dumps(descriptor))
    ds = gdal.Open(str(path))
    assert ds.RasterCount == 4
    want = models.classify(tools.read_hwc(scene))
    got = tools.read_bands(ds)
    assert np.array_equal(got[:3], np.moveaxis(want["probs"], -1, 0).astype(np.float32))
    assert np.array_equal(got[3], want["class"])
    # without metadata the length is missing, and the message says so
    predictor.config(metadata=None)
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(str(path))
    assert "no model metadata" in str(excinfo.value)


def test_metadata_unknown_signature(predictor, scene):
    predictor.config(metadata=dict(conv_metadata(), signature_name="serving_default"))
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(name_for(predictor.url, scene, "tfserving", "conv", "output:float32", "RAW_JSON",
                           signature_name="predict_tiles"))
    assert 'no signature "predict_tiles"' in str(excinfo.value) and "serving_default" in str(excinfo.value)


def test_metadata_check_can_be_disabled(predictor, scene):
    predictor.config(metadata=conv_metadata(outputs=[{"name": "output", "datatype": "FP32", "shape": [-1, 18, 22, 4]}]))
    with config_options(EEMODEL_CHECK_METADATA="NO"):
        gdal.Open(name_for(predictor.url, scene, "tfserving", "conv", "output:float32", "RAW_JSON")).ReadAsArray()


# ---------------------------------------------------------------------------
# Combinations a backend cannot carry fail at open


@pytest.mark.parametrize("backend,fmt,extra,needles", [
    ("aiplatform", "OIP_V2", {}, ["OIP_V2", "KServe v2"]),
    ("tfserving", "OIP_V2", {}, ["OIP_V2", "KServe v2"]),
    ("kserve", "RAW_JSON", {}, ["cannot be sent to a KServe v2 server", "accepted: OIP_V2"]),
    ("aiplatform", "RAW_JSON", {"request_layout": "columnar"}, ["REQUEST_LAYOUT", "accepted there: ROW"]),
    ("kserve", "OIP_V2", {"signature_name": "s"}, ["SIGNATURE_NAME", "no signature_name"]),
    ("vertex", "RAW_JSON", {"signature_name": "s"}, ["SIGNATURE_NAME", ":rawPredict"]),
])
def test_combinations_a_backend_cannot_carry(predictor, scene, backend, fmt, extra, needles):
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(name_for(predictor.url, scene, backend, "conv", "output:float32", fmt, **extra))
    for needle in needles:
        assert needle in str(excinfo.value)
