/* payload_grpc_oip.c — the GRPC_OIP_V2 payload format: one OIP v2
 * inference.ModelInferRequest per batch (see payload.h for the column layout):
 *
 *   model_name, model_version, inputs[k] = {name, datatype, shape [N,H,W,C]},
 *   raw_input_contents[k] = the N instances' raw little-endian bytes of input k
 *
 * preceded by the gRPC 5-byte length prefix (MAX_PAYLOAD_BYTES is measured on
 * what is sent).  Every element type OIP names travels raw, FP16 and BF16
 * included.  Answers: grpc_answer.h (raw_output_contents or typed contents). */
#include "grpc_answer.h"
#include "grpc_endpoint.h"
#include "grpc_frame.h"
#include "payload.h"
#include "pb_wire.h"

#include <string.h>

static int oip_can_send(const eem_payload_context *ctx, eem_dtype t)
{
    (void)ctx;
    return eem_oip_datatype_name(t) != NULL;
}

static eem_status oip_encode_instance(const eem_payload_context *ctx, const eem_instance *inst,
                                      eem_payload_fragment *frag, eem_error *err)
{
    (void)ctx;
    for (int k = 0; k < inst->n_inputs; k++) {
        const eem_tensor *t = inst->inputs[k];
        eem_buf_append(&frag->data, t->data, eem_tensor_nbytes(t));
        if (eem_payload_fragment_end_part(frag) != 0)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    }
    return EEM_OK;
}

/* InferInputTensor k for n instances. */
static int put_input(const eem_payload_batch *b, int k, int n, eem_buf *out)
{
    const eem_payload_column *c = &b->info[k];
    const char *dt = eem_oip_datatype_name(c->type);
    eem_buf t = {0};
    eem_pb_put_string(&t, 1, c->key);
    eem_pb_put_string(&t, 2, dt ? dt : "");
    size_t shape = eem_pb_varint_size((uint64_t)n);
    for (int d = 0; d < c->ndim; d++)
        shape += eem_pb_varint_size((uint64_t)c->dims[d]);
    eem_pb_put_len_header(&t, 3, shape);
    eem_pb_put_varint(&t, (uint64_t)n);
    for (int d = 0; d < c->ndim; d++)
        eem_pb_put_varint(&t, (uint64_t)c->dims[d]);
    int rc = t.failed ? -1 : eem_pb_put_bytes(out, 5, t.data, t.len);
    eem_buf_free(&t);
    return rc;
}

/* Everything but the raw contents. */
static int put_fixed(const eem_payload_batch *b, int n, eem_buf *out)
{
    const eem_grpc_target *g = b->ctx->grpc;
    if (g && g->model)
        eem_pb_put_string(out, 1, g->model);
    if (g && g->version)
        eem_pb_put_string(out, 2, g->version);
    for (int k = 0; k < b->n_info; k++)
        put_input(b, k, n, out);
    return out->failed ? -1 : 0;
}

static int oip_head(const eem_payload_batch *b, int n, eem_buf *out)
{
    eem_buf fixed = {0};
    put_fixed(b, n, &fixed);
    size_t msg = fixed.len;
    for (int k = 0; k < b->n_info; k++)
        msg += eem_pb_len_field_size(7, (size_t)n * b->info[k].instance_bytes);
    uint8_t frame[EEM_GRPC_FRAME_HEADER];
    eem_grpc_frame_header(frame, msg);
    eem_buf_append(out, frame, sizeof frame);
    int rc = fixed.failed ? -1 : eem_buf_append(out, fixed.data, fixed.len);
    eem_buf_free(&fixed);
    return rc;
}

static int oip_column_head(const eem_payload_batch *b, int k, int n, eem_buf *out)
{
    return eem_pb_put_len_header(out, 7, (size_t)n * b->info[k].instance_bytes);
}

static int oip_tail(const eem_payload_batch *b, int n, eem_buf *out)
{
    (void)b, (void)n;
    return out->failed ? -1 : 0;
}

static int oip_binary(const eem_payload_context *ctx)
{
    (void)ctx;
    return 0;
}

static const char *oip_content_type(const eem_payload_context *ctx)
{
    (void)ctx;
    return "application/grpc";
}

static eem_status oip_decode(const eem_payload_context *ctx, const char *body, size_t len,
                             int n_instances, size_t max_elements, eem_tensor **out,
                             eem_error *err)
{
    return eem_grpc_decode_model_infer_response(ctx->spec, (const uint8_t *)body, len,
                                                n_instances, max_elements, out, err);
}

const eem_payload_ops eem_payload_grpc_oip_v2 = {
    EEM_PAYLOAD_GRPC_OIP_V2, "GRPC_OIP_V2", "", "", oip_content_type, oip_can_send,
    oip_encode_instance, NULL, oip_head, oip_column_head, NULL, oip_tail, oip_binary, oip_decode};
