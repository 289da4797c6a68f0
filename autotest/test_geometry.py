"""Tiling geometry end to end (DESIGN.md section 3): seams, fixed tile grid, scale
changes, padded vs core answers, axis order."""

import math
import re
from fractions import Fraction

import numpy as np
import pytest
from osgeo import gdal

from predictor import models


# ---------------------------------------------------------------------------
# helpers


def random_raster(make_raster, shape, dtype=np.uint8, seed=0, high=None):
    rng = np.random.default_rng(seed)
    high = high if high is not None else (256 if np.dtype(dtype) == np.uint8 else 4000)
    return make_raster(rng.integers(1, high, size=shape).astype(dtype))


def read_single(ds):
    """Band 1 of ds as a 2-D array."""
    return ds.GetRasterBand(1).ReadAsArray()


def mask_of(ds):
    """The mask band of ds; its flags say all valid exactly when no pixel is masked."""
    band = ds.GetRasterBand(1)
    flags = band.GetMaskFlags()
    assert flags in (gdal.GMF_PER_DATASET, gdal.GMF_ALL_VALID)
    mask = band.GetMaskBand().ReadAsArray()
    assert (flags == gdal.GMF_ALL_VALID) == bool((mask == 255).all()), flags
    return mask


def cover_valid(n_out_tiles, t, u, size_in, n_out):
    """Per output pixel along one axis: True if every input pixel it covers is in G.

    Output pixel x of tile i covers input [i*t + floor(x*t/u), i*t + ceil((x+1)*t/u)).
    """
    valid = np.zeros(n_out, dtype=bool)
    for o in range(n_out):
        i, x = divmod(o, u)
        end = i * t + math.ceil(Fraction((x + 1) * t, u))
        valid[o] = end <= size_in
    return valid


def tilewise(src_hwc, tools, tile, overlap, out_tile, out_size, fn):
    """Output assembled tile by tile: fn(zero-extended patch) -> (uh, uw) core array."""
    tw, th = tile
    ox, oy = overlap
    uw, uh = out_tile
    out_w, out_h = out_size
    out = np.zeros((math.ceil(out_h / uh) * uh, math.ceil(out_w / uw) * uw), dtype=np.float32)
    for j in range(math.ceil(out_h / uh)):
        for i in range(math.ceil(out_w / uw)):
            patch = tools.zero_extended(src_hwc, i * tw - ox, j * th - oy, tw + 2 * ox, th + 2 * oy)
            out[j * uh:(j + 1) * uh, i * uw:(i + 1) * uw] = fn(patch)
    return out[:out_h, :out_w]


# ---------------------------------------------------------------------------
# seam-free reads


@pytest.mark.parametrize("tile", [(64, 64), (100, 37), (37, 100), (256, 128)])
def test_conv_seam_free_rgb(predictor, eem_name, rgb_byte, tools, tile):
    valid = tools.source_valid(rgb_byte)
    # Each band's masked input pixels are sent as 0 in that band's tensor (per-band masks).
    per_band = np.stack([tools.source_valid(rgb_byte, [b]) for b in (1, 2, 3)], axis=-1)
    src = tools.read_hwc(rgb_byte) * per_band
    expected = models.conv_padded(src)[:, :, 0]
    ds = gdal.Open(eem_name(rgb_byte, model="conv", tile=tile, overlap=(3, 3)))
    assert (ds.RasterXSize, ds.RasterYSize) == (791, 718)
    assert ds.GetRasterBand(1).DataType == gdal.GDT_Float32
    assert ds.GetRasterBand(1).GetBlockSize() == list(tile)
    got = read_single(ds)
    mask = mask_of(ds)
    # Mask: valid exactly where every source band is valid.
    np.testing.assert_array_equal(mask == 255, valid)
    # Values under the mask are unspecified without NODATA; valid pixels exact.
    assert np.array_equal(got[valid], expected[valid])
    # Every tile with valid input was sent, and only once.
    assert sum(r["n_instances"] for r in predictor.log()) <= \
        math.ceil(791 / tile[0]) * math.ceil(718 / tile[1])


@pytest.mark.parametrize("tile,overlap", [((64, 64), (3, 3)), ((100, 37), (4, 3)),
                                          ((37, 100), (3, 5)), ((256, 128), (3, 3)),
                                          ((45, 45), (7, 6))])
def test_conv_seam_free_synthetic(eem_name, make_raster, tools, tile, overlap):
    """All-valid 2-band UInt16 203x157 raster: the whole output equals the model
    applied to the whole zero-extended image, bit for bit."""
    path = random_raster(make_raster, (2, 157, 203), np.uint16, seed=1)
    src = tools.read_hwc(path)
    expected = models.conv_padded(src)[:, :, 0]
    ds = gdal.Open(eem_name(path, model="conv", tile=tile, overlap=overlap))
    got = read_single(ds)
    assert got.dtype == np.float32
    assert np.array_equal(got, expected)
    assert (mask_of(ds) == 255).all()


def test_conv_without_overlap_has_seams(eem_name, make_raster, tools):
    """The seam test can fail: without overlap the tiles' edges differ."""
    path = random_raster(make_raster, (2, 157, 203), np.uint16, seed=1)
    src = tools.read_hwc(path)
    expected = models.conv_padded(src)[:, :, 0]
    got = read_single(gdal.Open(eem_name(path, model="conv", tile=(64, 64), overlap=(0, 0))))
    assert not np.array_equal(got, expected)
    # The differences are along the tile seams only; tile interiors agree.
    ys, xs = np.nonzero(got != expected)
    near_x = np.minimum(xs % 64, 63 - xs % 64) < models.CONV_RADIUS
    near_y = np.minimum(ys % 64, 63 - ys % 64) < models.CONV_RADIUS
    assert (near_x | near_y).all()
    # ... and what the driver returned is the model applied tile by tile.
    per_tile = tilewise(src, tools, (64, 64), (0, 0), (64, 64), (203, 157),
                        lambda p: models.conv(p)[:, :, 0])
    assert np.array_equal(got, per_tile)


# ---------------------------------------------------------------------------
# fixed grid: same values whatever window is read


def test_same_values_whatever_window(eem_name, make_raster, tools):
    # overlap smaller than the conv radius: seams exist, so a tile grid that moved
    # with the window would give different values.
    path = random_raster(make_raster, (3, 157, 203), np.uint8, seed=2)
    src = tools.read_hwc(path)
    tile, overlap = (50, 30), (1, 2)
    name = eem_name(path, model="conv", tile=tile, overlap=overlap)
    expected = tilewise(src, tools, tile, overlap, tile, (203, 157),
                        lambda p: models.conv(p)[overlap[1]:p.shape[0] - overlap[1],
                                                 overlap[0]:p.shape[1] - overlap[0], 0])
    full = read_single(gdal.Open(name))
    assert np.array_equal(full, expected)

    # single blocks, each from a fresh dataset, in reverse order
    for (j, i) in [(5, 4), (0, 0), (2, 3), (5, 0), (1, 1)]:
        ds = gdal.Open(name)
        x, y = i * 50, j * 30
        w, h = min(50, 203 - x), min(30, 157 - y)
        block = ds.GetRasterBand(1).ReadAsArray(x, y, w, h)
        assert np.array_equal(block, full[y:y + h, x:x + w]), (i, j)

    # odd windows straddling tiles
    ds = gdal.Open(name)
    for (x, y, w, h) in [(55, 31, 13, 101), (1, 1, 201, 3), (149, 89, 54, 68), (77, 0, 1, 157)]:
        win = ds.GetRasterBand(1).ReadAsArray(x, y, w, h)
        assert np.array_equal(win, full[y:y + h, x:x + w]), (x, y, w, h)

    # the same through dataset-level RasterIO
    ds2 = gdal.Open(name)
    win = ds2.ReadAsArray(40, 20, 100, 100)
    assert np.array_equal(win, full[20:120, 40:140])


def test_same_values_whatever_window_rgb_multiband(predictor, eem_name, rgb_byte, tools):
    name = eem_name(rgb_byte, model="classify", tile=(128, 96), overlap=(2, 5),
                    output_bands="probs:float32:3,class:uint8")
    ds = gdal.Open(name)
    full = tools.read_bands(ds)
    assert full.shape == (4, 718, 791)
    n_full = sum(r["n_instances"] for r in predictor.log())
    assert n_full > 0

    # odd window, band by band, on a second dataset
    ds2 = gdal.Open(name)
    x, y, w, h = 55, 301, 13, 171
    for b in range(4):
        win = ds2.GetRasterBand(b + 1).ReadAsArray(x, y, w, h)
        assert np.array_equal(win, full[b, y:y + h, x:x + w], equal_nan=True), b

    # band-by-band full reads on a third dataset: the first band's read fills all
    # bands, so the other bands cost no request.
    predictor.reset()
    ds3 = gdal.Open(name)
    first = ds3.GetRasterBand(1).ReadAsArray()
    n_first = len(predictor.log())
    assert n_first > 0
    bands = [first] + [ds3.GetRasterBand(b + 1).ReadAsArray() for b in range(1, 4)]
    assert len(predictor.log()) == n_first
    assert np.array_equal(np.stack(bands), full, equal_nan=True)

    # single blocks
    ds4 = gdal.Open(name)
    for (i, j) in [(6, 7), (3, 2)]:
        bx, by = i * 128, j * 96
        bw, bh = min(128, 791 - bx), min(96, 718 - by)
        block = ds4.ReadAsArray(bx, by, bw, bh)
        assert np.array_equal(block, full[:, by:by + bh, bx:bx + bw], equal_nan=True)


# ---------------------------------------------------------------------------
# scale changes


@pytest.mark.parametrize("overlap", [(0, 0), (4, 3)])
def test_up2_doubles_size(eem_name, make_raster, tools, overlap):
    path = random_raster(make_raster, (3, 77, 101), np.uint8, seed=3)
    src = tools.read_hwc(path)
    ds = gdal.Open(eem_name(path, model="up2", tile=(32, 24), overlap=overlap, out_tile=(64, 48)))
    assert (ds.RasterXSize, ds.RasterYSize) == (202, 154)
    assert ds.GetRasterBand(1).GetBlockSize() == [64, 48]
    gt_in = gdal.Open(path).GetGeoTransform()
    gt = ds.GetGeoTransform()
    assert gt[0] == gt_in[0] and gt[3] == gt_in[3]
    assert gt[1] == gt_in[1] * 32 / 64 and gt[5] == gt_in[5] * 24 / 48
    assert gt[2] == 0 and gt[4] == 0
    got = read_single(ds)
    assert np.array_equal(got, models.up2(src)[:, :, 0])
    assert (mask_of(ds) == 255).all()


@pytest.mark.parametrize("overlap", [(0, 0), (2, 2)])
def test_pool2_halves_size(eem_name, make_raster, tools, overlap):
    path = random_raster(make_raster, (3, 77, 101), np.uint8, seed=4)
    src = tools.read_hwc(path)
    ds = gdal.Open(eem_name(path, model="pool2", tile=(32, 24), overlap=overlap, out_tile=(16, 12)))
    assert (ds.RasterXSize, ds.RasterYSize) == (51, 39)
    assert ds.GetRasterBand(1).GetBlockSize() == [16, 12]
    gt_in = gdal.Open(path).GetGeoTransform()
    gt = ds.GetGeoTransform()
    assert (gt[0], gt[3]) == (gt_in[0], gt_in[3])
    assert gt[1] == gt_in[1] * 2 and gt[5] == gt_in[5] * 2
    got = read_single(ds)
    # the last column/row covers input pixels outside the raster: masked
    mask = mask_of(ds)
    expected_mask = np.full((39, 51), 255, dtype=np.uint8)
    expected_mask[:, 50] = 0
    expected_mask[38, :] = 0
    np.testing.assert_array_equal(mask, expected_mask)
    # values under the mask are unspecified without NODATA
    expected = models.pool2(tools.zero_extended(src, 0, 0, 102, 78))[:, :, 0]
    assert np.array_equal(got[:38, :50], expected[:38, :50])


def test_tilemean_one_pixel_per_tile(eem_name, make_raster, tools):
    path = random_raster(make_raster, (3, 77, 101), np.uint8, seed=5)
    src = tools.read_hwc(path)
    tile, overlap = (20, 16), (3, 2)
    ds = gdal.Open(eem_name(path, model="tilemean", tile=tile, overlap=overlap, out_tile=(1, 1)))
    assert (ds.RasterXSize, ds.RasterYSize) == (6, 5)
    gt_in = gdal.Open(path).GetGeoTransform()
    gt = ds.GetGeoTransform()
    assert gt[1] == gt_in[1] * 20 and gt[5] == gt_in[5] * 16
    got = read_single(ds)
    expected = tilewise(src, tools, tile, overlap, (1, 1), (6, 5), lambda p: models.tilemean(p)[:, :, 0])
    # valid tiles (the last column and row cover pixels beyond the raster)
    assert np.array_equal(got[:4, :5], expected[:4, :5])
    # the whole patch counts, overlap and zero fill included: the core mean differs
    core_mean = src[0:16, 0:20].mean()
    assert got[0, 0] != np.float32(core_mean)
    mask = mask_of(ds)
    expected_mask = np.full((5, 6), 255, dtype=np.uint8)
    expected_mask[:, 5] = 0   # tile column 5 covers columns 100..119, beyond W=101
    expected_mask[4, :] = 0   # tile row 4 covers rows 64..79, beyond H=77
    np.testing.assert_array_equal(mask, expected_mask)


def test_non_integer_ratio_pool2(eem_name, make_raster, tools):
    """Input tile 6x6 with overlap 1 (8x8 patch) -> pool2 answers 4x4 = output tile:
    ratio 2/3, pixel size 3/2 of the source's."""
    path = random_raster(make_raster, (3, 29, 41), np.uint8, seed=6)
    src = tools.read_hwc(path)
    ds = gdal.Open(eem_name(path, model="pool2", tile=(6, 6), overlap=(1, 1), out_tile=(4, 4)))
    assert (ds.RasterXSize, ds.RasterYSize) == (28, 20)   # ceil(41*4/6), ceil(29*4/6)
    gt_in = gdal.Open(path).GetGeoTransform()
    gt = ds.GetGeoTransform()
    assert gt[1] == gt_in[1] * 6 / 4 and gt[5] == gt_in[5] * 6 / 4
    got = read_single(ds)
    vx = cover_valid(7, 6, 4, 41, 28)
    vy = cover_valid(5, 6, 4, 29, 20)
    assert not vx.all() and vx.sum() > 20
    valid = vy[:, None] & vx[None, :]
    np.testing.assert_array_equal(mask_of(ds), np.where(valid, 255, 0).astype(np.uint8))
    expected = tilewise(src, tools, (6, 6), (1, 1), (4, 4), (28, 20), lambda p: models.pool2(p)[:, :, 0])
    assert np.array_equal(got[valid], expected[valid])


def test_non_integer_ratio_geometry_rgb(eem_name, rgb_byte):
    ds = gdal.Open(eem_name(rgb_byte, model="identity", tile=(3, 3), out_tile=(2, 2)))
    assert (ds.RasterXSize, ds.RasterYSize) == (528, 479)   # ceil(791*2/3), ceil(718*2/3)
    assert ds.GetRasterBand(1).GetBlockSize() == [2, 2]
    gt_in = gdal.Open(rgb_byte).GetGeoTransform()
    gt = ds.GetGeoTransform()
    assert (gt[0], gt[3]) == (gt_in[0], gt_in[3])
    # from the ratio, not from extent / size (that would be 791/528 = 1.498...)
    assert math.isclose(gt[1], gt_in[1] * 3 / 2, rel_tol=1e-15)
    assert math.isclose(gt[5], gt_in[5] * 3 / 2, rel_tol=1e-15)
    assert ds.GetSpatialRef().GetAuthorityCode(None) == "32618"


def test_non_integer_ratio_wrong_answer_shape(predictor, eem_name, make_raster):
    """identity answers 3x3 for a 3x3 tile declared to give 2x2: a shape error
    naming the expected and the received shapes."""
    path = make_raster(np.arange(20 * 17, dtype=np.uint8).reshape(17, 20) + 1)
    ds = gdal.Open(eem_name(path, model="identity", tile=(3, 3), out_tile=(2, 2)))
    assert (ds.RasterXSize, ds.RasterYSize) == (14, 12)
    with pytest.raises(RuntimeError) as excinfo:
        ds.GetRasterBand(1).ReadAsArray()
    message = str(excinfo.value)
    assert "shape" in message.lower(), message
    assert re.search(r"\b2\s*[,x\u00d7]\s*2\b", message), message
    assert re.search(r"\b3\s*[,x\u00d7]\s*3\b", message), message
    assert len(predictor.log()) >= 1


# ---------------------------------------------------------------------------
# answers at output tile size vs padded


@pytest.mark.parametrize("model,tile,overlap,out_tile", [
    ("conv", (64, 48), (4, 4), None),
    ("conv", (50, 40), (5, 3), None),
    ("up2", (32, 24), (4, 3), (64, 48)),
    ("pool2", (32, 24), (2, 2), (16, 12)),
])
def test_core_answer_equals_padded_answer(predictor, eem_name, make_raster, tools, model, tile, overlap,
                                          out_tile):
    path = random_raster(make_raster, (3, 101, 133), np.uint8, seed=7)
    name = eem_name(path, model=model, tile=tile, overlap=overlap, out_tile=out_tile)
    padded = read_single(gdal.Open(name))
    assert len(predictor.log()) > 0

    predictor.reset()
    predictor.config(answer="core:%d,%d" % overlap)
    core = read_single(gdal.Open(name))
    assert len(predictor.log()) > 0
    assert all(r["status"] == 200 for r in predictor.log())
    assert np.array_equal(core, padded, equal_nan=True)
    if model == "conv":
        assert np.array_equal(core, models.conv_padded(tools.read_hwc(path))[:, :, 0])


# ---------------------------------------------------------------------------
# axis order


def test_non_square_tiles_axis_order(predictor, eem_name, make_raster):
    height, width = 61, 97
    rows, cols = np.mgrid[0:height, 0:width]
    pattern = np.stack([rows * 100 + cols + 1, (cols * 7 + rows * 3) % 1000 + 5000]).astype(np.uint16)
    path = make_raster(pattern)
    ds = gdal.Open(eem_name(path, model="identity", tile=(40, 24), overlap=(3, 2),
                            output_bands="output:float32:2"))
    assert ds.RasterCount == 2
    assert ds.GetRasterBand(1).GetBlockSize() == [40, 24]
    got = ds.ReadAsArray()
    assert got.shape == (2, height, width)
    assert np.array_equal(got, pattern.astype(np.float32))
    log = predictor.log()
    assert log
    for record in log:
        assert record["status"] == 200
        assert record["keys"] == ["b1", "b2"]
        assert record["shapes"] == {"b1": [28, 46, 1], "b2": [28, 46, 1]}
        assert record["dtypes"] == {"b1": "uint16", "b2": "uint16"}
    # 3 x 3 tiles, each sent exactly once
    assert sum(r["n_instances"] for r in log) == 9


# ---------------------------------------------------------------------------
# overviews (DESIGN.md section 4): levels 2, 4, 8, ... until one fits in a tile


def test_overview_geometry(predictor, eem_name, rgb_byte):
    ds = gdal.Open(eem_name(rgb_byte, model="conv", tile=(64, 64), overlap=(3, 3)))
    band = ds.GetRasterBand(1)
    # 791x718 -> 396x359 -> 198x180 -> 99x90 -> 50x45 (fits one 64x64 tile)
    assert band.GetOverviewCount() == 4
    sizes = [(band.GetOverview(k).XSize, band.GetOverview(k).YSize) for k in range(4)]
    assert sizes == [(396, 359), (198, 180), (99, 90), (50, 45)]
    assert predictor.log() == []
    ov = band.GetOverview(2)
    assert ov.GetBlockSize() == [64, 64]
    data = ov.ReadAsArray()
    assert data.shape == (90, 99)
    log = predictor.log()
    assert log and all(r["shapes"]["b1"] == [70, 70, 1] for r in log)
    # 2 x 2 tiles at that level
    assert 0 < sum(r["n_instances"] for r in log) <= 4
    # masked pixels (the source's nodata frame) are NaN, the others finite
    valid = ov.GetMaskBand().ReadAsArray() > 0
    assert valid.any() and not valid.all()
    assert np.isfinite(data[valid]).all() and data[valid].max() > 0
    assert np.isnan(data[~valid]).all()
