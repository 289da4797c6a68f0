"""Start and drive the stand-in predictor from tests: `StandIn`.

    from predictor.harness import StandIn
    with StandIn.start(token="t0ken", workers=4, latency=0.05) as s:
        s.config(b64="standard")
        s.fault(kind="status", status=503, count=2)
        ...  # point the driver at s.url
        assert [r["status"] for r in s.log()] == [503, 503, 200]

The server runs as a subprocess (/usr/bin/python3 server.py) on an ephemeral
127.0.0.1 port; the harness talks to its control routes with urllib (no proxies).
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "server.py")
START_TIMEOUT_SECONDS = 120.0   # a busy machine starts python + numpy slowly
STOP_TIMEOUT_SECONDS = 5.0
CONTROL_TIMEOUT_SECONDS = 30.0

_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StandInError(RuntimeError):
    pass


class StandIn:
    def __init__(self, process, port, folder, token=None, grpc_port=None, host="127.0.0.1", grpc_tls=False):
        self.process = process
        self.port = port
        self.host = host
        self.url = "http://%s:%d" % (host, port)
        self.grpc_port = grpc_port  # issue 15: grpc_server.py, same state as the HTTP side
        self.grpc_root = ("%s://%s:%d" % ("grpcs" if grpc_tls else "grpc", host, grpc_port)
                          if grpc_port else None)
        self.token = token
        self.folder = folder
        self.log_file = os.path.join(folder, "access.log")

    @classmethod
    def start(cls, token=None, workers=None, latency=0.0, host="127.0.0.1", grpc_port=0,
              grpc_tls=None, latency_per_instance=0.0, fail_share=0.0, fail_seed=None):
        """grpc_port: the gRPC port (0: ephemeral; a port of a stopped stand-in: a restarted
        server); grpc_tls: (certificate chain, key) PEM files to serve gRPC over TLS;
        latency_per_instance: seconds per instance added to latency (the worker is held
        for both); fail_share: share of predict requests answered 503 at once, drawn with
        fail_seed (the draws restart at each reset)."""
        folder = tempfile.mkdtemp(prefix="eemodel-standin-")
        port_file = os.path.join(folder, "port")
        grpc_port_file = os.path.join(folder, "grpc-port")
        command = [PYTHON, SERVER_SCRIPT, "--host", host, "--port", "0", "--port-file", port_file,
                   "--log-file", os.path.join(folder, "access.log"), "--grpc-port-file", grpc_port_file,
                   "--grpc-port", str(int(grpc_port))]
        if grpc_tls:
            command += ["--grpc-tls-cert", grpc_tls[0], "--grpc-tls-key", grpc_tls[1]]
        if token is not None:
            command += ["--token", token]
        if workers is not None:
            command += ["--workers", str(int(workers))]
        if latency:
            command += ["--latency", repr(float(latency))]
        if latency_per_instance:
            command += ["--latency-per-instance", repr(float(latency_per_instance))]
        if fail_share:
            command += ["--fail-share", repr(float(fail_share))]
        if fail_seed is not None:
            command += ["--fail-seed", str(int(fail_seed))]
        stderr_path = os.path.join(folder, "stderr.txt")
        with open(stderr_path, "wb") as stderr, open(os.devnull, "wb") as devnull:
            process = subprocess.Popen(command, stdout=devnull, stderr=stderr, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    text = f.read().strip()
                if text:  # written after the gRPC port file
                    with open(grpc_port_file) as f:
                        grpc_port = int(f.read().strip())
                    return cls(process, int(text), folder, token, grpc_port, host, bool(grpc_tls))
            if process.poll() is not None:
                break
            time.sleep(0.02)
        process.kill()
        process.wait()
        with open(stderr_path, errors="replace") as f:
            detail = f.read()
        shutil.rmtree(folder, ignore_errors=True)
        raise StandInError("stand-in predictor did not start (exit %s): %s" % (process.returncode, detail))

    # -- lifetime -------------------------------------------------------------

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- URLs for the driver ----------------------------------------------------

    def aiplatform_url(self, model, project="p", version=None):
        path = "/v1/projects/%s/models/%s" % (project, model)
        if version:
            path += "/versions/%s" % version
        return self.url + path + ":predict"

    def vertex_url(self, model, project="p", location="us-central1"):
        return self.url + "/v1/projects/%s/locations/%s/endpoints/%s:predict" % (project, location, model)

    def grpc_url(self, model, api="tfserving", version=None, label=None):
        """grpc://127.0.0.1:PORT/v1/models/M[...] (TF Serving) or /v2/models/M[...] (OIP v2)."""
        path = "/v1/models/%s" % model if api == "tfserving" else "/v2/models/%s" % model
        if version:
            path += "/versions/%s" % version
        elif label:
            path += "/labels/%s" % label
        return self.grpc_root + path

    # -- control routes -------------------------------------------------------

    def _call(self, method, path, document=None):
        data = None if document is None else json.dumps(document).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with _NO_PROXY_OPENER.open(request, timeout=CONTROL_TIMEOUT_SECONDS) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise StandInError("%s %s -> %d %s" % (method, path, e.code, e.read().decode(errors="replace")))

    def log(self):
        """Request records of predict requests, in arrival order."""
        return self._call("GET", "/_log")

    def in_flight(self):
        """Predict requests the server has begun and not yet put in its log (0: the log
        holds every request that reached the server)."""
        return self._call("GET", "/_inflight")["in_flight"]

    def reset(self):
        """Clear the log, the fault queue and the config (same port: names built earlier in
        the test still reach it)."""
        self._call("POST", "/_reset", {})

    def renew(self):
        """reset(), and move to a new listening port (self.url changes).  Requests still in
        flight to the old port, from an earlier test, are refused and never logged, so a
        test that renews first sees only its own requests."""
        answer = self._call("POST", "/_reset", {"new_port": True})
        self.port = int(answer["port"])
        self.url = "http://%s:%d" % (self.host, self.port)
        return self

    def config(self, **settings):
        """Merge settings into the answer config; returns the full config."""
        return self._call("POST", "/_config", settings)["config"]

    def fault(self, **fault):
        """Queue one fault (kind=..., count=..., ...)."""
        return self._call("POST", "/_fault", fault)

    def release(self, name="hold"):
        """Answer the requests held by a {"kind": "hold", "name": name} fault."""
        return self._call("POST", "/_release", {"name": name})

    def stderr(self):
        with open(os.path.join(self.folder, "stderr.txt"), errors="replace") as f:
            return f.read()
