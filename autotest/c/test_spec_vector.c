/* test_spec_vector.c — the descriptor keys of the vector side and the other
 * ee.Model parameters (spec_vector.c): parsed values, the INPUT_SHAPES
 * parser, and errors that name the key and say what is accepted. */
#include "check.h"
#include "spec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VBASE "EEMODEL:input=pts.gpkg;url=http://127.0.0.1:1/v1/models/m:predict;"
#define RBASE "EEMODEL:input=a.tif;url=http://127.0.0.1:1/v1/models/m:predict;input_tile_size=8,8;"

static eem_spec *parse_ok(const char *name)
{
    eem_spec *spec = NULL;
    eem_error err;
    eem_status st = eem_spec_parse(name, NULL, &spec, &err);
    if (st != EEM_OK)
        fprintf(stderr, "%s: %s\n", name, err.msg);
    CHECK_EQ_INT(st, EEM_OK);
    return spec;
}

static void expect_fail(const char *name, const char *needle1, const char *needle2)
{
    eem_spec *spec = NULL;
    eem_error err;
    eem_status st = eem_spec_parse(name, NULL, &spec, &err);
    CHECK_EQ_INT(st, EEM_ERR_INVALID);
    CHECK(spec == NULL);
    if (st == EEM_OK) {
        fprintf(stderr, "%s unexpectedly parsed\n", name);
        eem_spec_free(spec);
        return;
    }
    CHECK_CONTAINS(err.msg, needle1);
    if (needle2)
        CHECK_CONTAINS(err.msg, needle2);
}

static void test_vector_descriptor(void)
{
    eem_spec *s = parse_ok(VBASE "input_properties=elev, slope;output_properties=p:float32,ok:bool,"
                                 "s:float32:2;layer=pts;null_input=skip;output_multiplier=2.5;"
                                 "input_shapes=slope:[];maxPredictions=7");
    if (!s)
        return;
    CHECK_EQ_INT(s->vector, 1);
    CHECK(strcmp(s->input_properties, "elev, slope") == 0);
    CHECK(strcmp(s->layer, "pts") == 0);
    CHECK_EQ_INT(s->null_input, EEM_NULL_INPUT_SKIP);
    CHECK_NEAR(s->output_multiplier, 2.5, 0);
    CHECK_EQ_INT(s->n_outputs, 3);
    CHECK_EQ_INT(s->outputs[1].boolean, 1);
    CHECK_EQ_INT(s->outputs[1].type, EEM_DT_UINT8);
    CHECK_EQ_INT(s->outputs[0].boolean, 0);
    CHECK_EQ_INT(s->tile_w, 0);
    CHECK_EQ_INT(eem_spec_lists_input_property(s, "slope"), 1);
    CHECK_EQ_INT(eem_spec_lists_input_property(s, "slop"), 0);
    int64_t dims[EEM_SPEC_SHAPE_MAX] = {0};
    CHECK_EQ_INT(eem_spec_input_shape(s, "slope", dims), 0);
    CHECK_EQ_INT(eem_spec_input_shape(s, "elev", dims), -1);
    eem_spec *c = NULL;
    eem_error err;
    CHECK_EQ_INT(eem_spec_clone(s, &c, &err), EEM_OK);
    if (c) {
        CHECK(c->layer != s->layer && strcmp(c->layer, "pts") == 0);
        CHECK(strcmp(c->input_shapes, "slope:[]") == 0);
        eem_spec_free(c);
    }
    eem_spec_free(s);

    /* EE's JSON spellings: a list of properties, outputProperties, inputShapes object */
    s = parse_ok("EEMODEL:{\"input\": \"pts.gpkg\", \"url\": \"http://127.0.0.1:1/v1/models/m:predict\","
                 "\"inputProperties\": [\"a\", \"h\"], \"inputShapes\": {\"h\": [3]},"
                 "\"outputProperties\": {\"p\": {\"type\": \"float32\"}, \"b\": {\"type\": \"bool\"}}}");
    if (s) {
        CHECK(strcmp(s->input_properties, "a,h") == 0);
        CHECK_EQ_INT(eem_spec_input_shape(s, "h", dims), 1);
        CHECK_EQ_INT((int)dims[0], 3);
        CHECK_EQ_INT(s->n_outputs, 2);
        CHECK_EQ_INT(s->outputs[1].boolean, 1);
        CHECK_EQ_INT(s->null_input, EEM_NULL_INPUT_NULL);
        eem_spec_free(s);
    }
}

static void test_raster_descriptor(void)
{
    eem_spec *s = parse_ok(RBASE "output_bands=o:float32;input_properties=SUN,year:2020;"
                                 "input_array=array;bands=1,2;input_shapes=array:[2],b9:[];"
                                 "outputMultiplier=1");
    if (s) {
        CHECK_EQ_INT(s->vector, 0);
        CHECK_EQ_INT(eem_spec_lists_input_property(s, "year"), 1);
        CHECK_EQ_INT(eem_spec_lists_input_property(s, "SUN"), 1);
        CHECK_NEAR(s->output_multiplier, 1, 0);
        eem_spec_free(s);
    }
    s = parse_ok("EEMODEL:input=a.tif;api_root=http://127.0.0.1:1;projectName=pp;model=m;"
                 "input_tile_size=8,8;output_bands=o:float32");
    if (s) {
        CHECK(s->project && strcmp(s->project, "pp") == 0);
        eem_spec_free(s);
    }
}

static void test_errors(void)
{
    expect_fail(VBASE "output_properties=p:float32", "INPUT_PROPERTIES is required", NULL);
    expect_fail(VBASE "input_properties=a;output_properties=p:float32;output_bands=o:float32",
                "OUTPUT_BANDS and OUTPUT_PROPERTIES are both given", NULL);
    expect_fail(VBASE "input_properties=a;output_properties=p:float32;null_input=zero",
                "NULL_INPUT: \"zero\" is not a rule", "SKIP");
    expect_fail(VBASE "input_properties=a;output_properties=p:float32;output_multiplier=x",
                "OUTPUT_MULTIPLIER: \"x\"", "at least 1");
    expect_fail(VBASE "input_properties=a;output_properties=p:float32;output_multiplier=nan",
                "OUTPUT_MULTIPLIER", NULL);
    expect_fail(VBASE "input_properties=a;output_properties=p:float32;bands=1",
                "BANDS applies to a raster INPUT", NULL);
    expect_fail(VBASE "input_properties=a;output_properties=p:blob", "blob", NULL);
    expect_fail(VBASE "input_properties=a;output_properties=p:float32;input_shapes=a:[2,2]",
                "INPUT_SHAPES: \"a\" has 2 dimensions", NULL);
    expect_fail(VBASE "input_properties=a;output_properties=p:float32;input_shapes=a:[0]",
                "is not a list of shapes", NULL);
    expect_fail(VBASE "input_properties=a;output_properties=p:float32;input_shapes=a:[2",
                "is not a list of shapes", NULL);
    expect_fail(VBASE "input_properties=a;output_properties=p:float32;input_shapes=a",
                "is not a list of shapes", NULL);
    expect_fail(RBASE "output_bands=o:float32;layer=x", "LAYER applies to a vector INPUT", NULL);
    expect_fail(RBASE "output_bands=o:float32;null_input=skip", "NULL_INPUT applies to a vector",
                NULL);
    expect_fail(RBASE "output_bands=o:float32;input_shapes=b1:[3]",
                "a GDAL band holds one number per pixel", "INPUT_ARRAY=b1");
    expect_fail(RBASE "output_bands=o:float32;input_array=arr;bands=1,2;input_shapes=arr:[3]",
                "\"arr\" is [3] but BANDS selects 2 bands", NULL);
    expect_fail("EEMODEL:input=a.tif;api_root=http://127.0.0.1:1;project=p;projectName=q;"
                "model=m;input_tile_size=8,8;output_bands=o:float32",
                "PROJECT_NAME (EE projectName) and PROJECT (EE projectId) are both given", NULL);
    expect_fail(RBASE "input_properties=a", "OUTPUT_BANDS is required", NULL);
}

int main(void)
{
    test_vector_descriptor();
    test_raster_descriptor();
    test_errors();
    return check_report();
}
