/* auth.c — the Authorization header of prediction requests (see auth.h).
 *
 * Owns: reading the static bearer token (EEMODEL_ACCESS_TOKEN, then
 * EEMODEL_ACCESS_TOKEN_FILE), the rule that a token only travels over https or
 * to loopback, and wiping secrets from memory.  Tokens never appear in
 * messages. */
#include "auth.h"

#include <cpl_conv.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EEM_TOKEN_OPTION "EEMODEL_ACCESS_TOKEN"
#define EEM_TOKEN_FILE_OPTION "EEMODEL_ACCESS_TOKEN_FILE"
#define EEM_TOKEN_FILE_MAX_BYTES (64 * 1024)
#define EEM_BEARER_PREFIX "Authorization: Bearer "

void eem_secret_free(char *s)
{
    if (!s)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
    free(s);
}

/* Copy of s without leading/trailing whitespace (owned secret), NULL if no memory. */
static char *trimmed_copy(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    char *t = malloc(n + 1);
    if (t) {
        memcpy(t, s, n);
        t[n] = '\0';
    }
    return t;
}

/* Read the token file into *token (owned secret). */
static eem_status read_token_file(const char *path, char **token, eem_error *err)
{
    eem_status st = EEM_OK;
    char *raw = NULL;
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        st = eem_error_set(err, EEM_ERR_INVALID, "%s: cannot open \"%s\": %s", EEM_TOKEN_FILE_OPTION,
                           path, strerror(errno));
        goto done;
    }
    raw = malloc(EEM_TOKEN_FILE_MAX_BYTES + 1);
    if (!raw) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory reading %s", EEM_TOKEN_FILE_OPTION);
        goto done;
    }
    n = fread(raw, 1, EEM_TOKEN_FILE_MAX_BYTES + 1, f);
    if (ferror(f)) {
        st = eem_error_set(err, EEM_ERR_INVALID, "%s: cannot read \"%s\"", EEM_TOKEN_FILE_OPTION,
                           path);
        goto done;
    }
    if (n > EEM_TOKEN_FILE_MAX_BYTES) {
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "%s: \"%s\" is larger than %d bytes; it should hold one access token",
                           EEM_TOKEN_FILE_OPTION, path, EEM_TOKEN_FILE_MAX_BYTES);
        goto done;
    }
    *token = trimmed_copy(raw, n);
    if (!*token)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory reading %s", EEM_TOKEN_FILE_OPTION);
    else if (!**token)
        st = eem_error_set(err, EEM_ERR_INVALID, "%s: \"%s\" is empty", EEM_TOKEN_FILE_OPTION, path);

done:
    if (st != EEM_OK && token && *token) {
        eem_secret_free(*token);
        *token = NULL;
    }
    if (raw) {
        volatile char *p = raw;
        for (size_t i = 0; i < n && i <= EEM_TOKEN_FILE_MAX_BYTES; i++)
            p[i] = '\0';
        free(raw);
    }
    if (f)
        fclose(f);
    return st;
}

/* The configured token (owned secret) or NULL when none is configured. */
static eem_status configured_token(char **token, const char **source, eem_error *err)
{
    *token = NULL;
    const char *v = CPLGetConfigOption(EEM_TOKEN_OPTION, NULL);
    if (v && *v) {
        *source = EEM_TOKEN_OPTION;
        *token = trimmed_copy(v, strlen(v));
        if (!*token)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory reading %s", EEM_TOKEN_OPTION);
        return EEM_OK;
    }
    const char *path = CPLGetConfigOption(EEM_TOKEN_FILE_OPTION, NULL);
    if (path && *path) {
        *source = EEM_TOKEN_FILE_OPTION;
        return read_token_file(path, token, err);
    }
    return EEM_OK;
}

eem_status eem_auth_header_for(const eem_endpoint *ep, char **header, eem_error *err)
{
    eem_status st = EEM_OK;
    char *token = NULL;
    const char *source = EEM_TOKEN_OPTION;
    *header = NULL;
    if (!ep->google_auth)
        return EEM_OK;

    if ((st = configured_token(&token, &source, err)))
        goto done;
    int loopback = eem_url_is_loopback(ep->predict_url);
    if (!token || !*token) {
        if (!loopback)
            st = eem_error_set(err, EEM_ERR_INVALID,
                               "no credentials for %s: set %s (or %s)", ep->display_url,
                               EEM_TOKEN_OPTION, EEM_TOKEN_FILE_OPTION);
        goto done;
    }
    for (const char *p = token; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f) {
            st = eem_error_set(err, EEM_ERR_INVALID,
                               "%s: the access token contains control characters or line breaks",
                               source);
            goto done;
        }
    }
    if (!eem_url_is_https(ep->predict_url) && !loopback) {
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "refusing to send the access token from %s to %s over plain http: "
                           "use an https URL (tokens travel unencrypted only to loopback "
                           "addresses)",
                           source, ep->display_url);
        goto done;
    }
    size_t n = strlen(EEM_BEARER_PREFIX) + strlen(token) + 1;
    *header = malloc(n);
    if (!*header) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory building the Authorization header");
        goto done;
    }
    snprintf(*header, n, "%s%s", EEM_BEARER_PREFIX, token);

done:
    eem_secret_free(token);
    return st;
}
