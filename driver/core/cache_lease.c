/* cache_lease.c — per-tile in-flight claims in a shared cache folder (see
 * cache_lease.h).
 *
 * A lease is "<dir>/<hh>/<64 hex>.lease", written whole before anyone can
 * read it: it is created under a private name and hard-linked to the lease
 * name (link fails when the name exists, on local and network file systems
 * alike), so a reader never sees a half-written lease.  Content:
 *   eemodel-lease 1 <host> <pid> <claim number> <expiry, Unix seconds>
 * Breaking a stale lease renames it to a private name first (only one of
 * several breakers succeeds), checks that what it renamed is still the stale
 * lease it judged (else links it back), and removes it. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include "cache_lease.h"

#include "config_values.h"

#include <cpl_conv.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LEASE_SUFFIX ".lease"
#define LEASE_TEXT_MAX 256
#define LEASE_POLL_FIRST_NS 10000000L  /* 10 ms */
#define LEASE_POLL_MAX_NS 250000000L   /* 250 ms */
#define LEASE_HOST_MAX 128

static atomic_long lease_counter;

static void key_hex(const eem_cache_key *key, char out[2 * EEM_CACHE_KEY_BYTES + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < EEM_CACHE_KEY_BYTES; i++) {
        out[2 * i] = digits[key->bytes[i] >> 4];
        out[2 * i + 1] = digits[key->bytes[i] & 15];
    }
    out[2 * EEM_CACHE_KEY_BYTES] = '\0';
}

static int lease_path(const char *dir, const eem_cache_key *key, char *buf, size_t n)
{
    char hex[2 * EEM_CACHE_KEY_BYTES + 1];
    key_hex(key, hex);
    return snprintf(buf, n, "%s/%.2s/%s" LEASE_SUFFIX, dir, hex, hex) < (int)n ? 0 : -1;
}

static void host_name(char *buf, size_t n)
{
    if (gethostname(buf, n) != 0)
        snprintf(buf, n, "unknown");
    buf[n - 1] = '\0';
    for (char *s = buf; *s; s++)
        if (*s == ' ' || *s == '\n')
            *s = '_';
}

static long lease_seconds(void)
{
    return (long)eem_config_number(EEM_NUM_CACHE_LEASE_SECONDS);
}

void eem_lease_set_init(eem_lease_set *s, const char *dir)
{
    memset(s, 0, sizeof *s);
    s->dir = dir;
}

static int read_small(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t got = read(fd, buf, n - 1);
    close(fd);
    if (got < 0)
        return -1;
    buf[got] = '\0';
    return 0;
}

/* 1 when the lease text names a dead or expired owner (an unreadable text
 * counts as stale: leases are written whole before they appear). */
static int lease_text_is_stale(const char *text)
{
    char host[LEASE_HOST_MAX + 1], me[LEASE_HOST_MAX];
    long pid = 0, claim = 0;
    long long expiry = 0;
    if (sscanf(text, "eemodel-lease 1 %128s %ld %ld %lld", host, &pid, &claim, &expiry) != 4)
        return 1;
    if ((long long)time(NULL) > expiry)
        return 1;
    host_name(me, sizeof me);
    if (strcmp(host, me) == 0 && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return 1;
    return 0;
}

/* Remove the lease at path if it still is the stale lease whose text was read. */
static void lease_break(eem_lease_set *s, const char *path, const char *stale_text)
{
    char aside[PATH_MAX], now_text[LEASE_TEXT_MAX];
    if (snprintf(aside, sizeof aside, "%s.broken-%ld-%ld", path, (long)getpid(),
                 (long)atomic_fetch_add(&lease_counter, 1)) >= (int)sizeof aside)
        return;
    if (rename(path, aside) != 0)
        return; /* already broken or released by someone else */
    if (read_small(aside, now_text, sizeof now_text) == 0 && strcmp(now_text, stale_text) != 0 &&
        !lease_text_is_stale(now_text)) {
        /* a fresh lease replaced the stale one meanwhile: give it back */
        (void)link(aside, path);
    } else {
        s->broken++;
    }
    (void)unlink(aside);
}

/* Create the lease at path whole: private file, then link (fails if taken). */
static int lease_create(const char *path, int *taken)
{
    char tmp[PATH_MAX], host[LEASE_HOST_MAX], text[LEASE_TEXT_MAX];
    long claim = atomic_fetch_add(&lease_counter, 1);
    *taken = 0;
    if (snprintf(tmp, sizeof tmp, "%s.new-%ld-%ld", path, (long)getpid(), claim) >=
        (int)sizeof tmp)
        return -1;
    host_name(host, sizeof host);
    int len = snprintf(text, sizeof text, "eemodel-lease 1 %s %ld %ld %lld\n", host,
                       (long)getpid(), claim, (long long)time(NULL) + lease_seconds());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0)
        return -1;
    int ok = write(fd, text, (size_t)len) == len;
    ok = close(fd) == 0 && ok;
    int rc = -1;
    if (ok) {
        if (link(tmp, path) == 0)
            rc = 0;
        else if (errno == EEXIST)
            *taken = 1;
    }
    (void)unlink(tmp);
    return rc;
}

static int remember_held(eem_lease_set *s, const eem_cache_key *key)
{
    if (s->n_held == s->cap_held) {
        int cap = s->cap_held ? 2 * s->cap_held : 32;
        eem_cache_key *n = realloc(s->held, (size_t)cap * sizeof *n);
        if (!n)
            return -1;
        s->held = n;
        s->cap_held = cap;
    }
    s->held[s->n_held++] = *key;
    return 0;
}

int eem_lease_claim(eem_lease_set *s, const eem_cache_key *key)
{
    char path[PATH_MAX], text[LEASE_TEXT_MAX];
    if (!s->dir || lease_path(s->dir, key, path, sizeof path) != 0)
        return 1;
    /* the entry's sub-folder may not exist yet */
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s", path);
    char *slash = strrchr(sub, '/');
    if (slash) {
        *slash = '\0';
        (void)mkdir(sub, 0777);
    }
    for (int attempt = 0; attempt < 4; attempt++) {
        int taken = 0;
        if (lease_create(path, &taken) == 0) {
            if (remember_held(s, key) != 0) {
                (void)unlink(path);
                return 1; /* no memory to track it: predict without a lease */
            }
            return 1;
        }
        if (!taken)
            return 1; /* leases cannot be written here: never block a prediction */
        if (read_small(path, text, sizeof text) != 0)
            continue; /* released meanwhile: try again */
        if (!lease_text_is_stale(text))
            return 0;
        lease_break(s, path, text);
    }
    return 0;
}

void eem_lease_release(eem_lease_set *s, const eem_cache_key *key)
{
    char path[PATH_MAX];
    for (int k = 0; k < s->n_held; k++) {
        if (memcmp(s->held[k].bytes, key->bytes, EEM_CACHE_KEY_BYTES) != 0)
            continue;
        if (lease_path(s->dir, key, path, sizeof path) == 0)
            (void)unlink(path);
        s->held[k] = s->held[--s->n_held];
        return;
    }
}

eem_status eem_lease_defer(eem_lease_set *s, int tx, int ty, const eem_cache_key *key,
                           eem_error *err)
{
    if (s->n_deferred == s->cap_deferred) {
        int cap = s->cap_deferred ? 2 * s->cap_deferred : 16;
        eem_lease_tile *n = realloc(s->deferred, (size_t)cap * sizeof *n);
        if (!n)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        s->deferred = n;
        s->cap_deferred = cap;
    }
    eem_lease_tile *t = &s->deferred[s->n_deferred++];
    t->tx = tx;
    t->ty = ty;
    t->key = *key;
    return EEM_OK;
}

eem_status eem_lease_take_miss(eem_lease_set *s, eem_cache *c, const eem_cache_key *key, int tx,
                               int ty, void *const *parts, const size_t *sizes, int n_parts,
                               eem_lease_outcome *out, eem_error *err)
{
    *out = EEM_LEASE_PREDICT;
    if (!eem_lease_claim(s, key)) {
        *out = EEM_LEASE_DEFERRED;
        return eem_lease_defer(s, tx, ty, key, err);
    }
    if (s->dir && eem_cache_get(c, key, parts, sizes, n_parts)) {
        eem_lease_release(s, key);
        *out = EEM_LEASE_STORED_MEANWHILE;
    }
    return EEM_OK;
}

void eem_lease_set_clear(eem_lease_set *s)
{
    char path[PATH_MAX];
    for (int k = 0; k < s->n_held; k++)
        if (lease_path(s->dir, &s->held[k], path, sizeof path) == 0)
            (void)unlink(path);
    free(s->held);
    free(s->deferred);
    s->held = NULL;
    s->deferred = NULL;
    s->n_held = s->cap_held = s->n_deferred = s->cap_deferred = 0;
}

/* 1 while a live owner holds the lease at path; a stale one is broken. */
static int lease_is_held(eem_lease_set *s, const char *path)
{
    char text[LEASE_TEXT_MAX];
    if (read_small(path, text, sizeof text) != 0)
        return 0;
    if (!lease_text_is_stale(text))
        return 1;
    lease_break(s, path, text);
    return 0;
}

eem_status eem_lease_wait_deferred(eem_lease_set *s, int (*cancel)(void *), void *cancel_user,
                                   int **tiles, int *n, eem_error *err)
{
    *tiles = NULL;
    *n = 0;
    if (s->n_deferred == 0)
        return EEM_OK;
    /* never hold while waiting: two readers each waiting for a tile the
     * other holds (after a failed request) would wait for the expiry */
    char held_path[PATH_MAX];
    for (int k = 0; k < s->n_held; k++)
        if (lease_path(s->dir, &s->held[k], held_path, sizeof held_path) == 0)
            (void)unlink(held_path);
    s->n_held = 0;
    long pause = LEASE_POLL_FIRST_NS;
    for (int k = 0; k < s->n_deferred; k++) {
        char path[PATH_MAX];
        if (lease_path(s->dir, &s->deferred[k].key, path, sizeof path) != 0)
            continue;
        s->waits++;
        while (lease_is_held(s, path)) {
            if (cancel && cancel(cancel_user))
                return eem_error_set(err, EEM_ERR_CANCELLED, "interrupted by the caller");
            struct timespec ts = {0, pause};
            nanosleep(&ts, NULL);
            if (pause < LEASE_POLL_MAX_NS)
                pause = pause * 2 > LEASE_POLL_MAX_NS ? LEASE_POLL_MAX_NS : pause * 2;
        }
    }
    int *out = malloc((size_t)s->n_deferred * 2 * sizeof *out);
    if (!out)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int k = 0; k < s->n_deferred; k++) {
        out[2 * k] = s->deferred[k].tx;
        out[2 * k + 1] = s->deferred[k].ty;
    }
    *tiles = out;
    *n = s->n_deferred;
    s->n_deferred = 0;
    return EEM_OK;
}
