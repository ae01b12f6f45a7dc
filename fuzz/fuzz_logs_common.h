/*
 * fuzz_logs_common.h — the invariants of a decoded OTLP logs batch, shared
 * by the protobuf and JSON logs decoder targets (abort() on violation):
 * no spans, indices in range, n_rejected counts the records with a reject
 * reason, has_trace_id / has_span_id mean non-zero ids (and none means all
 * zero), severities are 0..24, strings are valid UTF-8 and attribute values
 * within the limit (a body never is cut).
 */
#ifndef TW_FUZZ_LOGS_COMMON_H
#define TW_FUZZ_LOGS_COMMON_H

#include <stdlib.h>

#include "common/json.h"
#include "otlp/model.h"

static void check(int cond) {
    if (!cond) abort();
}

static void check_utf8(tw_str s) {
    bool valid;
    if (s.len) tw__utf8_repaired_len(s.ptr, s.len, &valid), check(valid);
}

static bool zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

static void check_logs_batch(const tws_batch *b, uint32_t max_value_len) {
    check(b->n_spans == 0);
    uint32_t rejected = 0;
    for (uint32_t i = 0; i < b->n_scopes; i++) check(b->scopes[i].resource_idx < b->n_resources);
    for (uint32_t i = 0; i < b->n_logs; i++) {
        const tws_log *l = &b->logs[i];
        check(l->scope_idx < b->n_scopes);
        check(l->severity <= 24);
        check(l->has_trace_id ? !zero(l->trace_id, 16) : zero(l->trace_id, 16));
        check(l->has_span_id ? !zero(l->span_id, 8) : zero(l->span_id, 8));
        rejected += l->reject != 0;
        check_utf8(l->severity_text);
        check_utf8(l->event_name);
        if (l->body.type == TWS_STRING) check_utf8(l->body.u.s);
        for (uint32_t k = 0; k < l->attrs.n; k++) {
            check_utf8(l->attrs.items[k].key);
            const tws_value *v = &l->attrs.items[k].val;
            if (v->type == TWS_STRING) check(!max_value_len || v->u.s.len <= max_value_len), check_utf8(v->u.s);
        }
    }
    check(rejected == b->n_rejected);
}

#endif
