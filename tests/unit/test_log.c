/*
 * test_log.c — JSON log lines carry the active span's ids, field for field
 * the article's shape, with typed extra fields and escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "trace/trace_int.h"

static void test_article_line(void **state) {
    tw_logger *lg;
    assert_int_equal(tw_logger_new(&(tw_logger_options){.fd = -1, .service = "checkout"}, &lg), TW_OK);
    tw_context c = TW_CONTEXT_INIT;
    tw_trace_id_from_hex("4bf92f3577b34da6a3ce929d0e0e4736", 32, &c.span.trace_id);
    tw_span_id_from_hex("00f067aa0ba902b7", 16, &c.span.span_id);
    char buf[1024];
    int n = tw_log_format(lg, TW_LOG_ERROR, "inventory reserve failed", NULL, 0, &c, 1795608000123456789ull, buf,
                          sizeof buf);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "{\"timestamp\":\"2026-11-25T12:00:00.123456789Z\",\"level\":\"error\","
                             "\"msg\":\"inventory reserve failed\",\"service\":\"checkout\","
                             "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\"}\n");
    assert_int_equal(tw_log_format(lg, TW_LOG_ERROR, "x", NULL, 0, &c, 1, buf, 10), TW_ERANGE);
    tw_logger_destroy(lg);
}

static void test_fields_and_escaping_and_no_span(void **state) {
    tw_logger *lg;
    tw_logger_new(&(tw_logger_options){.fd = -1, .service = "svc"}, &lg);
    int64_t ids[] = {1, 2};
    tw_attribute f[] = {TW_ATTR_STR("order.id", "o-\"1\"\n"), TW_ATTR_INT("attempt", 3), TW_ATTR_BOOL("retry", false),
                        TW_ATTR_DOUBLE("ratio", 0.5), TW_ATTR_INT_ARRAY("ids", ids, 2)};
    char buf[1024];
    tw_context empty = TW_CONTEXT_INIT;
    int n = tw_log_format(lg, TW_LOG_WARN, "tab\there", f, 5, &empty, 1795608000000000000ull, buf, sizeof buf);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "{\"timestamp\":\"2026-11-25T12:00:00.000000000Z\",\"level\":\"warn\",\"msg\":\"tab\\there\","
                             "\"service\":\"svc\",\"trace_id\":\"\",\"span_id\":\"\",\"order.id\":\"o-\\\"1\\\"\\n\","
                             "\"attempt\":3,\"retry\":false,\"ratio\":0.5,\"ids\":[1,2]}\n");
    tw_logger_destroy(lg);
}

static void test_active_span_and_write(void **state) {
    tw_provider *p;
    tw_attribute res[] = {TW_ATTR_STR("service.name", "payments")};
    tw_provider_options o = {.resource = res, .n_resource = 1, .sampler = tw_sampler_always_on()};
    tw_provider_new(&o, &p);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    tw_logger *lg;
    assert_int_equal(tw_logger_new(&(tw_logger_options){.fd = fds[1], .provider = p}, &lg), TW_OK);
    tw_span *s = tw_span_start(tw_tracer_get(p, "t", NULL), "charge", NULL);
    int tok = tw_span_attach(s);
    assert_int_equal(tw_log(lg, TW_LOG_INFO, "charged", NULL, 0), TW_OK);
    assert_int_equal(tw_log(lg, TW_LOG_DEBUG, "below the minimum level", NULL, 0), TW_OK);
    tw_detach(tok);
    char want_tid[33], want_sid[17];
    tw_trace_id_to_hex(&tw_span_get_context(s)->trace_id, want_tid);
    tw_span_id_to_hex(&tw_span_get_context(s)->span_id, want_sid);
    tw_span_end(s);
    close(fds[1]);
    char buf[2048];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    close(fds[0]);
    assert_non_null(strstr(buf, "\"service\":\"payments\""));
    char want[128];
    snprintf(want, sizeof want, "\"trace_id\":\"%s\",\"span_id\":\"%s\"", want_tid, want_sid);
    assert_non_null(strstr(buf, want));
    assert_null(strstr(buf, "below the minimum"));
    assert_int_equal(strchr(buf, '\n') - buf, n - 1); /* exactly one line */
    tw_logger_destroy(lg);
    tw_provider_destroy(p);
}

static void test_level_names(void **state) {
    assert_string_equal(tw_log_level_name(TW_LOG_TRACE), "trace");
    assert_string_equal(tw_log_level_name(TW_LOG_DEBUG), "debug");
    assert_string_equal(tw_log_level_name(TW_LOG_INFO), "info");
    assert_string_equal(tw_log_level_name(TW_LOG_WARN + 2), "warn");
    assert_string_equal(tw_log_level_name(TW_LOG_ERROR), "error");
    assert_string_equal(tw_log_level_name(TW_LOG_FATAL), "fatal");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_article_line),
        cmocka_unit_test(test_fields_and_escaping_and_no_span),
        cmocka_unit_test(test_active_span_and_write),
        cmocka_unit_test(test_level_names),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
