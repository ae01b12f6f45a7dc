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

#include "serve/config.h"
#include "serve/metrics.h"
#include "store/head.h"
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
    struct event *sig_term, *sig_int, *drain_timer;
    tws_wal *wal;
    tws_head *head;
    tws_metrics metrics;
    unsigned inflight; /* requests waiting for the WAL */
    int stopping;
} tws_server;

/* ingest.c */
void tws_ingest_register(tws_server *s);
/* Apply one replayed WAL record to the head. */
int tws_ingest_replay(tws_server *s, const uint8_t *payload, size_t len, char *err, size_t err_len);

/* query.c */
void tws_query_register(tws_server *s);

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
