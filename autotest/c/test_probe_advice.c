/* test_probe_advice.c — tile size and overlap advice from a receptive radius
 * (driver/core/probe_advice.c): waste, request bytes per output pixel, the
 * largest tile that fits MAX_PAYLOAD_BYTES, the output-ratio step, unbounded
 * fields. */
#include "check.h"
#include "probe_advice.h"

static eem_grid grid(int tw, int ox, int uw)
{
    eem_grid g;
    double gt[6] = {0, 1, 0, 0, 0, -1};
    eem_error err = {0};
    eem_grid_init(&g, 1000, 1000, gt, tw, tw, ox, ox, uw, uw, &err);
    return g;
}

static void test_figures(void)
{
    /* 64x64 tile, overlap 4: 72x72 sent, 4 bytes per pixel, envelope 100 */
    eem_grid g = grid(64, 4, 64);
    eem_cost_model m = {100, 72 * 72 * 4, 10};
    eem_tile_figures f;
    eem_tile_figures_of(&g, &m, 1000000, 64, 64, 4, 4, &f);
    CHECK_NEAR(f.waste, 1.0 - 64.0 * 64 / (72.0 * 72), 1e-12);
    CHECK(f.fits);
    /* the backend cap (10 per request) holds, not the payload (47 would fit) */
    CHECK_NEAR(f.bytes_per_output_pixel, (72.0 * 72 * 4 + 100.0 / 10) / (64.0 * 64), 1e-9);
    eem_tile_figures_of(&g, &m, 1000, 64, 64, 4, 4, &f);
    CHECK(!f.fits);
}

static void test_advice_radius(void)
{
    /* 4 bytes per pixel, 1e6 bytes: a window of floor(sqrt(999900/4)) = 499;
     * radius 3 leaves 493, rounded down to a multiple of 8: 488 */
    eem_grid g = grid(64, 0, 64);
    eem_cost_model m = {100, 64 * 64 * 4, 1000};
    eem_tile_advice a;
    eem_tile_advise(&g, &m, 1000000, 3, 0, &a);
    CHECK(a.seam_free_possible);
    CHECK_EQ_INT(a.overlap, 3);
    CHECK(!a.current_seam_free);
    CHECK_EQ_INT(a.advised.tw, 488);
    CHECK_EQ_INT(a.advised.ox, 3);
    CHECK(a.advised.fits);
    CHECK_NEAR(a.advised.waste, 1.0 - 488.0 * 488 / (494.0 * 494), 1e-12);
    CHECK_NEAR(a.current.waste, 0.0, 0);
    /* a larger tile wastes less than the current one would with the same overlap */
    eem_tile_figures small;
    eem_tile_figures_of(&g, &m, 1000000, 64, 64, 3, 3, &small);
    CHECK(a.advised.waste < small.waste);
    CHECK(a.advised.bytes_per_output_pixel < small.bytes_per_output_pixel);
}

static void test_advice_current_enough(void)
{
    eem_grid g = grid(64, 5, 64);
    eem_cost_model m = {100, 74 * 74 * 4, 1000};
    eem_tile_advice a;
    eem_tile_advise(&g, &m, 1000000, 5, 0, &a);
    CHECK(a.current_seam_free);
    eem_tile_advise(&g, &m, 1000000, 6, 0, &a);
    CHECK(!a.current_seam_free);
}

static void test_advice_unbounded(void)
{
    eem_grid g = grid(64, 2, 64);
    eem_cost_model m = {100, 68 * 68 * 4, 1000};
    eem_tile_advice a;
    eem_tile_advise(&g, &m, 1000000, 31, 1, &a);
    CHECK(!a.seam_free_possible);
    CHECK(!a.current_seam_free);
    CHECK_EQ_INT(a.overlap, 2); /* keeps the current overlap */
    CHECK_EQ_INT(a.advised.tw, 488); /* 499 - 4 = 495 -> 488 */
}

static void test_advice_ratio_step(void)
{
    /* input 6 -> output 4: sides must be multiples of 3 (of 24 when large) */
    eem_grid g = grid(6, 0, 4);
    eem_cost_model m = {100, 6 * 6 * 4, 1000};
    eem_tile_advice a;
    eem_tile_advise(&g, &m, 1000000, 1, 0, &a);
    CHECK_EQ_INT(a.advised.tw % 24, 0);
    CHECK(a.advised.tw <= 497);
    CHECK(a.advised.tw > 497 - 24);
    /* tiny payload: the smallest step that fits */
    eem_tile_advise(&g, &m, 100 + 4 * 9 * 9, 1, 0, &a);
    CHECK_EQ_INT(a.advised.tw, 6); /* (6+2)^2 * 4 = 256 <= 324; 9+2 would not */
    CHECK(a.advised.fits);
    eem_tile_advise(&g, &m, 100 + 4 * 4, 1, 0, &a);
    CHECK(!a.advised.fits); /* not even (3+2)^2 pixels fit */
}

int main(void)
{
    test_figures();
    test_advice_radius();
    test_advice_current_enough();
    test_advice_unbounded();
    test_advice_ratio_step();
    return check_report();
}
