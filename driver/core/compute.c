/* compute.c — the compute loop (see predictor.h): tiles -> batches ->
 * requests -> decoded output tiles.
 *
 * One compute call: tiles are taken row by row in chunks whose source window is
 * read once; each tile is sliced into its instance, encoded, and packed into
 * requests up to MAX_PAYLOAD_BYTES and the backend's instance cap.  Requests are
 * sent as soon as they are full, so encoding overlaps the network; answers are
 * decoded, trimmed, converted to the band types, masked and handed to the sink
 * as they arrive.  Until a first answer, one request at a time (the slow start).
 * Memory is bounded by one chunk window plus the requests in flight.  The
 * pipeline's worker (pipeline.c) runs the same loop over a feed of tiles
 * (eem_predictor_run_feed). */
#include "predictor_int.h"

#include "answered_memo.h"
#include "auth.h"
#include "backend.h"
#include "buf.h"
#include "cache_context.h"
#include "cache_lease.h"
#include "job_budget.h"
#include "grpc_call.h"
#include "http.h"
#include "http_config.h"
#include "metadata.h"
#include "config_values.h"
#include "oip_binary.h"
#include "cost_guard.h"
#include "tileoutput.h"

#include <cpl_conv.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Largest source window (bytes of tensors) read at once for a chunk of tiles. */
#define EEM_CHUNK_MAX_BYTES (64L * 1024 * 1024)
/* Until a first 2xx answer, one request at a time (a server that is down or a
 * wrong model costs one request of one tile, not a volley) — for at most this
 * long, so that a first request that stalls does not hold the others back.
 * The next requests are built meanwhile and leave with the first answer. */
#define EEM_SLOW_START_S 5.0
/* Requests kept in flight or queued per connection before we stop encoding. */
#define EEM_REQUESTS_AHEAD_PER_CONNECTION 2
/* A feed session (eem_predictor_run_feed) waits for answers at most this
 * long before it looks at its feed (and offers the work lock) again. */
#define EEM_FEED_SLICE_S 0.02

/* --------------------------------------------------------------- compute -- */

typedef struct pending_tile {
    int tx, ty;
    uint8_t *mask; /* uw*uh output mask, owned */
    eem_cache_key key; /* persistent cache key, when has_key */
    int has_key;
} pending_tile;

typedef struct pending_request {
    eem_http_request http;
    eem_buf body;
    eem_payload_batch *batch; /* the encoded instances, until the body is built */
    const char *own_headers[3]; /* protocol lines of its body (NULL-terminated) */
    char body_headers[2][96]; /* Content-Type and Inference-Header-Content-Length */
    pending_tile *tiles;
    int n_tiles, cap_tiles;
    int auth_generation; /* credentials it was sent with (compute_state.auth.generation) */
    int auth_retried;    /* already re-sent once after HTTP 401 */
} pending_request;

/* Bodies of finished requests kept for the next ones: multi-megabyte buffers
 * allocated per request page-fault on every first touch. */
#define EEM_SPARE_BODIES 4

/* Everything one compute call owns; released by compute_state_free(). */
typedef struct compute_state {
    eem_predictor *p;
    const eem_grid *g;
    eem_tile_sink sink;
    void *sink_user;
    eem_http_multi *multi;
    eem_auth_session auth; /* credentials and header lines (auth.h): credential lines,
                              then p->headers; renewed after a 401 or ahead of expiry */
    pending_request *building;
    pending_request **flying; /* submitted, not yet drained (owned) */
    int in_flight, cap_flying;
    int max_ahead;
    /* slow start: requests built while the first one is out, sent once it is
     * answered (or the slow start ends) — encoded ahead, not sent ahead */
    pending_request **held;
    int n_held, cap_held;
    long max_payload;
    int max_instances;
    void **band_bufs;     /* n_bands buffers of uw*uh elements */
    uint8_t *nodata_bytes;/* one element per band, band type, the masked value */
    size_t max_elements;  /* largest element count of one decoded output tensor */
    eem_cache_key next_key; /* cache key of the tile being queued (compute_cache_lookup) */
    int next_has_key;
    int pw, ph, has_padded;
    eem_tile_layout layout; /* outputs to bands (tileoutput.h) */
    double slow_start_until;         /* eem_http_clock() time the slow start ends (0: not begun) */
    long tiles_after_chunk; /* tiles known to come after the chunk being encoded */
    long tiles_coming;      /* ... and after the tile being queued */
    char stopped[EEM_ERROR_MSG_MAX]; /* an endpoint-wide failure: the rest is not sent */
    int stopped_lasting;             /* ... and it is remembered for its tiles */
    eem_lease_set leases; /* tiles this call claimed or waits for (cache_lease.h) */
    double slice; /* > 0: a wait for answers returns after this many seconds (run_feed) */
    eem_buf spare_bodies[EEM_SPARE_BODIES]; /* emptied, capacity kept */
    int n_spare_bodies;
    eem_payload_batch *spare_batch; /* the last built batch, emptied, buffers kept */
    /* the instance being encoded: source bands (rewritten for every tile), then
     * INPUT_PROPERTIES (made once per shape); kept across tiles and chunks */
    eem_tensor **inst;
    int n_inst;
    /* output masks of delivered tiles (uw*uh bytes each), taken again for the
     * next tiles instead of a malloc per tile: at most as many as were ever
     * in flight at once */
    uint8_t **spare_masks;
    int n_spare_masks, cap_spare_masks;
} compute_state;

static void pending_request_free(pending_request *r)
{
    if (!r)
        return;
    eem_http_request_clear(&r->http);
    eem_buf_free(&r->body);
    eem_payload_batch_free(r->batch);
    for (int k = 0; k < r->n_tiles; k++)
        free(r->tiles[k].mask);
    free(r->tiles);
    free(r);
}

/* Point r at the shared header lines plus its body's own (a binary OIP body
 * says its Content-Type and the length of its JSON header). */
static eem_status request_set_headers(const compute_state *cs, pending_request *r, eem_error *err)
{
    (void)err;
    r->http.secret_headers = cs->auth.headers;
    r->http.headers = NULL;
    if (!r->body_headers[0][0])
        return EEM_OK;
    size_t i = 0;
    for (int k = 0; k < 2; k++)
        if (r->body_headers[k][0])
            r->own_headers[i++] = r->body_headers[k];
    r->own_headers[i] = NULL;
    r->http.headers = r->own_headers;
    return EEM_OK;
}

/* An output mask for the next tile: a spare one, else a new one (NULL: out
 * of memory). */
static uint8_t *compute_mask_take(compute_state *cs)
{
    if (cs->n_spare_masks > 0)
        return cs->spare_masks[--cs->n_spare_masks];
    return malloc((size_t)cs->g->uw * cs->g->uh);
}

/* A tile's mask no longer needed: kept for compute_mask_take. */
static void compute_mask_give(compute_state *cs, uint8_t *mask)
{
    if (!mask)
        return;
    if (cs->n_spare_masks == cs->cap_spare_masks) {
        int cap = cs->cap_spare_masks ? 2 * cs->cap_spare_masks : 64;
        uint8_t **grown = realloc(cs->spare_masks, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(mask);
            return;
        }
        cs->spare_masks = grown;
        cs->cap_spare_masks = cap;
    }
    cs->spare_masks[cs->n_spare_masks++] = mask;
}

/* A finished request: its answer buffer back to the transport, its body and
 * its tiles' masks kept for later requests (reused instead of allocated),
 * then freed. */
static void compute_request_recycle(compute_state *cs, pending_request *r)
{
    for (int k = 0; k < r->n_tiles; k++) {
        compute_mask_give(cs, r->tiles[k].mask);
        r->tiles[k].mask = NULL;
    }
    eem_http_multi_recycle(cs->multi, &r->http);
    if (cs->n_spare_bodies < EEM_SPARE_BODIES && r->body.data) {
        cs->spare_bodies[cs->n_spare_bodies++] = r->body;
        memset(&r->body, 0, sizeof r->body);
    }
    pending_request_free(r);
}

static void compute_state_free(compute_state *cs)
{
    /* Requests still in flight are abandoned with the multi handle first. */
    eem_http_multi_free(cs->multi);
    for (int k = 0; k < cs->in_flight; k++)
        pending_request_free(cs->flying[k]);
    free(cs->flying);
    for (int k = 0; k < cs->n_held; k++) {
        cs->p->memo.tiles_sent -= cs->held[k]->n_tiles; /* never sent */
        pending_request_free(cs->held[k]);
    }
    free(cs->held);
    pending_request_free(cs->building);
    for (int k = 0; k < cs->n_spare_bodies; k++)
        eem_buf_free(&cs->spare_bodies[k]);
    eem_payload_batch_free(cs->spare_batch);
    eem_auth_session_end(&cs->auth);
    if (cs->band_bufs)
        for (int b = 0; b < cs->p->n_bands; b++)
            free(cs->band_bufs[b]);
    free(cs->band_bufs);
    free(cs->nodata_bytes);
    if (cs->p) {
        cs->p->stats.tiles_waited += cs->leases.waits;
        cs->p->stats.leases_broken += cs->leases.broken;
    }
    eem_lease_set_clear(&cs->leases);
    for (int k = 0; k < cs->n_inst; k++)
        eem_tensor_free(cs->inst[k]);
    free(cs->inst);
    for (int k = 0; k < cs->n_spare_masks; k++)
        free(cs->spare_masks[k]);
    free(cs->spare_masks);
}

static eem_status compute_state_init(compute_state *cs, eem_predictor *p, int level,
                                     eem_error *err)
{
    memset(cs, 0, sizeof *cs);
    cs->p = p;
    cs->g = &p->grids[level];
    eem_lease_set_init(&cs->leases, p->cache && !eem_cache_is_object_storage(p->cache)
                                        ? eem_cache_dir(p->cache)
                                        : NULL);
    /* checked at open; again here, for a value set since (thread-local options) */
    eem_status checked = eem_config_values_check(err);
    if (checked != EEM_OK)
        return checked;
    eem_http_options opts;
    eem_http_options_from_config(&opts);
    cs->max_ahead = opts.max_connections * EEM_REQUESTS_AHEAD_PER_CONNECTION;
    if (cs->max_ahead < 1)
        cs->max_ahead = 1;
    cs->max_payload = p->ep->max_payload_bytes > 0 ? p->ep->max_payload_bytes
                                                   : EEM_DEFAULT_MAX_PAYLOAD_BYTES;
    if (p->spec->output_multiplier > 1) /* EE outputMultiplier: room for the answer */
        cs->max_payload = (long)((double)cs->max_payload / p->spec->output_multiplier);
    cs->max_instances = p->ep->max_instances;
    eem_status st = eem_auth_session_begin(&cs->auth, p->ep, p->headers.lines, p->headers.n, err);
    if (st == EEM_OK) { /* the door checks every request; fail before any work */
        eem_request_lines wire = {p->ep->predict_url, NULL, cs->auth.headers, 0, NULL};
        st = eem_request_check_transport(&wire, err);
    }
    if (st != EEM_OK)
        return st;
    if (p->endpoint_down[0]) {
        if (p->spec->on_error != EEM_ON_ERROR_NODATA)
            return eem_error_set(err, EEM_ERR_HTTP, "%s (an earlier read of this dataset was "
                                 "answered so; reopen it to ask again)", p->endpoint_down);
        snprintf(cs->stopped, sizeof cs->stopped, "%s", p->endpoint_down);
        cs->stopped_lasting = 1;
    }
    st = eem_http_multi_new(&opts, &cs->multi, err);
    if (st != EEM_OK)
        return st;

    const eem_grid *g = cs->g;
    size_t npix = (size_t)g->uw * g->uh;
    cs->band_bufs = calloc((size_t)p->n_bands, sizeof *cs->band_bufs);
    cs->nodata_bytes = calloc((size_t)p->n_bands, 8);
    if (!cs->band_bufs || !cs->nodata_bytes)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int b = 0; b < p->n_bands; b++) {
        cs->band_bufs[b] = malloc(npix * eem_dtype_size(p->band_types[b]));
        if (!cs->band_bufs[b])
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        eem_dtype_convert(&p->band_nodata[b].value, EEM_DT_FLOAT64, cs->nodata_bytes + 8 * b,
                          p->band_types[b], 1);
    }
    cs->has_padded = eem_grid_padded_output_size(g, &cs->pw, &cs->ph) == 0;
    cs->layout = (eem_tile_layout){p->spec, g, p->n_bands, p->band_types, p->band_output,
                                   p->band_channel, cs->has_padded, cs->pw, cs->ph};
    size_t spatial = npix;
    if (cs->has_padded && (size_t)cs->pw * cs->ph > spatial)
        spatial = (size_t)cs->pw * cs->ph;
    int maxlen = 1;
    for (int k = 0; k < p->spec->n_outputs; k++)
        if (p->spec->outputs[k].dims == 1 && p->spec->outputs[k].length > maxlen)
            maxlen = p->spec->outputs[k].length;
    cs->max_elements = spatial * (size_t)maxlen;
    return EEM_OK;
}

/* Fill every band buffer with the masked value where mask is 0 (all when mask NULL). */
static void apply_mask(compute_state *cs, const uint8_t *mask)
{
    const eem_predictor *p = cs->p;
    size_t npix = (size_t)cs->g->uw * cs->g->uh;
    if (mask && !memchr(mask, 0, npix))
        return; /* every pixel valid (the usual case): nothing to overwrite */
    for (int b = 0; b < p->n_bands; b++) {
        size_t es = eem_dtype_size(p->band_types[b]);
        uint8_t *dst = cs->band_bufs[b];
        const uint8_t *nd = cs->nodata_bytes + 8 * b;
        for (size_t i = 0; i < npix; i++)
            if (!mask || !mask[i])
                memcpy(dst + i * es, nd, es);
    }
}

/* Output mask of a tile: an output pixel is valid where every input pixel of
 * the tile core it covers is valid.  Returns the number of valid pixels. */
static size_t tile_output_mask(const compute_state *cs, const eem_window *win, int tx, int ty,
                               uint8_t *mask)
{
    const eem_grid *g = cs->g;
    size_t valid = 0;
    eem_rect in = eem_grid_tile_input_window(g, tx, ty);
    const int core_x = in.x + g->ox, core_y = in.y + g->oy; /* in G */
    if (cs->p->src->all_valid && core_x >= 0 && core_y >= 0 && core_x + g->tw <= g->in_w &&
        core_y + g->th <= g->in_h) {
        /* no input pixel masked and the core inside G: every output pixel valid */
        memset(mask, 255, (size_t)g->uw * g->uh);
        return (size_t)g->uw * g->uh;
    }
    int cx = core_x - win->x, cy = core_y - win->y; /* core origin in the window */
    if (g->uw == g->tw && g->uh == g->th) {
        /* same scale: each output pixel covers exactly its input pixel */
        for (int y = 0; y < g->uh; y++) {
            uint8_t *out = mask + (size_t)y * g->uw;
            const int yy = cy + y;
            const uint8_t *row = yy >= 0 && yy < win->h ? win->mask + (size_t)yy * win->w : NULL;
            for (int x = 0; x < g->uw; x++) {
                const int xx = cx + x;
                const int ok = row && xx >= 0 && xx < win->w && row[xx];
                out[x] = ok ? 255 : 0;
                valid += (size_t)ok;
            }
        }
        return valid;
    }
    for (int y = 0; y < g->uh; y++) {
        int ay, by;
        eem_grid_output_pixel_cover_y(g, y, &ay, &by);
        for (int x = 0; x < g->uw; x++) {
            int ax, bx;
            eem_grid_output_pixel_cover_x(g, x, &ax, &bx);
            int ok = 1;
            for (int yy = cy + ay; ok && yy < cy + by; yy++) {
                if (yy < 0 || yy >= win->h) {
                    ok = 0;
                    break;
                }
                const uint8_t *row = win->mask + (size_t)yy * win->w;
                for (int xx = cx + ax; xx < cx + bx; xx++) {
                    if (xx < 0 || xx >= win->w || !row[xx]) {
                        ok = 0;
                        break;
                    }
                }
            }
            mask[(size_t)y * g->uw + x] = ok ? 255 : 0;
            valid += (size_t)ok;
        }
    }
    return valid;
}

/* 1 when tensor t (may be NULL) has this type and shape (h, w, c). */
static int tensor_has_shape(const eem_tensor *t, eem_dtype type, int64_t h, int64_t w, int64_t c)
{
    return t && t->type == type && t->ndim == 3 && t->dims[0] == h && t->dims[1] == w &&
           t->dims[2] == c;
}

/* 1 when the n INPUT_PROPERTIES planes are made and of shape (h, w, 1). */
static int properties_fit(eem_tensor *const *planes, int n, int64_t h, int64_t w)
{
    for (int k = 0; k < n; k++)
        if (!planes[k] || !tensor_has_shape(planes[k], planes[k]->type, h, w, 1))
            return 0;
    return 1;
}

/* The instance's tensor slots, n of them (cs->inst), kept from tile to tile. */
static eem_status compute_instance_slots(compute_state *cs, int n, eem_error *err)
{
    if (cs->n_inst >= n)
        return EEM_OK;
    eem_tensor **grown = realloc(cs->inst, (size_t)n * sizeof *grown);
    if (!grown)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int k = cs->n_inst; k < n; k++)
        grown[k] = NULL;
    cs->inst = grown;
    cs->n_inst = n;
    return EEM_OK;
}

/* Copy the input window of tile (tx,ty) out of the chunk window into
 * tensors[0..n_keys), reusing those of the same shape (every row is written). */
static eem_status tile_slice_instance(const compute_state *cs, const eem_window *win, int tx,
                                      int ty, eem_tensor **tensors, eem_error *err)
{
    eem_rect r = eem_grid_tile_input_window(cs->g, tx, ty);
    int ox = r.x - win->x, oy = r.y - win->y;
    for (int k = 0; k < win->n_keys; k++) {
        const eem_tensor *src = win->keys[k];
        int64_t dims[3] = {r.h, r.w, src->dims[2]};
        if (!tensor_has_shape(tensors[k], src->type, dims[0], dims[1], dims[2])) {
            eem_tensor_free(tensors[k]);
            tensors[k] = eem_tensor_new_to_fill(src->type, 3, dims);
        }
        if (!tensors[k])
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        size_t px = (size_t)src->dims[2] * eem_dtype_size(src->type);
        size_t row = (size_t)r.w * px;
        for (int y = 0; y < r.h; y++)
            memcpy((uint8_t *)tensors[k]->data + (size_t)y * row,
                   (const uint8_t *)src->data + ((size_t)(oy + y) * win->w + (size_t)ox) * px,
                   row);
    }
    return EEM_OK;
}

/* 1 when the tiles of this call are the level's own tiles: no probe filter
 * changes their inputs and no BLEND offset moves them.  Only those are kept in
 * (and served from) the dataset's tile store and failure memory, which are
 * keyed by (level, tx, ty). */
static int compute_is_plain(const compute_state *cs)
{
    return !cs->p->filter && cs->g->shift_x == 0 && cs->g->shift_y == 0;
}

static eem_status compute_deliver(compute_state *cs, int tx, int ty, const uint8_t *mask,
                                  eem_error *err)
{
    if (!cs->p->delivering_failed && compute_is_plain(cs))
        eem_tilestore_put(cs->p->memo.store, cs->g->level, tx, ty, cs->band_bufs, mask);
    eem_status st = cs->sink(cs->sink_user, cs->g->level, tx, ty, cs->band_bufs, mask, err);
    if (st != EEM_OK && err && err->status == EEM_OK)
        eem_error_set(err, st, "storing tile (%d,%d) failed", tx, ty);
    return st;
}

/* Persistent cache lookup of one encoded tile before it is sent: on a hit the
 * cached bands are masked with mask and delivered, and *hit is set; on a miss
 * the key is kept in cs->next_key for storing the answer. */
static eem_status compute_cache_lookup(compute_state *cs, int tx, int ty, const void *instance,
                                       size_t len, const uint8_t *mask, int *hit, eem_error *err)
{
    eem_predictor *p = cs->p;
    *hit = 0;
    cs->next_has_key = 0;
    if (!p->cache || p->filter)
        return EEM_OK;
    eem_status st = eem_cache_key_compute(p->cache_context, instance, len, &cs->next_key, err);
    if (st != EEM_OK)
        return st;
    cs->next_has_key = 1;
    /* every level has the same output tile size, so the sizes of level 0 hold */
    if (!eem_cache_get(p->cache, &cs->next_key, cs->band_bufs, p->cache_sizes, p->n_bands)) {
        eem_lease_outcome o;
        st = eem_lease_take_miss(&cs->leases, p->cache, &cs->next_key, tx, ty, cs->band_bufs,
                                 p->cache_sizes, p->n_bands, &o, err);
        *hit = o != EEM_LEASE_PREDICT; /* deferred tiles are taken up after the wait */
        if (st != EEM_OK || o != EEM_LEASE_STORED_MEANWHILE)
            return st;
    }
    *hit = 1;
    p->stats.tiles_from_cache++;
    apply_mask(cs, mask);
    return compute_deliver(cs, tx, ty, mask, err);
}

/* Store a predicted tile (band buffers before masking) in the persistent
 * cache.  A failed write only costs a later recomputation: it is counted in
 * the cache's statistics, the prediction is used anyway. */
static void compute_cache_store(compute_state *cs, const pending_tile *t)
{
    eem_predictor *p = cs->p;
    if (!p->cache || !t->has_key)
        return;
    eem_error ignored = {0};
    (void)eem_cache_put(p->cache, &t->key, (const void *const *)cs->band_bufs, p->cache_sizes,
                        p->n_bands, &ignored);
    eem_lease_release(&cs->leases, &t->key);
}

/* HTTP 401/403 to a request that carried no credentials: say what was looked for. */
static void compute_explain_no_credentials(const compute_state *cs, eem_error *err)
{
    size_t len = strlen(err->msg);
    const eem_predictor *p = cs->p;
    for (int k = 0; k < p->headers.n; k++)
        if (eem_header_is_secret(p->headers.lines[k], strlen(p->headers.lines[k])))
            return; /* HEADERS carried them: the server refused those */
    if (cs->auth.lines.looked_for[0])
        snprintf(err->msg + len, sizeof err->msg - len,
                 "; the request carried no credentials: Google credentials apply and none were "
                 "found (for a loopback URL that is not an error at open); tried, in order:%s",
                 cs->auth.lines.looked_for);
    else
        snprintf(err->msg + len, sizeof err->msg - len,
                 "; the request carried no credentials: Google credentials are only looked for "
                 "for Google backends (PROJECT/MODEL, ENDPOINT or a googleapis.com URL); give "
                 "this server's own with HEADERS or EEMODEL_HEADERS (e.g. Authorization: Bearer "
                 "...)");
}

/* A binary body refused by a server that accepted the binary tensor extension
 * when probed (this process remembered it): JSON is remembered for it from now
 * on, and the message says how to go on. */
static void compute_forget_binary_verdict(compute_state *cs, eem_error *err)
{
    eem_oip_binary_remember(cs->p->binary_verdict_key, 0);
    size_t len = strlen(err->msg);
    snprintf(err->msg + len, sizeof err->msg - len,
             "; this server had accepted Triton's binary tensor extension when probed and "
             "refuses it now (replaced, or another version): JSON is remembered for it from "
             "now on, so reopening the dataset sends JSON (EEMODEL_OIP_BINARY=NO always does)");
}

static eem_status compute_use_answer(compute_state *cs, pending_request *r, eem_error *err)
{
    eem_predictor *p = cs->p;
    if (!r->http.ok) {
        char what[1024];
        eem_http_describe_failure(&r->http, what, sizeof what);
        eem_error_set(err, EEM_ERR_HTTP, "prediction request for %d tile(s) failed: %s",
                      r->n_tiles, what);
        if ((r->http.status == 401 || r->http.status == 403) && !cs->auth.lines.authorization)
            compute_explain_no_credentials(cs, err);
        if (p->binary_verdict_key && p->payload.binary && eem_oip_binary_refusal(r->http.status))
            compute_forget_binary_verdict(cs, err);
        return EEM_ERR_HTTP;
    }
    p->answered = 1;
    eem_answered_memo_note(p->ep->predict_url);
    int no = p->spec->n_outputs;
    eem_tensor **outs = calloc((size_t)r->n_tiles * (size_t)no, sizeof *outs);
    if (!outs)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_status st = p->ops->decode_response(&p->payload, r->http.response, r->http.response_len,
                                            r->n_tiles, cs->max_elements, outs, err);
    if (st != EEM_OK) {
        eem_error_prefix(err, "answer from %s", p->ep->display_url);
        if (strstr(err->msg, "element")) /* say what was expected, not only "too large" */
            eem_tile_output_explain_size(&cs->layout, err);
    }
    for (int i = 0; st == EEM_OK && i < r->n_tiles; i++) {
        pending_tile *t = &r->tiles[i];
        for (int k = 0; st == EEM_OK && k < no; k++)
            st = eem_tile_output_store(&cs->layout, t->tx, t->ty, k, outs[(size_t)i * no + k],
                                       cs->band_bufs, err);
        if (st == EEM_OK && no > 0 && eem_tile_output_was_padded(&cs->layout, outs[(size_t)i * no]))
            p->stats.answers_padded++; /* the probe tells cropped from padded answers */
        if (st == EEM_OK) {
            compute_cache_store(cs, t);
            apply_mask(cs, t->mask);
            st = compute_deliver(cs, t->tx, t->ty, t->mask, err);
            p->stats.tiles_predicted++;
        }
    }
    for (size_t k = 0; k < (size_t)r->n_tiles * (size_t)no; k++)
        eem_tensor_free(outs[k]);
    free(outs);
    return st;
}

/* A tile that is not sent: the read stopped after an endpoint-wide failure,
 * or the tile is remembered as failed (msg).  Masked as failed
 * (ON_ERROR=NODATA only: otherwise the read has already failed). */
static eem_status compute_fail_unsent(compute_state *cs, int tx, int ty, uint8_t *mask,
                                      const char *msg, int remember, eem_error *err)
{
    eem_predictor *p = cs->p;
    snprintf(p->last_failure, sizeof p->last_failure, "%s", msg);
    eem_status st = remember ? eem_failmemo_add(p->memo.failures, cs->g->level, tx, ty, msg, err)
                             : EEM_OK;
    memset(mask, 0, (size_t)cs->g->uw * cs->g->uh);
    apply_mask(cs, NULL);
    p->delivering_failed = 1;
    if (st == EEM_OK)
        st = compute_deliver(cs, tx, ty, mask, err);
    p->delivering_failed = 0;
    if (st == EEM_OK)
        p->stats.tiles_failed++;
    return st;
}

/* Use an answer; with ON_ERROR=NODATA a failed request masks its tiles.  A
 * lasting failure (failmemo.h) is remembered for its tiles; an endpoint-wide
 * one stops the read from sending more. */
static eem_status compute_finish_request(compute_state *cs, pending_request *r, eem_error *err)
{
    eem_predictor *p = cs->p;
    p->stats.requests++;
    if (r->http.attempts > 1)
        p->stats.retries += r->http.attempts - 1;
    p->stats.bytes_received += (long long)r->http.response_len;
    long delivered = p->stats.tiles_predicted;
    eem_status st = compute_use_answer(cs, r, err);
    if (st == EEM_OK || st == EEM_ERR_CANCELLED || st == EEM_ERR_NOMEM)
        return st;
    int lasting = eem_failure_is_lasting(&r->http);
    if (eem_failure_is_endpoint_wide(&r->http) && !cs->stopped[0]) {
        snprintf(cs->stopped, sizeof cs->stopped, "%s", err->msg);
        cs->stopped_lasting = lasting;
        if (lasting && !p->endpoint_down[0])
            snprintf(p->endpoint_down, sizeof p->endpoint_down, "%s", err->msg);
    }
    for (int i = 0; lasting && compute_is_plain(cs) && i < r->n_tiles; i++) {
        eem_error ignored = {0}; /* out of memory: the tile is asked again, nothing worse */
        (void)eem_failmemo_add(p->memo.failures, cs->g->level, r->tiles[i].tx, r->tiles[i].ty,
                               err->msg, &ignored);
    }
    if (p->spec->on_error != EEM_ON_ERROR_NODATA)
        return st;
    char msg[EEM_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", err->msg);
    /* tiles of this request not delivered yet are masked */
    int first = (int)(p->stats.tiles_predicted - delivered);
    eem_error_clear(err);
    for (int i = first; i < r->n_tiles; i++) {
        st = compute_fail_unsent(cs, r->tiles[i].tx, r->tiles[i].ty, r->tiles[i].mask, msg, 0,
                                 err);
        if (st != EEM_OK)
            return st;
    }
    return EEM_OK;
}

/* ------------------------------------------------ credentials in flight -- */

/* Say whose credentials were refused, and whether a new token was tried. */
static void compute_explain_unauthorized(compute_state *cs, const pending_request *r,
                                         eem_error *err)
{
    size_t len = strlen(err->msg);
    snprintf(err->msg + len, sizeof err->msg - len,
             r->auth_retried ? "; the credentials from %s were refused, also after one refresh"
                             : "; the credentials from %s were refused",
             cs->auth.lines.origin);
}

static eem_status compute_release_held(compute_state *cs, eem_error *err);

/* Wait for one request to finish and use its answer, at most until
 * `deadline` (eem_http_clock() time); until a first answer (slow start), at
 * most until cs->slow_start_until. */
static eem_status compute_take_answer(compute_state *cs, double deadline, int (*cancel)(void *),
                                      void *cancel_user, eem_error *err)
{
    eem_http_request *done = NULL;
    double until = deadline;
    if (!cs->p->answered) {
        if (cs->slow_start_until == 0)
            cs->slow_start_until = eem_http_clock() + EEM_SLOW_START_S;
        if (eem_http_clock() < cs->slow_start_until && cs->slow_start_until < until)
            until = cs->slow_start_until;
    }
    if (cs->slice > 0 && eem_http_clock() + cs->slice < until)
        until = eem_http_clock() + cs->slice;
    eem_status st = eem_http_multi_next_until(cs->multi, &done, until, cancel, cancel_user, err);
    if (st != EEM_OK || !done)
        return st;
    pending_request *r = done->user;
    int resent = 0;
    /* HTTP 401: the auth session decides whether it goes again with new lines */
    st = eem_auth_session_resend_refused(&cs->auth, cs->multi, &r->http, &r->auth_generation,
                                         &r->auth_retried, &resent, err);
    if (st == EEM_OK && resent)
        return EEM_OK; /* in flight again, still listed in cs->flying */
    for (int k = 0; k < cs->in_flight; k++) {
        if (cs->flying[k] == r) {
            cs->flying[k] = cs->flying[--cs->in_flight];
            break;
        }
    }
    if (st == EEM_OK && r->http.ok && !cs->p->answered) {
        /* the first answer: what the slow start held leaves before it is decoded */
        cs->p->answered = 1;
        st = compute_release_held(cs, err);
    }
    if (st == EEM_OK)
        st = compute_finish_request(cs, r, err);
    if (st != EEM_OK && r->http.status == 401 && cs->auth.lines.authorization)
        compute_explain_unauthorized(cs, r, err);
    compute_request_recycle(cs, r);
    return st;
}

/* Wait for one request to finish and use its answer, then send what the slow
 * start held if it is over (so a request held is never left without one in
 * flight: callers loop while cs->in_flight > 0). */
static eem_status compute_drain_one(compute_state *cs, int (*cancel)(void *), void *cancel_user,
                                    eem_error *err)
{
    eem_status st = compute_take_answer(cs, HUGE_VAL, cancel, cancel_user, err);
    if (st == EEM_OK)
        st = compute_release_held(cs, err);
    return st;
}

/* Move the transfers on without waiting (a request just queued leaves now,
 * not at the next wait) and use the answers that have already come, sending
 * what the slow start held once it is over. */
static eem_status compute_poll_answers(compute_state *cs, eem_error *err)
{
    eem_status st;
    long before;
    do {
        before = cs->p->stats.requests;
        st = compute_take_answer(cs, eem_http_clock(), NULL, NULL, err);
        if (st == EEM_OK)
            st = compute_release_held(cs, err);
    } while (st == EEM_OK && cs->p->stats.requests != before);
    return st;
}

/* Until a first answer (for at most EEM_SLOW_START_S), one request at a time. */
static int compute_slow_start(const compute_state *cs)
{
    return !cs->p->answered &&
           (cs->slow_start_until == 0 || eem_http_clock() < cs->slow_start_until);
}

/* Build r's body from its encoded instances (whose buffers are kept for the
 * next batch). */
static eem_status compute_build_body(compute_state *cs, pending_request *r, eem_error *err)
{
    size_t binary_header_len = 0;
    if (!r->body.data && cs->n_spare_bodies > 0) {
        r->body = cs->spare_bodies[--cs->n_spare_bodies]; /* batch_build empties it */
        r->body.failed = 0;
    }
    eem_status st = eem_payload_batch_build(r->batch, &r->body, &binary_header_len, err);
    if (st == EEM_OK && binary_header_len > 0) {
        snprintf(r->body_headers[0], sizeof r->body_headers[0], "Content-Type: %s",
                 eem_payload_content_type(cs->p->ops, &cs->p->payload));
        snprintf(r->body_headers[1], sizeof r->body_headers[1],
                 "Inference-Header-Content-Length: %zu", binary_header_len);
    }
    /* the encoded instances are in the body now: keep their buffers for the next batch */
    eem_payload_batch_reset(r->batch);
    eem_payload_batch_free(cs->spare_batch);
    cs->spare_batch = r->batch;
    r->batch = NULL;
    return st;
}

/* Send r (owned): fail its tiles unsent when the endpoint stopped answering. */
static eem_status compute_send(compute_state *cs, pending_request *r, eem_error *err)
{
    eem_status failed = EEM_OK;
    for (int k = 0; cs->stopped[0] && failed == EEM_OK && k < r->n_tiles; k++)
        failed = compute_fail_unsent(cs, r->tiles[k].tx, r->tiles[k].ty, r->tiles[k].mask,
                                     cs->stopped, cs->stopped_lasting, err);
    if (cs->stopped[0]) {
        cs->p->memo.tiles_sent -= r->n_tiles; /* never sent */
        pending_request_free(r);
        return failed;
    }
    /* the job budget (job_budget.h) counts the tiles of each request sent */
    eem_status st = eem_job_budget_take(cs->p->cache ? eem_cache_dir(cs->p->cache) : NULL,
                                        cs->p->job_max_predictions, r->n_tiles, err);
    if (st == EEM_OK && r->batch)
        st = compute_build_body(cs, r, err);
    if (st != EEM_OK) {
        pending_request_free(r);
        return st;
    }
    r->http.url = cs->p->ep->predict_url;
    r->http.body = r->body.data;
    r->http.body_len = r->body.len;
    if ((st = eem_auth_session_renew_if_due(&cs->auth, err)) != EEM_OK) {
        pending_request_free(r);
        return st;
    }
    if ((st = request_set_headers(cs, r, err)) != EEM_OK) {
        pending_request_free(r);
        return st;
    }
    r->auth_generation = cs->auth.generation;
    r->http.user = r;
    r->http.error_message = cs->p->ep->backend ? cs->p->ep->backend->error_message : NULL;
    if (cs->p->ep->grpc)
        eem_grpc_request_use_for(&r->http, cs->p->ep);
    if (cs->in_flight == cs->cap_flying) {
        int cap = cs->cap_flying ? 2 * cs->cap_flying : 16;
        pending_request **nf = realloc(cs->flying, (size_t)cap * sizeof *nf);
        if (!nf) {
            pending_request_free(r);
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        }
        cs->flying = nf;
        cs->cap_flying = cap;
    }
    st = eem_http_multi_add(cs->multi, &r->http, err);
    if (st != EEM_OK) {
        pending_request_free(r);
        return st;
    }
    cs->p->stats.bytes_sent += (long long)r->body.len;
    cs->flying[cs->in_flight++] = r;
    return EEM_OK;
}

/* Send the request being built, or hold it while the slow start's one
 * request is out (compute_release_held sends it). */
static eem_status compute_submit(compute_state *cs, eem_error *err)
{
    pending_request *r = cs->building;
    if (!r)
        return EEM_OK;
    cs->building = NULL;
    if (cs->in_flight == 0 || !compute_slow_start(cs))
        return compute_send(cs, r, err);
    /* built now, while waiting: its release is only a hand-over to the transport */
    eem_status st = compute_build_body(cs, r, err);
    if (st != EEM_OK) {
        pending_request_free(r);
        return st;
    }
    if (cs->n_held == cs->cap_held) {
        int cap = cs->cap_held ? 2 * cs->cap_held : 8;
        pending_request **nh = realloc(cs->held, (size_t)cap * sizeof *nh);
        if (!nh) {
            cs->p->memo.tiles_sent -= r->n_tiles;
            pending_request_free(r);
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        }
        cs->held = nh;
        cs->cap_held = cap;
    }
    cs->held[cs->n_held++] = r;
    return EEM_OK;
}

/* Held requests leave in the order they were built: all of them once the
 * slow start is over, else one when nothing is in flight. */
static eem_status compute_release_held(compute_state *cs, eem_error *err)
{
    eem_status st = EEM_OK;
    int sent = 0;
    while (st == EEM_OK && sent < cs->n_held && (cs->in_flight == 0 || !compute_slow_start(cs)))
        st = compute_send(cs, cs->held[sent++], err);
    if (sent > 0) {
        memmove(cs->held, cs->held + sent, (size_t)(cs->n_held - sent) * sizeof *cs->held);
        cs->n_held -= sent;
    }
    return st;
}

/* Error for a tile whose body alone exceeds MAX_PAYLOAD_BYTES. */
static eem_status payload_limit_error(const compute_state *cs, const eem_payload_fragment *frag,
                                      size_t single, eem_error *err)
{
    const eem_predictor *p = cs->p;
    long max_payload = p->ep->max_payload_bytes > 0 ? p->ep->max_payload_bytes
                                                    : EEM_DEFAULT_MAX_PAYLOAD_BYTES;
    return eem_cost_payload_limit_error(&p->grids[0], max_payload, p->ops->name, frag->data.len,
                                        single, err);
}

/* 1 when the tiles known to come (this one included) fill more requests
 * than cs->max_ahead; single: the body of a request of one tile. */
static int compute_read_is_long(const compute_state *cs, size_t single)
{
    double per_request = single > 0 ? (double)cs->max_payload / (double)single : 1.0;
    if (cs->max_instances > 0 && per_request > cs->max_instances)
        per_request = cs->max_instances;
    return (double)(1 + cs->tiles_coming) > (double)cs->max_ahead * per_request;
}

static eem_status compute_add_instance(compute_state *cs, int tx, int ty,
                                       const eem_instance *inst,
                                       const eem_payload_fragment *frag, uint8_t *mask_taken,
                                       int (*cancel)(void *), void *cancel_user, eem_error *err)
{
    eem_status st = EEM_OK;
    size_t single = 0; /* body of a request of this tile alone, when it begins one */
    pending_request *r = cs->building;
    /* the exact size of the body with this instance added, as it will be sent */
    if (r && (eem_payload_batch_size_with(r->batch, inst, frag) > (size_t)cs->max_payload ||
              (cs->max_instances > 0 && r->n_tiles >= cs->max_instances))) {
        st = compute_submit(cs, err);
        r = NULL;
        /* requests built ahead, sent or held by the slow start (compute_submit) */
        while (st == EEM_OK && cs->in_flight + cs->n_held >= cs->max_ahead)
            st = compute_drain_one(cs, cancel, cancel_user, err);
        /* what was queued leaves now; the answers already in are used (the
         * slow start's one: what it held leaves) */
        if (st == EEM_OK && cs->in_flight > 0)
            st = compute_poll_answers(cs, err);
        if (st != EEM_OK) {
            free(mask_taken);
            return st;
        }
    }
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) {
            free(mask_taken);
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        }
        cs->building = r;
        r->batch = cs->spare_batch ? cs->spare_batch
                                   : eem_payload_batch_new(cs->p->ops, &cs->p->payload);
        cs->spare_batch = NULL;
        if (!r->batch)
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        single = st == EEM_OK ? eem_payload_batch_size_with(r->batch, inst, frag) : 0;
        if (st == EEM_OK && single > (size_t)cs->max_payload)
            st = payload_limit_error(cs, frag, single, err);
        if (st != EEM_OK) {
            free(mask_taken);
            return st;
        }
    }
    st = eem_payload_batch_add(r->batch, inst, frag, err);
    if (st != EEM_OK) {
        free(mask_taken);
        return st;
    }
    if (r->n_tiles == r->cap_tiles) {
        int cap = r->cap_tiles ? 2 * r->cap_tiles : 16;
        pending_tile *nt = realloc(r->tiles, (size_t)cap * sizeof *nt);
        if (!nt) {
            free(mask_taken);
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        }
        r->tiles = nt;
        r->cap_tiles = cap;
    }
    r->tiles[r->n_tiles].tx = tx;
    r->tiles[r->n_tiles].ty = ty;
    r->tiles[r->n_tiles].mask = mask_taken;
    r->tiles[r->n_tiles].key = cs->next_key;
    r->tiles[r->n_tiles].has_key = cs->next_has_key;
    r->n_tiles++;
    cs->p->memo.tiles_sent++;
    /* the slow start's request that goes alone carries one tile when the
     * tiles known to come fill more requests than are kept in flight: the
     * probe of the endpoint costs one tile's time while the next requests are
     * built, for one request more than the minimum (smaller reads keep the
     * fewest requests) */
    if (r->n_tiles == 1 && cs->in_flight == 0 && cs->n_held == 0 && compute_slow_start(cs) &&
        compute_read_is_long(cs, single)) {
        st = compute_submit(cs, err);
        return st == EEM_OK ? compute_poll_answers(cs, err) : st; /* on the wire now */
    }
    return EEM_OK;
}

/* Encode and queue every tile of one chunk (tiles sharing a source window). */
static eem_status compute_chunk(compute_state *cs, const int *tiles, int n, int (*cancel)(void *),
                                void *cancel_user, eem_error *err)
{
    const eem_grid *g = cs->g;
    eem_source *src = cs->p->src;
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    for (int k = 0; k < n; k++) {
        eem_rect r = eem_grid_tile_input_window(g, tiles[2 * k], tiles[2 * k + 1]);
        if (k == 0 || r.x < x0)
            x0 = r.x;
        if (k == 0 || r.y < y0)
            y0 = r.y;
        if (k == 0 || r.x + r.w > x1)
            x1 = r.x + r.w;
        if (k == 0 || r.y + r.h > y1)
            y1 = r.y + r.h;
    }
    eem_window *win = NULL;
    eem_status st = eem_source_read_window(src, g->level, x0, y0, x1 - x0, y1 - y0, &win, err);
    if (st != EEM_OK)
        return st;
    int n_keys = win->n_keys + cs->p->props->n; /* bands, then INPUT_PROPERTIES */
    st = compute_instance_slots(cs, n_keys, err);
    eem_tensor **tensors = cs->inst;
    const char **keys = st == EEM_OK ? calloc((size_t)n_keys, sizeof *keys) : NULL;
    eem_payload_fragment frag = {0};
    if (st == EEM_OK && !keys)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int k = 0; st == EEM_OK && k < n_keys; k++)
        keys[k] = k < win->n_keys ? src->keys[k].key : cs->p->props->keys[k - win->n_keys];
    for (int k = 0; st == EEM_OK && k < n; k++) {
        int tx = tiles[2 * k], ty = tiles[2 * k + 1];
        uint8_t *mask = compute_mask_take(cs);
        if (!mask) {
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
            break;
        }
        if (tile_output_mask(cs, win, tx, ty, mask) == 0) {
            /* nothing valid under this tile: never sent, delivered masked */
            apply_mask(cs, NULL);
            st = compute_deliver(cs, tx, ty, mask, err);
            cs->p->stats.tiles_skipped++;
            compute_mask_give(cs, mask);
            continue;
        }
        const char *known = compute_is_plain(cs)
                                ? eem_failmemo_find(cs->p->memo.failures, g->level, tx, ty)
                                : NULL;
        if (known || cs->stopped[0]) {
            st = compute_fail_unsent(cs, tx, ty, mask, known ? known : cs->stopped,
                                     !known && cs->stopped_lasting, err);
            compute_mask_give(cs, mask);
            continue;
        }
        eem_instance inst = {n_keys, keys, (const eem_tensor *const *)tensors};
        st = tile_slice_instance(cs, win, tx, ty, tensors, err);
        if (st == EEM_OK && cs->p->filter)
            st = cs->p->filter(cs->p->filter_user, tx, ty, tensors, win->n_keys, err);
        if (st == EEM_OK && !properties_fit(tensors + win->n_keys, n_keys - win->n_keys,
                                            tensors[0]->dims[0], tensors[0]->dims[1])) {
            /* the properties' constant planes: made again only for a new shape */
            for (int i = win->n_keys; i < n_keys; i++) {
                eem_tensor_free(tensors[i]);
                tensors[i] = NULL;
            }
            st = eem_image_properties_tensors(cs->p->props, (int)tensors[0]->dims[0],
                                              (int)tensors[0]->dims[1], tensors + win->n_keys, err);
        }
        if (st == EEM_OK)
            st = eem_payload_encode(cs->p->ops, &cs->p->payload, &inst, &frag, err);
        int cached = 0;
        if (st == EEM_OK)
            st = compute_cache_lookup(cs, tx, ty, frag.data.data, frag.data.len, mask, &cached,
                                      err);
        cs->tiles_coming = (n - k - 1) + cs->tiles_after_chunk;
        if (st == EEM_OK && !cached)
            st = compute_add_instance(cs, tx, ty, &inst, &frag, mask, cancel, cancel_user, err);
        else
            compute_mask_give(cs, mask);
        if (st == EEM_OK && cancel && cancel(cancel_user))
            st = eem_error_set(err, EEM_ERR_CANCELLED, "interrupted by the caller");
    }
    eem_payload_fragment_free(&frag);
    free(keys);
    eem_window_free(win);
    return st;
}

eem_status eem_predictor_compute(eem_predictor *p, int level, const int *tiles, int n_tiles,
                                 eem_tile_sink sink, void *sink_user, int (*cancel)(void *),
                                 void *cancel_user, eem_error *err)
{
    return eem_predictor_compute_shifted(p, level, 0, 0, tiles, n_tiles, sink, sink_user, cancel,
                                         cancel_user, err);
}

static eem_status compute_shifted(eem_predictor *p, int level, int shift_x, int shift_y,
                                  const int *tiles, int n_tiles, eem_tile_sink sink,
                                  void *sink_user, int (*cancel)(void *), void *cancel_user,
                                  eem_error *err);

eem_status eem_predictor_compute_shifted(eem_predictor *p, int level, int shift_x, int shift_y,
                                         const int *tiles, int n_tiles, eem_tile_sink sink,
                                         void *sink_user, int (*cancel)(void *),
                                         void *cancel_user, eem_error *err)
{
    eem_worklock_enter(p->lock);
    eem_status st = compute_shifted(p, level, shift_x, shift_y, tiles, n_tiles, sink, sink_user,
                                    cancel, cancel_user, err);
    eem_worklock_leave(p->lock);
    return st;
}

static eem_status compute_shifted(eem_predictor *p, int level, int shift_x, int shift_y,
                                  const int *tiles, int n_tiles, eem_tile_sink sink,
                                  void *sink_user, int (*cancel)(void *), void *cancel_user,
                                  eem_error *err)
{
    if (level < 0 || level >= p->n_levels)
        return eem_error_set(err, EEM_ERR_INVALID, "overview level %d does not exist", level);
    eem_grid shifted = p->grids[level];
    shifted.shift_x = shift_x;
    shifted.shift_y = shift_y;
    if (n_tiles <= 0)
        return EEM_OK;
    int *order = malloc((size_t)n_tiles * 2 * sizeof *order);
    if (!order)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    memcpy(order, tiles, (size_t)n_tiles * 2 * sizeof *order);
    eem_grid_sort_tiles(order, n_tiles);
    /* what this dataset holds or knows has failed is not sent; the cost guard.
     * Probe-filtered or BLEND-offset tiles are not the level's tiles: only the
     * budget applies to them (compute_is_plain) */
    eem_status st;
    if (!p->filter && shift_x == 0 && shift_y == 0)
        st = eem_datamemo_serve(&p->memo, level, order, &n_tiles,
                                p->spec->on_error != EEM_ON_ERROR_NODATA, p->max_predictions,
                                p->n_bands, sink, sink_user, err);
    else
        st = eem_cost_check_budget(p->max_predictions, p->memo.tiles_sent, n_tiles, "this read",
                                   err);
    if (st != EEM_OK || n_tiles == 0) {
        free(order);
        return st;
    }

    compute_state cs;
    st = compute_state_init(&cs, p, level, err);
    cs.sink = sink;
    cs.sink_user = sink_user;
    cs.g = &shifted;
    const eem_grid *g = cs.g;
    /* bytes of source tensors per input pixel, to size chunks */
    size_t px_bytes = 0;
    for (int k = 0; k < p->src->n_keys; k++)
        px_bytes += (size_t)p->src->keys[k].n_bands * eem_dtype_size(p->src->keys[k].send_type);
    if (px_bytes == 0)
        px_bytes = 1;
    size_t tile_bytes = (size_t)(g->tw + 2 * g->ox) * (size_t)(g->th + 2 * g->oy) * px_bytes;
    int start = 0;
    while (st == EEM_OK && start < n_tiles) {
        /* a chunk: consecutive tiles of one tile row, window within the byte cap */
        int end = start + 1;
        while (end < n_tiles && order[2 * end + 1] == order[2 * start + 1]) {
            size_t span = (size_t)(order[2 * end] - order[2 * start] + 1);
            if (span * tile_bytes > EEM_CHUNK_MAX_BYTES)
                break;
            end++;
        }
        cs.tiles_after_chunk = n_tiles - end;
        st = compute_chunk(&cs, order + 2 * start, end - start, cancel, cancel_user, err);
        start = end;
    }
    if (st == EEM_OK)
        st = compute_submit(&cs, err);
    while (st == EEM_OK && cs.in_flight > 0)
        st = compute_drain_one(&cs, cancel, cancel_user, err);
    /* tiles other readers were predicting: wait for them, then take them from
     * the cache (or predict them when their owner failed) */
    int *later = NULL, n_later = 0;
    if (st == EEM_OK)
        st = eem_lease_wait_deferred(&cs.leases, cancel, cancel_user, &later, &n_later, err);
    compute_state_free(&cs);
    free(order);
    if (st == EEM_OK && n_later > 0)
        st = compute_shifted(p, level, shift_x, shift_y, later, n_later, sink, sink_user, cancel,
                             cancel_user, err);
    free(later);
    return st;
}

/* ------------------------------------------------ the pipeline's side -- */

/* Bytes of one tile's source tensors (overlap included), to size chunks. */
static size_t source_tile_bytes(const eem_predictor *p, const eem_grid *g)
{
    size_t px_bytes = 0;
    for (int k = 0; k < p->src->n_keys; k++)
        px_bytes += (size_t)p->src->keys[k].n_bands * eem_dtype_size(p->src->keys[k].send_type);
    return (size_t)(g->tw + 2 * g->ox) * (size_t)(g->th + 2 * g->oy) * (px_bytes ? px_bytes : 1);
}

/* The end of a feed session: tiles other readers were predicting are waited
 * for, then taken from the cache (or predicted). */
static eem_status feed_finish(compute_state *cs, int (*poll)(void *), void *poll_user,
                              eem_error *err)
{
    int *later = NULL, n_later = 0;
    eem_status st = eem_lease_wait_deferred(&cs->leases, poll, poll_user, &later, &n_later, err);
    eem_predictor *p = cs->p;
    const int level = cs->g->level;
    eem_tile_sink sink = cs->sink;
    void *sink_user = cs->sink_user;
    compute_state_free(cs);
    if (st == EEM_OK && n_later > 0)
        st = compute_shifted(p, level, 0, 0, later, n_later, sink, sink_user, poll, poll_user, err);
    free(later);
    return st;
}

eem_status eem_predictor_run_feed(eem_predictor *p, const eem_tile_feed *feed, eem_tile_sink sink,
                                  void *sink_user, int (*poll)(void *), void *poll_user,
                                  eem_error *err)
{
    /* a chunk: tiles of one row whose source window stays within the byte cap */
    const size_t tile_bytes = source_tile_bytes(p, &p->grids[0]);
    int max = (int)(EEM_CHUNK_MAX_BYTES / tile_bytes);
    max = max < 1 ? 1 : max > 256 ? 256 : max;
    int *tiles = malloc((size_t)max * 2 * sizeof *tiles);
    if (!tiles)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    compute_state cs;
    int open = 0, building_urgent = 0;
    eem_status st = EEM_OK;
    while (st == EEM_OK) {
        int level = 0, urgent = 0;
        const int n = feed->next(feed->user, &level, &urgent, tiles, max);
        if (open && building_urgent && !urgent) {
            /* the tiles a read waits for leave now, not with the next ones */
            if ((st = compute_submit(&cs, err)) != EEM_OK)
                break;
        }
        building_urgent = urgent && n > 0;
        if (n > 0 && open && level != cs.g->level) {
            /* another level: finish this session first */
            st = compute_submit(&cs, err);
            while (st == EEM_OK && cs.in_flight > 0)
                st = compute_drain_one(&cs, poll, poll_user, err);
            if (st != EEM_OK)
                break;
            open = 0;
            if ((st = feed_finish(&cs, poll, poll_user, err)) != EEM_OK)
                break;
        }
        if (n > 0) {
            if (!open) {
                if (level < 0 || level >= p->n_levels) {
                    st = eem_error_set(err, EEM_ERR_INVALID, "overview level %d does not exist",
                                       level);
                    break;
                }
                open = 1;
                st = compute_state_init(&cs, p, level, err);
                cs.sink = sink;
                cs.sink_user = sink_user;
                cs.slice = EEM_FEED_SLICE_S; /* come back to the feed often */
                if (st != EEM_OK)
                    break;
            }
            cs.tiles_after_chunk = feed->pending ? feed->pending(feed->user) : 0;
            st = compute_chunk(&cs, tiles, n, poll, poll_user, err);
            continue;
        }
        if (!open)
            break; /* nothing to do, nothing in flight */
        /* the feed is empty for now: send what is built, take answers */
        st = compute_submit(&cs, err);
        if (st == EEM_OK && cs.in_flight > 0) {
            st = compute_drain_one(&cs, poll, poll_user, err);
            continue;
        }
        open = 0;
        if (st == EEM_OK)
            st = feed_finish(&cs, poll, poll_user, err);
        else
            compute_state_free(&cs);
        break;
    }
    if (open)
        compute_state_free(&cs); /* abandons what is in flight, releases its leases */
    free(tiles);
    return st;
}

eem_status eem_predictor_serve_held(eem_predictor *p, int level, int *tiles, int *n_tiles,
                                    eem_tile_sink sink, void *sink_user, eem_error *err)
{
    eem_worklock_enter(p->lock);
    eem_status st = eem_datamemo_serve(&p->memo, level, tiles, n_tiles,
                                       p->spec->on_error != EEM_ON_ERROR_NODATA,
                                       p->max_predictions, p->n_bands, sink, sink_user, err);
    eem_worklock_leave(p->lock);
    return st;
}

eem_status eem_predictor_lend_held_masks(eem_predictor *p, int level, int *tiles, int *n_tiles,
                                         eem_tile_sink sink, void *sink_user, eem_error *err)
{
    eem_worklock_enter(p->lock);
    eem_status st =
        eem_datamemo_lend_held_masks(&p->memo, level, tiles, n_tiles, sink, sink_user, err);
    eem_worklock_leave(p->lock);
    return st;
}

eem_status eem_predictor_deliver_failed(eem_predictor *p, int level, int tx, int ty,
                                        const char *msg, eem_tile_sink sink, void *sink_user,
                                        eem_error *err)
{
    const eem_grid *g = &p->grids[level];
    const size_t npix = (size_t)g->uw * g->uh;
    void **bands = calloc((size_t)p->n_bands, sizeof *bands);
    uint8_t *mask = calloc(npix, 1);
    eem_status st = bands && mask ? EEM_OK : eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int b = 0; st == EEM_OK && b < p->n_bands; b++) {
        const size_t es = eem_dtype_size(p->band_types[b]);
        uint8_t nd[8];
        eem_dtype_convert(&p->band_nodata[b].value, EEM_DT_FLOAT64, nd, p->band_types[b], 1);
        if (!(bands[b] = malloc(npix * es)))
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        for (size_t i = 0; st == EEM_OK && i < npix; i++)
            memcpy((uint8_t *)bands[b] + i * es, nd, es);
    }
    eem_worklock_enter(p->lock);
    if (st == EEM_OK) {
        snprintf(p->last_failure, sizeof p->last_failure, "%s", msg);
        p->delivering_failed = 1;
        st = sink(sink_user, level, tx, ty, bands, mask, err);
        p->delivering_failed = 0;
    }
    eem_worklock_leave(p->lock);
    for (int b = 0; bands && b < p->n_bands; b++)
        free(bands[b]);
    free(bands);
    free(mask);
    return st;
}

/* Output masks only, from the source's validity: no request is sent.  Tiles
 * are taken in the same row chunks as eem_predictor_compute, one source
 * window per chunk; the sink gets bands NULL. */
static eem_status compute_masks(eem_predictor *p, int level, const int *tiles, int n_tiles,
                                eem_tile_sink sink, void *sink_user, eem_error *err);

eem_status eem_predictor_compute_masks(eem_predictor *p, int level, const int *tiles,
                                       int n_tiles, eem_tile_sink sink, void *sink_user,
                                       eem_error *err)
{
    eem_worklock_enter(p->lock); /* the source is read by one thread at a time */
    eem_status st = compute_masks(p, level, tiles, n_tiles, sink, sink_user, err);
    eem_worklock_leave(p->lock);
    return st;
}

static eem_status compute_masks(eem_predictor *p, int level, const int *tiles, int n_tiles,
                                eem_tile_sink sink, void *sink_user, eem_error *err)
{
    if (level < 0 || level >= p->n_levels)
        return eem_error_set(err, EEM_ERR_INVALID, "overview level %d does not exist", level);
    if (n_tiles <= 0)
        return EEM_OK;
    compute_state cs;
    memset(&cs, 0, sizeof cs);
    cs.p = p;
    cs.g = &p->grids[level];
    const eem_grid *g = cs.g;
    int *order = malloc((size_t)n_tiles * 2 * sizeof *order);
    uint8_t *mask = malloc((size_t)g->uw * g->uh);
    eem_status st = EEM_OK;
    if (!order || !mask)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    else {
        memcpy(order, tiles, (size_t)n_tiles * 2 * sizeof *order);
        eem_grid_sort_tiles(order, n_tiles);
    }
    size_t px_bytes = 1; /* the mask */
    for (int k = 0; k < p->src->n_keys; k++)
        px_bytes += (size_t)p->src->keys[k].n_bands * eem_dtype_size(p->src->keys[k].send_type);
    size_t tile_bytes = (size_t)(g->tw + 2 * g->ox) * (size_t)(g->th + 2 * g->oy) * px_bytes;
    for (int start = 0, end = 0; st == EEM_OK && start < n_tiles; start = end) {
        end = start + 1;
        while (end < n_tiles && order[2 * end + 1] == order[2 * start + 1] &&
               (size_t)(order[2 * end] - order[2 * start] + 1) * tile_bytes <= EEM_CHUNK_MAX_BYTES)
            end++;
        eem_rect first = eem_grid_tile_input_window(g, order[2 * start], order[2 * start + 1]);
        eem_rect last = eem_grid_tile_input_window(g, order[2 * (end - 1)], order[2 * start + 1]);
        eem_window *win = NULL;
        st = eem_source_read_window(p->src, g->level, first.x, first.y, last.x + last.w - first.x,
                                    first.h, &win, err);
        for (int k = start; st == EEM_OK && k < end; k++) {
            tile_output_mask(&cs, win, order[2 * k], order[2 * k + 1], mask);
            st = sink(sink_user, level, order[2 * k], order[2 * k + 1], NULL, mask, err);
        }
        eem_window_free(win);
    }
    free(mask);
    free(order);
    return st;
}
