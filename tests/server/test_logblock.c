/*
 * test_logblock.c — log blocks: write records stream by stream, open the
 * block, read them back whole and through the filters, find a trace's row
 * groups through the trace index, and survive damage.
 *
 * Covered: a round trip of generated records (every body type, attributes,
 * trace and span ids or none, severity number and text, event name, flags,
 * observed time, several resources and scopes) through many row groups
 * with streams continuing across row groups — every record tws_log_equal
 * to what was written, in order, with its stream key, resource and scope;
 * the trace index against a brute-force answer for every trace (across
 * several index pages) and for absent ids; the span-id, time and stream
 * filters; the stream listing; the writer's refusals; meta.json's kind; and
 * a flipped byte at every position never crashing and never changing what
 * is read where no checksum covers it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs_util.h"

#include "batch_fixture.h"
#include "log_fixture.h"
#include "block/block.h"
#include "block/format.h"

typedef struct fx {
    char dir[64];
    tws_objstore *st;
    tws_batch b;
    uint32_t n;
    uint32_t *stream;
    tws_log_ref *order; /* the records as written: stream by stream, by time */
    char keys[N_STREAMS][64];
    tws_block_meta m;
} fx;

static uint64_t when(const tws_log_ref *r) { return tws_log_time(&r->batch->logs[r->idx]); }

static int cmp_written(const void *x, const void *y) {
    const tws_log_ref *a = x, *b = y;
    if (a->stream != b->stream) return a->stream < b->stream ? -1 : 1;
    if (when(a) != when(b)) return when(a) < when(b) ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Write f->n records as one block with small row groups. */
static void write_logs(fx *f, uint32_t n, uint32_t rg_records) {
    f->n = n;
    f->stream = calloc(n, sizeof *f->stream);
    make_logs(&f->b, n, f->stream);
    for (uint32_t s = 0; s < N_STREAMS; s++) log_stream_key(s, f->keys[s], sizeof f->keys[s]);
    /* streams in key order: the key's order, not the number's */
    uint32_t rank[N_STREAMS];
    for (uint32_t s = 0; s < N_STREAMS; s++) {
        rank[s] = 0;
        for (uint32_t t = 0; t < N_STREAMS; t++) rank[s] += strcmp(f->keys[t], f->keys[s]) < 0;
    }
    f->order = calloc(n, sizeof *f->order);
    for (uint32_t i = 0; i < n; i++) f->order[i] = (tws_log_ref){&f->b, i, rank[f->stream[i]]};
    qsort(f->order, n, sizeof *f->order, cmp_written);
    tws_block_writer *w;
    tws_block_writer_options o = {.logs = true, .row_group_spans = rg_records};
    assert_int_equal(tws_block_writer_new("acme", &o, &w), TW_OK);
    for (uint32_t i = 0; i < n;) {
        uint32_t j = i;
        while (j < n && f->order[j].stream == f->order[i].stream) j++;
        const char *k = f->keys[f->stream[f->order[i].idx]];
        assert_int_equal(tws_block_writer_add_stream(w, (tw_str){k, strlen(k)}, f->order + i, j - i), TW_OK);
        i = j;
    }
    char err[256];
    assert_int_equal(tws_block_writer_finish(w, f->st, &f->m, err), TW_OK);
    tws_block_writer_free(w);
}

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/tw-logblock-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    tws_objstore_err e;
    assert_int_equal(tws_objstore_local_open(f->dir, &f->st, &e), TW_OK);
    tws_batch_init(&f->b);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    tws_obj_close(f->st);
    rm_rf(f->dir);
    tws_batch_free(&f->b);
    free(f->stream);
    free(f->order);
    free(f);
    return 0;
}

static bool same_scope(const tws_batch *a, const tws_log *la, const tws_batch *b, const tws_log *lb) {
    const tws_scope *x = &a->scopes[la->scope_idx], *y = &b->scopes[lb->scope_idx];
    const tws_resource *rx = &a->resources[x->resource_idx], *ry = &b->resources[y->resource_idx];
    return tws_str_equal(x->name, y->name) && tws_str_equal(x->version, y->version) &&
           tws_attrs_equal(&rx->attrs, &ry->attrs) && tws_str_equal(rx->schema_url, ry->schema_url) &&
           rx->labels_verbatim == ry->labels_verbatim;
}

/* Every record of the block, in stored order, through `filter`: compared
 * with the written records that `expect` keeps. Returns how many. */
static uint32_t read_all(fx *f, tws_block *blk, const tws_log_filter *filter,
                         bool (*expect)(const fx *, const tws_log_ref *, const void *), const void *arg) {
    uint32_t at = 0, got = 0;
    const tws_block_meta *m = tws_block_get_meta(blk);
    for (uint64_t rg = 0; rg < m->row_groups; rg++) {
        tws_batch out;
        tws_batch_init(&out);
        tw_str *keys;
        char err[256];
        assert_int_equal(tws_block_read_logs(blk, rg, filter, &out, &keys, err), TW_OK);
        for (uint32_t k = 0; k < out.n_logs; k++, got++) {
            while (at < f->n && !expect(f, &f->order[at], arg)) at++;
            assert_true(at < f->n);
            const tws_log_ref *w = &f->order[at++];
            const tws_log *l = &w->batch->logs[w->idx];
            assert_true(tws_log_equal(l, &out.logs[k]));
            assert_true(same_scope(w->batch, l, &out, &out.logs[k]));
            const char *key = f->keys[f->stream[w->idx]];
            assert_int_equal(keys[k].len, strlen(key));
            assert_memory_equal(keys[k].ptr, key, keys[k].len);
        }
        tw__free(keys);
        tws_batch_free(&out);
    }
    while (at < f->n && !expect(f, &f->order[at], arg)) at++;
    assert_int_equal(at, f->n); /* nothing expected was left out */
    return got;
}

static bool keep_all(const fx *f, const tws_log_ref *r, const void *arg) { return true; }

static void test_round_trip(void **state) {
    fx *f = *state;
    write_logs(f, 20000, 700);
    tws_block *blk;
    char err[256];
    assert_int_equal(tws_block_open(f->st, "acme", f->m.id, &blk, err), TW_OK);
    const tws_block_meta *m = tws_block_get_meta(blk);
    assert_int_equal(m->kind, TWS_BLOCK_LOGS);
    assert_int_equal(m->spans, 20000);
    assert_int_equal(m->traces, N_STREAMS);
    assert_true(m->row_groups >= 20000 / 700);
    assert_true(m->trace_pages >= 2); /* the trace index spans pages */
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint32_t i = 0; i < f->n; i++) {
        uint64_t t = tws_log_time(&f->b.logs[i]);
        lo = t < lo ? t : lo;
        hi = t > hi ? t : hi;
    }
    assert_true(m->start_ns == lo && m->end_ns == hi);
    assert_int_equal(read_all(f, blk, NULL, keep_all, NULL), 20000);
    /* the span readers refuse a log block */
    tws_batch out;
    tws_batch_init(&out);
    assert_int_equal(tws_block_find_trace(blk, f->b.logs[1].trace_id, 0, 0, &out, err), TW_EINVAL);
    assert_int_equal(tws_block_read_row_group(blk, 0, &out, err), TW_EINVAL);
    tws_block_close(blk);
}

typedef struct trace_arg {
    const uint8_t *id, *span;
} trace_arg;

static bool has_trace(const fx *f, const tws_log_ref *r, const void *arg) {
    const trace_arg *t = arg;
    const tws_log *l = &r->batch->logs[r->idx];
    return l->has_trace_id && !memcmp(l->trace_id, t->id, 16) &&
           (!t->span || (l->has_span_id && !memcmp(l->span_id, t->span, 8)));
}

static void test_trace_index(void **state) {
    fx *f = *state;
    write_logs(f, 20000, 700);
    tws_block *blk;
    char err[256];
    assert_int_equal(tws_block_open(f->st, "acme", f->m.id, &blk, err), TW_OK);
    uint32_t checked = 0;
    for (uint32_t i = 0; i < f->n; i += 37) {
        const tws_log *l = &f->b.logs[i];
        if (!l->has_trace_id) continue;
        uint32_t *rgs;
        size_t n;
        assert_int_equal(tws_block_log_trace_rgs(blk, l->trace_id, &rgs, &n, err), TW_OK);
        /* exactly the row groups holding one of its records */
        uint32_t rec = 0;
        size_t expect_n = 0;
        for (uint64_t rg = 0; rg < f->m.row_groups; rg++) {
            tws_rg_info info;
            tws_block_row_group_info(blk, rg, &info);
            bool holds = false;
            for (uint32_t k = 0; k < info.spans; k++, rec++) {
                const tws_log *x = &f->b.logs[f->order[rec].idx];
                holds = holds || (x->has_trace_id && !memcmp(x->trace_id, l->trace_id, 16));
            }
            if (holds) {
                assert_true(expect_n < n);
                assert_int_equal(rgs[expect_n], rg);
                expect_n++;
            }
        }
        assert_int_equal(expect_n, n);
        /* and the records themselves, read from those row groups only */
        tws_log_filter flt = {.trace_id = l->trace_id, .span_id = l->has_span_id && i % 2 ? l->span_id : NULL};
        trace_arg ta = {l->trace_id, flt.span_id};
        uint32_t got = 0, want = 0;
        for (uint32_t k = 0; k < f->n; k++) want += has_trace(f, &f->order[k], &ta);
        for (size_t k = 0; k < n; k++) {
            tws_batch out;
            tws_batch_init(&out);
            tw_str *keys;
            assert_int_equal(tws_block_read_logs(blk, rgs[k], &flt, &out, &keys, err), TW_OK);
            for (uint32_t j = 0; j < out.n_logs; j++) assert_true(has_trace(f, &(tws_log_ref){&out, j, 0}, &ta));
            got += out.n_logs;
            tw__free(keys);
            tws_batch_free(&out);
        }
        assert_int_equal(got, want);
        tw__free(rgs);
        checked++;
    }
    assert_true(checked > 300);
    /* ids it does not hold: no row group (the bloom filter may pass a few; the index never) */
    for (uint64_t t = N_TRACES; t < N_TRACES + 500; t++) {
        uint8_t id[16] = {0};
        memcpy(id, &t, sizeof t);
        id[15] = 1;
        uint32_t *rgs;
        size_t n;
        assert_int_equal(tws_block_log_trace_rgs(blk, id, &rgs, &n, err), TW_OK);
        assert_int_equal(n, 0);
        assert_null(rgs);
    }
    tws_block_close(blk);
}

static bool in_window(const fx *f, const tws_log_ref *r, const void *arg) {
    const uint64_t *w = arg;
    uint64_t t = tws_log_time(&r->batch->logs[r->idx]);
    return t >= w[0] && t <= w[1];
}

static bool only_svc1(void *user, tw_str key, uint32_t records) {
    (*(uint32_t *)user)++;
    return memmem(key.ptr, key.len, "svc-1\"", 6) != NULL;
}

static bool svc1(const fx *f, const tws_log_ref *r, const void *arg) { return f->stream[r->idx] / 4 == 1; }

typedef struct listing {
    char last[64];
    uint64_t records, streams;
} listing;

static bool on_stream(void *user, tw_str key, uint32_t records) {
    listing *l = user;
    assert_true(key.len < sizeof l->last);
    char k[64];
    memcpy(k, key.ptr, key.len);
    k[key.len] = 0;
    assert_true(strcmp(l->last, k) <= 0); /* in key order (a stream may go on in the next row group) */
    if (strcmp(l->last, k)) l->streams++;
    strcpy(l->last, k);
    l->records += records;
    return true;
}

static void test_filters_and_streams(void **state) {
    fx *f = *state;
    write_logs(f, 6000, 500);
    tws_block *blk;
    char err[256];
    assert_int_equal(tws_block_open(f->st, "acme", f->m.id, &blk, err), TW_OK);
    uint64_t win[2] = {1700000000000000000ull + 100000000000ull, 1700000000000000000ull + 250000000000ull};
    tws_log_filter tf = {.start_ns = win[0], .end_ns = win[1]};
    uint32_t n = read_all(f, blk, &tf, in_window, win);
    assert_true(n > 1000 && n < 3000);
    uint32_t asked = 0;
    tws_log_filter sf = {.stream = only_svc1, .user = &asked};
    n = read_all(f, blk, &sf, svc1, NULL);
    assert_true(n > 1000 && n < 3000);
    assert_true(asked >= N_STREAMS); /* once per stream of each row group */
    listing l = {"", 0, 0};
    for (uint64_t rg = 0; rg < f->m.row_groups; rg++)
        assert_int_equal(tws_block_log_streams(blk, rg, on_stream, &l, err), TW_OK);
    assert_int_equal(l.records, 6000);
    assert_int_equal(l.streams, N_STREAMS);
    tws_block_close(blk);
}

static void test_refusals(void **state) {
    fx *f = *state;
    uint32_t stream[4];
    make_logs(&f->b, 4, stream);
    tws_log_ref r[4];
    for (uint32_t i = 0; i < 4; i++) r[i] = (tws_log_ref){&f->b, i, 0};
    tws_block_writer *w;
    tws_block_writer_options o = {.logs = true};
    assert_int_equal(tws_block_writer_new("acme", &o, &w), TW_OK);
    assert_int_equal(tws_block_writer_add_stream(w, (tw_str){"{b=\"1\"}", 7}, r, 2), TW_OK);
    /* keys must not go back; the same key goes on with its stream */
    assert_int_equal(tws_block_writer_add_stream(w, (tw_str){"{a=\"1\"}", 7}, r + 2, 2), TW_EINVAL);
    assert_int_equal(tws_block_writer_add_stream(w, (tw_str){"{b=\"1\"}", 7}, r + 2, 1), TW_OK);
    assert_int_equal(tws_block_writer_add_stream(w, (tw_str){"{c=\"1\"}", 7}, r + 2, 0), TW_EINVAL);
    /* a rejected record */
    f->b.logs[3].reject = 1;
    assert_int_equal(tws_block_writer_add_stream(w, (tw_str){"{c=\"1\"}", 7}, r + 2, 2), TW_EINVAL);
    f->b.logs[3].reject = 0;
    assert_int_equal(tws_block_writer_add_stream(w, (tw_str){"{c=\"1\"}", 7}, r + 2, 2), TW_OK);
    /* spans into a log block */
    tws_batch spans;
    make_batch(&spans, 1, 1, 1, "x", 1);
    tws_span_ref sr = {&spans, &spans.spans[0]};
    assert_int_equal(tws_block_writer_add_trace(w, &sr, 1), TW_EINVAL);
    tws_block_writer_free(w);
    /* and logs into a trace block */
    assert_int_equal(tws_block_writer_new("acme", NULL, &w), TW_OK);
    assert_int_equal(tws_block_writer_add_stream(w, (tw_str){"{c=\"1\"}", 7}, r, 1), TW_EINVAL);
    tws_block_writer_free(w);
    tws_batch_free(&spans);
    /* an empty log block is not written */
    assert_int_equal(tws_block_writer_new("acme", &o, &w), TW_OK);
    char err[256];
    assert_int_not_equal(tws_block_writer_finish(w, f->st, NULL, err), TW_OK);
    tws_block_writer_free(w);
}

/* Records that compress to less than a byte each (a busy stream of one
 * repeated line) read back: a record count is bounded by its columns, not
 * by the row group's stored size. */
static void test_repetitive_records(void **state) {
    fx *f = *state;
    uint32_t stream[1];
    make_logs(&f->b, 1, stream);
    enum { N = 20000 };
    tws_log_ref *r = calloc(N, sizeof *r);
    for (uint32_t i = 0; i < N; i++) r[i] = (tws_log_ref){&f->b, 0, 0};
    tws_block_writer *w;
    tws_block_writer_options o = {.logs = true, .row_group_spans = N};
    assert_int_equal(tws_block_writer_new("acme", &o, &w), TW_OK);
    assert_int_equal(tws_block_writer_add_stream(w, (tw_str){"{a=\"1\"}", 7}, r, N), TW_OK);
    char err[256];
    tws_block_meta m;
    assert_int_equal(tws_block_writer_finish(w, f->st, &m, err), TW_OK);
    tws_block_writer_free(w);
    assert_true(m.size < N); /* under a byte per record */
    tws_block *blk;
    assert_int_equal(tws_block_open(f->st, "acme", m.id, &blk, err), TW_OK);
    tws_batch out;
    tws_batch_init(&out);
    tw_str *keys;
    int rc = tws_block_read_logs(blk, 0, NULL, &out, &keys, err);
    if (rc) print_message("%s\n", err);
    assert_int_equal(rc, TW_OK);
    assert_int_equal(out.n_logs, N);
    for (uint32_t i = 0; i < N; i++) assert_true(tws_log_equal(&out.logs[i], &f->b.logs[0]));
    tw__free(keys);
    tws_batch_free(&out);
    tws_block_close(blk);
    free(r);
}

static void test_meta_kind(void **state) {
    tws_block_meta m = {0}, back;
    tws_block_new_id(m.id);
    strcpy(m.tenant, "acme");
    m.version = TWS_BLOCK_VERSION;
    m.kind = TWS_BLOCK_LOGS;
    m.trace_pages = 3;
    tw__buf js;
    tw__buf_init(&js, 0);
    assert_int_equal(tws_block_meta_json(&m, &js), TW_OK);
    char err[256];
    assert_int_equal(tws_block_meta_parse((const char *)js.data, js.len, &back, err), TW_OK);
    assert_int_equal(back.kind, TWS_BLOCK_LOGS);
    assert_int_equal(back.trace_pages, 3);
    /* another kind is named in the refusal */
    char *p = memmem(js.data, js.len, "\"logs\"", 6);
    assert_non_null(p);
    memcpy(p, "\"mets\"", 6);
    assert_int_equal(tws_block_meta_parse((const char *)js.data, js.len, &back, err), TW_EPARSE);
    assert_non_null(strstr(err, "kind \"mets\""));
    tw__buf_free(&js);
}

/* Flip each byte of a small log block's data object: opening and reading
 * fail with TW_EPARSE, or give back exactly what was written. */
static void test_corruption(void **state) {
    fx *f = *state;
    write_logs(f, 40, 16);
    char key[512];
    tws_block_key(key, sizeof key, "acme", f->m.id, "data");
    uint8_t *orig;
    size_t len;
    tws_objstore_err e;
    assert_int_equal(tws_obj_get(f->st, key, &orig, &len, &e), TW_OK);
    int detected = 0;
    for (size_t pos = 0; pos < len; pos++) {
        orig[pos] ^= 0x5a;
        assert_int_equal(tws_obj_put(f->st, key, orig, len, &e), TW_OK);
        orig[pos] ^= 0x5a;
        tws_block *blk;
        char err[256];
        int rc = tws_block_open(f->st, "acme", f->m.id, &blk, err);
        if (rc) {
            assert_int_equal(rc, TW_EPARSE);
            detected++;
            continue;
        }
        bool bad = false;
        uint32_t at = 0;
        for (uint64_t rg = 0; rg < f->m.row_groups && !bad; rg++) {
            tws_batch out;
            tws_batch_init(&out);
            tw_str *keys;
            rc = tws_block_read_logs(blk, rg, NULL, &out, &keys, err);
            if (rc) {
                assert_int_equal(rc, TW_EPARSE);
                assert_non_null(strstr(err, "damaged"));
                bad = true;
            } else {
                for (uint32_t k = 0; k < out.n_logs; k++, at++)
                    assert_true(tws_log_equal(&f->b.logs[f->order[at].idx], &out.logs[k]));
            }
            tw__free(keys);
            tws_batch_free(&out);
        }
        uint32_t *rgs = NULL;
        size_t n;
        rc = tws_block_log_trace_rgs(blk, f->b.logs[1].trace_id, &rgs, &n, err);
        if (rc) {
            assert_int_equal(rc, TW_EPARSE);
            bad = true;
        } else {
            assert_true(n >= 1);
        }
        tw__free(rgs);
        if (!bad) assert_int_equal(at, f->n); /* an unnoticed flip changed nothing */
        detected += bad;
        tws_block_close(blk);
    }
    print_message("corruption: %d of %zu flipped bytes detected\n", detected, len);
    assert_true(detected > (int)len * 9 / 10);
    tw__free(orig);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters_and_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repetitive_records, setup, teardown),
        cmocka_unit_test(test_meta_kind),
        cmocka_unit_test_setup_teardown(test_corruption, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
