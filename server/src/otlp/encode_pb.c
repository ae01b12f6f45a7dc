/*
 * encode_pb.c — spans of decoded batches back to OTLP protobuf: the
 * `repeated ResourceSpans` of an ExportTraceServiceRequest, TracesData or
 * Tempo's Trace (field numbers in decode_pb.c's header).
 *
 * Grouping: within one selection, spans are grouped into one ResourceSpans
 * per resource and one ScopeSpans per scope, both in order of first
 * appearance, spans in selection order within their scope. Selections are
 * written one after the other and are not merged with each other: a
 * resource or scope that occurs in several selections (pieces of one trace
 * from different batches) is written once per selection. That is valid
 * OTLP, every consumer concatenates, and it needs no cross-batch identity
 * of resources (which the model does not have).
 *
 * Output: proto3 defaults are omitted (empty strings, zero counts, times
 * and flags, kind 0, a status with neither code nor message), except that
 * the resource and scope messages are always written and a set AnyValue
 * member is written even when zero or empty, so that "" stays apart from an
 * empty value. Ids are always written (16 and 8 bytes), a parent id only
 * when has_parent. Strings are written as stored: a decoded batch holds
 * valid UTF-8 (model.h), so they are not checked again.
 *
 * Sizes: a KeyValue with a scalar or string value has its length computed
 * up front; arrays, kvlists and everything above a KeyValue are written
 * between tw__pb_begin() and tw__pb_end() with a guessed length width.
 */
#include <assert.h>

#include "common/pb.h"
#include "otlp/model.h"

enum {
    F_RS_RESOURCE = 1, F_RS_SCOPE_SPANS = 2, F_RS_SCHEMA = 3,
    F_RES_ATTRS = 1, F_RES_DROPPED = 2,
    F_SS_SCOPE = 1, F_SS_SPANS = 2, F_SS_SCHEMA = 3,
    F_SC_NAME = 1, F_SC_VERSION = 2, F_SC_ATTRS = 3, F_SC_DROPPED = 4,
    F_SP_TRACE_ID = 1, F_SP_SPAN_ID = 2, F_SP_STATE = 3, F_SP_PARENT = 4, F_SP_NAME = 5, F_SP_KIND = 6,
    F_SP_START = 7, F_SP_END = 8, F_SP_ATTRS = 9, F_SP_DROPPED_ATTRS = 10, F_SP_EVENTS = 11,
    F_SP_DROPPED_EVENTS = 12, F_SP_LINKS = 13, F_SP_DROPPED_LINKS = 14, F_SP_STATUS = 15, F_SP_FLAGS = 16,
    F_EV_TIME = 1, F_EV_NAME = 2, F_EV_ATTRS = 3, F_EV_DROPPED = 4,
    F_LK_TRACE_ID = 1, F_LK_SPAN_ID = 2, F_LK_STATE = 3, F_LK_ATTRS = 4, F_LK_DROPPED = 5, F_LK_FLAGS = 6,
    F_ST_MESSAGE = 2, F_ST_CODE = 3,
    F_KV_KEY = 1, F_KV_VALUE = 2,
    F_AV_STRING = 1, F_AV_BOOL = 2, F_AV_INT = 3, F_AV_DOUBLE = 4, F_AV_ARRAY = 5, F_AV_KVLIST = 6,
    F_AV_BYTES = 7,
    F_LIST_VALUES = 1,
};

#define NONE UINT32_MAX

static inline size_t slen(tw_str s) { return tw__str_len(s); }

/* A string field, omitted when empty. */
static inline void put_str(tw__buf *b, uint32_t field, tw_str s) {
    size_t n = slen(s);
    if (n) tw__pb_bytes(b, field, s.ptr, n);
}

/* Size of a LEN field with a one-byte tag (every field below 16). */
static inline size_t len_field_size(size_t n) { return 1 + tw__pb_varint_size(n) + n; }

/* ---- values -------------------------------------------------------------------- */

static void put_value(tw__buf *b, uint32_t field, const tws_value *v);

static void put_kv(tw__buf *b, uint32_t field, const tws_kv *kv);

/* Body size of an AnyValue holding a scalar or a string; 0 for containers. */
static inline size_t scalar_body_size(const tws_value *v, bool *container) {
    *container = false;
    switch (v->type) {
    case TWS_STRING:
    case TWS_BYTES: return len_field_size(slen(v->u.s));
    case TWS_BOOL: return 2;
    case TWS_INT: return 1 + tw__pb_varint_size((uint64_t)v->u.i);
    case TWS_DOUBLE: return 9;
    case TWS_ARRAY:
    case TWS_KVLIST: *container = true; return 0;
    default: return 0; /* TWS_EMPTY: an AnyValue with no member */
    }
}

static void put_scalar_body(tw__buf *b, const tws_value *v) {
    switch (v->type) {
    case TWS_STRING: tw__pb_bytes(b, F_AV_STRING, v->u.s.ptr, slen(v->u.s)); break;
    case TWS_BYTES: tw__pb_bytes(b, F_AV_BYTES, v->u.s.ptr, slen(v->u.s)); break;
    case TWS_BOOL: tw__pb_uint64(b, F_AV_BOOL, v->u.b ? 1 : 0); break;
    case TWS_INT: tw__pb_uint64(b, F_AV_INT, (uint64_t)v->u.i); break;
    case TWS_DOUBLE: tw__pb_double(b, F_AV_DOUBLE, v->u.d); break;
    default: break;
    }
}

/* An AnyValue as field `field` of the enclosing message. */
static void put_value(tw__buf *b, uint32_t field, const tws_value *v) {
    bool container;
    size_t body = scalar_body_size(v, &container);
    if (!container) {
        tw__pb_len_header(b, field, body);
        put_scalar_body(b, v);
        return;
    }
    unsigned w = v->n > 4 ? 2 : 1;
    tw__pb_mark outer = tw__pb_begin(b, field, w);
    tw__pb_mark list = tw__pb_begin(b, v->type == TWS_ARRAY ? F_AV_ARRAY : F_AV_KVLIST, w);
    for (uint32_t i = 0; i < v->n; i++) {
        if (v->type == TWS_ARRAY) put_value(b, F_LIST_VALUES, &v->u.arr[i]);
        else put_kv(b, F_LIST_VALUES, &v->u.kv[i]);
    }
    tw__pb_end(b, list);
    tw__pb_end(b, outer);
}

static void put_kv(tw__buf *b, uint32_t field, const tws_kv *kv) {
    bool container;
    size_t klen = slen(kv->key);
    size_t key = klen ? len_field_size(klen) : 0;
    size_t val = scalar_body_size(&kv->val, &container);
    if (container) {
        tw__pb_mark m = tw__pb_begin(b, field, 2);
        if (klen) tw__pb_bytes(b, F_KV_KEY, kv->key.ptr, klen);
        put_value(b, F_KV_VALUE, &kv->val);
        tw__pb_end(b, m);
        return;
    }
    tw__pb_len_header(b, field, key + len_field_size(val));
    if (klen) tw__pb_bytes(b, F_KV_KEY, kv->key.ptr, klen);
    tw__pb_len_header(b, F_KV_VALUE, val);
    put_scalar_body(b, &kv->val);
}

static void put_attrs(tw__buf *b, uint32_t field, uint32_t dropped_field, const tws_attrs *a) {
    for (uint32_t i = 0; i < a->n; i++) put_kv(b, field, &a->items[i]);
    if (a->dropped) tw__pb_uint64(b, dropped_field, a->dropped);
}

/* ---- spans --------------------------------------------------------------------- */

static void put_event(tw__buf *b, const tws_event *ev) {
    tw__pb_mark m = tw__pb_begin(b, F_SP_EVENTS, ev->attrs.n > 2 ? 2 : 1);
    if (ev->time_ns) tw__pb_fixed64(b, F_EV_TIME, ev->time_ns);
    put_str(b, F_EV_NAME, ev->name);
    put_attrs(b, F_EV_ATTRS, F_EV_DROPPED, &ev->attrs);
    tw__pb_end(b, m);
}

static void put_link(tw__buf *b, const tws_link *l) {
    tw__pb_mark m = tw__pb_begin(b, F_SP_LINKS, l->attrs.n > 1 ? 2 : 1);
    tw__pb_bytes(b, F_LK_TRACE_ID, l->trace_id, sizeof l->trace_id);
    tw__pb_bytes(b, F_LK_SPAN_ID, l->span_id, sizeof l->span_id);
    put_str(b, F_LK_STATE, l->trace_state);
    put_attrs(b, F_LK_ATTRS, F_LK_DROPPED, &l->attrs);
    if (l->flags) tw__pb_fixed32(b, F_LK_FLAGS, l->flags);
    tw__pb_end(b, m);
}

static void put_span(tw__buf *b, const tws_span *s) {
    tw__pb_mark m = tw__pb_begin(b, F_SS_SPANS, 2);
    tw__pb_bytes(b, F_SP_TRACE_ID, s->trace_id, sizeof s->trace_id);
    tw__pb_bytes(b, F_SP_SPAN_ID, s->span_id, sizeof s->span_id);
    put_str(b, F_SP_STATE, s->trace_state);
    if (s->has_parent) tw__pb_bytes(b, F_SP_PARENT, s->parent_span_id, sizeof s->parent_span_id);
    put_str(b, F_SP_NAME, s->name);
    if (s->kind) tw__pb_uint64(b, F_SP_KIND, s->kind);
    if (s->start_ns) tw__pb_fixed64(b, F_SP_START, s->start_ns);
    if (s->end_ns) tw__pb_fixed64(b, F_SP_END, s->end_ns);
    put_attrs(b, F_SP_ATTRS, F_SP_DROPPED_ATTRS, &s->attrs);
    for (uint32_t i = 0; i < s->n_events; i++) put_event(b, &s->events[i]);
    if (s->dropped_events) tw__pb_uint64(b, F_SP_DROPPED_EVENTS, s->dropped_events);
    for (uint32_t i = 0; i < s->n_links; i++) put_link(b, &s->links[i]);
    if (s->dropped_links) tw__pb_uint64(b, F_SP_DROPPED_LINKS, s->dropped_links);
    size_t msg = slen(s->status_message);
    if (s->status_code || msg) {
        tw__pb_len_header(b, F_SP_STATUS, (msg ? len_field_size(msg) : 0) + (s->status_code ? 2 : 0));
        if (msg) tw__pb_bytes(b, F_ST_MESSAGE, s->status_message.ptr, msg);
        if (s->status_code) tw__pb_uint64(b, F_ST_CODE, s->status_code);
    }
    if (s->flags) tw__pb_fixed32(b, F_SP_FLAGS, s->flags);
    tw__pb_end(b, m);
}

static void put_scope(tw__buf *b, const tws_scope *sc) {
    tw__pb_mark m = tw__pb_begin(b, F_SS_SCOPE, sc->attrs.n ? 2 : 1);
    put_str(b, F_SC_NAME, sc->name);
    put_str(b, F_SC_VERSION, sc->version);
    put_attrs(b, F_SC_ATTRS, F_SC_DROPPED, &sc->attrs);
    tw__pb_end(b, m);
}

static void put_resource(tw__buf *b, const tws_resource *r) {
    tw__pb_mark m = tw__pb_begin(b, F_RS_RESOURCE, r->attrs.n > 2 ? 2 : 1);
    put_attrs(b, F_RES_ATTRS, F_RES_DROPPED, &r->attrs);
    tw__pb_end(b, m);
}

/* ---- grouping ------------------------------------------------------------------ */

/* Linked lists over one selection, all indices (NONE ends a list):
 * the resources in order of first appearance; per resource its scopes in
 * order of first appearance; per scope its spans (positions in the
 * selection) in selection order. */
typedef struct groups {
    uint32_t *res_next, *res_scope_head, *res_scope_tail; /* per resource */
    uint32_t *scope_next, *scope_head, *scope_tail;       /* per scope */
    uint32_t *span_next;                                  /* per position */
    uint32_t res_head, res_tail;
} groups;

static int group(const tws_selection *sel, size_t n, groups *g, uint32_t **mem) {
    const tws_batch *bt = sel->batch;
    size_t nr = bt->n_resources, ns = bt->n_scopes;
    size_t words = 3 * nr + 3 * ns + n;
    uint32_t *w = tw__malloc((words ? words : 1) * sizeof *w);
    if (!w) return TW_ENOMEM;
    *mem = w;
    g->res_next = w, w += nr;
    g->res_scope_head = w, w += nr;
    g->res_scope_tail = w, w += nr;
    g->scope_next = w, w += ns;
    g->scope_head = w, w += ns;
    g->scope_tail = w, w += ns;
    g->span_next = w;
    /* Only the heads need a value up front: the rest is written before it is read. */
    memset(g->res_scope_head, 0xff, nr * sizeof *w);
    memset(g->scope_head, 0xff, ns * sizeof *w);
    g->res_head = g->res_tail = NONE;
    for (size_t k = 0; k < n; k++) {
        uint32_t si = sel->idx ? sel->idx[k] : (uint32_t)k;
        assert(si < bt->n_spans);
        if (TW_UNLIKELY(si >= bt->n_spans)) continue;
        const tws_span *s = &bt->spans[si];
        if (!sel->idx && s->reject) continue;
        uint32_t sc = s->scope_idx;
        assert(sc < ns && bt->scopes[sc].resource_idx < nr);
        if (TW_UNLIKELY(sc >= ns || bt->scopes[sc].resource_idx >= nr)) continue;
        g->span_next[k] = NONE;
        if (g->scope_head[sc] != NONE) {
            g->span_next[g->scope_tail[sc]] = (uint32_t)k;
            g->scope_tail[sc] = (uint32_t)k;
            continue;
        }
        g->scope_head[sc] = g->scope_tail[sc] = (uint32_t)k;
        g->scope_next[sc] = NONE;
        uint32_t r = bt->scopes[sc].resource_idx;
        if (g->res_scope_head[r] == NONE) {
            g->res_scope_head[r] = sc;
            g->res_next[r] = NONE;
            if (g->res_head == NONE) g->res_head = r;
            else g->res_next[g->res_tail] = r;
            g->res_tail = r;
        } else {
            g->scope_next[g->res_scope_tail[r]] = sc;
        }
        g->res_scope_tail[r] = sc;
    }
    return 0;
}

static int encode_selection(const tws_selection *sel, uint32_t field_no, tw__buf *out) {
    const tws_batch *bt = sel->batch;
    if (!bt) return 0;
    size_t n = sel->idx ? sel->n : bt->n_spans;
    if (n == 0) return 0;
    if (n >= NONE) return TW_EINVAL; /* positions are uint32 */
    groups g;
    uint32_t *mem = NULL;
    int rc = group(sel, n, &g, &mem);
    if (rc) return rc;
    for (uint32_t r = g.res_head; r != NONE; r = g.res_next[r]) {
        const tws_resource *res = &bt->resources[r];
        tw__pb_mark rm = tw__pb_begin(out, field_no, 3);
        put_resource(out, res);
        for (uint32_t sc = g.res_scope_head[r]; sc != NONE; sc = g.scope_next[sc]) {
            const tws_scope *scope = &bt->scopes[sc];
            tw__pb_mark sm = tw__pb_begin(out, F_RS_SCOPE_SPANS, 3);
            put_scope(out, scope);
            for (uint32_t k = g.scope_head[sc]; k != NONE; k = g.span_next[k])
                put_span(out, &bt->spans[sel->idx ? sel->idx[k] : k]);
            put_str(out, F_SS_SCHEMA, scope->schema_url);
            tw__pb_end(out, sm);
        }
        put_str(out, F_RS_SCHEMA, res->schema_url);
        tw__pb_end(out, rm);
        if (out->failed) break;
    }
    tw__free(mem);
    return 0;
}

int tws_otlp_encode_pb(const tws_selection *sel, size_t n_sel, uint32_t field_no, tw__buf *out) {
    for (size_t i = 0; i < n_sel && !out->failed; i++) {
        int rc = encode_selection(&sel[i], field_no, out);
        if (rc && !out->failed) out->failed = rc;
    }
    return out->failed;
}

/* ---- logs ---------------------------------------------------------------------------- */

enum {
    F_RL_SCOPE_LOGS = 2, F_RL_SCHEMA = 3, F_SL_LOGS = 2, F_SL_SCHEMA = 3,
    F_LR_TIME = 1, F_LR_SEVERITY = 2, F_LR_SEVERITY_TEXT = 3, F_LR_BODY = 5, F_LR_ATTRS = 6, F_LR_DROPPED = 7,
    F_LR_FLAGS = 8, F_LR_TRACE_ID = 9, F_LR_SPAN_ID = 10, F_LR_OBSERVED = 11, F_LR_EVENT_NAME = 12,
};

static void put_log(tw__buf *b, const tws_log *l) {
    tw__pb_mark m = tw__pb_begin(b, F_SL_LOGS, 2);
    if (l->time_ns) tw__pb_fixed64(b, F_LR_TIME, l->time_ns);
    if (l->severity) tw__pb_uint64(b, F_LR_SEVERITY, l->severity);
    put_str(b, F_LR_SEVERITY_TEXT, l->severity_text);
    if (l->body.type != TWS_EMPTY) put_value(b, F_LR_BODY, &l->body);
    put_attrs(b, F_LR_ATTRS, F_LR_DROPPED, &l->attrs);
    if (l->flags) tw__pb_fixed32(b, F_LR_FLAGS, l->flags);
    if (l->has_trace_id) tw__pb_bytes(b, F_LR_TRACE_ID, l->trace_id, sizeof l->trace_id);
    if (l->has_span_id) tw__pb_bytes(b, F_LR_SPAN_ID, l->span_id, sizeof l->span_id);
    if (l->observed_ns) tw__pb_fixed64(b, F_LR_OBSERVED, l->observed_ns);
    put_str(b, F_LR_EVENT_NAME, l->event_name);
    tw__pb_end(b, m);
}

/* Runs of records sharing a scope become one ScopeLogs, runs of scopes
 * sharing a resource one ResourceLogs: a decoded batch is in request order,
 * so this gives back the request's own grouping. */
int tws_otlp_encode_logs_pb(const tws_batch *bt, uint32_t field_no, tw__buf *out) {
    uint32_t i = 0, n = bt->n_logs;
    while (i < n && !out->failed) {
        if (bt->logs[i].reject) {
            i++;
            continue;
        }
        uint32_t sc = bt->logs[i].scope_idx;
        if (sc >= bt->n_scopes || bt->scopes[sc].resource_idx >= bt->n_resources) return TW_EINVAL;
        uint32_t r = bt->scopes[sc].resource_idx;
        tw__pb_mark rm = tw__pb_begin(out, field_no, 3);
        put_resource(out, &bt->resources[r]);
        while (i < n && bt->scopes[bt->logs[i].scope_idx].resource_idx == r) {
            sc = bt->logs[i].scope_idx;
            tw__pb_mark sm = tw__pb_begin(out, F_RL_SCOPE_LOGS, 3);
            put_scope(out, &bt->scopes[sc]);
            for (; i < n && bt->logs[i].scope_idx == sc; i++)
                if (!bt->logs[i].reject) put_log(out, &bt->logs[i]);
            put_str(out, F_SL_SCHEMA, bt->scopes[sc].schema_url);
            tw__pb_end(out, sm);
            while (i < n && bt->logs[i].reject) i++;
            if (i < n && (bt->logs[i].scope_idx >= bt->n_scopes ||
                          bt->scopes[bt->logs[i].scope_idx].resource_idx >= bt->n_resources))
                return TW_EINVAL;
        }
        put_str(out, F_RL_SCHEMA, bt->resources[r].schema_url);
        tw__pb_end(out, rm);
    }
    return out->failed;
}
