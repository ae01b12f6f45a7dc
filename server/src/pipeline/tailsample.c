/*
 * tailsample.c — the tail_sampling processor (see tailsample.h).
 *
 * State: a hash table of the traces waiting for a decision, chained, keyed
 * by (trace id, tenant); the same traces on a list in arrival order, so the
 * oldest is at the front (its wait ends first, and it is the one evicted
 * when num_traces is reached); two decision caches, each a ring of keys
 * with a chained index, so that the oldest decision is forgotten first.
 *
 * No span is kept for the decision: as a span arrives, what the policies
 * need of it is folded into its trace (span count, earliest start, latest
 * end, and one bit per leaf policy — status_code, *_attribute,
 * trace_state — set when some span or its resource matched), so a trace
 * costs the same ~120 bytes however many spans it has.
 *
 * The held batches sit on a list, each with one slot per trace it holds
 * (the trace id and that trace's decision) and a count of slots still
 * waiting; a trace knows the (batch, slot) pairs it is in. A batch given
 * with a WAL section (info.wal_section) and a reload function is not kept
 * at all: only its slots are, and when its last slot is decided it is read
 * back through the reload function, its spans marked by their trace's slot
 * (by trace id, so the order it comes back in does not matter) and handed
 * on. Other batches are kept in memory until then.
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

enum { SLOT_PENDING, SLOT_KEEP, SLOT_REJECT };

/* One trace's spans in one held batch. */
typedef struct slot {
    uint8_t id[16];
    uint8_t state; /* SLOT_* */
} tslot;

typedef struct held {
    tws_batch b;            /* kept in memory; empty when the batch is reloaded at emission */
    tws_ts_batch_info info;
    bool reload;
    uint32_t pending;       /* slots without a decision, plus one while tws_tailsampler_add runs */
    tslot *slots;
    uint32_t n_slots, cap_slots;
    uint64_t mem;           /* what this record holds (counted in bytes_held) */
    struct held *prev, *next;
    struct held *ready_next; /* decided, waiting for room downstream (on the ready list) */
} held;

typedef struct visit {
    held *h;
    uint32_t slot;
} visit;

typedef struct key {
    uint8_t id[16];
    uint32_t tenant;
} key;

typedef struct trace {
    key k;
    uint32_t n;                 /* spans */
    uint64_t first_ms;          /* when its first span arrived */
    uint64_t lo, hi;            /* earliest start, latest end */
    struct trace *hnext;        /* hash chain */
    struct trace *prev, *next;  /* arrival order */
    visit v0;                   /* the first batch it is in (v0.h NULL: none yet) */
    visit *more;                /* the later ones */
    uint32_t n_more, cap_more;
    uint64_t bits[];            /* per leaf policy: some span or its resource matched */
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
    uint32_t bit;               /* a leaf policy's bit in trace.bits */
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
    held *held_first, *held_last; /* in arrival order */
    bool lsn_unordered;           /* some batch came with a lower LSN than the one before it */
    held *ready_first, *ready_last; /* decided batches waiting for room downstream, in order */
    cache sampled, not_sampled;
    char **tenants;
    uint32_t n_tenants;
    pstate *states; /* one per top-level policy */
    const tws_ts_policy **leaves; /* the policies that look at spans, by bit */
    uint32_t n_leaves, n_words;
    uint64_t *res_bits;           /* scratch: the leaves a resource matches */
    tws_ts_reload_fn reload;
    void *reload_user;
    tws_ts_room_fn room;
    void *room_user;
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

static bool is_leaf(const tws_ts_policy *p) {
    switch (p->type) {
    case TWS_TS_STATUS_CODE:
    case TWS_TS_STRING_ATTRIBUTE:
    case TWS_TS_NUMERIC_ATTRIBUTE:
    case TWS_TS_BOOLEAN_ATTRIBUTE:
    case TWS_TS_TRACE_STATE: return true;
    default: return false;
    }
}

static int pstate_new(tws_tailsampler *t, const tws_ts_policy *p, pstate *s) {
    memset(s, 0, sizeof *s);
    if (is_leaf(p)) {
        const tws_ts_policy **l = realloc(t->leaves, (t->n_leaves + 1) * sizeof *l);
        if (!l) return TW_ENOMEM;
        t->leaves = l;
        l[t->n_leaves] = p;
        s->bit = t->n_leaves++;
    }
    if (!p->n_subs) return TW_OK;
    s->subs = calloc(p->n_subs, sizeof *s->subs);
    if (!s->subs) return TW_ENOMEM;
    s->n_subs = p->n_subs;
    for (uint32_t i = 0; i < p->n_subs; i++)
        if (pstate_new(t, &p->subs[i], &s->subs[i])) return TW_ENOMEM;
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
    for (uint32_t i = 0; rc == TW_OK && i < c->n_policies; i++) rc = pstate_new(t, &c->policies[i], &t->states[i]);
    t->n_words = (t->n_leaves + 63) / 64;
    if (rc == TW_OK && !(t->res_bits = calloc(t->n_words ? t->n_words : 1, sizeof *t->res_bits))) rc = TW_ENOMEM;
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
        free(tr->more);
        free(tr);
    }
    for (held *h = t->held_first, *nx; h; h = nx) {
        nx = h->next;
        tws_batch_free(&h->b);
        free(h->slots);
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
    free((void *)t->leaves);
    free(t->res_bits);
    free(t->pstats);
    free(t);
}

void tws_tailsampler_set_reload(tws_tailsampler *t, tws_ts_reload_fn fn, void *user) {
    t->reload = fn;
    t->reload_user = user;
}

void tws_tailsampler_set_room(tws_tailsampler *t, tws_ts_room_fn fn, void *user) {
    t->room = fn;
    t->room_user = user;
}

/* ---- policies ------------------------------------------------------------------------- */

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

/* Does attribute value v satisfy the attribute policy p? */
static bool value_match(const tws_ts_policy *p, const tws_value *v) {
    switch (p->type) {
    case TWS_TS_STRING_ATTRIBUTE: return string_match(p, v);
    case TWS_TS_NUMERIC_ATTRIBUTE: return numeric_match(p, v);
    case TWS_TS_BOOLEAN_ATTRIBUTE: return bool_match(p, v);
    default: return false;
    }
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

/* Does span s satisfy the leaf policy p (its resource aside)? */
static bool span_match(const tws_ts_policy *p, const tws_span *s) {
    switch (p->type) {
    case TWS_TS_STATUS_CODE: return s->status_code < 8 && ((p->status_mask >> s->status_code) & 1);
    case TWS_TS_TRACE_STATE: return trace_state_match(p, s->trace_state);
    default: return p->key && value_match(p, tws_attrs_find(&s->attrs, p->key));
    }
}

static bool has_bit(const uint64_t *bits, uint32_t i) { return (bits[i >> 6] >> (i & 63)) & 1; }
static void set_bit(uint64_t *bits, uint32_t i) { bits[i >> 6] |= 1ull << (i & 63); }

/* The leaves a resource's attributes satisfy, into t->res_bits. */
static void resource_bits(tws_tailsampler *t, const tws_attrs *res) {
    memset(t->res_bits, 0, t->n_words * sizeof *t->res_bits);
    for (uint32_t i = 0; i < t->n_leaves; i++) {
        const tws_ts_policy *p = t->leaves[i]; /* value_match refuses status_code and trace_state */
        if (p->key && value_match(p, tws_attrs_find(res, p->key))) set_bit(t->res_bits, i);
    }
}

/* Fold span s (whose resource's leaves are in t->res_bits) into its trace. */
static void observe(tws_tailsampler *t, trace *tr, const tws_span *s) {
    tr->n++;
    if (s->start_ns < tr->lo) tr->lo = s->start_ns;
    if (s->end_ns > tr->hi) tr->hi = s->end_ns;
    for (uint32_t w = 0; w < t->n_words; w++) tr->bits[w] |= t->res_bits[w];
    for (uint32_t i = 0; i < t->n_leaves; i++)
        if (!has_bit(tr->bits, i) && span_match(t->leaves[i], s)) set_bit(tr->bits, i);
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
        double ms = tr->hi > tr->lo ? (double)(tr->hi - tr->lo) / 1e6 : 0;
        yes = ms >= (double)p->threshold_ms && (p->upper_threshold_ms <= 0 || ms <= (double)p->upper_threshold_ms);
        break;
    }
    case TWS_TS_STATUS_CODE:
    case TWS_TS_STRING_ATTRIBUTE:
    case TWS_TS_NUMERIC_ATTRIBUTE:
    case TWS_TS_BOOLEAN_ATTRIBUTE:
    case TWS_TS_TRACE_STATE: yes = has_bit(tr->bits, s->bit); break;
    case TWS_TS_PROBABILISTIC: {
        uint64_t seed = p->salt ? XXH3_64bits(p->salt, strlen(p->salt)) : 0;
        uint64_t hv = XXH3_64bits_withSeed(tr->k.id, 16, seed);
        double unit = (double)(hv >> 11) / 9007199254740992.0; /* [0, 1) */
        yes = unit * 100.0 < p->percentage;
        break;
    }
    case TWS_TS_SPAN_COUNT:
        yes = (int64_t)tr->n >= p->min_spans && (p->max_spans <= 0 || (int64_t)tr->n <= p->max_spans);
        break;
    case TWS_TS_RATE_LIMITING: return budget_take(s, p->spans_per_second, tr->n, now_ms) ? SAMPLED : NOT_SAMPLED;
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

/* The slot of trace id `id` in a batch being emitted; duplicates (only
 * after a failed allocation) are merged, keeping wins. */
static uint8_t verdict_of(const held *h, const int32_t *index, uint32_t mask, const uint8_t id[16]) {
    if (!index) {
        uint8_t v = SLOT_KEEP + 1; /* none found */
        for (uint32_t i = 0; i < h->n_slots; i++)
            if (!memcmp(h->slots[i].id, id, 16)) {
                if (h->slots[i].state != SLOT_REJECT) return SLOT_KEEP;
                v = SLOT_REJECT;
            }
        return v == SLOT_REJECT ? SLOT_REJECT : SLOT_KEEP;
    }
    for (uint32_t j = (uint32_t)XXH3_64bits(id, 16) & mask; index[j] >= 0; j = (j + 1) & mask)
        if (!memcmp(h->slots[index[j]].id, id, 16)) return h->slots[index[j]].state;
    return SLOT_KEEP; /* a span the sampler never saw is kept: nothing is dropped unjudged */
}

/* Mark the spans of b whose trace was not kept. */
static void mark(held *h, tws_batch *b) {
    bool any = false;
    for (uint32_t i = 0; i < h->n_slots && !any; i++) any = h->slots[i].state == SLOT_REJECT;
    if (!any) return;
    int32_t *index = NULL; /* stays NULL (a linear search) for a few slots, or without memory */
    uint32_t mask = 0;
    uint32_t cap = 16;
    while (cap < 2 * h->n_slots) cap <<= 1;
    if (h->n_slots > 8 && (index = malloc(cap * sizeof *index))) {
        memset(index, 0xff, cap * sizeof *index);
        mask = cap - 1;
        for (uint32_t i = 0; i < h->n_slots; i++) {
            uint32_t j = (uint32_t)XXH3_64bits(h->slots[i].id, 16) & mask;
            while (index[j] >= 0 && memcmp(h->slots[index[j]].id, h->slots[i].id, 16)) j = (j + 1) & mask;
            if (index[j] < 0) index[j] = (int32_t)i;
            else if (h->slots[i].state != SLOT_REJECT) h->slots[index[j]].state = SLOT_KEEP;
        }
    }
    for (uint32_t i = 0; i < b->n_spans; i++) {
        tws_span *s = &b->spans[i];
        if (s->reject || verdict_of(h, index, mask, s->trace_id) != SLOT_REJECT) continue;
        s->reject = TWS_REJECT_SAMPLED;
        b->n_rejected++;
    }
    free(index);
}

/* Hand on h, whose every slot is decided. */
static void emit_held(tws_tailsampler *t, held *h) {
    if (h->prev) h->prev->next = h->next;
    else t->held_first = h->next;
    if (h->next) h->next->prev = h->prev;
    else t->held_last = h->prev;
    t->st.batches_held--;
    t->st.bytes_held -= h->mem;
    tws_batch b = h->b;
    tws_ts_batch_info info = h->info;
    int rc = TW_OK;
    if (h->reload) {
        tws_batch_init(&b);
        t->st.reloads++;
        if ((rc = t->reload(t->reload_user, &h->info, &b)) != TW_OK) {
            t->st.reload_failures++; /* the reload function reported it */
            tws_batch_free(&b);
        }
    }
    if (rc == TW_OK) mark(h, &b);
    free(h->slots);
    free(h);
    if (rc == TW_OK) t->emit(t->user, &b, &info);
}

static bool has_room(const tws_tailsampler *t, const held *h) {
    return !t->room || t->room(t->room_user, h->info.bytes);
}

/* Hand on the decided batches that were waiting for room, in order, while there is room. */
static void drain(tws_tailsampler *t) {
    while (t->ready_first && has_room(t, t->ready_first)) {
        held *h = t->ready_first;
        if (!(t->ready_first = h->ready_next)) t->ready_last = NULL;
        t->st.batches_waiting_room--;
        emit_held(t, h);
    }
}

/* One slot less waits in h: when none does, hand the batch on, or queue it
 * (behind the others) until there is room downstream. */
static void release(tws_tailsampler *t, held *h) {
    if (--h->pending) return;
    if (!t->ready_first && has_room(t, h)) {
        emit_held(t, h);
        return;
    }
    h->ready_next = NULL;
    if (t->ready_last) t->ready_last->ready_next = h;
    else t->ready_first = h;
    t->ready_last = h;
    t->st.batches_waiting_room++;
    t->st.room_waits++;
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
    uint8_t state = keep ? SLOT_KEEP : SLOT_REJECT;
    if (tr->v0.h) {
        tr->v0.h->slots[tr->v0.slot].state = state;
        for (uint32_t i = 0; i < tr->n_more; i++) tr->more[i].h->slots[tr->more[i].slot].state = state;
        release(t, tr->v0.h);
        for (uint32_t i = 0; i < tr->n_more; i++) release(t, tr->more[i].h);
    }
    free(tr->more);
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
    trace *tr = calloc(1, sizeof *tr + t->n_words * sizeof(uint64_t));
    if (!tr) return NULL;
    tr->k = *k;
    tr->first_ms = now_ms;
    tr->lo = UINT64_MAX;
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

/* A new slot in h for trace id `id`; its index, or -1 out of memory. */
static int32_t new_slot(held *h, const uint8_t id[16], uint8_t state) {
    if (h->n_slots == h->cap_slots) {
        uint32_t cap = h->cap_slots ? h->cap_slots * 2 : 8;
        tslot *s = realloc(h->slots, cap * sizeof *s);
        if (!s) return -1;
        h->slots = s;
        h->cap_slots = cap;
    }
    tslot *s = &h->slots[h->n_slots];
    memcpy(s->id, id, 16);
    s->state = state;
    return (int32_t)h->n_slots++;
}

/* Make sure trace tr has a (pending) slot in h. false: out of memory. */
static bool join(trace *tr, held *h) {
    const visit *last = tr->n_more ? &tr->more[tr->n_more - 1] : &tr->v0;
    if (last->h == h) return true;
    if (tr->v0.h && tr->n_more == tr->cap_more) { /* room first, so a slot never lacks its visit */
        uint32_t cap = tr->cap_more ? tr->cap_more * 2 : 2;
        visit *v = realloc(tr->more, cap * sizeof *v);
        if (!v) return false;
        tr->more = v;
        tr->cap_more = cap;
    }
    int32_t idx = new_slot(h, tr->k.id, SLOT_PENDING);
    if (idx < 0) return false;
    if (!tr->v0.h) tr->v0 = (visit){h, (uint32_t)idx};
    else tr->more[tr->n_more++] = (visit){h, (uint32_t)idx};
    h->pending++;
    return true;
}

int tws_tailsampler_add(tws_tailsampler *t, tws_batch *b, const tws_ts_batch_info *info, uint64_t now_ms) {
    held *h = calloc(1, sizeof *h);
    if (!h) {
        t->emit(t->user, b, info); /* undecided, kept: nothing lost */
        return TW_ENOMEM;
    }
    h->info = *info;
    h->reload = t->reload && info->wal_section;
    h->pending = 1;
    if (t->held_last && info->lsn < t->held_last->info.lsn) t->lsn_unordered = true;
    h->prev = t->held_last;
    if (t->held_last) t->held_last->next = h;
    else t->held_first = h;
    t->held_last = h;
    t->st.batches_held++;
    int rc = TW_OK;
    key k = {.tenant = tenant_id(t, info->tenant)};
    const tws_attrs *last_res = NULL;
    int32_t late = -1; /* the slot of the last late span not kept */
    for (uint32_t i = 0; i < b->n_spans; i++) {
        const tws_span *s = &b->spans[i];
        if (s->reject) continue;
        memcpy(k.id, s->trace_id, 16);
        trace *tr = find(t, &k);
        if (!tr) {
            if (cache_has(&t->sampled, &k)) { /* no slot: a span without one is kept */
                t->st.late_spans_sampled++;
                continue;
            }
            if (cache_has(&t->not_sampled, &k)) {
                t->st.late_spans_not_sampled++;
                if (late < 0 || memcmp(h->slots[late].id, k.id, 16)) late = new_slot(h, k.id, SLOT_REJECT);
                if (late < 0) rc = TW_ENOMEM; /* kept */
                continue;
            }
            tr = new_trace(t, &k, now_ms);
        }
        if (!tr || !join(tr, h)) {
            rc = TW_ENOMEM; /* kept undecided */
            continue;
        }
        const tws_attrs *res = &b->resources[b->scopes[s->scope_idx].resource_idx].attrs;
        if (res != last_res) resource_bits(t, res), last_res = res;
        observe(t, tr, s);
    }
    h->mem = sizeof *h + (uint64_t)h->cap_slots * sizeof(tslot);
    if (h->reload) {
        tws_batch_free(b); /* it comes back from the WAL when it is decided */
    } else {
        h->b = *b;
        h->mem += info->bytes;
    }
    tws_batch_init(b);
    t->st.bytes_held += h->mem;
    release(t, h);
    return rc;
}

void tws_tailsampler_tick(tws_tailsampler *t, uint64_t now_ms) {
    drain(t);
    while (t->oldest && t->oldest->first_ms + t->c.decision_wait_ms <= now_ms) decide(t, t->oldest, now_ms);
}

void tws_tailsampler_flush(tws_tailsampler *t, uint64_t now_ms) {
    drain(t);
    while (t->oldest) decide(t, t->oldest, now_ms);
}

uint64_t tws_tailsampler_oldest_lsn(const tws_tailsampler *t) {
    if (!t->lsn_unordered) return t->held_first ? t->held_first->info.lsn : UINT64_MAX; /* the usual case: O(1) */
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
