/*
 * tracewire.h — libtracewire, distributed tracing for C.
 *
 * Include this one header. The API is split by job:
 *   tw_common.h       errors, ids, attributes, time
 *   tw_trace.h        spans, contexts, tracers, providers, samplers
 *   tw_propagation.h  traceparent/tracestate, baggage, B3, carriers
 *   tw_export.h       processors and OTLP exporters
 *   tw_log.h          JSON log lines that carry trace_id and span_id
 *
 * A minimal program:
 *   tw_provider *p;
 *   tw_provider_from_env(&p);            // OTEL_* variables
 *   tw_provider_set_global(p);
 *   tw_tracer *t = tw_tracer_get(NULL, "checkout", "1.0.0");
 *   tw_span *s = tw_span_start(t, "GET /checkout", &(tw_span_options){.kind = TW_SPAN_KIND_SERVER});
 *   tw_span_set_str(s, "http.route", "/checkout");
 *   tw_span_end(s);
 *   tw_provider_set_global(NULL);
 *   tw_provider_destroy(p);              // flushes
 */
#ifndef TRACEWIRE_H
#define TRACEWIRE_H

#include "tw_common.h"
#include "tw_trace.h"
#include "tw_propagation.h"
#include "tw_export.h"
#include "tw_log.h"

#define TW_VERSION_MAJOR 0
#define TW_VERSION_MINOR 1
#define TW_VERSION_PATCH 0
#define TW_VERSION_STRING "0.1.0"

#endif /* TRACEWIRE_H */
