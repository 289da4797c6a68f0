/* chunk_advice.h — how a parallel reader (Dask through rioxarray, a job array
 * of gdal_translate -srcwin runs) should cut the output raster: chunks that
 * start and end on tile boundaries never share a tile, and a chunk of
 * EEMODEL_MAX_CONNECTIONS full requests keeps every connection busy with one
 * read. */
#ifndef EEM_CHUNK_ADVICE_H
#define EEM_CHUNK_ADVICE_H

#include "grid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_chunk_advice {
    int multiple_w, multiple_h; /* chunks are multiples of the block (= output tile) */
    int chunk_w, chunk_h;       /* recommended chunk, output pixels */
    long long tiles_per_chunk;  /* tiles of a full recommended chunk */
} eem_chunk_advice;

/* The advice for output grid g: a chunk of at most max_connections *
 * instances_per_request tiles (the most such a rectangle holds), as square as the tile grid allows, a whole
 * number of blocks on each side, no larger than the raster rounded up to
 * blocks. */
void eem_chunk_advice_of(const eem_grid *g, long long instances_per_request, int max_connections,
                         eem_chunk_advice *out);

#ifdef __cplusplus
}
#endif
#endif
