/* test_payload_oip_v2.c — OIP v2 bodies in JSON and with Triton's binary tensor
 * extension (exact sizes, header length), answers in JSON and binary (FP16/BF16
 * decoded, batch level optional) and malformed answers. */
#include "check.h"

#include "buf.h"
#include "payload.h"
#include "tensor.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* What the caller's slots held before a decode: a failed decode must leave
 * every slot NULL, so stale pointers make "nothing left behind" checkable. */
static eem_tensor stale_tensor;
static void poison_slots(eem_tensor **out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = &stale_tensor;
}

static const eem_payload_ops *ops;

static void test_bodies(const eem_spec *spec)
{
    int64_t da[3] = {2, 2, 1}, db[3] = {2, 2, 3};
    eem_tensor *a = eem_tensor_new(EEM_DT_FLOAT32, 3, da);
    eem_tensor *b = eem_tensor_new(EEM_DT_UINT16, 3, db);
    for (int i = 0; i < 4; i++)
        ((float *)a->data)[i] = 0.5f * (float)i;
    for (int i = 0; i < 12; i++)
        ((uint16_t *)b->data)[i] = (uint16_t)(65535 - i);
    const char *keys[2] = {"x", "y"};
    const eem_tensor *in[2] = {a, b};
    eem_instance inst = {2, keys, in};
    eem_error err = {0};
    for (int binary = 0; binary < 2; binary++) {
        eem_payload_context ctx = {.spec = spec, .binary = binary};
        eem_payload_batch *batch = eem_payload_batch_new(ops, &ctx);
        eem_payload_fragment f = {0};
        size_t predicted = 0;
        for (int i = 0; i < 12; i++) { /* 12 instances: the shape's digits change */
            CHECK_EQ_INT(eem_payload_encode(ops, &ctx, &inst, &f, &err), EEM_OK);
            CHECK_EQ_INT(f.n_parts, 2);
            predicted = eem_payload_batch_size_with(batch, &inst, &f);
            eem_payload_batch_add(batch, &inst, &f, &err);
        }
        eem_buf body = {0};
        size_t header = 0;
        CHECK_EQ_INT(eem_payload_batch_build(batch, &body, &header, &err), EEM_OK);
        CHECK_EQ_INT(body.len, predicted);
        if (!binary) {
            CHECK_EQ_INT(header, 0);
            CHECK(strncmp(body.data,
                          "{\"inputs\":[{\"name\":\"x\",\"shape\":[12,2,2,1],\"datatype\":\"FP32\","
                          "\"data\":[0,0.5,1,1.5,0,0.5",
                          85) == 0);
            CHECK_CONTAINS(body.data, "{\"name\":\"y\",\"shape\":[12,2,2,3],\"datatype\":\"UINT16\","
                                      "\"data\":[65535,65534");
            json_object *root = json_tokener_parse(body.data);
            CHECK(root != NULL);
            json_object_put(root);
        } else {
            /* JSON header, then x's 12*16 bytes, then y's 12*24 bytes */
            CHECK_EQ_INT(body.len, header + 12 * 16 + 12 * 24);
            CHECK(strcmp(eem_payload_content_type(ops, &ctx), "application/octet-stream") == 0);
            json_tokener *tok = json_tokener_new();
            json_object *root = json_tokener_parse_ex(tok, body.data, (int)header);
            CHECK(root && json_tokener_get_parse_end(tok) == header);
            CHECK_CONTAINS(body.data, "\"parameters\":{\"binary_data_size\":192}");
            CHECK_CONTAINS(body.data, "\"parameters\":{\"binary_data_size\":288}");
            CHECK_CONTAINS(body.data, "\"parameters\":{\"binary_data_output\":true}}");
            CHECK(memcmp(body.data + header, a->data, 16) == 0);
            CHECK(memcmp(body.data + header + 12 * 16, b->data, 24) == 0);
            json_object_put(root);
            json_tokener_free(tok);
        }
        eem_buf_free(&body);
        eem_payload_fragment_free(&f);
        eem_payload_batch_free(batch);
    }
    /* FP16 travels only in binary */
    int64_t d1[3] = {1, 1, 1};
    eem_tensor *h = eem_tensor_new(EEM_DT_FLOAT16, 3, d1);
    const eem_tensor *hin[1] = {h};
    eem_instance hinst = {1, keys, hin};
    eem_payload_fragment f = {0};
    eem_payload_context json_ctx = {.spec = spec}, bin_ctx = {.spec = spec, .binary = 1};
    CHECK_EQ_INT(eem_payload_encode(ops, &json_ctx, &hinst, &f, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "float16, which OIP_V2 cannot carry");
    CHECK_EQ_INT(eem_payload_encode(ops, &bin_ctx, &hinst, &f, &err), EEM_OK);
    eem_payload_fragment_free(&f);
    eem_tensor_free(h);
    eem_tensor_free(a);
    eem_tensor_free(b);
}

static eem_status decode(const eem_spec *spec, const char *body, size_t len, int n,
                         eem_tensor **out, eem_error *err)
{
    eem_payload_context ctx = {.spec = spec};
    return ops->decode_response(&ctx, body, len, n, 64, out, err);
}

static void test_answers(const eem_spec *two)
{
    eem_tensor *out[4] = {0};
    eem_error err = {0};
    const char *js = "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"c\",\"shape\":[2,1,2],\"datatype\":"
                     "\"UINT8\",\"data\":[[[1,2]],[[3,4]]]},{\"name\":\"p\",\"shape\":[2,1,1,1],"
                     "\"datatype\":\"FP32\",\"data\":[0.25,NaN]}]}";
    CHECK_EQ_INT(decode(two, js, strlen(js), 2, out, &err), EEM_OK);
    CHECK(out[0] && out[0]->ndim == 3 && ((float *)out[0]->data)[0] == 0.25f);
    CHECK(out[1] && out[1]->ndim == 2 && ((uint8_t *)out[1]->data)[1] == 2);
    CHECK(out[3] && ((uint8_t *)out[3]->data)[0] == 3);
    for (int i = 0; i < 4; i++)
        eem_tensor_free(out[i]);
    /* a JSON-only answer: trailing whitespace is fine, trailing data is not */
    char with_tail[1024];
    snprintf(with_tail, sizeof with_tail, "%s \r\n\t", js);
    memset(out, 0, sizeof out);
    CHECK_EQ_INT(decode(two, with_tail, strlen(with_tail), 2, out, &err), EEM_OK);
    CHECK(out[3] && ((uint8_t *)out[3]->data)[0] == 3);
    for (int i = 0; i < 4; i++)
        eem_tensor_free(out[i]);
    snprintf(with_tail, sizeof with_tail, "%s\n{\"outputs\":[]}", js);
    poison_slots(out, 4);
    CHECK_EQ_INT(decode(two, with_tail, strlen(with_tail), 2, out, &err), EEM_ERR_PROTOCOL);
    char needle[96];
    snprintf(needle, sizeof needle, "unexpected data after the value at offset %zu", strlen(js) + 1);
    CHECK_CONTAINS(err.msg, needle);
    CHECK(!out[0] && !out[1] && !out[2] && !out[3]);

    /* binary: p as BF16, c as UINT8, after the JSON header */
    eem_buf b = {0};
    eem_buf_puts(&b, "{\"outputs\":[{\"name\":\"p\",\"shape\":[2,1,1,1],\"datatype\":\"BF16\","
                     "\"parameters\":{\"binary_data_size\":4}},{\"name\":\"c\",\"shape\":[2,1,2],"
                     "\"datatype\":\"UINT8\",\"parameters\":{\"binary_data_size\":4}}]}");
    const uint8_t bin[8] = {0xC0, 0x3F, 0x80, 0xBF, 9, 8, 7, 6}; /* 1.5, -1.0 in bfloat16 */
    eem_buf_append(&b, bin, 8);
    memset(out, 0, sizeof out);
    CHECK_EQ_INT(decode(two, b.data, b.len, 2, out, &err), EEM_OK);
    CHECK(out[0] && out[0]->type == EEM_DT_BFLOAT16 && eem_dtype_get(out[0]->data, out[0]->type, 0) == 1.5);
    CHECK(out[2] && eem_dtype_get(out[2]->data, out[2]->type, 0) == -1.0);
    CHECK(out[3] && ((uint8_t *)out[3]->data)[1] == 6);
    for (int i = 0; i < 4; i++)
        eem_tensor_free(out[i]);
    /* the binary data is shorter than announced */
    poison_slots(out, 4);
    CHECK_EQ_INT(decode(two, b.data, b.len - 1, 2, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "outputs[1]: binary data ends at byte 8 but the answer holds only 7");
    CHECK(!out[0] && !out[1] && !out[2] && !out[3]);
    eem_buf_free(&b);

    struct {
        const char *body, *needle;
        int n;
    } bad[] = {
        {"{\"outputs\":[{\"name\":\"p\",\"shape\":[3,1],\"datatype\":\"FP32\",\"data\":[1,2,3]},"
         "{\"name\":\"c\",\"shape\":[3,1],\"datatype\":\"UINT8\",\"data\":[1,2,3]}]}",
         "outputs[0].shape: leading dimension 3, expected the batch size 2", 2},
        {"{\"outputs\":[{\"name\":\"p\",\"shape\":[2,1],\"datatype\":\"FP32\",\"data\":[1]},"
         "{\"name\":\"c\",\"shape\":[2,1],\"datatype\":\"UINT8\",\"data\":[1,2]}]}",
         "outputs[0].data: 1 values, but its shape holds 2", 2},
        {"{\"outputs\":[{\"name\":\"p\",\"shape\":[2,1],\"datatype\":\"FP32\",\"data\":[1,\"z\"]}]}",
         "outputs[0].data (element 1): expected a number, got the string \"z\"", 2},
        {"{\"outputs\":[{\"name\":\"q\",\"shape\":[2,1],\"datatype\":\"FP32\",\"data\":[1,2]}]}",
         "outputs: no output named \"p\" (outputs present: \"q\")", 2},
        {"{\"outputs\":{}}", "outputs: expected a list of output objects", 2},
        {"{\"error\":\"model not ready\"}", "the server answered with an error: model not ready", 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        poison_slots(out, 4);
        CHECK_EQ_INT(decode(two, bad[i].body, strlen(bad[i].body), bad[i].n, out, &err),
                     EEM_ERR_PROTOCOL);
        CHECK_CONTAINS(err.msg, bad[i].needle);
        CHECK(!out[0] && !out[1] && !out[2] && !out[3]);
    }
}

int main(void)
{
    ops = eem_payload_ops_for(EEM_PAYLOAD_OIP_V2);
    CHECK(ops == &eem_payload_oip_v2);
    if (!ops)
        return check_report();
    CHECK(strcmp(eem_oip_datatype_name(EEM_DT_BFLOAT16), "BF16") == 0);
    CHECK_EQ_INT(eem_oip_datatype_from_name("UINT64"), EEM_DT_UINT64);
    CHECK_EQ_INT(eem_oip_datatype_from_name("BYTES"), EEM_DT_NONE);
    eem_output o2[2] = {{.name = "p", .type = EEM_DT_FLOAT32}, {.name = "c", .type = EEM_DT_UINT8}};
    eem_spec two = {0};
    two.outputs = o2;
    two.n_outputs = 2;
    test_bodies(&two);
    test_answers(&two);
    return check_report();
}
