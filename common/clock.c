/*
 * clock.c — rdtsc-based wall clock with per-thread anchors (see clock.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"

#define TLS_IE __attribute__((tls_model("initial-exec")))
#define ANCHOR_NS 1000000000ull /* renew a thread's anchor after ~1 s */
#define CALIBRATE_NS 50000000ull /* first rate estimate after 50 ms */

static uint64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)
static inline uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

/* 0: unknown yet, 1: TSC usable, 2: not usable. */
static _Atomic int tsc_state;
static _Atomic int forced_syscall;
static pthread_mutex_t cal_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cal_tsc0, cal_ns0;     /* first calibration point */
static _Atomic uint64_t ns_per_tick_q32; /* nanoseconds per tick, 32.32 fixed point; 0 = not yet */

static _Thread_local TLS_IE uint64_t anchor_tsc, anchor_ns, anchor_limit;

static int detect(void) {
    char src[32] = {0};
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f) {
        if (!fgets(src, sizeof src, f)) src[0] = '\0';
        fclose(f);
    }
    return strncmp(src, "tsc", 3) == 0 && (src[3] == '\n' || src[3] == '\0') ? 1 : 2;
}

/* Calibrate the tick rate over the longest baseline seen so far. Cheap to
 * call often: the lock is taken only when there is something to record. */
static _Atomic uint64_t cal_last_ns;
static void calibrate(uint64_t tsc, uint64_t ns) {
    uint64_t last = atomic_load_explicit(&cal_last_ns, memory_order_relaxed);
    if (last && ns - last < CALIBRATE_NS / 5) return;
    pthread_mutex_lock(&cal_lock);
    if (cal_tsc0 == 0) {
        cal_tsc0 = tsc;
        cal_ns0 = ns;
    } else if (ns > cal_ns0 && ns - cal_ns0 >= CALIBRATE_NS && tsc > cal_tsc0) {
        unsigned __int128 q = ((unsigned __int128)(ns - cal_ns0) << 32) / (tsc - cal_tsc0);
        atomic_store(&ns_per_tick_q32, (uint64_t)q);
    }
    atomic_store(&cal_last_ns, ns);
    pthread_mutex_unlock(&cal_lock);
}

uint64_t tw__clock_ns(void) {
    int st = atomic_load_explicit(&tsc_state, memory_order_relaxed);
    if (TW_UNLIKELY(st != 1)) {
        if (st == 2) return realtime_ns();
        int want = atomic_load(&forced_syscall) ? 2 : detect();
        atomic_store(&tsc_state, want);
        if (want == 2) return realtime_ns();
    }
    uint64_t q = atomic_load_explicit(&ns_per_tick_q32, memory_order_relaxed);
    uint64_t t = rdtsc();
    if (TW_LIKELY(t - anchor_tsc < anchor_limit))
        return anchor_ns + (uint64_t)(((unsigned __int128)(t - anchor_tsc) * q) >> 32);
    /* No anchor yet, or it is over ~1 s old: read the real clock. */
    uint64_t ns = realtime_ns();
    t = rdtsc();
    calibrate(t, ns);
    q = atomic_load(&ns_per_tick_q32);
    if (q) { /* calibrated: anchor this thread */
        anchor_tsc = t;
        anchor_ns = ns;
        anchor_limit = (uint64_t)(((unsigned __int128)ANCHOR_NS << 32) / q);
    }
    return ns;
}

void tw__clock_force_syscall(int on) {
    atomic_store(&forced_syscall, on);
    atomic_store(&tsc_state, on ? 2 : 0);
}
#else
uint64_t tw__clock_ns(void) { return realtime_ns(); }
void tw__clock_force_syscall(int on) { (void)on; }
#endif
