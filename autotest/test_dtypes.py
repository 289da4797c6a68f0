"""Element types end to end (issue 3): every GDAL data type in and out over every payload
format (extremes of each integer range, NaN/Inf for floats), INPUT_TYPE per key, float16 and
bfloat16 answers, and a clear error for a type a format cannot carry."""

import numpy as np
import pytest
from osgeo import gdal

from conftest import config_options
from predictor import models, protocols

EXTREMES = {
    "uint8": [0, 1, 127, 128, 254, 255, 7],
    "int8": [-128, -127, -1, 0, 1, 126, 127],
    "uint16": [0, 1, 32767, 32768, 65534, 65535, 12345],
    "int16": [-32768, -32767, -1, 0, 1, 32766, 32767],
    "uint32": [0, 1, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1, 16777217],
    "int32": [-2**31, -2**31 + 1, -1, 0, 1, 2**31 - 2, 2**31 - 1],
    "uint64": [0, 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1],
    "int64": [-2**63, -2**63 + 1, -1, 0, 2**53 + 1, 2**63 - 2, 2**63 - 1],
    "float32": [np.nan, np.inf, -np.inf, -0.0, 1e-45, 0.1, 3.4028235e38],
    "float64": [np.nan, np.inf, -np.inf, -0.0, 5e-324, 0.1, 1.7976931348623157e308],
}
OIP_NAME = {"uint8": "UINT8", "int8": "INT8", "uint16": "UINT16", "int16": "INT16", "uint32": "UINT32",
            "int32": "INT32", "uint64": "UINT64", "int64": "INT64", "float32": "FP32", "float64": "FP64"}
# (id, backend path template, PAYLOAD_FORMAT, EEMODEL_OIP_BINARY, server metadata shape or None)
FORMATS = [
    ("tf", "/v1/projects/p/models/echo:predict", "SERIALIZED_TF_TENSORS", None, None),
    ("raw_json", "/v1/models/echo:predict", "RAW_JSON", None, "b1"),
    ("nd_arrays", "/v1/models/echo:predict", "ND_ARRAYS", None, "input"),
    ("oip_json", "/v2/models/echo/infer", "OIP_V2", "NO", None),
    ("oip_binary", "/v2/models/echo/infer", "OIP_V2", "YES", None),
]


def write_raster(path, array):
    """(bands, H, W) array as a GTiff; int8 as Byte with PIXELTYPE=SIGNEDBYTE (GDAL 3.6)."""
    from osgeo import gdal_array
    bands, height, width = array.shape
    options = []
    if array.dtype == np.int8:
        gdal_type, options, array = gdal.GDT_Byte, ["PIXELTYPE=SIGNEDBYTE"], array.view(np.uint8)
    else:
        gdal_type = gdal_array.NumericTypeCodeToGDALTypeCode(array.dtype)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), width, height, bands, gdal_type, options)
    ds.SetGeoTransform((0, 1, 0, 0, 0, -1))
    for b in range(bands):
        ds.GetRasterBand(b + 1).WriteArray(array[b])
    ds = None
    return str(path)


def read_as(ds, dtype):
    got = ds.ReadAsArray()
    return got.view(np.int8) if dtype == "int8" else got


def name(url, path, src, fmt, bands, tile, **extra):
    parts = ["input=%s" % src, "url=%s%s" % (url, path), "payload_format=%s" % fmt,
             "input_tile_size=%d,%d" % tile, "output_bands=%s" % bands]
    parts += ["%s=%s" % kv for kv in extra.items()]
    return "EEMODEL:" + ";".join(parts)


def metadata_for(key, dtype, channels_first=False):
    shape = [-1, 1, -1, -1] if channels_first else [-1, -1, -1, 1]
    return {"inputs": [{"name": key, "datatype": OIP_NAME[dtype], "shape": shape}],
            "outputs": [{"name": "output", "datatype": OIP_NAME[dtype], "shape": shape}]}


@pytest.mark.parametrize("fmt_id,path,fmt,binary,meta_key", FORMATS, ids=[f[0] for f in FORMATS])
@pytest.mark.parametrize("dtype", list(EXTREMES))
def test_round_trip_every_type(predictor, tmp_path, dtype, fmt_id, path, fmt, binary, meta_key):
    values = np.array(EXTREMES[dtype], dtype=dtype)
    array = np.stack([values, values[::-1], np.roll(values, 3)])[None]     # (1, 3, 7)
    src = write_raster(tmp_path / ("%s.tif" % dtype), array)
    if meta_key:
        predictor.config(metadata=metadata_for(meta_key, dtype, channels_first=fmt == "ND_ARRAYS"))
    if dtype == "uint16" and path.startswith("/v1/models/") and fmt != "SERIALIZED_TF_TENSORS":
        # a uint16 model cannot be served through TF Serving's REST JSON: refused at open
        with pytest.raises(RuntimeError) as e:
            gdal.Open(name(predictor.url, path, src, fmt, "output:%s" % dtype, (7, 3)))
        assert "TF Serving" in str(e.value) and "uint16" in str(e.value).lower()
        assert predictor.log() == []
        return
    with config_options(EEMODEL_OIP_BINARY=binary):
        ds = gdal.Open(name(predictor.url, path, src, fmt, "output:%s" % dtype, (7, 3)))
        got = read_as(ds, dtype)
    assert got.dtype == np.dtype(dtype) or (dtype == "int8" and got.dtype == np.int8)
    if dtype.startswith("float"):
        assert np.array_equal(got, array[0], equal_nan=True)
        assert np.array_equal(np.signbit(got), np.signbit(array[0]))
    else:
        assert np.array_equal(got, array[0])
    record = predictor.log()[0]
    assert record["format"] == fmt
    assert record["dtypes"][record["keys"][0] if record["keys"] else ""] == dtype


@pytest.mark.parametrize("fmt,path,meta", [("SERIALIZED_TF_TENSORS", "/v1/projects/p/models/echo:predict", False),
                                           ("RAW_JSON", "/v1/models/echo:predict", True),
                                           ("OIP_V2", "/v2/models/echo/infer", False)])
def test_input_type_per_key(predictor, tmp_path, fmt, path, meta):
    array = np.stack([np.arange(24, dtype=np.uint16).reshape(4, 6) * 1000,
                      np.arange(24, dtype=np.uint16).reshape(4, 6) * 7])
    src = write_raster(tmp_path / "two.tif", array)
    if meta:
        predictor.config(metadata={"inputs": [{"name": "b1", "datatype": "FP32", "shape": [-1, -1, -1, 1]},
                                              {"name": "b2", "datatype": "INT16", "shape": [-1, -1, -1, 1]}],
                                   "outputs": []})
    ds = gdal.Open(name(predictor.url, path, src, fmt, "output:float32:2", (6, 4),
                        input_type="b1:float32,b2:int16"))
    got = ds.ReadAsArray()
    assert np.array_equal(got, array.astype(np.float32))
    record = predictor.log()[0]
    assert record["dtypes"] == {"b1": "float32", "b2": "int16"}


@pytest.mark.parametrize("out_dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("fmt,path,binary", [("SERIALIZED_TF_TENSORS", "/v1/projects/p/models/conv:predict", None),
                                             ("OIP_V2", "/v2/models/conv/infer", "YES")])
def test_half_float_answers_are_decoded(predictor, make_raster, tools, out_dtype, fmt, path, binary):
    rng = np.random.default_rng(4)
    src = make_raster(rng.integers(0, 255, size=(1, 20, 24)).astype(np.uint8))
    predictor.config(out_dtype=out_dtype)
    with config_options(EEMODEL_OIP_BINARY=binary):
        ds = gdal.Open(name(predictor.url, path, src, fmt, "output:%s" % out_dtype, (12, 10),
                            input_overlap_size="3,3"))
        got = ds.ReadAsArray()
    assert ds.GetRasterBand(1).DataType == gdal.GDT_Float32
    exact = models.conv_padded(tools.read_hwc(src))[:, :, 0].astype(np.float32)
    if out_dtype == "float16":
        want = exact.astype(np.float16).astype(np.float32)
    else:
        want = protocols.bf16_to_float32(protocols.bf16_bits(exact))
    assert np.array_equal(got, want)
    assert not np.array_equal(got, exact)         # the answer really was rounded to 16 bits


@pytest.mark.parametrize("fmt,path,binary", [("RAW_JSON", "/v1/models/echo:predict", None),
                                             ("ND_ARRAYS", "/v1/projects/p/models/echo:predict", None),
                                             ("OIP_V2", "/v2/models/echo/infer", "NO")])
@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_half_floats_refused_by_json_formats(predictor, make_raster, fmt, path, binary, half):
    src = make_raster(np.ones((1, 4, 4), np.float32))
    with config_options(EEMODEL_OIP_BINARY=binary):
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(name(predictor.url, path, src, fmt, "output:float32", (4, 4), input_type=half))
    message = str(excinfo.value)
    assert "INPUT_TYPE" in message and half in message and fmt in message and "cannot carry" in message
    assert "float32" in message
    assert predictor.log() == []


def test_half_float_input_over_binary_oip(predictor, make_raster):
    values = np.array([[0.5, 1.25, 65504.0, -2.0], [1e-3, 3.14159, 0.0, 100.1]], dtype=np.float32)
    src = make_raster(values)
    with config_options(EEMODEL_OIP_BINARY="YES"):
        ds = gdal.Open(name(predictor.url, "/v2/models/echo/infer", src, "OIP_V2", "output:float16", (4, 2),
                            input_type="float16"))
        got = ds.ReadAsArray()
    assert np.array_equal(got, values.astype(np.float16).astype(np.float32))
    assert predictor.log()[0]["binary"] is True


TF_TYPE = {"uint16": "UINT16", "float16": "FP16", "bfloat16": "BF16"}


@pytest.mark.parametrize("fmt", ["RAW_JSON", "ND_ARRAYS"])
@pytest.mark.parametrize("dtype", ["uint16", "float16", "bfloat16"])
@pytest.mark.parametrize("side", ["inputs", "outputs"])
def test_tfserving_rest_limits_known_at_open(predictor, make_raster, fmt, dtype, side):
    """A model whose signature has a uint16, float16 or bfloat16 tensor cannot be served
    through TF Serving's REST JSON: refused at open, naming the tensor, nothing predicted."""
    src_type = np.uint16 if side == "inputs" and dtype == "uint16" else np.float32
    src = make_raster(np.ones((1, 4, 4), src_type))    # the descriptor agrees with the model
    extra = {"input_type": dtype} if side == "inputs" and dtype != "uint16" else {}
    key = "input" if fmt == "ND_ARRAYS" else "b1"
    shape = [-1, 1, -1, -1] if fmt == "ND_ARRAYS" else [-1, -1, -1, 1]
    meta = {"inputs": [{"name": key, "datatype": "FP32", "shape": shape}],
            "outputs": [{"name": "output", "datatype": "FP32", "shape": shape}]}
    meta[side][0]["datatype"] = TF_TYPE[dtype]
    predictor.config(metadata=meta)
    tfs = "/v1/models/echo:predict"
    with pytest.raises(RuntimeError) as e:
        gdal.Open(name(predictor.url, tfs, src, fmt, "output:float32", (4, 4), **extra))
    message = str(e.value)
    assert "TF Serving" in message and side[:-1] in message
    assert ("\"%s\"" % meta[side][0]["name"]) in message and "SERIALIZED_TF_TENSORS" in message
    assert predictor.log() == []


def test_tfserving_json_integers_are_json_integers(predictor, make_raster):
    src = make_raster(np.arange(16, dtype=np.int16).reshape(1, 4, 4) - 8)
    predictor.config(metadata=metadata_for("b1", "int16"))
    ds = gdal.Open(name(predictor.url, "/v1/models/echo:predict", src, "RAW_JSON", "output:int16", (4, 4)))
    got = ds.ReadAsArray()
    ds = None
    assert np.array_equal(got, np.arange(16, dtype=np.int16).reshape(4, 4) - 8)
    assert predictor.log()[0]["dtypes"]["b1"] == "int16"
