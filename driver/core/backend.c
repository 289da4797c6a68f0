/* backend.c — the backend table and the helpers its entries share (see
 * backend.h): path surgery for metadata URLs, and reading
 * the message out of a JSON error body. */
#define _POSIX_C_SOURCE 200809L

#include "backend.h"

#include "str.h"
#include "url.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define EEM_BACKEND_ERROR_EXCERPT 300

static const eem_backend_ops *const backends[] = {&eem_backend_aiplatform, &eem_backend_vertex,
                                                  &eem_backend_tfserving, &eem_backend_kserve_v2};
#define N_BACKENDS (sizeof backends / sizeof backends[0])

const eem_backend_ops *eem_backend_for(eem_protocol p)
{
    for (size_t i = 0; i < N_BACKENDS; i++)
        if (backends[i]->protocol == p)
            return backends[i];
    return NULL;
}

eem_protocol eem_backend_protocol_of_url(const char *url)
{
    eem_path_segments ps;
    eem_path_segments_of(url, &ps);
    int best = -1;
    eem_protocol proto = EEM_PROTO_NONE;
    for (size_t i = 0; i < N_BACKENDS; i++) { /* the layout that starts first wins */
        int at = backends[i]->recognises ? backends[i]->recognises(&ps) : -1;
        if (at >= 0 && (best < 0 || at < best)) {
            best = at;
            proto = backends[i]->protocol;
        }
    }
    return proto;
}

/* ---- URL paths ------------------------------------------------------------ */

int eem_url_path_ends_with(const char *url, const char *suffix)
{
    const char *path;
    size_t n = eem_url_path_len(url, &path), k = strlen(suffix);
    return n >= k && strncmp(path + n - k, suffix, k) == 0;
}

char *eem_url_with_path_end(const char *url, size_t cut, const char *add)
{
    const char *path;
    size_t path_len = eem_url_path_len(url, &path);
    size_t path_end = (size_t)(path - url) + path_len;
    eem_buf b = {0};
    eem_buf_append(&b, url, path_end - cut);
    eem_buf_puts(&b, add);
    eem_buf_puts(&b, url + path_end);
    return eem_buf_take(&b);
}

/* ---- error bodies ----------------------------------------------------------- */

int eem_backend_json_error(const char *body, size_t len, int with_status, int with_detail,
                           char *buf, size_t buflen)
{
    int found = 0;
    json_tokener *tok = json_tokener_new();
    if (!tok || !body)
        return 0;
    json_object *root = json_tokener_parse_ex(tok, body, (int)(len > INT32_MAX ? INT32_MAX : len));
    json_tokener_free(tok);
    if (!root || !json_object_is_type(root, json_type_object))
        goto done;
    json_object *e = NULL, *v = NULL;
    if (json_object_object_get_ex(root, "error", &e)) {
        if (json_object_is_type(e, json_type_string)) {
            const char *s = json_object_get_string(e);
            eem_str_excerpt(s, strlen(s), EEM_BACKEND_ERROR_EXCERPT, buf, buflen);
            found = 1;
        } else if (json_object_is_type(e, json_type_object) &&
                   json_object_object_get_ex(e, "message", &v) &&
                   json_object_is_type(v, json_type_string)) {
            const char *s = json_object_get_string(v);
            char msg[EEM_BACKEND_ERROR_EXCERPT + 8];
            eem_str_excerpt(s, strlen(s), EEM_BACKEND_ERROR_EXCERPT, msg, sizeof msg);
            json_object *status = NULL;
            if (with_status && json_object_object_get_ex(e, "status", &status) &&
                json_object_is_type(status, json_type_string))
                snprintf(buf, buflen, "%s (%.64s)", msg, json_object_get_string(status));
            else
                snprintf(buf, buflen, "%s", msg);
            found = 1;
        }
    } else if (with_detail && json_object_object_get_ex(root, "detail", &v) &&
               json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        eem_str_excerpt(s, strlen(s), EEM_BACKEND_ERROR_EXCERPT, buf, buflen);
        found = 1;
    }
done:
    json_object_put(root);
    return found;
}
