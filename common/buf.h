/*
 * buf.h — a growable byte buffer with a hard cap, for encoders.
 *
 * Invariants: data[0..len) is valid; len <= cap <= max. A write that would
 * pass `max` fails with TW_ERANGE and sets `failed`, after which every
 * further write is a no-op, so encoders can write a whole message and check
 * once at the end (curl's dynbuf "toobig" idea).
 */
#ifndef TW_BUF_H
#define TW_BUF_H

#include "common/tw_base.h"

typedef struct tw__buf {
    uint8_t *data;
    size_t len, cap, max;
    int failed; /* 0, or the first error (TW_ENOMEM / TW_ERANGE) */
} tw__buf;

/* max 0: SIZE_MAX/2. */
TW_HIDDEN void tw__buf_init(tw__buf *b, size_t max);
TW_HIDDEN void tw__buf_free(tw__buf *b);
TW_HIDDEN void tw__buf_reset(tw__buf *b); /* len = 0, failed = 0; keeps memory */
/* Make room for `n` more bytes; 0 or an error (and failed set). */
TW_HIDDEN int tw__buf_reserve(tw__buf *b, size_t n);
TW_HIDDEN int tw__buf_append(tw__buf *b, const void *p, size_t n);
static inline int tw__buf_putc(tw__buf *b, uint8_t c) {
    if (TW_LIKELY(b->len < b->cap)) {
        b->data[b->len++] = c;
        return 0;
    }
    return tw__buf_append(b, &c, 1);
}
static inline int tw__buf_puts(tw__buf *b, const char *s) { return tw__buf_append(b, s, strlen(s)); }
TW_HIDDEN int tw__buf_printf(tw__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
