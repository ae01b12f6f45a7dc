/*
 * model.h — a decoded OTLP trace batch, the server's one in-memory shape of
 * spans: receivers decode OTLP protobuf or JSON into it, the WAL and the
 * store keep it, the query API encodes it back to protobuf or JSON.
 *
 * The batch is flat: spans point at their scope by index, scopes at their
 * resource by index, so a columnar writer can walk it without recursion.
 *
 * Ownership: every pointer in a batch (strings, arrays) points into the
 * batch's own arena, or into the input buffer when the decoder was told the
 * input outlives the batch (zero-copy protobuf decoding). tws_batch_free()
 * releases everything at once.
 *
 * Invariants after a successful decode:
 *  - every span has a 16-byte trace id and an 8-byte span id that are not
 *    all zero, or it is marked invalid (`reject` set) and must not be stored;
 *  - strings are valid UTF-8 (invalid sequences replaced by U+FFFD, counted
 *    in tws_batch.utf8_repairs) and no longer than the decoder's value limit
 *    (longer attribute values truncated on a character boundary, counted);
 *  - scope_idx < n_scopes and resource_idx < n_resources.
 */
#ifndef TWS_OTLP_MODEL_H
#define TWS_OTLP_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/tw_base.h"

/* Value types: the SDK's scalar types plus OTLP's kvlist, bytes and empty. */
typedef enum tws_type {
    TWS_EMPTY = 0,
    TWS_STRING,
    TWS_BOOL,
    TWS_INT,
    TWS_DOUBLE,
    TWS_ARRAY,  /* u.arr: n values */
    TWS_KVLIST, /* u.kv: n key/values */
    TWS_BYTES,  /* u.s: raw bytes */
} tws_type;

typedef struct tws_kv tws_kv;

typedef struct tws_value {
    tws_type type;
    uint32_t n; /* array / kvlist length */
    union {
        tw_str s;
        bool b;
        int64_t i;
        double d;
        struct tws_value *arr;
        tws_kv *kv;
    } u;
} tws_value;

struct tws_kv {
    tw_str key;
    tws_value val;
};

typedef struct tws_attrs {
    tws_kv *items;
    uint32_t n;
    uint32_t dropped; /* dropped_attributes_count as received */
} tws_attrs;

typedef struct tws_event {
    uint64_t time_ns;
    tw_str name;
    tws_attrs attrs;
} tws_event;

typedef struct tws_link {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    tw_str trace_state;
    uint32_t flags; /* OTLP Link.flags */
    tws_attrs attrs;
} tws_link;

typedef struct tws_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8]; /* all zero when has_parent is false */
    bool has_parent;
    uint8_t kind;        /* OTLP SpanKind 0..5 */
    uint8_t status_code; /* OTLP StatusCode 0..2 */
    uint8_t reject;      /* 0: valid; else a TWS_REJECT_* reason */
    uint32_t flags;      /* OTLP Span.flags */
    uint32_t scope_idx;
    tw_str trace_state;
    tw_str name;
    tw_str status_message;
    uint64_t start_ns, end_ns;
    tws_attrs attrs;
    tws_event *events;
    uint32_t n_events, dropped_events;
    tws_link *links;
    uint32_t n_links, dropped_links;
} tws_span;

enum {
    TWS_REJECT_NONE = 0,
    TWS_REJECT_TRACE_ID, /* missing, wrong length, or all zero */
    TWS_REJECT_SPAN_ID,  /* missing, wrong length, or all zero */
    TWS_REJECT_PARENT_ID,/* present but not 8 bytes */
    TWS_REJECT_LIMIT,    /* set by the store: the trace is over its size limit */
    TWS_REJECT_SAMPLED,  /* set by tail sampling: the trace was not kept */
};

typedef struct tws_scope {
    tw_str name, version, schema_url;
    tws_attrs attrs;
    uint32_t resource_idx;
} tws_scope;

typedef struct tws_resource {
    tws_attrs attrs;
    tw_str schema_url;
    /* Loki push streams: every attribute is a stream label, named as it
     * is (a Loki label set decoded into a resource). False for OTLP
     * resources, whose labels are derived (logs/labels.h). */
    bool labels_verbatim;
} tws_resource;

/*
 * One log record (OTLP LogRecord; a Loki entry decodes into the same).
 * Invariants after a successful decode: a trace id is 16 bytes and not all
 * zero when has_trace_id, a span id 8 bytes and not all zero when
 * has_span_id; a record whose trace_id/span_id field had another length is
 * marked `reject` (TWS_REJECT_TRACE_ID / TWS_REJECT_SPAN_ID) and counted in
 * n_rejected. All-zero ids (what SDKs send outside a span) mean "none".
 */
typedef struct tws_log {
    uint64_t time_ns;     /* time_unix_nano; 0: unknown */
    uint64_t observed_ns; /* observed_time_unix_nano; 0: unknown */
    uint8_t trace_id[16]; /* all zero unless has_trace_id */
    uint8_t span_id[8];   /* all zero unless has_span_id */
    bool has_trace_id, has_span_id;
    uint8_t severity;     /* SeverityNumber 0..24 (larger values are clamped to 0) */
    uint8_t reject;       /* 0: valid; else a TWS_REJECT_* reason */
    uint32_t flags;       /* LogRecord.flags (low byte: W3C trace flags) */
    uint32_t scope_idx;
    tw_str severity_text;
    tw_str event_name;    /* LogRecord.event_name (field 12) */
    tws_value body;
    tws_attrs attrs;
} tws_log;

typedef struct tws_arena_chunk tws_arena_chunk;

typedef struct tws_batch {
    tws_resource *resources;
    uint32_t n_resources;
    tws_scope *scopes;
    uint32_t n_scopes;
    tws_span *spans;
    uint32_t n_spans;
    tws_log *logs; /* a logs batch has logs and no spans; a traces batch the reverse */
    uint32_t n_logs;
    uint32_t n_rejected;   /* spans (or log records) with reject != 0 */
    uint32_t utf8_repairs; /* strings in which invalid UTF-8 was replaced */
    uint32_t truncations;  /* attribute values cut to the value limit */
    tws_arena_chunk *arena; /* owned memory */
    /* Set by tws_batch_init (and so by tws_batch_free), never twice the
     * same in a process: while the batch lives, (id, scope index) names one
     * scope's content, so a writer may remember what it made of it even
     * when another batch is later built at the same address. 0 (a batch
     * not made by tws_batch_init): no such promise. */
    uint64_t id;
} tws_batch;

/* What a decoder refused, with the place: "resourceSpans[0].scopeSpans[1]
 * .spans[3].traceId: expected 16 bytes, got 15". */
typedef struct tws_decode_error {
    char msg[256];
} tws_decode_error;

typedef struct tws_decode_options {
    uint32_t max_value_len; /* attribute string values longer are truncated; 0 = no limit */
    uint32_t max_depth;     /* nesting of AnyValue arrays/kvlists; 0 = 32 */
    bool borrow_input;      /* strings may point into the input buffer (it outlives the batch) */
} tws_decode_options;

void tws_batch_init(tws_batch *b);
void tws_batch_free(tws_batch *b);
/* Allocate from the batch's arena (8-byte aligned); NULL on memory failure. */
void *tws_batch_alloc(tws_batch *b, size_t n);
/* Bytes the batch's arena holds (what keeping it in memory costs). */
uint64_t tws_batch_mem(const tws_batch *b);
/* A NUL-terminated copy of s[0..n) in the batch's arena into *out; TW_OK
 * or TW_ENOMEM. */
int tws_batch_str(tws_batch *b, const void *s, size_t n, tw_str *out);
/* The text of a scalar value without allocating, for the pipeline's
 * processors: a string as it is, an int in decimal, a double as %.17g, a
 * bool as true/false, written into tmp (40 bytes suffice). False for
 * arrays, lists, bytes and empty values. (logs/labels.h's tws_value_text
 * is Loki's AsString, which also renders arrays and lists as JSON.) */
bool tws_value_scalar_text(const tws_value *v, char *tmp, size_t tmp_len, tw_str *out);

/*
 * Decode an ExportTraceServiceRequest (protobuf) / its OTLP JSON form.
 * TW_OK: the batch is filled (spans with reject != 0 are counted in
 * n_rejected, for a partial_success reply). TW_EPARSE: the input is not a
 * valid request; *err says where and why; the batch is left empty.
 * TW_ENOMEM: memory. The JSON decoder accepts what the OTLP JSON spec
 * allows: hex ids (and base64 ids, as Tempo's own output has them), enums
 * as integers (or their names), 64-bit integers as strings or numbers,
 * lowerCamelCase or snake_case field names, unknown fields ignored.
 */
int tws_otlp_decode_pb(const uint8_t *buf, size_t len, const tws_decode_options *o, tws_batch *out,
                       tws_decode_error *err);
int tws_otlp_decode_json(const char *buf, size_t len, const tws_decode_options *o, tws_batch *out,
                         tws_decode_error *err);

/*
 * The same for logs: an ExportLogsServiceRequest (protobuf) / its OTLP JSON
 * form (`resourceLogs[].scopeLogs[].logRecords[]`), into b->logs (no
 * spans). Ids are optional in logs: absent, empty or all zero is "none";
 * any other length than 16 / 8 bytes rejects the record (partial
 * success), not the request.
 */
int tws_otlp_decode_logs_pb(const uint8_t *buf, size_t len, const tws_decode_options *o, tws_batch *out,
                            tws_decode_error *err);
int tws_otlp_decode_logs_json(const char *buf, size_t len, const tws_decode_options *o, tws_batch *out,
                              tws_decode_error *err);

/* The value of attribute `key` in `a` (the first, if repeated), or NULL. */
static inline const tws_value *tws_attrs_find(const tws_attrs *a, const char *key) {
    size_t n = strlen(key);
    for (uint32_t i = 0; i < a->n; i++)
        if (a->items[i].key.len == n && !memcmp(a->items[i].key.ptr, key, n)) return &a->items[i].val;
    return NULL;
}

/* Deep equality (every field, attributes, events, links; NaN == NaN). */
bool tws_str_equal(tw_str a, tw_str b);
bool tws_attrs_equal(const tws_attrs *a, const tws_attrs *b);
bool tws_span_equal(const tws_span *a, const tws_span *b);
/* Log records: every field of the record itself (not its scope or resource). */
bool tws_log_equal(const tws_log *a, const tws_log *b);

/* One span and the batch that holds its scope and resource. */
typedef struct tws_span_ref {
    const tws_batch *batch;
    const tws_span *span;
} tws_span_ref;

/* A record's time: time_unix_nano, else observed_time_unix_nano. */
static inline uint64_t tws_log_time(const tws_log *l) { return l->time_ns ? l->time_ns : l->observed_ns; }

/* One log record: its batch, its index there, and (for the log head and
 * the log store) the number of its stream. */
typedef struct tws_log_ref {
    const tws_batch *batch;
    uint32_t idx;
    uint32_t stream;
} tws_log_ref;

/* Which spans to encode: `idx` lists span indices of `b` (NULL: all valid
 * spans in order). Output groups them into ResourceSpans / ScopeSpans by
 * their resource and scope, in order of first appearance. */
typedef struct tws_selection {
    const tws_batch *batch;
    const uint32_t *idx;
    size_t n;
} tws_selection;

/* Append `repeated ResourceSpans` as field `field_no` of an enclosing
 * message (1 for ExportTraceServiceRequest, TracesData and Tempo's Trace).
 * Several selections (e.g. pieces of one trace from different batches)
 * are written one after the other. Returns 0 or out->failed. */
int tws_otlp_encode_pb(const tws_selection *sel, size_t n_sel, uint32_t field_no, tw__buf *out);

/* Append the valid log records of `b` as `repeated ResourceLogs` (field
 * `field_no`: 1 for ExportLogsServiceRequest and LogsData), grouped as they
 * were received. 0, TW_EINVAL for a batch whose indices are broken, or
 * out->failed. */
int tws_otlp_encode_logs_pb(const tws_batch *b, uint32_t field_no, tw__buf *out);

/* A deep copy of the valid spans (or log records) of `src` into `dst`
 * (initialised here), through protobuf: the same as what a receiver would
 * have decoded. TW_OK or TW_ENOMEM. */
int tws_batch_clone(const tws_batch *src, tws_batch *dst);

typedef enum tws_id_encoding {
    TWS_IDS_HEX,    /* OTLP JSON */
    TWS_IDS_BASE64, /* protobuf JSON mapping, as Tempo's /api/traces returns */
} tws_id_encoding;

/* Write the JSON array of ResourceSpans as one value through `j` (the
 * caller writes the enclosing {"batches": ...} or {"resourceSpans": ...}).
 * Returns 0 or the buffer's error. */
struct tw__json;
int tws_otlp_encode_json(const tws_selection *sel, size_t n_sel, tws_id_encoding ids, struct tw__json *j);

#endif
