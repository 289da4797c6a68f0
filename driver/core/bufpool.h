/* bufpool.h — a small process-wide pool of large byte buffers (request
 * bodies, answers) kept between requests and between reads, so that the
 * multi-megabyte buffers every request needs are not freshly allocated, and
 * page-faulted in, each time.
 *
 * eem_bufpool_give() hands a malloc'ed buffer to the pool (or frees it when
 * the pool is full or the buffer too small to be worth keeping);
 * eem_bufpool_take_into() moves the smallest kept buffer of at least `want`
 * bytes (else the largest) into an empty eem_buf.  Bounded by
 * EEM_BUFPOOL_MAX_BUFFERS and EEM_BUFPOOL_MAX_BYTES; thread-safe. */
#ifndef EEM_BUFPOOL_H
#define EEM_BUFPOOL_H

#include "buf.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_BUFPOOL_MAX_BUFFERS 16
#define EEM_BUFPOOL_MAX_BYTES ((size_t)64 << 20)
#define EEM_BUFPOOL_MIN_BYTES ((size_t)64 << 10) /* smaller buffers are simply freed */

/* Keep data (cap bytes, malloc'ed) for a later take, or free it. */
void eem_bufpool_give(void *data, size_t cap);
/* The data of b (an eem_buf) to the pool; b is left empty. */
void eem_bufpool_give_buf(eem_buf *b);
/* When b has no buffer yet: give it a kept one (empty, NUL-terminated),
 * preferring the smallest of at least want bytes.  1 if one was given. */
int eem_bufpool_take_into(eem_buf *b, size_t want);
/* Free every kept buffer (tests; memory checkers at exit). */
void eem_bufpool_drain(void);
/* Buffers and bytes kept now. */
void eem_bufpool_stats(int *buffers, size_t *bytes);

#ifdef __cplusplus
}
#endif
#endif
