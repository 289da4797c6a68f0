/* predictor.c — orchestration: tiles -> batches -> requests -> decoded output
 * tiles (see predictor.h).
 *
 * One compute call: tiles are taken row by row in chunks whose source window is
 * read once; each tile is sliced into its instance, encoded, and packed into
 * requests up to MAX_PAYLOAD_BYTES and the backend's instance cap.  Requests are
 * sent as soon as they are full, so encoding overlaps the network; answers are
 * decoded, trimmed, converted to the band types, masked and handed to the sink
 * as they arrive.  Memory is bounded by one chunk window plus the requests in
 * flight. */
#include "predictor.h"

#include "auth.h"
#include "buf.h"
#include "cache.h"
#include "http.h"
#include "metadata.h"
#include "payload.h"
#include "cost.h"
#include "str.h"

#include <cpl_conv.h>

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Largest source window (bytes of tensors) read at once for a chunk of tiles. */
#define EEM_CHUNK_MAX_BYTES (64L * 1024 * 1024)
/* Requests kept in flight or queued per connection before we stop encoding. */
#define EEM_REQUESTS_AHEAD_PER_CONNECTION 2
/* Bytes-per-pixel margin when suggesting a tile size that fits MAX_PAYLOAD_BYTES. */
#define EEM_PAYLOAD_FIT_MARGIN 1.03

struct eem_predictor {
    eem_spec *spec; /* owned copy of the caller's: metadata fills output lengths here */
    eem_source *src;
    eem_endpoint *ep;
    const eem_payload_ops *ops;
    eem_payload_context payload; /* what the payload format needs besides the spec */
    eem_grid *grids;
    int n_levels;
    int n_bands;
    eem_dtype *band_types;
    char **band_names;
    int *band_output;  /* output index of each band */
    int *band_channel; /* channel within that output */
    long max_predictions;
    eem_predictor_stats stats;
    char last_failure[EEM_ERROR_MSG_MAX]; /* message of the last tile masked by ON_ERROR=NODATA */
    int delivering_failed;                /* a sink call is delivering a failed tile */
    eem_instance_filter filter;           /* changes instances before encoding (probe), or NULL */
    void *filter_user;
    eem_cache *cache;     /* persistent prediction cache, NULL when not configured */
    char *cache_context;  /* backend identity + output layout, hashed into every key */
    size_t *cache_sizes;  /* bytes of one tile of each band: the parts of a cache entry */
    /* Static header lines (HEADERS, then EEMODEL_HEADERS), read once at open so
     * that every request sends what the cache key was made of. */
    char *header_text;          /* backing store of header_lines (secret) */
    size_t header_text_len;     /* its length before the split put NULs at commas */
    const char **header_lines;  /* NULL-terminated */
    int n_header_lines;
    char headers_digest[2 * EEM_CACHE_KEY_BYTES + 1]; /* hex SHA-256, "" when none */
};

/* ------------------------------------------------------------------ open -- */

static eem_status predictor_setup_bands(eem_predictor *p, eem_error *err)
{
    const eem_spec *spec = p->spec;
    for (int k = 0; k < spec->n_outputs; k++) {
        const eem_output *o = &spec->outputs[k];
        if (o->dims == 1 && o->length <= 0)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "OUTPUT_BANDS: output \"%s\" has dimensions 1 but no length, "
                                 "and the server publishes no model metadata giving it; "
                                 "write it as %s:%s:N (N bands) or %s:%s:name1/name2/...",
                                 o->name, o->name, eem_dtype_name(o->type), o->name,
                                 eem_dtype_name(o->type));
        if (o->dims > 1)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "OUTPUT_BANDS: output \"%s\" has dimensions %d; accepted: 0 "
                                 "(one band) or 1 (one band per channel)",
                                 o->name, o->dims);
    }
    int n = eem_spec_output_band_count(spec);
    if (n <= 0)
        return eem_error_set(err, EEM_ERR_INVALID, "OUTPUT_BANDS: declares no band");
    p->n_bands = n;
    p->band_types = calloc((size_t)n, sizeof *p->band_types);
    p->band_names = calloc((size_t)n, sizeof *p->band_names);
    p->band_output = calloc((size_t)n, sizeof *p->band_output);
    p->band_channel = calloc((size_t)n, sizeof *p->band_channel);
    if (!p->band_types || !p->band_names || !p->band_output || !p->band_channel)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int b = 0; b < n; b++) {
        char name[512];
        int oi = 0, ch = 0;
        const char *nm = eem_spec_output_band_name(spec, b, name, sizeof name, &oi, &ch);
        p->band_names[b] = eem_strdup(nm ? nm : "");
        if (!p->band_names[b])
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        p->band_output[b] = oi;
        p->band_channel[b] = ch;
        p->band_types[b] = spec->outputs[oi].type;
        /* GDAL has no half-float band type: such outputs are stored as float32 */
        if (p->band_types[b] == EEM_DT_FLOAT16 || p->band_types[b] == EEM_DT_BFLOAT16)
            p->band_types[b] = EEM_DT_FLOAT32;
    }
    return EEM_OK;
}

static eem_status predictor_setup_grids(eem_predictor *p, eem_error *err)
{
    const eem_spec *s = p->spec;
    eem_grid base;
    eem_status st = eem_grid_init(&base, p->src->width, p->src->height, p->src->gt, s->tile_w,
                                  s->tile_h, s->overlap_x, s->overlap_y, s->out_tile_w,
                                  s->out_tile_h, err);
    if (st != EEM_OK)
        return st;
    p->n_levels = 1 + eem_grid_overview_count(&base);
    p->grids = calloc((size_t)p->n_levels, sizeof *p->grids);
    if (!p->grids)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    p->grids[0] = base;
    for (int k = 1; k < p->n_levels; k++)
        eem_grid_overview(&base, k, &p->grids[k]);
    return EEM_OK;
}

/* Split the static header lists, HEADERS then EEMODEL_HEADERS ("Name: value,
 * Name: value"), into p->header_lines, once for the predictor's life.  A
 * comma starts a new header only when a "Name:" follows it; otherwise it
 * belongs to the previous header's value (same rule as spec.c).  The lists
 * take part in the cache key (a gateway may pick the model by header); their
 * values may be API keys, so only a SHA-256 digest of them is kept for it,
 * and none when there are no lists, which keeps the keys of such caches as
 * they were. */
static eem_status predictor_setup_headers(eem_predictor *p, eem_error *err)
{
    const char *lists[2] = {p->spec->headers, CPLGetConfigOption("EEMODEL_HEADERS", NULL)};
    if (!(lists[0] && *lists[0]) && !(lists[1] && *lists[1])) {
        p->header_lines = calloc(1, sizeof *p->header_lines);
        return p->header_lines ? EEM_OK : eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    eem_buf keyed = {0}, all = {0};
    for (int k = 0; k < 2; k++) {
        eem_buf_printf(&keyed, "%s\n", lists[k] ? lists[k] : "");
        if (lists[k] && *lists[k])
            eem_buf_printf(&all, "%s%s", all.len ? "," : "", lists[k]);
    }
    char *key_text = eem_buf_take(&keyed);
    p->header_text_len = all.len;
    p->header_text = eem_buf_take(&all);
    eem_cache_key digest;
    eem_status st = EEM_OK;
    if (!key_text || !p->header_text)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    if (st == EEM_OK)
        st = eem_cache_key_compute("eemodel-headers-1", key_text, strlen(key_text), &digest, err);
    eem_secret_free(key_text);
    if (st != EEM_OK)
        return st;
    for (size_t i = 0; i < sizeof digest.bytes; i++)
        snprintf(p->headers_digest + 2 * i, 3, "%02x", digest.bytes[i]);
    size_t n = 1;
    for (const char *c = p->header_text; *c; c++)
        n += *c == ',';
    p->header_lines = calloc(n + 1, sizeof *p->header_lines);
    if (!p->header_lines)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    char *s = p->header_text;
    char *start = s;
    while (s && *s) {
        char *comma = strchr(s, ',');
        char *next = comma ? comma + 1 : NULL;
        if (next) {
            const char *q = next;
            while (*q == ' ' || *q == '\t')
                q++;
            const char *name = q;
            while (*q && (isalnum((unsigned char)*q) || *q == '-' || *q == '_'))
                q++;
            if (q == name || *q != ':') {
                s = next; /* part of the current value */
                continue;
            }
            *comma = '\0';
        }
        while (*start == ' ' || *start == '\t')
            start++;
        if (*start && strchr(start, ':'))
            p->header_lines[p->n_header_lines++] = start;
        start = next;
        s = next;
    }
    return EEM_OK;
}

/* The persistent cache (CACHE_DIR / EEMODEL_CACHE_DIR) and the text hashed
 * into its keys with each encoded instance: the backend identity (URL, model
 * version, payload format, outputs) and what shapes a cached value (tile
 * geometry, band types).  A cached value is a tile's band buffers before
 * masking: the mask is recomputed from the source, as masked and zero-valued
 * input pixels encode alike. */
static eem_status predictor_open_cache(eem_predictor *p, eem_error *err)
{
    eem_status st = eem_cache_open_configured(p->spec->cache_dir, &p->cache, err);
    if (st != EEM_OK || !p->cache)
        return st;
    const eem_grid *g = &p->grids[0];
    eem_buf ctx = {0};
    eem_buf_printf(&ctx, "eemodel-cache-1|%s|in=%d,%d+%d,%d|out=%d,%d|bands=", p->ep->identity,
                   g->tw, g->th, g->ox, g->oy, g->uw, g->uh);
    for (int b = 0; b < p->n_bands; b++)
        eem_buf_printf(&ctx, "%s,", eem_dtype_name(p->band_types[b]));
    if (p->headers_digest[0])
        eem_buf_printf(&ctx, "|headers=%s", p->headers_digest);
    p->cache_context = eem_buf_take(&ctx);
    p->cache_sizes = calloc((size_t)p->n_bands, sizeof *p->cache_sizes);
    if (!p->cache_context || !p->cache_sizes)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int b = 0; b < p->n_bands; b++)
        p->cache_sizes[b] = (size_t)g->uw * g->uh * eem_dtype_size(p->band_types[b]);
    return EEM_OK;
}

static long configured_max_predictions(const eem_spec *s)
{
    if (s->max_predictions > 0)
        return s->max_predictions;
    const char *v = CPLGetConfigOption("EEMODEL_MAX_PREDICTIONS", NULL);
    if (v) {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (end && *end == '\0' && n > 0)
            return n;
    }
    return EEM_DEFAULT_MAX_PREDICTIONS;
}

static eem_status predictor_check_model(eem_predictor *p, eem_error *err);

eem_status eem_predictor_open(const eem_spec *spec, eem_predictor **out, eem_error *err)
{
    *out = NULL;
    eem_predictor *p = calloc(1, sizeof *p);
    if (!p)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_status st = eem_spec_clone(spec, &p->spec, err);
    if (st == EEM_OK) {
        spec = p->spec; /* from here on, only our own copy is read or written */
        st = predictor_setup_headers(p, err);
    }
    if (st == EEM_OK)
        st = eem_source_open(spec, &p->src, err);
    if (st == EEM_OK)
        st = eem_endpoint_resolve(spec, &p->ep, err);
    if (st == EEM_OK) {
        p->ops = eem_payload_ops_for(p->ep->payload_format);
        if (!p->ops)
            st = eem_error_set(err, EEM_ERR_INVALID,
                               "PAYLOAD_FORMAT: \"%s\" is not supported; accepted: "
                               "SERIALIZED_TF_TENSORS, RAW_JSON, ND_ARRAYS, OIP_V2",
                               eem_payload_format_name(p->ep->payload_format));
        p->payload.spec = spec;
        p->payload.protocol = p->ep->protocol;
        p->payload.columnar = spec->columnar;
        p->payload.signature_name = spec->signature_name;
    }
    if (st == EEM_OK) {
        /* Fail at open, not at the first read, when credentials are missing. */
        char *header = NULL;
        st = eem_auth_header_for(p->ep, &header, err);
        eem_secret_free(header);
    }
    if (st == EEM_OK)
        st = predictor_check_model(p, err);
    if (st == EEM_OK)
        st = predictor_setup_bands(p, err);
    if (st == EEM_OK)
        st = predictor_setup_grids(p, err);
    if (st == EEM_OK)
        st = predictor_open_cache(p, err);
    if (st != EEM_OK) {
        eem_predictor_close(p);
        return st;
    }
    p->max_predictions = configured_max_predictions(spec);
    *out = p;
    return EEM_OK;
}

void eem_predictor_close(eem_predictor *p)
{
    if (!p)
        return;
    eem_source_close(p->src);
    eem_endpoint_free(p->ep);
    eem_cache_close(p->cache);
    free(p->cache_context);
    free(p->cache_sizes);
    free(p->grids);
    if (p->band_names)
        for (int b = 0; b < p->n_bands; b++)
            free(p->band_names[b]);
    free(p->band_names);
    free(p->band_types);
    free(p->band_output);
    free(p->band_channel);
    /* undo the split so that the whole text is wiped, not its first line */
    for (size_t i = 0; p->header_text && i < p->header_text_len; i++)
        if (!p->header_text[i])
            p->header_text[i] = ',';
    eem_secret_free(p->header_text);
    free(p->header_lines);
    eem_spec_free(p->spec);
    free(p);
}

const eem_spec *eem_predictor_spec(const eem_predictor *p) { return p->spec; }
const eem_source *eem_predictor_source(const eem_predictor *p) { return p->src; }
const eem_endpoint *eem_predictor_endpoint(const eem_predictor *p) { return p->ep; }
int eem_predictor_level_count(const eem_predictor *p) { return p->n_levels; }
int eem_predictor_band_count(const eem_predictor *p) { return p->n_bands; }
eem_dtype eem_predictor_band_type(const eem_predictor *p, int band) { return p->band_types[band]; }
const char *eem_predictor_band_name(const eem_predictor *p, int band) { return p->band_names[band]; }
long eem_predictor_max_predictions(const eem_predictor *p) { return p->max_predictions; }

const eem_grid *eem_predictor_grid(const eem_predictor *p, int level)
{
    if (level < 0 || level >= p->n_levels)
        return NULL;
    return &p->grids[level];
}

void eem_predictor_get_stats(const eem_predictor *p, eem_predictor_stats *st)
{
    *st = p->stats;
}

const eem_payload_context *eem_predictor_payload_context(const eem_predictor *p)
{
    return &p->payload;
}

const char *eem_predictor_last_failure(const eem_predictor *p)
{
    return p->last_failure;
}

int eem_predictor_tile_failed(const eem_predictor *p)
{
    return p->delivering_failed;
}

void eem_predictor_set_instance_filter(eem_predictor *p, eem_instance_filter filter, void *user)
{
    p->filter = filter;
    p->filter_user = user;
}

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
    const char **own_headers; /* request headers: shared lines + the body's own */
    char body_headers[2][96]; /* Content-Type and Inference-Header-Content-Length */
    pending_tile *tiles;
    int n_tiles, cap_tiles;
    int auth_generation; /* credentials it was sent with (compute_state.auth_generation) */
    int auth_retried;    /* already re-sent once after HTTP 401 */
} pending_request;

/* Credentials and header lines replaced during a compute call: requests
 * already queued still point at them, so they live until the call ends. */
typedef struct retired_headers {
    eem_auth_lines auth;
    const char **headers;
    struct retired_headers *next;
} retired_headers;

/* Everything one compute call owns; released by compute_state_free(). */
typedef struct compute_state {
    eem_predictor *p;
    const eem_grid *g;
    eem_tile_sink sink;
    void *sink_user;
    eem_http_multi *multi;
    const char **headers; /* NULL-terminated; credential lines, then p->header_lines */
    eem_auth_lines auth;  /* credentials (auth.h); replaced by compute_auth_renew() */
    int auth_generation;  /* incremented at every renewal */
    retired_headers *retired;
    pending_request *building;
    pending_request **flying; /* submitted, not yet drained (owned) */
    int in_flight, cap_flying;
    int max_ahead;
    long max_payload;
    int max_instances;
    void **band_bufs;     /* n_bands buffers of uw*uh elements */
    uint8_t *nodata_bytes;/* one element per band, band type, the masked value */
    size_t max_elements;  /* largest element count of one decoded output tensor */
    eem_cache_key next_key; /* cache key of the tile being queued (compute_cache_lookup) */
    int next_has_key;
    int pw, ph, has_padded;
} compute_state;

static void pending_request_free(pending_request *r)
{
    if (!r)
        return;
    eem_http_request_clear(&r->http);
    eem_buf_free(&r->body);
    eem_payload_batch_free(r->batch);
    free(r->own_headers);
    for (int k = 0; k < r->n_tiles; k++)
        free(r->tiles[k].mask);
    free(r->tiles);
    free(r);
}

/* Point r at the shared header lines plus its body's own (a binary OIP body
 * says its Content-Type and the length of its JSON header). */
static eem_status request_set_headers(const compute_state *cs, pending_request *r, eem_error *err)
{
    free(r->own_headers);
    r->own_headers = NULL;
    r->http.headers = cs->headers;
    if (!r->body_headers[0][0])
        return EEM_OK;
    size_t n = 0;
    while (cs->headers && cs->headers[n])
        n++;
    r->own_headers = calloc(n + 3, sizeof *r->own_headers);
    if (!r->own_headers)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    size_t i = 0;
    for (size_t k = 0; k < n; k++)
        r->own_headers[i++] = cs->headers[k];
    for (int k = 0; k < 2; k++)
        if (r->body_headers[k][0])
            r->own_headers[i++] = r->body_headers[k];
    r->http.headers = r->own_headers;
    return EEM_OK;
}

static void compute_auth_free(compute_state *cs);

static void compute_state_free(compute_state *cs)
{
    /* Requests still in flight are abandoned with the multi handle first. */
    eem_http_multi_free(cs->multi);
    for (int k = 0; k < cs->in_flight; k++)
        pending_request_free(cs->flying[k]);
    free(cs->flying);
    pending_request_free(cs->building);
    compute_auth_free(cs);
    free(cs->headers);
    if (cs->band_bufs)
        for (int b = 0; b < cs->p->n_bands; b++)
            free(cs->band_bufs[b]);
    free(cs->band_bufs);
    free(cs->nodata_bytes);
}

/* The header lines of the next requests: the credential lines of cs->auth,
 * then the predictor's static ones. */
static eem_status compute_build_headers(compute_state *cs, eem_error *err)
{
    const eem_predictor *p = cs->p;
    cs->headers = calloc((size_t)p->n_header_lines + 3, sizeof *cs->headers);
    if (!cs->headers)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    size_t i = 0;
    if (cs->auth.authorization)
        cs->headers[i++] = cs->auth.authorization;
    if (cs->auth.user_project)
        cs->headers[i++] = cs->auth.user_project;
    for (int k = 0; k < p->n_header_lines; k++)
        cs->headers[i++] = p->header_lines[k];
    return EEM_OK;
}

static eem_status compute_state_init(compute_state *cs, eem_predictor *p, int level,
                                     eem_error *err)
{
    memset(cs, 0, sizeof *cs);
    cs->p = p;
    cs->g = &p->grids[level];
    eem_http_options opts;
    eem_http_options_from_config(&opts);
    cs->max_ahead = opts.max_connections * EEM_REQUESTS_AHEAD_PER_CONNECTION;
    if (cs->max_ahead < 1)
        cs->max_ahead = 1;
    cs->max_payload = p->ep->max_payload_bytes > 0 ? p->ep->max_payload_bytes
                                                   : EEM_DEFAULT_MAX_PAYLOAD_BYTES;
    cs->max_instances = p->ep->max_instances;
    eem_status st = eem_auth_lines_for(p->ep, &cs->auth, err);
    if (st != EEM_OK)
        return st;
    st = compute_build_headers(cs, err);
    if (st == EEM_OK)
        st = eem_auth_check_header_transport(p->ep->predict_url, cs->headers, err);
    if (st != EEM_OK)
        return st;
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
        double nd = p->spec->has_nodata ? p->spec->nodata : 0.0;
        eem_dtype_convert(&nd, EEM_DT_FLOAT64, cs->nodata_bytes + 8 * b, p->band_types[b], 1);
    }
    cs->has_padded = eem_grid_padded_output_size(g, &cs->pw, &cs->ph) == 0;
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
    int cx = in.x + g->ox - win->x, cy = in.y + g->oy - win->y; /* core origin in the window */
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

/* Copy the input window of tile (tx,ty) out of the chunk window. */
static eem_status tile_slice_instance(const compute_state *cs, const eem_window *win, int tx,
                                      int ty, eem_tensor **tensors, eem_error *err)
{
    eem_rect r = eem_grid_tile_input_window(cs->g, tx, ty);
    int ox = r.x - win->x, oy = r.y - win->y;
    for (int k = 0; k < win->n_keys; k++) {
        const eem_tensor *src = win->keys[k];
        int64_t dims[3] = {r.h, r.w, src->dims[2]};
        tensors[k] = eem_tensor_new(src->type, 3, dims);
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

static eem_status compute_deliver(compute_state *cs, int tx, int ty, const uint8_t *mask,
                                  eem_error *err)
{
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
    if (!eem_cache_get(p->cache, &cs->next_key, cs->band_bufs, p->cache_sizes, p->n_bands))
        return EEM_OK;
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
}

static void shape_text(const eem_tensor *t, char *buf, size_t n)
{
    size_t off = 0;
    off += (size_t)snprintf(buf + off, n - off, "[");
    for (int d = 0; d < t->ndim && off < n; d++)
        off += (size_t)snprintf(buf + off, n - off, "%s%lld", d ? "," : "", (long long)t->dims[d]);
    if (off < n)
        snprintf(buf + off, n - off, "]");
}

/* Check one decoded output against the shapes section 3 accepts and write its
 * channels into the band buffers (trimmed to the output tile). */
static eem_status tile_store_output(compute_state *cs, int tx, int ty, int oi, const eem_tensor *t,
                                    eem_error *err)
{
    const eem_predictor *p = cs->p;
    const eem_output *o = &p->spec->outputs[oi];
    const eem_grid *g = cs->g;
    int L = o->dims == 1 ? o->length : 1;
    int64_t d[EEM_TENSOR_MAX_DIMS];
    int nd = t->ndim;
    memcpy(d, t->dims, sizeof d);
    /* a leading batch dimension of 1 is tolerated: (1,H,W,C), and (1,H,W) for a
     * single-channel output when (H,W,C) does not fit */
    if ((nd == 4 && d[0] == 1) ||
        (nd == 3 && d[0] == 1 && L == 1 && d[2] != 1 &&
         (d[1] == g->uh || (cs->has_padded && d[1] == cs->ph)))) {
        memmove(d, d + 1, 3 * sizeof *d);
        nd--;
    }
    int64_t h = -1, w = -1, c = -1;
    if (nd == 3) {
        h = d[0];
        w = d[1];
        c = d[2];
    } else if (nd == 2 && L == 1) {
        h = d[0];
        w = d[1];
        c = 1;
    } else if (g->uw == 1 && g->uh == 1 && nd <= 1) {
        /* a patch classifier may answer a bare vector / scalar */
        h = w = 1;
        c = nd == 1 ? d[0] : 1;
    }
    int off_x = 0, off_y = 0, shape_ok = 0;
    if (c == L && h == g->uh && w == g->uw)
        shape_ok = 1;
    else if (c == L && cs->has_padded && h == cs->ph && w == cs->pw) {
        shape_ok = 1;
        off_x = (cs->pw - g->uw) / 2;
        off_y = (cs->ph - g->uh) / 2;
        cs->p->stats.answers_padded += (cs->pw != g->uw || cs->ph != g->uh) && oi == 0;
    }
    if (!shape_ok) {
        char got[160];
        shape_text(t, got, sizeof got);
        if (cs->has_padded && (cs->pw != g->uw || cs->ph != g->uh))
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "output \"%s\" of tile (%d,%d): the model answered shape %s; "
                                 "expected [%d,%d,%d] (output tile) or [%d,%d,%d] (output tile "
                                 "padded by the overlap)",
                                 o->name, tx, ty, got, g->uh, g->uw, L, cs->ph, cs->pw, L);
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "output \"%s\" of tile (%d,%d): the model answered shape %s; "
                             "expected [%d,%d,%d] (output tile)",
                             o->name, tx, ty, got, g->uh, g->uw, L);
    }
    size_t es = eem_dtype_size(t->type);
    const uint8_t *base = t->data;
    for (int b = 0; b < p->n_bands; b++) {
        if (p->band_output[b] != oi)
            continue;
        int ch = p->band_channel[b];
        eem_dtype bt = p->band_types[b];
        size_t bes = eem_dtype_size(bt);
        uint8_t *dst = cs->band_bufs[b];
        for (int y = 0; y < g->uh; y++) {
            const uint8_t *row = base + (((size_t)(y + off_y) * (size_t)w + (size_t)off_x) *
                                         (size_t)L + (size_t)ch) * es;
            uint8_t *drow = dst + (size_t)y * g->uw * bes;
            if (L == 1) {
                eem_dtype_convert(row, t->type, drow, bt, (size_t)g->uw);
            } else {
                for (int x = 0; x < g->uw; x++)
                    eem_dtype_convert(row + (size_t)x * L * es, t->type, drow + (size_t)x * bes,
                                      bt, 1);
            }
        }
    }
    return EEM_OK;
}

static eem_status compute_use_answer(compute_state *cs, pending_request *r, eem_error *err)
{
    eem_predictor *p = cs->p;
    if (!r->http.ok) {
        char what[1024];
        eem_http_describe_failure(&r->http, what, sizeof what);
        return eem_error_set(err, EEM_ERR_HTTP, "prediction request for %d tile(s) failed: %s",
                             r->n_tiles, what);
    }
    int no = p->spec->n_outputs;
    eem_tensor **outs = calloc((size_t)r->n_tiles * (size_t)no, sizeof *outs);
    if (!outs)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_status st = p->ops->decode_response(&p->payload, r->http.response, r->http.response_len,
                                            r->n_tiles, cs->max_elements, outs, err);
    if (st != EEM_OK) {
        eem_error_prefix(err, "answer from %s", p->ep->display_url);
        if (strstr(err->msg, "element")) {
            /* say what was expected, not only that it was too large */
            size_t len = strlen(err->msg);
            const eem_grid *g = cs->g;
            if (cs->has_padded && (cs->pw != g->uw || cs->ph != g->uh))
                snprintf(err->msg + len, sizeof err->msg - len,
                         "; each output must be [%d,%d,C] (output tile) or [%d,%d,C] (output "
                         "tile padded by the overlap)",
                         g->uh, g->uw, cs->ph, cs->pw);
            else
                snprintf(err->msg + len, sizeof err->msg - len,
                         "; each output must be [%d,%d,C] (output tile)", g->uh, g->uw);
        }
    }
    for (int i = 0; st == EEM_OK && i < r->n_tiles; i++) {
        pending_tile *t = &r->tiles[i];
        for (int k = 0; st == EEM_OK && k < no; k++)
            st = tile_store_output(cs, t->tx, t->ty, k, outs[(size_t)i * no + k], err);
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

/* Use an answer; with ON_ERROR=NODATA a failed request masks its tiles. */
static eem_status compute_finish_request(compute_state *cs, pending_request *r, eem_error *err)
{
    eem_predictor *p = cs->p;
    p->stats.requests++;
    long delivered = p->stats.tiles_predicted;
    eem_status st = compute_use_answer(cs, r, err);
    if (st == EEM_OK || p->spec->on_error != EEM_ON_ERROR_NODATA || st == EEM_ERR_CANCELLED ||
        st == EEM_ERR_NOMEM)
        return st;
    snprintf(p->last_failure, sizeof p->last_failure, "%s", err->msg);
    /* tiles of this request not delivered yet are masked */
    int first = (int)(p->stats.tiles_predicted - delivered);
    eem_error_clear(err);
    for (int i = first; i < r->n_tiles; i++) {
        uint8_t *mask = r->tiles[i].mask;
        memset(mask, 0, (size_t)cs->g->uw * cs->g->uh);
        apply_mask(cs, NULL);
        p->delivering_failed = 1;
        st = compute_deliver(cs, r->tiles[i].tx, r->tiles[i].ty, mask, err);
        p->delivering_failed = 0;
        if (st != EEM_OK)
            return st;
        p->stats.tiles_failed++;
    }
    return EEM_OK;
}

/* ------------------------------------------------ credentials in flight -- */

static void compute_auth_free(compute_state *cs)
{
    eem_auth_lines_clear(&cs->auth);
    while (cs->retired) {
        retired_headers *old = cs->retired;
        cs->retired = old->next;
        eem_auth_lines_clear(&old->auth);
        free(old->headers);
        free(old);
    }
}

/* Ask auth for the current credentials (a token refreshed ahead of expiry, or
 * a new one after a 401) and rebuild the header lines of the next requests. */
static eem_status compute_auth_renew(compute_state *cs, eem_error *err)
{
    retired_headers *old = calloc(1, sizeof *old);
    if (!old)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    old->auth = cs->auth;
    old->headers = cs->headers;
    old->next = cs->retired;
    cs->retired = old;
    memset(&cs->auth, 0, sizeof cs->auth);
    cs->headers = NULL;
    cs->auth_generation++;
    eem_status st = eem_auth_lines_for(cs->p->ep, &cs->auth, err);
    if (st == EEM_OK)
        st = compute_build_headers(cs, err);
    if (st != EEM_OK)
        eem_error_prefix(err, "renewing the credentials for %s", cs->p->ep->display_url);
    return st;
}

/* HTTP 401: the token was refused.  The first time for a request, the token it
 * carried is dropped from the process-wide cache (once, however many requests
 * carried it), a new one is obtained and the request is sent again. */
static eem_status compute_retry_unauthorized(compute_state *cs, pending_request *r, int *resent,
                                             eem_error *err)
{
    *resent = 0;
    if (r->http.status != 401 || r->auth_retried || !cs->auth.authorization)
        return EEM_OK;
    if (r->auth_generation == cs->auth_generation) {
        if (!eem_auth_invalidate(&cs->auth))
            return EEM_OK; /* a fixed token: sending it again cannot help */
        eem_status st = compute_auth_renew(cs, err);
        if (st != EEM_OK)
            return st;
    }
    eem_http_request_clear(&r->http);
    eem_status st = request_set_headers(cs, r, err);
    if (st != EEM_OK)
        return st;
    r->auth_generation = cs->auth_generation;
    r->auth_retried = 1;
    st = eem_http_multi_add(cs->multi, &r->http, err);
    if (st == EEM_OK)
        *resent = 1;
    return st;
}

/* Say whose credentials were refused, and whether a new token was tried. */
static void compute_explain_unauthorized(compute_state *cs, const pending_request *r,
                                         eem_error *err)
{
    size_t len = strlen(err->msg);
    snprintf(err->msg + len, sizeof err->msg - len,
             r->auth_retried ? "; the credentials from %s were refused, also after one refresh"
                             : "; the credentials from %s were refused",
             cs->auth.origin);
}

/* Wait for one request to finish and use its answer. */
static eem_status compute_drain_one(compute_state *cs, int (*cancel)(void *), void *cancel_user,
                                    eem_error *err)
{
    eem_http_request *done = NULL;
    eem_status st = eem_http_multi_next(cs->multi, &done, cancel, cancel_user, err);
    if (st != EEM_OK || !done)
        return st;
    pending_request *r = done->user;
    int resent = 0;
    st = compute_retry_unauthorized(cs, r, &resent, err);
    if (st == EEM_OK && resent)
        return EEM_OK; /* in flight again, still listed in cs->flying */
    for (int k = 0; k < cs->in_flight; k++) {
        if (cs->flying[k] == r) {
            cs->flying[k] = cs->flying[--cs->in_flight];
            break;
        }
    }
    if (st == EEM_OK)
        st = compute_finish_request(cs, r, err);
    if (st != EEM_OK && r->http.status == 401 && cs->auth.authorization)
        compute_explain_unauthorized(cs, r, err);
    pending_request_free(r);
    return st;
}

static eem_status compute_submit(compute_state *cs, eem_error *err)
{
    pending_request *r = cs->building;
    if (!r)
        return EEM_OK;
    cs->building = NULL;
    size_t binary_header_len = 0;
    eem_status st = eem_payload_batch_build(r->batch, &r->body, &binary_header_len, err);
    if (st == EEM_OK && binary_header_len > 0) {
        snprintf(r->body_headers[0], sizeof r->body_headers[0], "Content-Type: %s",
                 eem_payload_content_type(cs->p->ops, &cs->p->payload));
        snprintf(r->body_headers[1], sizeof r->body_headers[1],
                 "Inference-Header-Content-Length: %zu", binary_header_len);
    }
    eem_payload_batch_free(r->batch);
    r->batch = NULL;
    if (st != EEM_OK) {
        pending_request_free(r);
        return st;
    }
    r->http.url = cs->p->ep->predict_url;
    r->http.body = r->body.data;
    r->http.body_len = r->body.len;
    if (cs->auth.refresh_at > 0 && eem_auth_clock() >= cs->auth.refresh_at &&
        (st = compute_auth_renew(cs, err)) != EEM_OK) {
        pending_request_free(r);
        return st;
    }
    if ((st = request_set_headers(cs, r, err)) != EEM_OK) {
        pending_request_free(r);
        return st;
    }
    r->auth_generation = cs->auth_generation;
    r->http.user = r;
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

eem_status eem_predictor_payload_limit_error(const eem_predictor *p, size_t data_len,
                                            size_t single, eem_error *err)
{
    const eem_grid *g = &p->grids[0];
    long max_payload = p->ep->max_payload_bytes > 0 ? p->ep->max_payload_bytes
                                                    : EEM_DEFAULT_MAX_PAYLOAD_BYTES;
    size_t overhead = single > data_len ? single - data_len : 0;
    /* JSON numbers vary in length: keep a margin so the suggestion really fits */
    double per_px = EEM_PAYLOAD_FIT_MARGIN * (double)data_len /
                    ((double)(g->tw + 2 * g->ox) * (g->th + 2 * g->oy));
    double avail = (double)max_payload - (double)overhead;
    double fit = avail > 0 && per_px > 0 ? sqrt(avail / per_px) : 0;
    int side = (int)fit - 2 * (g->ox > g->oy ? g->ox : g->oy);
    if (side < 1)
        return eem_error_set(err, EEM_ERR_LIMIT,
                             "MAX_PAYLOAD_BYTES: one tile encodes to a %zu-byte %s body, more than "
                             "the limit of %ld; reduce INPUT_OVERLAP_SIZE or raise "
                             "MAX_PAYLOAD_BYTES to at least %zu",
                             single, p->ops->name, max_payload, single);
    return eem_error_set(err, EEM_ERR_LIMIT,
                         "MAX_PAYLOAD_BYTES: one tile encodes to a %zu-byte %s body, more than "
                         "the limit of %ld; an INPUT_TILE_SIZE of at most %d,%d (same overlap) "
                         "fits, or raise MAX_PAYLOAD_BYTES to at least %zu",
                         single, p->ops->name, max_payload, side, side, single);
}

/* Error for a tile whose body alone exceeds MAX_PAYLOAD_BYTES. */
static eem_status payload_limit_error(const compute_state *cs, const eem_payload_fragment *frag,
                                      size_t single, eem_error *err)
{
    return eem_predictor_payload_limit_error(cs->p, frag->data.len, single, err);
}

static eem_status compute_add_instance(compute_state *cs, int tx, int ty,
                                       const eem_instance *inst,
                                       const eem_payload_fragment *frag, uint8_t *mask_taken,
                                       int (*cancel)(void *), void *cancel_user, eem_error *err)
{
    eem_status st = EEM_OK;
    pending_request *r = cs->building;
    /* the exact size of the body with this instance added, as it will be sent */
    if (r && (eem_payload_batch_size_with(r->batch, inst, frag) > (size_t)cs->max_payload ||
              (cs->max_instances > 0 && r->n_tiles >= cs->max_instances))) {
        st = compute_submit(cs, err);
        r = NULL;
        while (st == EEM_OK && cs->in_flight >= cs->max_ahead)
            st = compute_drain_one(cs, cancel, cancel_user, err);
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
        r->batch = eem_payload_batch_new(cs->p->ops, &cs->p->payload);
        if (!r->batch)
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        size_t single = st == EEM_OK ? eem_payload_batch_size_with(r->batch, inst, frag) : 0;
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
    return EEM_OK;
}

/* Encode and queue every tile of one chunk (tiles sharing a source window). */
static eem_status compute_chunk(compute_state *cs, const int *tiles, int n, int (*cancel)(void *),
                                void *cancel_user, eem_error *err)
{
    const eem_grid *g = cs->g;
    const eem_source *src = cs->p->src;
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
    size_t npix = (size_t)g->uw * g->uh;
    eem_tensor **tensors = calloc((size_t)win->n_keys, sizeof *tensors);
    const char **keys = calloc((size_t)win->n_keys, sizeof *keys);
    eem_payload_fragment frag = {0};
    if (!tensors || !keys)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int k = 0; st == EEM_OK && k < win->n_keys; k++)
        keys[k] = src->keys[k].key;
    for (int k = 0; st == EEM_OK && k < n; k++) {
        int tx = tiles[2 * k], ty = tiles[2 * k + 1];
        uint8_t *mask = malloc(npix);
        if (!mask) {
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
            break;
        }
        if (tile_output_mask(cs, win, tx, ty, mask) == 0) {
            /* nothing valid under this tile: never sent, delivered masked */
            apply_mask(cs, NULL);
            st = compute_deliver(cs, tx, ty, mask, err);
            cs->p->stats.tiles_skipped++;
            free(mask);
            continue;
        }
        eem_instance inst = {win->n_keys, keys, (const eem_tensor *const *)tensors};
        st = tile_slice_instance(cs, win, tx, ty, tensors, err);
        if (st == EEM_OK && cs->p->filter)
            st = cs->p->filter(cs->p->filter_user, tx, ty, tensors, win->n_keys, err);
        if (st == EEM_OK)
            st = eem_payload_encode(cs->p->ops, &cs->p->payload, &inst, &frag, err);
        int cached = 0;
        if (st == EEM_OK)
            st = compute_cache_lookup(cs, tx, ty, frag.data.data, frag.data.len, mask, &cached,
                                      err);
        if (st == EEM_OK && !cached)
            st = compute_add_instance(cs, tx, ty, &inst, &frag, mask, cancel, cancel_user, err);
        else
            free(mask);
        for (int i = 0; i < win->n_keys; i++) {
            eem_tensor_free(tensors[i]);
            tensors[i] = NULL;
        }
        if (st == EEM_OK && cancel && cancel(cancel_user))
            st = eem_error_set(err, EEM_ERR_CANCELLED, "interrupted by the caller");
    }
    eem_payload_fragment_free(&frag);
    free(tensors);
    free(keys);
    eem_window_free(win);
    return st;
}

static int compare_tiles(const void *a, const void *b)
{
    const int *ta = a, *tb = b;
    if (ta[1] != tb[1])
        return ta[1] < tb[1] ? -1 : 1;
    return ta[0] < tb[0] ? -1 : ta[0] > tb[0];
}

eem_status eem_predictor_compute(eem_predictor *p, int level, const int *tiles, int n_tiles,
                                 eem_tile_sink sink, void *sink_user, int (*cancel)(void *),
                                 void *cancel_user, eem_error *err)
{
    return eem_predictor_compute_shifted(p, level, 0, 0, tiles, n_tiles, sink, sink_user, cancel,
                                         cancel_user, err);
}

eem_status eem_predictor_compute_shifted(eem_predictor *p, int level, int shift_x, int shift_y,
                                         const int *tiles, int n_tiles, eem_tile_sink sink,
                                         void *sink_user, int (*cancel)(void *),
                                         void *cancel_user, eem_error *err)
{
    if (level < 0 || level >= p->n_levels)
        return eem_error_set(err, EEM_ERR_INVALID, "overview level %d does not exist", level);
    eem_grid shifted = p->grids[level];
    shifted.shift_x = shift_x;
    shifted.shift_y = shift_y;
    if (n_tiles <= 0)
        return EEM_OK;
    if (n_tiles > p->max_predictions)
        return eem_cost_check(p, n_tiles, "this read", err);
    int *order = malloc((size_t)n_tiles * 2 * sizeof *order);
    if (!order)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    memcpy(order, tiles, (size_t)n_tiles * 2 * sizeof *order);
    qsort(order, (size_t)n_tiles, 2 * sizeof *order, compare_tiles);

    compute_state cs;
    eem_status st = compute_state_init(&cs, p, level, err);
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
        st = compute_chunk(&cs, order + 2 * start, end - start, cancel, cancel_user, err);
        start = end;
    }
    if (st == EEM_OK)
        st = compute_submit(&cs, err);
    while (st == EEM_OK && cs.in_flight > 0)
        st = compute_drain_one(&cs, cancel, cancel_user, err);
    compute_state_free(&cs);
    free(order);
    return st;
}

/* Output masks only, from the source's validity: no request is sent.  Tiles
 * are taken in the same row chunks as eem_predictor_compute, one source
 * window per chunk; the sink gets bands NULL. */
eem_status eem_predictor_compute_masks(eem_predictor *p, int level, const int *tiles,
                                       int n_tiles, eem_tile_sink sink, void *sink_user,
                                       eem_error *err)
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
        qsort(order, (size_t)n_tiles, 2 * sizeof *order, compare_tiles);
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

/* ---------------------------------------------------- the model at open -- */

/* What the server publishes about the model (TF Serving / KServe v2
 * metadata), checked against the descriptor — undeclared output lengths are
 * filled into the predictor's own copy of the spec, never the caller's —
 * and the payload options that follow: Triton's binary tensor extension
 * (EEMODEL_OIP_BINARY=AUTO|YES|NO) and the element types the format carries. */
static int config_says_yes(const char *v)
{
    return EQUAL(v, "YES") || EQUAL(v, "TRUE") || EQUAL(v, "ON") || EQUAL(v, "1");
}

static eem_status predictor_check_model(eem_predictor *p, eem_error *err)
{
    eem_status st = EEM_OK;
    int binary_available = 0;
    const char *check = CPLGetConfigOption("EEMODEL_CHECK_METADATA", "YES");
    if ((p->ep->metadata_url || p->ep->server_metadata_url) && config_says_yes(check)) {
        compute_state cs;
        memset(&cs, 0, sizeof cs);
        cs.p = p;
        st = eem_auth_lines_for(p->ep, &cs.auth, err);
        if (st == EEM_OK)
            st = compute_build_headers(&cs, err);
        if (st == EEM_OK)
            st = eem_metadata_check_at_open(p->spec, p->src, p->ep, cs.headers,
                                            &binary_available, err);
        compute_auth_free(&cs);
        free(cs.headers);
    }
    if (st != EEM_OK)
        return st;
    if (p->ep->payload_format == EEM_PAYLOAD_OIP_V2) {
        const char *bin = CPLGetConfigOption("EEMODEL_OIP_BINARY", "AUTO");
        p->payload.binary = EQUAL(bin, "AUTO") ? binary_available : config_says_yes(bin);
    }
    for (int k = 0; st == EEM_OK && k < p->src->n_keys; k++)
        st = eem_payload_check_input_type(p->ops, &p->payload, p->src->keys[k].key,
                                          p->src->keys[k].send_type, err);
    return st;
}
