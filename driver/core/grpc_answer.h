/* grpc_answer.h — decoders of gRPC prediction answers (pure functions, fuzzed):
 * a TF Serving PredictResponse and an OIP v2 ModelInferResponse into one
 * tensor per (instance, declared output), the same contract as the payload
 * formats' decode_response (payload.h): out[i * spec->n_outputs + k], owned
 * by the caller, nothing left allocated on failure, every tensor bounded by
 * max_elements.
 *
 * PredictResponse outputs are matched by name (a single declared output takes
 * a single answered one); a numeric TensorProto (tensor_content or typed
 * values) holds the batch along its first dimension; a DT_STRING TensorProto
 * holds one serialized TensorProto per instance (GRPC_SERIALIZED_TF_TENSORS).
 * ModelInferResponse outputs are matched the same way; their data is
 * raw_output_contents when there is one entry per output, else the typed
 * contents; the leading dimension is the batch (it may be missing for a
 * single instance). */
#ifndef EEM_GRPC_ANSWER_H
#define EEM_GRPC_ANSWER_H

#include "error.h"
#include "spec.h"
#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_GRPC_MAX_ANSWER_OUTPUTS 64

eem_status eem_grpc_decode_predict_response(const eem_spec *spec, const uint8_t *msg, size_t len,
                                            int n_instances, size_t max_elements,
                                            eem_tensor **out, eem_error *err);
eem_status eem_grpc_decode_model_infer_response(const eem_spec *spec, const uint8_t *msg,
                                                size_t len, int n_instances,
                                                size_t max_elements, eem_tensor **out,
                                                eem_error *err);
/* The `output` bytes of a Vertex DirectRawPredictResponse. */
eem_status eem_grpc_unwrap_direct_raw(const uint8_t *msg, size_t len, const uint8_t **inner,
                                      size_t *inner_len, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
