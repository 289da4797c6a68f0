/* reduce.c — average / mode reduction of full-resolution predictions for
 * FIX_INPUT_PROJ=true overviews (see reduce.h). */
#include "reduce.h"

#include <stdlib.h>

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
