/*
 * json_quotes.h — J(s): test JSON written with ' for ", turned into real
 * JSON in one of a few rotating static buffers (so a test can hold four at
 * once). Header-only: each test program has its own buffers.
 */
#ifndef TW_TEST_JSON_QUOTES_H
#define TW_TEST_JSON_QUOTES_H

#include <string.h>

static inline const char *J(const char *s) {
    static char bufs[4][16384];
    static int next;
    char *b = bufs[next++ % 4];
    size_t n = strlen(s);
    assert_true(n < sizeof bufs[0]);
    for (size_t i = 0; i <= n; i++) b[i] = s[i] == '\'' ? '"' : s[i];
    return b;
}

#endif
