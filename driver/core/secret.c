/* secret.c — wipe secrets before their memory is released (see secret.h). */
#include "secret.h"

#include <openssl/crypto.h>

#include <stdlib.h>
#include <string.h>

void eem_secret_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

void eem_secret_free(char *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

void eem_secret_buf_free(eem_buf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->cap);
    eem_buf_free(b);
}
