/* pipeline.c — the prediction pipeline: a worker thread per predictor fed
 * with the tiles reads wait for, then the announced window (see pipeline.h).
 *
 * Every tile the pipeline deals with has a record (level, tx, ty): NONE,
 * QUEUED (a read waits for it), TAKEN (the worker is predicting it), DONE (in
 * the tile store) or FAILED (masked by ON_ERROR=NODATA, or an error), until
 * the read that needs it takes it (back to NONE).  Records stay (a record is
 * small; the index keeps the tile's place), but the ones the worker took are
 * also listed apart (taken), so that the end of a worker session walks only
 * what that session took, not every tile the dataset ever touched; the tiles
 * reads wait for are the needed queue.  Records, queues and the
 * announcement are guarded by pl->mu; the predictor's own state by its work
 * lock, which the worker holds while it works and offers at every poll. */
#include "pipeline.h"

#include "cost.h"
#include "http.h"
#include "notice.h"
#include "str.h"
#include "tileindex.h"
#include "tilestore.h"
#include "worklock.h"

#include <cpl_conv.h>
#include <cpl_multiproc.h>
#include <cpl_string.h>

#include <stdlib.h>
#include <string.h>

/* How long a waiting read sleeps between looks at its cancel callback. */
#define EEM_PIPELINE_POLL_S 0.1

enum { REC_NONE, REC_QUEUED, REC_TAKEN, REC_DONE, REC_FAILED };

typedef struct tile_rec {
    int level, tx, ty;
    unsigned char state;
    unsigned char ahead;  /* predicted with no read waiting: counts against the bound */
    unsigned char masked; /* FAILED: masked (ON_ERROR=NODATA) rather than an error */
    unsigned char listed; /* in pl->taken */
    eem_status status;    /* FAILED as an error: its status */
    char *msg;            /* FAILED: the message (owned) */
} tile_rec;

struct eem_pipeline {
    eem_predictor *p;
    eem_worklock *lock; /* the predictor's */
    CPLMutex *mu;
    CPLCond *changed; /* work queued, a tile finished, the worker acknowledged */
    CPLJoinableThread *thread;
    eem_tile_index index; /* tile -> record */
    tile_rec *recs;
    int n_recs, cap_recs;
    int *taken; /* records made TAKEN since the last session end, each once (listed) */
    int n_taken;  /* (capacity: cap_recs) */
    int *needed; /* records reads wait for, first to last from head */
    int head, n_needed, cap_needed;
    int ann_level; /* the announced window: tiles in reading order */
    int *ann;
    int n_ann;
    eem_tile_index ann_pos; /* tile -> position in ann */
    int cursor;             /* next position of ann to look at ... */
    int scanned;            /* ... and how many were looked at since it was set */
    long ahead;             /* records with ahead set: predicted, not read */
    long bound;             /* most of them at once */
    int stop;
    unsigned abort_gen, ack_gen; /* work dropped by the reader / acknowledged by the worker */
    char **config;               /* thread-local config options of the last caller */
    unsigned config_gen;
    char **notices; /* the worker's notices, for the next read to hand on */
};

/* ------------------------------------------------------------ settings -- */

eem_status eem_pipeline_configured(int spec_value, int *on, eem_error *err)
{
    if (spec_value >= 0) {
        *on = spec_value;
        return EEM_OK;
    }
    const char *v = CPLGetConfigOption("EEMODEL_READ_AHEAD", NULL);
    *on = 1;
    if (!v || !*v || eem_str_equal_ignoring_case(v, "AUTO"))
        return EEM_OK;
    if (eem_str_equal_ignoring_case(v, "NO")) {
        *on = 0;
        return EEM_OK;
    }
    return eem_error_set(err, EEM_ERR_INVALID,
                         "EEMODEL_READ_AHEAD: \"%.40s\" is not a read-ahead mode; "
                         EEM_READ_AHEAD_ACCEPTED,
                         v);
}

/* ------------------------------------------------------------- records -- */

/* Index of the record of a tile, created (NONE) when create; -1 when absent
 * or out of memory.  Under pl->mu. */
static int rec_find(eem_pipeline *pl, int level, int tx, int ty, int create)
{
    int k = eem_tile_index_get(&pl->index, level, tx, ty);
    if (k >= 0 || !create)
        return k;
    if (pl->n_recs == pl->cap_recs) {
        int cap = pl->cap_recs ? 2 * pl->cap_recs : 256;
        tile_rec *nr = realloc(pl->recs, (size_t)cap * sizeof *nr);
        if (!nr)
            return -1;
        pl->recs = nr;
        int *nt = realloc(pl->taken, (size_t)cap * sizeof *nt);
        if (!nt)
            return -1;
        pl->taken = nt;
        pl->cap_recs = cap;
    }
    k = pl->n_recs;
    if (eem_tile_index_put(&pl->index, level, tx, ty, k) != 0)
        return -1;
    memset(&pl->recs[k], 0, sizeof pl->recs[k]);
    pl->recs[k].level = level;
    pl->recs[k].tx = tx;
    pl->recs[k].ty = ty;
    pl->n_recs++;
    return k;
}

/* The record no longer counts as predicted ahead. */
static void rec_unahead(eem_pipeline *pl, tile_rec *r)
{
    if (r->ahead) {
        r->ahead = 0;
        pl->ahead--;
    }
}

static void rec_clear(eem_pipeline *pl, tile_rec *r)
{
    rec_unahead(pl, r);
    r->state = REC_NONE;
    r->masked = 0;
    r->status = EEM_OK;
    free(r->msg);
    r->msg = NULL;
}

/* The worker takes record k (TAKEN), listed in pl->taken (never full: it
 * holds each record at most once and has room for all of them). */
static void rec_take(eem_pipeline *pl, int k)
{
    tile_rec *r = &pl->recs[k];
    r->state = REC_TAKEN;
    if (!r->listed) {
        r->listed = 1;
        pl->taken[pl->n_taken++] = k;
    }
}

/* A worker session ended well: the list keeps only the records still TAKEN
 * (none, when every tile reached the sink). */
static void recs_forget_finished(eem_pipeline *pl)
{
    int n = 0;
    for (int j = 0; j < pl->n_taken; j++) {
        tile_rec *r = &pl->recs[pl->taken[j]];
        if (r->state == REC_TAKEN)
            pl->taken[n++] = pl->taken[j];
        else
            r->listed = 0;
    }
    pl->n_taken = n;
}

/* The records the worker holds (TAKEN) after its session ended: failed with
 * err, or back to NONE (err NULL: the work was dropped).  Walks the list of
 * the records taken, not all records. */
static void recs_end_taken(eem_pipeline *pl, const eem_error *err)
{
    for (int j = 0; j < pl->n_taken; j++) {
        tile_rec *r = &pl->recs[pl->taken[j]];
        r->listed = 0;
        if (r->state != REC_TAKEN)
            continue;
        if (!err) {
            rec_clear(pl, r);
            continue;
        }
        r->state = REC_FAILED;
        r->masked = 0;
        r->status = err->status != EEM_OK ? err->status : EEM_ERR_HTTP;
        free(r->msg);
        r->msg = eem_strdup(err->msg);
    }
    pl->n_taken = 0;
}

/* --------------------------------------------------------------- feed -- */

/* 1 when tile column tx keeps the chunk [x0,x1] within max columns. */
static int chunk_fits(int x0, int x1, int tx, int max)
{
    const int a = tx < x0 ? tx : x0, b = tx > x1 ? tx : x1;
    return b - a + 1 <= max;
}

/* The next tiles of the announced window (under pl->mu, work lock held). */
static int feed_ahead(eem_pipeline *pl, int *level, int *tiles, int max)
{
    eem_predictor *p = pl->p;
    long long budget = eem_predictor_max_predictions(p) - eem_predictor_predictions_spent(p);
    int n = 0, row = 0, x0 = 0, x1 = 0;
    while (pl->scanned < pl->n_ann && n < max && pl->ahead < pl->bound && n < budget) {
        const int tx = pl->ann[2 * pl->cursor], ty = pl->ann[2 * pl->cursor + 1];
        if (n > 0 && (ty != row || !chunk_fits(x0, x1, tx, max)))
            break;
        pl->cursor = (pl->cursor + 1) % pl->n_ann;
        pl->scanned++;
        const int k = rec_find(pl, pl->ann_level, tx, ty, 1);
        if (k < 0) {
            pl->scanned = pl->n_ann; /* out of memory: no more read-ahead */
            break;
        }
        tile_rec *r = &pl->recs[k];
        if (r->state != REC_NONE || eem_predictor_tile_costs_nothing(p, pl->ann_level, tx, ty))
            continue;
        if (n == 0) {
            *level = pl->ann_level;
            row = ty;
            x0 = x1 = tx;
        }
        x0 = tx < x0 ? tx : x0;
        x1 = tx > x1 ? tx : x1;
        rec_take(pl, k);
        r->ahead = 1;
        pl->ahead++;
        tiles[2 * n] = tx;
        tiles[2 * n + 1] = ty;
        n++;
    }
    if (n == 0 && budget <= 0)
        pl->scanned = pl->n_ann; /* the budget is spent: read-ahead ends */
    return n;
}

/* eem_tile_feed.next: tiles reads wait for first, then the announcement. */
static int feed_next(void *user, int *level, int *urgent, int *tiles, int max)
{
    eem_pipeline *pl = user;
    int n = 0, row = 0, x0 = 0, x1 = 0;
    CPLAcquireMutex(pl->mu, 1000.0);
    if (pl->stop || pl->abort_gen != pl->ack_gen) {
        CPLReleaseMutex(pl->mu);
        return 0;
    }
    while (pl->head < pl->n_needed && n < max) {
        tile_rec *r = &pl->recs[pl->needed[pl->head]];
        if (r->state != REC_QUEUED) {
            pl->head++;
            continue;
        }
        if (n > 0 && (r->level != *level || r->ty != row || !chunk_fits(x0, x1, r->tx, max)))
            break;
        if (n == 0) {
            *level = r->level;
            row = r->ty;
            x0 = x1 = r->tx;
        }
        x0 = r->tx < x0 ? r->tx : x0;
        x1 = r->tx > x1 ? r->tx : x1;
        rec_take(pl, pl->needed[pl->head]);
        tiles[2 * n] = r->tx;
        tiles[2 * n + 1] = r->ty;
        n++;
        pl->head++;
    }
    if (pl->head == pl->n_needed)
        pl->head = pl->n_needed = 0;
    *urgent = n > 0;
    if (n == 0)
        n = feed_ahead(pl, level, tiles, max);
    CPLReleaseMutex(pl->mu);
    return n;
}

/* eem_tile_feed.pending: tiles waited for, plus what the announcement may
 * still add within the read-ahead bound. */
static long feed_pending(void *user)
{
    eem_pipeline *pl = user;
    CPLAcquireMutex(pl->mu, 1000.0);
    long n = pl->n_needed - pl->head;
    const long ann = pl->n_ann - pl->scanned, room = pl->bound - pl->ahead;
    if (ann > 0 && room > 0)
        n += ann < room ? ann : room;
    CPLReleaseMutex(pl->mu);
    return n;
}

/* The worker's sink: the tile is in the tile store (or failed). */
static eem_status worker_sink(void *user, int level, int tx, int ty, void *const *bands,
                              const uint8_t *mask, eem_error *err)
{
    (void)bands;
    (void)mask;
    (void)err;
    eem_pipeline *pl = user;
    const int failed = eem_predictor_tile_failed(pl->p);
    CPLAcquireMutex(pl->mu, 1000.0);
    const int k = rec_find(pl, level, tx, ty, 1);
    if (k >= 0) {
        tile_rec *r = &pl->recs[k];
        r->state = failed ? REC_FAILED : REC_DONE;
        r->masked = (unsigned char)failed;
        r->status = failed ? EEM_ERR_HTTP : EEM_OK;
        free(r->msg);
        r->msg = failed ? eem_strdup(eem_predictor_last_failure(pl->p)) : NULL;
    }
    CPLCondBroadcast(pl->changed);
    CPLReleaseMutex(pl->mu);
    return EEM_OK;
}

/* The worker's poll: stop when asked; else let a waiting caller in. */
static int worker_poll(void *user)
{
    eem_pipeline *pl = user;
    CPLAcquireMutex(pl->mu, 1000.0);
    const int stop = pl->stop || pl->abort_gen != pl->ack_gen;
    CPLReleaseMutex(pl->mu);
    if (stop)
        return 1;
    eem_worklock_yield(pl->lock);
    return 0;
}

/* 1 when the worker has something to do (under pl->mu). */
static int has_work(const eem_pipeline *pl)
{
    return pl->head < pl->n_needed ||
           (pl->scanned < pl->n_ann && pl->ahead < pl->bound);
}

/* The worker's notices (notice.h) wait for the next read. */
static void worker_keep_notice(void *user, const char *message)
{
    eem_pipeline *pl = user;
    CPLAcquireMutex(pl->mu, 1000.0);
    if (CSLCount(pl->notices) < 16) /* a few are enough to tell what happens */
        pl->notices = CSLAddString(pl->notices, message);
    CPLReleaseMutex(pl->mu);
}

/* GDAL messages in the worker (reading the source): debug lines as usual;
 * failures come back as an eem_error to the read, reported there. */
static void CPL_STDCALL worker_gdal_messages(CPLErr level, CPLErrorNum num, const char *msg)
{
    if (level == CE_Debug)
        CPLDefaultErrorHandler(level, num, msg);
}

/* Hand the worker's notices on in the calling thread. */
static void hand_on_notices(eem_pipeline *pl)
{
    CPLAcquireMutex(pl->mu, 1000.0);
    char **notices = pl->notices;
    pl->notices = NULL;
    CPLReleaseMutex(pl->mu);
    for (int k = 0; notices && notices[k]; k++)
        eem_notice("%s", notices[k]);
    CSLDestroy(notices);
}

static void worker_main(void *user)
{
    eem_pipeline *pl = user;
    eem_notice_keep_in_this_thread(worker_keep_notice, pl);
    CPLPushErrorHandler(worker_gdal_messages);
    unsigned config_gen = 0;
    const eem_tile_feed feed = {feed_next, pl, feed_pending};
    CPLAcquireMutex(pl->mu, 1000.0);
    while (!pl->stop) {
        if (pl->abort_gen != pl->ack_gen) {
            recs_end_taken(pl, NULL);
            pl->ack_gen = pl->abort_gen;
            CPLCondBroadcast(pl->changed);
            continue;
        }
        if (!has_work(pl)) {
            CPLCondWait(pl->changed, pl->mu);
            continue;
        }
        if (config_gen != pl->config_gen) {
            CPLSetThreadLocalConfigOptions((const char *const *)pl->config);
            config_gen = pl->config_gen;
        }
        CPLReleaseMutex(pl->mu);
        eem_error err = {0};
        eem_worklock_enter(pl->lock);
        const eem_status st = eem_predictor_run_feed(pl->p, &feed, worker_sink, pl, worker_poll,
                                                     pl, &err);
        eem_worklock_leave(pl->lock);
        CPLAcquireMutex(pl->mu, 1000.0);
        if (st == EEM_ERR_CANCELLED || pl->stop || pl->abort_gen != pl->ack_gen)
            recs_end_taken(pl, NULL); /* dropped: asked again when needed */
        else if (st != EEM_OK) {
            CPLDebug("EEMODEL", "prediction pipeline: %s (reported by the read needing it)",
                     err.msg);
            /* like a compute call that fails whole: the tiles queued fail too,
             * the announcement stops here; the reads report the failure */
            for (int j = pl->head; j < pl->n_needed; j++) /* the QUEUED records */
                if (pl->recs[pl->needed[j]].state == REC_QUEUED)
                    rec_take(pl, pl->needed[j]);
            recs_end_taken(pl, &err);
            pl->head = pl->n_needed = 0;
            pl->scanned = pl->n_ann;
        } else
            recs_forget_finished(pl);
        CPLCondBroadcast(pl->changed);
    }
    recs_end_taken(pl, NULL);
    CPLReleaseMutex(pl->mu);
    CPLPopErrorHandler();
    eem_notice_keep_in_this_thread(NULL, NULL);
    CPLSetThreadLocalConfigOptions(NULL);
}

/* ---------------------------------------------------------- lifecycle -- */

eem_status eem_pipeline_new(eem_predictor *p, eem_pipeline **out, eem_error *err)
{
    *out = NULL;
    eem_pipeline *pl = calloc(1, sizeof *pl);
    if (!pl)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    pl->p = p;
    pl->lock = eem_predictor_worklock(p);
    pl->mu = CPLCreateMutexEx(CPL_MUTEX_RECURSIVE); /* eem_pipeline_has_tile inside the feed */
    if (pl->mu)
        CPLReleaseMutex(pl->mu);
    pl->changed = CPLCreateCond();
    pl->bound = 1;
    if (pl->mu && pl->changed)
        pl->thread = CPLCreateJoinableThread(worker_main, pl);
    if (!pl->thread) {
        eem_pipeline_free(pl);
        return eem_error_set(err, EEM_ERR_NOMEM, "no worker thread could be started");
    }
    *out = pl;
    return EEM_OK;
}

void eem_pipeline_free(eem_pipeline *pl)
{
    if (!pl)
        return;
    if (pl->thread) {
        CPLAcquireMutex(pl->mu, 1000.0);
        pl->stop = 1;
        CPLCondBroadcast(pl->changed);
        CPLReleaseMutex(pl->mu);
        CPLJoinThread(pl->thread);
    }
    for (int k = 0; k < pl->n_recs; k++)
        free(pl->recs[k].msg);
    free(pl->recs);
    free(pl->taken);
    eem_tile_index_free(&pl->index);
    eem_tile_index_free(&pl->ann_pos);
    free(pl->needed);
    free(pl->ann);
    CSLDestroy(pl->config);
    CSLDestroy(pl->notices);
    if (pl->changed)
        CPLDestroyCond(pl->changed);
    if (pl->mu)
        CPLDestroyMutex(pl->mu);
    free(pl);
}

/* Tiles predicted ahead at most: see eem_pipeline_announce. */
static long ahead_bound(eem_predictor *p, long long cache_bytes)
{
    const eem_grid *g = eem_predictor_grid(p, 0);
    long long tile_bytes = (long long)g->uw * g->uh; /* the mask */
    for (int b = 0; b < eem_predictor_band_count(p); b++)
        tile_bytes += (long long)g->uw * g->uh * eem_dtype_size(eem_predictor_band_type(p, b));
    long long memory = 0, disk = 0;
    eem_tilestore_configured_bounds(&memory, &disk);
    long long bytes = cache_bytes / EEM_PIPELINE_CACHE_SHARE;
    if (memory < bytes)
        bytes = memory;
    long long n = bytes / (tile_bytes > 0 ? tile_bytes : 1);
    eem_http_options opts;
    eem_http_options_from_config(&opts);
    eem_cost_model model;
    eem_error ignored = {0};
    long long per_request = 1;
    if (eem_cost_model_of(p, &model, &ignored) == EEM_OK && model.instances_per_request > 0)
        per_request = model.instances_per_request;
    const long long floor = EEM_PIPELINE_MIN_REQUESTS_PER_CONNECTION * per_request *
                            (opts.max_connections > 0 ? opts.max_connections : 1);
    if (n < floor)
        n = floor;
    return n > 1L << 30 ? 1L << 30 : (long)n;
}

/* Remember the caller's thread-local config options for the worker (under mu). */
static void take_config(eem_pipeline *pl)
{
    char **mine = CPLGetThreadLocalConfigOptions();
    int same = CSLCount(mine) == CSLCount(pl->config);
    for (int k = 0; same && mine && mine[k]; k++)
        same = strcmp(mine[k], pl->config[k]) == 0;
    if (same) {
        CSLDestroy(mine);
        return;
    }
    CSLDestroy(pl->config);
    pl->config = mine;
    pl->config_gen++;
}

eem_status eem_pipeline_announce(eem_pipeline *pl, int level, const int *tiles, int n,
                                 long long cache_bytes, eem_error *err)
{
    int *copy = n > 0 ? malloc((size_t)n * 2 * sizeof *copy) : NULL;
    if (n > 0 && !copy)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_tile_index pos = {0};
    for (int k = 0; k < n; k++) {
        copy[2 * k] = tiles[2 * k];
        copy[2 * k + 1] = tiles[2 * k + 1];
        if (eem_tile_index_put(&pos, level, tiles[2 * k], tiles[2 * k + 1], k) != 0) {
            free(copy);
            eem_tile_index_free(&pos);
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        }
    }
    const long bound = ahead_bound(pl->p, cache_bytes);
    CPLAcquireMutex(pl->mu, 1000.0);
    free(pl->ann);
    eem_tile_index_free(&pl->ann_pos);
    pl->ann = copy;
    pl->ann_pos = pos;
    pl->n_ann = n;
    pl->ann_level = level;
    pl->cursor = pl->scanned = 0;
    pl->bound = bound;
    /* what the last announcement predicted and nobody read no longer holds
     * the new one back (it stays in the tile store) */
    for (int k = 0; k < pl->n_recs; k++)
        if (pl->recs[k].state != REC_TAKEN)
            rec_unahead(pl, &pl->recs[k]);
    take_config(pl);
    CPLCondBroadcast(pl->changed);
    CPLReleaseMutex(pl->mu);
    return EEM_OK;
}

void eem_pipeline_stop_work(eem_pipeline *pl)
{
    CPLAcquireMutex(pl->mu, 1000.0);
    for (int j = pl->head; j < pl->n_needed; j++) /* the QUEUED records */
        if (pl->recs[pl->needed[j]].state == REC_QUEUED)
            rec_clear(pl, &pl->recs[pl->needed[j]]);
    pl->head = pl->n_needed = 0;
    pl->scanned = pl->n_ann; /* the announcement is forgotten */
    pl->abort_gen++;
    CPLCondBroadcast(pl->changed);
    while (!pl->stop && pl->ack_gen != pl->abort_gen)
        CPLCondWait(pl->changed, pl->mu);
    CPLReleaseMutex(pl->mu);
}

int eem_pipeline_has_tile(eem_pipeline *pl, int level, int tx, int ty)
{
    CPLAcquireMutex(pl->mu, 1000.0);
    const int k = eem_tile_index_get(&pl->index, level, tx, ty);
    const int has = k >= 0 && pl->recs[k].state != REC_NONE;
    CPLReleaseMutex(pl->mu);
    return has;
}

long eem_pipeline_ahead_unread(eem_pipeline *pl)
{
    CPLAcquireMutex(pl->mu, 1000.0);
    const long n = pl->ahead;
    CPLReleaseMutex(pl->mu);
    return n;
}

/* ---------------------------------------------------------------- read -- */

/* Queue the tiles of a read the worker does not have yet, before anything
 * announced, and move the announcement's cursor past the read (under mu). */
static eem_status queue_read(eem_pipeline *pl, int level, const int *tiles, int n, eem_error *err)
{
    int last_pos = -1;
    for (int k = 0; k < n; k++) {
        const int i = rec_find(pl, level, tiles[2 * k], tiles[2 * k + 1], 1);
        if (i < 0)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        tile_rec *r = &pl->recs[i];
        rec_unahead(pl, r); /* a read waits for it now */
        if (r->state == REC_NONE) {
            if (pl->n_needed == pl->cap_needed) {
                int cap = pl->cap_needed ? 2 * pl->cap_needed : 256;
                int *nn = realloc(pl->needed, (size_t)cap * sizeof *nn);
                if (!nn)
                    return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
                pl->needed = nn;
                pl->cap_needed = cap;
            }
            pl->needed[pl->n_needed++] = i;
            r->state = REC_QUEUED;
        }
        if (level == pl->ann_level && pl->n_ann > 0) {
            const int pos = eem_tile_index_get(&pl->ann_pos, level, tiles[2 * k], tiles[2 * k + 1]);
            if (pos > last_pos)
                last_pos = pos;
        }
    }
    if (last_pos >= 0 && pl->scanned < pl->n_ann) {
        /* read-ahead goes on from where the reader is */
        pl->cursor = (last_pos + 1) % pl->n_ann;
        pl->scanned = 0;
    }
    return EEM_OK;
}

/* Hand finished tiles to the read's sink (calling thread, work lock held by
 * the callee functions): tiles[0..n) with their records' outcome. */
static eem_status deliver(eem_pipeline *pl, int level, int *tiles, const tile_rec *outcome, int n,
                          eem_tile_sink sink, void *sink_user, int (*cancel)(void *),
                          void *cancel_user, eem_error *err)
{
    eem_status st = EEM_OK;
    int n_done = 0;
    for (int k = 0; k < n && st == EEM_OK; k++) {
        const tile_rec *o = &outcome[k];
        if (o->state == REC_DONE) {
            tiles[2 * n_done] = tiles[2 * k];
            tiles[2 * n_done + 1] = tiles[2 * k + 1];
            n_done++;
        } else if (o->masked) {
            st = eem_predictor_deliver_failed(pl->p, level, tiles[2 * k], tiles[2 * k + 1],
                                              o->msg ? o->msg : "", sink, sink_user, err);
        } else {
            st = eem_error_set(err, o->status != EEM_OK ? o->status : EEM_ERR_HTTP, "%s",
                               o->msg ? o->msg : "prediction failed");
        }
    }
    int left = n_done;
    if (st == EEM_OK && n_done > 0)
        st = eem_predictor_serve_held(pl->p, level, tiles, &left, sink, sink_user, err);
    /* a tile the store could not keep (past its bounds): predicted here */
    if (st == EEM_OK && left > 0)
        st = eem_predictor_compute(pl->p, level, tiles, left, sink, sink_user, cancel, cancel_user,
                                   err);
    return st;
}

eem_status eem_pipeline_predict(eem_pipeline *pl, int level, const int *tiles, int n,
                                eem_tile_sink sink, void *sink_user, int (*cancel)(void *),
                                void *cancel_user, eem_error *err)
{
    if (n <= 0)
        return EEM_OK;
    int *order = malloc((size_t)n * 2 * sizeof *order);
    int *ready = malloc((size_t)n * 2 * sizeof *ready);
    tile_rec *outcome = calloc((size_t)n, sizeof *outcome);
    if (!order || !ready || !outcome) {
        free(order);
        free(ready);
        free(outcome);
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    memcpy(order, tiles, (size_t)n * 2 * sizeof *order);
    eem_grid_sort_tiles(order, n);
    /* tiles finished ahead are taken from the tile store with the held ones;
     * tiles the pipeline is working on are waited for (they were paid for:
     * the checks and the cost guard are for the others, the fresh ones first
     * in order) */
    int fresh = 0;
    CPLAcquireMutex(pl->mu, 1000.0);
    for (int k = 0; k < n; k++) {
        const int i = eem_tile_index_get(&pl->index, level, order[2 * k], order[2 * k + 1]);
        if (i >= 0 && pl->recs[i].state == REC_DONE)
            rec_clear(pl, &pl->recs[i]);
        if (i >= 0 && pl->recs[i].state != REC_NONE) {
            rec_unahead(pl, &pl->recs[i]); /* a read waits for it now */
            continue;
        }
        const int tx = order[2 * k], ty = order[2 * k + 1];
        order[2 * k] = order[2 * fresh];
        order[2 * k + 1] = order[2 * fresh + 1];
        order[2 * fresh] = tx;
        order[2 * fresh + 1] = ty;
        fresh++;
    }
    CPLReleaseMutex(pl->mu);
    int left = fresh;
    eem_status st = eem_predictor_serve_held(pl->p, level, order, &left, sink, sink_user, err);
    /* the fresh tiles not served, then the ones in the pipeline */
    int pending = left;
    for (int k = fresh; k < n; k++, pending++) {
        order[2 * pending] = order[2 * k];
        order[2 * pending + 1] = order[2 * k + 1];
    }
    if (st == EEM_OK && pending > 0) {
        CPLAcquireMutex(pl->mu, 1000.0);
        take_config(pl);
        st = queue_read(pl, level, order, pending, err);
        CPLCondBroadcast(pl->changed);
        CPLReleaseMutex(pl->mu);
    }
    while (st == EEM_OK && pending > 0) {
        int n_ready = 0, left = 0;
        CPLAcquireMutex(pl->mu, 1000.0);
        for (int pass = 0; pass < 2 && n_ready == 0; pass++) {
            if (pass == 1)
                CPLCondTimedWait(pl->changed, pl->mu, EEM_PIPELINE_POLL_S);
            left = 0;
            for (int k = 0; k < pending; k++) {
                const int i = eem_tile_index_get(&pl->index, level, order[2 * k], order[2 * k + 1]);
                tile_rec *r = i >= 0 ? &pl->recs[i] : NULL;
                if (r && (r->state == REC_DONE || r->state == REC_FAILED)) {
                    ready[2 * n_ready] = order[2 * k];
                    ready[2 * n_ready + 1] = order[2 * k + 1];
                    outcome[n_ready] = *r;
                    r->msg = NULL; /* moved to outcome */
                    rec_clear(pl, r);
                    n_ready++;
                    continue;
                }
                if (r && r->state == REC_NONE) {
                    /* dropped meanwhile (another read was cancelled): again */
                    eem_status qs = queue_read(pl, level, order + 2 * k, 1, err);
                    if (qs != EEM_OK) {
                        st = qs;
                        break;
                    }
                    CPLCondBroadcast(pl->changed);
                }
                order[2 * left] = order[2 * k];
                order[2 * left + 1] = order[2 * k + 1];
                left++;
            }
            pending = left;
            if (st != EEM_OK)
                break;
        }
        CPLReleaseMutex(pl->mu);
        hand_on_notices(pl);
        if (st == EEM_OK && n_ready > 0)
            st = deliver(pl, level, ready, outcome, n_ready, sink, sink_user, cancel, cancel_user,
                         err);
        for (int k = 0; k < n_ready; k++) {
            free(outcome[k].msg);
            outcome[k].msg = NULL;
        }
        if (st == EEM_OK && pending > 0 && cancel && cancel(cancel_user)) {
            eem_pipeline_stop_work(pl);
            st = eem_error_set(err, EEM_ERR_CANCELLED,
                               "interrupted by the caller; requests in flight abandoned");
        }
    }
    free(order);
    free(ready);
    free(outcome);
    return st;
}
