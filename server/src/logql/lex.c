/*
 * lex.c — LogQL tokens, as Loki's lexer (text/scanner underneath) makes
 * them, and the scanners of durations, sizes and numbers that label
 * filters share with the evaluator.
 *
 *  - strings: double quotes with Go's escapes (\a \b \f \n \r \t \v \\ \"
 *    \NNN \xHH \uHHHH \UHHHHHHHH), no raw newline; or backquotes, raw;
 *  - `[...]` is one RANGE token holding a duration;
 *  - a number followed by letters is a DURATION (10s, 1h30m, 5d) or a
 *    BYTES size (20KB, 1MiB), else an error;
 *  - `--word` is a parser flag (--strict); `#` comments run to the end of
 *    the line.
 *
 * Invariant: every byte of input is part of a token or reported; an error
 * token's pos is where the fault is, except in a string, where it is the
 * opening quote (Loki reports text/scanner's Position, the token's start,
 * for an unterminated literal and for an invalid escape alike).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logql/logql_int.h"

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

/* ---- scanners ----------------------------------------------------------------------- */

bool lq_scan_float(const char *s, size_t n, double *v) {
    char tmp[256];
    if (!n || n >= sizeof tmp || is_blank(s[0]) || memchr(s, 0, n)) return false;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *e;
    *v = strtod(tmp, &e);
    return e == tmp + n;
}

static const struct { const char *u; double ns; bool day; } DUR_UNITS[] = {
    {"ns", 1, false}, {"us", 1e3, false}, {"\xC2\xB5s", 1e3, false}, {"\xCE\xBCs", 1e3, false},
    {"ms", 1e6, false}, {"s", 1e9, false}, {"m", 6e10, false}, {"h", 3.6e12, false},
    {"d", 8.64e13, true}, {"w", 6.048e14, true}, {"y", 3.1536e16, true},
};

/* The unit at s (longest spelling), or 0 bytes. */
static size_t dur_unit(const char *s, size_t n, bool days, double *ns) {
    size_t best = 0;
    for (size_t k = 0; k < TW_ARRAY_LEN(DUR_UNITS); k++) {
        size_t un = strlen(DUR_UNITS[k].u);
        if ((days || !DUR_UNITS[k].day) && un <= n && un > best && !memcmp(s, DUR_UNITS[k].u, un)) {
            best = un;
            *ns = DUR_UNITS[k].ns;
        }
    }
    return best;
}

bool lq_scan_duration(const char *s, size_t n, bool allow_days, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    if (n - i == 1 && s[i] == '0') {
        *out = 0;
        return true;
    }
    if (i == n) return false;
    double total = 0;
    while (i < n) {
        size_t st = i;
        double whole = 0, frac = 0, scale = 1;
        while (i < n && is_digit(s[i])) whole = whole * 10 + (s[i++] - '0');
        if (i < n && s[i] == '.')
            for (i++; i < n && is_digit(s[i]); i++) frac += (s[i] - '0') * (scale /= 10);
        if (i == st || (i == st + 1 && s[st] == '.')) return false;
        double unit;
        size_t un = dur_unit(s + i, n - i, allow_days, &unit);
        if (!un) return false;
        total += (whole + frac) * unit;
        i += un;
    }
    if (!(total < 9.2e18)) return false;
    *out = neg ? -(int64_t)llround(total) : (int64_t)llround(total);
    return true;
}

bool lq_scan_bytes(const char *s, size_t n, double *bytes) {
    static const struct { const char *u; double mul; } UNITS[] = {
        {"", 1}, {"b", 1}, {"k", 1e3}, {"kb", 1e3}, {"ki", 1024}, {"kib", 1024},
        {"m", 1e6}, {"mb", 1e6}, {"mi", 1048576}, {"mib", 1048576},
        {"g", 1e9}, {"gb", 1e9}, {"gi", 1073741824.0}, {"gib", 1073741824.0},
        {"t", 1e12}, {"tb", 1e12}, {"ti", 1099511627776.0}, {"tib", 1099511627776.0},
        {"p", 1e15}, {"pb", 1e15}, {"pi", 1125899906842624.0}, {"pib", 1125899906842624.0},
        {"e", 1e18}, {"eb", 1e18}, {"ei", 1152921504606846976.0}, {"eib", 1152921504606846976.0},
    };
    size_t i = 0;
    while (i < n && (is_digit(s[i]) || s[i] == '.')) i++;
    double v;
    if (!lq_scan_float(s, i, &v)) return false;
    while (i < n && s[i] == ' ') i++;
    char unit[4];
    if (n - i >= sizeof unit) return false;
    for (size_t k = i; k < n; k++) unit[k - i] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k]);
    unit[n - i] = 0;
    for (size_t k = 0; k < TW_ARRAY_LEN(UNITS); k++)
        if (!strcmp(unit, UNITS[k].u)) {
            *bytes = v * UNITS[k].mul;
            return true;
        }
    return false;
}

/* ---- tokens ------------------------------------------------------------------------- */

static lq_tok tok(lq_tok_kind k, size_t pos, size_t end) { return (lq_tok){.kind = k, .pos = (uint32_t)pos, .end = (uint32_t)end}; }

static lq_tok fail(lq_lexer *lx, size_t pos, const char *fmt, const char *arg1, const char *arg2) {
    snprintf(lx->msg, sizeof lx->msg, fmt, arg1, arg2);
    lq_tok t = tok(LT_ERROR, pos, pos + 1);
    t.text = lx->msg;
    lx->at = lx->len; /* stop */
    return t;
}

static int hexdig(char c) { return tw__hexval((unsigned char)c); }

/* Code point cp as UTF-8 at o; bytes written. */
static size_t utf8_encode(uint32_t cp, char *o) {
    if (cp < 0x80) return (void)(o[0] = (char)cp), 1;
    size_t n = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    static const uint8_t lead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
    for (size_t k = n - 1; k > 0; k--, cp >>= 6) o[k] = (char)(0x80 | (cp & 0x3F));
    o[0] = (char)(lead[n] | cp);
    return n;
}

/* A string whose opening quote is at lx->at. */
static lq_tok lex_string(lq_lexer *lx) {
    const char *s = lx->src;
    size_t open = lx->at, i = open + 1;
    char q = s[open];
    /* find the end; the decoded text is never longer than the source */
    size_t end = i;
    while (end < lx->len && s[end] != q) {
        if (q == '"' && s[end] == '\n') break;
        end += q == '"' && s[end] == '\\' && end + 1 < lx->len ? 2 : 1;
    }
    if (end >= lx->len || s[end] != q) return fail(lx, open, "literal not terminated", "", "");
    char *o = lq_alloc(lx->q, end - i + 1);
    if (!o) return fail(lx, open, "out of memory", "", "");
    size_t n = 0;
    while (i < end) {
        if (q == '`' || s[i] != '\\') {
            o[n++] = s[i++];
            continue;
        }
        i++;
        char e = s[i++];
        const char *simple = strchr("abfnrtv\\\"", e);
        if (e && simple) {
            o[n++] = "\a\b\f\n\r\t\v\\\""[simple - "abfnrtv\\\""];
            continue;
        }
        uint32_t cp = 0;
        int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : (e >= '0' && e <= '7') ? 3 : 0;
        int base = e >= '0' && e <= '7' ? 8 : 16;
        if (base == 8) i--; /* the first octal digit is e */
        for (int k = 0; k < digits; k++, i++) {
            int v = i < end ? hexdig(s[i]) : -1;
            if (v < 0 || v >= base) return fail(lx, open, "invalid char escape", "", "");
            cp = cp * (uint32_t)base + (uint32_t)v;
        }
        if (!digits || (base == 8 && cp > 255) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return fail(lx, open, "invalid char escape", "", "");
        if (e == 'x' || base == 8) o[n++] = (char)cp;
        else n += utf8_encode(cp, o + n);
    }
    o[n] = 0;
    lx->at = end + 1;
    lq_tok t = tok(LT_STRING, open, lx->at);
    t.text = o;
    t.len = (uint32_t)n;
    return t;
}

/* [duration] */
static lq_tok lex_range(lq_lexer *lx) {
    size_t open = lx->at;
    const char *close = memchr(lx->src + open, ']', lx->len - open);
    if (!close) return fail(lx, open, "missing closing ']' in duration", "", "");
    const char *d = lx->src + open + 1;
    size_t n = (size_t)(close - d);
    char text[64];
    snprintf(text, sizeof text, "%.*s", (int)TW_MIN(n, 48u), d);
    int64_t ns;
    if (!lq_scan_duration(d, n, true, &ns) || ns < 0) {
        /* Go's words: the first unit that is not one */
        size_t k = 0;
        while (k < n && (is_digit(d[k]) || d[k] == '.')) k++;
        size_t u = k;
        while (u < n && !is_digit(d[u]) && d[u] != '.') u++;
        double unused;
        if (k > 0 && u > k && dur_unit(d + k, u - k, true, &unused) != u - k) {
            char unit[32];
            snprintf(unit, sizeof unit, "%.*s", (int)TW_MIN(u - k, 24u), d + k);
            return fail(lx, open, "unknown unit \"%s\" in duration \"%s\"", unit, text);
        }
        return fail(lx, open, "not a valid duration string: \"%s\"%s", text, "");
    }
    if (ns == 0) return fail(lx, open, "invalid range \"%s\": the range must be greater than 0%s", text, "");
    lx->at = (size_t)(close - lx->src) + 1;
    lq_tok t = tok(LT_RANGE, open, lx->at);
    t.i = ns;
    return t;
}

static bool unit_byte(char c) {
    unsigned char u = (unsigned char)c;
    return is_alpha(c) || is_digit(c) || c == '.' || u == 0xC2 || u == 0xB5 || u == 0xCE || u == 0xBC;
}

static lq_tok lex_number(lq_lexer *lx) {
    const char *s = lx->src;
    size_t st = lx->at, i = st;
    while (i < lx->len && is_digit(s[i])) i++;
    if (i + 1 < lx->len && s[i] == '.' && is_digit(s[i + 1]))
        for (i++; i < lx->len && is_digit(s[i]); i++) {}
    if (i < lx->len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < lx->len && (s[j] == '+' || s[j] == '-')) j++;
        if (j < lx->len && is_digit(s[j]))
            for (i = j; i < lx->len && is_digit(s[i]); i++) {}
    }
    if (i < lx->len && unit_byte(s[i]) && s[i] != '.') {
        size_t j = i;
        while (j < lx->len && unit_byte(s[j])) j++;
        lq_tok t = tok(LT_DURATION, st, j);
        if (lq_scan_duration(s + st, j - st, true, &t.i)) {
            t.f = (double)t.i;
        } else if (lq_scan_bytes(s + st, j - st, &t.f)) {
            t.kind = LT_BYTES;
        } else {
            char word[48];
            snprintf(word, sizeof word, "%.*s", (int)TW_MIN(j - st, 40u), s + st);
            return fail(lx, st, "invalid number \"%s\": not a duration (10s, 1h30m) nor a size (20KB, 1MiB)%s", word, "");
        }
        lx->at = j;
        return t;
    }
    lq_tok t = tok(LT_NUMBER, st, i);
    if (!lq_scan_float(s + st, i - st, &t.f)) return fail(lx, st, "invalid number%s%s", "", "");
    lx->at = i;
    return t;
}

lq_tok lq_lex_next(lq_lexer *lx) {
    const char *s = lx->src;
    for (;;) {
        while (lx->at < lx->len && is_blank(s[lx->at])) lx->at++;
        if (lx->at >= lx->len || s[lx->at] != '#') break;
        while (lx->at < lx->len && s[lx->at] != '\n') lx->at++;
    }
    size_t p = lx->at;
    if (p >= lx->len) return tok(LT_EOF, p, p);
    char c = s[p], d = p + 1 < lx->len ? s[p + 1] : 0;
    static const struct { char c, d; lq_tok_kind k; } TWO[] = {
        {'=', '~', LT_RE}, {'=', '=', LT_CMP_EQ}, {'!', '=', LT_NEQ}, {'!', '~', LT_NRE}, {'!', '>', LT_NPA},
        {'|', '=', LT_PIPE_EXACT}, {'|', '~', LT_PIPE_MATCH}, {'|', '>', LT_PIPE_PATTERN}, {'>', '=', LT_GTE},
        {'<', '=', LT_LTE},
    };
    for (size_t k = 0; k < TW_ARRAY_LEN(TWO); k++)
        if (TWO[k].c == c && TWO[k].d == d) {
            lx->at = p + 2;
            return tok(TWO[k].k, p, p + 2);
        }
    static const char ONE[] = "{}(),=|><";
    static const lq_tok_kind ONE_K[] = {LT_LBRACE, LT_RBRACE, LT_LPAREN, LT_RPAREN, LT_COMMA, LT_EQ, LT_PIPE, LT_GT, LT_LT};
    const char *one = strchr(ONE, c);
    if (c && one) {
        lx->at = p + 1;
        return tok(ONE_K[one - ONE], p, p + 1);
    }
    if (c == '"' || c == '`') return lex_string(lx);
    if (c == '[') return lex_range(lx);
    if (is_digit(c) || (c == '.' && is_digit(d))) return lex_number(lx);
    if (c == '-' && d == '-' && p + 2 < lx->len && is_alpha(s[p + 2])) {
        size_t e = p + 2;
        while (e < lx->len && (is_alpha(s[e]) || is_digit(s[e]) || s[e] == '-')) e++;
        lq_tok t = tok(LT_FLAG, p, e);
        t.text = s + p + 2;
        t.len = (uint32_t)(e - p - 2);
        lx->at = e;
        return t;
    }
    if (c && strchr("+-*/%^", c)) {
        lq_tok t = tok(LT_ARITH, p, p + 1);
        t.text = s + p;
        t.len = 1;
        lx->at = p + 1;
        return t;
    }
    if (is_alpha(c)) {
        size_t e = p;
        while (e < lx->len && (is_alpha(s[e]) || is_digit(s[e]))) e++;
        lq_tok t = tok(LT_IDENT, p, e);
        t.text = s + p;
        t.len = (uint32_t)(e - p);
        lx->at = e;
        return t;
    }
    char ch[8];
    if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7F) snprintf(ch, sizeof ch, "'%c'", c);
    else snprintf(ch, sizeof ch, "0x%02X", (unsigned char)c);
    return fail(lx, p, "syntax error: unexpected character %s%s", ch, "");
}
