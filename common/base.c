/*
 * common.c — error names, id helpers, allocation wrappers and the clock.
 * The allocation wrappers exist so that tests can inject failures.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "common/tw_base.h"

static _Atomic long alloc_budget = -1; /* -1: unlimited */

void tw__alloc_fail_after(long n) { atomic_store(&alloc_budget, n); }

static int alloc_allowed(void) {
    long b = atomic_load_explicit(&alloc_budget, memory_order_relaxed);
    if (TW_LIKELY(b < 0)) return 1;
    while (b > 0) {
        if (atomic_compare_exchange_weak(&alloc_budget, &b, b - 1)) return 1;
    }
    return 0;
}

void *tw__malloc(size_t n) { return alloc_allowed() ? malloc(n) : NULL; }
void *tw__calloc(size_t n, size_t size) { return alloc_allowed() ? calloc(n, size) : NULL; }
void *tw__realloc(void *p, size_t n) { return alloc_allowed() ? realloc(p, n) : NULL; }
void tw__free(void *p) { free(p); }

char *tw__strndup(const char *s, size_t n) {
    char *d = tw__malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

const char *tw_strerror(int err) {
    switch (err) {
    case TW_OK: return "success";
    case TW_EINVAL: return "invalid argument";
    case TW_ENOMEM: return "out of memory";
    case TW_EPARSE: return "malformed input";
    case TW_ELIMIT: return "limit reached, item dropped";
    case TW_EFULL: return "queue full, item dropped";
    case TW_ETIMEDOUT: return "timed out";
    case TW_EIO: return "I/O error";
    case TW_ESHUTDOWN: return "already shut down";
    case TW_ENOTSUP: return "not supported";
    case TW_EREJECTED: return "rejected by the peer";
    case TW_ENOTFOUND: return "not found";
    case TW_ERANGE: return "buffer too small";
    default: return "unknown error";
    }
}

const char tw__hexdigits[16] = "0123456789abcdef";

void tw__hex_encode(const uint8_t *in, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = tw__hexdigits[in[i] >> 4];
        out[2 * i + 1] = tw__hexdigits[in[i] & 15];
    }
}

static bool all_zero(const uint8_t *b, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= b[i];
    return acc == 0;
}

bool tw_trace_id_is_valid(const tw_trace_id *id) { return !all_zero(id->bytes, sizeof id->bytes); }
bool tw_span_id_is_valid(const tw_span_id *id) { return !all_zero(id->bytes, sizeof id->bytes); }

void tw_trace_id_to_hex(const tw_trace_id *id, char out[TW_TRACE_ID_HEX_LEN + 1]) {
    tw__hex_encode(id->bytes, sizeof id->bytes, out);
    out[TW_TRACE_ID_HEX_LEN] = '\0';
}

void tw_span_id_to_hex(const tw_span_id *id, char out[TW_SPAN_ID_HEX_LEN + 1]) {
    tw__hex_encode(id->bytes, sizeof id->bytes, out);
    out[TW_SPAN_ID_HEX_LEN] = '\0';
}

static int hex_decode(const char *hex, size_t len, uint8_t *out, size_t n) {
    if (!hex || len != 2 * n) return TW_EPARSE;
    for (size_t i = 0; i < n; i++) {
        int hi = tw__hexval((unsigned char)hex[2 * i]), lo = tw__hexval((unsigned char)hex[2 * i + 1]);
        if ((hi | lo) < 0) return TW_EPARSE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return TW_OK;
}

int tw_trace_id_from_hex(const char *hex, size_t len, tw_trace_id *out) {
    return hex_decode(hex, len, out->bytes, sizeof out->bytes);
}

int tw_span_id_from_hex(const char *hex, size_t len, tw_span_id *out) {
    return hex_decode(hex, len, out->bytes, sizeof out->bytes);
}

uint64_t tw_now_ns(void) { return tw__clock_ns(); }
