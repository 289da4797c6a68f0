/* endpoint.c — resolve a descriptor's backend keys into a predict URL (see endpoint.h).
 *
 * Owns: which backend the keys select (ENDPOINT, PROJECT/MODEL, URL with
 * PROTOCOL or the URL's path), the URL checks, where Google credentials go,
 * and the backend identity used in cache keys.  Everything protocol-specific
 * is the backend table's (backend.h). */
#define _POSIX_C_SOURCE 200809L

#include "endpoint.h"

#include "backend.h"
#include "buf.h"
#include "grpc_endpoint.h"
#include "url.h"

#include <cpl_conv.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


/* ---- where Google credentials go ------------------------------------- */

/* Google credentials go to Google API hosts, to loopback when the protocol is
 * Google's (local stand-ins), and to a gateway host the user names outside
 * any descriptor file (GOOGLE_CREDENTIALS_HOST open option or connection
 * string key, EEMODEL_GOOGLE_CREDENTIALS_HOSTS config option).  Never by path. */
static int google_credentials_apply(const eem_spec *spec, const char *url, int google_protocol)
{
    switch (eem_url_classify(url)) {
    case EEM_URL_GOOGLE_API:
        return 1;
    case EEM_URL_LOOPBACK:
        if (google_protocol)
            return 1;
        break;
    default:
        break;
    }
    return eem_url_host_in_list(url, spec->google_credentials_host) ||
           eem_url_host_in_list(url, CPLGetConfigOption(EEM_GOOGLE_CREDENTIALS_HOSTS_OPTION, NULL));
}

/* ---- resolution ------------------------------------------------------- */

static int has_text(const char *s)
{
    return s && *s;
}

static eem_status check_url(const char *url, eem_error *err)
{
    char shown[1024];
    eem_url_for_display(url, shown, sizeof shown);
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "URL: \"%s\" must start with http:// or https://", shown);
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "URL: contains spaces or control characters");
    if (strstr(url, EEM_URL_REDACTED))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "URL: %s holds " EEM_URL_REDACTED ": this name comes from a dataset "
                             "description, where secrets are removed; give API keys with the "
                             "EEMODEL_HEADERS or GDAL_HTTP_HEADER_FILE config option",
                             shown);
    char host[256];
    if (!eem_url_host(url, host, sizeof host))
        return eem_error_set(err, EEM_ERR_INVALID, "URL: \"%s\" has no host name", shown);
    return EEM_OK;
}

static int append_identity(eem_buf *b, const eem_spec *spec, const eem_endpoint *ep)
{
    eem_buf_printf(b, "%s|%s|%s|%s|", eem_protocol_name(ep->protocol), ep->display_url,
                   spec->version ? spec->version : "", eem_payload_format_name(ep->payload_format));
    for (int i = 0; i < spec->n_outputs; i++) {
        const eem_output *o = &spec->outputs[i];
        eem_buf_printf(b, "%s:%s:%d:%d;", o->name ? o->name : "", eem_dtype_name(o->type), o->dims,
                       o->length);
    }
    if (spec->signature_name)
        eem_buf_printf(b, "|signature=%s", spec->signature_name);
    return b->failed ? -1 : 0;
}

void eem_endpoint_free(eem_endpoint *ep)
{
    if (!ep)
        return;
    free(ep->metadata_url);
    free(ep->server_metadata_url);
    free(ep->model_resource_url);
    free(ep->predict_url);
    free(ep->display_url);
    free(ep->identity);
    eem_grpc_target_free(ep->grpc);
    free(ep);
}

eem_status eem_endpoint_resolve(const eem_spec *spec, eem_endpoint **out, eem_error *err)
{
    eem_status st = EEM_OK;
    eem_buf url = {0}, id = {0};
    eem_endpoint *ep = NULL;
    *out = NULL;
    if (eem_grpc_endpoint_applies(spec))
        return eem_grpc_endpoint_resolve(spec, out, err);

    eem_protocol proto;
    if (has_text(spec->url)) {
        if ((st = check_url(spec->url, err)))
            goto done;
        eem_buf_puts(&url, spec->url);
        proto = spec->protocol != EEM_PROTO_NONE ? spec->protocol
                                                 : eem_backend_protocol_of_url(spec->url);
        if (proto == EEM_PROTO_NONE) {
            char shown[1024];
            eem_url_for_display(spec->url, shown, sizeof shown);
            st = eem_error_set(err, EEM_ERR_INVALID,
                               "URL: cannot tell the protocol from the path of \"%s\"; set PROTOCOL "
                               "to aiplatform, vertex, tfserving or kserve-v2",
                               shown);
            goto done;
        }
    } else if (has_text(spec->endpoint)) {
        proto = EEM_PROTO_VERTEX;
        if ((st = eem_backend_vertex.build_url(spec, &url, err)))
            goto done;
    } else if (has_text(spec->project) || has_text(spec->model)) {
        proto = EEM_PROTO_AIPLATFORM;
        if (!has_text(spec->project) || !has_text(spec->model)) {
            st = eem_error_set(err, EEM_ERR_INVALID,
                               "%s is set but %s is missing: AI Platform models need both PROJECT "
                               "and MODEL",
                               has_text(spec->project) ? "PROJECT" : "MODEL",
                               has_text(spec->project) ? "MODEL" : "PROJECT");
            goto done;
        }
        if ((st = eem_backend_aiplatform.build_url(spec, &url, err)))
            goto done;
    } else {
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "no model given: set PROJECT and MODEL (AI Platform), ENDPOINT "
                           "(Vertex AI, projects/P/locations/L/endpoints/E) or URL");
        goto done;
    }
    if (!has_text(spec->url) && spec->protocol != EEM_PROTO_NONE && spec->protocol != proto) {
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "PROTOCOL: \"%s\" does not match %s, which uses the %s protocol; "
                           "use URL for other servers",
                           eem_protocol_name(spec->protocol),
                           proto == EEM_PROTO_VERTEX ? "ENDPOINT" : "PROJECT/MODEL",
                           eem_protocol_name(proto));
        goto done;
    }
    if (url.failed) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory building the predict URL");
        goto done;
    }

    ep = calloc(1, sizeof *ep);
    if (!ep) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory resolving the endpoint");
        goto done;
    }
    ep->protocol = proto;
    ep->predict_url = eem_buf_take(&url);
    size_t dlen = eem_url_for_display(ep->predict_url, NULL, 0);
    ep->display_url = malloc(dlen + 1);
    if (!ep->predict_url || !ep->display_url) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory resolving the endpoint");
        goto done;
    }
    eem_url_for_display(ep->predict_url, ep->display_url, dlen + 1);

    const eem_backend_ops *ops = eem_backend_for(proto);
    if (!ops) {
        st = eem_error_set(err, EEM_ERR_INVALID, "PROTOCOL: not supported");
        goto done;
    }
    ep->backend = ops;
    ep->google_auth = google_credentials_apply(spec, ep->predict_url, ops->google);
    ep->payload_format =
        spec->payload_format != EEM_PAYLOAD_NONE ? spec->payload_format : ops->default_format;
    ep->max_instances = ops->max_instances;
    ep->max_payload_bytes =
        spec->max_payload_bytes > 0 ? spec->max_payload_bytes : EEM_DEFAULT_MAX_PAYLOAD_BYTES;
    if (ops->finish && (st = ops->finish(ep, err)))
        goto done;
    if (ops->check_payload && (st = ops->check_payload(spec, ep, err)))
        goto done;

    if (append_identity(&id, spec, ep) != 0) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory resolving the endpoint");
        goto done;
    }
    ep->identity = eem_buf_take(&id);
    if (!ep->identity) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory resolving the endpoint");
        goto done;
    }
    *out = ep;
    ep = NULL;

done:
    eem_endpoint_free(ep);
    eem_buf_free(&url);
    eem_buf_free(&id);
    return st;
}
