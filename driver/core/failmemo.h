/* failmemo.h — what one opened dataset remembers of failed predictions, so
 * that a failure is met once, not once per band read (issue 12 item 1).
 *
 * Which failures count (from the finished HTTP request):
 *  - lasting: asking again soon cannot help — a server that cannot be reached
 *    (connection refused, name not resolved, TLS failure), a failure that
 *    lasted through every retry (429, 5xx, timeouts), or a predict URL the
 *    server does not know (404, 405).  The tiles of such a request are
 *    remembered for the life of the dataset: a later read of them sends
 *    nothing and fails (or, with ON_ERROR=NODATA, masks them) with the
 *    remembered message.  Answers that were wrong for these tiles (400,
 *    malformed bodies) and refused credentials (401, 403) are not lasting: the
 *    next read asks again.
 *  - endpoint-wide: every other tile would fail alike — unreachable, 404, 405
 *    and retries exhausted on 429/503.  The rest of the read is not sent. */
#ifndef EEM_FAILMEMO_H
#define EEM_FAILMEMO_H

#include "error.h"
#include "http.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_failmemo eem_failmemo;

eem_failmemo *eem_failmemo_new(void);
void eem_failmemo_free(eem_failmemo *m);

int eem_failure_is_lasting(const eem_http_request *req);
int eem_failure_is_endpoint_wide(const eem_http_request *req);

/* Remember tile (level,tx,ty) as failed with message msg (copied). */
eem_status eem_failmemo_add(eem_failmemo *m, int level, int tx, int ty, const char *msg,
                            eem_error *err);
/* The message a remembered tile failed with, or NULL (m may be NULL). */
const char *eem_failmemo_find(const eem_failmemo *m, int level, int tx, int ty);

#ifdef __cplusplus
}
#endif
#endif
