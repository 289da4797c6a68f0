/* test_reduce.c — FIX_INPUT_PROJ=true reduction (driver/core/reduce.c):
 * average and mode over factor x factor blocks, masks, partial edge blocks. */
#include "check.h"
#include "reduce.h"

#include <stdint.h>

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

int main(void)
{
    test_method_for_types();
    test_average_with_mask_and_partial_edge();
    test_fully_masked_gets_fill();
    test_mode_and_ties();
    test_large_factor_partial_rows();
    return check_report();
}
