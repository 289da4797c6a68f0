/* oip_binary.c — the AUTO choice of Triton's binary tensor extension: the
 * per-server memory and the one-time probe (see oip_binary.h). */
#define _POSIX_C_SOURCE 200809L

#include "oip_binary.h"

#include "backend.h"
#include "http.h"
#include "str.h"
#include "tensor.h"

#include <cpl_error.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EEM_OIP_BINARY_SERVERS 64
#define EEM_OIP_PROBE_TIMEOUT_S 60.0

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *key;
    int binary;
} g_servers[EEM_OIP_BINARY_SERVERS];
static int g_n_servers, g_next_evicted;

int eem_oip_binary_remembered(const char *server_key)
{
    int v = -1;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_n_servers; i++)
        if (strcmp(g_servers[i].key, server_key) == 0)
            v = g_servers[i].binary;
    pthread_mutex_unlock(&g_lock);
    return v;
}

void eem_oip_binary_remember(const char *server_key, int binary)
{
    char *key = eem_strdup(server_key);
    if (!key)
        return; /* only a probe more next time */
    pthread_mutex_lock(&g_lock);
    int i = 0;
    while (i < g_n_servers && strcmp(g_servers[i].key, server_key) != 0)
        i++;
    if (i == g_n_servers) {
        if (g_n_servers < EEM_OIP_BINARY_SERVERS) {
            g_n_servers++;
        } else { /* full: replace the oldest entries in turn */
            i = g_next_evicted;
            g_next_evicted = (g_next_evicted + 1) % EEM_OIP_BINARY_SERVERS;
        }
        free(g_servers[i].key);
        g_servers[i].key = key;
        key = NULL;
    }
    g_servers[i].binary = binary ? 1 : 0;
    pthread_mutex_unlock(&g_lock);
    free(key);
}

void eem_oip_binary_forget_all(void)
{
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_n_servers; i++) {
        free(g_servers[i].key);
        g_servers[i].key = NULL;
    }
    g_n_servers = g_next_evicted = 0;
    pthread_mutex_unlock(&g_lock);
}

/* The binary body of one instance of zeros, and its JSON header length. */
static eem_status zero_instance_body(const eem_source *src, const eem_spec *spec,
                                     const eem_payload_ops *ops, const eem_payload_context *ctx,
                                     eem_buf *body, size_t *header_len, eem_error *err)
{
    eem_tensor **tensors = NULL;
    const char **keys = NULL;
    eem_payload_fragment frag;
    memset(&frag, 0, sizeof frag);
    eem_payload_batch *batch = eem_payload_batch_new(ops, ctx);
    eem_status st = batch ? eem_source_zero_tensors_new(src, spec->tile_h + 2 * spec->overlap_y,
                                                        spec->tile_w + 2 * spec->overlap_x,
                                                        &tensors, &keys, err)
                          : eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_instance inst = {src->n_keys, keys, (const eem_tensor *const *)tensors};
    if (st == EEM_OK && (st = eem_payload_encode(ops, ctx, &inst, &frag, err)) == EEM_OK &&
        (st = eem_payload_batch_add(batch, &inst, &frag, err)) == EEM_OK)
        st = eem_payload_batch_build(batch, body, header_len, err);
    eem_source_zero_tensors_free(src, tensors, keys);
    eem_payload_fragment_free(&frag);
    eem_payload_batch_free(batch);
    return st;
}

int eem_oip_binary_refusal(long s)
{
    return s >= 400 && s < 500 && s != 401 && s != 403 && s != 404 && s != 408 && s != 429;
}

/* POST the probe; *verdict 1 binary, 0 JSON (remember), -1 JSON (do not). */
static eem_status probe(const eem_endpoint *ep, const eem_source *src, const eem_spec *spec,
                        const eem_payload_ops *ops, const eem_payload_context *ctx,
                        const char *const *secret_headers, int *verdict, eem_error *err)
{
    *verdict = -1;
    eem_payload_context bin = *ctx;
    bin.binary = 1;
    eem_buf body = {0};
    size_t header_len = 0;
    eem_status st = zero_instance_body(src, spec, ops, &bin, &body, &header_len, err);
    if (st != EEM_OK) {
        eem_buf_free(&body);
        return st;
    }
    char lines[2][96];
    snprintf(lines[0], sizeof lines[0], "Content-Type: %s", eem_payload_content_type(ops, &bin));
    snprintf(lines[1], sizeof lines[1], "Inference-Header-Content-Length: %zu", header_len);
    const char *headers[] = {lines[0], lines[1], NULL};
    eem_http_options opts;
    eem_http_options_from_config(&opts);
    opts.max_connections = 1;
    opts.max_retry = opts.max_retry > 1 ? 1 : opts.max_retry;
    if (opts.timeout_s > EEM_OIP_PROBE_TIMEOUT_S)
        opts.timeout_s = EEM_OIP_PROBE_TIMEOUT_S;
    eem_http_multi *m = NULL;
    eem_http_request req = {.url = ep->predict_url, .body = body.data, .body_len = body.len,
                            .headers = headers, .secret_headers = secret_headers,
                            .error_message = ep->backend ? ep->backend->error_message : NULL};
    eem_http_request *done = NULL;
    if ((st = eem_http_multi_new(&opts, &m, err)) == EEM_OK &&
        (st = eem_http_multi_add(m, &req, err)) == EEM_OK)
        st = eem_http_multi_next(m, &done, NULL, NULL, err);
    if (st == EEM_OK && done) {
        char what[1024];
        eem_http_describe_failure(&req, what, sizeof what);
        if (req.ok)
            *verdict = 1;
        else if (!req.error[0] && eem_oip_binary_refusal(req.status))
            *verdict = 0;
        CPLDebug("EEMODEL", "binary tensor extension probe: %s",
                 req.ok ? "accepted" : what);
    }
    eem_http_request_clear(&req);
    eem_http_multi_free(m);
    eem_buf_free(&body);
    return st;
}

char *eem_oip_binary_key_dup(const eem_endpoint *ep, const char *server_identity)
{
    /* the URL and who answers there: a server replaced by another probes again */
    const char *url = ep->server_metadata_url ? ep->server_metadata_url : ep->predict_url;
    const char *who = server_identity ? server_identity : "";
    const size_t n = strlen(url) + 1 + strlen(who) + 1;
    char *key = malloc(n);
    if (key)
        snprintf(key, n, "%s %s", url, who);
    return key;
}

eem_status eem_oip_binary_auto(const eem_endpoint *ep, const eem_source *src,
                               const eem_spec *spec, const eem_payload_ops *ops,
                               const eem_payload_context *ctx, const char *const *secret_headers,
                               int advertised, const char *server_identity, int *binary,
                               eem_error *err)
{
    *binary = 0;
    if (advertised) {
        *binary = 1;
        return EEM_OK;
    }
    char *key = eem_oip_binary_key_dup(ep, server_identity);
    if (!key)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    int known = eem_oip_binary_remembered(key);
    if (known >= 0) {
        *binary = known;
        free(key);
        return EEM_OK;
    }
    int verdict = -1;
    eem_status st = probe(ep, src, spec, ops, ctx, secret_headers, &verdict, err);
    if (st == EEM_OK && verdict >= 0)
        eem_oip_binary_remember(key, verdict);
    free(key);
    *binary = st == EEM_OK && verdict == 1;
    return st;
}
