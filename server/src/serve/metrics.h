/*
 * metrics.h — the server's own counters, exposed on /metrics in the
 * Prometheus text format (tracewire_* names). Counters are atomics so any
 * thread may bump them.
 */
#ifndef TWS_METRICS_H
#define TWS_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/buf.h"

/* How a request arrived: OTLP over HTTP (protobuf, JSON) or gRPC, or
 * Loki's push API (JSON, snappy protobuf; logs only). */
enum {
    TWS_PROTO_HTTP_PROTOBUF,
    TWS_PROTO_HTTP_JSON,
    TWS_PROTO_GRPC,
    TWS_PROTO_LOKI_JSON,
    TWS_PROTO_LOKI_PROTOBUF,
    TWS_PROTO_COUNT
};
enum { TWS_N_TRACE_PROTOS = TWS_PROTO_GRPC + 1 }; /* traces arrive only over OTLP */
/* What a request carries. */
enum { TWS_SIG_TRACES, TWS_SIG_LOGS, TWS_SIG_COUNT };
enum {
    TWS_REFUSE_DECODE,      /* 400: not a valid request */
    TWS_REFUSE_INVALID_IDS, /* partial success: bad trace/span ids */
    TWS_REFUSE_TRACE_TOO_LARGE,
    TWS_REFUSE_OVERLOADED,  /* 429: WAL queue or head full */
    TWS_REFUSE_TOO_LARGE,   /* 413 */
    TWS_REFUSE_MEDIA_TYPE,  /* 415 */
    TWS_REFUSE_STORAGE,     /* 503: the WAL failed */
    TWS_REFUSE_COUNT
};

typedef struct tws_metrics {
    /* by signal and protocol; "items" are spans or log records */
    _Atomic uint64_t requests[TWS_SIG_COUNT][TWS_PROTO_COUNT];
    _Atomic uint64_t received[TWS_SIG_COUNT][TWS_PROTO_COUNT];
    _Atomic uint64_t accepted[TWS_SIG_COUNT][TWS_PROTO_COUNT];
    _Atomic uint64_t refused[TWS_SIG_COUNT][TWS_PROTO_COUNT][TWS_REFUSE_COUNT];
    _Atomic uint64_t requests_refused[TWS_SIG_COUNT][TWS_PROTO_COUNT][TWS_REFUSE_COUNT];
    _Atomic uint64_t wal_bytes, log_wal_bytes;
    _Atomic uint64_t queries, queries_not_found;
    _Atomic uint64_t query_ns_sum, query_count;
    /* Query latency histogram (seconds): buckets 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, +Inf */
    _Atomic uint64_t query_bucket[8];
} tws_metrics;

void tws_metrics_observe_query(tws_metrics *m, uint64_t ns);
/* Append the Prometheus text exposition. `extra` gauges are passed by the
 * caller (head and WAL state). */
typedef struct tws_gauges {
    uint64_t head_bytes, head_spans, head_traces, wal_pending_bytes, wal_syncs, wal_segments, wal_free_segments,
        wal_reused_segments;
    uint64_t log_head_bytes, log_head_records, log_streams, log_wal_segments;
    uint64_t blocks, block_bytes, block_spans, flushes, flush_failures, compactions, compaction_failures,
        retention_deletes;
    uint64_t log_blocks, log_block_bytes, log_block_records, log_flushes, log_flush_failures, log_compactions,
        log_compaction_failures, log_retention_deletes;
    /* shared (S3) stores, [0] traces [1] logs: listings and blocks other servers added or removed */
    uint64_t polls[2], poll_failures[2], polled_in[2], polled_out[2];
} tws_gauges;
void tws_metrics_render(const tws_metrics *m, const tws_gauges *g, tw__buf *out);
/* The Prometheus text `in` as OpenMetrics into `out`: counter families
 * named without "_total" in their HELP and TYPE lines (samples keep it),
 * and the closing "# EOF". Exemplars are written by the renderers. */
void tws_metrics_to_openmetrics(const tw__buf *in, tw__buf *out);

#endif
