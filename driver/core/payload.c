/* payload.c — picks the payload minidriver for a format and assembles request
 * bodies from encoded instances (see payload.h); each format lives in its own
 * payload_*.c file. */
#include "payload.h"

#include "str.h"

#include <stdlib.h>
#include <string.h>

const eem_payload_ops *eem_payload_ops_for(eem_payload_format f)
{
    switch (f) {
    case EEM_PAYLOAD_SERIALIZED_TF_TENSORS:
        return &eem_payload_serialized_tf_tensors;
    case EEM_PAYLOAD_RAW_JSON:
        return &eem_payload_raw_json;
    case EEM_PAYLOAD_ND_ARRAYS:
        return &eem_payload_nd_arrays;
    case EEM_PAYLOAD_OIP_V2:
        return &eem_payload_oip_v2;
    case EEM_PAYLOAD_GRPC_TF_TENSORS:
        return &eem_payload_grpc_tf_tensors;
    case EEM_PAYLOAD_GRPC_SERIALIZED_TF_TENSORS:
        return &eem_payload_grpc_serialized_tf_tensors;
    case EEM_PAYLOAD_GRPC_SERIALIZED_TF_EXAMPLES:
        return &eem_payload_grpc_serialized_tf_examples;
    case EEM_PAYLOAD_GRPC_OIP_V2:
        return &eem_payload_grpc_oip_v2;
    default:
        return NULL;
    }
}

static size_t output_slots(const eem_payload_context *ctx, int n_instances)
{
    int n_out = ctx->spec->n_outputs;
    return (size_t)(n_instances > 0 ? n_instances : 0) * (size_t)(n_out > 0 ? n_out : 0);
}

size_t eem_payload_outputs_clear(const eem_payload_context *ctx, int n_instances,
                                 eem_tensor **out)
{
    size_t n_slots = output_slots(ctx, n_instances);
    for (size_t s = 0; s < n_slots; s++)
        out[s] = NULL;
    return n_slots;
}

void eem_payload_outputs_free(const eem_payload_context *ctx, int n_instances, eem_tensor **out)
{
    size_t n_slots = output_slots(ctx, n_instances);
    for (size_t s = 0; s < n_slots; s++) {
        eem_tensor_free(out[s]);
        out[s] = NULL;
    }
}

const char *eem_payload_content_type(const eem_payload_ops *ops, const eem_payload_context *ctx)
{
    const char *t = ops->content_type ? ops->content_type(ctx) : NULL;
    return t ? t : "application/json";
}

eem_status eem_payload_check_input_type(const eem_payload_ops *ops,
                                        const eem_payload_context *ctx, const char *key,
                                        eem_dtype t, eem_error *err)
{
    if (!ops->can_send || ops->can_send(ctx, t))
        return EEM_OK;
    int half = t == EEM_DT_FLOAT16 || t == EEM_DT_BFLOAT16;
    return eem_error_set(err, EEM_ERR_INVALID,
                         "INPUT_TYPE: key \"%s\" would be sent as %s, which %s%s cannot carry%s; "
                         "send float32 (INPUT_TYPE=%s:float32)%s",
                         key, eem_dtype_name(t), ops->name,
                         ctx->binary ? " (binary)" : "",
                         half ? " (JSON numbers have no half-float type)" : "", key,
                         half ? ", or use PAYLOAD_FORMAT=SERIALIZED_TF_TENSORS or OIP_V2 with a "
                                "server that has the binary tensor extension"
                              : "");
}

/* ------------------------------------------------------------ fragments -- */

void eem_payload_fragment_reset(eem_payload_fragment *f)
{
    eem_buf_reset(&f->data);
    f->data.failed = 0;
    f->n_parts = 0;
}

void eem_payload_fragment_free(eem_payload_fragment *f)
{
    eem_buf_free(&f->data);
    free(f->ends);
    memset(f, 0, sizeof *f);
}

int eem_payload_fragment_end_part(eem_payload_fragment *f)
{
    if (f->n_parts == f->cap_parts) {
        int cap = f->cap_parts ? 2 * f->cap_parts : 8;
        size_t *ne = realloc(f->ends, (size_t)cap * sizeof *ne);
        if (!ne)
            return -1;
        f->ends = ne;
        f->cap_parts = cap;
    }
    f->ends[f->n_parts++] = f->data.len;
    return f->data.failed ? -1 : 0;
}

static size_t part_start(const eem_payload_fragment *f, int k)
{
    return k == 0 ? 0 : f->ends[k - 1];
}

size_t eem_payload_fragment_part_len(const eem_payload_fragment *f, int k)
{
    return f->ends[k] - part_start(f, k);
}

eem_status eem_payload_encode(const eem_payload_ops *ops, const eem_payload_context *ctx,
                              const eem_instance *inst, eem_payload_fragment *frag,
                              eem_error *err)
{
    for (int i = 0; i < inst->n_inputs; i++) {
        eem_status st = eem_payload_check_input_type(ops, ctx, inst->keys[i],
                                                     inst->inputs[i]->type, err);
        if (st != EEM_OK)
            return st;
    }
    eem_payload_fragment_reset(frag);
    eem_status st = ops->encode_instance(ctx, inst, frag, err);
    if (st == EEM_OK && frag->data.failed)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    return st;
}

/* -------------------------------------------------------------- batches -- */

eem_payload_batch *eem_payload_batch_new(const eem_payload_ops *ops,
                                         const eem_payload_context *ctx)
{
    eem_payload_batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->ops = ops;
    b->ctx = ctx;
    return b;
}

static void free_info(eem_payload_column *info, int n)
{
    for (int k = 0; info && k < n; k++)
        free(info[k].key);
    free(info);
}

/* Back to an empty batch (columns and key shapes released). */
static void batch_clear(eem_payload_batch *b)
{
    for (int k = 0; b->columns && k < b->cap_columns; k++)
        eem_buf_free(&b->columns[k]);
    free(b->columns);
    free_info(b->info, b->n_info);
    b->columns = NULL;
    b->info = NULL;
    b->n_columns = b->n_info = b->n_instances = b->cap_columns = 0;
}

void eem_payload_batch_reset(eem_payload_batch *b)
{
    if (!b)
        return;
    for (int k = 0; b->columns && k < b->cap_columns; k++) {
        eem_buf_reset(&b->columns[k]);
        b->columns[k].failed = 0;
    }
    free_info(b->info, b->n_info);
    b->info = NULL;
    b->n_columns = b->n_info = b->n_instances = 0;
}

void eem_payload_batch_free(eem_payload_batch *b)
{
    if (!b)
        return;
    batch_clear(b);
    free(b);
}

static void describe(const eem_payload_ops *ops, const eem_payload_context *ctx,
                     const eem_tensor *t, eem_payload_column *col)
{
    col->type = t->type;
    col->ndim = t->ndim;
    memcpy(col->dims, t->dims, sizeof col->dims);
    col->instance_bytes = eem_tensor_nbytes(t);
    if (ops->describe_column)
        ops->describe_column(ctx, t, col);
}

/* Column info of inst, malloc'ed (keys borrowed: not freed by the caller). */
static eem_payload_column *info_of(const eem_payload_ops *ops, const eem_payload_context *ctx,
                                   const eem_instance *inst)
{
    eem_payload_column *info = calloc((size_t)(inst->n_inputs > 0 ? inst->n_inputs : 1),
                                      sizeof *info);
    if (!info)
        return NULL;
    for (int k = 0; k < inst->n_inputs; k++) {
        describe(ops, ctx, inst->inputs[k], &info[k]);
        info[k].key = (char *)inst->keys[k];
    }
    return info;
}

static int binary_body(const eem_payload_batch *b)
{
    return b->ops->head_is_binary_header && b->ops->head_is_binary_header(b->ctx);
}

static const char *item_sep(const eem_payload_batch *b)
{
    return binary_body(b) ? "" : b->ops->item_sep;
}

static const char *column_sep(const eem_payload_batch *b)
{
    return binary_body(b) ? "" : b->ops->column_sep;
}

/* Total size of the body for n instances and the given column lengths
 * (separators between a column's parts included). */
static size_t body_size(const eem_payload_batch *b, int n, int n_columns,
                        const size_t *column_lens)
{
    const eem_payload_ops *ops = b->ops;
    eem_buf tmp = {0};
    size_t total = 0;
    ops->head(b, n, &tmp);
    for (int k = 0; k < n_columns; k++) {
        if (ops->column_head)
            ops->column_head(b, k, n, &tmp);
        if (ops->column_tail)
            ops->column_tail(b, k, n, &tmp);
        total += column_lens[k];
    }
    if (n_columns > 1)
        total += (size_t)(n_columns - 1) * strlen(column_sep(b));
    ops->tail(b, n, &tmp);
    total += tmp.len;
    if (tmp.failed)
        total = (size_t)-1;
    eem_buf_free(&tmp);
    return total;
}

size_t eem_payload_batch_size_with(const eem_payload_batch *b, const eem_instance *inst,
                                   const eem_payload_fragment *frag)
{
    int n_columns = frag ? frag->n_parts : b->n_columns;
    size_t stack_lens[16];
    size_t *lens = n_columns <= 16 ? stack_lens : calloc((size_t)n_columns, sizeof *lens);
    if (!lens)
        return (size_t)-1;
    for (int k = 0; k < n_columns; k++) {
        lens[k] = k < b->n_columns ? b->columns[k].len : 0;
        if (frag && b->n_instances > 0)
            lens[k] += strlen(item_sep(b));
        if (frag)
            lens[k] += eem_payload_fragment_part_len(frag, k);
    }
    size_t size;
    if (b->n_instances == 0 && inst) {
        /* an empty batch takes its column shapes from this instance */
        eem_payload_batch probe = *b;
        probe.info = info_of(b->ops, b->ctx, inst);
        probe.n_info = inst->n_inputs;
        size = probe.info ? body_size(&probe, frag ? 1 : 0, n_columns, lens) : (size_t)-1;
        free(probe.info);
    } else {
        size = body_size(b, b->n_instances + (frag ? 1 : 0), n_columns, lens);
    }
    if (lens != stack_lens)
        free(lens);
    return size;
}

eem_status eem_payload_batch_add(eem_payload_batch *b, const eem_instance *inst,
                                 const eem_payload_fragment *frag, eem_error *err)
{
    if (b->n_instances == 0) {
        int want = frag->n_parts > 0 ? frag->n_parts : 1;
        if (b->cap_columns >= want) {
            eem_payload_batch_reset(b); /* whatever a failed first add left; buffers kept */
        } else {
            batch_clear(b);
            b->columns = calloc((size_t)want, sizeof *b->columns);
            b->cap_columns = b->columns ? want : 0;
        }
        b->info = calloc((size_t)(inst->n_inputs > 0 ? inst->n_inputs : 1), sizeof *b->info);
        if (!b->columns || !b->info)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
        b->n_columns = frag->n_parts;
        b->n_info = inst->n_inputs;
        for (int k = 0; k < inst->n_inputs; k++) {
            describe(b->ops, b->ctx, inst->inputs[k], &b->info[k]);
            if (!(b->info[k].key = eem_strdup(inst->keys[k])))
                return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
        }
    } else if (frag->n_parts != b->n_columns) {
        return eem_error_set(err, EEM_ERR_INVALID,
                             "internal error: an instance with %d parts added to a batch of %d",
                             frag->n_parts, b->n_columns);
    }
    for (int k = 0; k < b->n_columns; k++) {
        eem_buf *c = &b->columns[k];
        if (b->n_instances > 0)
            eem_buf_puts(c, item_sep(b));
        eem_buf_append(c, frag->data.data + part_start(frag, k),
                       eem_payload_fragment_part_len(frag, k));
        if (c->failed)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    }
    b->n_instances++;
    return EEM_OK;
}

eem_status eem_payload_batch_build(const eem_payload_batch *b, eem_buf *out,
                                   size_t *binary_header_len, eem_error *err)
{
    const eem_payload_ops *ops = b->ops;
    int n = b->n_instances;
    size_t lens_total = 0;
    for (int k = 0; k < b->n_columns; k++)
        lens_total += b->columns[k].len;
    eem_buf_reset(out);
    if (eem_buf_reserve(out, lens_total + 4096) != 0)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    ops->head(b, n, out);
    size_t head_len = out->len;
    for (int k = 0; k < b->n_columns; k++) {
        if (k)
            eem_buf_puts(out, column_sep(b));
        if (ops->column_head)
            ops->column_head(b, k, n, out);
        if (b->columns[k].len)
            eem_buf_append(out, b->columns[k].data, b->columns[k].len);
        if (ops->column_tail)
            ops->column_tail(b, k, n, out);
    }
    ops->tail(b, n, out);
    if (out->failed)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    if (binary_header_len)
        *binary_header_len = binary_body(b) ? head_len : 0;
    return EEM_OK;
}
