/* tile_origin.h — the global tile lattice (TILE_ORIGIN, DESIGN.md section 5
 * "Beyond one process").
 *
 * Tiles of the model grid G sit on a lattice anchored at a point of G's CRS:
 * tile corners are at origin + (i*tw*px, -j*th*py) for integers i, j.  With a
 * lattice, G's top-left corner is moved outward (up and left) onto the
 * nearest lattice point, so that every scene on the same CRS, pixel size and
 * tile size shares the same tiles, cache entries and seams; the pixels added
 * are masked.  Pure arithmetic, no allocation, no I/O. */
#ifndef EEM_TILE_ORIGIN_H
#define EEM_TILE_ORIGIN_H

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum eem_tile_origin_mode {
    EEM_TILE_ORIGIN_DEFAULT = 0, /* not given: lattice at (0,0) when SCALE is given, else scene */
    EEM_TILE_ORIGIN_SCENE,       /* TILE_ORIGIN=SCENE: tiles start at G's own corner */
    EEM_TILE_ORIGIN_AT           /* TILE_ORIGIN=x,y */
} eem_tile_origin_mode;

/* Parse a TILE_ORIGIN value: "x,y" (two finite numbers in the model grid's
 * CRS) or "SCENE".  Fails naming the key, the value and what is accepted. */
eem_status eem_tile_origin_parse(const char *text, eem_tile_origin_mode *mode, double *x,
                                 double *y, eem_error *err);

/* 1 when a lattice applies: TILE_ORIGIN=x,y, or not given and SCALE > 0. */
int eem_tile_origin_applies(eem_tile_origin_mode mode, double scale);

/* Snap a grid's top-left corner (x0,y0), north-up pixel size (px > 0, py < 0)
 * outward onto the lattice of tiles (tw,th) anchored at (ox,oy): *sx <= x0,
 * *sy >= y0, both on the lattice.  A corner within 1e-9 of a tile of a
 * lattice point counts as on it. */
void eem_tile_origin_snap(double ox, double oy, double px, double py, int tw, int th, double x0,
                          double y0, double *sx, double *sy);

/* 1 when x0 lies on the pixel lattice origin + k*px (within 1e-9 pixel). */
int eem_tile_origin_on_pixel_lattice(double origin, double px, double x0);

#ifdef __cplusplus
}
#endif
#endif
