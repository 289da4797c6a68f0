/* probe_advice.h — from a measured receptive radius to tile settings: the
 * overlap that makes reads seam-free and the input tile size that then fits
 * MAX_PAYLOAD_BYTES with the least waste, with the waste and the request
 * bytes per output pixel of that advice and of the current settings.  Pure
 * arithmetic on the grid and the cost model (cost.h); nothing is sent. */
#ifndef EEM_PROBE_ADVICE_H
#define EEM_PROBE_ADVICE_H

#include "cost.h"
#include "grid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_tile_figures {
    int tw, th;   /* input tile (core) */
    int ox, oy;   /* overlap per edge */
    double waste; /* share of the predicted (sent) input pixels outside the core: thrown away */
    double bytes_per_output_pixel; /* request bytes per kept output pixel */
    int fits;     /* one instance fits MAX_PAYLOAD_BYTES */
} eem_tile_figures;

typedef struct eem_tile_advice {
    int seam_free_possible;   /* 0: the field is unbounded, no overlap makes reads seam-free */
    int overlap;              /* per edge (input pixels): the radius, or the current overlap */
    eem_tile_figures advised; /* largest square tile that fits with that overlap */
    eem_tile_figures current; /* the descriptor's settings */
    int current_seam_free;    /* current overlap >= radius */
} eem_tile_advice;

/* Figures of a tile of tw x th with overlap ox,oy, for a model whose answers
 * keep the grid's input/output ratio; per-pixel request bytes are scaled from
 * the cost model's instance (measured at the grid's tile size). */
void eem_tile_figures_of(const eem_grid *g, const eem_cost_model *m, long max_payload, int tw,
                         int th, int ox, int oy, eem_tile_figures *out);

/* Advice for a receptive radius (input pixels; unbounded: the field covers
 * whole tiles).  The advised tile keeps the grid's input/output ratio (its
 * side is a multiple of the step that ratio needs, of 8 such steps when it can
 * be).  advised.fits is 0 when not even the smallest tile fits. */
void eem_tile_advise(const eem_grid *g, const eem_cost_model *m, long max_payload, int radius,
                     int unbounded, eem_tile_advice *out);

#ifdef __cplusplus
}
#endif
#endif
