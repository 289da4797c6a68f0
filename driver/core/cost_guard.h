/* cost_guard.h — the cost guard's verdict and message, with no dependency on
 * the predictor (cost.h computes costs from a predictor; the predictor only
 * needs this verdict, so the two no longer include each other). */
#ifndef EEM_COST_GUARD_H
#define EEM_COST_GUARD_H

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* EEM_OK when n_tiles <= max_predictions, else EEM_ERR_LIMIT with the count
 * and how to raise the limit.  what names the read for the message ("this
 * read", "overview level 2 (FIX_INPUT_PROJ=true)"). */
eem_status eem_cost_check_limit(long max_predictions, long long n_tiles, const char *what,
                                eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
