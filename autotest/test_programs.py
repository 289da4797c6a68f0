"""The GDAL programs on EEMODEL datasets: gdalinfo, gdal_translate, JSON descriptors,
open options, driver metadata, no stray .aux.xml files."""

import json
import os
import re
import subprocess

import numpy as np
import pytest
from osgeo import gdal

from predictor import models


def run(args, env, cwd=None, check=True):
    result = subprocess.run(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, timeout=300)
    if check:
        assert result.returncode == 0, "%s failed (%d):\n%s\n%s" % (
            args, result.returncode, result.stdout, result.stderr)
    return result


def random_rgb(path, height=90, width=130, seed=40):
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 256, size=(3, height, width)).astype(np.uint8)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), width, height, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((500000.0, 30.0, 0.0, 4000000.0, 0.0, -30.0))
    ds.SetProjection("EPSG:32618")
    for b in range(3):
        ds.GetRasterBand(b + 1).WriteArray(data[b])
    ds = None
    return str(path)


def aux_files(folder):
    return sorted(p for p in os.listdir(folder) if p.lower().endswith(".aux.xml"))


def read_all(name, open_options=None):
    ds = gdal.OpenEx(name, gdal.OF_RASTER, open_options=open_options or [])
    return np.stack([ds.GetRasterBand(b + 1).ReadAsArray() for b in range(ds.RasterCount)])


def test_gdalinfo_connection_string(predictor, eem_name, rgb_byte, subprocess_env, tmp_path):
    name = eem_name(rgb_byte, model="classify", tile=(128, 100), overlap=(4, 4),
                    output_bands="probs:float32:bare/veg/water,class:uint8")
    out = run(["gdalinfo", name], subprocess_env, cwd=str(tmp_path)).stdout
    assert re.search(r"^Driver: EEMODEL/", out, re.MULTILINE), out
    assert "Size is 791, 718" in out
    assert "Block=128x100" in out
    assert "Type=Float32" in out and "Type=Byte" in out
    for description in ("bare", "veg", "water", "class"):
        assert "Description = %s" % description in out
    assert "Mask Flags: PER_DATASET" in out
    assert 'ID["EPSG",32618]' in out
    assert "Origin = (101985.000000000000000,2826915.000000000000000)" in out
    # gdalinfo does not read pixels: no prediction requested
    assert predictor.log() == []
    assert aux_files(tmp_path) == []


def test_gdal_translate_equals_python_read(predictor, eem_name, tmp_path, subprocess_env):
    src = random_rgb(tmp_path / "src.tif")
    name = eem_name(src, model="conv", tile=(48, 40), overlap=(3, 3))
    out_tif = tmp_path / "out" / "out.tif"
    out_tif.parent.mkdir()
    run(["gdal_translate", "-q", "-of", "GTiff", name, str(out_tif)], subprocess_env, cwd=str(tmp_path))
    n_requests = len(predictor.log())
    assert n_requests > 0

    translated = gdal.Open(str(out_tif))
    assert (translated.RasterXSize, translated.RasterYSize, translated.RasterCount) == (130, 90, 1)
    assert translated.GetRasterBand(1).DataType == gdal.GDT_Float32
    assert translated.GetGeoTransform() == gdal.Open(src).GetGeoTransform()
    got = translated.GetRasterBand(1).ReadAsArray()
    direct = read_all(name)[0]
    assert np.array_equal(got, direct)
    src_hwc = np.moveaxis(gdal.Open(src).ReadAsArray().astype(np.float64), 0, -1)
    assert np.array_equal(got, models.conv_padded(src_hwc)[:, :, 0])
    assert aux_files(tmp_path) == []


def write_descriptor(folder, url, model="conv", name="model.eemodel.json"):
    doc = {
        "input": "src.tif",                      # relative to the JSON file's folder
        "apiRoot": url,
        "projectId": "p",
        "modelName": model,
        "inputTileSize": [48, 40],
        "inputOverlapSize": [3, 3],
        "outputTileSize": [48, 40],
        "outputBands": {"out": {"type": "float32"}},
    }
    path = folder / name
    path.write_text(json.dumps(doc, indent=2))
    return str(path)


def test_json_descriptor_relative_input(predictor, tmp_path, subprocess_env):
    folder = tmp_path / "models"
    folder.mkdir()
    src = random_rgb(folder / "src.tif", seed=41)
    descriptor = write_descriptor(folder, predictor.url)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    # opened directly, from another working folder
    out = run(["gdalinfo", descriptor], subprocess_env, cwd=str(elsewhere)).stdout
    assert re.search(r"^Driver: EEMODEL/", out, re.MULTILINE), out
    assert "Size is 130, 90" in out
    assert "Description = out" in out

    out_tif = elsewhere / "from_json.tif"
    run(["gdal_translate", "-q", descriptor, str(out_tif)], subprocess_env, cwd=str(elsewhere))
    got = gdal.Open(str(out_tif)).ReadAsArray()
    src_hwc = np.moveaxis(gdal.Open(src).ReadAsArray().astype(np.float64), 0, -1)
    expected = models.conv_padded(src_hwc)[:, :, 0]
    assert np.array_equal(got, expected)

    # in process, plain path and EEMODEL:<path>
    old_cwd = os.getcwd()
    os.chdir(str(elsewhere))
    try:
        assert np.array_equal(read_all(descriptor)[0], expected)
        assert np.array_equal(read_all("EEMODEL:" + descriptor)[0], expected)
    finally:
        os.chdir(old_cwd)
    ds = gdal.Open(descriptor)
    assert ds.GetDriver().ShortName == "EEMODEL"
    assert ds.GetRasterBand(1).GetBlockSize() == [48, 40]
    assert aux_files(folder) == [] and aux_files(elsewhere) == []


def test_open_option_overrides_json(predictor, tmp_path, subprocess_env):
    folder = tmp_path
    src = random_rgb(folder / "src.tif", seed=42)
    descriptor = write_descriptor(folder, predictor.url, model="conv")
    src_hwc = np.moveaxis(gdal.Open(src).ReadAsArray().astype(np.float64), 0, -1)
    expected_ndi = models.ndi(src_hwc)[:, :, 0]

    got = read_all(descriptor, open_options=["MODEL=ndi"])[0]
    assert np.array_equal(got, expected_ndi)
    assert {r["model"] for r in predictor.log()} == {"ndi"}

    predictor.reset()
    out_tif = tmp_path / "ndi.tif"
    run(["gdal_translate", "-q", "-oo", "MODEL=ndi", descriptor, str(out_tif)], subprocess_env)
    assert np.array_equal(gdal.Open(str(out_tif)).ReadAsArray(), expected_ndi)
    assert {r["model"] for r in predictor.log()} == {"ndi"}


def test_open_option_overrides_connection_string(predictor, eem_name, tmp_path):
    src = random_rgb(tmp_path / "src.tif", seed=43)
    name = eem_name(src, model="conv", tile=(48, 40), overlap=(3, 3))
    ds = gdal.OpenEx(name, gdal.OF_RASTER, open_options=["INPUT_TILE_SIZE=32,32", "NODATA=-5"])
    band = ds.GetRasterBand(1)
    assert band.GetBlockSize() == [32, 32]
    assert band.GetNoDataValue() == -5
    band.ReadAsArray()
    assert all(r["shapes"]["b1"] == [38, 38, 1] for r in predictor.log())


def test_format_lists_open_options(subprocess_env):
    out = run(["gdalinfo", "--format", "EEMODEL"], subprocess_env).stdout
    assert "Short Name: EEMODEL" in out
    assert "Connection prefix: EEMODEL:" in out
    assert "<OpenOptionList>" in out
    for option in ("INPUT", "INPUT_TILE_SIZE", "INPUT_OVERLAP_SIZE", "OUTPUT_TILE_SIZE", "OUTPUT_BANDS",
                   "MODEL", "PROJECT", "ENDPOINT", "URL", "NODATA", "MAX_PAYLOAD_BYTES"):
        assert re.search(r'<Option name="%s"' % option, out), option


def test_formats_list_driver(subprocess_env):
    out = run(["gdalinfo", "--formats"], subprocess_env).stdout
    assert re.search(r"^\s*EEMODEL -raster,vector- \(ro", out, re.MULTILINE), out


def test_stats_write_aux_xml_beside_input_only(predictor, eem_name, tmp_path, subprocess_env):
    """Computed statistics are remembered in one PAM file named after the input and the
    descriptor's digest (test_remembered_stats.py): nothing in cwd, nothing named after the
    connection string."""
    work = tmp_path / "work"
    work.mkdir()
    src = random_rgb(tmp_path / "src.tif", seed=44)
    name = eem_name(src, model="conv", tile=(48, 40), overlap=(3, 3))
    before = sorted(os.listdir(work))
    out = run(["gdalinfo", "-stats", name], subprocess_env, cwd=str(work)).stdout
    assert "STATISTICS_MEAN=" in out
    mean = float(re.search(r"STATISTICS_MEAN=([-0-9.eE+]+)", out).group(1))
    assert mean == pytest.approx(float(read_all(name)[0].astype(np.float64).mean()), rel=1e-5)
    assert predictor.log()
    assert sorted(os.listdir(work)) == before
    aux = aux_files(tmp_path)
    assert len(aux) == 1 and aux[0].startswith("src.tif.eemodel-"), aux
    # nothing named after the connection string anywhere near
    assert not any("EEMODEL" in p for p in os.listdir(work) + os.listdir(tmp_path))

    # in process too: the same file
    ds = gdal.Open(name)
    ds.GetRasterBand(1).ComputeStatistics(False)
    ds = None
    assert sorted(os.listdir(work)) == before
    assert aux_files(tmp_path) == aux


def test_bad_descriptor_fails_at_open(eem_name, rgb_byte, subprocess_env):
    name = eem_name(rgb_byte, model="conv", tile=(48, 40), input_overlap_size="3,x")
    result = run(["gdalinfo", name], subprocess_env, check=False)
    assert result.returncode != 0
    assert "INPUT_OVERLAP_SIZE" in result.stderr.upper().replace("INPUTOVERLAPSIZE", "INPUT_OVERLAP_SIZE")
    assert "3,x" in result.stderr


def test_failing_translate_reports_one_error(predictor, eem_name, rgb_byte, tmp_path, subprocess_env):
    """A model that does not exist: gdal_translate fails with one error naming the
    server's answer (the read-ahead's failure is reported once, by the read that
    follows it, which sends nothing more), and no output pixels are invented."""
    out = tmp_path / "out.tif"
    result = run(["gdal_translate", "-q", eem_name(rgb_byte, model="nosuch", tile=(128, 128)), str(out)],
                 subprocess_env, check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, result.stderr
    assert "HTTP 404" in errors[0] and "model nosuch not found" in errors[0]
    # only the read-ahead's requests went out (at most one per connection)
    assert 1 <= len(predictor.log()) <= 8
