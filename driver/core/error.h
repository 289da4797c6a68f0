/* error.h — the status codes and message buffer every core function reports through.
 *
 * Core functions return an eem_status and, on failure, fill an eem_error with a
 * message meant for the user (key, value, what is accepted).  Only the GDAL glue
 * turns an eem_error into CPLError, in the calling thread.  Messages must never
 * contain secrets (tokens, keys). */
#ifndef EEM_ERROR_H
#define EEM_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum eem_status {
    EEM_OK = 0,
    EEM_ERR_INVALID,   /* bad descriptor value or argument */
    EEM_ERR_IO,        /* source raster could not be read */
    EEM_ERR_HTTP,      /* transport failure or non-2xx status after retries */
    EEM_ERR_PROTOCOL,  /* the server answered something we cannot use */
    EEM_ERR_NOMEM,     /* allocation failed */
    EEM_ERR_LIMIT,     /* a configured limit (cost guard, payload size) refuses the work */
    EEM_ERR_CANCELLED  /* the caller asked to stop */
} eem_status;

#define EEM_ERROR_MSG_MAX 2048

typedef struct eem_error {
    eem_status status;
    char msg[EEM_ERROR_MSG_MAX];
} eem_error;

/* Fill err (if not NULL) with status and a printf-style message; returns status. */
eem_status eem_error_set(eem_error *err, eem_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prefix the message already in err with "prefix: " (context as errors bubble up). */
eem_status eem_error_prefix(eem_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

void eem_error_clear(eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
