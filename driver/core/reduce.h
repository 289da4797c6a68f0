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
 * Invalid reduced pixels get fill.
 *
 * eem_reduce_block computes one block of such an overview over plain buffers:
 * it reads the level-0 predictions it covers through callbacks, strip by
 * strip (each read at most EEM_REDUCE_STRIP_BYTES of doubles). */
#ifndef EEM_REDUCE_H
#define EEM_REDUCE_H

#include "dtype.h"
#include "error.h"
#include "grid.h"

#include <stddef.h>
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

/* Largest level-0 strip (bytes of doubles) read at once to reduce. */
#define EEM_REDUCE_STRIP_BYTES (16 * 1024 * 1024)

/* The level-0 predictions a reduced block reads. */
typedef struct eem_reduce_input {
    int n_bands;
    const eem_reduce_method *methods; /* per band */
    int width, height;                /* level-0 raster size */
    /* level-0 window win of band b as doubles / of the mask as bytes, row-major */
    eem_status (*read_band)(void *user, int band, eem_rect win, double *values, eem_error *err);
    eem_status (*read_mask)(void *user, eem_rect win, uint8_t *mask, eem_error *err);
    void *user;
} eem_reduce_input;

/* Block window block (reduced-level pixels, w x h at most block_w x block_h)
 * reduced by factor from in: bands[b] (block_w*block_h doubles each) and mask
 * (block_w*block_h bytes) are filled, row stride block_w; pixels outside the
 * window get fill and mask 0. */
eem_status eem_reduce_block(const eem_reduce_input *in, int factor, eem_rect block, int block_w,
                            int block_h, double fill, double *const *bands, uint8_t *mask,
                            eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
