/* fuzz_payload_grpc_oip.c — libFuzzer target for the ModelInferResponse
 * decoder (grpc_answer.c, behind GRPC_OIP_V2): raw_output_contents and typed
 * contents; see payload_fuzz.h. */
#include "payload_fuzz.h"

PAYLOAD_FUZZ_TARGET(EEM_PAYLOAD_GRPC_OIP_V2, EEM_PROTO_KSERVE_V2,
                    "url=grpc://127.0.0.1/v2/models/m;payload_format=GRPC_OIP_V2")
