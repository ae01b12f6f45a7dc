/*
 * bench_srv_tailsample.c — tail sampling (pipeline/tailsample.c) at the
 * issue's load: 200,000 spans/s with decision_wait 10s and the article's
 * policies (errors, slow > 500 ms, 5% baseline), one line per figure.
 *
 * Two ways of waiting, as the server has them:
 *   ts_*      the batches are in a write-ahead log (a real one, in a temp
 *             directory, without fdatasync): the sampler frees each batch
 *             and reads it back (tws_wal_reader + protobuf decoding) when
 *             its traces are decided — the server's path whenever the batch
 *             reaching tail_sampling is still its WAL section;
 *   ts_mem_*  the decoded batches are kept in memory until decided (a
 *             tail_sampling behind a processor that changed the batch).
 *
 *   ts_ns_per_span / ts_mem_ns_per_span
 *       CPU time of tws_tailsampler_add + tick per span over 12 s of
 *       simulated traffic (2.4 M spans of the workload's 100-span requests,
 *       10 traces of 10 spans each): deciding, reading back, decoding again
 *       and handing on (the emitted batches are freed); the first decoding
 *       is not counted
 *   ts_spans_per_s_per_core   1e9 / ts_ns_per_span
 *   ts_held_bytes_per_span / ts_mem_held_bytes_per_span
 *       growth of the heap per buffered span, 10 s in (2 M spans waiting,
 *       nothing decided yet, every batch given to the sampler): everything
 *       kept for a waiting span (target <= 150 bytes), the WAL's and the
 *       read-back's buffers included; the WAL's pages in the kernel's page
 *       cache are not process memory and are not counted
 *   ts_kept_share             share of traces kept (5% + the 1% with an error)
 *
 * Simulated time: each 100-span batch advances the clock by 0.5 ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otlp/model.h"
#include "bench_util.h"
#include "otlp_workload.h"
#include "pipeline/tailsample.h"
#include "wal/wal.h"

#define PER_ROUND 2000 /* requests decoded at a time: 1 s of traffic */
#define ROUNDS 12

#define cpu_s tw_bench_thread_cpu_s
#define heap_used tw_bench_heap_used

static uint64_t emitted_spans, kept_spans;
static tws_wal *wal;
static tws_wal_reader *reader;
static tw__buf rec;

static void on_emit(void *user, tws_batch *b, const tws_ts_batch_info *info) {
    (void)user, (void)info;
    emitted_spans += b->n_spans;
    for (uint32_t i = 0; i < b->n_spans; i++) kept_spans += !b->spans[i].reject;
    tws_batch_free(b);
}

static int reload(void *user, const tws_ts_batch_info *info, tws_batch *out) {
    (void)user;
    char msg[256];
    uint8_t type;
    int rc = tws_wal_reader_read(reader, info->lsn, &type, &rec, msg);
    if (rc != TW_OK) {
        fprintf(stderr, "reload: %s\n", msg);
        exit(1);
    }
    tws_decode_options o = {0};
    tws_decode_error err;
    if (tws_otlp_decode_pb(rec.data, rec.len, &o, out, &err) != TW_OK) {
        fprintf(stderr, "reload decode: %s\n", err.msg);
        exit(1);
    }
    return TW_OK;
}

/* A second's requests, decoded; with a WAL, each also written to it. */
static void decode_round(tws_batch *out, uint64_t *lsn, int round) {
    tws_decode_options o = {.max_value_len = 2048};
    tw__buf req, enc;
    tw__buf_init(&req, 1u << 24);
    tw__buf_init(&enc, 1u << 24);
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
        lsn[i] = (uint64_t)round * PER_ROUND + i;
        if (!wal) continue;
        tw__buf_reset(&enc);
        if (tws_otlp_encode_pb(&(tws_selection){&out[i], NULL, 0}, 1, 1, &enc) != TW_OK ||
            tws_wal_append(wal, 1, &(tw_str){(const char *)enc.data, enc.len}, 1, &lsn[i]) != TW_OK) {
            fprintf(stderr, "WAL append failed\n");
            exit(1);
        }
    }
    tw__buf_free(&req);
    tw__buf_free(&enc);
}

static void run(bool in_wal, const char *prefix) {
    char dir[] = "/tmp/tw-bench-ts-XXXXXX";
    if (in_wal) {
        char msg[256];
        tws_wal_options wo = {.no_sync = true};
        if (!mkdtemp(dir) || tws_wal_open(dir, &wo, NULL, &wal, msg) != TW_OK || tws_wal_reader_open(dir, &reader)) {
            fprintf(stderr, "WAL: %s\n", msg);
            exit(1);
        }
        tw__buf_init(&rec, 0);
    }
    tws_ts_policy pol[3] = {{.name = "errors", .type = TWS_TS_STATUS_CODE, .status_mask = 1u << 2},
                            {.name = "slow", .type = TWS_TS_LATENCY, .threshold_ms = 500},
                            {.name = "baseline", .type = TWS_TS_PROBABILISTIC, .percentage = 5}};
    tws_ts_config c = {.decision_wait_ms = 10000, .num_traces = 1000000, .policies = pol, .n_policies = 3};
    tws_tailsampler *t;
    if (tws_tailsampler_new(&c, on_emit, NULL, &t) != TW_OK) exit(1);
    if (in_wal) tws_tailsampler_set_reload(t, reload, NULL);
    emitted_spans = kept_spans = 0;
    tws_batch *round = calloc(PER_ROUND, sizeof *round);
    uint64_t *lsn = calloc(PER_ROUND, sizeof *lsn);
    double cpu = 0;
    uint64_t spans = 0;
    size_t held_bytes = 0, held_spans = 0, start = heap_used();
    for (int r = 0; r < ROUNDS; r++) {
        decode_round(round, lsn, r);
        double t0 = cpu_s();
        for (int i = 0; i < PER_ROUND; i++) {
            uint64_t now = (uint64_t)(r * PER_ROUND + i) / 2; /* 0.5 ms per 100 spans */
            spans += round[i].n_spans;
            tws_ts_batch_info info = {.tenant = "single-tenant", .bytes = 1, .lsn = lsn[i], .wal_section = 1};
            tws_tailsampler_add(t, &round[i], &info, now);
            tws_tailsampler_tick(t, now);
        }
        cpu += cpu_s() - t0;
        if (in_wal) tws_wal_release_before(wal, tws_tailsampler_oldest_lsn(t)); /* as the server's flush cut */
        if (r == 9) { /* 10 s in: the sampler holds 10 s of traffic, nothing decided yet */
            tws_ts_stats st;
            tws_tailsampler_get_stats(t, &st);
            /* every batch is in the sampler's hands: freed (WAL) or held (memory) */
            held_spans = (size_t)(spans - emitted_spans);
            held_bytes = (heap_used() - start) / held_spans;
            if (st.evicted || emitted_spans) fprintf(stderr, "unexpected: %llu evicted, %llu emitted\n",
                                                     (unsigned long long)st.evicted, (unsigned long long)emitted_spans);
        }
    }
    double t0 = cpu_s();
    tws_tailsampler_flush(t, (uint64_t)ROUNDS * PER_ROUND);
    cpu += cpu_s() - t0;
    tws_ts_stats st;
    tws_tailsampler_get_stats(t, &st);
    printf("%s_ns_per_span %.1f ns\n", prefix, cpu * 1e9 / (double)spans);
    printf("%s_spans_per_s_per_core %.0f spans/s\n", prefix, (double)spans / cpu);
    printf("%s_held_bytes_per_span %zu bytes (%zu spans held)\n", prefix, held_bytes, held_spans);
    printf("%s_kept_share %.2f %%\n", prefix,
           100.0 * (double)st.traces_sampled / (double)(st.traces_sampled + st.traces_not_sampled + st.traces_dropped));
    if (emitted_spans != spans) fprintf(stderr, "spans lost: %llu of %llu\n", (unsigned long long)(spans - emitted_spans),
                                        (unsigned long long)spans);
    tws_tailsampler_free(t);
    free(round);
    free(lsn);
    if (in_wal) {
        tws_wal_close(wal);
        tws_wal_reader_close(reader);
        tw__buf_free(&rec);
        wal = NULL;
        reader = NULL;
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
}

int main(void) {
    run(true, "ts");
    run(false, "ts_mem");
    return 0;
}
