/*
 * tailsample.c — the tail_sampling processor (see tailsample.h).
 *
 * State: a hash table of the traces waiting for a decision, chained, keyed
 * by (trace id, tenant); the same traces on a list in arrival order, so the
 * oldest is at the front (its wait ends first, and it is the one evicted
 * when num_traces is reached); per trace the (batch, span index) pairs of
 * its spans; the held batches on a list with a count of spans still
 * waiting; two decision caches, each a ring of keys with a chained index,
 * so that the oldest decision is forgotten first.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "pipeline/tailsample.h"

const char *const tws_ts_type_names[TWS_TS_N_TYPES] = {
    "always_sample",     "latency",    "status_code",   "probabilistic", "string_attribute",
    "numeric_attribute", "boolean_attribute", "span_count", "rate_limiting", "trace_state",
    "and",               "composite",  "drop",          "not",
};

void tws_ts_policy_free(tws_ts_policy *p) {
    if (!p) return;
    free(p->name);
    free(p->salt);
    free(p->key);
    for (uint32_t i = 0; i < p->n_values; i++) {
        free(p->values[i]);
        if (p->regexes) tws_regex_free(p->regexes[i]);
    }
    free(p->values);
    free(p->regexes);
    for (uint32_t i = 0; i < p->n_subs; i++) tws_ts_policy_free(&p->subs[i]);
    free(p->subs);
    free(p->rate_percent);
    memset(p, 0, sizeof *p);
}

/* ---- state ---------------------------------------------------------------------------- */

typedef struct held {
    tws_batch b;
    tws_ts_batch_info info;
    uint32_t pending; /* spans without a decision, plus one while tws_tailsampler_add runs */
    struct held *prev, *next;
} held;

typedef struct sref {
    held *h;
    uint32_t idx;
} sref;

typedef struct key {
    uint8_t id[16];
    uint32_t tenant;
} key;

typedef struct trace {
    key k;
    uint64_t first_ms;
    sref *refs;
    uint32_t n, cap;
    struct trace *hnext;        /* hash chain */
    struct trace *prev, *next;  /* arrival order */
} trace;

/* A bounded set of keys: the oldest goes when a new one does not fit. */
typedef struct cache {
    key *ring;
    int32_t *chain; /* per ring slot: the next slot in its bucket, -1 ends */
    int32_t *bucket;
    uint32_t cap, n, pos, mask;
} cache;

/* Per policy node, what rate limits need across decisions. */
typedef struct pstate {
    int64_t second, spent;
    struct pstate *subs;
    uint32_t n_subs;
} pstate;

struct tws_tailsampler {
    tws_ts_config c;
    tws_ts_emit_fn emit;
    void *user;
    trace **table;
    uint32_t table_mask, n_traces;
    trace *oldest, *newest;
    held *held_first, *held_last;
    cache sampled, not_sampled;
    char **tenants;
    uint32_t n_tenants;
    pstate *states; /* one per top-level policy */
    tws_ts_policy_stats *pstats;
    tws_ts_stats st;
};

enum verdict { NOT_SAMPLED, SAMPLED, DROPPED };

static uint64_t key_hash(const key *k) { return XXH3_64bits(k, sizeof *k); }
static bool key_eq(const key *a, const key *b) { return memcmp(a, b, sizeof *a) == 0; }

static int cache_init(cache *c, uint32_t cap) {
    uint32_t nb = 16;
    while (nb < cap) nb <<= 1;
    c->cap = cap;
    c->mask = nb - 1;
    c->ring = calloc(cap, sizeof *c->ring);
    c->chain = malloc(cap * sizeof *c->chain);
    c->bucket = malloc(nb * sizeof *c->bucket);
    if (!c->ring || !c->chain || !c->bucket) return TW_ENOMEM;
    memset(c->bucket, 0xff, nb * sizeof *c->bucket);
    return TW_OK;
}

static void cache_free(cache *c) {
    free(c->ring);
    free(c->chain);
    free(c->bucket);
}

static bool cache_has(const cache *c, const key *k) {
    for (int32_t i = c->bucket[key_hash(k) & c->mask]; i >= 0; i = c->chain[i])
        if (key_eq(&c->ring[i], k)) return true;
    return false;
}

static void cache_put(cache *c, const key *k) {
    if (cache_has(c, k)) return;
    uint32_t slot = c->pos;
    if (c->n == c->cap) { /* forget the oldest: unlink slot from its bucket */
        int32_t *p = &c->bucket[key_hash(&c->ring[slot]) & c->mask];
        while (*p != (int32_t)slot) p = &c->chain[*p];
        *p = c->chain[slot];
    } else {
        c->n++;
    }
    c->ring[slot] = *k;
    int32_t *b = &c->bucket[key_hash(k) & c->mask];
    c->chain[slot] = *b;
    *b = (int32_t)slot;
    c->pos = (slot + 1) % c->cap;
}

static int pstate_new(const tws_ts_policy *p, pstate *s) {
    memset(s, 0, sizeof *s);
    if (!p->n_subs) return TW_OK;
    s->subs = calloc(p->n_subs, sizeof *s->subs);
    if (!s->subs) return TW_ENOMEM;
    s->n_subs = p->n_subs;
    for (uint32_t i = 0; i < p->n_subs; i++)
        if (pstate_new(&p->subs[i], &s->subs[i])) return TW_ENOMEM;
    return TW_OK;
}

static void pstate_free(pstate *s) {
    for (uint32_t i = 0; i < s->n_subs; i++) pstate_free(&s->subs[i]);
    free(s->subs);
}

int tws_tailsampler_new(const tws_ts_config *c, tws_ts_emit_fn emit, void *user, tws_tailsampler **out) {
    tws_tailsampler *t = calloc(1, sizeof *t);
    if (!t) return TW_ENOMEM;
    t->c = *c;
    if (!t->c.num_traces) t->c.num_traces = 50000;
    if (!t->c.sampled_cache) t->c.sampled_cache = t->c.num_traces;
    if (!t->c.not_sampled_cache) t->c.not_sampled_cache = t->c.num_traces;
    t->emit = emit;
    t->user = user;
    t->table_mask = 1023;
    t->table = calloc(t->table_mask + 1, sizeof *t->table);
    t->states = calloc(c->n_policies ? c->n_policies : 1, sizeof *t->states);
    t->pstats = calloc(c->n_policies ? c->n_policies : 1, sizeof *t->pstats);
    int rc = t->table && t->states && t->pstats ? TW_OK : TW_ENOMEM;
    if (rc == TW_OK) rc = cache_init(&t->sampled, t->c.sampled_cache);
    if (rc == TW_OK) rc = cache_init(&t->not_sampled, t->c.not_sampled_cache);
    for (uint32_t i = 0; rc == TW_OK && i < c->n_policies; i++) rc = pstate_new(&c->policies[i], &t->states[i]);
    if (rc != TW_OK) {
        tws_tailsampler_free(t);
        return rc;
    }
    *out = t;
    return TW_OK;
}

void tws_tailsampler_free(tws_tailsampler *t) {
    if (!t) return;
    for (trace *tr = t->oldest, *nx; tr; tr = nx) {
        nx = tr->next;
        free(tr->refs);
        free(tr);
    }
    for (held *h = t->held_first, *nx; h; h = nx) {
        nx = h->next;
        tws_batch_free(&h->b);
        free(h);
    }
    free(t->table);
    cache_free(&t->sampled);
    cache_free(&t->not_sampled);
    for (uint32_t i = 0; i < t->n_tenants; i++) free(t->tenants[i]);
    free(t->tenants);
    if (t->states)
        for (uint32_t i = 0; i < t->c.n_policies; i++) pstate_free(&t->states[i]);
    free(t->states);
    free(t->pstats);
    free(t);
}

/* ---- policies ------------------------------------------------------------------------- */

static const tws_span *ref_span(const sref *r) { return &r->h->b.spans[r->idx]; }

static const tws_attrs *ref_resource(const sref *r) {
    const tws_batch *b = &r->h->b;
    const tws_span *s = ref_span(r);
    return &b->resources[b->scopes[s->scope_idx].resource_idx].attrs;
}

static bool string_match(const tws_ts_policy *p, const tws_value *v) {
    if (!v || v->type != TWS_STRING) return false;
    for (uint32_t i = 0; i < p->n_values; i++) {
        if (p->regexes ? tws_regex_match(p->regexes[i], v->u.s.ptr, v->u.s.len)
                       : v->u.s.len == strlen(p->values[i]) && !memcmp(v->u.s.ptr, p->values[i], v->u.s.len))
            return true;
    }
    return false;
}

static bool numeric_match(const tws_ts_policy *p, const tws_value *v) {
    double x;
    if (!v) return false;
    if (v->type == TWS_INT) x = (double)v->u.i;
    else if (v->type == TWS_DOUBLE) x = v->u.d;
    else return false;
    return (!p->has_min || x >= p->min_value) && (!p->has_max || x <= p->max_value);
}

static bool bool_match(const tws_ts_policy *p, const tws_value *v) {
    return v && v->type == TWS_BOOL && v->u.b == p->bool_value;
}

/* Some span or resource of the trace has attribute p->key satisfying `ok`. */
static bool any_attr(const trace *tr, const tws_ts_policy *p, bool (*ok)(const tws_ts_policy *, const tws_value *)) {
    const tws_attrs *last_res = NULL;
    for (uint32_t i = 0; i < tr->n; i++) {
        const tws_attrs *res = ref_resource(&tr->refs[i]);
        if (res != last_res && ok(p, tws_attrs_find(res, p->key))) return true;
        last_res = res;
        if (ok(p, tws_attrs_find(&ref_span(&tr->refs[i])->attrs, p->key))) return true;
    }
    return false;
}

/* Does the W3C tracestate `ts` hold key=value with a value in p->values? */
static bool trace_state_match(const tws_ts_policy *p, tw_str ts) {
    size_t kl = strlen(p->key), i = 0, n = ts.len;
    while (i < n) {
        size_t e = i;
        while (e < n && ts.ptr[e] != ',') e++;
        size_t a = i, z = e;
        while (a < z && (ts.ptr[a] == ' ' || ts.ptr[a] == '\t')) a++;
        while (z > a && (ts.ptr[z - 1] == ' ' || ts.ptr[z - 1] == '\t')) z--;
        if (z - a > kl && ts.ptr[a + kl] == '=' && !memcmp(ts.ptr + a, p->key, kl)) {
            const char *v = ts.ptr + a + kl + 1;
            size_t vl = z - a - kl - 1;
            for (uint32_t k = 0; k < p->n_values; k++)
                if (strlen(p->values[k]) == vl && !memcmp(p->values[k], v, vl)) return true;
        }
        i = e + 1;
    }
    return false;
}

/* Take n spans from a per-second budget of `limit`. */
static bool budget_take(pstate *s, int64_t limit, int64_t n, uint64_t now_ms) {
    int64_t sec = (int64_t)(now_ms / 1000);
    if (s->second != sec) s->second = sec, s->spent = 0;
    if (s->spent + n > limit) return false;
    s->spent += n;
    return true;
}

static enum verdict eval(const tws_ts_policy *p, pstate *s, const trace *tr, uint64_t now_ms);

static enum verdict composite(const tws_ts_policy *p, pstate *s, const trace *tr, uint64_t now_ms) {
    double given = 0;
    uint32_t unlisted = 0;
    for (uint32_t i = 0; i < p->n_subs; i++) {
        if (p->rate_percent && p->rate_percent[i] >= 0) given += p->rate_percent[i];
        else unlisted++;
    }
    for (uint32_t i = 0; i < p->n_subs; i++) {
        if (eval(&p->subs[i], &s->subs[i], tr, now_ms) != SAMPLED) continue;
        double pct = p->rate_percent && p->rate_percent[i] >= 0 ? p->rate_percent[i]
                                                                 : (given < 100 ? (100 - given) / unlisted : 0);
        int64_t share = (int64_t)floor((double)p->spans_per_second * pct / 100.0);
        if (budget_take(&s->subs[i], share, tr->n, now_ms)) return SAMPLED;
    }
    return NOT_SAMPLED;
}

static enum verdict eval(const tws_ts_policy *p, pstate *s, const trace *tr, uint64_t now_ms) {
    bool yes = false;
    switch (p->type) {
    case TWS_TS_ALWAYS_SAMPLE: return SAMPLED;
    case TWS_TS_LATENCY: {
        uint64_t lo = UINT64_MAX, hi = 0;
        for (uint32_t i = 0; i < tr->n; i++) {
            const tws_span *sp = ref_span(&tr->refs[i]);
            if (sp->start_ns < lo) lo = sp->start_ns;
            if (sp->end_ns > hi) hi = sp->end_ns;
        }
        double ms = hi > lo ? (double)(hi - lo) / 1e6 : 0;
        yes = ms >= (double)p->threshold_ms && (p->upper_threshold_ms <= 0 || ms <= (double)p->upper_threshold_ms);
        break;
    }
    case TWS_TS_STATUS_CODE:
        for (uint32_t i = 0; i < tr->n && !yes; i++) yes = (p->status_mask >> ref_span(&tr->refs[i])->status_code) & 1;
        break;
    case TWS_TS_PROBABILISTIC: {
        uint64_t seed = p->salt ? XXH3_64bits(p->salt, strlen(p->salt)) : 0;
        uint64_t hv = XXH3_64bits_withSeed(tr->k.id, 16, seed);
        double unit = (double)(hv >> 11) / 9007199254740992.0; /* [0, 1) */
        yes = unit * 100.0 < p->percentage;
        break;
    }
    case TWS_TS_STRING_ATTRIBUTE: yes = any_attr(tr, p, string_match); break;
    case TWS_TS_NUMERIC_ATTRIBUTE: yes = any_attr(tr, p, numeric_match); break;
    case TWS_TS_BOOLEAN_ATTRIBUTE: yes = any_attr(tr, p, bool_match); break;
    case TWS_TS_SPAN_COUNT:
        yes = (int64_t)tr->n >= p->min_spans && (p->max_spans <= 0 || (int64_t)tr->n <= p->max_spans);
        break;
    case TWS_TS_RATE_LIMITING: return budget_take(s, p->spans_per_second, tr->n, now_ms) ? SAMPLED : NOT_SAMPLED;
    case TWS_TS_TRACE_STATE:
        for (uint32_t i = 0; i < tr->n && !yes; i++) yes = trace_state_match(p, ref_span(&tr->refs[i])->trace_state);
        break;
    case TWS_TS_AND:
    case TWS_TS_DROP:
        yes = p->n_subs > 0;
        for (uint32_t i = 0; i < p->n_subs && yes; i++) yes = eval(&p->subs[i], &s->subs[i], tr, now_ms) == SAMPLED;
        if (p->type == TWS_TS_DROP) return yes ? DROPPED : NOT_SAMPLED;
        break;
    case TWS_TS_NOT: return p->n_subs && eval(&p->subs[0], &s->subs[0], tr, now_ms) == SAMPLED ? NOT_SAMPLED : SAMPLED;
    case TWS_TS_COMPOSITE: return composite(p, s, tr, now_ms);
    case TWS_TS_N_TYPES: break;
    }
    if (p->invert) yes = !yes;
    return yes ? SAMPLED : NOT_SAMPLED;
}

/* ---- the flow of batches ----------------------------------------------------------------- */

static void release(tws_tailsampler *t, held *h) {
    if (--h->pending) return;
    if (h->prev) h->prev->next = h->next;
    else t->held_first = h->next;
    if (h->next) h->next->prev = h->prev;
    else t->held_last = h->prev;
    t->st.batches_held--;
    t->st.bytes_held -= h->info.bytes;
    tws_batch b = h->b;
    tws_ts_batch_info info = h->info;
    free(h);
    t->emit(t->user, &b, &info);
}

static void settle(held *h, uint32_t idx, bool keep) {
    if (keep) return;
    h->b.spans[idx].reject = TWS_REJECT_SAMPLED;
    h->b.n_rejected++;
}

static void unlink_trace(tws_tailsampler *t, trace *tr) {
    trace **p = &t->table[key_hash(&tr->k) & t->table_mask];
    while (*p != tr) p = &(*p)->hnext;
    *p = tr->hnext;
    if (tr->prev) tr->prev->next = tr->next;
    else t->oldest = tr->next;
    if (tr->next) tr->next->prev = tr->prev;
    else t->newest = tr->prev;
    t->n_traces--;
}

static void decide(tws_tailsampler *t, trace *tr, uint64_t now_ms) {
    unlink_trace(t, tr);
    bool dropped = false, sampled = false;
    for (uint32_t i = 0; i < t->c.n_policies; i++) {
        enum verdict v = eval(&t->c.policies[i], &t->states[i], tr, now_ms);
        if (v == DROPPED) t->pstats[i].dropped++, dropped = true;
        else if (v == SAMPLED) t->pstats[i].sampled++, sampled = true;
        else t->pstats[i].not_sampled++;
    }
    bool keep = sampled && !dropped;
    if (keep) t->st.traces_sampled++, t->st.spans_sampled += tr->n;
    else (dropped ? t->st.traces_dropped++ : t->st.traces_not_sampled++), t->st.spans_not_sampled += tr->n;
    cache_put(keep ? &t->sampled : &t->not_sampled, &tr->k);
    for (uint32_t i = 0; i < tr->n; i++) settle(tr->refs[i].h, tr->refs[i].idx, keep);
    for (uint32_t i = 0; i < tr->n; i++) release(t, tr->refs[i].h);
    free(tr->refs);
    free(tr);
}

static uint32_t tenant_id(tws_tailsampler *t, const char *tenant) {
    for (uint32_t i = 0; i < t->n_tenants; i++)
        if (!strcmp(t->tenants[i], tenant)) return i;
    char **nt = realloc(t->tenants, (t->n_tenants + 1) * sizeof *nt);
    char *copy = strdup(tenant);
    if (!nt || !copy) {
        free(copy);
        if (nt) t->tenants = nt;
        return UINT32_MAX; /* out of memory: one shared id; decisions stay per trace id */
    }
    t->tenants = nt;
    nt[t->n_tenants] = copy;
    return t->n_tenants++;
}

static void grow_table(tws_tailsampler *t) {
    uint32_t nb = (t->table_mask + 1) * 2;
    trace **nt = calloc(nb, sizeof *nt);
    if (!nt) return; /* chains just get longer */
    for (trace *tr = t->oldest; tr; tr = tr->next) {
        uint64_t h = key_hash(&tr->k) & (nb - 1);
        tr->hnext = nt[h];
        nt[h] = tr;
    }
    free(t->table);
    t->table = nt;
    t->table_mask = nb - 1;
}

static trace *find(const tws_tailsampler *t, const key *k) {
    for (trace *tr = t->table[key_hash(k) & t->table_mask]; tr; tr = tr->hnext)
        if (key_eq(&tr->k, k)) return tr;
    return NULL;
}

static trace *new_trace(tws_tailsampler *t, const key *k, uint64_t now_ms) {
    while (t->n_traces >= t->c.num_traces && t->oldest) {
        t->st.evicted++;
        decide(t, t->oldest, now_ms);
    }
    trace *tr = calloc(1, sizeof *tr);
    if (!tr) return NULL;
    tr->k = *k;
    tr->first_ms = now_ms;
    if (t->n_traces + 1 > t->table_mask + 1) grow_table(t);
    uint64_t h = key_hash(k) & t->table_mask;
    tr->hnext = t->table[h];
    t->table[h] = tr;
    tr->prev = t->newest;
    if (t->newest) t->newest->next = tr;
    else t->oldest = tr;
    t->newest = tr;
    t->n_traces++;
    return tr;
}

static bool add_ref(trace *tr, held *h, uint32_t idx) {
    if (tr->n == tr->cap) {
        uint32_t cap = tr->cap ? tr->cap * 2 : 4;
        sref *r = realloc(tr->refs, cap * sizeof *r);
        if (!r) return false;
        tr->refs = r;
        tr->cap = cap;
    }
    tr->refs[tr->n++] = (sref){h, idx};
    return true;
}

int tws_tailsampler_add(tws_tailsampler *t, tws_batch *b, const tws_ts_batch_info *info, uint64_t now_ms) {
    held *h = calloc(1, sizeof *h);
    if (!h) {
        t->emit(t->user, b, info); /* undecided, kept: nothing lost */
        return TW_ENOMEM;
    }
    h->b = *b;
    tws_batch_init(b);
    h->info = *info;
    h->pending = 1;
    h->prev = t->held_last;
    if (t->held_last) t->held_last->next = h;
    else t->held_first = h;
    t->held_last = h;
    t->st.batches_held++;
    t->st.bytes_held += info->bytes;
    int rc = TW_OK;
    key k = {.tenant = tenant_id(t, info->tenant)};
    for (uint32_t i = 0; i < h->b.n_spans; i++) {
        const tws_span *s = &h->b.spans[i];
        if (s->reject) continue;
        memcpy(k.id, s->trace_id, 16);
        trace *tr = find(t, &k);
        if (!tr) {
            if (cache_has(&t->sampled, &k)) {
                t->st.late_spans_sampled++;
                continue;
            }
            if (cache_has(&t->not_sampled, &k)) {
                t->st.late_spans_not_sampled++;
                settle(h, i, false);
                continue;
            }
            tr = new_trace(t, &k, now_ms);
        }
        if (!tr || !add_ref(tr, h, i)) {
            rc = TW_ENOMEM; /* kept undecided */
            continue;
        }
        h->pending++;
    }
    release(t, h);
    return rc;
}

void tws_tailsampler_tick(tws_tailsampler *t, uint64_t now_ms) {
    while (t->oldest && t->oldest->first_ms + t->c.decision_wait_ms <= now_ms) decide(t, t->oldest, now_ms);
}

void tws_tailsampler_flush(tws_tailsampler *t, uint64_t now_ms) {
    while (t->oldest) decide(t, t->oldest, now_ms);
}

uint64_t tws_tailsampler_oldest_lsn(const tws_tailsampler *t) {
    uint64_t lsn = UINT64_MAX;
    for (const held *h = t->held_first; h; h = h->next)
        if (h->info.lsn < lsn) lsn = h->info.lsn;
    return lsn;
}

void tws_tailsampler_get_stats(const tws_tailsampler *t, tws_ts_stats *out) {
    *out = t->st;
    out->traces_in_memory = t->n_traces;
}

const tws_ts_policy_stats *tws_tailsampler_policy_stats(const tws_tailsampler *t) { return t->pstats; }
