/*
 * spanmetrics.h — RED metrics from spans, with the semantics of the
 * OpenTelemetry Collector's spanmetrics connector: every accepted span adds
 * to `traces_span_metrics_calls_total` and to the histogram
 * `traces_span_metrics_duration_milliseconds`, labelled service_name,
 * span_name, span_kind (SPAN_KIND_*), status_code (STATUS_CODE_*) and the
 * configured dimensions (looked up in the span's attributes, then its
 * resource's; a default or no label when absent). Each data point keeps
 * its newest exemplar (trace_id, span_id, value, time) per bucket and for
 * the counter, rendered in OpenMetrics text for Prometheus's exemplar
 * storage.
 *
 * Invariants:
 *  - Bounded: at most `max_series` label sets; spans of any new label set
 *    beyond it go to one overflow series labelled otel_metric_overflow="true".
 *  - Sampling-aware: a span whose tracestate carries an OpenTelemetry
 *    probability threshold (`ot=th:...`) counts as its adjusted count
 *    (1 / sampling probability), so rates stay right under head sampling.
 *  - Not thread-safe: the server's loop thread feeds and renders it.
 */
#ifndef TWS_SPANMETRICS_H
#define TWS_SPANMETRICS_H

#include "common/buf.h"
#include "otlp/model.h"

#define TWS_SM_MAX_BUCKETS 64
#define TWS_SM_MAX_DIMS 16

typedef struct tws_sm_dimension {
    char name[128];    /* attribute key, e.g. "http.route"; label "http_route" */
    char fallback[128];/* value when the attribute is absent; "" = no label then */
} tws_sm_dimension;

typedef struct tws_spanmetrics_options {
    double buckets_ms[TWS_SM_MAX_BUCKETS]; /* ascending upper bounds; n_buckets 0: the article's
                                              5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000 ms */
    uint32_t n_buckets;
    tws_sm_dimension dims[TWS_SM_MAX_DIMS];
    uint32_t n_dims;
    uint32_t max_series; /* 0: 10000 */
} tws_spanmetrics_options;

typedef struct tws_spanmetrics tws_spanmetrics;

int tws_spanmetrics_new(const tws_spanmetrics_options *o, tws_spanmetrics **out);
void tws_spanmetrics_free(tws_spanmetrics *sm);

/* Count every valid span of `b` (spans with reject set are skipped). */
void tws_spanmetrics_add(tws_spanmetrics *sm, const tws_batch *b);

/* Append the metrics in the Prometheus text format, or in OpenMetrics
 * (with exemplars) when `openmetrics`. Counter families are named without
 * "_total" in OpenMetrics, as it requires. Returns out->failed. */
int tws_spanmetrics_render(const tws_spanmetrics *sm, bool openmetrics, tw__buf *out);

/* Every series as a Prometheus remote-write WriteRequest (protobuf, not
 * compressed), samples at `now_ms`, exemplars included. Returns out->failed. */
int tws_spanmetrics_encode_remote_write(const tws_spanmetrics *sm, int64_t now_ms, tw__buf *out);

/* The adjusted count of a span from its tracestate: 1 / p for an
 * `ot=th:<hex>` threshold, 1 without one (or a malformed one). */
double tws_adjusted_count(tw_str tracestate);

typedef struct tws_spanmetrics_stats {
    uint64_t series, overflowed_spans;
} tws_spanmetrics_stats;
void tws_spanmetrics_get_stats(const tws_spanmetrics *sm, tws_spanmetrics_stats *out);

#endif
