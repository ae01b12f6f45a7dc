/*
 * pool.c — per-thread caches over a global free list of span objects.
 */
#include <pthread.h>

#include "trace/pool.h"

typedef struct cache { tw_span *head; uint32_t n; bool registered; } cache;

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static tw_span *global_head;
static uint32_t global_n;
static pthread_key_t cache_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static TW_TLS cache tc;

static void lock(void) { pthread_mutex_lock(&global_lock); }
static void unlock(void) { pthread_mutex_unlock(&global_lock); }

/* Give `n` objects of list `head` to the global list (or the heap when full). */
static void spill(tw_span *head) {
    lock();
    while (head) {
        tw_span *next = head->next;
        if (global_n < TW__POOL_GLOBAL_MAX) {
            head->next = global_head;
            global_head = head;
            global_n++;
        } else {
            tw__free(head);
        }
        head = next;
    }
    unlock();
}

static void on_thread_exit(void *unused) {
    (void)unused;
    spill(tc.head);
    tc.head = NULL;
    tc.n = 0;
}

static void init_once(void) {
    pthread_key_create(&cache_key, on_thread_exit);
    pthread_atfork(lock, unlock, unlock);
}

tw_span *tw__pool_get(void) {
    if (TW_LIKELY(tc.head != NULL)) {
        tw_span *s = tc.head;
        tc.head = s->next;
        tc.n--;
        return s;
    }
    if (TW_UNLIKELY(!tc.registered)) {
        pthread_once(&once, init_once);
        pthread_setspecific(cache_key, &tc);
        tc.registered = true;
    }
    lock();
    for (int i = 0; i < TW__POOL_BATCH && global_head; i++) {
        tw_span *s = global_head;
        global_head = s->next;
        global_n--;
        s->next = tc.head;
        tc.head = s;
        tc.n++;
    }
    unlock();
    if (tc.head) return tw__pool_get();
    return tw__malloc(TW__SPAN_OBJECT_SIZE);
}

void tw__pool_put(tw_span *s) {
    if (TW_UNLIKELY(!tc.registered)) {
        pthread_once(&once, init_once);
        pthread_setspecific(cache_key, &tc);
        tc.registered = true;
    }
    s->next = tc.head;
    tc.head = s;
    if (++tc.n < 2 * TW__POOL_BATCH) return;
    /* Keep one batch, spill the rest. */
    tw_span *keep = tc.head;
    for (int i = 1; i < TW__POOL_BATCH; i++) keep = keep->next;
    tw_span *rest = keep->next;
    keep->next = NULL;
    tc.n = TW__POOL_BATCH;
    spill(rest);
}
