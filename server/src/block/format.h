/*
 * format.h — the byte layout of a block's data object, shared by the
 * writer (write.c) and the reader (read.c). docs/FORMAT.md is the prose
 * version; the two are changed together.
 *
 *   header   16 B  magic "TWBLK\0\0" + version byte, kind byte (0 spans, 1 logs),
 *                  7 zero bytes
 *   row groups     one after the other (below)
 *   trace pages    log blocks only (below)
 *   index          per row group an entry of TWS_IDX_ENTRY bytes (log blocks:
 *                  then the trace pages' entries), then CRC-32C
 *   bloom          u32 k, u32 n_words, n_words x u64, then CRC-32C
 *   footer   48 B  u64 index_off, u64 index_len, u64 bloom_off, u64 bloom_len,
 *                  u64 row_groups, u32 CRC-32C of the 40 bytes before, "TWBF"
 *
 * Row group: a 24-byte header (magic "TWRG", u32 n_columns, u32 n_traces,
 * u32 n_spans, u64 base time), n_columns directory entries of 20 bytes
 * (u16 column id, u8 codec, u8 value type, u32 key, u32 raw length,
 * u32 stored length, u32 CRC-32C of the stored bytes), a CRC-32C of the
 * header and directory, then the columns' stored bytes in directory order. Everything is little-endian; "varint"
 * is protobuf's base-128 varint, "zigzag" protobuf's signed mapping.
 */
#ifndef TWS_BLOCK_FORMAT_H
#define TWS_BLOCK_FORMAT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/pb.h"

#define TWS_BLK_MAGIC "TWBLK\0\0"
#define TWS_BLK_HEADER 16
#define TWS_BLK_FOOTER 48
#define TWS_RG_MAGIC "TWRG"
#define TWS_RG_HEADER 24
#define TWS_RG_DIRENT 20
/* index entry: min trace id 16, max trace id 16, u64 offset, u64 length,
 * u32 traces, u32 spans, u64 min start, u64 max end */
#define TWS_IDX_ENTRY 72
/* Sanity bounds a reader enforces before allocating. */
#define TWS_RG_MAX_COLUMNS 65536
#define TWS_COL_MAX_RAW (512u << 20)

enum { TWS_CODEC_RAW = 0, TWS_CODEC_ZSTD = 1 };

/* Column ids. Each is one stream; per-trace and per-span columns hold one
 * entry per trace / span in row-group order. */
enum {
    COL_DICT_LENS = 1,  /* varint length per dictionary string */
    COL_DICT_DATA,      /* the strings, concatenated */
    COL_RESOURCES,      /* varint n; per resource: schema_url id, attrs (generic); log blocks: then RESF_* */
    COL_SCOPES,         /* varint n; per scope: resource index, name id, version id, schema_url id, attrs */
    COL_TRACE_ID,       /* 16 B per trace */
    COL_TRACE_SPANS,    /* varint per trace: its number of spans */
    COL_TRACE_START,    /* varint per trace: earliest span start - base time */
    COL_SPAN_ID,        /* 8 B per span */
    COL_PARENT,         /* varint per span: 0 no parent, 1 parent id in COL_PARENT_ID, 2+k the trace's k-th span */
    COL_PARENT_ID,      /* 8 B per span whose COL_PARENT is 1 */
    COL_START,          /* varint per span: start - its trace's start */
    COL_DURATION,       /* zigzag per span: end - start */
    COL_NAME,           /* varint per span: dictionary id */
    COL_BITS,           /* 1 B per span: kind (3 bits), status code << 3, SPB_* flags */
    COL_STATUS_MSG,     /* varint id per span with SPB_STATUS_MSG */
    COL_TRACE_STATE,    /* varint id per span with SPB_TRACE_STATE */
    COL_FLAGS,          /* varint per span: OTLP Span.flags */
    COL_SHAPE,          /* varint per span: index into COL_SHAPES */
    COL_DROPPED,        /* per span with SPB_DROPPED: varint dropped attributes, events, links */
    COL_EVENTS,         /* per span: varint n; per event: zigzag time - span start, name id, attrs (generic) */
    COL_LINKS,          /* per span: varint n; per link: 16 B trace id, 8 B span id, trace_state id + 1
                           (0: none), varint flags, attrs (generic) */
    COL_ATTR_MORE,      /* per span: span attributes that got no column (over the row group's column
                           limit), as generic kvs: varint n, n x (key id, generic value) */
    COL_SHAPES,         /* varint n; per shape: varint scope index, varint k, k varint attribute-column
                           positions (the i-th COL_ATTR in the directory is position i) */
    /* Log blocks (meta kind "logs"): records grouped by stream (streams in
     * increasing key order through the block; a stream may go on in the next
     * row group), by time within a stream. The row group header's trace
     * count is its number of streams, its span count its number of records. */
    COL_LOG_STREAMS,    /* per stream: varint key length, the key (canonical labels), varint records */
    COL_LOG_TIME,       /* zigzag per record: time_unix_nano - the previous record's (the first: - base) */
    COL_LOG_OBSERVED,   /* zigzag per record: observed_time_unix_nano - time_unix_nano */
    COL_LOG_BITS,       /* 1 B per record: LGB_* flags */
    COL_LOG_TRACE_ID,   /* 16 B per record with LGB_TRACE */
    COL_LOG_SPAN_ID,    /* 8 B per record with LGB_SPAN */
    COL_LOG_SEVERITY,   /* 1 B per record: SeverityNumber */
    COL_LOG_SEV_TEXT,   /* varint id per record with LGB_SEV_TEXT */
    COL_LOG_EVENT,      /* varint id per record with LGB_EVENT */
    COL_LOG_FLAGS,      /* varint per record with LGB_FLAGS */
    COL_LOG_SCOPE,      /* varint per record: scope index */
    COL_LOG_BODY,       /* per record: varint length, then a generic value of that many bytes */
    COL_LOG_ATTRS,      /* per record: varint length, then generic attrs of that many bytes */
    COL_ATTR_KEYS,      /* format 2: per COL_ATTR column, in directory order, varint length + its key
                           (the same string as the dictionary entry it names), so a filter on a span
                           attribute finds its columns without the dictionary; written first */
    COL_ATTR = 64,      /* one per (key, type) of span attributes: one value of the type (below) for
                           each span whose shape lists the column, in span order */
};

#define TWS_COL_LAST_FIXED COL_ATTR_KEYS

/* Log blocks: a resource table entry ends with a varint of RESF_* flags. */
enum { RESF_LABELS_VERBATIM = 1 }; /* a Loki push's labels: metadata is its attributes as they came */

/* COL_LOG_BITS flags */
enum { LGB_TRACE = 1, LGB_SPAN = 2, LGB_SEV_TEXT = 4, LGB_EVENT = 8, LGB_FLAGS = 16 };

/* Log blocks: the trace index, in pages between the row groups and the
 * index. A page is a zstd frame of entries sorted by (trace id, row group):
 * 16 B trace id + u32 row group, one per (trace, row group) holding the
 * trace's records. The index section holds, after the row groups' entries,
 * one TWS_TPAGE_ENTRY per page: first trace id 16, u64 offset, u32 stored
 * length, u32 entries, u32 CRC-32C of the stored bytes. */
#define TWS_TPAGE_ENTRY 36
#define TWS_TPAIR 20
#define TWS_TPAGE_PAIRS 4096

/* COL_BITS flags */
enum { SPB_STATUS_MSG = 1u << 5, SPB_TRACE_STATE = 1u << 6, SPB_DROPPED = 1u << 7 };

/*
 * Values. In an attribute column (COL_ATTR, directory `type`):
 *   TWS_STRING varint 0 + varint length + bytes for a value new to the
 *   column, else varint 1 + its number (values numbered from 0 in order of
 *   appearance in the column); TWS_INT zigzag; TWS_DOUBLE 8 B;
 *   TWS_BOOL 1 B; TWS_BYTES/ARRAY/KVLIST/EMPTY a generic value.
 * Generic attrs: varint n, varint dropped, then n x (varint key id, generic value).
 * Generic value: 1 B type, then STRING id | BOOL 1 B | INT zigzag | DOUBLE 8 B |
 *   BYTES varint length + bytes | ARRAY varint n + n values |
 *   KVLIST varint n + n x (key id, value) | EMPTY nothing.
 */

static inline uint64_t tws_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t tws_unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

static inline void tws_put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void tws_put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t tws_get_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t tws_get_le64(const uint8_t *p) { return tws_get_le32(p) | (uint64_t)tws_get_le32(p + 4) << 32; }

/* A bounds-checked reader over one column; `bad` is sticky. */
typedef struct tws_rd {
    const uint8_t *p, *end;
    bool bad;
} tws_rd;

static inline uint64_t tws_rd_varint(tws_rd *r) {
    if (r->p < r->end && *r->p < 0x80) return *r->p++;
    uint64_t v = 0;
    if (tw__pb_read_varint(&r->p, r->end, &v)) r->bad = true;
    return v;
}
static inline const uint8_t *tws_rd_bytes(tws_rd *r, size_t n) {
    if ((size_t)(r->end - r->p) < n) {
        r->bad = true;
        r->p = r->end;
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += n;
    return q;
}
static inline uint8_t tws_rd_u8(tws_rd *r) {
    const uint8_t *q = tws_rd_bytes(r, 1);
    return q ? *q : 0;
}

#endif
