/* eemodel_band.cpp — the raster band (one model output) and the per-dataset
 * mask band: block reads, IRasterIO / AdviseRead adapters that hand whole
 * windows to the dataset's read plans, nodata and overviews.  Statistics and
 * histograms: eemodel_stats.cpp, guarded as one read of the band they scan. */
#include "eemodel_dataset.h"

/************************************************************************/
/*                          EEModelBand                                 */
/************************************************************************/

EEModelBand::EEModelBand(EEModelDataset *poDSIn, bool bMask) : m_bMask(bMask)
{
    poDS = poDSIn;
    nBlockXSize = poDSIn->m_blockXSize;
    nBlockYSize = poDSIn->m_blockYSize;
    nRasterXSize = poDSIn->GetRasterXSize();
    nRasterYSize = poDSIn->GetRasterYSize();
}

bool EEModelBand::ServedByOverview(int nXOff, int nYOff, int nXSize, int nYSize, int nBufXSize,
                                   int nBufYSize)
{
    if (nBufXSize >= nXSize && nBufYSize >= nYSize)
        return false;
    int x = nXOff, y = nYOff, w = nXSize, h = nYSize;
    return GDALBandGetBestOverviewLevel2(this, x, y, w, h, nBufXSize, nBufYSize, nullptr) >= 0;
}

CPLErr EEModelBand::IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize,
                              void *pData, int nBufXSize, int nBufYSize, GDALDataType eBufType,
                              GSpacing nPixelSpace, GSpacing nLineSpace,
                              GDALRasterIOExtraArg *psExtraArg)
{
    if (eRWFlag == GF_Write)
        return EEModelReadOnlyError();
    const bool bOverview = ServedByOverview(nXOff, nYOff, nXSize, nYSize, nBufXSize, nBufYSize);
    EEModelDataset *poEEDS = EEDataset();
    /* a mask needs no prediction: no cost guard over its strips */
    if (!bOverview && poEEDS->NeedsStrips(nXOff, nYOff, nXSize, nYSize, nBufXSize, nBufYSize))
        return IRasterIOInStrips(nXOff, nYOff, nXSize, nYSize, pData, eBufType, nPixelSpace,
                                 nLineSpace, psExtraArg, /*bGuard=*/!m_bMask);
    /* a mask read keeps the failed tiles of the last band read (their mask
     * says so); the next band read predicts them again */
    EEModelReadScope oRead(poEEDS, psExtraArg, /*bRetryFailedTiles=*/!m_bMask);
    /* full resolution: straight into pData (eemodel_direct.cpp) */
    if (!bOverview && poEEDS->CanReadDirect(nXSize, nYSize, nBufXSize, nBufYSize))
        return m_bMask ? poEEDS->ReadMaskDirect(oRead, nXOff, nYOff, nXSize, nYSize, pData,
                                                eBufType, nPixelSpace, nLineSpace)
                       : poEEDS->ReadDirect(oRead, nXOff, nYOff, nXSize, nYSize, pData, eBufType,
                                            1, &nBand, nPixelSpace, nLineSpace, 0);
    /* a mask needs no prediction: blocks evicted since the bands were read
     * (gdal_translate copies the mask last) are recomputed from the source */
    if (!bOverview && (m_bMask ? poEEDS->ComputeMasks(nXOff, nYOff, nXSize, nYSize)
                               : oRead.Prefetch(nXOff, nYOff, nXSize, nYSize)) != CE_None)
        return CE_Failure;
    return GDALRasterBand::IRasterIO(eRWFlag, nXOff, nYOff, nXSize, nYSize, pData, nBufXSize,
                                     nBufYSize, eBufType, nPixelSpace, nLineSpace,
                                     oRead.ExtraArg());
}

CPLErr EEModelBand::IRasterIOInStrips(int nXOff, int nYOff, int nXSize, int nYSize, void *pData,
                                      GDALDataType eBufType, GSpacing nPixelSpace,
                                      GSpacing nLineSpace, GDALRasterIOExtraArg *psExtraArg,
                                      bool bGuard)
{
    return EEDataset()->ReadInStrips(
        nXOff, nYOff, nXSize, nYSize, bGuard, psExtraArg,
        [&](int y, int h, GDALRasterIOExtraArg *psStripArg)
        {
            return IRasterIO(GF_Read, nXOff, nYOff + y, nXSize, h,
                             static_cast<GByte *>(pData) + y * nLineSpace, nXSize, h, eBufType,
                             nPixelSpace, nLineSpace, psStripArg);
        });
}

CPLErr EEModelBand::ReadBlocksOnly(int nXOff, int nYOff, int nXSize, int nYSize, void *pData,
                                   GDALDataType eType)
{
    GDALRasterIOExtraArg sExtra;
    INIT_RASTERIO_EXTRA_ARG(sExtra);
    const int nSize = GDALGetDataTypeSizeBytes(eType);
    return GDALRasterBand::IRasterIO(GF_Read, nXOff, nYOff, nXSize, nYSize, pData, nXSize,
                                     nYSize, eType, nSize,
                                     static_cast<GSpacing>(nSize) * nXSize, &sExtra);
}

int EEModelBand::GetOverviewCount()
{
    return EEDataset()->OverviewCount();
}

GDALRasterBand *EEModelBand::GetOverview(int i)
{
    EEModelDataset *poEEDS = EEDataset();
    if (i < 0 || i >= poEEDS->OverviewCount())
        return nullptr;
    EEModelDataset *poOverview = poEEDS->Overview(i);
    if (m_bMask)
        return poOverview->MaskBand();
    return poOverview->GetRasterBand(nBand);
}

/************************************************************************/
/*                          EEModelRasterBand                           */
/************************************************************************/

EEModelRasterBand::EEModelRasterBand(EEModelDataset *poDSIn, int nBandIn, int index)
    : EEModelBand(poDSIn, false), m_index(index)
{
    nBand = nBandIn;
    const eem_predictor *pred = poDSIn->m_shared->predictor;
    const eem_dtype t = eem_predictor_band_type(pred, index);
    eDataType = EEModelGDALType(t);
    if (t == EEM_DT_INT8)
        SetMetadataItem("PIXELTYPE", "SIGNEDBYTE", "IMAGE_STRUCTURE");
    SetMetadataItem("EEMODEL_OUTPUT_TYPE", eem_dtype_name(t));
    SetDescription(eem_predictor_band_name(pred, index));
}

CPLErr EEModelRasterBand::IReadBlock(int nBlockXOff, int nBlockYOff, void *pImage)
{
    return EEDataset()->ReadTileBlock(this, nBlockXOff, nBlockYOff, pImage);
}

CPLErr EEModelRasterBand::AdviseRead(int nXOff, int nYOff, int nXSize, int nYSize,
                                     int nBufXSize, int nBufYSize, GDALDataType eDT,
                                     char **papszOptions)
{
    return poDS->AdviseRead(nXOff, nYOff, nXSize, nYSize, nBufXSize, nBufYSize, eDT, 1, &nBand,
                            papszOptions);
}

double EEModelRasterBand::GetNoDataValue(int *pbSuccess)
{
    const eem_band_nodata nd = eem_predictor_band_nodata(EEDataset()->m_shared->predictor, m_index);
    if (pbSuccess)
        *pbSuccess = nd.has;
    return nd.has ? nd.value : 0.0;
}

/* One per-dataset mask, unless no pixel of this level can be masked: then
 * GMF_ALL_VALID, and GDAL's copies write no mask (the mask band still reads,
 * all 255).  Reduced overviews keep their mask. */
int EEModelRasterBand::GetMaskFlags()
{
    EEModelDataset *poDS = EEDataset();
    return !poDS->m_reduced && eem_predictor_output_all_valid(poDS->m_shared->predictor,
                                                              poDS->m_level)
               ? GMF_ALL_VALID
               : GMF_PER_DATASET;
}

GDALRasterBand *EEModelRasterBand::GetMaskBand()
{
    return EEDataset()->MaskBand();
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

/************************************************************************/
/*                          EEModelMaskBand                             */
/************************************************************************/

EEModelMaskBand::EEModelMaskBand(EEModelDataset *poDSIn) : EEModelBand(poDSIn, true)
{
    nBand = 0;
    eDataType = GDT_Byte;
}

CPLErr EEModelMaskBand::IReadBlock(int nBlockXOff, int nBlockYOff, void *pImage)
{
    return EEDataset()->ReadMaskBlock(nBlockXOff, nBlockYOff, pImage);
}
