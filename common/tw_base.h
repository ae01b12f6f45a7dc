/*
 * tw_base.h — the bottom layer shared by the SDK and the server: branch
 * hints, the tw__ naming rule for internal non-static symbols, allocation
 * wrappers, hex helpers. It includes only the public vocabulary header
 * (tw_common.h: error codes, tw_str, ids); nothing here is public API.
 *
 * Out-of-memory policy: these libraries never abort. Every allocation goes through
 * tw__malloc/tw__calloc/tw__realloc, which tests can make fail (see
 * tw__alloc_fail_after) to exercise the error paths.
 */
#ifndef TW_BASE_H
#define TW_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tracewire/tracewire.h" /* the SDK's types; the server uses only tw_common.h's */

#define TW_LIKELY(x) __builtin_expect(!!(x), 1)
#define TW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define TW_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TW_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TW_HIDDEN __attribute__((visibility("hidden")))
/* Hot thread-locals: the initial-exec model avoids a __tls_get_addr call
 * per access in the shared library. */
#define TW_TLS _Thread_local __attribute__((tls_model("initial-exec")))

TW_HIDDEN void *tw__malloc(size_t n);
TW_HIDDEN void *tw__calloc(size_t n, size_t size);
TW_HIDDEN void *tw__realloc(void *p, size_t n);
TW_HIDDEN void tw__free(void *p);
TW_HIDDEN char *tw__strndup(const char *s, size_t n);
/* Test hook: after `n` more successful allocations, fail every one (-1: never). */
void tw__alloc_fail_after(long n);

/* Length of a tw_str that may be TW_NTS. */
static inline size_t tw__str_len(tw_str s) { return s.len == TW_NTS ? (s.ptr ? strlen(s.ptr) : 0) : s.len; }

/* Hex helpers: 0..15 for a hex digit (either case), -1 otherwise. */
static inline int tw__hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20; /* fold case */
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}
extern const char tw__hexdigits[16];
TW_HIDDEN void tw__hex_encode(const uint8_t *in, size_t n, char *out); /* 2n chars, no NUL */

static inline bool tw__trace_id_valid(const tw_trace_id *id) {
    uint64_t a, b;
    memcpy(&a, id->bytes, 8);
    memcpy(&b, id->bytes + 8, 8);
    return (a | b) != 0;
}

/* Reference counts of shared immutable objects. tw__ref_release returns
 * true for the caller that dropped the last reference: release ordering
 * makes every holder's reads happen before it frees, acquire in the freer. */
#include <stdatomic.h>
static inline void tw__ref_take(_Atomic uint32_t *refs) { atomic_fetch_add_explicit(refs, 1, memory_order_relaxed); }
static inline bool tw__ref_release(_Atomic uint32_t *refs) {
    /* acq_rel rather than release + an acquire fence: the same on x86, and
     * ThreadSanitizer understands it (it does not model standalone fences) */
    return atomic_fetch_sub_explicit(refs, 1, memory_order_acq_rel) == 1;
}

/* A 64-bit mixer (splitmix64's finalizer): every input bit affects every
 * output bit. For hashing ids and for deterministic test data. */
static inline uint64_t tw__mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t tw__load_le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint64_t tw__load_be64(const uint8_t *p) {
    return ((uint64_t)p[0] << 56) | ((uint64_t)p[1] << 48) | ((uint64_t)p[2] << 40) |
           ((uint64_t)p[3] << 32) | ((uint64_t)p[4] << 24) | ((uint64_t)p[5] << 16) |
           ((uint64_t)p[6] << 8) | (uint64_t)p[7];
}

#endif
