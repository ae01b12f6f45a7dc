/*
 * metrics.c — Prometheus text exposition of the server's counters.
 */
#include <inttypes.h>

#include "serve/metrics.h"

static const char *const proto_names[TWS_PROTO_COUNT] = {"http/protobuf", "http/json", "grpc", "loki/json",
                                                         "loki/protobuf"};
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

/* A counter family over both stores ([0] traces, [1] logs) and a label
 * with two values. */
static void store_pair(tw__buf *o, const char *name, const char *help, const char *label, const char *a,
                       const uint64_t va[2], const char *b, const uint64_t vb[2]) {
    tw__buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int k = 0; k < 2; k++)
        tw__buf_printf(o, "%s{store=\"%s\",%s=\"%s\"} %llu\n%s{store=\"%s\",%s=\"%s\"} %llu\n", name,
                       k ? "logs" : "traces", label, a, (unsigned long long)va[k], name, k ? "logs" : "traces", label, b,
                       (unsigned long long)vb[k]);
}

void tws_metrics_render(const tws_metrics *m, const tws_gauges *g, tw__buf *o) {
    static const char *const sig_names[TWS_SIG_COUNT] = {"traces", "logs"};
    const int n_protos[TWS_SIG_COUNT] = {TWS_N_TRACE_PROTOS, TWS_PROTO_COUNT};
    tw__buf_puts(o, "# HELP tracewire_receiver_requests_total Export requests received.\n"
                    "# TYPE tracewire_receiver_requests_total counter\n");
    for (int sg = 0; sg < TWS_SIG_COUNT; sg++)
        for (int p = 0; p < n_protos[sg]; p++)
            tw__buf_printf(o, "tracewire_receiver_requests_total{signal=\"%s\",protocol=\"%s\"} %llu\n", sig_names[sg],
                           proto_names[p], LOAD(m->requests[sg][p]));
    tw__buf_puts(o, "# HELP tracewire_receiver_requests_refused_total Requests refused, by reason.\n"
                    "# TYPE tracewire_receiver_requests_refused_total counter\n");
    for (int sg = 0; sg < TWS_SIG_COUNT; sg++)
        for (int p = 0; p < n_protos[sg]; p++)
            for (int r = 0; r < TWS_REFUSE_COUNT; r++)
                tw__buf_printf(o,
                               "tracewire_receiver_requests_refused_total{signal=\"%s\",protocol=\"%s\",reason=\"%s\"} "
                               "%llu\n",
                               sig_names[sg], proto_names[p], refuse_names[r], LOAD(m->requests_refused[sg][p][r]));
    static const char *const items[TWS_SIG_COUNT] = {"spans", "log_records"};
    static const char *const what[TWS_SIG_COUNT] = {"Spans", "Log records"};
    for (int sg = 0; sg < TWS_SIG_COUNT; sg++) {
        tw__buf_printf(o, "# HELP tracewire_receiver_%s_received_total %s in decoded requests.\n"
                          "# TYPE tracewire_receiver_%s_received_total counter\n", items[sg], what[sg], items[sg]);
        for (int p = 0; p < n_protos[sg]; p++)
            tw__buf_printf(o, "tracewire_receiver_%s_received_total{protocol=\"%s\"} %llu\n", items[sg], proto_names[p],
                           LOAD(m->received[sg][p]));
        tw__buf_printf(o, "# HELP tracewire_receiver_%s_accepted_total %s acknowledged (durable).\n"
                          "# TYPE tracewire_receiver_%s_accepted_total counter\n", items[sg], what[sg], items[sg]);
        for (int p = 0; p < n_protos[sg]; p++)
            tw__buf_printf(o, "tracewire_receiver_%s_accepted_total{protocol=\"%s\"} %llu\n", items[sg], proto_names[p],
                           LOAD(m->accepted[sg][p]));
        tw__buf_printf(o, "# HELP tracewire_receiver_%s_refused_total %s refused, by reason.\n"
                          "# TYPE tracewire_receiver_%s_refused_total counter\n", items[sg], what[sg], items[sg]);
        for (int p = 0; p < n_protos[sg]; p++)
            for (int r = 0; r < TWS_REFUSE_COUNT; r++)
                tw__buf_printf(o, "tracewire_receiver_%s_refused_total{protocol=\"%s\",reason=\"%s\"} %llu\n", items[sg],
                               proto_names[p], refuse_names[r], LOAD(m->refused[sg][p][r]));
    }
    tw__buf_printf(o,
                   "# HELP tracewire_wal_bytes_total Bytes appended to the write-ahead log.\n"
                   "# TYPE tracewire_wal_bytes_total counter\ntracewire_wal_bytes_total %llu\n"
                   "# HELP tracewire_wal_syncs_total fdatasync calls of the write-ahead log.\n"
                   "# TYPE tracewire_wal_syncs_total counter\ntracewire_wal_syncs_total %llu\n"
                   "# HELP tracewire_wal_pending_bytes Bytes waiting for the WAL flusher.\n"
                   "# TYPE tracewire_wal_pending_bytes gauge\ntracewire_wal_pending_bytes %llu\n"
                   "# HELP tracewire_wal_segments WAL segment files.\n"
                   "# TYPE tracewire_wal_segments gauge\ntracewire_wal_segments %llu\n"
                   "# HELP tracewire_wal_free_segments Released segment files of both write-ahead logs kept to be reused.\n"
                   "# TYPE tracewire_wal_free_segments gauge\ntracewire_wal_free_segments %llu\n"
                   "# HELP tracewire_wal_reused_segments_total Segments of both write-ahead logs started in a reused file "
                   "(overwritten in place: no journal commit per sync).\n"
                   "# TYPE tracewire_wal_reused_segments_total counter\ntracewire_wal_reused_segments_total %llu\n"
                   "# HELP tracewire_head_bytes Memory held by spans not yet in blocks.\n"
                   "# TYPE tracewire_head_bytes gauge\ntracewire_head_bytes %llu\n"
                   "# HELP tracewire_head_spans Spans in the in-memory head.\n"
                   "# TYPE tracewire_head_spans gauge\ntracewire_head_spans %llu\n"
                   "# HELP tracewire_head_traces Traces in the in-memory head.\n"
                   "# TYPE tracewire_head_traces gauge\ntracewire_head_traces %llu\n",
                   LOAD(m->wal_bytes), (unsigned long long)g->wal_syncs, (unsigned long long)g->wal_pending_bytes,
                   (unsigned long long)g->wal_segments, (unsigned long long)g->wal_free_segments,
                   (unsigned long long)g->wal_reused_segments, (unsigned long long)g->head_bytes,
                   (unsigned long long)g->head_spans, (unsigned long long)g->head_traces);
    tw__buf_printf(o,
                   "# HELP tracewire_log_wal_bytes_total Bytes appended to the logs write-ahead log.\n"
                   "# TYPE tracewire_log_wal_bytes_total counter\ntracewire_log_wal_bytes_total %llu\n"
                   "# HELP tracewire_log_wal_segments Segment files of the logs write-ahead log.\n"
                   "# TYPE tracewire_log_wal_segments gauge\ntracewire_log_wal_segments %llu\n"
                   "# HELP tracewire_log_head_bytes Memory held by log records in the in-memory log head.\n"
                   "# TYPE tracewire_log_head_bytes gauge\ntracewire_log_head_bytes %llu\n"
                   "# HELP tracewire_log_head_records Log records in the in-memory log head.\n"
                   "# TYPE tracewire_log_head_records gauge\ntracewire_log_head_records %llu\n"
                   "# HELP tracewire_log_streams Log streams (distinct label sets) in the log head.\n"
                   "# TYPE tracewire_log_streams gauge\ntracewire_log_streams %llu\n",
                   LOAD(m->log_wal_bytes), (unsigned long long)g->log_wal_segments,
                   (unsigned long long)g->log_head_bytes, (unsigned long long)g->log_head_records,
                   (unsigned long long)g->log_streams);
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
                   "# HELP tracewire_log_blocks Log blocks in the log store.\n"
                   "# TYPE tracewire_log_blocks gauge\ntracewire_log_blocks %llu\n"
                   "# HELP tracewire_log_block_bytes Bytes of the log blocks' data objects.\n"
                   "# TYPE tracewire_log_block_bytes gauge\ntracewire_log_block_bytes %llu\n"
                   "# HELP tracewire_log_block_records Log records stored in log blocks.\n"
                   "# TYPE tracewire_log_block_records gauge\ntracewire_log_block_records %llu\n"
                   "# HELP tracewire_log_head_flushes_total Log heads written to log blocks, by result.\n"
                   "# TYPE tracewire_log_head_flushes_total counter\n"
                   "tracewire_log_head_flushes_total{result=\"ok\"} %llu\n"
                   "tracewire_log_head_flushes_total{result=\"failed\"} %llu\n"
                   "# HELP tracewire_log_compactions_total Log block compactions, by result.\n"
                   "# TYPE tracewire_log_compactions_total counter\n"
                   "tracewire_log_compactions_total{result=\"ok\"} %llu\n"
                   "tracewire_log_compactions_total{result=\"failed\"} %llu\n"
                   "# HELP tracewire_log_retention_deleted_blocks_total Log blocks deleted by retention.\n"
                   "# TYPE tracewire_log_retention_deleted_blocks_total counter\n"
                   "tracewire_log_retention_deleted_blocks_total %llu\n",
                   (unsigned long long)g->log_blocks, (unsigned long long)g->log_block_bytes,
                   (unsigned long long)g->log_block_records, (unsigned long long)g->log_flushes,
                   (unsigned long long)g->log_flush_failures, (unsigned long long)g->log_compactions,
                   (unsigned long long)g->log_compaction_failures, (unsigned long long)g->log_retention_deletes);
    store_pair(o, "tracewire_blocklist_polls_total", "Listings of a shared (S3) store, by store and result.",
               "result", "ok", g->polls, "failed", g->poll_failures);
    store_pair(o, "tracewire_blocklist_changes_total", "Blocks other servers added to or removed from a shared store.",
               "change", "added", g->polled_in, "removed", g->polled_out);
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
