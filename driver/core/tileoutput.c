/* tileoutput.c — decoded outputs of a tile into band buffers (see tileoutput.h). */
#include "tileoutput.h"

#include <stdio.h>
#include <string.h>

static void shape_text(const eem_tensor *t, char *buf, size_t n)
{
    size_t off = 0;
    off += (size_t)snprintf(buf + off, n - off, "[");
    for (int d = 0; d < t->ndim && off < n; d++)
        off += (size_t)snprintf(buf + off, n - off, "%s%lld", d ? "," : "", (long long)t->dims[d]);
    if (off < n)
        snprintf(buf + off, n - off, "]");
}

eem_status eem_tile_output_store(const eem_tile_layout *l, int tx, int ty, int oi,
                                 const eem_tensor *t, void *const *band_bufs, eem_error *err)
{
    const eem_output *o = &l->spec->outputs[oi];
    const eem_grid *g = l->grid;
    int L = o->dims == 1 ? o->length : 1;
    int64_t d[EEM_TENSOR_MAX_DIMS];
    int nd = t->ndim;
    memcpy(d, t->dims, sizeof d);
    /* a leading batch dimension of 1 is tolerated: (1,H,W,C), and (1,H,W) for a
     * single-channel output when (H,W,C) does not fit */
    if ((nd == 4 && d[0] == 1) || (nd == 3 && d[0] == 1 && L == 1 && d[2] != 1 &&
                                   (d[1] == g->uh || (l->has_padded && d[1] == l->ph)))) {
        memmove(d, d + 1, 3 * sizeof *d);
        nd--;
    }
    int64_t h = -1, w = -1, c = -1;
    if (nd == 3) {
        h = d[0];
        w = d[1];
        c = d[2];
    } else if (nd == 2 && L == 1) {
        h = d[0];
        w = d[1];
        c = 1;
    } else if (g->uw == 1 && g->uh == 1 && nd <= 1) {
        /* a patch classifier may answer a bare vector / scalar */
        h = w = 1;
        c = nd == 1 ? d[0] : 1;
    }
    int off_x = 0, off_y = 0, shape_ok = 0;
    if (c == L && h == g->uh && w == g->uw)
        shape_ok = 1;
    else if (c == L && l->has_padded && h == l->ph && w == l->pw) {
        shape_ok = 1;
        off_x = (l->pw - g->uw) / 2;
        off_y = (l->ph - g->uh) / 2;
    }
    if (!shape_ok) {
        char got[160];
        shape_text(t, got, sizeof got);
        if (l->has_padded && (l->pw != g->uw || l->ph != g->uh))
            return eem_error_set(err, EEM_ERR_PROTOCOL,
                                 "output \"%s\" of tile (%d,%d): the model answered shape %s; "
                                 "expected [%d,%d,%d] (output tile) or [%d,%d,%d] (output tile "
                                 "padded by the overlap)",
                                 o->name, tx, ty, got, g->uh, g->uw, L, l->ph, l->pw, L);
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "output \"%s\" of tile (%d,%d): the model answered shape %s; "
                             "expected [%d,%d,%d] (output tile)",
                             o->name, tx, ty, got, g->uh, g->uw, L);
    }
    size_t es = eem_dtype_size(t->type);
    const uint8_t *base = t->data;
    for (int b = 0; b < l->n_bands; b++) {
        if (l->band_output[b] != oi)
            continue;
        int ch = l->band_channel[b];
        eem_dtype bt = l->band_types[b];
        size_t bes = eem_dtype_size(bt);
        uint8_t *dst = band_bufs[b];
        for (int y = 0; y < g->uh; y++) {
            const uint8_t *row =
                base +
                (((size_t)(y + off_y) * (size_t)w + (size_t)off_x) * (size_t)L + (size_t)ch) * es;
            uint8_t *drow = dst + (size_t)y * g->uw * bes;
            /* one channel of an interleaved row; no conversion when the types are equal */
            eem_dtype_convert_strided(row, t->type, (size_t)L, drow, bt, (size_t)g->uw);
        }
    }
    return EEM_OK;
}

void eem_tile_output_explain_size(const eem_tile_layout *l, eem_error *err)
{
    size_t len = strlen(err->msg);
    const eem_grid *g = l->grid;
    if (l->has_padded && (l->pw != g->uw || l->ph != g->uh))
        snprintf(err->msg + len, sizeof err->msg - len,
                 "; each output must be [%d,%d,C] (output tile) or [%d,%d,C] (output "
                 "tile padded by the overlap)",
                 g->uh, g->uw, l->ph, l->pw);
    else
        snprintf(err->msg + len, sizeof err->msg - len,
                 "; each output must be [%d,%d,C] (output tile)", g->uh, g->uw);
}

int eem_tile_output_was_padded(const eem_tile_layout *l, const eem_tensor *t)
{
    const eem_grid *g = l->grid;
    if (!l->has_padded || (l->pw == g->uw && l->ph == g->uh))
        return 0;
    for (int i = 0; i + 1 < t->ndim; i++) /* (H,W[,C]) after an optional batch of 1 */
        if (t->dims[i] == l->ph && t->dims[i + 1] == l->pw)
            return 1;
    return 0;
}
