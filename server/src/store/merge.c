/*
 * merge.c — assembling one trace from several pieces (merge.h).
 */
#include <stdlib.h>

#include "store/merge.h"

typedef struct cand {
    uint32_t sel, idx; /* input selection, position in it */
    const tws_span *s;
} cand;

static int cmp_cand(const void *x, const void *y) {
    const cand *a = x, *b = y;
    int c = memcmp(a->s->span_id, b->s->span_id, 8);
    if (c) return c;
    if (a->sel != b->sel) return a->sel < b->sel ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int cmp_pos(const void *x, const void *y) {
    const cand *a = x, *b = y;
    if (a->sel != b->sel) return a->sel < b->sel ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

int tws_trace_merge(const tws_selection *in, size_t n_in, tws_trace_result *out) {
    memset(out, 0, sizeof *out);
    size_t total = 0;
    for (size_t i = 0; i < n_in; i++) total += in[i].n;
    if (total == 0) return TW_ENOTFOUND;
    if (n_in > UINT32_MAX || total > UINT32_MAX) return TW_ENOMEM;
    cand *c = tw__malloc(total * sizeof *c);
    if (!c) return TW_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < n_in; i++)
        for (size_t k = 0; k < in[i].n; k++)
            c[n++] = (cand){(uint32_t)i, (uint32_t)k, &in[i].batch->spans[in[i].idx[k]]};
    qsort(c, n, sizeof *c, cmp_cand);
    size_t kept = 0;
    for (size_t i = 0, group = 0; i < n; i++) {
        if (i == 0 || memcmp(c[i].s->span_id, c[i - 1].s->span_id, 8) != 0) group = kept; /* a new span id */
        bool dup = false;
        for (size_t j = group; j < kept && !dup; j++) dup = tws_span_equal(c[i].s, c[j].s);
        if (!dup) c[kept++] = c[i];
    }
    qsort(c, kept, sizeof *c, cmp_pos);
    out->idx_storage = tw__malloc(kept * sizeof *out->idx_storage);
    out->sel = tw__calloc(kept, sizeof *out->sel);
    if (!out->idx_storage || !out->sel) {
        tw__free(c);
        tws_trace_result_free(out);
        return TW_ENOMEM;
    }
    out->start_ns = UINT64_MAX;
    for (size_t i = 0; i < kept; i++) {
        const tws_selection *s = &in[c[i].sel];
        if (!out->n_sel || i == 0 || c[i].sel != c[i - 1].sel) {
            out->sel[out->n_sel].batch = s->batch;
            out->sel[out->n_sel].idx = &out->idx_storage[i];
            out->n_sel++;
        }
        out->idx_storage[i] = s->idx[c[i].idx];
        out->sel[out->n_sel - 1].n++;
        if (c[i].s->start_ns < out->start_ns) out->start_ns = c[i].s->start_ns;
        if (c[i].s->end_ns > out->end_ns) out->end_ns = c[i].s->end_ns;
    }
    out->n_spans = kept;
    tw__free(c);
    return TW_OK;
}

void tws_trace_result_free(tws_trace_result *r) {
    tw__free(r->sel);
    tw__free(r->idx_storage);
    memset(r, 0, sizeof *r);
}
