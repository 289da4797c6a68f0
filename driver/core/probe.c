/* probe.c — measure the model with a handful of tiles (see probe.h).
 *
 * Method.  One real tile of the source (the one at the centre of the raster)
 * is predicted alone, twice: any difference is the model's noise
 * (determinism).  The threshold for "this output changed" is the larger of a
 * relative tolerance of the band's output range and a multiple of that noise.
 * Then the same tile is sent with one input pixel at the centre of its core
 * changed (every channel moved by half the tile's range of that channel,
 * towards the middle of the range so it stays a plausible value), and again
 * with a 3x3 patch changed (a single pixel can fall in a dead zone: a ReLU
 * below zero, a max-pool that ignores it).  The receptive radius is the
 * largest distance (Chebyshev, in input pixels, from the nearest changed
 * input pixel to the input span an output pixel covers) at which an output
 * changed beyond the threshold.  Limits: only what the cropped output tile
 * shows is seen, so a radius reaching its edge is reported as unbounded (at
 * least that far: global pooling, attention over the whole tile, or a field
 * larger than the tile); a change smaller than the noise is missed; one tile
 * and two perturbations sample the model, they do not prove a bound.
 * Finally the tile is sent within a batch of other tiles (up to
 * EEM_PROBE_MAX_BATCH, as many as one request holds): batch-norm in training
 * mode and other batch-dependent layers show as a difference from the tile
 * predicted alone. */
#include "probe.h"

#include "endpoint.h"
#include "worklock.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Half size of the perturbed patch (3x3). */
#define PROBE_PATCH_HALF 1

/* What the sink keeps: the probe tile's outputs as doubles, and the ranges
 * of every delivered tile. */
typedef struct probe_capture {
    const eem_predictor *p;
    int tx, ty;       /* the tile whose outputs are kept */
    size_t npix;
    double *values;   /* n_bands * npix */
    uint8_t *mask;    /* npix, 255 valid */
    int got;
    int failed;       /* a tile was masked because its request failed */
    double *band_min, *band_max; /* start at +inf / -inf */
    int perturbed;    /* inputs changed: outputs kept, ranges not updated */
} probe_capture;

static eem_status probe_sink(void *user, int level, int tx, int ty, void *const *bands,
                             const uint8_t *mask, eem_error *err)
{
    probe_capture *c = user;
    const eem_predictor *p = c->p;
    if (eem_predictor_tile_failed(p)) {
        c->failed = 1;
        return EEM_OK;
    }
    int n = eem_predictor_band_count(p);
    int keep = tx == c->tx && ty == c->ty;
    for (int b = 0; b < n; b++) {
        eem_dtype t = eem_predictor_band_type(p, b);
        for (size_t i = 0; i < c->npix; i++) {
            if (!mask[i])
                continue;
            double v = eem_dtype_get(bands[b], t, i);
            if (keep)
                c->values[(size_t)b * c->npix + i] = v;
            if (c->perturbed)
                continue;
            if (v < c->band_min[b])
                c->band_min[b] = v;
            if (v > c->band_max[b])
                c->band_max[b] = v;
        }
    }
    if (keep) {
        memcpy(c->mask, mask, c->npix);
        c->got = 1;
    }
    return EEM_OK;
}

/* The perturbation the instance filter applies: core pixels [x0,x1]x[y0,y1]. */
typedef struct probe_perturbation {
    int ox, oy; /* the grid's overlap: core origin within the instance */
    int x0, y0, x1, y1;
} probe_perturbation;

/* The probe's unperturbed tiles go through a filter that changes nothing: a
 * filtered call bypasses the dataset's tile store, failure memory and the
 * persistent cache (predictor.c), so asking the same tile twice reaches the
 * model twice (determinism, batch invariance). */
static eem_status probe_unchanged(void *user, int tx, int ty, eem_tensor **tensors, int n,
                                 eem_error *err)
{
    (void)user, (void)tx, (void)ty, (void)tensors, (void)n, (void)err;
    return EEM_OK;
}

static eem_status probe_perturb(void *user, int tx, int ty, eem_tensor **tensors, int n,
                                eem_error *err)
{
    const probe_perturbation *q = user;
    for (int k = 0; k < n; k++) {
        eem_tensor *t = tensors[k];
        int64_t h = t->dims[0], w = t->dims[1], ch = t->dims[2];
        size_t es = eem_dtype_size(t->type);
        for (int64_t c = 0; c < ch; c++) {
            double lo = 0, hi = 0;
            for (int64_t i = 0; i < h * w; i++) {
                double v = eem_dtype_get(t->data, t->type, (size_t)(i * ch + c));
                if (i == 0 || v < lo)
                    lo = v;
                if (i == 0 || v > hi)
                    hi = v;
            }
            double delta = (hi - lo) / 2 >= 1 ? (hi - lo) / 2 : 1;
            double mid = (hi + lo) / 2;
            for (int y = q->y0; y <= q->y1; y++) {
                for (int x = q->x0; x <= q->x1; x++) {
                    int64_t yy = y + q->oy, xx = x + q->ox;
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                        continue;
                    size_t i = (size_t)((yy * w + xx) * ch + c);
                    double v = eem_dtype_get(t->data, t->type, i);
                    v = v >= mid ? v - delta : v + delta;
                    eem_dtype_convert(&v, EEM_DT_FLOAT64, (uint8_t *)t->data + i * es, t->type,
                                      1);
                }
            }
        }
    }
    return EEM_OK;
}

/* Predict the tiles and keep the probe tile's outputs in c. */
static eem_status probe_predict(eem_predictor *p, probe_capture *c, const int *tiles, int n,
                                eem_error *err)
{
    c->got = 0;
    eem_status st = eem_predictor_compute(p, 0, tiles, n, probe_sink, c, NULL, NULL, err);
    if (st != EEM_OK)
        return st;
    if (c->failed)
        return eem_error_set(err, EEM_ERR_HTTP, "a probe request failed: %s",
                             eem_predictor_last_failure(p));
    if (!c->got)
        return eem_error_set(err, EEM_ERR_INVALID, "tile (%d,%d) was not predicted", c->tx, c->ty);
    return EEM_OK;
}

/* Largest absolute difference of band b between two captures, over pixels
 * valid in both. */
static double band_max_diff(const probe_capture *c, const double *a, const uint8_t *am, int b)
{
    double d = 0;
    const double *x = a + (size_t)b * c->npix, *y = c->values + (size_t)b * c->npix;
    for (size_t i = 0; i < c->npix; i++) {
        if (!am[i] || !c->mask[i])
            continue;
        double e = fabs(x[i] - y[i]);
        if (e > d || isnan(e))
            d = isnan(e) ? INFINITY : e;
    }
    return d;
}

/* Candidate tiles: those within EEM_PROBE_SEARCH_RADIUS tiles (Chebyshev) of
 * the centre tile, nearest first (squared distance, then row-major). */
typedef struct probe_candidate {
    int tx, ty;
    long long d2;
    size_t valid; /* valid output pixels (from the source masks) */
} probe_candidate;

static int compare_candidates(const void *a, const void *b)
{
    const probe_candidate *x = a, *y = b;
    if (x->d2 != y->d2)
        return x->d2 < y->d2 ? -1 : 1;
    if (x->ty != y->ty)
        return x->ty < y->ty ? -1 : 1;
    return x->tx < y->tx ? -1 : x->tx > y->tx;
}

typedef struct candidate_masks {
    probe_candidate *c;
    int n;
    size_t npix;
} candidate_masks;

static eem_status count_valid(void *user, int level, int tx, int ty, void *const *bands,
                              const uint8_t *mask, eem_error *err)
{
    candidate_masks *cm = user;
    for (int k = 0; k < cm->n; k++) {
        if (cm->c[k].tx != tx || cm->c[k].ty != ty)
            continue;
        size_t v = 0;
        for (size_t i = 0; i < cm->npix; i++)
            v += mask[i] != 0;
        cm->c[k].valid = v;
    }
    return EEM_OK;
}

eem_status eem_probe_plan_of(eem_predictor *p, eem_probe_plan *out, eem_error *err)
{
    memset(out, 0, sizeof *out);
    const eem_grid *g = eem_predictor_grid(p, 0);
    eem_cost_model m;
    eem_status st = eem_cost_model_of(p, &m, err);
    if (st != EEM_OK)
        return st;
    /* the tiles near the centre, and how much of each is valid (source masks only) */
    const int R = EEM_PROBE_SEARCH_RADIUS, cx = g->tiles_x / 2, cy = g->tiles_y / 2;
    probe_candidate c[(2 * EEM_PROBE_SEARCH_RADIUS + 1) * (2 * EEM_PROBE_SEARCH_RADIUS + 1)];
    int tiles[2 * (2 * EEM_PROBE_SEARCH_RADIUS + 1) * (2 * EEM_PROBE_SEARCH_RADIUS + 1)];
    int n = 0;
    for (int ty = cy - R; ty <= cy + R; ty++) {
        for (int tx = cx - R; tx <= cx + R; tx++) {
            if (tx < 0 || ty < 0 || tx >= g->tiles_x || ty >= g->tiles_y)
                continue;
            c[n].tx = tx;
            c[n].ty = ty;
            c[n].d2 = (long long)(tx - cx) * (tx - cx) + (long long)(ty - cy) * (ty - cy);
            c[n].valid = 0;
            tiles[2 * n] = tx;
            tiles[2 * n + 1] = ty;
            n++;
        }
    }
    qsort(c, (size_t)n, sizeof *c, compare_candidates);
    candidate_masks cm = {c, n, (size_t)g->uw * g->uh};
    st = eem_predictor_compute_masks(p, 0, tiles, n, count_valid, &cm, err);
    if (st != EEM_OK)
        return st;
    /* the probe tile: the nearest wholly valid one, else the one with most valid pixels */
    int best = -1;
    for (int k = 0; k < n; k++) {
        if (c[k].valid == cm.npix) {
            best = k;
            break;
        }
        if (c[k].valid > 0 && (best < 0 || c[k].valid > c[best].valid))
            best = k;
    }
    if (best < 0)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "no tile within %d tiles of the centre of the raster has valid input "
                             "pixels; nothing to measure",
                             R);
    out->tx = c[best].tx;
    out->ty = c[best].ty;
    long long cap = m.instances_per_request;
    if (cap > EEM_PROBE_MAX_BATCH)
        cap = EEM_PROBE_MAX_BATCH;
    /* the batch: the probe tile, then the nearest other tiles with valid pixels */
    out->batch_tiles[0] = out->tx;
    out->batch_tiles[1] = out->ty;
    int batch = 1;
    for (int k = 0; k < n && batch < cap; k++) {
        if (k == best || c[k].valid == 0)
            continue;
        out->batch_tiles[2 * batch] = c[k].tx;
        out->batch_tiles[2 * batch + 1] = c[k].ty;
        batch++;
    }
    out->batch = batch;
    /* alone twice, a pixel, a patch; then the batch in one request */
    out->requests = 4 + (out->batch >= 2);
    out->predictions = 4 + (out->batch >= 2 ? out->batch : 0);
    out->request_bytes = out->predictions * m.instance_bytes + out->requests * m.envelope_bytes;
    return EEM_OK;
}

/* Radius seen for a perturbation of core pixels [x0,x1]x[y0,y1]: the largest
 * distance of an output pixel whose value changed beyond tol[b]; -1 none. */
static int changed_radius(const eem_grid *g, const probe_capture *c, const double *base,
                          const uint8_t *base_mask, const double *tol, int n_bands,
                          const probe_perturbation *q)
{
    int radius = -1;
    for (int y = 0; y < g->uh; y++) {
        int ay, by;
        eem_grid_output_pixel_cover_y(g, y, &ay, &by);
        int dy = ay - q->y1 > q->y0 - (by - 1) ? ay - q->y1 : q->y0 - (by - 1);
        if (dy < 0)
            dy = 0;
        for (int x = 0; x < g->uw; x++) {
            size_t i = (size_t)y * g->uw + x;
            if (!base_mask[i] || !c->mask[i])
                continue;
            int changed = 0;
            for (int b = 0; b < n_bands && !changed; b++) {
                double d = fabs(base[(size_t)b * c->npix + i] - c->values[(size_t)b * c->npix + i]);
                changed = d > tol[b] || isnan(d);
            }
            if (!changed)
                continue;
            int ax, bx;
            eem_grid_output_pixel_cover_x(g, x, &ax, &bx);
            int dx = ax - q->x1 > q->x0 - (bx - 1) ? ax - q->x1 : q->x0 - (bx - 1);
            if (dx < 0)
                dx = 0;
            int d = dx > dy ? dx : dy;
            if (d > radius)
                radius = d;
        }
    }
    return radius;
}

void eem_probe_result_clear(eem_probe_result *r)
{
    free(r->band_min);
    free(r->band_max);
    r->band_min = r->band_max = NULL;
}

static eem_status probe_measure(eem_predictor *p, eem_probe_result *r, probe_capture *c,
                                eem_error *err)
{
    const eem_grid *g = eem_predictor_grid(p, 0);
    int nb = r->n_bands;
    size_t vbytes = (size_t)nb * c->npix * sizeof(double);
    double *base = malloc(vbytes ? vbytes : 1);
    uint8_t *base_mask = malloc(c->npix);
    double *tol = calloc((size_t)nb + 1, sizeof *tol);
    int *tiles = malloc(2 * sizeof *tiles * (size_t)r->plan.batch);
    eem_status st = EEM_OK;
    if (!base || !base_mask || !tol || !tiles)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    int one[2] = {c->tx, c->ty};
    eem_predictor_stats s0;
    eem_predictor_get_stats(p, &s0);

    /* the tile alone, twice */
    if (st == EEM_OK)
        st = probe_predict(p, c, one, 1, err);
    if (st == EEM_OK) {
        size_t valid = 0;
        for (size_t i = 0; i < c->npix; i++)
            valid += c->mask[i] != 0;
        if (valid == 0)
            st = eem_error_set(err, EEM_ERR_INVALID,
                               "the probe tile (%d,%d) has no valid output pixels; nothing to "
                               "measure",
                               c->tx, c->ty);
        memcpy(base, c->values, vbytes);
        memcpy(base_mask, c->mask, c->npix);
    }
    if (st == EEM_OK)
        st = probe_predict(p, c, one, 1, err);
    if (st == EEM_OK) {
        r->repeat_max_diff = 0;
        for (int b = 0; b < nb; b++) {
            double d = band_max_diff(c, base, base_mask, b);
            double range = r->band_max[b] >= r->band_min[b] ? r->band_max[b] - r->band_min[b] : 0;
            double t = EEM_PROBE_RELATIVE_TOLERANCE * (range > 1 ? range : 1);
            if (EEM_PROBE_NOISE_FACTOR * d > t)
                t = EEM_PROBE_NOISE_FACTOR * d;
            tol[b] = t;
            if (d > r->repeat_max_diff)
                r->repeat_max_diff = d;
            if (t > r->tolerance)
                r->tolerance = t;
        }
        r->deterministic = r->repeat_max_diff == 0;
    }

    /* a pixel, then a patch, at the centre of the (clipped) core */
    eem_rect core = eem_grid_tile_core_window(g, c->tx, c->ty);
    int cx = core.w / 2, cy = core.h / 2;
    probe_perturbation q[2] = {
        {g->ox, g->oy, cx, cy, cx, cy},
        {g->ox, g->oy, cx - PROBE_PATCH_HALF, cy - PROBE_PATCH_HALF, cx + PROBE_PATCH_HALF,
         cy + PROBE_PATCH_HALF},
    };
    r->radius = -1;
    r->radius_visible = -1;
    for (int k = 0; st == EEM_OK && k < 2; k++) {
        eem_predictor_set_instance_filter(p, probe_perturb, &q[k]);
        c->perturbed = 1;
        st = probe_predict(p, c, one, 1, err);
        c->perturbed = 0;
        eem_predictor_set_instance_filter(p, probe_unchanged, NULL);
        if (st != EEM_OK)
            break;
        int rad = changed_radius(g, c, base, base_mask, tol, nb, &q[k]);
        int visible = q[k].x0;
        if (core.w - 1 - q[k].x1 < visible)
            visible = core.w - 1 - q[k].x1;
        if (q[k].y0 < visible)
            visible = q[k].y0;
        if (core.h - 1 - q[k].y1 < visible)
            visible = core.h - 1 - q[k].y1;
        if (rad > r->radius)
            r->radius = rad;
        if (visible > r->radius_visible)
            r->radius_visible = visible;
        if (rad >= visible)
            r->radius_unbounded = 1;
    }

    /* the tile within a batch of its neighbours (row-major from it, wrapping) */
    if (st == EEM_OK && r->plan.batch >= 2) {
        memcpy(tiles, r->plan.batch_tiles, 2 * sizeof *tiles * (size_t)r->plan.batch);
        st = probe_predict(p, c, tiles, r->plan.batch, err);
        if (st == EEM_OK) {
            r->batch_tested = 1;
            r->batch_invariant = 1;
            for (int b = 0; b < nb; b++) {
                double d = band_max_diff(c, base, base_mask, b);
                if (d > r->batch_max_diff)
                    r->batch_max_diff = d;
                if (!(d <= tol[b]))
                    r->batch_invariant = 0;
            }
        }
    }
    eem_predictor_stats s1;
    eem_predictor_get_stats(p, &s1);
    r->sent_predictions = s1.tiles_predicted - s0.tiles_predicted;
    r->sent_requests = s1.requests - s0.requests;
    r->answer = s1.answers_padded > s0.answers_padded ? 1 : 0;
    int has_padded = eem_grid_padded_output_size(g, &r->pw, &r->ph) == 0;
    if (r->answer == 0 && (!has_padded || (r->pw == g->uw && r->ph == g->uh)))
        r->answer = -1;
    free(base);
    free(base_mask);
    free(tol);
    free(tiles);
    return st;
}

static eem_status probe_run(eem_predictor *p, eem_probe_result *out, eem_error *err);

/* The instance filter is set across several compute calls: the prediction
 * pipeline's worker (pipeline.h) must not predict meanwhile. */
eem_status eem_probe_run(eem_predictor *p, eem_probe_result *out, eem_error *err)
{
    eem_worklock_enter(eem_predictor_worklock(p));
    eem_status st = probe_run(p, out, err);
    eem_worklock_leave(eem_predictor_worklock(p));
    return st;
}

static eem_status probe_run(eem_predictor *p, eem_probe_result *out, eem_error *err)
{
    memset(out, 0, sizeof *out);
    eem_status st = eem_probe_plan_of(p, &out->plan, err);
    if (st != EEM_OK)
        return st;
    st = eem_cost_check_limit(eem_predictor_max_predictions(p), out->plan.predictions,
                              "the probe (PROBE=YES)", err);
    if (st != EEM_OK)
        return st;
    const eem_grid *g = eem_predictor_grid(p, 0);
    out->n_bands = eem_predictor_band_count(p);
    probe_capture c = {0};
    c.p = p;
    c.tx = out->plan.tx;
    c.ty = out->plan.ty;
    c.npix = (size_t)g->uw * g->uh;
    c.values = malloc((size_t)(out->n_bands > 0 ? out->n_bands : 1) * c.npix * sizeof(double));
    c.mask = malloc(c.npix);
    out->band_min = calloc((size_t)out->n_bands + 1, sizeof(double));
    out->band_max = calloc((size_t)out->n_bands + 1, sizeof(double));
    c.band_min = out->band_min;
    c.band_max = out->band_max;
    if (!c.values || !c.mask || !out->band_min || !out->band_max)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int b = 0; st == EEM_OK && b < out->n_bands; b++) {
        out->band_min[b] = INFINITY;
        out->band_max[b] = -INFINITY;
    }
    eem_predictor_set_instance_filter(p, probe_unchanged, NULL);
    if (st == EEM_OK)
        st = probe_measure(p, out, &c, err);
    free(c.values);
    free(c.mask);
    eem_predictor_set_instance_filter(p, NULL, NULL);
    eem_cost_model m;
    if (st == EEM_OK)
        st = eem_cost_model_of(p, &m, err);
    if (st == EEM_OK) {
        long max_payload = eem_predictor_endpoint(p)->max_payload_bytes > 0
                               ? eem_predictor_endpoint(p)->max_payload_bytes
                               : EEM_DEFAULT_MAX_PAYLOAD_BYTES;
        eem_tile_advise(g, &m, max_payload, out->radius, out->radius_unbounded, &out->advice);
    }
    if (st != EEM_OK) {
        eem_error_prefix(err, "PROBE=YES");
        eem_probe_result_clear(out);
    }
    return st;
}

/* ---------------------------------------------------------------- report -- */

static void emitf(eem_probe_emit emit, void *user, const char *domain, const char *key,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void emitf(eem_probe_emit emit, void *user, const char *domain, const char *key,
                  const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    emit(user, domain, key, buf);
}

static void report_tiles(const eem_tile_figures *f, char *buf, size_t n)
{
    snprintf(buf, n,
             "INPUT_TILE_SIZE=%d,%d INPUT_OVERLAP_SIZE=%d,%d: %.1f%% of predicted pixels thrown "
             "away, %.3g request bytes per output pixel%s",
             f->tw, f->th, f->ox, f->oy, 100.0 * f->waste, f->bytes_per_output_pixel,
             f->fits ? "" : " (one tile does not fit MAX_PAYLOAD_BYTES)");
}

void eem_probe_report(const eem_predictor *p, const eem_probe_result *r, eem_probe_emit emit,
                      void *user)
{
    const char *D = "EEMODEL";
    const eem_grid *g = eem_predictor_grid(p, 0);
    const eem_tile_advice *a = &r->advice;
    char line[512];

    emitf(emit, user, "", "EEMODEL_PROBE_COST",
          "%lld predictions of tile (%d,%d) and its neighbours in %lld requests, about %lld "
          "request bytes (within MAX_PREDICTIONS=%ld)",
          r->plan.predictions, r->plan.tx, r->plan.ty, r->plan.requests, r->plan.request_bytes,
          eem_predictor_max_predictions(p));
    emitf(emit, user, D, "PROBE_TILE", "%d,%d", r->plan.tx, r->plan.ty);
    emitf(emit, user, D, "PROBE_PREDICTIONS", "%lld", r->sent_predictions);
    emitf(emit, user, D, "PROBE_REQUESTS", "%lld", r->sent_requests);
    emitf(emit, user, D, "PROBE_TOLERANCE", "%.6g", r->tolerance);

    if (r->radius_unbounded) {
        emitf(emit, user, "", "EEMODEL_PROBE_RECEPTIVE_RADIUS",
              "unbounded: a changed input pixel changed outputs up to the edge of the tile (at "
              "least %d input pixels away); global pooling or a field larger than the tile",
              r->radius_visible);
        emitf(emit, user, D, "PROBE_RECEPTIVE_RADIUS", "UNBOUNDED");
        emitf(emit, user, D, "PROBE_RECEPTIVE_RADIUS_AT_LEAST", "%d", r->radius_visible);
    } else if (r->radius < 0) {
        emitf(emit, user, "", "EEMODEL_PROBE_RECEPTIVE_RADIUS",
              "none seen: changing input pixels changed no output beyond %.3g", r->tolerance);
        emitf(emit, user, D, "PROBE_RECEPTIVE_RADIUS", "NONE");
    } else {
        emitf(emit, user, "", "EEMODEL_PROBE_RECEPTIVE_RADIUS",
              "%d input pixels (outputs changed beyond %.3g at most %d input pixels from a "
              "changed input pixel; the tile shows up to %d)",
              r->radius, r->tolerance, r->radius, r->radius_visible);
        emitf(emit, user, D, "PROBE_RECEPTIVE_RADIUS", "%d", r->radius);
    }

    if (a->seam_free_possible) {
        emitf(emit, user, "", "EEMODEL_PROBE_OVERLAP",
              "INPUT_OVERLAP_SIZE=%d,%d makes reads seam-free; the current %d,%d %s",
              a->overlap, a->overlap, g->ox, g->oy,
              a->current_seam_free ? "is enough" : "leaves seams");
        emitf(emit, user, D, "PROBE_SEAM_FREE_OVERLAP", "%d", a->overlap);
    } else {
        emitf(emit, user, "", "EEMODEL_PROBE_OVERLAP",
              "no overlap makes reads seam-free (the field covers the whole tile); larger tiles "
              "make seams rarer");
        emitf(emit, user, D, "PROBE_SEAM_FREE_OVERLAP", "NONE");
    }
    emitf(emit, user, D, "PROBE_CURRENT_SEAM_FREE", "%s", a->current_seam_free ? "YES" : "NO");
    report_tiles(&a->advised, line, sizeof line);
    emitf(emit, user, "", "EEMODEL_PROBE_TILE_SIZE", "%s with %s (largest square tile that fits "
          "MAX_PAYLOAD_BYTES with that overlap)", line,
          eem_payload_format_name(eem_predictor_endpoint(p)->payload_format));
    report_tiles(&a->current, line, sizeof line);
    emitf(emit, user, "", "EEMODEL_PROBE_TILE_SIZE_CURRENT", "%s", line);
    emitf(emit, user, D, "PROBE_ADVISED_TILE_SIZE", "%d,%d", a->advised.tw, a->advised.th);
    emitf(emit, user, D, "PROBE_ADVISED_OVERLAP", "%d,%d", a->advised.ox, a->advised.oy);
    emitf(emit, user, D, "PROBE_ADVISED_WASTE", "%.4f", a->advised.waste);
    emitf(emit, user, D, "PROBE_ADVISED_BYTES_PER_OUTPUT_PIXEL", "%.4f",
          a->advised.bytes_per_output_pixel);
    emitf(emit, user, D, "PROBE_CURRENT_WASTE", "%.4f", a->current.waste);
    emitf(emit, user, D, "PROBE_CURRENT_BYTES_PER_OUTPUT_PIXEL", "%.4f",
          a->current.bytes_per_output_pixel);

    emitf(emit, user, "", "EEMODEL_PROBE_DETERMINISTIC",
          "%s (the same tile twice: largest difference %.6g)",
          r->deterministic ? "yes" : "no", r->repeat_max_diff);
    emitf(emit, user, D, "PROBE_DETERMINISTIC", "%s", r->deterministic ? "YES" : "NO");
    emitf(emit, user, D, "PROBE_REPEAT_MAX_DIFF", "%.9g", r->repeat_max_diff);
    if (r->batch_tested) {
        emitf(emit, user, "", "EEMODEL_PROBE_BATCH_INVARIANT",
              "%s (the tile alone vs in a batch of %d: largest difference %.6g, tolerance %.3g)",
              r->batch_invariant ? "yes" : "no", r->plan.batch, r->batch_max_diff, r->tolerance);
        emitf(emit, user, D, "PROBE_BATCH_INVARIANT", "%s", r->batch_invariant ? "YES" : "NO");
        emitf(emit, user, D, "PROBE_BATCH_MAX_DIFF", "%.9g", r->batch_max_diff);
    } else {
        emitf(emit, user, "", "EEMODEL_PROBE_BATCH_INVARIANT",
              "untested: one request holds one tile");
        emitf(emit, user, D, "PROBE_BATCH_INVARIANT", "UNTESTED");
    }
    emitf(emit, user, D, "PROBE_BATCH_SIZE", "%d", r->plan.batch);

    if (r->answer == 1)
        emitf(emit, user, "", "EEMODEL_PROBE_ANSWER_SIZE",
              "padded: %dx%d (the output tile and its overlap; the driver crops it to %dx%d)",
              r->pw, r->ph, g->uw, g->uh);
    else if (r->answer == 0)
        emitf(emit, user, "", "EEMODEL_PROBE_ANSWER_SIZE",
              "cropped: %dx%d (the output tile without the overlap)", g->uw, g->uh);
    else
        emitf(emit, user, "", "EEMODEL_PROBE_ANSWER_SIZE",
              "%dx%d (no overlap: cropped and padded are the same)", g->uw, g->uh);
    emitf(emit, user, D, "PROBE_ANSWER",
          "%s", r->answer == 1 ? "PADDED" : r->answer == 0 ? "CROPPED" : "SAME");

    size_t off = 0;
    line[0] = '\0';
    for (int b = 0; b < r->n_bands; b++) {
        char key[48];
        snprintf(key, sizeof key, "PROBE_BAND_%d_MIN", b + 1);
        emitf(emit, user, D, key, "%.9g", r->band_min[b]);
        snprintf(key, sizeof key, "PROBE_BAND_%d_MAX", b + 1);
        emitf(emit, user, D, key, "%.9g", r->band_max[b]);
        if (off < sizeof line)
            off += (size_t)snprintf(line + off, sizeof line - off, "%s%s %.6g..%.6g",
                                    b ? ", " : "", eem_predictor_band_name(p, b), r->band_min[b],
                                    r->band_max[b]);
    }
    emitf(emit, user, "", "EEMODEL_PROBE_OUTPUT_RANGES", "%s", line);
}
