/* worklock.c — a recursive lock whose holder can step aside for waiting
 * threads (see worklock.h). */
#include "worklock.h"

#include <cpl_multiproc.h>

#include <stdlib.h>

struct eem_worklock {
    CPLMutex *lock;  /* the lock itself (recursive) */
    CPLMutex *guard; /* guards wanted */
    CPLCond *none_wanted;
    int wanted; /* threads waiting in eem_worklock_enter */
};

eem_worklock *eem_worklock_new(void)
{
    eem_worklock *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->lock = CPLCreateMutexEx(CPL_MUTEX_RECURSIVE); /* returned held */
    l->guard = CPLCreateMutexEx(CPL_MUTEX_REGULAR);
    l->none_wanted = CPLCreateCond();
    if (l->lock)
        CPLReleaseMutex(l->lock);
    if (l->guard)
        CPLReleaseMutex(l->guard);
    if (!l->lock || !l->guard || !l->none_wanted) {
        eem_worklock_free(l);
        return NULL;
    }
    return l;
}

void eem_worklock_free(eem_worklock *l)
{
    if (!l)
        return;
    if (l->lock)
        CPLDestroyMutex(l->lock);
    if (l->guard)
        CPLDestroyMutex(l->guard);
    if (l->none_wanted)
        CPLDestroyCond(l->none_wanted);
    free(l);
}

void eem_worklock_enter(eem_worklock *l)
{
    if (!l)
        return;
    CPLAcquireMutex(l->guard, 1000.0);
    l->wanted++;
    CPLReleaseMutex(l->guard);
    CPLAcquireMutex(l->lock, 1000.0);
    CPLAcquireMutex(l->guard, 1000.0);
    if (--l->wanted == 0)
        CPLCondBroadcast(l->none_wanted);
    CPLReleaseMutex(l->guard);
}

void eem_worklock_leave(eem_worklock *l)
{
    if (l)
        CPLReleaseMutex(l->lock);
}

void eem_worklock_yield(eem_worklock *l)
{
    if (!l)
        return;
    CPLAcquireMutex(l->guard, 1000.0);
    const int wanted = l->wanted;
    CPLReleaseMutex(l->guard);
    if (wanted == 0)
        return;
    CPLReleaseMutex(l->lock);
    /* until every waiter got the lock (it then holds it; we queue behind) */
    CPLAcquireMutex(l->guard, 1000.0);
    while (l->wanted > 0)
        CPLCondWait(l->none_wanted, l->guard);
    CPLReleaseMutex(l->guard);
    CPLAcquireMutex(l->lock, 1000.0);
}
