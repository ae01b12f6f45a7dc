/*
 * tw_log.h — structured logs that carry the active trace.
 *
 * One call writes one JSON line, in the article's shape:
 *   {"timestamp":"2026-11-25T10:00:00.123456789Z","level":"error",
 *    "msg":"inventory reserve failed","service":"checkout",
 *    "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7", ...fields}
 * trace_id and span_id come from the thread's current span (or are empty
 * strings when there is none), so every log line inside a span can be joined
 * to its trace. A logger is thread-safe; each line is written with a single
 * write so lines from different threads never interleave.
 *
 * A logger can also export each record as an OTLP LogRecord (POST /v1/logs,
 * protobuf or JSON), batched like spans: the record carries the body, the
 * severity number and text, the fields as attributes, the trace_id, span_id
 * and trace flags of the active span, and the logger's resource (that of its
 * provider). Export is on when `export_mode` says so, or, left at
 * TW_LOG_EXPORT_ENV, when OTEL_LOGS_EXPORTER lists "otlp". Records go onto a
 * bounded queue drained by a background thread; a full queue drops the
 * record (counted), tw_log never waits for the network. Queue settings
 * come from OTEL_BLRP_MAX_QUEUE_SIZE (2048), OTEL_BLRP_SCHEDULE_DELAY (1000
 * ms), OTEL_BLRP_EXPORT_TIMEOUT (30000 ms), OTEL_BLRP_MAX_EXPORT_BATCH_SIZE
 * (512); the exporter from OTEL_EXPORTER_OTLP_LOGS_* and OTEL_EXPORTER_OTLP_*
 * (endpoint default http://localhost:4318/v1/logs); attribute limits from
 * OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT (128) and
 * OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT (none). Fork-safe as the batch
 * span processor is.
 */
#ifndef TW_LOG_H
#define TW_LOG_H

#include "tw_export.h"
#include "tw_trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* OpenTelemetry severity numbers (the first of each range). */
typedef enum tw_log_level {
    TW_LOG_TRACE = 1,
    TW_LOG_DEBUG = 5,
    TW_LOG_INFO = 9,
    TW_LOG_WARN = 13,
    TW_LOG_ERROR = 17,
    TW_LOG_FATAL = 21,
} tw_log_level;

typedef struct tw_logger tw_logger;

typedef enum tw_log_export {
    TW_LOG_EXPORT_ENV = 0,  /* OTEL_LOGS_EXPORTER: on when it lists "otlp" */
    TW_LOG_EXPORT_NONE = 1, /* JSON lines only */
    TW_LOG_EXPORT_OTLP = 2, /* also OTLP */
} tw_log_export;

typedef struct tw_logger_options {
    int fd;                 /* where lines go; -1: none; default (options NULL): 1 (stdout) */
    const char *service;    /* NULL: service.name of `provider`, else of the global provider */
    /* The resource of exported records, and the default service; may be
     * NULL (the global provider at tw_logger_new). It must outlive the logger. */
    tw_provider *provider;
    tw_log_level min_level; /* lines below are discarded; 0: TW_LOG_INFO */
    tw_log_export export_mode;
    const tw_otlp_options *otlp;   /* NULL: from the environment (see above); copied */
    const tw_batch_options *batch; /* NULL: OTEL_BLRP_* or the defaults above */
    const char *scope_name;        /* InstrumentationScope of exported records; NULL: "tracewire.log" */
} tw_logger_options;

/* `opts` may be NULL. Fails (TW_EINVAL...) only when asked for OTLP export
 * that cannot be set up. */
TW_API int tw_logger_new(const tw_logger_options *opts, tw_logger **out);
/* Exports what is queued (bounded by the export timeout), then frees. */
TW_API void tw_logger_destroy(tw_logger *lg);
/* Wait until the records logged before the call are exported (or given up
 * on); TW_OK, or TW_ETIMEDOUT. TW_OK at once when export is off. */
TW_API int tw_logger_flush(tw_logger *lg, uint32_t timeout_ms);
/* Counts of OTLP-exported records (spans_* fields count records); zeros
 * when export is off. */
TW_API void tw_logger_get_stats(const tw_logger *lg, tw_processor_stats *out);

/* Writes one line and, when exporting, queues one record. `fields` are
 * extra JSON members (typed; arrays become JSON arrays) and the record's
 * attributes. Returns TW_OK, TW_EIO when the write failed, or TW_ENOMEM when
 * the record could not be made. A record refused by a full queue is counted
 * in spans_dropped, not an error. */
TW_API int tw_log(tw_logger *lg, tw_log_level level, const char *msg,
                  const tw_attribute *fields, size_t n);

/* Formats the line for `ctx` (NULL: the current context) into buf without
 * writing it; returns its length (newline included) or TW_ERANGE. */
TW_API int tw_log_format(tw_logger *lg, tw_log_level level, const char *msg,
                         const tw_attribute *fields, size_t n, const tw_context *ctx,
                         uint64_t time_ns, char *buf, size_t buf_len);

/* "trace", "debug", "info", "warn", "error", "fatal" for a severity number. */
TW_API const char *tw_log_level_name(tw_log_level level);

#ifdef __cplusplus
}
#endif
#endif /* TW_LOG_H */
