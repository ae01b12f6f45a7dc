/*
 * logql_int.h — what the LogQL files share: the parsed form of a query,
 * the lexer's tokens, the value scanners shared by the lexer and the
 * evaluator, the regular-expression wrapper and the query's memory.
 */
#ifndef TWS_LOGQL_INT_H
#define TWS_LOGQL_INT_H

#include "logql/logql.h"

/* ---- memory: every allocation of a query, freed with it ------------------------------ */
void *lq_alloc(lq_query *q, size_t n); /* zeroed; NULL on failure */

/* ---- regular expressions (PCRE2) ----------------------------------------------------- */
/* anchored: the whole subject must match, `.` matches newlines (label
 * matchers); else a search anywhere (line filters). NULL with err filled. */
lq_re *lq_re_compile(lq_query *q, const char *pattern, size_t len, bool anchored, char *err, size_t err_len);
bool lq_re_match(const lq_re *re, const char *s, size_t len);

/* ---- the parsed query ---------------------------------------------------------------- */

typedef enum lq_line_op { LQ_LINE_CONTAINS = 1, LQ_LINE_NOT_CONTAINS, LQ_LINE_RE, LQ_LINE_NRE } lq_line_op;

typedef enum lq_cmp { LQ_CMP_EQ = 1, LQ_CMP_NEQ, LQ_CMP_GT, LQ_CMP_GTE, LQ_CMP_LT, LQ_CMP_LTE } lq_cmp;

typedef enum lq_lf_kind {
    LQ_LF_AND = 1,
    LQ_LF_OR,
    LQ_LF_STRING,   /* m */
    LQ_LF_NUMBER,   /* m.name cmp num */
    LQ_LF_DURATION, /* m.name cmp num (nanoseconds) */
    LQ_LF_BYTES,    /* m.name cmp num (bytes) */
} lq_lf_kind;

typedef struct lq_lf lq_lf;
struct lq_lf {
    lq_lf_kind kind;
    lq_cmp cmp;
    lq_matcher m;
    double num;
    lq_lf *l, *r;
};

/* One step of a `| json a="b.c[0]"` path. */
typedef struct lq_path {
    tw_str key;   /* member name, or */
    long index;   /* array index when key.ptr is NULL */
} lq_path;

/* A named extraction: json (path) or logfmt (key = path[0].key). */
typedef struct lq_extract {
    tw_str label;
    lq_path *path;
    uint32_t n_path;
} lq_extract;

typedef enum lq_stage_kind { LQ_S_LINE = 1, LQ_S_JSON, LQ_S_LOGFMT, LQ_S_LABEL, LQ_S_DROP, LQ_S_KEEP } lq_stage_kind;

typedef struct lq_stage {
    lq_stage_kind kind;
    /* LQ_S_LINE */
    lq_line_op op;
    tw_str *alts;
    lq_re **res;
    uint32_t n_alts;
    /* LQ_S_LABEL */
    lq_lf *lf;
    /* LQ_S_JSON, LQ_S_LOGFMT: n_ex 0 = everything */
    lq_extract *ex;
    uint32_t n_ex;
    bool strict, keep_empty;
    /* LQ_S_DROP, LQ_S_KEEP: op 0 = by name only */
    lq_matcher *names;
    uint32_t n_names;
} lq_stage;

typedef struct lq_mem lq_mem;

struct lq_query {
    lq_matcher *sel;
    uint32_t n_sel;
    lq_stage *stages;
    uint32_t n_stages;
    bool is_metric;
    lq_metric metric;
    lq_trace_hint hint;
    uint8_t trace_id[16];
    lq_mem *mem;   /* allocations */
    lq_re **res;   /* compiled patterns, freed with the query */
    uint32_t n_res, cap_res;
};

/* ---- lexer --------------------------------------------------------------------------- */

typedef enum lq_tok_kind {
    LT_EOF = 0,
    LT_LBRACE, LT_RBRACE, LT_LPAREN, LT_RPAREN, LT_COMMA,
    LT_EQ, LT_NEQ, LT_RE, LT_NRE, LT_CMP_EQ, LT_GT, LT_GTE, LT_LT, LT_LTE,
    LT_PIPE, LT_PIPE_EXACT, LT_PIPE_MATCH, LT_PIPE_PATTERN, LT_NPA,
    LT_ARITH,    /* + - * / % ^ (text) */
    LT_RANGE,    /* [duration]: i nanoseconds */
    LT_STRING,   /* text/len: unescaped (query memory) */
    LT_NUMBER,   /* f */
    LT_DURATION, /* i: nanoseconds (f too) */
    LT_BYTES,    /* f: bytes */
    LT_IDENT,    /* text/len */
    LT_FLAG,     /* --strict: text/len without the dashes */
    LT_ERROR,    /* text: the message */
} lq_tok_kind;

typedef struct lq_tok {
    lq_tok_kind kind;
    const char *text;
    uint32_t len;
    double f;
    int64_t i;
    uint32_t pos, end; /* byte offsets: the token, or where the error is */
} lq_tok;

typedef struct lq_lexer {
    const char *src;
    size_t len, at;
    lq_query *q;
    char msg[160]; /* an error token's text */
} lq_lexer;

lq_tok lq_lex_next(lq_lexer *lx);

/* Value scanners (whole of s[0..n) or false), shared with the evaluator. */
/* humanize.ParseBytes: "42", "42KB", "1.5 MiB", units case-insensitive. */
bool lq_scan_bytes(const char *s, size_t n, double *bytes);
/* Go's strconv.ParseFloat on the whole string. */
bool lq_scan_float(const char *s, size_t n, double *v);

#endif
