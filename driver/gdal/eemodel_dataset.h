/* eemodel_dataset.h — GDAL classes of the EEMODEL driver.  They only adapt
 * GDALDataset / GDALRasterBand to the C core (driver/core/predictor.h): the
 * core predicts tiles, these classes put them into GDAL's block cache and
 * answer GDAL's questions about size, georeferencing, bands and masks. */
#ifndef EEMODEL_DATASET_H
#define EEMODEL_DATASET_H

#include "gdal_priv.h"
#include "ogr_spatialref.h"

extern "C" {
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

    std::shared_ptr<EEModelShared> m_shared;
    int m_level = 0;
    const eem_grid *m_grid = nullptr;
    OGRSpatialReference m_srs{};
    std::unique_ptr<EEModelMaskBand> m_mask;
    std::vector<std::unique_ptr<EEModelDataset>> m_overviews;
    /* the block an IReadBlock call is filling, written directly */
    GDALRasterBand *m_pendingBand = nullptr;
    int m_pendingX = -1, m_pendingY = -1;
    void *m_pendingImage = nullptr;

    EEModelDataset(std::shared_ptr<EEModelShared> shared, int level);
    void SetMetadataFromCore();
    bool IsTileCached(int tx, int ty);
    CPLErr PredictTiles(const std::vector<int> &tiles);
    static eem_status StoreTile(void *user, int level, int tx, int ty, void *const *bands,
                                const uint8_t *mask, eem_error *err);

  public:
    ~EEModelDataset() override;
    static int Identify(GDALOpenInfo *poOpenInfo);
    static GDALDataset *Open(GDALOpenInfo *poOpenInfo);

    /* Predict every missing tile under an output-pixel window of this level. */
    CPLErr PrefetchWindow(int nXOff, int nYOff, int nXSize, int nYSize);
    /* Predict the tile of one block, writing it straight into pImage for poBand. */
    CPLErr ReadTileBlock(GDALRasterBand *poBand, int nBlockX, int nBlockY, void *pImage);
    EEModelMaskBand *MaskBand() { return m_mask.get(); }
    int OverviewCount() const { return static_cast<int>(m_overviews.size()); }
    EEModelDataset *Overview(int i) { return m_overviews[i].get(); }

    CPLErr GetGeoTransform(double *padfTransform) override;
    const OGRSpatialReference *GetSpatialRef() const override;
    CPLErr IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize,
                     void *pData, int nBufXSize, int nBufYSize, GDALDataType eBufType,
                     int nBandCount, int *panBandMap, GSpacing nPixelSpace,
                     GSpacing nLineSpace, GSpacing nBandSpace,
                     GDALRasterIOExtraArg *psExtraArg) override;
};

class EEModelRasterBand final : public GDALRasterBand
{
    int m_index; /* 0-based band of the core */

  public:
    EEModelRasterBand(EEModelDataset *poDS, int nBand, int index);
    CPLErr IReadBlock(int nBlockXOff, int nBlockYOff, void *pImage) override;
    CPLErr IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize,
                     void *pData, int nBufXSize, int nBufYSize, GDALDataType eBufType,
                     GSpacing nPixelSpace, GSpacing nLineSpace,
                     GDALRasterIOExtraArg *psExtraArg) override;
    double GetNoDataValue(int *pbSuccess = nullptr) override;
    int GetMaskFlags() override;
    GDALRasterBand *GetMaskBand() override;
    int GetOverviewCount() override;
    GDALRasterBand *GetOverview(int i) override;
};

/* The per-dataset validity mask: 255 where every input pixel an output pixel
 * covers is valid. */
class EEModelMaskBand final : public GDALRasterBand
{
  public:
    explicit EEModelMaskBand(EEModelDataset *poDS);
    CPLErr IReadBlock(int nBlockXOff, int nBlockYOff, void *pImage) override;
    int GetMaskFlags() override { return GMF_ALL_VALID; }
};

#endif
