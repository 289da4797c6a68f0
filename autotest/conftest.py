"""pytest setup for the EEMODEL suites: plugin path, the stand-in predictor, helpers.

GDAL_DRIVER_PATH is set before osgeo is imported so that GDAL loads the plugin
from the build folder (EEM_BUILD_DIR, default <repo>/build; plugin in
<build>/gdalplugins).  A missing EEMODEL driver stops the run loudly: these suites
never skip.  PAM is left at GDAL's default on purpose (a test checks the driver
writes no .aux.xml file by itself: only explicitly computed statistics are
remembered, test_remembered_stats.py).
"""

import contextlib
import os
import pathlib
import shutil
import sys

AUTOTEST_DIR = pathlib.Path(__file__).resolve().parent
REPO_DIR = AUTOTEST_DIR.parent
if str(AUTOTEST_DIR) not in sys.path:
    sys.path.insert(0, str(AUTOTEST_DIR))

BUILD_DIR = pathlib.Path(os.environ.get("EEM_BUILD_DIR", str(REPO_DIR / "build"))).resolve()
PLUGIN_DIR = BUILD_DIR / "gdalplugins"
os.environ["GDAL_DRIVER_PATH"] = str(PLUGIN_DIR)
# A persistent prediction cache would hide requests from the request-count tests.
os.environ.pop("EEMODEL_CACHE_DIR", None)
# Credentials come only from what a test sets (issue 4): no ambient Google
# credentials, no gcloud folder, no metadata-server probe.
for _name in ("GOOGLE_APPLICATION_CREDENTIALS", "EEMODEL_ACCESS_TOKEN_FILE", "GCE_METADATA_HOST",
              "GCE_METADATA_ROOT", "GOOGLE_CLOUD_QUOTA_PROJECT"):
    os.environ.pop(_name, None)
os.environ["CLOUDSDK_CONFIG"] = "/nonexistent/eemodel-tests-gcloud"
os.environ["NO_GCE_CHECK"] = "true"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from osgeo import gdal  # noqa: E402

gdal.UseExceptions()

TOKEN = "test-token-123"
DATA_DIR = AUTOTEST_DIR / "data"
# Test modules that do not go through the driver (the stand-in's own tests).
_DRIVERLESS_MODULES = {"test_predictor_server.py"}


def _driver_missing_message():
    return ("EEMODEL driver not found: GDAL_DRIVER_PATH=%s (set EEM_BUILD_DIR to the build "
            "folder holding gdalplugins/gdal_EEMODEL.so; build with "
            "`cmake -S . -B build && cmake --build build`)" % PLUGIN_DIR)


@pytest.fixture(scope="session")
def eemodel_driver():
    """The registered EEMODEL driver; stops the whole run if it is missing."""
    driver = gdal.GetDriverByName("EEMODEL")
    if driver is None:
        pytest.exit(_driver_missing_message(), returncode=3)
    return driver


@pytest.fixture(autouse=True)
def _require_driver(request):
    if pathlib.Path(str(request.node.fspath)).name in _DRIVERLESS_MODULES:
        yield
        return
    request.getfixturevalue("eemodel_driver")
    yield


# ---------------------------------------------------------------------------
# GDAL configuration

# Every test's stand-in listens on a fresh port, which the OS may hand out again later in
# the run: the driver's process-wide memory of endpoints that answered 2xx would then skip
# the slow start of a later test that expects it.  Off in the tests' own process; the test
# of that memory turns it on for itself (GDAL programs run as subprocesses start empty).
gdal.SetConfigOption("EEMODEL_ANSWERED_MEMORY_S", "0")


@contextlib.contextmanager
def config_options(**options):
    """Set GDAL config options (None: unset) for a block, restoring the previous values."""
    old = {key: gdal.GetConfigOption(key) for key in options}
    for key, value in options.items():
        gdal.SetConfigOption(key, value)
    try:
        yield
    finally:
        for key, value in old.items():
            gdal.SetConfigOption(key, value)


class Messages:
    """Collect GDAL errors and warnings raised inside a block."""

    def __enter__(self):
        self.items = []

        def handler(level, number, text):
            self.items.append((level, text))

        self.handler = handler  # kept: GDAL holds no reference to it
        gdal.PushErrorHandler(handler)
        return self

    def __exit__(self, *exc):
        gdal.PopErrorHandler()
        return False

    def warnings(self):
        return [t for level, t in self.items if level == gdal.CE_Warning]

    def texts(self):
        return [t for level, t in self.items]


# ---------------------------------------------------------------------------
# The stand-in predictor


def _set_token(value):
    gdal.SetConfigOption("EEMODEL_ACCESS_TOKEN", value)
    if value is None:
        os.environ.pop("EEMODEL_ACCESS_TOKEN", None)
    else:
        os.environ["EEMODEL_ACCESS_TOKEN"] = value


@pytest.fixture(scope="session")
def standin():
    from predictor.harness import StandIn

    server = StandIn.start(token=TOKEN)
    _set_token(TOKEN)
    try:
        yield server
    finally:
        _set_token(None)
        server.stop()


@pytest.fixture
def predictor(standin):
    """The session's stand-in on a fresh port of this test's own, with an empty log, default
    config and no faults: requests of earlier tests still in flight never reach its log."""
    standin.renew()
    _set_token(TOKEN)
    yield standin
    _set_token(TOKEN)


@pytest.fixture
def token():
    return TOKEN


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """A session copy of autotest/data: statistics computed over the samples are remembered
    in .aux.xml files beside them, never in the source tree."""
    folder = tmp_path_factory.mktemp("data")
    for p in DATA_DIR.iterdir():
        if p.is_file() and not p.name.endswith(".aux.xml"):
            shutil.copyfile(p, folder / p.name)
    return folder


@pytest.fixture(scope="session")
def rgb_byte(data_dir):
    """791x718, 3 Byte bands, nodata 0 around the scene."""
    return str(data_dir / "RGB.byte.tif")


@pytest.fixture(scope="session")
def rgba_uint16(data_dir):
    """634x411, 4 UInt16 bands (the 4th is alpha)."""
    return str(data_dir / "RGBA.uint16.tif")


@pytest.fixture(scope="session")
def subprocess_env():
    """Environment for GDAL programs run as subprocesses."""
    env = dict(os.environ)
    env["GDAL_DRIVER_PATH"] = str(PLUGIN_DIR)
    env["EEMODEL_ACCESS_TOKEN"] = TOKEN
    env.pop("EEMODEL_CACHE_DIR", None)
    return env


# ---------------------------------------------------------------------------
# Connection strings


def build_name(server_url, input, model="identity", tile=(64, 64), overlap=None, out_tile=None,
               output_bands="output:float32", backend="aiplatform", **extra):
    """EEMODEL:... connection string.

    backend: "aiplatform" (api_root + project + model), "vertex" (api_root +
    endpoint), "url" (full AI Platform predict URL).  extra: more key=value pairs
    (None values are left out), in the order given.
    """
    parts = ["input=%s" % input]
    if backend == "aiplatform":
        parts += ["api_root=%s" % server_url, "project=p", "model=%s" % model]
    elif backend == "vertex":
        parts += ["api_root=%s" % server_url,
                  "endpoint=projects/p/locations/us-central1/endpoints/%s" % model]
    elif backend == "url":
        parts += ["url=%s/v1/projects/p/models/%s:predict" % (server_url, model)]
    else:
        raise ValueError(backend)
    parts.append("input_tile_size=%d,%d" % tuple(tile))
    if overlap is not None:
        parts.append("input_overlap_size=%d,%d" % tuple(overlap))
    if out_tile is not None:
        parts.append("output_tile_size=%d,%d" % tuple(out_tile))
    if output_bands is not None:
        parts.append("output_bands=%s" % output_bands)
    for key, value in extra.items():
        if value is not None:
            parts.append("%s=%s" % (key, value))
    return "EEMODEL:" + ";".join(parts)


@pytest.fixture
def eem_name(predictor):
    """eem_name(input, model=..., tile=(W,H), overlap=(X,Y), out_tile=(W,H), ...)."""
    def make(input, **kw):
        return build_name(predictor.url, input, **kw)
    return make


# ---------------------------------------------------------------------------
# Rasters and arrays


@pytest.fixture
def make_raster(tmp_path):
    """make_raster(array, name=None, nodata=None, gt=None, descriptions=None) -> path.

    array: (H, W) or (C, H, W) numpy array; written as a GTiff in tmp_path with the
    matching GDAL type, a UTM geotransform and EPSG:32618.
    """
    counter = [0]

    def make(array, name=None, nodata=None, gt=None, descriptions=None):
        counter[0] += 1
        return write_raster(tmp_path / (name or "src%d.tif" % counter[0]), array, nodata, gt,
                            descriptions)
    return make


def write_raster(path, array, nodata=None, gt=None, descriptions=None):
    """array ((H, W) or (C, H, W)) as a GTiff at path with the matching GDAL type, a UTM
    geotransform and EPSG:32618 (what make_raster writes); returns the path."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    bands, height, width = array.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), width, height, bands,
                                              gdal_array_type(array.dtype))
    ds.SetGeoTransform(gt or (500000.0, 30.0, 0.0, 4000000.0, 0.0, -30.0))
    ds.SetProjection("EPSG:32618")
    for b in range(bands):
        band = ds.GetRasterBand(b + 1)
        band.WriteArray(array[b])
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if descriptions:
            band.SetDescription(descriptions[b])
    ds = None
    return str(path)


def gdal_array_type(dtype):
    from osgeo import gdal_array
    return gdal_array.NumericTypeCodeToGDALTypeCode(np.dtype(dtype))


def read_hwc(path, bands=None):
    """Source pixels as float64 (H, W, C), bands 1-based in the order given."""
    ds = gdal.Open(str(path))
    bands = bands or list(range(1, ds.RasterCount + 1))
    planes = [ds.GetRasterBand(b).ReadAsArray().astype(np.float64) for b in bands]
    return np.stack(planes, axis=-1)


def source_valid(path, bands=None):
    """(H, W) bool: every selected band of the source is valid (GDAL mask 255)."""
    ds = gdal.Open(str(path))
    bands = bands or list(range(1, ds.RasterCount + 1))
    valid = np.ones((ds.RasterYSize, ds.RasterXSize), dtype=bool)
    for b in bands:
        valid &= ds.GetRasterBand(b).GetMaskBand().ReadAsArray() == 255
    return valid


def read_bands(ds):
    """All bands of ds as (bands, H, W), whatever the band count."""
    return np.stack([ds.GetRasterBand(b + 1).ReadAsArray() for b in range(ds.RasterCount)])


def zero_extended(hwc, x0, y0, w, h):
    """Window [x0, x0+w) x [y0, y0+h) of hwc with zeros outside it."""
    height, width = hwc.shape[:2]
    out = np.zeros((h, w) + hwc.shape[2:], dtype=hwc.dtype)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + w, width), min(y0 + h, height)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = hwc[sy0:sy1, sx0:sx1]
    return out


class Tools:
    read_hwc = staticmethod(read_hwc)
    source_valid = staticmethod(source_valid)
    read_bands = staticmethod(read_bands)
    zero_extended = staticmethod(zero_extended)
    build_name = staticmethod(build_name)


@pytest.fixture(scope="session")
def tools():
    return Tools
