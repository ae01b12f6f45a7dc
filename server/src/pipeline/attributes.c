/*
 * attributes.c — see attributes.h. Each action walks one attribute list;
 * lists grow by one copy into the batch's arena when a key is added.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pipeline/attributes.h"
#include "pipeline/digest.h"
#include "regex/regex.h"

typedef struct act {
    tws_attr_action_kind kind;
    tw_str key, from;
    tws_value value; /* scalar; its string owned here */
    tws_regex *re;
    tws_type conv;
} act;

struct tws_attributes {
    act *acts;
    size_t n;
};

static const char *const NAMES[] = {"insert", "update", "upsert", "delete", "hash", "extract", "convert"};

static tw_str dup_str(const char *s, bool *oom) {
    if (!s) return (tw_str){NULL, 0};
    char *c = tw__strndup(s, strlen(s));
    if (!c) *oom = true;
    return (tw_str){c, c ? strlen(c) : 0};
}

int tws_attributes_new(const tws_attr_action *actions, size_t n, tws_attributes **out, char *err, size_t err_len) {
    *out = NULL;
    tws_attributes *p = tw__calloc(1, sizeof *p);
    if (!p || !(p->acts = tw__calloc(n ? n : 1, sizeof *p->acts))) {
        tw__free(p);
        snprintf(err, err_len, "out of memory");
        return TW_ENOMEM;
    }
    int rc = TW_OK;
    for (size_t i = 0; i < n && !rc; i++, p->n++) {
        const tws_attr_action *a = &actions[i];
        act *x = &p->acts[i];
        bool oom = false;
        x->kind = a->action;
        x->key = dup_str(a->key, &oom);
        x->from = dup_str(a->from_attribute, &oom);
        x->conv = a->converted_type;
        const char *what = (unsigned)a->action < TW_ARRAY_LEN(NAMES) ? NAMES[a->action] : "?";
        bool sets = a->action <= TWS_ATTR_UPSERT, keyed = a->action != TWS_ATTR_DELETE && a->action != TWS_ATTR_HASH;
        if (oom) {
            rc = TW_ENOMEM;
        } else if ((unsigned)a->action >= TW_ARRAY_LEN(NAMES)) {
            snprintf(err, err_len, "actions[%zu]: unknown action", i);
            rc = TW_EINVAL;
        } else if ((keyed || !a->pattern) && (!a->key || !a->key[0])) {
            snprintf(err, err_len, "actions[%zu] (%s): key is required", i, what);
            rc = TW_EINVAL;
        } else if (sets && !a->from_attribute && (a->value.type == TWS_EMPTY || a->value.type >= TWS_ARRAY)) {
            snprintf(err, err_len, "actions[%zu] (%s): needs a string, int, double or bool value, or from_attribute", i,
                     what);
            rc = TW_EINVAL;
        } else if (a->action == TWS_ATTR_CONVERT && a->converted_type != TWS_INT && a->converted_type != TWS_DOUBLE &&
                   a->converted_type != TWS_STRING) {
            snprintf(err, err_len, "actions[%zu] (convert): converted_type must be int, double or string", i);
            rc = TW_EINVAL;
        } else if (a->action == TWS_ATTR_EXTRACT && !a->pattern) {
            snprintf(err, err_len, "actions[%zu] (extract): pattern is required", i);
            rc = TW_EINVAL;
        }
        if (!rc && sets && !a->from_attribute) {
            x->value = a->value;
            if (a->value.type == TWS_STRING) {
                char *c = tw__malloc(a->value.u.s.len + 1);
                if (!c) rc = TW_ENOMEM;
                else {
                    memcpy(c, a->value.u.s.ptr, a->value.u.s.len);
                    c[a->value.u.s.len] = '\0';
                    x->value.u.s.ptr = c;
                }
            }
        }
        if (!rc && a->pattern && (a->action == TWS_ATTR_DELETE || a->action == TWS_ATTR_HASH || a->action == TWS_ATTR_EXTRACT)) {
            char msg[200] = "";
            unsigned flags = a->action == TWS_ATTR_EXTRACT ? 0 : TWS_RE_ANCHORED;
            if (!(x->re = tws_regex_compile(a->pattern, strlen(a->pattern), flags, msg, sizeof msg))) {
                snprintf(err, err_len, "actions[%zu] (%s): pattern: %s", i, what, msg);
                rc = TW_EINVAL;
            } else if (a->action == TWS_ATTR_EXTRACT && tws_regex_n_names(x->re) == 0) {
                snprintf(err, err_len, "actions[%zu] (extract): pattern has no named group", i);
                rc = TW_EINVAL;
            }
        }
    }
    if (rc) {
        tws_attributes_free(p);
        return rc;
    }
    *out = p;
    return TW_OK;
}

void tws_attributes_free(tws_attributes *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) {
        act *x = &p->acts[i];
        tw__free((char *)x->key.ptr);
        tw__free((char *)x->from.ptr);
        if (x->value.type == TWS_STRING) tw__free((char *)x->value.u.s.ptr);
        tws_regex_free(x->re);
    }
    tw__free(p->acts);
    tw__free(p);
}

/* ---- one list ---------------------------------------------------------------------------- */

static long find(const tws_attrs *a, tw_str key) {
    for (uint32_t i = 0; i < a->n; i++)
        if (a->items[i].key.len == key.len && memcmp(a->items[i].key.ptr, key.ptr, key.len) == 0) return (long)i;
    return -1;
}

/* Set key = v (v's memory must live as long as the batch). */
static int set(tws_batch *b, tws_attrs *a, tw_str key, const tws_value *v, bool if_absent, bool if_present) {
    long i = find(a, key);
    if (i >= 0) {
        if (if_absent) return TW_OK;
        a->items[i].val = *v;
        return TW_OK;
    }
    if (if_present) return TW_OK;
    tws_kv *items = tws_batch_alloc(b, ((size_t)a->n + 1) * sizeof *items);
    if (!items) return TW_ENOMEM;
    memcpy(items, a->items, (size_t)a->n * sizeof *items);
    tw_str k;
    if (tws_batch_str(b, key.ptr, key.len, &k)) return TW_ENOMEM;
    items[a->n] = (tws_kv){k, *v};
    a->items = items;
    a->n++;
    return TW_OK;
}

static int hash_value(tws_batch *b, tws_value *v) {
    char tmp[40], hex[TWS_SHA256_HEX + 1];
    tw_str t;
    if (!tws_value_scalar_text(v, tmp, sizeof tmp, &t)) return TW_OK; /* arrays, lists, bytes: left alone */
    if (!tws_sha256_hex(t.ptr, t.len, NULL, 0, hex)) return TW_ENOMEM;
    tw_str h;
    if (tws_batch_str(b, hex, TWS_SHA256_HEX, &h)) return TW_ENOMEM;
    *v = (tws_value){.type = TWS_STRING, .u.s = h};
    return TW_OK;
}

static int convert(tws_batch *b, tws_value *v, tws_type to) {
    char tmp[40], buf[64];
    tw_str t;
    if (v->type == to || !tws_value_scalar_text(v, tmp, sizeof tmp, &t) || t.len >= sizeof buf) return TW_OK;
    if (to == TWS_STRING) {
        tw_str s;
        if (tws_batch_str(b, t.ptr, t.len, &s)) return TW_ENOMEM;
        *v = (tws_value){.type = TWS_STRING, .u.s = s};
        return TW_OK;
    }
    memcpy(buf, t.ptr, t.len);
    buf[t.len] = '\0';
    char *end;
    errno = 0;
    if (to == TWS_INT) {
        if (v->type == TWS_DOUBLE) {
            if (isfinite(v->u.d) && fabs(v->u.d) < 9.2e18) *v = (tws_value){.type = TWS_INT, .u.i = (int64_t)v->u.d};
            return TW_OK;
        }
        long long x = strtoll(buf, &end, 10);
        if (t.len && !errno && *end == '\0') *v = (tws_value){.type = TWS_INT, .u.i = x};
    } else {
        double d = strtod(buf, &end);
        if (t.len && !errno && *end == '\0') *v = (tws_value){.type = TWS_DOUBLE, .u.d = d};
    }
    return TW_OK;
}

static int extract(const act *x, tws_batch *b, tws_attrs *a) {
    long i = find(a, x->key);
    if (i < 0 || a->items[i].val.type != TWS_STRING) return TW_OK;
    tw_str s = a->items[i].val.u.s; /* stays valid: set() never moves strings */
    for (size_t k = 0; k < tws_regex_n_names(x->re); k++) {
        unsigned g;
        const char *name = tws_regex_name(x->re, k, &g);
        size_t gs, ge;
        if (!tws_regex_group(x->re, s.ptr, s.len, g, &gs, &ge)) continue;
        tws_value v = {.type = TWS_STRING, .u.s = {s.ptr + gs, ge - gs}};
        int rc = set(b, a, (tw_str){name, strlen(name)}, &v, false, false);
        if (rc) return rc;
    }
    return TW_OK;
}

/* delete and hash: the key, or every key matching the pattern. */
static bool key_hit(const act *x, tw_str k) {
    return x->re ? tws_regex_match(x->re, k.ptr, k.len) : k.len == x->key.len && memcmp(k.ptr, x->key.ptr, k.len) == 0;
}

static int apply_one(const act *x, tws_batch *b, tws_attrs *a) {
    switch (x->kind) {
    case TWS_ATTR_INSERT:
    case TWS_ATTR_UPDATE:
    case TWS_ATTR_UPSERT: {
        tws_value v = x->value;
        if (x->from.ptr) {
            long f = find(a, x->from);
            if (f < 0) return TW_OK;
            v = a->items[f].val;
        } else if (v.type == TWS_STRING && tws_batch_str(b, v.u.s.ptr, v.u.s.len, &v.u.s)) {
            return TW_ENOMEM;
        }
        return set(b, a, x->key, &v, x->kind == TWS_ATTR_INSERT, x->kind == TWS_ATTR_UPDATE);
    }
    case TWS_ATTR_DELETE: {
        uint32_t keep = 0;
        for (uint32_t i = 0; i < a->n; i++) {
            if (!key_hit(x, a->items[i].key)) a->items[keep++] = a->items[i];
        }
        a->n = keep;
        return TW_OK;
    }
    case TWS_ATTR_HASH:
        for (uint32_t i = 0; i < a->n; i++) {
            if (key_hit(x, a->items[i].key) && hash_value(b, &a->items[i].val)) return TW_ENOMEM;
        }
        return TW_OK;
    case TWS_ATTR_EXTRACT: return extract(x, b, a);
    case TWS_ATTR_CONVERT: {
        long i = find(a, x->key);
        return i < 0 ? TW_OK : convert(b, &a->items[i].val, x->conv);
    }
    }
    return TW_OK;
}

static int apply_list(const tws_attributes *p, tws_batch *b, tws_attrs *a) {
    for (size_t k = 0; k < p->n; k++) {
        int rc = apply_one(&p->acts[k], b, a);
        if (rc) return rc;
    }
    return TW_OK;
}

int tws_attributes_apply(const tws_attributes *p, tws_batch *b) {
    int rc = TW_OK;
    for (uint32_t i = 0; !rc && i < b->n_spans; i++) rc = apply_list(p, b, &b->spans[i].attrs);
    for (uint32_t i = 0; !rc && i < b->n_logs; i++) rc = apply_list(p, b, &b->logs[i].attrs);
    return rc;
}
