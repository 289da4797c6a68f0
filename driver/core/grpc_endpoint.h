/* grpc_endpoint.h — where a gRPC prediction goes: the service, method URLs
 * and model fields of TF Serving (tensorflow.serving.PredictionService),
 * OIP v2 (inference.GRPCInferenceService) and Vertex AI DirectRawPredict.
 *
 * URL=grpc://host:port/v1/models/M[/versions/V|/labels/L][:predict] is TF
 * Serving, grpc://host:port/v2/models/M[/versions/V][/infer] OIP v2 (the
 * paths of their REST APIs; grpcs:// is TLS, an http(s):// URL with a GRPC_*
 * PAYLOAD_FORMAT is the same); ENDPOINT=projects/P/locations/L/endpoints/E with
 * a GRPC_* format is Vertex AI.  eem_grpc_endpoint_resolve() fills an
 * eem_endpoint (endpoint.h) whose grpc member it owns. */
#ifndef EEM_GRPC_ENDPOINT_H
#define EEM_GRPC_ENDPOINT_H

#include "endpoint.h"
#include "error.h"
#include "spec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_GRPC_TF_PREDICT "/tensorflow.serving.PredictionService/Predict"
#define EEM_GRPC_TF_METADATA "/tensorflow.serving.PredictionService/GetModelMetadata"
#define EEM_GRPC_OIP_INFER "/inference.GRPCInferenceService/ModelInfer"
#define EEM_GRPC_OIP_METADATA "/inference.GRPCInferenceService/ModelMetadata"
#define EEM_GRPC_VERTEX_DIRECT_RAW "/google.cloud.aiplatform.v1.PredictionService/DirectRawPredict"
/* Vertex documents a 10 MB request limit for directRawPredict. */
#define EEM_GRPC_VERTEX_MAX_PAYLOAD_BYTES 10000000L

typedef enum eem_grpc_service {
    EEM_GRPC_SERVICE_TFSERVING,
    EEM_GRPC_SERVICE_OIP,
    EEM_GRPC_SERVICE_VERTEX
} eem_grpc_service;

typedef struct eem_grpc_target {
    eem_grpc_service service;
    char *model;           /* model name (TF Serving ModelSpec.name / OIP model_name) */
    char *version;         /* numeric version or NULL */
    char *label;           /* TF Serving version label or NULL */
    char *vertex_endpoint; /* projects/P/locations/L/endpoints/E (Vertex) */
    char *request_params;  /* "x-goog-request-params: endpoint=..." (Vertex) or NULL */
} eem_grpc_target;

/* The routing metadata line Google's client libraries send for resource
 * `name` under request field `field` (AIP-4222): "x-goog-request-params:
 * field=name" with name percent-encoded except unreserved characters and '/'.
 * Malloc'ed, caller frees; NULL on allocation failure. */
char *eem_grpc_request_params_line(const char *field, const char *name);

/* 1 when spec asks for gRPC: a grpc(s):// URL or a GRPC_* PAYLOAD_FORMAT. */
int eem_grpc_endpoint_applies(const eem_spec *spec);
eem_status eem_grpc_endpoint_resolve(const eem_spec *spec, eem_endpoint **out, eem_error *err);
void eem_grpc_target_free(eem_grpc_target *t);

#ifdef __cplusplus
}
#endif
#endif
