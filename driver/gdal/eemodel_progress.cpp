/* eemodel_progress.cpp — progress and cancellation of one EEMODEL read (see
 * eemodel_progress.h). */
#include "eemodel_progress.h"

#include "eemodel_dataset.h"

void EEModelReadProgress::Start(int nTiles)
{
    m_started = true;
    m_total = nTiles;
    m_done = 0;
}

bool EEModelReadProgress::Poll()
{
    if (m_cancelled)
        return true;
    if (m_pfnProgress == nullptr)
        return false;
    const double dfFraction =
        m_total > 0 ? EEMODEL_PREDICT_PROGRESS_SHARE * m_done / m_total : 0.0;
    if (!m_pfnProgress(dfFraction, "", m_pProgressData))
        m_cancelled = true;
    return m_cancelled;
}

int EEModelReadProgress::CancelCallback(void *user)
{
    auto *poProgress = static_cast<EEModelReadProgress *>(user);
    return poProgress != nullptr && poProgress->Poll() ? 1 : 0;
}

EEModelScaledExtraArg::EEModelScaledExtraArg(const GDALRasterIOExtraArg *psExtraArg,
                                             bool bPredicted)
    : m_sArg(*psExtraArg)
{
    if (bPredicted && psExtraArg->pfnProgress != nullptr)
    {
        m_pScaled = GDALCreateScaledProgress(EEMODEL_PREDICT_PROGRESS_SHARE, 1.0,
                                             psExtraArg->pfnProgress, psExtraArg->pProgressData);
        m_sArg.pfnProgress = GDALScaledProgress;
        m_sArg.pProgressData = m_pScaled;
    }
}

EEModelScaledExtraArg::~EEModelScaledExtraArg()
{
    if (m_pScaled != nullptr)
        GDALDestroyScaledProgress(m_pScaled);
}

EEModelStripExtraArg::EEModelStripExtraArg(const GDALRasterIOExtraArg *psCaller, int nRows,
                                           int y, int h)
{
    INIT_RASTERIO_EXTRA_ARG(m_sArg);
    if (psCaller == nullptr || nRows <= 0)
        return;
    m_sArg.eResampleAlg = psCaller->eResampleAlg;
    if (psCaller->pfnProgress != nullptr)
    {
        m_pScaled = GDALCreateScaledProgress(static_cast<double>(y) / nRows,
                                             static_cast<double>(y + h) / nRows,
                                             psCaller->pfnProgress, psCaller->pProgressData);
        m_sArg.pfnProgress = GDALScaledProgress;
        m_sArg.pProgressData = m_pScaled;
    }
    if (psCaller->bFloatingPointWindowValidity)
    {
        const double dfRowHeight = psCaller->dfYSize / nRows;
        m_sArg.bFloatingPointWindowValidity = TRUE;
        m_sArg.dfXOff = psCaller->dfXOff;
        m_sArg.dfXSize = psCaller->dfXSize;
        m_sArg.dfYOff = psCaller->dfYOff + y * dfRowHeight;
        m_sArg.dfYSize = h * dfRowHeight;
    }
}

EEModelStripExtraArg::~EEModelStripExtraArg()
{
    if (m_pScaled != nullptr)
        GDALDestroyScaledProgress(m_pScaled);
}

/************************************************************************/
/*                          EEModelReadScope                            */
/************************************************************************/

EEModelReadScope::EEModelReadScope(EEModelDataset *poDS, GDALRasterIOExtraArg *psExtraArg,
                                   bool bRetryFailedTiles)
    : m_poDS(poDS),
      m_progress(psExtraArg ? psExtraArg->pfnProgress : nullptr,
                 psExtraArg ? psExtraArg->pProgressData : nullptr),
      m_psExtraArg(psExtraArg)
{
    if (m_poDS->m_readDepth++ == 0 && bRetryFailedTiles)
        m_poDS->DropFailedTiles();
    if (m_poDS->m_progress == nullptr)
    {
        m_poDS->m_progress = &m_progress;
        m_bOwner = true;
    }
}

EEModelReadScope::~EEModelReadScope()
{
    delete m_poScaled;
    if (m_bOwner)
        m_poDS->m_progress = nullptr;
    m_poDS->m_readDepth--;
}

CPLErr EEModelReadScope::Prefetch(int nXOff, int nYOff, int nXSize, int nYSize)
{
    const CPLErr eErr = m_poDS->PrefetchWindow(nXOff, nYOff, nXSize, nYSize);
    m_bPredicted = m_bOwner && m_progress.Started();
    if (eErr == CE_None && m_bOwner && m_progress.Cancelled())
    {
        CPLError(CE_Failure, CPLE_UserInterrupt, "EEMODEL: interrupted by the caller");
        return CE_Failure;
    }
    return eErr;
}

GDALRasterIOExtraArg *EEModelReadScope::ExtraArg()
{
    if (!m_bPredicted || m_psExtraArg == nullptr || m_psExtraArg->pfnProgress == nullptr)
        return m_psExtraArg;
    if (m_poScaled == nullptr)
        m_poScaled = new EEModelScaledExtraArg(m_psExtraArg, true);
    return m_poScaled->Get();
}
