/* buf.c — the growable byte buffer (see buf.h): appends, JSON string literals
 * and table-driven base64.
 *
 * Every append returns 0 on success and -1 once an allocation has failed; after
 * a failure the buffer keeps its old, consistent content and ignores appends. */
#include "buf.h"

#include "bigalloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EEM_BUF_MIN_CAPACITY 256

int eem_buf_reserve(eem_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    /* +1 keeps room for the terminating NUL. */
    if (extra > SIZE_MAX - b->len - 1) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : EEM_BUF_MIN_CAPACITY;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap >= EEM_BIGALLOC_MIN) {
        /* a large buffer: huge pages (bigalloc.h), the content copied over */
        size_t usable = 0;
        char *big = eem_bigalloc(cap, &usable);
        if (!big) {
            b->failed = 1;
            return -1;
        }
        if (b->data)
            memcpy(big, b->data, b->len + 1);
        free(b->data);
        b->data = big;
        b->cap = usable;
        return 0;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int eem_buf_append(eem_buf *b, const void *data, size_t len)
{
    if (eem_buf_reserve(b, len) != 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int eem_buf_puts(eem_buf *b, const char *s)
{
    return eem_buf_append(b, s, strlen(s));
}

int eem_buf_printf(eem_buf *b, const char *fmt, ...)
{
    if (b->failed)
        return -1;
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small)
        return eem_buf_append(b, small, (size_t)n);
    if (eem_buf_reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int eem_buf_json_string(eem_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    /* Worst case every byte becomes \u00XX. */
    if (n > (SIZE_MAX - 2) / 6 || eem_buf_reserve(b, n * 6 + 2) != 0)
        return -1;
    char *o = b->data + b->len;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        switch (c) {
        case '"':
            *o++ = '\\';
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\b':
            *o++ = '\\';
            *o++ = 'b';
            break;
        case '\f':
            *o++ = '\\';
            *o++ = 'f';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        default:
            if (c < 0x20) {
                *o++ = '\\';
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            } else {
                *o++ = (char)c;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

/* Base64 alphabet as a constant expression, so the tables below are built by
 * the compiler. */
#define B64_CHAR(v)                                                                                \
    ((v) < 26    ? 'A' + (v)                                                                       \
     : (v) < 52  ? 'a' + (v)-26                                                                    \
     : (v) < 62  ? '0' + (v)-52                                                                    \
     : (v) == 62 ? '+'                                                                             \
                 : '/')
/* Two output characters for every 12-bit value, first character in the low byte
 * (stored with memcpy: little-endian host, see tensor.c). */
#define B64_PAIR(i) (uint16_t)(B64_CHAR((i) >> 6) | B64_CHAR((i)&63) << 8)
#define B64_P4(i) B64_PAIR(i), B64_PAIR((i) + 1), B64_PAIR((i) + 2), B64_PAIR((i) + 3)
#define B64_P16(i) B64_P4(i), B64_P4((i) + 4), B64_P4((i) + 8), B64_P4((i) + 12)
#define B64_P64(i) B64_P16(i), B64_P16((i) + 16), B64_P16((i) + 32), B64_P16((i) + 48)
#define B64_P256(i) B64_P64(i), B64_P64((i) + 64), B64_P64((i) + 128), B64_P64((i) + 192)
#define B64_P1024(i) B64_P256(i), B64_P256((i) + 256), B64_P256((i) + 512), B64_P256((i) + 768)
static const uint16_t b64_pairs[4096] = {B64_P1024(0), B64_P1024(1024), B64_P1024(2048),
                                         B64_P1024(3072)};

int eem_buf_base64(eem_buf *b, const void *data, size_t len)
{
    size_t groups = len / 3 + (len % 3 != 0);
    if (groups > (SIZE_MAX - 1) / 4 || eem_buf_reserve(b, groups * 4) != 0)
        return -1;
    const unsigned char *in = data;
    char *o = b->data + b->len;
    size_t full = len - len % 3;
    for (size_t i = 0; i < full; i += 3, o += 4) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        memcpy(o, &b64_pairs[v >> 12], 2);
        memcpy(o + 2, &b64_pairs[v & 0xFFF], 2);
    }
    size_t rest = len - full;
    if (rest) {
        uint32_t v = (uint32_t)in[full] << 16;
        if (rest == 2)
            v |= (uint32_t)in[full + 1] << 8;
        o[0] = (char)B64_CHAR(v >> 18);
        o[1] = (char)B64_CHAR((v >> 12) & 63);
        o[2] = rest == 2 ? (char)B64_CHAR((v >> 6) & 63) : '=';
        o[3] = '=';
        o += 4;
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

void eem_buf_reset(eem_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *eem_buf_take(eem_buf *b)
{
    char *p = b->data;
    if (b->failed) {
        free(p);
        p = NULL;
    } else if (!p) {
        p = calloc(1, 1); /* an empty string, so callers may always free() */
    }
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
    return p;
}

void eem_buf_free(eem_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}
