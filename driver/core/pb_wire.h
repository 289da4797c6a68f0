/* pb_wire.h — the protobuf wire format by hand: a bounds-checked reader of
 * fields (no allocation; values point into the input) and the small writers
 * the gRPC payload formats stream request messages with.  Used where the
 * message is assembled column by column (payload.h) or an answer's bytes are
 * handed on without copying (tensor_content, raw_output_contents); protoc-c's
 * generated code is used elsewhere. */
#ifndef EEM_PB_WIRE_H
#define EEM_PB_WIRE_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { EEM_PB_VARINT = 0, EEM_PB_FIXED64 = 1, EEM_PB_LEN = 2, EEM_PB_FIXED32 = 5 };

typedef struct eem_pb_reader {
    const uint8_t *p, *end;
} eem_pb_reader;

typedef struct eem_pb_field {
    uint32_t number;
    int wire_type;
    uint64_t varint;     /* EEM_PB_VARINT value; FIXED32/FIXED64 value bits */
    const uint8_t *data; /* EEM_PB_LEN bytes (inside the reader's input) */
    size_t len;
} eem_pb_field;

void eem_pb_reader_init(eem_pb_reader *r, const uint8_t *data, size_t len);
/* Next field: 1 read, 0 at the end, -1 malformed (truncated, bad key, group). */
int eem_pb_next(eem_pb_reader *r, eem_pb_field *f);
/* Read one varint from [*p, end); 0 on success (advances *p), -1 malformed. */
int eem_pb_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);

size_t eem_pb_varint_size(uint64_t v);
/* Bytes of a length-delimited field with a len-byte payload (key, length, payload). */
size_t eem_pb_len_field_size(uint32_t number, size_t len);
int eem_pb_put_varint(eem_buf *b, uint64_t v);
int eem_pb_put_key(eem_buf *b, uint32_t number, int wire_type);
/* Key and length of a length-delimited field whose len bytes follow. */
int eem_pb_put_len_header(eem_buf *b, uint32_t number, size_t len);
int eem_pb_put_bytes(eem_buf *b, uint32_t number, const void *data, size_t len);
int eem_pb_put_string(eem_buf *b, uint32_t number, const char *s);
int eem_pb_put_varint_field(eem_buf *b, uint32_t number, uint64_t v);

#ifdef __cplusplus
}
#endif
#endif
