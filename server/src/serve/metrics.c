/*
 * metrics.c — Prometheus text exposition of the server's counters.
 */
#include <inttypes.h>

#include "serve/metrics.h"

static const char *const proto_names[TWS_PROTO_COUNT] = {"http/protobuf", "http/json", "grpc"};
static const char *const refuse_names[TWS_REFUSE_COUNT] = {
    "decode_error", "invalid_ids", "trace_too_large", "overloaded", "request_too_large", "unsupported_media_type",
    "storage_error"};
static const double bucket_le[8] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 0};

void tws_metrics_observe_query(tws_metrics *m, uint64_t ns) {
    atomic_fetch_add(&m->query_ns_sum, ns);
    atomic_fetch_add(&m->query_count, 1);
    double s = (double)ns / 1e9;
    for (int i = 0; i < 8; i++)
        if (i == 7 || s <= bucket_le[i]) atomic_fetch_add(&m->query_bucket[i], 1);
}

#define LOAD(x) ((unsigned long long)atomic_load(&(x)))

void tws_metrics_render(const tws_metrics *m, const tws_gauges *g, tw__buf *o) {
    tw__buf_puts(o, "# HELP tracewire_receiver_requests_total OTLP export requests received.\n"
                    "# TYPE tracewire_receiver_requests_total counter\n");
    for (int p = 0; p < TWS_PROTO_COUNT; p++)
        tw__buf_printf(o, "tracewire_receiver_requests_total{protocol=\"%s\"} %llu\n", proto_names[p], LOAD(m->requests[p]));
    tw__buf_puts(o, "# HELP tracewire_receiver_spans_received_total Spans in decoded requests.\n"
                    "# TYPE tracewire_receiver_spans_received_total counter\n");
    for (int p = 0; p < TWS_PROTO_COUNT; p++)
        tw__buf_printf(o, "tracewire_receiver_spans_received_total{protocol=\"%s\"} %llu\n", proto_names[p],
                       LOAD(m->spans_received[p]));
    tw__buf_puts(o, "# HELP tracewire_receiver_spans_accepted_total Spans acknowledged (durable).\n"
                    "# TYPE tracewire_receiver_spans_accepted_total counter\n");
    for (int p = 0; p < TWS_PROTO_COUNT; p++)
        tw__buf_printf(o, "tracewire_receiver_spans_accepted_total{protocol=\"%s\"} %llu\n", proto_names[p],
                       LOAD(m->spans_accepted[p]));
    tw__buf_puts(o, "# HELP tracewire_receiver_spans_refused_total Spans refused, by reason.\n"
                    "# TYPE tracewire_receiver_spans_refused_total counter\n");
    for (int p = 0; p < TWS_PROTO_COUNT; p++)
        for (int r = 0; r < TWS_REFUSE_COUNT; r++)
            tw__buf_printf(o, "tracewire_receiver_spans_refused_total{protocol=\"%s\",reason=\"%s\"} %llu\n",
                           proto_names[p], refuse_names[r], LOAD(m->spans_refused[p][r]));
    tw__buf_puts(o, "# HELP tracewire_receiver_requests_refused_total Requests refused, by reason.\n"
                    "# TYPE tracewire_receiver_requests_refused_total counter\n");
    for (int p = 0; p < TWS_PROTO_COUNT; p++)
        for (int r = 0; r < TWS_REFUSE_COUNT; r++)
            tw__buf_printf(o, "tracewire_receiver_requests_refused_total{protocol=\"%s\",reason=\"%s\"} %llu\n",
                           proto_names[p], refuse_names[r], LOAD(m->requests_refused[p][r]));
    tw__buf_printf(o,
                   "# HELP tracewire_wal_bytes_total Bytes appended to the write-ahead log.\n"
                   "# TYPE tracewire_wal_bytes_total counter\ntracewire_wal_bytes_total %llu\n"
                   "# HELP tracewire_wal_syncs_total fdatasync calls of the write-ahead log.\n"
                   "# TYPE tracewire_wal_syncs_total counter\ntracewire_wal_syncs_total %llu\n"
                   "# HELP tracewire_wal_pending_bytes Bytes waiting for the WAL flusher.\n"
                   "# TYPE tracewire_wal_pending_bytes gauge\ntracewire_wal_pending_bytes %llu\n"
                   "# HELP tracewire_wal_segments WAL segment files.\n"
                   "# TYPE tracewire_wal_segments gauge\ntracewire_wal_segments %llu\n"
                   "# HELP tracewire_head_bytes Memory held by spans not yet in blocks.\n"
                   "# TYPE tracewire_head_bytes gauge\ntracewire_head_bytes %llu\n"
                   "# HELP tracewire_head_spans Spans in the in-memory head.\n"
                   "# TYPE tracewire_head_spans gauge\ntracewire_head_spans %llu\n"
                   "# HELP tracewire_head_traces Traces in the in-memory head.\n"
                   "# TYPE tracewire_head_traces gauge\ntracewire_head_traces %llu\n",
                   LOAD(m->wal_bytes), (unsigned long long)g->wal_syncs, (unsigned long long)g->wal_pending_bytes,
                   (unsigned long long)g->wal_segments, (unsigned long long)g->head_bytes,
                   (unsigned long long)g->head_spans, (unsigned long long)g->head_traces);
    tw__buf_printf(o,
                   "# HELP tracewire_blocks Blocks in the store.\n"
                   "# TYPE tracewire_blocks gauge\ntracewire_blocks %llu\n"
                   "# HELP tracewire_block_bytes Bytes of the blocks' data objects.\n"
                   "# TYPE tracewire_block_bytes gauge\ntracewire_block_bytes %llu\n"
                   "# HELP tracewire_block_spans Spans stored in blocks.\n"
                   "# TYPE tracewire_block_spans gauge\ntracewire_block_spans %llu\n"
                   "# HELP tracewire_head_flushes_total Heads written to blocks, by result.\n"
                   "# TYPE tracewire_head_flushes_total counter\n"
                   "tracewire_head_flushes_total{result=\"ok\"} %llu\n"
                   "tracewire_head_flushes_total{result=\"failed\"} %llu\n"
                   "# HELP tracewire_compactions_total Block compactions, by result.\n"
                   "# TYPE tracewire_compactions_total counter\n"
                   "tracewire_compactions_total{result=\"ok\"} %llu\n"
                   "tracewire_compactions_total{result=\"failed\"} %llu\n"
                   "# HELP tracewire_retention_deleted_blocks_total Blocks deleted by retention.\n"
                   "# TYPE tracewire_retention_deleted_blocks_total counter\n"
                   "tracewire_retention_deleted_blocks_total %llu\n",
                   (unsigned long long)g->blocks, (unsigned long long)g->block_bytes,
                   (unsigned long long)g->block_spans, (unsigned long long)g->flushes,
                   (unsigned long long)g->flush_failures, (unsigned long long)g->compactions,
                   (unsigned long long)g->compaction_failures, (unsigned long long)g->retention_deletes);
    tw__buf_printf(o,
                   "# HELP tracewire_query_requests_total Trace-by-id queries.\n"
                   "# TYPE tracewire_query_requests_total counter\ntracewire_query_requests_total %llu\n"
                   "# HELP tracewire_query_not_found_total Trace-by-id queries that found nothing.\n"
                   "# TYPE tracewire_query_not_found_total counter\ntracewire_query_not_found_total %llu\n"
                   "# HELP tracewire_query_duration_seconds Trace-by-id query latency.\n"
                   "# TYPE tracewire_query_duration_seconds histogram\n",
                   LOAD(m->queries), LOAD(m->queries_not_found));
    for (int i = 0; i < 8; i++) {
        if (i < 7) tw__buf_printf(o, "tracewire_query_duration_seconds_bucket{le=\"%g\"} %llu\n", bucket_le[i], LOAD(m->query_bucket[i]));
        else tw__buf_printf(o, "tracewire_query_duration_seconds_bucket{le=\"+Inf\"} %llu\n", LOAD(m->query_bucket[i]));
    }
    tw__buf_printf(o, "tracewire_query_duration_seconds_sum %.9f\ntracewire_query_duration_seconds_count %llu\n",
                   (double)LOAD(m->query_ns_sum) / 1e9, LOAD(m->query_count));
}

void tws_metrics_to_openmetrics(const tw__buf *in, tw__buf *out) {
    const char *p = (const char *)in->data, *end = p + in->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        bool meta = eol - p > 7 && (!memcmp(p, "# HELP ", 7) || !memcmp(p, "# TYPE ", 7));
        const char *name_end = meta ? memchr(p + 7, ' ', (size_t)(eol - p - 7)) : NULL;
        if (name_end && name_end - (p + 7) > 6 && !memcmp(name_end - 6, "_total", 6)) {
            tw__buf_append(out, p, (size_t)(name_end - 6 - p)); /* the family name, without _total */
            tw__buf_append(out, name_end, (size_t)(eol - name_end));
        } else {
            tw__buf_append(out, p, (size_t)(eol - p));
        }
        tw__buf_putc(out, '\n');
        p = eol + 1;
    }
    tw__buf_puts(out, "# EOF\n");
}
