/*
 * test_propagator.c — propagators over carriers: the HTTP header carrier,
 * the w3c/trace-context test suite's request cases end to end (header name
 * casing, duplicates, tracestate handling), baggage, B3 single and multi,
 * composites, OTEL_PROPAGATORS, the global propagator and the Kafka carrier.
 * LeakSanitizer checks that replaced references are released.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#ifdef TW_HAVE_RDKAFKA
#include <librdkafka/rdkafka.h>
#endif

#include "propagation/propagation_int.h"

#define TID "12345678901234567890123456789012"
#define SID "1234567890123456"
#define TP "00-" TID "-" SID "-01"

/* ---- helpers -------------------------------------------------------------------- */

typedef struct req {
    tw_http_headers h;
    tw_carrier c;
} req;

static void req_init(req *r) {
    tw_http_headers_init(&r->h);
    r->c = tw_http_headers_carrier(&r->h);
}

static void add(req *r, const char *name, const char *value) {
    assert_int_equal(tw_http_headers_add(&r->h, name, value, TW_NTS), TW_OK);
}

/* The only value of `name` (case-insensitive), or NULL when absent. */
static const char *header(req *r, const char *name) {
    tw_str v[2];
    size_t n = r->c.get(r->c.self, name, v, 2);
    if (n == 0) return NULL;
    assert_int_equal(n, 1);
    return v[0].ptr;
}

static void assert_trace_id(const tw_context *ctx, const char *hex) {
    char t[33];
    tw_trace_id_to_hex(&ctx->span.trace_id, t);
    assert_string_equal(t, hex);
}

static void assert_span_id(const tw_context *ctx, const char *hex) {
    char s[17];
    tw_span_id_to_hex(&ctx->span.span_id, s);
    assert_string_equal(s, hex);
}

static tw_context extract(tw_propagator *p, req *r) {
    tw_context ctx = TW_CONTEXT_INIT;
    assert_int_equal(tw_propagator_extract(p, &r->c, &ctx), TW_OK);
    return ctx;
}

static bool has_span(const tw_context *ctx) {
    return tw_trace_id_is_valid(&ctx->span.trace_id) && tw_span_id_is_valid(&ctx->span.span_id);
}

static void ts_str(const tw_tracestate *ts, char *buf, size_t n) { assert_true(tw_tracestate_format(ts, 0, buf, n) >= 0); }

/* ---- HTTP carrier ----------------------------------------------------------------- */

static void test_http_headers(void **state) {
    req r;
    req_init(&r);
    add(&r, "TraceState", "a=1");
    add(&r, "Host", "example.com");
    add(&r, "tracestate", "b=2");
    tw_str v[4];
    assert_int_equal(r.c.get(r.c.self, "TRACESTATE", v, 4), 2);
    assert_string_equal(v[0].ptr, "a=1");
    assert_string_equal(v[1].ptr, "b=2");
    assert_int_equal(v[1].len, 3);
    assert_int_equal(r.c.get(r.c.self, "tracestate", v, 1), 1); /* never more than max */
    assert_string_equal(v[0].ptr, "a=1");
    assert_int_equal(r.c.get(r.c.self, "trace-state", v, 4), 0);
    /* set replaces every line of the name, in any case, and keeps the others */
    assert_int_equal(r.c.set(r.c.self, "tracestate", "c=3", 3), TW_OK);
    assert_int_equal(r.c.get(r.c.self, "tracestate", v, 4), 1);
    assert_string_equal(v[0].ptr, "c=3");
    assert_int_equal(r.h.count, 2);
    assert_string_equal(header(&r, "host"), "example.com");
    /* explicit lengths are honoured and the copy is NUL-terminated */
    assert_int_equal(tw_http_headers_add(&r.h, "x", "abcdef", 3), TW_OK);
    assert_string_equal(header(&r, "X"), "abc");
    assert_int_equal(tw_http_headers_add(&r.h, NULL, "v", 1), TW_EINVAL);
    tw_http_headers_free(&r.h);
    assert_int_equal(r.h.count, 0);
    tw_http_headers_free(&r.h); /* twice is fine */
}

static void test_http_headers_alloc_failure(void **state) {
    req r;
    req_init(&r);
    add(&r, "a", "1");
    for (long budget = 0; budget < 3; budget++) {
        tw__alloc_fail_after(budget);
        int rc = r.c.set(r.c.self, "A", "2", 1);
        tw__alloc_fail_after(-1);
        if (rc == TW_OK) break;
        assert_int_equal(rc, TW_ENOMEM);
        assert_string_equal(header(&r, "a"), "1"); /* untouched */
    }
    assert_string_equal(header(&r, "a"), "2");
    tw__alloc_fail_after(0);
    int rc = tw_http_headers_add(&r.h, "b", "x", 1);
    tw__alloc_fail_after(-1);
    assert_int_equal(rc, TW_ENOMEM);
    assert_null(header(&r, "b"));
    tw_http_headers_free(&r.h);
}

/* ---- tracecontext: the w3c test suite's requests ------------------------------------ */

static void test_tc_extract(void **state) {
    req r;
    req_init(&r);
    add(&r, "traceparent", TP);
    add(&r, "tracestate", "foo=1,bar=2");
    tw_context ctx = extract(tw_propagator_tracecontext(), &r);
    assert_trace_id(&ctx, TID);
    assert_span_id(&ctx, SID);
    assert_int_equal(ctx.span.flags, 1);
    assert_true(ctx.span.is_remote);
    tw_str v;
    assert_int_equal(tw_tracestate_get(ctx.span.state, "foo", &v), TW_OK);
    assert_int_equal(tw_tracestate_get(ctx.span.state, "bar", &v), TW_OK);
    assert_null(ctx.baggage);
    tw_context_release(&ctx);
    tw_http_headers_free(&r.h);
}

static void test_tc_header_name_casing(void **state) {
    const char *names[] = {"TraceParent", "TrAcEpArEnT", "TRACEPARENT"};
    for (size_t i = 0; i < TW_ARRAY_LEN(names); i++) {
        req r;
        req_init(&r);
        add(&r, names[i], TP);
        add(&r, i == 0 ? "TraceState" : i == 1 ? "TrAcEsTaTe" : "TRACESTATE", "foo=1");
        tw_context ctx = extract(tw_propagator_tracecontext(), &r);
        assert_trace_id(&ctx, TID);
        assert_int_equal(tw_tracestate_get(ctx.span.state, "foo", NULL), TW_OK);
        tw_context_release(&ctx);
        tw_http_headers_free(&r.h);
    }
}

static void test_tc_wrong_names_and_duplicates(void **state) {
    const char *wrong[] = {"trace-parent", "trace.parent"};
    for (size_t i = 0; i < TW_ARRAY_LEN(wrong); i++) {
        req r;
        req_init(&r);
        add(&r, wrong[i], TP);
        tw_context ctx = extract(tw_propagator_tracecontext(), &r);
        assert_false(has_span(&ctx));
        tw_http_headers_free(&r.h);
    }
    /* test_traceparent_duplicated: two lines are no traceparent at all */
    req r;
    req_init(&r);
    add(&r, "traceparent", "00-12345678901234567890123456789011-1234567890123456-01");
    add(&r, "traceparent", TP);
    tw_context ctx = extract(tw_propagator_tracecontext(), &r);
    assert_false(has_span(&ctx));
    tw_http_headers_free(&r.h);
    /* test_tracestate_header_name: a misnamed tracestate is ignored */
    req_init(&r);
    add(&r, "traceparent", TP);
    add(&r, "trace-state", "foo=1");
    ctx = extract(tw_propagator_tracecontext(), &r);
    assert_true(has_span(&ctx));
    assert_null(ctx.span.state);
    tw_http_headers_free(&r.h);
}

static void test_tc_tracestate_without_traceparent(void **state) {
    req r;
    req_init(&r);
    add(&r, "tracestate", "foo=1");
    tw_context ctx = extract(tw_propagator_tracecontext(), &r);
    assert_false(has_span(&ctx));
    assert_null(ctx.span.state);
    tw_http_headers_free(&r.h);
    /* and with an invalid traceparent, tracestate is not even looked at */
    req_init(&r);
    add(&r, "traceparent", "00-00000000000000000000000000000000-" SID "-01");
    add(&r, "tracestate", "foo=1");
    ctx = extract(tw_propagator_tracecontext(), &r);
    assert_false(has_span(&ctx));
    assert_null(ctx.span.state);
    tw_http_headers_free(&r.h);
}

static void test_tc_invalid_tracestate_keeps_traceparent(void **state) {
    const char *bad[] = {"foo=1,foo=2", "FOO=1", "foo@=1,bar=2", "foo=,bar=3", "foo=bar=baz"};
    for (size_t i = 0; i < TW_ARRAY_LEN(bad); i++) {
        req r;
        req_init(&r);
        add(&r, "traceparent", TP);
        add(&r, "tracestate", bad[i]);
        tw_context ctx = extract(tw_propagator_tracecontext(), &r);
        assert_trace_id(&ctx, TID);
        assert_null(ctx.span.state);
        tw_http_headers_free(&r.h);
    }
}

static void test_tc_several_tracestate_lines(void **state) {
    req r;
    req_init(&r);
    add(&r, "traceparent", TP);
    add(&r, "tracestate", "foo=1,bar=2");
    add(&r, "tracestate", "");
    add(&r, "tracestate", "rojo=1,congo=2");
    add(&r, "tracestate", "baz=3");
    tw_context ctx = extract(tw_propagator_tracecontext(), &r);
    char buf[128];
    ts_str(ctx.span.state, buf, sizeof buf);
    assert_string_equal(buf, "foo=1,bar=2,rojo=1,congo=2,baz=3");
    tw_context_release(&ctx);
    tw_http_headers_free(&r.h);
    /* test_tracestate_duplicated_keys across lines */
    req_init(&r);
    add(&r, "traceparent", TP);
    add(&r, "tracestate", "foo=1");
    add(&r, "tracestate", "foo=2");
    ctx = extract(tw_propagator_tracecontext(), &r);
    assert_true(has_span(&ctx));
    assert_null(ctx.span.state);
    tw_http_headers_free(&r.h);
    /* an empty tracestate header: no state, traceparent kept */
    req_init(&r);
    add(&r, "traceparent", TP);
    add(&r, "tracestate", "");
    ctx = extract(tw_propagator_tracecontext(), &r);
    assert_true(has_span(&ctx));
    assert_null(ctx.span.state);
    tw_http_headers_free(&r.h);
    /* more lines than are read: dropped */
    req_init(&r);
    add(&r, "traceparent", TP);
    for (int i = 0; i < 65; i++) add(&r, "tracestate", "");
    add(&r, "tracestate", "a=1");
    ctx = extract(tw_propagator_tracecontext(), &r);
    assert_true(has_span(&ctx));
    assert_null(ctx.span.state);
    tw_http_headers_free(&r.h);
}

static void test_tc_extract_replaces_and_releases(void **state) {
    req r;
    req_init(&r);
    add(&r, "traceparent", "00-" TID "-" SID "-00");
    add(&r, "tracestate", "new=1");
    tw_context ctx = TW_CONTEXT_INIT;
    assert_int_equal(tw_tracestate_parse("old=1", 5, &ctx.span.state, NULL), TW_OK);
    assert_int_equal(tw_baggage_parse("k=v", 3, &ctx.baggage, NULL), TW_OK);
    ctx.span.trace_id.bytes[0] = 9, ctx.span.span_id.bytes[0] = 9;
    assert_int_equal(tw_propagator_extract(tw_propagator_tracecontext(), &r.c, &ctx), TW_OK);
    assert_trace_id(&ctx, TID);
    assert_int_equal(ctx.span.flags, 0);
    assert_int_equal(tw_tracestate_get(ctx.span.state, "old", NULL), TW_ENOTFOUND);
    assert_int_equal(tw_tracestate_get(ctx.span.state, "new", NULL), TW_OK);
    assert_int_equal(tw_baggage_get(ctx.baggage, "k", NULL), TW_OK); /* not ours to touch */
    tw_http_headers_free(&r.h);

    /* a bad header leaves everything as it was */
    req_init(&r);
    add(&r, "traceparent", "00-" TID "-" SID "-0x");
    tw_tracestate *before = ctx.span.state;
    assert_int_equal(tw_propagator_extract(tw_propagator_tracecontext(), &r.c, &ctx), TW_OK);
    assert_ptr_equal(ctx.span.state, before);
    assert_trace_id(&ctx, TID);
    tw_context_release(&ctx);
    tw_http_headers_free(&r.h);
}

static void test_tc_extract_without_tracestate_does_not_allocate(void **state) {
    req r;
    req_init(&r);
    add(&r, "traceparent", TP);
    tw_context ctx = TW_CONTEXT_INIT;
    tw__alloc_fail_after(0);
    int rc = tw_propagator_extract(tw_propagator_tracecontext(), &r.c, &ctx);
    tw__alloc_fail_after(-1);
    assert_int_equal(rc, TW_OK);
    assert_trace_id(&ctx, TID);
    /* with a tracestate the one allocation failing is reported, the
     * traceparent still extracted */
    add(&r, "tracestate", "a=1");
    tw__alloc_fail_after(0);
    rc = tw_propagator_extract(tw_propagator_tracecontext(), &r.c, &ctx);
    tw__alloc_fail_after(-1);
    assert_int_equal(rc, TW_ENOMEM);
    assert_true(has_span(&ctx));
    assert_null(ctx.span.state);
    tw_http_headers_free(&r.h);
}

static void test_tc_inject(void **state) {
    req in, out;
    req_init(&in);
    add(&in, "traceparent", "00-" TID "-" SID "-ff");
    add(&in, "tracestate", "congo=t61rcWkgMzE");
    tw_context ctx = extract(tw_propagator_tracecontext(), &in);
    req_init(&out);
    add(&out, "TRACEPARENT", "stale");
    assert_int_equal(tw_propagator_inject(tw_propagator_tracecontext(), &ctx, &out.c), TW_OK);
    assert_string_equal(header(&out, "traceparent"), "00-" TID "-" SID "-03"); /* unknown flags zeroed */
    assert_string_equal(header(&out, "tracestate"), "congo=t61rcWkgMzE");
    /* names are written lowercase */
    for (size_t i = 0; i < out.h.count; i++)
        assert_true(strcmp(out.h.items[i].name, "traceparent") == 0 || strcmp(out.h.items[i].name, "tracestate") == 0);
    tw_context_release(&ctx);
    tw_http_headers_free(&in.h);
    tw_http_headers_free(&out.h);
}

/* Injecting again into the same headers reuses their buffers. */
static void test_tc_inject_again_does_not_allocate(void **state) {
    req in, out;
    req_init(&in);
    add(&in, "traceparent", TP);
    add(&in, "tracestate", "congo=t61rcWkgMzE");
    tw_context ctx = extract(tw_propagator_tracecontext(), &in);
    req_init(&out);
    assert_int_equal(tw_propagator_inject(tw_propagator_tracecontext(), &ctx, &out.c), TW_OK);
    tw__alloc_fail_after(0);
    int rc = tw_propagator_inject(tw_propagator_tracecontext(), &ctx, &out.c);
    tw__alloc_fail_after(-1);
    assert_int_equal(rc, TW_OK);
    assert_int_equal(out.h.count, 2);
    assert_string_equal(header(&out, "traceparent"), TP);
    /* a longer value needs a bigger buffer: reported, and the old value kept */
    tw__alloc_fail_after(0);
    rc = out.c.set(out.c.self, "tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", TW_NTS);
    tw__alloc_fail_after(-1);
    assert_int_equal(rc, TW_ENOMEM);
    assert_string_equal(header(&out, "tracestate"), "congo=t61rcWkgMzE");
    /* a shorter one fits in place */
    assert_int_equal(out.c.set(out.c.self, "TraceState", "a=1", 3), TW_OK);
    assert_string_equal(header(&out, "tracestate"), "a=1");
    assert_int_equal(out.h.items[1].value_len, 3);
    assert_string_equal(out.h.items[1].name, "TraceState"); /* the spelling given last */
    tw_context_release(&ctx);
    tw_http_headers_free(&in.h);
    tw_http_headers_free(&out.h);
}

static void test_tc_inject_invalid_or_empty(void **state) {
    req out;
    req_init(&out);
    tw_context ctx = TW_CONTEXT_INIT;
    assert_int_equal(tw_propagator_inject(tw_propagator_tracecontext(), &ctx, &out.c), TW_OK);
    assert_int_equal(out.h.count, 0);
    ctx.span.trace_id.bytes[15] = 1; /* span id still zero */
    assert_int_equal(tw_propagator_inject(tw_propagator_tracecontext(), &ctx, &out.c), TW_OK);
    assert_int_equal(out.h.count, 0);
    /* an empty (non-NULL) tracestate writes no tracestate header */
    ctx.span.span_id.bytes[0] = 1;
    tw_tracestate *one = NULL;
    assert_int_equal(tw_tracestate_parse("a=1", 3, &one, NULL), TW_OK);
    assert_int_equal(tw_tracestate_remove(one, "a", &ctx.span.state), TW_OK);
    tw_tracestate_unref(one);
    assert_int_equal(tw_propagator_inject(tw_propagator_tracecontext(), &ctx, &out.c), TW_OK);
    assert_non_null(header(&out, "traceparent"));
    assert_null(header(&out, "tracestate"));
    tw_context_release(&ctx);
    tw_http_headers_free(&out.h);
}

static void test_tc_inject_truncates_tracestate(void **state) {
    /* 32 members of 20 characters: 671 in all; 512 keep the leftmost 24 */
    char buf[800];
    size_t n = 0;
    for (int i = 0; i < 32; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, "%sk%02d=%016d", i ? "," : "", i, i);
    tw_context ctx = TW_CONTEXT_INIT;
    ctx.span.trace_id.bytes[0] = 1, ctx.span.span_id.bytes[0] = 1;
    assert_int_equal(tw_tracestate_parse(buf, n, &ctx.span.state, NULL), TW_OK);
    req out;
    req_init(&out);
    assert_int_equal(tw_propagator_inject(tw_propagator_tracecontext(), &ctx, &out.c), TW_OK);
    const char *ts = header(&out, "tracestate");
    assert_int_equal(strlen(ts), 24 * 20 + 23);
    assert_int_equal(strncmp(ts, buf, strlen(ts)), 0);
    tw_context_release(&ctx);
    tw_http_headers_free(&out.h);
}

static void test_tc_round_trip(void **state) {
    tw_context a = TW_CONTEXT_INIT;
    assert_int_equal(tw_trace_id_from_hex("4bf92f3577b34da6a3ce929d0e0e4736", 32, &a.span.trace_id), TW_OK);
    assert_int_equal(tw_span_id_from_hex("00f067aa0ba902b7", 16, &a.span.span_id), TW_OK);
    a.span.flags = TW_FLAG_SAMPLED;
    assert_int_equal(tw_tracestate_parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", TW_NTS, &a.span.state, NULL), TW_OK);
    req r;
    req_init(&r);
    assert_int_equal(tw_propagator_inject(tw_propagator_tracecontext(), &a, &r.c), TW_OK);
    tw_context b = extract(tw_propagator_tracecontext(), &r);
    assert_memory_equal(&a.span.trace_id, &b.span.trace_id, sizeof a.span.trace_id);
    assert_memory_equal(&a.span.span_id, &b.span.span_id, sizeof a.span.span_id);
    assert_int_equal(b.span.flags, a.span.flags);
    char x[128], y[128];
    ts_str(a.span.state, x, sizeof x);
    ts_str(b.span.state, y, sizeof y);
    assert_string_equal(x, y);
    assert_false(a.span.is_remote);
    assert_true(b.span.is_remote);
    tw_context_release(&a), tw_context_release(&b);
    tw_http_headers_free(&r.h);
}

/* ---- baggage ------------------------------------------------------------------------- */

static void test_baggage_propagator(void **state) {
    req in;
    req_init(&in);
    add(&in, "Baggage", "userId=alice");
    add(&in, "baggage", "serverNode=DF%2028,isProduction=false");
    tw_context ctx = TW_CONTEXT_INIT;
    assert_int_equal(tw_baggage_parse("old=1", 5, &ctx.baggage, NULL), TW_OK);
    assert_int_equal(tw_propagator_extract(tw_propagator_baggage(), &in.c, &ctx), TW_OK);
    assert_int_equal(tw_baggage_count(ctx.baggage), 3); /* replaced, old released */
    assert_int_equal(tw_baggage_get(ctx.baggage, "old", NULL), TW_ENOTFOUND);
    assert_false(has_span(&ctx));
    req out;
    req_init(&out);
    assert_int_equal(tw_propagator_inject(tw_propagator_baggage(), &ctx, &out.c), TW_OK);
    assert_string_equal(header(&out, "baggage"), "userId=alice,serverNode=DF%2028,isProduction=false");
    assert_string_equal(out.h.items[0].name, "baggage");
    tw_http_headers_free(&in.h);

    /* nothing valid: the context keeps what it had */
    req_init(&in);
    add(&in, "baggage", "not valid, also=not valid");
    tw_baggage *before = ctx.baggage;
    assert_int_equal(tw_propagator_extract(tw_propagator_baggage(), &in.c, &ctx), TW_OK);
    assert_ptr_equal(ctx.baggage, before);
    tw_context_release(&ctx);
    tw_http_headers_free(&in.h);

    /* no baggage: no header */
    tw_http_headers_free(&out.h);
    req_init(&out);
    assert_int_equal(tw_propagator_inject(tw_propagator_baggage(), &ctx, &out.c), TW_OK);
    assert_int_equal(out.h.count, 0);
    tw_http_headers_free(&out.h);
}

/* ---- B3 ---------------------------------------------------------------------------------- */

#define B3T "80f198ee56343ba864fe8b2a57d3eff7"
#define B3S "e457b5a2e4d86bd1"

static void test_b3_single(void **state) {
    req in;
    req_init(&in);
    add(&in, "B3", B3T "-" B3S "-d-05e3ac9a4f6e3b90");
    tw_context ctx = TW_CONTEXT_INIT;
    assert_int_equal(tw_tracestate_parse("w3c=1", 5, &ctx.span.state, NULL), TW_OK);
    assert_int_equal(tw_propagator_extract(tw_propagator_b3(), &in.c, &ctx), TW_OK);
    assert_trace_id(&ctx, B3T);
    assert_span_id(&ctx, B3S);
    assert_int_equal(ctx.span.flags, TW_FLAG_SAMPLED); /* debug implies sampled */
    assert_true(ctx.span.is_remote);
    assert_null(ctx.span.state); /* the previous one released */

    req out;
    req_init(&out);
    assert_int_equal(tw_propagator_inject(tw_propagator_b3(), &ctx, &out.c), TW_OK);
    assert_int_equal(out.h.count, 1);
    assert_string_equal(out.h.items[0].name, "b3");
    assert_string_equal(out.h.items[0].value, B3T "-" B3S "-1");
    tw_http_headers_free(&in.h);
    tw_http_headers_free(&out.h);

    /* 64-bit id, deny */
    req_init(&in);
    add(&in, "b3", "64fe8b2a57d3eff7-" B3S "-0");
    assert_int_equal(tw_propagator_extract(tw_propagator_b3(), &in.c, &ctx), TW_OK);
    assert_trace_id(&ctx, "000000000000000064fe8b2a57d3eff7");
    assert_int_equal(ctx.span.flags, 0);
    tw_http_headers_free(&in.h);

    /* sampling only, or invalid: the context stays */
    const char *keep[] = {"0", "1", "d", "garbage", B3T "-" B3S "-x"};
    for (size_t i = 0; i < TW_ARRAY_LEN(keep); i++) {
        req_init(&in);
        add(&in, "b3", keep[i]);
        assert_int_equal(tw_propagator_extract(tw_propagator_b3(), &in.c, &ctx), TW_OK);
        assert_trace_id(&ctx, "000000000000000064fe8b2a57d3eff7");
        tw_http_headers_free(&in.h);
    }
    tw_context_release(&ctx);
}

static void test_b3_multi(void **state) {
    req in;
    req_init(&in);
    add(&in, "X-B3-TraceId", B3T);
    add(&in, "X-B3-SpanId", B3S);
    add(&in, "X-B3-ParentSpanId", "05e3ac9a4f6e3b90");
    add(&in, "X-B3-Sampled", "1");
    tw_context ctx = extract(tw_propagator_b3multi(), &in);
    assert_trace_id(&ctx, B3T);
    assert_int_equal(ctx.span.flags, TW_FLAG_SAMPLED);
    tw_http_headers_free(&in.h);

    req out;
    req_init(&out);
    add(&out, "X-B3-TraceId", "stale");
    assert_int_equal(tw_propagator_inject(tw_propagator_b3multi(), &ctx, &out.c), TW_OK);
    assert_int_equal(out.h.count, 3);
    assert_string_equal(header(&out, "X-B3-TraceId"), B3T);
    assert_string_equal(header(&out, "X-B3-SpanId"), B3S);
    assert_string_equal(header(&out, "X-B3-Sampled"), "1");
    /* lowercase names, as the OpenTelemetry JS and Go propagators write them */
    assert_string_equal(out.h.items[0].name, "x-b3-traceid");
    assert_string_equal(out.h.items[1].name, "x-b3-spanid");
    assert_string_equal(out.h.items[2].name, "x-b3-sampled");
    /* b3multi reads the single header too, and the single one wins */
    req both;
    req_init(&both);
    add(&both, "x-b3-traceid", B3T);
    add(&both, "x-b3-spanid", B3S);
    add(&both, "b3", "64fe8b2a57d3eff7-" B3S);
    tw_context c2 = extract(tw_propagator_b3multi(), &both);
    assert_trace_id(&c2, "000000000000000064fe8b2a57d3eff7");
    assert_int_equal(c2.span.flags, 0); /* deferred: not sampled */
    /* and an invalid single header is not rescued by the multi ones */
    tw_http_headers_free(&both.h);
    req_init(&both);
    add(&both, "x-b3-traceid", B3T);
    add(&both, "x-b3-spanid", B3S);
    add(&both, "b3", "nonsense");
    tw_context c3 = extract(tw_propagator_b3(), &both);
    assert_false(has_span(&c3));
    /* the first value wins */
    tw_http_headers_free(&both.h);
    req_init(&both);
    add(&both, "x-b3-traceid", B3T);
    add(&both, "x-b3-traceid", "64fe8b2a57d3eff7");
    add(&both, "x-b3-spanid", B3S);
    add(&both, "x-b3-sampled", "true");
    add(&both, "x-b3-flags", "1");
    c3 = extract(tw_propagator_b3(), &both);
    assert_trace_id(&c3, B3T);
    assert_int_equal(c3.span.flags, TW_FLAG_SAMPLED);
    /* a bad X-B3-Sampled invalidates the set */
    tw_http_headers_free(&both.h);
    req_init(&both);
    add(&both, "x-b3-traceid", B3T);
    add(&both, "x-b3-spanid", B3S);
    add(&both, "x-b3-sampled", "maybe");
    tw_context c4 = extract(tw_propagator_b3(), &both);
    assert_false(has_span(&c4));
    tw_http_headers_free(&both.h);
    tw_http_headers_free(&out.h);
    tw_context_release(&ctx), tw_context_release(&c2), tw_context_release(&c3);
}

/* ---- composite, environment, global --------------------------------------------------------- */

static void test_composite(void **state) {
    tw_propagator *m[] = {tw_propagator_tracecontext(), tw_propagator_baggage(), tw_propagator_b3()};
    tw_propagator *p = tw_propagator_composite(m, 3);
    assert_non_null(p);
    req in;
    req_init(&in);
    add(&in, "traceparent", TP);
    add(&in, "baggage", "a=1");
    add(&in, "b3", B3T "-" B3S "-1");
    tw_context ctx = extract(p, &in);
    assert_trace_id(&ctx, B3T); /* members run in order: b3 last */
    assert_int_equal(tw_baggage_count(ctx.baggage), 1);
    req out;
    req_init(&out);
    assert_int_equal(tw_propagator_inject(p, &ctx, &out.c), TW_OK);
    assert_string_equal(header(&out, "traceparent"), "00-" B3T "-" B3S "-01");
    assert_string_equal(header(&out, "baggage"), "a=1");
    assert_string_equal(header(&out, "b3"), B3T "-" B3S "-1");
    tw_context_release(&ctx);
    tw_http_headers_free(&in.h);
    tw_http_headers_free(&out.h);

    /* nested composites are destroyed with their parent (LeakSanitizer) */
    tw_propagator *inner = tw_propagator_composite(m, 2);
    tw_propagator *outer = tw_propagator_composite((tw_propagator *[]){inner, p}, 2);
    assert_non_null(outer);
    tw_propagator_destroy(outer);

    /* a failed composite destroys what it was given */
    inner = tw_propagator_composite(m, 2);
    tw__alloc_fail_after(0);
    outer = tw_propagator_composite(&inner, 1);
    tw__alloc_fail_after(-1);
    assert_null(outer);

    /* an empty composite does nothing */
    p = tw_propagator_composite(NULL, 0);
    req_init(&in);
    add(&in, "traceparent", TP);
    ctx = extract(p, &in);
    assert_false(has_span(&ctx));
    tw_propagator_destroy(p);
    tw_http_headers_free(&in.h);
    tw_propagator_destroy(tw_propagator_b3()); /* a no-op on the static leaves */
    tw_propagator_destroy(NULL);
}

static void test_null_arguments(void **state) {
    req r;
    req_init(&r);
    tw_context ctx = TW_CONTEXT_INIT;
    assert_int_equal(tw_propagator_extract(NULL, &r.c, &ctx), TW_OK);
    assert_int_equal(tw_propagator_inject(NULL, &ctx, &r.c), TW_OK);
    assert_int_equal(tw_propagator_extract(tw_propagator_tracecontext(), NULL, &ctx), TW_EINVAL);
    assert_int_equal(tw_propagator_extract(tw_propagator_tracecontext(), &r.c, NULL), TW_EINVAL);
    assert_int_equal(tw_propagator_inject(tw_propagator_tracecontext(), NULL, &r.c), TW_EINVAL);
}

/* A carrier that reports more values than it stores, with NULL and TW_NTS values. */
static size_t odd_get(void *self, const char *key, tw_str *out, size_t max) {
    if (strcmp(key, "traceparent") == 0) {
        if (max) out[0] = (tw_str){TP, TW_NTS};
        return 1;
    }
    if (strcmp(key, "tracestate") == 0) {
        for (size_t i = 0; i < max; i++) out[i] = (tw_str){i % 2 ? NULL : "", 0};
        return 1000;
    }
    if (strcmp(key, "baggage") == 0) {
        for (size_t i = 0; i < max; i++) out[i] = (tw_str){"k=v", TW_NTS};
        return max + 5;
    }
    return 0;
}

static void test_odd_carrier(void **state) {
    tw_carrier c = {NULL, odd_get, NULL};
    tw_context ctx = TW_CONTEXT_INIT;
    tw_propagator *m[] = {tw_propagator_tracecontext(), tw_propagator_baggage()};
    tw_propagator *p = tw_propagator_composite(m, 2);
    assert_int_equal(tw_propagator_extract(p, &c, &ctx), TW_OK);
    assert_trace_id(&ctx, TID);
    assert_null(ctx.span.state); /* too many lines */
    tw_str v;
    assert_int_equal(tw_baggage_get(ctx.baggage, "k", &v), TW_OK);
    /* a carrier without set: inject is a no-op */
    assert_int_equal(tw_propagator_inject(p, &ctx, &c), TW_OK);
    tw_context_release(&ctx);
    tw_propagator_destroy(p);
}

static int writes(tw_propagator *p, const char *name) {
    tw_context ctx = TW_CONTEXT_INIT;
    ctx.span.trace_id.bytes[0] = 1, ctx.span.span_id.bytes[0] = 1;
    assert_int_equal(tw_baggage_parse("k=v", 3, &ctx.baggage, NULL), TW_OK);
    req out;
    req_init(&out);
    assert_int_equal(tw_propagator_inject(p, &ctx, &out.c), TW_OK);
    int found = header(&out, name) != NULL;
    tw_http_headers_free(&out.h);
    tw_context_release(&ctx);
    return found;
}

static tw_propagator *from_env(const char *v, const char **err) {
    if (v) setenv("OTEL_PROPAGATORS", v, 1);
    else unsetenv("OTEL_PROPAGATORS");
    tw_propagator *p = tw_propagator_from_env(err);
    assert_non_null(p);
    return p;
}

static void test_from_env(void **state) {
    const char *err = "untouched";
    tw_propagator *p = from_env(NULL, &err);
    assert_null(err);
    assert_true(writes(p, "traceparent") && writes(p, "baggage") && !writes(p, "b3"));
    tw_propagator_destroy(p);

    p = from_env("", &err); /* empty is unset */
    assert_true(writes(p, "traceparent") && writes(p, "baggage"));
    tw_propagator_destroy(p);

    p = from_env("b3multi", &err);
    assert_null(err);
    assert_ptr_equal(p, tw_propagator_b3multi());
    assert_true(writes(p, "x-b3-traceid") && !writes(p, "traceparent"));

    p = from_env(" TraceContext ,\tB3 , ,tracecontext", &err);
    assert_null(err);
    assert_true(writes(p, "traceparent") && writes(p, "b3") && !writes(p, "baggage"));
    tw_propagator_destroy(p);

    p = from_env("xray,baggage,jaeger", &err);
    assert_non_null(err);
    assert_non_null(strstr(err, "unknown"));
    assert_ptr_equal(p, tw_propagator_baggage());

    p = from_env("none", &err);
    assert_null(err);
    assert_false(writes(p, "traceparent") || writes(p, "baggage"));
    tw_propagator_destroy(p);

    p = from_env("NONE,b3", &err);
    assert_non_null(err);
    assert_false(writes(p, "b3"));
    tw_propagator_destroy(p);

    p = from_env("bogus", NULL); /* err_msg may be NULL */
    assert_false(writes(p, "traceparent"));
    tw_propagator_destroy(p);
    unsetenv("OTEL_PROPAGATORS");
}

static void *get_global(void *arg) { return tw_propagator_global(); }

static void test_global(void **state) {
    setenv("OTEL_PROPAGATORS", "b3", 1);
    pthread_t t[4];
    void *seen[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, get_global, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], &seen[i]);
    for (int i = 1; i < 4; i++) assert_ptr_equal(seen[i], seen[0]);
    assert_ptr_equal(seen[0], tw_propagator_b3()); /* created once, from the environment */
    unsetenv("OTEL_PROPAGATORS");

    tw_propagator *m[] = {tw_propagator_tracecontext(), tw_propagator_b3multi()};
    tw_propagator *p = tw_propagator_composite(m, 2);
    tw_propagator_set_global(p);
    assert_ptr_equal(tw_propagator_global(), p);
    tw_propagator_set_global(p); /* the same again: not destroyed */
    assert_true(writes(tw_propagator_global(), "x-b3-spanid"));
    tw_propagator_set_global(NULL); /* destroys p (LeakSanitizer) */
    assert_null(tw_propagator_global());
}

/* ---- Kafka ------------------------------------------------------------------------------------ */

#ifdef TW_HAVE_RDKAFKA
static void test_kafka_carrier(void **state) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    tw_carrier c = tw_kafka_headers_carrier(h);
    rd_kafka_header_add(h, "X-B3-TraceId", -1, B3T, -1);
    rd_kafka_header_add(h, "x-b3-spanid", -1, B3S, -1);
    rd_kafka_header_add(h, "other", -1, NULL, 0);
    rd_kafka_header_add(h, "Baggage", -1, "a=1", -1);
    rd_kafka_header_add(h, "baggage", -1, "b=2", -1);
    tw_str v[4];
    assert_int_equal(c.get(c.self, "BAGGAGE", v, 4), 2);
    assert_int_equal(v[0].len, 3);
    assert_memory_equal(v[1].ptr, "b=2", 3);
    assert_int_equal(c.get(c.self, "other", v, 4), 1);
    assert_int_equal(v[0].len, 0);

    tw_propagator *m[] = {tw_propagator_b3multi(), tw_propagator_baggage(), tw_propagator_tracecontext()};
    tw_propagator *p = tw_propagator_composite(m, 3);
    tw_context ctx = TW_CONTEXT_INIT;
    assert_int_equal(tw_propagator_extract(p, &c, &ctx), TW_OK);
    assert_trace_id(&ctx, B3T);
    assert_int_equal(tw_baggage_count(ctx.baggage), 2);

    /* inject replaces every spelling of a name */
    assert_int_equal(tw_propagator_inject(p, &ctx, &c), TW_OK);
    assert_int_equal(c.get(c.self, "x-b3-traceid", v, 4), 1);
    assert_int_equal(c.get(c.self, "baggage", v, 4), 1);
    assert_int_equal(v[0].len, 7);
    assert_memory_equal(v[0].ptr, "a=1,b=2", 7);
    assert_int_equal(c.get(c.self, "traceparent", v, 4), 1);
    assert_memory_equal(v[0].ptr, "00-" B3T "-" B3S "-00", 55);
    assert_int_equal(c.get(c.self, "other", v, 4), 1);

    /* round trip through Kafka headers */
    tw_context back = TW_CONTEXT_INIT;
    assert_int_equal(tw_propagator_extract(tw_propagator_tracecontext(), &c, &back), TW_OK);
    assert_memory_equal(&back.span.trace_id, &ctx.span.trace_id, sizeof back.span.trace_id);
    tw_context_release(&ctx), tw_context_release(&back);
    tw_propagator_destroy(p);
    rd_kafka_headers_destroy(h);
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_headers),
        cmocka_unit_test(test_http_headers_alloc_failure),
        cmocka_unit_test(test_tc_extract),
        cmocka_unit_test(test_tc_header_name_casing),
        cmocka_unit_test(test_tc_wrong_names_and_duplicates),
        cmocka_unit_test(test_tc_tracestate_without_traceparent),
        cmocka_unit_test(test_tc_invalid_tracestate_keeps_traceparent),
        cmocka_unit_test(test_tc_several_tracestate_lines),
        cmocka_unit_test(test_tc_extract_replaces_and_releases),
        cmocka_unit_test(test_tc_extract_without_tracestate_does_not_allocate),
        cmocka_unit_test(test_tc_inject),
        cmocka_unit_test(test_tc_inject_again_does_not_allocate),
        cmocka_unit_test(test_tc_inject_invalid_or_empty),
        cmocka_unit_test(test_tc_inject_truncates_tracestate),
        cmocka_unit_test(test_tc_round_trip),
        cmocka_unit_test(test_baggage_propagator),
        cmocka_unit_test(test_b3_single),
        cmocka_unit_test(test_b3_multi),
        cmocka_unit_test(test_composite),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_odd_carrier),
        cmocka_unit_test(test_from_env),
        cmocka_unit_test(test_global),
#ifdef TW_HAVE_RDKAFKA
        cmocka_unit_test(test_kafka_carrier),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
