/* payload_fuzz.h — the body shared by the answer-decoder fuzz targets
 * (fuzz_payload_*.c): one per payload format, each one PAYLOAD_FUZZ_TARGET line
 * naming its format.  The first input byte picks the declared outputs, the instance
 * count and the context flags (TF Serving columnar answers, OIP v2 binary
 * data), the rest is the server's answer body.  A format that is not
 * implemented yet makes the target a no-op (the corpus still replays).
 *
 * Checks: a success yields exactly n_instances * n_outputs tensors, each within
 * max_elements and fully readable (ASan catches a short allocation); a failure
 * leaves no tensor behind and says why. */
#ifndef EEM_PAYLOAD_FUZZ_H
#define EEM_PAYLOAD_FUZZ_H

#include "payload.h"

#include <cpl_error.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAYLOAD_FUZZ_MAX_INSTANCES 4
#define PAYLOAD_FUZZ_MAX_ELEMENTS 1024 /* 16x16 tile of 4 channels */
#define PAYLOAD_FUZZ_N_SPECS 3

/* Declared outputs: one plain band, two outputs (one of 3 channels), one of 4. */
static const char *const payload_fuzz_outputs[PAYLOAD_FUZZ_N_SPECS] = {
    "out:float32",
    "a:float32,b:uint8:3",
    "cls:int32:4",
};

static eem_spec *payload_fuzz_specs[PAYLOAD_FUZZ_N_SPECS];
static eem_protocol payload_fuzz_protocol;

/* Parse the fuzzing specs once; url_and_format is the backend part of the
 * descriptor ("url=...;payload_format=..."). */
static void payload_fuzz_init(eem_protocol protocol, const char *url_and_format)
{
    payload_fuzz_protocol = protocol;
    CPLSetErrorHandler(CPLQuietErrorHandler);
    for (int i = 0; i < PAYLOAD_FUZZ_N_SPECS; i++) {
        char name[512];
        snprintf(name, sizeof name,
                 "EEMODEL:input=fuzz.tif;%s;input_tile_size=8,8;input_overlap_size=2,2;"
                 "output_bands=%s",
                 url_and_format, payload_fuzz_outputs[i]);
        eem_error err = {0};
        if (eem_spec_parse(name, NULL, &payload_fuzz_specs[i], &err) != EEM_OK) {
            fprintf(stderr, "payload_fuzz: cannot parse %s: %s\n", name, err.msg);
            abort();
        }
    }
}

static int payload_fuzz_one(eem_payload_format format, const uint8_t *data, size_t size)
{
    const eem_payload_ops *ops = eem_payload_ops_for(format);
    if (!ops || !ops->decode_response || size < 1)
        return 0;
    const eem_spec *spec = payload_fuzz_specs[data[0] % PAYLOAD_FUZZ_N_SPECS];
    int n_instances = 1 + (data[0] / PAYLOAD_FUZZ_N_SPECS) % PAYLOAD_FUZZ_MAX_INSTANCES;
    int flags = data[0] / (PAYLOAD_FUZZ_N_SPECS * PAYLOAD_FUZZ_MAX_INSTANCES);
    eem_payload_context ctx = {0};
    ctx.spec = spec;
    ctx.protocol = payload_fuzz_protocol;
    ctx.columnar = flags & 1;
    ctx.binary = (flags >> 1) & 1;
    size_t len = size - 1;
    /* exact-size copy, NUL-terminated as bodies from http.c are */
    char *body = malloc(len + 1);
    eem_tensor **out = calloc((size_t)n_instances * (size_t)spec->n_outputs, sizeof *out);
    if (!body || !out)
        goto done;
    memcpy(body, data + 1, len);
    body[len] = '\0';
    eem_error err = {0};
    size_t n_slots = (size_t)n_instances * (size_t)spec->n_outputs;
    eem_status st = ops->decode_response(&ctx, body, len, n_instances, PAYLOAD_FUZZ_MAX_ELEMENTS,
                                         out, &err);
    volatile uint8_t sink = 0;
    for (size_t s = 0; s < n_slots; s++) {
        if (st != EEM_OK) {
            if (out[s])
                abort(); /* a failure must leave nothing allocated */
            continue;
        }
        const eem_tensor *t = out[s];
        if (!t || eem_tensor_count(t) > PAYLOAD_FUZZ_MAX_ELEMENTS)
            abort();
        const uint8_t *bytes = t->data;
        size_t nbytes = eem_tensor_nbytes(t);
        for (size_t i = 0; i < nbytes; i++)
            sink ^= bytes[i];
        eem_tensor_free(out[s]);
    }
    if (st != EEM_OK && err.msg[0] == '\0')
        abort();
    (void)sink;
done:
    free(out);
    free(body);
    return 0;
}

/* The two libFuzzer entry points of a target decoding format's answers, the
 * specs parsed with protocol and url_and_format. */
#define PAYLOAD_FUZZ_TARGET(format, protocol, url_and_format)                                      \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                                              \
    {                                                                                              \
        (void)argc, (void)argv;                                                                    \
        payload_fuzz_init(protocol, url_and_format);                                               \
        return 0;                                                                                  \
    }                                                                                              \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                                   \
    {                                                                                              \
        return payload_fuzz_one(format, data, size);                                               \
    }

#endif
