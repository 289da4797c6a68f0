/* grpc_call.c — unary gRPC calls as hooks on the HTTP transport (see grpc_call.h). */
#define _POSIX_C_SOURCE 200809L

#include "grpc_call.h"

#include "config_values.h"

#include "request_headers.h"

#include "buf.h"
#include "grpc_endpoint.h"
#include "grpc_frame.h"
#include "grpc_h2c.h"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EEM_GRPC_DEADLINE_MARGIN_MS 1000L

/* Uncounted retries of one call after its connection was found gone: the
 * first may join a connection another call opened meanwhile, the second
 * opens its own. */
#define EEM_GRPC_MAX_RECONNECTS 2

typedef struct grpc_call_state {
    eem_grpc_status_lines lines;
    struct curl_slist *headers;
    double timeout_s; /* > 0: this call's deadline instead of GDAL_HTTP_TIMEOUT */
    const char *routing; /* x-goog-request-params line (Vertex) or NULL, not owned */
    void *easy;          /* the call's CURL handle (set by configure) */
    int h2c_shared;      /* http:// with connection reuse (grpc_h2c.h) */
    int opened;          /* this attempt opened its connection (prior knowledge) */
    unsigned long generation; /* the h2c connection this attempt opened or used */
    int reconnects;      /* uncounted retries so far */
} grpc_call_state;

static grpc_call_state *state_of(eem_http_request *req)
{
    if (!req->hook_state)
        req->hook_state = calloc(1, sizeof(grpc_call_state));
    return req->hook_state;
}

/* Header names the call sets itself: the caller's versions are dropped. */
#define EEM_GRPC_MAX_LINES 16 /* protocol lines a caller may add */

static int header_is_ours(const char *line)
{
    static const char *const names[] = {"content-type", "accept", "expect", "te",
                                        "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
                                        "inference-header-content-length"};
    size_t n = strcspn(line, ":;");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && strncasecmp(line, names[i], n) == 0)
            return 1;
    return 0;
}

/* EEMODEL_GRPC_CONNECTION_REUSE: YES, NO, or AUTO (the default): shared h2c
 * connections only with libcurl 8 or later.  libcurl 7.88.1 (Debian 12) loses
 * the trailers of h2c streams that run at once on one connection (measured:
 * 33 to 38 of 80 calls, 8 at a time; none over TLS), and each such call is
 * asked again (grpc_attempt_end), so there a connection per call is the
 * cheaper default. */
static int h2c_connection_reuse(void)
{
    const int v = eem_config_choice(EEM_CHOICE_GRPC_CONNECTION_REUSE);
    if (v == EEM_CHOICE_AUTO) {
        const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
        return info && info->version_num >= 0x080000;
    }
    return v == EEM_CHOICE_YES;
}

static eem_status grpc_configure(eem_http_request *req, void *easy, eem_error *err)
{
    grpc_call_state *s = state_of(req);
    if (!s)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory setting up a gRPC call");
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    eem_http_options o;
    eem_http_options_from_config(&o);
    long timeout_ms = (long)((s->timeout_s > 0 ? s->timeout_s : o.timeout_s) * 1000.0);
    char timeout_line[48] = "";
    if (timeout_ms > 0 && timeout_ms <= 99999999L)
        snprintf(timeout_line, sizeof timeout_line, "grpc-timeout: %ldm", timeout_ms);
    else if (timeout_ms > 0)
        snprintf(timeout_line, sizeof timeout_line, "grpc-timeout: %ldS",
                 timeout_ms / 1000 > 99999999L ? 99999999L : timeout_ms / 1000);
    const char *fixed[] = {"Content-Type: application/grpc", "TE: trailers", "Accept:", "Expect:",
                           timeout_line[0] ? timeout_line : NULL, s->routing};
    /* the protocol lines, then through the one door (request_headers.h): it
     * checks where the credentials may go, adds them and sets the list */
    const char *lines[EEM_GRPC_MAX_LINES + 8];
    size_t n = 0;
    for (int i = 0; req->headers && req->headers[i] && n < EEM_GRPC_MAX_LINES; i++)
        if (!header_is_ours(req->headers[i]))
            lines[n++] = req->headers[i];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (fixed[i])
            lines[n++] = fixed[i];
    lines[n] = NULL;
    eem_request_lines wire = {req->url, lines, req->secret_headers, 0, "EEMODEL grpc"};
    eem_status st = eem_request_prepare(easy, &wire, &s->headers, err);
    if (st != EEM_OK)
        return st;
    int tls = strncasecmp(req->url, "https://", 8) == 0;
    /* libcurl 7.88.1 breaks reused prior-knowledge connections (curl #10634):
     * over h2c either one connection shared as grpc_h2c.h says (the version
     * is chosen per attempt), or, with EEMODEL_GRPC_CONNECTION_REUSE=NO, a
     * connection of its own for every call (CURLOPT_FORBID_REUSE) */
    s->easy = easy;
    s->h2c_shared = !tls && h2c_connection_reuse();
    int alone = !tls && !s->h2c_shared;
    CURLcode c = curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                             tls ? (long)CURL_HTTP_VERSION_2TLS
                                 : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    /* alone: a connection of its own, never kept (FORBID_REUSE) nor taken
     * from another call still running on it (FRESH_CONNECT: libcurl would
     * otherwise multiplex a new stream onto a live prior-knowledge connection,
     * which is the broken reuse, "Error in the HTTP2 framing layer") */
    if (c == CURLE_OK)
        c = curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, alone ? 1L : 0L);
    if (c == CURLE_OK)
        c = curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, alone ? 1L : 0L);
    if (c == CURLE_OK)
        c = curl_easy_setopt(easy, CURLOPT_PIPEWAIT, alone ? 0L : 1L);
    if (c == CURLE_OK)
        c = curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, NULL);
    if (c == CURLE_OK && timeout_ms > 0)
        c = curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms + EEM_GRPC_DEADLINE_MARGIN_MS);
    if (c != CURLE_OK)
        return eem_error_set(err, EEM_ERR_HTTP, "cannot configure a gRPC call: %s",
                             curl_easy_strerror(c));
    return EEM_OK;
}

static void grpc_attempt_start(eem_http_request *req)
{
    grpc_call_state *s = state_of(req);
    if (!s)
        return;
    eem_grpc_status_lines_reset(&s->lines);
    if (!s->h2c_shared || !s->easy)
        return;
    /* open the connection with prior knowledge (never reusing one), or join
     * the known one as an HTTP/2 stream */
    const void *pool = eem_http_request_connection_cache(req);
    s->opened = eem_grpc_h2c_call_opens(pool, req->url, s->reconnects >= EEM_GRPC_MAX_RECONNECTS,
                                        &s->generation);
    curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION,
                     s->opened ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                               : (long)CURL_HTTP_VERSION_2_0);
    curl_easy_setopt(s->easy, CURLOPT_FRESH_CONNECT, s->opened ? 1L : 0L);
}

static void grpc_header_line(eem_http_request *req, const char *line, size_t n)
{
    grpc_call_state *s = state_of(req);
    if (s)
        eem_grpc_status_lines_feed(&s->lines, line, n);
}

static int grpc_attempt_end(eem_http_request *req, int curl_code, char *body, size_t *len,
                            int retryable)
{
    grpc_call_state *s = state_of(req);
    int connection_lost = curl_code == CURLE_UNSUPPORTED_PROTOCOL ||
                          curl_code == CURLE_COULDNT_CONNECT || curl_code == CURLE_HTTP2 ||
                          curl_code == CURLE_GOT_NOTHING || curl_code == CURLE_SEND_ERROR ||
                          curl_code == CURLE_RECV_ERROR;
    if (s && s->h2c_shared && connection_lost) {
        /* the next call opens a new connection (a stalled or oversized
         * answer says nothing of the connection: it stays known) */
        eem_grpc_h2c_forget(eem_http_request_connection_cache(req), req->url, s->generation);
        /* HTTP/2 without prior knowledge finds no connection: libcurl tried an
         * HTTP/1.1 upgrade, which gRPC servers refuse before any call */
        if (curl_code == CURLE_UNSUPPORTED_PROTOCOL && !s->opened &&
            s->reconnects < EEM_GRPC_MAX_RECONNECTS) {
            s->reconnects++;
            return EEM_HTTP_RETRY_AT_ONCE;
        }
    }
    if (curl_code != CURLE_OK || !s) {
        req->ok = 0;
        if (!s)
            snprintf(req->error, sizeof req->error, "out of memory in a gRPC call");
        /* the transport's own error text and retry verdict (size cap, timeouts,
         * refused or lost connections = UNAVAILABLE) */
        return s ? retryable : 0;
    }
    if (!s->lines.http2) {
        req->ok = 0;
        snprintf(req->error, sizeof req->error,
                 "the server did not answer over HTTP/2 (HTTP status %ld); a gRPC server was "
                 "expected at this address",
                 s->lines.http_status);
        return 0;
    }
    int code = eem_grpc_status_of(&s->lines);
    if (code != EEM_GRPC_OK) {
        req->ok = 0;
        req->status = code == EEM_GRPC_UNAUTHENTICATED ? 401 : 0;
        const char *msg = s->lines.message;
        if (s->lines.status == -2)
            snprintf(req->error, sizeof req->error,
                     "gRPC answer with a malformed grpc-status trailer (HTTP status %ld)",
                     s->lines.http_status);
        else if (s->lines.status == -1)
            snprintf(req->error, sizeof req->error,
                     "gRPC answer without grpc-status (HTTP status %ld, taken as %s)",
                     s->lines.http_status, eem_grpc_status_name(code));
        else
            snprintf(req->error, sizeof req->error, "gRPC status %d %s%s%s", code,
                     eem_grpc_status_name(code), msg[0] ? ": " : "", msg);
        /* libcurl 7.88.1 ends h2c streams that share a connection without
         * handing over their trailers (h2c_connection_reuse): a gRPC
         * server's 200 without grpc-status is that, not a proxy's answer, so
         * the call is asked again (counted as a retry) */
        if (s->lines.status == -1 && s->lines.http_status == 200 && s->lines.grpc_content_type)
            return 1;
        return eem_grpc_status_is_retryable(code, msg);
    }
    eem_error e;
    size_t off = 0, n = 0;
    if (eem_grpc_unframe((const uint8_t *)body, body ? *len : 0, 0, &off, &n, &e) != EEM_OK) {
        req->ok = 0;
        req->status = 0;
        snprintf(req->error, sizeof req->error, "%s", e.msg);
        return 0;
    }
    if (body) {
        memmove(body, body + off, n);
        body[n] = '\0';
    }
    *len = n;
    req->ok = 1;
    req->status = 200;
    return 0;
}

static void grpc_release(eem_http_request *req)
{
    grpc_call_state *s = req->hook_state;
    if (s) {
        curl_slist_free_all(s->headers);
        free(s);
    }
    req->hook_state = NULL;
}

const eem_http_hooks eem_grpc_hooks = {grpc_configure, grpc_attempt_start, grpc_header_line,
                                       grpc_attempt_end, grpc_release};

void eem_grpc_request_use(eem_http_request *req)
{
    req->hooks = &eem_grpc_hooks;
}

void eem_grpc_request_use_for(eem_http_request *req, const eem_endpoint *ep)
{
    req->hooks = &eem_grpc_hooks;
    grpc_call_state *s = state_of(req);
    if (s && ep && ep->grpc)
        s->routing = ep->grpc->request_params;
}

char *eem_grpc_http_url(const char *root, const char *path)
{
    eem_buf b = {0};
    const char *rest = root;
    if (strncasecmp(root, "grpcs://", 8) == 0) {
        eem_buf_puts(&b, "https://");
        rest = root + 8;
    } else if (strncasecmp(root, "grpc://", 7) == 0) {
        eem_buf_puts(&b, "http://");
        rest = root + 7;
    }
    size_t n = strlen(rest);
    while (n > 0 && rest[n - 1] == '/')
        n--;
    eem_buf_append(&b, rest, n);
    eem_buf_puts(&b, path);
    return eem_buf_take(&b);
}

eem_status eem_grpc_call_blocking(const char *url, const uint8_t *msg, size_t len,
                                  const char *const *headers, int max_retry, double timeout_s,
                                  char **answer, size_t *answer_len,
                                  eem_grpc_call_failure *failure, eem_error *err)
{
    *answer = NULL;
    *answer_len = 0;
    if (failure)
        memset(failure, 0, sizeof *failure);
    eem_buf framed = {0};
    uint8_t hdr[EEM_GRPC_FRAME_HEADER];
    eem_grpc_frame_header(hdr, len);
    eem_buf_append(&framed, hdr, sizeof hdr);
    if (len)
        eem_buf_append(&framed, msg, len);
    if (framed.failed)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a gRPC request");
    eem_http_options o;
    eem_http_options_from_config(&o);
    o.max_retry = max_retry;
    if (timeout_s > 0 && (o.timeout_s <= 0 || o.timeout_s > timeout_s))
        o.timeout_s = timeout_s;
    o.max_connections = 1;
    eem_http_multi *m = NULL;
    eem_status st = eem_http_multi_new(&o, &m, err);
    eem_http_request req;
    memset(&req, 0, sizeof req);
    req.url = url;
    req.body = framed.data;
    req.body_len = framed.len;
    req.secret_headers = headers; /* credentials and static headers: the door checks them */
    eem_grpc_request_use(&req);
    grpc_call_state *s = state_of(&req);
    if (s)
        s->timeout_s = o.timeout_s;
    if (st == EEM_OK)
        st = eem_http_multi_add(m, &req, err);
    eem_http_request *done = NULL;
    if (st == EEM_OK)
        st = eem_http_multi_next(m, &done, NULL, NULL, err);
    if (st == EEM_OK && !done)
        st = eem_error_set(err, EEM_ERR_HTTP, "gRPC call to %s was lost", url);
    if (st == EEM_OK && !req.ok) {
        if (failure) {
            failure->unreachable = req.unreachable;
            failure->grpc_code = s && s->lines.status > 0 ? s->lines.status : 0;
        }
        char what[1024];
        eem_http_describe_failure(&req, what, sizeof what);
        st = eem_error_set(err, EEM_ERR_HTTP, "%s", what);
    }
    if (st == EEM_OK) {
        *answer = req.response;
        *answer_len = req.response_len;
        req.response = NULL;
    }
    eem_http_request_clear(&req);
    eem_http_multi_free(m);
    eem_buf_free(&framed);
    return st;
}
