/* blend.h — OVERLAP_MODE=BLEND: each output block is blended from the tile
 * of the driver's grid and the tiles of three offset sets on the same fixed
 * grid (moved by half a tile in x, in y, and in both), so results stay
 * window-independent and cacheable.
 *
 * Float bands: a weighted mean with the separable Hann window
 * w(t) = sin^2(pi * t), t = (x + 0.5) / tile width, of each tile's output
 * (t across that tile).  A tile and the tile half a period away have weights
 * sin^2 and cos^2, so the four sets' weights sum to 1 at every pixel; a
 * masked contribution (an all-masked tile, ON_ERROR=NODATA) is left out and
 * the rest renormalised.  Integer bands: the value of the tile whose centre
 * is nearest (largest weight).  Cost: up to 4 predictions per block. */
#ifndef EEM_BLEND_H
#define EEM_BLEND_H

#include "error.h"
#include "grid.h"
#include "predictor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fails naming OVERLAP_MODE when the grid cannot be offset by half a tile
 * (odd input or output tile sizes). */
eem_status eem_blend_check(const eem_grid *g, eem_error *err);

/* Predictions a full read of the grid costs with blending (every set's
 * tiles over the raster). */
long long eem_blend_full_read_tiles(const eem_grid *g);

/* Hann weight of output pixel x of a tile n pixels wide. */
double eem_blend_weight(int x, int n);

/* Predict and blend output blocks (pairs tx,ty) of a level: the same
 * contract as eem_predictor_compute (the sink gets each block once, band
 * buffers and mask).  The cost guard counts every tile of every set. */
eem_status eem_blend_compute(eem_predictor *p, int level, const int *tiles, int n_tiles,
                             eem_tile_sink sink, void *sink_user, int (*cancel)(void *),
                             void *cancel_user, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
