/* test_cost.c — the cost of a read (driver/core/cost.c) without a predictor:
 * requests and bytes from a cost model, the guard against a limit, and the
 * readable line gdalinfo shows per level. */
#include "check.h"
#include "cost.h"

static void test_cost_of_tiles(void)
{
    eem_cost_model m = {100, 1000, 4};
    eem_cost c;
    eem_cost_of_tiles(&m, 9, &c);
    CHECK_EQ_INT(c.predictions, 9);
    CHECK_EQ_INT(c.requests, 3);
    CHECK_EQ_INT(c.request_bytes, 9 * 1000 + 3 * 100);
    eem_cost_of_tiles(&m, 0, &c);
    CHECK_EQ_INT(c.requests, 0);
    CHECK_EQ_INT(c.request_bytes, 0);
}

static void test_check_limit(void)
{
    eem_error err = {0};
    CHECK_EQ_INT(eem_cost_check_limit(10, 10, "this read", &err), EEM_OK);
    CHECK_EQ_INT(eem_cost_check_limit(10, 11, "block 1,2 of overview 3", &err), EEM_ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "block 1,2 of overview 3 needs 11 predictions");
    CHECK_CONTAINS(err.msg, "MAX_PREDICTIONS=10");
    CHECK_CONTAINS(err.msg, "-oo MAX_PREDICTIONS=11");
    CHECK_EQ_INT(eem_cost_check_limit(10, 11, NULL, &err), EEM_ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "this read needs 11");
}

static void test_cost_text(void)
{
    char text[256];
    eem_cost one = {1, 1, 1234};
    eem_cost_text(&one, 256, 128, 0, 0, 100, text, sizeof text);
    CHECK(strcmp(text, "256x128: 1 prediction in 1 request, 1234 request bytes") == 0);
    eem_cost many = {300, 3, 99};
    eem_cost_text(&many, 64, 32, 2, 1, 100, text, sizeof text);
    CHECK(strcmp(text, "64x32 (1/4): 300 predictions in 3 requests, 99 request bytes (reduces "
                       "the full-resolution predictions); more than MAX_PREDICTIONS=100: a full "
                       "read is refused") == 0);
    /* truncated to the buffer, still terminated */
    char small[8];
    eem_cost_text(&many, 64, 32, 2, 1, 100, small, sizeof small);
    CHECK_EQ_INT(strlen(small), 7);
    CHECK(strncmp(small, "64x32 (", 7) == 0);
}

int main(void)
{
    test_cost_of_tiles();
    test_check_limit();
    test_cost_text();
    return check_report();
}
