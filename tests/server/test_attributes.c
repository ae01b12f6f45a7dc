/*
 * test_attributes.c — the attributes processor (pipeline/attributes.c):
 * insert/update/upsert with values and from_attribute, delete by key and by
 * pattern, hash (equal to sha256sum), extract with named groups, convert,
 * actions applied in order to span and log attributes, and invalid action
 * lists with their messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "batch_attrs.h"
#include "otlp/model.h"
#include "pipeline/attributes.h"

static const char SPANS[] =
    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
    "\"spanId\":\"00f067aa0ba902b7\",\"name\":\"GET\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"attributes\":["
    "{\"key\":\"env\",\"value\":{\"stringValue\":\"dev\"}},"
    "{\"key\":\"user.id\",\"value\":{\"stringValue\":\"u-42\"}},"
    "{\"key\":\"http.url\",\"value\":{\"stringValue\":\"https://shop.example/api/v2/orders?id=7\"}},"
    "{\"key\":\"retries\",\"value\":{\"stringValue\":\"3\"}},"
    "{\"key\":\"ratio\",\"value\":{\"intValue\":\"2\"}},"
    "{\"key\":\"debug.a\",\"value\":{\"boolValue\":true}},"
    "{\"key\":\"debug.b\",\"value\":{\"intValue\":\"1\"}}]}]}]}]}";

static const char LOGS[] =
    "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":\"1\",\"body\":{\"stringValue\":\"x\"},"
    "\"attributes\":[{\"key\":\"user.id\",\"value\":{\"stringValue\":\"u-42\"}}]}]}]}]}";

#define SVAL(lit) ((tws_value){.type = TWS_STRING, .u.s = {lit, sizeof lit - 1}})

static void test_actions_in_order(void **state) {
    const tws_attr_action acts[] = {
        {.action = TWS_ATTR_INSERT, .key = "env", .value = SVAL("prod")},             /* present: kept */
        {.action = TWS_ATTR_INSERT, .key = "region", .value = SVAL("eu")},            /* absent: added */
        {.action = TWS_ATTR_UPDATE, .key = "missing", .value = SVAL("no")},           /* absent: nothing */
        {.action = TWS_ATTR_UPDATE, .key = "env", .value = SVAL("staging")},          /* present: set */
        {.action = TWS_ATTR_UPSERT, .key = "enduser.id", .from_attribute = "user.id"},
        {.action = TWS_ATTR_UPSERT, .key = "copied", .from_attribute = "nope"},      /* source absent: nothing */
        {.action = TWS_ATTR_HASH, .key = "user.id"},
        {.action = TWS_ATTR_EXTRACT, .key = "http.url",
         .pattern = "^(?P<http_scheme>[a-z]+)://(?P<http_host>[^/]+)(?P<http_path>/[^?]*)(?:\\?(?P<http_query>.*))?$"},
        {.action = TWS_ATTR_CONVERT, .key = "retries", .converted_type = TWS_INT},
        {.action = TWS_ATTR_CONVERT, .key = "ratio", .converted_type = TWS_DOUBLE},
        {.action = TWS_ATTR_CONVERT, .key = "env", .converted_type = TWS_INT}, /* does not parse: left */
        {.action = TWS_ATTR_DELETE, .pattern = "debug\\..*"},
        {.action = TWS_ATTR_DELETE, .key = "http.url"},
    };
    tws_attributes *p;
    char err[256];
    assert_int_equal(tws_attributes_new(acts, TW_ARRAY_LEN(acts), &p, err, sizeof err), TW_OK);
    tws_batch b, l;
    tws_decode_error de;
    tws_batch_init(&b);
    tws_batch_init(&l);
    assert_int_equal(tws_otlp_decode_json(SPANS, strlen(SPANS), NULL, &b, &de), TW_OK);
    assert_int_equal(tws_otlp_decode_logs_json(LOGS, strlen(LOGS), NULL, &l, &de), TW_OK);
    assert_int_equal(tws_attributes_apply(p, &b), TW_OK);
    assert_int_equal(tws_attributes_apply(p, &l), TW_OK);

    const tws_attrs *a = &b.spans[0].attrs;
    assert_str(attr(a, "env"), "staging");
    assert_str(attr(a, "region"), "eu");
    assert_null(attr(a, "missing"));
    assert_null(attr(a, "copied"));
    assert_str(attr(a, "enduser.id"), "u-42"); /* copied before the hash */
    /* printf u-42 | sha256sum */
    assert_str(attr(a, "user.id"), "16ec525b74b75626eb93ecad8acc749885fcf4e83c95b139342769a4ab1828a3");
    assert_str(attr(a, "http_scheme"), "https");
    assert_str(attr(a, "http_host"), "shop.example");
    assert_str(attr(a, "http_path"), "/api/v2/orders");
    assert_str(attr(a, "http_query"), "id=7");
    assert_null(attr(a, "http.url"));
    assert_int_equal(attr(a, "retries")->type, TWS_INT);
    assert_int_equal(attr(a, "retries")->u.i, 3);
    assert_int_equal(attr(a, "ratio")->type, TWS_DOUBLE);
    assert_true(attr(a, "ratio")->u.d == 2.0);
    assert_null(attr(a, "debug.a"));
    assert_null(attr(a, "debug.b"));
    /* logs get the same actions */
    assert_str(attr(&l.logs[0].attrs, "region"), "eu");
    assert_str(attr(&l.logs[0].attrs, "enduser.id"), "u-42");
    tws_batch_free(&b);
    tws_batch_free(&l);
    tws_attributes_free(p);
}

static void test_invalid_actions(void **state) {
    struct {
        tws_attr_action a;
        const char *msg;
    } cases[] = {
        {{.action = TWS_ATTR_INSERT, .value = SVAL("x")}, "actions[0] (insert): key is required"},
        {{.action = TWS_ATTR_UPSERT, .key = "k"}, "actions[0] (upsert): needs a string, int, double or bool value"},
        {{.action = TWS_ATTR_DELETE}, "actions[0] (delete): key is required"},
        {{.action = TWS_ATTR_DELETE, .pattern = "(bad"}, "actions[0] (delete): pattern: missing closing parenthesis"},
        {{.action = TWS_ATTR_EXTRACT, .key = "k"}, "actions[0] (extract): pattern is required"},
        {{.action = TWS_ATTR_EXTRACT, .key = "k", .pattern = "(a)"}, "actions[0] (extract): pattern has no named group"},
        {{.action = TWS_ATTR_CONVERT, .key = "k", .converted_type = TWS_BOOL}, "converted_type must be int, double or string"},
        {{.action = (tws_attr_action_kind)99, .key = "k"}, "actions[0]: unknown action"},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(cases); i++) {
        tws_attributes *p = (tws_attributes *)1;
        char err[256] = "";
        assert_int_equal(tws_attributes_new(&cases[i].a, 1, &p, err, sizeof err), TW_EINVAL);
        assert_null(p);
        if (!strstr(err, cases[i].msg)) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actions_in_order),
        cmocka_unit_test(test_invalid_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
