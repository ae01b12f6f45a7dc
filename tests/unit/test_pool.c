/*
 * test_pool.c — the span object pool: objects freed on one thread (the
 * exporter's) come back to the thread that allocates, through the global
 * list of chains; a thread that exits hands its cache back; the global list
 * is bounded, the surplus goes back to the heap; a thread without memory
 * for its cache works from the heap.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "trace/pool.h"

#define N 4000

static tw_span *objs[N];

static void *put_all(void *arg) {
    size_t n = (size_t)(uintptr_t)arg;
    for (size_t i = 0; i < n; i++) tw__pool_put(objs[i]);
    return NULL;
}

static bool is_one_of(const tw_span *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (objs[i] == s) return true;
    return false;
}

static void test_objects_freed_elsewhere_come_back(void **state) {
    for (size_t i = 0; i < N; i++) assert_non_null(objs[i] = tw__pool_get());
    pthread_t t;
    pthread_create(&t, NULL, put_all, (void *)(uintptr_t)N);
    pthread_join(t, NULL); /* its cache (under two batches) went to the global list at exit */
    size_t reused = 0;
    tw_span *again[N];
    for (size_t i = 0; i < N; i++) {
        again[i] = tw__pool_get();
        reused += is_one_of(again[i], N);
    }
    assert_int_equal(reused, N); /* N is below the global cap: every object came back */
    for (size_t i = 0; i < N; i++) tw__pool_put(again[i]);
}

static void test_global_list_is_bounded(void **state) {
    enum { M = TW__POOL_GLOBAL_MAX + 4 * TW__POOL_BATCH };
    tw_span **many = malloc(M * sizeof *many);
    for (size_t i = 0; i < M; i++) assert_non_null(many[i] = tw__pool_get());
    assert_int_equal(tw__pool_global_chains(), 0); /* everything was handed out */
    for (size_t i = 0; i < M; i++) tw__pool_put(many[i]);
    /* The global list is full; the surplus (beyond this thread's cache of
     * under two batches) went back to the heap. */
    assert_int_equal(tw__pool_global_chains(), TW__POOL_GLOBAL_MAX / TW__POOL_BATCH);
    for (size_t i = 0; i < M; i++) many[i] = tw__pool_get();
    for (size_t i = 0; i < M; i++) tw__pool_put(many[i]);
    free(many);
}

/* A thread that cannot get memory for its cache's slots works from the
 * heap: gets allocate, puts free, the global list is left alone. */
static void *no_cache_thread(void *arg) {
    (void)arg;
    uint32_t chains = tw__pool_global_chains();
    tw__alloc_fail_after(0); /* the slots (first pool call) fail */
    tw_span *none = tw__pool_get();
    tw__alloc_fail_after(-1);
    tw_span *a = tw__pool_get(), *b = tw__pool_get();
    if (none || !a || !b) return (void *)1;
    tw__pool_put(a);
    tw__pool_put(b);
    return tw__pool_global_chains() == chains ? NULL : (void *)2;
}

static void test_thread_without_cache_memory_uses_the_heap(void **state) {
    pthread_t t;
    void *rc;
    pthread_create(&t, NULL, no_cache_thread, NULL);
    pthread_join(t, &rc);
    assert_null(rc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objects_freed_elsewhere_come_back),
        cmocka_unit_test(test_global_list_is_bounded),
        cmocka_unit_test(test_thread_without_cache_memory_uses_the_heap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
