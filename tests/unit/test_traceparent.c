/*
 * test_traceparent.c — the W3C traceparent parser and formatter: every rule
 * of Trace Context level 2 with its reason string, the cases the w3c/
 * trace-context test suite (test/test.py) sends, OWS, future versions,
 * trace-flags handling, and that neither direction allocates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "propagation/propagation_int.h"

#define TID "12345678901234567890123456789012"
#define SID "1234567890123456"

/* Refused, with the reason returned; the output is left untouched. */
static const char *refuse(const char *s) {
    tw_span_context sc;
    memset(&sc, 0xAB, sizeof sc);
    tw_span_context before = sc;
    const char *why = NULL;
    int rc = tw_traceparent_parse(s, strlen(s), &sc, &why);
    if (rc != TW_EPARSE) fail_msg("accepted: \"%s\"", s);
    assert_non_null(why);
    assert_memory_equal(&sc, &before, sizeof sc);
    return why;
}

static tw_span_context accept_tp(const char *s) {
    tw_span_context sc;
    memset(&sc, 0, sizeof sc);
    const char *why = NULL;
    int rc = tw_traceparent_parse(s, strlen(s), &sc, &why);
    if (rc != TW_OK) fail_msg("refused \"%s\": %s", s, why ? why : "?");
    return sc;
}

static void assert_ids(const tw_span_context *sc, const char *tid, const char *sid) {
    char t[33], s[17];
    tw_trace_id_to_hex(&sc->trace_id, t);
    tw_span_id_to_hex(&sc->span_id, s);
    assert_string_equal(t, tid);
    assert_string_equal(s, sid);
}

static void test_valid_examples(void **state) {
    tw_span_context sc = accept_tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_ids(&sc, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    assert_int_equal(sc.flags, 0x01);
    sc = accept_tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    assert_int_equal(sc.flags, 0x00);
    sc = accept_tp("00-" TID "-" SID "-03");
    assert_int_equal(sc.flags, TW_FLAG_SAMPLED | TW_FLAG_RANDOM);
}

static void test_parse_leaves_state_and_remote_alone(void **state) {
    tw_span_context sc;
    memset(&sc, 0, sizeof sc);
    sc.is_remote = false;
    sc.state = (tw_tracestate *)&sc; /* any marker pointer */
    assert_int_equal(tw_traceparent_parse("00-" TID "-" SID "-01", 55, &sc, NULL), TW_OK);
    assert_false(sc.is_remote);
    assert_ptr_equal(sc.state, (tw_tracestate *)&sc);
}

/* w3c/trace-context test.py: test_traceparent_version_0x00 */
static void test_w3c_version_00_extra_data(void **state) {
    assert_string_equal(refuse("00-" TID "-" SID "-01."), "traceparent: version 00 must be exactly 55 characters");
    assert_string_equal(refuse("00-" TID "-" SID "-01-what-the-future-will-be-like"),
                        "traceparent: version 00 must be exactly 55 characters");
}

/* test_traceparent_version_0xcc: a future version is read by its first 55. */
static void test_w3c_future_version(void **state) {
    tw_span_context sc = accept_tp("cc-" TID "-" SID "-01");
    assert_ids(&sc, TID, SID);
    sc = accept_tp("cc-" TID "-" SID "-01-what-the-future-will-be-like");
    assert_ids(&sc, TID, SID);
    assert_int_equal(sc.flags, 1);
    assert_string_equal(refuse("cc-" TID "-" SID "-01.what-the-future-will-be-like"),
                        "traceparent: trace-flags are not followed by '-' or the end");
    /* Still 55 characters of the known layout first. */
    assert_string_equal(refuse("cc-" TID "-" SID), "traceparent: shorter than 55 characters");
    assert_string_equal(refuse("01-" TID "0-" SID "-01-x"), "traceparent: trace-id is not followed by '-'");
    sc = accept_tp("fe-" TID "-" SID "-09-");
    assert_int_equal(sc.flags, 0x09);
}

static void test_w3c_version_ff(void **state) {
    assert_string_equal(refuse("ff-" TID "-" SID "-01"), "traceparent: version ff is forbidden");
    assert_string_equal(refuse("ff-" TID "-" SID "-01-future"), "traceparent: version ff is forbidden");
}

static void test_w3c_version_illegal_characters(void **state) {
    assert_string_equal(refuse(".0-" TID "-" SID "-01"), "traceparent: version is not 2 lowercase hex digits");
    assert_string_equal(refuse("0.-" TID "-" SID "-01"), "traceparent: version is not 2 lowercase hex digits");
    assert_string_equal(refuse("0A-" TID "-" SID "-01"), "traceparent: version is not 2 lowercase hex digits");
}

static void test_w3c_version_too_long_or_short(void **state) {
    assert_string_equal(refuse("000-" TID "-" SID "-01"), "traceparent: version is not followed by '-'");
    assert_string_equal(refuse("0000-" TID "-" SID "-01"), "traceparent: version is not followed by '-'");
    assert_string_equal(refuse("0-" TID "-" SID "-01"), "traceparent: version is not 2 lowercase hex digits");
    assert_string_equal(refuse("0"), "traceparent: version is not 2 lowercase hex digits");
    assert_string_equal(refuse("00"), "traceparent: version is not followed by '-'");
}

static void test_w3c_trace_id(void **state) {
    assert_string_equal(refuse("00-00000000000000000000000000000000-" SID "-01"), "traceparent: trace-id is all zeros");
    assert_string_equal(refuse("00-.2345678901234567890123456789012-" SID "-01"),
                        "traceparent: trace-id is not 32 lowercase hex digits");
    assert_string_equal(refuse("00-1234567890123456789012345678901.-" SID "-01"),
                        "traceparent: trace-id is not 32 lowercase hex digits");
    /* too long / too short change the length of a version-00 header */
    assert_string_equal(refuse("00-123456789012345678901234567890123-" SID "-01"),
                        "traceparent: version 00 must be exactly 55 characters");
    assert_string_equal(refuse("00-1234567890123456789012345678901-" SID "-01"),
                        "traceparent: shorter than 55 characters");
    assert_string_equal(refuse("00-4BF92F3577B34DA6A3CE929D0E0E4736-" SID "-01"),
                        "traceparent: trace-id is not 32 lowercase hex digits");
}

static void test_w3c_parent_id(void **state) {
    assert_string_equal(refuse("00-" TID "-0000000000000000-01"), "traceparent: parent-id is all zeros");
    assert_string_equal(refuse("00-" TID "-.234567890123456-01"),
                        "traceparent: parent-id is not 16 lowercase hex digits");
    assert_string_equal(refuse("00-" TID "-123456789012345.-01"),
                        "traceparent: parent-id is not 16 lowercase hex digits");
    assert_string_equal(refuse("00-" TID "-12345678901234567-01"),
                        "traceparent: version 00 must be exactly 55 characters");
    assert_string_equal(refuse("00-" TID "-123456789012345-01"), "traceparent: shorter than 55 characters");
    assert_string_equal(refuse("00-" TID "-00F067AA0BA902B7-01"),
                        "traceparent: parent-id is not 16 lowercase hex digits");
    assert_string_equal(refuse("cc-" TID "-123456789012345-01-abc"),
                        "traceparent: parent-id is not 16 lowercase hex digits");
    assert_string_equal(refuse("cc-" TID "-" SID "x01-abcd"), "traceparent: parent-id is not followed by '-'");
}

static void test_w3c_trace_flags(void **state) {
    assert_string_equal(refuse("00-" TID "-" SID "-.0"), "traceparent: trace-flags are not 2 lowercase hex digits");
    assert_string_equal(refuse("00-" TID "-" SID "-0."), "traceparent: trace-flags are not 2 lowercase hex digits");
    assert_string_equal(refuse("00-" TID "-" SID "-0A"), "traceparent: trace-flags are not 2 lowercase hex digits");
    assert_string_equal(refuse("00-" TID "-" SID "-001"), "traceparent: version 00 must be exactly 55 characters");
    assert_string_equal(refuse("00-" TID "-" SID "-1"), "traceparent: shorter than 55 characters");
}

static void test_separators(void **state) {
    assert_string_equal(refuse("00_" TID "-" SID "-01"), "traceparent: version is not followed by '-'");
    assert_string_equal(refuse("00-" TID "_" SID "-01"), "traceparent: trace-id is not followed by '-'");
    assert_string_equal(refuse("00-" TID "-" SID "_01"), "traceparent: parent-id is not followed by '-'");
}

/* test_traceparent_ows_handling */
static void test_w3c_ows(void **state) {
    const char *ok[] = {
        " 00-" TID "-" SID "-01",  "\t00-" TID "-" SID "-01",      "00-" TID "-" SID "-01 ",
        "00-" TID "-" SID "-01\t", "\t 00-" TID "-" SID "-01 \t",
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(ok); i++) {
        tw_span_context sc = accept_tp(ok[i]);
        assert_ids(&sc, TID, SID);
    }
    /* OWS is only at the ends; other whitespace is not OWS */
    assert_string_equal(refuse("00- " TID "-" SID "-0"), "traceparent: trace-id is not 32 lowercase hex digits");
    assert_string_equal(refuse("\n00-" TID "-" SID "-01"), "traceparent: version is not 2 lowercase hex digits");
    assert_string_equal(refuse(" \t "), "traceparent: empty");
    assert_string_equal(refuse(""), "traceparent: empty");
}

static void test_null_and_nts(void **state) {
    tw_span_context sc;
    const char *why = NULL;
    assert_int_equal(tw_traceparent_parse(NULL, 55, &sc, &why), TW_EPARSE);
    assert_string_equal(why, "traceparent: empty");
    assert_int_equal(tw_traceparent_parse("00-" TID "-" SID "-01", TW_NTS, &sc, NULL), TW_OK);
    assert_ids(&sc, TID, SID);
    /* a length shorter than the string is honoured: nothing past it is read */
    assert_int_equal(tw_traceparent_parse("00-" TID "-" SID "-01", 54, &sc, &why), TW_EPARSE);
    assert_string_equal(why, "traceparent: shorter than 55 characters");
    /* why may be NULL */
    assert_int_equal(tw_traceparent_parse("zz", 2, &sc, NULL), TW_EPARSE);
}

static void test_every_flag_byte(void **state) {
    for (unsigned f = 0; f < 256; f++) {
        char s[64];
        snprintf(s, sizeof s, "00-" TID "-" SID "-%02x", f);
        tw_span_context sc = accept_tp(s);
        assert_int_equal(sc.flags, f); /* kept as received */
        char out[TW_TRACEPARENT_LEN + 1];
        tw_traceparent_format(&sc, out);
        char want[64];
        snprintf(want, sizeof want, "00-" TID "-" SID "-%02x", f & 3u); /* only known bits leave */
        assert_string_equal(out, want);
    }
}

static void test_format(void **state) {
    tw_span_context sc;
    memset(&sc, 0, sizeof sc);
    for (int i = 0; i < 16; i++) sc.trace_id.bytes[i] = (uint8_t)(0xf0 + i);
    for (int i = 0; i < 8; i++) sc.span_id.bytes[i] = (uint8_t)(0x0a * i + 1);
    sc.flags = TW_FLAG_SAMPLED;
    char out[TW_TRACEPARENT_LEN + 1];
    memset(out, 'x', sizeof out);
    tw_traceparent_format(&sc, out);
    assert_string_equal(out, "00-f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff-010b151f29333d47-01");
    assert_int_equal(strlen(out), TW_TRACEPARENT_LEN);
    tw_span_context back;
    assert_int_equal(tw_traceparent_parse(out, strlen(out), &back, NULL), TW_OK);
    assert_memory_equal(&back.trace_id, &sc.trace_id, sizeof sc.trace_id);
    assert_memory_equal(&back.span_id, &sc.span_id, sizeof sc.span_id);
    assert_int_equal(back.flags, sc.flags);
}

static void test_future_version_formats_as_00(void **state) {
    tw_span_context sc = accept_tp("7f-" TID "-" SID "-01-extra-fields");
    char out[TW_TRACEPARENT_LEN + 1];
    tw_traceparent_format(&sc, out);
    assert_string_equal(out, "00-" TID "-" SID "-01");
}

static void test_no_allocation(void **state) {
    tw__alloc_fail_after(0);
    tw_span_context sc;
    int rc = tw_traceparent_parse("00-" TID "-" SID "-01", 55, &sc, NULL);
    char out[TW_TRACEPARENT_LEN + 1];
    tw_traceparent_format(&sc, out);
    tw__alloc_fail_after(-1);
    assert_int_equal(rc, TW_OK);
    assert_string_equal(out, "00-" TID "-" SID "-01");
}

/* Every reason seen above is a different string. */
static void test_reasons_distinct(void **state) {
    const char *r[] = {
        refuse(""),
        refuse("0"),
        refuse("000-" TID "-" SID "-01"),
        refuse("ff-" TID "-" SID "-01"),
        refuse("00-" TID "-" SID "-1"),
        refuse("00-" TID "-" SID "-011"),
        refuse("00-" TID "x" SID "-01"),
        refuse("00-x" TID "" SID "-01"),
        refuse("00-00000000000000000000000000000000-" SID "-01"),
        refuse("00-" TID "-x23456789012345x-01"),
        refuse("00-" TID "-" SID "x01"),
        refuse("00-" TID "-0000000000000000-01"),
        refuse("00-" TID "-" SID "-xx"),
        refuse("cc-" TID "-" SID "-01x"),
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(r); i++)
        for (size_t j = i + 1; j < TW_ARRAY_LEN(r); j++)
            if (strcmp(r[i], r[j]) == 0) fail_msg("reasons %zu and %zu are both \"%s\"", i, j, r[i]);
}


/* The vectorised hex decoder against a table, every byte value in every
 * position of a 32-character chunk. */
static void test_hex_decoder_exhaustive(void **state) {
    static const char ref[] = "0123456789abcdef";
    char s[33];
    uint8_t out[16], want[16];
    for (int i = 0; i < 32; i++) s[i] = ref[(i * 7) & 15];
    s[32] = '\0';
    for (int pos = 0; pos < 32; pos++) {
        for (int c = 0; c < 256; c++) {
            char t[33];
            memcpy(t, s, sizeof t);
            t[pos] = (char)c;
            const char *d = strchr(ref, c);
            bool valid = c != 0 && d != NULL;
            for (int i = 0; i < 16; i++) {
                int hi = (int)(strchr(ref, t[2 * i]) ? strchr(ref, t[2 * i]) - ref : 0);
                int lo = (int)(strchr(ref, t[2 * i + 1]) ? strchr(ref, t[2 * i + 1]) - ref : 0);
                want[i] = (uint8_t)(hi << 4 | lo);
            }
            bool ok = tw__lchex_decode(t, 16, out);
            if (ok != valid) fail_msg("byte 0x%02x at %d: %s", c, pos, ok ? "accepted" : "refused");
            if (ok) assert_memory_equal(out, want, 16);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_examples),
        cmocka_unit_test(test_parse_leaves_state_and_remote_alone),
        cmocka_unit_test(test_w3c_version_00_extra_data),
        cmocka_unit_test(test_w3c_future_version),
        cmocka_unit_test(test_w3c_version_ff),
        cmocka_unit_test(test_w3c_version_illegal_characters),
        cmocka_unit_test(test_w3c_version_too_long_or_short),
        cmocka_unit_test(test_w3c_trace_id),
        cmocka_unit_test(test_w3c_parent_id),
        cmocka_unit_test(test_w3c_trace_flags),
        cmocka_unit_test(test_separators),
        cmocka_unit_test(test_w3c_ows),
        cmocka_unit_test(test_null_and_nts),
        cmocka_unit_test(test_every_flag_byte),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_future_version_formats_as_00),
        cmocka_unit_test(test_no_allocation),
        cmocka_unit_test(test_reasons_distinct),
        cmocka_unit_test(test_hex_decoder_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
