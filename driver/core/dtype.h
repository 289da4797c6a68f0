/* dtype.h — element types shared by descriptors, tensors and GDAL bands.
 *
 * One enum for every element type the driver reads from a source, sends to a
 * model or decodes from an answer, with its name, size and TensorFlow DataType
 * number.  Conversion of whole buffers between types lives here too. */
#ifndef EEM_DTYPE_H
#define EEM_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum eem_dtype {
    EEM_DT_NONE = 0,
    EEM_DT_UINT8,
    EEM_DT_INT8,
    EEM_DT_UINT16,
    EEM_DT_INT16,
    EEM_DT_UINT32,
    EEM_DT_INT32,
    EEM_DT_UINT64,
    EEM_DT_INT64,
    EEM_DT_FLOAT16,
    EEM_DT_BFLOAT16,
    EEM_DT_FLOAT32,
    EEM_DT_FLOAT64,
    EEM_DT_COUNT
} eem_dtype;

/* Accepts, case-insensitively: uint8/byte, int8, uint16, int16, uint32, int32/int,
 * uint64, int64/long, float16/half, bfloat16, float32/float, float64/double.
 * Returns EEM_DT_NONE for anything else. */
eem_dtype eem_dtype_from_name(const char *name);
/* Canonical lowercase name ("float32"); "none" for EEM_DT_NONE. */
const char *eem_dtype_name(eem_dtype t);
/* The accepted names, for error messages. */
const char *eem_dtype_accepted_names(void);
/* Bytes per element; 0 for EEM_DT_NONE. */
size_t eem_dtype_size(eem_dtype t);
int eem_dtype_is_float(eem_dtype t);
/* TensorFlow DataType enum value (DT_FLOAT=1, ...), 0 if none. */
int eem_dtype_to_tf(eem_dtype t);
/* Inverse; EEM_DT_NONE for DataTypes we do not handle. */
eem_dtype eem_dtype_from_tf(int tf_datatype);

/* Convert n elements from src (type st) to dst (type dt).  Integer targets
 * round to nearest and clamp to their range; NaN becomes 0 for integer targets.
 * float16/bfloat16 are decoded from their 16-bit patterns (as sources) and
 * encoded with round-to-nearest-even (as targets). */
void eem_dtype_convert(const void *src, eem_dtype st, void *dst, eem_dtype dt, size_t n);
/* The same for n elements of src taken every src_stride elements (element 0,
 * src_stride, 2*src_stride, ...) into contiguous dst, e.g. one channel of an
 * interleaved (H, W, C) row.  Equal types are copied without conversion;
 * src_stride 1 is eem_dtype_convert.  src and dst must not overlap. */
void eem_dtype_convert_strided(const void *src, eem_dtype st, size_t src_stride, void *dst,
                               eem_dtype dt, size_t n);

/* Read element i of buf (type t) as double. */
double eem_dtype_get(const void *buf, eem_dtype t, size_t i);

#ifdef __cplusplus
}
#endif
#endif
