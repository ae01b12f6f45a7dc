/*
 * batch.c — the batch span processor.
 *
 * Producers (threads ending spans) push onto a bounded multi-producer queue
 * (Vyukov's sequence-numbered ring) without locks; a full queue drops the
 * span and counts it, it never blocks the caller. One worker thread drains
 * the queue in batches of max_export_batch_size: every schedule_delay_ms,
 * as soon as a batch is full, on force_flush, and at shutdown.
 *
 * Fork safety: every batch processor is on a global list; around fork() all
 * their locks are held, and in the child each processor forgets its worker
 * thread (which does not exist there), drops the spans queued by the parent
 * (the parent exports them), and lets the exporter drop its connections.
 * The child's first ended span starts a new worker.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "core/env.h"
#include "export/export_int.h"

typedef struct cell {
    _Atomic size_t seq;
    tw_span *span;
} cell;

typedef struct batch {
    tw_processor base;
    tw_exporter *exp;
    uint32_t cap, batch_size, delay_ms, timeout_ms;
    cell *ring;
    _Atomic size_t head; /* next enqueue position */
    _Atomic size_t tail; /* next dequeue position; written by the worker only
                          * (and the fork child), read by producers for the length */

    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_t thread;
    _Atomic int running; /* a worker thread exists in this process */
    bool stop;
    uint64_t flush_requested, flush_done;

    _Atomic int shut_down;
    _Atomic uint64_t queued, dropped, exported, failed, batches;
    struct batch *next_all;
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

static tw_span *dequeue(batch *b);

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
        b->stop = false;
        b->flush_done = b->flush_requested;
        tw_span *s;
        while ((s = dequeue(b))) tw__span_unref(s);
        if (b->exp->ops->after_fork_child) b->exp->ops->after_fork_child(b->exp);
    }
    pthread_mutex_unlock(&all_lock);
}

static void install_atfork(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* ---- queue ------------------------------------------------------------------------ */

static bool enqueue(batch *b, tw_span *s) {
    size_t pos = atomic_load_explicit(&b->head, memory_order_relaxed);
    for (;;) {
        cell *c = &b->ring[pos % b->cap];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&b->head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->span = s;
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

static tw_span *dequeue(batch *b) {
    size_t tail = atomic_load_explicit(&b->tail, memory_order_relaxed);
    cell *c = &b->ring[tail % b->cap];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if ((intptr_t)seq - (intptr_t)(tail + 1) < 0) return NULL; /* empty */
    tw_span *s = c->span;
    atomic_store_explicit(&c->seq, tail + b->cap, memory_order_release);
    atomic_store_explicit(&b->tail, tail + 1, memory_order_relaxed);
    return s;
}

/* Approximate when read by a producer (the worker may be moving tail). */
static size_t queue_len(batch *b) {
    size_t head = atomic_load_explicit(&b->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&b->tail, memory_order_relaxed);
    return head - tail;
}

/* ---- worker ------------------------------------------------------------------------ */

static void export_some(batch *b, tw_span **buf, size_t max) {
    size_t n = 0;
    tw_span *s;
    while (n < max && (s = dequeue(b))) buf[n++] = s;
    if (!n) return;
    uint64_t deadline = tw_now_ns() + (uint64_t)b->timeout_ms * 1000000u;
    int rc = b->exp->ops->export_spans(b->exp, buf, n, deadline);
    atomic_fetch_add(rc == TW_OK ? &b->exported : &b->failed, n);
    atomic_fetch_add(&b->batches, 1);
    for (size_t i = 0; i < n; i++) tw__span_unref(buf[i]);
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
    tw_span **buf = tw__malloc(b->batch_size * sizeof *buf);
    pthread_mutex_lock(&b->lock);
    for (;;) {
        if (!b->stop && b->flush_requested == b->flush_done && queue_len(b) < b->batch_size) {
            struct timespec ts;
            deadline_in(&ts, b->delay_ms);
            pthread_cond_timedwait(&b->wake, &b->lock, &ts);
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

/* ---- processor ops --------------------------------------------------------------- */

static void batch_on_end(tw_processor *p, tw_span *s) {
    batch *b = (batch *)p;
    if (!(s->ctx.flags & TW_FLAG_SAMPLED)) return;
    if (TW_UNLIKELY(atomic_load_explicit(&b->shut_down, memory_order_relaxed))) {
        atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
        return;
    }
    if (TW_UNLIKELY(!atomic_load_explicit(&b->running, memory_order_acquire))) {
        pthread_mutex_lock(&b->lock);
        ensure_worker(b);
        pthread_mutex_unlock(&b->lock);
    }
    tw__span_ref(s);
    if (TW_UNLIKELY(!enqueue(b, s))) {
        tw__span_unref(s);
        atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&b->queued, 1, memory_order_relaxed);
    if (TW_UNLIKELY(queue_len(b) == b->batch_size)) {
        pthread_mutex_lock(&b->lock);
        pthread_cond_signal(&b->wake);
        pthread_mutex_unlock(&b->lock);
    }
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

static int batch_flush(tw_processor *p, uint32_t timeout_ms) {
    batch *b = (batch *)p;
    pthread_mutex_lock(&b->lock);
    int rc = flush_locked(b, timeout_ms);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int batch_shutdown(tw_processor *p, uint32_t timeout_ms) {
    batch *b = (batch *)p;
    if (atomic_exchange(&b->shut_down, 1)) return TW_OK;
    pthread_mutex_lock(&b->lock);
    int rc = flush_locked(b, timeout_ms);
    bool had_worker = atomic_load(&b->running);
    b->stop = true;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->lock);
    if (had_worker) {
        if (rc == TW_ETIMEDOUT) b->exp->ops->shutdown(b->exp); /* cut retries short */
        pthread_join(b->thread, NULL);
        atomic_store(&b->running, 0);
    }
    b->exp->ops->shutdown(b->exp);
    return rc;
}

static void batch_stats(const tw_processor *p, tw_processor_stats *out) {
    batch *b = (batch *)p;
    out->spans_queued = atomic_load(&b->queued);
    out->spans_dropped = atomic_load(&b->dropped);
    out->spans_exported = atomic_load(&b->exported);
    out->spans_failed = atomic_load(&b->failed);
    out->batches = atomic_load(&b->batches);
}

static void batch_destroy(tw_processor *p) {
    batch *b = (batch *)p;
    batch_shutdown(p, b->timeout_ms);
    pthread_mutex_lock(&all_lock);
    for (batch **pp = &all; *pp; pp = &(*pp)->next_all)
        if (*pp == b) {
            *pp = b->next_all;
            break;
        }
    pthread_mutex_unlock(&all_lock);
    tw_span *s;
    while ((s = dequeue(b))) tw__span_unref(s);
    tw_exporter_destroy(b->exp);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->wake);
    pthread_cond_destroy(&b->done);
    tw__free(b->ring);
    tw__free(b);
}

static const tw__processor_ops batch_ops = {
    .on_end = batch_on_end, .force_flush = batch_flush, .shutdown = batch_shutdown,
    .get_stats = batch_stats, .destroy = batch_destroy,
};

static uint32_t opt(uint32_t given, const char *env, uint32_t def) {
    if (given) return given;
    uint64_t v = tw__env_uint(env, def);
    return v == 0 || v > (1u << 30) ? def : (uint32_t)v;
}

int tw_processor_batch_new(tw_exporter *exp, const tw_batch_options *o, tw_processor **out) {
    static const tw_batch_options none = {0};
    if (!exp || !out) return TW_EINVAL;
    if (!o) o = &none;
    batch *b = tw__calloc(1, sizeof *b);
    if (!b) {
        tw_exporter_destroy(exp);
        return TW_ENOMEM;
    }
    b->base.ops = &batch_ops;
    b->exp = exp;
    b->cap = opt(o->max_queue_size, "OTEL_BSP_MAX_QUEUE_SIZE", 2048);
    b->delay_ms = opt(o->schedule_delay_ms, "OTEL_BSP_SCHEDULE_DELAY", 5000);
    b->timeout_ms = opt(o->export_timeout_ms, "OTEL_BSP_EXPORT_TIMEOUT", 30000);
    b->batch_size = opt(o->max_export_batch_size, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512);
    if (b->batch_size > b->cap) b->batch_size = b->cap; /* as the specification requires */
    b->ring = tw__calloc(b->cap, sizeof *b->ring);
    if (!b->ring) {
        tw__free(b);
        tw_exporter_destroy(exp);
        return TW_ENOMEM;
    }
    for (size_t i = 0; i < b->cap; i++) atomic_init(&b->ring[i].seq, i);
    pthread_mutex_init(&b->lock, NULL);
    init_conds(b);

    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&all_lock);
    b->next_all = all;
    all = b;
    pthread_mutex_unlock(&all_lock);
    *out = &b->base;
    return TW_OK;
}
