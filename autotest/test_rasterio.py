"""EEMODEL through rasterio (Debian's python3-rasterio, linked to the system GDAL):
window reads, masks, decimated reads and open options equal osgeo.gdal's reads."""

import numpy as np
import pytest
from osgeo import gdal

import rasterio  # python3-rasterio, installed by scripts/install-deps.sh
from rasterio.windows import Window


@pytest.fixture
def model_name(eem_name, make_raster):
    rng = np.random.default_rng(120)
    array = rng.integers(1, 256, size=(2, 100, 130)).astype(np.uint8)
    array[:, :10, :20] = 0
    src = make_raster(array, nodata=0)
    return eem_name(src, model="classify", tile=(32, 32), overlap=(2, 2),
                    output_bands="probs:float32:3,class:uint8", nodata=255)


def test_window_reads_match_gdal(predictor, model_name):
    ds = gdal.Open(model_name)
    with rasterio.open(model_name) as r:
        assert (r.width, r.height, r.count) == (ds.RasterXSize, ds.RasterYSize, 4)
        assert r.dtypes == ("float32", "float32", "float32", "uint8")
        assert r.descriptions == ("probs_0", "probs_1", "probs_2", "class")
        assert r.nodatavals == (255.0,) * 4
        assert r.block_shapes[0] == (32, 32)
        assert r.transform.to_gdal() == pytest.approx(ds.GetGeoTransform())
        assert r.crs.to_epsg() == 32618
        assert len(r.overviews(1)) == ds.GetRasterBand(1).GetOverviewCount() > 0
        for col, row, w, h in [(0, 0, 130, 100), (5, 7, 40, 33), (64, 32, 32, 32),
                               (100, 90, 30, 10)]:
            # rasterio reads one dtype at a time: the float bands, then the class band
            got = r.read([1, 2, 3], window=Window(col, row, w, h))
            want = ds.ReadAsArray(col, row, w, h)
            assert np.array_equal(got, want[:3]), (col, row, w, h)
            assert np.array_equal(r.read(4, window=Window(col, row, w, h)), want[3])
            got_mask = r.read_masks(1, window=Window(col, row, w, h))
            want_mask = ds.GetRasterBand(1).GetMaskBand().ReadAsArray(col, row, w, h)
            assert np.array_equal(got_mask, want_mask)
        assert (r.read_masks(1) == 0).any()


def test_decimated_read_matches_gdal(predictor, model_name):
    ds = gdal.Open(model_name)
    with rasterio.open(model_name) as r:
        got = r.read(4, out_shape=(25, 33))
    want = ds.GetRasterBand(4).ReadAsArray(buf_xsize=33, buf_ysize=25)
    assert np.array_equal(got, want)


def test_open_options_as_keywords(predictor, model_name):
    with rasterio.open(model_name, MAX_PREDICTIONS=2) as r:
        with pytest.raises(Exception) as excinfo:
            r.read(1)
        assert "MAX_PREDICTIONS" in str(excinfo.value)
    assert predictor.log() == []
    with rasterio.open(model_name, MAX_PREDICTIONS=2) as r:
        assert r.read(1, window=Window(0, 0, 32, 32)).shape == (32, 32)
    assert sum(x["n_instances"] for x in predictor.log()) == 1


def test_mixed_types_documented_reads(predictor, eem_name, rgb_byte):
    """docs/eemodel.md: rasterio 1.3's src.read() refuses mixed band types; reading the
    bands of each type together works, and masked=True applies the mask to each."""
    name = eem_name(rgb_byte, model="classify", tile=(128, 128),
                    output_bands="probs:float32:3,class:uint8")
    ds = gdal.Open(name)
    window = Window(0, 0, 300, 200)
    with rasterio.open(name) as src:
        assert src.dtypes == ("float32", "float32", "float32", "uint8")
        with pytest.raises(ValueError, match="more than one 'dtype'"):
            src.read(window=window)
        probs = src.read([1, 2, 3], window=window, masked=True)
        klass = src.read(4, window=window, masked=True)
    mask = ds.GetRasterBand(1).GetMaskBand().ReadAsArray(0, 0, 300, 200) == 0
    assert mask.any() and not mask.all()
    assert np.array_equal(probs.mask, np.broadcast_to(mask, probs.shape))
    assert np.array_equal(klass.mask, mask)
    np.testing.assert_array_equal(probs.data[:, ~mask], ds.ReadAsArray(0, 0, 300, 200)[:3][:, ~mask])
