/* readplan.c — which tiles a read predicts: missing tiles, announced windows, strips,
 * cost guards and the plans of reduced overviews (see readplan.h). */
#include "readplan.h"

#include "cost.h"
#include "worklock.h"

#include <stdio.h>

#define EEM_READPLAN_WHAT_MAX 160

static long long max_ll(long long a, long long b)
{
    return a > b ? a : b;
}

static long long min_ll(long long a, long long b)
{
    return a < b ? a : b;
}

void eem_readplan_tile_range(const eem_read_level *l, eem_rect win, int *i0, int *j0, int *i1,
                             int *j1)
{
    if (!l->reduced) {
        eem_grid_tiles_for_output_window(l->grid, win, i0, j0, i1, j1);
        return;
    }
    const int bw = l->grid->uw, bh = l->grid->uh;
    *i0 = win.x / bw;
    *j0 = win.y / bh;
    *i1 = (win.x + win.w + bw - 1) / bw;
    *j1 = (win.y + win.h + bh - 1) / bh;
}

/* 1 when tile (i,j) of l's grid costs a prediction (it is not free). */
static int tile_costs(const eem_read_level *l, int i, int j)
{
    return !l->predictor || !eem_predictor_tile_costs_nothing(l->predictor, l->grid->level, i, j);
}

/* The predictor's work lock, held once around a loop over tiles rather than
 * once per tile (its pipeline's worker gives it up only at its polls). */
static struct eem_worklock *lock_of(const eem_read_level *l)
{
    return l->predictor ? eem_predictor_worklock(l->predictor) : NULL;
}

/* Predictions the dataset has sent since open. */
static long long spent_of(const eem_read_level *l)
{
    return l->predictor ? eem_predictor_predictions_spent(l->predictor) : 0;
}

/* Missing tiles of [i0,i1) x [j0,j1) of l: appended to out (may be NULL);
 * returns how many of them cost a prediction. */
static long long collect_missing(const eem_read_level *l, int i0, int j0, int i1, int j1,
                                 eem_tile_list *out, eem_error *err, eem_status *st)
{
    long long n = 0;
    *st = EEM_OK;
    eem_worklock_enter(lock_of(l));
    for (int j = j0; j < j1 && *st == EEM_OK; j++)
        for (int i = i0; i < i1; i++) {
            if (l->is_cached(l->user, i, j))
                continue;
            n += tile_costs(l, i, j);
            if (out && eem_tile_list_add(out, i, j) != 0) {
                *st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory listing the tiles to read");
                break;
            }
        }
    eem_worklock_leave(lock_of(l));
    return n;
}

/* Keep the tiles of out from start on while they cost at most cap predictions. */
static void truncate_to_cost(const eem_read_level *l, eem_tile_list *out, int start, long long cap)
{
    long long n = 0;
    eem_worklock_enter(lock_of(l));
    for (int k = start; k < out->n; k++)
        if ((n += tile_costs(l, out->xy[2 * k], out->xy[2 * k + 1])) > cap) {
            eem_tile_list_truncate(out, k);
            break;
        }
    eem_worklock_leave(lock_of(l));
}

static long long cost_of(const eem_read_level *l, const eem_tile_list *out, int start)
{
    long long n = 0;
    eem_worklock_enter(lock_of(l));
    for (int k = start; k < out->n; k++)
        n += tile_costs(l, out->xy[2 * k], out->xy[2 * k + 1]);
    eem_worklock_leave(lock_of(l));
    return n;
}

eem_status eem_readplan_missing_tiles(const eem_read_level *l, eem_rect win, eem_tile_list *out,
                                      eem_error *err)
{
    int i0, j0, i1, j1;
    eem_status st;
    eem_readplan_tile_range(l, win, &i0, &j0, &i1, &j1);
    collect_missing(l, i0, j0, i1, j1, out, err, &st);
    return st;
}

long long eem_readplan_count_missing(const eem_read_level *l, eem_rect win)
{
    int i0, j0, i1, j1;
    eem_status st;
    eem_readplan_tile_range(l, win, &i0, &j0, &i1, &j1);
    return collect_missing(l, i0, j0, i1, j1, NULL, NULL, &st);
}

/* The budget guard of a plan costing n predictions. */
static eem_status guard(const eem_read_level *l, long max_predictions, long long n,
                        const char *what, eem_error *err)
{
    return eem_cost_check_budget(max_predictions, spent_of(l), n, what, err);
}

int eem_readplan_strip_rows(const eem_read_level *l, eem_rect win, long long cache_bytes)
{
    if (l->reduced || win.h <= 0 || win.w <= 0)
        return win.h;
    int i0, j0, i1, j1;
    eem_grid_tiles_for_output_window(l->grid, win, &i0, &j0, &i1, &j1);
    const long long row_bytes = max_ll(1, (long long)(i1 - i0) * l->tile_bytes);
    const long long tile_rows = max_ll(1, cache_bytes / EEM_PREFETCH_CACHE_SHARE / row_bytes);
    if (tile_rows >= j1 - j0)
        return win.h;
    const long long end = (j0 + tile_rows) * l->grid->uh; /* first row past those tile rows */
    return (int)min_ll(win.h, max_ll(1, end - win.y));
}

int eem_readplan_fits_in_cache(const eem_read_level *l, long long n_tiles, long long cache_bytes)
{
    return n_tiles * l->tile_bytes <= cache_bytes / EEM_WHOLE_READ_CACHE_SHARE;
}

static eem_status plan_advise(const eem_read_level *l, eem_rect win, int buf_w, int buf_h,
                              long max_predictions, eem_tile_list *out, eem_error *err)
{
    if (l->reduced || buf_w < win.w || buf_h < win.h)
        return EEM_OK;
    const int whole = win.x == 0 && win.y == 0 && win.w == l->width && win.h == l->height;
    eem_status st = guard(l, max_predictions, eem_readplan_count_missing(l, win),
                          whole ? "this copy of the whole raster (announced by the caller, e.g. "
                                  "gdal_translate)"
                                : "this read (announced with AdviseRead)",
                          err);
    if (st != EEM_OK)
        return st;
    /* the announced window, never more: the pipeline predicts it ahead */
    const int start = out->n;
    st = eem_readplan_missing_tiles(l, win, out, err);
    truncate_to_cost(l, out, start, max_ll(0, max_predictions - spent_of(l)));
    return st;
}

static eem_status plan_guard(const eem_read_level *l, eem_rect win, long max_predictions,
                             eem_error *err)
{
    return guard(l, max_predictions, eem_readplan_count_missing(l, win), "this read", err);
}

static eem_status plan_whole(const eem_read_level *l, long max_predictions, long long cache_bytes,
                             eem_tile_list *out, eem_error *err)
{
    const int start = out->n;
    eem_rect all = {0, 0, l->width, l->height};
    eem_status st = eem_readplan_missing_tiles(l, all, out, err);
    if (st != EEM_OK)
        return st;
    const long long n = out->n - start;
    if ((st = guard(l, max_predictions, cost_of(l, out, start), "this whole-band computation",
                    err)) != EEM_OK) {
        eem_tile_list_truncate(out, start);
        return st;
    }
    /* Predict in one go only when every tile stays in the block cache; else
     * the blocks are predicted as they are read (guarded above). */
    if (!eem_readplan_fits_in_cache(l, n, cache_bytes))
        eem_tile_list_truncate(out, start);
    return EEM_OK;
}

/* A guard counts the tiles still to pay and reads what was spent under the
 * predictor's work lock, in one go: the pipeline's worker sends (and spends)
 * between two separate looks, and a tile would then count twice. */
eem_status eem_readplan_advise(const eem_read_level *l, eem_rect win, int buf_w, int buf_h,
                               long max_predictions, eem_tile_list *out, eem_error *err)
{
    eem_worklock_enter(lock_of(l));
    const eem_status st = plan_advise(l, win, buf_w, buf_h, max_predictions, out, err);
    eem_worklock_leave(lock_of(l));
    return st;
}

eem_status eem_readplan_guard(const eem_read_level *l, eem_rect win, long max_predictions,
                              eem_error *err)
{
    eem_worklock_enter(lock_of(l));
    const eem_status st = plan_guard(l, win, max_predictions, err);
    eem_worklock_leave(lock_of(l));
    return st;
}

eem_status eem_readplan_whole(const eem_read_level *l, long max_predictions, long long cache_bytes,
                              eem_tile_list *out, eem_error *err)
{
    eem_worklock_enter(lock_of(l));
    const eem_status st = plan_whole(l, max_predictions, cache_bytes, out, err);
    eem_worklock_leave(lock_of(l));
    return st;
}

eem_status eem_readplan_masks(const eem_read_level *l, eem_tile_cached_fn mask_cached,
                              void *mask_user, eem_rect win, eem_tile_list *retry_pending,
                              eem_tile_list *retry, eem_tile_list *missing, eem_error *err)
{
    int i0, j0, i1, j1;
    eem_readplan_tile_range(l, win, &i0, &j0, &i1, &j1);
    for (int j = j0; j < j1; j++)
        for (int i = i0; i < i1; i++) {
            if (mask_cached(mask_user, i, j))
                continue;
            /* a tile whose prediction failed is valid only once predicted */
            eem_tile_list *list = eem_tile_list_take(retry_pending, i, j) ? retry : missing;
            if (eem_tile_list_add(list, i, j) != 0)
                return eem_error_set(err, EEM_ERR_NOMEM, "out of memory listing the masks to read");
        }
    return EEM_OK;
}

eem_rect eem_readplan_block_window(const eem_read_level *l, int bx, int by)
{
    const int bw = l->grid->uw, bh = l->grid->uh;
    eem_rect r = {bx * bw, by * bh, 0, 0};
    r.w = bw < l->width - r.x ? bw : l->width - r.x;
    r.h = bh < l->height - r.y ? bh : l->height - r.y;
    return r;
}

eem_rect eem_readplan_base_window(const eem_read_level *l, eem_rect win)
{
    const int f = l->factor;
    eem_rect r = {win.x * f, win.y * f, 0, 0};
    const int x1 = (win.x + win.w) * f, y1 = (win.y + win.h) * f;
    r.w = (x1 < l->base_width ? x1 : l->base_width) - r.x;
    r.h = (y1 < l->base_height ? y1 : l->base_height) - r.y;
    return r;
}

eem_status eem_readplan_reduce_window(const eem_read_level *l, const eem_read_level *base,
                                      eem_rect win, long max_predictions, long long cache_bytes,
                                      eem_tile_list *blocks, eem_tile_list *base_tiles,
                                      eem_error *err)
{
    const int first_block = blocks->n, start = base_tiles->n;
    eem_status st = eem_readplan_missing_tiles(l, win, blocks, err);
    if (st != EEM_OK || blocks->n == first_block)
        return st;
    /* A block's level-0 window starts on a tile boundary (the block size is
     * level 0's tile), so blocks never share a level-0 tile. */
    for (int k = first_block; k < blocks->n; k++) {
        eem_rect block = {blocks->xy[2 * k] * l->grid->uw, blocks->xy[2 * k + 1] * l->grid->uh,
                          l->grid->uw, l->grid->uh};
        if ((st = eem_readplan_missing_tiles(base, eem_readplan_base_window(l, block), base_tiles,
                                             err)) != EEM_OK)
            return st;
    }
    const long long n = base_tiles->n - start;
    char what[EEM_READPLAN_WHAT_MAX];
    snprintf(what, sizeof what,
             "this read of overview %d (1/%d; FIX_INPUT_PROJ=true reduces full-resolution "
             "predictions)",
             l->level, l->factor);
    if ((st = guard(base, max_predictions, cost_of(base, base_tiles, start), what, err)) != EEM_OK)
        return st;
    /* one batched prediction of every tile when they all stay in the cache;
     * else each block predicts its own tiles */
    if (!eem_readplan_fits_in_cache(base, n, cache_bytes))
        eem_tile_list_truncate(base_tiles, start);
    return EEM_OK;
}

eem_status eem_readplan_reduce_block(const eem_read_level *l, const eem_read_level *base, int bx,
                                     int by, long max_predictions, eem_rect *block,
                                     eem_rect *base_win, eem_error *err)
{
    *block = eem_readplan_block_window(l, bx, by);
    base_win->x = base_win->y = base_win->w = base_win->h = 0;
    if (block->w <= 0 || block->h <= 0)
        return EEM_OK;
    *base_win = eem_readplan_base_window(l, *block);
    /* a block read on its own (IReadBlock) is one read: guard it too */
    char what[EEM_READPLAN_WHAT_MAX];
    snprintf(what, sizeof what, "block %d,%d of overview %d (1/%d; FIX_INPUT_PROJ=true)", bx, by,
             l->level, l->factor);
    return guard(base, max_predictions, eem_readplan_count_missing(base, *base_win), what, err);
}
