/* payload_oip_v2.c — the OIP_V2 payload format: KServe / Open Inference
 * Protocol v2 (see payload.h and the OIP v2 REST specification).
 *
 * Request (JSON):   {"inputs":[{"name":"key","shape":[N,H,W,C],"datatype":"FP32",
 *                   "data":[flat row-major numbers of all N instances]},...]}
 * Request (binary, Triton's binary tensor extension): the same JSON header
 *                   with "parameters":{"binary_data_size":S} instead of "data"
 *                   and a request-level "parameters":{"binary_data_output":true},
 *                   followed by each input's raw little-endian bytes in input
 *                   order; the header length travels in the
 *                   Inference-Header-Content-Length HTTP header.
 * Answer:           {"outputs":[{"name","shape","datatype","data"|"parameters":
 *                   {"binary_data_size":S}},...]} (+ binary data after the JSON
 *                   header); the leading dimension is the batch (may be absent for
 *                   a single instance).  Outputs are matched by name (a single
 *                   declared output takes the only one).  FP16 / BF16 are
 *                   decoded from binary data. */
#include "payload.h"
#include "payload_json.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define EEM_OIP_BINARY_CONTENT_TYPE "application/octet-stream"

static const struct {
    eem_dtype type;
    const char *name;
} oip_types[] = {
    {EEM_DT_UINT8, "UINT8"},   {EEM_DT_INT8, "INT8"},     {EEM_DT_UINT16, "UINT16"},
    {EEM_DT_INT16, "INT16"},   {EEM_DT_UINT32, "UINT32"}, {EEM_DT_INT32, "INT32"},
    {EEM_DT_UINT64, "UINT64"}, {EEM_DT_INT64, "INT64"},   {EEM_DT_FLOAT16, "FP16"},
    {EEM_DT_BFLOAT16, "BF16"}, {EEM_DT_FLOAT32, "FP32"},  {EEM_DT_FLOAT64, "FP64"},
};

const char *eem_oip_datatype_name(eem_dtype t)
{
    for (size_t i = 0; i < sizeof oip_types / sizeof oip_types[0]; i++)
        if (oip_types[i].type == t)
            return oip_types[i].name;
    return NULL;
}

eem_dtype eem_oip_datatype_from_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof oip_types / sizeof oip_types[0]; i++)
        if (strcmp(oip_types[i].name, name) == 0)
            return oip_types[i].type;
    return EEM_DT_NONE;
}

static int oip_binary(const eem_payload_context *ctx)
{
    return ctx->binary;
}

static const char *oip_content_type(const eem_payload_context *ctx)
{
    return ctx->binary ? EEM_OIP_BINARY_CONTENT_TYPE : NULL;
}

static int oip_can_send(const eem_payload_context *ctx, eem_dtype t)
{
    if (!eem_oip_datatype_name(t))
        return 0;
    return ctx->binary || eem_payload_json_can_send(ctx, t);
}

/* ---------------------------------------------------------------- encode -- */

static eem_status oip_encode_instance(const eem_payload_context *ctx, const eem_instance *inst,
                                      eem_payload_fragment *frag, eem_error *err)
{
    eem_buf *b = &frag->data;
    for (int k = 0; k < inst->n_inputs; k++) {
        const eem_tensor *t = inst->inputs[k];
        if (ctx->binary)
            eem_buf_append(b, t->data, eem_tensor_nbytes(t));
        else
            eem_json_put_numbers(b, t->data, t->type, 0, eem_tensor_count(t));
        if (eem_payload_fragment_end_part(frag) != 0)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    }
    return EEM_OK;
}

static int put_input_header(const eem_payload_batch *b, int k, int n, eem_buf *out)
{
    const eem_payload_column *c = &b->info[k];
    eem_buf_puts(out, "{\"name\":");
    eem_buf_json_string(out, c->key);
    eem_buf_printf(out, ",\"shape\":[%d", n);
    for (int d = 0; d < c->ndim; d++)
        eem_buf_printf(out, ",%lld", (long long)c->dims[d]);
    const char *dt = eem_oip_datatype_name(c->type);
    eem_buf_printf(out, "],\"datatype\":\"%s\"", dt ? dt : "?");
    if (b->ctx->binary)
        return eem_buf_printf(out, ",\"parameters\":{\"binary_data_size\":%zu}}",
                              (size_t)n * c->instance_bytes);
    return eem_buf_puts(out, ",\"data\":[");
}

static int oip_head(const eem_payload_batch *b, int n, eem_buf *out)
{
    eem_buf_puts(out, "{\"inputs\":[");
    if (!b->ctx->binary)
        return 0;
    for (int k = 0; k < b->n_info; k++) {
        if (k)
            eem_buf_puts(out, ",");
        put_input_header(b, k, n, out);
    }
    return eem_buf_puts(out, "],\"parameters\":{\"binary_data_output\":true}}");
}

static int oip_column_head(const eem_payload_batch *b, int k, int n, eem_buf *out)
{
    return b->ctx->binary ? 0 : put_input_header(b, k, n, out);
}

static int oip_column_tail(const eem_payload_batch *b, int k, int n, eem_buf *out)
{
    (void)k;
    (void)n;
    return b->ctx->binary ? 0 : eem_buf_puts(out, "]}");
}

static int oip_tail(const eem_payload_batch *b, int n, eem_buf *out)
{
    (void)n;
    return b->ctx->binary ? 0 : eem_buf_puts(out, "]}");
}

/* ---------------------------------------------------------------- decode -- */

typedef struct flat_reader {
    eem_dtype type;
    void *data;
    size_t count, pos;
    const char *path;
} flat_reader;

static eem_status read_flat(flat_reader *r, json_object *v, int depth, eem_error *err)
{
    if (json_object_is_type(v, json_type_array)) {
        if (depth >= EEM_TENSOR_MAX_DIMS)
            return eem_error_set(err, EEM_ERR_PROTOCOL, "%s: lists nested too deep", r->path);
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
            eem_status st = read_flat(r, json_object_array_get_idx(v, i), depth + 1, err);
            if (st != EEM_OK)
                return st;
        }
        return EEM_OK;
    }
    if (r->pos >= r->count)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "%s: more values than the %zu its shape holds", r->path, r->count);
    char where[EEM_JSON_PATH_MAX + 40];
    snprintf(where, sizeof where, "%s (element %zu)", r->path, r->pos);
    eem_status st = eem_json_store_number(v, where, r->type, r->data, r->pos, err);
    r->pos++;
    return st;
}

/* The answer output that carries declared output k, or an error. */
static eem_status find_output(const eem_spec *spec, json_object *outputs, int k, size_t *index,
                              eem_error *err)
{
    size_t n = json_object_array_length(outputs);
    const char *want = spec->outputs[k].name ? spec->outputs[k].name : "";
    char names[200];
    size_t used = 0;
    names[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(outputs, i), *nm = NULL;
        if (!json_object_is_type(o, json_type_object))
            return eem_error_set(err, EEM_ERR_PROTOCOL, "outputs[%zu]: expected an object, got %s",
                                 i, json_type_to_name(json_object_get_type(o)));
        if (json_object_object_get_ex(o, "name", &nm) && json_object_is_type(nm, json_type_string)) {
            if (strcmp(json_object_get_string(nm), want) == 0) {
                *index = i;
                return EEM_OK;
            }
            if (used < sizeof names)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s\"%s\"",
                                         used ? ", " : "", json_object_get_string(nm));
        }
    }
    if (spec->n_outputs == 1 && n == 1) {
        *index = 0;
        return EEM_OK;
    }
    return eem_error_set(err, EEM_ERR_PROTOCOL, "outputs: no output named \"%s\" (outputs present: %s)",
                         want, used ? names : "none");
}

typedef struct binary_section {
    const uint8_t *data;
    size_t len;
} binary_section;

/* Byte offset of output i's binary data (outputs before it that travel as binary). */
static eem_status binary_offset(json_object *outputs, size_t index, size_t *offset, size_t *size,
                                int *is_binary, eem_error *err)
{
    size_t off = 0;
    for (size_t i = 0; i <= index; i++) {
        json_object *o = json_object_array_get_idx(outputs, i), *p = NULL, *s = NULL;
        int has = json_object_object_get_ex(o, "parameters", &p) &&
                  json_object_is_type(p, json_type_object) &&
                  json_object_object_get_ex(p, "binary_data_size", &s);
        if (!has) {
            if (i == index)
                *is_binary = 0;
            continue;
        }
        if (!json_object_is_type(s, json_type_int) || json_object_get_int64(s) < 0)
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "outputs[%zu].parameters.binary_data_size: expected a byte count",
                                 i);
        size_t n = (size_t)json_object_get_int64(s);
        if (n > SIZE_MAX - off) /* sizes summing past SIZE_MAX would wrap the offset */
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "outputs[%zu].parameters.binary_data_size: %zu bytes after %zu "
                                 "is more than any answer holds",
                                 i, n, off);
        if (i == index) {
            *is_binary = 1;
            *offset = off;
            *size = n;
        }
        off += n;
    }
    return EEM_OK;
}

/* 1 when some output says its data follows the JSON as binary. */
static int has_binary_output(json_object *outputs)
{
    size_t n = json_object_array_length(outputs);
    for (size_t i = 0; i < n; i++) {
        json_object *p = NULL;
        if (json_object_object_get_ex(json_object_array_get_idx(outputs, i), "parameters", &p) &&
            json_object_is_type(p, json_type_object) &&
            json_object_object_get_ex(p, "binary_data_size", NULL))
            return 1;
    }
    return 0;
}

/* Without binary outputs the answer is JSON only: nothing but whitespace may
 * follow the value (with them, the bytes after it are the binary data). */
static eem_status check_nothing_after_json(const char *body, size_t end, size_t len, eem_error *err)
{
    for (size_t p = end; p < len; p++) {
        char c = body[p];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "the answer is not valid JSON: unexpected data after the value "
                                 "at offset %zu (no output has parameters.binary_data_size)",
                                 p);
    }
    return EEM_OK;
}

static eem_status decode_output(const eem_payload_context *ctx, json_object *outputs, int k,
                                const binary_section *bin, int n_instances, size_t max_elements,
                                eem_tensor **out, eem_error *err)
{
    const eem_spec *spec = ctx->spec;
    int n_out = spec->n_outputs;
    size_t idx = 0;
    eem_status st = find_output(spec, outputs, k, &idx, err);
    if (st != EEM_OK)
        return st;
    json_object *o = json_object_array_get_idx(outputs, idx), *shape = NULL, *dt = NULL,
                *data = NULL;
    char path[EEM_JSON_PATH_MAX];
    snprintf(path, sizeof path, "outputs[%zu]", idx);
    if (!json_object_object_get_ex(o, "shape", &shape) ||
        !json_object_is_type(shape, json_type_array))
        return eem_error_set(err, EEM_ERR_PROTOCOL, "%s.shape: missing or not a list", path);
    int64_t dims[EEM_TENSOR_MAX_DIMS + 1];
    int nd = (int)json_object_array_length(shape);
    if (nd > EEM_TENSOR_MAX_DIMS + 1)
        return eem_error_set(err, EEM_ERR_PROTOCOL, "%s.shape: %d dimensions, at most %d accepted",
                             path, nd, EEM_TENSOR_MAX_DIMS + 1);
    size_t total = 1;
    for (int d = 0; d < nd; d++) {
        json_object *e = json_object_array_get_idx(shape, (size_t)d);
        if (!json_object_is_type(e, json_type_int) || json_object_get_int64(e) < 0)
            return eem_error_set(err, EEM_ERR_PROTOCOL, "%s.shape[%d]: expected a size >= 0", path,
                                 d);
        dims[d] = json_object_get_int64(e);
        if (dims[d] > 0 && total > SIZE_MAX / (size_t)dims[d])
            return eem_error_set(err, EEM_ERR_PROTOCOL, "%s.shape: too many elements", path);
        total *= (size_t)dims[d];
    }
    /* batch level: shape[0] == N, or absent for a single instance */
    int first = 0;
    if (nd >= 1 && dims[0] == n_instances)
        first = 1;
    else if (n_instances != 1)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "%s.shape: leading dimension %lld, expected the batch size %d", path,
                             nd ? (long long)dims[0] : 0LL, n_instances);
    size_t per = n_instances > 0 ? total / (size_t)n_instances : 0;
    if (total == 0 || (max_elements > 0 && per > max_elements))
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "%s.shape: %zu element(s) per instance; expected 1 to %zu element(s)",
                             path, per, max_elements);
    const char *dt_name = json_object_object_get_ex(o, "datatype", &dt) &&
                                  json_object_is_type(dt, json_type_string)
                              ? json_object_get_string(dt)
                              : NULL;
    eem_dtype wire = eem_oip_datatype_from_name(dt_name);
    size_t offset = 0, size = 0;
    int is_binary = 0;
    if ((st = binary_offset(outputs, idx, &offset, &size, &is_binary, err)) != EEM_OK)
        return st;
    eem_dtype t;
    eem_tensor *all = NULL;      /* JSON data: the values decoded */
    const uint8_t *flat = NULL;  /* the values, instance after instance */
    if (is_binary) {
        if (wire == EEM_DT_NONE)
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "%s.datatype: \"%s\" is not a numeric datatype; expected one of "
                                 "UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64, FP16, "
                                 "BF16, FP32, FP64",
                                 path, dt_name ? dt_name : "(missing)");
        t = wire;
        if (size != total * eem_dtype_size(t))
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "%s.parameters.binary_data_size: %zu bytes, but shape and %s need "
                                 "%zu",
                                 path, size, dt_name, total * eem_dtype_size(t));
        if (offset > bin->len || size > bin->len - offset) /* no wrap-around */
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "%s: binary data ends at byte %zu but the answer holds only %zu "
                                 "bytes after its JSON header",
                                 path, offset + size, bin->len);
        flat = bin->data + offset; /* instances copied out of the answer directly */
    } else {
        if (!json_object_object_get_ex(o, "data", &data))
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "%s: neither \"data\" nor parameters.binary_data_size", path);
        t = eem_json_answer_type(spec->outputs[k].type);
        int64_t n_values = (int64_t)total;
        all = eem_tensor_new(t, 1, &n_values);
        if (!all)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory decoding %s", path);
        char dpath[EEM_JSON_PATH_MAX + 8];
        snprintf(dpath, sizeof dpath, "%s.data", path);
        flat_reader r = {.type = t, .data = all->data, .count = total, .path = dpath};
        st = read_flat(&r, data, 0, err);
        if (st == EEM_OK && r.pos != total)
            st = eem_error_set(err, EEM_ERR_PROTOCOL,
                               "%s: %zu values, but its shape holds %zu", dpath, r.pos, total);
        if (st != EEM_OK) {
            eem_tensor_free(all);
            return st;
        }
        flat = all->data;
    }
    size_t es = eem_dtype_size(t);
    for (int i = 0; i < n_instances; i++) {
        eem_tensor *one = eem_tensor_new_to_fill(t, nd - first, dims + first);
        if (!one) {
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory decoding %s", path);
            break;
        }
        memcpy(one->data, flat + (size_t)i * per * es, per * es);
        out[(size_t)i * n_out + k] = one;
    }
    eem_tensor_free(all);
    return st;
}

static eem_status oip_decode_response(const eem_payload_context *ctx, const char *body,
                                      size_t len, int n_instances, size_t max_elements,
                                      eem_tensor **out, eem_error *err)
{
    json_object *root = NULL, *outputs = NULL;
    int n_out = ctx->spec->n_outputs;
    eem_payload_outputs_clear(ctx, n_instances, out);
    size_t end = 0;
    eem_status st = eem_json_parse(body, len, &end, &root, err);
    if (st != EEM_OK)
        return st;
    if (!json_object_is_type(root, json_type_object)) {
        st = eem_error_set(err, EEM_ERR_PROTOCOL,
                           "the answer is a JSON %s; expected an object with \"outputs\"",
                           json_type_to_name(json_object_get_type(root)));
        goto done;
    }
    if ((st = eem_json_server_error(root, err)) != EEM_OK)
        goto done;
    if (!json_object_object_get_ex(root, "outputs", &outputs)) {
        char keys[EEM_JSON_KEYS_LIST_MAX];
        eem_json_list_keys(root, keys, sizeof keys);
        st = eem_error_set(err, EEM_ERR_PROTOCOL, "the answer has no \"outputs\" (keys present: %s)",
                           keys);
        goto done;
    }
    if (!json_object_is_type(outputs, json_type_array)) {
        st = eem_error_set(err, EEM_ERR_PROTOCOL, "outputs: expected a list of output objects, got %s",
                           json_type_to_name(json_object_get_type(outputs)));
        goto done;
    }
    if (!has_binary_output(outputs) && (st = check_nothing_after_json(body, end, len, err)) != EEM_OK)
        goto done;
    binary_section bin = {(const uint8_t *)body + end, len - end};
    for (int k = 0; st == EEM_OK && k < n_out; k++)
        st = decode_output(ctx, outputs, k, &bin, n_instances, max_elements, out, err);
done:
    if (st != EEM_OK)
        eem_payload_outputs_free(ctx, n_instances, out);
    json_object_put(root);
    return st;
}

const eem_payload_ops eem_payload_oip_v2 = {
    .format = EEM_PAYLOAD_OIP_V2,
    .name = "OIP_V2",
    .item_sep = ",",
    .column_sep = ",",
    .content_type = oip_content_type,
    .can_send = oip_can_send,
    .encode_instance = oip_encode_instance,
    .head = oip_head,
    .column_head = oip_column_head,
    .column_tail = oip_column_tail,
    .tail = oip_tail,
    .head_is_binary_header = oip_binary,
    .decode_response = oip_decode_response,
};
