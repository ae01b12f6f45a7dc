/*
 * propagator.c — the propagators: W3C tracecontext, W3C baggage, B3 single
 * and multi header, a composite of them, the one OTEL_PROPAGATORS names, and
 * the process-wide one.
 *
 * Every propagator is the same small interface (extract, inject). The four
 * leaf propagators keep no state, so each constructor returns one static
 * object and destroying it does nothing; only a composite is allocated.
 *
 * Extraction never fails on bad input: a header that does not parse is
 * ignored, as the W3C and OpenTelemetry specifications require, and only a
 * memory failure is reported. Decisions where the specs leave room:
 *  - Two traceparent header lines are treated as no traceparent (the W3C
 *    test suite expects such a request to start a new trace).
 *  - A valid traceparent with an invalid tracestate keeps the traceparent
 *    and drops the tracestate; more than TRACESTATE_LINES tracestate lines
 *    count as invalid.
 *  - Only the first BAGGAGE_LINES baggage header lines are read.
 *  - B3: extraction reads the single `b3` header when present (it takes
 *    precedence, and then the X-B3-* headers are not consulted), the X-B3-*
 *    headers otherwise; both b3 and b3multi extract both encodings and
 *    differ only in what they inject. A sampling-only B3 value (`b3: 0`)
 *    carries no ids, so it leaves the context as it was. Debug implies
 *    sampled. Multi-header names are written lowercase (`x-b3-traceid`), as
 *    the OpenTelemetry JS and Go propagators do and as the B3 text advises
 *    for case-sensitive transports; readers match names case-insensitively.
 *  - tracestate is injected truncated to TRACESTATE_MAX_LEN (512) characters
 *    by the spec's rule (whole entries, long ones first).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "core/env.h"
#include "propagation/propagation_int.h"

#define TRACESTATE_LINES 64
#define TRACESTATE_MAX_LEN 512
#define BAGGAGE_LINES 64

#define H_TRACEPARENT "traceparent"
#define H_TRACESTATE "tracestate"
#define H_BAGGAGE "baggage"
#define H_B3 "b3"
#define H_B3_TRACE_ID "x-b3-traceid"
#define H_B3_SPAN_ID "x-b3-spanid"
#define H_B3_PARENT_ID "x-b3-parentspanid"
#define H_B3_SAMPLED "x-b3-sampled"
#define H_B3_FLAGS "x-b3-flags"

typedef struct prop_ops {
    const char *name;
    int (*extract)(const tw_propagator *p, const tw_carrier *c, tw_context *ctx);
    int (*inject)(const tw_propagator *p, const tw_context *ctx, const tw_carrier *c);
} prop_ops;

struct tw_propagator {
    const prop_ops *ops;
    size_t n; /* composite: members */
    tw_propagator **members;
};

/* ---- carrier access ---------------------------------------------------------- */

/* Up to `max` values of `key`, with NULL values made empty and TW_NTS
 * lengths measured. A carrier that reports more than it stored is clamped. */
static size_t carrier_get(const tw_carrier *c, const char *key, tw_str *out, size_t max) {
    if (!c->get) return 0;
    size_t n = c->get(c->self, key, out, max);
    if (n > max) n = max;
    for (size_t i = 0; i < n; i++) {
        if (!out[i].ptr) out[i] = (tw_str){"", 0};
        else out[i].len = tw__str_len(out[i]);
    }
    return n;
}

static int carrier_set(const tw_carrier *c, const char *key, const char *value, size_t len) {
    return c->set ? c->set(c->self, key, value, len) : TW_OK;
}

/* Replace the span context of ctx, releasing the tracestate it held; `state`
 * (one reference, may be NULL) is handed over to ctx. */
static void set_remote(tw_context *ctx, const tw_trace_id *tid, const tw_span_id *sid, uint8_t flags,
                       tw_tracestate *state) {
    tw_tracestate *old = ctx->span.state;
    ctx->span.trace_id = *tid;
    ctx->span.span_id = *sid;
    ctx->span.flags = flags;
    ctx->span.is_remote = true;
    ctx->span.state = state;
    tw_tracestate_unref(old);
}

static bool sc_valid(const tw_span_context *sc) {
    return !tw__all_zero(sc->trace_id.bytes, TW_TRACE_ID_SIZE) && !tw__all_zero(sc->span_id.bytes, TW_SPAN_ID_SIZE);
}

/* ---- W3C trace context ------------------------------------------------------- */

static int tc_extract(const tw_propagator *p, const tw_carrier *c, tw_context *ctx) {
    (void)p;
    tw_str tp[2];
    if (carrier_get(c, H_TRACEPARENT, tp, 2) != 1) return TW_OK; /* none, or duplicated */
    tw_span_context sc;
    if (tw_traceparent_parse(tp[0].ptr, tp[0].len, &sc, NULL) != TW_OK) return TW_OK;

    tw_str lines[TRACESTATE_LINES + 1];
    size_t n = carrier_get(c, H_TRACESTATE, lines, TRACESTATE_LINES + 1);
    tw_tracestate *state = NULL;
    int rc = TW_OK;
    if (n > 0 && n <= TRACESTATE_LINES) {
        rc = tw__tracestate_parse_parts(lines, n, &state, NULL);
        if (rc == TW_EPARSE) rc = TW_OK; /* dropped; the traceparent stands */
    }
    set_remote(ctx, &sc.trace_id, &sc.span_id, sc.flags, state);
    return rc;
}

static int tc_inject(const tw_propagator *p, const tw_context *ctx, const tw_carrier *c) {
    (void)p;
    if (!sc_valid(&ctx->span)) return TW_OK;
    char tp[TW_TRACEPARENT_LEN + 1];
    tw_traceparent_format(&ctx->span, tp);
    int rc = carrier_set(c, H_TRACEPARENT, tp, TW_TRACEPARENT_LEN);
    if (rc == TW_OK && tw_tracestate_count(ctx->span.state)) {
        char ts[TRACESTATE_MAX_LEN + 1];
        int len = tw_tracestate_format(ctx->span.state, TRACESTATE_MAX_LEN, ts, sizeof ts);
        if (len > 0) rc = carrier_set(c, H_TRACESTATE, ts, (size_t)len);
    }
    return rc;
}

/* ---- W3C baggage ----------------------------------------------------------------- */

static int bg_extract(const tw_propagator *p, const tw_carrier *c, tw_context *ctx) {
    (void)p;
    tw_str lines[BAGGAGE_LINES];
    size_t n = carrier_get(c, H_BAGGAGE, lines, BAGGAGE_LINES);
    if (n == 0) return TW_OK;
    tw_baggage *bg = NULL;
    int rc = tw__baggage_parse_parts(lines, n, &bg, NULL);
    if (rc != TW_OK || !bg) return rc; /* nothing valid: ctx stays as it was */
    tw_baggage *old = ctx->baggage;
    ctx->baggage = bg;
    tw_baggage_unref(old);
    return TW_OK;
}

static int bg_inject(const tw_propagator *p, const tw_context *ctx, const tw_carrier *c) {
    (void)p;
    if (!tw_baggage_count(ctx->baggage)) return TW_OK;
    char buf[TW_BAGGAGE_MAX_BYTES + 1];
    int len = tw_baggage_format(ctx->baggage, buf, sizeof buf);
    if (len <= 0) return len < 0 ? len : TW_OK;
    return carrier_set(c, H_BAGGAGE, buf, (size_t)len);
}

/* ---- B3 ---------------------------------------------------------------------------- */

static tw_str first_value(const tw_carrier *c, const char *key) {
    tw_str v = {NULL, 0};
    if (carrier_get(c, key, &v, 1) != 1) v.ptr = NULL;
    return v;
}

static int b3_extract(const tw_propagator *p, const tw_carrier *c, tw_context *ctx) {
    (void)p;
    tw__b3 b;
    tw_str single = first_value(c, H_B3);
    if (single.ptr) {
        if (tw__b3_single_parse(single.ptr, single.len, &b, NULL) != TW_OK) return TW_OK;
    } else {
        tw__b3_multi_in in = {
            .trace_id = first_value(c, H_B3_TRACE_ID),
            .span_id = first_value(c, H_B3_SPAN_ID),
            .parent_id = first_value(c, H_B3_PARENT_ID),
            .sampled = first_value(c, H_B3_SAMPLED),
            .flags = first_value(c, H_B3_FLAGS),
        };
        if (tw__b3_multi_parse(&in, &b, NULL) != TW_OK) return TW_OK;
    }
    if (!b.has_ids) return TW_OK;
    uint8_t flags = b.sampling == TW__B3_ACCEPT || b.sampling == TW__B3_DEBUG ? TW_FLAG_SAMPLED : 0;
    set_remote(ctx, &b.trace_id, &b.span_id, flags, NULL);
    return TW_OK;
}

static int b3_inject_single(const tw_propagator *p, const tw_context *ctx, const tw_carrier *c) {
    (void)p;
    if (!sc_valid(&ctx->span)) return TW_OK;
    char v[TW__B3_SINGLE_LEN + 1];
    tw__b3_single_format(&ctx->span, v);
    return carrier_set(c, H_B3, v, TW__B3_SINGLE_LEN);
}

static int b3_inject_multi(const tw_propagator *p, const tw_context *ctx, const tw_carrier *c) {
    (void)p;
    if (!sc_valid(&ctx->span)) return TW_OK;
    char tid[TW_TRACE_ID_HEX_LEN + 1], sid[TW_SPAN_ID_HEX_LEN + 1];
    tw_trace_id_to_hex(&ctx->span.trace_id, tid);
    tw_span_id_to_hex(&ctx->span.span_id, sid);
    int rc = carrier_set(c, H_B3_TRACE_ID, tid, TW_TRACE_ID_HEX_LEN);
    if (rc == TW_OK) rc = carrier_set(c, H_B3_SPAN_ID, sid, TW_SPAN_ID_HEX_LEN);
    if (rc == TW_OK) rc = carrier_set(c, H_B3_SAMPLED, (ctx->span.flags & TW_FLAG_SAMPLED) ? "1" : "0", 1);
    return rc;
}

/* ---- composite ------------------------------------------------------------------------ */

static int comp_extract(const tw_propagator *p, const tw_carrier *c, tw_context *ctx) {
    int rc = TW_OK;
    for (size_t i = 0; i < p->n; i++) {
        int r = p->members[i] ? p->members[i]->ops->extract(p->members[i], c, ctx) : TW_OK;
        if (rc == TW_OK) rc = r;
    }
    return rc;
}

static int comp_inject(const tw_propagator *p, const tw_context *ctx, const tw_carrier *c) {
    int rc = TW_OK;
    for (size_t i = 0; i < p->n; i++) {
        int r = p->members[i] ? p->members[i]->ops->inject(p->members[i], ctx, c) : TW_OK;
        if (rc == TW_OK) rc = r;
    }
    return rc;
}

static const prop_ops tc_ops = {"tracecontext", tc_extract, tc_inject};
static const prop_ops bg_ops = {"baggage", bg_extract, bg_inject};
static const prop_ops b3_ops = {"b3", b3_extract, b3_inject_single};
static const prop_ops b3multi_ops = {"b3multi", b3_extract, b3_inject_multi};
static const prop_ops comp_ops = {"composite", comp_extract, comp_inject};

static tw_propagator tc_prop = {&tc_ops, 0, NULL};
static tw_propagator bg_prop = {&bg_ops, 0, NULL};
static tw_propagator b3_prop = {&b3_ops, 0, NULL};
static tw_propagator b3multi_prop = {&b3multi_ops, 0, NULL};

tw_propagator *tw_propagator_tracecontext(void) { return &tc_prop; }
tw_propagator *tw_propagator_baggage(void) { return &bg_prop; }
tw_propagator *tw_propagator_b3(void) { return &b3_prop; }
tw_propagator *tw_propagator_b3multi(void) { return &b3multi_prop; }

tw_propagator *tw_propagator_composite(tw_propagator **members, size_t n) {
    tw_propagator *p = tw__malloc(sizeof *p);
    tw_propagator **m = n ? tw__malloc(n * sizeof *m) : NULL;
    if (!p || (n && !m)) {
        /* Ownership was handed over: do not leak the members. */
        for (size_t i = 0; i < n; i++) tw_propagator_destroy(members[i]);
        tw__free(p);
        tw__free(m);
        return NULL;
    }
    if (n) memcpy(m, members, n * sizeof *m);
    *p = (tw_propagator){&comp_ops, n, m};
    return p;
}

void tw_propagator_destroy(tw_propagator *p) {
    if (!p || p->ops != &comp_ops) return; /* NULL, or a static leaf */
    for (size_t i = 0; i < p->n; i++) tw_propagator_destroy(p->members[i]);
    tw__free(p->members);
    tw__free(p);
}

int tw_propagator_extract(const tw_propagator *p, const tw_carrier *c, tw_context *ctx) {
    if (!p) return TW_OK;
    if (!c || !ctx) return TW_EINVAL;
    return p->ops->extract(p, c, ctx);
}

int tw_propagator_inject(const tw_propagator *p, const tw_context *ctx, const tw_carrier *c) {
    if (!p) return TW_OK;
    if (!c || !ctx) return TW_EINVAL;
    return p->ops->inject(p, ctx, c);
}

/* ---- OTEL_PROPAGATORS ------------------------------------------------------------------ */

static const char E_UNKNOWN[] = "OTEL_PROPAGATORS: an unknown propagator name was skipped";
static const char E_NONE_WITH_OTHERS[] = "OTEL_PROPAGATORS: \"none\" given with other names; none used";

/*
 * A comma-separated list, names trimmed and compared case-insensitively,
 * each used once in the order given. "none" gives a composite with no member
 * (and wins over any other name). Unset or empty: "tracecontext,baggage".
 */
tw_propagator *tw_propagator_from_env(const char **err_msg) {
    static const struct {
        const char *name;
        tw_propagator *(*make)(void);
    } known[] = {
        {"tracecontext", tw_propagator_tracecontext},
        {"baggage", tw_propagator_baggage},
        {"b3", tw_propagator_b3},
        {"b3multi", tw_propagator_b3multi},
    };
    tw_propagator *list[TW_ARRAY_LEN(known)];
    size_t n = 0;
    bool none = false, others = false;

    if (err_msg) *err_msg = NULL;
    const char *v = tw__env("OTEL_PROPAGATORS");
    if (!v) v = "tracecontext,baggage";
    for (const char *s = v;;) {
        const char *comma = strchr(s, ',');
        const char *item = s;
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        tw__trim(&item, &len);
        if (len) {
            size_t k = 0;
            while (k < TW_ARRAY_LEN(known) && !tw__strieq_n(item, len, known[k].name)) k++;
            if (tw__strieq_n(item, len, "none")) {
                none = true;
            } else if (k == TW_ARRAY_LEN(known)) {
                tw__warn("OTEL_PROPAGATORS: unknown propagator \"%.*s\" skipped", (int)TW_MIN(len, 64), item);
                if (err_msg) *err_msg = E_UNKNOWN;
            } else {
                tw_propagator *p = known[k].make();
                bool dup = false;
                for (size_t i = 0; i < n; i++) dup |= list[i] == p;
                if (!dup) list[n++] = p;
                others = true;
            }
        }
        if (!comma) break;
        s = comma + 1;
    }
    if (none) {
        if (others) {
            tw__warn("%s", E_NONE_WITH_OTHERS);
            if (err_msg && !*err_msg) *err_msg = E_NONE_WITH_OTHERS;
        }
        n = 0;
    }
    if (n == 1) return list[0];
    return tw_propagator_composite(list, n);
}

/* ---- the process-wide propagator --------------------------------------------------------- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static _Atomic(tw_propagator *) global_prop;
static atomic_bool global_set_explicitly;

static void global_init(void) {
    if (!atomic_load(&global_set_explicitly)) atomic_store(&global_prop, tw_propagator_from_env(NULL));
}

tw_propagator *tw_propagator_global(void) {
    pthread_once(&global_once, global_init);
    return atomic_load_explicit(&global_prop, memory_order_acquire);
}

/*
 * Takes ownership of `p` and destroys the previous global propagator, so it
 * must not run while another thread is still using that one: set it at
 * start-up (or at shutdown, with NULL, to free it).
 */
void tw_propagator_set_global(tw_propagator *p) {
    atomic_store(&global_set_explicitly, true); /* the environment is not read needlessly */
    pthread_once(&global_once, global_init);
    tw_propagator *old = atomic_exchange_explicit(&global_prop, p, memory_order_acq_rel);
    if (old != p) tw_propagator_destroy(old);
}
