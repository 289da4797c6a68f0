/* http.h — libcurl multi transport: concurrency, retries, timeouts, size limits.
 *
 * An eem_http_multi runs many POST requests over one curl multi handle with at
 * most max_connections in flight, keep-alive connections shared process-wide.
 * Retryable answers (429, 500, 502, 503, 504, timeouts, dropped connections)
 * are retried with exponential backoff and jitter, honouring Retry-After, up
 * to max_retry times; the caller only ever sees a request once, when it is
 * finally done.  A server that cannot be reached at all (connection refused,
 * name not resolved, TLS failure) is not retried: the request is done at once
 * with unreachable set.  Each retry is a CPLDebug line; the first wait of
 * EEM_HTTP_LONG_WAIT_S or more is a notice (notice.h).
 * Response bodies above max_response_bytes abort the transfer.  Every request
 * goes through eem_request_prepare() (request_headers.h): the transport rule
 * for secrets and GDAL's HTTP options (http_config.h). */
#ifndef EEM_HTTP_H
#define EEM_HTTP_H

#include "error.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_HTTP_DEFAULT_MAX_CONNECTIONS 8
#define EEM_HTTP_DEFAULT_TIMEOUT_S 600.0
#define EEM_HTTP_DEFAULT_CONNECT_TIMEOUT_S 30.0
/* 10 retries with the 1 s first delay doubling up to the 60 s cap wait about
 * 5 minutes in all: enough to ride out a hosted model's cold start. */
#define EEM_HTTP_DEFAULT_MAX_RETRY 10
#define EEM_HTTP_DEFAULT_RETRY_DELAY_S 1.0
#define EEM_HTTP_DEFAULT_MAX_RESPONSE_BYTES (512L * 1024 * 1024)
#define EEM_HTTP_MAX_CONNECTIONS_LIMIT 256
#define EEM_HTTP_MAX_RETRY_LIMIT 100

typedef struct eem_http_options {
    int max_connections;       /* EEMODEL_MAX_CONNECTIONS */
    double timeout_s;          /* GDAL_HTTP_TIMEOUT */
    double connect_timeout_s;  /* GDAL_HTTP_CONNECTTIMEOUT */
    int max_retry;             /* GDAL_HTTP_MAX_RETRY */
    double retry_delay_s;      /* GDAL_HTTP_RETRY_DELAY */
    long max_response_bytes;   /* EEMODEL_MAX_RESPONSE_BYTES */
    int unsafe_ssl;            /* GDAL_HTTP_UNSAFESSL (informative: http_config.c applies it) */
    int verbose;               /* CPL_CURL_VERBOSE (informative: http_config.c applies it) */
    double max_wait_s;         /* longest wait before one retry (Retry-After included);
                                  0: EEM_HTTP_MAX_RETRY_AFTER_S */
} eem_http_options;

/* A wait before a retry this long or longer is announced with a notice. */
#define EEM_HTTP_LONG_WAIT_S 2.0

/* Defaults overridden by GDAL config options (the numeric ones through
 * config_values.h, which refuses bad values at open and at each read). */
void eem_http_options_from_config(eem_http_options *o);

typedef struct eem_http_request eem_http_request;

/* A protocol layered on an HTTP request (gRPC: grpc_call.c); NULL members are
 * skipped.  configure runs after the easy handle got its defaults (easy is a
 * CURL *); header_line sees every header and trailer line; attempt_end runs
 * when an attempt is over, may rewrite the body in place (*len) and
 * req->ok / status / error, and returns 1 when the attempt may be retried
 * (retryable: http.c's own verdict), or EEM_HTTP_RETRY_AT_ONCE for an
 * attempt the server never saw (a connection found gone): it starts again at
 * once and is not counted against GDAL_HTTP_MAX_RETRY; release frees
 * hook_state. */
#define EEM_HTTP_RETRY_AT_ONCE 2
typedef struct eem_http_hooks {
    eem_status (*configure)(eem_http_request *req, void *easy, eem_error *err);
    void (*attempt_start)(eem_http_request *req);
    void (*header_line)(eem_http_request *req, const char *line, size_t n);
    int (*attempt_end)(eem_http_request *req, int curl_code, char *body, size_t *len,
                       int retryable);
    void (*release)(eem_http_request *req);
} eem_http_hooks;

struct eem_http_request {
    /* in: owned by the caller, must outlive the request */
    const char *url;
    const char *body;
    size_t body_len;
    int get;                    /* 1: a GET without body (metadata); 0: a POST of body */
    const char *const *headers; /* NULL-terminated protocol lines (Content-Type...), may be NULL */
    const char *const *secret_headers; /* credentials and static headers (request_headers.h):
                                        * refused unless https or loopback; may be NULL */
    void *user;                 /* caller's tag */
    /* the backend's error-body reader (backend.h), NULL: a plain excerpt */
    int (*error_message)(const char *body, size_t len, char *buf, size_t buflen);
    const eem_http_hooks *hooks; /* layered protocol (gRPC) or NULL */
    void *hook_state;           /* the hooks' own, freed by their release */
    /* out */
    long status;                /* HTTP status of the last attempt, 0 if none */
    char *response;             /* NUL-terminated body of the last attempt (owned; see clear) */
    size_t response_len;
    size_t response_cap;        /* bytes allocated for response (eem_http_multi_recycle) */
    char error[512];            /* transport error of the last attempt, "" if none */
    int attempts;
    int ok;                     /* 1: a 2xx answer was received */
    int unreachable;            /* 1: connection refused, name not resolved or TLS
                                   failure (not retried) */
    int retries_exhausted;      /* 1: a retryable failure lasted through every retry */
    void *internal;             /* transport state */
};

typedef struct eem_http_multi eem_http_multi;

eem_status eem_http_multi_new(const eem_http_options *opts, eem_http_multi **out, eem_error *err);
/* Queue a request; it starts as soon as a connection slot is free. */
eem_status eem_http_multi_add(eem_http_multi *m, eem_http_request *req, eem_error *err);
/* Drive transfers until one request is finally done (2xx, non-retryable
 * failure, or retries exhausted) and return it in *done; *done is NULL when no
 * request is pending.  cancel (may be NULL) is polled at least every 100 ms;
 * when it returns non-zero every transfer is abandoned and EEM_ERR_CANCELLED
 * returned. */
eem_status eem_http_multi_next(eem_http_multi *m, eem_http_request **done,
                               int (*cancel)(void *), void *cancel_user, eem_error *err);
/* The same, but returns EEM_OK with *done NULL (nothing abandoned) when no
 * request is done by the monotonic time `until` (eem_http_clock()); a time
 * already past moves the transfers on once without waiting. */
eem_status eem_http_multi_next_until(eem_http_multi *m, eem_http_request **done, double until,
                                     int (*cancel)(void *), void *cancel_user, eem_error *err);
/* Monotonic seconds, the clock of eem_http_multi_next_until. */
double eem_http_clock(void);
/* Abandon everything in flight and free the multi handle. */
void eem_http_multi_free(eem_http_multi *m);
/* The connection cache a queued request's transfers go through (an opaque
 * key: the curl multi handle), NULL before eem_http_multi_add. */
const void *eem_http_request_connection_cache(const eem_http_request *req);
/* Hand a finished request's response buffer back to m (req->response is NULL
 * afterwards), so a later answer is received into it instead of into a freshly
 * allocated buffer: multi-megabyte answers would otherwise page-fault on every
 * first touch.  m keeps a few such buffers until eem_http_multi_free. */
void eem_http_multi_recycle(eem_http_multi *m, eem_http_request *req);
/* Free what a finished request owns (response); the struct itself is the caller's. */
void eem_http_request_clear(eem_http_request *req);

/* Shared with the blocking credential calls (token_http.c). */
/* libcurl's process-wide initialisation, done once; EEM_OK or why it failed. */
eem_status eem_http_global_init(eem_error *err);
/* One-line description of a failed request for users: status, the server's
 * message (read by req->error_message when set, else a trimmed excerpt of the
 * body) and the URL without user-info or query string.  Written into buf. */
void eem_http_describe_failure(const eem_http_request *req, char *buf, size_t buflen);

#ifdef __cplusplus
}
#endif
#endif
