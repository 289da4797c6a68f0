/* tileoutput.h — one decoded model output of a tile into the band buffers:
 * the answer shapes accepted (DESIGN.md section 3: [H,W,C], a leading batch
 * dimension of 1, [H,W] for one channel, a bare vector for 1x1 tiles; the
 * output tile or the output tile padded by the overlap, trimmed), each
 * channel converted to its band's type.  A wrong shape is an error naming
 * the output, the tile, what was answered and what is accepted. */
#ifndef EEM_TILEOUTPUT_H
#define EEM_TILEOUTPUT_H

#include "dtype.h"
#include "error.h"
#include "grid.h"
#include "spec.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How a tile's outputs map to bands, for one level. */
typedef struct eem_tile_layout {
    const eem_spec *spec; /* the outputs: names, dimensions, lengths */
    const eem_grid *grid; /* the level: output tile uw x uh */
    int n_bands;
    const eem_dtype *band_types; /* type of each band's buffer */
    const int *band_output;      /* output index of each band */
    const int *band_channel;     /* channel within that output */
    int has_padded, pw, ph;      /* the output tile padded by the overlap, when defined */
} eem_tile_layout;

/* Check output oi's tensor t of tile (tx,ty) and write its channels into the
 * buffers (uw*uh elements of the band's type) of the bands it feeds. */
eem_status eem_tile_output_store(const eem_tile_layout *l, int tx, int ty, int oi,
                                 const eem_tensor *t, void *const *band_bufs, eem_error *err);
/* Append to err's message the output shapes that are accepted (after a
 * decoder refused an answer for its size). */
void eem_tile_output_explain_size(const eem_tile_layout *l, eem_error *err);
/* 1 when tensor t (stored by eem_tile_output_store) was the output tile
 * padded by the overlap rather than the output tile itself. */
int eem_tile_output_was_padded(const eem_tile_layout *l, const eem_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
