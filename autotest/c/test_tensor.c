/* test_tensor.c — element types, conversions, base64 and TensorProto encode/decode. */
#include "check.h"

#include "buf.h"
#include "dtype.h"
#include "tensor.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_dtype_names(void)
{
    for (int t = EEM_DT_NONE + 1; t < EEM_DT_COUNT; t++) {
        eem_dtype d = (eem_dtype)t;
        CHECK_EQ_INT(eem_dtype_from_name(eem_dtype_name(d)), d);
        CHECK_EQ_INT(eem_dtype_from_tf(eem_dtype_to_tf(d)), d);
        CHECK(eem_dtype_to_tf(d) > 0);
        CHECK_CONTAINS(eem_dtype_accepted_names(), eem_dtype_name(d));
    }
    CHECK_EQ_INT(eem_dtype_from_name("BYTE"), EEM_DT_UINT8);
    CHECK_EQ_INT(eem_dtype_from_name("Float"), EEM_DT_FLOAT32);
    CHECK_EQ_INT(eem_dtype_from_name("double"), EEM_DT_FLOAT64);
    CHECK_EQ_INT(eem_dtype_from_name("half"), EEM_DT_FLOAT16);
    CHECK_EQ_INT(eem_dtype_from_name("int"), EEM_DT_INT32);
    CHECK_EQ_INT(eem_dtype_from_name("long"), EEM_DT_INT64);
    CHECK_EQ_INT(eem_dtype_from_name("complex64"), EEM_DT_NONE);
    CHECK_EQ_INT(eem_dtype_from_name(""), EEM_DT_NONE);
    CHECK_EQ_INT(eem_dtype_from_name(NULL), EEM_DT_NONE);
    CHECK(strcmp(eem_dtype_name(EEM_DT_NONE), "none") == 0);

    CHECK_EQ_INT(eem_dtype_to_tf(EEM_DT_FLOAT32), 1);
    CHECK_EQ_INT(eem_dtype_to_tf(EEM_DT_FLOAT64), 2);
    CHECK_EQ_INT(eem_dtype_to_tf(EEM_DT_INT32), 3);
    CHECK_EQ_INT(eem_dtype_to_tf(EEM_DT_UINT8), 4);
    CHECK_EQ_INT(eem_dtype_to_tf(EEM_DT_INT16), 5);
    CHECK_EQ_INT(eem_dtype_to_tf(EEM_DT_INT8), 6);
    CHECK_EQ_INT(eem_dtype_to_tf(EEM_DT_INT64), 9);
    CHECK_EQ_INT(eem_dtype_to_tf(EEM_DT_BFLOAT16), 14);
    CHECK_EQ_INT(eem_dtype_to_tf(EEM_DT_UINT16), 17);
    CHECK_EQ_INT(eem_dtype_to_tf(EEM_DT_FLOAT16), 19);
    CHECK_EQ_INT(eem_dtype_to_tf(EEM_DT_UINT32), 22);
    CHECK_EQ_INT(eem_dtype_to_tf(EEM_DT_UINT64), 23);
    CHECK_EQ_INT(eem_dtype_from_tf(7), EEM_DT_NONE); /* DT_STRING */
    CHECK_EQ_INT(eem_dtype_from_tf(0), EEM_DT_NONE);

    CHECK_EQ_INT(eem_dtype_size(EEM_DT_UINT8), 1);
    CHECK_EQ_INT(eem_dtype_size(EEM_DT_INT16), 2);
    CHECK_EQ_INT(eem_dtype_size(EEM_DT_FLOAT16), 2);
    CHECK_EQ_INT(eem_dtype_size(EEM_DT_BFLOAT16), 2);
    CHECK_EQ_INT(eem_dtype_size(EEM_DT_UINT32), 4);
    CHECK_EQ_INT(eem_dtype_size(EEM_DT_FLOAT64), 8);
    CHECK_EQ_INT(eem_dtype_size(EEM_DT_INT64), 8);
    CHECK_EQ_INT(eem_dtype_size(EEM_DT_NONE), 0);
    CHECK(eem_dtype_is_float(EEM_DT_BFLOAT16));
    CHECK(eem_dtype_is_float(EEM_DT_FLOAT32));
    CHECK(!eem_dtype_is_float(EEM_DT_INT32));
}

static void test_convert_integers(void)
{
    /* rounding half away from zero, clamping, NaN -> 0 */
    double d[] = {2.5,   -2.5,  0.49999999999999994, 1.5, -0.5, NAN, 1e300, -1e300, 127.4,
                  126.6, -128.7};
    int8_t i8[11];
    eem_dtype_convert(d, EEM_DT_FLOAT64, i8, EEM_DT_INT8, 11);
    int8_t want_i8[] = {3, -3, 0, 2, -1, 0, 127, -128, 127, 127, -128};
    for (int i = 0; i < 11; i++)
        CHECK_EQ_INT(i8[i], want_i8[i]);

    float f[] = {-3.0f, 0.5f, 254.5f, 255.49f, 1000.0f, NAN, INFINITY, -INFINITY};
    uint8_t u8[8];
    eem_dtype_convert(f, EEM_DT_FLOAT32, u8, EEM_DT_UINT8, 8);
    uint8_t want_u8[] = {0, 1, 255, 255, 255, 0, 255, 0};
    for (int i = 0; i < 8; i++)
        CHECK_EQ_INT(u8[i], want_u8[i]);

    double big[] = {9.3e18, -9.3e18, 1.8e19, 2e19, -1.0, 4294967295.4, 4294967295.6};
    int64_t i64[7];
    uint64_t u64[7];
    uint32_t u32[7];
    eem_dtype_convert(big, EEM_DT_FLOAT64, i64, EEM_DT_INT64, 7);
    eem_dtype_convert(big, EEM_DT_FLOAT64, u64, EEM_DT_UINT64, 7);
    eem_dtype_convert(big, EEM_DT_FLOAT64, u32, EEM_DT_UINT32, 7);
    CHECK(i64[0] == INT64_MAX);
    CHECK(i64[1] == INT64_MIN);
    CHECK(u64[2] == 18000000000000000000ULL);
    CHECK(u64[3] == UINT64_MAX);
    CHECK(u64[4] == 0);
    CHECK(u32[5] == UINT32_MAX);
    CHECK(u32[6] == UINT32_MAX);
    CHECK(i64[5] == 4294967295LL);
    CHECK(i64[6] == 4294967296LL);

    /* integer -> integer clamps, keeps exact 64-bit values */
    uint64_t uv[] = {UINT64_MAX, 5, 300};
    int64_t iv[3];
    int16_t i16[3];
    uint8_t u8b[3];
    eem_dtype_convert(uv, EEM_DT_UINT64, iv, EEM_DT_INT64, 3);
    eem_dtype_convert(uv, EEM_DT_UINT64, i16, EEM_DT_INT16, 3);
    eem_dtype_convert(uv, EEM_DT_UINT64, u8b, EEM_DT_UINT8, 3);
    CHECK(iv[0] == INT64_MAX);
    CHECK(iv[1] == 5);
    CHECK_EQ_INT(i16[0], 32767);
    CHECK_EQ_INT(i16[2], 300);
    CHECK_EQ_INT(u8b[2], 255);
    int64_t sv[] = {INT64_MIN, -1, 9007199254740993LL};
    uint16_t u16[3];
    uint64_t u64b[3];
    int64_t i64b[3];
    eem_dtype_convert(sv, EEM_DT_INT64, u16, EEM_DT_UINT16, 3);
    eem_dtype_convert(sv, EEM_DT_INT64, u64b, EEM_DT_UINT64, 3);
    eem_dtype_convert(sv, EEM_DT_INT64, i64b, EEM_DT_INT64, 3);
    CHECK_EQ_INT(u16[0], 0);
    CHECK_EQ_INT(u16[1], 0);
    CHECK_EQ_INT(u16[2], 65535);
    CHECK(u64b[1] == 0);
    CHECK(i64b[2] == 9007199254740993LL); /* same type: bit-exact copy */

    /* to float */
    int16_t s16[] = {-32768, 0, 32767};
    float fo[3];
    double dd[3];
    eem_dtype_convert(s16, EEM_DT_INT16, fo, EEM_DT_FLOAT32, 3);
    eem_dtype_convert(s16, EEM_DT_INT16, dd, EEM_DT_FLOAT64, 3);
    CHECK(fo[0] == -32768.0f && fo[2] == 32767.0f);
    CHECK(dd[0] == -32768.0 && dd[2] == 32767.0);
    uint8_t bytes[] = {0, 128, 255};
    eem_dtype_convert(bytes, EEM_DT_UINT8, fo, EEM_DT_FLOAT32, 3);
    CHECK(fo[1] == 128.0f && fo[2] == 255.0f);
    CHECK_NEAR(eem_dtype_get(bytes, EEM_DT_UINT8, 2), 255, 0);
    CHECK_NEAR(eem_dtype_get(s16, EEM_DT_INT16, 0), -32768, 0);

    /* n == 0 and NONE types are no-ops */
    uint8_t untouched = 7;
    eem_dtype_convert(d, EEM_DT_FLOAT64, &untouched, EEM_DT_UINT8, 0);
    eem_dtype_convert(d, EEM_DT_NONE, &untouched, EEM_DT_UINT8, 1);
    CHECK_EQ_INT(untouched, 7);
}

static void test_convert_half(void)
{
    uint16_t h[] = {0x3C00, 0x7C00, 0xFC00, 0x0001, 0x03FF, 0x0400,
                    0x7BFF, 0xC000, 0x8000, 0x7E00, 0x3555};
    float f[11];
    eem_dtype_convert(h, EEM_DT_FLOAT16, f, EEM_DT_FLOAT32, 11);
    CHECK(f[0] == 1.0f);
    CHECK(isinf(f[1]) && f[1] > 0);
    CHECK(isinf(f[2]) && f[2] < 0);
    CHECK(f[3] == ldexpf(1.0f, -24));
    CHECK(f[4] == ldexpf(1023.0f, -24));
    CHECK(f[5] == ldexpf(1.0f, -14));
    CHECK(f[6] == 65504.0f);
    CHECK(f[7] == -2.0f);
    CHECK(f[8] == 0.0f && signbit(f[8]));
    CHECK(isnan(f[9]));
    CHECK_NEAR(f[10], 0.33325195f, 1e-8);
    CHECK_NEAR(eem_dtype_get(h, EEM_DT_FLOAT16, 0), 1.0, 0);

    /* encode: exact values, rounding to nearest even, overflow, subnormals */
    float src[] = {1.0f,
                   -2.0f,
                   65504.0f,
                   65519.0f,
                   65520.0f,
                   1e9f,
                   ldexpf(1.0f, -24),
                   ldexpf(1.0f, -25),
                   ldexpf(3.0f, -26),
                   1.0f + ldexpf(1.0f, -11),
                   1.0f + ldexpf(3.0f, -11),
                   NAN,
                   -INFINITY,
                   -0.0f,
                   ldexpf(1.0f, -14),
                   0.1f};
    uint16_t want[] = {0x3C00, 0xC000, 0x7BFF, 0x7BFF, 0x7C00, 0x7C00, 0x0001, 0x0000,
                       0x0001, 0x3C00, 0x3C02, 0x7E00, 0xFC00, 0x8000, 0x0400, 0x2E66};
    size_t n = sizeof src / sizeof src[0];
    uint16_t out[16];
    eem_dtype_convert(src, EEM_DT_FLOAT32, out, EEM_DT_FLOAT16, n);
    for (size_t i = 0; i < n; i++) {
        if (i == 11)
            CHECK((out[i] & 0x7C00) == 0x7C00 && (out[i] & 0x03FF) != 0);
        else if (out[i] != want[i]) {
            fprintf(stderr, "half encode %zu: %g -> %04x, want %04x\n", i, src[i], out[i], want[i]);
            CHECK(0);
        } else
            CHECK(1);
    }
    /* every finite half round-trips through float32 and float64 */
    int bad = 0;
    for (uint32_t b = 0; b < 0x10000; b++) {
        uint16_t hb = (uint16_t)b, back = 0, back2 = 0;
        float fv;
        double dv;
        if ((hb & 0x7C00) == 0x7C00 && (hb & 0x3FF))
            continue;
        eem_dtype_convert(&hb, EEM_DT_FLOAT16, &fv, EEM_DT_FLOAT32, 1);
        eem_dtype_convert(&fv, EEM_DT_FLOAT32, &back, EEM_DT_FLOAT16, 1);
        eem_dtype_convert(&hb, EEM_DT_FLOAT16, &dv, EEM_DT_FLOAT64, 1);
        eem_dtype_convert(&dv, EEM_DT_FLOAT64, &back2, EEM_DT_FLOAT16, 1);
        bad += back != hb || back2 != hb;
    }
    CHECK_EQ_INT(bad, 0);
    /* the float32 fast path and the float64 path encode alike across all float classes */
    enum { SAMPLES = 1 << 16 };
    static float fs[SAMPLES];
    static double ds[SAMPLES];
    static uint16_t via_f[SAMPLES], via_d[SAMPLES];
    for (uint32_t i = 0; i < SAMPLES; i++) {
        uint32_t u = i * 65537u + 12345u;
        memcpy(&fs[i], &u, 4);
    }
    eem_dtype_convert(fs, EEM_DT_FLOAT32, via_f, EEM_DT_FLOAT16, SAMPLES);
    eem_dtype_convert(fs, EEM_DT_FLOAT32, ds, EEM_DT_FLOAT64, SAMPLES);
    eem_dtype_convert(ds, EEM_DT_FLOAT64, via_d, EEM_DT_FLOAT16, SAMPLES);
    CHECK(memcmp(via_f, via_d, sizeof via_f) == 0);
    eem_dtype_convert(fs, EEM_DT_FLOAT32, via_f, EEM_DT_BFLOAT16, SAMPLES);
    eem_dtype_convert(ds, EEM_DT_FLOAT64, via_d, EEM_DT_BFLOAT16, SAMPLES);
    CHECK(memcmp(via_f, via_d, sizeof via_f) == 0);
    /* integers to half */
    int32_t iv[] = {1, 2049, 100000};
    uint16_t hv[3];
    eem_dtype_convert(iv, EEM_DT_INT32, hv, EEM_DT_FLOAT16, 3);
    CHECK_EQ_INT(hv[0], 0x3C00);
    CHECK_EQ_INT(hv[1], 0x6800); /* 2049 ties to even 2048 */
    CHECK_EQ_INT(hv[2], 0x7C00);
    /* half to integer rounds */
    uint16_t h25[] = {0x4100 /* 2.5 */, 0xFC00};
    int32_t i2[2];
    eem_dtype_convert(h25, EEM_DT_FLOAT16, i2, EEM_DT_INT32, 2);
    CHECK_EQ_INT(i2[0], 3);
    CHECK_EQ_INT(i2[1], INT32_MIN);
}

static void test_convert_bfloat16(void)
{
    uint16_t b[] = {0x3F80, 0xC000, 0x7F80, 0x0001, 0x7FC0};
    float f[5];
    eem_dtype_convert(b, EEM_DT_BFLOAT16, f, EEM_DT_FLOAT32, 5);
    CHECK(f[0] == 1.0f);
    CHECK(f[1] == -2.0f);
    CHECK(isinf(f[2]));
    CHECK(f[3] == ldexpf(1.0f, -133));
    CHECK(isnan(f[4]));

    float src[] = {1.0f,   1.0f + ldexpf(1.0f, -8), 1.0f + ldexpf(3.0f, -8), 3.4e38f, NAN, -1.5f,
                   FLT_MAX};
    uint16_t want[] = {0x3F80, 0x3F80, 0x3F82, 0x7F80, 0x7FC0, 0xBFC0, 0x7F80};
    uint16_t out[7];
    double dsrc[7];
    uint16_t out2[7];
    eem_dtype_convert(src, EEM_DT_FLOAT32, out, EEM_DT_BFLOAT16, 7);
    eem_dtype_convert(src, EEM_DT_FLOAT32, dsrc, EEM_DT_FLOAT64, 7);
    eem_dtype_convert(dsrc, EEM_DT_FLOAT64, out2, EEM_DT_BFLOAT16, 7);
    for (int i = 0; i < 7; i++) {
        if (i == 4) {
            CHECK((out[i] & 0x7F80) == 0x7F80 && (out[i] & 0x7F));
            CHECK((out2[i] & 0x7F80) == 0x7F80 && (out2[i] & 0x7F));
        } else {
            CHECK_EQ_INT(out[i], want[i]);
            CHECK_EQ_INT(out2[i], want[i]); /* the double path agrees */
        }
    }
    /* half <-> bfloat16 */
    uint16_t h1 = 0x3C00, bf = 0;
    eem_dtype_convert(&h1, EEM_DT_FLOAT16, &bf, EEM_DT_BFLOAT16, 1);
    CHECK_EQ_INT(bf, 0x3F80);
}

/* ---- base64 ---- */

static void test_base64(void)
{
    uint8_t data[64];
    for (int i = 0; i < 64; i++)
        data[i] = (uint8_t)(i * 37 + 11);
    int failures = 0;
    for (size_t len = 0; len <= 64; len++) {
        char *text = NULL;
        size_t tlen = 0;
        uint8_t *back = NULL;
        size_t blen = 0;
        eem_error err = {0};
        if (eem_base64_encode(data, len, &text, &tlen) != EEM_OK) {
            failures++;
            continue;
        }
        failures += tlen != (len + 2) / 3 * 4 || strlen(text) != tlen;
        failures += eem_base64_decode(text, tlen, &back, &blen, &err) != EEM_OK;
        failures += blen != len || (len && memcmp(back, data, len) != 0);
        free(back);
        back = NULL;
        /* unpadded and URL-safe forms decode to the same bytes */
        size_t unpadded = tlen;
        while (unpadded && text[unpadded - 1] == '=')
            unpadded--;
        for (size_t i = 0; i < unpadded; i++)
            text[i] = text[i] == '+' ? '-' : text[i] == '/' ? '_' : text[i];
        failures += eem_base64_decode(text, unpadded, &back, &blen, &err) != EEM_OK;
        failures += blen != len || (len && memcmp(back, data, len) != 0);
        free(back);
        free(text);
    }
    CHECK_EQ_INT(failures, 0);

    char *t = NULL;
    size_t tl = 0;
    CHECK_EQ_INT(eem_base64_encode((const uint8_t *)"foobar", 6, &t, &tl), EEM_OK);
    CHECK(strcmp(t, "Zm9vYmFy") == 0);
    free(t);
    CHECK_EQ_INT(eem_base64_encode((const uint8_t *)"fo", 2, &t, &tl), EEM_OK);
    CHECK(strcmp(t, "Zm8=") == 0);
    free(t);
    uint8_t ff[] = {0xFB, 0xFF, 0xBF};
    CHECK_EQ_INT(eem_base64_encode(ff, 3, &t, &tl), EEM_OK);
    CHECK(strcmp(t, "+/+/") == 0);
    free(t);

    uint8_t *out = NULL;
    size_t ol = 0;
    eem_error err = {0};
    CHECK_EQ_INT(eem_base64_decode("-_-_", 4, &out, &ol, &err), EEM_OK);
    CHECK(ol == 3 && memcmp(out, ff, 3) == 0);
    free(out);

    CHECK_EQ_INT(eem_base64_decode("Zm9v!mFy", 8, &out, &ol, &err), EEM_ERR_PROTOCOL);
    CHECK(out == NULL);
    CHECK_CONTAINS(err.msg, "offset 4");
    CHECK_CONTAINS(err.msg, "'!'");
    CHECK_EQ_INT(eem_base64_decode("Zm9vY", 5, &out, &ol, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "5 characters");
    CHECK_EQ_INT(eem_base64_decode("Zm8==", 5, &out, &ol, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "multiple of 4");
    CHECK_EQ_INT(eem_base64_decode("Zm=9", 4, &out, &ol, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "offset 2");
    CHECK_EQ_INT(eem_base64_decode("Zm9v Ym8", 8, &out, &ol, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "offset 4");
    CHECK_EQ_INT(eem_base64_decode("A===", 4, &out, &ol, &err), EEM_ERR_PROTOCOL);
    CHECK_EQ_INT(eem_base64_decode("", 0, &out, &ol, &err), EEM_OK);
    CHECK_EQ_INT(ol, 0);
    free(out);

    /* eem_buf_base64 appends */
    eem_buf b = {0};
    eem_buf_puts(&b, "x=");
    eem_buf_base64(&b, "hello", 5);
    CHECK(strcmp(b.data, "x=aGVsbG8=") == 0);
    eem_buf_free(&b);
}

/* ---- TensorProto ---- */

static void fill_pattern(eem_tensor *t)
{
    size_t n = eem_tensor_count(t);
    double *vals = malloc(n * sizeof *vals);
    for (size_t i = 0; i < n; i++)
        vals[i] = (double)((i * 7) % 50) - 10.5 * (i % 2);
    eem_dtype_convert(vals, EEM_DT_FLOAT64, t->data, t->type, n);
    free(vals);
}

static void test_roundtrip_all_types(void)
{
    int64_t dims[3] = {5, 4, 3};
    for (int ty = EEM_DT_NONE + 1; ty < EEM_DT_COUNT; ty++) {
        eem_tensor *t = eem_tensor_new((eem_dtype)ty, 3, dims);
        CHECK(t != NULL);
        if (!t)
            continue;
        fill_pattern(t);
        uint8_t *bytes = NULL;
        size_t len = 0;
        eem_error err = {0};
        CHECK_EQ_INT(eem_tensorproto_encode(t, &bytes, &len, &err), EEM_OK);
        CHECK_EQ_INT(bytes[0], 0x08);
        CHECK_EQ_INT(bytes[1], eem_dtype_to_tf((eem_dtype)ty));
        eem_tensor *back = NULL;
        CHECK_EQ_INT(eem_tensorproto_decode(bytes, len, 60, &back, &err), EEM_OK);
        if (back) {
            CHECK_EQ_INT(back->type, ty);
            CHECK_EQ_INT(back->ndim, 3);
            CHECK(back->dims[0] == 5 && back->dims[1] == 4 && back->dims[2] == 3);
            CHECK(memcmp(back->data, t->data, eem_tensor_nbytes(t)) == 0);
        }
        eem_tensor_free(back);
        /* one element fewer allowed than needed: refused before allocating */
        CHECK_EQ_INT(eem_tensorproto_decode(bytes, len, 59, &back, &err), EEM_ERR_PROTOCOL);
        CHECK(back == NULL);
        CHECK_CONTAINS(err.msg, "60 elements");
        free(bytes);
        eem_tensor_free(t);
    }
    /* scalar and empty tensors */
    eem_tensor *s = eem_tensor_new(EEM_DT_FLOAT64, 0, NULL);
    CHECK(s && eem_tensor_count(s) == 1 && eem_tensor_nbytes(s) == 8);
    ((double *)s->data)[0] = 3.25;
    uint8_t *bytes = NULL;
    size_t len = 0;
    eem_error err = {0};
    eem_tensor *back = NULL;
    CHECK_EQ_INT(eem_tensorproto_encode(s, &bytes, &len, &err), EEM_OK);
    CHECK_EQ_INT(eem_tensorproto_decode(bytes, len, 0, &back, &err), EEM_OK);
    CHECK(back && back->ndim == 0 && ((double *)back->data)[0] == 3.25);
    eem_tensor_free(back);
    eem_tensor_free(s);
    free(bytes);
    int64_t zdims[2] = {0, 7};
    eem_tensor *z = eem_tensor_new(EEM_DT_INT16, 2, zdims);
    CHECK(z && eem_tensor_count(z) == 0);
    CHECK_EQ_INT(eem_tensorproto_encode(z, &bytes, &len, &err), EEM_OK);
    back = NULL;
    CHECK_EQ_INT(eem_tensorproto_decode(bytes, len, 0, &back, &err), EEM_OK);
    CHECK(back && back->ndim == 2 && back->dims[0] == 0 && back->dims[1] == 7);
    eem_tensor_free(back);
    eem_tensor_free(z);
    free(bytes);

    /* bad shapes are refused by eem_tensor_new */
    int64_t neg[2] = {3, -1};
    CHECK(eem_tensor_new(EEM_DT_FLOAT32, 2, neg) == NULL);
    int64_t huge[2] = {INT64_MAX, INT64_MAX};
    CHECK(eem_tensor_new(EEM_DT_FLOAT32, 2, huge) == NULL);
    CHECK(eem_tensor_new(EEM_DT_NONE, 0, NULL) == NULL);
    CHECK(eem_tensor_new(EEM_DT_FLOAT32, EEM_TENSOR_MAX_DIMS + 1, huge) == NULL);
}

/* protocols.md 5.3: DT_FLOAT [2,3] 1..6 via tensor_content. */
static void test_worked_examples(void)
{
    uint8_t msg[64] = {0x08, 0x01, 0x12, 0x08, 0x12, 0x02, 0x08,
                       0x02, 0x12, 0x02, 0x08, 0x03, 0x22, 0x18};
    float vals[6] = {1, 2, 3, 4, 5, 6};
    memcpy(msg + 14, vals, 24);
    CHECK(msg[14] == 0x00 && msg[16] == 0x80 && msg[17] == 0x3f); /* 1.0f little-endian */
    eem_tensor *t = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_tensorproto_decode(msg, 38, 0, &t, &err), EEM_OK);
    CHECK(t && t->type == EEM_DT_FLOAT32 && t->ndim == 2 && t->dims[0] == 2 && t->dims[1] == 3);
    if (t)
        for (int i = 0; i < 6; i++)
            CHECK(((float *)t->data)[i] == (float)(i + 1));
    /* our encoder produces exactly these bytes */
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    CHECK_EQ_INT(eem_tensorproto_encode(t, &enc, &enc_len, &err), EEM_OK);
    CHECK_EQ_INT(enc_len, 38);
    CHECK(enc && memcmp(enc, msg, 38) == 0);
    free(enc);
    eem_tensor_free(t);

    /* tensor_content with the wrong length */
    uint8_t shortmsg[64];
    memcpy(shortmsg, msg, 38);
    shortmsg[13] = 0x14; /* 20 bytes */
    t = NULL;
    CHECK_EQ_INT(eem_tensorproto_decode(shortmsg, 34, 0, &t, &err), EEM_ERR_PROTOCOL);
    CHECK(t == NULL);
    CHECK_CONTAINS(err.msg, "tensor_content has 20 bytes, shape [2,3] float32 needs 24");

    /* 256x256 of 0.5 via a single broadcast float_val */
    const uint8_t bc[] = {0x08, 0x01, 0x12, 0x0a, 0x12, 0x03, 0x08, 0x80, 0x02, 0x12,
                          0x03, 0x08, 0x80, 0x02, 0x2a, 0x04, 0x00, 0x00, 0x00, 0x3f};
    CHECK_EQ_INT(eem_tensorproto_decode(bc, sizeof bc, 256 * 256, &t, &err), EEM_OK);
    CHECK(t && t->dims[0] == 256 && t->dims[1] == 256);
    if (t) {
        int wrong = 0;
        for (size_t i = 0; i < 65536; i++)
            wrong += ((float *)t->data)[i] != 0.5f;
        CHECK_EQ_INT(wrong, 0);
    }
    eem_tensor_free(t);
    t = NULL;
    CHECK_EQ_INT(eem_tensorproto_decode(bc, sizeof bc, 1000, &t, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "65536 elements");
    CHECK(t == NULL);

    /* not a protobuf at all / truncated */
    CHECK_EQ_INT(eem_tensorproto_decode(bc, 5, 0, &t, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "TensorProto");
    const uint8_t str[] = {0x08, 0x07};
    CHECK_EQ_INT(eem_tensorproto_decode(str, 2, 0, &t, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "dtype 7");
    const uint8_t negdim[] = {0x08, 0x01, 0x12, 0x0d, 0x12, 0x0b, 0x08, 0xff, 0xff,
                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    CHECK_EQ_INT(eem_tensorproto_decode(negdim, sizeof negdim, 0, &t, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "size -1");
    /* a huge declared shape with no data is refused without allocating */
    const uint8_t hugedim[] = {0x08, 0x01, 0x12, 0x0c, 0x12, 0x0a, 0x08, 0xff,
                               0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    CHECK_EQ_INT(eem_tensorproto_decode(hugedim, sizeof hugedim, 0, &t, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "too large");
    CHECK(t == NULL);
}

/* Hand-encode a TensorProto with shape [n] and a packed typed field. */
static size_t typed_proto(uint8_t *p, int tf, int n, int field, const uint8_t *payload, size_t plen)
{
    size_t k = 0;
    p[k++] = 0x08;
    p[k++] = (uint8_t)tf;
    p[k++] = 0x12;
    p[k++] = 0x04;
    p[k++] = 0x12;
    p[k++] = 0x02;
    p[k++] = 0x08;
    p[k++] = (uint8_t)n;
    if (field >= 16) {
        p[k++] = (uint8_t)(((field << 3) | 2) | 0x80);
        p[k++] = (uint8_t)(field >> 4);
    } else {
        p[k++] = (uint8_t)((field << 3) | 2);
    }
    p[k++] = (uint8_t)plen;
    if (plen)
        memcpy(p + k, payload, plen);
    return k + plen;
}

static void test_typed_fields(void)
{
    uint8_t msg[128];
    eem_tensor *t = NULL;
    eem_error err = {0};

    /* int_val {3, 200} for uint8 [5]: 3, 200, 200, 200, 200 */
    const uint8_t iv[] = {0x03, 0xc8, 0x01};
    size_t len = typed_proto(msg, 4, 5, 7, iv, sizeof iv);
    CHECK_EQ_INT(eem_tensorproto_decode(msg, len, 0, &t, &err), EEM_OK);
    if (t) {
        const uint8_t *d = t->data;
        CHECK(d[0] == 3 && d[1] == 200 && d[4] == 200);
    }
    eem_tensor_free(t);
    /* same int_val as int16 */
    len = typed_proto(msg, 5, 3, 7, iv, sizeof iv);
    CHECK_EQ_INT(eem_tensorproto_decode(msg, len, 0, &t, &err), EEM_OK);
    if (t)
        CHECK(((int16_t *)t->data)[0] == 3 && ((int16_t *)t->data)[2] == 200);
    eem_tensor_free(t);

    /* unpacked int_val (two separate varint fields) for int32 [3] */
    const uint8_t unpacked[] = {0x08, 0x03, 0x12, 0x04, 0x12, 0x02,
                                0x08, 0x03, 0x38, 0x07, 0x38, 0x09};
    CHECK_EQ_INT(eem_tensorproto_decode(unpacked, sizeof unpacked, 0, &t, &err), EEM_OK);
    if (t)
        CHECK(((int32_t *)t->data)[0] == 7 && ((int32_t *)t->data)[1] == 9 &&
              ((int32_t *)t->data)[2] == 9);
    eem_tensor_free(t);

    /* no values at all: zeros */
    len = typed_proto(msg, 2, 4, 6, NULL, 0);
    CHECK_EQ_INT(eem_tensorproto_decode(msg, len, 0, &t, &err), EEM_OK);
    if (t)
        CHECK(((double *)t->data)[0] == 0.0 && ((double *)t->data)[3] == 0.0);
    eem_tensor_free(t);

    /* double_val {1.5} broadcast to [3] */
    double one5 = 1.5;
    len = typed_proto(msg, 2, 3, 6, (const uint8_t *)&one5, 8);
    CHECK_EQ_INT(eem_tensorproto_decode(msg, len, 0, &t, &err), EEM_OK);
    if (t)
        CHECK(((double *)t->data)[2] == 1.5);
    eem_tensor_free(t);

    /* more values than elements: the first N are used */
    float fv[4] = {1, 2, 3, 4};
    len = typed_proto(msg, 1, 2, 5, (const uint8_t *)fv, 16);
    CHECK_EQ_INT(eem_tensorproto_decode(msg, len, 0, &t, &err), EEM_OK);
    if (t)
        CHECK(((float *)t->data)[0] == 1 && ((float *)t->data)[1] == 2);
    eem_tensor_free(t);

    /* half_val for DT_HALF and DT_BFLOAT16 (16-bit patterns in int32 varints) */
    const uint8_t hv[] = {0x80, 0xf8, 0x00}; /* 0x3C00 */
    len = typed_proto(msg, 19, 2, 13, hv, sizeof hv);
    CHECK_EQ_INT(eem_tensorproto_decode(msg, len, 0, &t, &err), EEM_OK);
    if (t) {
        CHECK_EQ_INT(t->type, EEM_DT_FLOAT16);
        CHECK_EQ_INT(((uint16_t *)t->data)[1], 0x3C00);
        CHECK_NEAR(eem_dtype_get(t->data, t->type, 1), 1.0, 0);
    }
    eem_tensor_free(t);
    const uint8_t bv[] = {0x80, 0xff, 0x00}; /* 0x3F80 */
    len = typed_proto(msg, 14, 2, 13, bv, sizeof bv);
    CHECK_EQ_INT(eem_tensorproto_decode(msg, len, 0, &t, &err), EEM_OK);
    if (t) {
        CHECK_EQ_INT(t->type, EEM_DT_BFLOAT16);
        CHECK_NEAR(eem_dtype_get(t->data, t->type, 0), 1.0, 0);
    }
    eem_tensor_free(t);

    /* int64_val, uint32_val (field 16), uint64_val (field 17) */
    const uint8_t i64v[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}; /* -1 */
    len = typed_proto(msg, 9, 2, 10, i64v, sizeof i64v);
    CHECK_EQ_INT(eem_tensorproto_decode(msg, len, 0, &t, &err), EEM_OK);
    if (t)
        CHECK(((int64_t *)t->data)[1] == -1);
    eem_tensor_free(t);
    const uint8_t u32v[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    len = typed_proto(msg, 22, 2, 16, u32v, sizeof u32v);
    CHECK_EQ_INT(eem_tensorproto_decode(msg, len, 0, &t, &err), EEM_OK);
    if (t)
        CHECK(((uint32_t *)t->data)[1] == UINT32_MAX);
    eem_tensor_free(t);
    len = typed_proto(msg, 23, 2, 17, i64v, sizeof i64v);
    CHECK_EQ_INT(eem_tensorproto_decode(msg, len, 0, &t, &err), EEM_OK);
    if (t)
        CHECK(((uint64_t *)t->data)[0] == UINT64_MAX);
    eem_tensor_free(t);
}

/* ---- strided conversion (one channel of an interleaved row) ---- */

static void test_convert_strided(void)
{
    enum { N = 300, STRIDE = 3 }; /* more than one gather chunk of 256 */
    static const eem_dtype types[] = {EEM_DT_UINT8,   EEM_DT_INT8,    EEM_DT_UINT16,
                                      EEM_DT_INT16,   EEM_DT_UINT32,  EEM_DT_INT32,
                                      EEM_DT_UINT64,  EEM_DT_INT64,   EEM_DT_FLOAT16,
                                      EEM_DT_BFLOAT16, EEM_DT_FLOAT32, EEM_DT_FLOAT64};
    int n_types = (int)(sizeof types / sizeof types[0]);
    int failures = 0;
    for (int a = 0; a < n_types; a++) {
        size_t ss = eem_dtype_size(types[a]);
        uint8_t *src = malloc(N * STRIDE * ss);
        /* values -60..+60 and fractions, as doubles converted to the source type */
        for (size_t i = 0; i < (size_t)N * STRIDE; i++) {
            double v = ((double)(i % 121) - 60.0) * 1.25;
            eem_dtype_convert(&v, EEM_DT_FLOAT64, src + i * ss, types[a], 1);
        }
        for (int b = 0; b < n_types; b++) {
            size_t ds = eem_dtype_size(types[b]);
            for (int ch = 0; ch < STRIDE; ch++) {
                uint8_t *got = calloc(N, ds), *want = calloc(N, ds);
                eem_dtype_convert_strided(src + ch * ss, types[a], STRIDE, got, types[b], N);
                for (size_t x = 0; x < N; x++)
                    eem_dtype_convert(src + (x * STRIDE + ch) * ss, types[a], want + x * ds,
                                      types[b], 1);
                if (memcmp(got, want, N * ds) != 0) {
                    failures++;
                    fprintf(stderr, "strided %s -> %s channel %d differs\n",
                            eem_dtype_name(types[a]), eem_dtype_name(types[b]), ch);
                }
                /* equal types: the exact bytes of the channel */
                if (a == b)
                    for (size_t x = 0; x < N; x++)
                        failures += memcmp(got + x * ds, src + (x * STRIDE + ch) * ss, ss) != 0;
                free(got);
                free(want);
            }
        }
        /* stride 1 is the plain conversion */
        uint8_t *one = calloc(N, 8), *plain = calloc(N, 8);
        eem_dtype_convert_strided(src, types[a], 1, one, EEM_DT_FLOAT64, N);
        eem_dtype_convert(src, types[a], plain, EEM_DT_FLOAT64, N);
        failures += memcmp(one, plain, N * 8) != 0;
        free(one);
        free(plain);
        free(src);
    }
    CHECK_EQ_INT(failures, 0);
}

/* ---- base64 into a reused buffer ---- */

static void test_base64_decode_buf(void)
{
    uint8_t data[300];
    for (int i = 0; i < 300; i++)
        data[i] = (uint8_t)(i * 53 + 7);
    eem_buf out = {0};
    eem_error err = {0};
    int failures = 0;
    /* long first, then shorter and longer again: the buffer is reused and grown */
    static const size_t lens[] = {300, 0, 1, 2, 3, 4, 5, 64, 299, 298, 17};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t len = lens[k];
        char *text = NULL;
        size_t tlen = 0;
        if (eem_base64_encode(data, len, &text, &tlen) != EEM_OK) {
            failures++;
            continue;
        }
        for (int form = 0; form < 3; form++) { /* padded, unpadded, URL-safe unpadded */
            size_t n = tlen;
            if (form >= 1)
                while (n && text[n - 1] == '=')
                    n--;
            if (form == 2)
                for (size_t i = 0; i < n; i++)
                    text[i] = text[i] == '+' ? '-' : text[i] == '/' ? '_' : text[i];
            failures += eem_base64_decode_buf(text, n, &out, &err) != EEM_OK;
            failures += out.len != len || (len && memcmp(out.data, data, len) != 0);
            failures += out.data && out.data[out.len] != '\0';
        }
        free(text);
    }
    CHECK_EQ_INT(failures, 0);
    CHECK(out.cap > 300); /* kept across calls */

    /* the same refusals and messages as eem_base64_decode */
    static const char *bad[] = {"Zm9v!mFy", "Zm9vY", "Zm8==", "Zm=9", "Zm9v Ym8", "A==="};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        eem_error e1 = {0}, e2 = {0};
        uint8_t *o = NULL;
        size_t ol = 0;
        eem_status s1 = eem_base64_decode(bad[k], strlen(bad[k]), &o, &ol, &e1);
        eem_status s2 = eem_base64_decode_buf(bad[k], strlen(bad[k]), &out, &e2);
        CHECK_EQ_INT(s1, EEM_ERR_PROTOCOL);
        CHECK_EQ_INT(s2, s1);
        CHECK(strcmp(e1.msg, e2.msg) == 0);
        free(o);
    }
    /* after a refusal the buffer decodes again */
    CHECK_EQ_INT(eem_base64_decode_buf("Zm9vYmFy", 8, &out, &err), EEM_OK);
    CHECK(out.len == 6 && memcmp(out.data, "foobar", 6) == 0);
    eem_buf_free(&out);
}

/* ---- TensorProto: the canonical reader and protobuf-c agree ---- */

/* Decode buf twice: as is, and with an unknown field (number 15, varint)
 * appended, which the canonical reader leaves to protobuf-c.  Both results
 * (status, message, tensor) must be equal. */
static int decode_both_ways(const uint8_t *buf, size_t len, size_t max_elements)
{
    uint8_t *alt = malloc(len + 2);
    memcpy(alt, buf, len);
    alt[len] = 0x78; /* field 15, varint */
    alt[len + 1] = 0x01;
    eem_tensor *a = NULL, *b = NULL;
    eem_error ea = {0}, eb = {0};
    eem_status sa = eem_tensorproto_decode(buf, len, max_elements, &a, &ea);
    eem_status sb = eem_tensorproto_decode(alt, len + 2, max_elements, &b, &eb);
    int same = sa == sb && strcmp(ea.msg, eb.msg) == 0 && !a == !b;
    if (same && a)
        same = a->type == b->type && a->ndim == b->ndim &&
               memcmp(a->dims, b->dims, sizeof a->dims) == 0 &&
               memcmp(a->data, b->data, eem_tensor_nbytes(a)) == 0;
    if (!same)
        fprintf(stderr, "canonical vs protobuf-c: %d \"%s\" / %d \"%s\"\n", sa, ea.msg, sb, eb.msg);
    eem_tensor_free(a);
    eem_tensor_free(b);
    free(alt);
    return same;
}

static void test_tensorproto_canonical(void)
{
    static const eem_dtype types[] = {EEM_DT_UINT8,   EEM_DT_INT8,    EEM_DT_UINT16,
                                      EEM_DT_INT16,   EEM_DT_UINT32,  EEM_DT_INT32,
                                      EEM_DT_UINT64,  EEM_DT_INT64,   EEM_DT_FLOAT16,
                                      EEM_DT_BFLOAT16, EEM_DT_FLOAT32, EEM_DT_FLOAT64};
    int failures = 0;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        int64_t dims[3] = {5, 7, 3};
        eem_tensor *t = eem_tensor_new(types[k], 3, dims);
        fill_pattern(t);
        uint8_t *enc = NULL;
        size_t len = 0;
        eem_error err = {0};
        if (eem_tensorproto_encode(t, &enc, &len, &err) != EEM_OK) {
            failures++;
            eem_tensor_free(t);
            continue;
        }
        eem_tensor *back = NULL;
        failures += eem_tensorproto_decode(enc, len, 0, &back, &err) != EEM_OK;
        failures += !back || back->type != t->type || back->ndim != 3 ||
                    memcmp(back->dims, t->dims, sizeof dims) != 0 ||
                    memcmp(back->data, t->data, eem_tensor_nbytes(t)) != 0;
        eem_tensor_free(back);
        failures += !decode_both_ways(enc, len, 0);
        failures += !decode_both_ways(enc, len, 50); /* too many elements: same message */
        free(enc);
        eem_tensor_free(t);
    }
    CHECK_EQ_INT(failures, 0);

    /* fields in another order (content first, then shape, then dtype) */
    const uint8_t reordered[] = {0x22, 0x02, 0x05, 0x06,             /* tensor_content */
                                 0x12, 0x04, 0x12, 0x02, 0x08, 0x02, /* shape [2] */
                                 0x08, 0x04};                        /* DT_UINT8 */
    eem_tensor *t = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_tensorproto_decode(reordered, sizeof reordered, 0, &t, &err), EEM_OK);
    CHECK(t && t->type == EEM_DT_UINT8 && t->ndim == 1 && t->dims[0] == 2 &&
          ((uint8_t *)t->data)[0] == 5 && ((uint8_t *)t->data)[1] == 6);
    eem_tensor_free(t);
    CHECK(decode_both_ways(reordered, sizeof reordered, 0));
    /* tensor_content twice: the last one counts (protobuf rule) */
    const uint8_t twice[] = {0x08, 0x04, 0x12, 0x04, 0x12, 0x02, 0x08, 0x02,
                             0x22, 0x02, 0x01, 0x02, 0x22, 0x02, 0x08, 0x09};
    t = NULL;
    CHECK_EQ_INT(eem_tensorproto_decode(twice, sizeof twice, 0, &t, &err), EEM_OK);
    CHECK(t && ((uint8_t *)t->data)[0] == 8 && ((uint8_t *)t->data)[1] == 9);
    eem_tensor_free(t);
    /* tensor_content shorter than the shape: same message both ways */
    const uint8_t short_content[] = {0x08, 0x04, 0x12, 0x04, 0x12, 0x02,
                                     0x08, 0x03, 0x22, 0x02, 0x01, 0x02};
    CHECK_EQ_INT(eem_tensorproto_decode(short_content, sizeof short_content, 0, &t, &err),
                 EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "tensor_content has 2 bytes, shape [3] uint8 needs 3");
    CHECK(decode_both_ways(short_content, sizeof short_content, 0));
    /* a negative dimension, an unsupported dtype, an unknown rank: same messages */
    const uint8_t negative[] = {0x08, 0x04, 0x12, 0x0d, 0x12, 0x0b, 0x08, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x22, 0x01, 0x00};
    CHECK_EQ_INT(eem_tensorproto_decode(negative, sizeof negative, 0, &t, &err),
                 EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "has size -1");
    CHECK(decode_both_ways(negative, sizeof negative, 0));
    const uint8_t bad_dtype[] = {0x08, 0x07, 0x12, 0x04, 0x12, 0x02, 0x08, 0x01, 0x22, 0x01, 0x00};
    CHECK_EQ_INT(eem_tensorproto_decode(bad_dtype, sizeof bad_dtype, 0, &t, &err),
                 EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "dtype 7 is not supported");
    CHECK(decode_both_ways(bad_dtype, sizeof bad_dtype, 0));
    const uint8_t unknown_rank[] = {0x08, 0x04, 0x12, 0x02, 0x18, 0x01, 0x22, 0x01, 0x00};
    CHECK_EQ_INT(eem_tensorproto_decode(unknown_rank, sizeof unknown_rank, 0, &t, &err),
                 EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "unknown rank");
    /* truncated: protobuf-c's message */
    CHECK_EQ_INT(eem_tensorproto_decode(twice, sizeof twice - 1, 0, &t, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "could not be parsed");
}

int main(void)
{
    test_dtype_names();
    test_convert_integers();
    test_convert_half();
    test_convert_bfloat16();
    test_base64();
    test_roundtrip_all_types();
    test_worked_examples();
    test_typed_fields();
    test_convert_strided();
    test_base64_decode_buf();
    test_tensorproto_canonical();
    return check_report();
}
