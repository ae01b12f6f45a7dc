/*
 * promwrite.h — Prometheus encodings shared by the metric sources: label
 * values for the text formats, and the remote-write protobuf (WriteRequest): one
 * TimeSeries at a time, appended to a buffer. WriteRequest's only field is
 * `repeated TimeSeries timeseries = 1`, so series of several sources
 * appended one after the other make one request.
 */
#ifndef TWS_PROMWRITE_H
#define TWS_PROMWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define TWS_PW_MAX_LABELS 48

/* A label value for the text formats: backslash, double quote and newline
 * escaped as Prometheus and OpenMetrics require. */
void tws_prom_escape(tw__buf *b, const char *s, size_t n);

typedef struct tws_pw_label {
    const char *name, *value;
} tws_pw_label;

typedef struct tws_pw_exemplar {
    const uint8_t *trace; /* 16 bytes: label trace_id (hex) */
    const uint8_t *span;  /* 8 bytes: label span_id (hex) */
    double value;
    int64_t ts_ms;
} tws_pw_exemplar;

/* One TimeSeries with one sample: __name__ = metric plus `labels` (at most
 * TWS_PW_MAX_LABELS - 1; sorted by name here, as the protocol requires),
 * and an exemplar when `ex` is not NULL. */
void tws_pw_series(tw__buf *o, const char *metric, const tws_pw_label *labels, size_t n, double v, int64_t ts_ms,
                   const tws_pw_exemplar *ex);

#endif
