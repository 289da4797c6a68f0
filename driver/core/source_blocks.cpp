/* source_blocks.cpp — dropping the source blocks a reading has gone past.
 *
 * GDAL keeps every block it decodes in its block cache until the cache is
 * full.  A prediction reads the source once, top to bottom, so blocks it has
 * passed are dead weight there: memory that stays resident and, while the
 * cache grows, fresh pages faulted in for every new block.  Dropping them lets
 * the next blocks reuse that memory.  GDAL 3.6's C API can only flush a whole
 * band; this file is the one place the core uses its C++ API. */
#include "source_blocks.h"

#include <gdal_priv.h>

#include <algorithm>

static void drop_band_blocks(GDALRasterBand *band, int x0, int y0, int x1, int y1)
{
    int bw = 0, bh = 0;
    band->GetBlockSize(&bw, &bh);
    if (bw <= 0 || bh <= 0)
        return;
    /* block rows entirely above y1 (the rows still needed start there), and
     * never a block the band does not have (GDAL would report an error) */
    const int rows = (band->GetYSize() + bh - 1) / bh, cols = (band->GetXSize() + bw - 1) / bw;
    const int by0 = y0 / bh, by1 = std::min(y1 / bh, rows);
    const int bx0 = x0 / bw, bx1 = std::min((x1 + bw - 1) / bw, cols);
    for (int by = by0; by < by1; by++)
        for (int bx = bx0; bx < bx1; bx++)
            band->FlushBlock(bx, by, FALSE);
}

extern "C" void eem_source_blocks_drop(void *dataset, int x0, int y0, int x1, int y1)
{
    GDALDataset *ds = GDALDataset::FromHandle(static_cast<GDALDatasetH>(dataset));
    if (!ds || x0 >= x1 || y0 >= y1)
        return;
    for (int b = 1; b <= ds->GetRasterCount(); b++) {
        GDALRasterBand *band = ds->GetRasterBand(b);
        drop_band_blocks(band, x0, y0, x1, y1);
        const int flags = band->GetMaskFlags();
        if (!(flags & GMF_ALL_VALID) && !((flags & GMF_PER_DATASET) && b > 1))
            drop_band_blocks(band->GetMaskBand(), x0, y0, x1, y1);
    }
}
