/*
 * fuzz_b3.c — the B3 parsers. Input: the first line is a `b3` single-header
 * value; the first five lines are also used as X-B3-TraceId, X-B3-SpanId,
 * X-B3-ParentSpanId, X-B3-Sampled and X-B3-Flags (an empty line = absent).
 *
 * Properties checked (abort() on violation):
 *  - a refusal names a reason and leaves the output untouched;
 *  - accepted ids are non-zero; a sampling-only value has no ids;
 *  - format -> parse of an accepted single header keeps the ids and maps
 *    the sampling state to the sampled bit (debug and accept -> 1);
 *  - the b3 and b3multi propagators agree with the parsers.
 */
#include <stdlib.h>

#include "propagation/propagation_int.h"

static void check(int cond) {
    if (!cond) abort();
}

static void check_result(int rc, const tw__b3 *b, const tw__b3 *before, const char *why) {
    if (rc != TW_OK) {
        check(rc == TW_EPARSE && why && memcmp(b, before, sizeof *b) == 0);
        return;
    }
    if (b->has_ids) {
        check(tw_trace_id_is_valid(&b->trace_id) && tw_span_id_is_valid(&b->span_id));
        tw_span_context sc;
        memset(&sc, 0, sizeof sc);
        sc.trace_id = b->trace_id;
        sc.span_id = b->span_id;
        sc.flags = (b->sampling == TW__B3_ACCEPT || b->sampling == TW__B3_DEBUG) ? TW_FLAG_SAMPLED : 0;
        char out[TW__B3_SINGLE_LEN + 1];
        tw__b3_single_format(&sc, out);
        check(strlen(out) == TW__B3_SINGLE_LEN);
        tw__b3 back;
        check(tw__b3_single_parse(out, TW__B3_SINGLE_LEN, &back, NULL) == TW_OK);
        check(back.has_ids && !back.has_parent);
        check(memcmp(&back.trace_id, &b->trace_id, sizeof back.trace_id) == 0);
        check(memcmp(&back.span_id, &b->span_id, sizeof back.span_id) == 0);
        check(back.sampling == (sc.flags ? TW__B3_ACCEPT : TW__B3_DENY));
    } else {
        check(!b->has_parent && b->sampling != TW__B3_DEFER);
    }
    if (b->has_parent) check(tw_span_id_is_valid(&b->parent_id));
}

static void check_propagator(const tw_propagator *p, tw_http_headers *h, const tw__b3 *expect) {
    tw_carrier c = tw_http_headers_carrier(h);
    tw_context ctx = TW_CONTEXT_INIT;
    check(tw_propagator_extract(p, &c, &ctx) == TW_OK);
    if (!expect || !expect->has_ids) {
        check(!tw_trace_id_is_valid(&ctx.span.trace_id));
        return;
    }
    check(ctx.span.is_remote && ctx.span.state == NULL);
    check(memcmp(&ctx.span.trace_id, &expect->trace_id, sizeof ctx.span.trace_id) == 0);
    check(memcmp(&ctx.span.span_id, &expect->span_id, sizeof ctx.span.span_id) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    tw_str lines[5] = {{NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};
    size_t n = 0, i = 0;
    while (i <= size && n < 5) {
        const char *nl = memchr(s + i, '\n', size - i);
        size_t len = nl ? (size_t)(nl - (s + i)) : size - i;
        if (len) lines[n] = (tw_str){s + i, len};
        n++;
        i += len + 1;
    }

    tw__b3 single, before;
    memset(&single, 0x33, sizeof single);
    before = single;
    const char *why = NULL;
    int rc1 = tw__b3_single_parse(lines[0].ptr, lines[0].len, &single, &why);
    check_result(rc1, &single, &before, why);

    tw__b3 multi;
    memset(&multi, 0x44, sizeof multi);
    before = multi;
    why = NULL;
    tw__b3_multi_in in = {lines[0], lines[1], lines[2], lines[3], lines[4]};
    int rc2 = tw__b3_multi_parse(&in, &multi, &why);
    check_result(rc2, &multi, &before, why);

    /* through the propagators: the single header alone, then the X-B3-* set */
    tw_http_headers h;
    tw_http_headers_init(&h);
    if (lines[0].ptr && tw_http_headers_add(&h, "B3", lines[0].ptr, lines[0].len) == TW_OK)
        check_propagator(tw_propagator_b3(), &h, rc1 == TW_OK ? &single : NULL);
    tw_http_headers_free(&h);
    static const char *const names[5] = {"X-B3-TraceId", "X-B3-SpanId", "X-B3-ParentSpanId", "X-B3-Sampled",
                                         "X-B3-Flags"};
    int ok = 1;
    for (size_t k = 0; k < 5; k++)
        if (lines[k].ptr) ok &= tw_http_headers_add(&h, names[k], lines[k].ptr, lines[k].len) == TW_OK;
    if (ok && (lines[0].ptr || lines[1].ptr || lines[2].ptr || lines[3].ptr || lines[4].ptr))
        check_propagator(tw_propagator_b3multi(), &h, rc2 == TW_OK ? &multi : NULL);
    tw_http_headers_free(&h);
    return 0;
}
