/* grid.c — tiling geometry of DESIGN.md section 3 (see grid.h).  Integer and
 * rational arithmetic only; geotransforms are derived from the tile ratio,
 * never from rounded pixel sizes. */
#include "grid.h"

#include <stdint.h>
#include <stdlib.h>

/* Largest tile or raster side we accept; keeps every product below 2^62. */
#define EEM_GRID_MAX_SIDE (1 << 30)

static int64_t ceil_div64(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static int64_t floor_div64(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static void grid_derive(eem_grid *g)
{
    g->out_w = (int)ceil_div64((int64_t)g->in_w * g->uw, g->tw);
    g->out_h = (int)ceil_div64((int64_t)g->in_h * g->uh, g->th);
    g->tiles_x = (int)ceil_div64(g->in_w, g->tw);
    g->tiles_y = (int)ceil_div64(g->in_h, g->th);
    g->gt_out[0] = g->gt_in[0];
    g->gt_out[3] = g->gt_in[3];
    /* column coefficients scale by tw/uw, row coefficients by th/uh */
    g->gt_out[1] = g->gt_in[1] * g->tw / g->uw;
    g->gt_out[4] = g->gt_in[4] * g->tw / g->uw;
    g->gt_out[2] = g->gt_in[2] * g->th / g->uh;
    g->gt_out[5] = g->gt_in[5] * g->th / g->uh;
}

eem_status eem_grid_init(eem_grid *g, int in_w, int in_h, const double gt_in[6], int tw, int th,
                         int ox, int oy, int uw, int uh, eem_error *err)
{
    if (in_w <= 0 || in_h <= 0 || in_w > EEM_GRID_MAX_SIDE || in_h > EEM_GRID_MAX_SIDE)
        return eem_error_set(err, EEM_ERR_INVALID, "INPUT: raster size %dx%d is not usable", in_w,
                             in_h);
    if (tw <= 0 || th <= 0 || tw > EEM_GRID_MAX_SIDE || th > EEM_GRID_MAX_SIDE)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "INPUT_TILE_SIZE: \"%d,%d\" is not two positive integers W,H", tw, th);
    if (uw <= 0 || uh <= 0 || uw > EEM_GRID_MAX_SIDE || uh > EEM_GRID_MAX_SIDE)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "OUTPUT_TILE_SIZE: \"%d,%d\" is not two positive integers W,H", uw, uh);
    if (ox < 0 || oy < 0 || ox > EEM_GRID_MAX_SIDE / 4 || oy > EEM_GRID_MAX_SIDE / 4)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "INPUT_OVERLAP_SIZE: \"%d,%d\" is not two non-negative integers X,Y",
                             ox, oy);
    int64_t ow = ceil_div64((int64_t)in_w * uw, tw), oh = ceil_div64((int64_t)in_h * uh, th);
    if (ow > INT32_MAX || oh > INT32_MAX)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "OUTPUT_TILE_SIZE: \"%d,%d\" makes the output %lldx%lld pixels, larger "
                             "than GDAL can address",
                             uw, uh, (long long)ow, (long long)oh);
    g->in_w = in_w;
    g->in_h = in_h;
    g->tw = tw;
    g->th = th;
    g->ox = ox;
    g->oy = oy;
    g->uw = uw;
    g->uh = uh;
    g->level = 0;
    g->shift_x = g->shift_y = 0;
    for (int k = 0; k < 6; k++)
        g->gt_in[k] = gt_in[k];
    grid_derive(g);
    return EEM_OK;
}

void eem_grid_overview(const eem_grid *base, int level, eem_grid *out)
{
    *out = *base;
    int64_t f = (int64_t)1 << level;
    out->level = level;
    out->in_w = (int)ceil_div64(base->in_w, f);
    out->in_h = (int)ceil_div64(base->in_h, f);
    out->gt_in[1] = base->gt_in[1] * (double)f;
    out->gt_in[2] = base->gt_in[2] * (double)f;
    out->gt_in[4] = base->gt_in[4] * (double)f;
    out->gt_in[5] = base->gt_in[5] * (double)f;
    grid_derive(out);
}

int eem_grid_overview_count(const eem_grid *base)
{
    int k = 0;
    int64_t w = base->in_w, h = base->in_h;
    while ((w > base->tw || h > base->th) && k < 30) {
        k++;
        w = ceil_div64(w, 2);
        h = ceil_div64(h, 2);
    }
    return k;
}

eem_rect eem_grid_tile_input_window(const eem_grid *g, int i, int j)
{
    eem_rect r;
    r.x = g->shift_x + i * g->tw - g->ox;
    r.y = g->shift_y + j * g->th - g->oy;
    r.w = g->tw + 2 * g->ox;
    r.h = g->th + 2 * g->oy;
    return r;
}

static eem_rect clip_rect(int x, int y, int w, int h, int W, int H)
{
    eem_rect r;
    int x1 = x + w, y1 = y + h;
    if (x < 0)
        x = 0;
    if (y < 0)
        y = 0;
    if (x1 > W)
        x1 = W;
    if (y1 > H)
        y1 = H;
    r.x = x;
    r.y = y;
    r.w = x1 > x ? x1 - x : 0;
    r.h = y1 > y ? y1 - y : 0;
    return r;
}

eem_rect eem_grid_tile_core_window(const eem_grid *g, int i, int j)
{
    return clip_rect(g->shift_x + i * g->tw, g->shift_y + j * g->th, g->tw, g->th, g->in_w,
                     g->in_h);
}

eem_rect eem_grid_tile_output_window(const eem_grid *g, int i, int j)
{
    return clip_rect(i * g->uw, j * g->uh, g->uw, g->uh, g->out_w, g->out_h);
}

void eem_grid_tiles_for_output_window(const eem_grid *g, eem_rect win, int *i0, int *j0, int *i1,
                                      int *j1)
{
    eem_rect c = clip_rect(win.x, win.y, win.w, win.h, g->out_w, g->out_h);
    if (c.w == 0 || c.h == 0) {
        *i0 = *j0 = *i1 = *j1 = 0;
        return;
    }
    *i0 = c.x / g->uw;
    *j0 = c.y / g->uh;
    *i1 = (int)ceil_div64((int64_t)c.x + c.w, g->uw);
    *j1 = (int)ceil_div64((int64_t)c.y + c.h, g->uh);
}

int eem_grid_padded_output_size(const eem_grid *g, int *pw, int *ph)
{
    int64_t nx = 2 * (int64_t)g->ox * g->uw, ny = 2 * (int64_t)g->oy * g->uh;
    if (nx % g->tw != 0 || ny % g->th != 0)
        return -1;
    *pw = g->uw + (int)(nx / g->tw);
    *ph = g->uh + (int)(ny / g->th);
    return 0;
}

static void cover(int x, int t, int u, int *a, int *b)
{
    *a = (int)floor_div64((int64_t)x * t, u);
    *b = (int)ceil_div64((int64_t)(x + 1) * t, u);
}

void eem_grid_output_pixel_cover_x(const eem_grid *g, int x, int *a, int *b)
{
    cover(x, g->tw, g->uw, a, b);
}

void eem_grid_output_pixel_cover_y(const eem_grid *g, int y, int *a, int *b)
{
    cover(y, g->th, g->uh, a, b);
}

int eem_grid_compare_tiles(const void *a, const void *b)
{
    const int *ta = a, *tb = b;
    if (ta[1] != tb[1])
        return ta[1] < tb[1] ? -1 : 1;
    return ta[0] < tb[0] ? -1 : ta[0] > tb[0];
}

void eem_grid_sort_tiles(int *tiles, int n)
{
    if (n > 1)
        qsort(tiles, (size_t)n, 2 * sizeof *tiles, eem_grid_compare_tiles);
}

int eem_grid_output_within_input(const eem_grid *g)
{
    if (g->out_w <= 0 || g->out_h <= 0 || g->uw <= 0 || g->uh <= 0)
        return 0;
    /* covers grow with the pixel: the last row and column of the raster decide */
    const int i = (g->out_w - 1) / g->uw, j = (g->out_h - 1) / g->uh;
    int a, b, c, d;
    eem_grid_output_pixel_cover_x(g, g->out_w - 1 - i * g->uw, &a, &b);
    eem_grid_output_pixel_cover_y(g, g->out_h - 1 - j * g->uh, &c, &d);
    return g->shift_x + (long long)i * g->tw + b <= g->in_w &&
           g->shift_y + (long long)j * g->th + d <= g->in_h;
}
