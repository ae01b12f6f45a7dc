/*
 * test_otlp_pb.c — the OTLP/protobuf trace codec of the server
 * (otlp/decode_pb.c, otlp/encode_pb.c) and the batch arena (otlp/batch.c).
 *
 * Requests are built here with common/pb.h's writer (the server does not
 * link the SDK), decoded, checked field by field, encoded and decoded again.
 * Covered: every field of every message, every AnyValue type with nested
 * arrays and kvlists, unknown fields of every wire type (groups too) and
 * known numbers with the wrong wire type at every level, each reject
 * reason, every prefix and every one-byte corruption of valid requests,
 * malformed wire data with the exact error message, UTF-8 repair, value
 * truncation on a character boundary, the depth limit, large counts, the
 * encoder's grouping across selections, the buffer cap and allocation
 * failures.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/pb.h"
#include "otlp/model.h"

/* ---- building requests ----------------------------------------------------------- */

/* When set, every message built gets unknown fields of every wire type (and a
 * known field number with a wrong wire type) at its start and its end. */
static bool g_unknown;

static void unknown_fields(tw__buf *b) {
    if (!g_unknown) return;
    tw__pb_uint64(b, 1000, 12345);                  /* VARINT */
    tw__pb_fixed64(b, 1001, 0x0102030405060708ull); /* I64 */
    tw__pb_bytes(b, 1002, "\x0a\x02hi", 4);        /* LEN */
    tw__pb_fixed32(b, 1003, 7);                     /* I32 */
    tw__pb_varint(b, tw__pb_tag(1004, 3));          /* a group, with a nested group */
    tw__pb_uint64(b, 1, 5);
    tw__pb_varint(b, tw__pb_tag(7, 3));
    tw__pb_bytes(b, 2, "x", 1);
    tw__pb_varint(b, tw__pb_tag(7, 4));
    tw__pb_fixed32(b, 3, 1);
    tw__pb_varint(b, tw__pb_tag(1004, 4));
    tw__pb_fixed32(b, 1, 99); /* field 1 is never I32 in the messages read */
    tw__pb_uint64(b, 536870911, 1); /* the largest field number */
}

static tw__pb_mark begin(tw__buf *b, uint32_t field) {
    tw__pb_mark m = tw__pb_begin(b, field, 1);
    unknown_fields(b);
    return m;
}

static void end(tw__buf *b, tw__pb_mark m) {
    unknown_fields(b);
    tw__pb_end(b, m);
}

static void w_str(tw__buf *b, uint32_t field, const char *s) { tw__pb_bytes(b, field, s, strlen(s)); }

/* KeyValue `k` whose AnyValue is written by the caller between kv_begin and kv_end. */
typedef struct kvm {
    tw__pb_mark kv, val;
} kvm;

static kvm kv_begin(tw__buf *b, uint32_t field, const char *k) {
    kvm m;
    m.kv = begin(b, field);
    w_str(b, 1, k);
    m.val = begin(b, 2);
    return m;
}

static void kv_end(tw__buf *b, kvm m) {
    end(b, m.val);
    end(b, m.kv);
}

static void kv_str(tw__buf *b, uint32_t field, const char *k, const char *v) {
    kvm m = kv_begin(b, field, k);
    w_str(b, 1, v);
    kv_end(b, m);
}

static void kv_int(tw__buf *b, uint32_t field, const char *k, int64_t v) {
    kvm m = kv_begin(b, field, k);
    tw__pb_uint64(b, 3, (uint64_t)v);
    kv_end(b, m);
}

static void kv_bool(tw__buf *b, uint32_t field, const char *k, bool v) {
    kvm m = kv_begin(b, field, k);
    tw__pb_uint64(b, 2, v);
    kv_end(b, m);
}

static void kv_double(tw__buf *b, uint32_t field, const char *k, double v) {
    kvm m = kv_begin(b, field, k);
    tw__pb_double(b, 4, v);
    kv_end(b, m);
}

static const uint8_t T1[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t T2[16] = {0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b};
static const uint8_t S[4][8] = {{0x11, 1, 1, 1, 1, 1, 1, 1}, {0x12, 2, 2, 2, 2, 2, 2, 2},
                                {0x13, 3, 3, 3, 3, 3, 3, 3}, {0x14, 4, 4, 4, 4, 4, 4, 4}};
static const uint8_t P1[8] = {0xee, 0xdd, 0, 0, 0, 0, 0, 0x01};
static const uint8_t L1[8] = {0x55, 0, 0, 0, 0, 0, 0, 0x66};
static const uint8_t BLOB[4] = {0, 1, 2, 0xff};

/* Span ids only (`name` omitted when NULL). */
static void w_ids_span(tw__buf *b, const uint8_t *sid, const char *name) {
    tw__pb_mark sp = begin(b, 2);
    tw__pb_bytes(b, 1, T1, 16);
    tw__pb_bytes(b, 2, sid, 8);
    if (name) w_str(b, 5, name);
    end(b, sp);
}

/* The request every field of which test_full checks (see check_full). */
static void build_full(tw__buf *b) {
    tw__pb_mark rs = begin(b, 1);
    {
        tw__pb_mark res = begin(b, 1);
        kv_str(b, 1, "service.name", "checkout");
        kv_int(b, 1, "host.cpus", 8);
        tw__pb_uint64(b, 2, 3);
        end(b, res);

        tw__pb_mark ss = begin(b, 2);
        tw__pb_mark sc = begin(b, 1);
        w_str(b, 1, "lib.a");
        w_str(b, 2, "1.0");
        kv_bool(b, 3, "scope.k", true);
        tw__pb_uint64(b, 4, 1);
        end(b, sc);

        tw__pb_mark sp = begin(b, 2);
        tw__pb_bytes(b, 1, T1, 16);
        tw__pb_bytes(b, 2, S[0], 8);
        w_str(b, 3, "k=v");
        tw__pb_bytes(b, 4, P1, 8);
        w_str(b, 5, "GET /");
        tw__pb_uint64(b, 6, 2);
        tw__pb_fixed64(b, 7, 1000);
        tw__pb_fixed64(b, 8, 2000);
        kv_str(b, 9, "http.method", "GET");
        kv_int(b, 9, "http.status_code", 200);
        kv_double(b, 9, "ratio", 0.5);
        kv_bool(b, 9, "ok", true);
        kvm m = kv_begin(b, 9, "blob");
        tw__pb_bytes(b, 7, BLOB, sizeof BLOB);
        kv_end(b, m);
        tw__pb_uint64(b, 10, 4);
        tw__pb_mark ev = begin(b, 11);
        tw__pb_fixed64(b, 1, 1500);
        w_str(b, 2, "exception");
        kv_str(b, 3, "exception.type", "E");
        tw__pb_uint64(b, 4, 1);
        end(b, ev);
        ev = begin(b, 11);
        w_str(b, 2, "e2");
        end(b, ev);
        tw__pb_uint64(b, 12, 5);
        tw__pb_mark lk = begin(b, 13);
        tw__pb_bytes(b, 1, T2, 16);
        tw__pb_bytes(b, 2, L1, 8);
        w_str(b, 3, "a=b");
        kv_int(b, 4, "x", -1);
        tw__pb_uint64(b, 5, 2);
        tw__pb_fixed32(b, 6, 0x301);
        end(b, lk);
        tw__pb_uint64(b, 14, 6);
        tw__pb_mark st = begin(b, 15);
        w_str(b, 2, "boom");
        tw__pb_uint64(b, 3, 2);
        end(b, st);
        tw__pb_fixed32(b, 16, 0x101);
        end(b, sp);

        w_ids_span(b, S[1], "child");
        w_str(b, 3, "s0");
        end(b, ss);

        ss = begin(b, 2); /* no scope message */
        sp = begin(b, 2);
        tw__pb_bytes(b, 1, T1, 16);
        tw__pb_bytes(b, 2, S[2], 8);
        tw__pb_uint64(b, 6, 1);
        end(b, sp);
        end(b, ss);
        w_str(b, 3, "https://opentelemetry.io/schemas/1.21.0"); /* after the scopes */
    }
    end(b, rs);

    rs = begin(b, 1); /* no resource message */
    {
        tw__pb_mark ss = begin(b, 2);
        tw__pb_mark sc = begin(b, 1);
        w_str(b, 1, "lib.b");
        end(b, sc);
        tw__pb_mark sp = begin(b, 2);
        tw__pb_bytes(b, 1, T1, 16);
        tw__pb_bytes(b, 2, S[3], 8);
        tw__pb_mark st = begin(b, 15);
        tw__pb_uint64(b, 3, 1);
        end(b, st);
        end(b, sp);
        end(b, ss);
    }
    end(b, rs);
    assert_int_equal(b->failed, 0);
}

/* A span whose attributes hold every AnyValue type, nested arrays and kvlists. */
static void build_values(tw__buf *b) {
    tw__pb_mark rs = begin(b, 1), ss = begin(b, 2), sp = begin(b, 2);
    tw__pb_bytes(b, 1, T1, 16);
    tw__pb_bytes(b, 2, S[0], 8);
    kv_str(b, 9, "s", "text");
    kv_str(b, 9, "empty", "");
    kv_bool(b, 9, "f", false);
    kv_int(b, 9, "min", INT64_MIN);
    kv_int(b, 9, "max", INT64_MAX);
    kv_double(b, 9, "nan", NAN);
    kv_double(b, 9, "negzero", -0.0);
    kvm m = kv_begin(b, 9, "bytes");
    tw__pb_bytes(b, 7, "\xff\xfe\x00", 3); /* not UTF-8, and kept so */
    kv_end(b, m);
    m = kv_begin(b, 9, "none"); /* an AnyValue with no member */
    kv_end(b, m);
    tw__pb_mark kv = begin(b, 9); /* a KeyValue without a value */
    w_str(b, 1, "novalue");
    end(b, kv);
    /* arr: ["a", 1, [true, []], {"k": 2.5, "in": {"deep": "x"}}, {}] */
    m = kv_begin(b, 9, "arr");
    {
        tw__pb_mark av = begin(b, 5);
        tw__pb_mark v = begin(b, 1);
        w_str(b, 1, "a");
        end(b, v);
        v = begin(b, 1);
        tw__pb_uint64(b, 3, 1);
        end(b, v);
        v = begin(b, 1);
        {
            tw__pb_mark inner = begin(b, 5);
            tw__pb_mark x = begin(b, 1);
            tw__pb_uint64(b, 2, 1);
            end(b, x);
            x = begin(b, 1);
            tw__pb_mark e = begin(b, 5);
            end(b, e);
            end(b, x);
            end(b, inner);
        }
        end(b, v);
        v = begin(b, 1);
        {
            tw__pb_mark kl = begin(b, 6);
            kv_double(b, 1, "k", 2.5);
            kvm in = kv_begin(b, 1, "in");
            tw__pb_mark kl2 = begin(b, 6);
            kv_str(b, 1, "deep", "x");
            end(b, kl2);
            kv_end(b, in);
            end(b, kl);
        }
        end(b, v);
        v = begin(b, 1);
        tw__pb_mark ekl = begin(b, 6);
        end(b, ekl);
        end(b, v);
        end(b, av);
    }
    kv_end(b, m);
    end(b, sp);
    end(b, ss);
    end(b, rs);
    assert_int_equal(b->failed, 0);
}

/* ---- checking batches ------------------------------------------------------------ */

static void assert_str(tw_str s, const char *want) {
    size_t n = strlen(want);
    if (s.len != n || (n && memcmp(s.ptr, want, n) != 0))
        fail_msg("string \"%.*s\" (%zu bytes), expected \"%s\"", (int)s.len, s.ptr ? s.ptr : "", s.len, want);
}

static bool str_eq(tw_str a, tw_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0); }

static void assert_value_eq(const tws_value *a, const tws_value *b);

static void assert_attrs_eq(const tws_kv *a, uint32_t na, const tws_kv *b, uint32_t nb) {
    assert_int_equal(na, nb);
    for (uint32_t i = 0; i < na; i++) {
        assert_true(str_eq(a[i].key, b[i].key));
        assert_value_eq(&a[i].val, &b[i].val);
    }
}

static void assert_value_eq(const tws_value *a, const tws_value *b) {
    assert_int_equal(a->type, b->type);
    switch (a->type) {
    case TWS_STRING:
    case TWS_BYTES: assert_true(str_eq(a->u.s, b->u.s)); break;
    case TWS_BOOL: assert_int_equal(a->u.b, b->u.b); break;
    case TWS_INT: assert_true(a->u.i == b->u.i); break;
    case TWS_DOUBLE: assert_memory_equal(&a->u.d, &b->u.d, sizeof a->u.d); break;
    case TWS_ARRAY:
        assert_int_equal(a->n, b->n);
        for (uint32_t i = 0; i < a->n; i++) assert_value_eq(&a->u.arr[i], &b->u.arr[i]);
        break;
    case TWS_KVLIST: assert_attrs_eq(a->u.kv, a->n, b->u.kv, b->n); break;
    default: break;
    }
}

static void assert_tattrs_eq(const tws_attrs *a, const tws_attrs *b) {
    assert_attrs_eq(a->items, a->n, b->items, b->n);
    assert_int_equal(a->dropped, b->dropped);
}

static void assert_span_eq(const tws_span *a, const tws_span *b) {
    assert_memory_equal(a->trace_id, b->trace_id, 16);
    assert_memory_equal(a->span_id, b->span_id, 8);
    assert_memory_equal(a->parent_span_id, b->parent_span_id, 8);
    assert_int_equal(a->has_parent, b->has_parent);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->status_code, b->status_code);
    assert_int_equal(a->reject, b->reject);
    assert_int_equal(a->flags, b->flags);
    assert_true(str_eq(a->trace_state, b->trace_state));
    assert_true(str_eq(a->name, b->name));
    assert_true(str_eq(a->status_message, b->status_message));
    assert_true(a->start_ns == b->start_ns && a->end_ns == b->end_ns);
    assert_tattrs_eq(&a->attrs, &b->attrs);
    assert_int_equal(a->n_events, b->n_events);
    assert_int_equal(a->dropped_events, b->dropped_events);
    for (uint32_t i = 0; i < a->n_events; i++) {
        assert_true(a->events[i].time_ns == b->events[i].time_ns);
        assert_true(str_eq(a->events[i].name, b->events[i].name));
        assert_tattrs_eq(&a->events[i].attrs, &b->events[i].attrs);
    }
    assert_int_equal(a->n_links, b->n_links);
    assert_int_equal(a->dropped_links, b->dropped_links);
    for (uint32_t i = 0; i < a->n_links; i++) {
        assert_memory_equal(a->links[i].trace_id, b->links[i].trace_id, 16);
        assert_memory_equal(a->links[i].span_id, b->links[i].span_id, 8);
        assert_true(str_eq(a->links[i].trace_state, b->links[i].trace_state));
        assert_int_equal(a->links[i].flags, b->links[i].flags);
        assert_tattrs_eq(&a->links[i].attrs, &b->links[i].attrs);
    }
}

/* Same content, resources and scopes compared through the spans. */
static void assert_batch_eq(const tws_batch *a, const tws_batch *b) {
    assert_int_equal(a->n_spans, b->n_spans);
    for (uint32_t i = 0; i < a->n_spans; i++) {
        const tws_span *x = &a->spans[i], *y = &b->spans[i];
        assert_span_eq(x, y);
        const tws_scope *sx = &a->scopes[x->scope_idx], *sy = &b->scopes[y->scope_idx];
        assert_true(str_eq(sx->name, sy->name) && str_eq(sx->version, sy->version));
        assert_true(str_eq(sx->schema_url, sy->schema_url));
        assert_tattrs_eq(&sx->attrs, &sy->attrs);
        const tws_resource *rx = &a->resources[sx->resource_idx], *ry = &b->resources[sy->resource_idx];
        assert_tattrs_eq(&rx->attrs, &ry->attrs);
        assert_true(str_eq(rx->schema_url, ry->schema_url));
    }
}

static void assert_empty(const tws_batch *b) {
    assert_null(b->arena);
    assert_int_equal(b->n_spans + b->n_scopes + b->n_resources, 0);
}

static int decode(const tw__buf *in, const tws_decode_options *o, tws_batch *out, tws_decode_error *err) {
    return tws_otlp_decode_pb(in->data, in->len, o, out, err);
}

static void decode_ok(const tw__buf *in, const tws_decode_options *o, tws_batch *out) {
    tws_decode_error err;
    int rc = decode(in, o, out, &err);
    if (rc) fail_msg("decode: %d %s", rc, err.msg);
}

/* Encode all valid spans of `b` and decode the result into `out`. */
static void reencode(const tws_batch *b, const tws_decode_options *o, tws_batch *out, tw__buf *enc) {
    tws_selection sel = {b, NULL, 0};
    tw__buf_init(enc, 0);
    assert_int_equal(tws_otlp_encode_pb(&sel, 1, 1, enc), 0);
    decode_ok(enc, o, out);
}

static const tws_kv *find_attr(const tws_attrs *a, const char *key) {
    for (uint32_t i = 0; i < a->n; i++)
        if (str_eq(a->items[i].key, (tw_str){key, strlen(key)})) return &a->items[i];
    fail_msg("no attribute %s", key);
    return NULL;
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_arena(void **state) {
    tws_batch b;
    tws_batch_init(&b);
    uint8_t *prev = NULL;
    for (size_t n = 0; n < 3000; n++) {
        uint8_t *p = tws_batch_alloc(&b, n % 97);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p & 7, 0);
        memset(p, 0xab, n % 97); /* ASan: all of it is ours */
        assert_true(p != prev);
        prev = p;
    }
    uint8_t *big = tws_batch_alloc(&b, 5u << 20); /* its own chunk */
    assert_non_null(big);
    memset(big, 1, 5u << 20);
    uint8_t *small = tws_batch_alloc(&b, 8);
    assert_non_null(small);
    assert_null(tws_batch_alloc(&b, SIZE_MAX - 3));
    tws_batch_free(&b);
    assert_empty(&b);
    tws_batch_free(&b); /* twice is harmless */

    tw__alloc_fail_after(0);
    assert_null(tws_batch_alloc(&b, 16));
    tw__alloc_fail_after(-1);
    assert_empty(&b);
}

static void test_empty(void **state) {
    tws_batch b;
    tws_decode_error err;
    assert_int_equal(tws_otlp_decode_pb(NULL, 0, NULL, &b, &err), 0);
    assert_empty(&b);
    assert_int_equal(tws_otlp_decode_pb((const uint8_t *)"", 0, NULL, &b, NULL), 0);
    assert_empty(&b);
    assert_int_equal(tws_otlp_decode_pb(NULL, 5, NULL, &b, &err), TW_EINVAL);

    /* Only unknown fields; then an empty ResourceSpans and ScopeSpans. */
    tw__buf in;
    tw__buf_init(&in, 0);
    g_unknown = true;
    unknown_fields(&in);
    g_unknown = false;
    assert_int_equal(decode(&in, NULL, &b, &err), 0);
    assert_int_equal(b.n_resources + b.n_spans, 0);
    tws_batch_free(&b);
    tw__pb_mark rs = begin(&in, 1), ss = begin(&in, 2);
    end(&in, ss);
    end(&in, rs);
    rs = begin(&in, 1);
    end(&in, rs);
    decode_ok(&in, NULL, &b);
    assert_int_equal(b.n_resources, 2);
    assert_int_equal(b.n_scopes, 1);
    assert_int_equal(b.n_spans, 0);

    /* Nothing selected, nothing written. */
    tw__buf out;
    tw__buf_init(&out, 0);
    tws_selection sel = {&b, NULL, 0};
    assert_int_equal(tws_otlp_encode_pb(&sel, 1, 1, &out), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(tws_otlp_encode_pb(NULL, 0, 1, &out), 0);
    tws_batch_free(&b);
    tw__buf_free(&out);
    tw__buf_free(&in);
}

static void check_full(const tws_batch *b) {
    assert_int_equal(b->n_resources, 2);
    assert_int_equal(b->n_scopes, 3);
    assert_int_equal(b->n_spans, 4);
    assert_int_equal(b->n_rejected, 0);
    assert_int_equal(b->utf8_repairs + b->truncations, 0);

    const tws_resource *r0 = &b->resources[0];
    assert_int_equal(r0->attrs.n, 2);
    assert_int_equal(r0->attrs.dropped, 3);
    assert_str(r0->attrs.items[0].key, "service.name");
    assert_int_equal(r0->attrs.items[0].val.type, TWS_STRING);
    assert_str(r0->attrs.items[0].val.u.s, "checkout");
    assert_str(r0->attrs.items[1].key, "host.cpus");
    assert_int_equal(r0->attrs.items[1].val.type, TWS_INT);
    assert_int_equal(r0->attrs.items[1].val.u.i, 8);
    assert_str(r0->schema_url, "https://opentelemetry.io/schemas/1.21.0");
    assert_int_equal(b->resources[1].attrs.n, 0);
    assert_int_equal(b->resources[1].schema_url.len, 0);

    const tws_scope *s0 = &b->scopes[0];
    assert_int_equal(s0->resource_idx, 0);
    assert_str(s0->name, "lib.a");
    assert_str(s0->version, "1.0");
    assert_str(s0->schema_url, "s0");
    assert_int_equal(s0->attrs.n, 1);
    assert_int_equal(s0->attrs.dropped, 1);
    assert_str(s0->attrs.items[0].key, "scope.k");
    assert_int_equal(s0->attrs.items[0].val.type, TWS_BOOL);
    assert_true(s0->attrs.items[0].val.u.b);
    assert_int_equal(b->scopes[1].resource_idx, 0);
    assert_int_equal(b->scopes[1].name.len, 0);
    assert_int_equal(b->scopes[2].resource_idx, 1);
    assert_str(b->scopes[2].name, "lib.b");

    const tws_span *sp = &b->spans[0];
    assert_int_equal(sp->scope_idx, 0);
    assert_memory_equal(sp->trace_id, T1, 16);
    assert_memory_equal(sp->span_id, S[0], 8);
    assert_true(sp->has_parent);
    assert_memory_equal(sp->parent_span_id, P1, 8);
    assert_str(sp->trace_state, "k=v");
    assert_str(sp->name, "GET /");
    assert_int_equal(sp->kind, 2);
    assert_true(sp->start_ns == 1000 && sp->end_ns == 2000);
    assert_int_equal(sp->attrs.n, 5);
    assert_int_equal(sp->attrs.dropped, 4);
    assert_str(find_attr(&sp->attrs, "http.method")->val.u.s, "GET");
    assert_int_equal(find_attr(&sp->attrs, "http.status_code")->val.u.i, 200);
    assert_true(find_attr(&sp->attrs, "ratio")->val.u.d == 0.5);
    assert_true(find_attr(&sp->attrs, "ok")->val.u.b);
    const tws_value *blob = &find_attr(&sp->attrs, "blob")->val;
    assert_int_equal(blob->type, TWS_BYTES);
    assert_int_equal(blob->u.s.len, 4);
    assert_memory_equal(blob->u.s.ptr, BLOB, 4);
    assert_int_equal(sp->n_events, 2);
    assert_int_equal(sp->dropped_events, 5);
    assert_true(sp->events[0].time_ns == 1500);
    assert_str(sp->events[0].name, "exception");
    assert_int_equal(sp->events[0].attrs.n, 1);
    assert_int_equal(sp->events[0].attrs.dropped, 1);
    assert_str(sp->events[0].attrs.items[0].val.u.s, "E");
    assert_str(sp->events[1].name, "e2");
    assert_true(sp->events[1].time_ns == 0);
    assert_int_equal(sp->n_links, 1);
    assert_int_equal(sp->dropped_links, 6);
    assert_memory_equal(sp->links[0].trace_id, T2, 16);
    assert_memory_equal(sp->links[0].span_id, L1, 8);
    assert_str(sp->links[0].trace_state, "a=b");
    assert_int_equal(sp->links[0].flags, 0x301);
    assert_int_equal(sp->links[0].attrs.dropped, 2);
    assert_int_equal(sp->links[0].attrs.items[0].val.u.i, -1);
    assert_str(sp->status_message, "boom");
    assert_int_equal(sp->status_code, 2);
    assert_int_equal(sp->flags, 0x101);

    sp = &b->spans[1];
    assert_int_equal(sp->scope_idx, 0);
    assert_memory_equal(sp->span_id, S[1], 8);
    assert_str(sp->name, "child");
    assert_false(sp->has_parent);
    assert_int_equal(sp->attrs.n + sp->n_events + sp->n_links + sp->flags + sp->kind, 0);
    assert_int_equal(b->spans[2].scope_idx, 1);
    assert_int_equal(b->spans[2].kind, 1);
    assert_int_equal(b->spans[3].scope_idx, 2);
    assert_int_equal(b->spans[3].status_code, 1);
    assert_int_equal(b->spans[3].status_message.len, 0);
}

static bool points_into(tw_str s, const tw__buf *in) {
    return (const uint8_t *)s.ptr >= in->data && (const uint8_t *)s.ptr + s.len <= in->data + in->len;
}

static void test_full(void **state) {
    tw__buf in, enc, enc2;
    tw__buf_init(&in, 0);
    build_full(&in);
    tws_batch a, b, c;
    decode_ok(&in, NULL, &a);
    check_full(&a);
    assert_false(points_into(a.spans[0].name, &in)); /* copied */

    tws_decode_options borrow = {.borrow_input = true};
    decode_ok(&in, &borrow, &b);
    check_full(&b);
    assert_true(points_into(b.spans[0].name, &in));
    assert_true(points_into(b.spans[0].attrs.items[4].val.u.s, &in));
    tws_batch_free(&b);

    /* Round trip, and the encoding is a fixed point. */
    reencode(&a, NULL, &b, &enc);
    check_full(&b);
    assert_batch_eq(&a, &b);
    reencode(&b, NULL, &c, &enc2);
    assert_batch_eq(&a, &c);
    assert_int_equal(enc.len, enc2.len);
    assert_memory_equal(enc.data, enc2.data, enc.len);
    tws_batch_free(&a);
    tws_batch_free(&b);
    tws_batch_free(&c);
    tw__buf_free(&in);
    tw__buf_free(&enc);
    tw__buf_free(&enc2);
}

static void test_values(void **state) {
    tw__buf in, enc;
    tw__buf_init(&in, 0);
    build_values(&in);
    tws_batch a, b;
    decode_ok(&in, NULL, &a);
    const tws_attrs *at = &a.spans[0].attrs;
    assert_int_equal(at->n, 11);
    assert_str(find_attr(at, "s")->val.u.s, "text");
    const tws_value *v = &find_attr(at, "empty")->val;
    assert_int_equal(v->type, TWS_STRING);
    assert_int_equal(v->u.s.len, 0);
    v = &find_attr(at, "f")->val;
    assert_int_equal(v->type, TWS_BOOL);
    assert_false(v->u.b);
    assert_true(find_attr(at, "min")->val.u.i == INT64_MIN);
    assert_true(find_attr(at, "max")->val.u.i == INT64_MAX);
    assert_true(isnan(find_attr(at, "nan")->val.u.d));
    v = &find_attr(at, "negzero")->val;
    assert_int_equal(v->type, TWS_DOUBLE);
    assert_true(v->u.d == 0 && signbit(v->u.d));
    v = &find_attr(at, "bytes")->val;
    assert_int_equal(v->type, TWS_BYTES);
    assert_int_equal(v->u.s.len, 3);
    assert_memory_equal(v->u.s.ptr, "\xff\xfe\x00", 3);
    assert_int_equal(find_attr(at, "none")->val.type, TWS_EMPTY);
    assert_int_equal(find_attr(at, "novalue")->val.type, TWS_EMPTY);
    assert_int_equal(a.utf8_repairs, 0);

    v = &find_attr(at, "arr")->val;
    assert_int_equal(v->type, TWS_ARRAY);
    assert_int_equal(v->n, 5);
    assert_str(v->u.arr[0].u.s, "a");
    assert_int_equal(v->u.arr[1].type, TWS_INT);
    const tws_value *inner = &v->u.arr[2];
    assert_int_equal(inner->type, TWS_ARRAY);
    assert_int_equal(inner->n, 2);
    assert_int_equal(inner->u.arr[0].type, TWS_BOOL);
    assert_int_equal(inner->u.arr[1].type, TWS_ARRAY);
    assert_int_equal(inner->u.arr[1].n, 0);
    const tws_value *kl = &v->u.arr[3];
    assert_int_equal(kl->type, TWS_KVLIST);
    assert_int_equal(kl->n, 2);
    assert_str(kl->u.kv[0].key, "k");
    assert_true(kl->u.kv[0].val.u.d == 2.5);
    assert_str(kl->u.kv[1].key, "in");
    assert_int_equal(kl->u.kv[1].val.type, TWS_KVLIST);
    assert_str(kl->u.kv[1].val.u.kv[0].key, "deep");
    assert_str(kl->u.kv[1].val.u.kv[0].val.u.s, "x");
    assert_int_equal(v->u.arr[4].type, TWS_KVLIST);
    assert_int_equal(v->u.arr[4].n, 0);

    reencode(&a, NULL, &b, &enc);
    assert_batch_eq(&a, &b);
    tws_batch_free(&a);
    tws_batch_free(&b);
    tw__buf_free(&in);
    tw__buf_free(&enc);
}

static void test_unknown_fields(void **state) {
    tw__buf plain, noisy;
    tws_batch a, b;
    void (*builders[])(tw__buf *) = {build_full, build_values};
    for (size_t i = 0; i < TW_ARRAY_LEN(builders); i++) {
        tw__buf_init(&plain, 0);
        tw__buf_init(&noisy, 0);
        builders[i](&plain);
        g_unknown = true;
        builders[i](&noisy);
        g_unknown = false;
        assert_true(noisy.len > plain.len + 1000);
        decode_ok(&plain, NULL, &a);
        decode_ok(&noisy, NULL, &b);
        assert_batch_eq(&a, &b);
        assert_int_equal(a.n_resources, b.n_resources);
        assert_int_equal(a.n_scopes, b.n_scopes);
        tws_batch_free(&a);
        tws_batch_free(&b);
        tw__buf_free(&plain);
        tw__buf_free(&noisy);
    }
}

/* One ScopeSpans of spans given as raw Span bodies. */
static void build_spans(tw__buf *b, void (*span)(tw__buf *, int), int n) {
    tw__pb_mark rs = begin(b, 1), ss = begin(b, 2);
    for (int i = 0; i < n; i++) {
        tw__pb_mark sp = begin(b, 2);
        span(b, i);
        end(b, sp);
    }
    end(b, ss);
    end(b, rs);
}

static const uint8_t ZERO[16];

static void reject_span(tw__buf *b, int i) {
    static const struct {
        int tid_len, sid_len, pid_len;
        bool zero_tid, zero_sid, zero_pid;
    } cases[] = {
        {16, 8, 0, 0, 0, 0},  /* 0 fine, root */
        {-1, 8, 0, 0, 0, 0},  /* 1 no trace id */
        {15, 8, 0, 0, 0, 0},  /* 2 short trace id */
        {16, 8, 0, 1, 0, 0},  /* 3 zero trace id */
        {16, -1, 0, 0, 0, 0}, /* 4 no span id */
        {16, 9, 0, 0, 0, 0},  /* 5 long span id */
        {16, 8, 0, 0, 1, 0},  /* 6 zero span id */
        {16, 8, 7, 0, 0, 0},  /* 7 short parent */
        {16, 8, 8, 0, 0, 1},  /* 8 zero parent: a root */
        {16, 8, 8, 0, 0, 0},  /* 9 fine, child */
        {0, 0, 3, 0, 0, 0},   /* 10 everything wrong: the trace id is named */
        {16, 0, 3, 0, 0, 0},  /* 11 empty span id */
    };
    static const uint8_t ids[24] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
    if (cases[i].tid_len >= 0) tw__pb_bytes(b, 1, cases[i].zero_tid ? ZERO : ids, (size_t)cases[i].tid_len);
    if (cases[i].sid_len >= 0) tw__pb_bytes(b, 2, cases[i].zero_sid ? ZERO : ids, (size_t)cases[i].sid_len);
    if (cases[i].pid_len > 0) tw__pb_bytes(b, 4, cases[i].zero_pid ? ZERO : ids, (size_t)cases[i].pid_len);
    w_str(b, 5, "n");
}

static void test_rejects(void **state) {
    static const uint8_t want[] = {0,
                                   TWS_REJECT_TRACE_ID,
                                   TWS_REJECT_TRACE_ID,
                                   TWS_REJECT_TRACE_ID,
                                   TWS_REJECT_SPAN_ID,
                                   TWS_REJECT_SPAN_ID,
                                   TWS_REJECT_SPAN_ID,
                                   TWS_REJECT_PARENT_ID,
                                   0,
                                   0,
                                   TWS_REJECT_TRACE_ID,
                                   TWS_REJECT_SPAN_ID};
    tw__buf in, out;
    tw__buf_init(&in, 0);
    build_spans(&in, reject_span, (int)TW_ARRAY_LEN(want));
    tws_batch b, c;
    decode_ok(&in, NULL, &b);
    assert_int_equal(b.n_spans, TW_ARRAY_LEN(want));
    uint32_t rejected = 0;
    for (uint32_t i = 0; i < b.n_spans; i++) {
        if (b.spans[i].reject != want[i]) fail_msg("span %u: reject %d, expected %d", i, b.spans[i].reject, want[i]);
        assert_str(b.spans[i].name, "n");
        rejected += want[i] != 0;
    }
    assert_int_equal(b.n_rejected, rejected);
    assert_false(b.spans[8].has_parent);
    assert_memory_equal(b.spans[8].parent_span_id, ZERO, 8);
    assert_true(b.spans[9].has_parent);

    /* NULL idx: the valid spans only. */
    reencode(&b, NULL, &c, &out);
    assert_int_equal(c.n_spans, b.n_spans - rejected);
    assert_int_equal(c.n_rejected, 0);
    tws_batch_free(&c);
    tw__buf_free(&out);
    /* An explicit index is written even for a rejected span (here: invalid again). */
    uint32_t idx[] = {1, 0};
    tws_selection sel = {&b, idx, 2};
    tw__buf_init(&out, 0);
    assert_int_equal(tws_otlp_encode_pb(&sel, 1, 1, &out), 0);
    decode_ok(&out, NULL, &c);
    assert_int_equal(c.n_spans, 2);
    assert_int_equal(c.spans[0].reject, TWS_REJECT_TRACE_ID);
    assert_int_equal(c.spans[1].reject, 0);
    tws_batch_free(&c);
    tw__buf_free(&out);
    tws_batch_free(&b);
    tw__buf_free(&in);
}

/* Decode every prefix and every one-byte corruption of `in`: success or a
 * clean refusal, never a read outside (each attempt has its own exact-size
 * heap copy, so ASan sees overreads). */
static void torture(const tw__buf *in) {
    size_t refused = 0;
    for (size_t k = 0; k <= in->len; k++) {
        uint8_t *copy = malloc(k ? k : 1);
        memcpy(copy, in->data, k);
        tws_decode_options o = {.borrow_input = k & 1, .max_value_len = (k & 2) ? 3 : 0};
        tws_batch b;
        tws_decode_error err;
        int rc = tws_otlp_decode_pb(copy, k, &o, &b, &err);
        if (rc) {
            assert_int_equal(rc, TW_EPARSE);
            assert_true(strlen(err.msg) > 10);
            assert_non_null(strstr(err.msg, " at byte "));
            assert_empty(&b);
            refused++;
        }
        tws_batch_free(&b);
        free(copy);
    }
    assert_true(refused > in->len / 2);

    uint8_t *copy = malloc(in->len);
    static const uint8_t repl[] = {0x00, 0xff, 0x80, 0x07, 0x0b, 0x0c};
    for (size_t k = 0; k < in->len; k++) {
        for (size_t r = 0; r < sizeof repl; r++) {
            memcpy(copy, in->data, in->len);
            copy[k] = repl[r];
            tws_batch b;
            tws_decode_error err;
            int rc = tws_otlp_decode_pb(copy, in->len, NULL, &b, &err);
            assert_true(rc == 0 || rc == TW_EPARSE);
            if (rc == 0) { /* whatever was accepted encodes and decodes again */
                tw__buf enc;
                tws_batch c;
                uint32_t valid = b.n_spans - b.n_rejected;
                reencode(&b, NULL, &c, &enc);
                assert_int_equal(c.n_spans, valid);
                tws_batch_free(&c);
                tw__buf_free(&enc);
            }
            tws_batch_free(&b);
        }
    }
    free(copy);
}

static void test_torture(void **state) {
    tw__buf in;
    void (*builders[])(tw__buf *) = {build_full, build_values};
    for (size_t i = 0; i < TW_ARRAY_LEN(builders); i++) {
        tw__buf_init(&in, 0);
        builders[i](&in);
        torture(&in);
        tw__buf_free(&in);
    }
}

static void expect_error(const void *data, size_t len, const char *want) {
    tws_batch b;
    tws_decode_error err;
    int rc = tws_otlp_decode_pb(data, len, NULL, &b, &err);
    if (rc != TW_EPARSE) fail_msg("rc %d, expected TW_EPARSE (%s)", rc, want);
    if (strcmp(err.msg, want) != 0) fail_msg("message \"%s\", expected \"%s\"", err.msg, want);
    assert_empty(&b);
}

#define EXPECT(lit, want) expect_error(lit, sizeof(lit) - 1, want)

static void test_malformed(void **state) {
    EXPECT("\x0a\x05\x0a", "request: length 5 exceeds the 1 bytes left at byte 0");
    EXPECT("\x00\x00", "request: field number 0 out of range at byte 0");
    EXPECT("\x08", "request: truncated varint at byte 1");
    EXPECT("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", "request: varint longer than 64 bits at byte 1");
    EXPECT("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "request: varint longer than 64 bits at byte 1");
    EXPECT("\x80", "request: truncated varint at byte 0");
    EXPECT("\x80\x80\x80\x80\x80\x01", "request: field number 4294967296 out of range at byte 0");
    EXPECT("\x0e", "request: invalid wire type 6 at byte 0");
    EXPECT("\x0f", "request: invalid wire type 7 at byte 0");
    EXPECT("\x09\x01\x02", "request: truncated fixed64 at byte 0");
    EXPECT("\x0d\x01", "request: truncated fixed32 at byte 0");
    EXPECT("\x0c", "request: end-group (field 1) without its start at byte 0");
    EXPECT("\x0b\x08\x01", "request: group (field 1) without its end at byte 0");
    EXPECT("\x0b\x14", "request: end-group 2 does not close group 1 at byte 1");
    EXPECT("\x0b\x0e", "request: invalid wire type 6 at byte 1");
    EXPECT("\x0b\x12\x09", "request: length 9 exceeds the 0 bytes left at byte 1");
    /* A well-formed group is skipped, even at the top. */
    tws_batch b;
    assert_int_equal(tws_otlp_decode_pb((const uint8_t *)"\x0b\x08\x01\x13\x14\x0c", 6, NULL, &b, NULL), 0);
    tws_batch_free(&b);

    /* Groups nested 32 deep are fine, 33 are not. */
    uint8_t deep[80];
    for (int depth = 32; depth <= 33; depth++) {
        for (int i = 0; i < depth; i++) deep[i] = 0x0b, deep[depth + i] = 0x0c;
        tws_decode_error err;
        int rc = tws_otlp_decode_pb(deep, 2 * (size_t)depth, NULL, &b, &err);
        if (depth == 32) {
            assert_int_equal(rc, 0);
            tws_batch_free(&b);
        } else assert_string_equal(err.msg, "request: groups nested deeper than 32 at byte 32");
    }

    /* Deep inside: the path names every level; indices count per field. */
    tw__buf in;
    tw__buf_init(&in, 0);
    tw__pb_mark rs = begin(&in, 1);
    end(&in, begin(&in, 2));
    tw__pb_mark ss = begin(&in, 2);
    w_ids_span(&in, S[0], "a");
    tw__pb_mark sp = begin(&in, 2);
    kv_int(&in, 9, "a", 1);
    tw__pb_mark lk = begin(&in, 13);
    end(&in, lk);
    lk = begin(&in, 13);
    kvm m = kv_begin(&in, 4, "k");
    tw__pb_mark kl = begin(&in, 6);
    kv_int(&in, 1, "x", 1);
    kvm m2 = kv_begin(&in, 1, "y");
    tw__pb_mark av = begin(&in, 5);
    size_t bad = in.len;
    tw__pb_bytes(&in, 1, "\x18\x80", 2); /* AnyValue { int_value: truncated } */
    end(&in, av);
    kv_end(&in, m2);
    end(&in, kl);
    kv_end(&in, m);
    end(&in, lk);
    end(&in, sp);
    end(&in, ss);
    end(&in, rs);
    char want[256];
    snprintf(want, sizeof want,
             "resourceSpans[0].scopeSpans[1].spans[1].links[1].attributes[0].value.kvlistValue.values[1]"
             ".value.arrayValue.values[0]: truncated varint at byte %zu",
             bad + 3);
    expect_error(in.data, in.len, want);
    tw__buf_free(&in);

    /* Errors found by the counting pass carry the same paths. */
    tw__buf_init(&in, 0);
    rs = begin(&in, 1);
    ss = begin(&in, 2);
    tw__pb_bytes(&in, 2, "\x0a\x09", 2);
    end(&in, ss);
    end(&in, rs);
    expect_error(in.data, in.len,
                 "resourceSpans[0].scopeSpans[0].spans[0]: length 9 exceeds the 0 bytes left at byte 6");
    tw__buf_reset(&in);
    rs = begin(&in, 1);
    ss = begin(&in, 2);
    tw__buf_append(&in, "\x10", 1); /* a varint field without its value */
    end(&in, ss);
    end(&in, rs);
    expect_error(in.data, in.len, "resourceSpans[0].scopeSpans[0]: truncated varint at byte 5");
    tw__buf_free(&in);
}

static void span_utf8(tw__buf *b, int i) {
    tw__pb_bytes(b, 1, T1, 16);
    tw__pb_bytes(b, 2, S[0], 8);
    w_str(b, 5, "a\xff" "b");             /* a stray byte */
    w_str(b, 3, "k=\xc0\xaf");            /* an overlong '/' */
    kv_str(b, 9, "\xed\xa0\x80key", "ok"); /* a surrogate in a key */
    kv_str(b, 9, "v", "abc\xe2\x82");      /* a truncated sequence */
    kv_str(b, 9, "fine", "caf\xc3\xa9 \xf0\x9f\x98\x80");
    tw__pb_mark st = begin(b, 15);
    w_str(b, 2, "\x80\x80");
    end(b, st);
}

static void test_utf8(void **state) {
    tw__buf in;
    tw__buf_init(&in, 0);
    build_spans(&in, span_utf8, 1);
    tws_decode_options o = {.borrow_input = true};
    tws_batch b;
    decode_ok(&in, &o, &b);
    const tws_span *s = &b.spans[0];
    assert_str(s->name, "a\xef\xbf\xbd" "b");
    assert_str(s->trace_state, "k=\xef\xbf\xbd\xef\xbf\xbd");
    assert_str(s->attrs.items[0].key, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdkey");
    assert_str(s->attrs.items[1].val.u.s, "abc\xef\xbf\xbd");
    assert_str(s->attrs.items[2].val.u.s, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    assert_str(s->status_message, "\xef\xbf\xbd\xef\xbf\xbd");
    assert_int_equal(b.utf8_repairs, 5);
    assert_int_equal(b.truncations, 0);
    /* Repaired strings live in the arena, valid ones stay in the input. */
    assert_false(points_into(s->name, &in));
    assert_true(points_into(s->attrs.items[2].val.u.s, &in));
    assert_true(points_into(s->attrs.items[1].key, &in));
    tws_batch_free(&b);
    tw__buf_free(&in);
}

static void span_long(tw__buf *b, int i) {
    tw__pb_bytes(b, 1, T1, 16);
    tw__pb_bytes(b, 2, S[0], 8);
    w_str(b, 5, "a long span name, never cut");
    kv_str(b, 9, "a long key, never cut either", "h\xc3\xa9llo"); /* cut after 4 bytes: "hél" */
    kv_str(b, 9, "euro", "ab\xe2\x82\xac");                    /* 4 would split the euro: "ab" */
    kv_str(b, 9, "exact", "abcd");                             /* at the limit: kept */
    kv_str(b, 9, "ascii", "abcdefgh");                         /* "abcd" */
    kv_str(b, 9, "bad", "\xff\xff");                           /* repaired to 6 bytes, cut to 3 */
    kvm m = kv_begin(b, 9, "arr");
    tw__pb_mark av = begin(b, 5), v = begin(b, 1);
    w_str(b, 1, "nested!");
    end(b, v);
    end(b, av);
    kv_end(b, m);
    m = kv_begin(b, 9, "bytes");
    tw__pb_bytes(b, 7, "0123456789", 10); /* bytes are not cut */
    kv_end(b, m);
}

static void test_truncation(void **state) {
    tw__buf in, enc;
    tw__buf_init(&in, 0);
    build_spans(&in, span_long, 1);
    tws_decode_options o = {.max_value_len = 4, .borrow_input = true};
    tws_batch b, c;
    decode_ok(&in, &o, &b);
    const tws_span *s = &b.spans[0];
    assert_str(s->name, "a long span name, never cut");
    assert_str(s->attrs.items[0].key, "a long key, never cut either");
    assert_str(s->attrs.items[0].val.u.s, "h\xc3\xa9l");
    assert_str(s->attrs.items[1].val.u.s, "ab");
    assert_str(s->attrs.items[2].val.u.s, "abcd");
    assert_str(s->attrs.items[3].val.u.s, "abcd");
    assert_str(s->attrs.items[4].val.u.s, "\xef\xbf\xbd");
    assert_str(s->attrs.items[5].val.u.arr[0].u.s, "nest");
    assert_int_equal(s->attrs.items[6].val.u.s.len, 10);
    assert_int_equal(b.truncations, 5);
    assert_int_equal(b.utf8_repairs, 1);
    assert_true(points_into(s->attrs.items[0].val.u.s, &in)); /* cutting needs no copy */
    /* Cut values are stable: decoding the encoding cuts nothing more. */
    reencode(&b, &o, &c, &enc);
    assert_batch_eq(&b, &c);
    assert_int_equal(c.truncations, 0);
    tws_batch_free(&b);
    tws_batch_free(&c);
    tw__buf_free(&enc);
    tw__buf_free(&in);
}

static size_t len_field(size_t n) { return 1 + tw__pb_varint_size(n) + n; }

/* A span with one attribute nested `depth` arrays (or kvlists) deep. The
 * lengths are computed first, from the inside out, so that building even
 * thousands of levels is linear. */
static void build_nested(tw__buf *b, int depth, bool kvlist) {
    size_t *any = malloc(sizeof *any * (size_t)(depth + 1)); /* AnyValue body size per level */
    any[0] = 2;                                               /* int_value: 42 */
    for (int d = 1; d <= depth; d++) {
        size_t item = kvlist ? len_field(3 + len_field(any[d - 1])) : len_field(any[d - 1]);
        any[d] = len_field(item);
    }
    tw__pb_mark rs = tw__pb_begin(b, 1, 3), ss = tw__pb_begin(b, 2, 3), sp = tw__pb_begin(b, 2, 3);
    tw__pb_bytes(b, 1, T1, 16);
    tw__pb_bytes(b, 2, S[0], 8);
    tw__pb_mark kv = tw__pb_begin(b, 9, 3);
    w_str(b, 1, "deep");
    tw__pb_len_header(b, 2, any[depth]);
    for (int d = depth; d > 0; d--) {
        if (kvlist) {
            size_t kvb = 3 + len_field(any[d - 1]);
            tw__pb_len_header(b, 6, len_field(kvb)); /* KeyValueList */
            tw__pb_len_header(b, 1, kvb);            /* KeyValue */
            w_str(b, 1, "k");
            tw__pb_len_header(b, 2, any[d - 1]); /* its AnyValue */
        } else {
            tw__pb_len_header(b, 5, len_field(any[d - 1])); /* ArrayValue */
            tw__pb_len_header(b, 1, any[d - 1]);            /* AnyValue */
        }
    }
    tw__pb_uint64(b, 3, 42);
    free(any);
    tw__pb_end(b, kv);
    tw__pb_end(b, sp);
    tw__pb_end(b, ss);
    tw__pb_end(b, rs);
    assert_int_equal(b->failed, 0);
}

static void check_depth(int depth, bool kvlist, uint32_t max_depth, bool ok) {
    tw__buf in;
    tw__buf_init(&in, 0);
    build_nested(&in, depth, kvlist);
    tws_decode_options o = {.max_depth = max_depth};
    tws_batch b;
    tws_decode_error err;
    int rc = decode(&in, &o, &b, &err);
    if (ok) {
        if (rc) fail_msg("depth %d (max %u): %s", depth, max_depth, err.msg);
        const tws_value *v = &b.spans[0].attrs.items[0].val;
        for (int d = 0; d < depth; d++) {
            assert_int_equal(v->type, kvlist ? TWS_KVLIST : TWS_ARRAY);
            assert_int_equal(v->n, 1);
            v = kvlist ? &v->u.kv[0].val : &v->u.arr[0];
        }
        assert_int_equal(v->type, TWS_INT);
        assert_int_equal(v->u.i, 42);
        tw__buf enc;
        tws_batch c;
        reencode(&b, &o, &c, &enc);
        assert_batch_eq(&b, &c);
        tws_batch_free(&c);
        tw__buf_free(&enc);
    } else {
        assert_int_equal(rc, TW_EPARSE);
        char want[64];
        snprintf(want, sizeof want, "AnyValue nested deeper than %u at byte",
                 max_depth ? (max_depth > 128 ? 128 : max_depth) : 32);
        if (!strstr(err.msg, want)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
        static const char prefix[] = "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.";
        assert_true(strncmp(err.msg, prefix, sizeof prefix - 1) == 0);
    }
    tws_batch_free(&b);
    tw__buf_free(&in);
}

static void test_depth(void **state) {
    check_depth(0, false, 0, true);
    check_depth(32, false, 0, true);
    check_depth(33, false, 0, false);
    check_depth(32, true, 0, true);
    check_depth(33, true, 0, false);
    check_depth(1, false, 1, true);
    check_depth(2, false, 1, false);
    check_depth(3, true, 3, true);
    check_depth(4, true, 3, false);
    check_depth(128, false, 1000, true); /* the cap */
    check_depth(129, false, 1000, false);
    check_depth(20000, false, 0, false); /* no stack to spare for this */
    check_depth(20000, true, UINT32_MAX, false);
}

static void many_attrs(tw__buf *b, int i) {
    tw__pb_bytes(b, 1, T1, 16);
    tw__pb_bytes(b, 2, S[0], 8);
    if (i == 0) {
        for (int k = 0; k < 100000; k++) kv_int(b, 9, "k", k);
        kvm m = kv_begin(b, 9, "list");
        tw__pb_mark kl = tw__pb_begin(b, 6, 3);
        for (int k = 0; k < 50000; k++) kv_bool(b, 1, "b", k & 1);
        tw__pb_end(b, kl);
        kv_end(b, m);
        for (int k = 0; k < 3000; k++) {
            tw__pb_mark ev = tw__pb_begin(b, 11, 1);
            tw__pb_fixed64(b, 1, (uint64_t)k);
            tw__pb_end(b, ev);
        }
        tw__pb_uint64(b, 10, UINT32_MAX);
        tw__pb_uint64(b, 12, ((uint64_t)1 << 40) + 5); /* uint32: the low 32 bits */
        tw__pb_uint64(b, 14, UINT64_MAX);
    }
}

static void test_huge_counts(void **state) {
    tw__buf in, enc;
    tw__buf_init(&in, 0);
    build_spans(&in, many_attrs, 20000);
    tws_batch b, c;
    decode_ok(&in, NULL, &b);
    assert_int_equal(b.n_spans, 20000);
    const tws_span *s = &b.spans[0];
    assert_int_equal(s->attrs.n, 100001);
    assert_int_equal(s->attrs.items[99999].val.u.i, 99999);
    assert_int_equal(s->attrs.items[100000].val.n, 50000);
    assert_true(s->attrs.items[100000].val.u.kv[49999].val.u.b);
    assert_int_equal(s->n_events, 3000);
    assert_true(s->events[2999].time_ns == 2999);
    assert_int_equal(s->attrs.dropped, UINT32_MAX);
    assert_int_equal(s->dropped_events, 5);
    assert_int_equal(s->dropped_links, UINT32_MAX);
    for (uint32_t i = 1; i < b.n_spans; i++) assert_int_equal(b.spans[i].scope_idx, 0);
    reencode(&b, NULL, &c, &enc);
    assert_batch_eq(&b, &c);
    tws_batch_free(&b);
    tws_batch_free(&c);
    tw__buf_free(&enc);
    tw__buf_free(&in);
}

static void test_duplicates_and_enums(void **state) {
    tw__buf in;
    tw__buf_init(&in, 0);
    tw__pb_mark rs = begin(&in, 1);
    tw__pb_mark res = begin(&in, 1);
    kv_str(&in, 1, "first", "x");
    tw__pb_uint64(&in, 2, 9);
    end(&in, res);
    res = begin(&in, 1); /* merged: its list replaces, the dropped count stays */
    kv_str(&in, 1, "second", "y");
    end(&in, res);
    tw__pb_mark ss = begin(&in, 2), sp = begin(&in, 2);
    tw__pb_bytes(&in, 1, "short", 5);
    tw__pb_bytes(&in, 1, T1, 16); /* the last one wins */
    tw__pb_bytes(&in, 2, S[0], 8);
    tw__pb_bytes(&in, 2, "bad", 3);
    tw__pb_bytes(&in, 2, S[1], 8);
    w_str(&in, 5, "one");
    w_str(&in, 5, "two");
    tw__pb_uint64(&in, 6, 6); /* kind out of range */
    tw__pb_mark st = begin(&in, 15);
    tw__pb_uint64(&in, 3, 3); /* code out of range */
    w_str(&in, 2, "m");
    end(&in, st);
    kvm m = kv_begin(&in, 9, "v");
    w_str(&in, 1, "str");
    tw__pb_uint64(&in, 3, 7); /* the oneof's last member wins */
    kv_end(&in, m);
    end(&in, sp);
    sp = begin(&in, 2);
    tw__pb_bytes(&in, 1, T1, 16);
    tw__pb_bytes(&in, 2, S[2], 8);
    tw__pb_uint64(&in, 6, (uint64_t)-1); /* a negative enum */
    tw__pb_mark st2 = begin(&in, 15);
    tw__pb_uint64(&in, 3, 2);
    end(&in, st2);
    st2 = begin(&in, 15); /* merged into the first */
    w_str(&in, 2, "later");
    end(&in, st2);
    tw__pb_bytes(&in, 4, P1, 8);
    tw__pb_bytes(&in, 4, "", 0); /* the default: no parent after all */
    end(&in, sp);
    end(&in, ss);
    end(&in, rs);
    tws_batch b;
    decode_ok(&in, NULL, &b);
    assert_int_equal(b.resources[0].attrs.n, 1);
    assert_str(b.resources[0].attrs.items[0].key, "second");
    assert_int_equal(b.resources[0].attrs.dropped, 9);
    const tws_span *s = &b.spans[0];
    assert_int_equal(s->reject, 0);
    assert_memory_equal(s->trace_id, T1, 16);
    assert_memory_equal(s->span_id, S[1], 8);
    assert_str(s->name, "two");
    assert_int_equal(s->kind, 0);
    assert_int_equal(s->status_code, 0);
    assert_str(s->status_message, "m");
    assert_int_equal(s->attrs.items[0].val.type, TWS_INT);
    assert_int_equal(s->attrs.items[0].val.u.i, 7);
    s = &b.spans[1];
    assert_int_equal(s->kind, 0);
    assert_int_equal(s->status_code, 2);
    assert_str(s->status_message, "later");
    assert_false(s->has_parent);
    assert_int_equal(s->reject, 0);
    tws_batch_free(&b);
    tw__buf_free(&in);
}

/* Two resources of two scopes of two spans: span i is in scope i/2, resource i/4. */
static void build_grid(tw__buf *b) {
    for (int r = 0; r < 2; r++) {
        tw__pb_mark rs = begin(b, 1), res = begin(b, 1);
        kv_int(b, 1, "r", r);
        end(b, res);
        for (int s = 0; s < 2; s++) {
            tw__pb_mark ss = begin(b, 2), sc = begin(b, 1);
            char name[8];
            snprintf(name, sizeof name, "s%d", 2 * r + s);
            w_str(b, 1, name);
            end(b, sc);
            for (int k = 0; k < 2; k++) {
                uint8_t sid[8] = {(uint8_t)(4 * r + 2 * s + k + 1)};
                w_ids_span(b, sid, NULL);
            }
            end(b, ss);
        }
        end(b, rs);
    }
}

static void test_grouping(void **state) {
    tw__buf in, out;
    tw__buf_init(&in, 0);
    build_grid(&in);
    tws_batch b, c;
    decode_ok(&in, NULL, &b);
    assert_int_equal(b.n_spans, 8);

    /* First appearance decides: resource 1 (span 7, scope 3), resource 0
     * (span 0, scope 0); scope 2 joins resource 1 and scope 1 resource 0. */
    uint32_t idx[] = {7, 0, 5, 2, 1};
    tws_selection sel = {&b, idx, TW_ARRAY_LEN(idx)};
    tw__buf_init(&out, 0);
    assert_int_equal(tws_otlp_encode_pb(&sel, 1, 1, &out), 0);
    decode_ok(&out, NULL, &c);
    assert_int_equal(c.n_resources, 2);
    assert_int_equal(c.n_scopes, 4);
    static const int order[] = {7, 5, 0, 1, 2};
    static const char *scope[] = {"s3", "s2", "s0", "s0", "s1"};
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(c.spans[i].span_id[0], order[i] + 1);
        assert_str(c.scopes[c.spans[i].scope_idx].name, scope[i]);
        assert_int_equal(c.resources[c.scopes[c.spans[i].scope_idx].resource_idx].attrs.items[0].val.u.i,
                         order[i] / 4);
    }
    tws_batch_free(&c);

    /* Several selections: written one after the other, not merged. */
    uint32_t one[] = {0}, two[] = {1, 6};
    tws_selection sels[] = {{&b, one, 1}, {&b, two, 2}, {&b, NULL, 0}};
    tw__buf_reset(&out);
    assert_int_equal(tws_otlp_encode_pb(sels, 2, 1, &out), 0);
    decode_ok(&out, NULL, &c);
    assert_int_equal(c.n_resources, 3);
    assert_int_equal(c.n_spans, 3);
    assert_int_equal(c.spans[0].span_id[0], 1);
    assert_int_equal(c.spans[1].span_id[0], 2);
    assert_int_equal(c.spans[2].span_id[0], 7);
    tws_batch_free(&c);
    tw__buf_reset(&out);
    assert_int_equal(tws_otlp_encode_pb(sels, 3, 1, &out), 0); /* + all spans */
    decode_ok(&out, NULL, &c);
    assert_int_equal(c.n_spans, 11);
    tws_batch_free(&c);

    /* Another field number: the resource spans of e.g. Tempo's Trace. */
    tw__buf_reset(&out);
    assert_int_equal(tws_otlp_encode_pb(&sel, 1, 20, &out), 0);
    assert_int_equal(out.data[0], 0xa2); /* field 20, LEN: two-byte tag */
    assert_int_equal(out.data[1], 0x01);

    /* The buffer's cap: an error, no overrun. */
    tw__buf small;
    tw__buf_init(&small, 40);
    assert_int_equal(tws_otlp_encode_pb(&sel, 1, 1, &small), TW_ERANGE);
    assert_true(small.len <= 40);
    tw__buf_free(&small);

    /* Memory for the grouping. */
    tw__buf_reset(&out);
    tw__alloc_fail_after(0);
    int rc = tws_otlp_encode_pb(&sel, 1, 1, &out);
    tw__alloc_fail_after(-1);
    assert_int_equal(rc, TW_ENOMEM);
    tws_batch_free(&b);
    tw__buf_free(&out);
    tw__buf_free(&in);
}

static void test_enomem(void **state) {
    tw__buf in;
    tw__buf_init(&in, 0);
    build_full(&in);
    for (int borrow = 0; borrow < 2; borrow++) {
        tws_decode_options o = {.borrow_input = borrow, .max_value_len = 2};
        for (long n = 0;; n++) {
            tws_batch b;
            tws_decode_error err;
            tw__alloc_fail_after(n);
            int rc = decode(&in, &o, &b, &err);
            tw__alloc_fail_after(-1);
            if (rc == 0) {
                assert_int_equal(b.n_spans, 4);
                tws_batch_free(&b);
                assert_true(n >= 1);
                break;
            }
            assert_int_equal(rc, TW_ENOMEM);
            assert_string_equal(err.msg, "out of memory");
            assert_empty(&b);
        }
    }
    tw__buf_free(&in);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena),     cmocka_unit_test(test_empty),       cmocka_unit_test(test_full),
        cmocka_unit_test(test_values),    cmocka_unit_test(test_unknown_fields), cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_torture),   cmocka_unit_test(test_malformed),   cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_truncation), cmocka_unit_test(test_depth),      cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_duplicates_and_enums), cmocka_unit_test(test_grouping), cmocka_unit_test(test_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
