/*
 * test_store.c — the block store: flushing heads, finding traces across
 * blocks, compaction, retention, the checkpoint, reopening.
 *
 * Covered: a flush through the worker (the callback after the blocks and
 * the checkpoint), one block per tenant, a trace split over two flushes
 * found whole, exact duplicates dropped by the flush and by compaction,
 * compaction keeping every span's own scope and resource while its inputs'
 * batches are remade at the same address,
 * compaction merging every block of a window into one (and deleting the
 * inputs' objects), finds from another thread while compaction runs
 * (ThreadSanitizer runs this file), retention, reopening with the blocks
 * and the checkpoint back, an unfinished block (data without meta.json)
 * removed at open and a damaged one skipped.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "flush_wait.h"
#include "fs_util.h"

#include "batch_fixture.h"
#include "store/store.h"

static uint64_t now_ns(void) { return (uint64_t)time(NULL) * 1000000000ull; }

typedef struct fx {
    char dir[64], blocks[96], state[96];
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/tw-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->blocks, sizeof f->blocks, "%s/blocks", f->dir);
    snprintf(f->state, sizeof f->state, "%s/state", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    rm_rf(f->dir);
    free(f);
    return 0;
}

static tws_store *open_store(fx *f, const tws_store_options *o, uint64_t *lsn) {
    tws_objstore *obj;
    tws_objstore_err e;
    assert_int_equal(tws_objstore_local_open(f->blocks, &obj, &e), TW_OK);
    tws_store *st;
    char err[256];
    uint64_t l;
    tws_store_options def = {.maintenance_ms = 3600000}; /* maintenance only when asked */
    int rc = tws_store_open(obj, f->state, o ? o : &def, NULL, &st, lsn ? lsn : &l, err);
    if (rc) print_message("open: %s\n", err);
    assert_int_equal(rc, TW_OK);
    return st;
}

/* A head holding `n` spans of trace `tid` (span ids base..), for tenant `t`. */
static tws_head *head_with(const char *t, uint8_t tid, uint8_t base, uint32_t n, uint64_t start) {
    tws_head *h;
    assert_int_equal(tws_head_new(NULL, &h), TW_OK);
    tws_batch b;
    make_batch(&b, tid, base, n, "v", start);
    assert_int_equal(tws_head_add(h, t, &b, 4096), TW_OK);
    return h;
}

static size_t count(tws_store *st, const char *t, uint8_t tid) {
    uint8_t id[16];
    memset(id, tid, 16);
    tws_batch *b;
    size_t n, spans = 0;
    char err[256];
    assert_int_equal(tws_store_find(st, t, id, 0, 0, &b, &n, err), TW_OK);
    /* the same merge the query API uses */
    tws_selection *sel = calloc(n + 1, sizeof *sel);
    uint32_t *idx = calloc(4096, sizeof *idx);
    for (uint32_t i = 0; i < 4096; i++) idx[i] = i;
    for (size_t i = 0; i < n; i++) sel[i] = (tws_selection){&b[i], idx, b[i].n_spans};
    tws_trace_result r;
    if (tws_trace_merge(sel, n, &r) == TW_OK) spans = r.n_spans;
    tws_trace_result_free(&r);
    for (size_t i = 0; i < n; i++) tws_batch_free(&b[i]);
    tw__free(b);
    free(sel);
    free(idx);
    return spans;
}

static int flush_async(tws_store *st, tws_head *h, uint64_t lsn) {
    done_wait d = DONE_WAIT_INIT;
    assert_int_equal(tws_store_flush(st, h, lsn, on_done, &d), TW_OK);
    return wait_done(&d);
}

static void test_flush_find_reopen(void **state) {
    fx *f = *state;
    uint64_t lsn;
    tws_store *st = open_store(f, NULL, &lsn);
    assert_int_equal(lsn, 0);
    tws_head *h = head_with("a", 0x11, 1, 5, now_ns());
    tws_batch b;
    make_batch(&b, 0x22, 1, 3, "v", now_ns());
    assert_int_equal(tws_head_add(h, "b", &b, 4096), TW_OK);
    uint64_t t_big = now_ns();
    for (int k = 0; k < 2; k++) { /* a 40-span trace sent twice: the large-trace path of the flush */
        make_batch(&b, 0x33, 100, 40, "v", t_big);
        assert_int_equal(tws_head_add(h, "a", &b, 4096), TW_OK);
    }
    make_batch(&b, 0x11, 1, 5, "v", now_ns()); /* a resend: exact duplicates */
    /* same start time as the first: make_batch derives times from `start` */
    assert_int_equal(tws_head_add(h, "a", &b, 4096), TW_OK);
    assert_int_equal(flush_async(st, h, 1234), TW_OK);
    tws_head_free(h);
    tws_store_stats s;
    tws_store_get_stats(st, &s);
    assert_int_equal(s.blocks, 2); /* one per tenant */
    assert_int_equal(s.block_spans, 48);
    assert_int_equal(count(st, "a", 0x33), 40);
    assert_int_equal(count(st, "a", 0x11), 5);
    assert_int_equal(count(st, "b", 0x22), 3);
    assert_int_equal(count(st, "b", 0x11), 0); /* tenants apart */
    assert_int_equal(count(st, "a", 0x99), 0);
    tws_store_close(st);
    st = open_store(f, NULL, &lsn);
    assert_int_equal(lsn, 1234);
    tws_store_get_stats(st, &s);
    assert_int_equal(s.blocks, 2);
    assert_int_equal(count(st, "a", 0x11), 5);
    tws_store_close(st);
}

static void test_split_trace_and_compaction(void **state) {
    fx *f = *state;
    tws_store *st = open_store(f, NULL, NULL);
    uint64_t t0 = now_ns();
    /* four flushes of trace 0x44: spans 1-4, the same again (exact
     * duplicates), spans 5-8, spans 1-4 once more: 8 distinct spans */
    static const uint8_t base[4] = {1, 1, 5, 1};
    for (int i = 0; i < 4; i++) {
        tws_head *h = head_with("a", 0x44, base[i], 4, t0 + (base[i] - 1));
        char err[256];
        assert_int_equal(tws_store_flush_now(st, h, (uint64_t)i + 1, err), TW_OK);
        tws_head_free(h);
    }
    size_t before = count(st, "a", 0x44);
    assert_int_equal(before, 8); /* joined across blocks, duplicates once */
    tws_store_stats s;
    tws_store_get_stats(st, &s);
    assert_int_equal(s.blocks, 4);
    tws_store_maintain(st);
    tws_store_get_stats(st, &s);
    assert_int_equal(s.blocks, 1);
    assert_int_equal(s.compactions, 1);
    assert_int_equal(count(st, "a", 0x44), before);
    assert_int_equal(s.block_spans, before); /* compaction kept exactly what reads return */
    tws_store_close(st);
    /* only the compacted block's objects are left */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test $(ls %s/a | wc -l) -eq 1", f->blocks);
    assert_int_equal(system(cmd), 0);
}

/* Compaction reads each input row group by row group into one batch, so
 * a batch is remade at the same address while the output's row group
 * grows (here: the blocks were written with row groups of 4 spans, and the
 * store reopened with 64 before compacting): every span must keep its own
 * scope and resource. 240 traces of 1-3 spans over three blocks, each
 * trace with a scope and a service of its own. */
static void test_compaction_keeps_each_span_scope(void **state) {
    fx *f = *state;
    tws_store_options o = {.maintenance_ms = 3600000, .row_group_spans = 4};
    tws_store *st = open_store(f, &o, NULL);
    uint64_t t0 = now_ns();
    for (int blk = 0; blk < 3; blk++) {
        tws_head *h;
        assert_int_equal(tws_head_new(NULL, &h), TW_OK);
        for (unsigned t = 1u + (unsigned)blk; t <= 240; t += 3) {
            tws_batch b;
            make_batch(&b, (uint8_t)t, 1, 1u + t % 3, "v", t0 + t);
            char name[32];
            snprintf(name, sizeof name, "lib-%u", t);
            b.scopes[0].name = str(&b, name);
            snprintf(name, sizeof name, "svc-%u", t);
            b.resources[0].attrs.items = tws_batch_alloc(&b, sizeof(tws_kv));
            b.resources[0].attrs.items[0] = (tws_kv){str(&b, "service.name"), {.type = TWS_STRING, .u.s = str(&b, name)}};
            b.resources[0].attrs.n = 1;
            assert_int_equal(tws_head_add(h, "a", &b, 4096), TW_OK);
        }
        char err[256];
        assert_int_equal(tws_store_flush_now(st, h, (uint64_t)blk + 1, err), TW_OK);
        tws_head_free(h);
    }
    tws_store_close(st);
    o.row_group_spans = 64;
    st = open_store(f, &o, NULL);
    tws_store_maintain(st);
    tws_store_stats s;
    tws_store_get_stats(st, &s);
    assert_int_equal(s.blocks, 1);
    assert_int_equal(s.compactions, 1);
    for (unsigned t = 1; t <= 240; t++) {
        uint8_t id[16];
        memset(id, t, 16);
        tws_batch *b;
        size_t n;
        char err[256], lib[32], svc[32];
        assert_int_equal(tws_store_find(st, "a", id, 0, 0, &b, &n, err), TW_OK);
        snprintf(lib, sizeof lib, "lib-%u", t);
        snprintf(svc, sizeof svc, "svc-%u", t);
        uint32_t spans = 0;
        for (size_t i = 0; i < n; i++) {
            for (uint32_t k = 0; k < b[i].n_spans; k++, spans++) {
                const tws_scope *sc = &b[i].scopes[b[i].spans[k].scope_idx];
                const tws_resource *r = &b[i].resources[sc->resource_idx];
                assert_true(tws_str_equal(sc->name, (tw_str){lib, strlen(lib)}));
                assert_int_equal(r->attrs.n, 1);
                assert_true(tws_str_equal(r->attrs.items[0].val.u.s, (tw_str){svc, strlen(svc)}));
            }
            tws_batch_free(&b[i]);
        }
        tw__free(b);
        assert_int_equal(spans, 1u + t % 3);
    }
    tws_store_close(st);
}

typedef struct reader {
    tws_store *st;
    _Atomic int stop;
    _Atomic long finds, wrong;
} reader;

static void *read_loop(void *arg) {
    reader *r = arg;
    while (!atomic_load(&r->stop)) {
        for (uint8_t t = 1; t <= 20; t++)
            if (count(r->st, "a", t) != 3) atomic_fetch_add(&r->wrong, 1);
        atomic_fetch_add(&r->finds, 20);
    }
    return NULL;
}

static void test_finds_during_compaction(void **state) {
    fx *f = *state;
    tws_store *st = open_store(f, NULL, NULL);
    uint64_t t0 = now_ns();
    for (uint8_t t = 1; t <= 20; t++) {
        tws_head *h = head_with("a", t, 1, 3, t0);
        char err[256];
        assert_int_equal(tws_store_flush_now(st, h, t, err), TW_OK);
        tws_head_free(h);
    }
    reader r = {.st = st};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, read_loop, &r), 0);
    tws_store_maintain(st); /* 20 blocks -> 8 + 8 + 4 -> ... -> 1 */
    tws_store_maintain(st);
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    tws_store_stats s;
    tws_store_get_stats(st, &s);
    print_message("finds during compaction: %ld, blocks now %llu\n", atomic_load(&r.finds),
                  (unsigned long long)s.blocks);
    assert_int_equal(atomic_load(&r.wrong), 0);
    assert_true(atomic_load(&r.finds) > 0);
    assert_int_equal(s.blocks, 1);
    for (uint8_t t = 1; t <= 20; t++) assert_int_equal(count(st, "a", t), 3);
    tws_store_close(st);
}

static void test_retention(void **state) {
    fx *f = *state;
    tws_store_options o = {.maintenance_ms = 3600000, .retention_s = 3600};
    tws_store *st = open_store(f, &o, NULL);
    char err[256];
    tws_head *h = head_with("old", 0x55, 1, 2, now_ns() - 7200ull * 1000000000ull);
    assert_int_equal(tws_store_flush_now(st, h, 1, err), TW_OK);
    tws_head_free(h);
    h = head_with("new", 0x66, 1, 2, now_ns());
    assert_int_equal(tws_store_flush_now(st, h, 2, err), TW_OK);
    tws_head_free(h);
    tws_store_maintain(st);
    tws_store_stats s;
    tws_store_get_stats(st, &s);
    assert_int_equal(s.retention_deletes, 1);
    assert_int_equal(count(st, "old", 0x55), 0);
    assert_int_equal(count(st, "new", 0x66), 2);
    tws_store_close(st);
}

static void test_unfinished_and_damaged_blocks(void **state) {
    fx *f = *state;
    tws_store *st = open_store(f, NULL, NULL);
    char err[256];
    tws_head *h = head_with("a", 0x77, 1, 2, now_ns());
    assert_int_equal(tws_store_flush_now(st, h, 1, err), TW_OK);
    tws_head_free(h);
    tws_store_close(st);
    /* an interrupted write: data without meta.json */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/a/0b6f5d1e-8c4a-4d2b-9f3e-1a2b3c4d5e6f && echo junk > %s/a/0b6f5d1e-8c4a-4d2b-9f3e-1a2b3c4d5e6f/data",
             f->blocks, f->blocks);
    assert_int_equal(system(cmd), 0);
    /* a damaged block: meta.json that is not one */
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/a/1b6f5d1e-8c4a-4d2b-9f3e-1a2b3c4d5e6f && echo '{}' > %s/a/1b6f5d1e-8c4a-4d2b-9f3e-1a2b3c4d5e6f/meta.json",
             f->blocks, f->blocks);
    assert_int_equal(system(cmd), 0);
    st = open_store(f, NULL, NULL);
    tws_store_stats s;
    tws_store_get_stats(st, &s);
    assert_int_equal(s.blocks, 1);
    assert_int_equal(count(st, "a", 0x77), 2);
    tws_store_close(st);
    snprintf(cmd, sizeof cmd, "test ! -e %s/a/0b6f5d1e-8c4a-4d2b-9f3e-1a2b3c4d5e6f/data && test -e %s/a/1b6f5d1e-8c4a-4d2b-9f3e-1a2b3c4d5e6f/meta.json",
             f->blocks, f->blocks);
    assert_int_equal(system(cmd), 0); /* unfinished removed, damaged kept for inspection */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flush_find_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_trace_and_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_keeps_each_span_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finds_during_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unfinished_and_damaged_blocks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
