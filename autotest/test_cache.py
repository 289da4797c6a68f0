"""The persistent prediction cache (CACHE_DIR / EEMODEL_CACHE_DIR, DESIGN.md section 5).

A warm cache sends nothing and gives the same pixels and mask as a cold one and as no
cache; the key depends on the backend identity and the encoded input; damaged entries
are recomputed, never served; failed tiles are never cached; the size cap holds; two
processes can fill one folder at once.
"""

import subprocess

import numpy as np
import pytest
from osgeo import gdal

from conftest import build_name, config_options

PYTHON = "/usr/bin/python3"


def random_raster(make_raster, shape=(3, 45, 70), seed=20, dtype=np.uint8, nodata=None):
    rng = np.random.default_rng(seed)
    array = rng.integers(1, 256, size=shape).astype(dtype)
    if nodata is not None:
        array[:, 0:40, 0:35] = nodata   # covers tile (0,0) of 32x32 tiles entirely
    return make_raster(array, nodata=nodata)


def n_instances(predictor):
    return sum(r["n_instances"] for r in predictor.log())


def read_all(name):
    ds = gdal.Open(name)
    bands = np.stack([ds.GetRasterBand(b + 1).ReadAsArray() for b in range(ds.RasterCount)])
    mask = ds.GetRasterBand(1).GetMaskBand().ReadAsArray()
    return bands, mask


def entries(cache):
    return sorted(p for p in cache.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))


def test_persistent_cache(predictor, eem_name, make_raster, tmp_path):
    src = random_raster(make_raster, seed=36)
    cache = tmp_path / "cache"
    cache.mkdir()
    name = eem_name(src, model="conv", tile=(32, 32), overlap=(3, 3), cache_dir=str(cache))
    first = gdal.Open(name).ReadAsArray()
    n_first = sum(r["n_instances"] for r in predictor.log())
    assert n_first == 6
    assert any(cache.rglob("*"))

    predictor.reset()
    second = gdal.Open(name).ReadAsArray()
    assert predictor.log() == []
    assert np.array_equal(first, second)

    # a different model is a different key
    predictor.reset()
    gdal.Open(eem_name(src, model="ndi", tile=(32, 32), overlap=(3, 3), cache_dir=str(cache))).ReadAsArray()
    assert sum(r["n_instances"] for r in predictor.log()) == 6


def test_same_pixels_and_mask_without_cold_and_warm(predictor, eem_name, make_raster, tmp_path):
    src = random_raster(make_raster, seed=5, nodata=0)
    kw = dict(model="classify", tile=(32, 32), overlap=(2, 2),
              output_bands="probs:float32:3,class:uint8", nodata=7)
    plain = read_all(eem_name(src, **kw))
    sent_plain = n_instances(predictor)
    assert sent_plain == 5            # tile (0,0) is all nodata: never sent
    cache = tmp_path / "c"
    predictor.reset()
    cold = read_all(eem_name(src, cache_dir=str(cache), **kw))
    assert n_instances(predictor) == sent_plain
    assert len(entries(cache)) == sent_plain   # masked tiles are not cached
    predictor.reset()
    warm = read_all(eem_name(src, cache_dir=str(cache), **kw))
    assert predictor.log() == []
    for got in (cold, warm):
        assert np.array_equal(got[0], plain[0])
        assert np.array_equal(got[1], plain[1])
    assert (plain[1] == 0).any() and (plain[1] == 255).any()
    assert (plain[0][:, plain[1] == 0] == 7).all()


def test_config_option_and_gdal_translate(predictor, make_raster, tmp_path, subprocess_env):
    src = random_raster(make_raster, seed=8)
    cache = tmp_path / "cfg-cache"
    name = build_name(predictor.url, src, model="conv", tile=(32, 32), overlap=(3, 3))
    env = dict(subprocess_env, EEMODEL_CACHE_DIR=str(cache))
    outs = []
    for run in range(2):
        out = tmp_path / ("out%d.tif" % run)
        subprocess.run(["gdal_translate", "-q", name, str(out)], env=env, check=True)
        outs.append(gdal.Open(str(out)).ReadAsArray())
        if run == 0:
            assert n_instances(predictor) == 6
            predictor.reset()
    assert predictor.log() == []          # warm cache: zero requests
    assert np.array_equal(outs[0], outs[1])
    assert len(entries(cache)) == 6


def test_key_depends_on_output_spec_and_input(predictor, eem_name, make_raster, tmp_path):
    cache = str(tmp_path / "k")
    src = random_raster(make_raster, seed=11)
    gdal.Open(eem_name(src, model="identity", tile=(32, 32), output_bands="output:float32:3",
                       cache_dir=cache)).ReadAsArray()
    assert n_instances(predictor) == 6
    predictor.reset()
    # another declared output type: another key
    gdal.Open(eem_name(src, model="identity", tile=(32, 32), output_bands="output:float64:3",
                       cache_dir=cache)).ReadAsArray()
    assert n_instances(predictor) == 6
    predictor.reset()
    # one changed source pixel: only that tile is predicted again
    ds = gdal.Open(src, gdal.GA_Update)
    ds.GetRasterBand(1).WriteArray(np.array([[0]], dtype=np.uint8), 40, 10)
    ds = None
    got = gdal.Open(eem_name(src, model="identity", tile=(32, 32), output_bands="output:float32:3",
                             cache_dir=cache)).ReadAsArray()
    assert n_instances(predictor) == 1
    assert got[0, 10, 40] == 0


def test_key_depends_on_static_headers(predictor, eem_name, make_raster, tmp_path):
    """A gateway may pick the model by header: other HEADERS / EEMODEL_HEADERS, other key."""
    cache = tmp_path / "h"
    src = random_raster(make_raster, seed=12)

    def read(headers=None):
        predictor.reset()
        gdal.Open(eem_name(src, model="identity", tile=(32, 32), output_bands="output:float32:3",
                           cache_dir=str(cache), headers=headers)).ReadAsArray()
        return n_instances(predictor)

    assert read("X-Model-Route: a") == 6
    assert read("X-Model-Route: a") == 0      # same headers: served from the cache
    assert read("X-Model-Route: b") == 6      # another value: another key
    assert read() == 6                         # no headers at all: another key again
    with config_options(EEMODEL_HEADERS="X-Model-Route: c"):
        assert read() == 6
        assert read() == 0
    # header values only enter the key as a digest: never in file names or contents
    assert entries(cache)
    for path in entries(cache):
        assert b"X-Model-Route" not in path.read_bytes() and "Route" not in str(path)


def test_damaged_entries_are_recomputed(predictor, eem_name, make_raster, tmp_path):
    src = random_raster(make_raster, seed=3)
    cache = tmp_path / "d"
    name = eem_name(src, model="conv", tile=(32, 32), overlap=(3, 3), cache_dir=str(cache))
    reference = gdal.Open(name).ReadAsArray()
    files = entries(cache)
    assert len(files) == 6
    # flip one byte in the middle of an entry, truncate another, empty a third
    data = bytearray(files[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    files[0].write_bytes(bytes(data))
    files[1].write_bytes(files[1].read_bytes()[:-40])
    files[2].write_bytes(b"")
    predictor.reset()
    again = gdal.Open(name).ReadAsArray()
    assert np.array_equal(again, reference)
    assert n_instances(predictor) == 3
    # the recomputed entries were written back whole
    predictor.reset()
    assert np.array_equal(gdal.Open(name).ReadAsArray(), reference)
    assert predictor.log() == []


def test_failed_tiles_are_not_cached(predictor, eem_name, make_raster, tmp_path):
    src = random_raster(make_raster, seed=4)
    cache = tmp_path / "f"
    name = eem_name(src, model="conv", tile=(32, 32), overlap=(3, 3), cache_dir=str(cache),
                    on_error="NODATA", max_payload_bytes=12000)
    predictor.fault(kind="status", status=400, count=1)
    with config_options(GDAL_HTTP_MAX_RETRY="0"):
        with _quiet():
            first = gdal.Open(name).ReadAsArray()
    failed = [r for r in predictor.log() if r["status"] != 200]
    assert len(failed) == 1
    n_failed = failed[0]["n_instances"]
    assert 0 < n_failed < 6
    assert np.isnan(first).any()         # the failed tiles are masked (float bands: NaN)
    assert len(entries(cache)) == 6 - n_failed
    predictor.reset()
    second = gdal.Open(name).ReadAsArray()
    assert n_instances(predictor) == n_failed   # only the failed tiles are predicted again
    reference = gdal.Open(eem_name(src, model="conv", tile=(32, 32), overlap=(3, 3))).ReadAsArray()
    assert np.array_equal(second, reference)
    assert (second != 0).all()
    assert len(entries(cache)) == 6


class _quiet:
    def __enter__(self):
        gdal.PushErrorHandler("CPLQuietErrorHandler")

    def __exit__(self, *exc):
        gdal.PopErrorHandler()


def test_size_cap_evicts(predictor, eem_name, make_raster, tmp_path):
    src = random_raster(make_raster, shape=(1, 128, 128), seed=9)
    cache = tmp_path / "cap"
    # one entry: 32x32 float32 + 96 bytes of header/checksum = 4192 bytes
    with config_options(EEMODEL_CACHE_MAX_SIZE="20K"):
        gdal.Open(eem_name(src, model="conv", tile=(32, 32), cache_dir=str(cache))).ReadAsArray()
    assert n_instances(predictor) == 16
    total = sum(p.stat().st_size for p in entries(cache))
    assert 0 < total <= 20 * 1024


def test_invalid_cache_settings_fail_at_open(predictor, eem_name, make_raster, tmp_path):
    src = random_raster(make_raster, seed=1)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(eem_name(src, model="conv", tile=(32, 32), cache_dir=str(blocker)))
    assert "CACHE_DIR" in str(excinfo.value)
    assert str(blocker) in str(excinfo.value)
    with config_options(EEMODEL_CACHE_MAX_SIZE="huge"):
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(eem_name(src, model="conv", tile=(32, 32), cache_dir=str(tmp_path / "ok")))
    assert "EEMODEL_CACHE_MAX_SIZE" in str(excinfo.value)
    assert predictor.log() == []


READER = r"""
import sys
import numpy as np
from osgeo import gdal
gdal.UseExceptions()
name, out = sys.argv[1], sys.argv[2]
np.save(out, gdal.Open(name).ReadAsArray())
"""


def test_two_processes_fill_one_cache(predictor, make_raster, tmp_path, subprocess_env):
    src = random_raster(make_raster, shape=(2, 160, 224), seed=12)
    cache = tmp_path / "shared"
    name = build_name(predictor.url, src, model="conv", tile=(32, 32), overlap=(3, 3),
                      cache_dir=str(cache), max_payload_bytes=20000)
    reference = gdal.Open(build_name(predictor.url, src, model="conv", tile=(32, 32),
                                     overlap=(3, 3))).ReadAsArray()
    predictor.reset()
    script = tmp_path / "reader.py"
    script.write_text(READER)
    procs = [subprocess.Popen([PYTHON, str(script), name, str(tmp_path / ("p%d.npy" % k))],
                              env=subprocess_env, stderr=subprocess.PIPE) for k in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode(errors="replace")
    for k in range(2):
        assert np.array_equal(np.load(tmp_path / ("p%d.npy" % k)), reference)
    assert n_instances(predictor) == 35   # 35 tiles, each predicted once (issue 14: leases)
    assert not [p for p in cache.rglob(".tmp-*")]
    assert len(entries(cache)) == 35
    predictor.reset()
    assert np.array_equal(gdal.Open(name).ReadAsArray(), reference)
    assert predictor.log() == []
