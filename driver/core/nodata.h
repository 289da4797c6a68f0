/* nodata.h — the value each output band holds where it is masked.
 *
 * NODATA is one number for every band, or one number per output band in band
 * order (`nan,nan,nan,255`).  Each value is checked against its band's type at
 * open: an integer band takes an integer of its range (no NaN), a float32
 * band a value of its range (stored as the float32 it becomes).  Without
 * NODATA, float bands are NaN where masked and integer bands 0 with no nodata
 * value (their mask band alone tells masked pixels apart). */
#ifndef EEM_NODATA_H
#define EEM_NODATA_H

#include "dtype.h"
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_band_nodata {
    int has;      /* 1: the band reports `value` as its nodata value */
    double value; /* written where the band is masked (0 when !has) */
} eem_band_nodata;

/* The nodata of n bands of the given types (names: for messages) from the
 * NODATA text (NULL: not given) into a new array *out of n entries (free()).
 * A value a band cannot hold is an error naming the band, its type, the
 * value and what the band accepts. */
eem_status eem_nodata_resolve_bands(const char *text, const eem_dtype *types,
                                    const char *const *names, int n, eem_band_nodata **out,
                                    eem_error *err);

/* 1 when text is a NODATA value list the spec accepts (numbers, commas). */
int eem_nodata_text_is_valid(const char *text);

#ifdef __cplusplus
}
#endif
#endif
