/*
 * processor.c — the public tw_processor_* calls, dispatched through the
 * vtable, and the two small processors: simple (export on the ending
 * thread) and baggage (copy allow-listed baggage entries to attributes).
 */
#include <pthread.h>

#include "export/export_int.h"

void tw_processor_get_stats(const tw_processor *p, tw_processor_stats *out) {
    memset(out, 0, sizeof *out);
    if (p && p->ops->get_stats) p->ops->get_stats(p, out);
}

int tw_processor_force_flush(tw_processor *p, uint32_t timeout_ms) {
    return p && p->ops->force_flush ? p->ops->force_flush(p, timeout_ms) : TW_OK;
}

int tw_processor_shutdown(tw_processor *p, uint32_t timeout_ms) {
    return p && p->ops->shutdown ? p->ops->shutdown(p, timeout_ms) : TW_OK;
}

void tw_processor_destroy(tw_processor *p) {
    if (p) p->ops->destroy(p);
}

/* ---- simple ------------------------------------------------------------------ */

typedef struct simple {
    tw_processor base;
    tw_exporter *exp;
    pthread_mutex_t lock; /* exporters are driven by one thread at a time */
    _Atomic int shut_down;
    _Atomic uint64_t exported, failed, batches;
} simple;

static void simple_on_end(tw_processor *p, tw_span *s) {
    simple *sp = (simple *)p;
    if (!(s->ctx.flags & TW_FLAG_SAMPLED) || atomic_load(&sp->shut_down)) return;
    pthread_mutex_lock(&sp->lock);
    int rc = sp->exp->ops->export_spans(sp->exp, &s, 1, tw_now_ns() + 30000000000ull);
    pthread_mutex_unlock(&sp->lock);
    atomic_fetch_add(rc == TW_OK ? &sp->exported : &sp->failed, 1);
    atomic_fetch_add(&sp->batches, 1);
}

static int simple_flush(tw_processor *p, uint32_t timeout_ms) { return TW_OK; }

static int simple_shutdown(tw_processor *p, uint32_t timeout_ms) {
    simple *sp = (simple *)p;
    if (atomic_exchange(&sp->shut_down, 1)) return TW_OK;
    pthread_mutex_lock(&sp->lock);
    sp->exp->ops->shutdown(sp->exp);
    pthread_mutex_unlock(&sp->lock);
    return TW_OK;
}

static void simple_stats(const tw_processor *p, tw_processor_stats *out) {
    simple *sp = (simple *)p;
    out->spans_exported = atomic_load(&sp->exported);
    out->spans_failed = atomic_load(&sp->failed);
    out->batches = atomic_load(&sp->batches);
    out->spans_queued = out->spans_exported + out->spans_failed;
}

static void simple_destroy(tw_processor *p) {
    simple *sp = (simple *)p;
    simple_shutdown(p, 0);
    tw_exporter_destroy(sp->exp);
    pthread_mutex_destroy(&sp->lock);
    tw__free(sp);
}

static const tw__processor_ops simple_ops = {
    .on_end = simple_on_end, .force_flush = simple_flush, .shutdown = simple_shutdown,
    .get_stats = simple_stats, .destroy = simple_destroy,
};

int tw_processor_simple_new(tw_exporter *exp, tw_processor **out) {
    if (!exp || !out) return TW_EINVAL;
    simple *sp = tw__calloc(1, sizeof *sp);
    if (!sp) {
        tw_exporter_destroy(exp);
        return TW_ENOMEM;
    }
    sp->base.ops = &simple_ops;
    sp->exp = exp;
    pthread_mutex_init(&sp->lock, NULL);
    *out = &sp->base;
    return TW_OK;
}

/* ---- baggage to attributes ---------------------------------------------------- */

typedef struct baggage_proc {
    tw_processor base;
    size_t n;
    char *keys[];
} baggage_proc;

static void baggage_on_start(tw_processor *p, tw_span *s, const tw_context *parent) {
    baggage_proc *bp = (baggage_proc *)p;
    if (!parent->baggage) return;
    for (size_t i = 0; i < bp->n; i++) {
        tw_str v;
        if (tw_baggage_get(parent->baggage, bp->keys[i], &v) != TW_OK) continue;
        tw_attribute a = TW_ATTR_STRN(bp->keys[i], v.ptr, v.len);
        tw_span_set_attr(s, &a);
    }
}

static void baggage_destroy(tw_processor *p) {
    baggage_proc *bp = (baggage_proc *)p;
    for (size_t i = 0; i < bp->n; i++) tw__free(bp->keys[i]);
    tw__free(bp);
}

static const tw__processor_ops baggage_ops = {.on_start = baggage_on_start, .destroy = baggage_destroy};

int tw_processor_baggage_new(const char *const *keys, size_t n, tw_processor **out) {
    if (!out || (n && !keys)) return TW_EINVAL;
    baggage_proc *bp = tw__calloc(1, sizeof *bp + n * sizeof(char *));
    if (!bp) return TW_ENOMEM;
    bp->base.ops = &baggage_ops;
    for (size_t i = 0; i < n; i++) {
        if (!keys[i] || !(bp->keys[i] = tw__strndup(keys[i], strlen(keys[i])))) {
            bp->n = i;
            baggage_destroy(&bp->base);
            return keys[i] ? TW_ENOMEM : TW_EINVAL;
        }
    }
    bp->n = n;
    *out = &bp->base;
    return TW_OK;
}
