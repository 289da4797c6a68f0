/* fuzz_payload_tf.c — libFuzzer target for the SERIALIZED_TF_TENSORS answer
 * decoder (payload_tf.c); see payload_fuzz.h for the input layout. */
#include "payload_fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    payload_fuzz_init(EEM_PROTO_AIPLATFORM, "url=http://127.0.0.1/v1/projects/p/models/m:predict;"
                      "payload_format=SERIALIZED_TF_TENSORS");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return payload_fuzz_one(EEM_PAYLOAD_SERIALIZED_TF_TENSORS, data, size);
}
