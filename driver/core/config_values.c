/* config_values.c — the tables of numeric and word-valued config options,
 * their reading and their checks (see config_values.h). */
#include "config_values.h"

#include "answered_memo.h"
#include "cache_lease.h"
#include "http.h"
#include "spec.h"
#include "tilestore.h"

#include <cpl_conv.h>
#include <cpl_string.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The largest value of a whole-number option said as "N or more": a safety
 * cap far above any use, exactly a double and within a long (and, in MB,
 * within a long long once shifted to bytes). */
#define EEM_CONFIG_WHOLE_CAP 1e15
#define EEM_CONFIG_MB_CAP 4398046511103.0 /* 2^42 - 1 */

/* An option: a whole number within [min, max] (unit names what it counts;
 * open: max is only a cap, said as "min or more"), or a number of seconds
 * from min (max HUGE_VAL).  owned: checked by its owner, not by
 * eem_config_values_check (config_values.h). */
typedef struct number_option {
    const char *key;
    double def, min, max;
    int integer, open;
    const char *unit;
    int owned;
} number_option;

static const number_option g_options[EEM_NUM_COUNT] = {
    [EEM_NUM_MAX_CONNECTIONS] = {"EEMODEL_MAX_CONNECTIONS", EEM_HTTP_DEFAULT_MAX_CONNECTIONS, 1,
                                 EEM_HTTP_MAX_CONNECTIONS_LIMIT, 1, 0, "connections"},
    [EEM_NUM_HTTP_TIMEOUT] = {"GDAL_HTTP_TIMEOUT", EEM_HTTP_DEFAULT_TIMEOUT_S, 0, HUGE_VAL, 0, 1,
                              "seconds"},
    [EEM_NUM_HTTP_CONNECTTIMEOUT] = {"GDAL_HTTP_CONNECTTIMEOUT", EEM_HTTP_DEFAULT_CONNECT_TIMEOUT_S,
                                     0, HUGE_VAL, 0, 1, "seconds"},
    [EEM_NUM_HTTP_MAX_RETRY] = {"GDAL_HTTP_MAX_RETRY", EEM_HTTP_DEFAULT_MAX_RETRY, 0,
                                EEM_HTTP_MAX_RETRY_LIMIT, 1, 0, "retries"},
    [EEM_NUM_HTTP_RETRY_DELAY] = {"GDAL_HTTP_RETRY_DELAY", EEM_HTTP_DEFAULT_RETRY_DELAY_S, 0,
                                  HUGE_VAL, 0, 1, "seconds"},
    [EEM_NUM_MAX_RESPONSE_BYTES] = {"EEMODEL_MAX_RESPONSE_BYTES",
                                    (double)EEM_HTTP_DEFAULT_MAX_RESPONSE_BYTES, 1,
                                    EEM_CONFIG_WHOLE_CAP, 1, 1, "bytes"},
    [EEM_NUM_TILE_STORE_MEMORY] = {"EEMODEL_TILE_STORE_MEMORY", EEM_TILESTORE_DEFAULT_MEMORY_MB, 0,
                                   EEM_CONFIG_MB_CAP, 1, 1, "MB"},
    [EEM_NUM_TILE_STORE_DISK] = {"EEMODEL_TILE_STORE_DISK", EEM_TILESTORE_DEFAULT_DISK_MB, 0,
                                 EEM_CONFIG_MB_CAP, 1, 1, "MB"},
    [EEM_NUM_CACHE_LEASE_SECONDS] = {"EEMODEL_CACHE_LEASE_SECONDS", EEM_LEASE_DEFAULT_SECONDS, 1,
                                     EEM_CONFIG_WHOLE_CAP, 1, 1, "seconds"},
    [EEM_NUM_MAX_PREDICTIONS] = {"EEMODEL_MAX_PREDICTIONS", EEM_DEFAULT_MAX_PREDICTIONS, 1,
                                 EEM_CONFIG_WHOLE_CAP, 1, 1, "predictions", 1},
    [EEM_NUM_JOB_MAX_PREDICTIONS] = {"EEMODEL_JOB_MAX_PREDICTIONS", 0, 1, EEM_CONFIG_WHOLE_CAP, 1,
                                     1, "predictions", 1},
    [EEM_NUM_ANSWERED_MEMORY_S] = {"EEMODEL_ANSWERED_MEMORY_S", EEM_ANSWERED_MEMO_DEFAULT_S, 0,
                                   HUGE_VAL, 0, 1, "seconds", 1},
};

static const char *config_text(const char *key)
{
    const char *v = CPLGetConfigOption(key, NULL);
    return v && *v ? v : NULL;
}

/* 1 with *out the value of o (its default when unset); 0 with *out the
 * default when set to something o does not accept. */
static int parse(const number_option *o, double *out)
{
    *out = o->def;
    const char *v = config_text(o->key);
    if (!v)
        return 1;
    char *end;
    errno = 0;
    double d = o->integer ? (double)strtoll(v, &end, 10) : strtod(v, &end);
    while (isspace((unsigned char)*end))
        end++;
    if (end == v || *end || errno || !isfinite(d) || d < o->min || d > o->max)
        return 0;
    *out = d;
    return 1;
}

double eem_config_number(eem_number_key k)
{
    double v = 0;
    if (k >= 0 && k < EEM_NUM_COUNT)
        (void)parse(&g_options[k], &v);
    return v;
}

int eem_config_number_accepted(eem_number_key k)
{
    double v;
    return k < 0 || k >= EEM_NUM_COUNT || parse(&g_options[k], &v);
}

eem_status eem_config_number_check(eem_number_key k, eem_error *err)
{
    if (k < 0 || k >= EEM_NUM_COUNT)
        return EEM_OK;
    const number_option *o = &g_options[k];
    double v;
    if (parse(o, &v))
        return EEM_OK;
    char accepted[96];
    if (!o->integer)
        snprintf(accepted, sizeof accepted, "%s, %g or more", o->unit, o->min);
    else if (o->open)
        snprintf(accepted, sizeof accepted, "a whole number of %s, %.0f or more", o->unit, o->min);
    else
        snprintf(accepted, sizeof accepted, "a whole number from %.0f to %.0f", o->min, o->max);
    return eem_error_set(err, EEM_ERR_INVALID, "%s: \"%.40s\" is not accepted; %s", o->key,
                         config_text(o->key), accepted);
}

/* A word-valued option: AUTO allowed or not, and its default. */
typedef struct choice_option {
    const char *key;
    int def, auto_allowed;
} choice_option;

static const choice_option g_choices[EEM_CHOICE_COUNT] = {
    [EEM_CHOICE_OIP_BINARY] = {"EEMODEL_OIP_BINARY", EEM_CHOICE_AUTO, 1},
    [EEM_CHOICE_GRPC_CONNECTION_REUSE] = {"EEMODEL_GRPC_CONNECTION_REUSE", EEM_CHOICE_AUTO, 1},
    [EEM_CHOICE_CHECK_METADATA] = {"EEMODEL_CHECK_METADATA", EEM_CHOICE_YES, 0},
    [EEM_CHOICE_DIRECT_READ] = {"EEMODEL_DIRECT_READ", EEM_CHOICE_YES, 0},
};

/* EEM_CHOICE_* of o's value (its default when unset), -1 when not accepted. */
static int choice_of(const choice_option *o)
{
    const char *v = config_text(o->key);
    if (!v)
        return o->def;
    if (EQUAL(v, "YES") || EQUAL(v, "TRUE") || EQUAL(v, "ON") || EQUAL(v, "1"))
        return EEM_CHOICE_YES;
    if (EQUAL(v, "NO") || EQUAL(v, "FALSE") || EQUAL(v, "OFF") || EQUAL(v, "0"))
        return EEM_CHOICE_NO;
    if (o->auto_allowed && EQUAL(v, "AUTO"))
        return EEM_CHOICE_AUTO;
    return -1;
}

int eem_config_choice(eem_choice_key k)
{
    if (k < 0 || k >= EEM_CHOICE_COUNT)
        return EEM_CHOICE_NO;
    const int c = choice_of(&g_choices[k]);
    return c >= 0 ? c : g_choices[k].def;
}

eem_status eem_config_values_check(eem_error *err)
{
    for (int k = 0; k < EEM_NUM_COUNT; k++) {
        if (g_options[k].owned)
            continue;
        eem_status st = eem_config_number_check((eem_number_key)k, err);
        if (st != EEM_OK)
            return st;
    }
    for (int k = 0; k < EEM_CHOICE_COUNT; k++) {
        const choice_option *o = &g_choices[k];
        if (choice_of(o) < 0)
            return eem_error_set(err, EEM_ERR_INVALID, "%s: \"%.40s\" is not accepted; %s",
                                 o->key, config_text(o->key),
                                 o->auto_allowed ? "AUTO, YES or NO" : "YES or NO");
    }
    return EEM_OK;
}
