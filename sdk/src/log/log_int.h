/*
 * log_int.h — the logger's OTLP side (log_export.c), used by log.c.
 *
 * A log exporter turns each tw_log call into one tw__log_record (a single
 * heap object: header plus inline arena), queues it on a batcher and lets
 * the batcher's worker hand batches to an OTLP/HTTP logs exporter. The
 * provider whose resource the records carry must outlive it.
 */
#ifndef TW_LOG_INT_H
#define TW_LOG_INT_H

#include "tracewire/tw_log.h"

typedef struct tw__log_exporter tw__log_exporter;

/* Whether `mode` (and, for TW_LOG_EXPORT_ENV, OTEL_LOGS_EXPORTER) asks for
 * OTLP export. Unknown exporter names are warned about and ignored. */
TW_HIDDEN bool tw__log_export_wanted(tw_log_export mode);
/* `o` may be NULL; `prov` may be NULL (no resource). TW_OK or TW_ENOMEM. */
TW_HIDDEN int tw__log_exporter_new(const tw_logger_options *o, const tw_provider *prov, tw__log_exporter **out);
/* Queue one record for `sc` (may be invalid: no trace ids). TW_OK (queued
 * or counted as dropped) or TW_ENOMEM. */
TW_HIDDEN int tw__log_export(tw__log_exporter *x, tw_log_level level, const char *msg, const tw_attribute *fields,
                             size_t n, const tw_span_context *sc, uint64_t time_ns);
TW_HIDDEN int tw__log_exporter_flush(tw__log_exporter *x, uint32_t timeout_ms);
TW_HIDDEN void tw__log_exporter_stats(const tw__log_exporter *x, tw_processor_stats *out);
/* Exports what is queued (bounded by the export timeout), then frees. */
TW_HIDDEN void tw__log_exporter_destroy(tw__log_exporter *x);

#endif
