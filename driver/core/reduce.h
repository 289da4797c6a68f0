/* reduce.h — FIX_INPUT_PROJ=true overviews: full-resolution predictions
 * reduced by a power-of-two factor (DESIGN.md section 4).  Pure arithmetic.
 *
 * A reduced pixel c of a strip covers the full-resolution columns
 * [c*factor, min((c+1)*factor, width)) of every row of the strip (the strip is
 * the factor rows of one reduced row, fewer at the raster's last row).  Only
 * valid pixels (mask non-zero) count.  The reduced pixel is valid when at
 * least one covered pixel is; its value is
 *   EEM_REDUCE_AVERAGE: the mean of the valid values (float outputs);
 *   EEM_REDUCE_MODE:    the most frequent valid value, the smallest on a tie
 *                       (integer / class outputs).
 * Invalid reduced pixels get fill. */
#ifndef EEM_REDUCE_H
#define EEM_REDUCE_H

#include "dtype.h"
#include "error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum eem_reduce_method { EEM_REDUCE_AVERAGE = 0, EEM_REDUCE_MODE } eem_reduce_method;

/* The method for an output band type: average for floats, mode otherwise. */
eem_reduce_method eem_reduce_method_for(eem_dtype t);

/* Reduce a strip of width x rows values (row-major, mask 0 = invalid, mask may
 * be NULL = all valid) into n_out = ceil(width/factor) values and a mask (255
 * valid, 0 not).  scratch: at least factor*factor doubles (MODE only). */
void eem_reduce_strip(eem_reduce_method method, const double *values, const uint8_t *mask,
                      int width, int rows, int factor, double fill, double *out,
                      uint8_t *out_mask, double *scratch);

#ifdef __cplusplus
}
#endif
#endif
