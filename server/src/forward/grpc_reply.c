/*
 * grpc_reply.c — reading a gRPC call's status from its headers and trailers
 * (grpc_reply.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "common/pb.h"
#include "forward/grpc_reply.h"

enum {
    RPC_OK = 0, RPC_CANCELLED = 1, RPC_DEADLINE_EXCEEDED = 4, RPC_RESOURCE_EXHAUSTED = 8, RPC_ABORTED = 10,
    RPC_OUT_OF_RANGE = 11, RPC_UNAVAILABLE = 14, RPC_DATA_LOSS = 15,
};

void tws_grpc_reply_reset(tws_grpc_reply *r) {
    r->status = -1;
    r->retry_info = false;
    r->retry_ms = 0;
    r->message[0] = '\0';
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* grpc-message is percent-encoded UTF-8; a malformed escape is kept as is. */
static void percent_decode(const char *v, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        int hi, lo;
        if (v[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)v[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)v[i + 2])) >= 0) {
            char c = (char)(hi << 4 | lo);
            out[o++] = (c == '\0' || c == '\n' || c == '\r') ? ' ' : c;
            i += 2;
        } else {
            out[o++] = v[i];
        }
    }
    out[o] = '\0';
}

/* google.protobuf.Duration{seconds = 1, nanos = 2} in milliseconds, rounded up. */
static uint64_t duration_ms(const uint8_t *p, size_t len) {
    tw__pb_reader r;
    tw__pb_field f;
    uint64_t s = 0, ns = 0;
    tw__pb_reader_init(&r, p, len);
    while (tw__pb_next(&r, &f) == 1) {
        if (f.wire != TW_PB_VARINT) continue;
        if (f.num == 1 && (int64_t)f.u > 0) s = f.u;
        if (f.num == 2 && (int64_t)(int32_t)f.u > 0) ns = (uint32_t)f.u;
    }
    if (s > UINT64_MAX / 2000) return UINT64_MAX / 2;
    return s * 1000 + (ns + 999999) / 1000000;
}

bool tws_grpc_retry_delay(const uint8_t *status_pb, size_t len, uint64_t *ms) {
    static const char type_url[] = "type.googleapis.com/google.rpc.RetryInfo";
    tw__pb_reader r, a, ri;
    tw__pb_field f, g, h;
    tw__pb_reader_init(&r, status_pb, len);
    while (tw__pb_next(&r, &f) == 1) {
        if (f.num != 3 || f.wire != TW_PB_LEN) continue; /* Status.details: repeated Any */
        bool is_retry = false;
        const uint8_t *val = NULL;
        size_t vlen = 0;
        tw__pb_reader_init(&a, f.data, f.len);
        while (tw__pb_next(&a, &g) == 1) {
            if (g.wire != TW_PB_LEN) continue;
            if (g.num == 1) is_retry = g.len == sizeof type_url - 1 && !memcmp(g.data, type_url, g.len);
            if (g.num == 2) val = g.data, vlen = g.len;
        }
        if (!is_retry) continue;
        *ms = 0;
        tw__pb_reader_init(&ri, val, vlen);
        while (tw__pb_next(&ri, &h) == 1)
            if (h.num == 1 && h.wire == TW_PB_LEN) *ms = duration_ms(h.data, h.len); /* RetryInfo.retry_delay */
        return true;
    }
    return false;
}

void tws_grpc_reply_header(tws_grpc_reply *r, const char *line, size_t len) {
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    const char *colon = memchr(line, ':', len);
    if (!colon) return;
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
    if (nl == 11 && !strncasecmp(line, "grpc-status", nl)) {
        int code = 0;
        size_t i = 0;
        for (; i < vl && i < 4 && isdigit((unsigned char)v[i]); i++) code = code * 10 + (v[i] - '0');
        r->status = i && i == vl ? code : 2; /* an unreadable status is UNKNOWN */
    } else if (nl == 12 && !strncasecmp(line, "grpc-message", nl)) {
        percent_decode(v, vl, r->message, sizeof r->message);
    } else if (nl == 23 && !strncasecmp(line, "grpc-status-details-bin", nl) && vl <= 4096) {
        uint8_t pb[3072];
        long n = tw__base64_decode(v, vl, pb, sizeof pb);
        uint64_t ms;
        if (n > 0 && tws_grpc_retry_delay(pb, (size_t)n, &ms)) r->retry_info = true, r->retry_ms = ms;
    }
}

size_t tws_grpc_on_header(char *p, size_t size, size_t n, void *reply) {
    tws_grpc_reply_header(reply, p, size * n);
    return size * n;
}

int tws_grpc_outcome(const tws_grpc_reply *r, long http_status) {
    if (r->status < 0) return 0; /* no gRPC answer: the call did not complete */
    if (http_status != 0 && http_status != 200 && r->status == RPC_OK) return 0;
    switch (r->status) {
    case RPC_OK: return 1;
    case RPC_CANCELLED:
    case RPC_DEADLINE_EXCEEDED:
    case RPC_ABORTED:
    case RPC_OUT_OF_RANGE:
    case RPC_UNAVAILABLE:
    case RPC_DATA_LOSS: return 0;
    case RPC_RESOURCE_EXHAUSTED: return r->retry_info ? 0 : -1;
    default: return -1;
    }
}
