/*
 * query.c — Tempo's HTTP API on the query port, so Grafana's Tempo data
 * source works unchanged:
 *   GET /api/traces/<id>     {"batches":[ResourceSpans...]}, or protobuf
 *                            (tempopb.Trace: field 1 repeated ResourceSpans)
 *                            when the client accepts application/protobuf
 *   GET /api/v2/traces/<id>  {"trace":{"resourceSpans":[...]},"status":"COMPLETE"},
 *                            or protobuf TraceByIDResponse (field 1: Trace)
 *   GET /ready, /api/echo, /api/status/buildinfo, /metrics
 * JSON ids are base64, as Tempo's own JSON (the protobuf JSON mapping) has
 * them. Ids shorter than 32 hex digits are left-padded with zeros, as
 * Tempo does. Optional start/end (Unix seconds) narrow the time range.
 */
#include <errno.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/pb.h"
#include "pipeline/pipeline.h"
#include "serve/server_int.h"


static void reply_buf(struct evhttp_request *req, int code, const char *reason, const char *ct, tw__buf *b) {
    if (b->failed) {
        tws_reply_text(req, 500, "Internal Server Error", "text/plain", "response too large or out of memory\n", 36);
        return;
    }
    tws_reply_text(req, code, reason, ct, (const char *)b->data, b->len);
}

/* "4bf9...", up to 32 hex digits, left-padded. 0 or -1. */
static int parse_trace_id(const char *s, uint8_t out[16]) {
    size_t n = strlen(s);
    if (n == 0 || n > 32) return -1;
    char padded[33];
    memset(padded, '0', 32);
    memcpy(padded + 32 - n, s, n);
    padded[32] = '\0';
    tw_trace_id id;
    if (tw_trace_id_from_hex(padded, 32, &id) != TW_OK) return -1;
    memcpy(out, id.bytes, 16);
    return 0;
}

static bool wants_protobuf(struct evhttp_request *req) {
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
    return a && strstr(a, "application/protobuf") != NULL;
}

/* Unix seconds from a query parameter; 0 when absent; -1 when malformed. */
static int time_param(struct evkeyvalq *q, const char *name, uint64_t *ns) {
    const char *v = evhttp_find_header(q, name);
    *ns = 0;
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || *v == '-') return -1;
    *ns = x * 1000000000ull;
    return 0;
}

/* The pieces of one trace: the head, a head being flushed, the blocks. */
typedef struct trace_parts {
    tws_head_result head, frozen;
    tws_batch *blocks;
    size_t n_blocks;
    tws_selection *sel;
    uint32_t *idx;
    char err[256];
} trace_parts;

static void parts_free(trace_parts *p) {
    tws_head_result_free(&p->head);
    tws_head_result_free(&p->frozen);
    for (size_t i = 0; i < p->n_blocks; i++) tws_batch_free(&p->blocks[i]);
    tw__free(p->blocks);
    tw__free(p->sel);
    tw__free(p->idx);
}

/* Gather every piece and merge them (duplicates once). A damaged block is
 * reported on stderr and the rest of the trace is still answered. */
static int find_trace(tws_server *s, const char *tenant, const uint8_t id[16], uint64_t start, uint64_t end,
                      trace_parts *p, tws_trace_result *out) {
    memset(p, 0, sizeof *p);
    int rc = tws_head_find(s->head, tenant, id, start, end, &p->head);
    if (rc == TW_OK || rc == TW_ENOTFOUND)
        rc = s->frozen ? tws_head_find(s->frozen, tenant, id, start, end, &p->frozen) : TW_ENOTFOUND;
    if (rc == TW_OK || rc == TW_ENOTFOUND) rc = tws_store_find(s->store, tenant, id, start, end, &p->blocks, &p->n_blocks, p->err);
    if (rc == TW_EPARSE || rc == TW_EIO) {
        fprintf(stderr, "tracewire: query: %s\n", p->err);
        rc = TW_OK;
    }
    size_t n_sel = p->head.n_sel + p->frozen.n_sel + p->n_blocks, n_idx = 0;
    for (size_t i = 0; i < p->n_blocks; i++) n_idx += p->blocks[i].n_spans;
    p->sel = tw__calloc(n_sel ? n_sel : 1, sizeof *p->sel);
    p->idx = tw__malloc((n_idx ? n_idx : 1) * sizeof *p->idx);
    if (rc == TW_OK && (!p->sel || !p->idx)) rc = TW_ENOMEM;
    if (rc != TW_OK) {
        parts_free(p);
        return rc;
    }
    size_t k = 0, at = 0;
    for (size_t i = 0; i < p->head.n_sel; i++) p->sel[k++] = p->head.sel[i];
    for (size_t i = 0; i < p->frozen.n_sel; i++) p->sel[k++] = p->frozen.sel[i];
    for (size_t i = 0; i < p->n_blocks; i++) {
        p->sel[k++] = (tws_selection){&p->blocks[i], p->idx + at, p->blocks[i].n_spans};
        for (uint32_t j = 0; j < p->blocks[i].n_spans; j++) p->idx[at++] = j;
    }
    rc = tws_trace_merge(p->sel, k, out);
    if (rc != TW_OK) parts_free(p);
    return rc;
}

int tws_trace_time_range(tws_server *s, const char *tenant, const uint8_t id[16], const uint8_t *span_id,
                         uint64_t *start_ns, uint64_t *end_ns) {
    trace_parts parts;
    tws_trace_result r;
    int rc = find_trace(s, tenant, id, 0, 0, &parts, &r);
    if (rc != TW_OK) return rc;
    *start_ns = r.start_ns, *end_ns = r.end_ns;
    if (span_id) {
        rc = TW_ENOTFOUND;
        for (size_t i = 0; i < r.n_sel && rc; i++)
            for (size_t k = 0; k < r.sel[i].n && rc; k++) {
                const tws_span *sp = &r.sel[i].batch->spans[r.sel[i].idx[k]];
                if (!memcmp(sp->span_id, span_id, 8)) *start_ns = sp->start_ns, *end_ns = sp->end_ns, rc = TW_OK;
            }
    }
    tws_trace_result_free(&r);
    parts_free(&parts);
    return rc;
}

static void handle_trace(tws_server *s, struct evhttp_request *req, const char *id_str, const char *query, bool v2) {
    uint64_t t0 = tw__mono_ns();
    atomic_fetch_add(&s->metrics.queries, 1);
    uint8_t id[16];
    if (parse_trace_id(id_str, id) != 0) {
        char msg[160];
        int n = snprintf(msg, sizeof msg, "invalid trace id \"%.40s\": expected up to 32 hex digits\n", id_str);
        tws_reply_text(req, 400, "Bad Request", "text/plain", msg, (size_t)n);
        return;
    }
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    if (query) evhttp_parse_query_str(query, &q);
    uint64_t start = 0, end = 0;
    if (time_param(&q, "start", &start) || time_param(&q, "end", &end) || (end && start > end)) {
        evhttp_clear_headers(&q);
        tws_reply_text(req, 400, "Bad Request", "text/plain",
                       "start and end are Unix seconds, with start <= end\n", 50);
        return;
    }
    evhttp_clear_headers(&q);
    if (start && !end) end = UINT64_MAX;

    const char *tenant = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Scope-OrgID");
    if (!tenant || !*tenant) tenant = s->cfg.default_tenant;
    trace_parts parts;
    tws_trace_result r;
    int rc = find_trace(s, tenant, id, start, end, &parts, &r);
    if (rc == TW_ENOTFOUND) {
        atomic_fetch_add(&s->metrics.queries_not_found, 1);
        tws_reply_text(req, 404, "Not Found", "text/plain", "trace not found\n", 16);
        tws_metrics_observe_query(&s->metrics, tw__mono_ns() - t0);
        return;
    }
    if (rc != TW_OK) {
        char msg[300];
        int n = snprintf(msg, sizeof msg, "reading the trace failed: %s\n", parts.err[0] ? parts.err : tw_strerror(rc));
        tws_reply_text(req, 500, "Internal Server Error", "text/plain", msg, (size_t)n);
        return;
    }
    tw__buf b;
    tw__buf_init(&b, 1u << 30);
    if (wants_protobuf(req)) {
        if (v2) { /* TraceByIDResponse { Trace trace = 1; } with status COMPLETE (0, omitted) */
            tw__pb_mark m = tw__pb_begin(&b, 1, 5);
            tws_otlp_encode_pb(r.sel, r.n_sel, 1, &b);
            tw__pb_end(&b, m);
        } else {
            tws_otlp_encode_pb(r.sel, r.n_sel, 1, &b);
        }
        reply_buf(req, 200, "OK", "application/protobuf", &b);
    } else {
        tw__json j;
        tw__json_init(&j, &b);
        tw__json_begin_object(&j);
        if (v2) {
            tw__json_key(&j, "trace", TW_NTS);
            tw__json_begin_object(&j);
            tw__json_key(&j, "resourceSpans", TW_NTS);
            tws_otlp_encode_json(r.sel, r.n_sel, TWS_IDS_BASE64, &j);
            tw__json_end_object(&j);
            tw__json_key(&j, "status", TW_NTS);
            tw__json_string(&j, "COMPLETE", TW_NTS);
        } else {
            tw__json_key(&j, "batches", TW_NTS);
            tws_otlp_encode_json(r.sel, r.n_sel, TWS_IDS_BASE64, &j);
        }
        tw__json_end_object(&j);
        reply_buf(req, 200, "OK", "application/json", &b);
    }
    tw__buf_free(&b);
    tws_trace_result_free(&r);
    parts_free(&parts);
    tws_metrics_observe_query(&s->metrics, tw__mono_ns() - t0);
}

static void handle_metrics(tws_server *s, struct evhttp_request *req) {
    tws_head_stats hs;
    tws_head_get_stats(s->head, &hs);
    tws_wal_stats ws;
    tws_wal_get_stats(s->wal, &ws);
    tws_store_stats ss;
    tws_store_get_stats(s->store, &ss);
    tws_loghead_stats ls;
    tws_loghead_get_stats(s->logs, &ls);
    tws_wal_stats lws;
    tws_wal_get_stats(s->log_wal, &lws);
    tws_store_stats lss;
    tws_store_get_stats(s->log_store, &lss);
    tws_gauges g = {hs.bytes, hs.spans, hs.traces, ws.pending_bytes, ws.syncs, ws.segments,
                    ws.free_segments + lws.free_segments, ws.reused_segments + lws.reused_segments,
                    ls.bytes, ls.records, ls.streams, lws.segments,
                    ss.blocks, ss.block_bytes, ss.block_spans, ss.flushes, ss.flush_failures, ss.compactions,
                    ss.compaction_failures, ss.retention_deletes,
                    lss.blocks, lss.block_bytes, lss.block_spans, lss.flushes, lss.flush_failures, lss.compactions,
                    lss.compaction_failures, lss.retention_deletes,
                    {ss.polls, lss.polls}, {ss.poll_failures, lss.poll_failures},
                    {ss.polled_in, lss.polled_in}, {ss.polled_out, lss.polled_out}};
    /* OpenMetrics (with exemplars) when the scraper asks for it, as
     * Prometheus does with exemplar storage on; the 0.0.4 text otherwise. */
    const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
    bool om = accept && strstr(accept, "application/openmetrics-text") != NULL;
    tw__buf text, b;
    tw__buf_init(&text, 1u << 28);
    tw__buf_init(&b, 1u << 28);
    tws_metrics_render(&s->metrics, &g, &text);
    if (s->pipes) tws_pipeline_render(s->pipes, &text);
    tws_forward_render(s, &text);
    if (s->cfg.red_export & TWS_RED_SCRAPE) { /* else they are pushed: one path, not both */
        if (s->spanmetrics) tws_spanmetrics_render(s->spanmetrics, om, &text);
        if (s->servicegraph) tws_servicegraph_render(s->servicegraph, &text);
    }
    if (om) tws_metrics_to_openmetrics(&text, &b);
    reply_buf(req, 200, "OK", om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                 : "text/plain; version=0.0.4; charset=utf-8",
              om ? &b : &text);
    tw__buf_free(&text);
    tw__buf_free(&b);
}

static void route(struct evhttp_request *req, void *arg) {
    tws_server *s = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (!path) path = "/";
    if (strcmp(path, "/loki/api/v1/push") == 0) { /* Loki clients push here, on the query port */
        tws_loki_push_handle(s, req);
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
        tws_reply_text(req, 405, "Method Not Allowed", "text/plain", "use GET\n", 8);
        return;
    }
    if (strcmp(path, "/ready") == 0) {
        tws_reply_text(req, 200, "OK", "text/plain", "ready\n", 6);
    } else if (strcmp(path, "/api/echo") == 0) {
        tws_reply_text(req, 200, "OK", "text/plain", "echo", 4);
    } else if (strcmp(path, "/api/status/buildinfo") == 0) {
        static const char info[] = "{\"version\":\"" TW_VERSION_STRING "\",\"revision\":\"\",\"branch\":\"\","
                                   "\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":\"\"}";
        tws_reply_text(req, 200, "OK", "application/json", info, sizeof info - 1);
    } else if (strcmp(path, "/metrics") == 0) {
        handle_metrics(s, req);
    } else if (tws_logs_api_route(s, req, path, query)) {
        /* answered (the Loki API, and /api/traces/<id>/logs before the trace itself) */
    } else if (strncmp(path, "/api/traces/", 12) == 0) {
        handle_trace(s, req, path + 12, query, false);
    } else if (strncmp(path, "/api/v2/traces/", 15) == 0) {
        handle_trace(s, req, path + 15, query, true);
    } else if (tws_search_api_route(s, req, path, query)) {
        /* answered */
    } else if (tws_metrics_api_route(s, req, path, query)) {
        /* answered */
    } else {
        tws_reply_text(req, 404, "Not Found", "text/plain", "not found\n", 10);
    }
}

void tws_query_register(tws_server *s) { evhttp_set_gencb(s->api_http, route, s); }
