/* bigalloc.c — large buffers in transparent huge pages (see bigalloc.h). */
#define _DEFAULT_SOURCE
#include "bigalloc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void *eem_bigalloc(size_t size, size_t *usable)
{
    if (size < EEM_BIGALLOC_MIN) {
        if (usable)
            *usable = size;
        return malloc(size ? size : 1);
    }
    if (size > (size_t)-1 - EEM_BIGALLOC_HUGE_PAGE)
        return NULL;
    const size_t rounded = (size + EEM_BIGALLOC_HUGE_PAGE - 1) & ~(EEM_BIGALLOC_HUGE_PAGE - 1);
    void *p = NULL;
    if (posix_memalign(&p, EEM_BIGALLOC_HUGE_PAGE, rounded) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, rounded, MADV_HUGEPAGE); /* a hint: refused, small pages */
#endif
    if (usable)
        *usable = rounded;
    return p;
}

void *eem_bigalloc_zeroed(size_t size)
{
    if (size < EEM_BIGALLOC_MIN)
        return calloc(size ? size : 1, 1);
    void *p = eem_bigalloc(size, NULL);
    if (p)
        memset(p, 0, size);
    return p;
}
