/* dtype.c — element type names, sizes, TensorFlow DataType numbers and fast
 * whole-buffer conversion between element types (see dtype.h).
 *
 * Conversion rules:
 *  - integer targets round half away from zero, clamp to the target range, and
 *    map NaN to 0;
 *  - float16/bfloat16 sources are decoded exactly from their bit patterns
 *    (subnormals, infinities, NaN); as targets they are encoded with
 *    round-to-nearest-even (overflow gives infinity, NaN stays NaN);
 *  - float32 targets take the nearest float (out-of-range doubles become inf).
 * Every (source, target) pair has its own tight loop, chosen once per call. */
#include "dtype.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* TensorFlow DataType numbers (tensorflow/core/framework/types.proto). */
enum {
    TF_DT_FLOAT = 1,
    TF_DT_DOUBLE = 2,
    TF_DT_INT32 = 3,
    TF_DT_UINT8 = 4,
    TF_DT_INT16 = 5,
    TF_DT_INT8 = 6,
    TF_DT_INT64 = 9,
    TF_DT_BFLOAT16 = 14,
    TF_DT_UINT16 = 17,
    TF_DT_HALF = 19,
    TF_DT_UINT32 = 22,
    TF_DT_UINT64 = 23
};

typedef struct dtype_info {
    const char *name;
    const char *alias;
    size_t size;
    int is_float;
    int tf;
} dtype_info;

static const dtype_info infos[EEM_DT_COUNT] = {
    [EEM_DT_NONE] = {"none", NULL, 0, 0, 0},
    [EEM_DT_UINT8] = {"uint8", "byte", 1, 0, TF_DT_UINT8},
    [EEM_DT_INT8] = {"int8", NULL, 1, 0, TF_DT_INT8},
    [EEM_DT_UINT16] = {"uint16", NULL, 2, 0, TF_DT_UINT16},
    [EEM_DT_INT16] = {"int16", NULL, 2, 0, TF_DT_INT16},
    [EEM_DT_UINT32] = {"uint32", NULL, 4, 0, TF_DT_UINT32},
    [EEM_DT_INT32] = {"int32", "int", 4, 0, TF_DT_INT32},
    [EEM_DT_UINT64] = {"uint64", NULL, 8, 0, TF_DT_UINT64},
    [EEM_DT_INT64] = {"int64", "long", 8, 0, TF_DT_INT64},
    [EEM_DT_FLOAT16] = {"float16", "half", 2, 1, TF_DT_HALF},
    [EEM_DT_BFLOAT16] = {"bfloat16", NULL, 2, 1, TF_DT_BFLOAT16},
    [EEM_DT_FLOAT32] = {"float32", "float", 4, 1, TF_DT_FLOAT},
    [EEM_DT_FLOAT64] = {"float64", "double", 8, 1, TF_DT_DOUBLE},
};

static int valid(eem_dtype t)
{
    return t > EEM_DT_NONE && t < EEM_DT_COUNT;
}

eem_dtype eem_dtype_from_name(const char *name)
{
    if (!name)
        return EEM_DT_NONE;
    for (int t = EEM_DT_NONE + 1; t < EEM_DT_COUNT; t++) {
        if (strcasecmp(name, infos[t].name) == 0 ||
            (infos[t].alias && strcasecmp(name, infos[t].alias) == 0))
            return (eem_dtype)t;
    }
    return EEM_DT_NONE;
}

const char *eem_dtype_name(eem_dtype t)
{
    return valid(t) ? infos[t].name : "none";
}

const char *eem_dtype_accepted_names(void)
{
    return "uint8 (byte), int8, uint16, int16, uint32, int32 (int), uint64, int64 (long), "
           "float16 (half), bfloat16, float32 (float), float64 (double)";
}

size_t eem_dtype_size(eem_dtype t)
{
    return valid(t) ? infos[t].size : 0;
}

int eem_dtype_is_float(eem_dtype t)
{
    return valid(t) ? infos[t].is_float : 0;
}

int eem_dtype_to_tf(eem_dtype t)
{
    return valid(t) ? infos[t].tf : 0;
}

eem_dtype eem_dtype_from_tf(int tf_datatype)
{
    for (int t = EEM_DT_NONE + 1; t < EEM_DT_COUNT; t++)
        if (tf_datatype != 0 && infos[t].tf == tf_datatype)
            return (eem_dtype)t;
    return EEM_DT_NONE;
}

/* ---- float16 / bfloat16 bit patterns ---- */

static inline float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t bits_from_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float half_decode(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        float v = (float)mant * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    if (exp == 31)
        return f32_from_bits(sign | 0x7F800000u | (mant << 13));
    return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

static inline float bfloat16_decode(uint16_t h)
{
    return f32_from_bits((uint32_t)h << 16);
}

/* Encode x into a binary float with ebits exponent bits and mbits mantissa bits
 * (≤ 16 bits in total), rounding to nearest even.  Works from double, so float32
 * and integer inputs are encoded with a single rounding. */
static uint16_t small_float_encode(double x, int ebits, int mbits)
{
    uint16_t sign = signbit(x) ? (uint16_t)(1u << (ebits + mbits)) : 0;
    uint16_t exp_all = (uint16_t)(((1u << ebits) - 1) << mbits);
    if (isnan(x))
        return (uint16_t)(sign | exp_all | (1u << (mbits - 1)));
    double a = fabs(x);
    if (isinf(a))
        return (uint16_t)(sign | exp_all);
    if (a == 0)
        return sign;
    int bias = (1 << (ebits - 1)) - 1;
    int emin = 1 - bias;
    int e;
    frexp(a, &e);  /* a = f * 2^e, f in [0.5, 1) */
    int E = e - 1; /* a = 1.xxx * 2^E */
    if (E > bias + 1)
        return (uint16_t)(sign | exp_all);
    double q;
    uint32_t base;
    if (E < emin) { /* subnormal: units of 2^(emin - mbits) */
        q = ldexp(a, mbits - emin);
        base = 0;
    } else {
        q = ldexp(a, mbits - E); /* in [2^mbits, 2^(mbits+1)) */
        base = (uint32_t)(E + bias) << mbits;
        q -= ldexp(1.0, mbits);
    }
    double fl = floor(q);
    double diff = q - fl;
    uint32_t r = (uint32_t)fl;
    if (diff > 0.5 || (diff == 0.5 && (r & 1u)))
        r++;
    uint32_t bits = base + r; /* a carry into the exponent is the right answer */
    if (bits >= exp_all)
        return (uint16_t)(sign | exp_all);
    return (uint16_t)(sign | bits);
}

static inline uint16_t half_from_double(double x)
{
    return small_float_encode(x, 5, 10);
}

static inline uint16_t bfloat16_from_double(double x)
{
    return small_float_encode(x, 8, 7);
}

/* float32 -> float16 by bit arithmetic (round to nearest even); agrees with
 * half_from_double on every input. */
static inline uint16_t half_from_float(float f)
{
    uint32_t x = bits_from_f32(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7FFFFFFFu;
    if (x > 0x7F800000u)
        return (uint16_t)(sign | 0x7E00u); /* NaN */
    if (x >= 0x477FF000u)                  /* >= 65520 (and inf) rounds to inf */
        return (uint16_t)(sign | 0x7C00u);
    if (x < 0x38800000u) {
        /* below 2^-14: a half subnormal.  Adding 0.5f rounds |f| to a multiple
         * of 2^-24 (to nearest even, in hardware); the low bits count them. */
        float r = f32_from_bits(x) + 0.5f;
        return (uint16_t)(sign | (bits_from_f32(r) - 0x3F000000u));
    }
    /* normal: rebias the exponent (127 -> 15) and round off 13 mantissa bits */
    x += 0xC8000FFFu + ((x >> 13) & 1u);
    return (uint16_t)(sign | (x >> 13));
}

/* float32 -> bfloat16 exactly by bit arithmetic (round to nearest even). */
static inline uint16_t bfloat16_from_float(float f)
{
    uint32_t u = bits_from_f32(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)(((u >> 16) & 0x8000u) | 0x7FC0u); /* quiet NaN, sign kept */
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* ---- scalar conversions into each target type ---- */

/* Round half away from zero; exact for every double (the fraction v - trunc(v)
 * is computed exactly).  Callers have already range-checked v. */
static inline int64_t round_to_i64(double v)
{
    int64_t t = (int64_t)v;
    double d = v - (double)t;
    if (d >= 0.5)
        t++;
    else if (d <= -0.5)
        t--;
    return t;
}

#define SIGNED_TARGET(tag, ctype, lo, hi)                                                          \
    static inline ctype tag##_from_f(double v)                                                     \
    {                                                                                              \
        if (v != v)                                                                                \
            return 0;                                                                              \
        if (v >= (double)(hi))                                                                     \
            return hi;                                                                             \
        if (v <= (double)(lo))                                                                     \
            return lo;                                                                             \
        return (ctype)round_to_i64(v);                                                             \
    }                                                                                              \
    static inline ctype tag##_from_i(int64_t v)                                                    \
    {                                                                                              \
        return v > (int64_t)(hi) ? (ctype)(hi) : v < (int64_t)(lo) ? (ctype)(lo) : (ctype)v;       \
    }                                                                                              \
    static inline ctype tag##_from_u(uint64_t v)                                                   \
    {                                                                                              \
        return v > (uint64_t)(hi) ? (ctype)(hi) : (ctype)v;                                        \
    }

#define UNSIGNED_TARGET(tag, ctype, hi)                                                            \
    static inline ctype tag##_from_f(double v)                                                     \
    {                                                                                              \
        if (!(v > 0)) /* NaN, zero, negatives */                                                   \
            return 0;                                                                              \
        if (v >= (double)(hi))                                                                     \
            return hi;                                                                             \
        uint64_t t = (uint64_t)v;                                                                  \
        if (v - (double)t >= 0.5)                                                                  \
            t++;                                                                                   \
        return (ctype)t;                                                                           \
    }                                                                                              \
    static inline ctype tag##_from_i(int64_t v)                                                    \
    {                                                                                              \
        return v < 0 ? 0 : (uint64_t)v > (uint64_t)(hi) ? (ctype)(hi) : (ctype)v;                  \
    }                                                                                              \
    static inline ctype tag##_from_u(uint64_t v)                                                   \
    {                                                                                              \
        return v > (uint64_t)(hi) ? (ctype)(hi) : (ctype)v;                                        \
    }

SIGNED_TARGET(i8, int8_t, INT8_MIN, INT8_MAX)
SIGNED_TARGET(i16, int16_t, INT16_MIN, INT16_MAX)
SIGNED_TARGET(i32, int32_t, INT32_MIN, INT32_MAX)
UNSIGNED_TARGET(u8, uint8_t, UINT8_MAX)
UNSIGNED_TARGET(u16, uint16_t, UINT16_MAX)
UNSIGNED_TARGET(u32, uint32_t, UINT32_MAX)

/* 64-bit targets: (double)INT64_MAX rounds up to 2^63, so compare with >=. */
static inline int64_t i64_from_f(double v)
{
    if (v != v)
        return 0;
    if (v >= 9223372036854775808.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return round_to_i64(v);
}
static inline int64_t i64_from_i(int64_t v)
{
    return v;
}
static inline int64_t i64_from_u(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static inline uint64_t u64_from_f(double v)
{
    if (!(v > 0))
        return 0;
    if (v >= 18446744073709551616.0)
        return UINT64_MAX;
    uint64_t t = (uint64_t)v;
    if (v - (double)t >= 0.5)
        t++;
    return t;
}
static inline uint64_t u64_from_i(int64_t v)
{
    return v < 0 ? 0 : (uint64_t)v;
}
static inline uint64_t u64_from_u(uint64_t v)
{
    return v;
}

/* Pick the scalar conversion by the C type of the source value. */
#define INT_TARGET(tag, x)                                                                         \
    _Generic((x), float                                                                            \
             : tag##_from_f, double                                                                \
             : tag##_from_f, uint8_t                                                               \
             : tag##_from_u, uint16_t                                                              \
             : tag##_from_u, uint32_t                                                              \
             : tag##_from_u, uint64_t                                                              \
             : tag##_from_u, default                                                               \
             : tag##_from_i)(x)

#define TO_u8(x) INT_TARGET(u8, x)
#define TO_i8(x) INT_TARGET(i8, x)
#define TO_u16(x) INT_TARGET(u16, x)
#define TO_i16(x) INT_TARGET(i16, x)
#define TO_u32(x) INT_TARGET(u32, x)
#define TO_i32(x) INT_TARGET(i32, x)
#define TO_u64(x) INT_TARGET(u64, x)
#define TO_i64(x) INT_TARGET(i64, x)
#define TO_f32(x) ((float)(x))
#define TO_f64(x) ((double)(x))
#define TO_f16(x) _Generic((x), float : half_from_float, default : half_from_double)(x)
#define TO_bf16(x) _Generic((x), float : bfloat16_from_float, default : bfloat16_from_double)(x)

/* Reading a source element as its natural C value. */
#define LOAD_u8(p, i) ((p)[i])
#define LOAD_i8(p, i) ((p)[i])
#define LOAD_u16(p, i) ((p)[i])
#define LOAD_i16(p, i) ((p)[i])
#define LOAD_u32(p, i) ((p)[i])
#define LOAD_i32(p, i) ((p)[i])
#define LOAD_u64(p, i) ((p)[i])
#define LOAD_i64(p, i) ((p)[i])
#define LOAD_f32(p, i) ((p)[i])
#define LOAD_f64(p, i) ((p)[i])
#define LOAD_f16(p, i) half_decode((p)[i])
#define LOAD_bf16(p, i) bfloat16_decode((p)[i])

/* X(enum, storage C type, tag).  Two copies so the lists can nest. */
#define TYPES_SRC(X)                                                                               \
    X(EEM_DT_UINT8, uint8_t, u8)                                                                   \
    X(EEM_DT_INT8, int8_t, i8)                                                                     \
    X(EEM_DT_UINT16, uint16_t, u16)                                                                \
    X(EEM_DT_INT16, int16_t, i16)                                                                  \
    X(EEM_DT_UINT32, uint32_t, u32)                                                                \
    X(EEM_DT_INT32, int32_t, i32)                                                                  \
    X(EEM_DT_UINT64, uint64_t, u64)                                                                \
    X(EEM_DT_INT64, int64_t, i64)                                                                  \
    X(EEM_DT_FLOAT16, uint16_t, f16)                                                               \
    X(EEM_DT_BFLOAT16, uint16_t, bf16)                                                             \
    X(EEM_DT_FLOAT32, float, f32)                                                                  \
    X(EEM_DT_FLOAT64, double, f64)
#define TYPES_DST(X)                                                                               \
    X(EEM_DT_UINT8, uint8_t, u8)                                                                   \
    X(EEM_DT_INT8, int8_t, i8)                                                                     \
    X(EEM_DT_UINT16, uint16_t, u16)                                                                \
    X(EEM_DT_INT16, int16_t, i16)                                                                  \
    X(EEM_DT_UINT32, uint32_t, u32)                                                                \
    X(EEM_DT_INT32, int32_t, i32)                                                                  \
    X(EEM_DT_UINT64, uint64_t, u64)                                                                \
    X(EEM_DT_INT64, int64_t, i64)                                                                  \
    X(EEM_DT_FLOAT16, uint16_t, f16)                                                               \
    X(EEM_DT_BFLOAT16, uint16_t, bf16)                                                             \
    X(EEM_DT_FLOAT32, float, f32)                                                                  \
    X(EEM_DT_FLOAT64, double, f64)

/* One function per source type, switching on the target type once; the loop
 * body for (source tag, target) is DST_CASE_FOR. */
#define DST_CASE_FOR(STAG, DENUM, DCTYPE, DTAG)                                                    \
    case DENUM: {                                                                                  \
        DCTYPE *d = (DCTYPE *)dst;                                                                 \
        for (size_t i = 0; i < n; i++)                                                             \
            d[i] = TO_##DTAG(LOAD_##STAG(s, i));                                                   \
        break;                                                                                     \
    }
#define DST_CASE_u8(E, C, T) DST_CASE_FOR(u8, E, C, T)
#define DST_CASE_i8(E, C, T) DST_CASE_FOR(i8, E, C, T)
#define DST_CASE_u16(E, C, T) DST_CASE_FOR(u16, E, C, T)
#define DST_CASE_i16(E, C, T) DST_CASE_FOR(i16, E, C, T)
#define DST_CASE_u32(E, C, T) DST_CASE_FOR(u32, E, C, T)
#define DST_CASE_i32(E, C, T) DST_CASE_FOR(i32, E, C, T)
#define DST_CASE_u64(E, C, T) DST_CASE_FOR(u64, E, C, T)
#define DST_CASE_i64(E, C, T) DST_CASE_FOR(i64, E, C, T)
#define DST_CASE_f16(E, C, T) DST_CASE_FOR(f16, E, C, T)
#define DST_CASE_bf16(E, C, T) DST_CASE_FOR(bf16, E, C, T)
#define DST_CASE_f32(E, C, T) DST_CASE_FOR(f32, E, C, T)
#define DST_CASE_f64(E, C, T) DST_CASE_FOR(f64, E, C, T)

#define SRC_FUNC(SENUM, SCTYPE, STAG)                                                              \
    static void convert_from_##STAG(const void *src, void *dst, eem_dtype dt, size_t n)            \
    {                                                                                              \
        const SCTYPE *s = (const SCTYPE *)src;                                                     \
        switch (dt) {                                                                              \
            TYPES_DST(DST_CASE_##STAG) default : break;                                            \
        }                                                                                          \
    }
TYPES_SRC(SRC_FUNC)

/* src and dst must not overlap unless st == dt. */
void eem_dtype_convert(const void *src, eem_dtype st, void *dst, eem_dtype dt, size_t n)
{
    if (!valid(st) || !valid(dt) || n == 0)
        return;
    if (st == dt) {
        if (src != dst)
            memmove(dst, src, n * infos[st].size);
        return;
    }
    switch (st) {
#define SRC_CASE(SENUM, SCTYPE, STAG)                                                              \
    case SENUM:                                                                                    \
        convert_from_##STAG(src, dst, dt, n);                                                      \
        break;
        TYPES_SRC(SRC_CASE)
#undef SRC_CASE
    default:
        break;
    }
}

/* Copy n elements of `size` bytes taken every `stride` elements. */
#define GATHER(CTYPE, src, stride, dst, n)                                                         \
    do {                                                                                           \
        const CTYPE *s_ = (const CTYPE *)(src);                                                    \
        CTYPE *d_ = (CTYPE *)(dst);                                                                \
        for (size_t i_ = 0; i_ < (n); i_++)                                                        \
            d_[i_] = s_[i_ * (stride)];                                                            \
    } while (0)

static void gather(const void *src, size_t size, size_t stride, void *dst, size_t n)
{
    switch (size) {
    case 1:
        GATHER(uint8_t, src, stride, dst, n);
        break;
    case 2:
        GATHER(uint16_t, src, stride, dst, n);
        break;
    case 4:
        GATHER(uint32_t, src, stride, dst, n);
        break;
    default:
        GATHER(uint64_t, src, stride, dst, n);
        break;
    }
}

#define EEM_DTYPE_GATHER_CHUNK 256 /* elements gathered on the stack before a conversion */

void eem_dtype_convert_strided(const void *src, eem_dtype st, size_t src_stride, void *dst,
                               eem_dtype dt, size_t n)
{
    if (!valid(st) || !valid(dt) || n == 0)
        return;
    if (src_stride <= 1) {
        eem_dtype_convert(src, st, dst, dt, n);
        return;
    }
    size_t ss = infos[st].size, ds = infos[dt].size;
    if (st == dt) { /* no conversion: a plain gather */
        gather(src, ss, src_stride, dst, n);
        return;
    }
    /* gather a chunk of source elements, then convert it as one run */
    uint64_t tmp[EEM_DTYPE_GATHER_CHUNK];
    const uint8_t *s = src;
    uint8_t *d = dst;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < EEM_DTYPE_GATHER_CHUNK ? n - done : EEM_DTYPE_GATHER_CHUNK;
        gather(s + done * src_stride * ss, ss, src_stride, tmp, k);
        eem_dtype_convert(tmp, st, d + done * ds, dt, k);
        done += k;
    }
}

double eem_dtype_get(const void *buf, eem_dtype t, size_t i)
{
    switch (t) {
#define GET_CASE(SENUM, SCTYPE, STAG)                                                              \
    case SENUM:                                                                                    \
        return (double)LOAD_##STAG((const SCTYPE *)buf, i);
        TYPES_SRC(GET_CASE)
#undef GET_CASE
    default:
        return 0.0;
    }
}
