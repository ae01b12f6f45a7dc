/*
 * batch.c — the batch span processor: sampled ended spans go onto a
 * batcher (export/batcher.h), whose worker hands them to the exporter.
 * The queue holds one span reference per queued span: its own, or, as the
 * provider's last processor, the one the ending thread hands over.
 */
#include "export/batcher.h"
#include "export/export_int.h"

typedef struct batch_proc {
    tw_processor base;
    tw_exporter *exp;
    tw__batcher *q;
    tw_span **typed; /* the worker's batch, as span pointers */
} batch_proc;

static int sink_export(void *ctx, void *const *items, size_t n, uint64_t deadline_ns) {
    batch_proc *bp = ctx;
    for (size_t i = 0; i < n; i++) bp->typed[i] = items[i];
    return bp->exp->ops->export_spans(bp->exp, bp->typed, n, deadline_ns);
}

static void sink_release(void *item) { tw__span_unref(item); }

static void batch_on_end(tw_processor *p, tw_span *s) {
    batch_proc *bp = (batch_proc *)p;
    if (!(s->ctx.flags & TW_FLAG_SAMPLED)) return;
    tw__span_ref(s);
    if (TW_UNLIKELY(!tw__batcher_push(bp->q, s))) tw__span_unref(s);
}

/* As the last processor: the ending thread's reference becomes the queue's. */
static void batch_on_end_owned(tw_processor *p, tw_span *s) {
    batch_proc *bp = (batch_proc *)p;
    if (!(s->ctx.flags & TW_FLAG_SAMPLED) || TW_UNLIKELY(!tw__batcher_push(bp->q, s))) tw__span_unref(s);
}

static int batch_flush(tw_processor *p, uint32_t timeout_ms) {
    return tw__batcher_flush(((batch_proc *)p)->q, timeout_ms);
}

static int batch_shutdown(tw_processor *p, uint32_t timeout_ms) {
    return tw__batcher_shutdown(((batch_proc *)p)->q, timeout_ms);
}

static void batch_stats(const tw_processor *p, tw_processor_stats *out) {
    tw__batcher_stats(((const batch_proc *)p)->q, out);
}

static void batch_destroy(tw_processor *p) {
    batch_proc *bp = (batch_proc *)p;
    tw__batcher_destroy(bp->q);
    tw_exporter_destroy(bp->exp);
    tw__free(bp->typed);
    tw__free(bp);
}

static const tw__processor_ops batch_ops = {
    .on_end = batch_on_end, .on_end_owned = batch_on_end_owned, .force_flush = batch_flush,
    .shutdown = batch_shutdown, .get_stats = batch_stats, .destroy = batch_destroy,
};

int tw_processor_batch_new(tw_exporter *exp, const tw_batch_options *o, tw_processor **out) {
    if (!exp || !out) return TW_EINVAL;
    *out = NULL;
    batch_proc *bp = tw__calloc(1, sizeof *bp);
    if (!bp) goto fail;
    bp->base.ops = &batch_ops;
    bp->exp = exp;
    tw__batch_sink sink = {sink_export, sink_release, bp, bp->exp};
    tw__batch_config cfg = {"OTEL_BSP_", 5000, o ? *o : (tw_batch_options){0}};
    if (!(bp->q = tw__batcher_new(&sink, &cfg))) goto fail;
    if (!(bp->typed = tw__malloc(tw__batcher_batch_size(bp->q) * sizeof *bp->typed))) goto fail;
    *out = &bp->base;
    return TW_OK;
fail:
    if (bp) tw__batcher_destroy(bp->q);
    tw__free(bp);
    tw_exporter_destroy(exp);
    return TW_ENOMEM;
}
