/*
 * test_loki_push.c — Loki's push API decoders (logs/loki_push.c) and the
 * ids found in log content (logs/log_ids.c).
 *
 * Covered: JSON and protobuf pushes with several streams, structured
 * metadata and unicode, decoded to the same batch; protobuf built here with
 * common/pb.h's writer and compressed with snappy, then uncompressed through
 * the capped snappy reader; the label-set parser (every escape, quotes,
 * blanks) and its errors; each refusal of either decoder with its exact
 * message; UTF-8 repair and the value limit; borrowing the input or not;
 * every prefix of a valid request; allocation failures; the snappy cap and
 * invalid snappy data; and the id rules: each source, precedence, malformed
 * ids ignored, records that already have ids, the article's line.
 *
 * JSON in this file is written with ' for " (see J()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "json_quotes.h"
#include <snappy-c.h>

#include "common/pb.h"
#include "logs/log_ids.h"
#include "logs/loki_push.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"
#define TID2 "5b8efff798038103d269b633813fc60c"
#define SID2 "eee19b7ec3c1b173"

/* ---- helpers ------------------------------------------------------------------------ */


static void json_ok(const char *text, const tws_decode_options *o, tws_batch *b) {
    tws_decode_error err;
    int rc = tws_loki_decode_json(text, strlen(text), o, b, &err);
    if (rc) fail_msg("decode failed (%d): %s\n%s", rc, err.msg, text);
}

static void json_err(const char *text, const char *want) {
    tws_batch b;
    tws_decode_error err;
    int rc = tws_loki_decode_json(text, strlen(text), NULL, &b, &err);
    if (rc != TW_EPARSE) fail_msg("expected a refusal of %s, got %d", text, rc);
    assert_null(b.arena);
    assert_int_equal(b.n_logs, 0);
    assert_int_equal(b.n_resources, 0);
    if (strcmp(err.msg, want)) fail_msg("for %s\n  got  %s\n  want %s", text, err.msg, want);
}

static void str_is(tw_str s, const char *want) {
    size_t n = strlen(want);
    if (s.len != n || memcmp(s.ptr, want, n)) fail_msg("got '%.*s', want '%s'", (int)s.len, s.ptr, want);
}

static void kv_is(const tws_kv *kv, const char *k, const char *v) {
    str_is(kv->key, k);
    assert_int_equal(kv->val.type, TWS_STRING);
    str_is(kv->val.u.s, v);
}

static const tws_kv *res_labels(const tws_batch *b, uint32_t r, uint32_t n) {
    assert_true(r < b->n_resources);
    assert_int_equal(b->resources[r].attrs.n, n);
    return b->resources[r].attrs.items;
}

/* ---- protobuf building --------------------------------------------------------------- */

typedef struct ent {
    int64_t sec;
    int32_t nanos;
    const char *line;
    const char *meta[7]; /* name, value, ..., NULL */
} ent;

static void w_str(tw__buf *b, uint32_t f, const char *s) { tw__pb_bytes(b, f, s, strlen(s)); }

static void w_entry(tw__buf *b, const ent *e) {
    tw__pb_mark m = tw__pb_begin(b, 2, 2), ts = tw__pb_begin(b, 1, 1);
    if (e->sec) tw__pb_uint64(b, 1, (uint64_t)e->sec);
    if (e->nanos) tw__pb_uint64(b, 2, (uint64_t)(int64_t)e->nanos);
    tw__pb_end(b, ts);
    w_str(b, 2, e->line);
    for (int i = 0; e->meta[i]; i += 2) {
        tw__pb_mark lp = tw__pb_begin(b, 3, 1);
        w_str(b, 1, e->meta[i]);
        w_str(b, 2, e->meta[i + 1]);
        tw__pb_end(b, lp);
    }
    tw__pb_end(b, m);
}

static void w_stream(tw__buf *b, const char *labels, const ent *e, size_t n) {
    tw__pb_mark m = tw__pb_begin(b, 1, 3);
    w_str(b, 1, labels);
    for (size_t i = 0; i < n; i++) w_entry(b, &e[i]);
    tw__pb_uint64(b, 3, 0x1234567890abcdefull); /* hash: skipped */
    tw__pb_end(b, m);
}

/* Compress b's bytes with snappy, as a client does, and uncompress them
 * through the capped reader into `out`. */
static void snappy_round(const tw__buf *b, tw__buf *out) {
    size_t cn = snappy_max_compressed_length(b->len);
    char *c = malloc(cn);
    assert_non_null(c);
    assert_int_equal(snappy_compress((const char *)b->data, b->len, c, &cn), SNAPPY_OK);
    tw__buf_init(out, 0);
    assert_int_equal(tws_snappy_uncompress_capped((const uint8_t *)c, cn, b->len, out), 0);
    assert_int_equal(out->len, b->len);
    assert_memory_equal(out->data, b->data, b->len);
    free(c);
}

static void pb_err(const uint8_t *p, size_t n, const char *want) {
    tws_batch b;
    tws_decode_error err;
    tws_decode_options o = {.borrow_input = true};
    int rc = tws_loki_decode_pb(p, n, &o, &b, &err);
    if (rc != TW_EPARSE) fail_msg("expected a refusal, got %d", rc);
    assert_null(b.arena);
    assert_int_equal(b.n_logs, 0);
    if (strcmp(err.msg, want)) fail_msg("got  %s\nwant %s", err.msg, want);
}

static void pb_err_buf(tw__buf *b, const char *want) {
    assert_int_equal(b->failed, 0);
    pb_err(b->data, b->len, want);
    tw__buf_reset(b);
}

/* ---- the same streams in both encodings ------------------------------------------------ */

static const char example_json[] =
    "{'streams': ["
    " {'stream': {'service_name': 'checkout', 'env': 'prod', 'app': 'shop', 'empty': ''},"
    "  'values': [['1700000000000000001', 'first line'],"
    "             ['1700000000123456789', 'caf\\u00e9 \xe2\x82\xac \\ud83d\\ude00 \\\"q\\\"',"
    "              {'trace_id': '" TID "', 'user': 'j\\u00f6rg'}]]},"
    " {'values': [['0', '']], 'stream': {'job': 'varlogs', 'filename': '/var/log/\xc3\xa9.log'},"
    "  'unknown': {'x': [1, 2, {'y': null}]}},"
    " {'stream': {'a': 'b'}, 'values': []}"
    "], 'extra': true}";

static void check_example(const tws_batch *b) {
    assert_int_equal(b->n_resources, 3);
    assert_int_equal(b->n_scopes, 3);
    assert_int_equal(b->n_logs, 3);
    assert_int_equal(b->n_spans, 0);
    assert_int_equal(b->n_rejected, 0);
    assert_int_equal(b->utf8_repairs, 0);
    assert_int_equal(b->truncations, 0);
    for (uint32_t i = 0; i < b->n_resources; i++) assert_true(b->resources[i].labels_verbatim); /* labels as pushed */
    const tws_kv *l = res_labels(b, 0, 3); /* sorted, empty value dropped */
    kv_is(&l[0], "app", "shop");
    kv_is(&l[1], "env", "prod");
    kv_is(&l[2], "service_name", "checkout");
    l = res_labels(b, 1, 2);
    kv_is(&l[0], "filename", "/var/log/\xc3\xa9.log");
    kv_is(&l[1], "job", "varlogs");
    l = res_labels(b, 2, 1);
    kv_is(&l[0], "a", "b");
    for (uint32_t i = 0; i < 3; i++) {
        const tws_scope *sc = &b->scopes[i];
        assert_int_equal(sc->resource_idx, i);
        assert_int_equal(sc->name.len + sc->version.len + sc->schema_url.len + sc->attrs.n, 0);
        assert_int_equal(b->resources[i].schema_url.len, 0);
    }
    const tws_log *g = b->logs;
    assert_int_equal(g[0].scope_idx, 0);
    assert_int_equal(g[0].time_ns, 1700000000000000001ull);
    assert_int_equal(g[0].observed_ns, 0);
    assert_int_equal(g[0].body.type, TWS_STRING);
    str_is(g[0].body.u.s, "first line");
    assert_int_equal(g[0].attrs.n, 0);
    assert_false(g[0].has_trace_id || g[0].has_span_id);
    assert_int_equal(g[0].severity + g[0].flags + g[0].reject, 0);
    assert_int_equal(g[0].severity_text.len + g[0].event_name.len, 0);
    assert_int_equal(g[1].scope_idx, 0);
    assert_int_equal(g[1].time_ns, 1700000000123456789ull);
    str_is(g[1].body.u.s, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \"q\"");
    assert_int_equal(g[1].attrs.n, 2); /* in the order sent */
    kv_is(&g[1].attrs.items[0], "trace_id", TID);
    kv_is(&g[1].attrs.items[1], "user", "j\xc3\xb6rg");
    assert_false(g[1].has_trace_id); /* found later, by tws_log_ids_from_content */
    assert_int_equal(g[2].scope_idx, 1);
    assert_int_equal(g[2].time_ns, 0);
    str_is(g[2].body.u.s, "");
}

static void test_json_example(void **state) {
    (void)state;
    const char *text = J(example_json);
    for (int borrow = 0; borrow < 2; borrow++) {
        tws_decode_options o = {.borrow_input = borrow};
        tws_batch b;
        json_ok(text, &o, &b);
        check_example(&b);
        /* borrowed: plain strings point into the input; else into the arena */
        const char *line = b.logs[0].body.u.s.ptr;
        bool inside = line >= text && line < text + strlen(text);
        assert_true(inside == (bool)borrow);
        tws_batch_free(&b);
    }
}

static void build_example_pb(tw__buf *b) {
    ent s0[] = {
        {1700000000, 1, "first line", {NULL}},
        {1700000000, 123456789, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \"q\"",
         {"trace_id", TID, "user", "j\xc3\xb6rg", NULL}},
    };
    ent s1[] = {{0, 0, "", {NULL}}};
    w_stream(b, "{service_name=\"checkout\", env=\"prod\", app=\"shop\", empty=\"\"}", s0, 2);
    w_stream(b, "{job=\"varlogs\",filename=\"/var/log/\\u00e9.log\"}", s1, 1);
    w_stream(b, "{a=\"b\"}", NULL, 0);
    tw__pb_bytes(b, 2, "loki", 4); /* PushRequest.format: skipped */
}

static void test_pb_example(void **state) {
    (void)state;
    tw__buf b, raw;
    tw__buf_init(&b, 0);
    build_example_pb(&b);
    assert_int_equal(b.failed, 0);
    snappy_round(&b, &raw);
    for (int borrow = 0; borrow < 2; borrow++) {
        tws_decode_options o = {.borrow_input = borrow};
        tws_batch out;
        tws_decode_error err;
        int rc = tws_loki_decode_pb(raw.data, raw.len, &o, &out, &err);
        if (rc) fail_msg("%s", err.msg);
        check_example(&out);
        const char *line = out.logs[0].body.u.s.ptr;
        assert_true((line >= (const char *)raw.data && line < (const char *)raw.data + raw.len) == (bool)borrow);
        tws_batch_free(&out);
    }
    /* The same batch from JSON and from protobuf, and both decode nothing
     * from an empty request. */
    tws_batch e;
    assert_int_equal(tws_loki_decode_pb(NULL, 0, NULL, &e, NULL), 0);
    assert_int_equal(e.n_resources + e.n_logs, 0);
    json_ok(J("{'streams': []}"), NULL, &e);
    assert_int_equal(e.n_resources + e.n_logs, 0);
    tws_batch_free(&e);
    json_ok(J(" { 'streams' : null } "), NULL, &e);
    tws_batch_free(&e);
    json_ok("{}", NULL, &e);
    tws_batch_free(&e);
    tw__buf_free(&b);
    tw__buf_free(&raw);
}

/* Protobuf merge rules, unknown fields and wrong wire types. */
static void test_pb_wire_rules(void **state) {
    (void)state;
    tw__buf b;
    tw__buf_init(&b, 0);
    tw__pb_mark st = tw__pb_begin(&b, 1, 2);
    tw__pb_uint64(&b, 1, 7);          /* labels as a varint: unknown */
    w_str(&b, 1, "{first=\"x\"}");    /* replaced by the later one */
    tw__pb_fixed64(&b, 99, 1);        /* unknown */
    tw__pb_mark en = tw__pb_begin(&b, 2, 1);
    tw__pb_mark ts = tw__pb_begin(&b, 1, 1);
    tw__pb_uint64(&b, 1, 5);
    tw__pb_end(&b, ts);
    ts = tw__pb_begin(&b, 1, 1); /* merged: nanos added, seconds kept */
    tw__pb_uint64(&b, 2, 7);
    tw__pb_fixed32(&b, 9, 1);
    tw__pb_end(&b, ts);
    w_str(&b, 2, "old");
    w_str(&b, 2, "new");
    tw__pb_uint64(&b, 3, 1); /* structuredMetadata as a varint: unknown */
    tw__pb_mark lp = tw__pb_begin(&b, 3, 1);
    w_str(&b, 1, "k");
    tw__pb_bytes(&b, 4, "?", 1);
    tw__pb_end(&b, lp); /* no value: "" */
    tw__pb_mark parsed = tw__pb_begin(&b, 4, 1); /* EntryAdapter.parsed: skipped */
    w_str(&b, 1, "p");
    tw__pb_end(&b, parsed);
    tw__pb_end(&b, en);
    en = tw__pb_begin(&b, 2, 1); /* an empty entry: time 0, empty line */
    tw__pb_end(&b, en);
    w_str(&b, 1, "{job=\"j\"}");
    tw__pb_end(&b, st);
    tw__pb_uint64(&b, 1, 3); /* streams as a varint: unknown */
    assert_int_equal(b.failed, 0);
    tws_batch out;
    tws_decode_error err;
    int rc = tws_loki_decode_pb(b.data, b.len, NULL, &out, &err);
    if (rc) fail_msg("%s", err.msg);
    assert_int_equal(out.n_resources, 1);
    kv_is(&res_labels(&out, 0, 1)[0], "job", "j");
    assert_int_equal(out.n_logs, 2);
    assert_int_equal(out.logs[0].time_ns, 5000000007ull);
    str_is(out.logs[0].body.u.s, "new");
    assert_int_equal(out.logs[0].attrs.n, 1);
    kv_is(&out.logs[0].attrs.items[0], "k", "");
    assert_int_equal(out.logs[1].time_ns, 0);
    str_is(out.logs[1].body.u.s, "");
    assert_int_equal(out.logs[1].attrs.n, 0);
    tws_batch_free(&out);
    tw__buf_free(&b);
}

/* ---- refusals ------------------------------------------------------------------------------ */

static void test_json_errors(void **state) {
    (void)state;
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"", "top level: invalid JSON at byte 0"},
        {"[]", "top level: expected an object {'streams': [...]}"},
        {"{'streams': {}}", "streams: expected an array of streams"},
        {"{'streams': [], 'streams': []}", "streams: member given twice"},
        {"{'streams': [1]}", "streams[0]: expected an object"},
        {"{'streams': [{'values': []}]}", "streams[0]: at least one label pair is required per stream"},
        {"{'streams': [{'stream': null}]}", "streams[0]: at least one label pair is required per stream"},
        {"{'streams': [{'stream': {}}]}", "streams[0].stream: at least one label pair is required per stream"},
        {"{'streams': [{'stream': {'a': ''}}]}", "streams[0].stream: at least one label pair is required per stream"},
        {"{'streams': [{'stream': 'a=b'}]}", "streams[0].stream: expected an object of labels"},
        {"{'streams': [{'stream': {'a': 'b'}}, {'stream': {'foo-bar': 'x'}}]}",
         "streams[1].stream: invalid label name 'foo-bar'"},
        {"{'streams': [{'stream': {'1a': 'x'}}]}", "streams[0].stream: invalid label name '1a'"},
        {"{'streams': [{'stream': {'': 'x'}}]}", "streams[0].stream: invalid label name ''"},
        {"{'streams': [{'stream': {'a\\u00e9': 'x'}}]}", "streams[0].stream: invalid label name 'a?\?'"},
        {"{'streams': [{'stream': {'b': 'x', 'a': 'y', 'b': 'z'}}]}", "streams[0].stream: duplicate label name 'b'"},
        {"{'streams': [{'stream': {'a': 'x', '\\u0061': ''}}]}", "streams[0].stream: duplicate label name 'a'"},
        {"{'streams': [{'stream': {'a': 1}}]}", "streams[0].stream: label 'a' is not a string"},
        {"{'streams': [{'stream': {'a': null}}]}", "streams[0].stream: label 'a' is not a string"},
        {"{'streams': [{'stream': {'a': 'b'}, 'stream': {'c': 'd'}}]}", "streams[0].stream: member given twice"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': {}}]}",
         "streams[0].values: expected an array of [timestamp, line]"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': ['x']}]}",
         "streams[0].values[0]: expected [timestamp, line] or [timestamp, line, {structured metadata}]"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['1']]}]}",
         "streams[0].values[0]: expected [timestamp, line] or [timestamp, line, {structured metadata}]"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['1', 'x', {}, 4]]}]}",
         "streams[0].values[0]: expected [timestamp, line] or [timestamp, line, {structured metadata}]"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['1', 'x'], ['abc', 'y']]}]}",
         "streams[0].values[1][0]: timestamp is not an integer string"},
        {"{'streams': [{'stream': {'a': 'b'}}, {'stream': {'a': 'c'}}, {'stream': {'a': 'b'}, 'values': [['1', 'x'], "
         "['1', 'x'], ['1', 'x'], ['1', 'x'], ['1', 'x'], ['1.5', 'y']]}]}",
         "streams[2].values[5][0]: timestamp is not an integer string"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [[1, 'x']]}]}",
         "streams[0].values[0][0]: timestamp is not an integer string"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['', 'x']]}]}",
         "streams[0].values[0][0]: timestamp is not an integer string"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [[' 1', 'x']]}]}",
         "streams[0].values[0][0]: timestamp is not an integer string"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['+1', 'x']]}]}",
         "streams[0].values[0][0]: timestamp is not an integer string"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['1e9', 'x']]}]}",
         "streams[0].values[0][0]: timestamp is not an integer string"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['-5', 'x']]}]}",
         "streams[0].values[0][0]: timestamp is before 1970"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['9223372036854775808', 'x']]}]}",
         "streams[0].values[0][0]: timestamp out of range for int64 nanoseconds"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['1', 2]]}]}", "streams[0].values[0][1]: line is not a string"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['1', null]]}]}",
         "streams[0].values[0][1]: line is not a string"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['1', 'x', 'm']]}]}",
         "streams[0].values[0][2]: expected an object of structured metadata"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['1', 'x', {'k': 5}]]}]}",
         "streams[0].values[0][2]: structured metadata 'k' is not a string"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['1', 'x']}]}", "streams[0].values[1]: invalid JSON at byte 57"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['1', 'x\\q']]}]}",
         "streams[0].values[0][1]: invalid JSON at byte 53"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['1', 'x', {'k': 'v']]}]}",
         "streams[0].values[0][2]: invalid JSON at byte 67"},
        {"{'streams': [{'stream': {'a': 'b'}, 'values': [['1', 'x'],]}]}",
         "streams[0].values[1]: invalid JSON at byte 58"},
        {"{'streams': [{'stream': {'a': 'b',}}]}", "streams[0].stream: invalid JSON at byte 34"},
        {"{'streams': [{'stream': {'a': tru}}]}", "streams[0].stream: invalid JSON at byte 30"},
        {"{'streams': []} x", "top level: text after the request at byte 16"},
        {"{'streams': []", "top level: invalid JSON at byte 14"},
        {"{'streams' []}", "top level: invalid JSON at byte 11"},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(cases); i++) {
        char want[256];
        snprintf(want, sizeof want, "%s", J(cases[i].msg));
        json_err(J(cases[i].json), want);
    }
    /* The largest timestamp there is, and escapes in a timestamp. */
    tws_batch b;
    json_ok(J("{'streams': [{'stream': {'a': 'b'}, 'values': [['9223372036854775807', 'x'], ['\\u0031\\u0032', "
              "'y'], ['007', 'z']]}]}"),
            NULL, &b);
    assert_int_equal(b.logs[0].time_ns, 9223372036854775807ull);
    assert_int_equal(b.logs[1].time_ns, 12);
    assert_int_equal(b.logs[2].time_ns, 7);
    tws_batch_free(&b);
}

static void test_pb_errors(void **state) {
    (void)state;
    tw__buf b;
    tw__buf_init(&b, 0);
    /* wire errors, by level */
    pb_err((const uint8_t *)"\x0a\x05\x0a", 3, "request: malformed protobuf at byte 0");
    pb_err((const uint8_t *)"\x00", 1, "request: malformed protobuf at byte 0");
    pb_err((const uint8_t *)"\x0a\x00\x0b", 3, "request: malformed protobuf at byte 2");
    pb_err((const uint8_t *)"\x0a\x02\x12\x05", 4, "streams[0]: malformed protobuf at byte 2");
    pb_err((const uint8_t *)"\x0a\x00\x0a\x02\x0a\x05", 6, "streams[1]: malformed protobuf at byte 4");
    pb_err((const uint8_t *)"\x0a\x03\x12\x01\x08", 5, "streams[0].entries[0]: malformed protobuf at byte 4");
    pb_err((const uint8_t *)"\x0a\x05\x12\x03\x0a\x01\x08", 7,
           "streams[0].entries[0].timestamp: malformed protobuf at byte 6");
    pb_err((const uint8_t *)"\x0a\x05\x12\x03\x1a\x01\x0a", 7,
           "streams[0].entries[0].structuredMetadata[0]: malformed protobuf at byte 6");
    pb_err((const uint8_t *)"\x0a\x02\x13\x14", 4, "streams[0]: malformed protobuf at byte 2"); /* a group */
    /* timestamps */
    ent e = {1, -1, "x", {NULL}};
    w_stream(&b, "{a=\"b\"}", &e, 1);
    pb_err_buf(&b, "streams[0].entries[0].timestamp: nanos out of range [0, 1e9) at byte 15");
    e.nanos = 1000000000;
    w_stream(&b, "{a=\"b\"}", &e, 1);
    pb_err_buf(&b, "streams[0].entries[0].timestamp: nanos out of range [0, 1e9) at byte 15");
    e = (ent){-1, 0, "x", {NULL}};
    w_stream(&b, "{a=\"b\"}", &e, 1);
    pb_err_buf(&b, "streams[0].entries[0].timestamp: timestamp is before 1970 at byte 15");
    e = (ent){9223372036, 854775808, "x", {NULL}};
    w_stream(&b, "{a=\"b\"}", &e, 1);
    pb_err_buf(&b, "streams[0].entries[0].timestamp: timestamp out of range for int64 nanoseconds at byte 15");
    e = (ent){9223372036, 854775807, "x", {NULL}}; /* the last nanosecond int64 holds */
    w_stream(&b, "{a=\"b\"}", &e, 1);
    tws_batch out;
    assert_int_equal(tws_loki_decode_pb(b.data, b.len, NULL, &out, NULL), 0);
    assert_int_equal(out.logs[0].time_ns, (uint64_t)INT64_MAX);
    tws_batch_free(&out);
    tw__buf_reset(&b);
    /* labels, with the stream's path */
    e = (ent){1, 0, "x", {NULL}};
    w_stream(&b, "{a=\"b\"}", &e, 1);
    w_stream(&b, "{a=\"b\", c-d=\"e\"}", &e, 1);
    pb_err_buf(&b, "streams[1].labels: expected '=' after label name at offset 9");
    tw__pb_mark m = tw__pb_begin(&b, 1, 1); /* no labels field at all */
    tw__pb_end(&b, m);
    pb_err_buf(&b, "streams[0].labels: at least one label pair is required per stream");
    w_stream(&b, "{a=\"1\", a=\"2\"}", NULL, 0);
    pb_err_buf(&b, "streams[0].labels: duplicate label name \"a\"");
    tw__buf_free(&b);
}

/* ---- the label-set parser ----------------------------------------------------------------- */

static void test_labels(void **state) {
    (void)state;
    tws_batch b;
    tws_attrs a;
    char msg[128];
    tws_batch_init(&b);
    const char *s = " { b = \"x\" ,a='y\\'z',\tc=`raw\\n\"`,\n d=\"\\a\\b\\f\\n\\r\\t\\v\\\\\\\"\\x41\\101\\u00e9\\U0001F600\","
                    " e=\"\" , f=\"caf\xc3\xa9\" } ";
    assert_int_equal(tws_loki_parse_labels(s, strlen(s), &b, &a, msg, sizeof msg), 0);
    assert_int_equal(a.n, 5);
    kv_is(&a.items[0], "a", "y'z");
    kv_is(&a.items[1], "b", "x");
    kv_is(&a.items[2], "c", "raw\\n\"");
    kv_is(&a.items[3], "d", "\a\b\f\n\r\t\v\\\"AA\xc3\xa9\xf0\x9f\x98\x80");
    kv_is(&a.items[4], "f", "caf\xc3\xa9");
    assert_ptr_equal(a.items[1].val.u.s.ptr, strchr(s, 'x')); /* plain values point into the text */
    assert_int_equal(b.utf8_repairs, 0);
    /* \x and octal escapes may make invalid UTF-8: repaired */
    s = "{a=\"\\xff\\377ok\", _Z9=\"\xc3\"}";
    assert_int_equal(tws_loki_parse_labels(s, strlen(s), &b, &a, msg, sizeof msg), 0);
    assert_int_equal(a.n, 2);
    kv_is(&a.items[0], "_Z9", "\xef\xbf\xbd");
    kv_is(&a.items[1], "a", "\xef\xbf\xbd\xef\xbf\xbdok");
    assert_int_equal(b.utf8_repairs, 2);
    tws_batch_free(&b);

    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"", "at least one label pair is required per stream"},
        {" \t", "at least one label pair is required per stream"},
        {"{}", "at least one label pair is required per stream"},
        {"{a=\"\"}", "at least one label pair is required per stream"},
        {"a=\"b\"", "expected '{' at offset 0"},
        {"up{a=\"b\"}", "expected '{' at offset 0"},
        {"{a=\"b\"", "expected ',' or '}' at offset 6"},
        {"{a=\"b\" c=\"d\"}", "expected ',' or '}' at offset 7"},
        {"{a}", "expected '=' after label name at offset 2"},
        {"{a!=\"b\"}", "expected '=' after label name at offset 2"},
        {"{a=~\"b\"}", "expected a quoted label value at offset 3"},
        {"{a=b}", "expected a quoted label value at offset 3"},
        {"{a=", "expected a quoted label value at offset 3"},
        {"{a=\"b}", "unterminated quoted value at offset 3"},
        {"{a=`b}", "unterminated quoted value at offset 3"},
        {"{a=\"b\\\"}", "unterminated quoted value at offset 3"},
        {"{a=\"b\",}", "expected a label name at offset 7"},
        {"{,a=\"b\"}", "expected a label name at offset 1"},
        {"{1a=\"b\"}", "expected a label name at offset 1"},
        {"{\xc3\xa9=\"b\"}", "expected a label name at offset 1"},
        {"{a=\"b\"} x", "unexpected text after '}' at offset 8"},
        {"{a=\"b\"}}", "unexpected text after '}' at offset 7"},
        {"{a=\"\\q\"}", "invalid escape at offset 4"},
        {"{a=\"\\'\"}", "invalid escape at offset 4"},
        {"{a='\\\"'}", "invalid escape at offset 4"},
        {"{a=\"x\\xZZ\"}", "invalid escape at offset 5"},
        {"{a=\"\\400\"}", "invalid escape at offset 4"},
        {"{a=\"\\12\"}", "invalid escape at offset 4"},
        {"{a=\"\\uD800\"}", "invalid escape at offset 4"},
        {"{a=\"\\U00110000\"}", "invalid escape at offset 4"},
        {"{a=\"\\u12\"}", "invalid escape at offset 4"},
        {"{a=\"x\ny\"}", "newline in a quoted value at offset 5"},
        {"{a=\"1\",a=\"2\"}", "duplicate label name \"a\""},
        {"{z=\"1\", y=\"\", z=\"\"}", "duplicate label name \"z\""},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(bad); i++) {
        tws_batch_init(&b);
        int rc = tws_loki_parse_labels(bad[i].in, strlen(bad[i].in), &b, &a, msg, sizeof msg);
        if (rc != TW_EPARSE || strcmp(msg, bad[i].msg))
            fail_msg("%s: got %d '%s', want '%s'", bad[i].in, rc, msg, bad[i].msg);
        assert_int_equal(a.n, 0);
        tws_batch_free(&b);
    }
    /* a small message buffer is cut, not overrun */
    tws_batch_init(&b);
    char small[8];
    assert_int_equal(tws_loki_parse_labels("{a}", 3, &b, &a, small, sizeof small), TW_EPARSE);
    assert_string_equal(small, "expecte");
    tws_batch_free(&b);
}

/* ---- limits ----------------------------------------------------------------------------------- */

static void test_limits_and_repair(void **state) {
    (void)state;
    tws_decode_options o = {.max_value_len = 5};
    /* "ab\xe2\x82\xac\xe2\x82\xac" is 8 bytes: cut to 5 on a boundary is "ab€" */
    tws_batch b;
    json_ok(J("{'streams': [{'stream': {'app': 'a long label value, never cut'}, 'values': ["
              "['1', 'ab\xe2\x82\xac\xe2\x82\xac', {'a long metadata name': 'ab\\u20ac\\u20ac', 'k': 'abc'}],"
              "['2', 'x\xff\xfey'], ['3', 'abcdef\xff']]}]}"),
            &o, &b);
    kv_is(&res_labels(&b, 0, 1)[0], "app", "a long label value, never cut");
    str_is(b.logs[0].body.u.s, "ab\xe2\x82\xac");
    kv_is(&b.logs[0].attrs.items[0], "a long metadata name", "ab\xe2\x82\xac");
    kv_is(&b.logs[0].attrs.items[1], "k", "abc");
    str_is(b.logs[1].body.u.s, "x\xef\xbf\xbd"); /* repaired (one U+FFFD per bad byte), then cut */
    str_is(b.logs[2].body.u.s, "abcde");
    assert_int_equal(b.truncations, 4);
    assert_int_equal(b.utf8_repairs, 2);
    tws_batch_free(&b);

    tw__buf w;
    tw__buf_init(&w, 0);
    ent e[] = {{1, 0, "ab\xe2\x82\xac\xe2\x82\xac", {"a long metadata name", "ab\xe2\x82\xac\xe2\x82\xac", NULL}},
               {2, 0, "x\xff\xfey", {"n\xff", "v", NULL}}};
    w_stream(&w, "{app=\"a long label value, never cut\", bad=\"\\xff\"}", e, 2);
    tws_decode_error err;
    assert_int_equal(tws_loki_decode_pb(w.data, w.len, &o, &b, &err), 0);
    const tws_kv *l = res_labels(&b, 0, 2);
    kv_is(&l[0], "app", "a long label value, never cut");
    kv_is(&l[1], "bad", "\xef\xbf\xbd");
    str_is(b.logs[0].body.u.s, "ab\xe2\x82\xac");
    kv_is(&b.logs[0].attrs.items[0], "a long metadata name", "ab\xe2\x82\xac");
    str_is(b.logs[1].body.u.s, "x\xef\xbf\xbd");
    kv_is(&b.logs[1].attrs.items[0], "n\xef\xbf\xbd", "v");
    assert_int_equal(b.truncations, 3);
    assert_int_equal(b.utf8_repairs, 3);
    tws_batch_free(&b);
    tw__buf_free(&w);
}

/* Every prefix of a valid request is refused, never read past. */
static void test_every_prefix(void **state) {
    (void)state;
    const char *text = J(example_json);
    size_t n = strlen(text);
    for (size_t k = 0; k < n; k++) {
        char *p = malloc(k ? k : 1);
        memcpy(p, text, k);
        tws_batch b;
        tws_decode_error err;
        assert_int_equal(tws_loki_decode_json(p, k, NULL, &b, &err), TW_EPARSE);
        assert_non_null(strstr(err.msg, "invalid JSON at byte"));
        free(p);
    }
    tw__buf w;
    tw__buf_init(&w, 0);
    build_example_pb(&w);
    for (size_t k = 1; k < w.len; k++) {
        uint8_t *p = malloc(k);
        memcpy(p, w.data, k);
        tws_batch b;
        tws_decode_error err;
        int rc = tws_loki_decode_pb(p, k, NULL, &b, &err);
        if (rc == 0) tws_batch_free(&b); /* a prefix ending on a field boundary is a request */
        else assert_int_equal(rc, TW_EPARSE);
        free(p);
    }
    tw__buf_free(&w);
}

static void test_out_of_memory(void **state) {
    (void)state;
    const char *text = J(example_json);
    tw__buf w;
    tw__buf_init(&w, 0);
    build_example_pb(&w);
    for (int which = 0; which < 2; which++) {
        bool done = false;
        for (long k = 0; !done; k++) {
            tws_batch b;
            tws_decode_error err;
            tw__alloc_fail_after(k);
            int rc = which ? tws_loki_decode_pb(w.data, w.len, NULL, &b, &err)
                           : tws_loki_decode_json(text, strlen(text), NULL, &b, &err);
            tw__alloc_fail_after(-1);
            if (rc == 0) {
                check_example(&b);
                tws_batch_free(&b);
                done = true;
            } else {
                assert_int_equal(rc, TW_ENOMEM);
                assert_string_equal(err.msg, "out of memory");
                assert_null(b.arena);
            }
        }
    }
    tw__buf_free(&w);
}

/* ---- snappy --------------------------------------------------------------------------------------- */

static void test_snappy(void **state) {
    (void)state;
    char plain[1000];
    for (size_t i = 0; i < sizeof plain; i++) plain[i] = (char)('a' + i % 7);
    size_t cn = snappy_max_compressed_length(sizeof plain);
    char *c = malloc(cn);
    assert_int_equal(snappy_compress(plain, sizeof plain, c, &cn), SNAPPY_OK);
    tw__buf out;
    tw__buf_init(&out, 0);
    /* over the cap: refused before anything is allocated */
    assert_int_equal(tws_snappy_uncompress_capped((uint8_t *)c, cn, sizeof plain - 1, &out), TW_ERANGE);
    assert_null(out.data);
    /* a block that declares 4 GiB, refused from its header alone */
    assert_int_equal(tws_snappy_uncompress_capped((const uint8_t *)"\xff\xff\xff\xff\x0f", 5, 1 << 20, &out),
                     TW_ERANGE);
    assert_null(out.data);
    /* at the cap; appended to what the buffer holds */
    tw__buf_append(&out, "<", 1);
    assert_int_equal(tws_snappy_uncompress_capped((uint8_t *)c, cn, sizeof plain, &out), 0);
    assert_int_equal(out.len, 1 + sizeof plain);
    assert_memory_equal(out.data + 1, plain, sizeof plain);
    /* invalid data: a bad header, a truncated body, a corrupt copy */
    tw__buf_reset(&out);
    assert_int_equal(tws_snappy_uncompress_capped((const uint8_t *)"\xff\xff\xff\xff\xff\xff", 6, 100, &out),
                     TW_EPARSE);
    assert_int_equal(tws_snappy_uncompress_capped((uint8_t *)c, cn - 1, sizeof plain, &out), TW_EPARSE);
    assert_int_equal(out.len, 0);
    assert_int_equal(tws_snappy_uncompress_capped((const uint8_t *)"\x05\x0d\x01", 3, 100, &out), TW_EPARSE);
    assert_int_equal(tws_snappy_uncompress_capped(NULL, 0, 100, &out), TW_EPARSE);
    assert_int_equal(tws_snappy_uncompress_capped((const uint8_t *)"", 0, 100, &out), TW_EPARSE);
    /* empty content: a valid block of length 0, and one with trailing junk */
    assert_int_equal(tws_snappy_uncompress_capped((const uint8_t *)"\x00", 1, 100, &out), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(tws_snappy_uncompress_capped((const uint8_t *)"\x00\x00", 2, 100, &out), TW_EPARSE);
    /* the buffer's own cap holds too */
    tw__buf capped;
    tw__buf_init(&capped, 100);
    assert_int_equal(tws_snappy_uncompress_capped((uint8_t *)c, cn, sizeof plain, &capped), TW_ERANGE);
    tw__buf_free(&capped);
    tw__buf_free(&out);
    free(c);
}

/* ---- ids in log content ------------------------------------------------------------------------- */

typedef struct idcase {
    const char *meta[11]; /* attribute name, value, ..., NULL */
    const char *line;     /* string body, or NULL */
    const char *trace;    /* expected hex, or NULL */
    const char *span;
} idcase;

static void hex_is(const uint8_t *id, size_t n, const char *want) {
    char got[33];
    tw__hex_encode(id, n, got);
    got[2 * n] = '\0';
    for (size_t i = 0; i < 2 * n; i++)
        if (got[i] != (want[i] | 0x20)) fail_msg("id %s, want %s", got, want);
}

static void run_ids(const idcase *c, size_t n) {
    tws_batch b;
    tws_batch_init(&b);
    b.logs = tws_batch_alloc(&b, n * sizeof *b.logs);
    b.n_logs = (uint32_t)n;
    memset(b.logs, 0, n * sizeof *b.logs);
    for (size_t i = 0; i < n; i++) {
        tws_log *l = &b.logs[i];
        uint32_t k = 0;
        while (c[i].meta[2 * k]) k++;
        l->attrs.items = tws_batch_alloc(&b, (k + 1) * sizeof(tws_kv));
        l->attrs.n = k;
        for (uint32_t j = 0; j < k; j++) {
            tws_kv *kv = &l->attrs.items[j];
            kv->key = (tw_str){c[i].meta[2 * j], strlen(c[i].meta[2 * j])};
            kv->val.type = TWS_STRING;
            kv->val.u.s = (tw_str){c[i].meta[2 * j + 1], strlen(c[i].meta[2 * j + 1])};
        }
        if (c[i].line) {
            l->body.type = TWS_STRING;
            l->body.u.s = (tw_str){c[i].line, strlen(c[i].line)};
        }
    }
    tws_log_ids_from_content(&b);
    for (size_t i = 0; i < n; i++) {
        const tws_log *l = &b.logs[i];
        if (!c[i].trace) {
            if (l->has_trace_id || l->has_span_id) fail_msg("case %zu: ids found where there are none", i);
            continue;
        }
        if (!l->has_trace_id) fail_msg("case %zu: no trace id found", i);
        hex_is(l->trace_id, 16, c[i].trace);
        assert_true(l->has_span_id == (c[i].span != NULL));
        if (c[i].span) hex_is(l->span_id, 8, c[i].span);
        else assert_memory_equal(l->span_id, "\0\0\0\0\0\0\0\0", 8);
    }
    tws_batch_free(&b);
}

static void test_ids_sources(void **state) {
    (void)state;
    static const char article[] = "{\"level\":\"error\",\"msg\":\"inventory reserve failed\",\"service\":\"checkout\","
                                  "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\"}";
    idcase c[] = {
        /* the article's exact line */
        {{NULL}, article, TID, SID},
        /* (a) attributes / structured metadata, every spelling */
        {{"trace_id", TID, "span_id", SID, NULL}, "plain", TID, SID},
        {{"traceid", TID, "spanid", SID, NULL}, NULL, TID, SID},
        {{"traceId", TID, "spanId", SID, NULL}, NULL, TID, SID},
        {{"traceID", "4BF92F3577B34DA6A3CE929D0E0E4736", "SpanID", "00F067aa0BA902B7", NULL}, NULL, TID, SID},
        {{"trace_id", TID, NULL}, NULL, TID, NULL},
        /* (b) a JSON body: spellings, blanks, other members of every kind */
        {{NULL}, " {\"traceId\" : \"" TID "\", \"n\": [1, {\"x\": null}], \"spanId\": \"" SID "\"} ", TID, SID},
        {{NULL}, "{\"a\":true,\"traceid\":\"" TID "\"}", TID, NULL},
        /* (c) logfmt */
        {{NULL}, "level=error msg=\"reserve failed\" trace_id=" TID " span_id=" SID, TID, SID},
        {{NULL}, "trace_id=\"" TID "\"\tspanID=\"" SID "\"", TID, SID},
        {{NULL}, "ts=1 traceID=" TID, TID, NULL},
        /* the first well-formed one wins */
        {{NULL}, "trace_id=xyz trace_id=" TID " trace_id=" TID2, TID, NULL},
        {{"trace_id", "nothex", "traceId", TID, NULL}, NULL, TID, NULL},
    };
    run_ids(c, TW_ARRAY_LEN(c));
}

static void test_ids_precedence(void **state) {
    (void)state;
    idcase c[] = {
        /* attributes before the body, for both ids */
        {{"trace_id", TID, "span_id", SID, NULL}, "trace_id=" TID2 " span_id=" SID2, TID, SID},
        {{"trace_id", TID, NULL}, "{\"trace_id\":\"" TID2 "\",\"span_id\":\"" SID2 "\"}", TID, NULL},
        /* a span id without a trace id in the attributes is not mixed with the body's */
        {{"span_id", SID, NULL}, "trace_id=" TID2 " span_id=" SID2, TID2, SID2},
        {{"span_id", SID, NULL}, "trace_id=" TID2, TID2, NULL},
        /* a malformed attribute id falls through to the body */
        {{"trace_id", TID "0", NULL}, "trace_id=" TID2, TID2, NULL},
        /* a body that is a JSON object is read as JSON only */
        {{NULL}, "{\"msg\":\"trace_id=" TID "\"}", NULL, NULL},
        /* ... unless it is not valid JSON: then as logfmt */
        {{NULL}, "{not json} trace_id=" TID, TID, NULL},
        {{NULL}, "{\"trace_id\":\"" TID "\"} trailing", NULL, NULL},
        /* a JSON id wins over logfmt in its message, a JSON string in logfmt is not JSON */
        {{NULL}, "{\"msg\":\"trace_id=" TID2 "\",\"trace_id\":\"" TID "\"}", TID, NULL},
    };
    run_ids(c, TW_ARRAY_LEN(c));
}

static void test_ids_malformed(void **state) {
    (void)state;
    idcase c[] = {
        {{"trace_id", "00000000000000000000000000000000", NULL}, NULL, NULL, NULL},
        {{"trace_id", TID "a", NULL}, NULL, NULL, NULL},
        {{"trace_id", "4bf92f3577b34da6a3ce929d0e0e473", NULL}, NULL, NULL, NULL},
        {{"trace_id", "4bf92f3577b34da6a3ce929d0e0e473g", NULL}, NULL, NULL, NULL},
        {{"trace_id", TID, "span_id", "0000000000000000", NULL}, NULL, TID, NULL},
        {{"trace_id", TID, "span_id", SID "0", NULL}, NULL, TID, NULL},
        {{"trace-id", TID, "trace_idx", TID, "TRACE_ID", TID, "xtrace_id", TID, NULL}, NULL, NULL, NULL},
        {{"trace__id", TID, "trace_i", TID, NULL}, NULL, NULL, NULL},
        {{NULL}, "{\"trace_id\":\"" TID "\\u0030\"}", NULL, NULL},
        {{NULL}, "{\"trace_id\":4}", NULL, NULL},
        {{NULL}, "{\"req\":{\"trace_id\":\"" TID "\"}}", NULL, NULL}, /* top-level members only */
        {{NULL}, "{\"trace_id\":\"00000000000000000000000000000000\"}", NULL, NULL},
        {{NULL}, "xtrace_id=" TID, NULL, NULL},
        {{NULL}, "a,trace_id=" TID, NULL, NULL},
        {{NULL}, "trace_id=" TID "0", NULL, NULL},
        {{NULL}, "trace_id=" TID ",", NULL, NULL},
        {{NULL}, "trace_id=\"" TID, NULL, NULL},
        {{NULL}, "trace_id=\"" TID "0\"", NULL, NULL},
        {{NULL}, "trace_id = " TID, NULL, NULL},
        {{NULL}, "trace_id=", NULL, NULL},
        {{NULL}, "race_id=" TID, NULL, NULL},
        {{NULL}, "trace", NULL, NULL},
        {{NULL}, "no ids here at all, just a line", NULL, NULL},
        {{NULL}, "", NULL, NULL},
        {{NULL}, "trace_id=" TID " span_id=" SID "0", TID, NULL},
        {{NULL}, "trace_id=" TID " xspan_id=" SID, TID, NULL},
    };
    run_ids(c, TW_ARRAY_LEN(c));
}

/* Records with ids, rejected records, non-string values, kvlist bodies. */
static void test_ids_records(void **state) {
    (void)state;
    tws_batch b;
    tws_batch_init(&b);
    b.n_logs = 5;
    b.logs = tws_batch_alloc(&b, 5 * sizeof *b.logs);
    memset(b.logs, 0, 5 * sizeof *b.logs);
    static const char line[] = "trace_id=" TID " span_id=" SID;
    for (int i = 0; i < 5; i++) {
        b.logs[i].body.type = TWS_STRING;
        b.logs[i].body.u.s = (tw_str){line, sizeof line - 1};
    }
    /* 0: has a trace id already: untouched */
    b.logs[0].has_trace_id = true;
    memset(b.logs[0].trace_id, 0x11, 16);
    /* 1: has only a span id: the trace id is added, the span id kept */
    b.logs[1].has_span_id = true;
    memset(b.logs[1].span_id, 0x22, 8);
    /* 2: rejected: untouched */
    b.logs[2].reject = TWS_REJECT_TRACE_ID;
    /* 3: a kvlist body, and a non-string attribute of the name */
    tws_kv *kv = tws_batch_alloc(&b, 3 * sizeof *kv);
    memset(kv, 0, 3 * sizeof *kv);
    kv[0].key = (tw_str){"trace_id", 8};
    kv[0].val.type = TWS_BYTES;
    kv[0].val.u.s = (tw_str){TID, 32};
    kv[1].key = (tw_str){"traceId", 7};
    kv[1].val.type = TWS_STRING;
    kv[1].val.u.s = (tw_str){TID2, 32};
    kv[2].key = (tw_str){"span_id", 7};
    kv[2].val.type = TWS_STRING;
    kv[2].val.u.s = (tw_str){SID2, 16};
    b.logs[3].attrs = (tws_attrs){kv, 1, 0};
    b.logs[3].body.type = TWS_KVLIST;
    b.logs[3].body.u.kv = kv;
    b.logs[3].body.n = 3;
    /* 4: an int body is not looked at */
    b.logs[4].body.type = TWS_INT;
    tws_log_ids_from_content(&b);
    uint8_t ones[16];
    memset(ones, 0x11, 16);
    assert_memory_equal(b.logs[0].trace_id, ones, 16);
    assert_false(b.logs[0].has_span_id);
    assert_true(b.logs[1].has_trace_id && b.logs[1].has_span_id);
    hex_is(b.logs[1].trace_id, 16, TID);
    hex_is(b.logs[1].span_id, 8, "2222222222222222");
    assert_false(b.logs[2].has_trace_id || b.logs[2].has_span_id);
    assert_true(b.logs[3].has_trace_id && b.logs[3].has_span_id);
    hex_is(b.logs[3].trace_id, 16, TID2);
    hex_is(b.logs[3].span_id, 8, SID2);
    assert_false(b.logs[4].has_trace_id);
    /* an empty batch, and again: nothing changes */
    tws_log_ids_from_content(&b);
    hex_is(b.logs[3].trace_id, 16, TID2);
    tws_batch_free(&b);
    tws_log_ids_from_content(&b);
}

/* A pushed batch end to end: decode, then the ids. */
static void test_ids_after_push(void **state) {
    (void)state;
    tws_batch b;
    json_ok(J(example_json), NULL, &b);
    tws_log_ids_from_content(&b);
    assert_false(b.logs[0].has_trace_id);
    assert_true(b.logs[1].has_trace_id);
    hex_is(b.logs[1].trace_id, 16, TID);
    assert_false(b.logs[1].has_span_id);
    assert_false(b.logs[2].has_trace_id);
    tws_batch_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_example),
        cmocka_unit_test(test_pb_example),
        cmocka_unit_test(test_pb_wire_rules),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_pb_errors),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_limits_and_repair),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_snappy),
        cmocka_unit_test(test_ids_sources),
        cmocka_unit_test(test_ids_precedence),
        cmocka_unit_test(test_ids_malformed),
        cmocka_unit_test(test_ids_records),
        cmocka_unit_test(test_ids_after_push),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
