/* job_budget.h — a prediction budget shared by every process of a job
 * (JOB_MAX_PREDICTIONS / EEMODEL_JOB_MAX_PREDICTIONS): the count of tiles
 * predicted so far is kept in the cache folder, in "job-predictions.count",
 * updated under an fcntl() lock, so Dask workers, job-array tasks and threads
 * sharing the folder draw on one budget: the tiles of each request are
 * counted before it is sent, and a request that would pass the budget is not
 * sent.  Deleting the file starts a new job.
 * Tiles served from the cache or skipped as masked cost nothing. */
#ifndef EEM_JOB_BUDGET_H
#define EEM_JOB_BUDGET_H

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_JOB_BUDGET_FILE "job-predictions.count"

/* The limit a descriptor asks for: spec_value when > 0, else the config
 * option EEMODEL_JOB_MAX_PREDICTIONS, else 0 (no job budget). */
long eem_job_budget_limit(long spec_value);
/* EEM_ERR_INVALID naming EEMODEL_JOB_MAX_PREDICTIONS when the descriptor sets
 * no JOB_MAX_PREDICTIONS and the option is set to something else than a
 * whole number of 1 or more (a bad value would otherwise mean no budget). */
eem_status eem_job_budget_check_config(long spec_value, eem_error *err);

/* Count n more predictions in dir's counter: fails with EEM_ERR_LIMIT (the
 * count unchanged) when that would pass limit. */
eem_status eem_job_budget_take(const char *dir, long limit, long n, eem_error *err);

/* Predictions counted in dir so far (0 when none, -1 when unreadable). */
long long eem_job_budget_used(const char *dir);

#ifdef __cplusplus
}
#endif
#endif
