/* feature_instance.c — one feature as one instance (see feature_model.h):
 * its properties as tensors (rank 0, rank 1 for lists, one flat list for
 * ND_ARRAYS), list lengths checked, and the encoding, which puts scalar
 * strings where the format carries them (a JSON string for RAW_JSON, a
 * DT_STRING TensorProto for SERIALIZED_TF_TENSORS). */
#include "feature_model_private.h"

#include "buf.h"
#include "tensor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The tensors of feature f (one per key, or one keyless list for ND_ARRAYS). */
eem_status eem_feature_instance_tensors(eem_feature_model *m, long long fid,
                                        const eem_feature_value *in, eem_tensor **tensors,
                                        int *n_tensors, eem_error *err)
{
    int nd_arrays = m->ops->format == EEM_PAYLOAD_ND_ARRAYS;
    int64_t shape[EEM_SPEC_SHAPE_MAX];
    size_t total = 0;
    for (int k = 0; k < m->n_inputs; k++) {
        const eem_feature_value *v = &in[k];
        if (m->is_string[k])
            continue; /* sent by eem_feature_instance_encode(); its tensor only names the key */
        if (v->is_list) {
            if (v->n == 0)
                return eem_error_set(err, EEM_ERR_INVALID,
                                     "feature %lld: property \"%s\" is an empty list",
                                     fid, m->inputs[k]);
            if (m->list_length[k] == 0)
                m->list_length[k] = v->n;
            if (v->n != m->list_length[k])
                return eem_error_set(err, EEM_ERR_INVALID,
                                     "feature %lld: property \"%s\" holds %d value(s); it must "
                                     "hold %d (%s)",
                                     fid, m->inputs[k], v->n, m->list_length[k],
                                     eem_spec_input_shape(m->spec, m->inputs[k], shape) == 1
                                         ? "INPUT_SHAPES"
                                         : "the length of its first value");
        } else if (m->list_length[k] > 0) {
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "feature %lld: property \"%s\" is a single value; INPUT_SHAPES "
                                 "declares a list of %d",
                                 fid, m->inputs[k], m->list_length[k]);
        }
        total += (size_t)v->n;
    }
    if (nd_arrays) {
        int64_t dims[1] = {(int64_t)total};
        eem_tensor *t = eem_tensor_new(m->input_types[0], 1, dims);
        if (!t)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        size_t at = 0;
        for (int k = 0; k < m->n_inputs; k++) {
            eem_dtype_convert(in[k].values, EEM_DT_FLOAT64,
                              (char *)t->data + at * eem_dtype_size(t->type), t->type,
                              (size_t)in[k].n);
            at += (size_t)in[k].n;
        }
        tensors[0] = t;
        *n_tensors = 1;
        return EEM_OK;
    }
    for (int k = 0; k < m->n_inputs; k++) {
        int64_t dims[1] = {in[k].n};
        if (m->is_string[k]) {
            tensors[k] = eem_tensor_new(EEM_DT_UINT8, 0, dims);
            if (!tensors[k])
                return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
            *n_tensors = k + 1;
            continue;
        }
        eem_tensor *t = eem_tensor_new(m->input_types[k], in[k].is_list ? 1 : 0, dims);
        if (!t)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        eem_dtype_convert(in[k].values, EEM_DT_FLOAT64, t->data, t->type, (size_t)in[k].n);
        tensors[k] = t;
        *n_tensors = k + 1;
    }
    return EEM_OK;
}

/* Base64 of a DT_STRING TensorProto holding the scalar string s, quoted. */
static void put_string_tensorproto(eem_buf *b, const char *s)
{
    size_t n = strlen(s);
    eem_buf proto = {0};
    static const uint8_t head[] = {0x08, 0x07 /* DT_STRING */, 0x12, 0x00 /* shape [] */,
                                   0x42 /* string_val */};
    eem_buf_append(&proto, head, sizeof head);
    for (size_t v = n; ; v >>= 7) {
        uint8_t byte = (uint8_t)(v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
        eem_buf_append(&proto, &byte, 1);
        if (v < 0x80)
            break;
    }
    eem_buf_append(&proto, s, n);
    eem_buf_puts(b, "\"");
    eem_buf_base64(b, proto.data, proto.len);
    eem_buf_puts(b, "\"");
    eem_buf_free(&proto);
}

/* Encode one feature.  With string inputs, the numbers are encoded by the
 * format one key per part (its columnar encoding) and the instance is
 * assembled here, strings in their place: the same body the format would
 * write if it carried strings. */
eem_status eem_feature_instance_encode(const eem_feature_model *m, const eem_instance *inst,
                                       const eem_feature_value *in, eem_payload_fragment *frag,
                                       eem_error *err)
{
    eem_payload_fragment_reset(frag);
    if (!m->n_strings)
        return eem_payload_encode(m->ops, &m->payload, inst, frag, err);
    eem_payload_context ctx = m->payload;
    ctx.columnar = 1;
    const char **keys = calloc((size_t)m->n_inputs, sizeof *keys);
    const eem_tensor **ts = calloc((size_t)m->n_inputs, sizeof *ts);
    eem_payload_fragment nums = {0};
    eem_status st = keys && ts ? EEM_OK : eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    int nn = 0;
    for (int k = 0; st == EEM_OK && k < m->n_inputs; k++)
        if (!m->is_string[k]) {
            keys[nn] = inst->keys[k];
            ts[nn++] = inst->inputs[k];
        }
    eem_instance sub = {nn, keys, ts};
    if (st == EEM_OK && nn > 0)
        st = eem_payload_encode(m->ops, &ctx, &sub, &nums, err);
    eem_buf *b = &frag->data;
    int columnar = m->payload.columnar, j = 0;
    if (st == EEM_OK && !columnar)
        eem_buf_puts(b, "{");
    for (int k = 0; st == EEM_OK && k < m->n_inputs; k++) {
        if (!columnar) {
            eem_buf_puts(b, k ? "," : "");
            eem_buf_json_string(b, inst->keys[k]);
            eem_buf_puts(b, ":");
        }
        if (m->is_string[k] && m->ops->format == EEM_PAYLOAD_SERIALIZED_TF_TENSORS) {
            put_string_tensorproto(b, in[k].text);
        } else if (m->is_string[k]) {
            eem_buf_json_string(b, in[k].text);
        } else {
            size_t start = j ? nums.ends[j - 1] : 0;
            eem_buf_append(b, nums.data.data + start, nums.ends[j] - start);
            j++;
        }
        if (columnar && eem_payload_fragment_end_part(frag) != 0)
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    }
    if (st == EEM_OK && !columnar) {
        eem_buf_puts(b, "}");
        if (eem_payload_fragment_end_part(frag) != 0)
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    }
    if (st == EEM_OK && b->failed)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    eem_payload_fragment_free(&nums);
    free(keys);
    free(ts);
    return st;
}

