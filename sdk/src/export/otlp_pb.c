/*
 * otlp_pb.c — ExportTraceServiceRequest and ExportLogsServiceRequest in
 * protobuf binary.
 *
 * The messages written, with their field numbers and wire types, from
 * opentelemetry-proto (collector/trace/v1/trace_service.proto,
 * trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto):
 *
 *   ExportTraceServiceRequest  resource_spans 1 (LEN, repeated ResourceSpans)
 *   ResourceSpans  resource 1 (Resource), scope_spans 2 (repeated ScopeSpans)
 *   Resource       attributes 1 (repeated KeyValue), dropped_attributes_count 2 (varint)
 *   ScopeSpans     scope 1 (InstrumentationScope), spans 2 (repeated Span)
 *   InstrumentationScope  name 1, version 2 (string)
 *   Span   trace_id 1 (bytes 16), span_id 2 (bytes 8), trace_state 3 (string),
 *          parent_span_id 4 (bytes 8), name 5, kind 6 (enum varint),
 *          start_time_unix_nano 7 (fixed64), end_time_unix_nano 8 (fixed64),
 *          attributes 9, dropped_attributes_count 10, events 11,
 *          dropped_events_count 12, links 13, dropped_links_count 14,
 *          status 15 (Status), flags 16 (fixed32)
 *   Event  time_unix_nano 1 (fixed64), name 2, attributes 3, dropped_attributes_count 4
 *   Link   trace_id 1, span_id 2, trace_state 3, attributes 4,
 *          dropped_attributes_count 5, flags 6 (fixed32)
 *   Status message 2 (string), code 3 (enum varint)
 *   KeyValue  key 1 (string), value 2 (AnyValue)
 *   AnyValue  oneof: string_value 1, bool_value 2, int_value 3 (int64 varint),
 *             double_value 4 (fixed64), array_value 5 (ArrayValue)
 *   ArrayValue  values 1 (repeated AnyValue)
 *
 * and for logs (collector/logs/v1/logs_service.proto, logs/v1/logs.proto):
 *
 *   ExportLogsServiceRequest  resource_logs 1 (repeated ResourceLogs)
 *   ResourceLogs  resource 1, scope_logs 2 (repeated ScopeLogs)
 *   ScopeLogs     scope 1, log_records 2 (repeated LogRecord)
 *   LogRecord  time_unix_nano 1 (fixed64), severity_number 2 (enum varint),
 *              severity_text 3, body 5 (AnyValue), attributes 6,
 *              dropped_attributes_count 7, flags 8 (fixed32),
 *              trace_id 9 (bytes 16), span_id 10 (bytes 8),
 *              observed_time_unix_nano 11 (fixed64)
 *
 * Proto3 defaults (empty strings, zero counts) are omitted, except inside
 * the AnyValue oneof, where a set member is always written. Strings are
 * written as valid UTF-8 (invalid sequences become U+FFFD, as in the JSON
 * encoder): receivers built on the official protobuf runtimes refuse a
 * whole request over one invalid `string` field.
 *
 * Attribute values have sizes known up front, so a KeyValue is written with
 * exact length prefixes in one pass; messages above it (event, link, span,
 * scope and resource lists) use tw__pb_begin / tw__pb_end.
 */
#include "common/buf.h"
#include "export/export_int.h"
#include "common/json.h"
#include "export/otlp_int.h"
#include "common/pb.h"

enum {
    F_REQ_RESOURCE_SPANS = 1,
    F_RS_RESOURCE = 1, F_RS_SCOPE_SPANS = 2,
    F_RES_ATTRIBUTES = 1, F_RES_DROPPED = 2,
    F_SS_SCOPE = 1, F_SS_SPANS = 2,
    F_SCOPE_NAME = 1, F_SCOPE_VERSION = 2,
    F_SPAN_TRACE_ID = 1, F_SPAN_SPAN_ID = 2, F_SPAN_TRACE_STATE = 3, F_SPAN_PARENT = 4,
    F_SPAN_NAME = 5, F_SPAN_KIND = 6, F_SPAN_START = 7, F_SPAN_END = 8, F_SPAN_ATTRIBUTES = 9,
    F_SPAN_DROPPED_ATTRS = 10, F_SPAN_EVENTS = 11, F_SPAN_DROPPED_EVENTS = 12, F_SPAN_LINKS = 13,
    F_SPAN_DROPPED_LINKS = 14, F_SPAN_STATUS = 15, F_SPAN_FLAGS = 16,
    F_EV_TIME = 1, F_EV_NAME = 2, F_EV_ATTRIBUTES = 3, F_EV_DROPPED = 4,
    F_LINK_TRACE_ID = 1, F_LINK_SPAN_ID = 2, F_LINK_TRACE_STATE = 3, F_LINK_ATTRIBUTES = 4,
    F_LINK_DROPPED = 5, F_LINK_FLAGS = 6,
    F_STATUS_MESSAGE = 2, F_STATUS_CODE = 3,
    F_KV_KEY = 1, F_KV_VALUE = 2,
    F_ANY_STRING = 1, F_ANY_BOOL = 2, F_ANY_INT = 3, F_ANY_DOUBLE = 4, F_ANY_ARRAY = 5,
    F_ARRAY_VALUES = 1,
    F_REQ_RESOURCE_LOGS = 1, F_RL_RESOURCE = 1, F_RL_SCOPE_LOGS = 2, F_SL_LOG_RECORDS = 2,
    F_LR_TIME = 1, F_LR_SEVERITY = 2, F_LR_SEVERITY_TEXT = 3, F_LR_BODY = 5, F_LR_ATTRIBUTES = 6,
    F_LR_DROPPED = 7, F_LR_FLAGS = 8, F_LR_TRACE_ID = 9, F_LR_SPAN_ID = 10, F_LR_OBSERVED = 11,
};

/* Every field number above is below 16: each tag is one byte. */
#define TAG1 1

/* ---- strings ------------------------------------------------------------------- */

/* A string with its length once made valid UTF-8. */
typedef struct pstr {
    const char *s;
    size_t n, len;
    bool valid;
} pstr;

static inline pstr mkstr(const char *s, size_t n) {
    pstr p = {s, n, n, true};
    if (TW_UNLIKELY(!tw__is_ascii(s, n))) p.len = tw__utf8_repaired_len(s, n, &p.valid);
    return p;
}

static void put_pstr(tw__buf *b, uint32_t field, pstr p) {
    if (TW_LIKELY(p.valid)) {
        tw__pb_bytes(b, field, p.s, p.n);
        return;
    }
    tw__pb_len_header(b, field, p.len);
    if (tw__buf_reserve(b, p.len) == 0) b->len = (size_t)(tw__utf8_repair(b->data + b->len, p.s, p.n) - b->data);
}

/* A string field, omitted when empty. */
static void put_str(tw__buf *b, uint32_t field, const char *s, size_t n) {
    if (n) put_pstr(b, field, mkstr(s, n));
}

/* ---- attribute values ------------------------------------------------------ */

static inline size_t str_field_size(size_t n) { return TAG1 + tw__pb_varint_size(n) + n; }

/* Size of one array item: the AnyValue field in ArrayValue, header included. */
static size_t array_items_size(const tw__value *v) {
    size_t sz = 0;
    switch (v->type) {
    case TW_TYPE_STRING_ARRAY:
        for (uint32_t i = 0; i < v->n; i++)
            sz += str_field_size(str_field_size(mkstr(v->u.sa[i].ptr, tw__str_len(v->u.sa[i])).len));
        break;
    case TW_TYPE_BOOL_ARRAY: sz = (size_t)v->n * (TAG1 + 1 + 2); break;
    case TW_TYPE_INT_ARRAY:
        for (uint32_t i = 0; i < v->n; i++) sz += TAG1 + 1 + TAG1 + tw__pb_varint_size((uint64_t)v->u.ia[i]);
        break;
    case TW_TYPE_DOUBLE_ARRAY: sz = (size_t)v->n * (TAG1 + 1 + TAG1 + 8); break;
    default: break;
    }
    return sz;
}

/* Size of the AnyValue message body holding `v` (`str`: v's string). */
static size_t any_size(const tw__value *v, const pstr *str) {
    switch (v->type) {
    case TW_TYPE_STRING: return str_field_size(str->len);
    case TW_TYPE_BOOL: return TAG1 + 1;
    case TW_TYPE_INT: return TAG1 + tw__pb_varint_size((uint64_t)v->u.i);
    case TW_TYPE_DOUBLE: return TAG1 + 8;
    default: return str_field_size(array_items_size(v));
    }
}

static void put_any_body(tw__buf *b, const tw__value *v, const pstr *str) {
    switch (v->type) {
    case TW_TYPE_STRING: put_pstr(b, F_ANY_STRING, *str); return;
    case TW_TYPE_BOOL: tw__pb_uint64(b, F_ANY_BOOL, v->u.b ? 1 : 0); return;
    case TW_TYPE_INT: tw__pb_uint64(b, F_ANY_INT, (uint64_t)v->u.i); return;
    case TW_TYPE_DOUBLE: tw__pb_double(b, F_ANY_DOUBLE, v->u.d); return;
    default: break;
    }
    tw__pb_len_header(b, F_ANY_ARRAY, array_items_size(v));
    for (uint32_t i = 0; i < v->n; i++) {
        switch (v->type) {
        case TW_TYPE_STRING_ARRAY: {
            pstr p = mkstr(v->u.sa[i].ptr, tw__str_len(v->u.sa[i]));
            tw__pb_len_header(b, F_ARRAY_VALUES, str_field_size(p.len));
            put_pstr(b, F_ANY_STRING, p);
            break;
        }
        case TW_TYPE_BOOL_ARRAY:
            tw__pb_len_header(b, F_ARRAY_VALUES, TAG1 + 1);
            tw__pb_uint64(b, F_ANY_BOOL, v->u.ba[i] ? 1 : 0);
            break;
        case TW_TYPE_INT_ARRAY:
            tw__pb_len_header(b, F_ARRAY_VALUES, TAG1 + tw__pb_varint_size((uint64_t)v->u.ia[i]));
            tw__pb_uint64(b, F_ANY_INT, (uint64_t)v->u.ia[i]);
            break;
        case TW_TYPE_DOUBLE_ARRAY:
            tw__pb_len_header(b, F_ARRAY_VALUES, TAG1 + 8);
            tw__pb_double(b, F_ANY_DOUBLE, v->u.da[i]);
            break;
        default: break;
        }
    }
}

static void put_kv(tw__buf *b, uint32_t field, const tw__kv *kv) {
    pstr key = mkstr(kv->key, kv->key_len), str = {0};
    if (kv->val.type == TW_TYPE_STRING) str = mkstr(kv->val.u.s, kv->val.n);
    size_t any = any_size(&kv->val, &str);
    size_t body = (key.len ? str_field_size(key.len) : 0) + str_field_size(any);
    tw__pb_len_header(b, field, body);
    if (key.len) put_pstr(b, F_KV_KEY, key);
    tw__pb_len_header(b, F_KV_VALUE, any);
    put_any_body(b, &kv->val, &str);
}

static void put_kvlist(tw__buf *b, uint32_t field, uint32_t dropped_field, const tw__kvlist *l) {
    for (uint32_t i = 0; i < l->n; i++) put_kv(b, field, &l->items[i]);
    if (l->dropped) tw__pb_uint64(b, dropped_field, l->dropped);
}

/* ---- spans ----------------------------------------------------------------- */

static int put_tracestate(tw__buf *b, uint32_t field, const tw_tracestate *ts) {
    char small[512], *heap;
    const char *s;
    int n = tw__otlp_tracestate(ts, small, sizeof small, &heap, &s);
    if (n > 0) put_str(b, field, s, (size_t)n);
    tw__free(heap);
    return n < 0 ? n : 0;
}

/* A guess of the width of a nested message's length prefix. */
static unsigned guess_width(uint32_t n_attrs) { return n_attrs > 2 ? 2 : 1; }

static void put_event(tw__buf *b, const tw__event *ev) {
    tw__pb_mark m = tw__pb_begin(b, F_SPAN_EVENTS, guess_width(ev->attrs.n));
    if (ev->time_ns) tw__pb_fixed64(b, F_EV_TIME, ev->time_ns);
    put_str(b, F_EV_NAME, ev->name, ev->name_len);
    put_kvlist(b, F_EV_ATTRIBUTES, F_EV_DROPPED, &ev->attrs);
    tw__pb_end(b, m);
}

static void put_link(tw__buf *b, const tw__link *l) {
    tw__pb_mark m = tw__pb_begin(b, F_SPAN_LINKS, guess_width(l->attrs.n) + 1);
    tw__pb_bytes(b, F_LINK_TRACE_ID, l->trace_id.bytes, TW_TRACE_ID_SIZE);
    tw__pb_bytes(b, F_LINK_SPAN_ID, l->span_id.bytes, TW_SPAN_ID_SIZE);
    put_str(b, F_LINK_TRACE_STATE, l->state, l->state_len);
    put_kvlist(b, F_LINK_ATTRIBUTES, F_LINK_DROPPED, &l->attrs);
    tw__pb_fixed32(b, F_LINK_FLAGS, tw__otlp_link_flags(l));
    tw__pb_end(b, m);
}

static int put_span(tw__buf *b, const tw_span *s) {
    tw__pb_mark m = tw__pb_begin(b, F_SS_SPANS, 2);
    tw__pb_bytes(b, F_SPAN_TRACE_ID, s->ctx.trace_id.bytes, TW_TRACE_ID_SIZE);
    tw__pb_bytes(b, F_SPAN_SPAN_ID, s->ctx.span_id.bytes, TW_SPAN_ID_SIZE);
    int rc = put_tracestate(b, F_SPAN_TRACE_STATE, s->ctx.state);
    if (s->has_parent) tw__pb_bytes(b, F_SPAN_PARENT, s->parent_id.bytes, TW_SPAN_ID_SIZE);
    put_str(b, F_SPAN_NAME, s->name, s->name_len);
    if (s->kind) tw__pb_uint64(b, F_SPAN_KIND, s->kind);
    if (s->start_ns) tw__pb_fixed64(b, F_SPAN_START, s->start_ns);
    if (s->end_ns) tw__pb_fixed64(b, F_SPAN_END, s->end_ns);
    put_kvlist(b, F_SPAN_ATTRIBUTES, F_SPAN_DROPPED_ATTRS, &s->attrs);
    for (uint32_t i = 0; i < s->n_events; i++) put_event(b, &s->events[i]);
    if (s->dropped_events) tw__pb_uint64(b, F_SPAN_DROPPED_EVENTS, s->dropped_events);
    for (uint32_t i = 0; i < s->n_links; i++) put_link(b, &s->links[i]);
    if (s->dropped_links) tw__pb_uint64(b, F_SPAN_DROPPED_LINKS, s->dropped_links);
    if (s->status != TW_STATUS_UNSET || s->status_msg_len) {
        pstr msg = mkstr(s->status_msg, s->status_msg_len);
        size_t body = (msg.len ? str_field_size(msg.len) : 0) + (s->status ? TAG1 + 1 : 0);
        tw__pb_len_header(b, F_SPAN_STATUS, body);
        if (msg.len) put_pstr(b, F_STATUS_MESSAGE, msg);
        if (s->status) tw__pb_uint64(b, F_STATUS_CODE, s->status);
    }
    tw__pb_fixed32(b, F_SPAN_FLAGS, tw__otlp_span_flags(s));
    tw__pb_end(b, m);
    return rc;
}

/* An InstrumentationScope (field 1 of ScopeSpans and of ScopeLogs); NULL
 * strings are empty. */
static void put_scope(tw__buf *b, const char *name_s, const char *version_s) {
    pstr name = mkstr(name_s ? name_s : "", name_s ? strlen(name_s) : 0);
    pstr version = mkstr(version_s ? version_s : "", version_s ? strlen(version_s) : 0);
    size_t body = (name.len ? str_field_size(name.len) : 0) + (version.len ? str_field_size(version.len) : 0);
    tw__pb_len_header(b, F_SS_SCOPE, body);
    if (name.len) put_pstr(b, F_SCOPE_NAME, name);
    if (version.len) put_pstr(b, F_SCOPE_VERSION, version);
}

int tw__otlp_traces_pb(tw__buf *out, tw_span *const *spans, size_t n) {
    tw__otlp_groups g;
    int rc = tw__otlp_group(&g, spans, n);
    if (rc) return out->failed ? out->failed : (out->failed = rc);
    for (uint32_t r = 0; r < g.n_res; r++) {
        const tw__otlp_scope *first = &g.scopes[g.res_start[r]];
        tw__pb_mark rm = tw__pb_begin(out, F_REQ_RESOURCE_SPANS, 3);
        tw__pb_mark res = tw__pb_begin(out, F_RS_RESOURCE, 2);
        const tw__kvlist *attrs = tw__span_resource(spans[first->first]);
        if (attrs) put_kvlist(out, F_RES_ATTRIBUTES, F_RES_DROPPED, attrs);
        tw__pb_end(out, res);
        for (uint32_t s = g.res_start[r]; s < g.res_start[r + 1]; s++) {
            const tw__otlp_scope *sc = &g.scopes[s];
            tw__pb_mark sm = tw__pb_begin(out, F_RS_SCOPE_SPANS, 3);
            put_scope(out, sc->tracer ? sc->tracer->name : NULL, sc->tracer ? sc->tracer->version : NULL);
            for (uint32_t i = sc->first; i != TW__OTLP_END; i = g.next[i]) {
                int e = put_span(out, spans[i]);
                if (e && !rc) rc = e;
            }
            tw__pb_end(out, sm);
        }
        tw__pb_end(out, rm);
    }
    tw__otlp_groups_free(&g);
    if (rc && !out->failed) out->failed = rc;
    return out->failed;
}

/* ---- logs ------------------------------------------------------------------- */

static void put_log_record(tw__buf *b, const tw__log_record *r) {
    tw__pb_mark m = tw__pb_begin(b, F_SL_LOG_RECORDS, 2);
    if (r->time_ns) tw__pb_fixed64(b, F_LR_TIME, r->time_ns);
    if (r->severity) tw__pb_uint64(b, F_LR_SEVERITY, r->severity);
    const char *text = tw__log_severity_text(r->severity);
    put_str(b, F_LR_SEVERITY_TEXT, text, strlen(text));
    tw__value body = {.type = TW_TYPE_STRING, .n = r->body_len, .u.s = r->body};
    pstr str = mkstr(r->body, r->body_len);
    tw__pb_len_header(b, F_LR_BODY, any_size(&body, &str));
    put_any_body(b, &body, &str);
    put_kvlist(b, F_LR_ATTRIBUTES, F_LR_DROPPED, &r->attrs);
    if (r->has_trace) {
        tw__pb_fixed32(b, F_LR_FLAGS, r->trace_flags);
        tw__pb_bytes(b, F_LR_TRACE_ID, r->trace_id.bytes, TW_TRACE_ID_SIZE);
        tw__pb_bytes(b, F_LR_SPAN_ID, r->span_id.bytes, TW_SPAN_ID_SIZE);
    }
    if (r->observed_ns) tw__pb_fixed64(b, F_LR_OBSERVED, r->observed_ns);
    tw__pb_end(b, m);
}

int tw__otlp_logs_pb(tw__buf *out, const tw__log_batch *lb) {
    if (!lb->n) return out->failed;
    tw__pb_mark rm = tw__pb_begin(out, F_REQ_RESOURCE_LOGS, 3);
    tw__pb_mark res = tw__pb_begin(out, F_RL_RESOURCE, 2);
    if (lb->resource) put_kvlist(out, F_RES_ATTRIBUTES, F_RES_DROPPED, lb->resource);
    tw__pb_end(out, res);
    tw__pb_mark sm = tw__pb_begin(out, F_RL_SCOPE_LOGS, 3);
    put_scope(out, lb->scope_name, lb->scope_version);
    for (size_t i = 0; i < lb->n; i++) put_log_record(out, lb->records[i]);
    tw__pb_end(out, sm);
    tw__pb_end(out, rm);
    return out->failed;
}
