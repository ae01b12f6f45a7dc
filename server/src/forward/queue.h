/*
 * queue.h — forwarding to another OTLP endpoint, over OTLP/HTTP (protobuf)
 * or OTLP/gRPC, through a queue on disk: the otlphttp and otlp exporters,
 * and each endpoint of the loadbalancing exporter.
 *
 * An enqueued request is appended to a write-ahead log of its own
 * (wal/wal.h) in the exporter's directory; once that is durable a sender
 * thread sends it, in order, with the tenant in X-Scope-OrgID (a header,
 * or gRPC metadata): over HTTP a POST to <endpoint>/v1/traces or /v1/logs,
 * over gRPC the unary call TraceService/Export or LogsService/Export on
 * HTTP/2 (cleartext with prior knowledge for http://, ALPN for https://;
 * forward/grpc_reply.h reads its status). Delivered — a 2xx, or grpc-status
 * OK (a partial success too: the receiver decided) — moves the delivered
 * cursor, kept in <dir>/delivered, past it and releases old queue segments.
 * HTTP 429, 5xx, the retryable gRPC codes and network errors are retried
 * with exponential backoff (initial_interval doubling up to max_interval,
 * honouring Retry-After and gRPC RetryInfo), forever unless
 * max_elapsed_time is set; any other answer drops the request (the
 * receiver refused it: resending cannot help) and is counted. After a
 * restart the queue is replayed from the cursor.
 *
 * Delivery is at least once: a request whose 2xx was not yet recorded when
 * the process died is sent again (a tracewire receiver returns each exact
 * duplicate span once).
 *
 * Invariants: at most `queue_bytes` wait (durable or not): beyond that an
 * enqueue fails with TW_EFULL; the caller's thread never blocks on the
 * network; tws_fwd_oldest_pending() is the lowest source LSN of a request
 * not yet durable in the queue, so the caller keeps its own WAL until then.
 */
#ifndef TWS_FORWARD_QUEUE_H
#define TWS_FORWARD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tws_fwd_options {
    char endpoint[512];          /* http(s)://host:port (HTTP: a path prefix is kept) */
    char dir[600];               /* the queue's directory */
    uint64_t queue_bytes;        /* 0: 256 MiB */
    uint64_t initial_interval_ms; /* 0: 5000 */
    uint64_t max_interval_ms;    /* 0: 30000 */
    uint64_t max_elapsed_ms;     /* give a request up after retrying this long; 0: never */
    uint32_t timeout_ms;         /* per POST; 0: 5000 */
    bool grpc;                   /* OTLP/gRPC instead of OTLP/HTTP */
    bool gzip;                   /* Content-Encoding: gzip (gRPC: grpc-encoding: gzip) */
    bool no_sync;                /* tests and benchmarks only */
    const char *const *headers;  /* "Name: value" lines sent with every request; NULL-terminated, may be NULL */
} tws_fwd_options;

typedef struct tws_fwd tws_fwd;

/* Open the queue (replaying what was not delivered) and start the sender.
 * TW_OK, or an error with a message in err. */
int tws_fwd_open(const tws_fwd_options *o, tws_fwd **out, char err[256]);
/* Stop the sender (what is queued stays on disk for the next start). */
void tws_fwd_close(tws_fwd *f);

enum { TWS_FWD_TRACES = 1, TWS_FWD_LOGS = 2 };

/* Queue one OTLP request (ExportTraceServiceRequest or
 * ExportLogsServiceRequest, protobuf; copied) of `signal` for `tenant`,
 * taken from the caller's WAL record at `source_lsn`. TW_OK, TW_EFULL (the
 * queue is full: nothing queued), TW_EIO (the queue's log failed), TW_ENOMEM. */
int tws_fwd_enqueue(tws_fwd *f, int signal, const char *tenant, const uint8_t *pb, size_t len, uint64_t source_lsn);
/* The lowest source LSN of a `signal` request not yet durable here (each
 * signal has its own WAL, so its own LSNs), or UINT64_MAX. */
uint64_t tws_fwd_oldest_pending(tws_fwd *f, int signal);

typedef struct tws_fwd_stats {
    uint64_t enqueued, sent, retries, refused, given_up, failed; /* requests */
    uint64_t queued, queued_bytes;                            /* waiting now */
} tws_fwd_stats;
void tws_fwd_get_stats(tws_fwd *f, tws_fwd_stats *out);

#endif
