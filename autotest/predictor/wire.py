"""Wire formats of the stand-in predictor: base64 and TensorFlow TensorProto <-> numpy.

This is the server's own, independent implementation of the SERIALIZED_TF_TENSORS
encoding (the driver's C encoder must agree with it, not share code with it).
Python code for the messages is generated at run time from the repository's proto/
files with `protoc --python_out` into a cache folder keyed by the files' hash.
"""

import base64
import binascii
import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PROTO_DIR = os.path.join(REPO_ROOT, "proto")
PROTO_DIR_ENV = "EEMODEL_PROTO_DIR"  # override, for working against a private copy

# DataType numbers (tensorflow/core/framework/types.proto) <-> numpy dtypes.
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8 = 1, 2, 3, 4, 5, 6
DT_STRING, DT_COMPLEX64, DT_INT64, DT_BOOL = 7, 8, 9, 10
DT_UINT16, DT_COMPLEX128, DT_HALF, DT_UINT32, DT_UINT64 = 17, 18, 19, 22, 23
DT_BFLOAT16 = 14  # numpy has no bfloat16: decoded to float32, encoded from 16-bit patterns

NUMPY_OF_DATATYPE = {
    DT_FLOAT: np.dtype("<f4"),
    DT_DOUBLE: np.dtype("<f8"),
    DT_INT32: np.dtype("<i4"),
    DT_UINT8: np.dtype("u1"),
    DT_INT16: np.dtype("<i2"),
    DT_INT8: np.dtype("i1"),
    DT_COMPLEX64: np.dtype("<c8"),
    DT_INT64: np.dtype("<i8"),
    DT_BOOL: np.dtype("?"),
    DT_UINT16: np.dtype("<u2"),
    DT_COMPLEX128: np.dtype("<c16"),
    DT_HALF: np.dtype("<f2"),
    DT_UINT32: np.dtype("<u4"),
    DT_UINT64: np.dtype("<u8"),
}
DATATYPE_OF_NUMPY = {dt.name: code for code, dt in NUMPY_OF_DATATYPE.items()}

# Which typed repeated field carries the values of each DataType.
TYPED_FIELD_OF_DATATYPE = {
    DT_FLOAT: "float_val",
    DT_DOUBLE: "double_val",
    DT_INT32: "int_val",
    DT_UINT8: "int_val",
    DT_INT16: "int_val",
    DT_INT8: "int_val",
    DT_UINT16: "int_val",
    DT_INT64: "int64_val",
    DT_BOOL: "bool_val",
    DT_HALF: "half_val",
    DT_UINT32: "uint32_val",
    DT_UINT64: "uint64_val",
    DT_COMPLEX64: "scomplex_val",
    DT_COMPLEX128: "dcomplex_val",
}

B64_STYLES = ("standard", "standard_nopad", "urlsafe", "urlsafe_nopad")
TENSOR_ENCODINGS = ("content", "typed", "broadcast")


class WireError(ValueError):
    """A payload that cannot be decoded; the message says what and why."""


# ---------------------------------------------------------------------------
# Generated protobuf code

_proto_lock = threading.Lock()
_proto_module = None


def proto_dir():
    return os.environ.get(PROTO_DIR_ENV) or DEFAULT_PROTO_DIR


def _proto_files(folder):
    names = sorted(n for n in os.listdir(folder) if n.endswith(".proto"))
    if "tensor.proto" not in names:
        raise RuntimeError("no tensor.proto in %s" % folder)
    return names


def proto_cache_dir(folder=None):
    """Folder holding the Python code generated from the given proto folder."""
    folder = folder or proto_dir()
    digest = hashlib.sha256()
    for name in _proto_files(folder):
        digest.update(name.encode() + b"\0")
        with open(os.path.join(folder, name), "rb") as f:
            digest.update(f.read() + b"\0")
    return os.path.join(tempfile.gettempdir(), "eemodel-proto-" + digest.hexdigest()[:16])


def compile_protos(folder=None):
    """Generate Python code for proto/ once (atomic rename); return its folder."""
    folder = os.path.abspath(folder or proto_dir())
    cache = proto_cache_dir(folder)
    if os.path.isfile(os.path.join(cache, "tensor_pb2.py")):
        return cache
    staging = tempfile.mkdtemp(prefix="eemodel-proto-staging-", dir=tempfile.gettempdir())
    try:
        cmd = ["protoc", "--proto_path=" + folder, "--python_out=" + staging]
        cmd += [os.path.join(folder, n) for n in _proto_files(folder)]
        run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if run.returncode != 0:
            raise RuntimeError("protoc failed on %s: %s" % (folder, run.stderr.decode(errors="replace")))
        try:
            os.rename(staging, cache)
        except OSError:
            if not os.path.isfile(os.path.join(cache, "tensor_pb2.py")):
                raise
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return cache


def tensor_pb2():
    """The generated tensor_pb2 module (compiled and imported on first use)."""
    global _proto_module
    with _proto_lock:
        if _proto_module is None:
            cache = compile_protos()
            if cache not in sys.path:
                sys.path.insert(0, cache)
            _proto_module = importlib.import_module("tensor_pb2")
        return _proto_module


# ---------------------------------------------------------------------------
# base64

_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def b64decode_any(text):
    """Decode standard or URL-safe base64, padded or not. Raises WireError."""
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            raise WireError("base64 text contains non-ASCII characters")
    else:
        raw = bytes(text)
    raw = raw.strip().rstrip(b"=").translate(_URLSAFE_TO_STANDARD)
    if len(raw) % 4 == 1:
        raise WireError("base64 text has an impossible length (%d significant characters)" % len(raw))
    raw += b"=" * (-len(raw) % 4)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as e:
        raise WireError("invalid base64: %s" % e)


def b64encode_style(data, style="urlsafe_nopad"):
    if style not in B64_STYLES:
        raise ValueError("base64 style %r is not one of %s" % (style, ", ".join(B64_STYLES)))
    if style.startswith("urlsafe"):
        out = base64.urlsafe_b64encode(data)
    else:
        out = base64.b64encode(data)
    if style.endswith("_nopad"):
        out = out.rstrip(b"=")
    return out.decode("ascii")


# ---------------------------------------------------------------------------
# TensorProto <-> numpy

def _typed_values(message, code):
    field = TYPED_FIELD_OF_DATATYPE.get(code)
    if field is None or field not in message.DESCRIPTOR.fields_by_name:
        return None
    values = getattr(message, field)
    if code == DT_HALF:
        return np.array(values, dtype=np.int64).astype(np.uint16).view(np.float16)
    if code in (DT_COMPLEX64, DT_COMPLEX128):
        flat = np.array(values, dtype=np.float64)
        if flat.size % 2:
            raise WireError("%s has an odd number of values (%d) for complex pairs" % (field, flat.size))
        return (flat[0::2] + 1j * flat[1::2]).astype(NUMPY_OF_DATATYPE[code])
    wide = np.int64 if code != DT_UINT64 else np.uint64
    if code in (DT_FLOAT, DT_DOUBLE):
        wide = np.float64
    if code == DT_BOOL:
        wide = np.bool_
    return np.array(values, dtype=wide).astype(NUMPY_OF_DATATYPE[code])


def tensor_from_bytes(data):
    """Parse a serialized TensorProto into a numpy array (TF's decoding rules)."""
    pb = tensor_pb2()
    message = pb.TensorProto()
    try:
        message.ParseFromString(data)
    except Exception as e:  # google.protobuf.message.DecodeError and friends
        raise WireError("not a serialized TensorProto: %s" % e)
    code = int(message.dtype)
    if code == DT_BFLOAT16:
        return _bfloat16_from_message(message)
    if code == DT_STRING:  # scalar strings of tabular models: text array of the shape
        shape = tuple(int(d.size) for d in message.tensor_shape.dim)
        values = [v.decode("utf-8", "replace") for v in message.string_val]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if len(values) != count:
            raise WireError("string_val holds %d strings; shape %s needs %d" % (len(values), list(shape), count))
        return np.array(values, dtype=object).reshape(shape)
    if code not in NUMPY_OF_DATATYPE:
        raise WireError("unsupported TensorProto dtype %d" % code)
    dtype = NUMPY_OF_DATATYPE[code]
    if message.tensor_shape.unknown_rank:
        raise WireError("TensorProto has unknown rank")
    shape = tuple(int(d.size) for d in message.tensor_shape.dim)
    if any(s < 0 for s in shape):
        raise WireError("TensorProto shape %s has a negative (unknown) dimension" % (list(shape),))
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if message.tensor_content:
        content = message.tensor_content
        if len(content) != count * dtype.itemsize:
            raise WireError(
                "tensor_content holds %d bytes; shape %s of %s needs %d"
                % (len(content), list(shape), dtype.name, count * dtype.itemsize))
        return np.frombuffer(content, dtype=dtype).reshape(shape)
    values = _typed_values(message, code)
    if values is None:
        raise WireError("no typed value field for dtype %s" % dtype.name)
    if values.size >= count:
        flat = values[:count]
    elif values.size == 0:
        flat = np.zeros(count, dtype=dtype)
    else:  # TF rule: the last value is repeated to fill the shape
        flat = np.empty(count, dtype=dtype)
        flat[:values.size] = values
        flat[values.size:] = values[-1]
    return flat.reshape(shape)


def _bfloat16_from_message(message):
    shape = tuple(int(d.size) for d in message.tensor_shape.dim)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if message.tensor_content:
        if len(message.tensor_content) != 2 * count:
            raise WireError("tensor_content holds %d bytes; shape %s of bfloat16 needs %d"
                            % (len(message.tensor_content), list(shape), 2 * count))
        bits = np.frombuffer(message.tensor_content, dtype="<u2")
    else:
        values = np.array(message.half_val, dtype=np.int64).astype(np.uint16)
        bits = np.zeros(count, dtype=np.uint16) if values.size == 0 else np.resize(values, count)
        if 0 < values.size < count:
            bits[values.size:] = values[-1]
    return (bits.astype(np.uint32) << 16).view(np.float32).reshape(shape)


def bf16_tensor_to_bytes(bits, shape):
    """A DT_BFLOAT16 TensorProto (tensor_content) from 16-bit patterns."""
    message = tensor_pb2().TensorProto()
    message.dtype = DT_BFLOAT16
    for size in shape:
        message.tensor_shape.dim.add().size = int(size)
    message.tensor_content = np.ascontiguousarray(bits, dtype="<u2").tobytes()
    return message.SerializeToString()


def tensor_to_bytes(array, encoding="content"):
    """Serialize a numpy array as a TensorProto.

    encoding: "content" (tensor_content bytes), "typed" (typed value fields),
    "broadcast" (typed fields, a single value when all values are equal).
    """
    if encoding not in TENSOR_ENCODINGS:
        raise ValueError("tensor encoding %r is not one of %s" % (encoding, ", ".join(TENSOR_ENCODINGS)))
    array = np.asarray(array)
    name = array.dtype.name
    if name not in DATATYPE_OF_NUMPY:
        raise ValueError("no TensorFlow DataType for numpy dtype %s" % name)
    code = DATATYPE_OF_NUMPY[name]
    pb = tensor_pb2()
    message = pb.TensorProto()
    message.dtype = code
    for size in array.shape:
        message.tensor_shape.dim.add().size = int(size)
    little = array.astype(NUMPY_OF_DATATYPE[code], copy=False)
    if encoding == "content":
        message.tensor_content = np.ascontiguousarray(little).tobytes()
        return message.SerializeToString()
    flat = little.ravel()
    if encoding == "broadcast" and flat.size > 1 and bool(np.all(flat == flat[0])):
        flat = flat[:1]
    field = getattr(message, TYPED_FIELD_OF_DATATYPE[code])
    if code == DT_HALF:
        field.extend(flat.view(np.uint16).astype(np.int64).tolist())
    elif code in (DT_COMPLEX64, DT_COMPLEX128):
        pairs = np.empty(flat.size * 2, dtype=np.float64)
        pairs[0::2], pairs[1::2] = flat.real, flat.imag
        field.extend(pairs.tolist())
    else:
        field.extend(flat.tolist())
    return message.SerializeToString()


def encode_tensor_b64(array, encoding="content", style="urlsafe_nopad"):
    return b64encode_style(tensor_to_bytes(array, encoding), style)


def decode_tensor_b64(text):
    return tensor_from_bytes(b64decode_any(text))
