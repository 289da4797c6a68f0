/* test_endpoint.c — predict URL construction, protocol inference, backend
 * defaults, URL helpers (loopback / https / display form) and the
 * Authorization header rules of auth.c. */
#define _POSIX_C_SOURCE 200809L

#include "auth.h"
#include "check.h"
#include "endpoint.h"

#include <cpl_conv.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A hand-built spec with only the backend keys and one output. */
static eem_spec *make_spec(const char *project, const char *model, const char *version,
                           const char *region, const char *endpoint, const char *url,
                           const char *api_root)
{
    eem_spec *s = calloc(1, sizeof *s);
    s->project = dup_or_null(project);
    s->model = dup_or_null(model);
    s->version = dup_or_null(version);
    s->region = dup_or_null(region);
    s->endpoint = dup_or_null(endpoint);
    s->url = dup_or_null(url);
    s->api_root = dup_or_null(api_root);
    s->n_outputs = 1;
    s->outputs = calloc(1, sizeof *s->outputs);
    s->outputs[0].name = strdup("out");
    s->outputs[0].type = EEM_DT_FLOAT32;
    return s;
}

static void free_spec(eem_spec *s)
{
    free(s->project);
    free(s->model);
    free(s->version);
    free(s->region);
    free(s->endpoint);
    free(s->url);
    free(s->api_root);
    for (int i = 0; i < s->n_outputs; i++)
        free(s->outputs[i].name);
    free(s->outputs);
    free(s);
}

/* Resolve and compare the URL; returns the endpoint (caller frees) or NULL. */
static eem_endpoint *resolve_ok(eem_spec *s, const char *want_url, eem_protocol want_proto)
{
    eem_endpoint *ep = NULL;
    eem_error err = {0};
    eem_status st = eem_endpoint_resolve(s, &ep, &err);
    CHECK_EQ_INT(st, EEM_OK);
    if (st != EEM_OK) {
        fprintf(stderr, "  resolve failed: %s\n", err.msg);
        return NULL;
    }
    if (want_url) {
        CHECK(strcmp(ep->predict_url, want_url) == 0);
        if (strcmp(ep->predict_url, want_url) != 0)
            fprintf(stderr, "  got %s\n  want %s\n", ep->predict_url, want_url);
    }
    CHECK_EQ_INT(ep->protocol, want_proto);
    return ep;
}

static void resolve_fails(eem_spec *s, const char *needle)
{
    eem_endpoint *ep = (eem_endpoint *)1;
    eem_error err = {0};
    eem_status st = eem_endpoint_resolve(s, &ep, &err);
    CHECK_EQ_INT(st, EEM_ERR_INVALID);
    CHECK(ep == NULL);
    CHECK_CONTAINS(err.msg, needle);
    if (st == EEM_OK)
        eem_endpoint_free(ep);
}

static void test_aiplatform(void)
{
    eem_spec *s = make_spec("p", "m", NULL, NULL, NULL, NULL, NULL);
    eem_endpoint *ep = resolve_ok(s, "https://us-central1-ml.googleapis.com/v1/projects/p/models/m:predict",
                                  EEM_PROTO_AIPLATFORM);
    if (ep) {
        CHECK_EQ_INT(ep->payload_format, EEM_PAYLOAD_SERIALIZED_TF_TENSORS);
        CHECK_EQ_INT(ep->google_auth, 1);
        CHECK_EQ_INT(ep->max_instances, EEM_GOOGLE_MAX_INSTANCES);
        CHECK_EQ_INT(ep->max_payload_bytes, EEM_DEFAULT_MAX_PAYLOAD_BYTES);
        CHECK(strcmp(ep->display_url, ep->predict_url) == 0);
        CHECK_CONTAINS(ep->identity, "aiplatform|");
        CHECK_CONTAINS(ep->identity, "out:float32:0:0;");
    }
    eem_endpoint_free(ep);
    free_spec(s);

    s = make_spec("proj-1", "conv", "v2", "europe-west4", NULL, NULL, NULL);
    s->max_payload_bytes = 4000;
    ep = resolve_ok(s,
                    "https://europe-west4-ml.googleapis.com/v1/projects/proj-1/models/conv/versions/"
                    "v2:predict",
                    EEM_PROTO_AIPLATFORM);
    if (ep) {
        CHECK_EQ_INT(ep->max_payload_bytes, 4000);
        CHECK_CONTAINS(ep->identity, "|v2|");
    }
    eem_endpoint_free(ep);
    free_spec(s);

    s = make_spec("p", "m", NULL, "global", NULL, NULL, NULL);
    ep = resolve_ok(s, "https://ml.googleapis.com/v1/projects/p/models/m:predict", EEM_PROTO_AIPLATFORM);
    eem_endpoint_free(ep);
    free_spec(s);

    /* API_ROOT replaces the host; trailing slashes are dropped; Google auth stays. */
    s = make_spec("p", "m", "3", "asia-east1", NULL, NULL, "http://127.0.0.1:8080//");
    ep = resolve_ok(s, "http://127.0.0.1:8080/v1/projects/p/models/m/versions/3:predict",
                    EEM_PROTO_AIPLATFORM);
    if (ep)
        CHECK_EQ_INT(ep->google_auth, 1);
    eem_endpoint_free(ep);
    free_spec(s);

    s = make_spec("p", NULL, NULL, NULL, NULL, NULL, NULL);
    resolve_fails(s, "MODEL");
    free_spec(s);
    s = make_spec("p", "m/../x", NULL, NULL, NULL, NULL, NULL);
    resolve_fails(s, "MODEL");
    free_spec(s);
    s = make_spec("p", "m", NULL, "us central", NULL, NULL, NULL);
    resolve_fails(s, "REGION");
    free_spec(s);
    s = make_spec("p", "m", NULL, NULL, NULL, NULL, NULL);
    s->protocol = EEM_PROTO_TFSERVING;
    resolve_fails(s, "PROTOCOL");
    free_spec(s);
    s = make_spec(NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    resolve_fails(s, "no model given");
    free_spec(s);
}

static void test_vertex(void)
{
    eem_spec *s = make_spec(NULL, NULL, NULL, NULL, "projects/p/locations/europe-west1/endpoints/123",
                            NULL, NULL);
    eem_endpoint *ep = resolve_ok(
        s,
        "https://europe-west1-aiplatform.googleapis.com/v1/projects/p/locations/europe-west1/"
        "endpoints/123:predict",
        EEM_PROTO_VERTEX);
    if (ep) {
        CHECK_EQ_INT(ep->google_auth, 1);
        CHECK_EQ_INT(ep->max_instances, EEM_GOOGLE_MAX_INSTANCES);
        CHECK_EQ_INT(ep->payload_format, EEM_PAYLOAD_SERIALIZED_TF_TENSORS);
    }
    eem_endpoint_free(ep);
    free_spec(s);

    s = make_spec(NULL, NULL, NULL, NULL, "projects/p/locations/us-east1/endpoints/9", NULL,
                  "https://gateway.example.com/ml/");
    s->payload_format = EEM_PAYLOAD_ND_ARRAYS;
    ep = resolve_ok(s,
                    "https://gateway.example.com/ml/v1/projects/p/locations/us-east1/endpoints/"
                    "9:predict",
                    EEM_PROTO_VERTEX);
    if (ep) {
        CHECK_EQ_INT(ep->payload_format, EEM_PAYLOAD_ND_ARRAYS);
        CHECK_EQ_INT(ep->google_auth, 0); /* not a Google host: no Google credentials */
    }
    eem_endpoint_free(ep);
    /* unless the user names the gateway: config option or open option */
    CPLSetConfigOption("EEMODEL_GOOGLE_CREDENTIALS_HOSTS", "other.example.com, GATEWAY.example.com");
    ep = resolve_ok(s, NULL, EEM_PROTO_VERTEX);
    CHECK(ep && ep->google_auth == 1);
    eem_endpoint_free(ep);
    CPLSetConfigOption("EEMODEL_GOOGLE_CREDENTIALS_HOSTS", "example.com");
    ep = resolve_ok(s, NULL, EEM_PROTO_VERTEX);
    CHECK(ep && ep->google_auth == 0); /* a host name, not a suffix */
    eem_endpoint_free(ep);
    CPLSetConfigOption("EEMODEL_GOOGLE_CREDENTIALS_HOSTS", NULL);
    s->google_credentials_host = strdup("gateway.example.com");
    ep = resolve_ok(s, NULL, EEM_PROTO_VERTEX);
    CHECK(ep && ep->google_auth == 1);
    eem_endpoint_free(ep);
    free(s->google_credentials_host);
    s->google_credentials_host = NULL;
    free_spec(s);

    /* a Google-looking path on another host never gets Google credentials */
    s = make_spec(NULL, NULL, NULL, NULL, NULL,
                  "https://evil.example.com/v1/projects/p/models/m:predict", NULL);
    ep = resolve_ok(s, NULL, EEM_PROTO_AIPLATFORM);
    CHECK(ep && ep->google_auth == 0);
    eem_endpoint_free(ep);
    free_spec(s);
    s = make_spec(NULL, NULL, NULL, NULL, NULL,
                  "https://evil.googleapis.com.example.com/v1/projects/p/models/m:predict", NULL);
    ep = resolve_ok(s, NULL, EEM_PROTO_AIPLATFORM);
    CHECK(ep && ep->google_auth == 0);
    eem_endpoint_free(ep);
    free_spec(s);
    s = make_spec(NULL, NULL, NULL, NULL, NULL,
                  "https://europe-west4-aiplatform.googleapis.com/v1/models/m:predict", NULL);
    ep = resolve_ok(s, NULL, EEM_PROTO_TFSERVING);
    CHECK(ep && ep->google_auth == 1); /* a Google host, whatever the path */
    eem_endpoint_free(ep);
    free_spec(s);

    const char *bad[] = {"projects/p/locations/l/endpoints", "projects/p/locations/l/endpoints/e/x",
                         "project/p/locations/l/endpoints/e", "projects//locations/l/endpoints/e",
                         "projects/p/locations/l/endpoints/e?x", "123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = make_spec(NULL, NULL, NULL, NULL, bad[i], NULL, NULL);
        resolve_fails(s, "ENDPOINT");
        free_spec(s);
    }
}

static void test_url(void)
{
    struct {
        const char *url;
        eem_protocol proto;
        eem_payload_format format;
        int google_auth;
        int max_instances;
    } cases[] = {
        {"http://127.0.0.1:8501/v1/models/half:predict", EEM_PROTO_TFSERVING, EEM_PAYLOAD_RAW_JSON, 0, 0},
        {"http://h:8501/v1/models/half/versions/2:predict", EEM_PROTO_TFSERVING, EEM_PAYLOAD_RAW_JSON, 0, 0},
        {"http://h/v2/models/seg/infer", EEM_PROTO_KSERVE_V2, EEM_PAYLOAD_OIP_V2, 0, 0},
        {"http://h/prefix/v2/models/seg/versions/1/infer", EEM_PROTO_KSERVE_V2, EEM_PAYLOAD_OIP_V2, 0, 0},
        {"https://x-ml.googleapis.com/v1/projects/p/models/m:predict", EEM_PROTO_AIPLATFORM,
         EEM_PAYLOAD_SERIALIZED_TF_TENSORS, 1, EEM_GOOGLE_MAX_INSTANCES},
        {"http://localhost:9/v1/projects/p/locations/l/endpoints/1:predict", EEM_PROTO_VERTEX,
         EEM_PAYLOAD_SERIALIZED_TF_TENSORS, 1, EEM_GOOGLE_MAX_INSTANCES},
        {"https://tfs.googleapis.com/v1/models/m:predict", EEM_PROTO_TFSERVING, EEM_PAYLOAD_RAW_JSON, 1, 0},
        {"https://googleapis.com.evil.org/v1/models/m:predict", EEM_PROTO_TFSERVING, EEM_PAYLOAD_RAW_JSON, 0, 0},
        {"https://evilgoogleapis.com/v1/models/m:predict", EEM_PROTO_TFSERVING, EEM_PAYLOAD_RAW_JSON, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eem_spec *s = make_spec(NULL, NULL, NULL, NULL, NULL, cases[i].url, NULL);
        eem_endpoint *ep = resolve_ok(s, cases[i].url, cases[i].proto);
        if (ep) {
            CHECK_EQ_INT(ep->payload_format, cases[i].format);
            CHECK_EQ_INT(ep->google_auth, cases[i].google_auth);
            CHECK_EQ_INT(ep->max_instances, cases[i].max_instances);
        }
        eem_endpoint_free(ep);
        free_spec(s);
    }

    /* unknown layout: PROTOCOL required, then honoured */
    eem_spec *s = make_spec(NULL, NULL, NULL, NULL, NULL, "http://127.0.0.1:5000/predict", NULL);
    resolve_fails(s, "PROTOCOL");
    s->protocol = EEM_PROTO_KSERVE_V2;
    eem_endpoint *ep = resolve_ok(s, "http://127.0.0.1:5000/predict", EEM_PROTO_KSERVE_V2);
    if (ep)
        CHECK_EQ_INT(ep->payload_format, EEM_PAYLOAD_OIP_V2);
    eem_endpoint_free(ep);
    free_spec(s);

    /* "models" without a model name is not TF Serving */
    s = make_spec(NULL, NULL, NULL, NULL, NULL, "http://h/v1/models:predict", NULL);
    resolve_fails(s, "PROTOCOL");
    free_spec(s);

    s = make_spec(NULL, NULL, NULL, NULL, NULL, "ftp://h/v1/models/m:predict", NULL);
    resolve_fails(s, "http://");
    free_spec(s);
    s = make_spec(NULL, NULL, NULL, NULL, NULL, "http:///v1/models/m:predict", NULL);
    resolve_fails(s, "host");
    free_spec(s);

    /* display_url drops userinfo and the query string; predict_url keeps them */
    s = make_spec(NULL, NULL, NULL, NULL, NULL,
                  "https://user:secret@gw.example.com:8443/v1/models/m:predict?key=SECRETKEY#frag", NULL);
    ep = resolve_ok(s, s->url, EEM_PROTO_TFSERVING);
    if (ep) {
        CHECK(strcmp(ep->display_url, "https://gw.example.com:8443/v1/models/m:predict") == 0);
        CHECK(strstr(ep->identity, "SECRETKEY") == NULL);
        CHECK(strstr(ep->identity, "secret@") == NULL);
    }
    eem_endpoint_free(ep);
    free_spec(s);

    /* identity changes with what the cache must distinguish */
    eem_spec *a = make_spec("p", "m", NULL, NULL, NULL, NULL, NULL);
    eem_spec *b = make_spec("p", "m", NULL, NULL, NULL, NULL, NULL);
    b->outputs[0].type = EEM_DT_UINT8;
    eem_endpoint *ea = resolve_ok(a, NULL, EEM_PROTO_AIPLATFORM);
    eem_endpoint *eb = resolve_ok(b, NULL, EEM_PROTO_AIPLATFORM);
    if (ea && eb)
        CHECK(strcmp(ea->identity, eb->identity) != 0);
    eem_endpoint_free(eb);
    b->outputs[0].type = EEM_DT_FLOAT32;
    b->payload_format = EEM_PAYLOAD_RAW_JSON;
    eb = resolve_ok(b, NULL, EEM_PROTO_AIPLATFORM);
    if (ea && eb)
        CHECK(strcmp(ea->identity, eb->identity) != 0);
    eem_endpoint_free(eb);
    eb = resolve_ok(a, NULL, EEM_PROTO_AIPLATFORM);
    if (ea && eb)
        CHECK(strcmp(ea->identity, eb->identity) == 0);
    eem_endpoint_free(ea);
    eem_endpoint_free(eb);
    free_spec(a);
    free_spec(b);
}

static void test_url_helpers(void)
{
    CHECK_EQ_INT(eem_url_is_loopback("http://127.0.0.1:8080/x"), 1);
    CHECK_EQ_INT(eem_url_is_loopback("http://127.3.4.5/"), 1);
    CHECK_EQ_INT(eem_url_is_loopback("http://localhost/"), 1);
    CHECK_EQ_INT(eem_url_is_loopback("http://LOCALHOST:9/"), 1);
    CHECK_EQ_INT(eem_url_is_loopback("http://[::1]:8080/v1"), 1);
    CHECK_EQ_INT(eem_url_is_loopback("http://[::1]"), 1);
    CHECK_EQ_INT(eem_url_is_loopback("http://user@127.0.0.1:80/"), 1);
    CHECK_EQ_INT(eem_url_is_loopback("http://127.0.0.1"), 1);
    CHECK_EQ_INT(eem_url_is_loopback("http://127.0.0.1?x=1"), 1);
    CHECK_EQ_INT(eem_url_is_loopback("http://127.0.0.1.evil.com/"), 0);
    CHECK_EQ_INT(eem_url_is_loopback("http://127.0.0.1@evil.com/"), 0);
    CHECK_EQ_INT(eem_url_is_loopback("http://evil.com/127.0.0.1"), 0);
    CHECK_EQ_INT(eem_url_is_loopback("http://evil.com?h=localhost"), 0);
    CHECK_EQ_INT(eem_url_is_loopback("http://localhost.evil.com/"), 0);
    CHECK_EQ_INT(eem_url_is_loopback("http://10.0.0.1/"), 0);
    CHECK_EQ_INT(eem_url_is_loopback("http://[::2]/"), 0);
    CHECK_EQ_INT(eem_url_is_loopback("http://[::1/"), 0);
    CHECK_EQ_INT(eem_url_is_loopback(""), 0);
    CHECK_EQ_INT(eem_url_is_loopback(NULL), 0);

    CHECK_EQ_INT(eem_url_is_https("https://a/"), 1);
    CHECK_EQ_INT(eem_url_is_https("HTTPS://a/"), 1);
    CHECK_EQ_INT(eem_url_is_https("http://a/"), 0);
    CHECK_EQ_INT(eem_url_is_https("httpsx://a/"), 0);

    char buf[128];
    size_t n = eem_url_for_display("http://u:p@h:1/a/b?q=1", buf, sizeof buf);
    CHECK(strcmp(buf, "http://h:1/a/b") == 0);
    CHECK_EQ_INT(n, strlen("http://h:1/a/b"));
    n = eem_url_for_display("http://h/abcdef", buf, 10);
    CHECK_EQ_INT(n, strlen("http://h/abcdef"));
    CHECK(strcmp(buf, "http://h/") == 0);

    /* names: files unchanged, URLs (after a /vsicurl/ prefix) cleaned */
    n = eem_name_for_display("scene.tif", buf, sizeof buf);
    CHECK(strcmp(buf, "scene.tif") == 0);
    CHECK_EQ_INT(n, strlen("scene.tif"));
    n = eem_name_for_display("/vsicurl/https://u:secret@h/x.tif?token=abc", buf, sizeof buf);
    CHECK(strcmp(buf, "/vsicurl/https://h/x.tif") == 0);
    CHECK_EQ_INT(n, strlen("/vsicurl/https://h/x.tif"));
    eem_name_for_display("x.tif?sig=1", buf, sizeof buf);
    CHECK(strcmp(buf, "x.tif") == 0);
    n = eem_name_for_display("/vsicurl/http://h/abc", buf, 12);
    CHECK(strcmp(buf, "/vsicurl/ht") == 0);
    CHECK_EQ_INT(n, strlen("/vsicurl/http://h/abc"));
    n = eem_name_for_display("/vsicurl/http://h/abc", buf, 4);
    CHECK(strcmp(buf, "/vs") == 0);
    CHECK_EQ_INT(n, strlen("/vsicurl/http://h/abc"));
    CHECK_EQ_INT(eem_name_for_display(NULL, buf, sizeof buf), 0);
    CHECK(buf[0] == '\0');
}

/* ---- auth ----------------------------------------------------------------- */

static eem_endpoint *endpoint_for_url(const char *url, eem_protocol proto)
{
    eem_spec *s = make_spec(NULL, NULL, NULL, NULL, NULL, url, NULL);
    s->protocol = proto;
    eem_endpoint *ep = NULL;
    eem_error err = {0};
    eem_endpoint_resolve(s, &ep, &err);
    free_spec(s);
    return ep;
}

static void test_auth(void)
{
    const char *token = "ya29.TOPSECRETTOKEN";
    unsetenv("EEMODEL_ACCESS_TOKEN");
    unsetenv("EEMODEL_ACCESS_TOKEN_FILE");
    /* hermetic: no ambient Google credentials, no metadata-server probe */
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    setenv("CLOUDSDK_CONFIG", "/nonexistent/eem-gcloud", 1);
    setenv("NO_GCE_CHECK", "true", 1);

    eem_endpoint *https_ep = endpoint_for_url("https://us-central1-ml.googleapis.com/v1/projects/p/models/m:predict",
                                              EEM_PROTO_NONE);
    eem_endpoint *http_remote = endpoint_for_url("http://10.1.2.3/v1/projects/p/models/m:predict",
                                                 EEM_PROTO_NONE);
    eem_endpoint *http_loop = endpoint_for_url("http://127.0.0.1:8080/v1/projects/p/models/m:predict",
                                               EEM_PROTO_NONE);
    eem_endpoint *tfs = endpoint_for_url("https://gw.example.com/v1/models/m:predict", EEM_PROTO_NONE);
    CHECK(https_ep && http_remote && http_loop && tfs);
    if (!https_ep || !http_remote || !http_loop || !tfs)
        goto done;

    char *h = (char *)1;
    eem_error err = {0};
    /* nothing configured */
    CHECK_EQ_INT(eem_auth_header_for(https_ep, &h, &err), EEM_ERR_INVALID);
    CHECK(h == NULL);
    CHECK_CONTAINS(err.msg, "no credentials for https://us-central1-ml.googleapis.com");
    CHECK_CONTAINS(err.msg, "EEMODEL_ACCESS_TOKEN");
    CHECK_EQ_INT(eem_auth_header_for(http_loop, &h, &err), EEM_OK);
    CHECK(h == NULL);

    /* token from the environment */
    setenv("EEMODEL_ACCESS_TOKEN", token, 1);
    CHECK_EQ_INT(eem_auth_header_for(https_ep, &h, &err), EEM_OK);
    CHECK(h && strcmp(h, "Authorization: Bearer ya29.TOPSECRETTOKEN") == 0);
    eem_secret_free(h);
    h = NULL;
    CHECK_EQ_INT(eem_auth_header_for(http_loop, &h, &err), EEM_OK);
    CHECK(h && strstr(h, token));
    eem_secret_free(h);
    h = (char *)1;
    eem_error_clear(&err);
    CHECK_EQ_INT(eem_auth_header_for(http_remote, &h, &err), EEM_OK);
    CHECK(h == NULL); /* not a Google host: no credentials at all */
    h = (char *)1;
    CPLSetConfigOption("EEMODEL_GOOGLE_CREDENTIALS_HOSTS", "10.1.2.3");
    eem_endpoint_free(http_remote);
    http_remote = endpoint_for_url("http://10.1.2.3/v1/projects/p/models/m:predict", EEM_PROTO_NONE);
    CHECK(http_remote != NULL);
    CPLSetConfigOption("EEMODEL_GOOGLE_CREDENTIALS_HOSTS", NULL);
    CHECK_EQ_INT(eem_auth_header_for(http_remote, &h, &err), EEM_ERR_INVALID);
    CHECK(h == NULL);
    CHECK_CONTAINS(err.msg, "plain http");
    CHECK_CONTAINS(err.msg, "http://10.1.2.3/");
    CHECK(strstr(err.msg, "TOPSECRET") == NULL);
    /* non-Google backend: no header even with a token */
    h = (char *)1;
    CHECK_EQ_INT(eem_auth_header_for(tfs, &h, &err), EEM_OK);
    CHECK(h == NULL);

    /* a config option wins over the environment */
    CPLSetConfigOption("EEMODEL_ACCESS_TOKEN", "  from-config  ");
    CHECK_EQ_INT(eem_auth_header_for(https_ep, &h, &err), EEM_OK);
    CHECK(h && strcmp(h, "Authorization: Bearer from-config") == 0);
    eem_secret_free(h);
    CPLSetConfigOption("EEMODEL_ACCESS_TOKEN", NULL);

    /* line breaks would inject headers */
    setenv("EEMODEL_ACCESS_TOKEN", "abc\r\nX-Evil: 1", 1);
    h = (char *)1;
    CHECK_EQ_INT(eem_auth_header_for(https_ep, &h, &err), EEM_ERR_INVALID);
    CHECK(h == NULL);
    CHECK_CONTAINS(err.msg, "control characters");
    CHECK(strstr(err.msg, "X-Evil") == NULL);
    unsetenv("EEMODEL_ACCESS_TOKEN");

    /* token file: trimmed */
    char path[] = "/tmp/eem_token_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        const char *content = "\n  file-token-123 \n";
        CHECK_EQ_INT(write(fd, content, strlen(content)), (long)strlen(content));
        close(fd);
        setenv("EEMODEL_ACCESS_TOKEN_FILE", path, 1);
        CHECK_EQ_INT(eem_auth_header_for(https_ep, &h, &err), EEM_OK);
        CHECK(h && strcmp(h, "Authorization: Bearer file-token-123") == 0);
        eem_secret_free(h);
        /* an empty file is an error, not silently no credentials */
        FILE *f = fopen(path, "w");
        if (f)
            fclose(f);
        h = (char *)1;
        CHECK_EQ_INT(eem_auth_header_for(https_ep, &h, &err), EEM_ERR_INVALID);
        CHECK(h == NULL);
        CHECK_CONTAINS(err.msg, "is empty");
        unlink(path);
    }
    setenv("EEMODEL_ACCESS_TOKEN_FILE", "/nonexistent/eem/token", 1);
    h = (char *)1;
    CHECK_EQ_INT(eem_auth_header_for(https_ep, &h, &err), EEM_ERR_INVALID);
    CHECK(h == NULL);
    CHECK_CONTAINS(err.msg, "EEMODEL_ACCESS_TOKEN_FILE");
    CHECK_CONTAINS(err.msg, "/nonexistent/eem/token");
    unsetenv("EEMODEL_ACCESS_TOKEN_FILE");

    eem_secret_free(NULL); /* allowed */

done:
    eem_endpoint_free(https_ep);
    eem_endpoint_free(http_remote);
    eem_endpoint_free(http_loop);
    eem_endpoint_free(tfs);
}

int main(void)
{
    test_aiplatform();
    test_vertex();
    test_url();
    test_url_helpers();
    test_auth();
    return check_report();
}
