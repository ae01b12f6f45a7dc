/*
 * tw_export.h — getting ended spans out of the process.
 *
 * A processor receives every span when it starts and when it ends; the
 * simple processor exports each ended span at once on the caller's thread,
 * the batch processor queues it (never blocking, counting what it drops) for
 * a background thread. An exporter turns a batch of spans into bytes on a
 * wire: OTLP/HTTP protobuf or JSON, or OTLP JSON lines on a FILE.
 *
 * Ownership: a constructor that is passed an exporter owns it afterwards;
 * a processor passed to tw_provider_add_processor() is owned by the provider.
 */
#ifndef TW_EXPORT_H
#define TW_EXPORT_H

#include <stdio.h>

#include "tw_trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tw_exporter tw_exporter;

/* ---- exporters ------------------------------------------------------------- */

typedef enum tw_otlp_protocol {
    TW_OTLP_HTTP_PROTOBUF = 0,
    TW_OTLP_HTTP_JSON = 1,
} tw_otlp_protocol;

typedef struct tw_otlp_options {
    /* The full URL, used as is (e.g. "http://host:4318/v1/traces"). NULL:
     * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, else OTEL_EXPORTER_OTLP_ENDPOINT
     * with "/v1/traces" appended, else http://localhost:4318/v1/traces. */
    const char *endpoint;
    tw_otlp_protocol protocol; /* OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL when from env */
    int compression_gzip;      /* -1: from env (OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION), 0 no, 1 gzip */
    /* Extra headers "name=value" (OTEL_EXPORTER_OTLP_[TRACES_]HEADERS format:
     * a comma list, values percent-decoded); may be NULL. */
    const char *headers;
    uint32_t timeout_ms;       /* per attempt; 0: env or 10000 */
    uint32_t max_elapsed_ms;   /* give up retrying after this; 0: 60000 */
    uint32_t initial_backoff_ms; /* 0: 1000 (then x2 with jitter, capped at 30000) */
} tw_otlp_options;

/* Fills `o` with the values of the environment (fields left 0/NULL mean
 * "default"). Strings point into the environment and live as long as it. */
TW_API void tw_otlp_options_from_env(tw_otlp_options *o);

/*
 * OTLP over HTTP with libcurl; `opts` NULL takes everything from the
 * environment, and a NULL endpoint, compression -1 or timeout 0 fall back to
 * it field by field. Retries with exponential backoff and jitter
 * only on 429, 502, 503, 504 and connection errors, honouring Retry-After;
 * other failures drop the batch (counted). A partial_success in the reply is
 * counted and logged once per distinct message to stderr.
 */
TW_API int tw_exporter_otlp_http_new(const tw_otlp_options *opts, tw_exporter **out);
/* One OTLP JSON ExportTraceServiceRequest per batch, one per line, on `f`
 * (not closed by the exporter). For debugging. */
TW_API int tw_exporter_console_new(FILE *f, tw_exporter **out);

typedef struct tw_exporter_stats {
    uint64_t spans_exported;   /* acknowledged by the peer */
    uint64_t spans_failed;     /* given up on */
    uint64_t spans_rejected;   /* reported by a partial_success */
    uint64_t requests;         /* attempts, retries included */
    uint64_t retries;
} tw_exporter_stats;

TW_API void tw_exporter_get_stats(const tw_exporter *e, tw_exporter_stats *out);
TW_API void tw_exporter_destroy(tw_exporter *e);

/* ---- processors ------------------------------------------------------------ */

typedef struct tw_batch_options {
    uint32_t max_queue_size;        /* 0: OTEL_BSP_MAX_QUEUE_SIZE or 2048 */
    uint32_t schedule_delay_ms;     /* 0: OTEL_BSP_SCHEDULE_DELAY or 5000 */
    uint32_t export_timeout_ms;     /* 0: OTEL_BSP_EXPORT_TIMEOUT or 30000 */
    uint32_t max_export_batch_size; /* 0: OTEL_BSP_MAX_EXPORT_BATCH_SIZE or 512 */
} tw_batch_options;

/* Exports on the thread that ends the span. For tests and debugging. */
TW_API int tw_processor_simple_new(tw_exporter *exp, tw_processor **out);
/*
 * A background thread exports batches of up to max_export_batch_size every
 * schedule_delay_ms, or sooner when a batch is full. The queue is bounded:
 * when full, the ended span is dropped and counted, never waited for.
 * Fork-safe: in a child process the queue starts empty (the parent's spans
 * belong to the parent) and a new thread and connection are made on first use.
 * `opts` may be NULL.
 */
TW_API int tw_processor_batch_new(tw_exporter *exp, const tw_batch_options *opts, tw_processor **out);
/*
 * Copies the baggage entries named in `keys` from the parent context to
 * attributes of each starting span (same key). Baggage is never copied
 * otherwise: it reaches every downstream service, and often PII with it.
 */
TW_API int tw_processor_baggage_new(const char *const *keys, size_t n, tw_processor **out);

typedef struct tw_processor_stats {
    uint64_t spans_queued;
    uint64_t spans_dropped; /* the queue was full */
    uint64_t spans_exported;
    uint64_t spans_failed;
    uint64_t batches;
} tw_processor_stats;

TW_API void tw_processor_get_stats(const tw_processor *p, tw_processor_stats *out);
TW_API int tw_processor_force_flush(tw_processor *p, uint32_t timeout_ms);
TW_API int tw_processor_shutdown(tw_processor *p, uint32_t timeout_ms);
/* Only for a processor not handed to a provider. */
TW_API void tw_processor_destroy(tw_processor *p);

#ifdef __cplusplus
}
#endif
#endif /* TW_EXPORT_H */
