/* payload_raw_json.c — the RAW_JSON payload format (see payload.h).
 *
 * Request:  named inputs as nested JSON number lists, one (H, W, C) list per key:
 *           {"instances":[{"key":[[[v,...],...],...],...},...]} (row) or
 *           {"inputs":{"key":[<instance 0>,<instance 1>,...],...}} (columnar),
 *           TF Serving style envelope with optional signature_name.  Numbers are
 *           exact (payload_json.c); NaN / Infinity as TF Serving's literals.
 *           Half floats have no JSON number type: refused at open.
 * Answer:   every shape eem_json_walk_answer accepts; each value a nested list
 *           (H, W[, C]) of numbers, NaN / Infinity literals, or numbers written
 *           as JSON strings (as Earth Engine's RAW_JSON sends them). */
#include "payload.h"
#include "payload_json.h"

static eem_status raw_encode_instance(const eem_payload_context *ctx, const eem_instance *inst,
                                      eem_payload_fragment *frag, eem_error *err)
{
    eem_buf *b = &frag->data;
    if (!ctx->columnar)
        eem_buf_puts(b, "{");
    for (int i = 0; i < inst->n_inputs; i++) {
        if (!ctx->columnar) {
            if (i)
                eem_buf_puts(b, ",");
            eem_buf_json_string(b, inst->keys[i]);
            eem_buf_puts(b, ":");
        }
        if (eem_json_put_nested(b, inst->inputs[i]) != 0)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
        if (ctx->columnar && eem_payload_fragment_end_part(frag) != 0)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    }
    if (!ctx->columnar) {
        eem_buf_puts(b, "}");
        if (eem_payload_fragment_end_part(frag) != 0)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    }
    return EEM_OK;
}

static eem_status raw_decode_response(const eem_payload_context *ctx, const char *body,
                                      size_t len, int n_instances, size_t max_elements,
                                      eem_tensor **out, eem_error *err)
{
    return eem_json_decode_number_answer(ctx, body, len, n_instances, max_elements,
                                         0, out, err);
}

const eem_payload_ops eem_payload_raw_json = {
    .format = EEM_PAYLOAD_RAW_JSON,
    .name = "RAW_JSON",
    .item_sep = ",",
    .column_sep = ",",
    .can_send = eem_payload_json_can_send,
    .encode_instance = raw_encode_instance,
    .head = eem_json_envelope_head,
    .column_head = eem_json_envelope_column_head,
    .column_tail = eem_json_envelope_column_tail,
    .tail = eem_json_envelope_tail,
    .decode_response = raw_decode_response,
};
