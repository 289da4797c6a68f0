"""The cost guard decides before any request (issue 12 item 4).

MAX_PREDICTIONS is a budget per opened dataset: a read is refused, before
anything is sent (read-ahead included), when the tiles it would predict plus
those the dataset has sent since it was opened exceed it.  A whole-raster copy
announced with AdviseRead (gdal_translate) is checked whole at the
announcement, so it is refused before its first request; tiles the dataset
already holds cost nothing.  The message is true and names the QGIS spelling.
"""

import subprocess

import numpy as np
import pytest
from osgeo import gdal

from conftest import build_name, config_options

TILE = 16


def raster(make_raster, tiles_x, tiles_y):
    rng = np.random.default_rng(4)
    return make_raster((rng.random((tiles_y * TILE, tiles_x * TILE)) * 10).astype(np.float32))


def run(args, env):
    return subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=600)


@pytest.mark.parametrize("program", [
    ["gdal_translate", "-q"],
    ["gdal_translate", "-q", "-of", "COG"],                  # reads overviews first
    ["gdal_translate", "-q", "-ot", "Float32"],              # through a VRT
    ["gdal_translate", "-q", "-srcwin", "0", "0", "368", "300"],
    ["gdalwarp", "-q", "-overwrite"],
])
def test_whole_raster_copy_over_the_limit_is_refused_before_any_request(
        predictor, make_raster, subprocess_env, tmp_path, program):
    src = raster(make_raster, 23, 23)                                   # 529 tiles
    name = build_name(predictor.url, src, tile=(TILE, TILE), output_bands="out:float32",
                      max_predictions=10)
    result = run(program + [name, str(tmp_path / "out.tif")], subprocess_env)
    assert result.returncode != 0
    assert predictor.log() == []                                        # nothing was sent
    errors = [line for line in result.stderr.splitlines() if "MAX_PREDICTIONS" in line]
    assert errors, result.stderr
    assert "more than MAX_PREDICTIONS=10; nothing was sent" in errors[0]
    assert "|option:MAX_PREDICTIONS=" in errors[0]                      # QGIS spelling
    assert "-oo MAX_PREDICTIONS=" in errors[0]


def test_copy_within_the_limit_costs_one_prediction_per_tile(predictor, make_raster, subprocess_env, tmp_path):
    src = raster(make_raster, 6, 5)                                     # 30 tiles
    name = build_name(predictor.url, src, tile=(TILE, TILE), output_bands="out:float32",
                      max_predictions=30)
    result = run(["gdal_translate", "-q", name, str(tmp_path / "out.tif")], subprocess_env)
    assert result.returncode == 0, result.stderr
    assert sum(r["n_instances"] for r in predictor.log()) == 30
    truth = gdal.Open(src).ReadAsArray()
    assert np.array_equal(gdal.Open(str(tmp_path / "out.tif")).ReadAsArray(), truth)


def test_budget_is_per_opened_dataset(predictor, make_raster):
    src = raster(make_raster, 8, 2)                                     # 16 tiles
    name = build_name(predictor.url, src, tile=(TILE, TILE), output_bands="out:float32",
                      max_predictions=10)
    ds = gdal.Open(name)
    ds.ReadRaster(0, 0, 6 * TILE, TILE)                                 # 6 tiles
    sent = sum(r["n_instances"] for r in predictor.log())
    assert sent == 6
    with pytest.raises(RuntimeError) as e:
        ds.ReadRaster(0, TILE, 6 * TILE, TILE)                          # 6 more: 12 > 10
    message = str(e.value)
    assert "this read needs 6 predictions; with the 6 this dataset has sent since it was " \
           "opened that is more than MAX_PREDICTIONS=10" in message, message
    assert "nothing was sent for it" in message and "MAX_PREDICTIONS=12" in message
    assert sum(r["n_instances"] for r in predictor.log()) == sent       # true: nothing was sent
    # what the dataset holds costs nothing
    ds.FlushCache()                                                     # GDAL's blocks are gone
    ds.ReadRaster(0, 0, 6 * TILE, TILE)
    assert sum(r["n_instances"] for r in predictor.log()) == sent
    # 4 more fit
    ds.ReadRaster(0, TILE, 4 * TILE, TILE)
    assert sum(r["n_instances"] for r in predictor.log()) == 10
    # a new handle has its own budget
    again = gdal.Open(name)
    again.ReadRaster(0, TILE, 6 * TILE, TILE)


def test_whole_band_statistics_over_the_budget_are_refused_before_sending(predictor, make_raster):
    src = raster(make_raster, 4, 4)                                     # 16 tiles
    name = build_name(predictor.url, src, tile=(TILE, TILE), output_bands="out:float32",
                      max_predictions=15)
    ds = gdal.Open(name)
    with pytest.raises(RuntimeError, match=r"this whole-band computation needs 16 predictions, more "
                                           r"than MAX_PREDICTIONS=15; nothing was sent"):
        ds.GetRasterBand(1).ComputeStatistics(False)
    assert predictor.log() == []
