/*
 * batch_fixture.h — small hand-made span batches for the server's unit
 * tests (header-only; each test is one program).
 */
#ifndef TW_TEST_BATCH_FIXTURE_H
#define TW_TEST_BATCH_FIXTURE_H

#include <string.h>

#include "otlp/model.h"

static inline tw_str str(tws_batch *b, const char *s) {
    size_t n = strlen(s);
    char *d = tws_batch_alloc(b, n + 1);
    memcpy(d, s, n + 1);
    return (tw_str){d, n};
}

/* A batch of `n` spans of trace `tid` (span ids base+i), one resource and scope,
 * each span with one string attribute `attr`. */
static inline void make_batch(tws_batch *b, uint8_t tid, uint8_t base, uint32_t n, const char *attr, uint64_t start) {
    tws_batch_init(b);
    b->resources = tws_batch_alloc(b, sizeof *b->resources);
    memset(b->resources, 0, sizeof *b->resources);
    b->n_resources = 1;
    b->scopes = tws_batch_alloc(b, sizeof *b->scopes);
    memset(b->scopes, 0, sizeof *b->scopes);
    b->n_scopes = 1;
    b->spans = tws_batch_alloc(b, n * sizeof *b->spans);
    memset(b->spans, 0, n * sizeof *b->spans);
    b->n_spans = n;
    for (uint32_t i = 0; i < n; i++) {
        tws_span *s = &b->spans[i];
        memset(s->trace_id, tid, 16);
        memset(s->span_id, base + i, 8);
        s->name = str(b, "op");
        s->kind = 2;
        s->start_ns = start + i;
        s->end_ns = start + i + 100;
        s->attrs.items = tws_batch_alloc(b, sizeof(tws_kv));
        s->attrs.items[0] = (tws_kv){str(b, "k"), {.type = TWS_STRING, .u.s = str(b, attr)}};
        s->attrs.n = 1;
    }
}

#endif
