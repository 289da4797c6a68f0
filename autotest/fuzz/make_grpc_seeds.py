#!/usr/bin/python3
"""Write the seed corpora of the gRPC fuzz targets (issue 15):
corpus/grpc_frame/, corpus/payload_grpc_tf/ and corpus/payload_grpc_oip/.

    /usr/bin/python3 autotest/fuzz/make_grpc_seeds.py

Messages are built with the Python code protoc generates from the project's proto/
files (the stand-in's, independent of the driver's hand-written wire code).  The first
byte of a payload seed is the selector of payload_fuzz.h: spec (% 3: "out:float32",
"a:float32,b:uint8:3", "cls:int32:4"), instance count (/ 3 % 4 + 1).
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from predictor import grpc_server, wire  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "seed_" + name), "wb") as f:
        f.write(data)


def selector(spec, n):
    return bytes([spec + 3 * (n - 1)])


def predict_response(outputs, encoding="content"):
    tfs = grpc_server.pb("tf_serving_pb2")
    r = tfs.PredictResponse()
    for name, array in outputs.items():
        r.outputs[name].ParseFromString(wire.tensor_to_bytes(array, encoding))
    return r.SerializeToString()


def serialized_response(outputs):
    tfs = grpc_server.pb("tf_serving_pb2")
    r = tfs.PredictResponse()
    for name, arrays in outputs.items():
        t = r.outputs[name]
        t.dtype = wire.DT_STRING
        t.tensor_shape.dim.add().size = len(arrays)
        for a in arrays:
            t.string_val.append(wire.tensor_to_bytes(a))
    return r.SerializeToString()


def infer_response(outputs, typed=False):
    oip = grpc_server.pb("oip_v2_pb2")
    return grpc_server.encode_model_infer_response("m", outputs, typed)


def main():
    rng = np.random.default_rng(15)
    f = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    u8 = lambda *shape: rng.integers(0, 255, shape).astype(np.uint8)  # noqa: E731
    i32 = lambda *shape: rng.integers(-1000, 1000, shape).astype(np.int32)  # noqa: E731

    # PredictResponse
    write("payload_grpc_tf", "single_content", selector(0, 1) + predict_response({"out": f(1, 8, 8, 1)}))
    write("payload_grpc_tf", "single_typed", selector(0, 2) + predict_response({"out": f(2, 8, 8, 1)}, "typed"))
    write("payload_grpc_tf", "broadcast", selector(0, 2) + predict_response({"out": np.zeros((2, 8, 8, 1), np.float32)},
                                                                             "broadcast"))
    write("payload_grpc_tf", "two_outputs", selector(1, 2) + predict_response({"a": f(2, 8, 8, 1), "b": u8(2, 8, 8, 3)},
                                                                               "typed"))
    write("payload_grpc_tf", "serialized", selector(2, 2) + serialized_response({"cls": [i32(8, 8, 4), i32(8, 8, 4)]}))
    write("payload_grpc_tf", "no_batch_dim", selector(0, 1) + predict_response({"out": f(8, 8, 1)}))
    write("payload_grpc_tf", "wrong_name", selector(0, 1) + predict_response({"x": f(1, 8, 8, 1), "y": f(1, 8, 8, 1)}))
    write("payload_grpc_tf", "wrong_batch", selector(0, 3) + predict_response({"out": f(2, 8, 8, 1)}))
    big = predict_response({"out": f(1, 8, 8, 1)})
    write("payload_grpc_tf", "truncated", selector(0, 1) + big[:len(big) // 2])
    tp = wire.tensor_pb2().TensorProto(dtype=wire.DT_FLOAT)
    for s in (1 << 20, 1 << 20, 1 << 20):
        tp.tensor_shape.dim.add().size = s
    tfs = grpc_server.pb("tf_serving_pb2")
    r = tfs.PredictResponse()
    r.outputs["out"].CopyFrom(tp)
    write("payload_grpc_tf", "huge_shape", selector(0, 1) + r.SerializeToString())

    # ModelInferResponse
    write("payload_grpc_oip", "raw_single", selector(0, 1) + infer_response({"out": [f(8, 8, 1)]}))
    write("payload_grpc_oip", "raw_two", selector(1, 2) + infer_response({"a": [f(8, 8, 1), f(8, 8, 1)],
                                                                           "b": [u8(8, 8, 3), u8(8, 8, 3)]}))
    write("payload_grpc_oip", "typed_int", selector(2, 2) + infer_response({"cls": [i32(8, 8, 4), i32(8, 8, 4)]},
                                                                             typed=True))
    write("payload_grpc_oip", "typed_float", selector(0, 4) + infer_response({"out": [f(8, 8, 1)] * 4}, typed=True))
    oip = grpc_server.pb("oip_v2_pb2")
    m = oip.ModelInferResponse()
    m.ParseFromString(infer_response({"out": [f(8, 8, 1)]}))
    m.raw_output_contents[0] = m.raw_output_contents[0][:-4]
    write("payload_grpc_oip", "raw_short", selector(0, 1) + m.SerializeToString())
    m.outputs[0].datatype = "BYTES"
    write("payload_grpc_oip", "bytes_type", selector(0, 1) + m.SerializeToString())
    m = oip.ModelInferResponse()
    t = m.outputs.add(name="out", datatype="FP16", shape=[1, 8, 8, 1])
    t.contents.SetInParent()
    write("payload_grpc_oip", "fp16_typed", selector(0, 1) + m.SerializeToString())

    # framing and status lines: "lines \0 body"
    msg = infer_response({"out": [f(2, 2, 1)]})
    framed = b"\0" + len(msg).to_bytes(4, "big") + msg
    ok = b"HTTP/2 200 \r\ncontent-type: application/grpc\r\n\r\ngrpc-status: 0\r\n"
    write("grpc_frame", "ok", ok + b"\0" + framed)
    write("grpc_frame", "trailers_only", b"HTTP/2 200 \r\ncontent-type: application/grpc\r\ngrpc-status: 14\r\n"
                                         b"grpc-message: bad %C3%B1 100%25 value%0Aline2 %z\r\n\0")
    write("grpc_frame", "no_status_503", b"HTTP/2 503 \r\n\r\n\0")
    write("grpc_frame", "compressed", ok + b"\0" + b"\1" + framed[1:])
    write("grpc_frame", "truncated", ok + b"\0" + framed[:-3])
    write("grpc_frame", "trailing", ok + b"\0" + framed + b"\0\0\0\0\0")
    write("grpc_frame", "huge_length", ok + b"\0" + b"\0\xff\xff\xff\xff" + msg)
    write("grpc_frame", "bad_status", b"HTTP/2 200 \r\ngrpc-status: 014\r\ngrpc-status: x\r\n\0\0\0\0\0\0")


if __name__ == "__main__":
    main()
