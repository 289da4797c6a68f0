/* cache.c — persistent prediction cache (see cache.h).
 *
 * Layout: <dir>/<first two hex digits of the key>/<64 hex digits>.  An entry:
 *   "EEMCACHE"  u32 version  u32 n_parts  key[32]  u64 size[n_parts]
 *   part bytes...  SHA-256 of everything before it (32 bytes)
 * integers little-endian.  Writers create "<sub>/.tmp-<pid>-<n>" with O_EXCL
 * and rename it over the entry; readers check length, header and checksum
 * before using a byte.  The size of each folder is estimated process-wide
 * (a registry under a mutex) and re-measured by a scan when over the cap or
 * after an eighth of the cap was written, so several processes sharing a
 * folder converge on the cap without coordinating. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include "cache.h"
#include "cache_vsi.h"

#include <cpl_conv.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define CACHE_MAGIC "EEMCACHE"
#define CACHE_MAGIC_LEN 8
#define CACHE_FORMAT_VERSION 1u
#define CACHE_FIXED_HEADER (CACHE_MAGIC_LEN + 4 + 4 + EEM_CACHE_KEY_BYTES)
#define CACHE_TRAILER EEM_CACHE_KEY_BYTES /* SHA-256 */
/* Eviction stops at this share of the cap, so it does not run on every write. */
#define CACHE_EVICT_TARGET_PERCENT 90
/* Bytes written by one process between two re-measures: cap / this. */
#define CACHE_RESCAN_FRACTION 8
/* Temporary files older than this are leftovers of a crashed writer. */
#define CACHE_STALE_TEMP_SECONDS 3600
#define CACHE_TEMP_PREFIX ".tmp-"
#define CACHE_KEY_HEX (2 * EEM_CACHE_KEY_BYTES)

/* Process-wide size estimate of one folder. */
typedef struct cache_folder {
    char *path;
    long long bytes;
    long long written_since_scan;
    int measured;
    struct cache_folder *next;
} cache_folder;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static cache_folder *registry;
static atomic_long temp_counter;

struct eem_cache {
    char *dir;
    long long max_bytes;
    cache_folder *folder; /* borrowed from the registry, lives as long as the process */
    eem_cache_stats stats;
    int object_storage;   /* /vsis3/, /vsigs/, /vsiaz/: entries through VSI (cache_vsi.h) */
};

/* ---------------------------------------------------------------- helpers -- */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void key_hex(const eem_cache_key *key, char out[CACHE_KEY_HEX + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < EEM_CACHE_KEY_BYTES; i++) {
        out[2 * i] = digits[key->bytes[i] >> 4];
        out[2 * i + 1] = digits[key->bytes[i] & 15];
    }
    out[CACHE_KEY_HEX] = '\0';
}

static int is_hex_name(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return 0;
    return 1;
}

static int read_full(int fd, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* mkdir -p; 0 on success. */
static int make_folders(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int rc = 0;
    for (char *s = copy + 1; rc == 0; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(copy, 0777) != 0 && errno != EEXIST)
            rc = -1;
        *s = saved;
        if (saved == '\0')
            break;
    }
    free(copy);
    return rc;
}

static cache_folder *registry_folder_for(const char *path)
{
    cache_folder *f = NULL;
    pthread_mutex_lock(&registry_lock);
    for (f = registry; f; f = f->next)
        if (strcmp(f->path, path) == 0)
            break;
    if (!f) {
        f = calloc(1, sizeof *f);
        if (f) {
            f->path = strdup(path);
            if (!f->path) {
                free(f);
                f = NULL;
            } else {
                f->next = registry;
                registry = f;
            }
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return f;
}

static size_t header_size(int n_parts)
{
    return CACHE_FIXED_HEADER + 8 * (size_t)n_parts;
}

static void entry_path(const eem_cache *c, const eem_cache_key *key, char *buf, size_t n)
{
    char hex[CACHE_KEY_HEX + 1];
    key_hex(key, hex);
    snprintf(buf, n, "%s/%.2s/%s", c->dir, hex, hex);
}

/* ------------------------------------------------------------ open/close -- */

/* A cache on object storage: no folder to create, no size registry. */
static eem_status cache_open_object_storage(const char *dir, eem_cache **out, eem_error *err)
{
    eem_status st = eem_cache_vsi_check(dir, err);
    if (st != EEM_OK)
        return st;
    eem_cache *c = calloc(1, sizeof *c);
    char *copy = c ? strdup(dir) : NULL;
    if (!copy) {
        free(c);
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    c->dir = copy;
    c->object_storage = 1;
    *out = c;
    return EEM_OK;
}

int eem_cache_is_object_storage(const eem_cache *c)
{
    return c->object_storage;
}

eem_status eem_cache_open(const char *dir, long long max_bytes, eem_cache **out, eem_error *err)
{
    *out = NULL;
    if (!dir || !*dir)
        return eem_error_set(err, EEM_ERR_INVALID, "the cache folder name is empty");
    if (eem_cache_vsi_is_object_storage(dir))
        return cache_open_object_storage(dir, out, err);
    if (make_folders(dir) != 0)
        return eem_error_set(err, EEM_ERR_INVALID, "folder \"%s\" cannot be created: %s", dir,
                             strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return eem_error_set(err, EEM_ERR_INVALID, "\"%s\" is not a folder", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return eem_error_set(err, EEM_ERR_INVALID, "folder \"%s\" is not writable: %s", dir,
                             strerror(errno));
    char *real = realpath(dir, NULL);
    if (!real)
        return eem_error_set(err, EEM_ERR_INVALID, "folder \"%s\" cannot be resolved: %s", dir,
                             strerror(errno));
    if (strlen(real) + 2 * CACHE_KEY_HEX > PATH_MAX) {
        free(real);
        return eem_error_set(err, EEM_ERR_INVALID, "folder name \"%s\" is too long", dir);
    }
    eem_cache *c = calloc(1, sizeof *c);
    cache_folder *f = c ? registry_folder_for(real) : NULL;
    if (!c || !f) {
        free(real);
        free(c);
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    c->dir = real;
    c->max_bytes = max_bytes > 0 ? max_bytes : 0;
    c->folder = f;
    *out = c;
    return EEM_OK;
}

void eem_cache_close(eem_cache *c)
{
    if (!c)
        return;
    free(c->dir);
    free(c);
}

long long eem_cache_parse_size(const char *text)
{
    if (!text)
        return -1;
    const char *s = text;
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    int shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    default: break;
    }
    if (shift && toupper((unsigned char)*end) == 'I')
        end++;
    if (toupper((unsigned char)*end) == 'B')
        end++;
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0')
        return -1;
    if (v > ((unsigned long long)LLONG_MAX >> shift))
        return -1;
    return (long long)(v << shift);
}

eem_status eem_cache_open_configured(const char *spec_dir, eem_cache **out, eem_error *err)
{
    *out = NULL;
    const char *key = "CACHE_DIR";
    const char *dir = spec_dir;
    if (!dir || !*dir) {
        key = "EEMODEL_CACHE_DIR";
        dir = CPLGetConfigOption("EEMODEL_CACHE_DIR", NULL);
    }
    if (!dir || !*dir)
        return EEM_OK;
    if (strncmp(dir, "/vsi", 4) == 0 && !eem_cache_vsi_is_object_storage(dir))
        /* never a local folder named "/vsimem/...": only object storage
         * speaks VSI here */
        return eem_error_set(err, EEM_ERR_INVALID,
                             "%s: \"%s\" is a GDAL virtual file system path that is not "
                             "supported as CACHE_DIR; accepted: a folder of the local file "
                             "system or of a shared one mounted on every machine, or object "
                             "storage (/vsis3/, /vsigs/, /vsiaz/)",
                             key, dir);
    long long max_bytes = EEM_CACHE_DEFAULT_MAX_BYTES;
    const char *size = CPLGetConfigOption("EEMODEL_CACHE_MAX_SIZE", NULL);
    if (size && *size) {
        max_bytes = eem_cache_parse_size(size);
        if (max_bytes < 0)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "EEMODEL_CACHE_MAX_SIZE: \"%s\" is not a size; accepted: a "
                                 "number of bytes, optionally with a K, M, G or T suffix "
                                 "(e.g. 500M, 2G), or 0 for no limit",
                                 size);
    }
    eem_status st = eem_cache_open(dir, max_bytes, out, err);
    if (st != EEM_OK)
        eem_error_prefix(err, "%s", key);
    return st;
}

const char *eem_cache_dir(const eem_cache *c) { return c->dir; }

void eem_cache_get_stats(const eem_cache *c, eem_cache_stats *st) { *st = c->stats; }

/* ------------------------------------------------------------------- key -- */

eem_status eem_cache_key_compute(const char *context, const void *data, size_t len,
                                 eem_cache_key *key, eem_error *err)
{
    unsigned char prefix[8];
    size_t clen = context ? strlen(context) : 0;
    put_u64(prefix, (uint64_t)clen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int out_len = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, prefix, sizeof prefix) == 1 &&
             (clen == 0 || EVP_DigestUpdate(ctx, context, clen) == 1) &&
             (len == 0 || EVP_DigestUpdate(ctx, data, len) == 1) &&
             EVP_DigestFinal_ex(ctx, key->bytes, &out_len) == 1 &&
             out_len == EEM_CACHE_KEY_BYTES;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return eem_error_set(err, EEM_ERR_NOMEM, "SHA-256 of a cache key failed");
    return EEM_OK;
}

/* ------------------------------------------------------------------- get -- */

/* 1 when the open entry fd holds exactly key with parts of these sizes; the
 * parts are read into the caller's buffers as they are checked. */
static int entry_read_verified(int fd, const eem_cache_key *key, void *const *parts,
                               const size_t *sizes, int n_parts)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return 0;
    size_t hlen = header_size(n_parts);
    unsigned long long expected = hlen + CACHE_TRAILER;
    for (int k = 0; k < n_parts; k++)
        expected += sizes[k];
    if ((unsigned long long)st.st_size != expected)
        return 0;
    unsigned char *header = malloc(hlen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char stored[CACHE_TRAILER], computed[EEM_CACHE_KEY_BYTES];
    unsigned int clen = 0;
    int ok = header && ctx && read_full(fd, header, hlen) == 0 &&
             memcmp(header, CACHE_MAGIC, CACHE_MAGIC_LEN) == 0 &&
             get_u32(header + 8) == CACHE_FORMAT_VERSION &&
             get_u32(header + 12) == (uint32_t)n_parts &&
             memcmp(header + 16, key->bytes, EEM_CACHE_KEY_BYTES) == 0 &&
             EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, header, hlen) == 1;
    for (int k = 0; ok && k < n_parts; k++)
        ok = get_u64(header + CACHE_FIXED_HEADER + 8 * (size_t)k) == (uint64_t)sizes[k];
    for (int k = 0; ok && k < n_parts; k++)
        ok = read_full(fd, parts[k], sizes[k]) == 0 &&
             EVP_DigestUpdate(ctx, parts[k], sizes[k]) == 1;
    ok = ok && read_full(fd, stored, sizeof stored) == 0 &&
         EVP_DigestFinal_ex(ctx, computed, &clen) == 1 && clen == sizeof computed &&
         memcmp(stored, computed, sizeof stored) == 0;
    EVP_MD_CTX_free(ctx);
    free(header);
    return ok;
}

/* 1 when the entry bytes data[0..len) hold exactly key with parts of these
 * sizes; the parts are copied into the caller's buffers once all is checked. */
static int entry_verified_in_memory(const unsigned char *data, size_t len,
                                    const eem_cache_key *key, void *const *parts,
                                    const size_t *sizes, int n_parts)
{
    size_t hlen = header_size(n_parts);
    unsigned long long expected = hlen + CACHE_TRAILER;
    for (int k = 0; k < n_parts; k++)
        expected += sizes[k];
    if ((unsigned long long)len != expected)
        return 0;
    int ok = memcmp(data, CACHE_MAGIC, CACHE_MAGIC_LEN) == 0 &&
             get_u32(data + 8) == CACHE_FORMAT_VERSION && get_u32(data + 12) == (uint32_t)n_parts &&
             memcmp(data + 16, key->bytes, EEM_CACHE_KEY_BYTES) == 0;
    for (int k = 0; ok && k < n_parts; k++)
        ok = get_u64(data + CACHE_FIXED_HEADER + 8 * (size_t)k) == (uint64_t)sizes[k];
    unsigned char computed[EEM_CACHE_KEY_BYTES];
    unsigned int clen = 0;
    ok = ok && EVP_Digest(data, len - CACHE_TRAILER, computed, &clen, EVP_sha256(), NULL) == 1 &&
         clen == sizeof computed && memcmp(data + len - CACHE_TRAILER, computed, clen) == 0;
    if (!ok)
        return 0;
    const unsigned char *p = data + hlen;
    for (int k = 0; k < n_parts; k++) {
        memcpy(parts[k], p, sizes[k]);
        p += sizes[k];
    }
    return 1;
}

static int cache_get_object(eem_cache *c, const char *path, const eem_cache_key *key,
                            void *const *parts, const size_t *sizes, int n_parts)
{
    size_t max_len = header_size(n_parts) + CACHE_TRAILER;
    for (int k = 0; k < n_parts; k++)
        max_len += sizes[k];
    unsigned char *data = NULL;
    size_t len = 0;
    if (eem_cache_vsi_read(path, max_len + 1, &data, &len) != 0) {
        c->stats.misses++;
        return 0;
    }
    int ok = entry_verified_in_memory(data, len, key, parts, sizes, n_parts);
    free(data);
    if (!ok) {
        /* never served; left for the bucket's lifecycle (rewritten never) */
        c->stats.corrupt++;
        c->stats.misses++;
        return 0;
    }
    c->stats.hits++;
    return 1;
}

int eem_cache_get(eem_cache *c, const eem_cache_key *key, void *const *parts,
                  const size_t *sizes, int n_parts)
{
    char path[PATH_MAX];
    entry_path(c, key, path, sizeof path);
    if (n_parts < 0 || n_parts > EEM_CACHE_MAX_PARTS) {
        c->stats.misses++;
        return 0;
    }
    if (c->object_storage)
        return cache_get_object(c, path, key, parts, sizes, n_parts);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        c->stats.misses++;
        return 0;
    }
    int ok = entry_read_verified(fd, key, parts, sizes, n_parts);
    if (ok)
        (void)futimens(fd, NULL); /* least-recently-used order; a read-only folder is fine */
    close(fd);
    if (!ok) {
        /* never served; removed so that the recomputed tile replaces it */
        (void)unlink(path);
        c->stats.corrupt++;
        c->stats.misses++;
        return 0;
    }
    c->stats.hits++;
    return 1;
}

/* ------------------------------------------------------------------ trim -- */

typedef struct scanned_entry {
    char name[2 + 1 + CACHE_KEY_HEX + 1]; /* "hh/<hex>" */
    struct timespec mtime;
    long long size;
} scanned_entry;

static int compare_mtime(const void *a, const void *b)
{
    const scanned_entry *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* List the entries of one sub-folder into *list; remove stale temporary files. */
static int scan_subfolder(const char *dir, const char *sub, scanned_entry **list, size_t *n,
                          size_t *cap)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (!d)
        return 0; /* vanished or unreadable: nothing to count */
    int dfd = dirfd(d);
    time_t now = time(NULL);
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(de->d_name, CACHE_TEMP_PREFIX, strlen(CACHE_TEMP_PREFIX)) == 0) {
            if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                now - st.st_mtime > CACHE_STALE_TEMP_SECONDS)
                (void)unlinkat(dfd, de->d_name, 0);
            continue;
        }
        if (!is_hex_name(de->d_name, CACHE_KEY_HEX))
            continue;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue; /* removed meanwhile by another process */
        if (*n == *cap) {
            size_t ncap = *cap ? 2 * *cap : 256;
            scanned_entry *nl = realloc(*list, ncap * sizeof *nl);
            if (!nl) {
                rc = -1;
                break;
            }
            *list = nl;
            *cap = ncap;
        }
        scanned_entry *e = &(*list)[(*n)++];
        memcpy(e->name, sub, 2);
        e->name[2] = '/';
        memcpy(e->name + 3, de->d_name, CACHE_KEY_HEX + 1);
        e->mtime = st.st_mtim;
        e->size = (long long)st.st_size;
    }
    closedir(d);
    return rc;
}

eem_status eem_cache_trim(eem_cache *c, long long *total_bytes, eem_error *err)
{
    scanned_entry *list = NULL;
    size_t n = 0, cap = 0;
    eem_status st = EEM_OK;
    if (c->object_storage) {
        /* no size cap on object storage: the bucket's lifecycle rules expire it */
        if (total_bytes)
            *total_bytes = 0;
        return EEM_OK;
    }
    DIR *d = opendir(c->dir);
    if (!d)
        return eem_error_set(err, EEM_ERR_IO, "cache folder \"%s\" cannot be listed: %s", c->dir,
                             strerror(errno));
    struct dirent *de;
    while (st == EEM_OK && (de = readdir(d)) != NULL) {
        if (!is_hex_name(de->d_name, 2))
            continue;
        if (scan_subfolder(c->dir, de->d_name, &list, &n, &cap) != 0)
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    closedir(d);
    long long total = 0;
    for (size_t k = 0; k < n; k++)
        total += list[k].size;
    if (st == EEM_OK && c->max_bytes > 0 && total > c->max_bytes) {
        qsort(list, n, sizeof *list, compare_mtime);
        long long target = c->max_bytes / 100 * CACHE_EVICT_TARGET_PERCENT;
        for (size_t k = 0; k < n && total > target; k++) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", c->dir, list[k].name);
            if (unlink(path) == 0) {
                c->stats.evicted++;
                total -= list[k].size;
            } else if (errno == ENOENT) {
                total -= list[k].size; /* another process evicted it first */
            }
        }
    }
    free(list);
    if (st == EEM_OK) {
        pthread_mutex_lock(&registry_lock);
        c->folder->bytes = total;
        c->folder->measured = 1;
        c->folder->written_since_scan = 0;
        pthread_mutex_unlock(&registry_lock);
        if (total_bytes)
            *total_bytes = total;
    }
    return st;
}

/* ------------------------------------------------------------------- put -- */

static eem_status entry_write(int fd, const eem_cache_key *key, const void *const *parts,
                              const size_t *sizes, int n_parts, eem_error *err)
{
    size_t hlen = header_size(n_parts);
    unsigned char *header = malloc(hlen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char digest[EEM_CACHE_KEY_BYTES];
    unsigned int dlen = 0;
    int ok = header && ctx;
    if (ok) {
        memcpy(header, CACHE_MAGIC, CACHE_MAGIC_LEN);
        put_u32(header + 8, CACHE_FORMAT_VERSION);
        put_u32(header + 12, (uint32_t)n_parts);
        memcpy(header + 16, key->bytes, EEM_CACHE_KEY_BYTES);
        for (int k = 0; k < n_parts; k++)
            put_u64(header + CACHE_FIXED_HEADER + 8 * (size_t)k, (uint64_t)sizes[k]);
        ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, header, hlen) == 1 && write_full(fd, header, hlen) == 0;
    }
    for (int k = 0; ok && k < n_parts; k++)
        ok = EVP_DigestUpdate(ctx, parts[k], sizes[k]) == 1 &&
             write_full(fd, parts[k], sizes[k]) == 0;
    ok = ok && EVP_DigestFinal_ex(ctx, digest, &dlen) == 1 && dlen == sizeof digest &&
         write_full(fd, digest, sizeof digest) == 0;
    int saved = errno;
    EVP_MD_CTX_free(ctx);
    free(header);
    if (!ok)
        return eem_error_set(err, EEM_ERR_IO, "writing a cache entry failed: %s",
                             saved ? strerror(saved) : "internal error");
    return EEM_OK;
}

/* The whole entry in memory, uploaded create-if-absent (cache_vsi.h). */
static eem_status cache_put_object(eem_cache *c, const eem_cache_key *key,
                                   const void *const *parts, const size_t *sizes, int n_parts,
                                   eem_error *err)
{
    size_t hlen = header_size(n_parts), len = hlen + CACHE_TRAILER;
    for (int k = 0; k < n_parts; k++)
        len += sizes[k];
    unsigned char *data = malloc(len);
    if (!data) {
        c->stats.write_failures++;
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    memcpy(data, CACHE_MAGIC, CACHE_MAGIC_LEN);
    put_u32(data + 8, CACHE_FORMAT_VERSION);
    put_u32(data + 12, (uint32_t)n_parts);
    memcpy(data + 16, key->bytes, EEM_CACHE_KEY_BYTES);
    unsigned char *p = data + hlen;
    for (int k = 0; k < n_parts; k++) {
        put_u64(data + CACHE_FIXED_HEADER + 8 * (size_t)k, (uint64_t)sizes[k]);
        memcpy(p, parts[k], sizes[k]);
        p += sizes[k];
    }
    unsigned int dlen = 0;
    eem_status st = EEM_OK;
    if (EVP_Digest(data, len - CACHE_TRAILER, p, &dlen, EVP_sha256(), NULL) != 1 ||
        dlen != CACHE_TRAILER)
        st = eem_error_set(err, EEM_ERR_NOMEM, "SHA-256 of a cache entry failed");
    char path[PATH_MAX];
    entry_path(c, key, path, sizeof path);
    int existed = 0;
    if (st == EEM_OK)
        st = eem_cache_vsi_write_if_absent(path, data, len, &existed, err);
    free(data);
    if (st != EEM_OK)
        c->stats.write_failures++;
    else if (!existed)
        c->stats.writes++;
    return st;
}

eem_status eem_cache_put(eem_cache *c, const eem_cache_key *key, const void *const *parts,
                         const size_t *sizes, int n_parts, eem_error *err)
{
    if (n_parts < 0 || n_parts > EEM_CACHE_MAX_PARTS)
        return eem_error_set(err, EEM_ERR_INVALID, "a cache entry holds at most %d buffers",
                             EEM_CACHE_MAX_PARTS);
    if (c->object_storage)
        return cache_put_object(c, key, parts, sizes, n_parts, err);
    char hex[CACHE_KEY_HEX + 1], sub[PATH_MAX], tmp[PATH_MAX], path[PATH_MAX];
    key_hex(key, hex);
    eem_status st = EEM_OK;
    if (snprintf(sub, sizeof sub, "%s/%.2s", c->dir, hex) >= (int)sizeof sub ||
        snprintf(path, sizeof path, "%s/%s", sub, hex) >= (int)sizeof path ||
        snprintf(tmp, sizeof tmp, "%s/" CACHE_TEMP_PREFIX "%ld-%ld", sub, (long)getpid(),
                 (long)atomic_fetch_add(&temp_counter, 1)) >= (int)sizeof tmp)
        st = eem_error_set(err, EEM_ERR_INVALID, "cache folder name too long");
    if (st == EEM_OK && mkdir(sub, 0777) != 0 && errno != EEXIST)
        st = eem_error_set(err, EEM_ERR_IO, "cache folder \"%s\" cannot be created: %s", sub,
                           strerror(errno));
    /* Ctrl-C (or a TERM) while an entry is written would leave a temporary
     * file behind: such signals wait until the entry is renamed into place. */
    sigset_t stop_signals, saved_mask;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP);
    int masked = pthread_sigmask(SIG_BLOCK, &stop_signals, &saved_mask) == 0;
    int fd = -1;
    if (st == EEM_OK) {
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0)
            st = eem_error_set(err, EEM_ERR_IO, "cache file \"%s\" cannot be created: %s", tmp,
                               strerror(errno));
    }
    if (st == EEM_OK)
        st = entry_write(fd, key, parts, sizes, n_parts, err);
    if (fd >= 0 && close(fd) != 0 && st == EEM_OK)
        st = eem_error_set(err, EEM_ERR_IO, "cache file \"%s\" cannot be written: %s", tmp,
                           strerror(errno));
    if (st == EEM_OK && rename(tmp, path) != 0)
        st = eem_error_set(err, EEM_ERR_IO, "cache entry \"%s\" cannot be renamed into place: %s",
                           path, strerror(errno));
    if (st != EEM_OK && fd >= 0)
        (void)unlink(tmp);
    if (masked)
        pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
    if (st != EEM_OK) {
        c->stats.write_failures++;
        return st;
    }
    c->stats.writes++;
    if (c->max_bytes <= 0)
        return EEM_OK;
    long long bytes = (long long)header_size(n_parts) + CACHE_TRAILER;
    for (int k = 0; k < n_parts; k++)
        bytes += (long long)sizes[k];
    pthread_mutex_lock(&registry_lock);
    cache_folder *f = c->folder;
    f->bytes += bytes;
    f->written_since_scan += bytes;
    int rescan = !f->measured || f->bytes > c->max_bytes ||
                 f->written_since_scan > c->max_bytes / CACHE_RESCAN_FRACTION;
    pthread_mutex_unlock(&registry_lock);
    if (rescan) {
        eem_error ignored = {0};
        (void)eem_cache_trim(c, NULL, &ignored); /* the entry is written; trimming is best effort */
    }
    return EEM_OK;
}
