/*
 * util.c — a query's memory (one list of blocks, freed with the query)
 * and its regular expressions: PCRE2 standing in for Go's RE2 syntax.
 *
 * RE2 differences smoothed over: `$` matches only at the very end
 * (DOLLAR_ENDONLY), \w \d \s are ASCII (no UCP); label matchers are
 * wrapped as Prometheus wraps them, ^(?s:re)$ (ANCHORED + ENDANCHORED +
 * DOTALL); every match runs under a match and depth limit, so a pattern
 * that would backtrack without end fails to match instead of hanging the
 * query.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logql/logql_int.h"

struct lq_mem {
    lq_mem *next;
    _Alignas(16) unsigned char data[];
};

void *lq_alloc(lq_query *q, size_t n) {
    lq_mem *m = tw__calloc(1, sizeof *m + (n ? n : 1));
    if (!m) return NULL;
    m->next = q->mem;
    q->mem = m;
    return m->data;
}

struct lq_re {
    pcre2_code *code;
    pcre2_match_context *mctx;
};

lq_re *lq_re_compile(lq_query *q, const char *pattern, size_t len, bool anchored, char *err, size_t err_len) {
    if (q->n_res == q->cap_res) {
        uint32_t cap = q->cap_res ? q->cap_res * 2 : 4;
        lq_re **r = tw__realloc(q->res, cap * sizeof *r);
        if (!r) {
            snprintf(err, err_len, "out of memory");
            return NULL;
        }
        q->res = r;
        q->cap_res = cap;
    }
    uint32_t opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY;
#ifdef PCRE2_MATCH_INVALID_UTF
    opts |= PCRE2_MATCH_INVALID_UTF;
#endif
    if (anchored) opts |= PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL;
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &ec, &eo, NULL);
    if (!code) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, err_len, "%s at offset %zu", (const char *)msg, (size_t)eo);
        return NULL;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* the interpreter serves when there is no JIT */
    lq_re *re = lq_alloc(q, sizeof *re);
    pcre2_match_context *mctx = pcre2_match_context_create(NULL);
    if (!re || !mctx) {
        pcre2_code_free(code);
        pcre2_match_context_free(mctx);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    pcre2_set_match_limit(mctx, 100000);
    pcre2_set_depth_limit(mctx, 10000);
    re->code = code;
    re->mctx = mctx;
    q->res[q->n_res++] = re;
    return re;
}

/* "Did it match" needs one pair of offsets; one block per thread. */
static _Thread_local pcre2_match_data *match_data;

bool lq_re_match(const lq_re *re, const char *s, size_t len) {
    if (!match_data && !(match_data = pcre2_match_data_create(1, NULL))) return false;
    return pcre2_match(re->code, (PCRE2_SPTR)(len ? s : ""), len, 0, 0, match_data, re->mctx) >= 0;
}

void lq_query_free(lq_query *q) {
    if (!q) return;
    for (uint32_t i = 0; i < q->n_res; i++) {
        pcre2_code_free(q->res[i]->code);
        pcre2_match_context_free(q->res[i]->mctx);
    }
    tw__free(q->res);
    for (lq_mem *m = q->mem; m;) {
        lq_mem *next = m->next;
        tw__free(m);
        m = next;
    }
    tw__free(q);
}
