"""EEMODEL at home in GDAL (issue 7): the model's grid (PROJ/SCALE), overviews in both
FIX_INPUT_PROJ modes, the cost guard, metadata and gdalinfo's cost figures, and no
.aux.xml side files but those of explicitly computed statistics.

Expected values are computed independently: gdalwarp for the model grid, numpy block
means / modes for coarsened inputs and reduced predictions, the stand-in's own numpy
models for the model, and the stand-in's request log for what was sent.
"""

import json
import os
import re
import subprocess

import numpy as np
import pytest
from osgeo import gdal, osr

from conftest import config_options
from predictor import models


def random_array(shape, seed, low=1, high=256, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    return rng.integers(low, high, size=shape).astype(dtype)


def instances(log):
    return sum(r["n_instances"] for r in log)


def block_reduce(array, factor, valid=None, how="mean"):
    """Reduce (H, W) by factor with partial edge blocks; returns (values, valid)."""
    h, w = array.shape
    oh, ow = -(-h // factor), -(-w // factor)
    out = np.zeros((oh, ow), dtype=np.float64)
    ok = np.zeros((oh, ow), dtype=bool)
    if valid is None:
        valid = np.ones(array.shape, dtype=bool)
    for j in range(oh):
        for i in range(ow):
            block = array[j * factor:(j + 1) * factor, i * factor:(i + 1) * factor]
            vb = valid[j * factor:(j + 1) * factor, i * factor:(i + 1) * factor]
            values = block[vb].astype(np.float64)
            if values.size == 0:
                continue
            ok[j, i] = True
            if how == "mean":
                out[j, i] = values.mean()
            else:
                uniq, counts = np.unique(values, return_counts=True)
                out[j, i] = uniq[np.argmax(counts)]  # first max = smallest value on a tie
    return out, ok


def warp_reference(src, tile=None, **kw):
    """gdalwarp to the model grid the driver documents: -tap, -dstalpha, -et 0; with
    tile=(tw, th) (SCALE given, no TILE_ORIGIN) the top-left corner then moves out onto
    the global tile lattice anchored at 0,0 (issue 14), computed here with numpy floors."""
    ref = gdal.Warp("/vsimem/eemodel_ref_%d.tif" % id(kw), src, format="GTiff", dstAlpha=True,
                    errorThreshold=0, **kw)
    if tile is None:
        return ref
    gt = ref.GetGeoTransform()
    step_x, step_y = tile[0] * gt[1], tile[1] * -gt[5]
    x0 = np.floor(gt[0] / step_x + 1e-9) * step_x
    y0 = -np.floor(-gt[3] / step_y + 1e-9) * step_y
    right, bottom = gt[0] + gt[1] * ref.RasterXSize, gt[3] + gt[5] * ref.RasterYSize
    w = int(np.ceil((right - x0) / gt[1] - 1e-9))
    h = int(np.ceil((y0 - bottom) / -gt[5] - 1e-9))
    kw = {k: v for k, v in kw.items() if k not in ("targetAlignedPixels",)}
    return gdal.Warp("/vsimem/eemodel_ref_lattice_%d.tif" % id(kw), src, format="GTiff",
                     dstAlpha=True, errorThreshold=0,
                     outputBounds=(x0, y0 - h * -gt[5], x0 + w * gt[1], y0), **kw)


# ---------------------------------------------------------------------------
# PROJ / SCALE: the model's grid


def test_reprojection_utm_to_geographic_matches_gdalwarp(predictor, eem_name, make_raster):
    src = make_raster(random_array((3, 120, 150), seed=70))  # EPSG:32618, 30 m
    scale = 0.0004
    name = eem_name(src, model="identity", tile=(32, 32), output_bands="output:float32:3",
                    proj="EPSG:4326", scale=scale)
    ds = gdal.Open(name)
    ref = warp_reference(src, tile=(32, 32), dstSRS="EPSG:4326", xRes=scale, yRes=scale,
                         targetAlignedPixels=True, resampleAlg="near")
    # the expected grid: gdalwarp's, origin on a multiple of SCALE, then of the tile size
    assert (ds.RasterXSize, ds.RasterYSize) == (ref.RasterXSize, ref.RasterYSize)
    assert np.allclose(ds.GetGeoTransform(), ref.GetGeoTransform(), rtol=0, atol=1e-12)
    gt = ds.GetGeoTransform()
    assert gt[1] == pytest.approx(scale) and gt[5] == pytest.approx(-scale)
    for origin in (gt[0], gt[3]):
        assert abs(origin / (32 * scale) - round(origin / (32 * scale))) < 1e-6
    srs = ds.GetSpatialRef()
    assert srs.IsGeographic() and srs.GetAuthorityCode(None) == "4326"
    md = ds.GetMetadata("EEMODEL")
    assert md["MODEL_GRID_WARPED"] == "YES" and md["MODEL_GRID_CRS"] == "EPSG:4326"

    got = ds.ReadAsArray()
    mask = ds.GetRasterBand(1).GetMaskBand().ReadAsArray()
    want = ref.ReadAsArray()
    alpha = want[3] > 0
    assert alpha.any() and (~alpha).any()  # the rotated footprint leaves masked corners
    assert np.array_equal(mask > 0, alpha)
    assert np.array_equal(got[:, alpha], want[:3, alpha].astype(np.float32))
    # every request carried tiles of the model grid, not of the source
    assert {tuple(r["shapes"]["b1"]) for r in predictor.log()} == {(32, 32, 1)}


def test_reprojection_conv_equals_model_on_gdalwarp_output(predictor, eem_name, make_raster):
    src = make_raster(random_array((1, 90, 110), seed=71).astype(np.float32))
    name = eem_name(src, model="conv", tile=(24, 24), overlap=(3, 3),
                    output_bands="output:float32", proj="EPSG:4326", scale=0.0005)
    ds = gdal.Open(name)
    ref = warp_reference(src, tile=(24, 24), dstSRS="EPSG:4326", xRes=0.0005, yRes=0.0005,
                         targetAlignedPixels=True, resampleAlg="near")
    warped = ref.ReadAsArray()
    valid_in = warped[1] > 0
    x = np.where(valid_in, warped[0], 0).astype(np.float64)[:, :, None]
    want = models.conv_padded(x)[:, :, 0]
    got = ds.GetRasterBand(1).ReadAsArray()
    valid = ds.GetRasterBand(1).GetMaskBand().ReadAsArray() > 0
    assert np.array_equal(valid, valid_in)
    assert np.allclose(got[valid], want[valid], rtol=1e-5, atol=1e-3)


def test_reprojection_bilinear_and_scale_only(predictor, eem_name, make_raster):
    src = make_raster(random_array((1, 64, 80), seed=72).astype(np.float32))
    # SCALE alone: the source CRS at 45 m, bilinear
    name = eem_name(src, model="identity", tile=(16, 16), output_bands="output:float32",
                    scale=45, resampling="bilinear")
    ds = gdal.Open(name)
    ref = warp_reference(src, tile=(16, 16), xRes=45, yRes=45, targetAlignedPixels=True,
                         resampleAlg="bilinear")
    assert (ds.RasterXSize, ds.RasterYSize) == (ref.RasterXSize, ref.RasterYSize)
    assert ds.GetGeoTransform() == pytest.approx(ref.GetGeoTransform())
    assert ds.GetSpatialRef().GetAuthorityCode(None) == "32618"
    want = ref.ReadAsArray()
    alpha = want[1] > 0
    got = ds.GetRasterBand(1).ReadAsArray()
    assert np.allclose(got[alpha], want[0][alpha], atol=1e-3)


def test_reprojection_from_geographic_source(predictor, eem_name, make_raster):
    src = make_raster(random_array((1, 50, 60), seed=73),
                      gt=(-75.5, 0.001, 0.0, 40.2, 0.0, -0.001))
    ds_src = gdal.Open(src, gdal.GA_Update)
    ds_src.SetProjection("EPSG:4326")
    ds_src = None
    name = eem_name(src, model="identity", tile=(32, 32), output_bands="output:float32",
                    proj="EPSG:32618", scale=100, out_tile=(16, 16))
    ds = gdal.Open(name)
    ref = warp_reference(src, tile=(32, 32), dstSRS="EPSG:32618", xRes=100, yRes=100,
                         targetAlignedPixels=True, resampleAlg="near")
    # output on the model grid scaled by the tile ratio (1/2): 200 m pixels
    assert (ds.RasterXSize, ds.RasterYSize) == (-(-ref.RasterXSize // 2), -(-ref.RasterYSize // 2))
    gt, rgt = ds.GetGeoTransform(), ref.GetGeoTransform()
    assert (gt[0], gt[3]) == pytest.approx((rgt[0], rgt[3]))
    assert (gt[1], gt[5]) == pytest.approx((200, -200))
    assert ds.GetSpatialRef().GetAuthorityCode(None) == "32618"


def test_reprojection_errors_name_the_key(predictor, eem_name, make_raster):
    src = make_raster(random_array((1, 20, 20), seed=74))
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(eem_name(src, proj="EPSG:99999999", scale=10))
    assert "PROJ" in str(excinfo.value) and "EPSG:99999999" in str(excinfo.value)
    bare = make_raster(random_array((1, 20, 20), seed=75), name="nocrs.tif")
    ds = gdal.Open(bare, gdal.GA_Update)
    ds.SetProjection("")
    ds = None
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(eem_name(bare, proj="EPSG:4326"))
    assert "PROJ" in str(excinfo.value) and "no CRS" in str(excinfo.value)
    assert predictor.log() == []


# ---------------------------------------------------------------------------
# Overviews


def expected_levels(w, h, tw, th):
    sizes, k = [], 1
    while True:
        f = 2 ** (k - 1)
        if -(-w // f) <= tw and -(-h // f) <= th:
            break
        sizes.append((-(-w // 2 ** k), -(-h // 2 ** k)))
        k += 1
    return sizes


@pytest.mark.parametrize("fix", ["false", "true"])
def test_overview_count_and_sizes(predictor, eem_name, rgb_byte, fix):
    ds = gdal.Open(eem_name(rgb_byte, model="identity", tile=(128, 128),
                            output_bands="output:float32:3", fix_input_proj=fix))
    band = ds.GetRasterBand(1)
    want = expected_levels(791, 718, 128, 128)
    assert want == [(396, 359), (198, 180), (99, 90)]
    got = [(band.GetOverview(i).XSize, band.GetOverview(i).YSize)
           for i in range(band.GetOverviewCount())]
    assert got == want
    mask = band.GetMaskBand()
    assert mask.GetOverviewCount() == len(want)
    gt0 = ds.GetGeoTransform()
    for i, (w, h) in enumerate(want):
        ovr = band.GetOverview(i).GetDataset()
        gt = ovr.GetGeoTransform()
        f = 2 ** (i + 1)
        assert gt == pytest.approx((gt0[0], gt0[1] * f, 0, gt0[3], 0, gt0[5] * f))
        assert ovr.GetMetadataItem("OVERVIEW_FACTOR", "EEMODEL") == str(f)
    assert predictor.log() == []  # opening and listing overviews predict nothing


def test_overviews_fix_false_apply_model_to_coarsened_input(predictor, eem_name, make_raster):
    src_array = random_array((1, 100, 140), seed=80).astype(np.float32)
    src = make_raster(src_array)
    ds = gdal.Open(eem_name(src, model="conv", tile=(32, 32), overlap=(3, 3),
                            output_bands="output:float32"))
    band = ds.GetRasterBand(1)
    assert band.GetOverviewCount() == len(expected_levels(140, 100, 32, 32)) == 3
    for level in (1, 2, 3):
        predictor.reset()
        ovr = band.GetOverview(level - 1)
        got = ovr.ReadAsArray()
        coarse, _ = block_reduce(src_array[0], 2 ** level)
        want = models.conv_padded(coarse[:, :, None])[:, :, 0]
        assert got.shape == coarse.shape
        assert np.allclose(got, want, rtol=1e-5, atol=1e-3), level
        # the model saw coarsened tiles of the same geometry: one instance per overview tile
        tiles = -(-coarse.shape[0] // 32) * -(-coarse.shape[1] // 32)
        assert instances(predictor.log()) == tiles
        assert {tuple(r["shapes"]["b1"]) for r in predictor.log()} == {(38, 38, 1)}


def test_downsampled_read_uses_overview(predictor, eem_name, make_raster):
    src = make_raster(random_array((1, 128, 128), seed=81).astype(np.float32))
    ds = gdal.Open(eem_name(src, model="identity", tile=(32, 32), output_bands="output:float32"))
    got = ds.GetRasterBand(1).ReadAsArray(buf_xsize=32, buf_ysize=32)
    # 1/4 of the raster: overview 2 (one tile), not the 16 full-resolution tiles
    assert instances(predictor.log()) == 1
    want, _ = block_reduce(gdal.Open(src).ReadAsArray(), 4)
    assert np.allclose(got, want, atol=1e-3)


def test_overviews_fix_true_reduce_full_resolution_average(predictor, eem_name, make_raster):
    arr = random_array((1, 90, 130), seed=82).astype(np.float32)
    arr[0, :7, :] = 0  # nodata rows: masked full-resolution pixels
    arr[0, 40:52, 60:90] = 0
    src = make_raster(arr, nodata=0)
    ds = gdal.Open(eem_name(src, model="conv", tile=(32, 32), overlap=(3, 3),
                            output_bands="output:float32", fix_input_proj="true", nodata=-1))
    band = ds.GetRasterBand(1)
    full = band.ReadAsArray()
    full_valid = band.GetMaskBand().ReadAsArray() > 0
    assert (~full_valid).any()
    full_requests = predictor.log()
    assert instances(full_requests) > 0
    for level in range(1, band.GetOverviewCount() + 1):
        predictor.reset()
        ovr = band.GetOverview(level - 1)
        got = ovr.ReadAsArray()
        got_valid = ovr.GetMaskBand().ReadAsArray() > 0
        want, want_valid = block_reduce(full, 2 ** level, full_valid)
        assert got.shape == want.shape
        assert np.array_equal(got_valid, want_valid)
        assert np.allclose(got[want_valid], want[want_valid], rtol=1e-6, atol=1e-4)
        assert np.all(got[~want_valid] == -1)
        # full-resolution tiles were cached: nothing sent again
        assert predictor.log() == []


def test_overviews_fix_true_mode_for_class_output(predictor, eem_name, make_raster):
    arr = random_array((1, 64, 96), seed=83)
    src = make_raster(arr)
    ds = gdal.Open(eem_name(src, model="classify", tile=(32, 32),
                            output_bands="probs:float32:3,class:uint8",
                            fix_input_proj="true"))
    assert ds.RasterCount == 4
    ovr_ds = ds.GetRasterBand(4).GetOverview(0)
    got = ovr_ds.ReadAsArray()
    # only full-resolution tiles were sent (the model never sees coarsened pixels)
    log = predictor.log()
    assert {tuple(r["shapes"]["b1"]) for r in log} == {(32, 32, 1)}
    assert instances(log) == 6
    full_class = ds.GetRasterBand(4).ReadAsArray()
    assert ds.GetRasterBand(4).DataType == gdal.GDT_Byte
    want, _ = block_reduce(full_class, 2, how="mode")
    assert np.array_equal(got, want.astype(np.uint8))
    probs = ds.GetRasterBand(1).GetOverview(0).ReadAsArray()
    want_probs, _ = block_reduce(ds.GetRasterBand(1).ReadAsArray(), 2)
    assert np.allclose(probs, want_probs, atol=1e-6)
    assert instances(predictor.log()) == 6  # the second band and level 0 were cache hits


# ---------------------------------------------------------------------------
# Cost guard


def test_cost_guard_refuses_then_allows(predictor, eem_name, make_raster):
    src = make_raster(random_array((1, 64, 96), seed=90))
    name = eem_name(src, model="identity", tile=(16, 16), output_bands="output:float32",
                    max_predictions=10)
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(name).ReadAsArray()
    message = str(excinfo.value)
    assert "24 predictions" in message and "MAX_PREDICTIONS=10" in message
    assert "-oo MAX_PREDICTIONS=24" in message and "EEMODEL_MAX_PREDICTIONS 24" in message
    assert predictor.log() == []
    # raised through the open option
    ds = gdal.OpenEx(name, open_options=["MAX_PREDICTIONS=24"])
    assert ds.ReadAsArray().shape == (64, 96)
    assert instances(predictor.log()) == 24


def test_cost_guard_default_and_config_option(predictor, eem_name, make_raster):
    src = make_raster(random_array((1, 40, 40), seed=91))
    name = eem_name(src, model="identity", tile=(1, 1), output_bands="output:float32")
    ds = gdal.Open(name)
    assert ds.GetMetadataItem("MAX_PREDICTIONS", "EEMODEL") == "1024"
    with pytest.raises(RuntimeError) as excinfo:
        ds.ReadAsArray()
    assert "1600 predictions" in str(excinfo.value)
    assert predictor.log() == []
    with config_options(EEMODEL_MAX_PREDICTIONS="2000"):
        ds = gdal.Open(name)
        assert ds.ReadAsArray(0, 0, 40, 40).shape == (40, 40)
    assert instances(predictor.log()) == 1600


def test_cost_guard_fix_true_overview_counts_full_resolution_tiles(predictor, eem_name,
                                                                     make_raster):
    src = make_raster(random_array((1, 64, 64), seed=92))
    name = eem_name(src, model="identity", tile=(16, 16), output_bands="output:float32",
                    fix_input_proj="true", max_predictions=8)
    ds = gdal.Open(name)
    ovr = ds.GetRasterBand(1).GetOverview(0)  # 32x32 in 2x2 blocks of 16, 16 level-0 tiles
    with pytest.raises(RuntimeError) as excinfo:
        ovr.ReadAsArray()
    message = str(excinfo.value)
    assert "16 predictions" in message and "FIX_INPUT_PROJ=true" in message
    assert predictor.log() == []
    # a zoomed-out read through the dataset is guarded the same way
    with pytest.raises(RuntimeError):
        ds.GetRasterBand(1).ReadAsArray(buf_xsize=32, buf_ysize=32)
    assert predictor.log() == []
    # one overview block = 4 full-resolution tiles: allowed
    assert ovr.ReadAsArray(0, 0, 16, 16).shape == (16, 16)
    assert instances(predictor.log()) == 4
    ds = gdal.OpenEx(name, open_options=["MAX_PREDICTIONS=16"])
    assert ds.GetRasterBand(1).GetOverview(0).ReadAsArray().shape == (32, 32)


def test_cost_guard_mask_and_statistics(predictor, eem_name, make_raster):
    src = make_raster(random_array((1, 128, 128), seed=93))
    name = eem_name(src, model="identity", tile=(16, 16), output_bands="output:float32",
                    max_predictions=20)
    ds = gdal.Open(name)
    band = ds.GetRasterBand(1)
    # the mask is computed from the source: a whole-raster mask read costs nothing
    assert (band.GetMaskBand().ReadAsArray() == 255).all()
    assert predictor.log() == []
    with pytest.raises(RuntimeError) as excinfo:
        band.ComputeStatistics(False)
    assert "64 predictions" in str(excinfo.value)
    with pytest.raises(RuntimeError):
        band.ComputeRasterMinMax(False)
    with pytest.raises(RuntimeError):
        band.GetHistogram(approx_ok=0)
    assert predictor.log() == []
    # approximate statistics use GDAL's sample overview (64x64, 16 tiles): allowed
    stats = band.ComputeStatistics(True)
    assert 0 < stats[0] <= stats[1] <= 255
    assert instances(predictor.log()) == 16
    # the same read for real, with the limit raised
    ds = gdal.OpenEx(name, open_options=["MAX_PREDICTIONS=64"])
    full = ds.GetRasterBand(1).ComputeStatistics(False)
    assert full[0] == 1 and full[1] == 255


# ---------------------------------------------------------------------------
# Metadata, gdalinfo, side files


def test_metadata(predictor, eem_name, make_raster, token):
    src = make_raster(random_array((2, 40, 50), seed=100), descriptions=["red", "nir"])
    name = eem_name(src, model="classify", tile=(16, 16), overlap=(2, 2), out_tile=(8, 8),
                    output_bands="probs:float32:bare/veg/water,class:uint8", nodata=255,
                    headers="X-Api-Key: s3cret")
    ds = gdal.Open(name)
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(4)] == \
        ["bare", "veg", "water", "class"]
    assert [ds.GetRasterBand(i + 1).DataType for i in range(4)] == \
        [gdal.GDT_Float32] * 3 + [gdal.GDT_Byte]
    assert ds.GetRasterBand(4).GetMetadataItem("EEMODEL_OUTPUT_TYPE") == "uint8"
    for i in range(4):
        band = ds.GetRasterBand(i + 1)
        assert band.GetNoDataValue() == 255
        # a source without mask or nodata, tiles within it, ON_ERROR=FAIL: nothing is masked
        assert band.GetMaskFlags() == gdal.GMF_ALL_VALID
        assert band.GetBlockSize() == [8, 8]
    assert ds.GetMetadataItem("INTERLEAVE", "IMAGE_STRUCTURE") == "PIXEL"
    md = ds.GetMetadata("EEMODEL")
    assert md["BACKEND"] == "aiplatform"
    assert md["URL"] == predictor.url + "/v1/projects/p/models/classify:predict"
    assert md["PAYLOAD_FORMAT"] == "SERIALIZED_TF_TENSORS"
    assert md["INPUT_TILE_SIZE"] == "16,16" and md["INPUT_OVERLAP_SIZE"] == "2,2"
    assert md["OUTPUT_TILE_SIZE"] == "8,8" and md["SCALE_RATIO"] == "8/16,8/16"
    assert md["INPUT_KEYS"] == "red:uint8:1,nir:uint8:1"
    assert md["OUTPUT_BANDS"] == "probs:float32:3,class:uint8"
    assert md["MODEL_GRID_SIZE"] == "50,40" and md["TILES"] == str(4 * 3)
    assert "EEMODEL" in (ds.GetMetadataDomainList() or [])
    everything = json.dumps({d: ds.GetMetadata(d) for d in ds.GetMetadataDomainList()})
    assert token not in everything and "s3cret" not in everything
    assert predictor.log() == []


def test_cost_figures_match_what_is_sent(predictor, eem_name, make_raster):
    src = make_raster(random_array((3, 150, 200), seed=101))
    name = eem_name(src, model="identity", tile=(32, 32), overlap=(4, 4),
                    output_bands="output:float32:3", max_payload_bytes=150000)
    ds = gdal.Open(name)
    md = ds.GetMetadata("EEMODEL")
    levels = 1 + ds.GetRasterBand(1).GetOverviewCount()
    assert levels == 4
    for level in range(levels):
        predictor.reset()
        if level == 0:
            ds.ReadAsArray()
        else:
            for b in range(3):
                ds.GetRasterBand(b + 1).GetOverview(level - 1).ReadAsArray()
        log = predictor.log()
        assert instances(log) == int(md["LEVEL_%d_PREDICTIONS" % level])
        assert len(log) == int(md["LEVEL_%d_REQUESTS" % level])
        assert sum(r["body_bytes"] for r in log) == int(md["LEVEL_%d_REQUEST_BYTES" % level])
    assert int(md["LEVEL_0_REQUESTS"]) > 1  # MAX_PAYLOAD_BYTES split the full read
    per_instance = int(md["INSTANCE_BYTES"])
    assert per_instance * int(md["INSTANCES_PER_REQUEST"]) <= 150000


def test_gdalinfo_shows_cost_and_domain(predictor, eem_name, rgb_byte, subprocess_env, tmp_path):
    name = eem_name(rgb_byte, model="identity", tile=(128, 128), output_bands="output:float32:3")
    out = subprocess.run(["gdalinfo", name], capture_output=True, text=True, env=subprocess_env,
                         cwd=tmp_path, check=True).stdout
    ds = gdal.Open(name)
    md = ds.GetMetadata("EEMODEL")
    line = re.search(r"EEMODEL_COST=791x718: (\d+) predictions in (\d+) requests?, (\d+) "
                     r"request bytes at full resolution", out)
    assert line, out
    assert line.group(1) == "42" == md["LEVEL_0_PREDICTIONS"]
    assert line.group(3) == md["LEVEL_0_REQUEST_BYTES"]
    assert re.search(r"EEMODEL_COST_OVERVIEW_1=396x359 \(1/2\): 12 predictions", out), out
    assert re.search(r"EEMODEL_COST_OVERVIEW_3=99x90 \(1/8\): 1 prediction in 1 request", out)
    assert "Overviews: 396x359, 198x180, 99x90" in out
    assert "Mask Flags: PER_DATASET" in out
    assert 'Description = output_0' in out
    mdd = subprocess.run(["gdalinfo", "-mdd", "EEMODEL", name], capture_output=True, text=True,
                         env=subprocess_env, cwd=tmp_path, check=True).stdout
    assert "Metadata (EEMODEL):" in mdd and "LEVEL_2_PREDICTIONS=4" in mdd
    assert "SCALE_RATIO=128/128,128/128" in mdd
    assert predictor.log() == []
    over = subprocess.run(["gdalinfo", name.replace("input_tile_size=128,128",
                                                    "input_tile_size=16,16")],
                          capture_output=True, text=True, env=subprocess_env, cwd=tmp_path,
                          check=True).stdout
    assert re.search(r"EEMODEL_COST=791x718: 2250 predictions .*more than "
                     r"MAX_PREDICTIONS=1024: a full read is refused", over), over


def test_no_aux_xml_files(predictor, eem_name, make_raster, subprocess_env, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    src = make_raster(random_array((1, 48, 48), seed=102), name="scene.tif")
    name = eem_name(src, model="identity", tile=(16, 16), output_bands="output:float32")
    descriptor = work / "model.eemodel.json"
    descriptor.write_text(json.dumps({
        "input": src, "apiRoot": predictor.url, "projectId": "p", "modelName": "identity",
        "inputTileSize": [16, 16], "outputBands": {"output": {"type": "float32"}}}))
    # reading pixels (and min/max) writes nothing
    for target in (name, str(descriptor)):
        for args in (["-mm"], ["-checksum"]):
            subprocess.run(["gdalinfo"] + args + [target], capture_output=True, text=True,
                           env=subprocess_env, cwd=work, check=True)
        ds = gdal.Open(target)
        ds.GetRasterBand(1).ReadAsArray()
        ds.GetRasterBand(1).SetMetadataItem("FOO", "BAR")
        ds = None
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".aux.xml")]
    assert leftovers == []
    assert instances(predictor.log()) > 0
    # statistics computed explicitly are remembered beside the input, under the digest of
    # the descriptor (both spellings of this one describe the same raster): never in cwd
    # or beside the descriptor file
    for target in (name, str(descriptor)):
        for args in (["-stats"], ["-stats", "-approx_stats"], ["-hist"]):
            subprocess.run(["gdalinfo"] + args + [target], capture_output=True, text=True,
                           env=subprocess_env, cwd=work, check=True)
        ds = gdal.Open(target)
        ds.GetRasterBand(1).ComputeStatistics(False)
        ds = None
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".aux.xml")]
    assert [p.parent for p in leftovers] == [tmp_path] * len(leftovers) and leftovers
    assert all(p.name.startswith("scene.tif.eemodel-") for p in leftovers)
    assert sorted(p.name for p in work.iterdir()) == ["model.eemodel.json"]


def test_cost_guard_sees_whole_window_read_in_strips(predictor, eem_name, make_raster):
    """A window too large for GDAL's block cache is read in strips; the guard still
    counts the whole window before the first strip is sent."""
    src = make_raster(random_array((1, 512, 512), seed=95))
    name = eem_name(src, model="identity", tile=(64, 64), output_bands="output:float32",
                    max_predictions=40)
    old = gdal.GetCacheMax()
    gdal.SetCacheMax(1024 * 1024)  # 64 tiles of 20 KiB do not fit a quarter of it
    try:
        ds = gdal.Open(name)
        with pytest.raises(RuntimeError) as excinfo:
            ds.ReadAsArray()
        assert "64 predictions" in str(excinfo.value)
        with pytest.raises(RuntimeError) as excinfo:
            ds.GetRasterBand(1).ReadAsArray()
        assert "64 predictions" in str(excinfo.value)
        assert predictor.log() == []
        ds = gdal.OpenEx(name, open_options=["MAX_PREDICTIONS=64"])
        got = ds.GetRasterBand(1).ReadAsArray()
        assert np.array_equal(got, gdal.Open(src).ReadAsArray().astype(np.float32))
        assert instances(predictor.log()) == 64
    finally:
        gdal.SetCacheMax(old)
