/*
 * json.h — a streaming JSON writer into a tw__buf, and a small
 * non-allocating reader for picking values out of a JSON text.
 *
 * Writer. A tw__json tracks nesting (at most TW_JSON_MAX_DEPTH levels) and
 * puts the commas and colons itself: call begin/end for containers, key()
 * before each member value, and one value call per value. Errors (memory,
 * buffer cap, nesting too deep) land in the buffer's sticky `failed`, so a
 * caller writes a whole document and checks `b->failed` once.
 *
 * Strings are escaped as RFC 8259 requires: '"' and '\' with a backslash,
 * control characters below 0x20 as \b \t \n \f \r or \u00XX. The input is
 * validated as UTF-8 and each maximal invalid subsequence (Unicode's
 * "best practice" for U+FFFD substitution) becomes one U+FFFD, so the
 * output is always valid UTF-8 JSON whatever bytes the caller stored.
 *
 * Numbers: int64/uint64 in decimal; doubles with the fewest digits (up to
 * 17) that read back as the same value, locale-independent; NaN and
 * infinities, which JSON cannot hold, as the strings "NaN", "Infinity" and
 * "-Infinity" (the protobuf JSON mapping's choice).
 *
 * Reader. tw__json_skip() and friends walk a JSON text without allocating
 * and without reading past `end`; they return NULL / TW_EPARSE on malformed
 * input and limit nesting to TW_JSON_MAX_DEPTH. Values are handed back as
 * raw slices (tw_str) of the input, to be converted by the helpers below.
 */
#ifndef TW_JSON_H
#define TW_JSON_H

#include "common/buf.h"

#define TW_JSON_MAX_DEPTH 64

typedef struct tw__json {
    tw__buf *b;
    uint32_t depth;
    bool after_key;
    uint64_t nonempty; /* bit d: the container at depth d+1 has an item */
} tw__json;

TW_HIDDEN void tw__json_init(tw__json *j, tw__buf *b);

TW_HIDDEN void tw__json_begin_object(tw__json *j);
TW_HIDDEN void tw__json_end_object(tw__json *j);
TW_HIDDEN void tw__json_begin_array(tw__json *j);
TW_HIDDEN void tw__json_end_array(tw__json *j);
/* An object member name; `n` may be TW_NTS. */
TW_HIDDEN void tw__json_key(tw__json *j, const char *k, size_t n);
/* A member name known to need no escaping (printable ASCII other than '"'
 * and '\\'), such as a literal: written as is. */
TW_HIDDEN void tw__json_key_plain(tw__json *j, const char *k, size_t n);

/* Values. `n` may be TW_NTS for NUL-terminated strings. */
TW_HIDDEN void tw__json_string(tw__json *j, const char *s, size_t n);
TW_HIDDEN void tw__json_int64(tw__json *j, int64_t v);
TW_HIDDEN void tw__json_uint64(tw__json *j, uint64_t v);
TW_HIDDEN void tw__json_double(tw__json *j, double v);
TW_HIDDEN void tw__json_bool(tw__json *j, bool v);
TW_HIDDEN void tw__json_null(tw__json *j);
/* An integer as a decimal string ("123"): how the protobuf JSON mapping
 * writes int64, uint64 and fixed64. */
TW_HIDDEN void tw__json_int64_string(tw__json *j, int64_t v);
TW_HIDDEN void tw__json_uint64_string(tw__json *j, uint64_t v);
/* Bytes as a string of lowercase hex digits. */
TW_HIDDEN void tw__json_hex(tw__json *j, const uint8_t *p, size_t n);
/* Bytes as a string in standard base64 with padding (RFC 4648 section 4):
 * how the protobuf JSON mapping writes `bytes`. */
TW_HIDDEN void tw__json_base64(tw__json *j, const uint8_t *p, size_t n);
/* Base64, standard or URL-safe, padded or not, into out[0..cap): the
 * number of bytes, or -1 when s is not base64 or decodes to more than cap. */
TW_HIDDEN long tw__base64_decode(const char *s, size_t n, uint8_t *out, size_t cap);
/* A value that is already JSON text, written verbatim. */
TW_HIDDEN void tw__json_raw(tw__json *j, const char *s, size_t n);

/* Append `s` escaped (no surrounding quotes) to `b`. */
TW_HIDDEN void tw__json_escape(tw__buf *b, const char *s, size_t n);

/* UTF-8 repair, shared with the protobuf encoder (proto3 `string` fields
 * must be valid UTF-8: receivers may refuse a whole request otherwise).
 * The length of s[0..n) once each maximal invalid subpart is replaced by
 * U+FFFD (3 bytes); *valid tells whether there was none. */
TW_HIDDEN size_t tw__utf8_repaired_len(const char *s, size_t n, bool *valid);
/* True when s[0..n) is all ASCII (then valid UTF-8 as is). */
static inline bool tw__is_ascii(const char *s, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= (uint8_t)s[i];
    return acc < 0x80;
}
/* Write the repaired s[0..n) to `out` (tw__utf8_repaired_len bytes); returns its end. */
TW_HIDDEN uint8_t *tw__utf8_repair(uint8_t *out, const char *s, size_t n);

/* ---- reader ------------------------------------------------------------------ */

/* Past the whitespace at p. */
TW_HIDDEN const char *tw__json_ws(const char *p, const char *end);
/* Past the one value starting at p (leading whitespace allowed), or NULL
 * when it is malformed or truncated. */
TW_HIDDEN const char *tw__json_skip(const char *p, const char *end);
/* The value of member `key` of the object `obj` (raw text, whitespace
 * trimmed). 0, TW_ENOTFOUND, or TW_EPARSE when obj is not a valid object. */
TW_HIDDEN int tw__json_get(tw_str obj, const char *key, tw_str *val);
/* Element `idx` of the array `arr`; 0, TW_ENOTFOUND (past the end) or TW_EPARSE. */
TW_HIDDEN int tw__json_at(tw_str arr, size_t idx, tw_str *val);
/* Number of elements of the array `arr`, or TW_EPARSE. */
TW_HIDDEN long tw__json_count(tw_str arr);
/* Decode a string literal (quotes included in `v`) into `out`, appending
 * UTF-8 (\uXXXX surrogate pairs joined; a lone surrogate becomes U+FFFD).
 * 0 or TW_EPARSE (or the buffer's error). */
TW_HIDDEN int tw__json_unquote(tw_str v, tw__buf *out);
/* An integer given as a JSON number or as a decimal string (the protobuf
 * mapping of int64). 0 or TW_EPARSE (also on overflow or a fraction). */
TW_HIDDEN int tw__json_to_int64(tw_str v, int64_t *out);
/* A number, or one of the strings "NaN", "Infinity", "-Infinity". */
TW_HIDDEN int tw__json_to_double(tw_str v, double *out);
/* true/false; 0 or TW_EPARSE. */
TW_HIDDEN int tw__json_to_bool(tw_str v, bool *out);

/* One item of a container at a time, in one pass (the caller reads each
 * value itself). tw__json_iter_open: `p` (blanks allowed before it) opens
 * a container with `open` ('{' or '['): 0 or TW_EPARSE. tw__json_iter_next:
 * 1 with it->p at the item's value (for an object *key is the member
 * name's literal, quotes included): the caller reads the value and sets
 * it->p past it; 0 at the closing bracket (it->p past it); TW_EPARSE
 * (it->p where it went wrong). */
typedef struct tw__json_iter {
    const char *p, *end;
    bool obj, first;
} tw__json_iter;
TW_HIDDEN int tw__json_iter_open(tw__json_iter *it, const char *p, const char *end, char open);
TW_HIDDEN int tw__json_iter_next(tw__json_iter *it, tw_str *key);

#endif
