/* payload_tf.c — the SERIALIZED_TF_TENSORS payload format (see payload.h).
 *
 * Request:  {"instances":[{"key":"<std base64 of a serialized TensorProto>",...},...]}
 *           (columnar: {"inputs":{"key":["<b64>",...],...}}), TF Serving style
 *           envelope with optional signature_name (payload_json.c).
 * Answer:   every shape eem_json_walk_answer accepts ("predictions" or
 *           "outputs", row or columnar); each value a base64 string or TF
 *           Serving's {"b64": "..."} wrapper holding a serialized TensorProto.
 *           {"error": "..."} / {"error": {"message": "..."}} is reported as is. */
#include "payload.h"
#include "payload_json.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EEM_TF_ERROR_MESSAGE_MAX 300 /* server error text kept in our message */
#define EEM_TF_LONG_STRING 64        /* strings this long bypass json-c (see below) */

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

static eem_status tf_encode_instance(const eem_payload_context *ctx, const eem_instance *inst,
                                     eem_payload_fragment *frag, eem_error *err)
{
    eem_buf *b = &frag->data;
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
    if (!ctx->columnar)
        eem_buf_puts(b, "{");
    for (int i = 0; i < inst->n_inputs; i++) {
        uint8_t hdr[EEM_TENSORPROTO_HEADER_MAX];
        size_t hlen = eem_tensorproto_header(inst->inputs[i], hdr);
        if (!ctx->columnar) {
            if (i)
                eem_buf_puts(b, ",");
            eem_buf_json_string(b, inst->keys[i]);
            eem_buf_puts(b, ":");
        }
        eem_buf_puts(b, "\"");
        append_tensor_base64(b, hdr, hlen, inst->inputs[i]);
        eem_buf_puts(b, "\"");
        if (ctx->columnar && eem_payload_fragment_end_part(frag) != 0)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    }
    if (!ctx->columnar) {
        eem_buf_puts(b, "}");
        if (eem_payload_fragment_end_part(frag) != 0)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    }
    if (b->failed)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory building a request body");
    return EEM_OK;
}

/* ------------------------------------------------------------------ decode */

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

/* What the value decoder of one answer shares: the shrunk JSON (NULL when not
 * used) and one buffer every base64 value is decoded into. */
typedef struct tf_answer {
    const shrunk_json *sj;
    eem_buf bytes;
} tf_answer;

/* Decode one base64 TensorProto string found at path. Accepts a JSON string or
 * TF Serving's {"b64": "..."} wrapper. */
static eem_status decode_tensor_value(tf_answer *a, json_object *v, const char *path,
                                      size_t max_elements, eem_tensor **out, eem_error *err)
{
    const shrunk_json *sj = a->sj;
    json_object *inner = NULL;
    if (json_object_is_type(v, json_type_object) && json_object_object_length(v) == 1 &&
        json_object_object_get_ex(v, "b64", &inner))
        v = inner;
    if (!json_object_is_type(v, json_type_string))
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "%s: expected a base64 string (serialized TensorProto), got %s", path,
                             json_type_to_name(json_object_get_type(v)));
    const char *text;
    size_t text_len;
    string_value(sj, v, &text, &text_len);
    eem_status st = eem_base64_decode_buf(text, text_len, &a->bytes, err);
    if (st == EEM_OK)
        st = eem_tensorproto_decode((const uint8_t *)a->bytes.data, a->bytes.len, max_elements,
                                    out, err);
    if (st != EEM_OK)
        eem_error_prefix(err, "%s", path);
    return st;
}

/* eem_json_value_decoder for base64 TensorProto values (user: the tf_answer). */
static eem_status tf_decode_value(const eem_payload_context *ctx, json_object *v, const char *path,
                                  int output, size_t max_elements, eem_tensor **out, void *user,
                                  eem_error *err)
{
    (void)ctx;
    (void)output;
    return decode_tensor_value(user, v, path, max_elements, out, err);
}

static eem_status tf_decode_response(const eem_payload_context *ctx, const char *body,
                                     size_t len, int n_instances, size_t max_elements,
                                     eem_tensor **out, eem_error *err)
{
    eem_status st = EEM_OK;
    json_object *root = NULL;
    shrunk_json sj = {0};
    eem_payload_outputs_clear(ctx, n_instances, out);
    if (len > INT_MAX)
        return eem_error_set(err, EEM_ERR_PROTOCOL, "the answer is too large (%zu bytes)", len);
    int use_sj = shrink_long_strings(body, len, &sj) == 0;
    if (use_sj) {
        st = eem_json_parse(sj.text.data, sj.text.len, NULL, &root, err);
        if (st != EEM_OK) { /* report offsets in the answer as received */
            use_sj = 0;
            st = eem_json_parse(body, len, NULL, &root, err);
        }
    } else {
        st = eem_json_parse(body, len, NULL, &root, err);
    }
    if (st == EEM_OK && json_object_is_type(root, json_type_object))
        st = report_server_error(use_sj ? &sj : NULL, root, err);
    tf_answer a = {use_sj ? &sj : NULL, {0}};
    if (st == EEM_OK)
        st = eem_json_walk_answer(ctx, root, n_instances, max_elements, tf_decode_value, &a, out,
                                  err);
    eem_buf_free(&a.bytes);
    json_object_put(root);
    shrunk_json_free(&sj);
    return st;
}

static int tf_can_send(const eem_payload_context *ctx, eem_dtype t)
{
    (void)ctx;
    return eem_dtype_to_tf(t) != 0;
}

const eem_payload_ops eem_payload_serialized_tf_tensors = {
    .format = EEM_PAYLOAD_SERIALIZED_TF_TENSORS,
    .name = "SERIALIZED_TF_TENSORS",
    .item_sep = ",",
    .column_sep = ",",
    .can_send = tf_can_send,
    .encode_instance = tf_encode_instance,
    .head = eem_json_envelope_head,
    .column_head = eem_json_envelope_column_head,
    .column_tail = eem_json_envelope_column_tail,
    .tail = eem_json_envelope_tail,
    .decode_response = tf_decode_response,
};
