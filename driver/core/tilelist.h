/* tilelist.h — a growable list of tile coordinates (tx,ty), the unit the read
 * planner hands to the predictor (eem_predictor_compute takes the pairs).
 *
 * eem_tile_list is a value type: zero-initialise it, add, read xy[2k],xy[2k+1]
 * for k < n, and release it with eem_tile_list_free. */
#ifndef EEM_TILELIST_H
#define EEM_TILELIST_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_tile_list {
    int *xy; /* pairs tx,ty */
    int n;   /* number of tiles */
    int cap; /* tiles allocated */
} eem_tile_list;

/* Append tile (tx,ty); 0 on success, -1 when memory runs out (list unchanged). */
int eem_tile_list_add(eem_tile_list *l, int tx, int ty);
/* 1 when (tx,ty) is in the list; the first occurrence is removed. */
int eem_tile_list_take(eem_tile_list *l, int tx, int ty);
/* Keep the first n tiles (no-op when n >= l->n). */
void eem_tile_list_truncate(eem_tile_list *l, int n);
void eem_tile_list_clear(eem_tile_list *l); /* n = 0, keeps the allocation */
void eem_tile_list_free(eem_tile_list *l);

#ifdef __cplusplus
}
#endif
#endif
