/*
 * block.h — immutable trace blocks: the long-term home of every span.
 *
 * A block holds the spans of one tenant, sorted by trace id, in row groups
 * of whole traces. Inside a row group every field is a column: strings are
 * dictionary-encoded (one dictionary per row group), span attributes are
 * one column per (key, type) so a scan reads only the keys it asks for, and
 * each column is a zstd frame with its own CRC-32C. Behind the row groups
 * come an index (per row group: trace-id range, time range, place) and a
 * bloom filter over the block's trace ids. The layout is in docs/FORMAT.md.
 *
 * Objects of block <id> of tenant <t> in the object store:
 *   <t>/<id>/data       header, row groups, index, bloom filter, footer
 *   <t>/<id>/meta.json  written last: a block without it is unfinished
 *                       and is ignored (then deleted by the store)
 *
 * Invariants:
 *  - A block never changes once meta.json exists; compaction writes new
 *    blocks and deletes old ones.
 *  - Traces are added in strictly increasing trace-id order and a trace is
 *    never split across row groups of one block.
 *  - Reading never trusts the file: every length, index and count is
 *    checked, every column's CRC is verified before it is decompressed, and
 *    a damaged block yields TW_EPARSE with a message, never a crash.
 *  - Round trip: a span read back is tws_span_equal to the span written,
 *    its attributes in the order written (each span records its "shape":
 *    its scope and the ordered list of its attribute columns). Only past
 *    1000 (key, type) pairs in one row group do the extra attributes come
 *    after the others.
 */
#ifndef TWS_BLOCK_H
#define TWS_BLOCK_H

#include "objstore/objstore.h"
#include "otlp/model.h"

/* The format this build writes; it reads TWS_BLOCK_VERSION_MIN and up.
 * 2 added the attribute-key column (format.h COL_ATTR_KEYS). */
#define TWS_BLOCK_VERSION 2
#define TWS_BLOCK_VERSION_MIN 1
#define TWS_BLOCK_ID_LEN 36 /* canonical UUID text */

/* What meta.json says about a block. */
typedef enum tws_block_kind { TWS_BLOCK_SPANS = 0, TWS_BLOCK_LOGS = 1 } tws_block_kind;

typedef struct tws_block_meta {
    char id[TWS_BLOCK_ID_LEN + 1];
    char tenant[151];
    uint32_t version;
    uint32_t kind; /* tws_block_kind; log blocks: "spans" counts records, "traces" streams */
    uint32_t level; /* 0: written from the head; n: made by compaction of level < n */
    uint64_t start_ns, end_ns; /* earliest span start, latest span end */
    uint8_t min_trace[16], max_trace[16];
    uint64_t spans, traces, row_groups;
    uint64_t size; /* bytes of the data object */
    uint64_t index_off, index_len, bloom_off, bloom_len;
    uint64_t trace_pages; /* log blocks: pages of the trace index */
    int64_t created; /* unix seconds */
} tws_block_meta;

/* ---- writing ------------------------------------------------------------ */

typedef struct tws_block_writer tws_block_writer;

typedef struct tws_block_writer_options {
    uint32_t row_group_spans; /* start a new row group after this many spans; 0: 8192 */
    uint32_t row_group_bytes; /* ... or this much encoded data; 0: 4 MiB */
    int zstd_level;           /* 0: 3 */
    uint32_t level;           /* compaction level recorded in meta */
    bool logs;                /* a log block (tws_block_writer_add_stream), not a trace block */
} tws_block_writer_options;

int tws_block_writer_new(const char *tenant, const tws_block_writer_options *o, tws_block_writer **out);
void tws_block_writer_free(tws_block_writer *w);

/* Add every span of one trace (all with the same trace id, which must be
 * greater than the previous trace's). Spans are stored in the given order.
 * TW_EINVAL (order, mixed ids, a rejected span), TW_ENOMEM. */
int tws_block_writer_add_trace(tws_block_writer *w, const tws_span_ref *spans, size_t n);

/* Log blocks: add the records of one stream, named by its canonical label
 * key, which must be greater (bytewise) than the previous stream's — or
 * equal to it, to go on with that stream; records are stored in the given
 * order (the caller sorts them by time). Records with reject != 0 are
 * refused: TW_EINVAL, as for order; TW_ENOMEM. */
int tws_block_writer_add_stream(tws_block_writer *w, tw_str key, const tws_log_ref *recs, size_t n);

/* Spans (log blocks: records) and encoded bytes added so far. */
uint64_t tws_block_writer_spans(const tws_block_writer *w);
uint64_t tws_block_writer_bytes(const tws_block_writer *w);

/* Finish the block and put its data and meta.json objects into `store`
 * (data first). `meta` (may be NULL) receives the block's description.
 * TW_EINVAL when no span was added. After this the writer can only be freed. */
int tws_block_writer_finish(tws_block_writer *w, tws_objstore *store, tws_block_meta *meta, char err[256]);

/* ---- reading ------------------------------------------------------------ */

typedef struct tws_block tws_block;

/* Read meta.json, the index and the bloom filter of block `id` of `tenant`
 * (a trace block or a log block: meta.kind says which; the span readers
 * below refuse log blocks with TW_EINVAL).
 * TW_ENOTFOUND (no meta.json: unfinished or deleted), TW_EPARSE (damaged:
 * *err says what), TW_EIO. */
int tws_block_open(tws_objstore *store, const char *tenant, const char *id, tws_block **out, char err[256]);
void tws_block_close(tws_block *b);
const tws_block_meta *tws_block_get_meta(const tws_block *b);
/* Bytes of memory the open block holds (index and bloom filter). */
uint64_t tws_block_memory(const tws_block *b);

/* May the block hold `trace_id`? (id range and bloom filter) */
bool tws_block_may_contain(const tws_block *b, const uint8_t trace_id[16]);

/* Decode the spans of `trace_id` overlapping [start_ns, end_ns] (0, 0: any
 * time) into `out` (initialised by the caller; spans are appended to a fresh
 * batch, which the caller frees). TW_OK (out->n_spans may be 0 when the
 * bloom filter was wrong), TW_EPARSE (damaged block), TW_EIO, TW_ENOMEM. */
int tws_block_find_trace(tws_block *b, const uint8_t trace_id[16], uint64_t start_ns, uint64_t end_ns,
                         tws_batch *out, char err[256]);

/* Decode row group `i` (< meta.row_groups) whole into `out`: spans in trace
 * order, the spans of one trace contiguous. */
int tws_block_read_row_group(tws_block *b, uint64_t i, tws_batch *out, char err[256]);

/* What the index says of row group `i` (< meta.row_groups): its earliest
 * span start, latest span end, stored bytes and spans. */
typedef struct tws_rg_info {
    uint64_t start_ns, end_ns, bytes;
    uint32_t traces, spans;
} tws_rg_info;
void tws_block_row_group_info(const tws_block *b, uint64_t i, tws_rg_info *out);

/* ---- selective scans ----------------------------------------------------- */

/* A row group opened for a search: its bytes are fetched once, but a column
 * is checked and decompressed only when a filter or the decoder first needs
 * it, so ruling a row group out costs the dictionary and the columns the
 * query names. Used by one thread at a time. */
typedef struct tws_rg tws_rg;
int tws_rg_open(tws_block *b, uint64_t i, tws_rg **out, char err[256]);
void tws_rg_close(tws_rg *g);
uint32_t tws_rg_n_spans(const tws_rg *g);
uint32_t tws_rg_n_traces(const tws_rg *g);

/* What a filter looks at. Attribute fields take a key. */
typedef enum tws_field {
    TWS_F_SPAN_ATTR = 1,
    TWS_F_RESOURCE_ATTR,
    TWS_F_SCOPE_ATTR,
    TWS_F_EVENT_ATTR,
    TWS_F_LINK_ATTR,
    TWS_F_NAME,        /* string */
    TWS_F_STATUS_MSG,  /* string; spans without one have none */
    TWS_F_EVENT_NAME,  /* string */
    TWS_F_STATUS,      /* int: OTLP status code */
    TWS_F_KIND,        /* int: OTLP span kind */
    TWS_F_DURATION,    /* int: nanoseconds */
} tws_field;

/* The test a value must pass. For a string out of a dictionary it is called
 * once per distinct value of the row group (the answer is remembered);
 * other values are tested one by one. */
typedef bool (*tws_value_test)(void *ctx, const tws_value *v);

/* Set mark[s] = 1 (mark has tws_rg_n_spans bytes) for every span s with a
 * value of `f` (for attribute fields: of attribute `key`) that passes
 * `test`; other marks are left as they are. A span with an attribute of an
 * event or link passes when one of its events or links does. TW_OK,
 * TW_EPARSE (damaged: *err says what), TW_ENOMEM. */
int tws_rg_mark(tws_rg *g, tws_field f, const char *key, size_t key_len, tws_value_test test, void *ctx,
                uint8_t *mark, char err[256]);
/* The same, told that for a string value `test` passes exactly when the
 * value equals *eq (an `=` against a string literal): span attribute
 * strings are then compared without calling it. eq NULL: tws_rg_mark. */
int tws_rg_mark_eq(tws_rg *g, tws_field f, const char *key, size_t key_len, tws_value_test test, void *ctx,
                   const tw_str *eq, uint8_t *mark, char err[256]);

/* trace_mark[t] = 1 (tws_rg_n_traces bytes) for every trace t with a marked
 * span; other trace marks are left as they are. */
int tws_rg_mark_traces(tws_rg *g, const uint8_t *span_mark, uint8_t *trace_mark, char err[256]);

/* What of a span tws_rg_decode fills in beyond its fixed fields (ids,
 * times, name, kind, status, trace state, flags, dropped counts, scope and
 * resource): parts left out stay empty and their columns are never read. */
enum { TWS_PART_ATTRS = 1, TWS_PART_EVENTS = 2, TWS_PART_LINKS = 4, TWS_PART_ALL = 7 };

/* Decode the spans of every trace t with keep[t] != 0 (keep NULL: all)
 * into *out, which must be empty; the caller frees it. After this the row
 * group can only be closed. */
int tws_rg_decode(tws_rg *g, const uint8_t *keep, unsigned parts, tws_batch *out, char err[256]);

/* ---- log blocks ----------------------------------------------------------- */

/* The row groups of log block `b` holding records of `trace_id`, from the
 * block's trace index (bloom filter first), ascending, in *rgs (tw__malloc'd,
 * NULL when none; the caller frees). TW_OK, TW_EPARSE, TW_EIO, TW_ENOMEM. */
int tws_block_log_trace_rgs(tws_block *b, const uint8_t trace_id[16], uint32_t **rgs, size_t *n, char err[256]);

/* Called once per stream of a log row group, in order, with its key and
 * number of records there. For tws_block_read_logs: true decodes the
 * stream's records (those passing the rest of the filter). */
typedef bool (*tws_log_stream_fn)(void *user, tw_str key, uint32_t records);

/* The streams of log row group `i` (only its stream column is read). */
int tws_block_log_streams(tws_block *b, uint64_t i, tws_log_stream_fn fn, void *user, char err[256]);

/* Which records tws_block_read_logs decodes. */
typedef struct tws_log_filter {
    const uint8_t *trace_id;   /* NULL: any */
    const uint8_t *span_id;    /* NULL: any */
    uint64_t start_ns, end_ns; /* tws_log_time in [start, end]; end 0: no bound */
    tws_log_stream_fn stream;  /* NULL: every stream */
    void *user;
} tws_log_filter;

/* Decode the records of log row group `i` that pass `f` into `out` (empty;
 * the caller frees it): stream by stream, as stored. (*keys)[k] is record
 * k's stream key, pointing into `out` (*keys is tw__malloc'd, NULL when no
 * record passed; the caller frees it). TW_OK, TW_EPARSE, TW_EIO, TW_ENOMEM. */
int tws_block_read_logs(tws_block *b, uint64_t i, const tws_log_filter *f, tws_batch *out, tw_str **keys,
                        char err[256]);

/* Delete the block's objects (meta.json first, so a half-deleted block is
 * an unfinished one). */
int tws_block_delete(tws_objstore *store, const char *tenant, const char *id, char err[256]);

/* meta.json: write it / read it back (TW_EPARSE with *err naming the field). */
int tws_block_meta_json(const tws_block_meta *m, tw__buf *out);
int tws_block_meta_parse(const char *json, size_t len, tws_block_meta *m, char err[256]);

/* Object keys of a block. */
void tws_block_key(char *out, size_t cap, const char *tenant, const char *id, const char *object);

/* A fresh random block id (UUID version 4 text). */
void tws_block_new_id(char out[TWS_BLOCK_ID_LEN + 1]);
bool tws_block_id_valid(const char *id);

/* Fuzz targets only: read without verifying checksums, so that the decoder
 * behind them meets arbitrary bytes as well. */
extern bool tws__block_skip_crc;
/* Tests only: how many bytes of a row group a search reads first. */
extern size_t tws__block_rg_prefix;
/* Tests only: false opens blocks without a view of their data object
 * (tws_obj_map), so every read is a ranged get even on a local store. */
extern bool tws__block_map;

/* Bloom filter over trace ids, shared by the writer and the reader. */
typedef struct tws_bloom {
    uint64_t *words;
    uint32_t n_words; /* bits = 64 * n_words */
    uint32_t k;       /* probes */
} tws_bloom;
int tws_bloom_init(tws_bloom *b, uint64_t n_items); /* ~1% false positives */
void tws_bloom_add(tws_bloom *b, const uint8_t id[16]);
bool tws_bloom_test(const tws_bloom *b, const uint8_t id[16]);
void tws_bloom_free(tws_bloom *b);

#endif
