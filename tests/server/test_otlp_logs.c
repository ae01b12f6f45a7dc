/*
 * test_otlp_logs.c — the OTLP/protobuf logs decoder (tws_otlp_decode_logs_pb
 * in otlp/decode_pb.c, which shares the trace decoder's outer levels).
 *
 * Requests are built with common/pb.h's writer, as an SDK writes them
 * (field numbers checked against opentelemetry-proto logs/v1/logs.proto and
 * the OpenTelemetry JS serializer): every LogRecord field, several
 * resources and scopes, optional ids (absent, empty, all zero: none; other
 * lengths: the record rejected, the request kept), severity clamping, a body
 * never cut while attribute values are, malformed wire data with the exact
 * message and path, every prefix of a valid request, and the trace decoder
 * refusing nothing of what it accepted before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "bench/otlp_workload.h" /* kv_str */
#include "common/pb.h"
#include "otlp/model.h"

static const uint8_t TID[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t SID[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
static const uint8_t ZERO[16] = {0};

/* What one record carries; NULL / 0 fields are left out. */
typedef struct rec {
    uint64_t time, observed;
    uint64_t sev;
    const char *sev_text, *body, *event_name;
    const uint8_t *tid;
    size_t tid_len;
    const uint8_t *sid;
    size_t sid_len;
    uint32_t flags, dropped;
    const char *attr_key, *attr_val;
} rec;

static void put_record(tw__buf *b, const rec *r) {
    tw__pb_mark m = tw__pb_begin(b, 2, 2);
    if (r->time) tw__pb_fixed64(b, 1, r->time);
    if (r->sev) tw__pb_uint64(b, 2, r->sev);
    if (r->sev_text) tw__pb_bytes(b, 3, r->sev_text, strlen(r->sev_text));
    if (r->body) {
        tw__pb_mark av = tw__pb_begin(b, 5, 2);
        tw__pb_bytes(b, 1, r->body, strlen(r->body));
        tw__pb_end(b, av);
    }
    if (r->attr_key) kv_str(b, 6, r->attr_key, r->attr_val);
    if (r->dropped) tw__pb_uint64(b, 7, r->dropped);
    if (r->flags) tw__pb_fixed32(b, 8, r->flags);
    if (r->tid) tw__pb_bytes(b, 9, r->tid, r->tid_len);
    if (r->sid) tw__pb_bytes(b, 10, r->sid, r->sid_len);
    if (r->observed) tw__pb_fixed64(b, 11, r->observed);
    if (r->event_name) tw__pb_bytes(b, 12, r->event_name, strlen(r->event_name));
    tw__pb_end(b, m);
}

/* ExportLogsServiceRequest: one resource (service.name = svc) with one
 * scope holding `n` records. */
static void put_resource_logs(tw__buf *b, const char *svc, const char *scope, const rec *r, size_t n) {
    tw__pb_mark rl = tw__pb_begin(b, 1, 3);
    tw__pb_mark res = tw__pb_begin(b, 1, 1);
    kv_str(b, 1, "service.name", svc);
    tw__pb_end(b, res);
    tw__pb_mark sl = tw__pb_begin(b, 2, 3);
    tw__pb_mark sc = tw__pb_begin(b, 1, 1);
    tw__pb_bytes(b, 1, scope, strlen(scope));
    tw__pb_bytes(b, 2, "1.0", 3);
    tw__pb_end(b, sc);
    for (size_t i = 0; i < n; i++) put_record(b, &r[i]);
    tw__pb_bytes(b, 3, "https://opentelemetry.io/schemas/1.26.0", 39);
    tw__pb_end(b, sl);
    tw__pb_bytes(b, 3, "https://opentelemetry.io/schemas/1.26.0", 39);
    tw__pb_end(b, rl);
}

static int decode(const tw__buf *req, tws_batch *b, tws_decode_error *err, uint32_t max_len) {
    tws_decode_options o = {.max_value_len = max_len};
    return tws_otlp_decode_logs_pb(req->data, req->len, &o, b, err);
}

static bool str_is(tw_str s, const char *want) { return s.len == strlen(want) && !memcmp(s.ptr, want, s.len); }

static void test_every_field(void **state) {
    static const char line[] = "{\"level\":\"error\",\"msg\":\"inventory reserve failed\",\"service\":\"checkout\"}";
    rec r = {.time = 1733390000000000001ull, .observed = 1733390000000000999ull, .sev = 17, .sev_text = "ERROR",
             .body = line, .event_name = "checkout.failed", .tid = TID, .tid_len = 16, .sid = SID, .sid_len = 8,
             .flags = 1, .dropped = 3, .attr_key = "http.route", .attr_val = "/checkout"};
    tw__buf req;
    tw__buf_init(&req, 1 << 20);
    put_resource_logs(&req, "checkout", "app.logger", &r, 1);
    put_resource_logs(&req, "payments", "pay.logger", (rec[]){{.time = 5, .body = "charged"}, {.time = 6}}, 2);
    assert_false(req.failed);
    tws_batch b;
    tws_decode_error err;
    assert_int_equal(decode(&req, &b, &err, 0), TW_OK);
    assert_int_equal(b.n_spans, 0);
    assert_int_equal(b.n_logs, 3);
    assert_int_equal(b.n_resources, 2);
    assert_int_equal(b.n_scopes, 2);
    assert_int_equal(b.n_rejected, 0);
    const tws_log *l = &b.logs[0];
    assert_int_equal(l->time_ns, 1733390000000000001ull);
    assert_int_equal(l->observed_ns, 1733390000000000999ull);
    assert_int_equal(l->severity, 17);
    assert_true(str_is(l->severity_text, "ERROR"));
    assert_true(str_is(l->event_name, "checkout.failed"));
    assert_int_equal(l->body.type, TWS_STRING);
    assert_true(str_is(l->body.u.s, line));
    assert_true(l->has_trace_id && l->has_span_id);
    assert_memory_equal(l->trace_id, TID, 16);
    assert_memory_equal(l->span_id, SID, 8);
    assert_int_equal(l->flags, 1);
    assert_int_equal(l->attrs.n, 1);
    assert_int_equal(l->attrs.dropped, 3);
    assert_true(str_is(l->attrs.items[0].key, "http.route"));
    assert_true(str_is(l->attrs.items[0].val.u.s, "/checkout"));
    assert_int_equal(l->scope_idx, 0);
    assert_true(str_is(b.scopes[0].name, "app.logger"));
    assert_true(str_is(b.scopes[0].version, "1.0"));
    assert_true(str_is(b.scopes[0].schema_url, "https://opentelemetry.io/schemas/1.26.0"));
    assert_true(str_is(b.resources[0].schema_url, "https://opentelemetry.io/schemas/1.26.0"));
    const tws_value *svc = tws_attrs_find(&b.resources[b.scopes[0].resource_idx].attrs, "service.name");
    assert_non_null(svc);
    assert_true(str_is(svc->u.s, "checkout"));
    /* the other resource's records, one with nothing but a time */
    assert_int_equal(b.logs[1].scope_idx, 1);
    assert_int_equal(b.scopes[1].resource_idx, 1);
    assert_true(str_is(b.logs[1].body.u.s, "charged"));
    assert_int_equal(b.logs[2].body.type, TWS_EMPTY);
    assert_false(b.logs[2].has_trace_id || b.logs[2].has_span_id);
    assert_int_equal(b.logs[2].severity, 0);
    tws_batch_free(&b);
    tw__buf_free(&req);
}

/* Ids are optional: absent, empty and all-zero ids are none (SDKs send
 * zeros outside a span); other lengths reject the record, not the request. */
static void test_ids(void **state) {
    rec r[] = {
        {.time = 1, .body = "absent"},
        {.time = 2, .body = "empty", .tid = TID, .tid_len = 0, .sid = SID, .sid_len = 0},
        {.time = 3, .body = "zeros", .tid = ZERO, .tid_len = 16, .sid = ZERO, .sid_len = 8},
        {.time = 4, .body = "trace only", .tid = TID, .tid_len = 16},
        {.time = 5, .body = "short trace id", .tid = TID, .tid_len = 15, .sid = SID, .sid_len = 8},
        {.time = 6, .body = "long span id", .tid = TID, .tid_len = 16, .sid = TID, .sid_len = 9},
    };
    tw__buf req;
    tw__buf_init(&req, 1 << 20);
    put_resource_logs(&req, "svc", "s", r, sizeof r / sizeof *r);
    tws_batch b;
    tws_decode_error err;
    assert_int_equal(decode(&req, &b, &err, 0), TW_OK);
    assert_int_equal(b.n_logs, 6);
    for (int i = 0; i < 3; i++) {
        assert_false(b.logs[i].has_trace_id);
        assert_false(b.logs[i].has_span_id);
        assert_int_equal(b.logs[i].reject, 0);
        assert_memory_equal(b.logs[i].trace_id, ZERO, 16);
    }
    assert_true(b.logs[3].has_trace_id);
    assert_false(b.logs[3].has_span_id);
    assert_int_equal(b.logs[3].reject, 0);
    assert_int_equal(b.logs[4].reject, TWS_REJECT_TRACE_ID);
    assert_int_equal(b.logs[5].reject, TWS_REJECT_SPAN_ID);
    assert_int_equal(b.n_rejected, 2);
    tws_batch_free(&b);
    tw__buf_free(&req);
}

/* Severity numbers past 24 read as unspecified; a body is never cut,
 * attribute values are (on a character boundary), and invalid UTF-8 is
 * repaired in both. */
static void test_severity_limits_utf8(void **state) {
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    rec r[] = {
        {.time = 1, .sev = 25, .body = big, .attr_key = "k", .attr_val = big},
        {.time = 2, .sev = 24, .body = "bad \xff byte", .attr_key = "k", .attr_val = "caf\xc3\xa9s"},
        {.time = 3, .sev = UINT64_MAX},
    };
    tw__buf req;
    tw__buf_init(&req, 1 << 20);
    put_resource_logs(&req, "svc", "s", r, 3);
    tws_batch b;
    tws_decode_error err;
    assert_int_equal(decode(&req, &b, &err, 4), TW_OK);
    assert_int_equal(b.logs[0].severity, 0);
    assert_int_equal(b.logs[0].body.u.s.len, sizeof big - 1);         /* the line whole */
    assert_int_equal(b.logs[0].attrs.items[0].val.u.s.len, 4);        /* the attribute cut */
    assert_int_equal(b.logs[1].severity, 24);
    assert_true(str_is(b.logs[1].body.u.s, "bad \xef\xbf\xbd byte")); /* U+FFFD */
    assert_true(str_is(b.logs[1].attrs.items[0].val.u.s, "caf"));     /* not inside the é */
    assert_int_equal(b.logs[2].severity, 0);
    assert_true(b.utf8_repairs >= 1);
    assert_int_equal(b.truncations, 2);
    tws_batch_free(&b);
    tw__buf_free(&req);
}

/* Malformed wire data: refused whole, with the path in logs' names. */
static void test_malformed(void **state) {
    rec r = {.time = 1, .body = "hello", .tid = TID, .tid_len = 16};
    tw__buf req;
    tw__buf_init(&req, 1 << 20);
    put_resource_logs(&req, "svc", "scope", &r, 1);
    /* a second resource whose only record has a body with a truncated AnyValue */
    tw__buf bad;
    tw__buf_init(&bad, 1 << 20);
    tw__buf_append(&bad, req.data, req.len);
    static const uint8_t tail[] = {0x0a, 0x08,             /* resource_logs, 8 bytes */
                                   0x12, 0x06,             /*  scope_logs, 6 bytes */
                                   0x12, 0x04,             /*   log_records, 4 bytes */
                                   0x2a, 0x02, 0x08, 0xff}; /*   body: AnyValue{bool: truncated varint} */
    tw__buf_append(&bad, tail, sizeof tail);
    tws_batch b;
    tws_decode_error err;
    assert_int_equal(decode(&bad, &b, &err, 0), TW_EPARSE);
    char want[200];
    snprintf(want, sizeof want, "resourceLogs[1].scopeLogs[0].logRecords[0].body: truncated varint at byte %zu",
             bad.len - 1);
    assert_string_equal(err.msg, want);
    assert_int_equal(b.n_logs, 0);
    assert_null(b.logs);
    /* every prefix of the valid request: a clean refusal or a batch, never a crash */
    for (size_t n = 0; n < req.len; n++) {
        tw__buf p = {.data = req.data, .len = n};
        int rc = decode(&p, &b, &err, 0);
        assert_true(rc == TW_OK || rc == TW_EPARSE);
        if (rc == TW_EPARSE) assert_non_null(strstr(err.msg, " at byte "));
        tws_batch_free(&b);
    }
    /* a length past the end, at the top */
    static const uint8_t past[] = {0x0a, 0x10, 0x12};
    tw__buf p = {.data = (uint8_t *)past, .len = sizeof past};
    assert_int_equal(decode(&p, &b, &err, 0), TW_EPARSE);
    assert_non_null(strstr(err.msg, "request: "));
    tw__buf_free(&bad);
    tw__buf_free(&req);
}

/* The same bytes read as traces are still traces: the trace decoder takes
 * no log records, and the logs decoder no spans. */
static void test_signals_apart(void **state) {
    rec r = {.time = 1, .body = "x"};
    tw__buf req;
    tw__buf_init(&req, 1 << 20);
    put_resource_logs(&req, "svc", "s", &r, 1);
    tws_batch b;
    tws_decode_error err;
    tws_decode_options o = {0};
    assert_int_equal(tws_otlp_decode_pb(req.data, req.len, &o, &b, &err), TW_OK);
    assert_int_equal(b.n_logs, 0);
    assert_int_equal(b.n_spans, 1); /* field 2 of a scope is a span there: an empty one, rejected for its ids */
    assert_int_equal(b.spans[0].reject, TWS_REJECT_TRACE_ID);
    tws_batch_free(&b);
    assert_int_equal(decode(&req, &b, &err, 0), TW_OK);
    assert_int_equal(b.n_spans, 0);
    assert_int_equal(b.n_logs, 1);
    tws_batch_free(&b);
    tw__buf_free(&req);
}

/* OTLP/JSON logs (tws_otlp_decode_logs_json): the same request as in
 * protobuf reads back the same; enums by name, int64 as strings, snake_case
 * names, optional ids, and refusals that say where. */
static void test_json(void **state) {
    static const char req[] =
        "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":"
        "\"checkout\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"app.logger\",\"version\":\"1.0\"},\"logRecords\":["
        "{\"timeUnixNano\":\"1733390000000000001\",\"observedTimeUnixNano\":1733390000000000999,"
        "\"severityNumber\":\"SEVERITY_NUMBER_ERROR\",\"severityText\":\"ERROR\",\"eventName\":\"checkout.failed\","
        "\"body\":{\"stringValue\":\"inventory reserve failed\"},\"attributes\":[{\"key\":\"http.route\",\"value\":"
        "{\"stringValue\":\"/checkout\"}}],\"droppedAttributesCount\":3,\"flags\":1,"
        "\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902b7\",\"unknown\":[1,2]},"
        "{\"time_unix_nano\":\"5\",\"severity_number\":9,\"body\":{\"kvlistValue\":{\"values\":[{\"key\":\"a\","
        "\"value\":{\"intValue\":\"7\"}}]}},\"trace_id\":\"\",\"span_id\":\"0000000000000000\"},"
        "{\"timeUnixNano\":\"6\",\"traceId\":\"4bf92f35\"}]}],\"schemaUrl\":\"https://x\"}]}";
    tws_batch b;
    tws_decode_error err;
    tws_decode_options o = {0};
    assert_int_equal(tws_otlp_decode_logs_json(req, strlen(req), &o, &b, &err), TW_OK);
    assert_int_equal(b.n_spans, 0);
    assert_int_equal(b.n_logs, 3);
    const tws_log *l = &b.logs[0];
    assert_int_equal(l->time_ns, 1733390000000000001ull);
    assert_int_equal(l->observed_ns, 1733390000000000999ull);
    assert_int_equal(l->severity, 17);
    assert_true(str_is(l->severity_text, "ERROR"));
    assert_true(str_is(l->event_name, "checkout.failed"));
    assert_true(str_is(l->body.u.s, "inventory reserve failed"));
    assert_true(l->has_trace_id && l->has_span_id);
    assert_memory_equal(l->trace_id, TID, 16);
    assert_memory_equal(l->span_id, SID, 8);
    assert_int_equal(l->flags, 1);
    assert_int_equal(l->attrs.n, 1);
    assert_int_equal(l->attrs.dropped, 3);
    assert_true(str_is(b.scopes[0].name, "app.logger"));
    assert_true(str_is(b.resources[0].schema_url, "https://x"));
    /* snake_case, a kvlist body, empty and zero ids: none, not rejected */
    assert_int_equal(b.logs[1].time_ns, 5);
    assert_int_equal(b.logs[1].severity, 9);
    assert_int_equal(b.logs[1].body.type, TWS_KVLIST);
    assert_false(b.logs[1].has_trace_id || b.logs[1].has_span_id);
    assert_int_equal(b.logs[1].reject, 0);
    /* a short trace id rejects that record only */
    assert_int_equal(b.logs[2].reject, TWS_REJECT_TRACE_ID);
    assert_int_equal(b.n_rejected, 1);
    assert_non_null(strstr(err.msg, "resourceLogs[0].scopeLogs[0].logRecords[2].traceId"));
    tws_batch_free(&b);

    /* refusals: the whole request, with the place */
    static const struct {
        const char *in, *want;
    } bad[] = {
        {"{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"severityNumber\":\"LOUD\"}]}]}]}",
         "resourceLogs[0].scopeLogs[0].logRecords[0].severityNumber"},
        {"{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":\"x\"}]}]}]}",
         "resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano"},
        {"{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":{\"stringValue\":1}}]}]}]}",
         "resourceLogs[0].scopeLogs[0].logRecords[0].body"},
        {"{\"resourceLogs\":[", "invalid JSON at byte 17: unexpected end of input"},
        {"[]", "expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(tws_otlp_decode_logs_json(bad[i].in, strlen(bad[i].in), &o, &b, &err), TW_EPARSE);
        if (!strstr(err.msg, bad[i].want)) fail_msg("%s: got \"%s\", want \"%s\"", bad[i].in, err.msg, bad[i].want);
        assert_int_equal(b.n_logs, 0);
    }
    /* a traces request read as logs has no records; logs read as traces no spans */
    static const char traces[] = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[]}]}]}";
    assert_int_equal(tws_otlp_decode_logs_json(traces, strlen(traces), &o, &b, &err), TW_OK);
    assert_int_equal(b.n_logs, 0);
    tws_batch_free(&b);
    assert_int_equal(tws_otlp_decode_json(req, strlen(req), &o, &b, &err), TW_OK);
    assert_int_equal(b.n_spans, 0);
    assert_int_equal(b.n_logs, 0);
    tws_batch_free(&b);
    /* every prefix: a refusal or a batch, never a crash */
    for (size_t n = 0; n < sizeof req - 1; n++) {
        int rc = tws_otlp_decode_logs_json(req, n, &o, &b, &err);
        assert_true(rc == TW_OK || rc == TW_EPARSE);
        tws_batch_free(&b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field),  cmocka_unit_test(test_ids),
        cmocka_unit_test(test_severity_limits_utf8), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_signals_apart), cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests_name("otlp_logs", tests, NULL, NULL);
}
