/* str.h — the small string helpers plain C11 lacks: an owned copy of a string
 * and an ASCII case-insensitive comparison, an excerpt for error messages. */
#ifndef EEM_STR_H
#define EEM_STR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Owned copy of s (free()), NULL when s is NULL or memory runs out. */
char *eem_strdup(const char *s);
/* 1 when a and b are equal ignoring ASCII case, else 0. */
int eem_str_equal_ignoring_case(const char *a, const char *b);
/* At most max chars of s (n bytes) into buf: leading and trailing spaces
 * trimmed, control characters as spaces, "..." when cut (error excerpts). */
void eem_str_excerpt(const char *s, size_t n, size_t max, char *buf, size_t buflen);

#ifdef __cplusplus
}
#endif
#endif
