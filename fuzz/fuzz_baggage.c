/*
 * fuzz_baggage.c — baggage parsing, formatting and mutation. Input: header
 * lines separated by '\n'.
 *
 * Properties checked (abort() on violation):
 *  - parse never fails on content (only memory), keeps <= 64 members with
 *    distinct keys, and every decoded value is well-formed UTF-8;
 *  - the formatted header is within 8192 bytes and holds every member;
 *  - format -> parse gives the same keys, values and metadata in order, and
 *    formatting that again is byte-identical;
 *  - set / remove of a key behave as a map and never touch the input.
 */
#include <stdlib.h>

#include "propagation/propagation_int.h"

static void check(int cond) {
    if (!cond) abort();
}

static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t need;
        unsigned lo = 0x80, hi = 0xbf;
        if (c < 0x80) need = 0;
        else if (c >= 0xc2 && c <= 0xdf) need = 1;
        else if (c >= 0xe0 && c <= 0xef) need = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        else if (c >= 0xf0 && c <= 0xf4) need = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        else return 0;
        if (n - i - 1 < need) return 0;
        for (size_t k = 1; k <= need; k++) {
            if (s[i + k] < lo || s[i + k] > hi) return 0;
            lo = 0x80, hi = 0xbf;
        }
        i += need + 1;
    }
    return 1;
}

static int same(const tw_baggage *a, const tw_baggage *b) {
    if (tw_baggage_count(a) != tw_baggage_count(b)) return 0;
    for (size_t i = 0; i < tw_baggage_count(a); i++) {
        tw_str k1, v1, m1, k2, v2, m2;
        check(tw_baggage_at(a, i, &k1, &v1, &m1) == TW_OK && tw_baggage_at(b, i, &k2, &v2, &m2) == TW_OK);
        if (k1.len != k2.len || v1.len != v2.len || m1.len != m2.len) return 0;
        if (memcmp(k1.ptr, k2.ptr, k1.len) || memcmp(v1.ptr, v2.ptr, v1.len) || memcmp(m1.ptr, m2.ptr, m1.len))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    tw_str parts[64];
    size_t n = 0, i = 0;
    while (i <= size && n < TW_ARRAY_LEN(parts)) {
        const char *nl = memchr(s + i, '\n', size - i);
        size_t len = nl ? (size_t)(nl - (s + i)) : size - i;
        parts[n++] = (tw_str){s + i, len};
        i += len + 1;
    }
    tw_baggage *bg = (tw_baggage *)1;
    size_t skipped = 0;
    check(tw__baggage_parse_parts(parts, n, &bg, &skipped) == TW_OK);
    if (!bg) return 0;
    size_t count = tw_baggage_count(bg);
    check(count >= 1 && count <= TW_BAGGAGE_MAX_MEMBERS);
    for (size_t a = 0; a < count; a++) {
        tw_str ka, va, kb;
        tw_baggage_at(bg, a, &ka, &va, NULL);
        check(utf8_valid((const unsigned char *)va.ptr, va.len));
        check(va.ptr[va.len] == '\0');
        for (size_t b = a + 1; b < count; b++) {
            tw_baggage_at(bg, b, &kb, NULL, NULL);
            check(ka.len != kb.len || memcmp(ka.ptr, kb.ptr, ka.len) != 0);
        }
    }

    static char text[TW_BAGGAGE_MAX_BYTES + 1], text2[TW_BAGGAGE_MAX_BYTES + 1];
    int len = tw_baggage_format(bg, text, sizeof text);
    check(len > 0 && len <= TW_BAGGAGE_MAX_BYTES && (size_t)len == strlen(text));
    tw_baggage *back = NULL;
    size_t sk2 = 1;
    check(tw_baggage_parse(text, (size_t)len, &back, &sk2) == TW_OK && sk2 == 0);
    check(same(bg, back)); /* nothing was dropped by format */
    check(tw_baggage_format(back, text2, sizeof text2) == len && memcmp(text, text2, (size_t)len) == 0);
    check(tw_baggage_format(bg, text2, (size_t)len) == TW_ERANGE);

    /* set the first key to the last value, remove the last key */
    tw_str k0, vl;
    tw_baggage_at(bg, 0, &k0, NULL, NULL);
    tw_baggage_at(bg, count - 1, NULL, &vl, NULL);
    char key[TW_BAGGAGE_MAX_BYTES + 1], val[TW_BAGGAGE_MAX_BYTES + 1];
    memcpy(key, k0.ptr, k0.len), key[k0.len] = '\0';
    size_t vn = strnlen(vl.ptr, vl.len); /* a %00 ends the C string */
    memcpy(val, vl.ptr, vn), val[vn] = '\0';
    tw_baggage *set = NULL, *rm = NULL;
    check(tw_baggage_set(bg, key, val, "p;q=1", &set) == TW_OK);
    check(tw_baggage_count(set) == count);
    tw_str v, m;
    check(tw_baggage_at(set, 0, NULL, &v, &m) == TW_OK);
    check(v.len == vn && memcmp(v.ptr, val, vn) == 0 && m.len == 5);
    tw_str klast;
    tw_baggage_at(bg, count - 1, &klast, NULL, NULL);
    char lastkey[TW_BAGGAGE_MAX_BYTES + 1];
    memcpy(lastkey, klast.ptr, klast.len), lastkey[klast.len] = '\0';
    check(tw_baggage_remove(set, lastkey, &rm) == TW_OK);
    check(tw_baggage_count(rm) == count - 1 && tw_baggage_get(rm, lastkey, NULL) == TW_ENOTFOUND);
    check(tw_baggage_format(bg, text2, sizeof text2) == len && memcmp(text, text2, (size_t)len) == 0);
    tw_baggage_unref(set), tw_baggage_unref(rm), tw_baggage_unref(back), tw_baggage_unref(bg);
    return 0;
}
