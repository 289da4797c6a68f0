/* buf.h — a growable byte buffer used to build request bodies and messages.
 *
 * eem_buf is a value type: zero-initialise it, append, then either take the
 * data (eem_buf_take, caller frees) or release it (eem_buf_free).  Appends
 * report allocation failure through their return value and leave the buffer
 * consistent. */
#ifndef EEM_BUF_H
#define EEM_BUF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_buf {
    char *data; /* always NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
    int failed; /* set once an allocation failed; later appends are no-ops */
} eem_buf;

/* Appends return 0 on success, -1 on allocation failure (then b->failed is set). */
int eem_buf_reserve(eem_buf *b, size_t extra);
int eem_buf_append(eem_buf *b, const void *data, size_t len);
int eem_buf_puts(eem_buf *b, const char *s);
int eem_buf_printf(eem_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Append s as a JSON string literal, quotes included. */
int eem_buf_json_string(eem_buf *b, const char *s);
/* Append the standard base64 of data (no quotes). */
int eem_buf_base64(eem_buf *b, const void *data, size_t len);
void eem_buf_reset(eem_buf *b); /* len = 0, keeps capacity */
char *eem_buf_take(eem_buf *b); /* caller frees ("" if empty, NULL if an append failed); buffer is left empty */
void eem_buf_free(eem_buf *b);

#ifdef __cplusplus
}
#endif
#endif
