/* backend_tfserving.c — TensorFlow Serving's REST API:
 * POST .../v1/models/M[/versions/V|/labels/L]:predict.
 *
 * Owns: recognising its URLs, RAW_JSON as the default payload, the model
 * metadata at .../M[...]/metadata and its parser (the signature's inputs and
 * outputs with DT_* types and shapes), and its error body {"error": "..."}. */
#define _POSIX_C_SOURCE 200809L

#include "backend.h"

#include "endpoint.h"
#include "model_metadata.h"
#include "str.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    eem_dtype type;
} tf_dtype_names[] = {
    {"DT_FLOAT", EEM_DT_FLOAT32}, {"DT_DOUBLE", EEM_DT_FLOAT64},  {"DT_INT32", EEM_DT_INT32},
    {"DT_UINT8", EEM_DT_UINT8},   {"DT_INT16", EEM_DT_INT16},     {"DT_INT8", EEM_DT_INT8},
    {"DT_INT64", EEM_DT_INT64},   {"DT_UINT16", EEM_DT_UINT16},   {"DT_HALF", EEM_DT_FLOAT16},
    {"DT_BFLOAT16", EEM_DT_BFLOAT16}, {"DT_UINT32", EEM_DT_UINT32}, {"DT_UINT64", EEM_DT_UINT64},
};

/* ---- TF Serving: {"metadata":{"signature_def":{"signature_def":{S:{inputs,outputs}}}}} */

static eem_status tf_tensor_infos(json_object *map, eem_tensor_info **out, int *n,
                                  eem_error *err)
{
    *n = 0;
    *out = NULL;
    if (!map || !json_object_is_type(map, json_type_object))
        return EEM_OK;
    eem_status st = eem_metadata_infos_new((size_t)json_object_object_length(map), out, n, err);
    if (st != EEM_OK)
        return st;
    json_object_object_foreach(map, key, val)
    {
        eem_tensor_info *t;
        json_object *dt = NULL, *shape = NULL, *dims = NULL, *unk = NULL;
        const char *dts = json_object_object_get_ex(val, "dtype", &dt) ? json_object_get_string(dt)
                                                                       : NULL;
        if ((st = eem_metadata_info_add(*out, n, key, dts, "DT_INVALID", &t, err)) != EEM_OK)
            return st;
        t->is_string = strcmp(t->type_text, "DT_STRING") == 0;
        for (size_t i = 0; i < sizeof tf_dtype_names / sizeof tf_dtype_names[0]; i++)
            if (strcmp(t->type_text, tf_dtype_names[i].name) == 0)
                t->type = tf_dtype_names[i].type;
        if (json_object_object_get_ex(val, "tensor_shape", &shape) &&
            !(json_object_object_get_ex(shape, "unknown_rank", &unk) &&
              json_object_get_boolean(unk))) {
            t->ndim = 0;
            if (json_object_object_get_ex(shape, "dim", &dims) &&
                json_object_is_type(dims, json_type_array)) {
                size_t nd = json_object_array_length(dims);
                for (size_t d = 0; d < nd && d < EEM_TENSOR_MAX_DIMS; d++) {
                    json_object *dim = json_object_array_get_idx(dims, d), *sz = NULL;
                    t->dims[d] = json_object_object_get_ex(dim, "size", &sz) ? eem_metadata_size_of(sz) : -1;
                }
                t->ndim = nd > EEM_TENSOR_MAX_DIMS ? -1 : (int)nd;
            }
        }
    }
    return EEM_OK;
}

eem_status eem_metadata_parse_tfserving(const char *body, size_t len, const char *signature,
                                        eem_model_metadata **out, eem_error *err)
{
    *out = NULL;
    json_object *root = NULL, *m = NULL, *sd = NULL, *sd2 = NULL, *sig = NULL;
    const char *name = signature ? signature : EEM_METADATA_DEFAULT_SIGNATURE;
    eem_status st = eem_metadata_parse_root(body, len, "TF Serving", &root, err);
    if (st != EEM_OK)
        return st;
    if (!json_object_object_get_ex(root, "metadata", &m) ||
        !json_object_object_get_ex(m, "signature_def", &sd) ||
        !json_object_object_get_ex(sd, "signature_def", &sd2) ||
        !json_object_is_type(sd2, json_type_object)) {
        st = eem_error_set(err, EEM_ERR_PROTOCOL,
                           "TF Serving metadata has no metadata.signature_def.signature_def");
        goto done;
    }
    if (!json_object_object_get_ex(sd2, name, &sig)) {
        char keys[300];
        size_t used = 0;
        keys[0] = '\0';
        json_object_object_foreach(sd2, key, val)
        {
            (void)val;
            if (strcmp(key, "__saved_model_init_op") != 0 && used < sizeof keys)
                used += (size_t)snprintf(keys + used, sizeof keys - used, "%s%s", used ? ", " : "",
                                         key);
        }
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "SIGNATURE_NAME: the model has no signature \"%s\"; it has: %s", name,
                           used ? keys : "none");
        goto done;
    }
    json_object *in = NULL, *outs = NULL;
    json_object_object_get_ex(sig, "inputs", &in);
    json_object_object_get_ex(sig, "outputs", &outs);
    st = eem_metadata_from(in, outs, tf_tensor_infos, out, err);
done:
    json_object_put(root);
    return st;
}

/* .../v1/models/M...:predict */
static int tfserving_recognises(const eem_path_segments *ps)
{
    for (int i = 0; i + 1 < ps->n; i++)
        if (eem_path_segment_is(ps, i, "v1") && eem_path_segment_is(ps, i + 1, "models") &&
            i + 2 < ps->n && eem_path_segment_ends_with(ps, ps->n - 1, ":predict"))
            return i;
    return -1;
}

static eem_status tfserving_finish(eem_endpoint *ep, eem_error *err)
{
    if (!eem_url_path_ends_with(ep->predict_url, ":predict"))
        return EEM_OK;
    ep->metadata_url = eem_url_with_path_end(ep->predict_url, strlen(":predict"), "/metadata");
    return ep->metadata_url ? EEM_OK
                            : eem_error_set(err, EEM_ERR_NOMEM, "out of memory resolving the endpoint");
}

/* TF Serving's REST API fills the signature's tensors from JSON numbers and
 * writes its answers as JSON: its JSON codec has no uint16, half or bfloat16
 * tensors, in either direction, and integer tensors take JSON integers only
 * (the driver writes integers as such; a float sent to an integer input is
 * the metadata check's type mismatch).  SERIALIZED_TF_TENSORS travels as
 * base64 strings and is not affected. */
static int tfserving_json_cannot_carry(eem_dtype t)
{
    return t == EEM_DT_UINT16 || t == EEM_DT_FLOAT16 || t == EEM_DT_BFLOAT16;
}

static eem_status tfserving_check_metadata(const eem_endpoint *ep, const eem_model_metadata *md,
                                           eem_error *err)
{
    if (ep->payload_format != EEM_PAYLOAD_RAW_JSON && ep->payload_format != EEM_PAYLOAD_ND_ARRAYS)
        return EEM_OK;
    for (int side = 0; side < 2; side++) {
        const eem_tensor_info *list = side ? md->outputs : md->inputs;
        int n = side ? md->n_outputs : md->n_inputs;
        for (int i = 0; i < n; i++)
            if (tfserving_json_cannot_carry(list[i].type))
                return eem_error_set(
                    err, EEM_ERR_INVALID,
                    "the model's %s \"%s\" is %s, which TF Serving's REST API cannot %s in "
                    "%s (its JSON has no uint16, float16 or bfloat16 tensors); %s, or use "
                    "PAYLOAD_FORMAT=SERIALIZED_TF_TENSORS",
                    side ? "output" : "input", list[i].name, list[i].type_text,
                    side ? "return" : "take", eem_payload_format_name(ep->payload_format),
                    side ? "cast the output to float32 or int32 in the model's signature"
                         : "give the model a float32 or int32 input");
    }
    return EEM_OK;
}

static eem_status tfserving_check_payload(const eem_spec *spec, const eem_endpoint *ep,
                                          eem_error *err)
{
    (void)spec;
    if (ep->payload_format == EEM_PAYLOAD_OIP_V2)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "PAYLOAD_FORMAT: \"OIP_V2\" needs a KServe v2 server "
                             "(.../v2/models/M/infer) or Vertex :rawPredict; %s speaks %s, "
                             "accepted: SERIALIZED_TF_TENSORS, RAW_JSON, ND_ARRAYS",
                             ep->display_url, eem_protocol_name(ep->protocol));
    return EEM_OK;
}

static eem_status tfserving_parse_metadata(const char *body, size_t len, const eem_spec *spec,
                                           eem_model_metadata **out, eem_error *err)
{
    return eem_metadata_parse_tfserving(body, len, spec->signature_name, out, err);
}

static int tfserving_error_message(const char *body, size_t len, char *buf, size_t buflen)
{
    return eem_backend_json_error(body, len, 0, 1, buf, buflen);
}

const eem_backend_ops eem_backend_tfserving = {
    .protocol = EEM_PROTO_TFSERVING,
    .default_format = EEM_PAYLOAD_RAW_JSON,
    .recognises = tfserving_recognises,
    .finish = tfserving_finish,
    .check_payload = tfserving_check_payload,
    .check_metadata = tfserving_check_metadata,
    .parse_metadata = tfserving_parse_metadata,
    .error_message = tfserving_error_message,
};
