/* fuzz_tensorproto.c — libFuzzer target for the TensorProto decoder and the
 * base64 decoder (tensor.c).  The first input byte picks the path:
 *
 *   even: the rest is a serialized TensorProto
 *   odd:  the rest is base64 text (either alphabet) of one
 *
 * A decoded tensor must respect the element bound, be fully readable, and
 * survive encode -> decode unchanged. */
#include "tensor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_TP_MAX_ELEMENTS (1u << 16)

/* Encode t, decode it again and require the same tensor. */
static void check_round_trip(const eem_tensor *t)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    eem_error err = {0};
    if (eem_tensorproto_encode(t, &bytes, &len, &err) != EEM_OK)
        abort();
    uint8_t hdr[EEM_TENSORPROTO_HEADER_MAX];
    size_t hlen = eem_tensorproto_header(t, hdr);
    if (hlen == 0 || hlen + eem_tensor_nbytes(t) != len || memcmp(hdr, bytes, hlen) != 0)
        abort();
    eem_tensor *back = NULL;
    if (eem_tensorproto_decode(bytes, len, FUZZ_TP_MAX_ELEMENTS, &back, &err) != EEM_OK)
        abort();
    if (back->type != t->type || back->ndim != t->ndim ||
        memcmp(back->dims, t->dims, (size_t)t->ndim * sizeof t->dims[0]) != 0 ||
        memcmp(back->data, t->data, eem_tensor_nbytes(t)) != 0)
        abort();
    eem_tensor_free(back);
    free(bytes);
}

static void decode_proto(const uint8_t *buf, size_t len)
{
    eem_tensor *t = NULL;
    eem_error err = {0};
    eem_status st = eem_tensorproto_decode(buf, len, FUZZ_TP_MAX_ELEMENTS, &t, &err);
    if (st != EEM_OK) {
        if (t || err.msg[0] == '\0')
            abort();
        return;
    }
    if (!t || eem_tensor_count(t) > FUZZ_TP_MAX_ELEMENTS)
        abort();
    check_round_trip(t);
    eem_tensor_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    if ((data[0] & 1) == 0) {
        decode_proto(rest, n);
        return 0;
    }
    uint8_t *bytes = NULL;
    size_t len = 0;
    eem_error err = {0};
    if (eem_base64_decode((const char *)rest, n, &bytes, &len, &err) != EEM_OK) {
        if (bytes)
            abort();
        return 0;
    }
    if (len > n)
        abort();
    /* encoding the decoded bytes and decoding again gives the same bytes */
    char *text = NULL;
    size_t text_len = 0;
    if (eem_base64_encode(bytes, len, &text, &text_len) == EEM_OK) {
        uint8_t *again = NULL;
        size_t again_len = 0;
        if (eem_base64_decode(text, text_len, &again, &again_len, &err) != EEM_OK ||
            again_len != len || memcmp(again, bytes, len) != 0)
            abort();
        free(again);
        free(text);
    }
    decode_proto(bytes, len);
    free(bytes);
    return 0;
}
