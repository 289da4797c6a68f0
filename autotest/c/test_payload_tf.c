/* test_payload_tf.c — SERIALIZED_TF_TENSORS request encoding and answer decoding. */
#include "check.h"

#include "buf.h"
#include "payload.h"
#include "tensor.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static const eem_payload_ops *ops;

/* base64 of the serialized TensorProto of a float32 tensor of shape dims filled with v0, v0+1, ...
 */
static char *tensor_b64(eem_dtype type, int ndim, const int64_t *dims, double v0)
{
    eem_tensor *t = eem_tensor_new(type, ndim, dims);
    size_t n = eem_tensor_count(t);
    double *vals = malloc(n * sizeof *vals);
    for (size_t i = 0; i < n; i++)
        vals[i] = v0 + (double)i;
    eem_dtype_convert(vals, EEM_DT_FLOAT64, t->data, type, n);
    free(vals);
    uint8_t *bytes = NULL;
    size_t len = 0;
    char *text = NULL;
    eem_tensorproto_encode(t, &bytes, &len, NULL);
    eem_base64_encode(bytes, len, &text, NULL);
    free(bytes);
    eem_tensor_free(t);
    return text;
}

static void test_ops_lookup(void)
{
    CHECK(eem_payload_ops_for(EEM_PAYLOAD_SERIALIZED_TF_TENSORS) ==
          &eem_payload_serialized_tf_tensors);
    CHECK(eem_payload_ops_for(EEM_PAYLOAD_NONE) == NULL);
    CHECK_EQ_INT(ops->format, EEM_PAYLOAD_SERIALIZED_TF_TENSORS);
    CHECK(strcmp(ops->name, "SERIALIZED_TF_TENSORS") == 0);
}

/* A body of n copies of inst, through the batch assembler; returns the body
 * length measured before building (must equal the built length). */
static size_t encode_body(const eem_spec *spec, const eem_instance *inst, int n, eem_buf *body,
                          size_t *one_part, eem_error *err)
{
    eem_payload_context ctx = {.spec = spec};
    eem_payload_batch *batch = eem_payload_batch_new(ops, &ctx);
    eem_payload_fragment frag = {0};
    size_t measured = 0;
    for (int i = 0; i < n; i++) {
        CHECK_EQ_INT(eem_payload_encode(ops, &ctx, inst, &frag, err), EEM_OK);
        measured = eem_payload_batch_size_with(batch, inst, &frag);
        CHECK_EQ_INT(eem_payload_batch_add(batch, inst, &frag, err), EEM_OK);
    }
    *one_part = frag.data.len;
    size_t header = 1;
    CHECK_EQ_INT(eem_payload_batch_build(batch, body, &header, err), EEM_OK);
    CHECK_EQ_INT(header, 0); /* a JSON body, no binary header */
    eem_payload_fragment_free(&frag);
    eem_payload_batch_free(batch);
    return measured;
}

static void test_encode(const eem_spec *spec)
{
    int64_t dims_a[3] = {2, 2, 3}, dims_b[3] = {2, 2, 1};
    eem_tensor *a = eem_tensor_new(EEM_DT_FLOAT32, 3, dims_a);
    eem_tensor *b = eem_tensor_new(EEM_DT_UINT8, 3, dims_b);
    for (int i = 0; i < 12; i++)
        ((float *)a->data)[i] = (float)i * 0.25f;
    for (int i = 0; i < 4; i++)
        ((uint8_t *)b->data)[i] = (uint8_t)(250 + i);
    const char *keys[2] = {"array", "m\"ask"};
    const eem_tensor *inputs[2] = {a, b};
    eem_instance inst = {2, keys, inputs};
    eem_buf body = {0};
    eem_error err = {0};
    size_t one = 0;
    size_t measured = encode_body(spec, &inst, 2, &body, &one, &err);
    CHECK(strncmp(body.data, "{\"instances\":[{\"array\":\"", 24) == 0);
    CHECK_CONTAINS(body.data, "\"m\\\"ask\":\"");
    CHECK(strcmp(body.data + body.len - 3, "}]}") == 0);
    CHECK_EQ_INT(body.len, 2 * one + 14 + 1 + 2);
    CHECK_EQ_INT(measured, body.len);

    /* the body is JSON whose strings decode back to the tensors */
    json_object *root = json_tokener_parse(body.data);
    CHECK(root != NULL);
    json_object *list = NULL, *first = NULL, *va = NULL, *vb = NULL;
    CHECK(json_object_object_get_ex(root, "instances", &list));
    CHECK_EQ_INT(json_object_array_length(list), 2);
    first = json_object_array_get_idx(list, 1);
    CHECK(json_object_object_get_ex(first, "array", &va));
    CHECK(json_object_object_get_ex(first, "m\"ask", &vb));
    const eem_tensor *want[2] = {a, b};
    json_object *vals[2] = {va, vb};
    for (int k = 0; k < 2; k++) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        eem_tensor *t = NULL;
        const char *s = json_object_get_string(vals[k]);
        CHECK_EQ_INT(eem_base64_decode(s, strlen(s), &bytes, &len, &err), EEM_OK);
        CHECK_EQ_INT(eem_tensorproto_decode(bytes, len, 0, &t, &err), EEM_OK);
        CHECK(t && t->type == want[k]->type && t->ndim == 3 && t->dims[2] == want[k]->dims[2]);
        CHECK(t && memcmp(t->data, want[k]->data, eem_tensor_nbytes(t)) == 0);
        /* identical to encode + base64 in one piece */
        uint8_t *enc = NULL;
        size_t enc_len = 0;
        char *text = NULL;
        eem_tensorproto_encode(want[k], &enc, &enc_len, &err);
        eem_base64_encode(enc, enc_len, &text, NULL);
        CHECK(strcmp(text, s) == 0);
        free(text);
        free(enc);
        free(bytes);
        eem_tensor_free(t);
    }
    json_object_put(root);
    eem_buf_free(&body);
    eem_tensor_free(a);
    eem_tensor_free(b);

    /* the streamed base64 is right for every header/data length alignment */
    int mismatches = 0;
    for (int64_t n = 0; n < 12; n++) {
        eem_tensor *t = eem_tensor_new(EEM_DT_UINT8, 1, &n);
        for (int64_t i = 0; i < n; i++)
            ((uint8_t *)t->data)[i] = (uint8_t)(i * 31 + 1);
        const char *k1[1] = {"x"};
        const eem_tensor *in1[1] = {t};
        eem_instance one_in = {1, k1, in1};
        eem_payload_context ctx = {.spec = spec};
        eem_payload_fragment bb = {0};
        eem_payload_encode(ops, &ctx, &one_in, &bb, &err);
        uint8_t *enc = NULL;
        size_t enc_len = 0;
        char *text = NULL;
        eem_tensorproto_encode(t, &enc, &enc_len, &err);
        eem_base64_encode(enc, enc_len, &text, NULL);
        eem_buf expect = {0};
        eem_buf_printf(&expect, "{\"x\":\"%s\"}", text);
        mismatches += strcmp(bb.data.data, expect.data) != 0;
        eem_buf_free(&expect);
        eem_payload_fragment_free(&bb);
        free(text);
        free(enc);
        eem_tensor_free(t);
    }
    CHECK_EQ_INT(mismatches, 0);

    /* an invalid tensor is refused and the body is left untouched */
    eem_tensor bad = {.type = EEM_DT_FLOAT32, .ndim = 1, .dims = {-4}, .data = NULL};
    const char *kb[1] = {"x"};
    const eem_tensor *ib[1] = {&bad};
    eem_instance bad_inst = {1, kb, ib};
    eem_payload_context ctx = {.spec = spec};
    eem_payload_fragment bb = {0};
    CHECK_EQ_INT(eem_payload_encode(ops, &ctx, &bad_inst, &bb, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "input \"x\"");
    CHECK_EQ_INT(bb.n_parts, 0);
    eem_payload_fragment_free(&bb);

    /* columnar with a signature: {"signature_name":..,"inputs":{"array":[..,..],"m\"ask":[..]}} */
    eem_payload_context col = {.spec = spec, .columnar = 1, .signature_name = "sig"};
    eem_payload_batch *batch = eem_payload_batch_new(ops, &col);
    eem_payload_fragment f = {0};
    eem_tensor *a2 = eem_tensor_new(EEM_DT_FLOAT32, 3, dims_a);
    eem_tensor *b2 = eem_tensor_new(EEM_DT_UINT8, 3, dims_b);
    const eem_tensor *inputs2[2] = {a2, b2};
    eem_instance inst2 = {2, keys, inputs2};
    size_t predicted = 0;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(eem_payload_encode(ops, &col, &inst2, &f, &err), EEM_OK);
        CHECK_EQ_INT(f.n_parts, 2);
        predicted = eem_payload_batch_size_with(batch, &inst2, &f);
        eem_payload_batch_add(batch, &inst2, &f, &err);
    }
    eem_buf cb = {0};
    CHECK_EQ_INT(eem_payload_batch_build(batch, &cb, NULL, &err), EEM_OK);
    CHECK_EQ_INT(cb.len, predicted);
    CHECK(strncmp(cb.data, "{\"signature_name\":\"sig\",\"inputs\":{\"array\":[\"", 38) == 0);
    json_object *croot = json_tokener_parse(cb.data), *cin = NULL, *ca = NULL;
    CHECK(croot && json_object_object_get_ex(croot, "inputs", &cin) &&
          json_object_object_get_ex(cin, "m\"ask", &ca) && json_object_array_length(ca) == 3);
    json_object_put(croot);
    eem_buf_free(&cb);
    eem_payload_fragment_free(&f);
    eem_payload_batch_free(batch);
    eem_tensor_free(a2);
    eem_tensor_free(b2);
}

static eem_status decode(const eem_spec *spec, const char *body, int n_instances,
                         size_t max_elements, eem_tensor **out, eem_error *err)
{
    eem_payload_context ctx = {.spec = spec};
    return ops->decode_response(&ctx, body, strlen(body), n_instances, max_elements, out, err);
}

static int all_null(eem_tensor **out, int n)
{
    for (int i = 0; i < n; i++)
        if (out[i])
            return 0;
    return 1;
}

static void free_all(eem_tensor **out, int n)
{
    for (int i = 0; i < n; i++) {
        eem_tensor_free(out[i]);
        out[i] = NULL;
    }
}

static void test_decode_one_output(const eem_spec *spec)
{
    int64_t dims[3] = {2, 2, 1};
    char *t0 = tensor_b64(EEM_DT_FLOAT32, 3, dims, 0);
    char *t1 = tensor_b64(EEM_DT_FLOAT32, 3, dims, 10);
    eem_tensor *out[4] = {0};
    eem_error err = {0};
    eem_buf b = {0};

    /* list of strings */
    eem_buf_printf(&b, "{\"predictions\": [\"%s\", \"%s\"]}", t0, t1);
    CHECK_EQ_INT(decode(spec, b.data, 2, 4, out, &err), EEM_OK);
    CHECK(out[0] && out[1]);
    if (out[0] && out[1]) {
        CHECK(((float *)out[0]->data)[3] == 3.0f);
        CHECK(((float *)out[1]->data)[0] == 10.0f);
        CHECK(out[1]->ndim == 3 && out[1]->dims[0] == 2);
    }
    free_all(out, 2);

    /* list of objects keyed by the output name, "outputs" spelling, {"b64":..} wrapper */
    eem_buf_reset(&b);
    eem_buf_printf(&b, "{\"outputs\":[{\"probs\":\"%s\"},{\"probs\":{\"b64\":\"%s\"}}]}", t0, t1);
    CHECK_EQ_INT(decode(spec, b.data, 2, 0, out, &err), EEM_OK);
    CHECK(out[1] && ((float *)out[1]->data)[1] == 11.0f);
    free_all(out, 2);

    /* objects with one other key are accepted for a single output */
    eem_buf_reset(&b);
    eem_buf_printf(&b, "{\"predictions\":[{\"output_0\":\"%s\"}]}", t1);
    CHECK_EQ_INT(decode(spec, b.data, 1, 0, out, &err), EEM_OK);
    CHECK(out[0] && ((float *)out[0]->data)[0] == 10.0f);
    free_all(out, 1);

    /* URL-safe, unpadded base64 */
    eem_buf_reset(&b);
    char *u = malloc(strlen(t0) + 1);
    memcpy(u, t0, strlen(t0) + 1);
    for (char *p = u; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    char *eq = strchr(u, '=');
    if (eq)
        *eq = '\0';
    eem_buf_printf(&b, "{\"predictions\":[\"%s\"]}", u);
    free(u);
    CHECK_EQ_INT(decode(spec, b.data, 1, 0, out, &err), EEM_OK);
    CHECK(out[0] && ((float *)out[0]->data)[2] == 2.0f);
    free_all(out, 1);

    /* wrong count */
    eem_buf_reset(&b);
    eem_buf_printf(&b, "{\"predictions\": [\"%s\", \"%s\"]}", t0, t1);
    CHECK_EQ_INT(decode(spec, b.data, 3, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "2 entries");
    CHECK_CONTAINS(err.msg, "3 instances");
    CHECK(all_null(out, 3));

    /* the second entry is garbage: the first tensor is released, nothing leaks */
    eem_buf_reset(&b);
    eem_buf_printf(&b, "{\"predictions\": [\"%s\", \"AAAAAAAAAAAAAAAAA!AAAAA\"]}", t0);
    CHECK_EQ_INT(decode(spec, b.data, 2, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "predictions[1]: invalid base64 at offset 17");
    CHECK(all_null(out, 2));

    /* valid base64 that is not a TensorProto */
    CHECK_EQ_INT(decode(spec, "{\"predictions\":[{\"probs\":\"/////w==\"}]}", 1, 0, out, &err),
                 EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "predictions[0].probs: ");
    CHECK_CONTAINS(err.msg, "TensorProto");

    /* max_elements refuses an oversized tensor */
    eem_buf_reset(&b);
    eem_buf_printf(&b, "{\"predictions\": [\"%s\"]}", t0);
    CHECK_EQ_INT(decode(spec, b.data, 1, 3, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "predictions[0]: ");
    CHECK_CONTAINS(err.msg, "4 elements");
    CHECK(all_null(out, 1));

    /* not a string */
    CHECK_EQ_INT(decode(spec, "{\"predictions\":[[1,2,3]]}", 1, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "predictions[0]: expected a base64 string");
    CHECK_EQ_INT(decode(spec, "{\"predictions\":{\"a\":1}}", 1, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "predictions.a: expected a base64 string");
    CHECK_EQ_INT(decode(spec, "{\"predictions\":\"x\"}", 1, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "predictions: expected a list (one entry per instance) or an object");
    CHECK_EQ_INT(decode(spec, "{\"result\":[]}", 1, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "no \"predictions\" or \"outputs\" (keys present: \"result\")");
    CHECK_EQ_INT(decode(spec, "[\"x\"]", 1, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "expected an object");

    /* long strings with JSON escapes ("\u0043" is 'C') still decode */
    eem_buf_reset(&b);
    CHECK(t0[0] == 'C');
    eem_buf_printf(&b, "{\"predictions\":[\"\\u0043%s\"]}", t0 + 1);
    CHECK_EQ_INT(decode(spec, b.data, 1, 0, out, &err), EEM_OK);
    CHECK(out[0] && ((float *)out[0]->data)[3] == 3.0f);
    free_all(out, 1);

    /* a string that looks like an internal marker is not mistaken for another string */
    eem_buf_reset(&b);
    eem_buf_printf(&b, "{\"predictions\":[\"\\u00000\"],\"pad\":\"%s\"}", t1);
    CHECK_EQ_INT(decode(spec, b.data, 1, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "predictions[0]: invalid base64 at offset 0");
    CHECK(all_null(out, 1));

    eem_buf_free(&b);
    free(t0);
    free(t1);
}

static void test_decode_long_output_name(void)
{
    const char *name = "a_very_long_output_name_that_is_longer_than_sixty_four_characters_x";
    eem_output o[1] = {{.name = (char *)name, .type = EEM_DT_FLOAT32}};
    eem_spec spec = {0};
    spec.outputs = o;
    spec.n_outputs = 1;
    int64_t dims[1] = {3};
    char *t0 = tensor_b64(EEM_DT_FLOAT32, 1, dims, 7);
    eem_buf b = {0};
    eem_buf_printf(&b, "{\"predictions\":[{\"%s\": \"%s\", \"other\": \"%s\"}]}", name, t0, t0);
    eem_tensor *out[1] = {0};
    eem_error err = {0};
    CHECK_EQ_INT(decode(&spec, b.data, 1, 0, out, &err), EEM_OK);
    CHECK(out[0] && ((float *)out[0]->data)[2] == 9.0f);
    free_all(out, 1);
    eem_buf_free(&b);
    free(t0);
}

static void test_decode_errors(const eem_spec *spec)
{
    eem_tensor *out[2] = {0};
    eem_error err = {0};

    CHECK_EQ_INT(decode(spec, "{\"error\": \"Servable not found for request: Latest(half)\"}", 1, 0,
                        out, &err),
                 EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "Servable not found for request: Latest(half)");
    CHECK_EQ_INT(
        decode(spec,
               "{\"error\": {\"code\": 400, \"message\": \"Invalid JSON payload\", \"status\": "
               "\"INVALID_ARGUMENT\"}}",
               1, 0, out, &err),
        EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "Invalid JSON payload");
    /* long messages are trimmed */
    eem_buf b = {0};
    eem_buf_puts(&b, "{\"error\":\"");
    for (int i = 0; i < 1000; i++)
        eem_buf_puts(&b, "x");
    eem_buf_puts(&b, "\"}");
    CHECK_EQ_INT(decode(spec, b.data, 1, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK(strlen(err.msg) < 400);
    CHECK_CONTAINS(err.msg, "xxx...");

    /* not JSON, truncated, trailing data, too deep */
    CHECK_EQ_INT(decode(spec, "<html>502 Bad Gateway</html>", 1, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "not valid JSON");
    CHECK_CONTAINS(err.msg, "offset 0");
    CHECK_EQ_INT(decode(spec, "{\"predictions\": [\"AAAA\"", 1, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "not valid JSON");
    CHECK_EQ_INT(decode(spec, "{\"predictions\": []} xyz", 0, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "offset 20");
    CHECK_EQ_INT(decode(spec, "", 1, 0, out, &err), EEM_ERR_PROTOCOL);
    eem_buf_reset(&b);
    eem_buf_puts(&b, "{\"predictions\":");
    for (int i = 0; i < 100; i++)
        eem_buf_puts(&b, "[");
    for (int i = 0; i < 100; i++)
        eem_buf_puts(&b, "]");
    eem_buf_puts(&b, "}");
    CHECK_EQ_INT(decode(spec, b.data, 1, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "not valid JSON");
    CHECK(all_null(out, 1));
    /* an empty answer to an empty request is fine */
    CHECK_EQ_INT(decode(spec, "{\"predictions\": []}\n", 0, 0, out, &err), EEM_OK);
    eem_buf_free(&b);
}

static void test_decode_two_outputs(const eem_spec *spec)
{
    int64_t d1[3] = {2, 2, 1}, d3[3] = {2, 2, 3};
    char *p0 = tensor_b64(EEM_DT_FLOAT32, 3, d1, 0);
    char *c0 = tensor_b64(EEM_DT_UINT8, 3, d3, 100);
    char *p1 = tensor_b64(EEM_DT_FLOAT32, 3, d1, 50);
    char *c1 = tensor_b64(EEM_DT_UINT8, 3, d3, 200);
    eem_tensor *out[4] = {0};
    eem_error err = {0};
    eem_buf b = {0};

    eem_buf_printf(&b,
                   "{\"predictions\":[{\"classes\":\"%s\",\"probs\":\"%s\",\"extra\":1},"
                   "{\"probs\":\"%s\",\"classes\":\"%s\"}]}",
                   c0, p0, p1, c1);
    CHECK_EQ_INT(decode(spec, b.data, 2, 0, out, &err), EEM_OK);
    /* out[i * n_outputs + k], k in declared order (probs, classes) */
    CHECK(out[0] && out[0]->type == EEM_DT_FLOAT32 && ((float *)out[0]->data)[1] == 1.0f);
    CHECK(out[1] && out[1]->type == EEM_DT_UINT8 && ((uint8_t *)out[1]->data)[0] == 100);
    CHECK(out[2] && ((float *)out[2]->data)[0] == 50.0f);
    CHECK(out[3] && ((uint8_t *)out[3]->data)[11] == 211);
    free_all(out, 4);

    /* a missing output is named, with the keys present */
    eem_buf_reset(&b);
    eem_buf_printf(&b,
                   "{\"predictions\":[{\"classes\":\"%s\",\"probs\":\"%s\"},{\"probs\":\"%s\","
                   "\"cls\":\"%s\"}]}",
                   c0, p0, p1, c1);
    CHECK_EQ_INT(decode(spec, b.data, 2, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "predictions[1]: no output named \"classes\"");
    CHECK_CONTAINS(err.msg, "\"probs\", \"cls\"");
    CHECK(all_null(out, 4));

    /* a plain string cannot carry two outputs */
    eem_buf_reset(&b);
    eem_buf_printf(&b, "{\"predictions\":[\"%s\"]}", p0);
    CHECK_EQ_INT(decode(spec, b.data, 1, 0, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "predictions[0]: expected an object");
    CHECK(all_null(out, 2));

    eem_buf_free(&b);
    free(p0);
    free(c0);
    free(p1);
    free(c1);
}

/* Build a body of n copies of inst into out through batch (reset first when
 * reuse, else a new batch); returns the size predicted before the last add. */
static size_t build_with(eem_payload_batch **batch, int reuse, const eem_payload_context *ctx,
                         const eem_instance *inst, int n, eem_buf *out)
{
    eem_error err = {0};
    if (reuse) {
        eem_payload_batch_reset(*batch);
    } else {
        eem_payload_batch_free(*batch);
        *batch = eem_payload_batch_new(ops, ctx);
    }
    eem_payload_fragment f = {0};
    size_t predicted = 0;
    for (int i = 0; i < n; i++) {
        CHECK_EQ_INT(eem_payload_encode(ops, ctx, inst, &f, &err), EEM_OK);
        predicted = eem_payload_batch_size_with(*batch, inst, &f);
        CHECK_EQ_INT(eem_payload_batch_add(*batch, inst, &f, &err), EEM_OK);
    }
    CHECK_EQ_INT(eem_payload_batch_build(*batch, out, NULL, &err), EEM_OK);
    eem_payload_fragment_free(&f);
    return predicted;
}

/* A batch emptied with eem_payload_batch_reset and filled again (fewer or
 * more instances, fewer or more columns) builds the same body as a new one. */
static void test_batch_reuse(const eem_spec *spec)
{
    int64_t dims_a[3] = {4, 4, 3}, dims_b[3] = {4, 4, 1};
    eem_tensor *a = eem_tensor_new(EEM_DT_FLOAT32, 3, dims_a);
    eem_tensor *b = eem_tensor_new(EEM_DT_UINT8, 3, dims_b);
    for (size_t i = 0; i < eem_tensor_count(a); i++)
        ((float *)a->data)[i] = (float)i * 0.5f;
    memset(b->data, 7, eem_tensor_nbytes(b));
    const char *k2[2] = {"array", "mask"};
    const eem_tensor *in2[2] = {a, b}, *in1[1] = {b};
    eem_instance two = {2, k2, in2}, one = {1, k2 + 1, in1};
    for (int columnar = 0; columnar < 2; columnar++) {
        eem_payload_context ctx = {.spec = spec, .columnar = columnar};
        eem_payload_batch *reused = eem_payload_batch_new(ops, &ctx), *fresh = NULL;
        const struct {
            const eem_instance *inst;
            int n;
        } rounds[] = {{&two, 5}, {&two, 2}, {&one, 3}, {&two, 4}, {&one, 1}};
        for (size_t r = 0; r < sizeof rounds / sizeof rounds[0]; r++) {
            eem_buf got = {0}, want = {0};
            size_t p1 = build_with(&reused, r > 0, &ctx, rounds[r].inst, rounds[r].n, &got);
            size_t p2 = build_with(&fresh, 0, &ctx, rounds[r].inst, rounds[r].n, &want);
            CHECK_EQ_INT(got.len, want.len);
            CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
            CHECK_EQ_INT(p1, got.len);
            CHECK_EQ_INT(p2, want.len);
            eem_buf_free(&got);
            eem_buf_free(&want);
        }
        CHECK(reused->cap_columns >= 1);
        eem_payload_batch_free(reused);
        eem_payload_batch_free(fresh);
    }
    eem_tensor_free(a);
    eem_tensor_free(b);
}

int main(void)
{
    ops = eem_payload_ops_for(EEM_PAYLOAD_SERIALIZED_TF_TENSORS);
    CHECK(ops != NULL);
    if (!ops)
        return check_report();
    eem_output one_output[1] = {{.name = "probs", .type = EEM_DT_FLOAT32, .dims = 0}};
    eem_spec one = {0};
    one.outputs = one_output;
    one.n_outputs = 1;
    one.payload_format = EEM_PAYLOAD_SERIALIZED_TF_TENSORS;
    eem_output two_outputs[2] = {{.name = "probs", .type = EEM_DT_FLOAT32},
                                 {.name = "classes", .type = EEM_DT_UINT8}};
    eem_spec two = one;
    two.outputs = two_outputs;
    two.n_outputs = 2;

    test_ops_lookup();
    test_encode(&one);
    test_batch_reuse(&one);
    test_decode_one_output(&one);
    test_decode_errors(&one);
    test_decode_two_outputs(&two);
    test_decode_long_output_name();
    return check_report();
}
