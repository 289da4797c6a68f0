/* eemodel_dataset.h — the GDAL classes of the EEMODEL driver, the one header
 * of the glue.  They only adapt GDALDataset / GDALRasterBand to the C core:
 * the core plans reads (readplan.h), predicts tiles (predictor.h), reduces
 * them for FIX_INPUT_PROJ=true overviews (reduce.h) and prices them
 * (cost.h); these classes put the answers into GDAL's block cache and answer
 * GDAL's questions about size, georeferencing, bands, masks, overviews and
 * metadata.
 *
 * Where each part lives (driver/gdal/):
 *   eemodel_driver.cpp     registration, Identify, Open
 *   eemodel_dataset.cpp    dataset: construction, georeferencing, metadata,
 *                          IRasterIO / AdviseRead adapters
 *   eemodel_read.cpp       running the core's read plans: predictions, masks
 *   eemodel_reduce.cpp     FIX_INPUT_PROJ=true overview blocks (core reduce.c)
 *   eemodel_blockcache.cpp predicted tiles into / out of GDAL's block cache
 *   eemodel_direct.cpp     full-resolution windows straight into the caller's
 *                          buffer, past the block cache
 *   eemodel_band.cpp       raster band and mask band
 *   eemodel_stats.cpp      statistics / histograms over the mask (no nodata)
 *   eemodel_remembered_stats.cpp  statistics kept across runs (PAM .aux.xml,
 *                          persistent cache)
 *   eemodel_progress.cpp   progress and cancellation of one read
 *   eemodel_convert.cpp    core errors and data types in GDAL's terms
 *
 * Overview datasets come in two kinds (DESIGN.md section 4):
 *  - FIX_INPUT_PROJ=false: level k is the model applied to G coarsened by 2^k;
 *    it predicts its own tiles like level 0 (m_reduced false).
 *  - FIX_INPUT_PROJ=true: level k reduces the level-0 predictions by 2^k; its
 *    blocks have level 0's block size and are computed from level 0's tiles
 *    (m_reduced).
 * Every read is bounded by the cost guard before anything is sent. */
#ifndef EEMODEL_DATASET_H
#define EEMODEL_DATASET_H

#include "gdal_priv.h"
#include "ogr_spatialref.h"

#include "eemodel_progress.h"

extern "C" {
#include "cost.h"
#include "http.h"
#include "pipeline.h"
#include "predictor.h"
#include "readplan.h"
#include "remembered_stats.h"
#include "spec.h"
#include "tilelist.h"
}

#include <functional>
#include <memory>
#include <string>
#include <vector>

/* ---- core to GDAL (eemodel_convert.cpp) ---- */
GDALDataType EEModelGDALType(eem_dtype t);
/* Report a core error with CPLError in the calling thread. */
void EEModelReportCoreError(const eem_error &err);
/* Report a core error (as EEModelReportCoreError); returns CE_Failure. */
CPLErr EEModelFail(const eem_error &err);
/* The error of a write to this read-only driver; returns CE_Failure. */
CPLErr EEModelReadOnlyError();

/* An eem_tile_list freed with its scope. */
struct EEModelTileList : eem_tile_list
{
    EEModelTileList() : eem_tile_list{} {}
    ~EEModelTileList() { eem_tile_list_free(this); }
    EEModelTileList(const EEModelTileList &) = delete;
    EEModelTileList &operator=(const EEModelTileList &) = delete;
};

/* The descriptor and predictor shared by a dataset and its overview datasets. */
struct EEModelShared
{
    eem_spec *spec = nullptr;
    eem_predictor *predictor = nullptr;
    ~EEModelShared();
};

class EEModelMaskBand;

/* A full-resolution read delivered straight into the caller's buffer
 * (eemodel_direct.cpp): the window, the buffer and its layout, the bands
 * (band numbers, or none and the mask), and which of the window's tiles
 * arrived. */
struct EEModelDirectTarget
{
    int x = 0, y = 0, w = 0, h = 0;
    GByte *data = nullptr;
    GDALDataType type = GDT_Unknown;
    int nBands = 0;
    const int *bandMap = nullptr; /* nullptr: the mask */
    GSpacing pixel = 0, line = 0, band = 0;
    int i0 = 0, j0 = 0, i1 = 0, j1 = 0; /* the window's tiles */
    std::vector<bool> delivered;        /* (j - j0) * (i1 - i0) + (i - i0) */
};

class EEModelDataset final : public GDALDataset
{
    friend class EEModelBand;
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
     * ON_ERROR=NODATA kept out of the cache: see eemodel_progress.h */
    EEModelReadProgress *m_progress = nullptr;
    EEModelTileList m_failedTiles;
    std::string m_lastFailure; /* message of the last of them */
    /* the window of the last announcement the pipeline took (AdviseRead) */
    int m_announced[4] = {-1, -1, -1, -1};
    int m_readDepth = 0;
    /* tiles dropped by DropFailedTiles: their mask comes from a new
     * prediction, not from the source (ComputeMasks, ReadMaskBlock) */
    EEModelTileList m_retryTiles;
    /* the read in progress delivered straight into its caller's buffer */
    EEModelDirectTarget *m_direct = nullptr;

    EEModelDataset(std::shared_ptr<EEModelShared> shared, int level, EEModelDataset *base);
    /* eemodel_dataset.cpp */
    void SetMetadataFromCore();
    void SetCostMetadata();
    void SetLevelCostMetadata(const eem_cost_model &model, int level);
    /* Scaling out (eemodel_scaleout.cpp): the tile lattice and chunk advice in
     * the EEMODEL domain; the live counters of the EEMODEL_STATS domain. */
    void SetScaleOutMetadata(const eem_cost_model &model);
    char **StatsMetadata();
    CPLStringList m_stats;
    /* eemodel_read.cpp */
    eem_read_level ReadLevel();
    long MaxPredictions() const;
    /* Predict tiles of this level for the read in progress (the pipeline
     * with READ_AHEAD=AUTO, else synchronously); failures reported here. */
    CPLErr PredictTiles(const int *tiles, int nTiles);
    CPLErr PredictTiles(const eem_tile_list &tiles) { return PredictTiles(tiles.xy, tiles.n); }
    void SetPendingBlock(GDALRasterBand *poBand, int nBlockX, int nBlockY, void *pImage);
    /* eemodel_blockcache.cpp */
    static int IsTileCachedCallback(void *user, int tx, int ty);
    static int IsMaskCachedCallback(void *user, int tx, int ty);
    bool IsTileCached(int tx, int ty);
    long long TileBytes();
    bool StoreBlock(int bx, int by, void *const *bands, const uint8_t *mask);
    /* GDALRasterBand::ReadBlock() calls IReadBlock even when the block is
     * cached (filled by another band's prediction): true when it was copied
     * from the cache into pImage, never to be predicted again. */
    static bool CopyCachedBlock(GDALRasterBand *poBand, int nBlockX, int nBlockY, void *pImage);
    static eem_status StoreTile(void *user, int level, int tx, int ty, void *const *bands,
                                const uint8_t *mask, eem_error *err);
    static eem_status StoreMaskTile(void *user, int level, int tx, int ty, void *const *bands,
                                    const uint8_t *mask, eem_error *err);
    void DropFailedTiles();
    /* eemodel_direct.cpp */
    void CopyTileToTarget(int tx, int ty, void *const *bands, const uint8_t *mask);
    CPLErr CopyUndeliveredTiles(EEModelDirectTarget &target);
    CPLErr FinishDirect(EEModelDirectTarget &target, EEModelReadScope &oRead, CPLErr eErr);
    bool IsFailedInLastRead(int tx, int ty) const;
    static eem_status StoreMaskDirect(void *user, int level, int tx, int ty, void *const *bands,
                                      const uint8_t *mask, eem_error *err);
    /* eemodel_remembered_stats.cpp: the statistics of level 0's bands
     * remembered across runs (exact and approximate apart), under the digest
     * of everything that shapes the pixels (remembered_stats.h). */
    std::string m_statsDigest;
    std::vector<eem_band_stats_pair> m_remembered;
    /* the PAM file's name without ".aux.xml": "<input>.eemodel-<digest>";
     * empty when the input is not a file */
    std::string m_pamName;
    bool m_pamBeside = false; /* the input is a local (or /vsimem/) file */
    std::string PamPathToRead();
    bool FillFromPam(std::vector<eem_band_stats_pair> &pairs);
    bool FillFromCache(std::vector<eem_band_stats_pair> &pairs);
    bool WritePam();
    bool WriteCache();
    /* eemodel_reduce.cpp */
    CPLErr ReduceWindow(int nXOff, int nYOff, int nXSize, int nYSize);
    CPLErr ReduceBlock(int bx, int by);

  public:
    ~EEModelDataset() override;
    int CloseDependentDatasets() override;
    static int Identify(GDALOpenInfo *poOpenInfo);
    static GDALDataset *Open(GDALOpenInfo *poOpenInfo);

    /* Predict every missing tile under an output-pixel window of this level
     * (for a reduced overview: reduce every missing block under it). */
    CPLErr PrefetchWindow(int nXOff, int nYOff, int nXSize, int nYSize);
    /* A full-resolution read whose tiles do not fit the block-cache share one
     * prefetch may fill (core eem_readplan_strip_rows): it goes in strips. */
    bool NeedsStrips(int nXOff, int nYOff, int nXSize, int nYSize, int nBufXSize, int nBufYSize);
    /* Read such a window strip by strip with fnStrip(y, h, psStripArg) (rows
     * relative to nYOff; psStripArg: the caller's psExtraArg made the strip's,
     * EEModelStripExtraArg), after the cost guard of the whole window when
     * bGuard. */
    CPLErr ReadInStrips(
        int nXOff, int nYOff, int nXSize, int nYSize, bool bGuard,
        const GDALRasterIOExtraArg *psExtraArg,
        const std::function<CPLErr(int y, int h, GDALRasterIOExtraArg *psStripArg)> &fnStrip);
    /* A full-resolution read (buffer size = window size) of a level that
     * predicts its own tiles, outside BLEND and block reads: its tiles go
     * straight from the core into the caller's buffer (eemodel_direct.cpp),
     * never through GDAL's block cache. */
    bool CanReadDirect(int nXSize, int nYSize, int nBufXSize, int nBufYSize);
    /* Bands panBandMap (1-based) of a window into pData, tiles predicted as
     * needed (the read scope is the caller's). */
    CPLErr ReadDirect(EEModelReadScope &oRead, int nXOff, int nYOff, int nXSize, int nYSize,
                      void *pData, GDALDataType eBufType, int nBandCount, const int *panBandMap,
                      GSpacing nPixelSpace, GSpacing nLineSpace, GSpacing nBandSpace);
    /* The mask of a window into pData: tiles masked in the last band read
     * (ON_ERROR=NODATA) as 0, the tile store's masks, the block cache's, the
     * rest from the source (no prediction). */
    CPLErr ReadMaskDirect(EEModelReadScope &oRead, int nXOff, int nYOff, int nXSize, int nYSize,
                          void *pData, GDALDataType eBufType, GSpacing nPixelSpace,
                          GSpacing nLineSpace);
    /* Predict the tile of one block, writing it straight into pImage for poBand. */
    CPLErr ReadTileBlock(GDALRasterBand *poBand, int nBlockX, int nBlockY, void *pImage);
    /* Mask blocks alone, from the source (no prediction): the missing ones
     * under a window, or one block into pImage.  Reduced overviews predict. */
    CPLErr ComputeMasks(int nXOff, int nYOff, int nXSize, int nYSize);
    CPLErr ReadMaskBlock(int nBlockX, int nBlockY, void *pImage);
    /* Prepare a whole-band computation (statistics, histogram): refuse it with
     * the cost guard before anything is sent, then predict in one go. */
    CPLErr PrepareWholeRead();
    /* Statistics remembered across runs (eemodel_remembered_stats.cpp): put
     * those a PAM .aux.xml or the persistent cache holds for this descriptor
     * on the bands (at open); remember poBand's current STATISTICS_* items
     * (after ComputeStatistics / SetStatistics; bTrusted false: some tiles
     * failed, nothing is remembered). */
    void RecallStatistics();
    void RememberStatistics(GDALRasterBand *poBand, bool bTrusted);
    long TilesFailed();
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

/* What the raster band and the mask band share (eemodel_band.cpp): a read
 * of a window prepares all of it at once (a raster band predicts its tiles,
 * the mask band computes its masks from the source), then GDAL copies it. */
class EEModelBand : public GDALRasterBand
{
    bool m_bMask;

  protected:
    /* Blocks and size of poDSIn (one tile per block). */
    EEModelBand(EEModelDataset *poDSIn, bool bMask);
    EEModelDataset *EEDataset() { return static_cast<EEModelDataset *>(poDS); }
    /* A full-resolution window too large for the block cache, strip by strip
     * through this band's IRasterIO (bGuard: the cost guard sees it whole). */
    CPLErr IRasterIOInStrips(int nXOff, int nYOff, int nXSize, int nYSize, void *pData,
                             GDALDataType eBufType, GSpacing nPixelSpace, GSpacing nLineSpace,
                             GDALRasterIOExtraArg *psExtraArg, bool bGuard);

  public:
    /* A downsampled read that an overview serves (prefetched by that
     * overview's own IRasterIO). */
    bool ServedByOverview(int nXOff, int nYOff, int nXSize, int nYSize, int nBufXSize,
                          int nBufYSize);
    /* A window from the blocks, without prefetch or read-ahead: the reductions
     * of FIX_INPUT_PROJ=true overviews have predicted the tiles already (an
     * evicted block is predicted again by IReadBlock). */
    CPLErr ReadBlocksOnly(int nXOff, int nYOff, int nXSize, int nYSize, void *pData,
                          GDALDataType eType);
    CPLErr IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize,
                     void *pData, int nBufXSize, int nBufYSize, GDALDataType eBufType,
                     GSpacing nPixelSpace, GSpacing nLineSpace,
                     GDALRasterIOExtraArg *psExtraArg) override;
    /* The same band (or the mask) of each overview dataset. */
    int GetOverviewCount() override;
    GDALRasterBand *GetOverview(int i) override;
};

class EEModelRasterBand final : public EEModelBand
{
    int m_index; /* 0-based band of the core */
    bool m_bComputingStatistics = false;
    CPLErr PrepareWholeBandRead(int bApproxOK);
    CPLErr ComputeStatisticsOverMask(int bApproxOK, double *pdfMin, double *pdfMax,
                                     double *pdfMean, double *pdfStdDev,
                                     GDALProgressFunc pfnProgress, void *pProgressData);
    /* eemodel_stats.cpp: the band statistics scan (the sample overview when
     * approximate) */
    GDALRasterBand *StatisticsBand(int bApproxOK);

  public:
    EEModelRasterBand(EEModelDataset *poDS, int nBand, int index);
    CPLErr IReadBlock(int nBlockXOff, int nBlockYOff, void *pImage) override;
    CPLErr AdviseRead(int nXOff, int nYOff, int nXSize, int nYSize, int nBufXSize, int nBufYSize,
                      GDALDataType eDT, char **papszOptions) override;
    double GetNoDataValue(int *pbSuccess = nullptr) override;
    int GetMaskFlags() override;
    GDALRasterBand *GetMaskBand() override;
    CPLErr ComputeStatistics(int bApproxOK, double *pdfMin, double *pdfMax, double *pdfMean,
                             double *pdfStdDev, GDALProgressFunc pfnProgress,
                             void *pProgressData) override;
    CPLErr SetStatistics(double dfMin, double dfMax, double dfMean, double dfStdDev) override;
    CPLErr ComputeRasterMinMax(int bApproxOK, double *adfMinMax) override;
    CPLErr GetHistogram(double dfMin, double dfMax, int nBuckets, GUIntBig *panHistogram,
                        int bIncludeOutOfRange, int bApproxOK, GDALProgressFunc pfnProgress,
                        void *pProgressData) override;
};

/* The per-dataset validity mask: 255 where every input pixel an output pixel
 * covers is valid (reduced overviews: where any covered pixel is valid). */
class EEModelMaskBand final : public EEModelBand
{
  public:
    explicit EEModelMaskBand(EEModelDataset *poDS);
    CPLErr IReadBlock(int nBlockXOff, int nBlockYOff, void *pImage) override;
    int GetMaskFlags() override { return GMF_ALL_VALID; }
};

#endif
