/*
 * loghead.c — the in-memory log head (loghead.h).
 *
 * Per tenant: an array of records (batch, index, stream); a chained hash
 * over the records that carry a trace id (buckets of record numbers, the
 * chain through each record's `next`); streams in an array with their own
 * chained hash by key, each listing its records in arrival order.
 *
 * An add first works out every record's stream and reserves all the
 * memory the records will need (creating a stream may be all that is left
 * of a failed add: an empty stream is harmless), then links the records
 * in without allocating, so a batch is either wholly in or not at all.
 */
#include <stdlib.h>
#include <xxhash.h>

#include "store/loghead.h"

typedef struct rec {
    uint32_t batch, idx, stream;
    uint32_t next; /* next traced record in the same bucket (number + 1), 0: end */
} rec;

typedef struct stream {
    char *key;
    size_t key_len;
    uint64_t hash;
    uint32_t *recs; /* record numbers, arrival order */
    uint32_t n, cap, pending;
    uint64_t min_ns, max_ns;
    uint32_t next; /* chain in the stream hash (number + 1) */
} stream;

typedef struct tenant {
    char *name;
    rec *recs;
    uint32_t n, cap;
    uint32_t *tb, n_tb, n_traced; /* trace buckets (power of two) */
    stream *streams;
    uint32_t n_streams, cap_streams;
    uint32_t *sb, n_sb; /* stream buckets (power of two) */
} tenant;

struct tws_loghead {
    tws_loghead_options o;
    tws_batch *batches;
    uint32_t n_batches, cap_batches;
    tenant *tenants;
    uint32_t n_tenants;
    uint64_t bytes, records, streams;
    tw__buf key; /* scratch */
};

int tws_loghead_new(const tws_loghead_options *o, tws_loghead **out) {
    tws_loghead *h = tw__calloc(1, sizeof *h);
    if (!h) return TW_ENOMEM;
    h->o = *o;
    if (!h->o.max_bytes) h->o.max_bytes = 256u << 20;
    tw__buf_init(&h->key, 1u << 20);
    *out = h;
    return TW_OK;
}

void tws_loghead_free(tws_loghead *h) {
    if (!h) return;
    for (uint32_t i = 0; i < h->n_batches; i++) tws_batch_free(&h->batches[i]);
    tw__free(h->batches);
    for (uint32_t t = 0; t < h->n_tenants; t++) {
        tenant *tn = &h->tenants[t];
        for (uint32_t s = 0; s < tn->n_streams; s++) {
            tw__free(tn->streams[s].key);
            tw__free(tn->streams[s].recs);
        }
        tw__free(tn->streams);
        tw__free(tn->sb);
        tw__free(tn->tb);
        tw__free(tn->recs);
        tw__free(tn->name);
    }
    tw__free(h->tenants);
    tw__buf_free(&h->key);
    tw__free(h);
}

bool tws_loghead_has_room(const tws_loghead *h, uint64_t bytes) { return h->bytes + bytes <= h->o.max_bytes; }

uint64_t tws_logs_batch_bytes(const tws_batch *b, size_t wire_len) {
    /* decoded structures are a small multiple of the wire size; count generously */
    return (uint64_t)wire_len * 3 + (uint64_t)b->n_logs * (sizeof(tws_log) + sizeof(rec) + 4) + 4096;
}

size_t tws_loghead_n_tenants(const tws_loghead *h) { return h->n_tenants; }
const char *tws_loghead_tenant(const tws_loghead *h, size_t i) { return h->tenants[i].name; }

static const tenant *find_tenant(const tws_loghead *h, const char *name) {
    for (uint32_t i = 0; i < h->n_tenants; i++)
        if (!strcmp(h->tenants[i].name, name)) return &h->tenants[i];
    return NULL;
}

static tenant *tenant_of(tws_loghead *h, const char *name) {
    tenant *t = (tenant *)find_tenant(h, name);
    if (t) return t;
    tenant *a = tw__realloc(h->tenants, (h->n_tenants + 1) * sizeof *a);
    if (!a) return NULL;
    h->tenants = a;
    t = &a[h->n_tenants];
    memset(t, 0, sizeof *t);
    size_t n = strlen(name);
    if (!(t->name = tw__malloc(n + 1))) return NULL;
    memcpy(t->name, name, n + 1);
    h->n_tenants++;
    return t;
}

static uint64_t trace_hash(const uint8_t id[16]) {
    return tw__mix64(tw__load_le64(id) * 0x9e3779b97f4a7c15ull ^ tw__load_le64(id + 8));
}

/* ---- streams ----------------------------------------------------------------------------- */

static int grow_stream_buckets(tenant *t) {
    uint32_t n = t->n_sb ? t->n_sb * 2 : 64;
    uint32_t *b = tw__calloc(n, sizeof *b);
    if (!b) return TW_ENOMEM;
    for (uint32_t i = 0; i < t->n_streams; i++) {
        uint32_t j = (uint32_t)t->streams[i].hash & (n - 1);
        t->streams[i].next = b[j];
        b[j] = i + 1;
    }
    tw__free(t->sb);
    t->sb = b;
    t->n_sb = n;
    return TW_OK;
}

/* The stream of key `k`, created when new; UINT32_MAX on memory failure. */
static uint32_t stream_of(tws_loghead *h, tenant *t, const char *k, size_t n) {
    uint64_t hash = XXH3_64bits(k, n);
    for (uint32_t i = t->n_sb ? t->sb[hash & (t->n_sb - 1)] : 0; i; i = t->streams[i - 1].next) {
        const stream *s = &t->streams[i - 1];
        if (s->hash == hash && s->key_len == n && !memcmp(s->key, k, n)) return i - 1;
    }
    if ((t->n_streams + 1) * 2 > t->n_sb && grow_stream_buckets(t)) return UINT32_MAX;
    if (t->n_streams == t->cap_streams) {
        uint32_t cap = t->cap_streams ? t->cap_streams * 2 : 16;
        stream *a = tw__realloc(t->streams, cap * sizeof *a);
        if (!a) return UINT32_MAX;
        t->streams = a;
        t->cap_streams = cap;
    }
    stream *s = &t->streams[t->n_streams];
    memset(s, 0, sizeof *s);
    if (!(s->key = tw__malloc(n ? n : 1))) return UINT32_MAX;
    memcpy(s->key, k, n);
    s->key_len = n;
    s->hash = hash;
    s->min_ns = UINT64_MAX;
    uint32_t j = (uint32_t)hash & (t->n_sb - 1);
    s->next = t->sb[j];
    t->sb[j] = ++t->n_streams;
    h->streams++;
    return t->n_streams - 1;
}

/* Does record i have the same stream-key inputs as record j? */
static bool same_key_inputs(const tws_batch *b, uint32_t i, uint32_t j) {
    const tws_log *x = &b->logs[i], *y = &b->logs[j];
    return b->scopes[x->scope_idx].resource_idx == b->scopes[y->scope_idx].resource_idx &&
           x->severity == y->severity && tws_str_equal(x->severity_text, y->severity_text);
}

/* ---- adding ------------------------------------------------------------------------------- */

static int reserve_u32(uint32_t **a, uint32_t *cap, uint32_t need) {
    if (need <= *cap) return TW_OK;
    uint32_t c = *cap ? *cap : 8;
    while (c < need) c *= 2;
    uint32_t *n = tw__realloc(*a, (size_t)c * sizeof *n);
    if (!n) return TW_ENOMEM;
    *a = n;
    *cap = c;
    return TW_OK;
}

static int grow_trace_buckets(tenant *t, uint32_t need) {
    uint32_t n = t->n_tb ? t->n_tb : 256;
    while (n < need) n *= 2;
    if (n == t->n_tb) return TW_OK;
    uint32_t *b = tw__calloc(n, sizeof *b);
    if (!b) return TW_ENOMEM;
    tw__free(t->tb);
    t->tb = b;
    t->n_tb = n;
    return TW_OK;
}

int tws_loghead_add(tws_loghead *h, const char *tenant_name, tws_batch *b, uint64_t bytes) {
    if (!tws_loghead_has_room(h, bytes)) return TW_EFULL;
    tenant *t = tenant_of(h, tenant_name);
    if (!t) return TW_ENOMEM;
    if (h->n_batches == h->cap_batches) {
        uint32_t cap = h->cap_batches ? h->cap_batches * 2 : 64;
        tws_batch *nb = tw__realloc(h->batches, cap * sizeof *nb);
        if (!nb) return TW_ENOMEM;
        h->batches = nb;
        h->cap_batches = cap;
    }
    uint32_t *sid = b->n_logs ? tw__malloc(b->n_logs * sizeof *sid) : NULL;
    if (b->n_logs && !sid) return TW_ENOMEM;
    int rc = TW_OK;
    uint32_t valid = 0, traced = 0, prev = UINT32_MAX;
    /* 1. streams, and the memory every record will need */
    for (uint32_t i = 0; i < b->n_logs && rc == TW_OK; i++) {
        const tws_log *l = &b->logs[i];
        if (l->reject) continue;
        if (prev != UINT32_MAX && same_key_inputs(b, i, prev)) {
            sid[i] = sid[prev];
        } else {
            tw__buf_reset(&h->key);
            rc = h->o.stream_key(h->o.user, b, i, &h->key);
            if (rc == TW_OK && h->key.failed) rc = TW_ENOMEM;
            if (rc == TW_OK && (sid[i] = stream_of(h, t, (const char *)h->key.data, h->key.len)) == UINT32_MAX)
                rc = TW_ENOMEM;
        }
        prev = i;
        if (rc) break;
        t->streams[sid[i]].pending++;
        valid++;
        traced += l->has_trace_id;
    }
    for (uint32_t s = 0; s < t->n_streams; s++) {
        stream *st = &t->streams[s];
        if (rc == TW_OK && st->pending) rc = reserve_u32(&st->recs, &st->cap, st->n + st->pending);
        st->pending = 0;
    }
    if (rc == TW_OK && t->n + valid > t->cap) {
        uint32_t cap = t->cap ? t->cap : 256;
        while (cap < t->n + valid) cap *= 2;
        rec *r = tw__realloc(t->recs, (size_t)cap * sizeof *r);
        if (!r) rc = TW_ENOMEM;
        else t->recs = r, t->cap = cap;
    }
    bool rehash = false;
    if (rc == TW_OK && (t->n_traced + traced) > t->n_tb) {
        rc = grow_trace_buckets(t, (t->n_traced + traced) * 2);
        rehash = rc == TW_OK;
    }
    if (rc) {
        tw__free(sid);
        return rc;
    }
    if (rehash) /* new buckets: chain every traced record again */
        for (uint32_t r = 0; r < t->n; r++) {
            const tws_log *l = &h->batches[t->recs[r].batch].logs[t->recs[r].idx];
            if (!l->has_trace_id) continue;
            uint32_t j = (uint32_t)trace_hash(l->trace_id) & (t->n_tb - 1);
            t->recs[r].next = t->tb[j];
            t->tb[j] = r + 1;
        }
    /* 2. link the records in; nothing allocates from here on */
    uint32_t bi = h->n_batches;
    for (uint32_t i = 0; i < b->n_logs; i++) {
        const tws_log *l = &b->logs[i];
        if (l->reject) continue;
        uint32_t r = t->n++;
        t->recs[r] = (rec){bi, i, sid[i], 0};
        stream *st = &t->streams[sid[i]];
        st->recs[st->n++] = r;
        uint64_t ts = tws_log_time(l);
        if (ts < st->min_ns) st->min_ns = ts;
        if (ts > st->max_ns) st->max_ns = ts;
        if (l->has_trace_id) {
            uint32_t j = (uint32_t)trace_hash(l->trace_id) & (t->n_tb - 1);
            t->recs[r].next = t->tb[j];
            t->tb[j] = r + 1;
            t->n_traced++;
        }
    }
    tw__free(sid);
    h->records += valid;
    h->batches[bi] = *b;
    h->n_batches++;
    h->bytes += bytes;
    tws_batch_init(b);
    return TW_OK;
}

/* ---- lookups ------------------------------------------------------------------------------ */

static int cmp_ref(const void *x, const void *y) {
    const tws_log_ref *a = x, *b = y;
    uint64_t ta = tws_log_time(&a->batch->logs[a->idx]), tb = tws_log_time(&b->batch->logs[b->idx]);
    if (ta != tb) return ta < tb ? -1 : 1;
    if (a->batch != b->batch) return a->batch < b->batch ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

void tws_log_refs_sort(tws_log_ref *r, size_t n) {
    if (n > 1) qsort(r, n, sizeof *r, cmp_ref);
}

static bool in_range(uint64_t ts, uint64_t start_ns, uint64_t end_ns) {
    return ts >= start_ns && (!end_ns || ts <= end_ns);
}

static int push_ref(tws_log_ref **out, size_t *n, size_t *cap, tws_log_ref r) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        tws_log_ref *a = tw__realloc(*out, c * sizeof *a);
        if (!a) return TW_ENOMEM;
        *out = a;
        *cap = c;
    }
    (*out)[(*n)++] = r;
    return TW_OK;
}

int tws_loghead_by_trace(const tws_loghead *h, const char *tenant_name, const uint8_t trace_id[16],
                         const uint8_t *span_id, uint64_t start_ns, uint64_t end_ns, tws_log_ref **out,
                         size_t *n) {
    *out = NULL;
    *n = 0;
    const tenant *t = find_tenant(h, tenant_name);
    if (!t || !t->n_tb) return TW_OK;
    size_t cap = 0;
    for (uint32_t r = t->tb[trace_hash(trace_id) & (t->n_tb - 1)]; r; r = t->recs[r - 1].next) {
        const rec *x = &t->recs[r - 1];
        const tws_batch *b = &h->batches[x->batch];
        const tws_log *l = &b->logs[x->idx];
        if (memcmp(l->trace_id, trace_id, 16) || (span_id && (!l->has_span_id || memcmp(l->span_id, span_id, 8))) ||
            !in_range(tws_log_time(l), start_ns, end_ns))
            continue;
        if (push_ref(out, n, &cap, (tws_log_ref){b, x->idx, x->stream})) {
            tw__free(*out);
            *out = NULL;
            *n = 0;
            return TW_ENOMEM;
        }
    }
    tws_log_refs_sort(*out, *n);
    return TW_OK;
}

size_t tws_loghead_n_streams(const tws_loghead *h, const char *tenant_name) {
    const tenant *t = find_tenant(h, tenant_name);
    return t ? t->n_streams : 0;
}

tw_str tws_loghead_stream_key(const tws_loghead *h, const char *tenant_name, uint32_t stream_no) {
    const tenant *t = find_tenant(h, tenant_name);
    if (!t || stream_no >= t->n_streams) return (tw_str){"", 0};
    return (tw_str){t->streams[stream_no].key, t->streams[stream_no].key_len};
}

void tws_loghead_stream_range(const tws_loghead *h, const char *tenant_name, uint32_t stream_no, uint64_t *min_ns,
                              uint64_t *max_ns) {
    const tenant *t = find_tenant(h, tenant_name);
    bool ok = t && stream_no < t->n_streams && t->streams[stream_no].n;
    *min_ns = ok ? t->streams[stream_no].min_ns : 0;
    *max_ns = ok ? t->streams[stream_no].max_ns : 0;
}

int tws_loghead_stream_records(const tws_loghead *h, const char *tenant_name, uint32_t stream_no, uint64_t start_ns,
                               uint64_t end_ns, tws_log_ref **out, size_t *n) {
    const tenant *t = find_tenant(h, tenant_name);
    if (!t || stream_no >= t->n_streams) return TW_OK;
    const stream *s = &t->streams[stream_no];
    size_t cap = *n, first = *n;
    for (uint32_t k = 0; k < s->n; k++) {
        const rec *x = &t->recs[s->recs[k]];
        const tws_batch *b = &h->batches[x->batch];
        if (!in_range(tws_log_time(&b->logs[x->idx]), start_ns, end_ns)) continue;
        if (push_ref(out, n, &cap, (tws_log_ref){b, x->idx, stream_no})) return TW_ENOMEM;
    }
    tws_log_refs_sort(*out + first, *n - first);
    return TW_OK;
}

void tws_loghead_get_stats(const tws_loghead *h, tws_loghead_stats *out) {
    out->bytes = h->bytes;
    out->batches = h->n_batches;
    out->records = h->records;
    out->streams = h->streams;
    out->tenants = h->n_tenants;
}
