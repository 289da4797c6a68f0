/* eemodel_dataset.cpp — EEMODEL dataset, bands and mask band: GDAL's view of
 * the core predictor.  Reads gather every missing tile of the window, the core
 * predicts them in one go, and each answer fills the blocks of all bands and
 * the mask (QGIS reads band by band: the next band is a cache hit). */
#include "eemodel_dataset.h"

#include "cpl_error.h"
#include "cpl_string.h"

#include <cstring>

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

EEModelShared::~EEModelShared()
{
    eem_predictor_close(predictor);
    eem_spec_free(spec);
}

/************************************************************************/
/*                          EEModelDataset                              */
/************************************************************************/

EEModelDataset::EEModelDataset(std::shared_ptr<EEModelShared> shared, int level)
    : m_shared(std::move(shared)), m_level(level)
{
    eem_predictor *pred = m_shared->predictor;
    m_grid = eem_predictor_grid(pred, level);
    nRasterXSize = m_grid->out_w;
    nRasterYSize = m_grid->out_h;
    eAccess = GA_ReadOnly;
    const eem_source *src = eem_predictor_source(pred);
    if (src->wkt && src->wkt[0])
    {
        m_srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
        m_srs.importFromWkt(src->wkt);
    }
    const int nBands = eem_predictor_band_count(pred);
    for (int i = 0; i < nBands; i++)
        SetBand(i + 1, new EEModelRasterBand(this, i + 1, i));
    m_mask.reset(new EEModelMaskBand(this));
    SetMetadataItem("INTERLEAVE", "PIXEL", "IMAGE_STRUCTURE");
    SetMetadataFromCore();
    if (level == 0)
    {
        for (int k = 1; k < eem_predictor_level_count(pred); k++)
            m_overviews.emplace_back(new EEModelDataset(m_shared, k));
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
    SetMetadataItem("PROTOCOL", eem_protocol_name(ep->protocol), "EEMODEL");
    SetMetadataItem("URL", ep->display_url, "EEMODEL");
    SetMetadataItem("PAYLOAD_FORMAT", eem_payload_format_name(ep->payload_format), "EEMODEL");
    SetMetadataItem("INPUT_TILE_SIZE", CPLSPrintf("%d,%d", spec->tile_w, spec->tile_h), "EEMODEL");
    SetMetadataItem("INPUT_OVERLAP_SIZE", CPLSPrintf("%d,%d", spec->overlap_x, spec->overlap_y),
                    "EEMODEL");
    SetMetadataItem("OUTPUT_TILE_SIZE", CPLSPrintf("%d,%d", spec->out_tile_w, spec->out_tile_h),
                    "EEMODEL");
    SetMetadataItem("SCALE_RATIO",
                    CPLSPrintf("%d/%d,%d/%d", spec->out_tile_w, spec->tile_w, spec->out_tile_h,
                               spec->tile_h),
                    "EEMODEL");
    SetMetadataItem("OVERVIEW_LEVEL", CPLSPrintf("%d", m_level), "EEMODEL");
    SetMetadataItem("TILES", CPLSPrintf("%d", m_grid->tiles_x * m_grid->tiles_y), "EEMODEL");
    SetMetadataItem("MAX_PREDICTIONS", CPLSPrintf("%ld", eem_predictor_max_predictions(pred)),
                    "EEMODEL");
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
    auto *poDS = new EEModelDataset(shared, 0);
    poDS->SetDescription(poOpenInfo->pszFilename);
    return poDS;
}

CPLErr EEModelDataset::GetGeoTransform(double *padfTransform)
{
    memcpy(padfTransform, m_grid->gt_out, 6 * sizeof(double));
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

eem_status EEModelDataset::StoreTile(void *user, int level, int tx, int ty, void *const *bands,
                                     const uint8_t *mask, eem_error *err)
{
    auto *poDS = static_cast<EEModelDataset *>(user);
    const size_t nPixels = static_cast<size_t>(poDS->m_grid->uw) * poDS->m_grid->uh;
    for (int i = 1; i <= poDS->nBands; i++)
    {
        GDALRasterBand *poBand = poDS->GetRasterBand(i);
        const size_t nBytes = nPixels * GDALGetDataTypeSizeBytes(poBand->GetRasterDataType());
        if (!FillBlock(poBand, tx, ty, bands[i - 1], nBytes, poDS->m_pendingBand,
                       poDS->m_pendingX, poDS->m_pendingY, poDS->m_pendingImage))
            return eem_error_set(err, EEM_ERR_NOMEM, "no room in GDAL's block cache");
    }
    if (!FillBlock(poDS->m_mask.get(), tx, ty, mask, nPixels, poDS->m_pendingBand,
                   poDS->m_pendingX, poDS->m_pendingY, poDS->m_pendingImage))
        return eem_error_set(err, EEM_ERR_NOMEM, "no room in GDAL's block cache");
    (void)level;
    return EEM_OK;
}

CPLErr EEModelDataset::PredictTiles(const std::vector<int> &tiles)
{
    if (tiles.empty())
        return CE_None;
    eem_error err{};
    eem_predictor_stats before, after;
    eem_predictor_get_stats(m_shared->predictor, &before);
    if (eem_predictor_compute(m_shared->predictor, m_level, tiles.data(),
                              static_cast<int>(tiles.size() / 2), StoreTile, this, nullptr,
                              nullptr, &err) != EEM_OK)
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

CPLErr EEModelDataset::PrefetchWindow(int nXOff, int nYOff, int nXSize, int nYSize)
{
    eem_rect win = {nXOff, nYOff, nXSize, nYSize};
    int i0, j0, i1, j1;
    eem_grid_tiles_for_output_window(m_grid, win, &i0, &j0, &i1, &j1);
    std::vector<int> missing;
    for (int j = j0; j < j1; j++)
        for (int i = i0; i < i1; i++)
            if (!IsTileCached(i, j))
            {
                missing.push_back(i);
                missing.push_back(j);
            }
    return PredictTiles(missing);
}

CPLErr EEModelDataset::ReadTileBlock(GDALRasterBand *poBand, int nBlockX, int nBlockY,
                                     void *pImage)
{
    m_pendingBand = poBand;
    m_pendingX = nBlockX;
    m_pendingY = nBlockY;
    m_pendingImage = pImage;
    CPLErr eErr = PredictTiles({nBlockX, nBlockY});
    m_pendingBand = nullptr;
    m_pendingImage = nullptr;
    m_pendingX = m_pendingY = -1;
    return eErr;
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
    /* A downsampled read that an overview serves is prefetched by that
     * overview's own IRasterIO. */
    bool bOverview = false;
    if ((nBufXSize < nXSize || nBufYSize < nYSize) && nBands > 0)
    {
        int x = nXOff, y = nYOff, w = nXSize, h = nYSize;
        bOverview = GDALBandGetBestOverviewLevel2(GetRasterBand(1), x, y, w, h, nBufXSize,
                                                  nBufYSize, nullptr) >= 0;
    }
    if (!bOverview && PrefetchWindow(nXOff, nYOff, nXSize, nYSize) != CE_None)
        return CE_Failure;
    return GDALDataset::IRasterIO(eRWFlag, nXOff, nYOff, nXSize, nYSize, pData, nBufXSize,
                                  nBufYSize, eBufType, nBandCount, panBandMap, nPixelSpace,
                                  nLineSpace, nBandSpace, psExtraArg);
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
    nBlockXSize = poDSIn->m_grid->uw;
    nBlockYSize = poDSIn->m_grid->uh;
    nRasterXSize = poDSIn->nRasterXSize;
    nRasterYSize = poDSIn->nRasterYSize;
    SetDescription(eem_predictor_band_name(pred, index));
}

CPLErr EEModelRasterBand::IReadBlock(int nBlockXOff, int nBlockYOff, void *pImage)
{
    return static_cast<EEModelDataset *>(poDS)->ReadTileBlock(this, nBlockXOff, nBlockYOff,
                                                              pImage);
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
    bool bOverview = false;
    if (nBufXSize < nXSize || nBufYSize < nYSize)
    {
        int x = nXOff, y = nYOff, w = nXSize, h = nYSize;
        bOverview =
            GDALBandGetBestOverviewLevel2(this, x, y, w, h, nBufXSize, nBufYSize, nullptr) >= 0;
    }
    if (!bOverview &&
        static_cast<EEModelDataset *>(poDS)->PrefetchWindow(nXOff, nYOff, nXSize, nYSize) !=
            CE_None)
        return CE_Failure;
    return GDALRasterBand::IRasterIO(eRWFlag, nXOff, nYOff, nXSize, nYSize, pData, nBufXSize,
                                     nBufYSize, eBufType, nPixelSpace, nLineSpace, psExtraArg);
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

/************************************************************************/
/*                          EEModelMaskBand                             */
/************************************************************************/

EEModelMaskBand::EEModelMaskBand(EEModelDataset *poDSIn)
{
    poDS = poDSIn;
    nBand = 0;
    eDataType = GDT_Byte;
    nBlockXSize = poDSIn->m_grid->uw;
    nBlockYSize = poDSIn->m_grid->uh;
    nRasterXSize = poDSIn->nRasterXSize;
    nRasterYSize = poDSIn->nRasterYSize;
}

CPLErr EEModelMaskBand::IReadBlock(int nBlockXOff, int nBlockYOff, void *pImage)
{
    return static_cast<EEModelDataset *>(poDS)->ReadTileBlock(this, nBlockXOff, nBlockYOff,
                                                              pImage);
}
