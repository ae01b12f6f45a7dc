/*
 * fuzz_traceparent.c — tw_traceparent_parse, and the tracecontext
 * propagator end to end. Input: the first line is a traceparent value, any
 * further lines are tracestate header lines.
 *
 * Properties checked (abort() on violation):
 *  - a refusal always names a reason and leaves the output untouched;
 *  - an accepted value has non-zero ids; formatting it gives 55 characters
 *    that parse back to the same ids and the known flag bits;
 *  - a version-00 value whose flags use only known bits formats back to
 *    exactly the (trimmed) input;
 *  - extract -> inject -> extract through HTTP headers is a fixed point.
 */
#include <stdlib.h>

#include "propagation/propagation_int.h"

static void check(int cond) {
    if (!cond) abort();
}

static void check_parse(const char *s, size_t n) {
    tw_span_context sc, before;
    memset(&sc, 0x77, sizeof sc);
    before = sc;
    const char *why = NULL;
    int rc = tw_traceparent_parse(s, n, &sc, &why);
    if (rc != TW_OK) {
        check(rc == TW_EPARSE && why != NULL && memcmp(&sc, &before, sizeof sc) == 0);
        return;
    }
    check(tw_trace_id_is_valid(&sc.trace_id) && tw_span_id_is_valid(&sc.span_id));
    char out[TW_TRACEPARENT_LEN + 1];
    tw_traceparent_format(&sc, out);
    check(strlen(out) == TW_TRACEPARENT_LEN);
    tw_span_context back;
    check(tw_traceparent_parse(out, TW_TRACEPARENT_LEN, &back, NULL) == TW_OK);
    check(memcmp(&back.trace_id, &sc.trace_id, sizeof sc.trace_id) == 0);
    check(memcmp(&back.span_id, &sc.span_id, sizeof sc.span_id) == 0);
    check(back.flags == (sc.flags & (TW_FLAG_SAMPLED | TW_FLAG_RANDOM)));
    const char *t = s;
    size_t tn = n;
    tw__ows_trim(&t, &tn);
    check(tn >= TW_TRACEPARENT_LEN);
    if (t[0] == '0' && t[1] == '0' && (sc.flags & ~3u) == 0) check(tn == TW_TRACEPARENT_LEN && memcmp(t, out, tn) == 0);
}

static void check_propagator(const char *s, size_t n) {
    tw_http_headers in, out, again;
    tw_http_headers_init(&in);
    tw_http_headers_init(&out);
    tw_http_headers_init(&again);
    size_t i = 0;
    int first = 1;
    while (i <= n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (s + i)) : n - i;
        if (tw_http_headers_add(&in, first ? "traceparent" : "TraceState", s + i, len) != TW_OK) goto out;
        first = 0;
        i += len + 1;
    }
    tw_carrier cin = tw_http_headers_carrier(&in), cout = tw_http_headers_carrier(&out),
               cagain = tw_http_headers_carrier(&again);
    tw_context a = TW_CONTEXT_INIT, b = TW_CONTEXT_INIT;
    const tw_propagator *p = tw_propagator_tracecontext();
    check(tw_propagator_extract(p, &cin, &a) == TW_OK);
    check(tw_propagator_inject(p, &a, &cout) == TW_OK);
    check(tw_propagator_extract(p, &cout, &b) == TW_OK);
    check(memcmp(&a.span.trace_id, &b.span.trace_id, sizeof a.span.trace_id) == 0);
    check(memcmp(&a.span.span_id, &b.span.span_id, sizeof a.span.span_id) == 0);
    check(b.span.flags == (a.span.flags & 3u));
    check(a.span.is_remote == b.span.is_remote);
    /* the second injection writes the very same headers */
    check(tw_propagator_inject(p, &b, &cagain) == TW_OK);
    check(out.count == again.count);
    for (size_t k = 0; k < out.count; k++)
        check(strcmp(out.items[k].name, again.items[k].name) == 0 &&
              out.items[k].value_len == again.items[k].value_len &&
              memcmp(out.items[k].value, again.items[k].value, out.items[k].value_len) == 0);
    tw_tracestate_unref(a.span.state);
    tw_tracestate_unref(b.span.state);
out:
    tw_http_headers_free(&in);
    tw_http_headers_free(&out);
    tw_http_headers_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    check_parse(s, nl ? (size_t)(nl - s) : size);
    check_parse(s, size);
    check_propagator(s, size);
    return 0;
}
