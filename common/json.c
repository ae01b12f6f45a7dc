/*
 * json.c — JSON writer and reader (see json.h).
 */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/json.h"

/* ---- locale-independent number text ------------------------------------------ */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale_obj;

static void c_locale_init(void) { c_locale_obj = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }

/* Switch this thread to the "C" numeric locale; returns the previous one
 * (or 0 when the switch could not be made). */
static locale_t enter_c_locale(void) {
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale_obj ? uselocale(c_locale_obj) : (locale_t)0;
}

static void leave_c_locale(locale_t old) {
    if (old) uselocale(old);
}

/* ---- writer -------------------------------------------------------------------- */

void tw__json_init(tw__json *j, tw__buf *b) {
    j->b = b;
    j->depth = 0;
    j->after_key = false;
    j->nonempty = 0;
}

/* Before a value or a key: the comma that separates it from the previous
 * item of the enclosing container. */
static void item_prefix(tw__json *j) {
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth) {
        uint64_t bit = (uint64_t)1 << (j->depth - 1);
        if (j->nonempty & bit)
            tw__buf_putc(j->b, ',');
        else
            j->nonempty |= bit;
    }
}

static void begin(tw__json *j, char c) {
    item_prefix(j);
    if (j->depth >= TW_JSON_MAX_DEPTH) {
        if (!j->b->failed) j->b->failed = TW_EINVAL;
        return;
    }
    tw__buf_putc(j->b, (uint8_t)c);
    j->depth++;
    j->nonempty &= ~((uint64_t)1 << (j->depth - 1));
}

static void end(tw__json *j, char c) {
    if (j->depth == 0) {
        if (!j->b->failed) j->b->failed = TW_EINVAL;
        return;
    }
    j->depth--;
    j->after_key = false;
    tw__buf_putc(j->b, (uint8_t)c);
}

void tw__json_begin_object(tw__json *j) { begin(j, '{'); }
void tw__json_end_object(tw__json *j) { end(j, '}'); }
void tw__json_begin_array(tw__json *j) { begin(j, '['); }
void tw__json_end_array(tw__json *j) { end(j, ']'); }

/* Byte classes: 0 copied as is, 1 escaped, 2 start of a non-ASCII sequence. */
static const uint8_t byte_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/*
 * The UTF-8 sequence at p: its length when well-formed (no overlong form,
 * no surrogate, at most U+10FFFF), else minus the length of its maximal
 * invalid subpart (the lead byte and the continuation bytes that were still
 * acceptable), which becomes one U+FFFD.
 */
static int utf8_seq(const uint8_t *p, const uint8_t *end) {
    uint8_t c = p[0], lo = 0x80, hi = 0xBF;
    int need;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) need = 2, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEF) need = 2, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c == 0xF0) need = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) need = 3, hi = 0x8F;
    else return -1;
    for (int i = 1; i <= need; i++) {
        if (p + i >= end || p[i] < lo || p[i] > hi) return -i;
        lo = 0x80, hi = 0xBF;
    }
    return need + 1;
}

size_t tw__utf8_repaired_len(const char *s, size_t n, bool *valid) {
    *valid = true;
    if (n == 0) return 0;
    const uint8_t *p = (const uint8_t *)s, *e = p + n;
    size_t len = 0;
    while (p < e) {
        while (e - p >= 8) { /* ASCII, a word at a time */
            uint64_t w;
            memcpy(&w, p, 8);
            if (w & 0x8080808080808080ull) break;
            p += 8;
            len += 8;
        }
        if (p == e) break;
        if (*p < 0x80) {
            p++, len++;
            continue;
        }
        int k = utf8_seq(p, e);
        if (k > 0) {
            p += k, len += (size_t)k;
        } else {
            p += -k, len += 3;
            *valid = false;
        }
    }
    return len;
}

uint8_t *tw__utf8_repair(uint8_t *out, const char *s, size_t n) {
    if (n == 0) return out;
    const uint8_t *p = (const uint8_t *)s, *e = p + n;
    while (p < e) {
        int k = *p < 0x80 ? 1 : utf8_seq(p, e);
        if (k > 0) {
            memcpy(out, p, (size_t)k);
            out += k, p += k;
        } else {
            memcpy(out, "\xEF\xBF\xBD", 3);
            out += 3, p += -k;
        }
    }
    return out;
}

/* Append the escape of the one byte c (< 0x80, class 1). */
static void put_escape(tw__buf *b, uint8_t c) {
    char esc[6] = {'\\', 0};
    size_t el = 2;
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
        memcpy(esc, "\\u00", 4);
        esc[4] = tw__hexdigits[c >> 4];
        esc[5] = tw__hexdigits[c & 15];
        el = 6;
    }
    tw__buf_append(b, esc, el);
}

void tw__json_escape(tw__buf *b, const char *s, size_t n) {
    if (n == 0) return;
    const uint8_t *p = (const uint8_t *)s, *e = p + n;
    /* Plain bytes and valid UTF-8 are copied one for one into room made for
     * all the rest of the input; an escape or a U+FFFD makes room again. */
    while (p < e) {
        if (tw__buf_reserve(b, (size_t)(e - p))) return;
        uint8_t *o = b->data + b->len;
        int k = 0;
        while (p < e) {
            uint8_t cl = byte_class[*p];
            if (TW_LIKELY(cl == 0)) {
                *o++ = *p++;
            } else if (cl == 2 && (k = utf8_seq(p, e)) > 0) {
                memcpy(o, p, (size_t)k);
                o += k, p += k;
            } else {
                break;
            }
        }
        b->len = (size_t)(o - b->data);
        if (p == e) break;
        if (*p >= 0x80) { /* invalid UTF-8: k is minus its maximal subpart */
            tw__buf_append(b, "\xEF\xBF\xBD", 3);
            p += -k;
        } else {
            put_escape(b, *p++);
        }
    }
}

void tw__json_key(tw__json *j, const char *k, size_t n) {
    item_prefix(j);
    if (n == TW_NTS) n = strlen(k);
    tw__buf_putc(j->b, '"');
    tw__json_escape(j->b, k, n);
    tw__buf_append(j->b, "\":", 2);
    j->after_key = true;
}

void tw__json_key_plain(tw__json *j, const char *k, size_t n) {
    item_prefix(j);
    tw__buf *b = j->b;
    if (tw__buf_reserve(b, n + 3)) return;
    b->data[b->len] = '"';
    memcpy(b->data + b->len + 1, k, n);
    b->data[b->len + 1 + n] = '"';
    b->data[b->len + 2 + n] = ':';
    b->len += n + 3;
    j->after_key = true;
}

void tw__json_string(tw__json *j, const char *s, size_t n) {
    item_prefix(j);
    if (n == TW_NTS) n = s ? strlen(s) : 0;
    tw__buf_putc(j->b, '"');
    tw__json_escape(j->b, s, n);
    tw__buf_putc(j->b, '"');
}

/* Decimal digits of v, written backwards ending at `end`; returns the start. */
static char *u64_digits(uint64_t v, char *end) {
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

static void put_int(tw__json *j, int64_t v, bool quoted) {
    char tmp[24], *end = tmp + sizeof tmp, *p;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    p = u64_digits(u, end - quoted);
    if (v < 0) *--p = '-';
    if (quoted) *--p = '"', end[-1] = '"';
    item_prefix(j);
    tw__buf_append(j->b, p, (size_t)(end - p));
}

static void put_uint(tw__json *j, uint64_t v, bool quoted) {
    char tmp[24], *end = tmp + sizeof tmp, *p;
    p = u64_digits(v, end - quoted);
    if (quoted) *--p = '"', end[-1] = '"';
    item_prefix(j);
    tw__buf_append(j->b, p, (size_t)(end - p));
}

void tw__json_int64(tw__json *j, int64_t v) { put_int(j, v, false); }
void tw__json_uint64(tw__json *j, uint64_t v) { put_uint(j, v, false); }
void tw__json_int64_string(tw__json *j, int64_t v) { put_int(j, v, true); }
void tw__json_uint64_string(tw__json *j, uint64_t v) { put_uint(j, v, true); }

void tw__json_double(tw__json *j, double v) {
    if (isnan(v)) {
        tw__json_raw(j, "\"NaN\"", 5);
        return;
    }
    if (isinf(v)) {
        if (v > 0)
            tw__json_raw(j, "\"Infinity\"", 10);
        else
            tw__json_raw(j, "\"-Infinity\"", 11);
        return;
    }
    char tmp[40];
    int n = 0;
    locale_t old = enter_c_locale();
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (prec == 17 || strtod(tmp, NULL) == v) break;
    }
    leave_c_locale(old);
    if (n <= 0 || (size_t)n >= sizeof tmp) {
        if (!j->b->failed) j->b->failed = TW_EINVAL;
        return;
    }
    /* Should the locale switch have failed, make the radix a '.'. */
    for (int i = 0; i < n; i++) {
        char c = tmp[i];
        if (!((c >= '0' && c <= '9') || c == 'e' || c == '-' || c == '+')) tmp[i] = '.';
    }
    tw__json_raw(j, tmp, (size_t)n);
}

void tw__json_bool(tw__json *j, bool v) {
    if (v)
        tw__json_raw(j, "true", 4);
    else
        tw__json_raw(j, "false", 5);
}

void tw__json_null(tw__json *j) { tw__json_raw(j, "null", 4); }

void tw__json_hex(tw__json *j, const uint8_t *p, size_t n) {
    item_prefix(j);
    tw__buf *b = j->b;
    if (tw__buf_reserve(b, 2 * n + 2)) return;
    b->data[b->len++] = '"';
    tw__hex_encode(p, n, (char *)b->data + b->len);
    b->len += 2 * n;
    b->data[b->len++] = '"';
}

void tw__json_base64(tw__json *j, const uint8_t *p, size_t n) {
    static const char tab[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    item_prefix(j);
    tw__buf *b = j->b;
    if (tw__buf_reserve(b, (n + 2) / 3 * 4 + 2)) return;
    char *o = (char *)b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = tab[(v >> 6) & 63], *o++ = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = '=', *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = tab[(v >> 6) & 63], *o++ = '=';
    }
    *o++ = '"';
    b->len = (size_t)((uint8_t *)o - b->data);
}

void tw__json_raw(tw__json *j, const char *s, size_t n) {
    item_prefix(j);
    tw__buf_append(j->b, s, n);
}

/* ---- reader -------------------------------------------------------------------- */

const char *tw__json_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static const char *skip_string(const char *p, const char *end) {
    if (p >= end || *p != '"') return NULL;
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c < 0x20) return NULL;
        if (c != '\\') continue;
        if (++p >= end) return NULL;
        if (*p == 'u') {
            if (end - p < 5) return NULL;
            for (int i = 1; i <= 4; i++)
                if (tw__hexval((unsigned char)p[i]) < 0) return NULL;
            p += 4;
        } else if (!strchr("\"\\/bfnrt", *p) || *p == 0) {
            return NULL;
        }
    }
    return NULL;
}

static const char *skip_digits(const char *p, const char *end) {
    const char *s = p;
    while (p < end && *p >= '0' && *p <= '9') p++;
    return p > s ? p : NULL;
}

static const char *skip_number(const char *p, const char *end) {
    if (p < end && *p == '-') p++;
    if (p < end && *p == '0') {
        p++;
    } else if (!(p = skip_digits(p, end))) {
        return NULL;
    }
    if (p < end && *p == '.' && !(p = skip_digits(p + 1, end))) return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (!(p = skip_digits(p, end))) return NULL;
    }
    return p;
}

static const char *skip_literal(const char *p, const char *end, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(end - p) < n || memcmp(p, lit, n)) return NULL;
    return p + n;
}

static const char *skip_value(const char *p, const char *end, int depth) {
    p = tw__json_ws(p, end);
    if (p >= end) return NULL;
    switch (*p) {
    case '{':
    case '[': {
        if (depth >= TW_JSON_MAX_DEPTH) return NULL;
        char close = *p == '{' ? '}' : ']';
        bool obj = *p == '{';
        p = tw__json_ws(p + 1, end);
        if (p < end && *p == close) return p + 1;
        for (;;) {
            if (obj) {
                p = skip_string(tw__json_ws(p, end), end);
                if (!p) return NULL;
                p = tw__json_ws(p, end);
                if (p >= end || *p != ':') return NULL;
                p++;
            }
            p = skip_value(p, end, depth + 1);
            if (!p) return NULL;
            p = tw__json_ws(p, end);
            if (p >= end) return NULL;
            if (*p == close) return p + 1;
            if (*p != ',') return NULL;
            p++;
        }
    }
    case '"': return skip_string(p, end);
    case 't': return skip_literal(p, end, "true");
    case 'f': return skip_literal(p, end, "false");
    case 'n': return skip_literal(p, end, "null");
    default: return skip_number(p, end);
    }
}

const char *tw__json_skip(const char *p, const char *end) { return skip_value(p, end, 0); }

/* Does the string literal [s, e) (quotes included) equal `key`? */
static bool key_equals(const char *s, const char *e, const char *key) {
    size_t kl = strlen(key), n = (size_t)(e - s) - 2;
    if (!memchr(s + 1, '\\', n)) return n == kl && memcmp(s + 1, key, kl) == 0;
    tw__buf tmp;
    tw__buf_init(&tmp, 0);
    bool eq = tw__json_unquote((tw_str){s, (size_t)(e - s)}, &tmp) == 0 && tmp.len == kl &&
              memcmp(tmp.data, key, kl) == 0;
    tw__buf_free(&tmp);
    return eq;
}

/* Iterate a container: *pp is just past the opening bracket (`*first`
 * set) or at the ',' or closing bracket after the previous item. Yields the
 * item (and for objects the key literal [*ks, *ke)): 1 with an item, 0 at
 * the end, TW_EPARSE. */
static int next_item(const char **pp, const char *end, bool obj, bool *first, const char **ks,
                     const char **ke, tw_str *val) {
    const char *p = tw__json_ws(*pp, end);
    if (p >= end) return TW_EPARSE;
    if (*p == (obj ? '}' : ']')) return 0;
    if (!*first) {
        if (*p != ',') return TW_EPARSE;
        p = tw__json_ws(p + 1, end);
    }
    *first = false;
    if (obj) {
        *ks = p;
        p = skip_string(p, end);
        if (!p) return TW_EPARSE;
        *ke = p;
        p = tw__json_ws(p, end);
        if (p >= end || *p != ':') return TW_EPARSE;
        p++;
    }
    const char *vs = tw__json_ws(p, end), *ve = skip_value(vs, end, 1);
    if (!ve) return TW_EPARSE;
    p = tw__json_ws(ve, end);
    if (p >= end || (*p != ',' && *p != (obj ? '}' : ']'))) return TW_EPARSE;
    *val = (tw_str){vs, (size_t)(ve - vs)};
    *pp = p;
    return 1;
}

static int open_container(tw_str v, char open, const char **p, const char **end) {
    *end = v.ptr + v.len;
    *p = tw__json_ws(v.ptr, *end);
    if (*p >= *end || **p != open) return TW_EPARSE;
    (*p)++;
    return 0;
}

int tw__json_get(tw_str obj, const char *key, tw_str *val) {
    const char *p, *end, *ks, *ke;
    if (open_container(obj, '{', &p, &end)) return TW_EPARSE;
    tw_str v;
    int rc;
    bool first = true;
    while ((rc = next_item(&p, end, true, &first, &ks, &ke, &v)) == 1) {
        if (key_equals(ks, ke, key)) {
            *val = v;
            return 0;
        }
    }
    return rc == 0 ? TW_ENOTFOUND : rc;
}

int tw__json_at(tw_str arr, size_t idx, tw_str *val) {
    const char *p, *end;
    if (open_container(arr, '[', &p, &end)) return TW_EPARSE;
    tw_str v;
    int rc;
    bool first = true;
    size_t i = 0;
    while ((rc = next_item(&p, end, false, &first, NULL, NULL, &v)) == 1) {
        if (i++ == idx) {
            *val = v;
            return 0;
        }
    }
    return rc == 0 ? TW_ENOTFOUND : rc;
}

long tw__json_count(tw_str arr) {
    const char *p, *end;
    if (open_container(arr, '[', &p, &end)) return TW_EPARSE;
    tw_str v;
    int rc;
    bool first = true;
    long n = 0;
    while ((rc = next_item(&p, end, false, &first, NULL, NULL, &v)) == 1) n++;
    return rc == 0 ? n : rc;
}

static void put_utf8(tw__buf *out, uint32_t cp) {
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) u[0] = (uint8_t)cp, n = 1;
    else if (cp < 0x800) u[0] = (uint8_t)(0xC0 | cp >> 6), u[1] = (uint8_t)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        u[0] = (uint8_t)(0xE0 | cp >> 12), u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)),
        u[2] = (uint8_t)(0x80 | (cp & 0x3F)), n = 3;
    else
        u[0] = (uint8_t)(0xF0 | cp >> 18), u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F)),
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (uint8_t)(0x80 | (cp & 0x3F)), n = 4;
    tw__buf_append(out, u, n);
}

static uint32_t hex4(const char *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = v << 4 | (uint32_t)tw__hexval((unsigned char)p[i]);
    return v;
}

int tw__json_unquote(tw_str v, tw__buf *out) {
    const char *p = v.ptr, *end = v.ptr + v.len;
    if (skip_string(p, end) != end) return TW_EPARSE;
    end--; /* the closing quote */
    for (p++; p < end; p++) {
        const char *run = p;
        while (p < end && *p != '\\') p++;
        tw__buf_append(out, run, (size_t)(p - run));
        if (p == end) break;
        char c = *++p;
        switch (c) {
        case 'b': tw__buf_putc(out, '\b'); break;
        case 'f': tw__buf_putc(out, '\f'); break;
        case 'n': tw__buf_putc(out, '\n'); break;
        case 'r': tw__buf_putc(out, '\r'); break;
        case 't': tw__buf_putc(out, '\t'); break;
        case 'u': {
            uint32_t cp = hex4(p + 1);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 7 && p[1] == '\\' && p[2] == 'u') {
                uint32_t lo = hex4(p + 3);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
            put_utf8(out, cp);
            break;
        }
        default: tw__buf_putc(out, (uint8_t)c); break; /* " \ / */
        }
    }
    return out->failed;
}

int tw__json_to_int64(tw_str v, int64_t *out) {
    const char *p = v.ptr, *end = v.ptr + v.len;
    if (p < end && *p == '"') {
        if (end - p < 2 || end[-1] != '"') return TW_EPARSE;
        p++, end--;
    }
    bool neg = p < end && *p == '-';
    if (neg) p++;
    if (p >= end) return TW_EPARSE;
    uint64_t u = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') return TW_EPARSE;
        unsigned d = (unsigned)(*p - '0');
        if (u > (UINT64_MAX - d) / 10) return TW_EPARSE;
        u = u * 10 + d;
    }
    if (neg ? u > (uint64_t)INT64_MAX + 1 : u > (uint64_t)INT64_MAX) return TW_EPARSE;
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 0;
}

int tw__json_to_double(tw_str v, double *out) {
    if (v.len && v.ptr[0] == '"') {
        if (v.len == 5 && !memcmp(v.ptr, "\"NaN\"", 5)) *out = NAN;
        else if (v.len == 10 && !memcmp(v.ptr, "\"Infinity\"", 10)) *out = INFINITY;
        else if (v.len == 11 && !memcmp(v.ptr, "\"-Infinity\"", 11)) *out = -INFINITY;
        else return TW_EPARSE;
        return 0;
    }
    char tmp[64];
    if (v.len == 0 || v.len >= sizeof tmp || skip_number(v.ptr, v.ptr + v.len) != v.ptr + v.len)
        return TW_EPARSE;
    memcpy(tmp, v.ptr, v.len);
    tmp[v.len] = '\0';
    locale_t old = enter_c_locale();
    *out = strtod(tmp, NULL);
    leave_c_locale(old);
    return 0;
}

int tw__json_to_bool(tw_str v, bool *out) {
    if (v.len == 4 && !memcmp(v.ptr, "true", 4)) *out = true;
    else if (v.len == 5 && !memcmp(v.ptr, "false", 5)) *out = false;
    else return TW_EPARSE;
    return 0;
}

int tw__json_iter_open(tw__json_iter *it, const char *p, const char *end, char open) {
    p = tw__json_ws(p, end);
    it->end = end;
    it->obj = open == '{';
    it->first = true;
    if (p >= end || *p != open) {
        it->p = p;
        return TW_EPARSE;
    }
    it->p = p + 1;
    return 0;
}

int tw__json_iter_next(tw__json_iter *it, tw_str *key) {
    const char *p = tw__json_ws(it->p, it->end), *end = it->end;
    if (p < end && *p == (it->obj ? '}' : ']')) {
        it->p = p + 1;
        return 0;
    }
    if (!it->first) {
        if (p >= end || *p != ',') goto bad;
        p = tw__json_ws(p + 1, end);
    }
    it->first = false;
    if (it->obj) {
        const char *ke = p < end && *p == '"' ? tw__json_skip(p, end) : NULL;
        if (!ke) goto bad;
        *key = (tw_str){p, (size_t)(ke - p)};
        p = tw__json_ws(ke, end);
        if (p >= end || *p != ':') goto bad;
        p++;
    }
    it->p = tw__json_ws(p, end);
    if (it->p < end) return 1;
    p = it->p;
bad:
    it->p = p;
    return TW_EPARSE;
}

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

long tw__base64_decode(const char *s, size_t n, uint8_t *out, size_t cap) {
    if (n % 4 == 0 && n && s[n - 1] == '=') n -= 1 + (s[n - 2] == '=');
    if (n % 4 == 1) return -1;
    size_t len = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (len > cap) return -1;
    uint32_t acc = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            out[o++] = (uint8_t)(acc >> 16), out[o++] = (uint8_t)(acc >> 8), out[o++] = (uint8_t)acc;
            acc = 0;
        }
    }
    if (n % 4 == 2) out[o++] = (uint8_t)(acc >> 4);
    if (n % 4 == 3) out[o++] = (uint8_t)(acc >> 10), out[o++] = (uint8_t)(acc >> 2);
    return (long)o;
}
