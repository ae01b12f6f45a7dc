/*
 * ingest.c — the ingest pipeline shared by every receiver, and the
 * OTLP/HTTP receiver: POST /v1/traces and POST /v1/logs.
 *
 * A request is decoded (protobuf or JSON, gzip or not), checked against the
 * limits, written to the WAL, and answered only when the WAL reports it
 * durable; then its spans enter the head (its log records the log head;
 * logs have a WAL of their own, so that releasing the traces' WAL after a
 * flush to blocks never touches a log record). Replies follow the OTLP/HTTP
 * specification: the reply body is in the request's content type; a
 * partial_success names how many spans were refused and why; 400 carries a
 * google.rpc.Status saying what could not be decoded; 413, 415; 429 with
 * Retry-After when the WAL queue or the head is full (memory stays
 * bounded); 503 when storage failed. With configured pipelines the batch
 * takes ingest_pipeline.c's path between decoding and the head.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/pb.h"
#include "logs/log_ids.h"
#include "logs/loki_push.h"
#include "pipeline/pipeline.h"
#include "serve/http1.h"
#include "serve/server_int.h"

typedef struct ingest_req {
    tws_server *s;
    const tws_ingest_sink *sink;
    void *ctx;
    struct event *ev;
    int signal; /* TWS_SIG_* */
    int proto;  /* TWS_PROTO_* */
    int rc;     /* from the WAL */
    tws_batch batch;
    uint64_t batch_bytes;
    uint32_t accepted, rejected_ids, rejected_limit;
    uint64_t received_ns;   /* wall clock at arrival: the time of log records that have none */
    char first_reject[200]; /* the decoder's word on the first record refused for its ids */
    char tenant[160];
    uint64_t lsn;                    /* of its WAL record, once appended */
    tws_sections *sect;              /* with pipelines: the batch of each receiving pipeline */
    struct ingest_req *prev, *next;  /* s->wal_first..wal_last (logs: s->log_wal_first..) while waiting for the WAL */
} ingest_req;

/* ---- HTTP replies ----------------------------------------------------------------------- */

static void http_refused(void *ctx, int proto, int http_code, const char *reason, int rpc_code, bool retry,
                         const char *msg) {
    tws_h1_req *req = ctx;
    tw__buf b;
    tw__buf_init(&b, 1 << 16);
    if (proto == TWS_PROTO_HTTP_JSON) {
        tw__json j;
        tw__json_init(&j, &b);
        tw__json_begin_object(&j);
        tw__json_key(&j, "code", TW_NTS);
        tw__json_int64(&j, rpc_code);
        tw__json_key(&j, "message", TW_NTS);
        tw__json_string(&j, msg, TW_NTS);
        tw__json_end_object(&j);
    } else {
        tw__pb_uint64(&b, 1, (uint64_t)rpc_code);
        tw__pb_bytes(&b, 2, msg, strlen(msg));
    }
    if (retry) tws_h1_add_header(req, "Retry-After", "1");
    tws_h1_reply(req, http_code, reason, proto == TWS_PROTO_HTTP_JSON ? "application/json" : "application/x-protobuf",
                 b.failed ? "" : (const char *)b.data, b.failed ? 0 : b.len);
    tw__buf_free(&b);
}

static void http_ok(void *ctx, int signal, int proto, uint32_t rejected, const char *msg) {
    tws_h1_req *req = ctx;
    tw__buf b;
    tw__buf_init(&b, 4096);
    if (proto == TWS_PROTO_HTTP_JSON) {
        tw__json j;
        tw__json_init(&j, &b);
        tw__json_begin_object(&j);
        if (rejected) {
            tw__json_key(&j, "partialSuccess", TW_NTS);
            tw__json_begin_object(&j);
            tw__json_key(&j, signal == TWS_SIG_LOGS ? "rejectedLogRecords" : "rejectedSpans", TW_NTS);
            tw__json_int64_string(&j, rejected);
            tw__json_key(&j, "errorMessage", TW_NTS);
            tw__json_string(&j, msg, TW_NTS);
            tw__json_end_object(&j);
        }
        tw__json_end_object(&j);
    } else if (rejected) { /* Export{Trace,Logs}ServiceResponse{partial_success{rejected_*, error_message}} */
        tw__pb_mark m = tw__pb_begin(&b, 1, 1);
        tw__pb_uint64(&b, 1, rejected);
        tw__pb_bytes(&b, 2, msg, strlen(msg));
        tw__pb_end(&b, m);
    }
    tws_h1_reply(req, 200, "OK", proto == TWS_PROTO_HTTP_JSON ? "application/json" : "application/x-protobuf",
                 (const char *)b.data, b.failed ? 0 : b.len);
    tw__buf_free(&b);
}

/* Records without a time (neither timestamp set) take the time they
 * arrived, as Loki's OTLP receiver does (the WAL keeps that time, so a
 * replay gives them the same). */
static void stamp_logs(tws_batch *b, uint64_t received_ns) {
    for (uint32_t i = 0; i < b->n_logs; i++)
        if (!b->logs[i].time_ns && !b->logs[i].observed_ns) b->logs[i].observed_ns = received_ns;
}

static const tws_ingest_sink http_sink = {http_ok, http_refused};

void tws_ingest_refuse(tws_server *s, const tws_ingest_sink *sink, void *ctx, int signal, int proto, int why,
                       uint64_t items, int http_code, const char *reason, int rpc_code, const char *msg) {
    atomic_fetch_add(&s->metrics.requests_refused[signal][proto][why], 1);
    atomic_fetch_add(&s->metrics.refused[signal][proto][why], items);
    sink->refused(ctx, proto, http_code, reason, rpc_code, http_code == 429 || http_code == 503, msg);
}

static void refuse(tws_server *s, tws_h1_req *req, int signal, int proto, int why, int http_code,
                   const char *reason, int rpc_code, const char *msg) {
    tws_ingest_refuse(s, &http_sink, req, signal, proto, why, 0, http_code, reason, rpc_code, msg);
}

static void reply_ok(ingest_req *r) {
    uint32_t rejected = r->rejected_ids + r->rejected_limit;
    char msg[400] = "";
    if (rejected) {
        bool logs = r->signal == TWS_SIG_LOGS;
        char ids[260] = "";
        if (r->rejected_ids && r->first_reject[0])
            snprintf(ids, sizeof ids, " %s (first: %s);", logs ? "invalid trace/span id" : "invalid or missing trace/span id",
                     r->first_reject);
        else if (r->rejected_ids)
            snprintf(ids, sizeof ids, " %s;", logs ? "invalid trace/span id" : "invalid or missing trace/span id");
        snprintf(msg, sizeof msg, "%u %s refused:%s%s", rejected, logs ? "log record(s)" : "span(s)", ids,
                 r->rejected_limit ? " trace over its size limit;" : "");
        msg[strlen(msg) - 1] = '\0'; /* the last ';' */
    }
    r->sink->ok(r->ctx, r->signal, r->proto, rejected, msg);
}

/* ---- the durable path ------------------------------------------------------------------ */

static void req_free(ingest_req *r) {
    if (r->ev) event_free(r->ev);
    tws_sections_free(r->sect);
    tws_batch_free(&r->batch);
    tw__free(r);
}

/* On the loop thread, once the WAL has answered. */
static void count_rejected(tws_server *s, const ingest_req *r) {
    atomic_fetch_add(&s->metrics.refused[r->signal][r->proto][TWS_REFUSE_INVALID_IDS], r->rejected_ids);
    atomic_fetch_add(&s->metrics.refused[r->signal][r->proto][TWS_REFUSE_TRACE_TOO_LARGE], r->rejected_limit);
}

/* A durable logs request: into the log head, answered. */
static void logs_durable(tws_server *s, ingest_req *r) {
    s->log_head_reserved -= r->batch_bytes;
    if (r->rc == TW_OK) {
        int rc = TW_OK;
        if (r->sect) tws_ingest_sections_run(s, r->sect, r->tenant, r->batch_bytes, r->lsn);
        else rc = tws_loghead_add(s->logs, r->tenant, &r->batch, r->batch_bytes);
        if (rc != TW_OK) { /* only on out-of-memory (the room was reserved); durable, so back after a restart */
            fprintf(stderr, "tracewire: a durable logs batch could not enter the log head (%s); "
                            "it will be readable after a restart\n", tw_strerror(rc));
            if (r->lsn < s->log_pin_lsn) s->log_pin_lsn = r->lsn; /* its WAL record must stay */
        } else if (!r->sect) {
            tws_log_flush_note_add(s);
        }
        atomic_fetch_add(&s->metrics.accepted[TWS_SIG_LOGS][r->proto], r->accepted);
        count_rejected(s, r);
        reply_ok(r);
    }
}

/* The list of requests waiting for the WAL that `r` goes to, in LSN order. */
static void waiting_list(tws_server *s, const ingest_req *r, ingest_req ***first, ingest_req ***last) {
    bool logs = r->signal == TWS_SIG_LOGS;
    *first = logs ? &s->log_wal_first : &s->wal_first;
    *last = logs ? &s->log_wal_last : &s->wal_last;
}

/* Take a request off the list of those waiting for its WAL. */
static void unlink_waiting(tws_server *s, ingest_req *r) {
    ingest_req **first, **last;
    waiting_list(s, r, &first, &last);
    if (r->prev) r->prev->next = r->next;
    else *first = r->next;
    if (r->next) r->next->prev = r->prev;
    else *last = r->prev;
}

static void on_durable_loop(evutil_socket_t fd, short what, void *arg) {
    ingest_req *r = arg;
    tws_server *s = r->s;
    s->inflight--;
    if (r->rc != TW_OK) {
        if (r->signal == TWS_SIG_LOGS) s->log_head_reserved -= r->batch_bytes;
        tws_ingest_refuse(s, r->sink, r->ctx, r->signal, r->proto, TWS_REFUSE_STORAGE, r->accepted, 503,
                          "Service Unavailable", TWS_RPC_UNAVAILABLE,
                          "the write-ahead log failed; nothing of this request was stored");
    }
    unlink_waiting(s, r);
    if (r->signal == TWS_SIG_LOGS) {
        if (r->rc == TW_OK) logs_durable(s, r);
        req_free(r);
        tws_log_flush_maybe(s);
        return;
    }
    s->head_reserved -= r->batch_bytes; /* the reservation becomes the batch, or is dropped */
    if (r->rc != TW_OK) {
        req_free(r);
        return;
    }
    if (r->sect) { /* the pipelines take it from here */
        tws_ingest_sections_run(s, r->sect, r->tenant, r->batch_bytes, r->lsn);
        atomic_fetch_add(&s->metrics.accepted[TWS_SIG_TRACES][r->proto], r->accepted);
        count_rejected(s, r);
        reply_ok(r);
        req_free(r);
        tws_flush_maybe(s);
        return;
    }
    if (s->spanmetrics) tws_spanmetrics_add(s->spanmetrics, &r->batch); /* acknowledged spans only, counted once */
    if (s->servicegraph) tws_servicegraph_add(s->servicegraph, &r->batch, tw__mono_ms());
    int rc = tws_head_add(s->head, r->tenant, &r->batch, r->batch_bytes);
    if (rc != TW_OK) { /* only on out-of-memory (the room was reserved); durable, so back after a restart */
        fprintf(stderr, "tracewire: a durable batch could not enter the in-memory head (%s); "
                        "it will be readable after a restart\n", tw_strerror(rc));
        if (r->lsn < s->pin_lsn) s->pin_lsn = r->lsn; /* its WAL record must stay */
    } else {
        tws_flush_note_add(s);
    }
    atomic_fetch_add(&s->metrics.accepted[TWS_SIG_TRACES][r->proto], r->accepted);
    count_rejected(s, r);
    reply_ok(r);
    req_free(r);
    tws_flush_maybe(s);
}

uint64_t tws_ingest_oldest_lsn(const tws_server *s) { return s->wal_first ? s->wal_first->lsn : UINT64_MAX; }
uint64_t tws_ingest_oldest_log_lsn(const tws_server *s) { return s->log_wal_first ? s->log_wal_first->lsn : UINT64_MAX; }

/* On the WAL's flusher thread: hand back to the loop. */
static void on_durable(void *user, int rc, uint64_t lsn) {
    ingest_req *r = user;
    r->rc = rc;
    event_active(r->ev, EV_TIMEOUT, 0);
}

/* The WAL payload: version, tenant, then the accepted spans as protobuf,
 * as parts[0..*n): when every span of a protobuf request was accepted, the
 * request's own bytes are the second part (the WAL copies them once);
 * otherwise the accepted spans are encoded into `out` after the header. */
static int wal_payload(const ingest_req *r, const uint8_t *raw_pb, size_t raw_len, tw__buf *out, tw_str parts[2],
                       size_t *n) {
    uint8_t hdr[3 + 160 + 8];
    size_t tl = strlen(r->tenant), hl = 2 + tl;
    hdr[0] = r->signal == TWS_SIG_LOGS ? TWS_WAL_LOGS_V1 : TWS_WAL_TRACES_V1;
    hdr[1] = (uint8_t)tl;
    memcpy(hdr + 2, r->tenant, tl);
    if (r->signal == TWS_SIG_LOGS) {
        hdr[hl++] = (uint8_t)r->proto; /* how to decode the request again */
        for (int i = 0; i < 8; i++) hdr[hl++] = (uint8_t)(r->received_ns >> (8 * i));
    }
    int rc = tw__buf_append(out, hdr, hl);
    if (rc == TW_OK && r->signal == TWS_SIG_LOGS) {
        /* the request as it came (rejections are decided by decoding alone: replay decides the same) */
        if (raw_len > TWS_WAL_MAX_RECORD - out->len) return TW_ERANGE;
        parts[1] = (tw_str){(const char *)raw_pb, raw_len};
        *n = 2;
    } else if (rc == TW_OK && raw_pb && r->batch.n_rejected == 0) {
        if (raw_len > TWS_WAL_MAX_RECORD - out->len) return TW_ERANGE;
        parts[1] = (tw_str){(const char *)raw_pb, raw_len};
        *n = 2;
    } else {
        tws_selection sel = {&r->batch, NULL, 0};
        if (rc == TW_OK) rc = tws_otlp_encode_pb(&sel, 1, 1, out);
        *n = 1;
    }
    parts[0] = (tw_str){(const char *)out->data, out->len};
    return rc;
}

/* ---- the pipeline, shared by the receivers ------------------------------------------------- */

static const char *const proto_text[TWS_PROTO_COUNT] = {"OTLP/protobuf", "OTLP/JSON", "OTLP/protobuf",
                                                          "Loki push JSON", "Loki push protobuf"};

/* Decode a request of `signal` as `proto` sent it. */
static int decode(const tws_server *s, int signal, int proto, const uint8_t *data, size_t len, tws_batch *b,
                  tws_decode_error *err) {
    tws_decode_options dopt = {.max_value_len = s->cfg.max_attr_value_len};
    const char *text = (const char *)data;
    int rc;
    if (signal == TWS_SIG_TRACES)
        return proto == TWS_PROTO_HTTP_JSON ? tws_otlp_decode_json(text, len, &dopt, b, err)
                                            : tws_otlp_decode_pb(data, len, &dopt, b, err);
    switch (proto) {
    case TWS_PROTO_HTTP_JSON: rc = tws_otlp_decode_logs_json(text, len, &dopt, b, err); break;
    case TWS_PROTO_LOKI_JSON: rc = tws_loki_decode_json(text, len, &dopt, b, err); break;
    case TWS_PROTO_LOKI_PROTOBUF: rc = tws_loki_decode_pb(data, len, &dopt, b, err); break;
    default: rc = tws_otlp_decode_logs_pb(data, len, &dopt, b, err); break;
    }
    if (rc == TW_OK) tws_log_ids_from_content(b); /* the article's JSON lines carry their trace_id */
    return rc;
}

/* Is there room for `bytes` more in the head the signal goes to? If not,
 * the request is refused with 429 (RESOURCE_EXHAUSTED) and false returned. */
static bool room_or_refuse(tws_server *s, const tws_ingest_sink *sink, void *ctx, int signal, int proto,
                             uint32_t items, uint64_t bytes) {
    bool logs = signal == TWS_SIG_LOGS;
    if (logs ? tws_log_flush_has_room(s, bytes) : tws_flush_has_room(s, bytes)) return true;
    tws_ingest_refuse(s, sink, ctx, signal, proto, TWS_REFUSE_OVERLOADED, items, 429, "Too Many Requests",
                      TWS_RPC_RESOURCE_EXHAUSTED,
                      logs ? "the in-memory log head is full; retry later" : "the in-memory head is full; retry later");
    return false;
}

void tws_ingest_submit(tws_server *s, int signal, int proto, const char *tenant, const uint8_t *data, size_t len,
                       const tws_ingest_sink *sink, void *ctx) {
    ingest_req *r = tw__calloc(1, sizeof *r);
    if (!r) {
        tws_ingest_refuse(s, sink, ctx, signal, proto, TWS_REFUSE_OVERLOADED, 0, 503, "Service Unavailable",
                          TWS_RPC_UNAVAILABLE, "out of memory");
        return;
    }
    r->s = s;
    r->sink = sink;
    r->ctx = ctx;
    r->signal = signal;
    r->proto = proto;
    snprintf(r->tenant, sizeof r->tenant, "%s", tenant);
    tws_batch_init(&r->batch);
    bool logs = signal == TWS_SIG_LOGS;
    /* A request that cannot fit even at the least it will hold (three times
     * its wire size) is refused before it is decoded: under pushback the
     * decoding would be work thrown away. Its items are not counted (not
     * known yet). */
    if (!room_or_refuse(s, sink, ctx, signal, proto, 0, (uint64_t)len * 3 + 4096)) {
        req_free(r);
        return;
    }
    tws_decode_error derr = {{0}};
    int rc = decode(s, signal, proto, data, len, &r->batch, &derr);
    if (rc != TW_OK) {
        char msg[320];
        snprintf(msg, sizeof msg, "cannot decode the %s %s request: %s", proto_text[proto], logs ? "logs" : "traces",
                 rc == TW_EPARSE ? derr.msg : tw_strerror(rc));
        tws_ingest_refuse(s, sink, ctx, signal, proto, TWS_REFUSE_DECODE, 0, 400, "Bad Request",
                          TWS_RPC_INVALID_ARGUMENT, msg);
        req_free(r);
        return;
    }
    if (logs) stamp_logs(&r->batch, r->received_ns = tw__clock_ns());
    uint32_t items = logs ? r->batch.n_logs : r->batch.n_spans;
    atomic_fetch_add(&s->metrics.received[signal][proto], items);
    r->rejected_ids = r->batch.n_rejected;
    if (r->rejected_ids) snprintf(r->first_reject, sizeof r->first_reject, "%s", derr.msg);
    if (!logs) r->rejected_limit = tws_head_apply_limits(s->head, r->tenant, &r->batch);
    r->accepted = items - r->batch.n_rejected;
    /* Memory the batch holds: decoded structures are a small multiple of
     * the wire size; count generously so the bound holds. */
    r->batch_bytes = logs ? tws_logs_batch_bytes(&r->batch, len)
                          : (uint64_t)len * 3 + (uint64_t)r->batch.n_spans * sizeof(tws_span) + 4096;
    /* Requests still waiting for the WAL have room reserved, so an
     * acknowledged batch always fits in the head when it arrives. */
    if (!room_or_refuse(s, sink, ctx, signal, proto, items, r->batch_bytes)) {
        req_free(r);
        return;
    }
    if (r->accepted == 0) { /* nothing to store: answer at once */
        reply_ok(r);
        count_rejected(s, r);
        req_free(r);
        return;
    }

    tw__buf payload;
    tw__buf_init(&payload, TWS_WAL_MAX_RECORD);
    tw_str parts[2];
    size_t n_parts = 0;
    if (s->pipes) {
        rc = tws_ingest_sections(s, signal, proto, r->tenant, &r->batch, &payload, &r->sect);
        parts[0] = (tw_str){(const char *)payload.data, payload.len};
        n_parts = 1;
        if (rc == TW_ENOTFOUND || rc == TW_ENOMEM) {
            bool none = rc == TW_ENOTFOUND;
            char msg[160];
            snprintf(msg, sizeof msg, none ? "no %s pipeline receives from %s" : "out of memory",
                     logs ? "logs" : "traces", proto == TWS_PROTO_LOKI_JSON || proto == TWS_PROTO_LOKI_PROTOBUF ? "loki" : "otlp");
            tws_ingest_refuse(s, sink, ctx, signal, proto, none ? TWS_REFUSE_DECODE : TWS_REFUSE_OVERLOADED, items,
                              none ? 404 : 503, none ? "Not Found" : "Service Unavailable",
                              none ? TWS_RPC_UNIMPLEMENTED : TWS_RPC_UNAVAILABLE, msg);
            tw__buf_free(&payload);
            req_free(r);
            return;
        }
    } else {
        rc = wal_payload(r, logs || proto != TWS_PROTO_HTTP_JSON ? data : NULL, len, &payload, parts, &n_parts);
    }
    r->ev = event_new(s->base, -1, 0, on_durable_loop, r);
    if (rc != TW_OK || !r->ev) {
        tws_ingest_refuse(s, sink, ctx, signal, proto, rc == TW_ERANGE ? TWS_REFUSE_TOO_LARGE : TWS_REFUSE_OVERLOADED,
                          items, rc == TW_ERANGE ? 413 : 503,
                          rc == TW_ERANGE ? "Payload Too Large" : "Service Unavailable",
                          rc == TW_ERANGE ? TWS_RPC_INVALID_ARGUMENT : TWS_RPC_UNAVAILABLE,
                          rc == TW_ERANGE ? "the request is larger than one WAL record may be" : "out of memory");
        tw__buf_free(&payload);
        req_free(r);
        return;
    }
    rc = tws_wal_append_async(logs ? s->log_wal : s->wal, logs ? TWS_WAL_LOGS : TWS_WAL_TRACES, parts, n_parts,
                              on_durable, r, &r->lsn);
    tw__buf_free(&payload); /* the WAL copied it */
    if (rc != TW_OK) {
        bool full = rc == TW_EFULL;
        tws_ingest_refuse(s, sink, ctx, signal, proto, full ? TWS_REFUSE_OVERLOADED : TWS_REFUSE_STORAGE, items,
                          full ? 429 : 503, full ? "Too Many Requests" : "Service Unavailable",
                          full ? TWS_RPC_RESOURCE_EXHAUSTED : TWS_RPC_UNAVAILABLE,
                          full ? "the write-ahead log queue is full; retry later"
                               : "the write-ahead log is not accepting writes");
        req_free(r);
        return;
    }
    atomic_fetch_add(logs ? &s->metrics.log_wal_bytes : &s->metrics.wal_bytes,
                     parts[0].len + (n_parts > 1 ? parts[1].len : 0));
    s->inflight++;
    ingest_req **first, **last;
    waiting_list(s, r, &first, &last);
    r->prev = *last; /* LSNs grow with each append: the list stays in LSN order */
    if (*last) (*last)->next = r;
    else *first = r;
    *last = r;
    if (logs) s->log_head_reserved += r->batch_bytes;
    else s->head_reserved += r->batch_bytes;
}

/* ---- the HTTP handlers ----------------------------------------------------------------------- */

/* Loki's push API answers 204 with no body, and refusals in plain text. */
static void loki_ok(void *ctx, int signal, int proto, uint32_t rejected, const char *msg) {
    struct evhttp_request *req = ctx;
    if (rejected) tws_reply_text(req, 400, "Bad Request", "text/plain", msg, strlen(msg));
    else evhttp_send_reply(req, 204, "No Content", NULL);
}

static void loki_refused(void *ctx, int proto, int http_code, const char *reason, int rpc_code, bool retry,
                         const char *msg) {
    struct evhttp_request *req = ctx;
    if (retry) evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
    tw__buf b;
    tw__buf_init(&b, 1024);
    tw__buf_printf(&b, "%s\n", msg);
    tws_reply_text(req, http_code, reason, "text/plain; charset=utf-8", b.failed ? "" : (const char *)b.data,
                   b.failed ? 0 : b.len);
    tw__buf_free(&b);
}

static const tws_ingest_sink loki_sink = {loki_ok, loki_refused};

/* What an HTTP request brings to the pipeline, whichever server parsed it. */
typedef struct http_in {
    const char *tenant;   /* X-Scope-OrgID, or NULL */
    const char *encoding; /* Content-Encoding, or NULL */
    const uint8_t *body;
    size_t len;
} http_in;

/* What every HTTP receiver does before the pipeline: shutdown, the tenant,
 * Content-Encoding (gzip for any; snappy, as Loki clients send protobuf,
 * when `snappy`), then submit. */
static void http_submit(tws_server *s, const http_in *in, void *req, int signal, int proto, bool snappy,
                        const tws_ingest_sink *sink) {
    if (s->stopping) {
        tws_ingest_refuse(s, sink, req, signal, proto, TWS_REFUSE_OVERLOADED, 0, 503, "Service Unavailable",
                          TWS_RPC_UNAVAILABLE, "the server is shutting down");
        return;
    }
    const char *tenant = in->tenant;
    if (!tenant || !*tenant) tenant = s->cfg.default_tenant;
    if (!tws_tenant_valid(tenant)) {
        tws_ingest_refuse(s, sink, req, signal, proto, TWS_REFUSE_DECODE, 0, 400, "Bad Request",
                          TWS_RPC_INVALID_ARGUMENT,
                          "X-Scope-OrgID: a tenant id is 1 to 150 of the characters A-Z a-z 0-9 ! - _ . * ' ( )");
        return;
    }
    const uint8_t *data = in->body;
    size_t len = in->len;
    tw__buf inflated;
    tw__buf_init(&inflated, s->cfg.max_decompressed_bytes);
    const char *ce = in->encoding;
    bool gzip = ce && strcasecmp(ce, "gzip") == 0;
    if (ce && *ce && !gzip && strcasecmp(ce, "identity") != 0 && !(snappy && strcasecmp(ce, "snappy") == 0)) {
        char msg[160];
        snprintf(msg, sizeof msg, "unsupported Content-Encoding \"%.60s\": use %s", ce,
                 snappy ? "snappy, gzip or none" : "gzip or none");
        tws_ingest_refuse(s, sink, req, signal, proto, TWS_REFUSE_MEDIA_TYPE, 0, 415, "Unsupported Media Type",
                          TWS_RPC_INVALID_ARGUMENT, msg);
        tw__buf_free(&inflated);
        return;
    }
    if (gzip || snappy) {
        int rc = gzip ? tws_gunzip(data, len, &inflated)
                      : tws_snappy_uncompress_capped(data, len, s->cfg.max_decompressed_bytes, &inflated);
        if (rc != TW_OK) {
            char msg[160];
            if (rc == TW_ERANGE)
                snprintf(msg, sizeof msg, "the %s body inflates to more than %llu bytes", gzip ? "gzip" : "snappy",
                         (unsigned long long)s->cfg.max_decompressed_bytes);
            else
                snprintf(msg, sizeof msg, "%s", gzip ? "Content-Encoding is gzip but the body is not valid gzip data"
                                                     : "the protobuf body is not valid snappy data (Loki clients "
                                                       "send it snappy-compressed)");
            tws_ingest_refuse(s, sink, req, signal, proto, rc == TW_ERANGE ? TWS_REFUSE_TOO_LARGE : TWS_REFUSE_DECODE,
                              0, rc == TW_ERANGE ? 413 : 400, rc == TW_ERANGE ? "Payload Too Large" : "Bad Request",
                              TWS_RPC_INVALID_ARGUMENT, msg);
            tw__buf_free(&inflated);
            return;
        }
        data = inflated.data ? inflated.data : (const uint8_t *)"";
        len = inflated.len;
    }
    tws_ingest_submit(s, signal, proto, tenant, data, len, sink, req);
    tw__buf_free(&inflated); /* the batch never borrows from the input */
}

/* POST only: a 405 naming it otherwise (OTLP port, then the query port's Loki push). */
static bool post_only(tws_h1_req *req) {
    if (tws_h1_method(req) == TWS_H1_POST) return true;
    tws_h1_add_header(req, "Allow", "POST");
    tws_h1_reply(req, 405, "Method Not Allowed", "text/plain", "use POST\n", 9);
    return false;
}

static bool post_only_evhttp(struct evhttp_request *req) {
    if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) return true;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
    tws_reply_text(req, 405, "Method Not Allowed", "text/plain", "use POST\n", 9);
    return false;
}

/* POST /v1/traces, /v1/logs: OTLP/HTTP, protobuf or JSON. */
static void handle_otlp(tws_h1_req *req, tws_server *s, int signal) {
    const char *ct = tws_h1_header(req, "Content-Type");
    int proto = tws_media_type_is(ct, "application/json") ? TWS_PROTO_HTTP_JSON : TWS_PROTO_HTTP_PROTOBUF;
    if (!post_only(req)) return;
    atomic_fetch_add(&s->metrics.requests[signal][proto], 1);
    if (!(proto == TWS_PROTO_HTTP_JSON || tws_media_type_is(ct, "application/x-protobuf") ||
          tws_media_type_is(ct, "application/protobuf"))) {
        char msg[200];
        snprintf(msg, sizeof msg, "unsupported Content-Type \"%.100s\": use application/x-protobuf or application/json",
                 ct ? ct : "");
        refuse(s, req, signal, proto, TWS_REFUSE_MEDIA_TYPE, 415, "Unsupported Media Type", TWS_RPC_INVALID_ARGUMENT,
               msg);
        return;
    }
    http_in in = {tws_h1_header(req, "X-Scope-OrgID"), tws_h1_header(req, "Content-Encoding"), NULL, 0};
    in.body = tws_h1_body(req, &in.len);
    http_submit(s, &in, req, signal, proto, false, &http_sink);
}


/* POST /loki/api/v1/push (query port): Loki's push API, JSON or snappy protobuf. */
void tws_loki_push_handle(tws_server *s, struct evhttp_request *req) {
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    bool json = tws_media_type_is(ct, "application/json");
    int proto = json ? TWS_PROTO_LOKI_JSON : TWS_PROTO_LOKI_PROTOBUF;
    if (!post_only_evhttp(req)) return;
    atomic_fetch_add(&s->metrics.requests[TWS_SIG_LOGS][proto], 1);
    if (!json && !tws_media_type_is(ct, "application/x-protobuf") && !tws_media_type_is(ct, "application/protobuf")) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "unsupported Content-Type \"%.100s\": use application/json or application/x-protobuf (snappy)",
                 ct ? ct : "");
        tws_ingest_refuse(s, &loki_sink, req, TWS_SIG_LOGS, proto, TWS_REFUSE_MEDIA_TYPE, 0, 415,
                          "Unsupported Media Type", TWS_RPC_INVALID_ARGUMENT, msg);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    http_in in = {evhttp_find_header(h, "X-Scope-OrgID"), evhttp_find_header(h, "Content-Encoding"), NULL,
                  evbuffer_get_length(body)};
    in.body = in.len ? evbuffer_pullup(body, -1) : (const uint8_t *)"";
    http_submit(s, &in, req, TWS_SIG_LOGS, proto, !json, &loki_sink);
}

int tws_ingest_replay(tws_server *s, const uint8_t *p, size_t len, uint64_t lsn, char *err, size_t err_len) {
    if (tws_ingest_is_v2(p, len)) return tws_ingest_replay_v2(s, TWS_SIG_TRACES, p, len, lsn, err, err_len);
    if (len < 2 || p[0] != TWS_WAL_TRACES_V1 || (size_t)p[1] + 2 > len) {
        snprintf(err, err_len, "a traces record has an unknown version or a bad tenant length");
        return TW_EPARSE;
    }
    char tenant[256];
    memcpy(tenant, p + 2, p[1]);
    tenant[p[1]] = '\0';
    tws_batch b;
    tws_batch_init(&b);
    tws_decode_options dopt = {.max_value_len = s->cfg.max_attr_value_len};
    tws_decode_error derr = {{0}};
    size_t off = 2 + (size_t)p[1];
    int rc = tws_otlp_decode_pb(p + off, len - off, &dopt, &b, &derr);
    uint64_t bytes = (uint64_t)(len - off) * 3 + (uint64_t)b.n_spans * sizeof(tws_span) + 4096;
    if (rc == TW_OK) rc = tws_head_add(s->head, tenant, &b, bytes);
    uint64_t held = s->pipes ? tws_pipeline_oldest_lsn(s->pipes) : UINT64_MAX, cut = held < lsn ? held : lsn;
    if (rc == TW_EFULL && s->store && tws_flush_now(s, cut) == TW_OK) /* a log larger than the head */
        rc = tws_head_add(s->head, tenant, &b, bytes);
    if (rc == TW_OK) tws_flush_note_add(s);
    if (rc != TW_OK) snprintf(err, err_len, "%s", rc == TW_EPARSE ? derr.msg : tw_strerror(rc));
    tws_batch_free(&b);
    return rc;
}

int tws_ingest_replay_logs(tws_server *s, const uint8_t *p, size_t len, uint64_t lsn, char *err, size_t err_len) {
    if (tws_ingest_is_v2(p, len)) return tws_ingest_replay_v2(s, TWS_SIG_LOGS, p, len, lsn, err, err_len);
    if (len < 11 || p[0] != TWS_WAL_LOGS_V1 || (size_t)p[1] + 11 > len || p[2 + p[1]] == TWS_PROTO_GRPC ||
        p[2 + p[1]] >= TWS_PROTO_COUNT) {
        snprintf(err, err_len, "a logs record has an unknown version, a bad tenant length or an unknown format");
        return TW_EPARSE;
    }
    char tenant[256];
    memcpy(tenant, p + 2, p[1]);
    tenant[p[1]] = '\0';
    int proto = p[2 + p[1]];
    size_t off = 3 + (size_t)p[1];
    uint64_t received_ns = 0;
    for (int i = 0; i < 8; i++) received_ns |= (uint64_t)p[off++] << (8 * i);
    tws_batch b;
    tws_batch_init(&b);
    tws_decode_error derr = {{0}};
    int rc = decode(s, TWS_SIG_LOGS, proto, p + off, len - off, &b, &derr);
    if (rc == TW_OK) stamp_logs(&b, received_ns);
    uint64_t bytes = rc == TW_OK ? tws_logs_batch_bytes(&b, len - off) : 0;
    if (rc == TW_OK) rc = tws_loghead_add(s->logs, tenant, &b, bytes);
    if (rc == TW_EFULL && s->log_store && tws_log_flush_now(s, lsn) == TW_OK) /* a log larger than the head */
        rc = tws_loghead_add(s->logs, tenant, &b, bytes);
    if (rc == TW_OK) tws_log_flush_note_add(s);
    if (rc == TW_EFULL)
        snprintf(err, err_len, "a logs write-ahead log record does not fit in logs.head_max_bytes (%llu bytes), "
                 "and the log head could not be written to blocks: raise it to start",
                 (unsigned long long)s->cfg.log_head_max_bytes);
    else if (rc != TW_OK)
        snprintf(err, err_len, "%s", rc == TW_EPARSE ? derr.msg : tw_strerror(rc));
    tws_batch_free(&b);
    return rc;
}

/* Every request on the OTLP/HTTP port. */
static void handle_otlp_port(tws_h1_req *req, void *arg) {
    const char *path = tws_h1_path(req);
    if (strcmp(path, "/v1/traces") == 0) {
        handle_otlp(req, arg, TWS_SIG_TRACES);
    } else if (strcmp(path, "/v1/logs") == 0) {
        handle_otlp(req, arg, TWS_SIG_LOGS);
    } else {
        static const char msg[] = "not found: this port serves POST /v1/traces and POST /v1/logs\n";
        tws_h1_reply(req, 404, "Not Found", "text/plain", msg, sizeof msg - 1);
    }
}

tws_h1_server *tws_ingest_http_listen(tws_server *s, const char *host, uint16_t port) {
    tws_h1_options o = {.max_body = s->cfg.max_request_bytes, .timeout_s = 30};
    tws_h1_server *h = tws_h1_new(s->base, &o, handle_otlp_port, s);
    if (h && tws_h1_bind(h, host, port) != 0) {
        int e = errno;
        tws_h1_free(h);
        errno = e;
        return NULL;
    }
    return h;
}
