/* fuzz_spec.c — libFuzzer target for the model descriptor parser (spec.c), all
 * three spellings.  The first input byte picks the spelling, the rest is text:
 *
 *   0: inline        "EEMODEL:" + text
 *   1: JSON file     text written to /vsimem/, opened as EEMODEL:/vsimem/...json
 *                    and as a *.eemodel.json name
 *   2: open options  line 1 is the name (inline, without the prefix), every
 *                    further line one KEY=VALUE open option
 *
 * A successful parse must give a spec whose band names can all be listed. */
#include "spec.h"

#include <cpl_error.h>
#include <cpl_vsi.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_SPEC_MAX_OPTIONS 64
#define FUZZ_SPEC_JSON_PATH "/vsimem/fuzz_spec/model.json"
#define FUZZ_SPEC_EEMODEL_JSON_PATH "/vsimem/fuzz_spec/m.eemodel.json"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    CPLSetErrorHandler(CPLQuietErrorHandler);
    return 0;
}

/* Parse and, on success, walk what the parser promises. */
static void parse_and_check(const char *name, const char *const *options)
{
    /* the display form of any name: consistent length, never longer than
     * the name with every character redacted */
    size_t shown_len = eem_spec_name_for_display(name, NULL, 0);
    char *shown = malloc(shown_len + 1);
    if (!shown)
        abort();
    if (eem_spec_name_for_display(name, shown, shown_len + 1) != shown_len ||
        strlen(shown) != shown_len)
        abort();
    free(shown);
    eem_spec *spec = NULL;
    eem_error err = {0};
    eem_status st = eem_spec_parse(name, options, &spec, &err);
    if (st != EEM_OK) {
        /* a failure always says why, and leaves nothing behind */
        if (spec || err.msg[0] == '\0')
            abort();
        return;
    }
    if (!spec)
        abort();
    int n = eem_spec_output_band_count(spec);
    for (int k = 0; k < n; k++) {
        char buf[512];
        int oi = -1, ch = -1;
        const char *bn = eem_spec_output_band_name(spec, k, buf, sizeof buf, &oi, &ch);
        if (!bn || oi < 0 || oi >= spec->n_outputs)
            abort();
    }
    if (spec->tile_w <= 0 || spec->tile_h <= 0 || spec->out_tile_w <= 0 || spec->out_tile_h <= 0)
        abort();
    (void)eem_protocol_name(spec->protocol);
    (void)eem_payload_format_name(spec->payload_format);
    eem_spec_free(spec);
}

static void fuzz_inline(const char *text, size_t n)
{
    size_t plen = strlen(EEM_PREFIX);
    char *name = malloc(plen + n + 1);
    if (!name)
        return;
    memcpy(name, EEM_PREFIX, plen);
    memcpy(name + plen, text, n);
    name[plen + n] = '\0';
    parse_and_check(name, NULL);
    free(name);
}

static void fuzz_json(const char *text, size_t n)
{
    const char *paths[2] = {FUZZ_SPEC_JSON_PATH, FUZZ_SPEC_EEMODEL_JSON_PATH};
    const char *names[2] = {EEM_PREFIX FUZZ_SPEC_JSON_PATH, FUZZ_SPEC_EEMODEL_JSON_PATH};
    for (int i = 0; i < 2; i++) {
        VSILFILE *fp = VSIFOpenL(paths[i], "wb");
        if (!fp)
            return;
        VSIFWriteL(text, 1, n, fp);
        VSIFCloseL(fp);
        parse_and_check(names[i], NULL);
        VSIUnlink(paths[i]);
    }
}

static void fuzz_open_options(char *text)
{
    const char *options[FUZZ_SPEC_MAX_OPTIONS + 1];
    int n = 0;
    char *line = strchr(text, '\n');
    if (line)
        *line++ = '\0';
    while (line && n < FUZZ_SPEC_MAX_OPTIONS) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        options[n++] = line;
        line = next;
    }
    options[n] = NULL;
    size_t plen = strlen(EEM_PREFIX), tlen = strlen(text);
    char *name = malloc(plen + tlen + 1);
    if (!name)
        return;
    memcpy(name, EEM_PREFIX, plen);
    memcpy(name + plen, text, tlen + 1);
    parse_and_check(name, options);
    free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 3;
    size_t n = size - 1;
    /* NUL-terminated copy: C strings end at the first NUL, as in GDAL */
    char *text = malloc(n + 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, n);
    text[n] = '\0';
    if (mode == 0)
        fuzz_inline(text, strlen(text));
    else if (mode == 1)
        fuzz_json(text, n);
    else
        fuzz_open_options(text);
    free(text);
    return 0;
}
