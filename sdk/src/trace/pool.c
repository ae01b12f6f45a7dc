/*
 * pool.c — per-thread caches over a global list of chains of free span
 * objects.
 *
 * A thread's cache is an array (a stack) of free objects, so the object a
 * get will hand out several calls from now is known without touching any
 * object's memory: each get prefetches, for writing, the object POOL_AHEAD
 * places down the stack. Those objects were most likely last written by the
 * batch worker's core, and one cross-core line transfer can take longer
 * than a whole span (~230 ns between the two vCPUs of the benchmark
 * machine), so one object ahead is not enough.
 *
 * The global list holds whole chains of TW__POOL_BATCH objects. A chain's
 * directory (the next chain, the count, the object pointers) is written
 * into the first object's own memory by the thread that spills it, so a
 * thread refills or spills with one push or pop under the mutex, and a
 * refill reads one directory, never a list threaded through 32 objects.
 */
#include <pthread.h>
#include <string.h>

#include "core/prefetch.h"
#include "trace/pool.h"

#define CACHE_MAX (2 * TW__POOL_BATCH)
#define POOL_AHEAD 4

typedef struct chain { /* lives in the first free object of the chain */
    struct chain *next;
    uint32_t n;
    tw_span *obj[TW__POOL_BATCH];
} chain;
_Static_assert(sizeof(chain) <= TW__SPAN_OBJECT_SIZE, "a chain's directory fits in a free object");

typedef struct cache {
    tw_span **obj; /* CACHE_MAX slots on the heap (static TLS is scarce for a
                    * dlopen()ed library); obj[n - 1] is handed out next */
    uint32_t n;
    uint32_t cap; /* CACHE_MAX once registered with its slots, else 0 */
    bool registered;
} cache;

#define GLOBAL_MAX_CHAINS (TW__POOL_GLOBAL_MAX / TW__POOL_BATCH)

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static chain *global_chains;
static uint32_t global_n; /* chains */
static pthread_key_t cache_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static TW_TLS cache tc;

static void lock(void) { pthread_mutex_lock(&global_lock); }
static void unlock(void) { pthread_mutex_unlock(&global_lock); }

/* Hand objs[0..n) (1 <= n <= TW__POOL_BATCH) to the global list, or to the
 * heap when that is full. */
static void push_chain(tw_span *const *objs, uint32_t n) {
    chain *c = (chain *)objs[0];
    c->n = n;
    memcpy(c->obj, objs, n * sizeof *objs);
    lock();
    bool room = global_n < GLOBAL_MAX_CHAINS;
    if (room) {
        c->next = global_chains;
        global_chains = c;
        global_n++;
    }
    unlock();
    if (!room)
        for (uint32_t i = n; i-- > 0;) tw__free(c->obj[i]); /* obj[0], the directory, last */
}

/* Move one chain's objects into this thread's (empty) cache. */
static bool pop_chain(void) {
    lock();
    chain *c = global_chains;
    if (c) {
        global_chains = c->next;
        global_n--;
    }
    chain *after = global_chains;
    unlock();
    if (!c) return false;
    tc.n = c->n;
    memcpy(tc.obj, c->obj, c->n * sizeof *tc.obj);
    /* The next refill's directory, fetched while these objects are used. */
    if (after)
        for (size_t off = 0; off < sizeof(chain); off += 64) __builtin_prefetch((const char *)after + off, 0, 3);
    return true;
}

/* Objects freed after this (by later TLS destructors) go to the heap. */
static void on_thread_exit(void *unused) {
    (void)unused;
    for (uint32_t i = 0; i < tc.n; i += TW__POOL_BATCH)
        push_chain(tc.obj + i, TW_MIN(TW__POOL_BATCH, tc.n - i));
    tw__free(tc.obj);
    tc.obj = NULL;
    tc.n = tc.cap = 0;
}

static void init_once(void) {
    pthread_key_create(&cache_key, on_thread_exit);
    pthread_atfork(lock, unlock, unlock);
}

/* Without memory for the slots the thread has no cache: gets and puts go
 * to the heap. */
static void register_thread(void) {
    pthread_once(&once, init_once);
    tc.registered = true;
    if (!(tc.obj = tw__malloc(CACHE_MAX * sizeof *tc.obj))) return;
    tc.cap = CACHE_MAX;
    pthread_setspecific(cache_key, &tc);
}

/* Request the lines a span writes first (header, start of the arena) for
 * writing, so they arrive from the core that freed the object while the
 * caller works on the spans before it. */
_Static_assert(TW__POOL_PREFETCH_BYTES <= TW__SPAN_OBJECT_SIZE, "prefetch within the object");
static inline void prefetch_object(const tw_span *s) {
    const char *p = (const char *)s;
    for (size_t off = 0; off < TW__POOL_PREFETCH_BYTES; off += 64) tw__prefetch_write(p + off);
    tw__prefetch_write(p + TW__POOL_PREFETCH_BYTES - 1); /* objects are 16-aligned, not 64 */
}

/* The slow paths, out of line so the fast ones save no registers. */
static __attribute__((noinline)) bool refill(void) {
    if (TW_UNLIKELY(!tc.registered)) register_thread();
    if (!tc.cap || !pop_chain()) return false;
    for (uint32_t i = tc.n > POOL_AHEAD ? tc.n - POOL_AHEAD : 0; i < tc.n - 1; i++) prefetch_object(tc.obj[i]);
    return true;
}

/* Put s, spilling the older half first when the cache is full (the
 * objects just freed stay, warm here). */
static __attribute__((noinline)) void spill_and_put(tw_span *s) {
    if (TW_UNLIKELY(!tc.registered)) register_thread();
    if (!tc.cap) {
        tw__free(s);
        return;
    }
    if (tc.n == CACHE_MAX) {
        push_chain(tc.obj, TW__POOL_BATCH);
        memmove(tc.obj, tc.obj + TW__POOL_BATCH, (CACHE_MAX - TW__POOL_BATCH) * sizeof *tc.obj);
        tc.n -= TW__POOL_BATCH;
    }
    tc.obj[tc.n++] = s;
}

tw_span *tw__pool_get(void) {
    if (TW_UNLIKELY(tc.n == 0) && !refill()) return tw__malloc(TW__SPAN_OBJECT_SIZE);
    tw_span *s = tc.obj[--tc.n];
    if (tc.n >= POOL_AHEAD) prefetch_object(tc.obj[tc.n - POOL_AHEAD]);
    return s;
}

void tw__pool_put(tw_span *s) {
    if (TW_UNLIKELY(tc.n == tc.cap)) { /* full, or no cache yet */
        spill_and_put(s);
        return;
    }
    tc.obj[tc.n++] = s;
}

uint32_t tw__pool_global_chains(void) {
    lock();
    uint32_t n = global_n;
    unlock();
    return n;
}
