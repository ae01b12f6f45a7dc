/*
 * fuzz_srv_block.c — the block reader over arbitrary data objects.
 *
 * The input is a block's data object. Its footer (the last 48 bytes, when
 * there are that many) supplies what meta.json would say: where the index
 * and the bloom filter are and how many row groups there are. The object
 * and a meta.json built from that are put into an in-memory object store,
 * then the block is opened, every row group is read, and the first trace
 * id of every index entry is looked up. A header whose kind byte says
 * "logs" is read as a log block: every row group's records and stream
 * table, and the trace index for the trace ids the records carry.
 * Each input is read twice: with checksums verified, and with them
 * ignored (tws__block_skip_crc) so mutations reach the decoder behind them.
 * Properties checked (abort() on violation):
 *  - every failure is TW_EPARSE (or TW_ENOTSUP for another version) with a
 *    message, never a crash, a leak or undefined behaviour;
 *  - whatever decodes is a consistent batch: scope and resource indexes in
 *    range, every span (log record) of a lookup carries the trace id asked
 *    for, and the batch encodes to OTLP protobuf that decodes back to as
 *    many spans (records); a log record's stream key is in its batch.
 */
#include <stdio.h>
#include <stdlib.h>

#include "block/block.h"
#include "block/format.h"

static void check(int cond) {
    if (!cond) abort();
}

/* ---- a store holding two objects in memory ------------------------------------ */

typedef struct mem_store {
    tws_objstore base;
    char keys[2][128];
    const uint8_t *data[2];
    size_t len[2];
} mem_store;

static int find(mem_store *m, const char *key) {
    for (int i = 0; i < 2; i++)
        if (strcmp(m->keys[i], key) == 0) return i;
    return -1;
}

static int m_put(tws_objstore *s, const char *k, const void *d, size_t n, tws_objstore_err *e) { return TW_ENOTSUP; }

static int m_get(tws_objstore *s, const char *k, uint8_t **d, size_t *n, tws_objstore_err *e) {
    mem_store *m = (mem_store *)s;
    int i = find(m, k);
    if (i < 0) return TW_ENOTFOUND;
    *d = tw__malloc(m->len[i] + 1);
    if (!*d) return TW_ENOMEM;
    memcpy(*d, m->data[i], m->len[i]);
    *n = m->len[i];
    return TW_OK;
}

static int m_get_range(tws_objstore *s, const char *k, uint64_t off, size_t n, void *out, tws_objstore_err *e) {
    mem_store *m = (mem_store *)s;
    int i = find(m, k);
    if (i < 0 || off > m->len[i] || n > m->len[i] - off) return TW_ENOTFOUND;
    memcpy(out, m->data[i] + off, n);
    return TW_OK;
}

static int m_list(tws_objstore *s, const char *p, tws_objstore_list_fn fn, void *u, tws_objstore_err *e) {
    return TW_ENOTSUP;
}
static int m_del(tws_objstore *s, const char *k, tws_objstore_err *e) { return TW_ENOTSUP; }
static void m_close(tws_objstore *s) { (void)s; }

static const tws_objstore_ops mem_ops = {m_put, m_get, m_get_range, m_list, m_del, m_close, NULL, NULL};

/* ---- checks on what decodes -------------------------------------------------------- */

static void check_batch(const tws_batch *b, const uint8_t *trace) {
    for (uint32_t i = 0; i < b->n_scopes; i++) check(b->scopes[i].resource_idx < b->n_resources);
    for (uint32_t i = 0; i < b->n_spans; i++) {
        check(b->spans[i].scope_idx < b->n_scopes);
        if (trace) check(memcmp(b->spans[i].trace_id, trace, 16) == 0);
    }
    if (!b->n_spans) return;
    tw__buf pb;
    tw__buf_init(&pb, 0);
    tws_selection sel = {b, NULL, 0};
    check(tws_otlp_encode_pb(&sel, 1, 1, &pb) == TW_OK);
    tws_batch back;
    tws_batch_init(&back);
    tws_decode_error err;
    check(tws_otlp_decode_pb(pb.data, pb.len, &(tws_decode_options){0}, &back, &err) == TW_OK);
    uint32_t valid = 0; /* the encoder writes only spans not marked rejected */
    for (uint32_t i = 0; i < b->n_spans; i++) valid += !b->spans[i].reject;
    check(back.n_spans == valid);
    tws_batch_free(&back);
    tw__buf_free(&pb);
}

static void run(const uint8_t *data, size_t size);

static void check_logs(const tws_batch *b, const tw_str *keys, const uint8_t *trace) {
    for (uint32_t i = 0; i < b->n_scopes; i++) check(b->scopes[i].resource_idx < b->n_resources);
    for (uint32_t i = 0; i < b->n_logs; i++) {
        check(b->logs[i].scope_idx < b->n_scopes);
        check(keys && (keys[i].len == 0 || keys[i].ptr));
        if (trace) check(b->logs[i].has_trace_id && memcmp(b->logs[i].trace_id, trace, 16) == 0);
    }
    if (!b->n_logs) return;
    tw__buf pb;
    tw__buf_init(&pb, 0);
    check(tws_otlp_encode_logs_pb(b, 1, &pb) == TW_OK);
    tws_batch back;
    tws_batch_init(&back);
    tws_decode_error err;
    check(tws_otlp_decode_logs_pb(pb.data, pb.len, &(tws_decode_options){0}, &back, &err) == TW_OK);
    check(back.n_logs == b->n_logs);
    tws_batch_free(&back);
    tw__buf_free(&pb);
}

static bool count_stream(void *user, tw_str key, uint32_t records) {
    *(uint64_t *)user += records;
    return true;
}

/* A log block: each row group whole, its stream table, and the trace
 * index for the first traced record's id. */
static void read_log_block(tws_block *b) {
    const tws_block_meta *bm = tws_block_get_meta(b);
    for (uint64_t g = 0; g < bm->row_groups && g < 64; g++) {
        char err[256] = "";
        tws_batch out;
        tws_batch_init(&out);
        tw_str *keys = NULL;
        int rc = tws_block_read_logs(b, g, NULL, &out, &keys, err);
        check(rc == TW_OK || (rc == TW_EPARSE && strstr(err, "damaged")));
        uint8_t trace[16];
        bool traced = false;
        if (rc == TW_OK) {
            check_logs(&out, keys, NULL);
            for (uint32_t i = 0; i < out.n_logs && !traced; i++)
                if ((traced = out.logs[i].has_trace_id)) memcpy(trace, out.logs[i].trace_id, 16);
        }
        tw__free(keys);
        tws_batch_free(&out);
        uint64_t records = 0;
        rc = tws_block_log_streams(b, g, count_stream, &records, err);
        check(rc == TW_OK || (rc == TW_EPARSE && strstr(err, "damaged")));
        if (!traced) continue;
        uint32_t *rgs;
        size_t n;
        rc = tws_block_log_trace_rgs(b, trace, &rgs, &n, err);
        check(rc == TW_OK || (rc == TW_EPARSE && strstr(err, "damaged")));
        for (size_t k = 0; rc == TW_OK && k < n && k < 8; k++) {
            check(rgs[k] < bm->row_groups);
            tws_log_filter f = {.trace_id = trace};
            tws_batch_init(&out);
            int r = tws_block_read_logs(b, rgs[k], &f, &out, &keys, err);
            check(r == TW_OK || (r == TW_EPARSE && strstr(err, "damaged")));
            if (r == TW_OK) check_logs(&out, keys, trace);
            tw__free(keys);
            tws_batch_free(&out);
        }
        tw__free(rgs);
    }
}

/* A test that passes every other value it sees (and counts them). */
static bool every_other(void *ctx, const tws_value *v) {
    (void)v;
    return ++*(unsigned *)ctx & 1;
}

/* The selective-scan path: every field filtered, then the marked traces
 * decoded, on whatever the row group holds. */
static void scan_row_group(tws_block *b, uint64_t g) {
    char err[256];
    tws_rg *rg;
    int rc = tws_rg_open(b, g, &rg, err);
    check(rc == TW_OK || (rc == TW_EPARSE && strstr(err, "damaged")));
    if (rc) return;
    uint32_t ns = tws_rg_n_spans(rg), nt = tws_rg_n_traces(rg);
    uint8_t *sm = calloc(ns + 1, 1), *tm = calloc(nt + 1, 1);
    check(sm && tm);
    unsigned seen = 0;
    for (int f = TWS_F_SPAN_ATTR; f <= TWS_F_DURATION && rc == TW_OK; f++) {
        rc = tws_rg_mark(rg, (tws_field)f, "k", 1, every_other, &seen, sm, err);
        check(rc == TW_OK || (rc == TW_EPARSE && strstr(err, "damaged")));
        for (uint32_t i = 0; i < ns; i++) check(sm[i] <= 1);
    }
    if (rc == TW_OK) {
        rc = tws_rg_mark_traces(rg, sm, tm, err);
        check(rc == TW_OK || (rc == TW_EPARSE && strstr(err, "damaged")));
    }
    if (rc == TW_OK) {
        tws_batch out;
        tws_batch_init(&out);
        rc = tws_rg_decode(rg, tm, (unsigned)(seen & TWS_PART_ALL) | TWS_PART_ATTRS, &out, err);
        check(rc == TW_OK || (rc == TW_EPARSE && strstr(err, "damaged")));
        if (rc == TW_OK) check_batch(&out, NULL);
        tws_batch_free(&out);
    }
    free(sm);
    free(tm);
    tws_rg_close(rg);
}

/* Each input twice: as a reader meets it, and with checksums ignored, so
 * that mutations reach the decoder behind the CRCs. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tws__block_skip_crc = false;
    run(data, size);
    tws__block_skip_crc = true;
    run(data, size);
    tws__block_skip_crc = false;
    return 0;
}

static void run(const uint8_t *data, size_t size) {
    static const char id[] = "0b6f5d1e-8c4a-4d2b-9f3e-1a2b3c4d5e6f";
    tws_block_meta m = {.version = TWS_BLOCK_VERSION, .spans = 1, .traces = 1, .size = size};
    strcpy(m.id, id);
    strcpy(m.tenant, "t");
    memset(m.max_trace, 0xff, 16);
    if (size >= TWS_BLK_FOOTER) {
        const uint8_t *f = data + size - TWS_BLK_FOOTER;
        m.index_off = tws_get_le64(f);
        m.index_len = tws_get_le64(f + 8);
        m.bloom_off = tws_get_le64(f + 16);
        m.bloom_len = tws_get_le64(f + 24);
        m.row_groups = tws_get_le64(f + 32);
        m.spans = m.traces = m.row_groups; /* only bounds: the reader must not trust them anyway */
    }
    if (size > 8 && data[8] == TWS_BLOCK_LOGS) { /* the header's kind byte: the trace pages fill the index's rest */
        m.kind = TWS_BLOCK_LOGS;
        uint64_t rest = m.index_len - 4 - m.row_groups * TWS_IDX_ENTRY;
        if (m.index_len >= 4 && m.row_groups < (1u << 24) && m.index_len - 4 >= m.row_groups * TWS_IDX_ENTRY)
            m.trace_pages = rest / TWS_TPAGE_ENTRY;
    }
    tw__buf js;
    tw__buf_init(&js, 0);
    check(tws_block_meta_json(&m, &js) == TW_OK);
    mem_store st = {.base = {&mem_ops, "memory"}};
    tws_block_key(st.keys[0], sizeof st.keys[0], "t", id, "data");
    tws_block_key(st.keys[1], sizeof st.keys[1], "t", id, "meta.json");
    st.data[0] = data;
    st.len[0] = size;
    st.data[1] = js.data;
    st.len[1] = js.len;

    tws_block *b;
    char err[256] = "";
    int rc = tws_block_open(&st.base, "t", id, &b, err);
    if (rc != TW_OK) {
        check((rc == TW_EPARSE || rc == TW_ENOTSUP) && err[0]);
        tw__buf_free(&js);
        return;
    }
    const tws_block_meta *bm = tws_block_get_meta(b);
    if (bm->kind == TWS_BLOCK_LOGS) {
        read_log_block(b);
        tws_block_close(b);
        tw__buf_free(&js);
        return;
    }
    for (uint64_t g = 0; g < bm->row_groups && g < 64; g++) {
        tws_batch out;
        tws_batch_init(&out);
        err[0] = 0;
        rc = tws_block_read_row_group(b, g, &out, err);
        check(rc == TW_OK || (rc == TW_EPARSE && strstr(err, "damaged")));
        if (rc == TW_OK) check_batch(&out, NULL);
        tws_batch_free(&out);
        /* the row group's first trace id, from the index */
        uint8_t trace[16];
        check(tws_obj_get_range(&st.base, st.keys[0], bm->index_off + g * TWS_IDX_ENTRY, 16, trace, NULL) == TW_OK);
        tws_batch_init(&out);
        rc = tws_block_find_trace(b, trace, 0, 0, &out, err);
        check(rc == TW_OK || (rc == TW_EPARSE && strstr(err, "damaged")));
        if (rc == TW_OK) check_batch(&out, trace);
        tws_batch_free(&out);
        scan_row_group(b, g);
    }
    tws_block_close(b);
    tw__buf_free(&js);
}
