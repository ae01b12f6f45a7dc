/*
 * bench_otlp_encode.c — OTLP encoding throughput, one line per figure:
 *
 *   otlp_pb_encode     spans/s into a reused buffer, batches of 512 typical
 *                      spans (name, 6 attributes of mixed types, one event
 *                      on every fourth span, a parent), ExportTraceService-
 *                      Request protobuf
 *   otlp_pb_bytes      bytes per span of that encoding
 *   otlp_json_encode   the same batches as OTLP/JSON
 *
 * Each figure is the best of 5 runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/buf.h"
#include "export/export_int.h"
#include "trace/trace_int.h"

#define BATCH 512

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static tw__kv attrs[] = {
    {"http.request.method", 19, {.type = TW_TYPE_STRING, .n = 3, .u.s = "GET"}},
    {"url.path", 8, {.type = TW_TYPE_STRING, .n = 20, .u.s = "/api/v1/orders/12345"}},
    {"http.response.status_code", 25, {.type = TW_TYPE_INT, .u.i = 200}},
    {"server.address", 14, {.type = TW_TYPE_STRING, .n = 17, .u.s = "orders.internal.x"}},
    {"server.port", 11, {.type = TW_TYPE_INT, .u.i = 8080}},
    {"retry", 5, {.type = TW_TYPE_BOOL, .u.b = false}},
};
static tw__kv ev_attrs[] = {{"exception.type", 14, {.type = TW_TYPE_STRING, .n = 12, .u.s = "TimeoutError"}}};
static tw__event event = {"exception", 9, 1700000000500000000ull, {ev_attrs, 1, 1, 0}};
static tw__kv res_attrs[] = {
    {"service.name", 12, {.type = TW_TYPE_STRING, .n = 6, .u.s = "orders"}},
    {"telemetry.sdk.name", 18, {.type = TW_TYPE_STRING, .n = 10, .u.s = "tracewire"}},
};

typedef int (*encode_fn)(tw__buf *, tw_span *const *, size_t);

static double run(encode_fn fn, tw_span *const *spans, size_t *bytes) {
    tw__buf b;
    tw__buf_init(&b, 0);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        int batches = 0;
        double t0 = now_s(), t;
        do {
            for (int k = 0; k < 20; k++, batches++) {
                tw__buf_reset(&b);
                if (fn(&b, spans, BATCH)) {
                    fprintf(stderr, "encode failed\n");
                    exit(1);
                }
            }
        } while ((t = now_s() - t0) < 0.2);
        double rate = batches * (double)BATCH / t;
        if (rate > best) best = rate;
    }
    *bytes = b.len;
    tw__buf_free(&b);
    return best;
}

int main(void) {
    static struct tw_provider prov;
    prov.resource = (tw__kvlist){res_attrs, 2, 2, 0};
    static struct tw_tracer tracer = {&prov, "bench.scope", "1.0.0", NULL};
    static tw_span store[BATCH];
    static tw_span *spans[BATCH];
    for (int i = 0; i < BATCH; i++) {
        tw_span *s = &store[i];
        s->recording = s->ended = 1;
        s->kind = TW_SPAN_KIND_SERVER;
        for (int k = 0; k < 16; k++) s->ctx.trace_id.bytes[k] = (uint8_t)(i * 31 + k);
        for (int k = 0; k < 8; k++) s->ctx.span_id.bytes[k] = (uint8_t)(i * 7 + k + 1);
        s->ctx.flags = TW_FLAG_SAMPLED;
        s->has_parent = 1;
        s->parent_id.bytes[0] = 9;
        s->start_ns = 1700000000000000000ull + (uint64_t)i * 1000;
        s->end_ns = s->start_ns + 1234567;
        s->tracer = &tracer;
        s->name = "GET /api/v1/orders/{id}";
        s->name_len = 23;
        s->attrs = (tw__kvlist){attrs, TW_ARRAY_LEN(attrs), TW_ARRAY_LEN(attrs), 0};
        if (i % 4 == 0) {
            s->events = &event;
            s->n_events = 1;
        }
        spans[i] = s;
    }
    size_t bytes;
    double pb = run(tw__otlp_traces_pb, spans, &bytes);
    printf("otlp_pb_encode %.0f spans/s\n", pb);
    printf("otlp_pb_bytes %.1f bytes/span\n", (double)bytes / BATCH);
    double js = run(tw__otlp_traces_json, spans, &bytes);
    printf("otlp_json_encode %.0f spans/s\n", js);
    return 0;
}
