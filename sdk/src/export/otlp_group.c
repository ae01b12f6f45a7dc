/*
 * otlp_group.c — grouping a batch by resource and scope, and tracestate
 * serialisation, for the OTLP encoders (see otlp_int.h).
 */
#include "export/otlp_int.h"

int tw__otlp_tracestate(const tw_tracestate *ts, char *small, size_t small_len, char **heap,
                        const char **out) {
    *heap = NULL;
    *out = small;
    if (!ts) return 0;
    int n = tw_tracestate_format(ts, 0, small, small_len);
    if (n == TW_ERANGE) {
        /* 32 members of at most 256 + 1 + 256 characters, plus commas. */
        size_t cap = TW_TRACESTATE_MAX_MEMBERS * 514 + 1;
        *heap = tw__malloc(cap);
        if (!*heap) return TW_ENOMEM;
        n = tw_tracestate_format(ts, 0, *heap, cap);
        *out = *heap;
    }
    return n > 0 ? n : 0;
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

int tw__otlp_group(tw__otlp_groups *g, tw_span *const *spans, size_t n) {
    memset(g, 0, sizeof *g);
    if (n == 0) return 0;
    if (n >= UINT32_MAX / 4) return TW_EINVAL;

    unsigned bits = 4;
    while (((size_t)1 << bits) < 2 * n) bits++;
    size_t hcap = (size_t)1 << bits;

    /* One block: first-seen scopes, final scopes, providers, then the
     * uint32 arrays (next, res_start, cursor, table). */
    size_t o_tmp = 0;
    size_t o_scopes = o_tmp + align8(n * sizeof(tw__otlp_scope));
    size_t o_provs = o_scopes + align8(n * sizeof(tw__otlp_scope));
    size_t o_next = o_provs + align8(n * sizeof(void *));
    size_t o_pidx = o_next + align8(n * sizeof(uint32_t));
    size_t o_res = o_pidx + align8(n * sizeof(uint32_t));
    size_t o_cur = o_res + align8((n + 1) * sizeof(uint32_t));
    size_t o_table = o_cur + align8((n + 1) * sizeof(uint32_t));
    size_t total = o_table + hcap * sizeof(uint32_t);
    char *mem = tw__malloc(total);
    if (!mem) return TW_ENOMEM;
    tw__otlp_scope *tmp = (tw__otlp_scope *)(mem + o_tmp);
    tw__otlp_scope *scopes = (tw__otlp_scope *)(mem + o_scopes);
    const struct tw_provider **provs = (const struct tw_provider **)(mem + o_provs);
    uint32_t *next = (uint32_t *)(mem + o_next);
    uint32_t *pidx = (uint32_t *)(mem + o_pidx);
    uint32_t *res_start = (uint32_t *)(mem + o_res);
    uint32_t *cursor = (uint32_t *)(mem + o_cur);
    uint32_t *table = (uint32_t *)(mem + o_table); /* scope index + 1; 0 = empty */
    memset(table, 0, hcap * sizeof(uint32_t));

    /* Scopes in order of first appearance, spans chained through next[]. */
    uint32_t ns = 0, cur = 0;
    const struct tw_tracer *last = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct tw_tracer *t = spans[i]->tracer;
        next[i] = TW__OTLP_END;
        if (i == 0 || t != last) {
            last = t;
            size_t h = (size_t)((((uintptr_t)t >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - bits));
            while (table[h] && tmp[table[h] - 1].tracer != t) h = (h + 1) & (hcap - 1);
            if (!table[h]) { /* a new scope */
                tmp[ns] = (tw__otlp_scope){t, (uint32_t)i, (uint32_t)i};
                table[h] = ++ns;
                cur = ns - 1;
                continue;
            }
            cur = table[h] - 1;
        }
        next[tmp[cur].last] = (uint32_t)i;
        tmp[cur].last = (uint32_t)i;
    }

    /* Resources in order of first appearance: that of their first scope. A
     * batch rarely holds more than one or two, so a linear search will do. */
    uint32_t nr = 0, lastp = 0;
    for (uint32_t s = 0; s < ns; s++) {
        const struct tw_provider *p = tmp[s].tracer ? tmp[s].tracer->provider : NULL;
        if (nr == 0 || provs[lastp] != p) {
            uint32_t k = 0;
            while (k < nr && provs[k] != p) k++;
            if (k == nr) {
                provs[nr++] = p;
                res_start[k + 1] = 0;
            }
            lastp = k;
        }
        pidx[s] = lastp;
        res_start[lastp + 1]++;
    }
    res_start[0] = 0;
    for (uint32_t k = 0; k < nr; k++) {
        res_start[k + 1] += res_start[k];
        cursor[k] = res_start[k];
    }
    for (uint32_t s = 0; s < ns; s++) scopes[cursor[pidx[s]]++] = tmp[s];

    g->next = next;
    g->scopes = scopes;
    g->n_scopes = ns;
    g->res_start = res_start;
    g->n_res = nr;
    g->mem = mem;
    return 0;
}

void tw__otlp_groups_free(tw__otlp_groups *g) {
    tw__free(g->mem);
    g->mem = NULL;
}
