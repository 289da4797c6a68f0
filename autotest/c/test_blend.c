/* test_blend.c — OVERLAP_MODE=BLEND arithmetic (driver/core/blend.c): the Hann
 * weights of a tile and of the tile half a period away sum to 1, the cost of
 * a full read counts the four sets, odd tile sizes are refused. */
#include "blend.h"
#include "check.h"

static void test_weights_partition_of_unity(void)
{
    for (int n = 2; n <= 64; n += 2) {
        for (int x = 0; x < n; x++) {
            double w = eem_blend_weight(x, n);
            double other = eem_blend_weight((x + n / 2) % n, n);
            CHECK_NEAR(w + other, 1.0, 1e-12);
            CHECK(w > 0.0 && w < 1.0);
        }
        /* symmetric, largest at the centre */
        CHECK_NEAR(eem_blend_weight(0, n), eem_blend_weight(n - 1, n), 1e-12);
        CHECK(eem_blend_weight(n / 2, n) >= eem_blend_weight(0, n));
    }
}

static eem_grid grid(int w, int h, int tw, int uw)
{
    eem_grid g;
    double gt[6] = {0, 1, 0, 0, 0, -1};
    eem_error err = {0};
    eem_grid_init(&g, w, h, gt, tw, tw, 0, 0, uw, uw, &err);
    return g;
}

static void test_full_read_tiles(void)
{
    eem_grid g = grid(160, 96, 32, 32); /* 5 x 3 tiles */
    CHECK_EQ_INT(eem_blend_full_read_tiles(&g), 5 * 3 + 6 * 3 + 5 * 4 + 6 * 4);
}

static void test_check(void)
{
    eem_error err = {0};
    eem_grid even = grid(100, 100, 32, 16);
    CHECK_EQ_INT(eem_blend_check(&even, &err), EEM_OK);
    eem_grid odd_in = grid(100, 100, 33, 33);
    CHECK_EQ_INT(eem_blend_check(&odd_in, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "OVERLAP_MODE=BLEND");
    CHECK_CONTAINS(err.msg, "(33,33)");
    eem_grid odd_out = grid(100, 100, 30, 15);
    CHECK_EQ_INT(eem_blend_check(&odd_out, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "OUTPUT_TILE_SIZE (15,15)");
}

static void test_shifted_windows(void)
{
    eem_grid g = grid(100, 100, 32, 32);
    g.shift_x = 16;
    g.shift_y = 16;
    g.ox = g.oy = 3;
    eem_rect r = eem_grid_tile_input_window(&g, -1, 0);
    CHECK_EQ_INT(r.x, -16 - 3);
    CHECK_EQ_INT(r.y, 16 - 3);
    CHECK_EQ_INT(r.w, 38);
    eem_rect c = eem_grid_tile_core_window(&g, -1, 2);
    CHECK_EQ_INT(c.x, 0);
    CHECK_EQ_INT(c.w, 16);
    CHECK_EQ_INT(c.y, 80);
    CHECK_EQ_INT(c.h, 20);
}

int main(void)
{
    test_weights_partition_of_unity();
    test_full_read_tiles();
    test_check();
    test_shifted_windows();
    return check_report();
}
