/*
 * metrics.h — TraceQL metrics: a query such as
 *     { status = error } | rate() by (resource.service.name)
 * turned into time series, as Tempo's /api/metrics/query_range computes
 * them (rate, count_over_time, min/max/avg/sum_over_time,
 * quantile_over_time, histogram_over_time, by(), topk / bottomk).
 *
 * The spanset pipeline runs through tws_search_visit (the head, the frozen
 * head, the blocks on every core). Every span it yields is observed once
 * (a span in several spansets counts once) when its start time t lies in
 * (start, end]: interval i = ceil((t - start) / step) - 1 holds it, and
 * that interval's sample is stamped start + (i + 1) * step, the end of
 * (start + i * step, start + (i + 1) * step]. The caller aligns start and
 * end (the API does it Tempo's way); the engine takes them as given.
 *
 * Invariants:
 *  - Memory is bounded by max_series x intervals, not by the data: once
 *    max_series series exist (for quantile and histogram, one per by()
 *    value and power-of-two bucket), a span of a new series is dropped and
 *    the result is marked partial; at most max_series series are returned.
 *  - Nothing is allocated per span: a span costs its by() evaluations, a
 *    hash lookup and an update; memory grows only with new series.
 *  - A span counts once: in every spanset of its trace, and also while a
 *    flush is in progress, when the frozen head and the block written from
 *    it both hold it (the sources are visited one after the other and the
 *    frozen head's spans are remembered, by hash, for the blocks).
 *  - At most one exemplar per trace and max_exemplars in all; an exemplar
 *    is only kept where its series has a sample.
 *  - Series are sorted by their Prometheus label string, so the same data
 *    always gives the same answer; everything lives in the result's arena.
 */
#ifndef TWS_SEARCH_METRICS_H
#define TWS_SEARCH_METRICS_H

#include "search/search.h"

typedef struct tws_tqm_req {
    const tq_query *q;       /* a metrics query: q->metrics != NULL */
    const char *tenant;
    uint64_t start_ns;       /* exclusive */
    uint64_t end_ns;         /* inclusive; > start_ns */
    uint64_t step_ns;        /* > 0; intervals = ceil((end - start) / step) */
    uint32_t max_exemplars;  /* 0: none */
    uint32_t max_series;     /* 0: 1000 */
    uint32_t threads;        /* block scanners; 0: the number of cores */
} tws_tqm_req;

/* A series label: a by() value under the by() expression's text, or the
 * names Tempo uses: __name__ (the function, when there is no by()), p (a
 * quantile), __bucket (a histogram bucket's upper bound). A TQ_NIL value is
 * the one label forced onto a series whose by() values are all nil. */
typedef struct tws_tqm_label {
    const char *key;
    uint32_t key_len;
    tq_val val;
} tws_tqm_label;

typedef struct tws_tqm_exemplar {
    uint8_t trace_id[16];
    uint64_t ts_ms;    /* the span's start */
    double value;      /* the span's value (seconds for durations); rate and count: the sample's */
    uint32_t interval; /* the interval the span fell in */
} tws_tqm_exemplar;

typedef struct tws_tqm_series {
    tws_tqm_label *labels;
    uint32_t n_labels;
    uint32_t n_by;         /* labels[0, n_by) are by() values (what an exemplar also carries) */
    const char *prom;      /* Prometheus form: {"resource.service.name"="api", p="0.5"} */
    uint32_t prom_len;
    double *values;        /* per interval; NaN: no sample */
    tws_tqm_exemplar *exemplars;
    uint32_t n_exemplars;
} tws_tqm_series;

typedef struct tws_tqm_result {
    tws_tqm_series *series; /* sorted by prom */
    uint32_t n;
    uint64_t start_ns, step_ns;
    uint32_t n_intervals;
    bool partial;           /* the series cap was reached */
    uint32_t max_series;    /* the cap that applied */
    uint64_t spans;         /* spans observed */
    tws_search_stats stats;
    struct tq_arena *arena;
} tws_tqm_result;

/* Intervals above this are refused (TW_EINVAL): the API allows 10,000. */
#define TWS_TQM_MAX_INTERVALS 100000u

/* Run a metrics query. TW_OK with *out filled (free with
 * tws_tqm_result_free) — `err` may then still name a damaged block whose
 * spans are missing; TW_EINVAL (`err` says why: not a metrics query, a bad
 * range or step, too many by() labels); TW_ENOMEM. */
int tws_tqm_run(const tws_tqm_req *req, const tws_head *head, const tws_head *frozen, tws_store *store,
                tws_tqm_result *out, char err[256]);
void tws_tqm_result_free(tws_tqm_result *r);

/* The timestamp of interval i: the end of it, in nanoseconds. */
static inline uint64_t tws_tqm_interval_end(const tws_tqm_result *r, uint32_t i) {
    return r->start_ns + ((uint64_t)i + 1) * r->step_ns;
}

/* Tempo's Log2Quantile over buckets (upper bounds ascending, counts): the
 * quantile p, interpolated exponentially inside its bucket; 0 when empty.
 * Exposed for the tests. */
double tws_tqm_log2_quantile(double p, const double *bounds, const uint64_t *counts, uint32_t n);

#endif
