/*
 * grpc.c — OTLP/gRPC receiver: HTTP/2 cleartext (prior knowledge, as
 * gRPC clients speak it) with nghttp2 over libevent, serving
 * POST /opentelemetry.proto.collector.trace.v1.TraceService/Export and
 * POST /opentelemetry.proto.collector.logs.v1.LogsService/Export (the same
 * framing; the responses share their wire layout).
 *
 * A request body is one gRPC message: 1 byte compressed flag, 4 bytes
 * big-endian length, the ExportTraceServiceRequest (gzip when the flag is set
 * and grpc-encoding is gzip). It runs through the same pipeline as OTLP/HTTP
 * (ingest.c: limits, room, WAL, answer once durable); only the answer
 * differs: HEADERS (:status 200, application/grpc), a DATA frame with the
 * framed ExportTraceServiceResponse, trailers grpc-status/grpc-message.
 * Refusals are Trailers-Only responses; RESOURCE_EXHAUSTED for a full WAL
 * queue or head carries grpc-status-details-bin with a google.rpc.RetryInfo.
 *
 * Lifetime. The loop thread owns every connection and stream. A stream in
 * the pipeline (`pending`) outlives its connection: when the connection or
 * the stream closes first, the stream is only marked `closed` and detached,
 * and the pipeline's answer frees it instead of replying.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/pb.h"
#include "serve/server_int.h"

#define EXPORT_PATH "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#define LOGS_EXPORT_PATH "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

typedef struct tws_grpc_conn tws_grpc_conn;

typedef struct grpc_stream {
    tws_grpc_conn *conn; /* NULL once the connection is gone */
    struct grpc_stream *next, *prev;
    int32_t id;
    bool pending;   /* in the ingest pipeline: its answer is still to come */
    bool closed;    /* the HTTP/2 stream or its connection is gone */
    bool path_ok, post, content_type_ok, too_large;
    int signal; /* TWS_SIG_*, from the path */
    char encoding[32];
    char tenant[160];
    bool tenant_too_long;
    tw__buf body;   /* the request, capped at 5 + max_request_bytes */
    uint8_t resp[512]; /* the framed response, sent by resp_read */
    size_t resp_len, resp_off;
} grpc_stream;

struct tws_grpc_conn {
    tws_server *s;
    struct bufferevent *bev;
    nghttp2_session *h2;
    grpc_stream *streams;
    struct tws_grpc_conn *next, *prev;
    bool in_callback; /* inside nghttp2_session_mem_recv: no sending now */
    bool dying;
};

/* ---- streams and connections --------------------------------------------------------- */

static void stream_free(grpc_stream *st) {
    tw__buf_free(&st->body);
    tw__free(st);
}

static void stream_unlink(grpc_stream *st) {
    tws_grpc_conn *c = st->conn;
    if (!c) return;
    if (st->prev) st->prev->next = st->next;
    else c->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    st->next = st->prev = NULL;
    st->conn = NULL;
}

/* The stream is gone from the client's view: free it unless the pipeline
 * still holds it. */
static void stream_close(grpc_stream *st) {
    stream_unlink(st);
    st->closed = true;
    if (!st->pending) stream_free(st);
}

static void conn_free(tws_grpc_conn *c) {
    tws_server *s = c->s;
    c->dying = true;
    while (c->streams) stream_close(c->streams);
    if (c->h2) nghttp2_session_del(c->h2);
    if (c->bev) bufferevent_free(c->bev);
    if (c->prev) c->prev->next = c->next;
    else s->grpc_conns = c->next;
    if (c->next) c->next->prev = c->prev;
    tw__free(c);
}

static void on_drained(struct bufferevent *bev, void *arg) { conn_free(arg); }

/* Hand what nghttp2 has to send to the socket; close the connection when
 * the session is over. Returns false when the connection was freed. */
static bool conn_flush(tws_grpc_conn *c) {
    if (c->in_callback) return true; /* the read callback flushes afterwards */
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->h2, &data);
        if (n < 0) {
            conn_free(c);
            return false;
        }
        if (n == 0) break;
        if (bufferevent_write(c->bev, data, (size_t)n) != 0) {
            conn_free(c);
            return false;
        }
    }
    if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)) {
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
            conn_free(c);
            return false;
        }
        bufferevent_setcb(c->bev, NULL, on_drained, NULL, c);
        bufferevent_disable(c->bev, EV_READ);
    }
    return true;
}

/* ---- answers ---------------------------------------------------------------------------- */

#define NV(n, v, vl) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE}

/* grpc-message: percent-encode everything outside printable ASCII, and '%'. */
static size_t percent_encode(const char *in, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 <= cap; p++) {
        if (*p >= 0x20 && *p <= 0x7e && *p != '%') out[o++] = (char)*p;
        else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return o;
}

/* Unpadded standard base64, as gRPC writes -bin metadata. */
static size_t base64_unpadded(const uint8_t *p, size_t n, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
        out[o++] = t[v & 63];
    }
    if (n - i == 1) {
        out[o++] = t[p[i] >> 2];
        out[o++] = t[(p[i] & 3) << 4];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];
        out[o++] = t[v >> 10];
        out[o++] = t[(v >> 4) & 63];
        out[o++] = t[(v & 15) << 2];
    }
    out[o] = '\0';
    return o;
}

/* Answer with a single HEADERS frame that ends the stream (Trailers-Only). */
static void send_status(grpc_stream *st, int code, const char *msg, bool retry) {
    char codes[12], pmsg[1024], details[1024] = "";
    snprintf(codes, sizeof codes, "%d", code);
    size_t pl = percent_encode(msg, pmsg, sizeof pmsg);
    size_t dl = 0;
    if (retry) { /* google.rpc.Status{code, message, details[Any{RetryInfo{retry_delay: 1s}}]} */
        tw__buf b;
        tw__buf_init(&b, 600);
        tw__pb_uint64(&b, 1, (uint64_t)code);
        tw__pb_bytes(&b, 2, msg, TW_MIN(strlen(msg), (size_t)300));
        tw__pb_mark any = tw__pb_begin(&b, 3, 1);
        static const char type_url[] = "type.googleapis.com/google.rpc.RetryInfo";
        tw__pb_bytes(&b, 1, type_url, sizeof type_url - 1);
        static const uint8_t retry_info[] = {0x0a, 0x02, 0x08, 0x01}; /* retry_delay{seconds: 1} */
        tw__pb_bytes(&b, 2, retry_info, sizeof retry_info);
        tw__pb_end(&b, any);
        if (!b.failed && b.len * 4 / 3 + 4 < sizeof details) dl = base64_unpadded(b.data, b.len, details);
        tw__buf_free(&b);
    }
    nghttp2_nv nva[6] = {
        NV(":status", "200", 3),
        NV("content-type", "application/grpc", 16),
        NV("grpc-status", codes, strlen(codes)),
        NV("grpc-message", pmsg, pl),
    };
    size_t n = 4;
    if (dl) nva[n++] = (nghttp2_nv)NV("grpc-status-details-bin", details, dl);
    if (code == TWS_RPC_UNIMPLEMENTED && st->encoding[0])
        nva[n++] = (nghttp2_nv)NV("grpc-accept-encoding", "identity,gzip", 13);
    nghttp2_submit_response(st->conn->h2, st->id, nva, n, NULL);
}

static ssize_t resp_read(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *user) {
    grpc_stream *st = src->ptr;
    size_t n = TW_MIN(length, st->resp_len - st->resp_off);
    memcpy(buf, st->resp + st->resp_off, n);
    st->resp_off += n;
    if (st->resp_off == st->resp_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv tr[] = {NV("grpc-status", "0", 1), NV("grpc-message", "", 0)};
        if (nghttp2_submit_trailer(h2, id, tr, 2) != 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return (ssize_t)n;
}

/* The pipeline answered; false when the stream can no longer be answered
 * (and has been freed). */
static bool answer_begin(grpc_stream *st) {
    st->pending = false;
    if (st->closed) {
        stream_free(st);
        return false;
    }
    return true;
}

static void grpc_ok(void *ctx, int signal, int proto, uint32_t rejected, const char *msg) {
    grpc_stream *st = ctx;
    if (!answer_begin(st)) return;
    /* Export{Trace,Logs}ServiceResponse{partial_success{rejected_*, error_message}}, gRPC-framed */
    tw__buf b;
    tw__buf_init(&b, sizeof st->resp - 5);
    if (rejected) {
        tw__pb_mark m = tw__pb_begin(&b, 1, 1);
        tw__pb_uint64(&b, 1, rejected);
        tw__pb_bytes(&b, 2, msg, strlen(msg));
        tw__pb_end(&b, m);
    }
    size_t n = b.failed ? 0 : b.len;
    st->resp[0] = 0;
    st->resp[1] = (uint8_t)(n >> 24), st->resp[2] = (uint8_t)(n >> 16);
    st->resp[3] = (uint8_t)(n >> 8), st->resp[4] = (uint8_t)n;
    if (n) memcpy(st->resp + 5, b.data, n);
    tw__buf_free(&b);
    st->resp_len = 5 + n;
    st->resp_off = 0;
    nghttp2_nv nva[] = {NV(":status", "200", 3), NV("content-type", "application/grpc", 16)};
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = resp_read};
    nghttp2_submit_response(st->conn->h2, st->id, nva, 2, &dp);
    conn_flush(st->conn);
}

static void grpc_refused(void *ctx, int proto, int http_code, const char *reason, int rpc_code, bool retry,
                         const char *msg) {
    grpc_stream *st = ctx;
    if (!answer_begin(st)) return;
    send_status(st, rpc_code, msg, retry && rpc_code == TWS_RPC_RESOURCE_EXHAUSTED);
    conn_flush(st->conn);
}

static const tws_ingest_sink grpc_sink = {grpc_ok, grpc_refused};

static void refuse(grpc_stream *st, int why, int rpc_code, const char *msg) {
    st->pending = true;
    tws_ingest_refuse(st->conn->s, &grpc_sink, st, st->signal, TWS_PROTO_GRPC, why, 0, 400, "Bad Request", rpc_code,
                      msg);
}

/* ---- one request --------------------------------------------------------------------------- */

static void handle_request(grpc_stream *st) {
    tws_server *s = st->conn->s;
    if (!st->path_ok || !st->post) {
        st->pending = true;
        grpc_refused(st, TWS_PROTO_GRPC, 404, "Not Found", TWS_RPC_UNIMPLEMENTED, false,
                     "unknown method: this port serves " EXPORT_PATH " and " LOGS_EXPORT_PATH);
        return;
    }
    atomic_fetch_add(&s->metrics.requests[st->signal][TWS_PROTO_GRPC], 1);
    if (!st->content_type_ok) {
        refuse(st, TWS_REFUSE_MEDIA_TYPE, TWS_RPC_INVALID_ARGUMENT, "content-type must be application/grpc");
        return;
    }
    if (s->stopping) {
        st->pending = true;
        tws_ingest_refuse(s, &grpc_sink, st, st->signal, TWS_PROTO_GRPC, TWS_REFUSE_OVERLOADED, 0, 503,
                          "Service Unavailable",
                          TWS_RPC_UNAVAILABLE, "the server is shutting down");
        return;
    }
    if (st->too_large) {
        char msg[120];
        snprintf(msg, sizeof msg, "message larger than max (%llu bytes)", (unsigned long long)s->cfg.max_request_bytes);
        refuse(st, TWS_REFUSE_TOO_LARGE, TWS_RPC_RESOURCE_EXHAUSTED, msg);
        return;
    }
    const char *tenant = st->tenant[0] ? st->tenant : s->cfg.default_tenant;
    if (st->tenant_too_long || !tws_tenant_valid(tenant)) {
        refuse(st, TWS_REFUSE_DECODE, TWS_RPC_INVALID_ARGUMENT,
               "x-scope-orgid: a tenant id is 1 to 150 of the characters A-Z a-z 0-9 ! - _ . * ' ( )");
        return;
    }
    const uint8_t *p = st->body.data;
    size_t len = st->body.len;
    if (len < 5) {
        refuse(st, TWS_REFUSE_DECODE, TWS_RPC_INVALID_ARGUMENT, "expected one gRPC message");
        return;
    }
    uint32_t mlen = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    if ((size_t)mlen != len - 5) {
        refuse(st, TWS_REFUSE_DECODE, TWS_RPC_INVALID_ARGUMENT,
               mlen > len - 5 ? "the gRPC message is truncated" : "expected exactly one gRPC message");
        return;
    }
    if (p[0] > 1) {
        refuse(st, TWS_REFUSE_DECODE, TWS_RPC_INVALID_ARGUMENT, "bad gRPC compressed flag");
        return;
    }
    const uint8_t *msg = p + 5;
    tw__buf inflated;
    tw__buf_init(&inflated, s->cfg.max_decompressed_bytes);
    if (p[0] == 1) {
        if (!st->encoding[0] || strcmp(st->encoding, "identity") == 0) {
            refuse(st, TWS_REFUSE_DECODE, TWS_RPC_INTERNAL, "compressed message without grpc-encoding");
            goto out;
        }
        if (strcmp(st->encoding, "gzip") != 0) {
            char m[120];
            snprintf(m, sizeof m, "grpc-encoding \"%.40s\" is not supported: use gzip or identity", st->encoding);
            refuse(st, TWS_REFUSE_MEDIA_TYPE, TWS_RPC_UNIMPLEMENTED, m);
            goto out;
        }
        int rc = tws_gunzip(msg, mlen, &inflated);
        if (rc != TW_OK) {
            refuse(st, rc == TW_ERANGE ? TWS_REFUSE_TOO_LARGE : TWS_REFUSE_DECODE,
                   rc == TW_ERANGE ? TWS_RPC_RESOURCE_EXHAUSTED : TWS_RPC_INVALID_ARGUMENT,
                   rc == TW_ERANGE ? "the gzip message inflates to more than the maximum"
                                   : "grpc-encoding is gzip but the message is not valid gzip data");
            goto out;
        }
        msg = inflated.data ? inflated.data : (const uint8_t *)"";
        mlen = (uint32_t)inflated.len;
    }
    st->pending = true;
    tws_ingest_submit(s, st->signal, TWS_PROTO_GRPC, tenant, msg, mlen, &grpc_sink, st);
out:
    tw__buf_free(&inflated);
    tw__buf_free(&st->body); /* no longer needed while waiting for the WAL */
}

/* ---- nghttp2 callbacks ------------------------------------------------------------------------ */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *user) {
    tws_grpc_conn *c = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    grpc_stream *st = tw__calloc(1, sizeof *st);
    if (!st) return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->conn = c;
    st->id = f->hd.stream_id;
    tw__buf_init(&st->body, (size_t)c->s->cfg.max_request_bytes + 5);
    st->next = c->streams;
    if (c->streams) c->streams->prev = st;
    c->streams = st;
    nghttp2_session_set_stream_user_data(h2, st->id, st);
    return 0;
}

static bool eq(const uint8_t *p, size_t n, const char *lit) { return n == strlen(lit) && memcmp(p, lit, n) == 0; }

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *user) {
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    grpc_stream *st = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    if (!st) return 0;
    if (eq(name, nl, ":path")) {
        st->signal = eq(value, vl, LOGS_EXPORT_PATH) ? TWS_SIG_LOGS : TWS_SIG_TRACES;
        st->path_ok = eq(value, vl, EXPORT_PATH) || st->signal == TWS_SIG_LOGS;
    }
    else if (eq(name, nl, ":method")) st->post = eq(value, vl, "POST");
    else if (eq(name, nl, "content-type"))
        st->content_type_ok = vl >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
                              (vl == 16 || value[16] == '+' || value[16] == ';');
    else if (eq(name, nl, "grpc-encoding")) {
        size_t n = TW_MIN(vl, sizeof st->encoding - 1);
        memcpy(st->encoding, value, n);
        st->encoding[n] = '\0';
    } else if (eq(name, nl, "x-scope-orgid")) {
        if (vl >= sizeof st->tenant) st->tenant_too_long = true;
        else {
            memcpy(st->tenant, value, vl);
            st->tenant[vl] = '\0';
        }
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                         void *user) {
    grpc_stream *st = nghttp2_session_get_stream_user_data(h2, id);
    if (!st || st->too_large || st->pending) return 0;
    if (tw__buf_append(&st->body, data, len) != TW_OK) {
        st->too_large = true; /* refused at the end of the stream; keep reading and discarding */
        tw__buf_free(&st->body);
        tw__buf_init(&st->body, 0);
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *user) {
    if ((f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS) || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    grpc_stream *st = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    if (st && !st->pending && !st->closed) handle_request(st);
    return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *user) {
    tws_grpc_conn *c = user;
    if (c->dying) return 0; /* conn_free has detached every stream */
    grpc_stream *st = nghttp2_session_get_stream_user_data(h2, id);
    if (st) {
        nghttp2_session_set_stream_user_data(h2, id, NULL);
        stream_close(st);
    }
    return 0;
}

/* ---- libevent side ------------------------------------------------------------------------------ */

static void on_read(struct bufferevent *bev, void *arg) {
    tws_grpc_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n;
    while ((n = evbuffer_get_contiguous_space(in)) > 0) {
        c->in_callback = true;
        ssize_t used = nghttp2_session_mem_recv(c->h2, evbuffer_pullup(in, (ev_ssize_t)n), n);
        c->in_callback = false;
        if (used < 0) {
            conn_free(c); /* a protocol error: nghttp2 has queued GOAWAY, but the peer broke the rules */
            return;
        }
        evbuffer_drain(in, (size_t)used);
    }
    conn_flush(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg) {
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) conn_free(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg) {
    tws_server *s = arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    tws_grpc_conn *c = tw__calloc(1, sizeof *c);
    nghttp2_session_callbacks *cb = NULL;
    if (!c || nghttp2_session_callbacks_new(&cb) != 0) goto fail;
    c->s = s;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    int rc = nghttp2_session_server_new(&c->h2, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) goto fail;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) goto fail;
    fd = -1;
    c->next = s->grpc_conns;
    if (s->grpc_conns) s->grpc_conns->prev = c;
    s->grpc_conns = c;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};
    if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 1) != 0) {
        conn_free(c);
        return;
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    conn_flush(c);
    return;
fail:
    if (c) {
        if (c->h2) nghttp2_session_del(c->h2);
        tw__free(c);
    }
    if (fd >= 0) evutil_closesocket(fd);
}

int tws_grpc_listen(tws_server *s) {
    const char *addr = s->cfg.otlp_grpc_listen;
    if (!addr[0]) return TW_OK; /* the pipelines leave OTLP/gRPC off */
    char host[128], port_s[8];
    uint16_t port;
    if (tws_split_hostport(addr, host, sizeof host, &port) != 0) {
        fprintf(stderr, "tracewire: OTLP/gRPC address \"%s\" is not HOST:PORT\n", addr);
        return TW_EINVAL;
    }
    snprintf(port_s, sizeof port_s, "%u", port);
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = EVUTIL_AI_PASSIVE};
    struct evutil_addrinfo *ai = NULL;
    if (evutil_getaddrinfo(host, port_s, &hints, &ai) != 0 || !ai) {
        fprintf(stderr, "tracewire: cannot resolve the OTLP/gRPC address \"%s\"\n", addr);
        return TW_EINVAL;
    }
    s->otlp_grpc = evconnlistener_new_bind(s->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
                                           ai->ai_addr, (int)ai->ai_addrlen);
    int err = errno;
    evutil_freeaddrinfo(ai);
    if (!s->otlp_grpc) {
        fprintf(stderr, "tracewire: cannot listen for OTLP/gRPC on %s: %s (is another server running? choose "
                        "another address with the flag)\n", addr, strerror(err));
        return TW_EIO;
    }
    return TW_OK;
}

void tws_grpc_stop_accepting(tws_server *s) {
    if (s->otlp_grpc) evconnlistener_disable(s->otlp_grpc);
}

void tws_grpc_free(tws_server *s) {
    while (s->grpc_conns) conn_free(s->grpc_conns);
    if (s->otlp_grpc) evconnlistener_free(s->otlp_grpc);
    s->otlp_grpc = NULL;
}
