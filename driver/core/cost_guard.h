/* cost_guard.h — the cost guard's verdict and message, with no dependency on
 * the predictor (cost.h computes costs from a predictor; the predictor only
 * needs this verdict, so the two no longer include each other). */
#ifndef EEM_COST_GUARD_H
#define EEM_COST_GUARD_H

#include "error.h"
#include "grid.h"
#include "spec.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The MAX_PREDICTIONS a descriptor allows: its own when set, else the config
 * option EEMODEL_MAX_PREDICTIONS (a positive integer), else
 * EEM_DEFAULT_MAX_PREDICTIONS.  The raster and the vector side share it. */
long eem_cost_max_predictions(const eem_spec *spec);
/* EEM_ERR_INVALID when the descriptor sets no MAX_PREDICTIONS and
 * EEMODEL_MAX_PREDICTIONS is set to something else than a whole number of 1
 * or more (named, with what is accepted): checked at open, never replaced by
 * the default in silence. */
eem_status eem_cost_guard_check_config(const eem_spec *spec, eem_error *err);

/* EEM_OK when n_tiles <= max_predictions, else EEM_ERR_LIMIT with the count
 * and how to raise the limit.  what names the read for the message ("this
 * read", "overview level 2 (FIX_INPUT_PROJ=true)"). */
eem_status eem_cost_check_limit(long max_predictions, long long n_tiles, const char *what,
                                eem_error *err);
/* The budget form: MAX_PREDICTIONS bounds the tiles one opened dataset sends
 * from open to close; spent of them are sent already.  EEM_OK when spent +
 * n_tiles <= max_predictions, else EEM_ERR_LIMIT saying how much was spent
 * and how to raise the limit (GDAL open option, QGIS layer option, config
 * option). */
eem_status eem_cost_check_budget(long max_predictions, long long spent, long long n_tiles,
                                 const char *what, eem_error *err);

/* The error for a tile whose request body alone (single bytes, of which
 * data_len are the encoded tensors, in the payload format named format)
 * exceeds max_payload bytes, naming the INPUT_TILE_SIZE of grid g (same
 * overlap) that would fit.  Always returns EEM_ERR_LIMIT. */
eem_status eem_cost_payload_limit_error(const eem_grid *g, long max_payload, const char *format,
                                        size_t data_len, size_t single, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
