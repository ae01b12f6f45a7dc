/*
 * exporter.c — what every exporter shares: statistics and destruction
 * through the ops table (see export_int.h).
 */
#include "export/export_int.h"

void tw_exporter_get_stats(const tw_exporter *e, tw_exporter_stats *out) {
    memset(out, 0, sizeof *out);
    if (!e) return;
    /* The counters are only read: the cast drops const for C11's atomic_load. */
    tw__exporter_counters *c = (tw__exporter_counters *)&e->counters;
    out->spans_exported = atomic_load_explicit(&c->spans_exported, memory_order_relaxed);
    out->spans_failed = atomic_load_explicit(&c->spans_failed, memory_order_relaxed);
    out->spans_rejected = atomic_load_explicit(&c->spans_rejected, memory_order_relaxed);
    out->requests = atomic_load_explicit(&c->requests, memory_order_relaxed);
    out->retries = atomic_load_explicit(&c->retries, memory_order_relaxed);
}

void tw_exporter_destroy(tw_exporter *e) {
    if (e) e->ops->destroy(e);
}
