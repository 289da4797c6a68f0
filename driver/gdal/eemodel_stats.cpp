/* eemodel_stats.cpp — statistics, min/max and histograms of a band that has
 * no nodata value (integer outputs without NODATA), computed over its mask
 * band.  GDAL 3.6's own ComputeStatistics / ComputeRasterMinMax /
 * GetHistogram honour a nodata value but not a per-dataset mask: without this
 * the masked pixels (read as 0) would count as data.  Bands with a nodata
 * value (float bands by default: NaN) keep GDAL's computations, since their
 * masked pixels hold it. */
#include "eemodel_dataset.h"

#include "cpl_error.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace
{
/* What one masked scan gathers; the histogram when panHistogram is set. */
struct MaskedScan
{
    GUIntBig nValid = 0, nTotal = 0;
    double dfMin = HUGE_VAL, dfMax = -HUGE_VAL;
    double dfMean = 0, dfM2 = 0; /* Welford */
    /* histogram */
    GUIntBig *panHistogram = nullptr;
    int nBuckets = 0;
    double dfHistMin = 0, dfHistMax = 0;
    bool bIncludeOutOfRange = false;

    void Add(double v)
    {
        nValid++;
        dfMin = std::min(dfMin, v);
        dfMax = std::max(dfMax, v);
        const double d = v - dfMean;
        dfMean += d / static_cast<double>(nValid);
        dfM2 += d * (v - dfMean);
        if (panHistogram == nullptr)
            return;
        const double dfScale = nBuckets / (dfHistMax - dfHistMin);
        const double dfIndex = std::floor((v - dfHistMin) * dfScale);
        int i;
        if (dfIndex < 0)
        {
            if (!bIncludeOutOfRange)
                return;
            i = 0;
        }
        else if (dfIndex >= nBuckets)
        {
            if (!bIncludeOutOfRange)
                return;
            i = nBuckets - 1;
        }
        else
            i = static_cast<int>(dfIndex);
        panHistogram[i]++;
    }
};

/* Scan every block of poBand with its mask band, adding the valid values. */
CPLErr ScanMasked(GDALRasterBand *poBand, MaskedScan &scan, GDALProgressFunc pfnProgress,
                  void *pProgressData)
{
    if (pfnProgress == nullptr)
        pfnProgress = GDALDummyProgress;
    GDALRasterBand *poMask = poBand->GetMaskBand();
    const char *pszPixelType = poBand->GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE");
    const bool bSignedByte = pszPixelType != nullptr && EQUAL(pszPixelType, "SIGNEDBYTE");
    int nBlockX = 0, nBlockY = 0;
    poBand->GetBlockSize(&nBlockX, &nBlockY);
    const int nW = poBand->GetXSize(), nH = poBand->GetYSize();
    const int nBlocksX = (nW + nBlockX - 1) / nBlockX, nBlocksY = (nH + nBlockY - 1) / nBlockY;
    std::vector<double> values(static_cast<size_t>(nBlockX) * nBlockY);
    std::vector<GByte> mask(values.size());
    for (int by = 0; by < nBlocksY; by++)
    {
        for (int bx = 0; bx < nBlocksX; bx++)
        {
            const int x = bx * nBlockX, y = by * nBlockY;
            const int w = std::min(nBlockX, nW - x), h = std::min(nBlockY, nH - y);
            if (poBand->RasterIO(GF_Read, x, y, w, h, values.data(), w, h, GDT_Float64, 0, 0,
                                 nullptr) != CE_None ||
                poMask->RasterIO(GF_Read, x, y, w, h, mask.data(), w, h, GDT_Byte, 0, 0,
                                 nullptr) != CE_None)
                return CE_Failure;
            const size_t n = static_cast<size_t>(w) * h;
            scan.nTotal += n;
            for (size_t i = 0; i < n; i++)
            {
                if (mask[i] == 0)
                    continue;
                const double v = bSignedByte && values[i] > 127 ? values[i] - 256 : values[i];
                scan.Add(v);
            }
        }
        if (!pfnProgress((by + 1.0) / nBlocksY, "", pProgressData))
        {
            CPLError(CE_Failure, CPLE_UserInterrupt, "User terminated");
            return CE_Failure;
        }
    }
    return CE_None;
}

bool HasNoData(GDALRasterBand *poBand)
{
    int bHas = FALSE;
    poBand->GetNoDataValue(&bHas);
    return bHas != FALSE;
}
} // namespace

GDALRasterBand *EEModelRasterBand::StatisticsBand(int bApproxOK)
{
    if (!bApproxOK)
        return this;
    GDALRasterBand *poBand = GetRasterSampleOverview(GDALSTAT_APPROX_NUMSAMPLES);
    return poBand != nullptr ? poBand : this;
}

/* Computed statistics are remembered across runs (eemodel_remembered_stats.cpp)
 * unless a tile failed meanwhile (ON_ERROR=NODATA masked it). */
CPLErr EEModelRasterBand::ComputeStatistics(int bApproxOK, double *pdfMin, double *pdfMax,
                                            double *pdfMean, double *pdfStdDev,
                                            GDALProgressFunc pfnProgress, void *pProgressData)
{
    EEModelDataset *poEEDS = EEDataset();
    const long nFailedBefore = poEEDS->TilesFailed();
    m_bComputingStatistics = true;
    const CPLErr eErr = ComputeStatisticsOverMask(bApproxOK, pdfMin, pdfMax, pdfMean, pdfStdDev,
                                                  pfnProgress, pProgressData);
    m_bComputingStatistics = false;
    if (eErr == CE_None)
        poEEDS->RememberStatistics(this, poEEDS->TilesFailed() == nFailedBefore);
    return eErr;
}

CPLErr EEModelRasterBand::SetStatistics(double dfMin, double dfMax, double dfMean,
                                        double dfStdDev)
{
    const CPLErr eErr = GDALRasterBand::SetStatistics(dfMin, dfMax, dfMean, dfStdDev);
    if (eErr == CE_None && !m_bComputingStatistics)
        EEDataset()->RememberStatistics(this, true);
    return eErr;
}

CPLErr EEModelRasterBand::ComputeStatisticsOverMask(int bApproxOK, double *pdfMin,
                                                    double *pdfMax, double *pdfMean,
                                                    double *pdfStdDev,
                                                    GDALProgressFunc pfnProgress,
                                                    void *pProgressData)
{
    if (PrepareWholeBandRead(bApproxOK) != CE_None)
        return CE_Failure;
    if (HasNoData(this))
        return GDALRasterBand::ComputeStatistics(bApproxOK, pdfMin, pdfMax, pdfMean, pdfStdDev,
                                                 pfnProgress, pProgressData);
    GDALRasterBand *poBand = StatisticsBand(bApproxOK);
    MaskedScan scan;
    if (ScanMasked(poBand, scan, pfnProgress, pProgressData) != CE_None)
        return CE_Failure;
    if (scan.nValid == 0)
    {
        CPLError(CE_Failure, CPLE_AppDefined,
                 "EEMODEL: failed to compute statistics: every pixel of band %d is masked",
                 nBand);
        return CE_Failure;
    }
    const double dfStdDev = std::sqrt(scan.dfM2 / static_cast<double>(scan.nValid));
    if (bApproxOK && poBand != this)
        SetMetadataItem("STATISTICS_APPROXIMATE", "YES");
    else if (GetMetadataItem("STATISTICS_APPROXIMATE"))
        SetMetadataItem("STATISTICS_APPROXIMATE", nullptr);
    SetMetadataItem("STATISTICS_VALID_PERCENT",
                    CPLSPrintf("%.4g", 100.0 * static_cast<double>(scan.nValid) /
                                           static_cast<double>(scan.nTotal)));
    SetStatistics(scan.dfMin, scan.dfMax, scan.dfMean, dfStdDev);
    if (pdfMin)
        *pdfMin = scan.dfMin;
    if (pdfMax)
        *pdfMax = scan.dfMax;
    if (pdfMean)
        *pdfMean = scan.dfMean;
    if (pdfStdDev)
        *pdfStdDev = dfStdDev;
    return CE_None;
}

CPLErr EEModelRasterBand::ComputeRasterMinMax(int bApproxOK, double *adfMinMax)
{
    if (PrepareWholeBandRead(bApproxOK) != CE_None)
        return CE_Failure;
    if (HasNoData(this))
        return GDALRasterBand::ComputeRasterMinMax(bApproxOK, adfMinMax);
    MaskedScan scan;
    if (ScanMasked(StatisticsBand(bApproxOK), scan, nullptr, nullptr) != CE_None)
        return CE_Failure;
    if (scan.nValid == 0)
    {
        CPLError(CE_Failure, CPLE_AppDefined,
                 "EEMODEL: failed to compute min/max: every pixel of band %d is masked", nBand);
        return CE_Failure;
    }
    adfMinMax[0] = scan.dfMin;
    adfMinMax[1] = scan.dfMax;
    return CE_None;
}

CPLErr EEModelRasterBand::GetHistogram(double dfMin, double dfMax, int nBuckets,
                                       GUIntBig *panHistogram, int bIncludeOutOfRange,
                                       int bApproxOK, GDALProgressFunc pfnProgress,
                                       void *pProgressData)
{
    if (PrepareWholeBandRead(bApproxOK) != CE_None)
        return CE_Failure;
    if (HasNoData(this))
        return GDALRasterBand::GetHistogram(dfMin, dfMax, nBuckets, panHistogram,
                                            bIncludeOutOfRange, bApproxOK, pfnProgress,
                                            pProgressData);
    if (nBuckets <= 0 || !(dfMax > dfMin))
    {
        CPLError(CE_Failure, CPLE_IllegalArg,
                 "EEMODEL: a histogram needs at least one bucket and max > min");
        return CE_Failure;
    }
    std::fill(panHistogram, panHistogram + nBuckets, 0);
    MaskedScan scan;
    scan.panHistogram = panHistogram;
    scan.nBuckets = nBuckets;
    scan.dfHistMin = dfMin;
    scan.dfHistMax = dfMax;
    scan.bIncludeOutOfRange = bIncludeOutOfRange != FALSE;
    return ScanMasked(StatisticsBand(bApproxOK), scan, pfnProgress, pProgressData);
}
