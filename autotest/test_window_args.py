"""Reads whose caller's extra argument describes another window (issue 12 item 0):
VRT whole-raster reads and gdal_translate -srcwin with a small GDAL_CACHEMAX go
in strips, and each strip reads its own rows."""

import subprocess

import numpy as np
from osgeo import gdal

from conftest import config_options


def scene(make_raster, height=700, width=760, seed=70):
    """Three Byte bands of noise with a masked (nodata 0) frame and hole."""
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 256, size=(3, height, width)).astype(np.uint8)
    data[:, :40, :] = 0
    data[:, :, -30:] = 0
    data[:, 300:360, 200:330] = 0
    return make_raster(data, nodata=0)


def whole(ds):
    return ds.ReadAsArray(), ds.GetRasterBand(1).GetMaskBand().ReadAsArray()


def test_vrt_whole_read_small_cache(predictor, eem_name, make_raster, tmp_path):
    path = scene(make_raster)
    name = eem_name(path, model="identity", tile=(64, 64), output_bands="output:float32:3")
    with config_options(GDAL_CACHEMAX="512"):
        ds = gdal.Open(name)
        want, want_mask = whole(ds)
        ds = None
    tiles = 12 * 11
    assert want_mask.min() == 0 and want_mask.max() == 255
    vrt = str(tmp_path / "eem.vrt")
    gdal.BuildVRT(vrt, [name]).FlushCache()
    predictor.reset()
    gdal.SetCacheMax(16 * 1024 * 1024)
    try:
        with config_options(GDAL_CACHEMAX="16"):
            vds = gdal.Open(vrt)
            got = vds.ReadAsArray()
            got_mask = vds.GetRasterBand(1).GetMaskBand().ReadAsArray()
    finally:
        gdal.SetCacheMax(512 * 1024 * 1024)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(got_mask, want_mask)
    # about one prediction per tile (the mask needs none), not one per strip row
    n = sum(r["n_instances"] for r in predictor.log())
    assert tiles <= n <= tiles + tiles // 10, n


def test_translate_srcwin_small_cache(predictor, eem_name, make_raster, tmp_path, subprocess_env):
    path = scene(make_raster, seed=71)
    name = eem_name(path, model="identity", tile=(64, 64), output_bands="output:float32:3")
    x0, y0, w, h = 20, 30, 700, 640
    with config_options(GDAL_CACHEMAX="512"):
        ds = gdal.Open(name)
        want = ds.ReadAsArray(x0, y0, w, h)
        want_mask = ds.GetRasterBand(1).GetMaskBand().ReadAsArray(x0, y0, w, h)
        ds = None
    assert want_mask.min() == 0 and want_mask.max() == 255
    predictor.reset()
    out = tmp_path / "out.tif"
    env = dict(subprocess_env, GDAL_CACHEMAX="16", GDAL_TIFF_INTERNAL_MASK="NO")
    result = subprocess.run(["gdal_translate", "-q", "-srcwin", str(x0), str(y0), str(w), str(h),
                             name, str(out)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.tif.msk").exists()
    got = gdal.Open(str(out))
    assert np.array_equal(got.ReadAsArray(), want, equal_nan=True)
    assert np.array_equal(got.GetRasterBand(1).GetMaskBand().ReadAsArray(), want_mask)
    # every tile under the window once (or twice at most, should one be evicted)
    tiles = 12 * 11
    n = sum(r["n_instances"] for r in predictor.log())
    assert tiles <= n <= tiles + tiles // 10, n
