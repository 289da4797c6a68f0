/* fuzz_payload_grpc_tf.c — libFuzzer target for the PredictResponse decoder
 * (grpc_answer.c, behind GRPC_TF_TENSORS / GRPC_SERIALIZED_TF_TENSORS): the
 * body after the selector byte is the bare protobuf message (the transport
 * removed the gRPC prefix); see payload_fuzz.h. */
#include "payload_fuzz.h"

PAYLOAD_FUZZ_TARGET(EEM_PAYLOAD_GRPC_TF_TENSORS, EEM_PROTO_TFSERVING,
                    "url=grpc://127.0.0.1/v1/models/m;payload_format=GRPC_TF_TENSORS")
