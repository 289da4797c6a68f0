/* request_headers.h — the header lines of a request and the one door to the wire.
 *
 * One header rule for every list of static headers ("Name: value, Name:
 * value"): a comma starts a new header only when an RFC 7230 token and ':'
 * follow it, otherwise it belongs to the previous value.  The same code
 * validates (eem_header_list_check) and splits (eem_static_headers_load).
 *
 * Static headers come from, in order: the HEADERS key, the EEMODEL_HEADERS
 * config option, GDAL_HTTP_HEADERS (GDAL's meaning: comma list as above, or
 * lines separated by CR LF) and GDAL_HTTP_HEADER_FILE (one header per line).
 * Their values are treated as secrets, like credentials.
 *
 * eem_request_prepare() is the only way a request reaches libcurl, for
 * predictions, metadata and token requests alike: it refuses secret header
 * lines (credentials, static headers) and secret bodies (token-request forms)
 * for a URL that is neither https nor loopback, before any connection, naming
 * the header but never its value; then it builds the header list and applies
 * GDAL's HTTP configuration options (http_config.h). */
#ifndef EEM_REQUEST_HEADERS_H
#define EEM_REQUEST_HEADERS_H

#include "error.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct curl_slist;

/* Validate a static header list; what names it in messages (e.g. "HEADERS"). */
eem_status eem_header_list_check(const char *what, const char *text, eem_error *err);

/* The static header lines of a dataset, read once at open. */
typedef struct eem_static_headers {
    char *text;         /* backing store of lines (secret; wiped when freed) */
    size_t text_cap;
    const char **lines; /* NULL-terminated "Name: value" lines */
    int n;
    char digest[65];    /* hex SHA-256 of the lists (cache keys), "" when none */
} eem_static_headers;

/* Read HEADERS (spec_headers, may be NULL) and the config options above. */
eem_status eem_static_headers_load(const char *spec_headers, eem_static_headers *out,
                                   eem_error *err);
void eem_static_headers_free(eem_static_headers *h);

/* What one request sends. */
typedef struct eem_request_lines {
    const char *url;
    const char *const *headers;        /* protocol lines (Content-Type, ...), may be NULL */
    const char *const *secret_headers; /* credentials and static headers, may be NULL */
    int secret_body;                   /* the body is a secret (a token-request form) */
    const char *debug_tag;             /* prefix of CPL_CURL_VERBOSE lines */
} eem_request_lines;

/* Refuse secrets to a URL that may not carry them (see above). */
eem_status eem_request_check_transport(const eem_request_lines *r, eem_error *err);
/* The door: check the transport rule, build *list (owned by the caller, free
 * with curl_slist_free_all, secret lines first) and apply GDAL's HTTP options
 * to the easy handle `easy` (a CURL *). */
eem_status eem_request_prepare(void *easy, const eem_request_lines *r, struct curl_slist **list,
                               eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
