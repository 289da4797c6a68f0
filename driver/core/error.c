/* error.c — eem_error helpers (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

eem_status eem_error_set(eem_error *err, eem_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

eem_status eem_error_prefix(eem_error *err, const char *fmt, ...)
{
    if (!err)
        return EEM_ERR_INVALID;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix);
    if (plen > sizeof err->msg - 3)
        plen = sizeof err->msg - 3;
    err->msg[sizeof err->msg - 1] = '\0';
    size_t olen = strlen(err->msg);
    if (plen + 2 + olen > sizeof err->msg - 1)
        olen = sizeof err->msg - 1 - plen - 2;
    memmove(err->msg + plen + 2, err->msg, olen);
    memcpy(err->msg, prefix, plen);
    err->msg[plen] = ':';
    err->msg[plen + 1] = ' ';
    err->msg[plen + 2 + olen] = '\0';
    return err->status;
}

void eem_error_clear(eem_error *err)
{
    if (err) {
        err->status = EEM_OK;
        err->msg[0] = '\0';
    }
}
