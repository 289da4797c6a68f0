/* predictor.c — the predictor of one opened dataset (see predictor.h): opens
 * its source, endpoint, payload format, grids, bands and caches, checks the
 * model at open, and answers what it is; the compute loop that predicts tiles
 * is compute.c, over the state in predictor_int.h. */
#include "predictor_int.h"

#include "answered_memo.h"
#include "auth.h"
#include "backend.h"
#include "cache_context.h"
#include "cache_lease.h"
#include "job_budget.h"
#include "grpc_call.h"
#include "http.h"
#include "http_config.h"
#include "metadata.h"
#include "oip_binary.h"
#include "config_values.h"
#include "cost_guard.h"
#include "str.h"
#include "tileoutput.h"

#include <cpl_conv.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    return eem_nodata_resolve_bands(spec->nodata_text, p->band_types,
                                    (const char *const *)p->band_names, n, &p->band_nodata, err);
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

/* The persistent cache (CACHE_DIR / EEMODEL_CACHE_DIR) and the text hashed
 * into its keys with each encoded instance: the backend identity (URL, model
 * version, payload format, outputs) and what shapes a cached value (tile
 * geometry, band types).  A cached value is a tile's band buffers before
 * masking: the mask is recomputed from the source, as masked and zero-valued
 * input pixels encode alike. */
static eem_status predictor_open_cache(eem_predictor *p, eem_error *err)
{
    eem_status st = eem_cache_open_configured(p->spec->cache_dir, &p->cache, err);
    p->job_max_predictions = eem_job_budget_limit(p->spec->job_max_predictions);
    if (st == EEM_OK && p->job_max_predictions > 0 &&
        (!p->cache || eem_cache_is_object_storage(p->cache)))
        return eem_job_budget_take(NULL, p->job_max_predictions, 1, err);
    if (st != EEM_OK || !p->cache)
        return st;
    const eem_grid *g = &p->grids[0];
    p->cache_context = eem_cache_context_new(p->spec, p->ep, g, p->band_types, p->n_bands,
                                             p->headers.digest);
    p->cache_sizes = calloc((size_t)p->n_bands, sizeof *p->cache_sizes);
    if (!p->cache_context || !p->cache_sizes)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int b = 0; b < p->n_bands; b++)
        p->cache_sizes[b] = (size_t)g->uw * g->uh * eem_dtype_size(p->band_types[b]);
    return EEM_OK;
}

static eem_status predictor_check_model(eem_predictor *p, eem_error *err);

/* 1 when every output's band count is declared (the metadata check fills in
 * only an undeclared length). */
static int outputs_declared(const eem_spec *s)
{
    for (int k = 0; k < s->n_outputs; k++)
        if (s->outputs[k].dims == 1 && s->outputs[k].length <= 0)
            return 0;
    return 1;
}

eem_status eem_predictor_open(const eem_spec *spec, eem_predictor **out, eem_error *err)
{
    *out = NULL;
    eem_predictor *p = calloc(1, sizeof *p);
    if (!p)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_status st = eem_spec_clone(spec, &p->spec, err);
    if (st == EEM_OK) {
        spec = p->spec; /* from here on, only our own copy is read or written */
        st = eem_static_headers_load(spec->headers, &p->headers, err);
    }
    if (st == EEM_OK)
        st = eem_config_values_check(err);
    if (st == EEM_OK)
        st = eem_cost_guard_check_config(spec, err);
    if (st == EEM_OK)
        st = eem_job_budget_check_config(spec->job_max_predictions, err);
    if (st == EEM_OK)
        st = eem_source_open(spec, &p->src, err);
    if (st == EEM_OK)
        st = eem_image_properties_resolve(spec, p->src, &p->props, err);
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
        p->payload.grpc = p->ep->grpc;
    }
    if (st == EEM_OK) {
        /* Fail at open, not at the first read, when credentials are missing. */
        char *header = NULL;
        st = eem_auth_header_for(p->ep, &header, err);
        eem_secret_free(header);
    }
    /* the bands (and NODATA against their types) before any request, unless
     * the server's metadata gives an output's band count */
    int bands_known = outputs_declared(spec);
    if (st == EEM_OK && bands_known)
        st = predictor_setup_bands(p, err);
    if (st == EEM_OK)
        st = predictor_check_model(p, err);
    if (st == EEM_OK && !bands_known)
        st = predictor_setup_bands(p, err);
    if (st == EEM_OK)
        st = predictor_setup_grids(p, err);
    if (st == EEM_OK)
        st = predictor_open_cache(p, err);
    if (st == EEM_OK && !(p->lock = eem_worklock_new()))
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    if (st == EEM_OK)
        st = eem_pipeline_configured(spec->read_ahead, &p->read_ahead, err);
    if (st == EEM_OK)
        st = eem_datamemo_open(&p->memo, p->n_bands, p->band_types,
                               (size_t)p->grids[0].uw * p->grids[0].uh, err);
    if (st != EEM_OK) {
        eem_predictor_close(p);
        return st;
    }
    p->max_predictions = eem_cost_max_predictions(spec);
    *out = p;
    return EEM_OK;
}

void eem_predictor_close(eem_predictor *p)
{
    if (!p)
        return;
    eem_pipeline_free(p->pipeline); /* stops and joins its worker first */
    eem_source_close(p->src);
    eem_image_properties_free(p->props);
    eem_endpoint_free(p->ep);
    eem_cache_close(p->cache);
    eem_datamemo_close(&p->memo);
    free(p->cache_context);
    free(p->binary_verdict_key);
    free(p->cache_sizes);
    free(p->grids);
    if (p->band_names)
        for (int b = 0; b < p->n_bands; b++)
            free(p->band_names[b]);
    free(p->band_names);
    free(p->band_types);
    free(p->band_nodata);
    free(p->band_output);
    free(p->band_channel);
    eem_static_headers_free(&p->headers);
    eem_spec_free(p->spec);
    eem_worklock_free(p->lock);
    free(p);
}

const eem_spec *eem_predictor_spec(const eem_predictor *p) { return p->spec; }
const eem_source *eem_predictor_source(const eem_predictor *p) { return p->src; }
const eem_endpoint *eem_predictor_endpoint(const eem_predictor *p) { return p->ep; }
int eem_predictor_level_count(const eem_predictor *p) { return p->n_levels; }
int eem_predictor_band_count(const eem_predictor *p) { return p->n_bands; }
eem_dtype eem_predictor_band_type(const eem_predictor *p, int band) { return p->band_types[band]; }
eem_band_nodata eem_predictor_band_nodata(const eem_predictor *p, int band) { return p->band_nodata[band]; }
const char *eem_predictor_band_name(const eem_predictor *p, int band) { return p->band_names[band]; }

int eem_predictor_output_all_valid(const eem_predictor *p, int level)
{
    /* a masked output pixel needs a masked input pixel, a failure masked
     * (ON_ERROR=NODATA), an edge reaching outside G, or BLEND's offset sets */
    return level >= 0 && level < p->n_levels && p->src->all_valid &&
           p->spec->on_error != EEM_ON_ERROR_NODATA &&
           p->spec->overlap_mode != EEM_OVERLAP_BLEND &&
           eem_grid_output_within_input(&p->grids[level]);
}
long eem_predictor_max_predictions(const eem_predictor *p) { return p->max_predictions; }

long long eem_predictor_predictions_spent(const eem_predictor *p)
{
    eem_worklock_enter(p->lock);
    const long long n = p->memo.tiles_sent;
    eem_worklock_leave(p->lock);
    return n;
}

void eem_predictor_refuse_from_now(eem_predictor *p, const eem_error *err)
{
    eem_worklock_enter(p->lock);
    p->memo.refusal = *err;
    eem_worklock_leave(p->lock);
}

int eem_predictor_tile_costs_nothing(const eem_predictor *p, int level, int tx, int ty)
{
    eem_worklock_enter(p->lock);
    const int free_tile = eem_datamemo_costs_nothing(&p->memo, level, tx, ty) ||
                          (p->pipeline && eem_pipeline_has_tile(p->pipeline, level, tx, ty));
    eem_worklock_leave(p->lock);
    return free_tile;
}

eem_worklock *eem_predictor_worklock(const eem_predictor *p) { return p->lock; }

eem_pipeline *eem_predictor_pipeline(eem_predictor *p)
{
    /* read-ahead needs the tile store (it delivers there) and plain tiles */
    if (!p->read_ahead || !p->memo.store || p->spec->overlap_mode == EEM_OVERLAP_BLEND ||
        p->filter)
        return NULL;
    if (!p->pipeline) {
        eem_error err = {0};
        if (eem_pipeline_new(p, &p->pipeline, &err) != EEM_OK)
            CPLDebug("EEMODEL", "no prediction pipeline (%s): reads predict synchronously",
                     err.msg);
    }
    return p->pipeline;
}

const eem_grid *eem_predictor_grid(const eem_predictor *p, int level)
{
    if (level < 0 || level >= p->n_levels)
        return NULL;
    return &p->grids[level];
}

void eem_predictor_get_stats(const eem_predictor *p, eem_predictor_stats *st)
{
    eem_worklock_enter(p->lock);
    *st = p->stats;
    eem_worklock_leave(p->lock);
}

const eem_cache *eem_predictor_cache(const eem_predictor *p)
{
    return p->cache;
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
/* ---------------------------------------------------- the model at open -- */

/* What the server publishes about the model (TF Serving / KServe v2
 * metadata), checked against the descriptor — undeclared output lengths are
 * filled into the predictor's own copy of the spec, never the caller's —
 * and the payload options that follow: Triton's binary tensor extension
 * (EEMODEL_OIP_BINARY=AUTO|YES|NO) and the element types the format carries. */
static eem_status predictor_check_model(eem_predictor *p, eem_error *err)
{
    double memory_s = 0; /* EEMODEL_ANSWERED_MEMORY_S: refused before any request */
    eem_status st = eem_answered_memo_lifetime(&memory_s, err);
    int binary_available = 0, model_confirmed = 0;
    char server_identity[EEM_OIP_SERVER_IDENTITY_MAX] = "";
    const int bin = eem_config_choice(EEM_CHOICE_OIP_BINARY);
    const int check = eem_config_choice(EEM_CHOICE_CHECK_METADATA) == EEM_CHOICE_YES;
    /* an endpoint that answered 2xx in this process lately (answered_memo.h)
     * needs no slow start */
    const int answered = st == EEM_OK && eem_answered_memo_has(p->ep->predict_url, memory_s);
    /* tensor metadata (TF Serving, KServe), or Google's model resource: the
     * latter only tells whether the model serves, which an endpoint that
     * answered lately has shown (QGIS opens a dataset per render thread:
     * one GET to Google each, else) */
    int metadata = (p->ep->metadata_url || p->ep->server_metadata_url) && check;
    int resource = p->ep->model_resource_url && check && !answered;
    /* AUTO decides from the server metadata (or a probe): not without metadata */
    int oip_auto = p->ep->payload_format == EEM_PAYLOAD_OIP_V2 && bin == EEM_CHOICE_AUTO && metadata;
    eem_auth_session auth; /* credentials and header lines of the metadata requests */
    memset(&auth, 0, sizeof auth);
    if (st == EEM_OK && (metadata || resource)) /* oip_auto needs metadata */
        st = eem_auth_session_begin(&auth, p->ep, p->headers.lines, p->headers.n, err);
    if (st == EEM_OK && (metadata || resource))
        st = eem_metadata_check_at_open(p->spec, p->src, p->ep, auth.headers, &binary_available,
                                        server_identity, sizeof server_identity,
                                        &model_confirmed, err);
    /* the server is up and has this model: no slow start (the guarantee it
     * gives, a down server or a wrong model costs one request, is kept by
     * the check) */
    if (st == EEM_OK && (model_confirmed || answered))
        p->answered = 1;
    if (st == EEM_OK && p->ep->payload_format == EEM_PAYLOAD_OIP_V2)
        st = oip_auto ? eem_oip_binary_auto(p->ep, p->src, p->spec, p->ops, &p->payload,
                                            auth.headers, binary_available, server_identity,
                                            &p->payload.binary, err)
                      : (p->payload.binary = bin == EEM_CHOICE_YES, EEM_OK);
    if (st == EEM_OK && oip_auto && p->payload.binary && !binary_available &&
        !(p->binary_verdict_key = eem_oip_binary_key_dup(p->ep, server_identity)))
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_auth_session_end(&auth);
    for (int k = 0; st == EEM_OK && k < p->src->n_keys; k++)
        st = eem_payload_check_input_type(p->ops, &p->payload, p->src->keys[k].key,
                                          p->src->keys[k].send_type, err);
    for (int k = 0; st == EEM_OK && k < p->props->n; k++)
        st = eem_payload_check_input_type(p->ops, &p->payload, p->props->keys[k],
                                          p->props->types[k], err);
    return st;
}
