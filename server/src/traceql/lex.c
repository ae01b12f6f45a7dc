/*
 * lex.c — TraceQL tokens, as Tempo's lexer makes them:
 *  - attributes: `.name`, `span.name`, `resource.name`, `event.name`,
 *    `link.name`, `instrumentation.name`; a name runs until white space or
 *    one of {}()=~!<>&|^, so `span.http.status_code` and `.a-b/c` are one
 *    name each; a quoted name (`span."a b"`) takes Go string escapes;
 *  - strings in double quotes (Go escapes: \n \t \" \\ \uXXXX ...) or
 *    backquotes (raw);
 *  - integers, floats (`1.5`, `.99`, `1e3`) and durations (`150ms`,
 *    `1.5s`, `1h30m`; units ns us µs ms s m h);
 *  - words (`name`, `span:id`, `count`, `ok`, ...): the parser decides.
 *
 * Invariant: a TK_ERROR token's text says what was wrong; every byte of
 * input is either consumed by a token or reported.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traceql/traceql_int.h"

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_word_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_word(char c) { return is_word_start(c) || is_digit(c); }
static bool is_attr_char(char c) {
    if (is_space(c) || c == 0) return false;
    return !strchr("{}()=~!<>&|^,", c);
}

static tq_tok error_tok(tq_lexer *lx, uint32_t pos, const char *msg) {
    tq_tok t = {.kind = TK_ERROR, .text = msg, .pos = pos, .end = pos + 1};
    lx->at = lx->len; /* stop */
    return t;
}

/* Encode code point `cp` as UTF-8 at out; bytes written. */
static int utf8_put(char *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A quoted string starting at lx->at (the quote). Sets *t to TK_STRING
 * (text unescaped into the arena) or TK_ERROR. */
static tq_tok lex_string(tq_lexer *lx) {
    uint32_t pos = (uint32_t)lx->at;
    char q = lx->src[lx->at++];
    size_t start = lx->at;
    /* The unescaped text is never longer than the escaped one. */
    size_t end = start;
    while (end < lx->len && lx->src[end] != q) {
        if (q == '"' && lx->src[end] == '\\' && end + 1 < lx->len) end++;
        end++;
    }
    if (end >= lx->len) return error_tok(lx, pos, "unterminated string: a closing quote is missing");
    char *out = tq_arena_alloc(lx->arena, end - start + 1);
    if (!out) return error_tok(lx, pos, "out of memory");
    size_t n = 0;
    for (size_t i = start; i < end; i++) {
        char c = lx->src[i];
        if (q == '`' || c != '\\') {
            out[n++] = c;
            continue;
        }
        char e = lx->src[++i];
        switch (e) {
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'r': out[n++] = '\r'; break;
        case 'a': out[n++] = '\a'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'v': out[n++] = '\v'; break;
        case '\\': out[n++] = '\\'; break;
        case '"': out[n++] = '"'; break;
        case '\'': out[n++] = '\''; break;
        case 'x': case 'u': case 'U': {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int k = 0; k < digits; k++) {
                int v = i + 1 < end ? tw__hexval((unsigned char)lx->src[i + 1]) : -1;
                if (v < 0) return error_tok(lx, (uint32_t)i, "invalid escape in string: expected hex digits");
                cp = cp << 4 | (uint32_t)v;
                i++;
            }
            if (e == 'x') out[n++] = (char)cp;
            else if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return error_tok(lx, (uint32_t)i, "invalid escape in string: not a Unicode code point");
            else n += (size_t)utf8_put(out + n, cp);
            break;
        }
        default:
            return error_tok(lx, (uint32_t)i, "invalid escape in string: use \\\" \\\\ \\n \\t \\r or \\uXXXX");
        }
    }
    out[n] = 0;
    lx->at = end + 1;
    return (tq_tok){.kind = TK_STRING, .text = out, .len = (uint32_t)n, .pos = pos, .end = (uint32_t)lx->at};
}

/* Duration units, longest first where one is a prefix of another. */
static const struct { const char *u; uint64_t ns; } UNITS[] = {
    {"ns", 1}, {"us", 1000}, {"\xC2\xB5s", 1000}, {"\xCE\xBCs", 1000}, {"ms", 1000000},
    {"s", 1000000000ull}, {"m", 60000000000ull}, {"h", 3600000000000ull}, {"d", 86400000000000ull},
    {"w", 604800000000000ull}, {"y", 31536000000000000ull},
};

static size_t unit_at(const char *p, size_t avail, uint64_t *ns) {
    size_t best = 0;
    for (size_t k = 0; k < TW_ARRAY_LEN(UNITS); k++) {
        size_t n = strlen(UNITS[k].u);
        if (n <= avail && !memcmp(p, UNITS[k].u, n) && n > best && !(n < avail && is_word(p[n]) && !is_digit(p[n]))) {
            best = n;
            *ns = UNITS[k].ns;
        }
    }
    return best;
}

/* A number (or duration) at lx->at. */
static tq_tok lex_number(tq_lexer *lx) {
    uint32_t pos = (uint32_t)lx->at;
    const char *s = lx->src;
    size_t i = lx->at;
    bool is_float = false;
    while (i < lx->len && is_digit(s[i])) i++;
    if (i < lx->len && s[i] == '.' && i + 1 < lx->len && is_digit(s[i + 1])) {
        is_float = true;
        i++;
        while (i < lx->len && is_digit(s[i])) i++;
    }
    if (i < lx->len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < lx->len && (s[j] == '+' || s[j] == '-')) j++;
        if (j < lx->len && is_digit(s[j])) {
            is_float = true;
            i = j;
            while (i < lx->len && is_digit(s[i])) i++;
        }
    }
    char num[64];
    if (i - lx->at >= sizeof num) return error_tok(lx, pos, "number too long");
    memcpy(num, s + lx->at, i - lx->at);
    num[i - lx->at] = 0;
    uint64_t unit;
    if (i < lx->len && unit_at(s + i, lx->len - i, &unit)) {
        /* A duration: one or more number+unit pairs (1h30m, 1.5s). */
        double total = 0;
        size_t j = lx->at;
        for (;;) {
            size_t k = j;
            while (k < lx->len && (is_digit(s[k]) || s[k] == '.')) k++;
            if (k == j || k - j >= sizeof num) break;
            memcpy(num, s + j, k - j);
            num[k - j] = 0;
            size_t un = k < lx->len ? unit_at(s + k, lx->len - k, &unit) : 0;
            if (!un) return error_tok(lx, (uint32_t)k, "invalid duration: expected a unit (ns, us, ms, s, m, h)");
            char *e;
            double v = strtod(num, &e);
            if (*e) return error_tok(lx, (uint32_t)j, "invalid duration");
            total += v * (double)unit;
            j = k + un;
            if (j >= lx->len || !is_digit(s[j])) break;
        }
        if (j < lx->len && (is_word(s[j]) || s[j] == '.'))
            return error_tok(lx, (uint32_t)j, "invalid duration: unexpected character after the unit");
        if (!(total < 9.2e18)) return error_tok(lx, pos, "duration out of range");
        lx->at = j;
        return (tq_tok){.kind = TK_DURATION, .i = (int64_t)llround(total), .pos = pos, .end = (uint32_t)j};
    }
    if (i < lx->len && (is_word_start(s[i])))
        return error_tok(lx, (uint32_t)i, "invalid number: unexpected letter (durations take ns, us, ms, s, m or h)");
    lx->at = i;
    tq_tok t = {.pos = pos, .end = (uint32_t)i};
    char *e;
    if (!is_float) {
        errno = 0;
        unsigned long long v = strtoull(num, &e, 10);
        if (errno || v > (unsigned long long)INT64_MAX) is_float = true; /* too big for an integer */
        else {
            t.kind = TK_INT;
            t.i = (int64_t)v;
            return t;
        }
    }
    t.kind = TK_FLOAT;
    t.f = strtod(num, &e);
    return t;
}

/* An attribute name after its scope prefix, at lx->at: plain runs and
 * quoted segments (escapes \" and \\ only) concatenate, as in Tempo:
 * span."bar z".foo is "bar z.foo". */
static tq_tok lex_attr_name(tq_lexer *lx, uint32_t pos, uint8_t scope) {
    const char *s = lx->src;
    size_t start = lx->at, end = start;
    /* first pass: find the end and check the quotes */
    while (end < lx->len && is_attr_char(s[end])) {
        if (s[end] == '"') {
            size_t k = end + 1;
            while (k < lx->len && s[k] != '"') {
                if (s[k] == '\\') {
                    if (k + 1 >= lx->len || (s[k + 1] != '"' && s[k + 1] != '\\'))
                        return error_tok(lx, (uint32_t)k, "invalid escape in a quoted attribute name: only \\\" and \\\\");
                    k++;
                }
                k++;
            }
            if (k >= lx->len) return error_tok(lx, (uint32_t)end, "unterminated quoted attribute name: a closing quote is missing");
            end = k + 1;
        } else {
            end++;
        }
    }
    if (end == start) return error_tok(lx, pos, "expected an attribute name after the scope");
    char *name = tq_arena_alloc(lx->arena, end - start + 1);
    if (!name) return error_tok(lx, pos, "out of memory");
    size_t n = 0;
    bool quoted = false;
    for (size_t k = start; k < end; k++) {
        if (s[k] == '"') {
            quoted = !quoted;
            continue;
        }
        if (quoted && s[k] == '\\') k++;
        name[n++] = s[k];
    }
    if (!n) return error_tok(lx, pos, "empty attribute name");
    lx->at = end;
    return (tq_tok){.kind = TK_ATTR, .scope = scope, .text = name, .len = (uint32_t)n, .pos = pos, .end = (uint32_t)end};
}

static const struct { const char *text; tq_tok_op op; } OPS[] = {
    /* longest first */
    {"!>>", TO_NOT_DESC}, {"!<<", TO_NOT_ANCE}, {"&>>", TO_UNION_DESC}, {"&<<", TO_UNION_ANCE},
    {">>", TO_DESC}, {"<<", TO_ANCE}, {"!=", TO_NEQ}, {"!~", TO_NRE}, {"!>", TO_NOT_CHILD}, {"!<", TO_NOT_PARENT},
    {"&>", TO_UNION_CHILD}, {"&<", TO_UNION_PARENT}, {"&~", TO_UNION_SIBL}, {"&&", TO_AND}, {"||", TO_OR},
    {"<=", TO_LTE}, {">=", TO_GTE}, {"=~", TO_RE}, {"=", TO_EQ}, {"<", TO_LT}, {">", TO_GT}, {"~", TO_SIBL},
    {"!", TO_NOT}, {"+", TO_ADD}, {"-", TO_SUB}, {"*", TO_MUL}, {"/", TO_DIV}, {"%", TO_MOD}, {"^", TO_POW},
};

const char *tq_tok_op_text(tq_tok_op op) {
    for (size_t k = 0; k < TW_ARRAY_LEN(OPS); k++)
        if (OPS[k].op == op) return OPS[k].text;
    return "?";
}

static const struct { const char *prefix; uint8_t scope; } SCOPES[] = {
    {"span.", TQ_SCOPE_SPAN}, {"resource.", TQ_SCOPE_RESOURCE}, {"event.", TQ_SCOPE_EVENT},
    {"link.", TQ_SCOPE_LINK}, {"instrumentation.", TQ_SCOPE_INSTRUMENTATION},
};

tq_tok tq_lex_next(tq_lexer *lx) {
    const char *s = lx->src;
    for (;;) { /* white space and Go-style comments, as Tempo's scanner skips them */
        while (lx->at < lx->len && is_space(s[lx->at])) lx->at++;
        if (lx->at + 1 < lx->len && s[lx->at] == '/' && s[lx->at + 1] == '/') {
            while (lx->at < lx->len && s[lx->at] != '\n') lx->at++;
        } else if (lx->at + 1 < lx->len && s[lx->at] == '/' && s[lx->at + 1] == '*') {
            const char *e = NULL;
            for (size_t k = lx->at + 2; k + 1 < lx->len && !e; k++)
                if (s[k] == '*' && s[k + 1] == '/') e = s + k;
            if (!e) return error_tok(lx, (uint32_t)lx->at, "unterminated comment: */ is missing");
            lx->at = (size_t)(e - s) + 2;
        } else {
            break;
        }
    }
    uint32_t pos = (uint32_t)lx->at;
    if (lx->at >= lx->len) return (tq_tok){.kind = TK_EOF, .pos = pos, .end = pos};
    char c = s[lx->at];
    size_t left = lx->len - lx->at;
    switch (c) {
    case '{': lx->at++; return (tq_tok){.kind = TK_LBRACE, .pos = pos, .end = pos + 1};
    case '}': lx->at++; return (tq_tok){.kind = TK_RBRACE, .pos = pos, .end = pos + 1};
    case '(': lx->at++; return (tq_tok){.kind = TK_LPAREN, .pos = pos, .end = pos + 1};
    case ')': lx->at++; return (tq_tok){.kind = TK_RPAREN, .pos = pos, .end = pos + 1};
    case ',': lx->at++; return (tq_tok){.kind = TK_COMMA, .pos = pos, .end = pos + 1};
    case '"': case '`': return lex_string(lx);
    default: break;
    }
    if (c == '|' && !(left > 1 && s[lx->at + 1] == '|')) {
        lx->at++;
        return (tq_tok){.kind = TK_PIPE, .pos = pos, .end = pos + 1};
    }
    if (is_digit(c) || (c == '.' && left > 1 && is_digit(s[lx->at + 1]))) return lex_number(lx);
    if (c == '.') {
        lx->at++;
        return lex_attr_name(lx, pos, TQ_SCOPE_NONE);
    }
    for (size_t k = 0; k < TW_ARRAY_LEN(SCOPES); k++) {
        size_t n = strlen(SCOPES[k].prefix);
        if (left > n && !memcmp(s + lx->at, SCOPES[k].prefix, n)) {
            lx->at += n;
            return lex_attr_name(lx, pos, SCOPES[k].scope);
        }
    }
    if (is_word_start(c)) {
        size_t start = lx->at;
        while (lx->at < lx->len && (is_word(s[lx->at]) || (s[lx->at] == ':' && lx->at + 1 < lx->len &&
                                                             is_word_start(s[lx->at + 1]))))
            lx->at++;
        return (tq_tok){.kind = TK_IDENT, .text = s + start, .len = (uint32_t)(lx->at - start), .pos = pos,
                        .end = (uint32_t)lx->at};
    }
    for (size_t k = 0; k < TW_ARRAY_LEN(OPS); k++) {
        size_t n = strlen(OPS[k].text);
        if (left >= n && !memcmp(s + lx->at, OPS[k].text, n)) {
            lx->at += n;
            return (tq_tok){.kind = TK_OP, .op = OPS[k].op, .pos = pos, .end = (uint32_t)lx->at};
        }
    }
    return error_tok(lx, pos, "unexpected character");
}
