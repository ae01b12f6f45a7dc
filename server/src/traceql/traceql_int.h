/*
 * traceql_int.h — what the TraceQL files share: the arena that owns a
 * query's nodes, the lexer's tokens, and the regular-expression wrapper.
 */
#ifndef TWS_TRACEQL_INT_H
#define TWS_TRACEQL_INT_H

#include "traceql/traceql.h"

/* ---- arena: bump allocation, freed all at once -------------------------- */
typedef struct tq_arena tq_arena;
tq_arena *tq_arena_new(void);
void *tq_arena_alloc(tq_arena *a, size_t n); /* zeroed, 8-byte aligned; NULL on failure */
void tq_arena_reset(tq_arena *a);            /* keep the first chunk, forget the rest */
void tq_arena_free(tq_arena *a);

/* ---- lexer -------------------------------------------------------------- */
typedef enum tq_tok_kind {
    TK_EOF = 0,
    TK_LBRACE, TK_RBRACE, TK_LPAREN, TK_RPAREN, TK_COMMA, TK_PIPE,
    TK_OP,       /* op: an operator (several are both field and spanset ops) */
    TK_STRING,   /* text/len: the unescaped value (in the arena) */
    TK_INT,      /* i */
    TK_FLOAT,    /* f */
    TK_DURATION, /* i: nanoseconds */
    TK_IDENT,    /* text/len: a word, possibly with ':' (span:id) */
    TK_ATTR,     /* scope + text/len: span.x, .x, resource."a b" */
    TK_ERROR,    /* text: what was wrong */
} tq_tok_kind;

/* Operator tokens, including the spellings that mean one thing inside a
 * filter and another between spansets (">" is GT or CHILD, "!~" is NRE or
 * NOT_SIBL, "&&" / "||" both). */
typedef enum tq_tok_op {
    TO_EQ = 1, TO_NEQ, TO_LT, TO_LTE, TO_GT, TO_GTE, TO_RE, TO_NRE, TO_AND, TO_OR, TO_NOT,
    TO_ADD, TO_SUB, TO_MUL, TO_DIV, TO_MOD, TO_POW,
    TO_DESC, TO_ANCE, TO_SIBL, TO_NOT_CHILD, TO_NOT_PARENT, TO_NOT_DESC, TO_NOT_ANCE,
    TO_UNION_CHILD, TO_UNION_PARENT, TO_UNION_DESC, TO_UNION_ANCE, TO_UNION_SIBL,
} tq_tok_op;

typedef struct tq_tok {
    tq_tok_kind kind;
    tq_tok_op op;
    uint8_t scope;
    const char *text;
    uint32_t len;
    int64_t i;
    double f;
    uint32_t pos, end; /* byte offsets in the query */
} tq_tok;

typedef struct tq_lexer {
    const char *src;
    size_t len, at;
    tq_arena *arena;
} tq_lexer;

/* The next token (TK_ERROR with a message in text on bad input). */
tq_tok tq_lex_next(tq_lexer *lx);
const char *tq_tok_op_text(tq_tok_op op);

/* ---- regular expressions (PCRE2, fully anchored) ------------------------ */
void *tq_re_compile(const char *pattern, size_t len, char *err, size_t err_len);
void tq_re_free(void *re);
/* Does the whole of s match? A match that exceeds the effort limit is "no". */
bool tq_re_match(void *re, const char *s, size_t len);

#endif
