"""The stand-in predictor's gRPC side (issue 15), in the same process as server.py and
sharing its State: models, answer config, fault queue and request log.

Services (grpcio generic handlers; messages from the project's own proto/ files, compiled
at start-up by wire.compile_protos, never committed):

  /tensorflow.serving.PredictionService/Predict            GRPC_TF_TENSORS (numeric tensors),
                                                           GRPC_SERIALIZED_TF_TENSORS (DT_STRING of
                                                           serialized TensorProtos), GRPC_SERIALIZED_
                                                           TF_EXAMPLES (inputs["input"] of tf.Example)
  /tensorflow.serving.PredictionService/GetModelMetadata   from the `metadata` config (NOT_FOUND if unset)
  /inference.GRPCInferenceService/ModelInfer               raw_input_contents or typed contents
  /inference.GRPCInferenceService/ModelMetadata            from the `metadata` config
  /google.cloud.aiplatform.v1.PredictionService/DirectRawPredict
                                                           a serialized PredictRequest for method
                                                           /tensorflow.serving.PredictionService/Predict;
                                                           model = last segment of `endpoint`; needs the
                                                           bearer token like the REST Vertex routes

Faults (queued with /_fault, shared with HTTP): kind "status" aborts with `grpc_code` (or the
gRPC code of its HTTP `status`: 429 -> RESOURCE_EXHAUSTED, 503/502 -> UNAVAILABLE,
504 -> DEADLINE_EXCEEDED, 401 -> UNAUTHENTICATED, else INTERNAL) and `message`; "stall" waits
`seconds` (a stalled stream: the client's deadline ends it first); "malformed" answers bytes
that are not the answer message; "wrong_shape" crops each output by one row and column;
"huge" answers a message of `bytes` bytes (default 16 MiB); "drop" aborts with UNAVAILABLE.

Over TLS (--grpc-tls-cert / --grpc-tls-key of server.py) the same services are served with
grpc.ssl_server_credentials (ALPN h2).

Log records are the HTTP ones plus `grpc_status` (the code answered), `format` and `peer` (the
client's address:port, one per TCP connection); `status` is
200 for an OK call and the fault's HTTP status (or 400 for a refused request) otherwise.
"""

import hashlib
import hmac
import importlib
import sys
import threading
import time
from concurrent import futures

import grpc
import numpy as np

if __package__:
    from . import models, protocols, wire
else:
    import models
    import protocols
    import wire

MAX_MESSAGE_BYTES = 1 << 30
DEFAULT_HUGE_BYTES = 16 << 20
WORKER_THREADS = 64
TF_PREDICT = "/tensorflow.serving.PredictionService/Predict"

HTTP_TO_GRPC = {429: grpc.StatusCode.RESOURCE_EXHAUSTED, 502: grpc.StatusCode.UNAVAILABLE,
                503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.DEADLINE_EXCEEDED,
                401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED,
                404: grpc.StatusCode.NOT_FOUND}
CODE_BY_NUMBER = {c.value[0]: c for c in grpc.StatusCode}

OIP_TYPED_FIELD = {"INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
                   "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
                   "UINT32": "uint_contents", "UINT64": "uint64_contents", "FP32": "fp32_contents",
                   "FP64": "fp64_contents", "BOOL": "bool_contents"}


class Abort(Exception):
    def __init__(self, code, message, http_status=400):
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.http_status = http_status


_pb = {}


def pb(name):
    """A module generated from proto/ (tf_serving_pb2, oip_v2_pb2, ...)."""
    if name not in _pb:
        cache = wire.compile_protos()
        if cache not in sys.path:
            sys.path.insert(0, cache)
        _pb[name] = importlib.import_module(name)
    return _pb[name]


def _digest(array):
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def _split_batch(batch, what):
    if batch.ndim < 1:
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "%s: a batch tensor needs a first dimension" % what)
    return [batch[i] for i in range(batch.shape[0])]


def _as_hwc(array, what):
    if array.ndim != 3:
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                    "%s: instance tensor of shape %s must be rank 3 (H, W, C)" % (what, list(array.shape)))
    return array


# ---------------------------------------------------------------------------
# Requests -> instances [[(key, array (H, W, C))]]

def _varint_at(data, i):
    value = shift = 0
    while True:
        if i >= len(data):
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "truncated message")
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def _entry_key(entry):
    """Field 1 (the key) of a map entry, as text."""
    i = 0
    while i < len(entry):
        key, i = _varint_at(entry, i)
        if key & 7 == 2:
            n, i = _varint_at(entry, i)
            if key >> 3 == 1:
                return bytes(entry[i:i + n]).decode("utf-8", "replace")
            i += n
        elif key & 7 == 0:
            _, i = _varint_at(entry, i)
        else:
            i += 8 if key & 7 == 1 else 4
    return ""


def map_keys_in_wire_order(data, number):
    """Keys of map field `number` in the order they were sent (protobuf maps keep none;
    the models concatenate inputs in the order the client sent them)."""
    keys, i = [], 0
    while i < len(data):
        key, i = _varint_at(data, i)
        wire_type = key & 7
        if wire_type == 0:
            _, i = _varint_at(data, i)
        elif wire_type == 1:
            i += 8
        elif wire_type == 5:
            i += 4
        elif wire_type == 2:
            n, i = _varint_at(data, i)
            if key >> 3 == number:
                name = _entry_key(data[i:i + n])
                if name not in keys:
                    keys.append(name)
            i += n
        else:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "bad wire type %d" % wire_type)
    return keys


def parse_predict(request, config, body):
    """(format name, instances) of a tensorflow.serving.PredictRequest (body: its bytes)."""
    keys = map_keys_in_wire_order(body, 2)
    if not keys:
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "PredictRequest has no inputs")
    strings = [request.inputs[k].dtype == wire.DT_STRING for k in keys]
    if all(strings):
        first = request.inputs[keys[0]].string_val
        example = pb("tf_example_pb2").Example()
        if keys == ["input"] and first:
            try:
                example.ParseFromString(first[0])
            except Exception:
                example = None
            if example is not None and example.HasField("features"):
                return "GRPC_SERIALIZED_TF_EXAMPLES", parse_examples(request.inputs["input"],
                                                                     config.get("grpc_example_hw"))
        per_key = {}
        for k in keys:
            try:
                per_key[k] = [_as_hwc(wire.tensor_from_bytes(s), "key %r" % k) for s in request.inputs[k].string_val]
            except wire.WireError as e:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "key %r: %s" % (k, e))
        return "GRPC_SERIALIZED_TF_TENSORS", _zip_instances(keys, per_key)
    if any(strings):
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "inputs mix string and numeric tensors")
    per_key = {}
    for k in keys:
        try:
            batch = wire.tensor_from_bytes(request.inputs[k].SerializeToString())
        except wire.WireError as e:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "key %r: %s" % (k, e))
        per_key[k] = [_as_hwc(a, "key %r" % k) for a in _split_batch(batch, "key %r" % k)]
    return "GRPC_TF_TENSORS", _zip_instances(keys, per_key)


def _zip_instances(keys, per_key):
    counts = {k: len(v) for k, v in per_key.items()}
    if len(set(counts.values())) != 1:
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "inputs have different batch sizes %s" % counts)
    n = counts[keys[0]]
    if n == 0:
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "no instances")
    return [[(k, per_key[k][i]) for k in keys] for i in range(n)]


def _field_bytes(data, number):
    """The bytes of the last length-delimited field `number` of a message."""
    i, found = 0, b""
    while i < len(data):
        key, i = _varint_at(data, i)
        if key & 7 == 2:
            n, i = _varint_at(data, i)
            if key >> 3 == number:
                found = data[i:i + n]
            i += n
        elif key & 7 == 0:
            _, i = _varint_at(data, i)
        else:
            i += 8 if key & 7 == 1 else 4
    return found


def parse_examples(tensor, hw=None):
    """Each string a tf.Example, one float_list feature per key holding an (H, W, 1) band:
    hw = [H, W] (config grpc_example_hw), else a square band."""
    instances = []
    for i, data in enumerate(tensor.string_val):
        example = pb("tf_example_pb2").Example()
        try:
            example.ParseFromString(data)
        except Exception as e:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "instance %d: not a tf.Example: %s" % (i, e))
        tensors = []
        order = map_keys_in_wire_order(_field_bytes(data, 1), 1)
        for key in order:
            feature = example.features.feature[key]
            if feature.WhichOneof("kind") != "float_list":
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                            "instance %d feature %r: expected a float_list" % (i, key))
            values = np.array(feature.float_list.value, dtype=np.float32)
            h, w = hw if hw else (int(round(values.size ** 0.5)),) * 2
            if h * w == 0 or values.size % (h * w):
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                            "instance %d feature %r: %d values are not bands of %dx%d" % (i, key, values.size, h, w))
            tensors.append((key, values.reshape(h, w, values.size // (h * w))))
        if not tensors:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "instance %d: an Example without features" % i)
        instances.append(tensors)
    if not instances:
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "no instances")
    return instances


def parse_model_infer(request):
    """Instances of an inference.ModelInferRequest (raw_input_contents or typed contents)."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                    "%d raw_input_contents for %d inputs" % (len(raw), len(request.inputs)))
    keys, per_key = [], {}
    for i, t in enumerate(request.inputs):
        bf16 = t.datatype == "BF16"  # travels raw only; decoded to float32 as numpy has no bfloat16
        if t.datatype not in protocols.OIP_NUMPY and not bf16:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "input %r: datatype %r" % (t.name, t.datatype))
        dtype = np.dtype("<u2" if bf16 else protocols.OIP_NUMPY[t.datatype])
        shape = tuple(int(s) for s in t.shape)
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if raw:
            if t.HasField("contents"):
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                            "contents field must not be specified when using raw_input_contents")
            if len(raw[i]) != count * dtype.itemsize:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                            "input %r: %d raw bytes, shape %s of %s needs %d"
                            % (t.name, len(raw[i]), list(shape), t.datatype, count * dtype.itemsize))
            batch = np.frombuffer(raw[i], dtype=dtype).reshape(shape)
            if bf16:
                batch = protocols.bf16_to_float32(batch)
        else:
            values = getattr(t.contents, OIP_TYPED_FIELD.get(t.datatype, "fp32_contents"))
            if len(values) != count:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "input %r: %d values for shape %s"
                            % (t.name, len(values), list(shape)))
            batch = np.array(values).astype(dtype).reshape(shape)
        keys.append(t.name)
        per_key[t.name] = [_as_hwc(a, "input %r" % t.name) for a in _split_batch(batch, "input %r" % t.name)]
    if not keys:
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "ModelInferRequest has no inputs")
    return _zip_instances(keys, per_key)


# ---------------------------------------------------------------------------
# Answers

def _shaped_outputs(results, config, shape_output, wrong_shape):
    """{name: [array per instance]} after the answer options (crop, dtype, wrong shape)."""
    plain = dict(config, batch_dim=False)
    names = list(results[0][1].keys())
    out = {name: [] for name in names}
    for shape, outputs in results:
        for name in names:
            out[name].append(shape_output(outputs[name], shape, plain, wrong_shape))
    return out


def encode_predict_response(fmt, shaped, config):
    tfs = pb("tf_serving_pb2")
    response = tfs.PredictResponse()
    encoding = config.get("tensor_encoding") or "content"
    for name, arrays in shaped.items():
        if fmt == "GRPC_SERIALIZED_TF_TENSORS":
            t = response.outputs[name]
            t.dtype = wire.DT_STRING
            t.tensor_shape.dim.add().size = len(arrays)
            for a in arrays:
                t.string_val.append(wire.tensor_to_bytes(a, encoding))
        else:
            response.outputs[name].ParseFromString(wire.tensor_to_bytes(np.stack(arrays), encoding))
    return response.SerializeToString()


def encode_model_infer_response(model, shaped, typed):
    oip = pb("oip_v2_pb2")
    response = oip.ModelInferResponse(model_name=model)
    for name, arrays in shaped.items():
        batch = np.stack(arrays)
        datatype = protocols.OIP_OF_NUMPY.get(batch.dtype.name)
        if datatype is None:
            raise Abort(grpc.StatusCode.INTERNAL, "no OIP datatype for %s" % batch.dtype.name)
        t = response.outputs.add(name=name, datatype=datatype, shape=list(batch.shape))
        if typed:
            getattr(t.contents, OIP_TYPED_FIELD[datatype]).extend(batch.ravel().tolist())
        else:
            response.raw_output_contents.append(np.ascontiguousarray(batch).astype(batch.dtype.newbyteorder("<")).tobytes())
    return response.SerializeToString()


def metadata_tensors(items):
    return [(t["name"], t["datatype"], t["shape"]) for t in items]


# ---------------------------------------------------------------------------
# The servicer

class GrpcStandIn:
    def __init__(self, state, shape_output, redacted_authorization):
        self.state = state
        self.shape_output = shape_output
        self.redacted = redacted_authorization

    # -- plumbing ------------------------------------------------------------

    def _record(self, path, api, context, body):
        metadata = {}
        authorization = None
        for key, value in context.invocation_metadata():
            if key == "authorization":
                authorization = value
                value = "[redacted]"
            metadata[key] = value if isinstance(value, str) else "[binary]"
        return {
            "seq": self.state.next_seq(), "method": "POST", "path": path, "api": api,
            "project": None, "location": None, "model": None, "version": None, "label": None,
            "status": None, "grpc_status": None, "body_bytes": len(body), "n_instances": 0, "keys": [],
            "shapes": {}, "dtypes": {}, "instance_shapes": [], "instance_digests": [],
            "authorization": self.redacted(authorization), "auth_ok": True, "headers": metadata,
            "t_start": time.time(), "t_end": None, "fault": None, "error": None, "format": None,
            "signature_name": None, "grpc": True, "_authorization": authorization,
            # the client's address and port ("ipv4:127.0.0.1:PORT"): one per TCP connection
            "peer": context.peer(),
            # seconds left of the call's deadline (grpc-timeout) on arrival, None without one
            "deadline_s": context.time_remaining(),
            # the epoch the call arrived in (server.py): a call still in flight from an
            # earlier test is never logged and never takes this test's faults
            "_epoch": self.state.epoch,
        }

    def _publish(self, record):
        if record["t_end"] is None:
            record["t_end"] = time.time()
            record.pop("_authorization", None)
            self.state.add_record(record, record.pop("_epoch", None))

    def _check_bearer(self, record):
        token = self.state.token
        authorization = record.get("_authorization")
        if token is None:
            return
        expected = ("Bearer " + token).encode("utf-8")
        ok = hmac.compare_digest((authorization or "").encode("utf-8"), expected)
        source = "static" if ok else self.state.oauth.token_source(authorization)
        record["auth_source"] = source
        record["auth_ok"] = source is not None
        if not record["auth_ok"]:
            raise Abort(grpc.StatusCode.UNAUTHENTICATED, "Request had invalid authentication credentials.", 401)

    def _summarize(self, record, instances):
        record["n_instances"] = len(instances)
        record["keys"] = [k for k, _ in instances[0]]
        for k, a in instances[0]:
            record["shapes"][k] = list(a.shape)
            record["dtypes"][k] = a.dtype.name
        record["instance_shapes"] = [list(t[0][1].shape) for t in instances]
        record["instance_digests"] = [_digest(t[0][1]) for t in instances]

    def _run(self, model, instances):
        state = self.state
        if state.slots is not None:
            state.slots.acquire()
        try:
            if state.latency > 0:
                time.sleep(state.latency)
            results = []
            for index, tensors in enumerate(instances):
                try:
                    results.append((tensors[0][1].shape, protocols.run(models, model, tensors)))
                except models.ModelError as e:
                    raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "model %s: instance %d: %s" % (model, index, e))
            return results
        finally:
            if state.slots is not None:
                state.slots.release()

    def _fault(self, record, context):
        """Apply a queued fault that ends the call; returns (fault or None, wrong_shape)."""
        fault = self.state.take_fault(record.get("_epoch"))
        if not fault:
            return None, False
        kind = record["fault"] = fault["kind"]
        if kind == "status":
            http = fault.get("status", 503)
            code = CODE_BY_NUMBER.get(fault.get("grpc_code"), HTTP_TO_GRPC.get(http, grpc.StatusCode.INTERNAL))
            raise Abort(code, fault.get("message") or "stand-in: injected %s" % code.name, http)
        if kind == "drop":
            raise Abort(grpc.StatusCode.UNAVAILABLE, "stand-in: connection dropped", 503)
        if kind == "stall":
            done = threading.Event()
            context.add_callback(done.set)
            done.wait(fault["seconds"])
            if not context.is_active():
                raise Abort(grpc.StatusCode.DEADLINE_EXCEEDED, "stand-in: stalled past the deadline", 504)
        return fault, kind == "wrong_shape"

    def _call(self, path, api, body, context, handle):
        record = self._record(path, api, context, body)
        try:
            answer = handle(record, body, context)
            record["status"] = 200
            record["grpc_status"] = 0
            self._publish(record)
            return answer
        except Abort as e:
            record["status"] = e.http_status
            record["grpc_status"] = e.code.value[0]
            record["error"] = e.message
            self._publish(record)
            context.abort(e.code, e.message)
        except Exception as e:  # a bug in the stand-in: say so, keep serving
            import traceback
            self.state.write_log_line("internal error: %s" % traceback.format_exc())
            record["status"] = 500
            record["grpc_status"] = grpc.StatusCode.INTERNAL.value[0]
            record["error"] = "stand-in internal error: %s" % e
            self._publish(record)
            context.abort(grpc.StatusCode.INTERNAL, "stand-in internal error: %s" % e)

    def _special_answer(self, fault):
        if fault and fault["kind"] == "malformed":
            return b"\xff\xff\xff\xff stand-in: not a protobuf message"
        if fault and fault["kind"] == "huge":
            size = int(fault.get("bytes", DEFAULT_HUGE_BYTES))
            return b"\x0a" + _varint(size) + b"\0" * size
        return None

    # -- TF Serving -----------------------------------------------------------

    def _predict(self, record, body, context, api="tfserving-grpc"):
        tfs = pb("tf_serving_pb2")
        request = tfs.PredictRequest()
        try:
            request.ParseFromString(body)
        except Exception as e:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "not a PredictRequest: %s" % e)
        spec = request.model_spec
        if api == "tfserving-grpc":
            record["model"] = spec.name
        if spec.WhichOneof("version_choice") == "version":
            record["version"] = str(spec.version.value)
        elif spec.WhichOneof("version_choice") == "version_label":
            record["label"] = spec.version_label
        record["signature_name"] = spec.signature_name or None
        model = record["model"]
        if model not in models.MODELS and model != "echo":
            raise Abort(grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(%s)" % model, 404)
        config = self.state.config_snapshot()
        meta = config.get("metadata")
        record["layout"] = None
        record["binary"] = False
        wanted = (meta or {}).get("signature_name", protocols.DEFAULT_SIGNATURE)
        if meta is not None and (spec.signature_name or protocols.DEFAULT_SIGNATURE) != wanted:
            raise Abort(grpc.StatusCode.FAILED_PRECONDITION,
                        'Serving signature key "%s" not found.' % spec.signature_name)
        fmt, instances = parse_predict(request, config, body)
        record["format"] = fmt
        self._summarize(record, instances)
        fault, wrong_shape = self._fault(record, context)
        special = self._special_answer(fault)
        if special is not None:
            return special
        results = self._run(model, instances)
        shaped = _shaped_outputs(results, config, self.shape_output, wrong_shape)
        return encode_predict_response(fmt, shaped, config)

    def predict(self, body, context):
        return self._call(TF_PREDICT, "tfserving-grpc", body, context, self._predict)

    def _tf_metadata(self, record, body, context):
        tfs = pb("tf_serving_pb2")
        request = tfs.GetModelMetadataRequest()
        request.ParseFromString(body)
        record["model"] = request.model_spec.name
        if list(request.metadata_field) != ["signature_def"]:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "metadata_field must be [\"signature_def\"]")
        meta = self.state.config_snapshot().get("metadata")
        if record["model"] not in models.MODELS and record["model"] != "echo":
            raise Abort(grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(%s)" % record["model"], 404)
        if meta is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, "stand-in: no metadata configured", 404)
        types_pb2 = pb("types_pb2")
        sigmap = tfs.SignatureDefMap()
        sig = sigmap.signature_def[meta.get("signature_name", protocols.DEFAULT_SIGNATURE)]
        for group, items in (("inputs", meta.get("inputs", [])), ("outputs", meta.get("outputs", []))):
            for name, datatype, shape in metadata_tensors(items):
                info = getattr(sig, group)[name]
                info.name = "%s:0" % name
                info.dtype = types_pb2.DataType.Value(protocols.TF_NAME_OF_OIP[datatype])
                for s in shape:
                    info.tensor_shape.dim.add().size = int(s)
        sigmap.signature_def["__saved_model_init_op"].method_name = ""
        response = tfs.GetModelMetadataResponse()
        response.model_spec.name = record["model"]
        any_value = response.metadata["signature_def"]
        any_value.type_url = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
        any_value.value = sigmap.SerializeToString()
        return response.SerializeToString()

    def tf_metadata(self, body, context):
        return self._call("/tensorflow.serving.PredictionService/GetModelMetadata", "tfserving-grpc-metadata",
                          body, context, self._tf_metadata)

    # -- OIP v2 -----------------------------------------------------------------

    def _model_infer(self, record, body, context):
        oip = pb("oip_v2_pb2")
        request = oip.ModelInferRequest()
        try:
            request.ParseFromString(body)
        except Exception as e:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "not a ModelInferRequest: %s" % e)
        model = record["model"] = request.model_name
        record["version"] = request.model_version or None
        record["format"] = "GRPC_OIP_V2"
        record["binary"] = bool(request.raw_input_contents)
        record["layout"] = None
        if model not in models.MODELS and model != "echo":
            raise Abort(grpc.StatusCode.NOT_FOUND, "Model %s with version %s not found" % (model, request.model_version), 404)
        instances = parse_model_infer(request)
        self._summarize(record, instances)
        fault, wrong_shape = self._fault(record, context)
        special = self._special_answer(fault)
        if special is not None:
            return special
        config = self.state.config_snapshot()
        results = self._run(model, instances)
        shaped = _shaped_outputs(results, config, self.shape_output, wrong_shape)
        typed = bool(config.get("grpc_typed_answer")) or not request.raw_input_contents
        return encode_model_infer_response(model, shaped, typed)

    def model_infer(self, body, context):
        return self._call("/inference.GRPCInferenceService/ModelInfer", "kserve-grpc", body, context,
                          self._model_infer)

    def _oip_metadata(self, record, body, context):
        oip = pb("oip_v2_pb2")
        request = oip.ModelMetadataRequest()
        request.ParseFromString(body)
        record["model"] = request.name
        if request.name not in models.MODELS and request.name != "echo":
            raise Abort(grpc.StatusCode.NOT_FOUND, "Model %s not found" % request.name, 404)
        meta = self.state.config_snapshot().get("metadata")
        if meta is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, "stand-in: no metadata configured", 404)
        response = oip.ModelMetadataResponse(name=request.name, versions=["1"], platform="eemodel-stand-in")
        for group, items in (("inputs", meta.get("inputs", [])), ("outputs", meta.get("outputs", []))):
            for name, datatype, shape in metadata_tensors(items):
                getattr(response, group).add(name=name, datatype=datatype, shape=[int(s) for s in shape])
        return response.SerializeToString()

    def oip_metadata(self, body, context):
        return self._call("/inference.GRPCInferenceService/ModelMetadata", "kserve-grpc-metadata", body, context,
                          self._oip_metadata)

    # -- Vertex DirectRawPredict --------------------------------------------------

    def _direct_raw(self, record, body, context):
        vx = pb("vertex_direct_pb2")
        request = vx.DirectRawPredictRequest()
        try:
            request.ParseFromString(body)
        except Exception as e:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "not a DirectRawPredictRequest: %s" % e)
        parts = request.endpoint.split("/")
        if len(parts) != 6 or parts[0] != "projects" or parts[2] != "locations" or parts[4] != "endpoints":
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "endpoint %r is not projects/P/locations/L/endpoints/E"
                        % request.endpoint)
        record["project"], record["location"], record["model"] = parts[1], parts[3], parts[5]
        record["method_name"] = request.method_name
        self._check_bearer(record)
        if request.method_name != TF_PREDICT:
            raise Abort(grpc.StatusCode.UNIMPLEMENTED, "stand-in: method_name %r is not %s"
                        % (request.method_name, TF_PREDICT))
        inner = self._predict(record, request.input, context, api="vertex-grpc")
        return vx.DirectRawPredictResponse(output=inner).SerializeToString()

    def direct_raw(self, body, context):
        return self._call("/google.cloud.aiplatform.v1.PredictionService/DirectRawPredict", "vertex-grpc", body,
                          context, self._direct_raw)


def _varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _identity(data):
    return data


def start(state, shape_output, redacted_authorization, host="127.0.0.1", port=0, tls=None):
    """Start the gRPC server on host:port (0 = ephemeral), over TLS when tls is (certificate
    chain file, private key file), both PEM; returns (server, port)."""
    for name in ("tf_serving_pb2", "oip_v2_pb2", "vertex_direct_pb2", "tf_example_pb2"):
        pb(name)
    servicer = GrpcStandIn(state, shape_output, redacted_authorization)

    def unary(fn):
        return grpc.unary_unary_rpc_method_handler(fn, request_deserializer=_identity,
                                                   response_serializer=_identity)

    handlers = [
        grpc.method_handlers_generic_handler("tensorflow.serving.PredictionService", {
            "Predict": unary(servicer.predict), "GetModelMetadata": unary(servicer.tf_metadata)}),
        grpc.method_handlers_generic_handler("inference.GRPCInferenceService", {
            "ModelInfer": unary(servicer.model_infer), "ModelMetadata": unary(servicer.oip_metadata)}),
        grpc.method_handlers_generic_handler("google.cloud.aiplatform.v1.PredictionService", {
            "DirectRawPredict": unary(servicer.direct_raw)}),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=WORKER_THREADS), handlers=handlers,
                         options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                  ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                                  ("grpc.so_reuseport", 0)])
    if tls:
        with open(tls[0], "rb") as f:
            chain = f.read()
        with open(tls[1], "rb") as f:
            key = f.read()
        bound = server.add_secure_port("%s:%d" % (host, port), grpc.ssl_server_credentials([(key, chain)]))
    else:
        bound = server.add_insecure_port("%s:%d" % (host, port))
    if not bound:
        raise RuntimeError("cannot listen for gRPC on %s:%d" % (host, port))
    server.start()
    return server, bound
