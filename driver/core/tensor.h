/* tensor.h — typed dense tensors, TensorProto encode/decode and base64.
 *
 * An eem_tensor owns one contiguous row-major buffer.  eem_tensor_new() and
 * eem_tensorproto_decode() return tensors the caller frees with eem_tensor_free().
 * Buffers returned through "char **out" / "uint8_t **out" are malloc'ed and owned
 * by the caller (free()). */
#ifndef EEM_TENSOR_H
#define EEM_TENSOR_H

#include "dtype.h"
#include "error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_TENSOR_MAX_DIMS 8

typedef struct eem_tensor {
    eem_dtype type;
    int ndim;
    int64_t dims[EEM_TENSOR_MAX_DIMS]; /* outermost first */
    void *data;                        /* count * eem_dtype_size(type) bytes */
} eem_tensor;

/* Zero-filled tensor; NULL on allocation failure or bad shape. */
eem_tensor *eem_tensor_new(eem_dtype type, int ndim, const int64_t *dims);
/* The same, contents undefined: for a caller that writes every element (no
 * zero-fill pass over a buffer about to be overwritten). */
eem_tensor *eem_tensor_new_to_fill(eem_dtype type, int ndim, const int64_t *dims);
void eem_tensor_free(eem_tensor *t);
/* Number of elements (product of dims; 1 for a scalar). */
size_t eem_tensor_count(const eem_tensor *t);
size_t eem_tensor_nbytes(const eem_tensor *t);

/* Serialise as a tensorflow.TensorProto (dtype, shape, tensor_content).
 * *out is malloc'ed, caller frees. */
eem_status eem_tensorproto_encode(const eem_tensor *t, uint8_t **out, size_t *out_len, eem_error *err);
/* The bytes of the serialised TensorProto that precede the raw tensor data
 * (dtype, shape, tensor_content key and length): the full serialisation is
 * header followed by the eem_tensor_nbytes(t) bytes of t->data (little-endian).
 * Lets callers stream the data without copying it.  Returns the header length,
 * 0 when t is not a valid tensor. */
#define EEM_TENSORPROTO_HEADER_MAX 160
size_t eem_tensorproto_header(const eem_tensor *t, uint8_t hdr[EEM_TENSORPROTO_HEADER_MAX]);
/* Parse a serialised TensorProto: tensor_content or the typed value fields (with
 * TensorFlow's "repeat the last value" broadcast rule); half/bfloat16 accepted.
 * max_elements bounds the allocation (0 = no bound other than sanity). */
eem_status eem_tensorproto_decode(const uint8_t *buf, size_t len, size_t max_elements,
                                  eem_tensor **out, eem_error *err);

/* Standard alphabet with padding.  *out is NUL-terminated, malloc'ed, caller frees. */
eem_status eem_base64_encode(const uint8_t *data, size_t len, char **out, size_t *out_len);
/* Append the standard base64 of data to a growing buffer (for request building). */
/* Decode standard or URL-safe alphabet, padded or not; whitespace rejected.
 * *out is malloc'ed, caller frees. */
eem_status eem_base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len, eem_error *err);
/* The same into out (buf.h; emptied first, its capacity kept), so a decoder
 * reuses one buffer for every value of an answer.  Same checks and messages. */
struct eem_buf;
eem_status eem_base64_decode_buf(const char *text, size_t len, struct eem_buf *out,
                                 eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
