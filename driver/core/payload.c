/* payload.c — picks the payload minidriver for a format (see payload.h); each
 * format lives in its own payload_*.c file. */
#include "payload.h"

#include <stddef.h>

const eem_payload_ops *eem_payload_ops_for(eem_payload_format f)
{
    switch (f) {
    case EEM_PAYLOAD_SERIALIZED_TF_TENSORS:
        return &eem_payload_serialized_tf_tensors;
    default:
        return NULL;
    }
}
