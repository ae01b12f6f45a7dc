/*
 * otlp_workload.h — the realistic OTLP/protobuf request the server
 * benchmarks send and decode, built with common/pb.h. Header-only: each
 * benchmark is one program.
 */
#ifndef TW_BENCH_OTLP_WORKLOAD_H
#define TW_BENCH_OTLP_WORKLOAD_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/pb.h"

#define TW_BENCH_SPANS 100

static inline void kv_str(tw__buf *b, uint32_t field, const char *k, const char *v) {
    tw__pb_mark kv = tw__pb_begin(b, field, 1);
    tw__pb_bytes(b, 1, k, strlen(k));
    tw__pb_mark av = tw__pb_begin(b, 2, 1);
    tw__pb_bytes(b, 1, v, strlen(v));
    tw__pb_end(b, av);
    tw__pb_end(b, kv);
}

static inline void kv_int(tw__buf *b, uint32_t field, const char *k, int64_t v) {
    tw__pb_mark kv = tw__pb_begin(b, field, 1);
    tw__pb_bytes(b, 1, k, strlen(k));
    tw__pb_mark av = tw__pb_begin(b, 2, 1);
    tw__pb_uint64(b, 3, (uint64_t)v);
    tw__pb_end(b, av);
    tw__pb_end(b, kv);
}

static inline void kv_bool(tw__buf *b, uint32_t field, const char *k, bool v) {
    tw__pb_mark kv = tw__pb_begin(b, field, 1);
    tw__pb_bytes(b, 1, k, strlen(k));
    tw__pb_mark av = tw__pb_begin(b, 2, 1);
    tw__pb_uint64(b, 2, v);
    tw__pb_end(b, av);
    tw__pb_end(b, kv);
}

/* One ExportTraceServiceRequest of TW_BENCH_SPANS realistic spans in 10
 * traces: 10 semantic-convention attributes each, a 5-attribute resource,
 * tracestate on every third span, an event on every fourth, an error status
 * on every tenth. `seed` makes the trace and span ids distinct per request. */
static inline void tw_bench_otlp_request(tw__buf *b, uint32_t seed) {
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
    for (int i = 0; i < TW_BENCH_SPANS; i++) {
        char path[64], peer[32];
        for (int k = 0; k < 16; k++) tid[k] = (uint8_t)(k * 17 + i / 10 + 1);
        memcpy(tid + 8, &seed, 4);
        for (int k = 0; k < 8; k++) sid[k] = (uint8_t)(k * 31 + i + 1);
        memcpy(sid + 4, &seed, 4);
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


#endif
