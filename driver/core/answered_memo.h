/* answered_memo.h — process-wide memory of the predict URLs that answered a
 * prediction request 2xx: a dataset opened on such an endpoint needs no slow
 * start (predictor.c), so a second layer or a reopened dataset starts at full
 * concurrency.  Only a hash of each URL is kept (a query may carry a key). */
#ifndef EEM_ANSWERED_MEMO_H
#define EEM_ANSWERED_MEMO_H

#ifdef __cplusplus
extern "C" {
#endif

/* predict_url answered 2xx (NULL: nothing remembered). */
void eem_answered_memo_note(const char *predict_url);
/* 1 when predict_url answered 2xx earlier in this process, within
 * EEM_ANSWERED_MEMO_S seconds. */
int eem_answered_memo_has(const char *predict_url);

#ifdef __cplusplus
}
#endif
#endif
