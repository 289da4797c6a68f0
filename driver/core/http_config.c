/* http_config.c — GDAL HTTP configuration options on a libcurl handle and
 * the redacted verbose trace (see http_config.h). */
#define _POSIX_C_SOURCE 200809L

#include "http_config.h"

#include "url.h"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <curl/curl.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define EEM_DEBUG_LINE_MAX 4096

static const char *config_text(const char *key)
{
    const char *v = CPLGetConfigOption(key, NULL);
    return v && *v ? v : NULL;
}

static long proxy_auth_of(const char *v)
{
    if (!v)
        return -1;
    if (EQUAL(v, "BASIC"))
        return (long)CURLAUTH_BASIC;
    if (EQUAL(v, "NTLM"))
        return (long)CURLAUTH_NTLM;
    if (EQUAL(v, "DIGEST"))
        return (long)CURLAUTH_DIGEST;
    if (EQUAL(v, "NEGOTIATE"))
        return (long)CURLAUTH_NEGOTIATE;
    if (EQUAL(v, "ANY"))
        return (long)CURLAUTH_ANY;
    if (EQUAL(v, "ANYSAFE"))
        return (long)CURLAUTH_ANYSAFE;
    return -2;
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *user)
{
    (void)h;
    const char *prefix = type == CURLINFO_TEXT        ? "* "
                         : type == CURLINFO_HEADER_IN  ? "< "
                         : type == CURLINFO_HEADER_OUT ? "> "
                                                       : NULL;
    if (prefix) /* bodies (predictions, token forms) and TLS data are never printed */
        eem_http_print_debug(user ? (const char *)user : "EEMODEL curl", prefix, data, size);
    return 0;
}

eem_status eem_http_config_apply(void *easy, const char *url, const char *debug_tag,
                                 eem_error *err)
{
    CURL *e = easy;
    CURLcode c = CURLE_OK;
#define SET(opt, val)                                                                      \
    do {                                                                                   \
        if (c == CURLE_OK)                                                                 \
            c = curl_easy_setopt(e, opt, val);                                             \
    } while (0)
    const char *proxy = eem_url_is_https(url) && config_text("GDAL_HTTPS_PROXY")
                            ? config_text("GDAL_HTTPS_PROXY")
                            : config_text("GDAL_HTTP_PROXY");
    if (proxy) {
        SET(CURLOPT_PROXY, proxy);
        const char *userpwd = config_text("GDAL_HTTP_PROXYUSERPWD");
        if (userpwd)
            SET(CURLOPT_PROXYUSERPWD, userpwd);
        const char *auth = config_text("GDAL_PROXY_AUTH");
        long a = proxy_auth_of(auth);
        if (a == -2)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "GDAL_PROXY_AUTH: \"%.40s\" is not a proxy authentication "
                                 "method; accepted: BASIC, NTLM, DIGEST, NEGOTIATE, ANY, ANYSAFE",
                                 auth);
        if (a > 0)
            SET(CURLOPT_PROXYAUTH, a);
    }
    const char *ua = config_text("GDAL_HTTP_USERAGENT");
    SET(CURLOPT_USERAGENT, ua ? ua : EEM_HTTP_USER_AGENT);
    const char *ca = config_text("GDAL_CURL_CA_BUNDLE");
    if (!ca)
        ca = config_text("CURL_CA_BUNDLE");
    if (ca)
        SET(CURLOPT_CAINFO, ca);
    int unsafe = CPLTestBool(CPLGetConfigOption("GDAL_HTTP_UNSAFESSL", "NO"));
    SET(CURLOPT_SSL_VERIFYPEER, unsafe ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, unsafe ? 0L : 2L);
    if (CPLTestBool(CPLGetConfigOption("CPL_CURL_VERBOSE", "NO"))) {
        SET(CURLOPT_DEBUGFUNCTION, on_debug);
        SET(CURLOPT_DEBUGDATA, (void *)debug_tag);
        SET(CURLOPT_VERBOSE, 1L);
    }
#undef SET
    if (c != CURLE_OK)
        return eem_error_set(err, EEM_ERR_HTTP, "cannot apply the GDAL HTTP options: %s",
                             curl_easy_strerror(c));
    return EEM_OK;
}

/* ---- redaction ------------------------------------------------------------ */

int eem_header_is_secret(const char *line, size_t n)
{
    static const char *const words[] = {"auth", "key", "token", "secret", "cookie", "password",
                                        "credential", "signature"};
    const char *colon = memchr(line, ':', n);
    if (!colon)
        return 0;
    size_t k = (size_t)(colon - line);
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        size_t m = strlen(words[w]);
        for (size_t i = 0; i + m <= k; i++)
            if (strncasecmp(line + i, words[w], m) == 0)
                return 1;
    }
    return 0;
}

/* Sent header lines whose values are shown; every other value is a
 * credential or a user header (HEADERS values are secrets). */
static int sent_header_is_shown(const char *line, size_t n)
{
    static const char *const shown[] = {"Host", "User-Agent", "Accept", "Accept-Encoding",
                                        "Content-Type", "Content-Length", "Expect",
                                        "Inference-Header-Content-Length", "Connection",
                                        "Transfer-Encoding", "Metadata-Flavor", "Proxy-Connection"};
    const char *colon = memchr(line, ':', n);
    if (!colon || memchr(line, ' ', (size_t)(colon - line)) || memchr(line, '/', (size_t)(colon - line)))
        return 1; /* the request line (no header name), handled by URL redaction */
    size_t k = (size_t)(colon - line);
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++)
        if (strlen(shown[i]) == k && strncasecmp(line, shown[i], k) == 0)
            return 1;
    return 0;
}

void eem_http_print_debug(const char *tag, const char *prefix, const char *data, size_t size)
{
    int sent = strcmp(prefix, "> ") == 0, received = strcmp(prefix, "< ") == 0;
    const char *p = data, *end = data + size;
    char line[EEM_DEBUG_LINE_MAX];
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *e = eol ? eol : end;
        while (e > p && e[-1] == '\r')
            e--;
        size_t n = (size_t)(e - p);
        if (n > 0) {
            int hide = (sent && !sent_header_is_shown(p, n)) ||
                       (received && eem_header_is_secret(p, n));
            const char *colon = memchr(p, ':', n);
            /* over HTTP/2 libcurl also prints each sent header as a text line
             * "h2h3 [name: value]": its value is hidden like a sent header's */
            const char *bracket = !sent && !received ? memchr(p, '[', n) : NULL;
            const char *inner = bracket ? bracket + 1 : NULL;
            const char *inner_colon =
                inner ? memchr(inner, ':', (size_t)(e - inner)) : NULL;
            if (inner_colon && !memchr(inner, ' ', (size_t)(inner_colon - inner)) &&
                !sent_header_is_shown(inner, (size_t)(e - inner))) {
                fprintf(stderr, "%s: %s%.*s: " EEM_URL_REDACTED "]\n", tag, prefix,
                        (int)(inner_colon - p), p);
            } else if (hide && colon && !memchr(p, ' ', (size_t)(colon - p))) {
                fprintf(stderr, "%s: %s%.*s: " EEM_URL_REDACTED "\n", tag, prefix, (int)(colon - p), p);
            } else {
                eem_url_redact_in_text(p, n, line, sizeof line);
                fprintf(stderr, "%s: %s%s\n", tag, prefix, line);
            }
        }
        p = next;
    }
}
