/*
 * prefetch.h — asking for a cache line in the state a store needs, ahead of
 * the store.
 *
 * The SDK's span objects and queue cells are written by one thread and then
 * read (and written) by another: the batch worker releases what producers
 * filled. A producer reusing such memory pays a cross-core transfer per
 * cache line; requesting the lines early, for writing, overlaps those
 * transfers with the work in between. A plain read prefetch would leave the
 * line shared and the first store would still wait for the other core, so
 * on x86-64 this is PREFETCHW, written out because compilers emit it for
 * __builtin_prefetch(p, 1) only when told the target has it (x86-64
 * processors without the feature, older Intel ones, execute it as a no-op);
 * elsewhere the compiler's write prefetch. A hint only: it never faults and
 * changes no value.
 */
#ifndef TW_PREFETCH_H
#define TW_PREFETCH_H

static inline void tw__prefetch_write(const void *p) {
#if defined(__x86_64__)
    __asm__ volatile("prefetchw %0" ::"m"(*(const char *)p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

#endif
