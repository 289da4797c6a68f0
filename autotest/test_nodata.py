"""NODATA checked against every output band's type, NaN for float bands by default, and
statistics that leave masked pixels out for every band type (issue 12 items 2 and 3)."""

import re
import subprocess

import numpy as np
import pytest
from osgeo import gdal

CLASSIFY = "probs:float32:3,class:uint8"


def classify_name(eem_name, rgb_byte, **kw):
    return eem_name(rgb_byte, model="classify", tile=(128, 128), overlap=(8, 8),
                    output_bands=kw.pop("output_bands", CLASSIFY), **kw)


@pytest.mark.parametrize("value,band,dtype", [
    ("-1", 4, "uint8"), ("300", 4, "uint8"), ("nan", 4, "uint8"), ("2.5", 4, "uint8"),
    ("1e39", 1, "float32")])
def test_nodata_refused_for_band_type(predictor, eem_name, rgb_byte, value, band, dtype):
    with pytest.raises(RuntimeError) as info:
        gdal.Open(classify_name(eem_name, rgb_byte, nodata=value))
    message = str(info.value)
    assert "NODATA: %s is not a value of band %d" % (value, band) in message
    assert dtype in message
    assert "one value per band" in message
    assert predictor.log() == []


@pytest.mark.parametrize("value,dtype,ok", [
    ("-128", "int8", True), ("-129", "int8", False), ("65535", "uint16", True),
    ("-1", "uint16", False), ("-2147483648", "int32", True), ("4294967296", "uint32", False),
    ("-9999", "float64", True)])
def test_nodata_ranges(eem_name, rgb_byte, value, dtype, ok):
    name = eem_name(rgb_byte, model="identity", tile=(128, 128),
                    output_bands="output:%s:3" % dtype, nodata=value)
    if ok:
        ds = gdal.Open(name)
        assert ds.GetRasterBand(3).GetNoDataValue() == float(value)
    else:
        with pytest.raises(RuntimeError, match=r"band 1 \(\"output_0\", %s\)" % dtype):
            gdal.Open(name)


def test_nodata_per_band_list(eem_name, rgb_byte, tools):
    valid = tools.source_valid(rgb_byte)
    ds = gdal.Open(classify_name(eem_name, rgb_byte, nodata="nan,-1,nan,255"))
    nodata = [ds.GetRasterBand(b + 1).GetNoDataValue() for b in range(4)]
    assert np.isnan(nodata[0]) and nodata[1] == -1 and np.isnan(nodata[2]) and nodata[3] == 255
    got = [ds.GetRasterBand(b + 1).ReadAsArray() for b in range(4)]
    assert np.isnan(got[0][~valid]).all() and np.isnan(got[2][~valid]).all()
    assert (got[1][~valid] == -1).all()
    assert (got[3][~valid] == 255).all()
    assert set(np.unique(got[3][valid])) <= {0, 1, 2}


def test_nodata_list_length_checked(eem_name, rgb_byte):
    with pytest.raises(RuntimeError, match="gives 2 values for 4 output bands"):
        gdal.Open(classify_name(eem_name, rgb_byte, nodata="nan,255"))
    with pytest.raises(RuntimeError, match="NODATA: \"nan,x\" is not a number"):
        gdal.Open(classify_name(eem_name, rgb_byte, nodata="nan,x"))


def test_single_nodata_every_band_can_hold(eem_name, rgb_byte, tools):
    valid = tools.source_valid(rgb_byte)
    ds = gdal.Open(classify_name(eem_name, rgb_byte, nodata="255"))
    assert [ds.GetRasterBand(b + 1).GetNoDataValue() for b in range(4)] == [255.0] * 4
    assert (ds.GetRasterBand(4).ReadAsArray()[~valid] == 255).all()


def test_float_bands_default_to_nan(eem_name, rgb_byte, tools):
    valid = tools.source_valid(rgb_byte)
    ds = gdal.Open(classify_name(eem_name, rgb_byte))
    for b in range(3):
        band = ds.GetRasterBand(b + 1)
        assert np.isnan(band.GetNoDataValue())
        data = band.ReadAsArray()
        assert np.isnan(data[~valid]).all()
        assert not np.isnan(data[valid]).any()
    # an integer band has no safe value: no nodata, its mask tells
    klass = ds.GetRasterBand(4)
    assert klass.GetNoDataValue() is None
    assert klass.GetMaskFlags() == gdal.GMF_PER_DATASET
    assert (klass.ReadAsArray()[~valid] == 0).all()


def expected_stats(values):
    return values.min(), values.max(), values.mean(), values.std()


def parse_gdalinfo_stats(text):
    """Per band: (min, max, mean, stddev, valid percent) from gdalinfo -stats."""
    out = []
    for block in re.split(r"\nBand \d+ ", text)[1:]:
        def item(key):
            return float(re.search(r"STATISTICS_%s=(\S+)" % key, block).group(1))
        out.append((item("MINIMUM"), item("MAXIMUM"), item("MEAN"), item("STDDEV"),
                    item("VALID_PERCENT")))
    return out


def test_gdalinfo_stats_exclude_masked(predictor, eem_name, rgb_byte, tools, subprocess_env):
    valid = tools.source_valid(rgb_byte)
    name = classify_name(eem_name, rgb_byte)
    ds = gdal.Open(name)
    arrays = [ds.GetRasterBand(b + 1).ReadAsArray().astype(np.float64) for b in range(4)]
    ds = None
    result = subprocess.run(["gdalinfo", "-stats", name], env=subprocess_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert result.returncode == 0, result.stderr
    stats = parse_gdalinfo_stats(result.stdout)
    assert len(stats) == 4
    percent = 100.0 * valid.sum() / valid.size
    assert percent < 70
    for b in range(4):
        want = expected_stats(arrays[b][valid])
        np.testing.assert_allclose(stats[b][:4], want, rtol=1e-6, atol=1e-9)
        assert stats[b][4] == pytest.approx(percent, abs=0.01)
    # the class band's masked pixels (0) are not counted
    assert stats[3][2] > arrays[3].mean()


def test_integer_band_statistics_minmax_histogram(eem_name, make_raster, tools):
    rng = np.random.default_rng(31)
    data = rng.integers(5, 200, size=(1, 96, 130)).astype(np.uint8)
    data[:, 20:60, 30:90] = 0
    path = make_raster(data, nodata=0)
    valid = tools.source_valid(path)
    ds = gdal.Open(eem_name(path, model="identity", tile=(64, 64), output_bands="output:int16"))
    band = ds.GetRasterBand(1)
    assert band.GetNoDataValue() is None
    values = data[0][valid].astype(np.float64)
    got = band.ComputeStatistics(False)
    np.testing.assert_allclose(got, expected_stats(values), rtol=1e-9)
    assert band.GetMetadataItem("STATISTICS_VALID_PERCENT") == "%.4g" % (100.0 * valid.mean())
    assert band.ComputeRasterMinMax(False) == (values.min(), values.max())
    hist = band.GetHistogram(-0.5, 255.5, 256, include_out_of_range=0, approx_ok=0)
    assert hist[0] == 0
    assert hist == np.bincount(values.astype(int), minlength=256).tolist()
    # approximate statistics read the sample overview with its own mask: no zeros
    ds2 = gdal.Open(eem_name(path, model="identity", tile=(64, 64), output_bands="output:int16"))
    approx = ds2.GetRasterBand(1).ComputeStatistics(True)
    assert approx[0] >= 5


def test_all_masked_band_statistics_fail_cleanly(eem_name, make_raster):
    path = make_raster(np.zeros((1, 40, 40), dtype=np.uint8), nodata=0)
    ds = gdal.Open(eem_name(path, model="identity", tile=(32, 32), output_bands="output:uint8"))
    with pytest.raises(RuntimeError, match="every pixel of band 1 is masked"):
        ds.GetRasterBand(1).ComputeStatistics(False)


def test_docs_gdalwarp_keeps_masked_area_masked(predictor, eem_name, rgb_byte, tools, tmp_path,
                                                subprocess_env):
    """docs/eemodel.md's gdalwarp example on a model with float and integer outputs."""
    name = classify_name(eem_name, rgb_byte)
    out = str(tmp_path / "prediction_4326.tif")
    result = subprocess.run(["gdalwarp", "-q", "-t_srs", "EPSG:4326", "-ot", "Float32",
                             "-srcnodata", "None", "-dstnodata", "nan", name, out],
                            env=subprocess_env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=300)
    assert result.returncode == 0, result.stderr
    ds = gdal.Open(out)
    data = ds.ReadAsArray()
    masked = np.isnan(data[0])
    # every band is masked in the same place, and the class band keeps its classes
    for b in range(4):
        assert np.array_equal(np.isnan(data[b]), masked)
        assert np.isnan(ds.GetRasterBand(b + 1).GetNoDataValue())
    assert set(np.unique(data[3][~masked])) <= {0.0, 1.0, 2.0}
    # about as many valid pixels as the source has (reprojection changes the count a little)
    valid = tools.source_valid(rgb_byte).sum()
    assert abs((~masked).sum() - valid) < 0.1 * valid
    # the masked area is not class 0: a warp that ignored the mask would count it
    assert (data[3][~masked] == 0).sum() < 0.5 * (~masked).sum()


@pytest.mark.parametrize("url_path", ["/v1/models/m:predict", "/v2/models/m/infer"])
def test_bad_nodata_fails_before_any_request(rgb_byte, url_path):
    """A NODATA no band can hold fails the open before the model-metadata check (TF Serving,
    KServe v2) sends anything: a server of the test's own counts every request."""
    import http.server
    import threading

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = "http://127.0.0.1:%d%s" % (server.server_address[1], url_path)
        name = "EEMODEL:input=%s;url=%s;input_tile_size=64,64;output_bands=class:uint8;" \
               "nodata=-1" % (rgb_byte, url)
        with pytest.raises(RuntimeError) as info:
            gdal.Open(name)
        assert "NODATA: -1 is not a value of band 1" in str(info.value)
        assert seen == []
        # the same descriptor with a good NODATA does reach the server at open (its
        # metadata check; a 404 skips it)
        assert gdal.Open(name.replace("nodata=-1", "nodata=255")) is not None
        assert seen
    finally:
        server.shutdown()
        server.server_close()
