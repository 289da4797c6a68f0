/* metadata.c — fetch model metadata with a GET over the libcurl multi
 * transport, parse the TF Serving and KServe v2 forms, and check the
 * descriptor against it at open (see metadata.h). */
#include "metadata.h"
#include "grpc_metadata.h"

#include "buf.h"
#include "http.h"
#include "payload.h"
#include "str.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EEM_METADATA_JSON_DEPTH 32
#define EEM_METADATA_SIDE_MAX 700 /* characters of one side of a mismatch message */

static const struct {
    const char *name;
    eem_dtype type;
} tf_dtype_names[] = {
    {"DT_FLOAT", EEM_DT_FLOAT32}, {"DT_DOUBLE", EEM_DT_FLOAT64},  {"DT_INT32", EEM_DT_INT32},
    {"DT_UINT8", EEM_DT_UINT8},   {"DT_INT16", EEM_DT_INT16},     {"DT_INT8", EEM_DT_INT8},
    {"DT_INT64", EEM_DT_INT64},   {"DT_UINT16", EEM_DT_UINT16},   {"DT_HALF", EEM_DT_FLOAT16},
    {"DT_BFLOAT16", EEM_DT_BFLOAT16}, {"DT_UINT32", EEM_DT_UINT32}, {"DT_UINT64", EEM_DT_UINT64},
};

void eem_metadata_free(eem_model_metadata *md)
{
    if (!md)
        return;
    for (int i = 0; i < md->n_inputs; i++) {
        free(md->inputs[i].name);
        free(md->inputs[i].type_text);
    }
    for (int i = 0; i < md->n_outputs; i++) {
        free(md->outputs[i].name);
        free(md->outputs[i].type_text);
    }
    free(md->inputs);
    free(md->outputs);
    free(md);
}

static eem_status parse_root(const char *body, size_t len, const char *what, json_object **root,
                             eem_error *err)
{
    json_tokener *tok = json_tokener_new_ex(EEM_METADATA_JSON_DEPTH);
    if (!tok)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    *root = json_tokener_parse_ex(tok, body, (int)(len > 0x7fffffff ? 0x7fffffff : len));
    enum json_tokener_error je = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!*root || je != json_tokener_success || !json_object_is_type(*root, json_type_object)) {
        json_object_put(*root);
        *root = NULL;
        return eem_error_set(err, EEM_ERR_PROTOCOL, "%s metadata is not a JSON object", what);
    }
    return EEM_OK;
}

static int64_t size_of(json_object *v)
{
    if (json_object_is_type(v, json_type_int))
        return json_object_get_int64(v);
    if (json_object_is_type(v, json_type_string)) {
        char *end = NULL;
        long long x = strtoll(json_object_get_string(v), &end, 10);
        if (end && !*end)
            return x;
    }
    return -1;
}

/* An array of count tensor infos (owned by the caller even on failure), none used yet. */
static eem_status infos_new(size_t count, eem_tensor_info **out, int *n, eem_error *err)
{
    *n = 0;
    *out = calloc(count ? count : 1, sizeof **out);
    return *out ? EEM_OK : eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
}

/* The next info of the array with its name and type text copied (NULL: fallback). */
static eem_status info_add(eem_tensor_info *list, int *n, const char *name,
                           const char *type_text, const char *fallback, eem_tensor_info **t,
                           eem_error *err)
{
    *t = &list[(*n)++];
    (*t)->name = eem_strdup(name ? name : "");
    (*t)->type_text = eem_strdup(type_text ? type_text : fallback);
    (*t)->ndim = -1;
    if (!(*t)->name || !(*t)->type_text)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    return EEM_OK;
}

/* Metadata from an inputs and an outputs node, each read by read_infos. */
static eem_status metadata_from(json_object *in, json_object *outs,
                                eem_status (*read_infos)(json_object *, eem_tensor_info **, int *,
                                                         eem_error *),
                                eem_model_metadata **out, eem_error *err)
{
    eem_model_metadata *md = calloc(1, sizeof *md);
    if (!md)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_status st = read_infos(in, &md->inputs, &md->n_inputs, err);
    if (st == EEM_OK)
        st = read_infos(outs, &md->outputs, &md->n_outputs, err);
    if (st != EEM_OK)
        eem_metadata_free(md);
    else
        *out = md;
    return st;
}

/* ---- TF Serving: {"metadata":{"signature_def":{"signature_def":{S:{inputs,outputs}}}}} */

static eem_status tf_tensor_infos(json_object *map, eem_tensor_info **out, int *n,
                                  eem_error *err)
{
    *n = 0;
    *out = NULL;
    if (!map || !json_object_is_type(map, json_type_object))
        return EEM_OK;
    eem_status st = infos_new((size_t)json_object_object_length(map), out, n, err);
    if (st != EEM_OK)
        return st;
    json_object_object_foreach(map, key, val)
    {
        eem_tensor_info *t;
        json_object *dt = NULL, *shape = NULL, *dims = NULL, *unk = NULL;
        const char *dts = json_object_object_get_ex(val, "dtype", &dt) ? json_object_get_string(dt)
                                                                       : NULL;
        if ((st = info_add(*out, n, key, dts, "DT_INVALID", &t, err)) != EEM_OK)
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
                    t->dims[d] = json_object_object_get_ex(dim, "size", &sz) ? size_of(sz) : -1;
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
    eem_status st = parse_root(body, len, "TF Serving", &root, err);
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
    st = metadata_from(in, outs, tf_tensor_infos, out, err);
done:
    json_object_put(root);
    return st;
}

/* ---- KServe v2: {"name","inputs":[{"name","datatype","shape"}],"outputs":[...]} */

static eem_status kserve_tensor_infos(json_object *list, eem_tensor_info **out, int *n,
                                      eem_error *err)
{
    *n = 0;
    *out = NULL;
    if (!list || !json_object_is_type(list, json_type_array))
        return EEM_OK;
    size_t count = json_object_array_length(list);
    eem_status st = infos_new(count, out, n, err);
    if (st != EEM_OK)
        return st;
    for (size_t i = 0; i < count; i++) {
        json_object *o = json_object_array_get_idx(list, i), *nm = NULL, *dt = NULL, *sh = NULL;
        eem_tensor_info *t;
        const char *name = json_object_object_get_ex(o, "name", &nm) ? json_object_get_string(nm) : NULL;
        const char *dts = json_object_object_get_ex(o, "datatype", &dt) ? json_object_get_string(dt) : NULL;
        if ((st = info_add(*out, n, name, dts, "", &t, err)) != EEM_OK)
            return st;
        t->type = eem_oip_datatype_from_name(t->type_text);
        t->is_string = strcmp(t->type_text, "BYTES") == 0;
        if (json_object_object_get_ex(o, "shape", &sh) && json_object_is_type(sh, json_type_array)) {
            size_t nd = json_object_array_length(sh);
            for (size_t d = 0; d < nd && d < EEM_TENSOR_MAX_DIMS; d++)
                t->dims[d] = size_of(json_object_array_get_idx(sh, d));
            t->ndim = nd > EEM_TENSOR_MAX_DIMS ? -1 : (int)nd;
        }
    }
    return EEM_OK;
}

eem_status eem_metadata_parse_kserve(const char *body, size_t len, eem_model_metadata **out,
                                     eem_error *err)
{
    *out = NULL;
    json_object *root = NULL, *in = NULL, *outs = NULL;
    eem_status st = parse_root(body, len, "KServe v2 model", &root, err);
    if (st != EEM_OK)
        return st;
    json_object_object_get_ex(root, "inputs", &in);
    json_object_object_get_ex(root, "outputs", &outs);
    st = metadata_from(in, outs, kserve_tensor_infos, out, err);
    json_object_put(root);
    return st;
}

int eem_metadata_server_has_extension(const char *body, size_t len, const char *ext)
{
    json_object *root = NULL, *list = NULL;
    eem_error ignored;
    if (parse_root(body, len, "server", &root, &ignored) != EEM_OK)
        return 0;
    int found = 0;
    if (json_object_object_get_ex(root, "extensions", &list) &&
        json_object_is_type(list, json_type_array))
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            const char *s = json_object_get_string(json_object_array_get_idx(list, i));
            if (s && strcmp(s, ext) == 0)
                found = 1;
        }
    json_object_put(root);
    return found;
}

/* ---------------------------------------------------------------- check -- */

static void put_shape(eem_buf *b, const eem_tensor_info *t)
{
    if (t->ndim < 0) {
        eem_buf_puts(b, "[?]");
        return;
    }
    eem_buf_puts(b, "[");
    for (int d = 0; d < t->ndim; d++)
        eem_buf_printf(b, "%s%lld", d ? "," : "", (long long)t->dims[d]);
    eem_buf_puts(b, "]");
}

static void describe_model_side(eem_buf *b, const eem_tensor_info *list, int n)
{
    for (int i = 0; i < n; i++) {
        eem_buf_printf(b, "%s\"%s\" %s ", i ? ", " : "", list[i].name, list[i].type_text);
        put_shape(b, &list[i]);
    }
    if (n == 0)
        eem_buf_puts(b, "none");
}

static void describe_sent_side(eem_buf *b, const eem_sent_input *in, int n, int h, int w,
                               int keyless)
{
    if (keyless) {
        int c = 0;
        for (int i = 0; i < n; i++)
            c += in[i].channels;
        eem_buf_printf(b, "one keyless %s tensor [N,%d,%d,%d] (channels first)",
                       n ? eem_dtype_name(in[0].type) : "?", c, h, w);
        return;
    }
    for (int i = 0; i < n; i++)
        eem_buf_printf(b, "%s\"%s\" %s [N,%d,%d,%d]", i ? ", " : "", in[i].key,
                       eem_dtype_name(in[i].type), h, w, in[i].channels);
}

static eem_status mismatch(const char *where, const char *problem, const eem_model_metadata *md,
                           int outputs, const eem_sent_input *in, int n, int h, int w,
                           int keyless, const eem_spec *spec, eem_error *err)
{
    eem_buf model = {0}, ours = {0};
    if (outputs) {
        describe_model_side(&model, md->outputs, md->n_outputs);
        for (int k = 0; k < spec->n_outputs; k++) {
            const eem_output *o = &spec->outputs[k];
            if (o->dims == 1)
                eem_buf_printf(&ours, "%s%s:%s:%d", k ? "," : "", o->name, eem_dtype_name(o->type),
                               o->length);
            else
                eem_buf_printf(&ours, "%s%s:%s", k ? "," : "", o->name, eem_dtype_name(o->type));
        }
    } else {
        describe_model_side(&model, md->inputs, md->n_inputs);
        describe_sent_side(&ours, in, n, h, w, keyless);
    }
    eem_status st = eem_error_set(
        err, EEM_ERR_INVALID, "%s; the model (%s) declares %s: %.*s; the descriptor %s: %.*s",
        problem, where, outputs ? "outputs" : "inputs", EEM_METADATA_SIDE_MAX,
        model.data ? model.data : "", outputs ? "declares OUTPUT_BANDS" : "sends",
        EEM_METADATA_SIDE_MAX, ours.data ? ours.data : "");
    eem_buf_free(&model);
    eem_buf_free(&ours);
    return st;
}

static const eem_tensor_info *find_info(const eem_tensor_info *list, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            return &list[i];
    return NULL;
}

/* A published dimension d agrees with ours when it is variable or equal. */
static int dim_ok(const eem_tensor_info *t, int d, int64_t ours)
{
    return t->ndim <= d || t->dims[d] < 0 || t->dims[d] == ours;
}

static eem_status check_inputs(const eem_model_metadata *md, const char *where,
                               const eem_spec *spec, eem_payload_format format,
                               const eem_sent_input *in, int n, int h, int w, eem_error *err)
{
    char problem[512];
    int keyless = format == EEM_PAYLOAD_ND_ARRAYS;
    int serialized = format == EEM_PAYLOAD_SERIALIZED_TF_TENSORS;
#define MISMATCH() mismatch(where, problem, md, 0, in, n, h, w, keyless, spec, err)
    if (keyless) {
        if (md->n_inputs != 1) {
            snprintf(problem, sizeof problem,
                     "ND_ARRAYS sends one keyless tensor but the model has %d inputs",
                     md->n_inputs);
            return MISMATCH();
        }
        const eem_tensor_info *t = &md->inputs[0];
        int channels = 0;
        for (int i = 0; i < n; i++) {
            channels += in[i].channels;
            if (t->type != EEM_DT_NONE && in[i].type != t->type) {
                snprintf(problem, sizeof problem,
                         "INPUT_TYPE: key \"%s\" is sent as %s but the model input \"%s\" is %s",
                         in[i].key, eem_dtype_name(in[i].type), t->name, t->type_text);
                return MISMATCH();
            }
        }
        if (t->ndim == 4 && (!dim_ok(t, 1, channels) || !dim_ok(t, 2, h) || !dim_ok(t, 3, w))) {
            snprintf(problem, sizeof problem, "the tile shape does not fit model input \"%s\"",
                     t->name);
            return MISMATCH();
        }
        return EEM_OK;
    }
    for (int i = 0; i < n; i++) {
        const eem_tensor_info *t = find_info(md->inputs, md->n_inputs, in[i].key);
        if (!t) {
            snprintf(problem, sizeof problem, "the model has no input named \"%s\" (BANDS / "
                                              "INPUT_ARRAY key)",
                     in[i].key);
            return MISMATCH();
        }
        if (!serialized && t->type != EEM_DT_NONE && t->type != in[i].type) {
            snprintf(problem, sizeof problem,
                     "INPUT_TYPE: key \"%s\" is sent as %s but the model input is %s; set "
                     "INPUT_TYPE=%s:%s",
                     in[i].key, eem_dtype_name(in[i].type), t->type_text, in[i].key,
                     eem_dtype_name(t->type));
            return MISMATCH();
        }
        if (!serialized && t->ndim == 4 &&
            (!dim_ok(t, 1, h) || !dim_ok(t, 2, w) || !dim_ok(t, 3, in[i].channels))) {
            snprintf(problem, sizeof problem, "the tile shape of key \"%s\" does not fit the model",
                     in[i].key);
            return MISMATCH();
        }
    }
    for (int j = 0; j < md->n_inputs; j++) {
        int sent = 0;
        for (int i = 0; i < n; i++)
            sent |= strcmp(in[i].key, md->inputs[j].name) == 0;
        if (!sent) {
            snprintf(problem, sizeof problem, "model input \"%s\" is not sent (no BANDS key "
                                              "of that name)",
                     md->inputs[j].name);
            return MISMATCH();
        }
    }
#undef MISMATCH
    return EEM_OK;
}

/* Channels of a published output (-1 unknown): the last axis, or the second
 * one for channels-first ND_ARRAYS; a rank-3 [N,H,W] output is one channel. */
static int64_t output_channels(const eem_tensor_info *t, int channels_first)
{
    if (t->ndim == 3)
        return 1;
    if (t->ndim != 4)
        return -1;
    return channels_first ? t->dims[1] : t->dims[3];
}

static eem_status check_outputs(const eem_model_metadata *md, const char *where, eem_spec *spec,
                                eem_payload_format format, eem_error *err)
{
    char problem[512];
    if (md->n_outputs == 0)
        return EEM_OK;
    for (int k = 0; k < spec->n_outputs; k++) {
        eem_output *o = &spec->outputs[k];
        const eem_tensor_info *t = find_info(md->outputs, md->n_outputs, o->name);
        if (!t && spec->n_outputs == 1 && md->n_outputs == 1)
            t = &md->outputs[0];
        if (!t) {
            snprintf(problem, sizeof problem, "OUTPUT_BANDS: the model has no output named \"%s\"",
                     o->name);
            return mismatch(where, problem, md, 1, NULL, 0, 0, 0, 0, spec, err);
        }
        if (t->is_string || format == EEM_PAYLOAD_SERIALIZED_TF_TENSORS)
            continue; /* serialized tensors: the shape is inside the string */
        int64_t c = output_channels(t, format == EEM_PAYLOAD_ND_ARRAYS);
        if (c < 0)
            continue;
        if (o->dims == 1 && o->length == 0) {
            o->length = (int)c; /* filled in from the model */
            continue;
        }
        int64_t declared = o->dims == 1 ? o->length : 1;
        if (declared != c) {
            snprintf(problem, sizeof problem,
                     "OUTPUT_BANDS: output \"%s\" is declared with %lld band(s) but the model's "
                     "\"%s\" has %lld channel(s)",
                     o->name, (long long)declared, t->name, (long long)c);
            return mismatch(where, problem, md, 1, NULL, 0, 0, 0, 0, spec, err);
        }
    }
    return EEM_OK;
}

eem_status eem_metadata_check(const eem_model_metadata *md, const char *where, eem_spec *spec,
                              eem_payload_format format, const eem_sent_input *inputs,
                              int n_inputs, int h, int w, eem_error *err)
{
    eem_status st = EEM_OK;
    if (md->n_inputs > 0)
        st = check_inputs(md, where, spec, format, inputs, n_inputs, h, w, err);
    if (st == EEM_OK)
        st = check_outputs(md, where, spec, format, err);
    return st;
}

/* ---------------------------------------------------------------- fetch -- */

/* GET url; *body NULL (and EEM_OK) when the server answers non-2xx. */
static eem_status http_get(const char *url, const char *const *headers, char **body, size_t *len,
                           eem_error *err)
{
    *body = NULL;
    *len = 0;
    eem_http_options opts;
    eem_http_options_from_config(&opts);
    if (opts.max_retry > EEM_METADATA_MAX_RETRY)
        opts.max_retry = EEM_METADATA_MAX_RETRY;
    if (opts.timeout_s > EEM_METADATA_TIMEOUT_S)
        opts.timeout_s = EEM_METADATA_TIMEOUT_S;
    opts.max_connections = 1;
    eem_http_multi *m = NULL;
    eem_status st = eem_http_multi_new(&opts, &m, err);
    if (st != EEM_OK)
        return st;
    eem_http_request req = {.url = url, .get = 1, .headers = headers};
    eem_http_request *done = NULL;
    st = eem_http_multi_add(m, &req, err);
    if (st == EEM_OK)
        st = eem_http_multi_next(m, &done, NULL, NULL, err);
    if (st == EEM_OK && done && req.ok) {
        *body = req.response;
        *len = req.response_len;
        req.response = NULL;
    }
    eem_http_request_clear(&req);
    eem_http_multi_free(m);
    return st;
}

eem_status eem_metadata_check_at_open(eem_spec *spec, const eem_source *src,
                                      const eem_endpoint *ep, const char *const *headers,
                                      int *binary_available, eem_error *err)
{
    *binary_available = 0;
    if (ep->grpc)
        return eem_grpc_metadata_check_at_open(spec, src, ep, headers, err);
    char *body = NULL;
    size_t len = 0;
    eem_model_metadata *md = NULL;
    eem_sent_input *in = NULL;
    eem_status st = EEM_OK;
    if (ep->server_metadata_url) {
        if ((st = http_get(ep->server_metadata_url, headers, &body, &len, err)) != EEM_OK)
            goto done;
        *binary_available =
            body && eem_metadata_server_has_extension(body, len, EEM_KSERVE_BINARY_EXTENSION);
        free(body);
        body = NULL;
    }
    if (!ep->metadata_url)
        goto done;
    if ((st = http_get(ep->metadata_url, headers, &body, &len, err)) != EEM_OK || !body)
        goto done;
    if (ep->protocol == EEM_PROTO_TFSERVING)
        st = eem_metadata_parse_tfserving(body, len, spec->signature_name, &md, err);
    else
        st = eem_metadata_parse_kserve(body, len, &md, err);
    if (st != EEM_OK) {
        eem_error_prefix(err, "model metadata from %s", ep->metadata_url);
        goto done;
    }
    in = calloc((size_t)(src->n_keys > 0 ? src->n_keys : 1), sizeof *in);
    if (!in) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < src->n_keys; i++) {
        in[i].key = src->keys[i].key;
        in[i].type = src->keys[i].send_type;
        in[i].channels = src->keys[i].n_bands;
    }
    char where[512];
    eem_url_for_display(ep->metadata_url, where, sizeof where);
    st = eem_metadata_check(md, where, spec, ep->payload_format, in, src->n_keys,
                            spec->tile_h + 2 * spec->overlap_y, spec->tile_w + 2 * spec->overlap_x,
                            err);
done:
    free(in);
    free(body);
    eem_metadata_free(md);
    return st;
}
