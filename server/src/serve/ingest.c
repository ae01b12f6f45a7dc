/*
 * ingest.c — OTLP/HTTP trace receiver: POST /v1/traces.
 *
 * A request is decoded (protobuf or JSON, gzip or not), checked against the
 * limits, written to the WAL, and answered only when the WAL reports it
 * durable; then its spans enter the head. Replies follow the OTLP/HTTP
 * specification: the reply body is in the request's content type; a
 * partial_success names how many spans were refused and why; 400 carries a
 * google.rpc.Status saying what could not be decoded; 413, 415; 429 with
 * Retry-After when the WAL queue or the head is full (memory stays
 * bounded); 503 when storage failed.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/json.h"
#include "common/pb.h"
#include "serve/server_int.h"

typedef struct ingest_req {
    tws_server *s;
    const tws_ingest_sink *sink;
    void *ctx;
    struct event *ev;
    int proto; /* TWS_PROTO_* */
    int rc;    /* from the WAL */
    tws_batch batch;
    uint64_t batch_bytes;
    uint32_t accepted, rejected_ids, rejected_limit;
    char tenant[160];
    uint64_t lsn;                    /* of its WAL record, once appended */
    struct ingest_req *prev, *next;  /* s->wal_first..wal_last while waiting for the WAL */
} ingest_req;

/* ---- HTTP replies ----------------------------------------------------------------------- */

static void http_refused(void *ctx, int proto, int http_code, const char *reason, int rpc_code, bool retry,
                         const char *msg) {
    struct evhttp_request *req = ctx;
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
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (http_code == 429 || http_code == 503) evhttp_add_header(h, "Retry-After", "1");
    tws_reply_text(req, http_code, reason,
                   proto == TWS_PROTO_HTTP_JSON ? "application/json" : "application/x-protobuf",
                   b.failed ? "" : (const char *)b.data, b.failed ? 0 : b.len);
    tw__buf_free(&b);
}

static void http_ok(void *ctx, int proto, uint32_t rejected, const char *msg) {
    struct evhttp_request *req = ctx;
    tw__buf b;
    tw__buf_init(&b, 4096);
    if (proto == TWS_PROTO_HTTP_JSON) {
        tw__json j;
        tw__json_init(&j, &b);
        tw__json_begin_object(&j);
        if (rejected) {
            tw__json_key(&j, "partialSuccess", TW_NTS);
            tw__json_begin_object(&j);
            tw__json_key(&j, "rejectedSpans", TW_NTS);
            tw__json_int64_string(&j, rejected);
            tw__json_key(&j, "errorMessage", TW_NTS);
            tw__json_string(&j, msg, TW_NTS);
            tw__json_end_object(&j);
        }
        tw__json_end_object(&j);
    } else if (rejected) { /* ExportTraceServiceResponse{partial_success{rejected_spans, error_message}} */
        tw__pb_mark m = tw__pb_begin(&b, 1, 1);
        tw__pb_uint64(&b, 1, rejected);
        tw__pb_bytes(&b, 2, msg, strlen(msg));
        tw__pb_end(&b, m);
    }
    tws_reply_text(req, 200, "OK", proto == TWS_PROTO_HTTP_JSON ? "application/json" : "application/x-protobuf",
                   (const char *)b.data, b.failed ? 0 : b.len);
    tw__buf_free(&b);
}

static const tws_ingest_sink http_sink = {http_ok, http_refused};

void tws_ingest_refuse(tws_server *s, const tws_ingest_sink *sink, void *ctx, int proto, int why, uint64_t spans,
                       int http_code, const char *reason, int rpc_code, const char *msg) {
    atomic_fetch_add(&s->metrics.requests_refused[proto][why], 1);
    atomic_fetch_add(&s->metrics.spans_refused[proto][why], spans);
    sink->refused(ctx, proto, http_code, reason, rpc_code, http_code == 429 || http_code == 503, msg);
}

static void refuse(tws_server *s, struct evhttp_request *req, int proto, int why, uint64_t spans, int http_code,
                   const char *reason, int rpc_code, const char *msg) {
    tws_ingest_refuse(s, &http_sink, req, proto, why, spans, http_code, reason, rpc_code, msg);
}

static void reply_ok(ingest_req *r) {
    uint32_t rejected = r->rejected_ids + r->rejected_limit;
    char msg[200] = "";
    if (rejected) {
        snprintf(msg, sizeof msg, "%u span(s) refused:%s%s", rejected,
                 r->rejected_ids ? " invalid or missing trace/span id;" : "",
                 r->rejected_limit ? " trace over its size limit;" : "");
        msg[strlen(msg) - 1] = '\0';
    }
    r->sink->ok(r->ctx, r->proto, rejected, msg);
}

/* ---- the durable path ------------------------------------------------------------------ */

static void req_free(ingest_req *r) {
    if (r->ev) event_free(r->ev);
    tws_batch_free(&r->batch);
    tw__free(r);
}

/* On the loop thread, once the WAL has answered. */
static void on_durable_loop(evutil_socket_t fd, short what, void *arg) {
    ingest_req *r = arg;
    tws_server *s = r->s;
    s->inflight--;
    if (r->prev) r->prev->next = r->next;
    else s->wal_first = r->next;
    if (r->next) r->next->prev = r->prev;
    else s->wal_last = r->prev;
    s->head_reserved -= r->batch_bytes; /* the reservation becomes the batch, or is dropped */
    if (r->rc != TW_OK) {
        tws_ingest_refuse(s, r->sink, r->ctx, r->proto, TWS_REFUSE_STORAGE, r->accepted, 503, "Service Unavailable",
                          TWS_RPC_UNAVAILABLE, "the write-ahead log failed; nothing of this request was stored");
        req_free(r);
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
    atomic_fetch_add(&s->metrics.spans_accepted[r->proto], r->accepted);
    atomic_fetch_add(&s->metrics.spans_refused[r->proto][TWS_REFUSE_INVALID_IDS], r->rejected_ids);
    atomic_fetch_add(&s->metrics.spans_refused[r->proto][TWS_REFUSE_TRACE_TOO_LARGE], r->rejected_limit);
    reply_ok(r);
    req_free(r);
    tws_flush_maybe(s);
}

uint64_t tws_ingest_oldest_lsn(const tws_server *s) { return s->wal_first ? s->wal_first->lsn : UINT64_MAX; }

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
    uint8_t hdr[2 + 160];
    size_t tl = strlen(r->tenant);
    hdr[0] = TWS_WAL_TRACES_V1;
    hdr[1] = (uint8_t)tl;
    memcpy(hdr + 2, r->tenant, tl);
    int rc = tw__buf_append(out, hdr, 2 + tl);
    if (rc == TW_OK && raw_pb && r->batch.n_rejected == 0) {
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

void tws_ingest_submit(tws_server *s, int proto, const char *tenant, const uint8_t *data, size_t len,
                       const tws_ingest_sink *sink, void *ctx) {
    ingest_req *r = tw__calloc(1, sizeof *r);
    if (!r) {
        tws_ingest_refuse(s, sink, ctx, proto, TWS_REFUSE_OVERLOADED, 0, 503, "Service Unavailable",
                          TWS_RPC_UNAVAILABLE, "out of memory");
        return;
    }
    r->s = s;
    r->sink = sink;
    r->ctx = ctx;
    r->proto = proto;
    snprintf(r->tenant, sizeof r->tenant, "%s", tenant);
    tws_batch_init(&r->batch);
    tws_decode_options dopt = {.max_value_len = s->cfg.max_attr_value_len};
    tws_decode_error derr = {{0}};
    int rc = proto == TWS_PROTO_HTTP_JSON ? tws_otlp_decode_json((const char *)data, len, &dopt, &r->batch, &derr)
                                          : tws_otlp_decode_pb(data, len, &dopt, &r->batch, &derr);
    if (rc != TW_OK) {
        char msg[320];
        snprintf(msg, sizeof msg, "cannot decode the %s request: %s", proto == TWS_PROTO_HTTP_JSON ? "OTLP/JSON" : "OTLP/protobuf",
                 rc == TW_EPARSE ? derr.msg : tw_strerror(rc));
        tws_ingest_refuse(s, sink, ctx, proto, TWS_REFUSE_DECODE, 0, 400, "Bad Request", TWS_RPC_INVALID_ARGUMENT,
                          msg);
        req_free(r);
        return;
    }
    atomic_fetch_add(&s->metrics.spans_received[proto], r->batch.n_spans);
    r->rejected_ids = r->batch.n_rejected;
    r->rejected_limit = tws_head_apply_limits(s->head, r->tenant, &r->batch);
    r->accepted = r->batch.n_spans - r->batch.n_rejected;
    /* Memory the batch holds: decoded structures are a small multiple of
     * the wire size; count generously so the bound holds. */
    r->batch_bytes = (uint64_t)len * 3 + (uint64_t)r->batch.n_spans * sizeof(tws_span) + 4096;
    /* Requests still waiting for the WAL have room reserved, so an
     * acknowledged batch always fits in the head when it arrives. */
    if (!tws_flush_has_room(s, r->batch_bytes)) {
        tws_ingest_refuse(s, sink, ctx, proto, TWS_REFUSE_OVERLOADED, r->batch.n_spans, 429, "Too Many Requests",
                          TWS_RPC_RESOURCE_EXHAUSTED, "the in-memory head is full; retry later");
        req_free(r);
        return;
    }
    if (r->accepted == 0) { /* nothing to store: answer at once */
        reply_ok(r);
        atomic_fetch_add(&s->metrics.spans_refused[proto][TWS_REFUSE_INVALID_IDS], r->rejected_ids);
        atomic_fetch_add(&s->metrics.spans_refused[proto][TWS_REFUSE_TRACE_TOO_LARGE], r->rejected_limit);
        req_free(r);
        return;
    }

    tw__buf payload;
    tw__buf_init(&payload, TWS_WAL_MAX_RECORD);
    tw_str parts[2];
    size_t n_parts = 0;
    rc = wal_payload(r, proto != TWS_PROTO_HTTP_JSON ? data : NULL, len, &payload, parts, &n_parts);
    r->ev = event_new(s->base, -1, 0, on_durable_loop, r);
    if (rc != TW_OK || !r->ev) {
        tws_ingest_refuse(s, sink, ctx, proto, rc == TW_ERANGE ? TWS_REFUSE_TOO_LARGE : TWS_REFUSE_OVERLOADED,
                          r->batch.n_spans, rc == TW_ERANGE ? 413 : 503,
                          rc == TW_ERANGE ? "Payload Too Large" : "Service Unavailable",
                          rc == TW_ERANGE ? TWS_RPC_INVALID_ARGUMENT : TWS_RPC_UNAVAILABLE,
                          rc == TW_ERANGE ? "the request is larger than one WAL record may be" : "out of memory");
        tw__buf_free(&payload);
        req_free(r);
        return;
    }
    rc = tws_wal_append_async(s->wal, TWS_WAL_TRACES, parts, n_parts, on_durable, r, &r->lsn);
    tw__buf_free(&payload); /* the WAL copied it */
    if (rc != TW_OK) {
        bool full = rc == TW_EFULL;
        tws_ingest_refuse(s, sink, ctx, proto, full ? TWS_REFUSE_OVERLOADED : TWS_REFUSE_STORAGE, r->batch.n_spans,
                          full ? 429 : 503, full ? "Too Many Requests" : "Service Unavailable",
                          full ? TWS_RPC_RESOURCE_EXHAUSTED : TWS_RPC_UNAVAILABLE,
                          full ? "the write-ahead log queue is full; retry later"
                               : "the write-ahead log is not accepting writes");
        req_free(r);
        return;
    }
    atomic_fetch_add(&s->metrics.wal_bytes, parts[0].len + (n_parts > 1 ? parts[1].len : 0));
    s->inflight++;
    r->prev = s->wal_last; /* LSNs grow with each append: the list stays in LSN order */
    if (s->wal_last) s->wal_last->next = r;
    else s->wal_first = r;
    s->wal_last = r;
    s->head_reserved += r->batch_bytes;
}

/* ---- the HTTP handler ------------------------------------------------------------------------ */

static void handle_traces(struct evhttp_request *req, void *arg) {
    tws_server *s = arg;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *ct = evhttp_find_header(in, "Content-Type");
    int proto = tws_media_type_is(ct, "application/json") ? TWS_PROTO_HTTP_JSON : TWS_PROTO_HTTP_PROTOBUF;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        tws_reply_text(req, 405, "Method Not Allowed", "text/plain", "use POST\n", 9);
        return;
    }
    atomic_fetch_add(&s->metrics.requests[proto], 1);
    if (!(proto == TWS_PROTO_HTTP_JSON || tws_media_type_is(ct, "application/x-protobuf") ||
          tws_media_type_is(ct, "application/protobuf"))) {
        char msg[200];
        snprintf(msg, sizeof msg, "unsupported Content-Type \"%.100s\": use application/x-protobuf or application/json",
                 ct ? ct : "");
        refuse(s, req, proto, TWS_REFUSE_MEDIA_TYPE, 0, 415, "Unsupported Media Type", TWS_RPC_INVALID_ARGUMENT, msg);
        return;
    }
    if (s->stopping) {
        refuse(s, req, proto, TWS_REFUSE_OVERLOADED, 0, 503, "Service Unavailable", TWS_RPC_UNAVAILABLE,
               "the server is shutting down");
        return;
    }

    const char *tenant = evhttp_find_header(in, "X-Scope-OrgID");
    if (!tenant || !*tenant) tenant = s->cfg.default_tenant;
    if (!tws_tenant_valid(tenant)) {
        refuse(s, req, proto, TWS_REFUSE_DECODE, 0, 400, "Bad Request", TWS_RPC_INVALID_ARGUMENT,
               "X-Scope-OrgID: a tenant id is 1 to 150 of the characters A-Z a-z 0-9 ! - _ . * ' ( )");
        return;
    }

    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(body);
    const uint8_t *data = len ? evbuffer_pullup(body, -1) : (const uint8_t *)"";
    tw__buf inflated;
    tw__buf_init(&inflated, s->cfg.max_decompressed_bytes);
    const char *ce = evhttp_find_header(in, "Content-Encoding");
    if (ce && strcasecmp(ce, "gzip") == 0) {
        int rc = tws_gunzip(data, len, &inflated);
        if (rc == TW_ERANGE) {
            char msg[160];
            snprintf(msg, sizeof msg, "the gzip body inflates to more than %llu bytes",
                     (unsigned long long)s->cfg.max_decompressed_bytes);
            refuse(s, req, proto, TWS_REFUSE_TOO_LARGE, 0, 413, "Payload Too Large", TWS_RPC_INVALID_ARGUMENT, msg);
            tw__buf_free(&inflated);
            return;
        }
        if (rc != TW_OK) {
            refuse(s, req, proto, TWS_REFUSE_DECODE, 0, 400, "Bad Request", TWS_RPC_INVALID_ARGUMENT,
                   "Content-Encoding is gzip but the body is not valid gzip data");
            tw__buf_free(&inflated);
            return;
        }
        data = inflated.data ? inflated.data : (const uint8_t *)"";
        len = inflated.len;
    } else if (ce && *ce && strcasecmp(ce, "identity") != 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "unsupported Content-Encoding \"%.60s\": use gzip or none", ce);
        refuse(s, req, proto, TWS_REFUSE_MEDIA_TYPE, 0, 415, "Unsupported Media Type", TWS_RPC_INVALID_ARGUMENT, msg);
        tw__buf_free(&inflated);
        return;
    }
    tws_ingest_submit(s, proto, tenant, data, len, &http_sink, req);
    tw__buf_free(&inflated); /* the batch never borrows from the input */
}

int tws_ingest_replay(tws_server *s, const uint8_t *p, size_t len, uint64_t lsn, char *err, size_t err_len) {
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
    if (rc == TW_EFULL && s->store && tws_flush_now(s, lsn) == TW_OK) /* a log larger than the head */
        rc = tws_head_add(s->head, tenant, &b, bytes);
    if (rc == TW_OK) tws_flush_note_add(s);
    if (rc != TW_OK) snprintf(err, err_len, "%s", rc == TW_EPARSE ? derr.msg : tw_strerror(rc));
    tws_batch_free(&b);
    return rc;
}

static void handle_other(struct evhttp_request *req, void *arg) {
    tws_reply_text(req, 404, "Not Found", "text/plain", "not found: this port serves POST /v1/traces\n", 44);
}

void tws_ingest_register(tws_server *s) {
    evhttp_set_cb(s->otlp_http, "/v1/traces", handle_traces, s);
    evhttp_set_gencb(s->otlp_http, handle_other, s);
}
