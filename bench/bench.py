#!/usr/bin/python3
"""EEMODEL benchmarks: throughput against a server of known capacity, the one-at-a-time
script baseline, requests and bytes, client CPU per GB of tensors, peak RSS at two raster
sizes, and a warm persistent cache.  Prints figures; never fails on time (exit status is
non-zero only when something is wrong: a failed command or wrong pixels).

See bench/README.md for what each figure means and how capacity is defined.
"""

import argparse
import concurrent.futures
import http.client
import json
import math
import os
import pathlib
import shutil
import statistics
import subprocess
import tempfile
import time

from _common import BUILD, StandIn, gdal, np  # paths, plugin, cache env: first

from predictor import wire  # noqa: E402

TOKEN = "bench-token"
MODEL = "ndi"                 # (a-b)/(a+b) of two uint8 bands -> one float32 band
TILE = 128                    # input = output tile, no overlap
BANDS = 2
LARGE_TILES = 48              # 48 x 48 = 2304 tiles
SMALL_TILES = 24              # a quarter of the area: 576 tiles
WORKERS = 2                   # stand-in: model executions at once
LATENCY = 0.5                 # stand-in: seconds per request, inside a worker slot
BASELINE_TILES = 24           # tiles the one-at-a-time script predicts (its rate is per tile)
REPEATS = 3                   # throughput runs (median reported)
RSS_CACHEMAX_MB = 64          # GDAL_CACHEMAX for the RSS runs (GDAL's own block cache bound)
# The cost guard is not a performance setting: a gdal_translate of N tiles needs N allowed.
MAX_PREDICTIONS = 1000000


def make_raster(path, tiles):
    size = tiles * TILE
    rng = np.random.default_rng(tiles)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, BANDS, gdal.GDT_Byte,
                                              ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"])
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0))
    ds.SetProjection("EPSG:32618")
    for b in range(BANDS):
        ds.GetRasterBand(b + 1).WriteArray(rng.integers(1, 256, size=(size, size), dtype=np.uint8))
    ds = None
    return str(path)


def eem_name(server, src, **extra):
    parts = ["input=%s" % src, "api_root=%s" % server.url, "project=p", "model=%s" % MODEL,
             "input_tile_size=%d,%d" % (TILE, TILE), "output_bands=output:float32"]
    parts += ["%s=%s" % kv for kv in extra.items()]
    return "EEMODEL:" + ";".join(parts)


def child_env(extra=None):
    env = dict(os.environ)
    env["EEMODEL_ACCESS_TOKEN"] = TOKEN
    env["EEMODEL_MAX_PREDICTIONS"] = str(MAX_PREDICTIONS)
    env.update(extra or {})
    return env


def run_translate(server, name, out, env_extra=None, config=(), options=()):
    """gdal_translate name -> out; wall time, CPU (user+sys) and peak RSS of that process,
    measured by /usr/bin/time (a child forked from this big Python process would inherit
    its RSS high-water mark)."""
    if server is not None:
        server.reset()
    for path in (out, out + ".msk", out + ".aux.xml"):
        if os.path.exists(path):
            os.unlink(path)
    stats = out + ".time"
    cmd = ["/usr/bin/time", "-o", stats, "-f", "%U %S %M", "gdal_translate", "-q"] + list(options)
    for k, v in config:
        cmd += ["--config", k, str(v)]
    cmd += [name, out]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=child_env(env_extra), stderr=subprocess.PIPE)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit("gdal_translate failed (%s): %s"
                         % (proc.returncode, proc.stderr.decode(errors="replace")))
    with open(stats) as f:
        user, system, maxrss_kb = f.read().split()[-3:]
    log = server.log() if server is not None else []
    span = (max(r["t_end"] for r in log) - min(r["t_start"] for r in log)) if log else 0.0
    return {
        "wall": wall, "cpu": float(user) + float(system), "maxrss_mb": int(maxrss_kb) / 1024.0,
        "span": span,
        "requests": len(log), "instances": sum(r["n_instances"] for r in log),
        "max_instances": max([r["n_instances"] for r in log] or [0]),
        "bytes_sent": sum(r["body_bytes"] for r in log),
        "statuses": sorted({r["status"] for r in log}),
    }


def expected_ndi(src):
    ds = gdal.Open(src)
    a = ds.GetRasterBand(1).ReadAsArray().astype(np.float64)
    b = ds.GetRasterBand(2).ReadAsArray().astype(np.float64)
    return ((a - b) / (a + b)).astype(np.float32)


def check_output(out, expected):
    got = gdal.Open(out).ReadAsArray()
    if not np.array_equal(got, expected):
        raise SystemExit("wrong pixels in %s" % out)


def baseline(server, src, n_tiles):
    """What a user would write without the driver: read one tile window with osgeo.gdal,
    send it alone, wait for the answer, write it, next tile.  One keep-alive connection."""
    ds = gdal.Open(src)
    tiles_x = ds.RasterXSize // TILE
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    path = "/v1/projects/p/models/%s:predict" % MODEL
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN}
    out = {}
    server.reset()
    t0 = time.monotonic()
    for k in range(n_tiles):
        tx, ty = k % tiles_x, k // tiles_x
        instance = {}
        for b in range(BANDS):
            window = ds.GetRasterBand(b + 1).ReadAsArray(tx * TILE, ty * TILE, TILE, TILE)
            instance["b%d" % (b + 1)] = wire.encode_tensor_b64(window[:, :, None])
        conn.request("POST", path, json.dumps({"instances": [instance]}), headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit("baseline request failed: %d %s" % (response.status, body[:200]))
        prediction = json.loads(body)["predictions"][0]
        out[(tx, ty)] = wire.decode_tensor_b64(prediction)[:, :, 0]
    elapsed = time.monotonic() - t0
    conn.close()
    return elapsed, out, len(server.log())


def probe_capacity(server, k, seconds):
    """The server's real capacity in tiles/s: requests of k tiles fired by 4 x WORKERS
    threads for about `seconds` (the stand-in's own per-request work adds to LATENCY)."""
    rng = np.random.default_rng(0)
    instance = {"b%d" % (b + 1): wire.encode_tensor_b64(
        rng.integers(1, 256, size=(TILE, TILE, 1), dtype=np.uint8)) for b in range(BANDS)}
    body = json.dumps({"instances": [instance] * k})
    path = "/v1/projects/p/models/%s:predict" % MODEL
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN}
    deadline = time.monotonic() + seconds

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        done = 0
        while time.monotonic() < deadline:
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit("probe request failed: %d" % response.status)
            done += 1
        conn.close()
        return done

    server.reset()
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4 * WORKERS) as pool:
        requests = sum(pool.map(lambda _: client(), range(4 * WORKERS)))
    elapsed = time.monotonic() - t0
    return requests * k / elapsed, requests


CODEC_DSOS = ("gdal_EEMODEL", "libjson-c", "libprotobuf-c")
CODEC_WORDS = ("base64", "tensor", "payload", "json", "protobuf", "decode", "encode", "dtype_convert")


def codec_share(server, name, out, work):
    """Share of gdal_translate's CPU samples (perf) spent in the driver's encode/decode
    code: base64, TensorProto, JSON and payload functions.  None without perf."""
    perf = shutil.which("perf")
    if not perf:
        return None
    data = str(work / "perf.data")
    server.reset()
    rec = subprocess.run([perf, "record", "-q", "-F", "2000", "-o", data, "--", "gdal_translate",
                          "-q", name, out], env=child_env(), capture_output=True)
    if rec.returncode != 0:
        return None
    rep = subprocess.run([perf, "report", "-i", data, "--no-children", "--sort", "dso,symbol",
                          "--stdio"], capture_output=True, text=True)
    share = 0.0
    for line in rep.stdout.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].endswith("%"):
            continue
        dso, symbol = fields[1], " ".join(fields[3:]).lower()
        if dso.startswith(CODEC_DSOS) and any(w in symbol for w in CODEC_WORDS):
            share += float(fields[0].rstrip("%")) / 100.0
    return share


def fmt(x, digits=2):
    return ("%%.%df" % digits) % x


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--baseline-tiles", type=int, default=BASELINE_TILES)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    if gdal.GetDriverByName("EEMODEL") is None:
        raise SystemExit("EEMODEL driver not found in %s (set EEM_BUILD_DIR)" % os.environ["GDAL_DRIVER_PATH"])
    work = pathlib.Path(tempfile.mkdtemp(prefix="eemodel-bench-"))
    print("EEMODEL benchmark  (work folder %s, plugin %s)" % (work, BUILD / "gdalplugins"))
    print("machine: %d CPU(s), load average %s" % (os.cpu_count(), " ".join(fmt(x) for x in os.getloadavg())))
    t = time.monotonic()
    large = make_raster(work / "large.tif", LARGE_TILES)
    small = make_raster(work / "small.tif", SMALL_TILES)
    n_large, n_small = LARGE_TILES ** 2, SMALL_TILES ** 2
    print("rasters: %dx%d (%d tiles) and %dx%d (%d tiles), %d uint8 bands, tile %dx%d, model %s "
          "(made in %ss)" % (LARGE_TILES * TILE, LARGE_TILES * TILE, n_large, SMALL_TILES * TILE,
                             SMALL_TILES * TILE, n_small, BANDS, TILE, TILE, MODEL,
                             fmt(time.monotonic() - t, 1)))
    expected_large = expected_ndi(large)

    server = StandIn.start(token=TOKEN, workers=WORKERS, latency=LATENCY)
    try:
        out = str(work / "out.tif")
        name = eem_name(server, large)
        # warm-up: page cache, server, plugin load
        run_translate(server, eem_name(server, small), out)

        runs = [run_translate(server, name, out) for _ in range(args.repeats)]
        check_output(out, expected_large)
        k = runs[0]["max_instances"]          # tiles per request allowed by MAX_PAYLOAD_BYTES
        walls = [r["wall"] for r in runs]
        wall = statistics.median(walls)
        tiles_per_s = n_large / wall
        capacity = WORKERS * k / LATENCY
        probed, probe_requests = probe_capacity(server, k, max(4 * LATENCY, 0.4 * wall))
        minimum = math.ceil(n_large / k)
        med = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
        tensor_bytes = n_large * TILE * TILE * (BANDS * 1 + 4)   # uint8 inputs + float32 output
        print()
        print("== throughput: gdal_translate of %d tiles (driver defaults: MAX_PAYLOAD_BYTES, "
              "EEMODEL_MAX_CONNECTIONS)" % n_large)
        print("server: %d workers x %ss per request; %d tiles per request (the most that fit "
              "MAX_PAYLOAD_BYTES)" % (WORKERS, LATENCY, k))
        print("capacity = workers x tiles/request / latency = %s tiles/s (%s requests/s)"
              % (fmt(capacity, 1), fmt(WORKERS / LATENCY, 1)))
        print("measured capacity (%d concurrent requests of %d tiles from a Python client): "
              "%s tiles/s = %s of nominal" % (probe_requests, k, fmt(probed, 1),
                                              fmt(probed / capacity)))
        print("runs (s): %s  median %s" % (" ".join(fmt(w) for w in walls), fmt(wall)))
        print("achieved (whole gdal_translate run, open to close): %s tiles/s" % fmt(tiles_per_s, 1))
        print("ratio to nominal capacity: %s   ratio to measured capacity: %s   (target >= 0.9)"
              % (fmt(tiles_per_s / capacity), fmt(tiles_per_s / probed)))
        print("server busy from first request to last answer: %ss of the run's %ss"
              % (fmt(med["span"]), fmt(med["wall"])))
        print("requests: %d   minimum for the payload limit: %d   tiles predicted: %d of %d "
              "(duplicates: %d)" % (med["requests"], minimum, med["instances"], n_large,
                                    med["instances"] - n_large))
        print("bytes sent: %s MB (%s KB per tile)" % (fmt(med["bytes_sent"] / 1e6, 1),
                                                      fmt(med["bytes_sent"] / n_large / 1e3, 1)))
        cpu = statistics.median(r["cpu"] for r in runs)
        # the same GDAL work without a model: read the source, write a float32 band + mask
        plain = [run_translate(None, large, out, options=["-ot", "Float32", "-b", "1", "-mask", "1"])
                 for _ in range(args.repeats)]
        plain_cpu = statistics.median(r["cpu"] for r in plain)
        gb = tensor_bytes / 1e9
        print("client CPU, gdal_translate user+sys: %ss (%s s/GB of the %s GB of tensors sent "
              "and received)" % (fmt(cpu), fmt(cpu / gb), fmt(gb, 3)))
        print("  the same translate without a model (-ot Float32 -b 1 -mask 1): %ss" % fmt(plain_cpu))
        print("  CPU the driver adds (encode, HTTP over loopback, decode, masks): %ss = %s s/GB"
              % (fmt(cpu - plain_cpu), fmt(max(0.0, cpu - plain_cpu) / gb)))
        share = codec_share(server, name, out, work)
        if share is None:
            print("  encode + decode alone: perf not available")
        else:
            print("  encode + decode alone (%s%% of perf samples: base64, TensorProto, JSON, "
                  "payload): %ss = %s s/GB   (target <= 1)"
                  % (fmt(100 * share, 1), fmt(share * cpu), fmt(share * cpu / gb)))
        print("peak RSS (default GDAL_CACHEMAX): %s MB" % fmt(med["maxrss_mb"], 1))

        # -- the one-at-a-time script --------------------------------------------------
        elapsed, tiles, sent = baseline(server, large, args.baseline_tiles)
        for (tx, ty), arr in tiles.items():
            if not np.array_equal(arr, expected_large[ty * TILE:(ty + 1) * TILE, tx * TILE:(tx + 1) * TILE]):
                raise SystemExit("baseline got wrong pixels for tile %d,%d" % (tx, ty))
        base_rate = len(tiles) / elapsed
        print()
        print("== one tile per request, one request at a time (Python + osgeo.gdal, same server)")
        print("%d tiles in %ss = %s tiles/s (%d requests); whole raster would take %ss"
              % (len(tiles), fmt(elapsed), fmt(base_rate), sent, fmt(n_large / base_rate, 0)))
        print("speed-up of the driver: %sx   (target >= 8)" % fmt(tiles_per_s / base_rate, 1))

        # -- memory ----------------------------------------------------------------------
        cfg = [("GDAL_CACHEMAX", RSS_CACHEMAX_MB)]
        rss_small = run_translate(server, eem_name(server, small), out, config=cfg)
        rss_large = run_translate(server, name, out, config=cfg)
        check_output(out, expected_large)
        growth = rss_large["maxrss_mb"] / rss_small["maxrss_mb"] - 1
        print()
        print("== peak RSS, GDAL_CACHEMAX=%d MB (GDAL's block cache is GDAL's bound; the "
              "driver adds its read window and requests in flight)" % RSS_CACHEMAX_MB)
        print("%d tiles: %s MB   %d tiles (4x): %s MB   growth: %s%%   (target < 10%%)"
              % (n_small, fmt(rss_small["maxrss_mb"], 1), n_large, fmt(rss_large["maxrss_mb"], 1),
                 fmt(100 * growth, 1)))
        print("tiles predicted: %d and %d (each once: %s)"
              % (rss_small["instances"], rss_large["instances"],
                 rss_small["instances"] == n_small and rss_large["instances"] == n_large))

        # -- persistent cache ---------------------------------------------------------------
        cache = work / "cache"
        env = {"EEMODEL_CACHE_DIR": str(cache), "EEMODEL_CACHE_MAX_SIZE": "4G"}
        cold = run_translate(server, name, out, env_extra=env)
        warm = run_translate(server, name, out, env_extra=env)
        check_output(out, expected_large)
        size = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
        print()
        print("== persistent cache (EEMODEL_CACHE_DIR)")
        print("cold: %d requests, %ss   warm: %d requests (target 0), %ss   cache: %s MB"
              % (cold["requests"], fmt(cold["wall"]), warm["requests"], fmt(warm["wall"]),
                 fmt(size / 1e6, 1)))
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("load average at the end: %s" % " ".join(fmt(x) for x in os.getloadavg()))


if __name__ == "__main__":
    main()
