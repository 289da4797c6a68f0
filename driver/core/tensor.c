/* tensor.c — dense typed tensors, tensorflow.TensorProto encode/decode and
 * base64 (see tensor.h).
 *
 * Encoding is done by hand (the wire format of dtype + shape + tensor_content is
 * tiny and fixed); decoding goes through protobuf-c so every legal encoding
 * (packed or not, any field order, unknown fields) is accepted, then the result
 * is validated before anything proportional to the declared shape is allocated. */
#include "tensor.h"

#include "bigalloc.h"
#include "buf.h"
#include "pb_wire.h"
#include "tensor.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tensor_content is the host's in-memory buffer; TensorFlow treats it as
 * little-endian, and so do we without byte swapping. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "EEMODEL assumes a little-endian host (TensorProto tensor_content byte order)"
#endif

/* Protobuf wire keys: (field << 3) | wire type. */
#define PB_KEY_DTYPE 0x08     /* field 1, varint */
#define PB_KEY_SHAPE 0x12     /* field 2, length-delimited */
#define PB_KEY_CONTENT 0x22   /* field 4, length-delimited */
#define PB_KEY_SHAPE_DIM 0x12 /* TensorShapeProto.dim, field 2 */
#define PB_KEY_DIM_SIZE 0x08  /* TensorShapeProto.Dim.size, field 1 */

/* ---------------------------------------------------------------- tensors */

/* Product of dims into *count; 0 on negative dims or overflow (of the element
 * count or of the byte size for element size elsize). */
static int shape_count(int ndim, const int64_t *dims, size_t elsize, size_t *count)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return 0;
        uint64_t d = (uint64_t)dims[i];
        if (d > SIZE_MAX)
            return 0;
        if (d != 0 && n > SIZE_MAX / (size_t)d)
            return 0;
        n *= (size_t)d;
    }
    if (elsize && n > SIZE_MAX / elsize)
        return 0;
    *count = n;
    return 1;
}

/* A tensor of that shape, zero-filled or (zero 0) left for the caller to fill. */
static eem_tensor *tensor_alloc(eem_dtype type, int ndim, const int64_t *dims, int zero)
{
    size_t elsize = eem_dtype_size(type), count;
    if (elsize == 0 || ndim < 0 || ndim > EEM_TENSOR_MAX_DIMS || (ndim > 0 && !dims) ||
        !shape_count(ndim, dims, elsize, &count))
        return NULL;
    eem_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->type = type;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->dims[i] = dims[i];
    /* large tensors in huge pages (bigalloc.h) */
    t->data = zero ? eem_bigalloc_zeroed(count * elsize) : eem_bigalloc(count * elsize, NULL);
    if (!t->data) {
        free(t);
        return NULL;
    }
    return t;
}

eem_tensor *eem_tensor_new(eem_dtype type, int ndim, const int64_t *dims)
{
    return tensor_alloc(type, ndim, dims, 1);
}

eem_tensor *eem_tensor_new_to_fill(eem_dtype type, int ndim, const int64_t *dims)
{
    return tensor_alloc(type, ndim, dims, 0);
}

void eem_tensor_free(eem_tensor *t)
{
    if (t) {
        free(t->data);
        free(t);
    }
}

size_t eem_tensor_count(const eem_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->dims[i];
    return n;
}

size_t eem_tensor_nbytes(const eem_tensor *t)
{
    return eem_tensor_count(t) * eem_dtype_size(t->type);
}

/* "[2,3]" into out. */
static void format_shape(char *out, size_t cap, int ndim, const int64_t *dims)
{
    size_t used = 0;
    used += (size_t)snprintf(out, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, i ? ",%lld" : "%lld", (long long)dims[i]);
    if (used < cap)
        snprintf(out + used, cap - used, "]");
}

/* ---------------------------------------------------------------- encode */

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

size_t eem_tensorproto_header(const eem_tensor *t, uint8_t hdr[EEM_TENSORPROTO_HEADER_MAX])
{
    size_t elsize, count;
    if (!t || (elsize = eem_dtype_size(t->type)) == 0 || t->ndim < 0 ||
        t->ndim > EEM_TENSOR_MAX_DIMS || !shape_count(t->ndim, t->dims, elsize, &count))
        return 0;
    uint8_t *p = hdr;
    *p++ = PB_KEY_DTYPE;
    p = put_varint(p, (uint64_t)eem_dtype_to_tf(t->type));

    /* TensorShapeProto: one Dim message per dimension; proto3 leaves out a zero size. */
    size_t shape_len = 0;
    for (int i = 0; i < t->ndim; i++) {
        size_t dim_len = t->dims[i] ? 1 + varint_size((uint64_t)t->dims[i]) : 0;
        shape_len += 1 + varint_size(dim_len) + dim_len;
    }
    *p++ = PB_KEY_SHAPE;
    p = put_varint(p, shape_len);
    for (int i = 0; i < t->ndim; i++) {
        size_t dim_len = t->dims[i] ? 1 + varint_size((uint64_t)t->dims[i]) : 0;
        *p++ = PB_KEY_SHAPE_DIM;
        p = put_varint(p, dim_len);
        if (t->dims[i]) {
            *p++ = PB_KEY_DIM_SIZE;
            p = put_varint(p, (uint64_t)t->dims[i]);
        }
    }
    size_t nbytes = count * elsize;
    if (nbytes) { /* proto3 leaves out empty bytes */
        *p++ = PB_KEY_CONTENT;
        p = put_varint(p, nbytes);
    }
    return (size_t)(p - hdr);
}

eem_status eem_tensorproto_encode(const eem_tensor *t, uint8_t **out, size_t *out_len,
                                  eem_error *err)
{
    uint8_t hdr[EEM_TENSORPROTO_HEADER_MAX];
    *out = NULL;
    *out_len = 0;
    size_t hlen = eem_tensorproto_header(t, hdr);
    if (hlen == 0)
        return eem_error_set(err, EEM_ERR_INVALID, "cannot encode TensorProto: invalid tensor");
    size_t nbytes = eem_tensor_nbytes(t);
    if (nbytes > SIZE_MAX - hlen)
        return eem_error_set(err, EEM_ERR_LIMIT, "cannot encode TensorProto: tensor too large");
    uint8_t *p = malloc(hlen + nbytes ? hlen + nbytes : 1);
    if (!p)
        return eem_error_set(err, EEM_ERR_NOMEM,
                             "out of memory encoding a TensorProto of %zu bytes", hlen + nbytes);
    memcpy(p, hdr, hlen);
    if (nbytes)
        memcpy(p + hlen, t->data, nbytes);
    *out = p;
    *out_len = hlen + nbytes;
    return EEM_OK;
}

/* ---------------------------------------------------------------- decode */

/* Fill n elements of dst from nv typed values, repeating the last value when
 * nv < n and leaving zeros when nv == 0 (dst is already zeroed). */
#define FILL_TYPED(DST_CTYPE, dst, vals, nv, n)                                                    \
    do {                                                                                           \
        DST_CTYPE *d_ = (DST_CTYPE *)(dst);                                                        \
        size_t take_ = (nv) < (n) ? (nv) : (n);                                                    \
        for (size_t i_ = 0; i_ < take_; i_++)                                                      \
            d_[i_] = (DST_CTYPE)(vals)[i_];                                                        \
        if ((nv) > 0)                                                                              \
            for (size_t i_ = take_; i_ < (n); i_++)                                                \
                d_[i_] = (DST_CTYPE)(vals)[(nv)-1];                                                \
    } while (0)

static void fill_from_typed_fields(const Tensorflow__TensorProto *tp, eem_tensor *t, size_t n)
{
    switch (t->type) {
    case EEM_DT_FLOAT32:
        FILL_TYPED(float, t->data, tp->float_val, tp->n_float_val, n);
        break;
    case EEM_DT_FLOAT64:
        FILL_TYPED(double, t->data, tp->double_val, tp->n_double_val, n);
        break;
    case EEM_DT_INT32:
        FILL_TYPED(int32_t, t->data, tp->int_val, tp->n_int_val, n);
        break;
    case EEM_DT_INT16:
        FILL_TYPED(int16_t, t->data, tp->int_val, tp->n_int_val, n);
        break;
    case EEM_DT_INT8:
        FILL_TYPED(int8_t, t->data, tp->int_val, tp->n_int_val, n);
        break;
    case EEM_DT_UINT8:
        FILL_TYPED(uint8_t, t->data, tp->int_val, tp->n_int_val, n);
        break;
    case EEM_DT_UINT16:
        FILL_TYPED(uint16_t, t->data, tp->int_val, tp->n_int_val, n);
        break;
    case EEM_DT_INT64:
        FILL_TYPED(int64_t, t->data, tp->int64_val, tp->n_int64_val, n);
        break;
    case EEM_DT_UINT32:
        FILL_TYPED(uint32_t, t->data, tp->uint32_val, tp->n_uint32_val, n);
        break;
    case EEM_DT_UINT64:
        FILL_TYPED(uint64_t, t->data, tp->uint64_val, tp->n_uint64_val, n);
        break;
    case EEM_DT_FLOAT16:
    case EEM_DT_BFLOAT16:
        FILL_TYPED(uint16_t, t->data, tp->half_val, tp->n_half_val, n);
        break;
    default:
        break;
    }
}

/* What a TensorProto says, however it was parsed. */
typedef struct tensorproto_fields {
    int tf_dtype;
    int unknown_rank;
    size_t n_dim;
    int64_t dims[EEM_TENSOR_MAX_DIMS];
    const uint8_t *content;
    size_t content_len;
} tensorproto_fields;

/* The canonical encoding (what TensorFlow, TF Serving and we write): only
 * dtype, tensor_shape of plain dims and a non-empty tensor_content, each at
 * most once, read in place without allocating.  0 when it applies; -1 for
 * anything else (then protobuf-c parses it, with its checks and messages). */
static int tensorproto_read_canonical(const uint8_t *buf, size_t len, tensorproto_fields *f)
{
    eem_pb_reader r;
    eem_pb_field fld;
    int seen_dtype = 0, seen_shape = 0, got;
    memset(f, 0, sizeof *f);
    eem_pb_reader_init(&r, buf, len);
    while ((got = eem_pb_next(&r, &fld)) == 1) {
        if (fld.number == 1 && fld.wire_type == EEM_PB_VARINT && !seen_dtype) {
            if (fld.varint > 0x7FFFFFFF)
                return -1;
            f->tf_dtype = (int)fld.varint;
            seen_dtype = 1;
        } else if (fld.number == 2 && fld.wire_type == EEM_PB_LEN && !seen_shape) {
            eem_pb_reader sr;
            eem_pb_field dim;
            eem_pb_reader_init(&sr, fld.data, fld.len);
            while ((got = eem_pb_next(&sr, &dim)) == 1) {
                if (dim.number != 2 || dim.wire_type != EEM_PB_LEN ||
                    f->n_dim == EEM_TENSOR_MAX_DIMS)
                    return -1;
                eem_pb_reader dr;
                eem_pb_field size;
                int64_t value = 0, seen_size = 0;
                eem_pb_reader_init(&dr, dim.data, dim.len);
                while ((got = eem_pb_next(&dr, &size)) == 1) {
                    if (size.number != 1 || size.wire_type != EEM_PB_VARINT || seen_size)
                        return -1;
                    value = (int64_t)size.varint;
                    seen_size = 1;
                }
                if (got < 0)
                    return -1;
                f->dims[f->n_dim++] = value;
            }
            if (got < 0)
                return -1;
            seen_shape = 1;
        } else if (fld.number == 4 && fld.wire_type == EEM_PB_LEN && !f->content && fld.len > 0) {
            f->content = fld.data;
            f->content_len = fld.len;
        } else {
            return -1;
        }
    }
    return got == 0 && f->content ? 0 : -1;
}

/* Check what the TensorProto says and build the tensor: from f->content, or
 * (tp given, no content) from its typed value fields. */
static eem_status tensorproto_build(const tensorproto_fields *f,
                                    const Tensorflow__TensorProto *tp, size_t max_elements,
                                    eem_tensor **out, eem_error *err)
{
    eem_dtype type = eem_dtype_from_tf(f->tf_dtype);
    if (type == EEM_DT_NONE)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "TensorProto dtype %d is not supported (accepted: DataTypes of %s)",
                             f->tf_dtype, eem_dtype_accepted_names());
    if (f->unknown_rank)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "TensorProto has an unknown rank; a shape is required");
    if (f->n_dim > EEM_TENSOR_MAX_DIMS)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "TensorProto has %zu dimensions; at most %d are accepted", f->n_dim,
                             EEM_TENSOR_MAX_DIMS);
    int ndim = (int)f->n_dim;
    const int64_t *dims = f->dims;
    for (int i = 0; i < ndim; i++)
        if (dims[i] < 0)
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "TensorProto dimension %d has size %lld; sizes must be >= 0", i,
                                 (long long)dims[i]);
    char shape_text[EEM_TENSOR_MAX_DIMS * 22 + 3];
    format_shape(shape_text, sizeof shape_text, ndim, dims);

    size_t elsize = eem_dtype_size(type), count;
    if (!shape_count(ndim, dims, elsize, &count))
        return eem_error_set(err, EEM_ERR_PROTOCOL, "TensorProto shape %s %s is too large",
                             shape_text, eem_dtype_name(type));
    if (max_elements > 0 && count > max_elements)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "TensorProto shape %s has %zu elements; at most %zu are expected",
                             shape_text, count, max_elements);
    size_t nbytes = count * elsize;
    if (f->content_len > 0 && f->content_len != nbytes)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "TensorProto tensor_content has %zu bytes, shape %s %s needs %zu",
                             f->content_len, shape_text, eem_dtype_name(type), nbytes);
    /* every byte is written from tensor_content: no zero-filling first */
    eem_tensor *t = tensor_alloc(type, ndim, dims, f->content_len == 0);
    if (!t)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory for a %s %s tensor (%zu bytes)",
                             shape_text, eem_dtype_name(type), nbytes);
    if (f->content_len > 0)
        memcpy(t->data, f->content, nbytes);
    else if (tp)
        fill_from_typed_fields(tp, t, count);
    *out = t;
    return EEM_OK;
}

eem_status eem_tensorproto_decode(const uint8_t *buf, size_t len, size_t max_elements,
                                  eem_tensor **out, eem_error *err)
{
    *out = NULL;
    tensorproto_fields f;
    if (tensorproto_read_canonical(buf, len, &f) == 0)
        return tensorproto_build(&f, NULL, max_elements, out, err);
    Tensorflow__TensorProto *tp = tensorflow__tensor_proto__unpack(NULL, len, buf);
    if (!tp)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "not a valid serialized TensorProto (%zu bytes could not be parsed)",
                             len);
    memset(&f, 0, sizeof f);
    f.tf_dtype = (int)tp->dtype;
    const Tensorflow__TensorShapeProto *shape = tp->tensor_shape;
    if (shape) {
        f.unknown_rank = shape->unknown_rank;
        f.n_dim = shape->n_dim;
        for (size_t i = 0; i < shape->n_dim && i < EEM_TENSOR_MAX_DIMS; i++)
            f.dims[i] = shape->dim[i]->size;
    }
    f.content = tp->tensor_content.data;
    f.content_len = tp->tensor_content.len;
    eem_status st = tensorproto_build(&f, tp, max_elements, out, err);
    tensorflow__tensor_proto__free_unpacked(tp, NULL);
    return st;
}

/* ---------------------------------------------------------------- base64 */

eem_status eem_base64_encode(const uint8_t *data, size_t len, char **out, size_t *out_len)
{
    eem_buf b = {0};
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (eem_buf_base64(&b, data, len) != 0) {
        eem_buf_free(&b);
        return EEM_ERR_NOMEM;
    }
    size_t n = b.len;
    char *s = eem_buf_take(&b);
    if (!s)
        return EEM_ERR_NOMEM;
    *out = s;
    if (out_len)
        *out_len = n;
    return EEM_OK;
}

/* Decoding tables for both alphabets ('+' and '-' are 62, '/' and '_' are 63),
 * one per position in a 4-character group with the 6 bits already shifted in
 * place; B64_INVALID marks characters outside both alphabets, so OR-ing the
 * four lookups yields the 24 bits and an error flag at once. */
#define B64_INVALID 0x01000000u
#define B64_VAL(c)                                                                                 \
    ((c) >= 'A' && (c) <= 'Z'   ? (uint32_t)((c) - 'A')                                            \
     : (c) >= 'a' && (c) <= 'z' ? (uint32_t)((c) - 'a' + 26)                                       \
     : (c) >= '0' && (c) <= '9' ? (uint32_t)((c) - '0' + 52)                                       \
     : (c) == '+' || (c) == '-' ? 62u                                                              \
     : (c) == '/' || (c) == '_' ? 63u                                                              \
                                : 0xFFu)
#define B64_ENTRY(c, shift) (B64_VAL(c) == 0xFFu ? B64_INVALID : B64_VAL(c) << (shift))
#define B64_E4(c, s)                                                                               \
    B64_ENTRY(c, s), B64_ENTRY((c) + 1, s), B64_ENTRY((c) + 2, s), B64_ENTRY((c) + 3, s)
#define B64_E16(c, s) B64_E4(c, s), B64_E4((c) + 4, s), B64_E4((c) + 8, s), B64_E4((c) + 12, s)
#define B64_E64(c, s)                                                                              \
    B64_E16(c, s), B64_E16((c) + 16, s), B64_E16((c) + 32, s), B64_E16((c) + 48, s)
#define B64_TABLE(s)                                                                               \
    {                                                                                              \
        B64_E64(0, s), B64_E64(64, s), B64_E64(128, s), B64_E64(192, s)                            \
    }
static const uint32_t b64_dec0[256] = B64_TABLE(18);
static const uint32_t b64_dec1[256] = B64_TABLE(12);
static const uint32_t b64_dec2[256] = B64_TABLE(6);
static const uint32_t b64_dec3[256] = B64_TABLE(0);

static eem_status b64_bad_char(const char *text, size_t len, eem_error *err)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (b64_dec3[c] == B64_INVALID) {
            if (c >= 0x21 && c < 0x7F)
                return eem_error_set(err, EEM_ERR_PROTOCOL,
                                     "invalid base64 at offset %zu (character '%c')", i, c);
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "invalid base64 at offset %zu (byte 0x%02x)", i, c);
        }
    }
    return eem_error_set(err, EEM_ERR_PROTOCOL, "invalid base64");
}

/* Check the length and padding of base64 text: *data_len gets the characters
 * before the padding, *n the decoded size. */
static eem_status b64_measure(const char *text, size_t len, size_t *data_len, size_t *n,
                              eem_error *err)
{
    /* Padding: only at the end, at most two '=', and then the length is a multiple of 4. */
    size_t dl = len;
    while (dl > 0 && text[dl - 1] == '=' && len - dl < 2)
        dl--;
    if (dl < len && len % 4 != 0)
        return eem_error_set(
            err, EEM_ERR_PROTOCOL,
            "invalid base64: padded text must have a length multiple of 4, got %zu", len);
    if (dl % 4 == 1)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "invalid base64: %zu characters cannot encode whole bytes", dl);
    size_t full = dl / 4, rest = dl % 4;
    *data_len = dl;
    *n = full * 3 + (rest ? rest - 1 : 0);
    return EEM_OK;
}

/* Decode data_len characters (no padding, data_len % 4 != 1) into o; the
 * error for the first character outside both alphabets, else EEM_OK. */
static eem_status b64_decode_into(const char *text, size_t data_len, uint8_t *o, eem_error *err)
{
    size_t full = data_len / 4, rest = data_len % 4;
    const unsigned char *s = (const unsigned char *)text;
    uint8_t *p = o;
    uint32_t flags = 0;
    for (size_t g = 0; g < full; g++, s += 4, p += 3) {
        uint32_t v = b64_dec0[s[0]] | b64_dec1[s[1]] | b64_dec2[s[2]] | b64_dec3[s[3]];
        flags |= v;
        p[0] = (uint8_t)(v >> 16);
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)v;
    }
    if (rest) {
        uint32_t v = b64_dec0[s[0]] | b64_dec1[s[1]] | (rest == 3 ? b64_dec2[s[2]] : 0);
        flags |= v;
        p[0] = (uint8_t)(v >> 16);
        if (rest == 3)
            p[1] = (uint8_t)(v >> 8);
    }
    if (flags & B64_INVALID) /* some character was in neither alphabet; find it for the message */
        return b64_bad_char(text, data_len, err);
    return EEM_OK;
}

eem_status eem_base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len,
                             eem_error *err)
{
    *out = NULL;
    *out_len = 0;
    size_t data_len, n;
    eem_status st = b64_measure(text, len, &data_len, &n, err);
    if (st != EEM_OK)
        return st;
    uint8_t *o = malloc(n ? n : 1);
    if (!o)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory decoding %zu bytes of base64", len);
    st = b64_decode_into(text, data_len, o, err);
    if (st != EEM_OK) {
        free(o);
        return st;
    }
    *out = o;
    *out_len = n;
    return EEM_OK;
}

eem_status eem_base64_decode_buf(const char *text, size_t len, struct eem_buf *out,
                                 eem_error *err)
{
    eem_buf_reset(out);
    out->failed = 0;
    size_t data_len, n;
    eem_status st = b64_measure(text, len, &data_len, &n, err);
    if (st != EEM_OK)
        return st;
    if (eem_buf_reserve(out, n) != 0) {
        out->failed = 0; /* the buffer stays usable for a smaller answer */
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory decoding %zu bytes of base64", len);
    }
    st = b64_decode_into(text, data_len, (uint8_t *)out->data, err);
    if (st != EEM_OK)
        return st;
    out->len = n;
    out->data[n] = '\0';
    return EEM_OK;
}
