/* grpc_frame.c — gRPC message framing and status lines (see grpc_frame.h). */
#include "grpc_frame.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *eem_grpc_status_name(int code)
{
    static const char *const names[] = {
        "OK",        "CANCELLED",         "UNKNOWN",           "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",    "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL",      "UNAVAILABLE",       "DATA_LOSS",
        "UNAUTHENTICATED"};
    if (code >= 0 && code < (int)(sizeof names / sizeof names[0]))
        return names[code];
    return "unknown status";
}

void eem_grpc_status_lines_reset(eem_grpc_status_lines *s)
{
    memset(s, 0, sizeof *s);
    s->status = -1;
}

int eem_grpc_parse_status(const char *v, size_t n)
{
    if (n == 0 || n > 3 || (n > 1 && v[0] == '0'))
        return -1;
    int code = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)v[i]))
            return -1;
        code = code * 10 + (v[i] - '0');
    }
    return code;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void eem_grpc_decode_message(const char *v, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '%' && i + 2 < n && hex_value(v[i + 1]) >= 0 && hex_value(v[i + 2]) >= 0) {
            c = (unsigned char)(hex_value(v[i + 1]) * 16 + hex_value(v[i + 2]));
            i += 2;
        }
        out[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    out[o] = '\0';
}

/* Value of header `name` in line, trimmed; NULL if the line is another header. */
static const char *value_of(const char *line, size_t n, const char *name, size_t *len)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return NULL;
    const char *v = line + k + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *len = (size_t)(e - v);
    return v;
}

void eem_grpc_status_lines_feed(eem_grpc_status_lines *s, const char *line, size_t n)
{
    const char *v;
    size_t len;
    if (!line)
        return;
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* a new response (e.g. after a redirect or 100): start over */
        eem_grpc_status_lines_reset(s);
        s->http2 = n >= 6 && line[5] == '2';
        const char *sp = memchr(line, ' ', n);
        long code = 0;
        for (const char *p = sp ? sp + 1 : line + n; p < line + n && isdigit((unsigned char)*p); p++)
            if (code < 1000)
                code = code * 10 + (*p - '0');
        s->http_status = code;
    } else if ((v = value_of(line, n, "grpc-status", &len))) {
        s->status = eem_grpc_parse_status(v, len);
        if (s->status < 0)
            s->status = -2;
    } else if ((v = value_of(line, n, "grpc-message", &len))) {
        eem_grpc_decode_message(v, len, s->message, sizeof s->message);
    } else if ((v = value_of(line, n, "content-type", &len))) {
        s->grpc_content_type = len >= 16 && strncasecmp(v, "application/grpc", 16) == 0 &&
                               (len == 16 || v[16] == '+' || v[16] == ';');
    }
}

int eem_grpc_status_from_http(long http_status)
{
    switch (http_status) {
    case 400:
        return EEM_GRPC_INTERNAL;
    case 401:
        return EEM_GRPC_UNAUTHENTICATED;
    case 403:
        return EEM_GRPC_PERMISSION_DENIED;
    case 404:
        return EEM_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return EEM_GRPC_UNAVAILABLE;
    default:
        return EEM_GRPC_UNKNOWN;
    }
}

int eem_grpc_status_of(const eem_grpc_status_lines *s)
{
    if (s->status >= 0)
        return s->status;
    if (s->status == -2)
        return EEM_GRPC_UNKNOWN;
    return eem_grpc_status_from_http(s->http_status);
}

int eem_grpc_status_is_retryable(int code, const char *message)
{
    switch (code) {
    case EEM_GRPC_UNAVAILABLE:
    case EEM_GRPC_ABORTED:
    case EEM_GRPC_DEADLINE_EXCEEDED:
        return 1;
    case EEM_GRPC_RESOURCE_EXHAUSTED:
        /* "Received message larger than max (...)": sending it again cannot help */
        return !(message && strstr(message, "larger than max"));
    default:
        return 0;
    }
}

void eem_grpc_frame_header(uint8_t hdr[EEM_GRPC_FRAME_HEADER], size_t len)
{
    uint32_t n = (uint32_t)len;
    hdr[0] = 0;
    hdr[1] = (uint8_t)(n >> 24);
    hdr[2] = (uint8_t)(n >> 16);
    hdr[3] = (uint8_t)(n >> 8);
    hdr[4] = (uint8_t)n;
}

eem_status eem_grpc_unframe(const uint8_t *body, size_t len, size_t max_message,
                            size_t *msg_offset, size_t *msg_len, eem_error *err)
{
    *msg_offset = *msg_len = 0;
    if (len < EEM_GRPC_FRAME_HEADER)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "gRPC answer of %zu bytes has no message (a message starts with a "
                             "5-byte length prefix)",
                             len);
    if (body[0] == 1)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "gRPC answer is compressed, which EEMODEL never asks for "
                             "(accepted: uncompressed messages)");
    if (body[0] != 0)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "gRPC answer starts with flag byte %u; expected 0 (uncompressed)",
                             body[0]);
    uint64_t n = ((uint64_t)body[1] << 24) | ((uint64_t)body[2] << 16) |
                 ((uint64_t)body[3] << 8) | body[4];
    if (max_message > 0 && n > max_message)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "gRPC answer announces a %llu-byte message, more than the %zu "
                             "bytes allowed (EEMODEL_MAX_RESPONSE_BYTES)",
                             (unsigned long long)n, max_message);
    if (n > len - EEM_GRPC_FRAME_HEADER)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "gRPC answer is truncated: its message announces %llu bytes, %zu "
                             "arrived",
                             (unsigned long long)n, len - EEM_GRPC_FRAME_HEADER);
    if (n < len - EEM_GRPC_FRAME_HEADER)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "gRPC answer has %zu bytes after its %llu-byte message; a unary "
                             "call answers exactly one message",
                             len - EEM_GRPC_FRAME_HEADER - (size_t)n, (unsigned long long)n);
    *msg_offset = EEM_GRPC_FRAME_HEADER;
    *msg_len = (size_t)n;
    return EEM_OK;
}
