/*
 * clock.c — rdtsc-based wall clock with per-thread anchors (see clock.h).
 *
 * Invariants:
 *   - a thread's anchor (tsc, realtime, monotonic, rate) is used only while
 *     its epoch equals the global epoch and fewer than ANCHOR_NS worth of
 *     ticks have passed since it was taken; every other read renews it or
 *     falls back to clock_gettime;
 *   - the tick rate is measured against CLOCK_MONOTONIC (which never steps)
 *     over the longest clean baseline since the last fault;
 *   - a fault (the TSC disagreeing with CLOCK_MONOTONIC) bumps the epoch,
 *     so no thread extrapolates across it, and restarts calibration; after
 *     MAX_FAULTS the TSC is given up for the process's lifetime.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"

static uint64_t read_clock(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static uint64_t realtime_ns(void) { return read_clock(CLOCK_REALTIME); }

#if defined(__x86_64__)
#include <cpuid.h>

#define ANCHOR_NS 100000000ull   /* renew a thread's anchor after ~100 ms */
#define CALIBRATE_NS 50000000ull /* first rate estimate after 50 ms */
#define CAL_EVERY_NS 10000000ull /* refine the rate at most every 10 ms */
#define TOL_NS 50000ull          /* TSC vs CLOCK_MONOTONIC: 50 µs ... */
#define TOL_PPM 1000ull          /* ... + 1000 ppm (NTP slews at most 500) */
#define MAX_FAULTS 3
#define BRACKET_TICKS 100000ull  /* a clean clock read: < ~50 µs at >= 2 GHz */

enum { ST_UNKNOWN, ST_TSC, ST_SYSTEM };

/* Read on every call; written only on a fault. One cache line. */
static struct {
    _Atomic uint64_t epoch;   /* 0 until the TSC is in use */
    _Atomic int64_t skew;     /* test hook: added to every rdtsc */
} __attribute__((aligned(64))) g;

static _Atomic int state;
static _Atomic int forced; /* tw__clock_force_syscall */
static _Atomic unsigned faults;
static pthread_mutex_t cal_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cal_tsc0, cal_mono0;           /* baseline */
static _Atomic uint64_t cal_last;              /* last refinement (monotonic ns) */
static _Atomic uint64_t rate_q32;              /* ns per tick, 32.32; 0 = not yet */

static TW_TLS struct {
    uint64_t epoch, tsc, ns, mono, q, limit; /* limit 0: no anchor */
} a;

static inline uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32 | lo) + (uint64_t)atomic_load_explicit(&g.skew, memory_order_relaxed);
}

static int invariant_tsc(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) || eax < 0x80000007u) return 0;
    __get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx);
    return (edx >> 8) & 1; /* CPUID.80000007H:EDX[8], invariant TSC */
}

/* The kernel's clocksource: "tsc" means it trusts the counter itself;
 * "kvm-clock" is the TSC scaled by the hypervisor's pvclock page, so the
 * counter is the same one we read. Anything else (hpet, acpi_pm, xen, ...)
 * says the TSC is not a clock here. */
static int tsc_based_clocksource(void) {
    char src[32] = {0};
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f) {
        if (!fgets(src, sizeof src, f)) src[0] = '\0';
        fclose(f);
    }
    src[strcspn(src, "\n")] = '\0';
    return strcmp(src, "tsc") == 0 || strcmp(src, "kvm-clock") == 0;
}

static int detect(void) {
    if (atomic_load(&forced)) return ST_SYSTEM;
    const char *env = getenv("TW_CLOCK");
    if (env && strcmp(env, "system") == 0) return ST_SYSTEM;
    if (!invariant_tsc()) return ST_SYSTEM;
    if (env && strcmp(env, "tsc") == 0) return ST_TSC;
    return tsc_based_clocksource() ? ST_TSC : ST_SYSTEM;
}

/* Under cal_lock: forget the rate and the baseline, and move the epoch so
 * every anchor taken before is void. */
static void restart_locked(void) {
    atomic_store(&rate_q32, 0);
    cal_tsc0 = cal_mono0 = 0;
    atomic_store(&cal_last, 0);
    atomic_fetch_add(&g.epoch, 1);
}

/* Under cal_lock. */
static void fault_locked(void) {
    if (atomic_fetch_add(&faults, 1) + 1 >= MAX_FAULTS) atomic_store(&state, ST_SYSTEM);
    restart_locked();
}

static void fault(uint64_t seen_epoch) {
    pthread_mutex_lock(&cal_lock);
    if (atomic_load(&g.epoch) == seen_epoch) fault_locked(); /* one jump, one fault */
    pthread_mutex_unlock(&cal_lock);
}

static int disagrees(uint64_t tsc_ns, uint64_t mono_ns) {
    uint64_t d = tsc_ns > mono_ns ? tsc_ns - mono_ns : mono_ns - tsc_ns;
    return d > TOL_NS + mono_ns / 1000000 * TOL_PPM;
}

/* Refine the rate over the baseline; a new estimate far from the current
 * one means the counter jumped (a VM restored from a snapshot, say). */
static void calibrate(uint64_t tsc, uint64_t mono, uint64_t seen_epoch) {
    uint64_t last = atomic_load_explicit(&cal_last, memory_order_relaxed);
    if (last && mono < last + CAL_EVERY_NS) return; /* the common case: no lock */
    pthread_mutex_lock(&cal_lock);
    if (atomic_load(&g.epoch) != seen_epoch) goto out;
    if (cal_tsc0 == 0) {
        cal_tsc0 = tsc;
        cal_mono0 = mono;
        atomic_store(&cal_last, mono);
        goto out;
    }
    if (mono < atomic_load(&cal_last) + CAL_EVERY_NS) goto out;
    atomic_store(&cal_last, mono);
    if (tsc <= cal_tsc0) {
        fault_locked();
        goto out;
    }
    uint64_t dm = mono - cal_mono0, dt = tsc - cal_tsc0;
    if (dm < CALIBRATE_NS) goto out;
    uint64_t cur = atomic_load(&rate_q32);
    if (cur && disagrees((uint64_t)(((unsigned __int128)dt * cur) >> 32), dm)) {
        fault_locked();
        goto out;
    }
    atomic_store(&rate_q32, (uint64_t)(((unsigned __int128)dm << 32) / dt));
out:
    pthread_mutex_unlock(&cal_lock);
}

static __attribute__((noinline)) uint64_t renew(void) {
    int st = atomic_load_explicit(&state, memory_order_relaxed);
    if (st == ST_UNKNOWN) {
        st = detect();
        int unknown = ST_UNKNOWN;
        atomic_compare_exchange_strong(&state, &unknown, st);
        st = atomic_load(&state);
    }
    if (st != ST_TSC) return realtime_ns();
    uint64_t e = atomic_load(&g.epoch), t0, t1, mono, ns;
    int tries = 0;
    do { /* the two clocks read back to back, not split by preemption */
        t0 = rdtsc();
        mono = read_clock(CLOCK_MONOTONIC);
        ns = realtime_ns();
        t1 = rdtsc();
    } while (t1 - t0 > BRACKET_TICKS && ++tries < 3);
    if (t1 - t0 > BRACKET_TICKS) return ns;
    /* This thread's previous anchor, still in the same epoch, predicts the
     * monotonic time elapsed; the TSC must agree. */
    if (a.epoch == e && a.limit) {
        uint64_t dt = t1 - a.tsc, dm = mono - a.mono;
        if (t1 < a.tsc || disagrees((uint64_t)(((unsigned __int128)dt * a.q) >> 32), dm)) {
            fault(e);
            a.limit = 0;
            return ns;
        }
    }
    calibrate(t0 / 2 + t1 / 2, mono, e);
    uint64_t q = atomic_load(&rate_q32);
    if (!q || atomic_load(&g.epoch) != e) {
        a.limit = 0;
        return ns;
    }
    a.epoch = e;
    a.tsc = t1;
    a.ns = ns;
    a.mono = mono;
    a.q = q;
    a.limit = (uint64_t)(((unsigned __int128)ANCHOR_NS << 32) / q);
    return ns;
}

uint64_t tw__clock_ns(void) {
    uint64_t e = atomic_load_explicit(&g.epoch, memory_order_relaxed);
    uint64_t t = rdtsc();
    /* Within the ~100 ms window ticks * q fits 64 bits for any rate. */
    if (TW_LIKELY(e == a.epoch && t - a.tsc < a.limit)) return a.ns + (((t - a.tsc) * a.q) >> 32);
    return renew();
}

void tw__clock_force_syscall(int on) {
    pthread_mutex_lock(&cal_lock);
    atomic_store(&forced, on);
    atomic_store(&faults, 0);
    atomic_store(&state, on ? ST_SYSTEM : ST_UNKNOWN);
    restart_locked();
    pthread_mutex_unlock(&cal_lock);
}

int tw__clock_source(void) {
    return atomic_load(&state) == ST_TSC ? (atomic_load(&rate_q32) ? TW_CLOCK_TSC : TW_CLOCK_CALIBRATING)
                                         : TW_CLOCK_SYSTEM;
}

unsigned tw__clock_faults(void) { return atomic_load(&faults); }

void tw__clock_test_jump(int64_t ticks) { atomic_fetch_add(&g.skew, ticks); }
#else
uint64_t tw__clock_ns(void) { return realtime_ns(); }
void tw__clock_force_syscall(int on) { (void)on; }
int tw__clock_source(void) { return TW_CLOCK_SYSTEM; }
unsigned tw__clock_faults(void) { return 0; }
void tw__clock_test_jump(int64_t ticks) { (void)ticks; }
#endif
