/* fuzz_payload_oip_v2.c — libFuzzer target for the OIP_V2 answer decoder
 * (payload_oip_v2.c); see payload_fuzz.h for the input layout. */
#include "payload_fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    payload_fuzz_init(EEM_PROTO_KSERVE_V2, "url=http://127.0.0.1/v2/models/m/infer;payload_format=OIP_V2");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return payload_fuzz_one(EEM_PAYLOAD_OIP_V2, data, size);
}
