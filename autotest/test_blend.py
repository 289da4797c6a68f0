"""OVERLAP_MODE=BLEND (issue 17 item 2): tiles offset by half a tile, blended with a Hann
window (float outputs) or taken from the tile whose centre is nearest (integer outputs).

The reference below recomputes what the driver must produce, set by set, from the
stand-in's own models applied to zero-extended tiles; a seam metric (mean absolute jump
across tile edges over that inside tiles) shows seams reduced on a model whose receptive
field (globalpool: unbounded) exceeds any overlap.
"""

import numpy as np
import pytest
from osgeo import gdal

from conftest import build_name, read_hwc
from predictor import models

T = 32
SIZE = 160  # 5x5 tiles
SETS = [(0, 0), (1, 0), (0, 1), (1, 1)]


@pytest.fixture
def random_rgb(make_raster):
    rng = np.random.default_rng(21)
    return make_raster(rng.integers(0, 256, (3, SIZE, SIZE), dtype=np.uint8))


@pytest.fixture
def smooth_gray(make_raster):
    """A gentle ramp with waves: small jumps inside tiles, different means per tile."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    a = 40 + 0.5 * x + 0.3 * y + 20 * np.sin(x / 9.0) * np.cos(y / 13.0)
    return make_raster(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def open_eem(predictor, src, model, mode, output_bands="output:float32", **extra):
    return gdal.Open(build_name(predictor.url, src, model=model, tile=(T, T),
                                output_bands=output_bands, overlap_mode=mode, **extra))


def hann(x):
    return np.sin(np.pi * (x + 0.5) / T) ** 2


def set_outputs(x, model):
    """Per set: (model output of the tile holding each pixel, weight of the pixel), each
    (SIZE, SIZE) — tiles cut from the image zero-extended, as the driver sends them."""
    pad = T
    z = np.zeros((SIZE + 2 * pad, SIZE + 2 * pad, x.shape[2]))
    z[pad:pad + SIZE, pad:pad + SIZE] = x
    result = []
    for sx, sy in SETS:
        ox, oy = sx * T // 2, sy * T // 2
        out = np.zeros((SIZE, SIZE))
        weight = np.zeros((SIZE, SIZE))
        for ty in range(-1, SIZE // T + 1):
            for tx in range(-1, SIZE // T + 1):
                x0, y0 = ox + tx * T, oy + ty * T
                if x0 + T <= 0 or y0 + T <= 0 or x0 >= SIZE or y0 >= SIZE:
                    continue
                tile = z[pad + y0:pad + y0 + T, pad + x0:pad + x0 + T]
                o = models.run(model, tile)["output"][:, :, 0].astype(np.float64)
                ys = slice(max(y0, 0), min(y0 + T, SIZE))
                xs = slice(max(x0, 0), min(x0 + T, SIZE))
                out[ys, xs] = o[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
                ly = np.arange(ys.start, ys.stop) - y0
                lx = np.arange(xs.start, xs.stop) - x0
                weight[ys, xs] = hann(ly)[:, None] * hann(lx)[None, :]
        result.append((out, weight))
    return result


def seam_ratio(a):
    """Mean absolute jump across tile edges over the mean jump inside tiles."""
    dx = np.abs(np.diff(a, axis=1))
    dy = np.abs(np.diff(a, axis=0))
    edge_x = np.zeros(dx.shape[1], bool)
    edge_x[T - 1::T] = True
    edge_y = np.zeros(dy.shape[0], bool)
    edge_y[T - 1::T] = True
    edge = np.concatenate([dx[:, edge_x].ravel(), dy[edge_y, :].ravel()])
    inner = np.concatenate([dx[:, ~edge_x].ravel(), dy[~edge_y, :].ravel()])
    return edge.mean() / inner.mean()


def test_blend_of_a_pixelwise_model_is_the_model(predictor, random_rgb):
    # the four sets' weights sum to 1 and the offset tiles line up: identity stays identity
    ds = open_eem(predictor, random_rgb, "identity", "BLEND", output_bands="output:float32:3")
    got = np.stack([ds.GetRasterBand(b + 1).ReadAsArray() for b in range(3)], axis=-1)
    np.testing.assert_allclose(got, read_hwc(random_rgb), atol=1e-3)


def test_blend_matches_the_hann_reference_and_reduces_seams(predictor, smooth_gray):
    crop_ds = open_eem(predictor, smooth_gray, "globalpool", "CROP")
    crop = crop_ds.ReadAsArray().astype(np.float64)
    blend_ds = open_eem(predictor, smooth_gray, "globalpool", "BLEND")
    blend = blend_ds.ReadAsArray().astype(np.float64)
    sets = set_outputs(read_hwc(smooth_gray), "globalpool")
    total = sum(w for _, w in sets)
    np.testing.assert_allclose(total, 1.0, atol=1e-9)
    want = sum(o * w for o, w in sets) / total
    np.testing.assert_allclose(blend, want, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(crop, sets[0][0], rtol=1e-5, atol=1e-3)
    crop_seams, blend_seams = seam_ratio(crop), seam_ratio(blend)
    assert crop_seams > 3.0, crop_seams
    assert blend_seams < crop_seams / 3, (crop_seams, blend_seams)


def test_blend_integer_output_takes_the_nearest_centre(predictor, smooth_gray):
    ds = open_eem(predictor, smooth_gray, "globalpool", "BLEND", output_bands="output:int16")
    got = ds.ReadAsArray().astype(np.float64)
    sets = set_outputs(read_hwc(smooth_gray), "globalpool")
    weights = np.stack([w for _, w in sets])
    values = np.stack([o for o, _ in sets])
    best = np.take_along_axis(values, np.argmax(weights, axis=0)[None], axis=0)[0]
    assert np.all(np.abs(got - best) <= 0.5 + 1e-6)
    # and it is not the crop everywhere: offset tiles own the pixels near tile edges
    crop = sets[0][0]
    assert np.any(np.abs(got - crop) > 1)


def test_blend_is_window_independent(predictor, smooth_gray):
    ds = open_eem(predictor, smooth_gray, "globalpool", "BLEND")
    whole = ds.ReadAsArray()
    ds = None
    ds = open_eem(predictor, smooth_gray, "globalpool", "BLEND")
    part = ds.ReadAsArray(50, 40, 80, 60)
    np.testing.assert_array_equal(part, whole[40:100, 50:130])


def test_blend_cost_lines_and_requests(predictor, smooth_gray):
    ds = open_eem(predictor, smooth_gray, "globalpool", "BLEND")
    tiles = 5 * 5 + 6 * 5 + 5 * 6 + 6 * 6
    md = ds.GetMetadata("EEMODEL")
    assert md["LEVEL_0_PREDICTIONS"] == str(tiles)
    assert ds.GetMetadataItem("EEMODEL_COST").startswith("%dx%d: %d predictions" % (SIZE, SIZE, tiles))
    assert "OVERLAP_MODE=BLEND" in ds.GetMetadataItem("EEMODEL_COST")
    crop = open_eem(predictor, smooth_gray, "globalpool", "CROP")
    assert crop.GetMetadata("EEMODEL")["LEVEL_0_PREDICTIONS"] == "25"
    assert predictor.log() == []
    ds.ReadAsArray()
    log = predictor.log()
    assert sum(r["n_instances"] for r in log) == tiles


def test_blend_cost_guard_counts_every_set(predictor, smooth_gray):
    # 25 blocks pass a plan of MAX_PREDICTIONS/4; their 121 predictions do not pass 100
    ds = open_eem(predictor, smooth_gray, "globalpool", "BLEND", max_predictions=100)
    with pytest.raises(RuntimeError) as e:
        ds.ReadAsArray()
    assert "OVERLAP_MODE=BLEND" in str(e.value)
    assert "121 predictions" in str(e.value) and "MAX_PREDICTIONS=100" in str(e.value)
    assert predictor.log() == []


def test_blend_bad_settings(predictor, smooth_gray):
    with pytest.raises(RuntimeError) as e:
        open_eem(predictor, smooth_gray, "globalpool", "FEATHER")
    assert "OVERLAP_MODE" in str(e.value) and "CROP or BLEND" in str(e.value)
    with pytest.raises(RuntimeError) as e:
        gdal.Open(build_name(predictor.url, smooth_gray, model="globalpool", tile=(31, 31),
                             overlap_mode="BLEND"))
    assert "OVERLAP_MODE=BLEND" in str(e.value) and "even" in str(e.value)
