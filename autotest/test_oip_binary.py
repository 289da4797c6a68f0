"""EEMODEL_OIP_BINARY=AUTO uses Triton's binary tensor extension wherever the
KServe v2 server accepts it (issue 12 item 7): listed in GET /v2, or accepted
by a one-time probe; JSON where the server refuses it; the verdict remembered
per server.  Each test starts its own stand-in: the verdict is remembered per
server URL for the life of the process."""

import numpy as np
import pytest
from osgeo import gdal

from conftest import config_options
from predictor.harness import StandIn


@pytest.fixture
def server():
    s = StandIn.start()
    yield s
    s.stop()


def _name(url, src, model="identity"):
    return ("EEMODEL:input=%s;url=%s/v2/models/%s/infer;input_tile_size=8,8;"
            "output_bands=output:float32:2" % (src, url, model))


def _read(name):
    ds = gdal.Open(name)
    got = ds.ReadAsArray()
    ds = None
    return got


@pytest.fixture
def src(make_raster):
    return make_raster(np.arange(2 * 16 * 24, dtype=np.uint16).reshape(2, 16, 24) % 251)


def _probe_refused_once_then_json(log):
    """The requests of a read whose probe the server refused: the probe once, then JSON
    bodies answered 200 (returned)."""
    refused = [r for r in log if r["status"] != 200]
    assert len(refused) == 1 and refused[0]["n_instances"] in (0, 1), log
    reads = [r for r in log if r["status"] == 200]
    assert reads and not any(r["binary"] for r in reads)
    return reads


def test_unlisted_but_accepted_extension_is_used_after_one_probe(server, src):
    server.config(binary_extension="unlisted")
    with config_options(EEMODEL_OIP_BINARY=None):
        got = _read(_name(server.url, src))
        again = _read(_name(server.url, src))
    assert np.array_equal(got, again)
    log = server.log()
    probes = [r for r in log if r["n_instances"] == 1 and r["binary"]]
    reads = [r for r in log if r not in probes]
    assert len(probes) == 1, log          # once per server, not per dataset
    assert reads and all(r["binary"] for r in reads) and all(r["status"] == 200 for r in reads)
    assert sum(r["n_instances"] for r in reads) == 2 * 6


def test_refused_extension_falls_back_to_json_and_is_remembered(server, src):
    server.config(binary_extension=False)
    with config_options(EEMODEL_OIP_BINARY=None):
        got = _read(_name(server.url, src))
        again = _read(_name(server.url, src))
    assert np.array_equal(got, again)
    assert np.array_equal(got[0], gdal.Open(src).GetRasterBand(1).ReadAsArray().astype(np.float32))
    _probe_refused_once_then_json(server.log())


def test_a_remembered_verdict_is_not_carried_to_another_server_version(server, src):
    """The probe's verdict is remembered per server — its URL with the name and version GET
    /v2 says — so a server replaced at the same URL (here: a new version that refuses the
    extension) is probed again instead of being sent bodies it refuses."""
    server.config(binary_extension="unlisted", server_version="1")
    with config_options(EEMODEL_OIP_BINARY=None):
        first = _read(_name(server.url, src))
    assert all(r["binary"] for r in server.log())
    server.reset()
    server.config(binary_extension=False, server_version="2")
    with config_options(EEMODEL_OIP_BINARY=None):
        second = _read(_name(server.url, src))
    assert np.array_equal(first, second)
    reads = _probe_refused_once_then_json(server.log())   # probed again
    assert sum(r["n_instances"] for r in reads) == 6


def test_a_remembered_verdict_refused_later_says_so_and_is_replaced(server, src):
    """The same server (same URL, name and version) that accepted binary bodies when probed
    refuses them now: the read fails naming why and what to do, JSON is remembered for the
    server, and a reopened dataset sends JSON without probing again."""
    server.config(binary_extension="unlisted", server_version="7")
    with config_options(EEMODEL_OIP_BINARY=None):
        first = _read(_name(server.url, src))
    server.reset()
    server.config(binary_extension=False, server_version="7")
    with config_options(EEMODEL_OIP_BINARY=None), pytest.raises(RuntimeError) as e:
        _read(_name(server.url, src))
    text = str(e.value)
    assert "refuses it now" in text and "JSON is remembered for it" in text, text
    assert "EEMODEL_OIP_BINARY=NO" in text
    refused = server.log()
    assert refused and all(r["status"] != 200 for r in refused)
    server.reset()
    server.config(binary_extension=False, server_version="7")
    with config_options(EEMODEL_OIP_BINARY=None):
        again = _read(_name(server.url, src))
    assert np.array_equal(first, again)
    log = server.log()
    assert log and all(r["status"] == 200 and not r["binary"] for r in log), log  # no probe
    assert sum(r["n_instances"] for r in log) == 6


def test_a_listing_is_not_remembered(server, src):
    """A server that listed the extension and no longer does (same URL, same version) is
    probed, not sent binary bodies on the strength of the old listing."""
    with config_options(EEMODEL_OIP_BINARY=None):
        first = _read(_name(server.url, src))
    assert server.log() and all(r["binary"] for r in server.log())
    server.reset()
    server.config(binary_extension=False)
    with config_options(EEMODEL_OIP_BINARY=None):
        second = _read(_name(server.url, src))
    assert np.array_equal(first, second)
    _probe_refused_once_then_json(server.log())


def test_listed_extension_needs_no_probe(server, src):
    with config_options(EEMODEL_OIP_BINARY=None):
        _read(_name(server.url, src))
    log = server.log()
    assert log and all(r["binary"] and r["status"] == 200 for r in log)
    assert sum(r["n_instances"] for r in log) == 6


def test_no_probe_when_forced_or_metadata_check_off(server, src):
    server.config(binary_extension="unlisted")
    for options in ({"EEMODEL_OIP_BINARY": "NO"}, {"EEMODEL_CHECK_METADATA": "NO"}):
        server.reset()
        server.config(binary_extension="unlisted")
        with config_options(**options):
            _read(_name(server.url, src))
        log = server.log()
        assert log and not any(r["binary"] for r in log)
        assert sum(r["n_instances"] for r in log) == 6
