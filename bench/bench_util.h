/*
 * bench_util.h — what the server benchmarks measure with: this thread's
 * CPU time and the heap in use (header-only: each benchmark is one program).
 */
#ifndef TW_BENCH_UTIL_H
#define TW_BENCH_UTIL_H

#include <malloc.h>
#include <stddef.h>
#include <time.h>

static inline double tw_bench_thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes the allocator has handed out (after giving back what it can). */
static inline size_t tw_bench_heap_used(void) {
    malloc_trim(0);
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

#endif
