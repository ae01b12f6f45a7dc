/*
 * redaction.c — see redaction.h. One pass over every attribute list of a
 * batch; each list is compacted in place (deleted keys), masked values are
 * rebuilt in a scratch buffer and copied into the batch's arena, and a
 * list that changed is copied once more with its summary attributes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/buf.h"
#include "pipeline/digest.h"
#include "pipeline/redaction.h"
#include "regex/regex.h"

#define MASK "****"
#define MAX_VALUE_TEXT ((size_t)64 << 20)

typedef struct pattern {
    tws_regex *re;
    bool luhn; /* a match counts only when its digits pass the Luhn check */
} pattern;

typedef struct plist {
    pattern *items;
    size_t n;
} plist;

struct tws_redaction {
    bool allow_all_keys;
    tws_strlist allowed_keys, ignored_keys; /* borrowed from the config: copied below */
    char **owned;                           /* the copies */
    size_t n_owned;
    plist blocked, allowed_values, blocked_keys;
    tws_redact_hash hash;
    char *hmac_key;
    size_t hmac_key_len;
    tws_redact_summary summary;
};

static const struct preset {
    const char *name, *re;
    bool luhn;
} PRESETS[] = {
    {"@email", "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}", false},
    {"@bearer", "(?i)\\bbearer\\s+[A-Za-z0-9._~+/=-]+", false},
    {"@jwt", "\\beyJ[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*", false},
    {"@card", "(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])", true},
};

/* ---- construction ------------------------------------------------------------------------ */

static int compile_list(plist *out, tws_strlist in, const char *what, unsigned flags, char *err, size_t err_len) {
    if (!in.n) return TW_OK;
    if (!(out->items = tw__calloc(in.n, sizeof *out->items))) return TW_ENOMEM;
    for (size_t i = 0; i < in.n; i++) {
        const char *src = in.items[i] ? in.items[i] : "";
        bool luhn = false;
        if (src[0] == '@') {
            size_t k = 0;
            while (k < TW_ARRAY_LEN(PRESETS) && strcmp(PRESETS[k].name, src) != 0) k++;
            if (k == TW_ARRAY_LEN(PRESETS)) {
                snprintf(err, err_len, "%s[%zu]: unknown preset \"%s\" (known: @email, @bearer, @jwt, @card)", what, i,
                         src);
                return TW_EINVAL;
            }
            luhn = PRESETS[k].luhn;
            src = PRESETS[k].re;
        }
        char msg[200] = "";
        tws_regex *re = tws_regex_compile(src, strlen(src), flags, msg, sizeof msg);
        if (!re) {
            snprintf(err, err_len, "%s[%zu]: %s", what, i, msg);
            return strstr(msg, "out of memory") ? TW_ENOMEM : TW_EINVAL;
        }
        out->items[out->n++] = (pattern){re, luhn};
    }
    return TW_OK;
}

static void free_list(plist *l) {
    for (size_t i = 0; i < l->n; i++) tws_regex_free(l->items[i].re);
    tw__free(l->items);
}

/* Copy a list of names so the compiled redaction does not borrow the config. */
static int copy_names(tws_redaction *r, tws_strlist in, tws_strlist *out) {
    const char **items = in.n ? tw__calloc(in.n, sizeof *items) : NULL;
    if (in.n && !items) return TW_ENOMEM;
    char **owned = tw__realloc(r->owned, (r->n_owned + in.n + 1) * sizeof *owned);
    if (!owned) {
        tw__free(items);
        return TW_ENOMEM;
    }
    r->owned = owned;
    r->owned[r->n_owned++] = (char *)items; /* freed with the strings */
    for (size_t i = 0; i < in.n; i++) {
        const char *s = in.items[i] ? in.items[i] : "";
        char *c = tw__strndup(s, strlen(s));
        if (!c) return TW_ENOMEM;
        r->owned[r->n_owned++] = c;
        items[i] = c;
    }
    *out = (tws_strlist){items, in.n};
    return TW_OK;
}

int tws_redaction_new(const tws_redaction_config *c, tws_redaction **out, char *err, size_t err_len) {
    *out = NULL;
    if (err_len) err[0] = '\0';
    tws_redaction *r = tw__calloc(1, sizeof *r);
    if (!r) return TW_ENOMEM;
    r->allow_all_keys = c->allow_all_keys;
    r->hash = c->hash_function;
    r->summary = c->summary;
    int rc = copy_names(r, c->allowed_keys, &r->allowed_keys);
    if (!rc) rc = copy_names(r, c->ignored_keys, &r->ignored_keys);
    if (!rc) rc = compile_list(&r->blocked, c->blocked_values, "blocked_values", 0, err, err_len);
    if (!rc)
        rc = compile_list(&r->allowed_values, c->allowed_values, "allowed_values", TWS_RE_ANCHORED, err, err_len);
    if (!rc)
        rc = compile_list(&r->blocked_keys, c->blocked_key_patterns, "blocked_key_patterns", TWS_RE_ANCHORED, err,
                          err_len);
    if (!rc && r->hash == TWS_REDACT_HASH_HMAC_SHA256) {
        if (!c->hmac_key || !c->hmac_key[0]) {
            snprintf(err, err_len, "hash_function hmac-sha256 needs a non-empty hmac_key");
            rc = TW_EINVAL;
        } else if (!(r->hmac_key = tw__strndup(c->hmac_key, r->hmac_key_len = strlen(c->hmac_key)))) {
            rc = TW_ENOMEM;
        }
    }
    if (rc) {
        if (rc == TW_ENOMEM && err_len && !err[0]) snprintf(err, err_len, "out of memory");
        tws_redaction_free(r);
        return rc;
    }
    *out = r;
    return TW_OK;
}

void tws_redaction_free(tws_redaction *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_owned; i++) tw__free(r->owned[i]);
    tw__free(r->owned);
    free_list(&r->blocked);
    free_list(&r->allowed_values);
    free_list(&r->blocked_keys);
    tw__free(r->hmac_key);
    tw__free(r);
}

/* ---- masking ------------------------------------------------------------------------------- */

static bool on_list(tws_strlist l, tw_str key) {
    for (size_t i = 0; i < l.n; i++)
        if (strlen(l.items[i]) == key.len && memcmp(l.items[i], key.ptr, key.len) == 0) return true;
    return false;
}

static bool any_match(const plist *l, const char *s, size_t n) {
    for (size_t i = 0; i < l->n; i++)
        if (tws_regex_match(l->items[i].re, s, n)) return true;
    return false;
}

static bool luhn_ok(const char *s, size_t n) {
    unsigned sum = 0, digits = 0;
    for (size_t i = n; i-- > 0;) {
        if (s[i] < '0' || s[i] > '9') continue;
        unsigned d = (unsigned)(s[i] - '0');
        if (digits++ & 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
    }
    return digits >= 13 && digits <= 19 && sum % 10 == 0;
}

/* Append what replaces s[0..n): the mask, or the hex digest of s. */
static int put_mask(const tws_redaction *r, tw__buf *out, const char *s, size_t n) {
    if (r->hash == TWS_REDACT_HASH_NONE) return tw__buf_append(out, MASK, sizeof MASK - 1);
    char hex[TWS_SHA256_HEX + 1];
    bool hmac = r->hash == TWS_REDACT_HASH_HMAC_SHA256;
    if (!tws_sha256_hex(s, n, hmac ? r->hmac_key : NULL, r->hmac_key_len, hex)) return TW_ENOMEM;
    return tw__buf_append(out, hex, TWS_SHA256_HEX);
}

/* Mask every match of `p` in in[0..n) into `out`; *hits counts them. */
static int mask_pattern(const tws_redaction *r, const pattern *p, const char *in, size_t n, tw__buf *out,
                        size_t *hits) {
    size_t from = 0, copied = 0, ms, me;
    while (from <= n && tws_regex_find(p->re, in, n, from, &ms, &me)) {
        if (me == ms || (p->luhn && !luhn_ok(in + ms, me - ms))) { /* not a secret: step on */
            from = ms + 1;
            continue;
        }
        tw__buf_append(out, in + copied, ms - copied);
        put_mask(r, out, in + ms, me - ms);
        copied = from = me;
        (*hits)++;
    }
    tw__buf_append(out, in + copied, n - copied);
    return out->failed;
}

typedef struct scratch {
    tw__buf a, b;  /* ping-pong buffers, one pass per pattern */
    tw_str *keys;  /* redacted and masked keys of the list being walked */
    size_t cap;
} scratch;

/* Mask the blocked parts of a scalar value; *changed when it was. Arrays
 * and lists are walked. */
static int mask_value(const tws_redaction *r, tws_batch *b, scratch *sc, tws_value *v, bool *changed) {
    if (v->type == TWS_ARRAY || v->type == TWS_KVLIST) {
        for (uint32_t i = 0; i < v->n; i++) {
            int rc = mask_value(r, b, sc, v->type == TWS_ARRAY ? &v->u.arr[i] : &v->u.kv[i].val, changed);
            if (rc) return rc;
        }
        return TW_OK;
    }
    char tmp[40];
    tw_str text;
    if (!r->blocked.n || v->type == TWS_BOOL || !tws_value_scalar_text(v, tmp, sizeof tmp, &text)) return TW_OK;
    if (any_match(&r->allowed_values, text.ptr, text.len)) return TW_OK;
    const char *cur = text.ptr;
    size_t cur_len = text.len, hits = 0;
    tw__buf *dst = &sc->a;
    for (size_t i = 0; i < r->blocked.n; i++) {
        tw__buf_reset(dst);
        size_t before = hits;
        if (mask_pattern(r, &r->blocked.items[i], cur, cur_len, dst, &hits)) return TW_ENOMEM;
        if (hits == before) continue; /* unchanged: keep reading `cur` */
        cur = (const char *)dst->data;
        cur_len = dst->len;
        dst = dst == &sc->a ? &sc->b : &sc->a;
    }
    if (!hits) return TW_OK;
    tw_str masked;
    if (tws_batch_str(b, cur, cur_len, &masked)) return TW_ENOMEM;
    v->type = TWS_STRING;
    v->n = 0;
    v->u.s = masked;
    *changed = true;
    return TW_OK;
}

/* The whole value masked (its key matched blocked_key_patterns). */
static int mask_whole(const tws_redaction *r, tws_batch *b, scratch *sc, tws_value *v) {
    char tmp[40];
    tw_str text;
    if (v->type == TWS_BOOL || !tws_value_scalar_text(v, tmp, sizeof tmp, &text))
        text = (tw_str){"", 0}; /* booleans, arrays, lists, bytes: no digest input */
    tw__buf_reset(&sc->a);
    if (put_mask(r, &sc->a, text.ptr, text.len)) return TW_ENOMEM;
    tw_str masked;
    if (tws_batch_str(b, sc->a.data, sc->a.len, &masked)) return TW_ENOMEM;
    *v = (tws_value){.type = TWS_STRING, .u.s = masked};
    return TW_OK;
}

/* ---- attribute lists ------------------------------------------------------------------------- */

static int cmp_str(const void *x, const void *y) {
    const tw_str *a = x, *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->ptr, b->ptr, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* "k1,k2" of the sorted keys, in the arena. */
static int joined(tws_batch *b, tw_str *keys, size_t n, tw__buf *tmp, tw_str *out) {
    qsort(keys, n, sizeof *keys, cmp_str);
    tw__buf_reset(tmp);
    for (size_t i = 0; i < n; i++) {
        if (i) tw__buf_putc(tmp, ',');
        tw__buf_append(tmp, keys[i].ptr, keys[i].len);
    }
    return tmp->failed ? tmp->failed : tws_batch_str(b, tmp->data, tmp->len, out);
}

static tws_kv summary_kv(const char *key, tws_value v) { return (tws_kv){{key, strlen(key)}, v}; }

static int redact_attrs(const tws_redaction *r, tws_batch *b, scratch *sc, tws_attrs *a, tws_redaction_stats *st) {
    if (!a->n) return TW_OK;
    if (sc->cap < 2 * (size_t)a->n) {
        tw_str *k = tw__realloc(sc->keys, 2 * (size_t)a->n * sizeof *k);
        if (!k) return TW_ENOMEM;
        sc->keys = k;
        sc->cap = 2 * (size_t)a->n;
    }
    tw_str *redacted = sc->keys, *masked = sc->keys + a->n;
    size_t n_red = 0, n_mask = 0;
    uint32_t keep = 0;
    int rc = TW_OK;
    for (uint32_t i = 0; i < a->n && !rc; i++) {
        tws_kv *kv = &a->items[i];
        if (on_list(r->ignored_keys, kv->key)) {
            a->items[keep++] = *kv;
            continue;
        }
        if (!r->allow_all_keys && !on_list(r->allowed_keys, kv->key)) {
            redacted[n_red++] = kv->key;
            continue;
        }
        bool changed = false;
        if (any_match(&r->blocked_keys, kv->key.ptr, kv->key.len)) {
            rc = mask_whole(r, b, sc, &kv->val);
            changed = true;
        } else {
            rc = mask_value(r, b, sc, &kv->val, &changed);
        }
        if (changed) masked[n_mask++] = kv->key;
        a->items[keep++] = *kv;
    }
    a->n = keep;
    if (st) st->keys_redacted += n_red, st->values_masked += n_mask;
    if (!rc && (n_red || n_mask) && r->summary != TWS_REDACT_SUMMARY_SILENT) {
        bool debug = r->summary == TWS_REDACT_SUMMARY_DEBUG;
        tws_kv add[4];
        size_t n_add = 0;
        tw_str red_keys = {0}, mask_keys = {0};
        if (debug && n_red) rc = joined(b, redacted, n_red, &sc->b, &red_keys);
        if (!rc && debug && n_mask) rc = joined(b, masked, n_mask, &sc->b, &mask_keys);
        if (red_keys.len) add[n_add++] = summary_kv("redaction.redacted.keys", (tws_value){.type = TWS_STRING, .u.s = red_keys});
        if (n_red) add[n_add++] = summary_kv("redaction.redacted.count", (tws_value){.type = TWS_INT, .u.i = (int64_t)n_red});
        if (mask_keys.len) add[n_add++] = summary_kv("redaction.masked.keys", (tws_value){.type = TWS_STRING, .u.s = mask_keys});
        if (n_mask) add[n_add++] = summary_kv("redaction.masked.count", (tws_value){.type = TWS_INT, .u.i = (int64_t)n_mask});
        tws_kv *items = rc ? NULL : tws_batch_alloc(b, ((size_t)a->n + n_add) * sizeof *items);
        if (!rc && !items) rc = TW_ENOMEM;
        if (!rc) {
            memcpy(items, a->items, (size_t)a->n * sizeof *items);
            memcpy(items + a->n, add, n_add * sizeof *add);
            a->items = items;
            a->n += (uint32_t)n_add;
        }
    }
    return rc;
}

int tws_redaction_apply(const tws_redaction *r, tws_batch *b, tws_redaction_stats *st) {
    scratch sc = {.keys = NULL, .cap = 0};
    tw__buf_init(&sc.a, MAX_VALUE_TEXT);
    tw__buf_init(&sc.b, MAX_VALUE_TEXT);
    int rc = TW_OK;
    for (uint32_t i = 0; !rc && i < b->n_resources; i++) rc = redact_attrs(r, b, &sc, &b->resources[i].attrs, st);
    for (uint32_t i = 0; !rc && i < b->n_scopes; i++) rc = redact_attrs(r, b, &sc, &b->scopes[i].attrs, st);
    for (uint32_t i = 0; !rc && i < b->n_spans; i++) {
        tws_span *s = &b->spans[i];
        rc = redact_attrs(r, b, &sc, &s->attrs, st);
        for (uint32_t k = 0; !rc && k < s->n_events; k++) rc = redact_attrs(r, b, &sc, &s->events[k].attrs, st);
        for (uint32_t k = 0; !rc && k < s->n_links; k++) rc = redact_attrs(r, b, &sc, &s->links[k].attrs, st);
    }
    for (uint32_t i = 0; !rc && i < b->n_logs; i++) {
        tws_log *l = &b->logs[i];
        rc = redact_attrs(r, b, &sc, &l->attrs, st);
        bool changed = false;
        if (!rc) rc = mask_value(r, b, &sc, &l->body, &changed);
        if (changed && st) st->values_masked++;
    }
    tw__buf_free(&sc.a);
    tw__buf_free(&sc.b);
    tw__free(sc.keys);
    return rc;
}
