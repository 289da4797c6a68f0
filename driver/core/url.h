/* url.h — the one owner of URLs: parse the pieces the driver needs, classify
 * a URL's host (Google API, loopback, other) and make a URL safe to show.
 *
 * Classification is by the host written in the URL, never by its path:
 * Google API hosts are googleapis.com and its subdomains; loopback is
 * 127.0.0.0/8, ::1 (and v4-mapped 127/8) and "localhost".  Display forms drop
 * user-info, query string and fragment, so that passwords, API keys in
 * ?key=... and signed-URL parameters never reach a message. */
#ifndef EEM_URL_H
#define EEM_URL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum eem_url_kind {
    EEM_URL_OTHER = 0,
    EEM_URL_LOOPBACK,
    EEM_URL_GOOGLE_API
} eem_url_kind;

/* The path segments of a URL (between the authority and any query string or
 * fragment; empty segments skipped), up to EEM_URL_MAX_SEGMENTS, pointing
 * into the URL. */
#define EEM_URL_MAX_SEGMENTS 64
typedef struct eem_path_segments {
    const char *s[EEM_URL_MAX_SEGMENTS];
    size_t len[EEM_URL_MAX_SEGMENTS];
    int n;
} eem_path_segments;
void eem_path_segments_of(const char *url, eem_path_segments *ps);
/* 1 when segment i is word, or ends with suffix (and is longer). */
int eem_path_segment_is(const eem_path_segments *ps, int i, const char *word);
int eem_path_segment_ends_with(const eem_path_segments *ps, int i, const char *suffix);

/* Lower-case host of url (no user-info, port or IPv6 brackets) into buf;
 * 0 when the URL has no host or it does not fit. */
int eem_url_host(const char *url, char *buf, size_t buflen);
/* Where the authority (userinfo@host:port) starts and ends. */
void eem_url_authority(const char *url, const char **start, const char **end);
/* Length of url's path (without query string or fragment); *path its start. */
size_t eem_url_path_len(const char *url, const char **path);

int eem_url_is_https(const char *url);
/* 1 if url's host is a loopback address (127.0.0.0/8, ::1, localhost). */
int eem_url_is_loopback(const char *url);
/* 1 if url's host is googleapis.com or one of its subdomains. */
int eem_url_is_google_api(const char *url);
eem_url_kind eem_url_classify(const char *url);
/* 1 if host (as eem_url_host gives it) is one of a comma/space separated list
 * of host names, compared without case. */
int eem_url_host_in_list(const char *url, const char *list);
/* Secrets (tokens, header values, token-request bodies) may travel to url:
 * it is https, or plain http to loopback. */
int eem_url_may_carry_secrets(const char *url);

/* url without userinfo, query string or fragment, for messages: written into
 * buf (truncated to buflen-1 chars); returns the full length like snprintf. */
size_t eem_url_for_display(const char *url, char *buf, size_t buflen);
/* A file name or URL safe to show: a URL (after any /vsicurl/-style prefix,
 * kept) loses its credentials and query string, other names are unchanged.
 * Same buffer contract as eem_url_for_display. */
size_t eem_name_for_display(const char *name, char *buf, size_t buflen);

/* What replaces a secret in displayed text. */
#define EEM_URL_REDACTED "[redacted]"
/* text (n bytes) with the user-info and query values of every URL in it
 * replaced by EEM_URL_REDACTED, into buf (NUL-terminated, truncated to
 * buflen-1 chars). */
void eem_url_redact_in_text(const char *text, size_t n, char *buf, size_t buflen);

#ifdef __cplusplus
}
#endif
#endif
