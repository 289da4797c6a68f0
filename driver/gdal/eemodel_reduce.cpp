/* eemodel_reduce.cpp — blocks of FIX_INPUT_PROJ=true overviews: the core plans
 * which level-0 tiles a window needs and guards the cost (readplan.h), level 0
 * predicts them, the core reduces them (reduce.h, reading level 0's blocks
 * through the callbacks here) and the result goes to the block cache in each
 * band's data type. */
#include "eemodel_dataset.h"

#include "cpl_error.h"

extern "C" {
#include "reduce.h"
}

#include <vector>

CPLErr EEModelDataset::ReduceWindow(int nXOff, int nYOff, int nXSize, int nYSize)
{
    eem_read_level level = ReadLevel(), base = m_base->ReadLevel();
    EEModelTileList blocks, baseTiles;
    eem_error err{};
    if (eem_readplan_reduce_window(&level, &base, {nXOff, nYOff, nXSize, nYSize},
                                   MaxPredictions(), GDALGetCacheMax64(), &blocks, &baseTiles,
                                   &err) != EEM_OK)
        return EEModelFail(err);
    if (m_base->PredictTiles(baseTiles) != CE_None)
        return CE_Failure;
    for (int k = 0; k < blocks.n; k++)
        if (ReduceBlock(blocks.xy[2 * k], blocks.xy[2 * k + 1]) != CE_None)
            return CE_Failure;
    return CE_None;
}

/* Level-0 windows for the core's reduction, read from level 0's blocks. */
static eem_status ReadBaseBand(void *user, int band, eem_rect win, double *values,
                               eem_error *err)
{
    auto *poBase = static_cast<EEModelDataset *>(user);
    auto *poBand = static_cast<EEModelBand *>(poBase->GetRasterBand(band + 1));
    if (poBand->ReadBlocksOnly(win.x, win.y, win.w, win.h, values, GDT_Float64) != CE_None)
        return eem_error_set(err, EEM_ERR_IO, "reading full-resolution band %d failed", band + 1);
    return EEM_OK;
}

static eem_status ReadBaseMask(void *user, eem_rect win, uint8_t *mask, eem_error *err)
{
    auto *poBase = static_cast<EEModelDataset *>(user);
    if (static_cast<EEModelBand *>(poBase->MaskBand())
            ->ReadBlocksOnly(win.x, win.y, win.w, win.h, mask, GDT_Byte) != CE_None)
        return eem_error_set(err, EEM_ERR_IO, "reading the full-resolution mask failed");
    return EEM_OK;
}

/* Block (bx,by) of every band and the mask from level 0: predict the level-0
 * tiles it covers, then reduce them (core eem_reduce_block). */
CPLErr EEModelDataset::ReduceBlock(int bx, int by)
{
    eem_read_level level = ReadLevel(), base = m_base->ReadLevel();
    eem_rect block{}, baseWin{};
    eem_error err{};
    if (eem_readplan_reduce_block(&level, &base, bx, by, MaxPredictions(), &block, &baseWin,
                                  &err) != EEM_OK)
        return EEModelFail(err);
    if (block.w <= 0 || block.h <= 0)
        return CE_None;
    if (m_base->PrefetchWindow(baseWin.x, baseWin.y, baseWin.w, baseWin.h) != CE_None)
        return CE_Failure;

    const size_t nPixels = static_cast<size_t>(m_blockXSize) * m_blockYSize;
    std::vector<eem_reduce_method> methods(nBands);
    std::vector<std::vector<double>> reduced(nBands);
    std::vector<double *> reducedPtrs(nBands);
    for (int b = 0; b < nBands; b++)
    {
        methods[b] = eem_reduce_method_for(eem_predictor_band_type(m_shared->predictor, b));
        reduced[b].resize(nPixels);
        reducedPtrs[b] = reduced[b].data();
    }
    std::vector<uint8_t> mask(nPixels);
    eem_reduce_input in{};
    in.n_bands = nBands;
    in.methods = methods.data();
    in.width = m_base->nRasterXSize;
    in.height = m_base->nRasterYSize;
    in.read_band = ReadBaseBand;
    in.read_mask = ReadBaseMask;
    in.user = m_base;
    if (eem_reduce_block(&in, m_factor, block, m_blockXSize, m_blockYSize, 0.0,
                         reducedPtrs.data(), mask.data(), &err) != EEM_OK)
    {
        /* a failed level-0 read has reported its own error */
        if (err.status != EEM_ERR_IO)
            EEModelReportCoreError(err);
        return CE_Failure;
    }

    /* masked pixels hold each band's own nodata value */
    for (int b = 0; b < nBands; b++)
    {
        const double dfFill = eem_predictor_band_nodata(m_shared->predictor, b).value;
        for (size_t i = 0; i < nPixels; i++)
            if (mask[i] == 0)
                reduced[b][i] = dfFill;
    }
    /* each band's data type, as GDAL converts doubles */
    std::vector<std::vector<GByte>> blockData(nBands);
    std::vector<void *> blockPtrs(nBands);
    for (int b = 0; b < nBands; b++)
    {
        const GDALDataType eType = GetRasterBand(b + 1)->GetRasterDataType();
        const int nSize = GDALGetDataTypeSizeBytes(eType);
        blockData[b].resize(nPixels * nSize);
        GDALCopyWords64(reduced[b].data(), GDT_Float64, sizeof(double), blockData[b].data(),
                        eType, nSize, static_cast<GPtrDiff_t>(nPixels));
        blockPtrs[b] = blockData[b].data();
    }
    if (!StoreBlock(bx, by, blockPtrs.data(), mask.data()))
    {
        CPLError(CE_Failure, CPLE_OutOfMemory, "EEMODEL: no room in GDAL's block cache");
        return CE_Failure;
    }
    return CE_None;
}
