/* pipeline.h — predictions that outlive one read (issue 13, DESIGN.md section
 * 5): a background worker per predictor keeps predicting between GDAL's
 * calls, so the server is never idle while GDAL copies a swath out.
 *
 * The worker runs the predictor's compute loop over a feed
 * (eem_predictor_run_feed): tiles a read waits for first, then the window
 * the reader announced (AdviseRead) in reading order — never past it, within
 * what is left of the cost guard's budget, and with at most a bounded number
 * of tiles predicted ahead and not read yet.  Finished tiles go into the
 * predictor's tile store (tilestore.h), never into GDAL's block cache: the
 * reader copies them out in its own thread (eem_pipeline_predict).  A failure
 * of the worker is kept with the tiles it concerns and returned, as a status
 * and an eem_error, to the read that needs them.
 *
 * The worker and the calling thread share the predictor's state under its
 * work lock (worklock.h).  Thread-local GDAL configuration options of the
 * last caller are the worker's too (rasterio and QGIS set them). */
#ifndef EEM_PIPELINE_H
#define EEM_PIPELINE_H

#include "error.h"
#include "predictor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_pipeline eem_pipeline;

/* Read-ahead keeps at most this share (1/N) of GDAL's block cache in tiles
 * predicted ahead of the reads (and never more than the tile store's memory). */
#define EEM_PIPELINE_CACHE_SHARE 4
/* ... but never fewer than this many full requests per connection, so that
 * the connections stay busy. */
#define EEM_PIPELINE_MIN_REQUESTS_PER_CONNECTION 2

/* READ_AHEAD resolved: spec_value 1 (AUTO) or 0 (NO) when the key was given,
 * else EEMODEL_READ_AHEAD (default AUTO).  A value other than AUTO or NO (YES
 * too, as for the READ_AHEAD key) fails naming the accepted values. */
eem_status eem_pipeline_configured(int spec_value, int *on, eem_error *err);

/* A pipeline over p (not owned) with its worker started. */
eem_status eem_pipeline_new(eem_predictor *p, eem_pipeline **out, eem_error *err);
/* Stop the worker (requests in flight abandoned, leases released), join it
 * and free everything (NULL: no-op). */
void eem_pipeline_free(eem_pipeline *pl);

/* The window a reader announced: tiles (tx,ty pairs of a level) in reading
 * order, replacing any earlier announcement.  They are predicted ahead of
 * the reads: at most min(the tile store's memory, cache_bytes /
 * EEM_PIPELINE_CACHE_SHARE) of tiles predicted and not read yet, but never
 * fewer than EEM_PIPELINE_MIN_REQUESTS_PER_CONNECTION full requests per
 * connection. */
eem_status eem_pipeline_announce(eem_pipeline *pl, int level, const int *tiles, int n,
                                 long long cache_bytes, eem_error *err);

/* A read of tiles (tx,ty pairs of a level): held tiles go to sink at once,
 * the others are predicted before anything announced, and each goes to sink
 * as it is finished — in the calling thread.  cancel (may be NULL) is polled
 * at least every 100 ms: non-zero stops the pipeline's work altogether (the
 * announcement is forgotten, requests in flight abandoned) and returns
 * EEM_ERR_CANCELLED.  Failures: as eem_predictor_compute. */
eem_status eem_pipeline_predict(eem_pipeline *pl, int level, const int *tiles, int n,
                                eem_tile_sink sink, void *sink_user, int (*cancel)(void *),
                                void *cancel_user, eem_error *err);

/* Forget the announcement and everything queued, abandon what is in flight,
 * and return once the worker has stopped working on it. */
void eem_pipeline_stop_work(eem_pipeline *pl);

/* 1 when the pipeline has tile (tx,ty) of a level queued, in the works or
 * finished and not read yet: it costs a read nothing more (the cost guard
 * counted it when it was taken). */
int eem_pipeline_has_tile(eem_pipeline *pl, int level, int tx, int ty);

/* Tiles predicted ahead and not read yet (for tests and statistics). */
long eem_pipeline_ahead_unread(eem_pipeline *pl);

#ifdef __cplusplus
}
#endif
#endif
