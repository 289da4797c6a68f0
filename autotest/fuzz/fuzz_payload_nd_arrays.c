/* fuzz_payload_nd_arrays.c — libFuzzer target for the ND_ARRAYS answer decoder
 * (payload_nd_arrays.c); see payload_fuzz.h for the input layout. */
#include "payload_fuzz.h"

PAYLOAD_FUZZ_TARGET(EEM_PAYLOAD_ND_ARRAYS, EEM_PROTO_VERTEX,
                    "url=http://127.0.0.1/v1/projects/p/locations/us-central1/endpoints/e:predict;"
                    "payload_format=ND_ARRAYS")
