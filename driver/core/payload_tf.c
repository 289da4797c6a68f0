/* payload_tf.c — the SERIALIZED_TF_TENSORS payload format (see payload.h).
 *
 * Request:  {"instances":[{"key":"<std base64 of a serialized TensorProto>",...},...]}
 * Answer:   {"predictions":[...]} (or "outputs"), one entry per instance: a base64
 *           string (one output) or an object {output_name: base64, ...}.
 *           {"error": "..."} / {"error": {"message": "..."}} is reported as is. */
#include "payload.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EEM_TF_JSON_MAX_DEPTH 64     /* deeper answers are refused */
#define EEM_TF_ERROR_MESSAGE_MAX 300 /* server error text kept in our message */
#define EEM_TF_KEYS_LIST_MAX 200     /* listing of keys present, in messages */
#define EEM_TF_LONG_STRING 64        /* strings this long bypass json-c (see below) */

static eem_status tf_begin_body(const eem_spec *spec, eem_buf *b, eem_error *err)
{
    if (eem_buf_puts(b, "{\"instances\":[") != 0)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    return EEM_OK;
}

static eem_status tf_end_body(const eem_spec *spec, eem_buf *b, eem_error *err)
{
    if (eem_buf_puts(b, "]}") != 0)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    return EEM_OK;
}

/* Append the base64 of (header + tensor data) without copying the data: the
 * header plus the first few data bytes fill whole 3-byte groups, so the rest
 * of the data can be encoded straight from the tensor. */
static int append_tensor_base64(eem_buf *b, const uint8_t *hdr, size_t hlen, const eem_tensor *t)
{
    const uint8_t *data = t->data;
    size_t nbytes = eem_tensor_nbytes(t);
    uint8_t head[EEM_TENSORPROTO_HEADER_MAX + 2];
    size_t k = (3 - hlen % 3) % 3;
    if (k > nbytes)
        k = nbytes;
    memcpy(head, hdr, hlen);
    memcpy(head + hlen, data, k);
    if (eem_buf_base64(b, head, hlen + k) != 0)
        return -1;
    return eem_buf_base64(b, data + k, nbytes - k);
}

static eem_status tf_encode_instance(const eem_spec *spec, const eem_instance *inst, eem_buf *b,
                                     eem_error *err)
{
    /* Check every input and reserve the whole instance once. */
    size_t need = 2;
    for (int i = 0; i < inst->n_inputs; i++) {
        uint8_t hdr[EEM_TENSORPROTO_HEADER_MAX];
        size_t hlen = eem_tensorproto_header(inst->inputs[i], hdr);
        if (hlen == 0)
            return eem_error_set(err, EEM_ERR_INVALID, "input \"%s\" is not a valid tensor",
                                 inst->keys[i]);
        size_t serialized = hlen + eem_tensor_nbytes(inst->inputs[i]);
        need += strlen(inst->keys[i]) * 6 + 6 + (serialized / 3 + 2) * 4;
    }
    if (eem_buf_reserve(b, need) != 0)
        return eem_error_set(err, EEM_ERR_NOMEM,
                             "out of memory building a request body of %zu bytes", b->len + need);
    eem_buf_puts(b, "{");
    for (int i = 0; i < inst->n_inputs; i++) {
        uint8_t hdr[EEM_TENSORPROTO_HEADER_MAX];
        size_t hlen = eem_tensorproto_header(inst->inputs[i], hdr);
        if (i)
            eem_buf_puts(b, ",");
        eem_buf_json_string(b, inst->keys[i]);
        eem_buf_puts(b, ":\"");
        append_tensor_base64(b, hdr, hlen, inst->inputs[i]);
        eem_buf_puts(b, "\"");
    }
    if (eem_buf_puts(b, "}") != 0)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    return EEM_OK;
}

/* ------------------------------------------------------------------ decode */

/* "a", "b", "c" of an object, for messages. */
static void list_keys(json_object *obj, char *out, size_t cap)
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

/* json-c copies every string byte by byte, which would dominate decoding of
 * multi-megabyte base64 strings.  So before parsing, every long string without
 * escapes is cut out of the text and replaced by a short marker string: a NUL
 * byte followed by its index in a span table (written "\u0000<index>").  A real
 * base64 string never starts with NUL; if the answer contains any string that
 * does, the shortcut is not used at all. */
typedef struct text_span {
    size_t start, len;
} text_span;

typedef struct shrunk_json {
    eem_buf text;     /* the JSON with markers */
    text_span *spans; /* cut-out strings, in document order */
    size_t n_spans, cap_spans;
    const char *body;
} shrunk_json;

static void shrunk_json_free(shrunk_json *sj)
{
    eem_buf_free(&sj->text);
    free(sj->spans);
    sj->spans = NULL;
    sj->n_spans = sj->cap_spans = 0;
}

/* 0 on success; -1 when the shortcut does not apply (caller parses body as is). */
static int shrink_long_strings(const char *body, size_t len, shrunk_json *sj)
{
    memset(sj, 0, sizeof *sj);
    sj->body = body;
    size_t i = 0;
    while (i < len) {
        const char *q = memchr(body + i, '"', len - i);
        if (!q) {
            eem_buf_append(&sj->text, body + i, len - i);
            break;
        }
        size_t open = (size_t)(q - body);
        eem_buf_append(&sj->text, body + i, open + 1 - i);
        size_t start = open + 1;
        const char *close = memchr(body + start, '"', len - start);
        if (!close) { /* unterminated: let json-c report it */
            eem_buf_append(&sj->text, body + start, len - start);
            break;
        }
        size_t end = (size_t)(close - body);
        int escaped = memchr(body + start, '\\', end - start) != NULL;
        if (escaped) { /* find the real end, honouring escapes */
            size_t j = start;
            while (j < len && body[j] != '"')
                j += body[j] == '\\' ? 2 : 1;
            end = j < len ? j : len;
        }
        size_t slen = end - start;
        size_t after = end + 1; /* keys (followed by ':') are always kept */
        while (after < len && (body[after] == ' ' || body[after] == '\t' || body[after] == '\r' ||
                               body[after] == '\n'))
            after++;
        int is_key = after < len && body[after] == ':';
        if ((slen > 0 && body[start] == '\0') ||
            (slen >= 6 && memcmp(body + start, "\\u0000", 6) == 0)) {
            shrunk_json_free(sj);
            return -1;
        }
        if (!escaped && !is_key && slen >= EEM_TF_LONG_STRING) {
            if (sj->n_spans == sj->cap_spans) {
                size_t cap = sj->cap_spans ? sj->cap_spans * 2 : 16;
                text_span *ns = realloc(sj->spans, cap * sizeof *ns);
                if (!ns) {
                    shrunk_json_free(sj);
                    return -1;
                }
                sj->spans = ns;
                sj->cap_spans = cap;
            }
            sj->spans[sj->n_spans] = (text_span){start, slen};
            eem_buf_printf(&sj->text, "\\u0000%zu", sj->n_spans);
            sj->n_spans++;
        } else {
            eem_buf_append(&sj->text, body + start, slen);
        }
        if (end < len)
            eem_buf_append(&sj->text, "\"", 1);
        i = end + 1;
    }
    if (sj->text.failed || !sj->text.data) {
        shrunk_json_free(sj);
        return -1;
    }
    return 0;
}

/* The text of a JSON string value: the original span when it is a marker. */
static void string_value(const shrunk_json *sj, json_object *v, const char **text, size_t *len)
{
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (sj && n >= 2 && s[0] == '\0') {
        char *endp = NULL;
        unsigned long long k = strtoull(s + 1, &endp, 10);
        if (endp == s + n && k < sj->n_spans) {
            *text = sj->body + sj->spans[k].start;
            *len = sj->spans[k].len;
            return;
        }
    }
    *text = s;
    *len = n;
}

/* EEM_ERR_PROTOCOL with the server's error text (trimmed) when the answer has
 * an "error" key, else EEM_OK. */
static eem_status report_server_error(const shrunk_json *sj, json_object *root, eem_error *err)
{
    json_object *e = NULL;
    if (!json_object_object_get_ex(root, "error", &e))
        return EEM_OK;
    const char *text = NULL;
    size_t n = 0;
    json_object *m = NULL;
    if (json_object_is_type(e, json_type_string))
        string_value(sj, e, &text, &n);
    else if (json_object_is_type(e, json_type_object) &&
             json_object_object_get_ex(e, "message", &m) &&
             json_object_is_type(m, json_type_string))
        string_value(sj, m, &text, &n);
    else {
        text = json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN);
        n = strlen(text);
    }
    return eem_error_set(err, EEM_ERR_PROTOCOL, "the server answered with an error: %.*s%s",
                         (int)(n > EEM_TF_ERROR_MESSAGE_MAX ? EEM_TF_ERROR_MESSAGE_MAX : n), text,
                         n > EEM_TF_ERROR_MESSAGE_MAX ? "..." : "");
}

/* Decode one base64 TensorProto string found at path. Accepts a JSON string or
 * TF Serving's {"b64": "..."} wrapper. */
static eem_status decode_tensor_value(const shrunk_json *sj, json_object *v, const char *path,
                                      size_t max_elements, eem_tensor **out, eem_error *err)
{
    json_object *inner = NULL;
    if (json_object_is_type(v, json_type_object) && json_object_object_length(v) == 1 &&
        json_object_object_get_ex(v, "b64", &inner))
        v = inner;
    if (!json_object_is_type(v, json_type_string))
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "%s: expected a base64 string (serialized TensorProto), got %s", path,
                             json_type_to_name(json_object_get_type(v)));
    uint8_t *bytes = NULL;
    size_t nbytes = 0;
    const char *text;
    size_t text_len;
    string_value(sj, v, &text, &text_len);
    eem_status st = eem_base64_decode(text, text_len, &bytes, &nbytes, err);
    if (st == EEM_OK)
        st = eem_tensorproto_decode(bytes, nbytes, max_elements, out, err);
    free(bytes);
    if (st != EEM_OK)
        eem_error_prefix(err, "%s", path);
    return st;
}

/* Output k of one predictions entry. */
static eem_status decode_entry_output(const eem_spec *spec, const shrunk_json *sj,
                                      json_object *entry, const char *list_name, int i, int k,
                                      size_t max_elements, eem_tensor **out, eem_error *err)
{
    char path[256];
    const char *name = spec->outputs[k].name ? spec->outputs[k].name : "";
    if (spec->n_outputs == 1 && !json_object_is_type(entry, json_type_object)) {
        snprintf(path, sizeof path, "%s[%d]", list_name, i);
        return decode_tensor_value(sj, entry, path, max_elements, out, err);
    }
    if (!json_object_is_type(entry, json_type_object))
        return eem_error_set(
            err, EEM_ERR_PROTOCOL,
            "%s[%d]: expected an object with one entry per output (%d outputs), got %s", list_name,
            i, spec->n_outputs, json_type_to_name(json_object_get_type(entry)));
    json_object *v = NULL;
    if (json_object_object_get_ex(entry, name, &v)) {
        snprintf(path, sizeof path, "%s[%d].%s", list_name, i, name);
        return decode_tensor_value(sj, v, path, max_elements, out, err);
    }
    if (spec->n_outputs == 1 && json_object_object_length(entry) == 1) {
        json_object_object_foreach(entry, key, val)
        {
            /* A lone {"b64": ...} wrapper is the value itself, not a key. */
            if (strcmp(key, "b64") == 0) {
                snprintf(path, sizeof path, "%s[%d]", list_name, i);
                return decode_tensor_value(sj, entry, path, max_elements, out, err);
            }
            snprintf(path, sizeof path, "%s[%d].%s", list_name, i, key);
            return decode_tensor_value(sj, val, path, max_elements, out, err);
        }
    }
    char keys[EEM_TF_KEYS_LIST_MAX];
    list_keys(entry, keys, sizeof keys);
    return eem_error_set(err, EEM_ERR_PROTOCOL, "%s[%d]: no output named \"%s\" (keys present: %s)",
                         list_name, i, name, keys);
}

/* Parse text as one JSON value (depth-limited, nothing but whitespace after it). */
static eem_status parse_json(const char *text, size_t len, json_object **root, eem_error *err)
{
    eem_status st = EEM_OK;
    *root = NULL;
    json_tokener *tok = json_tokener_new_ex(EEM_TF_JSON_MAX_DEPTH);
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
    for (size_t p = end; p < len; p++) {
        char c = text[p];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            st = eem_error_set(
                err, EEM_ERR_PROTOCOL,
                "the answer is not valid JSON: unexpected data after the value at offset %zu", p);
            goto done;
        }
    }
    *root = obj;
    obj = NULL;
done:
    json_object_put(obj);
    json_tokener_free(tok);
    return st;
}

static eem_status tf_decode_response(const eem_spec *spec, const char *body, size_t len,
                                     int n_instances, size_t max_elements, eem_tensor **out,
                                     eem_error *err)
{
    eem_status st = EEM_OK;
    json_object *root = NULL;
    shrunk_json sj = {0};
    int use_sj = 0;
    int n_outputs = spec->n_outputs;
    size_t n_slots =
        (size_t)(n_instances > 0 ? n_instances : 0) * (size_t)(n_outputs > 0 ? n_outputs : 0);
    for (size_t s = 0; s < n_slots; s++)
        out[s] = NULL;

    if (n_outputs < 1) {
        st = eem_error_set(err, EEM_ERR_INVALID, "no model outputs are declared");
        goto done;
    }
    if (len > INT_MAX) {
        st = eem_error_set(err, EEM_ERR_PROTOCOL, "the answer is too large (%zu bytes)", len);
        goto done;
    }
    use_sj = shrink_long_strings(body, len, &sj) == 0;
    if (use_sj) {
        st = parse_json(sj.text.data, sj.text.len, &root, err);
        if (st != EEM_OK) { /* report offsets in the answer as received */
            use_sj = 0;
            st = parse_json(body, len, &root, err);
        }
    } else {
        st = parse_json(body, len, &root, err);
    }
    if (st != EEM_OK)
        goto done;
    if (!json_object_is_type(root, json_type_object)) {
        st = eem_error_set(err, EEM_ERR_PROTOCOL,
                           "the answer is a JSON %s; expected an object with \"predictions\"",
                           json_type_to_name(json_object_get_type(root)));
        goto done;
    }
    if ((st = report_server_error(use_sj ? &sj : NULL, root, err)) != EEM_OK)
        goto done;

    const char *list_name = "predictions";
    json_object *list = NULL;
    if (!json_object_object_get_ex(root, list_name, &list)) {
        list_name = "outputs";
        if (!json_object_object_get_ex(root, list_name, &list)) {
            char keys[EEM_TF_KEYS_LIST_MAX];
            list_keys(root, keys, sizeof keys);
            st = eem_error_set(err, EEM_ERR_PROTOCOL,
                               "the answer has no \"predictions\" (keys present: %s)", keys);
            goto done;
        }
    }
    if (!json_object_is_type(list, json_type_array)) {
        st = eem_error_set(err, EEM_ERR_PROTOCOL, "%s: expected a list, got %s", list_name,
                           json_type_to_name(json_object_get_type(list)));
        goto done;
    }
    size_t count = json_object_array_length(list);
    if (count != (size_t)n_instances) {
        st = eem_error_set(err, EEM_ERR_PROTOCOL, "%s has %zu entries but %d instances were sent",
                           list_name, count, n_instances);
        goto done;
    }
    for (int i = 0; i < n_instances; i++) {
        json_object *entry = json_object_array_get_idx(list, (size_t)i);
        for (int k = 0; k < n_outputs; k++) {
            st =
                decode_entry_output(spec, use_sj ? &sj : NULL, entry, list_name, i, k, max_elements,
                                    &out[(size_t)i * (size_t)n_outputs + (size_t)k], err);
            if (st != EEM_OK)
                goto done;
        }
    }
done:
    if (st != EEM_OK) {
        for (size_t s = 0; s < n_slots; s++) {
            eem_tensor_free(out[s]);
            out[s] = NULL;
        }
    }
    json_object_put(root);
    shrunk_json_free(&sj);
    return st;
}

const eem_payload_ops eem_payload_serialized_tf_tensors = {
    .format = EEM_PAYLOAD_SERIALIZED_TF_TENSORS,
    .name = "SERIALIZED_TF_TENSORS",
    .begin_body = tf_begin_body,
    .encode_instance = tf_encode_instance,
    .end_body = tf_end_body,
    .decode_response = tf_decode_response,
};
