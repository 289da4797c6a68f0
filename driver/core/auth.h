/* auth.h — credentials for prediction requests.
 *
 * Today: a static bearer token from EEMODEL_ACCESS_TOKEN (GDAL config option
 * or environment).  The full Google chain comes later behind the same call.
 * Tokens are never put in error messages or debug output. */
#ifndef EEM_AUTH_H
#define EEM_AUTH_H

#include "endpoint.h"
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sets *header to a malloc'ed "Authorization: Bearer ..." line for ep, or NULL
 * when no credentials apply (non-Google URL, nothing configured).  Refuses
 * (EEM_ERR_INVALID) to attach a token to plain http:// except to loopback. */
eem_status eem_auth_header_for(const eem_endpoint *ep, char **header, eem_error *err);
/* Overwrite then free a secret string. */
void eem_secret_free(char *s);

#ifdef __cplusplus
}
#endif
#endif
