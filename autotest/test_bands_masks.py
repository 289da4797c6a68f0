"""Output bands, input tensors (keys, BANDS, INPUT_ARRAY), masks and NODATA."""

import numpy as np
import pytest
from osgeo import gdal

from predictor import models


def random_rgb(make_raster, height=90, width=130, seed=10, descriptions=None):
    rng = np.random.default_rng(seed)
    return make_raster(rng.integers(1, 256, size=(3, height, width)).astype(np.uint8),
                       descriptions=descriptions)


# ---------------------------------------------------------------------------
# outputs -> bands


def test_classify_named_array_output(predictor, eem_name, make_raster, tools):
    path = random_rgb(make_raster)
    src = tools.read_hwc(path)
    ds = gdal.Open(eem_name(path, model="classify", tile=(64, 40), overlap=(2, 2),
                            output_bands="probs:float32:bare/veg/water,class:uint8"))
    assert ds.RasterCount == 4
    assert [ds.GetRasterBand(b + 1).GetDescription() for b in range(4)] == ["bare", "veg", "water", "class"]
    assert [ds.GetRasterBand(b + 1).DataType for b in range(4)] == \
        [gdal.GDT_Float32, gdal.GDT_Float32, gdal.GDT_Float32, gdal.GDT_Byte]
    probs = np.stack([ds.GetRasterBand(b + 1).ReadAsArray() for b in range(3)])
    klass = ds.GetRasterBand(4).ReadAsArray()
    expected = models.classify(src)
    assert probs.shape == (3, 90, 130)
    np.testing.assert_allclose(probs, np.moveaxis(expected["probs"], -1, 0), rtol=1e-6, atol=1e-7)
    assert klass.dtype == np.uint8
    assert np.array_equal(klass, expected["class"])
    # both reachable classes occur, and the probabilities differ per band, so a
    # band permutation would show
    assert set(np.unique(klass)) == {0, 1}
    assert not np.array_equal(probs[0], probs[2])
    # one answer per tile filled all four bands
    assert sum(r["n_instances"] for r in predictor.log()) == 3 * 3


def test_array_output_default_names(eem_name, make_raster):
    path = random_rgb(make_raster, seed=11)
    ds = gdal.Open(eem_name(path, model="classify", tile=(64, 40),
                            output_bands="probs:float32:3,class:uint8"))
    assert ds.RasterCount == 4
    assert [ds.GetRasterBand(b + 1).GetDescription() for b in range(4)] == \
        ["probs_0", "probs_1", "probs_2", "class"]
    # outputs in declared order, not the server's: class first
    ds2 = gdal.Open(eem_name(path, model="classify", tile=(64, 40),
                             output_bands="class:uint8,probs:float32:3"))
    assert [ds2.GetRasterBand(b + 1).GetDescription() for b in range(4)] == \
        ["class", "probs_0", "probs_1", "probs_2"]
    assert ds2.GetRasterBand(1).DataType == gdal.GDT_Byte
    a = ds.ReadAsArray()
    b = ds2.ReadAsArray()
    assert np.array_equal(a[3], b[0])
    assert np.array_equal(a[:3], b[1:])


@pytest.mark.parametrize("declared,gdal_type,np_type", [
    ("float64", gdal.GDT_Float64, np.float64), ("int16", gdal.GDT_Int16, np.int16),
    ("uint16", gdal.GDT_UInt16, np.uint16), ("int32", gdal.GDT_Int32, np.int32),
    ("uint8", gdal.GDT_Byte, np.uint8)])
def test_declared_output_type(eem_name, make_raster, tools, declared, gdal_type, np_type):
    path = random_rgb(make_raster, seed=12)
    ds = gdal.Open(eem_name(path, model="identity", tile=(64, 40),
                            output_bands="output:%s:3" % declared))
    assert [ds.GetRasterBand(b + 1).DataType for b in range(3)] == [gdal_type] * 3
    got = ds.ReadAsArray()
    assert got.dtype == np_type
    assert np.array_equal(got, np.moveaxis(tools.read_hwc(path), -1, 0).astype(np_type))


# ---------------------------------------------------------------------------
# input tensors


def test_input_array_stacks_bands(predictor, eem_name, make_raster, tools):
    path = random_rgb(make_raster, seed=13)
    ds = gdal.Open(eem_name(path, model="identity", tile=(64, 40), overlap=(3, 1),
                            output_bands="output:float32:3", input_array="array"))
    got = ds.ReadAsArray()
    assert np.array_equal(got, np.moveaxis(tools.read_hwc(path), -1, 0).astype(np.float32))
    log = predictor.log()
    assert log
    for record in log:
        assert record["keys"] == ["array"]
        assert record["shapes"] == {"array": [42, 70, 3]}
        assert record["dtypes"] == {"array": "uint8"}


def test_one_tensor_per_band_default_keys(predictor, eem_name, rgb_byte, tools):
    ds = gdal.Open(eem_name(rgb_byte, model="identity", tile=(128, 100), overlap=(2, 4),
                            output_bands="output:float32:3"))
    got = ds.ReadAsArray(200, 200, 300, 250)
    src = tools.read_hwc(rgb_byte)
    valid = tools.source_valid(rgb_byte)[200:450, 200:500]
    expected = np.moveaxis(src[200:450, 200:500], -1, 0).astype(np.float32)
    assert np.array_equal(got[:, valid], expected[:, valid])
    log = predictor.log()
    assert log
    for record in log:
        assert record["keys"] == ["b1", "b2", "b3"]
        assert record["shapes"] == {"b1": [108, 132, 1], "b2": [108, 132, 1], "b3": [108, 132, 1]}


def test_keys_from_band_descriptions(predictor, eem_name, make_raster, tools):
    path = random_rgb(make_raster, seed=14, descriptions=["red", "green", "nir"])
    ds = gdal.Open(eem_name(path, model="identity", tile=(64, 40), output_bands="output:float32:3"))
    ds.ReadAsArray()
    assert predictor.log()[0]["keys"] == ["red", "green", "nir"]

    predictor.reset()
    ds = gdal.Open(eem_name(path, model="identity", tile=(64, 40), output_bands="output:float32:2",
                            bands="nir,red"))
    got = ds.ReadAsArray()
    src = tools.read_hwc(path)
    assert np.array_equal(got, np.stack([src[:, :, 2], src[:, :, 0]]).astype(np.float32))
    assert predictor.log()[0]["keys"] == ["nir", "red"]


def test_bands_by_index_order(predictor, eem_name, make_raster, tools):
    path = random_rgb(make_raster, seed=15)
    ds = gdal.Open(eem_name(path, model="identity", tile=(64, 40), output_bands="output:float32:2",
                            bands="3,1"))
    got = ds.ReadAsArray()
    src = tools.read_hwc(path)
    assert np.array_equal(got, np.stack([src[:, :, 2], src[:, :, 0]]).astype(np.float32))
    log = predictor.log()
    assert log and all(r["keys"] == ["b3", "b1"] for r in log)

    # ndi is order sensitive: (c0 - c1) / (c0 + c1)
    predictor.reset()
    ds = gdal.Open(eem_name(path, model="ndi", tile=(64, 40), bands="3,1"))
    got = ds.GetRasterBand(1).ReadAsArray()
    assert np.array_equal(got, models.ndi(src[:, :, [2, 0]])[:, :, 0])


# ---------------------------------------------------------------------------
# masks and nodata


def test_source_nodata_masked(eem_name, rgb_byte, tools):
    valid = tools.source_valid(rgb_byte)
    assert 0 < valid.sum() < valid.size
    src = np.moveaxis(tools.read_hwc(rgb_byte), -1, 0).astype(np.float32)
    ds = gdal.Open(eem_name(rgb_byte, model="identity", tile=(200, 150), overlap=(1, 1),
                            output_bands="output:float32:3"))
    for b in range(3):
        band = ds.GetRasterBand(b + 1)
        assert band.GetMaskFlags() == gdal.GMF_PER_DATASET
        assert np.isnan(band.GetNoDataValue())   # float bands: NaN by default
    mask = ds.GetRasterBand(1).GetMaskBand().ReadAsArray()
    np.testing.assert_array_equal(mask, np.where(valid, 255, 0).astype(np.uint8))
    np.testing.assert_array_equal(ds.GetRasterBand(3).GetMaskBand().ReadAsArray(), mask)
    got = ds.ReadAsArray()
    assert np.array_equal(got[:, valid], src[:, valid])
    assert np.isnan(got[:, ~valid]).all()


def test_nodata_value_written_where_masked(eem_name, rgb_byte, tools):
    valid = tools.source_valid(rgb_byte)
    src = np.moveaxis(tools.read_hwc(rgb_byte), -1, 0).astype(np.float32)
    ds = gdal.Open(eem_name(rgb_byte, model="identity", tile=(200, 150), overlap=(1, 1),
                            output_bands="output:float32:3", nodata=-9999))
    for b in range(3):
        band = ds.GetRasterBand(b + 1)
        assert band.GetNoDataValue() == -9999
        assert band.GetMaskFlags() == gdal.GMF_PER_DATASET
    got = ds.ReadAsArray()
    assert (got[:, ~valid] == -9999).all()
    assert np.array_equal(got[:, valid], src[:, valid])
    mask = ds.GetRasterBand(2).GetMaskBand().ReadAsArray()
    np.testing.assert_array_equal(mask, np.where(valid, 255, 0).astype(np.uint8))


def test_conv_mask_with_nodata(eem_name, rgb_byte, tools):
    valid = tools.source_valid(rgb_byte)
    # each band's masked input pixels are sent as 0 in that band's tensor
    per_band = np.stack([tools.source_valid(rgb_byte, [b]) for b in (1, 2, 3)], axis=-1)
    expected = models.conv_padded(tools.read_hwc(rgb_byte) * per_band)[:, :, 0]
    ds = gdal.Open(eem_name(rgb_byte, model="conv", tile=(128, 128), overlap=(3, 3), nodata=-1))
    got = ds.GetRasterBand(1).ReadAsArray()
    assert (got[~valid] == -1).all()
    assert np.array_equal(got[valid], expected[valid])


def test_fully_masked_tiles_not_sent(predictor, eem_name, make_raster):
    height, width = 80, 100
    rng = np.random.default_rng(16)
    data = rng.integers(1, 256, size=(2, height, width)).astype(np.uint8)
    data[:, :, :70] = 0          # nodata: tile columns 0 and 1 (inputs -2..65) all masked
    path = make_raster(data, nodata=0)
    ds = gdal.Open(eem_name(path, model="identity", tile=(32, 32), overlap=(2, 2),
                            output_bands="output:float32:2", nodata=-9999))
    got = ds.ReadAsArray()
    log = predictor.log()
    # 3 tile rows x tile columns 2 and 3
    assert sum(r["n_instances"] for r in log) == 6
    assert all(r["status"] == 200 for r in log)
    assert (got[:, :, :70] == -9999).all()
    assert np.array_equal(got[:, :, 70:], data[:, :, 70:].astype(np.float32))
    mask = ds.GetRasterBand(1).GetMaskBand().ReadAsArray()
    assert (mask[:, :70] == 0).all() and (mask[:, 70:] == 255).all()


def test_fully_masked_raster_sends_nothing(predictor, eem_name, make_raster):
    path = make_raster(np.zeros((2, 50, 70), dtype=np.uint8), nodata=0)
    ds = gdal.Open(eem_name(path, model="conv", tile=(32, 32), overlap=(3, 3), nodata=-9999))
    got = ds.GetRasterBand(1).ReadAsArray()
    assert predictor.log() == []
    assert (got == -9999).all()
    assert (ds.GetRasterBand(1).GetMaskBand().ReadAsArray() == 0).all()

    # without NODATA: still no request, still all masked
    ds = gdal.Open(eem_name(path, model="conv", tile=(32, 32), overlap=(3, 3)))
    ds.GetRasterBand(1).ReadAsArray()
    assert (ds.GetRasterBand(1).GetMaskBand().ReadAsArray() == 0).all()
    assert predictor.log() == []


# ---------------------------------------------------------------------------
# per-band masks (Earth Engine: each band masked on its own)


def two_masks_raster(make_raster):
    """Three Float32 bands, nodata -9999: band 1 masked in one block, band 2 in another."""
    rng = np.random.default_rng(17)
    data = rng.uniform(1, 100, size=(3, 90, 120)).astype(np.float32)
    data[0, 20:40, 30:60] = -9999
    data[1, 50:70, 70:100] = -9999
    return make_raster(data, nodata=-9999), data


@pytest.mark.parametrize("input_array", [None, "array"])
def test_per_band_masks(predictor, eem_name, make_raster, tools, input_array):
    path, data = two_masks_raster(make_raster)
    hwc = np.moveaxis(data, 0, -1).astype(np.float64)
    valid = [data[b] != -9999 for b in range(3)]
    all_valid = valid[0] & valid[1] & valid[2]
    if input_array:
        # the array pixel is masked as a whole
        sent = hwc * all_valid[:, :, None]
    else:
        # each tensor keeps its values where only another band is masked
        sent = hwc * np.stack(valid, axis=-1)
    expected = models.conv_padded(sent)[:, :, 0]
    ds = gdal.Open(eem_name(path, model="conv", tile=(64, 48), overlap=(3, 3),
                            input_array=input_array))
    got = ds.GetRasterBand(1).ReadAsArray()
    # the output mask stays the minimum of the input masks
    mask = ds.GetRasterBand(1).GetMaskBand().ReadAsArray()
    np.testing.assert_array_equal(mask, np.where(all_valid, 255, 0).astype(np.uint8))
    np.testing.assert_allclose(got[all_valid], expected[all_valid], rtol=1e-5)
    # next to band 2's hole, band 1 and 3 values inside it count (or do not, for an array)
    ring = np.zeros_like(all_valid)
    ring[48:72, 68:102] = True
    ring &= all_valid
    zeroed = models.conv_padded(hwc * all_valid[:, :, None])[:, :, 0]
    differs = np.abs(got[ring] - zeroed[ring]) > 1e-3
    assert differs.any() != bool(input_array)


# ---------------------------------------------------------------------------
# GMF_ALL_VALID: when no output pixel can be masked, copies write no mask


def test_nothing_masked_reports_all_valid(predictor, eem_name, make_raster, tmp_path,
                                          subprocess_env):
    import subprocess
    path = random_rgb(make_raster)               # no nodata, no mask, no alpha
    name = eem_name(path, model="identity", tile=(64, 40), overlap=(2, 2),
                    output_bands="output:uint8:3")
    ds = gdal.Open(name)
    for b in range(3):
        assert ds.GetRasterBand(b + 1).GetMaskFlags() == gdal.GMF_ALL_VALID
    assert (ds.GetRasterBand(1).GetMaskBand().ReadAsArray() == 255).all()
    ds = None
    out = tmp_path / "copy.tif"
    env = dict(subprocess_env, GDAL_TIFF_INTERNAL_MASK="NO")
    result = subprocess.run(["gdal_translate", "-q", name, str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert out.exists() and not (tmp_path / "copy.tif.msk").exists()
    got = gdal.Open(str(out))
    assert got.GetRasterBand(1).GetMaskFlags() == gdal.GMF_ALL_VALID
    want = gdal.Open(path).ReadAsArray()
    assert np.array_equal(got.ReadAsArray(), want)


@pytest.mark.parametrize("extra", [{"on_error": "NODATA"}, {"overlap_mode": "BLEND"}])
def test_maskable_outputs_keep_the_mask(predictor, eem_name, make_raster, extra):
    path = random_rgb(make_raster)
    ds = gdal.Open(eem_name(path, model="identity", tile=(64, 40), overlap=(2, 2),
                            output_bands="output:uint8:3", **extra))
    assert ds.GetRasterBand(1).GetMaskFlags() == gdal.GMF_PER_DATASET


def test_source_nodata_keeps_the_mask_even_if_unused(predictor, eem_name, make_raster):
    rng = np.random.default_rng(3)
    path = make_raster(rng.integers(1, 256, size=(3, 40, 50)).astype(np.uint8), nodata=0)
    ds = gdal.Open(eem_name(path, model="identity", tile=(16, 16),
                            output_bands="output:uint8:3"))
    assert ds.GetRasterBand(1).GetMaskFlags() == gdal.GMF_PER_DATASET
    assert (ds.GetRasterBand(1).GetMaskBand().ReadAsArray() == 255).all()


def test_edge_reaching_outside_keeps_the_mask_per_level(predictor, eem_name, make_raster):
    """130 px, tiles of 32 -> 16 (pool2): level 0's last pixel covers input 128..130,
    within; overview 1 is 65 px wide, its last pixel covers 64..66, past 65."""
    rng = np.random.default_rng(4)
    path = make_raster(rng.integers(1, 256, size=(1, 64, 130)).astype(np.uint8))
    ds = gdal.Open(eem_name(path, model="pool2", tile=(32, 32), out_tile=(16, 16)))
    band = ds.GetRasterBand(1)
    assert band.XSize == 65
    assert band.GetMaskFlags() == gdal.GMF_ALL_VALID
    assert band.GetOverviewCount() >= 1
    ov = band.GetOverview(0)
    assert ov.XSize == 33
    assert ov.GetMaskFlags() == gdal.GMF_PER_DATASET
    mask = ov.GetMaskBand().ReadAsArray()
    assert (mask[:, -1] == 0).all() and (mask[:, :-1] == 255).all()
