/*
 * encode_json.c — spans of decoded batches as a JSON array of ResourceSpans.
 *
 * The protobuf JSON mapping with OTLP/JSON's rules, as the SDK's encoder
 * (sdk/src/export/otlp_json.c) writes it:
 *  - lowerCamelCase member names; enums (kind, status code) as integers;
 *  - fixed64 / int64 (times, intValue) as decimal strings, uint32 / fixed32
 *    (counts, flags) as numbers, doubles as numbers with NaN and the
 *    infinities as strings, bytesValue in base64;
 *  - trace and span ids in hex (OTLP/JSON) or base64 (the plain mapping,
 *    what Tempo's /api/traces returns), as the caller asks;
 *  - members holding their default value (0, "", empty list) are left out,
 *    except the messages resource, scope and KeyValue.value, which are
 *    always written (possibly as {}), and a set AnyValue member.
 *
 * Grouping: the spans of one selection are written under one ResourceSpans
 * per resource and one ScopeSpans per scope, in order of first appearance,
 * each span in selection order within its scope. Spans pointing at a scope
 * or resource the batch does not have are skipped.
 *
 * The writer (common/json.h) keeps track of 64 levels; AnyValue can nest
 * deeper (each array level costs 3, each kvlist level 4), so deep values
 * continue in a fresh writer on the same buffer once the outer one has
 * put the separator.
 */
#include "common/json.h"
#include "otlp/model.h"

static void put_id(tw__json *j, const uint8_t *p, size_t n, tws_id_encoding ids) {
    if (ids == TWS_IDS_BASE64)
        tw__json_base64(j, p, n);
    else
        tw__json_hex(j, p, n);
}

static void put_str_member(tw__json *j, const char *key, size_t kn, tw_str s) {
    if (!s.len) return;
    tw__json_key_plain(j, key, kn);
    tw__json_string(j, s.ptr, s.len);
}

#define KEY(j, lit) tw__json_key_plain((j), lit, sizeof lit - 1)
#define STR_MEMBER(j, lit, s) put_str_member((j), lit, sizeof lit - 1, (s))

static void put_kvs(tw__json *j, const tws_kv *kv, uint32_t n);

static void put_value(tw__json *j, const tws_value *v) {
    if (j->depth > TW_JSON_MAX_DEPTH - 8) {
        tw__json_raw(j, "", 0); /* the outer writer's separator */
        tw__json inner;
        tw__json_init(&inner, j->b);
        put_value(&inner, v);
        return;
    }
    tw__json_begin_object(j);
    switch (v->type) {
    case TWS_STRING:
        KEY(j, "stringValue");
        tw__json_string(j, v->u.s.ptr, v->u.s.len);
        break;
    case TWS_BOOL:
        KEY(j, "boolValue");
        tw__json_bool(j, v->u.b);
        break;
    case TWS_INT:
        KEY(j, "intValue");
        tw__json_int64_string(j, v->u.i);
        break;
    case TWS_DOUBLE:
        KEY(j, "doubleValue");
        tw__json_double(j, v->u.d);
        break;
    case TWS_BYTES:
        KEY(j, "bytesValue");
        tw__json_base64(j, (const uint8_t *)v->u.s.ptr, v->u.s.len);
        break;
    case TWS_ARRAY:
        KEY(j, "arrayValue");
        tw__json_begin_object(j);
        if (v->n) {
            KEY(j, "values");
            tw__json_begin_array(j);
            for (uint32_t i = 0; i < v->n; i++) put_value(j, &v->u.arr[i]);
            tw__json_end_array(j);
        }
        tw__json_end_object(j);
        break;
    case TWS_KVLIST:
        KEY(j, "kvlistValue");
        tw__json_begin_object(j);
        if (v->n) {
            KEY(j, "values");
            put_kvs(j, v->u.kv, v->n);
        }
        tw__json_end_object(j);
        break;
    default: break; /* TWS_EMPTY: {} */
    }
    tw__json_end_object(j);
}

/* An array of KeyValue. */
static void put_kvs(tw__json *j, const tws_kv *kv, uint32_t n) {
    tw__json_begin_array(j);
    for (uint32_t i = 0; i < n; i++) {
        tw__json_begin_object(j);
        STR_MEMBER(j, "key", kv[i].key);
        KEY(j, "value");
        put_value(j, &kv[i].val);
        tw__json_end_object(j);
    }
    tw__json_end_array(j);
}

static void put_attrs(tw__json *j, const tws_attrs *a) {
    if (a->n) {
        KEY(j, "attributes");
        put_kvs(j, a->items, a->n);
    }
    if (a->dropped) {
        KEY(j, "droppedAttributesCount");
        tw__json_uint64(j, a->dropped);
    }
}

static void put_time(tw__json *j, const char *key, size_t kn, uint64_t t) {
    if (!t) return;
    tw__json_key_plain(j, key, kn);
    tw__json_uint64_string(j, t);
}

static void put_count(tw__json *j, const char *key, size_t kn, uint32_t n) {
    if (!n) return;
    tw__json_key_plain(j, key, kn);
    tw__json_uint64(j, n);
}

#define TIME(j, lit, t) put_time((j), lit, sizeof lit - 1, (t))
#define COUNT(j, lit, n) put_count((j), lit, sizeof lit - 1, (n))

static void put_span(tw__json *j, const tws_span *s, tws_id_encoding ids) {
    tw__json_begin_object(j);
    KEY(j, "traceId");
    put_id(j, s->trace_id, sizeof s->trace_id, ids);
    KEY(j, "spanId");
    put_id(j, s->span_id, sizeof s->span_id, ids);
    STR_MEMBER(j, "traceState", s->trace_state);
    if (s->has_parent) {
        KEY(j, "parentSpanId");
        put_id(j, s->parent_span_id, sizeof s->parent_span_id, ids);
    }
    COUNT(j, "flags", s->flags);
    STR_MEMBER(j, "name", s->name);
    COUNT(j, "kind", s->kind);
    TIME(j, "startTimeUnixNano", s->start_ns);
    TIME(j, "endTimeUnixNano", s->end_ns);
    put_attrs(j, &s->attrs);
    if (s->n_events) {
        KEY(j, "events");
        tw__json_begin_array(j);
        for (uint32_t i = 0; i < s->n_events; i++) {
            const tws_event *e = &s->events[i];
            tw__json_begin_object(j);
            TIME(j, "timeUnixNano", e->time_ns);
            STR_MEMBER(j, "name", e->name);
            put_attrs(j, &e->attrs);
            tw__json_end_object(j);
        }
        tw__json_end_array(j);
    }
    COUNT(j, "droppedEventsCount", s->dropped_events);
    if (s->n_links) {
        KEY(j, "links");
        tw__json_begin_array(j);
        for (uint32_t i = 0; i < s->n_links; i++) {
            const tws_link *l = &s->links[i];
            tw__json_begin_object(j);
            KEY(j, "traceId");
            put_id(j, l->trace_id, sizeof l->trace_id, ids);
            KEY(j, "spanId");
            put_id(j, l->span_id, sizeof l->span_id, ids);
            STR_MEMBER(j, "traceState", l->trace_state);
            put_attrs(j, &l->attrs);
            COUNT(j, "flags", l->flags);
            tw__json_end_object(j);
        }
        tw__json_end_array(j);
    }
    COUNT(j, "droppedLinksCount", s->dropped_links);
    if (s->status_code || s->status_message.len) {
        KEY(j, "status");
        tw__json_begin_object(j);
        STR_MEMBER(j, "message", s->status_message);
        COUNT(j, "code", s->status_code);
        tw__json_end_object(j);
    }
    tw__json_end_object(j);
}

/*
 * Grouping of one selection, in index arrays (one allocation):
 *  - span k of the selection (in order) -> next span of its scope group;
 *  - scope group g: first / last span, scope index, next scope group of the
 *    same resource group;
 *  - resource group r: first / last scope group, resource index.
 */
#define NONE UINT32_MAX

typedef struct groups {
    uint32_t *mem;
    uint32_t *span, *span_next;                   /* n: batch index, next in scope group */
    uint32_t *sg_first, *sg_last, *sg_scope, *sg_next; /* per scope group */
    uint32_t *rg_first, *rg_last, *rg_res;        /* per resource group */
    uint32_t *scope_group, *res_group;            /* batch scope / resource -> group */
    uint32_t n, n_sg, n_rg;
} groups;

static int group(const tws_selection *sel, groups *g) {
    const tws_batch *b = sel->batch;
    size_t n = sel->idx ? sel->n : b->n_spans;
    memset(g, 0, sizeof *g);
    if (n > UINT32_MAX - 1) return TW_EINVAL;
    size_t words = 9 * n + b->n_scopes + b->n_resources;
    if (!words) return 0;
    if (words > SIZE_MAX / sizeof(uint32_t)) return TW_ENOMEM;
    uint32_t *m = g->mem = tw__malloc(words * sizeof(uint32_t));
    if (!m) return TW_ENOMEM;
    g->span = m, m += n;
    g->span_next = m, m += n;
    g->sg_first = m, m += n;
    g->sg_last = m, m += n;
    g->sg_scope = m, m += n;
    g->sg_next = m, m += n;
    g->rg_first = m, m += n;
    g->rg_last = m, m += n;
    g->rg_res = m, m += n;
    g->scope_group = m, m += b->n_scopes;
    g->res_group = m;
    for (uint32_t i = 0; i < b->n_scopes; i++) g->scope_group[i] = NONE;
    for (uint32_t i = 0; i < b->n_resources; i++) g->res_group[i] = NONE;

    for (size_t k = 0; k < n; k++) {
        uint32_t si;
        if (sel->idx) {
            si = sel->idx[k];
            if (si >= b->n_spans) continue;
        } else {
            si = (uint32_t)k;
            if (b->spans[si].reject) continue;
        }
        uint32_t sc = b->spans[si].scope_idx;
        if (sc >= b->n_scopes || b->scopes[sc].resource_idx >= b->n_resources) continue;
        uint32_t pos = g->n++;
        g->span[pos] = si;
        g->span_next[pos] = NONE;
        uint32_t sg = g->scope_group[sc];
        if (sg == NONE) {
            sg = g->scope_group[sc] = g->n_sg++;
            g->sg_first[sg] = g->sg_last[sg] = pos;
            g->sg_scope[sg] = sc;
            g->sg_next[sg] = NONE;
            uint32_t ri = b->scopes[sc].resource_idx, rg = g->res_group[ri];
            if (rg == NONE) {
                rg = g->res_group[ri] = g->n_rg++;
                g->rg_first[rg] = g->rg_last[rg] = sg;
                g->rg_res[rg] = ri;
            } else {
                g->sg_next[g->rg_last[rg]] = sg;
                g->rg_last[rg] = sg;
            }
        } else {
            g->span_next[g->sg_last[sg]] = pos;
            g->sg_last[sg] = pos;
        }
    }
    return 0;
}

static void put_selection(tw__json *j, const tws_selection *sel, const groups *g, tws_id_encoding ids) {
    const tws_batch *b = sel->batch;
    for (uint32_t rg = 0; rg < g->n_rg; rg++) {
        const tws_resource *r = &b->resources[g->rg_res[rg]];
        tw__json_begin_object(j);
        KEY(j, "resource");
        tw__json_begin_object(j);
        put_attrs(j, &r->attrs);
        tw__json_end_object(j);
        KEY(j, "scopeSpans");
        tw__json_begin_array(j);
        for (uint32_t sg = g->rg_first[rg]; sg != NONE; sg = g->sg_next[sg]) {
            const tws_scope *sc = &b->scopes[g->sg_scope[sg]];
            tw__json_begin_object(j);
            KEY(j, "scope");
            tw__json_begin_object(j);
            STR_MEMBER(j, "name", sc->name);
            STR_MEMBER(j, "version", sc->version);
            put_attrs(j, &sc->attrs);
            tw__json_end_object(j);
            KEY(j, "spans");
            tw__json_begin_array(j);
            for (uint32_t k = g->sg_first[sg]; k != NONE; k = g->span_next[k])
                put_span(j, &b->spans[g->span[k]], ids);
            tw__json_end_array(j);
            STR_MEMBER(j, "schemaUrl", sc->schema_url);
            tw__json_end_object(j);
        }
        tw__json_end_array(j);
        STR_MEMBER(j, "schemaUrl", r->schema_url);
        tw__json_end_object(j);
    }
}

int tws_otlp_encode_json(const tws_selection *sel, size_t n_sel, tws_id_encoding ids, struct tw__json *j) {
    tw__json_begin_array(j);
    for (size_t i = 0; i < n_sel && !j->b->failed; i++) {
        if (!sel[i].batch) continue;
        groups g;
        int rc = group(&sel[i], &g);
        if (rc) {
            if (!j->b->failed) j->b->failed = rc;
            break;
        }
        put_selection(j, &sel[i], &g, ids);
        tw__free(g.mem);
    }
    tw__json_end_array(j);
    return j->b->failed;
}
