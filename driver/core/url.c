/* url.c — parse, classify and display URLs (see url.h).
 *
 * Owns: the authority / host / path pieces of a URL, the Google-API /
 * loopback / other classification that decides where credentials may go, and
 * the display form without user-info or query values. */
#define _POSIX_C_SOURCE 200809L

#include "url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define EEM_GOOGLE_HOST_SUFFIX "googleapis.com"


/* Where the authority (userinfo@host:port) of url starts and ends. */
void eem_url_authority(const char *url, const char **start, const char **end)
{
    const char *s = strstr(url, "://");
    const char *a = s ? s + 3 : url;
    *start = a;
    *end = a + strcspn(a, "/?#");
}

/* Host of url (no userinfo, port or IPv6 brackets) into buf; 0 if none fits. */
int eem_url_host(const char *url, char *buf, size_t buflen)
{
    const char *a, *e;
    eem_url_authority(url, &a, &e);
    for (const char *p = a; p < e; p++) /* userinfo ends at the last '@' */
        if (*p == '@')
            a = p + 1;
    const char *h = a, *he;
    if (*h == '[') {
        h++;
        he = memchr(h, ']', (size_t)(e - h));
        if (!he)
            return 0;
    } else {
        he = memchr(h, ':', (size_t)(e - h));
        if (!he)
            he = e;
    }
    size_t n = (size_t)(he - h);
    if (n == 0 || n >= buflen)
        return 0;
    memcpy(buf, h, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)tolower((unsigned char)buf[i]);
    return 1;
}

int eem_url_is_https(const char *url)
{
    return url && strncasecmp(url, "https://", 8) == 0;
}

int eem_url_is_loopback(const char *url)
{
    char host[256];
    if (!url || !eem_url_host(url, host, sizeof host))
        return 0;
    size_t n = strlen(host);
    if (host[n - 1] == '.') /* "localhost." is the same name */
        host[--n] = '\0';
    if (strcmp(host, "localhost") == 0)
        return 1;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    return 0;
}

size_t eem_url_for_display(const char *url, char *buf, size_t buflen)
{
    if (!url)
        url = "";
    const char *a, *e;
    eem_url_authority(url, &a, &e);
    const char *host = a;
    for (const char *p = a; p < e; p++)
        if (*p == '@')
            host = p + 1;
    size_t path_len = strcspn(e, "?#");
    return (size_t)snprintf(buf, buflen, "%.*s%.*s%.*s", (int)(a - url), url,
                            (int)(e - host), host, (int)path_len, e);
}

size_t eem_name_for_display(const char *name, char *buf, size_t buflen)
{
    if (!name)
        name = "";
    const char *scheme = strstr(name, "://");
    if (!scheme && !strchr(name, '?'))
        return (size_t)snprintf(buf, buflen, "%s", name);
    const char *start = name;
    if (scheme) {
        /* keep a /vsicurl/-style prefix before the URL */
        while (scheme > name && scheme[-1] != '/')
            scheme--;
        start = scheme;
    }
    size_t prefix = (size_t)(start - name);
    size_t written = (size_t)snprintf(buf, buflen, "%.*s", (int)prefix, name);
    size_t rest_cap = buflen > written ? buflen - written : 0;
    return written + eem_url_for_display(start, rest_cap ? buf + written : NULL, rest_cap);
}

int eem_url_is_google_api(const char *url)
{
    char host[256];
    if (!eem_url_host(url, host, sizeof host))
        return 0;
    size_t n = strlen(host), k = strlen(EEM_GOOGLE_HOST_SUFFIX);
    if (n == k)
        return strcmp(host, EEM_GOOGLE_HOST_SUFFIX) == 0;
    return n > k && host[n - k - 1] == '.' && strcmp(host + n - k, EEM_GOOGLE_HOST_SUFFIX) == 0;
}

eem_url_kind eem_url_classify(const char *url)
{
    if (eem_url_is_loopback(url))
        return EEM_URL_LOOPBACK;
    if (eem_url_is_google_api(url))
        return EEM_URL_GOOGLE_API;
    return EEM_URL_OTHER;
}

int eem_url_may_carry_secrets(const char *url)
{
    return url && (eem_url_is_https(url) || eem_url_is_loopback(url));
}

int eem_url_host_in_list(const char *url, const char *list)
{
    char host[256];
    if (!url || !list || !eem_url_host(url, host, sizeof host))
        return 0;
    size_t n = strlen(host);
    const char *p = list;
    while (*p) {
        p += strspn(p, ", \t");
        size_t k = strcspn(p, ", \t");
        if (k == n && strncasecmp(p, host, n) == 0)
            return 1;
        p += k;
    }
    return 0;
}

size_t eem_url_path_len(const char *url, const char **path)
{
    const char *a;
    eem_url_authority(url, &a, path);
    return strcspn(*path, "?#");
}

void eem_url_redact_in_text(const char *line, size_t n, char *buf, size_t buflen)
{
    size_t o = 0;
#define PUT(ch)                                                                            \
    do {                                                                                   \
        if (o + 1 < buflen)                                                                \
            buf[o++] = (ch);                                                               \
    } while (0)
#define PUTS(s)                                                                            \
    do {                                                                                   \
        for (const char *q_ = (s); *q_; q_++)                                              \
            PUT(*q_);                                                                      \
    } while (0)
    int in_query = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = line[i];
        if (ch == ' ' || ch == '\'' || ch == '"' || ch == '<' || ch == '>' || ch == '\t') {
            in_query = 0;
            PUT(ch);
            continue;
        }
        if (!in_query && ch == ':' && i + 2 < n && line[i + 1] == '/' && line[i + 2] == '/') {
            /* an authority follows: drop user-info up to '@' */
            PUTS("://");
            i += 2;
            size_t a = i + 1, k = a;
            while (k < n && !strchr("/?# '\"<>@", line[k]))
                k++;
            if (k < n && line[k] == '@') {
                PUTS(EEM_URL_REDACTED "@");
                i = k;
            }
            continue;
        }
        if (ch == '?' || ch == '&') {
            in_query = ch == '?' ? 1 : in_query;
            PUT(ch);
            continue;
        }
        if (in_query && ch == '=') {
            PUT('=');
            PUTS(EEM_URL_REDACTED);
            while (i + 1 < n && !strchr("& '\"<>\t#", line[i + 1]))
                i++;
            continue;
        }
        PUT(ch);
    }
    if (buflen)
        buf[o < buflen ? o : buflen - 1] = '\0';
#undef PUT
#undef PUTS
}

/* ---- path segments ------------------------------------------------------ */

void eem_path_segments_of(const char *url, eem_path_segments *ps)
{
    const char *p;
    size_t len = eem_url_path_len(url, &p);
    const char *end = p + len;
    ps->n = 0;
    while (p < end && ps->n < EEM_URL_MAX_SEGMENTS) {
        while (p < end && *p == '/')
            p++;
        const char *q = p;
        while (q < end && *q != '/')
            q++;
        if (q > p) {
            ps->s[ps->n] = p;
            ps->len[ps->n] = (size_t)(q - p);
            ps->n++;
        }
        p = q;
    }
}

int eem_path_segment_is(const eem_path_segments *ps, int i, const char *word)
{
    size_t n = strlen(word);
    return i >= 0 && i < ps->n && ps->len[i] == n && strncmp(ps->s[i], word, n) == 0;
}

int eem_path_segment_ends_with(const eem_path_segments *ps, int i, const char *suffix)
{
    size_t n = strlen(suffix);
    return i >= 0 && i < ps->n && ps->len[i] > n &&
           strncmp(ps->s[i] + ps->len[i] - n, suffix, n) == 0;
}
