/* backend.h — the backend families as a table, the way payload.h lists the
 * payload formats.
 *
 * One entry per protocol, each defined in its family's file:
 * backend_google.c (AI Platform, Vertex AI), backend_tfserving.c (TF Serving
 * REST), backend_kserve.c (KServe / Triton Open Inference Protocol v2).  An
 * entry knows how to recognise its URLs, build its predict URL from the
 * descriptor, its default payload format and instance cap, which payload
 * formats and options it carries, where its model metadata lives and how to
 * read it, and how to read the server's message out of an error body.
 * endpoint.c, metadata.c and http.c call through the table and know no
 * protocol detail. */
#ifndef EEM_BACKEND_H
#define EEM_BACKEND_H

#include "buf.h"
#include "dtype.h"
#include "error.h"
#include "spec.h"
#include "url.h" /* eem_path_segments */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct eem_endpoint;
struct eem_model_metadata;

typedef struct eem_backend_ops {
    eem_protocol protocol;
    int google;                         /* Google's protocol: Google credentials may apply */
    eem_payload_format default_format;
    int max_instances;                  /* per-request instance cap (0: none) */
    /* Index of the path segment where this backend's layout starts in ps
     * (below any gateway prefix), -1 when the path does not have it. */
    int (*recognises)(const struct eem_path_segments *ps);
    /* Predict URL from the descriptor's keys (NULL: only URL= names it). */
    eem_status (*build_url)(const eem_spec *spec, eem_buf *url, eem_error *err);
    /* Fill what depends on the predict URL: raw_predict, metadata URLs. */
    eem_status (*finish)(struct eem_endpoint *ep, eem_error *err);
    /* Refuse payload formats and options the backend cannot carry. */
    eem_status (*check_payload)(const eem_spec *spec, const struct eem_endpoint *ep,
                                eem_error *err);
    /* Refuse model tensors (published metadata) the protocol cannot carry
     * with ep's payload format (NULL: any). */
    eem_status (*check_metadata)(const struct eem_endpoint *ep,
                                 const struct eem_model_metadata *md, eem_error *err);
    /* Read the 2xx answer to GET ep->model_resource_url: set *confirmed
     * when it shows the model serving, fail when it shows that it cannot
     * serve; neither when it says nothing either way (NULL: no such
     * resource). */
    eem_status (*read_resource)(const struct eem_endpoint *ep, const char *body, size_t len,
                                int *confirmed, eem_error *err);
    /* Parse the body of ep->metadata_url (NULL: no model metadata). */
    eem_status (*parse_metadata)(const char *body, size_t len, const eem_spec *spec,
                                 struct eem_model_metadata **out, eem_error *err);
    /* The server's message from an error body into buf; 0 if none found. */
    int (*error_message)(const char *body, size_t len, char *buf, size_t buflen);
} eem_backend_ops;

extern const eem_backend_ops eem_backend_aiplatform;
extern const eem_backend_ops eem_backend_vertex;
extern const eem_backend_ops eem_backend_tfserving;
extern const eem_backend_ops eem_backend_kserve_v2;

/* The entry of protocol p, or NULL. */
const eem_backend_ops *eem_backend_for(eem_protocol p);
/* The protocol whose URL layout url's path has, EEM_PROTO_NONE if none. */
eem_protocol eem_backend_protocol_of_url(const char *url);

/* ---- helpers shared by the backend files -------------------------------- */

/* 1 when url's path (before any query string) ends with suffix. */
int eem_url_path_ends_with(const char *url, const char *suffix);
/* url with the last `cut` bytes of its path replaced by `add` (query kept);
 * owned, NULL when out of memory. */
char *eem_url_with_path_end(const char *url, size_t cut, const char *add);
/* The "error" member of a JSON error body: a string, or an object's
 * "message" (with its "status" when with_status); also FastAPI's "detail"
 * when with_detail.  Trimmed, control characters as spaces; 0 if none. */
int eem_backend_json_error(const char *body, size_t len, int with_status, int with_detail,
                           char *buf, size_t buflen);

#ifdef __cplusplus
}
#endif
#endif
