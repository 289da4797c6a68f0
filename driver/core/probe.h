/* probe.h — know the model before paying for it: send a handful of tiles and
 * measure the receptive radius, determinism, batch invariance, the answer
 * size (cropped or padded) and output ranges (PROBE=YES).
 *
 * eem_probe_plan() states the cost without sending anything; eem_probe_run()
 * checks it against the cost guard, then sends.  The result owns two arrays
 * freed with eem_probe_result_clear().  eem_probe_report() turns a result
 * into metadata items (plain-text lines and numbers) for the glue. */
#ifndef EEM_PROBE_H
#define EEM_PROBE_H

#include "cost.h"
#include "error.h"
#include "predictor.h"
#include "probe_advice.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest batch the probe sends to compare a tile alone with the same tile
 * among others. */
#define EEM_PROBE_MAX_BATCH 8
/* Relative tolerance below which an output change is not counted (times the
 * band's output range, at least 1). */
#define EEM_PROBE_RELATIVE_TOLERANCE 1e-6
/* The tolerance is at least this many times the largest difference between
 * two predictions of the same tile (a noisy model's noise). */
#define EEM_PROBE_NOISE_FACTOR 4.0

/* Tiles (Chebyshev distance from the centre tile) searched for valid data. */
#define EEM_PROBE_SEARCH_RADIUS 4

typedef struct eem_probe_plan {
    int tx, ty;              /* the tile probed (level 0) */
    int batch;               /* tiles of the batch-invariance request (1: untested) */
    int batch_tiles[2 * EEM_PROBE_MAX_BATCH]; /* pairs; the probe tile first */
    long long predictions;   /* every instance sent */
    long long requests;
    long long request_bytes; /* from the cost model (an estimate for JSON formats) */
} eem_probe_plan;

typedef struct eem_probe_result {
    eem_probe_plan plan;
    double tolerance;       /* largest over bands of the change threshold used */
    int radius;             /* input pixels; -1: no output changed */
    int radius_unbounded;   /* changes reached the edge of the visible tile */
    int radius_visible;     /* largest radius the probe tile can show */
    int deterministic;      /* the same tile twice gave bitwise the same outputs */
    double repeat_max_diff;
    int batch_tested;
    int batch_invariant;    /* alone vs in the batch within tolerance */
    double batch_max_diff;
    int answer;             /* 1 padded, 0 cropped, -1 same size (no overlap to tell) */
    int pw, ph;             /* padded answer size, when one exists */
    int n_bands;
    double *band_min, *band_max; /* over every valid output pixel seen */
    eem_tile_advice advice;
    long long sent_predictions, sent_requests; /* what was really sent */
} eem_probe_result;

/* The probe's tiles and cost, nothing sent: the probe tile is the tile
 * nearest the centre of the raster (level 0) whose input is wholly valid
 * (else the one with most valid pixels within EEM_PROBE_SEARCH_RADIUS tiles),
 * the batch adds the nearest other tiles with valid pixels (source masks
 * only, no request). */
eem_status eem_probe_plan_of(eem_predictor *p, eem_probe_plan *out, eem_error *err);

/* Run the probe (after the cost guard: the plan's predictions against
 * MAX_PREDICTIONS).  Persistent cache bypassed; p's instance filter is
 * restored to none on return. */
eem_status eem_probe_run(eem_predictor *p, eem_probe_result *out, eem_error *err);
void eem_probe_result_clear(eem_probe_result *r);

/* Metadata of a result: domain "" (one readable line per finding,
 * EEMODEL_PROBE_*) and "EEMODEL" (numbers, PROBE_*).  emit copies its
 * arguments. */
typedef void (*eem_probe_emit)(void *user, const char *domain, const char *key, const char *value);
void eem_probe_report(const eem_predictor *p, const eem_probe_result *r, eem_probe_emit emit,
                      void *user);

#ifdef __cplusplus
}
#endif
#endif
