/*
 * otlp_int.h — what the OTLP protobuf and JSON encoders share: the
 * ResourceSpans / ScopeSpans structure of a batch, and span flags.
 *
 * Spans are grouped by resource (their tracer's provider) and scope (their
 * tracer), each in order of first appearance in the batch, and keep their
 * batch order inside a scope. One pass over the spans with a small pointer
 * hash for tracers; one allocation for the whole batch.
 */
#ifndef TW_OTLP_INT_H
#define TW_OTLP_INT_H

#include "trace/span_int.h"
#include "tracewire/tw_export.h"
#include "tracewire/tw_propagation.h"

/* SpanFlags of trace.proto: bits 0-7 are the W3C trace flags; bit 8 says
 * whether bit 9 is known; bit 9: the parent (or linked) context is remote. */
#define TW__OTLP_FLAGS_HAS_IS_REMOTE 0x100u
#define TW__OTLP_FLAGS_IS_REMOTE 0x200u

/* Span.flags: the span's trace flags, and whether its parent is remote. A
 * root span's parent is known not to be remote, so bit 8 is always set. */
static inline uint32_t tw__otlp_span_flags(const tw_span *s) {
    return s->ctx.flags | TW__OTLP_FLAGS_HAS_IS_REMOTE |
           (s->has_parent && s->parent_is_remote ? TW__OTLP_FLAGS_IS_REMOTE : 0);
}

static inline uint32_t tw__otlp_link_flags(const tw__link *l) {
    return l->flags | TW__OTLP_FLAGS_HAS_IS_REMOTE | (l->is_remote ? TW__OTLP_FLAGS_IS_REMOTE : 0);
}

/* Serialise a tracestate (no length limit) into `small` or, when longer, a
 * heap buffer returned in *heap (free it); *out points to the text. Returns
 * its length (0: empty) or TW_ENOMEM. */
TW_HIDDEN int tw__otlp_tracestate(const tw_tracestate *ts, char *small, size_t small_len,
                                  char **heap, const char **out);

/* What an OTLP/HTTP exporter sends. */
typedef enum tw__otlp_signal { TW__OTLP_TRACES, TW__OTLP_LOGS } tw__otlp_signal;

/* The OTLP/HTTP URL of a signal (shown for traces; logs read LOGS and
 * /v1/logs): `endpoint` as is when not NULL, else
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, else OTEL_EXPORTER_OTLP_ENDPOINT
 * with "/v1/traces" appended (after removing trailing slashes), else
 * http://localhost:4318/v1/traces. Heap copy (tw__free), NULL on ENOMEM. */
TW_HIDDEN char *tw__otlp_endpoint(tw__otlp_signal sig, const char *endpoint);
/* tw_otlp_options_from_env for a signal (OTEL_EXPORTER_OTLP_LOGS_* first
 * for logs). */
TW_HIDDEN void tw__otlp_options_from_env(tw__otlp_signal sig, tw_otlp_options *o);
/* tw_exporter_otlp_http_new for a signal; a logs exporter implements
 * export_logs, a traces exporter export_spans. */
TW_HIDDEN int tw__otlp_http_new(tw__otlp_signal sig, const tw_otlp_options *opts, tw_exporter **out);
/* OTEL_EXPORTER_OTLP_HEADERS syntax ("k1=v1,k2=v2", values percent-decoded,
 * spaces around keys and values trimmed) appended to a curl header list as
 * "k1: v1" lines. Malformed members, keys that are not HTTP tokens, values
 * with CR/LF and the headers the exporter sets itself are skipped with a
 * warning. 0 or TW_ENOMEM. */
struct curl_slist;
TW_HIDDEN int tw__otlp_parse_headers(const char *s, struct curl_slist **list);

#define TW__OTLP_END UINT32_MAX

typedef struct tw__otlp_scope {
    const struct tw_tracer *tracer;
    uint32_t first; /* index of its first span; then next[] until TW__OTLP_END */
    uint32_t last;
} tw__otlp_scope;

typedef struct tw__otlp_groups {
    uint32_t *next;         /* per span: the next span index of the same scope */
    tw__otlp_scope *scopes; /* n_scopes, those of one resource contiguous */
    uint32_t n_scopes;
    uint32_t *res_start;    /* n_res + 1 indexes into scopes[] */
    uint32_t n_res;
    void *mem;
} tw__otlp_groups;

/* 0 or TW_ENOMEM (or TW_EINVAL beyond UINT32_MAX - 1 spans). */
TW_HIDDEN int tw__otlp_group(tw__otlp_groups *g, tw_span *const *spans, size_t n);
TW_HIDDEN void tw__otlp_groups_free(tw__otlp_groups *g);

#endif
