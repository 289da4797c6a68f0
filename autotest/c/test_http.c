/* test_http.c — the libcurl multi transport against a scripted local server:
 * success, retries (503, 429 + Retry-After, connection refused), no retry on
 * 400, response size limits, timeouts, cancellation, the connection cap and
 * keep-alive reuse, gzip, headers, redacted verbose output and failure
 * descriptions.  The server is a small Python program started on 127.0.0.1
 * with an ephemeral port. */
#define _POSIX_C_SOURCE 200809L

#include "check.h"
#include "http.h"
#include "config_values.h"
#include "backend.h"
#include "http_config.h"
#include "request_headers.h"

#include <cpl_conv.h>
#include <json-c/json.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Time bounds are generous multiples of what the test configures, never a race
 * against the machine's speed (valgrind on a busy machine is 50x slower). */
#define STALL_S 60.0    /* how long /stall holds its answer */
#define GENEROUS_S 30.0 /* "did not wait for something long": far above any configured wait */

/* The Google backend's error-body reading (backend.h), as the predictor sets it. */
static int google_error_reader(const char *body, size_t len, char *buf, size_t buflen)
{
    return eem_backend_aiplatform.error_message(body, len, buf, buflen);
}

static const char *SERVER_PY =
    "import sys, json, time, threading, gzip\n"
    "from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler\n"
    "lock = threading.Lock()\n"
    "st = {'counts': {}, 'inflight': 0, 'max_inflight': 0, 'conns': set()}\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def log_message(self, *a): pass\n"
    "    def send(self, code, body, headers=()):\n"
    "        if isinstance(body, str): body = body.encode()\n"
    "        self.send_response(code)\n"
    "        self.send_header('Content-Type', 'application/json')\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        for k, v in headers: self.send_header(k, v)\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def do_POST(self):\n"
    "        n = int(self.headers.get('Content-Length') or 0)\n"
    "        body = self.rfile.read(n)\n"
    "        path = self.path.partition('?')[0]\n"
    "        with lock:\n"
    "            c = st['counts'][self.path] = st['counts'].get(self.path, 0) + 1\n"
    "            st['conns'].add(self.client_address[1])\n"
    "        if path == '/echo':\n"
    "            self.send(200, json.dumps({'size': len(body), 'headers': {k.lower(): v for k, v in self.headers.items()}}))\n"
    "        elif path == '/flaky':\n"
    "            self.send(503, '{\"error\": \"busy\"}') if c <= 2 else self.send(200, '{\"ok\": true}')\n"
    "        elif path == '/ratelimit':\n"
    "            self.send(429, '{\"error\": \"slow down\"}', [('Retry-After', '1')]) if c == 1 else self.send(200, '{\"ok\": true}')\n"
    "        elif path == '/bad':\n"
    "            self.send(400, '{\"error\":\"bad\"}')\n"
    "        elif path == '/denied':\n"
    "            self.send(403, json.dumps({'error': {'code': 403, 'message': 'Permission denied', 'status': 'PERMISSION_DENIED'}}))\n"
    "        elif path == '/html':\n"
    "            self.send(502, '<html>\\n<b>Bad gateway</b>\\n' + 'x' * 1000)\n"
    "        elif path == '/big':\n"
    "            self.send(200, 'x' * 100000)\n"
    "        elif path == '/bigstream':\n"
    "            self.send_response(200)\n"
    "            self.send_header('Connection', 'close')\n"
    "            self.end_headers()\n"
    "            for i in range(100): self.wfile.write(b'y' * 1000)\n"
    "            self.close_connection = True\n"
    "        elif path == '/sized':\n"
    "            q = dict(kv.split('=') for kv in self.path.partition('?')[2].split('&'))\n"
    "            data = q['c'].encode() * int(q['n'])\n"
    "            if q['cl'] == '1': self.send(200, data)\n"
    "            else:\n"
    "                self.send_response(200)\n"
    "                self.send_header('Connection', 'close')\n"
    "                self.end_headers()\n"
    "                for i in range(0, len(data), 7000): self.wfile.write(data[i:i + 7000])\n"
    "                self.close_connection = True\n"
    "        elif path == '/stall':\n"
    "            time.sleep(60)\n"
    "            self.send(200, '{}')\n"
    "        elif path == '/slow':\n"
    "            with lock:\n"
    "                st['inflight'] += 1\n"
    "                st['max_inflight'] = max(st['max_inflight'], st['inflight'])\n"
    "            time.sleep(0.3)\n"
    "            with lock: st['inflight'] -= 1\n"
    "            self.send(200, '{}')\n"
    "        elif path == '/gzip':\n"
    "            raw = json.dumps({'v': 'z' * 20000}).encode()\n"
    "            if 'gzip' in (self.headers.get('Accept-Encoding') or ''):\n"
    "                self.send(200, gzip.compress(raw), [('Content-Encoding', 'gzip')])\n"
    "            else: self.send(200, raw)\n"
    "        elif path == '/stats':\n"
    "            with lock:\n"
    "                self.send(200, json.dumps({'max_inflight': st['max_inflight'], 'connections': len(st['conns']), 'counts': st['counts']}))\n"
    "        elif path == '/reset':\n"
    "            with lock:\n"
    "                st['max_inflight'] = 0; st['conns'] = set(); st['counts'] = {}\n"
    "            self.send(200, '{}')\n"
    "        else:\n"
    "            self.send(404, '{\"error\": \"no such path\"}')\n"
    "class S(ThreadingHTTPServer):\n"
    "    daemon_threads = True\n"
    "    def handle_error(self, request, client_address): pass\n"
    "srv = S(('127.0.0.1', 0), H)\n"
    "print(srv.server_address[1], flush=True)\n"
    "srv.serve_forever()\n";

static pid_t g_server_pid = -1;
static int g_port;

static int start_server(void)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", "-c", SERVER_PY, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    int port = 0;
    if (!f || fscanf(f, "%d", &port) != 1)
        port = 0;
    if (f)
        fclose(f);
    g_server_pid = pid;
    g_port = port;
    return port > 0 ? 0 : -1;
}

static void stop_server(void)
{
    if (g_server_pid > 0) {
        kill(g_server_pid, SIGTERM);
        waitpid(g_server_pid, NULL, 0);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void url_for(char *buf, size_t n, const char *path)
{
    snprintf(buf, n, "http://127.0.0.1:%d%s", g_port, path);
}

/* Options for tests: fast retries, small limits unless changed. */
static eem_http_options test_options(void)
{
    eem_http_options o;
    eem_http_options_from_config(&o);
    o.retry_delay_s = 0.05;
    o.max_retry = 3;
    o.timeout_s = 10;
    return o;
}

/* Run one request to completion on its own multi handle; returns seconds taken. */
static double run_one(const eem_http_options *o, eem_http_request *req)
{
    eem_http_multi *m = NULL;
    eem_error err = {0};
    double t0 = now_s();
    CHECK_EQ_INT(eem_http_multi_new(o, &m, &err), EEM_OK);
    if (!m)
        return 0;
    CHECK_EQ_INT(eem_http_multi_add(m, req, &err), EEM_OK);
    eem_http_request *done = NULL;
    CHECK_EQ_INT(eem_http_multi_next(m, &done, NULL, NULL, &err), EEM_OK);
    CHECK(done == req);
    eem_http_request *again = (eem_http_request *)1;
    CHECK_EQ_INT(eem_http_multi_next(m, &again, NULL, NULL, &err), EEM_OK);
    CHECK(again == NULL);
    eem_http_multi_free(m);
    return now_s() - t0;
}

/* POST to path on the test server and return the parsed JSON answer (caller puts). */
static json_object *server_json(const char *path)
{
    char url[128];
    url_for(url, sizeof url, path);
    eem_http_options o = test_options();
    eem_http_request req = {.url = url, .body = "{}", .body_len = 2};
    run_one(&o, &req);
    json_object *j = req.ok ? json_tokener_parse(req.response) : NULL;
    eem_http_request_clear(&req);
    return j;
}

static long stats_value(const char *key)
{
    json_object *j = server_json("/stats"), *v = NULL;
    long r = -1;
    if (j && json_object_object_get_ex(j, key, &v))
        r = (long)json_object_get_int64(v);
    json_object_put(j);
    return r;
}

static void test_options_from_config(void)
{
    eem_http_options o;
    eem_http_options_from_config(&o);
    CHECK_EQ_INT(o.max_connections, EEM_HTTP_DEFAULT_MAX_CONNECTIONS);
    CHECK_NEAR(o.timeout_s, EEM_HTTP_DEFAULT_TIMEOUT_S, 1e-9);
    CHECK_NEAR(o.connect_timeout_s, EEM_HTTP_DEFAULT_CONNECT_TIMEOUT_S, 1e-9);
    CHECK_EQ_INT(o.max_retry, EEM_HTTP_DEFAULT_MAX_RETRY);
    CHECK_NEAR(o.retry_delay_s, EEM_HTTP_DEFAULT_RETRY_DELAY_S, 1e-9);
    CHECK_EQ_INT(o.max_response_bytes, EEM_HTTP_DEFAULT_MAX_RESPONSE_BYTES);
    CHECK_EQ_INT(o.unsafe_ssl, 0);
    CHECK_EQ_INT(o.verbose, 0);

    CPLSetConfigOption("EEMODEL_MAX_CONNECTIONS", "3");
    CPLSetConfigOption("GDAL_HTTP_TIMEOUT", "12.5");
    CPLSetConfigOption("GDAL_HTTP_CONNECTTIMEOUT", "4");
    CPLSetConfigOption("GDAL_HTTP_MAX_RETRY", "2");
    CPLSetConfigOption("GDAL_HTTP_RETRY_DELAY", "0.05");
    CPLSetConfigOption("EEMODEL_MAX_RESPONSE_BYTES", "1000");
    CPLSetConfigOption("GDAL_HTTP_UNSAFESSL", "YES");
    CPLSetConfigOption("CPL_CURL_VERBOSE", "ON");
    eem_http_options_from_config(&o);
    CHECK_EQ_INT(o.max_connections, 3);
    CHECK_NEAR(o.timeout_s, 12.5, 1e-9);
    CHECK_NEAR(o.connect_timeout_s, 4, 1e-9);
    CHECK_EQ_INT(o.max_retry, 2);
    CHECK_NEAR(o.retry_delay_s, 0.05, 1e-9);
    CHECK_EQ_INT(o.max_response_bytes, 1000);
    CHECK_EQ_INT(o.unsafe_ssl, 1);
    CHECK_EQ_INT(o.verbose, 1);

    eem_error err = {0};
    CHECK_EQ_INT(eem_config_values_check(&err), EEM_OK);

    /* each invalid number is refused by name, with its value and what is accepted */
    const char *bad[][3] = {
        {"EEMODEL_MAX_CONNECTIONS", "0", "from 1 to 256"},
        {"EEMODEL_MAX_CONNECTIONS", "257", "from 1 to 256"},
        {"GDAL_HTTP_TIMEOUT", "abc", "seconds, 0 or more"},
        {"GDAL_HTTP_TIMEOUT", "5s", "seconds, 0 or more"},
        {"GDAL_HTTP_CONNECTTIMEOUT", "-1", "seconds, 0 or more"},
        {"GDAL_HTTP_MAX_RETRY", "2x", "from 0 to 100"},
        {"GDAL_HTTP_MAX_RETRY", "2.5", "from 0 to 100"},
        {"GDAL_HTTP_RETRY_DELAY", "nan", "seconds, 0 or more"},
        {"EEMODEL_MAX_RESPONSE_BYTES", "-5", "1 or more"},
        /* above the cap that keeps every value within a long: refused, not cast */
        {"EEMODEL_MAX_RESPONSE_BYTES", "9223372036854775807", "1 or more"},
        {"EEMODEL_TILE_STORE_MEMORY", "9223372036854775807", "0 or more"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CPLSetConfigOption(bad[i][0], bad[i][1]);
        memset(&err, 0, sizeof err);
        CHECK_EQ_INT(eem_config_values_check(&err), EEM_ERR_INVALID);
        CHECK(strstr(err.msg, bad[i][0]) != NULL);
        CHECK(strstr(err.msg, bad[i][1]) != NULL);
        CHECK(strstr(err.msg, bad[i][2]) != NULL);
        CPLSetConfigOption(bad[i][0], NULL);
    }
    CHECK_EQ_INT(eem_config_values_check(&err), EEM_OK);

    /* invalid numbers read (after the check, e.g. changed since) leave the defaults */
    CPLSetConfigOption("EEMODEL_MAX_CONNECTIONS", "0");
    CPLSetConfigOption("GDAL_HTTP_TIMEOUT", "abc");
    CPLSetConfigOption("GDAL_HTTP_CONNECTTIMEOUT", "-1");
    CPLSetConfigOption("GDAL_HTTP_MAX_RETRY", "2x");
    CPLSetConfigOption("GDAL_HTTP_RETRY_DELAY", "nan");
    CPLSetConfigOption("EEMODEL_MAX_RESPONSE_BYTES", "-5");
    eem_http_options_from_config(&o);
    CHECK_EQ_INT(o.max_connections, EEM_HTTP_DEFAULT_MAX_CONNECTIONS);
    CHECK_NEAR(o.timeout_s, EEM_HTTP_DEFAULT_TIMEOUT_S, 1e-9);
    CHECK_NEAR(o.connect_timeout_s, EEM_HTTP_DEFAULT_CONNECT_TIMEOUT_S, 1e-9);
    CHECK_EQ_INT(o.max_retry, EEM_HTTP_DEFAULT_MAX_RETRY);
    CHECK_NEAR(o.retry_delay_s, EEM_HTTP_DEFAULT_RETRY_DELAY_S, 1e-9);
    CHECK_EQ_INT(o.max_response_bytes, EEM_HTTP_DEFAULT_MAX_RESPONSE_BYTES);

    const char *keys[] = {"EEMODEL_MAX_CONNECTIONS", "GDAL_HTTP_TIMEOUT", "GDAL_HTTP_CONNECTTIMEOUT",
                          "GDAL_HTTP_MAX_RETRY", "GDAL_HTTP_RETRY_DELAY", "EEMODEL_MAX_RESPONSE_BYTES",
                          "GDAL_HTTP_UNSAFESSL", "CPL_CURL_VERBOSE"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        CPLSetConfigOption(keys[i], NULL);
}

static void test_echo_and_headers(void)
{
    char url[128];
    url_for(url, sizeof url, "/echo?x=1");
    size_t n = 2 * 1024 * 1024; /* large enough that curl would use Expect: 100-continue */
    char *body = malloc(n);
    memset(body, 'a', n);
    const char *headers[] = {"X-Custom: hello", NULL};
    eem_http_options o = test_options();
    eem_http_request req = {.url = url, .body = body, .body_len = n, .headers = headers};
    double t = run_one(&o, &req);
    CHECK_EQ_INT(req.ok, 1);
    CHECK_EQ_INT(req.status, 200);
    CHECK_EQ_INT(req.attempts, 1);
    CHECK(req.internal == NULL);
    (void)t;
    json_object *j = req.response ? json_tokener_parse(req.response) : NULL, *v, *h;
    CHECK(j != NULL);
    if (j) {
        CHECK(json_object_object_get_ex(j, "size", &v) && json_object_get_int64(v) == (int64_t)n);
        CHECK(json_object_object_get_ex(j, "headers", &h));
        CHECK(json_object_object_get_ex(h, "content-type", &v) &&
              strcmp(json_object_get_string(v), "application/json") == 0);
        CHECK(json_object_object_get_ex(h, "accept", &v) &&
              strcmp(json_object_get_string(v), "application/json") == 0);
        CHECK(json_object_object_get_ex(h, "user-agent", &v) &&
              strstr(json_object_get_string(v), "EEMODEL/0.1"));
        CHECK(json_object_object_get_ex(h, "x-custom", &v) &&
              strcmp(json_object_get_string(v), "hello") == 0);
        CHECK(json_object_object_get_ex(h, "accept-encoding", &v) &&
              strstr(json_object_get_string(v), "gzip"));
        CHECK(!json_object_object_get_ex(h, "expect", &v));
    }
    json_object_put(j);
    eem_http_request_clear(&req);
    CHECK(req.response == NULL);
    free(body);

    /* gzip answers are decoded */
    url_for(url, sizeof url, "/gzip");
    eem_http_request gz = {.url = url, .body = "{}", .body_len = 2};
    run_one(&o, &gz);
    CHECK_EQ_INT(gz.ok, 1);
    CHECK(gz.response_len > 20000);
    CHECK(gz.response && strstr(gz.response, "zzzzzzzz"));
    eem_http_request_clear(&gz);

    /* a request without body does not read stdin */
    url_for(url, sizeof url, "/echo");
    eem_http_request empty = {.url = url};
    run_one(&o, &empty);
    CHECK_EQ_INT(empty.ok, 1);
    CHECK_CONTAINS(empty.response, "\"size\": 0");
    eem_http_request_clear(&empty);
}

static void test_retries(void)
{
    char url[128], msg[1024];
    eem_http_options o = test_options();

    /* 503 twice then 200, with GDAL_HTTP_RETRY_DELAY from the config */
    CPLSetConfigOption("GDAL_HTTP_RETRY_DELAY", "0.05");
    eem_http_options_from_config(&o);
    CPLSetConfigOption("GDAL_HTTP_RETRY_DELAY", NULL);
    o.max_retry = 3;
    url_for(url, sizeof url, "/flaky?t=1");
    eem_http_request req = {.url = url, .body = "{}", .body_len = 2};
    double t = run_one(&o, &req);
    CHECK_EQ_INT(req.ok, 1);
    CHECK_EQ_INT(req.status, 200);
    CHECK_EQ_INT(req.attempts, 3);
    CHECK_CONTAINS(req.response, "\"ok\"");
    CHECK(t >= 0.05 * 0.75 + 0.1 * 0.75 - 0.01); /* both backoffs were waited */
    CHECK(t < GENEROUS_S);                        /* and nothing like a 503 storm */
    eem_http_request_clear(&req);

    /* retries exhausted: the last answer is reported */
    o.max_retry = 1;
    url_for(url, sizeof url, "/flaky?t=2");
    eem_http_request ex = {.url = url, .body = "{}", .body_len = 2,
                          .error_message = google_error_reader};
    run_one(&o, &ex);
    CHECK_EQ_INT(ex.ok, 0);
    CHECK_EQ_INT(ex.status, 503);
    CHECK_EQ_INT(ex.attempts, 2);
    eem_http_describe_failure(&ex, msg, sizeof msg);
    CHECK_CONTAINS(msg, "HTTP 503 from http://127.0.0.1:");
    CHECK_CONTAINS(msg, "/flaky: busy (after 2 attempts)");
    CHECK(strstr(msg, "t=2") == NULL);
    eem_http_request_clear(&ex);

    /* 429 with Retry-After: 1 waits a second, not the 50 ms backoff */
    o.max_retry = 3;
    url_for(url, sizeof url, "/ratelimit?t=1");
    eem_http_request rl = {.url = url, .body = "{}", .body_len = 2};
    t = run_one(&o, &rl);
    CHECK_EQ_INT(rl.ok, 1);
    CHECK_EQ_INT(rl.attempts, 2);
    CHECK(t >= 0.95);       /* Retry-After: 1, not the 50 ms backoff */
    CHECK(t < GENEROUS_S);
    eem_http_request_clear(&rl);

    /* 400 is final */
    url_for(url, sizeof url, "/bad?q=secret");
    eem_http_request bad = {.url = url, .body = "{}", .body_len = 2,
                          .error_message = google_error_reader};
    run_one(&o, &bad);
    CHECK_EQ_INT(bad.ok, 0);
    CHECK_EQ_INT(bad.status, 400);
    CHECK_EQ_INT(bad.attempts, 1);
    eem_http_describe_failure(&bad, msg, sizeof msg);
    char want[256];
    snprintf(want, sizeof want, "HTTP 400 from http://127.0.0.1:%d/bad: bad", g_port);
    CHECK(strcmp(msg, want) == 0);
    eem_http_request_clear(&bad);

    /* Google error object */
    url_for(url, sizeof url, "/denied");
    eem_http_request den = {.url = url, .body = "{}", .body_len = 2,
                          .error_message = google_error_reader};
    run_one(&o, &den);
    CHECK_EQ_INT(den.status, 403);
    CHECK_EQ_INT(den.attempts, 1);
    eem_http_describe_failure(&den, msg, sizeof msg);
    CHECK_CONTAINS(msg, "HTTP 403 from http://127.0.0.1:");
    CHECK_CONTAINS(msg, "/denied: Permission denied (PERMISSION_DENIED)");
    eem_http_request_clear(&den);

    /* non-JSON body: a cleaned excerpt */
    o.max_retry = 0;
    url_for(url, sizeof url, "/html");
    eem_http_request html = {.url = url, .body = "{}", .body_len = 2};
    run_one(&o, &html);
    CHECK_EQ_INT(html.status, 502);
    CHECK_EQ_INT(html.attempts, 1);
    eem_http_describe_failure(&html, msg, sizeof msg);
    CHECK_CONTAINS(msg, "HTTP 502 from");
    CHECK_CONTAINS(msg, "<html> <b>Bad gateway</b> xxx");
    CHECK_CONTAINS(msg, "...");
    CHECK(strchr(msg, '\n') == NULL);
    CHECK(strlen(msg) < 450);
    eem_http_request_clear(&html);

    /* connection refused is not retried (issue 12 item 1): reported at once */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int closed_port = 0;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &al) == 0)
        closed_port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    CHECK(closed_port > 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/models/m:predict?key=abc", closed_port);
    o.max_retry = 2;
    o.retry_delay_s = 0.01;
    eem_http_request ref = {.url = url, .body = "{}", .body_len = 2};
    run_one(&o, &ref);
    CHECK_EQ_INT(ref.ok, 0);
    CHECK_EQ_INT(ref.status, 0);
    CHECK_EQ_INT(ref.attempts, 1);
    CHECK_EQ_INT(ref.unreachable, 1);
    CHECK_EQ_INT(ref.retries_exhausted, 0);
    CHECK(ref.error[0] != '\0');
    eem_http_describe_failure(&ref, msg, sizeof msg);
    CHECK_CONTAINS(msg, "request to http://127.0.0.1:");
    CHECK_CONTAINS(msg, "/v1/models/m:predict failed: ");
    CHECK_CONTAINS(msg, "nothing accepts connections there; not retried");
    CHECK(strstr(msg, "attempts") == NULL);
    CHECK(strstr(msg, "key=abc") == NULL);
    eem_http_request_clear(&ref);
}

static void test_limits_and_timeouts(void)
{
    char url[128], msg[1024];
    eem_http_options o = test_options();
    o.max_response_bytes = 1000;

    const char *paths[] = {"/big", "/bigstream"};
    for (int i = 0; i < 2; i++) {
        url_for(url, sizeof url, paths[i]);
        eem_http_request req = {.url = url, .body = "{}", .body_len = 2};
        run_one(&o, &req);
        CHECK_EQ_INT(req.ok, 0);
        CHECK_EQ_INT(req.attempts, 1); /* the size limit is not retried */
        CHECK_CONTAINS(req.error, "EEMODEL_MAX_RESPONSE_BYTES=1000");
        CHECK(req.response_len <= 1000);
        eem_http_describe_failure(&req, msg, sizeof msg);
        CHECK_CONTAINS(msg, "larger than EEMODEL_MAX_RESPONSE_BYTES");
        eem_http_request_clear(&req);
    }

    /* a stalled server: GDAL_HTTP_TIMEOUT=1, one retry */
    CPLSetConfigOption("GDAL_HTTP_TIMEOUT", "1");
    eem_http_options_from_config(&o);
    CPLSetConfigOption("GDAL_HTTP_TIMEOUT", NULL);
    o.max_retry = 1;
    o.retry_delay_s = 0.05;
    url_for(url, sizeof url, "/stall");
    eem_http_request st = {.url = url, .body = "{}", .body_len = 2};
    double t = run_one(&o, &st);
    CHECK_EQ_INT(st.ok, 0);
    CHECK_EQ_INT(st.attempts, 2);
    CHECK_CONTAINS(st.error, "imed out");
    CHECK(t >= 1.9);        /* two attempts of GDAL_HTTP_TIMEOUT=1 */
    CHECK(t < STALL_S);     /* neither waited for the stalled answer */
    eem_http_request_clear(&st);
}

static double g_cancel_at;
static int g_cancel_polls;
static int cancel_after_deadline(void *user)
{
    (void)user;
    g_cancel_polls++;
    return now_s() >= g_cancel_at;
}

static void test_cancel(void)
{
    char url[128];
    url_for(url, sizeof url, "/stall?cancel");
    eem_http_options o = test_options();
    eem_http_multi *m = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_http_multi_new(&o, &m, &err), EEM_OK);
    if (!m)
        return;
    eem_http_request reqs[3];
    memset(reqs, 0, sizeof reqs);
    for (int i = 0; i < 3; i++) {
        reqs[i].url = url;
        reqs[i].body = "{}";
        reqs[i].body_len = 2;
        CHECK_EQ_INT(eem_http_multi_add(m, &reqs[i], &err), EEM_OK);
    }
    double t0 = now_s();
    g_cancel_at = t0 + 0.3;
    g_cancel_polls = 0;
    eem_http_request *done = (eem_http_request *)1;
    eem_status s = eem_http_multi_next(m, &done, cancel_after_deadline, NULL, &err);
    double t = now_s() - t0;
    CHECK_EQ_INT(s, EEM_ERR_CANCELLED);
    CHECK(done == NULL);
    CHECK(t >= 0.29);
    CHECK(t < STALL_S); /* did not wait for the stalled answers */
    CHECK(g_cancel_polls >= 3); /* polled while waiting, not only at the end */
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(reqs[i].ok, 0);
        CHECK(reqs[i].internal == NULL);
        CHECK(reqs[i].response == NULL);
        CHECK_CONTAINS(reqs[i].error, "cancelled");
    }
    /* nothing left */
    CHECK_EQ_INT(eem_http_multi_next(m, &done, NULL, NULL, &err), EEM_OK);
    CHECK(done == NULL);
    eem_http_multi_free(m);

    /* freeing a multi with transfers in flight abandons them */
    CHECK_EQ_INT(eem_http_multi_new(&o, &m, &err), EEM_OK);
    if (!m)
        return;
    eem_http_request r = {.url = url, .body = "{}", .body_len = 2};
    CHECK_EQ_INT(eem_http_multi_add(m, &r, &err), EEM_OK);
    CHECK(r.internal != NULL);
    eem_http_multi_free(m);
    CHECK(r.internal == NULL);
    CHECK_EQ_INT(r.ok, 0);
}

static void test_concurrency(void)
{
    char url[128];
    json_object_put(server_json("/reset"));
    url_for(url, sizeof url, "/slow");
    eem_http_options o = test_options();
    o.max_connections = 4;
    eem_http_multi *m = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_http_multi_new(&o, &m, &err), EEM_OK);
    if (!m)
        return;
    enum { N = 8 };
    eem_http_request reqs[N];
    int seen[N] = {0};
    memset(reqs, 0, sizeof reqs);
    double t0 = now_s();
    for (int i = 0; i < N; i++) {
        reqs[i].url = url;
        reqs[i].body = "{}";
        reqs[i].body_len = 2;
        reqs[i].user = &seen[i];
        CHECK_EQ_INT(eem_http_multi_add(m, &reqs[i], &err), EEM_OK);
    }
    int n_done = 0, n_ok = 0;
    eem_http_request *done;
    while (eem_http_multi_next(m, &done, NULL, NULL, &err) == EEM_OK && done) {
        n_done++;
        n_ok += done->ok;
        (*(int *)done->user)++;
        eem_http_request_clear(done);
    }
    double t = now_s() - t0;
    eem_http_multi_free(m);
    CHECK_EQ_INT(n_done, N);
    CHECK_EQ_INT(n_ok, N);
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(seen[i], 1); /* each request handed back exactly once */
    CHECK(t >= 0.58);             /* never more than 4 at a time: two rounds at least */
    CHECK_EQ_INT(stats_value("max_inflight"), 4); /* and 4 at once: concurrency, by count */
}

static void test_keepalive(void)
{
    char url[128];
    json_object_put(server_json("/reset")); /* the reset connection is counted too */
    url_for(url, sizeof url, "/echo");
    eem_http_options o = test_options();
    o.max_connections = 1;
    /* several multi handles one after the other: connections are shared */
    for (int i = 0; i < 4; i++) {
        eem_http_request req = {.url = url, .body = "{}", .body_len = 2};
        run_one(&o, &req);
        CHECK_EQ_INT(req.ok, 1);
        eem_http_request_clear(&req);
    }
    long conns = stats_value("connections");
    CHECK(conns >= 1);
    CHECK(conns <= 2);
}

/* Several threads with their own multi handles at once (QGIS renders in
 * parallel): pooled handles and the shared DNS/TLS cache must not clash. */
enum { N_THREADS = 4, N_PER_THREAD = 6 };
typedef struct thread_result {
    int ok;
    int handed_back;
} thread_result;

static void *thread_main(void *arg)
{
    thread_result *r = arg;
    char url[128];
    url_for(url, sizeof url, "/echo");
    eem_http_options o = test_options();
    o.max_connections = 2;
    for (int i = 0; i < N_PER_THREAD; i++) {
        eem_http_multi *m = NULL;
        eem_error err = {0};
        if (eem_http_multi_new(&o, &m, &err) != EEM_OK)
            continue;
        eem_http_request reqs[2];
        memset(reqs, 0, sizeof reqs);
        for (int k = 0; k < 2; k++) {
            reqs[k].url = url;
            reqs[k].body = "{\"x\": 1}";
            reqs[k].body_len = 8;
            eem_http_multi_add(m, &reqs[k], &err);
        }
        eem_http_request *done;
        while (eem_http_multi_next(m, &done, NULL, NULL, &err) == EEM_OK && done) {
            r->handed_back++;
            r->ok += done->ok && strstr(done->response, "\"size\": 8") != NULL;
            eem_http_request_clear(done);
        }
        eem_http_multi_free(m);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[N_THREADS];
    thread_result res[N_THREADS];
    memset(res, 0, sizeof res);
    int started[N_THREADS] = {0};
    for (int i = 0; i < N_THREADS; i++)
        started[i] = pthread_create(&th[i], NULL, thread_main, &res[i]) == 0;
    for (int i = 0; i < N_THREADS; i++) {
        CHECK(started[i]);
        if (started[i])
            pthread_join(th[i], NULL);
        CHECK_EQ_INT(res[i].handed_back, 2 * N_PER_THREAD);
        CHECK_EQ_INT(res[i].ok, 2 * N_PER_THREAD);
    }
}

static void test_verbose_redaction(void)
{
    char url[128];
    url_for(url, sizeof url, "/echo");
    char path[] = "/tmp/eem_http_log_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    eem_http_options o = test_options();
    CPLSetConfigOption("CPL_CURL_VERBOSE", "YES");
    const char *headers[] = {"Authorization: Bearer SUPERSECRET", "X-Goog-Api-Key: KEY123",
                             "X-Plain: visible", NULL};
    const char *body = "{\"BODYMARKER\": 1}";
    eem_http_request req = {.url = url, .body = body, .body_len = strlen(body),
                            .secret_headers = headers};
    run_one(&o, &req);
    CPLSetConfigOption("CPL_CURL_VERBOSE", NULL);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    CHECK_EQ_INT(req.ok, 1);
    CHECK_CONTAINS(req.response, "SUPERSECRET"); /* the server did get the header */
    eem_http_request_clear(&req);

    char log[65536] = "";
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, log, sizeof log - 1);
    close(fd);
    unlink(path);
    log[n > 0 ? n : 0] = '\0';
    CHECK_CONTAINS(log, "> POST /echo");
    CHECK_CONTAINS(log, "Authorization: [redacted]");
    CHECK_CONTAINS(log, "X-Goog-Api-Key: [redacted]");
    CHECK_CONTAINS(log, "X-Plain: [redacted]"); /* static header values are secrets too */
    CHECK(strstr(log, "visible") == NULL);
    CHECK_CONTAINS(log, "< HTTP/1.");
    CHECK(strstr(log, "SUPERSECRET") == NULL);
    CHECK(strstr(log, "KEY123") == NULL);
    CHECK(strstr(log, "BODYMARKER") == NULL);
}

/* The predicate and printer http.c shares with token_http.c and auth.c. */
static void test_secret_headers(void)
{
    const char *secret[] = {"Authorization: Bearer x", "x-goog-api-key: k", "X-Auth-Token: t",
                            "Cookie: c=1", "Client-Secret: s", NULL};
    const char *plain[] = {"Content-Type: application/json", "X-Plain: token", "no colon auth",
                           NULL};
    for (int i = 0; secret[i]; i++)
        CHECK_EQ_INT(eem_header_is_secret(secret[i], strlen(secret[i])), 1);
    for (int i = 0; plain[i]; i++)
        CHECK_EQ_INT(eem_header_is_secret(plain[i], strlen(plain[i])), 0);

    char path[] = "/tmp/eem_http_debug_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    const char sent[] = "POST /x?key=QHIDDEN&a=1 HTTP/1.1\r\nAuthorization: Bearer HIDDEN\r\n"
                        "X-Plain: hidden\r\nContent-Type: application/json\r\n\r\n";
    const char text[] = "Authorization: is only text here, https://u:PW@h.example/p?sig=S";
    eem_http_print_debug("TAG", "> ", sent, sizeof sent - 1);
    eem_http_print_debug("TAG", "* ", text, sizeof text - 1);
    const char proxy[] = "CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic SECRETPX\r\n";
    eem_http_print_debug("TAG", "> ", proxy, sizeof proxy - 1);
    const char got[] = "HTTP/1.1 200 OK\r\nSet-Cookie: s=SECRETCK\r\nServer: x\r\n";
    eem_http_print_debug("TAG", "< ", got, sizeof got - 1);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char log[4096] = "";
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, log, sizeof log - 1);
    close(fd);
    unlink(path);
    log[n > 0 ? n : 0] = '\0';
    CHECK(strcmp(log, "TAG: > POST /x?key=[redacted]&a=[redacted] HTTP/1.1\n"
                      "TAG: > Authorization: [redacted]\nTAG: > X-Plain: [redacted]\n"
                      "TAG: > Content-Type: application/json\n"
                      "TAG: * Authorization: is only text here, "
                      "https://[redacted]@h.example/p?sig=[redacted]\n"
                      "TAG: > CONNECT h:443 HTTP/1.1\nTAG: > Proxy-Authorization: [redacted]\n"
                      "TAG: < HTTP/1.1 200 OK\nTAG: < Set-Cookie: [redacted]\n"
                      "TAG: < Server: x\n") == 0);
    if (strstr(log, "HIDDEN") || strstr(log, "PW") || strstr(log, "SECRET"))
        fprintf(stderr, "%s", log);
}

static void test_bad_input(void)
{
    eem_http_options o = test_options();
    eem_http_multi *m = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_http_multi_new(&o, &m, &err), EEM_OK);
    if (!m)
        return;
    eem_http_request noturl = {0};
    CHECK_EQ_INT(eem_http_multi_add(m, &noturl, &err), EEM_ERR_INVALID);
    char url[128];
    url_for(url, sizeof url, "/echo");
    const char *headers[] = {"X-A: 1\r\nX-B: 2", NULL};
    eem_http_request inj = {.url = url, .headers = headers};
    CHECK_EQ_INT(eem_http_multi_add(m, &inj, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "line break");
    eem_http_request *done = (eem_http_request *)1;
    CHECK_EQ_INT(eem_http_multi_next(m, &done, NULL, NULL, &err), EEM_OK);
    CHECK(done == NULL);
    eem_http_multi_free(m);
    eem_http_multi_free(NULL);
    eem_http_request_clear(NULL);
}

/* Answers received into recycled buffers (eem_http_multi_recycle): smaller
 * and larger than the buffer's capacity, with and without Content-Length
 * (pre-sized or grown as the body comes). */
static void test_recycled_buffers(void)
{
    static const struct {
        int n;
        char c;
        int cl;
    } cases[] = {{5000, 'a', 1}, {300000, 'b', 0}, {10, 'c', 1}, {400000, 'd', 1},
                 {0, 'e', 1},    {70000, 'f', 0},  {3, 'g', 0}};
    eem_http_options o = test_options();
    eem_http_multi *m = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_http_multi_new(&o, &m, &err), EEM_OK);
    if (!m)
        return;
    int failures = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char url[160];
        char path[64];
        snprintf(path, sizeof path, "/sized?n=%d&c=%c&cl=%d", cases[k].n, cases[k].c, cases[k].cl);
        url_for(url, sizeof url, path);
        eem_http_request req = {.url = url, .body = "{}", .body_len = 2};
        CHECK_EQ_INT(eem_http_multi_add(m, &req, &err), EEM_OK);
        eem_http_request *done = NULL;
        CHECK_EQ_INT(eem_http_multi_next(m, &done, NULL, NULL, &err), EEM_OK);
        CHECK(done == &req);
        CHECK_EQ_INT(req.ok, 1);
        CHECK_EQ_INT(req.response_len, cases[k].n);
        int bad = !req.response || req.response[req.response_len] != '\0' ||
                  (req.response_len > 0 && req.response_cap <= req.response_len);
        for (size_t i = 0; !bad && i < req.response_len; i++)
            bad = req.response[i] != cases[k].c;
        if (bad)
            fprintf(stderr, "recycled buffer case %zu: wrong answer\n", k);
        failures += bad;
        eem_http_multi_recycle(m, &req);
        CHECK(req.response == NULL && req.response_len == 0);
        eem_http_request_clear(&req);
    }
    CHECK_EQ_INT(failures, 0);
    /* more recycled than kept: the rest are freed (checked by the sanitizer build) */
    for (int k = 0; k < 12; k++) {
        eem_http_request req = {0};
        req.response = malloc(100);
        req.response_cap = 100;
        req.response_len = 5;
        eem_http_multi_recycle(m, &req);
        CHECK(req.response == NULL);
    }
    eem_http_multi_free(m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_options_from_config();
    if (start_server() != 0) {
        fprintf(stderr, "cannot start the Python test server\n");
        CHECK(0);
        stop_server();
        return check_report();
    }
    double t0 = now_s();
    test_echo_and_headers();
    test_retries();
    test_limits_and_timeouts();
    test_recycled_buffers();
    test_cancel();
    test_concurrency();
    test_keepalive();
    test_threads();
    test_verbose_redaction();
    test_secret_headers();
    test_bad_input();
    stop_server();
    printf("http tests took %.1f s\n", now_s() - t0);
    return check_report();
}
