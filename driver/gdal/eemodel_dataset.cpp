/* eemodel_dataset.cpp — the EEMODEL dataset as GDAL sees it: construction of
 * a level and its overviews, georeferencing, metadata (the descriptor, the
 * model grid and the cost of full reads, core cost.c), and the IRasterIO /
 * AdviseRead adapters that hand reads to the core's read plans
 * (eemodel_read.cpp). */
#include "eemodel_probe.h" /* blend.h */
#include "eemodel_dataset.h"

#include "cpl_error.h"
#include "cpl_string.h"

extern "C" {
#include "endpoint.h"
}

#include <cstring>
#include <string>

/* Room for one line of eem_cost_text. */
static constexpr size_t EEM_COST_TEXT_MAX = 512;

EEModelShared::~EEModelShared()
{
    eem_predictor_close(predictor);
    eem_spec_free(spec);
}

EEModelDataset::EEModelDataset(std::shared_ptr<EEModelShared> shared, int level,
                               EEModelDataset *base)
    : m_shared(std::move(shared)), m_level(level), m_base(base)
{
    eem_predictor *pred = m_shared->predictor;
    m_reduced = level > 0 && m_shared->spec->fix_input_proj;
    if (m_reduced)
    {
        /* FIX_INPUT_PROJ=true: level 0's output grid coarsened by 2^level */
        m_grid = eem_predictor_grid(pred, 0);
        m_factor = 1 << level;
        nRasterXSize = (m_grid->out_w + m_factor - 1) / m_factor;
        nRasterYSize = (m_grid->out_h + m_factor - 1) / m_factor;
        memcpy(m_gt, m_grid->gt_out, sizeof m_gt);
        for (int i : {1, 2, 4, 5})
            m_gt[i] *= m_factor;
    }
    else
    {
        m_grid = eem_predictor_grid(pred, level);
        nRasterXSize = m_grid->out_w;
        nRasterYSize = m_grid->out_h;
        memcpy(m_gt, m_grid->gt_out, sizeof m_gt);
    }
    m_blockXSize = m_grid->uw;
    m_blockYSize = m_grid->uh;
    eAccess = GA_ReadOnly;
    const eem_source *src = eem_predictor_source(pred);
    if (src->wkt && src->wkt[0])
    {
        m_srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
        m_srs.importFromWkt(src->wkt);
    }
    const int nCoreBands = eem_predictor_band_count(pred);
    for (int i = 0; i < nCoreBands; i++)
        SetBand(i + 1, new EEModelRasterBand(this, i + 1, i));
    m_mask.reset(new EEModelMaskBand(this));
    SetMetadataItem("INTERLEAVE", "PIXEL", "IMAGE_STRUCTURE");
    SetMetadataFromCore();
    if (level == 0)
    {
        for (int k = 1; k < eem_predictor_level_count(pred); k++)
            m_overviews.emplace_back(new EEModelDataset(m_shared, k, this));
    }
}

EEModelDataset::~EEModelDataset()
{
    /* Bands may hold cached blocks; drop them before the core goes away. */
    FlushCache(true);
    m_overviews.clear();
}

/* GDALDestroyDriverManager() (QgsApplication::exitQgis, for one) deletes every
 * dataset still open, in no useful order, after asking each to close the
 * datasets it holds.  The predictor holds the source (a dataset of that same
 * list): close it here, or it is deleted twice.  The overviews share it. */
int EEModelDataset::CloseDependentDatasets()
{
    int bDropped = GDALDataset::CloseDependentDatasets();
    if (m_level == 0 && m_shared->predictor != nullptr)
    {
        FlushCache(true);
        m_overviews.clear();
        eem_predictor_close(m_shared->predictor);
        m_shared->predictor = nullptr;
        bDropped = TRUE;
    }
    return bDropped;
}

/* A name safe to show: URLs lose credentials and query strings. */
static std::string DisplayName(const char *name)
{
    const size_t n = eem_name_for_display(name, nullptr, 0);
    std::string shown(n + 1, '\0');
    eem_name_for_display(name, &shown[0], shown.size());
    shown.resize(n);
    return shown;
}

/* A CRS for programs: "EPSG:n" when it has an EPSG code, else its WKT
 * (WKT2:2019); empty without one. */
static std::string CRSText(const OGRSpatialReference &srs)
{
    if (srs.IsEmpty())
        return std::string();
    const char *pszAuthority = srs.GetAuthorityName(nullptr);
    const char *pszCode = srs.GetAuthorityCode(nullptr);
    if (pszAuthority != nullptr && pszCode != nullptr && EQUAL(pszAuthority, "EPSG"))
        return std::string("EPSG:") + pszCode;
    char *pszWkt = nullptr;
    const char *const apszOptions[] = {"FORMAT=WKT2_2019", nullptr};
    std::string text;
    if (srs.exportToWkt(&pszWkt, apszOptions) == OGRERR_NONE && pszWkt != nullptr)
        text = pszWkt;
    CPLFree(pszWkt);
    return text;
}

void EEModelDataset::SetMetadataFromCore()
{
    const eem_predictor *pred = m_shared->predictor;
    const eem_spec *spec = eem_predictor_spec(pred);
    const eem_endpoint *ep = eem_predictor_endpoint(pred);
    const eem_source *src = eem_predictor_source(pred);
    const eem_grid *g0 = eem_predictor_grid(pred, 0);
    const char *D = "EEMODEL";
    SetMetadataItem("BACKEND", eem_protocol_name(ep->protocol), D);
    SetMetadataItem("PROTOCOL", eem_protocol_name(ep->protocol), D);
    SetMetadataItem("URL", ep->display_url, D);
    SetMetadataItem("PAYLOAD_FORMAT", eem_payload_format_name(ep->payload_format), D);
    SetMetadataItem("INPUT", DisplayName(spec->input).c_str(), D);
    std::string keys;
    for (int k = 0; k < src->n_keys; k++)
        keys += CPLSPrintf("%s%s:%s:%d", k ? "," : "", src->keys[k].key,
                           eem_dtype_name(src->keys[k].send_type), src->keys[k].n_bands);
    SetMetadataItem("INPUT_KEYS", keys.c_str(), D);
    std::string outputs;
    for (int k = 0; k < spec->n_outputs; k++)
    {
        const eem_output *o = &spec->outputs[k];
        outputs += CPLSPrintf("%s%s:%s", k ? "," : "", o->name, eem_dtype_name(o->type));
        if (o->dims == 1)
            outputs += CPLSPrintf(":%d", o->length);
    }
    SetMetadataItem("OUTPUT_BANDS", outputs.c_str(), D);
    SetMetadataItem("INPUT_TILE_SIZE", CPLSPrintf("%d,%d", spec->tile_w, spec->tile_h), D);
    SetMetadataItem("INPUT_OVERLAP_SIZE", CPLSPrintf("%d,%d", spec->overlap_x, spec->overlap_y),
                    D);
    SetMetadataItem("OUTPUT_TILE_SIZE", CPLSPrintf("%d,%d", spec->out_tile_w, spec->out_tile_h),
                    D);
    SetMetadataItem("SCALE_RATIO",
                    CPLSPrintf("%d/%d,%d/%d", spec->out_tile_w, spec->tile_w, spec->out_tile_h,
                               spec->tile_h),
                    D);
    /* The model's input grid G (level 0). */
    SetMetadataItem("MODEL_GRID_SIZE", CPLSPrintf("%d,%d", g0->in_w, g0->in_h), D);
    SetMetadataItem("MODEL_GRID_ORIGIN", CPLSPrintf("%.17g,%.17g", g0->gt_in[0], g0->gt_in[3]),
                    D);
    SetMetadataItem("MODEL_GRID_PIXEL_SIZE",
                    CPLSPrintf("%.17g,%.17g", g0->gt_in[1], g0->gt_in[5]), D);
    SetMetadataItem("MODEL_GRID_CRS", CRSText(m_srs).c_str(), D);
    SetMetadataItem("MODEL_GRID_WARPED", src->warped ? "YES" : "NO", D);
    SetMetadataItem("RESAMPLING", spec->resampling ? spec->resampling : "nearest", D);
    SetMetadataItem("FIX_INPUT_PROJ", spec->fix_input_proj ? "YES" : "NO", D);
    SetMetadataItem("OVERVIEW_METHOD",
                    spec->fix_input_proj
                        ? "full-resolution predictions reduced (average for float bands, mode "
                          "for integer bands)"
                        : "the model applied to the input coarsened by the overview factor",
                    D);
    SetMetadataItem("OVERVIEW_LEVEL", CPLSPrintf("%d", m_level), D);
    SetMetadataItem("OVERVIEW_FACTOR", CPLSPrintf("%d", 1 << m_level), D);
    const eem_grid *g = m_reduced ? g0 : m_grid;
    SetMetadataItem("TILES", CPLSPrintf("%d", g->tiles_x * g->tiles_y), D);
    SetMetadataItem("MAX_PREDICTIONS", CPLSPrintf("%ld", eem_predictor_max_predictions(pred)), D);
}

/* The cost of a full read of a level: numbers in the EEMODEL domain
 * (LEVEL_k_*), one readable line in the default domain (core eem_cost_text). */
void EEModelDataset::SetLevelCostMetadata(const eem_cost_model &model, int level)
{
    const eem_predictor *pred = m_shared->predictor;
    const EEModelDataset *ds = level == 0 ? this : m_overviews[level - 1].get();
    const eem_grid *g = eem_predictor_grid(pred, ds->m_reduced ? 0 : level);
    eem_cost cost{};
    eem_cost_of_tiles(&model,
                      m_shared->spec->overlap_mode == EEM_OVERLAP_BLEND
                          ? eem_blend_full_read_tiles(g)
                          : static_cast<long long>(g->tiles_x) * g->tiles_y,
                      &cost);
    const char *D = "EEMODEL";
    SetMetadataItem(CPLSPrintf("LEVEL_%d_SIZE", level),
                    CPLSPrintf("%d,%d", ds->nRasterXSize, ds->nRasterYSize), D);
    SetMetadataItem(CPLSPrintf("LEVEL_%d_PREDICTIONS", level), CPLSPrintf("%lld", cost.predictions),
                    D);
    SetMetadataItem(CPLSPrintf("LEVEL_%d_REQUESTS", level), CPLSPrintf("%lld", cost.requests), D);
    SetMetadataItem(CPLSPrintf("LEVEL_%d_REQUEST_BYTES", level),
                    CPLSPrintf("%lld", cost.request_bytes), D);
    char text[EEM_COST_TEXT_MAX];
    eem_cost_text(&cost, ds->nRasterXSize, ds->nRasterYSize, level, ds->m_reduced,
                  eem_predictor_max_predictions(pred), text, sizeof text);
    const char *blend =
        m_shared->spec->overlap_mode == EEM_OVERLAP_BLEND ? " (OVERLAP_MODE=BLEND: 4 tile sets)" : "";
    if (level == 0)
        SetMetadataItem("EEMODEL_COST", CPLSPrintf("%s at full resolution%s", text, blend));
    else
        SetMetadataItem(CPLSPrintf("EEMODEL_COST_OVERVIEW_%d", level),
                        CPLSPrintf("%s%s", text, blend));
}

/* Cost figures, computed on first use (they encode one instance): the default
 * domain has one readable line per level (what plain gdalinfo shows), the
 * EEMODEL domain the numbers. */
void EEModelDataset::SetCostMetadata()
{
    if (m_costMetadataDone)
        return;
    m_costMetadataDone = true;
    const eem_predictor *pred = m_shared->predictor;
    SetMetadataItem("EEMODEL_MAX_PREDICTIONS",
                    CPLSPrintf("%ld", eem_predictor_max_predictions(pred)));
    if (m_level != 0)
        return;
    eem_cost_model model{};
    eem_error err{};
    if (eem_cost_model_of(pred, &model, &err) != EEM_OK)
    {
        SetMetadataItem("EEMODEL_COST", CPLSPrintf("unknown: %s", err.msg));
        return;
    }
    SetMetadataItem("INSTANCE_BYTES", CPLSPrintf("%lld", model.instance_bytes), "EEMODEL");
    SetMetadataItem("INSTANCES_PER_REQUEST", CPLSPrintf("%lld", model.instances_per_request),
                    "EEMODEL");
    for (int k = 0; k <= OverviewCount(); k++)
        SetLevelCostMetadata(model, k);
    SetScaleOutMetadata(model);
}

char **EEModelDataset::GetMetadata(const char *pszDomain)
{
    if (pszDomain == nullptr || pszDomain[0] == '\0' || EQUAL(pszDomain, "EEMODEL"))
        SetCostMetadata();
    /* GDAL's derived "log10 of amplitude" subdatasets would repeat the whole
     * connection string (HEADERS values included) and mean nothing here */
    if (pszDomain != nullptr && EQUAL(pszDomain, "DERIVED_SUBDATASETS"))
        return nullptr;
    if (pszDomain != nullptr && EQUAL(pszDomain, "EEMODEL_STATS"))
        return StatsMetadata();
    return GDALDataset::GetMetadata(pszDomain);
}

char **EEModelDataset::GetMetadataDomainList()
{
    SetCostMetadata();
    char **papszDomains = GDALDataset::GetMetadataDomainList();
    const int i = CSLFindString(papszDomains, "DERIVED_SUBDATASETS");
    if (i >= 0)
        papszDomains = CSLRemoveStrings(papszDomains, i, 1, nullptr);
    return CSLAddString(papszDomains, "EEMODEL_STATS");
}

const char *EEModelDataset::GetMetadataItem(const char *pszName, const char *pszDomain)
{
    if (pszDomain == nullptr || pszDomain[0] == '\0' || EQUAL(pszDomain, "EEMODEL"))
        SetCostMetadata();
    if (pszName != nullptr && pszDomain != nullptr && EQUAL(pszDomain, "EEMODEL_STATS"))
        return CSLFetchNameValue(StatsMetadata(), pszName);
    return GDALDataset::GetMetadataItem(pszName, pszDomain);
}

CPLErr EEModelDataset::GetGeoTransform(double *padfTransform)
{
    memcpy(padfTransform, m_gt, 6 * sizeof(double));
    return eem_predictor_source(m_shared->predictor)->has_gt ? CE_None : CE_Failure;
}

const OGRSpatialReference *EEModelDataset::GetSpatialRef() const
{
    return m_srs.IsEmpty() ? nullptr : &m_srs;
}

/* The window a reader announces (gdal_translate / CreateCopy: the whole
 * source; gdalwarp: its chunk): the cost guard over all of it first (a copy
 * over the budget is refused before anything is sent), then, with
 * READ_AHEAD=AUTO, the prediction pipeline predicts it ahead of the reads,
 * in reading order and never past it (core eem_readplan_advise, pipeline.h).
 * A new announcement replaces the previous one.  READ_AHEAD=NO: nothing is
 * predicted until a read needs it. */
CPLErr EEModelDataset::AdviseRead(int nXOff, int nYOff, int nXSize, int nYSize, int nBufXSize,
                                  int nBufYSize, GDALDataType, int, int *, char **)
{
    /* GDAL's copy announces the same window more than once (CreateCopy, then
     * the copy loop): the first announcement stands, guard included */
    const bool bSame = m_announced[0] == nXOff && m_announced[1] == nYOff &&
                       m_announced[2] == nXSize && m_announced[3] == nYSize &&
                       nBufXSize == nXSize && nBufYSize == nYSize;
    if (bSame)
        return CE_None;
    eem_read_level level = ReadLevel();
    EEModelTileList tiles;
    eem_error err{};
    if (eem_readplan_advise(&level, {nXOff, nYOff, nXSize, nYSize}, nBufXSize, nBufYSize,
                            MaxPredictions(), &tiles, &err) != EEM_OK)
    {
        /* CreateCopy ignores what AdviseRead returns: every later read of
         * the dataset, at any level, reports the refusal before sending */
        eem_predictor_refuse_from_now(m_shared->predictor, &err);
        return CE_Failure;
    }
    eem_pipeline *pipeline = eem_predictor_pipeline(m_shared->predictor);
    if (pipeline == nullptr || m_reduced)
        return CE_None;
    CPLDebug("EEMODEL", "AdviseRead %d,%d %dx%d of level %d: %d tile(s) to predict ahead", nXOff,
             nYOff, nXSize, nYSize, m_level, tiles.n);
    if (nBufXSize == nXSize && nBufYSize == nYSize)
    {
        m_announced[0] = nXOff;
        m_announced[1] = nYOff;
        m_announced[2] = nXSize;
        m_announced[3] = nYSize;
    }
    if (eem_pipeline_announce(pipeline, m_level, tiles.xy, tiles.n, GDALGetCacheMax64(), &err) !=
        EEM_OK)
        return EEModelFail(err);
    return CE_None;
}

/* A downsampled read that an overview serves is prefetched by that overview's
 * own IRasterIO; every other read predicts its whole window in one go, a
 * full-resolution one straight into pData (eemodel_direct.cpp). */
CPLErr EEModelDataset::IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize,
                                 int nYSize, void *pData, int nBufXSize, int nBufYSize,
                                 GDALDataType eBufType, int nBandCount, int *panBandMap,
                                 GSpacing nPixelSpace, GSpacing nLineSpace, GSpacing nBandSpace,
                                 GDALRasterIOExtraArg *psExtraArg)
{
    if (eRWFlag == GF_Write)
        return EEModelReadOnlyError();
    const bool bOverview =
        nBands > 0 && static_cast<EEModelBand *>(GetRasterBand(1))
                          ->ServedByOverview(nXOff, nYOff, nXSize, nYSize, nBufXSize, nBufYSize);
    if (!bOverview && NeedsStrips(nXOff, nYOff, nXSize, nYSize, nBufXSize, nBufYSize))
        return ReadInStrips(nXOff, nYOff, nXSize, nYSize, true, psExtraArg,
                            [&](int y, int h, GDALRasterIOExtraArg *psStripArg)
                            {
                                return IRasterIO(eRWFlag, nXOff, nYOff + y, nXSize, h,
                                                 static_cast<GByte *>(pData) + y * nLineSpace,
                                                 nXSize, h, eBufType, nBandCount, panBandMap,
                                                 nPixelSpace, nLineSpace, nBandSpace, psStripArg);
                            });
    EEModelReadScope oRead(this, psExtraArg);
    if (!bOverview && CanReadDirect(nXSize, nYSize, nBufXSize, nBufYSize))
        return ReadDirect(oRead, nXOff, nYOff, nXSize, nYSize, pData, eBufType, nBandCount,
                          panBandMap, nPixelSpace, nLineSpace, nBandSpace);
    if (!bOverview && oRead.Prefetch(nXOff, nYOff, nXSize, nYSize) != CE_None)
        return CE_Failure;
    return GDALDataset::IRasterIO(eRWFlag, nXOff, nYOff, nXSize, nYSize, pData, nBufXSize,
                                  nBufYSize, eBufType, nBandCount, panBandMap, nPixelSpace,
                                  nLineSpace, nBandSpace, oRead.ExtraArg());
}
