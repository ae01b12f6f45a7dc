/*
 * test_sampler.c — sampler decisions on fixed trace ids.
 *
 * TraceIdRatioBased must decide exactly as OpenTelemetry Go: x = the
 * rightmost 8 bytes big-endian >> 1, sampled iff x < ratio * 2^63. The
 * probability sampler follows the tracestate probability-sampling spec:
 * R = rightmost 56 bits (or ot=rv), T = (1-p) * 2^56, sampled iff R >= T,
 * and th written to the ot entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "trace/trace_int.h"

static tw_trace_id tid(const char *hex) {
    tw_trace_id t;
    assert_int_equal(tw_trace_id_from_hex(hex, 32, &t), TW_OK);
    return t;
}

static tw_sampling_decision decide(const tw_sampler *s, const char *hex, const tw_context *parent) {
    tw_trace_id t = tid(hex);
    tw_sampling_params p = {.parent = parent, .trace_id = &t, .name = "x", .kind = TW_SPAN_KIND_INTERNAL};
    tw_sampling_result r = tw_sampler_should_sample(s, &p);
    tw_tracestate_unref(r.state);
    return r.decision;
}

static void test_always(void **state) {
    tw_sampler *on = tw_sampler_always_on(), *off = tw_sampler_always_off();
    assert_int_equal(decide(on, "4bf92f3577b34da6a3ce929d0e0e4736", NULL), TW_RECORD_AND_SAMPLE);
    assert_int_equal(decide(off, "4bf92f3577b34da6a3ce929d0e0e4736", NULL), TW_DROP);
    assert_string_equal(tw_sampler_description(on), "AlwaysOnSampler");
    assert_string_equal(tw_sampler_description(off), "AlwaysOffSampler");
    tw_sampler_destroy(on);
    tw_sampler_destroy(off);
}

static void test_traceidratio_matches_go(void **state) {
    tw_sampler *half = tw_sampler_traceidratio(0.5), *quarter = tw_sampler_traceidratio(0.25);
    /* The leftmost 8 bytes never matter. */
    assert_int_equal(decide(half, "ffffffffffffffff7fffffffffffffff", NULL), TW_RECORD_AND_SAMPLE);
    assert_int_equal(decide(half, "00000000000000018000000000000000", NULL), TW_DROP);
    assert_int_equal(decide(half, "00000000000000010000000000000000", NULL), TW_RECORD_AND_SAMPLE);
    assert_int_equal(decide(half, "0000000000000001ffffffffffffffff", NULL), TW_DROP);
    assert_int_equal(decide(quarter, "00000000000000013fffffffffffffff", NULL), TW_RECORD_AND_SAMPLE);
    assert_int_equal(decide(quarter, "00000000000000014000000000000000", NULL), TW_DROP);
    assert_string_equal(tw_sampler_description(half), "TraceIdRatioBased{0.5}");
    tw_sampler_destroy(half);
    tw_sampler_destroy(quarter);

    tw_sampler *zero = tw_sampler_traceidratio(0), *one = tw_sampler_traceidratio(1), *neg = tw_sampler_traceidratio(-3);
    assert_int_equal(decide(zero, "00000000000000010000000000000000", NULL), TW_DROP);
    assert_int_equal(decide(neg, "00000000000000010000000000000000", NULL), TW_DROP);
    assert_int_equal(decide(one, "0000000000000001ffffffffffffffff", NULL), TW_RECORD_AND_SAMPLE);
    tw_sampler_destroy(zero);
    tw_sampler_destroy(one);
    tw_sampler_destroy(neg);
}

static void test_traceidratio_rate(void **state) {
    tw_sampler *s = tw_sampler_traceidratio(0.1);
    int kept = 0;
    srand(7);
    for (int i = 0; i < 20000; i++) {
        tw_trace_id t;
        for (int j = 0; j < 16; j++) t.bytes[j] = (uint8_t)rand();
        tw_sampling_params p = {.trace_id = &t};
        kept += tw_sampler_should_sample(s, &p).decision == TW_RECORD_AND_SAMPLE;
    }
    assert_in_range(kept, 1800, 2200);
    tw_sampler_destroy(s);
}

static tw_context parent_ctx(bool remote, bool sampled) {
    tw_context c = TW_CONTEXT_INIT;
    c.span.trace_id = tid("4bf92f3577b34da6a3ce929d0e0e4736");
    tw_span_id_from_hex("00f067aa0ba902b7", 16, &c.span.span_id);
    c.span.flags = sampled ? TW_FLAG_SAMPLED : 0;
    c.span.is_remote = remote;
    return c;
}

static void test_parent_based_defaults(void **state) {
    tw_sampler *s = tw_sampler_parent_based(tw_sampler_always_off(), NULL, NULL, NULL, NULL);
    tw_context rs = parent_ctx(true, true), rn = parent_ctx(true, false), ls = parent_ctx(false, true),
               ln = parent_ctx(false, false);
    const char *id = "4bf92f3577b34da6a3ce929d0e0e4736";
    assert_int_equal(decide(s, id, NULL), TW_DROP); /* root delegate: always_off */
    assert_int_equal(decide(s, id, &rs), TW_RECORD_AND_SAMPLE);
    assert_int_equal(decide(s, id, &rn), TW_DROP);
    assert_int_equal(decide(s, id, &ls), TW_RECORD_AND_SAMPLE);
    assert_int_equal(decide(s, id, &ln), TW_DROP);
    /* An invalid parent is no parent. */
    tw_context invalid = TW_CONTEXT_INIT;
    assert_int_equal(decide(s, id, &invalid), TW_DROP);
    assert_string_equal(tw_sampler_description(s),
                        "ParentBased{root=AlwaysOffSampler,remoteParentSampled=AlwaysOnSampler,"
                        "remoteParentNotSampled=AlwaysOffSampler,localParentSampled=AlwaysOnSampler,"
                        "localParentNotSampled=AlwaysOffSampler}");
    tw_sampler_destroy(s);
}

static void test_parent_based_five_delegates(void **state) {
    /* Every delegate inverted, so each decision shows which one ran. */
    tw_sampler *s = tw_sampler_parent_based(tw_sampler_always_on(), tw_sampler_always_off(), tw_sampler_always_on(),
                                            tw_sampler_always_off(), tw_sampler_always_on());
    tw_context rs = parent_ctx(true, true), rn = parent_ctx(true, false), ls = parent_ctx(false, true),
               ln = parent_ctx(false, false);
    const char *id = "4bf92f3577b34da6a3ce929d0e0e4736";
    assert_int_equal(decide(s, id, NULL), TW_RECORD_AND_SAMPLE);
    assert_int_equal(decide(s, id, &rs), TW_DROP);
    assert_int_equal(decide(s, id, &rn), TW_RECORD_AND_SAMPLE);
    assert_int_equal(decide(s, id, &ls), TW_DROP);
    assert_int_equal(decide(s, id, &ln), TW_RECORD_AND_SAMPLE);
    tw_sampler_destroy(s);
}

/* ---- probability sampling with thresholds ----------------------------------------- */

static void expect_state(const tw_sampler *s, const char *hex, const tw_context *parent,
                         tw_sampling_decision want, const char *want_state) {
    tw_trace_id t = tid(hex);
    tw_sampling_params p = {.parent = parent, .trace_id = &t};
    tw_sampling_result r = tw_sampler_should_sample(s, &p);
    assert_int_equal(r.decision, want);
    if (!want_state) {
        assert_null(r.state);
        return;
    }
    assert_non_null(r.state);
    char buf[512];
    int n = tw_tracestate_format(r.state, 0, buf, sizeof buf);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, want_state);
    tw_tracestate_unref(r.state);
}

static void test_probability_threshold(void **state) {
    tw_sampler *half = tw_sampler_probability(0.5);
    /* T = 2^55 = 0x80000000000000: "8" with trailing zeros removed. */
    expect_state(half, "00000000000000000080000000000000", NULL, TW_RECORD_AND_SAMPLE, "ot=th:8");
    expect_state(half, "0000000000000000007fffffffffffff", NULL, TW_DROP, NULL);
    /* Only the rightmost 56 bits are randomness: byte 8 is ignored. */
    expect_state(half, "000000000000000000ffffffffffffff", NULL, TW_RECORD_AND_SAMPLE, "ot=th:8");
    expect_state(half, "000000000000000ff07fffffffffffff", NULL, TW_DROP, NULL);
    tw_sampler_destroy(half);

    tw_sampler *tenth = tw_sampler_probability(0.1);
    expect_state(tenth, "000000000000000000e6666666666666", NULL, TW_RECORD_AND_SAMPLE, "ot=th:e6666666666666");
    expect_state(tenth, "000000000000000000e6666666666665", NULL, TW_DROP, NULL);
    tw_sampler_destroy(tenth);

    tw_sampler *all = tw_sampler_probability(1.0), *none = tw_sampler_probability(0);
    expect_state(all, "00000000000000000000000000000000", NULL, TW_RECORD_AND_SAMPLE, "ot=th:0");
    expect_state(none, "000000000000000000ffffffffffffff", NULL, TW_DROP, NULL);
    tw_sampler_destroy(all);
    tw_sampler_destroy(none);
}

static void test_probability_honours_rv_and_keeps_other_entries(void **state) {
    tw_sampler *tenth = tw_sampler_probability(0.1);
    tw_context c = TW_CONTEXT_INIT;
    const char *in = "vendor=x,ot=rv:ffffffffffffff;foo:bar";
    assert_int_equal(tw_tracestate_parse(in, strlen(in), &c.span.state, NULL), TW_OK);
    /* The trace id says drop (R = 0), the explicit rv says keep. */
    expect_state(tenth, "00000000000000000000000000000000", &c, TW_RECORD_AND_SAMPLE,
                 "ot=th:e6666666666666;rv:ffffffffffffff;foo:bar,vendor=x");
    tw_context_release(&c);

    /* Dropping erases a th inherited from upstream. */
    in = "ot=th:8;rv:00000000000000";
    assert_int_equal(tw_tracestate_parse(in, strlen(in), &c.span.state, NULL), TW_OK);
    expect_state(tenth, "000000000000000000ffffffffffffff", &c, TW_DROP, "ot=rv:00000000000000");
    tw_context_release(&c);
    tw_sampler_destroy(tenth);
}

static void test_probability_rate(void **state) {
    tw_sampler *s = tw_sampler_probability(0.1);
    int kept = 0;
    srand(11);
    for (int i = 0; i < 20000; i++) {
        tw_trace_id t;
        for (int j = 0; j < 16; j++) t.bytes[j] = (uint8_t)rand();
        tw_sampling_params p = {.trace_id = &t};
        tw_sampling_result r = tw_sampler_should_sample(s, &p);
        kept += r.decision == TW_RECORD_AND_SAMPLE;
        tw_tracestate_unref(r.state);
    }
    assert_in_range(kept, 1800, 2200);
    tw_sampler_destroy(s);
}

static tw_sampling_result custom_fn(void *user, const tw_sampling_params *p) {
    (*(int *)user)++;
    return (tw_sampling_result){p->kind == TW_SPAN_KIND_SERVER ? TW_RECORD_AND_SAMPLE : TW_RECORD_ONLY, NULL};
}

static void test_custom(void **state) {
    int calls = 0;
    tw_sampler *s = tw_sampler_custom(custom_fn, &calls, "ServerOnly");
    tw_trace_id t = tid("4bf92f3577b34da6a3ce929d0e0e4736");
    tw_sampling_params p = {.trace_id = &t, .kind = TW_SPAN_KIND_SERVER};
    assert_int_equal(tw_sampler_should_sample(s, &p).decision, TW_RECORD_AND_SAMPLE);
    p.kind = TW_SPAN_KIND_CLIENT;
    assert_int_equal(tw_sampler_should_sample(s, &p).decision, TW_RECORD_ONLY);
    assert_int_equal(calls, 2);
    assert_string_equal(tw_sampler_description(s), "ServerOnly");
    tw_sampler_destroy(s);
}

static void env_case(const char *name, const char *arg, const char *want_desc, bool want_err) {
    setenv("OTEL_TRACES_SAMPLER", name, 1);
    if (arg) setenv("OTEL_TRACES_SAMPLER_ARG", arg, 1);
    else unsetenv("OTEL_TRACES_SAMPLER_ARG");
    const char *err = "untouched";
    tw_sampler *s = tw_sampler_from_env(&err);
    assert_non_null(s);
    assert_string_equal(tw_sampler_description(s), want_desc);
    if (want_err) assert_non_null(err);
    else assert_null(err);
    tw_sampler_destroy(s);
}

static void test_from_env(void **state) {
    const char *pb = "ParentBased{root=%s,remoteParentSampled=AlwaysOnSampler,remoteParentNotSampled="
                     "AlwaysOffSampler,localParentSampled=AlwaysOnSampler,localParentNotSampled=AlwaysOffSampler}";
    char want[512];
    env_case("always_on", NULL, "AlwaysOnSampler", false);
    env_case("always_off", NULL, "AlwaysOffSampler", false);
    env_case("traceidratio", "0.25", "TraceIdRatioBased{0.25}", false);
    env_case("traceidratio", "not-a-number", "TraceIdRatioBased{1}", false);
    env_case("traceidratio", "7", "TraceIdRatioBased{1}", false);
    snprintf(want, sizeof want, pb, "TraceIdRatioBased{0.1}");
    env_case("parentbased_traceidratio", "0.1", want, false);
    snprintf(want, sizeof want, pb, "AlwaysOffSampler");
    env_case("parentbased_always_off", NULL, want, false);
    snprintf(want, sizeof want, pb, "AlwaysOnSampler");
    env_case("parentbased_always_on", NULL, want, false);
    env_case("jaeger_remote", NULL, want, true);
    snprintf(want, sizeof want, pb, "ProbabilitySampler{0.5}");
    env_case("parentbased_probability", "0.5", want, false);
    unsetenv("OTEL_TRACES_SAMPLER");
    unsetenv("OTEL_TRACES_SAMPLER_ARG");
    snprintf(want, sizeof want, pb, "AlwaysOnSampler");
    tw_sampler *def = tw_sampler_from_env(NULL);
    assert_string_equal(tw_sampler_description(def), want);
    tw_sampler_destroy(def);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_always),
        cmocka_unit_test(test_traceidratio_matches_go),
        cmocka_unit_test(test_traceidratio_rate),
        cmocka_unit_test(test_parent_based_defaults),
        cmocka_unit_test(test_parent_based_five_delegates),
        cmocka_unit_test(test_probability_threshold),
        cmocka_unit_test(test_probability_honours_rv_and_keeps_other_entries),
        cmocka_unit_test(test_probability_rate),
        cmocka_unit_test(test_custom),
        cmocka_unit_test(test_from_env),
    };
    return cmocka_run_group_tests_name("sampler", tests, NULL, NULL);
}
