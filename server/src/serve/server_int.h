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
#include "logs/labels.h"
#include "pipeline/pconfig.h"
#include "serve/config.h"
#include "serve/metrics.h"
#include "store/head.h"
#include "store/loghead.h"
#include "store/store.h"
#include "red/remote_write.h"
#include "red/servicegraph.h"
#include "red/spanmetrics.h"
#include "wal/wal.h"

/* WAL record types: traces in <data>/wal, logs in <data>/wal-logs. */
enum { TWS_WAL_TRACES = 1, TWS_WAL_LOGS = 2 };
/* Version byte at the start of a TWS_WAL_TRACES payload:
 *   0 1 version (1)   1 1 tenant length T   2 T tenant   2+T .. OTLP ExportTraceServiceRequest (protobuf) */
enum { TWS_WAL_TRACES_V1 = 1 };
/* A TWS_WAL_LOGS payload: the request as it arrived (uncompressed), so
 * that replay decodes it exactly as the receiver did:
 *   0 1 version (1)   1 1 tenant length T   2 T tenant   2+T 1 format (the TWS_PROTO_* it came in:
 *   0 OTLP protobuf, 1 OTLP JSON, 3 Loki JSON, 4 Loki protobuf)   3+T 8 the time it arrived (unix
 *   ns, little-endian: the time of records that carry none)   11+T .. the request */
enum { TWS_WAL_LOGS_V1 = 1 };

typedef struct tws_server {
    tws_config cfg;
    struct event_base *base;
    struct tws_h1_server *otlp_http; /* OTLP/HTTP (http1.c) */
    struct evhttp *api_http;
    struct evconnlistener *otlp_grpc;
    struct tws_grpc_conn *grpc_conns; /* open gRPC connections (grpc.c) */
    struct event *sig_term, *sig_int, *drain_timer;
    tws_wal *wal;
    tws_head *head;
    tws_wal *log_wal;           /* logs (wal-logs/): released below the log store's checkpoint */
    tws_loghead *logs;          /* acknowledged log records not yet in log blocks */
    /* logs.index_labels as logs/labels.h takes them (cfg's names, NULL-terminated) */
    const char *log_index[TWS_MAX_INDEX_LABELS + 1];
    tws_label_config labels;
    uint64_t log_head_reserved; /* log head bytes promised to requests waiting for the WAL */
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
    struct event *flush_done_ev, *flush_timer;
    struct ingest_req *wal_first, *wal_last; /* requests waiting for the WAL, in LSN order */
    /* log blocks (flush.c): the same life as spans, on the logs WAL */
    tws_store *log_store;
    tws_loghead *log_frozen;    /* the log head being written to blocks, or NULL */
    uint64_t log_frozen_bytes, log_frozen_lsn, log_since_ms, log_checkpoint_lsn, log_pin_lsn;
    int log_flush_rc;
    struct event *log_flush_done_ev;
    struct ingest_req *log_wal_first, *log_wal_last; /* logs requests waiting for the logs WAL */
    tws_spanmetrics *spanmetrics; /* RED metrics of every acknowledged span (red/) */
    tws_remote_write *remote_write; /* when spanmetrics.remote_write_url is set */
    struct event *remote_write_timer;
    tws_servicegraph *servicegraph; /* service-graph metrics (red/) */
    struct event *servicegraph_timer;
    /* Collector-shaped pipelines (ingest_pipeline.c), when configured */
    struct tws_pipeline_rt *pipes;
    struct event *pipeline_timer;
    struct tws_forwarders *fwd;    /* the forwarding exporters' queues, one per tws_pipelines.exps */
    struct tws_wal_reader *wal_reader; /* reads back what tail sampling holds by LSN (traces WAL) */
    tw__buf reload_buf;                /* its record buffer */
    bool replaying;                /* the WALs are being replayed: nothing is counted twice */
    bool warned_missing_pipeline;
} tws_server;

/* ingest_pipeline.c: one batch per pipeline that receives a request. */
#define TWS_MAX_SECTIONS TWS_PCONFIG_MAX_ENTRY
typedef struct tws_sections {
    uint32_t n;
    uint32_t pipe[TWS_MAX_SECTIONS];
    tws_batch batch[TWS_MAX_SECTIONS];
} tws_sections;
int tws_ingest_pipelines_start(tws_server *s);
/* The forwarding exporters: the lowest source LSN not yet durable in a
 * queue (UINT64_MAX: none), whether a queue is nearly full (then the
 * receivers answer 429), and their counters for /metrics. */
uint64_t tws_forward_oldest_lsn(const tws_server *s, int signal); /* TWS_FWD_TRACES / TWS_FWD_LOGS */
bool tws_forward_full(const tws_server *s);
void tws_forward_render(const tws_server *s, tw__buf *out);
/* server.c: mkdir -p. 0 or -1 (errno). */
int tws_mkdir_p(const char *path);
void tws_ingest_pipelines_stop(tws_server *s);
/* Give *batch (taken) to each pipeline receiving `signal` over `proto`:
 * prefixes applied, the WAL record (version 2) appended to `out`.
 * TW_ENOTFOUND when no pipeline receives it, TW_ERANGE, TW_ENOMEM. */
int tws_ingest_sections(tws_server *s, int signal, int proto, const char *tenant, tws_batch *batch, tw__buf *out,
                        tws_sections **sections);
/* Durable: continue each section's pipeline (the batches are taken). */
void tws_ingest_sections_run(tws_server *s, tws_sections *sc, const char *tenant, uint64_t bytes, uint64_t lsn);
void tws_sections_free(tws_sections *sc);
bool tws_ingest_is_v2(const uint8_t *p, size_t len);
int tws_ingest_replay_v2(tws_server *s, int signal, const uint8_t *p, size_t len, uint64_t lsn, char *err,
                         size_t err_len);

/* ingest.c: the OTLP/HTTP port, listening (NULL, errno set, on failure). */
struct tws_h1_server *tws_ingest_http_listen(tws_server *s, const char *host, uint16_t port);

/* How one ingest request is answered. The receivers (OTLP/HTTP here, OTLP/gRPC
 * in grpc.c) share the pipeline and differ only in these two callbacks, each
 * called exactly once per submitted request, on the loop thread.
 *   ok:      stored (durable); `rejected` spans were refused, `msg` says why
 *            ("" when none).
 *   refused: nothing was stored; `http_code`/`reason` for HTTP, `rpc_code` a
 *            google.rpc.Code; `retry` when the client should retry later. */
typedef struct tws_ingest_sink {
    void (*ok)(void *ctx, int signal, int proto, uint32_t rejected, const char *msg);
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

/* Count a refusal (signal = TWS_SIG_*, why = TWS_REFUSE_*, `items` spans or
 * log records refused) and answer it. */
void tws_ingest_refuse(tws_server *s, const tws_ingest_sink *sink, void *ctx, int signal, int proto, int why,
                       uint64_t items, int http_code, const char *reason, int rpc_code, const char *msg);
/* The shared pipeline: decode `data` (uncompressed; not retained) as a
 * `signal` request in `proto`'s format (traces: an ExportTraceServiceRequest,
 * protobuf unless TWS_PROTO_HTTP_JSON; logs: an ExportLogsServiceRequest
 * likewise, or a Loki PushRequest for the TWS_PROTO_LOKI_*), apply the
 * limits, check for room, append to the signal's WAL and answer through
 * `sink` once it is durable (or at once on a refusal). `tenant` is valid
 * (tws_tenant_valid). */
void tws_ingest_submit(tws_server *s, int signal, int proto, const char *tenant, const uint8_t *data, size_t len,
                       const tws_ingest_sink *sink, void *ctx);
/* Apply one replayed WAL record (at `lsn`) to the head. */
int tws_ingest_replay(tws_server *s, const uint8_t *payload, size_t len, uint64_t lsn, char *err, size_t err_len);
/* Apply one replayed logs WAL record to the log head. */
int tws_ingest_replay_logs(tws_server *s, const uint8_t *payload, size_t len, uint64_t lsn, char *err, size_t err_len);
/* logs_api.c: the stream key of a log record (its labels, canonical), for
 * the log head; the Loki query API, trace-to-logs; false when `path` is none of them. */
int tws_logs_stream_key(void *user, const tws_batch *b, uint32_t i, tw__buf *key);
bool tws_logs_api_route(tws_server *s, struct evhttp_request *req, const char *path, const char *query);
/* POST /loki/api/v1/push, on the query port (query.c routes it here). */
void tws_loki_push_handle(tws_server *s, struct evhttp_request *req);

/* grpc.c: the OTLP/gRPC receiver (h2c) on cfg.otlp_grpc_listen. */
int tws_grpc_listen(tws_server *s);
/* Stop accepting connections (SIGTERM); open ones stay until they finish. */
void tws_grpc_stop_accepting(tws_server *s);
/* Close every connection and the listener (at exit). */
void tws_grpc_free(tws_server *s);

/* The LSN of the oldest request still waiting for the WAL (ingest.c), or UINT64_MAX. */
uint64_t tws_ingest_oldest_lsn(const tws_server *s);
/* The same for logs requests and the logs WAL. */
uint64_t tws_ingest_oldest_log_lsn(const tws_server *s);

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
/* Room in the head for a batch tail sampling decided (tws_ts_room_fn). */
bool tws_flush_room_for_decided(const tws_server *s, uint64_t bytes);
/* A new, empty log head with the server's settings. */
int tws_log_head_new(tws_server *s, tws_loghead **out);
/* The same four for the log head, its logs WAL and the log store. */
void tws_log_flush_maybe(tws_server *s);
void tws_log_flush_note_add(tws_server *s);
int tws_log_flush_now(tws_server *s, uint64_t cut);
bool tws_log_flush_has_room(const tws_server *s, uint64_t bytes);

/* query.c */
void tws_query_register(tws_server *s);
/* search_api.c: /api/search, tags and tag values; false when `path` is none of them. */
bool tws_search_api_route(tws_server *s, struct evhttp_request *req, const char *path, const char *query);
/* A TraceQL value as an OTLP AnyValue in Tempo's JSON: intValue (a string),
 * doubleValue, boolValue, else stringValue with the value's text. */
struct tw__json;
struct tq_val;
void tws_api_val_json(struct tw__json *j, const struct tq_val *v);
/* A timestamp as Tempo's and Loki's parseTimestamp read it: Unix seconds
 * (10 digits or fewer), nanoseconds (more), fractional seconds (kept to the
 * millisecond), or RFC 3339. 0 or -1 (metrics_api.c). */
int tws_api_parse_time(const char *v, uint64_t *ns);
/* The time span of a trace (of its span `span_id`, unless NULL) across the
 * head, a head being flushed and the blocks: TW_OK, TW_ENOTFOUND, or an
 * error (query.c). */
int tws_trace_time_range(tws_server *s, const char *tenant, const uint8_t id[16], const uint8_t *span_id,
                         uint64_t *start_ns, uint64_t *end_ns);
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
