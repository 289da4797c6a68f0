/* grid.h — tiling geometry (DESIGN.md section 3, normative).  Pure integer and
 * rational arithmetic, no allocation, no I/O.
 *
 * Model input grid G: W x H pixels, geotransform gt_in.  Input tile (tw,th),
 * overlap (ox,oy) per edge, output tile (uw,uh).  Output grid: same origin,
 * pixel size (px*tw/uw, py*th/uh), size (ceil(W*uw/tw), ceil(H*uh/th)), block
 * (uw,uh).  Output block (i,j) is exactly tile (i,j).  Overview level k is the
 * same geometry on G coarsened by 2^k (W_k = ceil(W/2^k)). */
#ifndef EEM_GRID_H
#define EEM_GRID_H

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_grid {
    int in_w, in_h;   /* G (at this level) */
    int tw, th;       /* input tile */
    int ox, oy;       /* overlap per edge */
    int uw, uh;       /* output tile = output block */
    int out_w, out_h; /* output raster size */
    int tiles_x, tiles_y;
    int level;        /* overview level k: G coarsened by 2^k */
    int shift_x, shift_y; /* tile i's core starts at shift_x + i*tw: 0 for the driver's grid,
                           * half a tile for OVERLAP_MODE=BLEND's offset sets (blend.c) */
    double gt_in[6];  /* geotransform of G at this level */
    double gt_out[6]; /* geotransform of the output at this level */
} eem_grid;

/* A pixel rectangle; may extend outside the raster for input windows. */
typedef struct eem_rect {
    int x, y, w, h;
} eem_rect;

/* Build the level-0 grid.  Fails (naming the key) for non-positive sizes,
 * negative overlap, or sizes whose products overflow. */
eem_status eem_grid_init(eem_grid *g, int in_w, int in_h, const double gt_in[6], int tw, int th,
                         int ox, int oy, int uw, int uh, eem_error *err);
/* The grid of overview level k (k >= 1) of base. */
void eem_grid_overview(const eem_grid *base, int level, eem_grid *out);
/* Number of levels such that the last one fits in one tile (0 if level 0 already does). */
int eem_grid_overview_count(const eem_grid *base);

/* Input window of tile (i,j) in G pixels, overlap included; may extend outside G. */
eem_rect eem_grid_tile_input_window(const eem_grid *g, int i, int j);
/* Core input window of tile (i,j) (no overlap), clipped to G. */
eem_rect eem_grid_tile_core_window(const eem_grid *g, int i, int j);
/* Output block (i,j) in output pixels, clipped to the output raster. */
eem_rect eem_grid_tile_output_window(const eem_grid *g, int i, int j);
/* Tiles touched by an output-pixel window: [*i0,*i1) x [*j0,*j1). */
void eem_grid_tiles_for_output_window(const eem_grid *g, eem_rect win, int *i0, int *j0, int *i1,
                                      int *j1);

/* Padded answer size: the output-tile size plus the overlap scaled by the tile
 * ratio, (uh + 2*oy*uh/th, uw + 2*ox*uw/tw).  Returns 0 and sets *pw,*ph only
 * when both are integers; returns -1 when no padded size exists. */
int eem_grid_padded_output_size(const eem_grid *g, int *pw, int *ph);

/* Input-pixel span (relative to the tile core origin) covered by output pixel
 * column x of a tile: [*a, *b), rational ends widened to whole pixels. */
void eem_grid_output_pixel_cover_x(const eem_grid *g, int x, int *a, int *b);
void eem_grid_output_pixel_cover_y(const eem_grid *g, int y, int *a, int *b);
/* 1 when every pixel of the output raster covers input pixels of G only (no
 * output pixel is masked for reaching outside G), else 0. */
int eem_grid_output_within_input(const eem_grid *g);

/* Reading order of tile pairs (tx,ty): row by row, left to right.  The
 * comparison takes two int[2] (qsort/bsearch); the sort n pairs of tiles
 * (tiles[2k] = tx, tiles[2k+1] = ty). */
int eem_grid_compare_tiles(const void *a, const void *b);
void eem_grid_sort_tiles(int *tiles, int n);

#ifdef __cplusplus
}
#endif
#endif
