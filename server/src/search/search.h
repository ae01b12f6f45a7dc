/*
 * search.h — TraceQL search over every place spans live: the head, a head
 * being flushed, and the blocks, with results merged per trace id and the
 * most recent traces kept.
 *
 * A search evaluates its query on each piece of a trace a source holds
 * (the whole trace once compaction has merged it), and merges the pieces'
 * answers by trace id as Tempo's frontend does: earliest start, latest
 * end, the root's name and service from the piece that holds the root,
 * spansets side by side, service statistics summed.
 *
 * Invariants:
 *  - At most `limit` traces are returned, most recent start first; ties by
 *    trace id, so the same data always gives the same answer.
 *  - Memory is bounded by the limit, not by the data: candidates beyond
 *    2 x limit are pruned to the newest `limit`, and a piece that starts
 *    before the oldest kept trace is not added once the set is full; a row
 *    group that ended before that point is not read at all.
 *  - Everything a result points to lives in the result's own arena: the
 *    sources may change or go away once the search returns.
 *  - Blocks are scanned by every core (one thread each); the head is read
 *    on the caller's thread, which owns it.
 */
#ifndef TWS_SEARCH_H
#define TWS_SEARCH_H

#include "store/head.h"
#include "store/store.h"
#include "traceql/traceql.h"

typedef struct tws_search_req {
    const tq_query *q;
    const char *tenant;
    uint64_t start_ns, end_ns; /* traces overlapping this range; 0, 0: any time */
    uint32_t limit;            /* traces; 0: 20 */
    uint32_t spss;             /* spans per spanset; 0: 3 */
    uint32_t threads;          /* block scanners; 0: the number of cores */
} tws_search_req;

typedef struct tws_found_attr {
    const char *key;
    uint32_t key_len;
    tq_val val; /* strings copied into the result */
} tws_found_attr;

typedef struct tws_found_span {
    uint8_t span_id[8];
    const char *name;
    uint32_t name_len;
    uint64_t start_ns, dur_ns;
    tws_found_attr *attrs;
    uint32_t n_attrs;
} tws_found_span;

typedef struct tws_found_set {
    tws_found_span *spans; /* the first spss by start time */
    uint32_t n_spans;
    uint32_t matched; /* spans that matched */
    tws_found_attr *attrs; /* by() labels and aggregate values */
    uint32_t n_attrs;
} tws_found_set;

typedef struct tws_found_service {
    const char *name;
    uint32_t name_len;
    uint32_t spans, errors;
} tws_found_service;

typedef struct tws_found_trace {
    uint8_t id[16];
    bool has_root;
    const char *root_service, *root_name;
    uint32_t root_service_len, root_name_len;
    uint64_t start_ns, end_ns;
    tws_found_set *sets;
    uint32_t n_sets;
    tws_found_service *services;
    uint32_t n_services;
} tws_found_trace;

typedef struct tws_search_stats {
    uint64_t inspected_traces, inspected_spans, inspected_bytes;
    uint64_t total_blocks, total_block_bytes, row_groups_read, row_groups_skipped;
    uint64_t row_groups_pruned; /* read, but no trace could match: no span decoded */
} tws_search_stats;

typedef struct tws_search_result {
    tws_found_trace *traces; /* most recent first */
    uint32_t n;
    tws_search_stats stats;
    struct tq_arena *arena;
} tws_search_result;

/* Run a search over the head, the frozen head (may be NULL) and the store
 * (may be NULL). TW_OK with *out filled (free with tws_search_result_free);
 * TW_ENOMEM; TW_EPARSE / TW_EIO when a block could not be read (`err` says
 * which; the result still holds what the other sources gave). */
int tws_search_run(const tws_search_req *req, const tws_head *head, const tws_head *frozen, tws_store *store,
                   tws_search_result *out, char err[256]);
void tws_search_result_free(tws_search_result *r);

/* What of a span the query reads (TWS_PART_* of block.h): the parts a
 * block scan decodes; the others are never decompressed. */
unsigned tws_search_parts(const tq_query *q);

/* The general form behind search and tag discovery: call `fn` for every
 * trace piece whose query result is not empty (serialised: one call at a
 * time, from any scanning thread). `fn` returns 0 to go on, 1 to stop the
 * scan (enough found), or a TW_E* error. req->limit and req->spss are not
 * used. */
typedef int (*tws_visit_fn)(void *user, tq_eval *e, const tq_trace *t, const tq_spanset *sets, uint32_t n_sets);
int tws_search_visit(const tws_search_req *req, const tws_head *head, const tws_head *frozen, tws_store *store,
                     tws_visit_fn fn, void *user, tws_search_stats *stats, char err[256]);
/* The same with one visitor per scanning thread, called without a lock:
 * worker w (0 .. n_users-1; the heads are visited by worker 0, on the
 * caller's thread, before any block) calls fn(users[w], ...), so a visitor
 * keeps per-thread state and the caller merges it afterwards. At most
 * n_users threads scan (tws_search_threads(req) is how many it would use). */
int tws_search_visit_each(const tws_search_req *req, const tws_head *head, const tws_head *frozen, tws_store *store,
                          tws_visit_fn fn, void *const *users, uint32_t n_users, tws_search_stats *stats,
                          char err[256]);
/* How many threads a scan of req's blocks uses at most (req->threads, else
 * the cores, at most 16). */
uint32_t tws_search_threads(const tws_search_req *req);

#endif
