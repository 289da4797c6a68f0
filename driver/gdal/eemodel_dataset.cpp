/* eemodel_dataset.cpp — EEMODEL dataset, bands and mask band: GDAL's view of
 * the core predictor.  Reads gather every missing tile of the window, the core
 * predicts them in one go (after the cost guard), and each answer fills the
 * blocks of all bands and the mask (QGIS reads band by band: the next band is
 * a cache hit).  FIX_INPUT_PROJ=true overviews reduce level-0 predictions
 * block by block (ReduceWindow / ReduceBlock); statistics and histograms are
 * guarded as one read of the whole band they scan. */
#include "eemodel_dataset.h"

#include "cpl_error.h"
#include "cpl_string.h"

extern "C" {
#include "endpoint.h"
#include "reduce.h"
}

#include <algorithm>
#include <cstring>
#include <string>

/* Largest full-resolution strip (bytes of doubles) read at once to reduce. */
static constexpr size_t EEM_REDUCE_STRIP_BYTES = 16 * 1024 * 1024;

/************************************************************************/
/*                          helpers                                     */
/************************************************************************/

static GDALDataType GDALTypeOf(eem_dtype t)
{
    switch (t)
    {
        case EEM_DT_UINT8:
        case EEM_DT_INT8:
            return GDT_Byte;
        case EEM_DT_UINT16:
            return GDT_UInt16;
        case EEM_DT_INT16:
            return GDT_Int16;
        case EEM_DT_UINT32:
            return GDT_UInt32;
        case EEM_DT_INT32:
            return GDT_Int32;
        case EEM_DT_UINT64:
            return GDT_UInt64;
        case EEM_DT_INT64:
            return GDT_Int64;
        case EEM_DT_FLOAT64:
            return GDT_Float64;
        default:
            return GDT_Float32;
    }
}

/* Report a core error in the calling thread. */
static void ReportCoreError(const eem_error &err)
{
    CPLErrorNum num = CPLE_AppDefined;
    switch (err.status)
    {
        case EEM_ERR_INVALID:
            num = CPLE_IllegalArg;
            break;
        case EEM_ERR_IO:
        case EEM_ERR_HTTP:
            num = CPLE_FileIO;
            break;
        case EEM_ERR_NOMEM:
            num = CPLE_OutOfMemory;
            break;
        case EEM_ERR_CANCELLED:
            num = CPLE_UserInterrupt;
            break;
        default:
            break;
    }
    CPLError(CE_Failure, num, "EEMODEL: %s", err.msg);
}

/* A name safe to show: URLs lose credentials and query strings. */
static std::string DisplayName(const char *name)
{
    if (name == nullptr)
        return std::string();
    const char *scheme = strstr(name, "://");
    if (scheme == nullptr && strchr(name, '?') == nullptr)
        return name;
    const char *start = name;
    std::string prefix;
    if (scheme != nullptr)
    {
        /* keep a /vsicurl/-style prefix before the URL */
        const char *p = scheme;
        while (p > name && p[-1] != '/')
            p--;
        prefix.assign(name, p - name);
        start = p;
    }
    const size_t n = eem_url_for_display(start, nullptr, 0);
    std::string shown(n + 1, '\0');
    eem_url_for_display(start, &shown[0], shown.size());
    shown.resize(n);
    return prefix + shown;
}

EEModelShared::~EEModelShared()
{
    eem_predictor_close(predictor);
    eem_spec_free(spec);
}

/************************************************************************/
/*                          EEModelDataset                              */
/************************************************************************/

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
    SetMetadataItem("MODEL_GRID_CRS", spec->proj ? spec->proj : "the source's", D);
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

/* "WxH (1/f): N predictions in R request(s), B request bytes" for a full read
 * of a level, and the same figures as numbers in the EEMODEL domain. */
std::string EEModelDataset::CostText(const eem_cost_model &model, int level)
{
    const eem_predictor *pred = m_shared->predictor;
    const EEModelDataset *ds = level == 0 ? this : m_overviews[level - 1].get();
    const eem_grid *g = eem_predictor_grid(pred, ds->m_reduced ? 0 : level);
    eem_cost cost{};
    eem_cost_of_tiles(&model, static_cast<long long>(g->tiles_x) * g->tiles_y, &cost);
    const char *D = "EEMODEL";
    SetMetadataItem(CPLSPrintf("LEVEL_%d_SIZE", level),
                    CPLSPrintf("%d,%d", ds->nRasterXSize, ds->nRasterYSize), D);
    SetMetadataItem(CPLSPrintf("LEVEL_%d_PREDICTIONS", level), CPLSPrintf("%lld", cost.predictions),
                    D);
    SetMetadataItem(CPLSPrintf("LEVEL_%d_REQUESTS", level), CPLSPrintf("%lld", cost.requests), D);
    SetMetadataItem(CPLSPrintf("LEVEL_%d_REQUEST_BYTES", level),
                    CPLSPrintf("%lld", cost.request_bytes), D);
    std::string text = CPLSPrintf("%dx%d", ds->nRasterXSize, ds->nRasterYSize);
    if (level > 0)
        text += CPLSPrintf(" (1/%d)", 1 << level);
    text += CPLSPrintf(": %lld prediction%s in %lld request%s, %lld request bytes",
                       cost.predictions, cost.predictions == 1 ? "" : "s", cost.requests,
                       cost.requests == 1 ? "" : "s", cost.request_bytes);
    if (ds->m_reduced)
        text += " (reduces the full-resolution predictions)";
    if (cost.predictions > eem_predictor_max_predictions(pred))
        text += CPLSPrintf("; more than MAX_PREDICTIONS=%ld: a full read is refused",
                           eem_predictor_max_predictions(pred));
    return text;
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
    SetMetadataItem("EEMODEL_COST", (CostText(model, 0) + " at full resolution").c_str());
    for (int k = 1; k <= OverviewCount(); k++)
        SetMetadataItem(CPLSPrintf("EEMODEL_COST_OVERVIEW_%d", k), CostText(model, k).c_str());
}

char **EEModelDataset::GetMetadata(const char *pszDomain)
{
    if (pszDomain == nullptr || pszDomain[0] == '\0' || EQUAL(pszDomain, "EEMODEL"))
        SetCostMetadata();
    /* GDAL's derived "log10 of amplitude" subdatasets would repeat the whole
     * connection string (HEADERS values included) and mean nothing here */
    if (pszDomain != nullptr && EQUAL(pszDomain, "DERIVED_SUBDATASETS"))
        return nullptr;
    return GDALDataset::GetMetadata(pszDomain);
}

char **EEModelDataset::GetMetadataDomainList()
{
    SetCostMetadata();
    char **papszDomains = GDALDataset::GetMetadataDomainList();
    const int i = CSLFindString(papszDomains, "DERIVED_SUBDATASETS");
    if (i >= 0)
        papszDomains = CSLRemoveStrings(papszDomains, i, 1, nullptr);
    return papszDomains;
}

const char *EEModelDataset::GetMetadataItem(const char *pszName, const char *pszDomain)
{
    if (pszDomain == nullptr || pszDomain[0] == '\0' || EQUAL(pszDomain, "EEMODEL"))
        SetCostMetadata();
    return GDALDataset::GetMetadataItem(pszName, pszDomain);
}

int EEModelDataset::Identify(GDALOpenInfo *poOpenInfo)
{
    return eem_spec_identify(poOpenInfo->pszFilename);
}

GDALDataset *EEModelDataset::Open(GDALOpenInfo *poOpenInfo)
{
    if (!Identify(poOpenInfo))
        return nullptr;
    if (poOpenInfo->eAccess == GA_Update)
    {
        CPLError(CE_Failure, CPLE_NotSupported,
                 "EEMODEL: the driver is read-only; open without update access");
        return nullptr;
    }
    auto shared = std::make_shared<EEModelShared>();
    eem_error err{};
    if (eem_spec_parse(poOpenInfo->pszFilename, poOpenInfo->papszOpenOptions, &shared->spec,
                       &err) != EEM_OK ||
        eem_predictor_open(shared->spec, &shared->predictor, &err) != EEM_OK)
    {
        ReportCoreError(err);
        return nullptr;
    }
    auto *poDS = new EEModelDataset(shared, 0, nullptr);
    poDS->SetDescription(poOpenInfo->pszFilename);
    return poDS;
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

static bool IsBlockCached(GDALRasterBand *poBand, int x, int y)
{
    GDALRasterBlock *poBlock = poBand->TryGetLockedBlockRef(x, y);
    if (poBlock == nullptr)
        return false;
    poBlock->DropLock();
    return true;
}

bool EEModelDataset::IsTileCached(int tx, int ty)
{
    for (int i = 1; i <= nBands; i++)
        if (!IsBlockCached(GetRasterBand(i), tx, ty))
            return false;
    return IsBlockCached(m_mask.get(), tx, ty);
}

/* Copy one finished tile into a band's block: straight into the block an
 * IReadBlock call is filling, else into the cache unless already there. */
static bool FillBlock(GDALRasterBand *poBand, int tx, int ty, const void *data, size_t nBytes,
                      GDALRasterBand *pendingBand, int px, int py, void *pendingImage)
{
    if (poBand == pendingBand && tx == px && ty == py)
    {
        memcpy(pendingImage, data, nBytes);
        return true;
    }
    GDALRasterBlock *poBlock = poBand->TryGetLockedBlockRef(tx, ty);
    if (poBlock != nullptr)
    {
        poBlock->DropLock();
        return true;
    }
    poBlock = poBand->GetLockedBlockRef(tx, ty, TRUE);
    if (poBlock == nullptr)
        return false;
    memcpy(poBlock->GetDataRef(), data, nBytes);
    poBlock->DropLock();
    return true;
}

/* Put block (bx,by) of every band and of the mask into the cache. */
bool EEModelDataset::StoreBlock(int bx, int by, void *const *bands, const uint8_t *mask)
{
    const size_t nPixels = static_cast<size_t>(m_blockXSize) * m_blockYSize;
    for (int i = 1; i <= nBands; i++)
    {
        GDALRasterBand *poBand = GetRasterBand(i);
        const size_t nBytes = nPixels * GDALGetDataTypeSizeBytes(poBand->GetRasterDataType());
        if (!FillBlock(poBand, bx, by, bands[i - 1], nBytes, m_pendingBand, m_pendingX,
                       m_pendingY, m_pendingImage))
            return false;
    }
    return FillBlock(m_mask.get(), bx, by, mask, nPixels, m_pendingBand, m_pendingX, m_pendingY,
                     m_pendingImage);
}

eem_status EEModelDataset::StoreTile(void *user, int level, int tx, int ty, void *const *bands,
                                     const uint8_t *mask, eem_error *err)
{
    auto *poDS = static_cast<EEModelDataset *>(user);
    (void)level;
    if (!poDS->StoreBlock(tx, ty, bands, mask))
        return eem_error_set(err, EEM_ERR_NOMEM, "no room in GDAL's block cache");
    if (eem_predictor_tile_failed(poDS->m_shared->predictor))
    {
        /* masked, not predicted: dropped from the cache at the next read */
        poDS->m_failedTiles.push_back(tx);
        poDS->m_failedTiles.push_back(ty);
    }
    if (poDS->m_progress != nullptr)
        poDS->m_progress->TileDone();
    return EEM_OK;
}

CPLErr EEModelDataset::PredictTiles(const std::vector<int> &tiles)
{
    if (tiles.empty())
        return CE_None;
    eem_error err{};
    eem_predictor_stats before, after;
    eem_predictor_get_stats(m_shared->predictor, &before);
    if (m_progress != nullptr)
        m_progress->Start(static_cast<int>(tiles.size() / 2));
    if (eem_predictor_compute(m_shared->predictor, m_level, tiles.data(),
                              static_cast<int>(tiles.size() / 2), StoreTile, this,
                              EEModelReadProgress::CancelCallback, m_progress, &err) != EEM_OK)
    {
        ReportCoreError(err);
        return CE_Failure;
    }
    eem_predictor_get_stats(m_shared->predictor, &after);
    if (after.tiles_failed > before.tiles_failed)
        CPLError(CE_Warning, CPLE_AppDefined,
                 "EEMODEL: %ld tile(s) masked because their prediction failed "
                 "(ON_ERROR=NODATA): %s",
                 after.tiles_failed - before.tiles_failed,
                 eem_predictor_last_failure(m_shared->predictor));
    return CE_None;
}

std::vector<int> EEModelDataset::MissingTiles(int nXOff, int nYOff, int nXSize, int nYSize)
{
    int i0, j0, i1, j1;
    if (m_reduced)
    {
        i0 = nXOff / m_blockXSize;
        j0 = nYOff / m_blockYSize;
        i1 = (nXOff + nXSize + m_blockXSize - 1) / m_blockXSize;
        j1 = (nYOff + nYSize + m_blockYSize - 1) / m_blockYSize;
    }
    else
    {
        eem_rect win = {nXOff, nYOff, nXSize, nYSize};
        eem_grid_tiles_for_output_window(m_grid, win, &i0, &j0, &i1, &j1);
    }
    std::vector<int> missing;
    for (int j = j0; j < j1; j++)
        for (int i = i0; i < i1; i++)
            if (!IsTileCached(i, j))
            {
                missing.push_back(i);
                missing.push_back(j);
            }
    return missing;
}

CPLErr EEModelDataset::PrefetchWindow(int nXOff, int nYOff, int nXSize, int nYSize)
{
    if (m_reduced)
        return ReduceWindow(nXOff, nYOff, nXSize, nYSize);
    /* A sequential scan (this window starts where the last one ended) reads
     * ahead: the rest of the raster as far as the block-cache share and the
     * cost guard allow, so that requests stay full and the connections busy
     * across GDAL's swaths instead of draining at the end of each one. */
    const bool bAhead = nXOff == m_seqX && nXSize == m_seqW && nYOff == m_seqEnd &&
                        nYOff + nYSize < nRasterYSize;
    m_seqX = nXOff;
    m_seqW = nXSize;
    m_seqEnd = nYOff + nYSize;
    std::vector<int> tiles = MissingTiles(nXOff, nYOff, nXSize, nYSize);
    if (bAhead)
    {
        const size_t nOwn = tiles.size() / 2;
        const int nRows = StripRows(nXOff, nYOff, nXSize, nRasterYSize - nYOff);
        if (nRows > nYSize)
            tiles = MissingTiles(nXOff, nYOff, nXSize, nRows); /* the window's rows first */
        const size_t nCap = std::max(
            nOwn, static_cast<size_t>(std::max(0L, eem_predictor_max_predictions(
                                                       m_shared->predictor))));
        if (tiles.size() / 2 > nCap)
            tiles.resize(2 * nCap);
    }
    return PredictTiles(tiles);
}

CPLErr EEModelDataset::ReadTileBlock(GDALRasterBand *poBand, int nBlockX, int nBlockY,
                                     void *pImage)
{
    /* GDALRasterBand::ReadBlock() calls IReadBlock even when the block is
     * cached (filled by another band's prediction): copy it, never predict
     * the tile again. */
    if (GDALRasterBlock *poCached = poBand->TryGetLockedBlockRef(nBlockX, nBlockY))
    {
        const bool bOther = poCached->GetDataRef() != pImage;
        if (bOther)
            memcpy(pImage, poCached->GetDataRef(),
                   static_cast<size_t>(m_blockXSize) * m_blockYSize *
                       GDALGetDataTypeSizeBytes(poBand->GetRasterDataType()));
        poCached->DropLock();
        if (bOther)
            return CE_None;
    }
    m_pendingBand = poBand;
    m_pendingX = nBlockX;
    m_pendingY = nBlockY;
    m_pendingImage = pImage;
    CPLErr eErr = m_reduced ? ReduceBlock(nBlockX, nBlockY) : PredictTiles({nBlockX, nBlockY});
    m_pendingBand = nullptr;
    m_pendingImage = nullptr;
    m_pendingX = m_pendingY = -1;
    return eErr;
}

eem_status EEModelDataset::StoreMaskTile(void *user, int level, int tx, int ty, void *const *,
                                         const uint8_t *mask, eem_error *err)
{
    auto *poDS = static_cast<EEModelDataset *>(user);
    (void)level;
    if (!FillBlock(poDS->m_mask.get(), tx, ty, mask,
                   static_cast<size_t>(poDS->m_blockXSize) * poDS->m_blockYSize,
                   poDS->m_pendingBand, poDS->m_pendingX, poDS->m_pendingY,
                   poDS->m_pendingImage))
        return eem_error_set(err, EEM_ERR_NOMEM, "no room in GDAL's block cache");
    return EEM_OK;
}

bool EEModelDataset::TakeRetryTile(int tx, int ty)
{
    for (size_t k = 0; k + 1 < m_retryTiles.size(); k += 2)
        if (m_retryTiles[k] == tx && m_retryTiles[k + 1] == ty)
        {
            m_retryTiles.erase(m_retryTiles.begin() + k, m_retryTiles.begin() + k + 2);
            return true;
        }
    return false;
}

CPLErr EEModelDataset::ComputeMasks(int nXOff, int nYOff, int nXSize, int nYSize)
{
    if (m_reduced)
        return PrefetchWindow(nXOff, nYOff, nXSize, nYSize);
    eem_rect win = {nXOff, nYOff, nXSize, nYSize};
    int i0, j0, i1, j1;
    eem_grid_tiles_for_output_window(m_grid, win, &i0, &j0, &i1, &j1);
    std::vector<int> missing, retry;
    for (int j = j0; j < j1; j++)
        for (int i = i0; i < i1; i++)
            if (!IsBlockCached(m_mask.get(), i, j))
            {
                std::vector<int> &list = TakeRetryTile(i, j) ? retry : missing;
                list.push_back(i);
                list.push_back(j);
            }
    /* a tile whose prediction failed is valid only once predicted */
    if (PredictTiles(retry) != CE_None)
        return CE_Failure;
    if (missing.empty())
        return CE_None;
    eem_error err{};
    if (eem_predictor_compute_masks(m_shared->predictor, m_level, missing.data(),
                                    static_cast<int>(missing.size() / 2), StoreMaskTile, this,
                                    &err) != EEM_OK)
    {
        ReportCoreError(err);
        return CE_Failure;
    }
    return CE_None;
}

CPLErr EEModelDataset::ReadMaskBlock(int nBlockX, int nBlockY, void *pImage)
{
    if (m_reduced || TakeRetryTile(nBlockX, nBlockY))
        return ReadTileBlock(m_mask.get(), nBlockX, nBlockY, pImage);
    if (GDALRasterBlock *poCached = m_mask->TryGetLockedBlockRef(nBlockX, nBlockY))
    {
        const bool bOther = poCached->GetDataRef() != pImage;
        if (bOther)
            memcpy(pImage, poCached->GetDataRef(),
                   static_cast<size_t>(m_blockXSize) * m_blockYSize);
        poCached->DropLock();
        if (bOther)
            return CE_None;
    }
    m_pendingBand = m_mask.get();
    m_pendingX = nBlockX;
    m_pendingY = nBlockY;
    m_pendingImage = pImage;
    const int tile[2] = {nBlockX, nBlockY};
    eem_error err{};
    const eem_status st = eem_predictor_compute_masks(m_shared->predictor, m_level, tile, 1,
                                                      StoreMaskTile, this, &err);
    m_pendingBand = nullptr;
    m_pendingImage = nullptr;
    m_pendingX = m_pendingY = -1;
    if (st != EEM_OK)
    {
        ReportCoreError(err);
        return CE_Failure;
    }
    return CE_None;
}

/* Share of GDAL's block cache (1/N) one prefetch may fill: the rest holds
 * the caller's other blocks (e.g. gdal_translate's output swath). */
static constexpr int EEM_PREFETCH_CACHE_SHARE = 4;

int EEModelDataset::StripRows(int nXOff, int nYOff, int nXSize, int nYSize)
{
    if (m_reduced || nYSize <= 0 || nXSize <= 0)
        return nYSize;
    eem_rect win = {nXOff, nYOff, nXSize, nYSize};
    int i0, j0, i1, j1;
    eem_grid_tiles_for_output_window(m_grid, win, &i0, &j0, &i1, &j1);
    GIntBig tileBytes = static_cast<GIntBig>(m_blockXSize) * m_blockYSize; /* the mask */
    for (int i = 1; i <= nBands; i++)
        tileBytes += static_cast<GIntBig>(m_blockXSize) * m_blockYSize *
                     GDALGetDataTypeSizeBytes(GetRasterBand(i)->GetRasterDataType());
    const GIntBig rowBytes = std::max<GIntBig>(1, (i1 - i0) * tileBytes);
    const GIntBig tileRows =
        std::max<GIntBig>(1, GDALGetCacheMax64() / EEM_PREFETCH_CACHE_SHARE / rowBytes);
    if (tileRows >= j1 - j0)
        return nYSize;
    const GIntBig end = (j0 + tileRows) * m_blockYSize; /* first row past those tile rows */
    return static_cast<int>(std::min<GIntBig>(nYSize, std::max<GIntBig>(1, end - nYOff)));
}

/* Prefetch, capped: a full-resolution window only, at most the tiles that fit
 * the block-cache share (StripRows) and the cost guard. */
CPLErr EEModelDataset::AdviseRead(int nXOff, int nYOff, int nXSize, int nYSize, int nBufXSize,
                                  int nBufYSize, GDALDataType, int, int *, char **)
{
    if (m_reduced || nBufXSize < nXSize || nBufYSize < nYSize)
        return CE_None;
    std::vector<int> missing =
        MissingTiles(nXOff, nYOff, nXSize, StripRows(nXOff, nYOff, nXSize, nYSize));
    const size_t cap = static_cast<size_t>(
        std::max(0L, eem_predictor_max_predictions(m_shared->predictor)));
    if (missing.size() / 2 > cap)
        missing.resize(2 * cap);
    return PredictTiles(missing);
}

/* The cost guard over a whole window that will be read in several parts. */
CPLErr EEModelDataset::GuardWindow(int nXOff, int nYOff, int nXSize, int nYSize)
{
    const long long nTiles =
        static_cast<long long>(MissingTiles(nXOff, nYOff, nXSize, nYSize).size() / 2);
    eem_error err{};
    if (eem_cost_check(m_shared->predictor, nTiles, "this read", &err) != EEM_OK)
    {
        ReportCoreError(err);
        return CE_Failure;
    }
    return CE_None;
}

CPLErr EEModelDataset::PrepareWholeRead()
{
    if (m_reduced)
        return ReduceWindow(0, 0, nRasterXSize, nRasterYSize);
    std::vector<int> missing = MissingTiles(0, 0, nRasterXSize, nRasterYSize);
    const long long nTiles = static_cast<long long>(missing.size() / 2);
    eem_error err{};
    if (eem_cost_check(m_shared->predictor, nTiles, "this whole-band computation", &err) !=
        EEM_OK)
    {
        ReportCoreError(err);
        return CE_Failure;
    }
    /* Predict in one go only when every tile stays in the block cache; else
     * the blocks are predicted as GDAL reads them (already guarded above). */
    if (!FitsInBlockCache(nTiles))
        return CE_None;
    return PredictTiles(missing);
}

/* 1 when n tiles of all bands and the mask fill at most half of GDAL's block cache. */
bool EEModelDataset::FitsInBlockCache(long long nTiles)
{
    GIntBig tileBytes = static_cast<GIntBig>(m_blockXSize) * m_blockYSize;
    for (int i = 1; i <= nBands; i++)
        tileBytes += static_cast<GIntBig>(m_blockXSize) * m_blockYSize *
                     GDALGetDataTypeSizeBytes(GetRasterBand(i)->GetRasterDataType());
    return nTiles * tileBytes <= GDALGetCacheMax64() / 2;
}

/************************************************************************/
/*           FIX_INPUT_PROJ=true overviews: reduced predictions         */
/************************************************************************/

void EEModelDataset::BaseWindow(int nXOff, int nYOff, int nXSize, int nYSize, int &x, int &y,
                                int &w, int &h) const
{
    x = nXOff * m_factor;
    y = nYOff * m_factor;
    w = std::min((nXOff + nXSize) * m_factor, m_base->nRasterXSize) - x;
    h = std::min((nYOff + nYSize) * m_factor, m_base->nRasterYSize) - y;
}

/* Reduce every block of the window that is not cached yet, after checking the
 * full-resolution tiles all of them need against the cost guard. */
CPLErr EEModelDataset::ReduceWindow(int nXOff, int nYOff, int nXSize, int nYSize)
{
    std::vector<int> blocks = MissingTiles(nXOff, nYOff, nXSize, nYSize);
    if (blocks.empty())
        return CE_None;
    /* A block's full-resolution window starts on a tile boundary (the block
     * size is level 0's tile), so blocks never share a level-0 tile. */
    std::vector<int> baseTiles;
    for (size_t k = 0; k < blocks.size(); k += 2)
    {
        int x, y, w, h;
        BaseWindow(blocks[k] * m_blockXSize, blocks[k + 1] * m_blockYSize, m_blockXSize,
                   m_blockYSize, x, y, w, h);
        const std::vector<int> missing = m_base->MissingTiles(x, y, w, h);
        baseTiles.insert(baseTiles.end(), missing.begin(), missing.end());
    }
    const long long nTiles = static_cast<long long>(baseTiles.size() / 2);
    eem_error err{};
    const std::string what =
        CPLSPrintf("this read of overview %d (1/%d; FIX_INPUT_PROJ=true reduces full-resolution "
                   "predictions)",
                   m_level, m_factor);
    if (eem_cost_check(m_shared->predictor, nTiles, what.c_str(), &err) != EEM_OK)
    {
        ReportCoreError(err);
        return CE_Failure;
    }
    /* one batched prediction of every tile when they all stay in the cache;
     * else each block predicts its own tiles */
    if (m_base->FitsInBlockCache(nTiles) && m_base->PredictTiles(baseTiles) != CE_None)
        return CE_Failure;
    for (size_t k = 0; k < blocks.size(); k += 2)
        if (ReduceBlock(blocks[k], blocks[k + 1]) != CE_None)
            return CE_Failure;
    return CE_None;
}

/* Block (bx,by) of every band and the mask from level 0: predict the level-0
 * tiles it covers, then reduce them strip by strip (core reduce.c). */
CPLErr EEModelDataset::ReduceBlock(int bx, int by)
{
    const int bw = m_blockXSize, bh = m_blockYSize, f = m_factor;
    const int ox0 = bx * bw, oy0 = by * bh;
    const int ow = std::min(bw, nRasterXSize - ox0), oh = std::min(bh, nRasterYSize - oy0);
    if (ow <= 0 || oh <= 0)
        return CE_None;
    int x0, y0, w0, h0;
    BaseWindow(ox0, oy0, ow, oh, x0, y0, w0, h0);
    {
        /* a block read on its own (IReadBlock) is one read: guard it too */
        eem_error err{};
        const long long nTiles =
            static_cast<long long>(m_base->MissingTiles(x0, y0, w0, h0).size() / 2);
        const std::string what = CPLSPrintf("block %d,%d of overview %d (1/%d; FIX_INPUT_PROJ=true)",
                                            bx, by, m_level, f);
        if (eem_cost_check(m_shared->predictor, nTiles, what.c_str(), &err) != EEM_OK)
        {
            ReportCoreError(err);
            return CE_Failure;
        }
    }
    if (m_base->PrefetchWindow(x0, y0, w0, h0) != CE_None)
        return CE_Failure;

    const eem_spec *spec = m_shared->spec;
    const double fill = spec->has_nodata ? spec->nodata : 0.0;
    const size_t nPixels = static_cast<size_t>(bw) * bh;
    std::vector<std::vector<GByte>> blockData(nBands);
    std::vector<void *> blockPtrs(nBands);
    for (int b = 0; b < nBands; b++)
    {
        const GDALDataType eType = GetRasterBand(b + 1)->GetRasterDataType();
        const int nSize = GDALGetDataTypeSizeBytes(eType);
        blockData[b].resize(nPixels * nSize);
        GDALCopyWords64(&fill, GDT_Float64, 0, blockData[b].data(), eType, nSize,
                        static_cast<GPtrDiff_t>(nPixels));
        blockPtrs[b] = blockData[b].data();
    }
    std::vector<uint8_t> maskBlock(nPixels, 0);

    /* output columns per strip read, so a strip stays within EEM_REDUCE_STRIP_BYTES */
    const size_t perColumn = static_cast<size_t>(f) * f * sizeof(double);
    const int nChunk = static_cast<int>(
        std::max<size_t>(1, std::min<size_t>(ow, EEM_REDUCE_STRIP_BYTES / perColumn)));
    std::vector<double> values(static_cast<size_t>(nChunk) * f * f);
    std::vector<uint8_t> mask(values.size());
    std::vector<double> scratch(static_cast<size_t>(f) * f), out(nChunk);
    std::vector<uint8_t> outMask(nChunk);
    for (int r = 0; r < oh; r++)
    {
        const int sy = (oy0 + r) * f;
        const int sh = std::min(sy + f, m_base->nRasterYSize) - sy;
        for (int c0 = 0; c0 < ow; c0 += nChunk)
        {
            const int nc = std::min(nChunk, ow - c0);
            const int sx = (ox0 + c0) * f;
            const int sw = std::min(sx + nc * f, m_base->nRasterXSize) - sx;
            if (m_base->m_mask->ReadBlocksOnly(sx, sy, sw, sh, mask.data(), GDT_Byte) !=
                CE_None)
                return CE_Failure;
            for (int b = 0; b < nBands; b++)
            {
                auto *poBase = static_cast<EEModelRasterBand *>(m_base->GetRasterBand(b + 1));
                if (poBase->ReadBlocksOnly(sx, sy, sw, sh, values.data(), GDT_Float64) !=
                    CE_None)
                    return CE_Failure;
                const eem_reduce_method method = eem_reduce_method_for(
                    eem_predictor_band_type(m_shared->predictor, b));
                eem_reduce_strip(method, values.data(), mask.data(), sw, sh, f, fill, out.data(),
                                 outMask.data(), scratch.data());
                const GDALDataType eType = GetRasterBand(b + 1)->GetRasterDataType();
                const int nSize = GDALGetDataTypeSizeBytes(eType);
                GDALCopyWords64(out.data(), GDT_Float64, sizeof(double),
                                blockData[b].data() + (static_cast<size_t>(r) * bw + c0) * nSize,
                                eType, nSize, nc);
            }
            memcpy(maskBlock.data() + static_cast<size_t>(r) * bw + c0, outMask.data(), nc);
        }
    }
    if (!StoreBlock(bx, by, blockPtrs.data(), maskBlock.data()))
    {
        CPLError(CE_Failure, CPLE_OutOfMemory, "EEMODEL: no room in GDAL's block cache");
        return CE_Failure;
    }
    return CE_None;
}

/* A downsampled read that an overview serves is prefetched by that overview's
 * own IRasterIO; every other read predicts its whole window in one go. */
static bool ServedByOverview(GDALRasterBand *poBand, int nXOff, int nYOff, int nXSize,
                             int nYSize, int nBufXSize, int nBufYSize)
{
    if (nBufXSize >= nXSize && nBufYSize >= nYSize)
        return false;
    int x = nXOff, y = nYOff, w = nXSize, h = nYSize;
    return GDALBandGetBestOverviewLevel2(poBand, x, y, w, h, nBufXSize, nBufYSize, nullptr) >= 0;
}

CPLErr EEModelDataset::IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize,
                                 int nYSize, void *pData, int nBufXSize, int nBufYSize,
                                 GDALDataType eBufType, int nBandCount, int *panBandMap,
                                 GSpacing nPixelSpace, GSpacing nLineSpace, GSpacing nBandSpace,
                                 GDALRasterIOExtraArg *psExtraArg)
{
    if (eRWFlag == GF_Write)
    {
        CPLError(CE_Failure, CPLE_NotSupported, "EEMODEL: the driver is read-only");
        return CE_Failure;
    }
    const bool bOverview = nBands > 0 && ServedByOverview(GetRasterBand(1), nXOff, nYOff, nXSize,
                                                          nYSize, nBufXSize, nBufYSize);
    if (!bOverview && nBufXSize == nXSize && nBufYSize == nYSize &&
        StripRows(nXOff, nYOff, nXSize, nYSize) < nYSize)
    {
        /* too many tiles to stay in the block cache: read in strips that do,
         * after the cost guard has seen the whole window */
        if (GuardWindow(nXOff, nYOff, nXSize, nYSize) != CE_None)
            return CE_Failure;
        for (int y = 0, h = 0; y < nYSize; y += h)
        {
            h = StripRows(nXOff, nYOff + y, nXSize, nYSize - y);
            if (IRasterIO(eRWFlag, nXOff, nYOff + y, nXSize, h,
                          static_cast<GByte *>(pData) + y * nLineSpace, nXSize, h, eBufType,
                          nBandCount, panBandMap, nPixelSpace, nLineSpace, nBandSpace,
                          psExtraArg) != CE_None)
                return CE_Failure;
        }
        return CE_None;
    }
    EEModelReadScope oRead(this, psExtraArg);
    if (!bOverview && oRead.Prefetch(nXOff, nYOff, nXSize, nYSize) != CE_None)
        return CE_Failure;
    return GDALDataset::IRasterIO(eRWFlag, nXOff, nYOff, nXSize, nYSize, pData, nBufXSize,
                                  nBufYSize, eBufType, nBandCount, panBandMap, nPixelSpace,
                                  nLineSpace, nBandSpace, oRead.ExtraArg());
}

/************************************************************************/
/*                          EEModelRasterBand                           */
/************************************************************************/

EEModelRasterBand::EEModelRasterBand(EEModelDataset *poDSIn, int nBandIn, int index)
    : m_index(index)
{
    poDS = poDSIn;
    nBand = nBandIn;
    const eem_predictor *pred = poDSIn->m_shared->predictor;
    const eem_dtype t = eem_predictor_band_type(pred, index);
    eDataType = GDALTypeOf(t);
    if (t == EEM_DT_INT8)
        SetMetadataItem("PIXELTYPE", "SIGNEDBYTE", "IMAGE_STRUCTURE");
    SetMetadataItem("EEMODEL_OUTPUT_TYPE", eem_dtype_name(t));
    nBlockXSize = poDSIn->m_blockXSize;
    nBlockYSize = poDSIn->m_blockYSize;
    nRasterXSize = poDSIn->nRasterXSize;
    nRasterYSize = poDSIn->nRasterYSize;
    SetDescription(eem_predictor_band_name(pred, index));
}

CPLErr EEModelRasterBand::IReadBlock(int nBlockXOff, int nBlockYOff, void *pImage)
{
    return static_cast<EEModelDataset *>(poDS)->ReadTileBlock(this, nBlockXOff, nBlockYOff,
                                                              pImage);
}

CPLErr EEModelRasterBand::AdviseRead(int nXOff, int nYOff, int nXSize, int nYSize,
                                     int nBufXSize, int nBufYSize, GDALDataType eDT,
                                     char **papszOptions)
{
    return poDS->AdviseRead(nXOff, nYOff, nXSize, nYSize, nBufXSize, nBufYSize, eDT, 1, &nBand,
                            papszOptions);
}

CPLErr EEModelRasterBand::IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize,
                                    int nYSize, void *pData, int nBufXSize, int nBufYSize,
                                    GDALDataType eBufType, GSpacing nPixelSpace,
                                    GSpacing nLineSpace, GDALRasterIOExtraArg *psExtraArg)
{
    if (eRWFlag == GF_Write)
    {
        CPLError(CE_Failure, CPLE_NotSupported, "EEMODEL: the driver is read-only");
        return CE_Failure;
    }
    const bool bOverview =
        ServedByOverview(this, nXOff, nYOff, nXSize, nYSize, nBufXSize, nBufYSize);
    auto *poEEDS = static_cast<EEModelDataset *>(poDS);
    if (!bOverview && nBufXSize == nXSize && nBufYSize == nYSize &&
        poEEDS->StripRows(nXOff, nYOff, nXSize, nYSize) < nYSize)
    {
        /* too many tiles to stay in the block cache: read in strips that do,
         * after the cost guard has seen the whole window */
        if (poEEDS->GuardWindow(nXOff, nYOff, nXSize, nYSize) != CE_None)
            return CE_Failure;
        for (int y = 0, h = 0; y < nYSize; y += h)
        {
            h = poEEDS->StripRows(nXOff, nYOff + y, nXSize, nYSize - y);
            if (IRasterIO(eRWFlag, nXOff, nYOff + y, nXSize, h,
                          static_cast<GByte *>(pData) + y * nLineSpace, nXSize, h, eBufType,
                          nPixelSpace, nLineSpace, psExtraArg) != CE_None)
                return CE_Failure;
        }
        return CE_None;
    }
    EEModelReadScope oRead(poEEDS, psExtraArg);
    if (!bOverview && oRead.Prefetch(nXOff, nYOff, nXSize, nYSize) != CE_None)
        return CE_Failure;
    return GDALRasterBand::IRasterIO(eRWFlag, nXOff, nYOff, nXSize, nYSize, pData, nBufXSize,
                                     nBufYSize, eBufType, nPixelSpace, nLineSpace,
                                     oRead.ExtraArg());
}

double EEModelRasterBand::GetNoDataValue(int *pbSuccess)
{
    const eem_spec *spec = static_cast<EEModelDataset *>(poDS)->m_shared->spec;
    if (pbSuccess)
        *pbSuccess = spec->has_nodata;
    return spec->has_nodata ? spec->nodata : 0.0;
}

int EEModelRasterBand::GetMaskFlags()
{
    return GMF_PER_DATASET;
}

GDALRasterBand *EEModelRasterBand::GetMaskBand()
{
    return static_cast<EEModelDataset *>(poDS)->MaskBand();
}

int EEModelRasterBand::GetOverviewCount()
{
    return static_cast<EEModelDataset *>(poDS)->OverviewCount();
}

GDALRasterBand *EEModelRasterBand::GetOverview(int i)
{
    auto *poEEDS = static_cast<EEModelDataset *>(poDS);
    if (i < 0 || i >= poEEDS->OverviewCount())
        return nullptr;
    return poEEDS->Overview(i)->GetRasterBand(nBand);
}

/* A window of this band from its blocks, without prefetch or read-ahead: the
 * reductions of FIX_INPUT_PROJ=true overviews have predicted the tiles already
 * (an evicted block is predicted again by IReadBlock). */
CPLErr EEModelRasterBand::ReadBlocksOnly(int nXOff, int nYOff, int nXSize, int nYSize,
                                         void *pData, GDALDataType eType)
{
    GDALRasterIOExtraArg sExtra;
    INIT_RASTERIO_EXTRA_ARG(sExtra);
    const int nSize = GDALGetDataTypeSizeBytes(eType);
    return GDALRasterBand::IRasterIO(GF_Read, nXOff, nYOff, nXSize, nYSize, pData, nXSize,
                                     nYSize, eType, nSize,
                                     static_cast<GSpacing>(nSize) * nXSize, &sExtra);
}

CPLErr EEModelMaskBand::ReadBlocksOnly(int nXOff, int nYOff, int nXSize, int nYSize,
                                       void *pData, GDALDataType eType)
{
    GDALRasterIOExtraArg sExtra;
    INIT_RASTERIO_EXTRA_ARG(sExtra);
    const int nSize = GDALGetDataTypeSizeBytes(eType);
    return GDALRasterBand::IRasterIO(GF_Read, nXOff, nYOff, nXSize, nYSize, pData, nXSize,
                                     nYSize, eType, nSize,
                                     static_cast<GSpacing>(nSize) * nXSize, &sExtra);
}

/* Statistics and histograms scan a whole band (approximate ones: the sample
 * overview GDAL picks): one guarded read of that band. */
CPLErr EEModelRasterBand::PrepareWholeBandRead(int bApproxOK)
{
    GDALRasterBand *poTarget = this;
    if (bApproxOK)
        poTarget = GetRasterSampleOverview(GDALSTAT_APPROX_NUMSAMPLES);
    auto *poEEDS = dynamic_cast<EEModelDataset *>(poTarget ? poTarget->GetDataset() : nullptr);
    return poEEDS ? poEEDS->PrepareWholeRead() : CE_None;
}

CPLErr EEModelRasterBand::ComputeStatistics(int bApproxOK, double *pdfMin, double *pdfMax,
                                            double *pdfMean, double *pdfStdDev,
                                            GDALProgressFunc pfnProgress, void *pProgressData)
{
    if (PrepareWholeBandRead(bApproxOK) != CE_None)
        return CE_Failure;
    return GDALRasterBand::ComputeStatistics(bApproxOK, pdfMin, pdfMax, pdfMean, pdfStdDev,
                                             pfnProgress, pProgressData);
}

CPLErr EEModelRasterBand::ComputeRasterMinMax(int bApproxOK, double *adfMinMax)
{
    if (PrepareWholeBandRead(bApproxOK) != CE_None)
        return CE_Failure;
    return GDALRasterBand::ComputeRasterMinMax(bApproxOK, adfMinMax);
}

CPLErr EEModelRasterBand::GetHistogram(double dfMin, double dfMax, int nBuckets,
                                       GUIntBig *panHistogram, int bIncludeOutOfRange,
                                       int bApproxOK, GDALProgressFunc pfnProgress,
                                       void *pProgressData)
{
    if (PrepareWholeBandRead(bApproxOK) != CE_None)
        return CE_Failure;
    return GDALRasterBand::GetHistogram(dfMin, dfMax, nBuckets, panHistogram,
                                        bIncludeOutOfRange, bApproxOK, pfnProgress,
                                        pProgressData);
}

/************************************************************************/
/*                          EEModelMaskBand                             */
/************************************************************************/

EEModelMaskBand::EEModelMaskBand(EEModelDataset *poDSIn)
{
    poDS = poDSIn;
    nBand = 0;
    eDataType = GDT_Byte;
    nBlockXSize = poDSIn->m_blockXSize;
    nBlockYSize = poDSIn->m_blockYSize;
    nRasterXSize = poDSIn->nRasterXSize;
    nRasterYSize = poDSIn->nRasterYSize;
}

CPLErr EEModelMaskBand::IReadBlock(int nBlockXOff, int nBlockYOff, void *pImage)
{
    return static_cast<EEModelDataset *>(poDS)->ReadMaskBlock(nBlockXOff, nBlockYOff, pImage);
}

CPLErr EEModelMaskBand::IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize,
                                  int nYSize, void *pData, int nBufXSize, int nBufYSize,
                                  GDALDataType eBufType, GSpacing nPixelSpace,
                                  GSpacing nLineSpace, GDALRasterIOExtraArg *psExtraArg)
{
    if (eRWFlag == GF_Write)
    {
        CPLError(CE_Failure, CPLE_NotSupported, "EEMODEL: the driver is read-only");
        return CE_Failure;
    }
    const bool bOverview =
        ServedByOverview(this, nXOff, nYOff, nXSize, nYSize, nBufXSize, nBufYSize);
    auto *poEEDS = static_cast<EEModelDataset *>(poDS);
    if (!bOverview && nBufXSize == nXSize && nBufYSize == nYSize &&
        poEEDS->StripRows(nXOff, nYOff, nXSize, nYSize) < nYSize)
    {
        /* too many tiles to stay in the block cache: read in strips that do */
        for (int y = 0, h = 0; y < nYSize; y += h)
        {
            h = poEEDS->StripRows(nXOff, nYOff + y, nXSize, nYSize - y);
            if (IRasterIO(eRWFlag, nXOff, nYOff + y, nXSize, h,
                          static_cast<GByte *>(pData) + y * nLineSpace, nXSize, h, eBufType,
                          nPixelSpace, nLineSpace, psExtraArg) != CE_None)
                return CE_Failure;
        }
        return CE_None;
    }
    /* a mask read keeps the failed tiles of the last band read (their mask
     * says so); the next band read predicts them again */
    EEModelReadScope oRead(poEEDS, psExtraArg, /*bRetryFailedTiles=*/false);
    /* a mask needs no prediction: blocks evicted since the bands were read
     * (gdal_translate copies the mask last) are recomputed from the source */
    if (!bOverview && poEEDS->ComputeMasks(nXOff, nYOff, nXSize, nYSize) != CE_None)
        return CE_Failure;
    return GDALRasterBand::IRasterIO(eRWFlag, nXOff, nYOff, nXSize, nYSize, pData, nBufXSize,
                                     nBufYSize, eBufType, nPixelSpace, nLineSpace,
                                     oRead.ExtraArg());
}

int EEModelMaskBand::GetOverviewCount()
{
    return static_cast<EEModelDataset *>(poDS)->OverviewCount();
}

GDALRasterBand *EEModelMaskBand::GetOverview(int i)
{
    auto *poEEDS = static_cast<EEModelDataset *>(poDS);
    if (i < 0 || i >= poEEDS->OverviewCount())
        return nullptr;
    return poEEDS->Overview(i)->MaskBand();
}
