/* backend_google.c — the Google backends: AI Platform (ml.googleapis.com,
 * PROJECT/MODEL[/VERSION]) and Vertex AI (aiplatform.googleapis.com,
 * ENDPOINT, :predict or :rawPredict).
 *
 * Owns: their URL layouts and construction (regional roots, API_ROOT), the
 * 100-instance cap of online prediction, which payload formats and options
 * each carries (the {"instances": [...]} envelope; Vertex :rawPredict
 * forwards the body as is), and Google's error body
 * {"error": {"code", "message", "status"}}.  Neither publishes tensor
 * metadata; both publish the resource a predict URL names (the model or
 * version, the endpoint), which says at open whether the model is there and
 * serving (read_resource: metadata.c fetches it). */
#define _POSIX_C_SOURCE 200809L

#include "backend.h"

#include "endpoint.h"
#include "model_metadata.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define EEM_GLOBAL_REGION "global"

static int has_text(const char *s)
{
    return s && *s;
}

/* root of the Google service: api_root without trailing '/' or the default. */
static int append_root(eem_buf *b, const char *api_root, const char *fmt, const char *where,
                       const char *global_root)
{
    if (has_text(api_root)) {
        size_t n = strlen(api_root);
        while (n > 0 && api_root[n - 1] == '/')
            n--;
        return eem_buf_append(b, api_root, n);
    }
    if (global_root && strcasecmp(where, EEM_GLOBAL_REGION) == 0)
        return eem_buf_puts(b, global_root);
    return eem_buf_printf(b, fmt, where);
}

/* A path component given by the user must not smuggle in '/', '?', '#' or
 * spaces that would change which resource is called. */
static eem_status check_component(const char *key, const char *value, eem_error *err)
{
    if (!has_text(value))
        return eem_error_set(err, EEM_ERR_INVALID, "%s: empty value", key);
    for (const char *p = value; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == '/' || c == '?' || c == '#' || c == ':' || c == 0x7f)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "%s: \"%s\" contains '%c'; expected a plain resource id "
                                 "(letters, digits, '-', '_', '.')",
                                 key, value, c > ' ' && c != 0x7f ? (char)c : '?');
    }
    return EEM_OK;
}

static eem_status build_aiplatform_url(const eem_spec *spec, eem_buf *b, eem_error *err)
{
    eem_status st;
    if ((st = check_component("PROJECT", spec->project, err)) ||
        (st = check_component("MODEL", spec->model, err)))
        return st;
    if (spec->version && (st = check_component("VERSION", spec->version, err)))
        return st;
    const char *region = has_text(spec->region) ? spec->region : EEM_DEFAULT_REGION;
    if (!has_text(spec->api_root) && (st = check_component("REGION", region, err)))
        return st;
    append_root(b, spec->api_root, EEM_AIPLATFORM_ROOT_FMT, region, EEM_AIPLATFORM_GLOBAL_ROOT);
    eem_buf_printf(b, "/v1/projects/%s/models/%s", spec->project, spec->model);
    if (has_text(spec->version))
        eem_buf_printf(b, "/versions/%s", spec->version);
    eem_buf_puts(b, ":predict");
    return EEM_OK;
}

static eem_status build_vertex_url(const eem_spec *spec, eem_buf *b, eem_error *err)
{
    /* projects/P/locations/L/endpoints/E, nothing more, nothing empty */
    const char *e = spec->endpoint;
    char parts[6][256];
    int n = 0;
    const char *p = e;
    while (n < 6) {
        size_t len = strcspn(p, "/");
        if (len == 0 || len >= sizeof parts[0])
            break;
        memcpy(parts[n], p, len);
        parts[n][len] = '\0';
        n++;
        p += len;
        if (*p != '/')
            break;
        p++;
    }
    if (n != 6 || *p || strcmp(parts[0], "projects") || strcmp(parts[2], "locations") ||
        strcmp(parts[4], "endpoints"))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "ENDPOINT: \"%s\" is not of the form "
                             "projects/PROJECT/locations/LOCATION/endpoints/ENDPOINT_ID",
                             e);
    eem_status st;
    if ((st = check_component("ENDPOINT project", parts[1], err)) ||
        (st = check_component("ENDPOINT location", parts[3], err)) ||
        (st = check_component("ENDPOINT id", parts[5], err)))
        return st;
    append_root(b, spec->api_root, EEM_VERTEX_ROOT_FMT, parts[3], NULL);
    /* :predict only carries {"instances": [...]}; anything else goes raw */
    int raw = spec->payload_format == EEM_PAYLOAD_OIP_V2 || spec->columnar;
    eem_buf_printf(b, "/v1/%s:%s", e, raw ? "rawPredict" : "predict");
    return EEM_OK;
}


/* .../v1/projects/P/models/M... (AI Platform) */
static int aiplatform_recognises(const eem_path_segments *ps)
{
    for (int i = 0; i + 1 < ps->n; i++)
        if (eem_path_segment_is(ps, i, "v1") && eem_path_segment_is(ps, i + 1, "projects") &&
            eem_path_segment_is(ps, i + 3, "models") && i + 4 < ps->n)
            return i;
    return -1;
}

/* .../v1/projects/P/locations/L/endpoints/E... (Vertex AI) */
static int vertex_recognises(const eem_path_segments *ps)
{
    for (int i = 0; i + 1 < ps->n; i++)
        if (eem_path_segment_is(ps, i, "v1") && eem_path_segment_is(ps, i + 1, "projects") &&
            eem_path_segment_is(ps, i + 3, "locations") &&
            eem_path_segment_is(ps, i + 5, "endpoints") && i + 6 < ps->n)
            return i;
    return -1;
}

static int google_error_message(const char *body, size_t len, char *buf, size_t buflen)
{
    return eem_backend_json_error(body, len, 1, 1, buf, buflen);
}

/* The resource a predict URL names: the URL without its ":verb". */
static eem_status set_resource_url(eem_endpoint *ep, const char *verb, eem_error *err)
{
    if (!eem_url_path_ends_with(ep->predict_url, verb))
        return EEM_OK; /* another layout (a gateway's): nothing to read */
    ep->model_resource_url = eem_url_with_path_end(ep->predict_url, strlen(verb), "");
    return ep->model_resource_url ? EEM_OK : eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
}

static eem_status aiplatform_finish(eem_endpoint *ep, eem_error *err)
{
    return set_resource_url(ep, ":predict", err);
}

static eem_status vertex_finish(eem_endpoint *ep, eem_error *err)
{
    ep->raw_predict = eem_url_path_ends_with(ep->predict_url, ":rawPredict");
    return set_resource_url(ep, ep->raw_predict ? ":rawPredict" : ":predict", err);
}

static const char *member_text(json_object *o, const char *key)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

/* The JSON object of a resource body (depth-bounded, as model metadata):
 * NULL unless it is an object with a "name", as every Google resource has. */
static json_object *parse_resource(const char *body, size_t len)
{
    json_object *root = NULL;
    eem_error ignored = {0};
    if (!body || eem_metadata_parse_root(body, len, "resource", &root, &ignored) != EEM_OK)
        return NULL;
    if (!member_text(root, "name")) {
        json_object_put(root);
        return NULL;
    }
    return root;
}

/* States of an AI Platform version that cannot answer predictions. */
static int state_cannot_serve(const char *state)
{
    return strcmp(state, "CREATING") == 0 || strcmp(state, "FAILED") == 0 ||
           strcmp(state, "DELETING") == 0;
}

/* AI Platform: the model's default version, or the version named, READY
 * confirms the model; CREATING, FAILED or DELETING fails the open. */
static eem_status aiplatform_read_resource(const eem_endpoint *ep, const char *body, size_t len,
                                           int *confirmed, eem_error *err)
{
    const int version = strstr(ep->model_resource_url, "/versions/") != NULL;
    json_object *root = parse_resource(body, len), *dv = NULL;
    if (!root)
        return EEM_OK; /* not a resource we know: says nothing */
    json_object *v = version ? root
                     : json_object_object_get_ex(root, "defaultVersion", &dv) ? dv
                                                                              : NULL;
    const char *state = member_text(v, "state");
    eem_status st = EEM_OK;
    if (state && state_cannot_serve(state))
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "%s is %.40s: it cannot answer predictions (nothing was sent to %s; "
                           "EEMODEL_CHECK_METADATA=NO skips this check)",
                           version ? "the model version" : "the default version of the model",
                           state, ep->display_url);
    else if (state && strcmp(state, "READY") == 0)
        *confirmed = 1;
    json_object_put(root);
    return st;
}

/* Vertex AI: the endpoint must have a model deployed on it. */
static eem_status vertex_read_resource(const eem_endpoint *ep, const char *body, size_t len,
                                       int *confirmed, eem_error *err)
{
    json_object *root = parse_resource(body, len), *deployed = NULL;
    if (!root)
        return EEM_OK; /* not a resource we know: says nothing */
    eem_status st = EEM_OK;
    if (!json_object_object_get_ex(root, "deployedModels", &deployed) ||
        !json_object_is_type(deployed, json_type_array) ||
        json_object_array_length(deployed) == 0)
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "the endpoint has no model deployed: deploy one (Vertex AI: "
                           "Deploy to endpoint) before predicting (nothing was sent to %s; "
                           "EEMODEL_CHECK_METADATA=NO skips this check)",
                           ep->display_url);
    else
        *confirmed = 1;
    json_object_put(root);
    return st;
}

static eem_status no_oip(const eem_endpoint *ep, eem_error *err)
{
    return eem_error_set(err, EEM_ERR_INVALID,
                         "PAYLOAD_FORMAT: \"OIP_V2\" needs a KServe v2 server "
                         "(.../v2/models/M/infer) or Vertex :rawPredict; %s speaks %s, "
                         "accepted: SERIALIZED_TF_TENSORS, RAW_JSON, ND_ARRAYS",
                         ep->display_url, eem_protocol_name(ep->protocol));
}

static eem_status no_columnar(const eem_endpoint *ep, eem_error *err)
{
    return eem_error_set(err, EEM_ERR_INVALID,
                         "REQUEST_LAYOUT: \"COLUMNAR\" (TF Serving \"inputs\") cannot be "
                         "sent to %s (%s%s); accepted there: ROW",
                         ep->display_url,
                         ep->payload_format == EEM_PAYLOAD_OIP_V2 ? "OIP_V2 is already columnar, " : "",
                         eem_protocol_name(ep->protocol));
}

static eem_status aiplatform_check_payload(const eem_spec *spec, const eem_endpoint *ep,
                                           eem_error *err)
{
    if (ep->payload_format == EEM_PAYLOAD_OIP_V2)
        return no_oip(ep, err);
    if (spec->columnar) /* the {"instances": [...]} envelope */
        return no_columnar(ep, err);
    return EEM_OK;
}

static eem_status vertex_check_payload(const eem_spec *spec, const eem_endpoint *ep,
                                       eem_error *err)
{
    int oip = ep->payload_format == EEM_PAYLOAD_OIP_V2;
    if (oip && !ep->raw_predict)
        return no_oip(ep, err);
    if (spec->columnar && (!ep->raw_predict || oip))
        return no_columnar(ep, err);
    if (spec->signature_name && (oip || !ep->raw_predict))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "SIGNATURE_NAME: \"%s\" cannot be sent to %s (%s %s has no "
                             "signature_name); use a TF Serving URL, AI Platform, or Vertex "
                             ":rawPredict",
                             spec->signature_name, ep->display_url, eem_protocol_name(ep->protocol),
                             oip ? "OIP_V2" : ":predict");
    return EEM_OK;
}

const eem_backend_ops eem_backend_aiplatform = {
    .protocol = EEM_PROTO_AIPLATFORM,
    .google = 1,
    .default_format = EEM_PAYLOAD_SERIALIZED_TF_TENSORS,
    .max_instances = EEM_GOOGLE_MAX_INSTANCES,
    .recognises = aiplatform_recognises,
    .build_url = build_aiplatform_url,
    .finish = aiplatform_finish,
    .check_payload = aiplatform_check_payload,
    .read_resource = aiplatform_read_resource,
    .error_message = google_error_message,
};

const eem_backend_ops eem_backend_vertex = {
    .protocol = EEM_PROTO_VERTEX,
    .google = 1,
    .default_format = EEM_PAYLOAD_SERIALIZED_TF_TENSORS,
    .max_instances = EEM_GOOGLE_MAX_INSTANCES,
    .recognises = vertex_recognises,
    .build_url = build_vertex_url,
    .finish = vertex_finish,
    .check_payload = vertex_check_payload,
    .read_resource = vertex_read_resource,
    .error_message = google_error_message,
};
