/*
 * filter.c — predicates evaluated on a row group's columns (block.h
 * tws_rg_mark): which spans hold a value that passes a test, found without
 * decoding a single span.
 *
 * Only the columns the field lives in are loaded. A string test runs once
 * per distinct value: once per dictionary entry for names and messages,
 * once per value of an attribute column (each column numbers its own
 * values), once per resource or scope for their attributes; the spans then
 * only compare codes. Span attribute columns are found by the key column
 * (format 2), so an attribute key absent from the row group costs reading
 * a few hundred bytes of keys, and a present one its column alone: the
 * dictionary is loaded only for fields that refer to it.
 *
 * Invariants: marks are only ever set, never cleared, so callers can OR
 * several fields into one array; a damaged column gives TW_EPARSE, never a
 * read out of bounds.
 */
#include <string.h>

#include "block/rowgroup.h"

/* Remembered answers of a test, by the number of the value tested. */
typedef struct memo {
    uint8_t *v; /* 0 not asked, 1 failed, 2 passed */
    uint32_t cap;
} memo;

static int memo_room(memo *m, uint32_t i) {
    if (i < m->cap) return TW_OK;
    uint32_t cap = m->cap ? m->cap : 256;
    while (cap <= i) cap *= 2;
    uint8_t *v = tw__realloc(m->v, cap);
    if (!v) return TW_ENOMEM;
    memset(v + m->cap, 0, cap - m->cap);
    m->v = v;
    m->cap = cap;
    return TW_OK;
}

static int memo_get(memo *m, uint32_t i, tws_value_test test, void *ctx, const tws_value *val, bool *pass) {
    if (memo_room(m, i)) return TW_ENOMEM;
    if (!m->v[i]) m->v[i] = test(ctx, val) ? 2 : 1;
    *pass = m->v[i] == 2;
    return TW_OK;
}

/* Attribute column types stored bare (the others as generic values). */
static bool is_scalar(uint8_t t) { return t == TWS_INT || t == TWS_DOUBLE || t == TWS_BOOL; }

static bool key_is(const tw_str *k, const char *key, size_t key_len) {
    return k->len == key_len && (!key_len || !memcmp(k->ptr, key, key_len));
}

/* Does one of the generic attributes of `a` named `key` pass? */
static bool attrs_pass(const tws_attrs *a, const char *key, size_t key_len, tws_value_test test, void *ctx) {
    for (uint32_t i = 0; i < a->n; i++)
        if (key_is(&a->items[i].key, key, key_len) && test(ctx, &a->items[i].val)) return true;
    return false;
}

/* Spans by shape: per shape, does its scope (resource) pass? */
static int mark_by_scope(tws_rg *r, const uint8_t *scope_pass, uint8_t *mark) {
    int rc = tws__rg_col(r, &r->fixed[COL_SHAPE]);
    if (rc) return rc;
    bool any = false;
    for (uint32_t i = 0; i < r->out->n_scopes; i++) any |= scope_pass[i] != 0;
    if (!any) return TW_OK;
    tws_rd d = tws__col_rd(&r->fixed[COL_SHAPE]);
    for (uint32_t s = 0; s < r->n_spans; s++) {
        uint64_t sh = tws_rd_varint(&d);
        if (d.bad || sh >= r->n_shapes) return tws__rg_bad(r, "span shapes");
        if (scope_pass[r->shapes[sh].scope]) mark[s] = 1;
    }
    return TW_OK;
}

static int mark_resource_or_scope(tws_rg *r, bool resource, const char *key, size_t key_len, tws_value_test test,
                                  void *ctx, uint8_t *mark) {
    int rc0 = tws__rg_tables(r);
    if (rc0) return rc0;
    tws_batch *o = r->out;
    uint8_t *pass = tw__calloc(o->n_scopes + 1, 1);
    uint8_t *rpass = tw__calloc(o->n_resources + 1, 1);
    int rc = pass && rpass ? TW_OK : TW_ENOMEM;
    if (rc == TW_OK) {
        for (uint32_t i = 0; resource && i < o->n_resources; i++)
            rpass[i] = attrs_pass(&o->resources[i].attrs, key, key_len, test, ctx);
        for (uint32_t i = 0; i < o->n_scopes; i++)
            pass[i] = resource ? rpass[o->scopes[i].resource_idx] : attrs_pass(&o->scopes[i].attrs, key, key_len, test, ctx);
        rc = mark_by_scope(r, pass, mark);
    }
    tw__free(pass);
    tw__free(rpass);
    return rc;
}

/* Span attributes: the columns of `key` (any type), then the extra column. */
static int mark_span_attr(tws_rg *r, const char *key, size_t key_len, tws_value_test test, void *ctx, const tw_str *eq,
                          uint8_t *mark) {
    int rc = tws__rg_col(r, &r->fixed[COL_ATTR_MORE]);
    if (rc || (rc = tws__rg_keys(r))) return rc;
    /* the extra column, when present, holds per span: n, n x (key id, value) */
    tws_rd more = tws__col_rd(&r->fixed[COL_ATTR_MORE]);
    if (r->fixed[COL_ATTR_MORE].len > r->n_spans) { /* (one byte per span would mean every count is 0) */
        if ((rc = tws__rg_dict(r))) return rc;
        for (uint32_t s = 0; s < r->n_spans; s++) {
            uint64_t n = tws_rd_varint(&more);
            if (more.bad || n > (uint64_t)(more.end - more.p) / 2) return tws__rg_bad(r, "extra attributes");
            for (uint64_t i = 0; i < n; i++) {
                tw_str k;
                tws_value v;
                if (tws__rg_dict_id(r, &more, &k)) return tws__rg_bad(r, "extra attributes");
                rc = tws__rg_value(r, &more, &v, tws_rd_u8(&more), 0);
                if (rc == TW_ENOMEM) return rc;
                if (rc) return tws__rg_bad(r, "extra attributes");
                if (key_is(&k, key, key_len) && test(ctx, &v)) mark[s] = 1;
            }
        }
    }
    uint32_t *uses = NULL; /* per shape: how many times it lists the column */
    memo m = {0};
    for (uint32_t c = 0; rc == TW_OK && c < r->n_attrs; c++) {
        col *cc = &r->attrs[c];
        if (!key_is(&r->keys[c], key, key_len)) continue;
        bool generic = cc->type != TWS_STRING && !is_scalar(cc->type); /* its values name strings by dictionary id */
        if ((generic && (rc = tws__rg_dict(r))) || (rc = tws__rg_col(r, cc))) break;
        if (m.v) memset(m.v, 0, m.cap);
        /* first the values alone: a string is tested when it first appears;
         * when nothing passes (a selective query's usual case) the spans
         * are never walked */
        bool any = false;
        tws_rd d = tws__col_rd(cc);
        cc->n_seen = 0;
        uint32_t n_new = 0;
        while (rc == TW_OK && d.p < d.end) {
            bool pass = false;
            if (cc->type == TWS_STRING) { /* 0, length, bytes: a new value; 1 + k: the k-th again */
                uint64_t v = tws_rd_varint(&d);
                if (v) {
                    if (d.bad || v - 1 >= n_new) rc = TW_EPARSE;
                    continue;
                }
                uint64_t len = tws_rd_varint(&d);
                const uint8_t *p = !d.bad && len <= (uint64_t)(d.end - d.p) ? tws_rd_bytes(&d, (size_t)len) : NULL;
                if (!p) {
                    rc = TW_EPARSE;
                    continue;
                }
                uint32_t num = n_new++;
                if (eq) { /* only passing values are remembered: the walk below asks for 2 */
                    pass = len == eq->len && (!len || !memcmp(p, eq->ptr, (size_t)len));
                    if (pass && !(rc = memo_room(&m, num))) m.v[num] = 2;
                } else {
                    tws_value sv = {.type = TWS_STRING, .u.s = {(const char *)p, (size_t)len}};
                    rc = memo_get(&m, num, test, ctx, &sv, &pass);
                }
            } else {
                tws_value v;
                if (!(rc = tws__rg_value(r, &d, &v, is_scalar(cc->type) ? cc->type : tws_rd_u8(&d), 0))) pass = test(ctx, &v);
            }
            any |= pass;
        }
        if (rc) {
            if (rc != TW_ENOMEM) rc = tws__rg_bad(r, "attribute values");
            break;
        }
        if (!any) continue;
        /* then the spans that hold the passing values: the i-th value of the
         * column belongs to the i-th span whose shape lists the column */
        if ((rc = tws__rg_shapes(r)) || (rc = tws__rg_col(r, &r->fixed[COL_SHAPE]))) break;
        if (!uses && !(uses = tw__malloc(r->n_shapes * sizeof *uses))) {
            rc = TW_ENOMEM;
            break;
        }
        memset(uses, 0, r->n_shapes * sizeof *uses);
        for (uint32_t i = 0; i < r->n_shapes; i++)
            for (uint32_t j = 0; j < r->shapes[i].len; j++) uses[i] += r->shape_cols[r->shapes[i].off + j] == c;
        tws_rd sh = tws__col_rd(&r->fixed[COL_SHAPE]);
        d = tws__col_rd(cc);
        cc->n_seen = 0;
        for (uint32_t s = 0; rc == TW_OK && s < r->n_spans; s++) {
            uint64_t k = tws_rd_varint(&sh);
            if (sh.bad || k >= r->n_shapes) {
                rc = tws__rg_bad(r, "span shapes");
                break;
            }
            for (uint32_t u = 0; u < uses[k]; u++) {
                bool pass;
                if (cc->type == TWS_STRING) {
                    tw_str str;
                    uint32_t num;
                    if ((rc = tws__rg_col_str(r, cc, &d, &str, &num))) break;
                    pass = num < m.cap && m.v[num] == 2; /* every value was tested above */
                } else {
                    tws_value v;
                    if ((rc = tws__rg_value(r, &d, &v, is_scalar(cc->type) ? cc->type : tws_rd_u8(&d), 0))) break;
                    pass = test(ctx, &v);
                }
                if (pass) mark[s] = 1;
            }
            if (rc && rc != TW_ENOMEM) rc = tws__rg_bad(r, "attribute values");
        }
    }
    tw__free(uses);
    tw__free(m.v);
    return rc;
}

/* Events (attributes or names) and links (attributes), walked span by span. */
static int mark_events_links(tws_rg *r, tws_field f, const char *key, size_t key_len, tws_value_test test, void *ctx,
                             uint8_t *mark) {
    bool events = f != TWS_F_LINK_ATTR;
    col *c = &r->fixed[events ? COL_EVENTS : COL_LINKS];
    int rc = tws__rg_col(r, c);
    if (rc) return rc;
    tws_rd d = tws__col_rd(c);
    if (d.p == d.end) return TW_OK;
    memo names = {0};
    const char *what = events ? "events" : "links";
    for (uint32_t s = 0; rc == TW_OK && s < r->n_spans; s++) {
        uint64_t n = tws_rd_varint(&d);
        if (d.bad || n > (uint64_t)(d.end - d.p) / 3) {
            rc = tws__rg_bad(r, what);
            break;
        }
        for (uint64_t i = 0; rc == TW_OK && i < n; i++) {
            if (events) {
                tws_rd_varint(&d); /* time */
                uint64_t id = tws_rd_varint(&d);
                if (d.bad || id >= r->n_dict) {
                    rc = tws__rg_bad(r, what);
                    break;
                }
                if (f == TWS_F_EVENT_NAME) {
                    bool pass;
                    tws_value v = {.type = TWS_STRING, .u.s = r->dict[id]};
                    if ((rc = memo_get(&names, (uint32_t)id, test, ctx, &v, &pass))) break;
                    if (pass) mark[s] = 1;
                }
            } else if (!tws_rd_bytes(&d, 24) || (tws_rd_varint(&d), tws_rd_varint(&d), d.bad)) {
                rc = tws__rg_bad(r, what); /* ids, trace state, flags */
                break;
            }
            /* attributes: n, n x (key id, value), dropped */
            uint64_t na = tws_rd_varint(&d);
            if (d.bad || na > (uint64_t)(d.end - d.p) / 2) {
                rc = tws__rg_bad(r, what);
                break;
            }
            for (uint64_t a = 0; a < na; a++) {
                tw_str k;
                tws_value v;
                bool want = f != TWS_F_EVENT_NAME;
                if (tws__rg_dict_id(r, &d, &k)) {
                    rc = tws__rg_bad(r, what);
                    break;
                }
                want = want && key_is(&k, key, key_len);
                if ((rc = tws__rg_value(r, &d, want ? &v : NULL, tws_rd_u8(&d), 0))) {
                    if (rc != TW_ENOMEM) rc = tws__rg_bad(r, what);
                    break;
                }
                if (want && test(ctx, &v)) mark[s] = 1;
            }
            tws_rd_varint(&d); /* dropped */
            if (rc == TW_OK && d.bad) rc = tws__rg_bad(r, what);
        }
    }
    tw__free(names.v);
    return rc;
}

/* Names, status messages, status codes, kinds, durations. */
static int mark_intrinsic(tws_rg *r, tws_field f, tws_value_test test, void *ctx, uint8_t *mark) {
    int rc;
    memo m = {0};
    if (f == TWS_F_NAME) {
        if ((rc = tws__rg_col(r, &r->fixed[COL_NAME]))) return rc;
        tws_rd d = tws__col_rd(&r->fixed[COL_NAME]);
        for (uint32_t s = 0; s < r->n_spans; s++) {
            uint64_t id = tws_rd_varint(&d);
            if (d.bad || id >= r->n_dict) {
                tw__free(m.v);
                return tws__rg_bad(r, "span names");
            }
            bool pass;
            tws_value v = {.type = TWS_STRING, .u.s = r->dict[id]};
            if ((rc = memo_get(&m, (uint32_t)id, test, ctx, &v, &pass))) break;
            if (pass) mark[s] = 1;
        }
        tw__free(m.v);
        return rc;
    }
    if (f == TWS_F_DURATION) {
        if ((rc = tws__rg_col(r, &r->fixed[COL_DURATION]))) return rc;
        tws_rd d = tws__col_rd(&r->fixed[COL_DURATION]);
        for (uint32_t s = 0; s < r->n_spans; s++) {
            int64_t x = tws_unzigzag(tws_rd_varint(&d));
            tws_value v = {.type = TWS_INT, .u.i = x > 0 ? x : 0}; /* as the span's duration reads */
            if (d.bad) return tws__rg_bad(r, "span durations");
            if (test(ctx, &v)) mark[s] = 1;
        }
        return TW_OK;
    }
    /* status code, kind and status message come from the bits column */
    if ((rc = tws__rg_col(r, &r->fixed[COL_BITS]))) return rc;
    if (f == TWS_F_STATUS_MSG && (rc = tws__rg_col(r, &r->fixed[COL_STATUS_MSG]))) return rc;
    const col *bits = &r->fixed[COL_BITS];
    if (bits->len != r->n_spans) return tws__rg_bad(r, "span bits");
    tws_rd msg = tws__col_rd(&r->fixed[COL_STATUS_MSG]);
    uint8_t known[8] = {0}; /* status (0..2), kind (0..5) or "no message": 0 not asked, 1 failed, 2 passed */
    for (uint32_t s = 0; s < r->n_spans; s++) {
        uint8_t b = bits->p[s];
        if (f == TWS_F_STATUS_MSG) {
            if (!(b & SPB_STATUS_MSG)) { /* no message reads as "" */
                if (!known[0]) {
                    tws_value v = {.type = TWS_STRING, .u.s = {"", 0}};
                    known[0] = test(ctx, &v) ? 2 : 1;
                }
                if (known[0] == 2) mark[s] = 1;
                continue;
            }
            uint64_t id = tws_rd_varint(&msg);
            if (msg.bad || id >= r->n_dict) {
                tw__free(m.v);
                return tws__rg_bad(r, "status messages");
            }
            bool pass;
            tws_value v = {.type = TWS_STRING, .u.s = r->dict[id]};
            if ((rc = memo_get(&m, (uint32_t)id, test, ctx, &v, &pass))) {
                tw__free(m.v);
                return rc;
            }
            if (pass) mark[s] = 1;
            continue;
        }
        uint8_t x = f == TWS_F_STATUS ? (b >> 3) & 3 : b & 7;
        if (!known[x]) {
            tws_value v = {.type = TWS_INT, .u.i = x};
            known[x] = test(ctx, &v) ? 2 : 1;
        }
        if (known[x] == 2) mark[s] = 1;
    }
    tw__free(m.v);
    return TW_OK;
}

int tws_rg_mark(tws_rg *r, tws_field f, const char *key, size_t key_len, tws_value_test test, void *ctx,
                uint8_t *mark, char err[256]) {
    return tws_rg_mark_eq(r, f, key, key_len, test, ctx, NULL, mark, err);
}

int tws_rg_mark_eq(tws_rg *r, tws_field f, const char *key, size_t key_len, tws_value_test test, void *ctx,
                   const tw_str *eq, uint8_t *mark, char err[256]) {
    err[0] = 0;
    r->err = err;
    /* the dictionary only for what refers to it: span attributes find
     * their columns by the key column (format 2), and status, kind and
     * duration are numbers */
    bool dict = f != TWS_F_SPAN_ATTR && f != TWS_F_STATUS && f != TWS_F_KIND && f != TWS_F_DURATION;
    int rc = dict ? tws__rg_dict(r) : TW_OK;
    if (rc) return rc;
    switch (f) {
    case TWS_F_SPAN_ATTR: return mark_span_attr(r, key, key_len, test, ctx, eq, mark);
    case TWS_F_RESOURCE_ATTR: return mark_resource_or_scope(r, true, key, key_len, test, ctx, mark);
    case TWS_F_SCOPE_ATTR: return mark_resource_or_scope(r, false, key, key_len, test, ctx, mark);
    case TWS_F_EVENT_ATTR: case TWS_F_EVENT_NAME: case TWS_F_LINK_ATTR:
        return mark_events_links(r, f, key, key_len, test, ctx, mark);
    case TWS_F_NAME: case TWS_F_STATUS_MSG: case TWS_F_STATUS: case TWS_F_KIND: case TWS_F_DURATION:
        return mark_intrinsic(r, f, test, ctx, mark);
    }
    return TW_EINVAL;
}

int tws_rg_mark_traces(tws_rg *r, const uint8_t *span_mark, uint8_t *trace_mark, char err[256]) {
    err[0] = 0;
    r->err = err;
    int rc = tws__rg_col(r, &r->fixed[COL_TRACE_SPANS]);
    if (rc) return rc;
    tws_rd d = tws__col_rd(&r->fixed[COL_TRACE_SPANS]);
    uint32_t s = 0;
    for (uint32_t t = 0; t < r->n_traces; t++) {
        uint64_t n = tws_rd_varint(&d);
        if (d.bad || n > r->n_spans - s) return tws__rg_bad(r, "trace span counts");
        if (!trace_mark[t])
            for (uint32_t k = 0; k < n; k++)
                if (span_mark[s + k]) {
                    trace_mark[t] = 1;
                    break;
                }
        s += (uint32_t)n;
    }
    return TW_OK;
}
