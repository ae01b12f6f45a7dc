/*
 * test_provider.c — resource detection and precedence, span limits from
 * the environment, tracer identity, the global provider.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "trace/trace_int.h"

static void clear_env(void) {
    unsetenv("OTEL_SERVICE_NAME");
    unsetenv("OTEL_RESOURCE_ATTRIBUTES");
    unsetenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT");
    unsetenv("OTEL_ATTRIBUTE_COUNT_LIMIT");
    unsetenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT");
    unsetenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT");
    unsetenv("OTEL_SPAN_EVENT_COUNT_LIMIT");
    unsetenv("OTEL_SPAN_LINK_COUNT_LIMIT");
}

static tw_provider *make(const tw_attribute *res, size_t n) {
    tw_provider *p;
    tw_provider_options o = {.resource = res, .n_resource = n, .sampler = tw_sampler_always_on()};
    assert_int_equal(tw_provider_new(&o, &p), TW_OK);
    return p;
}

static void test_defaults(void **state) {
    clear_env();
    tw_provider *p = make(NULL, 0);
    assert_string_equal(tw_provider_resource_str(p, "service.name"), "unknown_service:test_provider");
    assert_string_equal(tw_provider_resource_str(p, "telemetry.sdk.name"), "tracewire");
    assert_string_equal(tw_provider_resource_str(p, "telemetry.sdk.language"), "c");
    assert_string_equal(tw_provider_resource_str(p, "telemetry.sdk.version"), TW_VERSION_STRING);
    assert_null(tw_provider_resource_str(p, "absent"));
    assert_int_equal(p->limits.attr_count, 128);
    assert_int_equal(p->limits.attr_value_len, 0);
    assert_int_equal(p->limits.event_count, 128);
    assert_int_equal(p->limits.link_count, 128);
    tw_provider_destroy(p);
}

static void test_precedence(void **state) {
    clear_env();
    setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs, deployment.environment = prod ,team=a%2Cb%3Dc", 1);
    tw_provider *p = make(NULL, 0);
    assert_string_equal(tw_provider_resource_str(p, "service.name"), "from-attrs");
    assert_string_equal(tw_provider_resource_str(p, "deployment.environment"), "prod");
    assert_string_equal(tw_provider_resource_str(p, "team"), "a,b=c");
    tw_provider_destroy(p);

    tw_attribute res[] = {TW_ATTR_STR("service.name", "from-code"), TW_ATTR_STR("deployment.environment", "staging")};
    p = make(res, 2);
    assert_string_equal(tw_provider_resource_str(p, "service.name"), "from-code");
    assert_string_equal(tw_provider_resource_str(p, "deployment.environment"), "staging");
    tw_provider_destroy(p);

    setenv("OTEL_SERVICE_NAME", "checkout", 1);
    p = make(res, 2);
    assert_string_equal(tw_provider_resource_str(p, "service.name"), "checkout");
    tw_provider_destroy(p);
    clear_env();
}

static void test_bad_resource_attributes_discarded_whole(void **state) {
    clear_env();
    setenv("OTEL_RESOURCE_ATTRIBUTES", "good=1,bad-no-equals", 1);
    tw_provider *p = make(NULL, 0);
    assert_null(tw_provider_resource_str(p, "good"));
    tw_provider_destroy(p);
    setenv("OTEL_RESOURCE_ATTRIBUTES", "good=1,bad=%zz", 1);
    p = make(NULL, 0);
    assert_null(tw_provider_resource_str(p, "good"));
    tw_provider_destroy(p);
    setenv("OTEL_RESOURCE_ATTRIBUTES", "trailing=%4", 1);
    p = make(NULL, 0);
    assert_null(tw_provider_resource_str(p, "trailing"));
    tw_provider_destroy(p);
    clear_env();
}

static void test_limits_from_env(void **state) {
    clear_env();
    setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "50", 1);
    setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "7", 1);
    setenv("OTEL_SPAN_LINK_COUNT_LIMIT", "3", 1);
    setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64", 1);
    tw_span_limits l;
    tw_span_limits_from_env(&l);
    assert_int_equal(l.attr_count, 50);
    assert_int_equal(l.event_count, 7);
    assert_int_equal(l.link_count, 3);
    assert_int_equal(l.attr_value_len, 64);
    setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "9", 1); /* the span-specific one wins */
    setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "garbage", 1); /* warned, general value kept */
    tw_span_limits_from_env(&l);
    assert_int_equal(l.attr_count, 9);
    assert_int_equal(l.attr_value_len, 64);
    clear_env();
}

static void test_tracers_per_scope(void **state) {
    clear_env();
    tw_provider *p = make(NULL, 0);
    tw_tracer *a = tw_tracer_get(p, "lib.a", "1.0"), *a2 = tw_tracer_get(p, "lib.a", "1.0");
    tw_tracer *b = tw_tracer_get(p, "lib.a", "2.0"), *c = tw_tracer_get(p, "lib.a", NULL);
    assert_ptr_equal(a, a2);
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_ptr_equal(c, tw_tracer_get(p, "lib.a", NULL));
    tw_provider_set_global(p);
    assert_ptr_equal(tw_tracer_get(NULL, "lib.a", "1.0"), a);
    tw_provider_set_global(NULL);
    tw_provider_destroy(p);
}

static void test_from_env_exporter_choice(void **state) {
    clear_env();
    setenv("OTEL_TRACES_EXPORTER", "none", 1);
    tw_provider *p;
    assert_int_equal(tw_provider_from_env(&p), TW_OK);
    assert_null(p->processors);
    tw_provider_destroy(p);
    setenv("OTEL_TRACES_EXPORTER", "console", 1);
    assert_int_equal(tw_provider_from_env(&p), TW_OK);
    assert_non_null(p->processors);
    tw_provider_destroy(p);
    unsetenv("OTEL_TRACES_EXPORTER");
}

static void test_sdk_disabled(void **state) {
    clear_env();
    setenv("OTEL_SDK_DISABLED", "true", 1);
    setenv("OTEL_TRACES_EXPORTER", "none", 1);
    tw_provider *p;
    assert_int_equal(tw_provider_from_env(&p), TW_OK);
    tw_span *s = tw_span_start(tw_tracer_get(p, "t", NULL), "x", NULL);
    assert_false(tw_span_is_recording(s));
    tw_span_end(s);
    tw_provider_destroy(p);
    unsetenv("OTEL_SDK_DISABLED");
    unsetenv("OTEL_TRACES_EXPORTER");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_bad_resource_attributes_discarded_whole),
        cmocka_unit_test(test_limits_from_env),
        cmocka_unit_test(test_tracers_per_scope),
        cmocka_unit_test(test_from_env_exporter_choice),
        cmocka_unit_test(test_sdk_disabled),
    };
    return cmocka_run_group_tests_name("provider", tests, NULL, NULL);
}
