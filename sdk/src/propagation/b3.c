/*
 * b3.c — Zipkin B3 propagation values (openzipkin/b3-propagation).
 *
 * Single header:  b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]
 *                 b3: {SamplingState}            (a decision and no ids)
 *   TraceId 16 or 32 lower-hex (16 is left-padded with zeros to 128 bits),
 *   SpanId and ParentSpanId 16 lower-hex, SamplingState 0 (deny), 1 (accept)
 *   or d (debug, which implies accept); absent means defer.
 * Multiple headers: X-B3-TraceId, X-B3-SpanId, X-B3-ParentSpanId,
 *   X-B3-Sampled (1/0, and the legacy true/false), X-B3-Flags (1 = debug).
 *
 * Choices: hex must be lowercase, as the B3 text says lower-hex (Zipkin's
 * Brave and OpenTelemetry Go agree; OpenTelemetry JS accepts uppercase too);
 * all-zero ids are refused, like W3C ones; a malformed X-B3-Sampled,
 * X-B3-Flags or X-B3-ParentSpanId makes the whole set invalid (as Go does)
 * rather than being silently ignored. Outer spaces/tabs are trimmed.
 */
#include "core/env.h"
#include "propagation/propagation_int.h"

static const char R_EMPTY[] = "b3: empty";
static const char R_TRACE_LEN[] = "b3: trace id is not 16 or 32 characters long";
static const char R_TRACE_HEX[] = "b3: trace id is not lowercase hex";
static const char R_TRACE_ZERO[] = "b3: trace id is all zeros";
static const char R_SPAN_LEN[] = "b3: span id is not 16 characters long";
static const char R_SPAN_HEX[] = "b3: span id is not lowercase hex";
static const char R_SPAN_ZERO[] = "b3: span id is all zeros";
static const char R_SAMPLING[] = "b3: sampling state is not 0, 1 or d";
static const char R_PARENT_LEN[] = "b3: parent span id is not 16 characters long";
static const char R_PARENT_HEX[] = "b3: parent span id is not lowercase hex";
static const char R_PARENT_ZERO[] = "b3: parent span id is all zeros";
static const char R_NO_TRACE[] = "b3: X-B3-SpanId without X-B3-TraceId";
static const char R_NO_SPAN[] = "b3: X-B3-TraceId without X-B3-SpanId";
static const char R_PARENT_ALONE[] = "b3: X-B3-ParentSpanId without X-B3-TraceId and X-B3-SpanId";
static const char R_SAMPLED[] = "b3: X-B3-Sampled is not 1, 0, true or false";
static const char R_FLAGS[] = "b3: X-B3-Flags is not 1 or 0";

static const char *trace_id_error(const char *s, size_t n, tw_trace_id *out) {
    memset(out->bytes, 0, sizeof out->bytes);
    if (n != 16 && n != 32) return R_TRACE_LEN;
    if (!tw__lchex_decode(s, n / 2, out->bytes + (32 - n) / 2)) return R_TRACE_HEX;
    if (tw__all_zero(out->bytes, sizeof out->bytes)) return R_TRACE_ZERO;
    return NULL;
}

static const char *span_id_error(const char *s, size_t n, tw_span_id *out, bool parent) {
    if (n != 16) return parent ? R_PARENT_LEN : R_SPAN_LEN;
    if (!tw__lchex_decode(s, 8, out->bytes)) return parent ? R_PARENT_HEX : R_SPAN_HEX;
    if (tw__all_zero(out->bytes, 8)) return parent ? R_PARENT_ZERO : R_SPAN_ZERO;
    return NULL;
}

static bool sampling_of(char c, tw__b3_sampling *out) {
    switch (c) {
    case '0': *out = TW__B3_DENY; return true;
    case '1': *out = TW__B3_ACCEPT; return true;
    case 'd': *out = TW__B3_DEBUG; return true;
    default: return false;
    }
}

int tw__b3_single_parse(const char *s, size_t len, tw__b3 *out, const char **why) {
    const char *reason = NULL;
    tw__b3 b;
    memset(&b, 0, sizeof b);
    if (!s) len = 0;
    else if (len == TW_NTS) len = strlen(s);
    tw__ows_trim(&s, &len);

    if (len == 0) {
        reason = R_EMPTY;
        goto bad;
    }
    if (len == 1) { /* a sampling decision alone */
        if (!sampling_of(s[0], &b.sampling)) {
            reason = R_SAMPLING;
            goto bad;
        }
        *out = b;
        return TW_OK;
    }
    /* Fields are split at '-'; each then has its exact length checked. */
    const char *end = s + len, *f = s;
    const char *dash = memchr(f, '-', len);
    size_t fl = dash ? (size_t)(dash - f) : len;
    if ((reason = trace_id_error(f, fl, &b.trace_id))) goto bad;
    if (!dash) {
        reason = R_SPAN_LEN;
        goto bad;
    }
    f = dash + 1;
    dash = memchr(f, '-', (size_t)(end - f));
    fl = dash ? (size_t)(dash - f) : (size_t)(end - f);
    if ((reason = span_id_error(f, fl, &b.span_id, false))) goto bad;
    b.has_ids = true;
    if (dash) {
        f = dash + 1;
        dash = memchr(f, '-', (size_t)(end - f));
        fl = dash ? (size_t)(dash - f) : (size_t)(end - f);
        if (fl != 1 || !sampling_of(f[0], &b.sampling)) {
            reason = R_SAMPLING;
            goto bad;
        }
        if (dash) {
            f = dash + 1;
            if ((reason = span_id_error(f, (size_t)(end - f), &b.parent_id, true))) goto bad;
            b.has_parent = true;
        }
    }
    *out = b;
    return TW_OK;

bad:
    if (why) *why = reason;
    return TW_EPARSE;
}

/* A present header, trimmed; false when absent. */
static bool field(tw_str in, const char **s, size_t *n) {
    if (!in.ptr) return false;
    *s = in.ptr;
    *n = tw__str_len(in);
    tw__ows_trim(s, n);
    return true;
}

int tw__b3_multi_parse(const tw__b3_multi_in *in, tw__b3 *out, const char **why) {
    const char *reason = NULL, *s;
    size_t n;
    tw__b3 b;
    memset(&b, 0, sizeof b);

    bool has_trace = field(in->trace_id, &s, &n);
    if (has_trace && (reason = trace_id_error(s, n, &b.trace_id))) goto bad;
    bool has_span = field(in->span_id, &s, &n);
    if (has_span && (reason = span_id_error(s, n, &b.span_id, false))) goto bad;
    if (has_trace != has_span) {
        reason = has_trace ? R_NO_SPAN : R_NO_TRACE;
        goto bad;
    }
    b.has_ids = has_trace;
    if (field(in->parent_id, &s, &n)) {
        if (!b.has_ids) {
            reason = R_PARENT_ALONE;
            goto bad;
        }
        if ((reason = span_id_error(s, n, &b.parent_id, true))) goto bad;
        b.has_parent = true;
    }
    if (field(in->sampled, &s, &n)) {
        if ((n == 1 && s[0] == '1') || tw__strieq_n(s, n, "true")) {
            b.sampling = TW__B3_ACCEPT;
        } else if ((n == 1 && s[0] == '0') || tw__strieq_n(s, n, "false")) {
            b.sampling = TW__B3_DENY;
        } else {
            reason = R_SAMPLED;
            goto bad;
        }
    }
    if (field(in->flags, &s, &n)) {
        if (n == 1 && s[0] == '1') {
            b.sampling = TW__B3_DEBUG; /* debug implies accept, whatever Sampled said */
        } else if (!(n == 1 && s[0] == '0')) {
            reason = R_FLAGS;
            goto bad;
        }
    }
    if (!b.has_ids && b.sampling == TW__B3_DEFER) {
        reason = R_EMPTY;
        goto bad;
    }
    *out = b;
    return TW_OK;

bad:
    if (why) *why = reason;
    return TW_EPARSE;
}

void tw__b3_single_format(const tw_span_context *sc, char out[TW__B3_SINGLE_LEN + 1]) {
    tw__hex_encode(sc->trace_id.bytes, TW_TRACE_ID_SIZE, out);
    out[32] = '-';
    tw__hex_encode(sc->span_id.bytes, TW_SPAN_ID_SIZE, out + 33);
    out[49] = '-';
    out[50] = (sc->flags & TW_FLAG_SAMPLED) ? '1' : '0';
    out[51] = '\0';
}
