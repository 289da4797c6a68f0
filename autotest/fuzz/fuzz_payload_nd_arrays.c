/* fuzz_payload_nd_arrays.c — libFuzzer target for the ND_ARRAYS answer decoder
 * (payload_nd_arrays.c); see payload_fuzz.h for the input layout. */
#include "payload_fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    payload_fuzz_init(EEM_PROTO_VERTEX, "url=http://127.0.0.1/v1/projects/p/locations/us-central1/endpoints/e:predict;payload_format=ND_ARRAYS");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return payload_fuzz_one(EEM_PAYLOAD_ND_ARRAYS, data, size);
}
