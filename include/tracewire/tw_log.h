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
 */
#ifndef TW_LOG_H
#define TW_LOG_H

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

typedef struct tw_logger_options {
    int fd;                 /* where lines go; -1: none; default (options NULL): 1 (stdout) */
    const char *service;    /* NULL: service.name of `provider`, else of the global provider */
    tw_provider *provider;  /* may be NULL */
    tw_log_level min_level; /* lines below are discarded; 0: TW_LOG_INFO */
} tw_logger_options;

/* `opts` may be NULL. */
TW_API int tw_logger_new(const tw_logger_options *opts, tw_logger **out);
TW_API void tw_logger_destroy(tw_logger *lg);

/* Writes one line. `fields` are extra JSON members (typed; arrays become JSON
 * arrays). Returns TW_OK, or TW_EIO when the write failed. */
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
