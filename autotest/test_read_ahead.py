"""The prediction pipeline (issue 13 item 1): predictions continue between GDAL's calls over
the window a reader announced (AdviseRead), never past it; without an announcement only
the tiles each read touches are predicted.  READ_AHEAD=AUTO|NO.  Closing or cancelling stops
the pipeline and leaves the persistent cache consistent.

Every proof of concurrency is a gate (a barrier of requests at the stand-in), never a sleep."""

import time

import numpy as np
import pytest
from osgeo import gdal

from conftest import TOKEN, build_name, config_options
from predictor.harness import StandIn

TILE = 32
CONDITION_TIMEOUT_S = 120  # a bound on waits for a condition, never a measure of speed


@pytest.fixture
def own_predictor():
    """A stand-in of this test's own: its in-flight count (GET /_inflight) holds only this
    test's requests, none held at a gate by an earlier test."""
    with StandIn.start(token=TOKEN) as server, config_options(EEMODEL_ACCESS_TOKEN=TOKEN):
        yield server


def wait_in_flight(server, at_least):
    """Wait until at least `at_least` requests are held at the stand-in; returns how many."""
    deadline = time.monotonic() + CONDITION_TIMEOUT_S
    while True:
        n = server.in_flight()
        if n >= at_least:
            return n
        assert time.monotonic() < deadline, "no request reached the stand-in"
        time.sleep(0.01)


def instances(predictor, api=None):
    return sum(r["n_instances"] for r in predictor.log() if api is None or r["api"] == api)


def tiles_touched(x, y, w, h, tile=TILE):
    return ((x + w - 1) // tile - x // tile + 1) * ((y + h - 1) // tile - y // tile + 1)


@pytest.fixture
def source(make_raster):
    """320 x 256 pixels, 3 Byte bands, no nodata: 10 x 8 tiles of 32, every one sent."""
    rng = np.random.default_rng(13)
    array = rng.integers(1, 255, size=(3, 256, 320), dtype=np.uint8)
    return make_raster(array), array


def open_eem(name, read_ahead=None):
    options = [] if read_ahead is None else ["READ_AHEAD=" + read_ahead]
    ds = gdal.OpenEx(name, gdal.OF_RASTER, open_options=options)
    assert ds is not None
    return ds


def name_of(predictor, path, **kw):
    kw.setdefault("output_bands", "output:float32:3")
    return build_name(predictor.url, path, model="identity", tile=(TILE, TILE), **kw)


@pytest.mark.parametrize("read_ahead", ["AUTO", "NO"])
def test_translate_predicts_each_tile_once(predictor, source, tmp_path, read_ahead):
    path, array = source
    out = tmp_path / "out.tif"
    # a budget of exactly the raster: tiles in the pipeline's hands are paid for once
    ds = open_eem(name_of(predictor, path, max_predictions=80), read_ahead)
    gdal.Translate(str(out), ds)
    ds = None
    assert instances(predictor) == 80  # every tile once: none predicted and never read
    got = gdal.Open(str(out)).ReadAsArray()
    assert np.array_equal(got, array.astype(np.float32))


@pytest.mark.parametrize("read_ahead", ["AUTO", "NO"])
def test_srcwin_predicts_only_its_window(predictor, source, tmp_path, read_ahead):
    """A misaligned -srcwin: the tiles it touches, not one more (was 121 for 64)."""
    path, array = source
    out = tmp_path / "win.tif"
    ds = open_eem(name_of(predictor, path), read_ahead)
    gdal.Translate(str(out), ds, srcWin=[45, 20, 150, 100])
    ds = None
    assert instances(predictor) == tiles_touched(45, 20, 150, 100) == 6 * 4
    got = gdal.Open(str(out)).ReadAsArray()
    assert np.array_equal(got, array[:, 20:120, 45:195].astype(np.float32))


@pytest.mark.parametrize("announce", [False, True])
def test_strip_reader_of_a_chunk(predictor, source, announce):
    """A task reading its chunk as strips (was: the sequential scan predicted on to the
    bottom of the raster).  With or without AdviseRead of the chunk, only its tiles."""
    path, array = source
    ds = open_eem(name_of(predictor, path))
    x, y, w, h = 40, 36, 160, 128
    if announce:
        assert ds.AdviseRead(x, y, w, h) == gdal.CE_None
    for top in range(y, y + h, 16):
        got = ds.ReadAsArray(x, top, w, 16)
        assert np.array_equal(got, array[:, top:top + 16, x:x + w].astype(np.float32))
    assert instances(predictor) == tiles_touched(x, y, w, h) == 6 * 5


def test_chunked_reads_like_rioxarray(predictor, source):
    """Chunks not aligned on tiles (dask/rioxarray), read band by band: each tile once."""
    path, array = source
    ds = open_eem(name_of(predictor, path))
    for y in range(0, 256, 100):
        for x in range(0, 320, 100):
            w, h = min(100, 320 - x), min(100, 256 - y)
            for b in range(3):
                got = ds.GetRasterBand(b + 1).ReadAsArray(x, y, w, h)
                assert np.array_equal(got, array[b, y:y + h, x:x + w].astype(np.float32))
    assert instances(predictor) == 80


def test_predictions_continue_between_reads(predictor, source, make_raster):
    """After AdviseRead the pipeline predicts while the reader makes no call: a gate of two
    requests opens only when a request of another dataset (read here, while the announcing
    dataset is left alone) meets one of the pipeline's."""
    path, array = source
    ds = open_eem(name_of(predictor, path))
    other = open_eem(build_name(predictor.url, make_raster(np.ones((1, 32, 32), np.uint8)),
                                model="identity", tile=(TILE, TILE), output_bands="output:float32",
                                backend="vertex"), "NO")
    predictor.fault(kind="gate", count=2, seconds=120)
    assert ds.AdviseRead(0, 0, 320, 256) == gdal.CE_None  # announces; sends nothing itself
    assert np.array_equal(other.ReadAsArray(), np.ones((32, 32), np.float32))
    # our request passed the gate, so another met it there: the pipeline's (until a first
    # answer the driver sends one request at a time, so it took the other place)
    ours = [r for r in predictor.log() if r["api"] == "vertex"]
    assert len(ours) == 1 and ours[0]["fault"] == "gate" and not ours[0]["error"], ours
    # the reads then take what the pipeline predicted: every tile once, right pixels
    assert np.array_equal(ds.ReadAsArray(), array.astype(np.float32))
    assert instances(predictor, "aiplatform") == 80


def test_read_ahead_stays_in_the_budget(predictor, source):
    """Read-ahead never predicts what the cost guard would refuse."""
    path, array = source
    ds = open_eem(name_of(predictor, path, max_predictions=30))
    assert ds.AdviseRead(0, 0, 320, 96) == gdal.CE_None  # 30 tiles: the whole budget
    assert np.array_equal(ds.ReadAsArray(0, 0, 320, 32), array[:, :32].astype(np.float32))
    with pytest.raises(RuntimeError, match="MAX_PREDICTIONS=30"):
        ds.ReadAsArray(0, 96, 320, 32)
    assert np.array_equal(ds.ReadAsArray(0, 0, 320, 96), array[:, :96].astype(np.float32))
    assert instances(predictor) == 30
    # an announcement over the budget is refused before anything is sent
    predictor.reset()
    ds = open_eem(name_of(predictor, path, max_predictions=30))
    assert ds.AdviseRead(0, 0, 320, 256) != gdal.CE_None
    assert instances(predictor) == 0


def test_read_ahead_option_values(predictor, source):
    path, _ = source
    # the key and the config option accept the same two words, YES neither, and say so alike
    accepted = (r"is not a read-ahead mode; accepted: AUTO \(predict the window a reader "
                r"announces ahead of its reads\) or NO \(only what each read needs\)")
    for value in ("SOMETIMES", "YES"):
        with pytest.raises(RuntimeError, match=r'READ_AHEAD: "%s" %s' % (value, accepted)):
            gdal.OpenEx(name_of(predictor, path), gdal.OF_RASTER,
                        open_options=["READ_AHEAD=" + value])
        with config_options(EEMODEL_READ_AHEAD=value):
            with pytest.raises(RuntimeError,
                               match=r'EEMODEL_READ_AHEAD: "%s" %s' % (value, accepted)):
                gdal.Open(name_of(predictor, path))
    assert instances(predictor) == 0
    with config_options(EEMODEL_READ_AHEAD="NO"):
        ds = open_eem(name_of(predictor, path))
        # NO: an announcement predicts nothing until a read needs it
        assert ds.AdviseRead(0, 0, 320, 256) == gdal.CE_None
        other = open_eem(build_name(predictor.url, path, model="identity", tile=(TILE, TILE),
                                    output_bands="output:float32:3", backend="vertex"), "NO")
        other.ReadAsArray(0, 0, 32, 32)  # a request of our own: the log is up to date
        assert instances(predictor, "aiplatform") == 0
        ds.ReadAsArray(0, 0, 64, 32)
        assert instances(predictor, "aiplatform") == 2


def test_cancel_stops_the_pipeline(own_predictor, source):
    """Cancelling a read stops the pipeline: nothing it had not sent yet is sent afterwards.
    One connection (EEMODEL_MAX_CONNECTIONS=1): the transport writes one request at a time,
    so once the stand-in holds that one at its gate, no other request of the pipeline is on
    the wire, and every request the stand-in sees later was sent after the cancel."""
    predictor = own_predictor
    path, array = source
    with config_options(EEMODEL_MAX_CONNECTIONS="1"):
        ds = open_eem(name_of(predictor, path))
        predictor.fault(kind="gate", count=1000, seconds=120)  # every request waits
        assert ds.AdviseRead(0, 0, 320, 256) == gdal.CE_None
        assert wait_in_flight(predictor, 1) == 1  # the pipeline's one request, held
        calls = []

        def stop(fraction, message, data):
            calls.append(fraction)
            return 0  # cancel at once

        with pytest.raises(RuntimeError, match="interrupted"):
            ds.ReadAsArray(0, 0, 320, 64, callback=stop)
        assert calls
        # the read returned without waiting for its request: still held, nothing answered
        assert predictor.in_flight() == 1
        assert predictor.log() == []
        # a later read predicts what it needs, exactly: nothing of the cancelled work
        predictor.reset()
        assert np.array_equal(ds.ReadAsArray(0, 0, 64, 32),
                              array[:, :32, :64].astype(np.float32))
        assert instances(predictor, "aiplatform") == 2
        assert all(r["status"] == 200 for r in predictor.log())
        assert predictor.in_flight() == 1  # the abandoned one, still at the gate
        ds = None


def test_close_during_pipeline_keeps_cache_consistent(own_predictor, source, make_raster,
                                                      tmp_path):
    """Closing a dataset whose pipeline has requests held at the stand-in (GET /_inflight
    says so before the close) returns without waiting for them (they are still held after
    it); a reopen with the same cache is all hits for the tiles completed."""
    predictor = own_predictor
    path, array = source
    cache = tmp_path / "cache"
    # two tiles per request (slow start: one request at first)
    name = name_of(predictor, path, cache_dir=str(cache), max_payload_bytes=11000)
    ds = open_eem(name)
    other = open_eem(build_name(predictor.url, make_raster(np.ones((1, 32, 32), np.uint8)),
                                model="identity", tile=(TILE, TILE), output_bands="output:float32",
                                backend="vertex"), "NO")
    predictor.fault(kind="gate", count=2, seconds=120)   # the pipeline's first request + ours
    predictor.fault(kind="gate", count=1000, seconds=120)  # then every request waits
    assert ds.AdviseRead(0, 0, 320, 256) == gdal.CE_None
    other.ReadAsArray()
    # tile (0,0) was in the pipeline's first request: once read, that request is logged
    assert np.array_equal(ds.ReadAsArray(0, 0, TILE, TILE), array[:, :TILE, :TILE].astype(np.float32))
    first = [r for r in predictor.log() if r["api"] == "aiplatform"]
    assert len(first) == 1 and first[0]["status"] == 200, first
    k = first[0]["n_instances"]
    assert 1 <= k < 10
    # the first k tiles of row 0 are finished: read them (no request), then close
    assert np.array_equal(ds.ReadAsArray(0, 0, k * TILE, TILE),
                          array[:, :TILE, :k * TILE].astype(np.float32))
    # the pipeline goes on: its next requests reach the stand-in and are held at the gate
    wait_in_flight(predictor, 1)
    ds = None  # returns although requests are held at the gate ...
    assert predictor.in_flight() >= 1  # ... still held: close did not wait for their answers
    assert [r for r in predictor.log() if r["api"] == "aiplatform"] == first
    # reopen with the cache: the completed tiles are hits, the rest predicted once
    predictor.reset()
    ds = open_eem(name, "NO")
    assert np.array_equal(ds.ReadAsArray(), array.astype(np.float32))
    assert instances(predictor) == 80 - k
    assert not list(cache.rglob("*.lease")), list(cache.rglob("*.lease"))
