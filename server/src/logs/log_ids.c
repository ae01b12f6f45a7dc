/*
 * log_ids.c — trace and span ids found in a log record's attributes or
 * body (see log_ids.h).
 *
 * Cost: the attributes are walked once, comparing a key's length and first
 * letter before anything else; a string body is searched once for "race"
 * (glibc's memmem), which every trace id name contains, and only a line
 * that has it is looked at further: as JSON when it starts with '{' (its
 * top-level members walked with common/json.h's reader), else for logfmt
 * pairs at each occurrence. Nothing is allocated: the ids go into the
 * record.
 */
#include <string.h> /* memmem: the build defines _GNU_SOURCE */

#include "common/json.h"
#include "logs/log_ids.h"
#include "common/json.h"

enum { ID_NONE, ID_TRACE, ID_SPAN };

typedef struct found {
    tw_trace_id trace;
    tw_span_id span;
    bool has_trace, has_span;
} found;

/* "[tT]race" or "[sS]pan", then an optional '_', then "[iI][dD]". */
static int id_name(const char *s, size_t n) {
    int which;
    size_t w;
    if (n >= 7 && (s[0] | 0x20) == 't' && !memcmp(s + 1, "race", 4)) which = ID_TRACE, w = 5;
    else if (n >= 6 && (s[0] | 0x20) == 's' && !memcmp(s + 1, "pan", 3)) which = ID_SPAN, w = 4;
    else return ID_NONE;
    if (n == w + 3 && s[w] == '_') w++;
    return n == w + 2 && (s[w] | 0x20) == 'i' && (s[w + 1] | 0x20) == 'd' ? which : ID_NONE;
}

/* Take the hex id `v` as the `which` id of *f when it is the first
 * well-formed one (exact length, hex, not all zero). */
static void take(found *f, int which, const char *v, size_t n) {
    if (which == ID_TRACE && !f->has_trace)
        f->has_trace = tw_trace_id_from_hex(v, n, &f->trace) == 0 && tw_trace_id_is_valid(&f->trace);
    else if (which == ID_SPAN && !f->has_span)
        f->has_span = tw_span_id_from_hex(v, n, &f->span) == 0 && tw_span_id_is_valid(&f->span);
}

/* (a), and a kvlist body: string values under an id name. */
static void from_kvs(const tws_kv *kv, uint32_t n, found *f) {
    for (uint32_t i = 0; i < n; i++) {
        if (kv[i].val.type != TWS_STRING || kv[i].key.len < 6 || kv[i].key.len > 8) continue;
        int which = id_name(kv[i].key.ptr, kv[i].key.len);
        if (which) take(f, which, kv[i].val.u.s.ptr, kv[i].val.u.s.len);
    }
}

/* (b): true when `s` is a JSON object (*f then has what its top-level
 * members give); false when it is not JSON, *f untouched. */
static bool from_json(tw_str s, found *f) {
    const char *end = s.ptr + s.len;
    tw__json_iter o;
    tw_str key;
    found got = {0};
    int more;
    if (tw__json_iter_open(&o, s.ptr, end, '{')) return false;
    while ((more = tw__json_iter_next(&o, &key)) == 1) {
        const char *v = o.p, *ve = tw__json_skip(v, end);
        if (!ve) return false;
        o.p = ve;
        int which = key.len >= 8 && key.len <= 10 ? id_name(key.ptr + 1, key.len - 2) : ID_NONE;
        /* an escape in the value is no hex digit: such a value is refused */
        if (which && *v == '"') take(&got, which, v + 1, (size_t)(ve - v) - 2);
    }
    if (more || tw__json_ws(o.p, end) != end) return false;
    *f = got;
    return true;
}

static bool blank(char c) { return c == ' ' || c == '\t'; }

/*
 * (c): the first well-formed `name=<hex>` pair of `s` for the id `which`,
 * where `hit` points at the first occurrence of the name's letters after
 * its first ("race" / "pan"), or is NULL.
 */
static void from_logfmt(tw_str s, const char *hit, int which, found *f) {
    const char *end = s.ptr + s.len, *tail = which == ID_TRACE ? "race" : "pan";
    size_t tl = strlen(tail), hex = which == ID_TRACE ? 32 : 16;
    for (; hit; hit = memmem(hit + 1, (size_t)(end - hit - 1), tail, tl)) {
        const char *k = hit - 1, *p = hit + tl;
        if (k < s.ptr || (k > s.ptr && !blank(k[-1]))) continue;
        if (p < end && *p == '_') p++;
        if (end - p < 3 || id_name(k, (size_t)(p + 2 - k)) != which || p[2] != '=') continue;
        p += 3;
        bool quoted = p < end && *p == '"';
        p += quoted;
        if ((size_t)(end - p) < hex) continue;
        const char *after = p + hex;
        if (quoted ? after == end || *after != '"' : after != end && !blank(*after)) continue;
        take(f, which, p, hex);
        if (which == ID_TRACE ? f->has_trace : f->has_span) return;
    }
}

static void from_body(const tws_value *body, found *f) {
    if (body->type == TWS_KVLIST) {
        from_kvs(body->u.kv, body->n, f);
        return;
    }
    if (body->type != TWS_STRING || body->u.s.len < 8) return;
    tw_str s = body->u.s;
    const char *hit = memmem(s.ptr, s.len, "race", 4);
    if (!hit) return;
    const char *p = tw__json_ws(s.ptr, s.ptr + s.len);
    if (p < s.ptr + s.len && *p == '{' && from_json(s, f)) return;
    from_logfmt(s, hit, ID_TRACE, f);
    if (f->has_trace) from_logfmt(s, memmem(s.ptr, s.len, "pan", 3), ID_SPAN, f);
}

void tws_log_ids_from_content(tws_batch *b) {
    for (uint32_t i = 0; i < b->n_logs; i++) {
        tws_log *l = &b->logs[i];
        if (l->has_trace_id || l->reject) continue;
        found f = {0};
        from_kvs(l->attrs.items, l->attrs.n, &f);
        if (!f.has_trace) {
            f.has_span = false; /* the span id comes with the trace id */
            from_body(&l->body, &f);
        }
        if (!f.has_trace) continue;
        memcpy(l->trace_id, f.trace.bytes, 16);
        l->has_trace_id = true;
        if (f.has_span && !l->has_span_id) {
            memcpy(l->span_id, f.span.bytes, 8);
            l->has_span_id = true;
        }
    }
}
