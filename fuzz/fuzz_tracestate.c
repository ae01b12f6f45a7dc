/*
 * fuzz_tracestate.c — tracestate parsing, formatting and mutation. Input:
 * header lines separated by '\n' (joined as the HTTP rules join them); the
 * first byte also picks a truncation length.
 *
 * Properties checked (abort() on violation):
 *  - a refusal names a reason and yields NULL;
 *  - an accepted state has 1..32 members with distinct keys;
 *  - format -> parse gives the same members in the same order, and format
 *    of that is byte-identical (canonical form is a fixed point);
 *  - truncated formatting stays within max_len, parses, and keeps members
 *    of the original in their order;
 *  - set puts the key leftmost with its value and keeps <= 32 members;
 *    remove drops exactly that key; the input state never changes.
 */
#include <stdlib.h>

#include "propagation/propagation_int.h"

#define MAX_TEXT (32 * 514 + 1)

static void check(int cond) {
    if (!cond) abort();
}

static int same_members(const tw_tracestate *a, const tw_tracestate *b) {
    if (tw_tracestate_count(a) != tw_tracestate_count(b)) return 0;
    for (size_t i = 0; i < tw_tracestate_count(a); i++) {
        tw_str ka, va, kb, vb;
        check(tw_tracestate_at(a, i, &ka, &va) == TW_OK && tw_tracestate_at(b, i, &kb, &vb) == TW_OK);
        if (ka.len != kb.len || va.len != vb.len || memcmp(ka.ptr, kb.ptr, ka.len) || memcmp(va.ptr, vb.ptr, va.len))
            return 0;
    }
    return 1;
}

static tw_tracestate *reparse(const char *text, int len) {
    tw_tracestate *ts = NULL;
    check(len >= 0);
    check(tw_tracestate_parse(text, (size_t)len, &ts, NULL) == TW_OK);
    return ts;
}

/* Every member of `sub` is a member of `ts`, in the same relative order. */
static void check_subsequence(const tw_tracestate *sub, const tw_tracestate *ts) {
    size_t j = 0;
    for (size_t i = 0; i < tw_tracestate_count(sub); i++) {
        tw_str k, v, k2, v2;
        tw_tracestate_at(sub, i, &k, &v);
        for (;; j++) {
            check(tw_tracestate_at(ts, j, &k2, &v2) == TW_OK);
            if (k.len == k2.len && memcmp(k.ptr, k2.ptr, k.len) == 0) break;
        }
        check(v.len == v2.len && memcmp(v.ptr, v2.ptr, v.len) == 0);
        j++;
    }
}

static void check_mutations(const tw_tracestate *ts, const char *text, int len) {
    tw_str k0, v0;
    tw_tracestate_at(ts, tw_tracestate_count(ts) - 1, &k0, &v0);
    char key[300], val[300];
    memcpy(key, k0.ptr, k0.len);
    key[k0.len] = '\0';
    memcpy(val, v0.ptr, v0.len);
    /* the rightmost member, set again with the first value: moves left */
    tw_str first;
    tw_tracestate_at(ts, 0, NULL, &first);
    tw_tracestate *s = NULL;
    check(tw_tracestate_set(ts, key, first.ptr, first.len, &s) == TW_OK);
    check(tw_tracestate_count(s) == tw_tracestate_count(ts));
    tw_str k, v;
    check(tw_tracestate_at(s, 0, &k, &v) == TW_OK);
    check(k.len == k0.len && memcmp(k.ptr, key, k.len) == 0 && v.len == first.len && memcmp(v.ptr, first.ptr, v.len) == 0);
    /* a new key: leftmost, at most 32 */
    tw_tracestate *s2 = NULL;
    size_t had = tw_tracestate_get(s, "fuzz@new", NULL) == TW_OK;
    check(tw_tracestate_set(s, "fuzz@new", val, v0.len, &s2) == TW_OK);
    check(tw_tracestate_count(s2) == TW_MIN(tw_tracestate_count(s) + 1 - had, (size_t)TW_TRACESTATE_MAX_MEMBERS));
    check(tw_tracestate_get(s2, "fuzz@new", &v) == TW_OK && v.len == v0.len);
    tw_tracestate *r = NULL;
    check(tw_tracestate_remove(s2, "fuzz@new", &r) == TW_OK);
    check(tw_tracestate_get(r, "fuzz@new", NULL) == TW_ENOTFOUND);
    check(tw_tracestate_count(r) == tw_tracestate_count(s2) - 1);
    tw_tracestate_unref(s), tw_tracestate_unref(s2), tw_tracestate_unref(r);
    /* the input did not change */
    static char again[MAX_TEXT];
    check(tw_tracestate_format(ts, 0, again, sizeof again) == len && memcmp(again, text, (size_t)len) == 0);
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
    tw_tracestate *ts = (tw_tracestate *)1;
    const char *why = NULL;
    int rc = tw__tracestate_parse_parts(parts, n, &ts, &why);
    if (rc != TW_OK) {
        check(rc == TW_EPARSE && ts == NULL && why != NULL);
        return 0;
    }
    if (!ts) return 0;
    size_t count = tw_tracestate_count(ts);
    check(count >= 1 && count <= TW_TRACESTATE_MAX_MEMBERS);
    for (size_t a = 0; a < count; a++) {
        tw_str ka, kb;
        tw_tracestate_at(ts, a, &ka, NULL);
        for (size_t b = a + 1; b < count; b++) {
            tw_tracestate_at(ts, b, &kb, NULL);
            check(ka.len != kb.len || memcmp(ka.ptr, kb.ptr, ka.len) != 0);
        }
    }

    static char text[MAX_TEXT], text2[MAX_TEXT];
    int len = tw_tracestate_format(ts, 0, text, sizeof text);
    tw_tracestate *back = reparse(text, len);
    check(same_members(ts, back));
    check(tw_tracestate_format(back, 0, text2, sizeof text2) == len && memcmp(text, text2, (size_t)len) == 0);
    check(tw_tracestate_format(ts, 0, text2, (size_t)len) == TW_ERANGE);

    size_t max_len = size ? (size_t)data[0] * 4 + 1 : 512;
    int tl = tw_tracestate_format(ts, max_len, text2, sizeof text2);
    check(tl >= 0 && (size_t)tl <= max_len);
    if (tl > 0) {
        tw_tracestate *cut = reparse(text2, tl);
        check_subsequence(cut, ts);
        tw_tracestate_unref(cut);
    }
    check_mutations(ts, text, len);
    tw_tracestate_unref(back);
    tw_tracestate_unref(ts);
    return 0;
}
