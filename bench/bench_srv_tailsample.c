/*
 * bench_srv_tailsample.c — tail sampling (pipeline/tailsample.c) at the
 * issue's load: 200,000 spans/s with decision_wait 10s and the article's
 * policies (errors, slow > 500 ms, 5% baseline), one line per figure:
 *
 *   ts_ns_per_span              CPU time of tws_tailsampler_add + tick per span
 *                               over 12 s of simulated traffic (2.4 M spans of
 *                               the workload's 100-span requests, 10 traces of
 *                               10 spans each; decoding not counted), decisions
 *                               and hand-over (the emitted batches are freed)
 *                               included
 *   ts_spans_per_s_per_core     1e9 / ts_ns_per_span
 *   ts_overhead_bytes_per_span  heap the sampler itself adds per buffered span
 *                               (its trace table, span references, held-batch
 *                               records), with 2 M spans held
 *   ts_batch_bytes_per_span     heap of the decoded spans themselves, per span
 *                               (what any buffering of decoded spans costs)
 *   ts_kept_share               share of traces kept (5% + the 1% with an error)
 *
 * Simulated time: each 100-span batch advances the clock by 0.5 ms.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "otlp/model.h"
#include "bench_util.h"
#include "otlp_workload.h"
#include "pipeline/tailsample.h"

#define PER_ROUND 2000 /* requests decoded at a time: 1 s of traffic */
#define ROUNDS 12

#define cpu_s tw_bench_thread_cpu_s
#define heap_used tw_bench_heap_used

static uint64_t emitted_spans, kept_spans;

static void on_emit(void *user, tws_batch *b, const tws_ts_batch_info *info) {
    (void)user, (void)info;
    emitted_spans += b->n_spans;
    for (uint32_t i = 0; i < b->n_spans; i++) kept_spans += !b->spans[i].reject;
    tws_batch_free(b);
}

static void decode_round(tws_batch *out, int round) {
    tws_decode_options o = {.max_value_len = 2048};
    tw__buf req;
    tw__buf_init(&req, 1u << 24);
    for (int i = 0; i < PER_ROUND; i++) {
        tw__buf_reset(&req);
        tw_bench_otlp_request(&req, (uint32_t)(round * PER_ROUND + i) * 7919u + 1);
        tws_decode_error err;
        tws_batch_init(&out[i]);
        if (tws_otlp_decode_pb(req.data, req.len, &o, &out[i], &err) != TW_OK) {
            fprintf(stderr, "decode failed: %s\n", err.msg);
            exit(1);
        }
        /* the workload marks a span of every trace as an error: keep that in 1% of the traces */
        for (uint32_t k = 0; k < out[i].n_spans; k++)
            if ((round * PER_ROUND + i) % 10 != 7 || k / 10 != 3) out[i].spans[k].status_code = 0;
    }
    tw__buf_free(&req);
}

int main(void) {
    tws_ts_policy pol[3] = {{.name = "errors", .type = TWS_TS_STATUS_CODE, .status_mask = 1u << 2},
                            {.name = "slow", .type = TWS_TS_LATENCY, .threshold_ms = 500},
                            {.name = "baseline", .type = TWS_TS_PROBABILISTIC, .percentage = 5}};
    tws_ts_config c = {.decision_wait_ms = 10000, .num_traces = 1000000, .policies = pol, .n_policies = 3};
    tws_tailsampler *t;
    if (tws_tailsampler_new(&c, on_emit, NULL, &t) != TW_OK) return 1;
    tws_batch *round = calloc(PER_ROUND, sizeof *round);
    double cpu = 0;
    uint64_t spans = 0;
    size_t overhead = 0, batch_bytes = 0, held_spans = 0, batches_total = 0, start = heap_used();
    for (int r = 0; r < ROUNDS; r++) {
        size_t before = heap_used();
        decode_round(round, r);
        size_t decoded = heap_used();
        double t0 = cpu_s();
        for (int i = 0; i < PER_ROUND; i++) {
            uint64_t now = (uint64_t)(r * PER_ROUND + i) / 2; /* 0.5 ms per 100 spans */
            spans += round[i].n_spans;
            tws_ts_batch_info info = {.tenant = "single-tenant", .bytes = 1, .lsn = (uint64_t)r * PER_ROUND + i};
            tws_tailsampler_add(t, &round[i], &info, now);
            tws_tailsampler_tick(t, now);
        }
        cpu += cpu_s() - t0;
        batches_total += decoded - before;
        if (r == 9) { /* 10 s in: the sampler holds 10 s of traffic, nothing decided yet */
            tws_ts_stats st;
            tws_tailsampler_get_stats(t, &st);
            size_t all = heap_used() - start;
            held_spans = (size_t)(spans - emitted_spans);
            overhead = (all > batches_total ? all - batches_total : 0) / held_spans;
            batch_bytes = batches_total / held_spans;
            if (st.evicted || emitted_spans) fprintf(stderr, "unexpected: %llu evicted, %llu emitted\n",
                                                     (unsigned long long)st.evicted, (unsigned long long)emitted_spans);
        }
    }
    double t0 = cpu_s();
    tws_tailsampler_flush(t, (uint64_t)ROUNDS * PER_ROUND);
    cpu += cpu_s() - t0;
    tws_ts_stats st;
    tws_tailsampler_get_stats(t, &st);
    printf("ts_ns_per_span %.1f ns\n", cpu * 1e9 / (double)spans);
    printf("ts_spans_per_s_per_core %.0f spans/s\n", (double)spans / cpu);
    printf("ts_overhead_bytes_per_span %zu bytes (%zu spans held)\n", overhead, held_spans);
    printf("ts_batch_bytes_per_span %zu bytes\n", batch_bytes);
    printf("ts_kept_share %.2f %%\n",
           100.0 * (double)st.traces_sampled / (double)(st.traces_sampled + st.traces_not_sampled + st.traces_dropped));
    if (emitted_spans != spans) fprintf(stderr, "spans lost: %llu of %llu\n", (unsigned long long)(spans - emitted_spans),
                                        (unsigned long long)spans);
    tws_tailsampler_free(t);
    free(round);
    return 0;
}
