#!/usr/bin/python3
"""EEMODEL scale-out benchmark (issue 14): a dask.distributed LocalCluster of worker
processes reading through rioxarray, and a job array of concurrent gdal_translate -srcwin
runs, chunks aligned and misaligned to the tiles, with and without a shared cache folder.

For each scenario it prints tiles predicted per tile needed (from the stand-in's request
log), requests, wall time, and peak memory (RSS) per worker.  Prints figures; never fails
on time (exit status is non-zero only when an output differs from one plain
gdal_translate).  See bench/README.md."""

import argparse
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from _common import StandIn, gdal, np  # paths, plugin, cache env: first

TOKEN = "bench-token"
os.environ["EEMODEL_ACCESS_TOKEN"] = TOKEN
os.environ["EEMODEL_MAX_PREDICTIONS"] = "1000000"

import dask  # noqa: E402
import distributed  # noqa: E402
import rioxarray  # noqa: E402

from conftest import build_name  # noqa: E402

TILE = 128


def make_raster(path, tiles_x, tiles_y):
    rng = np.random.default_rng(14)
    w, h = tiles_x * TILE - 37, tiles_y * TILE - 19  # partial edge tiles, as in real scenes
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, 2, gdal.GDT_Byte,
                                              ["TILED=YES"])
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0))
    ds.SetProjection("EPSG:32618")
    for b in range(2):
        ds.GetRasterBand(b + 1).WriteArray(rng.integers(1, 255, size=(h, w)).astype(np.uint8))
    ds = None
    return w, h


def instances(server):
    log = server.log()
    return sum(r["n_instances"] for r in log), len(log)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_dask(client, name, chunk):
    da = rioxarray.open_rasterio(name, chunks={"band": 1, "x": chunk, "y": chunk}, lock=False,
                                 mask_and_scale=False)
    return client.compute(da.data).result()[0]


def run_job_array(name, w, h, step, folder, parallel):
    windows = [(x, y, min(step, w - x), min(step, h - y))
               for y in range(0, h, step) for x in range(0, w, step)]
    out = np.empty((h, w), dtype=np.float32)
    peak = 0.0
    pending = list(enumerate(windows))
    running = []
    while pending or running:
        while pending and len(running) < parallel:
            k, (x, y, cw, ch) = pending.pop(0)
            path = folder / ("part%d.tif" % k)
            p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "gdal_translate", "-q", "-srcwin",
                                  str(x), str(y), str(cw), str(ch), name, str(path)],
                                 stderr=subprocess.PIPE)
            running.append((p, path, (x, y, cw, ch)))
        p, path, (x, y, cw, ch) = running.pop(0)
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit("gdal_translate failed: %s" % err.decode(errors="replace"))
        peak = max(peak, int(err.split()[-1]) / 1024.0)
        out[y:y + ch, x:x + cw] = gdal.Open(str(path)).ReadAsArray()
    return out, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=16, help="tiles per side (default 16)")
    parser.add_argument("--workers", type=int, default=4, help="Dask worker processes")
    parser.add_argument("--latency", type=float, default=0.1, help="stand-in seconds/request")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="eemodel-bench-scaleout-"))
    server = StandIn.start(token=TOKEN, latency=args.latency)
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg())
    failed = False
    try:
        src = tmp / "scene.tif"
        w, h = make_raster(src, args.tiles, args.tiles)
        name_of = lambda cache: build_name(server.url, str(src), model="ndi", tile=(TILE, TILE),
                                           cache_dir=str(cache) if cache else None)
        ref_path = tmp / "reference.tif"
        server.reset()
        t0 = time.monotonic()
        subprocess.run(["gdal_translate", "-q", name_of(None), str(ref_path)], check=True)
        t_ref = time.monotonic() - t0
        needed, requests = instances(server)
        want = gdal.Open(str(ref_path)).ReadAsArray()
        print("raster %dx%d, %d tiles of %d px, stand-in latency %.2f s/request"
              % (w, h, needed, TILE, args.latency))
        print("%-44s %10s %9s %8s %12s" % ("scenario", "pred/need", "requests", "wall s",
                                           "RSS/worker MB"))
        print("%-44s %10.2f %9d %8.1f %12s" % ("one gdal_translate", 1.0, requests, t_ref, "-"),
              flush=True)

        for chunk in (2 * TILE, 500):
            for shared in (False, True):
                cache = tmp / ("cache-dask-%d" % chunk) if shared else None
                # a fresh cluster per scenario: peak RSS is per run, nothing warm
                with dask.config.set({"distributed.comm.timeouts.connect": "120s"}):
                    cluster = distributed.LocalCluster(n_workers=args.workers,
                                                       threads_per_worker=1, processes=True,
                                                       dashboard_address=None, host="127.0.0.1")
                    client = distributed.Client(cluster)
                    try:
                        server.reset()
                        t0 = time.monotonic()
                        got = run_dask(client, name_of(cache), chunk)
                        wall = time.monotonic() - t0
                        rss = client.run(peak_rss_mb)
                    finally:
                        client.close()
                        cluster.close()
                n, r = instances(server)
                ok = np.array_equal(got, want, equal_nan=True)
                failed |= not ok
                print("%-44s %10.2f %9d %8.1f %12.0f%s"
                      % ("dask x%d, %d px chunks, %s" % (args.workers, chunk,
                                                         "shared cache" if shared else "no cache"),
                         n / needed, r, wall, max(rss.values()),
                         "" if ok else "  OUTPUT DIFFERS"), flush=True)

        for step in (2 * TILE, 500):
            for shared in (False, True):
                cache = tmp / ("cache-array-%d" % step) if shared else None
                folder = tmp / ("array-%d-%d" % (step, shared))
                folder.mkdir()
                server.reset()
                t0 = time.monotonic()
                got, peak = run_job_array(name_of(cache), w, h, step, folder, args.workers)
                wall = time.monotonic() - t0
                n, r = instances(server)
                ok = np.array_equal(got, want, equal_nan=True)
                failed |= not ok
                print("%-44s %10.2f %9d %8.1f %12.0f%s"
                      % ("job array x%d, -srcwin %d px, %s" % (args.workers, step,
                                                               "shared cache" if shared
                                                               else "no cache"),
                         n / needed, r, wall, peak, "" if ok else "  OUTPUT DIFFERS"), flush=True)
    finally:
        server.stop()
        print("load average at end: %.2f %.2f %.2f" % os.getloadavg())
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
