/* eemodel_dataset.h — GDAL classes of the EEMODEL driver.  They only adapt
 * GDALDataset / GDALRasterBand to the C core (driver/core/predictor.h): the
 * core predicts tiles, these classes put them into GDAL's block cache and
 * answer GDAL's questions about size, georeferencing, bands, masks, overviews
 * and metadata.
 *
 * Overview datasets come in two kinds (DESIGN.md section 4):
 *  - FIX_INPUT_PROJ=false: level k is the model applied to G coarsened by 2^k;
 *    it predicts its own tiles like level 0 (m_reduced false).
 *  - FIX_INPUT_PROJ=true: level k reduces the level-0 predictions by 2^k
 *    (average for float bands, mode otherwise; core reduce.c); its blocks have
 *    level 0's block size and are computed from level 0's tiles (m_reduced).
 * Every read is bounded by the cost guard before anything is sent. */
#ifndef EEMODEL_DATASET_H
#define EEMODEL_DATASET_H

#include "gdal_priv.h"
#include "ogr_spatialref.h"

#include "eemodel_progress.h"

extern "C" {
#include "cost.h"
#include "predictor.h"
#include "spec.h"
}

#include <memory>
#include <vector>

/* The descriptor and predictor shared by a dataset and its overview datasets. */
struct EEModelShared
{
    eem_spec *spec = nullptr;
    eem_predictor *predictor = nullptr;
    ~EEModelShared();
};

class EEModelMaskBand;

class EEModelDataset final : public GDALDataset
{
    friend class EEModelRasterBand;
    friend class EEModelMaskBand;
    friend class EEModelReadScope;

    std::shared_ptr<EEModelShared> m_shared;
    int m_level = 0;
    const eem_grid *m_grid = nullptr; /* core grid of the level this dataset predicts */
    /* FIX_INPUT_PROJ=true overview: reduces m_base's predictions by m_factor */
    bool m_reduced = false;
    int m_factor = 1;
    EEModelDataset *m_base = nullptr;
    double m_gt[6] = {0, 1, 0, 0, 0, 1};
    int m_blockXSize = 0, m_blockYSize = 0;
    bool m_costMetadataDone = false;
    OGRSpatialReference m_srs{};
    std::unique_ptr<EEModelMaskBand> m_mask;
    std::vector<std::unique_ptr<EEModelDataset>> m_overviews;
    /* the block an IReadBlock call is filling, written directly */
    GDALRasterBand *m_pendingBand = nullptr;
    int m_pendingX = -1, m_pendingY = -1;
    void *m_pendingImage = nullptr;
    /* progress / cancellation of the read in progress, and the tiles masked by
     * ON_ERROR=NODATA (pairs tx,ty) kept out of the cache: see eemodel_progress.h */
    EEModelReadProgress *m_progress = nullptr;
    std::vector<int> m_failedTiles;
    int m_readDepth = 0;
    /* the last prefetched window: a read starting where it ended, same
     * columns, is a sequential scan (gdal_translate's swaths) and reads ahead */
    int m_seqX = -1, m_seqW = -1, m_seqEnd = -1;
    /* tiles dropped by DropFailedTiles (pairs tx,ty): their mask comes from a
     * new prediction, not from the source (ComputeMasks, ReadMaskBlock) */
    std::vector<int> m_retryTiles;
    bool TakeRetryTile(int tx, int ty);
    void DropFailedTiles();

    EEModelDataset(std::shared_ptr<EEModelShared> shared, int level, EEModelDataset *base);
    void SetMetadataFromCore();
    void SetCostMetadata();
    bool IsTileCached(int tx, int ty);
    bool StoreBlock(int bx, int by, void *const *bands, const uint8_t *mask);
    CPLErr PredictTiles(const std::vector<int> &tiles);
    static eem_status StoreTile(void *user, int level, int tx, int ty, void *const *bands,
                                const uint8_t *mask, eem_error *err);
    static eem_status StoreMaskTile(void *user, int level, int tx, int ty, void *const *bands,
                                    const uint8_t *mask, eem_error *err);
    /* Tiles of this level under an output window that are not in the cache. */
    std::vector<int> MissingTiles(int nXOff, int nYOff, int nXSize, int nYSize);
    /* Level-0 pixel window covered by a window of this reduced overview. */
    void BaseWindow(int nXOff, int nYOff, int nXSize, int nYSize, int &x, int &y, int &w,
                    int &h) const;
    bool FitsInBlockCache(long long nTiles);
    CPLErr ReduceWindow(int nXOff, int nYOff, int nXSize, int nYSize);
    CPLErr ReduceBlock(int bx, int by);
    std::string CostText(const eem_cost_model &model, int level);

  public:
    ~EEModelDataset() override;
    static int Identify(GDALOpenInfo *poOpenInfo);
    static GDALDataset *Open(GDALOpenInfo *poOpenInfo);

    /* Predict every missing tile under an output-pixel window of this level
     * (for a reduced overview: reduce every missing block under it). */
    CPLErr PrefetchWindow(int nXOff, int nYOff, int nXSize, int nYSize);
    /* Rows of an output window, from nYOff, whose tiles fit the share of GDAL's
     * block cache one prefetch may fill (nYSize when the whole window fits):
     * larger full-resolution reads go in strips, so prefetched blocks are
     * never evicted before GDAL copies them out (no tile predicted twice). */
    int StripRows(int nXOff, int nYOff, int nXSize, int nYSize);
    /* Predict the tile of one block, writing it straight into pImage for poBand. */
    CPLErr ReadTileBlock(GDALRasterBand *poBand, int nBlockX, int nBlockY, void *pImage);
    /* Mask blocks alone, from the source (no prediction): the missing ones
     * under a window, or one block into pImage.  Reduced overviews predict. */
    CPLErr ComputeMasks(int nXOff, int nYOff, int nXSize, int nYSize);
    CPLErr ReadMaskBlock(int nBlockX, int nBlockY, void *pImage);
    /* Prepare a whole-band computation (statistics, histogram): refuse it with
     * the cost guard before anything is sent, then predict in one go. */
    CPLErr PrepareWholeRead();
    /* The cost guard over a whole window read in several parts. */
    CPLErr GuardWindow(int nXOff, int nYOff, int nXSize, int nYSize);
    EEModelMaskBand *MaskBand() { return m_mask.get(); }
    int OverviewCount() const { return static_cast<int>(m_overviews.size()); }
    EEModelDataset *Overview(int i) { return m_overviews[i].get(); }

    CPLErr GetGeoTransform(double *padfTransform) override;
    const OGRSpatialReference *GetSpatialRef() const override;
    char **GetMetadata(const char *pszDomain = "") override;
    char **GetMetadataDomainList() override;
    const char *GetMetadataItem(const char *pszName, const char *pszDomain = "") override;
    CPLErr IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize,
                     void *pData, int nBufXSize, int nBufYSize, GDALDataType eBufType,
                     int nBandCount, int *panBandMap, GSpacing nPixelSpace,
                     GSpacing nLineSpace, GSpacing nBandSpace,
                     GDALRasterIOExtraArg *psExtraArg) override;
    CPLErr AdviseRead(int nXOff, int nYOff, int nXSize, int nYSize, int nBufXSize, int nBufYSize,
                      GDALDataType eDT, int nBandCount, int *panBandList,
                      char **papszOptions) override;
};

class EEModelRasterBand final : public GDALRasterBand
{
    int m_index; /* 0-based band of the core */
    CPLErr PrepareWholeBandRead(int bApproxOK);

  public:
    EEModelRasterBand(EEModelDataset *poDS, int nBand, int index);
    CPLErr ReadBlocksOnly(int nXOff, int nYOff, int nXSize, int nYSize, void *pData,
                          GDALDataType eType);
    CPLErr IReadBlock(int nBlockXOff, int nBlockYOff, void *pImage) override;
    CPLErr AdviseRead(int nXOff, int nYOff, int nXSize, int nYSize, int nBufXSize, int nBufYSize,
                      GDALDataType eDT, char **papszOptions) override;
    CPLErr IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize,
                     void *pData, int nBufXSize, int nBufYSize, GDALDataType eBufType,
                     GSpacing nPixelSpace, GSpacing nLineSpace,
                     GDALRasterIOExtraArg *psExtraArg) override;
    double GetNoDataValue(int *pbSuccess = nullptr) override;
    int GetMaskFlags() override;
    GDALRasterBand *GetMaskBand() override;
    int GetOverviewCount() override;
    GDALRasterBand *GetOverview(int i) override;
    CPLErr ComputeStatistics(int bApproxOK, double *pdfMin, double *pdfMax, double *pdfMean,
                             double *pdfStdDev, GDALProgressFunc pfnProgress,
                             void *pProgressData) override;
    CPLErr ComputeRasterMinMax(int bApproxOK, double *adfMinMax) override;
    CPLErr GetHistogram(double dfMin, double dfMax, int nBuckets, GUIntBig *panHistogram,
                        int bIncludeOutOfRange, int bApproxOK, GDALProgressFunc pfnProgress,
                        void *pProgressData) override;
};

/* The per-dataset validity mask: 255 where every input pixel an output pixel
 * covers is valid (reduced overviews: where any covered pixel is valid). */
class EEModelMaskBand final : public GDALRasterBand
{
  public:
    explicit EEModelMaskBand(EEModelDataset *poDS);
    CPLErr ReadBlocksOnly(int nXOff, int nYOff, int nXSize, int nYSize, void *pData,
                          GDALDataType eType);
    CPLErr IReadBlock(int nBlockXOff, int nBlockYOff, void *pImage) override;
    CPLErr IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize,
                     void *pData, int nBufXSize, int nBufYSize, GDALDataType eBufType,
                     GSpacing nPixelSpace, GSpacing nLineSpace,
                     GDALRasterIOExtraArg *psExtraArg) override;
    int GetMaskFlags() override { return GMF_ALL_VALID; }
    int GetOverviewCount() override;
    GDALRasterBand *GetOverview(int i) override;
};

#endif
