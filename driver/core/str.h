/* str.h — the small string helpers plain C11 lacks: an owned copy of a string
 * and an ASCII case-insensitive comparison. */
#ifndef EEM_STR_H
#define EEM_STR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Owned copy of s (free()), NULL when s is NULL or memory runs out. */
char *eem_strdup(const char *s);
/* 1 when a and b are equal ignoring ASCII case, else 0. */
int eem_str_equal_ignoring_case(const char *a, const char *b);

#ifdef __cplusplus
}
#endif
#endif
