/*
 * store.h — the block store: every block of every tenant in one object
 * store, the background worker that writes them, compacts them and applies
 * retention, and the WAL checkpoint that says which log records are safely
 * in blocks.
 *
 * A store holds trace blocks or, opened with `logs`, log blocks (its own
 * object store, its own checkpoint for the logs WAL); the two never mix.
 *
 * Life of spans: the server freezes its head and hands it to
 * tws_store_flush; the worker writes one block per tenant (sorted by trace
 * id, exact duplicates dropped), adds them to the set, then records the
 * checkpoint — the LSN below which every WAL record is in a block — and
 * reports back. Only then may the server drop the frozen head and release
 * the WAL below that LSN, so at every moment each acknowledged span is in
 * the head, a frozen head, a block, or a WAL record a restart replays.
 *
 * Invariants:
 *  - Thread-safe: finds run on the caller's thread while the worker writes,
 *    compacts and deletes; a block being read is never deleted under the
 *    reader (blocks are reference counted; a compacted-away block's objects
 *    are deleted when its last reader lets go).
 *  - Compaction never loses a span: inputs are deleted only after the
 *    merged output is written and opened; a crash in between leaves both,
 *    and reads drop the duplicates.
 *  - Retention deletes a block once its newest span ended more than
 *    `retention_s` ago.
 *  - One process per data directory (the WAL's lock guarantees it), so at
 *    open a data object without meta.json is an interrupted write and is
 *    deleted — unless the object store is shared (poll_ms > 0), where it
 *    may be another server's block in the making and is left alone.
 *  - Shared object store (an S3 bucket several servers write): every
 *    poll_ms the worker lists it again, opens the blocks other servers
 *    added and drops (without deleting) the ones they removed; a block this
 *    store removed itself is never re-opened while its objects linger.
 *    Only one server should compact (the others set no_maintenance).
 */
#ifndef TWS_STORE_H
#define TWS_STORE_H

#include "block/block.h"
#include "store/head.h"
#include "store/loghead.h"

typedef struct tws_store tws_store;

typedef struct tws_store_options {
    uint64_t retention_s;         /* 0: 14 days */
    uint64_t maintenance_ms;      /* compaction and retention run this often; 0: 30 s */
    uint32_t compact_max_inputs;  /* blocks merged at once; 0: 8 */
    uint64_t compact_window_s;    /* only blocks starting in the same window merge; 0: 1 h */
    uint64_t block_max_spans;     /* a compacted block holds at most this many; 0: 5,000,000 (built in memory: ~30 bytes each) */
    int flush_zstd_level;         /* 0: 1 */
    int compact_zstd_level;       /* 0: 9 */
    uint32_t row_group_spans;     /* 0: the writer's default */
    bool logs;                    /* log blocks: block_max_spans counts records (0: 1,000,000) */
    uint64_t poll_ms;             /* >0: the object store is shared; list it again this often */
    bool no_maintenance;          /* another server compacts and applies retention */
} tws_store_options;

/* Open the store on `objects` (which it owns from now on) with its
 * checkpoint kept in the local directory `state_dir`; opens every finished
 * block (progress and problems through `log`, may be NULL), starts the
 * worker. *checkpoint_lsn: WAL records below it are already in blocks. */
int tws_store_open(tws_objstore *objects, const char *state_dir, const tws_store_options *o,
                   void (*log)(const char *msg), tws_store **out, uint64_t *checkpoint_lsn, char err[256]);
/* Stop the worker (an unfinished flush is abandoned: its records stay in
 * the WAL) and close everything. */
void tws_store_close(tws_store *st);

/* Called on the worker thread when a flush ends: TW_OK (blocks written and
 * the checkpoint moved to cut_lsn) or an error (nothing may be released). */
typedef void (*tws_store_flushed_fn)(void *user, int rc, const char *err);

/* Write `frozen` (not modified by anyone until `done` is called) into
 * blocks, then move the checkpoint to `cut_lsn`. TW_EAGAIN-like TW_EFULL
 * when a flush is already running. */
int tws_store_flush(tws_store *st, const tws_head *frozen, uint64_t cut_lsn, tws_store_flushed_fn done,
                    void *user);

/* The same, on the caller's thread, waiting (start-up replay). */
int tws_store_flush_now(tws_store *st, const tws_head *h, uint64_t cut_lsn, char err[256]);

/* The same for a log store: `frozen` is a frozen log head; each tenant's
 * streams go into blocks in key order, each stream's records by time. */
int tws_store_flush_logs(tws_store *st, const tws_loghead *frozen, uint64_t cut_lsn, tws_store_flushed_fn done,
                         void *user);
int tws_store_flush_logs_now(tws_store *st, const tws_loghead *h, uint64_t cut_lsn, char err[256]);

/* Run compaction and retention now (tests), waiting for them to finish. */
void tws_store_maintain(tws_store *st);

/* The spans of a trace in the blocks: *out receives `*n` batches (each to
 * be freed with tws_batch_free, the array with tw__free). TW_OK (maybe
 * n = 0), TW_EPARSE (a damaged block: *err says which; the other blocks'
 * spans are still returned), TW_EIO, TW_ENOMEM. */
int tws_store_find(tws_store *st, const char *tenant, const uint8_t trace_id[16], uint64_t start_ns,
                   uint64_t end_ns, tws_batch **out, size_t *n, char err[256]);

/* The log records of a trace (and span, unless span_id is NULL) in a log
 * store's blocks with a time in [start_ns, end_ns] (end 0: any): the trace
 * index names the row groups, only those are read. Appended to `out` (which
 * may hold earlier finds): out->batches[i] and out->keys[i] (each record's
 * stream key) for each row group that held some; a batch stays where it is
 * as more are added. Free with tws_log_found_free. TW_OK (the other blocks'
 * records are returned even when one is damaged: TW_EPARSE, *err says
 * which), TW_EIO, TW_ENOMEM (what was found is kept). */
typedef struct tws_log_found {
    tws_batch **batches;
    tw_str **keys;
    size_t n, cap;
} tws_log_found;
int tws_store_find_logs(tws_store *st, const char *tenant, const uint8_t trace_id[16], const uint8_t *span_id,
                        uint64_t start_ns, uint64_t end_ns, tws_log_found *out, char err[256]);
/* Add a decoded row group to `f` (taking *b and keys). TW_OK or TW_ENOMEM. */
int tws_log_found_add(tws_log_found *f, tws_batch *b, tw_str *keys);
void tws_log_found_free(tws_log_found *f);

/* A snapshot of the blocks of one tenant overlapping [start_ns, end_ns]
 * (0, 0: all), newest first (by end time): the blocks stay readable until
 * the snapshot is released, whatever compaction and retention do. */
typedef struct tws_store_snap {
    tws_block **blocks;
    size_t n;
    void **entries; /* internal */
} tws_store_snap;
int tws_store_snapshot(tws_store *st, const char *tenant, uint64_t start_ns, uint64_t end_ns, tws_store_snap *out);
void tws_store_snap_release(tws_store *st, tws_store_snap *s);
/* Count row groups decoded on behalf of a query (for the stats). */
void tws_store_note_reads(tws_store *st, uint64_t row_groups);

typedef struct tws_store_stats {
    uint64_t blocks, block_bytes, block_spans;
    uint64_t flushes, flush_failures, compactions, compaction_failures, retention_deletes;
    uint64_t blocks_read; /* row groups decoded for queries */
    uint64_t polls, poll_failures, polled_in, polled_out; /* shared stores: blocks other servers added/removed */
} tws_store_stats;
void tws_store_get_stats(tws_store *st, tws_store_stats *out);

/* Tests only: how many records a log compaction gathers before handing
 * them to the writer (8192). */
extern size_t tws__log_merge_chunk;

#endif
