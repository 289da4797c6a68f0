#!/usr/bin/python3
"""Write the seed corpora of the fuzz targets (autotest/fuzz/corpus/<name>/).

    /usr/bin/python3 autotest/fuzz/make_seeds.py

Seeds are small valid and nearly-valid inputs; the tensors are encoded with the
stand-in predictor's own wire code (autotest/predictor/wire.py), an
implementation independent of the driver's.  Re-running rewrites the seeds
(files named seed_*); inputs found by fuzzing are kept under other names.
The first byte of each input is the target's selector (see each fuzz_*.c).
"""

import base64
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from predictor import wire  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(folder, "seed_" + name), "wb") as f:
        f.write(data)


def spec_seeds():
    inline = [
        "input=scene.tif;api_root=http://127.0.0.1:8080;project=p;model=conv;input_tile_size=256,256;"
        "input_overlap_size=16,16;output_bands=out:float32",
        "input=s.tif;endpoint=projects/p/locations/us-central1/endpoints/123;inputTileSize=64,32;"
        "outputTileSize=128,64;outputBands={\"probs\":{\"type\":\"float32\",\"dimensions\":1,"
        "\"names\":[\"bare\",\"veg\",\"water\"]}};bands=B4,B8;input_type=float32;nodata=-9999",
        "input=s.tif;url=http://h/v1/models/m:predict;protocol=tfserving;payload_format=RAW_JSON;"
        "input_tile_size=8,8;output_bands=a:uint8,b:int16:2;on_error=NODATA;max_predictions=5",
        "input=s.tif;url=http://h/v2/models/m/infer;payload_format=OIP_V2;input_array=array;"
        "bands={\"red\":3,\"nir\":4};input_tile_size=16,16;output_bands=c:int32:4;"
        "headers=X-Api-Key: abc, X-Other: d",
        "input=s.tif;project=p;model=m;version=v2;region=europe-west1;input_tile_size=32,32;"
        "output_bands=o:float64;max_payload_bytes=2000000;resampling=bilinear;"
        "fix_input_proj=false;proj=EPSG:4326;scale=0.001",
        "input=s.tif;project=p;model=m;input_tile_size=256,x;output_bands=o:float32",
        "input=s.tif;project=p;model=m;input_tile_sise=256,256;output_bands=o:float32",
        "input=s.tif;project=p;model=m;input_tile_size=2147483647,2147483647;input_overlap_size="
        "-1,99999999999;output_bands=o:float32:99999999",
        "input=;;;===;a=b=c;;",
    ]
    for i, text in enumerate(inline):
        write("spec", "inline_%d" % i, "0" + text)
    documents = [
        {"input": "scene.tif", "api_root": "http://127.0.0.1:1", "project": "p", "model": "conv",
         "inputTileSize": [256, 256], "inputOverlapSize": [16, 16],
         "outputBands": {"out": {"type": "float32"}}},
        {"input": "../rel/scene.tif", "endpoint": "projects/p/locations/l/endpoints/e",
         "input_tile_size": "64,64", "bands": {"red": 3, "nir": 4}, "inputTypeOverride": {"red": "float32"},
         "outputBands": {"probs": {"type": "float32", "dimensions": 1, "names": ["a", "b", "c"]}},
         "nodata": -1, "on_error": "nodata", "headers": ["A: b", "C: d"]},
        {"input": 5, "inputTileSize": [0, -3], "outputBands": [], "nested": {"a": [[[[[[1]]]]]]}},
    ]
    for i, doc in enumerate(documents):
        write("spec", "json_%d" % i, "1" + json.dumps(doc))
    write("spec", "json_deep", "1" + "[" * 200 + "]" * 200)
    write("spec", "json_truncated", "1" + json.dumps(documents[0])[:70])
    write("spec", "options_0", "2input=s.tif;project=p;model=m;input_tile_size=8,8;output_bands=o:float32\n"
          "INPUT_TILE_SIZE=16,16\nON_ERROR=NODATA\nOUTPUT_BANDS=a:float32,b:uint8:3\nNODATA=0")
    write("spec", "options_1", "2input=s.tif\nPROJECT=p\nMODEL=m\nINPUT_TILE_SIZE=4,4\nOUTPUT_BANDS=x:int8"
          "\nCACHE_DIR=/tmp/x\nMAX_PREDICTIONS=abc\nbogus")


def b64(data, style):
    return wire.b64encode_style(data, style)


def tf_seeds():
    """Answers to the three fuzzing specs of payload_fuzz.h (tile 8x8 + overlap 2)."""
    def selector(spec, n):
        return bytes([spec + 3 * (n - 1)])

    rng = np.random.default_rng(1)
    one = rng.random((8, 8, 1)).astype(np.float32)
    padded = rng.random((12, 12, 1)).astype(np.float32)
    three = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
    four = rng.integers(-5, 5, (8, 8, 4)).astype(np.int32)

    def answer(predictions, extra=None):
        doc = {"predictions": predictions}
        doc.update(extra or {})
        return json.dumps(doc).encode()

    write("payload_tf", "single", selector(0, 1) + answer([wire.encode_tensor_b64(one)]))
    write("payload_tf", "single_padded_std", selector(0, 2) + answer(
        [wire.encode_tensor_b64(padded, "content", "standard")] * 2))
    write("payload_tf", "single_typed_object", selector(0, 1) + answer(
        [{"out": wire.encode_tensor_b64(one, "typed", "urlsafe")}]))
    write("payload_tf", "single_broadcast_b64wrap", selector(0, 1) + answer(
        [{"b64": wire.encode_tensor_b64(one, "broadcast", "standard_nopad")}]))
    write("payload_tf", "two_outputs", selector(1, 2) + answer(
        [{"a": wire.encode_tensor_b64(one), "b": wire.encode_tensor_b64(three)}] * 2))
    write("payload_tf", "vector", selector(2, 3) + json.dumps(
        {"outputs": [wire.encode_tensor_b64(four, "typed")] * 3}).encode())
    write("payload_tf", "error_string", selector(0, 1) + b'{"error": "Prediction failed: boom"}')
    write("payload_tf", "error_object", selector(0, 1) +
          b'{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}')
    write("payload_tf", "wrong_count", selector(0, 3) + answer([wire.encode_tensor_b64(one)]))
    write("payload_tf", "garbage_b64", selector(0, 1) + answer(["!!!not*base64%%" * 8]))
    write("payload_tf", "truncated", selector(0, 1) + answer([wire.encode_tensor_b64(one)])[:90])
    write("payload_tf", "deep", selector(0, 1) + b'{"predictions":' + b"[" * 100 + b"]" * 100 + b"}")
    write("payload_tf", "escaped_marker", selector(0, 1) + b'{"predictions":["\\u0000' + b"A" * 80 + b'"]}')
    big = wire.tensor_pb2().TensorProto()
    big.dtype = 1
    for size in (100000, 100000, 4):
        big.tensor_shape.dim.add().size = size
    write("payload_tf", "huge_shape", selector(0, 1) + answer(
        [base64.b64encode(big.SerializeToString()).decode()]))


def tensorproto_seeds():
    arrays = {
        "f32": np.arange(12, dtype=np.float32).reshape(2, 3, 2),
        "u8": np.arange(16, dtype=np.uint8).reshape(4, 4, 1),
        "i64": np.array([[1, -2], [3, -4]], dtype=np.int64),
        "f16": np.ones((2, 2, 1), dtype=np.float16),
        "f64_scalar": np.array(3.5, dtype=np.float64),
        "bool": np.array([True, False, True]),
        "u32": np.arange(6, dtype=np.uint32).reshape(1, 6),
    }
    for name, array in arrays.items():
        for encoding in ("content", "typed", "broadcast"):
            try:
                data = wire.tensor_to_bytes(array, encoding)
            except Exception:
                continue
            write("tensorproto", "%s_%s" % (name, encoding), b"\x00" + data)
        write("tensorproto", "%s_b64" % name, b"\x01" + wire.encode_tensor_b64(array).encode())
    data = wire.tensor_to_bytes(arrays["f32"], "content")
    write("tensorproto", "truncated", b"\x00" + data[: len(data) // 2])
    write("tensorproto", "b64_std_padded", b"\x01" + base64.b64encode(data))
    write("tensorproto", "b64_bad", b"\x01" + b"abc$def=")


def other_payload_seeds():
    """Plausible answers of the other payload formats (protocols.md), for when they exist."""
    def selector(spec, n):
        return bytes([spec + 3 * (n - 1)])

    one = np.arange(64, dtype=np.float32).reshape(8, 8, 1)
    raw = json.dumps({"predictions": [one.tolist()]}).encode()
    write("payload_raw_json", "single", selector(0, 1) + raw)
    write("payload_raw_json", "two_outputs", selector(1, 1) + json.dumps(
        {"predictions": [{"a": one.tolist(), "b": np.zeros((8, 8, 3), int).tolist()}]}).encode())
    write("payload_raw_json", "columnar", selector(0, 2) + json.dumps({"outputs": [one.tolist()] * 2}).encode())
    write("payload_raw_json", "ragged", selector(0, 1) + b'{"predictions":[[[1,2],[3]]]}')
    write("payload_raw_json", "deep", selector(0, 1) + b'{"predictions":' + b"[" * 100 + b"]" * 100 + b"}")
    write("payload_raw_json", "error", selector(0, 1) + b'{"error":"bad"}')
    chw = np.arange(64, dtype=np.float32).reshape(1, 8, 8)
    write("payload_nd_arrays", "single", selector(0, 1) + json.dumps({"predictions": [chw.tolist()]}).encode())
    write("payload_nd_arrays", "two_outputs", selector(1, 1) + json.dumps(
        {"predictions": [{"a": chw.tolist(), "b": np.zeros((3, 8, 8), int).tolist()}]}).encode())
    write("payload_nd_arrays", "wrong_count", selector(0, 2) + json.dumps({"predictions": [chw.tolist()]}).encode())
    write("payload_nd_arrays", "strings", selector(0, 1) + b'{"predictions":[["a","b"]]}')
    oip = {"model_name": "m", "outputs": [
        {"name": "out", "shape": [1, 8, 8, 1], "datatype": "FP32", "data": list(range(64))}]}
    write("payload_oip_v2", "single", selector(0, 1) + json.dumps(oip).encode())
    oip2 = {"outputs": [
        {"name": "a", "shape": [2, 8, 8, 1], "datatype": "FP32", "data": [0.5] * 128},
        {"name": "b", "shape": [2, 8, 8, 3], "datatype": "UINT8", "data": [1] * 384}]}
    write("payload_oip_v2", "two_outputs", selector(1, 2) + json.dumps(oip2).encode())
    write("payload_oip_v2", "count_mismatch", selector(0, 1) + json.dumps({"outputs": [
        {"name": "out", "shape": [1, 8, 8, 1], "datatype": "FP32", "data": [1, 2, 3]}]}).encode())
    write("payload_oip_v2", "huge_shape", selector(0, 1) + json.dumps({"outputs": [
        {"name": "out", "shape": [100000, 100000, 1000], "datatype": "FP64", "data": []}]}).encode())
    write("payload_oip_v2", "error", selector(0, 1) + b'{"error":"model failed"}')
    # context flags in the selector: +12 = columnar (TF Serving), +24 = binary data (OIP v2)
    header = json.dumps({"outputs": [{"name": "out", "shape": [1, 8, 8, 1], "datatype": "FP32",
                                      "parameters": {"binary_data_size": 256}}]}).encode()
    write("payload_oip_v2", "binary", bytes([24]) + header + np.arange(64, dtype="<f4").tobytes())
    write("payload_oip_v2", "binary_short", bytes([24]) + header + b"\x00" * 10)
    write("payload_raw_json", "columnar_flag", bytes([12 + 3]) + json.dumps({"outputs": [one.tolist()] * 2}).encode())


def main():
    spec_seeds()
    tf_seeds()
    tensorproto_seeds()
    other_payload_seeds()
    for target in sorted(os.listdir(CORPUS)):
        print("%-20s %d files" % (target, len(os.listdir(os.path.join(CORPUS, target)))))


if __name__ == "__main__":
    main()
