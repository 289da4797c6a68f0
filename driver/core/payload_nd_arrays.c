/* payload_nd_arrays.c — the ND_ARRAYS payload format (see payload.h).
 *
 * Request:  keyless nested number lists, channels first: each instance is one
 *           (C, H, W) list holding the channels of every key in key order, as
 *           from numpy's ndarray.tolist() —
 *           {"instances":[<(C,H,W) list>,...]} (row) or {"inputs":[...]}
 *           (columnar: one (N, C, H, W) tensor), optional signature_name.
 *           A feature (one rank-1 input, feature_model.c) is one flat list.
 * Answer:   every shape eem_json_walk_answer accepts; each value a nested list,
 *           channels first: (C, H, W), (1, C, H, W) with a batch level, or
 *           (H, W) for a single channel; transposed to (H, W, C) for the
 *           predictor.  Numbers as in RAW_JSON (strings and NaN accepted). */
#include "payload.h"
#include "payload_json.h"

static eem_status nd_encode_instance(const eem_payload_context *ctx, const eem_instance *inst,
                                     eem_payload_fragment *frag, eem_error *err)
{
    (void)ctx;
    eem_buf *b = &frag->data;
    if (inst->n_inputs == 1 && inst->inputs[0]->ndim == 1) {
        /* a feature (feature_model.c): its properties as one flat list */
        const eem_tensor *t = inst->inputs[0];
        eem_buf_puts(b, "[");
        eem_json_put_numbers(b, t->data, t->type, 0, (size_t)t->dims[0]);
        eem_buf_puts(b, "]");
        if (eem_payload_fragment_end_part(frag) != 0)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
        return EEM_OK;
    }
    eem_buf_puts(b, "[");
    int first_channel = 1;
    for (int k = 0; k < inst->n_inputs; k++) {
        const eem_tensor *t = inst->inputs[k];
        if (t->ndim != 3)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "input \"%s\" has %d dimensions; ND_ARRAYS sends (H, W, C) tiles",
                                 inst->keys[k], t->ndim);
        int64_t H = t->dims[0], W = t->dims[1], C = t->dims[2];
        for (int64_t c = 0; c < C; c++) {
            eem_buf_puts(b, first_channel ? "[" : ",[");
            first_channel = 0;
            for (int64_t y = 0; y < H; y++) {
                eem_buf_puts(b, y ? ",[" : "[");
                for (int64_t x = 0; x < W; x++) {
                    if (x)
                        eem_buf_append(b, ",", 1);
                    eem_json_put_number(b, t->data, t->type, (size_t)((y * W + x) * C + c));
                }
                eem_buf_puts(b, "]");
            }
            eem_buf_puts(b, "]");
        }
    }
    eem_buf_puts(b, "]");
    if (eem_payload_fragment_end_part(frag) != 0)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    return EEM_OK;
}

static eem_status nd_decode_response(const eem_payload_context *ctx, const char *body,
                                     size_t len, int n_instances, size_t max_elements,
                                     eem_tensor **out, eem_error *err)
{
    return eem_json_decode_number_answer(ctx, body, len, n_instances, max_elements,
                                         1 /* channels first */, out, err);
}

const eem_payload_ops eem_payload_nd_arrays = {
    .format = EEM_PAYLOAD_ND_ARRAYS,
    .name = "ND_ARRAYS",
    .item_sep = ",",
    .column_sep = ",",
    .can_send = eem_payload_json_can_send,
    .encode_instance = nd_encode_instance,
    .head = eem_json_envelope_head,
    .column_head = eem_json_envelope_column_head,
    .column_tail = eem_json_envelope_column_tail,
    .tail = eem_json_envelope_tail,
    .decode_response = nd_decode_response,
};
