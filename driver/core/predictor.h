/* predictor.h — orchestration: tiles -> batches -> requests -> decoded output tiles.
 *
 * eem_predictor_open() validates everything that can be validated at open
 * (descriptor, source, endpoint, credentials) and returns a predictor freed
 * with eem_predictor_close().  eem_predictor_compute() predicts a set of tiles
 * of one level and hands each finished output tile to a sink, in the calling
 * thread: one buffer per output band (uw*uh elements of the band's type, masked
 * pixels = NODATA or 0) and a uw*uh mask (255 valid, 0 masked). */
#ifndef EEM_PREDICTOR_H
#define EEM_PREDICTOR_H

#include "dtype.h"
#include "endpoint.h"
#include "error.h"
#include "grid.h"
#include "nodata.h"
#include "source.h"
#include "spec.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_predictor eem_predictor;

typedef struct eem_predictor_stats {
    long requests;        /* HTTP requests completed (after retries) */
    long tiles_predicted; /* tiles whose answer was used */
    long tiles_skipped;   /* all-masked tiles, never sent */
    long tiles_failed;    /* tiles masked because their request failed (ON_ERROR=NODATA) */
    long answers_padded;  /* tile outputs answered padded by the overlap (then cropped) */
    long long bytes_sent;
    long tiles_from_cache; /* tiles served by the persistent cache, never sent */
    long retries;          /* HTTP attempts beyond the first */
    long long bytes_received; /* response bodies */
    long tiles_waited;     /* tiles another reader was predicting (cache_lease.h) */
    long leases_broken;    /* stale leases of dead or expired owners broken */
} eem_predictor_stats;

typedef eem_status (*eem_tile_sink)(void *user, int level, int tx, int ty, void *const *bands,
                                    const uint8_t *mask, eem_error *err);

/* spec is copied: what the server's metadata fills in goes into the predictor's
 * own copy (eem_predictor_spec), never into the caller's. */
eem_status eem_predictor_open(const eem_spec *spec, eem_predictor **out, eem_error *err);
void eem_predictor_close(eem_predictor *p);

const eem_spec *eem_predictor_spec(const eem_predictor *p);
const eem_source *eem_predictor_source(const eem_predictor *p);
const eem_endpoint *eem_predictor_endpoint(const eem_predictor *p);
/* Grid of a level (0 = full resolution); NULL past the last overview. */
const eem_grid *eem_predictor_grid(const eem_predictor *p, int level);
int eem_predictor_level_count(const eem_predictor *p); /* 1 + overview count */

int eem_predictor_band_count(const eem_predictor *p);
eem_dtype eem_predictor_band_type(const eem_predictor *p, int band); /* 0-based */
/* What band (0-based) holds where masked, and whether it reports it as nodata. */
eem_band_nodata eem_predictor_band_nodata(const eem_predictor *p, int band);
const char *eem_predictor_band_name(const eem_predictor *p, int band);
/* 1 when no output pixel of level `level` can be masked (the source has no
 * mask or nodata, ON_ERROR=FAIL, no edge reaches outside G, no BLEND): the
 * bands report GMF_ALL_VALID, so that copies write no mask. */
int eem_predictor_output_all_valid(const eem_predictor *p, int level);

/* Predict tiles (pairs tx,ty in tiles[2*k], tiles[2*k+1]) of a level. */
eem_status eem_predictor_compute(eem_predictor *p, int level, const int *tiles, int n_tiles,
                                 eem_tile_sink sink, void *sink_user, int (*cancel)(void *),
                                 void *cancel_user, eem_error *err);

/* The same on the level's grid with every tile core moved by shift_x,shift_y
 * input pixels (OVERLAP_MODE=BLEND's offset sets, blend.c). */
eem_status eem_predictor_compute_shifted(eem_predictor *p, int level, int shift_x, int shift_y,
                                         const int *tiles, int n_tiles, eem_tile_sink sink,
                                         void *sink_user, int (*cancel)(void *),
                                         void *cancel_user, eem_error *err);

/* An instance filter sees each instance's tensors (one per input key, (h,w,C),
 * overlap included) after they are cut from the source and before they are
 * encoded, and may change their values: the probe (probe.c) perturbs pixels.
 * While one is set the persistent cache is neither read nor written.  NULL
 * removes it. */
typedef eem_status (*eem_instance_filter)(void *user, int tx, int ty, eem_tensor **tensors,
                                          int n_tensors, eem_error *err);
void eem_predictor_set_instance_filter(eem_predictor *p, eem_instance_filter filter, void *user);

/* Output masks of tiles (pairs as above) from the source alone, never
 * sending a request: the sink gets bands NULL.  For a mask read that finds
 * the tiles' blocks evicted (gdal_translate copies the mask after the bands). */
eem_status eem_predictor_compute_masks(eem_predictor *p, int level, const int *tiles,
                                       int n_tiles, eem_tile_sink sink, void *sink_user,
                                       eem_error *err);

/* The cost guard in force (MAX_PREDICTIONS): most tiles this predictor may
 * send in all, from open to close — a budget per opened dataset.  A compute
 * call whose tiles to predict would exceed what is left of it fails before
 * anything is sent. */
long eem_predictor_max_predictions(const eem_predictor *p);
/* A job announced whole (AdviseRead of a copy) was refused by the cost guard:
 * from now on every compute call of this predictor, at any level, fails with
 * err's message before sending anything (reopen the dataset to read again).
 * A copy reads its levels in any order (the COG driver: overviews first), so
 * the refusal cannot wait for the level it was announced on. */
void eem_predictor_refuse_from_now(eem_predictor *p, const eem_error *err);
/* Tiles sent so far (what the budget has spent). */
long long eem_predictor_predictions_spent(const eem_predictor *p);
/* 1 when tile (tx,ty) of a level needs no request: held by the tile store
 * (decoded tiles already predicted through this predictor, never predicted
 * twice while memory allows), in the prediction pipeline's hands (paid for
 * when the pipeline took it: pipeline.h) or remembered as failed
 * (failmemo.h). */
int eem_predictor_tile_costs_nothing(const eem_predictor *p, int level, int tx, int ty);

void eem_predictor_get_stats(const eem_predictor *p, eem_predictor_stats *st);
/* The persistent cache, NULL when none is configured (borrowed). */
const struct eem_cache *eem_predictor_cache(const eem_predictor *p);
/* The payload settings requests are encoded with (format options, binary). */
struct eem_payload_context;
const struct eem_payload_context *eem_predictor_payload_context(const eem_predictor *p);
/* Message of the last failure masked by ON_ERROR=NODATA ("" if none). */
const char *eem_predictor_last_failure(const eem_predictor *p);
/* Inside a sink call: 1 when the tile being delivered is masked because its
 * prediction failed (ON_ERROR=NODATA), else 0.  Such a tile must not be
 * cached: the next read predicts it again. */
int eem_predictor_tile_failed(const eem_predictor *p);

/* ---- the prediction pipeline's side (pipeline.h) ----------------------
 * Every function above that reads or changes the predictor's state holds its
 * work lock (worklock.h) while it does, so a background worker and the
 * calling thread never touch the source or the memories at once. */
struct eem_worklock;
struct eem_pipeline;
struct eem_worklock *eem_predictor_worklock(const eem_predictor *p);
/* The predictor's pipeline, started on first use; NULL when READ_AHEAD=NO,
 * with no tile store, with OVERLAP_MODE=BLEND or an instance filter (reads
 * are then predicted synchronously, in the calling thread). */
struct eem_pipeline *eem_predictor_pipeline(eem_predictor *p);

/* Where a feed session takes its tiles: up to max tiles (tx,ty pairs) of one
 * tile row of one level (*level) to predict next, at most max columns apart;
 * 0 when there is nothing to do now.  *urgent: a read waits for them (a
 * request holding such tiles is sent as soon as the feed has no more urgent
 * ones, not topped up with others).  Called with the work lock held. */
typedef struct eem_tile_feed {
    int (*next)(void *user, int *level, int *urgent, int *tiles, int max);
    void *user;
    /* tiles next() may still hand out (at least; the slow start sizes its
     * first request by it), or NULL: unknown */
    long (*pending)(void *user);
} eem_tile_feed;
/* Predict tiles pulled from feed, keeping the connections busy across
 * pulls, until the feed is empty and every answer is in; each finished tile
 * goes to the tile store, then to sink.  poll is polled often (between tiles,
 * and at least every few tens of ms while answers are awaited): non-zero
 * stops the session (EEM_ERR_CANCELLED, requests in flight abandoned, leases
 * released); the work lock may be given up inside it (eem_worklock_yield).
 * Call with the work lock held. */
eem_status eem_predictor_run_feed(eem_predictor *p, const eem_tile_feed *feed, eem_tile_sink sink,
                                  void *sink_user, int (*poll)(void *), void *poll_user,
                                  eem_error *err);
/* The checks of a compute call before anything is sent (refusal, tiles
 * remembered as failed, the cost guard), then the held tiles go to sink;
 * tiles keeps the others, *n_tiles their count. */
eem_status eem_predictor_serve_held(eem_predictor *p, int level, int *tiles, int *n_tiles,
                                    eem_tile_sink sink, void *sink_user, eem_error *err);
/* The masks of the held tiles among tiles[0..*n_tiles) go to sink (bands
 * NULL), no check, no guard (a mask read: eem_datamemo_lend_held_masks);
 * tiles keeps the others. */
eem_status eem_predictor_lend_held_masks(eem_predictor *p, int level, int *tiles, int *n_tiles,
                                         eem_tile_sink sink, void *sink_user, eem_error *err);
/* Deliver tile (tx,ty) masked as failed (ON_ERROR=NODATA) with message msg:
 * eem_predictor_tile_failed() is 1 during the sink call. */
eem_status eem_predictor_deliver_failed(eem_predictor *p, int level, int tx, int ty,
                                        const char *msg, eem_tile_sink sink, void *sink_user,
                                        eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
