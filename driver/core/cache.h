/* cache.h — persistent prediction cache (EEMODEL_CACHE_DIR / CACHE_DIR).
 *
 * A folder of content-addressed entries: the key is the SHA-256 of a context
 * string (backend identity and output layout) and a tile's encoded instance;
 * the value is a list of byte buffers (the tile's decoded output bands).
 * Entries are written to a temporary file in the same folder and renamed into
 * place, so readers (other threads or processes) see a whole entry or none.
 * Each entry carries a header (magic, version, key, part sizes) and a SHA-256
 * of its bytes: a corrupt, truncated or mismatching entry is removed and
 * reported as a miss, never served.  The folder is kept under a size cap by
 * evicting the least recently used entries (a hit touches the entry's mtime);
 * several processes may share a folder — eviction tolerates files vanishing.
 * On object storage (/vsis3/, /vsigs/, /vsiaz/, cache_vsi.h) entries are
 * uploaded create-if-absent, with no size cap and no eviction.
 *
 * eem_cache_open() returns a cache freed with eem_cache_close(); one eem_cache
 * is used by one thread at a time, the per-folder size estimate is shared
 * process-wide under a lock. */
#ifndef EEM_CACHE_H
#define EEM_CACHE_H

#include "error.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_CACHE_KEY_BYTES 32
/* EEMODEL_CACHE_MAX_SIZE default: 1 GiB. 0 = unlimited. */
#define EEM_CACHE_DEFAULT_MAX_BYTES (1024LL * 1024 * 1024)
/* Most buffers one entry holds (one per output band). */
#define EEM_CACHE_MAX_PARTS 4096

typedef struct eem_cache eem_cache;

typedef struct eem_cache_key {
    unsigned char bytes[EEM_CACHE_KEY_BYTES];
} eem_cache_key;

typedef struct eem_cache_stats {
    long hits;
    long misses;
    long corrupt;        /* entries found damaged and removed */
    long writes;
    long write_failures; /* entries that could not be written (the prediction is still used) */
    long evicted;        /* entries this process removed to stay under the size cap */
} eem_cache_stats;

/* Open (creating it if needed) the cache folder dir, capped at max_bytes
 * (0 = unlimited).  Fails when the folder cannot be created or written. */
eem_status eem_cache_open(const char *dir, long long max_bytes, eem_cache **out, eem_error *err);
void eem_cache_close(eem_cache *c);

/* The cache a descriptor asks for: dir = CACHE_DIR when set, else the config
 * option EEMODEL_CACHE_DIR; size cap from EEMODEL_CACHE_MAX_SIZE (bytes, or a
 * number with a K, M, G or T suffix, powers of 1024; 0 = unlimited).  *out is
 * NULL (and EEM_OK returned) when no cache is configured. */
eem_status eem_cache_open_configured(const char *spec_dir, eem_cache **out, eem_error *err);

/* Parse an EEMODEL_CACHE_MAX_SIZE value; -1 when invalid. */
long long eem_cache_parse_size(const char *text);

/* key = SHA-256(length-prefixed context || data). */
eem_status eem_cache_key_compute(const char *context, const void *data, size_t len,
                                 eem_cache_key *key, eem_error *err);

/* Look an entry up: on a hit (returns 1) the n_parts buffers are filled with
 * exactly sizes[k] bytes each and the entry is marked recently used; 0 when
 * absent or unusable (a damaged entry or one of other sizes is removed). */
int eem_cache_get(eem_cache *c, const eem_cache_key *key, void *const *parts,
                  const size_t *sizes, int n_parts);

/* Store an entry atomically (replacing any previous one), then evict least
 * recently used entries while the folder is over the cap. */
eem_status eem_cache_put(eem_cache *c, const eem_cache_key *key, const void *const *parts,
                         const size_t *sizes, int n_parts, eem_error *err);

/* Scan the folder now: remove stale temporary files and evict least recently
 * used entries until it is under the cap; *total_bytes (may be NULL) gets the
 * size of the entries left. */
eem_status eem_cache_trim(eem_cache *c, long long *total_bytes, eem_error *err);

const char *eem_cache_dir(const eem_cache *c);
/* 1 when the cache is on object storage (cache_vsi.h): no leases, no size cap. */
int eem_cache_is_object_storage(const eem_cache *c);
void eem_cache_get_stats(const eem_cache *c, eem_cache_stats *st);

#ifdef __cplusplus
}
#endif
#endif
