/* predictor_int.h — the predictor's state, shared by the files that make up
 * the predictor (not part of its interface, predictor.h): predictor.c opens,
 * closes and describes it and checks the model at open; compute.c runs the
 * compute loop over it. */
#ifndef EEM_PREDICTOR_INT_H
#define EEM_PREDICTOR_INT_H

#include "predictor.h"

#include "cache.h"
#include "datamemo.h"
#include "image_properties.h"
#include "payload.h"
#include "pipeline.h"
#include "request_headers.h"
#include "worklock.h"

struct eem_predictor {
    eem_spec *spec; /* owned copy of the caller's: metadata fills output lengths here */
    eem_source *src;
    eem_image_properties *props; /* INPUT_PROPERTIES: constants added to every instance */
    eem_endpoint *ep;
    const eem_payload_ops *ops;
    eem_payload_context payload; /* what the payload format needs besides the spec */
    /* EEMODEL_OIP_BINARY=AUTO chose binary on a probe's verdict (now or
     * remembered): the key of that verdict (owned), so that a refusal now
     * replaces it; NULL otherwise */
    char *binary_verdict_key;
    eem_grid *grids;
    int n_levels;
    int n_bands;
    eem_dtype *band_types;
    eem_band_nodata *band_nodata; /* masked value of each band (nodata.h) */
    char **band_names;
    int *band_output;  /* output index of each band */
    int *band_channel; /* channel within that output */
    long max_predictions;
    long job_max_predictions; /* JOB_MAX_PREDICTIONS (job_budget.h), 0 = none */
    eem_predictor_stats stats;
    char last_failure[EEM_ERROR_MSG_MAX]; /* message of the last tile masked by ON_ERROR=NODATA */
    /* A lasting endpoint-wide failure (unreachable, 404/405: failmemo.h): later
     * reads of this dataset send nothing and report it (ON_ERROR=NODATA: mask) */
    char endpoint_down[EEM_ERROR_MSG_MAX];
    int delivering_failed;                /* a sink call is delivering a failed tile */
    eem_instance_filter filter;           /* changes instances before encoding (probe), or NULL */
    void *filter_user;
    eem_cache *cache;     /* persistent prediction cache, NULL when not configured */
    char *cache_context;  /* backend identity + output layout, hashed into every key */
    size_t *cache_sizes;  /* bytes of one tile of each band: the parts of a cache entry */
    /* Static header lines (request_headers.h), read once at open so that every
     * request sends what the cache key was made of. */
    eem_static_headers headers;
    eem_datamemo memo; /* tiles, failures, budget spent, refusal (datamemo.h) */
    int answered;      /* a request was answered 2xx (or the model's metadata at open,
                        * or answered_memo.h): full concurrency, no slow start */
    eem_worklock *lock;      /* one thread at a time in this state (worklock.h) */
    int read_ahead;          /* READ_AHEAD resolved: 1 AUTO, 0 NO */
    eem_pipeline *pipeline;  /* started on first use when read_ahead (pipeline.h) */
};

#endif
