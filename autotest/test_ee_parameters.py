"""The remaining ee.Model parameters on the raster side (issue 16 item 3): inputProperties
copied into every tile instance (constants or source metadata items), outputMultiplier
sizing batches, inputShapes accepted for INPUT_ARRAY and refused with the reason
elsewhere, the projectName spelling."""

import numpy as np
import pytest
from osgeo import gdal

TILE = (8, 8)


def open_failure(name):
    try:
        ds = gdal.Open(name)
    except RuntimeError as e:
        return str(e)
    assert ds is None
    return gdal.GetLastErrorMsg()


@pytest.fixture
def scene(make_raster):
    rng = np.random.default_rng(16)
    path = make_raster(rng.integers(0, 100, size=(16, 24)).astype(np.uint8))
    ds = gdal.Open(path, gdal.GA_Update)
    ds.SetMetadataItem("SUN_ELEVATION", "41.5")
    ds.SetMetadataItem("SENSOR", "L8")
    ds = None
    return path


@pytest.mark.parametrize("fmt", [None, "RAW_JSON", "ND_ARRAYS"])
def test_input_properties_are_copied_into_every_tile_instance(predictor, eem_name, scene, fmt):
    name = eem_name(scene, model="echo", tile=TILE, output_bands="output:float32:3",
                    input_properties="SUN_ELEVATION,year:2020", payload_format=fmt)
    ds = gdal.Open(name)
    got = ds.ReadAsArray()
    src = gdal.Open(scene).ReadAsArray()
    assert np.array_equal(got[0], src)
    assert np.all(got[1] == np.float32(41.5)) and np.all(got[2] == 2020)
    log = predictor.log()
    assert sum(r["n_instances"] for r in log) == 6
    if fmt != "ND_ARRAYS":
        assert log[0]["keys"] == ["b1", "SUN_ELEVATION", "year"]
        assert log[0]["shapes"]["year"] == [8, 8, 1]
    if fmt is None:
        assert log[0]["dtypes"]["year"] == "float32"


def test_input_properties_type_and_errors(predictor, eem_name, scene):
    name = eem_name(scene, model="echo", tile=TILE, output_bands="output:float32:2",
                    input_properties="year:2020", input_type="year:int16")
    ds = gdal.Open(name)
    assert np.all(ds.GetRasterBand(2).ReadAsArray() == 2020)
    assert predictor.log()[0]["dtypes"]["year"] == "int16"
    for props, message in [
        ("CLOUDS", 'INPUT_PROPERTIES: "CLOUDS" is not a metadata item of INPUT'),
        ("SENSOR", 'metadata item "SENSOR" of INPUT is "L8", not a number'),
        ("year:abc", 'INPUT_PROPERTIES: "year:abc" has a value that is not a number'),
        ("b1:3", 'INPUT_PROPERTIES: "b1" is already the key of a band'),
    ]:
        got = open_failure(eem_name(scene, model="echo", tile=TILE, output_bands="output:float32:2",
                                    input_properties=props))
        assert message in got, got


def test_output_multiplier_sizes_batches(predictor, eem_name, scene):
    base = dict(model="identity", tile=TILE, payload_format="RAW_JSON", max_payload_bytes=2000)
    ds = gdal.Open(eem_name(scene, **base))
    plain = ds.ReadAsArray()
    log = predictor.log()
    assert all(r["body_bytes"] <= 2000 for r in log)
    per_request = max(r["n_instances"] for r in log)
    ds = None
    predictor.reset()
    ds = gdal.Open(eem_name(scene, output_multiplier=2, **base))
    assert np.array_equal(ds.ReadAsArray(), plain)
    log = predictor.log()
    assert all(r["body_bytes"] <= 1000 for r in log)
    assert max(r["n_instances"] for r in log) < per_request
    assert "OUTPUT_MULTIPLIER" in open_failure(eem_name(scene, output_multiplier="0.9", **base))


def test_input_shapes_for_array_inputs(predictor, eem_name, make_raster):
    src = make_raster(np.arange(3 * 16 * 16, dtype=np.uint8).reshape(3, 16, 16))
    ok = eem_name(src, tile=TILE, bands="1,2,3", input_array="array", output_bands="output:float32:3",
                  input_shapes="array:[3]")
    ds = gdal.Open(ok)
    assert np.array_equal(ds.ReadAsArray(), gdal.Open(src).ReadAsArray())
    assert predictor.log()[0]["shapes"]["array"] == [8, 8, 3]
    for shapes, message in [
        ("array:[4]", 'INPUT_SHAPES: "array" is [4] but BANDS selects 3 bands'),
        ("array:[3,1]", '"array" (INPUT_ARRAY) has 2 dimensions'),
        ("b1:[2]", "a GDAL band holds one number per pixel"),
        ("array:[3", "is not a list of shapes"),
    ]:
        name = eem_name(src, tile=TILE, bands="1,2,3", input_array="array" if "b1" not in shapes else None,
                        output_bands="output:float32:3", input_shapes=shapes)
        got = open_failure(name)
        assert message in got, got


def test_project_name_is_project_id(predictor, scene, tools):
    name = tools.build_name(predictor.url, scene, tile=TILE).replace("project=p", "projectName=p")
    ds = gdal.Open(name)
    assert ds.GetRasterBand(1).Checksum() == gdal.Open(scene).GetRasterBand(1).Checksum()
    assert predictor.log()[0]["path"].startswith("/v1/projects/p/models/identity")
