/*
 * trace_int.h — provider, sampler and current-context internals shared by
 * the files of sdk/src/trace.
 *
 * Invariants:
 *  - A provider's resource, sampler and limits never change after
 *    tw_provider_new returns; processors are added before spans start.
 *  - The thread's context stack always has a readable top: an empty
 *    context when nothing is attached.
 */
#ifndef TW_TRACE_INT_H
#define TW_TRACE_INT_H

#include <pthread.h>

#include "export/export_int.h"
#include "trace/span_int.h"

struct tw_provider {
    tw__arena arena; /* resource strings */
    tw__kvlist resource;
    tw_sampler *sampler;
    uint8_t fixed[5]; /* per parent case (tw__parent_case): the sampler's verdict when it needs
                         nothing else (TW__FIXED_*), so span start skips the call */
    tw_span_limits limits;
    tw_processor *processors;
    bool has_on_start; /* some processor wants on_start */
    _Atomic int shut_down;
    pthread_mutex_t lock; /* tracers list */
    struct tw_tracer *tracers;
};

/* What a sampler decides for a parent case without looking at the span:
 * TW__FIXED_ASK (it must be asked), _DROP or _SAMPLE (with no tracestate
 * change). The parent cases: 0 root, 1 remote sampled, 2 remote not
 * sampled, 3 local sampled, 4 local not sampled. */
enum { TW__FIXED_ASK, TW__FIXED_DROP, TW__FIXED_SAMPLE };
TW_HIDDEN void tw__sampler_fixed(const tw_sampler *s, uint8_t out[5]);
static inline int tw__parent_case(const tw_span_context *pc) {
    if (!pc || !tw_span_context_is_valid(pc)) return 0;
    bool sampled = pc->flags & TW_FLAG_SAMPLED;
    return pc->is_remote ? (sampled ? 1 : 2) : (sampled ? 3 : 4);
}

/* Whether calls may still record into s: recording and not yet ended. */
static inline bool tw__span_writable(const tw_span *s) { return s && s->recording && !s->ended; }
static inline const tw_span_limits *tw__span_limits(const tw_span *s) { return &s->tracer->provider->limits; }

/* The thread's current context (never NULL). */
TW_HIDDEN const tw_context *tw__current(void);

/* A non-recording span carrying `sc` (references taken), or NULL when the
 * pool is empty and memory is short. */
TW_HIDDEN tw_span *tw__span_nonrecording(const tw_span_context *sc);
/* The shared, never-freed non-recording span with an invalid context. */
TW_HIDDEN tw_span *tw__noop_span(void);

/* Span context copy helpers: take / drop the tracestate reference. */
static inline void tw__sc_copy(tw_span_context *dst, const tw_span_context *src) {
    *dst = *src;
    dst->state = tw_tracestate_ref(src->state);
}

#endif
