/* endpoint.h — where and how to send a prediction request, per backend.
 *
 * Resolves the descriptor's PROJECT/MODEL/VERSION/REGION, ENDPOINT, URL,
 * API_ROOT and PROTOCOL into one predict URL, the payload format, whether
 * Google credentials apply and the backend's limits.  eem_endpoint_resolve()
 * returns an eem_endpoint the caller frees with eem_endpoint_free(). */
#ifndef EEM_ENDPOINT_H
#define EEM_ENDPOINT_H

#include "error.h"
#include "spec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_AIPLATFORM_ROOT_FMT "https://%s-ml.googleapis.com"
#define EEM_AIPLATFORM_GLOBAL_ROOT "https://ml.googleapis.com"
#define EEM_VERTEX_ROOT_FMT "https://%s-aiplatform.googleapis.com"
/* gcloud reads at most 100 instances per call; Google's online predict limit. */
#define EEM_GOOGLE_MAX_INSTANCES 100

struct eem_grpc_target;

typedef struct eem_endpoint {
    eem_protocol protocol;
    eem_payload_format payload_format;
    char *predict_url;   /* full URL of the predict call */
    char *display_url;   /* the same without query string / credentials, for messages */
    int google_auth;     /* 1: Google OAuth2 credentials apply */
    int max_instances;   /* per-request instance cap of the backend (0 = none) */
    long max_payload_bytes;
    char *identity;      /* stable text identifying backend+model+format (cache keys) */
    int raw_predict;     /* Vertex :rawPredict (body forwarded to the container as is) */
    char *metadata_url;  /* model metadata (TF Serving .../metadata, KServe v2 model), or NULL */
    char *server_metadata_url; /* KServe v2 server metadata (GET /v2: extensions), or NULL */
    struct eem_grpc_target *grpc; /* gRPC service and model fields (grpc_endpoint.h), or NULL */
} eem_endpoint;

eem_status eem_endpoint_resolve(const eem_spec *spec, eem_endpoint **out, eem_error *err);
void eem_endpoint_free(eem_endpoint *ep);

/* 1 if url's host is a loopback address (127.0.0.0/8, ::1, localhost). */
int eem_url_is_loopback(const char *url);
/* 1 if url uses https. */
int eem_url_is_https(const char *url);
/* url without userinfo, query string or fragment, for messages: written into
 * buf (truncated to buflen-1 chars); returns the full length like snprintf. */
size_t eem_url_for_display(const char *url, char *buf, size_t buflen);
/* A file name or URL safe to show: a URL (after any /vsicurl/-style prefix,
 * kept) loses its credentials and query string, other names are unchanged.
 * Same buffer contract as eem_url_for_display. */
size_t eem_name_for_display(const char *name, char *buf, size_t buflen);

#ifdef __cplusplus
}
#endif
#endif
