/*
 * eval.c — running a parsed LogQL query (logql.h): the selector against a
 * stream's labels, the pipeline against one record, and the range
 * aggregations of metric queries.
 *
 * The pipeline keeps one working label set per evaluator (stream labels,
 * then structured metadata, then what parsers extract), reused from record
 * to record, so a warm evaluator allocates nothing per record.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "logql/logql_int.h"

#define ERROR_LABEL "__error__"

/* ---- the selector ------------------------------------------------------------------- */

bool lq_matcher_matches(const lq_matcher *m, tw_str v) {
    switch (m->op) {
    case LQ_EQ: return tws_str_equal(v, m->value);
    case LQ_NEQ: return !tws_str_equal(v, m->value);
    case LQ_RE: return lq_re_match(m->re, v.ptr, v.len);
    default: return !lq_re_match(m->re, v.ptr, v.len);
    }
}

bool lq_selector_matches(const lq_query *q, const tws_labels *stream) {
    for (uint32_t i = 0; i < q->n_sel; i++) {
        const lq_matcher *m = &q->sel[i];
        if (!lq_matcher_matches(m, tws_labels_get(stream, m->name.ptr, m->name.len))) return false;
    }
    return true;
}

/* ---- the evaluator ------------------------------------------------------------------- */

struct lq_eval {
    tws_labels cur;     /* the record's labels as the pipeline goes */
    tws_labels keep;    /* scratch for `keep` */
    const tws_labels *stream;
    tw__buf name, val;  /* an extracted label's name and value */
    tw__buf path;       /* the flattened name prefix of `| json` */
};

int lq_eval_new(lq_eval **out) {
    lq_eval *e = tw__calloc(1, sizeof *e);
    if (!e) return TW_ENOMEM;
    tws_labels_init(&e->cur);
    tws_labels_init(&e->keep);
    tw__buf_init(&e->name, 1 << 16);
    tw__buf_init(&e->val, UINT32_MAX);
    tw__buf_init(&e->path, 1 << 16);
    *out = e;
    return TW_OK;
}

void lq_eval_free(lq_eval *e) {
    if (!e) return;
    tws_labels_free(&e->cur);
    tws_labels_free(&e->keep);
    tw__buf_free(&e->name);
    tw__buf_free(&e->val);
    tw__buf_free(&e->path);
    tw__free(e);
}

static bool has_error(const lq_eval *e) { return tws_labels_find(&e->cur, ERROR_LABEL, 9) >= 0; }

static int set_error(lq_eval *e, const char *what) {
    if (has_error(e)) return 0; /* the first error stays */
    return tws_labels_set(&e->cur, ERROR_LABEL, 9, what, strlen(what));
}

/* A name as a label name: [A-Za-z0-9_] kept, anything else '_', a leading
 * digit prefixed with '_' (Loki's sanitizeLabelKey). Appended to b. */
static void sanitize_into(tw__buf *b, const char *s, size_t n) {
    if (n && s[0] >= '0' && s[0] <= '9' && b->len == 0) tw__buf_putc(b, '_');
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        tw__buf_putc(b, ok ? c : '_');
    }
}

/* Set an extracted label (e->name = e->val): a name that is a stream label
 * becomes name_extracted. */
static int put_extracted(lq_eval *e, bool keep_empty) {
    if (e->name.failed || e->val.failed) return TW_ENOMEM;
    if (!e->name.len) return 0;
    if (tws_labels_find(e->stream, (const char *)e->name.data, e->name.len) >= 0)
        tw__buf_append(&e->name, "_extracted", 10);
    if (e->name.failed) return TW_ENOMEM;
    (void)keep_empty; /* an empty value is an absent label (tws_labels) */
    return tws_labels_set(&e->cur, (const char *)e->name.data, e->name.len, e->val.len ? (const char *)e->val.data : "",
                          e->val.len);
}

/* A JSON value as a label value: a string unquoted, anything else its text. */
static int json_value_text(tw_str v, tw__buf *out) {
    out->len = 0;
    if (v.len && v.ptr[0] == '"') return tw__json_unquote(v, out) ? TW_EPARSE : 0;
    if (v.len == 4 && !memcmp(v.ptr, "null", 4)) return 0;
    return tw__buf_append(out, v.ptr, v.len);
}

/* Every member of the object at it (nested objects flattened a_b, arrays
 * skipped). e->path holds the sanitized name of the enclosing object. */
static int json_all(lq_eval *e, tw__json_iter *it, int depth) {
    tw_str key;
    int r;
    size_t base = e->path.len;
    while ((r = tw__json_iter_next(it, &key)) == 1) {
        const char *ve = tw__json_skip(it->p, it->end);
        if (!ve) return TW_EPARSE;
        tw_str v = {it->p, (size_t)(ve - it->p)};
        e->val.len = 0;
        if (tw__json_unquote(key, &e->val)) return TW_EPARSE;
        e->path.len = base;
        if (base) tw__buf_putc(&e->path, '_');
        sanitize_into(&e->path, e->val.len ? (const char *)e->val.data : "", e->val.len);
        if (e->path.failed) return TW_ENOMEM;
        if (v.ptr[0] == '{') {
            if (depth >= LQ_MAX_DEPTH) return TW_EPARSE;
            tw__json_iter sub;
            if (tw__json_iter_open(&sub, v.ptr, ve, '{')) return TW_EPARSE;
            int rc = json_all(e, &sub, depth + 1);
            if (rc) return rc;
        } else if (v.ptr[0] != '[') {
            e->name.len = 0;
            tw__buf_append(&e->name, e->path.data, e->path.len);
            if (json_value_text(v, &e->val)) return TW_EPARSE;
            int rc = put_extracted(e, false);
            if (rc) return rc;
        }
        it->p = ve;
    }
    e->path.len = base;
    return r;
}

/* The value at `path` in the JSON text v; false when it is not there.
 * `tmp` is scratch for member names. */
static bool json_at(tw_str v, const lq_path *path, uint32_t n, tw__buf *tmp, tw_str *out) {
    for (uint32_t i = 0; i < n; i++) {
        const lq_path *p = &path[i];
        tw__json_iter it;
        if (tw__json_iter_open(&it, v.ptr, v.ptr + v.len, p->key.ptr ? '{' : '[')) return false;
        tw_str key;
        long idx = 0;
        bool found = false;
        while (!found && tw__json_iter_next(&it, &key) == 1) {
            const char *ve = tw__json_skip(it.p, it.end);
            if (!ve) return false;
            if (p->key.ptr) {
                tmp->len = 0;
                found = tw__json_unquote(key, tmp) == 0 && tmp->len == p->key.len &&
                        (!tmp->len || !memcmp(tmp->data, p->key.ptr, tmp->len));
            } else {
                found = idx++ == p->index;
            }
            if (found) v = (tw_str){it.p, (size_t)(ve - it.p)};
            it.p = ve;
        }
        if (!found) return false;
    }
    *out = v;
    return true;
}

static int stage_json(lq_eval *e, const lq_stage *st, tw_str line) {
    const char *p = tw__json_ws(line.ptr, line.ptr + line.len);
    const char *end = line.ptr + line.len;
    const char *ve = p < end && *p == '{' ? tw__json_skip(p, end) : NULL;
    if (!ve || tw__json_ws(ve, end) != end) return set_error(e, "JSONParserErr");
    tw_str obj = {p, (size_t)(ve - p)};
    if (st->n_ex == 0) {
        tw__json_iter it;
        tw__json_iter_open(&it, obj.ptr, ve, '{');
        e->path.len = 0;
        int rc = json_all(e, &it, 0);
        return rc == TW_ENOMEM ? rc : rc ? set_error(e, "JSONParserErr") : 0;
    }
    for (uint32_t i = 0; i < st->n_ex; i++) {
        const lq_extract *x = &st->ex[i];
        tw_str v;
        e->name.len = 0;
        tw__buf_append(&e->name, x->label.ptr, x->label.len);
        e->val.len = 0;
        if (json_at(obj, x->path, x->n_path, &e->path, &v) && json_value_text(v, &e->val)) continue;
        int rc = put_extracted(e, false);
        if (rc) return rc;
    }
    return 0;
}

/* logfmt: key=value, key="quoted value", or a bare key; blanks between. */
static int stage_logfmt(lq_eval *e, const lq_stage *st, tw_str line) {
    const char *p = line.ptr, *end = line.ptr + line.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (p >= end) break;
        const char *ks = p;
        while (p < end && *p != '=' && *p != ' ' && *p != '\t' && *p != '"') p++;
        tw_str key = {ks, (size_t)(p - ks)};
        bool bad = key.len == 0 || (p < end && *p == '"');
        e->val.len = 0;
        if (!bad && p < end && *p == '=') {
            p++;
            if (p < end && *p == '"') {
                const char *qs = p++;
                while (p < end && *p != '"') p += *p == '\\' && p + 1 < end ? 2 : 1;
                if (p >= end) {
                    bad = true;
                } else {
                    p++;
                    if (tw__json_unquote((tw_str){qs, (size_t)(p - qs)}, &e->val)) {
                        e->val.len = 0;
                        tw__buf_append(&e->val, qs + 1, (size_t)(p - qs) - 2);
                    }
                }
            } else {
                const char *vs = p;
                while (p < end && *p != ' ' && *p != '\t') p++;
                tw__buf_append(&e->val, vs, (size_t)(p - vs));
            }
        }
        if (bad) {
            if (st->strict) return set_error(e, "LogfmtParserErr");
            while (p < end && *p != ' ' && *p != '\t') p++; /* skip the malformed pair */
            continue;
        }
        bool wanted = st->n_ex == 0;
        const lq_extract *x = NULL;
        for (uint32_t i = 0; i < st->n_ex && !wanted; i++)
            if (tws_str_equal(st->ex[i].path[0].key, key)) wanted = true, x = &st->ex[i];
        if (!wanted) continue;
        e->name.len = 0;
        if (x) tw__buf_append(&e->name, x->label.ptr, x->label.len);
        else sanitize_into(&e->name, key.ptr, key.len);
        int rc = put_extracted(e, st->keep_empty);
        if (rc) return rc;
    }
    return 0;
}

static bool cmp_num(lq_cmp c, double a, double b) {
    switch (c) {
    case LQ_CMP_EQ: return a == b;
    case LQ_CMP_NEQ: return a != b;
    case LQ_CMP_GT: return a > b;
    case LQ_CMP_GTE: return a >= b;
    case LQ_CMP_LT: return a < b;
    default: return a <= b;
    }
}

/* 1 pass, 0 drop, <0 an error code. */
static int label_filter(lq_eval *e, const lq_lf *f) {
    switch (f->kind) {
    case LQ_LF_AND: {
        int l = label_filter(e, f->l);
        if (l < 0) return l;
        int r = label_filter(e, f->r); /* both sides run: each may set its error */
        return r < 0 ? r : l && r;
    }
    case LQ_LF_OR: {
        int l = label_filter(e, f->l);
        return l != 0 ? l : label_filter(e, f->r);
    }
    case LQ_LF_STRING: return lq_matcher_matches(&f->m, tws_labels_get(&e->cur, f->m.name.ptr, f->m.name.len));
    default: break;
    }
    if (has_error(e)) return 1; /* only string filters drop lines with an error */
    long i = tws_labels_find(&e->cur, f->m.name.ptr, f->m.name.len);
    if (i < 0) return 0;
    tw_str v = tws_labels_value(&e->cur, (uint32_t)i);
    double x;
    int64_t ns;
    bool ok;
    if (f->kind == LQ_LF_NUMBER) ok = lq_scan_float(v.ptr, v.len, &x);
    else if (f->kind == LQ_LF_BYTES) ok = lq_scan_bytes(v.ptr, v.len, &x);
    else ok = lq_scan_duration(v.ptr, v.len, false, &ns), x = (double)ns;
    if (!ok) {
        int rc = set_error(e, "LabelFilterErr");
        return rc ? rc : 1;
    }
    return cmp_num(f->cmp, x, f->num);
}

static bool line_stage(const lq_stage *st, tw_str line) {
    bool any = false;
    for (uint32_t i = 0; i < st->n_alts && !any; i++) {
        if (st->op == LQ_LINE_RE || st->op == LQ_LINE_NRE) any = lq_re_match(st->res[i], line.ptr, line.len);
        else any = st->alts[i].len == 0 || (line.len && memmem(line.ptr, line.len, st->alts[i].ptr, st->alts[i].len));
    }
    return st->op == LQ_LINE_CONTAINS || st->op == LQ_LINE_RE ? any : !any;
}

/* drop: the named labels (those whose value matches, with a matcher).
 * keep: only the named labels (and __error__). */
static int names_stage(lq_eval *e, const lq_stage *st) {
    if (st->kind == LQ_S_DROP) {
        for (uint32_t i = 0; i < st->n_names; i++) {
            const lq_matcher *m = &st->names[i];
            tw_str v = tws_labels_get(&e->cur, m->name.ptr, m->name.len);
            if (!m->op || lq_matcher_matches(m, v)) tws_labels_del(&e->cur, m->name.ptr, m->name.len);
        }
        return 0;
    }
    tws_labels_reset(&e->keep);
    for (uint32_t i = 0; i < e->cur.n; i++) {
        tw_str n = tws_labels_name(&e->cur, i), v = tws_labels_value(&e->cur, i);
        bool kept = n.len == 9 && !memcmp(n.ptr, ERROR_LABEL, 9);
        for (uint32_t k = 0; k < st->n_names && !kept; k++) {
            const lq_matcher *m = &st->names[k];
            kept = tws_str_equal(m->name, n) && (!m->op || lq_matcher_matches(m, v));
        }
        if (kept && tws_labels_set(&e->keep, n.ptr, n.len, v.ptr, v.len)) return TW_ENOMEM;
    }
    return tws_labels_copy(&e->cur, &e->keep);
}

int lq_eval_record(lq_eval *e, const lq_query *q, const tws_labels *stream, tw_str line, const tws_labels *metadata,
                   const tws_labels **out) {
    /* line filters before the first parser need no labels: run them first */
    uint32_t s = 0;
    for (; s < q->n_stages && q->stages[s].kind == LQ_S_LINE; s++)
        if (!line_stage(&q->stages[s], line)) return 0;
    e->stream = stream;
    int rc = tws_labels_copy(&e->cur, stream);
    for (uint32_t i = 0; rc == 0 && metadata && i < metadata->n; i++) {
        tw_str n = tws_labels_name(metadata, i), v = tws_labels_value(metadata, i);
        rc = tws_labels_add(&e->cur, n.ptr, n.len, v.ptr, v.len);
    }
    if (rc) return TW_ENOMEM;
    for (; s < q->n_stages; s++) {
        const lq_stage *st = &q->stages[s];
        switch (st->kind) {
        case LQ_S_LINE:
            if (!line_stage(st, line)) return 0;
            break;
        case LQ_S_JSON: rc = stage_json(e, st, line); break;
        case LQ_S_LOGFMT: rc = stage_logfmt(e, st, line); break;
        case LQ_S_LABEL:
            rc = label_filter(e, st->lf);
            if (rc == 0) return 0;
            rc = rc < 0 ? rc : 0;
            break;
        default: rc = names_stage(e, st); break;
        }
        if (rc) return rc;
    }
    *out = &e->cur;
    return 1;
}

/* ---- metric queries ----------------------------------------------------------------- */

typedef struct acc_series {
    tws_labels labels;
    uint64_t hash;
    double *v; /* per step; NAN: no record in the window */
} acc_series;

struct lq_acc {
    const lq_metric *m;
    int64_t start, end, step;
    uint32_t n_steps, max_series;
    acc_series *series;
    uint32_t n_series, cap_series;
    uint32_t *slots; /* open addressing over series, index + 1 */
    uint32_t n_slots;
    tws_labels key;  /* the grouped labels of the record being added */
    tw__buf text;
    char err[200];
};

int lq_acc_new(const lq_query *q, int64_t start_ns, int64_t end_ns, int64_t step_ns, uint32_t max_series,
               lq_acc **out) {
    const lq_metric *m = lq_query_metric(q);
    if (!m || end_ns < start_ns || step_ns < 0) return TW_ERANGE;
    uint64_t steps = step_ns ? (uint64_t)(end_ns - start_ns) / (uint64_t)step_ns + 1 : 1;
    if (steps > LQ_MAX_STEPS) return TW_ERANGE;
    lq_acc *a = tw__calloc(1, sizeof *a);
    if (!a) return TW_ENOMEM;
    a->m = m;
    a->start = step_ns ? start_ns : end_ns;
    a->end = end_ns;
    a->step = step_ns;
    a->n_steps = (uint32_t)steps;
    a->max_series = max_series;
    tws_labels_init(&a->key);
    tw__buf_init(&a->text, UINT32_MAX);
    *out = a;
    return TW_OK;
}

void lq_acc_free(lq_acc *a) {
    if (!a) return;
    for (uint32_t i = 0; i < a->n_series; i++) {
        tws_labels_free(&a->series[i].labels);
        tw__free(a->series[i].v);
    }
    tw__free(a->series);
    tw__free(a->slots);
    tws_labels_free(&a->key);
    tw__buf_free(&a->text);
    tw__free(a);
}

static bool in_list(const lq_metric *m, tw_str n) {
    for (uint32_t i = 0; i < m->n_labels; i++)
        if (tws_str_equal(m->labels[i], n)) return true;
    return false;
}

static uint64_t fnv(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int grow_slots(lq_acc *a) {
    uint32_t n = a->n_slots ? a->n_slots * 2 : 64;
    uint32_t *s = tw__calloc(n, sizeof *s);
    if (!s) return TW_ENOMEM;
    for (uint32_t i = 0; i < a->n_series; i++) {
        uint32_t k = (uint32_t)a->series[i].hash & (n - 1);
        while (s[k]) k = (k + 1) & (n - 1);
        s[k] = i + 1;
    }
    tw__free(a->slots);
    a->slots = s;
    a->n_slots = n;
    return 0;
}

/* The series of a->key, created when new; NULL with *rc set. */
static acc_series *series_of(lq_acc *a, int *rc) {
    a->text.len = 0;
    if ((*rc = tws_labels_write(&a->key, &a->text))) return NULL;
    uint64_t h = fnv(a->text.data, a->text.len);
    if ((a->n_series + 1) * 2 > a->n_slots && (*rc = grow_slots(a))) return NULL;
    uint32_t k = (uint32_t)h & (a->n_slots - 1);
    for (; a->slots[k]; k = (k + 1) & (a->n_slots - 1)) {
        acc_series *s = &a->series[a->slots[k] - 1];
        if (s->hash == h && tws_labels_equal(&s->labels, &a->key)) return s;
    }
    if (a->max_series && a->n_series >= a->max_series) {
        snprintf(a->err, sizeof a->err, "maximum of series (%u) reached for a single query", a->max_series);
        *rc = TW_ERANGE;
        return NULL;
    }
    if (a->n_series == a->cap_series) {
        uint32_t cap = a->cap_series ? a->cap_series * 2 : 16;
        acc_series *ns = tw__realloc(a->series, cap * sizeof *ns);
        if (!ns) return *rc = TW_ENOMEM, NULL;
        a->series = ns;
        a->cap_series = cap;
    }
    acc_series *s = &a->series[a->n_series];
    memset(s, 0, sizeof *s);
    tws_labels_init(&s->labels);
    s->hash = h;
    s->v = tw__malloc(a->n_steps * sizeof *s->v);
    if (!s->v || tws_labels_copy(&s->labels, &a->key)) {
        tws_labels_free(&s->labels);
        tw__free(s->v);
        return *rc = TW_ENOMEM, NULL;
    }
    for (uint32_t i = 0; i < a->n_steps; i++) s->v[i] = NAN;
    a->slots[k] = ++a->n_series;
    return s;
}

int lq_acc_add(lq_acc *a, int64_t ts, const tws_labels *labels, size_t line_len) {
    a->err[0] = '\0';
    long ei = tws_labels_find(labels, ERROR_LABEL, 9);
    if (ei >= 0) {
        tw_str v = tws_labels_value(labels, (uint32_t)ei);
        a->text.len = 0;
        tws_labels_write(labels, &a->text);
        tw__buf_putc(&a->text, '\0');
        snprintf(a->err, sizeof a->err,
                 "pipeline error: '%.*s' for series: '%.80s'. Use a label filter to intentionally skip this error. "
                 "(e.g | __error__!=\"%.*s\")",
                 (int)TW_MIN(v.len, 40u), v.ptr, a->text.failed ? "" : (const char *)a->text.data,
                 (int)TW_MIN(v.len, 40u), v.ptr);
        return TW_EINVAL;
    }
    /* the steps t with t - range < ts <= t */
    int64_t range = a->m->range_ns;
    uint32_t first, last;
    if (!a->step) {
        if (!(ts <= a->end && ts > a->end - range)) return TW_OK;
        first = last = 0;
    } else {
        if (ts > a->end || ts <= a->start - range) return TW_OK;
        int64_t lo = ts - a->start; /* t >= ts */
        first = lo <= 0 ? 0 : (uint32_t)((lo + a->step - 1) / a->step);
        int64_t hi = ts + range - 1 - a->start; /* t < ts + range */
        if (hi < 0) return TW_OK;
        last = (uint32_t)TW_MIN((uint64_t)(hi / a->step), (uint64_t)a->n_steps - 1);
        if (first > last) return TW_OK;
    }
    tws_labels_reset(&a->key);
    if (a->m->grouping != LQ_GROUP_ALL) {
        for (uint32_t i = 0; i < labels->n; i++) {
            tw_str n = tws_labels_name(labels, i), v = tws_labels_value(labels, i);
            bool listed = in_list(a->m, n);
            bool take = a->m->grouping == LQ_GROUP_NONE || (a->m->grouping == LQ_GROUP_BY ? listed : !listed);
            if (take && tws_labels_set(&a->key, n.ptr, n.len, v.ptr, v.len)) return TW_ENOMEM;
        }
    }
    int rc = 0;
    acc_series *s = series_of(a, &rc);
    if (!s) return rc;
    bool bytes = a->m->fn == LQ_BYTES_OVER_TIME || a->m->fn == LQ_BYTES_RATE;
    double add = bytes ? (double)line_len : 1.0;
    for (uint32_t i = first; i <= last; i++) s->v[i] = isnan(s->v[i]) ? add : s->v[i] + add;
    return TW_OK;
}

const char *lq_acc_error(const lq_acc *a) { return a->err; }
uint32_t lq_acc_n_series(const lq_acc *a) { return a->n_series; }
uint32_t lq_acc_n_steps(const lq_acc *a) { return a->n_steps; }
int64_t lq_acc_step_time(const lq_acc *a, uint32_t step) { return a->step ? a->start + (int64_t)step * a->step : a->end; }
const tws_labels *lq_acc_labels(const lq_acc *a, uint32_t series) { return &a->series[series].labels; }

bool lq_acc_value(const lq_acc *a, uint32_t series, uint32_t step, double *v) {
    double x = a->series[series].v[step];
    if (isnan(x)) return false;
    if (a->m->fn == LQ_RATE || a->m->fn == LQ_BYTES_RATE) x /= (double)a->m->range_ns / 1e9;
    *v = x;
    return true;
}
