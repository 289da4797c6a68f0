/* notice.c — hands the core's warnings to the handler the GDAL glue installed
 * (see notice.h). */
#include "notice.h"

#include "error.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static _Atomic(eem_notice_fn) g_handler;
static atomic_long g_count;

void eem_notice_set_handler(eem_notice_fn fn)
{
    atomic_store(&g_handler, fn);
}

static _Thread_local eem_notice_keep_fn t_keep;
static _Thread_local void *t_keep_user;

void eem_notice_keep_in_this_thread(eem_notice_keep_fn keep, void *user)
{
    t_keep = keep;
    t_keep_user = user;
}

void eem_notice(const char *fmt, ...)
{
    char msg[EEM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (t_keep) {
        t_keep(t_keep_user, msg); /* counted when it is handed on */
        return;
    }
    atomic_fetch_add(&g_count, 1);
    eem_notice_fn fn = atomic_load(&g_handler);
    if (fn)
        fn(msg);
}

long eem_notice_count(void)
{
    return atomic_load(&g_count);
}
