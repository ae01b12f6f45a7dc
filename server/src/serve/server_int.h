/*
 * server_int.h — the state of one running `tracewire serve`, shared by its
 * files: lifecycle (server.c), the OTLP/HTTP receiver (ingest.c) and the
 * Tempo-compatible query API (query.c).
 *
 * Threading: one libevent loop thread owns the HTTP servers and the head;
 * the WAL's flusher thread reports durability back to the loop through
 * event_active(), so the head is only ever touched by the loop thread.
 */
#ifndef TWS_SERVER_INT_H
#define TWS_SERVER_INT_H

#include <event2/event.h>
#include <event2/http.h>

#include "common/clock.h"
#include "serve/config.h"
#include "serve/metrics.h"
#include "store/head.h"
#include "store/store.h"
#include "red/remote_write.h"
#include "red/servicegraph.h"
#include "red/spanmetrics.h"
#include "wal/wal.h"

/* WAL record types. */
enum { TWS_WAL_TRACES = 1 };
/* Version byte at the start of a TWS_WAL_TRACES payload:
 *   0 1 version (1)   1 1 tenant length T   2 T tenant   2+T .. OTLP ExportTraceServiceRequest (protobuf) */
enum { TWS_WAL_TRACES_V1 = 1 };

typedef struct tws_server {
    tws_config cfg;
    struct event_base *base;
    struct evhttp *otlp_http, *api_http;
    struct evconnlistener *otlp_grpc;
    struct tws_grpc_conn *grpc_conns; /* open gRPC connections (grpc.c) */
    struct event *sig_term, *sig_int, *drain_timer;
    tws_wal *wal;
    tws_head *head;
    tws_metrics metrics;
    unsigned inflight;      /* requests waiting for the WAL */
    uint64_t head_reserved; /* head bytes promised to those requests */
    int stopping;
    /* blocks (flush.c) */
    tws_store *store;
    tws_head *frozen;       /* the head being written to blocks, or NULL */
    uint64_t frozen_bytes;  /* its memory, still counted against head_max_bytes */
    uint64_t frozen_lsn;    /* WAL records below it are in frozen or in blocks */
    uint64_t head_since_ms; /* when the head got its first batch (0: empty) */
    uint64_t checkpoint_lsn;/* WAL records below it were in blocks at start: not replayed */
    uint64_t pin_lsn;       /* a durable record that is not in the head: never release past it */
    int flush_rc;           /* the worker's answer, read on the loop */
    char flush_err[256];
    struct event *flush_done_ev, *flush_timer;
    struct ingest_req *wal_first, *wal_last; /* requests waiting for the WAL, in LSN order */
    tws_spanmetrics *spanmetrics; /* RED metrics of every acknowledged span (red/) */
    tws_remote_write *remote_write; /* when spanmetrics.remote_write_url is set */
    struct event *remote_write_timer;
    tws_servicegraph *servicegraph; /* service-graph metrics (red/) */
    struct event *servicegraph_timer;
} tws_server;

/* ingest.c */
void tws_ingest_register(tws_server *s);

/* How one ingest request is answered. The receivers (OTLP/HTTP here, OTLP/gRPC
 * in grpc.c) share the pipeline and differ only in these two callbacks, each
 * called exactly once per submitted request, on the loop thread.
 *   ok:      stored (durable); `rejected` spans were refused, `msg` says why
 *            ("" when none).
 *   refused: nothing was stored; `http_code`/`reason` for HTTP, `rpc_code` a
 *            google.rpc.Code; `retry` when the client should retry later. */
typedef struct tws_ingest_sink {
    void (*ok)(void *ctx, int proto, uint32_t rejected, const char *msg);
    void (*refused)(void *ctx, int proto, int http_code, const char *reason, int rpc_code, bool retry,
                    const char *msg);
} tws_ingest_sink;

/* google.rpc.Code values used by the receivers. */
enum {
    TWS_RPC_OK = 0,
    TWS_RPC_INVALID_ARGUMENT = 3,
    TWS_RPC_RESOURCE_EXHAUSTED = 8,
    TWS_RPC_UNIMPLEMENTED = 12,
    TWS_RPC_INTERNAL = 13,
    TWS_RPC_UNAVAILABLE = 14
};

/* Count a refusal (why = TWS_REFUSE_*, `spans` refused) and answer it. */
void tws_ingest_refuse(tws_server *s, const tws_ingest_sink *sink, void *ctx, int proto, int why, uint64_t spans,
                       int http_code, const char *reason, int rpc_code, const char *msg);
/* The shared pipeline: decode `data` (an uncompressed ExportTraceServiceRequest,
 * protobuf unless proto is TWS_PROTO_HTTP_JSON; not retained), apply the
 * limits, check for room, append to the WAL and answer through `sink` once it
 * is durable (or at once on a refusal). `tenant` is valid (tws_tenant_valid). */
void tws_ingest_submit(tws_server *s, int proto, const char *tenant, const uint8_t *data, size_t len,
                       const tws_ingest_sink *sink, void *ctx);
/* Apply one replayed WAL record (at `lsn`) to the head. */
int tws_ingest_replay(tws_server *s, const uint8_t *payload, size_t len, uint64_t lsn, char *err, size_t err_len);

/* grpc.c: the OTLP/gRPC receiver (h2c) on cfg.otlp_grpc_listen. */
int tws_grpc_listen(tws_server *s);
/* Stop accepting connections (SIGTERM); open ones stay until they finish. */
void tws_grpc_stop_accepting(tws_server *s);
/* Close every connection and the listener (at exit). */
void tws_grpc_free(tws_server *s);

/* The LSN of the oldest request still waiting for the WAL (ingest.c), or UINT64_MAX. */
uint64_t tws_ingest_oldest_lsn(const tws_server *s);

/* flush.c: moving the head into blocks. */
int tws_flush_start(tws_server *s); /* the timer and the done event */
/* After the head grew: freeze and flush it if it is big or old enough. */
void tws_flush_maybe(tws_server *s);
/* Note that a batch entered the head (for its age). */
void tws_flush_note_add(tws_server *s);
/* During replay, when the head is full: write it to blocks on this thread
 * (every record below `cut` is in it or in blocks) and start a new one. */
int tws_flush_now(tws_server *s, uint64_t cut);
/* Room check for a batch of `bytes` (the head, reservations and a frozen head). */
bool tws_flush_has_room(const tws_server *s, uint64_t bytes);

/* query.c */
void tws_query_register(tws_server *s);
/* search_api.c: /api/search, tags and tag values; false when `path` is none of them. */
bool tws_search_api_route(tws_server *s, struct evhttp_request *req, const char *path, const char *query);
/* A TraceQL value as an OTLP AnyValue in Tempo's JSON: intValue (a string),
 * doubleValue, boolValue, else stringValue with the value's text. */
struct tw__json;
struct tq_val;
void tws_api_val_json(struct tw__json *j, const struct tq_val *v);
/* metrics_api.c: /api/metrics/query_range and /api/metrics/query; false when `path` is neither. */
bool tws_metrics_api_route(tws_server *s, struct evhttp_request *req, const char *path, const char *query);

/* http helpers (httputil.c) */
void tws_reply_text(struct evhttp_request *req, int code, const char *reason, const char *content_type,
                    const char *body, size_t len);
/* Case-insensitive media type of a Content-Type value, without parameters. */
bool tws_media_type_is(const char *content_type, const char *media);
/* Inflate a gzip body into `out` (capped by out->max: TW_ERANGE when over). */
int tws_gunzip(const uint8_t *in, size_t len, tw__buf *out);
/* A tenant id as Tempo allows it: 1..150 of [A-Za-z0-9!-_.*'()]. */
bool tws_tenant_valid(const char *t);

#endif
