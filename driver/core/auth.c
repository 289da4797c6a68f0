/* auth.c — the credential chain of prediction requests (see auth.h).
 *
 * Owns: which link of the chain applies (EEMODEL_ACCESS_TOKEN,
 * EEMODEL_ACCESS_TOKEN_FILE, GOOGLE_APPLICATION_CREDENTIALS, gcloud's
 * application-default file, the metadata server), reading credential files,
 * the OAuth2 grants (JWT bearer for service accounts, refresh token for
 * authorized users), metadata-server detection and tokens, the rule that
 * secrets only travel over https or to loopback, and wiping secrets.  Token
 * caching is token_cache.c, signing is jwt.c, the HTTP calls token_http.c.
 * No secret is ever written into a message or a debug line. */
#define _POSIX_C_SOURCE 200809L

#include "auth.h"

#include "buf.h"
#include "http.h"
#include "jwt.h"
#include "token_cache.h"
#include "token_http.h"
#include "str.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <json-c/json.h>
#include <openssl/crypto.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define EEM_TOKEN_OPTION "EEMODEL_ACCESS_TOKEN"
#define EEM_TOKEN_FILE_OPTION "EEMODEL_ACCESS_TOKEN_FILE"
#define EEM_GAC_OPTION "GOOGLE_APPLICATION_CREDENTIALS"
#define EEM_SCOPE_OPTION "EEMODEL_OAUTH2_SCOPE"
#define EEM_QUOTA_OPTION "GOOGLE_CLOUD_QUOTA_PROJECT"
#define EEM_ADC_FILE_NAME "application_default_credentials.json"
#define EEM_TOKEN_FILE_MAX_BYTES (64 * 1024)
#define EEM_CREDENTIALS_FILE_MAX_BYTES (64 * 1024)
#define EEM_TOKEN_MAX_CHARS (16 * 1024)
#define EEM_BEARER_PREFIX "Authorization: Bearer "
#define EEM_USER_PROJECT_PREFIX "x-goog-user-project: "
#define EEM_JWT_LIFETIME_S 3600
#define EEM_TOKEN_ENDPOINT_TIMEOUT_S 30.0
#define EEM_TOKEN_ENDPOINT_CONNECT_TIMEOUT_S 10.0
#define EEM_TOKEN_ENDPOINT_ATTEMPTS 3
#define EEM_METADATA_DEFAULT_HOST "metadata.google.internal"
#define EEM_METADATA_DEFAULT_IP "169.254.169.254"
#define EEM_METADATA_TOKEN_PATH "/computeMetadata/v1/instance/service-accounts/default/token"
#define EEM_METADATA_TOKEN_TIMEOUT_S 10.0
#define EEM_METADATA_TOKEN_CONNECT_TIMEOUT_S 3.0
#define EEM_METADATA_TOKEN_ATTEMPTS 3
#define EEM_METADATA_NEGATIVE_TTL_S 60.0
#define EEM_METADATA_CACHE_HOSTS 8
#define EEM_DMI_PRODUCT_FILE "/sys/class/dmi/id/product_name"
#define EEM_SERVER_TEXT_MAX 200

/* ------------------------------------------------------------ secrets -- */

/* Copy of s[0..n) without leading/trailing whitespace (owned), NULL if no memory. */
static char *trimmed_copy(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    char *t = malloc(n + 1);
    if (t) {
        memcpy(t, s, n);
        t[n] = '\0';
    }
    return t;
}

/* Read a small file into *data (owned secret, NUL-terminated). */
static eem_status read_secret_file(const char *what, const char *path, size_t max, char **data,
                                   size_t *len, eem_error *err)
{
    eem_status st = EEM_OK;
    char *raw = NULL;
    size_t n = 0;
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return eem_error_set(err, EEM_ERR_INVALID, "%s: cannot open \"%s\": %s", what, path,
                             strerror(errno));
    raw = malloc(max + 2);
    if (!raw) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory reading %s", what);
        goto done;
    }
    n = fread(raw, 1, max + 1, f);
    if (ferror(f)) {
        st = eem_error_set(err, EEM_ERR_INVALID, "%s: cannot read \"%s\"", what, path);
        goto done;
    }
    if (n > max) {
        st = eem_error_set(err, EEM_ERR_INVALID, "%s: \"%s\" is larger than %zu bytes", what,
                           path, max);
        goto done;
    }
    raw[n] = '\0';
    *data = raw;
    *len = n;
    raw = NULL;
done:
    if (raw) {
        OPENSSL_cleanse(raw, max + 2);
        free(raw);
    }
    fclose(f);
    return st;
}

/* A token must fit on one header line. */
static int token_is_clean(const char *t)
{
    size_t n = 0;
    for (; t[n]; n++) {
        unsigned char c = (unsigned char)t[n];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return n > 0 && n <= EEM_TOKEN_MAX_CHARS;
}

/* ------------------------------------------------------ JSON, wiped -- */

/* Overwrite every string of a JSON document, then release it. */
static void json_put_wiped(json_object *o)
{
    if (!o)
        return;
    if (json_object_is_type(o, json_type_string)) {
        char *s = (char *)json_object_get_string(o);
        OPENSSL_cleanse(s, (size_t)json_object_get_string_len(o));
    } else if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            if (json_object_is_type(v, json_type_string) ||
                json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array))
                json_put_wiped(json_object_get(v));
        }
    } else if (json_object_is_type(o, json_type_array)) {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            json_put_wiped(json_object_get(json_object_array_get_idx(o, i)));
    }
    json_object_put(o);
}

/* Parse a JSON object that holds secrets; the parser's scratch copy of the
 * last string (which may be a private key or a token) is wiped too. */
static json_object *parse_secret_json(const char *text, size_t len)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    json_object *o = json_tokener_parse_ex(tok, text, (int)(len > 0x7fffffff ? 0x7fffffff : len));
    if (o && json_tokener_get_parse_end(tok) < len) {
        const char *rest = text + json_tokener_get_parse_end(tok);
        while (*rest && isspace((unsigned char)*rest))
            rest++;
        if (*rest) {
            json_put_wiped(o);
            o = NULL;
        }
    }
    /* json-c keeps string scratch space in tok->pb (public struct, see json_tokener.h) */
    if (tok->pb && tok->pb->buf)
        OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
    json_tokener_free(tok);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_put_wiped(o);
        o = NULL;
    }
    return o;
}

static const char *json_text(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    const char *s = json_object_get_string(v);
    return s && *s ? s : NULL;
}

/* Server-provided text for a message: printable, short, and without any of
 * the secrets we sent (a server that echoes them must not leak them). */
static void server_text(const char *s, const char *const *secrets, char *buf, size_t buflen)
{
    size_t o = 0;
    for (size_t i = 0; s && s[i] && o + 1 < buflen && i < EEM_SERVER_TEXT_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    buf[o] = '\0';
    for (int k = 0; secrets && secrets[k]; k++) {
        size_t n = strlen(secrets[k]);
        if (n < 8)
            continue;
        /* compare against a prefix too: the text may be truncated */
        size_t probe = n < 16 ? n : 16;
        for (size_t i = 0; i + probe <= o; i++)
            if (memcmp(buf + i, secrets[k], probe) == 0) {
                snprintf(buf, buflen, "[the answer quoted a secret we sent; not shown]");
                return;
            }
    }
}

/* ---------------------------------------------------- token answers -- */

/* Form field name=value, percent-encoded, appended to b. */
static void form_add(eem_buf *b, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    if (b->len)
        eem_buf_puts(b, "&");
    eem_buf_puts(b, name);
    eem_buf_puts(b, "=");
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            eem_buf_append(b, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            eem_buf_append(b, e, 3);
        }
    }
}

/* Room for a form of the given secret values (NULL: none) percent-encoded,
 * so that filling it never moves, and so never leaves a copy of, a secret. */
static void form_reserve(eem_buf *b, const char *v1, const char *v2, const char *v3)
{
    const char *values[] = {v1, v2, v3};
    size_t n = 256; /* field names, separators and fixed values */
    for (int i = 0; i < 3; i++)
        n += values[i] ? 3 * strlen(values[i]) : 0;
    eem_buf_reserve(b, n);
}

/* Read {"access_token": ..., "expires_in": ...} out of a 200 answer. */
static eem_status take_token_answer(const eem_token_http_answer *ans, const char *what,
                                    const char *url_shown, eem_token_fetched *out, eem_error *err)
{
    json_object *doc = parse_secret_json(ans->body, ans->len);
    eem_status st = EEM_OK;
    if (!doc) {
        st = eem_error_set(err, EEM_ERR_PROTOCOL, "%s: the answer of %s is not a JSON object",
                           what, url_shown);
        goto done;
    }
    const char *token = json_text(doc, "access_token");
    if (!token) {
        st = eem_error_set(err, EEM_ERR_PROTOCOL, "%s: the answer of %s has no access_token",
                           what, url_shown);
        goto done;
    }
    if (!token_is_clean(token)) {
        st = eem_error_set(err, EEM_ERR_PROTOCOL,
                           "%s: the access_token from %s is empty, too long or contains control "
                           "characters",
                           what, url_shown);
        goto done;
    }
    const char *type = json_text(doc, "token_type");
    if (type && strcasecmp(type, "Bearer") != 0) {
        st = eem_error_set(err, EEM_ERR_PROTOCOL,
                           "%s: %s issued a token of type \"%.40s\"; only Bearer tokens are "
                           "supported",
                           what, url_shown, type);
        goto done;
    }
    json_object *e = NULL;
    double lifetime = 0;
    if (json_object_object_get_ex(doc, "expires_in", &e)) {
        /* a number, or a string holding one (some services) */
        if (json_object_is_type(e, json_type_int) || json_object_is_type(e, json_type_double))
            lifetime = json_object_get_double(e);
        else if (json_object_is_type(e, json_type_string))
            lifetime = strtod(json_object_get_string(e), NULL);
    }
    out->token = eem_strdup(token);
    out->lifetime_s = lifetime > 0 ? lifetime : 0;
    if (!out->token)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
done:
    json_put_wiped(doc);
    return st;
}

/* Why a token request failed, without secrets. */
static eem_status token_request_failed(const eem_token_http_answer *ans, const char *what,
                                       const char *verb, const char *url_shown,
                                       const char *const *secrets, eem_error *err)
{
    if (ans->error[0])
        return eem_error_set(err, EEM_ERR_HTTP, "%s: %s: no answer from %s: %s", what, verb,
                             url_shown, ans->error);
    char detail[EEM_SERVER_TEXT_MAX * 2 + 8] = "";
    json_object *doc = parse_secret_json(ans->body, ans->len);
    if (doc) {
        json_object *e = NULL;
        const char *code = json_text(doc, "error"), *desc = json_text(doc, "error_description");
        char a[EEM_SERVER_TEXT_MAX + 1] = "", b[EEM_SERVER_TEXT_MAX + 1] = "";
        if (code)
            server_text(code, secrets, a, sizeof a);
        else if (json_object_object_get_ex(doc, "error", &e) &&
                 json_object_is_type(e, json_type_object))
            server_text(json_text(e, "message"), secrets, a, sizeof a);
        if (desc)
            server_text(desc, secrets, b, sizeof b);
        snprintf(detail, sizeof detail, "%s%s%s", a, a[0] && b[0] ? ": " : "", b);
        json_put_wiped(doc);
    } else {
        server_text(ans->body, secrets, detail, sizeof detail);
    }
    return eem_error_set(err, EEM_ERR_HTTP, "%s: %s: %s answered HTTP %ld%s%s", what, verb,
                         url_shown, ans->status, detail[0] ? ": " : "", detail);
}

/* POST a form to a token endpoint and take the token out of the answer. */
static eem_status post_token_form(const char *what, const char *verb, const char *token_uri,
                                  const eem_buf *form, const char *const *secrets,
                                  eem_token_fetched *out, eem_error *err)
{
    char shown[1024];
    eem_url_for_display(token_uri, shown, sizeof shown);
    if (!eem_url_may_carry_secrets(token_uri))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "%s: refusing to send credentials to the token endpoint %s over "
                             "plain http: token_uri must be https (or a loopback address)",
                             what, shown);
    eem_token_http req = {token_uri, form->data, 0, EEM_TOKEN_ENDPOINT_TIMEOUT_S,
                          EEM_TOKEN_ENDPOINT_CONNECT_TIMEOUT_S, EEM_TOKEN_ENDPOINT_ATTEMPTS};
    eem_token_http_answer ans;
    eem_status st = eem_token_http_perform(&req, &ans, err);
    if (st == EEM_OK) {
        if (!ans.error[0] && ans.status >= 200 && ans.status < 300)
            st = take_token_answer(&ans, what, shown, out, err);
        else
            st = token_request_failed(&ans, what, verb, shown, secrets, err);
    }
    eem_token_http_answer_clear(&ans);
    return st;
}

/* ------------------------------------------------------ the fetchers -- */

typedef enum link_kind {
    LINK_NONE,
    LINK_TOKEN,       /* EEMODEL_ACCESS_TOKEN */
    LINK_TOKEN_FILE,  /* EEMODEL_ACCESS_TOKEN_FILE */
    LINK_CREDENTIALS, /* GOOGLE_APPLICATION_CREDENTIALS */
    LINK_ADC,         /* gcloud's application-default credentials file */
    LINK_METADATA     /* the metadata server */
} link_kind;

typedef struct chain_link {
    link_kind kind;
    char where[4096]; /* file path, or metadata host[:port] */
    char what[4200];  /* how messages name it, e.g. GOOGLE_APPLICATION_CREDENTIALS ("/k.json") */
} chain_link;

static eem_status fetch_token_file(void *user, eem_token_fetched *out, eem_error *err)
{
    const chain_link *l = user;
    char *raw = NULL;
    size_t n = 0;
    eem_status st = read_secret_file(EEM_TOKEN_FILE_OPTION, l->where, EEM_TOKEN_FILE_MAX_BYTES,
                                     &raw, &n, err);
    if (st != EEM_OK)
        return st;
    out->token = trimmed_copy(raw, n);
    OPENSSL_cleanse(raw, n);
    free(raw);
    if (!out->token)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory reading %s", EEM_TOKEN_FILE_OPTION);
    if (!*out->token)
        return eem_error_set(err, EEM_ERR_INVALID, "%s: \"%s\" is empty", EEM_TOKEN_FILE_OPTION,
                             l->where);
    if (!token_is_clean(out->token))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "%s: \"%s\" must hold one access token on one line (it contains "
                             "control characters or line breaks)",
                             EEM_TOKEN_FILE_OPTION, l->where);
    return EEM_OK;
}

static const char *oauth_scope(void)
{
    const char *s = CPLGetConfigOption(EEM_SCOPE_OPTION, NULL);
    return s && *s ? s : EEM_OAUTH2_DEFAULT_SCOPE;
}

/* The credentials' token endpoint, Google's when the file names none. */
static const char *token_uri_of(json_object *cred)
{
    const char *uri = json_text(cred, "token_uri");
    return uri ? uri : EEM_OAUTH2_DEFAULT_TOKEN_URI;
}

static eem_status service_account_grant(const chain_link *l, json_object *key,
                                        eem_token_fetched *out, eem_error *err)
{
    const char *email = json_text(key, "client_email");
    const char *pem = json_text(key, "private_key");
    const char *kid = json_text(key, "private_key_id");
    const char *token_uri = token_uri_of(key);
    if (!email || !pem)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "%s: the service_account key lacks %s; download a new JSON key for "
                             "the service account",
                             l->what, !email ? "client_email" : "private_key");
    time_t now = time(NULL);
    eem_jwt_claims c = {email, oauth_scope(), token_uri, NULL, (long long)now,
                        (long long)now + EEM_JWT_LIFETIME_S};
    char *assertion = NULL;
    eem_buf form = {0};
    eem_status st = eem_jwt_service_account_assertion(pem, kid, &c, &assertion, err);
    if (st != EEM_OK) {
        eem_error_prefix(err, "%s", l->what);
        goto done;
    }
    form_reserve(&form, assertion, NULL, NULL);
    form_add(&form, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
    form_add(&form, "assertion", assertion);
    if (form.failed) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        goto done;
    }
    CPLDebug("EEMODEL", "credentials: JWT-bearer grant for service account %s at %s (%s)", email,
             token_uri, l->what);
    const char *secrets[] = {assertion, NULL};
    char verb[512];
    snprintf(verb, sizeof verb, "the token request for service account %.200s", email);
    st = post_token_form(l->what, verb, token_uri, &form, secrets, out, err);
done:
    eem_secret_buf_free(&form);
    eem_secret_free(assertion);
    return st;
}

static eem_status authorized_user_grant(const chain_link *l, json_object *cred,
                                        eem_token_fetched *out, eem_error *err)
{
    const char *id = json_text(cred, "client_id");
    const char *secret = json_text(cred, "client_secret");
    const char *refresh = json_text(cred, "refresh_token");
    const char *token_uri = token_uri_of(cred);
    if (!id || !secret || !refresh)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "%s: the authorized_user file lacks %s; run `gcloud auth "
                             "application-default login` again",
                             l->what, !id ? "client_id" : !secret ? "client_secret" : "refresh_token");
    eem_buf form = {0};
    form_reserve(&form, id, secret, refresh);
    form_add(&form, "grant_type", "refresh_token");
    form_add(&form, "client_id", id);
    form_add(&form, "client_secret", secret);
    form_add(&form, "refresh_token", refresh);
    eem_status st;
    if (form.failed) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    } else {
        CPLDebug("EEMODEL", "credentials: refresh-token grant for client %s at %s (%s)", id,
                 token_uri, l->what);
        const char *secrets[] = {refresh, secret, NULL};
        st = post_token_form(l->what, "the refresh-token request", token_uri, &form, secrets, out,
                             err);
    }
    eem_secret_buf_free(&form);
    return st;
}

/* GOOGLE_APPLICATION_CREDENTIALS or the gcloud ADC file: dispatch on "type". */
static eem_status fetch_credentials_file(void *user, eem_token_fetched *out, eem_error *err)
{
    const chain_link *l = user;
    char *raw = NULL;
    size_t n = 0;
    json_object *doc = NULL;
    eem_status st = read_secret_file(l->what, l->where, EEM_CREDENTIALS_FILE_MAX_BYTES, &raw, &n,
                                     err);
    if (st != EEM_OK)
        return st;
    doc = parse_secret_json(raw, n);
    OPENSSL_cleanse(raw, n);
    free(raw);
    if (!doc)
        return eem_error_set(err, EEM_ERR_INVALID, "%s: \"%s\" is not a JSON object", l->what,
                             l->where);
    const char *type = json_text(doc, "type");
    if (type && strcmp(type, "service_account") == 0) {
        st = service_account_grant(l, doc, out, err);
    } else if (type && strcmp(type, "authorized_user") == 0) {
        st = authorized_user_grant(l, doc, out, err);
    } else {
        char shown[64];
        server_text(type ? type : "(none)", NULL, shown, sizeof shown);
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "%s: credentials of type \"%s\" are not supported; accepted: "
                           "service_account (a service account key), authorized_user (`gcloud "
                           "auth application-default login`)",
                           l->what, shown);
    }
    const char *quota = json_text(doc, "quota_project_id");
    if (st == EEM_OK && quota && !(out->quota_project = eem_strdup(quota)))
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    json_put_wiped(doc);
    return st;
}

static eem_status fetch_metadata(void *user, eem_token_fetched *out, eem_error *err)
{
    const chain_link *l = user;
    char url[4200], shown[4200];
    snprintf(url, sizeof url, "http://%s%s", l->where, EEM_METADATA_TOKEN_PATH);
    eem_url_for_display(url, shown, sizeof shown);
    CPLDebug("EEMODEL", "credentials: token from the metadata server %s", shown);
    eem_token_http req = {url, NULL, 1, EEM_METADATA_TOKEN_TIMEOUT_S,
                          EEM_METADATA_TOKEN_CONNECT_TIMEOUT_S, EEM_METADATA_TOKEN_ATTEMPTS};
    eem_token_http_answer ans;
    eem_status st = eem_token_http_perform(&req, &ans, err);
    if (st != EEM_OK)
        return st;
    if (!ans.error[0] && ans.status >= 200 && ans.status < 300 && !ans.metadata_flavor)
        st = eem_error_set(err, EEM_ERR_PROTOCOL,
                           "%s: %s answered without the header \"Metadata-Flavor: Google\"; it "
                           "is not a metadata server, its answer is not used",
                           l->what, shown);
    else if (!ans.error[0] && ans.status >= 200 && ans.status < 300)
        st = take_token_answer(&ans, l->what, shown, out, err);
    else
        st = token_request_failed(&ans, l->what, "the token request", shown, NULL, err);
    eem_token_http_answer_clear(&ans);
    return st;
}

/* ------------------------------------------------ metadata detection -- */

typedef struct detection {
    char host[256];
    int found;
    double until; /* result valid until (monotonic), 0: forever */
} detection;

static pthread_mutex_t g_detect_lock = PTHREAD_MUTEX_INITIALIZER;
static detection g_detections[EEM_METADATA_CACHE_HOSTS];
static int g_n_detections;

static int dmi_says_google(void)
{
    char line[128] = "";
    FILE *f = fopen(EEM_DMI_PRODUCT_FILE, "r");
    if (!f)
        return 0;
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    fclose(f);
    return strncmp(line, "Google", 6) == 0;
}

/* Whether a metadata server answers at ping_host within the detection budget
 * (one GET / with Metadata-Flavor: Google, which must come back).  Results are
 * remembered: a laptop waits at most once per minute. */
static int metadata_server_found(const char *ping_host)
{
    double now = eem_auth_clock();
    pthread_mutex_lock(&g_detect_lock);
    for (int i = 0; i < g_n_detections; i++) {
        detection *d = &g_detections[i];
        if (strcmp(d->host, ping_host) == 0 && (d->until <= 0 || now < d->until)) {
            int found = d->found;
            pthread_mutex_unlock(&g_detect_lock);
            return found;
        }
    }
    pthread_mutex_unlock(&g_detect_lock);

    char url[512];
    snprintf(url, sizeof url, "http://%s/", ping_host);
    eem_token_http req = {url, NULL, 1, EEM_METADATA_DETECT_TIMEOUT_S,
                          EEM_METADATA_DETECT_TIMEOUT_S, 1};
    eem_token_http_answer ans;
    eem_error ignored;
    int found = 0;
    if (eem_token_http_perform(&req, &ans, &ignored) == EEM_OK)
        found = !ans.error[0] && ans.status == 200 && ans.metadata_flavor;
    eem_token_http_answer_clear(&ans);
    CPLDebug("EEMODEL", "credentials: metadata server %s at %s", found ? "found" : "not found",
             ping_host);

    pthread_mutex_lock(&g_detect_lock);
    int slot = -1;
    for (int i = 0; i < g_n_detections; i++)
        if (strcmp(g_detections[i].host, ping_host) == 0)
            slot = i;
    if (slot < 0)
        slot = g_n_detections < EEM_METADATA_CACHE_HOSTS ? g_n_detections++ : 0;
    snprintf(g_detections[slot].host, sizeof g_detections[slot].host, "%s", ping_host);
    g_detections[slot].found = found;
    g_detections[slot].until = found ? 0 : eem_auth_clock() + EEM_METADATA_NEGATIVE_TTL_S;
    pthread_mutex_unlock(&g_detect_lock);
    return found;
}

/* --------------------------------------------------------- the chain -- */

static const char *config_text(const char *key)
{
    const char *v = CPLGetConfigOption(key, NULL);
    return v && *v ? v : NULL;
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* gcloud's ADC file path, "" when no config folder is known. */
static void adc_path(char *buf, size_t n)
{
    const char *dir = config_text("CLOUDSDK_CONFIG");
    const char *home = getenv("HOME");
    buf[0] = '\0';
    if (dir)
        snprintf(buf, n, "%s/%s", dir, EEM_ADC_FILE_NAME);
    else if (home && *home)
        snprintf(buf, n, "%s/.config/gcloud/%s", home, EEM_ADC_FILE_NAME);
}

/* The first configured link for ep (LINK_NONE when none); tried gets one line
 * per link looked at, for the "nothing found" message. */
static void chain_resolve(const eem_endpoint *ep, chain_link *l, eem_buf *tried)
{
    const char *v;
    memset(l, 0, sizeof *l);
    int loopback = eem_url_is_loopback(ep->predict_url);

    if ((v = config_text(EEM_TOKEN_OPTION))) {
        l->kind = LINK_TOKEN;
        snprintf(l->what, sizeof l->what, "%s", EEM_TOKEN_OPTION);
        return;
    }
    eem_buf_puts(tried, "\n  - " EEM_TOKEN_OPTION ": not set (--config " EEM_TOKEN_OPTION
                        " <access token>, e.g. from `gcloud auth print-access-token`)");
    if ((v = config_text(EEM_TOKEN_FILE_OPTION))) {
        l->kind = LINK_TOKEN_FILE;
        snprintf(l->where, sizeof l->where, "%s", v);
        snprintf(l->what, sizeof l->what, "%s (\"%s\")", EEM_TOKEN_FILE_OPTION, v);
        return;
    }
    eem_buf_puts(tried, "\n  - " EEM_TOKEN_FILE_OPTION ": not set (a file holding one access "
                        "token)");
    if ((v = config_text(EEM_GAC_OPTION))) {
        l->kind = LINK_CREDENTIALS;
        snprintf(l->where, sizeof l->where, "%s", v);
        snprintf(l->what, sizeof l->what, "%s (\"%s\")", EEM_GAC_OPTION, v);
        return;
    }
    eem_buf_puts(tried, "\n  - " EEM_GAC_OPTION ": not set (the path of a service account "
                        "key or authorized_user JSON file)");
    char adc[4096];
    adc_path(adc, sizeof adc);
    if (adc[0] && file_exists(adc)) {
        l->kind = LINK_ADC;
        snprintf(l->where, sizeof l->where, "%s", adc);
        snprintf(l->what, sizeof l->what, "gcloud application-default credentials (\"%s\")", adc);
        return;
    }
    eem_buf_printf(tried,
                   "\n  - gcloud application-default credentials: no file \"%s\" (run `gcloud "
                   "auth application-default login`; CLOUDSDK_CONFIG selects gcloud's folder)",
                   adc[0] ? adc : "$HOME/.config/gcloud/" EEM_ADC_FILE_NAME);

    const char *host = config_text("GCE_METADATA_HOST");
    if (!host)
        host = config_text("GCE_METADATA_ROOT");
    if (CPLTestBool(CPLGetConfigOption("NO_GCE_CHECK", "NO"))) {
        eem_buf_puts(tried, "\n  - the metadata server: not checked (NO_GCE_CHECK is set)");
        return;
    }
    if (!eem_url_may_carry_secrets(ep->predict_url)) {
        eem_buf_puts(tried, "\n  - the metadata server: not asked (its token could not be sent "
                            "over plain http anyway)");
        return;
    }
    const char *ping = host;
    if (!host) {
        host = EEM_METADATA_DEFAULT_HOST;
        ping = config_text("GCE_METADATA_IP");
        if (!ping)
            ping = EEM_METADATA_DEFAULT_IP;
        if (dmi_says_google())
            ping = NULL; /* a Google VM: no need to probe */
        else if (loopback) {
            eem_buf_puts(tried, "\n  - the metadata server: not probed for a loopback URL (set "
                                "GCE_METADATA_HOST to use one)");
            return;
        }
    }
    if (ping && !metadata_server_found(ping)) {
        eem_buf_printf(tried,
                       "\n  - the metadata server: no answer with \"Metadata-Flavor: Google\" "
                       "from %s within %.0f s (available on Compute Engine, GKE and Cloud Run; "
                       "GCE_METADATA_HOST names another one)",
                       ping, EEM_METADATA_DETECT_TIMEOUT_S);
        return;
    }
    l->kind = LINK_METADATA;
    snprintf(l->where, sizeof l->where, "%s", host);
    snprintf(l->what, sizeof l->what, "the metadata server (%s)", host);
}

/* Cache key of a link: the source, plus the file's identity for token files
 * so that a rewritten file is read again. */
static void link_cache_key(const chain_link *l, char *buf, size_t n)
{
    struct stat sb;
    switch (l->kind) {
    case LINK_TOKEN_FILE:
        if (stat(l->where, &sb) == 0)
            snprintf(buf, n, "file:%s@%lld.%09ld:%lld", l->where, (long long)sb.st_mtim.tv_sec,
                     (long)sb.st_mtim.tv_nsec, (long long)sb.st_size);
        else
            snprintf(buf, n, "file:%s", l->where);
        break;
    case LINK_CREDENTIALS:
    case LINK_ADC:
        snprintf(buf, n, "json:%s|%s", l->where, oauth_scope());
        break;
    case LINK_METADATA:
        snprintf(buf, n, "metadata:%s", l->where);
        break;
    default:
        buf[0] = '\0';
    }
}

static eem_status build_lines(eem_auth_lines *out, const chain_link *l, const char *token,
                              const char *quota, eem_error *err)
{
    if (!token_is_clean(token))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "%s: the access token is empty, too long or contains control "
                             "characters or line breaks",
                             l->what);
    const char *q = config_text(EEM_QUOTA_OPTION);
    if (!q)
        q = quota;
    size_t n = strlen(EEM_BEARER_PREFIX) + strlen(token) + 1;
    out->authorization = malloc(n);
    if (!out->authorization)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building the Authorization header");
    snprintf(out->authorization, n, "%s%s", EEM_BEARER_PREFIX, token);
    if (q) {
        if (!token_is_clean(q) || strlen(q) > 256)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "quota project \"%.80s\" is not a valid project id", q);
        n = strlen(EEM_USER_PROJECT_PREFIX) + strlen(q) + 1;
        out->user_project = malloc(n);
        if (!out->user_project)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        snprintf(out->user_project, n, "%s%s", EEM_USER_PROJECT_PREFIX, q);
    }
    snprintf(out->origin, sizeof out->origin, "%.500s", l->what);
    return EEM_OK;
}

eem_status eem_auth_lines_for(const eem_endpoint *ep, eem_auth_lines *out, eem_error *err)
{
    eem_status st = EEM_OK;
    eem_buf tried = {0};
    char *token = NULL, *quota = NULL;
    chain_link *l = calloc(1, sizeof *l);
    memset(out, 0, sizeof *out);
    if (!l)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    if (!ep->google_auth)
        goto done; /* non-Google URLs never get Google credentials */

    chain_resolve(ep, l, &tried);
    if (l->kind == LINK_NONE) {
        if (!eem_url_is_loopback(ep->predict_url))
            st = eem_error_set(err, EEM_ERR_INVALID,
                               "no credentials for %s: Google credentials apply and none "
                               "were found; tried, in order:%s",
                               ep->display_url, tried.failed ? " (out of memory)" : tried.data);
        else if (!tried.failed && tried.data)
            snprintf(out->looked_for, sizeof out->looked_for, "%s", tried.data);
        goto done; /* loopback: a local server without credentials */
    }
    /* Before any token is fetched or sent: secrets only over https or to loopback. */
    if (!eem_url_may_carry_secrets(ep->predict_url)) {
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "refusing to send the access token from %s to %s over plain http: "
                           "credentials travel unencrypted only to loopback addresses; use an "
                           "https URL",
                           l->what, ep->display_url);
        goto done;
    }
    if (l->kind == LINK_TOKEN) {
        const char *v = config_text(EEM_TOKEN_OPTION);
        token = trimmed_copy(v, strlen(v));
        if (!token) {
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
            goto done;
        }
        st = build_lines(out, l, token, NULL, err);
        goto done;
    }
    char key[4400];
    link_cache_key(l, key, sizeof key);
    eem_token_fetch_fn fetch = l->kind == LINK_TOKEN_FILE  ? fetch_token_file
                               : l->kind == LINK_METADATA ? fetch_metadata
                                                          : fetch_credentials_file;
    st = eem_token_cache_get(key, fetch, l, &token, &quota, &out->refresh_at, err);
    if (st == EEM_OK)
        st = build_lines(out, l, token, quota, err);
    if (st == EEM_OK) {
        out->refreshable = 1;
        if (!(out->cache_key = eem_strdup(key)))
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }

done:
    if (st != EEM_OK)
        eem_auth_lines_clear(out);
    eem_secret_free(token);
    free(quota);
    eem_buf_free(&tried);
    free(l);
    return st;
}

void eem_auth_lines_clear(eem_auth_lines *l)
{
    if (!l)
        return;
    eem_secret_free(l->authorization);
    free(l->user_project);
    free(l->cache_key);
    memset(l, 0, sizeof *l);
}

int eem_auth_invalidate(const eem_auth_lines *refused)
{
    if (!refused || !refused->authorization || !refused->cache_key)
        return 0;
    const char *token = refused->authorization + strlen(EEM_BEARER_PREFIX);
    eem_token_cache_invalidate(refused->cache_key, token);
    return refused->refreshable;
}

double eem_auth_clock(void) { return eem_token_cache_clock(); }

eem_status eem_auth_header_for(const eem_endpoint *ep, char **header, eem_error *err)
{
    eem_auth_lines l;
    *header = NULL;
    eem_status st = eem_auth_lines_for(ep, &l, err);
    if (st == EEM_OK) {
        *header = l.authorization;
        l.authorization = NULL;
    }
    eem_auth_lines_clear(&l);
    return st;
}

/* ------------------------------------------------------------ auth session -- */

struct eem_auth_retired {
    eem_auth_lines lines;
    const char **headers;
    eem_auth_retired *next;
};

/* The header lines of the next requests: s->lines' credential lines, then the
 * static ones. */
static eem_status session_build_headers(eem_auth_session *s, eem_error *err)
{
    s->headers = calloc((size_t)s->n_static + 3, sizeof *s->headers);
    if (!s->headers)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    size_t i = 0;
    if (s->lines.authorization)
        s->headers[i++] = s->lines.authorization;
    if (s->lines.user_project)
        s->headers[i++] = s->lines.user_project;
    for (int k = 0; k < s->n_static; k++)
        s->headers[i++] = s->static_lines[k];
    return EEM_OK;
}

eem_status eem_auth_session_begin(eem_auth_session *s, const eem_endpoint *ep,
                                  const char *const *static_lines, int n_static, eem_error *err)
{
    memset(s, 0, sizeof *s);
    s->ep = ep;
    s->static_lines = static_lines;
    s->n_static = static_lines ? n_static : 0;
    eem_status st = eem_auth_lines_for(ep, &s->lines, err);
    if (st == EEM_OK)
        st = session_build_headers(s, err);
    return st;
}

eem_status eem_auth_session_renew(eem_auth_session *s, eem_error *err)
{
    eem_auth_retired *old = calloc(1, sizeof *old);
    if (!old)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    old->lines = s->lines;
    old->headers = s->headers;
    old->next = s->retired;
    s->retired = old;
    memset(&s->lines, 0, sizeof s->lines);
    s->headers = NULL;
    s->generation++;
    eem_status st = eem_auth_lines_for(s->ep, &s->lines, err);
    if (st == EEM_OK)
        st = session_build_headers(s, err);
    if (st != EEM_OK)
        eem_error_prefix(err, "renewing the credentials for %s", s->ep->display_url);
    return st;
}

eem_status eem_auth_session_renew_if_due(eem_auth_session *s, eem_error *err)
{
    if (s->lines.refresh_at > 0 && eem_auth_clock() >= s->lines.refresh_at)
        return eem_auth_session_renew(s, err);
    return EEM_OK;
}

eem_status eem_auth_session_after_answer(eem_auth_session *s, int status, int *generation,
                                         int *retried, int *resend, eem_error *err)
{
    *resend = 0;
    if (status != 401 || *retried || !s->lines.authorization)
        return EEM_OK;
    if (*generation == s->generation) { /* the current token was refused: replace it */
        if (!eem_auth_invalidate(&s->lines))
            return EEM_OK; /* a fixed token: sending it again cannot help */
        eem_status st = eem_auth_session_renew(s, err);
        if (st != EEM_OK)
            return st;
    } /* else an older token: the current one is already new */
    *generation = s->generation;
    *retried = 1;
    *resend = 1;
    return EEM_OK;
}

eem_status eem_auth_session_resend_refused(eem_auth_session *s, eem_http_multi *m,
                                           eem_http_request *req, int *generation, int *retried,
                                           int *resent, eem_error *err)
{
    *resent = 0;
    int resend = 0;
    eem_status st =
        eem_auth_session_after_answer(s, (int)req->status, generation, retried, &resend, err);
    if (st != EEM_OK || !resend)
        return st;
    eem_http_request_clear(req);
    req->secret_headers = s->headers;
    st = eem_http_multi_add(m, req, err);
    if (st == EEM_OK)
        *resent = 1;
    return st;
}

void eem_auth_session_end(eem_auth_session *s)
{
    if (!s)
        return;
    eem_auth_lines_clear(&s->lines);
    free(s->headers);
    while (s->retired) {
        eem_auth_retired *old = s->retired;
        s->retired = old->next;
        eem_auth_lines_clear(&old->lines);
        free(old->headers);
        free(old);
    }
    memset(s, 0, sizeof *s);
}
