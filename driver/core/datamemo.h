/* datamemo.h — what one opened dataset remembers between reads (issue 12):
 * the decoded tiles it predicted (tilestore.h), the tiles whose prediction
 * failed lastingly (failmemo.h), the predictions it has sent (the cost
 * guard's budget, MAX_PREDICTIONS per opened dataset) and a refusal that
 * holds for every later read (a whole copy announced over the budget).
 *
 * The predictor embeds one and asks it, before a compute call sends
 * anything, which tiles it can serve from memory. */
#ifndef EEM_DATAMEMO_H
#define EEM_DATAMEMO_H

#include "dtype.h"
#include "error.h"
#include "failmemo.h"
#include "predictor.h"
#include "tilestore.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_datamemo {
    eem_tilestore *store; /* NULL: no store (both bounds 0) */
    eem_failmemo *failures;
    long long tiles_sent; /* tiles sent in requests since open */
    eem_error refusal;    /* status != EEM_OK: every compute fails with it */
} eem_datamemo;

/* Memories for tiles of n_bands bands of the given types, npix pixels each. */
eem_status eem_datamemo_open(eem_datamemo *m, int n_bands, const eem_dtype *band_types, size_t npix,
                             eem_error *err);
void eem_datamemo_close(eem_datamemo *m);

/* 1 when tile (tx,ty) of a level needs no request (held, or failed). */
int eem_datamemo_costs_nothing(const eem_datamemo *m, int level, int tx, int ty);

/* Before anything is sent for tiles order[0..*n) of a level: the refusal, if
 * any; a tile remembered as failed fails the call when fail_remembered
 * (ON_ERROR=FAIL; else it is left for the caller to mask); the cost guard
 * over the tiles still to predict and what was sent; then the held tiles go
 * to the sink from the store (and, read out, leave its memory first:
 * eem_tilestore_mark_read).  order keeps the other tiles, *n their count. */
eem_status eem_datamemo_serve(eem_datamemo *m, int level, int *order, int *n, int fail_remembered,
                              long max_predictions, int n_bands, eem_tile_sink sink,
                              void *sink_user, eem_error *err);

/* The masks of the held tiles among order[0..*n) of a level go to the sink
 * (bands NULL), with no check and no guard: for a read that predicts nothing
 * (the mask band's).  order keeps the others, *n their count. */
eem_status eem_datamemo_lend_held_masks(eem_datamemo *m, int level, int *order, int *n,
                                        eem_tile_sink sink, void *sink_user, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
