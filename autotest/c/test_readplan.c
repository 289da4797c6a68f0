/* test_readplan.c — read planning (driver/core/readplan.c) and tile lists
 * (tilelist.c): missing tiles, strips that fit the cache share, read-ahead of
 * AdviseRead and whole-band plans with the cost guard, mask
 * plans with retried tiles, and the plans of FIX_INPUT_PROJ=true overviews. */
#include "check.h"
#include "readplan.h"

#include <string.h>

#define TX 4 /* 100 x 70 pixels in 32 x 32 tiles: 4 x 3 tiles */
#define TY 3

typedef struct cached_set {
    int cached[TY][TX];
} cached_set;

static int is_cached(void *user, int tx, int ty)
{
    cached_set *c = user;
    return tx >= 0 && ty >= 0 && tx < TX && ty < TY && c->cached[ty][tx];
}

static eem_grid make_grid(void)
{
    eem_grid g;
    eem_error err = {0};
    const double gt[6] = {0, 1, 0, 0, 0, -1};
    CHECK_EQ_INT(eem_grid_init(&g, 100, 70, gt, 32, 32, 0, 0, 32, 32, &err), EEM_OK);
    return g;
}

static eem_read_level make_level(const eem_grid *g, cached_set *c)
{
    eem_read_level l;
    memset(&l, 0, sizeof l);
    l.grid = g;
    l.width = g->out_w;
    l.height = g->out_h;
    l.tile_bytes = 1000;
    l.is_cached = is_cached;
    l.user = c;
    return l;
}

static int has_tile(const eem_tile_list *l, int tx, int ty)
{
    for (int k = 0; k < l->n; k++)
        if (l->xy[2 * k] == tx && l->xy[2 * k + 1] == ty)
            return 1;
    return 0;
}

static void test_tile_list(void)
{
    eem_tile_list l = {0};
    for (int i = 0; i < 40; i++) /* grows past the first allocation */
        CHECK_EQ_INT(eem_tile_list_add(&l, i, 100 + i), 0);
    CHECK_EQ_INT(l.n, 40);
    CHECK_EQ_INT(l.xy[2 * 39 + 1], 139);
    CHECK_EQ_INT(eem_tile_list_take(&l, 5, 105), 1);
    CHECK_EQ_INT(eem_tile_list_take(&l, 5, 105), 0); /* taken once */
    CHECK_EQ_INT(eem_tile_list_take(&l, 5, 106), 0); /* both coordinates must match */
    CHECK_EQ_INT(l.n, 39);
    CHECK_EQ_INT(l.xy[2 * 5], 6); /* the rest moved up, in order */
    eem_tile_list_truncate(&l, 50);
    CHECK_EQ_INT(l.n, 39);
    eem_tile_list_truncate(&l, 3);
    CHECK_EQ_INT(l.n, 3);
    eem_tile_list_clear(&l);
    CHECK_EQ_INT(l.n, 0);
    eem_tile_list_free(&l);
    CHECK(l.xy == NULL);
}

static void test_missing_tiles(void)
{
    eem_grid g = make_grid();
    cached_set c;
    memset(&c, 0, sizeof c);
    c.cached[0][1] = 1;
    eem_read_level l = make_level(&g, &c);
    eem_tile_list out = {0};
    eem_error err = {0};
    /* pixels 10..69 x 0..39: tiles 0..2 x 0..1, one cached */
    eem_rect win = {10, 0, 60, 40};
    CHECK_EQ_INT(eem_readplan_missing_tiles(&l, win, &out, &err), EEM_OK);
    CHECK_EQ_INT(out.n, 5);
    CHECK(!has_tile(&out, 1, 0));
    CHECK(has_tile(&out, 2, 1));
    CHECK_EQ_INT(out.xy[0], 0); /* row-major: (0,0) (2,0) (0,1) ... */
    CHECK_EQ_INT(out.xy[2], 2);
    CHECK_EQ_INT(out.xy[5], 1);
    CHECK_EQ_INT(eem_readplan_count_missing(&l, win), 5);
    eem_tile_list_free(&out);
}

static void test_strip_rows_and_cache_fit(void)
{
    eem_grid g = make_grid();
    cached_set c;
    memset(&c, 0, sizeof c);
    eem_read_level l = make_level(&g, &c);
    eem_rect all = {0, 0, 100, 70};
    /* 4 tiles a row of 1000 bytes: a cache share of 4000 (cache 16000) holds one tile row */
    CHECK_EQ_INT(eem_readplan_strip_rows(&l, all, 16000), 32);
    /* a window starting mid-tile stops at the end of its first tile row */
    eem_rect mid = {0, 40, 100, 30};
    CHECK_EQ_INT(eem_readplan_strip_rows(&l, mid, 16000), 24);
    CHECK_EQ_INT(eem_readplan_strip_rows(&l, all, 32000), 64); /* two tile rows */
    CHECK_EQ_INT(eem_readplan_strip_rows(&l, all, 48000), 70); /* everything fits */
    CHECK_EQ_INT(eem_readplan_strip_rows(&l, all, 1), 32);     /* never less than a tile row */
    /* whole-band reads may fill half of the cache */
    CHECK(eem_readplan_fits_in_cache(&l, 12, 24000));
    CHECK(!eem_readplan_fits_in_cache(&l, 13, 24000));
    /* a reduced level is never split */
    l.reduced = 1;
    CHECK_EQ_INT(eem_readplan_strip_rows(&l, all, 1), 70);
}

static void test_advise_and_guard(void)
{
    eem_grid g = make_grid();
    cached_set c;
    memset(&c, 0, sizeof c);
    eem_read_level l = make_level(&g, &c);
    eem_tile_list out = {0};
    eem_error err = {0};
    eem_rect all = {0, 0, 100, 70};
    /* downsampled: nothing */
    CHECK_EQ_INT(eem_readplan_advise(&l, all, 50, 35, 1000, &out, &err), EEM_OK);
    CHECK_EQ_INT(out.n, 0);
    /* full resolution: the whole announced window in reading order, never more */
    c.cached[1][0] = 1;
    CHECK_EQ_INT(eem_readplan_advise(&l, all, 100, 70, 1000, &out, &err), EEM_OK);
    CHECK_EQ_INT(out.n, 11);
    CHECK(out.xy[0] == 0 && out.xy[1] == 0 && out.xy[6] == 3 && out.xy[7] == 0);
    CHECK(out.xy[8] == 1 && out.xy[9] == 1); /* (0,1) is cached */
    eem_tile_list_clear(&out);
    /* a window inside the raster: its tiles only */
    eem_rect inner = {40, 20, 40, 30};
    CHECK_EQ_INT(eem_readplan_advise(&l, inner, 40, 30, 1000, &out, &err), EEM_OK);
    CHECK_EQ_INT(out.n, 4);
    CHECK(has_tile(&out, 1, 0) && has_tile(&out, 2, 1) && !has_tile(&out, 0, 0) &&
          !has_tile(&out, 3, 0));
    eem_tile_list_clear(&out);
    c.cached[1][0] = 0;
    /* the whole announced window is guarded first (issue 12 item 4): 12 tiles
     * over a budget of 3 are refused, nothing listed */
    CHECK_EQ_INT(eem_readplan_advise(&l, all, 100, 70, 3, &out, &err), EEM_ERR_LIMIT);
    CHECK_EQ_INT(out.n, 0);
    CHECK_CONTAINS(err.msg, "this copy of the whole raster");
    CHECK_CONTAINS(err.msg, "needs 12 predictions, more than MAX_PREDICTIONS=3; nothing was sent");
    CHECK_CONTAINS(err.msg, "|option:MAX_PREDICTIONS=12");
    /* a part of it within the budget: its first strip, capped by the budget */
    eem_rect part = {0, 0, 100, 40};
    CHECK_EQ_INT(eem_readplan_advise(&l, part, 100, 40, 3, &out, &err), EEM_ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "this read (announced with AdviseRead) needs 8 predictions");
    CHECK_EQ_INT(eem_readplan_advise(&l, part, 100, 40, 8, &out, &err), EEM_OK);
    CHECK_EQ_INT(out.n, 8);
    eem_tile_list_clear(&out);
    /* the guard over a window read in parts counts the missing tiles */
    CHECK_EQ_INT(eem_readplan_guard(&l, all, 12, &err), EEM_OK);
    CHECK_EQ_INT(eem_readplan_guard(&l, all, 11, &err), EEM_ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "this read needs 12 predictions");
    c.cached[2][3] = 1;
    CHECK_EQ_INT(eem_readplan_guard(&l, all, 11, &err), EEM_OK);
    eem_tile_list_free(&out);
}

static void test_whole_band_plan(void)
{
    eem_grid g = make_grid();
    cached_set c;
    memset(&c, 0, sizeof c);
    c.cached[1][1] = 1;
    eem_read_level l = make_level(&g, &c);
    eem_tile_list out = {0};
    eem_error err = {0};
    CHECK_EQ_INT(eem_readplan_whole(&l, 10, 1000000, &out, &err), EEM_ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "this whole-band computation needs 11 predictions");
    CHECK_EQ_INT(out.n, 0);
    CHECK_EQ_INT(eem_readplan_whole(&l, 11, 1000000, &out, &err), EEM_OK);
    CHECK_EQ_INT(out.n, 11);
    eem_tile_list_clear(&out);
    /* 11 tiles of 1000 bytes do not fit half of 20000: predicted as read */
    CHECK_EQ_INT(eem_readplan_whole(&l, 11, 20000, &out, &err), EEM_OK);
    CHECK_EQ_INT(out.n, 0);
    eem_tile_list_free(&out);
}

static int mask_cached(void *user, int tx, int ty)
{
    (void)user;
    return tx == 0 && ty == 0;
}

static void test_mask_plan_with_retries(void)
{
    eem_grid g = make_grid();
    cached_set c;
    memset(&c, 0, sizeof c);
    eem_read_level l = make_level(&g, &c);
    eem_tile_list pending = {0}, retry = {0}, missing = {0};
    eem_error err = {0};
    eem_tile_list_add(&pending, 1, 0);
    eem_tile_list_add(&pending, 3, 2); /* outside the window: stays pending */
    eem_rect win = {0, 0, 64, 32};    /* tiles (0,0) cached, (1,0) */
    CHECK_EQ_INT(eem_readplan_masks(&l, mask_cached, NULL, win, &pending, &retry, &missing, &err),
                 EEM_OK);
    CHECK_EQ_INT(retry.n, 1);
    CHECK(has_tile(&retry, 1, 0));
    CHECK_EQ_INT(missing.n, 0);
    CHECK_EQ_INT(pending.n, 1);
    CHECK(has_tile(&pending, 3, 2));
    eem_rect wider = {0, 0, 100, 40};
    CHECK_EQ_INT(eem_readplan_masks(&l, mask_cached, NULL, wider, &pending, &retry, &missing, &err),
                 EEM_OK);
    CHECK_EQ_INT(missing.n, 7); /* 8 tiles, one cached; (1,0) no longer pending */
    CHECK_EQ_INT(retry.n, 1);
    eem_tile_list_free(&pending);
    eem_tile_list_free(&retry);
    eem_tile_list_free(&missing);
}

static void test_reduced_overview_plans(void)
{
    eem_grid g = make_grid();
    cached_set base_cache, ov_cache;
    memset(&base_cache, 0, sizeof base_cache);
    memset(&ov_cache, 0, sizeof ov_cache);
    eem_read_level base = make_level(&g, &base_cache);
    /* overview 1 of 100 x 70: 50 x 35 in blocks of 32: 2 x 2 blocks */
    eem_read_level ov = make_level(&g, &ov_cache);
    ov.reduced = 1;
    ov.level = 1;
    ov.factor = 2;
    ov.width = 50;
    ov.height = 35;
    ov.base_width = 100;
    ov.base_height = 70;

    eem_rect b = eem_readplan_block_window(&ov, 1, 1);
    CHECK_EQ_INT(b.x, 32);
    CHECK_EQ_INT(b.w, 18);
    CHECK_EQ_INT(b.h, 3);
    eem_rect bw = eem_readplan_base_window(&ov, b);
    CHECK_EQ_INT(bw.x, 64);
    CHECK_EQ_INT(bw.y, 64);
    CHECK_EQ_INT(bw.w, 36);
    CHECK_EQ_INT(bw.h, 6);
    CHECK(eem_readplan_block_window(&ov, 2, 0).w <= 0);

    int i0, j0, i1, j1;
    eem_rect some = {10, 20, 30, 15};
    eem_readplan_tile_range(&ov, some, &i0, &j0, &i1, &j1);
    CHECK_EQ_INT(i0, 0);
    CHECK_EQ_INT(j0, 0);
    CHECK_EQ_INT(i1, 2);
    CHECK_EQ_INT(j1, 2);

    eem_tile_list blocks = {0}, tiles = {0};
    eem_error err = {0};
    eem_rect all = {0, 0, 50, 35};
    base_cache.cached[0][0] = 1;
    ov_cache.cached[1][1] = 1; /* that block needs level-0 tiles (2..3, 2) */
    CHECK_EQ_INT(eem_readplan_reduce_window(&ov, &base, all, 100, 1000000, &blocks, &tiles, &err),
                 EEM_OK);
    CHECK_EQ_INT(blocks.n, 3);
    CHECK_EQ_INT(tiles.n, 9); /* blocks (0,0) (1,0) (0,1): 4 + 4 + 2 tiles, one cached */
    CHECK(!has_tile(&tiles, 0, 0) && !has_tile(&tiles, 3, 2) && has_tile(&tiles, 1, 2));
    eem_tile_list_clear(&blocks);
    eem_tile_list_clear(&tiles);
    /* the guard names the overview and refuses before anything is listed to predict */
    CHECK_EQ_INT(eem_readplan_reduce_window(&ov, &base, all, 6, 1000000, &blocks, &tiles, &err),
                 EEM_ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "overview 1 (1/2; FIX_INPUT_PROJ=true");
    CHECK_CONTAINS(err.msg, "needs 9 predictions");
    eem_tile_list_clear(&blocks);
    eem_tile_list_clear(&tiles);
    /* too many for the cache share: blocks only, each predicts its own tiles */
    CHECK_EQ_INT(eem_readplan_reduce_window(&ov, &base, all, 100, 10000, &blocks, &tiles, &err),
                 EEM_OK);
    CHECK_EQ_INT(blocks.n, 3);
    CHECK_EQ_INT(tiles.n, 0);

    eem_rect block, base_win;
    CHECK_EQ_INT(eem_readplan_reduce_block(&ov, &base, 0, 0, 2, &block, &base_win, &err),
                 EEM_ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "block 0,0 of overview 1");
    CHECK_EQ_INT(eem_readplan_reduce_block(&ov, &base, 0, 0, 3, &block, &base_win, &err), EEM_OK);
    CHECK_EQ_INT(base_win.w, 64);
    CHECK_EQ_INT(eem_readplan_reduce_block(&ov, &base, 5, 0, 0, &block, &base_win, &err), EEM_OK);
    CHECK(block.w <= 0);
    eem_tile_list_free(&blocks);
    eem_tile_list_free(&tiles);
}

int main(void)
{
    test_tile_list();
    test_missing_tiles();
    test_strip_rows_and_cache_fit();
    test_advise_and_guard();
    test_whole_band_plan();
    test_mask_plan_with_retries();
    test_reduced_overview_plans();
    return check_report();
}
