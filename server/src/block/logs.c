/*
 * logs.c — log blocks (block.h): log records in, the same container as
 * trace blocks out (header, row groups of zstd columns with a dictionary,
 * resource and scope tables, an index, a bloom filter, meta.json), plus a
 * trace index; and reading them back.
 *
 * A log block holds the records of one tenant grouped by stream — the
 * canonical label key — in increasing key order, so a query's stream
 * selector is decided once per stream of a row group, from one small
 * column, before any record is read. Each record with a trace id adds a
 * (trace id, row group) pair to the block's trace index: sorted pages of
 * fixed-size entries behind the row groups, found through a page directory
 * kept in memory with the index, so "the logs of this trace" reads one page
 * and the row groups it names, never a scan.
 *
 * Invariants:
 *  - Stream keys strictly increase through the block (a stream's records
 *    may go on in the next row group); within a stream records keep the
 *    order they were added in (the flush adds them by time).
 *  - Variable-length record fields (body, attributes) are length-prefixed,
 *    so a decoder skips a record it does not keep without parsing it.
 *  - Reading trusts nothing (read.c's rules): every count is checked
 *    against the bytes that hold it, every page and column CRC-checked.
 */
#include <stdio.h>
#include <stdlib.h>

#include "block/rowgroup.h"
#include "block/writer.h"
#include "common/crc32c.h"

/* ---- writing ---------------------------------------------------------------------------- */

static int key_cmp(tw_str a, const tw__buf *b) {
    size_t n = a.len < b->len ? a.len : b->len;
    int c = n ? memcmp(a.ptr, b->data, n) : 0;
    return c ? c : (a.len > b->len) - (a.len < b->len);
}

static void put_len_prefixed(tw__buf *column, const tw__buf *enc) {
    tw__pb_varint(column, enc->len);
    tw__buf_append(column, enc->data, enc->len);
}

/* One record into the current row group's columns. */
static void put_record(tws_block_writer *w, const tws_batch *b, const tws_log *l) {
    uint64_t t = tws_log_time(l);
    if (w->rg_spans == 0) {
        w->rg_base = w->rg_prev_time = l->time_ns;
        w->rg_min_start = UINT64_MAX;
        w->rg_max_end = 0;
        memset(w->rg_first, 0, 16);
        memset(w->rg_last, 0, 16);
    }
    if (!w->rg_has_stream) { /* the stream's entry in this row group's table */
        if (w->rg_traces == w->cap_rg_stream_n) {
            uint32_t cap = w->cap_rg_stream_n ? w->cap_rg_stream_n * 2 : 64;
            uint32_t *c = tw__realloc(w->rg_stream_n, cap * sizeof *c);
            if (!c) {
                w->failed = TW_ENOMEM;
                return;
            }
            w->rg_stream_n = c;
            w->cap_rg_stream_n = cap;
        }
        w->rg_stream_n[w->rg_traces++] = 0;
        put_len_prefixed(&w->col[COL_LOG_STREAMS], &w->last_key);
        w->rg_has_stream = true;
    }
    w->rg_stream_n[w->rg_traces - 1]++;
    tw__pb_varint(&w->col[COL_LOG_TIME], tws_zigzag((int64_t)(l->time_ns - w->rg_prev_time)));
    w->rg_prev_time = l->time_ns;
    tw__pb_varint(&w->col[COL_LOG_OBSERVED], tws_zigzag((int64_t)(l->observed_ns - l->time_ns)));
    uint8_t bits = (uint8_t)((l->has_trace_id ? LGB_TRACE : 0) | (l->has_span_id ? LGB_SPAN : 0) |
                             (l->severity_text.len ? LGB_SEV_TEXT : 0) | (l->event_name.len ? LGB_EVENT : 0) |
                             (l->flags ? LGB_FLAGS : 0));
    tw__buf_putc(&w->col[COL_LOG_BITS], bits);
    if (l->has_trace_id) {
        tw__buf_append(&w->col[COL_LOG_TRACE_ID], l->trace_id, 16);
        uint8_t pair[TWS_TPAIR];
        memcpy(pair, l->trace_id, 16);
        tws_put_le32(pair + 16, (uint32_t)w->n_row_groups);
        tw__buf_append(&w->tpairs, pair, sizeof pair);
        if (!w->rg_any_trace || memcmp(l->trace_id, w->rg_first, 16) < 0) memcpy(w->rg_first, l->trace_id, 16);
        if (!w->rg_any_trace || memcmp(l->trace_id, w->rg_last, 16) > 0) memcpy(w->rg_last, l->trace_id, 16);
        w->rg_any_trace = true;
    }
    if (l->has_span_id) tw__buf_append(&w->col[COL_LOG_SPAN_ID], l->span_id, 8);
    tw__buf_putc(&w->col[COL_LOG_SEVERITY], l->severity);
    if (l->severity_text.len) tws__w_put_id(w, &w->col[COL_LOG_SEV_TEXT], l->severity_text);
    if (l->event_name.len) tws__w_put_id(w, &w->col[COL_LOG_EVENT], l->event_name);
    if (l->flags) tw__pb_varint(&w->col[COL_LOG_FLAGS], l->flags);
    tw__pb_varint(&w->col[COL_LOG_SCOPE], tws__w_scope_index(w, b, l->scope_idx));
    tw__buf_reset(&w->scratch);
    tws__w_put_generic(w, &w->scratch, &l->body, 0);
    put_len_prefixed(&w->col[COL_LOG_BODY], &w->scratch);
    tw__buf_reset(&w->scratch);
    tws__w_put_attrs(w, &w->scratch, &l->attrs);
    put_len_prefixed(&w->col[COL_LOG_ATTRS], &w->scratch);
    if (t < w->rg_min_start) w->rg_min_start = t;
    if (t > w->rg_max_end) w->rg_max_end = t;
    if (t < w->start_ns) w->start_ns = t;
    if (t > w->end_ns) w->end_ns = t;
    w->rg_spans++;
    w->n_spans++;
}

int tws_block_writer_add_stream(tws_block_writer *w, tw_str key, const tws_log_ref *recs, size_t n) {
    if (w->failed) return w->failed;
    int order = w->n_streams ? key_cmp(key, &w->last_key) : 1;
    if (!w->o.logs || n == 0 || key.len > (1u << 20) || order < 0) return TW_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (recs[i].batch->logs[recs[i].idx].reject) return TW_EINVAL;
    if (order > 0) { /* a new stream (the same key again goes on with the last one) */
        tw__buf_reset(&w->last_key);
        if (tw__buf_append(&w->last_key, key.ptr, key.len)) return TW_ENOMEM;
        w->n_streams++;
        w->rg_has_stream = false;
    }
    for (size_t i = 0; i < n; i++) {
        put_record(w, recs[i].batch, &recs[i].batch->logs[recs[i].idx]);
        for (int c = 0; c < N_FIXED; c++)
            if (w->col[c].failed) w->failed = TW_ENOMEM;
        if (w->tpairs.failed || w->scratch.failed) w->failed = TW_ENOMEM;
        if (w->failed) return w->failed;
        if ((w->rg_spans >= w->o.row_group_spans || tws__w_rg_bytes(w) >= w->o.row_group_bytes) && tws__w_seal(w))
            return w->failed;
    }
    return TW_OK;
}

static int cmp_pair(const void *x, const void *y) {
    int c = memcmp(x, y, 16);
    if (c) return c;
    uint32_t a = tws_get_le32((const uint8_t *)x + 16), b = tws_get_le32((const uint8_t *)y + 16);
    return (a > b) - (a < b);
}

int tws__w_log_trace_pages(tws_block_writer *w, tws_block_meta *m, tws_bloom *bloom) {
    size_t n = w->tpairs.len / TWS_TPAIR, kept = 0, traces = 0;
    uint8_t *p = w->tpairs.data;
    if (n > 1) qsort(p, n, TWS_TPAIR, cmp_pair);
    for (size_t i = 0; i < n; i++) { /* one pair per (trace, row group) */
        if (kept && !memcmp(p + (kept - 1) * TWS_TPAIR, p + i * TWS_TPAIR, TWS_TPAIR)) continue;
        if (!kept || memcmp(p + (kept - 1) * TWS_TPAIR, p + i * TWS_TPAIR, 16)) traces++;
        memmove(p + kept * TWS_TPAIR, p + i * TWS_TPAIR, TWS_TPAIR);
        kept++;
    }
    if (tws_bloom_init(bloom, traces)) return TW_ENOMEM;
    for (size_t i = 0; i < kept; i++)
        if (i == 0 || memcmp(p + (i - 1) * TWS_TPAIR, p + i * TWS_TPAIR, 16)) tws_bloom_add(bloom, p + i * TWS_TPAIR);
    if (kept) {
        memcpy(m->min_trace, p, 16);
        memcpy(m->max_trace, p + (kept - 1) * TWS_TPAIR, 16);
    }
    for (size_t at = 0; at < kept; at += TWS_TPAGE_PAIRS) {
        size_t k = kept - at < TWS_TPAGE_PAIRS ? kept - at : TWS_TPAGE_PAIRS, raw = k * TWS_TPAIR;
        size_t bound = ZSTD_compressBound(raw);
        tw__buf_reset(&w->scratch);
        if (tw__buf_reserve(&w->scratch, bound)) return TW_ENOMEM;
        size_t z = ZSTD_compressCCtx(w->zc, w->scratch.data, bound, p + at * TWS_TPAIR, raw, w->o.zstd_level);
        if (ZSTD_isError(z)) return TW_ENOMEM;
        uint8_t e[TWS_TPAGE_ENTRY];
        memcpy(e, p + at * TWS_TPAIR, 16);
        tws_put_le64(e + 16, w->data.len);
        tws_put_le32(e + 24, (uint32_t)z);
        tws_put_le32(e + 28, (uint32_t)k);
        tws_put_le32(e + 32, tw__crc32c(0, w->scratch.data, z));
        tw__buf_append(&w->data, w->scratch.data, z);
        tw__buf_append(&w->index, e, sizeof e);
        m->trace_pages++;
    }
    return w->data.failed || w->index.failed ? TW_ENOMEM : TW_OK;
}

/* ---- reading: the trace index ---------------------------------------------------------- */

int tws__log_pages_check(const tws_block *b, const uint8_t *pages, char err[256]) {
    const tws_block_meta *m = &b->meta;
    for (uint64_t i = 0; i < m->trace_pages; i++) {
        const uint8_t *e = pages + i * TWS_TPAGE_ENTRY;
        uint64_t off = tws_get_le64(e + 16), len = tws_get_le32(e + 24), k = tws_get_le32(e + 28);
        if (off < TWS_BLK_HEADER || off + len > m->index_off || k == 0 || k > TWS_TPAGE_PAIRS ||
            (i && memcmp(e - TWS_TPAGE_ENTRY, e, 16) > 0))
            return tws__block_damaged(err, b, "trace index page entry out of order or out of bounds");
    }
    return TW_OK;
}

/* Append the row groups page `p` lists for `id` to *rgs. */
static int page_rgs(tws_block *b, const uint8_t *e, const uint8_t id[16], uint32_t **rgs, size_t *n, size_t *cap,
                    char err[256]) {
    uint64_t off = tws_get_le64(e + 16);
    uint32_t len = tws_get_le32(e + 24), k = tws_get_le32(e + 28);
    size_t raw = (size_t)k * TWS_TPAIR;
    uint8_t *z = tw__malloc(len ? len : 1), *p = tw__malloc(raw);
    tws_objstore_err oe = {{0}};
    int rc = z && p ? tws_obj_get_range(b->store, b->data_key, off, len, z, &oe) : TW_ENOMEM;
    if (rc == TW_ENOTFOUND) rc = tws__block_damaged(err, b, "the data object is shorter than its trace index says");
    else if (rc && rc != TW_ENOMEM) rc = tws__block_io_error(err, b->data_key, rc, &oe);
    if (rc == TW_OK && tws__crc_bad(z, len, tws_get_le32(e + 32)))
        rc = tws__block_damaged(err, b, "trace index page checksum mismatch");
    if (rc == TW_OK) {
        size_t got = tws__zstd_decompress(p, raw, z, len);
        if (ZSTD_isError(got) || got != raw) rc = tws__block_damaged(err, b, "trace index page does not decompress");
    }
    size_t lo = 0, hi = k; /* the first entry >= id */
    while (rc == TW_OK && lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (memcmp(p + mid * TWS_TPAIR, id, 16) < 0) lo = mid + 1;
        else hi = mid;
    }
    for (size_t i = lo; rc == TW_OK && i < k && !memcmp(p + i * TWS_TPAIR, id, 16); i++) {
        uint32_t rg = tws_get_le32(p + i * TWS_TPAIR + 16);
        if (rg >= b->meta.row_groups) {
            rc = tws__block_damaged(err, b, "trace index names a row group past the last");
            break;
        }
        if (*n && (*rgs)[*n - 1] >= rg) continue; /* sorted: only a repeat across pages */
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 8;
            uint32_t *x = tw__realloc(*rgs, c * sizeof *x);
            if (!x) {
                rc = TW_ENOMEM;
                break;
            }
            *rgs = x, *cap = c;
        }
        (*rgs)[(*n)++] = rg;
    }
    tw__free(z);
    tw__free(p);
    return rc;
}

int tws_block_log_trace_rgs(tws_block *b, const uint8_t trace_id[16], uint32_t **rgs, size_t *n, char err[256]) {
    err[0] = 0;
    *rgs = NULL;
    *n = 0;
    if (b->meta.kind != TWS_BLOCK_LOGS) return TW_EINVAL;
    if (!b->meta.trace_pages || !tws_block_may_contain(b, trace_id)) return TW_OK;
    const uint8_t *pages = b->index + b->meta.row_groups * TWS_IDX_ENTRY;
    size_t lo = 0, hi = (size_t)b->meta.trace_pages; /* the first page whose first id >= trace_id */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (memcmp(pages + mid * TWS_TPAGE_ENTRY, trace_id, 16) < 0) lo = mid + 1;
        else hi = mid;
    }
    size_t cap = 0;
    int rc = TW_OK;
    /* the page before may hold the first entries of the id; pages that start with it hold more */
    for (size_t i = lo ? lo - 1 : 0; rc == TW_OK && i < b->meta.trace_pages; i++) {
        const uint8_t *e = pages + i * TWS_TPAGE_ENTRY;
        if (memcmp(e, trace_id, 16) > 0) break;
        rc = page_rgs(b, e, trace_id, rgs, n, &cap, err);
    }
    if (rc) {
        tw__free(*rgs);
        *rgs = NULL;
        *n = 0;
    }
    return rc;
}

/* ---- reading: row groups ---------------------------------------------------------------- */

/* The stream table of a row group: keys point into the loaded column. */
typedef struct streams {
    tw_str *key;
    uint32_t *count;
    uint32_t n;
} streams;

/* A log row group's record count against its bits column (one byte per
 * record, raw length in the directory), before anything is sized by it. */
static int check_counts(tws_rg *r) {
    const col *bits = &r->fixed[COL_LOG_BITS];
    if (!bits->ent || tws_get_le32(bits->ent + 8) != r->n_spans) return tws__rg_bad(r, "log record count");
    return TW_OK;
}

static int load_streams(tws_rg *r, streams *s) {
    int rc = check_counts(r);
    if (!rc) rc = tws__rg_col(r, &r->fixed[COL_LOG_STREAMS]);
    if (rc) return rc;
    tws_rd d = tws__col_rd(&r->fixed[COL_LOG_STREAMS]);
    if ((uint64_t)r->n_traces * 2 > r->fixed[COL_LOG_STREAMS].len) /* a key length and a count at least */
        return tws__rg_bad(r, "log stream table");
    s->n = r->n_traces;
    s->key = tw__malloc(s->n * sizeof *s->key);
    s->count = tw__malloc(s->n * sizeof *s->count);
    if (!s->key || !s->count) return TW_ENOMEM;
    uint64_t total = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        uint64_t len = tws_rd_varint(&d);
        const uint8_t *k = !d.bad && len <= (uint64_t)(d.end - d.p) ? tws_rd_bytes(&d, (size_t)len) : NULL;
        uint64_t c = tws_rd_varint(&d);
        if (!k || d.bad || c == 0 || c > r->n_spans) return tws__rg_bad(r, "log stream table");
        s->key[i] = (tw_str){(const char *)k, (size_t)len};
        s->count[i] = (uint32_t)c;
        total += c;
    }
    if (total != r->n_spans || d.p != d.end) return tws__rg_bad(r, "log stream table counts");
    return TW_OK;
}

static void streams_free(streams *s) {
    tw__free(s->key);
    tw__free(s->count);
}

static int check_log_block(tws_block *b, uint64_t i) {
    return b->meta.kind == TWS_BLOCK_LOGS && i < b->meta.row_groups ? TW_OK : TW_EINVAL;
}

int tws_block_log_streams(tws_block *b, uint64_t i, tws_log_stream_fn fn, void *user, char err[256]) {
    err[0] = 0;
    if (check_log_block(b, i)) return TW_EINVAL;
    tws_rg r;
    tws_batch none;
    tws_batch_init(&none);
    int rc = tws__rg_fetch(b, i, &none, &r, err, false);
    streams s = {0};
    if (rc == TW_OK) rc = load_streams(&r, &s);
    for (uint32_t k = 0; rc == TW_OK && k < s.n; k++) fn(user, s.key[k], s.count[k]);
    streams_free(&s);
    tws__rg_free(&r);
    tws_batch_free(&none);
    return rc;
}

/* A reader over a length-prefixed field; skip: just step over it. */
static int next_field(tws_rg *r, tws_rd *d, tws_rd *field) {
    uint64_t len = tws_rd_varint(d);
    const uint8_t *p = !d->bad && len <= (uint64_t)(d->end - d->p) ? tws_rd_bytes(d, (size_t)len) : NULL;
    if (!p) return tws__rg_bad(r, "log record field length");
    *field = (tws_rd){p, p + len, false};
    return TW_OK;
}

/* The fixed-size columns of a log row group, read in step, record by record. */
typedef struct fixed_cols {
    tws_rd time, observed, bits, trace, span;
    uint64_t prev; /* the previous record's time */
} fixed_cols;

static fixed_cols fixed_open(const tws_rg *r) {
    return (fixed_cols){tws__col_rd(&r->fixed[COL_LOG_TIME]), tws__col_rd(&r->fixed[COL_LOG_OBSERVED]),
                        tws__col_rd(&r->fixed[COL_LOG_BITS]), tws__col_rd(&r->fixed[COL_LOG_TRACE_ID]),
                        tws__col_rd(&r->fixed[COL_LOG_SPAN_ID]), r->base};
}

/* The next record's times and ids into *l; its LGB_* bits. */
static uint8_t fixed_next(fixed_cols *c, tws_log *l) {
    l->time_ns = c->prev + (uint64_t)tws_unzigzag(tws_rd_varint(&c->time));
    c->prev = l->time_ns;
    l->observed_ns = l->time_ns + (uint64_t)tws_unzigzag(tws_rd_varint(&c->observed));
    uint8_t b = tws_rd_u8(&c->bits);
    const uint8_t *t = b & LGB_TRACE ? tws_rd_bytes(&c->trace, 16) : NULL;
    const uint8_t *sp = b & LGB_SPAN ? tws_rd_bytes(&c->span, 8) : NULL;
    if ((l->has_trace_id = t != NULL)) memcpy(l->trace_id, t, 16);
    if ((l->has_span_id = sp != NULL)) memcpy(l->span_id, sp, 8);
    return b;
}

/* Every column read whole and no further? */
static bool fixed_done(const fixed_cols *c) {
    return !c->time.bad && !c->observed.bad && !c->bits.bad && !c->trace.bad && !c->span.bad &&
           c->time.p == c->time.end && c->observed.p == c->observed.end && c->bits.p == c->bits.end &&
           c->trace.p == c->trace.end && c->span.p == c->span.end;
}

/* Pass 1: which records to keep (fixed-size columns only). */
static int mark_records(tws_rg *r, const streams *s, const tws_log_filter *f, const bool *want, uint8_t *keep,
                        uint32_t *n_keep) {
    fixed_cols c = fixed_open(r);
    uint32_t rec = 0;
    *n_keep = 0;
    for (uint32_t k = 0; k < s->n; k++)
        for (uint32_t j = 0; j < s->count[k]; j++, rec++) {
            tws_log l;
            fixed_next(&c, &l);
            uint64_t when = tws_log_time(&l);
            bool k_ = want[k] && (!f->end_ns || (when >= f->start_ns && when <= f->end_ns)) &&
                      (!f->trace_id || (l.has_trace_id && !memcmp(l.trace_id, f->trace_id, 16))) &&
                      (!f->span_id || (l.has_span_id && !memcmp(l.span_id, f->span_id, 8)));
            keep[rec] = k_;
            *n_keep += k_;
        }
    return fixed_done(&c) ? TW_OK : tws__rg_bad(r, "log record columns");
}

/* Pass 2: decode the kept records into r->out. */
static int decode_records(tws_rg *r, const streams *s, const uint8_t *keep, uint32_t n_keep, tw_str *keys) {
    tws_batch *o = r->out;
    tws_log *logs = tws_batch_alloc(o, (n_keep ? n_keep : 1) * sizeof *logs);
    if (!logs) return TW_ENOMEM;
    memset(logs, 0, (n_keep ? n_keep : 1) * sizeof *logs);
    fixed_cols c = fixed_open(r);
    tws_rd sev = tws__col_rd(&r->fixed[COL_LOG_SEVERITY]), stx = tws__col_rd(&r->fixed[COL_LOG_SEV_TEXT]), ev = tws__col_rd(&r->fixed[COL_LOG_EVENT]),
           fl = tws__col_rd(&r->fixed[COL_LOG_FLAGS]), sc = tws__col_rd(&r->fixed[COL_LOG_SCOPE]),
           body = tws__col_rd(&r->fixed[COL_LOG_BODY]), at = tws__col_rd(&r->fixed[COL_LOG_ATTRS]);
    uint32_t rec = 0, out = 0;
    int rc = TW_OK;
    tw_str key = {0};
    for (uint32_t k = 0; k < s->n && rc == TW_OK; k++) {
        bool copied = false;
        for (uint32_t j = 0; j < s->count[k] && rc == TW_OK; j++, rec++) {
            tws_log tmp, *l = keep[rec] ? &logs[out] : &tmp;
            memset(&tmp, 0, sizeof tmp);
            uint8_t b = fixed_next(&c, l);
            l->severity = tws_rd_u8(&sev);
            if (b & LGB_SEV_TEXT) rc = tws__rg_dict_id(r, &stx, &l->severity_text);
            if (rc == TW_OK && (b & LGB_EVENT)) rc = tws__rg_dict_id(r, &ev, &l->event_name);
            if (b & LGB_FLAGS) {
                uint64_t v = tws_rd_varint(&fl);
                l->flags = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
            }
            uint64_t scope = tws_rd_varint(&sc);
            if (scope >= o->n_scopes) rc = TW_EPARSE;
            l->scope_idx = (uint32_t)scope;
            tws_rd fb, fa;
            if (rc == TW_OK) rc = next_field(r, &body, &fb);
            if (rc == TW_OK) rc = next_field(r, &at, &fa);
            if (rc || !keep[rec]) continue;
            uint8_t type = tws_rd_u8(&fb);
            rc = tws__rg_value(r, &fb, &l->body, type, 0);
            if (rc == TW_OK) rc = tws__rg_attrs(r, &fa, &l->attrs, true);
            if (rc == TW_OK && (fb.p != fb.end || fa.p != fa.end)) rc = TW_EPARSE;
            if (rc == TW_OK && !copied) { /* the key, once per stream, into the batch */
                rc = tws_batch_str(o, s->key[k].ptr, s->key[k].len, &key);
                copied = true;
            }
            keys[out++] = key;
        }
    }
    if (rc == TW_OK && (!fixed_done(&c) || sev.bad || stx.bad || ev.bad || fl.bad || sc.bad || body.p != body.end ||
                        at.p != at.end || sev.p != sev.end))
        rc = TW_EPARSE;
    if (rc == TW_EPARSE) return tws__rg_bad(r, "log record columns");
    if (rc) return rc;
    o->logs = logs;
    o->n_logs = out;
    return TW_OK;
}

int tws_block_read_logs(tws_block *b, uint64_t i, const tws_log_filter *f, tws_batch *out, tw_str **keys,
                        char err[256]) {
    err[0] = 0;
    *keys = NULL;
    if (check_log_block(b, i)) return TW_EINVAL;
    tws_log_filter all = {0};
    if (!f) f = &all;
    tws_rg r;
    int rc = tws__rg_fetch(b, i, out, &r, err, true);
    streams s = {0};
    bool *want = NULL;
    uint8_t *keep = NULL;
    uint32_t n_keep = 0, wanted = 0;
    if (rc == TW_OK) rc = load_streams(&r, &s);
    if (rc == TW_OK && !(want = tw__malloc(s.n * sizeof *want))) rc = TW_ENOMEM;
    for (uint32_t k = 0; rc == TW_OK && k < s.n; k++) wanted += want[k] = !f->stream || f->stream(f->user, s.key[k], s.count[k]);
    for (int id = COL_LOG_TIME; rc == TW_OK && wanted && id <= COL_LOG_SPAN_ID; id++) rc = tws__rg_col(&r, &r.fixed[id]);
    if (rc == TW_OK && wanted && !(keep = tw__malloc(r.n_spans))) rc = TW_ENOMEM;
    if (rc == TW_OK && wanted) rc = mark_records(&r, &s, f, want, keep, &n_keep);
    if (rc == TW_OK && n_keep) {
        if (!(*keys = tw__malloc(n_keep * sizeof **keys))) rc = TW_ENOMEM;
        if (rc == TW_OK) rc = tws__rg_dict_into_batch(&r);
        if (rc == TW_OK) rc = tws__rg_tables(&r);
        for (int id = COL_LOG_SEVERITY; rc == TW_OK && id <= COL_LOG_ATTRS; id++) rc = tws__rg_col(&r, &r.fixed[id]);
        if (rc == TW_OK) rc = decode_records(&r, &s, keep, n_keep, *keys);
    }
    if (rc) {
        tw__free(*keys);
        *keys = NULL;
        tws_batch_free(out);
        tws_batch_init(out);
    }
    streams_free(&s);
    tw__free(want);
    tw__free(keep);
    tws__rg_free(&r);
    return rc;
}
