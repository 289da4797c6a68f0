/* token_http.h — the small blocking HTTP calls credentials need: token
 * endpoints (form POST) and the metadata server (GET with Metadata-Flavor).
 *
 * One libcurl easy handle per call, with connect and total timeouts, TLS
 * verification (GDAL_HTTP_UNSAFESSL=YES is the only way off), no redirects, a
 * response size cap and a few retries on 429/5xx/connection failures.  Bodies
 * (which carry secrets both ways) are never logged; CPL_CURL_VERBOSE prints
 * headers with secret-looking values redacted. */
#ifndef EEM_TOKEN_HTTP_H
#define EEM_TOKEN_HTTP_H

#include "error.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_TOKEN_HTTP_MAX_RESPONSE_BYTES (1024 * 1024)

typedef struct eem_token_http {
    const char *url;
    const char *form;         /* x-www-form-urlencoded POST body (a secret); NULL: GET */
    int metadata;             /* send "Metadata-Flavor: Google" */
    double timeout_s;         /* whole transfer */
    double connect_timeout_s;
    int max_attempts;         /* >= 1 */
} eem_token_http;

typedef struct eem_token_http_answer {
    long status;              /* HTTP status, 0 when no answer came */
    char *body;               /* NUL-terminated (owned; wiped by _clear) */
    size_t len;
    int metadata_flavor;      /* the answer carried "Metadata-Flavor: Google" */
    char error[256];          /* transport failure, "" when an answer came */
} eem_token_http_answer;

/* Run the request.  EEM_OK whenever a transfer was attempted: look at
 * ans->status / ans->error.  Fails only when the request cannot be set up. */
eem_status eem_token_http_perform(const eem_token_http *req, eem_token_http_answer *ans,
                                  eem_error *err);
/* Wipe and free what ans owns. */
void eem_token_http_answer_clear(eem_token_http_answer *ans);

#ifdef __cplusplus
}
#endif
#endif
