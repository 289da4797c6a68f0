/* config_number.h — the driver's numeric config options in one table: what
 * each accepts, its value (the default when unset or bad) and the check that
 * refuses a bad one by name.
 *
 * Values are read with CPLGetConfigOption at each call (a thread-local option
 * set since the open counts).  eem_config_numbers_check runs at every open and
 * at the start of every read, so a bad value is refused, never replaced by the
 * default in silence; the options a descriptor key can override
 * (EEMODEL_MAX_PREDICTIONS, EEMODEL_JOB_MAX_PREDICTIONS) are checked by their
 * owners, which know whether the descriptor set them. */
#ifndef EEM_CONFIG_NUMBER_H
#define EEM_CONFIG_NUMBER_H

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum eem_number_key {
    EEM_NUM_MAX_CONNECTIONS,     /* EEMODEL_MAX_CONNECTIONS */
    EEM_NUM_HTTP_TIMEOUT,        /* GDAL_HTTP_TIMEOUT, seconds */
    EEM_NUM_HTTP_CONNECTTIMEOUT, /* GDAL_HTTP_CONNECTTIMEOUT, seconds */
    EEM_NUM_HTTP_MAX_RETRY,      /* GDAL_HTTP_MAX_RETRY */
    EEM_NUM_HTTP_RETRY_DELAY,    /* GDAL_HTTP_RETRY_DELAY, seconds */
    EEM_NUM_MAX_RESPONSE_BYTES,  /* EEMODEL_MAX_RESPONSE_BYTES */
    EEM_NUM_TILE_STORE_MEMORY,   /* EEMODEL_TILE_STORE_MEMORY, MB */
    EEM_NUM_TILE_STORE_DISK,     /* EEMODEL_TILE_STORE_DISK, MB */
    EEM_NUM_CACHE_LEASE_SECONDS, /* EEMODEL_CACHE_LEASE_SECONDS */
    EEM_NUM_MAX_PREDICTIONS,     /* EEMODEL_MAX_PREDICTIONS (owner: cost_guard.c) */
    EEM_NUM_JOB_MAX_PREDICTIONS, /* EEMODEL_JOB_MAX_PREDICTIONS (owner: job_budget.c) */
    EEM_NUM_COUNT
} eem_number_key;

/* The option's value: its default when unset or not accepted. */
double eem_config_number(eem_number_key k);
/* 1 when the option is set to an accepted value. */
int eem_config_number_is_set(eem_number_key k);
/* EEM_ERR_INVALID naming option k, its value and what it accepts when it is
 * set to something it does not accept; else EEM_OK. */
eem_status eem_config_number_check(eem_number_key k, eem_error *err);
/* eem_config_number_check of every option but the two with owners. */
eem_status eem_config_numbers_check(eem_error *err);

#ifdef __cplusplus
}
#endif

#endif
