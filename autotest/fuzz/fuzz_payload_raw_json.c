/* fuzz_payload_raw_json.c — libFuzzer target for the RAW_JSON answer decoder
 * (payload_raw_json.c); see payload_fuzz.h for the input layout. */
#include "payload_fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    payload_fuzz_init(EEM_PROTO_TFSERVING, "url=http://127.0.0.1/v1/models/m:predict;payload_format=RAW_JSON");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return payload_fuzz_one(EEM_PAYLOAD_RAW_JSON, data, size);
}
