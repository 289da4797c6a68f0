/* payload_json.c — JSON pieces shared by the payload formats (see
 * payload_json.h): exact number literals, answer parsing, the walk over every
 * legal answer shape and nested number lists <-> tensors. */
#include "payload_json.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EEM_JSON_ERROR_MESSAGE_MAX 300 /* server error text kept in our message */
#define EEM_JSON_SHOW_MAX 40           /* characters of a bad string value shown */

/* ------------------------------------------------------------- numbers -- */

static int put_u64(eem_buf *b, uint64_t v, int negative)
{
    char tmp[24];
    int n = sizeof tmp;
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (negative)
        tmp[--n] = '-';
    return eem_buf_append(b, tmp + n, sizeof tmp - (size_t)n);
}

static int put_i64(eem_buf *b, int64_t v)
{
    if (v < 0)
        return put_u64(b, (uint64_t)0 - (uint64_t)v, 1);
    return put_u64(b, (uint64_t)v, 0);
}

static int put_double(eem_buf *b, double d, int digits)
{
    if (isnan(d))
        return eem_buf_puts(b, "NaN");
    if (isinf(d))
        return eem_buf_puts(b, d > 0 ? "Infinity" : "-Infinity");
    if (d == 0 && signbit(d))
        return eem_buf_puts(b, "-0.0"); /* "-0" would read back as the integer 0 */
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.*g", digits, d);
    return eem_buf_append(b, tmp, (size_t)n);
}

int eem_json_put_number(eem_buf *b, const void *data, eem_dtype t, size_t i)
{
    switch (t) {
    case EEM_DT_UINT8: return put_u64(b, ((const uint8_t *)data)[i], 0);
    case EEM_DT_INT8: return put_i64(b, ((const int8_t *)data)[i]);
    case EEM_DT_UINT16: return put_u64(b, ((const uint16_t *)data)[i], 0);
    case EEM_DT_INT16: return put_i64(b, ((const int16_t *)data)[i]);
    case EEM_DT_UINT32: return put_u64(b, ((const uint32_t *)data)[i], 0);
    case EEM_DT_INT32: return put_i64(b, ((const int32_t *)data)[i]);
    case EEM_DT_UINT64: return put_u64(b, ((const uint64_t *)data)[i], 0);
    case EEM_DT_INT64: return put_i64(b, ((const int64_t *)data)[i]);
    case EEM_DT_FLOAT32: return put_double(b, ((const float *)data)[i], 9);
    case EEM_DT_FLOAT64: return put_double(b, ((const double *)data)[i], 17);
    case EEM_DT_FLOAT16:
    case EEM_DT_BFLOAT16: return put_double(b, eem_dtype_get(data, t, i), 9);
    default: return -1;
    }
}

int eem_json_put_numbers(eem_buf *b, const void *data, eem_dtype t, size_t first, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i && eem_buf_append(b, ",", 1) != 0)
            return -1;
        if (eem_json_put_number(b, data, t, first + i) != 0)
            return -1;
    }
    return b->failed ? -1 : 0;
}

static int put_nested_level(eem_buf *b, const eem_tensor *t, int d, size_t *pos)
{
    if (eem_buf_append(b, "[", 1) != 0)
        return -1;
    int64_t n = t->dims[d];
    if (d == t->ndim - 1) {
        if (eem_json_put_numbers(b, t->data, t->type, *pos, (size_t)n) != 0)
            return -1;
        *pos += (size_t)n;
    } else {
        for (int64_t i = 0; i < n; i++) {
            if (i && eem_buf_append(b, ",", 1) != 0)
                return -1;
            if (put_nested_level(b, t, d + 1, pos) != 0)
                return -1;
        }
    }
    return eem_buf_append(b, "]", 1);
}

int eem_json_put_nested(eem_buf *b, const eem_tensor *t)
{
    size_t pos = 0;
    if (t->ndim == 0)
        return eem_json_put_number(b, t->data, t->type, 0);
    return put_nested_level(b, t, 0, &pos);
}

/* --------------------------------------------------------------- parse -- */

eem_status eem_json_parse(const char *text, size_t len, size_t *end_out, json_object **root,
                          eem_error *err)
{
    eem_status st = EEM_OK;
    *root = NULL;
    if (len > INT_MAX)
        return eem_error_set(err, EEM_ERR_PROTOCOL, "the answer is too large (%zu bytes)", len);
    json_tokener *tok = json_tokener_new_ex(EEM_JSON_MAX_DEPTH);
    if (!tok)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory parsing the answer");
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (!obj || jerr != json_tokener_success) {
        if (jerr == json_tokener_continue || jerr == json_tokener_success)
            st = eem_error_set(err, EEM_ERR_PROTOCOL,
                               "the answer is not valid JSON: it ends early (%zu bytes)", len);
        else
            st = eem_error_set(err, EEM_ERR_PROTOCOL,
                               "the answer is not valid JSON: %s at offset %zu",
                               json_tokener_error_desc(jerr), end);
        goto done;
    }
    if (end_out) {
        *end_out = end;
    } else {
        for (size_t p = end; p < len; p++) {
            char c = text[p];
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
                st = eem_error_set(err, EEM_ERR_PROTOCOL,
                                   "the answer is not valid JSON: unexpected data after the "
                                   "value at offset %zu",
                                   p);
                goto done;
            }
        }
    }
    *root = obj;
    obj = NULL;
done:
    json_object_put(obj);
    json_tokener_free(tok);
    return st;
}

void eem_json_list_keys(json_object *obj, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    json_object_object_foreach(obj, key, val)
    {
        (void)val;
        int n = snprintf(out + used, cap - used, "%s\"%s\"", used ? ", " : "", key);
        if (n < 0 || (size_t)n >= cap - used) {
            if (cap > 4)
                strcpy(out + cap - 4, "...");
            return;
        }
        used += (size_t)n;
    }
    if (!used)
        snprintf(out, cap, "none");
}

eem_status eem_json_server_error(json_object *root, eem_error *err)
{
    json_object *e = NULL, *m = NULL;
    if (!json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "error", &e))
        return EEM_OK;
    const char *text;
    if (json_object_is_type(e, json_type_string))
        text = json_object_get_string(e);
    else if (json_object_is_type(e, json_type_object) &&
             json_object_object_get_ex(e, "message", &m) &&
             json_object_is_type(m, json_type_string))
        text = json_object_get_string(m);
    else
        text = json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN);
    size_t n = strlen(text);
    return eem_error_set(err, EEM_ERR_PROTOCOL, "the server answered with an error: %.*s%s",
                         (int)(n > EEM_JSON_ERROR_MESSAGE_MAX ? EEM_JSON_ERROR_MESSAGE_MAX : n),
                         text, n > EEM_JSON_ERROR_MESSAGE_MAX ? "..." : "");
}

/* ----------------------------------------------------------- the walk -- */

static const char *type_name(json_object *v)
{
    return json_type_to_name(json_object_get_type(v));
}

/* The value of output k inside one row entry (a bare value or an object). */
static eem_status row_output(const eem_spec *spec, json_object *entry, int k, const char *at,
                             json_object **value, char *path, size_t cap, eem_error *err)
{
    const char *name = spec->outputs[k].name ? spec->outputs[k].name : "";
    json_object *v = NULL;
    if (spec->n_outputs == 1 && !json_object_is_type(entry, json_type_object)) {
        snprintf(path, cap, "%s", at);
        *value = entry;
        return EEM_OK;
    }
    if (!json_object_is_type(entry, json_type_object))
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "%s: expected an object with one entry per output (%d outputs), got %s",
                             at, spec->n_outputs, type_name(entry));
    if (json_object_object_get_ex(entry, name, &v)) {
        snprintf(path, cap, "%s.%s", at, name);
        *value = v;
        return EEM_OK;
    }
    if (spec->n_outputs == 1 && json_object_object_length(entry) == 1) {
        json_object_object_foreach(entry, key, val)
        {
            if (strcmp(key, "b64") == 0) { /* a lone {"b64": ...} is the value itself */
                snprintf(path, cap, "%s", at);
                *value = entry;
            } else {
                snprintf(path, cap, "%s.%s", at, key);
                *value = val;
            }
            return EEM_OK;
        }
    }
    char keys[EEM_JSON_KEYS_LIST_MAX];
    eem_json_list_keys(entry, keys, sizeof keys);
    return eem_error_set(err, EEM_ERR_PROTOCOL, "%s: no output named \"%s\" (keys present: %s)",
                         at, name, keys);
}

/* Output k of a columnar answer {name: [per instance...]}. */
static eem_status column_output(const eem_spec *spec, json_object *obj, const char *list_name,
                                int k, json_object **value, char *path, size_t cap,
                                eem_error *err)
{
    const char *name = spec->outputs[k].name ? spec->outputs[k].name : "";
    if (json_object_object_get_ex(obj, name, value)) {
        snprintf(path, cap, "%s.%s", list_name, name);
        return EEM_OK;
    }
    if (spec->n_outputs == 1 && json_object_object_length(obj) == 1) {
        json_object_object_foreach(obj, key, val)
        {
            snprintf(path, cap, "%s.%s", list_name, key);
            *value = val;
            return EEM_OK;
        }
    }
    char keys[EEM_JSON_KEYS_LIST_MAX];
    eem_json_list_keys(obj, keys, sizeof keys);
    return eem_error_set(err, EEM_ERR_PROTOCOL, "%s: no output named \"%s\" (keys present: %s)",
                         list_name, name, keys);
}

eem_status eem_json_walk_answer(const eem_payload_context *ctx, json_object *root,
                                int n_instances, size_t max_elements,
                                eem_json_value_decoder decode, void *user, eem_tensor **out,
                                eem_error *err)
{
    const eem_spec *spec = ctx->spec;
    int n_out = spec->n_outputs;
    eem_payload_outputs_clear(ctx, n_instances, out);
    eem_status st = EEM_OK;
    char path[EEM_JSON_PATH_MAX], at[EEM_JSON_PATH_MAX];
    if (n_out < 1)
        return eem_error_set(err, EEM_ERR_INVALID, "no model outputs are declared");
    if (!json_object_is_type(root, json_type_object))
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "the answer is a JSON %s; expected an object with \"predictions\" "
                             "or \"outputs\"",
                             type_name(root));
    if ((st = eem_json_server_error(root, err)) != EEM_OK)
        return st;
    const char *list_name = "predictions";
    json_object *list = NULL;
    if (!json_object_object_get_ex(root, list_name, &list)) {
        list_name = "outputs";
        if (!json_object_object_get_ex(root, list_name, &list)) {
            char keys[EEM_JSON_KEYS_LIST_MAX];
            eem_json_list_keys(root, keys, sizeof keys);
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "the answer has no \"predictions\" or \"outputs\" (keys present: "
                                 "%s)",
                                 keys);
        }
    }
    if (json_object_is_type(list, json_type_array)) {
        /* row: one entry per instance */
        size_t count = json_object_array_length(list);
        int batchless = 0;
        if (count != (size_t)n_instances) {
            if (n_instances == 1 && n_out == 1)
                batchless = 1; /* a single instance answered without its batch level */
            else
                return eem_error_set(err, EEM_ERR_PROTOCOL,
                                     "%s has %zu entries but %d instances were sent", list_name,
                                     count, n_instances);
        }
        for (int i = 0; st == EEM_OK && i < n_instances; i++) {
            json_object *entry = batchless ? list : json_object_array_get_idx(list, (size_t)i);
            if (batchless)
                snprintf(at, sizeof at, "%s", list_name);
            else
                snprintf(at, sizeof at, "%s[%d]", list_name, i);
            for (int k = 0; st == EEM_OK && k < n_out; k++) {
                json_object *v = NULL;
                st = row_output(spec, entry, k, at, &v, path, sizeof path, err);
                if (st == EEM_OK)
                    st = decode(ctx, v, path, k, max_elements, &out[(size_t)i * n_out + k], user,
                                err);
            }
        }
    } else if (json_object_is_type(list, json_type_object)) {
        /* columnar: one list per output */
        for (int k = 0; st == EEM_OK && k < n_out; k++) {
            json_object *col = NULL;
            char cpath[EEM_JSON_PATH_MAX - 16];
            st = column_output(spec, list, list_name, k, &col, cpath, sizeof cpath, err);
            if (st != EEM_OK)
                break;
            int batchless = 0;
            if (!json_object_is_type(col, json_type_array) ||
                json_object_array_length(col) != (size_t)n_instances) {
                if (n_instances == 1) {
                    batchless = 1;
                } else {
                    st = eem_error_set(err, EEM_ERR_PROTOCOL,
                                       "%s: expected a list with one entry per instance (%d), got "
                                       "%s%s",
                                       cpath, n_instances, type_name(col),
                                       json_object_is_type(col, json_type_array) ? " of another length" : "");
                    break;
                }
            }
            for (int i = 0; st == EEM_OK && i < n_instances; i++) {
                json_object *v = batchless ? col : json_object_array_get_idx(col, (size_t)i);
                if (batchless)
                    snprintf(path, sizeof path, "%s", cpath);
                else
                    snprintf(path, sizeof path, "%s[%d]", cpath, i);
                st = decode(ctx, v, path, k, max_elements, &out[(size_t)i * n_out + k], user, err);
            }
        }
    } else {
        st = eem_error_set(err, EEM_ERR_PROTOCOL,
                           "%s: expected a list (one entry per instance) or an object (one list "
                           "per output), got %s",
                           list_name, type_name(list));
    }
    if (st != EEM_OK)
        eem_payload_outputs_free(ctx, n_instances, out);
    return st;
}

eem_status eem_json_decode_number_answer(const eem_payload_context *ctx, const char *body,
                                         size_t len, int n_instances, size_t max_elements,
                                         int channels_first, eem_tensor **out, eem_error *err)
{
    json_object *root = NULL;
    eem_payload_outputs_clear(ctx, n_instances, out);
    eem_status st = eem_json_parse(body, len, NULL, &root, err);
    if (st == EEM_OK)
        st = eem_json_walk_answer(ctx, root, n_instances, max_elements, eem_json_decode_numbers,
                                  &channels_first, out, err);
    json_object_put(root);
    return st;
}

/* ------------------------------------------------------ nested numbers -- */

eem_dtype eem_json_answer_type(eem_dtype t)
{
    if (t == EEM_DT_FLOAT16 || t == EEM_DT_BFLOAT16 || t == EEM_DT_NONE)
        return EEM_DT_FLOAT32;
    return t;
}

static int is_integer_text(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static void store_i64(int64_t x, eem_dtype t, void *dst, size_t i)
{
    uint8_t *d = (uint8_t *)dst + i * eem_dtype_size(t);
    eem_dtype_convert(&x, EEM_DT_INT64, d, t, 1);
}

static void store_u64(uint64_t x, eem_dtype t, void *dst, size_t i)
{
    uint8_t *d = (uint8_t *)dst + i * eem_dtype_size(t);
    eem_dtype_convert(&x, EEM_DT_UINT64, d, t, 1);
}

static void store_f64(double x, eem_dtype t, void *dst, size_t i)
{
    if (t == EEM_DT_FLOAT32) {
        ((float *)dst)[i] = (float)x;
        return;
    }
    if (t == EEM_DT_FLOAT64) {
        ((double *)dst)[i] = x;
        return;
    }
    uint8_t *d = (uint8_t *)dst + i * eem_dtype_size(t);
    eem_dtype_convert(&x, EEM_DT_FLOAT64, d, t, 1);
}

static eem_status store_text_number(const char *s, const char *path, eem_dtype t, void *dst,
                                    size_t i, eem_error *err)
{
    char *end = NULL;
    errno = 0;
    if (is_integer_text(s)) {
        if (*s == '-') {
            long long x = strtoll(s, &end, 10);
            if (!errno && end && !*end) {
                store_i64(x, t, dst, i);
                return EEM_OK;
            }
        } else {
            unsigned long long x = strtoull(s, &end, 10);
            if (!errno && end && !*end) {
                store_u64(x, t, dst, i);
                return EEM_OK;
            }
        }
        errno = 0;
    }
    double d = *s && *s != ' ' ? strtod(s, &end) : 0.0;
    if (*s && *s != ' ' && end && !*end) {
        store_f64(d, t, dst, i);
        return EEM_OK;
    }
    return eem_error_set(err, EEM_ERR_PROTOCOL, "%s: expected a number, got the string \"%.*s%s\"",
                         path, EEM_JSON_SHOW_MAX, s, strlen(s) > EEM_JSON_SHOW_MAX ? "..." : "");
}

eem_status eem_json_store_number(json_object *v, const char *path, eem_dtype t, void *dst,
                                 size_t i, eem_error *err)
{
    switch (json_object_get_type(v)) {
    case json_type_int: {
        int64_t x = json_object_get_int64(v);
        if (x == INT64_MAX) {
            uint64_t u = json_object_get_uint64(v);
            if (u > (uint64_t)INT64_MAX) {
                store_u64(u, t, dst, i);
                return EEM_OK;
            }
        }
        store_i64(x, t, dst, i);
        return EEM_OK;
    }
    case json_type_double:
        store_f64(json_object_get_double(v), t, dst, i);
        return EEM_OK;
    case json_type_boolean:
        store_i64(json_object_get_boolean(v) ? 1 : 0, t, dst, i);
        return EEM_OK;
    case json_type_string:
        return store_text_number(json_object_get_string(v), path, t, dst, i, err);
    default:
        return eem_error_set(err, EEM_ERR_PROTOCOL, "%s: expected a number, got %s", path,
                             type_name(v));
    }
}

/* path + "[i][j]..." for the first depth indices, into buf. */
static void nested_path(char *buf, size_t cap, const char *path, const size_t *idx, int depth)
{
    size_t n = (size_t)snprintf(buf, cap, "%s", path);
    for (int d = 0; d < depth && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "[%zu]", idx[d]);
}

typedef struct nested_reader {
    const char *path;
    eem_dtype type;
    int ndim;
    const int64_t *dims;
    void *data;
    size_t pos;
    size_t idx[EEM_TENSOR_MAX_DIMS];
} nested_reader;

static eem_status read_level(nested_reader *r, json_object *v, int d, eem_error *err)
{
    char where[EEM_JSON_PATH_MAX];
    if (d == r->ndim) {
        if (json_object_is_type(v, json_type_array) || json_object_is_type(v, json_type_object) ||
            json_object_is_type(v, json_type_null)) {
            nested_path(where, sizeof where, r->path, r->idx, d);
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "%s: expected a number, got %s (the lists are not equally deep)",
                                 where, type_name(v));
        }
        nested_path(where, sizeof where, r->path, r->idx, d);
        eem_status st = json_object_is_type(v, json_type_string)
                            ? eem_json_store_number(v, where, r->type, r->data, r->pos, err)
                            : eem_json_store_number(v, r->path, r->type, r->data, r->pos, err);
        r->pos++;
        return st;
    }
    if (!json_object_is_type(v, json_type_array) ||
        json_object_array_length(v) != (size_t)r->dims[d]) {
        nested_path(where, sizeof where, r->path, r->idx, d);
        if (!json_object_is_type(v, json_type_array))
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "%s: expected a list of %lld entries, got %s", where,
                                 (long long)r->dims[d], type_name(v));
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "%s: %zu entries, expected %lld (ragged nested list: every list at "
                             "one depth must have the same length)",
                             where, json_object_array_length(v), (long long)r->dims[d]);
    }
    for (size_t i = 0; i < (size_t)r->dims[d]; i++) {
        r->idx[d] = i;
        eem_status st = read_level(r, json_object_array_get_idx(v, i), d + 1, err);
        if (st != EEM_OK)
            return st;
    }
    return EEM_OK;
}

eem_status eem_json_read_nested(json_object *v, const char *path, eem_dtype t,
                                size_t max_elements, eem_tensor **out, eem_error *err)
{
    *out = NULL;
    t = eem_json_answer_type(t);
    int64_t dims[EEM_TENSOR_MAX_DIMS];
    int nd = 0;
    size_t count = 1;
    json_object *w = v;
    while (json_object_is_type(w, json_type_array)) {
        if (nd == EEM_TENSOR_MAX_DIMS)
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "%s: lists nested more than %d deep; expected a tensor of at most "
                                 "%d dimensions",
                                 path, EEM_TENSOR_MAX_DIMS, EEM_TENSOR_MAX_DIMS);
        size_t n = json_object_array_length(w);
        dims[nd++] = (int64_t)n;
        if (n == 0) {
            count = 0;
            break;
        }
        if (count > SIZE_MAX / n)
            count = SIZE_MAX;
        else
            count *= n;
        w = json_object_array_get_idx(w, 0);
    }
    if (count == 0)
        return eem_error_set(err, EEM_ERR_PROTOCOL, "%s: an empty list; expected a tensor", path);
    if (max_elements > 0 && count > max_elements)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "%s: a tensor of %zu elements, more than the %zu element(s) expected",
                             path, count, max_elements);
    eem_tensor *tensor = eem_tensor_new(t, nd, dims);
    if (!tensor)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory decoding %s", path);
    nested_reader r = {.path = path, .type = t, .ndim = nd, .dims = dims, .data = tensor->data};
    eem_status st = read_level(&r, v, 0, err);
    if (st != EEM_OK) {
        eem_tensor_free(tensor);
        return st;
    }
    *out = tensor;
    return EEM_OK;
}

eem_tensor *eem_tensor_channels_last(const eem_tensor *t)
{
    int64_t d[EEM_TENSOR_MAX_DIMS];
    int nd = t->ndim;
    memcpy(d, t->dims, sizeof d);
    if (nd == 4 && d[0] == 1) {
        memmove(d, d + 1, 3 * sizeof *d);
        nd = 3;
    }
    if (nd != 3) {
        eem_tensor *c = eem_tensor_new(t->type, t->ndim, t->dims);
        if (c)
            memcpy(c->data, t->data, eem_tensor_nbytes(t));
        return c;
    }
    int64_t C = d[0], H = d[1], W = d[2];
    int64_t nd3[3] = {H, W, C};
    eem_tensor *o = eem_tensor_new(t->type, 3, nd3);
    if (!o)
        return NULL;
    size_t es = eem_dtype_size(t->type);
    const uint8_t *src = t->data;
    uint8_t *dst = o->data;
    for (int64_t c = 0; c < C; c++)
        for (int64_t p = 0; p < H * W; p++)
            memcpy(dst + ((size_t)p * (size_t)C + (size_t)c) * es,
                   src + ((size_t)c * (size_t)(H * W) + (size_t)p) * es, es);
    return o;
}

eem_status eem_json_decode_numbers(const eem_payload_context *ctx, json_object *v,
                                   const char *path, int output, size_t max_elements,
                                   eem_tensor **out, void *user, eem_error *err)
{
    int channels_first = user ? *(const int *)user : 0;
    eem_status st = eem_json_read_nested(v, path, ctx->spec->outputs[output].type, max_elements,
                                         out, err);
    if (st != EEM_OK || !channels_first)
        return st;
    eem_tensor *t = eem_tensor_channels_last(*out);
    eem_tensor_free(*out);
    *out = t;
    if (!t)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory decoding %s", path);
    return EEM_OK;
}

/* ------------------------------------------- TF Serving style envelope -- */

static int keyless(const eem_payload_batch *b)
{
    return b->ops->format == EEM_PAYLOAD_ND_ARRAYS;
}

int eem_json_envelope_head(const eem_payload_batch *b, int n, eem_buf *out)
{
    (void)n;
    eem_buf_puts(out, "{");
    if (b->ctx->signature_name) {
        eem_buf_puts(out, "\"signature_name\":");
        eem_buf_json_string(out, b->ctx->signature_name);
        eem_buf_puts(out, ",");
    }
    if (!b->ctx->columnar)
        return eem_buf_puts(out, "\"instances\":[");
    return eem_buf_puts(out, keyless(b) ? "\"inputs\":[" : "\"inputs\":{");
}

int eem_json_envelope_column_head(const eem_payload_batch *b, int k, int n, eem_buf *out)
{
    (void)n;
    if (!b->ctx->columnar || keyless(b))
        return 0;
    const char *key = k < b->n_info ? b->info[k].key : "";
    eem_buf_json_string(out, key);
    return eem_buf_puts(out, ":[");
}

int eem_json_envelope_column_tail(const eem_payload_batch *b, int k, int n, eem_buf *out)
{
    (void)k;
    (void)n;
    if (!b->ctx->columnar || keyless(b))
        return 0;
    return eem_buf_puts(out, "]");
}

int eem_json_envelope_tail(const eem_payload_batch *b, int n, eem_buf *out)
{
    (void)n;
    if (b->ctx->columnar && !keyless(b))
        return eem_buf_puts(out, "}}");
    return eem_buf_puts(out, "]}");
}

int eem_payload_json_can_send(const eem_payload_context *ctx, eem_dtype t)
{
    (void)ctx;
    return t != EEM_DT_FLOAT16 && t != EEM_DT_BFLOAT16 && eem_dtype_size(t) > 0;
}
