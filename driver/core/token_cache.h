/* token_cache.h — the process-wide cache of access tokens, one entry per
 * credential source.
 *
 * QGIS opens one dataset per render thread: every thread asking for the same
 * source at once shares one fetch (the others wait for it, under a pthread
 * mutex and condition variable).  A token is refreshed ahead of its expiry
 * (EEM_TOKEN_REFRESH_AHEAD_S before it, or a quarter of its lifetime for short
 * tokens); a refused token is dropped with eem_token_cache_invalidate() so the
 * next request fetches a new one.  Tokens are wiped from memory when replaced. */
#ifndef EEM_TOKEN_CACHE_H
#define EEM_TOKEN_CACHE_H

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_TOKEN_REFRESH_AHEAD_S 300.0
#define EEM_TOKEN_CACHE_MAX_ENTRIES 64

/* What one fetch produced; the fetch function allocates, the cache takes. */
typedef struct eem_token_fetched {
    char *token;         /* the access token (secret) */
    double lifetime_s;   /* seconds it stays valid from now; <= 0: no known expiry */
    char *quota_project; /* quota_project_id of the credentials, NULL if none */
} eem_token_fetched;

typedef eem_status (*eem_token_fetch_fn)(void *user, eem_token_fetched *out, eem_error *err);

/* A valid token of the source `key`: copies (owned) of the token (a secret, free
 * with eem_secret_free) and of the quota project (may be NULL), and the
 * monotonic time (eem_token_cache_clock) after which to ask again (0: never).
 * Fetches with fetch(user) when needed; concurrent callers share the fetch and
 * its result.  When a refresh ahead of expiry fails, the old token is returned
 * while it is still valid. */
eem_status eem_token_cache_get(const char *key, eem_token_fetch_fn fetch, void *user,
                               char **token, char **quota_project, double *refresh_at,
                               eem_error *err);
/* The server refused `token`: forget it if it is still the cached token of key. */
void eem_token_cache_invalidate(const char *key, const char *token);
/* Number of fetches done for key so far (diagnostics and tests). */
long eem_token_cache_fetch_count(const char *key);
/* Number of threads waiting for the fetch of key in flight (tests: a barrier). */
int eem_token_cache_waiters(const char *key);
/* Tests: read time from clock instead of CLOCK_MONOTONIC (NULL: back to it). */
void eem_token_cache_use_clock(double (*clock)(void));
/* Wipe and forget every cached token. */
void eem_token_cache_clear(void);
/* Seconds on a monotonic clock. */
double eem_token_cache_clock(void);

#ifdef __cplusplus
}
#endif
#endif
