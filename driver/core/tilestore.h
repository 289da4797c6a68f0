/* tilestore.h — the decoded tiles one opened dataset has predicted, so that
 * no tile is paid for twice while memory allows (issue 12 item 5): a second
 * pass of the COG driver, statistics followed by a copy, another band's read
 * after GDAL's block cache evicted the tile.  Independent of GDAL's block
 * cache and of the persistent cache (cache.c).
 *
 * A tile is kept as delivered: every band's buffer (masked) and the mask.
 * Up to max_memory bytes stay in memory; beyond that the oldest tiles move
 * to an anonymous temporary file (unlinked at once, in CPL_TMPDIR, TMPDIR or
 * /tmp) of at most max_disk bytes; past both bounds new tiles are not kept
 * (a later read predicts them again).  Nothing here is ever an error: a tile
 * that cannot be kept is simply not held. */
#ifndef EEM_TILESTORE_H
#define EEM_TILESTORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults of EEMODEL_TILE_STORE_MEMORY and EEMODEL_TILE_STORE_DISK (MB). */
#define EEM_TILESTORE_DEFAULT_MEMORY_MB 256
#define EEM_TILESTORE_DEFAULT_DISK_MB 4096

typedef struct eem_tilestore eem_tilestore;

/* A store of tiles of n_bands bands of band_bytes[b] bytes each plus a mask
 * of mask_bytes; NULL when both bounds are 0 (no store) or memory runs out. */
eem_tilestore *eem_tilestore_new(int n_bands, const size_t *band_bytes, size_t mask_bytes,
                                 long long max_memory, long long max_disk);
/* The bounds from EEMODEL_TILE_STORE_MEMORY / EEMODEL_TILE_STORE_DISK (MB). */
void eem_tilestore_configured_bounds(long long *max_memory, long long *max_disk);
void eem_tilestore_free(eem_tilestore *s);

/* 1 when tile (level,tx,ty) is held (s may be NULL). */
int eem_tilestore_holds(const eem_tilestore *s, int level, int tx, int ty);
/* Keep a copy of a finished tile (no-op when held, or past the bounds). */
void eem_tilestore_put(eem_tilestore *s, int level, int tx, int ty, void *const *bands,
                       const uint8_t *mask);
/* Share of max_memory, and of GDAL's block cache size (GDAL_CACHEMAX), that
 * tiles already read out may keep in memory (the smaller of the two).  Half:
 * the other half stays for the tiles predicted ahead (pipeline.h bounds them
 * by a quarter of GDAL_CACHEMAX); a tile written to the file costs a copy
 * into the page cache, so a moderate raster read once is not written out at
 * all. */
#define EEM_TILESTORE_READ_SHARE 2

/* A tile that was read out (copied into the caller's buffer or GDAL's block
 * cache): such tiles are the first to leave memory for the temporary file,
 * oldest read first, and at most min(max_memory, GDAL_CACHEMAX) /
 * EEM_TILESTORE_READ_SHARE bytes of them stay in memory (tiles not read yet
 * push them out sooner when max_memory is reached), so a long copy's memory
 * stays flat, while
 * the dataset still never pays twice for a tile.  No-op when not in memory. */
void eem_tilestore_mark_read(eem_tilestore *s, int level, int tx, int ty);
/* 1 and the tile's buffers in bands[] / *mask (owned by the store, valid
 * until the next call on it) when held; 0 when not held or unreadable.
 * bands NULL: the mask alone (a tile in the file: only its mask is read). */
int eem_tilestore_get(eem_tilestore *s, int level, int tx, int ty, void **bands, uint8_t **mask);

/* 1 when tile (level,tx,ty) is held in memory, not in the file (tests, debug). */
int eem_tilestore_in_memory(const eem_tilestore *s, int level, int tx, int ty);
/* Tiles held in memory and in the temporary file (for tests and debug). */
void eem_tilestore_counts(const eem_tilestore *s, long *in_memory, long *on_disk);

#ifdef __cplusplus
}
#endif
#endif
