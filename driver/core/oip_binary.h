/* oip_binary.h — EEMODEL_OIP_BINARY=AUTO: use Triton's binary tensor
 * extension wherever the KServe v2 server accepts it.
 *
 * A server that lists binary_tensor_data in GET /v2 gets binary bodies.  One
 * that does not (KServe's Python server accepts the extension without listing
 * it) is probed once: a one-instance request of zeros in the binary form.  A
 * 2xx answer means binary; a 4xx refusal (400, 415, 422 and the like; not
 * 401, 403, 404, 408 or 429) means JSON.  The verdict is remembered per
 * server — its /v2 URL with the name and version GET /v2 gave — for the life
 * of the process, so the probe is sent once per server, whatever the number
 * of datasets, and again when another server (or another version) answers
 * at that URL.  A listing is read again at every open and never remembered.
 * A binary request refused later (compute.c) replaces a binary verdict with
 * JSON, so the next dataset opened on that server sends JSON.
 * Any other outcome (no answer, 5xx, 401) falls back to JSON for this dataset
 * without remembering. */
#ifndef EEM_OIP_BINARY_H
#define EEM_OIP_BINARY_H

#include "endpoint.h"
#include "error.h"
#include "payload.h"
#include "source.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The verdict remembered for server_key: 1 binary, 0 JSON, -1 unknown. */
int eem_oip_binary_remembered(const char *server_key);
void eem_oip_binary_remember(const char *server_key, int binary);
/* Forget every verdict (tests). */
void eem_oip_binary_forget_all(void);
/* The key a verdict is remembered under for ep and the name and version its
 * GET /v2 gave (server_identity, "" when unknown); free() it.  NULL when out
 * of memory. */
char *eem_oip_binary_key_dup(const eem_endpoint *ep, const char *server_identity);
/* 1 when HTTP status is a refusal of the binary form (400, 415, 422 and the
 * like; not 401, 403, 404, 408 or 429). */
int eem_oip_binary_refusal(long status);

/* Room for a server's name and version (eem_metadata_server_identity). */
#define EEM_OIP_SERVER_IDENTITY_MAX 160

/* Decide binary or JSON for ep (see above).  advertised: GET /v2 listed the
 * extension; server_identity: its name and version ("" when unknown).  ctx:
 * the payload context of the dataset (its binary flag is not read).
 * secret_headers: credentials and static headers of the requests. */
eem_status eem_oip_binary_auto(const eem_endpoint *ep, const eem_source *src,
                               const eem_spec *spec, const eem_payload_ops *ops,
                               const eem_payload_context *ctx, const char *const *secret_headers,
                               int advertised, const char *server_identity, int *binary,
                               eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
