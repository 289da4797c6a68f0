/* test_payload_nd_arrays.c — ND_ARRAYS: keyless channels-first (C,H,W) instances
 * from every key in order, row and columnar envelopes, exact sizes, and
 * channels-first answers transposed to (H,W,C). */
#include "check.h"

#include "buf.h"
#include "payload.h"
#include "tensor.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const eem_payload_ops *ops;

static void test_instance_layout(const eem_spec *spec)
{
    /* key a: (H=2, W=3, C=2) values 100*c + 10*y + x; key b: (2,3,1) values 7 */
    int64_t da[3] = {2, 3, 2}, db[3] = {2, 3, 1};
    eem_tensor *a = eem_tensor_new(EEM_DT_INT16, 3, da);
    eem_tensor *b = eem_tensor_new(EEM_DT_UINT8, 3, db);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++)
            for (int c = 0; c < 2; c++)
                ((int16_t *)a->data)[(y * 3 + x) * 2 + c] = (int16_t)(100 * c + 10 * y + x - 1);
    memset(b->data, 7, 6);
    const char *keys[2] = {"a", "b"};
    const eem_tensor *in[2] = {a, b};
    eem_instance inst = {2, keys, in};
    eem_error err = {0};
    eem_payload_context ctx = {.spec = spec};
    eem_payload_fragment f = {0};
    CHECK_EQ_INT(eem_payload_encode(ops, &ctx, &inst, &f, &err), EEM_OK);
    CHECK_EQ_INT(f.n_parts, 1);
    CHECK(f.data.data && strcmp(f.data.data, "[[[-1,0,1],[9,10,11]],[[99,100,101],[109,110,111]],"
                                             "[[7,7,7],[7,7,7]]]") == 0);
    for (int columnar = 0; columnar < 2; columnar++) {
        eem_payload_context c2 = {.spec = spec, .columnar = columnar};
        eem_payload_batch *batch = eem_payload_batch_new(ops, &c2);
        size_t predicted = 0;
        for (int i = 0; i < 4; i++) {
            predicted = eem_payload_batch_size_with(batch, &inst, &f);
            eem_payload_batch_add(batch, &inst, &f, &err);
        }
        eem_buf body = {0};
        CHECK_EQ_INT(eem_payload_batch_build(batch, &body, NULL, &err), EEM_OK);
        CHECK_EQ_INT(body.len, predicted);
        CHECK(strncmp(body.data, columnar ? "{\"inputs\":[[[[-1," : "{\"instances\":[[[[-1,",
                      columnar ? 16 : 19) == 0);
        json_object *root = json_tokener_parse(body.data), *list = NULL;
        CHECK(json_object_object_get_ex(root, columnar ? "inputs" : "instances", &list) &&
              json_object_array_length(list) == 4);
        json_object_put(root);
        eem_buf_free(&body);
        eem_payload_batch_free(batch);
    }
    eem_payload_fragment_free(&f);
    eem_tensor_free(a);
    eem_tensor_free(b);
}

static eem_status decode(const eem_spec *spec, const char *body, int n, eem_tensor **out,
                         eem_error *err)
{
    eem_payload_context ctx = {.spec = spec};
    return ops->decode_response(&ctx, body, strlen(body), n, 0, out, err);
}

static void test_answers(const eem_spec *spec)
{
    eem_tensor *out[2] = {0};
    eem_error err = {0};
    /* (C=2, H=1, W=3) -> (1, 3, 2) */
    CHECK_EQ_INT(decode(spec, "{\"predictions\":[[[[1,2,3]],[[4,5,6]]]]}", 1, out, &err), EEM_OK);
    CHECK(out[0] && out[0]->ndim == 3 && out[0]->dims[0] == 1 && out[0]->dims[1] == 3 &&
          out[0]->dims[2] == 2);
    if (out[0]) {
        const float *v = out[0]->data;
        CHECK(v[0] == 1 && v[1] == 4 && v[2] == 2 && v[3] == 5 && v[4] == 3 && v[5] == 6);
    }
    eem_tensor_free(out[0]);
    /* with a batch level (1, C, H, W), and a plain (H, W) for one channel */
    CHECK_EQ_INT(decode(spec, "{\"predictions\":[[[[[1,2]],[[3,4]]]],[[5,6]]]}", 2, out, &err),
                 EEM_OK);
    CHECK(out[0] && out[0]->ndim == 3 && out[0]->dims[2] == 2 && ((float *)out[0]->data)[1] == 3);
    CHECK(out[1] && out[1]->ndim == 2 && ((float *)out[1]->data)[1] == 6);
    eem_tensor_free(out[0]);
    eem_tensor_free(out[1]);
    /* errors keep their JSON path */
    CHECK_EQ_INT(decode(spec, "{\"predictions\":[[[[1,2]],[[3]]]]}", 1, out, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "predictions[0][1][0]: 1 entries, expected 2");
    CHECK(out[0] == NULL);
}

int main(void)
{
    ops = eem_payload_ops_for(EEM_PAYLOAD_ND_ARRAYS);
    CHECK(ops == &eem_payload_nd_arrays);
    if (!ops)
        return check_report();
    eem_output o1[1] = {{.name = "out", .type = EEM_DT_FLOAT32}};
    eem_spec one = {0};
    one.outputs = o1;
    one.n_outputs = 1;
    test_instance_layout(&one);
    test_answers(&one);
    return check_report();
}
