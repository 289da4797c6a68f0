/* eemodel_scaleout.cpp — what a parallel reader needs to know (core
 * chunk_advice.c, tile_origin.h): the tile lattice, the chunk multiple and a
 * recommended chunk size in the EEMODEL domain, and the live counters of the
 * EEMODEL_STATS domain (core predictor statistics, cache statistics and the
 * job budget's count). */
#include "eemodel_dataset.h"

#include "cpl_string.h"

extern "C" {
#include "cache.h"
#include "chunk_advice.h"
#include "http.h"
#include "job_budget.h"
#include "tile_origin.h"
}

void EEModelDataset::SetScaleOutMetadata(const eem_cost_model &model)
{
    const char *D = "EEMODEL";
    const eem_predictor *pred = m_shared->predictor;
    const eem_spec *spec = m_shared->spec;
    const eem_grid *g = eem_predictor_grid(pred, 0);
    const auto mode = static_cast<eem_tile_origin_mode>(spec->tile_origin_mode);
    double ax = g->gt_in[0], ay = g->gt_in[3];
    const char *anchor = "SCENE";
    if (mode == EEM_TILE_ORIGIN_AT)
    {
        ax = spec->tile_origin_x;
        ay = spec->tile_origin_y;
        anchor = "TILE_ORIGIN";
    }
    else if (eem_tile_origin_applies(mode, spec->scale))
    {
        ax = ay = 0;
        anchor = "SCALE";
    }
    /* a lattice point and the step between tile corners, in the CRS */
    SetMetadataItem("TILE_GRID",
                    CPLSPrintf("%.17g,%.17g,%.17g,%.17g", ax, ay, g->gt_in[1] * g->tw,
                               g->gt_in[5] * g->th),
                    D);
    SetMetadataItem("TILE_GRID_ANCHOR", anchor, D);
    eem_http_options opts;
    eem_http_options_from_config(&opts);
    eem_chunk_advice advice{};
    eem_chunk_advice_of(g, model.instances_per_request, opts.max_connections, &advice);
    SetMetadataItem("CHUNK_MULTIPLE", CPLSPrintf("%d,%d", advice.multiple_w, advice.multiple_h),
                    D);
    SetMetadataItem("RECOMMENDED_CHUNK_SIZE", CPLSPrintf("%d,%d", advice.chunk_w, advice.chunk_h),
                    D);
    SetMetadataItem("RECOMMENDED_CHUNK_TILES", CPLSPrintf("%lld", advice.tiles_per_chunk), D);
    SetMetadataItem("MAX_CONNECTIONS", CPLSPrintf("%d", opts.max_connections), D);
}

char **EEModelDataset::StatsMetadata()
{
    const eem_predictor *pred = m_shared->predictor;
    eem_predictor_stats st{};
    eem_predictor_get_stats(pred, &st);
    m_stats.Clear();
    m_stats.SetNameValue("REQUESTS", CPLSPrintf("%ld", st.requests));
    m_stats.SetNameValue("TILES_PREDICTED", CPLSPrintf("%ld", st.tiles_predicted));
    m_stats.SetNameValue("TILES_FROM_CACHE", CPLSPrintf("%ld", st.tiles_from_cache));
    m_stats.SetNameValue("TILES_SKIPPED_MASKED", CPLSPrintf("%ld", st.tiles_skipped));
    m_stats.SetNameValue("TILES_FAILED", CPLSPrintf("%ld", st.tiles_failed));
    m_stats.SetNameValue("TILES_WAITED", CPLSPrintf("%ld", st.tiles_waited));
    m_stats.SetNameValue("LEASES_BROKEN", CPLSPrintf("%ld", st.leases_broken));
    m_stats.SetNameValue("RETRIES", CPLSPrintf("%ld", st.retries));
    m_stats.SetNameValue("BYTES_SENT", CPLSPrintf("%lld", st.bytes_sent));
    m_stats.SetNameValue("BYTES_RECEIVED", CPLSPrintf("%lld", st.bytes_received));
    const eem_cache *cache = eem_predictor_cache(pred);
    eem_cache_stats cs{};
    if (cache)
        eem_cache_get_stats(cache, &cs);
    m_stats.SetNameValue("CACHE_WRITES", CPLSPrintf("%ld", cs.writes));
    m_stats.SetNameValue("CACHE_WRITE_FAILURES", CPLSPrintf("%ld", cs.write_failures));
    m_stats.SetNameValue("CACHE_EVICTIONS", CPLSPrintf("%ld", cs.evicted));
    if (cache)
    {
        const long long used = eem_job_budget_used(eem_cache_dir(cache));
        if (used >= 0)
            m_stats.SetNameValue("JOB_PREDICTIONS", CPLSPrintf("%lld", used));
    }
    return m_stats.List();
}
