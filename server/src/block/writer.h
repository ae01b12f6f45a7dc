/*
 * writer.h — the block writer's state and encoding helpers, private to
 * block/: write.c (spans, sealing row groups, finishing a block) and
 * logs.c (log records) build row groups the same way.
 *
 * Invariants: every dictionary id, scope and resource index written refers
 * to an entry of the current row group; w->failed is sticky (the first
 * error, TW_ENOMEM or TW_EINVAL) and every helper is a no-op past it as far
 * as correctness goes (the block is never finished).
 */
#ifndef TWS_BLOCK_WRITER_H
#define TWS_BLOCK_WRITER_H

#include <zstd.h>

#include "block/block.h"
#include "block/format.h"

#define N_FIXED (TWS_COL_LAST_FIXED + 1)

/* ---- dictionary --------------------------------------------------------------- */

typedef struct dict_ent {
    uint32_t off, len; /* the string's bytes in data */
} dict_ent;

typedef struct dict {
    tw__buf lens, data;
    uint32_t n, cap; /* strings; table slots (power of two) */
    uint64_t *slots; /* the low 32 bits of the string's hash << 32 | id + 1; 0 empty */
    dict_ent *ent;   /* per id */
    uint32_t n_alloc;
} dict;

/* ---- the writer ---------------------------------------------------------------- */

typedef struct attr_col {
    uint32_t key;  /* dictionary id */
    uint8_t type;  /* tws_type */
    tw__buf vals;  /* one value per span whose shape lists the column */
    dict seen;     /* string columns: the values so far, numbered in order of appearance */
} attr_col;

typedef struct table { /* a deduplicated list of encoded entries (resources, scopes, shapes) */
    tw__buf out;       /* the entries concatenated; the count is prepended when sealed */
    uint32_t n;
    uint64_t *hash;    /* per entry */
    uint32_t *off, *len;
    uint32_t cap;
    uint32_t *slots, n_slots; /* hash index: entry + 1, 0 empty; n_slots a power of two */
} table;

typedef struct span_pos {
    uint64_t id; /* span id, big-endian: equal ids, equal bytes */
    uint32_t pos;
} span_pos;


typedef struct scope_memo {
    uint64_t batch; /* 0: empty */
    uint32_t scope, rg;
} scope_memo;

struct tws_block_writer {
    tws_block_writer_options o;
    char tenant[151];
    ZSTD_CCtx *zc;
    tw__buf data;     /* the data object being built */
    tw__buf index;    /* index entries */
    tw__buf scratch;  /* encoding of one resource / scope / compressed column */
    uint8_t *trace_ids;
    uint64_t n_traces, cap_traces, n_spans;
    uint64_t start_ns, end_ns;
    uint64_t n_row_groups;
    int failed;
    /* the current row group */
    dict dict;
    tw__buf col[N_FIXED];
    attr_col *attrs;
    uint32_t n_attrs, cap_attrs;
    uint32_t *attr_slots, attr_slots_cap; /* (key, type) -> attr column + 1 */
    uint32_t *key_col, key_col_cap; /* key's dictionary id -> the column it last went to + 1 (a hint) */
    table resources, scopes, shapes;
    uint32_t *span_cols; /* per attribute of the span being added: its column, or UINT32_MAX */
    uint32_t span_cols_cap;
    /* scope + resource by content (scope_key): entry i is scope scope_rg[i] of the row group */
    table scope_keys;
    tw__buf scope_key;
    uint32_t *scope_rg, scope_rg_cap;
    /* (batch id, scope index) -> scope of the row group, for batches with an
     * id (tws_batch.id): open addressing, emptied when a row group is sealed */
    scope_memo *memo;
    uint32_t n_memo, memo_cap;
    uint32_t rg_traces, rg_spans;
    uint64_t rg_base, rg_min_start, rg_max_end;
    uint8_t rg_first[16], rg_last[16];
    span_pos *pos; /* the trace's span ids sorted, for parent references */
    size_t pos_cap;
    /* log blocks (logs.c) */
    uint64_t n_streams;
    tw__buf last_key;      /* the previous stream's key: keys must increase */
    tw__buf tpairs;        /* TWS_TPAIR per (record with a trace id): trace id, row group */
    uint32_t *rg_stream_n; /* records of each stream of the current row group */
    uint32_t cap_rg_stream_n;
    bool rg_has_stream;    /* the stream being added is in the row group's table already */
    bool rg_any_trace;
    uint64_t rg_prev_time;
};


/* A dictionary id for `s` (added when new), written as a varint to b. */
void tws__w_put_id(tws_block_writer *w, tw__buf *b, tw_str s);
/* Generic value / generic attributes (format.h). */
void tws__w_put_generic(tws_block_writer *w, tw__buf *b, const tws_value *v, int depth);
void tws__w_put_attrs(tws_block_writer *w, tw__buf *b, const tws_attrs *a);
/* The row group's index of scope `scope_idx` of `b` (and its resource). */
uint32_t tws__w_scope_index(tws_block_writer *w, const tws_batch *b, uint32_t scope_idx);
/* Raw bytes the current row group holds so far. */
uint64_t tws__w_rg_bytes(const tws_block_writer *w);
/* Seal the current row group (if it has anything): columns compressed and
 * appended, its index entry written, the row group state reset. */
int tws__w_seal(tws_block_writer *w);
/* Log blocks: the trace pages and their index entries (called by finish
 * before the index is written); the trace id range and count for meta. */
int tws__w_log_trace_pages(tws_block_writer *w, tws_block_meta *m, tws_bloom *bloom);

#endif
