#!/usr/bin/python3
"""EEMODEL client CPU per GB of tensors (issue 13 item 3).  Prints figures; never fails
on time (exit status is non-zero only when something is wrong: a failed command or
wrong pixels).

    EEM_BUILD_DIR=build /usr/bin/python3 bench/cpu.py [--size 3200] [--tile 64] [--repeats 3]

Jobs, against the stand-in predictor (no latency) on 127.0.0.1, on a synthetic
3-band uint8 raster made with numpy:
  uint8    model `identity`, answers cast to uint8 (out_dtype), output_bands=output:uint8:3
  float32  model `identity`, float32 answers, output_bands=output:float32:3
each through the default payload format (SERIALIZED_TF_TENSORS, base64 TensorProtos in
JSON), OIP v2 REST with the binary tensor extension and gRPC GRPC_TF_TENSORS.

Per case: CPU (user+sys of the `gdal_translate` process from its rusage, minimum of the
repeats: the least disturbed run on a shared machine; the runs of the plain copy and of every
format are interleaved, repeat after repeat) through the driver and for a plain
copy of the source to the same output type (`gdal_translate -ot <type> src`), GB of
tensors (input bytes sent + output bytes received, raw element bytes), and the CPU
beyond the plain copy per GB; then that CPU split into a per-process part (a one-tile
`-srcwin` through the driver against the same plain) and a marginal per-GB part.  Targets: <= 2 s/GB (uint8 job), <= 1 s/GB (float32).

For the default format and OIP v2 binary it also prints the transport floor: the CPU of the
curl command-line tool (libcurl, as the driver) posting bodies of the same sizes as the
driver's requests (the same instance counts, tensors encoded the same way) to the same
stand-in and receiving the same answers into /dev/null, one connection, no encoding or
decoding of its own: what moving these bytes through HTTP and the loopback TCP stack costs
any client on this machine.
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from _common import StandIn, gdal, np  # paths, plugin, cache env: first
from predictor import wire  # noqa: E402  (the stand-in's tensor encoding)

TOKEN = "bench-token"
BANDS = 3
SIZE = 3200                   # 3200 x 3200 -> 2500 tiles of 64 x 64
TILE = 64
REPEATS = 3
MAX_PREDICTIONS = 1000000     # the cost guard is not a performance setting
CREATION = ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"]

FORMATS = [
    # label, descriptor keys ({http}/{grpc} = host:port), environment
    ("default (SERIALIZED_TF_TENSORS)", "api_root=http://{http};project=p;model=identity", {}),
    ("OIP v2 binary", "url=http://{http}/v2/models/identity/infer;payload_format=OIP_V2",
     {"EEMODEL_OIP_BINARY": "YES"}),
    ("gRPC GRPC_TF_TENSORS", "url=grpc://{grpc}/v1/models/identity", {}),
]
JOBS = [
    # label, output type, GDAL type name, numpy type
    ("uint8", "uint8", "Byte", np.uint8),
    ("float32", "float32", "Float32", np.float32),
]


def make_raster(path, size):
    rng = np.random.default_rng(size)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, BANDS, gdal.GDT_Byte, CREATION)
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0))
    ds.SetProjection("EPSG:32618")
    data = rng.integers(0, 256, size=(BANDS, size, size), dtype=np.uint8)
    for b in range(BANDS):
        ds.GetRasterBand(b + 1).WriteArray(data[b])
    ds = None
    return str(path), data


def cpu_of(cmd, env):
    """user+sys seconds of cmd, to the microsecond: the rusage wait4 gives for the child
    (GNU time prints hundredths, which on the uint8 job is 0.16 s/GB)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit("command failed (%s): %s\n%s" % (proc.returncode, " ".join(cmd),
                                                           err.decode(errors="replace")))
    return usage.ru_utime + usage.ru_stime


def translate(src, out, env, options=(), prefix=()):
    for p in (out, out + ".aux.xml", out + ".msk"):
        if os.path.exists(p):
            os.unlink(p)
    cmd = list(prefix) + ["gdal_translate", "-q"] + list(options)
    for c in CREATION:
        cmd += ["-co", c]
    return cpu_of(cmd + [src, out], env)


def profile(name, out, env, work, top):
    """perf record of one driver run; prints the top functions by self time."""
    data = str(work / "perf.data")
    translate(name, out, env, prefix=["perf", "record", "-q", "-F", "4000", "-o", data, "--"])
    report = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,symbol",
                             "--percent-limit", "0.5", "--stdio", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    lines = [ln.rstrip() for ln in report.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for ln in lines[:top]:
        words = ln.split()
        while words and words[-1] == "-":
            words.pop()
        print("    %8s  %-22s %s" % (words[0], words[1], " ".join(words[2:])))


def floor_bodies(kind, counts, tile, work, bodies):
    """Adds to bodies ({count: (path, extra header lines)}) a body for each instance count of
    the driver's requests it lacks, its instances encoded as the driver encodes them: kind
    "json", base64 TensorProtos (one (tile, tile, 1) uint8 tensor per band, per instance);
    kind "oip", OIP v2 with the binary extension (one [n, tile, tile, 1] UINT8 input per band,
    binary outputs asked for)."""
    rng = np.random.default_rng(1)
    for n in sorted(set(counts) - set(bodies)):
        path = work / ("floor-%s-%d.bin" % (kind, n))
        if kind == "json":
            instances = [{"b%d" % (b + 1): wire.encode_tensor_b64(
                rng.integers(0, 256, size=(tile, tile, 1), dtype=np.uint8)) for b in range(BANDS)}
                for _ in range(n)]
            path.write_bytes(json.dumps({"instances": instances}).encode())
            bodies[n] = (str(path), ["Content-Type: application/json"])
        else:
            size = n * tile * tile
            head = json.dumps({"inputs": [{"name": "b%d" % (b + 1), "shape": [n, tile, tile, 1],
                                           "datatype": "UINT8", "parameters": {"binary_data_size": size}}
                                          for b in range(BANDS)],
                               "parameters": {"binary_data_output": True}}).encode()
            path.write_bytes(head + b"".join(rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
                                             for _ in range(BANDS)))
            bodies[n] = (str(path), ["Content-Type: application/octet-stream",
                                     "Inference-Header-Content-Length: %d" % len(head)])


def transport_floor(server, kind, counts, bodies, answer_type):
    """CPU of one curl process posting a body of each count in turn on one connection and
    writing the answers to /dev/null; every answer must be a 200."""
    url = ("http://127.0.0.1:%d/v1/projects/p/models/identity:predict" if kind == "json"
           else "http://127.0.0.1:%d/v2/models/identity/infer") % server.port
    cmd = ["curl"]
    for i, n in enumerate(counts):
        if i:
            cmd.append("--next")
        path, headers = bodies[n]
        cmd += ["-s", "-f", "-o", "/dev/null", "-X", "POST", "-T", path, "-H", "Expect:",
                "-H", "Authorization: Bearer " + TOKEN]
        for h in headers:
            cmd += ["-H", h]
        cmd.append(url)
    server.reset()
    server.config(out_dtype=answer_type)
    cpu = cpu_of(cmd, dict(os.environ))
    answered = [r for r in server.log() if r.get("status", 200) == 200]
    if len(answered) != len(counts):
        raise SystemExit("transport floor: %d answers for %d requests" % (len(answered), len(counts)))
    return cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=SIZE, help="raster width and height")
    parser.add_argument("--tile", type=int, default=TILE, help="input (= output) tile size")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--jobs", default="uint8,float32")
    parser.add_argument("--formats", default="all", help="comma-separated indexes into the format list, "
                                                          "or all")
    parser.add_argument("--perf", metavar="N", type=int, default=0,
                        help="also record one driver run per case with perf and print its N top "
                             "functions (self time)")
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="eemodel-bench-cpu-"))
    src, data = make_raster(work / "src.tif", args.size)
    expected_hwc = np.transpose(data, (1, 2, 0))
    tiles = (-(-args.size // args.tile)) ** 2
    env = dict(os.environ)
    env["EEMODEL_ACCESS_TOKEN"] = TOKEN
    env["EEMODEL_MAX_PREDICTIONS"] = str(MAX_PREDICTIONS)
    formats = FORMATS if args.formats == "all" else [FORMATS[int(i)] for i in args.formats.split(",")]
    jobs = [j for j in JOBS if j[0] in args.jobs.split(",")]
    print("load average at start: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print("raster %dx%d, %d uint8 bands, %d tiles of %dx%d; stand-in without latency; CPU = min of %d"
          % (args.size, args.size, BANDS, tiles, args.tile, args.tile, args.repeats))
    server = StandIn.start(token=TOKEN)
    out = str(work / "out.tif")
    rows = []
    try:
        for job, out_type, gdal_type, np_type in jobs:
            one_tile = ["-srcwin", "0", "0", str(args.tile), str(args.tile)]
            expected = expected_hwc.astype(np_type)
            answer_type = "uint8" if out_type == "uint8" else None
            cases = []
            for label, keys, extra in formats:
                name = ("EEMODEL:input=%s;%s;input_tile_size=%d,%d;output_bands=output:%s:%d"
                        % (src, keys.format(http="127.0.0.1:%d" % server.port,
                                            grpc="127.0.0.1:%d" % server.grpc_port),
                           args.tile, args.tile, out_type, BANDS))
                run_env = dict(env)
                run_env.update(extra)
                cases.append({"label": label, "name": name, "env": run_env, "cpus": [], "fixed": [],
                              "floor": [], "floor_kind": ("json" if keys.startswith("api_root=")
                                                          else "oip" if "OIP_V2" in keys else None)})
            # runs interleaved (plain, then each format, repeat after repeat): a slow
            # spell of this VM then weighs on every case alike instead of on one case
            plains, plain_fixeds = [], []
            for _ in range(args.repeats):
                plains.append(translate(src, out, env, ["-ot", gdal_type]))
                plain_fixeds.append(translate(src, out, env, ["-ot", gdal_type] + one_tile))
                for case in cases:
                    server.reset()  # clears the config too: the answer type again
                    server.config(out_dtype=answer_type)
                    case["cpus"].append(translate(case["name"], out, case["env"]))
                    case["log"] = server.log()
                    ds = gdal.Open(out)
                    got = np.transpose(ds.ReadAsArray(), (1, 2, 0))
                    ds = None
                    if got.dtype != expected.dtype or not np.array_equal(got, expected):
                        raise SystemExit("wrong pixels: %s job through %s" % (job, case["label"]))
                    n_inst = sum(r["n_instances"] for r in case["log"])
                    if n_inst != tiles:
                        raise SystemExit("%s through %s: %d tiles predicted for %d"
                                         % (job, case["label"], n_inst, tiles))
                    server.reset()
                    server.config(out_dtype=answer_type)
                    case["fixed"].append(translate(case["name"], out, case["env"], one_tile))
                    if case["floor_kind"]:
                        counts = [r["n_instances"] for r in case["log"]]
                        floor_bodies(case["floor_kind"], counts, args.tile, work,
                                     case.setdefault("bodies", {}))
                        case["floor"].append(transport_floor(server, case["floor_kind"], counts,
                                                             case["bodies"], answer_type))
            plain, plain_fixed = min(plains), min(plain_fixeds)
            for case in cases:
                if args.perf:
                    server.reset()
                    server.config(out_dtype=answer_type)
                    profile(case["name"], out, case["env"], work, args.perf)
                    print("  ^ %s job through %s: %.2f s CPU" % (job, case["label"], min(case["cpus"])))
                sent = tiles * args.tile * args.tile * BANDS
                received = sent * np.dtype(np_type).itemsize
                gb = (sent + received) / 1e9
                cpu = min(case["cpus"])
                # per process (a one-tile -srcwin, through the driver and plain) and per GB
                fixed_over = min(case["fixed"]) - plain_fixed
                marginal = ((cpu - min(case["fixed"])) - (plain - plain_fixed)) / gb
                floor = min(case["floor"]) / gb if case["floor"] else None
                rows.append((job, case["label"], len(case["log"]), gb, cpu, plain, (cpu - plain) / gb,
                             fixed_over, marginal, floor))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("%-8s %-32s %5s %8s %7s %9s %10s %9s %10s %10s" % ("job", "payload format", "reqs", "GB", "CPU s",
                                                            "plain s", "s/GB over", "fixed s", "marg s/GB",
                                                            "floor s/GB"))
    for job, label, reqs, gb, cpu, plain, per_gb, fixed_over, marginal, floor in rows:
        print("%-8s %-32s %5d %8.4f %7.3f %9.3f %10.2f %9.3f %10.2f %10s"
              % (job, label, reqs, gb, cpu, plain, per_gb, fixed_over, marginal,
                 "-" if floor is None else "%.2f" % floor))
    print()
    print("GB = tensor bytes sent (uint8 inputs) + received (outputs); plain = gdal_translate -ot <type> of "
          "the source; s/GB over = (CPU - plain) / GB.  Targets: uint8 <= 2, float32 <= 1\n"
          "fixed s = per-process cost beyond plain: CPU of a one-tile -srcwin through the driver minus "
          "the same plain; marg s/GB = ((CPU - driver one-tile) - (plain - plain one-tile)) / GB\n"
          "floor s/GB = CPU of the curl tool posting bodies of the same sizes and receiving the same "
          "answers (min of the repeats) / GB: the transport's share of s/GB over (not for gRPC)")
    print("load average at end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
