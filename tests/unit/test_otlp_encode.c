/*
 * test_otlp_encode.c — the OTLP ExportTraceServiceRequest encoders.
 *
 * Spans are built by hand (a span is plain data, see span_int.h) on a
 * hand-built provider and tracers, so that every field has a known value.
 * The protobuf bytes are decoded field by field with the pb reader and each
 * field's number, wire type and value checked against the opentelemetry-proto
 * definitions, which are spelled out again below independently of the
 * encoder; the JSON is compared with an exact text and parsed back. A last
 * test encodes spans made through the public API.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "export/export_int.h"
#include "common/json.h"
#include "common/pb.h"
#include "memory_exporter.h"
#include "trace/trace_int.h"

/* opentelemetry-proto field numbers (trace.proto, common.proto, resource.proto,
 * trace_service.proto). */
enum { REQ_RESOURCE_SPANS = 1 };
enum { RS_RESOURCE = 1, RS_SCOPE_SPANS = 2, RS_SCHEMA_URL = 3 };
enum { RES_ATTRIBUTES = 1, RES_DROPPED = 2 };
enum { SS_SCOPE = 1, SS_SPANS = 2 };
enum { SCOPE_NAME = 1, SCOPE_VERSION = 2 };
enum {
    SPAN_TRACE_ID = 1, SPAN_SPAN_ID = 2, SPAN_TRACE_STATE = 3, SPAN_PARENT_SPAN_ID = 4, SPAN_NAME = 5,
    SPAN_KIND = 6, SPAN_START = 7, SPAN_END = 8, SPAN_ATTRIBUTES = 9, SPAN_DROPPED_ATTRIBUTES = 10,
    SPAN_EVENTS = 11, SPAN_DROPPED_EVENTS = 12, SPAN_LINKS = 13, SPAN_DROPPED_LINKS = 14, SPAN_STATUS = 15,
    SPAN_FLAGS = 16,
};
enum { EVENT_TIME = 1, EVENT_NAME = 2, EVENT_ATTRIBUTES = 3, EVENT_DROPPED = 4 };
enum { LINK_TRACE_ID = 1, LINK_SPAN_ID = 2, LINK_TRACE_STATE = 3, LINK_ATTRIBUTES = 4, LINK_DROPPED = 5, LINK_FLAGS = 6 };
enum { STATUS_MESSAGE = 2, STATUS_CODE = 3 };
enum { KV_KEY = 1, KV_VALUE = 2 };
enum { ANY_STRING = 1, ANY_BOOL = 2, ANY_INT = 3, ANY_DOUBLE = 4, ANY_ARRAY = 5 };
enum { ARRAY_VALUES = 1 };

/* ---- hand-built spans ---------------------------------------------------------- */

#define KV(k, v) {(k), sizeof(k) - 1, v}
#define VSTR(str) {.type = TW_TYPE_STRING, .n = sizeof(str) - 1, .u.s = (str)}
#define VBOOL(x) {.type = TW_TYPE_BOOL, .u.b = (x)}
#define VINT(x) {.type = TW_TYPE_INT, .u.i = (x)}
#define VDBL(x) {.type = TW_TYPE_DOUBLE, .u.d = (x)}
#define VARR(t, cnt, member, p) {.type = (t), .n = (cnt), .u.member = (p)}

static const tw_str str_items[] = {{"a", 1}, {"", 0}, {"\xc3\xbc", 2}};
static const bool bool_items[] = {true, false};
static const int64_t int_items[] = {0, -5, (int64_t)1 << 40};
static const double dbl_items[] = {1.5, -0.0};

static tw__kv span_attrs[] = {
    KV("http.method", VSTR("GET")),
    KV("empty", VSTR("")),
    KV("quote\"key", VSTR("line\nbreak \xe2\x82\xac")),
    KV("yes", VBOOL(true)),
    KV("no", VBOOL(false)),
    KV("zero", VINT(0)),
    KV("minus", VINT(-1)),
    KV("max", VINT(INT64_MAX)),
    KV("pi", VDBL(3.25)),
    KV("dzero", VDBL(0.0)),
    KV("sa", VARR(TW_TYPE_STRING_ARRAY, 3, sa, str_items)),
    KV("ba", VARR(TW_TYPE_BOOL_ARRAY, 2, ba, bool_items)),
    KV("ia", VARR(TW_TYPE_INT_ARRAY, 3, ia, int_items)),
    KV("da", VARR(TW_TYPE_DOUBLE_ARRAY, 2, da, dbl_items)),
    KV("none", VARR(TW_TYPE_STRING_ARRAY, 0, sa, NULL)),
};
static tw__kv ev_attrs[] = {KV("exception.type", VSTR("E"))};
static tw__kv link_attrs[] = {KV("link.kind", VSTR("x"))};
static tw__kv res1_attrs[] = {KV("service.name", VSTR("checkout")), KV("host.cores", VINT(8))};
static tw__kv res2_attrs[] = {KV("service.name", VSTR("other"))};

typedef struct world {
    struct tw_provider p1, p2;
    struct tw_tracer t1, t2, t3;
    tw__event events[2];
    tw__link links[2];
    tw_span full;
} world;

static void fill_ids(uint8_t *p, size_t n, uint8_t first) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(first + i);
}

/* A minimal ended span: root, INTERNAL, sampled, no attributes. */
static void basic_span(tw_span *s, struct tw_tracer *t, const char *name, uint8_t id) {
    memset(s, 0, sizeof *s);
    s->recording = 1;
    s->ended = 1;
    s->kind = TW_SPAN_KIND_INTERNAL;
    fill_ids(s->ctx.trace_id.bytes, TW_TRACE_ID_SIZE, 0xa0);
    fill_ids(s->ctx.span_id.bytes, TW_SPAN_ID_SIZE, id);
    s->ctx.flags = TW_FLAG_SAMPLED;
    s->start_ns = 1000;
    s->end_ns = 2000;
    s->tracer = t;
    s->name = name;
    s->name_len = (uint32_t)strlen(name);
}

static world *make_world(void) {
    world *w = calloc(1, sizeof *w);
    w->p1.resource = (tw__kvlist){res1_attrs, 2, 2, 7};
    w->p2.resource = (tw__kvlist){res2_attrs, 1, 1, 0};
    w->t1 = (struct tw_tracer){&w->p1, "scope.one", "1.0.0", NULL};
    w->t2 = (struct tw_tracer){&w->p1, "scope.two", NULL, NULL};
    w->t3 = (struct tw_tracer){&w->p2, "scope.three", "3", NULL};

    tw_span *s = &w->full;
    basic_span(s, &w->t1, "GET /checkout", 0x21);
    fill_ids(s->ctx.trace_id.bytes, TW_TRACE_ID_SIZE, 0x01);
    s->ctx.flags = TW_FLAG_SAMPLED | TW_FLAG_RANDOM;
    assert_int_equal(tw_tracestate_parse("vendor=abc,other=x", TW_NTS, &s->ctx.state, NULL), TW_OK);
    s->has_parent = 1;
    s->parent_is_remote = 1;
    fill_ids(s->parent_id.bytes, TW_SPAN_ID_SIZE, 0x31);
    s->kind = TW_SPAN_KIND_SERVER;
    s->start_ns = 1700000000123456789ull;
    s->end_ns = 1700000000124956789ull;
    s->attrs = (tw__kvlist){span_attrs, TW_ARRAY_LEN(span_attrs), TW_ARRAY_LEN(span_attrs), 3};
    w->events[0] = (tw__event){"exception", 9, 1700000000124000000ull, {ev_attrs, 1, 1, 1}};
    w->events[1] = (tw__event){"empty", 5, 0, {NULL, 0, 0, 0}};
    s->events = w->events;
    s->n_events = 2;
    s->dropped_events = 2;
    fill_ids(w->links[0].trace_id.bytes, TW_TRACE_ID_SIZE, 0x41);
    fill_ids(w->links[0].span_id.bytes, TW_SPAN_ID_SIZE, 0x51);
    w->links[0].flags = TW_FLAG_SAMPLED;
    w->links[0].is_remote = true;
    w->links[0].state = "a=b";
    w->links[0].state_len = 3;
    w->links[0].attrs = (tw__kvlist){link_attrs, 1, 1, 4};
    fill_ids(w->links[1].trace_id.bytes, TW_TRACE_ID_SIZE, 0x61);
    fill_ids(w->links[1].span_id.bytes, TW_SPAN_ID_SIZE, 0x71);
    s->links = w->links;
    s->n_links = 2;
    s->dropped_links = 5;
    s->status = TW_STATUS_ERROR;
    s->status_msg = "boom";
    s->status_msg_len = 4;
    return w;
}

static void free_world(world *w) {
    tw_tracestate_unref(w->full.ctx.state);
    free(w);
}

/* ---- protobuf decoding ---------------------------------------------------------- */

static void expect_bytes(const tw__pb_field *f, const void *want, size_t n) {
    assert_int_equal(f->wire, TW_PB_LEN);
    if (f->len != n || (n && memcmp(f->data, want, n)))
        fail_msg("field %u: \"%.*s\" != \"%.*s\"", f->num, (int)f->len, f->data, (int)n, (const char *)want);
}

static void expect_varint(const tw__pb_field *f, uint64_t want) {
    assert_int_equal(f->wire, TW_PB_VARINT);
    if (f->u != want) fail_msg("field %u: %llu != %llu", f->num, (unsigned long long)f->u, (unsigned long long)want);
}

/* An AnyValue holding element `i` of array `v` (or v itself when i < 0). */
static void check_any(const uint8_t *d, size_t n, const tw__value *v, int i) {
    tw__pb_reader r;
    tw__pb_field f;
    tw__pb_reader_init(&r, d, n);
    assert_int_equal(tw__pb_next(&r, &f), 1); /* exactly one member of the oneof */
    tw_value_type t = v->type;
    if (i >= 0) t = (tw_value_type)(t - TW_TYPE_STRING_ARRAY + TW_TYPE_STRING);
    switch (t) {
    case TW_TYPE_STRING:
        assert_int_equal(f.num, ANY_STRING);
        if (i < 0) expect_bytes(&f, v->u.s, v->n);
        else expect_bytes(&f, v->u.sa[i].ptr, v->u.sa[i].len);
        break;
    case TW_TYPE_BOOL:
        assert_int_equal(f.num, ANY_BOOL);
        expect_varint(&f, i < 0 ? v->u.b : v->u.ba[i]);
        break;
    case TW_TYPE_INT:
        assert_int_equal(f.num, ANY_INT);
        expect_varint(&f, (uint64_t)(i < 0 ? v->u.i : v->u.ia[i]));
        break;
    case TW_TYPE_DOUBLE: {
        assert_int_equal(f.num, ANY_DOUBLE);
        assert_int_equal(f.wire, TW_PB_I64);
        double want = i < 0 ? v->u.d : v->u.da[i], got = tw__pb_field_double(&f);
        assert_memory_equal(&got, &want, sizeof got);
        break;
    }
    default: {
        assert_int_equal(f.num, ANY_ARRAY);
        assert_int_equal(f.wire, TW_PB_LEN);
        tw__pb_reader ar;
        tw__pb_field af;
        tw__pb_reader_init(&ar, f.data, f.len);
        for (uint32_t k = 0; k < v->n; k++) {
            assert_int_equal(tw__pb_next(&ar, &af), 1);
            assert_int_equal(af.num, ARRAY_VALUES);
            assert_int_equal(af.wire, TW_PB_LEN);
            check_any(af.data, af.len, v, (int)k);
        }
        assert_int_equal(tw__pb_next(&ar, &af), 0);
    }
    }
    assert_int_equal(tw__pb_next(&r, &f), 0);
}

static void check_kv(const tw__pb_field *outer, const tw__kv *want) {
    assert_int_equal(outer->wire, TW_PB_LEN);
    tw__pb_reader r;
    tw__pb_field f;
    tw__pb_reader_init(&r, outer->data, outer->len);
    bool key = false, value = false;
    while (tw__pb_next(&r, &f) == 1) {
        if (f.num == KV_KEY) {
            assert_false(key);
            key = true;
            expect_bytes(&f, want->key, want->key_len);
        } else if (f.num == KV_VALUE) {
            assert_false(value);
            value = true;
            assert_int_equal(f.wire, TW_PB_LEN);
            check_any(f.data, f.len, &want->val, -1);
        } else {
            fail_msg("KeyValue field %u", f.num);
        }
    }
    assert_true(value);
    assert_true(key || want->key_len == 0);
    assert_ptr_equal(r.p, r.end);
}

static void check_event(const tw__pb_field *outer, const tw__event *want) {
    tw__pb_reader r;
    tw__pb_field f;
    tw__pb_reader_init(&r, outer->data, outer->len);
    uint32_t na = 0, seen = 0;
    while (tw__pb_next(&r, &f) == 1) {
        if (f.num != EVENT_ATTRIBUTES) {
            assert_false(seen & (1u << f.num));
            seen |= 1u << f.num;
        }
        switch (f.num) {
        case EVENT_TIME:
            assert_int_equal(f.wire, TW_PB_I64);
            assert_true(f.u == want->time_ns);
            break;
        case EVENT_NAME: expect_bytes(&f, want->name, want->name_len); break;
        case EVENT_ATTRIBUTES: check_kv(&f, &want->attrs.items[na++]); break;
        case EVENT_DROPPED: expect_varint(&f, want->attrs.dropped); break;
        default: fail_msg("Event field %u", f.num);
        }
    }
    assert_int_equal(na, want->attrs.n);
    assert_int_equal(!!(seen & (1u << EVENT_TIME)), want->time_ns != 0);
    assert_int_equal(!!(seen & (1u << EVENT_NAME)), want->name_len != 0);
    assert_int_equal(!!(seen & (1u << EVENT_DROPPED)), want->attrs.dropped != 0);
}

static void check_link(const tw__pb_field *outer, const tw__link *want, uint32_t want_flags) {
    tw__pb_reader r;
    tw__pb_field f;
    tw__pb_reader_init(&r, outer->data, outer->len);
    uint32_t na = 0, seen = 0;
    while (tw__pb_next(&r, &f) == 1) {
        if (f.num != LINK_ATTRIBUTES) {
            assert_false(seen & (1u << f.num));
            seen |= 1u << f.num;
        }
        switch (f.num) {
        case LINK_TRACE_ID: expect_bytes(&f, want->trace_id.bytes, 16); break;
        case LINK_SPAN_ID: expect_bytes(&f, want->span_id.bytes, 8); break;
        case LINK_TRACE_STATE: expect_bytes(&f, want->state, want->state_len); break;
        case LINK_ATTRIBUTES: check_kv(&f, &want->attrs.items[na++]); break;
        case LINK_DROPPED: expect_varint(&f, want->attrs.dropped); break;
        case LINK_FLAGS:
            assert_int_equal(f.wire, TW_PB_I32);
            assert_int_equal(f.u, want_flags);
            break;
        default: fail_msg("Link field %u", f.num);
        }
    }
    assert_int_equal(na, want->attrs.n);
    uint32_t must = 1u << LINK_TRACE_ID | 1u << LINK_SPAN_ID | 1u << LINK_FLAGS;
    if (want->state_len) must |= 1u << LINK_TRACE_STATE;
    if (want->attrs.dropped) must |= 1u << LINK_DROPPED;
    assert_int_equal(seen, must);
}

/* Everything the decoded span must hold beyond the tw_span itself. */
typedef struct span_expect {
    const char *trace_state; /* NULL: absent */
    uint32_t flags;
    uint32_t link_flags[4];
} span_expect;

static void check_span(const uint8_t *d, size_t n, const tw_span *s, const span_expect *x) {
    tw__pb_reader r;
    tw__pb_field f;
    tw__pb_reader_init(&r, d, n);
    uint32_t seen = 0, na = 0, ne = 0, nl = 0;
    while (tw__pb_next(&r, &f) == 1) {
        if (f.num != SPAN_ATTRIBUTES && f.num != SPAN_EVENTS && f.num != SPAN_LINKS) {
            if (seen & (1u << f.num)) fail_msg("span field %u twice", f.num);
            seen |= 1u << f.num;
        }
        switch (f.num) {
        case SPAN_TRACE_ID: expect_bytes(&f, s->ctx.trace_id.bytes, 16); break;
        case SPAN_SPAN_ID: expect_bytes(&f, s->ctx.span_id.bytes, 8); break;
        case SPAN_TRACE_STATE:
            assert_non_null(x->trace_state);
            expect_bytes(&f, x->trace_state, strlen(x->trace_state));
            break;
        case SPAN_PARENT_SPAN_ID: expect_bytes(&f, s->parent_id.bytes, 8); break;
        case SPAN_NAME: expect_bytes(&f, s->name, s->name_len); break;
        case SPAN_KIND: expect_varint(&f, s->kind); break;
        case SPAN_START:
            assert_int_equal(f.wire, TW_PB_I64);
            assert_true(f.u == s->start_ns);
            break;
        case SPAN_END:
            assert_int_equal(f.wire, TW_PB_I64);
            assert_true(f.u == s->end_ns);
            break;
        case SPAN_ATTRIBUTES: check_kv(&f, &s->attrs.items[na++]); break;
        case SPAN_DROPPED_ATTRIBUTES: expect_varint(&f, s->attrs.dropped); break;
        case SPAN_EVENTS: check_event(&f, &s->events[ne++]); break;
        case SPAN_DROPPED_EVENTS: expect_varint(&f, s->dropped_events); break;
        case SPAN_LINKS:
            check_link(&f, &s->links[nl], x->link_flags[nl]);
            nl++;
            break;
        case SPAN_DROPPED_LINKS: expect_varint(&f, s->dropped_links); break;
        case SPAN_STATUS: {
            tw__pb_reader sr;
            tw__pb_field sf;
            tw__pb_reader_init(&sr, f.data, f.len);
            bool msg = false, code = false;
            while (tw__pb_next(&sr, &sf) == 1) {
                if (sf.num == STATUS_MESSAGE) msg = true, expect_bytes(&sf, s->status_msg, s->status_msg_len);
                else if (sf.num == STATUS_CODE) code = true, expect_varint(&sf, s->status);
                else fail_msg("Status field %u", sf.num);
            }
            assert_int_equal(msg, s->status_msg_len != 0);
            assert_int_equal(code, s->status != 0);
            break;
        }
        case SPAN_FLAGS:
            assert_int_equal(f.wire, TW_PB_I32);
            assert_int_equal(f.u, x->flags);
            break;
        default: fail_msg("Span field %u", f.num);
        }
    }
    assert_ptr_equal(r.p, r.end);
    assert_int_equal(na, s->attrs.n);
    assert_int_equal(ne, s->n_events);
    assert_int_equal(nl, s->n_links);
    uint32_t must = 1u << SPAN_TRACE_ID | 1u << SPAN_SPAN_ID | 1u << SPAN_FLAGS;
    if (x->trace_state) must |= 1u << SPAN_TRACE_STATE;
    if (s->has_parent) must |= 1u << SPAN_PARENT_SPAN_ID;
    if (s->name_len) must |= 1u << SPAN_NAME;
    if (s->kind) must |= 1u << SPAN_KIND;
    if (s->start_ns) must |= 1u << SPAN_START;
    if (s->end_ns) must |= 1u << SPAN_END;
    if (s->attrs.dropped) must |= 1u << SPAN_DROPPED_ATTRIBUTES;
    if (s->dropped_events) must |= 1u << SPAN_DROPPED_EVENTS;
    if (s->dropped_links) must |= 1u << SPAN_DROPPED_LINKS;
    if (s->status || s->status_msg_len) must |= 1u << SPAN_STATUS;
    assert_int_equal(seen, must);
}

/* The request split into its resources, scopes and spans. */
typedef struct dscope {
    tw__pb_field scope;
    tw__pb_field spans[1100];
    int n_spans;
} dscope;

typedef struct dres {
    tw__pb_field resource;
    dscope scopes[4];
    int n_scopes;
} dres;

static int decode_request(const tw__buf *b, dres *out, int max) {
    tw__pb_reader r, rr, sr;
    tw__pb_field f, g, h;
    int n = 0;
    tw__pb_reader_init(&r, b->data, b->len);
    while (tw__pb_next(&r, &f) == 1) {
        assert_int_equal(f.num, REQ_RESOURCE_SPANS);
        assert_int_equal(f.wire, TW_PB_LEN);
        assert_true(n < max);
        dres *d = &out[n++];
        memset(d, 0, sizeof *d);
        bool have_resource = false;
        tw__pb_reader_init(&rr, f.data, f.len);
        while (tw__pb_next(&rr, &g) == 1) {
            if (g.num == RS_RESOURCE) {
                assert_false(have_resource);
                have_resource = true;
                d->resource = g;
                continue;
            }
            assert_int_equal(g.num, RS_SCOPE_SPANS);
            assert_true(d->n_scopes < 4);
            dscope *sc = &d->scopes[d->n_scopes++];
            sc->n_spans = 0;
            bool have_scope = false;
            tw__pb_reader_init(&sr, g.data, g.len);
            while (tw__pb_next(&sr, &h) == 1) {
                if (h.num == SS_SCOPE) {
                    assert_false(have_scope);
                    have_scope = true;
                    sc->scope = h;
                } else {
                    assert_int_equal(h.num, SS_SPANS);
                    assert_int_equal(h.wire, TW_PB_LEN);
                    assert_true(sc->n_spans < 1100);
                    sc->spans[sc->n_spans++] = h;
                }
            }
            assert_ptr_equal(sr.p, sr.end);
            assert_true(have_scope);
        }
        assert_ptr_equal(rr.p, rr.end);
        assert_true(have_resource);
    }
    assert_ptr_equal(r.p, r.end);
    return n;
}

static void check_resource(const tw__pb_field *f, const tw__kvlist *want) {
    tw__pb_reader r;
    tw__pb_field g;
    tw__pb_reader_init(&r, f->data, f->len);
    uint32_t na = 0;
    bool dropped = false;
    while (tw__pb_next(&r, &g) == 1) {
        if (g.num == RES_ATTRIBUTES) check_kv(&g, &want->items[na++]);
        else if (g.num == RES_DROPPED) dropped = true, expect_varint(&g, want->dropped);
        else fail_msg("Resource field %u", g.num);
    }
    assert_int_equal(na, want->n);
    assert_int_equal(dropped, want->dropped != 0);
}

static void check_scope(const tw__pb_field *f, const char *name, const char *version) {
    tw__pb_reader r;
    tw__pb_field g;
    tw__pb_reader_init(&r, f->data, f->len);
    bool have_name = false, have_version = false;
    while (tw__pb_next(&r, &g) == 1) {
        if (g.num == SCOPE_NAME) have_name = true, expect_bytes(&g, name, strlen(name));
        else if (g.num == SCOPE_VERSION) have_version = true, expect_bytes(&g, version, strlen(version));
        else fail_msg("InstrumentationScope field %u", g.num);
    }
    assert_int_equal(have_name, name && *name);
    assert_int_equal(have_version, version && *version);
}

/* The name of a decoded span. */
static void span_name(const tw__pb_field *span, char *out, size_t n) {
    tw__pb_reader r;
    tw__pb_field f;
    tw__pb_reader_init(&r, span->data, span->len);
    out[0] = 0;
    while (tw__pb_next(&r, &f) == 1)
        if (f.num == SPAN_NAME) snprintf(out, n, "%.*s", (int)f.len, f.data);
}

/* ---- protobuf tests ---------------------------------------------------------------- */

static const span_expect full_expect = {
    .trace_state = "vendor=abc,other=x",
    .flags = 0x303,                /* sampled|random, parent is_remote known, remote */
    .link_flags = {0x301, 0x100}, /* sampled + remote; not sampled, known local */
};

static void test_full_span_pb(void **state) {
    world *w = make_world();
    tw_span *spans[] = {&w->full};
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_int_equal(tw__otlp_traces_pb(&b, spans, 1), 0);
    static dres d[4];
    assert_int_equal(decode_request(&b, d, 4), 1);
    check_resource(&d[0].resource, &w->p1.resource);
    assert_int_equal(d[0].n_scopes, 1);
    check_scope(&d[0].scopes[0].scope, "scope.one", "1.0.0");
    assert_int_equal(d[0].scopes[0].n_spans, 1);
    check_span(d[0].scopes[0].spans[0].data, d[0].scopes[0].spans[0].len, &w->full, &full_expect);
    tw__buf_free(&b);
    free_world(w);
}

static void test_minimal_span_pb(void **state) {
    world *w = make_world();
    tw_span s;
    basic_span(&s, &w->t2, "", 0x11);
    s.kind = 0;
    s.start_ns = s.end_ns = 0;
    tw_span *spans[] = {&s};
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_int_equal(tw__otlp_traces_pb(&b, spans, 1), 0);
    static dres d[4];
    assert_int_equal(decode_request(&b, d, 4), 1);
    check_scope(&d[0].scopes[0].scope, "scope.two", NULL);
    /* No name, kind, times, parent, state, status: only ids and flags. */
    span_expect x = {.flags = 0x101};
    check_span(d[0].scopes[0].spans[0].data, d[0].scopes[0].spans[0].len, &s, &x);
    assert_int_equal(d[0].scopes[0].spans[0].len, 2 + 16 + 2 + 8 + 2 + 4);
    /* A child of a local parent: is_remote known and false. */
    s.has_parent = 1;
    fill_ids(s.parent_id.bytes, 8, 0x77);
    s.ctx.flags = 0;
    tw__buf_reset(&b);
    assert_int_equal(tw__otlp_traces_pb(&b, spans, 1), 0);
    assert_int_equal(decode_request(&b, d, 4), 1);
    x.flags = 0x100;
    check_span(d[0].scopes[0].spans[0].data, d[0].scopes[0].spans[0].len, &s, &x);
    tw__buf_free(&b);
    free_world(w);
}

/* Spans of two providers and three tracers, interleaved: grouped by
 * resource then scope, each in order of first appearance, spans in order. */
static void test_grouping(void **state) {
    world *w = make_world();
    tw_span s[7];
    basic_span(&s[0], &w->t2, "a", 1);
    basic_span(&s[1], &w->t3, "b", 2);
    basic_span(&s[2], &w->t1, "c", 3);
    basic_span(&s[3], &w->t2, "d", 4);
    basic_span(&s[4], &w->t3, "e", 5);
    basic_span(&s[5], &w->t1, "f", 6);
    basic_span(&s[6], &w->t2, "g", 7);
    tw_span *spans[] = {&s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6]};
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_int_equal(tw__otlp_traces_pb(&b, spans, 7), 0);
    static dres d[4];
    assert_int_equal(decode_request(&b, d, 4), 2);
    check_resource(&d[0].resource, &w->p1.resource);
    check_resource(&d[1].resource, &w->p2.resource);
    assert_int_equal(d[0].n_scopes, 2);
    assert_int_equal(d[1].n_scopes, 1);
    check_scope(&d[0].scopes[0].scope, "scope.two", NULL);
    check_scope(&d[0].scopes[1].scope, "scope.one", "1.0.0");
    check_scope(&d[1].scopes[0].scope, "scope.three", "3");
    const char *want[3][3] = {{"a", "d", "g"}, {"c", "f", NULL}, {"b", "e", NULL}};
    dscope *order[3] = {&d[0].scopes[0], &d[0].scopes[1], &d[1].scopes[0]};
    for (int i = 0; i < 3; i++) {
        int k = 0;
        for (; k < 3 && want[i][k]; k++) {
            char name[16];
            span_name(&order[i]->spans[k], name, sizeof name);
            assert_string_equal(name, want[i][k]);
        }
        assert_int_equal(order[i]->n_spans, k);
    }

    /* The JSON encoder groups the same way. */
    tw__buf_reset(&b);
    assert_int_equal(tw__otlp_traces_json(&b, spans, 7), 0);
    tw_str root = {(const char *)b.data, b.len}, rs, r, ss, sc, sp, v;
    assert_int_equal(tw__json_get(root, "resourceSpans", &rs), 0);
    assert_int_equal(tw__json_count(rs), 2);
    const char *scope_names[2][2] = {{"\"scope.two\"", "\"scope.one\""}, {"\"scope.three\"", NULL}};
    for (int ri = 0; ri < 2; ri++) {
        assert_int_equal(tw__json_at(rs, (size_t)ri, &r), 0);
        assert_int_equal(tw__json_get(r, "scopeSpans", &ss), 0);
        for (int si = 0; si < 2 && scope_names[ri][si]; si++) {
            assert_int_equal(tw__json_at(ss, (size_t)si, &sc), 0);
            assert_int_equal(tw__json_get(sc, "scope", &v), 0);
            assert_int_equal(tw__json_get(v, "name", &v), 0);
            assert_int_equal(v.len, strlen(scope_names[ri][si]));
            assert_memory_equal(v.ptr, scope_names[ri][si], v.len);
            assert_int_equal(tw__json_get(sc, "spans", &sp), 0);
            const char *const *names = want[ri == 0 ? si : 2];
            for (int k = 0; k < 3 && names[k]; k++) {
                tw_str one;
                assert_int_equal(tw__json_at(sp, (size_t)k, &one), 0);
                assert_int_equal(tw__json_get(one, "name", &v), 0);
                assert_int_equal(v.len, 3);
                assert_int_equal(v.ptr[1], names[k][0]);
            }
        }
    }
    tw__buf_free(&b);
    free_world(w);
}

/* Spans and batches around every length-prefix width. */
static void test_sizes(void **state) {
    world *w = make_world();
    size_t big_len = 70000;
    char *big = malloc(big_len);
    memset(big, 'v', big_len);
    tw__kv big_attr[] = {{"big", 3, {.type = TW_TYPE_STRING, .n = (uint32_t)big_len, .u.s = big}}};
    tw_span *spans = calloc(1000, sizeof *spans), **ptrs = calloc(1000, sizeof *ptrs);
    for (int i = 0; i < 1000; i++) {
        basic_span(&spans[i], i % 2 ? &w->t1 : &w->t3, i == 0 ? "x" : "name of a span", (uint8_t)i);
        if (i == 1 || i == 998) spans[i].attrs = (tw__kvlist){big_attr, 1, 1, 0};
        if (i % 3 == 0) spans[i].attrs = (tw__kvlist){span_attrs, TW_ARRAY_LEN(span_attrs), 0, 0};
        ptrs[i] = &spans[i];
    }
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_int_equal(tw__otlp_traces_pb(&b, ptrs, 1000), 0);
    static dres d[4];
    assert_int_equal(decode_request(&b, d, 4), 2);
    assert_int_equal(d[0].scopes[0].n_spans + d[1].scopes[0].n_spans, 1000);
    span_expect x = {.flags = 0x101};
    /* Span 0 is p2's (t3, the even spans): p2's ResourceSpans comes first. */
    for (int k = 0; k < 500; k++) {
        check_span(d[0].scopes[0].spans[k].data, d[0].scopes[0].spans[k].len, &spans[2 * k], &x);
        check_span(d[1].scopes[0].spans[k].data, d[1].scopes[0].spans[k].len, &spans[2 * k + 1], &x);
    }
    /* The JSON of the same batch is well-formed. */
    tw__buf_reset(&b);
    assert_int_equal(tw__otlp_traces_json(&b, ptrs, 1000), 0);
    assert_ptr_equal(tw__json_skip((const char *)b.data, (const char *)b.data + b.len), (const char *)b.data + b.len);
    tw__buf_free(&b);
    free(spans);
    free(ptrs);
    free(big);
    free_world(w);
}

static void test_invalid_utf8_repaired(void **state) {
    world *w = make_world();
    tw_span s;
    basic_span(&s, &w->t1, "bad\xff name \xe2\x82", 0x11);
    tw__kv attrs[] = {{"k\xc0", 2, VSTR("v\xed\xa0\x80")}};
    s.attrs = (tw__kvlist){attrs, 1, 1, 0};
    tw_span *spans[] = {&s};
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_int_equal(tw__otlp_traces_pb(&b, spans, 1), 0);
    static dres d[4];
    assert_int_equal(decode_request(&b, d, 4), 1);
    tw_span want = s;
    want.name = "bad\xef\xbf\xbd name \xef\xbf\xbd";
    want.name_len = (uint32_t)strlen(want.name);
    tw__kv want_attrs[] = {{"k\xef\xbf\xbd", 4, VSTR("v\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd")}};
    want.attrs = (tw__kvlist){want_attrs, 1, 1, 0};
    span_expect x = {.flags = 0x101};
    check_span(d[0].scopes[0].spans[0].data, d[0].scopes[0].spans[0].len, &want, &x);
    tw__buf_reset(&b);
    assert_int_equal(tw__otlp_traces_json(&b, spans, 1), 0);
    tw__buf_putc(&b, 0);
    assert_non_null(strstr((const char *)b.data, "\"name\":\"bad\xef\xbf\xbd name \xef\xbf\xbd\""));
    assert_non_null(strstr((const char *)b.data, "\"key\":\"k\xef\xbf\xbd\""));
    tw__buf_free(&b);
    free_world(w);
}

static void test_empty_and_errors(void **state) {
    world *w = make_world();
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_int_equal(tw__otlp_traces_pb(&b, NULL, 0), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(tw__otlp_traces_json(&b, NULL, 0), 0);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "{}", 2);
    tw__buf_free(&b);

    tw_span *spans[] = {&w->full};
    for (long k = 0; k < 4; k++) {
        tw__buf_init(&b, 0);
        tw__alloc_fail_after(k);
        int rc = tw__otlp_traces_pb(&b, spans, 1);
        int rj = tw__otlp_traces_json(&b, spans, 1);
        tw__alloc_fail_after(-1);
        assert_int_equal(rc, TW_ENOMEM);
        assert_int_equal(rj, TW_ENOMEM);
        tw__buf_free(&b);
    }
    /* A capped buffer fails with TW_ERANGE and stays failed. */
    tw__buf_init(&b, 300);
    assert_int_equal(tw__otlp_traces_pb(&b, spans, 1), TW_ERANGE);
    assert_int_equal(tw__otlp_traces_json(&b, spans, 1), TW_ERANGE);
    tw__buf_free(&b);
    free_world(w);
}

/* ---- JSON ------------------------------------------------------------------------ */

static const char full_json[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}},"
    "{\"key\":\"host.cores\",\"value\":{\"intValue\":\"8\"}}],\"droppedAttributesCount\":7},"
    "\"scopeSpans\":[{\"scope\":{\"name\":\"scope.one\",\"version\":\"1.0.0\"},\"spans\":[{"
    "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"2122232425262728\","
    "\"traceState\":\"vendor=abc,other=x\",\"parentSpanId\":\"3132333435363738\",\"flags\":771,"
    "\"name\":\"GET /checkout\",\"kind\":2,\"startTimeUnixNano\":\"1700000000123456789\","
    "\"endTimeUnixNano\":\"1700000000124956789\",\"attributes\":["
    "{\"key\":\"http.method\",\"value\":{\"stringValue\":\"GET\"}},"
    "{\"key\":\"empty\",\"value\":{\"stringValue\":\"\"}},"
    "{\"key\":\"quote\\\"key\",\"value\":{\"stringValue\":\"line\\nbreak \xe2\x82\xac\"}},"
    "{\"key\":\"yes\",\"value\":{\"boolValue\":true}},"
    "{\"key\":\"no\",\"value\":{\"boolValue\":false}},"
    "{\"key\":\"zero\",\"value\":{\"intValue\":\"0\"}},"
    "{\"key\":\"minus\",\"value\":{\"intValue\":\"-1\"}},"
    "{\"key\":\"max\",\"value\":{\"intValue\":\"9223372036854775807\"}},"
    "{\"key\":\"pi\",\"value\":{\"doubleValue\":3.25}},"
    "{\"key\":\"dzero\",\"value\":{\"doubleValue\":0}},"
    "{\"key\":\"sa\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\"},{\"stringValue\":\"\"},"
    "{\"stringValue\":\"\xc3\xbc\"}]}}},"
    "{\"key\":\"ba\",\"value\":{\"arrayValue\":{\"values\":[{\"boolValue\":true},{\"boolValue\":false}]}}},"
    "{\"key\":\"ia\",\"value\":{\"arrayValue\":{\"values\":[{\"intValue\":\"0\"},{\"intValue\":\"-5\"},"
    "{\"intValue\":\"1099511627776\"}]}}},"
    "{\"key\":\"da\",\"value\":{\"arrayValue\":{\"values\":[{\"doubleValue\":1.5},{\"doubleValue\":-0}]}}},"
    "{\"key\":\"none\",\"value\":{\"arrayValue\":{}}}],"
    "\"droppedAttributesCount\":3,"
    "\"events\":[{\"timeUnixNano\":\"1700000000124000000\",\"name\":\"exception\",\"attributes\":["
    "{\"key\":\"exception.type\",\"value\":{\"stringValue\":\"E\"}}],\"droppedAttributesCount\":1},"
    "{\"name\":\"empty\"}],\"droppedEventsCount\":2,"
    "\"links\":[{\"traceId\":\"4142434445464748494a4b4c4d4e4f50\",\"spanId\":\"5152535455565758\","
    "\"traceState\":\"a=b\",\"attributes\":[{\"key\":\"link.kind\",\"value\":{\"stringValue\":\"x\"}}],"
    "\"droppedAttributesCount\":4,\"flags\":769},"
    "{\"traceId\":\"6162636465666768696a6b6c6d6e6f70\",\"spanId\":\"7172737475767778\",\"flags\":256}],"
    "\"droppedLinksCount\":5,\"status\":{\"message\":\"boom\",\"code\":2}}]}]}]}";

static void test_full_span_json_text(void **state) {
    world *w = make_world();
    tw_span *spans[] = {&w->full};
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_int_equal(tw__otlp_traces_json(&b, spans, 1), 0);
    tw__buf_putc(&b, 0);
    if (strcmp((const char *)b.data, full_json)) {
        size_t i = 0;
        while (b.data[i] == (uint8_t)full_json[i]) i++;
        fail_msg("differs at %zu:\n got: %.80s\nwant: %.80s", i, (const char *)b.data + i, full_json + i);
    }
    tw__buf_free(&b);
    free_world(w);
}

static void expect_json(tw_str obj, const char *key, const char *raw) {
    tw_str v;
    if (tw__json_get(obj, key, &v)) fail_msg("no member %s", key);
    if (v.len != strlen(raw) || memcmp(v.ptr, raw, v.len)) fail_msg("%s: %.*s != %s", key, (int)v.len, v.ptr, raw);
}

/* The same span read back through the JSON reader, value by value. */
static void test_full_span_json_parsed(void **state) {
    world *w = make_world();
    tw_span *spans[] = {&w->full};
    tw__buf b, tmp;
    tw__buf_init(&b, 0);
    tw__buf_init(&tmp, 0);
    assert_int_equal(tw__otlp_traces_json(&b, spans, 1), 0);
    tw_str root = {(const char *)b.data, b.len}, v, s, a;
    assert_int_equal(tw__json_get(root, "resourceSpans", &v), 0);
    assert_int_equal(tw__json_at(v, 0, &v), 0);
    assert_int_equal(tw__json_get(v, "scopeSpans", &v), 0);
    assert_int_equal(tw__json_at(v, 0, &v), 0);
    assert_int_equal(tw__json_get(v, "spans", &v), 0);
    assert_int_equal(tw__json_count(v), 1);
    assert_int_equal(tw__json_at(v, 0, &s), 0);
    const tw_span *sp = &w->full;
    char hex[33];
    tw_trace_id_to_hex(&sp->ctx.trace_id, hex);
    assert_int_equal(tw__json_get(s, "traceId", &v), 0);
    assert_int_equal(v.len, 34);
    assert_memory_equal(v.ptr + 1, hex, 32);
    expect_json(s, "flags", "771");
    expect_json(s, "kind", "2");
    int64_t t;
    assert_int_equal(tw__json_get(s, "startTimeUnixNano", &v), 0);
    assert_int_equal(tw__json_to_int64(v, &t), 0);
    assert_true((uint64_t)t == sp->start_ns);
    assert_int_equal(tw__json_get(s, "attributes", &a), 0);
    assert_int_equal(tw__json_count(a), (long)sp->attrs.n);
    for (uint32_t i = 0; i < sp->attrs.n; i++) {
        const tw__kv *kv = &sp->attrs.items[i];
        tw_str item, val;
        assert_int_equal(tw__json_at(a, i, &item), 0);
        assert_int_equal(tw__json_get(item, "key", &v), 0);
        tw__buf_reset(&tmp);
        assert_int_equal(tw__json_unquote(v, &tmp), 0);
        assert_int_equal(tmp.len, kv->key_len);
        assert_memory_equal(tmp.data, kv->key, kv->key_len);
        assert_int_equal(tw__json_get(item, "value", &val), 0);
        switch (kv->val.type) {
        case TW_TYPE_STRING:
            assert_int_equal(tw__json_get(val, "stringValue", &v), 0);
            tw__buf_reset(&tmp);
            assert_int_equal(tw__json_unquote(v, &tmp), 0);
            assert_int_equal(tmp.len, kv->val.n);
            if (tmp.len) assert_memory_equal(tmp.data, kv->val.u.s, tmp.len);
            break;
        case TW_TYPE_BOOL: {
            bool bv;
            assert_int_equal(tw__json_get(val, "boolValue", &v), 0);
            assert_int_equal(tw__json_to_bool(v, &bv), 0);
            assert_int_equal(bv, kv->val.u.b);
            break;
        }
        case TW_TYPE_INT: {
            int64_t iv;
            assert_int_equal(tw__json_get(val, "intValue", &v), 0);
            assert_int_equal(v.ptr[0], '"');
            assert_int_equal(tw__json_to_int64(v, &iv), 0);
            assert_true(iv == kv->val.u.i);
            break;
        }
        case TW_TYPE_DOUBLE: {
            double dv;
            assert_int_equal(tw__json_get(val, "doubleValue", &v), 0);
            assert_int_equal(tw__json_to_double(v, &dv), 0);
            assert_true(dv == kv->val.u.d);
            break;
        }
        default: {
            tw_str arr;
            assert_int_equal(tw__json_get(val, "arrayValue", &arr), 0);
            if (kv->val.n == 0) {
                assert_int_equal(tw__json_get(arr, "values", &v), TW_ENOTFOUND);
            } else {
                assert_int_equal(tw__json_get(arr, "values", &arr), 0);
                assert_int_equal(tw__json_count(arr), (long)kv->val.n);
            }
        }
        }
    }
    expect_json(s, "droppedAttributesCount", "3");
    expect_json(s, "droppedEventsCount", "2");
    expect_json(s, "droppedLinksCount", "5");
    assert_int_equal(tw__json_get(s, "status", &v), 0);
    expect_json(v, "code", "2");
    expect_json(v, "message", "\"boom\"");
    assert_int_equal(tw__json_get(s, "links", &v), 0);
    assert_int_equal(tw__json_at(v, 1, &v), 0);
    expect_json(v, "flags", "256");
    assert_int_equal(tw__json_get(v, "traceState", &a), TW_ENOTFOUND);
    tw__buf_free(&tmp);
    tw__buf_free(&b);
    free_world(w);
}

/* ---- spans made through the public API ------------------------------------------- */

static void test_real_spans(void **state) {
    tw_attribute res[] = {TW_ATTR_STR("service.name", "real"), TW_ATTR_INT("build", 42)};
    tw_provider_options po = {.resource = res, .n_resource = 2, .sampler = tw_sampler_always_on()};
    tw_provider *p;
    assert_int_equal(tw_provider_new(&po, &p), TW_OK);
    tw_test_mem *mem;
    tw_processor *proc;
    assert_int_equal(tw_processor_simple_new(tw_test_mem_new(&mem, 0), &proc), TW_OK);
    assert_int_equal(tw_provider_add_processor(p, proc), TW_OK);
    tw_tracer *t = tw_tracer_get(p, "real.scope", "0.1");

    tw_span *parent = tw_span_start(t, "parent", NULL);
    tw_context ctx = TW_CONTEXT_INIT;
    tw_context_set_span(&ctx, parent);
    tw_span *child = tw_span_start(t, "child", &(tw_span_options){.kind = TW_SPAN_KIND_CLIENT, .parent = &ctx});
    tw_str sa[] = {{"x", TW_NTS}, {"yz", 2}};
    int64_t ia[] = {1, -2};
    tw_span_set_attr(child, &TW_ATTR_STR_ARRAY("sa", sa, 2));
    tw_span_set_attr(child, &TW_ATTR_INT_ARRAY("ia", ia, 2));
    tw_span_set_double(child, "d", 0.5);
    tw_span_set_bool(child, "b", true);
    tw_span_add_event(child, "ev", 0, (tw_attribute[]){TW_ATTR_STR("k", "v")}, 1);
    tw_span_add_link(child, tw_span_get_context(parent), NULL, 0);
    tw_span_set_status(child, TW_STATUS_ERROR, "bad");
    tw_span_end(child);
    tw_span_end(parent);
    tw_context_release(&ctx);
    assert_int_equal(tw_test_mem_count(mem), 2);

    tw_span *spans[] = {tw_test_mem_get(mem, 0), tw_test_mem_get(mem, 1)};
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_int_equal(tw__otlp_traces_pb(&b, spans, 2), 0);
    static dres d[4];
    assert_int_equal(decode_request(&b, d, 4), 1);
    check_resource(&d[0].resource, tw__span_resource(spans[0]));
    check_scope(&d[0].scopes[0].scope, "real.scope", "0.1");
    assert_int_equal(d[0].scopes[0].n_spans, 2);
    const tw_span *c = spans[0];
    assert_int_equal(c->name_len, 5);
    /* Root spans of this SDK carry the W3C random flag (0x02). */
    span_expect x = {.flags = 0x103, .link_flags = {0x103}};
    check_span(d[0].scopes[0].spans[0].data, d[0].scopes[0].spans[0].len, c, &x);
    check_span(d[0].scopes[0].spans[1].data, d[0].scopes[0].spans[1].len, spans[1], &x);
    tw__buf_reset(&b);
    assert_int_equal(tw__otlp_traces_json(&b, spans, 2), 0);
    assert_ptr_equal(tw__json_skip((const char *)b.data, (const char *)b.data + b.len), (const char *)b.data + b.len);
    tw__buf_free(&b);
    tw_provider_destroy(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_span_pb),
        cmocka_unit_test(test_minimal_span_pb),
        cmocka_unit_test(test_grouping),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_invalid_utf8_repaired),
        cmocka_unit_test(test_empty_and_errors),
        cmocka_unit_test(test_full_span_json_text),
        cmocka_unit_test(test_full_span_json_parsed),
        cmocka_unit_test(test_real_spans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
