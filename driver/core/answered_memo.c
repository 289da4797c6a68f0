/* answered_memo.c — which predict URLs answered 2xx in this process (see
 * answered_memo.h): a small table of URL hashes and when each last answered,
 * the oldest entry replaced when it is full. */
#define _POSIX_C_SOURCE 200809L

#include "answered_memo.h"

#include "config_values.h"
#include "http.h"

#include <cpl_conv.h>

#include <pthread.h>
#include <stdint.h>

#define EEM_ANSWERED_MEMO_ENTRIES 64

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint64_t hash;
    double at; /* eem_http_clock() of the last 2xx answer, 0: empty */
} g_entries[EEM_ANSWERED_MEMO_ENTRIES];

/* FNV-1a, 64 bits: the URL itself is never kept. */
static uint64_t url_hash(const char *url)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *c = (const unsigned char *)url; *c; c++) {
        h ^= *c;
        h *= 1099511628211ULL;
    }
    return h;
}

void eem_answered_memo_note(const char *predict_url)
{
    if (!predict_url || !*predict_url)
        return;
    const uint64_t h = url_hash(predict_url);
    const double now = eem_http_clock();
    pthread_mutex_lock(&g_lock);
    int slot = 0;
    for (int k = 0; k < EEM_ANSWERED_MEMO_ENTRIES; k++) {
        if (g_entries[k].at > 0 && g_entries[k].hash == h) {
            slot = k;
            break;
        }
        if (g_entries[k].at < g_entries[slot].at)
            slot = k; /* the oldest (or an empty one) */
    }
    g_entries[slot].hash = h;
    g_entries[slot].at = now;
    pthread_mutex_unlock(&g_lock);
}

int eem_answered_memo_has(const char *predict_url, double max_age_s)
{
    if (!predict_url || !*predict_url || !(max_age_s > 0))
        return 0;
    const uint64_t h = url_hash(predict_url);
    const double now = eem_http_clock();
    int found = 0;
    pthread_mutex_lock(&g_lock);
    for (int k = 0; k < EEM_ANSWERED_MEMO_ENTRIES && !found; k++)
        found = g_entries[k].at > 0 && g_entries[k].hash == h &&
                now - g_entries[k].at < max_age_s;
    pthread_mutex_unlock(&g_lock);
    return found;
}

eem_status eem_answered_memo_lifetime(double *seconds, eem_error *err)
{
    *seconds = eem_config_number(EEM_NUM_ANSWERED_MEMORY_S);
    if (eem_config_number_accepted(EEM_NUM_ANSWERED_MEMORY_S))
        return EEM_OK;
    return eem_error_set(err, EEM_ERR_INVALID,
                         "EEMODEL_ANSWERED_MEMORY_S: \"%.40s\" is not a number of seconds; "
                         "accepted: 0 (every dataset starts with one request) or more "
                         "(default %g)",
                         CPLGetConfigOption("EEMODEL_ANSWERED_MEMORY_S", ""),
                         EEM_ANSWERED_MEMO_DEFAULT_S);
}
