/*
 * parse.c — TraceQL text to a checked query tree.
 *
 * Grammar (lowest precedence first), recursive descent:
 *   query     := pipeline [ '|' metrics [ '|' (topk|bottomk) '(' INT ')' ] ]
 *   pipeline  := ssexpr { '|' stage }
 *   stage     := ssexpr | by(field,..) | select(field,..) | coalesce()
 *              | scalar cmp scalar                  (count() > 2)
 *   ssexpr    := ssexpr (&& | ||) ssexpr            (left-assoc, one level)
 *              | ssexpr structural ssexpr           (> >> < << ~ and the ! and & forms; binds tighter)
 *              | '{' [field] '}' | '(' pipeline ')'
 *   field     := cmp { (&& | ||) cmp }              (one level, left-assoc, as Tempo)
 *   cmp       := add [ (= != < <= > >= =~ !~) add ]
 *   add       := mul { (+|-) mul } ; mul := unary { (*|/|%) unary }
 *   unary     := (!|-) unary | pow ; pow := primary [ '^' unary ]
 *   primary   := literal | attribute | intrinsic | '(' field ')'
 *   scalar    := agg { (+|-|*|/) agg } ; agg := count() | avg|min|max|sum '(' field ')' | number | duration
 *   metrics   := rate() | count_over_time() | (min|max|avg|sum)_over_time(field)
 *              | quantile_over_time(field, q, ...) | histogram_over_time(field)
 *                [ by '(' field, ... ')' ] [ with '(' key = literal, ... ')' ]
 *
 * Types are checked here, so evaluation never meets a malformed tree: a
 * filter must be a condition, operands of a comparison must be comparable
 * (numbers and durations with each other; strings, statuses, kinds and
 * booleans each with their own kind; nil only with = and !=; attributes
 * with anything, their type being known only per span), a regular
 * expression must be a string literal that compiles.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traceql/traceql_int.h"

#define TYPE_ANY ((int)-1) /* an attribute: its type is known per span */

typedef struct parser {
    tq_lexer lx;
    tq_tok tok;
    tq_query *q;
    char *err;
    int depth;
    bool failed;
    uint16_t next_id;
} parser;

/* ---- errors ------------------------------------------------------------- */

static void fail_at(parser *p, uint32_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_at(parser *p, uint32_t pos, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = true;
    unsigned line = 1, col = 1;
    for (uint32_t i = 0; i < pos && i < p->lx.len; i++) {
        unsigned char c = (unsigned char)p->lx.src[i];
        if (c == '\n') {
            line++;
            col = 1;
        } else if ((c & 0xC0) != 0x80) {
            col++;
        }
    }
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, 256, "parse error at line %u, col %u: %s", line, col, msg);
}

/* "found ..." for the current token. */
static const char *describe(parser *p, char *buf, size_t cap) {
    const tq_tok *t = &p->tok;
    switch (t->kind) {
    case TK_EOF: return "the end of the query";
    case TK_LBRACE: return "'{'";
    case TK_RBRACE: return "'}'";
    case TK_LPAREN: return "'('";
    case TK_RPAREN: return "')'";
    case TK_COMMA: return "','";
    case TK_PIPE: return "'|'";
    case TK_OP: snprintf(buf, cap, "'%s'", tq_tok_op_text(t->op)); return buf;
    case TK_STRING: snprintf(buf, cap, "the string \"%.40s\"", t->text); return buf;
    case TK_INT: case TK_FLOAT: case TK_DURATION:
        snprintf(buf, cap, "the number %.*s", (int)TW_MIN(t->end - t->pos, 40u), p->lx.src + t->pos);
        return buf;
    case TK_IDENT: snprintf(buf, cap, "'%.*s'", (int)TW_MIN(t->len, 60u), t->text); return buf;
    case TK_ATTR: snprintf(buf, cap, "the attribute %.*s", (int)TW_MIN(t->end - t->pos, 60u), p->lx.src + t->pos); return buf;
    case TK_ERROR: return t->text;
    }
    return "?";
}

static void expected(parser *p, const char *what) {
    char buf[128];
    if (p->tok.kind == TK_ERROR) {
        fail_at(p, p->tok.pos, "%s", p->tok.text);
        return;
    }
    fail_at(p, p->tok.pos, "expected %s, found %s", what, describe(p, buf, sizeof buf));
}

static void next(parser *p) {
    p->tok = tq_lex_next(&p->lx);
    if (p->tok.kind == TK_ERROR) fail_at(p, p->tok.pos, "%s", p->tok.text);
}

static bool accept(parser *p, tq_tok_kind k) {
    if (p->tok.kind != k) return false;
    next(p);
    return true;
}

static bool expect(parser *p, tq_tok_kind k, const char *what) {
    if (accept(p, k)) return true;
    expected(p, what);
    return false;
}

static bool is_word(const tq_tok *t, const char *w) {
    return t->kind == TK_IDENT && t->len == strlen(w) && !memcmp(t->text, w, t->len);
}

static tq_node *node(parser *p, tq_kind k, uint32_t pos) {
    tq_node *n = tq_arena_alloc(p->q->arena, sizeof *n);
    if (!n) {
        fail_at(p, pos, "out of memory");
        return NULL;
    }
    n->kind = k;
    n->pos = pos;
    return n;
}

static bool enter(parser *p) {
    if (++p->depth > TQ_MAX_DEPTH) {
        fail_at(p, p->tok.pos, "the query nests deeper than %d levels", TQ_MAX_DEPTH);
        return false;
    }
    return true;
}

/* ---- words -------------------------------------------------------------- */

static const struct { const char *w; uint8_t intr; tq_type t; } INTRINSICS[] = {
    {"name", TQ_I_NAME, TQ_STRING}, {"span:name", TQ_I_NAME, TQ_STRING},
    {"status", TQ_I_STATUS, TQ_STATUS}, {"span:status", TQ_I_STATUS, TQ_STATUS},
    {"statusMessage", TQ_I_STATUS_MESSAGE, TQ_STRING}, {"span:statusMessage", TQ_I_STATUS_MESSAGE, TQ_STRING},
    {"kind", TQ_I_KIND, TQ_KIND}, {"span:kind", TQ_I_KIND, TQ_KIND},
    {"duration", TQ_I_DURATION, TQ_DURATION}, {"span:duration", TQ_I_DURATION, TQ_DURATION},
    {"traceDuration", TQ_I_TRACE_DURATION, TQ_DURATION}, {"trace:duration", TQ_I_TRACE_DURATION, TQ_DURATION},
    {"rootName", TQ_I_ROOT_NAME, TQ_STRING}, {"trace:rootName", TQ_I_ROOT_NAME, TQ_STRING},
    {"rootServiceName", TQ_I_ROOT_SERVICE_NAME, TQ_STRING}, {"trace:rootService", TQ_I_ROOT_SERVICE_NAME, TQ_STRING},
    {"span:id", TQ_I_SPAN_ID, TQ_STRING}, {"span:parentID", TQ_I_PARENT_ID, TQ_STRING},
    {"trace:id", TQ_I_TRACE_ID, TQ_STRING},
    {"event:name", TQ_I_EVENT_NAME, TQ_STRING}, {"event:timeSinceStart", TQ_I_EVENT_TIME_SINCE_START, TQ_DURATION},
    {"link:traceID", TQ_I_LINK_TRACE_ID, TQ_STRING}, {"link:spanID", TQ_I_LINK_SPAN_ID, TQ_STRING},
    {"instrumentation:name", TQ_I_SCOPE_NAME, TQ_STRING}, {"instrumentation:version", TQ_I_SCOPE_VERSION, TQ_STRING},
    {"parent", TQ_I_PARENT, TQ_NIL},
    {"nestedSetLeft", TQ_I_NESTED_LEFT, TQ_INT}, {"nestedSetRight", TQ_I_NESTED_RIGHT, TQ_INT},
    {"nestedSetParent", TQ_I_NESTED_PARENT, TQ_INT},
};

/* The first spelling of each intrinsic in INTRINSICS is its name. */
const char *tq_intrinsic_name(uint8_t i) {
    for (size_t k = 0; k < TW_ARRAY_LEN(INTRINSICS); k++)
        if (INTRINSICS[k].intr == i) return INTRINSICS[k].w;
    return "?";
}

tq_type tq_intrinsic_type(uint8_t i) {
    for (size_t k = 0; k < TW_ARRAY_LEN(INTRINSICS); k++)
        if (INTRINSICS[k].intr == i) return INTRINSICS[k].t;
    return TQ_NIL;
}

static const struct { const char *w; tq_type t; int64_t v; } CONSTANTS[] = {
    {"ok", TQ_STATUS, 1}, {"error", TQ_STATUS, 2}, {"unset", TQ_STATUS, 0},
    {"unspecified", TQ_KIND, 0}, {"internal", TQ_KIND, 1}, {"server", TQ_KIND, 2}, {"client", TQ_KIND, 3},
    {"producer", TQ_KIND, 4}, {"consumer", TQ_KIND, 5},
    {"true", TQ_BOOL, 1}, {"false", TQ_BOOL, 0}, {"nil", TQ_NIL, 0},
};

/* ---- static types ------------------------------------------------------- */

static bool is_numeric(int t) { return t == TQ_INT || t == TQ_FLOAT || t == TQ_DURATION; }
static bool is_cmp(tq_op op) { return op >= TQ_OP_EQ && op <= TQ_OP_NRE; }
static bool is_arith(tq_op op) { return op >= TQ_OP_ADD && op <= TQ_OP_POW; }

static int stype(const tq_node *n) {
    switch (n->kind) {
    case TQN_LIT: return n->lit.t;
    case TQN_ATTR: return TYPE_ANY;
    case TQN_INTR: {
        tq_type t = tq_intrinsic_type(n->intrinsic);
        return n->intrinsic == TQ_I_PARENT ? TYPE_ANY : (int)t;
    }
    case TQN_UN: return n->op == TQ_OP_NOT ? TQ_BOOL : stype(n->l);
    case TQN_BIN:
        if (n->op == TQ_OP_AND || n->op == TQ_OP_OR || is_cmp(n->op)) return TQ_BOOL;
        {
            int a = stype(n->l), b = stype(n->r);
            if (a == TYPE_ANY || b == TYPE_ANY) return TYPE_ANY;
            if (a == TQ_DURATION || b == TQ_DURATION) return TQ_DURATION;
            if (a == TQ_FLOAT || b == TQ_FLOAT || n->op == TQ_OP_POW) return TQ_FLOAT;
            return TQ_INT;
        }
    default: return TYPE_ANY;
    }
}

static const char *type_word(int t) { return t == TYPE_ANY ? "attribute" : tq_type_name((tq_type)t); }

static bool comparable(int a, int b) {
    if (a == TYPE_ANY || b == TYPE_ANY) return true;
    if (is_numeric(a) && is_numeric(b)) return true;
    return a == b;
}

/* ---- field expressions -------------------------------------------------- */

static tq_node *parse_or(parser *p);

static tq_node *lit_node(parser *p, uint32_t pos, tq_type t) {
    tq_node *n = node(p, TQN_LIT, pos);
    if (n) n->lit.t = t;
    return n;
}

static tq_node *parse_primary(parser *p) {
    tq_tok t = p->tok;
    tq_node *n = NULL;
    switch (t.kind) {
    case TK_LPAREN:
        next(p);
        n = parse_or(p);
        if (n && !expect(p, TK_RPAREN, "')'")) return NULL;
        return n;
    case TK_STRING:
        if ((n = lit_node(p, t.pos, TQ_STRING))) {
            n->lit.u.s = t.text;
            n->lit.n = t.len;
        }
        break;
    case TK_INT:
        if ((n = lit_node(p, t.pos, TQ_INT))) n->lit.u.i = t.i;
        break;
    case TK_FLOAT:
        if ((n = lit_node(p, t.pos, TQ_FLOAT))) n->lit.u.f = t.f;
        break;
    case TK_DURATION:
        if ((n = lit_node(p, t.pos, TQ_DURATION))) n->lit.u.i = t.i;
        break;
    case TK_ATTR:
        if ((n = node(p, TQN_ATTR, t.pos))) {
            n->scope = t.scope;
            n->name = t.text;
            n->name_len = t.len;
        }
        break;
    case TK_IDENT:
        for (size_t k = 0; k < TW_ARRAY_LEN(CONSTANTS); k++)
            if (is_word(&t, CONSTANTS[k].w)) {
                if ((n = lit_node(p, t.pos, CONSTANTS[k].t))) {
                    if (CONSTANTS[k].t == TQ_BOOL) n->lit.u.b = CONSTANTS[k].v != 0;
                    else n->lit.u.i = CONSTANTS[k].v;
                }
                next(p);
                return n;
            }
        for (size_t k = 0; k < TW_ARRAY_LEN(INTRINSICS); k++)
            if (is_word(&t, INTRINSICS[k].w)) {
                if ((n = node(p, TQN_INTR, t.pos))) n->intrinsic = INTRINSICS[k].intr;
                next(p);
                return n;
            }
        fail_at(p, t.pos, "unknown word '%.*s': attributes need a scope, as .%.*s or span.%.*s", (int)TW_MIN(t.len, 40u),
                t.text, (int)TW_MIN(t.len, 40u), t.text, (int)TW_MIN(t.len, 40u), t.text);
        return NULL;
    default:
        expected(p, "an attribute, an intrinsic or a value");
        return NULL;
    }
    next(p);
    return n;
}

static tq_node *bin(parser *p, tq_op op, uint32_t pos, tq_node *l, tq_node *r) {
    if (!l || !r) return NULL;
    tq_node *n = node(p, TQN_BIN, pos);
    if (!n) return NULL;
    n->op = op;
    n->l = l;
    n->r = r;
    if (op == TQ_OP_AND || op == TQ_OP_OR) {
        int a = stype(l), b = stype(r);
        if ((a != TYPE_ANY && a != TQ_BOOL) || (b != TYPE_ANY && b != TQ_BOOL)) {
            fail_at(p, pos, "'%s' joins conditions, found %s %s %s", op == TQ_OP_AND ? "&&" : "||", type_word(a),
                    op == TQ_OP_AND ? "&&" : "||", type_word(b));
            return NULL;
        }
    } else if (is_arith(op)) {
        int a = stype(l), b = stype(r);
        if ((a != TYPE_ANY && !is_numeric(a)) || (b != TYPE_ANY && !is_numeric(b))) {
            fail_at(p, pos, "arithmetic needs numbers or durations, found %s and %s", type_word(a), type_word(b));
            return NULL;
        }
    }
    return n;
}

static tq_node *parse_unary(parser *p);

static tq_node *parse_pow(parser *p) {
    tq_node *l = parse_primary(p);
    if (l && p->tok.kind == TK_OP && p->tok.op == TO_POW) {
        uint32_t pos = p->tok.pos;
        next(p);
        return bin(p, TQ_OP_POW, pos, l, parse_unary(p));
    }
    return l;
}

static tq_node *parse_unary(parser *p) {
    if (!enter(p)) return NULL;
    tq_node *res;
    if (p->tok.kind == TK_OP && (p->tok.op == TO_NOT || p->tok.op == TO_SUB)) {
        tq_op op = p->tok.op == TO_NOT ? TQ_OP_NOT : TQ_OP_NEG;
        uint32_t pos = p->tok.pos;
        next(p);
        tq_node *x = parse_unary(p);
        res = NULL;
        if (x) {
            int t = stype(x);
            if (op == TQ_OP_NOT && t != TYPE_ANY && t != TQ_BOOL)
                fail_at(p, pos, "'!' negates a condition, found %s", type_word(t));
            else if (op == TQ_OP_NEG && t != TYPE_ANY && !is_numeric(t))
                fail_at(p, pos, "'-' negates a number or a duration, found %s", type_word(t));
            else if (x->kind == TQN_LIT && op == TQ_OP_NEG) { /* fold -1 into a literal */
                if (x->lit.t == TQ_FLOAT) x->lit.u.f = -x->lit.u.f;
                else x->lit.u.i = -x->lit.u.i;
                x->pos = pos;
                res = x;
            } else if ((res = node(p, TQN_UN, pos))) {
                res->op = op;
                res->l = x;
            }
        }
    } else {
        res = parse_pow(p);
    }
    p->depth--;
    return res;
}

static tq_node *parse_mul(parser *p) {
    tq_node *l = parse_unary(p);
    while (l && p->tok.kind == TK_OP && (p->tok.op == TO_MUL || p->tok.op == TO_DIV || p->tok.op == TO_MOD)) {
        tq_op op = p->tok.op == TO_MUL ? TQ_OP_MUL : p->tok.op == TO_DIV ? TQ_OP_DIV : TQ_OP_MOD;
        uint32_t pos = p->tok.pos;
        next(p);
        l = bin(p, op, pos, l, parse_unary(p));
    }
    return l;
}

static tq_node *parse_add(parser *p) {
    tq_node *l = parse_mul(p);
    while (l && p->tok.kind == TK_OP && (p->tok.op == TO_ADD || p->tok.op == TO_SUB)) {
        tq_op op = p->tok.op == TO_ADD ? TQ_OP_ADD : TQ_OP_SUB;
        uint32_t pos = p->tok.pos;
        next(p);
        l = bin(p, op, pos, l, parse_mul(p));
    }
    return l;
}

static tq_op cmp_op(const tq_tok *t) {
    if (t->kind != TK_OP) return TQ_OP_NONE;
    switch (t->op) {
    case TO_EQ: return TQ_OP_EQ;
    case TO_NEQ: return TQ_OP_NEQ;
    case TO_LT: return TQ_OP_LT;
    case TO_LTE: return TQ_OP_LTE;
    case TO_GT: return TQ_OP_GT;
    case TO_GTE: return TQ_OP_GTE;
    case TO_RE: return TQ_OP_RE;
    case TO_NRE: return TQ_OP_NRE;
    default: return TQ_OP_NONE;
    }
}

static const char *OP_TEXT[TQ_OP__COUNT] = {
    [TQ_OP_AND] = "&&", [TQ_OP_OR] = "||", [TQ_OP_NOT] = "!", [TQ_OP_EQ] = "=", [TQ_OP_NEQ] = "!=",
    [TQ_OP_LT] = "<", [TQ_OP_LTE] = "<=", [TQ_OP_GT] = ">", [TQ_OP_GTE] = ">=", [TQ_OP_RE] = "=~",
    [TQ_OP_NRE] = "!~", [TQ_OP_ADD] = "+", [TQ_OP_SUB] = "-", [TQ_OP_MUL] = "*", [TQ_OP_DIV] = "/",
    [TQ_OP_MOD] = "%", [TQ_OP_POW] = "^", [TQ_OP_NEG] = "-", [TQ_OP_CHILD] = ">", [TQ_OP_DESC] = ">>",
    [TQ_OP_PARENT] = "<", [TQ_OP_ANCE] = "<<", [TQ_OP_SIBL] = "~", [TQ_OP_NOT_CHILD] = "!>",
    [TQ_OP_NOT_DESC] = "!>>", [TQ_OP_NOT_PARENT] = "!<", [TQ_OP_NOT_ANCE] = "!<<", [TQ_OP_NOT_SIBL] = "!~",
    [TQ_OP_UNION_CHILD] = "&>", [TQ_OP_UNION_DESC] = "&>>", [TQ_OP_UNION_PARENT] = "&<",
    [TQ_OP_UNION_ANCE] = "&<<", [TQ_OP_UNION_SIBL] = "&~",
};

const char *tq_op_text(tq_op op) { return op < TQ_OP__COUNT && OP_TEXT[op] ? OP_TEXT[op] : "?"; }

/* An id intrinsic compared with a string literal: the literal in the form
 * the intrinsic's value takes (lowercase hex; trace ids without leading
 * zeros, span ids padded to 16 digits), so "0000abc" finds trace abc. */
static void normalise_id(parser *p, tq_node *id, tq_node *lit) {
    if (id->kind != TQN_INTR || lit->kind != TQN_LIT || lit->lit.t != TQ_STRING) return;
    bool trace = id->intrinsic == TQ_I_TRACE_ID || id->intrinsic == TQ_I_LINK_TRACE_ID;
    bool span = id->intrinsic == TQ_I_SPAN_ID || id->intrinsic == TQ_I_PARENT_ID || id->intrinsic == TQ_I_LINK_SPAN_ID;
    if (!trace && !span) return;
    const char *s = lit->lit.u.s;
    uint32_t n = lit->lit.n;
    while (n > 1 && *s == '0') s++, n--;
    uint32_t width = span && n < 16 ? 16 : n;
    char *o = tq_arena_alloc(p->q->arena, width + 1);
    if (!o) return;
    memset(o, '0', width - n);
    for (uint32_t i = 0; i < n; i++) o[width - n + i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] + 32 : s[i]);
    lit->lit.u.s = o;
    lit->lit.n = width;
}

/* Check a comparison; compile its regular expression. */
static bool check_compare(parser *p, tq_node *n) {
    int a = stype(n->l), b = stype(n->r);
    if (n->op == TQ_OP_RE || n->op == TQ_OP_NRE) {
        if (n->r->kind != TQN_LIT || n->r->lit.t != TQ_STRING) {
            fail_at(p, n->r->pos, "'%s' takes a regular expression in a string, found %s", tq_op_text(n->op), type_word(b));
            return false;
        }
        if (a != TYPE_ANY && a != TQ_STRING) {
            fail_at(p, n->pos, "'%s' matches strings, found %s", tq_op_text(n->op), type_word(a));
            return false;
        }
        char e[160];
        n->re = tq_re_compile(n->r->lit.u.s, n->r->lit.n, e, sizeof e);
        if (!n->re) {
            fail_at(p, n->r->pos, "invalid regular expression: %s", e);
            return false;
        }
        n->re_next = p->q->res;
        p->q->res = n;
        return true;
    }
    if (a == TQ_NIL || b == TQ_NIL) {
        if (n->op != TQ_OP_EQ && n->op != TQ_OP_NEQ) {
            fail_at(p, n->pos, "nil compares only with = and !=");
            return false;
        }
        return true;
    }
    if (!comparable(a, b)) {
        fail_at(p, n->pos, "cannot compare %s with %s%s", type_word(a), type_word(b),
                a == TQ_STATUS || b == TQ_STATUS ? " (statuses are ok, error and unset, unquoted)"
                : a == TQ_KIND || b == TQ_KIND ? " (kinds are server, client, producer, consumer, internal and unspecified, unquoted)" : "");
        return false;
    }
    normalise_id(p, n->l, n->r);
    normalise_id(p, n->r, n->l);
    if ((a == TQ_BOOL || a == TQ_STATUS || a == TQ_KIND || b == TQ_BOOL || b == TQ_STATUS || b == TQ_KIND) &&
        n->op != TQ_OP_EQ && n->op != TQ_OP_NEQ) {
        fail_at(p, n->pos, "%s compares only with = and !=", type_word(a == TYPE_ANY ? b : a));
        return false;
    }
    return true;
}

static tq_node *parse_cmp(parser *p) {
    tq_node *l = parse_add(p);
    tq_op op = cmp_op(&p->tok);
    if (!l || op == TQ_OP_NONE) return l;
    uint32_t pos = p->tok.pos;
    next(p);
    tq_node *r = parse_add(p);
    if (!r) return NULL;
    tq_node *n = node(p, TQN_BIN, pos);
    if (!n) return NULL;
    n->op = op;
    n->l = l;
    n->r = r;
    if (!check_compare(p, n)) return NULL;
    if (cmp_op(&p->tok) != TQ_OP_NONE) {
        fail_at(p, p->tok.pos, "comparisons do not chain: join them with && or ||");
        return NULL;
    }
    return n;
}

/* && and || share one precedence level and group to the left, as in
 * Tempo's grammar: a || b && c is (a || b) && c. */
static tq_node *parse_or(parser *p) {
    if (!enter(p)) return NULL;
    tq_node *l = parse_cmp(p);
    while (l && p->tok.kind == TK_OP && (p->tok.op == TO_AND || p->tok.op == TO_OR)) {
        tq_op op = p->tok.op == TO_AND ? TQ_OP_AND : TQ_OP_OR;
        uint32_t pos = p->tok.pos;
        next(p);
        l = bin(p, op, pos, l, parse_cmp(p));
    }
    p->depth--;
    return l;
}

/* A field expression that names a value (by(), select(), aggregates, metrics). */
static tq_node *parse_value(parser *p, const char *what) {
    uint32_t pos = p->tok.pos;
    tq_node *n = parse_add(p);
    if (n && (n->kind == TQN_LIT)) {
        fail_at(p, pos, "%s takes an attribute or an intrinsic, found a literal", what);
        return NULL;
    }
    return n;
}

/* ---- spanset expressions and pipelines ---------------------------------- */

static tq_node *parse_pipeline(parser *p, bool top);

static tq_node *parse_filter(parser *p) {
    uint32_t pos = p->tok.pos;
    next(p); /* { */
    tq_node *f = node(p, TQN_FILTER, pos);
    if (!f) return NULL;
    if (accept(p, TK_RBRACE)) return f;
    f->l = parse_or(p);
    if (!f->l) return NULL;
    int t = stype(f->l);
    if (t != TYPE_ANY && t != TQ_BOOL) {
        fail_at(p, f->l->pos, "a filter must be a condition, found %s", type_word(t));
        return NULL;
    }
    if (!expect(p, TK_RBRACE, p->tok.kind == TK_OP ? "'}' or a condition" : "'}', && or ||")) return NULL;
    return f;
}

static tq_node *parse_ss_primary(parser *p) {
    if (p->tok.kind == TK_LBRACE) return parse_filter(p);
    if (p->tok.kind == TK_LPAREN) {
        next(p);
        tq_node *n = parse_pipeline(p, false);
        if (n && !expect(p, TK_RPAREN, "')' or '|'")) return NULL;
        return n;
    }
    expected(p, "a spanset filter '{ ... }'");
    return NULL;
}

static tq_op ss_op(const tq_tok *t, int *prec) {
    if (t->kind != TK_OP) return TQ_OP_NONE;
    *prec = 2;
    switch (t->op) {
    case TO_AND: *prec = 1; return TQ_OP_AND;
    case TO_OR: *prec = 1; return TQ_OP_OR;
    case TO_GT: return TQ_OP_CHILD;
    case TO_LT: return TQ_OP_PARENT;
    case TO_DESC: return TQ_OP_DESC;
    case TO_ANCE: return TQ_OP_ANCE;
    case TO_SIBL: return TQ_OP_SIBL;
    case TO_NOT_CHILD: return TQ_OP_NOT_CHILD;
    case TO_NOT_PARENT: return TQ_OP_NOT_PARENT;
    case TO_NOT_DESC: return TQ_OP_NOT_DESC;
    case TO_NOT_ANCE: return TQ_OP_NOT_ANCE;
    case TO_NRE: return TQ_OP_NOT_SIBL;
    case TO_UNION_CHILD: return TQ_OP_UNION_CHILD;
    case TO_UNION_PARENT: return TQ_OP_UNION_PARENT;
    case TO_UNION_DESC: return TQ_OP_UNION_DESC;
    case TO_UNION_ANCE: return TQ_OP_UNION_ANCE;
    case TO_UNION_SIBL: return TQ_OP_UNION_SIBL;
    default: return TQ_OP_NONE;
    }
}

/* Precedence climbing over the spanset operators. */
static tq_node *parse_ssexpr(parser *p, int min_prec) {
    if (!enter(p)) return NULL;
    tq_node *l = parse_ss_primary(p);
    for (;;) {
        int prec = 0;
        tq_op op = l ? ss_op(&p->tok, &prec) : TQ_OP_NONE;
        if (op == TQ_OP_NONE || prec < min_prec) break;
        uint32_t pos = p->tok.pos;
        next(p);
        tq_node *r = parse_ssexpr(p, prec + 1);
        if (!r) {
            l = NULL;
            break;
        }
        tq_node *n = node(p, TQN_SSOP, pos);
        if (!n) {
            l = NULL;
            break;
        }
        n->op = op;
        n->l = l;
        n->r = r;
        l = n;
        if (op >= TQ_OP_CHILD) p->q->needs_structure = true;
    }
    p->depth--;
    return l;
}

static const struct { const char *w; uint8_t agg; } AGGS[] = {
    {"count", TQ_AGG_COUNT}, {"avg", TQ_AGG_AVG}, {"min", TQ_AGG_MIN}, {"max", TQ_AGG_MAX}, {"sum", TQ_AGG_SUM},
};

static int agg_of(const tq_tok *t) {
    for (size_t k = 0; k < TW_ARRAY_LEN(AGGS); k++)
        if (is_word(t, AGGS[k].w)) return AGGS[k].agg;
    return 0;
}

static tq_node *parse_scalar(parser *p);

static tq_node *parse_scalar_primary(parser *p) {
    tq_tok t = p->tok;
    int agg = agg_of(&t);
    if (agg) {
        next(p);
        tq_node *n = node(p, TQN_AGG, t.pos);
        if (!n || !expect(p, TK_LPAREN, "'('")) return NULL;
        n->agg = (uint8_t)agg;
        if (agg != TQ_AGG_COUNT) {
            n->l = parse_value(p, "an aggregate");
            if (!n->l) return NULL;
            int ty = stype(n->l);
            if (ty != TYPE_ANY && !is_numeric(ty)) {
                fail_at(p, n->l->pos, "%.*s() needs a number or a duration, found %s", (int)t.len, t.text, type_word(ty));
                return NULL;
            }
        }
        if (!expect(p, TK_RPAREN, "')'")) return NULL;
        return n;
    }
    if (t.kind == TK_INT || t.kind == TK_FLOAT || t.kind == TK_DURATION) return parse_primary(p);
    if (t.kind == TK_OP && t.op == TO_SUB) {
        next(p);
        tq_node *x = parse_scalar_primary(p);
        if (!x) return NULL;
        tq_node *zero = lit_node(p, t.pos, TQ_INT);
        return bin(p, TQ_OP_SUB, t.pos, zero, x);
    }
    if (t.kind == TK_LPAREN) {
        next(p);
        if (!enter(p)) return NULL;
        tq_node *n = parse_scalar(p);
        p->depth--;
        if (n && !expect(p, TK_RPAREN, "')'")) return NULL;
        return n;
    }
    expected(p, "count(), avg(), min(), max(), sum() or a number");
    return NULL;
}

static tq_node *parse_scalar(parser *p) {
    tq_node *l = parse_scalar_primary(p);
    while (l && p->tok.kind == TK_OP &&
           (p->tok.op == TO_ADD || p->tok.op == TO_SUB || p->tok.op == TO_MUL || p->tok.op == TO_DIV)) {
        tq_op op = p->tok.op == TO_ADD ? TQ_OP_ADD : p->tok.op == TO_SUB ? TQ_OP_SUB
                 : p->tok.op == TO_MUL ? TQ_OP_MUL : TQ_OP_DIV;
        uint32_t pos = p->tok.pos;
        next(p);
        l = bin(p, op, pos, l, parse_scalar_primary(p));
    }
    return l;
}

static tq_node *parse_scalar_filter(parser *p) {
    tq_node *l = parse_scalar(p);
    if (!l) return NULL;
    tq_op op = cmp_op(&p->tok);
    if (op == TQ_OP_NONE || op == TQ_OP_RE || op == TQ_OP_NRE) {
        expected(p, "a comparison (= != < <= > >=) after the aggregate");
        return NULL;
    }
    uint32_t pos = p->tok.pos;
    next(p);
    tq_node *r = parse_scalar(p);
    if (!r) return NULL;
    tq_node *n = node(p, TQN_SCALAR_FILTER, pos);
    if (!n) return NULL;
    n->op = op;
    n->l = l;
    n->r = r;
    return n;
}

/* '(' value {',' value} ')' into n->args. */
static bool parse_args(parser *p, tq_node *n, const char *what, bool allow_empty) {
    if (!expect(p, TK_LPAREN, "'('")) return false;
    tq_node *tmp[64];
    uint32_t k = 0;
    if (!(allow_empty && p->tok.kind == TK_RPAREN)) {
        do {
            if (k == TW_ARRAY_LEN(tmp)) {
                fail_at(p, p->tok.pos, "%s takes at most 64 arguments", what);
                return false;
            }
            if (!(tmp[k++] = parse_value(p, what))) return false;
        } while (accept(p, TK_COMMA));
    }
    if (!expect(p, TK_RPAREN, "',' or ')'")) return false;
    n->args = tq_arena_alloc(p->q->arena, (k ? k : 1) * sizeof *n->args);
    if (!n->args) {
        fail_at(p, n->pos, "out of memory");
        return false;
    }
    memcpy(n->args, tmp, k * sizeof *tmp);
    n->n_args = k;
    return true;
}

static tq_node *parse_stage(parser *p) {
    tq_tok t = p->tok;
    if (is_word(&t, "by") || is_word(&t, "select")) {
        next(p);
        tq_node *n = node(p, t.text[0] == 'b' ? TQN_BY : TQN_SELECT, t.pos);
        if (!n || !parse_args(p, n, t.text[0] == 'b' ? "by()" : "select()", false)) return NULL;
        n->id = p->next_id++;
        return n;
    }
    if (is_word(&t, "coalesce")) {
        next(p);
        tq_node *n = node(p, TQN_COALESCE, t.pos);
        if (!n || !expect(p, TK_LPAREN, "'('") || !expect(p, TK_RPAREN, "')'")) return NULL;
        return n;
    }
    if (agg_of(&t) || t.kind == TK_INT || t.kind == TK_FLOAT || t.kind == TK_DURATION || (t.kind == TK_OP && t.op == TO_SUB))
        return parse_scalar_filter(p);
    if (t.kind == TK_LBRACE || t.kind == TK_LPAREN) return parse_ssexpr(p, 1);
    expected(p, "a spanset filter, an aggregate, by(), select(), coalesce() or a metrics function");
    return NULL;
}

static const struct { const char *w; uint8_t fn; int arg; } METRICS[] = {
    {"rate", TQ_M_RATE, 0}, {"count_over_time", TQ_M_COUNT_OVER_TIME, 0},
    {"min_over_time", TQ_M_MIN_OVER_TIME, 1}, {"max_over_time", TQ_M_MAX_OVER_TIME, 1},
    {"avg_over_time", TQ_M_AVG_OVER_TIME, 1}, {"sum_over_time", TQ_M_SUM_OVER_TIME, 1},
    {"quantile_over_time", TQ_M_QUANTILE_OVER_TIME, 2}, {"histogram_over_time", TQ_M_HISTOGRAM_OVER_TIME, 1},
};

static int metrics_fn(const tq_tok *t) {
    for (size_t k = 0; k < TW_ARRAY_LEN(METRICS); k++)
        if (is_word(t, METRICS[k].w)) return (int)k;
    return -1;
}

static double num_of(const tq_tok *t) { return t->kind == TK_INT ? (double)t->i : t->f; }

static tq_node *parse_metrics(parser *p) {
    tq_tok t = p->tok;
    int k = metrics_fn(&t);
    next(p);
    tq_node *n = node(p, TQN_METRICS, t.pos);
    if (!n || !expect(p, TK_LPAREN, "'('")) return NULL;
    n->fn = METRICS[k].fn;
    if (METRICS[k].arg) {
        n->l = parse_value(p, METRICS[k].w);
        if (!n->l) return NULL;
        int ty = stype(n->l);
        if (ty != TYPE_ANY && !is_numeric(ty)) {
            fail_at(p, n->l->pos, "%s() needs a number or a duration, found %s", METRICS[k].w, type_word(ty));
            return NULL;
        }
    }
    if (METRICS[k].arg == 2) {
        double qs[32];
        uint32_t nq = 0;
        while (accept(p, TK_COMMA)) {
            if (p->tok.kind != TK_INT && p->tok.kind != TK_FLOAT) {
                expected(p, "a quantile between 0 and 1");
                return NULL;
            }
            double q = num_of(&p->tok);
            if (!(q >= 0 && q <= 1)) {
                fail_at(p, p->tok.pos, "a quantile is between 0 and 1, found %g", q);
                return NULL;
            }
            if (nq == TW_ARRAY_LEN(qs)) {
                fail_at(p, p->tok.pos, "at most 32 quantiles");
                return NULL;
            }
            qs[nq++] = q;
            next(p);
        }
        if (!nq) {
            expected(p, "',' and at least one quantile");
            return NULL;
        }
        n->qs = tq_arena_alloc(p->q->arena, nq * sizeof *n->qs);
        if (!n->qs) return NULL;
        memcpy(n->qs, qs, nq * sizeof *qs);
        n->n_qs = nq;
    }
    if (!expect(p, TK_RPAREN, "')'")) return NULL;
    if (is_word(&p->tok, "by")) {
        next(p);
        if (!parse_args(p, n, "by()", false)) return NULL;
    }
    if (is_word(&p->tok, "with")) { /* query hints: accepted, none changes the answer */
        next(p);
        if (!expect(p, TK_LPAREN, "'('")) return NULL;
        do {
            if (!expect(p, TK_IDENT, "a hint name")) return NULL;
            if (!(p->tok.kind == TK_OP && p->tok.op == TO_EQ)) {
                expected(p, "'='");
                return NULL;
            }
            next(p);
            if (p->tok.kind != TK_STRING && p->tok.kind != TK_INT && p->tok.kind != TK_FLOAT &&
                p->tok.kind != TK_DURATION && p->tok.kind != TK_IDENT) {
                expected(p, "a hint value");
                return NULL;
            }
            next(p);
        } while (accept(p, TK_COMMA));
        if (!expect(p, TK_RPAREN, "')'")) return NULL;
    }
    return n;
}

static tq_node *parse_pipeline(parser *p, bool top) {
    if (!enter(p)) return NULL;
    /* A pipeline may start with an aggregate over the whole trace: count() > 2 */
    tq_node *l = agg_of(&p->tok) ? parse_scalar_filter(p) : parse_ssexpr(p, 1);
    while (l && p->tok.kind == TK_PIPE) {
        uint32_t pos = p->tok.pos;
        next(p);
        if (metrics_fn(&p->tok) >= 0) {
            if (!top) {
                fail_at(p, p->tok.pos, "a metrics function ends the query; it cannot be inside parentheses");
                l = NULL;
                break;
            }
            p->q->metrics = parse_metrics(p);
            if (!p->q->metrics) l = NULL;
            break;
        }
        tq_node *r = parse_stage(p);
        tq_node *n = r ? node(p, TQN_PIPE, pos) : NULL;
        if (!n) {
            l = NULL;
            break;
        }
        n->l = l;
        n->r = r;
        l = n;
    }
    p->depth--;
    return l;
}

/* ---- what the query reads ----------------------------------------------- */

static void note_shown(tq_node *n, tq_node **shown, uint32_t *k, uint32_t cap) {
    if (n->kind != TQN_ATTR && n->kind != TQN_INTR) return;
    if (n->kind == TQN_INTR && (n->intrinsic == TQ_I_NAME || n->intrinsic == TQ_I_DURATION)) return;
    for (uint32_t i = 0; i < *k; i++) {
        tq_node *o = shown[i];
        if (o->kind == n->kind && o->scope == n->scope && o->intrinsic == n->intrinsic && o->name_len == n->name_len &&
            (!n->name_len || !memcmp(o->name, n->name, n->name_len)))
            return;
    }
    if (*k < cap) shown[(*k)++] = n;
}

/* What a condition reads beyond the span: events, links. */
static uint8_t uses(const tq_node *n, int depth) {
    if (!n || depth > 4 * TQ_MAX_DEPTH) return 0;
    uint8_t u = 0;
    if (n->kind == TQN_ATTR && n->scope == TQ_SCOPE_EVENT) u |= TQ_USES_EVENTS;
    if (n->kind == TQN_ATTR && n->scope == TQ_SCOPE_LINK) u |= TQ_USES_LINKS;
    if (n->kind == TQN_INTR && (n->intrinsic == TQ_I_EVENT_NAME || n->intrinsic == TQ_I_EVENT_TIME_SINCE_START))
        u |= TQ_USES_EVENTS;
    if (n->kind == TQN_INTR && (n->intrinsic == TQ_I_LINK_SPAN_ID || n->intrinsic == TQ_I_LINK_TRACE_ID))
        u |= TQ_USES_LINKS;
    return u | uses(n->l, depth + 1) | uses(n->r, depth + 1);
}

static void walk(parser *p, tq_node *n, bool in_filter, tq_node **shown, uint32_t *k, uint32_t cap, int depth) {
    if (!n || depth > 4 * TQ_MAX_DEPTH) return;
    if (n->kind == TQN_FILTER) n->uses = uses(n->l, 0);
    if (n->kind == TQN_ATTR) {
        if (n->scope == TQ_SCOPE_EVENT) p->q->needs_events = true;
        if (n->scope == TQ_SCOPE_LINK) p->q->needs_links = true;
    }
    if (n->kind == TQN_INTR) {
        switch (n->intrinsic) {
        case TQ_I_EVENT_NAME: case TQ_I_EVENT_TIME_SINCE_START: p->q->needs_events = true; break;
        case TQ_I_LINK_SPAN_ID: case TQ_I_LINK_TRACE_ID: p->q->needs_links = true; break;
        case TQ_I_ROOT_NAME: case TQ_I_ROOT_SERVICE_NAME: case TQ_I_TRACE_DURATION: p->q->needs_trace = true; break;
        case TQ_I_PARENT: case TQ_I_NESTED_LEFT: case TQ_I_NESTED_RIGHT: case TQ_I_NESTED_PARENT:
            p->q->needs_structure = true;
            break;
        default: break;
        }
    }
    if (in_filter) note_shown(n, shown, k, cap);
    bool f = in_filter || n->kind == TQN_FILTER || n->kind == TQN_SELECT;
    walk(p, n->l, f, shown, k, cap, depth + 1);
    walk(p, n->r, f, shown, k, cap, depth + 1);
    for (uint32_t i = 0; i < n->n_args; i++) walk(p, n->args[i], n->kind == TQN_SELECT, shown, k, cap, depth + 1);
}

int tq_parse(const char *text, size_t len, tq_query **out, char err[256]) {
    *out = NULL;
    err[0] = 0;
    tq_arena *a = tq_arena_new();
    tq_query *q = a ? tq_arena_alloc(a, sizeof *q) : NULL;
    if (!q) {
        tq_arena_free(a);
        snprintf(err, 256, "out of memory");
        return TW_ENOMEM;
    }
    q->arena = a;
    parser p = {.lx = {.src = text, .len = len, .arena = a}, .q = q, .err = err};
    next(&p);
    if (p.tok.kind == TK_EOF && !p.failed) {
        fail_at(&p, 0, "empty query: a query starts with a spanset filter such as { }");
    } else if (!p.failed) {
        q->root = parse_pipeline(&p, true);
        if (q->root && q->metrics && p.tok.kind == TK_PIPE) {
            next(&p);
            bool top = is_word(&p.tok, "topk");
            if (!top && !is_word(&p.tok, "bottomk")) {
                expected(&p, "topk() or bottomk() after a metrics function");
            } else {
                next(&p);
                if (expect(&p, TK_LPAREN, "'('")) {
                    if (p.tok.kind != TK_INT || p.tok.i < 1 || p.tok.i > 100000) {
                        expected(&p, "a positive count");
                    } else {
                        q->second = top ? TQ_SECOND_TOPK : TQ_SECOND_BOTTOMK;
                        q->second_n = (uint32_t)p.tok.i;
                        next(&p);
                        expect(&p, TK_RPAREN, "')'");
                    }
                }
            }
        }
        if (q->root && !p.failed && p.tok.kind != TK_EOF)
            expected(&p, q->metrics ? "the end of the query (or | topk(n))" : "'|', && , || , a structural operator or the end of the query");
    }
    if (p.failed || !q->root) {
        if (!err[0]) snprintf(err, 256, "parse error at line 1, col 1: invalid query");
        tq_query_free(q);
        return TW_EPARSE;
    }
    tq_node *shown[64];
    uint32_t k = 0;
    walk(&p, q->root, false, shown, &k, TW_ARRAY_LEN(shown), 0);
    if (q->metrics) {
        walk(&p, q->metrics, false, shown, &(uint32_t){0}, 0, 0);
    }
    q->shown = tq_arena_alloc(a, (k ? k : 1) * sizeof *q->shown);
    q->text = tq_arena_alloc(a, len + 1);
    if (!q->shown || !q->text) {
        tq_query_free(q);
        snprintf(err, 256, "out of memory");
        return TW_ENOMEM;
    }
    memcpy(q->shown, shown, k * sizeof *shown);
    q->n_shown = k;
    memcpy(q->text, text, len);
    *out = q;
    return TW_OK;
}

void tq_query_free(tq_query *q) {
    if (!q) return;
    for (tq_node *n = q->res; n; n = n->re_next) tq_re_free(n->re);
    tq_arena_free(q->arena);
}
