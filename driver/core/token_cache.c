/* token_cache.c — process-wide access-token cache (see token_cache.h).
 *
 * Owns: the entries (one per credential source key), the single-flight rule
 * (one fetch per key at a time, shared by every waiting thread, errors
 * included), refresh-ahead timing on a monotonic clock, invalidation of
 * refused tokens and wiping of tokens that are replaced or forgotten. */
#define _POSIX_C_SOURCE 200809L

#include "token_cache.h"

#include "secret.h"
#include "str.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct entry {
    char *key;
    char *token;          /* secret, NULL when none is valid */
    char *quota_project;
    double refresh_at;    /* ask again after this (0: never) */
    double expires_at;    /* unusable after this (0: no known expiry) */
    int fetching;
    int waiters;
    unsigned long generation; /* completed fetches */
    eem_status last_status;   /* of the last fetch */
    eem_error last_error;
    long fetches;
    double last_used;
} entry;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_done = PTHREAD_COND_INITIALIZER;
static entry *g_entries[EEM_TOKEN_CACHE_MAX_ENTRIES];

static double (*g_clock_override)(void); /* tests: a clock they move by hand */

void eem_token_cache_use_clock(double (*clock)(void))
{
    pthread_mutex_lock(&g_lock);
    g_clock_override = clock;
    pthread_mutex_unlock(&g_lock);
}

double eem_token_cache_clock(void)
{
    if (g_clock_override)
        return g_clock_override();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void entry_free(entry *e)
{
    if (!e)
        return;
    free(e->key);
    eem_secret_free(e->token);
    free(e->quota_project);
    free(e);
}

/* The entry of key, created when missing; NULL when out of memory or when the
 * table is full of entries in use.  Called with g_lock held. */
static entry *entry_for(const char *key)
{
    int free_slot = -1, evict = -1;
    for (int i = 0; i < EEM_TOKEN_CACHE_MAX_ENTRIES; i++) {
        entry *e = g_entries[i];
        if (!e) {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        if (strcmp(e->key, key) == 0)
            return e;
        if (!e->fetching && !e->waiters &&
            (evict < 0 || e->last_used < g_entries[evict]->last_used))
            evict = i;
    }
    int slot = free_slot >= 0 ? free_slot : evict;
    if (slot < 0)
        return NULL;
    entry *e = calloc(1, sizeof *e);
    if (!e || !(e->key = eem_strdup(key))) {
        free(e);
        return NULL;
    }
    entry_free(g_entries[slot]);
    g_entries[slot] = e;
    return e;
}

static int entry_fresh(const entry *e, double now)
{
    return e->token && (e->refresh_at <= 0 || now < e->refresh_at);
}

static int entry_usable(const entry *e, double now)
{
    return e->token && (e->expires_at <= 0 || now < e->expires_at);
}

/* Copies for the caller; called with g_lock held. */
static eem_status hand_out(const entry *e, char **token, char **quota, double *refresh_at,
                           eem_error *err)
{
    *token = eem_strdup(e->token);
    *quota = e->quota_project ? eem_strdup(e->quota_project) : NULL;
    *refresh_at = e->refresh_at;
    if (!*token || (e->quota_project && !*quota)) {
        eem_secret_free(*token);
        free(*quota);
        *token = *quota = NULL;
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory copying the access token");
    }
    return EEM_OK;
}

/* Fetch without caching (the table is full of entries in use). */
static eem_status fetch_uncached(eem_token_fetch_fn fetch, void *user, char **token,
                                 char **quota, double *refresh_at, eem_error *err)
{
    eem_token_fetched f = {0};
    eem_status st = fetch(user, &f, err);
    if (st != EEM_OK) {
        eem_secret_free(f.token);
        free(f.quota_project);
        return st;
    }
    *token = f.token;
    *quota = f.quota_project;
    *refresh_at = f.lifetime_s > 0 ? eem_token_cache_clock() + f.lifetime_s / 2 : 0;
    return EEM_OK;
}

eem_status eem_token_cache_get(const char *key, eem_token_fetch_fn fetch, void *user,
                               char **token, char **quota_project, double *refresh_at,
                               eem_error *err)
{
    *token = NULL;
    *quota_project = NULL;
    *refresh_at = 0;
    pthread_mutex_lock(&g_lock);
    entry *e = entry_for(key);
    if (!e) {
        pthread_mutex_unlock(&g_lock);
        return fetch_uncached(fetch, user, token, quota_project, refresh_at, err);
    }
    e->last_used = eem_token_cache_clock();
    while (e->fetching) {
        /* someone else fetches: share the result */
        unsigned long gen = e->generation;
        e->waiters++;
        while (e->fetching)
            pthread_cond_wait(&g_done, &g_lock);
        e->waiters--;
        double now = eem_token_cache_clock();
        if (e->generation != gen && (entry_fresh(e, now) || e->last_status != EEM_OK)) {
            eem_status st;
            if (entry_usable(e, now))
                st = hand_out(e, token, quota_project, refresh_at, err);
            else {
                if (err)
                    *err = e->last_error;
                st = e->last_status;
            }
            pthread_mutex_unlock(&g_lock);
            return st;
        }
    }
    double now = eem_token_cache_clock();
    if (entry_fresh(e, now)) {
        eem_status st = hand_out(e, token, quota_project, refresh_at, err);
        pthread_mutex_unlock(&g_lock);
        return st;
    }
    e->fetching = 1;
    pthread_mutex_unlock(&g_lock);

    eem_token_fetched f = {0};
    eem_error local;
    eem_error_clear(&local);
    eem_status st = fetch(user, &f, &local);

    pthread_mutex_lock(&g_lock);
    e->fetching = 0;
    e->generation++;
    e->fetches++;
    e->last_status = st;
    e->last_error = local;
    now = eem_token_cache_clock();
    if (st == EEM_OK) {
        eem_secret_free(e->token);
        free(e->quota_project);
        e->token = f.token;
        e->quota_project = f.quota_project;
        f.token = f.quota_project = NULL;
        if (f.lifetime_s > 0) {
            double ahead = f.lifetime_s / 4 < EEM_TOKEN_REFRESH_AHEAD_S ? f.lifetime_s / 4
                                                                        : EEM_TOKEN_REFRESH_AHEAD_S;
            e->expires_at = now + f.lifetime_s;
            e->refresh_at = e->expires_at - ahead;
        } else {
            e->expires_at = e->refresh_at = 0;
        }
    }
    if (entry_usable(e, now))
        st = hand_out(e, token, quota_project, refresh_at, err);
    else if (err)
        *err = local;
    if (*token && e->last_status != EEM_OK)
        *refresh_at = 0 < e->expires_at ? e->expires_at : 0; /* retry the refresh at expiry */
    pthread_cond_broadcast(&g_done);
    pthread_mutex_unlock(&g_lock);
    eem_secret_free(f.token);
    free(f.quota_project);
    return st;
}

void eem_token_cache_invalidate(const char *key, const char *token)
{
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < EEM_TOKEN_CACHE_MAX_ENTRIES; i++) {
        entry *e = g_entries[i];
        if (e && strcmp(e->key, key) == 0) {
            if (e->token && token && strcmp(e->token, token) == 0) {
                eem_secret_free(e->token);
                e->token = NULL;
                e->refresh_at = e->expires_at = 0;
            }
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
}

long eem_token_cache_fetch_count(const char *key)
{
    long n = 0;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < EEM_TOKEN_CACHE_MAX_ENTRIES; i++)
        if (g_entries[i] && strcmp(g_entries[i]->key, key) == 0)
            n = g_entries[i]->fetches;
    pthread_mutex_unlock(&g_lock);
    return n;
}

int eem_token_cache_waiters(const char *key)
{
    int n = 0;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < EEM_TOKEN_CACHE_MAX_ENTRIES; i++)
        if (g_entries[i] && strcmp(g_entries[i]->key, key) == 0)
            n = g_entries[i]->waiters;
    pthread_mutex_unlock(&g_lock);
    return n;
}

void eem_token_cache_clear(void)
{
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < EEM_TOKEN_CACHE_MAX_ENTRIES; i++) {
        if (g_entries[i] && !g_entries[i]->fetching && !g_entries[i]->waiters) {
            entry_free(g_entries[i]);
            g_entries[i] = NULL;
        }
    }
    pthread_mutex_unlock(&g_lock);
}
