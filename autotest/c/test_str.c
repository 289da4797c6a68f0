/* test_str.c — string helpers (driver/core/str.c): owned copies and ASCII
 * case-insensitive comparison. */
#include "check.h"
#include "str.h"

#include <stdlib.h>

int main(void)
{
    const char *s = "SignedByte";
    char *d = eem_strdup(s);
    CHECK(d != NULL && d != s);
    CHECK(d && strcmp(d, s) == 0);
    free(d);
    char *e = eem_strdup("");
    CHECK(e && e[0] == '\0');
    free(e);
    CHECK(eem_strdup(NULL) == NULL);

    CHECK_EQ_INT(eem_str_equal_ignoring_case("SIGNEDBYTE", "signedbyte"), 1);
    CHECK_EQ_INT(eem_str_equal_ignoring_case("Nearest", "nearest"), 1);
    CHECK_EQ_INT(eem_str_equal_ignoring_case("near", "nearest"), 0);
    CHECK_EQ_INT(eem_str_equal_ignoring_case("nearest", "near"), 0);
    CHECK_EQ_INT(eem_str_equal_ignoring_case("a@", "A`"), 0); /* only letters fold */
    CHECK_EQ_INT(eem_str_equal_ignoring_case("", ""), 1);
    return check_report();
}
