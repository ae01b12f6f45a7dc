/*
 * spanmetrics.c — RED metrics from spans (spanmetrics.h).
 *
 * Series are found through an open-addressing table keyed by the label
 * pairs ("name\0value\0" ...; an absent dimension has no pair); a new
 * series renders its labels (escaped) once from that key, and keeps
 * its count, its bucket counts (not cumulative; summed when rendered), its
 * sum, and the newest exemplar of each bucket and of the counter.
 */
#include <stdio.h>
#include <stdlib.h>

#include <xxhash.h>

#include "red/promwrite.h"
#include "red/spanmetrics.h"

typedef struct exemplar {
    uint8_t trace[16], span[8];
    double value; /* ms */
    uint64_t ts_ns;
    bool set;
} exemplar;

typedef struct series {
    char *key;
    size_t key_len;
    uint64_t hash;
    char *labels;     /* rendered from the key: a="x",b="y" */
    double calls, sum_ms;
    double *buckets;  /* n_buckets + 1 (the last is +Inf) */
    exemplar *ex;     /* per bucket */
    exemplar ex_calls;
} series;

struct tws_spanmetrics {
    tws_spanmetrics_options o;
    char dim_labels[TWS_SM_MAX_DIMS][160];
    size_t dim_name_len[TWS_SM_MAX_DIMS], dim_label_len[TWS_SM_MAX_DIMS];
    series **all;
    uint32_t n, cap;     /* series, not counting overflow */
    uint32_t *slots, n_slots;
    series *overflow;
    uint64_t overflowed;
    tw__buf key; /* scratch: the label pairs of the span at hand */
};

#define T(s) {s, sizeof s - 1}
static const tw_str kind_texts[] = {T("SPAN_KIND_UNSPECIFIED"), T("SPAN_KIND_INTERNAL"), T("SPAN_KIND_SERVER"),
                                    T("SPAN_KIND_CLIENT"), T("SPAN_KIND_PRODUCER"), T("SPAN_KIND_CONSUMER")};
static const tw_str status_texts[] = {T("STATUS_CODE_UNSET"), T("STATUS_CODE_OK"), T("STATUS_CODE_ERROR")};
#undef T

/* Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*; anything else becomes '_'. */
static void label_name(const char *in, char *out, size_t cap) {
    size_t n = 0;
    if (*in >= '0' && *in <= '9' && n + 1 < cap) out[n++] = '_';
    for (; *in && n + 1 < cap; in++) {
        char c = *in;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        out[n++] = ok ? c : '_';
    }
    out[n] = 0;
}

int tws_spanmetrics_new(const tws_spanmetrics_options *o, tws_spanmetrics **out) {
    tws_spanmetrics *sm = tw__calloc(1, sizeof *sm);
    if (!sm) return TW_ENOMEM;
    if (o) sm->o = *o;
    if (!sm->o.n_buckets) {
        static const double def[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000};
        memcpy(sm->o.buckets_ms, def, sizeof def);
        sm->o.n_buckets = sizeof def / sizeof *def;
    }
    if (sm->o.n_buckets > TWS_SM_MAX_BUCKETS || sm->o.n_dims > TWS_SM_MAX_DIMS) {
        tw__free(sm);
        return TW_EINVAL;
    }
    for (uint32_t i = 1; i < sm->o.n_buckets; i++)
        if (!(sm->o.buckets_ms[i] > sm->o.buckets_ms[i - 1])) {
            tw__free(sm);
            return TW_EINVAL;
        }
    if (!sm->o.max_series) sm->o.max_series = 10000;
    for (uint32_t i = 0; i < sm->o.n_dims; i++) {
        label_name(sm->o.dims[i].name, sm->dim_labels[i], sizeof sm->dim_labels[i]);
        sm->dim_name_len[i] = strlen(sm->o.dims[i].name);
        sm->dim_label_len[i] = strlen(sm->dim_labels[i]);
    }
    tw__buf_init(&sm->key, 1 << 20);
    *out = sm;
    return TW_OK;
}

static void series_free(series *s) {
    if (!s) return;
    tw__free(s->key);
    tw__free(s->labels);
    tw__free(s->buckets);
    tw__free(s->ex);
    tw__free(s);
}

void tws_spanmetrics_free(tws_spanmetrics *sm) {
    if (!sm) return;
    for (uint32_t i = 0; i < sm->n; i++) series_free(sm->all[i]);
    series_free(sm->overflow);
    tw__free(sm->all);
    tw__free(sm->slots);
    tw__buf_free(&sm->key);
    tw__free(sm);
}

/* ---- adjusted counts ----------------------------------------------------------------- */

double tws_adjusted_count(tw_str ts) {
    /* find the "ot" list-member, then its "th" sub-key: ot=th:8;rv:... */
    const char *p = ts.ptr, *end = ts.ptr + ts.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
        const char *m = p;
        while (p < end && *p != ',') p++;
        if (p - m >= 3 && m[0] == 'o' && m[1] == 't' && m[2] == '=') {
            for (const char *q = m + 3; q < p;) {
                const char *sub = q;
                while (q < p && *q != ';') q++;
                if (q - sub > 3 && sub[0] == 't' && sub[1] == 'h' && sub[2] == ':') {
                    /* up to 14 hex digits, left-aligned in 56 bits (trailing zeros omitted) */
                    size_t n = (size_t)(q - sub - 3);
                    if (n > 14) return 1;
                    uint64_t t = 0;
                    for (size_t i = 0; i < n; i++) {
                        int v = tw__hexval((unsigned char)sub[3 + i]);
                        if (v < 0) return 1;
                        t = t << 4 | (uint64_t)v;
                    }
                    t <<= 4 * (14 - n);
                    uint64_t span = 1ull << 56;
                    if (t >= span) return 1;
                    return (double)span / (double)(span - t);
                }
                if (q < p) q++;
            }
            return 1;
        }
    }
    return 1;
}

/* ---- adding spans -------------------------------------------------------------------- */

/* A scalar attribute as label text: a slice of the value, or of `num`
 * for numbers (integers, status codes and ports being the common
 * dimensions, without printf). False for other types. */
static bool value_text(const tws_value *v, char num[32], tw_str *out) {
    switch (v->type) {
    case TWS_STRING: *out = v->u.s; return true;
    case TWS_INT: {
        char *e = num + 32, *p = e;
        uint64_t u = v->u.i < 0 ? 0 - (uint64_t)v->u.i : (uint64_t)v->u.i;
        do *--p = (char)('0' + u % 10);
        while (u /= 10);
        if (v->u.i < 0) *--p = '-';
        *out = (tw_str){p, (size_t)(e - p)};
        return true;
    }
    case TWS_DOUBLE: {
        int n = snprintf(num, 32, "%.17g", v->u.d);
        *out = (tw_str){num, n > 0 && n < 32 ? (size_t)n : 0};
        return true;
    }
    case TWS_BOOL: *out = v->u.b ? (tw_str){"true", 4} : (tw_str){"false", 5}; return true;
    default: return false;
    }
}

/* tws_attrs_find with the key's length known. */
static const tws_value *find_n(const tws_attrs *a, const char *key, size_t n) {
    for (uint32_t i = 0; i < a->n; i++)
        if (a->items[i].key.len == n && a->items[i].key.ptr[0] == key[0] && !memcmp(a->items[i].key.ptr, key, n))
            return &a->items[i].val;
    return NULL;
}

static void label(tw__buf *b, const char *name, const char *v, size_t n) {
    if (b->len) tw__buf_putc(b, ',');
    tw__buf_puts(b, name);
    tw__buf_puts(b, "=\"");
    tws_prom_escape(b, v, n);
    tw__buf_putc(b, '"');
}

static series *series_new(tws_spanmetrics *sm) {
    series *s = tw__calloc(1, sizeof *s);
    tw__buf lb;
    tw__buf_init(&lb, 1 << 20);
    for (const char *q = (const char *)sm->key.data, *end = q + sm->key.len; q < end;) {
        const char *name = q, *value = q + strlen(q) + 1;
        label(&lb, name, value, strlen(value));
        q = value + strlen(value) + 1;
    }
    tw__buf_putc(&lb, 0);
    if (s) {
        s->key = tw__malloc(sm->key.len ? sm->key.len : 1);
        s->labels = lb.failed ? NULL : (char *)lb.data;
        s->buckets = tw__calloc(sm->o.n_buckets + 1, sizeof *s->buckets);
        s->ex = tw__calloc(sm->o.n_buckets + 1, sizeof *s->ex);
    }
    if (!s || !s->key || !s->labels || !s->buckets || !s->ex) {
        if (!s || !s->labels) tw__buf_free(&lb);
        series_free(s);
        return NULL;
    }
    if (sm->key.len) memcpy(s->key, sm->key.data, sm->key.len);
    s->key_len = sm->key.len;
    return s;
}

static int grow_slots(tws_spanmetrics *sm) {
    uint32_t n = sm->n_slots ? sm->n_slots * 2 : 256;
    uint32_t *sl = tw__calloc(n, sizeof *sl);
    if (!sl) return TW_ENOMEM;
    for (uint32_t i = 0; i < sm->n; i++) {
        uint32_t j = (uint32_t)sm->all[i]->hash & (n - 1);
        while (sl[j]) j = (j + 1) & (n - 1);
        sl[j] = i + 1;
    }
    tw__free(sm->slots);
    sm->slots = sl;
    sm->n_slots = n;
    return TW_OK;
}

/* The series of the label set in sm->key; the overflow series
 * past the limit; NULL on memory failure. */
static series *lookup(tws_spanmetrics *sm) {
    if (sm->key.failed) return NULL;
    uint64_t h = XXH3_64bits(sm->key.data, sm->key.len);
    if (sm->n_slots) {
        for (uint32_t j = (uint32_t)h & (sm->n_slots - 1); sm->slots[j]; j = (j + 1) & (sm->n_slots - 1)) {
            series *s = sm->all[sm->slots[j] - 1];
            if (s->hash == h && s->key_len == sm->key.len && !memcmp(s->key, sm->key.data, s->key_len)) return s;
        }
    }
    if (sm->n >= sm->o.max_series) {
        sm->overflowed++;
        if (!sm->overflow) {
            tw__buf_reset(&sm->key);
            tw__buf_append(&sm->key, "otel_metric_overflow\0true", 26);
            sm->overflow = series_new(sm);
        }
        return sm->overflow;
    }
    if ((sm->n + 1) * 2 > sm->n_slots && grow_slots(sm)) return NULL;
    if (sm->n == sm->cap) {
        uint32_t cap = sm->cap ? sm->cap * 2 : 64;
        series **a = tw__realloc(sm->all, cap * sizeof *a);
        if (!a) return NULL;
        sm->all = a;
        sm->cap = cap;
    }
    series *s = series_new(sm);
    if (!s) return NULL;
    s->hash = h;
    uint32_t j = (uint32_t)h & (sm->n_slots - 1);
    while (sm->slots[j]) j = (j + 1) & (sm->n_slots - 1);
    sm->all[sm->n] = s;
    sm->slots[j] = ++sm->n;
    return s;
}

/* A label value of the key. A NUL inside would end it early: the value is
 * cut there (label values are text, and the key's parts end with NUL). */
static tw_str key_value(const char *v, size_t n) {
    const char *nul = n ? memchr(v, 0, n) : NULL;
    return (tw_str){v ? v : "", nul ? (size_t)(nul - v) : n};
}

typedef struct key_pair {
    const char *name;
    size_t name_len;
    tw_str v;
} key_pair;

/* sm->key = name\0value\0 for each pair, written with one reservation. */
static void key_build(tws_spanmetrics *sm, const key_pair *kp, size_t n) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += kp[i].name_len + kp[i].v.len + 2;
    tw__buf_reset(&sm->key);
    if (tw__buf_reserve(&sm->key, total) != TW_OK) return; /* failed is set: lookup gives NULL */
    char *o = (char *)sm->key.data;
    for (size_t i = 0; i < n; i++) {
        memcpy(o, kp[i].name, kp[i].name_len + 1);
        o += kp[i].name_len + 1;
        memcpy(o, kp[i].v.ptr, kp[i].v.len);
        o += kp[i].v.len;
        *o++ = 0;
    }
    sm->key.len = total;
}

static void set_exemplar(exemplar *e, const tws_span *s, double ms) {
    memcpy(e->trace, s->trace_id, 16);
    memcpy(e->span, s->span_id, 8);
    e->value = ms;
    e->ts_ns = s->end_ns;
    e->set = true;
}

void tws_spanmetrics_add(tws_spanmetrics *sm, const tws_batch *b) {
    /* What the resource gives, looked up once per run of spans sharing it. */
    uint32_t res_idx = UINT32_MAX;
    const tws_value *res_dim[TWS_SM_MAX_DIMS];
    key_pair kp[4 + TWS_SM_MAX_DIMS];
    char num[TWS_SM_MAX_DIMS][32];
    kp[0] = (key_pair){"service_name", 12, {0}};
    kp[1] = (key_pair){"span_name", 9, {0}};
    kp[2] = (key_pair){"span_kind", 9, {0}};
    kp[3] = (key_pair){"status_code", 11, {0}};
    for (uint32_t i = 0; i < b->n_spans; i++) {
        const tws_span *s = &b->spans[i];
        if (s->reject) continue;
        const tws_scope *sc = &b->scopes[s->scope_idx];
        if (sc->resource_idx != res_idx) {
            res_idx = sc->resource_idx;
            const tws_attrs *res = &b->resources[res_idx].attrs;
            const tws_value *svc = find_n(res, "service.name", 12);
            kp[0].v = svc && svc->type == TWS_STRING ? key_value(svc->u.s.ptr, svc->u.s.len)
                                                    : (tw_str){"unknown_service", 15};
            for (uint32_t d = 0; d < sm->o.n_dims; d++) res_dim[d] = find_n(res, sm->o.dims[d].name, sm->dim_name_len[d]);
        }
        kp[1].v = key_value(s->name.ptr, s->name.len);
        kp[2].v = kind_texts[s->kind < 6 ? s->kind : 0];
        kp[3].v = status_texts[s->status_code < 3 ? s->status_code : 0];
        size_t n = 4;
        for (uint32_t d = 0; d < sm->o.n_dims; d++) {
            const tws_value *v = find_n(&s->attrs, sm->o.dims[d].name, sm->dim_name_len[d]);
            if (!v) v = res_dim[d];
            tw_str t;
            if (v && value_text(v, num[d], &t)) t = key_value(t.ptr, t.len);
            else if (sm->o.dims[d].fallback[0]) t = (tw_str){sm->o.dims[d].fallback, strlen(sm->o.dims[d].fallback)};
            else continue; /* absent: no label (and no pair in the key) */
            kp[n++] = (key_pair){sm->dim_labels[d], sm->dim_label_len[d], t};
        }
        key_build(sm, kp, n);
        series *se = lookup(sm);
        if (!se) continue; /* out of memory: this span is not counted */
        double w = s->trace_state.len ? tws_adjusted_count(s->trace_state) : 1;
        double ms = s->end_ns >= s->start_ns ? (double)(s->end_ns - s->start_ns) / 1e6 : 0;
        uint32_t bk = 0;
        while (bk < sm->o.n_buckets && ms > sm->o.buckets_ms[bk]) bk++;
        se->calls += w;
        se->sum_ms += ms * w;
        se->buckets[bk] += w;
        set_exemplar(&se->ex[bk], s, ms);
        set_exemplar(&se->ex_calls, s, ms);
    }
}

/* ---- rendering ----------------------------------------------------------------------- */

static void exemplar_text(tw__buf *o, const exemplar *e, bool om) {
    if (!om || !e->set) return;
    char t[33], sp[17];
    tw__hex_encode(e->trace, 16, t);
    tw__hex_encode(e->span, 8, sp);
    t[32] = sp[16] = 0;
    tw__buf_printf(o, " # {trace_id=\"%s\",span_id=\"%s\"} %.17g %.3f", t, sp, e->value, (double)e->ts_ns / 1e9);
}

static void render_series(const tws_spanmetrics *sm, const series *s, bool om, tw__buf *calls, tw__buf *hist) {
    tw__buf_printf(calls, "traces_span_metrics_calls_total{%s} %.15g", s->labels, s->calls);
    exemplar_text(calls, &s->ex_calls, om);
    tw__buf_putc(calls, '\n');
    const char *sep = s->labels[0] ? "," : "";
    double cum = 0;
    for (uint32_t i = 0; i <= sm->o.n_buckets; i++) {
        cum += s->buckets[i];
        if (i < sm->o.n_buckets)
            tw__buf_printf(hist, "traces_span_metrics_duration_milliseconds_bucket{%s%sle=\"%g\"} %.15g", s->labels, sep,
                           sm->o.buckets_ms[i], cum);
        else
            tw__buf_printf(hist, "traces_span_metrics_duration_milliseconds_bucket{%s%sle=\"+Inf\"} %.15g", s->labels,
                           sep, cum);
        exemplar_text(hist, &s->ex[i], om);
        tw__buf_putc(hist, '\n');
    }
    tw__buf_printf(hist, "traces_span_metrics_duration_milliseconds_sum{%s} %.15g\n", s->labels, s->sum_ms);
    tw__buf_printf(hist, "traces_span_metrics_duration_milliseconds_count{%s} %.15g\n", s->labels, s->calls);
}

int tws_spanmetrics_render(const tws_spanmetrics *sm, bool om, tw__buf *out) {
    tw__buf calls, hist;
    tw__buf_init(&calls, out->max);
    tw__buf_init(&hist, out->max);
    for (uint32_t i = 0; i < sm->n; i++) render_series(sm, sm->all[i], om, &calls, &hist);
    if (sm->overflow) render_series(sm, sm->overflow, om, &calls, &hist);
    const char *calls_family = om ? "traces_span_metrics_calls" : "traces_span_metrics_calls_total";
    tw__buf_printf(out, "# HELP %s Spans, by service, name, kind, status and dimensions (adjusted counts).\n"
                        "# TYPE %s counter\n", calls_family, calls_family);
    tw__buf_append(out, calls.data, calls.len);
    tw__buf_puts(out, "# HELP traces_span_metrics_duration_milliseconds Span durations.\n"
                      "# TYPE traces_span_metrics_duration_milliseconds histogram\n");
    tw__buf_append(out, hist.data, hist.len);
    if (calls.failed || hist.failed) out->failed = calls.failed | hist.failed;
    tw__buf_free(&calls);
    tw__buf_free(&hist);
    return out->failed;
}

void tws_spanmetrics_get_stats(const tws_spanmetrics *sm, tws_spanmetrics_stats *out) {
    out->series = sm->n + (sm->overflow != NULL);
    out->overflowed_spans = sm->overflowed;
}

/* ---- remote_write -------------------------------------------------------------------- */

/* One series' sample through promwrite: its label pairs (from the key),
 * an extra label (le) when given, its exemplar when set. */
static void pb_series(tw__buf *o, const char *metric, const series *s, const char *extra_name, const char *extra_value,
                      double v, int64_t ts_ms, const exemplar *ex) {
    tws_pw_label l[TWS_PW_MAX_LABELS - 1];
    size_t n = 0;
    for (const char *q = s->key; q < s->key + s->key_len && n + 1 < sizeof l / sizeof *l;) {
        const char *name = q, *value = q + strlen(q) + 1;
        l[n++] = (tws_pw_label){name, value};
        q = value + strlen(value) + 1;
    }
    if (extra_name) l[n++] = (tws_pw_label){extra_name, extra_value};
    tws_pw_exemplar e = {ex ? ex->trace : NULL, ex ? ex->span : NULL, ex ? ex->value : 0,
                         ex ? (int64_t)(ex->ts_ns / 1000000) : 0};
    tws_pw_series(o, metric, l, n, v, ts_ms, ex && ex->set ? &e : NULL);
}

static void pb_all(const tws_spanmetrics *sm, const series *s, int64_t ts_ms, tw__buf *o) {
    pb_series(o, "traces_span_metrics_calls_total", s, NULL, NULL, s->calls, ts_ms, &s->ex_calls);
    double cum = 0;
    for (uint32_t i = 0; i <= sm->o.n_buckets; i++) {
        char le[32];
        cum += s->buckets[i];
        if (i < sm->o.n_buckets) snprintf(le, sizeof le, "%g", sm->o.buckets_ms[i]);
        else strcpy(le, "+Inf");
        pb_series(o, "traces_span_metrics_duration_milliseconds_bucket", s, "le", le, cum, ts_ms, &s->ex[i]);
    }
    pb_series(o, "traces_span_metrics_duration_milliseconds_sum", s, NULL, NULL, s->sum_ms, ts_ms, NULL);
    pb_series(o, "traces_span_metrics_duration_milliseconds_count", s, NULL, NULL, s->calls, ts_ms, NULL);
}

int tws_spanmetrics_encode_remote_write(const tws_spanmetrics *sm, int64_t now_ms, tw__buf *out) {
    for (uint32_t i = 0; i < sm->n; i++) pb_all(sm, sm->all[i], now_ms, out);
    if (sm->overflow) pb_all(sm, sm->overflow, now_ms, out);
    return out->failed;
}
