/*
 * buf.c — growable capped buffer.
 */
#include <stdarg.h>
#include <stdio.h>

#include "common/buf.h"

void tw__buf_init(tw__buf *b, size_t max) {
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : SIZE_MAX / 2;
    b->failed = 0;
}

void tw__buf_free(tw__buf *b) {
    tw__free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void tw__buf_reset(tw__buf *b) {
    b->len = 0;
    b->failed = 0;
}

int tw__buf_reserve(tw__buf *b, size_t n) {
    if (b->failed) return b->failed;
    if (n <= b->cap - b->len) return 0;
    if (n > b->max - b->len) return b->failed = TW_ERANGE;
    size_t want = b->len + n, cap = b->cap ? b->cap : TW_MIN(256, b->max);
    while (cap < want) cap = cap > b->max / 2 ? b->max : cap * 2;
    uint8_t *d = tw__realloc(b->data, cap);
    if (!d) return b->failed = TW_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int tw__buf_append(tw__buf *b, const void *p, size_t n) {
    int rc = tw__buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int tw__buf_printf(tw__buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return b->failed = TW_EINVAL;
    int rc = tw__buf_reserve(b, (size_t)n + 1);
    if (rc) return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}
