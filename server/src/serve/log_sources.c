/*
 * log_sources.c — the records of a log query across the log head, the
 * frozen log head and the log blocks (log_sources.h).
 *
 * Streams are kept in an open-addressing table of their keys (copied: a
 * block's keys live in row groups that come and go). Each head's stream
 * numbers map to the table once, so a head stream costs one lookup per
 * query, not one per record. Blocks are read through a snapshot of the log
 * store, only the row groups whose time range meets the query's, and of
 * those only the streams the caller wants (decided from the row group's
 * stream table before any record is decoded), or — for a trace — only the
 * row groups the blocks' trace index names.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "serve/log_sources.h"

struct lsrc_stream {
    char *key;
    size_t len;
    uint64_t hash;
};

static const tws_loghead *head_of(const tws_logsrc *ls, int h) { return h == 0 ? ls->s->logs : ls->s->log_frozen; }

int tws_logsrc_init(tws_logsrc *ls, tws_server *s, const char *tenant) {
    memset(ls, 0, sizeof *ls);
    ls->s = s;
    ls->tenant = tenant;
    for (int h = 0; h < 2; h++) {
        const tws_loghead *head = head_of(ls, h);
        ls->n_map[h] = head ? tws_loghead_n_streams(head, tenant) : 0;
        if (ls->n_map[h] && !(ls->map[h] = tw__calloc(ls->n_map[h], sizeof *ls->map[h]))) return TW_ENOMEM;
    }
    return TW_OK;
}

void tws_logsrc_free(tws_logsrc *ls) {
    for (uint32_t i = 0; i < ls->n_st; i++) tw__free(ls->st[i].key);
    tw__free(ls->st);
    tw__free(ls->slots);
    tw__free(ls->map[0]);
    tw__free(ls->map[1]);
    tws_log_found_free(&ls->found);
    memset(ls, 0, sizeof *ls);
}

void tws_logrefs_free(tws_logrefs *r) {
    tw__free(r->r);
    memset(r, 0, sizeof *r);
}

uint32_t tws_logsrc_n_streams(const tws_logsrc *ls) { return ls->n_st; }

tw_str tws_logsrc_key(const tws_logsrc *ls, uint32_t stream) {
    return stream < ls->n_st ? (tw_str){ls->st[stream].key, ls->st[stream].len} : (tw_str){"", 0};
}

static int grow_slots(tws_logsrc *ls) {
    uint32_t n = ls->n_slots ? ls->n_slots * 2 : 64;
    uint32_t *s = tw__calloc(n, sizeof *s);
    if (!s) return TW_ENOMEM;
    for (uint32_t i = 0; i < ls->n_st; i++) {
        uint32_t j = (uint32_t)ls->st[i].hash & (n - 1);
        while (s[j]) j = (j + 1) & (n - 1);
        s[j] = i + 1;
    }
    tw__free(ls->slots);
    ls->slots = s;
    ls->n_slots = n;
    return TW_OK;
}

/* The number of the stream with `key`, met now if new; UINT32_MAX when out of memory. */
static uint32_t meet(tws_logsrc *ls, tw_str key) {
    if ((ls->n_st + 1) * 2 > ls->n_slots && grow_slots(ls)) return UINT32_MAX;
    uint64_t h = XXH3_64bits(key.ptr, key.len);
    uint32_t j = (uint32_t)h & (ls->n_slots - 1);
    for (; ls->slots[j]; j = (j + 1) & (ls->n_slots - 1)) {
        const struct lsrc_stream *s = &ls->st[ls->slots[j] - 1];
        if (s->hash == h && s->len == key.len && !memcmp(s->key, key.ptr, key.len)) return ls->slots[j] - 1;
    }
    if (ls->n_st == ls->cap_st) {
        uint32_t cap = ls->cap_st ? ls->cap_st * 2 : 64;
        struct lsrc_stream *n = tw__realloc(ls->st, cap * sizeof *n);
        if (!n) return UINT32_MAX;
        ls->st = n;
        ls->cap_st = cap;
    }
    char *copy = tw__malloc(key.len + 1);
    if (!copy) return UINT32_MAX;
    memcpy(copy, key.ptr, key.len);
    copy[key.len] = '\0';
    ls->st[ls->n_st] = (struct lsrc_stream){copy, key.len, h};
    ls->slots[j] = ++ls->n_st;
    return ls->n_st - 1;
}

/* Stream `no` of head h, as a table number. */
static uint32_t head_stream(tws_logsrc *ls, int h, uint32_t no) {
    if (no >= ls->n_map[h]) return UINT32_MAX;
    if (!ls->map[h][no]) {
        uint32_t st = meet(ls, tws_loghead_stream_key(head_of(ls, h), ls->tenant, no));
        if (st == UINT32_MAX) return st;
        ls->map[h][no] = st + 1;
    }
    return ls->map[h][no] - 1;
}

static int push(tws_logrefs *o, const tws_batch *b, uint32_t idx, uint32_t stream) {
    if (stream == UINT32_MAX) return TW_ENOMEM;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        tws_log_ref *r = tw__realloc(o->r, cap * sizeof *r);
        if (!r) return TW_ENOMEM;
        o->r = r;
        o->cap = cap;
    }
    o->r[o->n++] = (tws_log_ref){b, idx, stream};
    return TW_OK;
}

/* Head refs (stream = the head's number) into *out as table numbers; frees them. */
static int push_head_refs(tws_logsrc *ls, int h, tws_log_ref *refs, size_t n, tws_logrefs *out) {
    int rc = TW_OK;
    for (size_t i = 0; i < n && rc == TW_OK; i++)
        rc = push(out, refs[i].batch, refs[i].idx, head_stream(ls, h, refs[i].stream));
    tw__free(refs);
    return rc;
}

/* The records of found batches [from, ls->found.n) into *out. */
static int push_found(tws_logsrc *ls, size_t from, tws_logrefs *out) {
    int rc = TW_OK;
    for (size_t k = from; k < ls->found.n && rc == TW_OK; k++)
        for (uint32_t j = 0; j < ls->found.batches[k]->n_logs && rc == TW_OK; j++)
            rc = push(out, ls->found.batches[k], j, meet(ls, ls->found.keys[k][j]));
    return rc;
}

int tws_logsrc_by_trace(tws_logsrc *ls, const uint8_t trace_id[16], const uint8_t *span_id, uint64_t start_ns,
                        uint64_t end_ns, tws_logrefs *out, char err[256]) {
    err[0] = '\0';
    int rc = TW_OK;
    for (int h = 0; h < 2 && rc == TW_OK; h++) {
        const tws_loghead *head = head_of(ls, h);
        if (!head) continue;
        tws_log_ref *refs = NULL;
        size_t n = 0;
        rc = tws_loghead_by_trace(head, ls->tenant, trace_id, span_id, start_ns, end_ns, &refs, &n);
        if (rc == TW_OK) rc = push_head_refs(ls, h, refs, n, out);
    }
    if (rc != TW_OK || !ls->s->log_store) return rc;
    size_t from = ls->found.n;
    int r = tws_store_find_logs(ls->s->log_store, ls->tenant, trace_id, span_id, start_ns, end_ns, &ls->found, err);
    rc = push_found(ls, from, out);
    return rc ? rc : r;
}

/* The caller's `want` behind a block's stream table (its keys live in the
 * row group being read: meet copies them). */
typedef struct block_want {
    tws_logsrc *ls;
    tws_logsrc_want_fn want;
    void *user;
} block_want;

static bool want_key(void *user, tw_str key, uint32_t records) {
    block_want *w = user;
    uint32_t st = meet(w->ls, key);
    return st != UINT32_MAX && w->want(w->user, st);
}

static bool meet_key(void *user, tw_str key, uint32_t records) {
    meet(user, key);
    return false;
}

/* Each row group of the tenant's log blocks that meets [start, end]:
 * decode the wanted streams' records (want != NULL) or only meet the streams. */
static int each_row_group(tws_logsrc *ls, uint64_t start_ns, uint64_t end_ns, tws_logsrc_want_fn want, void *user,
                          tws_logrefs *out, char err[256]) {
    if (!ls->s->log_store) return TW_OK;
    tws_store_snap snap;
    int rc = tws_store_snapshot(ls->s->log_store, ls->tenant, start_ns, end_ns, &snap);
    if (rc) return rc;
    block_want bw = {ls, want, user};
    tws_log_filter f = {.start_ns = start_ns, .end_ns = end_ns, .stream = want_key, .user = &bw};
    int damaged = TW_OK;
    uint64_t read = 0;
    for (size_t i = 0; i < snap.n && rc == TW_OK; i++) {
        const tws_block_meta *m = tws_block_get_meta(snap.blocks[i]);
        for (uint64_t g = 0; g < m->row_groups && rc == TW_OK; g++) {
            tws_rg_info info;
            tws_block_row_group_info(snap.blocks[i], g, &info);
            if (end_ns && (info.start_ns > end_ns || info.end_ns < start_ns)) continue;
            char e[256];
            int r;
            read++;
            if (!want) {
                r = tws_block_log_streams(snap.blocks[i], g, meet_key, ls, e);
            } else {
                tws_batch b;
                tws_batch_init(&b);
                tw_str *keys = NULL;
                size_t from = ls->found.n;
                r = tws_block_read_logs(snap.blocks[i], g, &f, &b, &keys, e);
                if (r == TW_OK && b.n_logs && (r = tws_log_found_add(&ls->found, &b, keys)) == TW_OK)
                    r = push_found(ls, from, out);
                else tw__free(keys);
                tws_batch_free(&b);
            }
            if (r == TW_ENOMEM) rc = r;
            else if (r && !damaged) { /* a damaged block: the others are still read */
                damaged = r;
                snprintf(err, 256, "%s", e);
                break;
            }
        }
    }
    ls->row_groups += read;
    tws_store_note_reads(ls->s->log_store, read);
    tws_store_snap_release(ls->s->log_store, &snap);
    return rc ? rc : damaged;
}

int tws_logsrc_scan(tws_logsrc *ls, uint64_t start_ns, uint64_t end_ns, tws_logsrc_want_fn want, void *user,
                    tws_logrefs *out, char err[256]) {
    err[0] = '\0';
    int rc = TW_OK;
    for (int h = 0; h < 2 && rc == TW_OK; h++) {
        const tws_loghead *head = head_of(ls, h);
        for (uint32_t i = 0; head && i < ls->n_map[h] && rc == TW_OK; i++) {
            uint64_t lo, hi;
            tws_loghead_stream_range(head, ls->tenant, i, &lo, &hi);
            if (hi < start_ns || (end_ns && lo > end_ns)) continue;
            uint32_t st = head_stream(ls, h, i);
            if (st == UINT32_MAX) return TW_ENOMEM;
            if (!want(user, st)) continue;
            tws_log_ref *refs = NULL;
            size_t n = 0;
            rc = tws_loghead_stream_records(head, ls->tenant, i, start_ns, end_ns, &refs, &n);
            if (rc == TW_OK) rc = push_head_refs(ls, h, refs, n, out);
            else tw__free(refs);
        }
    }
    return rc ? rc : each_row_group(ls, start_ns, end_ns, want, user, out, err);
}

int tws_logsrc_list_streams(tws_logsrc *ls, uint64_t start_ns, uint64_t end_ns, char err[256]) {
    err[0] = '\0';
    for (int h = 0; h < 2; h++) {
        const tws_loghead *head = head_of(ls, h);
        for (uint32_t i = 0; head && i < ls->n_map[h]; i++) {
            uint64_t lo, hi;
            tws_loghead_stream_range(head, ls->tenant, i, &lo, &hi);
            if (hi < start_ns || (end_ns && lo > end_ns)) continue;
            if (head_stream(ls, h, i) == UINT32_MAX) return TW_ENOMEM;
        }
    }
    return each_row_group(ls, start_ns, end_ns, NULL, NULL, NULL, err);
}
