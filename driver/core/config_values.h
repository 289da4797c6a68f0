/* config_values.h — the driver's config options that take a number or one of
 * a few words, in two tables: what each accepts, its value (the default when
 * unset or bad) and the check that refuses a bad one by name.
 *
 * Values are read with CPLGetConfigOption at each call (a thread-local option
 * set since the open counts).  eem_config_values_check runs at every open and
 * at the start of every read, so a bad value is refused, never replaced by the
 * default in silence.  Three numbers are checked by their owners instead:
 * the two a descriptor key can override (EEMODEL_MAX_PREDICTIONS,
 * EEMODEL_JOB_MAX_PREDICTIONS: only the owner knows whether the descriptor
 * set them) and EEMODEL_ANSWERED_MEMORY_S (answered_memo.c says what 0
 * means).  (EEMODEL_READ_AHEAD, which shares its words with the READ_AHEAD
 * key, is checked by pipeline.c.) */
#ifndef EEM_CONFIG_VALUES_H
#define EEM_CONFIG_VALUES_H

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
    EEM_NUM_ANSWERED_MEMORY_S,   /* EEMODEL_ANSWERED_MEMORY_S, seconds (owner: answered_memo.c) */
    EEM_NUM_COUNT
} eem_number_key;

/* The option's value: its default when unset or not accepted. */
double eem_config_number(eem_number_key k);
/* 1 when the option is unset or set to a value it accepts. */
int eem_config_number_accepted(eem_number_key k);
/* EEM_ERR_INVALID naming option k, its value and what it accepts when it is
 * set to something it does not accept; else EEM_OK. */
eem_status eem_config_number_check(eem_number_key k, eem_error *err);

typedef enum eem_choice_key {
    EEM_CHOICE_OIP_BINARY,            /* EEMODEL_OIP_BINARY: AUTO, YES or NO */
    EEM_CHOICE_GRPC_CONNECTION_REUSE, /* EEMODEL_GRPC_CONNECTION_REUSE: AUTO, YES or NO */
    EEM_CHOICE_CHECK_METADATA,        /* EEMODEL_CHECK_METADATA: YES or NO */
    EEM_CHOICE_DIRECT_READ,           /* EEMODEL_DIRECT_READ: YES or NO */
    EEM_CHOICE_COUNT
} eem_choice_key;

/* The words a choice takes: YES (also TRUE, ON, 1), NO (FALSE, OFF, 0), AUTO. */
enum { EEM_CHOICE_NO = 0, EEM_CHOICE_YES = 1, EEM_CHOICE_AUTO = 2 };

/* The option's value (EEM_CHOICE_*): its default when unset or not accepted. */
int eem_config_choice(eem_choice_key k);

/* Every number and choice but the numbers with owners: EEM_ERR_INVALID
 * naming the first one set to something it does not accept, with its value
 * and what it accepts. */
eem_status eem_config_values_check(eem_error *err);

#ifdef __cplusplus
}
#endif

#endif
