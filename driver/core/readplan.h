/* readplan.h — which tiles a read predicts (DESIGN.md sections 4 and 6): the
 * tiles under a window that are not cached yet, the window a reader announces
 * (AdviseRead), strips that fit GDAL's block cache, the cost guard of windows read
 * in parts and of whole-band computations, the mask-only plan, and for
 * FIX_INPUT_PROJ=true overviews the level-0 tiles a reduced window needs.
 * Pure planning: the caller says which tiles are cached (callback) and how
 * large the block cache is; nothing is read or sent here.
 *
 * Every function that fills an eem_tile_list appends to it; lists are in
 * row-major order (a window's first rows first).
 *
 * The cost guard (MAX_PREDICTIONS) is a budget per opened dataset: a plan is
 * refused when the tiles it would predict, plus those the dataset's predictor
 * has sent since open, exceed it.  Tiles the predictor holds already (tile
 * store) or remembers as failed are listed but cost nothing. */
#ifndef EEM_READPLAN_H
#define EEM_READPLAN_H

#include "error.h"
#include "grid.h"
#include "tilelist.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Share of the block cache (1/N) one prefetch may fill: the rest holds the
 * caller's other blocks (e.g. gdal_translate's output swath). */
#define EEM_PREFETCH_CACHE_SHARE 4
/* Share of the block cache (1/N) a whole-band computation may fill in one go. */
#define EEM_WHOLE_READ_CACHE_SHARE 2

/* 1 when block (tx,ty) of the level is cached (every band's and the mask's). */
typedef int (*eem_tile_cached_fn)(void *user, int tx, int ty);

struct eem_predictor;

/* One level of a dataset as the planner sees it. */
typedef struct eem_read_level {
    const eem_grid *grid; /* tiles this level predicts; level 0's for a reduced level */
    int level;            /* overview level k (0: full resolution) */
    int reduced;          /* FIX_INPUT_PROJ=true overview: blocks reduce level 0 */
    int factor;           /* reduced: 2^level */
    int width, height;    /* the level's raster size */
    int base_width, base_height; /* reduced: level 0's raster size */
    long long tile_bytes; /* one block of every band and of the mask */
    eem_tile_cached_fn is_cached;
    void *user;
    /* the predictor the budget and the free tiles come from; NULL: nothing
     * spent yet and every missing tile costs one prediction */
    const struct eem_predictor *predictor;
} eem_read_level;

/* Blocks (= tiles) touched by a window of the level: [*i0,*i1) x [*j0,*j1). */
void eem_readplan_tile_range(const eem_read_level *l, eem_rect win, int *i0, int *j0, int *i1,
                             int *j1);
/* Tiles under win that are not cached (appended to out). */
eem_status eem_readplan_missing_tiles(const eem_read_level *l, eem_rect win, eem_tile_list *out,
                                      eem_error *err);
/* How many tiles under win a read predicts: not cached, and not free (held
 * by the predictor's tile store or remembered as failed). */
long long eem_readplan_count_missing(const eem_read_level *l, eem_rect win);

/* Rows of win, from win.y, whose tiles fit 1/EEM_PREFETCH_CACHE_SHARE of a
 * block cache of cache_bytes (win.h when the whole window fits, at least 1):
 * larger full-resolution reads go in strips, so prefetched blocks are never
 * evicted before the caller copies them out.  Reduced levels: win.h. */
int eem_readplan_strip_rows(const eem_read_level *l, eem_rect win, long long cache_bytes);
/* 1 when n_tiles tiles fill at most 1/EEM_WHOLE_READ_CACHE_SHARE of the cache. */
int eem_readplan_fits_in_cache(const eem_read_level *l, long long n_tiles, long long cache_bytes);

/* Tiles an AdviseRead of win at buffer size buf_w x buf_h announces: none
 * for a reduced level or a downsampled read, else every missing tile of win
 * in reading order (row of tiles by row of tiles), as far as the budget left
 * allows (the prediction pipeline, pipeline.h, predicts them ahead of the
 * reads, never past them).  The caller announces that it reads all of win
 * (GDALDriver::CreateCopy announces the whole raster: gdal_translate), so
 * the cost guard is applied to all of win first: EEM_ERR_LIMIT, nothing
 * listed, when it exceeds the budget. */
eem_status eem_readplan_advise(const eem_read_level *l, eem_rect win, int buf_w, int buf_h,
                               long max_predictions, eem_tile_list *out, eem_error *err);
/* The cost guard over a window read in several parts ("this read"). */
eem_status eem_readplan_guard(const eem_read_level *l, eem_rect win, long max_predictions,
                              eem_error *err);
/* A whole-band computation (statistics, histogram) of a non-reduced level:
 * the cost guard over every missing tile, then those tiles in out when they
 * all fit the cache share (else out stays empty: blocks are predicted as they
 * are read). */
eem_status eem_readplan_whole(const eem_read_level *l, long max_predictions, long long cache_bytes,
                              eem_tile_list *out, eem_error *err);

/* Mask blocks of win not cached (mask_cached): those in retry_pending (tiles
 * whose prediction failed and were dropped, taken out of it) go to retry, to
 * be predicted; the others to missing, computed from the source alone. */
eem_status eem_readplan_masks(const eem_read_level *l, eem_tile_cached_fn mask_cached,
                              void *mask_user, eem_rect win, eem_tile_list *retry_pending,
                              eem_tile_list *retry, eem_tile_list *missing, eem_error *err);

/* --- FIX_INPUT_PROJ=true overviews (l->reduced) -------------------------- */

/* Block (bx,by) of the reduced level in its pixels, clipped to the raster
 * (w or h <= 0 outside it). */
eem_rect eem_readplan_block_window(const eem_read_level *l, int bx, int by);
/* The level-0 pixel window a window of the reduced level covers. */
eem_rect eem_readplan_base_window(const eem_read_level *l, eem_rect win);
/* A read of win: its blocks not cached (blocks), after the cost guard of the
 * level-0 tiles they need; those tiles in base_tiles when they all fit the
 * cache share (one batched prediction), else base_tiles stays empty. */
eem_status eem_readplan_reduce_window(const eem_read_level *l, const eem_read_level *base,
                                      eem_rect win, long max_predictions, long long cache_bytes,
                                      eem_tile_list *blocks, eem_tile_list *base_tiles,
                                      eem_error *err);
/* One block read on its own: its window (*block, empty: nothing to do) and the
 * level-0 window it reduces (*base_win), after the cost guard of the level-0
 * tiles missing there. */
eem_status eem_readplan_reduce_block(const eem_read_level *l, const eem_read_level *base, int bx,
                                     int by, long max_predictions, eem_rect *block,
                                     eem_rect *base_win, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
