/*
 * remote_write.h — pushing metrics to a Prometheus remote-write endpoint
 * (protocol 0.1.0: a snappy-compressed protobuf WriteRequest per POST).
 *
 * A sender thread posts queued requests in order. A 2xx is success; 429,
 * 5xx and network errors are retried with exponential backoff (100 ms up to
 * 30 s, honouring Retry-After); any other status drops the request (the
 * receiver refused it: resending cannot help) and is counted.
 *
 * Invariants: memory is bounded by `max_queue` requests — a push beyond it
 * drops that request (TW_EFULL, counted) rather than growing; the caller's
 * thread never blocks on the network; free() gives the sender at most
 * `drain_ms` to deliver what is queued, then drops the rest.
 */
#ifndef TWS_REMOTE_WRITE_H
#define TWS_REMOTE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct tws_remote_write tws_remote_write;

typedef struct tws_remote_write_options {
    char url[512];
    uint32_t max_queue; /* requests waiting; 0: 64 */
    uint32_t drain_ms;  /* at free; 0: 2000 */
} tws_remote_write_options;

int tws_remote_write_new(const tws_remote_write_options *o, tws_remote_write **out);
void tws_remote_write_free(tws_remote_write *rw);

/* Queue one uncompressed WriteRequest (copied and compressed here).
 * TW_OK, TW_EFULL (dropped), TW_ENOMEM. */
int tws_remote_write_push(tws_remote_write *rw, const uint8_t *write_request, size_t len);

typedef struct tws_remote_write_stats {
    uint64_t sent, retries, refused, dropped;
} tws_remote_write_stats;
void tws_remote_write_get_stats(tws_remote_write *rw, tws_remote_write_stats *out);

#endif
