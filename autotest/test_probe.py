"""PROBE=YES (issue 17 item 1): the driver measures the model with a handful of tiles.

Stand-in models with known answers: conv (receptive radius CONV_RADIUS), identity
(radius 0), globalpool (unbounded), batchshift (radius CONV_RADIUS alone, shifted by
batch statistics in a batch) and noisy (conv plus noise).  Each test reads the findings
from the metadata and checks them against what the model is known to do, and the
requests the stand-in saw against the cost the probe stated.
"""

import subprocess

import numpy as np
import pytest
from osgeo import gdal

from conftest import build_name, read_hwc
from predictor import models

TILE = 32
SIZE = 160  # 5x5 tiles: the probe tile is (2,2)
PROBE_TILE = (2, 2)
BATCH = 8   # EEM_PROBE_MAX_BATCH: these tiles fit one request many times over


@pytest.fixture
def random_rgb(make_raster):
    rng = np.random.default_rng(17)
    return make_raster(rng.integers(0, 256, (3, SIZE, SIZE), dtype=np.uint8))


@pytest.fixture
def random_gray(make_raster):
    rng = np.random.default_rng(18)
    return make_raster(rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8))


def probe_open(predictor, src, model, overlap=(0, 0), **extra):
    name = build_name(predictor.url, src, model=model, tile=(TILE, TILE), overlap=overlap,
                      probe="YES", **extra)
    ds = gdal.Open(name)
    md = ds.GetMetadata("EEMODEL")
    text = ds.GetMetadata()
    return ds, md, text


def batch_tiles():
    """The tiles of the batch request: the probe tile, then the nearest to the centre tile
    (squared distance, then row-major) -- every tile of these rasters is valid."""
    n = SIZE // TILE
    c = n // 2
    order = sorted(((tx - c) ** 2 + (ty - c) ** 2, ty, tx) for ty in range(n) for tx in range(n))
    return [(tx, ty) for _, ty, tx in order][:BATCH]


def tile_input(x, tx, ty):
    return x[ty * TILE:(ty + 1) * TILE, tx * TILE:(tx + 1) * TILE]


def check_cost_matches_requests(predictor, md, text):
    log = predictor.log()
    assert len(log) == int(md["PROBE_REQUESTS"]) == 5
    assert sum(r["n_instances"] for r in log) == int(md["PROBE_PREDICTIONS"]) == 4 + BATCH
    assert [r["n_instances"] for r in log] == [1, 1, 1, 1, BATCH]
    assert all(r["status"] == 200 for r in log)
    # the cost was stated, in plain text, and it is what was sent
    assert text["EEMODEL_PROBE_COST"].startswith("%d predictions of tile (2,2)" % (4 + BATCH))
    assert "in 5 requests" in text["EEMODEL_PROBE_COST"]


def test_probe_conv_radius_overlap_and_ranges(predictor, random_rgb):
    ds, md, text = probe_open(predictor, random_rgb, "conv")
    check_cost_matches_requests(predictor, md, text)
    assert md["PROBE_TILE"] == "2,2"
    assert md["PROBE_RECEPTIVE_RADIUS"] == str(models.CONV_RADIUS)
    assert text["EEMODEL_PROBE_RECEPTIVE_RADIUS"].startswith("3 input pixels")
    assert md["PROBE_SEAM_FREE_OVERLAP"] == "3"
    assert md["PROBE_CURRENT_SEAM_FREE"] == "NO"
    assert "INPUT_OVERLAP_SIZE=3,3 makes reads seam-free" in text["EEMODEL_PROBE_OVERLAP"]
    assert "leaves seams" in text["EEMODEL_PROBE_OVERLAP"]
    assert md["PROBE_DETERMINISTIC"] == "YES" and float(md["PROBE_REPEAT_MAX_DIFF"]) == 0
    assert md["PROBE_BATCH_INVARIANT"] == "YES" and float(md["PROBE_BATCH_MAX_DIFF"]) == 0
    assert md["PROBE_BATCH_SIZE"] == str(BATCH)
    assert md["PROBE_ANSWER"] == "SAME"
    # advice: the overlap is the radius; the advised tile fits and wastes less than
    # the current tile would with that overlap
    assert md["PROBE_ADVISED_OVERLAP"] == "3,3"
    side = int(md["PROBE_ADVISED_TILE_SIZE"].split(",")[0])
    assert side > TILE and side % 8 == 0
    assert float(md["PROBE_ADVISED_WASTE"]) == pytest.approx(1 - side ** 2 / (side + 6) ** 2, abs=1e-4)
    payload_limit = 1500000
    assert float(md["PROBE_ADVISED_BYTES_PER_OUTPUT_PIXEL"]) * side * side < payload_limit
    # output ranges: every tile predicted unperturbed (alone, then the batch)
    x = read_hwc(random_rgb)
    outs = [models.conv(tile_input(x, tx, ty)) for tx, ty in batch_tiles()]
    assert float(md["PROBE_BAND_1_MIN"]) == pytest.approx(min(o.min() for o in outs), rel=1e-6)
    assert float(md["PROBE_BAND_1_MAX"]) == pytest.approx(max(o.max() for o in outs), rel=1e-6)
    assert text["EEMODEL_PROBE_OUTPUT_RANGES"].startswith("output ")


def test_probe_identity_radius_zero(predictor, random_gray):
    ds, md, text = probe_open(predictor, random_gray, "identity")
    assert md["PROBE_RECEPTIVE_RADIUS"] == "0"
    assert md["PROBE_SEAM_FREE_OVERLAP"] == "0"
    assert md["PROBE_CURRENT_SEAM_FREE"] == "YES"
    assert md["PROBE_ADVISED_OVERLAP"] == "0,0"
    assert float(md["PROBE_BAND_1_MIN"]) >= 0 and float(md["PROBE_BAND_1_MAX"]) <= 255


def test_probe_padded_and_cropped_answers(predictor, random_rgb):
    ds, md, text = probe_open(predictor, random_rgb, "conv", overlap=(3, 3))
    assert md["PROBE_ANSWER"] == "PADDED"
    assert text["EEMODEL_PROBE_ANSWER_SIZE"].startswith("padded: 38x38")
    assert md["PROBE_RECEPTIVE_RADIUS"] == "3"
    assert md["PROBE_CURRENT_SEAM_FREE"] == "YES"
    assert float(md["PROBE_CURRENT_WASTE"]) == pytest.approx(1 - 32 ** 2 / 38 ** 2, abs=1e-4)
    ds = None
    predictor.config(answer="core:3,3")
    ds, md, text = probe_open(predictor, random_rgb, "conv", overlap=(3, 3))
    assert md["PROBE_ANSWER"] == "CROPPED"
    assert text["EEMODEL_PROBE_ANSWER_SIZE"].startswith("cropped: 32x32")


def test_probe_global_pooling_is_unbounded(predictor, random_rgb):
    ds, md, text = probe_open(predictor, random_rgb, "globalpool")
    assert md["PROBE_RECEPTIVE_RADIUS"] == "UNBOUNDED"
    # the centre pixel of a 32-pixel core is 15 pixels from its nearest edge
    assert md["PROBE_RECEPTIVE_RADIUS_AT_LEAST"] == "15"
    assert text["EEMODEL_PROBE_RECEPTIVE_RADIUS"].startswith("unbounded")
    assert md["PROBE_SEAM_FREE_OVERLAP"] == "NONE"
    assert md["PROBE_CURRENT_SEAM_FREE"] == "NO"
    assert "no overlap makes reads seam-free" in text["EEMODEL_PROBE_OVERLAP"]
    assert md["PROBE_DETERMINISTIC"] == "YES"
    assert md["PROBE_BATCH_INVARIANT"] == "YES"


def test_probe_batch_dependent_model(predictor, random_rgb):
    ds, md, text = probe_open(predictor, random_rgb, "batchshift")
    check_cost_matches_requests(predictor, md, text)
    assert md["PROBE_RECEPTIVE_RADIUS"] == "3"   # alone it is conv
    assert md["PROBE_DETERMINISTIC"] == "YES"
    assert md["PROBE_BATCH_INVARIANT"] == "NO"
    assert text["EEMODEL_PROBE_BATCH_INVARIANT"].startswith("no (the tile alone vs in a batch of 8")
    x = read_hwc(random_rgb)
    means = [models.channel_mean(tile_input(x, tx, ty)).mean() for tx, ty in batch_tiles()]
    want = abs(sum(means) / len(means) - means[0])
    assert want > 0.01
    assert float(md["PROBE_BATCH_MAX_DIFF"]) == pytest.approx(want, abs=1e-3)


def test_probe_noisy_model(predictor, random_rgb):
    ds, md, text = probe_open(predictor, random_rgb, "noisy")
    assert md["PROBE_DETERMINISTIC"] == "NO"
    diff = float(md["PROBE_REPEAT_MAX_DIFF"])
    assert 0 < diff <= 2 * models.NOISY_AMPLITUDE + 1e-4
    # the threshold rises above the noise, so the radius is still conv's
    assert float(md["PROBE_TOLERANCE"]) == pytest.approx(4 * diff, rel=1e-3)
    assert md["PROBE_RECEPTIVE_RADIUS"] == "3"
    assert md["PROBE_BATCH_INVARIANT"] == "YES"
    assert text["EEMODEL_PROBE_DETERMINISTIC"].startswith("no (the same tile twice")


def test_probe_one_tile_per_request_leaves_batch_untested(predictor, random_rgb):
    # 32x32x3 bytes encode to ~4 KB: a 5000-byte limit holds one tile per request
    ds, md, text = probe_open(predictor, random_rgb, "conv", max_payload_bytes=5000)
    assert md["PROBE_BATCH_INVARIANT"] == "UNTESTED"
    assert md["PROBE_BATCH_SIZE"] == "1"
    log = predictor.log()
    assert len(log) == 4 == int(md["PROBE_REQUESTS"])
    assert max(r["body_bytes"] for r in log) <= 5000
    assert md["PROBE_RECEPTIVE_RADIUS"] == "3"
    side = int(md["PROBE_ADVISED_TILE_SIZE"].split(",")[0])
    assert side < TILE  # a larger tile would not fit 5000 bytes with the overlap


def test_probe_skips_a_masked_centre(predictor, make_raster):
    rng = np.random.default_rng(19)
    a = rng.integers(1, 256, (3, SIZE, SIZE), dtype=np.uint8)
    a[:, 2 * TILE:3 * TILE, 2 * TILE:3 * TILE] = 0   # the centre tile is all nodata
    a[:, 1 * TILE + 5, 2 * TILE + 7] = 0              # and (2,1) has one nodata pixel
    src = make_raster(a, nodata=0)
    ds, md, text = probe_open(predictor, src, "conv")
    # the nearest wholly valid tile: (1,2) (same distance as (2,1), which has a hole)
    assert md["PROBE_TILE"] == "1,2"
    assert md["PROBE_RECEPTIVE_RADIUS"] == "3"
    log = predictor.log()
    # the batch leaves the all-nodata centre out, and is still full
    assert [r["n_instances"] for r in log] == [1, 1, 1, 1, BATCH]
    assert int(md["PROBE_PREDICTIONS"]) == 4 + BATCH


def test_probe_cost_guard_refuses_before_sending(predictor, random_rgb):
    name = build_name(predictor.url, random_rgb, model="conv", tile=(TILE, TILE), probe="YES",
                      max_predictions=5)
    with pytest.raises(RuntimeError) as e:
        gdal.Open(name)
    assert "the probe (PROBE=YES) needs %d predictions" % (4 + BATCH) in str(e.value)
    assert "MAX_PREDICTIONS=5" in str(e.value)
    assert predictor.log() == []


def test_probe_bad_value_and_default_off(predictor, random_rgb):
    with pytest.raises(RuntimeError) as e:
        gdal.Open(build_name(predictor.url, random_rgb, model="conv", tile=(TILE, TILE),
                             probe="maybe"))
    assert "PROBE" in str(e.value) and "maybe" in str(e.value) and "YES" in str(e.value)
    ds = gdal.Open(build_name(predictor.url, random_rgb, model="conv", tile=(TILE, TILE)))
    assert not any(k.startswith("PROBE") for k in ds.GetMetadata("EEMODEL"))
    assert not any(k.startswith("EEMODEL_PROBE") for k in ds.GetMetadata())
    assert predictor.log() == []


def test_probe_failure_names_the_probe(predictor, random_rgb):
    predictor.fault(kind="status", status=400, count=1)
    with pytest.raises(RuntimeError) as e:
        probe_open(predictor, random_rgb, "conv")
    assert "PROBE=YES" in str(e.value)


def test_gdalinfo_shows_the_probe_in_plain_text(predictor, random_rgb, subprocess_env, tmp_path):
    name = build_name(predictor.url, random_rgb, model="conv", tile=(TILE, TILE))
    out = subprocess.run(["gdalinfo", "-oo", "PROBE=YES", name], env=subprocess_env,
                         cwd=str(tmp_path), capture_output=True, text=True, check=True).stdout
    assert "EEMODEL_PROBE_COST=12 predictions" in out
    assert "EEMODEL_PROBE_RECEPTIVE_RADIUS=3 input pixels" in out
    assert "EEMODEL_PROBE_OVERLAP=INPUT_OVERLAP_SIZE=3,3 makes reads seam-free" in out
    assert "EEMODEL_PROBE_DETERMINISTIC=yes" in out
    assert "EEMODEL_PROBE_BATCH_INVARIANT=yes" in out
    assert len(predictor.log()) == 5


def test_probe_advised_overlap_makes_reads_seam_free(predictor, random_rgb):
    # what the probe advises, checked against the model applied to the whole image
    ds, md, text = probe_open(predictor, random_rgb, "conv")
    overlap = int(md["PROBE_SEAM_FREE_OVERLAP"])
    ds = None
    want = models.conv_padded(read_hwc(random_rgb))[:, :, 0]
    for o, seam_free in ((overlap, True), (overlap - 1, False)):
        ds = gdal.Open(build_name(predictor.url, random_rgb, model="conv", tile=(TILE, TILE),
                                  overlap=(o, o)))
        diff = np.abs(ds.GetRasterBand(1).ReadAsArray() - want).max()
        assert (diff < 1e-3) == seam_free, (o, diff)
        ds = None
