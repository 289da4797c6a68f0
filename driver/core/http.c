/* http.c — the libcurl multi transport (see http.h).
 *
 * Owns: process-wide libcurl state (global init, one CURLSH sharing DNS and TLS
 * sessions under mutexes, a pool of idle curl multi handles that keeps their
 * keep-alive connections), the per-multi request queue with its connection
 * cap, retries scheduled without blocking other transfers (a 503 paced by the
 * server's other answers), response size
 * limits, redacted verbose logging and failure descriptions.
 *
 * Keep-alive across reads and datasets: a connection cache lives in a curl
 * multi handle, and eem_http_multi_free() puts the handle back in the pool for
 * the next eem_http_multi_new(), in whichever thread.  Connections are not put
 * in the CURLSH because libcurl < 8.x documents its shared connection cache as
 * not thread-safe (curl known bug 11.11; Debian 12 has 7.88) and QGIS reads
 * from several threads.  A pooled multi handle is used by one thread at a time.
 *
 * This uses the OpenSSL libcurl we link; GDAL's own (GnuTLS) libcurl never
 * sees our handles. */
#define _POSIX_C_SOURCE 200809L

#include "http.h"

#include "buf.h"
#include "config_values.h"
#include "str.h"
#include "endpoint.h"
#include "notice.h"
#include "request_headers.h"
#include "url.h"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <curl/curl.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define EEM_HTTP_MAX_PROTOCOL_LINES 8
#define EEM_HTTP_MAX_BACKOFF_S 60.0
#define EEM_HTTP_MAX_RETRY_AFTER_S 300.0
#define EEM_HTTP_JITTER 0.25
/* A 503 answered while the same server is answering other requests of this
 * transport is retried when the next of them succeeds: the server is serving,
 * one of its slots has just freed, and the retry takes that slot instead of
 * sitting out a timed delay at the end of a read.  For this many retries of
 * one request; then (and with a Retry-After, or nothing else in flight) the
 * timed back-off.  A retry never adds to the requests in flight: each success
 * releases at most one. */
#define EEM_HTTP_ANSWER_PACED_RETRIES 2
#define EEM_HTTP_POLL_MS 100
#define EEM_HTTP_BODY_EXCERPT 300
/* libcurl's receive buffer (its default: 16 KiB): a multi-megabyte answer is
 * taken in a few hundred reads instead of thousands, each a system call and a
 * callback (larger ones gained nothing more and fragment the heap) */
#define EEM_HTTP_RECEIVE_BUFFER_BYTES (128L * 1024)
#define EEM_HTTP_IDLE_MULTI_POOL 16     /* idle multi handles kept with their connections */
#define EEM_HTTP_MIN_IDLE_CONNECTIONS 8 /* idle connections a multi handle keeps open */

/* ---- options ------------------------------------------------------------ */

void eem_http_options_from_config(eem_http_options *o)
{
    o->max_connections = (int)eem_config_number(EEM_NUM_MAX_CONNECTIONS);
    o->timeout_s = eem_config_number(EEM_NUM_HTTP_TIMEOUT);
    o->connect_timeout_s = eem_config_number(EEM_NUM_HTTP_CONNECTTIMEOUT);
    o->max_retry = (int)eem_config_number(EEM_NUM_HTTP_MAX_RETRY);
    o->retry_delay_s = eem_config_number(EEM_NUM_HTTP_RETRY_DELAY);
    o->max_response_bytes = (long)eem_config_number(EEM_NUM_MAX_RESPONSE_BYTES);
    o->unsafe_ssl = CPLTestBool(CPLGetConfigOption("GDAL_HTTP_UNSAFESSL", "NO")) ? 1 : 0;
    o->verbose = CPLTestBool(CPLGetConfigOption("CPL_CURL_VERBOSE", "NO")) ? 1 : 0;
    o->max_wait_s = 0;
}

/* ---- process-wide libcurl state ------------------------------------------ */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_code = CURLE_FAILED_INIT;
static CURLSH *g_share;
static pthread_mutex_t g_share_locks[CURL_LOCK_DATA_LAST];

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *user)
{
    (void)h, (void)access, (void)user;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&g_share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *user)
{
    (void)h, (void)user;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&g_share_locks[data]);
}

static void curl_init_once(void)
{
    g_curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (g_curl_init_code != CURLE_OK)
        return;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&g_share_locks[i], NULL);
    CURLSH *sh = curl_share_init();
    if (!sh)
        return; /* still works, only without cross-handle keep-alive */
    if (curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        curl_share_cleanup(sh);
        return;
    }
    g_share = sh;
}

static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static CURLM *g_idle_multis[EEM_HTTP_IDLE_MULTI_POOL];
static int g_n_idle_multis;

/* An idle multi handle with its open connections, or a new one. */
static CURLM *multi_handle_take(void)
{
    CURLM *cm = NULL;
    pthread_mutex_lock(&g_pool_lock);
    if (g_n_idle_multis > 0)
        cm = g_idle_multis[--g_n_idle_multis];
    pthread_mutex_unlock(&g_pool_lock);
    return cm ? cm : curl_multi_init();
}

/* Give back a multi handle without easy handles; closed when the pool is full. */
static void multi_handle_give_back(CURLM *cm)
{
    pthread_mutex_lock(&g_pool_lock);
    if (g_n_idle_multis < EEM_HTTP_IDLE_MULTI_POOL) {
        g_idle_multis[g_n_idle_multis++] = cm;
        cm = NULL;
    }
    pthread_mutex_unlock(&g_pool_lock);
    if (cm)
        curl_multi_cleanup(cm);
}

/* ---- time and jitter ---------------------------------------------------- */

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: uniform in [0, 1). */
static double next_uniform(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* ---- transfers ---------------------------------------------------------- */

typedef enum xfer_state { XFER_WAITING, XFER_RUNNING, XFER_DONE } xfer_state;

typedef struct xfer {
    eem_http_request *req;
    eem_http_multi *m;
    CURL *easy;
    struct curl_slist *headers;
    eem_buf body;
    xfer_state state;
    double due;           /* monotonic time before which a retry must not start */
    double retry_after_s; /* from the last answer's Retry-After, < 0 if none */
    int paced;            /* WAITING: also due when another transfer succeeds */
    int too_large;
    int out_of_memory;
    char errbuf[CURL_ERROR_SIZE];
    struct xfer *prev, *next;
} xfer;

/* Answer buffers kept for reuse (eem_http_multi_recycle), and the most bytes
 * reserved up front from a Content-Length (a larger answer grows as it comes). */
#define EEM_HTTP_SPARE_BUFFERS 8
#define EEM_HTTP_PRESIZE_MAX ((size_t)64 << 20)

struct eem_http_multi {
    eem_buf spare[EEM_HTTP_SPARE_BUFFERS]; /* empty buffers with capacity */
    int n_spare;
    eem_http_options opts;
    CURLM *multi;
    xfer *head, *tail; /* every request not yet handed back, in the order added */
    int n_running;
    uint64_t rng;
    int long_wait_told; /* the notice of a long wait was given */
};

static void list_unlink(eem_http_multi *m, xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        m->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        m->tail = x->prev;
    x->prev = x->next = NULL;
}

static void list_append(eem_http_multi *m, xfer *x)
{
    x->prev = m->tail;
    x->next = NULL;
    if (m->tail)
        m->tail->next = x;
    else
        m->head = x;
    m->tail = x;
}

/* Release the transport state of x; the request keeps its out fields. */
static void xfer_free(xfer *x)
{
    if (!x)
        return;
    if (x->easy) {
        if (x->state == XFER_RUNNING && x->m)
            curl_multi_remove_handle(x->m->multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->headers);
    eem_buf_free(&x->body);
    if (x->req)
        x->req->internal = NULL;
    free(x);
}

/* Give x a recycled answer buffer when it has none yet. */
static void body_take_spare(xfer *x)
{
    eem_http_multi *m = x->m;
    if (x->body.data || m->n_spare == 0)
        return;
    x->body = m->spare[--m->n_spare];
    memset(&m->spare[m->n_spare], 0, sizeof m->spare[m->n_spare]);
    eem_buf_reset(&x->body);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    xfer *x = user;
    size_t n = size * nmemb;
    body_take_spare(x);
    long max = x->m->opts.max_response_bytes;
    if (max > 0 && (x->body.len + n > (size_t)max)) {
        x->too_large = 1;
        return 0;
    }
    if (eem_buf_append(&x->body, data, n) != 0) {
        x->out_of_memory = 1;
        return 0;
    }
    return n;
}

/* Value of header `name` in line, or NULL; *len gets the trimmed length. */
static const char *header_value(const char *line, size_t n, const char *name, size_t *len)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return NULL;
    const char *v = line + k + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && isspace((unsigned char)e[-1]))
        e--;
    *len = (size_t)(e - v);
    return v;
}

static double parse_retry_after(const char *v, size_t len)
{
    char text[128];
    if (len == 0 || len >= sizeof text)
        return -1;
    memcpy(text, v, len);
    text[len] = '\0';
    char *end;
    errno = 0;
    double s = strtod(text, &end);
    if (end != text && !*end && !errno && isfinite(s))
        return s < 0 ? 0 : s;
    time_t when = curl_getdate(text, NULL);
    if (when == (time_t)-1)
        return -1;
    double d = difftime(when, time(NULL));
    return d < 0 ? 0 : d;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
    xfer *x = user;
    size_t n = size * nmemb, len;
    const char *v;
    if (x->req->hooks && x->req->hooks->header_line)
        x->req->hooks->header_line(x->req, data, n);
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) { /* a new response starts */
        x->retry_after_s = -1;
    } else if ((v = header_value(data, n, "Content-Length", &len))) {
        char text[32];
        if (len > 0 && len < sizeof text) {
            memcpy(text, v, len);
            text[len] = '\0';
            long long cl = strtoll(text, NULL, 10);
            long max = x->m->opts.max_response_bytes;
            if (max > 0 && cl > max) {
                x->too_large = 1;
                return 0;
            }
            if (cl > 0) { /* room for the whole answer at once (a hint: failure is not fatal) */
                body_take_spare(x);
                size_t want = (unsigned long long)cl < EEM_HTTP_PRESIZE_MAX ? (size_t)cl
                                                                            : EEM_HTTP_PRESIZE_MAX;
                if (want > x->body.len) {
                    eem_buf probe = x->body;
                    if (eem_buf_reserve(&probe, want - x->body.len) == 0)
                        x->body = probe; /* on failure x->body is unchanged */
                }
            }
        }
    } else if ((v = header_value(data, n, "Retry-After", &len))) {
        x->retry_after_s = parse_retry_after(v, len);
    }
    return n;
}

static int headers_have(const char *const *headers, const char *name)
{
    size_t k = strlen(name);
    for (int i = 0; headers && headers[i]; i++)
        if (strncasecmp(headers[i], name, k) == 0 && (headers[i][k] == ':' || headers[i][k] == ';'))
            return 1;
    return 0;
}

/* The protocol lines of x's request: its own, then the defaults it lacks. */
static void protocol_lines(const eem_http_request *req, const char **lines, size_t cap)
{
    static const char *const defaults[][2] = {{"Content-Type", "Content-Type: application/json"},
                                              {"Accept", "Accept: application/json"},
                                              {"Expect", "Expect:"}};
    size_t n = 0;
    for (int i = 0; req->headers && req->headers[i] && n + 4 < cap; i++)
        lines[n++] = req->headers[i];
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (!headers_have(req->headers, defaults[i][0]))
            lines[n++] = defaults[i][1];
    lines[n] = NULL;
}

static eem_status setup_easy(xfer *x, eem_error *err)
{
    const eem_http_options *o = &x->m->opts;
    const eem_http_request *req = x->req;
    CURL *e = x->easy = curl_easy_init();
    if (!e)
        return eem_error_set(err, EEM_ERR_NOMEM, "cannot create a libcurl handle");
    const char *lines[EEM_HTTP_MAX_PROTOCOL_LINES + 4];
    protocol_lines(req, lines, sizeof lines / sizeof lines[0]);
    eem_request_lines wire = {req->url, lines, req->secret_headers, 0, "EEMODEL curl"};
    eem_status st = eem_request_prepare(e, &wire, &x->headers, err);
    if (st)
        return st;
    CURLcode c = CURLE_OK;
#define SET(opt, val)                                                                      \
    do {                                                                                   \
        if (c == CURLE_OK)                                                                 \
            c = curl_easy_setopt(e, opt, val);                                             \
    } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    if (req->get) {
        SET(CURLOPT_HTTPGET, 1L); /* metadata: no body */
    } else {
        SET(CURLOPT_POST, 1L);
        /* never NULL: a NULL body would make libcurl read stdin */
        SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
    }
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_BUFFERSIZE, EEM_HTTP_RECEIVE_BUFFER_BYTES);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, (long)(o->timeout_s * 1000.0));
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(o->connect_timeout_s * 1000.0));
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    SET(CURLOPT_PRIVATE, x);
    if (g_share)
        SET(CURLOPT_SHARE, g_share);
#undef SET
    if (c != CURLE_OK) {
        char shown[1024];
        eem_url_for_display(req->url, shown, sizeof shown);
        return eem_error_set(err, EEM_ERR_HTTP, "cannot configure the request to %s: %s", shown,
                             curl_easy_strerror(c));
    }
    if (req->hooks && req->hooks->configure)
        return req->hooks->configure(x->req, e, err);
    return EEM_OK;
}

/* ---- the multi handle --------------------------------------------------- */

eem_status eem_http_global_init(eem_error *err)
{
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_code != CURLE_OK)
        return eem_error_set(err, EEM_ERR_HTTP, "libcurl initialisation failed: %s",
                             curl_easy_strerror(g_curl_init_code));
    return EEM_OK;
}

eem_status eem_http_multi_new(const eem_http_options *opts, eem_http_multi **out, eem_error *err)
{
    *out = NULL;
    eem_status st = eem_http_global_init(err);
    if (st != EEM_OK)
        return st;
    eem_http_multi *m = calloc(1, sizeof *m);
    if (!m)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory creating the HTTP transport");
    if (opts)
        m->opts = *opts;
    else
        eem_http_options_from_config(&m->opts);
    if (m->opts.max_connections < 1)
        m->opts.max_connections = 1;
    if (m->opts.max_retry < 0)
        m->opts.max_retry = 0;
    m->rng = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)m << 16) ^ 0x9E3779B97F4A7C15ULL;
    if (!m->rng)
        m->rng = 1;
    m->multi = multi_handle_take();
    if (!m->multi) {
        free(m);
        return eem_error_set(err, EEM_ERR_HTTP, "cannot create a libcurl multi handle");
    }
    long idle = m->opts.max_connections > EEM_HTTP_MIN_IDLE_CONNECTIONS
                    ? m->opts.max_connections
                    : EEM_HTTP_MIN_IDLE_CONNECTIONS;
    curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(m->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)m->opts.max_connections);
    curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, idle);
    *out = m;
    return EEM_OK;
}

eem_status eem_http_multi_add(eem_http_multi *m, eem_http_request *req, eem_error *err)
{
    if (!req || !req->url || !*req->url)
        return eem_error_set(err, EEM_ERR_INVALID, "HTTP request without a URL");
    req->status = 0;
    req->response = NULL;
    req->response_len = 0;
    req->response_cap = 0;
    req->error[0] = '\0';
    req->attempts = 0;
    req->ok = 0;
    req->unreachable = 0;
    req->retries_exhausted = 0;
    xfer *x = calloc(1, sizeof *x);
    if (!x)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory queueing an HTTP request");
    x->req = req;
    x->m = m;
    x->state = XFER_WAITING;
    x->retry_after_s = -1;
    eem_status st = setup_easy(x, err);
    if (st) {
        xfer_free(x);
        return st;
    }
    req->internal = x;
    list_append(m, x);
    return EEM_OK;
}

/* What a server that cannot be reached at all looks like: no retry helps, so
 * the caller hears of it at once.  NULL for other codes. */
static const char *transport_error_unreachable(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
        return "nothing accepts connections there";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "the host name does not resolve";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
        return "the TLS handshake or the certificate check failed";
    default:
        return NULL;
    }
}

static int transport_error_is_retryable(CURLcode c)
{
    switch (c) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static int status_is_retryable(long s)
{
    return s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static double retry_delay_s(eem_http_multi *m, const xfer *x)
{
    double cap = m->opts.max_wait_s > 0 ? m->opts.max_wait_s : EEM_HTTP_MAX_RETRY_AFTER_S;
    if (x->retry_after_s >= 0)
        return x->retry_after_s < cap ? x->retry_after_s : cap;
    int k = x->req->attempts - 1;
    double d = m->opts.retry_delay_s * ldexp(1.0, k < 30 ? k : 30);
    d *= 1.0 + EEM_HTTP_JITTER * (2.0 * next_uniform(&m->rng) - 1.0);
    if (d > EEM_HTTP_MAX_BACKOFF_S)
        d = EEM_HTTP_MAX_BACKOFF_S;
    return d < cap ? d : cap;
}

/* A retry of x is due in delay seconds: one debug line each time, and a
 * notice the first time this transport waits long, so that a user is not
 * left in silence while a busy server is waited for. */
static void tell_retry(eem_http_multi *m, const xfer *x, double delay)
{
    const eem_http_request *req = x->req;
    char url[512], why[600];
    eem_url_for_display(req->url ? req->url : "", url, sizeof url);
    if (req->error[0])
        snprintf(why, sizeof why, "%s", req->error);
    else
        snprintf(why, sizeof why, "HTTP %ld", req->status);
    CPLDebug("EEMODEL", "retry %d of %d for %s %s %.1f s: %s", req->attempts, m->opts.max_retry,
             url, x->paced ? "when another request is answered, at most in" : "in", delay, why);
    if (x->paced || delay < EEM_HTTP_LONG_WAIT_S || m->long_wait_told)
        return;
    m->long_wait_told = 1;
    eem_notice("%s answered %s; waiting %.0f s before retry %d of %d "
               "(GDAL_HTTP_MAX_RETRY=%d, GDAL_HTTP_RETRY_DELAY=%g; Retry-After honoured up to "
               "%.0f s). Interrupt to stop.",
               url, why, delay, req->attempts, m->opts.max_retry, m->opts.max_retry,
               m->opts.retry_delay_s,
               m->opts.max_wait_s > 0 ? m->opts.max_wait_s : EEM_HTTP_MAX_RETRY_AFTER_S);
}

static void start_transfer(eem_http_multi *m, xfer *x)
{
    eem_http_request *req = x->req;
    eem_buf_reset(&x->body);
    x->too_large = x->out_of_memory = 0;
    x->paced = 0;
    x->retry_after_s = -1;
    x->errbuf[0] = '\0';
    req->attempts++;
    if (req->hooks && req->hooks->attempt_start)
        req->hooks->attempt_start(req);
    CURLMcode mc = curl_multi_add_handle(m->multi, x->easy);
    if (mc != CURLM_OK) {
        snprintf(req->error, sizeof req->error, "cannot start the transfer: %s",
                 curl_multi_strerror(mc));
        req->status = 0;
        x->state = XFER_DONE;
        return;
    }
    x->state = XFER_RUNNING;
    m->n_running++;
}

/* Whether the retry of x, whose attempt ended with c and status, may also be
 * released by the next success of another transfer: a 503 without Retry-After
 * while others are in flight (EEM_HTTP_ANSWER_PACED_RETRIES). */
static int retry_is_answer_paced(const eem_http_multi *m, const xfer *x, CURLcode c, long status)
{
    return c == CURLE_OK && status == 503 && x->retry_after_s < 0 && m->n_running > 0 &&
           x->req->attempts <= EEM_HTTP_ANSWER_PACED_RETRIES;
}

/* A transfer succeeded: the first retry waiting for that is due now. */
static void release_paced_retry(eem_http_multi *m)
{
    for (xfer *x = m->head; x; x = x->next)
        if (x->state == XFER_WAITING && x->paced) {
            x->paced = 0;
            x->due = monotonic_s();
            return;
        }
}

/* One attempt of x ended with code c: schedule a retry or make it DONE. */
static void finish_attempt(eem_http_multi *m, xfer *x, CURLcode c)
{
    eem_http_request *req = x->req;
    curl_multi_remove_handle(m->multi, x->easy);
    m->n_running--;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    req->status = status;
    req->error[0] = '\0';
    if (c != CURLE_OK) {
        if (x->too_large)
            snprintf(req->error, sizeof req->error,
                     "the response is larger than EEMODEL_MAX_RESPONSE_BYTES=%ld bytes",
                     m->opts.max_response_bytes);
        else if (x->out_of_memory)
            snprintf(req->error, sizeof req->error, "out of memory receiving the response");
        else
            snprintf(req->error, sizeof req->error, "%s",
                     x->errbuf[0] ? x->errbuf : curl_easy_strerror(c));
        size_t n = strlen(req->error); /* libcurl's messages end with a newline */
        while (n > 0 && isspace((unsigned char)req->error[n - 1]))
            req->error[--n] = '\0';
        const char *unreachable = transport_error_unreachable(c);
        if (unreachable && !x->too_large && !x->out_of_memory) {
            req->unreachable = 1;
            snprintf(req->error + n, sizeof req->error - n, " (%s; not retried)", unreachable);
        }
    }
    req->ok = c == CURLE_OK && status >= 200 && status < 300;
    int retryable = !req->ok && (c == CURLE_OK ? status_is_retryable(status)
                                               : !x->too_large && !x->out_of_memory &&
                                                     transport_error_is_retryable(c));
    if (req->hooks && req->hooks->attempt_end && !x->out_of_memory)
        retryable = req->hooks->attempt_end(req, (int)c, x->body.data, &x->body.len, retryable);
    if (retryable == EEM_HTTP_RETRY_AT_ONCE) { /* never reached the server */
        CPLDebug("EEMODEL", "connection gone; attempt %d starts again at once", req->attempts);
        req->attempts--;
        start_transfer(m, x);
        return;
    }
    if (retryable && req->attempts <= m->opts.max_retry) {
        double delay = retry_delay_s(m, x);
        x->paced = retry_is_answer_paced(m, x, c, status);
        tell_retry(m, x, delay);
        x->due = monotonic_s() + delay;
        x->state = XFER_WAITING;
        return;
    }
    req->retries_exhausted = retryable;
    x->state = XFER_DONE;
    if (req->ok)
        release_paced_retry(m);
}

static void collect_finished(eem_http_multi *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        xfer *x = (xfer *)priv;
        if (x && x->state == XFER_RUNNING)
            finish_attempt(m, x, msg->data.result);
    }
}

/* Hand x's request back to the caller and free the transport state. */
static eem_http_request *deliver(eem_http_multi *m, xfer *x)
{
    eem_http_request *req = x->req;
    list_unlink(m, x);
    req->response_len = x->body.len;
    req->response_cap = x->body.cap;
    req->response = eem_buf_take(&x->body);
    if (!req->response) {
        req->response_len = 0;
        req->ok = 0;
        snprintf(req->error, sizeof req->error, "out of memory receiving the response");
    }
    xfer_free(x);
    return req;
}

/* Drop every request without handing it back (their out fields say why). */
static void abandon_all(eem_http_multi *m, const char *why)
{
    while (m->head) {
        xfer *x = m->head;
        list_unlink(m, x);
        if (x->state == XFER_RUNNING)
            m->n_running--;
        x->req->ok = 0;
        snprintf(x->req->error, sizeof x->req->error, "%s", why);
        xfer_free(x);
    }
}

eem_status eem_http_multi_next(eem_http_multi *m, eem_http_request **done,
                               int (*cancel)(void *), void *cancel_user, eem_error *err)
{
    return eem_http_multi_next_until(m, done, HUGE_VAL, cancel, cancel_user, err);
}

double eem_http_clock(void)
{
    return monotonic_s();
}

eem_status eem_http_multi_next_until(eem_http_multi *m, eem_http_request **done, double until,
                                     int (*cancel)(void *), void *cancel_user, eem_error *err)
{
    *done = NULL;
    for (;;) {
        for (xfer *x = m->head; x; x = x->next)
            if (x->state == XFER_DONE) {
                *done = deliver(m, x);
                return EEM_OK;
            }
        if (!m->head)
            return EEM_OK;
        if (cancel && cancel(cancel_user)) {
            abandon_all(m, "cancelled");
            return eem_error_set(err, EEM_ERR_CANCELLED,
                                 "interrupted by the caller; requests in flight abandoned");
        }

        double now = monotonic_s(), next_due = HUGE_VAL;
        for (xfer *x = m->head; x; x = x->next) {
            if (x->state != XFER_WAITING)
                continue;
            if (x->due > now) {
                if (x->due < next_due)
                    next_due = x->due;
            } else if (m->n_running < m->opts.max_connections) {
                start_transfer(m, x);
            }
        }

        int still_running = 0;
        CURLMcode mc = curl_multi_perform(m->multi, &still_running);
        if (mc != CURLM_OK) {
            abandon_all(m, "transport failure");
            return eem_error_set(err, EEM_ERR_HTTP, "libcurl failure: %s", curl_multi_strerror(mc));
        }
        collect_finished(m);

        int any_done = 0;
        for (xfer *x = m->head; x && !any_done; x = x->next)
            any_done = x->state == XFER_DONE;
        if (any_done)
            continue;
        if (monotonic_s() >= until)
            return EEM_OK; /* after one pass at least: a deadline already past polls */

        int timeout_ms = EEM_HTTP_POLL_MS;
        if (until < HUGE_VAL && (until - monotonic_s()) * 1000.0 < timeout_ms)
            timeout_ms = until <= monotonic_s() ? 0 : (int)ceil((until - monotonic_s()) * 1000.0);
        if (next_due < HUGE_VAL && m->n_running < m->opts.max_connections) {
            double wait_ms = ceil((next_due - monotonic_s()) * 1000.0);
            if (wait_ms < timeout_ms)
                timeout_ms = wait_ms < 0 ? 0 : (int)wait_ms;
        }
        mc = curl_multi_poll(m->multi, NULL, 0, timeout_ms, NULL);
        if (mc != CURLM_OK) {
            abandon_all(m, "transport failure");
            return eem_error_set(err, EEM_ERR_HTTP, "libcurl failure: %s", curl_multi_strerror(mc));
        }
    }
}

void eem_http_multi_free(eem_http_multi *m)
{
    if (!m)
        return;
    abandon_all(m, "abandoned");
    multi_handle_give_back(m->multi);
    for (int k = 0; k < m->n_spare; k++)
        eem_buf_free(&m->spare[k]);
    free(m);
}

const void *eem_http_request_connection_cache(const eem_http_request *req)
{
    const xfer *x = req ? req->internal : NULL;
    return x && x->m ? x->m->multi : NULL;
}

void eem_http_multi_recycle(eem_http_multi *m, eem_http_request *req)
{
    if (!m || !req || !req->response)
        return;
    if (m->n_spare < EEM_HTTP_SPARE_BUFFERS && req->response_cap > 0) {
        eem_buf *b = &m->spare[m->n_spare++];
        b->data = req->response;
        b->cap = req->response_cap;
        b->len = 0;
        b->failed = 0;
        b->data[0] = '\0';
    } else {
        free(req->response);
    }
    req->response = NULL;
    req->response_len = 0;
    req->response_cap = 0;
}

void eem_http_request_clear(eem_http_request *req)
{
    if (!req)
        return;
    if (req->hooks && req->hooks->release)
        req->hooks->release(req);
    free(req->response);
    req->response = NULL;
    req->response_len = 0;
    req->response_cap = 0;
}

/* ---- failure descriptions ----------------------------------------------- */

void eem_http_describe_failure(const eem_http_request *req, char *buf, size_t buflen)
{
    if (!buf || buflen == 0)
        return;
    char url[1024];
    eem_url_for_display(req->url ? req->url : "", url, sizeof url);
    char attempts[48] = "";
    if (req->attempts > 1)
        snprintf(attempts, sizeof attempts, " (after %d attempts)", req->attempts);
    if (req->error[0]) {
        if (req->status)
            snprintf(buf, buflen, "request to %s failed (HTTP %ld): %s%s", url, req->status,
                     req->error, attempts);
        else
            snprintf(buf, buflen, "request to %s failed: %s%s", url, req->error, attempts);
        return;
    }
    if (req->status == 0) {
        snprintf(buf, buflen, "request to %s failed: no answer%s", url, attempts);
        return;
    }
    char msg[EEM_HTTP_BODY_EXCERPT + 80];
    const char *body = req->response ? req->response : "";
    size_t len = req->response ? req->response_len : 0;
    if (!req->error_message || !req->error_message(body, len, msg, sizeof msg))
        eem_str_excerpt(body, len, EEM_HTTP_BODY_EXCERPT, msg, sizeof msg);
    snprintf(buf, buflen, "HTTP %ld from %s: %s%s", req->status, url,
             msg[0] ? msg : "(empty body)", attempts);
}
