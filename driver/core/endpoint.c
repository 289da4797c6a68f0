/* endpoint.c — resolve a descriptor's backend keys into a predict URL (see endpoint.h).
 *
 * Owns: URL construction for AI Platform and Vertex, protocol inference from a
 * URL's path, the backend defaults (payload format, Google credentials,
 * instance cap), the backend identity used in cache keys, and the small URL
 * helpers (loopback / https detection, display form without secrets). */
#define _POSIX_C_SOURCE 200809L

#include "endpoint.h"

#include "buf.h"
#include "grpc_endpoint.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EEM_GLOBAL_REGION "global"
#define EEM_GOOGLE_HOST_SUFFIX "googleapis.com"
#define EEM_MAX_URL_SEGMENTS 64

/* ---- URL pieces ------------------------------------------------------- */

/* Where the authority (userinfo@host:port) of url starts and ends. */
static void url_authority(const char *url, const char **start, const char **end)
{
    const char *s = strstr(url, "://");
    const char *a = s ? s + 3 : url;
    *start = a;
    *end = a + strcspn(a, "/?#");
}

/* Host of url (no userinfo, port or IPv6 brackets) into buf; 0 if none fits. */
static int url_host(const char *url, char *buf, size_t buflen)
{
    const char *a, *e;
    url_authority(url, &a, &e);
    for (const char *p = a; p < e; p++) /* userinfo ends at the last '@' */
        if (*p == '@')
            a = p + 1;
    const char *h = a, *he;
    if (*h == '[') {
        h++;
        he = memchr(h, ']', (size_t)(e - h));
        if (!he)
            return 0;
    } else {
        he = memchr(h, ':', (size_t)(e - h));
        if (!he)
            he = e;
    }
    size_t n = (size_t)(he - h);
    if (n == 0 || n >= buflen)
        return 0;
    memcpy(buf, h, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)tolower((unsigned char)buf[i]);
    return 1;
}

int eem_url_is_https(const char *url)
{
    return url && strncasecmp(url, "https://", 8) == 0;
}

int eem_url_is_loopback(const char *url)
{
    char host[256];
    if (!url || !url_host(url, host, sizeof host))
        return 0;
    size_t n = strlen(host);
    if (host[n - 1] == '.') /* "localhost." is the same name */
        host[--n] = '\0';
    if (strcmp(host, "localhost") == 0)
        return 1;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    return 0;
}

size_t eem_url_for_display(const char *url, char *buf, size_t buflen)
{
    if (!url)
        url = "";
    const char *a, *e;
    url_authority(url, &a, &e);
    const char *host = a;
    for (const char *p = a; p < e; p++)
        if (*p == '@')
            host = p + 1;
    size_t path_len = strcspn(e, "?#");
    return (size_t)snprintf(buf, buflen, "%.*s%.*s%.*s", (int)(a - url), url,
                            (int)(e - host), host, (int)path_len, e);
}

size_t eem_name_for_display(const char *name, char *buf, size_t buflen)
{
    if (!name)
        name = "";
    const char *scheme = strstr(name, "://");
    if (!scheme && !strchr(name, '?'))
        return (size_t)snprintf(buf, buflen, "%s", name);
    const char *start = name;
    if (scheme) {
        /* keep a /vsicurl/-style prefix before the URL */
        while (scheme > name && scheme[-1] != '/')
            scheme--;
        start = scheme;
    }
    size_t prefix = (size_t)(start - name);
    size_t written = (size_t)snprintf(buf, buflen, "%.*s", (int)prefix, name);
    size_t rest_cap = buflen > written ? buflen - written : 0;
    return written + eem_url_for_display(start, rest_cap ? buf + written : NULL, rest_cap);
}

static int host_is_google(const char *url)
{
    char host[256];
    if (!url_host(url, host, sizeof host))
        return 0;
    size_t n = strlen(host), k = strlen(EEM_GOOGLE_HOST_SUFFIX);
    if (n == k)
        return strcmp(host, EEM_GOOGLE_HOST_SUFFIX) == 0;
    return n > k && host[n - k - 1] == '.' && strcmp(host + n - k, EEM_GOOGLE_HOST_SUFFIX) == 0;
}

/* ---- protocol inference from a URL path -------------------------------- */

typedef struct path_segments {
    const char *s[EEM_MAX_URL_SEGMENTS];
    size_t len[EEM_MAX_URL_SEGMENTS];
    int n;
} path_segments;

static void split_path(const char *url, path_segments *ps)
{
    const char *a, *p;
    url_authority(url, &a, &p);
    const char *end = p + strcspn(p, "?#");
    ps->n = 0;
    while (p < end && ps->n < EEM_MAX_URL_SEGMENTS) {
        while (p < end && *p == '/')
            p++;
        const char *q = p;
        while (q < end && *q != '/')
            q++;
        if (q > p) {
            ps->s[ps->n] = p;
            ps->len[ps->n] = (size_t)(q - p);
            ps->n++;
        }
        p = q;
    }
}

/* Segment i is exactly word. */
static int seg_is(const path_segments *ps, int i, const char *word)
{
    size_t n = strlen(word);
    return i < ps->n && ps->len[i] == n && strncmp(ps->s[i], word, n) == 0;
}

static int seg_ends_with(const path_segments *ps, int i, const char *suffix)
{
    size_t n = strlen(suffix);
    return i < ps->n && ps->len[i] > n && strncmp(ps->s[i] + ps->len[i] - n, suffix, n) == 0;
}

/* The recognised layouts may sit below a gateway prefix, so look for them at
 * every position of the path. */
static eem_protocol protocol_from_url_path(const char *url)
{
    path_segments ps;
    split_path(url, &ps);
    for (int i = 0; i + 1 < ps.n; i++) {
        if (seg_is(&ps, i, "v1") && seg_is(&ps, i + 1, "projects")) {
            if (seg_is(&ps, i + 3, "models") && i + 4 < ps.n)
                return EEM_PROTO_AIPLATFORM;
            if (seg_is(&ps, i + 3, "locations") && seg_is(&ps, i + 5, "endpoints") && i + 6 < ps.n)
                return EEM_PROTO_VERTEX;
        }
        if (seg_is(&ps, i, "v1") && seg_is(&ps, i + 1, "models") && i + 2 < ps.n &&
            seg_ends_with(&ps, ps.n - 1, ":predict"))
            return EEM_PROTO_TFSERVING;
        if (seg_is(&ps, i, "v2") && seg_is(&ps, i + 1, "models") && i + 3 < ps.n &&
            seg_is(&ps, ps.n - 1, "infer"))
            return EEM_PROTO_KSERVE_V2;
    }
    return EEM_PROTO_NONE;
}

/* ---- resolution ------------------------------------------------------- */

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

static eem_status check_url(const char *url, eem_error *err)
{
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "URL: \"%s\" must start with http:// or https://", url);
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "URL: \"%s\" contains spaces or control characters", url);
    char host[256];
    if (!url_host(url, host, sizeof host))
        return eem_error_set(err, EEM_ERR_INVALID, "URL: \"%s\" has no host name", url);
    return EEM_OK;
}

static eem_payload_format default_payload_format(eem_protocol p)
{
    switch (p) {
    case EEM_PROTO_TFSERVING:
        return EEM_PAYLOAD_RAW_JSON;
    case EEM_PROTO_KSERVE_V2:
        return EEM_PAYLOAD_OIP_V2;
    default:
        return EEM_PAYLOAD_SERIALIZED_TF_TENSORS;
    }
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

/* Length of url's path (without query string). */
static size_t url_path_len(const char *url, const char **path)
{
    const char *a;
    url_authority(url, &a, path);
    return strcspn(*path, "?#");
}

/* url with the end of its path (before any query string) cut by `cut` bytes
 * and `add` appended there; NULL on allocation failure. */
static char *url_with_path_end(const char *url, size_t cut, const char *add)
{
    const char *path;
    size_t path_len = url_path_len(url, &path);
    size_t path_end = (size_t)(path - url) + path_len;
    eem_buf b = {0};
    eem_buf_append(&b, url, path_end - cut);
    eem_buf_puts(&b, add);
    eem_buf_puts(&b, url + path_end);
    return eem_buf_take(&b);
}

static int path_ends_with(const char *url, const char *suffix)
{
    const char *path;
    size_t n = url_path_len(url, &path), k = strlen(suffix);
    return n >= k && strncmp(path + n - k, suffix, k) == 0;
}

/* Metadata URLs: TF Serving .../M[/versions/V|/labels/L]/metadata; KServe v2
 * model .../v2/models/M[/versions/V] and server .../v2. */
static int set_metadata_urls(eem_endpoint *ep)
{
    const char *url = ep->predict_url;
    if (ep->protocol == EEM_PROTO_TFSERVING && path_ends_with(url, ":predict")) {
        ep->metadata_url = url_with_path_end(url, strlen(":predict"), "/metadata");
        return ep->metadata_url ? 0 : -1;
    }
    if (ep->protocol == EEM_PROTO_KSERVE_V2 && path_ends_with(url, "/infer")) {
        ep->metadata_url = url_with_path_end(url, strlen("/infer"), "");
        if (!ep->metadata_url)
            return -1;
        /* the server root is the path up to the last "/v2/models/" */
        const char *path;
        size_t n = url_path_len(url, &path);
        const char *v2 = NULL;
        for (const char *q = path; q + 11 <= path + n; q++)
            if (strncmp(q, "/v2/models/", 11) == 0)
                v2 = q;
        if (v2) {
            size_t cut = (size_t)(path + n - (v2 + 3));
            ep->server_metadata_url = url_with_path_end(url, cut, "");
            if (!ep->server_metadata_url)
                return -1;
        }
    }
    return 0;
}

/* The payload formats, layouts and options each backend can carry. */
static eem_status check_backend_payload(const eem_spec *spec, const eem_endpoint *ep,
                                        eem_error *err)
{
    eem_protocol p = ep->protocol;
    eem_payload_format f = ep->payload_format;
    int envelope = p == EEM_PROTO_AIPLATFORM || (p == EEM_PROTO_VERTEX && !ep->raw_predict);
    if (f == EEM_PAYLOAD_OIP_V2 && p != EEM_PROTO_KSERVE_V2 && !(p == EEM_PROTO_VERTEX && ep->raw_predict))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "PAYLOAD_FORMAT: \"OIP_V2\" needs a KServe v2 server "
                             "(.../v2/models/M/infer) or Vertex :rawPredict; %s speaks %s, "
                             "accepted: SERIALIZED_TF_TENSORS, RAW_JSON, ND_ARRAYS",
                             ep->display_url, eem_protocol_name(p));
    if (p == EEM_PROTO_KSERVE_V2 && f != EEM_PAYLOAD_OIP_V2)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "PAYLOAD_FORMAT: \"%s\" cannot be sent to a KServe v2 server (%s); "
                             "accepted: OIP_V2",
                             eem_payload_format_name(f), ep->display_url);
    if (spec->columnar && (envelope || f == EEM_PAYLOAD_OIP_V2))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "REQUEST_LAYOUT: \"COLUMNAR\" (TF Serving \"inputs\") cannot be "
                             "sent to %s (%s%s); accepted there: ROW",
                             ep->display_url, f == EEM_PAYLOAD_OIP_V2 ? "OIP_V2 is already columnar, " : "",
                             eem_protocol_name(p));
    if (spec->signature_name && (f == EEM_PAYLOAD_OIP_V2 || (p == EEM_PROTO_VERTEX && !ep->raw_predict)))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "SIGNATURE_NAME: \"%s\" cannot be sent to %s (%s %s has no "
                             "signature_name); use a TF Serving URL, AI Platform, or Vertex "
                             ":rawPredict",
                             spec->signature_name, ep->display_url, eem_protocol_name(p),
                             f == EEM_PAYLOAD_OIP_V2 ? "OIP_V2" : ":predict");
    return EEM_OK;
}

void eem_endpoint_free(eem_endpoint *ep)
{
    if (!ep)
        return;
    free(ep->metadata_url);
    free(ep->server_metadata_url);
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
        proto = spec->protocol != EEM_PROTO_NONE ? spec->protocol : protocol_from_url_path(spec->url);
        if (proto == EEM_PROTO_NONE) {
            st = eem_error_set(err, EEM_ERR_INVALID,
                               "URL: cannot tell the protocol from the path of \"%s\"; set PROTOCOL "
                               "to aiplatform, vertex, tfserving or kserve-v2",
                               spec->url);
            goto done;
        }
    } else if (has_text(spec->endpoint)) {
        proto = EEM_PROTO_VERTEX;
        if ((st = build_vertex_url(spec, &url, err)))
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
        if ((st = build_aiplatform_url(spec, &url, err)))
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

    int google_protocol = proto == EEM_PROTO_AIPLATFORM || proto == EEM_PROTO_VERTEX;
    ep->payload_format =
        spec->payload_format != EEM_PAYLOAD_NONE ? spec->payload_format : default_payload_format(proto);
    ep->google_auth = google_protocol || host_is_google(ep->predict_url);
    ep->max_instances = google_protocol ? EEM_GOOGLE_MAX_INSTANCES : 0;
    ep->max_payload_bytes =
        spec->max_payload_bytes > 0 ? spec->max_payload_bytes : EEM_DEFAULT_MAX_PAYLOAD_BYTES;
    ep->raw_predict = proto == EEM_PROTO_VERTEX && path_ends_with(ep->predict_url, ":rawPredict");
    if ((st = check_backend_payload(spec, ep, err)))
        goto done;
    if (set_metadata_urls(ep) != 0) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory resolving the endpoint");
        goto done;
    }

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
