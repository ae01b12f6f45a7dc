/*
 * span_int.h — how a span is stored, for the modules that record it
 * (trace/) and the ones that read it after it ended (export/).
 *
 * Layout: a span is one fixed-size object from the span pool. Its header is
 * followed by an inline arena that holds the name, attributes, events and
 * links of a typical span; a span that outgrows it chains overflow chunks
 * from the heap, all freed at once when the span is released.
 *
 * Invariants:
 *  - Every string stored in a span (name, keys, values, status message) is
 *    a copy in the span's arena with an explicit length, and is also
 *    NUL-terminated so it can be handed to C string functions.
 *  - After `ended` is set the span is immutable; the exporter thread reads it
 *    without locks while the owner may still hold (and only read) it.
 *  - `refs` counts owners: the starter (until end), each attach, and the
 *    export pipeline (from end until the processors are done with it).
 *    The object goes back to the pool when it reaches zero.
 *  - A non-recording span uses only the header: ctx, refs, recording == 0.
 */
#ifndef TW_SPAN_INT_H
#define TW_SPAN_INT_H

#include <stdatomic.h>

#include "common/tw_base.h"

/* ---- arena --------------------------------------------------------------- */

typedef struct tw__chunk { struct tw__chunk *next; size_t size; } tw__chunk;

typedef struct tw__arena {
    char *cur, *end;     /* free space of the current block */
    tw__chunk *overflow; /* heap chunks, freed by tw__arena_release */
} tw__arena;

static inline void tw__arena_init(tw__arena *a, void *mem, size_t size) {
    a->cur = mem;
    a->end = mem ? (char *)mem + size : NULL; /* no arithmetic on NULL */
    a->overflow = NULL;
}
/* tw__arena_alloc when the current block is full (or absent): a new chunk. */
TW_HIDDEN void *tw__arena_alloc_slow(tw__arena *a, size_t n);
/* 8-byte aligned; NULL when the heap fails. Inline: spans allocate from
 * their inline block several times each. */
static inline void *tw__arena_alloc(tw__arena *a, size_t n) {
    n = (n + 7u) & ~(size_t)7u;
    if (TW_LIKELY(a->cur != NULL) && (size_t)(a->end - a->cur) >= n) {
        void *p = a->cur;
        a->cur += n;
        return p;
    }
    return tw__arena_alloc_slow(a, n);
}
TW_HIDDEN void tw__arena_release(tw__arena *a);

/* memcpy for the short strings spans are made of: up to 32 bytes with two
 * (possibly overlapping) unaligned loads and stores, instead of a call. The
 * buffers must not overlap. */
static inline void tw__copy_small(char *restrict d, const char *restrict s, size_t n) {
    if (n >= 16) {
        if (n > 32) {
            memcpy(d, s, n);
            return;
        }
        char a[16], b[16];
        memcpy(a, s, 16);
        memcpy(b, s + n - 16, 16);
        memcpy(d, a, 16);
        memcpy(d + n - 16, b, 16);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else if (n) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

/* A NUL-terminated copy of s[0..n); NULL when the heap fails. */
static inline const char *tw__arena_strdup(tw__arena *a, const char *s, size_t n) {
    char *d = tw__arena_alloc(a, n + 1);
    if (!d) return NULL;
    tw__copy_small(d, s, n);
    d[n] = '\0';
    return d;
}

/* ---- stored attributes ---------------------------------------------------- */

/* A stored value. Strings are (ptr, len); arrays point to `n` items in the
 * arena: tw_str for string arrays, bool/int64_t/double otherwise. */
typedef struct tw__value {
    tw_value_type type;
    uint32_t n; /* string length, or array item count */
    union {
        const char *s;
        bool b;
        int64_t i;
        double d;
        const tw_str *sa;
        const bool *ba;
        const int64_t *ia;
        const double *da;
    } u;
} tw__value;

typedef struct tw__kv {
    const char *key;
    uint32_t key_len;
    tw__value val;
} tw__kv;

typedef struct tw__kvlist {
    tw__kv *items;
    uint32_t n, cap;
    uint32_t dropped; /* over the count limit */
} tw__kvlist;

typedef struct tw__event {
    const char *name;
    uint32_t name_len;
    uint64_t time_ns;
    tw__kvlist attrs;
} tw__event;

typedef struct tw__link {
    tw_trace_id trace_id;
    tw_span_id span_id;
    uint8_t flags;
    bool is_remote;
    const char *state; /* serialised tracestate; may be NULL */
    uint32_t state_len;
    tw__kvlist attrs;
} tw__link;

/* ---- tracer, provider ----------------------------------------------------- */

typedef struct tw__processor_list tw__processor_list;

struct tw_tracer {
    struct tw_provider *provider;
    char *name, *version;
    struct tw_tracer *next;
};

/* ---- span ------------------------------------------------------------------ */

/* The fields read or written when the last reference drops (often on the
 * exporter's thread: refs, recording, ctx.state, arena.overflow, next) come
 * first, so that thread touches as few of the header's cache lines as it can. */
struct tw_span {
    _Atomic uint32_t refs;
    uint8_t recording; /* 0: only ctx is meaningful */
    uint8_t ended;
    uint8_t kind;   /* tw_span_kind */
    uint8_t status; /* tw_status_code */
    uint8_t has_parent;
    uint8_t parent_is_remote;
    tw_span_context ctx;  /* owns one reference to ctx.state */
    tw__arena arena;
    tw_span_id parent_id;
    uint64_t start_ns, end_ns;
    struct tw_tracer *tracer;
    const char *name;
    uint32_t name_len;
    uint32_t status_msg_len;
    const char *status_msg;
    tw__kvlist attrs;
    tw__event *events;
    uint32_t n_events, cap_events, dropped_events;
    tw__link *links;
    uint32_t n_links, cap_links, dropped_links;
};

/* A span object's size in the pool: header plus the inline arena. */
#define TW__SPAN_OBJECT_SIZE 1536

/* Take one reference. References are only taken by a holder of one, so a
 * count of 1 is the caller's own: nothing can change it meanwhile, and a
 * plain store saves the atomic read-modify-write. */
static inline void tw__span_ref(tw_span *s) {
    if (atomic_load_explicit(&s->refs, memory_order_relaxed) == 1)
        atomic_store_explicit(&s->refs, 2, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}
/* Drop one reference; the last one releases the span to the pool. */
TW_HIDDEN void tw__span_unref(tw_span *s);

/* Resource attributes of the span's provider (for encoders). */
TW_HIDDEN const tw__kvlist *tw__span_resource(const tw_span *s);

/* Copy an input attribute into a stored one in arena `a`. `max_len` (0 =
 * unlimited) truncates strings, on a UTF-8 boundary. TW_ENOMEM or TW_EINVAL. */
TW_HIDDEN int tw__value_copy(tw__arena *a, tw__value *dst, const tw_attribute *src, uint32_t max_len);
/* Set key=value in `list` (replacing an existing key, in its place) with
 * `limit` items at most; TW_ELIMIT (and dropped++) when full, TW_EINVAL for
 * a NULL or empty key. */
TW_HIDDEN int tw__kvlist_set(tw__arena *a, tw__kvlist *list, const tw_attribute *attr, uint32_t limit,
                             uint32_t max_len);
/* Find a key; NULL if absent. */
TW_HIDDEN const tw__kv *tw__kvlist_find(const tw__kvlist *list, const char *key, size_t key_len);

#endif
