/* pb_wire.c — protobuf wire-format reader and writers (see pb_wire.h). */
#include "pb_wire.h"

#include <string.h>

void eem_pb_reader_init(eem_pb_reader *r, const uint8_t *data, size_t len)
{
    r->p = data;
    r->end = data ? data + len : data;
}

int eem_pb_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    const uint8_t *q = *p;
    for (int shift = 0; shift < 64; shift += 7) {
        if (q >= end)
            return -1;
        uint8_t byte = *q++;
        if (shift == 63 && (byte & 0x7e))
            return -1; /* more than 64 bits */
        x |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *p = q;
            *v = x;
            return 0;
        }
    }
    return -1;
}

int eem_pb_next(eem_pb_reader *r, eem_pb_field *f)
{
    if (!r->p || r->p >= r->end)
        return 0;
    uint64_t key;
    if (eem_pb_read_varint(&r->p, r->end, &key) != 0)
        return -1;
    if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return -1;
    memset(f, 0, sizeof *f);
    f->number = (uint32_t)(key >> 3);
    f->wire_type = (int)(key & 7);
    switch (f->wire_type) {
    case EEM_PB_VARINT:
        return eem_pb_read_varint(&r->p, r->end, &f->varint) == 0 ? 1 : -1;
    case EEM_PB_FIXED64:
        if (r->end - r->p < 8)
            return -1;
        for (int i = 7; i >= 0; i--)
            f->varint = (f->varint << 8) | r->p[i];
        f->data = r->p;
        f->len = 8;
        r->p += 8;
        return 1;
    case EEM_PB_FIXED32:
        if (r->end - r->p < 4)
            return -1;
        for (int i = 3; i >= 0; i--)
            f->varint = (f->varint << 8) | r->p[i];
        f->data = r->p;
        f->len = 4;
        r->p += 4;
        return 1;
    case EEM_PB_LEN: {
        uint64_t n;
        if (eem_pb_read_varint(&r->p, r->end, &n) != 0 || n > (uint64_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default:
        return -1; /* groups and reserved wire types */
    }
}

size_t eem_pb_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t eem_pb_len_field_size(uint32_t number, size_t len)
{
    return eem_pb_varint_size((uint64_t)number << 3) + eem_pb_varint_size(len) + len;
}

int eem_pb_put_varint(eem_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    return eem_buf_append(b, tmp, n);
}

int eem_pb_put_key(eem_buf *b, uint32_t number, int wire_type)
{
    return eem_pb_put_varint(b, ((uint64_t)number << 3) | (uint64_t)wire_type);
}

int eem_pb_put_len_header(eem_buf *b, uint32_t number, size_t len)
{
    eem_pb_put_key(b, number, EEM_PB_LEN);
    return eem_pb_put_varint(b, len);
}

int eem_pb_put_bytes(eem_buf *b, uint32_t number, const void *data, size_t len)
{
    eem_pb_put_len_header(b, number, len);
    return len ? eem_buf_append(b, data, len) : (b->failed ? -1 : 0);
}

int eem_pb_put_string(eem_buf *b, uint32_t number, const char *s)
{
    return eem_pb_put_bytes(b, number, s, strlen(s));
}

int eem_pb_put_varint_field(eem_buf *b, uint32_t number, uint64_t v)
{
    eem_pb_put_key(b, number, EEM_PB_VARINT);
    return eem_pb_put_varint(b, v);
}
