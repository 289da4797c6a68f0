"""Full-resolution reads delivered straight into the caller's buffer (driver
eemodel_direct.cpp): the same pixels as GDAL's block path (EEMODEL_DIRECT_READ=NO)
for misaligned windows, band subsets, pixel / line / band spacing and type
conversion; masks read after the bands without a second prediction; ON_ERROR=NODATA
tiles masked, then predicted again at the next read; GDAL's block cache left alone."""

import numpy as np
import pytest
from osgeo import gdal

from conftest import Messages, config_options

TILE = (64, 40)
WIDTH, HEIGHT = 150, 110          # 3 x 3 tiles, the last column and row cut
TILES = 3 * 3


def rgb_with_holes(make_raster, seed=21):
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 256, size=(3, HEIGHT, WIDTH)).astype(np.uint8)
    data[:, 30:45, 70:90] = 0      # nodata pixels: the mask is not all 255
    return make_raster(data, nodata=0)


def open_both(eem_name, path, **kw):
    """(direct, block-path) datasets of the same descriptor."""
    name = eem_name(path, model="identity", tile=TILE, output_bands="output:float32:3", **kw)
    direct = gdal.Open(name)
    with config_options(EEMODEL_DIRECT_READ="NO"):
        block = gdal.Open(name)
    return direct, block


def instances(predictor):
    return sum(r["n_instances"] for r in predictor.log())


WINDOWS = [(0, 0, WIDTH, HEIGHT), (13, 7, 101, 77), (63, 39, 2, 2), (100, 90, 50, 20),
           (64, 40, 64, 40), (149, 109, 1, 1)]


@pytest.mark.parametrize("window", WINDOWS)
def test_direct_dataset_reads_equal_the_block_path(predictor, eem_name, make_raster, window):
    path = rgb_with_holes(make_raster)
    direct, block = open_both(eem_name, path)
    x, y, w, h = window
    cases = [
        dict(),                                               # band-sequential float32
        dict(band_list=[3, 1]),                               # a subset, reordered
        dict(buf_type=gdal.GDT_Int16),                        # converted
        dict(buf_type=gdal.GDT_Float64, band_list=[2]),
        # pixel-interleaved: pixel, line and band spacing of the caller's
        dict(buf_type=gdal.GDT_Byte, buf_pixel_space=3, buf_line_space=3 * w, buf_band_space=1),
        # a padded line
        dict(buf_type=gdal.GDT_UInt16, band_list=[1, 2], buf_pixel_space=2,
             buf_line_space=2 * w + 6, buf_band_space=(2 * w + 6) * h),
    ]
    for kw in cases:
        with config_options(EEMODEL_DIRECT_READ="NO"):
            expected = block.ReadRaster(x, y, w, h, **kw)
        got = direct.ReadRaster(x, y, w, h, **kw)
        assert got == expected, kw
    # the same through single bands and the mask band
    for b in (1, 3):
        with config_options(EEMODEL_DIRECT_READ="NO"):
            expected = block.GetRasterBand(b).ReadRaster(x, y, w, h, buf_type=gdal.GDT_Int32)
        assert direct.GetRasterBand(b).ReadRaster(x, y, w, h, buf_type=gdal.GDT_Int32) == expected
    with config_options(EEMODEL_DIRECT_READ="NO"):
        expected = block.GetRasterBand(1).GetMaskBand().ReadRaster(x, y, w, h)
    assert direct.GetRasterBand(1).GetMaskBand().ReadRaster(x, y, w, h) == expected


def test_direct_read_has_the_source_pixels_and_fills_no_block_cache(predictor, eem_name,
                                                                  make_raster, tools):
    path = rgb_with_holes(make_raster)
    direct, _ = open_both(eem_name, path)
    src = tools.read_hwc(path)
    valid = tools.source_valid(path)
    gdal.SetCacheMax(256 << 20)
    before = gdal.GetCacheUsed()
    got = direct.ReadAsArray()
    grown = gdal.GetCacheUsed() - before
    expected = np.moveaxis(src, -1, 0).astype(np.float32)
    assert np.array_equal(got[:, valid], expected[:, valid])
    # the block path would hold every band's blocks: 9 tiles x 64 x 40 x 3 x 4 bytes;
    # the direct one only the source's blocks (3 bands of uint8)
    assert grown < TILES * 64 * 40 * 3 * 4 // 2, grown
    assert instances(predictor) == TILES
    # reading again: the tile store's tiles, nothing sent
    assert np.array_equal(direct.ReadAsArray(), got, equal_nan=True)
    assert instances(predictor) == TILES


@pytest.mark.parametrize("store", ["default", "none"])
def test_mask_read_after_the_bands_predicts_nothing(predictor, eem_name, make_raster, tools,
                                                   store):
    path = rgb_with_holes(make_raster)
    bounds = {} if store == "default" else dict(EEMODEL_TILE_STORE_MEMORY="0",
                                               EEMODEL_TILE_STORE_DISK="0")
    with config_options(**bounds):
        direct, _ = open_both(eem_name, path)
        direct.ReadRaster(0, 0, WIDTH, HEIGHT)
        sent = instances(predictor)
        assert sent == TILES
        # gdal_translate copies the mask after the bands (DefaultCopyMasks): from the
        # tile store, or (no store) from the source, never a prediction
        mask = np.frombuffer(direct.GetRasterBand(1).GetMaskBand().ReadRaster(11, 3, 130, 100),
                             dtype=np.uint8).reshape(100, 130)
        assert instances(predictor) == sent
    expected = np.where(tools.source_valid(path), 255, 0).astype(np.uint8)[3:103, 11:141]
    assert np.array_equal(mask, expected)
    assert (mask == 0).any() and (mask == 255).any()


def test_band_by_band_direct_reads_predict_each_tile_once_without_a_tile_store(
        predictor, eem_name, make_raster):
    """No tile store: a tile read straight into one band's buffer also fills the block
    cache, so the other bands' reads (QGIS reads band by band) send nothing more."""
    path = rgb_with_holes(make_raster)
    with config_options(EEMODEL_TILE_STORE_MEMORY="0", EEMODEL_TILE_STORE_DISK="0"):
        direct, block = open_both(eem_name, path)
        planes = [direct.GetRasterBand(b).ReadRaster(7, 9, 120, 90) for b in (1, 2, 3)]
        assert instances(predictor) == 6   # 2 x 3 tiles, each predicted once
        with config_options(EEMODEL_DIRECT_READ="NO"):
            expected = [block.GetRasterBand(b).ReadRaster(7, 9, 120, 90) for b in (1, 2, 3)]
    assert planes == expected


def test_direct_reads_match_through_the_synchronous_path(predictor, eem_name, make_raster):
    """READ_AHEAD=NO: tiles come from eem_predictor_compute, still straight into the buffer."""
    path = rgb_with_holes(make_raster)
    direct, block = open_both(eem_name, path, read_ahead="NO")
    with config_options(EEMODEL_DIRECT_READ="NO"):
        expected = block.ReadRaster(5, 5, 140, 100, band_list=[2, 3])
    assert direct.ReadRaster(5, 5, 140, 100, band_list=[2, 3]) == expected


def test_nodata_tiles_are_masked_then_predicted_again(predictor, eem_name, make_raster, tools):
    path = rgb_with_holes(make_raster)
    name = eem_name(path, model="identity", tile=TILE, output_bands="output:float32:3",
                    on_error="NODATA", max_payload_bytes=40000)
    src = np.moveaxis(tools.read_hwc(path), -1, 0).astype(np.float32)
    valid = tools.source_valid(path)
    ds = gdal.Open(name)
    with config_options(GDAL_HTTP_MAX_RETRY="0"):
        predictor.fault(kind="status", status=400, count=1)   # one request fails, not lastingly
        with Messages() as m:
            first = ds.ReadAsArray()
        assert any("masked" in w for w in m.warnings()), m.items
        mask = ds.GetRasterBand(1).GetMaskBand().ReadAsArray()
    failed = np.isnan(first[0])
    assert failed.any() and not failed.all()
    # masked tiles: NaN in every band and 0 in the mask; the rest predicted
    assert np.isnan(first[:, failed]).all()
    assert (mask[failed] == 0).all()
    ok = ~failed & valid
    assert np.array_equal(first[:, ok], src[:, ok])
    assert (mask[ok] == 255).all()
    sent = instances(predictor)
    # the next read predicts the masked tiles again (and only them)
    again = ds.ReadAsArray()
    assert np.array_equal(again[:, valid], src[:, valid])
    assert instances(predictor) > sent
    assert instances(predictor) - sent < TILES
    assert np.array_equal(ds.GetRasterBand(1).GetMaskBand().ReadAsArray(),
                          np.where(valid, 255, 0).astype(np.uint8))


def test_progress_reaches_the_end_of_a_direct_read(predictor, eem_name, make_raster):
    path = rgb_with_holes(make_raster)
    direct, _ = open_both(eem_name, path)
    calls = []
    direct.ReadRaster(0, 0, WIDTH, HEIGHT,
                      callback=lambda f, msg, data: calls.append(f) or 1)
    assert calls and calls[-1] == pytest.approx(1.0)
    assert all(0 <= f <= 1 for f in calls)
