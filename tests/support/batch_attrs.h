/*
 * batch_attrs.h — looking at attributes of a decoded batch in cmocka tests
 * (include after <cmocka.h>; server tests only).
 */
#ifndef TW_TEST_BATCH_ATTRS_H
#define TW_TEST_BATCH_ATTRS_H

#include <string.h>

#include "otlp/model.h"

/* The value of `key` in `a`, or NULL. */
static inline const tws_value *attr(const tws_attrs *a, const char *key) {
    for (uint32_t i = 0; i < a->n; i++)
        if (a->items[i].key.len == strlen(key) && memcmp(a->items[i].key.ptr, key, a->items[i].key.len) == 0)
            return &a->items[i].val;
    return NULL;
}

/* `v` is the string `want`. */
static inline void assert_str(const tws_value *v, const char *want) {
    assert_non_null(v);
    assert_int_equal(v->type, TWS_STRING);
    if (v->u.s.len != strlen(want) || memcmp(v->u.s.ptr, want, v->u.s.len) != 0)
        fail_msg("got \"%.*s\", want \"%s\"", (int)v->u.s.len, v->u.s.ptr, want);
}

#endif
