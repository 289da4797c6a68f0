/* bigalloc.h — large buffers (request bodies, answers, decoded tensors,
 * source windows) in transparent huge pages when the system offers them.
 *
 * A buffer touched for the first time costs a page fault per 4 KiB page; on
 * a virtual machine a fault is expensive, and a job touches a few times its
 * tensor bytes of fresh memory.  A buffer of at least EEM_BIGALLOC_MIN bytes
 * is therefore allocated aligned to, and rounded up to, 2 MiB and advised
 * MADV_HUGEPAGE: one fault per 2 MiB where the kernel's transparent huge
 * pages are in "always" or "madvise" mode, nothing different otherwise.
 * What these functions return is released with free(). */
#ifndef EEM_BIGALLOC_H
#define EEM_BIGALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_BIGALLOC_MIN ((size_t)1 << 20)
#define EEM_BIGALLOC_HUGE_PAGE ((size_t)2 << 20)

/* size bytes (malloc's for small sizes); *usable (may be NULL) gets the bytes
 * usable, size or more.  NULL when out of memory. */
void *eem_bigalloc(size_t size, size_t *usable);
/* The same, zeroed. */
void *eem_bigalloc_zeroed(size_t size);

#ifdef __cplusplus
}
#endif
#endif
