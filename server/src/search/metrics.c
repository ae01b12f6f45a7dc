/*
 * metrics.c — the TraceQL metrics executor (see metrics.h for the
 * contract): an accumulator fed by tws_search_visit, then the series Tempo
 * would answer.
 *
 * Accumulation. A span's series key is its by() values (nil, and arrays,
 * are keys too: a span without the attribute still counts), plus, for
 * quantile_over_time and histogram_over_time, its power-of-two bucket. Keys
 * are hashed into an open-addressing table over the series array; a new
 * series copies its key's strings into the arena and gets one slot per
 * interval (count, min, max or sum; avg keeps a sum and a count). The
 * heads are visited on the caller's thread into one accumulator; the
 * blocks by every scanning thread into one of its own each (no lock per
 * trace), merged afterwards key by key. The
 * head, the frozen head and the blocks are visited in turn; the frozen
 * head's counted spans are kept as hashes (memory bounded by that head)
 * so that the block being written from it does not count them again.
 *
 * Finishing, in Tempo's order: values per function (rate divides by the
 * step in seconds; avg divides; quantiles from each interval's buckets),
 * labels (nil by() values dropped; all nil: the first by() label with the
 * value nil; no by(): __name__), the Prometheus label string, sort,
 * topk/bottomk per interval, series without a sample dropped, exemplars
 * kept only where their series has a sample, the series cap.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/metrics.h"
#include "traceql/traceql_int.h"

enum { MAX_BY = 16, DEFAULT_MAX_SERIES = 1000 };

typedef struct iseries {
    tq_val *key;  /* n_key values: by() values, then the bucket (TQ_FLOAT) when bucketed */
    uint32_t n_key;
    uint64_t hash;
    double *v;    /* per interval: count, min, max, sum (NaN: none), avg: sum */
    double *c;    /* avg_over_time: count per interval */
    tws_tqm_exemplar *ex;
    uint32_t n_ex, cap_ex;
} iseries;

typedef struct acc {
    const tws_tqm_req *req;
    const tq_node *m;
    uint8_t fn;
    uint32_t n;           /* intervals */
    uint32_t n_by, n_key;
    bool bucketed;        /* quantile, histogram: the key ends with the bucket */
    bool valued;          /* the function reads m->l */
    iseries *s;
    uint32_t n_s, cap_s, max_s;
    uint32_t *slots;      /* index into s, UINT32_MAX: empty */
    uint32_t n_slots;
    tq_arena *arena;
    uint8_t *mark;        /* per span of the trace in hand: seen */
    uint32_t mark_cap;
    tq_val key[MAX_BY + 1];
    uint8_t (*ex_ids)[16]; /* traces that gave an exemplar */
    uint32_t n_ex, max_ex;
    uint64_t rng;
    uint64_t spans;
    bool partial;
    int rc;
    /* The frozen head's spans are also in the block being written from
     * it until the loop frees it: their hashes, to count each span once. */
    int phase;            /* PHASE_* */
    uint64_t *frozen;     /* open addressing; 0: empty */
    uint32_t n_frozen, frozen_cap;
} acc;

enum { PHASE_HEAD, PHASE_FROZEN, PHASE_BLOCKS };

static const char *fn_name(uint8_t fn) {
    switch (fn) {
    case TQ_M_RATE: return "rate";
    case TQ_M_COUNT_OVER_TIME: return "count_over_time";
    case TQ_M_MIN_OVER_TIME: return "min_over_time";
    case TQ_M_MAX_OVER_TIME: return "max_over_time";
    case TQ_M_AVG_OVER_TIME: return "avg_over_time";
    case TQ_M_SUM_OVER_TIME: return "sum_over_time";
    case TQ_M_QUANTILE_OVER_TIME: return "quantile_over_time";
    case TQ_M_HISTOGRAM_OVER_TIME: return "histogram_over_time";
    default: return "metrics";
    }
}

/* ---- values and keys --------------------------------------------------------- */

static uint64_t val_hash(uint64_t h, const tq_val *v) {
    h = tw__mix64(h ^ ((uint64_t)v->t << 56) ^ 0x9e3779b97f4a7c15ull);
    switch (v->t) {
    case TQ_NIL: break;
    case TQ_STRING: {
        const uint8_t *p = (const uint8_t *)v->u.s;
        uint32_t n = v->n;
        while (n >= 8) {
            h = tw__mix64(h ^ tw__load_le64(p));
            p += 8;
            n -= 8;
        }
        uint64_t tail = 0;
        if (n) memcpy(&tail, p, n);
        h = tw__mix64(h ^ tail ^ ((uint64_t)v->n << 40));
        break;
    }
    case TQ_FLOAT: {
        uint64_t bits;
        memcpy(&bits, &v->u.f, 8);
        h = tw__mix64(h ^ bits);
        break;
    }
    case TQ_BOOL: h = tw__mix64(h ^ (uint64_t)v->u.b); break;
    default: h = tw__mix64(h ^ (uint64_t)v->u.i); break;
    }
    return h;
}

static bool val_eq(const tq_val *a, const tq_val *b) {
    if (a->t != b->t) return false;
    switch (a->t) {
    case TQ_NIL: return true;
    case TQ_STRING: return a->n == b->n && (!a->n || !memcmp(a->u.s, b->u.s, a->n));
    case TQ_FLOAT: return !memcmp(&a->u.f, &b->u.f, sizeof a->u.f);
    case TQ_BOOL: return a->u.b == b->u.b;
    default: return a->u.i == b->u.i;
    }
}

/* A total order (type, then value), for grouping and ties. */
static int val_cmp(const tq_val *a, const tq_val *b) {
    if (a->t != b->t) return a->t < b->t ? -1 : 1;
    switch (a->t) {
    case TQ_NIL: return 0;
    case TQ_STRING: {
        uint32_t n = a->n < b->n ? a->n : b->n;
        int c = n ? memcmp(a->u.s, b->u.s, n) : 0;
        return c ? c : (a->n > b->n) - (a->n < b->n);
    }
    case TQ_FLOAT: return (a->u.f > b->u.f) - (a->u.f < b->u.f);
    case TQ_BOOL: return (a->u.b > b->u.b) - (a->u.b < b->u.b);
    default: return (a->u.i > b->u.i) - (a->u.i < b->u.i);
    }
}

/* A by() value as a key: arrays are not grouped on (nil), -0.0 is 0. */
static tq_val key_of(tq_val v) {
    if (v.t == TQ_ARRAY || v.t == TQ_NIL) return (tq_val){.t = TQ_NIL};
    if (v.t == TQ_FLOAT && v.u.f == 0) v.u.f = 0;
    return v;
}

/* A span's number: seconds for durations; false for nil and non-numbers. */
static bool number_of(const tq_val *v, double *out) {
    switch (v->t) {
    case TQ_INT: *out = (double)v->u.i; return true;
    case TQ_FLOAT: *out = v->u.f; return !isnan(v->u.f);
    case TQ_DURATION: *out = (double)v->u.i / 1e9; return true;
    default: return false;
    }
}

/* Tempo's Log2Bucketize: the next power of two >= v (v >= 2). */
static double log2_bucket(uint64_t v) {
    if ((v & (v - 1)) == 0) return (double)v;
    return ldexp(1.0, 64 - __builtin_clzll(v));
}

/* The bucket of a value for quantile/histogram: integers as they are,
 * durations in seconds; below 2, floats and the rest have none. */
static bool bucket_of(const tq_val *v, double *out) {
    if ((v->t != TQ_INT && v->t != TQ_DURATION) || v->u.i < 2) return false;
    double b = log2_bucket((uint64_t)v->u.i);
    *out = v->t == TQ_DURATION ? b / 1e9 : b;
    return true;
}

double tws_tqm_log2_quantile(double p, const double *bounds, const uint64_t *counts, uint32_t n) {
    if (isnan(p) || p < 0 || p > 1 || !n) return 0;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) total += counts[i];
    if (!total) return 0;
    /* rounded up, for low counts; at least one sample */
    uint64_t want = (uint64_t)ceil(p * (double)total);
    if (!want) want = 1;
    uint64_t sofar = 0;
    uint32_t b = 0;
    for (; b < n; b++) {
        if (sofar + counts[b] > want) break;
        sofar += counts[b];
        if (sofar == want) return bounds[b];
    }
    if (b == n) return bounds[n - 1];
    double interp = (double)(want - sofar) / (double)counts[b];
    double hi = log2(bounds[b]), lo = b > 0 ? log2(bounds[b - 1]) : hi - 1;
    return pow(2, lo + (hi - lo) * interp);
}

/* ---- the accumulator ------------------------------------------------------------ */

static int rebuild_slots(acc *a, uint32_t want) {
    uint32_t n = 64;
    while (n < want * 2) n *= 2;
    uint32_t *s = tw__malloc(n * sizeof *s);
    if (!s) return TW_ENOMEM;
    memset(s, 0xff, n * sizeof *s);
    tw__free(a->slots);
    a->slots = s;
    a->n_slots = n;
    for (uint32_t k = 0; k < a->n_s; k++) {
        uint32_t i = (uint32_t)a->s[k].hash & (n - 1);
        while (s[i] != UINT32_MAX) i = (i + 1) & (n - 1);
        s[i] = k;
    }
    return TW_OK;
}

static int new_series(acc *a, uint64_t h, uint32_t slot) {
    if (a->n_s == a->cap_s) {
        uint32_t cap = a->cap_s ? a->cap_s * 2 : 16;
        if (cap > a->max_s) cap = a->max_s;
        iseries *v = tw__realloc(a->s, cap * sizeof *v);
        if (!v) return TW_ENOMEM;
        a->s = v;
        a->cap_s = cap;
    }
    iseries *s = &a->s[a->n_s];
    memset(s, 0, sizeof *s);
    s->hash = h;
    s->n_key = a->n_key;
    s->key = tq_arena_alloc(a->arena, (a->n_key ? a->n_key : 1) * sizeof *s->key);
    s->v = tq_arena_alloc(a->arena, a->n * sizeof *s->v);
    if (a->fn == TQ_M_AVG_OVER_TIME) s->c = tq_arena_alloc(a->arena, a->n * sizeof *s->c);
    if (!s->key || !s->v || (a->fn == TQ_M_AVG_OVER_TIME && !s->c)) return TW_ENOMEM;
    for (uint32_t k = 0; k < a->n_key; k++) {
        s->key[k] = a->key[k];
        if (s->key[k].t == TQ_STRING) { /* the trace's memory goes when the visit moves on */
            char *c = tq_arena_alloc(a->arena, s->key[k].n + 1);
            if (!c) return TW_ENOMEM;
            if (s->key[k].n) memcpy(c, s->key[k].u.s, s->key[k].n);
            s->key[k].u.s = c;
        }
    }
    bool nan = a->fn == TQ_M_MIN_OVER_TIME || a->fn == TQ_M_MAX_OVER_TIME || a->fn == TQ_M_SUM_OVER_TIME;
    for (uint32_t i = 0; nan && i < a->n; i++) s->v[i] = NAN;
    a->slots[slot] = a->n_s++;
    if (a->n_s * 2 > a->n_slots) return rebuild_slots(a, a->n_s);
    return TW_OK;
}

/* The series of the key in a->key: its index, or -1 when it does not exist
 * and the cap forbids a new one (a->partial), or when memory ran out (a->rc). */
static int64_t series_for(acc *a) {
    uint64_t h = 0x243f6a8885a308d3ull;
    for (uint32_t k = 0; k < a->n_key; k++) h = val_hash(h, &a->key[k]);
    uint32_t mask = a->n_slots - 1, i = (uint32_t)h & mask;
    for (;; i = (i + 1) & mask) {
        uint32_t k = a->slots[i];
        if (k == UINT32_MAX) break;
        const iseries *s = &a->s[k];
        if (s->hash != h) continue;
        uint32_t j = 0;
        while (j < a->n_key && val_eq(&s->key[j], &a->key[j])) j++;
        if (j == a->n_key) return k;
    }
    if (a->n_s >= a->max_s) {
        a->partial = true;
        return -1;
    }
    uint32_t idx = a->n_s;
    if ((a->rc = new_series(a, h, i))) return -1;
    return idx;
}

static void observe(acc *a, iseries *s, uint32_t iv, double x) {
    double *v = &s->v[iv];
    switch (a->fn) {
    case TQ_M_MIN_OVER_TIME: if (isnan(*v) || x < *v) *v = x; break;
    case TQ_M_MAX_OVER_TIME: if (isnan(*v) || x > *v) *v = x; break;
    case TQ_M_SUM_OVER_TIME: *v = isnan(*v) ? x : *v + x; break;
    case TQ_M_AVG_OVER_TIME: *v += x; s->c[iv] += 1; break;
    default: *v += 1; break; /* rate, count, and the bucket counts */
    }
}

static int add_exemplar(acc *a, uint32_t si, const uint8_t trace_id[16], uint64_t ts_ms, double x, uint32_t iv) {
    iseries *s = &a->s[si];
    if (s->n_ex == s->cap_ex) {
        uint32_t cap = s->cap_ex ? s->cap_ex * 2 : 4;
        tws_tqm_exemplar *v = tq_arena_alloc(a->arena, cap * sizeof *v);
        if (!v) return TW_ENOMEM;
        if (s->n_ex) memcpy(v, s->ex, s->n_ex * sizeof *v);
        s->ex = v;
        s->cap_ex = cap;
    }
    tws_tqm_exemplar *e = &s->ex[s->n_ex++];
    memcpy(e->trace_id, trace_id, 16);
    e->ts_ms = ts_ms;
    e->value = x;
    e->interval = iv;
    memcpy(a->ex_ids[a->n_ex++], trace_id, 16);
    return TW_OK;
}

static bool had_exemplar(const acc *a, const uint8_t id[16]) {
    for (uint32_t i = 0; i < a->n_ex; i++)
        if (!memcmp(a->ex_ids[i], id, 16)) return true;
    return false;
}

static uint64_t span_hash(const tws_span *s) {
    uint64_t h = tw__mix64(tw__load_le64(s->trace_id) ^ tw__mix64(tw__load_le64(s->trace_id + 8)));
    h = tw__mix64(h ^ tw__load_le64(s->span_id)) ^ tw__mix64(s->start_ns);
    return h ? h : 1;
}

static bool frozen_has(const acc *a, uint64_t h) {
    if (!a->n_frozen) return false;
    uint32_t mask = a->frozen_cap - 1;
    for (uint32_t i = (uint32_t)h & mask; a->frozen[i]; i = (i + 1) & mask)
        if (a->frozen[i] == h) return true;
    return false;
}

static int frozen_add(acc *a, uint64_t h) {
    if ((a->n_frozen + 1) * 2 > a->frozen_cap) {
        uint32_t cap = a->frozen_cap ? a->frozen_cap * 2 : 1024;
        uint64_t *v = tw__calloc(cap, sizeof *v);
        if (!v) return TW_ENOMEM;
        for (uint32_t k = 0; k < a->frozen_cap; k++) {
            if (!a->frozen[k]) continue;
            uint32_t i = (uint32_t)a->frozen[k] & (cap - 1);
            while (v[i]) i = (i + 1) & (cap - 1);
            v[i] = a->frozen[k];
        }
        tw__free(a->frozen);
        a->frozen = v;
        a->frozen_cap = cap;
    }
    uint32_t mask = a->frozen_cap - 1, i = (uint32_t)h & mask;
    while (a->frozen[i] && a->frozen[i] != h) i = (i + 1) & mask;
    if (!a->frozen[i]) {
        a->frozen[i] = h;
        a->n_frozen++;
    }
    return TW_OK;
}

static int on_trace(void *user, tq_eval *e, const tq_trace *t, const tq_spanset *sets, uint32_t n_sets) {
    acc *a = user;
    if (!t->n) return 0;
    if (t->n > a->mark_cap) {
        uint32_t cap = a->mark_cap ? a->mark_cap : 256;
        while (cap < t->n) cap *= 2;
        uint8_t *m = tw__realloc(a->mark, cap);
        if (!m) return TW_ENOMEM;
        a->mark = m;
        a->mark_cap = cap;
    }
    memset(a->mark, 0, t->n);
    const uint8_t *tid = t->spans[0].s->trace_id;
    bool want_ex = a->n_ex < a->max_ex && a->fn != TQ_M_HISTOGRAM_OVER_TIME && !had_exemplar(a, tid);
    uint32_t seen = 0, pick_series = 0, pick_iv = 0;
    uint64_t pick_ms = 0;
    double pick_x = 0;
    const uint64_t start = a->req->start_ns, end = a->req->end_ns, step = a->req->step_ns;
    const tq_node *m = a->m;
    for (uint32_t k = 0; k < n_sets; k++) {
        for (uint32_t j = 0; j < sets[k].n; j++) {
            uint32_t si = sets[k].spans[j];
            if (a->mark[si]) continue;
            a->mark[si] = 1;
            uint64_t st = t->spans[si].s->start_ns;
            if (st <= start || st > end) continue; /* (start, end] */
            if (a->phase == PHASE_BLOCKS && frozen_has(a, span_hash(t->spans[si].s))) continue;
            uint32_t iv = (uint32_t)((st - start - 1) / step);
            double x = 0;
            if (a->valued) {
                tq_val v = tq_eval_field(e, m->l, t, si);
                if (a->bucketed) {
                    double b;
                    if (!bucket_of(&v, &b)) continue;
                    a->key[a->n_by] = (tq_val){.t = TQ_FLOAT, .u.f = b};
                }
                if (!number_of(&v, &x)) continue;
            }
            for (uint32_t b = 0; b < a->n_by; b++) a->key[b] = key_of(tq_eval_field(e, m->args[b], t, si));
            int64_t idx = series_for(a);
            if (idx < 0) {
                if (a->rc) return a->rc;
                continue;
            }
            if (a->phase == PHASE_FROZEN && (a->rc = frozen_add(a, span_hash(t->spans[si].s)))) return a->rc;
            observe(a, &a->s[idx], iv, x);
            a->spans++;
            if (want_ex && (++seen == 1 || (a->rng = tw__mix64(a->rng + 0x9e3779b97f4a7c15ull)) % seen == 0)) {
                pick_series = (uint32_t)idx; /* reservoir sampling: each span 1/seen */
                pick_iv = iv;
                pick_ms = st / 1000000;
                pick_x = x;
            }
        }
    }
    if (seen) return add_exemplar(a, pick_series, tid, pick_ms, pick_x, pick_iv);
    return 0;
}

/* ---- labels ---------------------------------------------------------------------- */

/* Go's strconv.FormatFloat(v, 'g', -1, 64): the fewest digits that read
 * back; the exponent form when the decimal exponent is < -4 or >= 6 (Go's
 * rule for the shortest form), with at least two exponent digits. */
static void go_float(double v, char out[48]) {
    if (isnan(v)) {
        snprintf(out, 48, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, 48, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char e[48];
    int digits = 1;
    for (; digits <= 17; digits++) {
        snprintf(e, sizeof e, "%.*e", digits - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    if (digits > 17) digits = 17;
    const char *ep = strchr(e, 'e');
    int exp = ep ? atoi(ep + 1) : 0;
    if (exp < -4 || exp >= 6) {
        snprintf(out, 48, "%s", e);
    } else {
        int decimals = digits - 1 - exp;
        snprintf(out, 48, "%.*f", decimals > 0 ? decimals : 0, v);
    }
}

/* Tempo's Static.EncodeToString(false) for a float: a whole number gets ".0". */
static void tempo_float(double v, char out[48]) {
    go_float(v, out);
    if (!strpbrk(out, "e.NI")) {
        size_t n = strlen(out);
        if (n + 2 < 48) memcpy(out + n, ".0", 3);
    }
}

/* A label value as Prometheus sees it (Tempo's Labels.String()). */
static void prom_value(const tq_val *v, tw__buf *out) {
    char f[48];
    switch (v->t) {
    case TQ_NIL: tw__buf_puts(out, "<nil>"); return;
    case TQ_STRING:
        if (!v->n) tw__buf_puts(out, "<empty>");
        else if (v->n == 3 && !memcmp(v->u.s, "nil", 3)) tw__buf_puts(out, "<nil>");
        else tw__buf_append(out, v->u.s, v->n);
        return;
    case TQ_FLOAT:
        tempo_float(v->u.f, f);
        tw__buf_puts(out, f);
        return;
    default: tq_val_text(v, out); return;
    }
}

/* Go's strconv.Quote for UTF-8 text: escapes for '"', '\\' and controls. */
static void go_quote(tw__buf *out, const uint8_t *s, size_t n) {
    static const char X[] = "0123456789abcdef";
    tw__buf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        switch (c) {
        case '"': tw__buf_puts(out, "\\\""); break;
        case '\\': tw__buf_puts(out, "\\\\"); break;
        case '\a': tw__buf_puts(out, "\\a"); break;
        case '\b': tw__buf_puts(out, "\\b"); break;
        case '\f': tw__buf_puts(out, "\\f"); break;
        case '\n': tw__buf_puts(out, "\\n"); break;
        case '\r': tw__buf_puts(out, "\\r"); break;
        case '\t': tw__buf_puts(out, "\\t"); break;
        case '\v': tw__buf_puts(out, "\\v"); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                tw__buf_puts(out, "\\x");
                tw__buf_putc(out, (uint8_t)X[c >> 4]);
                tw__buf_putc(out, (uint8_t)X[c & 15]);
            } else {
                tw__buf_putc(out, c);
            }
        }
    }
    tw__buf_putc(out, '"');
}

static bool legacy_name(const char *s, uint32_t n) {
    if (!n) return false;
    for (uint32_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

static int cmp_label_name(const void *x, const void *y) {
    const tws_tqm_label *a = *(tws_tqm_label *const *)x, *b = *(tws_tqm_label *const *)y;
    uint32_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = n ? memcmp(a->key, b->key, n) : 0;
    return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

/* {name="value", ...}, names sorted, as Prometheus' labels.String(): a name
 * that is not [A-Za-z_][A-Za-z0-9_]* is quoted. */
static int prom_string(acc *a, tws_tqm_series *s, tw__buf *b) {
    tws_tqm_label *sorted[MAX_BY + 2];
    uint32_t n = s->n_labels < MAX_BY + 2 ? s->n_labels : MAX_BY + 2;
    for (uint32_t i = 0; i < n; i++) sorted[i] = &s->labels[i];
    if (n > 1) qsort(sorted, n, sizeof *sorted, cmp_label_name);
    tw__buf_reset(b);
    tw__buf vb;
    tw__buf_init(&vb, 1u << 20);
    tw__buf_putc(b, '{');
    for (uint32_t i = 0; i < n; i++) {
        if (i) tw__buf_puts(b, ", ");
        if (legacy_name(sorted[i]->key, sorted[i]->key_len)) tw__buf_append(b, sorted[i]->key, sorted[i]->key_len);
        else go_quote(b, (const uint8_t *)sorted[i]->key, sorted[i]->key_len);
        tw__buf_putc(b, '=');
        tw__buf_reset(&vb);
        prom_value(&sorted[i]->val, &vb);
        go_quote(b, vb.data, vb.len);
    }
    tw__buf_putc(b, '}');
    int rc = b->failed || vb.failed ? TW_ENOMEM : TW_OK;
    tw__buf_free(&vb);
    if (rc) return rc;
    char *p = tq_arena_alloc(a->arena, b->len + 1);
    if (!p) return TW_ENOMEM;
    memcpy(p, b->data, b->len);
    s->prom = p;
    s->prom_len = (uint32_t)b->len;
    return TW_OK;
}

/* ---- finishing --------------------------------------------------------------------- */

typedef struct finisher {
    acc *a;
    tws_tqm_label *by_names; /* key text per by() argument */
    tws_tqm_series *out;
    uint32_t n_out;
} finisher;

/* Labels of a series: its non-nil by() values (all nil: the first with nil),
 * then `extra` (the bucket or p), or __name__ when there is no by(). */
static int set_labels(finisher *f, tws_tqm_series *o, const tq_val *key, const tws_tqm_label *extra) {
    acc *a = f->a;
    o->labels = tq_arena_alloc(a->arena, (a->n_by + 2) * sizeof *o->labels);
    if (!o->labels) return TW_ENOMEM;
    for (uint32_t b = 0; b < a->n_by; b++) {
        if (key[b].t == TQ_NIL) continue;
        o->labels[o->n_labels] = f->by_names[b];
        o->labels[o->n_labels++].val = key[b];
    }
    o->n_by = o->n_labels;
    if (extra) {
        o->labels[o->n_labels++] = *extra;
    } else if (!a->n_by) {
        const char *name = fn_name(a->fn);
        o->labels[o->n_labels++] = (tws_tqm_label){"__name__", 8, {.t = TQ_STRING, .n = (uint32_t)strlen(name), .u.s = name}};
    } else if (!o->n_labels) {
        o->labels[o->n_labels] = f->by_names[0];
        o->labels[o->n_labels++].val = (tq_val){.t = TQ_NIL};
    }
    return TW_OK;
}

static int finish_plain(finisher *f) {
    acc *a = f->a;
    double per_s = (double)a->req->step_ns / 1e9;
    for (uint32_t k = 0; k < a->n_s; k++) {
        iseries *s = &a->s[k];
        tws_tqm_series *o = &f->out[f->n_out++];
        memset(o, 0, sizeof *o);
        tws_tqm_label bucket = {"__bucket", 8, {.t = TQ_FLOAT}};
        if (a->bucketed) bucket.val.u.f = s->key[a->n_by].u.f;
        int rc = set_labels(f, o, s->key, a->bucketed ? &bucket : NULL);
        if (rc) return rc;
        for (uint32_t i = 0; i < a->n; i++) {
            if (a->fn == TQ_M_RATE) s->v[i] /= per_s;
            else if (a->fn == TQ_M_AVG_OVER_TIME) s->v[i] = s->c[i] > 0 ? s->v[i] / s->c[i] : NAN;
        }
        o->values = s->v;
        o->exemplars = s->ex;
        o->n_exemplars = s->n_ex;
    }
    return TW_OK;
}

static int cmp_group_bucket(const void *x, const void *y) {
    const iseries *p = *(const iseries *const *)x, *q = *(const iseries *const *)y;
    for (uint32_t k = 0; k < p->n_key; k++) {
        int c = val_cmp(&p->key[k], &q->key[k]);
        if (c) return c;
    }
    return 0;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The quantiles over every series and interval together: what an exemplar
 * is compared with to choose its quantile (Tempo's rule: the first whose
 * value is >= the exemplar's, else the last). */
static int overall_quantiles(acc *a, double *qv) {
    const tq_node *m = a->m;
    double *bounds = tw__malloc((a->n_s ? a->n_s : 1) * sizeof *bounds);
    uint64_t *counts = tw__calloc(a->n_s ? a->n_s : 1, sizeof *counts);
    if (!bounds || !counts) {
        tw__free(bounds);
        tw__free(counts);
        return TW_ENOMEM;
    }
    for (uint32_t k = 0; k < a->n_s; k++) bounds[k] = a->s[k].key[a->n_by].u.f;
    if (a->n_s > 1) qsort(bounds, a->n_s, sizeof *bounds, cmp_double);
    uint32_t nb = 0;
    for (uint32_t k = 0; k < a->n_s; k++)
        if (!nb || bounds[nb - 1] != bounds[k]) bounds[nb++] = bounds[k];
    for (uint32_t k = 0; k < a->n_s; k++) {
        double b = a->s[k].key[a->n_by].u.f;
        uint32_t lo = 0, hi = nb;
        while (lo + 1 < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (bounds[mid] <= b) lo = mid;
            else hi = mid;
        }
        for (uint32_t i = 0; i < a->n; i++) counts[lo] += (uint64_t)a->s[k].v[i];
    }
    for (uint32_t q = 0; q < m->n_qs; q++) qv[q] = tws_tqm_log2_quantile(m->qs[q], bounds, counts, nb);
    tw__free(bounds);
    tw__free(counts);
    return TW_OK;
}

static int finish_quantiles(finisher *f) {
    acc *a = f->a;
    const tq_node *m = a->m;
    int rc = TW_OK;
    const iseries **order = tw__malloc((a->n_s ? a->n_s : 1) * sizeof *order);
    double *qv = tw__malloc((m->n_qs ? m->n_qs : 1) * sizeof *qv);
    double *bounds = tw__malloc((a->n_s ? a->n_s : 1) * sizeof *bounds);
    uint64_t *counts = tw__malloc((a->n_s ? a->n_s : 1) * sizeof *counts);
    if (!order || !qv || !bounds || !counts) {
        rc = TW_ENOMEM;
        goto out;
    }
    for (uint32_t k = 0; k < a->n_s; k++) order[k] = &a->s[k];
    if (a->n_s > 1) qsort(order, a->n_s, sizeof *order, cmp_group_bucket); /* groups, buckets ascending */
    if ((rc = overall_quantiles(a, qv))) goto out;
    for (uint32_t g = 0; g < a->n_s;) {
        uint32_t end = g + 1; /* the group: order[g, end) */
        while (end < a->n_s) {
            uint32_t k = 0;
            while (k < a->n_by && !val_cmp(&order[g]->key[k], &order[end]->key[k])) k++;
            if (k < a->n_by) break;
            end++;
        }
        const iseries *first = order[g];
        for (uint32_t q = 0; q < m->n_qs; q++) {
            tws_tqm_series *o = &f->out[f->n_out++];
            memset(o, 0, sizeof *o);
            tws_tqm_label p = {"p", 1, {.t = TQ_FLOAT, .u.f = m->qs[q]}};
            if ((rc = set_labels(f, o, first->key, &p))) goto out;
            o->values = tq_arena_alloc(a->arena, a->n * sizeof *o->values);
            if (!o->values) {
                rc = TW_ENOMEM;
                goto out;
            }
            for (uint32_t i = 0; i < a->n; i++) {
                uint32_t nb = 0;
                for (uint32_t k = g; k < end; k++) {
                    const iseries *s = order[k];
                    if (s->v[i] <= 0) continue;
                    bounds[nb] = s->key[a->n_by].u.f;
                    counts[nb++] = (uint64_t)s->v[i];
                }
                o->values[i] = nb ? tws_tqm_log2_quantile(m->qs[q], bounds, counts, nb) : 0; /* Tempo: 0, not NaN */
            }
            /* this quantile's exemplars: those whose value is nearest above it */
            uint32_t n_ex = 0;
            for (uint32_t k = g; k < end; k++) n_ex += order[k]->n_ex;
            o->exemplars = tq_arena_alloc(a->arena, (n_ex ? n_ex : 1) * sizeof *o->exemplars);
            if (!o->exemplars) {
                rc = TW_ENOMEM;
                goto out;
            }
            for (uint32_t k = g; k < end; k++) {
                const iseries *s = order[k];
                for (uint32_t x = 0; x < s->n_ex; x++) {
                    uint32_t target = 0;
                    while (target + 1 < m->n_qs && !(s->ex[x].value <= qv[target])) target++;
                    if (target == q) o->exemplars[o->n_exemplars++] = s->ex[x];
                }
            }
        }
        g = end;
    }
out:
    tw__free(order);
    tw__free(qv);
    tw__free(bounds);
    tw__free(counts);
    return rc;
}

static int cmp_series(const void *x, const void *y) {
    const tws_tqm_series *a = x, *b = y;
    uint32_t n = a->prom_len < b->prom_len ? a->prom_len : b->prom_len;
    int c = n ? memcmp(a->prom, b->prom, n) : 0;
    if (c) return c;
    if (a->prom_len != b->prom_len) return a->prom_len < b->prom_len ? -1 : 1;
    for (uint32_t i = 0; i < a->n_labels && i < b->n_labels; i++) /* same text, different types */
        if ((c = val_cmp(&a->labels[i].val, &b->labels[i].val))) return c;
    return (a->n_labels > b->n_labels) - (a->n_labels < b->n_labels);
}

typedef struct ranked {
    double v;
    uint32_t s;
} ranked;

static int cmp_top(const void *x, const void *y) {
    const ranked *a = x, *b = y;
    if (a->v != b->v) return a->v > b->v ? -1 : 1;
    return (a->s > b->s) - (a->s < b->s);
}

static int cmp_bottom(const void *x, const void *y) {
    const ranked *a = x, *b = y;
    if (a->v != b->v) return a->v < b->v ? -1 : 1;
    return (a->s > b->s) - (a->s < b->s);
}

/* topk / bottomk per interval, as PromQL: the N largest (smallest) values
 * of each interval stay, ties to the series that sorts first; a series
 * keeps only the intervals where it ranked. */
static int top_k(acc *a, tws_tqm_series *v, uint32_t n, bool top, uint32_t k) {
    double **kept = tw__calloc(n ? n : 1, sizeof *kept);
    ranked *r = tw__malloc((n ? n : 1) * sizeof *r);
    int rc = kept && r ? TW_OK : TW_ENOMEM;
    for (uint32_t i = 0; rc == TW_OK && i < a->n; i++) {
        uint32_t m = 0;
        for (uint32_t s = 0; s < n; s++)
            if (!isnan(v[s].values[i])) r[m++] = (ranked){v[s].values[i], s};
        if (m > k) {
            qsort(r, m, sizeof *r, top ? cmp_top : cmp_bottom);
            m = k;
        }
        for (uint32_t j = 0; j < m; j++) {
            uint32_t s = r[j].s;
            if (!kept[s]) {
                if (!(kept[s] = tq_arena_alloc(a->arena, a->n * sizeof **kept))) {
                    rc = TW_ENOMEM;
                    break;
                }
                for (uint32_t x = 0; x < a->n; x++) kept[s][x] = NAN;
            }
            kept[s][i] = r[j].v;
        }
    }
    for (uint32_t s = 0; rc == TW_OK && s < n; s++) v[s].values = kept[s]; /* NULL: never ranked */
    tw__free(kept);
    tw__free(r);
    return rc;
}

static int finish(acc *a, tws_tqm_result *out) {
    const tq_node *m = a->m;
    finisher f = {.a = a};
    int rc = TW_OK;
    tw__buf b;
    tw__buf_init(&b, 1u << 24);
    f.by_names = tq_arena_alloc(a->arena, (a->n_by ? a->n_by : 1) * sizeof *f.by_names);
    if (!f.by_names) {
        rc = TW_ENOMEM;
        goto out;
    }
    for (uint32_t k = 0; k < a->n_by; k++) {
        tw__buf_reset(&b);
        tq_node_text(m->args[k], &b);
        char *name = b.failed ? NULL : tq_arena_alloc(a->arena, b.len + 1);
        if (!name) {
            rc = TW_ENOMEM;
            goto out;
        }
        if (b.len) memcpy(name, b.data, b.len);
        f.by_names[k] = (tws_tqm_label){name, (uint32_t)b.len, {.t = TQ_NIL}};
    }
    uint64_t n_out = a->fn == TQ_M_QUANTILE_OVER_TIME ? (uint64_t)a->n_s * m->n_qs : a->n_s;
    f.out = tq_arena_alloc(a->arena, (n_out ? n_out : 1) * sizeof *f.out);
    if (!f.out) {
        rc = TW_ENOMEM;
        goto out;
    }
    rc = a->fn == TQ_M_QUANTILE_OVER_TIME ? finish_quantiles(&f) : finish_plain(&f);
    for (uint32_t i = 0; rc == TW_OK && i < f.n_out; i++) rc = prom_string(a, &f.out[i], &b);
    if (rc) goto out;
    if (f.n_out > 1) qsort(f.out, f.n_out, sizeof *f.out, cmp_series);
    if (a->req->q->second != TQ_SECOND_NONE &&
        (rc = top_k(a, f.out, f.n_out, a->req->q->second == TQ_SECOND_TOPK, a->req->q->second_n)))
        goto out;
    /* series without a sample go; an exemplar stays where its series has one */
    uint32_t kept = 0;
    bool counts = a->fn == TQ_M_RATE || a->fn == TQ_M_COUNT_OVER_TIME;
    for (uint32_t i = 0; i < f.n_out; i++) {
        tws_tqm_series *s = &f.out[i];
        bool any = false;
        for (uint32_t x = 0; s->values && x < a->n && !any; x++) any = !isnan(s->values[x]);
        if (!any) continue;
        uint32_t ne = 0;
        for (uint32_t x = 0; x < s->n_exemplars; x++) {
            tws_tqm_exemplar e = s->exemplars[x];
            if (e.interval >= a->n || isnan(s->values[e.interval])) continue;
            if (counts) e.value = s->values[e.interval];
            s->exemplars[ne++] = e;
        }
        s->n_exemplars = ne;
        f.out[kept++] = *s;
    }
    if (kept > a->max_s) {
        kept = a->max_s;
        a->partial = true;
    }
    out->series = f.out;
    out->n = kept;
out:
    tw__buf_free(&b);
    return rc;
}

/* ---- per-thread accumulators ------------------------------------------------------- */

/* A worker's accumulator for the block scan: a's settings, its own series,
 * arena and exemplars, the frozen head's hashes shared (read only). */
static int worker_acc(const acc *a, acc *w, uint32_t i) {
    *w = (acc){
        .req = a->req, .m = a->m, .fn = a->fn, .n = a->n, .n_by = a->n_by, .n_key = a->n_key,
        .bucketed = a->bucketed, .valued = a->valued, .max_s = a->max_s, .max_ex = a->max_ex,
        .rng = tw__mix64(a->rng + i + 1), .phase = PHASE_BLOCKS,
        .frozen = a->frozen, .n_frozen = a->n_frozen, .frozen_cap = a->frozen_cap,
    };
    w->arena = tq_arena_new();
    if (w->max_ex) w->ex_ids = tw__malloc((size_t)w->max_ex * sizeof *w->ex_ids);
    if (!w->arena || (w->max_ex && !w->ex_ids)) return TW_ENOMEM;
    return rebuild_slots(w, 64);
}

static void worker_acc_free(acc *w) {
    tw__free(w->s);
    tw__free(w->slots);
    tw__free(w->mark);
    tw__free(w->ex_ids);
    tq_arena_free(w->arena); /* (frozen is a's) */
}

/* Fold worker w's series into a: the same key's intervals combine as the
 * function does (counts and sums add, min and max of both, avg both sums
 * and counts); exemplars join while a has room, one per trace. */
static int merge_acc(acc *a, const acc *w) {
    a->spans += w->spans;
    a->partial |= w->partial;
    for (uint32_t k = 0; k < w->n_s; k++) {
        const iseries *ws = &w->s[k];
        memcpy(a->key, ws->key, ws->n_key * sizeof *a->key);
        int64_t idx = series_for(a);
        if (idx < 0) {
            if (a->rc) return a->rc;
            continue; /* over the series cap: a->partial */
        }
        iseries *as = &a->s[idx];
        for (uint32_t i = 0; i < a->n; i++) {
            double x = ws->v[i], *v = &as->v[i];
            switch (a->fn) {
            case TQ_M_MIN_OVER_TIME: if (!isnan(x) && (isnan(*v) || x < *v)) *v = x; break;
            case TQ_M_MAX_OVER_TIME: if (!isnan(x) && (isnan(*v) || x > *v)) *v = x; break;
            case TQ_M_SUM_OVER_TIME: if (!isnan(x)) *v = isnan(*v) ? x : *v + x; break;
            case TQ_M_AVG_OVER_TIME: *v += x; as->c[i] += ws->c[i]; break;
            default: *v += x; break;
            }
        }
        for (uint32_t e = 0; e < ws->n_ex && a->n_ex < a->max_ex; e++) {
            const tws_tqm_exemplar *x = &ws->ex[e];
            if (had_exemplar(a, x->trace_id)) continue;
            int rc = add_exemplar(a, (uint32_t)idx, x->trace_id, x->ts_ms, x->value, x->interval);
            if (rc) return rc;
        }
    }
    return TW_OK;
}

/* ---- the run ------------------------------------------------------------------------ */

static void add_stats(tws_search_stats *to, const tws_search_stats *st) {
    to->inspected_traces += st->inspected_traces;
    to->inspected_spans += st->inspected_spans;
    to->inspected_bytes += st->inspected_bytes;
    to->total_blocks += st->total_blocks;
    to->total_block_bytes += st->total_block_bytes;
    to->row_groups_read += st->row_groups_read;
    to->row_groups_skipped += st->row_groups_skipped;
    to->row_groups_pruned += st->row_groups_pruned;
}

int tws_tqm_run(const tws_tqm_req *req, const tws_head *head, const tws_head *frozen, tws_store *store,
                tws_tqm_result *out, char err[256]) {
    memset(out, 0, sizeof *out);
    err[0] = 0;
    const tq_node *m = req->q ? req->q->metrics : NULL;
    if (!m) {
        snprintf(err, 256, "not a metrics query");
        return TW_EINVAL;
    }
    if (!req->step_ns || req->end_ns <= req->start_ns) {
        snprintf(err, 256, req->step_ns ? "end must be greater than start" : "step must be positive");
        return TW_EINVAL;
    }
    uint64_t n = (req->end_ns - req->start_ns + req->step_ns - 1) / req->step_ns;
    if (n > TWS_TQM_MAX_INTERVALS) {
        snprintf(err, 256, "%" PRIu64 " intervals: at most %u", n, TWS_TQM_MAX_INTERVALS);
        return TW_EINVAL;
    }
    bool bucketed = m->fn == TQ_M_QUANTILE_OVER_TIME || m->fn == TQ_M_HISTOGRAM_OVER_TIME;
    if (m->n_args > MAX_BY) {
        snprintf(err, 256, "metrics group by %u values: at most %d", m->n_args, MAX_BY);
        return TW_EINVAL;
    }
    acc a = {
        .req = req, .m = m, .fn = m->fn, .n = (uint32_t)n, .n_by = m->n_args,
        .n_key = m->n_args + (bucketed ? 1 : 0), .bucketed = bucketed, .valued = m->l != NULL,
        .max_s = req->max_series ? req->max_series : DEFAULT_MAX_SERIES,
        .max_ex = req->max_exemplars, .rng = 0x6a09e667f3bcc909ull,
    };
    int rc = TW_ENOMEM;
    a.arena = tq_arena_new();
    if (a.max_ex) a.ex_ids = tw__malloc((size_t)a.max_ex * sizeof *a.ex_ids);
    if (!a.arena || (a.max_ex && !a.ex_ids) || rebuild_slots(&a, 64)) goto fail;
    if (!a.n_by && !bucketed && series_for(&a) < 0) goto fail; /* {} | rate(): a line even at zero */
    tws_search_req sr = {.q = req->q, .tenant = req->tenant, .start_ns = req->start_ns, .end_ns = req->end_ns,
                         .threads = req->threads};
    /* one source at a time, so that the blocks know the frozen head's
     * spans; the heads on this thread, the blocks on every core, each
     * scanner into an accumulator of its own (no lock per trace), merged */
    for (a.phase = PHASE_HEAD; a.phase <= PHASE_BLOCKS; a.phase++) {
        tws_search_stats st = {0};
        char e2[256];
        if (a.phase == PHASE_BLOCKS) {
            uint32_t nw = tws_search_threads(&sr);
            acc ws[16];
            void *users[16];
            rc = TW_OK;
            for (uint32_t i = 0; i < nw; i++) {
                users[i] = &ws[i];
                if (rc == TW_OK) rc = worker_acc(&a, &ws[i], i);
                else memset(&ws[i], 0, sizeof ws[i]);
            }
            if (rc == TW_OK) rc = tws_search_visit_each(&sr, NULL, NULL, store, on_trace, users, nw, &st, e2);
            for (uint32_t i = 0; i < nw; i++) {
                if (rc != TW_ENOMEM) rc = merge_acc(&a, &ws[i]) == TW_ENOMEM ? TW_ENOMEM : rc;
                worker_acc_free(&ws[i]);
            }
        } else {
            rc = tws_search_visit(&sr, a.phase == PHASE_HEAD ? head : NULL, a.phase == PHASE_FROZEN ? frozen : NULL,
                                  NULL, on_trace, &a, &st, e2);
        }
        if (rc == TW_ENOMEM) goto fail;
        if (e2[0] && !err[0]) snprintf(err, 256, "%s", e2);
        add_stats(&out->stats, &st);
    }
    rc = finish(&a, out);
    if (rc) goto fail;
    out->start_ns = req->start_ns;
    out->step_ns = req->step_ns;
    out->n_intervals = a.n;
    out->partial = a.partial;
    out->max_series = a.max_s;
    out->spans = a.spans;
    out->arena = a.arena;
    tw__free(a.s);
    tw__free(a.slots);
    tw__free(a.mark);
    tw__free(a.ex_ids);
    tw__free(a.frozen);
    return TW_OK; /* a damaged block is named in err; the others answered */
fail:
    tw__free(a.s);
    tw__free(a.slots);
    tw__free(a.mark);
    tw__free(a.ex_ids);
    tw__free(a.frozen);
    tq_arena_free(a.arena);
    memset(out, 0, sizeof *out);
    if (!err[0]) snprintf(err, 256, "out of memory");
    return TW_ENOMEM;
}

void tws_tqm_result_free(tws_tqm_result *r) {
    if (!r) return;
    tq_arena_free(r->arena);
    memset(r, 0, sizeof *r);
}
