/*
 * fuzz_srv_otlp_logs_pb.c — the server's OTLP/protobuf logs decoder
 * (tws_otlp_decode_logs_pb in otlp/decode_pb.c). Input: an
 * ExportLogsServiceRequest as is; odd lengths borrow the input, lengths
 * divisible by 3 cut attribute string values at 8 bytes.
 *
 * Properties checked (abort() on violation):
 *  - the result is success or TW_EPARSE; a refusal has a message with
 *    " at byte N", N inside the input, and leaves the batch empty;
 *  - an accepted batch has no spans, its indices are in range, n_rejected
 *    counts the records with a reject reason, has_trace_id / has_span_id
 *    mean non-zero ids (and none means all zero), severities are 0..24,
 *    strings are valid UTF-8 and attribute values within the limit.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/json.h"
#include "otlp/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tws_decode_options o = {.borrow_input = size % 2 == 1, .max_value_len = size % 3 == 0 ? 8 : 0};
    tws_batch b;
    tws_decode_error err;
    int rc = tws_otlp_decode_logs_pb(data, size, &o, &b, &err);
    check(rc == TW_OK || rc == TW_EPARSE);
    if (rc == TW_EPARSE) {
        const char *at = strstr(err.msg, " at byte ");
        check(at != NULL);
        check(strtoull(at + 9, NULL, 10) <= size);
        check(b.n_logs == 0 && b.logs == NULL);
        return 0;
    }
    check(b.n_spans == 0);
    uint32_t rejected = 0;
    for (uint32_t i = 0; i < b.n_scopes; i++) check(b.scopes[i].resource_idx < b.n_resources);
    for (uint32_t i = 0; i < b.n_logs; i++) {
        const tws_log *l = &b.logs[i];
        check(l->scope_idx < b.n_scopes);
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
            if (v->type == TWS_STRING) check(!o.max_value_len || v->u.s.len <= o.max_value_len), check_utf8(v->u.s);
        }
    }
    check(rejected == b.n_rejected);
    tws_batch_free(&b);
    return 0;
}
