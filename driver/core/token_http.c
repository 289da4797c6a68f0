/* token_http.c — blocking HTTP for token endpoints and the metadata server
 * (see token_http.h).
 *
 * Owns: one easy handle per attempt, timeouts, TLS verification, the response
 * cap (wiped as it grows) and retries of transient failures.  libcurl's global
 * initialisation and the redacted verbose output are http.c's.  Secrets
 * travel in request/response bodies only, and bodies are never printed. */
#define _POSIX_C_SOURCE 200809L

#include "token_http.h"

#include "secret.h"
#include "buf.h"
#include "http.h"
#include "request_headers.h"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define EEM_TOKEN_HTTP_RETRY_DELAY_S 0.25
#define EEM_TOKEN_HTTP_MAX_ATTEMPTS 5

typedef struct transfer {
    eem_buf body;
    int too_large;
    int metadata_flavor;
} transfer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    transfer *t = user;
    size_t n = size * nmemb;
    if (t->body.len + n > EEM_TOKEN_HTTP_MAX_RESPONSE_BYTES) {
        t->too_large = 1;
        return 0;
    }
    /* grow by hand so that no unwiped copy of the secret is left behind */
    if (t->body.len + n + 1 > t->body.cap) {
        size_t cap = t->body.cap ? t->body.cap : 4096;
        while (cap < t->body.len + n + 1)
            cap *= 2;
        char *d = malloc(cap);
        if (!d)
            return 0;
        if (t->body.data) {
            memcpy(d, t->body.data, t->body.len);
            OPENSSL_cleanse(t->body.data, t->body.cap);
            free(t->body.data);
        }
        t->body.data = d;
        t->body.cap = cap;
    }
    memcpy(t->body.data + t->body.len, data, n);
    t->body.len += n;
    t->body.data[t->body.len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
    transfer *t = user;
    size_t n = size * nmemb;
    static const char name[] = "Metadata-Flavor:";
    size_t k = sizeof name - 1;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        t->metadata_flavor = 0; /* a new response starts */
    } else if (n > k && strncasecmp(data, name, k) == 0) {
        const char *v = data + k, *e = data + n;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        while (e > v && isspace((unsigned char)e[-1]))
            e--;
        t->metadata_flavor = (size_t)(e - v) == 6 && strncmp(v, "Google", 6) == 0;
    }
    return n;
}

static int status_is_retryable(long s)
{
    return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static int code_is_retryable(CURLcode c)
{
    return c == CURLE_COULDNT_CONNECT || c == CURLE_SEND_ERROR || c == CURLE_RECV_ERROR ||
           c == CURLE_GOT_NOTHING || c == CURLE_PARTIAL_FILE;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* One attempt; fills ans.  *transient: a transport failure worth retrying. */
static eem_status attempt(const eem_token_http *req, eem_token_http_answer *ans, int *transient,
                          eem_error *err)
{
    eem_status st = EEM_OK;
    transfer t = {0};
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *e = curl_easy_init();
    if (!e)
        return eem_error_set(err, EEM_ERR_NOMEM, "cannot create a libcurl handle");
    const char *lines[] = {"Accept: application/json", "Expect:",
                           req->metadata ? "Metadata-Flavor: Google" : NULL, NULL};
    /* the one door: the form (credentials) only over https or to loopback */
    eem_request_lines wire = {req->url, lines, NULL, req->form != NULL, "EEMODEL auth curl"};
    if ((st = eem_request_prepare(e, &wire, &headers, err)) != EEM_OK)
        goto done;
    CURLcode c = CURLE_OK;
#define SET(opt, val)                                                                      \
    do {                                                                                   \
        if (c == CURLE_OK)                                                                 \
            c = curl_easy_setopt(e, opt, val);                                             \
    } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    if (req->form) {
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDS, req->form);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->form));
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
    if (req->metadata)
        SET(CURLOPT_NOPROXY, "*"); /* the metadata server is never behind a proxy */
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, (long)(req->timeout_s * 1000.0));
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(req->connect_timeout_s * 1000.0));
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, &t);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, &t);
    SET(CURLOPT_ERRORBUFFER, errbuf);
#undef SET
    if (c != CURLE_OK) {
        st = eem_error_set(err, EEM_ERR_HTTP, "cannot configure the credentials request: %s",
                           curl_easy_strerror(c));
        goto done;
    }
    c = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &ans->status);
    ans->metadata_flavor = t.metadata_flavor;
    if (c != CURLE_OK) {
        snprintf(ans->error, sizeof ans->error, "%s",
                 t.too_large ? "the answer is larger than 1 MiB"
                 : errbuf[0] ? errbuf
                             : curl_easy_strerror(c));
        size_t n = strlen(ans->error);
        while (n > 0 && isspace((unsigned char)ans->error[n - 1]))
            ans->error[--n] = '\0';
        if (!ans->error[0])
            snprintf(ans->error, sizeof ans->error, "transfer failed");
    }
    ans->len = t.body.len;
    ans->body = t.body.data;
    t.body.data = NULL;
    if (!ans->body) {
        ans->body = calloc(1, 1);
        ans->len = 0;
    }
    if (!ans->body)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    *transient = c != CURLE_OK && code_is_retryable(c);

done:
    eem_secret_buf_free(&t.body);
    curl_slist_free_all(headers);
    curl_easy_cleanup(e);
    return st;
}

eem_status eem_token_http_perform(const eem_token_http *req, eem_token_http_answer *ans,
                                  eem_error *err)
{
    memset(ans, 0, sizeof *ans);
    eem_status init = eem_http_global_init(err);
    if (init != EEM_OK)
        return init;
    int attempts = req->max_attempts < 1 ? 1 : req->max_attempts;
    if (attempts > EEM_TOKEN_HTTP_MAX_ATTEMPTS)
        attempts = EEM_TOKEN_HTTP_MAX_ATTEMPTS;
    for (int k = 0;; k++) {
        eem_token_http_answer_clear(ans);
        int transient = 0;
        eem_status st = attempt(req, ans, &transient, err);
        if (st != EEM_OK)
            return st;
        int retry = ans->error[0] ? transient : status_is_retryable(ans->status);
        if (!retry || k + 1 >= attempts)
            return EEM_OK;
        sleep_s(EEM_TOKEN_HTTP_RETRY_DELAY_S * (double)(1 << k));
    }
}

void eem_token_http_answer_clear(eem_token_http_answer *ans)
{
    if (!ans)
        return;
    if (ans->body) {
        OPENSSL_cleanse(ans->body, ans->len);
        free(ans->body);
    }
    ans->body = NULL;
    ans->len = 0;
    ans->status = 0;
    ans->metadata_flavor = 0;
    ans->error[0] = '\0';
}
