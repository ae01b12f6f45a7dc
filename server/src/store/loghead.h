/*
 * loghead.h — the newest log records, in memory, by tenant, by stream and
 * by trace id.
 *
 * Every acknowledged logs batch lands here once the logs WAL made it
 * durable, so a record can be read back the moment its write was
 * acknowledged. The head owns the batches it is given. Within a tenant,
 * records are grouped into streams — records with the same label set,
 * named by a canonical key the caller computes (`stream_key`, e.g.
 * `{level="error", service_name="checkout"}`) — and every record with a
 * trace id is indexed under it.
 *
 * Invariants:
 *  - Memory is bounded: tws_loghead_add refuses (TW_EFULL) once
 *    `max_bytes` of batches are held; the receiver then answers 429.
 *  - One tenant never sees another's records: every lookup names its tenant.
 *  - Records of a stream keep their arrival order; lookups return records
 *    ordered by time (ties: arrival order), so answers are deterministic.
 *  - Not thread-safe: the server's loop thread owns the head.
 */
#ifndef TWS_LOGHEAD_H
#define TWS_LOGHEAD_H

#include "common/buf.h"
#include "otlp/model.h"

typedef struct tws_loghead tws_loghead;

/* The stream key of record `i` of `b`, appended to `key` (which is
 * empty); 0 or a TW_E* code. Records whose key would be the same must
 * produce the same bytes. The head asks again only when the resource,
 * severity number or severity text differ from the previous record's, so
 * the key must depend on nothing else of the record. */
typedef int (*tws_loghead_stream_fn)(void *user, const tws_batch *b, uint32_t i, tw__buf *key);

typedef struct tws_loghead_options {
    uint64_t max_bytes; /* 0: 256 MiB */
    tws_loghead_stream_fn stream_key;
    void *user;
} tws_loghead_options;

int tws_loghead_new(const tws_loghead_options *o, tws_loghead **out);
void tws_loghead_free(tws_loghead *h);

/* Would a batch of `bytes` fit? */
bool tws_loghead_has_room(const tws_loghead *h, uint64_t bytes);

/* Take ownership of *b (left empty) and index its valid records. `bytes`
 * is the memory the batch holds (for the bound). TW_EFULL when over
 * max_bytes, TW_ENOMEM (in both cases the batch is still the caller's). */
int tws_loghead_add(tws_loghead *h, const char *tenant, tws_batch *b, uint64_t bytes);

/* Records are handed out as tws_log_ref (otlp/model.h): the batch is the
 * head's, `stream` a number for tws_loghead_stream_key(h, tenant, stream). */


/* The records of `tenant` carrying `trace_id` (and `span_id`, unless
 * NULL) whose time is in [start_ns, end_ns] (end 0: no bound), by time.
 * *out is a tw__malloc'd array (NULL when none), valid as long as the head
 * is not added to; the caller frees it. TW_OK or TW_ENOMEM. */
int tws_loghead_by_trace(const tws_loghead *h, const char *tenant, const uint8_t trace_id[16],
                         const uint8_t *span_id, uint64_t start_ns, uint64_t end_ns, tws_log_ref **out,
                         size_t *n);

/* Tenants with records: their number and the name of tenant `i`. */
size_t tws_loghead_n_tenants(const tws_loghead *h);
const char *tws_loghead_tenant(const tws_loghead *h, size_t i);

/* Streams of a tenant: their number (0 for an unknown tenant), the key of
 * stream `i`, and its records in [start_ns, end_ns] (end 0: no bound) by
 * time, appended to *out / *n (a tw__realloc'd array the caller frees).
 * A stream's time range lets a query skip it without reading records. */
size_t tws_loghead_n_streams(const tws_loghead *h, const char *tenant);
tw_str tws_loghead_stream_key(const tws_loghead *h, const char *tenant, uint32_t stream);
void tws_loghead_stream_range(const tws_loghead *h, const char *tenant, uint32_t stream, uint64_t *min_ns,
                              uint64_t *max_ns);
int tws_loghead_stream_records(const tws_loghead *h, const char *tenant, uint32_t stream, uint64_t start_ns,
                               uint64_t end_ns, tws_log_ref **out, size_t *n);

/* Sort records by time, ties by arrival (batch, index). */
void tws_log_refs_sort(tws_log_ref *r, size_t n);

typedef struct tws_loghead_stats {
    uint64_t bytes, batches, records, streams, tenants;
} tws_loghead_stats;
void tws_loghead_get_stats(const tws_loghead *h, tws_loghead_stats *out);

/* Memory a decoded logs batch is counted as holding (for the bound). */
uint64_t tws_logs_batch_bytes(const tws_batch *b, size_t wire_len);

#endif
