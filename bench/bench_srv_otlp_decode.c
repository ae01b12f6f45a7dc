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
#include "otlp/model.h"

#define SPANS 100

/* The thread's CPU time: on a shared, loaded machine wall time would count
 * the time the benchmark waited for a core, and the figures are per core. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void kv_str(tw__buf *b, uint32_t field, const char *k, const char *v) {
    tw__pb_mark kv = tw__pb_begin(b, field, 1);
    tw__pb_bytes(b, 1, k, strlen(k));
    tw__pb_mark av = tw__pb_begin(b, 2, 1);
    tw__pb_bytes(b, 1, v, strlen(v));
    tw__pb_end(b, av);
    tw__pb_end(b, kv);
}

static void kv_int(tw__buf *b, uint32_t field, const char *k, int64_t v) {
    tw__pb_mark kv = tw__pb_begin(b, field, 1);
    tw__pb_bytes(b, 1, k, strlen(k));
    tw__pb_mark av = tw__pb_begin(b, 2, 1);
    tw__pb_uint64(b, 3, (uint64_t)v);
    tw__pb_end(b, av);
    tw__pb_end(b, kv);
}

static void kv_bool(tw__buf *b, uint32_t field, const char *k, bool v) {
    tw__pb_mark kv = tw__pb_begin(b, field, 1);
    tw__pb_bytes(b, 1, k, strlen(k));
    tw__pb_mark av = tw__pb_begin(b, 2, 1);
    tw__pb_uint64(b, 2, v);
    tw__pb_end(b, av);
    tw__pb_end(b, kv);
}

static void build_request(tw__buf *b) {
    uint8_t tid[16], sid[8];
    tw__pb_mark rs = tw__pb_begin(b, 1, 3);
    tw__pb_mark res = tw__pb_begin(b, 1, 2);
    kv_str(b, 1, "service.name", "orders");
    kv_str(b, 1, "service.version", "2.14.1");
    kv_str(b, 1, "deployment.environment.name", "production");
    kv_str(b, 1, "host.name", "orders-7f9c8d6b5-x2x7q");
    kv_str(b, 1, "telemetry.sdk.language", "go");
    tw__pb_end(b, res);
    tw__pb_mark ss = tw__pb_begin(b, 2, 3);
    tw__pb_mark sc = tw__pb_begin(b, 1, 1);
    tw__pb_bytes(b, 1, "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", 61);
    tw__pb_bytes(b, 2, "0.53.0", 6);
    tw__pb_end(b, sc);
    for (int i = 0; i < SPANS; i++) {
        char path[64], peer[32];
        for (int k = 0; k < 16; k++) tid[k] = (uint8_t)(k * 17 + i / 10 + 1);
        for (int k = 0; k < 8; k++) sid[k] = (uint8_t)(k * 31 + i + 1);
        tw__pb_mark sp = tw__pb_begin(b, 2, 2);
        tw__pb_bytes(b, 1, tid, 16);
        tw__pb_bytes(b, 2, sid, 8);
        if (i % 3 == 0) tw__pb_bytes(b, 3, "rojo=00f067aa0ba902b7", 21);
        sid[0] ^= 0x55;
        tw__pb_bytes(b, 4, sid, 8);
        tw__pb_bytes(b, 5, "GET /api/v1/orders/{id}", 23);
        tw__pb_uint64(b, 6, 2);
        tw__pb_fixed64(b, 7, 1732530000000000000ull + (uint64_t)i * 1000003);
        tw__pb_fixed64(b, 8, 1732530000000000000ull + (uint64_t)i * 1000003 + 4200000);
        snprintf(path, sizeof path, "/api/v1/orders/%d", 100000 + i * 7);
        snprintf(peer, sizeof peer, "10.12.%d.%d", i % 7, i);
        kv_str(b, 9, "http.request.method", "GET");
        kv_str(b, 9, "url.path", path);
        kv_str(b, 9, "url.scheme", "https");
        kv_str(b, 9, "http.route", "/api/v1/orders/{id}");
        kv_int(b, 9, "http.response.status_code", i % 10 == 9 ? 500 : 200);
        kv_str(b, 9, "server.address", "orders.internal.example.com");
        kv_int(b, 9, "server.port", 8443);
        kv_str(b, 9, "client.address", peer);
        kv_str(b, 9, "user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36");
        kv_bool(b, 9, "http.request.resend", false);
        if (i % 4 == 0) {
            tw__pb_mark ev = tw__pb_begin(b, 11, 1);
            tw__pb_fixed64(b, 1, 1732530000000000000ull + (uint64_t)i * 1000003 + 100000);
            tw__pb_bytes(b, 2, "cache.miss", 10);
            kv_str(b, 3, "cache.key", path);
            tw__pb_end(b, ev);
        }
        if (i % 10 == 9) {
            tw__pb_mark st = tw__pb_begin(b, 15, 1);
            tw__pb_bytes(b, 2, "upstream timeout", 16);
            tw__pb_uint64(b, 3, 2);
            tw__pb_end(b, st);
        }
        tw__pb_fixed32(b, 16, 0x301);
        tw__pb_end(b, sp);
    }
    tw__pb_end(b, ss);
    tw__pb_end(b, rs);
    if (b->failed) {
        fprintf(stderr, "building the request failed\n");
        exit(1);
    }
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
    build_request(&req);
    printf("otlp_pb_decode %.0f spans/s\n", bench_decode(&req, false));
    printf("otlp_pb_decode_borrow %.0f spans/s\n", bench_decode(&req, true));
    printf("otlp_pb_encode_server %.0f spans/s\n", bench_encode(&req));
    printf("otlp_pb_request_bytes %zu bytes\n", req.len);
    tw__buf_free(&req);
    return 0;
}
