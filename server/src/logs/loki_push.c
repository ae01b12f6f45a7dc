/*
 * loki_push.c — Loki's push bodies into a logs batch (see loki_push.h).
 *
 * One shape for both encodings: a stream becomes a resource whose labels
 * go through the same checks (finish_labels: sorted, names unique, empty
 * values dropped, at least one left), an entry a tws_log whose strings go
 * through keep_text (UTF-8 repair, value limit).
 *
 * JSON is walked with common/json.h's reader: tw__json_iter_* step
 * through a container's items and tw__json_skip() measures the values, so
 * no tokenizer of our own; the nesting is fixed (request, streams, stream,
 * values, entry, metadata), so there is no recursion either. Records grow in
 * tw__buf vectors, copied into the arena once at the end.
 *
 * Protobuf is read twice with common/pb.h's reader: once down to the
 * entries to size the arrays exactly, then to decode.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <snappy-c.h>

#include "common/json.h"
#include "common/pb.h"
#include "logs/loki_push.h"

#define NO_IDX (-1L)
#define NS_PER_S 1000000000ull
static const char no_labels[] = "at least one label pair is required per stream";

/* ---- shared: strings and label sets --------------------------------------------- */

/*
 * s[0..n) as a batch string: valid UTF-8 (repaired into the arena, counted),
 * cut to `limit` bytes (0: none) on a character boundary (counted). When s
 * does not outlive the batch (`stable` false) what is kept is copied into
 * the arena. 0 or TW_ENOMEM.
 */
static int keep_text(tws_batch *b, const char *s, size_t n, uint32_t limit, bool stable, tw_str *out) {
    bool valid = true;
    if (!tw__is_ascii(s, n)) {
        size_t rn = tw__utf8_repaired_len(s, n, &valid);
        if (!valid) {
            char *r = tws_batch_alloc(b, rn);
            if (!r) return TW_ENOMEM;
            tw__utf8_repair((uint8_t *)r, s, n);
            s = r, n = rn, stable = true;
            b->utf8_repairs++;
        }
    }
    if (limit && n > limit) {
        size_t k = limit; /* s[k] is the first byte left out */
        while (k > 0 && ((uint8_t)s[k] & 0xC0) == 0x80) k--;
        n = k;
        b->truncations++;
    }
    if (!stable && n) {
        char *c = tws_batch_alloc(b, n);
        if (!c) return TW_ENOMEM;
        s = memcpy(c, s, n);
    }
    *out = (tw_str){n ? s : "", n};
    return 0;
}

static bool name_start(unsigned char c) { return (unsigned)((c | 0x20) - 'a') < 26u || c == '_'; }
static bool name_char(unsigned char c) { return name_start(c) || (unsigned)(c - '0') < 10u; }

static bool valid_label_name(tw_str s) {
    if (s.len == 0 || !name_start((unsigned char)s.ptr[0])) return false;
    for (size_t i = 1; i < s.len; i++)
        if (!name_char((unsigned char)s.ptr[i])) return false;
    return true;
}

static int kv_key_cmp(const void *a, const void *b) {
    tw_str x = ((const tws_kv *)a)->key, y = ((const tws_kv *)b)->key;
    int c = memcmp(x.ptr, y.ptr, TW_MIN(x.len, y.len));
    return c ? c : (x.len > y.len) - (x.len < y.len);
}

/*
 * A stream's labels kv[0..n) (valid names, string values), in place: sorted
 * by name, a name given twice refused, empty values dropped, at least one
 * left. *kept: how many. 0 or TW_EPARSE with msg.
 */
static int finish_labels(tws_kv *kv, uint32_t n, uint32_t *kept, char *msg, size_t cap) {
    if (n > 1) qsort(kv, n, sizeof *kv, kv_key_cmp);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i && kv_key_cmp(&kv[i - 1], &kv[i]) == 0) {
            snprintf(msg, cap, "duplicate label name \"%.*s\"", (int)TW_MIN(kv[i].key.len, 64), kv[i].key.ptr);
            return TW_EPARSE;
        }
        if (kv[i].val.u.s.len) kv[k++] = kv[i];
    }
    if (k == 0) {
        snprintf(msg, cap, "%s", no_labels);
        return TW_EPARSE;
    }
    *kept = k;
    return 0;
}

/* Up to 40 bytes of `s` for a message, anything but printable ASCII as '?'. */
static const char *excerpt(tw_str s, char out[48]) {
    size_t k = TW_MIN(s.len, 40);
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        out[i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
    }
    if (k < s.len) memcpy(out + k, "...", 3), k += 3;
    out[k] = '\0';
    return out;
}

/* A new item of `sz` zeroed bytes at the end of vector `v` (a tw__buf), or
 * NULL. Earlier items may move. */
static void *vec_push(tw__buf *v, size_t sz) {
    if (tw__buf_reserve(v, sz)) return NULL;
    void *p = v->data + v->len;
    memset(p, 0, sz);
    v->len += sz;
    return p;
}

/* A vector's `n` items of `sz` bytes copied into the arena (NULL for none). */
static int vec_take(tws_batch *b, const tw__buf *v, size_t sz, void **out, uint32_t *n) {
    *out = NULL;
    *n = (uint32_t)(v->len / sz);
    if (!v->len) return 0;
    if (!(*out = tws_batch_alloc(b, v->len))) return TW_ENOMEM;
    memcpy(*out, v->data, v->len);
    return 0;
}

/* One scope per resource, scope i in resource i. */
static int scopes_for_resources(tws_batch *b) {
    if (!b->n_resources) return 0;
    b->scopes = tws_batch_alloc(b, (size_t)b->n_resources * sizeof *b->scopes);
    if (!b->scopes) return TW_ENOMEM;
    memset(b->scopes, 0, (size_t)b->n_resources * sizeof *b->scopes);
    /* a stream's labels are its labels as pushed (logs/labels.h) */
    for (uint32_t i = 0; i < b->n_resources; i++) {
        b->scopes[i].resource_idx = i;
        b->resources[i].labels_verbatim = true;
    }
    b->n_scopes = b->n_resources;
    return 0;
}

/* ---- the label-set parser --------------------------------------------------------- */

typedef struct lparse {
    const char *s;
    size_t n;
    tws_batch *b;
    char *msg;
    size_t cap;
} lparse;

__attribute__((format(printf, 3, 4))) static int lfail(lparse *L, size_t at, const char *fmt, ...) {
    char what[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(L->msg, L->cap, "%s at offset %zu", what, at);
    return TW_EPARSE;
}

static size_t lws(const lparse *L, size_t i) {
    while (i < L->n && (L->s[i] == ' ' || L->s[i] == '\t' || L->s[i] == '\n' || L->s[i] == '\r')) i++;
    return i;
}

static uint8_t *put_utf8(uint8_t *o, uint32_t cp) {
    if (cp < 0x80) {
        *o++ = (uint8_t)cp;
    } else if (cp < 0x800) {
        *o++ = (uint8_t)(0xC0 | cp >> 6);
        *o++ = (uint8_t)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (uint8_t)(0xE0 | cp >> 12);
        *o++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (uint8_t)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (uint8_t)(0xF0 | cp >> 18);
        *o++ = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (uint8_t)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* `k` digits of base 8 or 16 at s[i..]: the value, or -1. */
static long digits(const lparse *L, size_t i, int k, int base) {
    long v = 0;
    if (L->n - i < (size_t)k) return -1;
    for (int j = 0; j < k; j++) {
        int d = base == 16 ? tw__hexval((unsigned char)L->s[i + j]) : L->s[i + j] - '0';
        if (d < 0 || d >= base) return -1;
        v = v * base + d;
    }
    return v;
}

/* The escape at s[i] ('\\') in a string quoted with `q`, decoded to `o`;
 * *i past it. NULL when it is not one of Go's. */
static uint8_t *unescape_one(const lparse *L, size_t *i, char q, uint8_t *o) {
    static const char from[] = "abfnrtv\\", to[] = "\a\b\f\n\r\t\v\\";
    char c = *i + 1 < L->n ? L->s[*i + 1] : '\0';
    const char *e = c ? strchr(from, c) : NULL;
    long v;
    if (e || c == q) {
        *o++ = e ? (uint8_t)to[e - from] : (uint8_t)q;
        *i += 2;
    } else if (c == 'x' && (v = digits(L, *i + 2, 2, 16)) >= 0) {
        *o++ = (uint8_t)v;
        *i += 4;
    } else if (c >= '0' && c <= '7' && (v = digits(L, *i + 1, 3, 8)) >= 0 && v <= 255) {
        *o++ = (uint8_t)v;
        *i += 4;
    } else if ((c == 'u' || c == 'U') && (v = digits(L, *i + 2, c == 'u' ? 4 : 8, 16)) >= 0 && v <= 0x10FFFF &&
               (v < 0xD800 || v > 0xDFFF)) {
        o = put_utf8(o, (uint32_t)v);
        *i += c == 'u' ? 6 : 10;
    } else {
        return NULL;
    }
    return o;
}

/* The quoted value at s[*i] into *out; *i past its closing quote. */
static int label_value(lparse *L, size_t *i, tw_str *out) {
    size_t open = *i, j = open + 1;
    char q = L->s[open];
    bool esc = false;
    for (; j < L->n && L->s[j] != q; j++) {
        if (q == '`') continue;
        if (L->s[j] == '\n') return lfail(L, j, "newline in a quoted value");
        if (L->s[j] == '\\') esc = true, j++;
    }
    if (j >= L->n) return lfail(L, open, "unterminated quoted value");
    *i = j + 1;
    const char *text = L->s + open + 1;
    size_t len = j - open - 1;
    if (esc) { /* decoded text is never longer than its escapes */
        uint8_t *d = tws_batch_alloc(L->b, len), *o = d;
        if (!d) return TW_ENOMEM;
        for (size_t k = open + 1; k < j;) {
            if (L->s[k] != '\\') {
                *o++ = (uint8_t)L->s[k++];
            } else if (!(o = unescape_one(L, &k, q, o))) {
                return lfail(L, k, "invalid escape");
            }
        }
        text = (const char *)d, len = (size_t)(o - d);
    }
    return keep_text(L->b, text, len, 0, true, out);
}

int tws_loki_parse_labels(const char *s, size_t n, tws_batch *b, tws_attrs *out, char *msg, size_t msg_cap) {
    lparse L = {s, n, b, msg, msg_cap};
    memset(out, 0, sizeof *out);
    size_t i = lws(&L, 0);
    if (i == n) {
        snprintf(msg, msg_cap, "%s", no_labels);
        return TW_EPARSE;
    }
    if (s[i] != '{') return lfail(&L, i, "expected '{'");
    size_t most = 1; /* pairs: at most one per '=' */
    for (const char *p = s; (p = memchr(p, '=', (size_t)(s + n - p))); p++) most++;
    tws_kv *kv = tws_batch_alloc(b, most * sizeof *kv);
    if (!kv) return TW_ENOMEM;
    uint32_t k = 0;
    i = lws(&L, i + 1);
    if (i < n && s[i] == '}') {
        i++;
    } else {
        for (;;) {
            if (i >= n || !name_start((unsigned char)s[i])) return lfail(&L, i, "expected a label name");
            size_t name = i;
            while (i < n && name_char((unsigned char)s[i])) i++;
            tws_kv *p = &kv[k++];
            memset(p, 0, sizeof *p);
            p->key = (tw_str){s + name, i - name};
            p->val.type = TWS_STRING;
            i = lws(&L, i);
            if (i >= n || s[i] != '=') return lfail(&L, i, "expected '=' after label name");
            i = lws(&L, i + 1);
            if (i >= n || (s[i] != '"' && s[i] != '\'' && s[i] != '`'))
                return lfail(&L, i, "expected a quoted label value");
            int rc = label_value(&L, &i, &p->val.u.s);
            if (rc) return rc;
            i = lws(&L, i);
            if (i < n && s[i] == '}') {
                i++;
                break;
            }
            if (i >= n || s[i] != ',') return lfail(&L, i, "expected ',' or '}'");
            i = lws(&L, i + 1);
        }
    }
    i = lws(&L, i);
    if (i < n) return lfail(&L, i, "unexpected text after '}'");
    uint32_t kept = 0;
    int rc = finish_labels(kv, k, &kept, msg, msg_cap);
    if (rc) return rc;
    out->items = kv;
    out->n = kept;
    return 0;
}

/* ---- JSON: the decoder ---------------------------------------------------------------- */

typedef struct jdec {
    const char *base; /* the text decoded: the input or its copy */
    tws_batch *b;
    uint32_t limit;
    tws_decode_error *err;
    /* where: "streams[si].member[vi][ei]", parts absent when NO_IDX / NULL */
    bool in_streams;
    long si, vi, ei;
    const char *member;
    tw__buf tmp;            /* unescaped text */
    tw__buf res, logs, kvs; /* vectors of tws_resource, tws_log, tws_kv */
} jdec;

__attribute__((format(printf, 2, 3))) static int jfail(jdec *d, const char *fmt, ...) {
    if (!d->err) return TW_EPARSE;
    char *m = d->err->msg;
    size_t cap = sizeof d->err->msg, n;
    if (!d->in_streams) {
        n = (size_t)snprintf(m, cap, "top level");
    } else {
        n = (size_t)snprintf(m, cap, "streams");
        if (d->si != NO_IDX) n += (size_t)snprintf(m + n, cap - n, "[%ld]", d->si);
        if (d->member) n += (size_t)snprintf(m + n, cap - n, ".%s", d->member);
        if (d->vi != NO_IDX) n += (size_t)snprintf(m + n, cap - n, "[%ld]", d->vi);
        if (d->ei != NO_IDX) n += (size_t)snprintf(m + n, cap - n, "[%ld]", d->ei);
    }
    n += (size_t)snprintf(m + n, cap - n, ": ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m + n, cap - n, fmt, ap);
    va_end(ap);
    return TW_EPARSE;
}

static int jsyntax(jdec *d, const char *at) { return jfail(d, "invalid JSON at byte %zu", (size_t)(at - d->base)); }

static int jnomem(jdec *d) {
    if (d->err) snprintf(d->err->msg, sizeof d->err->msg, "out of memory");
    return TW_ENOMEM;
}

static int jrc(jdec *d, int rc) { return rc == TW_ENOMEM ? jnomem(d) : rc; }

/* Past the value at it->p, whatever it is. */
static int jskip(jdec *d, tw__json_iter *it) {
    const char *e = tw__json_skip(it->p, it->end);
    if (!e) return jsyntax(d, it->p);
    it->p = e;
    return 0;
}

/* The value at it->p is not what is wanted: a syntax error if it is not
 * JSON at all, else `what`. */
static int jwrong(jdec *d, tw__json_iter *it, const char *what) {
    int rc = jskip(d, it);
    return rc ? rc : jfail(d, "%s", what);
}

/* null at it->p: skipped, true. */
static bool jnull(tw__json_iter *it) {
    if (it->end - it->p >= 4 && !memcmp(it->p, "null", 4)) {
        it->p += 4;
        return true;
    }
    return false;
}

/* The container at it->p, opened into `c`; else `what`. */
static int jopen(jdec *d, tw__json_iter *it, char open, tw__json_iter *c, const char *what) {
    if (tw__json_iter_open(c, it->p, it->end, open)) return jwrong(d, it, what);
    return 0;
}

/* The string at it->p: its text with escapes decoded (into d->tmp, else
 * pointing into the input) and whether it lives in d->tmp. */
static int jstring(jdec *d, tw__json_iter *it, const char *what, tw_str *text, bool *in_tmp) {
    if (*it->p != '"') return jwrong(d, it, what);
    const char *s = it->p;
    int rc = jskip(d, it);
    if (rc) return rc;
    size_t n = (size_t)(it->p - s);
    *in_tmp = memchr(s, '\\', n) != NULL;
    if (!*in_tmp) {
        *text = (tw_str){s + 1, n - 2};
        return 0;
    }
    tw__buf_reset(&d->tmp);
    if (tw__json_unquote((tw_str){s, n}, &d->tmp)) return jnomem(d);
    *text = (tw_str){(const char *)d->tmp.data, d->tmp.len};
    return 0;
}

/* A string kept in the batch (see keep_text). */
static int jtext(jdec *d, tw__json_iter *it, const char *what, uint32_t limit, tw_str *out) {
    tw_str t;
    bool tmp;
    int rc = jstring(d, it, what, &t, &tmp);
    return rc ? rc : jrc(d, keep_text(d->b, t.ptr, t.len, limit, !tmp, out));
}

/* Is the member name literal `key` (quotes included) `name`? Escapes
 * are decoded into d->tmp, which has room for KEY_ROOM bytes from the
 * start (a longer literal cannot spell a short name), so this never fails. */
#define KEY_ROOM 64
static bool jkey_is(jdec *d, tw_str key, const char *name) {
    size_t n = strlen(name);
    if (!memchr(key.ptr, '\\', key.len)) return key.len == n + 2 && !memcmp(key.ptr + 1, name, n);
    if (key.len > KEY_ROOM) return false;
    tw__buf_reset(&d->tmp);
    return tw__json_unquote(key, &d->tmp) == 0 && d->tmp.len == n && !memcmp(d->tmp.data, name, n);
}

/* A member name as text in the batch (decoded, repaired, never cut). */
static int jkey_text(jdec *d, tw_str key, tw_str *out) {
    tw__json_iter k = {key.ptr, key.ptr + key.len, false, true};
    return jtext(d, &k, "", 0, out);
}

/* The next item of `c`: 1, 0 at its end, or a syntax error. */
static int jnext(jdec *d, tw__json_iter *c, tw_str *key) {
    int r = tw__json_iter_next(c, key);
    return r >= 0 ? r : jsyntax(d, c->p);
}

/*
 * The object at it->p as string pairs pushed on d->kvs: label values never
 * cut, metadata values cut to the limit. `labels` also checks names.
 */
static int jpairs(jdec *d, tw__json_iter *it, bool labels) {
    tw__json_iter o;
    tw_str key;
    int rc = jopen(d, it, '{', &o, labels ? "expected an object of labels" : "expected an object of structured metadata"),
        more;
    if (rc) return rc;
    while ((more = jnext(d, &o, &key)) == 1) {
        tws_kv kv = {.val.type = TWS_STRING}, *p;
        char ex[48], what[96];
        if ((rc = jkey_text(d, key, &kv.key))) return rc;
        if (labels && !valid_label_name(kv.key)) return jfail(d, "invalid label name \"%s\"", excerpt(kv.key, ex));
        if (*o.p != '"') {
            snprintf(what, sizeof what, "%s \"%s\" is not a string", labels ? "label" : "structured metadata",
                     excerpt(kv.key, ex));
            return jwrong(d, &o, what);
        }
        if ((rc = jtext(d, &o, "", labels ? 0 : d->limit, &kv.val.u.s))) return rc;
        if (!(p = vec_push(&d->kvs, sizeof kv))) return jnomem(d);
        *p = kv;
    }
    it->p = o.p;
    return more;
}

/* The pairs on d->kvs as the attributes `a` (in the arena), emptied. */
static int jtake_pairs(jdec *d, tws_attrs *a) {
    void *items;
    uint32_t n;
    if (vec_take(d->b, &d->kvs, sizeof(tws_kv), &items, &n)) return jnomem(d);
    a->items = items;
    a->n = n;
    d->kvs.len = 0;
    return 0;
}

/* A timestamp string: decimal digits, within int64 nanoseconds. */
static int jtime(jdec *d, tw__json_iter *it, uint64_t *ns) {
    static const char bad[] = "timestamp is not an integer string";
    tw_str t;
    bool tmp;
    int rc = jstring(d, it, bad, &t, &tmp);
    if (rc) return rc;
    if (t.len > 1 && t.ptr[0] == '-' && t.ptr[1] >= '0' && t.ptr[1] <= '9') return jfail(d, "timestamp is before 1970");
    if (t.len == 0) return jfail(d, "%s", bad);
    uint64_t v = 0;
    for (size_t i = 0; i < t.len; i++) {
        unsigned c = (unsigned char)t.ptr[i] - '0';
        if (c > 9) return jfail(d, "%s", bad);
        if (v > (uint64_t)(INT64_MAX - c) / 10) return jfail(d, "timestamp out of range for int64 nanoseconds");
        v = v * 10 + c;
    }
    *ns = v;
    return 0;
}

/* One ["<ns>", "<line>", {metadata}] of stream `scope`. */
static int jentry(jdec *d, tw__json_iter *it, uint32_t scope) {
    static const char shape[] = "expected [timestamp, line] or [timestamp, line, {structured metadata}]";
    tw__json_iter a;
    tws_log rec = {.scope_idx = scope, .body.type = TWS_STRING}, *p;
    int rc = jopen(d, it, '[', &a, shape), more;
    if (rc) return rc;
    for (d->ei = 0; (more = jnext(d, &a, NULL)) == 1; d->ei++) {
        if (d->ei == 0) {
            rc = jtime(d, &a, &rec.time_ns);
        } else if (d->ei == 1) {
            rc = jtext(d, &a, "line is not a string", d->limit, &rec.body.u.s);
        } else if (d->ei == 2) {
            if (!jnull(&a) && !(rc = jpairs(d, &a, false))) rc = jtake_pairs(d, &rec.attrs);
        } else {
            d->ei = NO_IDX;
            return jskip(d, &a) ? TW_EPARSE : jfail(d, "%s", shape);
        }
        if (rc) return rc;
    }
    if (more) return more;
    long got = d->ei;
    d->ei = NO_IDX;
    if (got < 2) return jfail(d, "%s", shape);
    if (!(p = vec_push(&d->logs, sizeof rec))) return jnomem(d);
    *p = rec;
    it->p = a.p;
    return 0;
}

/* The labels of stream `ri` from the object at it->p. */
static int jlabels(jdec *d, tw__json_iter *it, uint32_t ri) {
    uint32_t kept = 0;
    char why[128];
    int rc = jpairs(d, it, true);
    if (rc) return rc;
    if (finish_labels((tws_kv *)d->kvs.data, (uint32_t)(d->kvs.len / sizeof(tws_kv)), &kept, why, sizeof why))
        return jfail(d, "%s", why);
    d->kvs.len = kept * sizeof(tws_kv);
    return jtake_pairs(d, &((tws_resource *)d->res.data)[ri].attrs);
}

/* The entries of stream `ri` from the array at it->p. */
static int jvalues(jdec *d, tw__json_iter *it, uint32_t ri) {
    tw__json_iter a;
    int rc = jopen(d, it, '[', &a, "expected an array of [timestamp, line]"), more;
    if (rc) return rc;
    for (d->vi = 0; (more = jnext(d, &a, NULL)) == 1; d->vi++)
        if ((rc = jentry(d, &a, ri))) return rc;
    if (more) return more;
    d->vi = NO_IDX;
    it->p = a.p;
    return 0;
}

/* {"stream": {...}, "values": [...]}, the stream numbered d->si. */
static int jstream(jdec *d, tw__json_iter *it) {
    tw__json_iter o;
    tw_str key;
    bool seen[2] = {false, false};
    uint32_t ri = (uint32_t)d->si;
    int rc = jopen(d, it, '{', &o, "expected an object"), more;
    if (rc) return rc;
    while ((more = jnext(d, &o, &key)) == 1) {
        int m = jkey_is(d, key, "stream") ? 0 : jkey_is(d, key, "values") ? 1 : -1;
        if (m >= 0) {
            d->member = m == 0 ? "stream" : "values";
            if (seen[m]) return jfail(d, "member given twice");
            seen[m] = true;
            if (!jnull(&o)) rc = m == 0 ? jlabels(d, &o, ri) : jvalues(d, &o, ri);
            d->member = NULL;
        } else {
            rc = jskip(d, &o);
        }
        if (rc) return rc;
    }
    if (more) return more;
    if (!((tws_resource *)d->res.data)[ri].attrs.n) return jfail(d, "%s", no_labels);
    it->p = o.p;
    return 0;
}

static int jrequest(jdec *d, const char *p, const char *end) {
    tw__json_iter top = {p, end, false, true}, o, a;
    tw_str key;
    bool seen = false;
    int rc = jopen(d, &top, '{', &o, "expected an object {\"streams\": [...]}"), more;
    if (rc) return rc;
    while ((more = jnext(d, &o, &key)) == 1) {
        if (!jkey_is(d, key, "streams")) {
            if ((rc = jskip(d, &o))) return rc;
            continue;
        }
        d->in_streams = true;
        if (seen) return jfail(d, "member given twice");
        seen = true;
        if (!jnull(&o)) {
            if ((rc = jopen(d, &o, '[', &a, "expected an array of streams"))) return rc;
            for (d->si = 0; (more = jnext(d, &a, NULL)) == 1; d->si++) {
                if (d->si >= UINT32_MAX - 1) return jfail(d, "too many streams");
                if (!vec_push(&d->res, sizeof(tws_resource))) return jnomem(d);
                if ((rc = jstream(d, &a))) return rc;
            }
            if (more) return more;
            d->si = NO_IDX;
            o.p = a.p;
        }
        d->in_streams = false;
    }
    if (more) return more;
    p = tw__json_ws(o.p, end);
    return p < end ? jfail(d, "text after the request at byte %zu", (size_t)(p - d->base)) : 0;
}

int tws_loki_decode_json(const char *buf, size_t len, const tws_decode_options *o, tws_batch *out,
                         tws_decode_error *err) {
    tws_decode_options def = {0};
    if (!o) o = &def;
    tws_batch_init(out);
    if (err) err->msg[0] = '\0';
    jdec d = {.base = buf, .b = out, .limit = o->max_value_len, .err = err, .si = NO_IDX, .vi = NO_IDX, .ei = NO_IDX};
    tw__buf_init(&d.tmp, 0);
    tw__buf_init(&d.res, 0);
    tw__buf_init(&d.logs, 0);
    tw__buf_init(&d.kvs, 0);
    int rc = 0;
    if (tw__buf_reserve(&d.tmp, KEY_ROOM)) {
        rc = jnomem(&d);
        goto out;
    }
    if (!o->borrow_input && len) {
        char *copy = tws_batch_alloc(out, len);
        if (!copy) {
            rc = jnomem(&d);
            goto out;
        }
        d.base = buf = memcpy(copy, buf, len);
    }
    if (!buf) buf = d.base = "";
    if ((rc = jrequest(&d, buf, buf + len))) goto out;
    void *res, *logs;
    if (vec_take(out, &d.res, sizeof(tws_resource), &res, &out->n_resources) ||
        vec_take(out, &d.logs, sizeof(tws_log), &logs, &out->n_logs)) {
        rc = jnomem(&d);
        goto out;
    }
    if (d.logs.len / sizeof(tws_log) >= UINT32_MAX) {
        d.in_streams = false;
        rc = jfail(&d, "too many entries");
        goto out;
    }
    out->resources = res;
    out->logs = logs;
    if (scopes_for_resources(out)) rc = jnomem(&d);
out:
    tw__buf_free(&d.tmp);
    tw__buf_free(&d.res);
    tw__buf_free(&d.logs);
    tw__buf_free(&d.kvs);
    if (rc) tws_batch_free(out);
    return rc;
}

/* ---- protobuf ---------------------------------------------------------------------------- */

enum {
    F_REQ_STREAMS = 1,
    F_ST_LABELS = 1, F_ST_ENTRIES = 2,
    F_EN_TIME = 1, F_EN_LINE = 2, F_EN_META = 3,
    F_TS_SECONDS = 1, F_TS_NANOS = 2,
    F_LP_NAME = 1, F_LP_VALUE = 2,
};

typedef struct pdec {
    const uint8_t *base; /* the bytes decoded: the input or its copy */
    tws_batch *b;
    uint32_t limit;
    tws_decode_error *err;
    /* where: "streams[si].entries[ei].structuredMetadata[mi].leaf" */
    long si, ei, mi;
    const char *leaf;
    uint32_t n_logs; /* records decoded so far */
} pdec;

__attribute__((format(printf, 2, 3))) static int pfail(pdec *d, const char *fmt, ...) {
    if (!d->err) return TW_EPARSE;
    char *m = d->err->msg;
    size_t cap = sizeof d->err->msg, n;
    if (d->si == NO_IDX) {
        n = (size_t)snprintf(m, cap, "request");
    } else {
        n = (size_t)snprintf(m, cap, "streams[%ld]", d->si);
        if (d->ei != NO_IDX) n += (size_t)snprintf(m + n, cap - n, ".entries[%ld]", d->ei);
        if (d->mi != NO_IDX) n += (size_t)snprintf(m + n, cap - n, ".structuredMetadata[%ld]", d->mi);
        if (d->leaf) n += (size_t)snprintf(m + n, cap - n, ".%s", d->leaf);
    }
    n += (size_t)snprintf(m + n, cap - n, ": ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m + n, cap - n, fmt, ap);
    va_end(ap);
    return TW_EPARSE;
}

static int pnomem(pdec *d) {
    if (d->err) snprintf(d->err->msg, sizeof d->err->msg, "out of memory");
    return TW_ENOMEM;
}

/* The next field of `r`: 1, 0 at the end of the message, or an error
 * naming the byte where the field went wrong. */
static int pnext(pdec *d, tw__pb_reader *r, tw__pb_field *f) {
    int rc = tw__pb_next(r, f);
    return rc >= 0 ? rc : pfail(d, "malformed protobuf at byte %zu", (size_t)(r->p - d->base));
}

/* A known field: number and wire type (another wire type is unknown). */
static bool is(const tw__pb_field *f, uint32_t num, unsigned wire) { return f->num == num && f->wire == wire; }

/* How many LEN fields numbered `num` the message p[0..n) holds. */
static int pcount(pdec *d, const uint8_t *p, size_t n, uint32_t num, uint32_t *count) {
    tw__pb_reader r;
    tw__pb_field f;
    uint32_t c = 0;
    int more;
    tw__pb_reader_init(&r, p, n);
    while ((more = pnext(d, &r, &f)) == 1)
        if (is(&f, num, TW_PB_LEN) && c++ == UINT32_MAX - 2) return pfail(d, "more than 2^32-2 items");
    *count = c;
    return more;
}

/* Streams of the request, and their entries in all. */
static int pcount_request(pdec *d, const uint8_t *p, size_t n, uint32_t *streams, uint32_t *entries) {
    tw__pb_reader r;
    tw__pb_field f;
    uint32_t total = 0, k = 0, ns = 0;
    int more, rc;
    tw__pb_reader_init(&r, p, n);
    while ((more = pnext(d, &r, &f)) == 1) {
        if (!is(&f, F_REQ_STREAMS, TW_PB_LEN)) continue;
        if (ns == UINT32_MAX - 2) return pfail(d, "more than 2^32-2 streams");
        d->si = ns++;
        if ((rc = pcount(d, f.data, f.len, F_ST_ENTRIES, &k))) return rc;
        if (k > UINT32_MAX - 2 - total) return pfail(d, "more than 2^32-2 entries");
        total += k;
        d->si = NO_IDX;
    }
    *streams = ns;
    *entries = total;
    return more;
}

/* The string field `f` kept in the batch. */
static int ptext(pdec *d, const tw__pb_field *f, uint32_t limit, tw_str *out) {
    return keep_text(d->b, (const char *)f->data, f->len, limit, true, out) ? pnomem(d) : 0;
}

/* A Timestamp message merged into (*sec, *nanos), as protobuf merges a
 * message given twice. */
static int ptimestamp(pdec *d, const tw__pb_field *tf, int64_t *sec, int32_t *nanos) {
    tw__pb_reader r;
    tw__pb_field f;
    int more;
    tw__pb_reader_init(&r, tf->data, tf->len);
    while ((more = pnext(d, &r, &f)) == 1) {
        if (is(&f, F_TS_SECONDS, TW_PB_VARINT)) *sec = (int64_t)f.u;
        if (is(&f, F_TS_NANOS, TW_PB_VARINT)) *nanos = (int32_t)(uint32_t)f.u; /* int32: the low 32 bits */
    }
    return more;
}

/* A LabelPairAdapter into `kv` (name never cut, value to the limit). */
static int pmeta(pdec *d, const tw__pb_field *mf, tws_kv *kv) {
    tw__pb_reader r;
    tw__pb_field f, name = {0}, value = {0};
    int more, rc;
    tw__pb_reader_init(&r, mf->data, mf->len);
    while ((more = pnext(d, &r, &f)) == 1) {
        if (is(&f, F_LP_NAME, TW_PB_LEN)) name = f;
        if (is(&f, F_LP_VALUE, TW_PB_LEN)) value = f;
    }
    if (more) return more;
    kv->val.type = TWS_STRING;
    if ((rc = ptext(d, &name, 0, &kv->key))) return rc;
    return ptext(d, &value, d->limit, &kv->val.u.s);
}

static int pentry(pdec *d, const tw__pb_field *ef, tws_log *rec, uint32_t scope) {
    tw__pb_reader r;
    tw__pb_field f, line = {0};
    const uint8_t *ts_at = ef->data;
    int64_t sec = 0;
    int32_t nanos = 0;
    uint32_t nm = 0;
    int more, rc;
    memset(rec, 0, sizeof *rec);
    rec->scope_idx = scope;
    rec->body.type = TWS_STRING;
    if ((rc = pcount(d, ef->data, ef->len, F_EN_META, &nm))) return rc;
    if (nm) {
        if (!(rec->attrs.items = tws_batch_alloc(d->b, (size_t)nm * sizeof(tws_kv)))) return pnomem(d);
        memset(rec->attrs.items, 0, (size_t)nm * sizeof(tws_kv));
    }
    tw__pb_reader_init(&r, ef->data, ef->len);
    while ((more = pnext(d, &r, &f)) == 1) {
        if (is(&f, F_EN_TIME, TW_PB_LEN)) {
            d->leaf = "timestamp";
            ts_at = f.data;
            if ((rc = ptimestamp(d, &f, &sec, &nanos))) return rc;
            d->leaf = NULL;
        } else if (is(&f, F_EN_LINE, TW_PB_LEN)) {
            line = f;
        } else if (is(&f, F_EN_META, TW_PB_LEN)) {
            d->mi = rec->attrs.n;
            if ((rc = pmeta(d, &f, &rec->attrs.items[rec->attrs.n++]))) return rc;
            d->mi = NO_IDX;
        }
    }
    if (more) return more;
    d->leaf = "timestamp";
    size_t at = (size_t)(ts_at - d->base);
    if (nanos < 0 || nanos >= (int32_t)NS_PER_S) return pfail(d, "nanos out of range [0, 1e9) at byte %zu", at);
    if (sec < 0) return pfail(d, "timestamp is before 1970 at byte %zu", at);
    if ((uint64_t)sec > ((uint64_t)INT64_MAX - (uint64_t)nanos) / NS_PER_S)
        return pfail(d, "timestamp out of range for int64 nanoseconds at byte %zu", at);
    d->leaf = NULL;
    rec->time_ns = (uint64_t)sec * NS_PER_S + (uint64_t)nanos;
    return ptext(d, &line, d->limit, &rec->body.u.s);
}

static int pstream(pdec *d, const tw__pb_field *sf, uint32_t ri) {
    tw__pb_reader r;
    tw__pb_field f, labels = {0};
    int more, rc;
    tw__pb_reader_init(&r, sf->data, sf->len);
    for (d->ei = 0; (more = pnext(d, &r, &f)) == 1;) {
        if (is(&f, F_ST_LABELS, TW_PB_LEN)) labels = f;
        if (!is(&f, F_ST_ENTRIES, TW_PB_LEN)) continue;
        if ((rc = pentry(d, &f, &d->b->logs[d->n_logs++], ri))) return rc;
        d->ei++;
    }
    d->ei = NO_IDX;
    if (more) return more;
    char why[160];
    d->leaf = "labels";
    rc = tws_loki_parse_labels((const char *)labels.data, labels.len, d->b, &d->b->resources[ri].attrs, why,
                               sizeof why);
    if (rc) return rc == TW_ENOMEM ? pnomem(d) : pfail(d, "%s", why);
    d->leaf = NULL;
    return 0;
}

static int prequest(pdec *d, const uint8_t *p, size_t n) {
    tw__pb_reader r;
    tw__pb_field f;
    uint32_t ns = 0;
    int more, rc;
    tw__pb_reader_init(&r, p, n);
    while ((more = pnext(d, &r, &f)) == 1) {
        if (!is(&f, F_REQ_STREAMS, TW_PB_LEN)) continue;
        d->si = ns;
        if ((rc = pstream(d, &f, ns++))) return rc;
        d->si = NO_IDX;
    }
    return more;
}

int tws_loki_decode_pb(const uint8_t *buf, size_t len, const tws_decode_options *o, tws_batch *out,
                       tws_decode_error *err) {
    tws_decode_options def = {0};
    if (!o) o = &def;
    tws_batch_init(out);
    if (err) err->msg[0] = '\0';
    pdec d = {.base = buf, .b = out, .limit = o->max_value_len, .err = err, .si = NO_IDX, .ei = NO_IDX, .mi = NO_IDX};
    uint32_t streams = 0, entries = 0;
    int rc = 0;
    if (len == 0) return 0;
    if (!o->borrow_input) {
        uint8_t *copy = tws_batch_alloc(out, len);
        if (!copy) {
            rc = pnomem(&d);
            goto out;
        }
        d.base = buf = memcpy(copy, buf, len);
    }
    if ((rc = pcount_request(&d, buf, len, &streams, &entries))) goto out;
    out->n_resources = streams;
    out->n_logs = entries;
    if (streams && !(out->resources = tws_batch_alloc(out, (size_t)streams * sizeof *out->resources))) goto nomem;
    if (entries && !(out->logs = tws_batch_alloc(out, (size_t)entries * sizeof *out->logs))) goto nomem;
    if (streams) memset(out->resources, 0, (size_t)streams * sizeof *out->resources);
    if (scopes_for_resources(out)) goto nomem;
    rc = prequest(&d, buf, len);
    assert(rc || d.n_logs == entries);
    goto out;
nomem:
    rc = pnomem(&d);
out:
    if (rc) tws_batch_free(out);
    return rc;
}

/* ---- snappy --------------------------------------------------------------------------- */

int tws_snappy_uncompress_capped(const uint8_t *in, size_t len, size_t max_out, tw__buf *out) {
    size_t n;
    if (!in || snappy_uncompressed_length((const char *)in, len, &n) != SNAPPY_OK) return TW_EPARSE;
    if (n > max_out) return TW_ERANGE;
    if (n == 0) /* nothing to write, but the rest must still be a valid block */
        return snappy_validate_compressed_buffer((const char *)in, len) == SNAPPY_OK ? 0 : TW_EPARSE;
    int rc = tw__buf_reserve(out, n);
    if (rc) return rc;
    size_t got = n;
    if (snappy_uncompress((const char *)in, len, (char *)out->data + out->len, &got) != SNAPPY_OK || got != n)
        return TW_EPARSE;
    out->len += n;
    return 0;
}
