/* secret.h — wiping secrets (tokens, keys, header values) from memory.
 *
 * The credential files (auth, jwt, token_cache, token_http) and the request
 * headers share these helpers; they depend on nothing but buf.h. */
#ifndef EEM_SECRET_H
#define EEM_SECRET_H

#include "buf.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Overwrite then free a secret string. */
void eem_secret_free(char *s);
/* Overwrite then free a buffer that held a secret (its whole capacity); b is
 * left empty.  Appends that grow a buffer leave unwiped copies behind:
 * reserve the room a secret needs before appending it. */
void eem_secret_buf_free(eem_buf *b);
/* Overwrite n bytes at p (not optimised away). */
void eem_secret_wipe(void *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
