/* datamemo.c — what one opened dataset remembers between reads (see datamemo.h). */
#include "datamemo.h"

#include "cost.h"

#include <stdlib.h>

eem_status eem_datamemo_open(eem_datamemo *m, int n_bands, const eem_dtype *band_types, size_t npix,
                             eem_error *err)
{
    size_t *sizes = calloc((size_t)n_bands, sizeof *sizes);
    m->failures = eem_failmemo_new();
    if (!sizes || !m->failures) {
        free(sizes);
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    for (int b = 0; b < n_bands; b++)
        sizes[b] = npix * eem_dtype_size(band_types[b]);
    long long max_memory, max_disk;
    eem_tilestore_configured_bounds(&max_memory, &max_disk);
    m->store = eem_tilestore_new(n_bands, sizes, npix, max_memory, max_disk);
    free(sizes);
    return EEM_OK;
}

void eem_datamemo_close(eem_datamemo *m)
{
    eem_tilestore_free(m->store);
    eem_failmemo_free(m->failures);
    m->store = NULL;
    m->failures = NULL;
}

int eem_datamemo_costs_nothing(const eem_datamemo *m, int level, int tx, int ty)
{
    return eem_tilestore_holds(m->store, level, tx, ty) ||
           eem_failmemo_find(m->failures, level, tx, ty) != NULL;
}

eem_status eem_datamemo_serve(eem_datamemo *m, int level, int *order, int *n, int fail_remembered,
                              long max_predictions, int n_bands, eem_tile_sink sink,
                              void *sink_user, eem_error *err)
{
    if (m->refusal.status != EEM_OK) {
        *err = m->refusal;
        return err->status;
    }
    long long to_predict = 0;
    for (int k = 0; k < *n; k++) {
        int tx = order[2 * k], ty = order[2 * k + 1];
        if (eem_tilestore_holds(m->store, level, tx, ty))
            continue;
        const char *failed = eem_failmemo_find(m->failures, level, tx, ty);
        if (failed && fail_remembered)
            return eem_error_set(err, EEM_ERR_HTTP,
                                 "tile (%d,%d) is not asked again: its prediction failed earlier "
                                 "through this dataset (reopen it to try again): %s",
                                 tx, ty, failed);
        to_predict += !failed;
    }
    eem_status st =
        eem_cost_check_budget(max_predictions, m->tiles_sent, to_predict, "this read", err);
    void **bands = st == EEM_OK ? calloc((size_t)n_bands, sizeof *bands) : NULL;
    if (st == EEM_OK && !bands)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    int left = 0;
    for (int k = 0; st == EEM_OK && k < *n; k++) {
        int tx = order[2 * k], ty = order[2 * k + 1];
        uint8_t *mask = NULL;
        if (eem_tilestore_get(m->store, level, tx, ty, bands, &mask)) {
            st = sink(sink_user, level, tx, ty, bands, mask, err);
            eem_tilestore_mark_read(m->store, level, tx, ty); /* read out: memory stays flat */
            continue;
        }
        order[2 * left] = tx;
        order[2 * left + 1] = ty;
        left++;
    }
    free(bands);
    *n = left;
    return st;
}

eem_status eem_datamemo_lend_held_masks(eem_datamemo *m, int level, int *order, int *n,
                                        eem_tile_sink sink, void *sink_user, eem_error *err)
{
    eem_status st = EEM_OK;
    int left = 0;
    for (int k = 0; k < *n; k++) {
        int tx = order[2 * k], ty = order[2 * k + 1];
        uint8_t *mask = NULL;
        if (st == EEM_OK && eem_tilestore_get(m->store, level, tx, ty, NULL, &mask)) {
            st = sink(sink_user, level, tx, ty, NULL, mask, err);
            continue;
        }
        order[2 * left] = tx;
        order[2 * left + 1] = ty;
        left++;
    }
    *n = left;
    return st;
}
