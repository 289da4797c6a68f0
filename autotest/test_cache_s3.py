"""The persistent cache on object storage (issue 14 item 4): CACHE_DIR=/vsis3/... through
GDAL's VSI, against a local S3-compatible server the test starts (the npm package s3rver,
installed at test time into the build tree, run by Debian's Node.js) on 127.0.0.1, with
AWS_S3_ENDPOINT / AWS_HTTPS=NO / AWS_VIRTUAL_HOSTING=FALSE.

Entries are uploaded create-if-absent (an entry is never rewritten), a warm bucket sends
no request, no local folder named /vsis3 is ever made, and there are no leases, size cap
or job budget there (documented)."""

import os
import pathlib
import re
import subprocess
import time

import numpy as np
import pytest
from osgeo import gdal

from conftest import BUILD_DIR, build_name, config_options

S3RVER_VERSION = "3.7.1"
START_SECONDS = 60


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    folder = BUILD_DIR / "npm-s3rver"
    script = folder / "node_modules" / "s3rver" / "bin" / "s3rver.js"
    if not script.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
                        "--prefix", str(folder), "s3rver@" + S3RVER_VERSION],
                       check=True, timeout=900, stdin=subprocess.DEVNULL)
    data = tmp_path_factory.mktemp("s3data")
    out = tmp_path_factory.mktemp("s3log") / "stdout.txt"
    with open(out, "wb") as f:
        proc = subprocess.Popen(["node", str(script), "-d", str(data), "-a", "127.0.0.1", "-p",
                                 "0", "--configure-bucket", "eem"], stdout=f,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    port = None
    deadline = time.monotonic() + START_SECONDS
    while port is None and time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", out.read_text(errors="replace"))
        port = int(m.group(1)) if m else None
        time.sleep(0.05)
    if port is None:
        proc.kill()
        raise RuntimeError("s3rver did not start: %s" % out.read_text(errors="replace"))
    options = dict(AWS_S3_ENDPOINT="127.0.0.1:%d" % port, AWS_HTTPS="NO",
                   AWS_VIRTUAL_HOSTING="FALSE", AWS_ACCESS_KEY_ID="S3RVER",
                   AWS_SECRET_ACCESS_KEY="S3RVER", CPL_VSIL_CURL_NON_CACHED="/vsis3/eem")
    try:
        yield options
    finally:
        proc.terminate()
        proc.wait(30)


def objects(prefix):
    gdal.VSICurlClearCache()
    names = gdal.ReadDirRecursive(prefix) or []
    return sorted(n for n in names if not n.endswith("/"))


def test_cache_in_a_bucket(s3, predictor, make_raster):
    rng = np.random.default_rng(30)
    src = make_raster(rng.integers(1, 255, size=(2, 80, 100)).astype(np.uint8))
    name = build_name(predictor.url, src, model="conv", tile=(32, 32),
                      cache_dir="/vsis3/eem/run1/")
    reference = gdal.Open(build_name(predictor.url, src, model="conv",
                                     tile=(32, 32))).ReadAsArray()
    predictor.reset()
    with config_options(**s3):
        ds = gdal.Open(name)
        assert np.array_equal(ds.ReadAsArray(), reference)
        cold = {k: int(v) for k, v in ds.GetMetadata("EEMODEL_STATS").items()}
        ds = None
        entries = objects("/vsis3/eem/run1")
        assert cold["TILES_PREDICTED"] == 12 and cold["CACHE_WRITES"] == 12
        assert len(entries) == 12
        assert all(re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{64}", e) for e in entries)
        assert sum(r["n_instances"] for r in predictor.log()) == 12
        predictor.reset()
        # warm: nothing sent, same pixels; nothing rewritten
        before = {e: gdal.VSIStatL("/vsis3/eem/run1/" + e).mtime for e in entries}
        ds = gdal.Open(name)
        assert np.array_equal(ds.ReadAsArray(), reference)
        warm = {k: int(v) for k, v in ds.GetMetadata("EEMODEL_STATS").items()}
        ds = None
        assert predictor.log() == []
        assert warm["TILES_FROM_CACHE"] == 12 and warm["CACHE_WRITES"] == 0
        assert {e: gdal.VSIStatL("/vsis3/eem/run1/" + e).mtime for e in entries} == before
    assert not os.path.exists("/vsis3")
    assert not pathlib.Path("vsis3").exists()


def test_a_damaged_object_is_never_served(s3, predictor, make_raster):
    rng = np.random.default_rng(31)
    src = make_raster(rng.integers(1, 255, size=(1, 32, 64)).astype(np.uint8))
    name = build_name(predictor.url, src, tile=(32, 32), cache_dir="/vsis3/eem/run2")
    with config_options(**s3):
        reference = gdal.Open(name).ReadAsArray()
        entries = objects("/vsis3/eem/run2")
        assert len(entries) == 2
        f = gdal.VSIFOpenL("/vsis3/eem/run2/" + entries[0], "wb")
        gdal.VSIFWriteL(b"EEMCACHE-not-an-entry", 1, 21, f)
        gdal.VSIFCloseL(f)
        gdal.VSICurlClearCache()
        predictor.reset()
        ds = gdal.Open(name)
        assert np.array_equal(ds.ReadAsArray(), reference)  # recomputed, not served
        assert ds.GetMetadataItem("TILES_FROM_CACHE", "EEMODEL_STATS") == "1"
        assert sum(r["n_instances"] for r in predictor.log()) == 1


def test_no_job_budget_on_object_storage(s3, predictor, make_raster):
    src = make_raster(np.ones((1, 32, 32), dtype=np.uint8))
    with config_options(**s3):
        with pytest.raises(RuntimeError) as excinfo:
            gdal.Open(build_name(predictor.url, src, tile=(32, 32), cache_dir="/vsis3/eem/r3",
                                 job_max_predictions=10))
    assert "JOB_MAX_PREDICTIONS" in str(excinfo.value)
    assert "not object storage" in str(excinfo.value)
