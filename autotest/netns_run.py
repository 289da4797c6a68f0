"""Run the driver against a recording server on a NON-loopback address.

The transport rules for secrets depend on whether a server is loopback, so
their tests need a server that is not.  `run_in_netns(job)` starts this file
as a subprocess inside a private network namespace (`unshare -n`, the tests
run as root) whose loopback interface also carries NETNS_ADDRESS
(10.213.0.1): a real, non-loopback address that exists only inside that
namespace.  There the script starts a recording HTTP(S) server on that
address, opens `job["name"]` (its "{URL}" replaced by the server's base URL)
with the config options of the job, reads one block, and prints one JSON
document: every request the server received (method, path, headers, body),
the GDAL errors, and whether the open / read succeeded.

The server answers every request with job["status"] (default 404) and a small
JSON body, so the driver never gets a prediction: these tests look only at
what was sent.
"""

import json
import os
import subprocess
import sys
import threading

NETNS_ADDRESS = "10.213.0.1"
PYTHON = "/usr/bin/python3"


def run_in_netns(job, env, timeout=120, script=None):
    """Run job (a dict, see module doc) in a fresh network namespace; returns the JSON result.
    script: another Python file to run there instead (reads the job on stdin, prints one JSON
    document as its last line)."""
    script = script or os.path.abspath(__file__)
    shell = ("ip link set lo up && ip addr add %s/32 dev lo && exec %s %s"
             % (NETNS_ADDRESS, PYTHON, script))
    proc = subprocess.run(["unshare", "-n", "sh", "-c", shell], input=json.dumps(job).encode(),
                          env=env, capture_output=True, timeout=timeout)
    out = proc.stdout.decode(errors="replace")
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0 or not out.strip():
        raise RuntimeError("netns job failed (exit %d): %s\n%s" % (proc.returncode, out, err))
    result = json.loads(out.strip().splitlines()[-1])
    result["stderr"] = err
    return result


# --------------------------------------------------------------- inside --

def _serve(job, records):
    import http.server
    import ssl

    status = int(job.get("status", 404))

    class Recorder(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            records.append({"method": self.command, "path": self.path,
                            "headers": {k: v for k, v in self.headers.items()},
                            "body": body.decode("latin-1")})
            payload = json.dumps({"error": "recorded"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((NETNS_ADDRESS, 0), Recorder)
    scheme = "http"
    if job.get("tls_cert"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(job["tls_cert"], job["tls_key"])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "%s://%s:%d" % (scheme, NETNS_ADDRESS, server.server_address[1])


def _main():
    job = json.loads(sys.stdin.read())
    records = []
    server, base = _serve(job, records)
    from osgeo import gdal

    errors = []

    def handler(cls, code, msg):
        errors.append(msg)

    gdal.PushErrorHandler(handler)
    for key, value in job.get("config", {}).items():
        gdal.SetConfigOption(key, value.replace("{URL}", base) if value else value)
    name = job["name"].replace("{URL}", base)
    result = {"base": base, "opened": False, "read": False}
    ds = gdal.OpenEx(name, gdal.OF_RASTER,
                     open_options=[o.replace("{URL}", base) for o in job.get("open_options", [])])
    if ds is not None:
        result["opened"] = True
        result["description"] = ds.GetDescription()
        result["metadata"] = {d or "": ds.GetMetadata(d or "") for d in (ds.GetMetadataDomainList() or [])}
        band = ds.GetRasterBand(1)
        # the middle of the raster: tiles wholly masked in the source are not predicted
        result["read"] = band.ReadRaster(ds.RasterXSize // 2, ds.RasterYSize // 2, 1, 1) is not None
        ds = None
    gdal.PopErrorHandler()
    server.shutdown()
    result["requests"] = records
    result["errors"] = errors
    print(json.dumps(result))


if __name__ == "__main__":
    _main()
