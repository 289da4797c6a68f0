/* endpoint.h — where and how to send a prediction request.
 *
 * Resolves the descriptor's PROJECT/MODEL/VERSION/REGION, ENDPOINT, URL,
 * API_ROOT and PROTOCOL into one predict URL through the backend table
 * (backend.h): the payload format, whether Google credentials go to the
 * URL's host (url.h rule) and the backend's limits.  eem_endpoint_resolve()
 * returns an eem_endpoint the caller frees with eem_endpoint_free(). */
#ifndef EEM_ENDPOINT_H
#define EEM_ENDPOINT_H

#include "error.h"
#include "spec.h"
#include "url.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Google's hosts (backend_google.c). */
#define EEM_AIPLATFORM_ROOT_FMT "https://%s-ml.googleapis.com"
#define EEM_AIPLATFORM_GLOBAL_ROOT "https://ml.googleapis.com"
#define EEM_VERTEX_ROOT_FMT "https://%s-aiplatform.googleapis.com"
/* gcloud reads at most 100 instances per call; Google's online predict limit. */
#define EEM_GOOGLE_MAX_INSTANCES 100
/* Host names of private gateways that may receive Google credentials. */
#define EEM_GOOGLE_CREDENTIALS_HOSTS_OPTION "EEMODEL_GOOGLE_CREDENTIALS_HOSTS"

struct eem_backend_ops;

struct eem_grpc_target;

typedef struct eem_endpoint {
    eem_protocol protocol;
    const struct eem_backend_ops *backend; /* the backend family (backend.h) */
    eem_payload_format payload_format;
    char *predict_url;   /* full URL of the predict call */
    char *display_url;   /* the same without query string / credentials, for messages */
    int google_auth;     /* 1: Google OAuth2 credentials go to this host (url.h rule) */
    int max_instances;   /* per-request instance cap of the backend (0 = none) */
    long max_payload_bytes;
    char *identity;      /* stable text identifying backend+model+format (cache keys) */
    int raw_predict;     /* Vertex :rawPredict (body forwarded to the container as is) */
    char *metadata_url;  /* model metadata (TF Serving .../metadata, KServe v2 model), or NULL */
    char *server_metadata_url; /* KServe v2 server metadata (GET /v2: extensions), or NULL */
    char *model_resource_url;  /* Google: the model or version (AI Platform), the endpoint
                                * (Vertex AI) the predict URL names, or NULL */
    struct eem_grpc_target *grpc; /* gRPC service and model fields (grpc_endpoint.h), or NULL */
} eem_endpoint;

eem_status eem_endpoint_resolve(const eem_spec *spec, eem_endpoint **out, eem_error *err);
void eem_endpoint_free(eem_endpoint *ep);

#ifdef __cplusplus
}
#endif
#endif
