/* request_headers.c — static header lists, the header rule, and the one door
 * through which every request reaches libcurl (see request_headers.h).
 *
 * Owns: validating and splitting "Name: value" lists by one rule, reading
 * HEADERS / EEMODEL_HEADERS / GDAL_HTTP_HEADERS / GDAL_HTTP_HEADER_FILE, the
 * digest of those lists for cache keys, the rule that secrets travel only
 * over https or to loopback, and building a request's header list.  Values
 * are never written into a message. */
#define _POSIX_C_SOURCE 200809L

#include "request_headers.h"

#include "buf.h"
#include "cache.h"
#include "http_config.h" /* GDAL options applied by the door */
#include "secret.h"
#include "url.h"

#include <cpl_conv.h>
#include <curl/curl.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EEM_HEADER_FILE_MAX_BYTES (64 * 1024)
#define EEM_HEADER_NAME_SHOWN 100

static const char accepted[] = "expected Name: value, Name: value (values are not shown)";

/* RFC 7230 tchar. */
static int is_token_char(char c)
{
    return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Length of a header name at p followed by ':' (after optional blanks
 * before p), 0 when there is none. */
static size_t name_then_colon(const char *p, const char *end)
{
    const char *q = p;
    while (q < end && is_token_char(*q))
        q++;
    return q > p && q < end && *q == ':' ? (size_t)(q - p) : 0;
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Append "Name: value" (trimmed [b, e)) and its NUL to out (may be NULL). */
static void emit(eem_buf *out, const char *b, const char *e, int *count)
{
    b = skip_blanks(b, e);
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (out) {
        eem_buf_append(out, b, (size_t)(e - b));
        eem_buf_append(out, "", 1);
    }
    (*count)++;
}

static eem_status no_name(const char *what, int line, eem_error *err)
{
    if (line > 0)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "%s: line %d has no header name followed by ':'; expected one "
                             "Name: value per line (values are not shown)",
                             what, line);
    return eem_error_set(err, EEM_ERR_INVALID,
                         "%s: the first entry has no header name followed by ':'; %s", what,
                         accepted);
}

/* One "Name: value, Name: value" list [text, end): validated, and its
 * headers appended to out when out is not NULL. */
static eem_status parse_comma_list(const char *what, const char *text, const char *end,
                                   eem_buf *out, int *count, eem_error *err)
{
    const char *start = skip_blanks(text, end);
    if (start == end)
        return EEM_OK;
    if (!name_then_colon(start, end))
        return no_name(what, 0, err);
    const char *p = start;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        if (!comma) {
            emit(out, start, end, count);
            return EEM_OK;
        }
        const char *next = skip_blanks(comma + 1, end);
        if (name_then_colon(next, end)) {
            emit(out, start, comma, count);
            start = next;
        }
        p = comma + 1;
    }
}

/* One header per line (CR LF or LF); blank lines are skipped. */
static eem_status parse_lines(const char *what, const char *text, const char *end, eem_buf *out,
                              int *count, eem_error *err)
{
    int line = 0;
    for (const char *p = text; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *e = eol ? eol : end;
        line++;
        while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        const char *b = skip_blanks(p, e);
        if (b < e) {
            if (!name_then_colon(b, e))
                return no_name(what, line, err);
            emit(out, b, e, count);
        }
        p = eol ? eol + 1 : end;
    }
    return EEM_OK;
}

static eem_status check_characters(const char *what, const char *text, size_t n, int lines,
                                   eem_error *err)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (lines && (c == '\r' || c == '\n'))
            continue;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "%s: contains a line break or control character; %s", what,
                                 accepted);
    }
    return EEM_OK;
}

eem_status eem_header_list_check(const char *what, const char *text, eem_error *err)
{
    int count = 0;
    eem_status st = check_characters(what, text, strlen(text), 0, err);
    if (st == EEM_OK)
        st = parse_comma_list(what, text, text + strlen(text), NULL, &count, err);
    if (st == EEM_OK && count == 0)
        st = eem_error_set(err, EEM_ERR_INVALID, "%s: is empty; %s", what, accepted);
    return st;
}

/* ---- static headers ------------------------------------------------------ */

typedef struct header_source {
    const char *what;
    char *text; /* secret */
    size_t len;
    int lines;  /* one header per line instead of the comma rule */
} header_source;

static eem_status read_header_file(const char *path, header_source *s, eem_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return eem_error_set(err, EEM_ERR_INVALID, "GDAL_HTTP_HEADER_FILE: cannot open \"%s\": %s",
                             path, strerror(errno));
    s->text = malloc(EEM_HEADER_FILE_MAX_BYTES + 2);
    if (!s->text) {
        fclose(f);
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    size_t n = fread(s->text, 1, EEM_HEADER_FILE_MAX_BYTES + 1, f);
    int failed = ferror(f);
    fclose(f);
    s->text[n] = '\0';
    s->len = n;
    if (failed)
        return eem_error_set(err, EEM_ERR_INVALID, "GDAL_HTTP_HEADER_FILE: cannot read \"%s\"",
                             path);
    if (n > EEM_HEADER_FILE_MAX_BYTES)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "GDAL_HTTP_HEADER_FILE: \"%s\" is larger than %d bytes", path,
                             EEM_HEADER_FILE_MAX_BYTES);
    if (memchr(s->text, '\0', n))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "GDAL_HTTP_HEADER_FILE: \"%s\" is not a text file of headers", path);
    return EEM_OK;
}

static eem_status source_from_text(const char *what, const char *v, int allow_lines,
                                   header_source *s, eem_error *err)
{
    s->what = what;
    s->len = strlen(v);
    s->text = malloc(s->len + 1);
    if (!s->text)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    memcpy(s->text, v, s->len + 1);
    s->lines = allow_lines && strchr(v, '\n') != NULL;
    return EEM_OK;
}

static void sources_free(header_source *s, int n)
{
    for (int i = 0; i < n; i++) {
        if (s[i].text) {
            eem_secret_wipe(s[i].text, s[i].len);
            free(s[i].text);
        }
    }
}

static const char *config_text(const char *key)
{
    const char *v = CPLGetConfigOption(key, NULL);
    return v && *v ? v : NULL;
}

eem_status eem_static_headers_load(const char *spec_headers, eem_static_headers *out,
                                   eem_error *err)
{
    memset(out, 0, sizeof *out);
    header_source src[4];
    memset(src, 0, sizeof src);
    int n_src = 0;
    eem_status st = EEM_OK;
    eem_buf keyed = {0}, lines = {0};
    const char *v;
    if (spec_headers && *spec_headers)
        st = source_from_text("HEADERS", spec_headers, 0, &src[n_src++], err);
    if (st == EEM_OK && (v = config_text("EEMODEL_HEADERS")))
        st = source_from_text("EEMODEL_HEADERS", v, 0, &src[n_src++], err);
    if (st == EEM_OK && (v = config_text("GDAL_HTTP_HEADERS")))
        st = source_from_text("GDAL_HTTP_HEADERS", v, 1, &src[n_src++], err);
    if (st == EEM_OK && (v = config_text("GDAL_HTTP_HEADER_FILE"))) {
        src[n_src].what = "GDAL_HTTP_HEADER_FILE";
        src[n_src].lines = 1;
        st = read_header_file(v, &src[n_src++], err);
    }
    size_t total = 64;
    for (int i = 0; i < n_src; i++)
        total += 2 * src[i].len + 64;
    /* room reserved up front: appending a secret never moves (copies) it */
    if (st == EEM_OK && (eem_buf_reserve(&keyed, total) != 0 || eem_buf_reserve(&lines, total) != 0))
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    int count = 0;
    for (int i = 0; st == EEM_OK && i < n_src; i++) {
        const char *t = src[i].text, *e = t + src[i].len;
        st = check_characters(src[i].what, t, src[i].len, src[i].lines, err);
        if (st == EEM_OK)
            st = src[i].lines ? parse_lines(src[i].what, t, e, &lines, &count, err)
                              : parse_comma_list(src[i].what, t, e, &lines, &count, err);
    }
    if (st == EEM_OK && n_src > 0) {
        /* the key text of the first two lists is what earlier versions hashed */
        const char *h = spec_headers && *spec_headers ? spec_headers : "";
        const char *eh = config_text("EEMODEL_HEADERS");
        eem_buf_printf(&keyed, "%s\n%s\n", h, eh ? eh : "");
        for (int i = 0; i < n_src; i++)
            if (src[i].lines || strncmp(src[i].what, "GDAL_", 5) == 0)
                eem_buf_printf(&keyed, "%s:%s\n", src[i].what, src[i].text);
        eem_cache_key digest;
        if (keyed.failed || lines.failed)
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        if (st == EEM_OK)
            st = eem_cache_key_compute("eemodel-headers-1", keyed.data, keyed.len, &digest, err);
        for (size_t i = 0; st == EEM_OK && i < sizeof digest.bytes; i++)
            snprintf(out->digest + 2 * i, 3, "%02x", digest.bytes[i]);
    }
    if (st == EEM_OK) {
        out->lines = calloc((size_t)count + 1, sizeof *out->lines);
        if (!out->lines)
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    if (st == EEM_OK) {
        out->text_cap = lines.cap;
        out->text = lines.data;
        lines.data = NULL;
        lines.cap = lines.len = 0;
        const char *p = out->text;
        for (int i = 0; i < count; i++) {
            out->lines[out->n++] = p;
            p += strlen(p) + 1;
        }
    }
    eem_secret_buf_free(&keyed);
    eem_secret_buf_free(&lines);
    sources_free(src, n_src);
    if (st != EEM_OK)
        eem_static_headers_free(out);
    return st;
}

void eem_static_headers_free(eem_static_headers *h)
{
    if (!h)
        return;
    if (h->text) {
        eem_secret_wipe(h->text, h->text_cap);
        free(h->text);
    }
    free(h->lines);
    memset(h, 0, sizeof *h);
}

/* ---- the door ------------------------------------------------------------ */

eem_status eem_request_check_transport(const eem_request_lines *r, eem_error *err)
{
    if (eem_url_may_carry_secrets(r->url))
        return EEM_OK;
    char shown[1024];
    eem_url_for_display(r->url, shown, sizeof shown);
    for (int i = 0; r->secret_headers && r->secret_headers[i]; i++) {
        const char *h = r->secret_headers[i];
        size_t name = strcspn(h, ":");
        return eem_error_set(err, EEM_ERR_INVALID,
                             "refusing to send the HTTP header \"%.*s\" to %s over plain http: "
                             "credentials and header values travel unencrypted only to loopback "
                             "addresses; use an https URL",
                             (int)(name > EEM_HEADER_NAME_SHOWN ? EEM_HEADER_NAME_SHOWN : name), h,
                             shown);
    }
    if (r->secret_body)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "refusing to send credentials to %s over plain http: they travel "
                             "unencrypted only to loopback addresses; use an https URL",
                             shown);
    return EEM_OK;
}

static int list_has(const char *const *lines, const char *line)
{
    size_t k = strcspn(line, ":;");
    for (int i = 0; lines && lines[i]; i++)
        if (strncasecmp(lines[i], line, k) == 0 && (lines[i][k] == ':' || lines[i][k] == ';'))
            return 1;
    return 0;
}

eem_status eem_request_prepare(void *easy, const eem_request_lines *r, struct curl_slist **list,
                               eem_error *err)
{
    *list = NULL;
    eem_status st = eem_request_check_transport(r, err);
    if (st != EEM_OK)
        return st;
    struct curl_slist *l = NULL, *t;
    const char *const *groups[2] = {r->secret_headers, r->headers};
    for (int g = 0; g < 2; g++)
        for (int i = 0; groups[g] && groups[g][i]; i++) {
            const char *h = groups[g][i];
            if (strpbrk(h, "\r\n")) {
                curl_slist_free_all(l);
                return eem_error_set(err, EEM_ERR_INVALID,
                                     "HTTP header \"%.*s\" contains a line break; headers are "
                                     "single \"Name: value\" lines",
                                     (int)strcspn(h, ":\r\n"), h);
            }
            /* a static header replaces the protocol default of the same name */
            if (g == 1 && list_has(r->secret_headers, h))
                continue;
            if (!(t = curl_slist_append(l, h))) {
                curl_slist_free_all(l);
                return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building HTTP headers");
            }
            l = t;
        }
    st = eem_http_config_apply(easy, r->url, r->debug_tag, err);
    if (st == EEM_OK && curl_easy_setopt((CURL *)easy, CURLOPT_HTTPHEADER, l) != CURLE_OK)
        st = eem_error_set(err, EEM_ERR_HTTP, "cannot set the HTTP headers");
    if (st != EEM_OK) {
        curl_slist_free_all(l);
        return st;
    }
    *list = l;
    return EEM_OK;
}
