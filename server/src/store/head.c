/*
 * head.c — in-memory index of the newest spans (see head.h).
 *
 * Batches are kept whole (they own the span data); an open-addressing hash
 * table maps (tenant, trace id) to a trace entry listing (batch, span)
 * references, hashed over the whole trace id (not every client's ids are
 * random in their first bytes).
 */
#include <stdlib.h>

#include "store/head.h"

typedef struct span_ref {
    uint32_t batch, span;
} span_ref;

typedef struct trace_entry {
    uint8_t id[16];
    uint16_t tenant; /* index + 1; 0 marks an empty slot */
    uint32_t n, cap;
    span_ref *refs;
    uint64_t bytes;
} trace_entry;

struct tws_head {
    tws_head_options o;
    tws_batch *batches;
    uint32_t n_batches, cap_batches;
    char **tenants;
    uint16_t n_tenants;
    trace_entry *table;
    size_t table_cap, n_traces; /* table_cap is a power of two */
    uint64_t bytes, spans;
};

int tws_head_new(const tws_head_options *o, tws_head **out) {
    tws_head *h = tw__calloc(1, sizeof *h);
    if (!h) return TW_ENOMEM;
    if (o) h->o = *o;
    if (!h->o.max_bytes) h->o.max_bytes = 1ull << 30;
    if (!h->o.max_trace_bytes) h->o.max_trace_bytes = 5000000;
    h->table_cap = 1024;
    h->table = tw__calloc(h->table_cap, sizeof *h->table);
    if (!h->table) {
        tw__free(h);
        return TW_ENOMEM;
    }
    *out = h;
    return TW_OK;
}

void tws_head_free(tws_head *h) {
    if (!h) return;
    for (size_t i = 0; i < h->table_cap; i++) tw__free(h->table[i].refs);
    tw__free(h->table);
    for (uint32_t i = 0; i < h->n_batches; i++) tws_batch_free(&h->batches[i]);
    tw__free(h->batches);
    for (uint16_t i = 0; i < h->n_tenants; i++) tw__free(h->tenants[i]);
    tw__free(h->tenants);
    tw__free(h);
}

/* ---- tenants and the trace table -------------------------------------------------- */

/* Index + 1 of `tenant`, adding it when `add`; 0 when absent (or no memory). */
static uint16_t tenant_id(tws_head *h, const char *tenant, bool add) {
    for (uint16_t i = 0; i < h->n_tenants; i++)
        if (strcmp(h->tenants[i], tenant) == 0) return (uint16_t)(i + 1);
    if (!add || h->n_tenants == UINT16_MAX - 1) return 0;
    char **t = tw__realloc(h->tenants, (h->n_tenants + 1u) * sizeof *t);
    if (!t) return 0;
    h->tenants = t;
    if (!(t[h->n_tenants] = tw__strndup(tenant, strlen(tenant)))) return 0;
    return ++h->n_tenants;
}

/* All 16 bytes count: 64-bit trace ids (Zipkin, Jaeger) arrive with eight
 * zero bytes in front, and some clients vary only a few bytes. */
static size_t slot_hash(const uint8_t id[16], uint16_t tenant) {
    return (size_t)tw__mix64(tw__load_le64(id) * 0x9e3779b97f4a7c15ull ^ tw__load_le64(id + 8) ^ (uint64_t)tenant << 48);
}

static trace_entry *lookup(tws_head *h, const uint8_t id[16], uint16_t tenant) {
    size_t mask = h->table_cap - 1;
    for (size_t i = slot_hash(id, tenant) & mask;; i = (i + 1) & mask) {
        trace_entry *e = &h->table[i];
        if (!e->tenant) return NULL;
        if (e->tenant == tenant && memcmp(e->id, id, 16) == 0) return e;
    }
}

static int grow_table(tws_head *h) {
    size_t cap = h->table_cap * 2;
    trace_entry *t = tw__calloc(cap, sizeof *t);
    if (!t) return TW_ENOMEM;
    for (size_t i = 0; i < h->table_cap; i++) {
        trace_entry *e = &h->table[i];
        if (!e->tenant) continue;
        size_t j = slot_hash(e->id, e->tenant) & (cap - 1);
        while (t[j].tenant) j = (j + 1) & (cap - 1);
        t[j] = *e;
    }
    tw__free(h->table);
    h->table = t;
    h->table_cap = cap;
    return TW_OK;
}

static trace_entry *lookup_or_add(tws_head *h, const uint8_t id[16], uint16_t tenant) {
    trace_entry *e = lookup(h, id, tenant);
    if (e) return e;
    if ((h->n_traces + 1) * 4 > h->table_cap * 3 && grow_table(h)) return NULL;
    size_t mask = h->table_cap - 1, i = slot_hash(id, tenant) & mask;
    while (h->table[i].tenant) i = (i + 1) & mask;
    e = &h->table[i];
    memcpy(e->id, id, 16);
    e->tenant = tenant;
    h->n_traces++;
    return e;
}

/* ---- sizes and limits --------------------------------------------------------------- */

static uint64_t value_size(const tws_value *v, int depth) {
    switch (v->type) {
    case TWS_STRING:
    case TWS_BYTES: return 2 + v->u.s.len;
    case TWS_ARRAY: {
        uint64_t n = 4;
        for (uint32_t i = 0; i < v->n && depth < 32; i++) n += value_size(&v->u.arr[i], depth + 1);
        return n;
    }
    case TWS_KVLIST: {
        uint64_t n = 4;
        for (uint32_t i = 0; i < v->n && depth < 32; i++)
            n += 4 + v->u.kv[i].key.len + value_size(&v->u.kv[i].val, depth + 1);
        return n;
    }
    default: return 10;
    }
}

static uint64_t attrs_size(const tws_attrs *a) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < a->n; i++) n += 4 + a->items[i].key.len + value_size(&a->items[i].val, 0);
    return n;
}

uint64_t tws_span_size_estimate(const tws_span *s) {
    uint64_t n = 16 + 10 + 10 + 10 + 18 + s->name.len + s->trace_state.len + s->status_message.len + 12;
    n += attrs_size(&s->attrs);
    for (uint32_t i = 0; i < s->n_events; i++) n += 16 + s->events[i].name.len + attrs_size(&s->events[i].attrs);
    for (uint32_t i = 0; i < s->n_links; i++) n += 34 + s->links[i].trace_state.len + attrs_size(&s->links[i].attrs);
    return n;
}

/* Per-batch running totals by trace, in a small open-addressing table. */
typedef struct batch_trace {
    const uint8_t *id; /* NULL: empty slot */
    uint64_t bytes;    /* what the head already holds plus what this batch adds */
} batch_trace;

uint32_t tws_head_apply_limits(tws_head *h, const char *tenant, tws_batch *b) {
    uint16_t t = tenant_id(h, tenant, false);
    size_t cap = 16;
    while (cap < (size_t)b->n_spans * 2) cap *= 2;
    batch_trace *tab = tw__calloc(cap, sizeof *tab);
    if (!tab) return 0; /* no memory to check: the per-trace limit is not applied to this batch */
    uint32_t marked = 0;
    for (uint32_t i = 0; i < b->n_spans; i++) {
        tws_span *s = &b->spans[i];
        if (s->reject) continue;
        size_t j = slot_hash(s->trace_id, 0) & (cap - 1);
        while (tab[j].id && memcmp(tab[j].id, s->trace_id, 16) != 0) j = (j + 1) & (cap - 1);
        if (!tab[j].id) {
            const trace_entry *e = t ? lookup(h, s->trace_id, t) : NULL;
            tab[j].id = s->trace_id;
            tab[j].bytes = e ? e->bytes : 0;
        }
        uint64_t size = tws_span_size_estimate(s);
        if (tab[j].bytes + size > h->o.max_trace_bytes) {
            s->reject = TWS_REJECT_LIMIT;
            b->n_rejected++;
            marked++;
        } else {
            tab[j].bytes += size;
        }
    }
    tw__free(tab);
    return marked;
}

bool tws_head_has_room(const tws_head *h, uint64_t bytes) { return h->bytes + bytes <= h->o.max_bytes; }

int tws_head_add(tws_head *h, const char *tenant, tws_batch *b, uint64_t bytes) {
    if (!tws_head_has_room(h, bytes)) return TW_EFULL;
    uint16_t t = tenant_id(h, tenant, true);
    if (!t) return TW_ENOMEM;
    if (h->n_batches == h->cap_batches) {
        uint32_t cap = h->cap_batches ? h->cap_batches * 2 : 64;
        tws_batch *nb = tw__realloc(h->batches, cap * sizeof *nb);
        if (!nb) return TW_ENOMEM;
        h->batches = nb;
        h->cap_batches = cap;
    }
    uint32_t bi = h->n_batches, i;
    int rc = TW_OK;
    for (i = 0; i < b->n_spans && rc == TW_OK; i++) {
        const tws_span *s = &b->spans[i];
        if (s->reject) continue;
        trace_entry *e = lookup_or_add(h, s->trace_id, t);
        if (!e) {
            rc = TW_ENOMEM;
            break;
        }
        if (e->n == e->cap) {
            uint32_t cap = e->cap ? e->cap * 2 : 8;
            span_ref *r = tw__realloc(e->refs, cap * sizeof *r);
            if (!r) {
                rc = TW_ENOMEM;
                break;
            }
            e->refs = r;
            e->cap = cap;
        }
        e->refs[e->n++] = (span_ref){bi, i};
        e->bytes += tws_span_size_estimate(s);
    }
    if (rc) { /* roll back: each span indexed so far is the last ref of its trace */
        while (i-- > 0) {
            const tws_span *s = &b->spans[i];
            trace_entry *e = s->reject ? NULL : lookup(h, s->trace_id, t);
            if (!e || !e->n || e->refs[e->n - 1].batch != bi) continue;
            e->n--;
            e->bytes -= tws_span_size_estimate(s);
        }
        return rc;
    }
    h->spans += b->n_spans - b->n_rejected;
    h->batches[bi] = *b;
    h->n_batches++;
    h->bytes += bytes;
    tws_batch_init(b);
    return TW_OK;
}

/* ---- lookup -------------------------------------------------------------------------- */

static int cmp_ref(const void *x, const void *y) {
    const span_ref *a = x, *b = y;
    if (a->batch != b->batch) return a->batch < b->batch ? -1 : 1;
    return a->span < b->span ? -1 : a->span > b->span;
}

int tws_head_find(tws_head *h, const char *tenant, const uint8_t trace_id[16], uint64_t start_ns,
                  uint64_t end_ns, tws_head_result *out) {
    memset(out, 0, sizeof *out);
    uint16_t t = tenant_id(h, tenant, false);
    const trace_entry *e = t ? lookup(h, trace_id, t) : NULL;
    if (!e || e->n == 0) return TW_ENOTFOUND;
    /* The trace's spans in the time range, one selection per batch. */
    span_ref *refs = tw__malloc(e->n * sizeof *refs);
    uint32_t *idx = tw__malloc(e->n * sizeof *idx);
    tws_selection *sel = tw__calloc(e->n, sizeof *sel);
    int rc = refs && idx && sel ? TW_OK : TW_ENOMEM;
    size_t n = 0, n_sel = 0;
    for (uint32_t i = 0; rc == TW_OK && i < e->n; i++) {
        const tws_span *s = &h->batches[e->refs[i].batch].spans[e->refs[i].span];
        if (!end_ns || (s->start_ns <= end_ns && s->end_ns >= start_ns)) refs[n++] = e->refs[i];
    }
    if (rc == TW_OK) qsort(refs, n, sizeof *refs, cmp_ref);
    for (size_t i = 0; rc == TW_OK && i < n; i++) {
        if (i == 0 || refs[i].batch != refs[i - 1].batch) {
            sel[n_sel].batch = &h->batches[refs[i].batch];
            sel[n_sel].idx = &idx[i];
            n_sel++;
        }
        idx[i] = refs[i].span;
        sel[n_sel - 1].n++;
    }
    if (rc == TW_OK) rc = tws_trace_merge(sel, n_sel, out);
    tw__free(refs);
    tw__free(idx);
    tw__free(sel);
    return rc;
}

void tws_head_result_free(tws_head_result *r) { tws_trace_result_free(r); }

size_t tws_head_n_tenants(const tws_head *h) { return h->n_tenants; }
const char *tws_head_tenant(const tws_head *h, size_t i) { return i < h->n_tenants ? h->tenants[i] : NULL; }

int tws_head_tenant_spans(const tws_head *h, size_t tenant, tws_span_ref **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    size_t n = 0;
    for (size_t i = 0; i < h->table_cap; i++)
        if (h->table[i].tenant == tenant + 1) n += h->table[i].n;
    if (n == 0) return TW_OK;
    tws_span_ref *r = tw__malloc(n * sizeof *r);
    if (!r) return TW_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < h->table_cap; i++) {
        const trace_entry *e = &h->table[i];
        if (e->tenant != tenant + 1) continue;
        for (uint32_t j = 0; j < e->n; j++) {
            const tws_batch *b = &h->batches[e->refs[j].batch];
            r[k++] = (tws_span_ref){b, &b->spans[e->refs[j].span]};
        }
    }
    *out = r;
    *n_out = n;
    return TW_OK;
}

void tws_head_get_stats(const tws_head *h, tws_head_stats *out) {
    out->bytes = h->bytes;
    out->batches = h->n_batches;
    out->spans = h->spans;
    out->traces = h->n_traces;
    out->tenants = h->n_tenants;
}
