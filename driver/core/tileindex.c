/* tileindex.c — open-addressing hash map of tiles (see tileindex.h). */
#include "tileindex.h"

#include <stdlib.h>

/* Never 0 (the empty slot): levels and tile indices are small non-negative ints. */
static uint64_t tile_key(int level, int tx, int ty)
{
    return ((uint64_t)(uint32_t)level << 56) ^ ((uint64_t)(uint32_t)tx << 28) ^
           (uint64_t)(uint32_t)ty ^ (1ULL << 63);
}

static size_t slot_of(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

int eem_tile_index_get(const eem_tile_index *ix, int level, int tx, int ty)
{
    if (!ix->cap)
        return -1;
    uint64_t key = tile_key(level, tx, ty);
    for (size_t s = slot_of(key, ix->cap);; s = (s + 1) & (ix->cap - 1)) {
        if (ix->keys[s] == key)
            return ix->values[s];
        if (ix->keys[s] == 0)
            return -1;
    }
}

static void insert(eem_tile_index *ix, uint64_t key, int value)
{
    size_t s = slot_of(key, ix->cap);
    while (ix->keys[s] != 0 && ix->keys[s] != key)
        s = (s + 1) & (ix->cap - 1);
    if (ix->keys[s] == 0)
        ix->n++;
    ix->keys[s] = key;
    ix->values[s] = value;
}

int eem_tile_index_put(eem_tile_index *ix, int level, int tx, int ty, int value)
{
    if (2 * (ix->n + 1) > ix->cap) { /* at most half full */
        size_t cap = ix->cap ? 2 * ix->cap : 64;
        uint64_t *keys = calloc(cap, sizeof *keys);
        int *values = calloc(cap, sizeof *values);
        if (!keys || !values) {
            free(keys);
            free(values);
            return -1;
        }
        eem_tile_index old = *ix;
        ix->keys = keys;
        ix->values = values;
        ix->cap = cap;
        ix->n = 0;
        for (size_t s = 0; s < old.cap; s++)
            if (old.keys[s])
                insert(ix, old.keys[s], old.values[s]);
        free(old.keys);
        free(old.values);
    }
    insert(ix, tile_key(level, tx, ty), value);
    return 0;
}

void eem_tile_index_free(eem_tile_index *ix)
{
    free(ix->keys);
    free(ix->values);
    ix->keys = NULL;
    ix->values = NULL;
    ix->cap = ix->n = 0;
}
