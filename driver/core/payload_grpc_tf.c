/* payload_grpc_tf.c — Earth Engine's three gRPC payload formats, as one
 * tensorflow.serving.PredictRequest per batch (see payload.h for the column
 * layout and grpc_endpoint.h for where it goes):
 *
 *   GRPC_TF_TENSORS             inputs[key] = numeric TensorProto [N,H,W,C],
 *                               tensor_content (raw little-endian bytes)
 *   GRPC_SERIALIZED_TF_TENSORS  inputs[key] = DT_STRING TensorProto [N], each
 *                               string_val the serialized TensorProto [H,W,C]
 *                               of one instance
 *   GRPC_SERIALIZED_TF_EXAMPLES inputs["input"] = DT_STRING TensorProto [N],
 *                               each string_val a serialized tf.Example with
 *                               one float_list feature per key (row-major)
 *
 * model_spec carries the model name, version or label and SIGNATURE_NAME.
 * For Vertex AI the PredictRequest travels inside a DirectRawPredictRequest
 * (method_name /tensorflow.serving.PredictionService/Predict).  The body
 * starts with the gRPC 5-byte length prefix, so MAX_PAYLOAD_BYTES is measured
 * on exactly what is sent.  Every part of an instance has a size fixed by its
 * shape, which is what lets the head announce the lengths of what follows. */
#include "grpc_answer.h"
#include "grpc_endpoint.h"
#include "grpc_frame.h"
#include "payload.h"
#include "pb_wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TF_DT_STRING 7
#define EXAMPLES_KEY "input"

static eem_payload_format format_of(const eem_payload_batch *b)
{
    return b->ops->format;
}

/* ---- sizes of the pieces ---- */

/* An instance's tensor (shape of column c) as a TensorProto header. */
static size_t instance_header(const eem_payload_column *c, uint8_t hdr[EEM_TENSORPROTO_HEADER_MAX])
{
    eem_tensor t;
    memset(&t, 0, sizeof t);
    t.type = c->type;
    t.ndim = c->ndim;
    memcpy(t.dims, c->dims, sizeof t.dims);
    return eem_tensorproto_header(&t, hdr);
}

/* The batch tensor [n, shape of c] as a TensorProto header (tensor_content last). */
static size_t batch_header(const eem_payload_column *c, int n, uint8_t hdr[EEM_TENSORPROTO_HEADER_MAX])
{
    eem_tensor t;
    memset(&t, 0, sizeof t);
    if (c->ndim + 1 > EEM_TENSOR_MAX_DIMS)
        return 0;
    t.type = c->type;
    t.ndim = c->ndim + 1;
    t.dims[0] = n;
    memcpy(t.dims + 1, c->dims, (size_t)c->ndim * sizeof t.dims[0]);
    return eem_tensorproto_header(&t, hdr);
}

/* Bytes of one tf.Example feature value list for column c. */
static size_t example_feature_size(const eem_payload_column *c)
{
    size_t elsize = eem_dtype_size(c->type);
    size_t count = elsize ? c->instance_bytes / elsize : 0;
    size_t packed = 4 * count;                          /* floats */
    size_t list = count ? eem_pb_len_field_size(1, packed) : 0; /* FloatList */
    return eem_pb_len_field_size(2, list);              /* Feature.float_list */
}

static size_t example_size(const eem_payload_batch *b)
{
    size_t features = 0;
    for (int k = 0; k < b->n_info; k++) {
        size_t entry = eem_pb_len_field_size(1, strlen(b->info[k].key)) +
                       eem_pb_len_field_size(2, example_feature_size(&b->info[k]));
        features += eem_pb_len_field_size(1, entry);
    }
    return eem_pb_len_field_size(1, features); /* Example.features */
}

/* Bytes of one instance's part of column k (string_val entry or raw data). */
static size_t part_size(const eem_payload_batch *b, int k)
{
    switch (format_of(b)) {
    case EEM_PAYLOAD_GRPC_SERIALIZED_TF_TENSORS: {
        uint8_t hdr[EEM_TENSORPROTO_HEADER_MAX];
        return eem_pb_len_field_size(8, instance_header(&b->info[k], hdr) + b->info[k].instance_bytes);
    }
    case EEM_PAYLOAD_GRPC_SERIALIZED_TF_EXAMPLES:
        return eem_pb_len_field_size(8, example_size(b));
    default:
        return b->info[k].instance_bytes;
    }
}

static int n_columns(const eem_payload_batch *b)
{
    return format_of(b) == EEM_PAYLOAD_GRPC_SERIALIZED_TF_EXAMPLES ? 1 : b->n_info;
}

static const char *column_key(const eem_payload_batch *b, int k)
{
    return format_of(b) == EEM_PAYLOAD_GRPC_SERIALIZED_TF_EXAMPLES ? EXAMPLES_KEY : b->info[k].key;
}

/* The TensorProto header of column k for n instances (everything before the parts). */
static int tensor_head(const eem_payload_batch *b, int k, int n, eem_buf *out)
{
    if (format_of(b) == EEM_PAYLOAD_GRPC_TF_TENSORS) {
        uint8_t hdr[EEM_TENSORPROTO_HEADER_MAX];
        size_t h = batch_header(&b->info[k], n, hdr);
        if (!h)
            return -1;
        return eem_buf_append(out, hdr, h);
    }
    /* DT_STRING [n]: dtype, shape {dim {size n}} */
    eem_pb_put_varint_field(out, 1, TF_DT_STRING);
    size_t dim = n ? eem_pb_varint_size((uint64_t)n) + 1 : 0;
    eem_pb_put_len_header(out, 2, eem_pb_len_field_size(2, dim));
    eem_pb_put_len_header(out, 2, dim);
    if (n)
        eem_pb_put_varint_field(out, 1, (uint64_t)n);
    return out->failed ? -1 : 0;
}

/* Bytes of column k's tensor for n instances. */
static size_t tensor_size(const eem_payload_batch *b, int k, int n)
{
    eem_buf tmp = {0};
    tensor_head(b, k, n, &tmp);
    size_t s = tmp.len + (size_t)n * part_size(b, k);
    eem_buf_free(&tmp);
    return s;
}

static size_t entry_size(const eem_payload_batch *b, int k, int n)
{
    return eem_pb_len_field_size(1, strlen(column_key(b, k))) +
           eem_pb_len_field_size(2, tensor_size(b, k, n));
}

static int put_model_spec(const eem_payload_context *ctx, eem_buf *out)
{
    const eem_grpc_target *t = ctx->grpc;
    eem_buf spec = {0};
    if (t && t->model)
        eem_pb_put_string(&spec, 1, t->model);
    if (t && t->version) {
        unsigned long long v = strtoull(t->version, NULL, 10);
        eem_pb_put_len_header(&spec, 2, 1 + eem_pb_varint_size(v)); /* Int64Value{value=1} */
        eem_pb_put_varint_field(&spec, 1, v);
    } else if (t && t->label) {
        eem_pb_put_string(&spec, 4, t->label);
    }
    if (ctx->signature_name)
        eem_pb_put_string(&spec, 3, ctx->signature_name);
    int rc = spec.failed ? -1 : eem_pb_put_bytes(out, 1, spec.data, spec.len);
    eem_buf_free(&spec);
    return rc;
}

static size_t predict_request_size(const eem_payload_batch *b, int n)
{
    eem_buf tmp = {0};
    put_model_spec(b->ctx, &tmp);
    size_t s = tmp.len;
    eem_buf_free(&tmp);
    for (int k = 0; k < n_columns(b); k++)
        s += eem_pb_len_field_size(2, entry_size(b, k, n));
    return s;
}

/* ---- the ops ---- */

static int tf_can_send(const eem_payload_context *ctx, eem_dtype t)
{
    (void)ctx;
    return eem_dtype_to_tf(t) != 0;
}

static int examples_can_send(const eem_payload_context *ctx, eem_dtype t)
{
    (void)ctx; /* float_list: float32 and the integers it holds exactly */
    return t == EEM_DT_FLOAT32 || t == EEM_DT_UINT8 || t == EEM_DT_INT8 || t == EEM_DT_UINT16 ||
           t == EEM_DT_INT16;
}

static eem_status encode_instance(const eem_payload_context *ctx, const eem_instance *inst,
                                  eem_payload_fragment *frag, eem_payload_format f, eem_error *err)
{
    eem_buf *b = &frag->data;
    if (f == EEM_PAYLOAD_GRPC_SERIALIZED_TF_EXAMPLES) {
        /* one part: the string_val entry holding the Example */
        eem_buf ex = {0};
        eem_buf features = {0};
        for (int k = 0; k < inst->n_inputs; k++) {
            const eem_tensor *t = inst->inputs[k];
            size_t count = eem_tensor_count(t);
            eem_buf entry = {0};
            eem_pb_put_string(&entry, 1, inst->keys[k]);
            size_t list = count ? eem_pb_len_field_size(1, 4 * count) : 0;
            eem_pb_put_len_header(&entry, 2, eem_pb_len_field_size(2, list));
            eem_pb_put_len_header(&entry, 2, list);
            if (count) {
                eem_pb_put_len_header(&entry, 1, 4 * count);
                float *values = malloc(4 * count); /* aligned; appended little-endian */
                if (values) {
                    eem_dtype_convert(t->data, t->type, values, EEM_DT_FLOAT32, count);
                    eem_buf_append(&entry, values, 4 * count);
                    free(values);
                } else {
                    entry.failed = 1;
                }
            }
            eem_pb_put_bytes(&features, 1, entry.data, entry.len);
            eem_buf_free(&entry);
        }
        eem_pb_put_bytes(&ex, 1, features.data, features.len);
        eem_pb_put_bytes(b, 8, ex.data, ex.len);
        int failed = ex.failed || features.failed;
        eem_buf_free(&ex);
        eem_buf_free(&features);
        if (failed || eem_payload_fragment_end_part(frag) != 0)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
        return EEM_OK;
    }
    for (int k = 0; k < inst->n_inputs; k++) {
        const eem_tensor *t = inst->inputs[k];
        if (f == EEM_PAYLOAD_GRPC_SERIALIZED_TF_TENSORS) {
            uint8_t hdr[EEM_TENSORPROTO_HEADER_MAX];
            size_t h = eem_tensorproto_header(t, hdr);
            eem_pb_put_len_header(b, 8, h + eem_tensor_nbytes(t));
            eem_buf_append(b, hdr, h);
        }
        eem_buf_append(b, t->data, eem_tensor_nbytes(t));
        if (eem_payload_fragment_end_part(frag) != 0)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    }
    (void)ctx;
    return EEM_OK;
}

#define ENCODER(fmt, fn)                                                                       \
    static eem_status fn(const eem_payload_context *ctx, const eem_instance *inst,             \
                         eem_payload_fragment *frag, eem_error *err)                           \
    {                                                                                          \
        return encode_instance(ctx, inst, frag, fmt, err);                                     \
    }
ENCODER(EEM_PAYLOAD_GRPC_TF_TENSORS, encode_tf_tensors)
ENCODER(EEM_PAYLOAD_GRPC_SERIALIZED_TF_TENSORS, encode_serialized_tensors)
ENCODER(EEM_PAYLOAD_GRPC_SERIALIZED_TF_EXAMPLES, encode_examples)

static int grpc_tf_head(const eem_payload_batch *b, int n, eem_buf *out)
{
    const eem_payload_context *ctx = b->ctx;
    size_t req = predict_request_size(b, n);
    int vertex = ctx->grpc && ctx->grpc->service == EEM_GRPC_SERVICE_VERTEX;
    size_t msg = req;
    static const char method[] = EEM_GRPC_TF_PREDICT;
    if (vertex)
        msg = eem_pb_len_field_size(1, strlen(ctx->grpc->vertex_endpoint)) +
              eem_pb_len_field_size(2, strlen(method)) + eem_pb_len_field_size(3, req);
    uint8_t frame[EEM_GRPC_FRAME_HEADER];
    eem_grpc_frame_header(frame, msg);
    eem_buf_append(out, frame, sizeof frame);
    if (vertex) {
        eem_pb_put_string(out, 1, ctx->grpc->vertex_endpoint);
        eem_pb_put_string(out, 2, method);
        eem_pb_put_len_header(out, 3, req);
    }
    return put_model_spec(ctx, out);
}

static int grpc_tf_column_head(const eem_payload_batch *b, int k, int n, eem_buf *out)
{
    eem_pb_put_len_header(out, 2, entry_size(b, k, n));
    eem_pb_put_string(out, 1, column_key(b, k));
    eem_pb_put_len_header(out, 2, tensor_size(b, k, n));
    return tensor_head(b, k, n, out);
}

static int grpc_tf_tail(const eem_payload_batch *b, int n, eem_buf *out)
{
    (void)b, (void)n;
    return out->failed ? -1 : 0;
}

static int grpc_tf_binary(const eem_payload_context *ctx)
{
    (void)ctx;
    return 0;
}

static const char *grpc_content_type(const eem_payload_context *ctx)
{
    (void)ctx;
    return "application/grpc";
}

static eem_status grpc_tf_decode(const eem_payload_context *ctx, const char *body, size_t len,
                                 int n_instances, size_t max_elements, eem_tensor **out,
                                 eem_error *err)
{
    const uint8_t *msg = (const uint8_t *)body;
    if (ctx->grpc && ctx->grpc->service == EEM_GRPC_SERVICE_VERTEX) {
        eem_status st = eem_grpc_unwrap_direct_raw(msg, len, &msg, &len, err);
        if (st != EEM_OK)
            return st;
    }
    return eem_grpc_decode_predict_response(ctx->spec, msg, len, n_instances, max_elements, out,
                                            err);
}

#define GRPC_TF_OPS(var, fmt, name, can, enc)                                                   \
    const eem_payload_ops var = {fmt,                                                          \
                                 name,                                                         \
                                 "",                                                           \
                                 "",                                                           \
                                 grpc_content_type,                                            \
                                 can,                                                          \
                                 enc,                                                          \
                                 NULL,                                                         \
                                 grpc_tf_head,                                                 \
                                 grpc_tf_column_head,                                          \
                                 NULL,                                                         \
                                 grpc_tf_tail,                                                 \
                                 grpc_tf_binary,                                               \
                                 grpc_tf_decode};

GRPC_TF_OPS(eem_payload_grpc_tf_tensors, EEM_PAYLOAD_GRPC_TF_TENSORS, "GRPC_TF_TENSORS",
            tf_can_send, encode_tf_tensors)
GRPC_TF_OPS(eem_payload_grpc_serialized_tf_tensors, EEM_PAYLOAD_GRPC_SERIALIZED_TF_TENSORS,
            "GRPC_SERIALIZED_TF_TENSORS", tf_can_send, encode_serialized_tensors)
GRPC_TF_OPS(eem_payload_grpc_serialized_tf_examples, EEM_PAYLOAD_GRPC_SERIALIZED_TF_EXAMPLES,
            "GRPC_SERIALIZED_TF_EXAMPLES", examples_can_send, encode_examples)
