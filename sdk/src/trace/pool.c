/*
 * pool.c — per-thread caches over a global list of chains of free span
 * objects.
 *
 * The global list holds whole chains of TW__POOL_BATCH objects (linked by
 * `next`; the chains by their first object's `next_chain`), so a thread
 * refills or spills with one push or pop under the mutex: the critical
 * section is a few stores, the lock is rarely contended, and no object's
 * memory (last written by another core) is touched while it is held.
 * Each get prefetches, for writing, the first lines of the object the next
 * get hands out, so the cache-line transfers from the core that freed it
 * overlap with the caller's work on this one.
 */
#include <pthread.h>

#include "core/prefetch.h"
#include "trace/pool.h"

typedef struct cache {
    tw_span *head; /* objects ready to hand out */
    uint32_t n;
    tw_span *spill;   /* a chain being filled by put, handed over when full */
    uint32_t spill_n;
    bool registered;
} cache;

#define GLOBAL_MAX_CHAINS (TW__POOL_GLOBAL_MAX / TW__POOL_BATCH)

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static tw_span *global_chains;
static uint32_t global_n; /* chains */
static pthread_key_t cache_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static TW_TLS cache tc;

static void lock(void) { pthread_mutex_lock(&global_lock); }
static void unlock(void) { pthread_mutex_unlock(&global_lock); }

static void free_list(tw_span *s) {
    while (s) {
        tw_span *next = s->next;
        tw__free(s);
        s = next;
    }
}

/* Hand a chain to the global list, or to the heap when that is full. */
static void push_chain(tw_span *chain) {
    lock();
    bool room = global_n < GLOBAL_MAX_CHAINS;
    if (room) {
        chain->next_chain = global_chains;
        global_chains = chain;
        global_n++;
    }
    unlock();
    if (!room) free_list(chain);
}

static tw_span *pop_chain(void) {
    lock();
    tw_span *c = global_chains;
    if (c) {
        global_chains = c->next_chain;
        global_n--;
    }
    unlock();
    return c;
}

static void on_thread_exit(void *unused) {
    (void)unused;
    if (tc.head) push_chain(tc.head); /* chains of any length are fine */
    if (tc.spill) push_chain(tc.spill);
    tc.head = tc.spill = NULL;
    tc.n = tc.spill_n = 0;
}

static void init_once(void) {
    pthread_key_create(&cache_key, on_thread_exit);
    pthread_atfork(lock, unlock, unlock);
}

static void register_thread(void) {
    pthread_once(&once, init_once);
    pthread_setspecific(cache_key, &tc);
    tc.registered = true;
}

/* The next object to hand out was most likely last written by another
 * core (the batch worker that released it): request the lines a span
 * writes first (header, start of the arena) now, for writing, so they
 * arrive while the caller works on this one. */
_Static_assert(TW__POOL_PREFETCH_BYTES <= TW__SPAN_OBJECT_SIZE, "prefetch within the object");
static inline void prefetch_object(const tw_span *s) {
    const char *p = (const char *)s;
    for (size_t off = 0; off < TW__POOL_PREFETCH_BYTES; off += 64) tw__prefetch_write(p + off);
    tw__prefetch_write(p + TW__POOL_PREFETCH_BYTES - 1); /* objects are 16-aligned, not 64 */
}

tw_span *tw__pool_get(void) {
    if (TW_UNLIKELY(tc.head == NULL)) {
        if (TW_UNLIKELY(!tc.registered)) register_thread();
        if (tc.spill) { /* our own returns first: their memory is in this core's cache */
            tc.head = tc.spill;
            tc.n = tc.spill_n;
            tc.spill = NULL;
            tc.spill_n = 0;
        } else if (!(tc.head = pop_chain())) {
            return tw__malloc(TW__SPAN_OBJECT_SIZE);
        } else {
            tc.n = TW__POOL_BATCH; /* at most: a chain from an exited thread may be shorter */
        }
    }
    tw_span *s = tc.head;
    tc.head = s->next;
    tc.n = tc.head && tc.n ? tc.n - 1 : 0;
    if (tc.head) prefetch_object(tc.head);
    return s;
}

void tw__pool_put(tw_span *s) {
    if (TW_UNLIKELY(!tc.registered)) register_thread();
    if (tc.n < TW__POOL_BATCH) { /* keep a batch at hand */
        s->next = tc.head;
        tc.head = s;
        tc.n++;
        return;
    }
    s->next = tc.spill;
    tc.spill = s;
    if (++tc.spill_n < TW__POOL_BATCH) return;
    push_chain(tc.spill);
    tc.spill = NULL;
    tc.spill_n = 0;
}

uint32_t tw__pool_global_chains(void) {
    lock();
    uint32_t n = global_n;
    unlock();
    return n;
}
