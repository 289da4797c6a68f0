"""Statistics remembered across runs (issue 12 item 5): a PAM .aux.xml named after the input
file and the digest of the descriptor, or the persistent cache; a different descriptor
recomputes; GDAL_PAM_ENABLED=NO writes nothing; no secret in any written file; reading
pixels writes nothing."""

import os
import re
import subprocess

import numpy as np
from osgeo import gdal

from conftest import TOKEN, write_raster


SECRET_HEADER = "s3cr3t-header-value-91"


def random_rgb(path, height=60, width=70, seed=7):
    rng = np.random.default_rng(seed)
    return write_raster(path, rng.integers(1, 256, size=(3, height, width)).astype(np.uint8))


def gdalinfo(args, env, cwd):
    result = subprocess.run(["gdalinfo"] + args, env=env, cwd=str(cwd), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def statistics(out):
    """Every band's STATISTICS_* lines, in order."""
    found = re.findall(r"^\s*(STATISTICS_[A-Z_]+=\S+)$", out, re.MULTILINE)
    assert found, out
    return found


def aux_files(folder):
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".aux.xml"))


def all_bytes(folder):
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_second_run_reads_pam_statistics(predictor, eem_name, tmp_path, subprocess_env):
    work = tmp_path / "work"
    work.mkdir()
    src = random_rgb(tmp_path / "src.tif")
    name = eem_name(src, model="identity", tile=(32, 32), overlap=(2, 2),
                    output_bands="output:float32:3")
    first = gdalinfo(["-stats", name], subprocess_env, work)
    assert predictor.log()
    figures = statistics(first.stdout)
    assert len([f for f in figures if f.startswith("STATISTICS_MEAN=")]) == 3
    # the file is beside the input, named after it and the descriptor's digest; none in cwd
    aux = aux_files(tmp_path)
    assert len(aux) == 1 and re.fullmatch(r"src\.tif\.eemodel-[0-9a-f]{16}\.aux\.xml", aux[0]), aux
    assert os.listdir(work) == []
    text = (tmp_path / aux[0]).read_text()
    assert "<PAMDataset>" in text and "STATISTICS_MEAN" in text
    # only statistics: no descriptor, URL, model or token
    for word in ("EEMODEL:", predictor.url, "identity", TOKEN):
        assert word not in text, word

    predictor.reset()
    second = gdalinfo(["-stats", name], subprocess_env, work)
    assert predictor.log() == []
    assert statistics(second.stdout) == figures
    # in process as well, through GetStatistics(approx, force)
    ds = gdal.Open(name)
    mean = ds.GetRasterBand(2).GetStatistics(False, True)[2]
    ds = None
    assert predictor.log() == []
    means = [float(f.split("=")[1]) for f in figures if f.startswith("STATISTICS_MEAN=")]
    assert abs(mean - means[1]) <= 1e-9 * max(1.0, abs(means[1]))


def test_other_descriptor_recomputes(predictor, eem_name, tmp_path, subprocess_env):
    src = random_rgb(tmp_path / "src.tif", seed=8)
    conv = eem_name(src, model="conv", tile=(32, 32), overlap=(2, 2))
    identity = eem_name(src, model="ndi", tile=(32, 32), overlap=(2, 2))
    other_nodata = eem_name(src, model="conv", tile=(32, 32), overlap=(2, 2), nodata=-5)
    first = statistics(gdalinfo(["-stats", conv], subprocess_env, tmp_path).stdout)
    for name in (identity, other_nodata):
        predictor.reset()
        out = statistics(gdalinfo(["-stats", name], subprocess_env, tmp_path).stdout)
        # another model (or NODATA) never finds the first one's statistics: it predicts
        assert predictor.log(), name
        if name is identity:
            assert out != first
    assert len(aux_files(tmp_path)) == 3
    # each finds its own again
    for name in (conv, identity, other_nodata):
        predictor.reset()
        gdalinfo(["-stats", name], subprocess_env, tmp_path)
        assert predictor.log() == [], name


def test_approximate_and_exact_kept_apart(predictor, eem_name, tmp_path, subprocess_env):
    src = random_rgb(tmp_path / "src.tif", height=300, width=300, seed=9)
    name = eem_name(src, model="conv", tile=(32, 32), output_bands="output:float32")
    approx = gdalinfo(["-approx_stats", name], subprocess_env, tmp_path).stdout
    assert "STATISTICS_APPROXIMATE=YES" in approx
    # exact statistics are not answered by approximate ones: computed
    predictor.reset()
    exact = gdalinfo(["-stats", name], subprocess_env, tmp_path).stdout
    assert predictor.log() and "STATISTICS_APPROXIMATE" not in exact
    # both are remembered now: neither costs anything
    predictor.reset()
    assert statistics(gdalinfo(["-stats", name], subprocess_env, tmp_path).stdout) == \
        statistics(exact)
    ds = gdal.Open(name)
    band = ds.GetRasterBand(1)
    assert band.GetMetadataItem("STATISTICS_APPROXIMATE") is None
    ds = None
    assert predictor.log() == []


def test_pam_disabled_writes_nothing(predictor, eem_name, tmp_path, subprocess_env):
    src = random_rgb(tmp_path / "src.tif", seed=10)
    name = eem_name(src, model="conv", tile=(32, 32))
    env = dict(subprocess_env, GDAL_PAM_ENABLED="NO")
    gdalinfo(["-stats", name], env, tmp_path)
    assert aux_files(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["src.tif"]
    # nothing remembered: the next run pays again
    predictor.reset()
    gdalinfo(["-stats", name], env, tmp_path)
    assert predictor.log()


def test_pam_proxy_dir(predictor, eem_name, tmp_path, subprocess_env):
    """An input that cannot take a side file (inside a zip): GDAL's PAM proxy database."""
    import zipfile
    src = random_rgb(tmp_path / "src.tif", seed=11)
    with zipfile.ZipFile(tmp_path / "inputs.zip", "w") as z:
        z.write(src, "src.tif")
    os.remove(src)
    proxy = tmp_path / "proxy"
    proxy.mkdir()
    name = eem_name("/vsizip/%s/src.tif" % (tmp_path / "inputs.zip"), model="conv",
                    tile=(32, 32))
    env = dict(subprocess_env, GDAL_PAM_PROXY_DIR=str(proxy))
    first = statistics(gdalinfo(["-stats", name], env, tmp_path).stdout)
    assert predictor.log()
    # the proxy database holds the file; nothing beside the zip
    assert sorted(os.listdir(tmp_path)) == ["inputs.zip", "proxy"]
    assert any(p.endswith(".aux.xml") for p in os.listdir(proxy))
    predictor.reset()
    assert statistics(gdalinfo(["-stats", name], env, tmp_path).stdout) == first
    assert predictor.log() == []
    # without the proxy folder: a warning, nothing written, nothing remembered
    predictor.reset()
    result = gdalinfo(["-stats", name], subprocess_env, tmp_path)
    assert "statistics could not be saved" in result.stderr
    assert "GDAL_PAM_PROXY_DIR" in result.stderr
    assert predictor.log()
    assert sorted(os.listdir(tmp_path)) == ["inputs.zip", "proxy"]
    # ... but with a persistent cache: the warning says the cache keeps them, and it does
    predictor.reset()
    env = dict(subprocess_env, EEMODEL_CACHE_DIR=str(tmp_path / "cache"))
    result = gdalinfo(["-stats", name], env, tmp_path)
    assert predictor.log()
    assert "could not be saved" not in result.stderr
    assert ("no .aux.xml could be written beside the input; the statistics are kept in the "
            "persistent cache only") in result.stderr
    predictor.reset()
    again = gdalinfo(["-stats", name], dict(env, CPL_DEBUG="EEMODEL"), tmp_path)
    assert statistics(again.stdout) == first
    assert "statistics remembered from an earlier run" in again.stderr
    assert predictor.log() == []


def test_persistent_cache_remembers_statistics(predictor, eem_name, tmp_path, subprocess_env):
    src = random_rgb(tmp_path / "src.tif", seed=12)
    cache = tmp_path / "cache"
    name = eem_name(src, model="identity", tile=(32, 32), output_bands="output:float32:3")
    # PAM off: only the cache can remember them
    env = dict(subprocess_env, GDAL_PAM_ENABLED="NO", EEMODEL_CACHE_DIR=str(cache),
               CPL_DEBUG="EEMODEL")
    first = gdalinfo(["-stats", name], env, tmp_path)
    assert predictor.log()
    assert "statistics remembered" not in first.stderr
    predictor.reset()
    second = gdalinfo(["-stats", name], env, tmp_path)
    assert predictor.log() == []
    assert statistics(second.stdout) == statistics(first.stdout)
    assert "statistics remembered from an earlier run" in second.stderr
    assert aux_files(tmp_path) == []
    # other outputs: the statistics (and tiles) miss
    predictor.reset()
    other = gdalinfo(["-stats", eem_name(src, model="conv", tile=(32, 32),
                                         output_bands="output:float32")], env, tmp_path)
    assert predictor.log()
    assert "statistics remembered" not in other.stderr
    assert statistics(other.stdout) != statistics(first.stdout)


def test_no_secret_in_written_files(predictor, eem_name, tmp_path, subprocess_env):
    src = random_rgb(tmp_path / "src.tif", seed=13)
    cache = tmp_path / "cache"
    name = eem_name(src, model="conv", tile=(32, 32),
                    headers='"X-Api-Key: %s"' % SECRET_HEADER)
    env = dict(subprocess_env, EEMODEL_CACHE_DIR=str(cache))
    gdalinfo(["-stats", name], env, tmp_path)
    ds = gdal.Open(name)
    ds.GetRasterBand(1).SetStatistics(1, 2, 1.5, 0.5)
    ds = None
    assert len(aux_files(tmp_path)) == 1
    written = all_bytes(tmp_path)
    for secret in (SECRET_HEADER, TOKEN):
        assert secret.encode() not in written
    # SetStatistics is remembered as well
    ds = gdal.Open(name)
    assert ds.GetRasterBand(1).GetStatistics(False, False) == [1, 2, 1.5, 0.5]
    ds = None


def test_reading_pixels_writes_nothing(predictor, eem_name, tmp_path, subprocess_env):
    src = random_rgb(tmp_path / "src.tif", seed=14)
    name = eem_name(src, model="conv", tile=(32, 32))
    for args in (["-checksum"], ["-mm"]):
        gdalinfo(args + [name], subprocess_env, tmp_path)
    ds = gdal.Open(name)
    ds.GetRasterBand(1).ReadAsArray()
    ds.GetRasterBand(1).SetMetadataItem("FOO", "BAR")
    ds = None
    assert predictor.log()
    assert sorted(os.listdir(tmp_path)) == ["src.tif"]


def test_pam_file_is_replaced_whole(predictor, eem_name, tmp_path, subprocess_env):
    """The .aux.xml is written to a temporary file beside it and renamed over it: a reader
    holding the old file (here: a second hard link to it) keeps the old content whole, never
    a file truncated and rewritten in place; no temporary file is left behind."""
    src = random_rgb(tmp_path / "src.tif", seed=16)
    name = eem_name(src, model="conv", tile=(32, 32))
    gdalinfo(["-stats", name], subprocess_env, tmp_path)
    (aux,) = aux_files(tmp_path)
    aux = tmp_path / aux
    before = aux.read_bytes()
    held = tmp_path / "held-copy"
    os.link(aux, held)
    ds = gdal.Open(name)
    ds.GetRasterBand(1).SetStatistics(1, 2, 1.5, 0.5)
    ds = None
    after = aux.read_bytes()
    assert after != before and b"1.5" in after
    assert held.read_bytes() == before  # in place, the other link would see the new bytes
    assert os.stat(aux).st_ino != os.stat(held).st_ino
    assert sorted(os.listdir(tmp_path)) == sorted(["src.tif", aux.name, "held-copy"])


def test_datasets_open_together_keep_each_others_statistics(predictor, eem_name, tmp_path,
                                                             subprocess_env):
    """Two datasets of the same descriptor (two processes, two QGIS threads) each compute
    some bands: the file keeps all of them, not only the last writer's."""
    src = random_rgb(tmp_path / "src.tif", seed=15)
    name = eem_name(src, model="identity", tile=(32, 32), output_bands="output:float32:3")
    first = gdal.Open(name)
    second = gdal.Open(name)
    second.GetRasterBand(1).ComputeStatistics(False)
    second = None
    first.GetRasterBand(2).ComputeStatistics(False)
    first.GetRasterBand(3).ComputeStatistics(False)
    first = None
    predictor.reset()
    out = gdalinfo(["-stats", name], subprocess_env, tmp_path).stdout
    assert len([f for f in statistics(out) if f.startswith("STATISTICS_MEAN=")]) == 3
    assert predictor.log() == []
