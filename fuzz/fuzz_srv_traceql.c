/*
 * fuzz_srv_traceql.c — the TraceQL parser on arbitrary bytes: never
 * crashes, and either yields a query (which is then evaluated on a small
 * trace, to exercise the evaluator on every tree the parser accepts) or
 * refuses with a "parse error at line L, col C: ..." message.
 */
#include <stdlib.h>
#include <string.h>

#include "traceql/traceql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tq_query *q = NULL;
    char err[256] = "";
    int rc = tq_parse((const char *)data, size, &q, err);
    if (rc != TW_OK) {
        if (rc == TW_EPARSE && strncmp(err, "parse error at line ", 20) != 0) abort();
        return 0;
    }
    /* three spans: a root, its child with attributes, an orphan */
    tws_span spans[3];
    memset(spans, 0, sizeof spans);
    tws_kv kv[2] = {{{"http.status_code", 16}, {.type = TWS_INT, .u.i = 500}},
                    {{"user", 4}, {.type = TWS_STRING, .u.s = {"u-1", 3}}}};
    tws_resource res = {0};
    tws_scope scope = {0};
    tws_batch b = {.resources = &res, .n_resources = 1, .scopes = &scope, .n_scopes = 1, .spans = spans, .n_spans = 3};
    for (int i = 0; i < 3; i++) {
        spans[i].trace_id[15] = 1;
        spans[i].span_id[7] = (uint8_t)(i + 1);
        spans[i].start_ns = 1000 * (uint64_t)i;
        spans[i].end_ns = 5000;
        spans[i].name = (tw_str){"op", 2};
    }
    spans[1].has_parent = true;
    spans[1].parent_span_id[7] = 1;
    spans[1].attrs = (tws_attrs){kv, 2, 0};
    spans[1].status_code = 2;
    spans[2].has_parent = true;
    spans[2].parent_span_id[7] = 9;
    tws_span_ref refs[3] = {{&b, &spans[0]}, {&b, &spans[1]}, {&b, &spans[2]}};
    tq_eval *e;
    if (tq_eval_new(&e) == TW_OK) {
        tq_trace t;
        tq_spanset *sets;
        uint32_t n;
        if (tq_trace_build(e, refs, 3, &t) == TW_OK) tq_eval_trace(e, q, &t, &sets, &n);
        tq_eval_free(e);
    }
    tq_query_free(q);
    return 0;
}
