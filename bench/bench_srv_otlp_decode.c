/*
 * bench_srv_otlp_decode.c — the server's OTLP/protobuf trace codec, one line
 * per figure:
 *
 *   otlp_pb_decode          spans/s decoding 100-span ExportTraceServiceRequests
 *                           (copying the input: borrow_input off, as a
 *                           receiver that keeps batches must). Decoding
 *                           and freeing in a tight loop, the batch's ~130 KB
 *                           cross glibc's trim threshold (128 KB): each
 *                           round gives the heap top back and faults it in
 *                           again, which costs as much as the decoding
 *                           (MALLOC_TRIM_THRESHOLD_=1000000000 shows the
 *                           figure without it).
 *   otlp_pb_decode_borrow   the same with borrow_input (zero-copy strings)
 *   otlp_pb_encode_server   spans/s encoding such a decoded batch back
 *                           (all spans, into a reused buffer)
 *   otlp_pb_request_bytes   bytes of one request (100 spans)
 *
 * The spans are realistic HTTP server spans: 10 semantic-convention
 * attributes (strings, ints, a bool), a parent, a trace state on some, an
 * event on every fourth span with an attribute, an error status on every
 * tenth; the resource has 5 attributes, the scope a name and a version.
 * Each figure is the best of 5 runs of ~0.3 s of CPU time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/pb.h"
#include "otlp_workload.h"
#include "serve/server.h"
#include "otlp/model.h"

#define SPANS TW_BENCH_SPANS

/* The thread's CPU time: on a shared, loaded machine wall time would count
 * the time the benchmark waited for a core, and the figures are per core. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double bench_decode(const tw__buf *req, bool borrow) {
    tws_decode_options o = {.max_value_len = 4096, .borrow_input = borrow};
    double best = 0;
    for (int r = 0; r < 5; r++) {
        long n = 0;
        double t0 = now_s(), t;
        do {
            for (int k = 0; k < 100; k++, n++) {
                tws_batch b;
                tws_decode_error err;
                if (tws_otlp_decode_pb(req->data, req->len, &o, &b, &err) || b.n_spans != SPANS) {
                    fprintf(stderr, "decode failed: %s\n", err.msg);
                    exit(1);
                }
                tws_batch_free(&b);
            }
            t = now_s();
        } while (t - t0 < 0.3);
        double rate = (double)n * SPANS / (t - t0);
        if (rate > best) best = rate;
    }
    return best;
}

static double bench_encode(const tw__buf *req) {
    tws_batch b;
    tws_decode_error err;
    if (tws_otlp_decode_pb(req->data, req->len, NULL, &b, &err)) {
        fprintf(stderr, "decode failed: %s\n", err.msg);
        exit(1);
    }
    tws_selection sel = {&b, NULL, 0};
    tw__buf out;
    tw__buf_init(&out, 0);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        long n = 0;
        double t0 = now_s(), t;
        do {
            for (int k = 0; k < 100; k++, n++) {
                tw__buf_reset(&out);
                if (tws_otlp_encode_pb(&sel, 1, 1, &out)) {
                    fprintf(stderr, "encode failed\n");
                    exit(1);
                }
            }
            t = now_s();
        } while (t - t0 < 0.3);
        double rate = (double)n * SPANS / (t - t0);
        if (rate > best) best = rate;
    }
    if (out.len != req->len) fprintf(stderr, "note: re-encoded %zu bytes, request %zu\n", out.len, req->len);
    tw__buf_free(&out);
    tws_batch_free(&b);
    return best;
}

int main(void) {
    tw__buf req;
    tw__buf_init(&req, 0);
    tws_tune_allocator(); /* as the server runs */
    tw_bench_otlp_request(&req, 1);
    printf("otlp_pb_decode %.0f spans/s\n", bench_decode(&req, false));
    printf("otlp_pb_decode_borrow %.0f spans/s\n", bench_decode(&req, true));
    printf("otlp_pb_encode_server %.0f spans/s\n", bench_encode(&req));
    printf("otlp_pb_request_bytes %zu bytes\n", req.len);
    tw__buf_free(&req);
    return 0;
}
