/*
 * servicegraph.h — service-graph metrics, like Tempo's metrics-generator:
 * which service calls which, how often, how often it fails, how long it
 * takes as seen by each side.
 *
 * A client or producer span waits under (trace id, its span id); a server
 * or consumer span under (trace id, its parent span id). When both sides of
 * one call have arrived (in either order, within `wait_ms`) the edge
 * client -> server counts one request (failed when either side has status
 * Error), the server side's duration and the client side's duration.
 * Producer/consumer pairs get connection_type="messaging_system".
 * A root server span (no parent) is an edge from the virtual client
 * "user". A client span still alone after `wait_ms` becomes an edge to a
 * virtual node named by its `peer.service`, else `db.system`
 * (connection_type="database"), else `server.address`; without any it is
 * counted as unpaired.
 *
 * Invariants: at most `max_items` spans wait (more are dropped and
 * counted) and at most `max_edges` edges exist; not thread-safe (the loop
 * thread feeds, expires and renders it).
 */
#ifndef TWS_SERVICEGRAPH_H
#define TWS_SERVICEGRAPH_H

#include "common/buf.h"
#include "otlp/model.h"

typedef struct tws_servicegraph tws_servicegraph;

typedef struct tws_servicegraph_options {
    uint64_t wait_ms;   /* 0: 10 s, Tempo's default */
    uint32_t max_items; /* spans waiting for their other side; 0: 10000 */
    uint32_t max_edges; /* 0: 1000 */
} tws_servicegraph_options;

int tws_servicegraph_new(const tws_servicegraph_options *o, tws_servicegraph **out);
void tws_servicegraph_free(tws_servicegraph *sg);

/* Pair the valid spans of `b`; `now_ms` is a monotonic clock. */
void tws_servicegraph_add(tws_servicegraph *sg, const tws_batch *b, uint64_t now_ms);
/* Spans that waited longer than wait_ms: virtual nodes, or unpaired. */
void tws_servicegraph_expire(tws_servicegraph *sg, uint64_t now_ms);

/* Prometheus text (counter families with _total: metrics.c rewrites them
 * for OpenMetrics). Returns out->failed. */
int tws_servicegraph_render(const tws_servicegraph *sg, tw__buf *out);

/* Every edge's series as remote-write TimeSeries (appended to a
 * WriteRequest being built), samples at `now_ms`. Returns out->failed. */
int tws_servicegraph_encode_remote_write(const tws_servicegraph *sg, int64_t now_ms, tw__buf *out);

typedef struct tws_servicegraph_stats {
    uint64_t waiting, edges, unpaired, dropped;
} tws_servicegraph_stats;
void tws_servicegraph_get_stats(const tws_servicegraph *sg, tws_servicegraph_stats *out);

#endif
