/*
 * test_batch.c — the batch processor: many threads ending spans while it
 * exports, a full queue that drops and counts instead of blocking,
 * force_flush, the batch-size trigger (also with producers racing past the
 * batch size together, and with batches filling while the worker is busy),
 * shutdown, a batch processor before another one and last, and fork.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "memory_exporter.h"
#include "trace/trace_int.h"

typedef struct rig {
    tw_provider *p;
    tw_tracer *t;
    tw_processor *proc;
    tw_test_mem *mem;
} rig;

static void rig_new(rig *r, const tw_batch_options *o) {
    tw_provider_options po = {.sampler = tw_sampler_always_on()};
    assert_int_equal(tw_provider_new(&po, &r->p), TW_OK);
    assert_int_equal(tw_processor_batch_new(tw_test_mem_new(&r->mem, 0), o, &r->proc), TW_OK);
    tw_provider_add_processor(r->p, r->proc);
    r->t = tw_tracer_get(r->p, "batch", NULL);
}

static uint64_t ms_since(uint64_t t0) { return (tw_now_ns() - t0) / 1000000u; }

enum { THREADS = 8, PER_THREAD = 5000 };

static void *producer(void *arg) {
    rig *r = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        tw_span *s = tw_span_start(r->t, "work", NULL);
        tw_span_set_int(s, "i", i);
        tw_span_end(s);
    }
    return NULL;
}

static void test_many_threads(void **state) {
    rig r;
    rig_new(&r, &(tw_batch_options){.max_queue_size = 65536, .schedule_delay_ms = 10, .max_export_batch_size = 512});
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, producer, &r);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    assert_int_equal(tw_provider_shutdown(r.p, 10000), TW_OK);
    tw_processor_stats st;
    tw_processor_get_stats(r.proc, &st);
    assert_int_equal(st.spans_dropped, 0);
    assert_int_equal(st.spans_queued, THREADS * PER_THREAD);
    assert_int_equal(st.spans_exported, THREADS * PER_THREAD);
    assert_int_equal(tw_test_mem_count(r.mem), THREADS * PER_THREAD);
    assert_true(st.batches >= THREADS * PER_THREAD / 512);
    tw_provider_destroy(r.p);
}

static void test_full_queue_drops_without_blocking(void **state) {
    rig r;
    rig_new(&r, &(tw_batch_options){.max_queue_size = 16, .schedule_delay_ms = 5, .max_export_batch_size = 4});
    tw_test_mem_set_delay_ms(r.mem, 300); /* the worker is stuck exporting */
    uint64_t t0 = tw_now_ns();
    for (int i = 0; i < 1000; i++) tw_span_end(tw_span_start(r.t, "burst", NULL));
    assert_true(ms_since(t0) < 250); /* ending spans never waited for the exporter */
    tw_processor_stats st;
    tw_processor_get_stats(r.proc, &st);
    assert_int_equal(st.spans_queued + st.spans_dropped, 1000);
    assert_true(st.spans_dropped >= 1000 - 16 - 4);
    assert_int_equal(tw_provider_shutdown(r.p, 20000), TW_OK);
    tw_processor_get_stats(r.proc, &st);
    assert_int_equal(st.spans_exported, st.spans_queued);
    assert_int_equal(tw_test_mem_count(r.mem), st.spans_queued);
    tw_provider_destroy(r.p);
}

static void test_force_flush(void **state) {
    rig r;
    rig_new(&r, &(tw_batch_options){.schedule_delay_ms = 60000});
    for (int i = 0; i < 7; i++) tw_span_end(tw_span_start(r.t, "pending", NULL));
    assert_int_equal(tw_test_mem_count(r.mem), 0);
    assert_int_equal(tw_provider_force_flush(r.p, 5000), TW_OK);
    assert_int_equal(tw_test_mem_count(r.mem), 7);
    /* Flushing an empty queue returns at once. */
    uint64_t t0 = tw_now_ns();
    assert_int_equal(tw_provider_force_flush(r.p, 5000), TW_OK);
    assert_true(ms_since(t0) < 1000);
    tw_provider_destroy(r.p);
}

static void test_flush_times_out(void **state) {
    rig r;
    rig_new(&r, &(tw_batch_options){.schedule_delay_ms = 60000});
    tw_test_mem_set_delay_ms(r.mem, 1500);
    tw_span_end(tw_span_start(r.t, "slow", NULL));
    uint64_t t0 = tw_now_ns();
    assert_int_equal(tw_provider_force_flush(r.p, 100), TW_ETIMEDOUT);
    assert_true(ms_since(t0) < 1000);
    tw_provider_destroy(r.p);
}

static void test_full_batch_exports_before_delay(void **state) {
    rig r;
    rig_new(&r, &(tw_batch_options){.schedule_delay_ms = 60000, .max_export_batch_size = 10});
    for (int i = 0; i < 10; i++) tw_span_end(tw_span_start(r.t, "fill", NULL));
    uint64_t t0 = tw_now_ns();
    while (tw_test_mem_count(r.mem) < 10 && ms_since(t0) < 5000) usleep(1000);
    assert_int_equal(tw_test_mem_count(r.mem), 10);
    tw_provider_destroy(r.p);
}

/* Producers released together race each other across the batch-size mark:
 * whichever of them sees a full batch queued while the worker sleeps must
 * wake it, even when none saw the length equal to the batch size. Every
 * full batch is exported long before the (one minute) delay. */
enum { RACERS = 4, RACER_SPANS = 400, RACE_BATCH = 8 };

typedef struct race {
    rig *r;
    pthread_barrier_t *go;
} race;

static void *racer(void *arg) {
    race *rc = arg;
    pthread_barrier_wait(rc->go);
    for (int i = 0; i < RACER_SPANS; i++) tw_span_end(tw_span_start(rc->r->t, "race", NULL));
    return NULL;
}

static void test_racing_producers_wake_worker(void **state) {
    for (int round = 0; round < 5; round++) {
        rig r;
        rig_new(&r, &(tw_batch_options){.max_queue_size = 4096, .schedule_delay_ms = 60000,
                                         .max_export_batch_size = RACE_BATCH});
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, RACERS);
        race rc = {&r, &go};
        pthread_t th[RACERS];
        for (int i = 0; i < RACERS; i++) pthread_create(&th[i], NULL, racer, &rc);
        for (int i = 0; i < RACERS; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        /* At most a partial batch (cells claimed but not yet filled when the
         * worker took its batch) may wait for the delay. */
        size_t want = RACERS * RACER_SPANS - (RACE_BATCH - 1);
        uint64_t t0 = tw_now_ns();
        while (tw_test_mem_count(r.mem) < want && ms_since(t0) < 10000) usleep(1000);
        assert_true(tw_test_mem_count(r.mem) >= want);
        tw_processor_stats st;
        tw_processor_get_stats(r.proc, &st);
        assert_int_equal(st.spans_dropped, 0);
        tw_provider_destroy(r.p); /* exports the rest */
    }
}

/* Batches that fill while the worker is exporting (nobody signals it then)
 * are exported as soon as it is done, and the worker goes back to waiting
 * between rounds: each full batch is out well before the delay. */
static void test_batches_filled_while_worker_busy(void **state) {
    rig r;
    rig_new(&r, &(tw_batch_options){.schedule_delay_ms = 60000, .max_export_batch_size = 10});
    tw_test_mem_set_delay_ms(r.mem, 100);
    for (int round = 1; round <= 3; round++) {
        for (int i = 0; i < 10; i++) tw_span_end(tw_span_start(r.t, "first", NULL));
        usleep(20000); /* the worker is now inside the export of that batch */
        for (int i = 0; i < 30; i++) tw_span_end(tw_span_start(r.t, "more", NULL));
        uint64_t t0 = tw_now_ns();
        while (tw_test_mem_count(r.mem) < (size_t)round * 40 && ms_since(t0) < 10000) usleep(1000);
        assert_int_equal(tw_test_mem_count(r.mem), round * 40);
    }
    tw_processor_stats st;
    tw_processor_get_stats(r.proc, &st);
    assert_int_equal(st.batches, 12);
    tw_provider_destroy(r.p);
}

static void test_shutdown_exports_queue_and_refuses_after(void **state) {
    rig r;
    rig_new(&r, &(tw_batch_options){.schedule_delay_ms = 60000});
    for (int i = 0; i < 5; i++) tw_span_end(tw_span_start(r.t, "queued", NULL));
    assert_int_equal(tw_processor_shutdown(r.proc, 5000), TW_OK);
    assert_int_equal(tw_test_mem_count(r.mem), 5);
    assert_int_equal(tw_processor_shutdown(r.proc, 5000), TW_OK); /* idempotent */
    tw_span_end(tw_span_start(r.t, "after", NULL));
    tw_processor_stats st;
    tw_processor_get_stats(r.proc, &st);
    assert_int_equal(st.spans_dropped, 1);
    tw_provider_destroy(r.p);
}

static void test_failed_export_counted(void **state) {
    tw_provider *p;
    tw_provider_options po = {.sampler = tw_sampler_always_on()};
    tw_provider_new(&po, &p);
    tw_test_mem *mem;
    tw_processor *proc;
    tw_processor_batch_new(tw_test_mem_new(&mem, TW_EREJECTED), NULL, &proc);
    tw_provider_add_processor(p, proc);
    tw_tracer *t = tw_tracer_get(p, "f", NULL);
    for (int i = 0; i < 3; i++) tw_span_end(tw_span_start(t, "x", NULL));
    tw_provider_force_flush(p, 5000);
    tw_processor_stats st;
    tw_processor_get_stats(proc, &st);
    assert_int_equal(st.spans_failed, 3);
    assert_int_equal(st.spans_exported, 0);
    tw_provider_destroy(p);
}

static void test_unsampled_spans_not_exported(void **state) {
    tw_provider *p;
    tw_provider_options po = {.sampler = tw_sampler_always_off()};
    tw_provider_new(&po, &p);
    tw_test_mem *mem;
    tw_processor *proc;
    tw_processor_batch_new(tw_test_mem_new(&mem, 0), NULL, &proc);
    tw_provider_add_processor(p, proc);
    tw_span_end(tw_span_start(tw_tracer_get(p, "f", NULL), "x", NULL));
    tw_provider_force_flush(p, 5000);
    assert_int_equal(tw_test_mem_count(mem), 0);
    tw_provider_destroy(p);
}

/* A batch processor that is not the provider's last takes a reference of
 * its own (on_end); the last one is handed the ending thread's
 * (on_end_owned). Both export every span, also one still attached when it
 * ends, and the counts come out right. */
static void test_batch_not_last_and_last(void **state) {
    tw_provider *p;
    tw_provider_options po = {.sampler = tw_sampler_always_on()};
    assert_int_equal(tw_provider_new(&po, &p), TW_OK);
    tw_test_mem *m1, *m2;
    tw_processor *p1, *p2;
    assert_int_equal(tw_processor_batch_new(tw_test_mem_new(&m1, 0), NULL, &p1), TW_OK);
    assert_int_equal(tw_processor_batch_new(tw_test_mem_new(&m2, 0), NULL, &p2), TW_OK);
    tw_provider_add_processor(p, p1);
    tw_provider_add_processor(p, p2);
    tw_tracer *t = tw_tracer_get(p, "two", NULL);
    tw_span *held = tw_span_start(t, "attached", NULL);
    int tok = tw_span_attach(held);
    tw_span_end(held);
    for (int i = 0; i < 10; i++) tw_span_end(tw_span_start(t, "plain", NULL));
    assert_int_equal(tw_provider_force_flush(p, 5000), TW_OK);
    assert_int_equal(tw_test_mem_count(m1), 11);
    assert_int_equal(tw_test_mem_count(m2), 11);
    /* The attach and the two exporters hold it; the queues let go. */
    assert_int_equal(atomic_load(&held->refs), 3);
    assert_int_equal(tw_detach(tok), TW_OK);
    assert_int_equal(atomic_load(&held->refs), 2);
    tw_processor_stats st;
    tw_processor_get_stats(p2, &st);
    assert_int_equal(st.spans_queued, 11);
    assert_int_equal(st.spans_exported, 11);
    tw_provider_destroy(p);
}

static void test_fork(void **state) {
    rig r;
    rig_new(&r, &(tw_batch_options){.schedule_delay_ms = 60000});
    /* Start the worker and leave 5 spans queued in the parent. */
    tw_span_end(tw_span_start(r.t, "warmup", NULL));
    tw_provider_force_flush(r.p, 5000);
    tw_test_mem_clear(r.mem);
    for (int i = 0; i < 5; i++) tw_span_end(tw_span_start(r.t, "parent", NULL));

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child gets a working exporter of its own and none of the
         * parent's queued spans. */
        for (int i = 0; i < 3; i++) tw_span_end(tw_span_start(r.t, "child", NULL));
        int rc = tw_provider_force_flush(r.p, 5000);
        size_t n = tw_test_mem_count(r.mem);
        bool only_child = n == 3 && tw_test_mem_find(r.mem, "parent") == NULL;
        tw_provider_destroy(r.p);
        _exit(rc == TW_OK && only_child ? 0 : 10 + (int)n);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* The parent is unaffected: its queued spans are exported. */
    assert_int_equal(tw_provider_force_flush(r.p, 5000), TW_OK);
    assert_int_equal(tw_test_mem_count(r.mem), 5);
    assert_null(tw_test_mem_find(r.mem, "child"));
    tw_provider_destroy(r.p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_threads),
        cmocka_unit_test(test_full_queue_drops_without_blocking),
        cmocka_unit_test(test_force_flush),
        cmocka_unit_test(test_flush_times_out),
        cmocka_unit_test(test_full_batch_exports_before_delay),
        cmocka_unit_test(test_racing_producers_wake_worker),
        cmocka_unit_test(test_batches_filled_while_worker_busy),
        cmocka_unit_test(test_shutdown_exports_queue_and_refuses_after),
        cmocka_unit_test(test_failed_export_counted),
        cmocka_unit_test(test_unsampled_spans_not_exported),
        cmocka_unit_test(test_batch_not_last_and_last),
        cmocka_unit_test(test_fork),
    };
    return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
