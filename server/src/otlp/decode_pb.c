/*
 * decode_pb.c — ExportTraceServiceRequest (OTLP protobuf binary) into a
 * tws_batch.
 *
 * Messages and fields read (opentelemetry-proto: collector/trace/v1/
 * trace_service.proto, trace/v1/trace.proto, common/v1/common.proto,
 * resource/v1/resource.proto); every other field is skipped:
 *
 *   ExportTraceServiceRequest  resource_spans 1 (repeated ResourceSpans)
 *   ResourceSpans  resource 1, scope_spans 2 (repeated), schema_url 3
 *   Resource       attributes 1 (repeated KeyValue), dropped_attributes_count 2
 *   ScopeSpans     scope 1, spans 2 (repeated), schema_url 3
 *   InstrumentationScope  name 1, version 2, attributes 3, dropped_attributes_count 4
 *   Span   trace_id 1, span_id 2, trace_state 3, parent_span_id 4, name 5,
 *          kind 6, start_time_unix_nano 7 (fixed64), end_time_unix_nano 8
 *          (fixed64), attributes 9, dropped_attributes_count 10, events 11,
 *          dropped_events_count 12, links 13, dropped_links_count 14,
 *          status 15, flags 16 (fixed32)
 *   Event  time_unix_nano 1 (fixed64), name 2, attributes 3, dropped_attributes_count 4
 *   Link   trace_id 1, span_id 2, trace_state 3, attributes 4,
 *          dropped_attributes_count 5, flags 6 (fixed32)
 *   Status message 2, code 3
 *   KeyValue  key 1, value 2 (AnyValue)
 *   AnyValue  oneof string_value 1, bool_value 2, int_value 3, double_value 4
 *             (fixed64), array_value 5 (ArrayValue), kvlist_value 6
 *             (KeyValueList), bytes_value 7
 *   ArrayValue values 1 (repeated AnyValue); KeyValueList values 1 (repeated KeyValue)
 *
 * Protobuf rules followed: a field is known by its number AND wire type; a
 * known number arriving with another wire type is skipped as unknown (what
 * the official runtimes do). Unknown fields of every wire type are skipped,
 * groups (3/4) included, their nesting checked iteratively. A scalar given
 * twice: the last wins; a message given twice (resource, scope, status,
 * an AnyValue): its fields are merged, the later list replacing the earlier
 * one. uint32 fields take the low 32 bits of a longer varint. Enums out of
 * the model's range (kind > 5, code > 2, negative) read as 0, unspecified.
 *
 * Refused (TW_EPARSE, the batch left empty): malformed wire data (truncated
 * or over-long varints, lengths past the end of the enclosing message, field
 * number 0, wire types 6/7, an end-group without its start) and AnyValue
 * nesting deeper than max_depth. The message names the path in the
 * protobuf JSON names and the byte offset in the input:
 *   resourceSpans[0].scopeSpans[1].spans[3].attributes[2].value: truncated varint at byte 1234
 * Indices count occurrences of that field within its parent message.
 *
 * Not refused: spans with a bad trace or span id, or a parent id that is
 * not 8 bytes, are kept with `reject` set (see model.h); an all-zero 8-byte
 * parent id reads as none (a root span). Link ids of the wrong length are
 * left zero.
 *
 * Strings: validated as UTF-8; invalid ones are rewritten into the arena
 * with U+FFFD (common/json.c's repair); string attribute values (at every
 * depth) longer than max_value_len are cut on a character boundary, which
 * needs no copy. Keys, names and other strings are never cut. bytes_value
 * is kept as is.
 *
 * Memory: with borrow_input, strings and bytes point into the caller's
 * buffer; without it, the input is copied into the arena once and they
 * point into the copy (one memcpy instead of one allocation per string).
 * Arrays are sized exactly: each message with repeated fields is scanned
 * once to count them before it is decoded, and the request is scanned down
 * to the spans to size the flat resource/scope/span arrays. Degenerate
 * input costs most per byte: an empty span is 2 bytes of input and a
 * tws_span of memory (~80x), so the caller must cap the request size.
 *
 * Speed (~2-4 M realistic spans/s per core, bench/bench_srv_otlp_decode.c):
 * next() is inline for the field shapes nearly all fields have (one-byte
 * tag with a one-byte length or varint, or a fixed64) and leaves the rest to
 * next_slow(); a KeyValue laid out as SDKs write it (key, then a value with
 * one scalar or string member, one-byte lengths) is read without the
 * general loop (decode_kv's fast path, which gives the same result as the
 * loop); strings are checked for ASCII a word at a time before any UTF-8
 * work. Error paths are cold and build their message only when unwinding.
 *
 * Recursion: only AnyValue nesting recurses, bounded by max_depth (at most
 * DEPTH_CAP); everything else is a fixed depth.
 *
 * Logs (tws_otlp_decode_logs_pb) share all of this: ExportLogsServiceRequest,
 * ResourceLogs and ScopeLogs have the field numbers of their trace
 * counterparts (resource_logs 1; resource 1, scope_logs 2, schema_url 3;
 * scope 1, log_records 2, schema_url 3), and only the innermost message
 * differs (logs/v1/logs.proto):
 *   LogRecord  time_unix_nano 1 (fixed64), severity_number 2, severity_text 3,
 *              body 5 (AnyValue), attributes 6, dropped_attributes_count 7,
 *              flags 8 (fixed32), trace_id 9, span_id 10,
 *              observed_time_unix_nano 11 (fixed64), event_name 12
 * Ids are optional in logs: absent, empty or all zero is none; another
 * length rejects the record (partial success). A severity number above 24
 * (or negative) reads as 0, unspecified. A string body is never cut (its
 * size is bounded by the request's); attribute values are, as for spans.
 */
#include <stdarg.h>
#include <stdio.h>

#include "common/json.h" /* UTF-8 repair */
#include "common/pb.h"
#include "otlp/model.h"

#define DEPTH_DEFAULT 32
#define DEPTH_CAP 128   /* stack safety, whatever the caller asks */
#define GROUP_DEPTH 32  /* nesting of unknown groups being skipped */
#define MAX_FRAMES 40   /* path components kept for an error message */
#define INNER_FRAMES 8  /* of which the innermost; the rest are the outermost */
#define NO_IDX UINT32_MAX

#define TAG(num, wire) ((uint32_t)(num) << 3 | (uint32_t)(wire))
enum {
    T_REQ_RS = TAG(1, TW_PB_LEN),
    T_RS_RESOURCE = TAG(1, TW_PB_LEN), T_RS_SS = TAG(2, TW_PB_LEN), T_RS_SCHEMA = TAG(3, TW_PB_LEN),
    T_RES_ATTR = TAG(1, TW_PB_LEN), T_RES_DROPPED = TAG(2, TW_PB_VARINT),
    T_SS_SCOPE = TAG(1, TW_PB_LEN), T_SS_SPANS = TAG(2, TW_PB_LEN), T_SS_SCHEMA = TAG(3, TW_PB_LEN),
    T_SC_NAME = TAG(1, TW_PB_LEN), T_SC_VERSION = TAG(2, TW_PB_LEN), T_SC_ATTR = TAG(3, TW_PB_LEN),
    T_SC_DROPPED = TAG(4, TW_PB_VARINT),
    T_SP_TRACE_ID = TAG(1, TW_PB_LEN), T_SP_SPAN_ID = TAG(2, TW_PB_LEN), T_SP_STATE = TAG(3, TW_PB_LEN),
    T_SP_PARENT = TAG(4, TW_PB_LEN), T_SP_NAME = TAG(5, TW_PB_LEN), T_SP_KIND = TAG(6, TW_PB_VARINT),
    T_SP_START = TAG(7, TW_PB_I64), T_SP_END = TAG(8, TW_PB_I64), T_SP_ATTR = TAG(9, TW_PB_LEN),
    T_SP_DROPPED_ATTRS = TAG(10, TW_PB_VARINT), T_SP_EVENT = TAG(11, TW_PB_LEN),
    T_SP_DROPPED_EVENTS = TAG(12, TW_PB_VARINT), T_SP_LINK = TAG(13, TW_PB_LEN),
    T_SP_DROPPED_LINKS = TAG(14, TW_PB_VARINT), T_SP_STATUS = TAG(15, TW_PB_LEN),
    T_SP_FLAGS = TAG(16, TW_PB_I32),
    T_EV_TIME = TAG(1, TW_PB_I64), T_EV_NAME = TAG(2, TW_PB_LEN), T_EV_ATTR = TAG(3, TW_PB_LEN),
    T_EV_DROPPED = TAG(4, TW_PB_VARINT),
    T_LK_TRACE_ID = TAG(1, TW_PB_LEN), T_LK_SPAN_ID = TAG(2, TW_PB_LEN), T_LK_STATE = TAG(3, TW_PB_LEN),
    T_LK_ATTR = TAG(4, TW_PB_LEN), T_LK_DROPPED = TAG(5, TW_PB_VARINT), T_LK_FLAGS = TAG(6, TW_PB_I32),
    T_ST_MESSAGE = TAG(2, TW_PB_LEN), T_ST_CODE = TAG(3, TW_PB_VARINT),
    T_KV_KEY = TAG(1, TW_PB_LEN), T_KV_VALUE = TAG(2, TW_PB_LEN),
    T_AV_STRING = TAG(1, TW_PB_LEN), T_AV_BOOL = TAG(2, TW_PB_VARINT), T_AV_INT = TAG(3, TW_PB_VARINT),
    T_AV_DOUBLE = TAG(4, TW_PB_I64), T_AV_ARRAY = TAG(5, TW_PB_LEN), T_AV_KVLIST = TAG(6, TW_PB_LEN),
    T_AV_BYTES = TAG(7, TW_PB_LEN),
    T_LIST_VALUES = TAG(1, TW_PB_LEN), /* ArrayValue.values and KeyValueList.values */
    T_LR_TIME = TAG(1, TW_PB_I64), T_LR_SEV = TAG(2, TW_PB_VARINT), T_LR_SEV_TEXT = TAG(3, TW_PB_LEN),
    T_LR_BODY = TAG(5, TW_PB_LEN), T_LR_ATTR = TAG(6, TW_PB_LEN), T_LR_DROPPED = TAG(7, TW_PB_VARINT),
    T_LR_FLAGS = TAG(8, TW_PB_I32), T_LR_TRACE_ID = TAG(9, TW_PB_LEN), T_LR_SPAN_ID = TAG(10, TW_PB_LEN),
    T_LR_OBSERVED = TAG(11, TW_PB_I64), T_LR_EVENT_NAME = TAG(12, TW_PB_LEN),
    T_NONE = 0,                        /* matches nothing: field number 0 is refused */
};

#define COLD __attribute__((noinline, cold))

/* One component of an error's path: `name[idx]`, or `name` for NO_IDX. */
typedef struct frame {
    const char *name;
    uint32_t idx;
} frame;

typedef struct dctx {
    tws_batch *b;
    const uint8_t *base; /* start of the input as decoded, for byte offsets */
    uint32_t max_len, max_depth;
    /* Error: the problem, where, and the path collected while unwinding
     * (innermost first), so that success pays nothing for it. */
    char problem[112];
    size_t at;
    frame frames[MAX_FRAMES];
    uint32_t n_frames;
    bool elided;
    bool logs; /* an ExportLogsServiceRequest: scopes hold log records */
} dctx;

/* One field: `tag` is number << 3 | wire type; VARINT/I64/I32 values in
 * `u`, LEN payloads in data/len. */
typedef struct fld {
    uint32_t tag;
    uint64_t u;
    const uint8_t *data;
    size_t len;
} fld;

typedef struct rd {
    const uint8_t *p, *end;
} rd;

/* ---- errors -------------------------------------------------------------------- */

COLD __attribute__((format(printf, 3, 4))) static int fail(dctx *c, const uint8_t *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->problem, sizeof c->problem, fmt, ap);
    va_end(ap);
    c->at = (size_t)(at - c->base);
    c->n_frames = 0;
    c->elided = false;
    return TW_EPARSE;
}

/* Unwinding through a message: add its component to the error's path. */
COLD static int up(dctx *c, int rc, const char *name, uint32_t idx) {
    if (rc != TW_EPARSE) return rc;
    if (c->n_frames == MAX_FRAMES) { /* keep the innermost and the outermost */
        memmove(&c->frames[INNER_FRAMES], &c->frames[INNER_FRAMES + 1],
                (MAX_FRAMES - INNER_FRAMES - 1) * sizeof c->frames[0]);
        c->n_frames--;
        c->elided = true;
    }
    c->frames[c->n_frames++] = (frame){name, idx};
    return rc;
}

static void put_frame(char *msg, size_t cap, size_t *len, const frame *f, bool dot) {
    if (*len >= cap) return;
    int n = f->idx == NO_IDX ? snprintf(msg + *len, cap - *len, "%s%s", dot ? "." : "", f->name)
                             : snprintf(msg + *len, cap - *len, "%s%s[%u]", dot ? "." : "", f->name, f->idx);
    if (n > 0) *len = TW_MIN(*len + (size_t)n, cap - 1);
}

/* "path: problem at byte N"; a path too long for the message keeps its
 * start and its end around "...", the problem is always there whole. */
COLD static void format_error(const dctx *c, int rc, tws_decode_error *err) {
    if (!err) return;
    if (rc == TW_ENOMEM) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return;
    }
    char what[sizeof c->problem + 40], path[MAX_FRAMES * 40];
    int tn = snprintf(what, sizeof what, ": %s at byte %zu", c->problem, c->at);
    size_t tlen = tn > 0 ? TW_MIN((size_t)tn, sizeof what - 1) : 0, plen = 0;
    if (c->n_frames == 0) plen = (size_t)snprintf(path, sizeof path, "request");
    /* Outermost first: the frames were collected innermost first. */
    for (uint32_t i = c->n_frames; i-- > 0;) {
        put_frame(path, sizeof path, &plen, &c->frames[i], i + 1 != c->n_frames);
        if (c->elided && i == INNER_FRAMES) put_frame(path, sizeof path, &plen, &(frame){"(...)", NO_IDX}, true);
    }
    size_t room = sizeof err->msg - 1 - tlen; /* for the path */
    if (plen > room) { /* keep whole components: "a.b.(...).y.z" */
        static const char mark[] = "(...)";
        size_t m = sizeof mark - 1, head = (room - m) / 2, tail = plen - (room - m - head);
        while (head > 0 && path[head - 1] != '.') head--;
        while (tail < plen && path[tail] != '.') tail++;
        memcpy(path + head, mark, m);
        memmove(path + head + m, path + tail, plen - tail);
        plen = head + m + plen - tail;
    }
    memcpy(err->msg, path, plen);
    memcpy(err->msg + plen, what, tlen + 1);
}

/* ---- the wire ------------------------------------------------------------------ */

#define le64 tw__load_le64

static inline uint32_t le32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

/* A varint of three bytes or more, or one running into `end`: 0, or
 * TW_EPARSE with the problem recorded (`*pp` is where it starts). */
static int varint_slow(dctx *c, const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (unsigned i = 0;; i++) {
        if (p >= end) return fail(c, *pp, "truncated varint");
        uint8_t byte = *p++;
        if (i == 9 && byte > 1) return fail(c, *pp, "varint longer than 64 bits");
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (byte < 0x80) break;
    }
    *pp = p;
    *out = v;
    return 0;
}

static inline int get_varint(dctx *c, const uint8_t **pp, const uint8_t *end, uint64_t *v) {
    const uint8_t *p = *pp;
    if (TW_LIKELY(p < end && p[0] < 0x80)) {
        *v = p[0];
        *pp = p + 1;
        return 0;
    }
    if (TW_LIKELY(end - p >= 2 && p[1] < 0x80)) {
        *v = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
        *pp = p + 2;
        return 0;
    }
    return varint_slow(c, pp, end, v);
}

/* Past an unknown group whose start tag (field `num`) ended at r->p. */
COLD static int skip_group(dctx *c, rd *r, uint32_t num, const uint8_t *start) {
    uint32_t open[GROUP_DEPTH];
    unsigned depth = 0;
    open[depth++] = num;
    const uint8_t *p = r->p, *end = r->end;
    while (depth) {
        if (p >= end) return fail(c, start, "group (field %u) without its end", num);
        const uint8_t *at = p;
        uint64_t tag, v;
        if (get_varint(c, &p, end, &tag)) return TW_EPARSE;
        uint64_t fnum = tag >> 3;
        if (fnum == 0 || fnum > 0x1fffffff)
            return fail(c, at, "field number %llu out of range", (unsigned long long)fnum);
        switch (tag & 7) {
        case TW_PB_VARINT:
            if (get_varint(c, &p, end, &v)) return TW_EPARSE;
            break;
        case TW_PB_I64:
            if (end - p < 8) return fail(c, at, "truncated fixed64");
            p += 8;
            break;
        case TW_PB_I32:
            if (end - p < 4) return fail(c, at, "truncated fixed32");
            p += 4;
            break;
        case TW_PB_LEN:
            if (get_varint(c, &p, end, &v)) return TW_EPARSE;
            if (v > (uint64_t)(end - p))
                return fail(c, at, "length %llu exceeds the %zu bytes left", (unsigned long long)v, (size_t)(end - p));
            p += v;
            break;
        case 3:
            if (depth == GROUP_DEPTH) return fail(c, at, "groups nested deeper than %d", GROUP_DEPTH);
            open[depth++] = (uint32_t)fnum;
            break;
        case 4:
            if (fnum != open[depth - 1])
                return fail(c, at, "end-group %llu does not close group %u", (unsigned long long)fnum, open[depth - 1]);
            depth--;
            break;
        default: return fail(c, at, "invalid wire type %u", (unsigned)(tag & 7));
        }
    }
    r->p = p;
    return 0;
}

/* next() for every case: long tags and lengths, fixed32, groups, errors. */
__attribute__((noinline)) static int next_slow(dctx *c, rd *r, fld *f) {
    for (;;) {
        const uint8_t *p = r->p, *end = r->end, *at = p;
        if (p >= end) return 0;
        uint64_t tag = 0;
        if (TW_LIKELY(p[0] < 0x80)) {
            tag = *p++;
        } else if (get_varint(c, &p, end, &tag)) {
            return TW_EPARSE;
        }
        if (TW_UNLIKELY(tag < 8 || tag > 0xffffffffu))
            return fail(c, at, "field number %llu out of range", (unsigned long long)(tag >> 3));
        f->tag = (uint32_t)tag;
        switch (tag & 7) {
        case TW_PB_VARINT:
            if (get_varint(c, &p, end, &f->u)) return TW_EPARSE;
            break;
        case TW_PB_LEN: {
            uint64_t n = 0; /* set by get_varint; gcc cannot see through the slow path */
            if (get_varint(c, &p, end, &n)) return TW_EPARSE;
            if (TW_UNLIKELY(n > (uint64_t)(end - p)))
                return fail(c, at, "length %llu exceeds the %zu bytes left", (unsigned long long)n, (size_t)(end - p));
            f->data = p;
            f->len = (size_t)n;
            p += n;
            break;
        }
        case TW_PB_I64:
            if (TW_UNLIKELY(end - p < 8)) return fail(c, at, "truncated fixed64");
            f->u = le64(p);
            p += 8;
            break;
        case TW_PB_I32:
            if (TW_UNLIKELY(end - p < 4)) return fail(c, at, "truncated fixed32");
            f->u = le32(p);
            p += 4;
            break;
        case 3:
            r->p = p;
            if (skip_group(c, r, (uint32_t)(tag >> 3), at)) return TW_EPARSE;
            continue;
        case 4: return fail(c, at, "end-group (field %u) without its start", (unsigned)(tag >> 3));
        default: return fail(c, at, "invalid wire type %u", (unsigned)(tag & 7));
        }
        r->p = p;
        return 1;
    }
}

/* The next field of the message being read: 1 (f filled), 0 at its end,
 * TW_EPARSE. Groups are skipped: no field we read is a group. Inline: the
 * shapes nearly every field has (a one-byte tag; a one-byte length or
 * varint; a fixed64); the rest goes to next_slow(). */
static inline int next(dctx *c, rd *r, fld *f) {
    const uint8_t *p = r->p;
    size_t left = (size_t)(r->end - p);
    if (left == 0) return 0;
    uint32_t t = p[0];
    if (TW_LIKELY(t >= 8 && t < 0x80 && left >= 2)) {
        switch (t & 7) {
        case TW_PB_LEN:
            if (TW_LIKELY(p[1] < 0x80 && p[1] <= left - 2)) {
                f->tag = t;
                f->data = p + 2;
                f->len = p[1];
                r->p = p + 2 + p[1];
                return 1;
            }
            break;
        case TW_PB_VARINT:
            if (TW_LIKELY(p[1] < 0x80)) {
                f->tag = t;
                f->u = p[1];
                r->p = p + 2;
                return 1;
            }
            break;
        case TW_PB_I64:
            if (TW_LIKELY(left >= 9)) {
                f->tag = t;
                f->u = le64(p + 1);
                r->p = p + 9;
                return 1;
            }
            break;
        default: break;
        }
    }
    return next_slow(c, r, f);
}

/* Count the occurrences of tags t0..t2 (T_NONE: unused) in a message. */
static int count3(dctx *c, const uint8_t *p, size_t len, uint32_t t0, uint32_t t1, uint32_t t2, uint32_t n[3]) {
    rd r = {p, p + len};
    fld f;
    int rc;
    size_t n0 = 0, n1 = 0, n2 = 0;
    while ((rc = next(c, &r, &f)) > 0) {
        if (f.tag == t0) n0++;
        else if (f.tag == t1) n1++;
        else if (f.tag == t2) n2++;
    }
    /* A field takes 2 bytes at least: this needs 8 GiB of input. */
    if (TW_UNLIKELY(TW_MAX(n0, TW_MAX(n1, n2)) >= UINT32_MAX)) return fail(c, p, "more than 2^32-2 items");
    n[0] = (uint32_t)n0, n[1] = (uint32_t)n1, n[2] = (uint32_t)n2;
    return rc;
}

/* ---- values -------------------------------------------------------------------- */

static inline bool is_ascii(const uint8_t *p, size_t n) {
    uint64_t acc = 0, w;
    uint32_t h;
    if (n >= 8) { /* words, the last one overlapping */
        for (size_t i = 0; i + 8 < n; i += 8) memcpy(&w, p + i, 8), acc |= w;
        memcpy(&w, p + n - 8, 8);
        acc |= w;
    } else if (n >= 4) {
        memcpy(&h, p, 4), acc = h;
        memcpy(&h, p + n - 4, 4), acc |= h;
    } else {
        for (size_t i = 0; i < n; i++) acc |= p[i];
    }
    return (acc & 0x8080808080808080ull) == 0;
}

/* `n` zeroed items of `size` bytes from the arena (NULL for none). */
static inline int alloc0(dctx *c, uint32_t n, size_t size, void **out) {
    *out = NULL;
    if (!n) return 0;
    void *p = tws_batch_alloc(c->b, (size_t)n * size);
    if (!p) return TW_ENOMEM;
    memset(p, 0, (size_t)n * size);
    *out = p;
    return 0;
}

/* take_str() for a string with bytes >= 0x80. */
__attribute__((noinline)) static int take_utf8(dctx *c, const fld *f, uint32_t limit, tw_str *out) {
    const char *s = (const char *)f->data;
    size_t n = f->len;
    bool valid;
    size_t rn = tw__utf8_repaired_len(s, n, &valid);
    if (!valid) {
        uint8_t *d = tws_batch_alloc(c->b, rn);
        if (!d) return TW_ENOMEM;
        tw__utf8_repair(d, s, n);
        s = (const char *)d;
        n = rn;
        c->b->utf8_repairs++;
    }
    if (limit && n > limit) {
        size_t cut = limit; /* s[cut] is the first byte left out */
        while (cut > 0 && ((uint8_t)s[cut] & 0xC0) == 0x80) cut--;
        n = cut;
        c->b->truncations++;
    }
    out->ptr = s;
    out->len = n;
    return 0;
}

/* A string field: valid UTF-8 (repaired into the arena if needed), cut to
 * `limit` bytes (0: none) on a character boundary. 0 or TW_ENOMEM. */
static inline int take_str(dctx *c, const fld *f, uint32_t limit, tw_str *out) {
    if (TW_UNLIKELY(!is_ascii(f->data, f->len))) return take_utf8(c, f, limit, out);
    out->ptr = (const char *)f->data;
    out->len = f->len;
    if (TW_UNLIKELY(limit && f->len > limit)) {
        out->len = limit;
        c->b->truncations++;
    }
    return 0;
}

static int decode_any(dctx *c, const uint8_t *p, size_t len, tws_value *v, uint32_t depth);

/* The AnyValue v[0..n) when it is one scalar, string or bytes member with
 * a one-byte length, as SDKs write it: true when `out` was set. Anything
 * else (empty, several members, arrays, long lengths, errors) is left to
 * decode_any(), which would give the same result. */
static inline bool any_fast(dctx *c, const uint8_t *v, size_t n, tws_value *out, int *rc) {
    if (n < 2) return false;
    out->n = 0;
    switch (v[0]) {
    case T_AV_STRING:
    case T_AV_BYTES: {
        if (v[1] != n - 2) return false;
        fld f = {v[0], 0, v + 2, n - 2};
        if (v[0] == T_AV_BYTES) {
            out->type = TWS_BYTES;
            out->u.s.ptr = (const char *)f.data;
            out->u.s.len = f.len;
            return true;
        }
        out->type = TWS_STRING;
        *rc = take_str(c, &f, c->max_len, &out->u.s);
        return true;
    }
    case T_AV_INT: {
        uint64_t x = 0;
        for (size_t i = 1; i < n && i <= TW_PB_MAX_VARINT; i++) {
            x |= (uint64_t)(v[i] & 0x7f) << (7 * (i - 1));
            if (v[i] < 0x80) {
                if (i + 1 != n || (i == TW_PB_MAX_VARINT && v[i] > 1)) return false;
                out->type = TWS_INT;
                out->u.i = (int64_t)x;
                return true;
            }
        }
        return false;
    }
    case T_AV_BOOL:
        if (n != 2 || v[1] >= 0x80) return false;
        out->type = TWS_BOOL;
        out->u.b = v[1] != 0;
        return true;
    case T_AV_DOUBLE:
        if (n != 9) return false;
        out->type = TWS_DOUBLE;
        uint64_t bits = le64(v + 1);
        memcpy(&out->u.d, &bits, sizeof out->u.d);
        return true;
    default: return false;
    }
}

static int decode_kv(dctx *c, const uint8_t *p, size_t len, tws_kv *kv, uint32_t depth) {
    /* Fast path: key, then the value, both with one-byte lengths, the value
     * ending the message. */
    if (TW_LIKELY(len >= 4 && p[0] == T_KV_KEY && p[1] < 0x80 && p[1] <= len - 4)) {
        size_t kl = p[1], vl = len - 4 - kl;
        if (vl < 0x80 && p[2 + kl] == T_KV_VALUE && p[3 + kl] == vl) {
            fld k = {T_KV_KEY, 0, p + 2, kl};
            int rc = take_str(c, &k, 0, &kv->key);
            if (rc) return rc;
            if (any_fast(c, p + 4 + kl, vl, &kv->val, &rc)) return rc;
            memset(&kv->val, 0, sizeof kv->val);
            if ((rc = decode_any(c, p + 4 + kl, vl, &kv->val, depth))) return up(c, rc, "value", NO_IDX);
            return 0;
        }
    }
    memset(kv, 0, sizeof *kv);
    rd r = {p, p + len};
    fld f;
    int rc;
    while ((rc = next(c, &r, &f)) > 0) {
        switch (f.tag) {
        case T_KV_KEY:
            if ((rc = take_str(c, &f, 0, &kv->key))) return rc;
            break;
        case T_KV_VALUE:
            if ((rc = decode_any(c, f.data, f.len, &kv->val, depth))) return up(c, rc, "value", NO_IDX);
            break;
        default: break;
        }
    }
    return rc;
}

/* ArrayValue (kv == false) or KeyValueList into v; `depth` is its nesting. */
static int decode_list(dctx *c, const uint8_t *p, size_t len, tws_value *v, uint32_t depth, bool kv) {
    uint32_t cnt[3];
    int rc = count3(c, p, len, T_LIST_VALUES, T_NONE, T_NONE, cnt);
    if (rc) return rc;
    void *items;
    if ((rc = alloc0(c, cnt[0], kv ? sizeof(tws_kv) : sizeof(tws_value), &items))) return rc;
    v->type = kv ? TWS_KVLIST : TWS_ARRAY;
    v->n = 0;
    if (kv) v->u.kv = items;
    else v->u.arr = items;
    rd r = {p, p + len};
    fld f;
    while ((rc = next(c, &r, &f)) > 0) {
        if (f.tag != T_LIST_VALUES) continue;
        if (TW_UNLIKELY(v->n >= cnt[0])) return fail(c, f.data, "internal: count mismatch");
        rc = kv ? decode_kv(c, f.data, f.len, &v->u.kv[v->n], depth)
                : decode_any(c, f.data, f.len, &v->u.arr[v->n], depth);
        if (rc) return up(c, rc, "values", v->n);
        v->n++;
    }
    return rc;
}

static int decode_any(dctx *c, const uint8_t *p, size_t len, tws_value *v, uint32_t depth) {
    rd r = {p, p + len};
    fld f;
    int rc;
    while ((rc = next(c, &r, &f)) > 0) {
        switch (f.tag) {
        case T_AV_STRING:
            v->type = TWS_STRING;
            v->n = 0;
            if ((rc = take_str(c, &f, c->max_len, &v->u.s))) return rc;
            break;
        case T_AV_BOOL:
            v->type = TWS_BOOL;
            v->n = 0;
            v->u.b = f.u != 0;
            break;
        case T_AV_INT:
            v->type = TWS_INT;
            v->n = 0;
            v->u.i = (int64_t)f.u;
            break;
        case T_AV_DOUBLE:
            v->type = TWS_DOUBLE;
            v->n = 0;
            memcpy(&v->u.d, &f.u, sizeof v->u.d);
            break;
        case T_AV_BYTES:
            v->type = TWS_BYTES;
            v->n = 0;
            v->u.s.ptr = (const char *)f.data;
            v->u.s.len = f.len;
            break;
        case T_AV_ARRAY:
        case T_AV_KVLIST: {
            bool kv = f.tag == T_AV_KVLIST;
            if (depth >= c->max_depth) return fail(c, f.data, "AnyValue nested deeper than %u", c->max_depth);
            if ((rc = decode_list(c, f.data, f.len, v, depth + 1, kv)))
                return up(c, rc, kv ? "kvlistValue" : "arrayValue", NO_IDX);
            break;
        }
        default: break;
        }
    }
    return rc;
}

/* The attributes of a message, counted beforehand: `a->items` has room. */
static inline int attr_alloc(dctx *c, tws_attrs *a, uint32_t n) {
    a->n = 0;
    a->items = NULL;
    /* Not zeroed: decode_kv() writes every field of an item. */
    if (n && !(a->items = tws_batch_alloc(c->b, (size_t)n * sizeof *a->items))) return TW_ENOMEM;
    return 0;
}

static inline int attr_add(dctx *c, tws_attrs *a, uint32_t cap, const fld *f) {
    if (TW_UNLIKELY(a->n >= cap)) return fail(c, f->data, "internal: count mismatch");
    int rc = decode_kv(c, f->data, f->len, &a->items[a->n], 0);
    if (rc) return up(c, rc, "attributes", a->n);
    a->n++;
    return 0;
}

/* ---- messages ------------------------------------------------------------------ */

static int decode_resource(dctx *c, const uint8_t *p, size_t len, tws_resource *res) {
    uint32_t cnt[3];
    int rc = count3(c, p, len, T_RES_ATTR, T_NONE, T_NONE, cnt);
    if (rc || (rc = attr_alloc(c, &res->attrs, cnt[0]))) return rc;
    rd r = {p, p + len};
    fld f;
    while ((rc = next(c, &r, &f)) > 0) {
        if (f.tag == T_RES_ATTR) {
            if ((rc = attr_add(c, &res->attrs, cnt[0], &f))) return rc;
        } else if (f.tag == T_RES_DROPPED) {
            res->attrs.dropped = (uint32_t)f.u;
        }
    }
    return rc;
}

static int decode_scope(dctx *c, const uint8_t *p, size_t len, tws_scope *sc) {
    uint32_t cnt[3] = {0, 0, 0};
    int rc = count3(c, p, len, T_SC_ATTR, T_NONE, T_NONE, cnt);
    if (rc || (rc = attr_alloc(c, &sc->attrs, cnt[0]))) return rc;
    rd r = {p, p + len};
    fld f;
    int e = 0;
    while ((rc = next(c, &r, &f)) > 0) {
        switch (f.tag) {
        case T_SC_NAME: e = take_str(c, &f, 0, &sc->name); break;
        case T_SC_VERSION: e = take_str(c, &f, 0, &sc->version); break;
        case T_SC_ATTR: e = attr_add(c, &sc->attrs, cnt[0], &f); break;
        case T_SC_DROPPED: sc->attrs.dropped = (uint32_t)f.u; break;
        default: break;
        }
        if (e) return e;
    }
    return rc;
}

static int decode_event(dctx *c, const uint8_t *p, size_t len, tws_event *ev) {
    uint32_t cnt[3];
    int rc = count3(c, p, len, T_EV_ATTR, T_NONE, T_NONE, cnt);
    if (rc || (rc = attr_alloc(c, &ev->attrs, cnt[0]))) return rc;
    rd r = {p, p + len};
    fld f;
    int e = 0;
    while ((rc = next(c, &r, &f)) > 0) {
        switch (f.tag) {
        case T_EV_TIME: ev->time_ns = f.u; break;
        case T_EV_NAME: e = take_str(c, &f, 0, &ev->name); break;
        case T_EV_ATTR: e = attr_add(c, &ev->attrs, cnt[0], &f); break;
        case T_EV_DROPPED: ev->attrs.dropped = (uint32_t)f.u; break;
        default: break;
        }
        if (e) return e;
    }
    return rc;
}

static int decode_link(dctx *c, const uint8_t *p, size_t len, tws_link *lk) {
    uint32_t cnt[3];
    int rc = count3(c, p, len, T_LK_ATTR, T_NONE, T_NONE, cnt);
    if (rc || (rc = attr_alloc(c, &lk->attrs, cnt[0]))) return rc;
    rd r = {p, p + len};
    fld f;
    int e = 0;
    while ((rc = next(c, &r, &f)) > 0) {
        switch (f.tag) {
        case T_LK_TRACE_ID:
            if (f.len == sizeof lk->trace_id) memcpy(lk->trace_id, f.data, f.len);
            else memset(lk->trace_id, 0, sizeof lk->trace_id);
            break;
        case T_LK_SPAN_ID:
            if (f.len == sizeof lk->span_id) memcpy(lk->span_id, f.data, f.len);
            else memset(lk->span_id, 0, sizeof lk->span_id);
            break;
        case T_LK_STATE: e = take_str(c, &f, 0, &lk->trace_state); break;
        case T_LK_ATTR: e = attr_add(c, &lk->attrs, cnt[0], &f); break;
        case T_LK_DROPPED: lk->attrs.dropped = (uint32_t)f.u; break;
        case T_LK_FLAGS: lk->flags = (uint32_t)f.u; break;
        default: break;
        }
        if (e) return e;
    }
    return rc;
}

static int decode_status(dctx *c, const uint8_t *p, size_t len, tws_span *s) {
    rd r = {p, p + len};
    fld f;
    int rc;
    while ((rc = next(c, &r, &f)) > 0) {
        if (f.tag == T_ST_MESSAGE) {
            if ((rc = take_str(c, &f, 0, &s->status_message))) return rc;
        } else if (f.tag == T_ST_CODE) {
            s->status_code = f.u <= 2 ? (uint8_t)f.u : 0;
        }
    }
    return rc;
}

static bool all_zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

enum { ID_MISSING, ID_OK, ID_BAD };

static int decode_span(dctx *c, const uint8_t *p, size_t len, tws_span *s, uint32_t scope_idx) {
    uint32_t cnt[3];
    int rc = count3(c, p, len, T_SP_ATTR, T_SP_EVENT, T_SP_LINK, cnt);
    if (rc || (rc = attr_alloc(c, &s->attrs, cnt[0]))) return rc;
    void *ev, *lk;
    if ((rc = alloc0(c, cnt[1], sizeof *s->events, &ev)) || (rc = alloc0(c, cnt[2], sizeof *s->links, &lk)))
        return rc;
    s->events = ev;
    s->links = lk;
    s->scope_idx = scope_idx;
    int tid = ID_MISSING, sid = ID_MISSING, pid = ID_MISSING;
    rd r = {p, p + len};
    fld f;
    int e = 0;
    while ((rc = next(c, &r, &f)) > 0) {
        switch (f.tag) {
        case T_SP_TRACE_ID:
            tid = f.len == sizeof s->trace_id ? ID_OK : ID_BAD;
            if (tid == ID_OK) memcpy(s->trace_id, f.data, f.len);
            else memset(s->trace_id, 0, sizeof s->trace_id);
            break;
        case T_SP_SPAN_ID:
            sid = f.len == sizeof s->span_id ? ID_OK : ID_BAD;
            if (sid == ID_OK) memcpy(s->span_id, f.data, f.len);
            else memset(s->span_id, 0, sizeof s->span_id);
            break;
        case T_SP_PARENT:
            /* Empty (the proto3 default) or all zero: a root span. */
            pid = f.len == 0 ? ID_MISSING : f.len == sizeof s->parent_span_id ? ID_OK : ID_BAD;
            if (pid == ID_OK) memcpy(s->parent_span_id, f.data, f.len);
            else memset(s->parent_span_id, 0, sizeof s->parent_span_id);
            break;
        case T_SP_STATE: e = take_str(c, &f, 0, &s->trace_state); break;
        case T_SP_NAME: e = take_str(c, &f, 0, &s->name); break;
        case T_SP_KIND: s->kind = f.u <= 5 ? (uint8_t)f.u : 0; break;
        case T_SP_START: s->start_ns = f.u; break;
        case T_SP_END: s->end_ns = f.u; break;
        case T_SP_ATTR: e = attr_add(c, &s->attrs, cnt[0], &f); break;
        case T_SP_DROPPED_ATTRS: s->attrs.dropped = (uint32_t)f.u; break;
        case T_SP_EVENT:
            if (TW_UNLIKELY(s->n_events >= cnt[1])) return fail(c, f.data, "internal: count mismatch");
            if ((rc = decode_event(c, f.data, f.len, &s->events[s->n_events])))
                return up(c, rc, "events", s->n_events);
            s->n_events++;
            break;
        case T_SP_DROPPED_EVENTS: s->dropped_events = (uint32_t)f.u; break;
        case T_SP_LINK:
            if (TW_UNLIKELY(s->n_links >= cnt[2])) return fail(c, f.data, "internal: count mismatch");
            if ((rc = decode_link(c, f.data, f.len, &s->links[s->n_links]))) return up(c, rc, "links", s->n_links);
            s->n_links++;
            break;
        case T_SP_DROPPED_LINKS: s->dropped_links = (uint32_t)f.u; break;
        case T_SP_STATUS:
            if ((rc = decode_status(c, f.data, f.len, s))) return up(c, rc, "status", NO_IDX);
            break;
        case T_SP_FLAGS: s->flags = (uint32_t)f.u; break;
        default: break;
        }
        if (e) return e;
    }
    if (rc) return rc;
    s->has_parent = pid == ID_OK && !all_zero(s->parent_span_id, sizeof s->parent_span_id);
    if (tid != ID_OK || all_zero(s->trace_id, sizeof s->trace_id)) s->reject = TWS_REJECT_TRACE_ID;
    else if (sid != ID_OK || all_zero(s->span_id, sizeof s->span_id)) s->reject = TWS_REJECT_SPAN_ID;
    else if (pid == ID_BAD) s->reject = TWS_REJECT_PARENT_ID;
    if (s->reject) c->b->n_rejected++;
    return 0;
}

/* An optional id of `n` bytes: ID_MISSING when absent, empty or all zero. */
static int take_opt_id(const fld *f, uint8_t *out, size_t n) {
    if (f->len == n && !all_zero(f->data, n)) {
        memcpy(out, f->data, n);
        return ID_OK;
    }
    memset(out, 0, n);
    return f->len == 0 || f->len == n ? ID_MISSING : ID_BAD;
}

static int decode_log(dctx *c, const uint8_t *p, size_t len, tws_log *l, uint32_t scope_idx) {
    uint32_t cnt[3];
    int rc = count3(c, p, len, T_LR_ATTR, T_NONE, T_NONE, cnt);
    if (rc || (rc = attr_alloc(c, &l->attrs, cnt[0]))) return rc;
    l->scope_idx = scope_idx;
    int tid = ID_MISSING, sid = ID_MISSING;
    rd r = {p, p + len};
    fld f;
    int e = 0;
    while ((rc = next(c, &r, &f)) > 0) {
        switch (f.tag) {
        case T_LR_TIME: l->time_ns = f.u; break;
        case T_LR_OBSERVED: l->observed_ns = f.u; break;
        case T_LR_SEV: l->severity = f.u <= 24 ? (uint8_t)f.u : 0; break;
        case T_LR_SEV_TEXT: e = take_str(c, &f, 0, &l->severity_text); break;
        case T_LR_EVENT_NAME: e = take_str(c, &f, 0, &l->event_name); break;
        case T_LR_BODY: {
            uint32_t limit = c->max_len; /* a line is not an attribute value: never cut */
            c->max_len = 0;
            e = decode_any(c, f.data, f.len, &l->body, 0);
            c->max_len = limit;
            if (e) return up(c, e, "body", NO_IDX);
            break;
        }
        case T_LR_ATTR: e = attr_add(c, &l->attrs, cnt[0], &f); break;
        case T_LR_DROPPED: l->attrs.dropped = (uint32_t)f.u; break;
        case T_LR_FLAGS: l->flags = (uint32_t)f.u; break;
        case T_LR_TRACE_ID: tid = take_opt_id(&f, l->trace_id, sizeof l->trace_id); break;
        case T_LR_SPAN_ID: sid = take_opt_id(&f, l->span_id, sizeof l->span_id); break;
        default: break;
        }
        if (e) return e;
    }
    if (rc) return rc;
    l->has_trace_id = tid == ID_OK;
    l->has_span_id = sid == ID_OK;
    if (tid == ID_BAD) l->reject = TWS_REJECT_TRACE_ID;
    else if (sid == ID_BAD) l->reject = TWS_REJECT_SPAN_ID;
    if (l->reject) c->b->n_rejected++;
    return 0;
}

/* Capacities of the flat arrays, from the counting pass. */
typedef struct caps {
    uint32_t resources, scopes, spans;
} caps;

static int decode_scope_spans(dctx *c, const uint8_t *p, size_t len, uint32_t si, const caps *k) {
    tws_batch *b = c->b;
    rd r = {p, p + len};
    fld f;
    int rc;
    uint32_t n = 0;
    while ((rc = next(c, &r, &f)) > 0) {
        switch (f.tag) {
        case T_SS_SCOPE:
            if ((rc = decode_scope(c, f.data, f.len, &b->scopes[si]))) return up(c, rc, "scope", NO_IDX);
            break;
        case T_SS_SPANS: /* also ScopeLogs.log_records */
            if (c->logs) {
                if (TW_UNLIKELY(b->n_logs >= k->spans)) return fail(c, f.data, "internal: count mismatch");
                if ((rc = decode_log(c, f.data, f.len, &b->logs[b->n_logs], si))) return up(c, rc, "logRecords", n);
                b->n_logs++, n++;
                break;
            }
            if (TW_UNLIKELY(b->n_spans >= k->spans)) return fail(c, f.data, "internal: count mismatch");
            if ((rc = decode_span(c, f.data, f.len, &b->spans[b->n_spans], si))) return up(c, rc, "spans", n);
            b->n_spans++, n++;
            break;
        case T_SS_SCHEMA:
            if ((rc = take_str(c, &f, 0, &b->scopes[si].schema_url))) return rc;
            break;
        default: break;
        }
    }
    return rc;
}

static int decode_resource_spans(dctx *c, const uint8_t *p, size_t len, uint32_t ri, const caps *k) {
    tws_batch *b = c->b;
    rd r = {p, p + len};
    fld f;
    int rc;
    uint32_t n = 0;
    while ((rc = next(c, &r, &f)) > 0) {
        switch (f.tag) {
        case T_RS_RESOURCE:
            if ((rc = decode_resource(c, f.data, f.len, &b->resources[ri]))) return up(c, rc, "resource", NO_IDX);
            break;
        case T_RS_SS: {
            if (TW_UNLIKELY(b->n_scopes >= k->scopes)) return fail(c, f.data, "internal: count mismatch");
            uint32_t si = b->n_scopes++;
            b->scopes[si].resource_idx = ri;
            if ((rc = decode_scope_spans(c, f.data, f.len, si, k))) return up(c, rc, c->logs ? "scopeLogs" : "scopeSpans", n);
            n++;
            break;
        }
        case T_RS_SCHEMA:
            if ((rc = take_str(c, &f, 0, &b->resources[ri].schema_url))) return rc;
            break;
        default: break;
        }
    }
    return rc;
}

static int decode_request(dctx *c, const uint8_t *p, size_t len, const caps *k) {
    tws_batch *b = c->b;
    rd r = {p, p + len};
    fld f;
    int rc;
    while ((rc = next(c, &r, &f)) > 0) {
        if (f.tag != T_REQ_RS) continue;
        if (TW_UNLIKELY(b->n_resources >= k->resources)) return fail(c, f.data, "internal: count mismatch");
        uint32_t ri = b->n_resources++;
        if ((rc = decode_resource_spans(c, f.data, f.len, ri, k)))
            return up(c, rc, c->logs ? "resourceLogs" : "resourceSpans", ri);
    }
    return rc;
}

/* The counting pass over the three outer levels; it reports malformed
 * wire data at those levels with the same paths as the decoding pass. */
static int count_request(dctx *c, const uint8_t *p, size_t len, caps *k) {
    rd r = {p, p + len};
    fld f;
    int rc;
    uint32_t cnt[3];
    while ((rc = next(c, &r, &f)) > 0) {
        if (f.tag != T_REQ_RS) continue;
        uint32_t ri = k->resources++;
        rd rs = {f.data, f.data + f.len};
        fld g;
        uint32_t j = 0;
        while ((rc = next(c, &rs, &g)) > 0) {
            if (g.tag != T_RS_SS) continue;
            if ((rc = count3(c, g.data, g.len, T_SS_SPANS, T_NONE, T_NONE, cnt)))
                return up(c, up(c, rc, c->logs ? "scopeLogs" : "scopeSpans", j), c->logs ? "resourceLogs" : "resourceSpans",
                          ri);
            if (cnt[0] > UINT32_MAX - 1 - k->spans)
                return fail(c, g.data, c->logs ? "more than 2^32-2 log records" : "more than 2^32-2 spans");
            k->spans += cnt[0];
            k->scopes++, j++;
        }
        if (rc) return up(c, rc, c->logs ? "resourceLogs" : "resourceSpans", ri);
    }
    return rc;
}

static int decode_pb(const uint8_t *buf, size_t len, const tws_decode_options *o, tws_batch *out,
                     tws_decode_error *err, bool logs) {
    tws_batch_init(out);
    if (err) err->msg[0] = '\0';
    dctx c = {.b = out, .base = buf, .logs = logs};
    tws_decode_options def = {0};
    if (!o) o = &def;
    c.max_len = o->max_value_len;
    c.max_depth = o->max_depth ? TW_MIN(o->max_depth, DEPTH_CAP) : DEPTH_DEFAULT;
    caps k = {0};
    int rc = 0;
    if (len == 0) goto out;
    if (!buf) {
        rc = TW_EINVAL;
        goto out;
    }
    if (!o->borrow_input) {
        uint8_t *copy = tws_batch_alloc(out, len);
        if (!copy) {
            rc = TW_ENOMEM;
            goto out;
        }
        memcpy(copy, buf, len);
        buf = c.base = copy;
    }
    if ((rc = count_request(&c, buf, len, &k))) goto out;
    void *res, *sc, *sp;
    if ((rc = alloc0(&c, k.resources, sizeof *out->resources, &res)) ||
        (rc = alloc0(&c, k.scopes, sizeof *out->scopes, &sc)) ||
        (rc = alloc0(&c, k.spans, logs ? sizeof *out->logs : sizeof *out->spans, &sp)))
        goto out;
    out->resources = res;
    out->scopes = sc;
    if (logs) out->logs = sp;
    else out->spans = sp;
    rc = decode_request(&c, buf, len, &k);
out:
    if (rc) {
        if (rc == TW_EINVAL && err) snprintf(err->msg, sizeof err->msg, "no input buffer");
        else format_error(&c, rc, err);
        tws_batch_free(out);
    }
    return rc;
}

int tws_otlp_decode_pb(const uint8_t *buf, size_t len, const tws_decode_options *o, tws_batch *out,
                       tws_decode_error *err) {
    return decode_pb(buf, len, o, out, err, false);
}

int tws_otlp_decode_logs_pb(const uint8_t *buf, size_t len, const tws_decode_options *o, tws_batch *out,
                            tws_decode_error *err) {
    return decode_pb(buf, len, o, out, err, true);
}
