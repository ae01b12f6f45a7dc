/*
 * test_log_export.c — the logger's OTLP export against the test HTTP
 * server: each tw_log call inside a span arrives as one LogRecord on
 * POST /v1/logs with body, severity, attributes, trace_id, span_id, flags,
 * resource and scope (protobuf and JSON); batching and flush; a full queue
 * drops and counts without blocking; the OTEL_LOGS_EXPORTER and
 * OTEL_EXPORTER_OTLP_LOGS_* rules; partialSuccess.rejectedLogRecords.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/pb.h"
#include "export/otlp_int.h"
#include "http_server.h"
#include "trace/trace_int.h"

static const char *const log_env[] = {
    "OTEL_LOGS_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_BLRP_SCHEDULE_DELAY",
    "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT",
};

typedef struct fx {
    tw_test_server *srv;
    tw_provider *prov;
    tw_tracer *tracer;
    char url[128];
} fx;

static int setup(void **state) {
    for (size_t i = 0; i < TW_ARRAY_LEN(log_env); i++) unsetenv(log_env[i]);
    fx *f = calloc(1, sizeof *f);
    assert_int_equal(tw_test_server_start(&f->srv), 0);
    tw_test_server_url(f->srv, "/v1/logs", f->url, sizeof f->url);
    tw_attribute res[] = {TW_ATTR_STR("service.name", "logsvc")};
    assert_int_equal(tw_provider_new(&(tw_provider_options){.resource = res, .n_resource = 1}, &f->prov), TW_OK);
    f->tracer = tw_tracer_get(f->prov, "test", "1");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    tw_provider_destroy(f->prov);
    tw_test_server_stop(f->srv);
    free(f);
    for (size_t i = 0; i < TW_ARRAY_LEN(log_env); i++) unsetenv(log_env[i]);
    return 0;
}

static tw_logger *logger(fx *f, tw_otlp_protocol proto, uint32_t queue) {
    tw_logger *lg = NULL;
    tw_otlp_options o = {.endpoint = f->url, .protocol = proto, .compression_gzip = 0, .initial_backoff_ms = 10};
    tw_batch_options b = {.schedule_delay_ms = 20, .max_queue_size = queue, .export_timeout_ms = 2000};
    assert_int_equal(tw_logger_new(&(tw_logger_options){.fd = -1, .provider = f->prov,
                                                        .export_mode = TW_LOG_EXPORT_OTLP, .otlp = &o, .batch = &b},
                                   &lg),
                     TW_OK);
    return lg;
}

/* ---- a little protobuf walking ------------------------------------------------------ */

typedef struct bytes {
    const uint8_t *p;
    size_t n;
} bytes;

/* The idx-th field `num` of `msg` (its LEN payload, or its scalar in *u). */
static bool pb_get(bytes msg, uint32_t num, int idx, bytes *out, uint64_t *u) {
    tw__pb_reader r;
    tw__pb_field fl;
    tw__pb_reader_init(&r, msg.p, msg.n);
    while (tw__pb_next(&r, &fl) == 1) {
        if (fl.num != num || idx-- > 0) continue;
        if (out) *out = (bytes){fl.data, fl.len};
        if (u) *u = fl.u;
        return true;
    }
    return false;
}

static bytes pb_path(bytes msg, const uint32_t *path, size_t n) {
    for (size_t i = 0; i < n; i++) assert_true(pb_get(msg, path[i], 0, &msg, NULL));
    return msg;
}

static bool bytes_eq(bytes b, const char *s) { return b.n == strlen(s) && memcmp(b.p, s, b.n) == 0; }

/* The string value of attribute `key` in a message whose field `num` is KeyValue. */
static bool pb_attr(bytes msg, uint32_t num, const char *key, bytes *val) {
    bytes kv, k, any;
    for (int i = 0; pb_get(msg, num, i, &kv, NULL); i++) {
        if (pb_get(kv, 1, 0, &k, NULL) && bytes_eq(k, key) && pb_get(kv, 2, 0, &any, NULL))
            return pb_get(any, 1, 0, val, NULL) || (val->n = 0, true);
    }
    return false;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_protobuf_record_carries_the_span(void **state) {
    fx *f = *state;
    tw_logger *lg = logger(f, TW_OTLP_HTTP_PROTOBUF, 0);
    tw_span *sp = tw_span_start(f->tracer, "checkout", NULL);
    int tok = tw_span_attach(sp);
    tw_attribute fields[] = {TW_ATTR_STR("order.id", "o-1"), TW_ATTR_INT("attempt", 3)};
    assert_int_equal(tw_log(lg, TW_LOG_ERROR, "inventory reserve failed", fields, 2), TW_OK);
    tw_detach(tok);
    assert_int_equal(tw_log(lg, TW_LOG_INFO, "outside", NULL, 0), TW_OK);
    assert_int_equal(tw_log(lg, TW_LOG_DEBUG, "below min level", NULL, 0), TW_OK);
    assert_int_equal(tw_logger_flush(lg, 5000), TW_OK);
    assert_true(tw_test_server_wait(f->srv, 1, 5000));

    const tw_test_request *rq = tw_test_server_request(f->srv, 0);
    assert_string_equal(rq->method, "POST");
    assert_string_equal(rq->path, "/v1/logs");
    assert_string_equal(tw_test_request_header(rq, "Content-Type"), "application/x-protobuf");
    bytes body = {rq->body, rq->body_len}, v;
    /* resource_logs 1 → resource 1 → attributes 1 */
    bytes res = pb_path(body, (uint32_t[]){1, 1}, 2);
    assert_true(pb_attr(res, 1, "service.name", &v) && bytes_eq(v, "logsvc"));
    /* resource_logs 1 → scope_logs 2 → scope 1 → name 1 */
    bytes scope = pb_path(body, (uint32_t[]){1, 2, 1}, 3);
    assert_true(pb_get(scope, 1, 0, &v, NULL) && bytes_eq(v, "tracewire.log"));
    bytes sl = pb_path(body, (uint32_t[]){1, 2}, 2), lr;
    assert_true(pb_get(sl, 2, 0, &lr, NULL));
    assert_false(pb_get(sl, 2, 2, NULL, NULL)); /* two records, the debug one was below min_level */

    uint64_t u;
    assert_true(pb_get(lr, 2, 0, NULL, &u));
    assert_int_equal(u, TW_LOG_ERROR);
    assert_true(pb_get(lr, 3, 0, &v, NULL) && bytes_eq(v, "ERROR"));
    bytes any;
    assert_true(pb_get(lr, 5, 0, &any, NULL) && pb_get(any, 1, 0, &v, NULL) && bytes_eq(v, "inventory reserve failed"));
    assert_true(pb_attr(lr, 6, "order.id", &v) && bytes_eq(v, "o-1"));
    const tw_span_context *sc = tw_span_get_context(sp);
    assert_true(pb_get(lr, 9, 0, &v, NULL) && v.n == 16 && memcmp(v.p, sc->trace_id.bytes, 16) == 0);
    assert_true(pb_get(lr, 10, 0, &v, NULL) && v.n == 8 && memcmp(v.p, sc->span_id.bytes, 8) == 0);
    assert_true(pb_get(lr, 8, 0, NULL, &u));
    assert_int_equal(u, sc->flags);
    uint64_t t = 0, obs = 0;
    assert_true(pb_get(lr, 1, 0, NULL, &t) && pb_get(lr, 11, 0, NULL, &obs));
    assert_true(t > 0 && t == obs);

    /* The record logged after detach has no trace. */
    assert_true(pb_get(sl, 2, 1, &lr, NULL));
    assert_false(pb_get(lr, 9, 0, NULL, NULL));
    assert_false(pb_get(lr, 8, 0, NULL, NULL));

    tw_processor_stats st;
    tw_logger_get_stats(lg, &st);
    assert_int_equal(st.spans_queued, 2);
    assert_int_equal(st.spans_exported, 2);
    assert_int_equal(st.spans_dropped, 0);
    tw_span_end(sp);
    tw_logger_destroy(lg);
}

static void test_json_record(void **state) {
    fx *f = *state;
    tw_logger *lg = logger(f, TW_OTLP_HTTP_JSON, 0);
    tw_span *sp = tw_span_start(f->tracer, "op", NULL);
    int tok = tw_span_attach(sp);
    tw_log(lg, TW_LOG_WARN, "slow \"db\"", (tw_attribute[]){TW_ATTR_BOOL("retry", true)}, 1);
    tw_detach(tok);
    tw_logger_destroy(lg); /* exports what is queued */
    assert_int_equal(tw_test_server_count(f->srv), 1);
    const tw_test_request *rq = tw_test_server_request(f->srv, 0);
    assert_string_equal(tw_test_request_header(rq, "Content-Type"), "application/json");
    tw_str body = {(const char *)rq->body, rq->body_len}, rl, sl, recs, r, v;
    assert_int_equal(tw__json_get(body, "resourceLogs", &rl), 0);
    assert_int_equal(tw__json_at(rl, 0, &rl), 0);
    assert_int_equal(tw__json_get(rl, "scopeLogs", &sl), 0);
    assert_int_equal(tw__json_at(sl, 0, &sl), 0);
    assert_int_equal(tw__json_get(sl, "logRecords", &recs), 0);
    assert_int_equal(tw__json_count(recs), 1);
    assert_int_equal(tw__json_at(recs, 0, &r), 0);
    char hex[33];
    tw_trace_id_to_hex(&tw_span_get_context(sp)->trace_id, hex);
    hex[32] = '\0';
    char want[64];
    snprintf(want, sizeof want, "\"%s\"", hex);
    assert_int_equal(tw__json_get(r, "traceId", &v), 0);
    assert_memory_equal(v.ptr, want, v.len);
    assert_int_equal(tw__json_get(r, "severityNumber", &v), 0);
    assert_memory_equal(v.ptr, "13", 2);
    assert_int_equal(tw__json_get(r, "severityText", &v), 0);
    assert_memory_equal(v.ptr, "\"WARN\"", 6);
    assert_int_equal(tw__json_get(r, "body", &v), 0);
    assert_int_equal(tw__json_get(v, "stringValue", &v), 0);
    assert_memory_equal(v.ptr, "\"slow \\\"db\\\"\"", v.len);
    assert_int_equal(tw__json_get(r, "attributes", &v), 0);
    assert_int_equal(tw__json_count(v), 1);
    tw_span_end(sp);
}

static void test_full_queue_drops_and_never_blocks(void **state) {
    fx *f = *state;
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u/v1/logs", tw_test_unused_port());
    tw_otlp_options o = {.endpoint = f->url, .compression_gzip = 0, .initial_backoff_ms = 50, .max_elapsed_ms = 300};
    tw_batch_options b = {.schedule_delay_ms = 10, .max_queue_size = 4, .max_export_batch_size = 2,
                          .export_timeout_ms = 300};
    tw_logger *lg;
    assert_int_equal(tw_logger_new(&(tw_logger_options){.fd = -1, .provider = f->prov,
                                                        .export_mode = TW_LOG_EXPORT_OTLP, .otlp = &o, .batch = &b},
                                   &lg),
                     TW_OK);
    uint64_t t0 = tw_test_monotonic_ns();
    for (int i = 0; i < 100; i++) assert_int_equal(tw_log(lg, TW_LOG_INFO, "x", NULL, 0), TW_OK);
    assert_true(tw_test_monotonic_ns() - t0 < 200000000ull); /* the network is never waited for */
    tw_processor_stats st;
    tw_logger_get_stats(lg, &st);
    assert_int_equal(st.spans_queued + st.spans_dropped, 100);
    assert_true(st.spans_dropped >= 100 - 4 - 2 * 2); /* queue, and at most two batches taken out */
    tw_logger_destroy(lg);
}

static void test_environment(void **state) {
    fx *f = *state;
    tw_logger *lg;
    /* Unset: no export. */
    assert_int_equal(tw_logger_new(&(tw_logger_options){.fd = -1, .provider = f->prov}, &lg), TW_OK);
    tw_log(lg, TW_LOG_INFO, "not exported", NULL, 0);
    tw_processor_stats st;
    tw_logger_get_stats(lg, &st);
    assert_int_equal(st.spans_queued, 0);
    tw_logger_destroy(lg);

    /* OTEL_LOGS_EXPORTER lists otlp; the generic endpoint gets /v1/logs. */
    char base[128];
    tw_test_server_url(f->srv, "/", base, sizeof base);
    setenv("OTEL_LOGS_EXPORTER", " console , OTLP ", 1);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base, 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:1/v1/traces", 1); /* not for logs */
    setenv("OTEL_BLRP_SCHEDULE_DELAY", "20", 1);
    assert_int_equal(tw_logger_new(&(tw_logger_options){.fd = -1, .provider = f->prov}, &lg), TW_OK);
    tw_log(lg, TW_LOG_INFO, "exported", NULL, 0);
    assert_true(tw_test_server_wait(f->srv, 1, 5000)); /* by the 20 ms schedule, no flush */
    assert_string_equal(tw_test_server_request(f->srv, 0)->path, "/v1/logs");
    tw_logger_destroy(lg);

    /* The logs-specific endpoint is used as is. */
    char url[128];
    setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", tw_test_server_url(f->srv, "/custom/logs", url, sizeof url), 1);
    char *got = tw__otlp_endpoint(TW__OTLP_LOGS, NULL);
    assert_string_equal(got, url);
    tw__free(got);
    unsetenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT");
    unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    got = tw__otlp_endpoint(TW__OTLP_LOGS, NULL);
    assert_string_equal(got, "http://localhost:4318/v1/logs");
    tw__free(got);

    /* none turns it off even with export left to the environment. */
    setenv("OTEL_LOGS_EXPORTER", "none", 1);
    assert_int_equal(tw_logger_new(&(tw_logger_options){.fd = -1, .provider = f->prov}, &lg), TW_OK);
    tw_log(lg, TW_LOG_INFO, "not exported", NULL, 0);
    tw_logger_get_stats(lg, &st);
    assert_int_equal(st.spans_queued, 0);
    tw_logger_destroy(lg);
}

static void test_attribute_count_limit(void **state) {
    fx *f = *state;
    setenv("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "1", 1);
    tw_logger *lg = logger(f, TW_OTLP_HTTP_PROTOBUF, 0);
    tw_attribute fields[] = {TW_ATTR_STR("a", "1"), TW_ATTR_STR("b", "2"), TW_ATTR_STR("c", "3")};
    tw_log(lg, TW_LOG_INFO, "limited", fields, 3);
    tw_logger_destroy(lg);
    const tw_test_request *rq = tw_test_server_request(f->srv, 0);
    assert_non_null(rq);
    bytes lr = pb_path((bytes){rq->body, rq->body_len}, (uint32_t[]){1, 2, 2}, 3), v;
    uint64_t dropped;
    assert_true(pb_attr(lr, 6, "a", &v));
    assert_false(pb_attr(lr, 6, "b", &v));
    assert_true(pb_get(lr, 7, 0, NULL, &dropped));
    assert_int_equal(dropped, 2);
}

static void test_partial_success_counts_rejected_records(void **state) {
    fx *f = *state;
    tw_test_response r = {.status = 200, .headers = "Content-Type: application/json\r\n",
                          .body = "{\"partialSuccess\":{\"rejectedLogRecords\":\"2\",\"errorMessage\":\"too old\"}}",
                          .body_len = (size_t)-1};
    tw_test_server_script(f->srv, &r, 1);
    tw_exporter *e;
    tw_otlp_options o = {.endpoint = f->url, .protocol = TW_OTLP_HTTP_JSON, .compression_gzip = 0};
    assert_int_equal(tw__otlp_http_new(TW__OTLP_LOGS, &o, &e), TW_OK);
    tw__log_record recs[3];
    tw__log_record *ptrs[3];
    for (int i = 0; i < 3; i++) {
        memset(&recs[i], 0, sizeof recs[i]);
        recs[i].severity = TW_LOG_INFO;
        recs[i].body = "b";
        recs[i].body_len = 1;
        ptrs[i] = &recs[i];
    }
    tw__log_batch b = {NULL, "s", NULL, ptrs, 3};
    assert_int_equal(e->ops->export_logs(e, &b, tw_now_ns() + 5000000000ull), TW_OK);
    assert_int_equal(e->ops->export_spans(e, NULL, 0, 0), TW_EINVAL); /* a logs exporter */
    tw_exporter_stats st;
    tw_exporter_get_stats(e, &st);
    assert_int_equal(st.spans_rejected, 2);
    assert_int_equal(st.spans_exported, 1);
    tw_exporter_destroy(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_protobuf_record_carries_the_span, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_drops_and_never_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attribute_count_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_success_counts_rejected_records, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
