/*
 * test_b3.c — the B3 single-header and multi-header parsers and the
 * single-header formatter, against the openzipkin/b3-propagation text:
 * 64- and 128-bit trace ids, every sampling state, the sampling-only form,
 * parent span ids, and each refusal with its reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "propagation/propagation_int.h"

#define T128 "80f198ee56343ba864fe8b2a57d3eff7"
#define T64 "64fe8b2a57d3eff7"
#define SPAN "e457b5a2e4d86bd1"
#define PARENT "05e3ac9a4f6e3b90"

static tw__b3 single_ok(const char *s) {
    tw__b3 b;
    const char *why = NULL;
    if (tw__b3_single_parse(s, strlen(s), &b, &why) != TW_OK) fail_msg("refused \"%s\": %s", s, why);
    return b;
}

static const char *single_bad(const char *s) {
    tw__b3 b;
    memset(&b, 0x5a, sizeof b);
    tw__b3 before = b;
    const char *why = NULL;
    if (tw__b3_single_parse(s, strlen(s), &b, &why) != TW_EPARSE) fail_msg("accepted \"%s\"", s);
    assert_memory_equal(&b, &before, sizeof b);
    assert_non_null(why);
    return why;
}

static void assert_hex(const tw_trace_id *t, const tw_span_id *s, const char *th, const char *sh) {
    char a[33], b[17];
    tw_trace_id_to_hex(t, a);
    tw_span_id_to_hex(s, b);
    assert_string_equal(a, th);
    assert_string_equal(b, sh);
}

static void test_single_full(void **state) {
    tw__b3 b = single_ok(T128 "-" SPAN "-1-" PARENT);
    assert_true(b.has_ids);
    assert_hex(&b.trace_id, &b.span_id, T128, SPAN);
    assert_int_equal(b.sampling, TW__B3_ACCEPT);
    assert_true(b.has_parent);
    char p[17];
    tw_span_id_to_hex(&b.parent_id, p);
    assert_string_equal(p, PARENT);
}

static void test_single_forms(void **state) {
    tw__b3 b = single_ok(T128 "-" SPAN);
    assert_int_equal(b.sampling, TW__B3_DEFER);
    assert_false(b.has_parent);
    b = single_ok(T128 "-" SPAN "-0");
    assert_int_equal(b.sampling, TW__B3_DENY);
    b = single_ok(T128 "-" SPAN "-d");
    assert_int_equal(b.sampling, TW__B3_DEBUG);
    /* 64-bit trace ids are left-padded with zeros */
    b = single_ok(T64 "-" SPAN "-1");
    assert_hex(&b.trace_id, &b.span_id, "0000000000000000" T64, SPAN);
    /* a decision alone */
    b = single_ok("0");
    assert_false(b.has_ids);
    assert_int_equal(b.sampling, TW__B3_DENY);
    assert_int_equal(single_ok("1").sampling, TW__B3_ACCEPT);
    assert_int_equal(single_ok("d").sampling, TW__B3_DEBUG);
    /* outer whitespace */
    b = single_ok(" \t" T128 "-" SPAN "-1 ");
    assert_true(b.has_ids);
}

static void test_single_refusals(void **state) {
    assert_string_equal(single_bad(""), "b3: empty");
    assert_string_equal(single_bad("  "), "b3: empty");
    assert_string_equal(single_bad("2"), "b3: sampling state is not 0, 1 or d");
    assert_string_equal(single_bad("D"), "b3: sampling state is not 0, 1 or d");
    assert_string_equal(single_bad("463ac35c9f6413ad48485a3953bb612-" SPAN), "b3: trace id is not 16 or 32 characters long");
    assert_string_equal(single_bad("64fe8b2a57d3eff-" SPAN), "b3: trace id is not 16 or 32 characters long");
    assert_string_equal(single_bad(T128 "0-" SPAN), "b3: trace id is not 16 or 32 characters long");
    assert_string_equal(single_bad("80F198EE56343BA864FE8B2A57D3EFF7-" SPAN), "b3: trace id is not lowercase hex");
    assert_string_equal(single_bad("00000000000000000000000000000000-" SPAN), "b3: trace id is all zeros");
    assert_string_equal(single_bad("0000000000000000-" SPAN), "b3: trace id is all zeros");
    assert_string_equal(single_bad(T128), "b3: span id is not 16 characters long");
    assert_string_equal(single_bad(T128 "-e457b5a2e4d86bd"), "b3: span id is not 16 characters long");
    assert_string_equal(single_bad(T128 "-E457B5A2E4D86BD1"), "b3: span id is not lowercase hex");
    assert_string_equal(single_bad(T128 "-0000000000000000"), "b3: span id is all zeros");
    assert_string_equal(single_bad(T128 "-" SPAN "-"), "b3: sampling state is not 0, 1 or d");
    assert_string_equal(single_bad(T128 "-" SPAN "-true"), "b3: sampling state is not 0, 1 or d");
    assert_string_equal(single_bad(T128 "-" SPAN "-2"), "b3: sampling state is not 0, 1 or d");
    assert_string_equal(single_bad(T128 "-" SPAN "-" PARENT), "b3: sampling state is not 0, 1 or d");
    assert_string_equal(single_bad(T128 "-" SPAN "-1-"), "b3: parent span id is not 16 characters long");
    assert_string_equal(single_bad(T128 "-" SPAN "-1-" PARENT "-x"), "b3: parent span id is not 16 characters long");
    assert_string_equal(single_bad(T128 "-" SPAN "-1-05E3AC9A4F6E3B90"), "b3: parent span id is not lowercase hex");
    assert_string_equal(single_bad(T128 "-" SPAN "-1-0000000000000000"), "b3: parent span id is all zeros");
}

static tw_str hdr(const char *s) { return (tw_str){s, s ? strlen(s) : 0}; }

static int multi(const char *t, const char *s, const char *p, const char *sampled, const char *flags, tw__b3 *b,
                 const char **why) {
    tw__b3_multi_in in = {hdr(t), hdr(s), hdr(p), hdr(sampled), hdr(flags)};
    return tw__b3_multi_parse(&in, b, why);
}

static void test_multi(void **state) {
    tw__b3 b;
    const char *why = NULL;
    assert_int_equal(multi(T128, SPAN, PARENT, "1", NULL, &b, &why), TW_OK);
    assert_true(b.has_ids);
    assert_hex(&b.trace_id, &b.span_id, T128, SPAN);
    assert_true(b.has_parent);
    assert_int_equal(b.sampling, TW__B3_ACCEPT);

    assert_int_equal(multi(T64, SPAN, NULL, NULL, NULL, &b, NULL), TW_OK);
    assert_hex(&b.trace_id, &b.span_id, "0000000000000000" T64, SPAN);
    assert_int_equal(b.sampling, TW__B3_DEFER);
    assert_false(b.has_parent);

    struct { const char *v; tw__b3_sampling want; } sampled[] = {
        {"1", TW__B3_ACCEPT}, {"0", TW__B3_DENY}, {"true", TW__B3_ACCEPT},
        {"false", TW__B3_DENY}, {"True", TW__B3_ACCEPT}, {" 1 ", TW__B3_ACCEPT},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(sampled); i++) {
        assert_int_equal(multi(T128, SPAN, NULL, sampled[i].v, NULL, &b, NULL), TW_OK);
        assert_int_equal(b.sampling, sampled[i].want);
    }
    /* debug implies accept, whatever X-B3-Sampled says */
    assert_int_equal(multi(T128, SPAN, NULL, "0", "1", &b, NULL), TW_OK);
    assert_int_equal(b.sampling, TW__B3_DEBUG);
    assert_int_equal(multi(T128, SPAN, NULL, "1", "0", &b, NULL), TW_OK);
    assert_int_equal(b.sampling, TW__B3_ACCEPT);
    /* a decision alone */
    assert_int_equal(multi(NULL, NULL, NULL, "0", NULL, &b, NULL), TW_OK);
    assert_false(b.has_ids);
    assert_int_equal(b.sampling, TW__B3_DENY);
    assert_int_equal(multi(NULL, NULL, NULL, NULL, "1", &b, NULL), TW_OK);
    assert_int_equal(b.sampling, TW__B3_DEBUG);
}

static const char *multi_bad(const char *t, const char *s, const char *p, const char *sampled, const char *flags) {
    tw__b3 b;
    const char *why = NULL;
    if (multi(t, s, p, sampled, flags, &b, &why) != TW_EPARSE) fail_msg("accepted");
    assert_non_null(why);
    return why;
}

static void test_multi_refusals(void **state) {
    assert_string_equal(multi_bad(NULL, NULL, NULL, NULL, NULL), "b3: empty");
    assert_string_equal(multi_bad(T128, NULL, NULL, "1", NULL), "b3: X-B3-TraceId without X-B3-SpanId");
    assert_string_equal(multi_bad(NULL, SPAN, NULL, "1", NULL), "b3: X-B3-SpanId without X-B3-TraceId");
    assert_string_equal(multi_bad("abc", SPAN, NULL, NULL, NULL), "b3: trace id is not 16 or 32 characters long");
    assert_string_equal(multi_bad("", SPAN, NULL, NULL, NULL), "b3: trace id is not 16 or 32 characters long");
    assert_string_equal(multi_bad("X4fe8b2a57d3eff7", SPAN, NULL, NULL, NULL), "b3: trace id is not lowercase hex");
    assert_string_equal(multi_bad(T128, "0000000000000000", NULL, NULL, NULL), "b3: span id is all zeros");
    assert_string_equal(multi_bad(T128, SPAN, "05e3", NULL, NULL), "b3: parent span id is not 16 characters long");
    assert_string_equal(multi_bad(NULL, NULL, PARENT, "1", NULL),
                        "b3: X-B3-ParentSpanId without X-B3-TraceId and X-B3-SpanId");
    assert_string_equal(multi_bad(T128, SPAN, NULL, "yes", NULL), "b3: X-B3-Sampled is not 1, 0, true or false");
    assert_string_equal(multi_bad(T128, SPAN, NULL, "d", NULL), "b3: X-B3-Sampled is not 1, 0, true or false");
    assert_string_equal(multi_bad(T128, SPAN, NULL, NULL, "2"), "b3: X-B3-Flags is not 1 or 0");
    assert_string_equal(multi_bad(T128, SPAN, NULL, NULL, "true"), "b3: X-B3-Flags is not 1 or 0");
}

static void test_format_single(void **state) {
    tw_span_context sc;
    memset(&sc, 0, sizeof sc);
    assert_int_equal(tw_trace_id_from_hex(T128, 32, &sc.trace_id), TW_OK);
    assert_int_equal(tw_span_id_from_hex(SPAN, 16, &sc.span_id), TW_OK);
    char out[TW__B3_SINGLE_LEN + 1];
    sc.flags = TW_FLAG_SAMPLED | TW_FLAG_RANDOM;
    tw__b3_single_format(&sc, out);
    assert_string_equal(out, T128 "-" SPAN "-1");
    sc.flags = TW_FLAG_RANDOM;
    tw__b3_single_format(&sc, out);
    assert_string_equal(out, T128 "-" SPAN "-0");
    assert_int_equal(strlen(out), TW__B3_SINGLE_LEN);
    tw__b3 b = single_ok(out);
    assert_hex(&b.trace_id, &b.span_id, T128, SPAN);
    assert_int_equal(b.sampling, TW__B3_DENY);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_full),   cmocka_unit_test(test_single_forms),
        cmocka_unit_test(test_single_refusals), cmocka_unit_test(test_multi),
        cmocka_unit_test(test_multi_refusals), cmocka_unit_test(test_format_single),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
