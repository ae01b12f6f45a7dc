/*
 * fuzz_loki_common.h — what the Loki push fuzz targets (fuzz_srv_loki_*.c)
 * check and how they write a batch back: the invariants of a decoded push,
 * a batch as Loki's push JSON and push protobuf (with its labels as a
 * Prometheus label string), and equality of two decoded pushes.
 */
#ifndef FUZZ_LOKI_COMMON_H
#define FUZZ_LOKI_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "common/json.h"
#include "common/pb.h"
#include "logs/log_ids.h"
#include "logs/loki_push.h"

#define UNUSED __attribute__((unused))

static void check(int cond) {
    if (!cond) abort();
}

static bool str_eq(tw_str a, tw_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0); }

static void check_utf8(tw_str s) {
    bool valid;
    if (s.len) tw__utf8_repaired_len(s.ptr, s.len, &valid), check(valid);
}

/* A label set as decoded: sorted, unique, valid names, non-empty values. */
static void check_labels(const tws_attrs *a) {
    check(a->n > 0 && a->items != NULL && a->dropped == 0);
    for (uint32_t i = 0; i < a->n; i++) {
        tw_str k = a->items[i].key;
        check(k.len > 0 && (k.ptr[0] < '0' || k.ptr[0] > '9'));
        for (size_t j = 0; j < k.len; j++) {
            char c = k.ptr[j];
            check((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
        }
        check(a->items[i].val.type == TWS_STRING && a->items[i].val.u.s.len > 0);
        check_utf8(a->items[i].val.u.s);
        if (i) {
            tw_str p = a->items[i - 1].key;
            int c = memcmp(p.ptr, k.ptr, TW_MIN(p.len, k.len));
            check(c < 0 || (c == 0 && p.len < k.len));
        }
    }
}

static UNUSED void check_push(const tws_batch *b, const tws_decode_options *o) {
    check(b->n_spans == 0 && b->n_rejected == 0 && b->n_scopes == b->n_resources);
    for (uint32_t i = 0; i < b->n_resources; i++) {
        check_labels(&b->resources[i].attrs);
        check(b->scopes[i].resource_idx == i && b->scopes[i].attrs.n == 0 && b->scopes[i].name.len == 0);
    }
    for (uint32_t i = 0; i < b->n_logs; i++) {
        const tws_log *l = &b->logs[i];
        check(l->scope_idx < b->n_scopes && (!i || l->scope_idx >= b->logs[i - 1].scope_idx));
        check(l->time_ns <= (uint64_t)INT64_MAX && l->observed_ns == 0 && !l->has_trace_id && !l->has_span_id);
        check(l->body.type == TWS_STRING);
        check_utf8(l->body.u.s);
        check(!o->max_value_len || l->body.u.s.len <= o->max_value_len);
        check(l->attrs.n == 0 || l->attrs.items != NULL);
        for (uint32_t k = 0; k < l->attrs.n; k++) {
            check(l->attrs.items[k].val.type == TWS_STRING);
            check_utf8(l->attrs.items[k].key);
            check_utf8(l->attrs.items[k].val.u.s);
            check(!o->max_value_len || l->attrs.items[k].val.u.s.len <= o->max_value_len);
        }
    }
}

/* The number ending message `msg` after `what` (" at byte "), or -1 when
 * it does not end so (an excerpt of the input in it may say anything). */
static UNUSED long long trailing_offset(const char *msg, const char *what) {
    const char *at = NULL;
    for (const char *p = msg; (p = strstr(p, what)); p++) at = p;
    if (!at) return -1;
    char *e;
    unsigned long long v = strtoull(at + strlen(what), &e, 10);
    return *e == '\0' && e != at + strlen(what) ? (long long)v : -1;
}

/* A refusal: an error code the decoders return, an empty batch, a message,
 * and a byte offset at its end inside the input. */
static UNUSED void check_refusal(int rc, const tws_batch *b, const tws_decode_error *err, size_t size) {
    check(rc == TW_EPARSE);
    check(b->arena == NULL && b->n_logs == 0 && b->n_resources == 0 && err->msg[0] != '\0');
    check(trailing_offset(err->msg, " at byte ") <= (long long)size);
}

/* After the ids are looked for: only well-formed ids were set. */
static UNUSED void check_ids(tws_batch *b) {
    tws_log_ids_from_content(b);
    static const uint8_t zero[16];
    for (uint32_t i = 0; i < b->n_logs; i++) {
        const tws_log *l = &b->logs[i];
        check(l->has_trace_id ? memcmp(l->trace_id, zero, 16) != 0 : memcmp(l->trace_id, zero, 16) == 0);
        check(l->has_span_id ? l->has_trace_id && memcmp(l->span_id, zero, 8) != 0 : memcmp(l->span_id, zero, 8) == 0);
    }
}

/* `{a="b", c="d"}`, with the escapes the parser needs. */
static UNUSED void write_labels(const tws_attrs *a, tw__buf *out) {
    tw__buf_putc(out, '{');
    for (uint32_t i = 0; i < a->n; i++) {
        if (i) tw__buf_append(out, ", ", 2);
        tw__buf_append(out, a->items[i].key.ptr, a->items[i].key.len);
        tw__buf_append(out, "=\"", 2);
        tw_str v = a->items[i].val.u.s;
        for (size_t j = 0; j < v.len; j++) {
            char c = v.ptr[j];
            if (c == '"' || c == '\\') tw__buf_putc(out, '\\');
            if (c == '\n') tw__buf_append(out, "\\n", 2);
            else tw__buf_putc(out, (uint8_t)c);
        }
        tw__buf_putc(out, '"');
    }
    tw__buf_putc(out, '}');
}

static UNUSED void write_json(const tws_batch *b, tw__buf *out) {
    tw__json j;
    tw__json_init(&j, out);
    tw__json_begin_object(&j);
    tw__json_key(&j, "streams", TW_NTS);
    tw__json_begin_array(&j);
    for (uint32_t r = 0; r < b->n_resources; r++) {
        const tws_attrs *a = &b->resources[r].attrs;
        tw__json_begin_object(&j);
        tw__json_key(&j, "stream", TW_NTS);
        tw__json_begin_object(&j);
        for (uint32_t i = 0; i < a->n; i++) {
            tw__json_key(&j, a->items[i].key.ptr, a->items[i].key.len);
            tw__json_string(&j, a->items[i].val.u.s.ptr, a->items[i].val.u.s.len);
        }
        tw__json_end_object(&j);
        tw__json_key(&j, "values", TW_NTS);
        tw__json_begin_array(&j);
        for (uint32_t i = 0; i < b->n_logs; i++) {
            const tws_log *l = &b->logs[i];
            if (l->scope_idx != r) continue;
            tw__json_begin_array(&j);
            tw__json_uint64_string(&j, l->time_ns);
            tw__json_string(&j, l->body.u.s.ptr, l->body.u.s.len);
            if (l->attrs.n) {
                tw__json_begin_object(&j);
                for (uint32_t k = 0; k < l->attrs.n; k++) {
                    tw__json_key(&j, l->attrs.items[k].key.ptr, l->attrs.items[k].key.len);
                    tw__json_string(&j, l->attrs.items[k].val.u.s.ptr, l->attrs.items[k].val.u.s.len);
                }
                tw__json_end_object(&j);
            }
            tw__json_end_array(&j);
        }
        tw__json_end_array(&j);
        tw__json_end_object(&j);
    }
    tw__json_end_array(&j);
    tw__json_end_object(&j);
}

static UNUSED void write_pb(const tws_batch *b, tw__buf *out) {
    tw__buf labels;
    tw__buf_init(&labels, 0);
    for (uint32_t r = 0; r < b->n_resources; r++) {
        tw__pb_mark st = tw__pb_begin(out, 1, 3);
        tw__buf_reset(&labels);
        write_labels(&b->resources[r].attrs, &labels);
        tw__pb_bytes(out, 1, labels.data, labels.len);
        for (uint32_t i = 0; i < b->n_logs; i++) {
            const tws_log *l = &b->logs[i];
            if (l->scope_idx != r) continue;
            tw__pb_mark en = tw__pb_begin(out, 2, 2), ts = tw__pb_begin(out, 1, 1);
            tw__pb_uint64(out, 1, l->time_ns / 1000000000u);
            tw__pb_uint64(out, 2, l->time_ns % 1000000000u);
            tw__pb_end(out, ts);
            tw__pb_bytes(out, 2, l->body.u.s.ptr, l->body.u.s.len);
            for (uint32_t k = 0; k < l->attrs.n; k++) {
                tw__pb_mark lp = tw__pb_begin(out, 3, 1);
                tw__pb_bytes(out, 1, l->attrs.items[k].key.ptr, l->attrs.items[k].key.len);
                tw__pb_bytes(out, 2, l->attrs.items[k].val.u.s.ptr, l->attrs.items[k].val.u.s.len);
                tw__pb_end(out, lp);
            }
            tw__pb_end(out, en);
        }
        tw__pb_end(out, st);
    }
    tw__buf_free(&labels);
}

static bool kvs_same(const tws_attrs *a, const tws_attrs *b) {
    if (a->n != b->n) return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (!str_eq(a->items[i].key, b->items[i].key) || !str_eq(a->items[i].val.u.s, b->items[i].val.u.s))
            return false;
    return true;
}

/* The same streams and entries, in the same order. */
static UNUSED bool push_same(const tws_batch *a, const tws_batch *b) {
    if (a->n_resources != b->n_resources || a->n_logs != b->n_logs) return false;
    for (uint32_t i = 0; i < a->n_resources; i++)
        if (!kvs_same(&a->resources[i].attrs, &b->resources[i].attrs)) return false;
    for (uint32_t i = 0; i < a->n_logs; i++) {
        const tws_log *x = &a->logs[i], *y = &b->logs[i];
        if (x->scope_idx != y->scope_idx || x->time_ns != y->time_ns || !str_eq(x->body.u.s, y->body.u.s) ||
            !kvs_same(&x->attrs, &y->attrs))
            return false;
    }
    return true;
}

/* Decode what `write` made of `a` with `decode`, and compare. */
typedef int (*push_decoder)(const uint8_t *, size_t, const tws_decode_options *, tws_batch *, tws_decode_error *);

static UNUSED void check_round_trip(const tws_batch *a, void (*write)(const tws_batch *, tw__buf *),
                                    push_decoder decode, const tws_decode_options *o) {
    tw__buf enc;
    tw__buf_init(&enc, 0);
    write(a, &enc);
    check(enc.failed == 0);
    tws_batch b;
    tws_decode_error err;
    if (decode(enc.data, enc.len, o, &b, &err)) {
        fprintf(stderr, "re-decode failed: %s\n", err.msg);
        abort();
    }
    check_push(&b, o);
    check(b.utf8_repairs == 0 && b.truncations == 0);
    check(push_same(a, &b));
    tws_batch_free(&b);
    tw__buf_free(&enc);
}

/* tws_loki_decode_json with the protobuf decoder's signature. */
static UNUSED int decode_json_bytes(const uint8_t *p, size_t n, const tws_decode_options *o, tws_batch *b,
                                    tws_decode_error *err) {
    return tws_loki_decode_json((const char *)p, n, o, b, err);
}

#endif
