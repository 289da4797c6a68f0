/* str.c — owned string copies and ASCII case-insensitive comparison (see str.h). */
#include "str.h"

#include <ctype.h>

#include <stdlib.h>
#include <string.h>

char *eem_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int eem_str_equal_ignoring_case(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = ascii_lower((unsigned char)*a), cb = ascii_lower((unsigned char)*b);
        if (ca != cb)
            return 0;
        if (ca == 0)
            return 1;
    }
}

void eem_str_excerpt(const char *s, size_t n, size_t max, char *buf, size_t buflen)
{
    size_t o = 0;
    int truncated = n > max;
    if (truncated)
        n = max;
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    for (size_t i = 0; i < n && o + 1 < buflen; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    while (o > 0 && buf[o - 1] == ' ')
        o--;
    buf[o] = '\0';
    if (truncated && o + 4 < buflen)
        strcat(buf, "...");
}
