/*
 * export_int.h — the internal interfaces behind tw_processor and
 * tw_exporter: one small vtable each, so the provider and the batch
 * processor never know which concrete exporter they drive.
 *
 * Span ownership across the pipeline: on_end receives a span that the
 * provider keeps alive for the duration of the call; a processor that keeps
 * the span longer (a queue) takes its own reference with tw__span_ref and
 * drops it with tw__span_unref when done. The provider's last processor may
 * instead implement on_end_owned, which is handed the ending thread's own
 * reference (one atomic operation less per span). Exporters only borrow
 * spans for the duration of export().
 */
#ifndef TW_EXPORT_INT_H
#define TW_EXPORT_INT_H

#include "trace/span_int.h"

/* A log record queued for OTLP export (sdk/src/log). One heap object: the
 * header, then an inline arena holding the body and the attributes. */
typedef struct tw__log_record {
    uint64_t time_ns, observed_ns;
    uint8_t severity;    /* OpenTelemetry severity number, 1..24 */
    uint8_t trace_flags; /* W3C flags of the span it was written in */
    bool has_trace;      /* trace_id and span_id are set */
    tw_trace_id trace_id;
    tw_span_id span_id;
    const char *body;
    uint32_t body_len;
    tw__kvlist attrs;
    tw__arena arena;
} tw__log_record;

/* One ExportLogsServiceRequest: the records of one logger, so one resource
 * and one instrumentation scope. */
typedef struct tw__log_batch {
    const tw__kvlist *resource; /* may be NULL */
    const char *scope_name, *scope_version; /* may be NULL */
    tw__log_record *const *records;
    size_t n;
} tw__log_batch;

/* "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL" (SeverityText). */
TW_HIDDEN const char *tw__log_severity_text(uint8_t severity);

typedef struct tw__exporter_ops {
    /* Export ended spans; called from one thread at a time. Retries happen
     * inside, until `deadline_ns` (tw_now_ns clock) at the latest. Returns
     * TW_OK, or the error that made it give up. */
    int (*export_spans)(tw_exporter *e, tw_span *const *spans, size_t n, uint64_t deadline_ns);
    /* Export log records, with the same rules; NULL when not supported. */
    int (*export_logs)(tw_exporter *e, const tw__log_batch *b, uint64_t deadline_ns);
    /* Stop retrying and release connections; export afterwards fails. */
    void (*shutdown)(tw_exporter *e);
    /* In a forked child: forget connections inherited from the parent. May be NULL. */
    void (*after_fork_child)(tw_exporter *e);
    void (*destroy)(tw_exporter *e);
} tw__exporter_ops;

/* Counts of items (spans, or log records for a logs exporter). */
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
    /* May be NULL. Called instead of on_end when this is the provider's last
     * processor, with the ending thread's reference handed over: it keeps
     * that reference or drops it (tw__span_unref); the caller no longer
     * touches the span. */
    void (*on_end_owned)(tw_processor *p, tw_span *s);
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
/* Encoders of OTLP ExportLogsServiceRequest. */
TW_HIDDEN int tw__otlp_logs_pb(struct tw__buf *out, const tw__log_batch *b);
TW_HIDDEN int tw__otlp_logs_json(struct tw__buf *out, const tw__log_batch *b);

#endif
