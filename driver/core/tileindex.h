/* tileindex.h — a hash map from a tile (level, tx, ty) to an int, for the
 * per-dataset memories (tilestore.c, failmemo.c).  Entries are never
 * removed: a memory lives as long as its dataset.
 *
 * eem_tile_index is a value type: zero-initialise it, put / get, release it
 * with eem_tile_index_free. */
#ifndef EEM_TILEINDEX_H
#define EEM_TILEINDEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_tile_index {
    uint64_t *keys; /* 0: empty slot */
    int *values;
    size_t cap; /* slots, a power of two (0: nothing allocated) */
    size_t n;   /* entries */
} eem_tile_index;

/* The value of (level,tx,ty), or -1 when absent. */
int eem_tile_index_get(const eem_tile_index *ix, int level, int tx, int ty);
/* Set the value of (level,tx,ty); 0 on success, -1 when memory runs out. */
int eem_tile_index_put(eem_tile_index *ix, int level, int tx, int ty, int value);
void eem_tile_index_free(eem_tile_index *ix);

#ifdef __cplusplus
}
#endif
#endif
