/*
 * head.h — the newest spans, in memory, indexed by tenant and trace id.
 *
 * Every acknowledged batch lands here (after the WAL made it durable) and
 * stays until it has been written to a block, so a span can be read back
 * the moment its write was acknowledged. The head owns the batches it is
 * given and indexes each valid span under (tenant, trace id).
 *
 * Invariants:
 *  - Memory is bounded: tws_head_add refuses (TW_EFULL) once `max_bytes`
 *    of batches are held; the receiver then answers 429/RESOURCE_EXHAUSTED.
 *  - One tenant never sees another's spans: lookups are keyed by tenant.
 *  - A trace holds at most `max_trace_bytes` (estimated encoded size);
 *    spans beyond that are marked TWS_REJECT_LIMIT in the batch before it
 *    is stored, for the receiver's partial_success reply.
 *  - Not thread-safe: one thread (the server's event loop) owns the head.
 */
#ifndef TWS_HEAD_H
#define TWS_HEAD_H

#include "otlp/model.h"
#include "store/merge.h"

typedef struct tws_head tws_head;

typedef struct tws_head_options {
    uint64_t max_bytes;       /* 0: 1 GiB */
    uint64_t max_trace_bytes; /* 0: 5 MB, Tempo's default */
} tws_head_options;

int tws_head_new(const tws_head_options *o, tws_head **out);
void tws_head_free(tws_head *h);

/*
 * Before storing: mark spans of `b` that would take their trace over the
 * size limit (reject = TWS_REJECT_LIMIT, n_rejected updated). Returns how
 * many were marked. Call it before writing the batch to the WAL, so the
 * WAL, the head and the reply agree.
 */
uint32_t tws_head_apply_limits(tws_head *h, const char *tenant, tws_batch *b);

/* Would a batch of `bytes` fit? */
bool tws_head_has_room(const tws_head *h, uint64_t bytes);

/*
 * Take ownership of *b (left empty) and index its valid spans. `bytes` is
 * the memory the batch holds (for the bound). TW_EFULL when over max_bytes
 * (the batch is then still the caller's), TW_ENOMEM.
 */
int tws_head_add(tws_head *h, const char *tenant, tws_batch *b, uint64_t bytes);

/* The spans of one trace: selections into the head's batches, valid until
 * the next tws_head_add or tws_head_free. */
typedef tws_trace_result tws_head_result;

/* Spans of `trace_id` for `tenant` overlapping [start_ns, end_ns] (0, 0:
 * any time). Exact duplicates (tws_span_equal: every field the same) are
 * returned once. TW_ENOTFOUND when there are none. Read-only: a head no
 * longer added to may be searched from several threads. */
int tws_head_find(tws_head *h, const char *tenant, const uint8_t trace_id[16], uint64_t start_ns,
                  uint64_t end_ns, tws_head_result *out);
void tws_head_result_free(tws_head_result *r);

/* Tenants in the head (index 0 .. n-1), for flushing. */
size_t tws_head_n_tenants(const tws_head *h);
const char *tws_head_tenant(const tws_head *h, size_t i);
/* Every indexed span of tenant `i` (a tw__malloc'd array the caller frees),
 * the spans of each trace contiguous. Read-only. */
int tws_head_tenant_spans(const tws_head *h, size_t i, tws_span_ref **out, size_t *n);

typedef struct tws_head_stats {
    uint64_t bytes, batches, spans, traces, tenants;
} tws_head_stats;
void tws_head_get_stats(const tws_head *h, tws_head_stats *out);

/* A span's encoded size as the limits count it (protobuf bytes, approximately). */
uint64_t tws_span_size_estimate(const tws_span *s);

#endif
