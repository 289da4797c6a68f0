/* eemodel_blockcache.cpp — predicted tiles in GDAL's block cache: whether a
 * tile's blocks are cached, storing the core's answers (every band and the
 * mask, or straight into the block an IReadBlock call is filling), copying a
 * cached block out, and dropping the tiles ON_ERROR=NODATA masked so that
 * the next read predicts them again. */
#include "eemodel_dataset.h"

#include <cstring>

static bool IsBlockCached(GDALRasterBand *poBand, int x, int y)
{
    GDALRasterBlock *poBlock = poBand->TryGetLockedBlockRef(x, y);
    if (poBlock == nullptr)
        return false;
    poBlock->DropLock();
    return true;
}

bool EEModelDataset::IsTileCached(int tx, int ty)
{
    for (int i = 1; i <= nBands; i++)
        if (!IsBlockCached(GetRasterBand(i), tx, ty))
            return false;
    return IsBlockCached(m_mask.get(), tx, ty);
}

int EEModelDataset::IsTileCachedCallback(void *user, int tx, int ty)
{
    return static_cast<EEModelDataset *>(user)->IsTileCached(tx, ty) ? 1 : 0;
}

int EEModelDataset::IsMaskCachedCallback(void *user, int tx, int ty)
{
    return IsBlockCached(static_cast<EEModelDataset *>(user)->m_mask.get(), tx, ty) ? 1 : 0;
}

/* Bytes of one block of every band and of the mask. */
long long EEModelDataset::TileBytes()
{
    const long long nPixels = static_cast<long long>(m_blockXSize) * m_blockYSize;
    long long nBytes = nPixels; /* the mask */
    for (int i = 1; i <= nBands; i++)
        nBytes += nPixels * GDALGetDataTypeSizeBytes(GetRasterBand(i)->GetRasterDataType());
    return nBytes;
}

static size_t BlockBytes(GDALRasterBand *poBand)
{
    int nBlockXSize = 0, nBlockYSize = 0;
    poBand->GetBlockSize(&nBlockXSize, &nBlockYSize);
    return static_cast<size_t>(nBlockXSize) * nBlockYSize *
           GDALGetDataTypeSizeBytes(poBand->GetRasterDataType());
}

bool EEModelDataset::CopyCachedBlock(GDALRasterBand *poBand, int nBlockX, int nBlockY,
                                     void *pImage)
{
    GDALRasterBlock *poCached = poBand->TryGetLockedBlockRef(nBlockX, nBlockY);
    if (poCached == nullptr)
        return false;
    /* the block being filled is pImage itself: it still has to be computed */
    const bool bOther = poCached->GetDataRef() != pImage;
    if (bOther)
        memcpy(pImage, poCached->GetDataRef(), BlockBytes(poBand));
    poCached->DropLock();
    return bOther;
}

/* Copy one finished tile into a band's block: straight into the block an
 * IReadBlock call is filling, else into the cache unless already there. */
static bool FillBlock(GDALRasterBand *poBand, int tx, int ty, const void *data,
                      GDALRasterBand *pendingBand, int px, int py, void *pendingImage)
{
    if (poBand == pendingBand && tx == px && ty == py)
    {
        memcpy(pendingImage, data, BlockBytes(poBand));
        return true;
    }
    GDALRasterBlock *poBlock = poBand->TryGetLockedBlockRef(tx, ty);
    if (poBlock != nullptr)
    {
        poBlock->DropLock();
        return true;
    }
    poBlock = poBand->GetLockedBlockRef(tx, ty, TRUE);
    if (poBlock == nullptr)
        return false;
    memcpy(poBlock->GetDataRef(), data, BlockBytes(poBand));
    poBlock->DropLock();
    return true;
}

/* Put block (bx,by) of every band and of the mask into the cache. */
bool EEModelDataset::StoreBlock(int bx, int by, void *const *bands, const uint8_t *mask)
{
    for (int i = 1; i <= nBands; i++)
        if (!FillBlock(GetRasterBand(i), bx, by, bands[i - 1], m_pendingBand, m_pendingX,
                       m_pendingY, m_pendingImage))
            return false;
    return FillBlock(m_mask.get(), bx, by, mask, m_pendingBand, m_pendingX, m_pendingY,
                     m_pendingImage);
}

eem_status EEModelDataset::StoreTile(void *user, int, int tx, int ty, void *const *bands,
                                     const uint8_t *mask, eem_error *err)
{
    auto *poDS = static_cast<EEModelDataset *>(user);
    /* a read delivered straight into its caller's buffer (eemodel_direct.cpp);
     * a tile the tile store does not keep (no store, or past its bounds) also
     * goes to the block cache, so that the other bands' reads find it */
    bool bCache = poDS->m_direct == nullptr;
    if (!bCache)
    {
        poDS->CopyTileToTarget(tx, ty, bands, mask);
        bCache = !eem_predictor_tile_costs_nothing(poDS->m_shared->predictor, poDS->m_level, tx,
                                                   ty);
    }
    if (bCache && !poDS->StoreBlock(tx, ty, bands, mask))
        return eem_error_set(err, EEM_ERR_NOMEM, "no room in GDAL's block cache");
    /* masked, not predicted: dropped from the cache at the next read */
    if (eem_predictor_tile_failed(poDS->m_shared->predictor))
    {
        /* the message now, in the sink (the pipeline's worker may write the
         * predictor's next one once this read is served) */
        poDS->m_lastFailure = eem_predictor_last_failure(poDS->m_shared->predictor);
        if (eem_tile_list_add(&poDS->m_failedTiles, tx, ty) != 0)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory listing the failed tiles");
    }
    if (poDS->m_progress != nullptr)
        poDS->m_progress->TileDone();
    return EEM_OK;
}

eem_status EEModelDataset::StoreMaskTile(void *user, int, int tx, int ty, void *const *,
                                         const uint8_t *mask, eem_error *err)
{
    auto *poDS = static_cast<EEModelDataset *>(user);
    if (!FillBlock(poDS->m_mask.get(), tx, ty, mask, poDS->m_pendingBand, poDS->m_pendingX,
                   poDS->m_pendingY, poDS->m_pendingImage))
        return eem_error_set(err, EEM_ERR_NOMEM, "no room in GDAL's block cache");
    return EEM_OK;
}

/* Blocks of tiles masked by ON_ERROR=NODATA leave the block cache, so that
 * the next read predicts them again (and their mask with them). */
void EEModelDataset::DropFailedTiles()
{
    for (int k = 0; k < m_failedTiles.n; k++)
    {
        const int tx = m_failedTiles.xy[2 * k], ty = m_failedTiles.xy[2 * k + 1];
        for (int i = 1; i <= nBands; i++)
            GetRasterBand(i)->FlushBlock(tx, ty, FALSE);
        m_mask->FlushBlock(tx, ty, FALSE);
        if (eem_tile_list_add(&m_retryTiles, tx, ty) != 0)
            CPLError(CE_Warning, CPLE_OutOfMemory,
                     "EEMODEL: out of memory: the mask of tile %d,%d comes from the source", tx, ty);
    }
    eem_tile_list_clear(&m_failedTiles);
}
