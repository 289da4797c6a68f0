#!/usr/bin/python3
"""EEMODEL pipeline benchmark (issue 13, items 2 and 4): how close the driver keeps a
predictor of known shape to its measured capacity, how idle the server's workers sit, how
many tiles are predicted that no reader asked for, and how peak memory grows with the raster.

Per server shape it prints the measured capacity (threads posting pre-encoded full requests
back to back), the tiles/s of one gdal_translate of the whole raster and their ratio, the
share of worker time left idle (from the stand-in's request timeline), requests against the
minimum and duplicates.  Then the waste of five readers (tiles predicted but not in the
reader's windows) and peak RSS at two raster sizes.  Prints figures; never fails on time:
the exit status is non-zero only when something is wrong (a command failed, or pixels
differ from the model applied with numpy).  See bench/README.md ("Pipeline benchmark").
"""

import argparse
import concurrent.futures
import hashlib
import http.client
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

from _common import BUILD, StandIn, gdal, np  # paths, plugin, cache env: first

from predictor import models, wire  # noqa: E402

TOKEN = "bench-token"
MODEL = "identity"            # the stand-in answers x (float32), cast to uint8 by its config
TILE = 64                     # input = output tile, no overlap: 64x64x3 uint8 (3 keys b1..b3)
BANDS = 3
SIZE = 3200                   # 50 x 50 = 2,500 tiles; --quick: 1600 (625 tiles)
QUICK_SIZE = 1600
REPEATS = 3                   # gdal_translate runs per shape (median reported); --quick: 1
RSS_CACHEMAX_MB = 32          # GDAL_CACHEMAX of the memory runs at SIZE (scaled with the area
                              # for other sizes: GDAL's block cache, source and output blocks,
                              # must be full at both sizes or its own growth is measured)
RSS_TILE_STORE_MB = 16        # second memory row: the driver's tile store bounded too
MAX_PREDICTIONS = 1000000     # the cost guard is not a performance setting
WINDOW = 1024                 # reader windows (-srcwin, strip-wise chunk, dask region)
STRIP_ROWS = 128              # strip-wise reader: rows per ReadAsArray
DASK_CHUNK = 500              # rioxarray-style reader: chunk side (misaligned to the tiles)
TIMELINE_CHARS = 64           # width of the printed worker-occupancy timeline
OCCUPANCY = " .:-=+*#%@"      # 0 .. all workers busy

# Server shapes of issue 13: workers, seconds per request, seconds per instance, 503 share.
SHAPES = {
    "A": {"label": "4 workers, 100 ms + 5 ms/instance", "workers": 4, "latency": 0.1,
          "per_instance": 0.005, "fail_share": 0.0},
    "B": {"label": "16 workers, 20 ms", "workers": 16, "latency": 0.02,
          "per_instance": 0.0, "fail_share": 0.0},
    "C": {"label": "2 workers, 500 ms", "workers": 2, "latency": 0.5,
          "per_instance": 0.0, "fail_share": 0.0},
    "D": {"label": "4 workers, 100 ms + 5 ms/instance, 10% 503, ON_ERROR=NODATA", "workers": 4,
          "latency": 0.1, "per_instance": 0.005, "fail_share": 0.1, "on_error": "NODATA"},
}
FAIL_SEED = 9                 # --fail-seed of the stand-in: 4 of its first 30 draws fail
WASTE_SHAPE = "A"
MEMORY_SHAPE = "B"
# What GET of the model resource answers at open (the stand-in's google_resource): "ready",
# as Google's own API does, lets the open confirm the model and skip the slow start's one-tile
# probe; None (--no-model-resource: a role that may not read the model, a gateway) keeps it.
MODEL_RESOURCE = "ready"


def fmt(x, digits=2):
    return ("%%.%df" % digits) % x


# -- rasters and names ------------------------------------------------------------------


def make_raster(path, size, seed):
    """A tiled uint8 GTiff of BANDS random bands (every tile's bytes distinct)."""
    rng = np.random.default_rng(seed)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, BANDS, gdal.GDT_Byte,
                                              ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"])
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0))
    ds.SetProjection("EPSG:32618")
    step = 512
    for b in range(BANDS):
        band = ds.GetRasterBand(b + 1)
        for y in range(0, size, step):
            band.WriteArray(rng.integers(0, 256, size=(min(step, size - y), size), dtype=np.uint8), 0, y)
    ds = None
    return str(path)


def tile_digests(src):
    """{digest of band 1's tile bytes: (tx, ty)}: what the stand-in logs per instance
    (SHA-1 of the first key's tensor, 16 hex digits) mapped back to the tile."""
    ds = gdal.Open(src)
    band = ds.GetRasterBand(1)
    n = ds.RasterXSize // TILE
    table = {}
    for ty in range(ds.RasterYSize // TILE):
        row = band.ReadAsArray(0, ty * TILE, ds.RasterXSize, TILE)
        for tx in range(n):
            tile = np.ascontiguousarray(row[:, tx * TILE:(tx + 1) * TILE])
            table[hashlib.sha1(tile.tobytes()).hexdigest()[:16]] = (tx, ty)
    return table


def eem_name(server, src, on_error=None):
    parts = ["input=%s" % src, "api_root=%s" % server.url, "project=p", "model=%s" % MODEL,
             "input_tile_size=%d,%d" % (TILE, TILE), "output_bands=output:uint8:%d" % BANDS]
    if on_error:
        parts.append("on_error=%s" % on_error)
    return "EEMODEL:" + ";".join(parts)


def child_env(extra=None):
    env = dict(os.environ)
    env["EEMODEL_ACCESS_TOKEN"] = TOKEN
    env["EEMODEL_MAX_PREDICTIONS"] = str(MAX_PREDICTIONS)
    env.update(extra or {})
    return env


def expected_strip(src_ds, y, h):
    """The model's answer for rows y..y+h, computed with numpy: (BANDS, h, W) uint8."""
    x = src_ds.ReadAsArray(0, y, src_ds.RasterXSize, h)           # (C, h, W)
    out = models.MODELS[MODEL](np.moveaxis(x, 0, 2))["output"]    # (h, W, C) float32
    return np.moveaxis(out.astype(np.uint8), 2, 0)                # the stand-in's out_dtype cast


def check_output(out, src, predicted):
    """Compare the output with the model applied with numpy, tile by tile.  A tile never
    answered by the server (`predicted`: set of (tx, ty)) must be masked (0: integer bands
    without NODATA), every other tile must be exact.  Returns the number of masked tiles;
    exits on wrong pixels."""
    src_ds, out_ds = gdal.Open(src), gdal.Open(out)
    if (out_ds.RasterXSize, out_ds.RasterYSize, out_ds.RasterCount) != \
            (src_ds.RasterXSize, src_ds.RasterYSize, BANDS):
        raise SystemExit("wrong output size in %s" % out)
    masked = 0
    for ty in range(src_ds.RasterYSize // TILE):
        want = expected_strip(src_ds, ty * TILE, TILE)
        got = out_ds.ReadAsArray(0, ty * TILE, out_ds.RasterXSize, TILE)
        for tx in range(src_ds.RasterXSize // TILE):
            cut = np.s_[:, :, tx * TILE:(tx + 1) * TILE]
            if (tx, ty) in predicted:
                if not np.array_equal(got[cut], want[cut]):
                    raise SystemExit("wrong pixels in %s, tile (%d,%d)" % (out, tx, ty))
            elif np.any(got[cut]):
                raise SystemExit("tile (%d,%d) of %s was never answered by the server but is "
                                 "not masked" % (tx, ty, out))
            else:
                masked += 1
    return masked


# -- the request log ------------------------------------------------------------------


def configure(server):
    """The stand-in's answer options for every run: uint8 answers, the model resource."""
    server.config(out_dtype="uint8", google_resource=MODEL_RESOURCE)


def settle(server):
    """Wait until every request that reached the server is in its log (a client that
    exited may leave requests in flight: the server still answers and logs them)."""
    for _ in range(2):
        while server.in_flight() > 0:
            time.sleep(0.05)
        time.sleep(0.1)
    return server.log()


def summarize(log, digests):
    ok = [r for r in log if r["status"] == 200]
    tiles = [digests.get(d) for r in ok for d in r.get("instance_digests", [])]
    unknown = sum(1 for t in tiles if t is None)
    tiles = [t for t in tiles if t is not None]
    return {
        "requests": len(ok), "failed": len(log) - len(ok), "predicted": len(tiles) + unknown,
        "distinct": set(tiles), "unknown": unknown,
        "max_instances": max([r["n_instances"] for r in ok] or [0]),
    }


def busy_intervals(log):
    return [(r["t_worker_start"], r["t_worker_end"]) for r in log
            if r.get("t_worker_start") is not None and r.get("t_worker_end") is not None]


def idle_share(log, workers):
    """1 - worker-seconds busy / (workers x span), span = first request start to last
    request end (all predict requests, 503s included)."""
    if not log:
        return float("nan"), 0.0
    t0 = min(r["t_start"] for r in log)
    t1 = max(r["t_end"] for r in log)
    span = t1 - t0
    busy = sum(min(b, t1) - max(a, t0) for a, b in busy_intervals(log) if b > a)
    return (1.0 - busy / (workers * span) if span > 0 else float("nan")), span


def occupancy_line(log, workers, chars=TIMELINE_CHARS):
    """One character per slice of the span: share of workers busy (' ' none .. '@' all)."""
    if not log:
        return ""
    t0 = min(r["t_start"] for r in log)
    span = max(r["t_end"] for r in log) - t0
    if span <= 0:
        return ""
    step = span / chars
    busy = [0.0] * chars
    for a, b in busy_intervals(log):
        a, b = a - t0, b - t0
        first, last = max(int(a / step), 0), min(int(b / step), chars - 1)
        for k in range(first, last + 1):
            busy[k] += max(0.0, min(b, (k + 1) * step) - max(a, k * step))
    top = len(OCCUPANCY) - 1
    return "".join(OCCUPANCY[min(top, int(round(top * v / (workers * step))))] for v in busy)


# -- the measured capacity ---------------------------------------------------------------


def probe_capacity(server, workers, k, threads, seconds):
    """The server's real capacity in tiles/s: `threads` clients post pre-encoded requests of
    k tiles back to back for about `seconds`; only 200 answers count (a 503 is posted again
    at once).  Returns (tiles/s, requests answered 200, idle share of the probe)."""
    rng = np.random.default_rng(0)
    instance = {"b%d" % (b + 1): wire.encode_tensor_b64(
        rng.integers(0, 256, size=(TILE, TILE, 1), dtype=np.uint8)) for b in range(BANDS)}
    body = json.dumps({"instances": [instance] * k}).encode()
    path = "/v1/projects/p/models/%s:predict" % MODEL
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN}
    deadline = time.monotonic() + seconds

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        done, last = 0, None
        while time.monotonic() < deadline:
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                done += 1
                last = time.monotonic()
            elif response.status != 503:
                raise SystemExit("capacity probe: HTTP %d" % response.status)
        conn.close()
        return done, last

    server.reset()
    configure(server)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda _: client(), range(threads)))
    requests = sum(d for d, _ in results)
    end = max(t for _, t in results if t is not None)
    idle, _ = idle_share(settle(server), workers)
    return requests * k / (end - t0), requests, idle


# -- gdal_translate and readers --------------------------------------------------------------


def run_timed(cmd, env_extra=None, clock=None):
    """Run cmd under /usr/bin/time; (wall s, CPU s, peak RSS MB, its stdout).  Exits on
    failure.  clock: a dict given the epoch times (time.time(), the stand-in's clock) of the
    launch and of the exit, as "launch" and "exit"."""
    with tempfile.NamedTemporaryFile(prefix="eemodel-bench-time-", delete=False) as f:
        stats = f.name
    try:
        t0 = time.monotonic()
        launch = time.time()
        proc = subprocess.run(["/usr/bin/time", "-o", stats, "-f", "%U %S %M"] + cmd,
                              env=child_env(env_extra), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        wall = time.monotonic() - t0
        if clock is not None:
            clock.update(launch=launch, exit=time.time())
        if proc.returncode != 0:
            raise SystemExit("command failed (%s): %s\n%s" % (proc.returncode, " ".join(cmd[:3]),
                                                              proc.stderr.decode(errors="replace")[-2000:]))
        with open(stats) as f:
            user, system, maxrss_kb = f.read().split()[-3:]
    finally:
        os.unlink(stats)
    return wall, float(user) + float(system), int(maxrss_kb) / 1024.0, proc.stdout.decode().strip()


def translate(server, name, out, options=(), config=(), open_options=(), env_extra=None):
    server.reset()
    configure(server)
    for path in (out, out + ".msk", out + ".aux.xml"):
        if os.path.exists(path):
            os.unlink(path)
    cmd = ["gdal_translate", "-q"] + list(options)
    for k, v in config:
        cmd += ["--config", k, str(v)]
    for oo in open_options:
        cmd += ["-oo", oo]
    clock = {}
    wall, cpu, rss, _ = run_timed(cmd + [name, out], env_extra, clock)
    return {"wall": wall, "cpu": cpu, "rss": rss, "log": settle(server), **clock}


def gdal_start_and_exit(src, work, repeats=3):
    """Wall seconds of a plain one-tile gdal_translate of the source (no driver): GDAL's own
    process start and exit, which every gdal_translate pays (median of `repeats`)."""
    out = str(work / "plain-one-tile.tif")
    walls = []
    for _ in range(repeats):
        if os.path.exists(out):
            os.unlink(out)
        walls.append(run_timed(["gdal_translate", "-q", "-srcwin", "0", "0", str(TILE), str(TILE),
                                src, out])[0])
    os.unlink(out)
    return sorted(walls)[len(walls) // 2]


def start_and_tail(run, workers):
    """Where the wall time of one run goes outside the saturated middle (seconds from the
    launch of the process, stand-in's clock): the first request's start, its end, the first
    moment all workers are busy, the last request's end, the exit; and the tiles of the
    first and last requests."""
    log = sorted(run["log"], key=lambda r: r["t_start"])
    if not log:
        return None
    t0 = run["launch"]
    first = log[0]
    # the first moment `workers` requests hold a worker at once
    events = sorted([(a, 1) for a, b in busy_intervals(log)] + [(b, -1) for a, b in busy_intervals(log)],
                    key=lambda e: (e[0], e[1]))
    busy, saturated = 0, None
    for t, d in events:
        busy += d
        if busy >= workers and saturated is None:
            saturated = t
    last = max(log, key=lambda r: r["t_end"])
    # the last moment all workers were busy
    busy, unsaturated = 0, None
    for t, d in events:
        if busy >= workers and d < 0:
            unsaturated = t
        busy += d
    return {"first_start": first["t_start"] - t0, "first_end": first["t_end"] - t0,
            "first_tiles": first["n_instances"],
            "saturated": (saturated - t0) if saturated is not None else float("nan"),
            "unsaturated": (unsaturated - t0) if unsaturated is not None else float("nan"),
            "last_end": last["t_end"] - t0, "last_tiles": last["n_instances"],
            "exit": run["exit"] - t0}


def run_reader(server, kind, name, src, window, open_options):
    """A reader in its own process (this script with --reader): (wall, log once it exited,
    what the reader used)."""
    server.reset()
    configure(server)
    cmd = ["/usr/bin/python3", str(pathlib.Path(__file__).resolve()), "--reader", kind,
           "--name", name, "--src", src, "--window", ",".join(str(v) for v in window)]
    for oo in open_options:
        cmd += ["--open-option", oo]
    wall, _, _, used = run_timed(cmd)
    return wall, settle(server), used


def reader_main(args):
    """Child mode: read `window` of the EEMODEL dataset as `kind` does, check every pixel
    against the model applied with numpy, exit 3 on a difference."""
    x0, y0, w, h = (int(v) for v in args.window.split(","))
    src = gdal.Open(args.src)

    def expected(x, y, cw, ch):
        return expected_strip(src, y, ch)[:, :, x:x + cw]

    def check(got, x, y, cw, ch):
        if not np.array_equal(got, expected(x, y, cw, ch)):
            print("reader %s: wrong pixels in window %d,%d,%d,%d" % (args.reader, x, y, cw, ch),
                  file=sys.stderr)
            sys.exit(3)

    open_options = list(args.open_option or [])
    if args.reader in ("strips", "strips-advised"):
        ds = gdal.OpenEx(args.name, gdal.OF_RASTER, open_options=open_options)
        if args.reader == "strips-advised":
            ds.AdviseRead(x0, y0, w, h)
        for y in range(y0, y0 + h, STRIP_ROWS):
            ch = min(STRIP_ROWS, y0 + h - y)
            check(ds.ReadAsArray(x0, y, w, ch), x0, y, w, ch)
        ds = None
    elif args.reader == "chunks":
        # rioxarray-style: a dask array of DASK_CHUNK chunks over the raster, one region of
        # it computed (the tasks read the chunks it touches); chunks of all bands at once
        try:
            import rioxarray
        except ImportError:
            rioxarray = None
        if rioxarray is not None:
            import dask
            kwargs = dict(oo.split("=", 1) for oo in open_options)   # rasterio: open options
            da = rioxarray.open_rasterio(args.name, chunks={"band": -1, "x": DASK_CHUNK, "y": DASK_CHUNK},
                                         lock=False, mask_and_scale=False, **kwargs)
            with dask.config.set(scheduler="synchronous"):
                got = da[:, y0:y0 + h, x0:x0 + w].values
            check(got, x0, y0, w, h)
            print("rioxarray, dask synchronous")
        else:   # the same chunk windows, read with osgeo.gdal
            ds = gdal.OpenEx(args.name, gdal.OF_RASTER, open_options=open_options)
            for cx, cy, cw, ch in chunk_windows((x0, y0, w, h)):
                check(ds.ReadAsArray(cx, cy, cw, ch), cx, cy, cw, ch)
            ds = None
            print("osgeo.gdal")
    else:
        raise SystemExit("unknown reader %s" % args.reader)


def chunk_windows(window):
    """The chunk windows (x, y, w, h) of a region made of whole DASK_CHUNK chunks."""
    x0, y0, w, h = window
    return [(cx, cy, DASK_CHUNK, DASK_CHUNK) for cy in range(y0, y0 + h, DASK_CHUNK)
            for cx in range(x0, x0 + w, DASK_CHUNK)]


def tiles_in(window):
    x0, y0, w, h = window
    return {(tx, ty) for ty in range(y0 // TILE, (y0 + h - 1) // TILE + 1)
            for tx in range(x0 // TILE, (x0 + w - 1) // TILE + 1)}


# -- main ---------------------------------------------------------------------------------


def start_server(shape):
    return StandIn.start(token=TOKEN, workers=shape["workers"], latency=shape["latency"],
                         latency_per_instance=shape["per_instance"], fail_share=shape["fail_share"],
                         fail_seed=FAIL_SEED)


def throughput(key, shape, src, n_tiles, digests, work, args, gdal_own):
    server = start_server(shape)
    try:
        name = eem_name(server, src, shape.get("on_error"))
        out = str(work / ("out-%s.tif" % key))
        oo = args.open_option or []
        # warm-up: plugin load, page cache, server threads (a 512 px window)
        translate(server, name, out, options=["-srcwin", "0", "0", "512", "512"], open_options=oo)
        runs, probes = [], []
        threads = 2 * shape["workers"]
        for _ in range(args.repeats):
            run = translate(server, name, out, open_options=oo)
            run["summary"] = summarize(run["log"], digests)
            run["masked"] = check_output(out, src, run["summary"]["distinct"])
            runs.append(run)
            # a capacity probe after each run: the machine's state drifts (the stand-in's
            # rate moves by a quarter between probes minutes apart on a shared VM), so the
            # capacity is the median of probes interleaved with the runs it is compared to
            # (k and per_request: the largest request so far, the final ones after the loop)
            k = max(r["summary"]["max_instances"] for r in runs)
            per_request = shape["latency"] + shape["per_instance"] * k
            seconds = max(args.probe_seconds, 8 * per_request)
            probes.append(probe_capacity(server, shape["workers"], k, threads, seconds))
        med = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
        wall = med["wall"]
        capacity, probe_requests, probe_idle = sorted(probes)[len(probes) // 2]
        nominal = shape["workers"] * k / per_request
        s = med["summary"]
        idle, span = idle_share(med["log"], shape["workers"])
        achieved = n_tiles / wall
        minimum = math.ceil(n_tiles / k)
        print()
        print("== shape %s: %s   (load average %s)" % (key, shape["label"],
                                                       " ".join(fmt(x) for x in os.getloadavg())))
        print("tiles per request (driver's largest): %d   nominal capacity workers x k / (latency + "
              "k x per-instance): %s tiles/s" % (k, fmt(nominal, 1)))
        print("measured capacity: %s tiles/s, median of %d probes after the runs (%s; %d threads, "
              "%d requests of %d tiles; probe idle share %s)"
              % (fmt(capacity, 1), len(probes), " ".join(fmt(c, 0) for c, _, _ in probes), threads,
                 probe_requests, k, fmt(probe_idle)))
        print("gdal_translate runs (s): %s   median %s   achieved %s tiles/s" %
              (" ".join(fmt(r["wall"]) for r in runs), fmt(wall), fmt(achieved, 1)))
        print("RATIO achieved / measured capacity: %s   (target >= 0.95)" % fmt(achieved / capacity))
        beyond = n_tiles / (wall - gdal_own) / capacity if wall > gdal_own else float("nan")
        print("ratio beyond GDAL's own process start and exit (%ss, a plain one-tile "
              "gdal_translate): %s" % (fmt(gdal_own), fmt(beyond)))
        print("idle share of workers, first request start to last end (%ss of the run's %ss): %s"
              % (fmt(span), fmt(wall), fmt(idle)))
        print("worker occupancy |%s|" % occupancy_line(med["log"], shape["workers"]))
        b = start_and_tail(med, shape["workers"])
        if b:
            print("start/tail (s from the process launch): first request sent %s (%d tiles), "
                  "answered %s; all %d workers busy from %s until %s; last answer %s (last "
                  "request %d tiles); exit %s -> start cost %s, tail %s + %s"
                  % (fmt(b["first_start"], 3), b["first_tiles"], fmt(b["first_end"], 3),
                     shape["workers"], fmt(b["saturated"], 3), fmt(b["unsaturated"], 3),
                     fmt(b["last_end"], 3), b["last_tiles"], fmt(b["exit"], 3),
                     fmt(b["saturated"], 3), fmt(b["last_end"] - b["unsaturated"], 3),
                     fmt(b["exit"] - b["last_end"], 3)))
        failed = " + %d answered 503" % s["failed"] if s["failed"] else ""
        print("requests: %d%s   minimum ceil(%d / %d): %d   duplicates: %d (target 0)   "
              "tiles masked: %d" % (s["requests"], failed, n_tiles, k, minimum,
                                    s["predicted"] - len(s["distinct"]), med["masked"]))
        if s["unknown"]:
            print("  %d predicted instances match no tile of the raster" % s["unknown"])
        return {"key": key, "capacity": capacity, "achieved": achieved, "ratio": achieved / capacity,
                "beyond": beyond,
                "idle": idle, "breakdown": b, "requests": s["requests"], "failed": s["failed"], "minimum": minimum,
                "duplicates": s["predicted"] - len(s["distinct"]), "masked": med["masked"]}
    finally:
        server.stop()


def waste(src, size, digests, work, args):
    shape = SHAPES[WASTE_SHAPE]
    server = start_server(shape)
    rows = []
    try:
        name = eem_name(server, src)
        oo = args.open_option or []
        off = (size - WINDOW) // 2
        misaligned = (off + 13, off + 29, WINDOW, WINDOW)
        aligned = ((off // TILE) * TILE, (off // TILE) * TILE, WINDOW, WINDOW)
        # 2 x 2 whole chunks (each read whole whatever dask fuses), not on tile boundaries
        chunks = (DASK_CHUNK, DASK_CHUNK, 2 * DASK_CHUNK, 2 * DASK_CHUNK)
        print()
        print("== waste: tiles predicted that the reader's windows do not contain (server shape "
              "%s; target 0)" % WASTE_SHAPE)
        print("%-58s %7s %9s %6s %10s %8s %7s" % ("reader", "needed", "predicted", "waste",
                                                 "duplicates", "requests", "wall s"))
        cases = [
            ("gdal_translate (whole raster)", "translate", (0, 0, size, size)),
            ("gdal_translate -srcwin %d,%d,%d,%d" % misaligned, "translate", misaligned),
            ("strips of %d rows, %d^2 chunk at %d,%d" % (STRIP_ROWS, WINDOW, aligned[0], aligned[1]),
             "strips", aligned),
            ("same strips after AdviseRead of the chunk", "strips-advised", aligned),
            ("2x2 chunks of %d px at %d,%d" % (DASK_CHUNK, DASK_CHUNK, DASK_CHUNK), "chunks",
             chunks),
        ]
        for label, kind, window in cases:
            if kind == "translate":
                out = str(work / "waste.tif")
                options = [] if window[2] == size else ["-srcwin"] + [str(v) for v in window]
                run = translate(server, name, out, options=options, open_options=oo)
                wall, log = run["wall"], run["log"]
            else:
                wall, log, used = run_reader(server, kind, name, src, window, oo)
                if used:
                    label += " (%s)" % used
            s = summarize(log, digests)
            needed = tiles_in(window)
            tiles = [digests.get(d) for r in log if r["status"] == 200 for d in r["instance_digests"]]
            outside = sum(1 for t in tiles if t not in needed)
            dup = s["predicted"] - len(s["distinct"])
            print("%-58s %7d %9d %6d %10d %8d %7s" % (label, len(needed), s["predicted"], outside,
                                                      dup, s["requests"], fmt(wall)))
            missing = needed - s["distinct"]
            if missing:
                raise SystemExit("%s: %d needed tiles were never predicted" % (label, len(missing)))
            rows.append((label, len(needed), s["predicted"], outside, dup))
        return rows
    finally:
        server.stop()


def memory(src, size, digests, work, args):
    shape = SHAPES[MEMORY_SHAPE]
    big = make_raster(work / "big.tif", 2 * size, seed=4)
    big_digests = tile_digests(big)
    cachemax = max(4, int(round(RSS_CACHEMAX_MB * (size / SIZE) ** 2)))
    server = start_server(shape)
    try:
        cfg = [("GDAL_CACHEMAX", cachemax)]
        oo = args.open_option or []
        out = str(work / "mem.tif")
        print()
        print("== peak RSS of gdal_translate, GDAL_CACHEMAX=%d MB (server shape %s; source + output "
              "blocks: %s MB and %s MB)" % (cachemax, MEMORY_SHAPE, fmt(2 * BANDS * size * size / 2 ** 20, 0),
                                            fmt(8 * BANDS * size * size / 2 ** 20, 0)))
        growths = []
        for label, env in (("driver defaults", None),
                           ("EEMODEL_TILE_STORE_MEMORY=%d" % RSS_TILE_STORE_MB,
                            {"EEMODEL_TILE_STORE_MEMORY": str(RSS_TILE_STORE_MB)})):
            runs = []
            for path, dig in ((src, digests), (big, big_digests)):
                run = translate(server, eem_name(server, path), out, config=cfg, open_options=oo,
                                env_extra=env)
                s = summarize(run["log"], dig)
                check_output(out, path, s["distinct"])
                runs.append((run, s, len(dig)))
            (small, s1, n1), (large, s2, n2) = runs
            growth = large["rss"] / small["rss"] - 1
            growths.append(growth)
            print("%-30s %d tiles: %s MB (%s tiles/s)   %d tiles (4x): %s MB (%s tiles/s)   "
                  "growth: %s%%   (target < 10%%)   predicted %d and %d"
                  % (label, n1, fmt(small["rss"], 1), fmt(n1 / small["wall"], 0), n2, fmt(large["rss"], 1),
                     fmt(n2 / large["wall"], 0), fmt(100 * growth, 1), s1["predicted"], s2["predicted"]))
        return growths
    finally:
        server.stop()
        os.unlink(big)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="%d px raster, one run per shape, short probes" % QUICK_SIZE)
    parser.add_argument("--size", type=int, help="raster side in pixels (multiple of %d; default %d)"
                        % (TILE, SIZE))
    parser.add_argument("--repeats", type=int, help="gdal_translate runs per shape (default %d)" % REPEATS)
    parser.add_argument("--shapes", default="ABCD", help="server shapes to run (default ABCD)")
    parser.add_argument("--probe-seconds", type=float, help="least duration of a capacity probe")
    parser.add_argument("--no-waste", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--open-option", action="append",
                        help="KEY=VALUE passed to every read (-oo), e.g. READ_AHEAD=NO")
    parser.add_argument("--no-model-resource", action="store_true",
                        help="the stand-in does not answer GET of the model resource: the open "
                             "cannot confirm the model and the first read probes with one tile")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--reader", help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    parser.add_argument("--window", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reader:
        return reader_main(args)
    size = args.size or (QUICK_SIZE if args.quick else SIZE)
    least = max(WINDOW + 2 * TILE, 3 * DASK_CHUNK)   # room for the readers' windows
    if size % TILE or size < least:
        parser.error("--size must be a multiple of %d and at least %d" % (TILE, least))
    args.repeats = args.repeats or (1 if args.quick else REPEATS)
    global MODEL_RESOURCE
    if args.no_model_resource:
        MODEL_RESOURCE = None
    args.probe_seconds = args.probe_seconds or (2.0 if args.quick else 4.0)
    shapes = [k for k in args.shapes.upper() if k in SHAPES]
    if gdal.GetDriverByName("EEMODEL") is None:
        raise SystemExit("EEMODEL driver not found in %s (set EEM_BUILD_DIR)"
                         % os.environ["GDAL_DRIVER_PATH"])

    work = pathlib.Path(tempfile.mkdtemp(prefix="eemodel-bench-pipeline-"))
    options = gdal.GetDriverByName("EEMODEL").GetMetadataItem("DMD_OPENOPTIONLIST") or ""
    print("EEMODEL pipeline benchmark  (work folder %s, plugin %s)" % (work, BUILD / "gdalplugins"))
    print("machine: %d CPU(s), load average %s" % (os.cpu_count(), " ".join(fmt(x) for x in os.getloadavg())))
    print("driver: READ_AHEAD open option %s; open options given: %s; EEMODEL_MAX_CONNECTIONS %s"
          % ("advertised" if "READ_AHEAD" in options.upper() else "not advertised",
             " ".join(args.open_option or []) or "none",
             os.environ.get("EEMODEL_MAX_CONNECTIONS", "default")))
    print("model resource at open: %s" % ("READY (the open confirms the model: no one-tile probe)"
                                          if MODEL_RESOURCE else
                                          "not answered (the first read probes with one tile)"))
    try:
        t = time.monotonic()
        src = make_raster(work / "src.tif", size, seed=1)
        digests = tile_digests(src)
        n_tiles = (size // TILE) ** 2
        if len(digests) != n_tiles:
            raise SystemExit("tiles of the synthetic raster are not distinct")
        print("raster: %dx%d, %d uint8 bands, tiles %dx%d (%d tiles), model %s (uint8 answers), "
              "made in %ss" % (size, size, BANDS, TILE, TILE, n_tiles, MODEL, fmt(time.monotonic() - t, 1)))
        gdal_own = gdal_start_and_exit(src, work) if shapes else 0.0
        results = [throughput(k, SHAPES[k], src, n_tiles, digests, work, args, gdal_own)
                   for k in shapes]
        if results:
            print()
            print("== summary (target: ratio >= 0.95, duplicates 0)")
            print("(ratio-G: the ratio beyond GDAL's own process start and exit, %ss)" % fmt(gdal_own))
            print("%-5s %10s %10s %6s %7s %6s %14s %5s %9s %9s %9s %9s" % (
                "shape", "capacity", "achieved", "ratio", "ratio-G", "idle", "requests/min", "dup",
                "1st sent", "all busy", "ramp down", "exit-last"))
            for r in results:
                b = r["breakdown"] or {}
                nan = float("nan")
                print("%-5s %10s %10s %6s %7s %6s %14s %5d %9s %9s %9s %9s" % (
                    r["key"], fmt(r["capacity"], 1), fmt(r["achieved"], 1), fmt(r["ratio"]),
                    fmt(r["beyond"]), fmt(r["idle"]), "%d/%d" % (r["requests"], r["minimum"]), r["duplicates"],
                    fmt(b.get("first_start", nan), 3), fmt(b.get("saturated", nan), 3),
                    fmt(b.get("last_end", nan) - b.get("unsaturated", nan), 3),
                    fmt(b.get("exit", nan) - b.get("last_end", nan), 3)))
        if not args.no_waste:
            waste(src, size, digests, work, args)
        if not args.no_memory:
            memory(src, size, digests, work, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("load average at the end: %s" % " ".join(fmt(x) for x in os.getloadavg()))


if __name__ == "__main__":
    main()
