/* cost_guard.c — the cost guard's verdict (see cost_guard.h). */
#include "cost_guard.h"

eem_status eem_cost_check_limit(long max, long long n_tiles, const char *what, eem_error *err)
{
    if (n_tiles <= max)
        return EEM_OK;
    return eem_error_set(err, EEM_ERR_LIMIT,
                         "%s needs %lld predictions, more than MAX_PREDICTIONS=%ld; nothing was "
                         "sent. Read a smaller window or a coarser overview, or raise the limit "
                         "with -oo MAX_PREDICTIONS=%lld or --config EEMODEL_MAX_PREDICTIONS %lld",
                         what ? what : "this read", n_tiles, max, n_tiles, n_tiles);
}
