"""The slow start (issue 12 item 1, issue 13 item 2): until a first 2xx answer one request
is on the wire at a time, so a server that is down or a wrong model costs one request;
when the tiles known to come fill more requests than are kept in flight (2 per connection,
8 connections by default), that request carries one tile (the probe of the endpoint costs
one tile's time), the next requests are built while it is out and leave together with its
answer.  Pixels are right and no tile is predicted twice.  A model whose metadata the check
at open found needs no slow start.

No sleep and no time assertion: the order of the stand-in's records (a record is logged
before its answer leaves) and gates (barriers of requests at the stand-in) are the proofs.
"""

import math

import numpy as np
import pytest
from osgeo import gdal

from conftest import build_name, config_options

TILE = 32
PAYLOAD = 14000  # 3 tiles (4.2 kB each) per request: 27 requests for the raster, more than
                 # the 16 kept in flight


@pytest.fixture
def source(make_raster):
    """320 x 256 pixels, 3 Byte bands: 10 x 8 tiles of 32, every one sent."""
    rng = np.random.default_rng(12)
    array = rng.integers(1, 255, size=(3, 256, 320), dtype=np.uint8)
    return make_raster(array), array


def open_eem(predictor, path, read_ahead, model="identity", **kw):
    name = build_name(predictor.url, path, model=model, tile=(TILE, TILE),
                      output_bands="output:float32:3", max_payload_bytes=PAYLOAD, **kw)
    ds = gdal.OpenEx(name, gdal.OF_RASTER, open_options=["READ_AHEAD=" + read_ahead])
    assert ds is not None
    return ds


def predict_log(predictor):
    return sorted((r for r in predictor.log() if r["api"] == "aiplatform"), key=lambda r: r["seq"])


@pytest.mark.parametrize("read_ahead", ["AUTO", "NO"])
def test_wrong_model_costs_one_request_of_one_tile(predictor, source, read_ahead):
    path, _ = source
    ds = open_eem(predictor, path, read_ahead, model="missing", on_error="NODATA", nodata=-1)
    data = ds.ReadAsArray()  # 80 tiles: many requests' worth
    assert (data == -1).all()
    log = predict_log(predictor)
    assert [r["status"] for r in log] == [404]
    # the stand-in does not parse a request for a model it lacks: its body tells one tile
    # (4.2 kB here) from a request of several (8.4 kB and more)
    assert log[0]["body_bytes"] < 6000, log[0]["body_bytes"]


@pytest.mark.parametrize("read_ahead", ["AUTO", "NO"])
def test_server_error_costs_one_request_of_one_tile(predictor, source, read_ahead):
    path, _ = source
    predictor.fault(kind="status", status=500, count=1000)
    with config_options(GDAL_HTTP_MAX_RETRY="0"):
        ds = open_eem(predictor, path, read_ahead)
        with pytest.raises(RuntimeError, match=r"HTTP 500"):
            ds.ReadAsArray()
    log = predict_log(predictor)
    assert [(r["status"], r["n_instances"]) for r in log] == [(500, 1)]


@pytest.mark.parametrize("read_ahead", ["AUTO", "NO"])
def test_first_request_goes_alone_with_one_tile_then_every_tile_once(predictor, source,
                                                                     read_ahead):
    path, array = source
    ds = open_eem(predictor, path, read_ahead)
    got = ds.ReadAsArray()
    assert np.array_equal(got, array.astype(np.float32))
    log = predict_log(predictor)
    assert all(r["status"] == 200 for r in log)
    first, rest = log[0], log[1:]
    assert first["n_instances"] == 1
    # nothing else was sent before its answer: every other request reached the stand-in
    # after the first one's record was logged (which is before its answer left)
    assert rest and all(r["t_start"] >= first["t_end"] for r in rest)
    # every tile once: 80 instances, 80 distinct tiles
    digests = [d for r in log for d in r["instance_digests"]]
    assert len(digests) == 80 and len(set(digests)) == 80
    # requests: the minimum for the 79 others, plus the probe
    k = max(r["n_instances"] for r in rest)
    assert 1 < k < 80
    assert len(log) == 1 + math.ceil(79 / k), [r["n_instances"] for r in log]


@pytest.mark.parametrize("read_ahead", ["AUTO", "NO"])
def test_requests_built_meanwhile_leave_together_with_the_first_answer(predictor, source,
                                                                       read_ahead):
    """A gate of three after the first request: it opens only if three requests are in
    flight at once, i.e. the ones built during the slow start left together."""
    path, array = source
    predictor.fault(kind="gate", count=1, seconds=120)   # the first request passes
    predictor.fault(kind="gate", count=3, seconds=120)   # the next three must come together
    ds = open_eem(predictor, path, read_ahead)
    assert np.array_equal(ds.ReadAsArray(), array.astype(np.float32))
    log = predict_log(predictor)
    assert log[0]["n_instances"] == 1 and log[0]["fault"] == "gate"
    # (a record's seq is taken on arrival, its fault after its body is read: concurrent
    # requests may take the faults in another order)
    gated = [r for r in log[1:] if r["fault"] == "gate"]
    assert len(gated) == 3
    assert not any(r["error"] for r in gated), [r["error"] for r in gated]


@pytest.mark.parametrize("read_ahead", ["AUTO", "NO"])
def test_a_small_read_keeps_the_fewest_requests(predictor, source, read_ahead):
    """Two rows of tiles (20 tiles, 7 requests: fewer than kept in flight): the first
    request is full, one goes at a time until it is answered, and no request more than the
    minimum is made."""
    path, array = source
    ds = open_eem(predictor, path, read_ahead)
    assert np.array_equal(ds.ReadAsArray(0, 0, 320, 2 * TILE),
                          array[:, :2 * TILE].astype(np.float32))
    log = predict_log(predictor)
    k = log[0]["n_instances"]
    assert k == max(r["n_instances"] for r in log) > 1
    assert len(log) == math.ceil(20 / k)
    assert all(r["t_start"] >= log[0]["t_end"] for r in log[1:])


def test_after_a_first_answer_the_next_read_is_not_probed(predictor, source):
    """The slow start is once per dataset: once the endpoint answered, a later read's first
    request is full."""
    path, array = source
    ds = open_eem(predictor, path, "NO")
    assert np.array_equal(ds.ReadAsArray(0, 0, TILE, TILE), array[:, :TILE, :TILE].astype(np.float32))
    predictor.reset()
    assert np.array_equal(ds.ReadAsArray(0, TILE, 320, 224),
                          array[:, TILE:, :].astype(np.float32))
    log = predict_log(predictor)
    assert log[0]["n_instances"] > 1
    assert sum(r["n_instances"] for r in log) == 70


PAYLOAD_RAW_JSON = 53000  # TF Serving's RAW_JSON: 3 tiles (17.3 kB each) per request
METADATA = {"inputs": [{"name": "b%d" % b, "datatype": "UINT8", "shape": [-1, -1, -1, 1]}
                      for b in (1, 2, 3)],
            "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, -1, -1, 3]}]}


def tfserving_name(predictor, path):
    return ("EEMODEL:input=%s;url=%s/v1/models/identity:predict;input_tile_size=%d,%d;"
            "output_bands=output:float32:3;max_payload_bytes=%d"
            % (path, predictor.url, TILE, TILE, PAYLOAD_RAW_JSON))


@pytest.mark.parametrize("read_ahead", ["AUTO", "NO"])
def test_model_confirmed_by_its_metadata_at_open_skips_the_slow_start(predictor, source,
                                                                      read_ahead):
    """TF Serving: the metadata check at open found the model (a down server or a wrong
    model would have failed or been skipped there), so the first requests go together and
    full: a gate of three at the first three requests opens."""
    path, array = source
    predictor.config(metadata=METADATA)
    ds = gdal.OpenEx(tfserving_name(predictor, path), gdal.OF_RASTER,
                     open_options=["READ_AHEAD=" + read_ahead])
    predictor.fault(kind="gate", count=3, seconds=120)
    assert np.array_equal(ds.ReadAsArray(), array.astype(np.float32))
    log = sorted(predictor.log(), key=lambda r: r["seq"])
    assert log[0]["n_instances"] > 1
    gated = [r for r in log if r["fault"] == "gate"]
    assert len(gated) == 3
    assert not any(r["error"] for r in gated), [r["error"] for r in gated]
    digests = [d for r in log for d in r["instance_digests"]]
    assert len(digests) == 80 and len(set(digests)) == 80


def test_without_the_metadata_check_the_slow_start_probes(predictor, source):
    path, array = source
    predictor.config(metadata=METADATA)
    with config_options(EEMODEL_CHECK_METADATA="NO"):
        ds = gdal.Open(tfserving_name(predictor, path))
        assert np.array_equal(ds.ReadAsArray(), array.astype(np.float32))
    log = sorted(predictor.log(), key=lambda r: r["seq"])
    assert all(r["method"] == "POST" for r in log)
    assert log[0]["n_instances"] == 1
    assert all(r["t_start"] >= log[0]["t_end"] for r in log[1:])


def answer_one_tile(predictor, path, array):
    """A first dataset on the stand-in reads one tile (answered 2xx), then the log is cleared."""
    first = open_eem(predictor, path, "NO")
    assert np.array_equal(first.ReadAsArray(0, 0, TILE, TILE),
                          array[:, :TILE, :TILE].astype(np.float32))
    first = None
    predictor.reset()


def test_an_endpoint_that_answered_in_this_process_needs_no_slow_start(predictor, source):
    """A second dataset on an endpoint that answered 2xx (another layer, a reopen) starts
    at full concurrency: a gate of three at its first three requests opens."""
    path, array = source
    answer_one_tile(predictor, path, array)
    predictor.fault(kind="gate", count=3, seconds=120)
    with config_options(EEMODEL_ANSWERED_MEMORY_S="600"):
        second = open_eem(predictor, path, "AUTO")
    assert np.array_equal(second.ReadAsArray(), array.astype(np.float32))
    log = predict_log(predictor)
    assert log[0]["n_instances"] > 1
    gated = [r for r in log if r["fault"] == "gate"]
    assert len(gated) == 3 and not any(r["error"] for r in gated), [r["error"] for r in gated]
    digests = [d for r in log for d in r["instance_digests"]]
    assert len(digests) == 80 and len(set(digests)) == 80


def test_without_the_answered_memory_a_reopen_probes_again(predictor, source):
    """EEMODEL_ANSWERED_MEMORY_S=0: an endpoint that answered earlier in this process is
    probed again by a new dataset (one tile alone first)."""
    path, array = source
    answer_one_tile(predictor, path, array)
    with config_options(EEMODEL_ANSWERED_MEMORY_S="0"):
        second = open_eem(predictor, path, "AUTO")
    assert np.array_equal(second.ReadAsArray(), array.astype(np.float32))
    log = predict_log(predictor)
    assert log[0]["n_instances"] == 1
    assert all(r["t_start"] >= log[0]["t_end"] for r in log[1:])


@pytest.mark.parametrize("value", ["abc", "-1", "inf", "10s"])
def test_a_bad_answered_memory_is_refused_at_open(predictor, source, value):
    path, _ = source
    name = build_name(predictor.url, path, tile=(TILE, TILE), output_bands="output:float32:3")
    with config_options(EEMODEL_ANSWERED_MEMORY_S=value), pytest.raises(RuntimeError) as e:
        gdal.OpenEx(name, gdal.OF_RASTER)
    text = str(e.value)
    assert "EEMODEL_ANSWERED_MEMORY_S" in text and '"%s"' % value in text and "accepted: 0" in text
    assert predictor.log() == []


# -- Google's resources: the model (AI Platform) or the endpoint (Vertex AI) at open --------


def google_name(predictor, path, backend, model="identity", **kw):
    return build_name(predictor.url, path, model=model, tile=(TILE, TILE), backend=backend,
                      output_bands="output:float32:3", max_payload_bytes=PAYLOAD, **kw)


@pytest.mark.parametrize("backend", ["aiplatform", "vertex"])
def test_a_google_resource_that_shows_the_model_serving_skips_the_slow_start(predictor, source,
                                                                             backend):
    """GET of the model (AI Platform, its default version READY) or of the endpoint (Vertex
    AI, a model deployed) at open: the first requests go together and full, a gate of three
    at the first three requests opens."""
    path, array = source
    predictor.config(google_resource="ready")
    ds = gdal.Open(google_name(predictor, path, backend))
    predictor.fault(kind="gate", count=3, seconds=120)
    assert np.array_equal(ds.ReadAsArray(), array.astype(np.float32))
    log = sorted(predictor.log(), key=lambda r: r["seq"])
    assert log and log[0]["n_instances"] > 1
    gated = [r for r in log if r["fault"] == "gate"]
    assert len(gated) == 3 and not any(r["error"] for r in gated), [r["error"] for r in gated]
    digests = [d for r in log for d in r["instance_digests"]]
    assert len(digests) == 80 and len(set(digests)) == 80


@pytest.mark.parametrize("backend, message", [
    ("aiplatform", r"the default version of the model is CREATING: it cannot answer predictions"),
    ("vertex", r"the endpoint has no model deployed"),
])
def test_a_google_resource_that_cannot_serve_fails_the_open_before_any_prediction(
        predictor, source, backend, message):
    path, _ = source
    predictor.config(google_resource="creating")
    with pytest.raises(RuntimeError, match=message) as e:
        gdal.Open(google_name(predictor, path, backend))
    text = str(e.value)
    assert "GET http://127.0.0.1:%d/v1/projects/p/" % predictor.port in text
    assert "EEMODEL_CHECK_METADATA=NO" in text
    assert predictor.log() == []  # no prediction request


def test_a_named_version_that_is_not_ready_fails_the_open(predictor, source):
    path, _ = source
    predictor.config(google_resource="creating")
    with pytest.raises(RuntimeError, match=r"the model version is CREATING: it cannot answer"):
        gdal.Open(google_name(predictor, path, "aiplatform", version="v7"))
    assert predictor.log() == []


@pytest.mark.parametrize("mode", ["forbidden", None])
def test_a_google_resource_that_cannot_be_read_keeps_the_slow_start_in_silence(predictor, source,
                                                                               mode):
    """403 (a role that may predict but not read the model) or no such route (a gateway, a
    dedicated endpoint's host): no warning, the open works, and the first read probes with
    one tile alone."""
    path, array = source
    predictor.config(google_resource=mode)
    gdal.ErrorReset()
    ds = gdal.Open(google_name(predictor, path, "vertex"))
    assert gdal.GetLastErrorMsg() == ""
    assert np.array_equal(ds.ReadAsArray(), array.astype(np.float32))
    log = sorted(predictor.log(), key=lambda r: r["seq"])
    assert log[0]["n_instances"] == 1
    assert all(r["t_start"] >= log[0]["t_end"] for r in log[1:])


@pytest.mark.parametrize("backend", ["aiplatform", "vertex"])
def test_a_google_404_leaves_the_wrong_name_to_the_read(predictor, source, backend):
    """Google's 404 NOT_FOUND for the resource does not fail the open (a host that serves
    only predictions answers 404 too): the open works in silence, and the read reports the
    predict URL's own 404 after one request of one tile."""
    path, _ = source
    predictor.config(google_resource="ready")
    gdal.ErrorReset()
    ds = gdal.Open(google_name(predictor, path, backend, model="missing"))
    assert gdal.GetLastErrorMsg() == ""
    with config_options(GDAL_HTTP_MAX_RETRY="0"), pytest.raises(RuntimeError, match=r"HTTP 404"):
        ds.ReadAsArray()
    log = sorted(predictor.log(), key=lambda r: r["seq"])
    assert [r["status"] for r in log] == [404]
    assert log[0]["body_bytes"] < 6000, log[0]["body_bytes"]  # one tile


def test_without_the_metadata_check_a_google_resource_is_not_read(predictor, source):
    """EEMODEL_CHECK_METADATA=NO: an endpoint with nothing deployed opens (the read fails)."""
    path, _ = source
    predictor.config(google_resource="creating")
    with config_options(EEMODEL_CHECK_METADATA="NO"):
        ds = gdal.Open(google_name(predictor, path, "vertex"))
    assert ds is not None
    assert predictor.log() == []


def test_an_endpoint_that_answered_lately_is_not_asked_for_its_resource_again(predictor, source):
    """A new dataset on a Google endpoint that answered 2xx in this process lately (QGIS's
    dataset per render thread, gdal_translate's second open) skips the resource GET: the
    endpoint showed it serves.  The resource now says nothing is deployed; only a reopen
    without the answered memory reads it (and fails)."""
    path, array = source
    predictor.config(google_resource="ready")
    with config_options(EEMODEL_ANSWERED_MEMORY_S="600"):
        first = gdal.Open(google_name(predictor, path, "vertex"))
        assert np.array_equal(first.ReadAsArray(), array.astype(np.float32))
        predictor.config(google_resource="creating")
        second = gdal.Open(google_name(predictor, path, "vertex"))
        assert np.array_equal(second.ReadAsArray(0, 0, TILE, TILE),
                              array[:, :TILE, :TILE].astype(np.float32))
    with config_options(EEMODEL_ANSWERED_MEMORY_S="0"), \
            pytest.raises(RuntimeError, match=r"the endpoint has no model deployed"):
        gdal.Open(google_name(predictor, path, "vertex"))
