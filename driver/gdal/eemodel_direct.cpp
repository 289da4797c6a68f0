/* eemodel_direct.cpp — full-resolution reads delivered straight into the
 * caller's buffer.  Every tile of the window the core hands over (predicted,
 * or kept by the tile store, tilestore.h) is copied, converted to the
 * buffer's type and spacing, into the caller's buffer as it arrives: no block
 * of GDAL's block cache is filled and copied out again.  Tiles whose blocks
 * GDAL's cache already holds are copied from there.  The mask band reads the
 * same way, without predicting: 0 for the tiles the last band read masked
 * (ON_ERROR=NODATA), the tile store's masks, else the source's.
 *
 * EEMODEL_DIRECT_READ=NO (config option) sends every read through the block
 * cache instead (GDAL's default copy), for comparison. */
#include "eemodel_dataset.h"

#include "config_values.h"
#include "cpl_conv.h"

#include <algorithm>

bool EEModelDataset::CanReadDirect(int nXSize, int nYSize, int nBufXSize, int nBufYSize)
{
    return nBufXSize == nXSize && nBufYSize == nYSize && nXSize > 0 && nYSize > 0 &&
           !m_reduced && m_direct == nullptr && m_pendingBand == nullptr &&
           m_shared->spec->overlap_mode != EEM_OVERLAP_BLEND &&
           eem_config_choice(EEM_CHOICE_DIRECT_READ) == EEM_CHOICE_YES;
}

/* Where tile (tx,ty) meets the target's window: columns [x0,x1), rows [y0,y1). */
static bool TileInTarget(const EEModelDirectTarget &t, int tx, int ty, int bw, int bh, int W,
                         int H, int &x0, int &x1, int &y0, int &y1)
{
    if (tx < t.i0 || tx >= t.i1 || ty < t.j0 || ty >= t.j1)
        return false;
    x0 = std::max(t.x, tx * bw);
    x1 = std::min({t.x + t.w, (tx + 1) * bw, W});
    y0 = std::max(t.y, ty * bh);
    y1 = std::min({t.y + t.h, (ty + 1) * bh, H});
    return x0 < x1 && y0 < y1;
}

/* Copy one block-sized buffer of type eSrc (tile (tx,ty)) into plane k of the target. */
static void CopyBlockToTarget(const EEModelDirectTarget &t, int k, const void *pSrc,
                              GDALDataType eSrc, int tx, int ty, int bw, int bh, int x0, int x1,
                              int y0, int y1)
{
    const int nSrc = GDALGetDataTypeSizeBytes(eSrc);
    const GByte *src = static_cast<const GByte *>(pSrc);
    for (int y = y0; y < y1; y++)
        GDALCopyWords64(src + (static_cast<size_t>(y - ty * bh) * bw + (x0 - tx * bw)) * nSrc,
                        eSrc, nSrc,
                        t.data + (y - t.y) * t.line + (x0 - t.x) * t.pixel + k * t.band, t.type,
                        static_cast<int>(t.pixel), x1 - x0);
}

static size_t TileSlot(const EEModelDirectTarget &t, int tx, int ty)
{
    return static_cast<size_t>(ty - t.j0) * (t.i1 - t.i0) + (tx - t.i0);
}

void EEModelDataset::CopyTileToTarget(int tx, int ty, void *const *bands, const uint8_t *mask)
{
    EEModelDirectTarget &t = *m_direct;
    int x0, x1, y0, y1;
    if (!TileInTarget(t, tx, ty, m_blockXSize, m_blockYSize, nRasterXSize, nRasterYSize, x0, x1,
                      y0, y1))
        return;
    if (t.bandMap == nullptr)
        CopyBlockToTarget(t, 0, mask, GDT_Byte, tx, ty, m_blockXSize, m_blockYSize, x0, x1, y0,
                          y1);
    for (int k = 0; t.bandMap != nullptr && k < t.nBands; k++)
        CopyBlockToTarget(t, k, bands[t.bandMap[k] - 1],
                          GetRasterBand(t.bandMap[k])->GetRasterDataType(), tx, ty, m_blockXSize,
                          m_blockYSize, x0, x1, y0, y1);
    t.delivered[TileSlot(t, tx, ty)] = true;
}

eem_status EEModelDataset::StoreMaskDirect(void *user, int, int tx, int ty, void *const *bands,
                                           const uint8_t *mask, eem_error *)
{
    auto *poDS = static_cast<EEModelDataset *>(user);
    poDS->CopyTileToTarget(tx, ty, bands, mask);
    return EEM_OK;
}

/* The tiles no sink delivered (their blocks were cached), through the block
 * cache: a block evicted meanwhile is read again by IReadBlock. */
CPLErr EEModelDataset::CopyUndeliveredTiles(EEModelDirectTarget &t)
{
    for (int ty = t.j0; ty < t.j1; ty++)
        for (int tx = t.i0; tx < t.i1; tx++)
        {
            int x0, x1, y0, y1;
            if (t.delivered[TileSlot(t, tx, ty)] ||
                !TileInTarget(t, tx, ty, m_blockXSize, m_blockYSize, nRasterXSize, nRasterYSize,
                              x0, x1, y0, y1))
                continue;
            const int nPlanes = t.bandMap != nullptr ? t.nBands : 1;
            for (int k = 0; k < nPlanes; k++)
            {
                GDALRasterBand *poBand =
                    t.bandMap != nullptr ? GetRasterBand(t.bandMap[k]) : m_mask.get();
                GDALRasterBlock *poBlock = poBand->GetLockedBlockRef(tx, ty);
                if (poBlock == nullptr)
                    return CE_Failure;
                CopyBlockToTarget(t, k, poBlock->GetDataRef(), poBand->GetRasterDataType(), tx,
                                  ty, m_blockXSize, m_blockYSize, x0, x1, y0, y1);
                poBlock->DropLock();
            }
        }
    return CE_None;
}

/* The target of a window of this level (tile range, nothing delivered yet). */
static void SetUpTarget(EEModelDirectTarget &t, const eem_read_level &level, int nXOff,
                        int nYOff, int nXSize, int nYSize, void *pData, GDALDataType eBufType,
                        GSpacing nPixelSpace, GSpacing nLineSpace)
{
    t.x = nXOff;
    t.y = nYOff;
    t.w = nXSize;
    t.h = nYSize;
    t.data = static_cast<GByte *>(pData);
    t.type = eBufType;
    t.pixel = nPixelSpace;
    t.line = nLineSpace;
    eem_readplan_tile_range(&level, {nXOff, nYOff, nXSize, nYSize}, &t.i0, &t.j0, &t.i1, &t.j1);
    t.delivered.assign(static_cast<size_t>(std::max(0, t.i1 - t.i0)) * std::max(0, t.j1 - t.j0),
                       false);
}

/* The copy's share of the caller's progress, all done. */
static void CopyDone(EEModelReadScope &oRead)
{
    GDALRasterIOExtraArg *psArg = oRead.ExtraArg();
    if (psArg != nullptr && psArg->pfnProgress != nullptr)
        psArg->pfnProgress(1.0, "", psArg->pProgressData);
}

/* The end of a direct read whose deliveries ended with eErr: no more sink
 * copies into t; the tiles no sink delivered copied from the block cache;
 * progress done. */
CPLErr EEModelDataset::FinishDirect(EEModelDirectTarget &t, EEModelReadScope &oRead, CPLErr eErr)
{
    m_direct = nullptr;
    if (eErr == CE_None)
        eErr = CopyUndeliveredTiles(t);
    if (eErr == CE_None)
        CopyDone(oRead);
    return eErr;
}

CPLErr EEModelDataset::ReadDirect(EEModelReadScope &oRead, int nXOff, int nYOff, int nXSize,
                                  int nYSize, void *pData, GDALDataType eBufType, int nBandCount,
                                  const int *panBandMap, GSpacing nPixelSpace,
                                  GSpacing nLineSpace, GSpacing nBandSpace)
{
    EEModelDirectTarget t;
    SetUpTarget(t, ReadLevel(), nXOff, nYOff, nXSize, nYSize, pData, eBufType, nPixelSpace,
                nLineSpace);
    t.nBands = nBandCount;
    t.bandMap = panBandMap;
    t.band = nBandSpace;
    m_direct = &t;
    return FinishDirect(t, oRead, oRead.Prefetch(nXOff, nYOff, nXSize, nYSize));
}

bool EEModelDataset::IsFailedInLastRead(int tx, int ty) const
{
    for (int k = 0; k < m_failedTiles.n; k++)
        if (m_failedTiles.xy[2 * k] == tx && m_failedTiles.xy[2 * k + 1] == ty)
            return true;
    return false;
}

CPLErr EEModelDataset::ReadMaskDirect(EEModelReadScope &oRead, int nXOff, int nYOff, int nXSize,
                                      int nYSize, void *pData, GDALDataType eBufType,
                                      GSpacing nPixelSpace, GSpacing nLineSpace)
{
    EEModelDirectTarget t;
    SetUpTarget(t, ReadLevel(), nXOff, nYOff, nXSize, nYSize, pData, eBufType, nPixelSpace,
                nLineSpace);
    std::vector<uint8_t> zeros;
    EEModelTileList retry, rest;
    for (int ty = t.j0; ty < t.j1; ty++)
        for (int tx = t.i0; tx < t.i1; tx++)
        {
            int x0, x1, y0, y1;
            if (!TileInTarget(t, tx, ty, m_blockXSize, m_blockYSize, nRasterXSize, nRasterYSize,
                              x0, x1, y0, y1))
                continue;
            /* masked by the last band read: its mask says so until predicted again */
            if (IsFailedInLastRead(tx, ty))
            {
                zeros.resize(static_cast<size_t>(m_blockXSize) * m_blockYSize, 0);
                CopyBlockToTarget(t, 0, zeros.data(), GDT_Byte, tx, ty, m_blockXSize,
                                  m_blockYSize, x0, x1, y0, y1);
                t.delivered[TileSlot(t, tx, ty)] = true;
                continue;
            }
            /* a tile whose prediction failed before is valid only once predicted */
            eem_tile_list *list = eem_tile_list_take(&m_retryTiles, tx, ty) ? &retry : &rest;
            if (eem_tile_list_add(list, tx, ty) != 0)
            {
                CPLError(CE_Failure, CPLE_OutOfMemory, "EEMODEL: out of memory");
                return CE_Failure;
            }
        }
    eem_error err{};
    m_direct = &t;
    CPLErr eErr = PredictTiles(retry);
    /* the tile store's masks, then the source's for tiles no cache holds */
    if (eErr == CE_None &&
        eem_predictor_lend_held_masks(m_shared->predictor, m_level, rest.xy, &rest.n,
                                      StoreMaskDirect, this, &err) != EEM_OK)
        eErr = EEModelFail(err);
    EEModelTileList fromSource;
    for (int k = 0; eErr == CE_None && k < rest.n; k++)
        if (!IsMaskCachedCallback(this, rest.xy[2 * k], rest.xy[2 * k + 1]) &&
            eem_tile_list_add(&fromSource, rest.xy[2 * k], rest.xy[2 * k + 1]) != 0)
        {
            CPLError(CE_Failure, CPLE_OutOfMemory, "EEMODEL: out of memory");
            eErr = CE_Failure;
        }
    if (eErr == CE_None && fromSource.n > 0 &&
        eem_predictor_compute_masks(m_shared->predictor, m_level, fromSource.xy, fromSource.n,
                                    StoreMaskDirect, this, &err) != EEM_OK)
        eErr = EEModelFail(err);
    return FinishDirect(t, oRead, eErr);
}
