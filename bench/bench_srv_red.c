/*
 * bench_srv_red.c — what RED metrics cost on the ingest path, one line per
 * figure:
 *
 *   red_decode_ns_per_span        decoding the workload's 100-span requests
 *                                 (bench/otlp_workload.h), for scale: the
 *                                 cheapest step every span pays anyway
 *   red_spanmetrics_ns_per_span   tws_spanmetrics_add over such batches,
 *                                 series existing (the steady state), the
 *                                 README's dimensions (http.route, and
 *                                 http.response.status_code defaulting to "0")
 *   red_servicegraph_ns_per_span  tws_servicegraph_add, fresh trace ids in
 *                                 every batch: every span is a server span
 *                                 whose client never comes, so the waiting
 *                                 room stays full (its worst case)
 *   red_share_of_decode           (spanmetrics + service graph) / decode
 *   red_bytes_per_series          heap bytes per active span-metrics series
 *                                 (mallinfo2 before and after creating
 *                                 100,000 distinct span names, 10 buckets,
 *                                 exemplars on), default settings otherwise
 *   red_servicegraph_waiting_bytes heap bytes of the full waiting room per
 *                                 waiting span
 *
 * CPU time of this thread; each timed figure is the best of 5 runs
 * (TW_RED_RUNS=N runs the span-metrics loop N times, for a profiler).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "otlp/model.h"
#include "bench_util.h"
#include "otlp_workload.h"
#include "red/servicegraph.h"
#include "red/spanmetrics.h"
#include "serve/server.h"

#define BATCHES 200 /* distinct requests (ids differ), 20,000 spans */
#define SERIES 100000

#define cpu_s tw_bench_thread_cpu_s
#define heap_used tw_bench_heap_used

static tws_batch batches[BATCHES];
static tw__buf reqs[BATCHES];

static void decode_all(void) {
    tws_decode_options o = {.max_value_len = 4096};
    for (int i = 0; i < BATCHES; i++) {
        tws_decode_error err;
        if (tws_otlp_decode_pb(reqs[i].data, reqs[i].len, &o, &batches[i], &err) != TW_OK) {
            fprintf(stderr, "decode failed: %s\n", err.msg);
            exit(1);
        }
    }
}

static void free_all(void) {
    for (int i = 0; i < BATCHES; i++) tws_batch_free(&batches[i]);
}

static tws_spanmetrics_options readme_options(void) {
    tws_spanmetrics_options o;
    memset(&o, 0, sizeof o);
    snprintf(o.dims[0].name, sizeof o.dims[0].name, "http.route");
    snprintf(o.dims[1].name, sizeof o.dims[1].name, "http.response.status_code");
    snprintf(o.dims[1].fallback, sizeof o.dims[1].fallback, "0");
    o.n_dims = 2;
    return o;
}

int main(void) {
    tws_tune_allocator(); /* as the server does: decoded batches stay off the trim path */
    for (int i = 0; i < BATCHES; i++) {
        tw__buf_init(&reqs[i], 1u << 24);
        tw_bench_otlp_request(&reqs[i], (uint32_t)i * 7919u + 1);
    }
    const double spans = (double)BATCHES * TW_BENCH_SPANS;

    double decode = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = cpu_s();
        decode_all();
        double t = cpu_s() - t0;
        free_all();
        if (t < decode) decode = t;
    }

    decode_all();
    tws_spanmetrics_options so = readme_options();
    tws_spanmetrics *sm;
    if (tws_spanmetrics_new(&so, &sm) != TW_OK) return 1;
    for (int i = 0; i < BATCHES; i++) tws_spanmetrics_add(sm, &batches[i]); /* series exist */
    double smt = 1e30;
    const char *runs_env = getenv("TW_RED_RUNS"); /* more runs: for a profiler */
    int runs = runs_env && atoi(runs_env) > 0 ? atoi(runs_env) : 5;
    for (int r = 0; r < runs; r++) {
        double t0 = cpu_s();
        for (int i = 0; i < BATCHES; i++) tws_spanmetrics_add(sm, &batches[i]);
        double t = cpu_s() - t0;
        if (t < smt) smt = t;
    }
    tws_spanmetrics_free(sm);

    size_t before_sg = heap_used();
    tws_servicegraph_options go = {.wait_ms = 10000};
    tws_servicegraph *sg;
    if (tws_servicegraph_new(&go, &sg) != TW_OK) return 1;
    double sgt = 1e30;
    uint64_t now = 1;
    for (int r = 0; r < 5; r++) {
        double t0 = cpu_s();
        for (int i = 0; i < BATCHES; i++) tws_servicegraph_add(sg, &batches[i], now);
        double t = cpu_s() - t0;
        if (t < sgt) sgt = t;
        /* the next run must see fresh ids: shift every trace id */
        for (int i = 0; i < BATCHES; i++)
            for (uint32_t k = 0; k < batches[i].n_spans; k++) batches[i].spans[k].trace_id[0] ^= (uint8_t)(r + 1);
    }
    size_t after_sg = heap_used();
    tws_servicegraph_stats gs;
    tws_servicegraph_get_stats(sg, &gs);
    tws_servicegraph_free(sg);

    /* Memory per series: one span per new span name. */
    so.max_series = SERIES + 10;
    if (tws_spanmetrics_new(&so, &sm) != TW_OK) return 1;
    tws_batch *b = &batches[0];
    char *names = malloc((size_t)SERIES * 16);
    if (!names) return 1;
    size_t before = heap_used();
    for (int s = 0; s < SERIES;) {
        for (uint32_t k = 0; k < b->n_spans && s < SERIES; k++, s++) {
            int n = snprintf(names + (size_t)s * 16, 16, "op-%d", s);
            b->spans[k].name = (tw_str){names + (size_t)s * 16, (size_t)n};
        }
        tws_spanmetrics_add(sm, b);
    }
    size_t after = heap_used();
    tws_spanmetrics_stats st;
    tws_spanmetrics_get_stats(sm, &st);
    free_all();
    free(names);

    printf("red_decode_ns_per_span %.1f ns\n", decode / spans * 1e9);
    printf("red_spanmetrics_ns_per_span %.1f ns\n", smt / spans * 1e9);
    printf("red_servicegraph_ns_per_span %.1f ns\n", sgt / spans * 1e9);
    printf("red_share_of_decode %.1f %%\n", (smt + sgt) / decode * 100);
    printf("red_bytes_per_series %.0f bytes (%llu series)\n", (double)(after - before) / (double)st.series,
           (unsigned long long)st.series);
    printf("red_servicegraph_waiting_bytes %.0f bytes per waiting span (%llu waiting)\n",
           gs.waiting ? (double)(after_sg - before_sg) / (double)gs.waiting : 0.0, (unsigned long long)gs.waiting);
    tws_spanmetrics_free(sm);
    for (int i = 0; i < BATCHES; i++) tw__buf_free(&reqs[i]);
    return 0;
}
