"""Tests of the stand-in predictor itself (autotest/predictor/), no GDAL driver involved.

The requests are built here with the generated tensor_pb2 and a small encoder/decoder
of this file's own, so the server's wire code is checked against a second reading of
the format.
"""

import base64
import http.client
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

AUTOTEST_DIR = pathlib.Path(__file__).resolve().parent
if str(AUTOTEST_DIR) not in sys.path:
    sys.path.insert(0, str(AUTOTEST_DIR))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from predictor import models, wire  # noqa: E402
from predictor.harness import StandIn, StandInError  # noqa: E402

TOKEN = "s3cret-token-for-tests"
DT = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6, "int64": 9,
      "bool": 10, "uint16": 17, "float16": 19, "uint32": 22, "uint64": 23}
DT_NAME = {v: k for k, v in DT.items()}


# ---------------------------------------------------------------------------
# The test's own TensorProto encoder / decoder


def pb():
    return wire.tensor_pb2()


def tensor_b64(array, mode="content", alphabet="urlsafe_nopad", values=None):
    """Serialize `array` (its dtype and shape) as a TensorProto, base64 it.

    mode "content": tensor_content; "typed": float_val/int_val/...; "values": the typed
    field gets exactly `values` (to exercise TF's repeat-the-last-value rule).
    """
    array = np.asarray(array)
    message = pb().TensorProto()
    message.dtype = DT[array.dtype.name]
    for n in array.shape:
        message.tensor_shape.dim.add().size = n
    if mode == "content":
        message.tensor_content = array.astype(array.dtype.newbyteorder("<")).tobytes()
    else:
        data = array.ravel().tolist() if values is None else list(values)
        kind = array.dtype.name
        if kind == "float32":
            message.float_val.extend(data)
        elif kind == "float64":
            message.double_val.extend(data)
        elif kind in ("int32", "uint8", "int16", "uint16", "int8"):
            message.int_val.extend(data)
        elif kind == "int64":
            message.int64_val.extend(data)
        else:
            raise AssertionError(kind)
    raw = message.SerializeToString()
    text = (base64.urlsafe_b64encode(raw) if alphabet.startswith("urlsafe") else base64.b64encode(raw)).decode()
    return text.rstrip("=") if alphabet.endswith("nopad") else text


def parse_b64_tensor(text):
    """-> (numpy array, the parsed TensorProto)."""
    raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))
    message = pb().TensorProto()
    message.ParseFromString(raw)
    dtype = np.dtype(DT_NAME[message.dtype]).newbyteorder("<")
    shape = [d.size for d in message.tensor_shape.dim]
    n = int(np.prod(shape)) if shape else 1
    if message.tensor_content:
        assert len(message.tensor_content) == n * dtype.itemsize
        return np.frombuffer(message.tensor_content, dtype=dtype).reshape(shape), message
    field = {"float32": "float_val", "float64": "double_val", "int64": "int64_val"}.get(dtype.name, "int_val")
    values = list(getattr(message, field))
    assert values, "no values in %s" % field
    values = values + [values[-1]] * (n - len(values))
    return np.array(values[:n]).astype(dtype).reshape(shape), message


# ---------------------------------------------------------------------------
# HTTP helpers


class Client:
    def __init__(self, server):
        self.server = server

    def request(self, path, document=None, body=None, headers=None, method="POST", timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=timeout)
        try:
            if body is None and document is not None:
                body = json.dumps(document).encode()
            conn.request(method, path, body=body, headers=dict({"Content-Type": "application/json"}, **(headers or {})))
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def predict(self, model, instances, headers=None, path=None, expect=200):
        path = path or "/v1/projects/p/models/%s:predict" % model
        status, headers_, body = self.request(path, {"instances": instances}, headers=headers)
        assert status == expect, body[:500]
        return json.loads(body)


@pytest.fixture(scope="module")
def server():
    s = StandIn.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def srv(server):
    return server.renew()


@pytest.fixture
def client(srv):
    return Client(srv)


def one(client, model, arrays, **kw):
    """Predict one instance {k0: arrays[0], ...}; the decoded outputs."""
    instance = {"k%d" % i: tensor_b64(a) for i, a in enumerate(arrays)}
    prediction = client.predict(model, [instance], **kw)["predictions"][0]
    if isinstance(prediction, str):
        return parse_b64_tensor(prediction)[0]
    return {k: parse_b64_tensor(v)[0] for k, v in prediction.items()}


def rng_image(h, w, c, seed=1, dtype=np.float32, scale=255):
    return (np.random.default_rng(seed).random((h, w, c)) * scale).astype(dtype)


# ---------------------------------------------------------------------------
# Start / stop


def test_server_cli_prints_url_writes_port_file_and_stops_on_sigterm(tmp_path):
    port_file = tmp_path / "port"
    started = time.monotonic()
    process = subprocess.Popen(["/usr/bin/python3", str(AUTOTEST_DIR / "predictor" / "server.py"),
                                "--port", "0", "--port-file", str(port_file)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = process.stdout.readline().decode()
        assert time.monotonic() - started < 60
        match = re.match(r"^EEMODEL stand-in predictor listening on http://127\.0\.0\.1:(\d+)$", line.strip())
        assert match, line
        assert port_file.read_text().strip() == match.group(1)
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        conn.request("GET", "/_log")
        assert json.loads(conn.getresponse().read()) == []
        conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(5) == 0


def test_renew_isolates_tests_from_earlier_requests(server):
    """A request to the port of an earlier epoch (still in flight from an earlier test) is
    refused: it never reaches the log and never takes a fault queued for the new test."""
    server.renew()
    old_port = server.port
    # an idle keep-alive connection to the old port, as a client's pool would keep it
    conn = http.client.HTTPConnection("127.0.0.1", old_port, timeout=30)
    conn.request("GET", "/_log")
    assert json.loads(conn.getresponse().read()) == []
    server.renew()
    assert server.port != old_port
    server.fault(kind="status", status=503)
    conn.request("POST", "/v1/projects/p/models/conv:predict", body=json.dumps({"instances": instance()}),
                 headers={"Content-Type": "application/json"})
    stale = conn.getresponse()
    stale.read()
    conn.close()
    assert stale.status == 503 and stale.getheader("Connection") == "close"
    assert server.log() == []
    status, _, _ = Client(server).request("/v1/projects/p/models/conv:predict", {"instances": instance()})
    assert status == 503    # the queued fault was kept for this epoch's request
    assert [r["status"] for r in server.log()] == [503]


def test_harness_start_is_fast_and_stop_ends_process():
    started = time.monotonic()
    s = StandIn.start()
    assert time.monotonic() - started < 60
    assert s.url == "http://127.0.0.1:%d" % s.port
    process = s.process
    s.stop()
    assert process.poll() is not None


# ---------------------------------------------------------------------------
# Models


def test_identity_concatenates_keys_in_order(client):
    a = rng_image(5, 7, 1, seed=1, dtype=np.uint8)
    b = rng_image(5, 7, 2, seed=2, dtype=np.float32)
    out = one(client, "identity", [a, b])
    assert out.dtype == np.float32 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, np.concatenate([a.astype(np.float32), b], axis=2))


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "uint16", "int32", "int64", "uint32",
                                   "uint64", "float16", "float32", "float64", "bool"])
def test_input_dtypes_decode_through_tensor_content(client, dtype):
    x = (np.arange(24).reshape(2, 4, 3) % 7).astype(dtype)
    out = one(client, "identity", [x])
    np.testing.assert_array_equal(out, x.astype(np.float64).astype(np.float32))
    assert client.server.log()[-1]["dtypes"] == {"k0": dtype}


def test_ndi_with_zero_sum_gives_zero(client):
    x = np.array([[[3, 1], [0, 0]], [[1, 3], [5, 0]]], dtype=np.float32)  # (2,2,2)
    out = one(client, "ndi", [x])
    assert out.shape == (2, 2, 1)
    np.testing.assert_allclose(out[:, :, 0], [[0.5, 0.0], [-0.5, 1.0]], rtol=0, atol=1e-7)


def test_ndi_one_channel_is_400(client):
    status, _, body = client.request("/v1/projects/p/models/ndi:predict",
                                     {"instances": [{"a": tensor_b64(np.ones((2, 2, 1), np.float32))}]})
    assert status == 400 and "2 channels" in json.loads(body)["error"]


def naive_conv(m):
    """Three passes of the 3x3 [1,2,1] kernel with zero padding, with plain loops."""
    k = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float64) / 16
    for _ in range(3):
        h, w = m.shape
        out = np.zeros_like(m)
        for y in range(h):
            for x in range(w):
                s = 0.0
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        if 0 <= y + dy < h and 0 <= x + dx < w:
                            s += k[dy + 1, dx + 1] * m[y + dy, x + dx]
                out[y, x] = s
        m = out
    return m


def test_conv_matches_a_naive_convolution(client):
    x = rng_image(9, 11, 2, seed=3)
    out = one(client, "conv", [x])
    assert out.shape == (9, 11, 1) and out.dtype == np.float32
    expected = naive_conv(x.astype(np.float64).mean(axis=2))
    np.testing.assert_allclose(out[:, :, 0], expected, rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(out, models.conv(x.astype(np.float64)))


def test_conv_receptive_radius_is_conv_radius():
    x = np.zeros((21, 21, 1))
    x[10, 10, 0] = 100.0
    out = models.conv(x)[:, :, 0]
    ys, xs = np.nonzero(out)
    assert ys.min() == 10 - models.CONV_RADIUS and ys.max() == 10 + models.CONV_RADIUS
    assert xs.min() == 10 - models.CONV_RADIUS and xs.max() == 10 + models.CONV_RADIUS


def test_conv_patch_with_overlap_equals_whole_image_bitwise(client):
    image = rng_image(40, 50, 3, seed=4).astype(np.float64)
    whole = models.conv_padded(image)
    r = models.CONV_RADIUS
    # Tile (1, 1) of 16x16 tiles with overlap r: input window [16-r, 32+r).
    patch = image[16 - r:32 + r, 16 - r:32 + r].astype(np.float32)
    out = one(client, "conv", [patch])
    np.testing.assert_array_equal(out[r:-r, r:-r], whole[16:32, 16:32].astype(np.float32))
    # Edge tile (0, 0): the driver sends zeros outside the raster.
    edge = np.zeros((16 + 2 * r, 16 + 2 * r, 3), np.float32)
    edge[r:, r:] = image[:16 + r, :16 + r]
    out = one(client, "conv", [edge])
    np.testing.assert_array_equal(out[r:-r, r:-r], whole[:16, :16])
    # Too little overlap does not give the same values (the test above could fail).
    small = image[16 - 1:32 + 1, 16 - 1:32 + 1].astype(np.float32)
    out = one(client, "conv", [small])
    assert not np.array_equal(out[1:-1, 1:-1], whole[16:32, 16:32])


def test_up2_and_pool2(client):
    x = np.arange(2 * 4 * 2, dtype=np.float32).reshape(2, 4, 2)
    m = x.mean(axis=2)
    up = one(client, "up2", [x])
    assert up.shape == (4, 8, 1)
    np.testing.assert_array_equal(up[::2, ::2, 0], m)
    np.testing.assert_array_equal(up[1::2, 1::2, 0], m)
    pooled = one(client, "pool2", [x])
    assert pooled.shape == (1, 2, 1)
    np.testing.assert_allclose(pooled[0, :, 0], [m[:, 0:2].mean(), m[:, 2:4].mean()])


def test_pool2_odd_size_is_400(client):
    status, _, body = client.request("/v1/projects/p/models/pool2:predict",
                                     {"instances": [{"a": tensor_b64(np.ones((3, 4, 1), np.float32))}]})
    assert status == 400 and "even" in json.loads(body)["error"]


def test_classify_two_outputs(client):
    x = np.array([[[0.0], [128.0], [255.0], [100.0]]], dtype=np.float32)  # (1,4,1)
    out = one(client, "classify", [x])
    assert set(out) == {"probs", "class"}
    probs, cls = out["probs"], out["class"]
    assert probs.shape == (1, 4, 3) and probs.dtype == np.float32
    assert cls.shape == (1, 4) and cls.dtype == np.uint8
    np.testing.assert_allclose(probs.sum(axis=2), 1.0, atol=1e-6)
    m = x[:, :, 0].astype(np.float64)
    logits = np.stack([m / 64, (255 - m) / 64, np.abs(m - 128) / 64], axis=-1)
    expected = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-6)
    assert cls.tolist() == [[1, 0, 0, 1]]  # m=128: logits 2 > 1.98 > 0
    np.testing.assert_array_equal(cls, expected.argmax(axis=-1))


def test_tilemean(client):
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    out = one(client, "tilemean", [x])
    assert out.shape == (1, 1, 1)
    assert out[0, 0, 0] == pytest.approx(5.5)


def test_batch_of_instances_one_prediction_each(client):
    xs = [rng_image(4, 4, 1, seed=s) for s in range(3)]
    result = client.predict("tilemean", [{"x": tensor_b64(x)} for x in xs])
    got = [parse_b64_tensor(p)[0][0, 0, 0] for p in result["predictions"]]
    np.testing.assert_allclose(got, [x.mean() for x in xs], rtol=1e-6)
    assert client.server.log()[-1]["n_instances"] == 3


def test_models_dict_matches_reference_functions():
    x = rng_image(6, 8, 2, seed=5).astype(np.float64)
    for name in ("identity", "ndi", "conv", "up2", "pool2", "tilemean"):
        outputs = models.MODELS[name](x)
        assert list(outputs) == ["output"]
        np.testing.assert_array_equal(outputs["output"], getattr(models, name)(x))
    ref = models.classify(x)
    outputs = models.MODELS["classify"](x)
    np.testing.assert_array_equal(outputs["probs"], ref["probs"])
    np.testing.assert_array_equal(outputs["class"], ref["class"])


# ---------------------------------------------------------------------------
# Routes


def test_vertex_and_version_routes(client):
    x = rng_image(3, 3, 1)
    vertex = client.predict("identity", [{"a": tensor_b64(x)}],
                            path="/v1/projects/123/locations/europe-west4/endpoints/identity:predict")
    np.testing.assert_array_equal(parse_b64_tensor(vertex["predictions"][0])[0], x)
    versioned = client.predict("identity", [{"a": tensor_b64(x)}],
                               path="/v1/projects/p/models/identity/versions/v3:predict")
    assert versioned["predictions"] == vertex["predictions"]
    log = client.server.log()
    assert [r["api"] for r in log] == ["vertex", "aiplatform"]
    assert log[0]["location"] == "europe-west4" and log[1]["version"] == "v3"
    assert [r["model"] for r in log] == ["identity", "identity"]


def test_unknown_model_is_google_404(client):
    status, _, body = client.request("/v1/projects/p/models/nope:predict",
                                     {"instances": [{"a": tensor_b64(np.ones((1, 1, 1), np.float32))}]})
    assert status == 404
    assert json.loads(body) == {"error": {"code": 404, "message": "model nope not found", "status": "NOT_FOUND"}}


def test_unknown_route_is_404(client):
    for method, path in (("GET", "/v1/projects/p/models/conv:predict"), ("POST", "/v3/models/conv/infer"),
                         ("GET", "/nothing")):
        status, _, body = client.request(path, body=b"{}", method=method)
        assert status == 404 and isinstance(json.loads(body)["error"], str)
    assert client.server.log() == []


# ---------------------------------------------------------------------------
# Request decoding


@pytest.mark.parametrize("alphabet", ["standard", "standard_nopad", "urlsafe", "urlsafe_nopad"])
def test_accepts_every_base64_spelling(client, alphabet):
    # Values chosen so that the base64 text holds '+'/'/' (or '-'/'_') and needs padding.
    x = np.full((1, 1, 1), np.frombuffer(b"\xfb\xff\xbf\x7f", np.float32)[0], dtype=np.float32)
    text = tensor_b64(x, alphabet=alphabet)
    assert ("=" in text) == (not alphabet.endswith("nopad"))
    out = client.predict("identity", [{"a": text}])
    np.testing.assert_array_equal(parse_b64_tensor(out["predictions"][0])[0], x)


def test_typed_fields_and_repeat_last_value_rule(client):
    x = np.arange(6, dtype=np.float32).reshape(1, 3, 2)
    out = client.predict("identity", [{"a": tensor_b64(x, mode="typed")}])
    np.testing.assert_array_equal(parse_b64_tensor(out["predictions"][0])[0], x)
    # Two values for six elements: 7, 9, 9, 9, 9, 9.
    y = np.zeros((1, 3, 2), dtype=np.uint16)
    out = client.predict("identity", [{"a": tensor_b64(y, mode="values", values=[7, 9])}])
    assert parse_b64_tensor(out["predictions"][0])[0].ravel().tolist() == [7, 9, 9, 9, 9, 9]
    # One value broadcasts; no value at all means zeros.
    out = client.predict("identity", [{"a": tensor_b64(np.zeros((2, 2, 1), np.float64), mode="values", values=[2.5])},
                                      {"a": tensor_b64(np.zeros((2, 2, 1), np.float64), mode="values", values=[])}])
    assert parse_b64_tensor(out["predictions"][0])[0].ravel().tolist() == [2.5] * 4
    assert parse_b64_tensor(out["predictions"][1])[0].ravel().tolist() == [0.0] * 4


def bad_request(client, instances_or_body):
    body = instances_or_body if isinstance(instances_or_body, bytes) else json.dumps(
        {"instances": instances_or_body}).encode()
    status, headers, raw = client.request("/v1/projects/p/models/identity:predict", body=body)
    assert status == 400, raw
    assert headers["Content-Length"] == str(len(raw))
    error = json.loads(raw)["error"]
    assert isinstance(error, str)
    return error


def test_bad_requests_are_400_with_a_reason(client):
    ok = tensor_b64(np.ones((2, 2, 1), np.float32))
    assert "not JSON" in bad_request(client, b"{not json")
    assert "instances" in bad_request(client, b'{"inputs": []}')
    assert "non-empty" in bad_request(client, [])
    assert "base64" in bad_request(client, [{"a": "@@@@"}])
    assert "TensorProto" in bad_request(client, [{"a": base64.b64encode(b"\xff\xff\xff").decode()}])
    assert "base64 string" in bad_request(client, [{"a": {"b64": ok}}])
    error = bad_request(client, [{"a": tensor_b64(np.ones((4, 4), np.float32))}])
    assert "rank 2" in error and "(H, W, C)" in error
    assert "keys" in bad_request(client, [{"a": ok}, {"b": ok}])
    # tensor_content of the wrong length
    message = pb().TensorProto()
    message.dtype = DT["float32"]
    for n in (2, 2, 1):
        message.tensor_shape.dim.add().size = n
    message.tensor_content = b"\0" * 12
    error = bad_request(client, [{"a": base64.b64encode(message.SerializeToString()).decode()}])
    assert "12 bytes" in error and "16" in error
    assert "spatial size" in bad_request(client, [{"a": ok, "b": tensor_b64(np.ones((2, 3, 1), np.float32))}])


def test_keep_alive_and_content_length(srv):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    body = json.dumps({"instances": [{"a": tensor_b64(np.ones((2, 2, 1), np.float32))}]})
    sockets = set()
    for path in ["/v1/projects/p/models/identity:predict", "/v1/projects/p/models/nope:predict",
                 "/v1/projects/p/models/identity:predict"]:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        assert response.version == 11
        assert int(response.getheader("Content-Length")) == len(raw)
        sockets.add(id(conn.sock))
    conn.close()
    assert len(sockets) == 1
    assert [r["status"] for r in srv.log()] == [200, 404, 200]


# ---------------------------------------------------------------------------
# Answer config


@pytest.mark.parametrize("style", ["standard", "standard_nopad", "urlsafe", "urlsafe_nopad"])
def test_config_b64(client, style):
    client.server.config(b64=style)
    x = np.frombuffer(bytes(range(256)) * 3, dtype=np.float32).reshape(8, 8, 3).copy()
    x[~np.isfinite(x)] = 0
    text = client.predict("identity", [{"a": tensor_b64(x)}])["predictions"][0]
    if style.startswith("standard"):
        assert "-" not in text and "_" not in text and ("+" in text or "/" in text)
    else:
        assert "+" not in text and "/" not in text and ("-" in text or "_" in text)
    if style.endswith("nopad"):
        assert "=" not in text
    else:
        assert len(text) % 4 == 0
    np.testing.assert_array_equal(parse_b64_tensor(text)[0], x)


def test_config_tensor_encoding(client):
    x = rng_image(3, 4, 1)
    client.server.config(tensor_encoding="typed")
    array, message = parse_b64_tensor(client.predict("identity", [{"a": tensor_b64(x)}])["predictions"][0])
    assert message.tensor_content == b"" and len(message.float_val) == 12
    np.testing.assert_array_equal(array, x)
    client.server.config(tensor_encoding="broadcast", out_dtype="uint8")
    constant = np.full((3, 4, 1), 7, np.float32)
    array, message = parse_b64_tensor(client.predict("identity", [{"a": tensor_b64(constant)}])["predictions"][0])
    assert message.dtype == DT["uint8"] and list(message.int_val) == [7]
    np.testing.assert_array_equal(array, constant.astype(np.uint8))
    array, message = parse_b64_tensor(client.predict("identity", [{"a": tensor_b64(x)}])["predictions"][0])
    assert len(message.int_val) == 12


@pytest.mark.parametrize("dtype", ["float64", "int32", "int64", "uint8", "int16", "uint16", "float32"])
def test_config_out_dtype(client, dtype):
    client.server.config(out_dtype=dtype)
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    array, message = parse_b64_tensor(client.predict("identity", [{"a": tensor_b64(x)}])["predictions"][0])
    assert message.dtype == DT[dtype] and array.dtype.name == dtype
    np.testing.assert_array_equal(array, x.astype(dtype))


def test_config_answer_core(client):
    x = rng_image(12, 16, 1)
    client.server.config(answer="core:2,1")
    out = one(client, "conv", [x])
    np.testing.assert_array_equal(out, models.conv(x.astype(np.float64))[1:-1, 2:-2])
    assert one(client, "up2", [x]).shape == (24 - 4, 32 - 8, 1)
    client.server.config(answer="core:4,2")
    assert one(client, "pool2", [x]).shape == (6 - 2, 8 - 4, 1)
    client.server.config(answer="core:2,1")
    both = one(client, "classify", [x])
    assert both["probs"].shape == (10, 12, 3) and both["class"].shape == (10, 12)


def test_config_single_output_object_and_output_name(client):
    x = rng_image(2, 2, 1)
    client.server.config(single_output="object")
    prediction = client.predict("conv", [{"a": tensor_b64(x)}])["predictions"][0]
    assert list(prediction) == ["output"]
    client.server.config(output_name="out")
    prediction = client.predict("conv", [{"a": tensor_b64(x)}])["predictions"][0]
    assert list(prediction) == ["out"]


def test_config_batch_dim(client):
    client.server.config(batch_dim=True)
    out = one(client, "classify", [rng_image(3, 5, 2)])
    assert out["probs"].shape == (1, 3, 5, 3) and out["class"].shape == (1, 3, 5)


def test_config_rejects_unknown_keys_and_values(srv):
    for bad in ({"b64": "base32"}, {"nope": 1}, {"answer": "core:1"}, {"out_dtype": "complex64"},
                {"batch_dim": "yes"}):
        with pytest.raises(StandInError) as e:
            srv.config(**bad)
        assert "400" in str(e.value)


def test_reset_restores_defaults(client):
    client.server.config(b64="standard", out_dtype="int32")
    client.server.fault(kind="status", status=500)
    client.server.reset()
    assert client.server.config() == {"b64": "urlsafe_nopad", "tensor_encoding": "content", "out_dtype": None,
                                      "answer": "full", "single_output": "list", "batch_dim": False,
                                      "output_name": None, "answer_layout": None, "answer_key": None,
                                      "numbers_as_strings": False, "metadata": None, "binary_extension": True, "server_version": None,
                                      "answer_mangle": None, "grpc_typed_answer": False, "grpc_example_hw": None,
                                      "google_resource": None}
    out = one(client, "identity", [np.ones((1, 1, 1), np.float32)])
    assert out.dtype == np.float32
    assert len(client.server.log()) == 1 and client.server.log()[0]["seq"] == 1


# ---------------------------------------------------------------------------
# Faults


def instance():
    return [{"a": tensor_b64(np.ones((4, 4, 1), np.float32))}]


def test_fault_status_with_retry_after_and_count(client):
    client.server.fault(kind="status", status=429, count=2, retry_after=3)
    for _ in range(2):
        status, headers, body = client.request("/v1/projects/p/models/conv:predict", {"instances": instance()})
        assert status == 429 and headers["Retry-After"] == "3"
        assert json.loads(body)["error"]["status"] == "RESOURCE_EXHAUSTED"
    client.predict("conv", instance())
    log = client.server.log()
    assert [(r["status"], r["fault"]) for r in log] == [(429, "status"), (429, "status"), (200, None)]


def test_fault_status_custom_body_and_queue_order(client):
    client.server.fault(kind="status", status=503, body="overloaded")
    client.server.fault(kind="error_body", message="model exploded")
    status, headers, body = client.request("/v1/projects/p/models/conv:predict", {"instances": instance()})
    assert status == 503 and body == b"overloaded" and "Retry-After" not in headers
    status, _, body = client.request("/v1/projects/p/models/conv:predict", {"instances": instance()})
    assert status == 200 and json.loads(body) == {"error": "model exploded"}
    assert [r["fault"] for r in client.server.log()] == ["status", "error_body"]


def test_fault_stall(client):
    client.server.fault(kind="stall", seconds=0.6)
    started = time.monotonic()
    client.predict("conv", instance())
    assert time.monotonic() - started >= 0.6
    client.predict("conv", instance())
    assert [r["fault"] for r in client.server.log()][-2:] == ["stall", None]


def test_fault_drop(client):
    client.server.fault(kind="drop")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        client.request("/v1/projects/p/models/conv:predict", {"instances": instance()})
    client.predict("conv", instance())
    assert [r["fault"] for r in client.server.log()] == ["drop", None]


def test_fault_malformed(client):
    client.server.fault(kind="malformed")
    status, _, body = client.request("/v1/projects/p/models/conv:predict", {"instances": instance()})
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)


def test_fault_wrong_shape(client):
    client.server.fault(kind="wrong_shape")
    out = one(client, "classify", [rng_image(6, 5, 1)])
    assert out["probs"].shape == (5, 4, 3) and out["class"].shape == (5, 4)
    assert one(client, "classify", [rng_image(6, 5, 1)])["class"].shape == (6, 5)


def test_fault_huge(client):
    client.server.fault(kind="huge")
    conn = http.client.HTTPConnection("127.0.0.1", client.server.port, timeout=10)
    conn.request("POST", "/v1/projects/p/models/conv:predict", body=json.dumps({"instances": instance()}))
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Content-Length") == "2000000000"
    with pytest.raises(http.client.IncompleteRead) as e:
        response.read()
    assert 0 < len(e.value.partial) < 1000000
    conn.close()
    client.predict("conv", instance())


def test_fault_rejects_unknown_kind(srv):
    with pytest.raises(StandInError):
        srv.fault(kind="meteor")
    with pytest.raises(StandInError):
        srv.fault(kind="status", count=0)


# ---------------------------------------------------------------------------
# Auth and log


def test_auth_and_redacted_log():
    with StandIn.start(token=TOKEN) as s:
        c = Client(s)
        status, _, body = c.request("/v1/projects/p/models/conv:predict", {"instances": instance()})
        assert status == 401
        assert json.loads(body) == {"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                                              "status": "UNAUTHENTICATED"}}
        status, _, _ = c.request("/v1/projects/p/models/conv:predict", {"instances": instance()},
                                 headers={"Authorization": "Bearer wrong"})
        assert status == 401
        c.predict("conv", instance(), headers={"Authorization": "Bearer " + TOKEN})
        log = s.log()
        assert [(r["status"], r["auth_ok"]) for r in log] == [(401, False), (401, False), (200, True)]
        assert log[0]["authorization"] is None
        assert log[2]["authorization"] == "Bearer s3cr\u2026"
        assert log[2]["headers"]["authorization"] == "[redacted]"
        raw = json.dumps(log)
        assert TOKEN not in raw
        with open(s.log_file) as f:
            assert TOKEN not in f.read()


def test_log_record_contents(client):
    a = rng_image(6, 7, 1, dtype=np.uint16)
    b = rng_image(6, 7, 2, dtype=np.float32)
    instances = [{"red": tensor_b64(a), "nir": tensor_b64(b)}, {"red": tensor_b64(a), "nir": tensor_b64(b)}]
    body = json.dumps({"instances": instances}).encode()
    status, _, _ = client.request("/v1/projects/p/models/identity:predict", body=body,
                                  headers={"X-Goog-User-Project": "billing"})
    assert status == 200
    (record,) = client.server.log()
    assert record["seq"] == 1 and record["method"] == "POST"
    assert record["path"] == "/v1/projects/p/models/identity:predict" and record["model"] == "identity"
    assert record["status"] == 200 and record["body_bytes"] == len(body) and record["n_instances"] == 2
    assert record["keys"] == ["red", "nir"]
    assert record["shapes"] == {"red": [6, 7, 1], "nir": [6, 7, 2]}
    assert record["dtypes"] == {"red": "uint16", "nir": "float32"}
    assert record["instance_shapes"] == [[6, 7, 1], [6, 7, 1]]
    assert record["authorization"] is None and record["auth_ok"] is True
    assert record["headers"]["x-goog-user-project"] == "billing"
    assert record["headers"]["content-type"] == "application/json"
    assert record["t_start"] <= record["t_end"] and record["fault"] is None


def test_workers_and_latency_bound_throughput():
    def burst(server, n):
        c = Client(server)
        threads = [threading.Thread(target=c.predict, args=("conv", instance())) for _ in range(n)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - started

    with StandIn.start(workers=1, latency=0.25) as s:
        assert burst(s, 4) >= 4 * 0.25 - 0.02
        assert len(s.log()) == 4
    with StandIn.start(workers=4, latency=2.0) as s:
        assert burst(s, 4) < 4 * 2.0 * 0.75   # overlapped (serial would take 8 s)


def test_latency_per_instance_holds_the_worker_and_is_logged():
    with StandIn.start(workers=1, latency=0.05, latency_per_instance=0.04) as s:
        c = Client(s)
        c.predict("conv", instance() * 5)
        c.predict("conv", instance())
        held = [r["t_worker_end"] - r["t_worker_start"] for r in s.log()]
        assert held[0] >= 0.05 + 5 * 0.04 - 0.005   # sleeps never end early
        assert held[1] >= 0.05 + 0.04 - 0.005
        for r in s.log():
            assert r["t_start"] <= r["t_worker_start"] <= r["t_worker_end"] <= r["t_end"]


def test_fail_share_is_seeded_restarts_at_reset_and_yields_to_queued_faults():
    import random

    def statuses(s, n):
        c = Client(s)
        for _ in range(n):
            c.request("/v1/projects/p/models/conv:predict", {"instances": instance()})
        return [r["status"] for r in s.log()]

    draws = random.Random(11)
    expected = [503 if draws.random() < 0.5 else 200 for _ in range(12)]
    assert 503 in expected and 200 in expected
    with StandIn.start(workers=2, fail_share=0.5, fail_seed=11) as s:
        assert statuses(s, 12) == expected
        assert all(r["t_worker_start"] is None for r in s.log() if r["status"] == 503)  # no worker held
        s.reset()
        assert statuses(s, 12) == expected
        s.renew()
        s.fault(kind="status", status=429, count=2)   # the queue comes first
        assert statuses(s, 14)[:2] == [429, 429]
        assert s.in_flight() == 0
    with StandIn.start(fail_share=1.0) as s:
        assert statuses(s, 3) == [503, 503, 503]


def test_fail_share_and_latency_options_are_checked(tmp_path):
    for bad in (["--fail-share", "1.5"], ["--latency-per-instance", "-1"]):
        proc = subprocess.run(["/usr/bin/python3", str(AUTOTEST_DIR / "predictor" / "server.py"),
                               "--port-file", str(tmp_path / "p")] + bad,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and bad[0] in proc.stderr


# ---------------------------------------------------------------------------
# wire.py round trips (the server's own encoder against this file's decoder)


@pytest.mark.parametrize("encoding", ["content", "typed", "broadcast"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "uint8", "int16", "uint16"])
def test_wire_encoder_agrees_with_test_decoder(encoding, dtype):
    x = (np.arange(12).reshape(2, 3, 2) * 3 % 11).astype(dtype)
    array, message = parse_b64_tensor(wire.encode_tensor_b64(x, encoding, "standard"))
    np.testing.assert_array_equal(array, x)
    assert array.dtype.name == dtype and list(array.shape) == [2, 3, 2]
    np.testing.assert_array_equal(wire.decode_tensor_b64(wire.encode_tensor_b64(x, encoding)), x)


def test_wire_half_and_bool_round_trip():
    for x in (np.array([[[1.5], [-2.0]]], np.float16), np.array([[[True], [False]]])):
        for encoding in ("content", "typed", "broadcast"):
            np.testing.assert_array_equal(wire.decode_tensor_b64(wire.encode_tensor_b64(x, encoding)), x)


def test_proto_cache_folder_is_keyed_by_proto_hash():
    folder = wire.proto_cache_dir()
    assert os.path.basename(folder).startswith("eemodel-proto-")
    assert os.path.isfile(os.path.join(folder, "tensor_pb2.py"))
