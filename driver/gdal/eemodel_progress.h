/* eemodel_progress.h — progress and cancellation of one EEMODEL read.
 *
 * A read's GDALRasterIOExtraArg may carry a progress function (gdal_translate
 * passes one down per chunk, QGIS its feedback's cancel).  The prediction
 * phase of the read reports the fraction of its tiles done to it, through the
 * core's cancel callback (polled at least every 100 ms while requests are in
 * flight), and stops the read as soon as it returns FALSE.  The copy that
 * follows gets the rest of the caller's progress range. */
#ifndef EEMODEL_PROGRESS_H
#define EEMODEL_PROGRESS_H

#include "gdal.h"
#include "cpl_error.h"

/* Share of a read's progress range given to predicting its tiles. */
constexpr double EEMODEL_PREDICT_PROGRESS_SHARE = 0.95;

class EEModelReadProgress
{
    GDALProgressFunc m_pfnProgress = nullptr;
    void *m_pProgressData = nullptr;
    int m_total = 0;
    int m_done = 0;
    bool m_cancelled = false;
    bool m_started = false;

  public:
    EEModelReadProgress(GDALProgressFunc pfnProgress, void *pProgressData)
        : m_pfnProgress(pfnProgress), m_pProgressData(pProgressData)
    {
    }
    bool Active() const { return m_pfnProgress != nullptr; }
    bool Cancelled() const { return m_cancelled; }
    bool Started() const { return m_started; } /* a prediction ran in this read */
    /* A prediction of n tiles starts / one of its tiles is stored. */
    void Start(int nTiles);
    void TileDone() { m_done++; }
    /* Report the fraction done; true when the caller asks to stop. */
    bool Poll();
    /* The core's cancel callback (user = EEModelReadProgress*, may be null). */
    static int CancelCallback(void *user);
};

/* Extra args for the copy after a prediction: the caller's progress scaled to
 * the part of its range left, released with the object. */
class EEModelScaledExtraArg
{
    GDALRasterIOExtraArg m_sArg;
    void *m_pScaled = nullptr;

  public:
    EEModelScaledExtraArg(const GDALRasterIOExtraArg *psExtraArg, bool bPredicted);
    ~EEModelScaledExtraArg();
    EEModelScaledExtraArg(const EEModelScaledExtraArg &) = delete;
    EEModelScaledExtraArg &operator=(const EEModelScaledExtraArg &) = delete;
    GDALRasterIOExtraArg *Get() { return &m_sArg; }
};

/* The extra argument of rows [y, y + h) of a read of nRows rows done strip by
 * strip (a full-resolution read: buffer rows = window rows): a fresh argument
 * with the caller's resampling, the caller's progress scaled to the strip's
 * share of the rows, and the caller's floating-point source window (a VRT
 * source passes one) cut to the strip's rows, never the whole window's. */
class EEModelStripExtraArg
{
    GDALRasterIOExtraArg m_sArg;
    void *m_pScaled = nullptr;

  public:
    EEModelStripExtraArg(const GDALRasterIOExtraArg *psCaller, int nRows, int y, int h);
    ~EEModelStripExtraArg();
    EEModelStripExtraArg(const EEModelStripExtraArg &) = delete;
    EEModelStripExtraArg &operator=(const EEModelStripExtraArg &) = delete;
    GDALRasterIOExtraArg *Get() { return &m_sArg; }
};

class EEModelDataset;

/* One read through a dataset's, band's or mask band's IRasterIO: the outermost
 * one on a dataset owns the progress, drops the previous read's failed tiles
 * (ON_ERROR=NODATA) from the block cache first, so that they are predicted
 * again, and hands the copy the rest of the progress range. */
class EEModelReadScope
{
    EEModelDataset *m_poDS;
    EEModelReadProgress m_progress;
    GDALRasterIOExtraArg *m_psExtraArg;
    bool m_bOwner = false;
    bool m_bPredicted = false;
    EEModelScaledExtraArg *m_poScaled = nullptr;

  public:
    /* bRetryFailedTiles false: a read that does not predict (the mask band)
     * leaves the failed tiles of the previous read in the cache */
    EEModelReadScope(EEModelDataset *poDS, GDALRasterIOExtraArg *psExtraArg,
                     bool bRetryFailedTiles = true);
    ~EEModelReadScope();
    EEModelReadScope(const EEModelReadScope &) = delete;
    EEModelReadScope &operator=(const EEModelReadScope &) = delete;
    /* Predict every missing tile under the window (EEModelDataset::PrefetchWindow). */
    CPLErr Prefetch(int nXOff, int nYOff, int nXSize, int nYSize);
    /* Extra args for the copy that follows. */
    GDALRasterIOExtraArg *ExtraArg();
};

#endif
