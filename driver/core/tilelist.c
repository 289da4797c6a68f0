/* tilelist.c — growable list of tile coordinates (see tilelist.h). */
#include "tilelist.h"

#include <stdlib.h>
#include <string.h>

#define EEM_TILE_LIST_MIN_CAP 16

int eem_tile_list_add(eem_tile_list *l, int tx, int ty)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : EEM_TILE_LIST_MIN_CAP;
        if (cap < l->cap) /* overflow */
            return -1;
        int *xy = realloc(l->xy, (size_t)cap * 2 * sizeof *xy);
        if (!xy)
            return -1;
        l->xy = xy;
        l->cap = cap;
    }
    l->xy[2 * l->n] = tx;
    l->xy[2 * l->n + 1] = ty;
    l->n++;
    return 0;
}

int eem_tile_list_take(eem_tile_list *l, int tx, int ty)
{
    for (int k = 0; k < l->n; k++) {
        if (l->xy[2 * k] == tx && l->xy[2 * k + 1] == ty) {
            memmove(l->xy + 2 * k, l->xy + 2 * k + 2, (size_t)(l->n - k - 1) * 2 * sizeof *l->xy);
            l->n--;
            return 1;
        }
    }
    return 0;
}

void eem_tile_list_truncate(eem_tile_list *l, int n)
{
    if (n >= 0 && n < l->n)
        l->n = n;
}

void eem_tile_list_clear(eem_tile_list *l)
{
    l->n = 0;
}

void eem_tile_list_free(eem_tile_list *l)
{
    free(l->xy);
    l->xy = NULL;
    l->n = l->cap = 0;
}
