/*
 * store.c — the block store (store.h): the set of open blocks, the worker
 * thread, flushing a frozen head, compaction, retention, the checkpoint.
 *
 * The set is an array of reference-counted entries under one mutex. The
 * array holds one reference; a find or a compaction takes one per block it
 * reads. Removing a block (compaction, retention) marks it doomed and drops
 * the array's reference; whoever drops the last one deletes its objects.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "store/store.h"

typedef struct entry {
    tws_block *b;
    _Atomic uint32_t refs;
    bool doomed;
} entry;

struct tws_store {
    tws_store_options o;
    tws_objstore *obj, *state;
    void (*log)(const char *msg);
    pthread_mutex_t mu;
    pthread_cond_t cv, idle;
    pthread_t worker;
    bool worker_started, stop, maintain_now;
    uint64_t maintain_gen, maintain_done;
    entry **set;
    size_t n, cap;
    /* the pending flush: a frozen tws_head, or a tws_loghead in a log store */
    const void *flush_head;
    uint64_t flush_lsn;
    tws_store_flushed_fn flush_done;
    void *flush_user;
    tws_store_stats stats;
    /* shared stores: "tenant/id/meta.json" of blocks this store removed
     * whose objects may still be listed (sorted, pruned by each poll) */
    char (*removed)[512];
    size_t n_removed, cap_removed;
};

static void logf_(tws_store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(tws_store *st, const char *fmt, ...) {
    if (!st->log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    st->log(msg);
}

/* ---- the set ------------------------------------------------------------------------ */

static void entry_unref(tws_store *st, entry *e) {
    if (!tw__ref_release(&e->refs)) return;
    if (e->doomed) {
        char err[256];
        const tws_block_meta *m = tws_block_get_meta(e->b);
        if (tws_block_delete(st->obj, m->tenant, m->id, err)) logf_(st, "%s (left in place)", err);
    }
    tws_block_close(e->b);
    tw__free(e);
}

/* Add an open block (the set takes it over). Called with mu held. */
static int set_add(tws_store *st, tws_block *b) {
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        entry **s = tw__realloc(st->set, cap * sizeof *s);
        if (!s) return TW_ENOMEM;
        st->set = s;
        st->cap = cap;
    }
    entry *e = tw__calloc(1, sizeof *e);
    if (!e) return TW_ENOMEM;
    e->b = b;
    atomic_init(&e->refs, 1);
    st->set[st->n++] = e;
    const tws_block_meta *m = tws_block_get_meta(b);
    st->stats.blocks++;
    st->stats.block_bytes += m->size;
    st->stats.block_spans += m->spans;
    return TW_OK;
}

/* Take entry i out of the set, doomed. Called with mu held; the caller
 * unrefs it after unlocking. */
static entry *set_remove(tws_store *st, size_t i) {
    entry *e = st->set[i];
    st->set[i] = st->set[--st->n];
    e->doomed = true;
    const tws_block_meta *m = tws_block_get_meta(e->b);
    if (st->o.poll_ms) { /* remembered so a poll does not open it again (dropped if out of memory: a poll
                          * may then re-open it, and reads drop the duplicate spans) */
        if (st->n_removed == st->cap_removed) {
            size_t cap = st->cap_removed ? st->cap_removed * 2 : 16;
            char(*r)[512] = tw__realloc(st->removed, cap * sizeof *r);
            if (r) st->removed = r, st->cap_removed = cap;
        }
        if (st->n_removed < st->cap_removed)
            tws_block_key(st->removed[st->n_removed++], 512, m->tenant, m->id, "meta.json");
    }
    st->stats.blocks--;
    st->stats.block_bytes -= m->size;
    st->stats.block_spans -= m->spans;
    return e;
}

/* What a block of this store counts. */
static const char *items(const tws_store *st) { return st->o.logs ? "records" : "spans"; }

static int open_and_add(tws_store *st, const char *tenant, const char *id, char err[256]) {
    tws_block *b;
    int rc = tws_block_open(st->obj, tenant, id, &b, err);
    if (rc) return rc;
    if (tws_block_get_meta(b)->kind != (st->o.logs ? TWS_BLOCK_LOGS : TWS_BLOCK_SPANS)) {
        snprintf(err, 256, "it is a %s block in the %s store", st->o.logs ? "trace" : "log", st->o.logs ? "log" : "trace");
        tws_block_close(b);
        return TW_EINVAL;
    }
    pthread_mutex_lock(&st->mu);
    rc = set_add(st, b);
    pthread_mutex_unlock(&st->mu);
    if (rc) tws_block_close(b);
    return rc;
}

/* ---- open: list the blocks ----------------------------------------------------------------- */

typedef struct listing {
    char (*keys)[512];
    size_t n, cap;
} listing;

static int on_key(void *user, const char *key, uint64_t size) {
    listing *l = user;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        char(*k)[512] = tw__realloc(l->keys, cap * sizeof *k);
        if (!k) return TW_ENOMEM;
        l->keys = k;
        l->cap = cap;
    }
    snprintf(l->keys[l->n++], 512, "%s", key);
    return TW_OK;
}

/* "tenant/id/object" -> its parts; false for other keys. */
static bool split_key(const char *key, char tenant[151], char id[TWS_BLOCK_ID_LEN + 1], const char **object) {
    const char *a = strchr(key, '/');
    if (!a || a - key > 150) return false;
    const char *b = strchr(a + 1, '/');
    if (!b || b - a - 1 != TWS_BLOCK_ID_LEN || strchr(b + 1, '/')) return false;
    memcpy(tenant, key, (size_t)(a - key));
    tenant[a - key] = 0;
    memcpy(id, a + 1, TWS_BLOCK_ID_LEN);
    id[TWS_BLOCK_ID_LEN] = 0;
    *object = b + 1;
    return tws_block_id_valid(id);
}

static int cmp_keys(const void *a, const void *b) { return strcmp(a, b); }

static bool has_key(const char (*keys)[512], size_t n, const char *key) {
    return n && bsearch(key, keys, n, sizeof *keys, cmp_keys) != NULL;
}

static int list_blocks(tws_store *st, listing *l, char err[256]) {
    tws_objstore_err oe = {{0}};
    int rc = tws_obj_list(st->obj, "", on_key, l, &oe);
    if (rc) {
        snprintf(err, 256, "listing the blocks: %.200s", oe.msg[0] ? oe.msg : tw_strerror(rc));
        return rc;
    }
    if (l->n) qsort(l->keys, l->n, sizeof *l->keys, cmp_keys);
    return TW_OK;
}

/* Open the block named by a listed meta.json key; counts in *opened or
 * *damaged. TW_ENOMEM stops the caller. */
static int open_listed(tws_store *st, const char *tenant, const char *id, uint64_t *opened, uint64_t *damaged,
                       char err[256]) {
    char msg[256];
    int r = open_and_add(st, tenant, id, msg);
    if (r == TW_OK) {
        ++*opened;
    } else if (r == TW_ENOMEM) {
        snprintf(err, 256, "opening the blocks: out of memory");
        return r;
    } else {
        ++*damaged; /* kept for inspection, not served */
        logf_(st, "block %s/%s is not used: %s", tenant, id, msg);
    }
    return TW_OK;
}

static int load_blocks(tws_store *st, char err[256]) {
    listing l = {0};
    int rc = list_blocks(st, &l, err);
    uint64_t opened = 0, damaged = 0, unfinished = 0;
    for (size_t i = 0; i < l.n && rc == TW_OK; i++) {
        char tenant[151], id[TWS_BLOCK_ID_LEN + 1], key[512], msg[256];
        const char *object;
        if (!split_key(l.keys[i], tenant, id, &object)) continue;
        if (strcmp(object, "data") == 0) {
            tws_block_key(key, sizeof key, tenant, id, "meta.json");
            if (!has_key(l.keys, l.n, key)) { /* interrupted before its meta.json: never part of the store */
                unfinished++;
                if (!st->o.poll_ms && tws_block_delete(st->obj, tenant, id, msg)) logf_(st, "%s", msg);
            }
            continue;
        }
        if (strcmp(object, "meta.json") == 0) rc = open_listed(st, tenant, id, &opened, &damaged, err);
    }
    tw__free(l.keys);
    if (opened || damaged || unfinished)
        logf_(st, "%llu block(s) opened (%llu %s), %llu damaged and skipped, %llu unfinished %s",
              (unsigned long long)opened, (unsigned long long)st->stats.block_spans, items(st), (unsigned long long)damaged,
              (unsigned long long)unfinished, st->o.poll_ms ? "left alone (shared store)" : "removed");
    return rc;
}

/* A shared store's poll: open what other servers added, drop what they
 * removed. Runs on the worker thread, so no flush or compaction of this
 * store changes the set meanwhile; finds go on. */
static void poll_blocks(tws_store *st) {
    listing l = {0};
    char err[256] = "";
    int rc = list_blocks(st, &l, err);
    if (rc) {
        pthread_mutex_lock(&st->mu);
        st->stats.poll_failures++;
        pthread_mutex_unlock(&st->mu);
        logf_(st, "polling the shared store failed, will retry: %s", err);
        tw__free(l.keys);
        return;
    }
    /* what the set holds now, as sorted keys; the vanished taken out */
    pthread_mutex_lock(&st->mu);
    size_t n_have = 0, n_gone = 0;
    char(*have)[512] = tw__malloc((st->n ? st->n : 1) * sizeof *have);
    entry **gone = tw__malloc((st->n ? st->n : 1) * sizeof *gone);
    if (have && gone) {
        for (size_t i = 0; i < st->n;) {
            const tws_block_meta *m = tws_block_get_meta(st->set[i]->b);
            tws_block_key(have[n_have], 512, m->tenant, m->id, "meta.json");
            if (has_key(l.keys, l.n, have[n_have])) {
                n_have++, i++;
                continue;
            }
            entry *e = set_remove(st, i); /* another server compacted it away or let it expire */
            e->doomed = false;            /* its objects are that server's to delete */
            gone[n_gone++] = e;
        }
        if (n_have) qsort(have, n_have, sizeof *have, cmp_keys);
        /* forget removals the bucket no longer lists */
        size_t k = 0;
        for (size_t i = 0; i < st->n_removed; i++)
            if (has_key(l.keys, l.n, st->removed[i])) memmove(st->removed[k++], st->removed[i], 512);
        st->n_removed = k;
        if (k) qsort(st->removed, k, sizeof *st->removed, cmp_keys);
    }
    pthread_mutex_unlock(&st->mu);
    uint64_t opened = 0, damaged = 0;
    for (size_t i = 0; have && gone && i < l.n && rc == TW_OK && !st->stop; i++) {
        char tenant[151], id[TWS_BLOCK_ID_LEN + 1];
        const char *object;
        if (!split_key(l.keys[i], tenant, id, &object) || strcmp(object, "meta.json") != 0) continue;
        if (has_key(have, n_have, l.keys[i])) continue;
        pthread_mutex_lock(&st->mu);
        bool mine = has_key(st->removed, st->n_removed, l.keys[i]);
        pthread_mutex_unlock(&st->mu);
        if (!mine) rc = open_listed(st, tenant, id, &opened, &damaged, err);
    }
    for (size_t i = 0; i < n_gone; i++) entry_unref(st, gone[i]);
    pthread_mutex_lock(&st->mu);
    if (have && gone && rc == TW_OK) st->stats.polls++;
    else st->stats.poll_failures++;
    st->stats.polled_in += opened;
    st->stats.polled_out += n_gone;
    pthread_mutex_unlock(&st->mu);
    if (!have || !gone || rc) logf_(st, "polling the shared store failed, will retry: %s", err[0] ? err : "out of memory");
    if (opened || n_gone || damaged)
        logf_(st, "shared store: %llu block(s) added by other servers opened, %zu removed by them dropped, %llu damaged",
              (unsigned long long)opened, n_gone, (unsigned long long)damaged);
    tw__free(have);
    tw__free(gone);
    tw__free(l.keys);
}

/* ---- checkpoint ------------------------------------------------------------------------- */

#define CHECKPOINT_KEY "checkpoint"

static int read_checkpoint(tws_store *st, uint64_t *lsn, char err[256]) {
    uint8_t *d;
    size_t n;
    tws_objstore_err oe = {{0}};
    *lsn = 0;
    int rc = tws_obj_get(st->state, CHECKPOINT_KEY, &d, &n, &oe);
    if (rc == TW_ENOTFOUND) return TW_OK;
    if (rc) {
        snprintf(err, 256, "reading the checkpoint: %.200s", oe.msg[0] ? oe.msg : tw_strerror(rc));
        return rc;
    }
    char text[64] = "";
    unsigned long long v = 0;
    char tail = 0;
    if (n < sizeof text) memcpy(text, d, n);
    tw__free(d);
    if (n >= sizeof text || sscanf(text, "tracewire-checkpoint 1 %llu%c", &v, &tail) != 2 || tail != '\n') {
        snprintf(err, 256, "the checkpoint file is damaged (expected \"tracewire-checkpoint 1 <lsn>\"); "
                           "remove it to replay the whole write-ahead log");
        return TW_EPARSE;
    }
    *lsn = v;
    return TW_OK;
}

static int write_checkpoint(tws_store *st, uint64_t lsn, char err[256]) {
    char text[64];
    int n = snprintf(text, sizeof text, "tracewire-checkpoint 1 %llu\n", (unsigned long long)lsn);
    tws_objstore_err oe = {{0}};
    int rc = tws_obj_put(st->state, CHECKPOINT_KEY, text, (size_t)n, &oe);
    if (rc) snprintf(err, 256, "writing the checkpoint: %.200s", oe.msg[0] ? oe.msg : tw_strerror(rc));
    return rc;
}

/* ---- writing traces ----------------------------------------------------------------------- */

/* Ids compare as big-endian integers: memcmp's order, without the call. */
static int cmp_u64(uint64_t a, uint64_t b) { return (a > b) - (a < b); }

static int cmp_span_id(const void *x, const void *y) {
    const tws_span_ref *a = x, *b = y;
    return cmp_u64(tw__load_be64(a->span->span_id), tw__load_be64(b->span->span_id));
}

static int cmp_start(const void *x, const void *y) {
    const tws_span_ref *a = x, *b = y;
    if (a->span->start_ns != b->span->start_ns) return a->span->start_ns < b->span->start_ns ? -1 : 1;
    return cmp_span_id(x, y);
}

/* The spans of one trace: exact duplicates dropped, ordered by start time.
 * Returns how many are left at the front of r. */
static size_t prepare_trace(tws_span_ref *r, size_t n) {
    if (n <= 16) { /* the common small trace: pairwise, and an insertion sort */
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            bool dup = false;
            for (size_t j = 0; j < kept && !dup; j++)
                dup = !memcmp(r[i].span->span_id, r[j].span->span_id, 8) && tws_span_equal(r[i].span, r[j].span);
            if (dup) continue;
            tws_span_ref x = r[i];
            size_t k = kept++;
            for (; k > 0 && cmp_start(&r[k - 1], &x) > 0; k--) r[k] = r[k - 1];
            r[k] = x;
        }
        return kept;
    }
    qsort(r, n, sizeof *r, cmp_span_id);
    size_t kept = 0;
    for (size_t i = 0, group = 0; i < n; i++) {
        if (i == 0 || memcmp(r[i].span->span_id, r[i - 1].span->span_id, 8)) group = kept;
        bool dup = false;
        for (size_t j = group; j < kept && !dup; j++) dup = tws_span_equal(r[i].span, r[j].span);
        if (!dup) r[kept++] = r[i];
    }
    if (kept > 1) qsort(r, kept, sizeof *r, cmp_start);
    return kept;
}

typedef struct out_blocks {
    tws_store *st;
    const char *tenant;
    tws_block_writer_options wo;
    uint64_t max_spans;
    tws_block_writer *w;
    tws_block **made;
    size_t n_made, cap_made;
} out_blocks;

static int out_finish(out_blocks *o, char err[256]) {
    if (!o->w) return TW_OK;
    tws_block_meta m;
    int rc = tws_block_writer_finish(o->w, o->st->obj, &m, err);
    tws_block_writer_free(o->w);
    o->w = NULL;
    if (rc) return rc;
    if (o->n_made == o->cap_made) {
        size_t cap = o->cap_made ? o->cap_made * 2 : 4;
        tws_block **b = tw__realloc(o->made, cap * sizeof *b);
        if (!b) return TW_ENOMEM;
        o->made = b;
        o->cap_made = cap;
    }
    tws_block *b;
    if ((rc = tws_block_open(o->st->obj, o->tenant, m.id, &b, err))) return rc; /* reads it back: a check */
    o->made[o->n_made++] = b;
    return TW_OK;
}

static int out_add(out_blocks *o, tws_span_ref *r, size_t n, char err[256]) {
    n = prepare_trace(r, n);
    int rc;
    if (!o->w && (rc = tws_block_writer_new(o->tenant, &o->wo, &o->w))) return rc;
    if ((rc = tws_block_writer_add_trace(o->w, r, n))) {
        snprintf(err, 256, "adding a trace to a block: %s", tw_strerror(rc));
        return rc;
    }
    if (tws_block_writer_spans(o->w) >= o->max_spans) return out_finish(o, err);
    return TW_OK;
}

/* On failure: delete what was written (it is not in the set). */
static void out_abandon(out_blocks *o) {
    tws_block_writer_free(o->w);
    o->w = NULL;
    for (size_t i = 0; i < o->n_made; i++) {
        const tws_block_meta *m = tws_block_get_meta(o->made[i]);
        char err[256];
        tws_block_delete(o->st->obj, m->tenant, m->id, err);
        tws_block_close(o->made[i]);
    }
    tw__free(o->made);
    o->made = NULL;
    o->n_made = 0;
}

/* Hand the made blocks to the set (and remove `old`, n_old entries). */
static int out_commit(out_blocks *o, entry **old, size_t n_old) {
    int rc = TW_OK;
    size_t added = 0;
    pthread_mutex_lock(&o->st->mu);
    for (; added < o->n_made && rc == TW_OK; added++) rc = set_add(o->st, o->made[added]);
    if (rc == TW_OK) {
        for (size_t k = 0; k < n_old; k++)
            for (size_t i = 0; i < o->st->n; i++)
                if (o->st->set[i] == old[k]) {
                    entry *e = set_remove(o->st, i);
                    pthread_mutex_unlock(&o->st->mu);
                    entry_unref(o->st, e); /* the set's reference */
                    pthread_mutex_lock(&o->st->mu);
                    break;
                }
    }
    pthread_mutex_unlock(&o->st->mu);
    if (rc) { /* only out of memory: what is not in the set is closed; its objects stay for the next open */
        for (size_t i = added; i < o->n_made; i++) tws_block_close(o->made[i]);
    }
    tw__free(o->made);
    o->made = NULL;
    o->n_made = 0;
    return rc;
}

typedef struct group {
    tws_span_ref first; /* first member: cmp_ref_trace sorts groups by it */
    size_t at, n;
} group;

static int cmp_ref_trace(const void *x, const void *y) {
    const uint8_t *a = ((const tws_span_ref *)x)->span->trace_id, *b = ((const tws_span_ref *)y)->span->trace_id;
    int c = cmp_u64(tw__load_be64(a), tw__load_be64(b));
    return c ? c : cmp_u64(tw__load_be64(a + 8), tw__load_be64(b + 8));
}

static int do_flush(tws_store *st, const tws_head *h, char err[256]) {
    int rc = TW_OK;
    for (size_t t = 0; t < tws_head_n_tenants(h) && rc == TW_OK; t++) {
        tws_span_ref *r;
        size_t n;
        if ((rc = tws_head_tenant_spans(h, t, &r, &n))) break;
        if (n == 0) continue;
        /* The head hands spans over grouped by trace: sort the groups (one
         * entry per trace), not the spans. */
        size_t n_groups = 0;
        for (size_t i = 0; i < n; i++) n_groups += i == 0 || memcmp(r[i].span->trace_id, r[i - 1].span->trace_id, 16);
        group *g = tw__malloc(n_groups * sizeof *g);
        if (!g) {
            tw__free(r);
            rc = TW_ENOMEM;
            break;
        }
        for (size_t i = 0, k = 0; i < n; i++) {
            if (i == 0 || memcmp(r[i].span->trace_id, r[i - 1].span->trace_id, 16)) g[k++] = (group){r[i], i, 0};
            g[k - 1].n++;
        }
        qsort(g, n_groups, sizeof *g, cmp_ref_trace); /* a group starts with its first span's ref */
        out_blocks o = {.st = st, .tenant = tws_head_tenant(h, t), .max_spans = UINT64_MAX,
                        .wo = {.row_group_spans = st->o.row_group_spans, .zstd_level = st->o.flush_zstd_level}};
        for (size_t i = 0; i < n_groups && rc == TW_OK; i++) {
            rc = out_add(&o, r + g[i].at, g[i].n, err);
            if (rc == TW_OK && st->stop) rc = TW_ESHUTDOWN;
        }
        tw__free(g);
        if (rc == TW_OK) rc = out_finish(&o, err);
        if (rc == TW_OK) rc = out_commit(&o, NULL, 0);
        else out_abandon(&o);
        tw__free(r);
    }
    if (rc && !err[0]) snprintf(err, 256, "flushing the head: %s", tw_strerror(rc));
    return rc;
}

/* ---- writing log records ------------------------------------------------------------------- */

static bool same_key(tw_str a, tw_str b) { return a.len == b.len && (!a.len || !memcmp(a.ptr, b.ptr, a.len)); }

static int cmp_key(tw_str a, tw_str b) {
    size_t n = TW_MIN(a.len, b.len);
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

/* Records of one stream (in time order) into the blocks being made; a
 * block that reaches max_spans records is finished and the stream goes on
 * in the next. */
static int out_add_stream(out_blocks *o, tw_str key, const tws_log_ref *r, size_t n, char err[256]) {
    while (n) {
        int rc;
        if (!o->w && (rc = tws_block_writer_new(o->tenant, &o->wo, &o->w))) return rc;
        uint64_t room = o->max_spans - tws_block_writer_spans(o->w);
        size_t k = n < room ? n : (size_t)room;
        if ((rc = tws_block_writer_add_stream(o->w, key, r, k))) {
            snprintf(err, 256, "adding log records to a block: %s", tw_strerror(rc));
            return rc;
        }
        r += k;
        n -= k;
        if (tws_block_writer_spans(o->w) >= o->max_spans && (rc = out_finish(o, err))) return rc;
    }
    return TW_OK;
}

typedef struct skey {
    tw_str key;
    uint32_t no;
} skey;

static int cmp_skey(const void *x, const void *y) { return cmp_key(((const skey *)x)->key, ((const skey *)y)->key); }

static int do_flush_logs(tws_store *st, const tws_loghead *h, char err[256]) {
    int rc = TW_OK;
    for (size_t t = 0; t < tws_loghead_n_tenants(h) && rc == TW_OK; t++) {
        const char *tenant = tws_loghead_tenant(h, t);
        size_t ns = tws_loghead_n_streams(h, tenant);
        if (!ns) continue;
        skey *k = tw__malloc(ns * sizeof *k);
        if (!k) {
            rc = TW_ENOMEM;
            break;
        }
        for (uint32_t i = 0; i < ns; i++) k[i] = (skey){tws_loghead_stream_key(h, tenant, i), i};
        qsort(k, ns, sizeof *k, cmp_skey); /* blocks hold streams in key order */
        out_blocks o = {.st = st, .tenant = tenant, .max_spans = UINT64_MAX,
                        .wo = {.logs = true, .row_group_spans = st->o.row_group_spans,
                               .zstd_level = st->o.flush_zstd_level}};
        for (size_t i = 0; i < ns && rc == TW_OK; i++) {
            tws_log_ref *r = NULL;
            size_t n = 0;
            rc = tws_loghead_stream_records(h, tenant, k[i].no, 0, 0, &r, &n); /* by time */
            if (rc == TW_OK && n) rc = out_add_stream(&o, k[i].key, r, n, err);
            if (rc == TW_OK && st->stop) rc = TW_ESHUTDOWN;
            tw__free(r);
        }
        tw__free(k);
        if (rc == TW_OK) rc = out_finish(&o, err);
        if (rc == TW_OK) rc = out_commit(&o, NULL, 0);
        else out_abandon(&o);
    }
    if (rc && !err[0]) snprintf(err, 256, "writing the log head to blocks: %s", tw_strerror(rc));
    return rc;
}

/* ---- compaction and retention --------------------------------------------------------------- */

typedef struct cursor {
    entry *e;
    uint64_t rg;
    tws_batch batch;
    uint32_t pos;
    bool done;
} cursor;

static int cursor_load(cursor *c, char err[256]) {
    tws_batch_free(&c->batch);
    c->pos = 0;
    const tws_block_meta *m = tws_block_get_meta(c->e->b);
    while (c->rg < m->row_groups) {
        int rc = tws_block_read_row_group(c->e->b, c->rg++, &c->batch, err);
        if (rc) return rc;
        if (c->batch.n_spans) return TW_OK;
        tws_batch_free(&c->batch);
    }
    c->done = true;
    return TW_OK;
}

/* Merge the blocks `in` (all of one tenant) into new blocks. */
static int merge_blocks(tws_store *st, entry **in, size_t n_in, char err[256]) {
    const tws_block_meta *m0 = tws_block_get_meta(in[0]->b);
    uint32_t level = 0;
    for (size_t i = 0; i < n_in; i++) level = TW_MAX(level, tws_block_get_meta(in[i]->b)->level);
    out_blocks o = {.st = st, .tenant = m0->tenant, .max_spans = st->o.block_max_spans,
                    .wo = {.row_group_spans = st->o.row_group_spans, .zstd_level = st->o.compact_zstd_level,
                           .level = level + 1}};
    cursor *c = tw__calloc(n_in, sizeof *c);
    tws_span_ref *refs = NULL;
    size_t cap = 0;
    int rc = c ? TW_OK : TW_ENOMEM;
    for (size_t i = 0; i < n_in && rc == TW_OK; i++) {
        c[i].e = in[i];
        tws_batch_init(&c[i].batch);
        rc = cursor_load(&c[i], err);
    }
    while (rc == TW_OK && !st->stop) {
        const uint8_t *min = NULL;
        for (size_t i = 0; i < n_in; i++)
            if (!c[i].done && (!min || memcmp(c[i].batch.spans[c[i].pos].trace_id, min, 16) < 0))
                min = c[i].batch.spans[c[i].pos].trace_id;
        if (!min) break;
        uint8_t id[16];
        memcpy(id, min, 16);
        size_t n = 0;
        for (size_t i = 0; i < n_in && rc == TW_OK; i++) {
            /* a trace is never split across row groups of one block */
            while (!c[i].done && c[i].pos < c[i].batch.n_spans &&
                   !memcmp(c[i].batch.spans[c[i].pos].trace_id, id, 16)) {
                if (n == cap) {
                    size_t nc = cap ? cap * 2 : 1024;
                    tws_span_ref *r = tw__realloc(refs, nc * sizeof *r);
                    if (!r) {
                        rc = TW_ENOMEM;
                        break;
                    }
                    refs = r;
                    cap = nc;
                }
                refs[n++] = (tws_span_ref){&c[i].batch, &c[i].batch.spans[c[i].pos++]};
            }
        }
        if (rc == TW_OK) rc = out_add(&o, refs, n, err);
        for (size_t i = 0; i < n_in && rc == TW_OK; i++)
            if (!c[i].done && c[i].pos == c[i].batch.n_spans) rc = cursor_load(&c[i], err);
    }
    if (rc == TW_OK && st->stop) rc = TW_ESHUTDOWN;
    if (rc == TW_OK) rc = out_finish(&o, err);
    if (rc == TW_OK) rc = out_commit(&o, in, n_in);
    else out_abandon(&o);
    for (size_t i = 0; c && i < n_in; i++) tws_batch_free(&c[i].batch);
    tw__free(c);
    tw__free(refs);
    return rc;
}

/* Log blocks merge by stream key, then by time within a stream (each input
 * is in that order): the smallest key among the inputs' next records, its
 * records from every input by time, exact duplicates (a flush repeated
 * after a crash) dropped — a record is compared with those of the same
 * time before it, so a chunk is cut only between two times — then the next
 * key. A row group an input has finished stays in memory ("retired") until
 * the records gathered from it are in the writer. */
typedef struct held {
    tws_batch batch;
    tw_str *keys;
} held;

typedef struct lcursor {
    entry *e;
    uint64_t rg;
    held *cur; /* on the heap: refs point at its batch wherever it goes */
    held **retired;
    size_t n_retired, cap_retired;
    uint32_t pos;
    bool done;
} lcursor;

static void held_free(held *h) {
    if (!h) return;
    tws_batch_free(&h->batch);
    tw__free(h->keys);
    tw__free(h);
}

/* The next row group with records; the current one is retired. */
static int lcursor_next(lcursor *c, char err[256]) {
    const tws_block_meta *m = tws_block_get_meta(c->e->b);
    if (c->cur) {
        if (c->n_retired == c->cap_retired) {
            size_t cap = c->cap_retired ? c->cap_retired * 2 : 4;
            held **r = tw__realloc(c->retired, cap * sizeof *r);
            if (!r) return TW_ENOMEM;
            c->retired = r;
            c->cap_retired = cap;
        }
        c->retired[c->n_retired++] = c->cur;
        c->cur = NULL;
    }
    for (c->pos = 0; c->rg < m->row_groups;) {
        held *h = tw__calloc(1, sizeof *h);
        if (!h) return TW_ENOMEM;
        tws_batch_init(&h->batch);
        int rc = tws_block_read_logs(c->e->b, c->rg++, NULL, &h->batch, &h->keys, err);
        if (rc == TW_OK && h->batch.n_logs) {
            c->cur = h;
            return TW_OK;
        }
        held_free(h);
        if (rc) return rc;
    }
    c->done = true;
    return TW_OK;
}

/* Free the retired row groups no ref in refs[0..n) points into. */
static void release_retired(lcursor *c, size_t n_in, const tws_log_ref *refs, size_t n) {
    for (size_t i = 0; i < n_in; i++) {
        size_t kept = 0;
        for (size_t k = 0; k < c[i].n_retired; k++) {
            bool used = false;
            for (size_t j = 0; j < n && !used; j++) used = refs[j].batch == &c[i].retired[k]->batch;
            if (used) c[i].retired[kept++] = c[i].retired[k]; /* a few at most: the last time's records */
            else held_free(c[i].retired[k]);
        }
        c[i].n_retired = kept;
    }
}

static uint64_t ref_time(const tws_log_ref *r) { return tws_log_time(&r->batch->logs[r->idx]); }

size_t tws__log_merge_chunk = 8192;

static int merge_log_blocks(tws_store *st, entry **in, size_t n_in, char err[256]) {
    const tws_block_meta *m0 = tws_block_get_meta(in[0]->b);
    uint32_t level = 0;
    for (size_t i = 0; i < n_in; i++) level = TW_MAX(level, tws_block_get_meta(in[i]->b)->level);
    out_blocks o = {.st = st, .tenant = m0->tenant, .max_spans = st->o.block_max_spans,
                    .wo = {.logs = true, .row_group_spans = st->o.row_group_spans,
                           .zstd_level = st->o.compact_zstd_level, .level = level + 1}};
    lcursor *c = tw__calloc(n_in, sizeof *c);
    size_t chunk = tws__log_merge_chunk < 2 ? 2 : tws__log_merge_chunk;
    tws_log_ref *refs = tw__malloc(chunk * sizeof *refs);
    tw__buf key;
    tw__buf_init(&key, 1u << 20);
    int rc = c && refs ? TW_OK : TW_ENOMEM;
    for (size_t i = 0; i < n_in && rc == TW_OK; i++) {
        c[i].e = in[i];
        rc = lcursor_next(&c[i], err);
    }
    while (rc == TW_OK && !st->stop) {
        const tw_str *min = NULL;
        for (size_t i = 0; i < n_in; i++)
            if (!c[i].done && (!min || cmp_key(c[i].cur->keys[c[i].pos], *min) < 0)) min = &c[i].cur->keys[c[i].pos];
        if (!min) break;
        key.len = 0;
        if (tw__buf_append(&key, min->ptr, min->len)) {
            rc = TW_ENOMEM;
            break;
        }
        tw_str k = {(const char *)key.data, key.len};
        size_t n = 0;
        while (rc == TW_OK) {
            size_t best = n_in;
            for (size_t i = 0; i < n_in; i++)
                if (!c[i].done && same_key(c[i].cur->keys[c[i].pos], k) &&
                    (best == n_in || tws_log_time(&c[i].cur->batch.logs[c[i].pos]) <
                                         tws_log_time(&c[best].cur->batch.logs[c[best].pos])))
                    best = i;
            if (best == n_in) break;
            lcursor *b = &c[best];
            const tws_log *l = &b->cur->batch.logs[b->pos];
            bool dup = false;
            for (size_t j = n; j-- > 0 && !dup && ref_time(&refs[j]) == tws_log_time(l);)
                dup = tws_log_equal(&refs[j].batch->logs[refs[j].idx], l);
            if (!dup) refs[n++] = (tws_log_ref){&b->cur->batch, b->pos, 0};
            if (++b->pos == b->cur->batch.n_logs) rc = lcursor_next(b, err); /* retired: refs stay valid */
            if (rc == TW_OK && n == chunk) { /* write all but the last time's records */
                size_t hold = 0;
                while (hold < n && ref_time(&refs[n - 1 - hold]) == ref_time(&refs[n - 1])) hold++;
                if (hold == n) hold = 0;
                if ((rc = out_add_stream(&o, k, refs, n - hold, err))) break;
                memmove(refs, refs + n - hold, hold * sizeof *refs);
                n = hold;
                release_retired(c, n_in, refs, n);
            }
        }
        if (rc == TW_OK && n) rc = out_add_stream(&o, k, refs, n, err);
        release_retired(c, n_in, refs, 0);
    }
    if (rc == TW_OK && st->stop) rc = TW_ESHUTDOWN;
    if (rc == TW_OK) rc = out_finish(&o, err);
    if (rc == TW_OK) rc = out_commit(&o, in, n_in);
    else out_abandon(&o);
    for (size_t i = 0; c && i < n_in; i++) {
        held_free(c[i].cur);
        for (size_t k = 0; k < c[i].n_retired; k++) held_free(c[i].retired[k]);
        tw__free(c[i].retired);
    }
    tw__free(c);
    tw__free(refs);
    tw__buf_free(&key);
    return rc;
}

static int cmp_entry(const void *x, const void *y) {
    const tws_block_meta *a = tws_block_get_meta((*(entry *const *)x)->b), *b = tws_block_get_meta((*(entry *const *)y)->b);
    int c = strcmp(a->tenant, b->tenant);
    if (c) return c;
    if (a->start_ns != b->start_ns) return a->start_ns < b->start_ns ? -1 : 1;
    return strcmp(a->id, b->id);
}

/* Within a group: lowest level first, then fewest spans, so a merged block
 * is not rewritten by every later merge (the work stays ~log n per span). */
static int cmp_cheapest(const void *x, const void *y) {
    const tws_block_meta *a = tws_block_get_meta((*(entry *const *)x)->b), *b = tws_block_get_meta((*(entry *const *)y)->b);
    if (a->level != b->level) return a->level < b->level ? -1 : 1;
    if (a->spans != b->spans) return a->spans < b->spans ? -1 : 1;
    return strcmp(a->id, b->id);
}

/* Choose blocks to merge: in the first tenant and time window (by start)
 * holding two or more blocks that fit together in one block, the cheapest
 * ones. The chosen entries are referenced. Returns how many (0: none). */
static size_t plan_compaction(tws_store *st, entry **pick) {
    size_t n_pick = 0;
    pthread_mutex_lock(&st->mu);
    entry **all = tw__malloc((st->n ? st->n : 1) * sizeof *all);
    if (all) {
        if (st->n) memcpy(all, st->set, st->n * sizeof *all);
        qsort(all, st->n, sizeof *all, cmp_entry);
        uint64_t window = st->o.compact_window_s * 1000000000ull;
        for (size_t i = 0; i < st->n && n_pick < 2;) {
            const tws_block_meta *a = tws_block_get_meta(all[i]->b);
            size_t j = i;
            while (j < st->n) {
                const tws_block_meta *b = tws_block_get_meta(all[j]->b);
                if (strcmp(a->tenant, b->tenant) || b->start_ns / window != a->start_ns / window) break;
                j++;
            }
            qsort(all + i, j - i, sizeof *all, cmp_cheapest);
            uint64_t spans = 0;
            n_pick = 0;
            for (size_t k = i; k < j && n_pick < st->o.compact_max_inputs; k++) {
                const tws_block_meta *b = tws_block_get_meta(all[k]->b);
                if (spans + b->spans > st->o.block_max_spans) continue;
                pick[n_pick++] = all[k];
                spans += b->spans;
            }
            i = j;
        }
        if (n_pick < 2) n_pick = 0;
        for (size_t k = 0; k < n_pick; k++) tw__ref_take(&pick[k]->refs);
    }
    pthread_mutex_unlock(&st->mu);
    tw__free(all);
    return n_pick;
}

static void retention(tws_store *st) {
    uint64_t now = (uint64_t)time(NULL) * 1000000000ull, keep = st->o.retention_s * 1000000000ull;
    if (now < keep) return;
    for (;;) {
        entry *gone = NULL;
        pthread_mutex_lock(&st->mu);
        for (size_t i = 0; i < st->n && !gone; i++)
            if (tws_block_get_meta(st->set[i]->b)->end_ns < now - keep) gone = set_remove(st, i);
        if (gone) st->stats.retention_deletes++;
        pthread_mutex_unlock(&st->mu);
        if (!gone) return;
        const tws_block_meta *m = tws_block_get_meta(gone->b);
        logf_(st, "retention: deleting block %s/%s (%llu %s)", m->tenant, m->id, (unsigned long long)m->spans,
              items(st));
        entry_unref(st, gone);
    }
}

/* A flush frees the server's memory: it goes before further merges. */
static bool flush_waiting(tws_store *st) {
    pthread_mutex_lock(&st->mu);
    bool w = st->flush_head != NULL;
    pthread_mutex_unlock(&st->mu);
    return w;
}

/* Retention, then merges until none is left to do. False when it stopped
 * early for a flush (it is resumed right after). */
static bool maintain(tws_store *st) {
    if (st->o.no_maintenance) return true;
    retention(st);
    entry *pick[64];
    if (st->o.compact_max_inputs > 64) st->o.compact_max_inputs = 64;
    for (size_t n; !st->stop && !flush_waiting(st) && (n = plan_compaction(st, pick)) > 0;) {
        char err[256] = "";
        uint64_t spans = 0;
        for (size_t i = 0; i < n; i++) spans += tws_block_get_meta(pick[i]->b)->spans;
        int rc = st->o.logs ? merge_log_blocks(st, pick, n, err) : merge_blocks(st, pick, n, err);
        pthread_mutex_lock(&st->mu);
        if (rc == TW_OK) st->stats.compactions++;
        else st->stats.compaction_failures++;
        pthread_mutex_unlock(&st->mu);
        if (rc == TW_OK)
            logf_(st, "compacted %zu blocks of %s (%llu %s)", n, tws_block_get_meta(pick[0]->b)->tenant,
                  (unsigned long long)spans, items(st));
        for (size_t i = 0; i < n; i++) entry_unref(st, pick[i]);
        if (rc) {
            if (rc != TW_ESHUTDOWN) logf_(st, "compaction failed, will retry: %s", err[0] ? err : tw_strerror(rc));
            break;
        }
    }
    return !flush_waiting(st);
}

/* ---- the worker -------------------------------------------------------------------------- */


static void *worker_main(void *arg) {
    tws_store *st = arg;
    uint64_t next = tw__mono_ms() + st->o.maintenance_ms;
    uint64_t next_poll = st->o.poll_ms ? tw__mono_ms() + st->o.poll_ms : UINT64_MAX;
    pthread_mutex_lock(&st->mu);
    while (!st->stop) {
        if (st->flush_head) {
            const void *h = st->flush_head;
            uint64_t lsn = st->flush_lsn;
            pthread_mutex_unlock(&st->mu);
            char err[256] = "";
            int rc = st->o.logs ? tws_store_flush_logs_now(st, h, lsn, err) : tws_store_flush_now(st, h, lsn, err);
            pthread_mutex_lock(&st->mu);
            tws_store_flushed_fn done = st->flush_done;
            void *user = st->flush_user;
            st->flush_head = NULL;
            pthread_mutex_unlock(&st->mu);
            if (rc && rc != TW_ESHUTDOWN) logf_(st, "flushing the head failed, will retry: %s", err);
            done(user, rc, err);
            pthread_mutex_lock(&st->mu);
            continue;
        }
        if (tw__mono_ms() >= next || st->maintain_now) {
            uint64_t gen = st->maintain_gen;
            st->maintain_now = false;
            pthread_mutex_unlock(&st->mu);
            bool finished = maintain(st);
            pthread_mutex_lock(&st->mu);
            st->maintain_done = gen;
            pthread_cond_broadcast(&st->idle);
            next = finished ? tw__mono_ms() + st->o.maintenance_ms : 0; /* resume after the flush */
            continue;
        }
        if (tw__mono_ms() >= next_poll) {
            pthread_mutex_unlock(&st->mu);
            poll_blocks(st);
            next_poll = tw__mono_ms() + st->o.poll_ms;
            pthread_mutex_lock(&st->mu);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t due = next < next_poll ? next : next_poll, now_ms = tw__mono_ms();
        uint64_t wait = due > now_ms ? due - now_ms : 0;
        if (wait > 1000) wait = 1000;
        until.tv_sec += (time_t)(wait / 1000);
        until.tv_nsec += (long)(wait % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&st->cv, &st->mu, &until);
    }
    st->maintain_done = st->maintain_gen;
    pthread_cond_broadcast(&st->idle);
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* ---- the API ------------------------------------------------------------------------------ */

int tws_store_open(tws_objstore *objects, const char *state_dir, const tws_store_options *o,
                   void (*log)(const char *msg), tws_store **out, uint64_t *checkpoint_lsn, char err[256]) {
    err[0] = 0;
    *out = NULL;
    tws_store *st = tw__calloc(1, sizeof *st);
    if (!st) {
        tws_obj_close(objects);
        return TW_ENOMEM;
    }
    st->obj = objects;
    st->log = log;
    if (o) st->o = *o;
    if (!st->o.retention_s) st->o.retention_s = 14 * 24 * 3600;
    if (!st->o.maintenance_ms) st->o.maintenance_ms = 30000;
    if (!st->o.compact_max_inputs) st->o.compact_max_inputs = 8;
    if (!st->o.compact_window_s) st->o.compact_window_s = 3600;
    if (!st->o.block_max_spans) st->o.block_max_spans = st->o.logs ? 1000000 : 5000000;
    if (!st->o.flush_zstd_level) st->o.flush_zstd_level = 1; /* fast: compaction recompresses */
    if (!st->o.compact_zstd_level) st->o.compact_zstd_level = 9;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    pthread_cond_init(&st->idle, NULL);
    tws_objstore_err oe = {{0}};
    int rc = tws_objstore_local_open(state_dir, &st->state, &oe);
    if (rc) snprintf(err, 256, "opening %.100s: %.140s", state_dir, oe.msg[0] ? oe.msg : tw_strerror(rc));
    if (rc == TW_OK) rc = read_checkpoint(st, checkpoint_lsn, err);
    if (rc == TW_OK) rc = load_blocks(st, err);
    if (rc == TW_OK && pthread_create(&st->worker, NULL, worker_main, st) != 0) {
        snprintf(err, 256, "cannot start the store's worker thread");
        rc = TW_ENOMEM;
    }
    if (rc) {
        tws_store_close(st);
        return rc;
    }
    st->worker_started = true;
    *out = st;
    return TW_OK;
}

void tws_store_close(tws_store *st) {
    if (!st) return;
    if (st->worker_started) {
        pthread_mutex_lock(&st->mu);
        st->stop = true;
        pthread_cond_broadcast(&st->cv);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->worker, NULL);
    }
    for (size_t i = 0; i < st->n; i++) entry_unref(st, st->set[i]);
    tw__free(st->set);
    tw__free(st->removed);
    tws_obj_close(st->obj);
    tws_obj_close(st->state);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    pthread_cond_destroy(&st->idle);
    tw__free(st);
}

static int submit_flush(tws_store *st, const void *frozen, uint64_t cut_lsn, tws_store_flushed_fn done, void *user) {
    pthread_mutex_lock(&st->mu);
    int rc = st->flush_head ? TW_EFULL : TW_OK;
    if (rc == TW_OK) {
        st->flush_head = frozen;
        st->flush_lsn = cut_lsn;
        st->flush_done = done;
        st->flush_user = user;
        pthread_cond_broadcast(&st->cv);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int tws_store_flush(tws_store *st, const tws_head *frozen, uint64_t cut_lsn, tws_store_flushed_fn done, void *user) {
    return st->o.logs ? TW_EINVAL : submit_flush(st, frozen, cut_lsn, done, user);
}

int tws_store_flush_logs(tws_store *st, const tws_loghead *frozen, uint64_t cut_lsn, tws_store_flushed_fn done,
                         void *user) {
    return st->o.logs ? submit_flush(st, frozen, cut_lsn, done, user) : TW_EINVAL;
}

/* The flush, then the checkpoint. */
static int flush_and_checkpoint(tws_store *st, const void *h, uint64_t cut_lsn, char err[256]) {
    err[0] = 0;
    int rc = st->o.logs ? do_flush_logs(st, h, err) : do_flush(st, h, err);
    if (rc == TW_OK) rc = write_checkpoint(st, cut_lsn, err);
    pthread_mutex_lock(&st->mu);
    if (rc) st->stats.flush_failures++;
    else st->stats.flushes++;
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int tws_store_flush_now(tws_store *st, const tws_head *h, uint64_t cut_lsn, char err[256]) {
    if (st->o.logs) return TW_EINVAL;
    return flush_and_checkpoint(st, h, cut_lsn, err);
}

int tws_store_flush_logs_now(tws_store *st, const tws_loghead *h, uint64_t cut_lsn, char err[256]) {
    if (!st->o.logs) return TW_EINVAL;
    return flush_and_checkpoint(st, h, cut_lsn, err);
}

void tws_store_maintain(tws_store *st) {
    pthread_mutex_lock(&st->mu);
    uint64_t gen = ++st->maintain_gen;
    st->maintain_now = true;
    pthread_cond_broadcast(&st->cv);
    while (st->maintain_done < gen && !st->stop) pthread_cond_wait(&st->idle, &st->mu);
    pthread_mutex_unlock(&st->mu);
}

int tws_store_find(tws_store *st, const char *tenant, const uint8_t trace_id[16], uint64_t start_ns,
                   uint64_t end_ns, tws_batch **out, size_t *n_out, char err[256]) {
    err[0] = 0;
    *out = NULL;
    *n_out = 0;
    pthread_mutex_lock(&st->mu);
    entry **c = tw__malloc((st->n ? st->n : 1) * sizeof *c);
    size_t n = 0;
    for (size_t i = 0; c && i < st->n; i++) {
        const tws_block_meta *m = tws_block_get_meta(st->set[i]->b);
        if (strcmp(m->tenant, tenant) || (end_ns && (m->start_ns > end_ns || m->end_ns < start_ns)) ||
            !tws_block_may_contain(st->set[i]->b, trace_id))
            continue;
        tw__ref_take(&st->set[i]->refs);
        c[n++] = st->set[i];
    }
    pthread_mutex_unlock(&st->mu);
    if (!c) return TW_ENOMEM;
    tws_batch *b = tw__calloc(n ? n : 1, sizeof *b);
    int rc = b ? TW_OK : TW_ENOMEM;
    size_t got = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == TW_ENOMEM) {
            entry_unref(st, c[i]);
            continue;
        }
        tws_batch_init(&b[got]);
        char e[256];
        int r = tws_block_find_trace(c[i]->b, trace_id, start_ns, end_ns, &b[got], e);
        if (r == TW_OK && b[got].n_spans) got++;
        else tws_batch_free(&b[got]);
        if (r) {
            if (!err[0]) snprintf(err, 256, "%s", e);
            if (rc == TW_OK || r == TW_ENOMEM) rc = r;
        }
        entry_unref(st, c[i]);
    }
    tw__free(c);
    pthread_mutex_lock(&st->mu);
    st->stats.blocks_read += got;
    pthread_mutex_unlock(&st->mu);
    if (rc == TW_ENOMEM) {
        for (size_t i = 0; i < got; i++) tws_batch_free(&b[i]);
        tw__free(b);
        return rc;
    }
    *out = b;
    *n_out = got;
    return rc;
}

static int cmp_newest(const void *x, const void *y) {
    const tws_block_meta *a = tws_block_get_meta((*(entry *const *)x)->b), *b = tws_block_get_meta((*(entry *const *)y)->b);
    if (a->end_ns != b->end_ns) return a->end_ns < b->end_ns ? 1 : -1;
    return strcmp(a->id, b->id);
}

int tws_store_snapshot(tws_store *st, const char *tenant, uint64_t start_ns, uint64_t end_ns, tws_store_snap *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&st->mu);
    entry **c = tw__malloc((st->n ? st->n : 1) * sizeof *c);
    size_t n = 0;
    for (size_t i = 0; c && i < st->n; i++) {
        const tws_block_meta *m = tws_block_get_meta(st->set[i]->b);
        if (strcmp(m->tenant, tenant) || (end_ns && (m->start_ns > end_ns || m->end_ns < start_ns))) continue;
        tw__ref_take(&st->set[i]->refs);
        c[n++] = st->set[i];
    }
    pthread_mutex_unlock(&st->mu);
    tws_block **b = c ? tw__malloc((n ? n : 1) * sizeof *b) : NULL;
    if (!b) {
        for (size_t i = 0; c && i < n; i++) entry_unref(st, c[i]);
        tw__free(c);
        return TW_ENOMEM;
    }
    qsort(c, n, sizeof *c, cmp_newest);
    for (size_t i = 0; i < n; i++) b[i] = c[i]->b;
    out->blocks = b;
    out->n = n;
    out->entries = (void **)c;
    return TW_OK;
}

void tws_store_snap_release(tws_store *st, tws_store_snap *s) {
    for (size_t i = 0; i < s->n; i++) entry_unref(st, (entry *)s->entries[i]);
    tw__free(s->entries);
    tw__free(s->blocks);
    memset(s, 0, sizeof *s);
}

void tws_store_note_reads(tws_store *st, uint64_t row_groups) {
    pthread_mutex_lock(&st->mu);
    st->stats.blocks_read += row_groups;
    pthread_mutex_unlock(&st->mu);
}

void tws_store_get_stats(tws_store *st, tws_store_stats *out) {
    pthread_mutex_lock(&st->mu);
    *out = st->stats;
    pthread_mutex_unlock(&st->mu);
}

int tws_log_found_add(tws_log_found *f, tws_batch *b, tw_str *keys) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        tws_batch **nb = tw__realloc(f->batches, cap * sizeof *nb);
        if (!nb) return TW_ENOMEM;
        f->batches = nb;
        tw_str **nk = tw__realloc(f->keys, cap * sizeof *nk);
        if (!nk) return TW_ENOMEM;
        f->keys = nk;
        f->cap = cap;
    }
    tws_batch *kept = tw__malloc(sizeof *kept);
    if (!kept) return TW_ENOMEM;
    *kept = *b;
    tws_batch_init(b);
    f->batches[f->n] = kept;
    f->keys[f->n++] = keys;
    return TW_OK;
}

void tws_log_found_free(tws_log_found *f) {
    for (size_t i = 0; i < f->n; i++) {
        tws_batch_free(f->batches[i]);
        tw__free(f->batches[i]);
        tw__free(f->keys[i]);
    }
    tw__free(f->batches);
    tw__free(f->keys);
    memset(f, 0, sizeof *f);
}

int tws_store_find_logs(tws_store *st, const char *tenant, const uint8_t trace_id[16], const uint8_t *span_id,
                        uint64_t start_ns, uint64_t end_ns, tws_log_found *out, char err[256]) {
    err[0] = 0;
    if (!st->o.logs) return TW_EINVAL;
    tws_store_snap snap;
    int rc = tws_store_snapshot(st, tenant, start_ns, end_ns, &snap);
    if (rc) return rc;
    uint64_t read = 0;
    tws_log_filter f = {.trace_id = trace_id, .span_id = span_id, .start_ns = start_ns, .end_ns = end_ns};
    for (size_t i = 0; i < snap.n && rc != TW_ENOMEM; i++) {
        uint32_t *rgs;
        size_t n;
        char e[256];
        int r = tws_block_log_trace_rgs(snap.blocks[i], trace_id, &rgs, &n, e);
        for (size_t k = 0; r == TW_OK && k < n; k++) {
            tws_rg_info info;
            tws_block_row_group_info(snap.blocks[i], rgs[k], &info);
            if (end_ns && (info.start_ns > end_ns || info.end_ns < start_ns)) continue;
            tws_batch b;
            tws_batch_init(&b);
            tw_str *keys;
            r = tws_block_read_logs(snap.blocks[i], rgs[k], &f, &b, &keys, e);
            read++;
            if (r == TW_OK && b.n_logs) r = tws_log_found_add(out, &b, keys);
            else tw__free(keys);
            if (r == TW_ENOMEM) tw__free(keys);
            tws_batch_free(&b);
        }
        tw__free(rgs);
        if (r) {
            if (!err[0]) snprintf(err, 256, "%s", e);
            if (rc == TW_OK || r == TW_ENOMEM) rc = r;
        }
    }
    tws_store_snap_release(st, &snap);
    tws_store_note_reads(st, read);
    return rc;
}
