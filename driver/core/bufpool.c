/* bufpool.c — the process-wide pool of large byte buffers (see bufpool.h). */
#include "bufpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct kept {
    char *data;
    size_t cap;
} kept;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static kept g_kept[EEM_BUFPOOL_MAX_BUFFERS];
static int g_n;
static size_t g_bytes;

void eem_bufpool_give(void *data, size_t cap)
{
    if (!data)
        return;
    if (cap >= EEM_BUFPOOL_MIN_BYTES) {
        pthread_mutex_lock(&g_lock);
        int kept_it = g_n < EEM_BUFPOOL_MAX_BUFFERS && cap <= EEM_BUFPOOL_MAX_BYTES - g_bytes;
        if (kept_it) {
            g_kept[g_n].data = data;
            g_kept[g_n].cap = cap;
            g_n++;
            g_bytes += cap;
        }
        pthread_mutex_unlock(&g_lock);
        if (kept_it)
            return;
    }
    free(data);
}

void eem_bufpool_give_buf(eem_buf *b)
{
    eem_bufpool_give(b->data, b->cap);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

int eem_bufpool_take_into(eem_buf *b, size_t want)
{
    if (b->data)
        return 0;
    pthread_mutex_lock(&g_lock);
    int best = -1;
    for (int k = 0; k < g_n; k++) {
        int fits = g_kept[k].cap >= want;
        if (best < 0)
            best = k;
        else if (fits && (g_kept[best].cap < want || g_kept[k].cap < g_kept[best].cap))
            best = k; /* the smallest that fits */
        else if (!fits && g_kept[best].cap < want && g_kept[k].cap > g_kept[best].cap)
            best = k; /* none fits so far: the largest */
    }
    kept got = {NULL, 0};
    if (best >= 0) {
        got = g_kept[best];
        g_kept[best] = g_kept[--g_n];
        g_bytes -= got.cap;
    }
    pthread_mutex_unlock(&g_lock);
    if (!got.data)
        return 0;
    b->data = got.data;
    b->cap = got.cap;
    b->len = 0;
    b->failed = 0;
    b->data[0] = '\0';
    return 1;
}

void eem_bufpool_drain(void)
{
    pthread_mutex_lock(&g_lock);
    for (int k = 0; k < g_n; k++)
        free(g_kept[k].data);
    g_n = 0;
    g_bytes = 0;
    pthread_mutex_unlock(&g_lock);
}

void eem_bufpool_stats(int *buffers, size_t *bytes)
{
    pthread_mutex_lock(&g_lock);
    if (buffers)
        *buffers = g_n;
    if (bytes)
        *bytes = g_bytes;
    pthread_mutex_unlock(&g_lock);
}
