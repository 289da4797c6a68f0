/* grpc_endpoint.c — resolve a descriptor into a gRPC endpoint (see grpc_endpoint.h). */
#define _POSIX_C_SOURCE 200809L

#include "grpc_endpoint.h"

#include "buf.h"
#include "grpc_call.h"
#include "str.h"
#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EEM_VERTEX_GRPC_ROOT_FMT "https://%s-aiplatform.googleapis.com"

static int is_grpc_scheme(const char *url)
{
    return url && (strncasecmp(url, "grpc://", 7) == 0 || strncasecmp(url, "grpcs://", 8) == 0);
}

int eem_grpc_endpoint_applies(const eem_spec *spec)
{
    return is_grpc_scheme(spec->url) || EEM_PAYLOAD_IS_GRPC(spec->payload_format);
}

void eem_grpc_target_free(eem_grpc_target *t)
{
    if (!t)
        return;
    free(t->model);
    free(t->version);
    free(t->label);
    free(t->vertex_endpoint);
    free(t->request_params);
    free(t);
}

char *eem_grpc_request_params_line(const char *field, const char *name)
{
    static const char hex[] = "0123456789ABCDEF";
    eem_buf b = {0};
    eem_buf_printf(&b, "x-goog-request-params: %s=", field);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                   (*p >= '0' && *p <= '9') || strchr("-._~/", *p);
        if (keep) {
            eem_buf_append(&b, p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            eem_buf_append(&b, esc, 3);
        }
    }
    return eem_buf_take(&b);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int seg_is(const eem_path_segments *sg, int i, const char *w)
{
    return eem_path_segment_is(sg, i, w);
}

/* Model, version and label from .../v1/models/M[/versions/V|/labels/L][:predict]
 * or .../v2/models/M[/versions/V][/infer]; the protocol found, or NONE. */
static eem_protocol parse_model_path(const char *url, eem_grpc_target *t, size_t *root_len)
{
    eem_path_segments sg;
    eem_path_segments_of(url, &sg);
    const char *authority, *authority_end;
    eem_url_authority(url, &authority, &authority_end);
    *root_len = (size_t)(authority_end - url); /* scheme://authority */
    for (int i = 0; i + 2 < sg.n; i++) {
        int v1 = seg_is(&sg, i, "v1"), v2 = seg_is(&sg, i, "v2");
        if (!(v1 || v2) || !seg_is(&sg, i + 1, "models") || i + 2 >= sg.n)
            continue;
        int last = sg.n - 1;
        size_t mlen = sg.len[i + 2];
        const char *m = sg.s[i + 2];
        int k = i + 3;
        /* ":predict" ends the last segment of a TF Serving REST URL */
        size_t cut = 0;
        if (v1 && sg.len[last] > 8 && strncmp(sg.s[last] + sg.len[last] - 8, ":predict", 8) == 0)
            cut = 8;
        if (i + 2 == last)
            mlen -= cut;
        if (mlen == 0)
            return EEM_PROTO_NONE;
        t->model = dup_n(m, mlen);
        if (k + 1 <= last && (seg_is(&sg, k, "versions") || (v1 && seg_is(&sg, k, "labels")))) {
            size_t vlen = sg.len[k + 1] - (k + 1 == last ? cut : 0);
            char *v = dup_n(sg.s[k + 1], vlen);
            if (seg_is(&sg, k, "versions"))
                t->version = v;
            else
                t->label = v;
            k += 2;
        }
        if (v2 && k == last && seg_is(&sg, k, "infer"))
            k++;
        if (k <= last)
            return EEM_PROTO_NONE; /* more path than a model, version and method */
        return v1 ? EEM_PROTO_TFSERVING : EEM_PROTO_KSERVE_V2;
    }
    return EEM_PROTO_NONE;
}

static eem_status from_url(const eem_spec *spec, eem_endpoint *ep, eem_grpc_target *t,
                           eem_error *err)
{
    const char *url = spec->url;
    size_t root_len = 0;
    eem_protocol proto = parse_model_path(url, t, &root_len);
    if (proto == EEM_PROTO_NONE)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "URL: \"%s\" does not name a model for gRPC; expected "
                             "grpc://host:port/v1/models/M[/versions/V|/labels/L] (TF Serving) or "
                             "grpc://host:port/v2/models/M[/versions/V] (OIP v2)",
                             ep->display_url);
    if (spec->protocol != EEM_PROTO_NONE && spec->protocol != proto)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "PROTOCOL: \"%s\" does not match the URL path, which names a %s "
                             "model; expected PROTOCOL absent or %s",
                             eem_protocol_name(spec->protocol), eem_protocol_name(proto),
                             eem_protocol_name(proto));
    if (!t->model)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    if (t->version)
        for (const char *p = t->version; *p; p++)
            if (*p < '0' || *p > '9')
                return eem_error_set(err, EEM_ERR_INVALID,
                                     "URL: version \"%s\" is not a number; expected "
                                     "/versions/<integer>%s",
                                     t->version, proto == EEM_PROTO_TFSERVING
                                                     ? " or /labels/<label>"
                                                     : "");
    ep->protocol = proto;
    t->service = proto == EEM_PROTO_TFSERVING ? EEM_GRPC_SERVICE_TFSERVING : EEM_GRPC_SERVICE_OIP;
    char *root = dup_n(url, root_len);
    if (!root)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    int tf = t->service == EEM_GRPC_SERVICE_TFSERVING;
    ep->predict_url = eem_grpc_http_url(root, tf ? EEM_GRPC_TF_PREDICT : EEM_GRPC_OIP_INFER);
    ep->metadata_url = eem_grpc_http_url(root, tf ? EEM_GRPC_TF_METADATA : EEM_GRPC_OIP_METADATA);
    free(root);
    return ep->predict_url && ep->metadata_url ? EEM_OK
                                               : eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
}

static eem_status from_vertex_endpoint(const eem_spec *spec, eem_endpoint *ep,
                                       eem_grpc_target *t, eem_error *err)
{
    /* projects/P/locations/L/endpoints/E (checked by spec.c) */
    const char *e = spec->endpoint;
    const char *loc = strstr(e, "/locations/");
    if (!loc)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "ENDPOINT: \"%s\" is not projects/P/locations/L/endpoints/E", e);
    loc += strlen("/locations/");
    size_t loc_len = strcspn(loc, "/");
    eem_buf root = {0};
    if (spec->api_root && *spec->api_root) {
        eem_buf_puts(&root, spec->api_root);
    } else {
        for (size_t i = 0; i < loc_len; i++)
            if (!(loc[i] == '-' || (loc[i] >= 'a' && loc[i] <= 'z') || (loc[i] >= '0' && loc[i] <= '9')))
                return eem_error_set(err, EEM_ERR_INVALID,
                                     "ENDPOINT: location \"%.*s\" is not a region name",
                                     (int)loc_len, loc);
        eem_buf_printf(&root, "https://%.*s-aiplatform.googleapis.com", (int)loc_len, loc);
    }
    char *r = eem_buf_take(&root);
    if (!r)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    ep->protocol = EEM_PROTO_VERTEX;
    t->service = EEM_GRPC_SERVICE_VERTEX;
    t->vertex_endpoint = eem_strdup(e);
    /* the URL variable of DirectRawPredict's HTTP rule (POST
     * /v1/{endpoint}:directRawPredict) is its routing parameter */
    t->request_params = eem_grpc_request_params_line("endpoint", e);
    ep->predict_url = eem_grpc_http_url(r, EEM_GRPC_VERTEX_DIRECT_RAW);
    free(r);
    ep->google_auth = 1;
    return ep->predict_url && t->vertex_endpoint && t->request_params
               ? EEM_OK
               : eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
}

/* The payload formats each gRPC service carries. */
static eem_status check_format(const eem_spec *spec, const eem_endpoint *ep,
                               const eem_grpc_target *t, eem_error *err)
{
    eem_payload_format f = ep->payload_format;
    if (!EEM_PAYLOAD_IS_GRPC(f))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "PAYLOAD_FORMAT: \"%s\" is a REST format and %s is a gRPC address; "
                             "accepted: %s, or an http(s):// URL for REST",
                             eem_payload_format_name(f), ep->display_url,
                             t->service == EEM_GRPC_SERVICE_OIP
                                 ? "GRPC_OIP_V2"
                                 : "GRPC_TF_TENSORS, GRPC_SERIALIZED_TF_TENSORS or "
                                   "GRPC_SERIALIZED_TF_EXAMPLES");
    if ((t->service == EEM_GRPC_SERVICE_OIP) != (f == EEM_PAYLOAD_GRPC_OIP_V2))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "PAYLOAD_FORMAT: \"%s\" cannot be sent to %s (%s); accepted: %s",
                             eem_payload_format_name(f), ep->display_url,
                             t->service == EEM_GRPC_SERVICE_OIP ? "OIP v2 ModelInfer"
                             : t->service == EEM_GRPC_SERVICE_VERTEX
                                 ? "Vertex AI DirectRawPredict to a TF Serving container"
                                 : "TF Serving Predict",
                             t->service == EEM_GRPC_SERVICE_OIP
                                 ? "GRPC_OIP_V2"
                                 : "GRPC_TF_TENSORS, GRPC_SERIALIZED_TF_TENSORS or "
                                   "GRPC_SERIALIZED_TF_EXAMPLES");
    if (spec->columnar)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "REQUEST_LAYOUT: \"COLUMNAR\" is a TF Serving REST form; gRPC "
                             "requests are always tensors (accepted: ROW or absent)");
    if (spec->signature_name && t->service == EEM_GRPC_SERVICE_OIP)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "SIGNATURE_NAME: \"%s\" cannot be sent to %s (OIP v2 ModelInfer has "
                             "no signature); use a TF Serving model",
                             spec->signature_name, ep->display_url);
    return EEM_OK;
}

eem_status eem_grpc_endpoint_resolve(const eem_spec *spec, eem_endpoint **out, eem_error *err)
{
    *out = NULL;
    eem_endpoint *ep = calloc(1, sizeof *ep);
    eem_grpc_target *t = calloc(1, sizeof *t);
    eem_status st = EEM_OK;
    if (!ep || !t) {
        free(ep);
        free(t);
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory resolving the endpoint");
    }
    ep->grpc = t;
    const char *shown = spec->url && *spec->url ? spec->url : NULL;
    if (shown) {
        size_t n = eem_url_for_display(shown, NULL, 0);
        if ((ep->display_url = malloc(n + 1)))
            eem_url_for_display(shown, ep->display_url, n + 1);
        if (!ep->display_url)
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        for (const char *p = shown; st == EEM_OK && *p; p++)
            if ((unsigned char)*p <= ' ' || *p == 0x7f)
                st = eem_error_set(err, EEM_ERR_INVALID,
                                   "URL: \"%s\" contains spaces or control characters",
                                   ep->display_url);
        if (st == EEM_OK)
            st = from_url(spec, ep, t, err);
    } else if (spec->endpoint && *spec->endpoint) {
        st = from_vertex_endpoint(spec, ep, t, err);
        if (st == EEM_OK) {
            size_t n = eem_url_for_display(ep->predict_url, NULL, 0);
            if ((ep->display_url = malloc(n + 1)))
                eem_url_for_display(ep->predict_url, ep->display_url, n + 1);
            else
                st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        }
    } else {
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "PAYLOAD_FORMAT: \"%s\" is a gRPC format; it needs URL=grpc://host:port/"
                           "v1/models/M (TF Serving), grpc://host:port/v2/models/M (OIP v2) or "
                           "ENDPOINT=projects/P/locations/L/endpoints/E (Vertex AI), not "
                           "PROJECT/MODEL (AI Platform has no gRPC API)",
                           eem_payload_format_name(spec->payload_format));
    }
    if (st == EEM_OK) {
        ep->payload_format = spec->payload_format != EEM_PAYLOAD_NONE ? spec->payload_format
                             : t->service == EEM_GRPC_SERVICE_OIP     ? EEM_PAYLOAD_GRPC_OIP_V2
                                                                      : EEM_PAYLOAD_GRPC_TF_TENSORS;
        st = check_format(spec, ep, t, err);
    }
    if (st == EEM_OK) {
        ep->max_instances = t->service == EEM_GRPC_SERVICE_VERTEX ? EEM_GOOGLE_MAX_INSTANCES : 0;
        ep->max_payload_bytes = spec->max_payload_bytes > 0 ? spec->max_payload_bytes
                                                            : EEM_DEFAULT_MAX_PAYLOAD_BYTES;
        eem_buf id = {0};
        eem_buf_printf(&id, "grpc|%s|%s|%s|%s|%s|", eem_protocol_name(ep->protocol),
                       ep->display_url, t->version ? t->version : "", t->label ? t->label : "",
                       eem_payload_format_name(ep->payload_format));
        for (int i = 0; i < spec->n_outputs; i++) {
            const eem_output *o = &spec->outputs[i];
            eem_buf_printf(&id, "%s:%s:%d:%d;", o->name ? o->name : "", eem_dtype_name(o->type),
                           o->dims, o->length);
        }
        if (spec->signature_name)
            eem_buf_printf(&id, "|signature=%s", spec->signature_name);
        if (!(ep->identity = eem_buf_take(&id)))
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    if (st != EEM_OK) {
        eem_endpoint_free(ep);
        return st;
    }
    *out = ep;
    return EEM_OK;
}
