/* check.h — the few assertion macros the C unit tests use.  Each test binary
 * prints "N passed, N failed" and exits non-zero on any failure. */
#ifndef EEM_CHECK_H
#define EEM_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (cond)                                                                        \
            check_passed++;                                                              \
        else {                                                                           \
            check_failed++;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                                \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                               \
    do {                                                                                 \
        long long va_ = (long long)(a), vb_ = (long long)(b);                            \
        if (va_ == vb_)                                                                  \
            check_passed++;                                                              \
        else {                                                                           \
            check_failed++;                                                              \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, \
                    #a, #b, va_, vb_);                                                   \
        }                                                                                \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                            \
    do {                                                                                 \
        double va_ = (double)(a), vb_ = (double)(b);                                     \
        if (fabs(va_ - vb_) <= (tol))                                                    \
            check_passed++;                                                              \
        else {                                                                           \
            check_failed++;                                                              \
            fprintf(stderr, "%s:%d: %s ~ %s failed: %.17g != %.17g\n", __FILE__, __LINE__, \
                    #a, #b, va_, vb_);                                                   \
        }                                                                                \
    } while (0)

/* Substring check on messages. */
#define CHECK_CONTAINS(hay, needle)                                                      \
    do {                                                                                 \
        const char *h_ = (hay), *n_ = (needle);                                          \
        if (h_ && strstr(h_, n_))                                                        \
            check_passed++;                                                              \
        else {                                                                           \
            check_failed++;                                                              \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
                    h_ ? h_ : "(null)", n_);                                             \
        }                                                                                \
    } while (0)

static inline int check_report(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
