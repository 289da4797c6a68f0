/* grpc_metadata.h — model metadata over gRPC, fetched and checked at open:
 * TF Serving PredictionService/GetModelMetadata (the signature_def of
 * SIGNATURE_NAME, default serving_default) and OIP v2
 * GRPCInferenceService/ModelMetadata, parsed into an eem_model_metadata and
 * checked by eem_metadata_check() exactly like the REST metadata.  A server
 * that answers the call with an error publishes nothing and is not checked. */
#ifndef EEM_GRPC_METADATA_H
#define EEM_GRPC_METADATA_H

#include "endpoint.h"
#include "error.h"
#include "metadata.h"
#include "source.h"
#include "spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parse answers (bare protobuf messages); *out freed with eem_metadata_free(). */
eem_status eem_grpc_metadata_parse_tfserving(const uint8_t *msg, size_t len,
                                             const char *signature, eem_model_metadata **out,
                                             eem_error *err);
eem_status eem_grpc_metadata_parse_oip(const uint8_t *msg, size_t len, eem_model_metadata **out,
                                       eem_error *err);

eem_status eem_grpc_metadata_check_at_open(eem_spec *spec, const eem_source *src,
                                           const eem_endpoint *ep, const char *const *headers,
                                           eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
