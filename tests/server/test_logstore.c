/*
 * test_logstore.c — the block store holding log blocks: flushing a frozen
 * log head, finding a trace's records across blocks, compaction, retention,
 * reopening, and the two kinds kept apart.
 *
 * Covered: a flush through the worker (callback after blocks and
 * checkpoint), one block per tenant, tenants apart; every traced record
 * found through tws_store_find_logs, by trace and by span, with its stream
 * key, against a brute-force answer; reopening with the blocks and the
 * checkpoint back; compaction of several flushes — one of them repeated, as
 * after a crash — into one block holding every record exactly once, streams
 * whole and in key order, each stream by time; retention; a log block in a
 * trace store (and the reverse) skipped with a message; the span calls
 * refused on a log store.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "flush_wait.h"
#include "fs_util.h"

#include "log_fixture.h"
#include "store/store.h"

typedef struct fx {
    char dir[64], blocks[96], state[96];
    tws_batch src[4]; /* what the heads were made of (the heads hold copies) */
    uint32_t *stream[4];
    uint32_t n[4];
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/tw-logstore-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->blocks, sizeof f->blocks, "%s/log-blocks", f->dir);
    snprintf(f->state, sizeof f->state, "%s/state-logs", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    for (int i = 0; i < 4; i++) {
        tws_batch_free(&f->src[i]);
        free(f->stream[i]);
    }
    rm_rf(f->dir);
    free(f);
    return 0;
}

static tws_store *open_logs(fx *f, const tws_store_options *o, uint64_t *lsn) {
    tws_objstore *obj;
    tws_objstore_err e;
    assert_int_equal(tws_objstore_local_open(f->blocks, &obj, &e), TW_OK);
    tws_store *st;
    char err[256];
    uint64_t l;
    tws_store_options def = {.maintenance_ms = 3600000, .logs = true, .row_group_spans = 300};
    int rc = tws_store_open(obj, f->state, o ? o : &def, NULL, &st, lsn ? lsn : &l, err);
    if (rc) print_message("open: %s\n", err);
    assert_int_equal(rc, TW_OK);
    return st;
}

/* make_logs's stream of a record: its resource's service (svc-N) x severity. */
static uint32_t stream_of(const tws_batch *b, const tws_log *l) {
    const tws_value *v = tws_attrs_find(&b->resources[b->scopes[l->scope_idx].resource_idx].attrs, "service.name");
    assert_non_null(v);
    return (uint32_t)(v->u.s.ptr[4] - '0') * 4 + l->severity % 4;
}

/* The head's stream key. */
static int key_of(void *user, const tws_batch *b, uint32_t i, tw__buf *key) {
    char k[64];
    log_stream_key(stream_of(b, &b->logs[i]), k, sizeof k);
    return tw__buf_append(key, k, strlen(k));
}

/* A log head holding generated batch `slot` (n records) for tenant `t`;
 * `time_base` shifts every record's times. */
static tws_loghead *head_with(fx *f, int slot, const char *t, uint32_t n, uint64_t time_base) {
    tws_loghead_options o = {.stream_key = key_of};
    tws_loghead *h;
    assert_int_equal(tws_loghead_new(&o, &h), TW_OK);
    if (!f->stream[slot]) {
        f->stream[slot] = calloc(n, sizeof *f->stream[slot]);
        make_logs(&f->src[slot], n, f->stream[slot]);
        f->n[slot] = n;
        for (uint32_t i = 0; i < n; i++) {
            tws_log *l = &f->src[slot].logs[i];
            if (l->time_ns) l->time_ns = l->time_ns - 1700000000000000000ull + time_base;
            if (l->observed_ns) l->observed_ns = l->observed_ns - 1700000000000000000ull + time_base;
        }
    }
    /* the head takes its batch: give it a copy through the OTLP encoding */
    tw__buf pb;
    tw__buf_init(&pb, 0);
    assert_int_equal(tws_otlp_encode_logs_pb(&f->src[slot], 1, &pb), TW_OK);
    tws_batch b;
    tws_batch_init(&b);
    tws_decode_options dopt = {0};
    tws_decode_error derr;
    assert_int_equal(tws_otlp_decode_logs_pb(pb.data, pb.len, &dopt, &b, &derr), TW_OK);
    assert_int_equal(b.n_logs, n);
    assert_int_equal(tws_loghead_add(h, t, &b, pb.len * 4), TW_OK);
    tws_batch_free(&b);
    tw__buf_free(&pb);
    return h;
}

static void flush(tws_store *st, tws_loghead *h, uint64_t lsn) {
    done_wait d = DONE_WAIT_INIT;
    assert_int_equal(tws_store_flush_logs(st, h, lsn, on_done, &d), TW_OK);
    assert_int_equal(wait_done(&d), TW_OK);
    tws_loghead_free(h);
}

/* Records of trace `id` (and span) in the src slots, slot s counted
 * copies[s] times (the times it was flushed; 0 ends the list). */
static uint32_t expected(fx *f, const uint32_t *copies, const uint8_t *id, const uint8_t *span) {
    uint32_t n = 0;
    for (int s = 0; s < 4 && copies[s]; s++)
        for (uint32_t i = 0; i < f->n[s]; i++) {
            const tws_log *l = &f->src[s].logs[i];
            n += copies[s] * (l->has_trace_id && !memcmp(l->trace_id, id, 16) &&
                              (!span || (l->has_span_id && !memcmp(l->span_id, span, 8))));
        }
    return n;
}

/* tws_store_find_logs for every 13th traced record of slot 0 matches the
 * brute-force count; each found record's key is its stream's. */
static void check_finds(fx *f, tws_store *st, const char *tenant, const uint32_t *copies) {
    uint32_t checked = 0;
    for (uint32_t i = 0; i < f->n[0]; i += 13) {
        const tws_log *l = &f->src[0].logs[i];
        if (!l->has_trace_id) continue;
        const uint8_t *span = l->has_span_id && i % 2 ? l->span_id : NULL;
        tws_log_found fo = {0};
        char err[256];
        assert_int_equal(tws_store_find_logs(st, tenant, l->trace_id, span, 0, 0, &fo, err), TW_OK);
        uint32_t got = 0;
        for (size_t k = 0; k < fo.n; k++)
            for (uint32_t j = 0; j < fo.batches[k]->n_logs; j++, got++) {
                const tws_log *x = &fo.batches[k]->logs[j];
                assert_memory_equal(x->trace_id, l->trace_id, 16);
                char want[64];
                log_stream_key(stream_of(fo.batches[k], x), want, sizeof want);
                assert_int_equal(fo.keys[k][j].len, strlen(want));
                assert_memory_equal(fo.keys[k][j].ptr, want, strlen(want));
            }
        assert_int_equal(got, expected(f, copies, l->trace_id, span));
        tws_log_found_free(&fo);
        checked++;
    }
    assert_true(checked > 20);
}

static void test_flush_find_reopen(void **state) {
    fx *f = *state;
    tws_store *st = open_logs(f, NULL, NULL);
    flush(st, head_with(f, 0, "acme", 3000, 1700000000000000000ull), 7);
    tws_store_stats s;
    tws_store_get_stats(st, &s);
    assert_int_equal(s.blocks, 1);
    assert_int_equal(s.block_spans, 3000);
    check_finds(f, st, "acme", (uint32_t[]){1, 0});
    /* another tenant sees none of it */
    tws_log_found fo = {0};
    char err[256];
    assert_int_equal(tws_store_find_logs(st, "other", f->src[0].logs[1].trace_id, NULL, 0, 0, &fo, err), TW_OK);
    assert_int_equal(fo.n, 0);
    /* a time window excludes */
    assert_int_equal(tws_store_find_logs(st, "acme", f->src[0].logs[1].trace_id, NULL, 1, 1000, &fo, err), TW_OK);
    assert_int_equal(fo.n, 0);
    /* the span calls are refused */
    assert_int_equal(tws_store_flush_now(st, NULL, 1, err), TW_EINVAL);
    tws_store_close(st);
    uint64_t lsn;
    st = open_logs(f, NULL, &lsn);
    assert_int_equal(lsn, 7);
    check_finds(f, st, "acme", (uint32_t[]){1, 0});
    tws_store_close(st);
}

typedef struct walk {
    char last[64];
    uint64_t last_time, records;
    uint32_t streams;
} walk;

static void test_compaction(void **state) {
    fx *f = *state;
    tws_store *st = open_logs(f, NULL, NULL);
    /* an hour ago, at the start of an hour: within retention, in one compaction window */
    uint64_t base = ((uint64_t)time(NULL) / 3600 - 1) * 3600 * 1000000000ull;
    flush(st, head_with(f, 0, "acme", 2000, base), 1);
    flush(st, head_with(f, 1, "acme", 2500, base), 2);
    flush(st, head_with(f, 0, "acme", 2000, base), 3); /* the first again: a crash's replay */
    tws_store_stats s;
    tws_store_get_stats(st, &s);
    assert_int_equal(s.blocks, 3);
    check_finds(f, st, "acme", (uint32_t[]){2, 1, 0}); /* before compaction the repeat is there twice */
    tws__log_merge_chunk = 7; /* chunks cut often: duplicates met across a cut must still go */
    tws_store_maintain(st);
    tws__log_merge_chunk = 8192;
    tws_store_get_stats(st, &s);
    assert_int_equal(s.compactions, 1);
    assert_int_equal(s.blocks, 1);
    assert_int_equal(s.block_spans, 4500); /* the repeat dropped */
    check_finds(f, st, "acme", (uint32_t[]){1, 1, 0});
    /* the merged block: streams in key order, whole, each by time */
    tws_store_snap snap;
    assert_int_equal(tws_store_snapshot(st, "acme", 0, 0, &snap), TW_OK);
    assert_int_equal(snap.n, 1);
    const tws_block_meta *m = tws_block_get_meta(snap.blocks[0]);
    assert_int_equal(m->traces, N_STREAMS);
    assert_true(m->level == 1);
    walk w = {"", 0, 0, 0};
    for (uint64_t rg = 0; rg < m->row_groups; rg++) {
        tws_batch out;
        tws_batch_init(&out);
        tw_str *keys;
        char err[256];
        assert_int_equal(tws_block_read_logs(snap.blocks[0], rg, NULL, &out, &keys, err), TW_OK);
        for (uint32_t j = 0; j < out.n_logs; j++, w.records++) {
            char k[64];
            memcpy(k, keys[j].ptr, keys[j].len);
            k[keys[j].len] = 0;
            int c = strcmp(w.last, k);
            assert_true(c <= 0);
            if (c) {
                w.streams++;
                w.last_time = 0;
                strcpy(w.last, k);
            }
            uint64_t t = tws_log_time(&out.logs[j]);
            assert_true(t >= w.last_time);
            w.last_time = t;
        }
        tw__free(keys);
        tws_batch_free(&out);
    }
    assert_int_equal(w.records, 4500);
    assert_int_equal(w.streams, N_STREAMS);
    tws_store_snap_release(st, &snap);
    tws_store_close(st);
}

static void test_retention(void **state) {
    fx *f = *state;
    tws_store_options o = {.maintenance_ms = 3600000, .logs = true, .retention_s = 3600};
    tws_store *st = open_logs(f, &o, NULL);
    uint64_t now = (uint64_t)time(NULL) * 1000000000ull;
    flush(st, head_with(f, 0, "old", 500, now - 4 * 3600ull * 1000000000ull), 1); /* ends ~3h50m ago */
    flush(st, head_with(f, 1, "new", 500, now - 300ull * 1000000000ull), 2);
    tws_store_maintain(st);
    tws_store_stats s;
    tws_store_get_stats(st, &s);
    assert_int_equal(s.retention_deletes, 1);
    assert_int_equal(s.blocks, 1);
    tws_store_snap snap;
    assert_int_equal(tws_store_snapshot(st, "new", 0, 0, &snap), TW_OK);
    assert_int_equal(snap.n, 1);
    tws_store_snap_release(st, &snap);
    assert_int_equal(tws_store_snapshot(st, "old", 0, 0, &snap), TW_OK);
    assert_int_equal(snap.n, 0);
    tws_store_snap_release(st, &snap);
    tws_store_close(st);
}

static char seen[512]; /* the store's last "is not used" message */

static void capture(const char *msg) {
    if (strstr(msg, "is not used")) snprintf(seen, sizeof seen, "%s", msg);
}

static void test_kinds_apart(void **state) {
    fx *f = *state;
    tws_store *st = open_logs(f, NULL, NULL);
    flush(st, head_with(f, 0, "acme", 200, 1700000000000000000ull), 1);
    tws_store_close(st);
    /* a trace store over the same objects: the log block is not served */
    tws_objstore *obj;
    tws_objstore_err e;
    assert_int_equal(tws_objstore_local_open(f->blocks, &obj, &e), TW_OK);
    tws_store_options o = {.maintenance_ms = 3600000};
    char err[256];
    uint64_t lsn;
    seen[0] = 0;
    assert_int_equal(tws_store_open(obj, f->state, &o, capture, &st, &lsn, err), TW_OK);
    tws_store_stats s;
    tws_store_get_stats(st, &s);
    assert_int_equal(s.blocks, 0);
    assert_non_null(strstr(seen, "it is a log block in the trace store"));
    assert_int_equal(tws_store_flush_logs_now(st, NULL, 1, err), TW_EINVAL);
    tws_store_close(st);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flush_find_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kinds_apart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
