/* test_spec.c — unit tests of the model descriptor parser (spec.c): every
 * spelling (inline, JSON file, inline JSON, open options, camelCase and
 * UPPER_SNAKE, quoting) and every rejected value, asserting that messages name
 * the key and the offending value. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cpl_minixml.h>

#include "check.h"
#include "spec.h"

#define BACKEND "api_root=http://127.0.0.1:9;project=p;model=m"
#define BASE "EEMODEL:input=scene.tif;" BACKEND ";input_tile_size=256,256;output_bands=out:float32"

static char tmpdir[256];

/* ---- helpers -------------------------------------------------------------- */

static eem_spec *parse_ok_at(const char *name, const char *const *oo, int line)
{
    eem_spec *spec = NULL;
    eem_error err;
    eem_status st = eem_spec_parse(name, oo, &spec, &err);
    if (st != EEM_OK)
        fprintf(stderr, "line %d: unexpected failure for %s: %s\n", line, name, err.msg);
    CHECK_EQ_INT(st, EEM_OK);
    return spec;
}
#define parse_ok(name, oo) parse_ok_at((name), (oo), __LINE__)

/* Parse must fail; the message must contain both needles (NULL = skip). */
static void expect_fail_at(const char *name, const char *const *oo, const char *needle1,
                           const char *needle2, int line)
{
    eem_spec *spec = (eem_spec *)1;
    eem_error err;
    eem_status st = eem_spec_parse(name, oo, &spec, &err);
    if (st == EEM_OK)
        fprintf(stderr, "line %d: %s unexpectedly parsed\n", line, name);
    CHECK_EQ_INT(st, EEM_ERR_INVALID);
    CHECK(spec == NULL);
    if (st == EEM_OK)
        eem_spec_free(spec);
    else
        CHECK_EQ_INT(err.status, st);
    if (needle1)
        CHECK_CONTAINS(err.msg, needle1);
    if (needle2)
        CHECK_CONTAINS(err.msg, needle2);
}
#define expect_fail(name, oo, n1, n2) expect_fail_at((name), (oo), (n1), (n2), __LINE__)

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* ---- valid spellings --------------------------------------------------------- */

static void test_inline_basic(void)
{
    eem_spec *s = parse_ok("EEMODEL:input=scene.tif;api_root=http://127.0.0.1:9;project=p;"
                           "model=conv;input_tile_size=256,128;input_overlap_size=16,8;"
                           "output_bands=out:float32",
                           NULL);
    if (!s)
        return;
    CHECK(strcmp(s->input, "scene.tif") == 0);
    CHECK(strcmp(s->api_root, "http://127.0.0.1:9") == 0);
    CHECK(strcmp(s->project, "p") == 0);
    CHECK(strcmp(s->model, "conv") == 0);
    CHECK(s->version == NULL);
    CHECK(strcmp(s->region, EEM_DEFAULT_REGION) == 0);
    CHECK(s->endpoint == NULL && s->url == NULL);
    CHECK_EQ_INT(s->protocol, EEM_PROTO_NONE);
    CHECK_EQ_INT(s->payload_format, EEM_PAYLOAD_NONE);
    CHECK_EQ_INT(s->max_payload_bytes, EEM_DEFAULT_MAX_PAYLOAD_BYTES);
    CHECK_EQ_INT(s->tile_w, 256);
    CHECK_EQ_INT(s->tile_h, 128);
    CHECK_EQ_INT(s->overlap_x, 16);
    CHECK_EQ_INT(s->overlap_y, 8);
    CHECK_EQ_INT(s->out_tile_w, 256);
    CHECK_EQ_INT(s->out_tile_h, 128);
    CHECK_EQ_INT(s->n_outputs, 1);
    CHECK(strcmp(s->outputs[0].name, "out") == 0);
    CHECK_EQ_INT(s->outputs[0].type, EEM_DT_FLOAT32);
    CHECK_EQ_INT(s->outputs[0].dims, 0);
    CHECK_EQ_INT(s->n_bands, 0);
    CHECK_EQ_INT(s->n_input_types, 0);
    CHECK(s->input_array == NULL);
    CHECK_EQ_INT(s->max_predictions, -1);
    CHECK_EQ_INT(s->on_error, EEM_ON_ERROR_FAIL);
    CHECK_EQ_INT(s->has_nodata, 0);
    CHECK_EQ_INT(s->fix_input_proj, 0);
    CHECK(s->resampling == NULL && s->proj == NULL && s->cache_dir == NULL && s->headers == NULL);
    CHECK_NEAR(s->scale, 0, 0);
    eem_spec_free(s);
}

static void test_inline_spellings(void)
{
    /* lowercase prefix, whitespace, camelCase, mixed case, single-number tile,
     * empty segments, '=' and ':' inside values */
    eem_spec *s = parse_ok("eemodel: Input = a b.tif ;  URL = http://h:8501/v1/models/m:predict?x=1&y=2 ;"
                           " inputTileSize = 128 ; OutputTileSize=64,32;outputBands=probs:float32:3 ;"
                           " PROTOCOL=TFServing;payloadFormat=raw_json;maxPayloadBytes=2048;;",
                           NULL);
    if (!s)
        return;
    CHECK(strcmp(s->input, "a b.tif") == 0);
    CHECK(strcmp(s->url, "http://h:8501/v1/models/m:predict?x=1&y=2") == 0);
    CHECK(s->region == NULL && s->project == NULL);
    CHECK_EQ_INT(s->tile_w, 128);
    CHECK_EQ_INT(s->tile_h, 128);
    CHECK_EQ_INT(s->out_tile_w, 64);
    CHECK_EQ_INT(s->out_tile_h, 32);
    CHECK_EQ_INT(s->protocol, EEM_PROTO_TFSERVING);
    CHECK_EQ_INT(s->payload_format, EEM_PAYLOAD_RAW_JSON);
    CHECK_EQ_INT(s->max_payload_bytes, 2048);
    CHECK_EQ_INT(s->outputs[0].dims, 1);
    CHECK_EQ_INT(s->outputs[0].length, 3);
    CHECK(s->outputs[0].names == NULL);
    eem_spec_free(s);

    /* EE names for the AI Platform backend, Vertex endpoint */
    s = parse_ok("EEMODEL:input=x.tif;projectId=proj;modelName=mod;version=v2;region=europe-west1;"
                 "inputTileSize=8,8;outputBands=o:uint8;inputTypeOverride=float64",
                 NULL);
    if (s) {
        CHECK(strcmp(s->project, "proj") == 0);
        CHECK(strcmp(s->model, "mod") == 0);
        CHECK(strcmp(s->version, "v2") == 0);
        CHECK(strcmp(s->region, "europe-west1") == 0);
        CHECK_EQ_INT(s->n_input_types, 1);
        CHECK(s->input_types[0].key == NULL);
        CHECK_EQ_INT(s->input_types[0].type, EEM_DT_FLOAT64);
        eem_spec_free(s);
    }
    s = parse_ok("EEMODEL:input=x.tif;endpoint=projects/p1/locations/us-east1/endpoints/123;"
                 "protocol=vertex;input_tile_size=8;output_bands=o:uint8",
                 NULL);
    if (s) {
        CHECK(strcmp(s->endpoint, "projects/p1/locations/us-east1/endpoints/123") == 0);
        CHECK_EQ_INT(s->protocol, EEM_PROTO_VERTEX);
        CHECK(s->region == NULL);
        eem_spec_free(s);
    }
}

static void test_quoted_values(void)
{
    eem_spec *s = parse_ok(BASE ";headers=\"X-A: 1;2, X-B: b\";"
                                "proj=GEOGCS[\"WGS 84\",DATUM[\"x\"]];"
                                "cache_dir=\"/tmp/a \\\"q\\\" b\"",
                           NULL);
    if (!s)
        return;
    CHECK(strcmp(s->headers, "X-A: 1;2, X-B: b") == 0);
    CHECK(strcmp(s->proj, "GEOGCS[\"WGS 84\",DATUM[\"x\"]]") == 0);
    CHECK(strcmp(s->cache_dir, "/tmp/a \"q\" b") == 0);
    eem_spec_free(s);
}

static void test_other_values(void)
{
    eem_spec *s = parse_ok(BASE ";bands=B4, 8 ,nir;input_array=array;input_type=B4:uint16,nir:float32;"
                                "nodata=-inf;scale=10.5;fix_input_proj=ON;resampling=Near;"
                                "max_predictions=7;on_error=nodata;cache_dir=/tmp/c;"
                                "headers=X-Api-Key: abc, Accept: a, b",
                           NULL);
    if (!s)
        return;
    CHECK_EQ_INT(s->n_bands, 3);
    CHECK(strcmp(s->bands[0].ref, "B4") == 0 && s->bands[0].key == NULL);
    CHECK(strcmp(s->bands[1].ref, "8") == 0);
    CHECK(strcmp(s->bands[2].ref, "nir") == 0);
    CHECK(strcmp(s->input_array, "array") == 0);
    CHECK_EQ_INT(s->n_input_types, 2);
    CHECK(strcmp(s->input_types[0].key, "B4") == 0);
    CHECK_EQ_INT(s->input_types[0].type, EEM_DT_UINT16);
    CHECK(strcmp(s->input_types[1].key, "nir") == 0);
    CHECK_EQ_INT(s->input_types[1].type, EEM_DT_FLOAT32);
    CHECK_EQ_INT(s->has_nodata, 1);
    CHECK(isinf(s->nodata) && s->nodata < 0);
    CHECK_NEAR(s->scale, 10.5, 0);
    CHECK_EQ_INT(s->fix_input_proj, 1);
    CHECK(strcmp(s->resampling, "nearest") == 0);
    CHECK_EQ_INT(s->max_predictions, 7);
    CHECK_EQ_INT(s->on_error, EEM_ON_ERROR_NODATA);
    CHECK(strcmp(s->cache_dir, "/tmp/c") == 0);
    CHECK(strcmp(s->headers, "X-Api-Key: abc, Accept: a, b") == 0);
    eem_spec_free(s);

    s = parse_ok(BASE ";nodata=nan;resampling=CubicSpline;fix_input_proj=0;payload_format=OIP_V2", NULL);
    if (s) {
        CHECK(isnan(s->nodata));
        CHECK(strcmp(s->resampling, "cubicspline") == 0);
        CHECK_EQ_INT(s->fix_input_proj, 0);
        CHECK_EQ_INT(s->payload_format, EEM_PAYLOAD_OIP_V2);
        eem_spec_free(s);
    }
}

static void test_outputs_and_band_names(void)
{
    eem_spec *s = parse_ok("EEMODEL:input=x.tif;" BACKEND ";input_tile_size=4;"
                           "output_bands=a:uint8, cls:float32:bare/veg/water, p:int16:2",
                           NULL);
    if (!s)
        return;
    CHECK_EQ_INT(s->n_outputs, 3);
    CHECK_EQ_INT(s->outputs[1].dims, 1);
    CHECK_EQ_INT(s->outputs[1].length, 3);
    CHECK(s->outputs[1].names && strcmp(s->outputs[1].names[2], "water") == 0);
    CHECK_EQ_INT(s->outputs[2].type, EEM_DT_INT16);
    CHECK_EQ_INT(eem_spec_output_band_count(s), 1 + 3 + 2);
    char buf[64];
    int oi = -1, ch = -1;
    CHECK(eem_spec_output_band_name(s, 0, buf, sizeof buf, &oi, &ch) == buf);
    CHECK(strcmp(buf, "a") == 0);
    CHECK_EQ_INT(oi, 0);
    CHECK_EQ_INT(ch, 0);
    CHECK(eem_spec_output_band_name(s, 2, buf, sizeof buf, &oi, &ch) != NULL);
    CHECK(strcmp(buf, "veg") == 0);
    CHECK_EQ_INT(oi, 1);
    CHECK_EQ_INT(ch, 1);
    CHECK(eem_spec_output_band_name(s, 5, buf, sizeof buf, &oi, &ch) != NULL);
    CHECK(strcmp(buf, "p_1") == 0);
    CHECK_EQ_INT(oi, 2);
    CHECK_EQ_INT(ch, 1);
    CHECK(eem_spec_output_band_name(s, 6, buf, sizeof buf, &oi, &ch) == NULL);
    CHECK(eem_spec_output_band_name(s, -1, buf, sizeof buf, &oi, &ch) == NULL);
    eem_spec_free(s);
    CHECK_EQ_INT(eem_spec_output_band_count(NULL), 0);
}

/* A clone owns every string and array: changing or freeing it leaves the
 * original as it was (ASan catches a shared pointer freed twice). */
static void test_clone(void)
{
    eem_spec *s = parse_ok("EEMODEL:input=scene.tif;" BACKEND ";input_tile_size=256,256;"
                           "bands=B4,8;input_type=B4:uint16;headers=X-A: 1;"
                                "cache_dir=/tmp/c;signature_name=sig;proj=EPSG:4326;"
                                "output_bands=a:uint8, cls:float32:bare/veg, p:int16:2, q:float32:1",
                           NULL);
    if (!s)
        return;
    s->outputs[3].length = 0; /* as a descriptor leaving the length to the metadata */
    eem_error err = {0};
    eem_spec *c = NULL;
    CHECK_EQ_INT(eem_spec_clone(s, &c, &err), EEM_OK);
    if (!c) {
        eem_spec_free(s);
        return;
    }
    CHECK(c->outputs != s->outputs && c->bands != s->bands && c->input_types != s->input_types);
    CHECK(c->headers != s->headers && strcmp(c->headers, "X-A: 1") == 0);
    CHECK(strcmp(c->input, s->input) == 0 && c->input != s->input);
    CHECK(strcmp(c->signature_name, "sig") == 0 && strcmp(c->cache_dir, "/tmp/c") == 0);
    CHECK(strcmp(c->bands[1].ref, "8") == 0 && strcmp(c->input_types[0].key, "B4") == 0);
    CHECK_EQ_INT(c->tile_w, 256);
    CHECK_EQ_INT(c->n_outputs, 4);
    CHECK(c->outputs[1].names != s->outputs[1].names &&
          strcmp(c->outputs[1].names[1], "veg") == 0);
    CHECK_EQ_INT(eem_spec_output_band_count(c), eem_spec_output_band_count(s));
    c->outputs[3].length = 5; /* what the metadata fill does to the predictor's copy */
    CHECK_EQ_INT(s->outputs[3].length, 0);
    CHECK_EQ_INT(eem_spec_output_band_count(c), eem_spec_output_band_count(s) + 5);
    eem_spec_free(c);
    CHECK(strcmp(s->outputs[1].names[0], "bare") == 0 && strcmp(s->headers, "X-A: 1") == 0);
    eem_spec_free(s);
}

static void test_open_options(void)
{
    const char *oo[] = {"INPUT_TILE_SIZE=64,32", "outputBands=z:float64", " nodata = 5 ", NULL};
    eem_spec *s = parse_ok(BASE, oo);
    if (s) {
        CHECK_EQ_INT(s->tile_w, 64);
        CHECK_EQ_INT(s->tile_h, 32);
        CHECK(strcmp(s->outputs[0].name, "z") == 0);
        CHECK_EQ_INT(s->outputs[0].type, EEM_DT_FLOAT64);
        CHECK_NEAR(s->nodata, 5, 0);
        eem_spec_free(s);
    }
    /* everything from open options, EEDAI-style bare prefix */
    const char *all[] = {"INPUT=o.tif", "URL=https://x/v2/models/m/infer", "INPUT_TILE_SIZE=16",
                         "OUTPUT_BANDS=y:float32", "PROTOCOL=kserve-v2", NULL};
    s = parse_ok("EEMODEL:", all);
    if (s) {
        CHECK(strcmp(s->input, "o.tif") == 0);
        CHECK_EQ_INT(s->protocol, EEM_PROTO_KSERVE_V2);
        eem_spec_free(s);
    }
    /* an open option may give the backend the connection string lacks */
    const char *backend[] = {"URL=http://127.0.0.1:9/v1/models/x:predict", NULL};
    s = parse_ok("EEMODEL:input=i.tif;input_tile_size=3;output_bands=o:uint8", backend);
    if (s) {
        CHECK(strcmp(s->url, "http://127.0.0.1:9/v1/models/x:predict") == 0);
        eem_spec_free(s);
    }
}

static void test_json_file(void)
{
    char path[512], path2[512], input[512], bad[512];
    snprintf(path, sizeof path, "%s/model.json", tmpdir);
    write_file(path,
               "{\n"
               "  \"input\": \"scene.tif\",\n"
               "  \"bands\": {\"red\": 3, \"nir\": \"B8\"},\n"
               "  \"inputTypeOverride\": {\"red\": \"float32\",\n"
               "     \"nir\": {\"type\": \"PixelType\", \"precision\": \"int\", \"min\": 0, \"max\": 1000}},\n"
               "  \"projectId\": \"p\", \"modelName\": \"m\", \"API_ROOT\": \"http://127.0.0.1:9\",\n"
               "  \"inputTileSize\": [144, 96], \"inputOverlapSize\": [8, 4],\n"
               "  \"fixInputProj\": true, \"scale\": 30, \"maxPayloadBytes\": 1.5e6,\n"
               "  \"nodata\": -9999, \"cache_dir\": null,\n"
               "  \"outputBands\": {\"cls\": {\"type\": \"float\", \"dimensions\": 1,\n"
               "                              \"names\": [\"bare\", \"veg\", \"water\"]},\n"
               "                  \"n\": {\"type\": \"uint8\", \"length\": 2},\n"
               "                  \"u\": {\"type\": \"float32\", \"dimensions\": 1},\n"
               "                  \"s\": \"int32\"},\n"
               "  \"headers\": {\"X-Api-Key\": \"k\", \"X-Other\": \"v\"}\n"
               "}\n");
    char name[600];
    snprintf(name, sizeof name, "EEMODEL:%s", path);
    eem_spec *s = parse_ok(name, NULL);
    if (s) {
        snprintf(input, sizeof input, "%s/scene.tif", tmpdir);
        CHECK(strcmp(s->input, input) == 0);
        CHECK_EQ_INT(s->n_bands, 2);
        CHECK(strcmp(s->bands[0].key, "red") == 0 && strcmp(s->bands[0].ref, "3") == 0);
        CHECK(strcmp(s->bands[1].key, "nir") == 0 && strcmp(s->bands[1].ref, "B8") == 0);
        CHECK_EQ_INT(s->n_input_types, 2);
        CHECK_EQ_INT(s->input_types[0].type, EEM_DT_FLOAT32);
        CHECK_EQ_INT(s->input_types[1].type, EEM_DT_UINT16);
        CHECK_EQ_INT(s->tile_w, 144);
        CHECK_EQ_INT(s->tile_h, 96);
        CHECK_EQ_INT(s->overlap_x, 8);
        CHECK_EQ_INT(s->overlap_y, 4);
        CHECK_EQ_INT(s->fix_input_proj, 1);
        CHECK_NEAR(s->scale, 30, 0);
        CHECK_EQ_INT(s->max_payload_bytes, 1500000);
        CHECK_NEAR(s->nodata, -9999, 0);
        CHECK(s->cache_dir == NULL);
        CHECK_EQ_INT(s->n_outputs, 4);
        CHECK_EQ_INT(s->outputs[0].dims, 1);
        CHECK_EQ_INT(s->outputs[0].length, 3);
        CHECK_EQ_INT(s->outputs[0].type, EEM_DT_FLOAT32);
        CHECK_EQ_INT(s->outputs[1].dims, 1);
        CHECK_EQ_INT(s->outputs[1].length, 2);
        CHECK_EQ_INT(s->outputs[2].dims, 1);
        CHECK_EQ_INT(s->outputs[2].length, 0); /* not declared */
        CHECK_EQ_INT(s->outputs[3].dims, 0);
        CHECK_EQ_INT(s->outputs[3].type, EEM_DT_INT32);
        CHECK_EQ_INT(eem_spec_output_band_count(s), 3 + 2 + 0 + 1);
        char buf[32];
        CHECK(eem_spec_output_band_name(s, 4, buf, sizeof buf, NULL, NULL) != NULL);
        CHECK(strcmp(buf, "n_1") == 0);
        CHECK(eem_spec_output_band_name(s, 5, buf, sizeof buf, NULL, NULL) != NULL);
        CHECK(strcmp(buf, "s") == 0);
        CHECK(strcmp(s->headers, "X-Api-Key: k, X-Other: v") == 0);
        eem_spec_free(s);
    }
    /* open options override the file; an INPUT from an open option is not resolved */
    const char *oo[] = {"input=other.tif", "INPUT_OVERLAP_SIZE=0", NULL};
    s = parse_ok(name, oo);
    if (s) {
        CHECK(strcmp(s->input, "other.tif") == 0);
        CHECK_EQ_INT(s->overlap_x, 0);
        CHECK_EQ_INT(s->tile_w, 144);
        eem_spec_free(s);
    }

    /* *.eemodel.json opened directly; special and absolute names stay untouched */
    snprintf(path2, sizeof path2, "%s/special.EEMODEL.json", tmpdir);
    write_file(path2, "{\"input\": \"NETCDF:x.nc:var\", \"url\": \"http://127.0.0.1:9/v1/models/x:predict\","
                      " \"input_tile_size\": 32, \"output_bands\": \"o:float32\"}");
    s = parse_ok(path2, NULL);
    if (s) {
        CHECK(strcmp(s->input, "NETCDF:x.nc:var") == 0);
        CHECK_EQ_INT(s->tile_w, 32);
        eem_spec_free(s);
    }
    write_file(path2, "{\"input\": \"/vsicurl/http://h/a.tif\", \"url\": \"http://127.0.0.1:9/v1/models/x:predict\","
                      " \"input_tile_size\": 32, \"output_bands\": \"o:float32\"}");
    s = parse_ok(path2, NULL);
    if (s) {
        CHECK(strcmp(s->input, "/vsicurl/http://h/a.tif") == 0);
        eem_spec_free(s);
    }
    /* a name with ':' that exists as a file next to the JSON is resolved */
    char colon_file[600];
    snprintf(colon_file, sizeof colon_file, "%s/a:b.tif", tmpdir);
    write_file(colon_file, "x");
    write_file(path2, "{\"input\": \"a:b.tif\", \"url\": \"http://127.0.0.1:9/v1/models/x:predict\","
                      " \"input_tile_size\": 32, \"output_bands\": \"o:float32\"}");
    s = parse_ok(path2, NULL);
    if (s) {
        CHECK(strcmp(s->input, colon_file) == 0);
        eem_spec_free(s);
    }
    remove(colon_file);

    /* invalid JSON files */
    snprintf(bad, sizeof bad, "%s/bad.json", tmpdir);
    char badname[600];
    snprintf(badname, sizeof badname, "EEMODEL:%s", bad);
    write_file(bad, "{\"input\": \"a.tif\",");
    expect_fail(badname, NULL, "bad.json", "truncated");
    write_file(bad, "{\"input\": \"a.tif\" nope}");
    expect_fail(badname, NULL, "bad.json", "not valid JSON");
    write_file(bad, "[1, 2]");
    expect_fail(badname, NULL, "bad.json", "not a JSON object");
    write_file(bad, "{\"input\": \"a.tif\"} trailing");
    expect_fail(badname, NULL, "bad.json", "extra text");
    write_file(bad, "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]}");
    expect_fail(badname, NULL, "bad.json", "nesting");
    write_file(bad, "{\"input\": \"a.tif\", \"inputTileSize\": {\"w\": 3}, " "\"url\": \"http://h/x\", \"outputBands\": \"o:uint8\"}");
    expect_fail(badname, NULL, "INPUT_TILE_SIZE: {\"w\":3} is a JSON object", "two positive integers");
    write_file(bad, "{\"input\": \"a.tif\", \"inputTileSize\": [3, [4]]}");
    expect_fail(badname, NULL, "inputTileSize", "[");
    write_file(bad, "{\"input\": \"a.tif\", \"inputTileSize\": 3, \"input_tile_size\": 4}");
    expect_fail(badname, NULL, "INPUT_TILE_SIZE is given twice", "JSON");
    write_file(bad, "{\"input\": \"a.tif\", \"inputTile\": 3}");
    expect_fail(badname, NULL, "unknown key \"inputTile\"", "did you mean INPUT_TILE_SIZE?");
    remove(bad);
    char missing[600];
    snprintf(missing, sizeof missing, "EEMODEL:%s/missing.json", tmpdir);
    expect_fail(missing, NULL, "missing.json", "does not exist");

    /* JSON values of the wrong shape, after the same valid fields */
    static const struct {
        const char *fields, *key, *fragment;
    } wrong_shapes[] = {
        {"\"outputBands\": {\"o\": {\"dimensions\": 1}}}",
         "OUTPUT_BANDS", "without a type"},
        {"\"outputBands\": {\"o\": {\"type\": \"float32\", \"dimensions\": 2}}}",
         "OUTPUT_BANDS", "dimensions other than 0 or 1"},
        {"\"outputBands\": {\"o\": {\"type\": \"float32\", \"length\": 2, \"names\": [\"a\"]}}}",
         "OUTPUT_BANDS", "differs from the number of names"},
        {"\"outputBands\": {\"o\": {\"type\": \"float32\", \"lenght\": 2}}}",
         "OUTPUT_BANDS", "unknown field \"lenght\""},
        {"\"outputBands\": {\"o\": {\"type\": \"flaot\"}}}",
         "OUTPUT_BANDS", "unknown type \"flaot\""},
        {"\"outputBands\": {\"o\": {\"type\": \"float32\", \"dimensions\": 0, \"length\": 3}}}",
         "OUTPUT_BANDS", "dimensions 0"},
        {"\"outputBands\": \"o:uint8\", \"bands\": {\"a\": 2, \"b\": 2}}",
         "BANDS", "lists band \"2\" twice"},
        {"\"outputBands\": \"o:uint8\", \"bands\": {\"a\": 0}}",
         "BANDS", "below 1"},
        {"\"outputBands\": \"o:uint8\", \"inputTypeOverride\": {\"a\": \"complex\"}}",
         "INPUT_TYPE", "unknown type \"\"complex\"\""},
        {"\"outputBands\": \"o:uint8\", \"headers\": {\"Bad Name\": \"secretvalue\"}}",
         "HEADERS", "Bad Name"},
    };
    for (size_t i = 0; i < sizeof wrong_shapes / sizeof wrong_shapes[0]; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"input\": \"a.tif\", \"url\": \"http://h/x\", \"inputTileSize\": 4, %s",
                 wrong_shapes[i].fields);
        write_file(bad, json);
        expect_fail(badname, NULL, wrong_shapes[i].key, wrong_shapes[i].fragment);
    }
    remove(bad);
    remove(path);
    remove(path2);
}

static void test_inline_json(void)
{
    eem_spec *s = parse_ok("EEMODEL:{\"input\": \"x.tif\", \"url\": \"http://127.0.0.1:9/v1/models/x:predict\","
                           " \"inputTileSize\": [2, 3], \"outputBands\": {\"o\": {\"type\": \"uint8\"}}}",
                           NULL);
    if (s) {
        CHECK(strcmp(s->input, "x.tif") == 0); /* not resolved: no file folder */
        CHECK_EQ_INT(s->tile_w, 2);
        CHECK_EQ_INT(s->tile_h, 3);
        CHECK_EQ_INT(s->outputs[0].type, EEM_DT_UINT8);
        eem_spec_free(s);
    }
}

/* ---- invalid descriptors ---------------------------------------------------- */

static void test_syntax_errors(void)
{
    expect_fail("EEMODEL:input=a.tif;garbage;url=http://h/x", NULL, "\"garbage\"", "'='");
    expect_fail("EEMODEL:input=a.tif;=5", NULL, "no key", "=5");
    expect_fail(BASE ";INPUT_TILE=4", NULL, "unknown key \"INPUT_TILE\"",
                "(did you mean INPUT_TILE_SIZE?)");
    expect_fail(BASE ";outputBand=o:uint8", NULL, "unknown key \"outputBand\"", "OUTPUT_BANDS");
    expect_fail(BASE ";foo=1", NULL, "unknown key \"foo\"", "known keys: INPUT, BANDS");
    expect_fail(BASE ";INPUT=b.tif", NULL, "INPUT is given twice", "connection string");
    expect_fail(BASE ";inputTileSize=3", NULL, "INPUT_TILE_SIZE is given twice", NULL);
    expect_fail(BASE ";headers=\"X-A: SECRET3", NULL, "\"headers\" has an unterminated double quote", NULL);
    expect_fail("scene.tif", NULL, "\"scene.tif\" is not a model descriptor", "EEMODEL:");
    expect_fail("EEMODEL:foo", NULL, "\"foo\"", "'='");
    const char *oo[] = {"NOVALUE", NULL};
    expect_fail(BASE, oo, "\"NOVALUE\"", "open options");
    const char *dup[] = {"NODATA=1", "nodata=2", NULL};
    expect_fail(BASE, dup, "NODATA is given twice", "open options");
    const char *unk[] = {"TILE_SIZE=1", NULL};
    expect_fail(BASE, unk, "unknown key \"TILE_SIZE\"", NULL);
    eem_error err;
    CHECK_EQ_INT(eem_spec_parse(BASE, NULL, NULL, &err), EEM_ERR_INVALID);
}

static void test_required(void)
{
    expect_fail("EEMODEL:" BACKEND ";input_tile_size=4;output_bands=o:uint8", NULL,
                "INPUT is required: the source raster (any GDAL dataset name)", NULL);
    expect_fail("EEMODEL:input=;" BACKEND ";input_tile_size=4;output_bands=o:uint8", NULL,
                "INPUT: \"\" is empty", NULL);
    expect_fail("EEMODEL:input=a.tif;" BACKEND ";output_bands=o:uint8", NULL,
                "INPUT_TILE_SIZE is required", NULL);
    expect_fail("EEMODEL:input=a.tif;" BACKEND ";input_tile_size=4", NULL,
                "OUTPUT_BANDS is required", NULL);
    expect_fail("EEMODEL:", NULL, "INPUT is required", NULL);
}

static void test_backend_errors(void)
{
#define REST ";input_tile_size=4;output_bands=o:uint8"
    expect_fail("EEMODEL:input=a.tif" REST, NULL, "no model backend", "ENDPOINT");
    expect_fail("EEMODEL:input=a.tif" REST, NULL, "PROJECT and MODEL", "URL");
    expect_fail("EEMODEL:input=a.tif;url=http://h/x;endpoint=projects/p/locations/l/endpoints/e" REST,
                NULL, "ENDPOINT and URL are conflicting", NULL);
    expect_fail("EEMODEL:input=a.tif;url=http://h/x;project=p;model=m" REST, NULL,
                "URL and MODEL are conflicting", NULL);
    expect_fail("EEMODEL:input=a.tif;model=m" REST, NULL, "MODEL: \"m\" needs PROJECT", NULL);
    expect_fail("EEMODEL:input=a.tif;project=pp" REST, NULL, "PROJECT: \"pp\" needs MODEL", NULL);
    expect_fail("EEMODEL:input=a.tif;endpoint=projects/p/endpoints/e" REST, NULL,
                "ENDPOINT: \"projects/p/endpoints/e\"", "projects/P/locations/L/endpoints/E");
    expect_fail("EEMODEL:input=a.tif;endpoint=projects/p/locations/l/endpoints/e/x" REST, NULL,
                "ENDPOINT: \"projects/p/locations/l/endpoints/e/x\"", NULL);
    expect_fail("EEMODEL:input=a.tif;url=ftp://h/x" REST, NULL, "URL: \"ftp://h/x\"",
                "http:// or https://");
    expect_fail("EEMODEL:input=a.tif;url=http://h/x?key=SECRET1;api_root=http://h" REST, NULL,
                "API_ROOT only applies", NULL);
    {
        /* the query string (may hold an API key) is not echoed */
        eem_spec *s = NULL;
        eem_error err;
        CHECK_EQ_INT(eem_spec_parse("EEMODEL:input=a.tif;url=htp://h/x?key=SECRET1" REST, NULL, &s, &err),
                     EEM_ERR_INVALID);
        CHECK_CONTAINS(err.msg, "URL: \"htp://h/x?key=[redacted]\"");
        CHECK(strstr(err.msg, "SECRET1") == NULL);
    }
    /* a colon promises a port: empty, non-numeric or out-of-range ports are refused */
    expect_fail("EEMODEL:input=a.tif;project=p;model=m;api_root=http://127.0.0.1:" REST, NULL,
                "API_ROOT: \"http://127.0.0.1:\"", "port 1-65535");
    expect_fail("EEMODEL:input=a.tif;url=http://h:80x/v1/models/m:predict" REST, NULL,
                "URL: \"http://h:80x/v1/models/m:predict\"", "port 1-65535");
    expect_fail("EEMODEL:input=a.tif;url=http://h:65536/v1/models/m:predict" REST, NULL,
                "URL:", "port 1-65535");
    expect_fail("EEMODEL:input=a.tif;url=http://user@:81/v1/models/m:predict" REST, NULL,
                "URL:", "with a host");
    {
        const char *good[] = {"http://[::1]:8080/v1/models/m:predict", "https://h/v1/models/m:predict",
                              "http://u:p@127.0.0.1:9/v1/models/m:predict", NULL};
        for (int i = 0; good[i]; i++) {
            char name[512];
            snprintf(name, sizeof name, "EEMODEL:input=a.tif;url=%s" REST, good[i]);
            eem_spec *s = NULL;
            eem_error err;
            CHECK_EQ_INT(eem_spec_parse(name, NULL, &s, &err), EEM_OK);
            eem_spec_free(s);
        }
    }
    expect_fail("EEMODEL:input=a.tif;project=p;model=m;api_root=127.0.0.1:9" REST, NULL,
                "API_ROOT: \"127.0.0.1:9\"", "http:// or https://");
    expect_fail("EEMODEL:input=a.tif;url=http://h/x;version=3" REST, NULL, "VERSION only applies",
                "PROJECT and MODEL");
    expect_fail("EEMODEL:input=a.tif;endpoint=projects/p/locations/l/endpoints/e;region=x" REST,
                NULL, "REGION only applies", NULL);
    expect_fail("EEMODEL:input=a.tif;url=http://h/x;protocol=grpc" REST, NULL,
                "PROTOCOL: \"grpc\" is not a protocol", "aiplatform, vertex, tfserving or kserve-v2");
    expect_fail("EEMODEL:input=a.tif;endpoint=projects/p/locations/l/endpoints/e;protocol=tfserving" REST,
                NULL, "PROTOCOL: \"tfserving\" does not fit ENDPOINT", NULL);
    expect_fail("EEMODEL:input=a.tif;project=a/b;model=m" REST, NULL, "PROJECT: \"a/b\"", NULL);
    expect_fail("EEMODEL:input=a.tif;project=p;model=" REST, NULL, "MODEL: \"\" is empty", NULL);
#undef REST
}

static void test_value_errors(void)
{
    expect_fail(BASE ";payload_format=protobuf", NULL, "PAYLOAD_FORMAT: \"protobuf\"",
                "SERIALIZED_TF_TENSORS, RAW_JSON, ND_ARRAYS, OIP_V2, GRPC_TF_TENSORS");
    expect_fail(BASE ";max_payload_bytes=12", NULL, "MAX_PAYLOAD_BYTES: \"12\" is too small", "1024");
    expect_fail(BASE ";max_payload_bytes=1e6x", NULL, "MAX_PAYLOAD_BYTES: \"1e6x\" is not an integer", NULL);
    expect_fail(BASE ";max_predictions=0", NULL, "MAX_PREDICTIONS: \"0\"", "positive integer");
    expect_fail(BASE ";max_predictions=-1", NULL, "MAX_PREDICTIONS: \"-1\"", "positive integer");
    expect_fail(BASE ";nodata=1x", NULL, "NODATA: \"1x\" is not a number", NULL);
    expect_fail(BASE ";nodata=", NULL, "NODATA: \"\" is not a number", NULL);
    expect_fail(BASE ";scale=-3", NULL, "SCALE: \"-3\" is not a positive number", NULL);
    expect_fail(BASE ";scale=inf", NULL, "SCALE: \"inf\"", NULL);
    expect_fail(BASE ";fix_input_proj=maybe", NULL, "FIX_INPUT_PROJ: \"maybe\" is not a boolean",
                "YES, NO");
    expect_fail(BASE ";on_error=retry", NULL, "ON_ERROR: \"retry\"", "FAIL or NODATA");
    expect_fail(BASE ";resampling=bogus", NULL, "RESAMPLING: \"bogus\"", "nearest, bilinear");
    expect_fail(BASE ";proj=", NULL, "PROJ: \"\" is empty", NULL);
    expect_fail(BASE ";cache_dir=", NULL, "CACHE_DIR: \"\" is empty", NULL);
    expect_fail(BASE ";input_array=", NULL, "INPUT_ARRAY: \"\" is empty", NULL);
}

static void test_size_errors(void)
{
#define PRE "EEMODEL:input=a.tif;" BACKEND ";output_bands=o:uint8;"
    expect_fail(PRE "input_tile_size=256,x", NULL,
                "INPUT_TILE_SIZE: \"256,x\" is not two positive integers W,H", NULL);
    expect_fail(PRE "input_tile_size=0,5", NULL, "INPUT_TILE_SIZE: \"0,5\"", "positive integers");
    expect_fail(PRE "input_tile_size=-4", NULL, "INPUT_TILE_SIZE: \"-4\"", NULL);
    expect_fail(PRE "input_tile_size=1,2,3", NULL, "INPUT_TILE_SIZE: \"1,2,3\"", NULL);
    expect_fail(PRE "input_tile_size=", NULL, "INPUT_TILE_SIZE: \"\"", NULL);
    expect_fail(PRE "input_tile_size=70000,1", NULL, "INPUT_TILE_SIZE: \"70000,1\" is too large",
                "65536");
    expect_fail(PRE "input_tile_size=20000,20000", NULL, "INPUT_TILE_SIZE: \"20000,20000\" is too large",
                "268435456");
    expect_fail(PRE "input_tile_size=99999999999999999999999", NULL, "is too large", NULL);
    expect_fail(PRE "input_tile_size=8;output_tile_size=8,y", NULL,
                "OUTPUT_TILE_SIZE: \"8,y\" is not two positive integers W,H", NULL);
    expect_fail(PRE "input_tile_size=256;input_overlap_size=-1,0", NULL,
                "INPUT_OVERLAP_SIZE: \"-1,0\" is not two non-negative integers X,Y", NULL);
    expect_fail(PRE "input_tile_size=256;input_overlap_size=3000,0", NULL,
                "INPUT_OVERLAP_SIZE: \"3000,0\"", "overlap 3000 is larger than 8x the tile width");
    expect_fail(PRE "input_tile_size=256,16;input_overlap_size=0,129", NULL,
                "INPUT_OVERLAP_SIZE: \"0,129\"", "tile height");
    expect_fail(PRE "input_tile_size=60000,1;input_overlap_size=3000,0", NULL,
                "INPUT_OVERLAP_SIZE: \"3000,0\" is too large", "65536");
    /* limits themselves are accepted */
    eem_spec *s = parse_ok(PRE "input_tile_size=65536,2048;input_overlap_size=0,1024", NULL);
    if (s) {
        CHECK_EQ_INT(s->tile_w, 65536);
        CHECK_EQ_INT(s->overlap_y, 1024);
        eem_spec_free(s);
    }
#undef PRE
}

static void test_band_and_type_errors(void)
{
    expect_fail(BASE ";bands=1,,3", NULL, "BANDS: \"1,,3\" has an empty entry", NULL);
    expect_fail(BASE ";bands=1,3,1", NULL, "BANDS: \"1,3,1\" lists band \"1\" twice", NULL);
    expect_fail(BASE ";bands=1,01", NULL, "BANDS: \"1,01\" lists band \"01\" twice", NULL);
    expect_fail(BASE ";bands=B4,B4", NULL, "lists band \"B4\" twice", NULL);
    expect_fail(BASE ";bands=0", NULL, "BANDS: \"0\" has band index 0", "1-based");
    expect_fail(BASE ";bands=", NULL, "BANDS: \"\" has an empty entry", NULL);
    expect_fail(BASE ";input_type=flot32", NULL, "INPUT_TYPE: \"flot32\" has unknown type \"flot32\"",
                eem_dtype_accepted_names());
    expect_fail(BASE ";input_type=B4:float32,B8:flot32", NULL,
                "INPUT_TYPE: \"B4:float32,B8:flot32\" has unknown type \"flot32\"", "float32");
    expect_fail(BASE ";input_type=B4:float32,B4:uint8", NULL, "INPUT_TYPE", "\"B4\" twice");
    expect_fail(BASE ";input_type=:float32", NULL, "INPUT_TYPE: \":float32\"", "empty key");
}

static void test_output_errors(void)
{
#define PRE "EEMODEL:input=a.tif;" BACKEND ";input_tile_size=8;"
    expect_fail(PRE "output_bands=out", NULL, "OUTPUT_BANDS: \"out\" has an output without a type",
                "name:type[:length]");
    expect_fail(PRE "output_bands=out:flt", NULL, "OUTPUT_BANDS: \"out:flt\" has unknown type \"flt\"",
                eem_dtype_accepted_names());
    expect_fail(PRE "output_bands=a:uint8,a:float32", NULL, "names output \"a\" twice", NULL);
    expect_fail(PRE "output_bands=a:uint8,,b:uint8", NULL, "has an empty entry", NULL);
    expect_fail(PRE "output_bands=:uint8", NULL, "empty name", NULL);
    expect_fail(PRE "output_bands=p:float32:0", NULL, "OUTPUT_BANDS: \"p:float32:0\"",
                "not a positive integer");
    expect_fail(PRE "output_bands=p:float32:5000", NULL, "larger than 4096", NULL);
    expect_fail(PRE "output_bands=p:float32:3x", NULL, "not a positive integer", NULL);
    expect_fail(PRE "output_bands=p:float32:a//c", NULL, "empty band name", NULL);
    expect_fail(PRE "output_bands=p:float32:a/b/a", NULL, "lists band name \"a\" twice", NULL);
    expect_fail(PRE "output_bands=p:float32:", NULL, "empty length", NULL);
    expect_fail(PRE "output_bands=", NULL, "OUTPUT_BANDS: \"\" has an empty entry", NULL);
#undef PRE
}

static void test_header_errors(void)
{
    expect_fail(BASE ";headers=novalue", NULL, "HEADERS", "Name: value");
    expect_fail(BASE ";headers=\"X-A: a\r\nX-Evil: b\"", NULL, "HEADERS", "line break");
    eem_spec *s = NULL;
    eem_error err;
    CHECK_EQ_INT(eem_spec_parse(BASE ";headers=Bearer SECRET2", NULL, &s, &err), EEM_ERR_INVALID);
    CHECK(strstr(err.msg, "SECRET2") == NULL);
    CHECK_CONTAINS(err.msg, "HEADERS");
    CHECK_EQ_INT(eem_spec_parse(BASE ";headers=\"X-Key: SECRET3", NULL, &s, &err), EEM_ERR_INVALID);
    CHECK(strstr(err.msg, "SECRET3") == NULL);
}

/* ---- the rest ------------------------------------------------------------------ */

static void test_identify_and_names(void)
{
    CHECK(eem_spec_identify("EEMODEL:input=a"));
    CHECK(eem_spec_identify("eemodel:"));
    CHECK(eem_spec_identify("/data/x.EEModel.JSON"));
    CHECK(!eem_spec_identify("/data/x.json"));
    CHECK(!eem_spec_identify("EEMODE"));
    CHECK(!eem_spec_identify("scene.tif"));
    CHECK(!eem_spec_identify(NULL));
    CHECK(strcmp(eem_protocol_name(EEM_PROTO_KSERVE_V2), "kserve-v2") == 0);
    CHECK(strcmp(eem_protocol_name(EEM_PROTO_AIPLATFORM), "aiplatform") == 0);
    CHECK(strcmp(eem_payload_format_name(EEM_PAYLOAD_SERIALIZED_TF_TENSORS), "SERIALIZED_TF_TENSORS") == 0);
    CHECK(strcmp(eem_payload_format_name(EEM_PAYLOAD_ND_ARRAYS), "ND_ARRAYS") == 0);
    eem_spec_free(NULL);
}

static void test_open_option_xml(void)
{
    const char *xml = eem_spec_open_option_list_xml();
    CPLXMLNode *root = CPLParseXMLString(xml);
    CHECK(root != NULL);
    if (!root)
        return;
    CHECK(strcmp(root->pszValue, "OpenOptionList") == 0);
    static const char *const keys[] = {
        "INPUT", "BANDS", "INPUT_ARRAY", "INPUT_TYPE", "PROJECT", "MODEL", "VERSION", "REGION",
        "ENDPOINT", "URL", "PROTOCOL", "API_ROOT", "PAYLOAD_FORMAT", "MAX_PAYLOAD_BYTES",
        "REQUEST_LAYOUT", "SIGNATURE_NAME", "PROJ", "PROBE", "OVERLAP_MODE",
        "SCALE", "FIX_INPUT_PROJ", "INPUT_TILE_SIZE", "INPUT_OVERLAP_SIZE", "OUTPUT_TILE_SIZE",
        "OUTPUT_BANDS", "NODATA", "RESAMPLING", "MAX_PREDICTIONS", "ON_ERROR", "READ_AHEAD",
        "CACHE_DIR", "HEADERS",
        "GOOGLE_CREDENTIALS_HOST", "CACHE_KEY", "JOB_MAX_PREDICTIONS", "TILE_ORIGIN",
        /* the vector side and the other ee.Model parameters (spec_vector.c) */
        "INPUT_PROPERTIES", "OUTPUT_PROPERTIES", "LAYER", "NULL_INPUT", "OUTPUT_MULTIPLIER",
        "INPUT_SHAPES", "PROJECT_NAME"};
    int n_options = 0;
    for (CPLXMLNode *o = root->psChild; o; o = o->psNext) {
        if (o->eType != CXT_Element)
            continue;
        n_options++;
        const char *name = CPLGetXMLValue(o, "name", "");
        const char *type = CPLGetXMLValue(o, "type", "");
        CHECK(*CPLGetXMLValue(o, "description", "") != '\0');
        int values = 0;
        for (CPLXMLNode *v = o->psChild; v; v = v->psNext)
            values += v->eType == CXT_Element && strcmp(v->pszValue, "Value") == 0;
        CHECK_EQ_INT(strcmp(type, "string-select") == 0, values > 0);
        if (strcmp(name, "PROTOCOL") == 0)
            CHECK_EQ_INT(values, 4);
        if (strcmp(name, "OVERLAP_MODE") == 0) {
            CHECK_EQ_INT(values, 2);
            CHECK(strcmp(CPLGetXMLValue(o, "default", ""), "CROP") == 0);
        }
        if (strcmp(name, "RESAMPLING") == 0) {
            CHECK_EQ_INT(values, 14);
            CHECK(strcmp(CPLGetXMLValue(o, "default", ""), "nearest") == 0);
        }
        /* every advertised option is accepted by the parser as an open option */
        char opt[80];
        snprintf(opt, sizeof opt, "%s=\x01", name);
        const char *oo[] = {opt, NULL};
        eem_spec *s = NULL;
        eem_error err;
        eem_spec_parse("EEMODEL:", oo, &s, &err);
        CHECK(strstr(err.msg, "unknown key") == NULL);
        eem_spec_free(s);
    }
    CHECK_EQ_INT(n_options, (int)(sizeof keys / sizeof keys[0]));
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "name='%s'", keys[i]);
        CHECK_CONTAINS(xml, needle);
    }
    CPLDestroyXMLNode(root);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/eem_test_spec_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_inline_basic();
    test_inline_spellings();
    test_quoted_values();
    test_other_values();
    test_outputs_and_band_names();
    test_clone();
    test_open_options();
    test_json_file();
    test_inline_json();
    test_syntax_errors();
    test_required();
    test_backend_errors();
    test_value_errors();
    test_size_errors();
    test_band_and_type_errors();
    test_output_errors();
    test_header_errors();
    test_identify_and_names();
    test_open_option_xml();
    rmdir(tmpdir);
    return check_report();
}
