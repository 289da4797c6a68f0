/* http_config.h — GDAL's HTTP configuration options applied to every libcurl
 * handle the driver uses (predictions, metadata, token requests), with GDAL's
 * names and meanings:
 *   GDAL_HTTP_PROXY (host[:port], for every URL), GDAL_HTTPS_PROXY (for https
 *   URLs, in place of GDAL_HTTP_PROXY), GDAL_HTTP_PROXYUSERPWD (user:password),
 *   GDAL_PROXY_AUTH (BASIC, NTLM, DIGEST, NEGOTIATE, ANY, ANYSAFE),
 *   GDAL_HTTP_USERAGENT, GDAL_CURL_CA_BUNDLE / CURL_CA_BUNDLE (CA file),
 *   GDAL_HTTP_UNSAFESSL (no TLS verification), CPL_CURL_VERBOSE (libcurl's
 *   trace on stderr, with secrets redacted: header values other than a few
 *   protocol ones, URL user-info and query values; bodies never printed).
 * GDAL_HTTP_HEADERS / GDAL_HTTP_HEADER_FILE are request_headers.h's. */
#ifndef EEM_HTTP_CONFIG_H
#define EEM_HTTP_CONFIG_H

#include "error.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_HTTP_USER_AGENT "EEMODEL/0.1 GDAL-driver"

/* Apply the options above to the CURL *easy for a request to url; debug_tag
 * prefixes the verbose lines (a string that outlives the handle). */
eem_status eem_http_config_apply(void *easy, const char *url, const char *debug_tag,
                                 eem_error *err);

/* 1 when a header line's name marks a secret value for display purposes
 * (Authorization, *auth*, *key*, *token*, *secret*, *cookie*, *password*...).
 * Used for received headers; every sent header value but a few protocol ones
 * is redacted anyway. */
int eem_header_is_secret(const char *line, size_t n);

/* Print one libcurl debug block to stderr, line by line, as
 * "<tag>: <prefix><line>" with secrets redacted.  prefix names the kind of
 * block: "* " text, "< " received or "> " sent headers. */
void eem_http_print_debug(const char *tag, const char *prefix, const char *data, size_t size);

#ifdef __cplusplus
}
#endif
#endif
