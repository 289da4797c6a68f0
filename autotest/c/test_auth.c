/* test_auth.c — the credential chain and the token cache without a server:
 * one fetch shared by concurrent threads (errors included), refresh ahead of
 * expiry, invalidation of a refused token, the old token kept while a refresh
 * fails; chain order and what "nothing found" says, loopback without
 * credentials, the plain-http rule checked before any file is read or token
 * fetched, token files read again when they change, the quota project header,
 * secret-looking static headers, and metadata detection bounded in time
 * against a local socket that never answers; the auth session's decision
 * after an HTTP 401 (renew once per refused token, resend once per request,
 * old lines kept for requests in flight). */
#define _POSIX_C_SOURCE 200809L

#include "auth.h"
#include "check.h"
#include "request_headers.h"
#include "token_cache.h"

#include <cpl_conv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- token cache -------------------------------------------------------- */

typedef struct fetch_script {
    pthread_mutex_t lock;
    int calls;
    int wait_waiters;     /* the fetch returns once this many threads wait for it */
    double lifetime_s;
    int fail;
    const char *key;      /* of the cache entry whose waiters are counted */
} fetch_script;

/* A clock the tests move by hand, so no check depends on the machine's speed. */
static double g_fake_now = 1000.0;
static double fake_clock(void) { return g_fake_now; }

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static eem_status scripted_fetch(void *user, eem_token_fetched *out, eem_error *err)
{
    fetch_script *f = user;
    pthread_mutex_lock(&f->lock);
    int n = ++f->calls;
    pthread_mutex_unlock(&f->lock);
    /* barrier: every other thread is inside the cache, waiting for this fetch */
    while (f->wait_waiters > 0 && eem_token_cache_waiters(f->key) < f->wait_waiters)
        sleep_s(0.001);
    if (f->fail)
        return eem_error_set(err, EEM_ERR_HTTP, "scripted failure %d", n);
    char text[64];
    snprintf(text, sizeof text, "token-%d", n);
    out->token = strdup(text);
    out->quota_project = strdup("quota-q");
    out->lifetime_s = f->lifetime_s;
    return EEM_OK;
}

typedef struct thread_job {
    const char *key;
    fetch_script *script;
    eem_status st;
    char token[64];
    char msg[128];
} thread_job;

static void *thread_get(void *arg)
{
    thread_job *j = arg;
    char *token = NULL, *quota = NULL;
    double refresh_at = 0;
    eem_error err = {0};
    j->st = eem_token_cache_get(j->key, scripted_fetch, j->script, &token, &quota, &refresh_at, &err);
    snprintf(j->token, sizeof j->token, "%s", token ? token : "");
    snprintf(j->msg, sizeof j->msg, "%.120s", err.msg);
    eem_secret_free(token);
    free(quota);
    return NULL;
}

#define N_THREADS 8

static void run_threads(const char *key, fetch_script *s, thread_job *jobs)
{
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        jobs[i].key = key;
        jobs[i].script = s;
        pthread_create(&t[i], NULL, thread_get, &jobs[i]);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
}

static void test_cache_single_flight(void)
{
    fetch_script s = {PTHREAD_MUTEX_INITIALIZER, 0, N_THREADS - 1, 3600, 0, "test:shared"};
    thread_job jobs[N_THREADS];
    memset(jobs, 0, sizeof jobs);
    run_threads("test:shared", &s, jobs);
    CHECK_EQ_INT(s.calls, 1);
    CHECK_EQ_INT(eem_token_cache_fetch_count("test:shared"), 1);
    for (int i = 0; i < N_THREADS; i++) {
        CHECK_EQ_INT(jobs[i].st, EEM_OK);
        CHECK(strcmp(jobs[i].token, "token-1") == 0);
    }

    /* a failed fetch is shared too: one attempt, every thread gets its error */
    fetch_script f = {PTHREAD_MUTEX_INITIALIZER, 0, N_THREADS - 1, 3600, 1, "test:failing"};
    memset(jobs, 0, sizeof jobs);
    run_threads("test:failing", &f, jobs);
    CHECK_EQ_INT(f.calls, 1);
    for (int i = 0; i < N_THREADS; i++) {
        CHECK_EQ_INT(jobs[i].st, EEM_ERR_HTTP);
        CHECK_CONTAINS(jobs[i].msg, "scripted failure 1");
    }
}

static eem_status get(const char *key, fetch_script *s, char **token, double *refresh_at)
{
    char *quota = NULL;
    eem_error err = {0};
    eem_status st = eem_token_cache_get(key, scripted_fetch, s, token, &quota, refresh_at, &err);
    free(quota);
    return st;
}

static void test_cache_refresh_and_invalidate(void)
{
    eem_token_cache_use_clock(fake_clock);
    fetch_script s = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0.4, 0, "test:short"};
    char *t = NULL;
    double refresh_at = 0;
    double t0 = eem_token_cache_clock();
    CHECK_EQ_INT(get("test:short", &s, &t, &refresh_at), EEM_OK);
    CHECK(t && strcmp(t, "token-1") == 0);
    /* refreshed a quarter of the lifetime before expiry */
    CHECK_NEAR(refresh_at - t0, 0.3, 1e-9);
    eem_secret_free(t);
    g_fake_now += 0.29; /* just before refresh_at: the cached token */
    CHECK_EQ_INT(get("test:short", &s, &t, &refresh_at), EEM_OK);
    CHECK_EQ_INT(s.calls, 1);
    eem_secret_free(t);
    g_fake_now += 0.02; /* past refresh_at */
    CHECK_EQ_INT(get("test:short", &s, &t, &refresh_at), EEM_OK);
    CHECK(t && strcmp(t, "token-2") == 0);
    CHECK_EQ_INT(s.calls, 2);

    /* invalidating another token changes nothing; the cached one forces a fetch */
    eem_token_cache_invalidate("test:short", "token-1");
    eem_secret_free(t);
    CHECK_EQ_INT(get("test:short", &s, &t, &refresh_at), EEM_OK);
    CHECK(t && strcmp(t, "token-2") == 0);
    eem_token_cache_invalidate("test:short", t);
    eem_secret_free(t);
    CHECK_EQ_INT(get("test:short", &s, &t, &refresh_at), EEM_OK);
    CHECK(t && strcmp(t, "token-3") == 0);
    eem_secret_free(t);

    /* a refresh ahead of expiry that fails keeps the still-valid token */
    fetch_script r = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 1.0, 0, "test:keep"};
    CHECK_EQ_INT(get("test:keep", &r, &t, &refresh_at), EEM_OK);
    eem_secret_free(t);
    g_fake_now += 0.8; /* past refresh_at (0.75 s), before expiry (1 s) */
    r.fail = 1;
    t = NULL;
    CHECK_EQ_INT(get("test:keep", &r, &t, &refresh_at), EEM_OK);
    CHECK(t && strcmp(t, "token-1") == 0);
    CHECK_EQ_INT(r.calls, 2);
    eem_secret_free(t);
    g_fake_now += 0.25; /* now expired: the failure shows */
    t = NULL;
    CHECK_EQ_INT(get("test:keep", &r, &t, &refresh_at), EEM_ERR_HTTP);
    CHECK(t == NULL);
    eem_token_cache_use_clock(NULL);
}

/* ---- the chain ---------------------------------------------------------- */

static char https_url[] = "https://us-central1-ml.googleapis.com/v1/projects/p/models/m:predict";
static char https_display[] = "https://us-central1-ml.googleapis.com/v1/projects/p/models/m:predict";
static char loop_url[] = "http://127.0.0.1:8080/v1/projects/p/models/m:predict";
static char remote_url[] = "http://10.1.2.3/v1/projects/p/models/m:predict";

static void clear_chain_env(void)
{
    unsetenv("EEMODEL_ACCESS_TOKEN");
    unsetenv("EEMODEL_ACCESS_TOKEN_FILE");
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    unsetenv("GCE_METADATA_HOST");
    unsetenv("GCE_METADATA_ROOT");
    unsetenv("GOOGLE_CLOUD_QUOTA_PROJECT");
    setenv("CLOUDSDK_CONFIG", "/nonexistent/eem-test-gcloud", 1);
    setenv("NO_GCE_CHECK", "true", 1);
}

static void test_chain(void)
{
    eem_endpoint https_ep = {0}, loop_ep = {0}, remote_ep = {0}, tfs_ep = {0};
    https_ep.predict_url = https_ep.display_url = https_url;
    https_ep.google_auth = 1;
    (void)https_display;
    loop_ep.predict_url = loop_ep.display_url = loop_url;
    loop_ep.google_auth = 1;
    remote_ep.predict_url = remote_ep.display_url = remote_url;
    remote_ep.google_auth = 1;
    tfs_ep.predict_url = tfs_ep.display_url = https_url;
    tfs_ep.google_auth = 0;
    eem_auth_lines l;
    eem_error err = {0};
    clear_chain_env();

    /* nothing found: every link named, with how to provide it */
    CHECK_EQ_INT(eem_auth_lines_for(&https_ep, &l, &err), EEM_ERR_INVALID);
    CHECK(l.authorization == NULL);
    CHECK_CONTAINS(err.msg, "no credentials for https://us-central1-ml.googleapis.com");
    const char *order[] = {"EEMODEL_ACCESS_TOKEN:", "EEMODEL_ACCESS_TOKEN_FILE:",
                           "GOOGLE_APPLICATION_CREDENTIALS:", "application-default credentials",
                           "metadata server", NULL};
    const char *prev = err.msg;
    for (int i = 0; order[i]; i++) {
        const char *at = strstr(err.msg, order[i]);
        CHECK(at != NULL && at >= prev);
        if (at)
            prev = at;
    }
    CHECK_CONTAINS(err.msg, "/nonexistent/eem-test-gcloud/application_default_credentials.json");
    CHECK_CONTAINS(err.msg, "NO_GCE_CHECK");
    /* loopback without credentials: no header, no error */
    CHECK_EQ_INT(eem_auth_lines_for(&loop_ep, &l, &err), EEM_OK);
    CHECK(l.authorization == NULL && l.user_project == NULL);

    /* the plain-http rule comes before reading any credentials */
    setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json", 1);
    CHECK_EQ_INT(eem_auth_lines_for(&remote_ep, &l, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "refusing to send the access token from GOOGLE_APPLICATION_CREDENTIALS");
    CHECK_CONTAINS(err.msg, "plain http");
    CHECK(strstr(err.msg, "cannot open") == NULL);
    /* ... while for https the missing file is what fails */
    CHECK_EQ_INT(eem_auth_lines_for(&https_ep, &l, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "cannot open \"/nonexistent/key.json\"");

    /* order: the static token beats the file beats GOOGLE_APPLICATION_CREDENTIALS */
    char path[] = "/tmp/eem_auth_token_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK_EQ_INT(write(fd, "file-token-1\n", 13), 13);
    close(fd);
    setenv("EEMODEL_ACCESS_TOKEN_FILE", path, 1);
    CHECK_EQ_INT(eem_auth_lines_for(&https_ep, &l, &err), EEM_OK);
    CHECK(l.authorization && strcmp(l.authorization, "Authorization: Bearer file-token-1") == 0);
    CHECK_CONTAINS(l.origin, "EEMODEL_ACCESS_TOKEN_FILE");
    CHECK(l.refreshable == 1);
    eem_auth_lines_clear(&l);
    setenv("EEMODEL_ACCESS_TOKEN", "static-1", 1);
    setenv("GOOGLE_CLOUD_QUOTA_PROJECT", "billing-x", 1);
    CHECK_EQ_INT(eem_auth_lines_for(&https_ep, &l, &err), EEM_OK);
    CHECK(l.authorization && strcmp(l.authorization, "Authorization: Bearer static-1") == 0);
    CHECK(l.user_project && strcmp(l.user_project, "x-goog-user-project: billing-x") == 0);
    CHECK_EQ_INT(eem_auth_invalidate(&l), 0); /* a fixed token cannot be refreshed */
    eem_auth_lines_clear(&l);
    /* non-Google URLs never get Google credentials */
    CHECK_EQ_INT(eem_auth_lines_for(&tfs_ep, &l, &err), EEM_OK);
    CHECK(l.authorization == NULL && l.user_project == NULL);
    unsetenv("EEMODEL_ACCESS_TOKEN");
    unsetenv("GOOGLE_CLOUD_QUOTA_PROJECT");

    /* a rewritten token file is read again */
    FILE *f = fopen(path, "w");
    fputs("file-token-22\n", f);
    fclose(f);
    CHECK_EQ_INT(eem_auth_lines_for(&https_ep, &l, &err), EEM_OK);
    CHECK(l.authorization && strcmp(l.authorization, "Authorization: Bearer file-token-22") == 0);
    CHECK_EQ_INT(eem_auth_invalidate(&l), 1);
    eem_auth_lines_clear(&l);
    /* a token file with two lines would inject a header */
    f = fopen(path, "w");
    fputs("abc\nX-Evil: 1\n", f);
    fclose(f);
    CHECK_EQ_INT(eem_auth_lines_for(&https_ep, &l, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "one line");
    CHECK(strstr(err.msg, "X-Evil") == NULL);
    unlink(path);
    unsetenv("EEMODEL_ACCESS_TOKEN_FILE");
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    CPLSetConfigOption("EEMODEL_ACCESS_TOKEN", NULL);
}

/* The auth session after a 401: the first request refused with the current
 * token renews the lines and is resent; another request refused with that same
 * (now retired) token is resent without a second renewal; a request refused
 * twice, an answer that is not 401, a fixed token and a session without
 * credentials are not resent. */
static void test_session(void)
{
    eem_endpoint ep = {0}, loop_ep = {0};
    ep.predict_url = ep.display_url = https_url;
    ep.google_auth = 1;
    loop_ep.predict_url = loop_ep.display_url = loop_url;
    loop_ep.google_auth = 1;
    eem_error err = {0};
    clear_chain_env();
    char path[] = "/tmp/eem_auth_session_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK_EQ_INT(write(fd, "session-t1\n", 11), 11);
    close(fd);
    setenv("EEMODEL_ACCESS_TOKEN_FILE", path, 1);
    const char *statics[] = {"X-Static: 1", NULL};

    eem_auth_session s;
    CHECK_EQ_INT(eem_auth_session_begin(&s, &ep, statics, 1, &err), EEM_OK);
    CHECK(s.headers[0] && strcmp(s.headers[0], "Authorization: Bearer session-t1") == 0);
    CHECK(s.headers[1] && strcmp(s.headers[1], "X-Static: 1") == 0);
    CHECK(s.headers[2] == NULL);
    CHECK_EQ_INT(s.generation, 0);
    const char **first_lines = s.headers;
    FILE *f = fopen(path, "w");
    fputs("session-t2\n", f);
    fclose(f);

    int gen_a = 0, retried_a = 0, gen_b = 0, retried_b = 0, resend = -1;
    /* not a 401: nothing happens */
    CHECK_EQ_INT(eem_auth_session_after_answer(&s, 503, &gen_a, &retried_a, &resend, &err), EEM_OK);
    CHECK_EQ_INT(resend, 0);
    CHECK_EQ_INT(s.generation, 0);
    /* A refused: renewed, resent with the new lines */
    CHECK_EQ_INT(eem_auth_session_after_answer(&s, 401, &gen_a, &retried_a, &resend, &err), EEM_OK);
    CHECK_EQ_INT(resend, 1);
    CHECK_EQ_INT(s.generation, 1);
    CHECK_EQ_INT(gen_a, 1);
    CHECK_EQ_INT(retried_a, 1);
    CHECK(s.headers != first_lines);
    CHECK(s.headers[0] && strcmp(s.headers[0], "Authorization: Bearer session-t2") == 0);
    CHECK(s.headers[1] && strcmp(s.headers[1], "X-Static: 1") == 0);
    /* the retired lines still read as they were (requests in flight point at them) */
    CHECK(strcmp(first_lines[0], "Authorization: Bearer session-t1") == 0);
    /* B, sent with the old token, refused: resent, no second renewal */
    CHECK_EQ_INT(eem_auth_session_after_answer(&s, 401, &gen_b, &retried_b, &resend, &err), EEM_OK);
    CHECK_EQ_INT(resend, 1);
    CHECK_EQ_INT(s.generation, 1);
    CHECK_EQ_INT(gen_b, 1);
    /* A refused again: not resent a second time */
    CHECK_EQ_INT(eem_auth_session_after_answer(&s, 401, &gen_a, &retried_a, &resend, &err), EEM_OK);
    CHECK_EQ_INT(resend, 0);
    CHECK_EQ_INT(s.generation, 1);
    /* renewal ahead of expiry only when due */
    s.lines.refresh_at = 0;
    CHECK_EQ_INT(eem_auth_session_renew_if_due(&s, &err), EEM_OK);
    CHECK_EQ_INT(s.generation, 1);
    s.lines.refresh_at = eem_auth_clock() - 1;
    CHECK_EQ_INT(eem_auth_session_renew_if_due(&s, &err), EEM_OK);
    CHECK_EQ_INT(s.generation, 2);
    eem_auth_session_end(&s);
    CHECK(s.headers == NULL && s.retired == NULL && s.lines.authorization == NULL);
    unlink(path);
    unsetenv("EEMODEL_ACCESS_TOKEN_FILE");

    /* a fixed token: sending it again cannot help */
    setenv("EEMODEL_ACCESS_TOKEN", "fixed-1", 1);
    CHECK_EQ_INT(eem_auth_session_begin(&s, &ep, NULL, 0, &err), EEM_OK);
    gen_a = retried_a = 0;
    CHECK_EQ_INT(eem_auth_session_after_answer(&s, 401, &gen_a, &retried_a, &resend, &err), EEM_OK);
    CHECK_EQ_INT(resend, 0);
    CHECK_EQ_INT(s.generation, 0);
    eem_auth_session_end(&s);
    unsetenv("EEMODEL_ACCESS_TOKEN");

    /* no credentials (loopback): a 401 is the answer */
    CHECK_EQ_INT(eem_auth_session_begin(&s, &loop_ep, statics, 1, &err), EEM_OK);
    CHECK(s.headers[0] && strcmp(s.headers[0], "X-Static: 1") == 0);
    gen_a = retried_a = 0;
    CHECK_EQ_INT(eem_auth_session_after_answer(&s, 401, &gen_a, &retried_a, &resend, &err), EEM_OK);
    CHECK_EQ_INT(resend, 0);
    eem_auth_session_end(&s);

    /* renewal fails (the file is gone): the error says what was being renewed */
    f = fopen(path, "w");
    fputs("session-t3\n", f);
    fclose(f);
    setenv("EEMODEL_ACCESS_TOKEN_FILE", path, 1);
    CHECK_EQ_INT(eem_auth_session_begin(&s, &ep, NULL, 0, &err), EEM_OK);
    unlink(path);
    gen_a = retried_a = 0;
    CHECK(eem_auth_session_after_answer(&s, 401, &gen_a, &retried_a, &resend, &err) != EEM_OK);
    CHECK_EQ_INT(resend, 0);
    CHECK_CONTAINS(err.msg, "renewing the credentials for https://us-central1-ml.googleapis.com");
    CHECK(strstr(err.msg, "session-t3") == NULL);
    eem_auth_session_end(&s);
    unsetenv("EEMODEL_ACCESS_TOKEN_FILE");
    CPLSetConfigOption("EEMODEL_ACCESS_TOKEN", NULL);
}

/* Every static header and credential line is a secret: none crosses plain
 * http to a host that is not loopback; a token form neither. */
static void test_header_transport(void)
{
    eem_error err = {0};
    const char *secret[] = {"X-Trace: t-SECRET", "X-Api-Key: k-SECRET", NULL};
    const char *protocol[] = {"Content-Type: application/json", NULL};
    eem_request_lines r = {remote_url, protocol, secret, 0, NULL};
    CHECK_EQ_INT(eem_request_check_transport(&r, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "\"X-Trace\"");
    CHECK_CONTAINS(err.msg, "http://10.1.2.3/");
    CHECK(strstr(err.msg, "SECRET") == NULL);
    r.secret_headers = NULL;
    CHECK_EQ_INT(eem_request_check_transport(&r, &err), EEM_OK);
    r.secret_body = 1;
    CHECK_EQ_INT(eem_request_check_transport(&r, &err), EEM_ERR_INVALID);
    r.secret_headers = secret;
    r.url = loop_url;
    CHECK_EQ_INT(eem_request_check_transport(&r, &err), EEM_OK);
    r.url = https_url;
    CHECK_EQ_INT(eem_request_check_transport(&r, &err), EEM_OK);
}

/* A loopback socket that accepts connections (the kernel does) but never answers. */
static int silent_listener(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 8) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &n) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return s;
}

static void test_metadata_detection_is_bounded(void)
{
    eem_endpoint ep = {0};
    ep.predict_url = ep.display_url = https_url;
    ep.google_auth = 1;
    int port = 0, s = silent_listener(&port);
    CHECK(s >= 0);
    if (s < 0)
        return;
    clear_chain_env();
    unsetenv("NO_GCE_CHECK");
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", port);
    setenv("GCE_METADATA_HOST", host, 1);
    eem_auth_lines l;
    eem_error err = {0};
    double t0 = eem_auth_clock();
    CHECK_EQ_INT(eem_auth_lines_for(&ep, &l, &err), EEM_ERR_INVALID);
    double elapsed = eem_auth_clock() - t0;
    CHECK(elapsed >= 0.8 * EEM_METADATA_DETECT_TIMEOUT_S);
    CHECK(elapsed <= EEM_METADATA_DETECT_TIMEOUT_S + 30); /* bounded, not the connect timeout */
    CHECK_CONTAINS(err.msg, "Metadata-Flavor: Google");
    CHECK_CONTAINS(err.msg, host);
    /* the answer is remembered: the second attempt does not wait again */
    t0 = eem_auth_clock();
    CHECK_EQ_INT(eem_auth_lines_for(&ep, &l, &err), EEM_ERR_INVALID);
    CHECK(eem_auth_clock() - t0 < 0.8 * EEM_METADATA_DETECT_TIMEOUT_S);
    close(s);
    clear_chain_env();
}

int main(void)
{
    test_cache_single_flight();
    test_cache_refresh_and_invalidate();
    test_chain();
    test_session();
    test_header_transport();
    test_metadata_detection_is_bounded();
    eem_token_cache_clear();
    return check_report();
}
