/*
 * rand.c — wyrand per thread, reseeded from getrandom() on first use and
 * after fork (a generation counter bumped by a pthread_atfork child handler).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/rand.h"

static _Atomic uint32_t fork_generation = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void) { atomic_fetch_add(&fork_generation, 1); }
static void install_atfork(void) { pthread_atfork(NULL, NULL, on_fork_child); }

static TW_TLS uint64_t rng_state;
static TW_TLS uint32_t rng_generation;

static void reseed(void) {
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        /* Kernel entropy unavailable this early: mix time, pid and an address. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() << 32 ^
               (uint64_t)(uintptr_t)&rng_state;
    }
    rng_state = seed;
}

/* First use on this thread, or the first after fork. Kept out of line so
 * the hot path saves no registers for it. */
__attribute__((noinline, cold)) static void reseed_thread(void) {
    pthread_once(&atfork_once, install_atfork);
    uint32_t gen = atomic_load(&fork_generation);
    reseed();
    rng_generation = gen;
}

/* The thread's generator state, reseeded first when new or after fork. */
static inline uint64_t *state(void) {
    if (TW_UNLIKELY(rng_generation != atomic_load_explicit(&fork_generation, memory_order_relaxed))) reseed_thread();
    return &rng_state;
}

static inline uint64_t wyrand(uint64_t *s) {
    *s += 0xa0761d6478bd642full;
    __uint128_t m = (__uint128_t)*s * (*s ^ 0xe7037ed1a0b428dbull);
    return (uint64_t)(m >> 64) ^ (uint64_t)m;
}

uint64_t tw__rand64(void) { return wyrand(state()); }

static void store64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

void tw__new_ids(tw_trace_id *trace, tw_span_id *span) {
    uint64_t *s = state(), v;
    if (trace) {
        uint64_t hi, lo;
        do {
            hi = wyrand(s);
            lo = wyrand(s);
        } while (TW_UNLIKELY((hi | lo) == 0));
        store64(trace->bytes, hi);
        store64(trace->bytes + 8, lo);
    }
    do v = wyrand(s);
    while (TW_UNLIKELY(v == 0));
    store64(span->bytes, v);
}
