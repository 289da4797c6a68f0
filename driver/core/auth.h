/* auth.h — credentials for prediction requests.
 *
 * For endpoints where Google credentials apply (ep->google_auth), the first
 * link of this chain that is configured provides the access token:
 *   1. EEMODEL_ACCESS_TOKEN (GDAL config option or environment): the token;
 *   2. EEMODEL_ACCESS_TOKEN_FILE: a file holding the token (re-read when it
 *      changes or when the server refuses the token);
 *   3. GOOGLE_APPLICATION_CREDENTIALS: a service_account key (JWT-bearer grant,
 *      RS256, at the key's token_uri) or an authorized_user file (refresh-token
 *      grant);
 *   4. gcloud's application-default credentials file
 *      ($CLOUDSDK_CONFIG or ~/.config/gcloud, application_default_credentials.json);
 *   5. the metadata server (GCE_METADATA_HOST, else metadata.google.internal
 *      after a detection bounded to EEM_METADATA_DETECT_TIMEOUT_S; NO_GCE_CHECK).
 * Tokens are cached process-wide (token_cache.h) and refreshed before expiry.
 * A quota project (quota_project_id, or GOOGLE_CLOUD_QUOTA_PROJECT) is sent as
 * x-goog-user-project.  Nothing found: an error listing what was tried, except
 * for a loopback URL (local servers and tests), which then gets no header.
 *
 * Security: credentials never travel over plain http except to loopback (the
 * call fails and says why, before any connection); tokens, keys, assertions and
 * refresh tokens never appear in messages or logs and are wiped when freed.
 *
 * An auth session (eem_auth_session) holds the credentials of one call that
 * sends many requests (a raster compute call, predictor.c; a feature predict
 * call, feature_model.c): the current header lines, the lines replaced while
 * requests still in flight point at them, and a generation counter; it takes
 * the renew / retire / resend decision after an HTTP 401. */
#ifndef EEM_AUTH_H
#define EEM_AUTH_H

#include "buf.h"
#include "endpoint.h"
#include "error.h"
#include "http.h"
#include "secret.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_OAUTH2_DEFAULT_SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define EEM_OAUTH2_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define EEM_METADATA_DETECT_TIMEOUT_S 1.0

/* The header lines credentials add to the requests of one endpoint. */
typedef struct eem_auth_lines {
    char *authorization; /* "Authorization: Bearer ..." (a secret) or NULL */
    char *user_project;  /* "x-goog-user-project: ..." or NULL */
    double refresh_at;   /* ask again after this eem_auth_clock() time; 0: never */
    int refreshable;     /* 1: a refused token can be replaced by fetching again */
    char *cache_key;     /* token cache entry the token came from (NULL: not cached) */
    char origin[512];    /* where the token came from, for messages (no secret) */
    char looked_for[1536]; /* Google credentials apply, none were found (loopback URL):
                              the links tried, for the message of an HTTP 401/403; "" else */
} eem_auth_lines;

/* Fill *out for ep (all NULL when no credentials apply). */
eem_status eem_auth_lines_for(const eem_endpoint *ep, eem_auth_lines *out, eem_error *err);
/* Wipe and free what l owns; l is left empty. */
void eem_auth_lines_clear(eem_auth_lines *l);
/* The server refused the token of `refused` (HTTP 401): forget it so the next
 * eem_auth_lines_for() fetches (or re-reads) a new one.  Returns 1 when that
 * can give a different token, 0 when it cannot (a fixed EEMODEL_ACCESS_TOKEN). */
int eem_auth_invalidate(const eem_auth_lines *refused);
/* Monotonic seconds, the clock of eem_auth_lines.refresh_at. */
double eem_auth_clock(void);

/* Lines replaced during a session, kept until it ends (auth.c). */
typedef struct eem_auth_retired eem_auth_retired;

/* The credentials of one call (see the top of this file). */
typedef struct eem_auth_session {
    const eem_endpoint *ep;
    const char *const *static_lines; /* appended after the credential lines (not owned) */
    int n_static;
    eem_auth_lines lines;   /* the current credentials */
    const char **headers;   /* NULL-terminated: credential lines, then static_lines */
    int generation;         /* incremented at every renewal */
    eem_auth_retired *retired;
} eem_auth_session;

/* Fill s with the credentials for ep and the header lines of the first
 * requests; static_lines (n_static of them, may be NULL) follow the credential
 * lines and must outlive the session.  End s with eem_auth_session_end() even
 * on failure. */
eem_status eem_auth_session_begin(eem_auth_session *s, const eem_endpoint *ep,
                                  const char *const *static_lines, int n_static, eem_error *err);
/* Ask for the current credentials again (a new token after a 401, or one
 * refreshed ahead of expiry); the old lines are retired, not freed, since
 * requests in flight still point at them. */
eem_status eem_auth_session_renew(eem_auth_session *s, eem_error *err);
/* eem_auth_session_renew() when the current token's refresh time has come. */
eem_status eem_auth_session_renew_if_due(eem_auth_session *s, eem_error *err);
/* A request sent with the lines of generation *generation (0 / 1 in *retried:
 * already sent again once) was answered HTTP `status`.  On a 401, the first
 * time for that request, the token it carried is dropped from the token cache
 * (once, however many requests carried it) and new lines are obtained; then
 * *resend is 1: send it again with s->headers (*generation and *retried are
 * updated).  *resend is 0 for any other answer, a second 401, no credentials,
 * or a fixed token that sending again cannot help. */
eem_status eem_auth_session_after_answer(eem_auth_session *s, int status, int *generation,
                                         int *retried, int *resend, eem_error *err);
/* A finished request req of multi m, sent with the lines of *generation: when
 * eem_auth_session_after_answer says so, req goes again — its answer freed,
 * the session's current lines as its secret headers, added to m — and
 * *resent is 1 (the caller keeps it listed as in flight). */
eem_status eem_auth_session_resend_refused(eem_auth_session *s, eem_http_multi *m,
                                           eem_http_request *req, int *generation, int *retried,
                                           int *resent, eem_error *err);
/* Wipe and free everything s owns, retired lines included; s is left empty. */
void eem_auth_session_end(eem_auth_session *s);

/* Compatibility: only the Authorization line of eem_auth_lines_for(). */
eem_status eem_auth_header_for(const eem_endpoint *ep, char **header, eem_error *err);
#ifdef __cplusplus
}
#endif
#endif
