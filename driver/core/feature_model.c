/* feature_model.c — predictions for features (see feature_model.h): instances built
 * from feature properties, encoded by the payload formats, packed into
 * requests up to MAX_PAYLOAD_BYTES / OUTPUT_MULTIPLIER and the backend's
 * instance cap, sent concurrently over one curl multi handle (retries are
 * http.c's), answers decoded into per-feature values; the persistent cache is
 * keyed by each encoded instance.  Instances are built and encoded by
 * feature_instance.c. */
#include "feature_model.h"

#include "backend.h"
#include "feature_model_private.h"

#include "auth.h"
#include "buf.h"
#include "cache.h"
#include "config_values.h"
#include "cost_guard.h"
#include "endpoint.h"
#include "http.h"
#include "payload.h"
#include "str.h"
#include "tensor.h"

#include <cpl_conv.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Requests queued or in flight per connection before encoding waits. */
#define EEM_FEATURE_REQUESTS_AHEAD_PER_CONNECTION 2



/* ------------------------------------------------------------------ open -- */

static eem_status split_input_properties(eem_feature_model *m, eem_error *err)
{
    const char *s = m->spec->input_properties;
    int cap = 1;
    for (const char *c = s; *c; c++)
        cap += *c == ',';
    m->inputs = calloc((size_t)cap, sizeof *m->inputs);
    if (!m->inputs)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    while (*s) {
        while (*s == ',' || isspace((unsigned char)*s))
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > s && isspace((unsigned char)t[-1]))
            t--;
        if (t > s) {
            char *name = malloc((size_t)(t - s) + 1);
            if (!name)
                return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
            memcpy(name, s, (size_t)(t - s));
            name[t - s] = '\0';
            for (int k = 0; k < m->n_inputs; k++)
                if (strcmp(m->inputs[k], name) == 0) {
                    eem_status st = eem_error_set(err, EEM_ERR_INVALID,
                                                  "INPUT_PROPERTIES: \"%s\" is listed twice", name);
                    free(name);
                    return st;
                }
            m->inputs[m->n_inputs++] = name;
        }
        s = e;
    }
    if (m->n_inputs == 0)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "INPUT_PROPERTIES: \"%s\" names no property; expected field names, "
                             "comma-separated",
                             m->spec->input_properties);
    return EEM_OK;
}

/* Element type of each input: INPUT_TYPE for the key, else INPUT_TYPE for
 * every key, else float32; each one the payload format can carry. */
static eem_status setup_input_types(eem_feature_model *m, eem_error *err)
{
    const eem_spec *s = m->spec;
    m->input_types = calloc((size_t)m->n_inputs, sizeof *m->input_types);
    m->list_length = calloc((size_t)m->n_inputs, sizeof *m->list_length);
    m->is_string = calloc((size_t)m->n_inputs, sizeof *m->is_string);
    if (!m->input_types || !m->list_length || !m->is_string)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->n_input_types; i++) {
        const char *key = s->input_types[i].key;
        int known = !key;
        for (int k = 0; key && k < m->n_inputs; k++)
            known |= strcmp(key, m->inputs[k]) == 0;
        if (!known)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "INPUT_TYPE: \"%s\" is not one of INPUT_PROPERTIES (%s)", key,
                                 s->input_properties);
    }
    for (int k = 0; k < m->n_inputs; k++) {
        eem_dtype t = EEM_DT_FLOAT32;
        for (int i = 0; i < s->n_input_types; i++)
            if (!s->input_types[i].key)
                t = s->input_types[i].type;
        for (int i = 0; i < s->n_input_types; i++)
            if (s->input_types[i].key && strcmp(s->input_types[i].key, m->inputs[k]) == 0)
                t = s->input_types[i].type;
        if (m->ops->format == EEM_PAYLOAD_ND_ARRAYS && k > 0 && t != m->input_types[0])
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "INPUT_TYPE: ND_ARRAYS sends one list per feature, so every "
                                 "property has one type; \"%s\" is %s, \"%s\" is %s",
                                 m->inputs[0], eem_dtype_name(m->input_types[0]), m->inputs[k],
                                 eem_dtype_name(t));
        m->input_types[k] = t;
        eem_status st = eem_payload_check_input_type(m->ops, &m->payload, m->inputs[k], t, err);
        if (st != EEM_OK)
            return st;
        int64_t dims[EEM_SPEC_SHAPE_MAX];
        if (eem_spec_input_shape(s, m->inputs[k], dims) == 1)
            m->list_length[k] = (int)dims[0];
    }
    return EEM_OK;
}

static eem_status setup_outputs(eem_feature_model *m, eem_error *err)
{
    const eem_spec *s = m->spec;
    m->value_offset = calloc((size_t)s->n_outputs + 1, sizeof *m->value_offset);
    if (!m->value_offset)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int k = 0; k < s->n_outputs; k++) {
        const eem_output *o = &s->outputs[k];
        if (o->dims == 1 && o->length <= 0)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "OUTPUT_PROPERTIES: output \"%s\" has dimensions 1 but no length; "
                                 "write it as %s:%s:N or %s:%s:name1/name2/...",
                                 o->name, o->name, eem_dtype_name(o->type), o->name,
                                 eem_dtype_name(o->type));
        m->value_offset[k] = m->n_values;
        m->n_values += o->dims == 1 ? o->length : 1;
    }
    m->value_offset[s->n_outputs] = m->n_values;
    return EEM_OK;
}

static eem_status setup_cache(eem_feature_model *m, eem_error *err)
{
    eem_status st = eem_cache_open_configured(m->spec->cache_dir, &m->cache, err);
    if (st != EEM_OK || !m->cache)
        return st;
    eem_buf ctx = {0};
    eem_buf_printf(&ctx, "eemodel-features-1|%s|outputs=", m->ep->identity);
    for (int k = 0; k < m->spec->n_outputs; k++) {
        const eem_output *o = &m->spec->outputs[k];
        eem_buf_printf(&ctx, "%s:%s:%d,", o->name, eem_dtype_name(o->type),
                       o->dims == 1 ? o->length : 0);
    }
    if (m->headers.digest[0]) /* a gateway may pick the model by header */
        eem_buf_printf(&ctx, "|headers=%s", m->headers.digest);
    m->cache_context = eem_buf_take(&ctx);
    return m->cache_context ? EEM_OK : eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
}

eem_status eem_feature_model_open(const eem_spec *spec, eem_feature_model **out, eem_error *err)
{
    *out = NULL;
    if (!spec->vector)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "a feature model needs OUTPUT_PROPERTIES (EE outputProperties)");
    eem_feature_model *m = calloc(1, sizeof *m);
    if (!m)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_status st = eem_spec_clone(spec, &m->spec, err);
    if (st == EEM_OK)
        st = eem_endpoint_resolve(m->spec, &m->ep, err);
    if (st == EEM_OK) {
        m->ops = eem_payload_ops_for(m->ep->payload_format);
        if (!m->ops)
            st = eem_error_set(err, EEM_ERR_INVALID, "PAYLOAD_FORMAT: \"%s\" is not supported",
                               eem_payload_format_name(m->ep->payload_format));
        m->payload.spec = m->spec;
        m->payload.protocol = m->ep->protocol;
        m->payload.columnar = m->spec->columnar;
        m->payload.signature_name = m->spec->signature_name;
        /* binary OIP bodies only when asked: features are small */
        m->payload.binary = m->ep->payload_format == EEM_PAYLOAD_OIP_V2 &&
                            eem_config_choice(EEM_CHOICE_OIP_BINARY) == EEM_CHOICE_YES;
    }
    if (st == EEM_OK)
        st = split_input_properties(m, err);
    if (st == EEM_OK)
        st = setup_input_types(m, err);
    if (st == EEM_OK)
        st = setup_outputs(m, err);
    if (st == EEM_OK)
        st = eem_static_headers_load(m->spec->headers, &m->headers, err);
    if (st == EEM_OK)
        st = eem_config_values_check(err);
    if (st == EEM_OK)
        st = eem_cost_guard_check_config(m->spec, err);
    if (st == EEM_OK) {
        char *header = NULL; /* fail at open, not at the first read, without credentials */
        st = eem_auth_header_for(m->ep, &header, err);
        eem_secret_free(header);
    }
    if (st == EEM_OK)
        st = setup_cache(m, err);
    if (st != EEM_OK) {
        eem_feature_model_close(m);
        return st;
    }
    m->max_predictions = eem_cost_max_predictions(m->spec);
    *out = m;
    return EEM_OK;
}

void eem_feature_model_close(eem_feature_model *m)
{
    if (!m)
        return;
    for (int k = 0; m->inputs && k < m->n_inputs; k++)
        free(m->inputs[k]);
    free(m->inputs);
    free(m->input_types);
    free(m->list_length);
    free(m->is_string);
    free(m->value_offset);
    eem_cache_close(m->cache);
    free(m->cache_context);
    eem_static_headers_free(&m->headers);
    eem_endpoint_free(m->ep);
    eem_spec_free(m->spec);
    free(m);
}

const eem_spec *eem_feature_model_spec(const eem_feature_model *m) { return m->spec; }
int eem_feature_model_input_count(const eem_feature_model *m) { return m->n_inputs; }
const char *eem_feature_model_input_name(const eem_feature_model *m, int k) { return m->inputs[k]; }
int eem_feature_model_value_count(const eem_feature_model *m) { return m->n_values; }
long eem_feature_model_max_predictions(const eem_feature_model *m) { return m->max_predictions; }

eem_status eem_feature_model_set_string_input(eem_feature_model *m, int k, eem_error *err)
{
    eem_payload_format f = m->ops->format;
    if (f != EEM_PAYLOAD_SERIALIZED_TF_TENSORS && f != EEM_PAYLOAD_RAW_JSON)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "INPUT_PROPERTIES: \"%s\" is a string field; %s carries numbers "
                             "only: use PAYLOAD_FORMAT=SERIALIZED_TF_TENSORS or RAW_JSON, or send "
                             "a string holding numbers with INPUT_TYPE=%s:float32",
                             m->inputs[k], m->ops->name, m->inputs[k]);
    if (!m->is_string[k]) {
        m->is_string[k] = 1;
        m->n_strings++;
    }
    return EEM_OK;
}
void eem_feature_model_get_stats(const eem_feature_model *m, eem_feature_stats *st) { *st = m->stats; }
const char *eem_feature_model_last_failure(const eem_feature_model *m) { return m->last_failure; }

/* --------------------------------------------------------------- predict -- */

typedef struct feature_request {
    eem_http_request http;
    eem_buf body;
    eem_payload_batch *batch;
    const char **headers; /* shared lines + the body's own (binary OIP) */
    char body_headers[2][96];
    int *features;            /* indices into the call's arrays */
    eem_cache_key *keys;
    int *has_key;
    int n, cap;
    int auth_generation; /* the credentials it was sent with (predict_call.auth) */
    int auth_retried;    /* already sent again once after HTTP 401 */
} feature_request;

typedef struct predict_call {
    eem_feature_model *m;
    int n;
    const long long *fids;
    double *outputs;
    eem_feature_result *results;
    eem_http_multi *multi;
    eem_auth_session auth; /* credentials, then the static HEADERS lines (auth.h) */
    feature_request *building;
    feature_request **flying;
    int in_flight, max_ahead;
    long max_payload;
    size_t max_elements;
    eem_cache_key next_key;
    int next_has_key;
} predict_call;

static void request_free(feature_request *r)
{
    if (!r)
        return;
    eem_http_request_clear(&r->http);
    eem_buf_free(&r->body);
    eem_payload_batch_free(r->batch);
    free(r->headers);
    free(r->features);
    free(r->keys);
    free(r->has_key);
    free(r);
}

static void null_outputs(predict_call *c, int f)
{
    for (int j = 0; j < c->m->n_values; j++)
        c->outputs[(size_t)f * c->m->n_values + j] = NAN;
}

/* Store one decoded output of feature f: any shape holding exactly the
 * declared number of values ([], [1], [n], [1,n], ...). */
static eem_status store_output(predict_call *c, int f, int k, const eem_tensor *t, eem_error *err)
{
    const eem_feature_model *m = c->m;
    const eem_output *o = &m->spec->outputs[k];
    size_t want = (size_t)(m->value_offset[k + 1] - m->value_offset[k]);
    size_t got = eem_tensor_count(t);
    if (got != want)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "output \"%s\" of feature %lld: the model answered %zu value(s); "
                             "OUTPUT_PROPERTIES declares %zu",
                             o->name, c->fids[f], got, want);
    double *dst = c->outputs + (size_t)f * m->n_values + m->value_offset[k];
    for (size_t i = 0; i < want; i++)
        dst[i] = eem_dtype_get(t->data, t->type, i);
    return EEM_OK;
}

static eem_status use_answer(predict_call *c, feature_request *r, eem_error *err)
{
    eem_feature_model *m = c->m;
    if (!r->http.ok) {
        char what[1024];
        eem_http_describe_failure(&r->http, what, sizeof what);
        return eem_error_set(err, EEM_ERR_HTTP,
                             "prediction request for %d feature(s) failed: %s", r->n, what);
    }
    int no = m->spec->n_outputs;
    eem_tensor **outs = calloc((size_t)r->n * (size_t)no, sizeof *outs);
    if (!outs)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_status st = m->ops->decode_response(&m->payload, r->http.response, r->http.response_len,
                                            r->n, c->max_elements, outs, err);
    if (st != EEM_OK)
        eem_error_prefix(err, "answer from %s", m->ep->display_url);
    for (int i = 0; st == EEM_OK && i < r->n; i++)
        for (int k = 0; st == EEM_OK && k < no; k++)
            st = store_output(c, r->features[i], k, outs[(size_t)i * no + k], err);
    for (size_t k = 0; k < (size_t)r->n * (size_t)no; k++)
        eem_tensor_free(outs[k]);
    free(outs);
    if (st != EEM_OK)
        return st;
    for (int i = 0; i < r->n; i++) {
        int f = r->features[i];
        c->results[f] = EEM_FEATURE_PREDICTED;
        m->stats.features_predicted++;
        if (m->cache && r->has_key[i]) {
            eem_error ignored = {0};
            const void *part = c->outputs + (size_t)f * m->n_values;
            size_t size = (size_t)m->n_values * sizeof(double);
            (void)eem_cache_put(m->cache, &r->keys[i], &part, &size, 1, &ignored);
        }
    }
    return EEM_OK;
}

/* Use an answer; with ON_ERROR=NODATA a failed request gives null outputs. */
static eem_status finish_request(predict_call *c, feature_request *r, eem_error *err)
{
    eem_feature_model *m = c->m;
    m->stats.requests++;
    eem_status st = use_answer(c, r, err);
    if (st == EEM_OK || m->spec->on_error != EEM_ON_ERROR_NODATA || st == EEM_ERR_NOMEM)
        return st;
    snprintf(m->last_failure, sizeof m->last_failure, "%s", err->msg);
    eem_error_clear(err);
    for (int i = 0; i < r->n; i++) {
        int f = r->features[i];
        null_outputs(c, f);
        c->results[f] = EEM_FEATURE_FAILED;
        m->stats.features_failed++;
    }
    return EEM_OK;
}

/* HTTP 401: the auth session decides (auth.h, as on the raster side); a
 * request it resends goes again with the current header lines. */
static eem_status drain_one(predict_call *c, int (*cancel)(void *), void *cancel_user,
                            eem_error *err)
{
    eem_http_request *done = NULL;
    eem_status st = eem_http_multi_next(c->multi, &done, cancel, cancel_user, err);
    if (st != EEM_OK || !done)
        return st;
    feature_request *r = done->user;
    int resent = 0;
    if ((st = eem_auth_session_resend_refused(&c->auth, c->multi, &r->http, &r->auth_generation,
                                              &r->auth_retried, &resent, err)) != EEM_OK ||
        resent)
        return st; /* a resent request stays in flight, listed in c->flying */
    for (int k = 0; k < c->in_flight; k++)
        if (c->flying[k] == r) {
            c->flying[k] = c->flying[--c->in_flight];
            break;
        }
    st = finish_request(c, r, err);
    request_free(r);
    return st;
}

static eem_status submit(predict_call *c, eem_error *err)
{
    feature_request *r = c->building;
    if (!r)
        return EEM_OK;
    c->building = NULL;
    size_t binary_header_len = 0;
    eem_status st = eem_payload_batch_build(r->batch, &r->body, &binary_header_len, err);
    eem_payload_batch_free(r->batch);
    r->batch = NULL;
    size_t n = 0; /* the body's own protocol lines; credentials go as secret_headers */
    if (st == EEM_OK && !(r->headers = calloc(3, sizeof *r->headers)))
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    if (st != EEM_OK) {
        request_free(r);
        return st;
    }
    if (binary_header_len > 0) {
        snprintf(r->body_headers[0], sizeof r->body_headers[0], "Content-Type: %s",
                 eem_payload_content_type(c->m->ops, &c->m->payload));
        snprintf(r->body_headers[1], sizeof r->body_headers[1],
                 "Inference-Header-Content-Length: %zu", binary_header_len);
        r->headers[n] = r->body_headers[0];
        r->headers[n + 1] = r->body_headers[1];
    }
    r->http.url = c->m->ep->predict_url;
    r->http.body = r->body.data;
    r->http.body_len = r->body.len;
    r->http.headers = r->headers;
    r->http.secret_headers = c->auth.headers;
    r->auth_generation = c->auth.generation;
    r->http.error_message = c->m->ep->backend ? c->m->ep->backend->error_message : NULL;
    r->http.user = r;
    if ((st = eem_http_multi_add(c->multi, &r->http, err)) != EEM_OK) {
        request_free(r);
        return st;
    }
    c->m->stats.bytes_sent += (long long)r->body.len;
    c->flying[c->in_flight++] = r;
    return EEM_OK;
}

static eem_status add_instance(predict_call *c, int f, const eem_instance *inst,
                               const eem_payload_fragment *frag, int (*cancel)(void *),
                               void *cancel_user, eem_error *err)
{
    eem_status st = EEM_OK;
    feature_request *r = c->building;
    int cap_instances = c->m->ep->max_instances;
    if (r && (eem_payload_batch_size_with(r->batch, inst, frag) > (size_t)c->max_payload ||
              (cap_instances > 0 && r->n >= cap_instances))) {
        st = submit(c, err);
        r = NULL;
        while (st == EEM_OK && c->in_flight >= c->max_ahead)
            st = drain_one(c, cancel, cancel_user, err);
        if (st != EEM_OK)
            return st;
    }
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        c->building = r;
        if (!(r->batch = eem_payload_batch_new(c->m->ops, &c->m->payload)))
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        size_t single = eem_payload_batch_size_with(r->batch, inst, frag);
        if (single > (size_t)c->max_payload)
            return eem_error_set(err, EEM_ERR_LIMIT,
                                 "MAX_PAYLOAD_BYTES: feature %lld alone encodes to a %zu-byte %s "
                                 "body, more than the limit of %ld%s; raise MAX_PAYLOAD_BYTES",
                                 c->fids[f], single, c->m->ops->name, c->max_payload,
                                 c->m->spec->output_multiplier > 1 ? " (divided by OUTPUT_MULTIPLIER)"
                                                                   : "");
    }
    if ((st = eem_payload_batch_add(r->batch, inst, frag, err)) != EEM_OK)
        return st;
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        int *nf = realloc(r->features, (size_t)cap * sizeof *nf);
        if (nf)
            r->features = nf;
        eem_cache_key *nk = nf ? realloc(r->keys, (size_t)cap * sizeof *nk) : NULL;
        if (nk)
            r->keys = nk;
        int *nh = nk ? realloc(r->has_key, (size_t)cap * sizeof *nh) : NULL;
        if (!nh)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        r->has_key = nh;
        r->cap = cap;
    }
    r->features[r->n] = f;
    r->keys[r->n] = c->next_key;
    r->has_key[r->n] = c->next_has_key;
    r->n++;
    return EEM_OK;
}

static eem_status cache_lookup(predict_call *c, int f, const eem_payload_fragment *frag, int *hit,
                               eem_error *err)
{
    eem_feature_model *m = c->m;
    *hit = 0;
    c->next_has_key = 0;
    if (!m->cache)
        return EEM_OK;
    eem_status st = eem_cache_key_compute(m->cache_context, frag->data.data, frag->data.len,
                                          &c->next_key, err);
    if (st != EEM_OK)
        return st;
    c->next_has_key = 1;
    void *part = c->outputs + (size_t)f * m->n_values;
    size_t size = (size_t)m->n_values * sizeof(double);
    if (eem_cache_get(m->cache, &c->next_key, &part, &size, 1)) {
        *hit = 1;
        c->results[f] = EEM_FEATURE_PREDICTED;
        m->stats.features_from_cache++;
    }
    return EEM_OK;
}

/* Null or missing inputs: NULL_INPUT decides. */
static eem_status null_input(predict_call *c, int f, const eem_feature_value *in, int *is_null,
                             eem_error *err)
{
    eem_feature_model *m = c->m;
    *is_null = 0;
    for (int k = 0; k < m->n_inputs; k++) {
        if (!in[k].is_null)
            continue;
        *is_null = 1;
        if (m->spec->null_input == EEM_NULL_INPUT_ERROR)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "feature %lld: property \"%s\" is null (NULL_INPUT=ERROR; NULL "
                                 "gives it null predictions, SKIP leaves it out)",
                                 c->fids[f], m->inputs[k]);
        null_outputs(c, f);
        c->results[f] =
            m->spec->null_input == EEM_NULL_INPUT_SKIP ? EEM_FEATURE_SKIPPED : EEM_FEATURE_NULL_INPUT;
        m->stats.features_null++;
        return EEM_OK;
    }
    return EEM_OK;
}

static void call_free(predict_call *c)
{
    eem_http_multi_free(c->multi);
    for (int k = 0; k < c->in_flight; k++)
        request_free(c->flying[k]);
    free(c->flying);
    request_free(c->building);
    eem_auth_session_end(&c->auth);
}

static eem_status call_init(predict_call *c, eem_feature_model *m, eem_error *err)
{
    /* checked at open; again here, for a value set since (thread-local options) */
    eem_status checked = eem_config_values_check(err);
    if (checked != EEM_OK)
        return checked;
    eem_http_options opts;
    eem_http_options_from_config(&opts);
    c->max_ahead = opts.max_connections * EEM_FEATURE_REQUESTS_AHEAD_PER_CONNECTION;
    if (c->max_ahead < 1)
        c->max_ahead = 1;
    c->max_payload = m->ep->max_payload_bytes > 0 ? m->ep->max_payload_bytes
                                                  : EEM_DEFAULT_MAX_PAYLOAD_BYTES;
    if (m->spec->output_multiplier > 1)
        c->max_payload = (long)((double)c->max_payload / m->spec->output_multiplier);
    int maxlen = 1;
    for (int k = 0; k < m->spec->n_outputs; k++)
        if (m->spec->outputs[k].dims == 1 && m->spec->outputs[k].length > maxlen)
            maxlen = m->spec->outputs[k].length;
    c->max_elements = (size_t)maxlen;
    if (!(c->flying = calloc((size_t)c->max_ahead + 1, sizeof *c->flying)))
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_status st = eem_auth_session_begin(&c->auth, m->ep, m->headers.lines, m->headers.n, err);
    if (st != EEM_OK)
        return st;
    eem_request_lines wire = {m->ep->predict_url, NULL, c->auth.headers, 0, NULL};
    if ((st = eem_request_check_transport(&wire, err)) != EEM_OK) /* the door, before any work */
        return st;
    return eem_http_multi_new(&opts, &c->multi, err);
}

eem_status eem_feature_model_predict(eem_feature_model *m, int n, const long long *fids,
                                     const eem_feature_value *inputs, double *outputs,
                                     eem_feature_result *results, int (*cancel)(void *),
                                     void *cancel_user, eem_error *err)
{
    predict_call c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.n = n;
    c.fids = fids;
    c.outputs = outputs;
    c.results = results;
    eem_status st = call_init(&c, m, err);
    int n_keys = m->ops->format == EEM_PAYLOAD_ND_ARRAYS ? 1 : m->n_inputs;
    eem_tensor **tensors = calloc((size_t)m->n_inputs, sizeof *tensors);
    const char *nd_key[1] = {"instance"};
    eem_payload_fragment frag = {0};
    if (st == EEM_OK && !tensors)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int f = 0; st == EEM_OK && f < n; f++) {
        const eem_feature_value *in = inputs + (size_t)f * m->n_inputs;
        int is_null = 0, hit = 0, n_tensors = 0;
        if ((st = null_input(&c, f, in, &is_null, err)) != EEM_OK || is_null)
            continue;
        st = eem_feature_instance_tensors(m, fids[f], in, tensors, &n_tensors, err);
        eem_instance inst = {n_keys, m->ops->format == EEM_PAYLOAD_ND_ARRAYS
                                         ? nd_key
                                         : (const char *const *)m->inputs,
                             (const eem_tensor *const *)tensors};
        if (st == EEM_OK)
            st = eem_feature_instance_encode(m, &inst, in, &frag, err);
        if (st == EEM_OK)
            st = cache_lookup(&c, f, &frag, &hit, err);
        if (st == EEM_OK && !hit)
            st = add_instance(&c, f, &inst, &frag, cancel, cancel_user, err);
        for (int k = 0; k < n_tensors; k++) {
            eem_tensor_free(tensors[k]);
            tensors[k] = NULL;
        }
        if (st == EEM_OK && cancel && cancel(cancel_user))
            st = eem_error_set(err, EEM_ERR_CANCELLED, "interrupted by the caller");
    }
    if (st == EEM_OK)
        st = submit(&c, err);
    while (st == EEM_OK && c.in_flight > 0)
        st = drain_one(&c, cancel, cancel_user, err);
    eem_payload_fragment_free(&frag);
    free(tensors);
    call_free(&c);
    return st;
}
