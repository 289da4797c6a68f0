"""Concurrency, batching and "each tile once" (DESIGN.md section 5).

Identical pixels whatever EEMODEL_MAX_CONNECTIONS (1 or 16) and with or without the
persistent cache; requests really overlap up to the connection cap; requests are as full
as MAX_PAYLOAD_BYTES allows; band-by-band reads (QGIS), block reads, gdal_translate and
a read larger than GDAL's block cache predict every tile exactly once.
"""

import math
import subprocess

import numpy as np
import pytest
from osgeo import gdal

from conftest import TOKEN, build_name, config_options
from predictor import models
from predictor.harness import StandIn

LATENCY = 0.1


def random_raster(make_raster, shape=(3, 200, 300), seed=30):
    rng = np.random.default_rng(seed)
    return make_raster(rng.integers(1, 256, size=shape).astype(np.uint8))


def n_instances(server):
    return sum(r["n_instances"] for r in server.log())


def max_overlap(records):
    """Most requests being processed by the server at one moment."""
    events = sorted([(r["t_start"], 1) for r in records] + [(r["t_end"], -1) for r in records],
                    key=lambda e: (e[0], e[1]))
    depth = best = 0
    for _, step in events:
        depth += step
        best = max(best, depth)
    return best


@pytest.fixture(scope="module")
def slow_server_process():
    """A stand-in with 8 workers and LATENCY seconds per request."""
    server = StandIn.start(token=TOKEN, workers=8, latency=LATENCY)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def slow_server(slow_server_process):
    """The slow stand-in on a port of this test's own (no request of another test reaches it)."""
    return slow_server_process.renew()


def test_same_pixels_with_1_and_16_connections_and_cache(predictor, eem_name, make_raster,
                                                         tools, tmp_path):
    src = random_raster(make_raster)
    expected = models.conv_padded(tools.read_hwc(src))[:, :, 0]
    name = eem_name(src, model="conv", tile=(32, 32), overlap=(3, 3), max_payload_bytes=30000)
    results = {}
    for connections in ("1", "16"):
        with config_options(EEMODEL_MAX_CONNECTIONS=connections):
            predictor.reset()
            results[connections] = gdal.Open(name).ReadAsArray()
            assert n_instances(predictor) == 70      # 7 x 10 tiles, each once
            assert len(predictor.log()) > 10          # several requests, so concurrency matters
    cache = str(tmp_path / "cache")
    cached = eem_name(src, model="conv", tile=(32, 32), overlap=(3, 3), max_payload_bytes=30000,
                      cache_dir=cache)
    for connections in ("16", "1"):                 # cold, then warm
        with config_options(EEMODEL_MAX_CONNECTIONS=connections):
            predictor.reset()
            results["cache" + connections] = gdal.Open(cached).ReadAsArray()
    assert predictor.log() == []
    for got in results.values():
        assert np.array_equal(got, expected)


def test_requests_overlap_up_to_the_connection_cap(slow_server, make_raster):
    src = random_raster(make_raster, shape=(1, 128, 256))
    name = build_name(slow_server.url, src, model="conv", tile=(32, 32), overlap=(3, 3),
                      max_payload_bytes=6000)
    overlaps = {}
    for connections in ("1", "4"):
        with config_options(EEMODEL_MAX_CONNECTIONS=connections):
            slow_server.reset()
            if connections == "4":
                # the first 4 requests wait for one another: they are in flight together
                # only if the driver really sends 4 at once (no race with the machine's speed)
                slow_server.fault(kind="gate", count=4)
            gdal.Open(name).ReadAsArray()
            records = slow_server.log()
            assert sum(r["n_instances"] for r in records) == 32
            assert len(records) >= 8
            assert not any((r["error"] or "").startswith("gate broken") for r in records)
            overlaps[connections] = max_overlap(records)
    assert overlaps["1"] == 1
    assert overlaps["4"] == 4


def test_requests_are_full(predictor, eem_name, make_raster):
    src = random_raster(make_raster, shape=(1, 160, 320))
    limit = 25000
    gdal.Open(eem_name(src, model="conv", tile=(32, 32), overlap=(3, 3),
                       max_payload_bytes=limit)).ReadAsArray()
    records = predictor.log()
    sizes = [(r["body_bytes"], r["n_instances"]) for r in records]
    assert all(b <= limit for b, _ in sizes)
    # every instance encodes to the same size (raw tensor_content of one tile
    # geometry): measure it against a request of exactly one tile
    b1, n1 = max(sizes, key=lambda s: s[1])
    assert n1 > 1
    predictor.reset()
    one_tile = random_raster(make_raster, shape=(1, 32, 32), seed=31)
    gdal.Open(eem_name(one_tile, model="conv", tile=(32, 32), overlap=(3, 3),
                       max_payload_bytes=limit)).ReadAsArray()
    (single,) = [r["body_bytes"] for r in predictor.log()]
    per_instance = (b1 - single) / (n1 - 1)
    assert b1 + per_instance > limit                  # one more would not have fitted
    full = n1
    assert len(records) == math.ceil(50 / full)       # one read: the minimum number of requests
    assert sum(n for _, n in sizes) == 50


def test_band_by_band_block_reads_predict_each_tile_once(predictor, eem_name, make_raster):
    src = random_raster(make_raster, shape=(3, 96, 160))
    ds = gdal.Open(eem_name(src, model="classify", tile=(32, 32), overlap=(2, 2),
                            output_bands="probs:float32:3,class:uint8"))
    tiles = 3 * 5
    # QGIS: one band at a time, window by window, then the mask
    for b in range(1, ds.RasterCount + 1):
        band = ds.GetRasterBand(b)
        for y in (0, 48):
            band.ReadRaster(0, y, 160, 48)
    ds.GetRasterBand(1).GetMaskBand().ReadRaster(0, 0, 160, 96)
    # block by block (IReadBlock), another band first
    for y in range(3):
        for x in range(5):
            ds.GetRasterBand(4).ReadBlock(x, y)
    assert n_instances(predictor) == tiles
    assert len(predictor.log()) <= 2


def test_read_larger_than_block_cache_predicts_each_tile_once(predictor, eem_name, make_raster):
    # 12 x 16 tiles of 64x64 float32 x 3 bands + mask = 12.6 MB, cache 4 MB
    src = random_raster(make_raster, shape=(3, 768, 1024))
    name = eem_name(src, model="identity", tile=(64, 64), output_bands="output:float32:3")
    old = gdal.GetCacheMax()
    gdal.SetCacheMax(4 * 1024 * 1024)
    try:
        got = gdal.Open(name).ReadAsArray()
    finally:
        gdal.SetCacheMax(old)
    assert n_instances(predictor) == 12 * 16
    assert np.array_equal(got, gdal.Open(src).ReadAsArray().astype(np.float32))


def test_gdal_translate_predicts_each_tile_once(predictor, make_raster, tmp_path, subprocess_env):
    # a 2 MB block cache: the bands' blocks are long evicted when GDAL copies the
    # mask, which is then computed from the source, not predicted again
    rng = np.random.default_rng(3)
    array = rng.integers(1, 256, size=(2, 512, 640)).astype(np.uint8)
    array[:, 100:300, 50:170] = 0          # nodata: 5 x 3 tiles entirely, more partly
    src = make_raster(array, nodata=0)
    name = build_name(predictor.url, src, model="conv", tile=(32, 32), overlap=(3, 3),
                      max_payload_bytes=60000)
    out = tmp_path / "out.tif"
    subprocess.run(["gdal_translate", "-q", "--config", "GDAL_CACHEMAX", "2", name, str(out)],
                   env=subprocess_env, check=True)
    fully_masked = 5 * 3                   # tiles whose core is all nodata are never sent
    assert n_instances(predictor) == 16 * 20 - fully_masked
    ref = gdal.Open(build_name(predictor.url, src, model="conv", tile=(32, 32), overlap=(3, 3)))
    got = gdal.Open(str(out))
    assert np.array_equal(got.ReadAsArray(), ref.ReadAsArray(), equal_nan=True)
    mask = got.GetRasterBand(1).GetMaskBand().ReadAsArray()
    assert np.array_equal(mask, ref.GetRasterBand(1).GetMaskBand().ReadAsArray())
    assert (mask == 0).sum() == 200 * 120
