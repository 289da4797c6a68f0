/* test_payload_raw_json.c — RAW_JSON bodies (row, columnar, signature_name), exact
 * number literals for every element type, the exact batch size, and every legal
 * and malformed answer shape (shared JSON walk of payload_json.c). */
#include "check.h"

#include "buf.h"
#include "payload.h"
#include "payload_json.h"
#include "tensor.h"

#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const eem_payload_ops *ops;

static char *number_text(const void *v, eem_dtype t)
{
    eem_buf b = {0};
    eem_json_put_number(&b, v, t, 0);
    return eem_buf_take(&b);
}

static void test_number_literals(void)
{
    uint64_t u64 = UINT64_MAX;
    int64_t i64 = INT64_MIN, i64max = INT64_MAX;
    uint32_t u32 = UINT32_MAX;
    int8_t i8 = -128;
    float f = 0.1f, fnan = NAN, finf = -INFINITY, fneg0 = -0.0f;
    double d = 0.1, dmax = 1.7976931348623157e308, dden = 5e-324;
    struct {
        const void *v;
        eem_dtype t;
        const char *want;
    } cases[] = {
        {&u64, EEM_DT_UINT64, "18446744073709551615"}, {&i64, EEM_DT_INT64, "-9223372036854775808"},
        {&i64max, EEM_DT_INT64, "9223372036854775807"}, {&u32, EEM_DT_UINT32, "4294967295"},
        {&i8, EEM_DT_INT8, "-128"},                      {&f, EEM_DT_FLOAT32, "0.100000001"},
        {&fnan, EEM_DT_FLOAT32, "NaN"},                  {&finf, EEM_DT_FLOAT32, "-Infinity"},
        {&fneg0, EEM_DT_FLOAT32, "-0.0"},                {&d, EEM_DT_FLOAT64, "0.10000000000000001"},
        {&dmax, EEM_DT_FLOAT64, "1.7976931348623157e+308"},
        {&dden, EEM_DT_FLOAT64, "4.9406564584124654e-324"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = number_text(cases[i].v, cases[i].t);
        CHECK(s && strcmp(s, cases[i].want) == 0);
        free(s);
    }
    /* %.9g / %.17g read back to the same float32 / float64 for many values */
    int bad = 0;
    uint32_t x = 12345;
    for (int i = 0; i < 20000; i++) {
        x = x * 1664525u + 1013904223u;
        float fv;
        memcpy(&fv, &x, 4);
        if (!isfinite(fv))
            continue;
        char *s = number_text(&fv, EEM_DT_FLOAT32);
        bad += (float)strtod(s, NULL) != fv;
        double dv = (double)x * 1.0000001e-7 - 123.456;
        char *s2 = number_text(&dv, EEM_DT_FLOAT64);
        bad += strtod(s2, NULL) != dv;
        free(s);
        free(s2);
    }
    CHECK_EQ_INT(bad, 0);
}

static eem_tensor *tensor_of(eem_dtype t, int h, int w, int c, double v0)
{
    int64_t dims[3] = {h, w, c};
    eem_tensor *x = eem_tensor_new(t, 3, dims);
    for (size_t i = 0; i < eem_tensor_count(x); i++) {
        double v = v0 + (double)i;
        eem_dtype_convert(&v, EEM_DT_FLOAT64, (uint8_t *)x->data + i * eem_dtype_size(t), t, 1);
    }
    return x;
}

static void test_bodies(const eem_spec *spec)
{
    eem_tensor *a = tensor_of(EEM_DT_UINT16, 2, 3, 1, 1);
    eem_tensor *b = tensor_of(EEM_DT_FLOAT32, 2, 3, 2, 0.5);
    const char *keys[2] = {"red", "nir"};
    const eem_tensor *in[2] = {a, b};
    eem_instance inst = {2, keys, in};
    eem_error err = {0};
    for (int columnar = 0; columnar < 2; columnar++) {
        eem_payload_context ctx = {.spec = spec, .columnar = columnar,
                                   .signature_name = columnar ? "serving_default" : NULL};
        eem_payload_batch *batch = eem_payload_batch_new(ops, &ctx);
        eem_payload_fragment f = {0};
        size_t predicted = 0;
        for (int i = 0; i < 3; i++) {
            CHECK_EQ_INT(eem_payload_encode(ops, &ctx, &inst, &f, &err), EEM_OK);
            CHECK_EQ_INT(f.n_parts, columnar ? 2 : 1);
            predicted = eem_payload_batch_size_with(batch, &inst, &f);
            CHECK_EQ_INT(eem_payload_batch_add(batch, &inst, &f, &err), EEM_OK);
        }
        eem_buf body = {0};
        size_t header = 9;
        CHECK_EQ_INT(eem_payload_batch_build(batch, &body, &header, &err), EEM_OK);
        CHECK_EQ_INT(header, 0);
        CHECK_EQ_INT(body.len, predicted); /* measured before building, exactly */
        CHECK(strcmp(eem_payload_content_type(ops, &ctx), "application/json") == 0);
        json_object *root = json_tokener_parse(body.data), *x = NULL;
        CHECK(root != NULL);
        if (!columnar) {
            CHECK(strncmp(body.data, "{\"instances\":[{\"red\":[[[1],[2],[3]],[[4],[5],[6]]],\"nir\":[[[0.5,1.5]", 48) == 0);
            CHECK(json_object_object_get_ex(root, "instances", &x) && json_object_array_length(x) == 3);
        } else {
            json_object *sig = NULL, *red = NULL;
            CHECK(json_object_object_get_ex(root, "signature_name", &sig));
            CHECK(json_object_object_get_ex(root, "inputs", &x) &&
                  json_object_object_get_ex(x, "red", &red) && json_object_array_length(red) == 3);
            CHECK_CONTAINS(body.data, "\"inputs\":{\"red\":[[[[1],[2],[3]],[[4],[5],[6]]],[[[1]");
        }
        json_object_put(root);
        eem_buf_free(&body);
        eem_payload_fragment_free(&f);
        eem_payload_batch_free(batch);
    }
    /* half floats have no JSON number type */
    eem_payload_context ctx = {.spec = spec};
    eem_tensor *h = tensor_of(EEM_DT_FLOAT16, 1, 1, 1, 1);
    const eem_tensor *hin[1] = {h};
    const char *hk[1] = {"x"};
    eem_instance hinst = {1, hk, hin};
    eem_payload_fragment f = {0};
    CHECK_EQ_INT(eem_payload_encode(ops, &ctx, &hinst, &f, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "INPUT_TYPE: key \"x\" would be sent as float16, which RAW_JSON cannot carry");
    CHECK_CONTAINS(err.msg, "INPUT_TYPE=x:float32");
    eem_payload_fragment_free(&f);
    eem_tensor_free(h);
    eem_tensor_free(a);
    eem_tensor_free(b);
}

static eem_status decode(const eem_spec *spec, const char *body, int n, eem_tensor **out,
                         eem_error *err)
{
    eem_payload_context ctx = {.spec = spec};
    return ops->decode_response(&ctx, body, strlen(body), n, 100, out, err);
}

static void free_all(eem_tensor **out, int n)
{
    for (int i = 0; i < n; i++) {
        eem_tensor_free(out[i]);
        out[i] = NULL;
    }
}

static void test_answer_shapes(const eem_spec *one, const eem_spec *two)
{
    eem_tensor *out[4] = {0};
    eem_error err = {0};
    /* bare lists, batch level, numbers as strings, NaN/Infinity literals */
    CHECK_EQ_INT(decode(one, "{\"predictions\":[[[1.5,2]],[[\"3.25\",NaN]]]}", 2, out, &err), EEM_OK);
    CHECK(out[0] && out[0]->ndim == 2 && out[0]->dims[1] == 2 && ((float *)out[0]->data)[0] == 1.5f);
    CHECK(out[1] && ((float *)out[1]->data)[0] == 3.25f && isnan(((float *)out[1]->data)[1]));
    free_all(out, 2);
    CHECK_EQ_INT(decode(one, "{\"outputs\":[[[Infinity,-Infinity,\"-Infinity\",\"1e3\"]]]}", 1, out,
                        &err),
                 EEM_OK);
    CHECK(out[0] && isinf(((float *)out[0]->data)[1]) && ((float *)out[0]->data)[3] == 1000.0f);
    free_all(out, 1);
    /* single instance without its batch level */
    CHECK_EQ_INT(decode(one, "{\"predictions\":[[1,2],[3,4],[5,6]]}", 1, out, &err), EEM_OK);
    CHECK(out[0] && out[0]->dims[0] == 3 && out[0]->dims[1] == 2);
    free_all(out, 1);
    /* named single output, renamed single output */
    CHECK_EQ_INT(decode(one, "{\"predictions\":[{\"out\":[1]},{\"whatever\":[2]}]}", 2, out, &err),
                 EEM_OK);
    CHECK(out[1] && ((float *)out[1]->data)[0] == 2.0f);
    free_all(out, 2);
    /* two outputs: row (list of objects) and columnar (object of lists) agree */
    const char *row = "{\"predictions\":[{\"p\":[0.25],\"c\":[7]},{\"c\":[9],\"p\":[0.5]}]}";
    const char *col = "{\"outputs\":{\"c\":[[7],[9]],\"p\":[[0.25],[0.5]]}}";
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(decode(two, k ? col : row, 2, out, &err), EEM_OK);
        CHECK(out[0] && out[0]->type == EEM_DT_FLOAT32 && ((float *)out[0]->data)[0] == 0.25f);
        CHECK(out[1] && out[1]->type == EEM_DT_UINT8 && ((uint8_t *)out[1]->data)[0] == 7);
        CHECK(out[3] && ((uint8_t *)out[3]->data)[0] == 9);
        free_all(out, 4);
    }
    /* integer answers land exactly in 64-bit types; out-of-range values clamp */
    eem_output o64[1] = {{.name = "v", .type = EEM_DT_UINT64}};
    eem_spec s64 = {0};
    s64.outputs = o64;
    s64.n_outputs = 1;
    CHECK_EQ_INT(decode(&s64, "{\"predictions\":[[18446744073709551615,\"18446744073709551614\",-5]]}",
                        1, out, &err),
                 EEM_OK);
    CHECK(out[0] && ((uint64_t *)out[0]->data)[0] == UINT64_MAX);
    CHECK(out[0] && ((uint64_t *)out[0]->data)[1] == UINT64_MAX - 1);
    CHECK(out[0] && ((uint64_t *)out[0]->data)[2] == 0);
    free_all(out, 1);
    o64[0].type = EEM_DT_INT64;
    CHECK_EQ_INT(decode(&s64, "{\"predictions\":[[-9223372036854775808,\"9223372036854775807\"]]}", 1,
                        out, &err),
                 EEM_OK);
    CHECK(out[0] && ((int64_t *)out[0]->data)[0] == INT64_MIN);
    CHECK(out[0] && ((int64_t *)out[0]->data)[1] == INT64_MAX);
    free_all(out, 1);
}

static void test_malformed(const eem_spec *one, const eem_spec *two)
{
    eem_tensor *out[4] = {0};
    eem_error err = {0};
    struct {
        const eem_spec *spec;
        int n;
        const char *body, *needle;
    } cases[] = {
        {one, 2, "{\"predictions\":[[[1,2],[3]],[[1,2],[3,4]]]}", "predictions[0][1]: 1 entries, expected 2 (ragged"},
        {one, 1, "{\"predictions\":[[[1,\"x\"]]]}", "predictions[0][0][1]: expected a number, got the string \"x\""},
        {one, 1, "{\"predictions\":[[[1,null]]]}", "predictions[0][0][1]: expected a number, got null"},
        {one, 1, "{\"predictions\":[[[1,[2]]]]}", "predictions[0][0][1]: expected a number, got array"},
        {one, 2, "{\"predictions\":[[1],[2],[3]]}", "predictions has 3 entries but 2 instances were sent"},
        {one, 1, "{\"predictions\":42}", "predictions: expected a list (one entry per instance) or an object"},
        {one, 1, "{\"predictions\":[[]]}", "predictions[0]: an empty list"},
        {one, 1, "{\"predictions\":[[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,"
                 "27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,"
                 "56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,"
                 "85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100,101]]}",
         "more than the 100 element(s) expected"},
        {two, 2, "{\"predictions\":[{\"p\":[1],\"c\":[2]},{\"p\":[1]}]}", "predictions[1]: no output named \"c\" (keys present: \"p\")"},
        {two, 2, "{\"outputs\":{\"p\":[[1],[2]],\"c\":[[1]]}}", "outputs.c: expected a list with one entry per instance (2)"},
        {two, 1, "{\"predictions\":[[1]]}", "predictions[0]: expected an object with one entry per output (2 outputs)"},
        {one, 1, "{\"instances\":[]}", "no \"predictions\" or \"outputs\" (keys present: \"instances\")"},
        {one, 1, "{\"error\":\"Conversion of JSON Value to type: half\"}", "the server answered with an error: Conversion"},
        {one, 1, "[1]", "the answer is a JSON array; expected an object"},
        {one, 1, "{\"predictions\":[1] trailing", "not valid JSON"},
    };
    static eem_tensor stale; /* what the caller's slots held before: must be overwritten */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(out, 0, sizeof out);
        for (int s = 0; s < cases[i].n * cases[i].spec->n_outputs; s++)
            out[s] = &stale;
        eem_status st = decode(cases[i].spec, cases[i].body, cases[i].n, out, &err);
        CHECK_EQ_INT(st, EEM_ERR_PROTOCOL);
        CHECK_CONTAINS(err.msg, cases[i].needle);
        CHECK(!out[0] && !out[1] && !out[2] && !out[3]);
    }
}

int main(void)
{
    ops = eem_payload_ops_for(EEM_PAYLOAD_RAW_JSON);
    CHECK(ops == &eem_payload_raw_json);
    CHECK(ops && strcmp(ops->name, "RAW_JSON") == 0);
    if (!ops)
        return check_report();
    eem_output o1[1] = {{.name = "out", .type = EEM_DT_FLOAT32}};
    eem_spec one = {0};
    one.outputs = o1;
    one.n_outputs = 1;
    eem_output o2[2] = {{.name = "p", .type = EEM_DT_FLOAT32}, {.name = "c", .type = EEM_DT_UINT8}};
    eem_spec two = {0};
    two.outputs = o2;
    two.n_outputs = 2;
    test_number_literals();
    test_bodies(&one);
    test_answer_shapes(&one, &two);
    test_malformed(&one, &two);
    return check_report();
}
