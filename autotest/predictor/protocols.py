"""Every predict protocol and payload format the stand-in speaks, independently of the driver.

Routes (POST):
  aiplatform  /v1/projects/P/models/M[/versions/V]:predict
  vertex      /v1/projects/P/locations/L/endpoints/M:predict      ({"instances"} only)
  vertex-raw  /v1/projects/P/locations/L/endpoints/M:rawPredict   (body forwarded as is)
  tfserving   /v1/models/M[/versions/V|/labels/L]:predict
  kserve      /v2/models/M[/versions/V]/infer
Routes (GET): /v1/models/M[...]/metadata (TF Serving), /v2/models/M[/versions/V] (KServe
model metadata), /v2 (KServe server metadata, lists binary_tensor_data).

Payload formats are recognised from the body, as a server would: TF Serving envelope
({"instances"} row or {"inputs"} columnar, optional "signature_name") whose values are base64
strings (SERIALIZED_TF_TENSORS), nested lists under keys (RAW_JSON) or keyless (C, H, W) lists
(ND_ARRAYS); OIP v2 {"inputs": [{name, shape, datatype, data}]} in JSON or with Triton's binary
tensor extension (Inference-Header-Content-Length header).  Answers use the request's own
format and layout; config keys (CONFIG_DEFAULTS) select other legal answer shapes.
"""

import hashlib
import json
import os
import re
import secrets

import numpy as np

if __package__:
    from . import wire
else:
    import wire


class ProtocolError(ValueError):
    """A request the protocol does not allow (answered 400 {"error": message})."""


ID = r"[^/:]+"
POST_ROUTES = (
    ("aiplatform", re.compile(r"^/v1/projects/(?P<project>%s)/models/(?P<model>%s)(?:/versions/(?P<version>%s))?:predict$" % (ID, ID, ID))),
    ("vertex", re.compile(r"^/v1/projects/(?P<project>%s)/locations/(?P<location>%s)/endpoints/(?P<model>%s):predict$" % (ID, ID, ID))),
    ("vertex-raw", re.compile(r"^/v1/projects/(?P<project>%s)/locations/(?P<location>%s)/endpoints/(?P<model>%s):rawPredict$" % (ID, ID, ID))),
    ("tfserving", re.compile(r"^/v1/models/(?P<model>%s)(?:/versions/(?P<version>%s)|/labels/(?P<label>%s))?:predict$" % (ID, ID, ID))),
    ("kserve", re.compile(r"^/v2/models/(?P<model>%s)(?:/versions/(?P<version>%s))?/infer$" % (ID, ID))),
)
GET_ROUTES = (
    ("tfserving-metadata", re.compile(r"^/v1/models/(?P<model>%s)(?:/versions/(?P<version>%s)|/labels/(?P<label>%s))?/metadata$" % (ID, ID, ID))),
    ("kserve-metadata", re.compile(r"^/v2/models/(?P<model>%s)(?:/versions/(?P<version>%s))?$" % (ID, ID))),
    ("kserve-server", re.compile(r"^/v2/?$")),
    # Google's resources a predict URL names (models.get / versions.get, endpoints.get)
    ("aiplatform-resource", re.compile(r"^/v1/projects/(?P<project>%s)/models/(?P<model>%s)(?:/versions/(?P<version>%s))?$" % (ID, ID, ID))),
    ("vertex-resource", re.compile(r"^/v1/projects/(?P<project>%s)/locations/(?P<location>%s)/endpoints/(?P<model>%s)$" % (ID, ID, ID))),
)

# Answer options (merged into the server's config; reset with it).
CONFIG_DEFAULTS = {
    "answer_layout": None,        # None (as requested), "row" (list per instance), "columnar" (object of lists)
    "answer_key": None,           # None (predictions for row, outputs for columnar), "predictions", "outputs"
    "numbers_as_strings": False,  # JSON numbers written as strings ("12.5"), as Earth Engine's RAW_JSON
    "metadata": None,             # {"signature_name", "inputs": [{name, datatype, shape}], "outputs": [...]}
    "binary_extension": True,     # KServe: advertise and honour Triton's binary tensor extension;
                                  # "unlisted": honour it without listing it (KServe's Python server)
    "server_version": None,       # KServe: the version GET /v2 says (null: the process's own)
    "answer_mangle": None,        # a malformed JSON answer (MANGLES), for error-path tests
    "grpc_typed_answer": False,   # gRPC ModelInfer: typed contents instead of raw_output_contents
    "grpc_example_hw": None,      # gRPC tf.Example features: [H, W] of each band (null: square)
    "google_resource": None,      # GET of a Google model/version/endpoint resource: None (no such
                                  # route, a plain 404), "ready", "creating" (AI Platform: state
                                  # CREATING; Vertex: nothing deployed), "forbidden" (403)
}
# Malformed answers (JSON formats): ragged (a row one entry short), string_value (a number
# replaced by text), missing_output (the first output renamed), wrong_count (one instance
# missing), not_a_list (the answer list replaced by a number), null_value (a number -> null).
MANGLES = (None, "ragged", "string_value", "missing_output", "wrong_count", "not_a_list", "null_value")
ANSWER_LAYOUTS = (None, "row", "columnar")
GOOGLE_RESOURCE_MODES = (None, "ready", "creating", "forbidden")
ANSWER_KEYS = (None, "predictions", "outputs")

OIP_NUMPY = {"UINT8": "u1", "INT8": "i1", "UINT16": "<u2", "INT16": "<i2", "UINT32": "<u4", "INT32": "<i4",
             "UINT64": "<u8", "INT64": "<i8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8", "BOOL": "?"}
OIP_OF_NUMPY = {np.dtype(v).name: k for k, v in OIP_NUMPY.items()}
TF_NAME_OF_OIP = {"UINT8": "DT_UINT8", "INT8": "DT_INT8", "UINT16": "DT_UINT16", "INT16": "DT_INT16",
                  "UINT32": "DT_UINT32", "INT32": "DT_INT32", "UINT64": "DT_UINT64", "INT64": "DT_INT64",
                  "FP16": "DT_HALF", "BF16": "DT_BFLOAT16", "FP32": "DT_FLOAT", "FP64": "DT_DOUBLE",
                  "BYTES": "DT_STRING", "BOOL": "DT_BOOL"}
BINARY_HEADER = "Inference-Header-Content-Length"
DEFAULT_SIGNATURE = "serving_default"


def validate_config_key(key, value):
    """Raise ProtocolError for a bad value of one of CONFIG_DEFAULTS' keys."""
    if key == "answer_layout" and value not in ANSWER_LAYOUTS:
        raise ProtocolError("answer_layout: %r is not null, \"row\" or \"columnar\"" % (value,))
    if key == "answer_key" and value not in ANSWER_KEYS:
        raise ProtocolError("answer_key: %r is not null, \"predictions\" or \"outputs\"" % (value,))
    if key == "answer_mangle" and value not in MANGLES:
        raise ProtocolError("answer_mangle: %r is not one of %s" % (value, MANGLES))
    if key in ("numbers_as_strings", "grpc_typed_answer") and not isinstance(value, bool):
        raise ProtocolError("%s: %r is not true or false" % (key, value))
    if key == "binary_extension" and not isinstance(value, bool) and value != "unlisted":
        raise ProtocolError("%s: %r is not true, false or \"unlisted\"" % (key, value))
    if key == "google_resource" and value not in GOOGLE_RESOURCE_MODES:
        raise ProtocolError("google_resource: %r is not one of %s" % (value, GOOGLE_RESOURCE_MODES))
    if key == "server_version" and value is not None and not isinstance(value, str):
        raise ProtocolError("server_version: %r is not null or a string" % (value,))
    if key == "grpc_example_hw" and value is not None and not (
            isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)):
        raise ProtocolError("grpc_example_hw: %r is not null or [H, W]" % (value,))
    if key == "metadata" and value is not None:
        if not isinstance(value, dict) or not isinstance(value.get("inputs", []), list) \
                or not isinstance(value.get("outputs", []), list):
            raise ProtocolError("metadata: expected null or {\"inputs\": [...], \"outputs\": [...]}")
        for t in value.get("inputs", []) + value.get("outputs", []):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str) \
                    or t.get("datatype") not in TF_NAME_OF_OIP or not isinstance(t.get("shape"), list):
                raise ProtocolError("metadata: every tensor needs name, datatype (OIP name) and shape")


def match(routes, path):
    for api, pattern in routes:
        m = pattern.match(path)
        if m:
            return api, m.groupdict()
    return None


# ---------------------------------------------------------------------------
# bfloat16 (numpy has none): float32 <-> 16-bit patterns


def bf16_bits(array):
    """Round float32 values to bfloat16 (nearest even); their 16-bit patterns (uint16)."""
    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = np.isnan(np.asarray(array, dtype=np.float32))
    rounded = np.where(nan, 0x7FC0, rounded)
    return rounded.astype(np.uint16)


def bf16_to_float32(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


# ---------------------------------------------------------------------------
# Requests


class Request:
    def __init__(self, api):
        self.api = api
        self.format = None        # "tf", "raw", "nd", "oip"
        self.layout = "row"       # "row" or "columnar"
        self.signature = None
        self.binary = False       # OIP request body with binary data
        self.binary_output = False
        self.instances = []       # [[(key or None, array (H, W, C))]]
        self.tabular = False      # a tabular model: any rank (scalars, vectors), ND_ARRAYS flat


def _json(body):
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError("request body is not JSON: %s" % e)


def _declared(config, name):
    meta = config.get("metadata") or {}
    for t in meta.get("inputs", []):
        if t["name"] == name:
            return t
    return None


def _numbers_array(value, what, config, key):
    """A nested JSON list as a numpy array typed like a TF Serving signature would type it."""
    declared = _declared(config, key) if key else ((config.get("metadata") or {}).get("inputs") or [None])[0]
    try:
        if declared is not None and declared["datatype"] in OIP_NUMPY:
            return np.array(value, dtype=OIP_NUMPY[declared["datatype"]])
        array = np.array(value)
        if array.dtype.kind == "f":          # JSON has no float width: a TF model's float32
            return array.astype(np.float32)
        if array.dtype.kind in "iub":
            return array
        raise ValueError("not a rectangular list of numbers (numpy made %s)" % array.dtype)
    except (ValueError, TypeError, OverflowError) as e:
        raise ProtocolError("%s: %s" % (what, e))


def _value_kind(value, tabular=False):
    if isinstance(value, str) and tabular:
        # a tabular RAW_JSON instance may hold plain strings: base64 TensorProto only if it parses
        try:
            wire.decode_tensor_b64(value)
            return "tf"
        except wire.WireError:
            return "raw"
    if isinstance(value, str):
        return "tf"
    if isinstance(value, list):
        return "raw"
    if tabular and isinstance(value, (int, float)) and not isinstance(value, bool):
        return "raw"   # a scalar property sent as a bare JSON number
    return None


def _decode_value(kind, value, what, config, key):
    if kind == "tf":
        try:
            return wire.decode_tensor_b64(value)
        except wire.WireError as e:
            raise ProtocolError("%s: %s" % (what, e))
    if isinstance(value, str):
        return np.array(value, dtype=object)   # a plain string (tabular RAW_JSON)
    return _numbers_array(value, what, config, key)


def _check_signature(req, config):
    meta = config.get("metadata")
    if req.signature is not None and meta is not None:
        wanted = meta.get("signature_name", DEFAULT_SIGNATURE)
        if req.signature != wanted:
            raise ProtocolError('Serving signature name: "%s" not found in signature def' % req.signature)


def parse_tf_envelope(req, doc, config):
    """{"instances": ...} or {"inputs": ...}, TF Serving's row and columnar forms."""
    if not isinstance(doc, dict):
        raise ProtocolError("request body must be a JSON object")
    if ("instances" in doc) == ("inputs" in doc):
        raise ProtocolError('request body must have exactly one of "instances" (row) or "inputs" (columnar)')
    if req.api in ("aiplatform", "vertex") and "inputs" in doc:
        raise ProtocolError('%s :predict takes only "instances"' % req.api)
    if req.api == "vertex" and "signature_name" in doc:
        raise ProtocolError('Invalid JSON payload received. Unknown name "signature_name"')
    req.signature = doc.get("signature_name")
    _check_signature(req, config)
    if "instances" in doc:
        instances = doc["instances"]
        if not isinstance(instances, list) or not instances:
            raise ProtocolError('"instances" must be a non-empty list')
        if all(isinstance(i, list) for i in instances):
            req.format = "nd"
            for n, value in enumerate(instances):
                req.instances.append([(None, _nd_instance(value, "instances[%d]" % n, config, req.tabular))])
            return
        first_keys = None
        for n, instance in enumerate(instances):
            if not isinstance(instance, dict) or not instance:
                raise ProtocolError("instance %d is not a non-empty object {key: value}" % n)
            if first_keys is None:
                first_keys = list(instance)
            elif set(instance) != set(first_keys):
                raise ProtocolError("instance %d has keys %s; instance 0 has %s" % (n, list(instance), first_keys))
            tensors = []
            for key, value in instance.items():
                kind = _value_kind(value, req.tabular)
                if kind is None:
                    raise ProtocolError("instance %d key %r: expected a base64 string or a nested list, got %s"
                                        % (n, key, type(value).__name__))
                if req.format not in (None, kind):
                    raise ProtocolError("instance %d key %r: mixes base64 strings and number lists" % (n, key))
                req.format = kind
                tensors.append((key, _decode_value(kind, value, "instance %d key %r" % (n, key), config, key)))
            req.instances.append(tensors)
        return
    req.layout = "columnar"
    inputs = doc["inputs"]
    if isinstance(inputs, list):                       # one keyless tensor (N, C, H, W)
        req.format = "nd"
        if not inputs:
            raise ProtocolError('"inputs" is an empty list')
        for n, value in enumerate(inputs):
            req.instances.append([(None, _nd_instance(value, "inputs[%d]" % n, config, req.tabular))])
        return
    if not isinstance(inputs, dict) or not inputs:
        raise ProtocolError('"inputs" must be a non-empty object {key: [per instance]} or a list')
    count = None
    columns = []
    for key, column in inputs.items():
        if not isinstance(column, list) or not column:
            raise ProtocolError("inputs.%s: expected a non-empty list, one entry per instance" % key)
        if count not in (None, len(column)):
            raise ProtocolError("inputs.%s has %d entries; the other inputs have %d" % (key, len(column), count))
        count = len(column)
        kind = _value_kind(column[0], req.tabular)
        if kind is None:
            raise ProtocolError("inputs.%s[0]: expected a base64 string or a nested list" % key)
        if req.format not in (None, kind):
            raise ProtocolError("inputs.%s: mixes base64 strings and number lists" % key)
        req.format = kind
        columns.append((key, [_decode_value(kind, v, "inputs.%s[%d]" % (key, n), config, key)
                              for n, v in enumerate(column)]))
    for n in range(count):
        req.instances.append([(key, arrays[n]) for key, arrays in columns])


def _nd_instance(value, what, config, tabular=False):
    array = _numbers_array(value, what, config, None)
    if tabular:
        if array.ndim != 1:
            raise ProtocolError("%s: tabular ND_ARRAYS instance of shape %s; expected a flat list"
                                % (what, list(array.shape)))
        return array
    if array.ndim != 3:
        raise ProtocolError("%s: ND_ARRAYS instance of shape %s; expected (C, H, W)" % (what, list(array.shape)))
    return np.ascontiguousarray(np.moveaxis(array, 0, -1))


def _oip_array(data, dtype_name, shape, what):
    if dtype_name == "BF16":
        return bf16_to_float32(np.asarray(data, dtype=np.uint16)).reshape(shape)
    if dtype_name not in OIP_NUMPY:
        raise ProtocolError("%s: datatype %r is not supported" % (what, dtype_name))
    array = np.asarray(data, dtype=OIP_NUMPY[dtype_name]).reshape(-1)
    if array.size != int(np.prod(shape)):
        raise ProtocolError("%s: %d values for shape %s" % (what, array.size, shape))
    return array.reshape(shape)


def parse_oip(req, body, headers, config):
    req.format = "oip"
    req.layout = "columnar"
    header_length = headers.get(BINARY_HEADER)
    if header_length is not None:
        if not config.get("binary_extension", True):
            raise ProtocolError("this server does not support the binary tensor data extension")
        try:
            length = int(header_length)
        except ValueError:
            raise ProtocolError("%s: %r is not a byte count" % (BINARY_HEADER, header_length))
        if not 0 < length <= len(body):
            raise ProtocolError("%s: %d does not fit a body of %d bytes" % (BINARY_HEADER, length, len(body)))
        req.binary = True
        doc = _json(body[:length])
        data = body[length:]
    else:
        doc = _json(body)
        data = b""
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list) or not doc["inputs"]:
        raise ProtocolError('request body must be an object with a non-empty "inputs" list')
    parameters = doc.get("parameters") or {}
    req.binary_output = bool(parameters.get("binary_data_output")) or any(
        bool((o.get("parameters") or {}).get("binary_data")) for o in doc.get("outputs") or [])
    offset = 0
    columns = []
    count = None
    for index, spec in enumerate(doc["inputs"]):
        what = "inputs[%d]" % index
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ProtocolError("%s: expected an object with a name" % what)
        shape = spec.get("shape")
        if not isinstance(shape, list) or len(shape) < 1 or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise ProtocolError("%s.shape: expected a list of sizes" % what)
        dtype_name = spec.get("datatype")
        declared = _declared(config, spec["name"])
        if config.get("metadata") is not None and declared is None:
            raise ProtocolError("%s: %r is not an input of the model" % (what, spec["name"]))
        if declared is not None and declared["datatype"] != dtype_name:
            raise ProtocolError("%s: datatype %s, the model input %r is %s" % (what, dtype_name, spec["name"], declared["datatype"]))
        size = (spec.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not req.binary:
                raise ProtocolError("%s: binary_data_size without %s" % (what, BINARY_HEADER))
            if offset + size > len(data):
                raise ProtocolError("%s: binary data past the end of the body" % what)
            chunk = data[offset:offset + size]
            offset += size
            raw = np.frombuffer(chunk, dtype="<u2" if dtype_name == "BF16" else OIP_NUMPY.get(dtype_name, "u1"))
            array = _oip_array(raw, dtype_name, shape, what)
        else:
            if "data" not in spec:
                raise ProtocolError("%s: no data" % what)
            array = _oip_array(spec["data"], dtype_name, shape, what)
        if count not in (None, shape[0]):
            raise ProtocolError("%s: batch size %d, the other inputs have %d" % (what, shape[0], count))
        count = shape[0]
        columns.append((spec["name"], array))
    if req.binary and offset != len(data):
        raise ProtocolError("%d bytes of binary data left over" % (len(data) - offset))
    for n in range(count):
        req.instances.append([(key, array[n]) for key, array in columns])


def parse_request(api, body, headers, config, tabular=False):
    """Decode a predict request of any protocol/format into a Request (tabular: a model of
    feature properties, whose tensors may have any rank)."""
    req = Request(api)
    req.tabular = tabular
    if api == "kserve":
        parse_oip(req, body, headers, config)
    elif api == "vertex-raw" and headers.get(BINARY_HEADER) is not None:
        parse_oip(req, body, headers, config)
    else:
        doc = _json(body)
        if api == "vertex-raw" and isinstance(doc, dict) and isinstance(doc.get("inputs"), list) \
                and doc["inputs"] and isinstance(doc["inputs"][0], dict):
            parse_oip(req, body, headers, config)
        else:
            parse_tf_envelope(req, doc, config)
    meta = config.get("metadata")
    for n, tensors in enumerate(req.instances):
        for key, array in tensors:
            if meta is not None and key is not None and req.format != "oip" and _declared(config, key) is None:
                raise ProtocolError("input %r is not an input of the signature (inputs: %s)"
                                    % (key, ", ".join(t["name"] for t in meta.get("inputs", []))))
            if tabular:
                if array.dtype.kind not in "biufO":
                    raise ProtocolError("instance %d key %r: element type %s is not supported" % (n, key, array.dtype.name))
                continue
            if array.ndim != 3:
                raise ProtocolError("instance %d key %r: tensor of shape %s has rank %d; every tensor must "
                                    "be rank 3 (H, W, C), even for a single band" % (n, key, list(array.shape), array.ndim))
            if array.dtype.kind not in "biuf":
                raise ProtocolError("instance %d key %r: element type %s is not supported" % (n, key, array.dtype.name))
            if array.shape[:2] != tensors[0][1].shape[:2]:
                raise ProtocolError("instance %d key %r: spatial size %s differs from key %r's %s"
                                    % (n, key, list(array.shape[:2]), tensors[0][0], list(tensors[0][1].shape[:2])))
    return req


FORMAT_NAMES = {"tf": "SERIALIZED_TF_TENSORS", "raw": "RAW_JSON", "nd": "ND_ARRAYS", "oip": "OIP_V2"}


def summarize(req, record):
    """Fill the request log record from a decoded request."""
    record["format"] = FORMAT_NAMES.get(req.format)
    record["layout"] = req.layout
    record["signature_name"] = req.signature
    record["binary"] = req.binary
    record["binary_output"] = req.binary_output
    record["n_instances"] = len(req.instances)
    if req.instances:
        record["keys"] = [key for key, _ in req.instances[0] if key is not None]
        for key, array in req.instances[0]:
            record["shapes"][key or ""] = list(array.shape)
            record["dtypes"][key or ""] = array.dtype.name
    record["instance_shapes"] = [list(tensors[0][1].shape) for tensors in req.instances]
    # identifies a tile across retries (same input, same digest)
    record["instance_digests"] = [hashlib.sha1(_digest_bytes(tensors[0][1])).hexdigest()[:16]
                                  for tensors in req.instances]


def _digest_bytes(array):
    if array.dtype.kind == "O":   # strings of a tabular instance
        return repr(array.tolist()).encode("utf-8")
    return np.ascontiguousarray(array).tobytes()


# ---------------------------------------------------------------------------
# Models


def run(models, model, tensors):
    """{output: array} of one instance.  "echo" returns the input as sent (same element type)."""
    if model == "echo":
        arrays = [a for _, a in tensors]
        return {"output": np.concatenate(arrays, axis=2) if len(arrays) > 1 else arrays[0]}
    if model in models.TABULAR:
        x = np.concatenate([models.tabular_values(a) for _, a in tensors])
        return models.run(model, x)
    x = np.concatenate([a.astype(np.float64) for _, a in tensors], axis=2)
    return models.run(model, x)


# ---------------------------------------------------------------------------
# Answers


def _as_json_value(array, req_format, numbers_as_strings):
    value = array.tolist()
    if numbers_as_strings:
        value = _strings(value)
    return value


def _strings(value):
    if isinstance(value, list):
        return [_strings(v) for v in value]
    return str(value) if not isinstance(value, bool) else str(int(value))


def _output_arrays(req, results, config, shape_output, wrong_shape):
    """results[i] = {name: array}: shaped (crop, dtype, batch dim) for this request's format."""
    plain = dict(config, batch_dim=False)
    bf16 = config.get("out_dtype") == "bfloat16"
    if bf16:
        plain["out_dtype"] = "float32"
    shaped = []
    for (shape, outputs) in results:
        one = {}
        for name, array in outputs.items():
            array = shape_output(array, shape, plain, wrong_shape)
            if req.format == "nd" and array.ndim == 3:
                array = np.moveaxis(array, -1, 0)          # channels first
            if bf16 and req.format in ("raw", "nd"):
                array = bf16_to_float32(bf16_bits(array))  # JSON: the values bfloat16 can hold
            if config.get("batch_dim"):
                array = array[None]
            one[name] = array
        shaped.append(one)
    return shaped, bf16


def encode_answer(req, results, config, shape_output, wrong_shape):
    """(document or None, body bytes or None, extra headers) answering req with results."""
    shaped, bf16 = _output_arrays(req, results, config, shape_output, wrong_shape)
    if req.format == "oip":
        return encode_oip(req, shaped, config, bf16)
    values = []
    for outputs in shaped:
        one = {}
        for name, array in outputs.items():
            if req.format == "tf":
                if bf16:
                    one[name] = wire.b64encode_style(wire.bf16_tensor_to_bytes(bf16_bits(array), array.shape),
                                                     config["b64"])
                else:
                    one[name] = wire.encode_tensor_b64(array, config["tensor_encoding"], config["b64"])
            else:
                one[name] = _as_json_value(array, req.format, config.get("numbers_as_strings"))
        values.append(one)
    layout = config.get("answer_layout") or req.layout
    key = config.get("answer_key") or ("outputs" if layout == "columnar" else "predictions")
    names = list(values[0]) if values else []
    single = len(names) == 1 and config["single_output"] == "list"
    if layout == "row":
        if single:
            body = [v[names[0]] for v in values]
        elif len(names) == 1:
            body = [{config["output_name"] or names[0]: v[names[0]]} for v in values]
        else:
            body = values
    else:
        if single:
            body = [v[names[0]] for v in values]
        else:
            body = {(config["output_name"] or n) if len(names) == 1 else n: [v[n] for v in values] for n in names}
    document = {key: mangle(body, config.get("answer_mangle"))}
    if req.api == "vertex":
        document["deployedModelId"] = "stand-in"
    return document, None, {}


def _first_leaf_parent(value):
    """The innermost list holding the first number of a nested answer value."""
    while isinstance(value, dict):
        value = next(iter(value.values()))
    while isinstance(value, list) and value and isinstance(value[0], list):
        value = value[0]
    return value


def mangle(body, kind):
    """The answer body made malformed in one way (see MANGLES)."""
    if kind is None:
        return body
    if kind == "not_a_list":
        return 42
    if kind == "wrong_count":
        return body[:-1] if isinstance(body, list) else {k: v[:-1] for k, v in body.items()}
    first = body[0] if isinstance(body, list) else next(iter(body.values()))[0]
    if kind == "missing_output":
        if isinstance(body, dict):
            name = next(iter(body))
            body["renamed_" + name] = body.pop(name)
        elif isinstance(first, dict):
            for entry in body:
                name = next(iter(entry))
                entry["renamed_" + name] = entry.pop(name)
        return body
    leaf = _first_leaf_parent(first)
    if kind == "ragged":  # the last innermost list one entry short
        parent = first
        while isinstance(parent, dict):
            parent = next(iter(parent.values()))
        while isinstance(parent[-1], list) and parent[-1] and isinstance(parent[-1][-1], list):
            parent = parent[-1]
        parent[-1] = parent[-1][:-1]
    elif kind == "string_value":
        leaf[0] = "twelve"
    elif kind == "null_value":
        leaf[0] = None
    return body


def encode_oip(req, shaped, config, bf16):
    binary = req.binary_output and config.get("binary_extension", True)
    outputs = []
    blobs = []
    names = list(shaped[0]) if shaped else []
    for name in names:
        stacked = np.stack([one[name] for one in shaped])
        entry = {"name": name, "shape": list(stacked.shape)}
        if bf16:
            entry["datatype"] = "BF16"
            raw = bf16_bits(stacked).astype("<u2")
        else:
            if stacked.dtype.name not in OIP_OF_NUMPY:
                stacked = stacked.astype(np.float32)
            entry["datatype"] = OIP_OF_NUMPY[stacked.dtype.name]
            raw = stacked.astype(stacked.dtype.newbyteorder("<"))
        if binary:
            blob = np.ascontiguousarray(raw).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            values = bf16_to_float32(raw) if bf16 else stacked
            entry["data"] = values.reshape(-1).tolist()
            if config.get("numbers_as_strings"):
                entry["data"] = _strings(entry["data"])
        outputs.append(entry)
    document = {"model_name": "stand-in", "id": "1", "outputs": outputs}
    if not binary:
        return document, None, {}
    header = json.dumps(document).encode("utf-8")
    return None, header + b"".join(blobs), {BINARY_HEADER: str(len(header)),
                                           "Content-Type": "application/octet-stream"}


# ---------------------------------------------------------------------------
# Metadata


# Every stand-in process says a version of its own in GET /v2, as two different servers (or
# two versions of one) would: a client that remembers something per server must not carry it
# over to the next stand-in that happens to get the same port.
SERVER_VERSION = "1+%d.%s" % (os.getpid(), secrets.token_hex(4))


def google_error(code, status, message):
    return {"error": {"code": code, "message": message, "status": status}}


def google_resource_answer(kind, route, config, known_models):
    """(status, document): Google's models.get / versions.get (AI Platform) or endpoints.get
    (Vertex AI, the endpoint id naming the model), as config["google_resource"] says."""
    mode = config.get("google_resource")
    if mode is None:
        return 404, {"error": "no route for GET (google_resource not configured)"}
    model = route["model"]
    if kind == "vertex-resource":
        name = "projects/%s/locations/%s/endpoints/%s" % (route["project"], route["location"], model)
    else:
        name = "projects/%s/models/%s" % (route["project"], model)
    if mode == "forbidden":
        return 403, google_error(403, "PERMISSION_DENIED", "Permission denied on resource %s" % name)
    if model not in known_models and model != "echo":
        return 404, google_error(404, "NOT_FOUND", "Resource %s was not found" % name)
    if kind == "vertex-resource":
        deployed = [] if mode == "creating" else [{"id": "1", "model": "projects/%s/locations/%s/models/%s"
                                                   % (route["project"], route["location"], model)}]
        document = {"name": name, "displayName": model}
        if deployed:  # proto3 JSON leaves an empty list out
            document["deployedModels"] = deployed
        return 200, document
    state = "CREATING" if mode == "creating" else "READY"
    if route.get("version"):
        return 200, {"name": "%s/versions/%s" % (name, route["version"]), "state": state}
    return 200, {"name": name, "defaultVersion": {"name": name + "/versions/v1", "state": state}}


def metadata_answer(kind, route, config, known_models):
    """(status, document) for the GET routes."""
    if kind in ("aiplatform-resource", "vertex-resource"):
        return google_resource_answer(kind, route, config, known_models)
    if kind == "kserve-server":
        extensions = ["model_repository", "schedule_policy", "sequence", "statistics"]
        if config.get("binary_extension", True) is True:
            extensions.insert(0, "binary_tensor_data")
        return 200, {"name": "eemodel-stand-in", "version": config.get("server_version") or SERVER_VERSION,
                     "extensions": extensions}
    model = route.get("model")
    if model not in known_models and model != "echo":
        return 404, {"error": "Servable not found for request: Latest(%s)" % model}
    meta = config.get("metadata")
    if meta is None:
        return 404, {"error": "stand-in: no metadata configured for model %s" % model}
    if kind == "kserve-metadata":
        return 200, {"name": model, "versions": ["1"], "platform": "eemodel-stand-in",
                     "inputs": meta.get("inputs", []), "outputs": meta.get("outputs", [])}

    def tensors(items, prefix):
        out = {}
        for t in items:
            out[t["name"]] = {
                "dtype": TF_NAME_OF_OIP[t["datatype"]],
                "tensor_shape": {"dim": [{"size": str(s), "name": ""} for s in t["shape"]], "unknown_rank": False},
                "name": "%s_%s:0" % (prefix, t["name"]),
            }
        return out

    signature = meta.get("signature_name", DEFAULT_SIGNATURE)
    return 200, {
        "model_spec": {"name": model, "signature_name": "", "version": route.get("version") or "1"},
        "metadata": {"signature_def": {"signature_def": {
            signature: {"inputs": tensors(meta.get("inputs", []), signature),
                        "outputs": tensors(meta.get("outputs", []), "StatefulPartitionedCall"),
                        "method_name": "tensorflow/serving/predict"},
            "__saved_model_init_op": {"inputs": {}, "outputs": {}, "method_name": ""},
        }}},
    }
