#!/usr/bin/python3
"""REST JSON vs REST binary vs gRPC on the same job (issue 15): bytes on the wire, client CPU
per GB of tensors, throughput against the stand-in's capacity, and the TCP connections each
protocol opened (grpcs:// calls are streams of one HTTP/2 connection; h2c calls too with
EEMODEL_GRPC_CONNECTION_REUSE=YES, the default from libcurl 8 on; otherwise each h2c call has
its own).  reqs counts the calls the server answered, calls asked again included (libcurl
7.88.1 loses the trailers of some concurrent h2c streams).  Prints figures only; the
exit status is non-zero only when something is wrong (a failed command or wrong pixels).

    /usr/bin/python3 bench/bench_grpc.py [--tiles N] [--repeats R]

Same raster, model (ndi: two uint8 bands -> one float32 band, 128x128 tiles) and stand-in
(--workers 2 --latency 0.25) for every protocol.  Bytes on the wire are counted by a TCP relay
between gdal_translate and the stand-in (both directions, HTTP/2 or HTTP/1.1 framing and
headers included) in a separate run, so the relay's own CPU and latency do not touch the
throughput and CPU runs; the relay also counts the connections it accepts.  The grpcs://
row runs against a second stand-in of the same shape serving gRPC over TLS, with a private CA
made by the openssl CLI and trusted through GDAL_CURL_CA_BUNDLE.
"""

import argparse
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (sets GDAL_DRIVER_PATH, imports the stand-in harness)

from predictor.harness import StandIn  # noqa: E402

WORKERS = 2
LATENCY = 0.25
TILES = 16          # 16 x 16 tiles of 128 x 128
REPEATS = 3


class Relay:
    """127.0.0.1:port -> target_port, counting the bytes each way."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.up = self.down = 0
        self.accepts = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _pipe(self, src, dst, upward):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    if upward:
                        self.up += len(data)
                    else:
                        self.down += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepts += 1
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def reset(self):
        with self.lock:
            self.up = self.down = self.accepts = 0


def make_tls_files(folder):
    """A private CA and a server certificate for 127.0.0.1: (ca, chain, key) paths."""
    folder = pathlib.Path(folder)
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for args in (["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                  "-subj", "/CN=bench-ca", "-days", "1"],
                 ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
                  "-subj", "/CN=bench-grpc"],
                 ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                  "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf"]):
        subprocess.run(["openssl"] + args, cwd=str(folder), check=True, capture_output=True)
    (folder / "chain.pem").write_bytes((folder / "server.pem").read_bytes() + (folder / "ca.pem").read_bytes())
    return str(folder / "ca.pem"), str(folder / "chain.pem"), str(folder / "server.key")


def cases(ca):
    """(name, descriptor keys for `ndi` (host:port placeholders {http} / {grpc} / {grpcs}), config)."""
    return [
        ("REST JSON (TF Serving RAW_JSON)", "url=http://{http}/v1/models/ndi:predict;payload_format=RAW_JSON", {}),
        ("REST base64 (SERIALIZED_TF_TENSORS)", "url=http://{http}/v1/models/ndi:predict;"
                                                "payload_format=SERIALIZED_TF_TENSORS", {}),
        ("REST binary (OIP v2 binary extension)", "url=http://{http}/v2/models/ndi/infer;payload_format=OIP_V2",
         {"EEMODEL_OIP_BINARY": "YES"}),
        ("gRPC GRPC_TF_TENSORS (TF Serving Predict)", "url=grpc://{grpc}/v1/models/ndi", {}),
        ("gRPC GRPC_TF_TENSORS, h2c connection shared", "url=grpc://{grpc}/v1/models/ndi",
         {"EEMODEL_GRPC_CONNECTION_REUSE": "YES"}),
        ("gRPC GRPC_OIP_V2 (ModelInfer)", "url=grpc://{grpc}/v2/models/ndi", {}),
        ("gRPC over TLS (grpcs://, TF Serving Predict)", "url=grpcs://{grpcs}/v1/models/ndi",
         {"GDAL_CURL_CA_BUNDLE": ca, "GDAL_HTTP_UNSAFESSL": "NO"}),
    ]


def name_for(src, keys, http_port, grpc_port, grpcs_port):
    keys = keys.format(http="127.0.0.1:%d" % http_port, grpc="127.0.0.1:%d" % grpc_port,
                       grpcs="127.0.0.1:%d" % grpcs_port)
    return ("EEMODEL:input=%s;%s;input_tile_size=128,128;output_bands=output:float32" % (src, keys))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=TILES, help="tiles per side")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="eemodel-bench-grpc-"))
    src = bench.make_raster(work / "src.tif", args.tiles)
    expected = bench.expected_ndi(src)
    n_tiles = args.tiles * args.tiles
    tensor_bytes = n_tiles * 128 * 128 * (2 * 1 + 4)  # uint8 x 2 in, float32 out
    print("load average at start: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print("job: %d tiles of 128x128, 2 uint8 bands -> 1 float32 band (%.1f MB of tensors); stand-in "
          "--workers %d --latency %.2f" % (n_tiles, tensor_bytes / 1e6, WORKERS, LATENCY))
    ca, chain, key = make_tls_files(work)
    server = StandIn.start(token=bench.TOKEN, workers=WORKERS, latency=LATENCY)
    tls_server = StandIn.start(token=bench.TOKEN, workers=WORKERS, latency=LATENCY, grpc_tls=(chain, key))
    relays = [Relay(server.port), Relay(server.grpc_port), Relay(tls_server.grpc_port)]
    out = str(work / "out.tif")
    rows = []
    try:
        for label, keys, config in cases(ca):
            env = dict(config)
            used = tls_server if "{grpcs}" in keys else server
            # bytes on the wire and connections, through the relays
            for relay in relays:
                relay.reset()
            name = name_for(src, keys, *(relay.port for relay in relays))
            wire_run = bench.run_translate(used, name, out, env_extra=env)
            bench.check_output(out, expected)
            up = sum(relay.up for relay in relays)
            down = sum(relay.down for relay in relays)
            connections = sum(relay.accepts for relay in relays)
            # CPU and throughput, direct
            name = name_for(src, keys, server.port, server.grpc_port, tls_server.grpc_port)
            runs = [bench.run_translate(used, name, out, env_extra=env) for _ in range(args.repeats)]
            bench.check_output(out, expected)
            wall = statistics.median(r["wall"] for r in runs)
            cpu = statistics.median(r["cpu"] for r in runs)
            per_request = max(r["max_instances"] for r in runs)
            capacity = WORKERS * per_request / LATENCY
            rows.append((label, up, down, wire_run["requests"], connections, per_request, cpu,
                         cpu / (tensor_bytes / 1e9), n_tiles / wall, capacity))
    finally:
        server.stop()
        tls_server.stop()
    print()
    print("%-46s %9s %9s %5s %5s %6s %7s %9s %8s %9s %6s" % (
        "protocol", "sent MB", "recv MB", "reqs", "TCP", "tiles/", "CPU s", "CPU s/GB", "tiles/s", "capacity",
        "ratio"))
    for label, up, down, reqs, conns, per, cpu, cpu_gb, rate, cap in rows:
        print("%-46s %9.2f %9.2f %5d %5d %6d %7.2f %9.2f %8.1f %9.1f %6.2f" % (
            label, up / 1e6, down / 1e6, reqs, conns, per, cpu, cpu_gb, rate, cap, rate / cap))
    print()
    print("sent/recv MB: bytes through the TCP relay (all framing and headers); TCP = connections the "
          "relay accepted in that run (the model-metadata call at open included); tiles/ = most tiles in "
          "one request (MAX_PAYLOAD_BYTES 1500000 on the encoded body); CPU = user+sys of gdal_translate "
          "(median of %d); capacity = workers x tiles per request / latency" % args.repeats)
    print("load average at end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
