/* fuzz_payload_raw_json.c — libFuzzer target for the RAW_JSON answer decoder
 * (payload_raw_json.c); see payload_fuzz.h for the input layout. */
#include "payload_fuzz.h"

PAYLOAD_FUZZ_TARGET(EEM_PAYLOAD_RAW_JSON, EEM_PROTO_TFSERVING,
                    "url=http://127.0.0.1/v1/models/m:predict;payload_format=RAW_JSON")
