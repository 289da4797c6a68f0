/* cache_vsi.h — the persistent cache's entries on object storage (/vsis3/,
 * /vsigs/, /vsiaz/) through GDAL's virtual file systems.
 *
 * Object storage has no rename and no exclusive create, so entries are
 * written create-if-absent: an entry that exists is never rewritten (its key
 * fixes its content), and a new one is uploaded whole in one PUT, which
 * readers see entirely or not at all.  There is no size cap and no LRU
 * eviction (a hit does not touch the object): expiry is left to the bucket's
 * lifecycle rules.  No in-flight leases either (they need an exclusive
 * create), so processes sharing a bucket may predict a tile twice at the same
 * time; a shared file system gives each-tile-once. */
#ifndef EEM_CACHE_VSI_H
#define EEM_CACHE_VSI_H

#include "error.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 for /vsis3/, /vsigs/ and /vsiaz/ paths (case-sensitive, as GDAL's). */
int eem_cache_vsi_is_object_storage(const char *dir);

/* Fails when the bucket (or container) of dir cannot be reached or listed. */
eem_status eem_cache_vsi_check(const char *dir, eem_error *err);

/* Read the whole object at path (at most max_len bytes) into *data (owned,
 * free()); 0 on success, -1 when absent, unreadable or larger. */
int eem_cache_vsi_read(const char *path, size_t max_len, unsigned char **data, size_t *len);

/* Upload data to path unless an object is there already (*existed = 1). */
eem_status eem_cache_vsi_write_if_absent(const char *path, const void *data, size_t len,
                                         int *existed, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
