/*
 * fuzz_srv_otlp_json.c — the OTLP/JSON decoder and encoder of the server.
 * Input: a JSON text. The options come from the input's length (so that
 * the seeds stay plain JSON): bit 0 borrow_input, bits 1-2 pick
 * max_value_len from {0, 1, 5, 64}.
 *
 * Properties checked (abort() on violation):
 *  - the result is TW_OK or TW_EPARSE; a refusal has a message and leaves
 *    the batch empty;
 *  - an accepted batch keeps model.h's invariants: indices in range, a span
 *    without `reject` has non-zero ids, n_rejected counts the rejected
 *    spans, every string is valid UTF-8 and attribute strings are within
 *    max_value_len;
 *  - encode -> decode, with hex and with base64 ids, gives back the valid
 *    spans in order, with the same ids and the same content (and that of
 *    their scope and resource), no rejection, repair or truncation.
 */
#include <math.h>
#include <stdlib.h>

#include "common/json.h"
#include "otlp/model.h"

static void check(int cond) {
    if (!cond) abort();
}

/* ---- invariants --------------------------------------------------------------------- */

static void check_utf8(tw_str s) {
    bool valid;
    check(s.ptr != NULL || s.len == 0);
    tw__utf8_repaired_len(s.ptr, s.len, &valid);
    check(valid);
}

static void check_kvs(const tws_kv *kv, uint32_t n, uint32_t limit);

static void check_value(const tws_value *v, uint32_t limit) {
    switch (v->type) {
    case TWS_STRING:
        check_utf8(v->u.s);
        check(!limit || v->u.s.len <= limit);
        break;
    case TWS_ARRAY:
        check(v->n == 0 || v->u.arr);
        for (uint32_t i = 0; i < v->n; i++) check_value(&v->u.arr[i], limit);
        break;
    case TWS_KVLIST:
        check(v->n == 0 || v->u.kv);
        check_kvs(v->u.kv, v->n, limit);
        break;
    case TWS_BYTES: check(v->u.s.ptr != NULL || v->u.s.len == 0); break;
    default: check(v->type <= TWS_BYTES); break;
    }
}

static void check_kvs(const tws_kv *kv, uint32_t n, uint32_t limit) {
    for (uint32_t i = 0; i < n; i++) {
        check_utf8(kv[i].key);
        check_value(&kv[i].val, limit);
    }
}

static bool zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

static uint32_t check_batch(const tws_batch *b, uint32_t limit) {
    uint32_t rejected = 0;
    for (uint32_t i = 0; i < b->n_resources; i++) {
        check_utf8(b->resources[i].schema_url);
        check_kvs(b->resources[i].attrs.items, b->resources[i].attrs.n, limit);
    }
    for (uint32_t i = 0; i < b->n_scopes; i++) {
        const tws_scope *sc = &b->scopes[i];
        check(sc->resource_idx < b->n_resources);
        check_utf8(sc->name), check_utf8(sc->version), check_utf8(sc->schema_url);
        check_kvs(sc->attrs.items, sc->attrs.n, limit);
    }
    for (uint32_t i = 0; i < b->n_spans; i++) {
        const tws_span *s = &b->spans[i];
        check(s->scope_idx < b->n_scopes);
        check(s->kind <= 5 && s->status_code <= 2);
        if (s->reject) {
            rejected++;
            check(s->reject <= TWS_REJECT_PARENT_ID);
        } else {
            check(!zero(s->trace_id, 16) && !zero(s->span_id, 8));
        }
        check(s->has_parent ? !zero(s->parent_span_id, 8) : zero(s->parent_span_id, 8));
        check_utf8(s->name), check_utf8(s->trace_state), check_utf8(s->status_message);
        check_kvs(s->attrs.items, s->attrs.n, limit);
        for (uint32_t k = 0; k < s->n_events; k++) {
            check_utf8(s->events[k].name);
            check_kvs(s->events[k].attrs.items, s->events[k].attrs.n, limit);
        }
        for (uint32_t k = 0; k < s->n_links; k++) {
            check_utf8(s->links[k].trace_state);
            check_kvs(s->links[k].attrs.items, s->links[k].attrs.n, limit);
        }
    }
    check(rejected == b->n_rejected);
    return b->n_spans - rejected;
}

/* ---- equality ------------------------------------------------------------------------ */


/* ---- round trip ----------------------------------------------------------------------- */

static void round_trip(const tws_batch *a, uint32_t valid, tws_id_encoding ids, const tws_decode_options *o) {
    tw__buf out;
    tw__buf_init(&out, 0);
    tw__json j;
    tw__json_init(&j, &out);
    tw__json_begin_object(&j);
    tw__json_key_plain(&j, "resourceSpans", 13);
    tws_selection sel = {a, NULL, 0};
    check(tws_otlp_encode_json(&sel, 1, ids, &j) == 0);
    tw__json_end_object(&j);
    check(out.failed == 0);

    tws_batch b;
    tws_decode_error e;
    tws_decode_options ob = *o;
    ob.borrow_input = false; /* `out` goes away first */
    int rc = tws_otlp_decode_json((const char *)out.data, out.len, &ob, &b, &e);
    check(rc == TW_OK);
    check(b.n_spans == valid && b.n_rejected == 0 && b.utf8_repairs == 0 && b.truncations == 0);
    uint32_t k = 0;
    for (uint32_t i = 0; i < a->n_spans; i++) {
        const tws_span *x = &a->spans[i];
        if (x->reject) continue;
        const tws_span *y = &b.spans[k++];
        check(!memcmp(x->trace_id, y->trace_id, 16) && !memcmp(x->span_id, y->span_id, 8));
        check(tws_span_equal(x, y));
        const tws_scope *xs = &a->scopes[x->scope_idx], *ys = &b.scopes[y->scope_idx];
        check(tws_str_equal(xs->name, ys->name) && tws_str_equal(xs->version, ys->version) &&
              tws_str_equal(xs->schema_url, ys->schema_url) && tws_attrs_equal(&xs->attrs, &ys->attrs));
        const tws_resource *xr = &a->resources[xs->resource_idx], *yr = &b.resources[ys->resource_idx];
        check(tws_str_equal(xr->schema_url, yr->schema_url) && tws_attrs_equal(&xr->attrs, &yr->attrs));
    }
    tws_batch_free(&b);
    tw__buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint32_t limits[4] = {0, 1, 5, 64};
    tws_decode_options o = {.max_value_len = limits[(size >> 1) & 3], .borrow_input = size & 1};
    tws_batch b;
    tws_decode_error e;
    int rc = tws_otlp_decode_json((const char *)data, size, &o, &b, &e);
    if (rc != TW_OK) {
        check(rc == TW_EPARSE && e.msg[0] != '\0');
        check(b.n_spans == 0 && b.n_scopes == 0 && b.n_resources == 0 && b.arena == NULL);
        return 0;
    }
    uint32_t valid = check_batch(&b, o.max_value_len);
    check(b.n_rejected == 0 || e.msg[0] != '\0');
    round_trip(&b, valid, TWS_IDS_HEX, &o);
    round_trip(&b, valid, TWS_IDS_BASE64, &o);
    tws_batch_free(&b);
    return 0;
}
