/*
 * test_otlp_json.c — the OTLP/JSON codec (otlp/decode_json.c,
 * otlp/encode_json.c): an example request in the shape of the OTLP
 * specification's, every field and AnyValue type, snake_case and
 * lowerCamelCase names, hex and base64 ids, enum names, integers as
 * strings, Tempo's output, each refusal with its exact message, invalid
 * JSON with its byte offset, UTF-8 repair, value truncation, the nesting
 * limits, encode -> decode round trips in both id encodings, every prefix
 * of a valid request, and every allocation failing in turn.
 *
 * JSON in this file is written with ' for " (see J()).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "json_quotes.h"

#include "common/json.h"
#include "otlp/model.h"

#define TID "5b8efff798038103d269b633813fc60c"
#define TID_B64 "W47/95gDgQPSabYzgT/GDA=="
#define SID "eee19b7ec3c1b173"
#define SID_B64 "7uGbfsPBsXM="
#define PID "00f067aa0ba902b7"
#define SPAN_PATH "resourceSpans[0].scopeSpans[0].spans[0]"

/* ---- helpers ------------------------------------------------------------------------ */


/* A request holding one span with the members `members` (after the ids
 * unless `no_ids`). */
static const char *one_span(const char *members, bool no_ids) {
    static char b[16384];
    snprintf(b, sizeof b, "{'resourceSpans':[{'scopeSpans':[{'spans':[{%s%s%s}]}]}]}",
             no_ids ? "" : "'traceId':'" TID "','spanId':'" SID "'", no_ids || !*members ? "" : ",", members);
    return J(b);
}

static int decode_opts(const char *json, size_t len, const tws_decode_options *o, tws_batch *b,
                       tws_decode_error *e) {
    /* an exact-size heap copy, so that ASan sees any read past the end */
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, json, len);
    int rc = tws_otlp_decode_json(copy, len, o, b, e);
    assert_false(o && o->borrow_input); /* the copy is gone: see test_borrow */
    free(copy);
    return rc;
}

static int decode(const char *json, tws_batch *b, tws_decode_error *e) {
    return decode_opts(json, strlen(json), NULL, b, e);
}

static void decode_ok(const char *json, tws_batch *b) {
    tws_decode_error e;
    int rc = decode(json, b, &e);
    if (rc) print_error("unexpected refusal: %s\n", e.msg);
    assert_int_equal(rc, TW_OK);
}

static void assert_empty(const tws_batch *b) {
    assert_int_equal(b->n_spans, 0);
    assert_int_equal(b->n_scopes, 0);
    assert_int_equal(b->n_resources, 0);
    assert_null(b->spans);
    assert_null(b->arena);
}

/* The request is refused with exactly `msg`. */
static void refused_opts(const char *json, const tws_decode_options *o, const char *msg) {
    tws_batch b;
    tws_decode_error e;
    int rc = decode_opts(json, strlen(json), o, &b, &e);
    if (rc != TW_EPARSE || strcmp(e.msg, msg) != 0)
        print_error("input:    %s\nexpected: %s\ngot:      %s (%d)\n", json, msg, e.msg, rc);
    assert_int_equal(rc, TW_EPARSE);
    assert_string_equal(e.msg, msg);
    assert_empty(&b);
    tws_batch_free(&b);
}

static void refused(const char *json, const char *msg) { refused_opts(json, NULL, msg); }

static bool str_is(tw_str s, const char *want) {
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}
#define assert_str(s, want) assert_true(str_is((s), (want)))

static void assert_hex(const uint8_t *p, size_t n, const char *hex) {
    char got[65];
    tw__hex_encode(p, n, got);
    got[2 * n] = '\0';
    assert_string_equal(got, hex);
}

/* Attribute `key` of `a`. */
static const tws_value *attr(const tws_attrs *a, const char *key) {
    for (uint32_t i = 0; i < a->n; i++)
        if (str_is(a->items[i].key, key)) return &a->items[i].val;
    fail_msg("no attribute %s", key);
    return NULL;
}

/* JSON text of the spans of `b` (all valid ones), NUL-terminated, malloc'd. */
static char *encode_all(const tws_batch *b, tws_id_encoding ids) {
    tw__buf out;
    tw__buf_init(&out, 0);
    tw__json j;
    tw__json_init(&j, &out);
    tws_selection sel = {b, NULL, 0};
    assert_int_equal(tws_otlp_encode_json(&sel, 1, ids, &j), 0);
    char *s = malloc(out.len + 1);
    assert_non_null(s);
    memcpy(s, out.data, out.len);
    s[out.len] = '\0';
    tw__buf_free(&out);
    return s;
}

/* The encoder's array wrapped as a request, decoded into `b`. */
static void reencode(const tws_batch *a, tws_id_encoding ids, const tws_decode_options *o, tws_batch *b) {
    char *arr = encode_all(a, ids);
    size_t n = strlen(arr) + 32;
    char *req = malloc(n);
    assert_non_null(req);
    snprintf(req, n, "{\"resourceSpans\":%s}", arr);
    tws_decode_error e;
    int rc = decode_opts(req, strlen(req), o, b, &e);
    if (rc) print_error("re-decoding failed: %s\n%s\n", e.msg, req);
    assert_int_equal(rc, TW_OK);
    free(arr);
    free(req);
}

/* ---- comparison ------------------------------------------------------------------------ */


static bool same_scope(const tws_scope *a, const tws_scope *b) {
    return tws_str_equal(a->name, b->name) && tws_str_equal(a->version, b->version) &&
           tws_str_equal(a->schema_url, b->schema_url) && tws_attrs_equal(&a->attrs, &b->attrs);
}

static bool same_resource(const tws_resource *a, const tws_resource *b) {
    return tws_str_equal(a->schema_url, b->schema_url) && tws_attrs_equal(&a->attrs, &b->attrs);
}

/* Everything, indices included. */
static void assert_same_batch(const tws_batch *a, const tws_batch *b) {
    assert_int_equal(a->n_resources, b->n_resources);
    assert_int_equal(a->n_scopes, b->n_scopes);
    assert_int_equal(a->n_spans, b->n_spans);
    assert_int_equal(a->n_rejected, b->n_rejected);
    assert_int_equal(a->utf8_repairs, b->utf8_repairs);
    assert_int_equal(a->truncations, b->truncations);
    for (uint32_t i = 0; i < a->n_resources; i++) assert_true(same_resource(&a->resources[i], &b->resources[i]));
    for (uint32_t i = 0; i < a->n_scopes; i++) {
        assert_true(same_scope(&a->scopes[i], &b->scopes[i]));
        assert_int_equal(a->scopes[i].resource_idx, b->scopes[i].resource_idx);
    }
    for (uint32_t i = 0; i < a->n_spans; i++) {
        assert_true(tws_span_equal(&a->spans[i], &b->spans[i]));
        assert_int_equal(a->spans[i].scope_idx, b->spans[i].scope_idx);
    }
}

/* The valid spans of `a` in order are the spans of `b`, each under a scope
 * and resource of the same content. */
static void assert_same_spans(const tws_batch *a, const tws_batch *b) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < a->n_spans; i++) {
        const tws_span *x = &a->spans[i];
        if (x->reject) continue;
        assert_true(k < b->n_spans);
        const tws_span *y = &b->spans[k++];
        assert_true(tws_span_equal(x, y));
        const tws_scope *xs = &a->scopes[x->scope_idx], *ys = &b->scopes[y->scope_idx];
        assert_true(same_scope(xs, ys));
        assert_true(same_resource(&a->resources[xs->resource_idx], &b->resources[ys->resource_idx]));
    }
    assert_int_equal(k, b->n_spans);
    assert_int_equal(b->n_rejected, 0);
}

/* ---- documents ------------------------------------------------------------------------- */

/* Shaped like the OTLP specification's example trace (examples/trace.json),
 * with values of our own. */
static const char example[] =
    "{\n"
    "  'resourceSpans': [\n"
    "    {\n"
    "      'resource': {\n"
    "        'attributes': [\n"
    "          { 'key': 'service.name', 'value': { 'stringValue': 'checkout' } }\n"
    "        ]\n"
    "      },\n"
    "      'scopeSpans': [\n"
    "        {\n"
    "          'scope': {\n"
    "            'name': 'shop.payments', 'version': '2.1.0',\n"
    "            'attributes': [ { 'key': 'lib.flavour', 'value': { 'stringValue': 'plain' } } ]\n"
    "          },\n"
    "          'spans': [\n"
    "            {\n"
    "              'traceId': '0af7651916cd43dd8448eb211c80319c',\n"
    "              'spanId': 'b7ad6b7169203331',\n"
    "              'parentSpanId': '00f067aa0ba902b7',\n"
    "              'name': 'charge card',\n"
    "              'startTimeUnixNano': '1700000000000000000',\n"
    "              'endTimeUnixNano': '1700000000250000000',\n"
    "              'kind': 3,\n"
    "              'attributes': [\n"
    "                { 'key': 'card.brand', 'value': { 'stringValue': 'visa' } },\n"
    "                { 'key': 'retry', 'value': { 'boolValue': true } },\n"
    "                { 'key': 'attempts', 'value': { 'intValue': '2' } },\n"
    "                { 'key': 'amount', 'value': { 'doubleValue': 12.5 } },\n"
    "                { 'key': 'tags', 'value': { 'arrayValue': { 'values': [ { 'stringValue': 'a' }, { 'intValue': 7 } ] } } },\n"
    "                { 'key': 'ctx', 'value': { 'kvlistValue': { 'values': [ { 'key': 'k', 'value': { 'stringValue': 'v' } } ] } } }\n"
    "              ]\n"
    "            }\n"
    "          ]\n"
    "        }\n"
    "      ]\n"
    "    }\n"
    "  ]\n"
    "}\n";

/* Every member of every message, lowerCamelCase; two resources. */
static const char every_field[] =
    "{'resourceSpans':[{"
    "'resource':{'attributes':[{'key':'service.name','value':{'stringValue':'api'}}],'droppedAttributesCount':3},"
    "'schemaUrl':'https://opentelemetry.io/schemas/1.21.0',"
    "'scopeSpans':[{"
    "'scope':{'name':'lib','version':'1.0','attributes':[{'key':'s','value':{'intValue':'-5'}}],"
    "'droppedAttributesCount':1},"
    "'schemaUrl':'https://example.com/scope',"
    "'spans':[{"
    "'traceId':'" TID "','spanId':'" SID "','traceState':'rojo=00f067aa0ba902b7','parentSpanId':'" PID "',"
    "'flags':769,'name':'GET /users','kind':2,"
    "'startTimeUnixNano':'1544712660000000000','endTimeUnixNano':'1544712661000000000',"
    "'attributes':[{'key':'http.method','value':{'stringValue':'GET'}},"
    "{'key':'bytes','value':{'bytesValue':'AAEC/w=='}},{'key':'nan','value':{'doubleValue':'NaN'}},"
    "{'key':'inf','value':{'doubleValue':'-Infinity'}},{'key':'empty','value':{}},"
    "{'key':'nested','value':{'kvlistValue':{'values':[{'key':'a','value':{'arrayValue':{'values':"
    "[{'boolValue':false},{'doubleValue':-0.0},{'kvlistValue':{}}]}}}]}}}],"
    "'droppedAttributesCount':4,"
    "'events':[{'timeUnixNano':'1544712660300000000','name':'cache miss',"
    "'attributes':[{'key':'key','value':{'stringValue':'u:1'}}],'droppedAttributesCount':2},{}],"
    "'droppedEventsCount':5,"
    "'links':[{'traceId':'0af7651916cd43dd8448eb211c80319c','spanId':'b7ad6b7169203331',"
    "'traceState':'congo=t61rcWkgMzE','attributes':[{'key':'why','value':{'stringValue':'batch'}}],"
    "'droppedAttributesCount':6,'flags':1}],"
    "'droppedLinksCount':7,"
    "'status':{'message':'not found','code':2}"
    "},{'traceId':'" TID "','spanId':'0000000000000abc','name':'child'}]"
    "}]},"
    "{'resource':{},'scopeSpans':[{'scope':{'name':'other'},'spans':[{'traceId':'" TID "',"
    "'spanId':'0000000000000def','kind':5}]}]}"
    "]}";

/* The same request, snake_case. */
static const char every_field_snake[] =
    "{'resource_spans':[{"
    "'resource':{'attributes':[{'key':'service.name','value':{'string_value':'api'}}],'dropped_attributes_count':3},"
    "'schema_url':'https://opentelemetry.io/schemas/1.21.0',"
    "'scope_spans':[{"
    "'scope':{'name':'lib','version':'1.0','attributes':[{'key':'s','value':{'int_value':'-5'}}],"
    "'dropped_attributes_count':1},"
    "'schema_url':'https://example.com/scope',"
    "'spans':[{"
    "'trace_id':'" TID "','span_id':'" SID "','trace_state':'rojo=00f067aa0ba902b7','parent_span_id':'" PID "',"
    "'flags':769,'name':'GET /users','kind':2,"
    "'start_time_unix_nano':'1544712660000000000','end_time_unix_nano':'1544712661000000000',"
    "'attributes':[{'key':'http.method','value':{'string_value':'GET'}},"
    "{'key':'bytes','value':{'bytes_value':'AAEC/w=='}},{'key':'nan','value':{'double_value':'NaN'}},"
    "{'key':'inf','value':{'double_value':'-Infinity'}},{'key':'empty','value':{}},"
    "{'key':'nested','value':{'kvlist_value':{'values':[{'key':'a','value':{'array_value':{'values':"
    "[{'bool_value':false},{'double_value':-0.0},{'kvlist_value':{}}]}}}]}}}],"
    "'dropped_attributes_count':4,"
    "'events':[{'time_unix_nano':'1544712660300000000','name':'cache miss',"
    "'attributes':[{'key':'key','value':{'string_value':'u:1'}}],'dropped_attributes_count':2},{}],"
    "'dropped_events_count':5,"
    "'links':[{'trace_id':'0af7651916cd43dd8448eb211c80319c','span_id':'b7ad6b7169203331',"
    "'trace_state':'congo=t61rcWkgMzE','attributes':[{'key':'why','value':{'string_value':'batch'}}],"
    "'dropped_attributes_count':6,'flags':1}],"
    "'dropped_links_count':7,"
    "'status':{'message':'not found','code':2}"
    "},{'trace_id':'" TID "','span_id':'0000000000000abc','name':'child'}]"
    "}]},"
    "{'resource':{},'scope_spans':[{'scope':{'name':'other'},'spans':[{'trace_id':'" TID "',"
    "'span_id':'0000000000000def','kind':5}]}]}"
    "]}";

/* ---- decoding --------------------------------------------------------------------------- */

static void test_example(void **state) {
    tws_batch b;
    decode_ok(J(example), &b);
    assert_int_equal(b.n_resources, 1);
    assert_int_equal(b.n_scopes, 1);
    assert_int_equal(b.n_spans, 1);
    assert_int_equal(b.n_rejected, 0);
    assert_int_equal(b.utf8_repairs, 0);
    assert_int_equal(b.truncations, 0);
    assert_int_equal(b.resources[0].attrs.n, 1);
    assert_str(attr(&b.resources[0].attrs, "service.name")->u.s, "checkout");
    const tws_scope *sc = &b.scopes[0];
    assert_str(sc->name, "shop.payments");
    assert_str(sc->version, "2.1.0");
    assert_int_equal(sc->resource_idx, 0);
    assert_str(attr(&sc->attrs, "lib.flavour")->u.s, "plain");
    const tws_span *s = &b.spans[0];
    assert_hex(s->trace_id, 16, "0af7651916cd43dd8448eb211c80319c");
    assert_hex(s->span_id, 8, "b7ad6b7169203331");
    assert_true(s->has_parent);
    assert_hex(s->parent_span_id, 8, "00f067aa0ba902b7");
    assert_str(s->name, "charge card");
    assert_int_equal(s->start_ns, 1700000000000000000ull);
    assert_int_equal(s->end_ns, 1700000000250000000ull);
    assert_int_equal(s->kind, 3);
    assert_int_equal(s->reject, 0);
    assert_int_equal(s->attrs.n, 6);
    const tws_value *v = attr(&s->attrs, "card.brand");
    assert_int_equal(v->type, TWS_STRING);
    assert_str(v->u.s, "visa");
    v = attr(&s->attrs, "retry");
    assert_int_equal(v->type, TWS_BOOL);
    assert_true(v->u.b);
    v = attr(&s->attrs, "attempts");
    assert_int_equal(v->type, TWS_INT);
    assert_int_equal(v->u.i, 2);
    v = attr(&s->attrs, "amount");
    assert_int_equal(v->type, TWS_DOUBLE);
    assert_true(v->u.d == 12.5);
    v = attr(&s->attrs, "tags");
    assert_int_equal(v->type, TWS_ARRAY);
    assert_int_equal(v->n, 2);
    assert_str(v->u.arr[0].u.s, "a");
    assert_int_equal(v->u.arr[1].type, TWS_INT);
    assert_int_equal(v->u.arr[1].u.i, 7);
    v = attr(&s->attrs, "ctx");
    assert_int_equal(v->type, TWS_KVLIST);
    assert_int_equal(v->n, 1);
    assert_str(v->u.kv[0].key, "k");
    assert_str(v->u.kv[0].val.u.s, "v");
    tws_batch_free(&b);
}

static void test_every_field(void **state) {
    tws_batch b;
    tws_decode_error e;
    assert_int_equal(decode(J(every_field), &b, &e), TW_OK);
    assert_string_equal(e.msg, "");
    assert_int_equal(b.n_resources, 2);
    assert_int_equal(b.n_scopes, 2);
    assert_int_equal(b.n_spans, 3);
    const tws_resource *r = &b.resources[0];
    assert_str(r->schema_url, "https://opentelemetry.io/schemas/1.21.0");
    assert_int_equal(r->attrs.dropped, 3);
    assert_str(attr(&r->attrs, "service.name")->u.s, "api");
    assert_int_equal(b.resources[1].attrs.n, 0);
    assert_int_equal(b.resources[1].schema_url.len, 0);
    const tws_scope *sc = &b.scopes[0];
    assert_str(sc->name, "lib");
    assert_str(sc->version, "1.0");
    assert_str(sc->schema_url, "https://example.com/scope");
    assert_int_equal(sc->attrs.dropped, 1);
    assert_int_equal(attr(&sc->attrs, "s")->u.i, -5);
    assert_int_equal(b.scopes[1].resource_idx, 1);
    assert_str(b.scopes[1].name, "other");

    const tws_span *s = &b.spans[0];
    assert_hex(s->trace_id, 16, TID);
    assert_hex(s->span_id, 8, SID);
    assert_hex(s->parent_span_id, 8, PID);
    assert_true(s->has_parent);
    assert_str(s->trace_state, "rojo=00f067aa0ba902b7");
    assert_int_equal(s->flags, 769);
    assert_str(s->name, "GET /users");
    assert_int_equal(s->kind, 2);
    assert_int_equal(s->start_ns, 1544712660000000000ull);
    assert_int_equal(s->end_ns, 1544712661000000000ull);
    assert_int_equal(s->attrs.n, 6);
    assert_int_equal(s->attrs.dropped, 4);
    const tws_value *v = attr(&s->attrs, "bytes");
    assert_int_equal(v->type, TWS_BYTES);
    assert_int_equal(v->u.s.len, 4);
    assert_memory_equal(v->u.s.ptr, "\x00\x01\x02\xff", 4);
    assert_true(isnan(attr(&s->attrs, "nan")->u.d));
    assert_true(attr(&s->attrs, "inf")->u.d == -INFINITY);
    assert_int_equal(attr(&s->attrs, "empty")->type, TWS_EMPTY);
    v = attr(&s->attrs, "nested");
    assert_int_equal(v->type, TWS_KVLIST);
    v = &v->u.kv[0].val;
    assert_int_equal(v->type, TWS_ARRAY);
    assert_int_equal(v->n, 3);
    assert_int_equal(v->u.arr[0].type, TWS_BOOL);
    assert_false(v->u.arr[0].u.b);
    assert_true(v->u.arr[1].u.d == 0 && signbit(v->u.arr[1].u.d));
    assert_int_equal(v->u.arr[2].type, TWS_KVLIST);
    assert_int_equal(v->u.arr[2].n, 0);

    assert_int_equal(s->n_events, 2);
    assert_int_equal(s->dropped_events, 5);
    assert_int_equal(s->events[0].time_ns, 1544712660300000000ull);
    assert_str(s->events[0].name, "cache miss");
    assert_int_equal(s->events[0].attrs.dropped, 2);
    assert_str(attr(&s->events[0].attrs, "key")->u.s, "u:1");
    assert_int_equal(s->events[1].time_ns, 0);
    assert_int_equal(s->events[1].name.len, 0);
    assert_int_equal(s->n_links, 1);
    assert_int_equal(s->dropped_links, 7);
    const tws_link *l = &s->links[0];
    assert_hex(l->trace_id, 16, "0af7651916cd43dd8448eb211c80319c");
    assert_hex(l->span_id, 8, "b7ad6b7169203331");
    assert_str(l->trace_state, "congo=t61rcWkgMzE");
    assert_int_equal(l->flags, 1);
    assert_int_equal(l->attrs.dropped, 6);
    assert_str(attr(&l->attrs, "why")->u.s, "batch");
    assert_int_equal(s->status_code, 2);
    assert_str(s->status_message, "not found");

    s = &b.spans[1];
    assert_false(s->has_parent);
    assert_str(s->name, "child");
    assert_int_equal(s->scope_idx, 0);
    assert_int_equal(s->n_events + s->n_links + s->attrs.n + s->kind + s->status_code + s->flags, 0);
    assert_int_equal(b.spans[2].scope_idx, 1);
    assert_int_equal(b.spans[2].kind, 5);
    tws_batch_free(&b);
}

static void test_snake_case(void **state) {
    tws_batch a, b;
    decode_ok(J(every_field), &a);
    decode_ok(J(every_field_snake), &b);
    assert_same_batch(&a, &b);
    tws_batch_free(&b);
    /* both spellings in one request, and a member name written with escapes */
    decode_ok(one_span("'start_time_unix_nano':5,'endTimeUnixNano':6,'\\u006eame':'n'", false), &b);
    assert_int_equal(b.spans[0].start_ns, 5);
    assert_int_equal(b.spans[0].end_ns, 6);
    assert_str(b.spans[0].name, "n");
    tws_batch_free(&b);
    tws_batch_free(&a);
}

static void test_any_values(void **state) {
    tws_batch b;
    decode_ok(one_span("'attributes':["
                       "{'key':'i1','value':{'intValue':'-9223372036854775808'}},"
                       "{'key':'i2','value':{'intValue':9223372036854775807}},"
                       "{'key':'i3','value':{'intValue':'1e3'}},"
                       "{'key':'i4','value':{'intValue':2.0}},"
                       "{'key':'i5','value':{'intValue':'-0'}},"
                       "{'key':'d1','value':{'doubleValue':'Infinity'}},"
                       "{'key':'d2','value':{'doubleValue':'2.25'}},"
                       "{'key':'d3','value':{'doubleValue':1e300}},"
                       "{'key':'d4','value':{'doubleValue':7}},"
                       "{'key':'b1','value':{'bytesValue':'AAEC_w'}},"
                       "{'key':'b3','value':{'bytesValue':'-_-_'}},"
                       "{'key':'z','value':{'\\u0078xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx':1}},"
                       "{'key':'b2','value':{'bytesValue':''}},"
                       "{'key':'s0','value':{'stringValue':''}},"
                       "{'key':'nv'},"
                       "{'value':{'stringValue':'no key'}},"
                       "{'key':'ea','value':{'arrayValue':{}}},"
                       "{'key':'en','value':{'arrayValue':{'values':null}}},"
                       "{'key':'n1','value':{'stringValue':null,'intValue':3}},"
                       "{'key':'aa','value':{'arrayValue':{'values':[{'arrayValue':{'values':[{}]}},{'bytesValue':'AA=='}]}}}"
                       "]",
                       false),
              &b);
    const tws_attrs *a = &b.spans[0].attrs;
    assert_int_equal(a->n, 20);
    assert_memory_equal(attr(a, "b3")->u.s.ptr, "\xfb\xff\xbf", 3);
    assert_int_equal(attr(a, "i1")->u.i, INT64_MIN);
    assert_int_equal(attr(a, "i2")->u.i, INT64_MAX);
    assert_int_equal(attr(a, "i3")->u.i, 1000);
    assert_int_equal(attr(a, "i4")->u.i, 2);
    assert_int_equal(attr(a, "i5")->u.i, 0);
    assert_true(attr(a, "d1")->u.d == INFINITY);
    assert_true(attr(a, "d2")->u.d == 2.25);
    assert_true(attr(a, "d3")->u.d == 1e300);
    assert_int_equal(attr(a, "d4")->type, TWS_DOUBLE);
    assert_true(attr(a, "d4")->u.d == 7);
    const tws_value *v = attr(a, "b1");
    assert_int_equal(v->type, TWS_BYTES);
    assert_int_equal(v->u.s.len, 4);
    assert_memory_equal(v->u.s.ptr, "\x00\x01\x02\xff", 4);
    assert_int_equal(attr(a, "b2")->type, TWS_BYTES);
    assert_int_equal(attr(a, "b2")->u.s.len, 0);
    assert_int_equal(attr(a, "s0")->type, TWS_STRING);
    assert_int_equal(attr(a, "s0")->u.s.len, 0);
    assert_int_equal(attr(a, "nv")->type, TWS_EMPTY);
    assert_str(attr(a, "")->u.s, "no key");
    assert_int_equal(attr(a, "ea")->type, TWS_ARRAY);
    assert_int_equal(attr(a, "ea")->n, 0);
    assert_int_equal(attr(a, "en")->type, TWS_ARRAY);
    assert_int_equal(attr(a, "n1")->type, TWS_INT);
    v = attr(a, "aa");
    assert_int_equal(v->n, 2);
    assert_int_equal(v->u.arr[0].type, TWS_ARRAY);
    assert_int_equal(v->u.arr[0].u.arr[0].type, TWS_EMPTY);
    assert_int_equal(v->u.arr[1].u.s.len, 1);
    tws_batch_free(&b);
}

static void test_ids(void **state) {
    static const struct {
        const char *trace, *span;
    } ok[] = {
        {"'" TID "'", "'" SID "'"},
        {"'5B8EFFF798038103D269B633813FC60C'", "'EEE19B7EC3C1B173'"},
        {"'" TID_B64 "'", "'" SID_B64 "'"},
        {"'W47_95gDgQPSabYzgT_GDA'", "'7uGbfsPBsXM'"}, /* URL-safe, unpadded */
        {"'\\u0035b8efff798038103d269b633813fc60c'", "'" SID "'"},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(ok); i++) {
        char m[256];
        snprintf(m, sizeof m, "'traceId':%s,'spanId':%s,'parentSpanId':'APBnqgupArc='", ok[i].trace, ok[i].span);
        tws_batch b;
        decode_ok(one_span(m, true), &b);
        assert_int_equal(b.spans[0].reject, 0);
        assert_hex(b.spans[0].trace_id, 16, TID);
        assert_hex(b.spans[0].span_id, 8, SID);
        assert_true(b.spans[0].has_parent);
        assert_hex(b.spans[0].parent_span_id, 8, PID);
        tws_batch_free(&b);
    }

    static const struct {
        const char *members;
        uint8_t reject;
        const char *msg;
    } bad[] = {
        {"'spanId':'" SID "'", TWS_REJECT_TRACE_ID, SPAN_PATH ".traceId: missing"},
        {"'traceId':'','spanId':'" SID "'", TWS_REJECT_TRACE_ID, SPAN_PATH ".traceId: empty"},
        {"'traceId':'5b8efff798038103d269b633813fc60','spanId':'" SID "'", TWS_REJECT_TRACE_ID,
         SPAN_PATH ".traceId: expected 16 bytes (32 hex or 24 base64 characters), got 31 characters"},
        {"'traceId':'5b8efff798038103d269b633813fc60g','spanId':'" SID "'", TWS_REJECT_TRACE_ID,
         SPAN_PATH ".traceId: not hex"},
        {"'traceId':'W47/95gDgQPSabYzgT*GDA==','spanId':'" SID "'", TWS_REJECT_TRACE_ID,
         SPAN_PATH ".traceId: not base64"},
        {"'traceId':'000000000000000000000001','spanId':'" SID "'", TWS_REJECT_TRACE_ID,
         SPAN_PATH ".traceId: expected 16 bytes, the base64 holds 18"},
        {"'traceId':'00000000000000000000000000000000','spanId':'" SID "'", TWS_REJECT_TRACE_ID,
         SPAN_PATH ".traceId: all zero"},
        {"'traceId':'AAAAAAAAAAAAAAAAAAAAAA==','spanId':'" SID "'", TWS_REJECT_TRACE_ID,
         SPAN_PATH ".traceId: all zero"},
        {"'traceId':'" TID "'", TWS_REJECT_SPAN_ID, SPAN_PATH ".spanId: missing"},
        {"'traceId':'" TID "','spanId':'eee19b7ec3c1b17'", TWS_REJECT_SPAN_ID,
         SPAN_PATH ".spanId: expected 8 bytes (16 hex or 12 base64 characters), got 15 characters"},
        {"'traceId':'" TID "','spanId':'" TID "'", TWS_REJECT_SPAN_ID,
         SPAN_PATH ".spanId: expected 8 bytes (16 hex or 12 base64 characters), got 32 characters"},
        {"'traceId':'" TID "','spanId':'0000000000000000'", TWS_REJECT_SPAN_ID, SPAN_PATH ".spanId: all zero"},
        {"'traceId':'" TID "','spanId':'" SID "','parentSpanId':'abc'", TWS_REJECT_PARENT_ID,
         SPAN_PATH ".parentSpanId: expected 8 bytes (16 hex or 12 base64 characters), got 3 characters"},
        {"'traceId':'" TID "','spanId':'" SID "','parentSpanId':'zzzzzzzzzzzzzzzz'", TWS_REJECT_PARENT_ID,
         SPAN_PATH ".parentSpanId: not hex"},
        /* the trace id's reason comes first, wherever it is written */
        {"'spanId':'','traceId':'0'", TWS_REJECT_TRACE_ID,
         SPAN_PATH ".traceId: expected 16 bytes (32 hex or 24 base64 characters), got 1 characters"},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(bad); i++) {
        tws_batch b;
        tws_decode_error e;
        assert_int_equal(decode(one_span(bad[i].members, true), &b, &e), TW_OK);
        assert_int_equal(b.n_spans, 1);
        assert_int_equal(b.n_rejected, 1);
        assert_int_equal(b.spans[0].reject, bad[i].reject);
        assert_string_equal(e.msg, bad[i].msg);
        tws_batch_free(&b);
    }

    /* no parent: absent, empty, null, all zero (as Grafana writes roots) */
    static const char *const roots[] = {"", ",'parentSpanId':''", ",'parentSpanId':null",
                                        ",'parentSpanId':'0000000000000000'", ",'parentSpanId':'AAAAAAAAAAA='"};
    for (size_t i = 0; i < TW_ARRAY_LEN(roots); i++) {
        char m[128];
        snprintf(m, sizeof m, "'name':'root'%s", roots[i]);
        tws_batch b;
        decode_ok(one_span(m, false), &b);
        assert_int_equal(b.spans[0].reject, 0);
        assert_false(b.spans[0].has_parent);
        tws_batch_free(&b);
    }

    /* several rejected spans: all counted, the first one's reason kept */
    tws_batch b;
    tws_decode_error e;
    assert_int_equal(decode(J("{'resourceSpans':[{'scopeSpans':[{'spans':[{'traceId':'" TID "','spanId':'" SID
                              "'},{'spanId':'" SID "'},{'traceId':'" TID "'}]}]}]}"),
                            &b, &e),
                     TW_OK);
    assert_int_equal(b.n_spans, 3);
    assert_int_equal(b.n_rejected, 2);
    assert_int_equal(b.spans[0].reject, 0);
    assert_int_equal(b.spans[1].reject, TWS_REJECT_TRACE_ID);
    assert_int_equal(b.spans[2].reject, TWS_REJECT_SPAN_ID);
    assert_string_equal(e.msg, "resourceSpans[0].scopeSpans[0].spans[1].traceId: missing");
    tws_batch_free(&b);

    /* links keep unusable ids as zeros (as the protobuf decoder does); the span is fine */
    decode_ok(one_span("'droppedLinksCount':2,'links':[{'traceId':'" TID "','spanId':'" SID "'},"
                       "{'traceId':'" TID "'},{'traceId':'00','spanId':'" SID "'},"
                       "{'traceId':'" TID_B64 "','spanId':'" SID_B64 "','flags':'3'}]",
                       false),
              &b);
    assert_int_equal(b.n_rejected, 0);
    const tws_span *s = &b.spans[0];
    assert_int_equal(s->n_links, 4);
    assert_int_equal(s->dropped_links, 2);
    assert_hex(s->links[0].span_id, 8, SID);
    assert_hex(s->links[1].trace_id, 16, TID);
    assert_hex(s->links[1].span_id, 8, "0000000000000000");
    assert_hex(s->links[2].trace_id, 16, "00000000000000000000000000000000");
    assert_hex(s->links[2].span_id, 8, SID);
    assert_hex(s->links[3].trace_id, 16, TID);
    assert_int_equal(s->links[3].flags, 3);
    tws_batch_free(&b);
}

static void test_enums(void **state) {
    static const struct {
        const char *members;
        uint8_t kind, code;
    } ok[] = {
        {"'kind':'SPAN_KIND_UNSPECIFIED'", 0, 0},
        {"'kind':'SPAN_KIND_INTERNAL'", 1, 0},
        {"'kind':'SPAN_KIND_SERVER','status':{'code':'STATUS_CODE_OK'}", 2, 1},
        {"'kind':'SPAN_KIND_CLIENT','status':{'code':'STATUS_CODE_ERROR'}", 3, 2},
        {"'kind':'SPAN_KIND_PRODUCER','status':{'code':'STATUS_CODE_UNSET'}", 4, 0},
        {"'kind':'SPAN_KIND_CONSUMER','status':{'code':2}", 5, 2},
        {"'kind':9,'status':{'code':7}", 0, 0}, /* unknown numbers: unspecified / unset */
        {"'kind':-1,'status':{'code':-2147483648}", 0, 0},
        {"'kind':2.0,'status':{'code':1e0}", 2, 1},
        {"'kind':null,'status':null", 0, 0},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(ok); i++) {
        tws_batch b;
        decode_ok(one_span(ok[i].members, false), &b);
        assert_int_equal(b.spans[0].kind, ok[i].kind);
        assert_int_equal(b.spans[0].status_code, ok[i].code);
        tws_batch_free(&b);
    }
    refused(one_span("'kind':'SPAN_KIND_BOGUS'", false), SPAN_PATH ".kind: unknown SpanKind \"SPAN_KIND_BOGUS\"");
    refused(one_span("'kind':'span_kind_server'", false),
            SPAN_PATH ".kind: unknown SpanKind \"span_kind_server\"");
    refused(one_span("'kind':'2'", false), SPAN_PATH ".kind: unknown SpanKind \"2\"");
    refused(one_span("'status':{'code':'ERROR\\n\\u00e9'}", false),
            SPAN_PATH ".status.code: unknown StatusCode \"ERROR???\"");
    refused(one_span("'kind':'SPAN_KIND_SERVER_SPAN_KIND_SERVER_SPAN_KIND_SERVER'", false),
            SPAN_PATH ".kind: unknown SpanKind \"SPAN_KIND_SERVER_SPAN_KIND_SERVER_SPAN_K...\"");
    refused(one_span("'kind':2147483648", false), SPAN_PATH ".kind: out of range for an enum");
    refused(one_span("'kind':1.5", false), SPAN_PATH ".kind: expected an enum integer or name");
    refused(one_span("'kind':true", false), SPAN_PATH ".kind: expected an enum integer or name");
    refused(one_span("'status':{'code':[]}", false), SPAN_PATH ".status.code: expected an enum integer or name");
}

static void test_integers(void **state) {
    static const struct {
        const char *v;
        uint64_t want;
    } ok[] = {
        {"1700000000000000000", 1700000000000000000ull},
        {"'1700000000000000000'", 1700000000000000000ull},
        {"1.7e18", 1700000000000000000ull},
        {"'17E17'", 1700000000000000000ull},
        {"1700000000000000000.000", 1700000000000000000ull},
        {"'18446744073709551615'", UINT64_MAX},
        {"0", 0},
        {"'-0'", 0},
        {"0e99999999999", 0},
        {"'\\u0031\\u0032'", 12},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(ok); i++) {
        char m[128];
        snprintf(m, sizeof m, "'startTimeUnixNano':%s", ok[i].v);
        tws_batch b;
        decode_ok(one_span(m, false), &b);
        assert_int_equal(b.spans[0].start_ns, ok[i].want);
        tws_batch_free(&b);
    }
    static const struct {
        const char *members, *msg;
    } bad[] = {
        {"'startTimeUnixNano':'18446744073709551616'", ".startTimeUnixNano: out of range for uint64"},
        {"'startTimeUnixNano':1e20", ".startTimeUnixNano: out of range for uint64"},
        {"'startTimeUnixNano':-1", ".startTimeUnixNano: out of range for uint64"},
        {"'startTimeUnixNano':'1.5'", ".startTimeUnixNano: expected an integer or a decimal string"},
        {"'startTimeUnixNano':1.5e-1", ".startTimeUnixNano: expected an integer or a decimal string"},
        {"'startTimeUnixNano':''", ".startTimeUnixNano: expected an integer or a decimal string"},
        {"'startTimeUnixNano':' 1'", ".startTimeUnixNano: expected an integer or a decimal string"},
        {"'startTimeUnixNano':'0x10'", ".startTimeUnixNano: expected an integer or a decimal string"},
        {"'startTimeUnixNano':'+1'", ".startTimeUnixNano: expected an integer or a decimal string"},
        {"'startTimeUnixNano':'01'", ".startTimeUnixNano: expected an integer or a decimal string"},
        {"'endTimeUnixNano':{}", ".endTimeUnixNano: expected an integer or a decimal string"},
        {"'droppedAttributesCount':4294967296", ".droppedAttributesCount: out of range for uint32"},
        {"'droppedEventsCount':'-1'", ".droppedEventsCount: out of range for uint32"},
        {"'flags':true", ".flags: expected an integer or a decimal string"},
        {"'attributes':[{'key':'k','value':{'intValue':'9223372036854775808'}}]",
         ".attributes[0].value.intValue: out of range for int64"},
        {"'attributes':[{'key':'k','value':{'intValue':-9223372036854775809}}]",
         ".attributes[0].value.intValue: out of range for int64"},
        {"'attributes':[{'key':'k','value':{'intValue':'99999999999999999999999'}}]",
         ".attributes[0].value.intValue: out of range for int64"},
        {"'attributes':[{'key':'k','value':{'doubleValue':'abc'}}]",
         ".attributes[0].value.doubleValue: expected a number or \"NaN\", \"Infinity\", \"-Infinity\""},
        {"'attributes':[{'key':'k','value':{'doubleValue':''}}]",
         ".attributes[0].value.doubleValue: expected a number or \"NaN\", \"Infinity\", \"-Infinity\""},
        {"'attributes':[{'key':'k','value':{'doubleValue':'\\\"NaN\\\"'}}]",
         ".attributes[0].value.doubleValue: expected a number or \"NaN\", \"Infinity\", \"-Infinity\""},
        {"'attributes':[{'key':'k','value':{'doubleValue':'nan'}}]",
         ".attributes[0].value.doubleValue: expected a number or \"NaN\", \"Infinity\", \"-Infinity\""},
        {"'attributes':[{'key':'k','value':{'doubleValue':false}}]",
         ".attributes[0].value.doubleValue: expected a number or \"NaN\", \"Infinity\", \"-Infinity\""},
        {"'attributes':[{'key':'k','value':{'doubleValue':"
         "1.00000000000000000000000000000000000000000000000000000000000000001}}]",
         ".attributes[0].value.doubleValue: number longer than 63 characters"},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(bad); i++) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s%s", SPAN_PATH, bad[i].msg);
        refused(one_span(bad[i].members, false), msg);
    }
}

static void test_wrong_types(void **state) {
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"[]", "top level: expected an object"},
        {"'x'", "top level: expected an object"},
        {"{'resourceSpans':{}}", "resourceSpans: expected an array"},
        {"{'resourceSpans':[5]}", "resourceSpans[0]: expected an object"},
        {"{'resourceSpans':[{},null]}", "resourceSpans[1]: expected an object"},
        {"{'batches':[{'resource':[]}]}", "batches[0].resource: expected an object"},
        {"{'resourceSpans':[{'resource':{'attributes':{}}}]}", "resourceSpans[0].resource.attributes: expected an array"},
        {"{'resourceSpans':[{'resource':{'droppedAttributesCount':'x'}}]}",
         "resourceSpans[0].resource.droppedAttributesCount: expected an integer or a decimal string"},
        {"{'resourceSpans':[{'schemaUrl':1}]}", "resourceSpans[0].schemaUrl: expected a string"},
        {"{'resourceSpans':[{'scopeSpans':'x'}]}", "resourceSpans[0].scopeSpans: expected an array"},
        {"{'resourceSpans':[{'instrumentation_library_spans':[1]}]}",
         "resourceSpans[0].instrumentation_library_spans[0]: expected an object"},
        {"{'resourceSpans':[{'scopeSpans':[{'scope':1}]}]}", "resourceSpans[0].scopeSpans[0].scope: expected an object"},
        {"{'resourceSpans':[{'scopeSpans':[{'instrumentationLibrary':[]}]}]}",
         "resourceSpans[0].scopeSpans[0].instrumentationLibrary: expected an object"},
        {"{'resourceSpans':[{'scopeSpans':[{'scope':{'version':false}}]}]}",
         "resourceSpans[0].scopeSpans[0].scope.version: expected a string"},
        {"{'resourceSpans':[{'scopeSpans':[{'schema_url':[]}]}]}",
         "resourceSpans[0].scopeSpans[0].schema_url: expected a string"},
        {"{'resourceSpans':[{'scopeSpans':[{'spans':{}}]}]}", "resourceSpans[0].scopeSpans[0].spans: expected an array"},
        {"{'resourceSpans':[{'scopeSpans':[{'spans':[{},{},[]]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[2]: expected an object"},
        {"{'resourceSpans':[{'scopeSpans':[{'spans':[{},{},{'startTimeUnixNano':true}]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[2].startTimeUnixNano: expected an integer or a decimal string"},
        {"{'resourceSpans':[{'scopeSpans':[{'spans':[{'start_time_unix_nano':[1]}]}]}]}",
         SPAN_PATH ".start_time_unix_nano: expected an integer or a decimal string"},
        {"{'trace':{'resourceSpans':[{'scopeSpans':[{'spans':[{'name':5}]}]}]}}",
         "trace." SPAN_PATH ".name: expected a string"},
        {"{'trace':[]}", "trace: expected an object"},
        {"{'resourceSpans':[{'scopeSpans':[{'spans':[{'traceId':5}]}]}]}", SPAN_PATH ".traceId: expected a hex or base64 string"},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(cases); i++) refused(J(cases[i].json), cases[i].msg);

    static const struct {
        const char *members, *msg;
    } span[] = {
        {"'links':[{'traceId':5}]", ".links[0].traceId: expected a hex or base64 string"},
        {"'parentSpanId':{}", ".parentSpanId: expected a hex or base64 string"},
        {"'traceState':1", ".traceState: expected a string"},
        {"'attributes':{}", ".attributes: expected an array"},
        {"'attributes':['x']", ".attributes[0]: expected an object"},
        {"'attributes':[{'key':5}]", ".attributes[0].key: expected a string"},
        {"'attributes':[{'key':'k','value':[]}]", ".attributes[0].value: expected an object"},
        {"'attributes':[{'key':'k','value':{'boolValue':'true'}}]", ".attributes[0].value.boolValue: expected true or false"},
        {"'attributes':[{'key':'k','value':{'stringValue':5}}]", ".attributes[0].value.stringValue: expected a string"},
        {"'attributes':[{'key':'k','value':{'arrayValue':[]}}]", ".attributes[0].value.arrayValue: expected an object"},
        {"'attributes':[{'key':'k','value':{'arrayValue':{'values':{}}}}]",
         ".attributes[0].value.arrayValue.values: expected an array"},
        {"'attributes':[{'key':'k','value':{'arrayValue':{'values':[{},1]}}}]",
         ".attributes[0].value.arrayValue.values[1]: expected an object"},
        {"'attributes':[{'key':'k','value':{'kvlistValue':{'values':[5]}}}]",
         ".attributes[0].value.kvlistValue.values[0]: expected an object"},
        {"'attributes':[{'key':'k','value':{'kvlistValue':{'values':[{'key':'a','value':{'intValue':'x'}}]}}}]",
         ".attributes[0].value.kvlistValue.values[0].value.intValue: expected an integer or a decimal string"},
        {"'attributes':[{'key':'k','value':{'bytesValue':5}}]", ".attributes[0].value.bytesValue: expected a base64 string"},
        {"'attributes':[{'key':'k','value':{'bytesValue':'A'}}]", ".attributes[0].value.bytesValue: expected a base64 string"},
        {"'attributes':[{'key':'k','value':{'bytesValue':'AA*A'}}]",
         ".attributes[0].value.bytesValue: expected a base64 string"},
        {"'attributes':[{'key':'k','value':{'stringValue':'a','intValue':1}}]",
         ".attributes[0].value.intValue: a second member of the AnyValue oneof"},
        {"'events':{}", ".events: expected an array"},
        {"'events':[{'timeUnixNano':{}}]", ".events[0].timeUnixNano: expected an integer or a decimal string"},
        {"'events':[{'name':null},{'attributes':[{'key':1}]}]", ".events[1].attributes[0].key: expected a string"},
        {"'links':[{'flags':-1}]", ".links[0].flags: out of range for uint32"},
        {"'links':[{'spanId':[]}]", ".links[0].spanId: expected a hex or base64 string"},
        {"'status':'x'", ".status: expected an object"},
        {"'status':{'message':1}", ".status.message: expected a string"},
        {"'name':'a','name':'b'", ".name: member given twice"},
        {"'name':'a','droppedLinksCount':1,'dropped_links_count':1", ".dropped_links_count: member given twice"},
        {"'kind':null,'kind':1", ".kind: member given twice"},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(span); i++) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s%s", SPAN_PATH, span[i].msg);
        refused(one_span(span[i].members, false), msg);
    }
    refused(J("{'resourceSpans':[],'resource_spans':[]}"), "resource_spans: member given twice");
}

static void test_invalid_json(void **state) {
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"", "invalid JSON at byte 0: unexpected end of input"},
        {"  \n", "invalid JSON at byte 3: unexpected end of input"},
        {"{", "invalid JSON at byte 1: unexpected end of input"},
        {"{]", "invalid JSON at byte 1: expected a member name"},
        {"{'a' 1}", "invalid JSON at byte 5: expected ':'"},
        {"{'a':1 'b':2}", "invalid JSON at byte 7: expected ',' or '}'"},
        {"{'a':[1 2]}", "invalid JSON at byte 8: expected ',' or ']'"},
        {"{'a':tru}", "invalid JSON at byte 5: invalid literal"},
        {"{'a':nul", "invalid JSON at byte 8: unexpected end of input"},
        {"{'a':fx}", "invalid JSON at byte 5: invalid literal"},
        {"{'a':{'b' 1}}", "invalid JSON at byte 10: expected ':'"},
        {"{'a':{'b':1 'c'}}", "invalid JSON at byte 12: expected ',' or '}'"},
        {"{'a':{'b':1,", "invalid JSON at byte 12: unexpected end of input"},
        {"{'a':['\\x']}", "invalid JSON at byte 7: invalid escape"},
        {"{'a':01}", "invalid JSON at byte 6: expected ',' or '}'"},
        {"{'a':-}", "invalid JSON at byte 6: invalid number"},
        {"{'a':1.}", "invalid JSON at byte 7: invalid number"},
        {"{'a':1e+}", "invalid JSON at byte 8: invalid number"},
        {"{'a':+1}", "invalid JSON at byte 5: expected a value"},
        {"{'a':'\x01'}", "invalid JSON at byte 6: control character in a string"},
        {"{'a':'\\q'}", "invalid JSON at byte 6: invalid escape"},
        {"{'a':'\\u12G4'}", "invalid JSON at byte 6: invalid \\u escape"},
        {"{'a':'\\u12", "invalid JSON at byte 10: unexpected end of input"},
        {"{} x", "invalid JSON at byte 3: data after the top-level object"},
        {"{}{}", "invalid JSON at byte 2: data after the top-level object"},
        {"{'a':1,}", "invalid JSON at byte 7: expected a member name"},
        {"{'a':[1,]}", "invalid JSON at byte 8: expected a value"},
        {"{'a':}", "invalid JSON at byte 5: expected a value"},
        {"{'a':{1:2}}", "invalid JSON at byte 6: expected a member name"},
        {"{'a':'x", "invalid JSON at byte 7: unexpected end of input"},
        {"{'resourceSpans':tru}", "invalid JSON at byte 17: invalid literal"},
        {"{'resourceSpans':[tru]}", "invalid JSON at byte 18: invalid literal"},
        {"{'resourceSpans':", "invalid JSON at byte 17: unexpected end of input"},
        {"{'resourceSpans':[{'scopeSpans':[{'spans':[{'name':'n'}", "invalid JSON at byte 55: unexpected end of input"},
        {"{'resourceSpans':[{'scopeSpans':[{'spans':[{'traceId':'" TID "'} x",
         "invalid JSON at byte 90: expected ',' or ']'"},
        {"\xEF\xBB\xBF{'a':}", "invalid JSON at byte 8: expected a value"},
        {"\xEF\xBB{}", "invalid JSON at byte 0: expected a value"},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(cases); i++) refused(J(cases[i].json), cases[i].msg);

    /* a byte order mark is skipped */
    tws_batch b;
    decode_ok("\xEF\xBB\xBF{}", &b);
    assert_int_equal(b.n_spans, 0);
    tws_batch_free(&b);
    /* NUL inside the text */
    tws_decode_error e;
    assert_int_equal(decode_opts("{\"a\":\0}", 7, NULL, &b, &e), TW_EPARSE);
    assert_string_equal(e.msg, "invalid JSON at byte 5: expected a value");
}

static void test_utf8(void **state) {
    tws_batch b;
    decode_ok(one_span("'name':'a\xff" "b','attributes':[{'key':'k\xc0\xaf','value':{'stringValue':'\xe2\x82'}},"
                       "{'key':'lone','value':{'stringValue':'x\\ud800y'}},"
                       "{'key':'pair','value':{'stringValue':'\\ud83d\\ude00'}},"
                       "{'key':'esc','value':{'stringValue':'\\u00e9\\n\\t\\\"\\\\\\/\\b\\f\\r'}},"
                       "{'key':'nul','value':{'stringValue':'\\u0000'}},"
                       "{'key':'ok','value':{'stringValue':'h\xc3\xa9llo \xf0\x9f\x98\x80'}}]",
                       false),
              &b);
    const tws_span *s = &b.spans[0];
    assert_str(s->name, "a\xef\xbf\xbd" "b");
    const tws_kv *kv = s->attrs.items;
    assert_str(kv[0].key, "k\xef\xbf\xbd\xef\xbf\xbd");
    assert_str(kv[0].val.u.s, "\xef\xbf\xbd");
    assert_str(kv[1].val.u.s, "x\xef\xbf\xbdy");
    assert_str(kv[2].val.u.s, "\xf0\x9f\x98\x80");
    assert_str(kv[3].val.u.s, "\xc3\xa9\n\t\"\\/\b\f\r");
    assert_int_equal(kv[4].val.u.s.len, 1);
    assert_int_equal(kv[4].val.u.s.ptr[0], 0);
    assert_str(kv[5].val.u.s, "h\xc3\xa9llo \xf0\x9f\x98\x80");
    assert_int_equal(b.utf8_repairs, 4); /* name, key, value, lone surrogate */
    tws_batch_free(&b);
}

static void test_truncation(void **state) {
    tws_decode_options o = {.max_value_len = 4};
    tws_batch b;
    tws_decode_error e;
    const char *json = one_span("'name':'a long span name','attributes':["
                                "{'key':'a long key','value':{'stringValue':'abcdef'}},"
                                "{'key':'b','value':{'stringValue':'a\xc3\xa9\xc3\xa9'}},"
                                "{'key':'c','value':{'stringValue':'abcd'}},"
                                "{'key':'d','value':{'arrayValue':{'values':[{'stringValue':'\\u00e9\\u00e9\\u00e9'}]}}},"
                                "{'key':'e','value':{'stringValue':'\xff\xff'}}]",
                                false);
    assert_int_equal(decode_opts(json, strlen(json), &o, &b, &e), TW_OK);
    const tws_kv *kv = b.spans[0].attrs.items;
    assert_str(b.spans[0].name, "a long span name");
    assert_str(kv[0].key, "a long key");
    assert_str(kv[0].val.u.s, "abcd");
    assert_str(kv[1].val.u.s, "a\xc3\xa9");
    assert_str(kv[2].val.u.s, "abcd");
    assert_str(kv[3].val.u.arr[0].u.s, "\xc3\xa9\xc3\xa9");
    assert_str(kv[4].val.u.s, "\xef\xbf\xbd"); /* repaired to 6 bytes, then cut */
    assert_int_equal(b.truncations, 4);
    assert_int_equal(b.utf8_repairs, 1);
    tws_batch_free(&b);
}

/* An attribute value `depth` arrays (or kvlists) deep. */
static char *nested_value(int depth, bool kv) {
    size_t cap = (size_t)depth * 64 + 256;
    char *s = malloc(cap), *p = s;
    assert_non_null(s);
    p += sprintf(p, "{'resourceSpans':[{'scopeSpans':[{'spans':[{'traceId':'" TID "','spanId':'" SID
                    "','attributes':[{'key':'deep','value':");
    for (int i = 0; i < depth; i++)
        p += sprintf(p, kv ? "{'kvlistValue':{'values':[{'key':'k','value':" : "{'arrayValue':{'values':[");
    p += sprintf(p, "{'intValue':1}");
    for (int i = 0; i < depth; i++) p += sprintf(p, kv ? "}]}}" : "]}}");
    sprintf(p, "}]}]}]}]}");
    for (p = s; *p; p++)
        if (*p == '\'') *p = '"';
    return s;
}

static void test_nesting(void **state) {
    tws_batch b;
    tws_decode_error e;
    char *s = nested_value(32, false);
    assert_int_equal(decode(s, &b, &e), TW_OK);
    tws_batch_free(&b);
    free(s);
    s = nested_value(33, false);
    assert_int_equal(decode(s, &b, &e), TW_EPARSE);
    assert_non_null(strstr(e.msg, ": AnyValue nesting deeper than 32"));
    assert_memory_equal(e.msg, SPAN_PATH ".attributes[0].value.arrayValue.values[0].arrayValue",
                        strlen(SPAN_PATH ".attributes[0].value.arrayValue.values[0].arrayValue"));
    free(s);
    tws_decode_options o = {.max_depth = 2};
    s = nested_value(2, true);
    assert_int_equal(decode_opts(s, strlen(s), &o, &b, &e), TW_OK);
    tws_batch_free(&b);
    free(s);
    s = nested_value(3, true);
    refused_opts(s, &o,
                 SPAN_PATH ".attributes[0].value.kvlistValue.values[0].value.kvlistValue.values[0].value.kvlistValue"
                           ": AnyValue nesting deeper than 2");
    free(s);

    /* JSON nesting, in a member that is skipped: 256 containers, not 257 */
    size_t n = 300;
    char *deep = malloc(2 * n + 16);
    assert_non_null(deep);
    for (size_t depth = 255; depth <= 256; depth++) {
        char *p = deep;
        p += sprintf(p, "{\"a\":");
        for (size_t i = 0; i < depth; i++) *p++ = '[';
        for (size_t i = 0; i < depth; i++) *p++ = ']';
        strcpy(p, "}");
        int rc = decode(deep, &b, &e);
        if (depth == 255) {
            assert_int_equal(rc, TW_OK);
            tws_batch_free(&b);
        } else {
            assert_int_equal(rc, TW_EPARSE);
            assert_string_equal(e.msg, "invalid JSON at byte 260: nesting deeper than 256");
        }
    }
    free(deep);
}

static void test_tempo_and_old_names(void **state) {
    /* Tempo 1.x /api/traces: batches, instrumentationLibrarySpans, base64 ids, enum names */
    tws_batch b;
    decode_ok(J("{'batches':[{'resource':{'attributes':[{'key':'service.name','value':{'stringValue':'cart'}}]},"
                "'instrumentationLibrarySpans':[{'instrumentationLibrary':{'name':'io.cart','version':'0.9'},"
                "'spans':[{'traceId':'" TID_B64 "','spanId':'" SID_B64 "','parentSpanId':'APBnqgupArc=',"
                "'name':'add item','kind':'SPAN_KIND_SERVER','startTimeUnixNano':'1608239395286533000',"
                "'endTimeUnixNano':'1608239395386533000','status':{'code':'STATUS_CODE_ERROR','deprecatedCode':"
                "'DEPRECATED_STATUS_CODE_UNKNOWN_ERROR'}}]}]}]}"),
              &b);
    assert_int_equal(b.n_spans, 1);
    assert_str(b.scopes[0].name, "io.cart");
    assert_str(b.scopes[0].version, "0.9");
    const tws_span *s = &b.spans[0];
    assert_hex(s->trace_id, 16, TID);
    assert_hex(s->span_id, 8, SID);
    assert_hex(s->parent_span_id, 8, PID);
    assert_int_equal(s->kind, 2);
    assert_int_equal(s->status_code, 2);
    assert_int_equal(s->end_ns - s->start_ns, 100000000);
    tws_batch_free(&b);

    /* Tempo 2.x /api/v2/traces wraps the trace; old and new names side by side append */
    decode_ok(J("{'trace':{'resourceSpans':[{'scopeSpans':[{'scope':{'name':'new'},'spans':[{'traceId':'" TID
                "','spanId':'" SID "'}]}],'instrumentation_library_spans':[{'instrumentation_library':{'name':'old'},"
                "'spans':[{'traceId':'" TID "','spanId':'" SID "'}]}]}]},'batches':[{}]}"),
              &b);
    assert_int_equal(b.n_resources, 2);
    assert_int_equal(b.n_scopes, 2);
    assert_int_equal(b.n_spans, 2);
    assert_str(b.scopes[0].name, "new");
    assert_str(b.scopes[1].name, "old");
    assert_int_equal(b.spans[1].scope_idx, 1);
    tws_batch_free(&b);
}

static void test_unknown_and_null(void **state) {
    tws_batch b;
    decode_ok(J("{'extra':{'a':[1,{'b':null},\"\\u00e9\",-1.5e3,true,false]},"
                "'resourceSpans':[{'foo':[],'resource':{'x':true,'attributes':[{'key':'k','zz':1,"
                "'value':{'stringValue':'v','extra':'e'}}],'entityRefs':[{'type':'host'}]},"
                "'scopeSpans':[{'bar':{},'scope':{'name':'n','baz':1},'spans':[{'traceId':'" TID "','spanId':'" SID
                "','unknown':1.5e3,'status':{'deprecatedCode':1},'events':[{'zzz':[]}]}]}]}],"
                "'partialSuccess':{}}"),
              &b);
    assert_int_equal(b.n_spans, 1);
    assert_str(attr(&b.resources[0].attrs, "k")->u.s, "v");
    assert_int_equal(b.spans[0].n_events, 1);
    tws_batch_free(&b);

    decode_ok(J("{'resourceSpans':[{'resource':null,'scopeSpans':[{'scope':null,'spans':[{'traceId':'" TID
                "','spanId':'" SID "','attributes':null,'events':null,'links':null,'status':null,'name':null,"
                "'traceState':null,'startTimeUnixNano':null,'flags':null}]}],'schemaUrl':null}]}"),
              &b);
    assert_int_equal(b.n_spans, 1);
    assert_int_equal(b.spans[0].name.len, 0);
    assert_non_null(b.spans[0].name.ptr);
    tws_batch_free(&b);

    decode_ok("{\"resourceSpans\":null}", &b);
    assert_int_equal(b.n_spans, 0);
    tws_batch_free(&b);
    decode_ok("{\"resourceSpans\":[]}", &b);
    assert_empty(&b);
    tws_batch_free(&b);
}

static void test_borrow(void **state) {
    const char *json = one_span("'name':'plain','traceState':'a\\u003db','attributes':[{'key':'k','value':"
                                "{'stringValue':'bad\xff'}}]",
                                false);
    size_t len = strlen(json);
    tws_decode_options o = {.borrow_input = true};
    tws_batch b;
    tws_decode_error e;
    char *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, json, len);
    assert_int_equal(tws_otlp_decode_json(copy, len, &o, &b, &e), TW_OK);
    const tws_span *s = &b.spans[0];
    assert_true(s->name.ptr >= copy && s->name.ptr < copy + len);         /* borrowed */
    assert_false(s->trace_state.ptr >= copy && s->trace_state.ptr < copy + len); /* unescaped copy */
    assert_str(s->trace_state, "a=b");
    const tw_str v = s->attrs.items[0].val.u.s;
    assert_false(v.ptr >= copy && v.ptr < copy + len); /* repaired copy */
    assert_true(s->attrs.items[0].key.ptr >= copy && s->attrs.items[0].key.ptr < copy + len);
    tws_batch_free(&b);
    o.borrow_input = false;
    assert_int_equal(tws_otlp_decode_json(copy, len, &o, &b, &e), TW_OK);
    assert_false(b.spans[0].name.ptr >= copy && b.spans[0].name.ptr < copy + len);
    memset(copy, 'x', len); /* the batch holds no reference to the input */
    assert_str(b.spans[0].name, "plain");
    tws_batch_free(&b);
    free(copy);

    /* a NULL err is allowed */
    assert_int_equal(tws_otlp_decode_json("[", 1, NULL, &b, NULL), TW_EPARSE);
    assert_empty(&b);
}

/* ---- encoding ---------------------------------------------------------------------------- */

static void test_encode_exact(void **state) {
    tws_batch b;
    decode_ok(one_span("'name':'n','kind':'SPAN_KIND_CLIENT','startTimeUnixNano':1,'flags':1,"
                       "'attributes':[{'key':'s','value':{'stringValue':'q\\'\\n'}},{'key':'b','value':{'boolValue':true}},"
                       "{'key':'i','value':{'intValue':-7}},{'key':'d','value':{'doubleValue':0.1}},"
                       "{'key':'n','value':{'doubleValue':'NaN'}},{'key':'y','value':{'bytesValue':'AAEC'}},"
                       "{'key':'a','value':{'arrayValue':{'values':[{},{'arrayValue':{}}]}}},"
                       "{'key':'','value':{'kvlistValue':{'values':[{'key':'k'}]}}}],"
                       "'status':{'code':0,'message':''},'events':[{}],'links':[{'traceId':'" TID "','spanId':'" SID
                       "'}]",
                       false),
              &b);
    char *hex = encode_all(&b, TWS_IDS_HEX);
    assert_string_equal(
        hex, J("[{'resource':{},'scopeSpans':[{'scope':{},'spans':[{'traceId':'" TID "','spanId':'" SID "',"
               "'flags':1,'name':'n','kind':3,'startTimeUnixNano':'1','attributes':["
               "{'key':'s','value':{'stringValue':'q\\'\\n'}},{'key':'b','value':{'boolValue':true}},"
               "{'key':'i','value':{'intValue':'-7'}},{'key':'d','value':{'doubleValue':0.1}},"
               "{'key':'n','value':{'doubleValue':'NaN'}},{'key':'y','value':{'bytesValue':'AAEC'}},"
               "{'key':'a','value':{'arrayValue':{'values':[{},{'arrayValue':{}}]}}},"
               "{'value':{'kvlistValue':{'values':[{'key':'k','value':{}}]}}}],"
               "'events':[{}],'links':[{'traceId':'" TID "','spanId':'" SID "'}]}]}]}]"));
    free(hex);
    char *b64 = encode_all(&b, TWS_IDS_BASE64);
    assert_non_null(strstr(b64, J("'traceId':'" TID_B64 "','spanId':'" SID_B64 "','flags':1")));
    assert_non_null(strstr(b64, J("'links':[{'traceId':'" TID_B64 "','spanId':'" SID_B64 "'}]")));
    free(b64);
    tws_batch_free(&b);

    /* every member, and the schema urls and counts of resource and scope */
    decode_ok(J(every_field), &b);
    hex = encode_all(&b, TWS_IDS_HEX);
    assert_non_null(strstr(hex, J("{'resource':{'attributes':[{'key':'service.name','value':{'stringValue':'api'}}],"
                                  "'droppedAttributesCount':3},'scopeSpans':[{'scope':{'name':'lib','version':'1.0',"
                                  "'attributes':[{'key':'s','value':{'intValue':'-5'}}],'droppedAttributesCount':1},"
                                  "'spans':[{'traceId':'" TID "','spanId':'" SID "','traceState':'rojo=00f067aa0ba902b7',"
                                  "'parentSpanId':'" PID "','flags':769,'name':'GET /users','kind':2,")));
    assert_non_null(strstr(hex, J("'droppedEventsCount':5,'links':[{'traceId':'0af7651916cd43dd8448eb211c80319c',"
                                  "'spanId':'b7ad6b7169203331','traceState':'congo=t61rcWkgMzE','attributes':"
                                  "[{'key':'why','value':{'stringValue':'batch'}}],'droppedAttributesCount':6,"
                                  "'flags':1}],'droppedLinksCount':7,'status':{'message':'not found','code':2}}")));
    assert_non_null(strstr(hex, J("'schemaUrl':'https://example.com/scope'}],"
                                  "'schemaUrl':'https://opentelemetry.io/schemas/1.21.0'},")));
    free(hex);
    tws_batch_free(&b);
}

static void test_round_trip(void **state) {
    static const char *const docs[] = {every_field, every_field_snake, example};
    for (size_t i = 0; i < TW_ARRAY_LEN(docs); i++) {
        tws_batch a, b, c;
        decode_ok(J(docs[i]), &a);
        reencode(&a, TWS_IDS_HEX, NULL, &b);
        assert_same_spans(&a, &b);
        reencode(&a, TWS_IDS_BASE64, NULL, &c);
        assert_same_spans(&a, &c);
        tws_batch_free(&c);
        /* and once more: stable */
        reencode(&b, TWS_IDS_HEX, NULL, &c);
        assert_same_batch(&b, &c);
        tws_batch_free(&c);
        tws_batch_free(&b);
        tws_batch_free(&a);
    }
    /* rejected spans are not written; repaired strings come back the same */
    tws_batch a, b;
    decode_ok(J("{'resourceSpans':[{'scopeSpans':[{'spans':[{'traceId':'" TID "'},{'traceId':'" TID "','spanId':'" SID
                "','name':'\xff'}]}]}]}"),
              &a);
    assert_int_equal(a.n_rejected, 1);
    reencode(&a, TWS_IDS_BASE64, NULL, &b);
    assert_int_equal(b.n_spans, 1);
    assert_int_equal(b.utf8_repairs, 0);
    assert_same_spans(&a, &b);
    tws_batch_free(&b);
    tws_batch_free(&a);
}

static void test_deep_values(void **state) {
    /* deeper than the writer's 64 levels: 60 arrays are ~190 levels of JSON */
    tws_decode_options o = {.max_depth = 60};
    for (int kv = 0; kv <= 1; kv++) {
        char *s = nested_value(kv ? 50 : 60, kv);
        tws_batch a, b;
        tws_decode_error e;
        assert_int_equal(decode_opts(s, strlen(s), &o, &a, &e), TW_OK);
        reencode(&a, TWS_IDS_HEX, &o, &b);
        assert_same_batch(&a, &b);
        tws_batch_free(&b);
        tws_batch_free(&a);
        free(s);
    }
}

static void test_encode_selection(void **state) {
    tws_batch b;
    /* R0 {S0: a, b; S1: c}, R1 {S2: d}, and a rejected span x in S2 */
    decode_ok(J("{'resourceSpans':[{'resource':{'attributes':[{'key':'r','value':{'intValue':0}}]},"
                "'scopeSpans':[{'scope':{'name':'S0'},'spans':[{'traceId':'" TID "','spanId':'000000000000000a'},"
                "{'traceId':'" TID "','spanId':'000000000000000b'}]},{'scope':{'name':'S1'},'spans':[{'traceId':'" TID
                "','spanId':'000000000000000c'}]}]},{'resource':{'attributes':[{'key':'r','value':{'intValue':1}}]},"
                "'scopeSpans':[{'scope':{'name':'S2'},'spans':[{'traceId':'" TID "','spanId':'000000000000000d'},"
                "{'traceId':'" TID "'}]}]}]}"),
              &b);
    assert_int_equal(b.n_spans, 5);
    /* d, c, a (and an index out of range, skipped), then a second selection: b, x */
    static const uint32_t first[] = {3, 2, 99, 0}, second[] = {1, 4};
    tws_selection sel[3] = {{&b, first, 4}, {&b, second, 2}, {&b, second, 0}};
    tw__buf out;
    tw__buf_init(&out, 0);
    tw__json j;
    tw__json_init(&j, &out);
    tw__json_begin_object(&j);
    tw__json_key(&j, "batches", TW_NTS);
    assert_int_equal(tws_otlp_encode_json(sel, 3, TWS_IDS_HEX, &j), 0);
    tw__json_end_object(&j);
    tws_batch c;
    tws_decode_error e;
    int rc = decode_opts((const char *)out.data, out.len, NULL, &c, &e);
    assert_int_equal(rc, TW_OK);
    static const char *const order[] = {"000000000000000d", "000000000000000c", "000000000000000a",
                                        "000000000000000b", ""};
    static const char *const scope[] = {"S2", "S1", "S0", "S0", "S2"};
    static const uint32_t res[] = {0, 1, 1, 2, 3};
    assert_int_equal(c.n_spans, 5);
    assert_int_equal(c.n_resources, 4);
    assert_int_equal(c.n_rejected, 1); /* explicitly selected: written as it is */
    for (uint32_t i = 0; i < 5; i++) {
        if (i < 4) assert_hex(c.spans[i].span_id, 8, order[i]);
        assert_str(c.scopes[c.spans[i].scope_idx].name, scope[i]);
        assert_int_equal(c.scopes[c.spans[i].scope_idx].resource_idx, res[i]);
    }
    assert_int_equal(c.resources[0].attrs.items[0].val.u.i, 1);
    assert_int_equal(c.resources[1].attrs.items[0].val.u.i, 0);
    assert_int_equal(c.spans[4].reject, TWS_REJECT_SPAN_ID);
    tws_batch_free(&c);

    /* nothing selected: [] */
    tw__buf_reset(&out);
    tw__json_init(&j, &out);
    assert_int_equal(tws_otlp_encode_json(&sel[2], 1, TWS_IDS_HEX, &j), 0);
    assert_int_equal(out.len, 2);
    assert_memory_equal(out.data, "[]", 2);
    tw__buf_reset(&out);
    tw__json_init(&j, &out);
    assert_int_equal(tws_otlp_encode_json(NULL, 0, TWS_IDS_HEX, &j), 0);
    assert_memory_equal(out.data, "[]", 2);
    tw__buf_free(&out);

    /* a capped buffer: the error comes back */
    tw__buf_init(&out, 64);
    tw__json_init(&j, &out);
    tws_selection all = {&b, NULL, 0};
    assert_int_equal(tws_otlp_encode_json(&all, 1, TWS_IDS_HEX, &j), TW_ERANGE);
    tw__buf_free(&out);
    tws_batch_free(&b);
}

/* ---- robustness ------------------------------------------------------------------------- */

static void test_every_prefix(void **state) {
    const char *docs[] = {J(every_field), J(example), J(every_field_snake)};
    for (size_t d = 0; d < TW_ARRAY_LEN(docs); d++) {
        size_t n = strlen(docs[d]);
        while (n && (docs[d][n - 1] == '\n' || docs[d][n - 1] == ' ')) n--; /* no trailing whitespace */
        for (size_t len = 0; len < n; len++) {
            tws_batch b;
            tws_decode_error e;
            int rc = decode_opts(docs[d], len, NULL, &b, &e);
            char want[96];
            snprintf(want, sizeof want, "invalid JSON at byte %zu: unexpected end of input", len);
            if (rc != TW_EPARSE || strcmp(e.msg, want) != 0) print_error("prefix %zu: %s\n", len, e.msg);
            assert_int_equal(rc, TW_EPARSE);
            assert_string_equal(e.msg, want);
            assert_empty(&b);
        }
        tws_batch b;
        assert_int_equal(decode_opts(docs[d], n, NULL, &b, NULL), TW_OK);
        tws_batch_free(&b);
    }
}

static void test_out_of_memory(void **state) {
    const char *doc = J(every_field);
    int failures = 0;
    for (long k = 0;; k++) {
        tws_batch b;
        tws_decode_error e;
        tw__alloc_fail_after(k);
        int rc = tws_otlp_decode_json(doc, strlen(doc), NULL, &b, &e);
        tw__alloc_fail_after(-1);
        if (rc == TW_OK) {
            tws_batch_free(&b);
            break;
        }
        assert_int_equal(rc, TW_ENOMEM);
        assert_string_equal(e.msg, "out of memory");
        assert_empty(&b);
        failures++;
    }
    assert_true(failures > 3);

    tws_batch b;
    decode_ok(doc, &b);
    failures = 0;
    for (long k = 0;; k++) {
        tw__buf out;
        tw__buf_init(&out, 0);
        tw__json j;
        tw__json_init(&j, &out);
        tws_selection sel = {&b, NULL, 0};
        tw__alloc_fail_after(k);
        int rc = tws_otlp_encode_json(&sel, 1, TWS_IDS_BASE64, &j);
        tw__alloc_fail_after(-1);
        tw__buf_free(&out);
        if (rc == 0) break;
        assert_int_equal(rc, TW_ENOMEM);
        failures++;
    }
    assert_true(failures >= 2);
    tws_batch_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_snake_case),
        cmocka_unit_test(test_any_values),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_enums),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_tempo_and_old_names),
        cmocka_unit_test(test_unknown_and_null),
        cmocka_unit_test(test_borrow),
        cmocka_unit_test(test_encode_exact),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_deep_values),
        cmocka_unit_test(test_encode_selection),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
