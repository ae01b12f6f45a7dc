/*
 * clock.h — wall-clock nanoseconds, fast.
 *
 * clock_gettime costs ~30 ns in a typical VM and a span needs two. Where the
 * CPU has an invariant TSC (CPUID.80000007H:EDX[8]) and the kernel's own
 * clocksource is built on it ("tsc", or "kvm-clock", the TSC scaled by the
 * hypervisor), a timestamp is one rdtsc converted with a per-thread anchor
 * (tsc, CLOCK_REALTIME, CLOCK_MONOTONIC) renewed every ~100 ms and a tick
 * rate calibrated against CLOCK_MONOTONIC over the process's lifetime — the
 * scheme of Abseil's absl::Now(). A wall-clock step (NTP, settimeofday)
 * therefore shows within 100 ms; durations inside that window come from
 * the TSC, which is what OpenTelemetry asks of durations anyway.
 *
 * Every renewal checks the counter against CLOCK_MONOTONIC; a jump (a VM
 * restored from a snapshot or migrated, unsynchronised cores) voids every
 * anchor and restarts calibration, and after three such faults the process
 * keeps to clock_gettime (a suspend and resume counts as one: the TSC runs
 * or resets while CLOCK_MONOTONIC stops). So does everything else: other
 * CPUs and clocksources, the first 50 ms of calibration, and
 * TW_CLOCK=system (TW_CLOCK=tsc skips the clocksource check, not CPUID's).
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
/* What tw__clock_ns reads now (for tests, /metrics and the benchmark). */
enum { TW_CLOCK_SYSTEM, TW_CLOCK_CALIBRATING, TW_CLOCK_TSC };
TW_HIDDEN int tw__clock_source(void);
/* TSC jumps seen so far (each voids every anchor). */
TW_HIDDEN unsigned tw__clock_faults(void);

/* Test hooks: 1 forces the clock_gettime path, 0 restores detection and a
 * fresh calibration; test_jump adds `ticks` to every later TSC read. */
TW_HIDDEN void tw__clock_force_syscall(int on);
TW_HIDDEN void tw__clock_test_jump(int64_t ticks);

#endif
