/* reduce.c — average / mode reduction of full-resolution predictions for
 * FIX_INPUT_PROJ=true overviews, strip by strip and block by block (see
 * reduce.h). */
#include "reduce.h"

#include <stdlib.h>
#include <string.h>

eem_reduce_method eem_reduce_method_for(eem_dtype t)
{
    return eem_dtype_is_float(t) ? EEM_REDUCE_AVERAGE : EEM_REDUCE_MODE;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Most frequent of n sorted values; the first (smallest) run wins a tie. */
static double mode_of_sorted(const double *v, int n)
{
    double best = v[0];
    int best_run = 0;
    for (int i = 0; i < n;) {
        int j = i + 1;
        while (j < n && v[j] == v[i])
            j++;
        if (j - i > best_run) {
            best_run = j - i;
            best = v[i];
        }
        i = j;
    }
    return best;
}

void eem_reduce_strip(eem_reduce_method method, const double *values, const uint8_t *mask,
                      int width, int rows, int factor, double fill, double *out,
                      uint8_t *out_mask, double *scratch)
{
    int n_out = (width + factor - 1) / factor;
    for (int c = 0; c < n_out; c++) {
        int x0 = c * factor, x1 = x0 + factor < width ? x0 + factor : width;
        double sum = 0;
        int n = 0;
        for (int y = 0; y < rows; y++) {
            const double *row = values + (size_t)y * width;
            const uint8_t *mrow = mask ? mask + (size_t)y * width : NULL;
            for (int x = x0; x < x1; x++) {
                if (mrow && !mrow[x])
                    continue;
                if (method == EEM_REDUCE_AVERAGE)
                    sum += row[x];
                else
                    scratch[n] = row[x];
                n++;
            }
        }
        out_mask[c] = n > 0 ? 255 : 0;
        if (n == 0)
            out[c] = fill;
        else if (method == EEM_REDUCE_AVERAGE)
            out[c] = sum / n;
        else {
            qsort(scratch, (size_t)n, sizeof *scratch, compare_doubles);
            out[c] = mode_of_sorted(scratch, n);
        }
    }
}

/* Output columns per strip read, so a strip stays within EEM_REDUCE_STRIP_BYTES. */
static int columns_per_strip(int factor, int width)
{
    size_t per_column = (size_t)factor * factor * sizeof(double);
    size_t n = EEM_REDUCE_STRIP_BYTES / per_column;
    if (n > (size_t)width)
        n = (size_t)width;
    return n < 1 ? 1 : (int)n;
}

eem_status eem_reduce_block(const eem_reduce_input *in, int factor, eem_rect block, int block_w,
                            int block_h, double fill, double *const *bands, uint8_t *mask,
                            eem_error *err)
{
    const size_t n_pixels = (size_t)block_w * block_h;
    const int f = factor;
    for (int b = 0; b < in->n_bands; b++)
        for (size_t i = 0; i < n_pixels; i++)
            bands[b][i] = fill;
    memset(mask, 0, n_pixels);
    if (block.w <= 0 || block.h <= 0)
        return EEM_OK;

    const int n_chunk = columns_per_strip(f, block.w);
    const size_t strip = (size_t)n_chunk * f * f;
    eem_status st = EEM_OK;
    double *values = malloc(strip * sizeof *values);
    uint8_t *strip_mask = malloc(strip);
    double *scratch = malloc((size_t)f * f * sizeof *scratch);
    double *out = malloc((size_t)n_chunk * sizeof *out);
    uint8_t *out_mask = calloc((size_t)n_chunk, 1); /* no bands: the block stays masked */
    if (!values || !strip_mask || !scratch || !out || !out_mask) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory reducing a %dx%d block by %d",
                           block.w, block.h, f);
        goto done;
    }
    for (int r = 0; r < block.h; r++) {
        const int sy = (block.y + r) * f;
        const int sh = (sy + f < in->height ? sy + f : in->height) - sy;
        for (int c0 = 0; c0 < block.w; c0 += n_chunk) {
            const int nc = n_chunk < block.w - c0 ? n_chunk : block.w - c0;
            const int sx = (block.x + c0) * f;
            const int sw = (sx + nc * f < in->width ? sx + nc * f : in->width) - sx;
            const eem_rect win = {sx, sy, sw, sh};
            if ((st = in->read_mask(in->user, win, strip_mask, err)) != EEM_OK)
                goto done;
            for (int b = 0; b < in->n_bands; b++) {
                if ((st = in->read_band(in->user, b, win, values, err)) != EEM_OK)
                    goto done;
                eem_reduce_strip(in->methods[b], values, strip_mask, sw, sh, f, fill, out,
                                 out_mask, scratch);
                memcpy(bands[b] + (size_t)r * block_w + c0, out, (size_t)nc * sizeof *out);
            }
            memcpy(mask + (size_t)r * block_w + c0, out_mask, (size_t)nc);
        }
    }
done:
    free(values);
    free(strip_mask);
    free(scratch);
    free(out);
    free(out_mask);
    return st;
}
