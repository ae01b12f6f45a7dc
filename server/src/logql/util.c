/*
 * util.c — a query's memory (one list of blocks, freed with the query)
 * and its regular expressions (regex/regex.h, PCRE2 standing in for Go's
 * RE2 syntax).
 *
 * RE2 differences smoothed over: `$` matches only at the very end, \w \d
 * \s are ASCII (no UCP); label matchers are wrapped as Prometheus wraps
 * them, ^(?s:re)$; every match runs under a bounded effort.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logql/logql_int.h"
#include "regex/regex.h"

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
    tws_regex *rx;
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
    lq_re *re = lq_alloc(q, sizeof *re);
    if (!re) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    unsigned flags = TWS_RE_DOLLAR_END | TWS_RE_INVALID_UTF | (anchored ? TWS_RE_ANCHORED : 0);
    if (!(re->rx = tws_regex_compile(pattern, len, flags, err, err_len))) return NULL;
    q->res[q->n_res++] = re;
    return re;
}

bool lq_re_match(const lq_re *re, const char *s, size_t len) { return tws_regex_match(re->rx, s, len); }

void lq_query_free(lq_query *q) {
    if (!q) return;
    for (uint32_t i = 0; i < q->n_res; i++) tws_regex_free(q->res[i]->rx);
    tw__free(q->res);
    for (lq_mem *m = q->mem; m;) {
        lq_mem *next = m->next;
        tw__free(m);
        m = next;
    }
    tw__free(q);
}
