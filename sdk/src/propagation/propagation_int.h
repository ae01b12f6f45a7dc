/*
 * propagation_int.h — what the propagation files share with each other and
 * with the unit tests and fuzz targets: the lowercase-hex table, parsers that
 * take several header lines without joining them (no copy, no allocation),
 * and the B3 parser and formatter that have no public declaration.
 */
#ifndef TW_PROPAGATION_INT_H
#define TW_PROPAGATION_INT_H

#include <stdbool.h>

#include "common/tw_base.h"

/* 0..15 for a LOWERCASE hex digit, 0x10 for anything else (uppercase too):
 * the W3C and B3 grammars both say lower-hex, so one table serves both. */
extern const uint8_t tw__lchex[256];
#define TW__LCHEX_BAD 0x10u

#if defined(__SSE2__)
#include <emmintrin.h>
/*
 * 16 lowercase hex characters to 8 bytes with SSE2 (every x86-64 has it):
 * signed byte compares classify digits and a-f (a byte >= 0x80 is negative
 * and matches neither), the nibble is (c & 15) + (9 if a letter), and pairs
 * of nibbles are joined in 16-bit lanes and packed down to bytes.
 */
static inline bool tw__lchex16(const char *s, uint8_t *out) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)), _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
    __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('a' - 1)), _mm_cmplt_epi8(x, _mm_set1_epi8('f' + 1)));
    bool ok = _mm_movemask_epi8(_mm_or_si128(digit, alpha)) == 0xffff;
    __m128i nib = _mm_add_epi8(_mm_and_si128(x, _mm_set1_epi8(0x0f)), _mm_and_si128(alpha, _mm_set1_epi8(9)));
    __m128i hi = _mm_slli_epi16(_mm_and_si128(nib, _mm_set1_epi16(0x00ff)), 4); /* even bytes: high nibbles */
    __m128i lo = _mm_srli_epi16(nib, 8);
    _mm_storel_epi64((__m128i *)(void *)out, _mm_packus_epi16(_mm_or_si128(hi, lo), hi));
    return ok;
}
#define TW__LCHEX_CHUNK 8 /* output bytes per vector step */
#define tw__lchex_chunk tw__lchex16
#endif

/*
 * Decode 2n lowercase hex characters into n bytes. Returns false (and leaves
 * `out` partly written) when a character is not lowercase hex. Inline, and
 * vectorised on x86-64 (elsewhere a table lookup per character), so the
 * traceparent parser stays a short straight line.
 */
static inline bool tw__lchex_decode(const char *s, size_t n, uint8_t *out) {
    bool ok = true;
    size_t i = 0;
#ifdef TW__LCHEX_CHUNK
    for (size_t c = 0; c < n / TW__LCHEX_CHUNK; c++)
        ok &= tw__lchex_chunk(s + 2 * TW__LCHEX_CHUNK * c, out + TW__LCHEX_CHUNK * c);
    i = n / TW__LCHEX_CHUNK * TW__LCHEX_CHUNK;
#endif
    unsigned bad = 0;
    for (; i < n; i++) {
        unsigned hi = tw__lchex[(unsigned char)s[2 * i]], lo = tw__lchex[(unsigned char)s[2 * i + 1]];
        bad |= hi | lo;
        out[i] = (uint8_t)(hi << 4 | (lo & 15u));
    }
    return ok && (bad & TW__LCHEX_BAD) == 0;
}

/* Word loads, matching the decoder's 8-byte stores (store forwarding). */
static inline bool tw__all_zero(const uint8_t *b, size_t n) {
    uint64_t acc = 0;
    for (size_t w = 0; w < n / 8; w++) {
        uint64_t x;
        memcpy(&x, b + 8 * w, 8);
        acc |= x;
    }
    for (size_t i = n / 8 * 8; i < n; i++) acc |= b[i];
    return acc == 0;
}

/* Two NUL-terminated names compared ASCII case-insensitively (no locale):
 * 0 different, 1 equal but for case, 2 byte-identical. Identical bytes are
 * walked first, as most names already share their case. */
static inline int tw__name_cmp(const char *a, const char *b) {
    while (*a == *b) {
        if (*a == '\0') return 2;
        a++, b++;
    }
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z') x |= 0x20;
        if (y >= 'A' && y <= 'Z') y |= 0x20;
        if (x != y) return 0;
        if (x == 0) return 1;
    }
}

static inline bool tw__name_eq(const char *a, const char *b) { return tw__name_cmp(a, b) != 0; }

static inline bool tw__is_ows(char c) { return c == ' ' || c == '\t'; }

/* Trim spaces and tabs at both ends of [*s, *s + *n). */
static inline void tw__ows_trim(const char **s, size_t *n) {
    while (*n && tw__is_ows((*s)[0])) (*s)++, (*n)--;
    while (*n && tw__is_ows((*s)[*n - 1])) (*n)--;
}

/* ---- tracestate / baggage over several header lines ------------------------ */

/* As tw_tracestate_parse, with the header given as `n` lines that are
 * logically joined by ','. A line's len may be TW_NTS. */
TW_HIDDEN int tw__tracestate_parse_parts(const tw_str *parts, size_t n, tw_tracestate **out,
                                         const char **why);
/* As tw_baggage_parse, over `n` lines. */
TW_HIDDEN int tw__baggage_parse_parts(const tw_str *parts, size_t n, tw_baggage **out, size_t *skipped);

/* ---- B3 ---------------------------------------------------------------------- */

typedef enum tw__b3_sampling {
    TW__B3_DEFER = 0, /* no decision: left to the receiver */
    TW__B3_DENY,
    TW__B3_ACCEPT,
    TW__B3_DEBUG, /* implies accept */
} tw__b3_sampling;

typedef struct tw__b3 {
    tw_trace_id trace_id; /* a 64-bit id is left-padded with zeros */
    tw_span_id span_id;
    tw_span_id parent_id;
    bool has_ids;    /* false for a sampling-only header such as `b3: 0` */
    bool has_parent;
    tw__b3_sampling sampling;
} tw__b3;

/* The single `b3` header value. TW_OK or TW_EPARSE with a static reason. */
TW_HIDDEN int tw__b3_single_parse(const char *s, size_t len, tw__b3 *out, const char **why);

/* The X-B3-* header values; an absent header has ptr == NULL. */
typedef struct tw__b3_multi_in {
    tw_str trace_id, span_id, parent_id, sampled, flags;
} tw__b3_multi_in;
TW_HIDDEN int tw__b3_multi_parse(const tw__b3_multi_in *in, tw__b3 *out, const char **why);

/* `{trace}-{span}-{0|1}`: 51 characters and a NUL. */
#define TW__B3_SINGLE_LEN 51
TW_HIDDEN void tw__b3_single_format(const tw_span_context *sc, char out[TW__B3_SINGLE_LEN + 1]);

#endif
