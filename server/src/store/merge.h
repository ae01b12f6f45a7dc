/*
 * merge.h — one trace assembled from pieces: the spans of a trace may sit
 * in the head, in a head being flushed and in several blocks. The merge
 * keeps each exact duplicate once (tws_span_equal: every field equal, a
 * client's retry or a span both flushed and replayed) and returns
 * selections ready for the encoders.
 *
 * Cost: n log n in the number of spans; the deep comparison runs only
 * among spans sharing a span id.
 */
#ifndef TWS_STORE_MERGE_H
#define TWS_STORE_MERGE_H

#include "otlp/model.h"

typedef struct tws_trace_result {
    tws_selection *sel;
    size_t n_sel;
    uint32_t *idx_storage;
    size_t n_spans;
    uint64_t start_ns, end_ns; /* earliest start, latest end */
} tws_trace_result;

/* The spans of `in` (each selection's idx must not be NULL), duplicates
 * removed (the first copy in input order is kept), in input order.
 * Selections of `out` point at the input batches. TW_ENOTFOUND when no
 * span is left, TW_ENOMEM. */
int tws_trace_merge(const tws_selection *in, size_t n_in, tws_trace_result *out);
void tws_trace_result_free(tws_trace_result *r);

#endif
