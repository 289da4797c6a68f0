/* grpc_answer.c — PredictResponse / ModelInferResponse decoders (see grpc_answer.h). */
#include "grpc_answer.h"

#include "dtype.h"
#include "payload.h"
#include "pb_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TF_DT_STRING 7

typedef struct named_bytes {
    const uint8_t *name;
    size_t name_len;
    const uint8_t *data; /* PredictResponse: the TensorProto; OIP: the InferOutputTensor */
    size_t len;
} named_bytes;

/* "a", "b" of the answered names, for messages. */
static void list_names(const named_bytes *v, int n, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used + 1 < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s\"%.*s\"", i ? ", " : "",
                         (int)(v[i].name_len > 64 ? 64 : v[i].name_len), (const char *)v[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (!n)
        snprintf(buf, cap, "none");
}

/* Index of declared output k among the answered ones, or an error. */
static eem_status match_output(const eem_spec *spec, int k, const named_bytes *v, int n,
                               int *index, eem_error *err)
{
    const char *want = spec->outputs[k].name ? spec->outputs[k].name : "";
    size_t wl = strlen(want);
    for (int i = n - 1; i >= 0; i--) /* a repeated map key: the last one wins */
        if (v[i].name_len == wl && memcmp(v[i].name, want, wl) == 0) {
            *index = i;
            return EEM_OK;
        }
    if (spec->n_outputs == 1 && n == 1) {
        *index = 0;
        return EEM_OK;
    }
    char names[400];
    list_names(v, n, names, sizeof names);
    return eem_error_set(err, EEM_ERR_PROTOCOL, "outputs: no output named \"%s\" (outputs present: %s)",
                         want, names);
}

/* Bound for a whole batch of n instances: max_elements * n, saturating. */
static size_t batch_bound(size_t max_elements, int n)
{
    if (max_elements == 0 || n <= 0)
        return max_elements;
    if (max_elements > SIZE_MAX / (size_t)n)
        return SIZE_MAX;
    return max_elements * (size_t)n;
}

/* Split a batch tensor (first dimension = instances) into n instance tensors
 * out[i * stride]; with n == 1 and a first dimension other than 1, the whole
 * tensor is the instance (batch dimension left out). */
static eem_status split_batch(const eem_tensor *b, int n, const char *name, eem_tensor **out,
                              int stride, eem_error *err)
{
    if (n == 1 && (b->ndim == 0 || b->dims[0] != 1)) {
        eem_tensor *t = eem_tensor_new(b->type, b->ndim, b->dims);
        if (!t)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory decoding output \"%s\"", name);
        memcpy(t->data, b->data, eem_tensor_nbytes(b));
        out[0] = t;
        return EEM_OK;
    }
    if (b->ndim < 1 || b->dims[0] != n)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "output \"%s\": its first (batch) dimension is %lld; the request "
                             "held %d instance(s)",
                             name, b->ndim < 1 ? 0LL : (long long)b->dims[0], n);
    size_t each = n > 0 ? eem_tensor_nbytes(b) / (size_t)n : 0;
    for (int i = 0; i < n; i++) {
        eem_tensor *t = eem_tensor_new(b->type, b->ndim - 1, b->dims + 1);
        if (!t)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory decoding output \"%s\"", name);
        memcpy(t->data, (const uint8_t *)b->data + each * (size_t)i, each);
        out[(size_t)i * (size_t)stride] = t;
    }
    return EEM_OK;
}

/* Collect the entries of map field `number` (key=1, value=2) or of repeated
 * message field `number` (name=1) into v. */
static eem_status collect(const uint8_t *msg, size_t len, uint32_t number, int is_map,
                          const char *what, named_bytes *v, int *n, eem_error *err)
{
    eem_pb_reader r;
    eem_pb_field f;
    int rc;
    *n = 0;
    eem_pb_reader_init(&r, msg, len);
    while ((rc = eem_pb_next(&r, &f)) == 1) {
        if (f.number != number)
            continue;
        if (f.wire_type != EEM_PB_LEN)
            return eem_error_set(err, EEM_ERR_PROTOCOL, "%s: field %u has the wrong wire type",
                                 what, number);
        if (*n >= EEM_GRPC_MAX_ANSWER_OUTPUTS)
            return eem_error_set(err, EEM_ERR_PROTOCOL, "%s: more than %d outputs", what,
                                 EEM_GRPC_MAX_ANSWER_OUTPUTS);
        named_bytes e = {(const uint8_t *)"", 0, is_map ? NULL : f.data, is_map ? 0 : f.len};
        eem_pb_reader er;
        eem_pb_field ef;
        int erc;
        eem_pb_reader_init(&er, f.data, f.len);
        while ((erc = eem_pb_next(&er, &ef)) == 1) {
            if (ef.number == 1 && ef.wire_type == EEM_PB_LEN) {
                e.name = ef.data;
                e.name_len = ef.len;
            } else if (is_map && ef.number == 2 && ef.wire_type == EEM_PB_LEN) {
                e.data = ef.data;
                e.len = ef.len;
            }
        }
        if (erc < 0)
            return eem_error_set(err, EEM_ERR_PROTOCOL, "%s: output %d is not a valid message",
                                 what, *n);
        if (!e.data)
            e.data = (const uint8_t *)"", e.len = 0; /* an empty (all-default) value */
        v[(*n)++] = e;
    }
    if (rc < 0)
        return eem_error_set(err, EEM_ERR_PROTOCOL, "%s: not a valid protobuf message (%zu bytes)",
                             what, len);
    return EEM_OK;
}

/* --------------------------------------------------------- PredictResponse -- */

static int tensor_dtype(const uint8_t *data, size_t len)
{
    eem_pb_reader r;
    eem_pb_field f;
    int dt = 0;
    eem_pb_reader_init(&r, data, len);
    while (eem_pb_next(&r, &f) == 1)
        if (f.number == 1 && f.wire_type == EEM_PB_VARINT)
            dt = (int)f.varint;
    return dt;
}

/* A DT_STRING tensor: each string_val is one instance's serialized TensorProto. */
static eem_status decode_string_tensor(const named_bytes *e, const char *name, int n,
                                       size_t max_elements, eem_tensor **out, int stride,
                                       eem_error *err)
{
    eem_pb_reader r;
    eem_pb_field f;
    int count = 0, rc;
    eem_pb_reader_init(&r, e->data, e->len);
    while ((rc = eem_pb_next(&r, &f)) == 1) {
        if (f.number != 8)
            continue;
        if (f.wire_type != EEM_PB_LEN || count >= n)
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "output \"%s\": more than the %d serialized tensor(s) expected "
                                 "(one per instance)",
                                 name, n);
        eem_tensor *t = NULL;
        eem_status st = eem_tensorproto_decode(f.data, f.len, max_elements, &t, err);
        if (st != EEM_OK)
            return eem_error_prefix(err, "output \"%s\" instance %d", name, count);
        out[(size_t)count * (size_t)stride] = t;
        count++;
    }
    if (rc < 0)
        return eem_error_set(err, EEM_ERR_PROTOCOL, "output \"%s\": not a valid TensorProto", name);
    if (count != n)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "output \"%s\": %d serialized tensor(s), expected %d (one per "
                             "instance)",
                             name, count, n);
    return EEM_OK;
}

eem_status eem_grpc_decode_predict_response(const eem_spec *spec, const uint8_t *msg, size_t len,
                                            int n_instances, size_t max_elements,
                                            eem_tensor **out, eem_error *err)
{
    named_bytes v[EEM_GRPC_MAX_ANSWER_OUTPUTS];
    int n = 0, no = spec->n_outputs;
    size_t slots = (size_t)(n_instances > 0 ? n_instances : 0) * (size_t)(no > 0 ? no : 0);
    for (size_t s = 0; s < slots; s++)
        out[s] = NULL;
    eem_status st = collect(msg, len, 1, 1, "PredictResponse", v, &n, err);
    for (int k = 0; st == EEM_OK && k < no; k++) {
        int idx = 0;
        const char *name = spec->outputs[k].name ? spec->outputs[k].name : "";
        st = match_output(spec, k, v, n, &idx, err);
        if (st != EEM_OK)
            break;
        if (tensor_dtype(v[idx].data, v[idx].len) == TF_DT_STRING) {
            st = decode_string_tensor(&v[idx], name, n_instances, max_elements, out + k, no, err);
            continue;
        }
        eem_tensor *batch = NULL;
        st = eem_tensorproto_decode(v[idx].data, v[idx].len, batch_bound(max_elements, n_instances),
                                    &batch, err);
        if (st != EEM_OK) {
            eem_error_prefix(err, "output \"%s\"", name);
            break;
        }
        st = split_batch(batch, n_instances, name, out + k, no, err);
        eem_tensor_free(batch);
    }
    if (st != EEM_OK)
        for (size_t s = 0; s < slots; s++) {
            eem_tensor_free(out[s]);
            out[s] = NULL;
        }
    return st;
}

eem_status eem_grpc_unwrap_direct_raw(const uint8_t *msg, size_t len, const uint8_t **inner,
                                      size_t *inner_len, eem_error *err)
{
    eem_pb_reader r;
    eem_pb_field f;
    int rc;
    *inner = (const uint8_t *)"";
    *inner_len = 0;
    eem_pb_reader_init(&r, msg, len);
    while ((rc = eem_pb_next(&r, &f)) == 1)
        if (f.number == 1 && f.wire_type == EEM_PB_LEN) {
            *inner = f.data;
            *inner_len = f.len;
        }
    if (rc < 0)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "DirectRawPredictResponse: not a valid protobuf message (%zu bytes)",
                             len);
    return EEM_OK;
}

/* ------------------------------------------------------ ModelInferResponse -- */

typedef struct oip_output {
    char datatype[16];
    int ndim;
    int64_t dims[EEM_TENSOR_MAX_DIMS];
    const uint8_t *contents;
    size_t contents_len;
} oip_output;

static eem_status parse_oip_output(const named_bytes *e, const char *name, oip_output *o,
                                   eem_error *err)
{
    eem_pb_reader r;
    eem_pb_field f;
    int rc;
    memset(o, 0, sizeof *o);
    eem_pb_reader_init(&r, e->data, e->len);
    while ((rc = eem_pb_next(&r, &f)) == 1) {
        if (f.number == 2 && f.wire_type == EEM_PB_LEN) {
            size_t n = f.len < sizeof o->datatype - 1 ? f.len : sizeof o->datatype - 1;
            memcpy(o->datatype, f.data, n);
            o->datatype[n] = '\0';
        } else if (f.number == 3) {
            /* packed, or one varint per tag */
            const uint8_t *p = f.data, *end = f.data ? f.data + f.len : NULL;
            int packed = f.wire_type == EEM_PB_LEN;
            if (!packed && f.wire_type != EEM_PB_VARINT)
                return eem_error_set(err, EEM_ERR_PROTOCOL, "output \"%s\": bad shape field", name);
            while (packed ? p < end : 1) {
                uint64_t d = f.varint;
                if (packed && eem_pb_read_varint(&p, end, &d) != 0)
                    return eem_error_set(err, EEM_ERR_PROTOCOL, "output \"%s\": malformed shape",
                                         name);
                if (o->ndim >= EEM_TENSOR_MAX_DIMS)
                    return eem_error_set(err, EEM_ERR_PROTOCOL,
                                         "output \"%s\": more than %d dimensions", name,
                                         EEM_TENSOR_MAX_DIMS);
                if ((int64_t)d < 0)
                    return eem_error_set(err, EEM_ERR_PROTOCOL,
                                         "output \"%s\": dimension %d is %lld; sizes must be >= 0",
                                         name, o->ndim, (long long)(int64_t)d);
                o->dims[o->ndim++] = (int64_t)d;
                if (!packed)
                    break;
            }
        } else if (f.number == 5 && f.wire_type == EEM_PB_LEN) {
            o->contents = f.data;
            o->contents_len = f.len;
        }
    }
    if (rc < 0)
        return eem_error_set(err, EEM_ERR_PROTOCOL, "output \"%s\": not a valid message", name);
    return EEM_OK;
}

/* Element count of a shape; 0 when it overflows or exceeds bound. */
static int shape_elements(const oip_output *o, size_t bound, size_t *count)
{
    size_t c = 1;
    for (int i = 0; i < o->ndim; i++) {
        if (o->dims[i] != 0 && c > SIZE_MAX / (size_t)o->dims[i])
            return 0;
        c *= (size_t)o->dims[i];
    }
    if (bound && c > bound)
        return 0;
    *count = c;
    return 1;
}

/* Typed contents field holding datatype t's values. */
static uint32_t contents_field(eem_dtype t, int *is_float, int *is_double, int *is_signed32)
{
    *is_float = *is_double = *is_signed32 = 0;
    switch (t) {
    case EEM_DT_INT8:
    case EEM_DT_INT16:
    case EEM_DT_INT32:
        *is_signed32 = 1;
        return 2;
    case EEM_DT_INT64:
        return 3;
    case EEM_DT_UINT8:
    case EEM_DT_UINT16:
    case EEM_DT_UINT32:
        return 4;
    case EEM_DT_UINT64:
        return 5;
    case EEM_DT_FLOAT32:
        *is_float = 1;
        return 6;
    case EEM_DT_FLOAT64:
        *is_double = 1;
        return 7;
    default:
        return 0; /* FP16 / BF16 travel raw only */
    }
}

static eem_status read_typed_contents(const oip_output *o, const char *name, eem_tensor *t,
                                      size_t count, eem_error *err)
{
    int is_float, is_double, is_s32;
    uint32_t field = contents_field(t->type, &is_float, &is_double, &is_s32);
    if (!field)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "output \"%s\": datatype %s has no typed contents field and no "
                             "raw_output_contents were sent",
                             name, o->datatype);
    size_t got = 0;
    eem_pb_reader r;
    eem_pb_field f;
    int rc;
    eem_pb_reader_init(&r, o->contents, o->contents_len);
    while ((rc = eem_pb_next(&r, &f)) == 1) {
        if (f.number != field)
            continue;
        const uint8_t *p = f.data, *end = f.data ? f.data + f.len : NULL;
        int packed = f.wire_type == EEM_PB_LEN;
        for (;;) {
            double dv = 0;
            int64_t iv = 0;
            uint64_t uv = 0;
            if (is_float) {
                uint32_t bits;
                if (packed) {
                    if (p == end)
                        break;
                    if (end - p < 4)
                        return eem_error_set(err, EEM_ERR_PROTOCOL,
                                             "output \"%s\": truncated fp32_contents", name);
                    bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24;
                    p += 4;
                } else if (f.wire_type == EEM_PB_FIXED32) {
                    bits = (uint32_t)f.varint;
                } else {
                    return eem_error_set(err, EEM_ERR_PROTOCOL,
                                         "output \"%s\": bad fp32_contents", name);
                }
                float fv;
                memcpy(&fv, &bits, 4);
                dv = fv;
            } else if (is_double) {
                uint64_t bits = 0;
                if (packed) {
                    if (p == end)
                        break;
                    if (end - p < 8)
                        return eem_error_set(err, EEM_ERR_PROTOCOL,
                                             "output \"%s\": truncated fp64_contents", name);
                    for (int i = 7; i >= 0; i--)
                        bits = bits << 8 | p[i];
                    p += 8;
                } else if (f.wire_type == EEM_PB_FIXED64) {
                    bits = f.varint;
                } else {
                    return eem_error_set(err, EEM_ERR_PROTOCOL,
                                         "output \"%s\": bad fp64_contents", name);
                }
                memcpy(&dv, &bits, 8);
            } else {
                if (packed) {
                    if (p == end)
                        break;
                    if (eem_pb_read_varint(&p, end, &uv) != 0)
                        return eem_error_set(err, EEM_ERR_PROTOCOL,
                                             "output \"%s\": malformed contents", name);
                } else if (f.wire_type == EEM_PB_VARINT) {
                    uv = f.varint;
                } else {
                    return eem_error_set(err, EEM_ERR_PROTOCOL, "output \"%s\": bad contents",
                                         name);
                }
                iv = is_s32 ? (int64_t)(int32_t)(uint32_t)uv : (int64_t)uv;
            }
            if (got >= count)
                return eem_error_set(err, EEM_ERR_PROTOCOL,
                                     "output \"%s\": more values than the %zu its shape holds",
                                     name, count);
            uint8_t *dst = (uint8_t *)t->data + got * eem_dtype_size(t->type);
            if (is_float || is_double)
                eem_dtype_convert(&dv, EEM_DT_FLOAT64, dst, t->type, 1);
            else if (field == 5 || field == 4)
                eem_dtype_convert(&uv, EEM_DT_UINT64, dst, t->type, 1);
            else
                eem_dtype_convert(&iv, EEM_DT_INT64, dst, t->type, 1);
            got++;
            if (!packed)
                break;
        }
    }
    if (rc < 0)
        return eem_error_set(err, EEM_ERR_PROTOCOL, "output \"%s\": malformed contents", name);
    if (got != count)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "output \"%s\": %zu values for shape with %zu elements", name, got,
                             count);
    return EEM_OK;
}

eem_status eem_grpc_decode_model_infer_response(const eem_spec *spec, const uint8_t *msg,
                                                size_t len, int n_instances,
                                                size_t max_elements, eem_tensor **out,
                                                eem_error *err)
{
    named_bytes v[EEM_GRPC_MAX_ANSWER_OUTPUTS];
    const uint8_t *raw[EEM_GRPC_MAX_ANSWER_OUTPUTS];
    size_t raw_len[EEM_GRPC_MAX_ANSWER_OUTPUTS];
    int n = 0, n_raw = 0, no = spec->n_outputs;
    size_t slots = (size_t)(n_instances > 0 ? n_instances : 0) * (size_t)(no > 0 ? no : 0);
    for (size_t s = 0; s < slots; s++)
        out[s] = NULL;
    eem_status st = collect(msg, len, 5, 0, "ModelInferResponse", v, &n, err);
    if (st == EEM_OK) {
        eem_pb_reader r;
        eem_pb_field f;
        int rc;
        eem_pb_reader_init(&r, msg, len);
        while ((rc = eem_pb_next(&r, &f)) == 1) {
            if (f.number != 6)
                continue;
            if (f.wire_type != EEM_PB_LEN || n_raw >= EEM_GRPC_MAX_ANSWER_OUTPUTS) {
                st = eem_error_set(err, EEM_ERR_PROTOCOL,
                                   "ModelInferResponse: bad raw_output_contents");
                break;
            }
            raw[n_raw] = f.data;
            raw_len[n_raw++] = f.len;
        }
    }
    int use_raw = n_raw > 0 && n_raw == n;
    if (st == EEM_OK && n_raw > 0 && !use_raw)
        st = eem_error_set(err, EEM_ERR_PROTOCOL,
                           "ModelInferResponse: %d raw_output_contents for %d outputs; expected "
                           "one per output",
                           n_raw, n);
    size_t bound = batch_bound(max_elements, n_instances);
    for (int k = 0; st == EEM_OK && k < no; k++) {
        const char *name = spec->outputs[k].name ? spec->outputs[k].name : "";
        int idx = 0;
        if ((st = match_output(spec, k, v, n, &idx, err)) != EEM_OK)
            break;
        oip_output o;
        if ((st = parse_oip_output(&v[idx], name, &o, err)) != EEM_OK)
            break;
        eem_dtype t = eem_oip_datatype_from_name(o.datatype);
        if (t == EEM_DT_NONE) {
            st = eem_error_set(err, EEM_ERR_PROTOCOL,
                               "output \"%s\": datatype \"%s\" is not numeric (accepted: UINT8, "
                               "INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64, FP16, BF16, "
                               "FP32, FP64)",
                               name, o.datatype);
            break;
        }
        size_t count = 0;
        if (!shape_elements(&o, bound, &count)) {
            st = eem_error_set(err, EEM_ERR_PROTOCOL,
                               "output \"%s\": its shape has more than the %zu elements "
                               "expected",
                               name, bound);
            break;
        }
        eem_tensor *batch = eem_tensor_new(t, o.ndim, o.dims);
        if (!batch) {
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory decoding output \"%s\"", name);
            break;
        }
        if (use_raw) {
            size_t need = count * eem_dtype_size(t);
            if (raw_len[idx] != need)
                st = eem_error_set(err, EEM_ERR_PROTOCOL,
                                   "output \"%s\": raw_output_contents has %zu bytes, shape and "
                                   "datatype %s need %zu",
                                   name, raw_len[idx], o.datatype, need);
            else if (need)
                memcpy(batch->data, raw[idx], need);
        } else {
            st = read_typed_contents(&o, name, batch, count, err);
        }
        if (st == EEM_OK)
            st = split_batch(batch, n_instances, name, out + k, no, err);
        eem_tensor_free(batch);
    }
    if (st != EEM_OK)
        for (size_t s = 0; s < slots; s++) {
            eem_tensor_free(out[s]);
            out[s] = NULL;
        }
    return st;
}
