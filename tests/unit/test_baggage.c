/*
 * test_baggage.c — the W3C baggage value: the spec's examples, the cases of
 * the w3c/baggage test suite, percent-decoding with U+FFFD repair, skipped
 * malformed members, the 64-member / 8192-byte limits on both sides,
 * encoding on output, immutable mutation and allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "propagation/propagation_int.h"

static tw_baggage *parse(const char *s, size_t *skipped) {
    tw_baggage *bg = (tw_baggage *)1;
    size_t sk = 999;
    assert_int_equal(tw_baggage_parse(s, strlen(s), &bg, &sk), TW_OK);
    if (skipped) *skipped = sk;
    return bg;
}

static void assert_str(tw_str got, const char *want, size_t want_len) {
    if (got.len != want_len || memcmp(got.ptr, want, want_len) != 0)
        fail_msg("got \"%.*s\" (%zu), want \"%.*s\" (%zu)", (int)got.len, got.ptr, got.len, (int)want_len, want,
                 want_len);
}

static void assert_get(const tw_baggage *bg, const char *key, const char *want) {
    tw_str v;
    if (tw_baggage_get(bg, key, &v) != TW_OK) fail_msg("no key \"%s\"", key);
    assert_str(v, want, strlen(want));
}

static void assert_entry(const tw_baggage *bg, size_t i, const char *k, const char *v, const char *m) {
    tw_str ks, vs, ms;
    assert_int_equal(tw_baggage_at(bg, i, &ks, &vs, &ms), TW_OK);
    assert_str(ks, k, strlen(k));
    assert_str(vs, v, strlen(v));
    assert_str(ms, m, strlen(m));
}

static void assert_format(const tw_baggage *bg, const char *want) {
    static char buf[TW_BAGGAGE_MAX_BYTES + 1];
    int n = tw_baggage_format(bg, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
}

/* The example of the spec's "Header Content" section. */
static void test_spec_example(void **state) {
    size_t sk;
    tw_baggage *bg =
        parse("key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue", &sk);
    assert_int_equal(sk, 0);
    assert_int_equal(tw_baggage_count(bg), 3);
    assert_entry(bg, 0, "key1", "value1", "property1;property2");
    assert_entry(bg, 1, "key2", "value2", "");
    assert_entry(bg, 2, "key3", "value3", "propertyKey=propertyValue");
    assert_format(bg, "key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue");
    tw_baggage_unref(bg);
}

/* "Examples of HTTP headers" */
static void test_spec_http_examples(void **state) {
    tw_baggage *bg = parse("userId=alice,serverNode=DF%2028,isProduction=false", NULL);
    assert_get(bg, "userId", "alice");
    assert_get(bg, "serverNode", "DF 28");
    assert_get(bg, "isProduction", "false");
    assert_format(bg, "userId=alice,serverNode=DF%2028,isProduction=false");
    tw_baggage_unref(bg);

    bg = parse("userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false", NULL);
    assert_get(bg, "userId", "Am\xc3\xa9lie");
    assert_format(bg, "userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false");
    tw_baggage_unref(bg);

    tw_str split[] = {{"userId=alice", TW_NTS}, {"serverNode=DF%2028,isProduction=false", TW_NTS}};
    assert_int_equal(tw__baggage_parse_parts(split, 2, &bg, NULL), TW_OK);
    assert_int_equal(tw_baggage_count(bg), 3);
    assert_get(bg, "serverNode", "DF 28");
    tw_baggage_unref(bg);

    tw_str spaced[] = {{"userId =   alice", TW_NTS}, {"serverNode = DF%2028, isProduction = false", TW_NTS}};
    assert_int_equal(tw__baggage_parse_parts(spaced, 2, &bg, NULL), TW_OK);
    assert_get(bg, "userId", "alice");
    assert_get(bg, "serverNode", "DF 28");
    assert_get(bg, "isProduction", "false");
    tw_baggage_unref(bg);
}

/* w3c/baggage test/test_baggage.py */
static void test_w3c_suite(void **state) {
    tw_baggage *bg = parse("SomeKey=SomeValue;SomeProp,SomeKey2=SomeValue2;ValueProp=PropVal", NULL);
    assert_entry(bg, 0, "SomeKey", "SomeValue", "SomeProp");
    assert_entry(bg, 1, "SomeKey2", "SomeValue2", "ValueProp=PropVal");
    tw_baggage_unref(bg);

    bg = parse("SomeKey \t = \t SomeValue \t ; \t SomeProp \t , \t SomeKey2 \t = \t SomeValue2 \t ; \t ValueProp "
               "\t = \t PropVal",
               NULL);
    assert_entry(bg, 0, "SomeKey", "SomeValue", "SomeProp");
    assert_entry(bg, 1, "SomeKey2", "SomeValue2", "ValueProp \t = \t PropVal"); /* verbatim */
    tw_baggage_unref(bg);

    bg = parse("SomeKey=SomeValue=equals", NULL);
    assert_get(bg, "SomeKey", "SomeValue=equals");
    tw_baggage_unref(bg);

    /* urllib.parse.quote of "\t \"';=asdf!@#$%^&*()" */
    bg = parse("SomeKey \t = \t %09%20%22%27%3B%3Dasdf%21%40%23%24%25%5E%26%2A%28%29 \t ", NULL);
    assert_get(bg, "SomeKey", "\t \"';=asdf!@#$%^&*()");
    /* we encode only what must be: outside baggage-octet, and '%' */
    assert_format(bg, "SomeKey=%09%20%22'%3B=asdf!@#$%25^&*()");
    tw_baggage_unref(bg);

    bg = parse("SomeKey \t = \t SomeValue \t ; \t SomeProp \t ; \t SecondProp \t = \t PropValue", NULL);
    assert_entry(bg, 0, "SomeKey", "SomeValue", "SomeProp \t ; \t SecondProp \t = \t PropValue");
    tw_baggage_unref(bg);
}

static void test_empty_values_and_headers(void **state) {
    size_t sk;
    tw_baggage *bg = parse("k=,k2= ;p", &sk);
    assert_int_equal(sk, 0);
    assert_get(bg, "k", "");
    assert_entry(bg, 1, "k2", "", "p");
    assert_format(bg, "k=,k2=;p");
    tw_baggage_unref(bg);

    const char *nothing[] = {"", "  ", ",", " , ,\t"};
    for (size_t i = 0; i < TW_ARRAY_LEN(nothing); i++) {
        bg = parse(nothing[i], &sk);
        assert_null(bg);
        assert_int_equal(sk, 0);
    }
    assert_int_equal(tw_baggage_parse(NULL, 0, &bg, NULL), TW_OK);
    assert_null(bg);
    assert_int_equal(tw_baggage_count(NULL), 0);
}

static void test_malformed_members_skipped(void **state) {
    const char *bad[] = {
        "k",          "=v",         "k v=1",       "k=a b",     "k=\"x\"",       "k=a\\b",  "k=%",
        "k=%4",       "k=%zz",      "k=a%g1",      "k=v;",      "k=v;=x",        "k=v;p=\"", "k=v x",
        "k\xc3\xa9=v", "k=v\xc3\xa9", "k=v;;p",      "k=v;p q",   "k(=v",          "k=v\x01",
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(bad); i++) {
        char h[64];
        snprintf(h, sizeof h, "a=1,%s,b=2", bad[i]);
        size_t sk = 0;
        tw_baggage *bg = parse(h, &sk);
        if (sk != 1 || tw_baggage_count(bg) != 2) fail_msg("\"%s\": skipped %zu, kept %zu", bad[i], sk, tw_baggage_count(bg));
        assert_get(bg, "a", "1");
        assert_get(bg, "b", "2");
        tw_baggage_unref(bg);
        /* alone, nothing is left */
        bg = parse(bad[i], &sk);
        assert_null(bg);
        assert_int_equal(sk, 1);
    }
    /* token characters all accepted in keys and property keys */
    tw_baggage *bg = parse("!#$%&'*+-.^_`|~09azAZ=v;!#$%&'*+-.^_`|~=x", NULL);
    assert_entry(bg, 0, "!#$%&'*+-.^_`|~09azAZ", "v", "!#$%&'*+-.^_`|~=x");
    tw_baggage_unref(bg);
}

static void test_percent_decoding(void **state) {
    tw_baggage *bg = parse("a=%41%62c,b=%00x,c=%e2%82%ac,d=%F0%9F%98%80,e=100%25", NULL);
    assert_get(bg, "a", "Abc");
    tw_str v;
    assert_int_equal(tw_baggage_get(bg, "b", &v), TW_OK);
    assert_str(v, "\0x", 2);
    assert_get(bg, "c", "\xe2\x82\xac");
    assert_get(bg, "d", "\xf0\x9f\x98\x80");
    assert_get(bg, "e", "100%");
    assert_format(bg, "a=Abc,b=%00x,c=%E2%82%AC,d=%F0%9F%98%80,e=100%25");
    tw_baggage_unref(bg);
}

#define FFFD "\xef\xbf\xbd"

/* Ill-formed UTF-8 becomes U+FFFD, one per maximal ill-formed subpart. */
static void test_invalid_utf8_replaced(void **state) {
    struct { const char *in, *want; } cases[] = {
        {"k=aa%ffcc", "aa" FFFD "cc"},
        {"k=d%fff", "d" FFFD "f"},
        {"k=%C3", FFFD},
        {"k=%C3x", FFFD "x"},
        {"k=%E2%82", FFFD},
        {"k=%E2%82x", FFFD "x"},
        {"k=%ED%A0%80", FFFD FFFD FFFD},   /* a surrogate */
        {"k=%C0%AF", FFFD FFFD},           /* overlong */
        {"k=%F4%90%80%80", FFFD FFFD FFFD FFFD}, /* past U+10FFFF */
        {"k=%F0%9F%98", FFFD},
        {"k=%80", FFFD},
        {"k=%E2%28%A1", FFFD "(" FFFD},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(cases); i++) {
        tw_baggage *bg = parse(cases[i].in, NULL);
        assert_non_null(bg);
        tw_str v;
        assert_int_equal(tw_baggage_get(bg, "k", &v), TW_OK);
        if (v.len != strlen(cases[i].want) || memcmp(v.ptr, cases[i].want, v.len))
            fail_msg("%s: got %zu bytes", cases[i].in, v.len);
        tw_baggage_unref(bg);
    }
}

static void test_duplicate_key_last_wins(void **state) {
    size_t sk;
    tw_baggage *bg = parse("a=1,b=2,a=3;p", &sk);
    assert_int_equal(sk, 0);
    assert_int_equal(tw_baggage_count(bg), 2);
    assert_entry(bg, 0, "a", "3", "p");
    assert_entry(bg, 1, "b", "2", "");
    tw_baggage_unref(bg);
    /* keys are case-sensitive */
    bg = parse("a=1,A=2", NULL);
    assert_int_equal(tw_baggage_count(bg), 2);
    tw_baggage_unref(bg);
}

static char *members(int from, int to) {
    char *s = malloc(16 * (size_t)(to - from + 1) + 1);
    size_t n = 0;
    for (int i = from; i <= to; i++) n += (size_t)sprintf(s + n, "%sk%d=%d", i > from ? "," : "", i, i);
    s[n] = '\0';
    return s;
}

static void test_parse_member_limit(void **state) {
    char *h = members(1, 64);
    size_t sk;
    tw_baggage *bg = parse(h, &sk);
    assert_int_equal(tw_baggage_count(bg), 64);
    assert_int_equal(sk, 0);
    tw_baggage_unref(bg);
    free(h);
    h = members(1, 70);
    bg = parse(h, &sk);
    assert_int_equal(tw_baggage_count(bg), 64);
    assert_int_equal(sk, 6);
    assert_int_equal(tw_baggage_get(bg, "k64", NULL), TW_OK);
    assert_int_equal(tw_baggage_get(bg, "k65", NULL), TW_ENOTFOUND);
    /* a repeated key still replaces when the list is full */
    tw_baggage_unref(bg);
    char *h2 = malloc(strlen(h) + 16);
    sprintf(h2, "%s,k1=x", h);
    bg = parse(h2, &sk);
    assert_get(bg, "k1", "x");
    tw_baggage_unref(bg);
    free(h), free(h2);
}

static void test_parse_byte_limit(void **state) {
    /* w3c test_serialize_long_entry: "a=" + 8190 bytes is exactly 8192 */
    char *h = malloc(9000);
    strcpy(h, "a=");
    for (int i = 0; i < 819; i++) memcpy(h + 2 + 10 * i, "0123456789", 10);
    h[8192] = '\0';
    size_t sk;
    tw_baggage *bg = parse(h, &sk);
    assert_int_equal(tw_baggage_count(bg), 1);
    assert_int_equal(sk, 0);
    static char buf[TW_BAGGAGE_MAX_BYTES + 1];
    assert_int_equal(tw_baggage_format(bg, buf, sizeof buf), 8192);
    assert_string_equal(buf, h);
    tw_baggage_unref(bg);
    /* one byte more: dropped whole, never cut */
    strcat(h, "x");
    bg = parse(h, &sk);
    assert_null(bg);
    assert_int_equal(sk, 1);
    /* a member that does not fit is dropped; a later small one still fits */
    h[8192] = '\0';
    h[8100] = '\0'; /* a=<8098 bytes> : 8100 */
    strcat(h, ",big=0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890,s=1");
    bg = parse(h, &sk);
    assert_int_equal(sk, 1);
    assert_int_equal(tw_baggage_count(bg), 2);
    assert_int_equal(tw_baggage_get(bg, "big", NULL), TW_ENOTFOUND);
    assert_get(bg, "s", "1");
    tw_baggage_unref(bg);
    /* the limit counts encoded bytes: "%41" decodes to "A", which costs 1 */
    char *enc = malloc(3 * 8190 + 3);
    strcpy(enc, "a=");
    for (int i = 0; i < 8190; i++) memcpy(enc + 2 + 3 * i, "%41", 3);
    enc[2 + 3 * 8190] = '\0';
    bg = parse(enc, &sk);
    assert_int_equal(tw_baggage_count(bg), 1);
    assert_int_equal(tw_baggage_format(bg, buf, sizeof buf), 8192);
    tw_baggage_unref(bg);
    free(enc);
    free(h);
}

static void test_set_and_remove(void **state) {
    tw_baggage *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(tw_baggage_set(NULL, "user", "Amélie & co", NULL, &a), TW_OK);
    assert_get(a, "user", "Amélie & co");
    assert_format(a, "user=Am%C3%A9lie%20&%20co");
    assert_int_equal(tw_baggage_set(a, "node", "DF 28", " ttl=30 ; private ", &b), TW_OK);
    assert_entry(b, 1, "node", "DF 28", "ttl=30 ; private");
    assert_format(b, "user=Am%C3%A9lie%20&%20co,node=DF%2028;ttl=30 ; private");
    /* replacing keeps the place; the input is untouched */
    assert_int_equal(tw_baggage_set(b, "user", "bob", "", &c), TW_OK);
    assert_format(c, "user=bob,node=DF%2028;ttl=30 ; private");
    assert_format(b, "user=Am%C3%A9lie%20&%20co,node=DF%2028;ttl=30 ; private");
    tw_baggage_unref(a), tw_baggage_unref(b);

    assert_int_equal(tw_baggage_remove(c, "user", &a), TW_OK);
    assert_format(a, "node=DF%2028;ttl=30 ; private");
    assert_int_equal(tw_baggage_remove(c, "nobody", &b), TW_OK);
    assert_ptr_equal(b, c);
    tw_baggage_unref(b);
    assert_int_equal(tw_baggage_remove(a, "node", &b), TW_OK);
    assert_non_null(b);
    assert_int_equal(tw_baggage_count(b), 0);
    assert_format(b, "");
    tw_baggage_unref(tw_baggage_ref(b));
    tw_baggage_unref(a), tw_baggage_unref(b), tw_baggage_unref(c);
    assert_int_equal(tw_baggage_remove(NULL, "x", &a), TW_OK);
    assert_null(a);
}

static void test_set_invalid(void **state) {
    tw_baggage *out = (tw_baggage *)1;
    assert_int_equal(tw_baggage_set(NULL, "", "v", NULL, &out), TW_EINVAL);
    assert_null(out);
    assert_int_equal(tw_baggage_set(NULL, "a b", "v", NULL, &out), TW_EINVAL);
    assert_int_equal(tw_baggage_set(NULL, "a=b", "v", NULL, &out), TW_EINVAL);
    assert_int_equal(tw_baggage_set(NULL, "k\xc3\xa9", "v", NULL, &out), TW_EINVAL);
    assert_int_equal(tw_baggage_set(NULL, NULL, "v", NULL, &out), TW_EINVAL);
    assert_int_equal(tw_baggage_set(NULL, "k", "v", "a,b", &out), TW_EINVAL);
    assert_int_equal(tw_baggage_set(NULL, "k", "v", "p=\"q\"", &out), TW_EINVAL);
    assert_int_equal(tw_baggage_set(NULL, "k", "v", ";p", &out), TW_EINVAL);
    assert_int_equal(tw_baggage_set(NULL, "k", "v", NULL, NULL), TW_EINVAL);
    /* a NULL value is an empty one; ill-formed UTF-8 is repaired */
    assert_int_equal(tw_baggage_set(NULL, "k", NULL, NULL, &out), TW_OK);
    assert_get(out, "k", "");
    tw_baggage_unref(out);
    assert_int_equal(tw_baggage_set(NULL, "k", "a\xff", NULL, &out), TW_OK);
    assert_get(out, "k", "a" FFFD);
    tw_baggage_unref(out);
}

static void test_format_limits(void **state) {
    /* more than 64 members added by the program: the first 64 leave */
    tw_baggage *bg = NULL, *next;
    for (int i = 0; i < 70; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(tw_baggage_set(bg, k, "v", NULL, &next), TW_OK);
        tw_baggage_unref(bg);
        bg = next;
    }
    assert_int_equal(tw_baggage_count(bg), 70);
    static char buf[TW_BAGGAGE_MAX_BYTES + 1];
    int n = tw_baggage_format(bg, buf, sizeof buf);
    assert_true(n > 0);
    int commas = 0;
    for (int i = 0; i < n; i++) commas += buf[i] == ',';
    assert_int_equal(commas, 63);
    assert_non_null(strstr(buf, "k63=v"));
    assert_null(strstr(buf, "k64=v"));
    tw_baggage_unref(bg);

    /* a member too big for 8192 bytes is dropped whole, the others kept */
    char *big = malloc(9000);
    memset(big, 'x', 8999);
    big[8999] = '\0';
    assert_int_equal(tw_baggage_set(NULL, "a", "1", NULL, &bg), TW_OK);
    assert_int_equal(tw_baggage_set(bg, "big", big, NULL, &next), TW_OK);
    tw_baggage_unref(bg);
    assert_int_equal(tw_baggage_set(next, "z", " ", NULL, &bg), TW_OK);
    tw_baggage_unref(next);
    assert_format(bg, "a=1,z=%20");
    tw_baggage_unref(bg);
    free(big);
}

static void test_format_buffer(void **state) {
    tw_baggage *bg = parse("a=1,b=%20", NULL);
    char buf[16];
    memset(buf, '#', sizeof buf);
    assert_int_equal(tw_baggage_format(bg, buf, 9), TW_ERANGE); /* "a=1,b=%20" is 9 + NUL */
    assert_int_equal(buf[0], '#');
    assert_int_equal(tw_baggage_format(bg, buf, 10), 9);
    assert_string_equal(buf, "a=1,b=%20");
    assert_int_equal(tw_baggage_format(bg, buf, 0), TW_ERANGE);
    assert_int_equal(tw_baggage_format(NULL, buf, 1), 0);
    assert_string_equal(buf, "");
    tw_baggage_unref(bg);
}

static void test_round_trip(void **state) {
    const char *in = "a=%c3%a9%20x;p1;p2=v, b = c=d , e=%FF,f=";
    tw_baggage *bg = parse(in, NULL), *back = NULL;
    static char buf[TW_BAGGAGE_MAX_BYTES + 1];
    int n = tw_baggage_format(bg, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(tw_baggage_parse(buf, (size_t)n, &back, NULL), TW_OK);
    assert_int_equal(tw_baggage_count(back), tw_baggage_count(bg));
    for (size_t i = 0; i < tw_baggage_count(bg); i++) {
        tw_str k1, v1, m1, k2, v2, m2;
        tw_baggage_at(bg, i, &k1, &v1, &m1);
        tw_baggage_at(back, i, &k2, &v2, &m2);
        assert_str(k2, k1.ptr, k1.len);
        assert_str(v2, v1.ptr, v1.len);
        assert_str(m2, m1.ptr, m1.len);
    }
    static char buf2[TW_BAGGAGE_MAX_BYTES + 1];
    assert_int_equal(tw_baggage_format(back, buf2, sizeof buf2), n);
    assert_string_equal(buf, buf2);
    tw_baggage_unref(bg), tw_baggage_unref(back);
}

static void test_alloc_failure(void **state) {
    tw_baggage *bg = (tw_baggage *)1, *out = (tw_baggage *)1;
    tw__alloc_fail_after(0);
    int rc = tw_baggage_parse("a=1", 3, &bg, NULL);
    int rc2 = tw_baggage_set(NULL, "a", "1", NULL, &out);
    /* nothing valid: nothing to allocate, so no failure */
    tw_baggage *none = (tw_baggage *)1;
    int rc3 = tw_baggage_parse("a b", 3, &none, NULL);
    tw__alloc_fail_after(-1);
    assert_int_equal(rc, TW_ENOMEM);
    assert_null(bg);
    assert_int_equal(rc2, TW_ENOMEM);
    assert_null(out);
    assert_int_equal(rc3, TW_OK);
    assert_null(none);

    /* beyond 64 entries, set needs a scratch array too */
    bg = NULL;
    for (int i = 0; i < 65; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(tw_baggage_set(bg, k, "v", NULL, &out), TW_OK);
        tw_baggage_unref(bg);
        bg = out;
    }
    for (long budget = 0; budget < 2; budget++) {
        tw__alloc_fail_after(budget);
        rc = tw_baggage_set(bg, "new", "v", NULL, &out);
        tw__alloc_fail_after(-1);
        assert_int_equal(rc, TW_ENOMEM);
        assert_null(out);
    }
    assert_int_equal(tw_baggage_set(bg, "new", "v", NULL, &out), TW_OK);
    assert_int_equal(tw_baggage_count(out), 66);
    tw_baggage_unref(out);
    tw_baggage_unref(bg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_spec_http_examples),
        cmocka_unit_test(test_w3c_suite),
        cmocka_unit_test(test_empty_values_and_headers),
        cmocka_unit_test(test_malformed_members_skipped),
        cmocka_unit_test(test_percent_decoding),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_duplicate_key_last_wins),
        cmocka_unit_test(test_parse_member_limit),
        cmocka_unit_test(test_parse_byte_limit),
        cmocka_unit_test(test_set_and_remove),
        cmocka_unit_test(test_set_invalid),
        cmocka_unit_test(test_format_limits),
        cmocka_unit_test(test_format_buffer),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
