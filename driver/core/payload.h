/* payload.h — the interface every payload format implements ("minidrivers",
 * one payload_*.c file each).
 *
 * A request body is begin_body + instance (',' instance)* + end_body, so the
 * batcher can measure each encoded instance exactly and fill requests up to
 * MAX_PAYLOAD_BYTES.  decode_response turns an answer into one tensor per
 * (instance, declared output); shapes are checked later by the predictor. */
#ifndef EEM_PAYLOAD_H
#define EEM_PAYLOAD_H

#include "buf.h"
#include "error.h"
#include "spec.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One tile's inputs: n_inputs tensors of shape (H, W, C), each under a key. */
typedef struct eem_instance {
    int n_inputs;
    const char *const *keys;
    const eem_tensor *const *inputs;
} eem_instance;

typedef struct eem_payload_ops {
    eem_payload_format format;
    const char *name;
    /* Append the envelope start, e.g. {"instances":[ */
    eem_status (*begin_body)(const eem_spec *spec, eem_buf *b, eem_error *err);
    /* Append one instance's JSON (no separator). */
    eem_status (*encode_instance)(const eem_spec *spec, const eem_instance *inst, eem_buf *b,
                                  eem_error *err);
    /* Append the envelope end, e.g. ]} */
    eem_status (*end_body)(const eem_spec *spec, eem_buf *b, eem_error *err);
    /* Decode the answer to a request of n_instances instances.  out has
     * n_instances * spec->n_outputs slots, filled row-major
     * (out[i * n_outputs + k] = output k of instance i); each tensor is owned by
     * the caller.  max_elements bounds every tensor's element count (a lying
     * server cannot make us allocate more than the declared tile needs).  On
     * failure no tensor is left allocated. */
    eem_status (*decode_response)(const eem_spec *spec, const char *body, size_t len,
                                  int n_instances, size_t max_elements, eem_tensor **out,
                                  eem_error *err);
} eem_payload_ops;

/* The ops for a format, or NULL when it is not implemented. */
const eem_payload_ops *eem_payload_ops_for(eem_payload_format f);

/* Formats (one file each). */
extern const eem_payload_ops eem_payload_serialized_tf_tensors;

#ifdef __cplusplus
}
#endif
#endif
