/*
 * fuzz_srv_otlp_pb.c — the server's OTLP/protobuf trace codec
 * (otlp/decode_pb.c, otlp/encode_pb.c). Input: an ExportTraceServiceRequest
 * as is. The decoder options come from the input's length, so the corpus
 * stays plain protobuf: odd lengths borrow the input, lengths divisible by 3
 * cut string values at 8 bytes, by 5 limit AnyValue nesting to 3.
 *
 * Properties checked (abort() on violation):
 *  - the result is success or TW_EPARSE; a refusal has a message ending in
 *    "at byte N" with N inside the input, and leaves the batch empty;
 *  - an accepted batch keeps the model's invariants: indices in range,
 *    n_rejected counts the spans with a reject reason, valid spans have
 *    non-zero ids, every string is valid UTF-8, string values are within
 *    the limit, nesting within the depth;
 *  - decode -> encode (all valid spans) -> decode gives the valid spans with
 *    the same content in the same order, and encoding that is byte-identical
 *    (the encoding is a fixed point).
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/json.h"
#include "otlp/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond) {
    if (!cond) abort();
}

static bool str_eq(tw_str a, tw_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0); }

static void check_utf8(tw_str s) {
    bool valid;
    if (s.len) tw__utf8_repaired_len(s.ptr, s.len, &valid), check(valid);
}

static void check_value(const tws_value *v, const tws_decode_options *o, uint32_t depth);

static void check_kvs(const tws_kv *kv, uint32_t n, const tws_decode_options *o, uint32_t depth) {
    check(n == 0 || kv != NULL);
    for (uint32_t i = 0; i < n; i++) {
        check_utf8(kv[i].key);
        check_value(&kv[i].val, o, depth);
    }
}

static void check_value(const tws_value *v, const tws_decode_options *o, uint32_t depth) {
    switch (v->type) {
    case TWS_STRING:
        check_utf8(v->u.s);
        check(!o->max_value_len || v->u.s.len <= o->max_value_len);
        break;
    case TWS_ARRAY:
        check(depth < (o->max_depth ? o->max_depth : 32));
        check(v->n == 0 || v->u.arr != NULL);
        for (uint32_t i = 0; i < v->n; i++) check_value(&v->u.arr[i], o, depth + 1);
        break;
    case TWS_KVLIST:
        check(depth < (o->max_depth ? o->max_depth : 32));
        check_kvs(v->u.kv, v->n, o, depth + 1);
        break;
    case TWS_EMPTY:
    case TWS_BOOL:
    case TWS_INT:
    case TWS_DOUBLE:
    case TWS_BYTES: break;
    default: check(0);
    }
}

static bool nonzero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc != 0;
}

static void check_batch(const tws_batch *b, const tws_decode_options *o) {
    uint32_t rejected = 0;
    for (uint32_t i = 0; i < b->n_resources; i++) {
        check_kvs(b->resources[i].attrs.items, b->resources[i].attrs.n, o, 0);
        check_utf8(b->resources[i].schema_url);
    }
    for (uint32_t i = 0; i < b->n_scopes; i++) {
        const tws_scope *sc = &b->scopes[i];
        check(sc->resource_idx < b->n_resources);
        check_utf8(sc->name), check_utf8(sc->version), check_utf8(sc->schema_url);
        check_kvs(sc->attrs.items, sc->attrs.n, o, 0);
    }
    for (uint32_t i = 0; i < b->n_spans; i++) {
        const tws_span *s = &b->spans[i];
        check(s->scope_idx < b->n_scopes);
        check(s->kind <= 5 && s->status_code <= 2 && s->reject <= TWS_REJECT_PARENT_ID);
        if (s->reject) rejected++;
        else check(nonzero(s->trace_id, 16) && nonzero(s->span_id, 8));
        check(s->has_parent == nonzero(s->parent_span_id, 8));
        check_utf8(s->name), check_utf8(s->trace_state), check_utf8(s->status_message);
        check_kvs(s->attrs.items, s->attrs.n, o, 0);
        for (uint32_t k = 0; k < s->n_events; k++) {
            check_utf8(s->events[k].name);
            check_kvs(s->events[k].attrs.items, s->events[k].attrs.n, o, 0);
        }
        for (uint32_t k = 0; k < s->n_links; k++) {
            check_utf8(s->links[k].trace_state);
            check_kvs(s->links[k].attrs.items, s->links[k].attrs.n, o, 0);
        }
    }
    check(rejected == b->n_rejected);
}

static bool value_eq(const tws_value *a, const tws_value *b);

static bool kvs_eq(const tws_kv *a, uint32_t na, const tws_kv *b, uint32_t nb) {
    if (na != nb) return false;
    for (uint32_t i = 0; i < na; i++)
        if (!str_eq(a[i].key, b[i].key) || !value_eq(&a[i].val, &b[i].val)) return false;
    return true;
}

static bool attrs_eq(const tws_attrs *a, const tws_attrs *b) {
    return a->dropped == b->dropped && kvs_eq(a->items, a->n, b->items, b->n);
}

static bool value_eq(const tws_value *a, const tws_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case TWS_STRING:
    case TWS_BYTES: return str_eq(a->u.s, b->u.s);
    case TWS_BOOL: return a->u.b == b->u.b;
    case TWS_INT: return a->u.i == b->u.i;
    case TWS_DOUBLE: return memcmp(&a->u.d, &b->u.d, sizeof a->u.d) == 0;
    case TWS_ARRAY:
        if (a->n != b->n) return false;
        for (uint32_t i = 0; i < a->n; i++)
            if (!value_eq(&a->u.arr[i], &b->u.arr[i])) return false;
        return true;
    case TWS_KVLIST: return kvs_eq(a->u.kv, a->n, b->u.kv, b->n);
    default: return true;
    }
}

static bool span_eq(const tws_batch *ba, const tws_span *a, const tws_batch *bb, const tws_span *b) {
    if (memcmp(a->trace_id, b->trace_id, 16) || memcmp(a->span_id, b->span_id, 8) ||
        memcmp(a->parent_span_id, b->parent_span_id, 8) || a->has_parent != b->has_parent || a->kind != b->kind ||
        a->status_code != b->status_code || a->flags != b->flags || a->start_ns != b->start_ns ||
        a->end_ns != b->end_ns || !str_eq(a->name, b->name) || !str_eq(a->trace_state, b->trace_state) ||
        !str_eq(a->status_message, b->status_message) || !attrs_eq(&a->attrs, &b->attrs) ||
        a->n_events != b->n_events || a->dropped_events != b->dropped_events || a->n_links != b->n_links ||
        a->dropped_links != b->dropped_links)
        return false;
    for (uint32_t i = 0; i < a->n_events; i++) {
        const tws_event *x = &a->events[i], *y = &b->events[i];
        if (x->time_ns != y->time_ns || !str_eq(x->name, y->name) || !attrs_eq(&x->attrs, &y->attrs)) return false;
    }
    for (uint32_t i = 0; i < a->n_links; i++) {
        const tws_link *x = &a->links[i], *y = &b->links[i];
        if (memcmp(x->trace_id, y->trace_id, 16) || memcmp(x->span_id, y->span_id, 8) || x->flags != y->flags ||
            !str_eq(x->trace_state, y->trace_state) || !attrs_eq(&x->attrs, &y->attrs))
            return false;
    }
    const tws_scope *sa = &ba->scopes[a->scope_idx], *sb = &bb->scopes[b->scope_idx];
    if (!str_eq(sa->name, sb->name) || !str_eq(sa->version, sb->version) || !str_eq(sa->schema_url, sb->schema_url) ||
        !attrs_eq(&sa->attrs, &sb->attrs))
        return false;
    const tws_resource *ra = &ba->resources[sa->resource_idx], *rb = &bb->resources[sb->resource_idx];
    return str_eq(ra->schema_url, rb->schema_url) && attrs_eq(&ra->attrs, &rb->attrs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tws_decode_options o = {
        .borrow_input = size & 1,
        .max_value_len = size % 3 == 0 ? 8 : 0,
        .max_depth = size % 5 == 0 ? 3 : 0,
    };
    tws_batch a, b, c;
    tws_decode_error err;
    int rc = tws_otlp_decode_pb(data, size, &o, &a, &err);
    if (rc) {
        check(rc == TW_EPARSE);
        check(a.arena == NULL && a.n_spans == 0 && a.n_resources == 0 && a.n_scopes == 0);
        const char *at = strstr(err.msg, " at byte ");
        check(at != NULL);
        check(strtoull(at + 9, NULL, 10) <= size);
        return 0;
    }
    check_batch(&a, &o);

    tw__buf enc, enc2;
    tw__buf_init(&enc, 0);
    tw__buf_init(&enc2, 0);
    tws_selection sel = {&a, NULL, 0};
    check(tws_otlp_encode_pb(&sel, 1, 1, &enc) == 0);
    rc = tws_otlp_decode_pb(enc.data, enc.len, &o, &b, &err);
    if (rc) {
        fprintf(stderr, "re-decode failed: %s\n", err.msg);
        abort();
    }
    check_batch(&b, &o);
    check(b.n_spans == a.n_spans - a.n_rejected && b.n_rejected == 0);
    check(b.utf8_repairs == 0 && b.truncations == 0);
    for (uint32_t i = 0, j = 0; i < a.n_spans; i++) {
        if (a.spans[i].reject) continue;
        check(span_eq(&a, &a.spans[i], &b, &b.spans[j]));
        j++;
    }
    sel.batch = &b;
    check(tws_otlp_encode_pb(&sel, 1, 1, &enc2) == 0);
    check(enc.len == enc2.len && (enc.len == 0 || memcmp(enc.data, enc2.data, enc.len) == 0));
    /* And once more without borrowing, from the encoded bytes. */
    tws_decode_options copy = o;
    copy.borrow_input = !o.borrow_input;
    check(tws_otlp_decode_pb(enc2.data, enc2.len, &copy, &c, &err) == 0);
    check(c.n_spans == b.n_spans);
    tws_batch_free(&c);
    tws_batch_free(&b);
    tws_batch_free(&a);
    tw__buf_free(&enc);
    tw__buf_free(&enc2);
    return 0;
}
