/* source_blocks.h — dropping cached source blocks a reading has passed
 * (source_blocks.cpp). */
#ifndef EEM_SOURCE_BLOCKS_H
#define EEM_SOURCE_BLOCKS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Drop GDAL's cached blocks of every band of dataset (a GDALDatasetH), and of
 * their masks, that lie in columns [x0, x1) and entirely in rows [y0, y1):
 * a block row that reaches y1 or below is kept. */
void eem_source_blocks_drop(void *dataset, int x0, int y0, int x1, int y1);

#ifdef __cplusplus
}
#endif
#endif
