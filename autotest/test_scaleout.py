"""Beyond one machine (issue 14): the global tile lattice (TILE_ORIGIN, SCALE's lattice at
0,0), chunk advice in the EEMODEL domain, CACHE_KEY, per-tile leases in a shared cache
folder, the refusal of /vsi cache folders, the EEMODEL_STATS counters and the job budget.

Expected values are computed here independently (numpy floors for the lattice, the
stand-in's request log and instance digests for what was predicted)."""

import os
import subprocess
import time

import numpy as np
import pytest
from osgeo import gdal

from conftest import TOKEN, build_name, config_options

PYTHON = "/usr/bin/python3"
WAIT_SECONDS = 120  # generous bound for subprocesses on a busy 2-core machine


def world(shape=(2, 200, 260), seed=140):
    rng = np.random.default_rng(seed)
    return rng.integers(1, 60000, size=shape).astype(np.uint16)


def write_scene(path, array, x0, y0, px=30.0):
    bands, h, w = array.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, bands, gdal.GDT_UInt16)
    ds.SetGeoTransform((x0, px, 0.0, y0, 0.0, -px))
    ds.SetProjection("EPSG:32618")
    for b in range(bands):
        ds.GetRasterBand(b + 1).WriteArray(array[b])
    ds = None
    return str(path)


def digests(predictor):
    return [d for r in predictor.log() for d in r.get("instance_digests", [])]


def n_instances(predictor):
    return sum(r["n_instances"] for r in predictor.log())


def stats(ds):
    return {k: int(v) for k, v in ds.GetMetadata("EEMODEL_STATS").items()}


# ---------------------------------------------------------------------------
# 1. The global tile lattice


# world origin on a multiple of 32 tiles of 30 m: the SCALE lattice at 0,0 holds it too
WORLD_X0, WORLD_Y0 = 960.0 * 500, 960.0 * 4000


@pytest.mark.parametrize("anchor", ["tile_origin", "scale"])
def test_offset_scenes_share_tiles_cache_entries_and_seams(predictor, tmp_path, anchor):
    w = world()
    # two scenes cut from one world, offset by 61,37 pixels (1.9 x 1.2 tiles)
    a = write_scene(tmp_path / "a.tif", w[:, 0:150, 0:180], WORLD_X0, WORLD_Y0)
    bx, by = 61, 37
    b = write_scene(tmp_path / "b.tif", w[:, by:by + 160, bx:bx + 199],
                    WORLD_X0 + 30 * bx, WORLD_Y0 - 30 * by)
    cache = tmp_path / "cache"
    extra = ({"tile_origin": "%r,%r" % (WORLD_X0 + 30 * 32 * 3, WORLD_Y0 - 30 * 32 * 5)}
             if anchor == "tile_origin" else {"scale": 30})
    names = [build_name(predictor.url, s, model="conv", tile=(32, 32), overlap=(2, 2),
                        cache_dir=str(cache), **extra)
             for s in (a, b)]
    ds_a = gdal.Open(names[0])
    got_a = ds_a.ReadAsArray()
    valid_a = ds_a.GetRasterBand(1).GetMaskBand().ReadAsArray() > 0
    predictor.reset()
    ds_b = gdal.Open(names[1])
    got_b = ds_b.ReadAsArray()
    valid_b = ds_b.GetRasterBand(1).GetMaskBand().ReadAsArray() > 0

    # both grids start on the lattice: B's corner moved out to the world's tile corner
    gt_a, gt_b = ds_a.GetGeoTransform(), ds_b.GetGeoTransform()
    assert (gt_a[0], gt_a[3]) == (WORLD_X0, WORLD_Y0)
    assert (gt_b[0], gt_b[3]) == (WORLD_X0 + 960, WORLD_Y0 - 960)
    # B's grid is padded by 29,5 masked pixels, so 8x6 tiles
    assert (ds_b.RasterXSize, ds_b.RasterYSize) == (29 + 199, 5 + 160)
    assert not valid_b[:5].any() and not valid_b[:, :29].any()

    # tiles of B whose input window (overlap included) lies inside both scenes have the
    # same input in both: those come from A's cache entries, the others are predicted
    def inside(x0, y0, x1, y1, sx, sy, sw, sh):  # world pixels
        return x0 >= sx and y0 >= sy and x1 <= sx + sw and y1 <= sy + sh

    shared = 0
    for j in range(6):
        for i in range(8):
            x0, y0 = 32 + 32 * i - 2, 32 + 32 * j - 2
            x1, y1 = x0 + 36, y0 + 36
            if (inside(x0, y0, x1, y1, 0, 0, 180, 150) and inside(x0, y0, x1, y1, bx, by, 199, 160)):
                shared += 1
    assert shared == 6
    s = stats(ds_b)
    assert s["TILES_FROM_CACHE"] == shared
    assert n_instances(predictor) == s["TILES_PREDICTED"] == 8 * 6 - shared
    assert s["TILES_SKIPPED_MASKED"] == 0

    # the shared tiles (world tiles 2..4 x 2..3) have identical pixels, seams included
    assert np.array_equal(got_a[..., 64:128, 64:160], got_b[..., 32:96, 32:128])
    assert valid_a[64:128, 64:160].all() and valid_b[32:96, 32:128].all()


def test_scene_mode_keeps_the_scene_corner(predictor, tmp_path):
    w = world(shape=(1, 70, 90))
    src = write_scene(tmp_path / "s.tif", w, WORLD_X0 + 30 * 7, WORLD_Y0)
    ds = gdal.Open(build_name(predictor.url, src, tile=(32, 32), output_bands="output:float32",
                              scale=30, tile_origin="SCENE"))
    assert ds.GetGeoTransform()[0] == WORLD_X0 + 30 * 7
    assert ds.RasterXSize == 90
    md = ds.GetMetadata("EEMODEL")
    assert md["TILE_GRID_ANCHOR"] == "SCENE"
    ds = gdal.Open(build_name(predictor.url, src, tile=(32, 32), output_bands="output:float32",
                              scale=30))
    assert ds.GetGeoTransform()[0] == WORLD_X0
    assert ds.RasterXSize == 97
    assert ds.GetMetadata("EEMODEL")["TILE_GRID"] == "0,0,960,-960"
    assert ds.GetMetadata("EEMODEL")["TILE_GRID_ANCHOR"] == "SCALE"
    # identity model: the source's pixels, shifted by the 7 padded columns
    got = ds.GetRasterBand(1).ReadAsArray()
    assert np.array_equal(got[:, 7:], w[0].astype(np.float32))
    assert not (ds.GetRasterBand(1).GetMaskBand().ReadAsArray()[:, :7] > 0).any()


@pytest.mark.parametrize("value,words", [
    ("abc", ['TILE_ORIGIN: "abc" is not a point', "SCENE"]),
    ("1,2,3", ['TILE_ORIGIN: "1,2,3"', "X,Y"]),
    ("nan,0", ["TILE_ORIGIN", "X,Y"]),
    ("480015,3840000", ["TILE_ORIGIN", "not on the pixel lattice", "SCALE"]),
])
def test_tile_origin_errors_name_the_key(predictor, tmp_path, value, words):
    src = write_scene(tmp_path / "s.tif", world(shape=(1, 40, 40)), WORLD_X0, WORLD_Y0)
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(build_name(predictor.url, src, tile=(32, 32), tile_origin=value))
    for word in words:
        assert word in str(excinfo.value)
    assert predictor.log() == []


def test_tile_origin_with_proj_needs_scale(predictor, tmp_path):
    src = write_scene(tmp_path / "s.tif", world(shape=(1, 40, 40)), WORLD_X0, WORLD_Y0)
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(build_name(predictor.url, src, tile=(32, 32), proj="EPSG:4326",
                             tile_origin="0,0"))
    assert "TILE_ORIGIN" in str(excinfo.value) and "needs SCALE" in str(excinfo.value)


# ---------------------------------------------------------------------------
# 2. Chunk advice


def advice(tiles_x, tiles_y, per_request, connections):
    """Independent: the largest rectangle of at most per_request*connections tiles,
    squarest on ties."""
    want = min(per_request * connections, tiles_x * tiles_y)
    best = (0, 0, 0)
    for kx in range(1, min(tiles_x, want) + 1):
        ky = min(want // kx, tiles_y)
        key = (kx * ky, -abs(kx - ky))
        if key > best[:2]:
            best = (kx * ky, -abs(kx - ky), (kx, ky))
    return best[2]


def test_chunk_advice_fills_the_connections(predictor, make_raster):
    rng = np.random.default_rng(3)
    src = make_raster(rng.integers(0, 255, size=(1, 400, 520)).astype(np.uint8))
    # one 32x32 uint8 tile is about 1.4 kB serialized: 6 fit 10000 bytes
    name = build_name(predictor.url, src, tile=(32, 32), output_bands="output:float32",
                      max_payload_bytes=10000)
    with config_options(EEMODEL_MAX_CONNECTIONS="3"):
        ds = gdal.Open(name)
        md = ds.GetMetadata("EEMODEL")
    per_request = int(md["INSTANCES_PER_REQUEST"])
    assert per_request >= 2
    kx, ky = advice(17, 13, per_request, 3)
    assert md["CHUNK_MULTIPLE"] == "32,32"
    assert md["RECOMMENDED_CHUNK_SIZE"] == "%d,%d" % (32 * kx, 32 * ky)
    assert md["RECOMMENDED_CHUNK_TILES"] == str(kx * ky)
    assert md["MAX_CONNECTIONS"] == "3"
    gt = ds.GetGeoTransform()
    assert md["TILE_GRID"] == "%.17g,%.17g,%.17g,%.17g" % (gt[0], gt[3], 32 * gt[1], 32 * gt[5])
    # reading one recommended chunk sends at most MAX_CONNECTIONS requests of full batches
    w, h = 32 * kx, 32 * ky
    ds.GetRasterBand(1).ReadRaster(0, 0, w, h)
    log = predictor.log()
    assert sum(r["n_instances"] for r in log) == kx * ky
    assert len(log) == -(-kx * ky // per_request) <= 3


# ---------------------------------------------------------------------------
# 3. CACHE_KEY and leases


def test_cache_key_shares_entries_across_urls(predictor, make_raster, tmp_path):
    rng = np.random.default_rng(5)
    src = make_raster(rng.integers(1, 255, size=(2, 90, 100)).astype(np.uint8))
    for key, second_predicts in ((None, 12), ("conv-model@v1", 0)):
        cache = tmp_path / ("cache-%s" % key)
        first = gdal.Open(build_name(predictor.url, src, model="conv", tile=(32, 32),
                                     cache_dir=str(cache), cache_key=key)).ReadAsArray()
        assert n_instances(predictor) == 12
        predictor.renew()  # the same model behind another port: another URL
        ds = gdal.Open(build_name(predictor.url, src, model="conv", tile=(32, 32),
                                  cache_dir=str(cache), cache_key=key))
        assert np.array_equal(ds.ReadAsArray(), first)
        assert n_instances(predictor) == second_predicts
        assert stats(ds)["TILES_FROM_CACHE"] == 12 - second_predicts
        predictor.renew()


def entry_names(cache):
    return sorted(p.relative_to(cache) for p in cache.rglob("*")
                  if p.is_file() and len(p.name) == 64)


READER = r"""
import sys
import numpy as np
from osgeo import gdal
gdal.UseExceptions()
ds = gdal.Open(sys.argv[1])
np.save(sys.argv[2], ds.ReadAsArray())
print(ds.GetMetadataItem("TILES_WAITED", "EEMODEL_STATS"),
      ds.GetMetadataItem("TILES_PREDICTED", "EEMODEL_STATS"),
      ds.GetMetadataItem("TILES_FROM_CACHE", "EEMODEL_STATS"),
      ds.GetMetadataItem("LEASES_BROKEN", "EEMODEL_STATS"))
"""


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def lease_text(pid, expiry):
    return "eemodel-lease 1 %s %d 0 %d\n" % (os.uname().nodename, pid, expiry)


@pytest.mark.parametrize("holder", ["stores", "fails"])
def test_a_claimed_tile_is_waited_for_not_predicted(predictor, make_raster, tmp_path,
                                                    subprocess_env, holder):
    rng = np.random.default_rng(7)
    src = make_raster(rng.integers(1, 255, size=(1, 64, 96)).astype(np.uint8))
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    name = lambda cache: build_name(predictor.url, src, tile=(32, 32), cache_dir=str(cache))
    reference = gdal.Open(name(warm)).ReadAsArray()
    names = entry_names(warm)
    assert len(names) == 6
    # this test holds the leases of two tiles in the cold folder, as a live reader would
    held = names[:2]
    for n in held:
        (cold / n.parent).mkdir(parents=True, exist_ok=True)
        (cold / n.parent / (n.name + ".lease")).write_text(
            lease_text(os.getpid(), time.time() + 3600))
    predictor.reset()
    script = tmp_path / "reader.py"
    script.write_text(READER)
    proc = subprocess.Popen([PYTHON, str(script), name(cold), str(tmp_path / "out.npy")],
                            env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # the reader predicts the 4 free tiles, then waits for the held ones
    deadline = time.monotonic() + WAIT_SECONDS
    while n_instances(predictor) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert n_instances(predictor) == 4
    assert proc.poll() is None  # it cannot finish while the leases are held
    if holder == "stores":
        for n in held:
            os.link(warm / n, cold / n)
    for n in held:
        os.unlink(cold / n.parent / (n.name + ".lease"))
    out, err = proc.communicate(timeout=WAIT_SECONDS)
    assert proc.returncode == 0, err.decode(errors="replace")
    waited, predicted, from_cache, broken = map(int, out.split())
    assert waited == 2 and broken == 0
    if holder == "stores":
        assert (predicted, from_cache) == (4, 2)
        assert n_instances(predictor) == 4
    else:  # the holder gave up: the waiter predicts them itself
        assert (predicted, from_cache) == (6, 0)
        assert n_instances(predictor) == 6
    assert np.array_equal(np.load(tmp_path / "out.npy"), reference)
    assert not list(cold.rglob("*.lease*"))


@pytest.mark.parametrize("stale", ["dead_owner", "expired"])
def test_stale_leases_are_broken(predictor, make_raster, tmp_path, stale):
    rng = np.random.default_rng(8)
    src = make_raster(rng.integers(1, 255, size=(1, 64, 64)).astype(np.uint8))
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    reference = gdal.Open(build_name(predictor.url, src, tile=(32, 32),
                                     cache_dir=str(warm))).ReadAsArray()
    text = (lease_text(dead_pid(), time.time() + 3600) if stale == "dead_owner"
            else lease_text(os.getpid(), time.time() - 1))
    for n in entry_names(warm):
        (cold / n.parent).mkdir(parents=True, exist_ok=True)
        (cold / n.parent / (n.name + ".lease")).write_text(text)
    predictor.reset()
    ds = gdal.Open(build_name(predictor.url, src, tile=(32, 32), cache_dir=str(cold)))
    assert np.array_equal(ds.ReadAsArray(), reference)
    s = stats(ds)
    assert s["LEASES_BROKEN"] == 4 and s["TILES_WAITED"] == 0 and s["TILES_PREDICTED"] == 4
    assert n_instances(predictor) == 4
    assert not list(cold.rglob("*.lease*"))


def test_concurrent_readers_predict_each_tile_once(make_raster, tmp_path, subprocess_env):
    from predictor.harness import StandIn
    rng = np.random.default_rng(9)
    src = make_raster(rng.integers(1, 255, size=(2, 128, 160)).astype(np.uint8))
    # a slow server keeps requests in flight while the other readers start
    with StandIn.start(token=TOKEN, latency=0.2) as server:
        name = build_name(server.url, src, model="conv", tile=(32, 32), overlap=(2, 2),
                          cache_dir=str(tmp_path / "shared"), max_payload_bytes=6000)
        reference = gdal.Open(build_name(server.url, src, model="conv", tile=(32, 32),
                                         overlap=(2, 2))).ReadAsArray()
        server.reset()
        script = tmp_path / "reader.py"
        script.write_text(READER)
        procs = [subprocess.Popen([PYTHON, str(script), name, str(tmp_path / ("p%d.npy" % k))],
                                  env=subprocess_env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for k in range(4)]
        totals = np.zeros(4, dtype=int)
        for p in procs:
            out, err = p.communicate(timeout=WAIT_SECONDS)
            assert p.returncode == 0, err.decode(errors="replace")
            totals += np.array([int(v) for v in out.split()])
        log_digests = digests(server)
    for k in range(4):
        assert np.array_equal(np.load(tmp_path / ("p%d.npy" % k)), reference)
    assert len(log_digests) == 20 and len(set(log_digests)) == 20  # 20 tiles, each once
    waited, predicted, from_cache, broken = totals
    assert predicted == 20 and broken == 0
    assert predicted + from_cache == 80  # every reader got every tile, waited ones from the cache
    assert waited <= from_cache


def test_tightened_two_process_fill_sees_each_tile_once(predictor, make_raster, tmp_path,
                                                        subprocess_env):
    rng = np.random.default_rng(10)
    src = make_raster(rng.integers(1, 255, size=(1, 96, 96)).astype(np.uint8))
    name = build_name(predictor.url, src, tile=(32, 32), cache_dir=str(tmp_path / "c"))
    script = tmp_path / "reader.py"
    script.write_text(READER)
    procs = [subprocess.Popen([PYTHON, str(script), name, str(tmp_path / ("p%d.npy" % k))],
                              env=subprocess_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for k in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=WAIT_SECONDS)
        assert p.returncode == 0, err.decode(errors="replace")
    assert n_instances(predictor) == 9
    assert len(set(digests(predictor))) == 9


# ---------------------------------------------------------------------------
# 4. Other virtual file systems as a cache: refused, never a local folder of that name
#    (object storage itself: test_cache_s3.py)


@pytest.mark.parametrize("where", ["option", "config"])
@pytest.mark.parametrize("folder", ["/vsimem/eemodel-cache", "/vsizip/a.zip/b",
                                    "/vsicurl/http://127.0.0.1:1/c"])
def test_other_vsi_cache_folders_are_refused(predictor, make_raster, folder, where):
    src = make_raster(np.ones((1, 40, 40), dtype=np.uint8))
    top = "/" + folder.split("/")[1]
    assert not os.path.exists(top)
    with pytest.raises(RuntimeError) as excinfo:
        if where == "option":
            gdal.Open(build_name(predictor.url, src, tile=(32, 32), cache_dir=folder))
        else:
            with config_options(EEMODEL_CACHE_DIR=folder):
                gdal.Open(build_name(predictor.url, src, tile=(32, 32)))
    msg = str(excinfo.value)
    assert ("CACHE_DIR" if where == "option" else "EEMODEL_CACHE_DIR") in msg
    assert folder in msg and "not supported" in msg and "/vsis3/" in msg
    assert not os.path.exists(top)
    assert predictor.log() == []


def test_unreachable_bucket_fails_at_open(predictor, make_raster):
    src = make_raster(np.ones((1, 40, 40), dtype=np.uint8))
    # an endpoint on a closed local port: nothing listens, nothing leaves the machine
    with config_options(AWS_S3_ENDPOINT="127.0.0.1:1", AWS_HTTPS="NO",
                        AWS_VIRTUAL_HOSTING="FALSE", AWS_ACCESS_KEY_ID="x",
                        AWS_SECRET_ACCESS_KEY="y", GDAL_HTTP_MAX_RETRY="0"):
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(build_name(predictor.url, src, tile=(32, 32),
                                 cache_dir="/vsis3/nobucket/cache"))
    msg = str(excinfo.value)
    assert "CACHE_DIR" in msg and "/vsis3/nobucket" in msg and "cannot be reached" in msg
    assert not os.path.exists("/vsis3")
    assert predictor.log() == []


# ---------------------------------------------------------------------------
# 5. Counters and the job budget


def test_stats_count_requests_tiles_bytes_and_cache(predictor, make_raster, tmp_path):
    rng = np.random.default_rng(11)
    array = rng.integers(1, 255, size=(1, 64, 96)).astype(np.uint8)
    array[:, 0:32, 0:32] = 0  # tile (0,0) all nodata: skipped
    src = make_raster(array, nodata=0)
    cache = tmp_path / "c"
    name = build_name(predictor.url, src, tile=(32, 32), cache_dir=str(cache),
                      max_payload_bytes=2000)
    predictor.fault(kind="status", status=503, count=1)
    with config_options(GDAL_HTTP_RETRY_DELAY="0.01"):
        ds = gdal.Open(name)
        ds.ReadAsArray()
        s = stats(ds)
    log = predictor.log()
    ok = [r for r in log if r["status"] == 200]
    assert s["TILES_SKIPPED_MASKED"] == 1
    assert s["TILES_PREDICTED"] == 5 == sum(r["n_instances"] for r in ok)
    assert s["REQUESTS"] == len(ok) and s["RETRIES"] == len(log) - len(ok) == 1
    assert s["BYTES_SENT"] == sum(r["body_bytes"] for r in ok)
    assert s["BYTES_RECEIVED"] > 0
    assert s["CACHE_WRITES"] == 5 and s["TILES_FROM_CACHE"] == 0 and s["TILES_FAILED"] == 0
    assert s["CACHE_EVICTIONS"] == 0
    assert "EEMODEL_STATS" in ds.GetMetadataDomainList()
    ds2 = gdal.Open(name)
    ds2.ReadAsArray()
    s2 = stats(ds2)
    assert s2["TILES_FROM_CACHE"] == 5 and s2["TILES_PREDICTED"] == 0 and s2["REQUESTS"] == 0


def test_stats_count_failed_tiles(predictor, make_raster):
    src = make_raster(np.full((1, 32, 64), 7, dtype=np.uint8))
    predictor.fault(kind="status", status=400, count=1)
    ds = gdal.Open(build_name(predictor.url, src, tile=(32, 32), on_error="NODATA",
                              max_payload_bytes=2000))
    ds.ReadAsArray()
    s = stats(ds)
    assert s["TILES_FAILED"] == 1 and s["TILES_PREDICTED"] == 1


JOB = r"""
import sys
from osgeo import gdal
gdal.UseExceptions()
ds = gdal.Open(sys.argv[1])
x, y, w, h = map(int, sys.argv[2:6])
try:
    ds.GetRasterBand(1).ReadRaster(x, y, w, h)
    print("ok")
except RuntimeError as e:
    print("refused:", e)
"""


def test_job_budget_is_shared_by_processes(predictor, make_raster, tmp_path, subprocess_env):
    rng = np.random.default_rng(12)
    src = make_raster(rng.integers(1, 255, size=(1, 64, 160)).astype(np.uint8))
    cache = tmp_path / "c"
    name = build_name(predictor.url, src, tile=(32, 32), cache_dir=str(cache),
                      job_max_predictions=7)
    script = tmp_path / "job.py"
    script.write_text(JOB)
    run = lambda *win: subprocess.run([PYTHON, str(script), name] + [str(v) for v in win],
                                      env=subprocess_env, capture_output=True, text=True,
                                      timeout=WAIT_SECONDS).stdout
    assert run(0, 0, 96, 64) == "ok\n"          # 6 tiles
    assert run(0, 0, 96, 64) == "ok\n"          # the same 6: from the cache, free
    out = run(96, 0, 64, 64)                    # a request of 4 more: 6 + 4 > 7
    assert out.startswith("refused:") and "JOB_MAX_PREDICTIONS" in out
    assert "has sent 6 of its 7 predictions" in out and "request of 4 more" in out
    assert (cache / "job-predictions.count").read_text() == "6\n"
    assert n_instances(predictor) == 6          # the refused request was not sent
    ds = gdal.Open(name)
    assert stats(ds)["JOB_PREDICTIONS"] == 6
    (cache / "job-predictions.count").unlink()  # a new job
    assert run(96, 0, 64, 64) == "ok\n"
    assert n_instances(predictor) == 10


def test_job_budget_needs_a_cache_folder(predictor, make_raster):
    src = make_raster(np.ones((1, 40, 40), dtype=np.uint8))
    with pytest.raises(RuntimeError) as excinfo:
        gdal.Open(build_name(predictor.url, src, tile=(32, 32), job_max_predictions=5))
    assert "JOB_MAX_PREDICTIONS" in str(excinfo.value) and "CACHE_DIR" in str(excinfo.value)


def test_size_cap_holds_under_concurrent_writers(predictor, make_raster, tmp_path,
                                                 subprocess_env):
    """Three processes fill one capped folder at once.  No process scans per write: each
    re-measures after writing an eighth of the cap (or when its estimate passes it), so the
    folder ends at most one eighth of the cap per process over it, never unbounded."""
    cache = tmp_path / "capped"
    cap = 64 * 1024
    names = []
    for k in range(3):
        rng = np.random.default_rng(100 + k)
        src = make_raster(rng.integers(1, 255, size=(1, 128, 160)).astype(np.uint8))
        names.append(build_name(predictor.url, src, tile=(32, 32), cache_dir=str(cache)))
    script = tmp_path / "reader.py"
    script.write_text(READER)
    env = dict(subprocess_env, EEMODEL_CACHE_MAX_SIZE=str(cap))
    procs = [subprocess.Popen([PYTHON, str(script), n, str(tmp_path / ("p%d.npy" % k))],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for k, n in enumerate(names)]
    for p in procs:
        _, err = p.communicate(timeout=WAIT_SECONDS)
        assert p.returncode == 0, err.decode(errors="replace")
    sizes = [p.stat().st_size for p in cache.rglob("*") if p.is_file() and len(p.name) == 64]
    entry = 32 * 32 * 4 + 8 + 4 + 4 + 32 + 8 + 32  # one float32 band, header, checksum
    assert set(sizes) == {entry}
    assert 60 * entry > cap  # 60 tiles written in all: far over the cap
    assert sum(sizes) <= cap + 3 * (cap // 8 + entry)
    assert sum(sizes) >= cap // 2  # eviction stops at 90 % of the cap, not at zero
    assert not list(cache.rglob(".tmp-*")) and not list(cache.rglob("*.lease*"))
