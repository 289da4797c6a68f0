/* nodata.c — NODATA parsed against the output band types (see nodata.h). */
#include "nodata.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest NODATA entry shown in a message. */
#define EEM_NODATA_SHOWN_MAX 64

/* Parse one entry [b, e) as a number (blanks around allowed). */
static int parse_entry(const char *b, const char *e, double *out)
{
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (b == e || e - b >= EEM_NODATA_SHOWN_MAX)
        return 0;
    char text[EEM_NODATA_SHOWN_MAX];
    memcpy(text, b, (size_t)(e - b));
    text[e - b] = '\0';
    char *end = NULL;
    errno = 0;
    const double v = strtod(text, &end);
    if (end != text + (e - b))
        return 0;
    *out = v;
    return 1;
}

/* Count the entries of text; -1 when one is not a number.  The first cap
 * entries go to values, and where they start in text to starts (may be NULL). */
static int count_entries(const char *text, double *values, const char **starts, int cap)
{
    int n = 0;
    for (const char *b = text;; n++) {
        const char *e = strchr(b, ',');
        if (!e)
            e = b + strlen(b);
        double v;
        if (!parse_entry(b, e, &v))
            return -1;
        if (values && n < cap)
            values[n] = v;
        if (starts && n < cap)
            starts[n] = b;
        if (!*e)
            return n + 1;
        b = e + 1;
    }
}

int eem_nodata_text_is_valid(const char *text)
{
    return text != NULL && count_entries(text, NULL, NULL, 0) > 0;
}

/* The integer range of t, as doubles (int64/uint64: the doubles that fit). */
static void integer_range(eem_dtype t, double *lo, double *hi)
{
    switch (t) {
    case EEM_DT_UINT8: *lo = 0; *hi = 255; break;
    case EEM_DT_INT8: *lo = -128; *hi = 127; break;
    case EEM_DT_UINT16: *lo = 0; *hi = 65535; break;
    case EEM_DT_INT16: *lo = -32768; *hi = 32767; break;
    case EEM_DT_UINT32: *lo = 0; *hi = 4294967295.0; break;
    case EEM_DT_INT32: *lo = -2147483648.0; *hi = 2147483647.0; break;
    case EEM_DT_UINT64: *lo = 0; *hi = 18446744073709549568.0; break;
    default: *lo = -9223372036854775808.0; *hi = 9223372036854774784.0; break;
    }
}

/* Check v against type t; on success *stored is what the band holds. */
static int value_fits(eem_dtype t, double v, double *stored, char *accepted, size_t cap)
{
    if (t == EEM_DT_FLOAT64) {
        *stored = v;
        return 1;
    }
    if (eem_dtype_is_float(t)) { /* float32 (half floats are stored as float32) */
        snprintf(accepted, cap, "nan, inf, -inf or a number of magnitude at most %.9g", FLT_MAX);
        if (isfinite(v) && fabs(v) > FLT_MAX)
            return 0;
        *stored = (double)(float)v;
        return 1;
    }
    double lo, hi;
    integer_range(t, &lo, &hi);
    snprintf(accepted, cap, "an integer from %.0f to %.0f", lo, hi);
    if (!isfinite(v) || v != floor(v) || v < lo || v > hi)
        return 0;
    *stored = v;
    return 1;
}

eem_status eem_nodata_resolve_bands(const char *text, const eem_dtype *types,
                                    const char *const *names, int n, eem_band_nodata **out,
                                    eem_error *err)
{
    *out = NULL;
    if (n <= 0)
        return eem_error_set(err, EEM_ERR_INVALID, "NODATA: no output band");
    eem_band_nodata *nd = calloc((size_t)n, sizeof *nd);
    double *values = calloc((size_t)n, sizeof *values);
    const char **starts = calloc((size_t)n, sizeof *starts);
    if (!nd || !values || !starts) {
        free(nd);
        free(values);
        free(starts);
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    int given = 0;
    if (text) {
        given = count_entries(text, values, starts, n);
        if (given != 1 && given != n) {
            free(nd);
            free(values);
            free(starts);
            if (given < 0)
                return eem_error_set(err, EEM_ERR_INVALID,
                                     "NODATA: \"%.200s\" is not a number or a list of numbers; "
                                     "expected one number for every band (such as -9999 or "
                                     "nan) or one per output band, in band order",
                                     text);
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "NODATA: \"%.200s\" gives %d values for %d output bands; "
                                 "expected one value for every band or exactly %d, one per "
                                 "band in band order",
                                 text, given, n, n);
        }
    }
    for (int b = 0; b < n; b++) {
        if (!given) {
            /* default: NaN marks masked float pixels; integers have no safe value */
            nd[b].has = eem_dtype_is_float(types[b]);
            nd[b].value = nd[b].has ? NAN : 0.0;
            continue;
        }
        const int k = given == 1 ? 0 : b;
        char accepted[128];
        if (!value_fits(types[b], values[k], &nd[b].value, accepted, sizeof accepted)) {
            const char *name = names && names[b] ? names[b] : "";
            const char *shown = starts[k];
            while (*shown == ' ' || *shown == '\t')
                shown++;
            const int len = (int)strcspn(shown, ", \t");
            eem_error_set(err, EEM_ERR_INVALID,
                          "NODATA: %.*s is not a value of band %d (\"%.100s\", %s), which "
                          "holds %s; give a value every band can hold, or one value per band "
                          "in band order (%d values, such as nan for a float band and 255 for "
                          "a uint8 band)",
                          len, shown, b + 1, name, eem_dtype_name(types[b]), accepted, n);
            free(nd);
            free(values);
            free(starts);
            return err->status;
        }
        nd[b].has = 1;
    }
    free(values);
    free(starts);
    *out = nd;
    return EEM_OK;
}
