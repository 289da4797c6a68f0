/* test_grid.c — the geometry rules of DESIGN.md section 3. */
#include "check.h"
#include "grid.h"

static const double GT[6] = {101985.0, 300.0, 0.0, 2826915.0, 0.0, -300.0};

static void test_identity_ratio(void)
{
    eem_grid g;
    eem_error err;
    CHECK_EQ_INT(eem_grid_init(&g, 791, 718, GT, 256, 256, 16, 16, 256, 256, &err), EEM_OK);
    CHECK_EQ_INT(g.out_w, 791);
    CHECK_EQ_INT(g.out_h, 718);
    CHECK_EQ_INT(g.tiles_x, 4);
    CHECK_EQ_INT(g.tiles_y, 3);
    CHECK_NEAR(g.gt_out[1], 300.0, 0);
    CHECK_NEAR(g.gt_out[5], -300.0, 0);
    eem_rect r = eem_grid_tile_input_window(&g, 0, 0);
    CHECK_EQ_INT(r.x, -16);
    CHECK_EQ_INT(r.y, -16);
    CHECK_EQ_INT(r.w, 288);
    CHECK_EQ_INT(r.h, 288);
    r = eem_grid_tile_input_window(&g, 3, 2);
    CHECK_EQ_INT(r.x, 3 * 256 - 16);
    CHECK_EQ_INT(r.y, 2 * 256 - 16);
    r = eem_grid_tile_output_window(&g, 3, 2);
    CHECK_EQ_INT(r.x, 768);
    CHECK_EQ_INT(r.w, 791 - 768);
    CHECK_EQ_INT(r.h, 718 - 512);
    r = eem_grid_tile_core_window(&g, 3, 0);
    CHECK_EQ_INT(r.w, 23);
    CHECK_EQ_INT(r.h, 256);
    int pw, ph;
    CHECK_EQ_INT(eem_grid_padded_output_size(&g, &pw, &ph), 0);
    CHECK_EQ_INT(pw, 288);
    CHECK_EQ_INT(ph, 288);
}

static void test_non_square(void)
{
    eem_grid g;
    CHECK_EQ_INT(eem_grid_init(&g, 100, 50, GT, 40, 24, 3, 5, 40, 24, NULL), EEM_OK);
    CHECK_EQ_INT(g.tiles_x, 3);
    CHECK_EQ_INT(g.tiles_y, 3);
    eem_rect r = eem_grid_tile_input_window(&g, 1, 2);
    CHECK_EQ_INT(r.x, 40 - 3);
    CHECK_EQ_INT(r.y, 48 - 5);
    CHECK_EQ_INT(r.w, 46);
    CHECK_EQ_INT(r.h, 34);
    int i0, j0, i1, j1;
    eem_rect win = {39, 23, 2, 2};
    eem_grid_tiles_for_output_window(&g, win, &i0, &j0, &i1, &j1);
    CHECK_EQ_INT(i0, 0);
    CHECK_EQ_INT(i1, 2);
    CHECK_EQ_INT(j0, 0);
    CHECK_EQ_INT(j1, 2);
    eem_rect outside = {200, 0, 5, 5};
    eem_grid_tiles_for_output_window(&g, outside, &i0, &j0, &i1, &j1);
    CHECK_EQ_INT(i1 - i0, 0);
}

static void test_scale_up_down(void)
{
    eem_grid g;
    /* super-resolution 2x */
    CHECK_EQ_INT(eem_grid_init(&g, 791, 718, GT, 64, 64, 8, 8, 128, 128, NULL), EEM_OK);
    CHECK_EQ_INT(g.out_w, 1582);
    CHECK_EQ_INT(g.out_h, 1436);
    CHECK_NEAR(g.gt_out[1], 150.0, 0);
    CHECK_NEAR(g.gt_out[5], -150.0, 0);
    int pw, ph;
    CHECK_EQ_INT(eem_grid_padded_output_size(&g, &pw, &ph), 0);
    CHECK_EQ_INT(pw, 128 + 32);
    /* reduction 2x: odd size rounds up */
    CHECK_EQ_INT(eem_grid_init(&g, 791, 718, GT, 64, 64, 0, 0, 32, 32, NULL), EEM_OK);
    CHECK_EQ_INT(g.out_w, 396);
    CHECK_EQ_INT(g.out_h, 359);
    CHECK_NEAR(g.gt_out[1], 600.0, 0);
    /* patch classifier: one pixel per tile */
    CHECK_EQ_INT(eem_grid_init(&g, 791, 718, GT, 64, 64, 0, 0, 1, 1, NULL), EEM_OK);
    CHECK_EQ_INT(g.out_w, g.tiles_x);
    CHECK_EQ_INT(g.out_h, g.tiles_y);
    CHECK_NEAR(g.gt_out[1], 300.0 * 64, 0);
    int a, b;
    eem_grid_output_pixel_cover_x(&g, 0, &a, &b);
    CHECK_EQ_INT(a, 0);
    CHECK_EQ_INT(b, 64);
}

static void test_non_integer_ratio(void)
{
    eem_grid g;
    CHECK_EQ_INT(eem_grid_init(&g, 791, 718, GT, 3, 3, 1, 1, 2, 2, NULL), EEM_OK);
    CHECK_EQ_INT(g.out_w, 528); /* ceil(791*2/3) */
    CHECK_EQ_INT(g.out_h, 479); /* ceil(718*2/3) */
    CHECK_NEAR(g.gt_out[1], 450.0, 0);
    CHECK_NEAR(g.gt_out[5], -450.0, 0);
    int pw, ph;
    CHECK_EQ_INT(eem_grid_padded_output_size(&g, &pw, &ph), -1); /* 2*1*2/3 not integer */
    int a, b;
    eem_grid_output_pixel_cover_x(&g, 0, &a, &b); /* [0, 1.5) -> [0,2) */
    CHECK_EQ_INT(a, 0);
    CHECK_EQ_INT(b, 2);
    eem_grid_output_pixel_cover_x(&g, 1, &a, &b); /* [1.5, 3) -> [1,3) */
    CHECK_EQ_INT(a, 1);
    CHECK_EQ_INT(b, 3);
    /* 7 -> 3: pixel size 300*7/3 computed from the ratio */
    CHECK_EQ_INT(eem_grid_init(&g, 100, 100, GT, 7, 7, 0, 0, 3, 3, NULL), EEM_OK);
    CHECK_NEAR(g.gt_out[1], 300.0 * 7 / 3, 1e-12);
    CHECK_EQ_INT(g.out_w, 43); /* ceil(300/7) = 43 */
}

static void test_overviews(void)
{
    eem_grid g, o;
    CHECK_EQ_INT(eem_grid_init(&g, 791, 718, GT, 128, 128, 8, 8, 128, 128, NULL), EEM_OK);
    CHECK_EQ_INT(eem_grid_overview_count(&g), 3); /* 396x359, 198x180, 99x90 */
    eem_grid_overview(&g, 1, &o);
    CHECK_EQ_INT(o.in_w, 396);
    CHECK_EQ_INT(o.in_h, 359);
    CHECK_NEAR(o.gt_in[1], 600.0, 0);
    CHECK_NEAR(o.gt_out[1], 600.0, 0);
    CHECK_EQ_INT(o.tiles_x, 4);
    eem_grid_overview(&g, 3, &o);
    CHECK_EQ_INT(o.tiles_x, 1);
    CHECK_EQ_INT(o.tiles_y, 1);
    CHECK_EQ_INT(eem_grid_init(&g, 100, 100, GT, 128, 128, 0, 0, 128, 128, NULL), EEM_OK);
    CHECK_EQ_INT(eem_grid_overview_count(&g), 0);
}

static void test_invalid(void)
{
    eem_grid g;
    eem_error err;
    CHECK_EQ_INT(eem_grid_init(&g, 10, 10, GT, 0, 5, 0, 0, 1, 1, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "INPUT_TILE_SIZE");
    CHECK_EQ_INT(eem_grid_init(&g, 10, 10, GT, 5, 5, -1, 0, 1, 1, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "INPUT_OVERLAP_SIZE");
    CHECK_EQ_INT(eem_grid_init(&g, 1 << 29, 10, GT, 1, 5, 0, 0, 1000, 1, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "OUTPUT_TILE_SIZE");
}

/* Tile pairs sort row by row, left to right. */
static void test_sort_tiles(void)
{
    int tiles[] = {3, 1, 0, 2, 1, 1, 5, 0, 0, 1};
    const int want[] = {5, 0, 0, 1, 1, 1, 3, 1, 0, 2};
    eem_grid_sort_tiles(tiles, 5);
    for (int k = 0; k < 10; k++)
        CHECK_EQ_INT(tiles[k], want[k]);
    CHECK(eem_grid_compare_tiles((const int[]){9, 0}, (const int[]){0, 1}) < 0);
    CHECK(eem_grid_compare_tiles((const int[]){2, 4}, (const int[]){2, 4}) == 0);
}

int main(void)
{
    test_sort_tiles();
    test_identity_ratio();
    test_non_square();
    test_scale_up_down();
    test_non_integer_ratio();
    test_overviews();
    test_invalid();
    return check_report();
}
