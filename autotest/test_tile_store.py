"""Paying once per tile within one opened dataset (issue 12 item 5).

The dataset keeps the decoded tiles it predicted (core tilestore.c), apart
from GDAL's block cache: in memory up to EEMODEL_TILE_STORE_MEMORY MB, then in
a temporary file up to EEMODEL_TILE_STORE_DISK MB.  A second pass over the
same tiles (the COG driver's, statistics then a copy, a read after the block
cache was flushed) sends nothing.
"""

import subprocess

import numpy as np
import pytest
from osgeo import gdal

from conftest import build_name, config_options

TILE = 32


def raster(make_raster, tiles_x, tiles_y):
    rng = np.random.default_rng(9)
    return make_raster((rng.random((tiles_y * TILE, tiles_x * TILE)) * 10).astype(np.float32))


def instances(predictor):
    return sum(r["n_instances"] for r in predictor.log())


def test_cog_export_predicts_each_tile_once(predictor, make_raster, subprocess_env, tmp_path):
    src = raster(make_raster, 7, 5)                                     # 35 tiles
    name = build_name(predictor.url, src, tile=(TILE, TILE), output_bands="out:float32")
    result = subprocess.run(["gdal_translate", "-q", "-of", "COG", "-ot", "Float32", name,
                             str(tmp_path / "out.tif")], env=subprocess_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert instances(predictor) == 35
    out = gdal.Open(str(tmp_path / "out.tif"))
    assert np.array_equal(out.ReadAsArray(), gdal.Open(src).ReadAsArray())


def test_statistics_then_copy_predict_each_tile_once(predictor, make_raster, tmp_path):
    src = raster(make_raster, 6, 4)                                     # 24 tiles
    ds = gdal.Open(build_name(predictor.url, src, tile=(TILE, TILE), output_bands="out:float32"))
    ds.GetRasterBand(1).ComputeStatistics(False)
    assert instances(predictor) == 24
    ds.FlushCache()                                                     # GDAL's blocks are gone
    copy = gdal.Translate(str(tmp_path / "copy.tif"), ds)
    assert instances(predictor) == 24
    assert np.array_equal(copy.ReadAsArray(), gdal.Open(src).ReadAsArray())


@pytest.mark.parametrize("memory,disk,held", [("64", "64", True), ("0", "64", True), ("0", "0", False)])
def test_tiles_come_back_from_memory_or_the_temporary_file(predictor, make_raster, memory, disk, held):
    src = raster(make_raster, 3, 3)                                     # 9 tiles
    with config_options(EEMODEL_TILE_STORE_MEMORY=memory, EEMODEL_TILE_STORE_DISK=disk):
        ds = gdal.Open(build_name(predictor.url, src, tile=(TILE, TILE), output_bands="out:float32"))
    first = ds.ReadAsArray()
    assert instances(predictor) == 9
    ds.FlushCache()
    again = ds.ReadAsArray()
    assert np.array_equal(first, again)
    assert np.array_equal(again, gdal.Open(src).ReadAsArray())
    # held: nothing sent again; no store at all (both bounds 0): every tile again
    assert instances(predictor) == (9 if held else 18)
