/* metadata.h — model metadata published by the server, fetched and checked at open.
 *
 * TF Serving publishes GET /v1/models/M[/versions/V|/labels/L]/metadata (the
 * signature's inputs and outputs with dtypes and shapes), KServe v2 GET
 * /v2/models/M[/versions/V] (inputs/outputs with datatype and shape) and
 * GET /v2 (the server's extensions, e.g. binary_tensor_data).  At open the
 * descriptor is checked against what the model declares: input keys, element
 * types, tile shape, output names and lengths; a mismatch fails with both
 * sides shown.  Output lengths the descriptor left out (dims 1, length 0) are
 * filled in from the model.  A server that publishes nothing (any non-2xx
 * answer) is not checked.
 *
 * eem_metadata_parse_*() return an eem_model_metadata freed with
 * eem_metadata_free(). */
#ifndef EEM_METADATA_H
#define EEM_METADATA_H

#include "dtype.h"
#include "endpoint.h"
#include "error.h"
#include "model_metadata.h"
#include "source.h"
#include "spec.h"
#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata requests are cheap and optional: few retries, short timeout. */
#define EEM_METADATA_MAX_RETRY 1
#define EEM_METADATA_TIMEOUT_S 30.0
/* Longest wait before its retry (a Retry-After of 300 s is not waited at open). */
#define EEM_METADATA_MAX_WAIT_S 5.0

/* One input key as the driver sends it. */
typedef struct eem_sent_input {
    const char *key;
    eem_dtype type;
    int channels;
} eem_sent_input;

/* Check what the descriptor sends and declares against md (published at
 * where); fill spec's undeclared output lengths.  h, w: instance tile size. */
eem_status eem_metadata_check(const eem_model_metadata *md, const char *where, eem_spec *spec,
                              eem_payload_format format, const eem_sent_input *inputs,
                              int n_inputs, int h, int w, eem_error *err);

/* Fetch and check at open (see above).  headers: NULL-terminated request
 * header lines (credentials) or NULL.  *binary_available: the KServe v2
 * server advertises the binary tensor extension; server_identity (size
 * identity_size): its name and version (empty when not asked or not said).
 * *model_confirmed: the server answered the model's metadata and it agrees
 * with the descriptor (0 when the check was skipped, and over gRPC). */
eem_status eem_metadata_check_at_open(eem_spec *spec, const eem_source *src,
                                      const eem_endpoint *ep, const char *const *headers,
                                      int *binary_available, char *server_identity,
                                      size_t identity_size, int *model_confirmed,
                                      eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
