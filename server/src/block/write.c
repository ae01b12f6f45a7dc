/*
 * write.c — the block writer (block.h): spans in, columns out.
 *
 * Spans are encoded the moment a trace is added, into one growing buffer
 * per column of the current row group, so the writer holds no reference to
 * its input. When the row group is big enough it is sealed: each column is
 * zstd-compressed (kept raw when that is not smaller), checksummed and
 * appended to the block's data buffer with a directory in front. finish()
 * adds the index, the bloom filter and the footer and puts the data object,
 * then meta.json.
 *
 * Invariants: every dictionary id, scope and resource index written refers
 * to an entry of the same row group; a trace is never split; trace ids
 * strictly increase through the block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define XXH_INLINE_ALL /* short strings: the call would cost more than the hash */
#include <xxhash.h>

#include "block/writer.h"
#include "common/crc32c.h"

#define MAX_ATTR_COLUMNS 1000 /* more (key, type) pairs in a row group go to COL_ATTR_MORE */

static void dict_reset(dict *d) {
    tw__buf_reset(&d->lens);
    tw__buf_reset(&d->data);
    if (d->slots) memset(d->slots, 0, d->cap * sizeof *d->slots);
    d->n = 0;
}

static void dict_free(dict *d) {
    tw__buf_free(&d->lens);
    tw__buf_free(&d->data);
    tw__free(d->slots);
    tw__free(d->ent);
}

/* Slots keep the low 32 bits of each string's hash: growing needs no
 * rehash, and a probe of another string rarely gets past the slot. */
static int dict_grow(dict *d) {
    uint32_t cap = d->cap ? d->cap * 2 : 1024;
    uint64_t *s = tw__calloc(cap, sizeof *s);
    if (!s) return TW_ENOMEM;
    for (uint32_t i = 0; i < d->cap; i++) {
        if (!d->slots[i]) continue;
        uint32_t j = (uint32_t)(d->slots[i] >> 32) & (cap - 1);
        while (s[j]) j = (j + 1) & (cap - 1);
        s[j] = d->slots[i];
    }
    tw__free(d->slots);
    d->slots = s;
    d->cap = cap;
    return TW_OK;
}

static inline uint64_t load64(const void *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t load32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* a[0..n) == b[0..n): inline for the short strings spans are made of */
static inline bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n) {
    if (n > 64) return memcmp(a, b, n) == 0;
    if (n >= 8) { /* words, the last one overlapping */
        for (size_t i = 0; i + 8 < n; i += 8)
            if (load64(a + i) != load64(b + i)) return false;
        return load64(a + n - 8) == load64(b + n - 8);
    }
    if (n >= 4) return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

/* The id of `s`, added when new; UINT32_MAX on memory failure. */
static uint32_t dict_id(dict *d, tw_str s) {
    if ((d->n + 1) * 2 > d->cap && dict_grow(d)) return UINT32_MAX;
    uint32_t h = (uint32_t)XXH3_64bits(s.ptr, s.len), j = h & (d->cap - 1);
    for (uint64_t e; (e = d->slots[j]) != 0; j = (j + 1) & (d->cap - 1)) {
        if ((uint32_t)(e >> 32) != h) continue;
        uint32_t id = (uint32_t)e - 1;
        if (d->ent[id].len == s.len &&
            (!s.len || same_bytes(d->data.data + d->ent[id].off, (const uint8_t *)s.ptr, s.len)))
            return id;
    }
    if (d->n == d->n_alloc) {
        uint32_t n = d->n_alloc ? d->n_alloc * 2 : 1024;
        dict_ent *e = tw__realloc(d->ent, n * sizeof *e);
        if (!e) return UINT32_MAX;
        d->ent = e;
        d->n_alloc = n;
    }
    if (d->data.len > UINT32_MAX - s.len) return UINT32_MAX;
    d->ent[d->n] = (dict_ent){(uint32_t)d->data.len, (uint32_t)s.len};
    tw__buf_append(&d->data, s.ptr, s.len);
    tw__pb_varint(&d->lens, s.len);
    if (d->data.failed || d->lens.failed) return UINT32_MAX;
    d->slots[j] = (uint64_t)h << 32 | (d->n + 1);
    return d->n++;
}

int tws_block_writer_new(const char *tenant, const tws_block_writer_options *o, tws_block_writer **out) {
    if (strlen(tenant) > 150) return TW_EINVAL;
    tws_block_writer *w = tw__calloc(1, sizeof *w);
    if (!w) return TW_ENOMEM;
    if (o) w->o = *o;
    if (!w->o.row_group_spans) w->o.row_group_spans = 8192;
    if (!w->o.row_group_bytes) w->o.row_group_bytes = 4u << 20;
    if (!w->o.zstd_level) w->o.zstd_level = 3;
    strcpy(w->tenant, tenant);
    w->zc = ZSTD_createCCtx();
    if (!w->zc) {
        tw__free(w);
        return TW_ENOMEM;
    }
    tw__buf_init(&w->data, 0);
    tw__buf_init(&w->index, 0);
    tw__buf_init(&w->scratch, 0);
    tw__buf_init(&w->dict.lens, 0);
    tw__buf_init(&w->dict.data, 0);
    for (int i = 0; i < N_FIXED; i++) tw__buf_init(&w->col[i], 0);
    tw__buf_init(&w->resources.out, 0);
    tw__buf_init(&w->scopes.out, 0);
    tw__buf_init(&w->shapes.out, 0);
    tw__buf_init(&w->scope_keys.out, 0);
    tw__buf_init(&w->scope_key, 0);
    tw__buf_init(&w->last_key, 0);
    tw__buf_init(&w->tpairs, 0);
    w->start_ns = UINT64_MAX;
    uint8_t hdr[TWS_BLK_HEADER] = {0};
    memcpy(hdr, TWS_BLK_MAGIC, 7);
    hdr[7] = TWS_BLOCK_VERSION;
    hdr[8] = w->o.logs ? TWS_BLOCK_LOGS : TWS_BLOCK_SPANS;
    tw__buf_append(&w->data, hdr, sizeof hdr);
    *out = w;
    return TW_OK;
}

static void table_free(table *t) {
    tw__buf_free(&t->out);
    tw__free(t->slots);
    tw__free(t->hash);
    tw__free(t->off);
    tw__free(t->len);
}

void tws_block_writer_free(tws_block_writer *w) {
    if (!w) return;
    ZSTD_freeCCtx(w->zc);
    tw__buf_free(&w->data);
    tw__buf_free(&w->index);
    tw__buf_free(&w->scratch);
    dict_free(&w->dict);
    for (int i = 0; i < N_FIXED; i++) tw__buf_free(&w->col[i]);
    for (uint32_t i = 0; i < w->n_attrs; i++) {
        tw__buf_free(&w->attrs[i].vals);
        dict_free(&w->attrs[i].seen);
    }
    tw__free(w->attrs);
    tw__free(w->attr_slots);
    table_free(&w->resources);
    table_free(&w->scopes);
    table_free(&w->shapes);
    table_free(&w->scope_keys);
    tw__buf_free(&w->scope_key);
    tw__free(w->scope_rg);
    tw__free(w->memo);
    tw__free(w->key_col);
    tw__free(w->span_cols);
    tw__free(w->trace_ids);
    tw__free(w->pos);
    tw__buf_free(&w->last_key);
    tw__buf_free(&w->tpairs);
    tw__free(w->rg_stream_n);
    tw__free(w);
}

uint64_t tws_block_writer_spans(const tws_block_writer *w) { return w->n_spans; }
uint64_t tws_block_writer_bytes(const tws_block_writer *w) { return w->data.len; }

/* ---- values -------------------------------------------------------------------- */

void tws__w_put_id(tws_block_writer *w, tw__buf *b, tw_str s) {
    uint32_t id = dict_id(&w->dict, s);
    if (id == UINT32_MAX) w->failed = TW_ENOMEM;
    tw__pb_varint(b, id);
}

static void put_le64(tw__buf *b, uint64_t v) {
    uint8_t x[8];
    tws_put_le64(x, v);
    tw__buf_append(b, x, 8);
}

static void put_double(tw__buf *b, double d) {
    uint64_t v;
    memcpy(&v, &d, 8);
    put_le64(b, v);
}

static void put_kvs(tws_block_writer *w, tw__buf *b, const tws_kv *kv, uint32_t n, int depth);

void tws__w_put_generic(tws_block_writer *w, tw__buf *b, const tws_value *v, int depth) {
    tw__buf_putc(b, (uint8_t)v->type);
    if (depth > 64) { /* deeper than any decoder builds: store an empty value */
        b->data[b->len - 1] = TWS_EMPTY;
        return;
    }
    switch (v->type) {
    case TWS_STRING: tws__w_put_id(w, b, v->u.s); break;
    case TWS_BOOL: tw__buf_putc(b, v->u.b); break;
    case TWS_INT: tw__pb_varint(b, tws_zigzag(v->u.i)); break;
    case TWS_DOUBLE: put_double(b, v->u.d); break;
    case TWS_BYTES:
        tw__pb_varint(b, v->u.s.len);
        tw__buf_append(b, v->u.s.ptr, v->u.s.len);
        break;
    case TWS_ARRAY:
        tw__pb_varint(b, v->n);
        for (uint32_t i = 0; i < v->n; i++) tws__w_put_generic(w, b, &v->u.arr[i], depth + 1);
        break;
    case TWS_KVLIST: put_kvs(w, b, v->u.kv, v->n, depth + 1); break;
    case TWS_EMPTY: break;
    }
}

static void put_kvs(tws_block_writer *w, tw__buf *b, const tws_kv *kv, uint32_t n, int depth) {
    tw__pb_varint(b, n);
    for (uint32_t i = 0; i < n; i++) {
        tws__w_put_id(w, b, kv[i].key);
        tws__w_put_generic(w, b, &kv[i].val, depth);
    }
}

void tws__w_put_attrs(tws_block_writer *w, tw__buf *b, const tws_attrs *a) {
    put_kvs(w, b, a->items, a->n, 0);
    tw__pb_varint(b, a->dropped);
}

/* ---- resources and scopes -------------------------------------------------------- */

static int table_grow_index(table *t) {
    uint32_t n = t->n_slots ? t->n_slots * 2 : 64;
    uint32_t *sl = tw__calloc(n, sizeof *sl);
    if (!sl) return TW_ENOMEM;
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t j = (uint32_t)t->hash[i] & (n - 1);
        while (sl[j]) j = (j + 1) & (n - 1);
        sl[j] = i + 1;
    }
    tw__free(t->slots);
    t->slots = sl;
    t->n_slots = n;
    return TW_OK;
}

static void table_reset(table *t) {
    tw__buf_reset(&t->out);
    t->n = 0;
    if (t->slots) memset(t->slots, 0, t->n_slots * sizeof *t->slots);
}

/* Index of the entry `e` (encoded bytes) in `t`, added when new. */
static uint32_t table_id(tws_block_writer *w, table *t, const tw__buf *e) {
    if (e->failed || ((t->n + 1) * 2 > t->n_slots && table_grow_index(t))) {
        w->failed = TW_ENOMEM;
        return 0;
    }
    uint64_t h = XXH3_64bits(e->data, e->len);
    uint32_t j = (uint32_t)h & (t->n_slots - 1);
    for (; t->slots[j]; j = (j + 1) & (t->n_slots - 1)) {
        uint32_t i = t->slots[j] - 1;
        if (t->hash[i] == h && t->len[i] == e->len && !memcmp(t->out.data + t->off[i], e->data, e->len)) return i;
    }
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 16;
        uint64_t *hh = tw__realloc(t->hash, cap * sizeof *hh);
        if (hh) t->hash = hh;
        uint32_t *o = tw__realloc(t->off, cap * sizeof *o);
        if (o) t->off = o;
        uint32_t *l = tw__realloc(t->len, cap * sizeof *l);
        if (l) t->len = l;
        if (!hh || !o || !l) {
            w->failed = TW_ENOMEM;
            return 0;
        }
        t->cap = cap;
    }
    t->hash[t->n] = h;
    t->off[t->n] = (uint32_t)t->out.len;
    t->len[t->n] = (uint32_t)e->len;
    tw__buf_append(&t->out, e->data, e->len);
    t->slots[j] = t->n + 1;
    return t->n++;
}

/* The content of a value, attributes, scope and resource, as plain bytes:
 * equal keys encode alike (dictionary ids are the same for equal strings
 * within a row group), so one of them stands for all. Nesting past the
 * depth put_generic() stores is left out, as there. */
static void key_str(tw__buf *k, tw_str s) {
    tw__pb_varint(k, s.len);
    tw__buf_append(k, s.ptr, s.len);
}

static void key_kvs(tw__buf *k, const tws_kv *kv, uint32_t n, int depth);

static void key_value(tw__buf *k, const tws_value *v, int depth) {
    if (depth > 64) {
        tw__buf_putc(k, TWS_EMPTY);
        return;
    }
    tw__buf_putc(k, (uint8_t)v->type);
    switch (v->type) {
    case TWS_STRING:
    case TWS_BYTES: key_str(k, v->u.s); break;
    case TWS_BOOL: tw__buf_putc(k, v->u.b); break;
    case TWS_INT: put_le64(k, (uint64_t)v->u.i); break;
    case TWS_DOUBLE: put_double(k, v->u.d); break;
    case TWS_ARRAY:
        tw__pb_varint(k, v->n);
        for (uint32_t i = 0; i < v->n; i++) key_value(k, &v->u.arr[i], depth + 1);
        break;
    case TWS_KVLIST: key_kvs(k, v->u.kv, v->n, depth + 1); break;
    case TWS_EMPTY: break;
    }
}

static void key_kvs(tw__buf *k, const tws_kv *kv, uint32_t n, int depth) {
    tw__pb_varint(k, n);
    for (uint32_t i = 0; i < n; i++) {
        key_str(k, kv[i].key);
        key_value(k, &kv[i].val, depth);
    }
}

static void key_attrs(tw__buf *k, const tws_attrs *a) {
    key_kvs(k, a->items, a->n, 0);
    tw__pb_varint(k, a->dropped);
}

/* A new scope (and its resource): encoded, and looked up in the tables. */
static uint32_t scope_encode(tws_block_writer *w, const tws_scope *sc, const tws_resource *r) {
    tw__buf_reset(&w->scratch);
    tws__w_put_id(w, &w->scratch, r->schema_url);
    tws__w_put_attrs(w, &w->scratch, &r->attrs);
    if (w->o.logs) tw__pb_varint(&w->scratch, r->labels_verbatim ? RESF_LABELS_VERBATIM : 0);
    uint32_t ri = table_id(w, &w->resources, &w->scratch);
    tw__buf_reset(&w->scratch);
    tw__pb_varint(&w->scratch, ri);
    tws__w_put_id(w, &w->scratch, sc->name);
    tws__w_put_id(w, &w->scratch, sc->version);
    tws__w_put_id(w, &w->scratch, sc->schema_url);
    tws__w_put_attrs(w, &w->scratch, &sc->attrs);
    return table_id(w, &w->scopes, &w->scratch);
}

static uint32_t scope_by_content(tws_block_writer *w, const tws_batch *b, uint32_t scope_idx);

static inline uint32_t memo_slot(uint64_t batch, uint32_t scope, uint32_t mask) {
    return (uint32_t)tw__mix64(batch * 0x9e3779b97f4a7c15ull + scope) & mask;
}

/* Remember (batch, scope) -> rg; a failed allocation only forgets. */
static void memo_put(tws_block_writer *w, uint64_t batch, uint32_t scope, uint32_t rg) {
    if ((w->n_memo + 1) * 2 > w->memo_cap) {
        uint32_t cap = w->memo_cap ? w->memo_cap * 2 : 256;
        scope_memo *m = tw__calloc(cap, sizeof *m);
        if (!m) return;
        for (uint32_t i = 0; i < w->memo_cap; i++) {
            if (!w->memo[i].batch) continue;
            uint32_t j = memo_slot(w->memo[i].batch, w->memo[i].scope, cap - 1);
            while (m[j].batch) j = (j + 1) & (cap - 1);
            m[j] = w->memo[i];
        }
        tw__free(w->memo);
        w->memo = m;
        w->memo_cap = cap;
    }
    uint32_t mask = w->memo_cap - 1, j = memo_slot(batch, scope, mask);
    while (w->memo[j].batch) j = (j + 1) & mask;
    w->memo[j] = (scope_memo){batch, scope, rg};
    w->n_memo++;
}

/* The row group's scope for scope `scope_idx` of batch b: remembered per
 * (batch id, scope index) — spans of one batch come back many times in a
 * row group — else found by content. */
uint32_t tws__w_scope_index(tws_block_writer *w, const tws_batch *b, uint32_t scope_idx) {
    if (b->id && w->memo_cap) {
        uint32_t mask = w->memo_cap - 1;
        for (uint32_t j = memo_slot(b->id, scope_idx, mask); w->memo[j].batch; j = (j + 1) & mask)
            if (w->memo[j].batch == b->id && w->memo[j].scope == scope_idx) return w->memo[j].rg;
    }
    uint32_t rg = scope_by_content(w, b, scope_idx);
    if (b->id && !w->failed) memo_put(w, b->id, scope_idx, rg);
    return rg;
}

/* Scopes are found by content, never by the batch's address: a span's
 * batch may be freed and another built at its address while the row group
 * grows (compaction reads its inputs row group by row group into one batch
 * each); the memo above is keyed by the batch's id, which a new batch never
 * shares. Finding the plain bytes costs one hash instead of a dictionary
 * lookup per string. */
static uint32_t scope_by_content(tws_block_writer *w, const tws_batch *b, uint32_t scope_idx) {
    const tws_scope *sc = &b->scopes[scope_idx];
    const tws_resource *r = &b->resources[sc->resource_idx];
    tw__buf *k = &w->scope_key;
    tw__buf_reset(k);
    tw__buf_putc(k, r->labels_verbatim);
    key_str(k, r->schema_url);
    key_attrs(k, &r->attrs);
    key_str(k, sc->name);
    key_str(k, sc->version);
    key_str(k, sc->schema_url);
    key_attrs(k, &sc->attrs);
    uint32_t known = w->scope_keys.n, i = table_id(w, &w->scope_keys, k);
    if (w->failed) return 0;
    if (i < known) return w->scope_rg[i];
    if (i >= w->scope_rg_cap) {
        uint32_t cap = w->scope_rg_cap ? w->scope_rg_cap * 2 : 16;
        uint32_t *m = tw__realloc(w->scope_rg, cap * sizeof *m);
        if (!m) {
            w->failed = TW_ENOMEM;
            return 0;
        }
        w->scope_rg = m;
        w->scope_rg_cap = cap;
    }
    return w->scope_rg[i] = scope_encode(w, sc, r);
}

/* ---- span attributes: one column per (key, type) -------------------------------- */

static attr_col *attr_column_find(tws_block_writer *w, uint32_t key, uint8_t type) {
    uint64_t k = (uint64_t)key << 8 | type;
    if ((w->n_attrs + 1) * 2 > w->attr_slots_cap) {
        uint32_t cap = w->attr_slots_cap ? w->attr_slots_cap * 2 : 64;
        uint32_t *s = tw__calloc(cap, sizeof *s);
        if (!s) return NULL;
        for (uint32_t i = 0; i < w->n_attrs; i++) {
            uint32_t j = (uint32_t)XXH3_64bits(&(uint64_t){(uint64_t)w->attrs[i].key << 8 | w->attrs[i].type}, 8);
            while (s[j & (cap - 1)]) j++;
            s[j & (cap - 1)] = i + 1;
        }
        tw__free(w->attr_slots);
        w->attr_slots = s;
        w->attr_slots_cap = cap;
    }
    uint32_t mask = w->attr_slots_cap - 1, j = (uint32_t)XXH3_64bits(&k, 8) & mask;
    for (; w->attr_slots[j]; j = (j + 1) & mask) {
        attr_col *c = &w->attrs[w->attr_slots[j] - 1];
        if (c->key == key && c->type == type) return c;
    }
    if (w->n_attrs == MAX_ATTR_COLUMNS) return NULL;
    if (w->n_attrs == w->cap_attrs) {
        uint32_t cap = w->cap_attrs ? w->cap_attrs * 2 : 32;
        attr_col *a = tw__realloc(w->attrs, cap * sizeof *a);
        if (!a) return NULL;
        w->attrs = a;
        w->cap_attrs = cap;
    }
    attr_col *c = &w->attrs[w->n_attrs];
    memset(c, 0, sizeof *c);
    c->key = key;
    c->type = type;
    tw__buf_init(&c->vals, 0);
    tw__buf_init(&c->seen.lens, 0);
    tw__buf_init(&c->seen.data, 0);
    w->attr_slots[j] = ++w->n_attrs;
    return c;
}

/* The column of (key, type), added when new; NULL past MAX_ATTR_COLUMNS or
 * on memory failure. key_col, checked, answers most lookups: a key
 * almost always comes with one type. */
static attr_col *attr_column(tws_block_writer *w, uint32_t key, uint8_t type) {
    if (key < w->key_col_cap && w->key_col[key]) {
        uint32_t hint = w->key_col[key] - 1;
        if (hint < w->n_attrs && w->attrs[hint].key == key && w->attrs[hint].type == type) return &w->attrs[hint];
    }
    if (key >= w->key_col_cap) {
        uint64_t cap = w->key_col_cap ? w->key_col_cap : 1024;
        while (cap <= key) cap *= 2;
        uint32_t *kc = tw__realloc(w->key_col, (size_t)cap * sizeof *kc);
        if (!kc) {
            w->failed = TW_ENOMEM;
            return NULL;
        }
        memset(kc + w->key_col_cap, 0, (cap - w->key_col_cap) * sizeof *kc);
        w->key_col = kc;
        w->key_col_cap = (uint32_t)cap;
    }
    attr_col *c = attr_column_find(w, key, type);
    if (c) w->key_col[key] = (uint32_t)(c - w->attrs) + 1;
    return c;
}

/* A span's attributes: each value into its (key, type) column, and the
 * span's shape — its scope and the ordered list of its columns — as an id
 * into the row group's shape table. Spans of one kind share a shape, so the
 * id costs a fraction of a byte, and attributes come back in their order. */
static void put_span_attrs(tws_block_writer *w, const tws_attrs *a, uint32_t scope) {
    if (a->n > w->span_cols_cap) {
        uint32_t *c = tw__realloc(w->span_cols, a->n * sizeof *c);
        if (!c) {
            w->failed = TW_ENOMEM;
            return;
        }
        w->span_cols = c;
        w->span_cols_cap = a->n;
    }
    uint32_t more = 0, n_cols = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        const tws_kv *kv = &a->items[i];
        uint32_t key = dict_id(&w->dict, kv->key);
        if (key == UINT32_MAX) {
            w->failed = TW_ENOMEM;
            return;
        }
        attr_col *c = attr_column(w, key, (uint8_t)kv->val.type);
        w->span_cols[i] = c ? (uint32_t)(c - w->attrs) : UINT32_MAX;
        if (!c) {
            more++;
            continue;
        }
        n_cols++;
        switch (kv->val.type) {
        case TWS_STRING: { /* inline when new (0, length, bytes), else 1 + its number */
            uint32_t before = c->seen.n, id = dict_id(&c->seen, kv->val.u.s);
            if (id == UINT32_MAX) {
                w->failed = TW_ENOMEM;
            } else if (id == before) {
                tw__pb_varint(&c->vals, 0);
                tw__pb_varint(&c->vals, kv->val.u.s.len);
                tw__buf_append(&c->vals, kv->val.u.s.ptr, kv->val.u.s.len);
            } else {
                tw__pb_varint(&c->vals, (uint64_t)id + 1);
            }
            break;
        }
        case TWS_INT: tw__pb_varint(&c->vals, tws_zigzag(kv->val.u.i)); break;
        case TWS_DOUBLE: put_double(&c->vals, kv->val.u.d); break;
        case TWS_BOOL: tw__buf_putc(&c->vals, kv->val.u.b); break;
        default: tws__w_put_generic(w, &c->vals, &kv->val, 0); break;
        }
    }
    tw__buf_reset(&w->scratch);
    tw__pb_varint(&w->scratch, scope);
    tw__pb_varint(&w->scratch, n_cols);
    for (uint32_t i = 0; i < a->n; i++)
        if (w->span_cols[i] != UINT32_MAX) tw__pb_varint(&w->scratch, w->span_cols[i]);
    tw__pb_varint(&w->col[COL_SHAPE], table_id(w, &w->shapes, &w->scratch));
    /* Attributes past the column limit, in order, as generic key/values. */
    tw__buf *m = &w->col[COL_ATTR_MORE];
    tw__pb_varint(m, more);
    for (uint32_t i = 0; more && i < a->n; i++) {
        if (w->span_cols[i] != UINT32_MAX) continue;
        tws__w_put_id(w, m, a->items[i].key);
        tws__w_put_generic(w, m, &a->items[i].val, 0);
    }
}

/* ---- sealing a row group ----------------------------------------------------------- */

static void put_column(tws_block_writer *w, tw__buf *dir, tw__buf *body, uint16_t id, uint8_t type, uint32_t key,
                       const tw__buf *raw) {
    if (raw->len == 0) return; /* absent columns read as empty */
    if (raw->len > TWS_COL_MAX_RAW) {
        w->failed = TW_ENOMEM; /* cannot happen below the row-group byte limit */
        return;
    }
    size_t bound = ZSTD_compressBound(raw->len);
    tw__buf_reset(&w->scratch);
    uint8_t codec = TWS_CODEC_RAW;
    const uint8_t *stored = raw->data;
    size_t stored_len = raw->len;
    if (tw__buf_reserve(&w->scratch, bound) == 0) {
        size_t z = ZSTD_compressCCtx(w->zc, w->scratch.data, bound, raw->data, raw->len, w->o.zstd_level);
        if (!ZSTD_isError(z) && z < raw->len) {
            codec = TWS_CODEC_ZSTD;
            stored = w->scratch.data;
            stored_len = z;
        }
    }
    uint8_t e[TWS_RG_DIRENT];
    e[0] = (uint8_t)id;
    e[1] = (uint8_t)(id >> 8);
    e[2] = codec;
    e[3] = type;
    tws_put_le32(e + 4, key);
    tws_put_le32(e + 8, (uint32_t)raw->len);
    tws_put_le32(e + 12, (uint32_t)stored_len);
    tws_put_le32(e + 16, tw__crc32c(0, stored, stored_len));
    tw__buf_append(dir, e, sizeof e);
    tw__buf_append(body, stored, stored_len);
}

int tws__w_seal(tws_block_writer *w) {
    if (!w->rg_spans) return TW_OK;
    /* Tables get their count in front. */
    tw__buf res, scopes, shapes, dir, body;
    tw__buf_init(&res, 0);
    tw__buf_init(&scopes, 0);
    tw__buf_init(&shapes, 0);
    tw__buf_init(&dir, 0);
    tw__buf_init(&body, 0);
    tw__pb_varint(&res, w->resources.n);
    tw__buf_append(&res, w->resources.out.data, w->resources.out.len);
    tw__pb_varint(&scopes, w->scopes.n);
    tw__buf_append(&scopes, w->scopes.out.data, w->scopes.out.len);
    if (!w->o.logs) { /* log records have no shapes */
        tw__pb_varint(&shapes, w->shapes.n);
        tw__buf_append(&shapes, w->shapes.out.data, w->shapes.out.len);
    }
    tw__buf streams; /* log blocks: each stream's key, then its count of records */
    tw__buf_init(&streams, 0);
    if (w->o.logs) {
        tws_rd d = {w->col[COL_LOG_STREAMS].data, w->col[COL_LOG_STREAMS].data + w->col[COL_LOG_STREAMS].len, false};
        for (uint32_t i = 0; i < w->rg_traces; i++) {
            uint64_t n = tws_rd_varint(&d);
            const uint8_t *k = tws_rd_bytes(&d, (size_t)n);
            tw__pb_varint(&streams, n);
            tw__buf_append(&streams, k, (size_t)n);
            tw__pb_varint(&streams, w->rg_stream_n[i]);
        }
    }
    /* the attribute columns' keys, first: a filter on a span attribute
     * reads them (and the one column it names) instead of the dictionary */
    tw__buf keys;
    tw__buf_init(&keys, 0);
    for (uint32_t i = 0; i < w->n_attrs; i++) {
        uint32_t k = w->attrs[i].key;
        tw__pb_varint(&keys, w->dict.ent[k].len);
        tw__buf_append(&keys, w->dict.data.data + w->dict.ent[k].off, w->dict.ent[k].len);
    }
    put_column(w, &dir, &body, COL_ATTR_KEYS, 0, 0, &keys);
    for (int id = 1; id < N_FIXED; id++) {
        if (id == COL_ATTR_KEYS) continue;
        const tw__buf *raw = id == COL_DICT_LENS     ? &w->dict.lens
                             : id == COL_DICT_DATA   ? &w->dict.data
                             : id == COL_RESOURCES   ? &res
                             : id == COL_SCOPES      ? &scopes
                             : id == COL_SHAPES      ? &shapes
                             : id == COL_LOG_STREAMS ? &streams
                                                     : &w->col[id];
        put_column(w, &dir, &body, (uint16_t)id, 0, 0, raw);
    }
    for (uint32_t i = 0; i < w->n_attrs; i++) { /* always listed: shapes refer to them by position */
        attr_col *c = &w->attrs[i];
        put_column(w, &dir, &body, COL_ATTR, c->type, c->key, &c->vals);
    }
    uint64_t off = w->data.len;
    uint8_t h[TWS_RG_HEADER];
    memcpy(h, TWS_RG_MAGIC, 4);
    tws_put_le32(h + 4, (uint32_t)(dir.len / TWS_RG_DIRENT));
    tws_put_le32(h + 8, w->rg_traces);
    tws_put_le32(h + 12, w->rg_spans);
    tws_put_le64(h + 16, w->rg_base);
    uint8_t crc[4];
    tws_put_le32(crc, tw__crc32c(tw__crc32c(0, h, sizeof h), dir.data, dir.len));
    tw__buf_append(&w->data, h, sizeof h);
    tw__buf_append(&w->data, dir.data, dir.len);
    tw__buf_append(&w->data, crc, 4);
    tw__buf_append(&w->data, body.data, body.len);
    int failed = res.failed | scopes.failed | shapes.failed | dir.failed | body.failed | streams.failed | keys.failed;
    tw__buf_free(&keys);
    tw__buf_free(&streams);
    tw__buf_free(&res);
    tw__buf_free(&scopes);
    tw__buf_free(&shapes);
    tw__buf_free(&dir);
    tw__buf_free(&body);
    if (failed) w->failed = failed;

    uint8_t e[TWS_IDX_ENTRY];
    memcpy(e, w->rg_first, 16);
    memcpy(e + 16, w->rg_last, 16);
    tws_put_le64(e + 32, off);
    tws_put_le64(e + 40, w->data.len - off);
    tws_put_le32(e + 48, w->rg_traces);
    tws_put_le32(e + 52, w->rg_spans);
    tws_put_le64(e + 56, w->rg_min_start);
    tws_put_le64(e + 64, w->rg_max_end);
    tw__buf_append(&w->index, e, sizeof e);
    w->n_row_groups++;

    /* reset the row group */
    dict_reset(&w->dict);
    for (int i = 0; i < N_FIXED; i++) tw__buf_reset(&w->col[i]);
    for (uint32_t i = 0; i < w->n_attrs; i++) {
        tw__buf_free(&w->attrs[i].vals);
        dict_free(&w->attrs[i].seen);
    }
    w->n_attrs = 0;
    if (w->attr_slots) memset(w->attr_slots, 0, w->attr_slots_cap * sizeof *w->attr_slots);
    table_reset(&w->resources);
    table_reset(&w->scopes);
    table_reset(&w->shapes);
    table_reset(&w->scope_keys);
    if (w->n_memo) memset(w->memo, 0, w->memo_cap * sizeof *w->memo);
    w->n_memo = 0;
    w->rg_traces = w->rg_spans = 0;
    w->rg_has_stream = w->rg_any_trace = false;
    if (w->data.failed || w->index.failed) w->failed = TW_ENOMEM;
    return w->failed;
}

uint64_t tws__w_rg_bytes(const tws_block_writer *w) {
    uint64_t n = w->dict.data.len + w->dict.lens.len + w->resources.out.len + w->scopes.out.len + w->shapes.out.len;
    for (int i = 0; i < N_FIXED; i++) n += w->col[i].len;
    for (uint32_t i = 0; i < w->n_attrs; i++) n += w->attrs[i].vals.len;
    return n;
}

/* ---- adding a trace ---------------------------------------------------------------- */

static int cmp_pos(const void *a, const void *b) {
    const span_pos *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Sorted by (id, pos), which are all distinct: the order is the same
 * however it is reached. Most traces are small enough for insertion. */
static void sort_pos(span_pos *t, size_t n) {
    if (n > 32) {
        qsort(t, n, sizeof *t, cmp_pos);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        span_pos x = t[i];
        size_t j = i;
        for (; j > 0 && (t[j - 1].id > x.id || (t[j - 1].id == x.id && t[j - 1].pos > x.pos)); j--) t[j] = t[j - 1];
        t[j] = x;
    }
}

/* Position in the trace of the first span with id `id`, or -1. */
static long find_pos(const span_pos *t, size_t n, uint64_t id) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && t[lo].id == id ? (long)t[lo].pos : -1;
}

int tws_block_writer_add_trace(tws_block_writer *w, const tws_span_ref *spans, size_t n) {
    if (w->failed) return w->failed;
    if (n == 0 || n > UINT32_MAX / 2 || w->o.logs) return TW_EINVAL;
    const uint8_t *tid = spans[0].span->trace_id;
    if (w->n_traces && memcmp(tid, w->trace_ids + (w->n_traces - 1) * 16, 16) <= 0) return TW_EINVAL;
    uint64_t tstart = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        const tws_span *s = spans[i].span;
        if (s->reject || memcmp(s->trace_id, tid, 16)) return TW_EINVAL;
        if (s->start_ns < tstart) tstart = s->start_ns;
    }
    if (w->n_traces == w->cap_traces) {
        uint64_t cap = w->cap_traces ? w->cap_traces * 2 : 1024;
        uint8_t *t = tw__realloc(w->trace_ids, cap * 16);
        if (!t) return TW_ENOMEM;
        w->trace_ids = t;
        w->cap_traces = cap;
    }
    if (n > w->pos_cap) {
        span_pos *p = tw__realloc(w->pos, n * sizeof *p);
        if (!p) return TW_ENOMEM;
        w->pos = p;
        w->pos_cap = n;
    }
    for (size_t i = 0; i < n; i++) w->pos[i] = (span_pos){tw__load_be64(spans[i].span->span_id), (uint32_t)i};
    sort_pos(w->pos, n);

    if (w->rg_spans == 0) {
        w->rg_base = tstart;
        w->rg_min_start = UINT64_MAX;
        w->rg_max_end = 0;
        memcpy(w->rg_first, tid, 16);
    }
    memcpy(w->rg_last, tid, 16);
    memcpy(w->trace_ids + w->n_traces * 16, tid, 16);
    w->n_traces++;
    tw__buf_append(&w->col[COL_TRACE_ID], tid, 16);
    tw__pb_varint(&w->col[COL_TRACE_SPANS], n);
    tw__pb_varint(&w->col[COL_TRACE_START], tws_zigzag((int64_t)(tstart - w->rg_base)));

    for (size_t i = 0; i < n; i++) {
        const tws_span *s = spans[i].span;
        const tws_batch *b = spans[i].batch;
        tw__buf_append(&w->col[COL_SPAN_ID], s->span_id, 8);
        if (!s->has_parent) {
            tw__pb_varint(&w->col[COL_PARENT], 0);
        } else {
            long found = find_pos(w->pos, n, tw__load_be64(s->parent_span_id));
            if (found >= 0) {
                tw__pb_varint(&w->col[COL_PARENT], 2 + (uint64_t)found);
            } else {
                tw__pb_varint(&w->col[COL_PARENT], 1);
                tw__buf_append(&w->col[COL_PARENT_ID], s->parent_span_id, 8);
            }
        }
        tw__pb_varint(&w->col[COL_START], s->start_ns - tstart);
        tw__pb_varint(&w->col[COL_DURATION], tws_zigzag((int64_t)(s->end_ns - s->start_ns)));
        tws__w_put_id(w, &w->col[COL_NAME], s->name);
        bool dropped = s->attrs.dropped || s->dropped_events || s->dropped_links;
        uint8_t bits = (uint8_t)((s->kind & 7) | (s->status_code & 3) << 3 | (s->status_message.len ? SPB_STATUS_MSG : 0) |
                                 (s->trace_state.len ? SPB_TRACE_STATE : 0) | (dropped ? SPB_DROPPED : 0));
        tw__buf_putc(&w->col[COL_BITS], bits);
        if (s->status_message.len) tws__w_put_id(w, &w->col[COL_STATUS_MSG], s->status_message);
        if (s->trace_state.len) tws__w_put_id(w, &w->col[COL_TRACE_STATE], s->trace_state);
        tw__pb_varint(&w->col[COL_FLAGS], s->flags);
        if (dropped) {
            tw__pb_varint(&w->col[COL_DROPPED], s->attrs.dropped);
            tw__pb_varint(&w->col[COL_DROPPED], s->dropped_events);
            tw__pb_varint(&w->col[COL_DROPPED], s->dropped_links);
        }
        tw__buf *ev = &w->col[COL_EVENTS];
        tw__pb_varint(ev, s->n_events);
        for (uint32_t k = 0; k < s->n_events; k++) {
            tw__pb_varint(ev, tws_zigzag((int64_t)(s->events[k].time_ns - s->start_ns)));
            tws__w_put_id(w, ev, s->events[k].name);
            tws__w_put_attrs(w, ev, &s->events[k].attrs);
        }
        tw__buf *lk = &w->col[COL_LINKS];
        tw__pb_varint(lk, s->n_links);
        for (uint32_t k = 0; k < s->n_links; k++) {
            const tws_link *l = &s->links[k];
            tw__buf_append(lk, l->trace_id, 16);
            tw__buf_append(lk, l->span_id, 8);
            if (l->trace_state.len) {
                uint32_t id = dict_id(&w->dict, l->trace_state);
                if (id == UINT32_MAX) w->failed = TW_ENOMEM;
                tw__pb_varint(lk, (uint64_t)id + 1);
            } else {
                tw__pb_varint(lk, 0);
            }
            tw__pb_varint(lk, l->flags);
            tws__w_put_attrs(w, lk, &l->attrs);
        }
        put_span_attrs(w, &s->attrs, tws__w_scope_index(w, b, s->scope_idx));
        if (s->start_ns < w->rg_min_start) w->rg_min_start = s->start_ns;
        if (s->end_ns > w->rg_max_end) w->rg_max_end = s->end_ns;
        if (s->start_ns < w->start_ns) w->start_ns = s->start_ns;
        if (s->end_ns > w->end_ns) w->end_ns = s->end_ns;
    }
    w->rg_traces++;
    w->rg_spans += (uint32_t)n;
    w->n_spans += n;
    for (int i = 0; i < N_FIXED; i++)
        if (w->col[i].failed) w->failed = TW_ENOMEM;
    for (uint32_t i = 0; i < w->n_attrs; i++)
        if (w->attrs[i].vals.failed) w->failed = TW_ENOMEM;
    if (w->failed) return w->failed;
    if (w->rg_spans >= w->o.row_group_spans || tws__w_rg_bytes(w) >= w->o.row_group_bytes) return tws__w_seal(w);
    return TW_OK;
}

/* ---- finishing ------------------------------------------------------------------- */

int tws_block_writer_finish(tws_block_writer *w, tws_objstore *store, tws_block_meta *meta, char err[256]) {
    err[0] = 0;
    if (!w->failed && !w->n_spans) w->failed = TW_EINVAL;
    if (!w->failed) tws__w_seal(w);
    tws_bloom bloom = {0};
    tws_block_meta m = {0};
    if (!w->failed && w->o.logs) w->failed = tws__w_log_trace_pages(w, &m, &bloom); /* before the index */
    if (w->failed) {
        tws_bloom_free(&bloom);
        snprintf(err, 256, "building the block failed: %s", tw_strerror(w->failed));
        return w->failed;
    }
    tws_block_new_id(m.id);
    strcpy(m.tenant, w->tenant);
    m.version = TWS_BLOCK_VERSION;
    m.level = w->o.level;
    m.start_ns = w->start_ns;
    m.end_ns = w->end_ns;
    m.kind = w->o.logs ? TWS_BLOCK_LOGS : TWS_BLOCK_SPANS;
    if (!w->o.logs) {
        memcpy(m.min_trace, w->trace_ids, 16);
        memcpy(m.max_trace, w->trace_ids + (w->n_traces - 1) * 16, 16);
    }
    m.spans = w->n_spans;
    m.traces = w->o.logs ? w->n_streams : w->n_traces;
    m.row_groups = w->n_row_groups;
    m.created = (int64_t)time(NULL);

    uint8_t crc[4];
    m.index_off = w->data.len;
    tw__buf_append(&w->data, w->index.data, w->index.len); /* log blocks: their trace pages' entries too */
    tws_put_le32(crc, tw__crc32c(0, w->index.data, w->index.len));
    tw__buf_append(&w->data, crc, 4);
    m.index_len = w->data.len - m.index_off;

    if (!w->o.logs) {
        if (tws_bloom_init(&bloom, w->n_traces)) return TW_ENOMEM;
        for (uint64_t i = 0; i < w->n_traces; i++) tws_bloom_add(&bloom, w->trace_ids + i * 16);
    }
    m.bloom_off = w->data.len;
    size_t bloom_start = w->data.len;
    uint8_t bh[8];
    tws_put_le32(bh, bloom.k);
    tws_put_le32(bh + 4, bloom.n_words);
    tw__buf_append(&w->data, bh, 8);
    for (uint32_t i = 0; i < bloom.n_words; i++) put_le64(&w->data, bloom.words[i]);
    tws_bloom_free(&bloom);
    if (!w->data.failed) {
        tws_put_le32(crc, tw__crc32c(0, w->data.data + bloom_start, w->data.len - bloom_start));
        tw__buf_append(&w->data, crc, 4);
    }
    m.bloom_len = w->data.len - m.bloom_off;

    uint8_t f[TWS_BLK_FOOTER];
    tws_put_le64(f, m.index_off);
    tws_put_le64(f + 8, m.index_len);
    tws_put_le64(f + 16, m.bloom_off);
    tws_put_le64(f + 24, m.bloom_len);
    tws_put_le64(f + 32, m.row_groups);
    tws_put_le32(f + 40, tw__crc32c(0, f, 40));
    memcpy(f + 44, "TWBF", 4);
    tw__buf_append(&w->data, f, sizeof f);
    if (w->data.failed) {
        snprintf(err, 256, "building the block failed: %s", tw_strerror(TW_ENOMEM));
        return TW_ENOMEM;
    }
    m.size = w->data.len;

    char key[512];
    tws_objstore_err oe = {{0}};
    tws_block_key(key, sizeof key, m.tenant, m.id, "data");
    int rc = tws_obj_put(store, key, w->data.data, w->data.len, &oe);
    if (rc == TW_OK) {
        tw__buf js;
        tw__buf_init(&js, 0);
        rc = tws_block_meta_json(&m, &js);
        if (rc == TW_OK) {
            tws_block_key(key, sizeof key, m.tenant, m.id, "meta.json");
            rc = tws_obj_put(store, key, js.data, js.len, &oe);
        }
        tw__buf_free(&js);
    }
    if (rc) {
        if (oe.msg[0]) snprintf(err, 256, "%.255s", oe.msg); /* names the key */
        else snprintf(err, 256, "writing block %s: %s", m.id, tw_strerror(rc));
        return rc;
    }
    if (meta) *meta = m;
    return TW_OK;
}
