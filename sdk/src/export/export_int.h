/*
 * export_int.h — the internal interfaces behind tw_processor and
 * tw_exporter: one small vtable each, so the provider and the batch
 * processor never know which concrete exporter they drive.
 *
 * Span ownership across the pipeline: on_end receives a span that the
 * provider keeps alive for the duration of the call; a processor that keeps
 * the span longer (a queue) takes its own reference with tw__span_ref and
 * drops it with tw__span_unref when done. Exporters only borrow spans for
 * the duration of export().
 */
#ifndef TW_EXPORT_INT_H
#define TW_EXPORT_INT_H

#include "trace/span_int.h"

typedef struct tw__exporter_ops {
    /* Export ended spans; called from one thread at a time. Retries happen
     * inside, until `deadline_ns` (tw_now_ns clock) at the latest. Returns
     * TW_OK, or the error that made it give up. */
    int (*export_spans)(tw_exporter *e, tw_span *const *spans, size_t n, uint64_t deadline_ns);
    /* Stop retrying and release connections; export afterwards fails. */
    void (*shutdown)(tw_exporter *e);
    /* In a forked child: forget connections inherited from the parent. May be NULL. */
    void (*after_fork_child)(tw_exporter *e);
    void (*destroy)(tw_exporter *e);
} tw__exporter_ops;

typedef struct tw__exporter_counters {
    _Atomic uint64_t spans_exported, spans_failed, spans_rejected, requests, retries;
} tw__exporter_counters;

struct tw_exporter {
    const tw__exporter_ops *ops;
    tw__exporter_counters counters;
};

typedef struct tw__processor_ops {
    /* May be NULL. `parent` is the context the span was started in. */
    void (*on_start)(tw_processor *p, tw_span *s, const tw_context *parent);
    /* May be NULL. Called once, after the span became immutable. */
    void (*on_end)(tw_processor *p, tw_span *s);
    int (*force_flush)(tw_processor *p, uint32_t timeout_ms);
    int (*shutdown)(tw_processor *p, uint32_t timeout_ms);
    void (*get_stats)(const tw_processor *p, tw_processor_stats *out);
    void (*destroy)(tw_processor *p);
} tw__processor_ops;

struct tw_processor {
    const tw__processor_ops *ops;
    struct tw_processor *next; /* the provider's list */
};

/* Encoders of OTLP ExportTraceServiceRequest, grouping spans by resource
 * (provider) and scope (tracer) in order of first appearance. They append to
 * `out` and return 0 or out->failed. */
struct tw__buf;
TW_HIDDEN int tw__otlp_traces_pb(struct tw__buf *out, tw_span *const *spans, size_t n);
TW_HIDDEN int tw__otlp_traces_json(struct tw__buf *out, tw_span *const *spans, size_t n);

#endif
