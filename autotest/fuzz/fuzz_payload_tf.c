/* fuzz_payload_tf.c — libFuzzer target for the SERIALIZED_TF_TENSORS answer
 * decoder (payload_tf.c); see payload_fuzz.h for the input layout. */
#include "payload_fuzz.h"

PAYLOAD_FUZZ_TARGET(EEM_PAYLOAD_SERIALIZED_TF_TENSORS, EEM_PROTO_AIPLATFORM,
                    "url=http://127.0.0.1/v1/projects/p/models/m:predict;"
                    "payload_format=SERIALIZED_TF_TENSORS")
