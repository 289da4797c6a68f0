/* cache_lease.h — in-flight claims on cache entries, so that readers sharing a
 * cache folder (threads, processes, machines on a shared file system) never
 * predict the same tile at the same time (DESIGN.md section 5, "Beyond one
 * process").
 *
 * Before predicting a tile missing from the cache, a reader claims it: it
 * creates "<entry>.lease" exclusively (O_CREAT|O_EXCL), holding the owner
 * (host, process, claim number) and an expiry time.  A reader that finds the
 * tile claimed by someone else defers it and, once its own requests are done,
 * waits until the lease is gone, then reads the entry (or claims the tile
 * itself when the owner failed).  A lease is stale — and broken by the next
 * claimant — when it expired (EEMODEL_CACHE_LEASE_SECONDS, default 300) or its
 * owner is a process of this host that no longer exists (a killed worker).
 *
 * An eem_lease_set belongs to one compute call (one thread): it remembers the
 * leases it holds and the tiles it deferred, and releases every held lease in
 * eem_lease_set_clear(). */
#ifndef EEM_CACHE_LEASE_H
#define EEM_CACHE_LEASE_H

#include "cache.h"
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_LEASE_DEFAULT_SECONDS 300

typedef struct eem_lease_tile {
    int tx, ty;
    eem_cache_key key;
} eem_lease_tile;

typedef struct eem_lease_set {
    const char *dir;       /* the cache folder (borrowed) */
    eem_cache_key *held;   /* leases this set created */
    int n_held, cap_held;
    eem_lease_tile *deferred; /* tiles claimed by someone else */
    int n_deferred, cap_deferred;
    long waits;            /* tiles deferred because another reader held them */
    long broken;           /* stale leases broken */
} eem_lease_set;

/* An empty set on cache folder dir (NULL: leases off, every claim succeeds). */
void eem_lease_set_init(eem_lease_set *s, const char *dir);
/* Release every held lease and free the lists (the counters stay). */
void eem_lease_set_clear(eem_lease_set *s);

/* Claim key: 1 when this set now holds it (or leases cannot be used here: an
 * unwritable folder never blocks a prediction), 0 when a live owner holds it. */
int eem_lease_claim(eem_lease_set *s, const eem_cache_key *key);
/* Release the lease on key if this set holds it. */
void eem_lease_release(eem_lease_set *s, const eem_cache_key *key);
/* Remember tile (tx,ty) with key for after the wait. */
eem_status eem_lease_defer(eem_lease_set *s, int tx, int ty, const eem_cache_key *key,
                           eem_error *err);

typedef enum eem_lease_outcome {
    EEM_LEASE_PREDICT,           /* claimed: predict it, store it (the store releases) */
    EEM_LEASE_DEFERRED,          /* another reader holds it: deferred (eem_lease_defer) */
    EEM_LEASE_STORED_MEANWHILE   /* its previous owner stored it: parts are filled */
} eem_lease_outcome;

/* After a cache miss of key (tile tx,ty): claim it, else defer it; a claim
 * looks the entry up once more, as its previous owner may just have stored
 * it (then the lease is released at once). */
eem_status eem_lease_take_miss(eem_lease_set *s, eem_cache *c, const eem_cache_key *key, int tx,
                               int ty, void *const *parts, const size_t *sizes, int n_parts,
                               eem_lease_outcome *out, eem_error *err);

/* Wait until no live owner holds any deferred tile's lease (polling, 10 ms
 * growing to 250 ms; cancel is polled too).  Then *tiles (owned, tx,ty pairs)
 * and *n get the deferred tiles, and the deferred list is emptied. */
eem_status eem_lease_wait_deferred(eem_lease_set *s, int (*cancel)(void *), void *cancel_user,
                                   int **tiles, int *n, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
