/* metadata.c — fetch model metadata with a GET over the libcurl multi
 * transport (credentials and static headers through the one door of
 * request_headers.h), hand the body to the backend's parser (backend.h), and
 * check the descriptor against it at open (see metadata.h). */
#include "metadata.h"
#include "grpc_metadata.h"

#include "backend.h"
#include "buf.h"
#include "http.h"
#include "notice.h"
#include "payload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EEM_METADATA_SIDE_MAX 700 /* characters of one side of a mismatch message */

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

/* GET url, bounded: EEM_METADATA_MAX_RETRY retries, EEM_METADATA_TIMEOUT_S
 * per attempt, EEM_METADATA_MAX_WAIT_S before a retry.  *req gets the
 * answer (status, body, failure), to be cleared by the caller. */
static eem_status http_fetch(const eem_endpoint *ep, const char *url, const char *const *headers,
                             eem_http_request *req, eem_error *err)
{
    eem_http_options opts;
    eem_http_options_from_config(&opts);
    if (opts.max_retry > EEM_METADATA_MAX_RETRY)
        opts.max_retry = EEM_METADATA_MAX_RETRY;
    if (opts.timeout_s <= 0 || opts.timeout_s > EEM_METADATA_TIMEOUT_S)
        opts.timeout_s = EEM_METADATA_TIMEOUT_S;
    if (opts.connect_timeout_s <= 0 || opts.connect_timeout_s > EEM_METADATA_TIMEOUT_S)
        opts.connect_timeout_s = EEM_METADATA_TIMEOUT_S;
    opts.max_wait_s = EEM_METADATA_MAX_WAIT_S;
    opts.max_connections = 1;
    eem_http_multi *m = NULL;
    eem_status st = eem_http_multi_new(&opts, &m, err);
    if (st != EEM_OK)
        return st;
    memset(req, 0, sizeof *req);
    req->url = url;
    req->get = 1;
    req->secret_headers = headers;
    req->error_message = ep->backend ? ep->backend->error_message : NULL;
    eem_http_request *done = NULL;
    st = eem_http_multi_add(m, req, err);
    if (st == EEM_OK)
        st = eem_http_multi_next(m, &done, NULL, NULL, err);
    eem_http_multi_free(m);
    return st;
}

/* A failed metadata GET: a server that cannot be reached fails the open;
 * any other failure skips the check with a notice saying why. */
static eem_status skip_or_fail(const eem_http_request *req, eem_error *err)
{
    char what[1024];
    eem_http_describe_failure(req, what, sizeof what);
    if (req->unreachable)
        return eem_error_set(err, EEM_ERR_HTTP, "model metadata check at open: %s", what);
    eem_notice("model metadata check skipped: %s; the descriptor is used as "
               "written (EEMODEL_CHECK_METADATA=NO skips the check)",
               what);
    return EEM_OK;
}

/* GET url into *body (NULL when the check is skipped).  The check is skipped
 * silently when the server answers 404 or 405 (it publishes no metadata
 * there); otherwise as skip_or_fail says. */
static eem_status http_get(const eem_endpoint *ep, const char *url, const char *const *headers,
                           char **body, size_t *len, eem_error *err)
{
    *body = NULL;
    *len = 0;
    eem_http_request req;
    eem_status st = http_fetch(ep, url, headers, &req, err);
    if (st == EEM_OK && req.ok) {
        *body = req.response;
        *len = req.response_len;
        req.response = NULL;
    } else if (st == EEM_OK && req.status != 404 && req.status != 405) {
        st = skip_or_fail(&req, err);
    }
    eem_http_request_clear(&req);
    return st;
}

/* Google's model (AI Platform) or endpoint (Vertex AI) resource: the backend
 * reads a 2xx answer (backend.h read_resource).  Anything else skips the
 * check in silence, the slow start of the first read staying the guard: 401
 * and 403 (a role that may predict need not be allowed to read the
 * resource), 404 (a wrong name, but also a dedicated or private endpoint's
 * host that serves only predictions: the read says which), a server that
 * cannot be reached (an open needs no network), 5xx. */
static eem_status check_model_resource(const eem_endpoint *ep, const char *const *headers,
                                       int *confirmed, eem_error *err)
{
    eem_http_request req;
    eem_status st = http_fetch(ep, ep->model_resource_url, headers, &req, err);
    if (st == EEM_OK && req.ok &&
        (st = ep->backend->read_resource(ep, req.response, req.response_len, confirmed, err)) !=
            EEM_OK) {
        char shown[512];
        eem_url_for_display(ep->model_resource_url, shown, sizeof shown);
        eem_error_prefix(err, "GET %s", shown);
    }
    eem_http_request_clear(&req);
    return st;
}

eem_status eem_metadata_check_at_open(eem_spec *spec, const eem_source *src,
                                      const eem_endpoint *ep, const char *const *headers,
                                      int *binary_available, char *server_identity,
                                      size_t identity_size, int *model_confirmed,
                                      eem_error *err)
{
    *binary_available = 0;
    if (identity_size > 0)
        server_identity[0] = '\0';
    *model_confirmed = 0;
    if (ep->grpc)
        return eem_grpc_metadata_check_at_open(spec, src, ep, headers, err);
    char *body = NULL;
    size_t len = 0;
    eem_model_metadata *md = NULL;
    eem_sent_input *in = NULL;
    eem_status st = EEM_OK;
    if (ep->server_metadata_url) {
        if ((st = http_get(ep, ep->server_metadata_url, headers, &body, &len, err)) != EEM_OK)
            goto done;
        *binary_available =
            body && eem_metadata_server_has_extension(body, len, EEM_KSERVE_BINARY_EXTENSION);
        if (body)
            eem_metadata_server_identity(body, len, server_identity, identity_size);
        free(body);
        body = NULL;
    }
    if (ep->model_resource_url && ep->backend && ep->backend->read_resource) {
        st = check_model_resource(ep, headers, model_confirmed, err);
        goto done;
    }
    if (!ep->metadata_url)
        goto done;
    if ((st = http_get(ep, ep->metadata_url, headers, &body, &len, err)) != EEM_OK || !body)
        goto done;
    if (!ep->backend || !ep->backend->parse_metadata)
        goto done;
    st = ep->backend->parse_metadata(body, len, spec, &md, err);
    if (st != EEM_OK) {
        char shown[512];
        eem_url_for_display(ep->metadata_url, shown, sizeof shown);
        eem_error_prefix(err, "model metadata from %s", shown);
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
    /* what the descriptor sends agrees with the model: can the protocol carry it? */
    if (st == EEM_OK && ep->backend->check_metadata &&
        (st = ep->backend->check_metadata(ep, md, err)) != EEM_OK)
        eem_error_prefix(err, "model metadata from %s", where);
    *model_confirmed = st == EEM_OK;
done:
    free(in);
    free(body);
    eem_metadata_free(md);
    return st;
}
