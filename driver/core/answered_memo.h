/* answered_memo.h — process-wide memory of the predict URLs that answered a
 * prediction request 2xx: a dataset opened on such an endpoint needs no slow
 * start (predictor.c), so a second layer or a reopened dataset starts at full
 * concurrency.  Only a hash of each URL is kept (a query may carry a key). */
#ifndef EEM_ANSWERED_MEMO_H
#define EEM_ANSWERED_MEMO_H

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* predict_url answered 2xx (NULL: nothing remembered). */
void eem_answered_memo_note(const char *predict_url);
/* How long an answer is remembered by default (EEMODEL_ANSWERED_MEMORY_S): an
 * answer older than this proves nothing about the endpoint today (a model
 * undeployed since would cost a volley of requests instead of one). */
#define EEM_ANSWERED_MEMO_DEFAULT_S 600.0
/* 1 when predict_url answered 2xx earlier in this process, less than max_age_s
 * seconds ago (0: never). */
int eem_answered_memo_has(const char *predict_url, double max_age_s);
/* How long an answer is remembered, from the config option
 * EEMODEL_ANSWERED_MEMORY_S (unset: EEM_ANSWERED_MEMO_DEFAULT_S; 0: never):
 * EEM_ERR_INVALID naming the value and what is accepted when it is not a
 * finite number of seconds >= 0. */
eem_status eem_answered_memo_lifetime(double *seconds, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
