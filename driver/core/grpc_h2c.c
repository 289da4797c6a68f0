/* grpc_h2c.c — the table of known h2c connections per connection cache (see grpc_h2c.h). */
#include "grpc_h2c.h"

#include "url.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define EEM_H2C_ENTRIES 64
#define EEM_H2C_SERVER_MAX 256

typedef struct h2c_entry {
    const void *pool;
    char server[EEM_H2C_SERVER_MAX]; /* scheme://host:port, "" = free */
    unsigned long generation;
    int live;
} h2c_entry;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static h2c_entry g_entries[EEM_H2C_ENTRIES];
static unsigned long g_generation;
static int g_next_victim;

/* scheme://authority of url into buf (the key of its connection). */
static void server_of(const char *url, char *buf, size_t buflen)
{
    const char *a, *e;
    eem_url_authority(url, &a, &e);
    size_t n = (size_t)(e - url);
    if (n >= buflen)
        n = buflen - 1;
    memcpy(buf, url, n);
    buf[n] = '\0';
}

static h2c_entry *find(const void *pool, const char *server)
{
    for (int i = 0; i < EEM_H2C_ENTRIES; i++)
        if (g_entries[i].server[0] && g_entries[i].pool == pool &&
            strcasecmp(g_entries[i].server, server) == 0)
            return &g_entries[i];
    return NULL;
}

static h2c_entry *claim(const void *pool, const char *server)
{
    h2c_entry *e = NULL;
    for (int i = 0; i < EEM_H2C_ENTRIES && !e; i++)
        if (!g_entries[i].server[0])
            e = &g_entries[i];
    if (!e) {
        e = &g_entries[g_next_victim];
        g_next_victim = (g_next_victim + 1) % EEM_H2C_ENTRIES;
    }
    e->pool = pool;
    snprintf(e->server, sizeof e->server, "%s", server);
    e->live = 0;
    return e;
}

int eem_grpc_h2c_call_opens(const void *pool, const char *url, int force,
                            unsigned long *generation)
{
    char server[EEM_H2C_SERVER_MAX];
    server_of(url, server, sizeof server);
    pthread_mutex_lock(&g_lock);
    h2c_entry *e = find(pool, server);
    int opens = force || !e || !e->live;
    if (opens) {
        if (!e)
            e = claim(pool, server);
        e->generation = ++g_generation;
        e->live = 1; /* calls starting now wait for it (PIPEWAIT) */
    }
    *generation = e->generation;
    pthread_mutex_unlock(&g_lock);
    return opens;
}

void eem_grpc_h2c_forget(const void *pool, const char *url, unsigned long generation)
{
    char server[EEM_H2C_SERVER_MAX];
    server_of(url, server, sizeof server);
    pthread_mutex_lock(&g_lock);
    h2c_entry *e = find(pool, server);
    if (e && e->generation == generation)
        e->live = 0;
    pthread_mutex_unlock(&g_lock);
}
