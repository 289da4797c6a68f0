/* notice.h — warnings the core has for the user while it works: a server that
 * keeps the driver waiting (HTTP 429/503, timeouts), a model-metadata check
 * skipped at open.  They are not failures, so they are not in an eem_error.
 *
 * The core never calls CPLError: it hands each notice to the handler that the
 * GDAL glue installs once at driver registration, which reports it with
 * CPLError(CE_Warning) in the calling thread (every core call runs in the
 * thread of its caller; the pipeline's worker keeps its notices for the next
 * read, eem_notice_keep_in_this_thread).  Without a handler (C tests) notices go nowhere
 * except the counter tests read. */
#ifndef EEM_NOTICE_H
#define EEM_NOTICE_H

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*eem_notice_fn)(const char *message);

/* Install the handler (NULL: none).  Meant to be called once, at registration. */
void eem_notice_set_handler(eem_notice_fn fn);
/* Hand one printf-style notice to the handler. */
void eem_notice(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Notices given in the calling thread from now on go to keep(user, message)
 * instead of the handler (keep NULL: back to the handler).  The prediction
 * pipeline's worker (pipeline.c) keeps them for the next read, which hands
 * them to the handler in its own thread. */
typedef void (*eem_notice_keep_fn)(void *user, const char *message);
void eem_notice_keep_in_this_thread(eem_notice_keep_fn keep, void *user);
/* Notices given since the process started (for tests). */
long eem_notice_count(void);

#ifdef __cplusplus
}
#endif
#endif
