/* test_nodata.c — NODATA checked against the output band types (core nodata.c). */
#include "check.h"
#include "nodata.h"

#include <math.h>
#include <stdlib.h>

static const eem_dtype types[4] = {EEM_DT_FLOAT32, EEM_DT_FLOAT32, EEM_DT_FLOAT64, EEM_DT_UINT8};
static const char *const names[4] = {"a", "b", "c", "class"};

static eem_status resolve(const char *text, eem_band_nodata **nd, eem_error *err)
{
    *err = (eem_error){0};
    return eem_nodata_resolve_bands(text, types, names, 4, nd, err);
}

int main(void)
{
    eem_band_nodata *nd = NULL;
    eem_error err;

    /* default: float bands NaN, integer bands none */
    CHECK_EQ_INT(resolve(NULL, &nd, &err), EEM_OK);
    CHECK(nd && nd[0].has && isnan(nd[0].value) && nd[2].has && isnan(nd[2].value));
    CHECK(nd && !nd[3].has && nd[3].value == 0);
    free(nd);

    /* one value for every band */
    CHECK_EQ_INT(resolve(" 255 ", &nd, &err), EEM_OK);
    CHECK(nd && nd[0].has && nd[0].value == 255 && nd[3].has && nd[3].value == 255);
    free(nd);

    /* one per band; float32 values stored as the float32 they become */
    CHECK_EQ_INT(resolve("0.1,nan, -inf ,0", &nd, &err), EEM_OK);
    CHECK(nd && nd[0].value == (double)0.1f && isnan(nd[1].value));
    CHECK(nd && isinf(nd[2].value) && nd[2].value < 0 && nd[3].value == 0);
    free(nd);

    /* refused: what the integer band cannot hold, named with band, type, value */
    nd = NULL;
    CHECK_EQ_INT(resolve("-1", &nd, &err), EEM_ERR_INVALID);
    CHECK(nd == NULL);
    CHECK_CONTAINS(err.msg, "NODATA: -1 is not a value of band 4 (\"class\", uint8)");
    CHECK_CONTAINS(err.msg, "an integer from 0 to 255");
    CHECK_EQ_INT(resolve("300", &nd, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "NODATA: 300 is not a value of band 4");
    CHECK_EQ_INT(resolve("nan", &nd, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "NODATA: nan is not a value of band 4");
    CHECK_EQ_INT(resolve("nan,nan,nan,1.5", &nd, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "NODATA: 1.5 is not a value of band 4");
    CHECK_EQ_INT(resolve("1e39,0,0,0", &nd, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "NODATA: 1e39 is not a value of band 1 (\"a\", float32)");
    /* wrong count, not numbers */
    CHECK_EQ_INT(resolve("1,2", &nd, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "gives 2 values for 4 output bands");
    CHECK_EQ_INT(resolve("1,,2,3", &nd, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "is not a number or a list of numbers");
    CHECK_EQ_INT(eem_nodata_text_is_valid("nan,255"), 1);
    CHECK_EQ_INT(eem_nodata_text_is_valid("x"), 0);
    CHECK_EQ_INT(eem_nodata_text_is_valid(""), 0);
    CHECK_EQ_INT(eem_nodata_text_is_valid(NULL), 0);
    return check_report();
}
