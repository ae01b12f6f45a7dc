/*
 * rowgroup.h — an open row group, private to block/: shared by the reader
 * (read.c: whole traces back) and the column filters (filter.c: which spans
 * may match a predicate, without decoding spans).
 *
 * For a search only the header and directory are read at first; a column
 * is read, checked (CRC-32C) and decompressed when something first asks for
 * it, so a scan that names two columns pays for two. Decoding spans reads
 * the rest in one go. The tables every span refers to (dictionary,
 * resources, scopes, shapes) are loaded once, on first need.
 *
 * Invariants:
 *  - Nothing read is trusted: see read.c. A failing load leaves the column
 *    unloaded and says why in *err; asking again fails again.
 *  - Everything decoded spans point to (dictionary strings, resources,
 *    scopes, attribute values) lives in *out, the batch being filled; a
 *    filter reads the dictionary where it was decompressed, and decoding
 *    copies it into the batch first.
 */
#ifndef TWS_BLOCK_ROWGROUP_H
#define TWS_BLOCK_ROWGROUP_H

#include "block/block.h"
#include "block/format.h"

struct tws_block {
    tws_objstore *store;
    tws_block_meta meta;
    uint8_t *index; /* row_groups x TWS_IDX_ENTRY (log blocks: then trace_pages x TWS_TPAGE_ENTRY), CRC */
    tws_bloom bloom;
    char data_key[512];
    const uint8_t *map; /* the data object mapped (tws_obj_map), or NULL: read with get_range */
    size_t map_len;
};

typedef struct col {
    const uint8_t *ent;    /* directory entry; NULL: absent (reads as empty) */
    size_t off, slen;      /* where its stored bytes are in the row group */
    const uint8_t *stored; /* those bytes, once read */
    const uint8_t *p;      /* raw (decompressed) bytes once loaded */
    size_t len;
    bool loaded;
    uint8_t type;
    uint32_t key;
    tw_str *seen; /* string attribute columns: the values so far (into p) */
    uint32_t n_seen, cap_seen;
} col;

typedef struct shape {
    uint32_t scope, off, len; /* its columns: shape_cols[off .. off + len) */
} shape;

struct tws_rg {
    tws_batch *out; /* where decoded data goes: &own, or the caller's batch */
    tws_batch own;
    char *err;
    const tws_block *blk;
    uint8_t *buf;          /* owned: the row group's first `have` bytes, or all of it (NULL when mapped) */
    const uint8_t *head;   /* those bytes: buf, or the block's mapping */
    size_t have;
    const uint8_t *whole;  /* all of it, once read */
    uint64_t off;          /* the row group's place in the data object */
    size_t len;
    col fixed[TWS_COL_LAST_FIXED + 1];
    col *attrs;
    uint32_t n_attrs;
    shape *shapes;
    uint32_t n_shapes;
    uint32_t *shape_cols; /* every shape's column positions, concatenated */
    void **owned;         /* decompressed buffers */
    uint32_t n_owned;
    tw_str *dict;
    uint32_t n_dict;
    tw_str *keys; /* once loaded (tws__rg_keys): each attribute column's key */
    bool dict_in_batch; /* dict strings were copied into *out (decoding needs that) */
    int tables;         /* resources, scopes, shapes: 0 not loaded; 1 loaded; else the error it gave */
    int shapes_state;   /* the same for the shapes alone */
    bool decoded;
    uint32_t n_traces, n_spans;
    uint64_t base;
};

/* "block <t>/<id> is damaged: <what>" into err; TW_EPARSE. */
int tws__block_damaged(char err[256], const tws_block *b, const char *what);
/* The object store's message (it names the key) or "reading <key>: ..."; rc. */
int tws__block_io_error(char err[256], const char *key, int rc, const tws_objstore_err *oe);
/* Does the CRC-32C of p[0..n) differ from `want`? (never, when fuzzing) */
bool tws__crc_bad(const void *p, size_t n, uint32_t want);
/* Log blocks (logs.c): the trace pages' index entries are in bounds and in order. */
int tws__log_pages_check(const tws_block *b, const uint8_t *pages, char err[256]);

/* ZSTD_decompress with the calling thread's kept context. */
size_t tws__zstd_decompress(void *dst, size_t cap, const void *src, size_t len);
/* Fetch row group `i` of `b` (whole, or its header and directory first)
 * and read its directory; decoded data goes to `out`. Free with
 * tws__rg_free (also after a failure). */
int tws__rg_fetch(tws_block *b, uint64_t i, tws_batch *out, tws_rg *r, char err[256], bool whole);
void tws__rg_free(tws_rg *r);
/* Read the rest of the row group in one go. */
int tws__rg_fetch_whole(tws_rg *r);
/* Move the dictionary's strings into the output batch (decoded values
 * point there). */
int tws__rg_dict_into_batch(tws_rg *r);
int tws__rg_bad(tws_rg *r, const char *what);
/* Load column c (check and decompress) unless done already. */
int tws__rg_col(tws_rg *r, col *c);
/* Load the dictionary (its strings stay in the row group's memory until a
 * decode moves them into the batch). */
int tws__rg_dict(tws_rg *r);
/* Each attribute column's key into r->keys: from the key column (format
 * 2: the dictionary is not read) or else the dictionary. The strings point
 * where the column or dictionary was decompressed. */
int tws__rg_keys(tws_rg *r);
/* Load the shape table alone (no strings: the dictionary is not read). */
int tws__rg_shapes(tws_rg *r);
/* Load the dictionary, the resource, scope and shape tables. */
int tws__rg_tables(tws_rg *r);
/* A reader over a loaded column (an absent one reads as empty). */
tws_rd tws__col_rd(const col *c);
/* A dictionary id; *out (may be NULL) receives its string. */
int tws__rg_dict_id(tws_rg *r, tws_rd *d, tw_str *out);
/* A generic value of `type`; out NULL: skip it. */
int tws__rg_value(tws_rg *r, tws_rd *d, tws_value *out, uint8_t type, int depth);
/* Generic attributes (keep false: skip them). */
int tws__rg_attrs(tws_rg *r, tws_rd *d, tws_attrs *a, bool keep);
/* One value of string attribute column c: *s points into the column, *num
 * is its number in the column (values numbered in order of appearance). */
int tws__rg_col_str(tws_rg *r, col *c, tws_rd *d, tw_str *s, uint32_t *num);

#endif
