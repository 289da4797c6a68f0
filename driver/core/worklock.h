/* worklock.h — one thread at a time inside a predictor's state (its source
 * dataset, tile store, failure memory, budget and statistics), shared
 * between the calling thread (GDAL's reads) and the prediction pipeline's
 * worker (pipeline.h).
 *
 * Callers enter and leave (recursive: a core call made inside another holds
 * it again).  The worker holds it while it works and offers it at its yield
 * points (between tiles, and while it waits for the network): a caller that
 * asked for it gets it there, so a read never waits for a whole request of
 * the worker, only for the step the worker is in. */
#ifndef EEM_WORKLOCK_H
#define EEM_WORKLOCK_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_worklock eem_worklock;

/* NULL when out of memory. */
eem_worklock *eem_worklock_new(void);
void eem_worklock_free(eem_worklock *l);

/* Take / give back the lock (l may be NULL: no-op). */
void eem_worklock_enter(eem_worklock *l);
void eem_worklock_leave(eem_worklock *l);
/* Held once by the calling thread: let every thread waiting in
 * eem_worklock_enter() through first, then take it back. */
void eem_worklock_yield(eem_worklock *l);

#ifdef __cplusplus
}
#endif
#endif
