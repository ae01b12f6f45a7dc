/*
 * batcher.c — the bounded queue and its worker thread (see batcher.h).
 *
 * The queue is Vyukov's sequence-numbered multi-producer ring: producers
 * claim a cell with one compare-and-swap; the single consumer (the worker,
 * or the fork child) frees it by advancing the cell's sequence, and
 * publishes its position (read by producers for the length) once per batch.
 *
 * Waking the worker: it raises `sleeping` (under the lock) before it waits
 * for a full batch and re-reads the length after; a producer that finds a
 * full batch queued signals only when it sees the flag, so pushes while the
 * worker is busy cost no lock and no futex, and with concurrent producers
 * a length that jumps past the batch size still wakes it. (The flag store
 * and the head update are sequentially consistent: one of the two sides
 * sees the other.)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "core/env.h"
#include "core/prefetch.h"
#include "export/batcher.h"

typedef struct cell {
    _Atomic size_t seq;
    void *item;
} cell;

/* Fields are grouped by who writes them, with a cache line's worth of
 * padding between the groups (no alignment needed of the allocation), so
 * producers pushing and the worker draining do not false-share: producers
 * write `head` (and the cells); the worker writes `tail` and its counters;
 * the settings and flags before are read on every push, rarely written. */
#define CACHE_LINE 64

typedef struct tw__batcher {
    tw__batch_sink sink;
    uint32_t cap, batch_size, delay_ms, timeout_ms;
    uint32_t mask; /* cap - 1 when cap is a power of two (no division per item), else 0 */
    cell *ring;
    _Atomic int running; /* a worker thread exists in this process */
    _Atomic int shut_down;

    char pad_head[CACHE_LINE];
    _Atomic size_t head; /* next enqueue position; also the count of items ever queued */
    _Atomic uint64_t dropped;

    char pad_tail[CACHE_LINE];
    _Atomic size_t tail; /* next dequeue position; written by the worker only
                          * (and the fork child), read by producers for the length */
    _Atomic int sleeping; /* the worker waits for a full batch: push must signal */
    _Atomic uint64_t exported, failed, batches;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_t thread;
    bool stop;
    uint64_t flush_requested, flush_done;
    struct tw__batcher *next_all;
} batch;

/* ---- the global list, for fork -------------------------------------------------- */

static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static batch *all;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) {
    pthread_mutex_lock(&all_lock);
    for (batch *b = all; b; b = b->next_all) pthread_mutex_lock(&b->lock);
}

static void fork_parent(void) {
    for (batch *b = all; b; b = b->next_all) pthread_mutex_unlock(&b->lock);
    pthread_mutex_unlock(&all_lock);
}

static void *dequeue(batch *b);

/* Condition variables wait on the monotonic clock: wall-clock jumps must not
 * stretch or cut short the schedule delay. */
static void init_conds(batch *b) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->wake, &ca);
    pthread_cond_init(&b->done, &ca);
    pthread_condattr_destroy(&ca);
}

static void fork_child(void) {
    for (batch *b = all; b; b = b->next_all) {
        pthread_mutex_unlock(&b->lock);
        init_conds(b);
        atomic_store(&b->running, 0);
        atomic_store(&b->sleeping, 0);
        b->stop = false;
        b->flush_done = b->flush_requested;
        void *item;
        while ((item = dequeue(b))) b->sink.release(item);
        if (b->sink.exp->ops->after_fork_child) b->sink.exp->ops->after_fork_child(b->sink.exp);
    }
    pthread_mutex_unlock(&all_lock);
}

static void install_atfork(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* ---- queue ------------------------------------------------------------------------ */

static inline cell *cell_at(const batch *b, size_t pos) {
    return &b->ring[TW_LIKELY(b->mask) ? pos & b->mask : pos % b->cap];
}

/* Cells a push asks for ahead of use: two cache lines of them. */
#define CELL_PREFETCH (2 * CACHE_LINE / sizeof(cell))

static bool enqueue(batch *b, void *item) {
    size_t pos = atomic_load_explicit(&b->head, memory_order_relaxed);
    /* The worker wrote the cells ahead last (freeing them): fetch them for
     * writing before the push that needs them. */
    if (TW_LIKELY(b->mask)) tw__prefetch_write(&b->ring[(pos + CELL_PREFETCH) & b->mask]);
    for (;;) {
        cell *c = cell_at(b, pos);
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            /* seq_cst: ordered against the worker raising `sleeping` (x86: the same instruction) */
            if (atomic_compare_exchange_weak_explicit(&b->head, &pos, pos + 1, memory_order_seq_cst,
                                                      memory_order_relaxed)) {
                c->item = item;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return true;
            }
        } else if (dif < 0) {
            return false; /* full */
        } else {
            pos = atomic_load_explicit(&b->head, memory_order_relaxed);
        }
    }
}

/* The consumer's next item, at position *pos (advanced); NULL when empty.
 * The caller publishes the new position in `tail`. */
static void *take(batch *b, size_t *pos) {
    cell *c = cell_at(b, *pos);
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if ((intptr_t)seq - (intptr_t)(*pos + 1) < 0) return NULL; /* empty */
    void *item = c->item;
    atomic_store_explicit(&c->seq, *pos + b->cap, memory_order_release);
    (*pos)++;
    return item;
}

static void *dequeue(batch *b) {
    size_t tail = atomic_load_explicit(&b->tail, memory_order_relaxed);
    void *item = take(b, &tail);
    if (item) atomic_store_explicit(&b->tail, tail, memory_order_relaxed);
    return item;
}

/* Approximate when read by a producer (the worker may be moving tail). */
static size_t queue_len(batch *b) {
    size_t head = atomic_load_explicit(&b->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&b->tail, memory_order_relaxed);
    return head - tail;
}

/* The length as the worker sees it after raising `sleeping`. */
static size_t queue_len_sc(batch *b) {
    return atomic_load(&b->head) - atomic_load_explicit(&b->tail, memory_order_relaxed);
}

/* ---- worker ------------------------------------------------------------------------ */

static void export_some(batch *b, void **buf, size_t max) {
    size_t n = 0, tail = atomic_load_explicit(&b->tail, memory_order_relaxed);
    void *item;
    while (n < max && (item = take(b, &tail))) buf[n++] = item;
    if (!n) return;
    /* One store for the batch: producers read tail on every push. */
    atomic_store_explicit(&b->tail, tail, memory_order_relaxed);
    uint64_t deadline = tw_now_ns() + (uint64_t)b->timeout_ms * 1000000u;
    int rc = b->sink.export_items(b->sink.ctx, buf, n, deadline);
    atomic_fetch_add(rc == TW_OK ? &b->exported : &b->failed, n);
    atomic_fetch_add(&b->batches, 1);
    for (size_t i = 0; i < n; i++) b->sink.release(buf[i]);
}

static void deadline_in(struct timespec *ts, uint32_t ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *worker(void *arg) {
    batch *b = arg;
    void **buf = tw__malloc(b->batch_size * sizeof *buf);
    pthread_mutex_lock(&b->lock);
    for (;;) {
        if (!b->stop && b->flush_requested == b->flush_done) {
            /* Until the delay is over, a full batch is queued, or a flush or
             * stop is asked for; a spurious wake-up waits on. */
            struct timespec ts;
            deadline_in(&ts, b->delay_ms);
            atomic_store(&b->sleeping, 1);
            while (!b->stop && b->flush_requested == b->flush_done && queue_len_sc(b) < b->batch_size) {
                if (pthread_cond_timedwait(&b->wake, &b->lock, &ts) == ETIMEDOUT) break;
                atomic_store(&b->sleeping, 1); /* a producer that signalled lowered it */
            }
            atomic_store_explicit(&b->sleeping, 0, memory_order_relaxed);
        }
        uint64_t flush_target = b->flush_requested;
        bool stopping = b->stop, drain_all = stopping || flush_target != b->flush_done;
        pthread_mutex_unlock(&b->lock);
        if (buf) {
            do export_some(b, buf, b->batch_size);
            while (drain_all ? queue_len(b) > 0 : queue_len(b) >= b->batch_size);
        }
        pthread_mutex_lock(&b->lock);
        if (drain_all) {
            b->flush_done = flush_target;
            pthread_cond_broadcast(&b->done);
        }
        if (stopping) break;
    }
    pthread_mutex_unlock(&b->lock);
    tw__free(buf);
    return NULL;
}

/* Start the worker if this process has none. Caller holds b->lock. */
static int ensure_worker(batch *b) {
    if (atomic_load(&b->running)) return TW_OK;
    if (pthread_create(&b->thread, NULL, worker, b) != 0) return TW_EIO;
    atomic_store(&b->running, 1);
    return TW_OK;
}

/* A full batch is queued and the worker was seen waiting for one. Under the
 * lock the flag is exact: the worker holds it from raising the flag until it
 * waits, so it is waiting now; only the first producer to get here lowers
 * the flag and signals. The signal goes out after the unlock: woken on this
 * CPU, the worker would otherwise preempt us only to block on the mutex we
 * hold (four context switches per batch instead of two). Should the wait
 * time out meanwhile, the late signal only makes the worker look at the
 * length once more. */
static void wake_worker(batch *b) {
    pthread_mutex_lock(&b->lock);
    /* The length again: the tail read before the flag may have been stale. */
    bool wake = atomic_load_explicit(&b->sleeping, memory_order_relaxed) && queue_len(b) >= b->batch_size;
    if (wake) atomic_store_explicit(&b->sleeping, 0, memory_order_relaxed);
    pthread_mutex_unlock(&b->lock);
    if (wake) pthread_cond_signal(&b->wake);
}

/* ---- interface ------------------------------------------------------------------- */

bool tw__batcher_push(batch *b, void *item) {
    if (TW_UNLIKELY(atomic_load_explicit(&b->shut_down, memory_order_relaxed))) {
        atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
        return false;
    }
    if (TW_UNLIKELY(!atomic_load_explicit(&b->running, memory_order_acquire))) {
        pthread_mutex_lock(&b->lock);
        ensure_worker(b);
        pthread_mutex_unlock(&b->lock);
    }
    if (TW_UNLIKELY(!enqueue(b, item))) {
        atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
        return false;
    }
    if (TW_UNLIKELY(queue_len(b) >= b->batch_size) && atomic_load(&b->sleeping)) wake_worker(b);
    return true;
}

/* Wait until the worker has drained everything queued before this call. */
static int flush_locked(batch *b, uint32_t timeout_ms) {
    if (!atomic_load(&b->running)) {
        if (queue_len(b) == 0) return TW_OK;
        int rc = ensure_worker(b);
        if (rc) return rc;
    }
    uint64_t target = ++b->flush_requested;
    pthread_cond_signal(&b->wake);
    struct timespec ts;
    deadline_in(&ts, timeout_ms);
    while (b->flush_done < target) {
        if (pthread_cond_timedwait(&b->done, &b->lock, &ts) == ETIMEDOUT) return TW_ETIMEDOUT;
    }
    return TW_OK;
}

int tw__batcher_flush(batch *b, uint32_t timeout_ms) {
    pthread_mutex_lock(&b->lock);
    int rc = flush_locked(b, timeout_ms);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

int tw__batcher_shutdown(batch *b, uint32_t timeout_ms) {
    if (atomic_exchange(&b->shut_down, 1)) return TW_OK;
    pthread_mutex_lock(&b->lock);
    int rc = flush_locked(b, timeout_ms);
    bool had_worker = atomic_load(&b->running);
    b->stop = true;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->lock);
    if (had_worker) {
        if (rc == TW_ETIMEDOUT) b->sink.exp->ops->shutdown(b->sink.exp); /* cut retries short */
        pthread_join(b->thread, NULL);
        atomic_store(&b->running, 0);
    }
    b->sink.exp->ops->shutdown(b->sink.exp);
    return rc;
}

uint32_t tw__batcher_batch_size(const batch *b) { return b->batch_size; }

void tw__batcher_stats(const batch *b, tw_processor_stats *out) {
    out->spans_queued = atomic_load(&b->head); /* head moves once per accepted item */
    out->spans_dropped = atomic_load(&b->dropped);
    out->spans_exported = atomic_load(&b->exported);
    out->spans_failed = atomic_load(&b->failed);
    out->batches = atomic_load(&b->batches);
}

void tw__batcher_destroy(batch *b) {
    if (!b) return;
    tw__batcher_shutdown(b, b->timeout_ms);
    pthread_mutex_lock(&all_lock);
    for (batch **pp = &all; *pp; pp = &(*pp)->next_all)
        if (*pp == b) {
            *pp = b->next_all;
            break;
        }
    pthread_mutex_unlock(&all_lock);
    void *item;
    while ((item = dequeue(b))) b->sink.release(item);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->wake);
    pthread_cond_destroy(&b->done);
    tw__free(b->ring);
    tw__free(b);
}

static uint32_t opt(uint32_t given, const char *prefix, const char *name, uint32_t def) {
    if (given) return given;
    char env[96];
    snprintf(env, sizeof env, "%s%s", prefix, name);
    uint64_t v = tw__env_uint(env, def);
    return v == 0 || v > (1u << 30) ? def : (uint32_t)v;
}

batch *tw__batcher_new(const tw__batch_sink *sink, const tw__batch_config *cfg) {
    batch *b = tw__calloc(1, sizeof *b);
    if (!b) return NULL;
    b->sink = *sink;
    const tw_batch_options *o = &cfg->given;
    b->cap = opt(o->max_queue_size, cfg->env_prefix, "MAX_QUEUE_SIZE", 2048);
    b->delay_ms = opt(o->schedule_delay_ms, cfg->env_prefix, "SCHEDULE_DELAY", cfg->default_delay_ms);
    b->timeout_ms = opt(o->export_timeout_ms, cfg->env_prefix, "EXPORT_TIMEOUT", 30000);
    b->batch_size = opt(o->max_export_batch_size, cfg->env_prefix, "MAX_EXPORT_BATCH_SIZE", 512);
    if (b->batch_size > b->cap) b->batch_size = b->cap; /* as the specification requires */
    b->mask = (b->cap & (b->cap - 1)) == 0 && b->cap > 1 ? b->cap - 1 : 0;
    b->ring = tw__calloc(b->cap, sizeof *b->ring);
    if (!b->ring) {
        tw__free(b);
        return NULL;
    }
    for (size_t i = 0; i < b->cap; i++) atomic_init(&b->ring[i].seq, i);
    pthread_mutex_init(&b->lock, NULL);
    init_conds(b);

    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&all_lock);
    b->next_all = all;
    all = b;
    pthread_mutex_unlock(&all_lock);
    return b;
}
