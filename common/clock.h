/*
 * clock.h — wall-clock nanoseconds, fast.
 *
 * clock_gettime costs ~30 ns in a typical VM and a span needs two. When the
 * kernel itself trusts the TSC (its clocksource is "tsc", which implies an
 * invariant, synchronised counter), timestamps are read with rdtsc and
 * converted with a per-thread anchor (tsc, CLOCK_REALTIME) that is renewed
 * every ~1 s, and a tick rate calibrated against CLOCK_REALTIME over the
 * process's lifetime. A wall-clock step (NTP, settimeofday) therefore shows
 * within a second; durations within that second come from the TSC, which
 * is what OpenTelemetry asks of durations anyway. Anywhere else, and until
 * the first 50 ms of calibration are done, clock_gettime is used.
 */
#ifndef TW_CLOCK_H
#define TW_CLOCK_H

#include <stdint.h>

#include "common/tw_base.h"

TW_HIDDEN uint64_t tw__clock_ns(void);

/* Monotonic nanoseconds (CLOCK_MONOTONIC): timeouts, ages, latencies. */
#include <time.h>
static inline uint64_t tw__mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static inline uint64_t tw__mono_ms(void) { return tw__mono_ns() / 1000000; }
/* Test hook: 1 forces the clock_gettime path, 0 restores detection. */
void tw__clock_force_syscall(int on);

#endif
