/*
 * parse.c — LogQL text to a checked query (grammar in logql.h), by
 * recursive descent with one token of lookahead (two where a stage word
 * may also be a label name: `| json` against `| json="x"`).
 *
 * Errors are Loki's: "parse error at line L, col C: syntax error:
 * unexpected X, expecting A or B", L and C 1-based (C in characters) at
 * the start of the offending token; at the end of the query, one past the
 * last character. Only the first error is kept.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "logql/logql_int.h"

typedef struct parser {
    lq_lexer lx;
    lq_tok tok;
    lq_query *q;
    char *err;
    int depth;
    bool failed;
    bool in_sum;
    bool closed; /* the log query was in parentheses: no stage may follow */
    bool nomem;
    tw__buf stages; /* lq_stage vector */
} parser;

/* ---- errors ----------------------------------------------------------------------------- */

static void fail_at(parser *p, uint32_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_at(parser *p, uint32_t pos, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = true;
    unsigned line = 1, col = 1;
    const char *s = p->lx.src, *stop = s + TW_MIN((size_t)pos, p->lx.len);
    for (const char *nl; (nl = memchr(s, '\n', (size_t)(stop - s))); s = nl + 1) line++;
    for (; s < stop; s++) col += ((unsigned char)*s & 0xC0) != 0x80;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, 256, "parse error at line %u, col %u: %s", line, col, msg);
}

static bool word_is(const lq_tok *t, const char *w) {
    return t->kind == LT_IDENT && t->len == strlen(w) && !memcmp(t->text, w, t->len);
}

/* Words Loki's lexer makes tokens of their own (printed as themselves). */
static const char *const KEYWORDS[] = {
    "by", "without", "and", "or", "unless", "bool", "on", "ignoring", "group_left", "group_right", "offset",
    "json", "logfmt", "xml", "regexp", "unpack", "pattern", "line_format", "label_format", "decolorize",
    "drop", "keep", "unwrap", "ip", NULL,
};

static bool word_in(const lq_tok *t, const char *const *list) {
    for (; *list; list++)
        if (word_is(t, *list)) return true;
    return false;
}

/* The token as Loki's parser names it. */
static const char *tokname(const lq_tok *t, char *buf, size_t cap) {
    static const char *const NAMES[] = {
        [LT_EOF] = "$end", [LT_LBRACE] = "{", [LT_RBRACE] = "}", [LT_LPAREN] = "(", [LT_RPAREN] = ")",
        [LT_COMMA] = ",", [LT_EQ] = "=", [LT_NEQ] = "!=", [LT_RE] = "=~", [LT_NRE] = "!~", [LT_CMP_EQ] = "==",
        [LT_GT] = ">", [LT_GTE] = ">=", [LT_LT] = "<", [LT_LTE] = "<=", [LT_PIPE] = "|", [LT_PIPE_EXACT] = "|=",
        [LT_PIPE_MATCH] = "|~", [LT_PIPE_PATTERN] = "|>", [LT_NPA] = "!>", [LT_RANGE] = "RANGE",
        [LT_STRING] = "STRING", [LT_NUMBER] = "NUMBER", [LT_DURATION] = "DURATION", [LT_BYTES] = "BYTES",
        [LT_IDENT] = "IDENTIFIER", [LT_FLAG] = "FUNCTION_FLAG", [LT_ERROR] = "?",
    };
    if ((t->kind == LT_IDENT && word_in(t, KEYWORDS)) || t->kind == LT_ARITH) {
        snprintf(buf, cap, "%.*s", (int)t->len, t->text);
        return buf;
    }
    return NAMES[t->kind];
}

/* "syntax error: unexpected <token>, expecting <what>" at the token. As
 * goyacc's messages (Loki's parser), the expectation is named only when it
 * is at most four tokens ("a or b or c or d"). */
static void unexpected(parser *p, const char *what) {
    if (p->tok.kind == LT_ERROR) return; /* reported by next() */
    char buf[64];
    const char *name = tokname(&p->tok, buf, sizeof buf);
    int alternatives = 1;
    for (const char *o = what; o && (o = strstr(o, " or ")); o += 4) alternatives++;
    if (alternatives > 4) what = NULL;
    if (what) fail_at(p, p->tok.pos, "syntax error: unexpected %s, expecting %s", name, what);
    else fail_at(p, p->tok.pos, "syntax error: unexpected %s", name);
}

static void next(parser *p) {
    if (p->failed) return;
    p->tok = lq_lex_next(&p->lx);
    if (p->tok.kind == LT_ERROR) {
        p->nomem |= !strcmp(p->tok.text, "out of memory");
        fail_at(p, p->tok.pos, "%s", p->tok.text);
    }
}

/* The token after the current one, without consuming anything. */
static lq_tok peek(parser *p) {
    lq_lexer save = p->lx;
    lq_tok t = lq_lex_next(&p->lx);
    p->lx = save;
    return t;
}

static bool expect(parser *p, lq_tok_kind k, const char *what) {
    if (p->failed) return false;
    if (p->tok.kind != k) {
        unexpected(p, what);
        return false;
    }
    next(p);
    return !p->failed;
}

static bool enter(parser *p) {
    if (++p->depth > LQ_MAX_DEPTH) {
        fail_at(p, p->tok.pos, "the query nests deeper than %d levels", LQ_MAX_DEPTH);
        return false;
    }
    return true;
}

static void *alloc(parser *p, size_t n) {
    void *m = lq_alloc(p->q, n);
    if (!m) {
        p->nomem = true;
        fail_at(p, p->tok.pos, "out of memory");
    }
    return m;
}

/* Vectors grow in a tw__buf, then move into the query's memory. */
static void *vec_push(parser *p, tw__buf *v, const void *item, size_t sz) {
    if (tw__buf_append(v, item, sz)) {
        p->nomem = true;
        fail_at(p, p->tok.pos, "out of memory");
        return NULL;
    }
    return v->data + v->len - sz;
}

static void *vec_take(parser *p, tw__buf *v, size_t sz, uint32_t *n) {
    *n = (uint32_t)(v->len / sz);
    void *m = v->len ? alloc(p, v->len) : NULL;
    if (m) memcpy(m, v->data, v->len);
    tw__buf_free(v);
    return m;
}

/* ---- matchers --------------------------------------------------------------------------- */

static bool hex_id(tw_str s, uint8_t id[16]) {
    if (s.len != 32) return false;
    uint8_t any = 0;
    for (int i = 0; i < 16; i++) {
        int a = tw__hexval((unsigned char)s.ptr[2 * i]), b = tw__hexval((unsigned char)s.ptr[2 * i + 1]);
        if (a < 0 || b < 0) return false;
        any |= id[i] = (uint8_t)(a << 4 | b);
    }
    return any != 0;
}

static lq_re *compile(parser *p, const lq_tok *at, tw_str pattern, bool anchored) {
    char why[160];
    lq_re *re = lq_re_compile(p->q, pattern.ptr, pattern.len, anchored, why, sizeof why);
    p->nomem |= !re && !strcmp(why, "out of memory");
    if (!re) fail_at(p, at->pos, "error parsing regexp: %s: `%.*s`", why, (int)TW_MIN(pattern.len, 40u), pattern.ptr);
    return re;
}

static lq_match_op match_op(lq_tok_kind k) {
    return k == LT_EQ ? LQ_EQ : k == LT_NEQ ? LQ_NEQ : k == LT_RE ? LQ_RE : k == LT_NRE ? LQ_NRE : 0;
}

/* At the operator of `name op "value"`: fills m (the name is set). */
static bool matcher_rest(parser *p, lq_matcher *m) {
    m->op = match_op(p->tok.kind);
    if (!m->op) {
        unexpected(p, "= or =~ or !~ or !=");
        return false;
    }
    next(p);
    lq_tok v = p->tok;
    if (!expect(p, LT_STRING, "STRING")) return false;
    m->value = (tw_str){v.text, v.len};
    if (m->op == LQ_RE || m->op == LQ_NRE) m->re = compile(p, &v, m->value, true);
    return !p->failed;
}

static void selector(parser *p) {
    if (!expect(p, LT_LBRACE, "{")) return;
    tw__buf v;
    tw__buf_init(&v, 0);
    while (p->tok.kind != LT_RBRACE && !p->failed) {
        lq_matcher m = {.name = {p->tok.text, p->tok.len}};
        if (!expect(p, LT_IDENT, "IDENTIFIER") || !matcher_rest(p, &m)) break;
        vec_push(p, &v, &m, sizeof m);
        if (p->tok.kind == LT_RBRACE) break;
        if (!expect(p, LT_COMMA, "} or ,")) break;
        if (p->tok.kind != LT_IDENT) unexpected(p, "IDENTIFIER");
    }
    p->q->sel = vec_take(p, &v, sizeof(lq_matcher), &p->q->n_sel);
    if (!p->failed) next(p); /* past } */
    if (p->failed) return;
    for (uint32_t i = 0; i < p->q->n_sel; i++)
        if (!lq_matcher_matches(&p->q->sel[i], (tw_str){"", 0})) return;
    p->failed = true;
    snprintf(p->err, 256,
             "parse error : queries require at least one regexp or equality matcher that does not have an "
             "empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will");
}

/* ---- pipeline stages -------------------------------------------------------------------- */

static const char *const UNSUPPORTED_STAGES[] = {"line_format", "label_format", "pattern", "regexp", "unpack",
                                                 "decolorize", "unwrap", "xml", NULL};

static void line_filter(parser *p) {
    lq_stage st = {.kind = LQ_S_LINE};
    lq_tok_kind k = p->tok.kind;
    st.op = k == LT_PIPE_EXACT ? LQ_LINE_CONTAINS : k == LT_NEQ ? LQ_LINE_NOT_CONTAINS : k == LT_PIPE_MATCH ? LQ_LINE_RE : LQ_LINE_NRE;
    tw__buf alts, res;
    tw__buf_init(&alts, 0);
    tw__buf_init(&res, 0);
    next(p);
    for (bool first = true; !p->failed; first = false) {
        if (!first) next(p); /* past or */
        lq_tok s = p->tok;
        if (word_is(&s, "ip")) {
            fail_at(p, s.pos, "ip() line filters are not supported");
            break;
        }
        if (!expect(p, LT_STRING, first ? "STRING or ip" : "STRING")) break;
        tw_str text = {s.text, s.len};
        vec_push(p, &alts, &text, sizeof text);
        if (st.op == LQ_LINE_RE || st.op == LQ_LINE_NRE) {
            lq_re *re = compile(p, &s, text, false);
            vec_push(p, &res, &re, sizeof re);
        }
        if (!word_is(&p->tok, "or")) break;
    }
    st.alts = vec_take(p, &alts, sizeof(tw_str), &st.n_alts);
    uint32_t n_res;
    st.res = vec_take(p, &res, sizeof(lq_re *), &n_res);
    if (!p->failed && st.op == LQ_LINE_CONTAINS && st.n_alts == 1 && p->q->hint == LQ_HINT_NONE &&
        hex_id(st.alts[0], p->q->trace_id))
        p->q->hint = LQ_HINT_LINE;
    vec_push(p, &p->stages, &st, sizeof st);
}

/* A JSON path as Loki's jsonexpr reads it: a.b[0]["c d"]. */
static bool json_path(parser *p, const lq_tok *at, tw_str s, lq_extract *ex) {
    tw__buf v;
    tw__buf_init(&v, 0);
    size_t i = 0;
    bool ok = s.len > 0;
    while (ok && i < s.len) {
        lq_path el = {0};
        if (s.ptr[i] == '[') {
            size_t j = ++i;
            if (j < s.len && s.ptr[j] == '"') {
                const char *e = memchr(s.ptr + j + 1, '"', s.len - j - 1);
                ok = e && (size_t)(e - s.ptr) + 1 < s.len && e[1] == ']';
                if (!ok) break;
                el.key = (tw_str){s.ptr + j + 1, (size_t)(e - s.ptr) - j - 1};
                i = (size_t)(e - s.ptr) + 2;
            } else {
                long idx = 0;
                while (j < s.len && s.ptr[j] >= '0' && s.ptr[j] <= '9' && idx < 100000000) idx = idx * 10 + (s.ptr[j++] - '0');
                ok = j > i && j < s.len && s.ptr[j] == ']';
                el.index = idx;
                i = j + 1;
            }
        } else {
            if (v.len && s.ptr[i] == '.') i++;
            size_t j = i;
            while (j < s.len && !strchr(".[]\" \t\n", s.ptr[j])) j++;
            ok = j > i;
            el.key = (tw_str){s.ptr + i, j - i};
            i = j;
        }
        if (ok) vec_push(p, &v, &el, sizeof el);
    }
    if (!ok && !p->failed) fail_at(p, at->pos, "invalid JSON path \"%.*s\"", (int)TW_MIN(s.len, 60u), s.ptr);
    ex->path = vec_take(p, &v, sizeof(lq_path), &ex->n_path);
    return ok && !p->failed;
}

/* `label [= "path"] { , label [= "path"] }` of json and logfmt. */
static void extractions(parser *p, lq_stage *st) {
    tw__buf v;
    tw__buf_init(&v, 0);
    while (p->tok.kind == LT_IDENT && !p->failed) {
        lq_extract ex = {.label = {p->tok.text, p->tok.len}};
        lq_tok name = p->tok;
        next(p);
        tw_str path = ex.label;
        lq_tok at = name;
        if (p->tok.kind == LT_EQ) {
            next(p);
            at = p->tok;
            if (!expect(p, LT_STRING, "STRING")) break;
            path = (tw_str){at.text, at.len};
        }
        if (st->kind == LQ_S_JSON) {
            if (!json_path(p, &at, path, &ex)) break;
        } else {
            lq_path *el = alloc(p, sizeof *el);
            if (!el) break;
            el->key = path;
            ex.path = el;
            ex.n_path = 1;
        }
        vec_push(p, &v, &ex, sizeof ex);
        if (p->tok.kind != LT_COMMA) break;
        next(p);
        if (p->tok.kind != LT_IDENT) unexpected(p, "IDENTIFIER");
    }
    st->ex = vec_take(p, &v, sizeof(lq_extract), &st->n_ex);
}

static void parser_stage(parser *p, bool json) {
    lq_stage st = {.kind = json ? LQ_S_JSON : LQ_S_LOGFMT};
    next(p);
    while (!json && p->tok.kind == LT_FLAG && !p->failed) {
        if (p->tok.len == 6 && !memcmp(p->tok.text, "strict", 6)) st.strict = true;
        else if (p->tok.len == 10 && !memcmp(p->tok.text, "keep-empty", 10)) st.keep_empty = true;
        else fail_at(p, p->tok.pos, "syntax error: unexpected --%.*s, expecting --strict or --keep-empty", (int)p->tok.len, p->tok.text);
        next(p);
    }
    extractions(p, &st);
    vec_push(p, &p->stages, &st, sizeof st);
}

static void names_stage(parser *p, bool keep) {
    lq_stage st = {.kind = keep ? LQ_S_KEEP : LQ_S_DROP};
    tw__buf v;
    tw__buf_init(&v, 0);
    next(p);
    for (;;) {
        lq_matcher m = {.name = {p->tok.text, p->tok.len}};
        if (!expect(p, LT_IDENT, "IDENTIFIER")) break;
        if (match_op(p->tok.kind) && !matcher_rest(p, &m)) break;
        vec_push(p, &v, &m, sizeof m);
        if (p->tok.kind != LT_COMMA || p->failed) break;
        next(p);
    }
    st.names = vec_take(p, &v, sizeof(lq_matcher), &st.n_names);
    vec_push(p, &p->stages, &st, sizeof st);
}

/* ---- label filters ---------------------------------------------------------------------- */

static lq_lf *lf_expr(parser *p, int minprec);

static lq_lf *lf_node(parser *p, lq_lf_kind k, lq_lf *l, lq_lf *r) {
    lq_lf *n = l && r ? alloc(p, sizeof *n) : NULL;
    if (n) *n = (lq_lf){.kind = k, .l = l, .r = r};
    return n;
}

static lq_cmp cmp_of(lq_tok_kind k) {
    switch (k) {
    case LT_EQ: case LT_CMP_EQ: return LQ_CMP_EQ;
    case LT_NEQ: return LQ_CMP_NEQ;
    case LT_GT: return LQ_CMP_GT;
    case LT_GTE: return LQ_CMP_GTE;
    case LT_LT: return LQ_CMP_LT;
    case LT_LTE: return LQ_CMP_LTE;
    default: return 0;
    }
}

static lq_lf *lf_primary(parser *p) {
    if (p->tok.kind == LT_LPAREN) {
        next(p);
        lq_lf *e = lf_expr(p, 0);
        return expect(p, LT_RPAREN, ")") ? e : NULL;
    }
    lq_lf *n = alloc(p, sizeof *n);
    if (!n) return NULL;
    n->m.name = (tw_str){p->tok.text, p->tok.len};
    if (p->tok.kind != LT_IDENT || word_is(&p->tok, "and") || word_is(&p->tok, "or")) {
        unexpected(p, "IDENTIFIER or (");
        return NULL;
    }
    next(p);
    lq_tok op = p->tok;
    if (!match_op(op.kind) && !cmp_of(op.kind)) {
        unexpected(p, "= or != or =~ or !~ or == or > or >= or < or <=");
        return NULL;
    }
    next(p);
    lq_tok v = p->tok;
    double sign = 1;
    if (v.kind == LT_ARITH && v.text[0] == '-') {
        next(p);
        v = p->tok;
        sign = -1;
        if (v.kind != LT_NUMBER && v.kind != LT_DURATION && v.kind != LT_BYTES) {
            unexpected(p, "NUMBER or DURATION or BYTES");
            return NULL;
        }
    }
    if (word_is(&v, "ip")) {
        fail_at(p, v.pos, "ip() label filters are not supported");
        return NULL;
    }
    if (v.kind == LT_STRING && match_op(op.kind) && sign > 0) {
        n->kind = LQ_LF_STRING;
        n->m.op = match_op(op.kind);
        n->m.value = (tw_str){v.text, v.len};
        if (n->m.op == LQ_RE || n->m.op == LQ_NRE) n->m.re = compile(p, &v, n->m.value, true);
        next(p);
        return p->failed ? NULL : n;
    }
    bool numeric = v.kind == LT_NUMBER || v.kind == LT_DURATION || v.kind == LT_BYTES;
    if (!numeric || !cmp_of(op.kind)) {
        unexpected(p, op.kind == LT_RE || op.kind == LT_NRE ? "STRING"
                      : cmp_of(op.kind) && !match_op(op.kind) ? "NUMBER or DURATION or BYTES"
                                                               : "STRING or NUMBER or DURATION or BYTES");
        return NULL;
    }
    n->kind = v.kind == LT_NUMBER ? LQ_LF_NUMBER : v.kind == LT_DURATION ? LQ_LF_DURATION : LQ_LF_BYTES;
    n->cmp = cmp_of(op.kind);
    n->num = sign * v.f;
    next(p);
    return p->failed ? NULL : n;
}

/*
 * Precedence as Loki's yacc grammar resolves it: `or` below `and`, both
 * left-associative; ',' and a blank between two filters have no
 * precedence, so yacc always shifts: their right side is everything up to
 * the end of the stage (or the closing parenthesis).
 */
static lq_lf *lf_expr(parser *p, int minprec) {
    if (!enter(p)) return NULL;
    lq_lf *l = lf_primary(p);
    while (l && !p->failed) {
        bool comma = p->tok.kind == LT_COMMA;
        bool juxt = (p->tok.kind == LT_IDENT && !word_is(&p->tok, "and") && !word_is(&p->tok, "or")) ||
                    p->tok.kind == LT_LPAREN;
        if (comma || juxt) {
            if (comma) next(p);
            l = lf_node(p, LQ_LF_AND, l, lf_expr(p, 0));
        } else if (word_is(&p->tok, "or") && minprec < 1) {
            next(p);
            l = lf_node(p, LQ_LF_OR, l, lf_expr(p, 1));
        } else if (word_is(&p->tok, "and") && minprec < 2) {
            next(p);
            l = lf_node(p, LQ_LF_AND, l, lf_expr(p, 2));
        } else {
            break;
        }
    }
    p->depth--;
    return p->failed ? NULL : l;
}

/* trace_id="<hex>" that every match passes (reached through `and` only). */
static bool lf_hint(const lq_lf *f, uint8_t id[16]) {
    if (!f) return false;
    if (f->kind == LQ_LF_AND) return lf_hint(f->l, id) || lf_hint(f->r, id);
    return f->kind == LQ_LF_STRING && f->m.op == LQ_EQ && f->m.name.len == 8 &&
           !memcmp(f->m.name.ptr, "trace_id", 8) && hex_id(f->m.value, id);
}

static void label_filter(parser *p) {
    lq_stage st = {.kind = LQ_S_LABEL};
    st.lf = lf_expr(p, 0);
    if (!st.lf) return;
    uint8_t id[16];
    if (p->q->hint != LQ_HINT_LABEL && lf_hint(st.lf, id)) {
        memcpy(p->q->trace_id, id, 16);
        p->q->hint = LQ_HINT_LABEL;
    }
    vec_push(p, &p->stages, &st, sizeof st);
}

/* Stages until a token that cannot start one. */
static void stages(parser *p) {
    while (!p->failed) {
        switch (p->tok.kind) {
        case LT_PIPE_EXACT: case LT_NEQ: case LT_PIPE_MATCH: case LT_NRE: line_filter(p); continue;
        case LT_PIPE_PATTERN: case LT_NPA:
            fail_at(p, p->tok.pos, "pattern line filters (|> and !>) are not supported");
            return;
        case LT_PIPE: break;
        default: return;
        }
        next(p);
        lq_tok w = p->tok;
        lq_tok_kind after = w.kind == LT_IDENT ? peek(p).kind : LT_EOF;
        bool keyword = !match_op(after) && !cmp_of(after); /* `| json="x"` filters a label named json */
        if (keyword && (word_is(&w, "json") || word_is(&w, "logfmt"))) parser_stage(p, word_is(&w, "json"));
        else if (keyword && (word_is(&w, "drop") || word_is(&w, "keep"))) names_stage(p, word_is(&w, "keep"));
        else if (keyword && word_in(&w, UNSUPPORTED_STAGES))
            fail_at(p, w.pos, "syntax error: the %.*s stage is not supported", (int)w.len, w.text);
        else if (w.kind == LT_IDENT || w.kind == LT_LPAREN) label_filter(p);
        else unexpected(p, "IDENTIFIER or ( or json or logfmt or drop or keep");
    }
}

/* ---- queries ---------------------------------------------------------------------------- */

/* selector [stages] RANGE [stages] | selector RANGE stages | '(' ... ')'; *range 0: none met. */
static void log_range(parser *p, int64_t *range) {
    if (p->tok.kind == LT_LPAREN) {
        if (!enter(p)) return;
        next(p);
        log_range(p, range);
        expect(p, LT_RPAREN, *range ? ")" : "RANGE or ) or |= or != or |~ or !~ or |");
        p->depth--;
        if (!*range && !p->failed) {
            if (p->tok.kind != LT_RANGE) unexpected(p, "RANGE");
            *range = p->tok.i;
            next(p);
        }
        return;
    }
    selector(p);
    uint32_t before = (uint32_t)p->stages.len;
    stages(p);
    if (p->failed || p->tok.kind != LT_RANGE) return;
    *range = p->tok.i;
    next(p);
    if (p->stages.len == before) stages(p);
}

static const struct { const char *w; lq_range_fn fn; } RANGE_FNS[] = {
    {"count_over_time", LQ_COUNT_OVER_TIME}, {"rate", LQ_RATE}, {"bytes_over_time", LQ_BYTES_OVER_TIME},
    {"bytes_rate", LQ_BYTES_RATE},
};

static const char *const UNSUPPORTED_FNS[] = {
    "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "approx_topk", "sort", "sort_desc",
    "absent_over_time", "avg_over_time", "sum_over_time", "min_over_time", "max_over_time", "stdvar_over_time",
    "stddev_over_time", "quantile_over_time", "first_over_time", "last_over_time", "rate_counter",
    "label_replace", "vector", "variants", NULL,
};

static void grouping(parser *p) {
    lq_metric *m = &p->q->metric;
    m->grouping = word_is(&p->tok, "by") ? LQ_GROUP_BY : LQ_GROUP_WITHOUT;
    next(p);
    if (!expect(p, LT_LPAREN, "(")) return;
    tw__buf v;
    tw__buf_init(&v, 0);
    while (p->tok.kind == LT_IDENT && !p->failed) {
        tw_str name = {p->tok.text, p->tok.len};
        vec_push(p, &v, &name, sizeof name);
        next(p);
        if (p->tok.kind != LT_COMMA) break;
        next(p);
        if (p->tok.kind != LT_IDENT) unexpected(p, "IDENTIFIER");
    }
    m->labels = vec_take(p, &v, sizeof(tw_str), &m->n_labels);
    expect(p, LT_RPAREN, m->n_labels ? ") or ," : "IDENTIFIER or )");
}

static void metric(parser *p) {
    if (!enter(p)) return;
    lq_tok w = p->tok;
    if (w.kind == LT_LPAREN) {
        next(p);
        metric(p);
        expect(p, LT_RPAREN, ")");
    } else if (word_is(&w, "sum")) {
        if (p->in_sum) {
            fail_at(p, w.pos, "nested aggregations are not supported");
        } else {
            p->in_sum = true;
            p->q->metric.grouping = LQ_GROUP_ALL;
            next(p);
            bool before = word_is(&p->tok, "by") || word_is(&p->tok, "without");
            if (before) grouping(p);
            if (expect(p, LT_LPAREN, before ? "(" : "( or by or without")) {
                metric(p);
                expect(p, LT_RPAREN, ")");
            }
            if (!before && !p->failed && (word_is(&p->tok, "by") || word_is(&p->tok, "without"))) grouping(p);
        }
    } else {
        size_t k = 0;
        while (k < TW_ARRAY_LEN(RANGE_FNS) && !word_is(&w, RANGE_FNS[k].w)) k++;
        if (k < TW_ARRAY_LEN(RANGE_FNS)) {
            p->q->metric.fn = RANGE_FNS[k].fn;
            next(p);
            if (expect(p, LT_LPAREN, "(")) {
                log_range(p, &p->q->metric.range_ns);
                if (!p->failed && !p->q->metric.range_ns) unexpected(p, "RANGE or |= or != or |~ or !~ or |");
                expect(p, LT_RPAREN, ")");
            }
            if (!p->failed && (word_is(&p->tok, "by") || word_is(&p->tok, "without")))
                fail_at(p, p->tok.pos, "grouping not allowed for %s aggregation", RANGE_FNS[k].w);
        } else if (word_in(&w, UNSUPPORTED_FNS)) {
            fail_at(p, w.pos, "syntax error: %.*s is not supported", (int)w.len, w.text);
        } else {
            unexpected(p, "( or sum or count_over_time or rate or bytes_over_time or bytes_rate");
        }
    }
    p->depth--;
}

/* A log query, or a metric query; `(` opens either. */
static void query(parser *p) {
    if (!enter(p)) return;
    if (p->tok.kind == LT_LBRACE) {
        selector(p);
        stages(p);
    } else if (p->tok.kind == LT_LPAREN) {
        next(p);
        query(p);
        expect(p, LT_RPAREN, p->q->is_metric || p->closed ? ")" : ") or |= or != or |~ or !~ or |");
        p->closed = true;
    } else if (p->tok.kind == LT_IDENT) {
        p->q->is_metric = true;
        metric(p);
    } else {
        unexpected(p, "{ or ( or sum or count_over_time or rate or bytes_over_time or bytes_rate");
    }
    p->depth--;
}

int lq_parse(const char *text, size_t len, lq_query **out, char err[256]) {
    *out = NULL;
    err[0] = 0;
    lq_query *q = tw__calloc(1, sizeof *q);
    if (!q) return TW_ENOMEM;
    parser p = {.lx = {.src = text ? text : "", .len = text ? len : 0, .q = q}, .q = q, .err = err};
    tw__buf_init(&p.stages, 0);
    if (len > LQ_MAX_QUERY) {
        fail_at(&p, 0, "the query is longer than %d bytes", LQ_MAX_QUERY);
    } else {
        next(&p);
        query(&p);
        lq_tok_kind k = p.tok.kind;
        bool binop = q->is_metric && (k == LT_ARITH || k == LT_CMP_EQ || k == LT_NEQ || k == LT_GT || k == LT_GTE ||
                                      k == LT_LT || k == LT_LTE || word_is(&p.tok, "and") || word_is(&p.tok, "or") ||
                                      word_is(&p.tok, "unless"));
        if (!p.failed && binop) fail_at(&p, p.tok.pos, "binary operations are not supported");
        if (!p.failed && k != LT_EOF)
            unexpected(&p, q->is_metric || p.closed ? "$end" : "$end or |= or != or |~ or !~ or |");
    }
    q->stages = vec_take(&p, &p.stages, sizeof(lq_stage), &q->n_stages);
    if (p.failed) {
        lq_query_free(q);
        return p.nomem ? TW_ENOMEM : TW_EPARSE;
    }
    *out = q;
    return TW_OK;
}

/* ---- accessors -------------------------------------------------------------------------- */

const lq_matcher *lq_selector(const lq_query *q, uint32_t *n) {
    *n = q->n_sel;
    return q->sel;
}

const lq_metric *lq_query_metric(const lq_query *q) { return q->is_metric ? &q->metric : NULL; }

lq_trace_hint lq_trace_id(const lq_query *q, uint8_t id[16]) {
    if (q->hint) memcpy(id, q->trace_id, 16);
    return q->hint;
}
