/*
 * test_block.c — the block format: write, open, find, read back.
 *
 * Covered: a round trip of generated traces (every attribute type, nested
 * arrays and kvlists, bytes, empty values, events, links, trace state,
 * status, flags, dropped counts, parents inside and outside the trace,
 * several resources and scopes) through several row groups, each trace
 * found by id and every span tws_span_equal to what was written, with its
 * resource and scope; whole row groups read back; absent ids and the bloom
 * filter's false-positive rate; the time filter; more (key, type) pairs
 * than the column limit; the writer's refusals; meta.json errors; and a
 * flipped byte at every position of a small block never crashing and never
 * passing unnoticed where a checksum covers it; a batch freed and another
 * built at its address between traces (the new one's scopes are written);
 * span attribute filters agreeing with the decoded spans without reading
 * the dictionary; and a block in format 1 (tests/server/data/block-v1)
 * still read and filtered.
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
#include "block/block.h"
#include "block/format.h"
#include "block/rowgroup.h" /* the block's view, to check it is used */

/* ---- fixtures ----------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static tw_str strf(tws_batch *b, const char *fmt, unsigned long v) {
    char tmp[128];
    snprintf(tmp, sizeof tmp, fmt, v);
    return str(b, tmp);
}

static void random_value(tws_batch *b, tws_value *v, int depth) {
    memset(v, 0, sizeof *v);
    switch (next() % (depth < 2 ? 8 : 5)) {
    case 0: v->type = TWS_STRING, v->u.s = strf(b, "value-%lu", next() % 50); break;
    case 1: v->type = TWS_INT, v->u.i = (int64_t)next(); break;
    case 2: v->type = TWS_DOUBLE, v->u.d = (double)(int64_t)next() / 3.0; break;
    case 3: v->type = TWS_BOOL, v->u.b = next() & 1; break;
    case 4: v->type = TWS_EMPTY; break;
    case 5: {
        v->type = TWS_BYTES;
        size_t n = next() % 20;
        char *p = tws_batch_alloc(b, n + 1);
        for (size_t i = 0; i < n; i++) p[i] = (char)next();
        v->u.s = (tw_str){p, n};
        break;
    }
    case 6:
        v->type = TWS_ARRAY;
        v->n = (uint32_t)(next() % 4);
        v->u.arr = tws_batch_alloc(b, (v->n + 1) * sizeof *v->u.arr);
        for (uint32_t i = 0; i < v->n; i++) random_value(b, &v->u.arr[i], depth + 1);
        break;
    default:
        v->type = TWS_KVLIST;
        v->n = (uint32_t)(next() % 4);
        v->u.kv = tws_batch_alloc(b, (v->n + 1) * sizeof *v->u.kv);
        for (uint32_t i = 0; i < v->n; i++) {
            v->u.kv[i].key = strf(b, "nested.%lu", i);
            random_value(b, &v->u.kv[i].val, depth + 1);
        }
    }
}

static void random_attrs(tws_batch *b, tws_attrs *a, uint32_t max, const char *prefix) {
    a->n = (uint32_t)(next() % (max + 1));
    a->items = tws_batch_alloc(b, (a->n + 1) * sizeof *a->items);
    for (uint32_t i = 0; i < a->n; i++) {
        char k[64];
        snprintf(k, sizeof k, "%s.%u", prefix, (unsigned)(next() % 12));
        a->items[i].key = str(b, k);
        random_value(b, &a->items[i].val, 0);
    }
    a->dropped = next() % 5 == 0 ? (uint32_t)(next() % 9) : 0;
}

/* A batch of `traces` traces of 1..max_spans spans, ids from the rng. */
static void make_random_batch(tws_batch *b, uint32_t traces, uint32_t max_spans) {
    tws_batch_init(b);
    b->n_resources = 3;
    b->resources = tws_batch_alloc(b, 3 * sizeof *b->resources);
    for (uint32_t i = 0; i < 3; i++) {
        memset(&b->resources[i], 0, sizeof b->resources[i]);
        b->resources[i].attrs.n = 1;
        b->resources[i].attrs.items = tws_batch_alloc(b, sizeof(tws_kv));
        b->resources[i].attrs.items[0] = (tws_kv){str(b, "service.name"), {.type = TWS_STRING, .u.s = strf(b, "svc-%lu", i)}};
        if (i == 2) b->resources[i].schema_url = str(b, "https://opentelemetry.io/schemas/1.26.0");
    }
    b->n_scopes = 4;
    b->scopes = tws_batch_alloc(b, 4 * sizeof *b->scopes);
    for (uint32_t i = 0; i < 4; i++) {
        memset(&b->scopes[i], 0, sizeof b->scopes[i]);
        b->scopes[i].resource_idx = i % 3;
        b->scopes[i].name = strf(b, "lib-%lu", i);
        if (i == 1) b->scopes[i].version = str(b, "1.2.3");
        if (i == 3) random_attrs(b, &b->scopes[i].attrs, 2, "scope");
    }
    uint32_t cap = traces * max_spans;
    b->spans = tws_batch_alloc(b, cap * sizeof *b->spans);
    memset(b->spans, 0, cap * sizeof *b->spans);
    for (uint32_t t = 0; t < traces; t++) {
        uint8_t tid[16];
        for (int k = 0; k < 16; k += 8) {
            uint64_t r = next();
            memcpy(tid + k, &r, 8);
        }
        uint32_t n = 1 + (uint32_t)(next() % max_spans), first = b->n_spans;
        uint64_t t0 = 1732530000000000000ull + next() % 3600000000000ull;
        for (uint32_t i = 0; i < n; i++) {
            tws_span *s = &b->spans[b->n_spans++];
            memcpy(s->trace_id, tid, 16);
            uint64_t sid = next() | 1;
            memcpy(s->span_id, &sid, 8);
            if (i > 0) { /* parent: an earlier span of the trace, or one not in the batch */
                s->has_parent = true;
                if (next() % 5) memcpy(s->parent_span_id, b->spans[first + next() % i].span_id, 8);
                else memset(s->parent_span_id, 0x42, 8);
            } else if (next() % 4 == 0) {
                s->has_parent = true;
                memset(s->parent_span_id, 0x24, 8);
            }
            s->kind = (uint8_t)(next() % 6);
            s->status_code = (uint8_t)(next() % 3);
            if (s->status_code == 2) s->status_message = str(b, "upstream timeout");
            s->flags = next() % 2 ? 0x301 : 0x100;
            s->scope_idx = (uint32_t)(next() % 4);
            if (next() % 3 == 0) s->trace_state = str(b, "rojo=00f067aa0ba902b7,ot=th:8");
            s->name = strf(b, "GET /api/v%lu", next() % 7);
            s->start_ns = t0 + next() % 1000000000;
            s->end_ns = s->start_ns + next() % 50000000;
            random_attrs(b, &s->attrs, 12, "http");
            if (next() % 4 == 0) {
                s->n_events = 1 + (uint32_t)(next() % 3);
                s->events = tws_batch_alloc(b, s->n_events * sizeof *s->events);
                for (uint32_t e = 0; e < s->n_events; e++) {
                    memset(&s->events[e], 0, sizeof s->events[e]);
                    s->events[e].time_ns = s->start_ns + next() % 1000;
                    s->events[e].name = str(b, e ? "retry" : "exception");
                    random_attrs(b, &s->events[e].attrs, 3, "exception");
                }
            }
            if (next() % 6 == 0) {
                s->n_links = 1 + (uint32_t)(next() % 2);
                s->links = tws_batch_alloc(b, s->n_links * sizeof *s->links);
                for (uint32_t l = 0; l < s->n_links; l++) {
                    memset(&s->links[l], 0, sizeof s->links[l]);
                    for (int k = 0; k < 16; k++) s->links[l].trace_id[k] = (uint8_t)next();
                    for (int k = 0; k < 8; k++) s->links[l].span_id[k] = (uint8_t)next();
                    if (l) s->links[l].trace_state = str(b, "k=v");
                    s->links[l].flags = 0x101;
                    random_attrs(b, &s->links[l].attrs, 2, "link");
                }
            }
            if (next() % 7 == 0) s->dropped_events = 3, s->dropped_links = 1;
        }
    }
}

static int cmp_ref_trace(const void *x, const void *y) {
    const tws_span_ref *a = x, *b = y;
    int c = memcmp(a->span->trace_id, b->span->trace_id, 16);
    if (c) return c;
    return a->span < b->span ? -1 : a->span > b->span;
}

/* Write every span of `b` into a block (sorted by trace id). */
static int write_block(tws_objstore *st, const char *tenant, const tws_batch *b, uint32_t rg_spans,
                       tws_block_meta *meta) {
    tws_span_ref *refs = malloc(b->n_spans * sizeof *refs);
    for (uint32_t i = 0; i < b->n_spans; i++) refs[i] = (tws_span_ref){b, &b->spans[i]};
    qsort(refs, b->n_spans, sizeof *refs, cmp_ref_trace);
    tws_block_writer *w;
    tws_block_writer_options o = {.row_group_spans = rg_spans};
    assert_int_equal(tws_block_writer_new(tenant, &o, &w), TW_OK);
    int rc = TW_OK;
    for (uint32_t i = 0, j; i < b->n_spans && rc == TW_OK; i = j) {
        for (j = i + 1; j < b->n_spans && !memcmp(refs[j].span->trace_id, refs[i].span->trace_id, 16); j++) {
        }
        rc = tws_block_writer_add_trace(w, refs + i, j - i);
    }
    char err[256];
    if (rc == TW_OK) rc = tws_block_writer_finish(w, st, meta, err);
    if (rc) print_message("write_block: %s\n", err);
    tws_block_writer_free(w);
    free(refs);
    return rc;
}

static bool same_resource_scope(const tws_batch *a, const tws_span *sa, const tws_batch *b, const tws_span *sb) {
    const tws_scope *x = &a->scopes[sa->scope_idx], *y = &b->scopes[sb->scope_idx];
    const tws_resource *rx = &a->resources[x->resource_idx], *ry = &b->resources[y->resource_idx];
    return tws_str_equal(x->name, y->name) && tws_str_equal(x->version, y->version) &&
           tws_str_equal(x->schema_url, y->schema_url) && tws_attrs_equal(&x->attrs, &y->attrs) &&
           tws_attrs_equal(&rx->attrs, &ry->attrs) && tws_str_equal(rx->schema_url, ry->schema_url);
}


/* ---- filters against decoded spans ------------------------------------------------ */

/* A value test: equal to *ctx (type and value). */
static bool value_is(void *ctx, const tws_value *v) {
    const tws_value *w = ctx;
    if (v->type != w->type) return false;
    switch (v->type) {
    case TWS_STRING: return tws_str_equal(v->u.s, w->u.s);
    case TWS_INT: return v->u.i == w->u.i;
    case TWS_DOUBLE: return v->u.d == w->u.d;
    case TWS_BOOL: return v->u.b == w->u.b;
    default: return false;
    }
}

/* For the plain attribute values of the first spans of `dec` (the whole row
 * group, decoded), tws_rg_mark on span attributes marks exactly the spans
 * that hold an equal value under that key; a key nobody has marks none.
 * Returns how many (key, value) probes were made. */
static int check_span_attr_marks(tws_rg *rg, const tws_batch *dec) {
    uint32_t n = dec->n_spans;
    assert_int_equal(tws_rg_n_spans(rg), n);
    uint8_t *mark = calloc(n + 1, 1), *want = calloc(n + 1, 1);
    char err[256];
    int probes = 0;
    for (uint32_t i = 0; i < n && i < 40; i++) {
        const tws_attrs *a = &dec->spans[i].attrs;
        for (uint32_t j = 0; j < a->n; j++) {
            const tws_kv *kv = &a->items[j];
            if (kv->val.type < TWS_STRING || kv->val.type > TWS_DOUBLE) continue; /* string, bool, int, double */
            for (uint32_t s = 0; s < n; s++) {
                want[s] = 0;
                const tws_attrs *b = &dec->spans[s].attrs;
                for (uint32_t k = 0; k < b->n; k++)
                    if (tws_str_equal(b->items[k].key, kv->key) && value_is((void *)&kv->val, &b->items[k].val)) want[s] = 1;
            }
            memset(mark, 0, n);
            int rc = tws_rg_mark(rg, TWS_F_SPAN_ATTR, kv->key.ptr, kv->key.len, value_is, (void *)&kv->val, mark, err);
            if (rc) print_message("%s\n", err);
            assert_int_equal(rc, TW_OK);
            assert_memory_equal(mark, want, n);
            if (kv->val.type == TWS_STRING) { /* the same told it is an equality */
                memset(mark, 0, n);
                assert_int_equal(tws_rg_mark_eq(rg, TWS_F_SPAN_ATTR, kv->key.ptr, kv->key.len, value_is, (void *)&kv->val,
                                                &kv->val.u.s, mark, err),
                                 TW_OK);
                assert_memory_equal(mark, want, n);
            }
            probes++;
        }
    }
    tws_value any = {.type = TWS_STRING, .u.s = {"x", 1}};
    memset(mark, 0, n);
    assert_int_equal(tws_rg_mark(rg, TWS_F_SPAN_ATTR, "no.such.key", 11, value_is, &any, mark, err), TW_OK);
    for (uint32_t s = 0; s < n; s++) assert_int_equal(mark[s], 0);
    free(mark);
    free(want);
    return probes;
}

/* Row group i of blk: decoded whole into *dec, and opened for filters. */
static tws_rg *open_rg_decoded(tws_block *blk, uint64_t i, tws_batch *dec) {
    char err[256];
    tws_rg *rg, *once;
    assert_int_equal(tws_rg_open(blk, i, &once, err), TW_OK);
    tws_batch_init(dec);
    assert_int_equal(tws_rg_decode(once, NULL, TWS_PART_ALL, dec, err), TW_OK);
    tws_rg_close(once);
    assert_int_equal(tws_rg_open(blk, i, &rg, err), TW_OK);
    return rg;
}

/* ---- tests ---------------------------------------------------------------------- */



typedef struct fx {
    char dir[64];
    tws_objstore *st;
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/tw-block-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    tws_objstore_err e;
    assert_int_equal(tws_objstore_local_open(f->dir, &f->st, &e), TW_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    tws_obj_close(f->st);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* The data object of block `id` of tenant "t" (tw__malloc'd). */
static uint8_t *get_data(fx *f, const char *id, size_t *len, char key[512]) {
    tws_block_key(key, 512, "t", id, "data");
    uint8_t *data;
    tws_objstore_err e;
    assert_int_equal(tws_obj_get(f->st, key, &data, len, &e), TW_OK);
    return data;
}

static void test_round_trip(void **state) {
    fx *f = *state;
    tws_batch b;
    make_random_batch(&b, 300, 12);
    tws_block_meta m;
    assert_int_equal(write_block(f->st, "team-a", &b, 97, &m), TW_OK);
    assert_int_equal(m.spans, b.n_spans);
    assert_int_equal(m.traces, 300);
    assert_true(m.row_groups > 10);
    /* read in place from a view of the data object (the local store has
     * them), then with ranged gets */
    for (int view = 1; view >= 0; view--) {
        tws__block_map = view;
        tws_block *blk;
        char err[256];
        assert_int_equal(tws_block_open(f->st, "team-a", m.id, &blk, err), TW_OK);
        assert_true((blk->map != NULL) == view);
        assert_int_equal(tws_block_get_meta(blk)->spans, b.n_spans);
        assert_int_equal(tws_block_get_meta(blk)->start_ns, m.start_ns);
        /* every span of every trace, found by its trace id */
        uint32_t checked = 0;
        for (uint32_t i = 0; i < b.n_spans; i++) {
            const tws_span *s = &b.spans[i];
            if (i && !memcmp(s->trace_id, b.spans[i - 1].trace_id, 16)) continue;
            assert_true(tws_block_may_contain(blk, s->trace_id));
            tws_batch out;
            tws_batch_init(&out);
            assert_int_equal(tws_block_find_trace(blk, s->trace_id, 0, 0, &out, err), TW_OK);
            uint32_t expect = 0;
            for (uint32_t j = i; j < b.n_spans && !memcmp(b.spans[j].trace_id, s->trace_id, 16); j++) {
                expect++;
                bool found = false;
                for (uint32_t k = 0; k < out.n_spans && !found; k++)
                    if (tws_span_equal(&b.spans[j], &out.spans[k])) {
                        found = true;
                        assert_true(same_resource_scope(&b, &b.spans[j], &out, &out.spans[k]));
                        for (uint32_t a = 0; a < b.spans[j].attrs.n; a++) /* and in the order sent */
                            assert_true(tws_str_equal(b.spans[j].attrs.items[a].key, out.spans[k].attrs.items[a].key));
                    }
                assert_true(found);
                checked++;
            }
            assert_int_equal(out.n_spans, expect);
            tws_batch_free(&out);
        }
        assert_int_equal(checked, b.n_spans);
        /* whole row groups: every span once */
        uint64_t total = 0;
        for (uint64_t g = 0; g < m.row_groups; g++) {
            tws_batch out;
            tws_batch_init(&out);
            assert_int_equal(tws_block_read_row_group(blk, g, &out, err), TW_OK);
            for (uint32_t k = 1; k < out.n_spans; k++) /* sorted by trace */
                assert_true(memcmp(out.spans[k - 1].trace_id, out.spans[k].trace_id, 16) <= 0);
            total += out.n_spans;
            tws_batch_free(&out);
        }
        assert_int_equal(total, b.n_spans);
        tws_block_close(blk);
    }
    tws__block_map = true;
    tws_batch_free(&b);
}

/* A span's batch may be freed and another built at its address while the
 * row group grows (compaction reads each input a row group at a time into
 * one batch): its scope is the new batch's, not the one seen there before. */
static void test_batch_reused_at_same_address(void **state) {
    fx *f = *state;
    tws_block_writer *w;
    assert_int_equal(tws_block_writer_new("team-a", NULL, &w), TW_OK);
    tws_batch b;
    uint32_t scope_of[6];
    uint8_t tid[6][16];
    for (uint32_t r = 0; r < 6; r++) {
        make_random_batch(&b, 1, 1);
        for (uint32_t i = 0; i < b.n_scopes; i++) b.scopes[i].name = strf(&b, "lib-%lu", r * 10 + i);
        memset(tid[r], 0, 16);
        tid[r][15] = (uint8_t)(r + 1);
        memcpy(b.spans[0].trace_id, tid[r], 16);
        scope_of[r] = b.spans[0].scope_idx;
        assert_int_equal(tws_block_writer_add_trace(w, &(tws_span_ref){&b, &b.spans[0]}, 1), TW_OK);
        tws_batch_free(&b);
    }
    tws_block_meta m;
    char err[256];
    assert_int_equal(tws_block_writer_finish(w, f->st, &m, err), TW_OK);
    tws_block_writer_free(w);
    assert_int_equal(m.row_groups, 1);
    tws_block *blk;
    assert_int_equal(tws_block_open(f->st, "team-a", m.id, &blk, err), TW_OK);
    for (uint32_t r = 0; r < 6; r++) {
        tws_batch out;
        tws_batch_init(&out);
        assert_int_equal(tws_block_find_trace(blk, tid[r], 0, 0, &out, err), TW_OK);
        assert_int_equal(out.n_spans, 1);
        char want[32];
        snprintf(want, sizeof want, "lib-%u", r * 10 + scope_of[r]);
        tw_str got = out.scopes[out.spans[0].scope_idx].name;
        assert_true(got.len == strlen(want) && !memcmp(got.ptr, want, got.len));
        tws_batch_free(&out);
    }
    tws_block_close(blk);
}

static void test_absent_ids_and_bloom(void **state) {
    fx *f = *state;
    tws_batch b;
    make_random_batch(&b, 2000, 3);
    tws_block_meta m;
    assert_int_equal(write_block(f->st, "t", &b, 0, &m), TW_OK);
    tws_block *blk;
    char err[256];
    assert_int_equal(tws_block_open(f->st, "t", m.id, &blk, err), TW_OK);
    int maybe = 0;
    for (int i = 0; i < 20000; i++) {
        uint8_t id[16];
        for (int k = 0; k < 16; k++) id[k] = (uint8_t)next();
        if (tws_block_may_contain(blk, id)) maybe++;
        tws_batch out;
        tws_batch_init(&out);
        assert_int_equal(tws_block_find_trace(blk, id, 0, 0, &out, err), TW_OK);
        assert_int_equal(out.n_spans, 0);
        tws_batch_free(&out);
    }
    print_message("bloom false positives: %d of 20000\n", maybe);
    assert_true(maybe < 20000 * 3 / 100);
    tws_block_close(blk);
    /* another tenant has no such block */
    assert_int_equal(tws_block_open(f->st, "u", m.id, &blk, err), TW_ENOTFOUND);
    tws_batch_free(&b);
}

static void test_time_filter(void **state) {
    fx *f = *state;
    tws_batch b;
    make_random_batch(&b, 1, 1);
    b.spans[0].start_ns = 5000;
    b.spans[0].end_ns = 6000;
    b.spans[0].n_events = 0;
    tws_block_meta m;
    assert_int_equal(write_block(f->st, "t", &b, 0, &m), TW_OK);
    tws_block *blk;
    char err[256];
    assert_int_equal(tws_block_open(f->st, "t", m.id, &blk, err), TW_OK);
    struct {
        uint64_t s, e;
        uint32_t n;
    } cases[] = {{0, 0, 1}, {1, 4999, 0}, {1, 5000, 1}, {6000, 9000, 1}, {6001, 9000, 0}, {5500, 5600, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tws_batch out;
        tws_batch_init(&out);
        assert_int_equal(tws_block_find_trace(blk, b.spans[0].trace_id, cases[i].s, cases[i].e, &out, err), TW_OK);
        assert_int_equal(out.n_spans, cases[i].n);
        tws_batch_free(&out);
    }
    tws_block_close(blk);
    tws_batch_free(&b);
}

static bool int_is(void *ctx, const tws_value *v) { return v->type == TWS_INT && v->u.i == *(const int64_t *)ctx; }

static void test_many_keys(void **state) {
    fx *f = *state;
    tws_batch b;
    make_random_batch(&b, 1, 1);
    tws_span *s = &b.spans[0];
    s->attrs.n = 1500; /* more (key, type) pairs than a row group gives columns */
    s->attrs.items = tws_batch_alloc(&b, s->attrs.n * sizeof(tws_kv));
    for (uint32_t i = 0; i < s->attrs.n; i++)
        s->attrs.items[i] = (tws_kv){strf(&b, "key.%lu", i), {.type = TWS_INT, .u.i = i * 7}};
    tws_block_meta m;
    assert_int_equal(write_block(f->st, "t", &b, 0, &m), TW_OK);
    tws_block *blk;
    char err[256];
    assert_int_equal(tws_block_open(f->st, "t", m.id, &blk, err), TW_OK);
    tws_batch out;
    tws_batch_init(&out);
    assert_int_equal(tws_block_find_trace(blk, s->trace_id, 0, 0, &out, err), TW_OK);
    assert_int_equal(out.n_spans, 1);
    assert_true(tws_span_equal(s, &out.spans[0]));
    for (uint32_t i = 0; i < 1500; i++) /* order kept: columns first, then the rest, both in order */
        assert_true(tws_str_equal(out.spans[0].attrs.items[i].key, s->attrs.items[i].key));
    tws_batch_free(&out);
    /* the selective path: a directory longer than the first read, a key with
     * a column and one past the column limit */
    tws_rg *rg;
    size_t prefix = tws__block_rg_prefix;
    tws__block_rg_prefix = 4096;
    tws__block_map = false; /* ranged reads: a view has no first read */
    tws_block *ranged;
    assert_int_equal(tws_block_open(f->st, "t", m.id, &ranged, err), TW_OK);
    tws__block_map = true;
    tws_block_close(blk);
    blk = ranged;
    assert_int_equal(tws_rg_open(blk, 0, &rg, err), TW_OK);
    tws__block_rg_prefix = prefix;
    assert_int_equal(tws_rg_n_spans(rg), 1);
    static const struct {
        const char *key;
        int64_t want;
        uint8_t mark;
    } probes[] = {{"key.5", 35, 1}, {"key.5", 36, 0}, {"key.1200", 8400, 1}, {"key.1200", 7, 0}, {"key.9999", 0, 0}};
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
        uint8_t mark = 0;
        int64_t want = probes[i].want;
        assert_int_equal(tws_rg_mark(rg, TWS_F_SPAN_ATTR, probes[i].key, strlen(probes[i].key), int_is, &want, &mark, err),
                         TW_OK);
        assert_int_equal(mark, probes[i].mark);
    }
    uint8_t keep = 1;
    assert_int_equal(tws_rg_decode(rg, &keep, TWS_PART_ALL, &out, err), TW_OK);
    tws_rg_close(rg); /* the batch owns what it holds */
    assert_int_equal(out.n_spans, 1);
    assert_true(tws_span_equal(s, &out.spans[0]));
    tws_batch_free(&out);
    tws_block_close(blk);
    tws_batch_free(&b);
}

static void test_writer_refusals(void **state) {
    fx *f = *state;
    tws_batch b;
    make_random_batch(&b, 2, 1);
    tws_span_ref r0 = {&b, &b.spans[0]}, r1 = {&b, &b.spans[1]};
    if (memcmp(r0.span->trace_id, r1.span->trace_id, 16) > 0) {
        tws_span_ref t = r0;
        r0 = r1;
        r1 = t;
    }
    tws_block_writer *w;
    char err[256];
    assert_int_equal(tws_block_writer_new("t", NULL, &w), TW_OK);
    tws_block_meta m;
    assert_int_equal(tws_block_writer_finish(w, f->st, &m, err), TW_EINVAL); /* empty */
    tws_block_writer_free(w);
    assert_int_equal(tws_block_writer_new("t", NULL, &w), TW_OK);
    assert_int_equal(tws_block_writer_add_trace(w, &r1, 1), TW_OK);
    assert_int_equal(tws_block_writer_add_trace(w, &r0, 1), TW_EINVAL); /* out of order */
    assert_int_equal(tws_block_writer_add_trace(w, &r1, 1), TW_EINVAL); /* repeated */
    tws_span_ref mixed[2] = {r0, r1};
    tws_block_writer_free(w);
    assert_int_equal(tws_block_writer_new("t", NULL, &w), TW_OK);
    assert_int_equal(tws_block_writer_add_trace(w, mixed, 2), TW_EINVAL);
    b.spans[0].reject = TWS_REJECT_LIMIT;
    tws_span_ref rej = {&b, &b.spans[0]};
    assert_int_equal(tws_block_writer_add_trace(w, &rej, 1), TW_EINVAL);
    tws_block_writer_free(w);
    tws_batch_free(&b);
}

static void test_meta_errors(void **state) {
    (void)state;
    tws_block_meta m = {.version = 1, .spans = 3, .traces = 1, .row_groups = 1, .size = 100};
    tws_block_new_id(m.id);
    assert_true(tws_block_id_valid(m.id));
    assert_false(tws_block_id_valid("../../etc/passwd-0000-0000-00000000"));
    strcpy(m.tenant, "team \"a\"");
    m.start_ns = 1732530000123456789ull;
    tw__buf js;
    tw__buf_init(&js, 0);
    assert_int_equal(tws_block_meta_json(&m, &js), TW_OK);
    tws_block_meta back;
    char err[256];
    assert_int_equal(tws_block_meta_parse((char *)js.data, js.len, &back, err), TW_OK);
    assert_string_equal(back.tenant, m.tenant);
    assert_string_equal(back.id, m.id);
    assert_int_equal(back.start_ns, m.start_ns);
    tw__buf_free(&js);
    struct {
        const char *json;
        int rc;
        const char *msg;
    } bad[] = {
        {"{}", TW_EPARSE, "\"format\""},
        {"{\"format\":\"parquet\"}", TW_EPARSE, "not a tracewire block"},
        {"{\"format\":\"tracewire-block\",\"version\":9}", TW_ENOTSUP, "version 9"},
        {"{\"format\":\"tracewire-block\",\"version\":1,\"blockID\":\"x\"}", TW_EPARSE, "\"tenantID\""},
        {"not json", TW_EPARSE, "format"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(tws_block_meta_parse(bad[i].json, strlen(bad[i].json), &back, err), bad[i].rc);
        assert_non_null(strstr(err, bad[i].msg));
    }
}

/* Flip each byte of a small block's data object: open + find either fail
 * with TW_EPARSE or return exactly the original spans; never a crash. */
static void test_corruption(void **state) {
    fx *f = *state;
    tws_batch b;
    make_random_batch(&b, 4, 3);
    tws_block_meta m;
    assert_int_equal(write_block(f->st, "t", &b, 2, &m), TW_OK);
    char key[512];
    size_t len;
    tws_objstore_err e;
    uint8_t *orig = get_data(f, m.id, &len, key);
    int detected = 0;
    for (size_t pos = 0; pos < len; pos++) {
        orig[pos] ^= 0x5a;
        assert_int_equal(tws_obj_put(f->st, key, orig, len, &e), TW_OK);
        orig[pos] ^= 0x5a;
        tws_block *blk;
        char err[256];
        int rc = tws_block_open(f->st, "t", m.id, &blk, err);
        if (rc) {
            assert_int_equal(rc, TW_EPARSE);
            detected++;
            continue;
        }
        bool bad = false;
        for (uint32_t i = 0; i < b.n_spans; i++) {
            tws_batch out;
            tws_batch_init(&out);
            rc = tws_block_find_trace(blk, b.spans[i].trace_id, 0, 0, &out, err);
            if (rc) {
                assert_int_equal(rc, TW_EPARSE);
                assert_non_null(strstr(err, "damaged"));
                bad = true;
            } else {
                bool found = false;
                for (uint32_t k = 0; k < out.n_spans; k++) found = found || tws_span_equal(&b.spans[i], &out.spans[k]);
                /* a flip the checksums do not cover (the header's reserved
                 * bytes, the footer) must not change what is read */
                assert_true(found);
            }
            tws_batch_free(&out);
        }
        detected += bad;
        tws_block_close(blk);
    }
    print_message("corruption: %d of %zu flipped bytes detected\n", detected, len);
    assert_true(detected > (int)len * 9 / 10);
    tw__free(orig);
    tws_batch_free(&b);
}


/* Span attribute filters agree with the decoded spans in every row group,
 * and never read the dictionary: with its stored bytes damaged they still
 * answer, while a filter on span names (which the dictionary holds) says
 * the block is damaged. */
static void test_span_attr_filter_without_dictionary(void **state) {
    fx *f = *state;
    tws_batch b;
    make_random_batch(&b, 60, 8);
    /* span attributes of plain types only: arrays, kvlists and bytes are
     * generic values, whose strings the dictionary holds */
    for (uint32_t i = 0; i < b.n_spans; i++)
        for (uint32_t j = 0; j < b.spans[i].attrs.n; j++) {
            tws_value *v = &b.spans[i].attrs.items[j].val;
            if (v->type < TWS_STRING || v->type > TWS_DOUBLE) *v = (tws_value){.type = TWS_INT, .u.i = j % 3};
        }
    tws_block_meta m;
    assert_int_equal(write_block(f->st, "t", &b, 64, &m), TW_OK);
    assert_int_equal(m.version, TWS_BLOCK_VERSION);
    tws_block *blk;
    char err[256];
    assert_int_equal(tws_block_open(f->st, "t", m.id, &blk, err), TW_OK);
    assert_true(tws_block_get_meta(blk)->row_groups > 1);
    tws_batch dec;
    tws_rg *rg = open_rg_decoded(blk, 0, &dec);
    int probes = check_span_attr_marks(rg, &dec);
    assert_true(probes > 20);
    tws_rg_close(rg);
    for (uint64_t i = 1; i < tws_block_get_meta(blk)->row_groups; i++) {
        tws_batch d;
        rg = open_rg_decoded(blk, i, &d);
        check_span_attr_marks(rg, &d);
        tws_rg_close(rg);
        tws_batch_free(&d);
    }
    tws_block_close(blk);
    /* flip a stored byte of row group 0's dictionary strings */
    char key[512];
    size_t len;
    tws_objstore_err e;
    uint8_t *data = get_data(f, m.id, &len, key);
    const uint8_t *rgp = data + TWS_BLK_HEADER;
    uint32_t n_cols = tws_get_le32(rgp + 4);
    size_t at = TWS_RG_HEADER + (size_t)n_cols * TWS_RG_DIRENT + 4, dict_at = 0;
    bool keys_first = false;
    for (uint32_t c = 0; c < n_cols; c++) {
        const uint8_t *ent = rgp + TWS_RG_HEADER + (size_t)c * TWS_RG_DIRENT;
        uint16_t id = (uint16_t)(ent[0] | ent[1] << 8);
        if (c == 0) keys_first = id == COL_ATTR_KEYS;
        if (id == COL_DICT_DATA) dict_at = at;
        at += tws_get_le32(ent + 12);
    }
    assert_true(keys_first); /* the key column comes first, inside the first read */
    assert_true(dict_at > 0);
    data[TWS_BLK_HEADER + dict_at] ^= 0x5a;
    assert_int_equal(tws_obj_put(f->st, key, data, len, &e), TW_OK);
    tw__free(data);
    assert_int_equal(tws_block_open(f->st, "t", m.id, &blk, err), TW_OK);
    assert_int_equal(tws_rg_open(blk, 0, &rg, err), TW_OK);
    assert_int_equal(check_span_attr_marks(rg, &dec), probes);
    uint8_t *mark = calloc(dec.n_spans, 1);
    tws_value nm = {.type = TWS_STRING, .u.s = {"GET /api/v1", 11}};
    assert_int_equal(tws_rg_mark(rg, TWS_F_NAME, NULL, 0, value_is, &nm, mark, err), TW_EPARSE);
    assert_non_null(strstr(err, "checksum"));
    free(mark);
    tws_rg_close(rg);
    tws_block_close(blk);
    tws_batch_free(&dec);
    tws_batch_free(&b);
}

/* A block written in format 1 (no key column: filters find attribute
 * columns through the dictionary) still opens, reads and filters. */
static void test_format1_block(void **state) {
    fx *f = *state;
    const char *src = getenv("TW_SOURCE_DIR");
    assert_non_null(src);
    static const char *id = "f84eb0a8-6523-4150-aba3-13f2df65c2e7";
    static const char *parts[] = {"data", "meta.json"};
    for (int p = 0; p < 2; p++) { /* a copy: the fixture stays untouched */
        char path[1024], key[512];
        snprintf(path, sizeof path, "%s/tests/server/data/block-v1/single-tenant/%s/%s", src, id, parts[p]);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        static uint8_t buf[65536];
        size_t n = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        tws_block_key(key, sizeof key, "single-tenant", id, parts[p]);
        tws_objstore_err e;
        assert_int_equal(tws_obj_put(f->st, key, buf, n, &e), TW_OK);
    }
    tws_block *blk;
    char err[256];
    assert_int_equal(tws_block_open(f->st, "single-tenant", id, &blk, err), TW_OK);
    assert_int_equal(tws_block_get_meta(blk)->version, 1);
    static const uint8_t checkout[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                         0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
    tws_batch out;
    tws_batch_init(&out);
    assert_int_equal(tws_block_find_trace(blk, checkout, 0, 0, &out, err), TW_OK);
    assert_int_equal(out.n_spans, 3);
    const tws_span *charge = NULL;
    for (uint32_t i = 0; i < out.n_spans; i++)
        if (tws_str_equal(out.spans[i].name, (tw_str){"charge", 6})) charge = &out.spans[i];
    assert_non_null(charge);
    assert_int_equal(charge->status_code, 2);
    assert_true(tws_str_equal(charge->status_message, (tw_str){"payment gateway unavailable", 27}));
    assert_int_equal(charge->attrs.n, 3);
    assert_true(tws_str_equal(charge->attrs.items[2].key, (tw_str){"peer.service", 12}));
    tws_batch_free(&out);
    tws_batch dec;
    tws_rg *rg = open_rg_decoded(blk, 0, &dec);
    assert_int_equal(dec.n_spans, 4);
    assert_true(check_span_attr_marks(rg, &dec) >= 10);
    uint8_t mark[4] = {0};
    tws_value get = {.type = TWS_STRING, .u.s = {"GET", 3}};
    assert_int_equal(tws_rg_mark(rg, TWS_F_SPAN_ATTR, "http.request.method", 19, value_is, &get, mark, err), TW_OK);
    assert_int_equal(mark[0] + mark[1] + mark[2] + mark[3], 3);
    tws_rg_close(rg);
    tws_batch_free(&dec);
    tws_block_close(blk);
}

static void test_attrs_equal_ignores_order(void **state) {
    (void)state;
    tws_kv a[3] = {{{"x", 1}, {.type = TWS_INT, .u.i = 1}},
                   {{"y", 1}, {.type = TWS_STRING, .u.s = {"v", 1}}},
                   {{"x", 1}, {.type = TWS_INT, .u.i = 2}}};
    tws_kv b[3] = {a[1], a[2], a[0]};
    tws_attrs x = {a, 3, 0}, y = {b, 3, 0};
    assert_true(tws_attrs_equal(&x, &y));
    b[0].val.u.s = (tw_str){"w", 1};
    assert_false(tws_attrs_equal(&x, &y));
    b[0] = a[1];
    b[1] = a[0]; /* x=1 twice, no x=2 */
    assert_false(tws_attrs_equal(&x, &y));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_reused_at_same_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absent_ids_and_bloom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_refusals, setup, teardown),
        cmocka_unit_test(test_meta_errors),
        cmocka_unit_test_setup_teardown(test_corruption, setup, teardown),
        cmocka_unit_test(test_attrs_equal_ignores_order),
        cmocka_unit_test_setup_teardown(test_span_attr_filter_without_dictionary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format1_block, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
