#!/usr/bin/python3
"""The local stand-in predictor: an HTTP server speaking the AI Platform / Vertex AI
predict protocol with SERIALIZED_TF_TENSORS payloads, hosting the numpy models of
models.py, with a request log and fault injection for the tests (DESIGN.md section 7).

    /usr/bin/python3 autotest/predictor/server.py [--host 127.0.0.1] [--port 0]
        [--port-file PATH] [--token TOKEN] [--workers N] [--latency SECONDS] [--log-file PATH]
        [--latency-per-instance SECONDS] [--fail-share FRACTION] [--fail-seed N]

Control routes: GET /_log, GET /_inflight, POST /_reset, POST /_config, POST /_fault, POST /_release
(see README.md).
"""

import argparse
import hashlib
import hmac
import json
import os
import random
import re
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

if __package__:
    from . import models, oauth, protocols, wire
else:  # run as a script: siblings are importable from the script's folder
    import models
    import oauth
    import protocols
    import wire

DEFAULT_HOST = "127.0.0.1"
LISTEN_BACKLOG = 256
MAX_REQUEST_BYTES = 1 << 30              # refuse bodies larger than this (413)
HUGE_DECLARED_BYTES = 2000000000        # "huge" fault: declared Content-Length
HUGE_SENT_BYTES = 65536                 # "huge" fault: bytes actually sent before closing
TOKEN_PREFIX_SHOWN = 4                  # characters of a bearer token the log may show

DEFAULT_CONFIG = {
    "b64": "urlsafe_nopad",
    "tensor_encoding": "content",
    "out_dtype": None,
    "answer": "full",
    "single_output": "list",
    "batch_dim": False,
    "output_name": None,
}
DEFAULT_CONFIG.update(protocols.CONFIG_DEFAULTS)  # issue 3: answer shapes, metadata, binary OIP
OUT_DTYPES = ("float32", "float64", "float16", "int8", "uint8", "int16", "uint16",
              "int32", "uint32", "int64", "uint64", "bool", "bfloat16")
CORE_ANSWER = re.compile(r"^core:(\d+),(\d+)$")

FAULT_KINDS = ("status", "stall", "gate", "hold", "drop", "malformed", "wrong_shape", "error_body", "huge",
               # hostile answers (issue 6): see HOSTILE_KINDS below
               "truncated", "wrong_count", "wrong_elements", "garbage_b64", "deep_json")
DEFAULT_FAULT_STATUS = 503
DEFAULT_STALL_SECONDS = 1.0
DEFAULT_GATE_SECONDS = 60.0
DEFAULT_HOLD_SECONDS = 60.0
MALFORMED_BODY = b"<html><body>stand-in: this is not JSON</body>"

# --- hostile answers and faults at a rate (issue 6) ---------------------------
# Hostile kinds answer 200 with a body that must be refused by the client:
#   truncated       the JSON answer cut in half (Content-Length of the cut body)
#   wrong_count     one prediction too few
#   wrong_elements  each TensorProto's tensor_content one element short of its shape
#   garbage_b64     each base64 string replaced by text outside both alphabets
#   deep_json       {"predictions": [[[[...]]]]} nested DEEP_JSON_LEVELS deep
# "drop" with "mid_body": true sends the headers and half the body, then closes.
# POST /_fault {"rate": 0.3, "seed": 7, "kinds": [fault, ...], "max": N} injects
# one of `kinds` (chosen at random) into each predict request with probability
# `rate` while the queue of explicit faults is empty; "rate": 0 turns it off.
HOSTILE_KINDS = ("truncated", "wrong_count", "wrong_elements", "garbage_b64", "deep_json")
DEEP_JSON_LEVELS = 100000
GARBAGE_B64 = "!!stand-in: not base64 at all!!"


def _map_strings(value, function):
    """Apply function to every string of a prediction (a string or {name: string})."""
    if isinstance(value, str):
        return function(value)
    if isinstance(value, dict):
        return {k: _map_strings(v, function) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, function) for v in value]
    return value


def _short_tensor(text):
    """The base64 TensorProto text with its tensor_content one element short."""
    message = wire.tensor_pb2().TensorProto()
    message.ParseFromString(wire.b64decode_any(text))
    if message.tensor_content:
        size = max(len(message.tensor_content) // max(int(np.prod([d.size for d in message.tensor_shape.dim])), 1), 1)
        message.tensor_content = message.tensor_content[:-size]
    else:
        message.tensor_shape.dim[0].size += 1  # typed values: shape larger than the values given
    return wire.b64encode_style(message.SerializeToString(), "standard")


def hostile_body(kind, document):
    """Bytes of a hostile 200 answer derived from the good answer `document`."""
    if kind == "deep_json":
        return b'{"predictions": ' + b"[" * DEEP_JSON_LEVELS + b"]" * DEEP_JSON_LEVELS + b"}"
    document = dict(document)
    predictions = list(document["predictions"])
    if kind == "wrong_count":
        predictions = predictions[:-1]
    elif kind == "wrong_elements":
        predictions = [_map_strings(p, _short_tensor) for p in predictions]
    elif kind == "garbage_b64":
        predictions = [_map_strings(p, lambda text: GARBAGE_B64) for p in predictions]
    document["predictions"] = predictions
    body = json.dumps(document).encode("utf-8")
    if kind == "truncated":
        body = body[:len(body) // 2]
    return body


def validate_random_faults(document):
    rate = document.get("rate")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise RequestError("fault rate: %r is not a number in [0, 1]" % (rate,))
    kinds = document.get("kinds", [{"kind": "status", "status": DEFAULT_FAULT_STATUS}])
    if not isinstance(kinds, list) or (rate > 0 and not kinds):
        raise RequestError("fault kinds: expected a non-empty list of faults")
    seed = document.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise RequestError("fault seed: %r is not an integer" % (seed,))
    limit = document.get("max")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise RequestError("fault max: %r is not an integer >= 0" % (limit,))
    return {"rate": float(rate), "kinds": [validate_fault(k) for k in kinds],
            "rng": random.Random(seed), "left": limit}

GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
    500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

AIPLATFORM_ROUTE = re.compile(
    r"^/v1/projects/(?P<project>[^/:]+)/models/(?P<model>[^/:]+)(?:/versions/(?P<version>[^/:]+))?:predict$")
VERTEX_ROUTE = re.compile(
    r"^/v1/projects/(?P<project>[^/:]+)/locations/(?P<location>[^/:]+)/endpoints/(?P<model>[^/:]+):predict$")


class RequestError(ValueError):
    """A bad predict request (answered 400 {"error": message})."""


def google_error(code, message):
    return {"error": {"code": code, "message": message, "status": GOOGLE_STATUS.get(code, "UNKNOWN")}}


def validate_config(update):
    if not isinstance(update, dict):
        raise RequestError("config must be a JSON object")
    for key, value in update.items():
        if key not in DEFAULT_CONFIG:
            raise RequestError("unknown config key %r; known: %s" % (key, ", ".join(DEFAULT_CONFIG)))
        if key == "b64" and value not in wire.B64_STYLES:
            raise RequestError("b64: %r is not one of %s" % (value, ", ".join(wire.B64_STYLES)))
        if key == "tensor_encoding" and value not in wire.TENSOR_ENCODINGS:
            raise RequestError("tensor_encoding: %r is not one of %s" % (value, ", ".join(wire.TENSOR_ENCODINGS)))
        if key == "out_dtype" and value is not None and value not in OUT_DTYPES:
            raise RequestError("out_dtype: %r is not null or one of %s" % (value, ", ".join(OUT_DTYPES)))
        if key == "answer" and value != "full" and not (isinstance(value, str) and CORE_ANSWER.match(value)):
            raise RequestError('answer: %r is not "full" or "core:OX,OY"' % (value,))
        if key == "single_output" and value not in ("list", "object"):
            raise RequestError('single_output: %r is not "list" or "object"' % (value,))
        if key == "batch_dim" and not isinstance(value, bool):
            raise RequestError("batch_dim: %r is not true or false" % (value,))
        if key == "output_name" and value is not None and not (isinstance(value, str) and value):
            raise RequestError("output_name: %r is not null or a non-empty string" % (value,))
        if key in protocols.CONFIG_DEFAULTS:
            try:
                protocols.validate_config_key(key, value)
            except protocols.ProtocolError as e:
                raise RequestError(str(e))


def _number(fault, key, default, minimum=0):
    value = fault.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise RequestError("fault %s: %r is not a number >= %s" % (key, value, minimum))
    return value


def validate_fault(fault):
    if not isinstance(fault, dict):
        raise RequestError("a fault must be a JSON object")
    kind = fault.get("kind")
    if kind not in FAULT_KINDS:
        raise RequestError("fault kind %r is not one of %s" % (kind, ", ".join(FAULT_KINDS)))
    clean = dict(fault)
    count = fault.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise RequestError("fault count: %r is not an integer >= 1" % (count,))
    clean["count"] = count
    if kind == "status":
        status = fault.get("status", DEFAULT_FAULT_STATUS)
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise RequestError("fault status: %r is not an HTTP status code" % (status,))
        clean["status"] = status
        if isinstance(fault.get("retry_after"), str):  # an HTTP date, sent as is (issue 6)
            clean["retry_after"] = fault["retry_after"]
        else:
            clean["retry_after"] = _number(fault, "retry_after", None)
        if fault.get("body") is not None and not isinstance(fault["body"], str):
            raise RequestError("fault body must be a string")
    elif kind == "stall":
        clean["seconds"] = _number(fault, "seconds", DEFAULT_STALL_SECONDS)
    elif kind == "gate":
        # the `count` requests that take this fault wait for one another (a barrier): a
        # concurrency test then sees them in flight together however slow the machine is;
        # `seconds` bounds the wait (a client that never sends that many at once breaks it)
        clean["seconds"] = _number(fault, "seconds", DEFAULT_GATE_SECONDS)
        clean["barrier"] = threading.Barrier(count)
    elif kind == "hold":
        # the request waits until POST /_release {"name": N} (at most `seconds`): a test
        # decides when it is answered, whatever else the client does meanwhile
        clean["seconds"] = _number(fault, "seconds", DEFAULT_HOLD_SECONDS)
        clean["name"] = str(fault.get("name", "hold"))
    elif kind == "error_body":
        message = fault.get("message", "stand-in: injected model error")
        if not isinstance(message, str):
            raise RequestError("fault message must be a string")
        clean["message"] = message
    return clean


class State:
    """Everything shared between request threads, under one lock."""

    def __init__(self, token=None, workers=None, latency=0.0, log_file=None,
                 latency_per_instance=0.0, fail_share=0.0, fail_seed=0):
        self.token = token
        self.latency = float(latency or 0.0)
        # server shapes for the benchmarks (issue 13): a request holds its worker for
        # latency + latency_per_instance x instances; a share of predict requests is
        # answered 503 at once (no worker held), drawn from a generator reseeded by reset()
        self.latency_per_instance = float(latency_per_instance or 0.0)
        self.fail_share = float(fail_share or 0.0)
        self.fail_seed = int(fail_seed or 0)
        self.in_flight = 0
        self.slots = threading.BoundedSemaphore(workers) if workers else None
        self.lock = threading.Lock()
        self.log_lock = threading.Lock()
        self.log_file = log_file
        self.oauth = oauth.OAuth()  # issue 4: token endpoint + metadata server (oauth.py)
        # Epochs (issue 10): each test gets its own listening port; requests that arrive on
        # an older epoch's port (still in flight from an earlier test) are refused without
        # touching the log, the fault queue or the OAuth state.
        self.epoch = 0
        self.listeners = {}          # epoch -> StandInServer
        self.bind_host = None
        self.handler_class = None
        self.reset()

    def reset(self):
        self.oauth.reset()
        with self.lock:
            self.records = []
            self.seq = 0
            self.config = dict(DEFAULT_CONFIG)
            self.faults = []
            self.random_faults = None  # issue 6: faults at a rate (validate_random_faults)
            self.fail_rng = random.Random(self.fail_seed)
            for event in getattr(self, "holds", {}).values():
                event.set()  # a held request of an earlier test answers now
            self.holds = {}          # "hold" faults: name -> Event set by /_release

    def hold_event(self, name):
        with self.lock:
            return self.holds.setdefault(name, threading.Event())

    def open_listener(self):
        """A new listening port for a new epoch; the older ports stop accepting. Returns the port."""
        with self.lock:
            self.epoch += 1
            epoch = self.epoch
            old = list(self.listeners.values())
            self.listeners = {}
        server = StandInServer((self.bind_host, 0), self.handler_class)
        server.epoch = epoch
        with self.lock:
            self.listeners[epoch] = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        for listener in old:
            threading.Thread(target=close_listener, args=(listener,), daemon=True).start()
        return server.server_address[1]

    def is_current(self, server):
        with self.lock:
            return getattr(server, "epoch", 0) == self.epoch

    def close_all(self):
        with self.lock:
            old = list(self.listeners.values())
            self.listeners = {}
        for listener in old:
            close_listener(listener)

    def count_in_flight(self, step):
        with self.lock:
            self.in_flight += step

    def in_flight_count(self):
        with self.lock:
            return self.in_flight

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def add_record(self, record, epoch):
        with self.lock:
            if epoch == self.epoch:
                self.records.append(record)

    def log_records(self):
        with self.lock:
            return sorted(self.records, key=lambda r: r["seq"])

    def merge_config(self, update):
        validate_config(update)
        with self.lock:
            self.config.update(update)
            return dict(self.config)

    def config_snapshot(self):
        with self.lock:
            return dict(self.config)

    def push_faults(self, faults):
        clean = [validate_fault(f) for f in faults]
        with self.lock:
            for f in clean:
                f["remaining"] = f["count"]
                self.faults.append(f)
            return len(self.faults)

    def set_random_faults(self, document):
        clean = validate_random_faults(document)
        with self.lock:
            self.random_faults = clean if clean["rate"] > 0 else None
            return len(self.faults)

    def take_random_fault(self):
        """One of the random kinds with probability rate (caller holds the lock)."""
        rf = self.random_faults
        if rf is None or rf["left"] == 0 or rf["rng"].random() >= rf["rate"]:
            return None
        if rf["left"] is not None:
            rf["left"] -= 1
        return dict(rf["rng"].choice(rf["kinds"]))

    def take_fail_share(self):
        """A 503 for a share --fail-share of the requests (caller holds the lock)."""
        if self.fail_share <= 0 or self.fail_rng.random() >= self.fail_share:
            return None
        return {"kind": "status", "status": DEFAULT_FAULT_STATUS, "count": 1, "retry_after": None,
                "body": None, "fail_share": True}

    def take_fault(self, epoch):
        with self.lock:
            if epoch != self.epoch:
                return None
            if not self.faults:
                return self.take_random_fault() or self.take_fail_share()
            fault = self.faults[0]
            fault["remaining"] -= 1
            if fault["remaining"] <= 0:
                self.faults.pop(0)
            return dict(fault)

    def write_log_line(self, line):
        if not self.log_file:
            return
        with self.log_lock:
            with open(self.log_file, "a", encoding="utf-8") as f:
                f.write(line.rstrip("\n") + "\n")


def close_listener(server):
    server.shutdown()
    server.server_close()


def redacted_authorization(value):
    if value is None:
        return None
    scheme, _, credential = value.partition(" ")
    return "%s %s\u2026" % (scheme, credential[:TOKEN_PREFIX_SHOWN])


def parse_instances(body, summary):
    """Decode a SERIALIZED_TF_TENSORS request; fill `summary` (the log record) as it goes.

    Returns a list, one per instance, of [(key, numpy array (H, W, C)), ...].
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise RequestError("request body is not JSON: %s" % e)
    if not isinstance(doc, dict) or "instances" not in doc:
        raise RequestError('request body must be a JSON object with an "instances" list')
    instances = doc["instances"]
    if not isinstance(instances, list) or not instances:
        raise RequestError('"instances" must be a non-empty list')
    summary["n_instances"] = len(instances)
    decoded = []
    first_keys = None
    for i, instance in enumerate(instances):
        if not isinstance(instance, dict) or not instance:
            raise RequestError("instance %d is not a non-empty object {key: base64 TensorProto}" % i)
        keys = list(instance)
        if first_keys is None:
            first_keys = keys
            summary["keys"] = keys
        elif set(keys) != set(first_keys):
            raise RequestError("instance %d has keys %s; instance 0 has %s" % (i, keys, first_keys))
        tensors = []
        for key in keys:
            value = instance[key]
            if not isinstance(value, str):
                raise RequestError("instance %d key %r: expected a base64 string, got %s"
                                   % (i, key, type(value).__name__))
            try:
                array = wire.decode_tensor_b64(value)
            except wire.WireError as e:
                raise RequestError("instance %d key %r: %s" % (i, key, e))
            if i == 0:
                summary["shapes"][key] = list(array.shape)
                summary["dtypes"][key] = array.dtype.name
            if key == keys[0]:
                summary["instance_shapes"].append(list(array.shape))
                # issue 6: identifies the tile across retries (same input, same digest)
                summary.setdefault("instance_digests", []).append(
                    hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()[:16])
            if array.ndim != 3:
                raise RequestError("instance %d key %r: tensor of shape %s has rank %d; every tensor must "
                                   "be rank 3 (H, W, C), even for a single band" % (i, key, list(array.shape), array.ndim))
            if array.dtype.kind not in "biuf":
                raise RequestError("instance %d key %r: element type %s is not supported" % (i, key, array.dtype.name))
            if tensors and array.shape[:2] != tensors[0][1].shape[:2]:
                raise RequestError("instance %d key %r: spatial size %s differs from key %r's %s"
                                   % (i, key, list(array.shape[:2]), tensors[0][0], list(tensors[0][1].shape[:2])))
            tensors.append((key, array))
        decoded.append(tensors)
    return decoded


def shape_output(array, input_shape, config, wrong_shape):
    """Apply the answer options to one model output (crop, wrong shape, dtype, batch dim)."""
    core = CORE_ANSWER.match(config["answer"] or "")
    if core and array.ndim >= 2:
        in_h, in_w = input_shape[:2]
        out_h, out_w = array.shape[:2]
        crop_x = int(round(int(core.group(1)) * out_w / in_w))
        crop_y = int(round(int(core.group(2)) * out_h / in_h))
        if 2 * crop_x < out_w and 2 * crop_y < out_h:
            array = array[crop_y:out_h - crop_y, crop_x:out_w - crop_x]
    if wrong_shape and array.ndim >= 2:
        array = array[:max(array.shape[0] - 1, 0), :max(array.shape[1] - 1, 0)]
    if config["out_dtype"]:
        array = array.astype(config["out_dtype"])
    if config["batch_dim"]:
        array = array[None]
    return array


def encode_prediction(outputs, input_shape, config, wrong_shape):
    encoded = {}
    for name, array in outputs.items():
        array = shape_output(array, input_shape, config, wrong_shape)
        encoded[name] = wire.encode_tensor_b64(array, config["tensor_encoding"], config["b64"])
    if len(encoded) == 1:
        (name, value), = encoded.items()
        if config["single_output"] == "object":
            return {config["output_name"] or name: value}
        return value
    return encoded


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "EEMODEL-stand-in/1"
        # TCP_NODELAY, as production servers set it (uvicorn and asyncio, Triton, TF
        # Serving): headers and body leave in two writes, and with Nagle's algorithm the
        # second waits for the client's delayed ACK of the first on a reused connection
        # (40 ms on Linux), an artefact no real server adds to every answer
        disable_nagle_algorithm = True

        # -- plumbing ---------------------------------------------------------

        def log_message(self, fmt, *args):
            state.write_log_line("%s %s %s" % (time.strftime("%Y-%m-%dT%H:%M:%S"),
                                               self.client_address[0], fmt % args))

        def read_body(self):
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                raise RequestError("request body of %d bytes exceeds the stand-in's limit of %d"
                                   % (length, MAX_REQUEST_BYTES))
            return self.rfile.read(length) if length > 0 else b""

        def send_bytes(self, status, body, content_type="application/json", headers=None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def send_json(self, status, document, headers=None):
            self.send_bytes(status, json.dumps(document).encode("utf-8"), headers=headers)

        def dispatch(self):
            path = self.path.split("?", 1)[0]
            try:
                if not path.startswith("/_") and not state.is_current(self.server):
                    # a request of an earlier test (another epoch's port): never logged,
                    # never given a queued fault
                    self.read_body()
                    self.close_connection = True
                    return self.send_json(503, {"error": "stand-in: request for an earlier epoch"},
                                          headers={"Connection": "close"})
                if self.command == "POST":
                    found = protocols.match(protocols.POST_ROUTES, path)
                    if found:
                        return self.predict(path, found[0], found[1])
                if self.command == "GET":
                    found = protocols.match(protocols.GET_ROUTES, path)
                    if found:
                        status, document = protocols.metadata_answer(found[0], found[1], state.config_snapshot(),
                                                                     models.MODELS)
                        return self.send_json(status, document)
                if state.oauth.handle(self, path):  # issue 4: /token, metadata, /_oauth*
                    return
                body = self.read_body()
                if self.command == "GET" and path == "/_log":
                    return self.send_json(200, state.log_records())
                if self.command == "GET" and path == "/_inflight":
                    return self.send_json(200, {"in_flight": state.in_flight_count()})
                if self.command == "POST" and path in ("/_reset", "/_config", "/_fault", "/_release"):
                    return self.control(path, body)
                return self.send_json(404, {"error": "no route for %s %s" % (self.command, path)})
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            except RequestError as e:
                self.send_json(400, {"error": str(e)})
            except Exception as e:  # a bug in the stand-in: say so, keep serving
                traceback.print_exc(file=sys.stderr)
                state.write_log_line("internal error: %s" % traceback.format_exc())
                try:
                    self.send_json(500, {"error": "stand-in internal error: %s" % e})
                except OSError:
                    self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = dispatch

        # -- control routes ---------------------------------------------------

        def control(self, path, body):
            if path == "/_reset":
                try:
                    document = json.loads(body or b"null") or {}
                except ValueError as e:
                    raise RequestError("/_reset body is not JSON: %s" % e)
                state.reset()
                if isinstance(document, dict) and document.get("new_port"):
                    return self.send_json(200, {"ok": True, "port": state.open_listener()})
                return self.send_json(200, {"ok": True})
            try:
                document = json.loads(body or b"null")
            except ValueError as e:
                raise RequestError("%s body is not JSON: %s" % (path, e))
            if path == "/_config":
                return self.send_json(200, {"ok": True, "config": state.merge_config(document)})
            if path == "/_release":
                name = document.get("name", "hold") if isinstance(document, dict) else "hold"
                state.hold_event(str(name)).set()
                return self.send_json(200, {"ok": True})
            if isinstance(document, dict) and "rate" in document:
                return self.send_json(200, {"ok": True, "queued": state.set_random_faults(document)})
            faults = document if isinstance(document, list) else [document]
            return self.send_json(200, {"ok": True, "queued": state.push_faults(faults)})

        # -- predict ----------------------------------------------------------

        def predict(self, path, api, route):
            record = {
                "seq": state.next_seq(), "method": self.command, "path": self.path, "api": api,
                "project": route.get("project"), "location": route.get("location"),
                "model": route["model"], "version": route.get("version"), "label": route.get("label"),
                "status": None, "body_bytes": 0, "n_instances": 0, "keys": [], "shapes": {},
                "dtypes": {}, "instance_shapes": [], "authorization": None, "auth_ok": False,
                "headers": {}, "t_start": time.time(), "t_end": None, "fault": None, "error": None,
                "t_worker_start": None, "t_worker_end": None,
            }
            state.count_in_flight(1)
            try:
                self.predict_with_record(api, route, record)
            finally:
                self.publish(record)

        def publish(self, record):
            """Put the record in the log (once), before the client can see the answer."""
            if record["t_end"] is None:
                record["t_end"] = time.time()
                state.add_record(record, self.server.epoch)
                state.count_in_flight(-1)

        def answer(self, record, status, document=None, body=None, headers=None):
            record["status"] = status
            if document is not None and "error" in document:
                error = document.get("error")
                record["error"] = error.get("message") if isinstance(error, dict) else error
            self.publish(record)
            if document is not None:
                self.send_json(status, document, headers=headers)
            else:
                self.send_bytes(status, body, headers=headers)

        def predict_with_record(self, api, route, record):
            headers = {}
            for name, value in self.headers.items():
                headers[name.lower()] = "[redacted]" if name.lower() == "authorization" else value
            record["headers"] = headers
            authorization = self.headers.get("Authorization")
            record["authorization"] = redacted_authorization(authorization)
            try:
                body = self.read_body()
            except RequestError as e:
                self.close_connection = True
                return self.answer(record, 413, {"error": str(e)})
            record["body_bytes"] = len(body)

            if state.token is not None and api in ("tfserving", "kserve"):
                record["auth_ok"] = True  # TF Serving and KServe take no Google credentials
            elif state.token is not None:
                expected = ("Bearer " + state.token).encode("utf-8")
                record["auth_ok"] = hmac.compare_digest((authorization or "").encode("utf-8"), expected)
                # issue 4: or a valid token issued by the OAuth emulation (None: unknown/expired)
                record["auth_source"] = "static" if record["auth_ok"] else state.oauth.token_source(authorization)
                record["auth_ok"] = record["auth_source"] is not None
            else:
                record["auth_ok"] = True
            if not record["auth_ok"]:
                return self.answer(record, 401, google_error(401, "Request had invalid authentication credentials."))

            model = route["model"]
            if model not in models.MODELS and model != "echo":
                return self.answer(record, 404, google_error(404, "model %s not found" % model))

            config = state.config_snapshot()
            parse_error = None
            try:
                request = protocols.parse_request(api, body, self.headers, config,
                                                  tabular=model in models.TABULAR)
                protocols.summarize(request, record)
            except (RequestError, protocols.ProtocolError) as e:
                parse_error = str(e)
                request = None

            fault = state.take_fault(self.server.epoch)
            wrong_shape = False
            if fault:
                kind = record["fault"] = fault["kind"]
                if kind == "status":
                    status = fault["status"]
                    extra = {}
                    if fault.get("retry_after") is not None:
                        value = fault["retry_after"]
                        if isinstance(value, str):
                            extra["Retry-After"] = value
                        else:
                            extra["Retry-After"] = str(int(value)) if float(value).is_integer() else str(value)
                    if fault.get("body") is not None:
                        return self.answer(record, status, body=fault["body"].encode("utf-8"), headers=extra)
                    return self.answer(record, status, google_error(status, "stand-in: injected HTTP %d" % status),
                                       headers=extra)
                if kind == "drop" and fault.get("mid_body"):
                    return self.drop_mid_body(record)
                if kind == "drop":
                    self.publish(record)
                    self.close_connection = True
                    return
                if kind == "malformed":
                    return self.answer(record, 200, body=MALFORMED_BODY)
                if kind == "error_body":
                    return self.answer(record, 200, {"error": fault["message"]})
                if kind == "huge":
                    record["status"] = 200
                    self.publish(record)
                    self.close_connection = True
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(HUGE_DECLARED_BYTES))
                    self.end_headers()
                    self.wfile.write(b'{"predictions": ["' + b"A" * (HUGE_SENT_BYTES - 17))
                    self.wfile.flush()
                    return
                if kind == "stall":
                    time.sleep(fault["seconds"])
                if kind == "gate":
                    try:
                        fault["barrier"].wait(fault["seconds"])
                    except threading.BrokenBarrierError:
                        record["error"] = "gate broken: fewer requests than its count came at once"
                if kind == "hold" and not state.hold_event(fault["name"]).wait(fault["seconds"]):
                    record["error"] = "hold timed out: never released"
                wrong_shape = kind == "wrong_shape"

            if parse_error is not None:
                return self.answer(record, 400, {"error": parse_error})

            try:
                results = self.run_model(model, request.instances, record)
            except models.ModelError as e:
                return self.answer(record, 400, {"error": "model %s: %s" % (model, e)})
            document, binary, extra = protocols.encode_answer(request, results, config, shape_output, wrong_shape)
            if binary is not None:
                record["status"] = 200
                self.publish(record)
                content_type = extra.pop("Content-Type")
                return self.send_bytes(200, binary, content_type=content_type, headers=extra)
            if api == "vertex":
                document["deployedModelId"] = "stand-in-" + model
            if fault and fault["kind"] in HOSTILE_KINDS and "predictions" in document:
                return self.answer(record, 200, body=hostile_body(fault["kind"], document))
            return self.answer(record, 200, document)

        def drop_mid_body(self, record):
            """Headers promising a whole answer, half of it, then a closed connection."""
            record["status"] = 200
            self.publish(record)
            self.close_connection = True
            body = json.dumps({"predictions": []}).encode("utf-8") + b" " * 4096
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()

        def run_model(self, model, instances, record=None):
            """[(input shape, {output: array})] per instance.  record: its t_worker_start and
            t_worker_end say when the request held a worker (the server's timeline)."""
            outputs = []
            if state.slots is not None:
                state.slots.acquire()
            if record is not None:
                record["t_worker_start"] = time.time()
            try:
                delay = state.latency + state.latency_per_instance * len(instances)
                if delay > 0:
                    time.sleep(delay)
                if model in models.BATCH_MODELS and instances:
                    xs = [np.concatenate([a.astype(np.float64) for _, a in t], axis=2) for t in instances]
                    return [(t[0][1].shape, out) for t, out in zip(instances, models.BATCH_MODELS[model](xs))]
                for index, tensors in enumerate(instances):
                    try:
                        outputs.append((tensors[0][1].shape, protocols.run(models, model, tensors)))
                    except models.ModelError as e:
                        raise models.ModelError("instance %d: %s" % (index, e))
            finally:
                if record is not None:
                    record["t_worker_end"] = time.time()
                if state.slots is not None:
                    state.slots.release()
            return outputs

    return Handler


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG


def write_port_file(path, port):
    staging = path + ".tmp"
    with open(staging, "w") as f:
        f.write("%d\n" % port)
    os.replace(staging, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description="EEMODEL local stand-in predictor")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--token")
    parser.add_argument("--workers", type=int, default=None, help="most model executions at once")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds of sleep per predict request")
    parser.add_argument("--latency-per-instance", type=float, default=0.0,
                        help="seconds of sleep per instance, added to --latency")
    parser.add_argument("--fail-share", type=float, default=0.0,
                        help="share of predict requests answered 503 at once (0 to 1)")
    parser.add_argument("--fail-seed", type=int, default=0, help="seed of the --fail-share draws")
    parser.add_argument("--log-file")
    parser.add_argument("--grpc-port-file", help="also serve gRPC (grpc_server.py) on an ephemeral port")
    parser.add_argument("--grpc-port", type=int, default=0, help="the gRPC port (default: ephemeral)")
    parser.add_argument("--grpc-tls-cert", help="serve gRPC over TLS with this PEM certificate chain")
    parser.add_argument("--grpc-tls-key", help="the PEM private key of --grpc-tls-cert")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be >= 1")
    if args.latency < 0 or args.latency_per_instance < 0:
        parser.error("--latency and --latency-per-instance must be >= 0")
    if not 0 <= args.fail_share <= 1:
        parser.error("--fail-share must be a number in [0, 1]")

    wire.tensor_pb2()  # generate and import the protobuf code before accepting requests
    state = State(token=args.token, workers=args.workers, latency=args.latency, log_file=args.log_file,
                  latency_per_instance=args.latency_per_instance, fail_share=args.fail_share,
                  fail_seed=args.fail_seed)
    state.bind_host = args.host
    state.handler_class = make_handler(state)
    server = StandInServer((args.host, args.port), state.handler_class)
    server.epoch = 0
    state.listeners[0] = server
    port = server.server_address[1]
    grpc_server = None
    if args.grpc_port_file:  # issue 15: the gRPC services share this state
        if __package__:
            from . import grpc_server as grpc_side
        else:
            import grpc_server as grpc_side
        tls = (args.grpc_tls_cert, args.grpc_tls_key) if args.grpc_tls_cert else None
        grpc_server, grpc_port = grpc_side.start(state, shape_output, redacted_authorization, args.host,
                                                 args.grpc_port, tls)
        write_port_file(args.grpc_port_file, grpc_port)
    if args.port_file:
        write_port_file(args.port_file, port)
    print("EEMODEL stand-in predictor listening on http://%s:%d" % (args.host, port), flush=True)

    stopping = threading.Event()

    def stop(signum, frame):
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        state.close_all()
        if grpc_server is not None:
            grpc_server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
