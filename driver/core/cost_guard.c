/* cost_guard.c — the cost guard's verdict (see cost_guard.h). */
#include "cost_guard.h"

#include "config_values.h"
#include "payload.h"

#include <cpl_conv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* JSON numbers vary in length: the suggested tile size keeps this margin. */
#define EEM_PAYLOAD_FIT_MARGIN 1.03

long eem_cost_max_predictions(const eem_spec *s)
{
    if (s->max_predictions > 0)
        return s->max_predictions;
    return (long)eem_config_number(EEM_NUM_MAX_PREDICTIONS);
}

eem_status eem_cost_guard_check_config(const eem_spec *s, eem_error *err)
{
    return s->max_predictions > 0 ? EEM_OK : eem_config_number_check(EEM_NUM_MAX_PREDICTIONS, err);
}

eem_status eem_cost_check_limit(long max, long long n_tiles, const char *what, eem_error *err)
{
    return eem_cost_check_budget(max, 0, n_tiles, what, err);
}

eem_status eem_cost_check_budget(long max, long long spent, long long n_tiles, const char *what,
                                 eem_error *err)
{
    if (spent < 0)
        spent = 0;
    if (spent + n_tiles <= max)
        return EEM_OK;
    long long need = spent + n_tiles;
    char raise[320];
    snprintf(raise, sizeof raise,
             "raise the limit with -oo MAX_PREDICTIONS=%lld (QGIS: add "
             "|option:MAX_PREDICTIONS=%lld to the layer source) or --config "
             "EEMODEL_MAX_PREDICTIONS %lld",
             need, need, need);
    if (spent == 0)
        return eem_error_set(err, EEM_ERR_LIMIT,
                             "%s needs %lld predictions, more than MAX_PREDICTIONS=%ld; nothing "
                             "was sent. Read a smaller window or a coarser overview, or %s",
                             what ? what : "this read", n_tiles, max, raise);
    return eem_error_set(err, EEM_ERR_LIMIT,
                         "%s needs %lld predictions; with the %lld this dataset has sent since it "
                         "was opened that is more than MAX_PREDICTIONS=%ld (a budget per opened "
                         "dataset); nothing was sent for it. Read a smaller window or a coarser "
                         "overview, reopen the dataset, or %s",
                         what ? what : "this read", n_tiles, spent, max, raise);
}

eem_status eem_cost_payload_limit_error(const eem_grid *g, long max_payload, const char *format,
                                        size_t data_len, size_t single, eem_error *err)
{
    size_t overhead = single > data_len ? single - data_len : 0;
    /* JSON numbers vary in length: keep a margin so the suggestion really fits */
    double per_px = EEM_PAYLOAD_FIT_MARGIN * (double)data_len /
                    ((double)(g->tw + 2 * g->ox) * (g->th + 2 * g->oy));
    double avail = (double)max_payload - (double)overhead;
    double fit = avail > 0 && per_px > 0 ? sqrt(avail / per_px) : 0;
    int side = (int)fit - 2 * (g->ox > g->oy ? g->ox : g->oy);
    if (side < 1)
        return eem_error_set(err, EEM_ERR_LIMIT,
                             "MAX_PAYLOAD_BYTES: one tile encodes to a %zu-byte %s body, more than "
                             "the limit of %ld; reduce INPUT_OVERLAP_SIZE or raise "
                             "MAX_PAYLOAD_BYTES to at least %zu",
                             single, format, max_payload, single);
    return eem_error_set(err, EEM_ERR_LIMIT,
                         "MAX_PAYLOAD_BYTES: one tile encodes to a %zu-byte %s body, more than "
                         "the limit of %ld; an INPUT_TILE_SIZE of at most %d,%d (same overlap) "
                         "fits, or raise MAX_PAYLOAD_BYTES to at least %zu",
                         single, format, max_payload, side, side, single);
}
