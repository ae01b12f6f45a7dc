/*
 * prefilter.h — predicate push-down: what a TraceQL query needs of a trace
 * before it can match, checked on a row group's columns so that traces (and
 * whole row groups) that cannot match are never decoded.
 *
 * From the query's spanset pipeline comes a necessary condition: a tree of
 * AND and OR over "some span of the trace has a value that passes this
 * comparison" (any(...)), whose leaves are the comparisons of an attribute
 * or intrinsic with a literal found in the filters. Everything else
 * (arithmetic, negation, aggregates, trace-level intrinsics) counts as
 * "may hold". A leaf is evaluated by tws_rg_mark on the columns of its
 * field only: a string comparison once per distinct value.
 *
 * Invariants:
 *  - Sound: a trace the prefilter rules out yields no spanset under
 *    tq_eval_trace. Kept traces are still evaluated in full, so the
 *    prefilter changes what is read, never what is answered.
 *  - Built once per query, read-only afterwards: any number of scanner
 *    threads may run it at once.
 */
#ifndef TWS_SEARCH_PREFILTER_H
#define TWS_SEARCH_PREFILTER_H

#include "block/block.h"
#include "traceql/traceql.h"

typedef struct tws_prefilter tws_prefilter;

/* *out is NULL when the query gives nothing to check (every trace may
 * match). TW_OK, TW_ENOMEM. */
int tws_prefilter_new(const tq_query *q, tws_prefilter **out);
void tws_prefilter_free(tws_prefilter *p);

/* keep[t] = 1 (tws_rg_n_traces bytes) for every trace of `g` that may
 * match, 0 for the others; *n_kept counts them. TW_OK, TW_EPARSE (damaged
 * row group: *err), TW_ENOMEM. */
int tws_prefilter_run(const tws_prefilter *p, tws_rg *g, uint8_t *keep, uint32_t *n_kept, char err[256]);

/* The condition as text: any(span.a = "x") && (any(name = "b") || ...).
 * "true" for NULL. */
struct tw__buf;
void tws_prefilter_text(const tws_prefilter *p, struct tw__buf *out);

#endif
