/*
 * sampler.c — the OpenTelemetry samplers.
 *
 * TraceIdRatioBased decides as the Go SDK does (and Java, up to rounding of
 * the bound): the rightmost 8 bytes of the trace id, big-endian, shifted
 * right by one, below ratio * 2^63. The probability sampler implements the
 * tracestate probability-sampling spec: randomness R is `ot=rv` or the
 * rightmost 56 bits of the trace id, rejection threshold T = (1 - p) * 2^56,
 * keep when R >= T, and the kept span's tracestate carries `ot=th:<T>` so
 * anyone downstream can weight it by its adjusted count 2^56 / (2^56 - T).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/env.h"
#include "trace/trace_int.h"

enum kind { K_ON, K_OFF, K_RATIO, K_PROB, K_PARENT, K_CUSTOM };
enum { ROOT, REMOTE_SAMPLED, REMOTE_NOT, LOCAL_SAMPLED, LOCAL_NOT };

#define MAX_RANDOMNESS (1ull << 56)

struct tw_sampler {
    enum kind kind;
    uint64_t bound;     /* K_RATIO: ratio * 2^63; K_PROB: threshold T */
    char th[15];        /* K_PROB: T in hex without trailing zeros */
    tw_sampler *d[5];   /* K_PARENT delegates */
    tw_sample_fn fn;
    void *user;
    char *desc;
};

static tw_sampler *make(enum kind k) {
    tw_sampler *s = tw__calloc(1, sizeof *s);
    if (s) s->kind = k;
    return s;
}

static int set_desc(tw_sampler *s, const char *fmt, const char *a, double x) {
    char tmp[64];
    int n = a ? snprintf(NULL, 0, fmt, a) : snprintf(tmp, sizeof tmp, fmt, x);
    if (n < 0) return TW_EINVAL;
    s->desc = tw__malloc((size_t)n + 1);
    if (!s->desc) return TW_ENOMEM;
    if (a) snprintf(s->desc, (size_t)n + 1, fmt, a);
    else snprintf(s->desc, (size_t)n + 1, fmt, x);
    return TW_OK;
}

tw_sampler *tw_sampler_always_on(void) { return make(K_ON); }
tw_sampler *tw_sampler_always_off(void) { return make(K_OFF); }

tw_sampler *tw_sampler_traceidratio(double ratio) {
    if (!(ratio > 0)) ratio = 0; /* NaN and negatives sample nothing */
    tw_sampler *s = make(K_RATIO);
    if (!s) return NULL;
    s->bound = ratio >= 1 ? UINT64_MAX : (uint64_t)(ratio * 9223372036854775808.0 /* 2^63 */);
    if (set_desc(s, "TraceIdRatioBased{%g}", NULL, ratio > 1 ? 1 : ratio)) {
        tw_sampler_destroy(s);
        return NULL;
    }
    return s;
}

tw_sampler *tw_sampler_probability(double p) {
    if (!(p > 0)) p = 0;
    if (p > 1) p = 1;
    tw_sampler *s = make(K_PROB);
    if (!s) return NULL;
    /* T = 2^56 - round(p * 2^56); p == 0 can never be met (T = 2^56). */
    uint64_t keep = (uint64_t)llround(p * (double)MAX_RANDOMNESS);
    s->bound = MAX_RANDOMNESS - keep;
    if (s->bound == 0) {
        strcpy(s->th, "0");
    } else if (s->bound < MAX_RANDOMNESS) {
        snprintf(s->th, sizeof s->th, "%014llx", (unsigned long long)s->bound);
        for (int i = 13; i > 0 && s->th[i] == '0'; i--) s->th[i] = '\0';
    }
    if (set_desc(s, "ProbabilitySampler{%g}", NULL, p)) {
        tw_sampler_destroy(s);
        return NULL;
    }
    return s;
}

tw_sampler *tw_sampler_parent_based(tw_sampler *root, tw_sampler *rs, tw_sampler *rn, tw_sampler *ls,
                                    tw_sampler *ln) {
    tw_sampler *in[5] = {root, rs, rn, ls, ln};
    static const enum kind defaults[5] = {K_ON, K_ON, K_OFF, K_ON, K_OFF};
    tw_sampler *s = make(K_PARENT);
    if (!s) {
        for (int i = 0; i < 5; i++) tw_sampler_destroy(in[i]);
        return NULL;
    }
    bool ok = true;
    for (int i = 0; i < 5; i++) {
        s->d[i] = in[i] ? in[i] : make(defaults[i]);
        ok = ok && s->d[i];
    }
    if (!ok) { /* destroying s destroys every delegate it holds */
        tw_sampler_destroy(s);
        return NULL;
    }
    const char *names[5];
    for (int i = 0; i < 5; i++) names[i] = tw_sampler_description(s->d[i]);
    int n = snprintf(NULL, 0,
                     "ParentBased{root=%s,remoteParentSampled=%s,remoteParentNotSampled=%s,"
                     "localParentSampled=%s,localParentNotSampled=%s}",
                     names[0], names[1], names[2], names[3], names[4]);
    s->desc = tw__malloc((size_t)n + 1);
    if (!s->desc) {
        tw_sampler_destroy(s);
        return NULL;
    }
    snprintf(s->desc, (size_t)n + 1,
             "ParentBased{root=%s,remoteParentSampled=%s,remoteParentNotSampled=%s,"
             "localParentSampled=%s,localParentNotSampled=%s}",
             names[0], names[1], names[2], names[3], names[4]);
    return s;
}

tw_sampler *tw_sampler_custom(tw_sample_fn fn, void *user, const char *description) {
    if (!fn) return NULL;
    tw_sampler *s = make(K_CUSTOM);
    if (!s) return NULL;
    s->fn = fn;
    s->user = user;
    if (set_desc(s, "%s", description ? description : "Custom", 0)) {
        tw_sampler_destroy(s);
        return NULL;
    }
    return s;
}

void tw_sampler_destroy(tw_sampler *s) {
    if (!s) return;
    for (int i = 0; i < 5; i++) tw_sampler_destroy(s->d[i]);
    tw__free(s->desc);
    tw__free(s);
}

const char *tw_sampler_description(const tw_sampler *s) {
    if (!s) return "";
    switch (s->kind) {
    case K_ON: return "AlwaysOnSampler";
    case K_OFF: return "AlwaysOffSampler";
    default: return s->desc ? s->desc : "";
    }
}

/* ---- the `ot` tracestate entry -------------------------------------------- */

/* Find sub-key `k` ("th" or "rv") in an ot value "k1:v1;k2:v2". */
static bool ot_find(tw_str ot, const char *k, tw_str *val) {
    const char *p = ot.ptr, *end = ot.ptr + ot.len;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *item_end = semi ? semi : end;
        if (item_end - p > 3 && p[0] == k[0] && p[1] == k[1] && p[2] == ':') {
            val->ptr = p + 3;
            val->len = (size_t)(item_end - p - 3);
            return true;
        }
        p = item_end + 1;
    }
    return false;
}

/* A 56-bit value from 14 hex digits (rv), or 1..14 digits padded right (th). */
static bool parse_hex56(tw_str v, bool pad, uint64_t *out) {
    if (v.len == 0 || v.len > 14 || (!pad && v.len != 14)) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < v.len; i++) {
        int d = tw__hexval((unsigned char)v.ptr[i]);
        if (d < 0 || (v.ptr[i] >= 'A' && v.ptr[i] <= 'F')) return false;
        x = x << 4 | (uint64_t)d;
    }
    if (pad) x <<= 4 * (14 - v.len);
    *out = x;
    return true;
}

static uint64_t randomness(const tw_trace_id *tid, const tw_tracestate *ts) {
    tw_str ot, rv;
    uint64_t r;
    if (ts && tw_tracestate_get(ts, "ot", &ot) == TW_OK && ot_find(ot, "rv", &rv) && parse_hex56(rv, false, &r))
        return r;
    return tw__load_be64(tid->bytes + 8) & (MAX_RANDOMNESS - 1);
}

/* A new tracestate whose ot entry has th set to `th` (NULL: removed), the
 * other ot sub-keys kept in order. NULL when nothing changes or on error. */
static tw_tracestate *with_threshold(const tw_tracestate *ts, const char *th) {
    char val[256];
    size_t n = 0;
    if (th) n = (size_t)snprintf(val, sizeof val, "th:%s", th);
    tw_str ot;
    if (ts && tw_tracestate_get(ts, "ot", &ot) == TW_OK) {
        const char *p = ot.ptr, *end = ot.ptr + ot.len;
        while (p < end) {
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *item_end = semi ? semi : end;
            size_t len = (size_t)(item_end - p);
            bool is_th = len >= 3 && p[0] == 't' && p[1] == 'h' && p[2] == ':';
            if (!is_th && len && n + len + 1 < sizeof val) {
                if (n) val[n++] = ';';
                memcpy(val + n, p, len);
                n += len;
            }
            p = item_end + 1;
        }
    } else if (!th) {
        return NULL;
    }
    tw_tracestate *out = NULL;
    if (n == 0) tw_tracestate_remove(ts, "ot", &out);
    else tw_tracestate_set(ts, "ot", val, n, &out);
    return out;
}

static tw_sampling_result decide_probability(const tw_sampler *s, const tw_sampling_params *p) {
    const tw_tracestate *ts = p->parent ? p->parent->span.state : NULL;
    tw_sampling_result r = {TW_DROP, NULL};
    if (s->bound < MAX_RANDOMNESS && randomness(p->trace_id, ts) >= s->bound) {
        r.decision = TW_RECORD_AND_SAMPLE;
        r.state = with_threshold(ts, s->th);
    } else {
        tw_str ot, th;
        if (ts && tw_tracestate_get(ts, "ot", &ot) == TW_OK && ot_find(ot, "th", &th))
            r.state = with_threshold(ts, NULL);
    }
    return r;
}

tw_sampling_result tw_sampler_should_sample(const tw_sampler *s, const tw_sampling_params *p) {
    tw_sampling_result r = {TW_DROP, NULL};
    if (!s) return r;
    if (s->kind == K_PARENT) /* pick the delegate here rather than recursing */
        s = s->d[tw__parent_case(p->parent ? &p->parent->span : NULL)];
    switch (s->kind) {
    case K_ON: r.decision = TW_RECORD_AND_SAMPLE; return r;
    case K_OFF: return r;
    case K_RATIO: {
        uint64_t x = tw__load_be64(p->trace_id->bytes + 8) >> 1;
        r.decision = x < s->bound ? TW_RECORD_AND_SAMPLE : TW_DROP;
        return r;
    }
    case K_PROB: return decide_probability(s, p);
    case K_PARENT: return tw_sampler_should_sample(s, p); /* a parent-based delegate: rare */
    case K_CUSTOM: return s->fn(s->user, p);
    }
    return r;
}

void tw__sampler_fixed(const tw_sampler *s, uint8_t out[5]) {
    for (int c = 0; c < 5; c++) {
        const tw_sampler *d = s && s->kind == K_PARENT ? s->d[c] : s;
        out[c] = !d ? TW__FIXED_DROP : d->kind == K_ON ? TW__FIXED_SAMPLE : d->kind == K_OFF ? TW__FIXED_DROP : TW__FIXED_ASK;
    }
}

/* ---- from the environment ------------------------------------------------- */

tw_sampler *tw_sampler_from_env(const char **err_msg) {
    if (err_msg) *err_msg = NULL;
    const char *name = tw__env("OTEL_TRACES_SAMPLER");
    if (!name) return tw_sampler_parent_based(NULL, NULL, NULL, NULL, NULL);
    double arg = 1.0;
    bool ratio_like = strstr(name, "traceidratio") || strstr(name, "probability");
    if (ratio_like) {
        arg = tw__env_double("OTEL_TRACES_SAMPLER_ARG", 1.0);
        if (arg < 0 || arg > 1) {
            tw__warn("OTEL_TRACES_SAMPLER_ARG=%g is outside [0, 1]; using 1.0", arg);
            arg = 1.0;
        }
    }
    size_t n = strlen(name);
    tw__trim(&name, &n);
    if (tw__strieq_n(name, n, "always_on")) return tw_sampler_always_on();
    if (tw__strieq_n(name, n, "always_off")) return tw_sampler_always_off();
    if (tw__strieq_n(name, n, "traceidratio")) return tw_sampler_traceidratio(arg);
    if (tw__strieq_n(name, n, "probability")) return tw_sampler_probability(arg);
    if (tw__strieq_n(name, n, "parentbased_always_on"))
        return tw_sampler_parent_based(NULL, NULL, NULL, NULL, NULL);
    if (tw__strieq_n(name, n, "parentbased_always_off"))
        return tw_sampler_parent_based(tw_sampler_always_off(), NULL, NULL, NULL, NULL);
    if (tw__strieq_n(name, n, "parentbased_traceidratio"))
        return tw_sampler_parent_based(tw_sampler_traceidratio(arg), NULL, NULL, NULL, NULL);
    if (tw__strieq_n(name, n, "parentbased_probability"))
        return tw_sampler_parent_based(tw_sampler_probability(arg), NULL, NULL, NULL, NULL);
    static const char unknown[] =
        "OTEL_TRACES_SAMPLER names a sampler this SDK does not have; using parentbased_always_on";
    if (err_msg) *err_msg = unknown;
    tw__warn("%s", unknown);
    return tw_sampler_parent_based(NULL, NULL, NULL, NULL, NULL);
}
