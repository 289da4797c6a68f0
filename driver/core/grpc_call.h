/* grpc_call.h — unary gRPC calls over the HTTP transport (http.h).
 *
 * A gRPC call is an eem_http_request whose url is the http:// (h2c, prior
 * knowledge) or https:// (TLS, ALPN h2) URL of /package.Service/Method and
 * whose body is the 5-byte-prefixed request message; eem_grpc_request_use()
 * attaches the hooks that make it one: HTTP/2, content-type application/grpc,
 * te: trailers, grpc-timeout from GDAL_HTTP_TIMEOUT (the libcurl timeout a
 * second longer, so the server's DEADLINE_EXCEEDED arrives first), the
 * request's own header lines (credentials: the same single list as HTTP
 * requests), grpc-status / grpc-message read from trailers or a
 * trailers-only answer.  The retry decision follows the gRPC status
 * (UNAVAILABLE, ABORTED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED unless a size
 * limit) through http.c's backoff.  When the call succeeds the response is
 * the bare protobuf message (framing checked and removed); when it fails
 * req->error says "gRPC status N NAME: message" and req->status is 401 for
 * UNAUTHENTICATED (so the credential refresh path applies), 0 otherwise.
 *
 * Calls are multiplexed as streams of one connection per server
 * (CURLOPT_PIPEWAIT).  Debian 12's libcurl 7.88.1 cannot reuse a
 * prior-knowledge h2c connection (curl issue #10634): over http:// the call
 * that opens the connection uses prior knowledge and the others join it with
 * plain HTTP/2 (grpc_h2c.h); a call that finds the connection gone is retried
 * at once, uncounted.  Shared h2c connections are the default only with
 * libcurl >= 8 (7.88.1 also loses the trailers of concurrent h2c streams);
 * otherwise, or with EEMODEL_GRPC_CONNECTION_REUSE=NO, every h2c call has a
 * connection of its own (CURLOPT_FORBID_REUSE); =YES forces sharing. */
#ifndef EEM_GRPC_CALL_H
#define EEM_GRPC_CALL_H

#include "error.h"
#include "http.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

extern const eem_http_hooks eem_grpc_hooks;

/* Turn req into a unary gRPC call (before eem_http_multi_add). */
void eem_grpc_request_use(eem_http_request *req);
/* The same, with the call metadata of endpoint ep (Vertex: the
 * x-goog-request-params routing line); ep must outlive the request. */
struct eem_endpoint;
void eem_grpc_request_use_for(eem_http_request *req, const struct eem_endpoint *ep);

/* "http://host:port" + path for grpc://host:port[/...] (grpcs:// -> https://);
 * http(s):// roots are kept.  Malloc'ed, caller frees; NULL on allocation
 * failure. */
char *eem_grpc_http_url(const char *root, const char *path);

/* How a blocking call failed (either may be 0). */
typedef struct eem_grpc_call_failure {
    int unreachable; /* refused, name not resolved, TLS failure (http.h) */
    int grpc_code;   /* the grpc-status answered, 0 if none */
} eem_grpc_call_failure;

/* One blocking unary call (model metadata at open): msg is the bare request
 * message; *answer (malloc'ed, caller frees) the bare answer message.
 * headers: NULL-terminated lines (credentials) or NULL; failure (may be NULL)
 * says how a failed call failed. */
eem_status eem_grpc_call_blocking(const char *url, const uint8_t *msg, size_t len,
                                  const char *const *headers, int max_retry, double timeout_s,
                                  char **answer, size_t *answer_len,
                                  eem_grpc_call_failure *failure, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
