"""The vector side (issue 16, EE predictProperties): an EEMODEL: descriptor with
OUTPUT_PROPERTIES opens as an OGR layer whose features are the source features plus
predicted fields, against the stand-in's tabular logistic regression ("logreg") in every
protocol and payload format; ogr2ogr round trips, filters applied before prediction,
types, nulls, faults, cost guard, cache, batching, descriptor errors and QGIS."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from conftest import config_options
from predictor import models

N_FEATURES = 40
OUTPUTS = "prob:float32,label:int32,scores:float32:2,positive:bool,big:int64"

BACKENDS = {
    "aiplatform": "api_root={url};project=p;model=logreg",
    "vertex": "api_root={url};endpoint=projects/p/locations/us-central1/endpoints/logreg",
    "tfserving": "url={url}/v1/models/logreg:predict",
    "kserve": "url={url}/v2/models/logreg/infer",
}


def elev_of(i):
    return i * 0.25 - 3.0


def slope_of(i):
    return (i * 7) % 11 - 5


@pytest.fixture
def points(tmp_path):
    """A GeoPackage of N_FEATURES points: elev (real), slope (integer), name (string),
    flag (boolean), hist (integer list, as a GeoJSON copy keeps it)."""
    path = str(tmp_path / "points.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    lyr = ds.CreateLayer("points", srs, ogr.wkbPoint)
    for name, t in [("elev", ogr.OFTReal), ("slope", ogr.OFTInteger), ("name", ogr.OFTString)]:
        lyr.CreateField(ogr.FieldDefn(name, t))
    flag = ogr.FieldDefn("flag", ogr.OFTInteger)
    flag.SetSubType(ogr.OFSTBoolean)
    lyr.CreateField(flag)
    for i in range(N_FEATURES):
        f = ogr.Feature(lyr.GetLayerDefn())
        f["elev"] = elev_of(i)
        f["slope"] = slope_of(i)
        f["name"] = "p%d" % i
        f["flag"] = i % 3 == 0
        f.SetGeometry(ogr.CreateGeometryFromWkt("POINT (%r %r)" % (i * 0.1, i * 0.05)))
        lyr.CreateFeature(f)
    ds = None
    return path


def name_for(url, src, backend="aiplatform", fmt=None, inputs="elev,slope", outputs=OUTPUTS, **extra):
    parts = ["input=%s" % src, BACKENDS[backend].format(url=url), "input_properties=%s" % inputs,
             "output_properties=%s" % outputs]
    if fmt:
        parts.append("payload_format=%s" % fmt)
    parts += ["%s=%s" % (k, v) for k, v in extra.items()]
    return "EEMODEL:" + ";".join(parts)


def open_layer(name):
    ds = gdal.OpenEx(name, gdal.OF_VECTOR)
    assert ds is not None, gdal.GetLastErrorMsg()
    return ds, ds.GetLayer(0)


def expected(values):
    """The stand-in's answer for one feature sent as float32 values."""
    x = np.asarray(values, dtype=np.float32).astype(np.float64)
    p, z = models.logreg_float64(x)
    label = int(z > 0)
    return {"prob": float(np.float32(p)), "label": label,
            "scores": [float(np.float32(1 - p)), float(np.float32(p))],
            "positive": label, "big": label * 2 ** 40 + 7}


def check_feature(f, i):
    want = expected([elev_of(i), slope_of(i)])
    assert f.GetFID() == i + 1
    assert f["elev"] == elev_of(i) and f["slope"] == slope_of(i) and f["name"] == "p%d" % i
    assert f.GetGeometryRef().GetX() == pytest.approx(i * 0.1)
    assert f["prob"] == pytest.approx(want["prob"], rel=1e-6)
    assert f["label"] == want["label"]
    assert f["scores"] == pytest.approx(want["scores"], rel=1e-6)
    assert f["positive"] == bool(want["positive"])
    assert f["big"] == want["big"]


# (backend, PAYLOAD_FORMAT, extra keys, EEMODEL_OIP_BINARY, log format, log layout)
MATRIX = [
    ("aiplatform", None, {}, None, "SERIALIZED_TF_TENSORS", "row"),
    ("aiplatform", "RAW_JSON", {}, None, "RAW_JSON", "row"),
    ("aiplatform", "ND_ARRAYS", {}, None, "ND_ARRAYS", "row"),
    ("vertex", None, {}, None, "SERIALIZED_TF_TENSORS", "row"),
    ("vertex", "OIP_V2", {}, None, "OIP_V2", "columnar"),
    ("tfserving", None, {}, None, "RAW_JSON", "row"),
    ("tfserving", "SERIALIZED_TF_TENSORS", {"request_layout": "columnar"}, None,
     "SERIALIZED_TF_TENSORS", "columnar"),
    ("tfserving", "ND_ARRAYS", {"request_layout": "columnar"}, None, "ND_ARRAYS", "columnar"),
    ("kserve", None, {}, None, "OIP_V2", "columnar"),
    ("kserve", None, {}, "YES", "OIP_V2", "columnar"),
]


@pytest.mark.parametrize("backend,fmt,extra,binary,log_format,layout", MATRIX,
                         ids=["%s-%s-%s%s" % (b, f or "default", "-".join(e.values()) or "plain",
                                              "-bin" if o else "") for b, f, e, o, _, _ in MATRIX])
def test_every_protocol_and_format_predicts_every_feature(predictor, points, backend, fmt, extra,
                                                          binary, log_format, layout):
    name = name_for(predictor.url, points, backend, fmt, **extra)
    with config_options(EEMODEL_OIP_BINARY=binary):
        ds, lyr = open_layer(name)
        assert lyr.GetName() == "points" and lyr.GetFeatureCount() == N_FEATURES
        assert lyr.GetGeomType() == ogr.wkbPoint
        assert lyr.GetSpatialRef().GetAuthorityCode(None) == "4326"
        defn = lyr.GetLayerDefn()
        types = {defn.GetFieldDefn(k).GetName(): (defn.GetFieldDefn(k).GetType(),
                                                   defn.GetFieldDefn(k).GetSubType())
                 for k in range(defn.GetFieldCount())}
        assert types["prob"] == (ogr.OFTReal, ogr.OFSTFloat32)
        assert types["label"] == (ogr.OFTInteger, ogr.OFSTNone)
        assert types["scores"][0] == ogr.OFTRealList
        assert types["positive"] == (ogr.OFTInteger, ogr.OFSTBoolean)
        assert types["big"][0] == ogr.OFTInteger64
        got = [f for f in lyr]
    assert len(got) == N_FEATURES
    for i, f in enumerate(got):
        check_feature(f, i)
    log = predictor.log()
    assert {r["format"] for r in log} == {log_format}
    assert {r["layout"] for r in log} == {layout}
    assert all(r["status"] == 200 for r in log)
    assert sum(r["n_instances"] for r in log) == N_FEATURES
    if binary:
        assert all(r["binary"] for r in log)
    if log_format != "ND_ARRAYS":
        assert all(r["keys"] == ["elev", "slope"] for r in log)
    # the first batch of a pass is small: a reader wanting a few features pays for a few
    assert log[0]["n_instances"] == 16


def test_ogr2ogr_round_trips_gpkg_and_flatgeobuf(predictor, points, tmp_path, tools):
    outputs = "prob:float64,label:int32,scores:float32:neg/pos,positive:bool"
    name = name_for(predictor.url, points, outputs=outputs)
    for driver, ext in (("GPKG", "gpkg"), ("FlatGeobuf", "fgb")):
        out = str(tmp_path / ("out." + ext))
        gdal.VectorTranslate(out, name, format=driver)
        ds = ogr.Open(out)
        lyr = ds.GetLayer(0)
        assert lyr.GetFeatureCount() == N_FEATURES
        srs = lyr.GetSpatialRef()
        assert srs is not None and srs.GetAuthorityCode(None) == "4326"
        seen = []
        for f in lyr:  # FlatGeobuf's spatial index orders features along a Hilbert curve
            i = int(f["name"][1:])
            seen.append(i)
            want = expected([elev_of(i), slope_of(i)])
            if driver == "GPKG":
                assert f.GetFID() == i + 1
            assert f["slope"] == slope_of(i) and f["elev"] == elev_of(i)
            assert f["prob"] == pytest.approx(want["prob"], rel=1e-6)
            assert f["label"] == want["label"]
            assert [f["neg"], f["pos"]] == pytest.approx(want["scores"], rel=1e-6)
            assert f["positive"] == want["positive"]
            assert f.GetGeometryRef().GetY() == pytest.approx(i * 0.05)
        assert sorted(seen) == list(range(N_FEATURES))
        ds = None
    # two full reads, 40 features each
    assert sum(r["n_instances"] for r in predictor.log()) == 2 * N_FEATURES


def test_ogrinfo_and_ogr2ogr_programs(predictor, points, tmp_path, subprocess_env):
    name = name_for(predictor.url, points)
    info = subprocess.run(["ogrinfo", "-ro", "-al", "-where", "slope = 2", name],
                          capture_output=True, text=True, env=subprocess_env, timeout=120)
    assert info.returncode == 0, info.stderr
    assert "Layer name: points" in info.stdout
    assert "prob: Real(Float32)" in info.stdout and "scores: RealList" in info.stdout
    n = sum(1 for i in range(N_FEATURES) if slope_of(i) == 2)
    assert info.stdout.count("OGRFeature(points)") == n
    out = str(tmp_path / "out.geojson")
    proc = subprocess.run(["ogr2ogr", "-f", "GeoJSON", out, name, "-spat", "0", "0", "1.05", "1"],
                          capture_output=True, text=True, env=subprocess_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.load(open(out))
    kept = [i for i in range(N_FEATURES) if i * 0.1 <= 1.05]
    assert [f["properties"]["name"] for f in doc["features"]] == ["p%d" % i for i in kept]
    for f, i in zip(doc["features"], kept):
        assert f["properties"]["scores"] == pytest.approx(expected([elev_of(i), slope_of(i)])["scores"],
                                                          rel=1e-6)


def test_filters_are_applied_before_prediction(predictor, points):
    name = name_for(predictor.url, points)
    ds, lyr = open_layer(name)
    lyr.SetAttributeFilter("slope > 0")
    want = [i for i in range(N_FEATURES) if slope_of(i) > 0]
    got = [f for f in lyr]
    assert [f.GetFID() - 1 for f in got] == want
    for f in got:
        check_feature(f, f.GetFID() - 1)
    assert sum(r["n_instances"] for r in predictor.log()) == len(want)

    predictor.reset()
    lyr.SetAttributeFilter(None)
    lyr.SetSpatialFilterRect(0.95, 0.0, 2.05, 10.0)
    want = [i for i in range(N_FEATURES) if 0.95 <= i * 0.1 <= 2.05]
    assert lyr.GetFeatureCount() == len(want)
    got = [f.GetFID() - 1 for f in lyr]
    assert got == want
    assert sum(r["n_instances"] for r in predictor.log()) == len(want)

    # a filter on a predicted field needs the predictions of every feature
    predictor.reset()
    lyr.SetSpatialFilter(None)
    assert lyr.SetAttributeFilter("label = 1") == 0
    got = [f.GetFID() - 1 for f in lyr]
    assert got == [i for i in range(N_FEATURES) if expected([elev_of(i), slope_of(i)])["label"] == 1]
    assert 0 < len(got) < N_FEATURES
    assert sum(r["n_instances"] for r in predictor.log()) == N_FEATURES

    # random read predicts that one feature
    predictor.reset()
    lyr.SetAttributeFilter(None)
    f = lyr.GetFeature(8)
    check_feature(f, 7)
    assert [r["n_instances"] for r in predictor.log()] == [1]


def test_cost_guard_counts_features_before_any_request(predictor, points):
    name = name_for(predictor.url, points, max_predictions=12)
    ds, lyr = open_layer(name)
    with gdaltest_error() as errors:
        got = [f for f in lyr]
    assert got == []
    assert "MAX_PREDICTIONS" in errors[0] and "40 features" in errors[0] and "limit of 12" in errors[0]
    assert predictor.log() == []
    lyr.SetAttributeFilter("slope >= 3")
    n = sum(1 for i in range(N_FEATURES) if slope_of(i) >= 3)
    assert n <= 12
    assert len([f for f in lyr]) == n
    assert sum(r["n_instances"] for r in predictor.log()) == n


def open_failure(name, flags=gdal.OF_VECTOR):
    """The error message of an open that must fail (with or without gdal exceptions)."""
    with gdaltest_error() as errors:
        try:
            ds = gdal.OpenEx(name, flags)
        except RuntimeError as e:
            return str(e)
    assert ds is None
    return " ".join(errors)


class gdaltest_error:
    """Collect the CPLErrors raised inside the block (quietly)."""

    def __enter__(self):
        self.messages = []

        def handler(cls, num, msg):
            if cls >= gdal.CE_Failure:
                self.messages.append(msg)

        self.handler = handler
        gdal.PushErrorHandler(handler)
        return self.messages

    def __exit__(self, *exc):
        gdal.PopErrorHandler()


def test_batches_fill_max_payload_bytes_and_output_multiplier(predictor, points):
    # one RAW_JSON instance {"elev":..,"slope":..} is about 30 bytes
    name = name_for(predictor.url, points, fmt="RAW_JSON", max_payload_bytes=1024)
    ds, lyr = open_layer(name)
    assert len([f for f in lyr]) == N_FEATURES
    log = predictor.log()
    assert all(r["body_bytes"] <= 1024 for r in log)
    assert sum(r["n_instances"] for r in log) == N_FEATURES
    plain = len(log)
    ds = None

    predictor.reset()
    name = name_for(predictor.url, points, fmt="RAW_JSON", max_payload_bytes=1024,
                    output_multiplier=4)
    ds, lyr = open_layer(name)
    assert len([f for f in lyr]) == N_FEATURES
    log = predictor.log()
    assert all(r["body_bytes"] <= 1024 // 4 for r in log)
    assert len(log) > plain
    assert sum(r["n_instances"] for r in log) == N_FEATURES


def test_persistent_cache_answers_a_second_read(predictor, points, tmp_path):
    name = name_for(predictor.url, points, cache_dir=str(tmp_path / "cache"))
    ds, lyr = open_layer(name)
    first = [(f["prob"], f["scores"], f["big"]) for f in lyr]
    assert sum(r["n_instances"] for r in predictor.log()) == N_FEATURES
    ds = None
    predictor.reset()
    ds, lyr = open_layer(name)
    second = [(f["prob"], f["scores"], f["big"]) for f in lyr]
    assert second == first
    assert predictor.log() == []


@pytest.fixture
def with_nulls(tmp_path):
    """GeoJSON points: elev null for features 2 and 5; hist an integer list of 3."""
    feats = []
    for i in range(8):
        feats.append({"type": "Feature", "id": i,
                      "geometry": {"type": "Point", "coordinates": [i, i]},
                      "properties": {"elev": None if i in (2, 5) else elev_of(i),
                                     "slope": slope_of(i), "hist": [i, i + 1, 2 * i],
                                     "txt": str(elev_of(i))}})
    path = tmp_path / "nulls.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return str(path)


@pytest.mark.parametrize("rule", ["NULL", "SKIP", "ERROR"])
def test_null_inputs_follow_null_input(predictor, with_nulls, rule):
    name = name_for(predictor.url, with_nulls, null_input=rule)
    ds, lyr = open_layer(name)
    with gdaltest_error() as errors:
        got = {f.GetFID(): f for f in lyr}
    if rule == "ERROR":
        assert "feature 2" in errors[0] and '"elev" is null' in errors[0]
        assert predictor.log() == []
        return
    assert errors == []
    sent = [i for i in range(8) if i not in (2, 5)]
    if rule == "NULL":
        assert sorted(got) == list(range(8))
        for i in (2, 5):
            assert got[i].IsFieldNull("prob") and got[i].IsFieldNull("label")
            assert got[i].IsFieldNull("scores") and got[i]["slope"] == slope_of(i)
        assert lyr.GetFeatureCount() == 8
    else:
        assert sorted(got) == sent
        assert lyr.GetFeatureCount() == len(sent)
    for i in sent:
        assert got[i]["prob"] == pytest.approx(expected([elev_of(i), slope_of(i)])["prob"], rel=1e-6)
    assert sum(r["n_instances"] for r in predictor.log()) == len(sent)


def test_list_and_numeric_string_inputs_and_input_type(predictor, with_nulls):
    name = name_for(predictor.url, with_nulls, inputs="txt,hist", input_shapes="hist:[3]",
                    input_type="hist:int32,txt:float64", null_input="SKIP")
    ds, lyr = open_layer(name)
    got = [f for f in lyr]
    assert len(got) == 8
    for f in got:
        i = f.GetFID()
        assert f["prob"] == pytest.approx(float(np.float32(models.logreg_float64(
            [elev_of(i), i, i + 1, 2 * i])[0])), rel=1e-6)
    log = predictor.log()
    assert log[0]["keys"] == ["txt", "hist"]
    assert log[0]["dtypes"] == {"txt": "float64", "hist": "int32"}
    assert log[0]["shapes"] == {"txt": [], "hist": [3]}

    # a list of another length than INPUT_SHAPES says
    name = name_for(predictor.url, with_nulls, inputs="hist", input_shapes="hist:[4]")
    ds, lyr = open_layer(name)
    with gdaltest_error() as errors:
        assert [f for f in lyr] == []
    assert 'property "hist" holds 3 value(s); it must hold 4 (INPUT_SHAPES)' in errors[0]


@pytest.mark.parametrize("backend,fmt,layout", [("aiplatform", None, None),
                                                 ("aiplatform", "RAW_JSON", None),
                                                 ("tfserving", "SERIALIZED_TF_TENSORS", "columnar"),
                                                 ("tfserving", "RAW_JSON", "columnar")])
def test_scalar_string_inputs(predictor, points, backend, fmt, layout):
    """A string field is sent as a scalar string (EE predictProperties); the stand-in's
    logreg counts a string as its length."""
    extra = {"request_layout": layout} if layout else {}
    name = name_for(predictor.url, points, backend, fmt, inputs="elev,name,slope", **extra)
    ds, lyr = open_layer(name)
    got = [f for f in lyr]
    assert len(got) == N_FEATURES
    for i, f in enumerate(got):
        want = float(np.float32(models.logreg_float64(
            [float(np.float32(elev_of(i))), len("p%d" % i), slope_of(i)])[0]))
        assert f["prob"] == pytest.approx(want, rel=1e-6)
    log = predictor.log()
    assert log[0]["keys"] == ["elev", "name", "slope"]
    assert log[0]["dtypes"]["name"] == "object"
    assert sum(r["n_instances"] for r in log) == N_FEATURES


@pytest.mark.parametrize("backend,fmt", [("aiplatform", "ND_ARRAYS"), ("kserve", None)])
def test_string_inputs_need_a_format_that_carries_strings(predictor, points, backend, fmt):
    got = open_failure(name_for(predictor.url, points, backend, fmt, inputs="elev,name"))
    assert 'INPUT_PROPERTIES: "name" is a string field' in got
    assert "INPUT_TYPE=name:float32" in got
    assert predictor.log() == []


def test_string_input_typed_as_a_number_must_hold_one(predictor, points):
    name = name_for(predictor.url, points, inputs="name", input_type="name:float32")
    ds, lyr = open_layer(name)
    with gdaltest_error() as errors:
        assert [f for f in lyr] == []
    assert 'property "name" is "p0", not a number (INPUT_TYPE gives it a numeric type)' in errors[0]
    assert predictor.log() == []


def test_faults_on_error_nodata_gives_null_fields(predictor, points):
    predictor.fault(kind="status", status=400, count=1)
    name = name_for(predictor.url, points, on_error="NODATA")
    ds, lyr = open_layer(name)
    warnings = []
    gdal.PushErrorHandler(lambda cls, num, msg: warnings.append((cls, msg)))
    try:
        got = [f for f in lyr]
    finally:
        gdal.PopErrorHandler()
    assert [c for c, _ in warnings] == [gdal.CE_Warning]
    assert "16 feature(s) of layer \"points\" have null predicted fields (ON_ERROR=NODATA)" in warnings[0][1]
    assert "400" in warnings[0][1]
    assert len(got) == N_FEATURES
    # the first request (16 features) failed: null predictions, source fields kept
    for i, f in enumerate(got):
        if i < 16:
            assert f.IsFieldNull("prob") and f.IsFieldNull("scores") and f["name"] == "p%d" % i
        else:
            check_feature(f, i)
    assert [r["status"] for r in predictor.log()] == [400, 200]


def test_faults_on_error_fail_names_the_request(predictor, points):
    predictor.fault(kind="status", status=400, count=1)
    name = name_for(predictor.url, points)
    ds, lyr = open_layer(name)
    with gdaltest_error() as errors:
        got = [f for f in lyr]
    assert got == []
    assert "prediction request for 16 feature(s) failed" in errors[0] and "400" in errors[0]


def test_faults_retried_and_malformed_answers(predictor, points):
    predictor.fault(kind="status", status=503, count=2)
    with config_options(GDAL_HTTP_RETRY_DELAY="0.01"):
        ds, lyr = open_layer(name_for(predictor.url, points, fmt="RAW_JSON"))
        got = [f for f in lyr]
    assert len(got) == N_FEATURES
    check_feature(got[0], 0)
    assert [r["status"] for r in predictor.log()][:3] == [503, 503, 200]
    predictor.reset()
    predictor.config(answer_mangle="wrong_count")
    ds, lyr = open_layer(name_for(predictor.url, points, fmt="RAW_JSON"))
    with gdaltest_error() as errors:
        assert [f for f in lyr] == []
    assert "answer from" in errors[0]


def test_wrong_output_length_is_named(predictor, points):
    ds, lyr = open_layer(name_for(predictor.url, points, outputs="scores:float32:3"))
    with gdaltest_error() as errors:
        assert [f for f in lyr] == []
    assert 'output "scores" of feature 1: the model answered 2 value(s); OUTPUT_PROPERTIES declares 3' \
        in errors[0]


def test_layer_selects_a_source_layer(predictor, points, tmp_path):
    ds = ogr.Open(points, update=1)
    other = ds.CreateLayer("other", None, ogr.wkbNone)
    other.CreateField(ogr.FieldDefn("elev", ogr.OFTReal))
    other.CreateField(ogr.FieldDefn("slope", ogr.OFTReal))
    f = ogr.Feature(other.GetLayerDefn())
    f["elev"], f["slope"] = 1.5, -2.0
    other.CreateFeature(f)
    ds = None
    vds, lyr = open_layer(name_for(predictor.url, points, layer="other"))
    assert lyr.GetName() == "other" and lyr.GetGeomType() == ogr.wkbNone
    got = [f for f in lyr]
    assert len(got) == 1 and got[0]["prob"] == pytest.approx(expected([1.5, -2.0])["prob"], rel=1e-6)
    assert 'LAYER: "nope" is not a layer of INPUT (layers: points, other)' in open_failure(name_for(predictor.url, points, layer="nope"), gdal.OF_VECTOR)


@pytest.mark.parametrize("extra,message", [
    ({"output_bands": "x:float32"}, "OUTPUT_BANDS and OUTPUT_PROPERTIES are both given"),
    ({"inputs": "elev,nope"}, 'INPUT_PROPERTIES: "nope" is not a field of layer "points"'),
    ({"outputs": "elev:float32"}, 'OUTPUT_PROPERTIES: "elev" is already a field'),
    ({"null_input": "maybe"}, 'NULL_INPUT: "maybe" is not a rule'),
    ({"output_multiplier": "0.5"}, 'OUTPUT_MULTIPLIER: "0.5" is not a number from 1'),
    ({"input_shapes": "elev:[2,2]"}, 'INPUT_SHAPES: "elev" has 2 dimensions'),
    ({"input_shapes": "zzz:[2]"}, 'INPUT_SHAPES: "zzz" is not one of INPUT_PROPERTIES'),
    ({"bands": "1"}, "BANDS applies to a raster INPUT"),
    ({"input_type": "nope:float32"}, 'INPUT_TYPE: "nope" is not one of INPUT_PROPERTIES'),
    ({"fmt": "ND_ARRAYS", "input_type": "elev:float64"}, "ND_ARRAYS sends one list per feature"),
    ({"outputs": "scores:float32:1:2"}, "OUTPUT_BANDS"),
])
def test_descriptor_errors_name_the_key(predictor, points, extra, message):
    extra = dict(extra)
    kw = {k: extra.pop(k) for k in ("inputs", "outputs", "fmt") if k in extra}
    got = open_failure(name_for(predictor.url, points, **kw, **extra))
    assert message in got, got
    assert predictor.log() == []


def test_input_properties_required_and_raster_or_vector_open(predictor, points, eem_name, rgb_byte):
    name = "EEMODEL:input=%s;api_root=%s;project=p;model=logreg;output_properties=prob:float32" % (
        points, predictor.url)
    assert "INPUT_PROPERTIES is required with OUTPUT_PROPERTIES" in open_failure(name, gdal.OF_VECTOR)
    assert "it opens as a vector layer" in open_failure(name_for(predictor.url, points), gdal.OF_RASTER)
    raster = eem_name(rgb_byte, model="identity", tile=(32, 32))
    assert "it opens as a raster" in open_failure(raster, gdal.OF_VECTOR)
    assert "LAYER applies to a vector INPUT" in open_failure(raster + ";layer=x", gdal.OF_RASTER)


def test_ee_parameter_spellings(predictor, points, tmp_path):
    """A JSON descriptor written with ee.Model.fromAiPlatformPredictor / predictProperties
    names: projectName, modelName, inputProperties, outputProperties, inputTypeOverride,
    outputMultiplier."""
    path = tmp_path / "m.eemodel.json"
    path.write_text(json.dumps({
        "input": points, "apiRoot": predictor.url, "projectName": "p", "modelName": "logreg",
        "inputProperties": ["elev", "slope"],
        "inputTypeOverride": {"slope": {"type": "PixelType", "precision": "double"}},
        "outputProperties": {"prob": {"type": "float32"},
                             "scores": {"type": "float32", "dimensions": 1, "length": 2}},
        "outputMultiplier": 2}))
    ds, lyr = open_layer(str(path))
    got = [f for f in lyr]
    assert len(got) == N_FEATURES
    assert got[3]["prob"] == pytest.approx(expected([elev_of(3), slope_of(3)])["prob"], rel=1e-6)
    log = predictor.log()
    assert log[0]["path"].endswith("/projects/p/models/logreg:predict")
    assert log[0]["dtypes"]["slope"] == "float64"
    assert "PROJECT_NAME (EE projectName) and PROJECT (EE projectId) are both given" in open_failure(name_for(predictor.url, points, project_name="q"), gdal.OF_VECTOR)


QGIS_SCRIPT = r'''
import json, sys
from qgis.core import QgsApplication, QgsVectorLayer, QgsFeatureRequest, QgsExpression
job = json.load(open(sys.argv[1]))
app = QgsApplication([], False)
app.initQgis()
layer = QgsVectorLayer(job["uri"], "predicted", "ogr")
report = {"valid": layer.isValid(), "error": layer.error().message()}
if layer.isValid():
    report["fields"] = [f.name() for f in layer.fields()]
    report["count"] = layer.featureCount()
    report["crs"] = layer.crs().authid()
    report["features"] = [{"name": f["name"], "prob": f["prob"]} for f in layer.getFeatures()]
    request = QgsFeatureRequest(QgsExpression("slope = 2"))
    report["filtered"] = [f["name"] for f in layer.getFeatures(request)]
json.dump(report, open(job["report"], "w"))
del layer
app.exitQgis()
'''


def test_qgis_opens_the_layer(predictor, points, tmp_path, subprocess_env):
    name = name_for(predictor.url, points)
    job = {"uri": name, "report": str(tmp_path / "report.json")}
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "read_layer.py").write_text(QGIS_SCRIPT)
    env = dict(subprocess_env)
    env["QT_QPA_PLATFORM"] = "offscreen"
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    env["HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, str(tmp_path / "read_layer.py"), str(tmp_path / "job.json")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["valid"], report["error"]
    assert report["crs"] == "EPSG:4326"
    assert report["count"] == N_FEATURES
    assert {"elev", "slope", "name", "prob", "label", "scores", "positive", "big"} <= set(report["fields"])
    assert [f["name"] for f in report["features"]] == ["p%d" % i for i in range(N_FEATURES)]
    for i, f in enumerate(report["features"]):
        assert f["prob"] == pytest.approx(expected([elev_of(i), slope_of(i)])["prob"], rel=1e-6)
    assert report["filtered"] == ["p%d" % i for i in range(N_FEATURES) if slope_of(i) == 2]


def test_requests_of_a_batch_are_in_flight_together(predictor, points):
    """The requests of one batch are sent over concurrent connections: the first two (the
    first batch, 16 features, needs two bodies of at most 1024 / 4 bytes) wait for one
    another at the stand-in (a barrier), so both complete only if the driver has them in
    flight at once."""
    name = name_for(predictor.url, points, fmt="RAW_JSON", max_payload_bytes=1024, output_multiplier=4)
    predictor.fault(kind="gate", count=2)
    with config_options(EEMODEL_MAX_CONNECTIONS="4"):
        ds, lyr = open_layer(name)
        got = [f for f in lyr]
    assert len(got) == N_FEATURES
    check_feature(got[20], 20)
    log = predictor.log()
    assert not any((r["error"] or "").startswith("gate broken") for r in log)
    assert all(r["body_bytes"] <= 256 for r in log)
    first_batch = [r for r in log if r.get("fault") == "gate"]
    assert len(first_batch) == 2 and sum(r["n_instances"] for r in first_batch) == 16
    assert sum(r["n_instances"] for r in log) == N_FEATURES


def test_refused_token_is_refreshed_once(predictor, points, tmp_path):
    """A 401 makes the vector side read its token again and resend the request once, as the
    raster side does; a fixed token (EEMODEL_ACCESS_TOKEN) is not sent again."""
    from conftest import TOKEN, _set_token

    token_file = tmp_path / "token.txt"
    token_file.write_text(TOKEN)
    predictor.fault(kind="status", status=401, count=1)
    _set_token(None)
    try:
        with config_options(EEMODEL_ACCESS_TOKEN_FILE=str(token_file)):
            ds, lyr = open_layer(name_for(predictor.url, points))
            got = [f for f in lyr]
            ds = None
    finally:
        _set_token(TOKEN)
    assert len(got) == N_FEATURES
    for i, f in enumerate(got):
        check_feature(f, i)
    statuses = [r["status"] for r in predictor.log()]
    assert statuses[:2] == [401, 200] and statuses.count(401) == 1, statuses

    # a fixed token cannot change: the 401 is the answer, sent once, and the error says so
    predictor.reset()
    predictor.fault(kind="status", status=401, count=1)
    ds, lyr = open_layer(name_for(predictor.url, points))
    with gdaltest_error() as errors:
        assert [f for f in lyr] == []
    assert errors and "401" in errors[0]
    assert [r["status"] for r in predictor.log()] == [401]
