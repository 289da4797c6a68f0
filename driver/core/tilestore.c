/* tilestore.c — decoded tiles of one opened dataset, in memory then in a
 * temporary file (see tilestore.h).  Tiles leave memory oldest first.
 * Tiles in memory live in slots of slabs (huge pages, bigalloc.h) that are
 * reused as tiles come and go, never given back before the store is freed:
 * a fresh allocation per tile page-faults on every first touch. */
#define _POSIX_C_SOURCE 200809L
#include "tilestore.h"

#include "bigalloc.h"
#include "config_values.h"
#include "tileindex.h"

#include <cpl_conv.h>
#include <gdal.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct stored_tile {
    uint8_t *data; /* every band then the mask, in memory; NULL when on disk or gone */
    long long off; /* offset in the file when on disk, else -1 */
} stored_tile;

struct eem_tilestore {
    int n_bands;
    size_t *band_bytes;
    size_t mask_bytes;
    size_t tile_bytes; /* all bands and the mask */
    long long max_memory, max_disk, memory, disk;
    eem_tile_index index; /* tile -> index into tiles */
    stored_tile *tiles;
    int n_tiles, cap_tiles;
    int oldest_in_memory; /* tiles before it are on disk or gone */
    /* tiles read out (eem_tilestore_mark_read), in the order they were: the
     * first to leave memory; read_memory bytes of them are in memory, at
     * most max_read_memory */
    int *read_order;
    int n_read, cap_read, oldest_read;
    long long read_memory, max_read_memory;
    unsigned char *was_read; /* per tile: marked read */
    int cap_was_read;
    int fd;               /* temporary file, -1 before the first spill or when unusable */
    int file_failed;
    uint8_t *scratch; /* a tile read back from the file */
    uint8_t **slabs;  /* memory for tiles, slab_slots slots of tile_bytes each */
    int n_slabs, cap_slabs, slab_slots;
    uint8_t **free_slots; /* slots no tile uses */
    int n_free;
    long in_memory, on_disk;
};

void eem_tilestore_configured_bounds(long long *max_memory, long long *max_disk)
{
    *max_memory = (long long)eem_config_number(EEM_NUM_TILE_STORE_MEMORY) << 20;
    *max_disk = (long long)eem_config_number(EEM_NUM_TILE_STORE_DISK) << 20;
}

eem_tilestore *eem_tilestore_new(int n_bands, const size_t *band_bytes, size_t mask_bytes,
                                 long long max_memory, long long max_disk)
{
    if (max_memory <= 0 && max_disk <= 0)
        return NULL;
    eem_tilestore *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->n_bands = n_bands;
    s->band_bytes = calloc((size_t)n_bands, sizeof *s->band_bytes);
    if (!s->band_bytes) {
        eem_tilestore_free(s);
        return NULL;
    }
    s->tile_bytes = mask_bytes;
    for (int b = 0; b < n_bands; b++) {
        s->band_bytes[b] = band_bytes[b];
        s->tile_bytes += band_bytes[b];
    }
    s->mask_bytes = mask_bytes;
    s->max_memory = max_memory > 0 ? max_memory : 0;
    s->max_disk = max_disk > 0 ? max_disk : 0;
    /* as much as GDAL's block cache would have kept of them, at most */
    const long long cache = GDALGetCacheMax64();
    s->max_read_memory = (cache < s->max_memory ? cache : s->max_memory) / EEM_TILESTORE_READ_SHARE;
    s->fd = -1;
    return s;
}

void eem_tilestore_free(eem_tilestore *s)
{
    if (!s)
        return;
    CPLDebug("EEMODEL",
             "tile store: %ld tile(s) in memory (%lld bytes, %lld of them read), %ld in the file; "
             "%lld bytes of slots at most",
             s->in_memory, s->memory, s->read_memory, s->on_disk,
             (long long)s->n_slabs * s->slab_slots * (long long)s->tile_bytes);
    for (int k = 0; k < s->n_slabs; k++)
        free(s->slabs[k]);
    free(s->slabs);
    free(s->free_slots);
    free(s->tiles);
    free(s->read_order);
    free(s->was_read);
    eem_tile_index_free(&s->index);
    if (s->fd >= 0)
        close(s->fd);
    free(s->scratch);
    free(s->band_bytes);
    free(s);
}

int eem_tilestore_holds(const eem_tilestore *s, int level, int tx, int ty)
{
    if (!s)
        return 0;
    int k = eem_tile_index_get(&s->index, level, tx, ty);
    return k >= 0 && (s->tiles[k].data || s->tiles[k].off >= 0);
}

/* The temporary file, created at the first spill and unlinked at once. */
static int open_file(eem_tilestore *s)
{
    if (s->fd >= 0 || s->file_failed)
        return s->fd;
    const char *dir = CPLGetConfigOption("CPL_TMPDIR", NULL);
    if (!dir || !*dir)
        dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    char path[4096];
    snprintf(path, sizeof path, "%s/eemodel-tiles-XXXXXX", dir);
    s->fd = mkstemp(path);
    if (s->fd < 0) {
        s->file_failed = 1;
        CPLDebug("EEMODEL",
                 "tile store: no temporary file in %s: tiles past "
                 "EEMODEL_TILE_STORE_MEMORY are not kept",
                 dir);
        return -1;
    }
    unlink(path);
    return s->fd;
}

/* Write a tile held in memory to the end of the file: 1 when written. */
static int write_out(eem_tilestore *s, stored_tile *t)
{
    if (s->disk + (long long)s->tile_bytes > s->max_disk || open_file(s) < 0 ||
        pwrite(s->fd, t->data, s->tile_bytes, (off_t)s->disk) != (ssize_t)s->tile_bytes)
        return 0;
    t->off = s->disk;
    s->disk += (long long)s->tile_bytes;
    s->on_disk++;
    return 1;
}

/* A slot for a tile's data: a free one, else one of a new slab.  NULL when
 * out of memory. */
static uint8_t *take_slot(eem_tilestore *s)
{
    if (s->n_free > 0)
        return s->free_slots[--s->n_free];
    if (s->slab_slots == 0) {
        const size_t per = EEM_BIGALLOC_HUGE_PAGE / s->tile_bytes;
        s->slab_slots = per > 0 ? (int)per : 1;
    }
    if (s->n_slabs == s->cap_slabs) {
        int cap = s->cap_slabs ? 2 * s->cap_slabs : 8;
        uint8_t **slabs = realloc(s->slabs, (size_t)cap * sizeof *slabs);
        uint8_t **slots = realloc(s->free_slots, (size_t)cap * s->slab_slots * sizeof *slots);
        if (slabs)
            s->slabs = slabs;
        if (slots)
            s->free_slots = slots;
        if (!slabs || !slots)
            return NULL;
        s->cap_slabs = cap;
    }
    uint8_t *slab = eem_bigalloc((size_t)s->slab_slots * s->tile_bytes, NULL);
    if (!slab)
        return NULL;
    s->slabs[s->n_slabs++] = slab;
    /* the first slot now, the others free, lowest address last (taken next) */
    for (int k = s->slab_slots - 1; k >= 1; k--)
        s->free_slots[s->n_free++] = slab + (size_t)k * s->tile_bytes;
    return slab;
}

static void give_slot(eem_tilestore *s, uint8_t *slot)
{
    s->free_slots[s->n_free++] = slot; /* room: every slot has a place */
}

/* Tile k leaves memory: to the file, or dropped when the file is full or
 * unusable (a tile already written there keeps its copy). */
static void leave_memory(eem_tilestore *s, int k)
{
    stored_tile *t = &s->tiles[k];
    if (t->off < 0)
        write_out(s, t);
    give_slot(s, t->data);
    t->data = NULL;
    s->memory -= (long long)s->tile_bytes;
    s->in_memory--;
    if (k < s->cap_was_read && s->was_read[k])
        s->read_memory -= (long long)s->tile_bytes;
}

/* Move the oldest tile read out still in memory to the file: 0 when none. */
static int spill_oldest_read(eem_tilestore *s)
{
    while (s->oldest_read < s->n_read && !s->tiles[s->read_order[s->oldest_read]].data)
        s->oldest_read++;
    if (s->oldest_read >= s->n_read)
        return 0;
    leave_memory(s, s->read_order[s->oldest_read++]);
    return 1;
}

/* Make room in memory: the oldest tile read out leaves first, else the
 * oldest tile.  0 when nothing was left in memory to move. */
static int spill_oldest(eem_tilestore *s)
{
    if (spill_oldest_read(s))
        return 1;
    while (s->oldest_in_memory < s->n_tiles && !s->tiles[s->oldest_in_memory].data)
        s->oldest_in_memory++;
    if (s->oldest_in_memory >= s->n_tiles)
        return 0;
    leave_memory(s, s->oldest_in_memory++);
    return 1;
}

void eem_tilestore_put(eem_tilestore *s, int level, int tx, int ty, void *const *bands,
                       const uint8_t *mask)
{
    if (!s || eem_tilestore_holds(s, level, tx, ty))
        return;
    if ((long long)s->tile_bytes > s->max_memory && s->max_disk < (long long)s->tile_bytes)
        return;
    while (s->memory + (long long)s->tile_bytes > s->max_memory && spill_oldest(s))
        ;
    if (s->n_tiles == s->cap_tiles) {
        int cap = s->cap_tiles ? 2 * s->cap_tiles : 64;
        stored_tile *nt = realloc(s->tiles, (size_t)cap * sizeof *nt);
        if (!nt)
            return;
        s->tiles = nt;
        s->cap_tiles = cap;
    }
    uint8_t *data = take_slot(s);
    if (!data)
        return;
    size_t o = 0;
    for (int b = 0; b < s->n_bands; b++) {
        memcpy(data + o, bands[b], s->band_bytes[b]);
        o += s->band_bytes[b];
    }
    memcpy(data + o, mask, s->mask_bytes);
    if (eem_tile_index_put(&s->index, level, tx, ty, s->n_tiles) != 0) {
        give_slot(s, data);
        return;
    }
    s->tiles[s->n_tiles].data = data;
    s->tiles[s->n_tiles].off = -1;
    s->n_tiles++;
    s->memory += (long long)s->tile_bytes;
    s->in_memory++;
    /* a store without memory keeps tiles in the file only */
    if (s->memory > s->max_memory)
        spill_oldest(s);
}

/* Room for tile k in the per-tile marks and the read order: 0 when none. */
static int grow_read_lists(eem_tilestore *s, int k)
{
    if (k >= s->cap_was_read) {
        int cap = s->cap_was_read ? 2 * s->cap_was_read : 256;
        while (cap <= k)
            cap *= 2;
        unsigned char *w = realloc(s->was_read, (size_t)cap);
        if (!w)
            return 0;
        memset(w + s->cap_was_read, 0, (size_t)(cap - s->cap_was_read));
        s->was_read = w;
        s->cap_was_read = cap;
    }
    if (s->n_read == s->cap_read) {
        /* entries before oldest_read are done with: slide them out first */
        if (s->oldest_read > 0) {
            memmove(s->read_order, s->read_order + s->oldest_read,
                    (size_t)(s->n_read - s->oldest_read) * sizeof *s->read_order);
            s->n_read -= s->oldest_read;
            s->oldest_read = 0;
        }
        if (s->n_read == s->cap_read) {
            int cap = s->cap_read ? 2 * s->cap_read : 256;
            int *r = realloc(s->read_order, (size_t)cap * sizeof *r);
            if (!r)
                return 0;
            s->read_order = r;
            s->cap_read = cap;
        }
    }
    return 1;
}

void eem_tilestore_mark_read(eem_tilestore *s, int level, int tx, int ty)
{
    const int k = s ? eem_tile_index_get(&s->index, level, tx, ty) : -1;
    if (k < 0 || !s->tiles[k].data || (k < s->cap_was_read && s->was_read[k]))
        return;
    if (!grow_read_lists(s, k)) {
        leave_memory(s, k); /* no room to remember it: the file at once */
        return;
    }
    s->was_read[k] = 1;
    s->read_order[s->n_read++] = k;
    s->read_memory += (long long)s->tile_bytes;
    while (s->read_memory > s->max_read_memory && spill_oldest_read(s))
        ;
}

int eem_tilestore_get(eem_tilestore *s, int level, int tx, int ty, void **bands, uint8_t **mask)
{
    if (!s)
        return 0;
    int k = eem_tile_index_get(&s->index, level, tx, ty);
    if (k < 0)
        return 0;
    const size_t mask_at = s->tile_bytes - s->mask_bytes;
    const uint8_t *data = s->tiles[k].data;
    if (!data) {
        if (s->tiles[k].off < 0 || s->fd < 0)
            return 0;
        if (!s->scratch && !(s->scratch = malloc(s->tile_bytes)))
            return 0;
        /* the mask alone: only its bytes are read back */
        const size_t from = bands ? 0 : mask_at;
        if (pread(s->fd, s->scratch + from, s->tile_bytes - from,
                  (off_t)(s->tiles[k].off + (long long)from)) != (ssize_t)(s->tile_bytes - from))
            return 0;
        data = s->scratch;
    }
    *mask = (uint8_t *)(data + mask_at);
    size_t o = 0;
    for (int b = 0; bands && b < s->n_bands; b++) {
        bands[b] = (void *)(data + o);
        o += s->band_bytes[b];
    }
    return 1;
}

int eem_tilestore_in_memory(const eem_tilestore *s, int level, int tx, int ty)
{
    const int k = s ? eem_tile_index_get(&s->index, level, tx, ty) : -1;
    return k >= 0 && s->tiles[k].data != NULL;
}

void eem_tilestore_counts(const eem_tilestore *s, long *in_memory, long *on_disk)
{
    *in_memory = s ? s->in_memory : 0;
    *on_disk = s ? s->on_disk : 0;
}
