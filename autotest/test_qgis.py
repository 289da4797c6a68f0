"""EEMODEL in QGIS 3.22 (Debian's qgis + python3-qgis), headless.

QGIS runs in a subprocess (QT_QPA_PLATFORM=offscreen, GDAL_DRIVER_PATH pointing at the
build) that opens an `EEMODEL:` name and a `.eemodel.json` file as
QgsRasterLayer(uri, name, "gdal") with open options through `|option:KEY=VALUE`, renders
each layer with a single-band gray renderer of fixed min/max at full resolution and
zoomed out (QgsMapRendererSequentialJob into a QImage saved as PNG), and reports what it
saw.  The pictures are then compared with predictions read through osgeo.gdal at the
same extent and size: gray = (value - min) / (max - min) * 255.
"""

import json
import os
import subprocess
import sys

import numpy as np
from osgeo import gdal

SIZE = 256   # raster size: 16 tiles of 64 at full resolution
TILE = 64
ZOOM_OUT = 4  # the zoomed-out picture is SIZE / 4: overview 2, one tile

RENDER_SCRIPT = r'''
import json, os, sys
from qgis.core import (QgsApplication, QgsContrastEnhancement, QgsMapRendererSequentialJob,
                       QgsMapSettings, QgsRasterLayer, QgsSingleBandGrayRenderer)
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

job = json.load(open(sys.argv[1]))
app = QgsApplication([], False)
app.initQgis()
report = {}
layers = []
for layer_spec in job["layers"]:
    layer = QgsRasterLayer(layer_spec["uri"], layer_spec["name"], "gdal")
    layers.append(layer)
    entry = {"valid": layer.isValid(), "error": layer.error().message()}
    report[layer_spec["name"]] = entry
    if not layer.isValid():
        continue
    provider = layer.dataProvider()
    entry["size"] = [layer.width(), layer.height()]
    entry["bands"] = layer.bandCount()
    band = layer_spec.get("band", 1)
    entry["nodata"] = provider.sourceNoDataValue(1) if provider.sourceHasNoDataValue(1) else None
    entry["band_nodata"] = [provider.sourceNoDataValue(b) if provider.sourceHasNoDataValue(b)
                            else None for b in range(1, layer.bandCount() + 1)]
    entry["extent"] = [layer.extent().xMinimum(), layer.extent().yMinimum(),
                       layer.extent().xMaximum(), layer.extent().yMaximum()]
    renderer = QgsSingleBandGrayRenderer(provider, band)
    ce = QgsContrastEnhancement(provider.dataType(band))
    ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
    ce.setMinimumValue(job["min"])
    ce.setMaximumValue(job["max"])
    renderer.setContrastEnhancement(ce)
    layer.setRenderer(renderer)
    for size in job["sizes"]:
        settings = QgsMapSettings()
        settings.setLayers([layer])
        settings.setDestinationCrs(layer.crs())
        settings.setOutputSize(QSize(size, size))
        settings.setExtent(layer.extent())
        settings.setBackgroundColor(QColor(255, 0, 0))
        render = QgsMapRendererSequentialJob(settings)
        render.start()
        render.waitForFinished()
        path = os.path.join(job["out"], "%s_%d.png" % (layer_spec["name"], size))
        render.renderedImage().save(path, "PNG")
        entry["rendered_%d" % size] = path
        e = settings.visibleExtent()
        entry["visible_%d" % size] = [e.xMinimum(), e.yMinimum(), e.xMaximum(), e.yMaximum()]
    stats = provider.bandStatistics(band)
    entry["stats"] = [stats.minimumValue, stats.maximumValue]
with open(job["report"], "w") as f:
    json.dump(report, f)
# The layers are in no project, so their datasets are still open when exitQgis()
# tears GDAL down: GDALDestroyDriverManager() deletes them, and EEMODEL must
# close its source there once (it used to crash).  They go to C++ first so that
# Python's own teardown, after exitQgis(), does not close them again (a QGIS rule
# that holds for GeoTIFF layers too).
for layer in layers:
    sip.transferto(layer, None)
app.exitQgis()
'''


def run_qgis(tmp_path, layers, sizes, vmin, vmax, env):
    job = {"layers": layers, "sizes": sizes, "min": vmin, "max": vmax, "out": str(tmp_path),
           "report": str(tmp_path / "report.json")}
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "render.py").write_text(RENDER_SCRIPT)
    env = dict(env)
    env["QT_QPA_PLATFORM"] = "offscreen"
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    env["HOME"] = str(tmp_path)  # QGIS writes its profile under $HOME
    proc = subprocess.run([sys.executable, str(tmp_path / "render.py"), str(tmp_path / "job.json")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    # a normal exit through exitQgis(): a crash at GDAL's teardown shows here
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    return json.loads((tmp_path / "report.json").read_text())


def gray_of_png(path):
    ds = gdal.Open(path)
    rgb = ds.ReadAsArray()[:3].astype(int)
    assert np.array_equal(rgb[0], rgb[1]) and np.array_equal(rgb[1], rgb[2]), "not gray"
    return rgb[0]


def expected_gray(values, vmin, vmax):
    return np.clip((values.astype(np.float64) - vmin) / (vmax - vmin) * 255.0, 0, 255)


def test_qgis_renders_full_resolution_and_zoomed_out(predictor, eem_name, make_raster,
                                                     subprocess_env, tmp_path):
    rng = np.random.default_rng(130)
    src = make_raster(rng.integers(0, 200, size=(SIZE, SIZE)).astype(np.uint8), name="scene.tif")
    name = eem_name(src, model="identity", tile=(TILE, TILE), output_bands="output:float32")
    descriptor = tmp_path / "model.eemodel.json"
    descriptor.write_text(json.dumps({
        "input": "scene.tif", "apiRoot": predictor.url, "projectId": "p",
        "modelName": "identity", "inputTileSize": [TILE, TILE],
        "outputBands": {"output": {"type": "float32"}}, "maxPredictions": 1}))
    # the JSON file alone allows one prediction per read: the |option: raises it
    layers = [{"name": "inline", "uri": name},
              {"name": "json", "uri": str(descriptor) + "|option:MAX_PREDICTIONS=64"
                                                        "|option:NODATA=-5"}]
    vmin, vmax = 0.0, 255.0
    out = tmp_path / "qgis"
    out.mkdir()
    report = run_qgis(out, layers, [SIZE, SIZE // ZOOM_OUT], vmin, vmax, subprocess_env)

    ds = gdal.Open(name)
    full = ds.GetRasterBand(1).ReadAsArray()
    zoomed = ds.GetRasterBand(1).ReadAsArray(buf_xsize=SIZE // ZOOM_OUT,
                                             buf_ysize=SIZE // ZOOM_OUT)
    # zoomed out = the model on the input coarsened by 4 (overview 2; the uint8 input is
    # averaged by GDAL into uint8, hence the rounding)
    assert np.abs(zoomed - full.reshape(64, 4, 64, 4).mean(axis=(1, 3))).max() <= 0.5
    for layer in ("inline", "json"):
        entry = report[layer]
        assert entry["valid"], entry["error"]
        # nothing can be masked (a source without nodata, ON_ERROR=FAIL): the bands say
        # GMF_ALL_VALID and QGIS shows no mask band as an extra alpha band
        assert ds.GetRasterBand(1).GetMaskFlags() == gdal.GMF_ALL_VALID
        assert entry["size"] == [SIZE, SIZE] and entry["bands"] == 1, entry
        gt = ds.GetGeoTransform()
        assert np.allclose(entry["visible_%d" % SIZE],
                           [gt[0], gt[3] + SIZE * gt[5], gt[0] + SIZE * gt[1], gt[3]])
        got_full = gray_of_png(entry["rendered_%d" % SIZE])
        want_full = expected_gray(full, vmin, vmax)
        assert got_full.shape == (SIZE, SIZE)
        assert np.abs(got_full - want_full).max() <= 1, layer
        got_zoom = gray_of_png(entry["rendered_%d" % (SIZE // ZOOM_OUT)])
        want_zoom = expected_gray(zoomed, vmin, vmax)
        assert got_zoom.shape == (SIZE // ZOOM_OUT, SIZE // ZOOM_OUT)
        assert np.abs(got_zoom - want_zoom).max() <= 1, layer
        assert entry["stats"][0] >= 0 and entry["stats"][1] <= 255
    # float bands report NaN without NODATA
    assert report["json"]["nodata"] == -5 and np.isnan(report["inline"]["nodata"])
    # both zoom levels were predicted: full-resolution tiles and overview tiles were sent
    shapes = {tuple(r["instance_shapes"][0]) for r in predictor.log()}
    assert shapes == {(TILE, TILE, 1)}
    assert sum(r["n_instances"] for r in predictor.log()) >= 16 + 1
    # QGIS and GDAL left no side files in QGIS's cwd or named after the descriptor: the
    # statistics QGIS asked for (bandStatistics) are remembered beside the source, named
    # after it and the descriptor's digest (test_remembered_stats.py)
    leftovers = [p for p in tmp_path.rglob("*.aux.xml")]
    assert all(p.parent == tmp_path and p.name.startswith("scene.tif.eemodel-")
               for p in leftovers), leftovers
    assert not any("EEMODEL" in p.name for p in out.iterdir())


def test_qgis_docs_nodata_keeps_masked_area_masked(predictor, make_raster, subprocess_env,
                                                  tmp_path):
    """docs/eemodel.md's QGIS example (|option:NODATA=nan,nan,nan,255) on a classifier
    whose input is partly masked: the masked pixels of the class band are transparent,
    not class 0, and QGIS's statistics leave them out."""
    rng = np.random.default_rng(131)
    data = rng.integers(1, 256, size=(3, SIZE, SIZE)).astype(np.uint8)
    data[:, :, :100] = 0
    make_raster(data, name="scene.tif", nodata=0)
    descriptor = tmp_path / "landcover.eemodel.json"
    descriptor.write_text(json.dumps({
        "input": "scene.tif", "apiRoot": predictor.url, "projectId": "p",
        "modelName": "classify", "inputTileSize": [TILE, TILE],
        "outputBands": {"probs": {"type": "float32", "dimensions": 1,
                                  "names": ["bright", "dark", "mid"]},
                        "class": {"type": "uint8"}}}))
    uri = str(descriptor) + "|option:MAX_PREDICTIONS=4096|option:NODATA=nan,nan,nan,255"
    out = tmp_path / "qgis"
    out.mkdir()
    report = run_qgis(out, [{"name": "class", "uri": uri, "band": 4}], [SIZE], 0.0, 2.0,
                      subprocess_env)
    entry = report["class"]
    assert entry["valid"], entry["error"]
    assert np.isnan(entry["band_nodata"][0]) and entry["band_nodata"][3] == 255
    rgb = gdal.Open(entry["rendered_%d" % SIZE]).ReadAsArray()[:3].astype(int)
    background = (rgb[0] == 255) & (rgb[1] == 0) & (rgb[2] == 0)
    # the masked columns show the red background; the valid ones are gray
    assert background[:, :100].all()
    assert not background[:, 100:].any()
    ds = gdal.OpenEx(str(descriptor), open_options=["NODATA=nan,nan,nan,255"])
    klass = ds.GetRasterBand(4).ReadAsArray()
    assert (klass[:, :100] == 255).all()
    valid = klass[:, 100:]
    assert entry["stats"] == [float(valid.min()), float(valid.max())]
