"""Progress, machine-readable metadata, driver capabilities, open option names and key
suggestions (issue 12 item 8)."""

import numpy as np
import pytest
from osgeo import gdal, osr

from conftest import Messages


@pytest.mark.parametrize("read_ahead", ["NO", "AUTO"])
def test_translate_progress_moves_while_predicting(predictor, eem_name, rgb_byte, tmp_path,
                                                   read_ahead):
    """gdal_translate (GDALDatasetCopyWholeRaster) reports progress between its swaths and
    gives the source no progress function: predictions must be spread over the swaths,
    not all made before the first report.  Each swath's read waits only for its own tiles;
    with READ_AHEAD=AUTO the pipeline predicts the next swaths meanwhile (how far it gets
    before a report depends on the machine, so only READ_AHEAD=NO pins the request count
    at each report)."""
    # one tile per request
    name = eem_name(rgb_byte, model="identity", tile=(64, 64), output_bands="output:float32:3",
                    max_payload_bytes=20000, read_ahead=read_ahead)
    seen = []

    def progress(fraction, message, data):
        seen.append((fraction, len(predictor.log())))
        return 1

    gdal.Translate(str(tmp_path / "out.tif"), name, callback=progress)
    total = len(predictor.log())
    assert total >= 10
    # the bar moves in several steps, not one jump from 0 to 100
    assert len(set(fraction for fraction, n in seen if 0 < fraction < 1)) >= 5, seen
    if read_ahead == "NO":
        # ... while requests were still to come
        moving = [n for fraction, n in seen if 0 < fraction < 1 and n < total]
        assert moving, seen
        assert len(set(n for fraction, n in seen if fraction < 1)) >= 5, seen
        assert seen[0][1] < total / 2, seen
    # each tile once all the same: as many predictions as one whole read makes
    copied = sum(r["n_instances"] for r in predictor.log())
    predictor.reset()
    gdal.Open(name).ReadAsArray()
    assert copied == sum(r["n_instances"] for r in predictor.log())


def test_read_progress_per_tile(predictor, eem_name, rgb_byte):
    """A read with a progress function hears of each tile answered."""
    ds = gdal.Open(eem_name(rgb_byte, model="identity", tile=(64, 64),
                            output_bands="output:float32:3", max_payload_bytes=60000))
    fractions = []
    ds.ReadAsArray(callback=lambda f, m, d: fractions.append(f) or 1)
    inside = sorted(set(f for f in fractions if 0 < f < 0.95))
    assert len(inside) >= 3, fractions
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)


def test_model_grid_crs_is_a_crs(eem_name, rgb_byte, make_raster):
    ds = gdal.Open(eem_name(rgb_byte, model="identity", tile=(128, 128),
                            output_bands="output:float32:3"))
    crs = ds.GetMetadataItem("MODEL_GRID_CRS", "EEMODEL")
    srs = osr.SpatialReference()
    assert srs.SetFromUserInput(crs) == 0, crs
    assert srs.IsSame(ds.GetSpatialRef())
    # a CRS without an EPSG code is given as WKT
    path = make_raster(np.ones((1, 40, 40), dtype=np.uint8))
    custom = "+proj=tmerc +lat_0=0 +lon_0=13.5 +k=0.9996 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m"
    ds = gdal.Open(eem_name(path, model="identity", tile=(32, 32), output_bands="output:uint8",
                            proj=custom))
    crs = ds.GetMetadataItem("MODEL_GRID_CRS", "EEMODEL")
    assert crs.startswith(("PROJCRS[", "PROJCS[")), crs
    srs = osr.SpatialReference()
    assert srs.SetFromUserInput(crs) == 0
    assert srs.IsSame(ds.GetSpatialRef())


def test_driver_declares_virtual_io(eemodel_driver):
    assert eemodel_driver.GetMetadataItem(gdal.DCAP_VIRTUALIO) == "YES"


def test_descriptor_in_vsimem(predictor, rgb_byte):
    import json
    path = "/vsimem/eemodel_test/model.eemodel.json"
    gdal.FileFromMemBuffer(path, json.dumps({
        "input": rgb_byte, "apiRoot": predictor.url, "projectId": "p", "modelName": "identity",
        "inputTileSize": [128, 128], "outputBands": {"output": {"type": "float32",
                                                               "dimensions": 1, "length": 3}}}))
    try:
        ds = gdal.Open(path)
        assert ds.GetDriver().ShortName == "EEMODEL"
        assert ds.RasterCount == 3
    finally:
        gdal.Unlink(path)


@pytest.mark.parametrize("option", ["inputTileSize=128,128", "outputBands=output:float32:3",
                                    "maxPredictions=64", "projectId=p", "InputTileSize=128,128",
                                    "input_tile_size=128,128", "inputTypeOverride=float32"])
def test_camel_case_open_options_not_warned(predictor, eem_name, rgb_byte, option):
    name = eem_name(rgb_byte, model="identity", tile=(128, 128), output_bands="output:float32:3")
    gdal.DontUseExceptions()
    try:
        with Messages() as m:
            ds = gdal.OpenEx(name, gdal.OF_RASTER, open_options=[option])
    finally:
        gdal.UseExceptions()
    assert ds is not None, m.items
    assert not any("does not support open option" in x for x in m.texts()), m.items
    # an unknown option is still warned about by GDAL
    gdal.DontUseExceptions()
    try:
        with Messages() as m:
            gdal.OpenEx(name, gdal.OF_RASTER, open_options=["bogusKey=1"])
    finally:
        gdal.UseExceptions()
    assert any("does not support open option bogusKey" in x for x in m.texts()), m.items


@pytest.mark.parametrize("key,suggested", [("projection", "PROJ"), ("crs", "PROJ"),
                                           ("resolution", "SCALE"), ("projct", "PROJECT")])
def test_key_suggestions(eem_name, rgb_byte, key, suggested):
    name = eem_name(rgb_byte, model="identity", tile=(128, 128), output_bands="output:float32:3")
    with pytest.raises(RuntimeError, match=r'unknown key "%s" \(did you mean %s[,?]' % (key, suggested)):
        gdal.Open(name + ";%s=EPSG:4326" % key)
