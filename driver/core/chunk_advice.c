/* chunk_advice.c — the chunk size a parallel reader should use (see
 * chunk_advice.h). */
#include "chunk_advice.h"


void eem_chunk_advice_of(const eem_grid *g, long long instances_per_request, int max_connections,
                         eem_chunk_advice *out)
{
    if (instances_per_request < 1)
        instances_per_request = 1;
    if (max_connections < 1)
        max_connections = 1;
    long long want = instances_per_request * max_connections;
    long long all = (long long)g->tiles_x * g->tiles_y;
    if (want > all)
        want = all;
    /* the most tiles, at most want, in a rectangle as square as the raster's
     * tile grid allows: never more requests than connections */
    long long best_x = 1, best_y = 1;
    for (long long kx = 1; kx <= g->tiles_x && kx <= want; kx++) {
        long long ky = want / kx;
        if (ky > g->tiles_y)
            ky = g->tiles_y;
        long long n = kx * ky, best = best_x * best_y;
        long long skew = kx > ky ? kx - ky : ky - kx;
        long long best_skew = best_x > best_y ? best_x - best_y : best_y - best_x;
        if (n > best || (n == best && skew < best_skew)) {
            best_x = kx;
            best_y = ky;
        }
    }
    out->multiple_w = g->uw;
    out->multiple_h = g->uh;
    out->chunk_w = (int)(best_x * g->uw);
    out->chunk_h = (int)(best_y * g->uh);
    out->tiles_per_chunk = best_x * best_y;
}
