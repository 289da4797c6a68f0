/* eemodel_read.cpp — what a GDAL read of an EEMODEL dataset predicts: asks
 * the core's read planner (readplan.h) which tiles a window, a block, a mask
 * or a whole band needs, applies its cost guard, and has the core predict
 * them — through the prediction pipeline (pipeline.h) with READ_AHEAD=AUTO,
 * else synchronously — answers going to the block cache in the calling
 * thread (eemodel_blockcache.cpp). */
#include "eemodel_probe.h" /* blend.h */
#include "eemodel_dataset.h"

#include "cpl_error.h"


/* Planning figures of this level for the core. */
eem_read_level EEModelDataset::ReadLevel()
{
    eem_read_level level{};
    level.grid = m_grid;
    level.level = m_level;
    level.reduced = m_reduced;
    level.factor = m_factor;
    level.width = nRasterXSize;
    level.height = nRasterYSize;
    if (m_base != nullptr)
    {
        level.base_width = m_base->nRasterXSize;
        level.base_height = m_base->nRasterYSize;
    }
    level.tile_bytes = TileBytes();
    level.is_cached = IsTileCachedCallback;
    level.user = this;
    level.predictor = m_shared->predictor; /* the budget spent, tiles already held */
    return level;
}

long EEModelDataset::MaxPredictions() const
{
    /* OVERLAP_MODE=BLEND: a block costs up to 4 predictions; plans count blocks */
    const long n = eem_predictor_max_predictions(m_shared->predictor);
    return m_shared->spec->overlap_mode == EEM_OVERLAP_BLEND && n >= 4 ? n / 4 : n;
}

CPLErr EEModelDataset::PredictTiles(const int *tiles, int nTiles)
{
    if (nTiles <= 0)
        return CE_None;
    eem_error err{};
    const int nFailedBefore = m_failedTiles.n;
    if (m_progress != nullptr)
        m_progress->Start(nTiles);
    eem_predictor *pred = m_shared->predictor;
    /* READ_AHEAD=AUTO: the pipeline predicts in the background and hands this
     * read its tiles as they are finished (pipeline.h); OVERLAP_MODE=BLEND:
     * the core blends offset tiles into each block (blend.c), synchronously */
    eem_pipeline *pipeline = eem_predictor_pipeline(pred);
    eem_status st;
    if (pipeline != nullptr)
        st = eem_pipeline_predict(pipeline, m_level, tiles, nTiles, StoreTile, this,
                                  EEModelReadProgress::CancelCallback, m_progress, &err);
    else
        st = (m_shared->spec->overlap_mode == EEM_OVERLAP_BLEND ? eem_blend_compute
                                                                 : eem_predictor_compute)(
            pred, m_level, tiles, nTiles, StoreTile, this, EEModelReadProgress::CancelCallback,
            m_progress, &err);
    /* a failure of the pipeline's worker comes back here, to the read that
     * needs the failed tiles, and is reported in this (the calling) thread */
    if (st != EEM_OK)
    {
        if (st == EEM_ERR_CANCELLED) /* the pipeline forgot the announcement */
            m_announced[0] = m_announced[1] = m_announced[2] = m_announced[3] = -1;
        return EEModelFail(err);
    }
    if (m_failedTiles.n > nFailedBefore)
        CPLError(CE_Warning, CPLE_AppDefined,
                 "EEMODEL: %d tile(s) masked because their prediction failed "
                 "(ON_ERROR=NODATA): %s",
                 m_failedTiles.n - nFailedBefore, m_lastFailure.c_str());
    return CE_None;
}

CPLErr EEModelDataset::PrefetchWindow(int nXOff, int nYOff, int nXSize, int nYSize)
{
    if (m_reduced)
        return ReduceWindow(nXOff, nYOff, nXSize, nYSize);
    eem_read_level level = ReadLevel();
    EEModelTileList tiles;
    eem_error err{};
    /* the tiles this read touches, never more: what lies beyond is predicted
     * ahead only when the reader announced it (AdviseRead) */
    if (eem_readplan_missing_tiles(&level, {nXOff, nYOff, nXSize, nYSize}, &tiles, &err) !=
        EEM_OK)
        return EEModelFail(err);
    return PredictTiles(tiles);
}

bool EEModelDataset::NeedsStrips(int nXOff, int nYOff, int nXSize, int nYSize, int nBufXSize,
                                 int nBufYSize)
{
    if (nBufXSize != nXSize || nBufYSize != nYSize)
        return false;
    eem_read_level level = ReadLevel();
    return eem_readplan_strip_rows(&level, {nXOff, nYOff, nXSize, nYSize}, GDALGetCacheMax64()) <
           nYSize;
}

CPLErr EEModelDataset::ReadInStrips(
    int nXOff, int nYOff, int nXSize, int nYSize, bool bGuard,
    const GDALRasterIOExtraArg *psExtraArg,
    const std::function<CPLErr(int y, int h, GDALRasterIOExtraArg *psStripArg)> &fnStrip)
{
    eem_read_level level = ReadLevel();
    eem_error err{};
    if (bGuard && eem_readplan_guard(&level, {nXOff, nYOff, nXSize, nYSize}, MaxPredictions(),
                                     &err) != EEM_OK)
        return EEModelFail(err);
    for (int y = 0, h = 0; y < nYSize; y += h)
    {
        h = eem_readplan_strip_rows(&level, {nXOff, nYOff + y, nXSize, nYSize - y},
                                    GDALGetCacheMax64());
        EEModelStripExtraArg oStripArg(psExtraArg, nYSize, y, h);
        if (fnStrip(y, h, oStripArg.Get()) != CE_None)
            return CE_Failure;
    }
    return CE_None;
}

void EEModelDataset::SetPendingBlock(GDALRasterBand *poBand, int nBlockX, int nBlockY,
                                     void *pImage)
{
    m_pendingBand = poBand;
    m_pendingX = nBlockX;
    m_pendingY = nBlockY;
    m_pendingImage = pImage;
}

CPLErr EEModelDataset::ReadTileBlock(GDALRasterBand *poBand, int nBlockX, int nBlockY,
                                     void *pImage)
{
    if (CopyCachedBlock(poBand, nBlockX, nBlockY, pImage))
        return CE_None;
    SetPendingBlock(poBand, nBlockX, nBlockY, pImage);
    const int tile[2] = {nBlockX, nBlockY};
    const CPLErr eErr = m_reduced ? ReduceBlock(nBlockX, nBlockY) : PredictTiles(tile, 1);
    SetPendingBlock(nullptr, -1, -1, nullptr);
    return eErr;
}

CPLErr EEModelDataset::ComputeMasks(int nXOff, int nYOff, int nXSize, int nYSize)
{
    if (m_reduced)
        return PrefetchWindow(nXOff, nYOff, nXSize, nYSize);
    eem_read_level level = ReadLevel();
    EEModelTileList retry, missing;
    eem_error err{};
    if (eem_readplan_masks(&level, IsMaskCachedCallback, this, {nXOff, nYOff, nXSize, nYSize},
                           &m_retryTiles, &retry, &missing, &err) != EEM_OK)
        return EEModelFail(err);
    /* a tile whose prediction failed is valid only once predicted */
    if (PredictTiles(retry) != CE_None)
        return CE_Failure;
    if (missing.n == 0)
        return CE_None;
    if (eem_predictor_compute_masks(m_shared->predictor, m_level, missing.xy, missing.n,
                                    StoreMaskTile, this, &err) != EEM_OK)
        return EEModelFail(err);
    return CE_None;
}

CPLErr EEModelDataset::ReadMaskBlock(int nBlockX, int nBlockY, void *pImage)
{
    if (m_reduced || eem_tile_list_take(&m_retryTiles, nBlockX, nBlockY))
        return ReadTileBlock(m_mask.get(), nBlockX, nBlockY, pImage);
    if (CopyCachedBlock(m_mask.get(), nBlockX, nBlockY, pImage))
        return CE_None;
    SetPendingBlock(m_mask.get(), nBlockX, nBlockY, pImage);
    const int tile[2] = {nBlockX, nBlockY};
    eem_error err{};
    const eem_status st = eem_predictor_compute_masks(m_shared->predictor, m_level, tile, 1,
                                                      StoreMaskTile, this, &err);
    SetPendingBlock(nullptr, -1, -1, nullptr);
    if (st != EEM_OK)
    {
        if (st == EEM_ERR_CANCELLED) /* the pipeline forgot the announcement */
            m_announced[0] = m_announced[1] = m_announced[2] = m_announced[3] = -1;
        return EEModelFail(err);
    }
    return CE_None;
}

CPLErr EEModelDataset::PrepareWholeRead()
{
    if (m_reduced)
        return ReduceWindow(0, 0, nRasterXSize, nRasterYSize);
    eem_read_level level = ReadLevel();
    EEModelTileList tiles;
    eem_error err{};
    if (eem_readplan_whole(&level, MaxPredictions(), GDALGetCacheMax64(), &tiles, &err) != EEM_OK)
        return EEModelFail(err);
    return PredictTiles(tiles);
}
