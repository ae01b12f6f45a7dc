/*
 * labels.c — label sets, and a log record's stream labels, line and
 * structured metadata as Loki makes them (see labels.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "logs/labels.h"
#include "red/promwrite.h"

/* ---- the set ------------------------------------------------------------------------- */

void tws_labels_init(tws_labels *l) {
    memset(l, 0, sizeof *l);
    tw__buf_init(&l->text, UINT32_MAX);
}

void tws_labels_free(tws_labels *l) {
    tw__free(l->items);
    tw__buf_free(&l->text);
    memset(l, 0, sizeof *l);
}

void tws_labels_reset(tws_labels *l) {
    l->n = 0;
    tw__buf_reset(&l->text);
}

static int name_cmp(const tws_labels *l, uint32_t i, const char *name, size_t n) {
    const tws_label_ref *r = &l->items[i];
    size_t m = TW_MIN((size_t)r->name_len, n);
    int c = m ? memcmp(l->text.data + r->name_off, name, m) : 0;
    if (c) return c;
    return r->name_len < n ? -1 : r->name_len > n;
}

/* Position of name, or of where it would go (*found false). */
static uint32_t search(const tws_labels *l, const char *name, size_t n, bool *found) {
    uint32_t lo = 0, hi = l->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(l, mid, name, n);
        if (!c) {
            *found = true;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

long tws_labels_find(const tws_labels *l, const char *name, size_t name_len) {
    bool found;
    uint32_t i = search(l, name, name_len, &found);
    return found ? (long)i : -1;
}

tw_str tws_labels_get(const tws_labels *l, const char *name, size_t name_len) {
    long i = tws_labels_find(l, name, name_len);
    return i < 0 ? (tw_str){"", 0} : tws_labels_value(l, (uint32_t)i);
}

/* Copy s into the text; *off receives its offset. s may point into the
 * text itself (the buffer may move while growing). */
static int put_text(tws_labels *l, const char *s, size_t n, uint32_t *off) {
    const uint8_t *base = l->text.data;
    bool inside = base && (const uint8_t *)s >= base && (const uint8_t *)s < base + l->text.len;
    size_t rel = inside ? (size_t)((const uint8_t *)s - base) : 0;
    if (tw__buf_reserve(&l->text, n)) return l->text.failed;
    if (inside) s = (const char *)l->text.data + rel;
    *off = (uint32_t)l->text.len;
    if (n) memcpy(l->text.data + l->text.len, s, n);
    l->text.len += n;
    return 0;
}

static int put(tws_labels *l, const char *name, size_t nn, const char *value, size_t vn, bool replace) {
    bool found;
    uint32_t i = search(l, name, nn, &found);
    if (found && !replace) return 0;
    if (!vn) {
        if (found) {
            memmove(l->items + i, l->items + i + 1, (l->n - i - 1) * sizeof *l->items);
            l->n--;
        }
        return 0;
    }
    uint32_t voff = 0;
    if (found) {
        if (put_text(l, value, vn, &voff)) return l->text.failed;
        l->items[i].value_off = voff;
        l->items[i].value_len = (uint32_t)vn;
        return 0;
    }
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 8;
        tws_label_ref *it = tw__realloc(l->items, cap * sizeof *it);
        if (!it) return TW_ENOMEM;
        l->items = it;
        l->cap = cap;
    }
    uint32_t noff = 0;
    if (put_text(l, name, nn, &noff) || put_text(l, value, vn, &voff)) return l->text.failed;
    memmove(l->items + i + 1, l->items + i, (l->n - i) * sizeof *l->items);
    l->items[i] = (tws_label_ref){noff, (uint32_t)nn, voff, (uint32_t)vn};
    l->n++;
    return 0;
}

int tws_labels_set(tws_labels *l, const char *name, size_t name_len, const char *value, size_t value_len) {
    return put(l, name, name_len, value, value_len, true);
}

int tws_labels_add(tws_labels *l, const char *name, size_t name_len, const char *value, size_t value_len) {
    return put(l, name, name_len, value, value_len, false);
}

void tws_labels_del(tws_labels *l, const char *name, size_t name_len) { put(l, name, name_len, "", 0, true); }

int tws_labels_copy(tws_labels *dst, const tws_labels *src) {
    tws_labels_reset(dst);
    if (src->n > dst->cap) {
        tws_label_ref *it = tw__realloc(dst->items, src->n * sizeof *it);
        if (!it) return TW_ENOMEM;
        dst->items = it;
        dst->cap = src->n;
    }
    if (tw__buf_append(&dst->text, src->text.data, src->text.len)) return dst->text.failed;
    if (src->n) memcpy(dst->items, src->items, src->n * sizeof *src->items);
    dst->n = src->n;
    return 0;
}

static bool str_eq(tw_str a, tw_str b) { return a.len == b.len && (!a.len || !memcmp(a.ptr, b.ptr, a.len)); }

bool tws_labels_equal(const tws_labels *a, const tws_labels *b) {
    if (a->n != b->n) return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (!str_eq(tws_labels_name(a, i), tws_labels_name(b, i)) || !str_eq(tws_labels_value(a, i), tws_labels_value(b, i)))
            return false;
    return true;
}

int tws_labels_write(const tws_labels *l, tw__buf *out) {
    tw__buf_putc(out, '{');
    for (uint32_t i = 0; i < l->n; i++) {
        tw_str n = tws_labels_name(l, i), v = tws_labels_value(l, i);
        if (i) tw__buf_append(out, ", ", 2);
        tw__buf_append(out, n.ptr, n.len);
        tw__buf_append(out, "=\"", 2);
        tws_prom_escape(out, v.ptr, v.len);
        tw__buf_putc(out, '"');
    }
    tw__buf_putc(out, '}');
    return out->failed;
}

/* The inverse of tws_labels_write (a stream key back into a set). */
int tws_labels_parse(const char *s, size_t n, tws_labels *out) {
    tws_labels_reset(out);
    if (n < 2 || s[0] != '{' || s[n - 1] != '}') return TW_EPARSE;
    size_t i = 1, end = n - 1;
    tw__buf v;
    tw__buf_init(&v, UINT32_MAX);
    int rc = 0;
    while (i < end && rc == 0) {
        size_t ns = i;
        while (i < end && s[i] != '=') i++;
        if (i + 1 >= end || s[i + 1] != '"') {
            rc = TW_EPARSE;
            break;
        }
        size_t nl = i - ns;
        i += 2;
        v.len = 0;
        while (i < end && s[i] != '"') {
            char c = s[i++];
            if (c == '\\' && i < end) {
                c = s[i++];
                if (c == 'n') c = '\n';
            }
            tw__buf_putc(&v, c);
        }
        if (i >= end) {
            rc = TW_EPARSE;
            break;
        }
        i++; /* past the closing quote */
        rc = v.failed ? TW_ENOMEM : tws_labels_set(out, s + ns, nl, v.len ? (const char *)v.data : "", v.len);
        if (rc == 0 && i < end) {
            if (i + 1 >= end || s[i] != ',' || s[i + 1] != ' ') rc = TW_EPARSE;
            i += 2;
        }
    }
    tw__buf_free(&v);
    return rc;
}

/* ---- values as text ------------------------------------------------------------------ */

static int cmp_kv(const void *x, const void *y) {
    const tws_kv *a = *(const tws_kv *const *)x, *b = *(const tws_kv *const *)y;
    size_t m = TW_MIN(a->key.len, b->key.len);
    int c = m ? memcmp(a->key.ptr, b->key.ptr, m) : 0;
    return c ? c : (a->key.len > b->key.len) - (a->key.len < b->key.len);
}

static void put_json(tw__json *j, const tws_value *v) {
    switch (v->type) {
    case TWS_EMPTY: tw__json_null(j); break;
    case TWS_STRING: tw__json_string(j, v->u.s.ptr, v->u.s.len); break;
    case TWS_BOOL: tw__json_bool(j, v->u.b); break;
    case TWS_INT: tw__json_int64(j, v->u.i); break;
    case TWS_DOUBLE: tw__json_double(j, v->u.d); break;
    case TWS_BYTES: tw__json_base64(j, (const uint8_t *)v->u.s.ptr, v->u.s.len); break;
    case TWS_ARRAY:
        tw__json_begin_array(j);
        for (uint32_t i = 0; i < v->n; i++) put_json(j, &v->u.arr[i]);
        tw__json_end_array(j);
        break;
    case TWS_KVLIST: {
        /* Members by key, as encoding/json writes a Go map. */
        const tws_kv *small[16], **order = v->n <= 16 ? small : tw__malloc(v->n * sizeof *order);
        if (!order) {
            if (!j->b->failed) j->b->failed = TW_ENOMEM;
            return;
        }
        for (uint32_t i = 0; i < v->n; i++) order[i] = &v->u.kv[i];
        qsort(order, v->n, sizeof *order, cmp_kv);
        tw__json_begin_object(j);
        for (uint32_t i = 0; i < v->n; i++) {
            tw__json_key(j, order[i]->key.ptr, order[i]->key.len);
            put_json(j, &order[i]->val);
        }
        tw__json_end_object(j);
        if (order != small) tw__free(order);
        break;
    }
    }
}

int tws_value_text(const tws_value *v, tw__buf *out) {
    if (v->type == TWS_STRING) return tw__buf_append(out, v->u.s.ptr, v->u.s.len) ? out->failed : 0;
    if (v->type == TWS_EMPTY) return out->failed;
    size_t start = out->len;
    tw__json j;
    tw__json_init(&j, out);
    put_json(&j, v);
    /* A scalar that JSON writes quoted (bytes; NaN and the infinities) loses its quotes. */
    if (!out->failed && (v->type == TWS_BYTES || v->type == TWS_DOUBLE) && out->len - start >= 2 &&
        out->data[start] == '"') {
        memmove(out->data + start, out->data + start + 1, out->len - start - 2);
        out->len -= 2;
    }
    return out->failed;
}

/* ---- names ----------------------------------------------------------------------------- */

static bool is_alnum_(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

void tws_label_name_normalize(const char *s, size_t n, tw__buf *out) {
    size_t start = out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_alnum_(c)) {
            tw__buf_putc(out, c);
            continue;
        }
        tw__buf_putc(out, '_'); /* one per character: skip a UTF-8 sequence's continuation bytes */
        if (c >= 0xC0)
            while (i + 1 < n && ((unsigned char)s[i + 1] & 0xC0) == 0x80) i++;
    }
    if (out->failed || out->len == start) return;
    const char *pre = NULL;
    uint8_t first = out->data[start];
    if (first >= '0' && first <= '9') pre = "key_";
    else if (first == '_' && !(out->len - start > 1 && out->data[start + 1] == '_')) pre = "key";
    if (!pre) return;
    size_t pn = strlen(pre);
    if (tw__buf_reserve(out, pn)) return;
    memmove(out->data + start + pn, out->data + start, out->len - start);
    memcpy(out->data + start, pre, pn);
    out->len += pn;
}

const char *const TWS_LOKI_INDEX_ATTRS[] = {
    "service.name", "service.namespace", "service.instance.id", "deployment.environment",
    "deployment.environment.name", "cloud.region", "cloud.availability_zone", "k8s.cluster.name",
    "k8s.namespace.name", "k8s.pod.name", "k8s.container.name", "container.name", "k8s.replicaset.name",
    "k8s.deployment.name", "k8s.statefulset.name", "k8s.daemonset.name", "k8s.cronjob.name", "k8s.job.name",
    NULL,
};

/* Loki's default discover_service_name, in its order. */
static const char *const DISCOVER[] = {
    "service", "app", "application", "app_name", "name", "app_kubernetes_io_name", "container",
    "container_name", "k8s_container_name", "component", "workload", "job", "k8s_job_name", NULL,
};

static bool in_list(const char *const *list, const char *s, size_t n) {
    for (; *list; list++)
        if (strlen(*list) == n && !memcmp(*list, s, n)) return true;
    return false;
}

/* ---- attributes to labels ------------------------------------------------------------ */

typedef struct sink {
    tws_labels *out;
    bool replace;  /* set (stream labels) or add (metadata: first wins) */
    tw__buf name;  /* the flattened, normalized name being built */
    tw__buf value; /* scratch for a value's text */
    tw__buf raw;   /* scratch: prefix_key before normalizing */
    const char *const *discover; /* non-NULL: note the first label named in it */
    tw__buf found;               /* ... its value */
    bool have_found;
} sink;

static void sink_init(sink *k, tws_labels *out, bool replace) {
    memset(k, 0, sizeof *k);
    k->out = out;
    k->replace = replace;
    tw__buf_init(&k->name, 0);
    tw__buf_init(&k->value, 0);
    tw__buf_init(&k->raw, 0);
    tw__buf_init(&k->found, 0);
}

static int sink_done(sink *k, int rc) {
    if (!rc) rc = k->name.failed ? k->name.failed : k->value.failed ? k->value.failed : k->found.failed;
    tw__buf_free(&k->name);
    tw__buf_free(&k->value);
    tw__buf_free(&k->raw);
    tw__buf_free(&k->found);
    return rc;
}

static int emit(sink *k, const char *name, size_t nn, const char *val, size_t vn) {
    if (k->discover && !k->have_found && vn && in_list(k->discover, name, nn)) {
        k->have_found = true;
        tw__buf_append(&k->found, val, vn);
    }
    return put(k->out, name, nn, val, vn, k->replace);
}

/*
 * Attribute key = v under the (normalized) prefix in k->name: a kvlist
 * flattens into prefix_key_member labels, as Loki's attributeToLabels.
 */
static int flatten(sink *k, const char *key, size_t kn, const tws_value *v, int depth) {
    size_t mark = k->name.len;
    /* NormalizeLabel(prefix + "_" + key): the prefix is already normal */
    tw__buf *raw = &k->raw;
    tw__buf_reset(raw);
    if (mark) {
        tw__buf_append(raw, k->name.data, mark);
        tw__buf_putc(raw, '_');
    }
    tw__buf_append(raw, key, kn);
    if (raw->failed) return raw->failed;
    k->name.len = 0;
    tws_label_name_normalize((const char *)raw->data, raw->len, &k->name);
    int rc = 0;
    if (v->type == TWS_KVLIST && depth < 64) {
        size_t here = k->name.len;
        for (uint32_t i = 0; i < v->n && !rc; i++) {
            k->name.len = here;
            rc = flatten(k, v->u.kv[i].key.ptr, v->u.kv[i].key.len, &v->u.kv[i].val, depth + 1);
        }
    } else {
        tw__buf_reset(&k->value);
        if ((rc = tws_value_text(v, &k->value))) return rc;
        if (k->name.failed) return k->name.failed;
        rc = emit(k, (const char *)k->name.data, k->name.len, (const char *)k->value.data, k->value.len);
    }
    k->name.len = mark; /* the caller's prefix back (reset by the caller when it had none) */
    return rc;
}

static int flatten_top(sink *k, const tws_kv *kv) {
    tw__buf_reset(&k->name);
    return flatten(k, kv->key.ptr, kv->key.len, &kv->val, 0);
}

/* A Loki push: each attribute as a label named as it is. */
static int verbatim(sink *k, const tws_attrs *a) {
    int rc = 0;
    for (uint32_t i = 0; i < a->n && !rc; i++) {
        tw__buf_reset(&k->value);
        if ((rc = tws_value_text(&a->items[i].val, &k->value))) break;
        rc = emit(k, a->items[i].key.ptr, a->items[i].key.len, (const char *)k->value.data, k->value.len);
    }
    return rc;
}

static const char *const *index_list(const tws_label_config *cfg) {
    return cfg && cfg->index_attrs ? cfg->index_attrs : TWS_LOKI_INDEX_ATTRS;
}

int tws_resource_labels(const tws_batch *b, uint32_t res, const tws_label_config *cfg, tws_labels *out) {
    tws_labels_reset(out);
    if (res >= b->n_resources) return 0;
    const tws_resource *r = &b->resources[res];
    sink k;
    sink_init(&k, out, true);
    int rc = 0;
    if (r->labels_verbatim) return sink_done(&k, verbatim(&k, &r->attrs));
    const char *const *idx = index_list(cfg);
    k.discover = DISCOVER;
    for (uint32_t i = 0; i < r->attrs.n && !rc; i++)
        if (in_list(idx, r->attrs.items[i].key.ptr, r->attrs.items[i].key.len)) rc = flatten_top(&k, &r->attrs.items[i]);
    if (!rc) {
        const tws_value *svc = tws_attrs_find(&r->attrs, "service.name");
        tw__buf_reset(&k.value);
        if (svc) rc = tws_value_text(svc, &k.value);
        if (!rc && !k.value.len) {
            /* no service.name: Loki's service-name discovery, then its default */
            if (k.have_found) rc = put(out, "service_name", 12, (const char *)k.found.data, k.found.len, true);
            else rc = put(out, "service_name", 12, "unknown_service", 15, true);
        }
    }
    return sink_done(&k, rc);
}

static const char *const LEVELS[] = {"trace", "debug", "info", "warn", "error", "fatal"};

int tws_log_labels(const tws_batch *b, uint32_t i, const tws_label_config *cfg, tws_labels *out) {
    tws_labels_reset(out);
    if (i >= b->n_logs) return 0;
    const tws_log *lg = &b->logs[i];
    uint32_t res = lg->scope_idx < b->n_scopes ? b->scopes[lg->scope_idx].resource_idx : UINT32_MAX;
    int rc = tws_resource_labels(b, res, cfg, out);
    if (rc || res >= b->n_resources || b->resources[res].labels_verbatim) return rc;
    if (lg->severity_text.len) {
        char small[32];
        char *lower = lg->severity_text.len <= sizeof small ? small : tw__malloc(lg->severity_text.len);
        if (!lower) return TW_ENOMEM;
        for (size_t k = 0; k < lg->severity_text.len; k++) {
            char c = lg->severity_text.ptr[k];
            lower[k] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
        }
        rc = tws_labels_set(out, "level", 5, lower, lg->severity_text.len);
        if (lower != small) tw__free(lower);
    } else if (lg->severity >= 1 && lg->severity <= 24) {
        const char *lv = LEVELS[(lg->severity - 1) / 4];
        rc = tws_labels_set(out, "level", 5, lv, strlen(lv));
    }
    return rc;
}

static int meta_u64(sink *k, const char *name, uint64_t v) {
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRIu64, v);
    return emit(k, name, strlen(name), num, (size_t)n);
}

int tws_log_metadata(const tws_batch *b, uint32_t i, const tws_label_config *cfg, tws_labels *out) {
    tws_labels_reset(out);
    if (i >= b->n_logs) return 0;
    const tws_log *lg = &b->logs[i];
    const tws_scope *sc = lg->scope_idx < b->n_scopes ? &b->scopes[lg->scope_idx] : NULL;
    const tws_resource *r = sc && sc->resource_idx < b->n_resources ? &b->resources[sc->resource_idx] : NULL;
    sink k;
    sink_init(&k, out, false);
    if (r && r->labels_verbatim) return sink_done(&k, verbatim(&k, &lg->attrs));
    int rc = 0;
    for (uint32_t a = 0; a < lg->attrs.n && !rc; a++) rc = flatten_top(&k, &lg->attrs.items[a]);
    if (!rc && lg->time_ns && lg->observed_ns) rc = meta_u64(&k, "observed_timestamp", lg->observed_ns);
    if (!rc && lg->severity) rc = meta_u64(&k, "severity_number", lg->severity);
    if (!rc) rc = emit(&k, "severity_text", 13, lg->severity_text.ptr, lg->severity_text.len);
    if (!rc && lg->attrs.dropped) rc = meta_u64(&k, "dropped_attributes_count", lg->attrs.dropped);
    if (!rc && lg->flags) rc = meta_u64(&k, "flags", lg->flags);
    char hex[32];
    if (!rc && lg->has_trace_id) {
        tw__hex_encode(lg->trace_id, 16, hex);
        rc = emit(&k, "trace_id", 8, hex, 32);
    }
    if (!rc && lg->has_span_id) {
        tw__hex_encode(lg->span_id, 8, hex);
        rc = emit(&k, "span_id", 7, hex, 16);
    }
    if (r) {
        const char *const *idx = index_list(cfg);
        for (uint32_t a = 0; a < r->attrs.n && !rc; a++)
            if (!in_list(idx, r->attrs.items[a].key.ptr, r->attrs.items[a].key.len)) rc = flatten_top(&k, &r->attrs.items[a]);
    }
    if (sc) {
        for (uint32_t a = 0; a < sc->attrs.n && !rc; a++) rc = flatten_top(&k, &sc->attrs.items[a]);
        if (!rc) rc = emit(&k, "scope_name", 10, sc->name.ptr, sc->name.len);
        if (!rc) rc = emit(&k, "scope_version", 13, sc->version.ptr, sc->version.len);
        if (!rc && sc->attrs.dropped) rc = meta_u64(&k, "scope_dropped_attributes_count", sc->attrs.dropped);
    }
    return sink_done(&k, rc);
}

int tws_log_line(const tws_batch *b, uint32_t i, tw__buf *out) {
    if (i >= b->n_logs) return out->failed;
    return tws_value_text(&b->logs[i].body, out);
}
