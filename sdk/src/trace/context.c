/*
 * context.c — context values and the thread's stack of current contexts.
 *
 * Each stack entry owns a context copy (its references) and one reference
 * to a span: the attached span itself, or a non-recording span made to wrap
 * an attached context, so tw_current_span() can always return a span.
 * Entries live in a per-thread array that grows on the heap past 16 levels.
 */
#include "trace/trace_int.h"

typedef struct entry {
    tw_context ctx;
    tw_span *span;
} entry;

#define INLINE_DEPTH 16

typedef struct stack {
    entry *items;
    uint32_t n, cap;
    entry inline_items[INLINE_DEPTH];
} stack;

static TW_TLS stack stk;
static const tw_context empty_ctx = TW_CONTEXT_INIT;

const tw_context *tw__current(void) { return stk.n ? &stk.items[stk.n - 1].ctx : &empty_ctx; }

bool tw_span_context_is_valid(const tw_span_context *sc) {
    return sc && tw_trace_id_is_valid(&sc->trace_id) && tw_span_id_is_valid(&sc->span_id);
}

void tw_context_copy(tw_context *dst, const tw_context *src) {
    tw__sc_copy(&dst->span, &src->span);
    dst->baggage = tw_baggage_ref(src->baggage);
}

void tw_context_release(tw_context *ctx) {
    if (!ctx) return;
    tw_tracestate_unref(ctx->span.state);
    tw_baggage_unref(ctx->baggage);
    *ctx = (tw_context)TW_CONTEXT_INIT;
}

void tw_context_set_baggage(tw_context *ctx, tw_baggage *bg) {
    tw_baggage *old = ctx->baggage;
    ctx->baggage = tw_baggage_ref(bg);
    tw_baggage_unref(old);
}

void tw_context_set_span(tw_context *ctx, const tw_span *span) {
    tw_tracestate *old = ctx->span.state;
    tw__sc_copy(&ctx->span, tw_span_get_context(span));
    tw_tracestate_unref(old);
}

static entry *push(void) {
    if (stk.n == 0 && stk.items == NULL) {
        stk.items = stk.inline_items;
        stk.cap = INLINE_DEPTH;
    }
    if (stk.n == stk.cap) {
        uint32_t cap = stk.cap * 2;
        entry *items = tw__malloc(cap * sizeof *items);
        if (!items) return NULL;
        memcpy(items, stk.items, stk.n * sizeof *items);
        if (stk.items != stk.inline_items) tw__free(stk.items);
        stk.items = items;
        stk.cap = cap;
    }
    return &stk.items[stk.n++];
}

int tw_span_attach(tw_span *span) {
    if (!span) return TW_EINVAL;
    /* The new context is the current one with its span replaced. */
    const tw_baggage *bg = tw__current()->baggage;
    entry *e = push();
    if (!e) return TW_ENOMEM;
    tw__sc_copy(&e->ctx.span, &span->ctx);
    e->ctx.baggage = tw_baggage_ref((tw_baggage *)bg);
    tw__span_ref(span);
    e->span = span;
    return (int)stk.n;
}

int tw_context_attach(const tw_context *ctx) {
    if (!ctx) return TW_EINVAL;
    tw_span *wrap = tw__span_nonrecording(&ctx->span);
    if (!wrap) wrap = tw__noop_span();
    entry *e = push();
    if (!e) {
        tw__span_unref(wrap);
        return TW_ENOMEM;
    }
    tw_context_copy(&e->ctx, ctx);
    e->span = wrap;
    return (int)stk.n;
}

static void pop(void) {
    entry *e = &stk.items[--stk.n];
    tw_context_release(&e->ctx);
    tw__span_unref(e->span);
    if (stk.n == 0 && stk.items != stk.inline_items) {
        tw__free(stk.items);
        stk.items = NULL;
        stk.cap = 0;
    }
}

int tw_detach(int token) {
    if (token <= 0 || (uint32_t)token > stk.n) return TW_EINVAL;
    int rc = (uint32_t)token == stk.n ? TW_OK : TW_EINVAL;
    while (stk.n >= (uint32_t)token) pop();
    return rc;
}

tw_span *tw_current_span(void) { return stk.n ? stk.items[stk.n - 1].span : tw__noop_span(); }

void tw_current_context(tw_context *out) { tw_context_copy(out, tw__current()); }

tw_baggage *tw_current_baggage(void) { return tw__current()->baggage; }
