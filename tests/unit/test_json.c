/*
 * test_json.c — the JSON writer (commas, nesting limit, escaping, UTF-8
 * repair with one U+FFFD per maximal invalid subpart, numbers and the
 * protobuf-style NaN/Infinity strings, locale independence) and the reader
 * (lookup, arrays, unquoting with surrogates, numbers, malformed input).
 */
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/json.h"

/* The text written so far, NUL-terminated. */
static const char *text(tw__buf *b) {
    tw__buf_putc(b, 0);
    b->len--;
    assert_int_equal(b->failed, 0);
    return (const char *)b->data;
}

static void test_structure_and_commas(void **state) {
    tw__buf b;
    tw__buf_init(&b, 0);
    tw__json j;
    tw__json_init(&j, &b);
    tw__json_begin_object(&j);
    tw__json_key(&j, "a", TW_NTS);
    tw__json_int64(&j, 1);
    tw__json_key(&j, "b", 1);
    tw__json_begin_array(&j);
    tw__json_begin_array(&j);
    tw__json_end_array(&j);
    tw__json_begin_object(&j);
    tw__json_end_object(&j);
    tw__json_null(&j);
    tw__json_bool(&j, true);
    tw__json_bool(&j, false);
    tw__json_string(&j, "s", TW_NTS);
    tw__json_end_array(&j);
    tw__json_key(&j, "c", TW_NTS);
    tw__json_begin_object(&j);
    tw__json_key(&j, "d", TW_NTS);
    tw__json_uint64(&j, UINT64_MAX);
    tw__json_key(&j, "e", TW_NTS);
    tw__json_int64(&j, INT64_MIN);
    tw__json_key(&j, "f", TW_NTS);
    tw__json_int64_string(&j, -42);
    tw__json_key(&j, "g", TW_NTS);
    tw__json_uint64_string(&j, 0);
    tw__json_key(&j, "h", TW_NTS);
    tw__json_hex(&j, (const uint8_t *)"\x00\x1f\xab\xff", 4);
    tw__json_key(&j, "i", TW_NTS);
    tw__json_raw(&j, "[1,2]", 5);
    tw__json_end_object(&j);
    tw__json_end_object(&j);
    assert_string_equal(text(&b), "{\"a\":1,\"b\":[[],{},null,true,false,\"s\"],\"c\":{\"d\":18446744073709551615,"
                                  "\"e\":-9223372036854775808,\"f\":\"-42\",\"g\":\"0\",\"h\":\"001fabff\","
                                  "\"i\":[1,2]}}");
    /* Top-level values follow each other without commas (JSON lines). */
    tw__buf_reset(&b);
    tw__json_init(&j, &b);
    tw__json_begin_object(&j);
    tw__json_end_object(&j);
    tw__json_begin_object(&j);
    tw__json_end_object(&j);
    assert_string_equal(text(&b), "{}{}");
    tw__buf_free(&b);
}

static void test_depth_limit_and_misuse(void **state) {
    tw__buf b;
    tw__buf_init(&b, 0);
    tw__json j;
    tw__json_init(&j, &b);
    for (int i = 0; i < TW_JSON_MAX_DEPTH; i++) tw__json_begin_array(&j);
    assert_int_equal(b.failed, 0);
    tw__json_begin_array(&j);
    assert_int_equal(b.failed, TW_EINVAL);
    tw__buf_free(&b);

    tw__buf_init(&b, 0);
    tw__json_init(&j, &b);
    tw__json_end_object(&j);
    assert_int_equal(b.failed, TW_EINVAL);
    tw__buf_free(&b);
}

static const char *escaped(tw__buf *b, const char *s, size_t n) {
    tw__buf_reset(b);
    tw__json_escape(b, s, n);
    return text(b);
}

static void test_escaping(void **state) {
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_string_equal(escaped(&b, "plain / text", 12), "plain / text");
    assert_string_equal(escaped(&b, "q\"b\\", 4), "q\\\"b\\\\");
    assert_string_equal(escaped(&b, "\b\f\n\r\t", 5), "\\b\\f\\n\\r\\t");
    assert_string_equal(escaped(&b, "\x01\x1f\x7f", 3), "\\u0001\\u001f\x7f");
    assert_string_equal(escaped(&b, "a\0b", 3), "a\\u0000b");
    /* Well-formed UTF-8 of every length passes unchanged. */
    const char *ok = "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xed\x9f\xbf \xee\x80\x80";
    assert_string_equal(escaped(&b, ok, strlen(ok)), ok);
    tw__buf_free(&b);
}

#define FFFD "\xef\xbf\xbd"

static void test_invalid_utf8(void **state) {
    static const struct { const char *in; const char *out; } cases[] = {
        {"\x80", FFFD},                          /* lone continuation */
        {"a\xbf" "b", "a" FFFD "b"},
        {"\xc0\x80", FFFD FFFD},                 /* overlong NUL: C0 is never a lead */
        {"\xc1\xbf", FFFD FFFD},
        {"\xe0\x80\x80", FFFD FFFD FFFD},        /* overlong 3-byte */
        {"\xe0\xa0", FFFD},                      /* truncated at the end: one */
        {"\xe2\x82" "A", FFFD "A"},              /* truncated before ASCII: one */
        {"\xed\xa0\x80", FFFD FFFD FFFD},        /* surrogate U+D800 */
        {"\xf0\x80\x80\x80", FFFD FFFD FFFD FFFD}, /* overlong 4-byte */
        {"\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD}, /* above U+10FFFF */
        {"\xf0\x9f\x98", FFFD},                  /* truncated 4-byte */
        {"\xf0\x9f\x98\xf0\x9f\x98\x80", FFFD "\xf0\x9f\x98\x80"},
        {"\xf5\x80", FFFD FFFD},
        {"\xff\xfe", FFFD FFFD},
        {"\"\xff\\", "\\\"" FFFD "\\\\"},
    };
    tw__buf b;
    tw__buf_init(&b, 0);
    for (size_t i = 0; i < TW_ARRAY_LEN(cases); i++) {
        const char *got = escaped(&b, cases[i].in, strlen(cases[i].in));
        if (strcmp(got, cases[i].out)) fail_msg("case %zu: got \"%s\"", i, got);
    }
    tw__buf_free(&b);
}

static const char *dbl(tw__buf *b, double d) {
    tw__buf_reset(b);
    tw__json j;
    tw__json_init(&j, b);
    tw__json_double(&j, d);
    return text(b);
}

static void test_doubles(void **state) {
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_string_equal(dbl(&b, 0.1), "0.1");
    assert_string_equal(dbl(&b, 1.5), "1.5");
    assert_string_equal(dbl(&b, 100), "100");
    assert_string_equal(dbl(&b, -0.0), "-0");
    assert_string_equal(dbl(&b, 1e300), "1e+300");
    assert_string_equal(dbl(&b, 5e-324), "4.94065645841247e-324");
    assert_string_equal(dbl(&b, NAN), "\"NaN\"");
    assert_string_equal(dbl(&b, INFINITY), "\"Infinity\"");
    assert_string_equal(dbl(&b, -INFINITY), "\"-Infinity\"");
    /* Every finite double reads back exactly, in the shortest of 15-17 digits. */
    srand(7);
    for (int i = 0; i < 20000; i++) {
        uint64_t u = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
        double d;
        memcpy(&d, &u, sizeof d);
        if (!isfinite(d)) continue;
        double back;
        const char *t = dbl(&b, d);
        assert_int_equal(tw__json_to_double((tw_str){t, strlen(t)}, &back), 0);
        if (memcmp(&back, &d, sizeof d)) fail_msg("%s does not read back as %a", t, d);
    }
    /* A locale with a decimal comma changes nothing. */
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        assert_string_equal(dbl(&b, 2.5), "2.5");
        double back;
        assert_int_equal(tw__json_to_double((tw_str){"0.25", 4}, &back), 0);
        assert_true(back == 0.25);
        setlocale(LC_NUMERIC, "C");
    }
    tw__buf_free(&b);
}

static tw_str S(const char *s) { return (tw_str){s, strlen(s)}; }

static void assert_str(tw_str v, const char *want) {
    if (v.len != strlen(want) || memcmp(v.ptr, want, v.len)) fail_msg("got \"%.*s\", want \"%s\"", (int)v.len, v.ptr, want);
}

static void test_reader(void **state) {
    const char *doc = " { \"a\" : [1, {\"b\": \"x\\\"y\"}, [], true] , \"k\\u0065y\":-12.5e1,\"n\":null,"
                      "\"s\":\"9223372036854775807\", \"a\":2 } ";
    tw_str v, w;
    assert_int_equal(tw__json_get(S(doc), "a", &v), 0); /* the first of duplicates */
    assert_str(v, "[1, {\"b\": \"x\\\"y\"}, [], true]");
    assert_int_equal(tw__json_count(v), 4);
    assert_int_equal(tw__json_at(v, 1, &w), 0);
    assert_str(w, "{\"b\": \"x\\\"y\"}");
    assert_int_equal(tw__json_get(w, "b", &w), 0);
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_int_equal(tw__json_unquote(w, &b), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "x\"y", 3);
    assert_int_equal(tw__json_at(v, 4, &w), TW_ENOTFOUND);
    assert_int_equal(tw__json_at(v, 2, &w), 0);
    assert_int_equal(tw__json_count(w), 0);
    assert_int_equal(tw__json_at(v, 3, &w), 0);
    bool bv;
    assert_int_equal(tw__json_to_bool(w, &bv), 0);
    assert_true(bv);
    assert_int_equal(tw__json_get(S(doc), "key", &v), 0); /* escaped key */
    double d;
    assert_int_equal(tw__json_to_double(v, &d), 0);
    assert_true(d == -125.0);
    int64_t i64;
    assert_int_equal(tw__json_to_int64(v, &i64), TW_EPARSE);
    assert_int_equal(tw__json_get(S(doc), "s", &v), 0);
    assert_int_equal(tw__json_to_int64(v, &i64), 0);
    assert_true(i64 == INT64_MAX);
    assert_int_equal(tw__json_get(S(doc), "missing", &v), TW_ENOTFOUND);
    assert_int_equal(tw__json_to_int64(S("-9223372036854775808"), &i64), 0);
    assert_true(i64 == INT64_MIN);
    assert_int_equal(tw__json_to_int64(S("9223372036854775808"), &i64), TW_EPARSE);
    assert_int_equal(tw__json_to_int64(S("\"12"), &i64), TW_EPARSE);
    assert_int_equal(tw__json_to_int64(S("\"\""), &i64), TW_EPARSE);
    assert_int_equal(tw__json_to_double(S("\"NaN\""), &d), 0);
    assert_true(isnan(d));
    assert_int_equal(tw__json_to_double(S("\"-Infinity\""), &d), 0);
    assert_true(isinf(d) && d < 0);
    assert_int_equal(tw__json_to_double(S("1."), &d), TW_EPARSE);

    /* Unquoting: escapes, surrogate pairs, lone surrogates. */
    tw__buf_reset(&b);
    assert_int_equal(tw__json_unquote(S("\"\\b\\f\\n\\r\\t\\/\\\\\\u00e9\\ud83d\\ude00\\ud800x\\udc00\""), &b), 0);
    const char *want = "\b\f\n\r\t/\\\xc3\xa9\xf0\x9f\x98\x80" FFFD "x" FFFD;
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    tw__buf_free(&b);
}

static void test_reader_malformed(void **state) {
    static const char *bad[] = {
        "", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,\"a\":1}", "{\"a\" 1}", "{a:1}", "[1,]", "[,1]", "[1 2]",
        "\"abc", "\"a\\x\"", "\"a\\u12g4\"", "\"a\x01\"", "tru", "nul", "-", "01x", "1.e5", "1e", "[", "{\"a\":[}",
    };
    tw_str v;
    for (size_t i = 0; i < TW_ARRAY_LEN(bad); i++) {
        const char *s = bad[i];
        const char *end = tw__json_skip(s, s + strlen(s));
        bool rejected = end == NULL || end != s + strlen(s);
        if (!rejected) fail_msg("accepted \"%s\"", s);
    }
    assert_int_equal(tw__json_get(S("{\"a\":1,}"), "b", &v), TW_EPARSE);
    assert_int_equal(tw__json_get(S("[1]"), "a", &v), TW_EPARSE);
    assert_int_equal(tw__json_at(S("{}"), 0, &v), TW_EPARSE);
    assert_int_equal(tw__json_count(S("[1,,2]")), TW_EPARSE);
    /* Nesting beyond the limit is refused, not recursed into. */
    char deep[2 * TW_JSON_MAX_DEPTH + 8];
    size_t n = 0;
    for (int i = 0; i <= TW_JSON_MAX_DEPTH; i++) deep[n++] = '[';
    for (int i = 0; i <= TW_JSON_MAX_DEPTH; i++) deep[n++] = ']';
    assert_null(tw__json_skip(deep, deep + n));
    assert_non_null(tw__json_skip(deep + 1, deep + n - 1));
    /* Truncations of a valid document never read past their end. */
    const char *doc = "{\"a\":[1,{\"b\":\"x\\u0041\"},[],true,null,-1.5e3]}";
    for (size_t k = 0; k < strlen(doc); k++) {
        char *cut = malloc(k ? k : 1);
        memcpy(cut, doc, k);
        assert_null(tw__json_skip(cut, cut + k));
        free(cut);
    }
}

/* Whatever bytes go in, the writer's output is valid JSON that reads back:
 * exactly for valid UTF-8. */
static void test_string_roundtrip(void **state) {
    tw__buf b, out;
    tw__buf_init(&b, 0);
    tw__buf_init(&out, 0);
    srand(99);
    for (int iter = 0; iter < 2000; iter++) {
        char in[64];
        size_t n = (size_t)rand() % sizeof in;
        for (size_t i = 0; i < n; i++) in[i] = (char)(rand() % 3 ? rand() % 128 : rand() % 256);
        tw__buf_reset(&b);
        tw__json j;
        tw__json_init(&j, &b);
        tw__json_string(&j, in, n);
        tw_str lit = {(const char *)b.data, b.len};
        assert_ptr_equal(tw__json_skip(lit.ptr, lit.ptr + lit.len), lit.ptr + lit.len);
        tw__buf_reset(&out);
        assert_int_equal(tw__json_unquote(lit, &out), 0);
        bool ascii = true;
        for (size_t i = 0; i < n; i++) ascii &= (unsigned char)in[i] < 0x80;
        if (ascii) {
            assert_int_equal(out.len, n);
            if (n) assert_memory_equal(out.data, in, n);
        }
    }
    tw__buf_free(&b);
    tw__buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure_and_commas),
        cmocka_unit_test(test_depth_limit_and_misuse),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_doubles),
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_reader_malformed),
        cmocka_unit_test(test_string_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
