/*
 * equal.c — deep equality of decoded spans and attributes: the head's
 * "exact duplicate" test, and the round-trip checks of tests and fuzzers.
 * Doubles compare bit-for-bit in meaning: NaN equals NaN, -0 differs from 0.
 * Attribute lists compare as maps (order does not matter: blocks group
 * attributes by key); array and kvlist values compare in order.
 */
#include <math.h>
#include <stdlib.h>

#include "otlp/model.h"

bool tws_str_equal(tw_str a, tw_str b) { return a.len == b.len && (!a.len || !memcmp(a.ptr, b.ptr, a.len)); }

static bool kvs_equal(const tws_kv *a, const tws_kv *b, uint32_t n, int depth);

static bool value_equal(const tws_value *a, const tws_value *b, int depth) {
    if (a->type != b->type) return false;
    if (depth > 256) return false; /* deeper than any decoder builds */
    switch (a->type) {
    case TWS_STRING:
    case TWS_BYTES: return tws_str_equal(a->u.s, b->u.s);
    case TWS_BOOL: return a->u.b == b->u.b;
    case TWS_INT: return a->u.i == b->u.i;
    case TWS_DOUBLE:
        return (isnan(a->u.d) && isnan(b->u.d)) || (a->u.d == b->u.d && signbit(a->u.d) == signbit(b->u.d));
    case TWS_ARRAY:
        if (a->n != b->n) return false;
        for (uint32_t i = 0; i < a->n; i++)
            if (!value_equal(&a->u.arr[i], &b->u.arr[i], depth + 1)) return false;
        return true;
    case TWS_KVLIST: return a->n == b->n && kvs_equal(a->u.kv, b->u.kv, a->n, depth + 1);
    case TWS_EMPTY: return true;
    }
    return false;
}

static bool kvs_equal(const tws_kv *a, const tws_kv *b, uint32_t n, int depth) {
    for (uint32_t i = 0; i < n; i++)
        if (!tws_str_equal(a[i].key, b[i].key) || !value_equal(&a[i].val, &b[i].val, depth)) return false;
    return true;
}

static int cmp_kv_key(const void *x, const void *y) {
    const tws_kv *a = *(const tws_kv *const *)x, *b = *(const tws_kv *const *)y;
    size_t n = a->key.len < b->key.len ? a->key.len : b->key.len;
    int c = n ? memcmp(a->key.ptr, b->key.ptr, n) : 0;
    return c ? c : (a->key.len > b->key.len) - (a->key.len < b->key.len);
}

/* Attributes are a map: equal when the same key/values are there in any
 * order. The common case (same order) is one pass; otherwise both sides
 * are sorted by key and each run of equal keys is matched pairwise. */
bool tws_attrs_equal(const tws_attrs *a, const tws_attrs *b) {
    if (a->n != b->n || a->dropped != b->dropped) return false;
    if (kvs_equal(a->items, b->items, a->n, 0)) return true;
    const tws_kv **x = tw__malloc(2 * (size_t)a->n * sizeof *x);
    if (!x) return false;
    const tws_kv **y = x + a->n;
    for (uint32_t i = 0; i < a->n; i++) {
        x[i] = &a->items[i];
        y[i] = &b->items[i];
    }
    qsort(x, a->n, sizeof *x, cmp_kv_key);
    qsort(y, a->n, sizeof *y, cmp_kv_key);
    bool eq = true;
    for (uint32_t i = 0; i < a->n && eq;) {
        uint32_t j = i;
        while (j < a->n && cmp_kv_key(&x[i], &x[j]) == 0) j++;
        /* x[i..j) share a key: y[i..j) must hold the same key and values */
        for (uint32_t k = i; k < j && eq; k++) eq = cmp_kv_key(&x[i], &y[k]) == 0;
        for (uint32_t k = i; k < j && eq; k++) {
            bool found = false;
            for (uint32_t m = i; m < j && !found; m++)
                if (y[m] && value_equal(&x[k]->val, &y[m]->val, 0)) {
                    found = true;
                    y[m] = NULL; /* used */
                }
            eq = found;
        }
        i = j;
    }
    tw__free(x);
    return eq;
}

bool tws_span_equal(const tws_span *a, const tws_span *b) {
    if (memcmp(a->trace_id, b->trace_id, 16) || memcmp(a->span_id, b->span_id, 8) ||
        memcmp(a->parent_span_id, b->parent_span_id, 8) || a->has_parent != b->has_parent || a->kind != b->kind ||
        a->status_code != b->status_code || a->flags != b->flags || !tws_str_equal(a->trace_state, b->trace_state) ||
        !tws_str_equal(a->name, b->name) || !tws_str_equal(a->status_message, b->status_message) ||
        a->start_ns != b->start_ns || a->end_ns != b->end_ns || !tws_attrs_equal(&a->attrs, &b->attrs) ||
        a->n_events != b->n_events || a->dropped_events != b->dropped_events || a->n_links != b->n_links ||
        a->dropped_links != b->dropped_links)
        return false;
    for (uint32_t i = 0; i < a->n_events; i++) {
        const tws_event *x = &a->events[i], *y = &b->events[i];
        if (x->time_ns != y->time_ns || !tws_str_equal(x->name, y->name) || !tws_attrs_equal(&x->attrs, &y->attrs))
            return false;
    }
    for (uint32_t i = 0; i < a->n_links; i++) {
        const tws_link *x = &a->links[i], *y = &b->links[i];
        if (memcmp(x->trace_id, y->trace_id, 16) || memcmp(x->span_id, y->span_id, 8) || x->flags != y->flags ||
            !tws_str_equal(x->trace_state, y->trace_state) || !tws_attrs_equal(&x->attrs, &y->attrs))
            return false;
    }
    return true;
}

bool tws_log_equal(const tws_log *a, const tws_log *b) {
    return a->time_ns == b->time_ns && a->observed_ns == b->observed_ns && a->has_trace_id == b->has_trace_id &&
           a->has_span_id == b->has_span_id && !memcmp(a->trace_id, b->trace_id, 16) &&
           !memcmp(a->span_id, b->span_id, 8) && a->severity == b->severity && a->flags == b->flags &&
           tws_str_equal(a->severity_text, b->severity_text) && tws_str_equal(a->event_name, b->event_name) &&
           value_equal(&a->body, &b->body, 0) && tws_attrs_equal(&a->attrs, &b->attrs);
}
