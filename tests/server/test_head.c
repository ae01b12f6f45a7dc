/*
 * test_head.c — the in-memory head: lookups by (tenant, trace id), exact
 * duplicates returned once, the per-trace size limit, the memory bound,
 * the time filter, and growth past the first hash table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/head.h"
#include "batch_fixture.h"

static void test_find_by_tenant_and_trace(void **state) {
    tws_head *h;
    assert_int_equal(tws_head_new(NULL, &h), TW_OK);
    tws_batch b;
    make_batch(&b, 0xAA, 1, 3, "v", 1000);
    assert_int_equal(tws_head_add(h, "team-a", &b, 4096), TW_OK);
    assert_int_equal(b.n_spans, 0); /* ownership moved */
    uint8_t id[16];
    memset(id, 0xAA, 16);
    tws_head_result r;
    assert_int_equal(tws_head_find(h, "team-a", id, 0, 0, &r), TW_OK);
    assert_int_equal(r.n_spans, 3);
    assert_int_equal(r.n_sel, 1);
    assert_int_equal(r.start_ns, 1000);
    assert_int_equal(r.end_ns, 1102);
    tws_head_result_free(&r);
    assert_int_equal(tws_head_find(h, "team-b", id, 0, 0, &r), TW_ENOTFOUND);
    memset(id, 0xBB, 16);
    assert_int_equal(tws_head_find(h, "team-a", id, 0, 0, &r), TW_ENOTFOUND);
    tws_head_free(h);
}

static void test_exact_duplicates_once(void **state) {
    tws_head *h;
    tws_head_new(NULL, &h);
    tws_batch b;
    make_batch(&b, 0x11, 1, 2, "same", 5000);
    tws_head_add(h, "t", &b, 4096);
    make_batch(&b, 0x11, 1, 2, "same", 5000); /* an exact resend */
    tws_head_add(h, "t", &b, 4096);
    make_batch(&b, 0x11, 1, 1, "different", 5000); /* same span id, other content */
    tws_head_add(h, "t", &b, 4096);
    uint8_t id[16];
    memset(id, 0x11, 16);
    tws_head_result r;
    assert_int_equal(tws_head_find(h, "t", id, 0, 0, &r), TW_OK);
    assert_int_equal(r.n_spans, 3); /* 2 originals + the differing one; the resend dropped */
    tws_head_result_free(&r);
    tws_head_free(h);
}

static void test_time_filter(void **state) {
    tws_head *h;
    tws_head_new(NULL, &h);
    tws_batch b;
    make_batch(&b, 0x22, 1, 1, "early", 1000);
    tws_head_add(h, "t", &b, 4096);
    make_batch(&b, 0x22, 50, 1, "late", 900000);
    tws_head_add(h, "t", &b, 4096);
    uint8_t id[16];
    memset(id, 0x22, 16);
    tws_head_result r;
    assert_int_equal(tws_head_find(h, "t", id, 500000, 2000000, &r), TW_OK);
    assert_int_equal(r.n_spans, 1);
    assert_int_equal(r.start_ns, 900000);
    tws_head_result_free(&r);
    assert_int_equal(tws_head_find(h, "t", id, 5000000, 6000000, &r), TW_ENOTFOUND);
    tws_head_free(h);
}

static void test_trace_size_limit(void **state) {
    tws_head *h;
    tws_head_new(&(tws_head_options){.max_trace_bytes = 600}, &h);
    tws_batch b;
    make_batch(&b, 0x33, 1, 20, "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv", 1);
    uint64_t per_span = tws_span_size_estimate(&b.spans[0]);
    uint32_t marked = tws_head_apply_limits(h, "t", &b);
    assert_int_equal(marked, 20 - 600 / per_span);
    assert_int_equal(b.n_rejected, marked);
    assert_int_equal(b.spans[19].reject, TWS_REJECT_LIMIT);
    assert_int_equal(b.spans[0].reject, 0);
    tws_head_add(h, "t", &b, 4096);
    /* The trace is full now: a later batch of it is refused entirely. */
    make_batch(&b, 0x33, 100, 2, "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv", 1); /* same size: none fits */
    assert_int_equal(tws_head_apply_limits(h, "t", &b), 2);
    tws_batch_free(&b);
    /* Another tenant's trace with the same id has its own budget. */
    make_batch(&b, 0x33, 1, 1, "v", 1);
    assert_int_equal(tws_head_apply_limits(h, "other", &b), 0);
    tws_batch_free(&b);
    tws_head_free(h);
}

static void test_memory_bound(void **state) {
    tws_head *h;
    tws_head_new(&(tws_head_options){.max_bytes = 10000}, &h);
    tws_batch b;
    make_batch(&b, 0x44, 1, 1, "v", 1);
    assert_true(tws_head_has_room(h, 8000));
    assert_int_equal(tws_head_add(h, "t", &b, 8000), TW_OK);
    assert_false(tws_head_has_room(h, 8000));
    make_batch(&b, 0x45, 1, 1, "v", 1);
    assert_int_equal(tws_head_add(h, "t", &b, 8000), TW_EFULL);
    assert_int_equal(b.n_spans, 1); /* still the caller's */
    tws_batch_free(&b);
    tws_head_stats st;
    tws_head_get_stats(h, &st);
    assert_int_equal(st.bytes, 8000);
    assert_int_equal(st.spans, 1);
    tws_head_free(h);
}

static void test_many_traces_grow_the_table(void **state) {
    tws_head *h;
    tws_head_new(NULL, &h);
    for (int t = 0; t < 5000; t++) {
        tws_batch b;
        make_batch(&b, 0, 1, 1, "v", 1);
        memcpy(b.spans[0].trace_id, &t, sizeof t);
        b.spans[0].trace_id[15] = 0x77;
        assert_int_equal(tws_head_add(h, "t", &b, 100), TW_OK);
    }
    for (int t = 0; t < 5000; t += 499) {
        uint8_t id[16] = {0};
        memcpy(id, &t, sizeof t);
        id[15] = 0x77;
        tws_head_result r;
        assert_int_equal(tws_head_find(h, "t", id, 0, 0, &r), TW_OK);
        assert_int_equal(r.n_spans, 1);
        tws_head_result_free(&r);
    }
    tws_head_stats st;
    tws_head_get_stats(h, &st);
    assert_int_equal(st.traces, 5000);
    tws_head_free(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_by_tenant_and_trace), cmocka_unit_test(test_exact_duplicates_once),
        cmocka_unit_test(test_time_filter),              cmocka_unit_test(test_trace_size_limit),
        cmocka_unit_test(test_memory_bound),             cmocka_unit_test(test_many_traces_grow_the_table),
    };
    return cmocka_run_group_tests_name("head", tests, NULL, NULL);
}
