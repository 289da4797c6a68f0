"""Proof on a real engine (issue 14 item 6): a dask.distributed LocalCluster of worker
processes reading an EEMODEL raster through rioxarray, and a job array of concurrent
gdal_translate -srcwin runs, with chunks aligned and misaligned to the tiles, with and
without a shared cache folder, and with a worker killed mid-run.  Each run's output must
equal one plain gdal_translate of the whole raster, and with a shared cache the stand-in
must see each tile exactly once (its request log's instance digests).

No timing assertions: workers are processes of a busy machine, so only outcomes are
checked, with generous timeouts."""

import os
import signal
import subprocess

import numpy as np
import pytest
from osgeo import gdal

from conftest import build_name

# Debian python3-dask, python3-distributed, python3-rioxarray (scripts/install-deps.sh)
import dask
import distributed
import rioxarray

TIMEOUT = 600  # seconds for a whole run on a loaded 2-core machine
N_WORKERS = 3


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of worker processes (one thread each) for the whole module."""
    with dask.config.set({"distributed.comm.timeouts.connect": "120s",
                          "distributed.comm.timeouts.tcp": "300s",
                          "distributed.scheduler.allowed-failures": 5}):
        cluster = distributed.LocalCluster(n_workers=N_WORKERS, threads_per_worker=1,
                                           processes=True, dashboard_address=None,
                                           host="127.0.0.1")
        c = distributed.Client(cluster, timeout="120s")
        try:
            yield c
        finally:
            c.close()
            cluster.close()


def digests(predictor):
    return [d for r in predictor.log() for d in r.get("instance_digests", [])]


def reference(name, tmp_path, subprocess_env):
    """One plain gdal_translate of the whole raster, read back."""
    out = tmp_path / "reference.tif"
    subprocess.run(["gdal_translate", "-q", name, str(out)], env=subprocess_env, check=True,
                   timeout=TIMEOUT)
    ds = gdal.Open(str(out))
    return ds.ReadAsArray()


def model_name(predictor, rgb_byte, cache):
    return build_name(predictor.url, rgb_byte, model="conv", tile=(128, 128), overlap=(2, 2),
                      cache_dir=str(cache) if cache else None)


def through_rioxarray(client, name, chunk):
    da = rioxarray.open_rasterio(name, chunks={"band": 1, "x": chunk, "y": chunk}, lock=False,
                                 mask_and_scale=False)
    return client.compute(da.data).result(timeout=TIMEOUT)[0]


@pytest.mark.parametrize("chunk,shared_cache", [(256, True), (200, True), (256, False),
                                                (200, False)])
def test_rioxarray_on_a_local_cluster(client, predictor, rgb_byte, tmp_path, subprocess_env,
                                      chunk, shared_cache):
    name = model_name(predictor, rgb_byte, tmp_path / "cache" if shared_cache else None)
    want = reference(model_name(predictor, rgb_byte, None), tmp_path, subprocess_env)
    tiles = digests(predictor)
    assert len(tiles) == len(set(tiles)) > 30  # the tiles one plain run predicts, once each
    predictor.reset()
    got = through_rioxarray(client, name, chunk)
    assert np.array_equal(got, want, equal_nan=True)
    seen = digests(predictor)
    assert set(seen) == set(tiles)  # every tile, no other input
    if shared_cache:
        # a shared cache: each tile once, however the chunks fall and whichever worker
        # reads ahead (without one, a worker's read-ahead of a sequential scan may predict
        # tiles another worker predicts too)
        assert sorted(seen) == sorted(tiles)


def read_window_or_die(name, x, y, w, h, kill_flag):
    """A Dask task: read one window through rioxarray; the first task to find no flag
    file kills its own worker process after reading (its result is lost, so the
    scheduler runs it again on another worker)."""
    da = rioxarray.open_rasterio(name, lock=False, mask_and_scale=False)
    values = da.isel(x=slice(x, x + w), y=slice(y, y + h)).values[0]
    try:
        fd = os.open(kill_flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return values
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
    return None


def test_a_killed_worker_costs_no_tile_twice(client, predictor, rgb_byte, tmp_path,
                                             subprocess_env):
    name = model_name(predictor, rgb_byte, tmp_path / "cache")
    want = reference(model_name(predictor, rgb_byte, None), tmp_path, subprocess_env)
    tiles = digests(predictor)
    predictor.reset()
    windows = [(x, y, min(300, 791 - x), min(300, 718 - y))
               for y in range(0, 718, 300) for x in range(0, 791, 300)]
    flag = str(tmp_path / "killed")
    futures = client.map(read_window_or_die, [name] * len(windows), *zip(*windows),
                         [flag] * len(windows), pure=False)
    parts = client.gather(futures)
    assert os.path.exists(flag)  # a worker did die
    got = np.empty_like(want)
    for (x, y, w, h), part in zip(windows, parts):
        got[y:y + h, x:x + w] = part
    assert np.array_equal(got, want, equal_nan=True)
    assert sorted(digests(predictor)) == sorted(tiles)


@pytest.mark.parametrize("step", [256, 300])
def test_a_job_array_of_srcwin_runs(predictor, rgb_byte, tmp_path, subprocess_env, step):
    name = model_name(predictor, rgb_byte, tmp_path / "cache")
    want = reference(model_name(predictor, rgb_byte, None), tmp_path, subprocess_env)
    tiles = digests(predictor)
    predictor.reset()
    windows = [(x, y, min(step, 791 - x), min(step, 718 - y))
               for y in range(0, 718, step) for x in range(0, 791, step)]
    # the whole array at once, as a scheduler would start it
    procs = []
    for k, (x, y, w, h) in enumerate(windows):
        out = tmp_path / ("part%d.tif" % k)
        procs.append(subprocess.Popen(
            ["gdal_translate", "-q", "-srcwin", str(x), str(y), str(w), str(h), name, str(out)],
            env=subprocess_env, stderr=subprocess.PIPE))
    for p in procs:
        _, err = p.communicate(timeout=TIMEOUT)
        assert p.returncode == 0, err.decode(errors="replace")
    got = np.empty_like(want)
    for k, (x, y, w, h) in enumerate(windows):
        got[y:y + h, x:x + w] = gdal.Open(str(tmp_path / ("part%d.tif" % k))).ReadAsArray()
    assert np.array_equal(got, want, equal_nan=True)
    assert sorted(digests(predictor)) == sorted(tiles)
