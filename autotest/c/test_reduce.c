/* test_reduce.c — FIX_INPUT_PROJ=true reduction (driver/core/reduce.c):
 * average and mode over factor x factor blocks, masks, partial edge blocks,
 * whole blocks through read callbacks (fill outside, strips, errors). */
#include "check.h"
#include "reduce.h"

#include <stdint.h>
#include <string.h>

static void test_method_for_types(void)
{
    CHECK_EQ_INT(eem_reduce_method_for(EEM_DT_FLOAT32), EEM_REDUCE_AVERAGE);
    CHECK_EQ_INT(eem_reduce_method_for(EEM_DT_FLOAT64), EEM_REDUCE_AVERAGE);
    CHECK_EQ_INT(eem_reduce_method_for(EEM_DT_UINT8), EEM_REDUCE_MODE);
    CHECK_EQ_INT(eem_reduce_method_for(EEM_DT_INT32), EEM_REDUCE_MODE);
}

static void test_average_with_mask_and_partial_edge(void)
{
    /* width 5, factor 2: columns {0,1} {2,3} {4}; two rows */
    const double v[10] = {1, 3, 10, 20, 7, 5, 7, 30, 40, 9};
    const uint8_t m[10] = {1, 1, 0, 1, 1, 1, 1, 0, 0, 0};
    double out[3], scratch[4];
    uint8_t om[3];
    eem_reduce_strip(EEM_REDUCE_AVERAGE, v, m, 5, 2, 2, -1, out, om, scratch);
    CHECK_NEAR(out[0], (1 + 3 + 5 + 7) / 4.0, 1e-12);
    CHECK_NEAR(out[1], 20.0, 1e-12); /* only one valid pixel */
    CHECK_NEAR(out[2], 7.0, 1e-12);  /* partial column, one valid */
    CHECK_EQ_INT(om[0], 255);
    CHECK_EQ_INT(om[1], 255);
    CHECK_EQ_INT(om[2], 255);
    /* all valid when mask is NULL */
    eem_reduce_strip(EEM_REDUCE_AVERAGE, v, NULL, 5, 2, 2, -1, out, om, scratch);
    CHECK_NEAR(out[1], (10 + 20 + 30 + 40) / 4.0, 1e-12);
    CHECK_NEAR(out[2], 8.0, 1e-12);
}

static void test_fully_masked_gets_fill(void)
{
    const double v[4] = {1, 2, 3, 4};
    const uint8_t m[4] = {0, 0, 0, 0};
    double out[1], scratch[4];
    uint8_t om[1];
    eem_reduce_strip(EEM_REDUCE_MODE, v, m, 2, 2, 2, -9999, out, om, scratch);
    CHECK_NEAR(out[0], -9999, 0);
    CHECK_EQ_INT(om[0], 0);
    eem_reduce_strip(EEM_REDUCE_AVERAGE, v, m, 2, 2, 2, 5, out, om, scratch);
    CHECK_NEAR(out[0], 5, 0);
    CHECK_EQ_INT(om[0], 0);
}

static void test_mode_and_ties(void)
{
    /* factor 4, one row of 8: {2,2,1,3} -> 2; {5,4,4,5} tie -> 4 (smallest) */
    const double v[8] = {2, 2, 1, 3, 5, 4, 4, 5};
    double out[2], scratch[16];
    uint8_t om[2];
    eem_reduce_strip(EEM_REDUCE_MODE, v, NULL, 8, 1, 4, 0, out, om, scratch);
    CHECK_NEAR(out[0], 2, 0);
    CHECK_NEAR(out[1], 4, 0);
    /* masked pixels do not vote */
    const uint8_t m[8] = {0, 0, 1, 1, 1, 0, 0, 1};
    eem_reduce_strip(EEM_REDUCE_MODE, v, m, 8, 1, 4, 0, out, om, scratch);
    CHECK_NEAR(out[0], 1, 0); /* {1,3} tie -> 1 */
    CHECK_NEAR(out[1], 5, 0); /* {5,5} */
}

static void test_large_factor_partial_rows(void)
{
    /* factor 4 over a 3x3 strip (raster edge): one output of all 9 values */
    double v[9];
    for (int i = 0; i < 9; i++)
        v[i] = i;
    double out[1], scratch[16];
    uint8_t om[1];
    eem_reduce_strip(EEM_REDUCE_AVERAGE, v, NULL, 3, 3, 4, 0, out, om, scratch);
    CHECK_NEAR(out[0], 4.0, 1e-12);
    CHECK_EQ_INT(om[0], 255);
}

/* A synthetic level 0: band 0 = x + 10*y (float), band 1 = (x / 3) % 2 (class),
 * pixel (1,1) masked; every read is checked against the raster and counted. */
typedef struct fake_base {
    int width, height;
    int band_reads, mask_reads, max_read_w, out_of_raster;
    int fail_band; /* band whose read fails, -1 none */
} fake_base;

static void note_read(fake_base *fb, eem_rect win)
{
    if (win.x < 0 || win.y < 0 || win.w <= 0 || win.h <= 0 || win.x + win.w > fb->width ||
        win.y + win.h > fb->height)
        fb->out_of_raster++;
    if (win.w > fb->max_read_w)
        fb->max_read_w = win.w;
}

static eem_status fake_read_band(void *user, int band, eem_rect win, double *values,
                                 eem_error *err)
{
    fake_base *fb = user;
    fb->band_reads++;
    note_read(fb, win);
    if (band == fb->fail_band)
        return eem_error_set(err, EEM_ERR_IO, "band %d unreadable", band);
    for (int y = 0; y < win.h; y++)
        for (int x = 0; x < win.w; x++) {
            int gx = win.x + x, gy = win.y + y;
            values[(size_t)y * win.w + x] = band == 0 ? gx + 10.0 * gy : (double)((gx / 3) % 2);
        }
    return EEM_OK;
}

static eem_status fake_read_mask(void *user, eem_rect win, uint8_t *mask, eem_error *err)
{
    fake_base *fb = user;
    (void)err;
    fb->mask_reads++;
    note_read(fb, win);
    for (int y = 0; y < win.h; y++)
        for (int x = 0; x < win.w; x++)
            mask[(size_t)y * win.w + x] = (win.x + x == 1 && win.y + y == 1) ? 0 : 255;
    return EEM_OK;
}

static void test_block_from_callbacks(void)
{
    /* level 0 7x5, factor 2: the reduced level is 4x3, one 4x4 block */
    fake_base fb = {7, 5, 0, 0, 0, 0, -1};
    const eem_reduce_method methods[2] = {EEM_REDUCE_AVERAGE, EEM_REDUCE_MODE};
    eem_reduce_input in = {2, methods, 7, 5, fake_read_band, fake_read_mask, &fb};
    double b0[16], b1[16];
    double *bands[2] = {b0, b1};
    uint8_t mask[16];
    eem_error err = {0};
    eem_rect block = {0, 0, 4, 3};
    CHECK_EQ_INT(eem_reduce_block(&in, 2, block, 4, 4, -9, bands, mask, &err), EEM_OK);
    /* (0,0) covers x 0..1, y 0..1 without the masked (1,1): (0 + 1 + 10) / 3 */
    CHECK_NEAR(b0[0], 11.0 / 3.0, 1e-12);
    /* (1,0): x 2..3, y 0..1: mean of 2,3,12,13 */
    CHECK_NEAR(b0[1], 7.5, 1e-12);
    /* (3,2): the corner, x 6, y 4 only */
    CHECK_NEAR(b0[2 * 4 + 3], 46.0, 1e-12);
    /* class band, (1,0): x 2..3 -> classes 0,1 twice each: the smaller wins */
    CHECK_NEAR(b1[1], 0.0, 1e-12);
    /* (2,1): x 4..5 -> class 1 */
    CHECK_NEAR(b1[4 + 2], 1.0, 1e-12);
    CHECK_EQ_INT(mask[0], 255);
    CHECK_EQ_INT(mask[2 * 4 + 3], 255);
    /* the block's last row lies outside the raster: fill, masked */
    CHECK_NEAR(b0[3 * 4 + 0], -9.0, 0);
    CHECK_NEAR(b1[3 * 4 + 3], -9.0, 0);
    CHECK_EQ_INT(mask[3 * 4 + 1], 0);
    CHECK_EQ_INT(fb.out_of_raster, 0);
    CHECK_EQ_INT(fb.mask_reads, 3); /* one strip per reduced row */
    CHECK_EQ_INT(fb.band_reads, 6);
}

static void test_block_strips_bounded(void)
{
    /* factor 1024: a reduced column reads 8 MiB of doubles, so a strip holds
     * two columns (EEM_REDUCE_STRIP_BYTES = 16 MiB): three columns, two strips */
    fake_base fb = {3 * 1024, 1024, 0, 0, 0, 0, -1};
    const eem_reduce_method methods[1] = {EEM_REDUCE_AVERAGE};
    eem_reduce_input in = {1, methods, fb.width, fb.height, fake_read_band, fake_read_mask, &fb};
    double b0[3];
    double *bands[1] = {b0};
    uint8_t mask[3];
    eem_error err = {0};
    eem_rect block = {0, 0, 3, 1};
    CHECK_EQ_INT(eem_reduce_block(&in, 1024, block, 3, 1, 0, bands, mask, &err), EEM_OK);
    CHECK_EQ_INT(fb.mask_reads, 2);
    CHECK_EQ_INT(fb.max_read_w, 2048);
    CHECK_EQ_INT(fb.out_of_raster, 0);
    /* column 2: mean x = 2048 + 511.5, mean y = 511.5 */
    CHECK_NEAR(b0[2], 2048 + 511.5 + 10 * 511.5, 1e-6);
}

static void test_block_read_error(void)
{
    fake_base fb = {7, 5, 0, 0, 0, 0, 1};
    const eem_reduce_method methods[2] = {EEM_REDUCE_AVERAGE, EEM_REDUCE_MODE};
    eem_reduce_input in = {2, methods, 7, 5, fake_read_band, fake_read_mask, &fb};
    double b0[16], b1[16];
    double *bands[2] = {b0, b1};
    uint8_t mask[16];
    eem_error err = {0};
    eem_rect block = {0, 0, 4, 3};
    CHECK_EQ_INT(eem_reduce_block(&in, 2, block, 4, 4, 0, bands, mask, &err), EEM_ERR_IO);
    CHECK_CONTAINS(err.msg, "band 1 unreadable");
    CHECK_EQ_INT(fb.band_reads, 2); /* stopped at the first failure */
}

int main(void)
{
    test_method_for_types();
    test_average_with_mask_and_partial_edge();
    test_fully_masked_gets_fill();
    test_mode_and_ties();
    test_large_factor_partial_rows();
    test_block_from_callbacks();
    test_block_strips_bounded();
    test_block_read_error();
    return check_report();
}
