/* grpc_frame.h — the pure parts of gRPC over HTTP/2 (no I/O, fuzzed):
 * the 5-byte length prefix of a message, the status read from response
 * header and trailer lines (grpc-status, percent-encoded grpc-message,
 * trailers-only answers, the HTTP-status fallback when a proxy answered),
 * status names and which statuses are worth retrying. */
#ifndef EEM_GRPC_FRAME_H
#define EEM_GRPC_FRAME_H

#include "error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_GRPC_FRAME_HEADER 5
#define EEM_GRPC_MESSAGE_MAX 512

/* google.rpc.Code */
enum {
    EEM_GRPC_OK = 0,
    EEM_GRPC_CANCELLED = 1,
    EEM_GRPC_UNKNOWN = 2,
    EEM_GRPC_INVALID_ARGUMENT = 3,
    EEM_GRPC_DEADLINE_EXCEEDED = 4,
    EEM_GRPC_NOT_FOUND = 5,
    EEM_GRPC_PERMISSION_DENIED = 7,
    EEM_GRPC_RESOURCE_EXHAUSTED = 8,
    EEM_GRPC_FAILED_PRECONDITION = 9,
    EEM_GRPC_ABORTED = 10,
    EEM_GRPC_UNIMPLEMENTED = 12,
    EEM_GRPC_INTERNAL = 13,
    EEM_GRPC_UNAVAILABLE = 14,
    EEM_GRPC_UNAUTHENTICATED = 16
};

/* "UNAVAILABLE", ...; "code N" style text for unknown numbers is the caller's. */
const char *eem_grpc_status_name(int code);

/* What the response headers and trailers of one call said. */
typedef struct eem_grpc_status_lines {
    long http_status;          /* from the ":status" / "HTTP/2 200" line, 0 if none */
    int http2;                 /* the status line said HTTP/2 */
    int grpc_content_type;     /* content-type application/grpc[+...] */
    int status;                /* grpc-status, -1 when absent, -2 when malformed */
    char message[EEM_GRPC_MESSAGE_MAX]; /* grpc-message, percent-decoded, control chars as ' ' */
} eem_grpc_status_lines;

void eem_grpc_status_lines_reset(eem_grpc_status_lines *s);
/* One header or trailer line as libcurl delivers it ("Name: value\r\n",
 * "HTTP/2 200 ", or an empty line); anything else is ignored. */
void eem_grpc_status_lines_feed(eem_grpc_status_lines *s, const char *line, size_t n);
/* The call's status: grpc-status when present, else the mapping of the HTTP
 * status (a proxy or a server that is not gRPC). */
int eem_grpc_status_of(const eem_grpc_status_lines *s);
/* grpc-status for an answer without one: 400->INTERNAL, 401->UNAUTHENTICATED,
 * 403->PERMISSION_DENIED, 404->UNIMPLEMENTED, 429/502/503/504->UNAVAILABLE,
 * else UNKNOWN. */
int eem_grpc_status_from_http(long http_status);
/* Decimal grpc-status value without leading zeros; -1 when malformed. */
int eem_grpc_parse_status(const char *v, size_t n);
/* Percent-decode a grpc-message value into out (NUL-terminated); a bad escape
 * is kept as written; control characters become ' '. */
void eem_grpc_decode_message(const char *v, size_t n, char *out, size_t cap);

/* 1 when a call that ended with code may succeed if sent again:
 * UNAVAILABLE, ABORTED, DEADLINE_EXCEEDED (Predict is idempotent) and
 * RESOURCE_EXHAUSTED unless the message says a size limit was hit. */
int eem_grpc_status_is_retryable(int code, const char *message);

/* Write the 5-byte prefix of an uncompressed message of len bytes. */
void eem_grpc_frame_header(uint8_t hdr[EEM_GRPC_FRAME_HEADER], size_t len);
/* The single message of a unary answer body: exactly one uncompressed
 * length-prefixed message and nothing after it, at most max_message bytes
 * (0 = no bound).  *msg_offset / *msg_len locate it in body. */
eem_status eem_grpc_unframe(const uint8_t *body, size_t len, size_t max_message,
                            size_t *msg_offset, size_t *msg_len, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
