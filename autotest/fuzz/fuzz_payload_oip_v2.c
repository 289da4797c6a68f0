/* fuzz_payload_oip_v2.c — libFuzzer target for the OIP_V2 answer decoder
 * (payload_oip_v2.c); see payload_fuzz.h for the input layout. */
#include "payload_fuzz.h"

PAYLOAD_FUZZ_TARGET(EEM_PAYLOAD_OIP_V2, EEM_PROTO_KSERVE_V2,
                    "url=http://127.0.0.1/v2/models/m/infer;payload_format=OIP_V2")
