/*
 * test_tracestate.c — the tracestate value: the ABNF member by member with
 * the reason for each refusal, the w3c/trace-context test suite's
 * tracestate cases, several header lines, mutation (moves left, 32 limit),
 * truncation by whole entries, immutability, reference counting across
 * threads and allocation failures.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "propagation/propagation_int.h"

static tw_tracestate *parse_ok(const char *s) {
    tw_tracestate *ts = (tw_tracestate *)1;
    const char *why = NULL;
    int rc = tw_tracestate_parse(s, strlen(s), &ts, &why);
    if (rc != TW_OK) fail_msg("refused \"%s\": %s", s, why ? why : "?");
    return ts;
}

static const char *refuse(const char *s) {
    tw_tracestate *ts = (tw_tracestate *)1;
    const char *why = NULL;
    int rc = tw_tracestate_parse(s, strlen(s), &ts, &why);
    if (rc != TW_EPARSE) fail_msg("accepted \"%s\"", s);
    assert_null(ts);
    assert_non_null(why);
    return why;
}

static void assert_get(const tw_tracestate *ts, const char *key, const char *want) {
    tw_str v;
    if (tw_tracestate_get(ts, key, &v) != TW_OK) fail_msg("no key \"%s\"", key);
    if (v.len != strlen(want) || memcmp(v.ptr, want, v.len) != 0)
        fail_msg("%s = \"%.*s\", want \"%s\"", key, (int)v.len, v.ptr, want);
}

static void assert_format(const tw_tracestate *ts, size_t max_len, const char *want) {
    char buf[32 * 520];
    int n = tw_tracestate_format(ts, max_len, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
}

static char *repeat(char c, size_t n) {
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_simple(void **state) {
    tw_tracestate *ts = parse_ok("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    assert_int_equal(tw_tracestate_count(ts), 2);
    assert_get(ts, "rojo", "00f067aa0ba902b7");
    assert_get(ts, "congo", "t61rcWkgMzE");
    tw_str k, v;
    assert_int_equal(tw_tracestate_at(ts, 1, &k, &v), TW_OK);
    assert_int_equal(k.len, 5);
    assert_memory_equal(k.ptr, "congo", 5);
    assert_int_equal(tw_tracestate_at(ts, 2, &k, &v), TW_ENOTFOUND);
    assert_int_equal(tw_tracestate_get(ts, "rojo2", &v), TW_ENOTFOUND);
    assert_int_equal(tw_tracestate_get(ts, "roj", &v), TW_ENOTFOUND);
    assert_int_equal(tw_tracestate_get(ts, "", &v), TW_ENOTFOUND);
    assert_int_equal(tw_tracestate_get(NULL, "rojo", &v), TW_ENOTFOUND);
    assert_format(ts, 0, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    tw_tracestate_unref(ts);
}

static void test_empty_header(void **state) {
    const char *empties[] = {"", " ", ",", " , \t,, ", "\t"};
    for (size_t i = 0; i < TW_ARRAY_LEN(empties); i++) {
        tw_tracestate *ts = (tw_tracestate *)1;
        assert_int_equal(tw_tracestate_parse(empties[i], strlen(empties[i]), &ts, NULL), TW_OK);
        assert_null(ts);
    }
    tw_tracestate *ts = (tw_tracestate *)1;
    assert_int_equal(tw_tracestate_parse(NULL, 0, &ts, NULL), TW_OK);
    assert_null(ts);
    assert_int_equal(tw_tracestate_count(NULL), 0);
}

/* test.py: test_tracestate_ows_handling */
static void test_w3c_ows(void **state) {
    const char *inputs[] = {"foo=1 \t , \t bar=2, \t baz=3", "foo=1\t \t,\t \tbar=2,\t \tbaz=3"};
    for (size_t i = 0; i < TW_ARRAY_LEN(inputs); i++) {
        tw_tracestate *ts = parse_ok(inputs[i]);
        assert_get(ts, "foo", "1");
        assert_get(ts, "bar", "2");
        assert_get(ts, "baz", "3");
        assert_format(ts, 0, "foo=1,bar=2,baz=3");
        tw_tracestate_unref(ts);
    }
    const char *single[] = {" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"};
    for (size_t i = 0; i < TW_ARRAY_LEN(single); i++) {
        tw_tracestate *ts = parse_ok(single[i]);
        assert_int_equal(tw_tracestate_count(ts), 1);
        assert_get(ts, "foo", "1");
        tw_tracestate_unref(ts);
    }
}

/* Leading spaces of a value are part of it; trailing ones are OWS. */
static void test_value_spaces(void **state) {
    tw_tracestate *ts = parse_ok("foo=  bar  ,x= y z");
    assert_get(ts, "foo", "  bar");
    assert_get(ts, "x", " y z");
    assert_format(ts, 0, "foo=  bar,x= y z");
    tw_tracestate_unref(ts);
    assert_string_equal(refuse("foo=   "), "tracestate: empty value");
}

/* test_tracestate_multiple_headers_different_keys and the empty-header cases. */
static void test_w3c_several_lines(void **state) {
    tw_str parts[] = {{"foo=1,bar=2", TW_NTS}, {"rojo=1,congo=2", TW_NTS}, {"baz=3", TW_NTS}};
    tw_tracestate *ts = NULL;
    assert_int_equal(tw__tracestate_parse_parts(parts, 3, &ts, NULL), TW_OK);
    assert_format(ts, 0, "foo=1,bar=2,rojo=1,congo=2,baz=3");
    tw_tracestate_unref(ts);

    tw_str with_empty[] = {{"", 0}, {"foo=1", 5}, {NULL, 0}, {" ", 1}};
    assert_int_equal(tw__tracestate_parse_parts(with_empty, 4, &ts, NULL), TW_OK);
    assert_format(ts, 0, "foo=1");
    tw_tracestate_unref(ts);

    /* duplicates across lines are duplicates */
    tw_str dup[] = {{"foo=1", 5}, {"foo=2", 5}};
    const char *why = NULL;
    assert_int_equal(tw__tracestate_parse_parts(dup, 2, &ts, &why), TW_EPARSE);
    assert_null(ts);
    assert_string_equal(why, "tracestate: duplicate key");
    /* a line boundary separates members like a comma */
    tw_str split[] = {{"a=1", 3}, {"b=2", 3}};
    assert_int_equal(tw__tracestate_parse_parts(split, 2, &ts, NULL), TW_OK);
    assert_int_equal(tw_tracestate_count(ts), 2);
    tw_tracestate_unref(ts);
}

/* test_tracestate_duplicated_keys */
static void test_w3c_duplicated_keys(void **state) {
    assert_string_equal(refuse("foo=1,foo=1"), "tracestate: duplicate key");
    assert_string_equal(refuse("foo=1,foo=2"), "tracestate: duplicate key");
    assert_string_equal(refuse("a@b=1,c=2,a@b=3"), "tracestate: duplicate key");
    tw_tracestate_unref(parse_ok("a@b=1,a=2,b=3,a@c=4")); /* different keys */
}

/* test_tracestate_all_allowed_characters */
static void test_w3c_all_allowed_characters(void **state) {
    char key[128], value[128], member[300];
    size_t n = 0;
    for (char c = 'a'; c <= 'z'; c++) key[n++] = c;
    memcpy(key + n, "0123456789_-*/", 15);
    n = 0;
    for (int c = 0x20; c <= 0x2b; c++) value[n++] = (char)c;
    for (int c = 0x2d; c <= 0x3c; c++) value[n++] = (char)c;
    for (int c = 0x3e; c <= 0x7e; c++) value[n++] = (char)c;
    value[n] = '\0';

    snprintf(member, sizeof member, "%s=%s", key, value);
    tw_tracestate *ts = parse_ok(member);
    assert_get(ts, key, value);
    tw_tracestate_unref(ts);

    char vkey[160];
    snprintf(vkey, sizeof vkey, "%s@a-z0-9_-*/", key);
    snprintf(member, sizeof member, "%s=%s", vkey, value);
    ts = parse_ok(member);
    assert_get(ts, vkey, value);
    tw_tracestate_unref(ts);
}

/* test_tracestate_key_illegal_characters */
static void test_w3c_key_illegal_characters(void **state) {
    assert_string_equal(refuse("foo =1"), "tracestate: invalid character in key");
    assert_string_equal(refuse("FOO=1"), "tracestate: key does not start with a lowercase letter");
    assert_string_equal(refuse("fOO=1"), "tracestate: invalid character in key");
    assert_string_equal(refuse("foo.bar=1"), "tracestate: invalid character in key");
    assert_string_equal(refuse("1foo=1"), "tracestate: key does not start with a lowercase letter");
    assert_string_equal(refuse("=1"), "tracestate: empty key");
    assert_string_equal(refuse("foo"), "tracestate: list member without '='");
    assert_string_equal(refuse("foo=1,bar"), "tracestate: list member without '='");
}

/* test_tracestate_key_illegal_vendor_format */
static void test_w3c_key_illegal_vendor_format(void **state) {
    assert_string_equal(refuse("foo@=1,bar=2"), "tracestate: empty system id after '@'");
    assert_string_equal(refuse("@foo=1,bar=2"), "tracestate: empty tenant id before '@'");
    assert_string_equal(refuse("foo@@bar=1,bar=2"), "tracestate: system id does not start with a lowercase letter");
    assert_string_equal(refuse("foo@bar@baz=1,bar=2"), "tracestate: invalid character in key");
    assert_string_equal(refuse("_a@b=1"), "tracestate: tenant id does not start with a lowercase letter or digit");
    assert_string_equal(refuse("a@1b=1"), "tracestate: system id does not start with a lowercase letter");
    assert_string_equal(refuse("a@bC=1"), "tracestate: invalid character in key");
    assert_string_equal(refuse("a.@b=1"), "tracestate: invalid character in key");
    tw_tracestate *ts = parse_ok("1a@b=1,0@z9_-*/=2");
    assert_get(ts, "1a@b", "1");
    assert_get(ts, "0@z9_-*/", "2");
    tw_tracestate_unref(ts);
}

/* test_tracestate_member_count_limit */
static void test_w3c_member_count_limit(void **state) {
    char buf[1024];
    size_t n = 0;
    for (int i = 1; i <= 32; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, "%sbar%02d=%02d", i > 1 ? "," : "", i, i);
    tw_tracestate *ts = parse_ok(buf);
    assert_int_equal(tw_tracestate_count(ts), 32);
    assert_get(ts, "bar01", "01");
    tw_tracestate_unref(ts);
    /* empty members do not count */
    char with_empties[1100];
    snprintf(with_empties, sizeof with_empties, ", ,%s,,", buf);
    ts = parse_ok(with_empties);
    assert_int_equal(tw_tracestate_count(ts), 32);
    tw_tracestate_unref(ts);
    snprintf(buf + n, sizeof buf - n, ",bar33=33");
    assert_string_equal(refuse(buf), "tracestate: more than 32 list members");
}

/* test_tracestate_key_length_limit */
static void test_w3c_key_length_limit(void **state) {
    char m[600];
    char *z256 = repeat('z', 256), *z257 = repeat('z', 257), *t241 = repeat('t', 241), *t242 = repeat('t', 242),
         *v14 = repeat('v', 14), *v15 = repeat('v', 15);
    snprintf(m, sizeof m, "foo=1,%s=1", z256);
    tw_tracestate *ts = parse_ok(m);
    assert_get(ts, "foo", "1");
    assert_get(ts, z256, "1");
    tw_tracestate_unref(ts);
    snprintf(m, sizeof m, "foo=1,%s=1", z257);
    assert_string_equal(refuse(m), "tracestate: key longer than 256 characters");
    snprintf(m, sizeof m, "foo=1,%s@%s=1", t241, v14);
    tw_tracestate_unref(parse_ok(m));
    snprintf(m, sizeof m, "foo=1,%s@v=1", t242);
    assert_string_equal(refuse(m), "tracestate: tenant id longer than 241 characters");
    snprintf(m, sizeof m, "foo=1,t@%s=1", v15);
    assert_string_equal(refuse(m), "tracestate: system id longer than 14 characters");
    free(z256), free(z257), free(t241), free(t242), free(v14), free(v15);
}

/* test_tracestate_value_illegal_characters, and the value's length. */
static void test_w3c_value_illegal(void **state) {
    assert_string_equal(refuse("foo=bar=baz"), "tracestate: invalid character in value");
    assert_string_equal(refuse("foo=,bar=3"), "tracestate: empty value");
    assert_string_equal(refuse("foo=a\tb"), "tracestate: invalid character in value");
    assert_string_equal(refuse("foo=a\x7f"), "tracestate: invalid character in value");
    assert_string_equal(refuse("foo=caf\xc3\xa9"), "tracestate: invalid character in value");
    char m[600];
    char *v256 = repeat('x', 256), *v257 = repeat('x', 257);
    snprintf(m, sizeof m, "a=%s", v256);
    tw_tracestate *ts = parse_ok(m);
    assert_get(ts, "a", v256);
    tw_tracestate_unref(ts);
    snprintf(m, sizeof m, "a=%s", v257);
    assert_string_equal(refuse(m), "tracestate: value longer than 256 characters");
    free(v256), free(v257);
}

static void test_set_moves_left(void **state) {
    tw_tracestate *ts = parse_ok("congo=t61rcWkgMzE"), *a = NULL, *b = NULL;
    assert_int_equal(tw_tracestate_set(ts, "rojo", "00f067aa0ba902b7", TW_NTS, &a), TW_OK);
    assert_format(a, 0, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    assert_int_equal(tw_tracestate_set(a, "congo", "ucfJifl5GOE", 11, &b), TW_OK);
    assert_format(b, 0, "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
    /* inputs unchanged */
    assert_format(ts, 0, "congo=t61rcWkgMzE");
    assert_format(a, 0, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    tw_tracestate_unref(ts), tw_tracestate_unref(a), tw_tracestate_unref(b);

    /* explicit length: only that much of the value */
    assert_int_equal(tw_tracestate_set(NULL, "ot", "th:8;rv=zzz", 4, &a), TW_OK);
    assert_format(a, 0, "ot=th:8");
    tw_tracestate_unref(a);
}

static void test_set_invalid(void **state) {
    tw_tracestate *ts = parse_ok("a=1"), *out = (tw_tracestate *)1;
    assert_int_equal(tw_tracestate_set(ts, "A", "1", TW_NTS, &out), TW_EINVAL);
    assert_null(out);
    assert_int_equal(tw_tracestate_set(ts, "b", "x,y", TW_NTS, &out), TW_EINVAL);
    assert_int_equal(tw_tracestate_set(ts, "b", "x=y", TW_NTS, &out), TW_EINVAL);
    assert_int_equal(tw_tracestate_set(ts, "b", "", TW_NTS, &out), TW_EINVAL);
    assert_int_equal(tw_tracestate_set(ts, "b", "x ", TW_NTS, &out), TW_EINVAL);
    assert_int_equal(tw_tracestate_set(ts, "b@", "x", TW_NTS, &out), TW_EINVAL);
    assert_int_equal(tw_tracestate_set(ts, NULL, "x", TW_NTS, &out), TW_EINVAL);
    assert_int_equal(tw_tracestate_set(ts, "b", NULL, 0, &out), TW_EINVAL);
    assert_int_equal(tw_tracestate_set(ts, "b", "x", TW_NTS, NULL), TW_EINVAL);
    tw_tracestate_unref(ts);
}

static void test_set_truncates_to_32(void **state) {
    char buf[1024];
    size_t n = 0;
    for (int i = 0; i < 32; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, "%sk%02d=%d", i ? "," : "", i, i);
    tw_tracestate *ts = parse_ok(buf), *out = NULL;
    assert_int_equal(tw_tracestate_set(ts, "new", "v", TW_NTS, &out), TW_OK);
    assert_int_equal(tw_tracestate_count(out), 32);
    tw_str k;
    assert_int_equal(tw_tracestate_at(out, 0, &k, NULL), TW_OK);
    assert_memory_equal(k.ptr, "new", 3);
    assert_int_equal(tw_tracestate_get(out, "k31", NULL), TW_ENOTFOUND); /* the rightmost went */
    assert_int_equal(tw_tracestate_get(out, "k30", NULL), TW_OK);
    tw_tracestate_unref(out);
    /* updating an existing key of a full state drops nothing */
    assert_int_equal(tw_tracestate_set(ts, "k31", "x", TW_NTS, &out), TW_OK);
    assert_int_equal(tw_tracestate_count(out), 32);
    assert_int_equal(tw_tracestate_get(out, "k30", NULL), TW_OK);
    assert_get(out, "k31", "x");
    tw_tracestate_unref(out);
    tw_tracestate_unref(ts);
}

static void test_remove(void **state) {
    tw_tracestate *ts = parse_ok("a=1,b=2,c=3"), *out = NULL, *out2 = NULL;
    assert_int_equal(tw_tracestate_remove(ts, "b", &out), TW_OK);
    assert_format(out, 0, "a=1,c=3");
    tw_tracestate_unref(out);
    /* absent key: the same value, one more reference */
    assert_int_equal(tw_tracestate_remove(ts, "zz", &out), TW_OK);
    assert_ptr_equal(out, ts);
    tw_tracestate_unref(out);
    assert_int_equal(tw_tracestate_remove(NULL, "a", &out), TW_OK);
    assert_null(out);
    /* removing the last member gives an empty (non-NULL) state */
    tw_tracestate *one = parse_ok("ot=th:8");
    assert_int_equal(tw_tracestate_remove(one, "ot", &out), TW_OK);
    assert_non_null(out);
    assert_int_equal(tw_tracestate_count(out), 0);
    assert_format(out, 0, "");
    assert_int_equal(tw_tracestate_set(out, "x", "1", TW_NTS, &out2), TW_OK);
    assert_format(out2, 0, "x=1");
    tw_tracestate_unref(tw_tracestate_ref(out));
    tw_tracestate_unref(out), tw_tracestate_unref(out2), tw_tracestate_unref(one);
    tw_tracestate_unref(ts);
}

static void test_format_truncation(void **state) {
    char m[400];
    char *v130 = repeat('a', 130), *v140 = repeat('c', 140);
    snprintf(m, sizeof m, "a=%s,b=1,c=%s,d=2", v130, v140);
    tw_tracestate *ts = parse_ok(m);
    char want[400];
    assert_format(ts, 0, m);
    assert_format(ts, strlen(m), m); /* exactly fits */
    snprintf(want, sizeof want, "a=%s,b=1,d=2", v130);
    assert_format(ts, 150, want);           /* the long entry on the right goes first */
    assert_format(ts, 100, "b=1,d=2");      /* then the other long one */
    assert_format(ts, 7, "b=1,d=2");
    assert_format(ts, 6, "b=1");            /* then from the right */
    assert_format(ts, 2, "");
    tw_tracestate_unref(ts);

    /* no long entries: plain right-to-left */
    ts = parse_ok("a=1,b=2,c=3");
    assert_format(ts, 8, "a=1,b=2");
    tw_tracestate_unref(ts);
    free(v130), free(v140);
}

static void test_format_buffer_too_small(void **state) {
    tw_tracestate *ts = parse_ok("a=1,b=2");
    char buf[8];
    memset(buf, '#', sizeof buf);
    assert_int_equal(tw_tracestate_format(ts, 0, buf, 7), TW_ERANGE); /* needs 8 with the NUL */
    assert_int_equal(buf[0], '#');
    assert_int_equal(tw_tracestate_format(ts, 0, buf, 8), 7);
    assert_string_equal(buf, "a=1,b=2");
    assert_int_equal(tw_tracestate_format(ts, 4, buf, 4), 3);
    assert_string_equal(buf, "a=1");
    assert_int_equal(tw_tracestate_format(ts, 0, buf, 0), TW_ERANGE);
    assert_int_equal(tw_tracestate_format(NULL, 0, buf, 1), 0);
    assert_string_equal(buf, "");
    tw_tracestate_unref(ts);
}

static void test_reasons_distinct(void **state) {
    char *z257 = repeat('z', 257), *t242 = repeat('t', 242), *v257 = repeat('v', 257), m[600];
    const char *r[18];
    size_t n = 0;
    char many[400] = "";
    for (int i = 0; i < 33; i++) snprintf(many + strlen(many), sizeof many - strlen(many), "k%d=1,", i);
    r[n++] = refuse(many);
    r[n++] = refuse("a=1,a=2");
    r[n++] = refuse("a");
    r[n++] = refuse("=a");
    snprintf(m, sizeof m, "%s=1", z257);
    r[n++] = refuse(m);
    r[n++] = refuse("A=1");
    r[n++] = refuse("a.b=1");
    r[n++] = refuse("@b=1");
    r[n++] = refuse("_@b=1");
    snprintf(m, sizeof m, "%s@b=1", t242);
    r[n++] = refuse(m);
    r[n++] = refuse("a@=1");
    r[n++] = refuse("a@1=1");
    r[n++] = refuse("a@bbbbbbbbbbbbbbb=1");
    r[n++] = refuse("a=");
    snprintf(m, sizeof m, "a=%s", v257);
    r[n++] = refuse(m);
    r[n++] = refuse("a=\x01");
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(r[i], r[j]) == 0) fail_msg("reasons %zu and %zu are both \"%s\"", i, j, r[i]);
    /* and the one only set() can hit */
    tw_tracestate *out;
    assert_int_equal(tw_tracestate_set(NULL, "a", "b ", TW_NTS, &out), TW_EINVAL);
    free(z257), free(t242), free(v257);
}

static void test_alloc_failure(void **state) {
    tw_tracestate *ts = (tw_tracestate *)1, *out = (tw_tracestate *)1;
    const char *why = NULL;
    tw__alloc_fail_after(0);
    int rc = tw_tracestate_parse("a=1", 3, &ts, &why);
    int rc2 = tw_tracestate_set(NULL, "a", "1", TW_NTS, &out);
    tw__alloc_fail_after(-1);
    assert_int_equal(rc, TW_ENOMEM);
    assert_null(ts);
    assert_string_equal(why, "tracestate: out of memory");
    assert_int_equal(rc2, TW_ENOMEM);
    assert_null(out);

    /* exactly one allocation per parse or mutation */
    tw__alloc_fail_after(1);
    rc = tw_tracestate_parse("a=1,b=2", 7, &ts, NULL);
    rc2 = tw_tracestate_remove(ts, "a", &out);
    tw__alloc_fail_after(-1);
    assert_int_equal(rc, TW_OK);
    assert_int_equal(rc2, TW_ENOMEM);
    assert_null(out);
    tw_tracestate_unref(ts);

    /* a failed parse does not allocate */
    tw__alloc_fail_after(0);
    rc = tw_tracestate_parse("a=1,B=2", 7, &ts, &why);
    tw__alloc_fail_after(-1);
    assert_int_equal(rc, TW_EPARSE);
}

static void *ref_worker(void *arg) {
    tw_tracestate *ts = arg;
    for (int i = 0; i < 20000; i++) {
        tw_tracestate *r = tw_tracestate_ref(ts);
        tw_str v;
        if (tw_tracestate_get(r, "ot", &v) != TW_OK || v.len != 7) abort();
        tw_tracestate_unref(r);
    }
    tw_tracestate_unref(ts); /* the reference handed to this thread */
    return NULL;
}

static void test_shared_between_threads(void **state) {
    tw_tracestate *ts = parse_ok("vendor=x,ot=th:c;rv,z=1");
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, ref_worker, tw_tracestate_ref(ts));
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    assert_get(ts, "ot", "th:c;rv");
    tw_tracestate_unref(ts); /* the last one: freed, which ASan checks */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_empty_header),
        cmocka_unit_test(test_w3c_ows),
        cmocka_unit_test(test_value_spaces),
        cmocka_unit_test(test_w3c_several_lines),
        cmocka_unit_test(test_w3c_duplicated_keys),
        cmocka_unit_test(test_w3c_all_allowed_characters),
        cmocka_unit_test(test_w3c_key_illegal_characters),
        cmocka_unit_test(test_w3c_key_illegal_vendor_format),
        cmocka_unit_test(test_w3c_member_count_limit),
        cmocka_unit_test(test_w3c_key_length_limit),
        cmocka_unit_test(test_w3c_value_illegal),
        cmocka_unit_test(test_set_moves_left),
        cmocka_unit_test(test_set_invalid),
        cmocka_unit_test(test_set_truncates_to_32),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_format_truncation),
        cmocka_unit_test(test_format_buffer_too_small),
        cmocka_unit_test(test_reasons_distinct),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_shared_between_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
