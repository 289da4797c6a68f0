"""Model descriptor errors end to end through osgeo.gdal.

Every invalid descriptor must fail at open (no request is sent: the backends
below point at the discard port 127.0.0.1:9, where nothing answers) with a
RuntimeError whose message names the key and the offending value.  Also checks
the driver's advertised metadata (connection prefix, open option list).
"""

import json
import xml.etree.ElementTree as ET

import pytest
from osgeo import gdal

gdal.UseExceptions()

URL = "http://127.0.0.1:9/v1/models/x:predict"
AIPLATFORM = "api_root=http://127.0.0.1:9;project=p;model=m"


@pytest.fixture(scope="session")
def sample(data_dir):
    """791x718, 3 Byte bands, empty band descriptions."""
    return str(data_dir / "RGB.byte.tif")


def descriptor(sample, *pairs, backend=AIPLATFORM, tile="64,64", outputs="out:float32"):
    """EEMODEL:input=<sample>;<backend>;input_tile_size=..;output_bands=..;<pairs>.

    tile / outputs None leave the key out; pairs are appended as given."""
    parts = ["input=%s" % sample]
    if backend:
        parts.append(backend)
    if tile is not None:
        parts.append("input_tile_size=%s" % tile)
    if outputs is not None:
        parts.append("output_bands=%s" % outputs)
    parts.extend(pairs)
    return "EEMODEL:" + ";".join(parts)


def open_error(name, open_options=None):
    """The message of the RuntimeError that opening name must raise."""
    with pytest.raises(RuntimeError) as excinfo:
        gdal.OpenEx(name, gdal.OF_RASTER, open_options=open_options or [])
    return str(excinfo.value)


def assert_names(message, *needles):
    for needle in needles:
        assert needle in message, "%r not in %r" % (needle, message)


# ---------------------------------------------------------------------------
# Driver metadata


def test_connection_prefix(eemodel_driver):
    assert eemodel_driver.GetMetadataItem(gdal.DMD_CONNECTION_PREFIX) == "EEMODEL:"


def test_open_option_list(eemodel_driver):
    xml = eemodel_driver.GetMetadataItem(gdal.DMD_OPENOPTIONLIST)
    assert "INPUT_TILE_SIZE" in xml
    root = ET.fromstring(xml)  # must be well-formed XML
    assert root.tag == "OpenOptionList"
    options = {o.get("name"): o for o in root.findall("Option")}
    for key in ("INPUT", "BANDS", "INPUT_ARRAY", "INPUT_TYPE", "PROJECT", "MODEL", "VERSION",
                "REGION", "ENDPOINT", "URL", "PROTOCOL", "API_ROOT", "PAYLOAD_FORMAT",
                "MAX_PAYLOAD_BYTES", "PROJ", "SCALE", "FIX_INPUT_PROJ", "INPUT_TILE_SIZE",
                "INPUT_OVERLAP_SIZE", "OUTPUT_TILE_SIZE", "OUTPUT_BANDS", "NODATA", "RESAMPLING",
                "MAX_PREDICTIONS", "ON_ERROR", "CACHE_DIR", "HEADERS"):
        assert key in options, key
        assert options[key].get("description")
    assert [v.text for v in options["PROTOCOL"].findall("Value")] == [
        "aiplatform", "vertex", "tfserving", "kserve-v2"]
    assert "OIP_V2" in [v.text for v in options["PAYLOAD_FORMAT"].findall("Value")]
    assert options["ON_ERROR"].get("type") == "string-select"
    assert options["FIX_INPUT_PROJ"].get("type") == "boolean"


# ---------------------------------------------------------------------------
# Invalid values in the connection string: message names key and value

INVALID = [
    # (extra key=value pairs, substrings the message must contain)
    (["input_overlap_size=-1,0"], ["INPUT_OVERLAP_SIZE", '"-1,0"', "non-negative integers"]),
    (["input_overlap_size=600,0"], ["INPUT_OVERLAP_SIZE", '"600,0"', "8x the tile width"]),
    (["output_tile_size=8,y"], ["OUTPUT_TILE_SIZE", '"8,y"', "W,H"]),
    (["payload_format=protobuf"], ["PAYLOAD_FORMAT", '"protobuf"', "SERIALIZED_TF_TENSORS"]),
    (["protocol=grpc"], ["PROTOCOL", '"grpc"', "kserve-v2"]),
    (["max_payload_bytes=12"], ["MAX_PAYLOAD_BYTES", '"12"', "1024"]),
    (["max_predictions=0"], ["MAX_PREDICTIONS", '"0"', "positive integer",
                             "one opened dataset may predict from open to close"]),
    (["job_max_predictions=-3"], ["JOB_MAX_PREDICTIONS", '"-3"', "positive integer",
                                  "the whole job"]),
    (["nodata=1x"], ["NODATA", '"1x"', "number"]),
    (["scale=-30"], ["SCALE", '"-30"', "positive number"]),
    (["fix_input_proj=maybe"], ["FIX_INPUT_PROJ", '"maybe"', "YES"]),
    (["on_error=retry"], ["ON_ERROR", '"retry"', "FAIL or NODATA"]),
    (["resampling=bogus"], ["RESAMPLING", '"bogus"', "bilinear"]),
    (["bands=1,,3"], ["BANDS", '"1,,3"', "empty entry"]),
    (["bands=1,1"], ["BANDS", '"1,1"', "twice"]),
    (["input_type=flot32"], ["INPUT_TYPE", '"flot32"', "float32"]),
    (["headers=novalue"], ["HEADERS", "Name: value"]),
    (["INPUT_TILE=4"], ['"INPUT_TILE"', "did you mean INPUT_TILE_SIZE?"]),
    (["outputBand=o:uint8"], ['"outputBand"', "OUTPUT_BANDS"]),
    (["nodata=1", "NODATA=2"], ["NODATA", "twice"]),
    (["garbage"], ['"garbage"', "="]),
]


@pytest.mark.parametrize("pairs,needles", INVALID, ids=[p[0][0] for p in INVALID])
def test_invalid_value(sample, pairs, needles):
    assert_names(open_error(descriptor(sample, *pairs)), *needles)


@pytest.mark.parametrize("tile,needles", [
    ("256,x", ['INPUT_TILE_SIZE: "256,x" is not two positive integers W,H']),
    ("0,5", ["INPUT_TILE_SIZE", '"0,5"']),
    ("70000,1", ["INPUT_TILE_SIZE", '"70000,1"', "65536"]),
])
def test_invalid_tile_size(sample, tile, needles):
    assert_names(open_error(descriptor(sample, tile=tile)), *needles)


@pytest.mark.parametrize("outputs,needles", [
    ("out", ["OUTPUT_BANDS", '"out"', "type"]),
    ("out:flt", ["OUTPUT_BANDS", '"out:flt"', '"flt"', "float32"]),
    ("a:uint8,a:float32", ["OUTPUT_BANDS", '"a"', "twice"]),
    ("p:float32:0", ["OUTPUT_BANDS", '"p:float32:0"', "positive integer"]),
])
def test_invalid_output_bands(sample, outputs, needles):
    assert_names(open_error(descriptor(sample, outputs=outputs)), *needles)


def test_required_keys(sample):
    assert_names(open_error("EEMODEL:url=%s;input_tile_size=8;output_bands=o:uint8" % URL),
                 "INPUT is required")
    assert_names(open_error(descriptor(sample, tile=None)), "INPUT_TILE_SIZE is required")
    assert_names(open_error(descriptor(sample, outputs=None)), "OUTPUT_BANDS is required")


def test_backend_errors(sample):
    assert_names(open_error(descriptor(sample, backend=None)),
                 "no model backend", "ENDPOINT", "PROJECT and MODEL", "URL")
    both = "url=%s;endpoint=projects/p/locations/l/endpoints/e" % URL
    assert_names(open_error(descriptor(sample, backend=both)), "ENDPOINT", "URL", "conflicting")
    assert_names(open_error(descriptor(sample, backend="model=m")), "MODEL", '"m"', "PROJECT")
    assert_names(open_error(descriptor(sample, backend="endpoint=projects/p/endpoints/e")),
                 "ENDPOINT", '"projects/p/endpoints/e"', "projects/P/locations/L/endpoints/E")
    assert_names(open_error(descriptor(sample, backend="url=ftp://127.0.0.1/x")),
                 "URL", '"ftp://127.0.0.1/x"', "http://")
    assert_names(open_error(descriptor(sample, backend="api_root=127.0.0.1:9;project=p;model=m")),
                 "API_ROOT", '"127.0.0.1:9"', "http://")


def test_secrets_not_echoed(sample):
    message = open_error(descriptor(sample, "headers=Bearer s3cr3t-value"))
    assert "HEADERS" in message
    assert "s3cr3t-value" not in message
    message = open_error(descriptor(sample, backend="url=htp://127.0.0.1:9/x?key=s3cr3t-key"))
    assert "URL" in message
    assert "s3cr3t-key" not in message


# ---------------------------------------------------------------------------
# Errors that need the source raster


def test_input_does_not_exist(tmp_path):
    missing = str(tmp_path / "no_such_scene.tif")
    message = open_error(descriptor(missing))
    assert_names(message, "INPUT", missing)


@pytest.mark.parametrize("bands", ["NIR", "1,NIR"])
def test_band_name_does_not_exist(sample, bands):
    message = open_error(descriptor(sample, "bands=%s" % bands))
    assert_names(message, "BANDS", "NIR")


def test_band_index_out_of_range(sample):
    assert_names(open_error(descriptor(sample, "bands=1,4")), "BANDS", "4")


def test_url_backend_fails_on_descriptor_first(sample):
    # the same checks behind the other backend spellings
    url = "url=" + URL
    assert_names(open_error(descriptor(sample, "input_overlap_size=1,x", backend=url)),
                 "INPUT_OVERLAP_SIZE", '"1,x"')
    vertex = "api_root=http://127.0.0.1:9;endpoint=projects/p/locations/l/endpoints/e"
    assert_names(open_error(descriptor(sample, "nodata=abc", backend=vertex)), "NODATA", '"abc"')


# ---------------------------------------------------------------------------
# Open options and JSON descriptors


def test_open_option_errors(sample):
    name = descriptor(sample)
    assert_names(open_error(name, ["INPUT_TILE_SIZE=0"]), "INPUT_TILE_SIZE", '"0"')
    assert_names(open_error(name, ["inputOverlapSize=9999"]), "INPUT_OVERLAP_SIZE", '"9999"')
    assert_names(open_error(name, ["TILESIZE=3"]), '"TILESIZE"', "unknown key")
    # open options complete a bare prefix, EEDAI-style
    assert_names(open_error("EEMODEL:", ["INPUT=%s" % sample, "URL=" + URL, "INPUT_TILE_SIZE=8"]),
                 "OUTPUT_BANDS is required")


def write_json(path, obj):
    path.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return str(path)


def test_json_descriptor_errors(tmp_path, sample):
    base = {"input": sample, "url": URL, "inputTileSize": [64, 64],
            "outputBands": {"out": {"type": "float32"}}}
    bad_tile = dict(base, inputTileSize=[64, "x"])
    path = write_json(tmp_path / "bad_tile.eemodel.json", bad_tile)
    assert_names(open_error(path), "INPUT_TILE_SIZE", '"64,x"')
    assert_names(open_error("EEMODEL:" + path), "INPUT_TILE_SIZE", '"64,x"')

    bad_type = dict(base, outputBands={"cls": {"type": "float99", "dimensions": 1}})
    path = write_json(tmp_path / "bad_type.eemodel.json", bad_type)
    assert_names(open_error(path), "OUTPUT_BANDS", '"float99"')

    path = write_json(tmp_path / "broken.eemodel.json", '{"input": ')
    assert_names(open_error(path), "broken.eemodel.json")

    missing = str(tmp_path / "missing.json")
    assert_names(open_error("EEMODEL:" + missing), missing, "does not exist")


def test_json_relative_input_resolves_against_its_folder(tmp_path):
    sub = tmp_path / "models"
    sub.mkdir()
    path = write_json(sub / "m.eemodel.json",
                      {"input": "scene_missing.tif", "url": URL, "inputTileSize": 32,
                       "outputBands": "o:float32"})
    message = open_error(path)
    assert_names(message, "INPUT", str(sub / "scene_missing.tif"))


# ---------------------------------------------------------------------------
# Valid spellings open (no request is needed to open)


def band_descriptions(ds):
    return [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]


def test_valid_inline_spellings_open(sample):
    name = ("eemodel: Input = %s ; apiRoot=http://127.0.0.1:9;projectId=p;modelName=m;"
            "inputTileSize=64;outputBands=cls:float32:bare/veg/water, m:uint8;;" % sample)
    ds = gdal.OpenEx(name, gdal.OF_RASTER)
    assert (ds.RasterXSize, ds.RasterYSize) == (791, 718)
    assert band_descriptions(ds) == ["bare", "veg", "water", "m"]
    assert ds.GetRasterBand(1).DataType == gdal.GDT_Float32
    assert ds.GetRasterBand(4).DataType == gdal.GDT_Byte
    assert ds.GetRasterBand(1).GetBlockSize() == [64, 64]


def test_open_options_override(sample):
    ds = gdal.OpenEx(descriptor(sample), gdal.OF_RASTER,
                     open_options=["INPUT_TILE_SIZE=32,16", "outputBands=p:float32:2"])
    assert ds.GetRasterBand(1).GetBlockSize() == [32, 16]
    assert band_descriptions(ds) == ["p_0", "p_1"]


def test_json_descriptor_opens_with_relative_input(tmp_path, sample):
    import shutil
    shutil.copy(sample, tmp_path / "scene.tif")
    path = write_json(tmp_path / "m.eemodel.json", {
        "input": "scene.tif", "api_root": "http://127.0.0.1:9", "projectId": "p",
        "modelName": "m", "inputTileSize": [128, 64], "inputOverlapSize": [8, 8],
        "outputBands": {"cls": {"type": "float", "dimensions": 1,
                                "names": ["bare", "veg", "water"]}}})
    ds = gdal.OpenEx(path, gdal.OF_RASTER)
    assert (ds.RasterXSize, ds.RasterYSize) == (791, 718)
    assert band_descriptions(ds) == ["bare", "veg", "water"]
    assert ds.GetRasterBand(1).GetBlockSize() == [128, 64]
    ds = gdal.OpenEx("EEMODEL:" + path, gdal.OF_RASTER)
    assert ds.RasterCount == 3
