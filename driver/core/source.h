/* source.h — the input raster: open it through GDAL's C API, resolve BANDS into
 * tensor keys, and read windows of G (zero-filled and masked outside).
 *
 * eem_source_open() returns an eem_source freed with eem_source_close().
 * A window read returns an eem_window freed with eem_window_free(). */
#ifndef EEM_SOURCE_H
#define EEM_SOURCE_H

#include "dtype.h"
#include "error.h"
#include "spec.h"
#include "tensor.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One tensor sent per instance: the bands stacked as channels under key. */
typedef struct eem_source_key {
    char *key;
    int n_bands;
    int *bands;          /* 1-based source band numbers, channel order */
    eem_dtype send_type; /* element type sent (INPUT_TYPE override, else source type) */
} eem_source_key;

typedef struct eem_source {
    void *dataset;       /* GDALDatasetH */
    int width, height;   /* G at level 0 */
    double gt[6];
    int has_gt;
    char *wkt;           /* CRS of G, "" if none */
    eem_source_key *keys;
    int n_keys;
    int all_valid;       /* 1 when no selected band has a mask or nodata */
    int warped;          /* 1 when dataset is a warped VRT of INPUT onto PROJ/SCALE */
    int alpha_band;      /* the warped VRT's alpha band (masks G outside the source), else 0 */
    /* when warped: the source itself (a reference of ours), the CRS given as
     * PROJ (NULL: the source's), and per level k > 0 the warp of the source
     * straight onto G coarsened by 2^k (made on first use, then kept) */
    void *input_dataset;
    char *warp_crs;
    void **level_datasets;
    /* the level-0 reading so far (source_blocks.h): the top row and the columns
     * read since GDAL's cached blocks above were last dropped */
    int passed_any, passed_top, passed_x0, passed_x1;
    long long bytes; /* every band of dataset, at level 0 */
} eem_source;

/* A window of G at some level, as tensors ready to slice into instances. */
typedef struct eem_window {
    int x, y, w, h;      /* in level pixels; may extend outside the raster */
    eem_tensor **keys;   /* n_keys tensors (h, w, C) in send types */
    int n_keys;
    uint8_t *mask;       /* w*h: 1 valid, 0 masked (outside, nodata or source mask) */
} eem_window;

eem_status eem_source_open(const eem_spec *spec, eem_source **out, eem_error *err);
void eem_source_close(eem_source *src);

/* Read window (x,y,w,h) of G coarsened by 2^level (level 0: G itself; level k:
 * GDAL's downsampled read, using the source's overviews; with PROJ/SCALE, a
 * warp of the source at level k's resolution, average resampling, so that a
 * coarse level costs what its own pixels cost).  src is not const: a level-0
 * read notes how far the reading has gone down (source.c, source_pass). */
eem_status eem_source_read_window(eem_source *src, int level, int x, int y, int w, int h,
                                  eem_window **out, eem_error *err);
void eem_window_free(eem_window *win);

/* Zero-valued tensors, one per key of src (keys[k] names tensors[k]), of
 * h x w pixels: the instance that sizing and probing encode.  Both arrays
 * are owned by the caller and released with eem_source_zero_tensors_free. */
eem_status eem_source_zero_tensors_new(const eem_source *src, int64_t h, int64_t w,
                                       eem_tensor ***tensors, const char ***keys, eem_error *err);
void eem_source_zero_tensors_free(const eem_source *src, eem_tensor **tensors, const char **keys);

#ifdef __cplusplus
}
#endif
#endif
