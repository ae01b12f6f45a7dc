/*
 * read.c — reading blocks (block.h): meta.json, index and bloom filter at
 * open; one row group per trace lookup; whole row groups for compaction;
 * the chosen traces of a row group for a search (tws_rg_*, whose columns
 * load on first use: see rowgroup.h, and filter.c for the predicates).
 *
 * Nothing read is trusted: every count is bounded by the bytes that could
 * hold it before anything is allocated, every id is checked against the
 * table it indexes, and each column's CRC-32C is verified before zstd sees
 * it. Errors name the block, the row group and what was wrong.
 *
 * Decoded strings point into a copy of the row group's dictionary placed
 * in the output batch's arena, so the batch owns everything it refers to.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <zstd.h>

#include "block/rowgroup.h"
#include "common/crc32c.h"

bool tws__block_skip_crc;
/* Tests turn views off to reach the ranged reads on a local store. */
bool tws__block_map = true;

/* Fuzzing turns checksums off (tws__block_skip_crc) so that the decoder
 * behind them sees arbitrary bytes too; nothing else ever sets it. */
bool tws__crc_bad(const void *p, size_t n, uint32_t want) {
    return !tws__block_skip_crc && tw__crc32c(0, p, n) != want;
}


const tws_block_meta *tws_block_get_meta(const tws_block *b) { return &b->meta; }

uint64_t tws_block_memory(const tws_block *b) {
    return sizeof *b + b->meta.row_groups * TWS_IDX_ENTRY + (uint64_t)b->bloom.n_words * 8;
}

void tws_block_close(tws_block *b) {
    if (!b) return;
    tws_obj_unmap(b->store, b->map, b->map_len);
    tw__free(b->index);
    tws_bloom_free(&b->bloom);
    tw__free(b);
}

int tws__block_damaged(char err[256], const tws_block *b, const char *what) {
    snprintf(err, 256, "block %s/%s is damaged: %s", b->meta.tenant, b->meta.id, what);
    return TW_EPARSE;
}

int tws__block_io_error(char err[256], const char *key, int rc, const tws_objstore_err *oe) {
    if (oe->msg[0]) snprintf(err, 256, "%.255s", oe->msg); /* the store's message names the key */
    else snprintf(err, 256, "reading %.200s: %s", key, tw_strerror(rc));
    return rc;
}

int tws_block_open(tws_objstore *store, const char *tenant, const char *id, tws_block **out, char err[256]) {
    err[0] = 0;
    *out = NULL;
    tws_block *b = tw__calloc(1, sizeof *b);
    if (!b) return TW_ENOMEM;
    b->store = store;
    char key[512];
    tws_objstore_err oe = {{0}};
    uint8_t *js = NULL;
    size_t js_len = 0;
    tws_block_key(key, sizeof key, tenant, id, "meta.json");
    int rc = tws_obj_get(store, key, &js, &js_len, &oe);
    if (rc) {
        tw__free(b);
        return rc == TW_ENOTFOUND ? rc : tws__block_io_error(err, key, rc, &oe);
    }
    rc = tws_block_meta_parse((const char *)js, js_len, &b->meta, err);
    tw__free(js);
    tws_block_meta *m = &b->meta;
    if (rc == TW_OK && (strcmp(m->id, id) || strcmp(m->tenant, tenant))) {
        snprintf(err, 256, "%.100s names block %.100s/%.40s", key, m->tenant, m->id);
        rc = TW_EPARSE;
    }
    bool logs = m->kind == TWS_BLOCK_LOGS;
    if (rc == TW_OK &&
        (m->row_groups == 0 || m->row_groups > (1u << 24) || m->trace_pages > (1u << 24) || (!logs && m->trace_pages) ||
         m->index_len != m->row_groups * TWS_IDX_ENTRY + m->trace_pages * TWS_TPAGE_ENTRY + 4 ||
         m->index_off < TWS_BLK_HEADER || m->index_off + m->index_len > m->bloom_off || m->bloom_len < 12 ||
         m->bloom_len > (1ull << 32) || m->bloom_off + m->bloom_len + TWS_BLK_FOOTER != m->size ||
         m->spans == 0 || m->traces == 0 || m->traces > m->spans))
        rc = tws__block_damaged(err, b, "meta.json describes an impossible layout");
    if (rc) {
        tw__free(b);
        return rc;
    }
    tws_block_key(b->data_key, sizeof b->data_key, tenant, id, "data");
    uint8_t *idx = tw__malloc(m->index_len), *bl = idx ? tw__malloc(m->bloom_len) : NULL;
    if (!bl) {
        tw__free(idx);
        tw__free(b);
        return TW_ENOMEM;
    }
    rc = tws_obj_get_range(store, b->data_key, m->index_off, m->index_len, idx, &oe);
    if (rc == TW_OK) rc = tws_obj_get_range(store, b->data_key, m->bloom_off, m->bloom_len, bl, &oe);
    if (rc == TW_ENOTFOUND) rc = tws__block_damaged(err, b, "the data object is missing or shorter than meta.json says");
    else if (rc) rc = tws__block_io_error(err, b->data_key, rc, &oe);
    if (rc == TW_OK && tws__crc_bad(idx, m->index_len - 4, tws_get_le32(idx + m->index_len - 4)))
        rc = tws__block_damaged(err, b, "index checksum mismatch");
    if (rc == TW_OK && tws__crc_bad(bl, m->bloom_len - 4, tws_get_le32(bl + m->bloom_len - 4)))
        rc = tws__block_damaged(err, b, "bloom filter checksum mismatch");
    if (rc == TW_OK) {
        uint32_t k = tws_get_le32(bl), words = tws_get_le32(bl + 4);
        if (k == 0 || k > 32 || words == 0 || (uint64_t)words * 8 + 12 != m->bloom_len) {
            rc = tws__block_damaged(err, b, "bloom filter header");
        } else if (!(b->bloom.words = tw__malloc((size_t)words * 8))) {
            rc = TW_ENOMEM;
        } else {
            b->bloom.k = k;
            b->bloom.n_words = words;
            for (uint32_t i = 0; i < words; i++) b->bloom.words[i] = tws_get_le64(bl + 8 + 8 * (size_t)i);
        }
    }
    /* row groups must be inside the data and (trace blocks) in trace-id order */
    for (uint64_t i = 0; rc == TW_OK && i < m->row_groups; i++) {
        const uint8_t *e = idx + i * TWS_IDX_ENTRY;
        uint64_t off = tws_get_le64(e + 32), len = tws_get_le64(e + 40);
        if ((!logs && (memcmp(e, e + 16, 16) > 0 || (i && memcmp(e - TWS_IDX_ENTRY + 16, e, 16) >= 0))) ||
            off < TWS_BLK_HEADER || len < TWS_RG_HEADER || off + len > m->index_off || len > (1ull << 31))
            rc = tws__block_damaged(err, b, "index entry out of order or out of bounds");
    }
    if (rc == TW_OK && logs) rc = tws__log_pages_check(b, idx + m->row_groups * TWS_IDX_ENTRY, err);
    tw__free(bl);
    if (rc) {
        tw__free(idx);
        tws_block_close(b);
        return rc;
    }
    /* a view of the data object when the store has views (a local
     * directory): row groups are then read in place, with no copy and no
     * system call; else (S3), or when it fails, with ranged gets */
    const uint8_t *map;
    size_t map_len;
    if (tws__block_map && tws_obj_map(store, b->data_key, &map, &map_len, &oe) == TW_OK && map) {
        if (map_len == m->size) {
            b->map = map;
            b->map_len = map_len;
        } else {
            tws_obj_unmap(store, map, map_len); /* not what meta.json describes: ranged reads will say so */
        }
    }
    b->index = idx;
    *out = b;
    return TW_OK;
}

bool tws_block_may_contain(const tws_block *b, const uint8_t trace_id[16]) {
    return memcmp(trace_id, b->meta.min_trace, 16) >= 0 && memcmp(trace_id, b->meta.max_trace, 16) <= 0 &&
           tws_bloom_test(&b->bloom, trace_id);
}

/* ---- an open row group (rowgroup.h) ----------------------------------------------- */

int tws__rg_bad(tws_rg *r, const char *what) { return tws__block_damaged(r->err, r->blk, what); }

static int fetch_failed(tws_rg *r, int rc, const tws_objstore_err *oe) {
    const tws_block *b = r->blk;
    return rc == TW_ENOTFOUND ? tws__block_damaged(r->err, b, "the data object is shorter than its index says")
                              : tws__block_io_error(r->err, b->data_key, rc, oe);
}

/* The stored bytes of column c: from the whole row group when it was read,
 * else a read of the column alone. */
static int col_fetch(tws_rg *r, col *c) {
    if (c->stored) return TW_OK;
    if (r->whole || c->off + c->slen <= r->have) { /* read already */
        c->stored = (r->whole ? r->whole : r->head) + c->off;
        return TW_OK;
    }
    uint8_t *p = tw__malloc(c->slen ? c->slen : 1);
    if (!p) return TW_ENOMEM;
    r->owned[r->n_owned++] = p;
    tws_objstore_err oe = {{0}};
    int rc = tws_obj_get_range(r->blk->store, r->blk->data_key, r->off + c->off, c->slen, p, &oe);
    if (rc) return fetch_failed(r, rc, &oe);
    c->stored = p;
    return TW_OK;
}

/* Read the whole row group (decoding needs most columns: one read). */
int tws__rg_fetch_whole(tws_rg *r) {
    if (r->whole) return TW_OK;
    uint8_t *p = tw__malloc(r->len);
    if (!p) return TW_ENOMEM;
    r->owned[r->n_owned++] = p;
    tws_objstore_err oe = {{0}};
    int rc = tws_obj_get_range(r->blk->store, r->blk->data_key, r->off, r->len, p, &oe);
    if (rc) return fetch_failed(r, rc, &oe);
    r->whole = p;
    return TW_OK;
}

/* One decompression context per thread, kept: ZSTD_decompress would make
 * and free one (~100 KiB) for every column read. */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static void dctx_free(void *d) { ZSTD_freeDCtx(d); }
static void dctx_init(void) {
    if (pthread_key_create(&dctx_key, dctx_free)) abort(); /* only when the process is out of keys */
}

size_t tws__zstd_decompress(void *dst, size_t cap, const void *src, size_t len) {
    pthread_once(&dctx_once, dctx_init);
    ZSTD_DCtx *d = pthread_getspecific(dctx_key);
    if (!d) {
        if (!(d = ZSTD_createDCtx())) return ZSTD_decompress(dst, cap, src, len); /* it reports the memory error */
        if (pthread_setspecific(dctx_key, d)) {
            ZSTD_freeDCtx(d);
            return ZSTD_decompress(dst, cap, src, len);
        }
    }
    return ZSTD_decompressDCtx(d, dst, cap, src, len);
}

int tws__rg_col(tws_rg *r, col *c) {
    if (c->loaded || !c->ent) return TW_OK;
    int rc = col_fetch(r, c);
    if (rc) return rc;
    const uint8_t *e = c->ent;
    uint8_t codec = e[2];
    uint32_t raw = tws_get_le32(e + 8), len = tws_get_le32(e + 12);
    if (tws__crc_bad(c->stored, len, tws_get_le32(e + 16))) return tws__rg_bad(r, "column checksum mismatch");
    if (codec == TWS_CODEC_RAW) {
        if (raw != len) return tws__rg_bad(r, "raw column length");
        c->p = len ? c->stored : (const uint8_t *)"";
        c->len = len;
        c->loaded = true;
        return TW_OK;
    }
    if (codec != TWS_CODEC_ZSTD || raw > TWS_COL_MAX_RAW) return tws__rg_bad(r, "unknown column codec or size");
    uint8_t *buf = tw__malloc(raw ? raw : 1);
    if (!buf) return TW_ENOMEM;
    r->owned[r->n_owned++] = buf;
    size_t z = tws__zstd_decompress(buf, raw, c->stored, len);
    if (ZSTD_isError(z) || z != raw) return tws__rg_bad(r, "column does not decompress to its length");
    c->p = buf;
    c->len = raw;
    c->loaded = true;
    return TW_OK;
}

tws_rd tws__col_rd(const col *c) {
    const uint8_t *p = c->p ? c->p : (const uint8_t *)""; /* an absent column reads as empty */
    return (tws_rd){p, p + c->len, false};
}

int tws__rg_dict_id(tws_rg *r, tws_rd *d, tw_str *out) {
    uint64_t id = tws_rd_varint(d);
    if (d->bad || id >= r->n_dict) {
        d->bad = true;
        return TW_EPARSE;
    }
    if (out) *out = r->dict[id];
    return TW_OK;
}
static int read_kvs(tws_rg *r, tws_rd *d, tws_kv **items, uint32_t *n, int depth);

/* One generic value; out NULL: skip it. */
int tws__rg_value(tws_rg *r, tws_rd *d, tws_value *out, uint8_t type, int depth) {
    tws_value tmp;
    tws_value *v = out ? out : &tmp;
    memset(v, 0, sizeof *v);
    if (depth > 64) return TW_EPARSE;
    v->type = (tws_type)type;
    switch (type) {
    case TWS_STRING: return tws__rg_dict_id(r, d, &v->u.s);
    case TWS_BOOL: v->u.b = tws_rd_u8(d) != 0; break;
    case TWS_INT: v->u.i = tws_unzigzag(tws_rd_varint(d)); break;
    case TWS_DOUBLE: {
        const uint8_t *p = tws_rd_bytes(d, 8);
        uint64_t x = p ? tws_get_le64(p) : 0;
        memcpy(&v->u.d, &x, 8);
        break;
    }
    case TWS_BYTES: {
        uint64_t n = tws_rd_varint(d);
        const uint8_t *p = n <= (uint64_t)(d->end - d->p) ? tws_rd_bytes(d, (size_t)n) : NULL;
        if (!p) return TW_EPARSE;
        if (out) {
            char *c = tws_batch_alloc(r->out, n ? n : 1);
            if (!c) return TW_ENOMEM;
            memcpy(c, p, n);
            v->u.s = (tw_str){c, (size_t)n};
        }
        break;
    }
    case TWS_ARRAY: {
        uint64_t n = tws_rd_varint(d);
        if (n > (uint64_t)(d->end - d->p)) return TW_EPARSE; /* each value takes a byte at least */
        v->n = (uint32_t)n;
        if (out && n && !(v->u.arr = tws_batch_alloc(r->out, n * sizeof *v->u.arr))) return TW_ENOMEM;
        for (uint64_t i = 0; i < n; i++) {
            uint8_t t = tws_rd_u8(d);
            int rc = tws__rg_value(r, d, out ? &v->u.arr[i] : NULL, t, depth + 1);
            if (rc) return rc;
        }
        break;
    }
    case TWS_KVLIST: return read_kvs(r, d, out ? &v->u.kv : NULL, &v->n, depth + 1);
    case TWS_EMPTY: break;
    default: return TW_EPARSE;
    }
    return d->bad ? TW_EPARSE : TW_OK;
}

static int read_kvs(tws_rg *r, tws_rd *d, tws_kv **items, uint32_t *n_out, int depth) {
    uint64_t n = tws_rd_varint(d);
    if (d->bad || n > (uint64_t)(d->end - d->p) / 2) return TW_EPARSE; /* key and type: 2 bytes at least */
    *n_out = (uint32_t)n;
    if (items) {
        *items = NULL;
        if (n && !(*items = tws_batch_alloc(r->out, n * sizeof **items))) return TW_ENOMEM;
    }
    for (uint64_t i = 0; i < n; i++) {
        tws_kv *kv = items ? &(*items)[i] : NULL;
        int rc = tws__rg_dict_id(r, d, kv ? &kv->key : NULL);
        if (rc) return rc;
        uint8_t t = tws_rd_u8(d);
        if ((rc = tws__rg_value(r, d, kv ? &kv->val : NULL, t, depth))) return rc;
    }
    return TW_OK;
}

int tws__rg_attrs(tws_rg *r, tws_rd *d, tws_attrs *a, bool keep) {
    tws_attrs tmp;
    if (!a) a = &tmp;
    int rc = read_kvs(r, d, keep ? &a->items : NULL, &a->n, 0);
    uint64_t dropped = tws_rd_varint(d);
    a->dropped = dropped > UINT32_MAX ? UINT32_MAX : (uint32_t)dropped;
    return rc ? rc : d->bad ? TW_EPARSE : TW_OK;
}

#define RG_NEED_MORE 1 /* the directory goes past the bytes read */

/* Header and directory (in the first `have` bytes at r->head): each
 * column's place, nothing read or decompressed yet. */
static int rg_directory(tws_rg *r, size_t have) {
    const uint8_t *buf = r->head;
    size_t len = r->len;
    if (len < TWS_RG_HEADER || memcmp(buf, TWS_RG_MAGIC, 4)) return tws__rg_bad(r, "row group header");
    uint32_t n_cols = tws_get_le32(buf + 4);
    r->n_traces = tws_get_le32(buf + 8);
    r->n_spans = tws_get_le32(buf + 12);
    r->base = tws_get_le64(buf + 16);
    /* a span takes a byte of the row group at least (its 8-byte id does not
     * compress); a log record may take less: its count is checked against
     * its columns' raw lengths before anything is sized by it (logs.c) */
    bool logs = r->blk->meta.kind == TWS_BLOCK_LOGS;
    if (n_cols > TWS_RG_MAX_COLUMNS || (uint64_t)n_cols * TWS_RG_DIRENT + 4 > len - TWS_RG_HEADER || !r->n_traces ||
        r->n_traces > r->n_spans || (!logs && r->n_spans > len))
        return tws__rg_bad(r, "row group header counts");
    size_t head = TWS_RG_HEADER + (size_t)n_cols * TWS_RG_DIRENT, avail = len - head - 4, at = 0;
    if (head + 4 > have) return RG_NEED_MORE; /* read more first */
    r->owned = tw__calloc(2 * (size_t)n_cols + 2, sizeof *r->owned); /* a read and a decompression per column */
    r->attrs = tw__calloc(n_cols + 1, sizeof *r->attrs);
    if (!r->owned || !r->attrs) return TW_ENOMEM;
    const uint8_t *dir = buf + TWS_RG_HEADER;
    if (tws__crc_bad(buf, head, tws_get_le32(buf + head))) return tws__rg_bad(r, "row group directory checksum mismatch");
    for (uint32_t i = 0; i < n_cols; i++) {
        const uint8_t *e = dir + (size_t)i * TWS_RG_DIRENT;
        uint16_t id = (uint16_t)(e[0] | e[1] << 8);
        uint32_t stored = tws_get_le32(e + 12);
        if (stored > avail - at) return tws__rg_bad(r, "column past the end of the row group");
        col *c;
        if (id == COL_ATTR) {
            c = &r->attrs[r->n_attrs++];
            if (e[3] > TWS_BYTES) return tws__rg_bad(r, "attribute column key or type");
        } else if (id >= 1 && id <= TWS_COL_LAST_FIXED && !r->fixed[id].ent) {
            c = &r->fixed[id];
        } else {
            return tws__rg_bad(r, "unknown or repeated column");
        }
        c->ent = e;
        c->off = head + 4 + at;
        c->slen = stored;
        c->type = e[3];
        c->key = tws_get_le32(e + 4);
        at += stored;
    }
    return TW_OK;
}

/* The dictionary, its strings where they were decompressed. */
static int load_dict(tws_rg *r) {
    int rc;
    if (r->dict) return TW_OK;
    if ((rc = tws__rg_col(r, &r->fixed[COL_DICT_LENS])) || (rc = tws__rg_col(r, &r->fixed[COL_DICT_DATA]))) return rc;
    tws_rd lens = tws__col_rd(&r->fixed[COL_DICT_LENS]);
    const col *dd = &r->fixed[COL_DICT_DATA];
    const char *strings = dd->p ? (const char *)dd->p : "";
    uint64_t n = 0;
    for (tws_rd t = lens; t.p < t.end && !t.bad; n++) tws_rd_varint(&t);
    if (n > UINT32_MAX) return tws__rg_bad(r, "dictionary size");
    tw_str *dict = tw__malloc((n ? n : 1) * sizeof *dict);
    if (!dict) return TW_ENOMEM;
    uint64_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t l = tws_rd_varint(&lens);
        if (lens.bad || l > dd->len - off) {
            tw__free(dict);
            return tws__rg_bad(r, "dictionary lengths");
        }
        dict[i] = (tw_str){strings + off, (size_t)l};
        off += l;
    }
    if (off != dd->len) {
        tw__free(dict);
        return tws__rg_bad(r, "dictionary lengths");
    }
    r->dict = dict;
    r->n_dict = (uint32_t)n;
    return TW_OK;
}

int tws__rg_keys(tws_rg *r) {
    if (r->keys || !r->n_attrs) return TW_OK;
    const col *kc = &r->fixed[COL_ATTR_KEYS];
    tw_str *keys = NULL;
    int rc = TW_OK;
    if (!kc->ent) { /* format 1: the dictionary names them */
        if ((rc = tws__rg_dict(r))) return rc;
        if (!(keys = tw__malloc(r->n_attrs * sizeof *keys))) return TW_ENOMEM;
        for (uint32_t c = 0; c < r->n_attrs; c++) keys[c] = r->dict[r->attrs[c].key];
        r->keys = keys;
        return TW_OK;
    }
    if ((rc = tws__rg_col(r, &r->fixed[COL_ATTR_KEYS]))) return rc;
    if (!(keys = tw__malloc(r->n_attrs * sizeof *keys))) return TW_ENOMEM;
    tws_rd d = tws__col_rd(kc);
    for (uint32_t c = 0; c < r->n_attrs; c++) {
        uint64_t len = tws_rd_varint(&d);
        const uint8_t *p = !d.bad && len <= (uint64_t)(d.end - d.p) ? tws_rd_bytes(&d, (size_t)len) : NULL;
        if (!p) {
            tw__free(keys);
            return tws__rg_bad(r, "attribute column keys");
        }
        keys[c] = (tw_str){(const char *)p, (size_t)len};
    }
    if (d.p != d.end) {
        tw__free(keys);
        return tws__rg_bad(r, "attribute column keys");
    }
    r->keys = keys;
    return TW_OK;
}

int tws__rg_dict(tws_rg *r) {
    int rc = load_dict(r);
    for (uint32_t c = 0; rc == TW_OK && c < r->n_attrs; c++)
        if (r->attrs[c].key >= r->n_dict) rc = tws__rg_bad(r, "attribute column key or type");
    return rc;
}

/* Decoded spans point into the batch: move the dictionary's strings there
 * (once), and the tables read before, which point into the old place, are
 * read again. */
int tws__rg_dict_into_batch(tws_rg *r) {
    int rc = tws__rg_dict(r);
    if (rc || r->dict_in_batch) return rc;
    const col *dd = &r->fixed[COL_DICT_DATA];
    char *strings = tws_batch_alloc(r->out, dd->len ? dd->len : 1);
    if (!strings) return TW_ENOMEM;
    if (dd->len) memcpy(strings, dd->p, dd->len);
    const char *old = dd->p ? (const char *)dd->p : "";
    for (uint32_t i = 0; i < r->n_dict; i++) r->dict[i].ptr = strings + (r->dict[i].ptr - old);
    r->dict_in_batch = true;
    if (r->tables == 1) r->tables = 0; /* resources and scopes again (shapes name no strings) */
    return TW_OK;
}

/* Shapes: a scope index and an ordered list of attribute columns each
 * (their scopes are checked against the scope table by load_tables). */
static int load_shapes(tws_rg *r) {
    int rc = tws__rg_col(r, &r->fixed[COL_SHAPES]);
    if (rc) return rc;
    tws_rd d = tws__col_rd(&r->fixed[COL_SHAPES]);
    uint64_t nsh = tws_rd_varint(&d);
    size_t room = r->fixed[COL_SHAPES].len;
    if (d.bad || nsh == 0 || nsh > room) return tws__rg_bad(r, "shape table");
    r->shapes = tw__malloc(nsh * sizeof *r->shapes);
    r->shape_cols = tw__malloc((room ? room : 1) * sizeof *r->shape_cols); /* a position takes a byte at least */
    if (!r->shapes || !r->shape_cols) return TW_ENOMEM;
    r->n_shapes = (uint32_t)nsh;
    uint32_t used = 0;
    for (uint32_t i = 0; i < nsh; i++) {
        uint64_t sc = tws_rd_varint(&d), k = tws_rd_varint(&d);
        if (d.bad || sc > UINT32_MAX || k > (uint64_t)(d.end - d.p)) return tws__rg_bad(r, "shape table");
        r->shapes[i] = (shape){(uint32_t)sc, used, (uint32_t)k};
        for (uint64_t j = 0; j < k; j++) {
            uint64_t c = tws_rd_varint(&d);
            if (d.bad || c >= r->n_attrs) return tws__rg_bad(r, "shape table");
            r->shape_cols[used++] = (uint32_t)c;
        }
    }
    return TW_OK;
}

/* Load a part of the row group once: *state is 0 (not yet), 1 (loaded) or
 * the error the first load gave, which later callers get again (the detail
 * went to the first caller's *err; theirs names `what`). */
static int load_once(tws_rg *r, int *state, int (*load)(tws_rg *), const char *what) {
    if (*state == 0) {
        int rc = load(r);
        *state = rc == TW_OK ? 1 : rc;
        return rc;
    }
    if (*state == 1) return TW_OK;
    if (*state != TW_ENOMEM) tws__rg_bad(r, what);
    return *state;
}

int tws__rg_shapes(tws_rg *r) { return load_once(r, &r->shapes_state, load_shapes, "shape table"); }

static int load_tables(tws_rg *r) {
    int rc;
    for (int id = COL_RESOURCES; id <= COL_SCOPES; id++)
        if ((rc = tws__rg_col(r, &r->fixed[id]))) return rc;
    if ((rc = tws__rg_dict(r))) return rc;
    bool logs = r->blk->meta.kind == TWS_BLOCK_LOGS; /* log records have no shapes */
    /* resources and scopes */
    tws_batch *o = r->out;
    tws_rd d = tws__col_rd(&r->fixed[COL_RESOURCES]);
    uint64_t nr = tws_rd_varint(&d);
    if (d.bad || nr == 0 || nr > r->fixed[COL_RESOURCES].len) return tws__rg_bad(r, "resource table");
    if (!(o->resources = tws_batch_alloc(o, nr * sizeof *o->resources))) return TW_ENOMEM;
    memset(o->resources, 0, nr * sizeof *o->resources);
    o->n_resources = (uint32_t)nr;
    for (uint32_t i = 0; i < nr; i++) {
        rc = tws__rg_dict_id(r, &d, &o->resources[i].schema_url);
        if (!rc) rc = tws__rg_attrs(r, &d, &o->resources[i].attrs, true);
        if (!rc && r->blk->meta.kind == TWS_BLOCK_LOGS) {
            uint64_t flags = tws_rd_varint(&d);
            o->resources[i].labels_verbatim = (flags & RESF_LABELS_VERBATIM) != 0;
            if (d.bad) rc = TW_EPARSE;
        }
        if (rc == TW_ENOMEM) return rc;
        if (rc) return tws__rg_bad(r, "resource table");
    }
    d = tws__col_rd(&r->fixed[COL_SCOPES]);
    uint64_t ns = tws_rd_varint(&d);
    if (d.bad || ns == 0 || ns > r->fixed[COL_SCOPES].len) return tws__rg_bad(r, "scope table");
    if (!(o->scopes = tws_batch_alloc(o, ns * sizeof *o->scopes))) return TW_ENOMEM;
    memset(o->scopes, 0, ns * sizeof *o->scopes);
    o->n_scopes = (uint32_t)ns;
    for (uint32_t i = 0; i < ns; i++) {
        tws_scope *s = &o->scopes[i];
        uint64_t ri = tws_rd_varint(&d);
        rc = ri < nr ? TW_OK : TW_EPARSE;
        s->resource_idx = (uint32_t)ri;
        if (!rc) rc = tws__rg_dict_id(r, &d, &s->name);
        if (!rc) rc = tws__rg_dict_id(r, &d, &s->version);
        if (!rc) rc = tws__rg_dict_id(r, &d, &s->schema_url);
        if (!rc) rc = tws__rg_attrs(r, &d, &s->attrs, true);
        if (rc == TW_ENOMEM) return rc;
        if (rc) return tws__rg_bad(r, "scope table");
    }
    if (logs) return TW_OK;
    if ((rc = tws__rg_shapes(r))) return rc;
    for (uint32_t i = 0; i < r->n_shapes; i++)
        if (r->shapes[i].scope >= ns) return tws__rg_bad(r, "shape table");
    return TW_OK;
}

int tws__rg_tables(tws_rg *r) { return load_once(r, &r->tables, load_tables, "row group tables"); }

int tws__rg_col_str(tws_rg *r, col *c, tws_rd *d, tw_str *s, uint32_t *num) {
    uint64_t v = tws_rd_varint(d);
    if (d->bad) return TW_EPARSE;
    if (v == 0) {
        uint64_t n = tws_rd_varint(d);
        const uint8_t *p = !d->bad && n <= (uint64_t)(d->end - d->p) ? tws_rd_bytes(d, (size_t)n) : NULL;
        if (!p) return TW_EPARSE;
        if (c->n_seen == c->cap_seen) {
            uint32_t cap = c->cap_seen ? c->cap_seen * 2 : 256;
            tw_str *t = tw__realloc(c->seen, cap * sizeof *t);
            if (!t) return TW_ENOMEM;
            c->seen = t;
            c->cap_seen = cap;
        }
        *num = c->n_seen;
        *s = c->seen[c->n_seen++] = (tw_str){(const char *)p, (size_t)n};
    } else if (v - 1 < c->n_seen) {
        *num = (uint32_t)(v - 1);
        *s = c->seen[v - 1];
    } else {
        return TW_EPARSE;
    }
    (void)r;
    return TW_OK;
}

/* One value of a string attribute column, copied into the batch; out NULL: skip. */
static int read_col_string(tws_rg *r, col *c, tws_rd *d, tws_value *out) {
    tw_str s;
    uint32_t num;
    int rc = tws__rg_col_str(r, c, d, &s, &num);
    if (rc || !out) return rc;
    char *copy = tws_batch_alloc(r->out, s.len ? s.len : 1); /* the batch owns what it returns */
    if (!copy) return TW_ENOMEM;
    if (s.len) memcpy(copy, s.ptr, s.len);
    out->type = TWS_STRING;
    out->n = 0;
    out->u.s = (tw_str){copy, s.len};
    return TW_OK;
}

/* Decode into r->out the spans of the traces t with keep[t] set (keep NULL:
 * spans [s0, s1)), keeping those that overlap [start, end] (end 0: all),
 * with the parts asked for (TWS_PART_*; the others are left empty). */
static int rg_spans(tws_rg *r, const uint8_t *keep_trace, uint32_t s0, uint32_t s1, uint64_t start, uint64_t end,
                    unsigned parts) {
    int rc = tws__rg_fetch_whole(r);
    if (!rc) rc = tws__rg_dict_into_batch(r);
    if (!rc) rc = tws__rg_tables(r);
    for (int id = 1; rc == TW_OK && id <= TWS_COL_LAST_FIXED; id++) {
        if ((id == COL_EVENTS && !(parts & TWS_PART_EVENTS)) || (id == COL_LINKS && !(parts & TWS_PART_LINKS)) ||
            (id == COL_ATTR_MORE && !(parts & TWS_PART_ATTRS)) || id == COL_ATTR_KEYS)
            continue; /* not asked for (the keys: decoding names columns by dictionary id) */
        rc = tws__rg_col(r, &r->fixed[id]);
    }
    for (uint32_t c = 0; rc == TW_OK && (parts & TWS_PART_ATTRS) && c < r->n_attrs; c++) {
        rc = tws__rg_col(r, &r->attrs[c]);
        r->attrs[c].n_seen = 0; /* a filter may have walked the column */
    }
    if (rc) return rc;
    uint32_t want = s1 - s0;
    if (keep_trace) { /* the kept traces' spans */
        tws_rd ts = tws__col_rd(&r->fixed[COL_TRACE_SPANS]);
        uint64_t w = 0;
        for (uint32_t t = 0; t < r->n_traces; t++) {
            uint64_t n = tws_rd_varint(&ts);
            if (keep_trace[t]) w += n;
        }
        if (ts.bad || w > r->n_spans) return tws__rg_bad(r, "trace span counts");
        want = (uint32_t)w;
        s0 = 0;
        s1 = r->n_spans;
    }
    tws_batch *o = r->out;
    tws_span *spans = tws_batch_alloc(o, (want ? want : 1) * sizeof *spans);
    tws_rd *ard = tw__calloc(r->n_attrs + 1, sizeof *ard); /* each attribute column, read in step */
    if (!spans || !ard) {
        tw__free(ard);
        return TW_ENOMEM;
    }
    for (uint32_t c = 0; c < r->n_attrs; c++) ard[c] = tws__col_rd(&r->attrs[c]);
    memset(spans, 0, want * sizeof *spans);
    uint32_t kept_n = 0;
#define BAD(what)                                                                                                    \
    do {                                                                                                             \
        rc = tws__rg_bad(r, what);                                                                                        \
        goto done;                                                                                                   \
    } while (0)
    const col *ids = &r->fixed[COL_TRACE_ID], *sids = &r->fixed[COL_SPAN_ID];
    if (ids->len != (size_t)r->n_traces * 16 || sids->len != (size_t)r->n_spans * 8) BAD("id column lengths");
    tws_rd tspans = tws__col_rd(&r->fixed[COL_TRACE_SPANS]), tstart = tws__col_rd(&r->fixed[COL_TRACE_START]);
    tws_rd parent = tws__col_rd(&r->fixed[COL_PARENT]), pid = tws__col_rd(&r->fixed[COL_PARENT_ID]);
    tws_rd st = tws__col_rd(&r->fixed[COL_START]), dur = tws__col_rd(&r->fixed[COL_DURATION]);
    tws_rd name = tws__col_rd(&r->fixed[COL_NAME]), bits = tws__col_rd(&r->fixed[COL_BITS]);
    tws_rd smsg = tws__col_rd(&r->fixed[COL_STATUS_MSG]), tstate = tws__col_rd(&r->fixed[COL_TRACE_STATE]);
    tws_rd flags = tws__col_rd(&r->fixed[COL_FLAGS]), shape_rd = tws__col_rd(&r->fixed[COL_SHAPE]);
    tws_rd drop = tws__col_rd(&r->fixed[COL_DROPPED]), ev = tws__col_rd(&r->fixed[COL_EVENTS]);
    tws_rd lk = tws__col_rd(&r->fixed[COL_LINKS]), more = tws__col_rd(&r->fixed[COL_ATTR_MORE]);
    uint32_t s = 0;
    for (uint32_t t = 0; t < r->n_traces && s < s1; t++) {
        uint64_t n = tws_rd_varint(&tspans);
        uint64_t ts = r->base + (uint64_t)tws_unzigzag(tws_rd_varint(&tstart));
        if (tspans.bad || tstart.bad || n == 0 || n > r->n_spans - s) BAD("trace span counts");
        uint32_t first = s;
        for (uint32_t k = 0; k < n; k++, s++) {
            bool keep = keep_trace ? keep_trace[t] != 0 : s >= s0 && s < s1;
            tws_span *sp = keep && kept_n < want ? &spans[kept_n++] : NULL, tmp;
            keep = sp != NULL;
            if (!sp) sp = &tmp;
            memset(sp, 0, sizeof *sp);
            memcpy(sp->trace_id, ids->p + (size_t)t * 16, 16);
            memcpy(sp->span_id, sids->p + (size_t)s * 8, 8);
            uint64_t pv = tws_rd_varint(&parent);
            if (pv == 1) {
                const uint8_t *p = tws_rd_bytes(&pid, 8);
                if (!p) BAD("parent ids");
                memcpy(sp->parent_span_id, p, 8);
                sp->has_parent = true;
            } else if (pv >= 2) {
                if (pv - 2 >= n) BAD("parent reference");
                memcpy(sp->parent_span_id, sids->p + ((size_t)first + (size_t)(pv - 2)) * 8, 8);
                sp->has_parent = true;
            }
            sp->start_ns = ts + tws_rd_varint(&st);
            sp->end_ns = sp->start_ns + (uint64_t)tws_unzigzag(tws_rd_varint(&dur));
            if (tws__rg_dict_id(r, &name, &sp->name)) BAD("span names");
            uint8_t b = tws_rd_u8(&bits);
            sp->kind = b & 7;
            sp->status_code = (b >> 3) & 3;
            if (sp->kind > 5 || sp->status_code > 2) BAD("span kind or status");
            if ((b & SPB_STATUS_MSG) && tws__rg_dict_id(r, &smsg, &sp->status_message)) BAD("status messages");
            if ((b & SPB_TRACE_STATE) && tws__rg_dict_id(r, &tstate, &sp->trace_state)) BAD("trace states");
            uint64_t f = tws_rd_varint(&flags), sh = tws_rd_varint(&shape_rd);
            if (f > UINT32_MAX || sh >= r->n_shapes) BAD("flags or shape");
            const shape *shp = &r->shapes[sh];
            sp->flags = (uint32_t)f;
            sp->scope_idx = shp->scope;
            if (b & SPB_DROPPED) {
                uint64_t da = tws_rd_varint(&drop), de = tws_rd_varint(&drop), dl = tws_rd_varint(&drop);
                sp->attrs.dropped = da > UINT32_MAX ? UINT32_MAX : (uint32_t)da;
                sp->dropped_events = de > UINT32_MAX ? UINT32_MAX : (uint32_t)de;
                sp->dropped_links = dl > UINT32_MAX ? UINT32_MAX : (uint32_t)dl;
            }
            if (parts & TWS_PART_EVENTS) {
                uint64_t ne = tws_rd_varint(&ev);
                if (ev.bad || ne > (uint64_t)(ev.end - ev.p) / 3) BAD("event counts");
                sp->n_events = (uint32_t)ne;
                if (keep && ne && !(sp->events = tws_batch_alloc(o, ne * sizeof *sp->events))) {
                    rc = TW_ENOMEM;
                    goto done;
                }
                for (uint64_t i = 0; i < ne; i++) {
                    tws_event *e = keep ? &sp->events[i] : NULL, etmp;
                    if (!e) e = &etmp;
                    e->time_ns = sp->start_ns + (uint64_t)tws_unzigzag(tws_rd_varint(&ev));
                    if (tws__rg_dict_id(r, &ev, &e->name) || (rc = tws__rg_attrs(r, &ev, &e->attrs, keep))) {
                        if (rc == TW_ENOMEM) goto done;
                        BAD("events");
                    }
                }
            }
            if (parts & TWS_PART_LINKS) {
                uint64_t nl = tws_rd_varint(&lk);
                if (lk.bad || nl > (uint64_t)(lk.end - lk.p) / 27) BAD("link counts");
                sp->n_links = (uint32_t)nl;
                if (keep && nl && !(sp->links = tws_batch_alloc(o, nl * sizeof *sp->links))) {
                    rc = TW_ENOMEM;
                    goto done;
                }
                for (uint64_t i = 0; i < nl; i++) {
                    tws_link *l = keep ? &sp->links[i] : NULL, ltmp;
                    if (!l) l = &ltmp;
                    memset(l, 0, sizeof *l);
                    const uint8_t *lt = tws_rd_bytes(&lk, 16), *ls = tws_rd_bytes(&lk, 8);
                    if (!lt || !ls) BAD("links");
                    memcpy(l->trace_id, lt, 16);
                    memcpy(l->span_id, ls, 8);
                    uint64_t tsid = tws_rd_varint(&lk);
                    if (tsid > r->n_dict) BAD("links");
                    if (tsid) l->trace_state = r->dict[tsid - 1];
                    uint64_t lf = tws_rd_varint(&lk);
                    l->flags = lf > UINT32_MAX ? UINT32_MAX : (uint32_t)lf;
                    if ((rc = tws__rg_attrs(r, &lk, &l->attrs, keep))) {
                        if (rc == TW_ENOMEM) goto done;
                        BAD("links");
                    }
                }
            }
            if (parts & TWS_PART_ATTRS) {
                /* attributes: the shape's columns in order, then those past the column limit */
                uint64_t nm = tws_rd_varint(&more);
                if (more.bad || nm > (uint64_t)(more.end - more.p) / 2) BAD("extra attributes");
                uint64_t na = shp->len + nm;
                tws_kv *kvs = NULL;
                if (keep && na && !(kvs = tws_batch_alloc(o, na * sizeof *kvs))) {
                    rc = TW_ENOMEM;
                    goto done;
                }
                for (uint32_t a = 0; a < shp->len; a++) {
                    uint32_t c = r->shape_cols[shp->off + a];
                    col *cc = &r->attrs[c];
                    tws_kv *kv = kvs ? &kvs[a] : NULL;
                    if (kv) kv->key = r->dict[cc->key];
                    bool scalar = cc->type == TWS_INT || cc->type == TWS_DOUBLE || cc->type == TWS_BOOL;
                    int e = cc->type == TWS_STRING ? read_col_string(r, cc, &ard[c], kv ? &kv->val : NULL)
                            : tws__rg_value(r, &ard[c], kv ? &kv->val : NULL, scalar ? cc->type : tws_rd_u8(&ard[c]), 0);
                    if (e == TW_ENOMEM) {
                        rc = e;
                        goto done;
                    }
                    if (e) BAD("attribute values");
                }
                for (uint64_t i = 0; i < nm; i++) {
                    tws_kv *kv = kvs ? &kvs[shp->len + i] : NULL;
                    int e = tws__rg_dict_id(r, &more, kv ? &kv->key : NULL);
                    if (!e) e = tws__rg_value(r, &more, kv ? &kv->val : NULL, tws_rd_u8(&more), 0);
                    if (e == TW_ENOMEM) {
                        rc = e;
                        goto done;
                    }
                    if (e) BAD("extra attributes");
                }
                if (keep) {
                    sp->attrs.items = kvs;
                    sp->attrs.n = (uint32_t)na;
                }
            }
            if (parent.bad || st.bad || dur.bad || bits.bad || flags.bad || shape_rd.bad || drop.bad) BAD("span columns");
        }
    }
    if (s < s1) BAD("fewer spans than the header says");

    if (rc == TW_OK) {
        uint32_t kept = 0;
        for (uint32_t i = 0; i < kept_n; i++)
            if (!end || (spans[i].start_ns <= end && spans[i].end_ns >= start)) spans[kept++] = spans[i];
        o->spans = spans;
        o->n_spans = kept;
    }
done:
#undef BAD
    tw__free(ard);
    return rc;
}

/* ---- opening, decoding and closing --------------------------------------------- */

void tws__rg_free(tws_rg *r) {
    for (uint32_t i = 0; r->attrs && i < r->n_attrs; i++) tw__free(r->attrs[i].seen);
    for (uint32_t i = 0; i < r->n_owned; i++) tw__free(r->owned[i]);
    tw__free(r->owned);
    tw__free(r->attrs);
    tw__free(r->dict);
    tw__free(r->keys);
    tw__free(r->shapes);
    tw__free(r->shape_cols);
    tw__free(r->buf);
}

/* Bytes read first when not reading whole: the directory (of ~3000
 * columns) and, in a typical row group, the dictionary behind it. Tests
 * make it small to reach the case of a longer directory. */
size_t tws__block_rg_prefix = 65536;

/* Fetch row group `i` (whole, or its header and directory) and read its
 * directory; decoded data goes to `out`. */
int tws__rg_fetch(tws_block *b, uint64_t i, tws_batch *out, tws_rg *r, char err[256], bool whole) {
    memset(r, 0, sizeof *r);
    r->out = out;
    r->err = err;
    r->blk = b;
    const uint8_t *e = b->index + i * TWS_IDX_ENTRY;
    r->off = tws_get_le64(e + 32);
    r->len = (size_t)tws_get_le64(e + 40);
    /* a search reads the directory first and then only the columns it
     * needs; decoding reads everything */
    if (b->map) { /* nothing to read: the row group is in the mapping (bounds checked at open) */
        r->whole = r->head = b->map + r->off;
        r->have = r->len;
        return rg_directory(r, r->len);
    }
    size_t have = whole || r->len <= tws__block_rg_prefix ? r->len : tws__block_rg_prefix;
    for (;;) {
        if (!(r->buf = tw__malloc(have))) return TW_ENOMEM;
        r->head = r->buf;
        tws_objstore_err oe = {{0}};
        int rc = tws_obj_get_range(b->store, b->data_key, r->off, have, r->buf, &oe);
        if (rc) return fetch_failed(r, rc, &oe);
        if (have == r->len) r->whole = r->buf;
        r->have = have;
        rc = rg_directory(r, have);
        if (rc != RG_NEED_MORE) return rc;
        tw__free(r->buf); /* a directory longer than the prefix */
        have = r->len;
    }
}

/* Read row group `i` of `b` and decode the spans of `trace` (NULL: all). */
static int read_rg(tws_block *b, uint64_t i, const uint8_t *trace, uint64_t start, uint64_t end, tws_batch *out,
                   char err[256]) {
    tws_rg r;
    int rc = tws__rg_fetch(b, i, out, &r, err, true);
    uint32_t s0 = 0, s1 = r.n_spans;
    if (rc == TW_OK && trace) {
        /* the trace's place: trace ids are sorted; spans before it are the
         * sum of the counts of the traces before it */
        const col *ids = &r.fixed[COL_TRACE_ID];
        if (!(rc = tws__rg_col(&r, &r.fixed[COL_TRACE_ID])) && !(rc = tws__rg_col(&r, &r.fixed[COL_TRACE_SPANS]))) {
            if (ids->len != (size_t)r.n_traces * 16) {
                rc = tws__rg_bad(&r, "trace id column length");
            } else {
                size_t lo = 0, hi = r.n_traces;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (memcmp(ids->p + mid * 16, trace, 16) < 0) lo = mid + 1;
                    else hi = mid;
                }
                if (lo == r.n_traces || memcmp(ids->p + lo * 16, trace, 16)) {
                    s1 = 0; /* not here: the bloom filter was wrong */
                } else {
                    tws_rd ts = tws__col_rd(&r.fixed[COL_TRACE_SPANS]);
                    uint64_t before = 0;
                    for (size_t t = 0; t < lo; t++) before += tws_rd_varint(&ts);
                    uint64_t n = tws_rd_varint(&ts);
                    if (ts.bad || before + n > r.n_spans) rc = tws__rg_bad(&r, "trace span counts");
                    s0 = (uint32_t)before;
                    s1 = (uint32_t)(before + n);
                }
            }
        }
    }
    if (rc == TW_OK && s1 > s0) rc = rg_spans(&r, NULL, s0, s1, start, end, TWS_PART_ALL);
    tws__rg_free(&r);
    return rc;
}

int tws_block_find_trace(tws_block *b, const uint8_t trace_id[16], uint64_t start_ns, uint64_t end_ns,
                         tws_batch *out, char err[256]) {
    err[0] = 0;
    if (b->meta.kind != TWS_BLOCK_SPANS) return TW_EINVAL;
    if (!tws_block_may_contain(b, trace_id)) return TW_OK;
    if (end_ns && (b->meta.start_ns > end_ns || b->meta.end_ns < start_ns)) return TW_OK;
    size_t lo = 0, hi = b->meta.row_groups; /* first row group whose max id >= trace */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (memcmp(b->index + mid * TWS_IDX_ENTRY + 16, trace_id, 16) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo == b->meta.row_groups || memcmp(b->index + lo * TWS_IDX_ENTRY, trace_id, 16) > 0) return TW_OK;
    const uint8_t *e = b->index + lo * TWS_IDX_ENTRY;
    if (end_ns && (tws_get_le64(e + 56) > end_ns || tws_get_le64(e + 64) < start_ns)) return TW_OK;
    return read_rg(b, lo, trace_id, start_ns, end_ns, out, err);
}

int tws_block_read_row_group(tws_block *b, uint64_t i, tws_batch *out, char err[256]) {
    err[0] = 0;
    if (i >= b->meta.row_groups || b->meta.kind != TWS_BLOCK_SPANS) return TW_EINVAL;
    return read_rg(b, i, NULL, 0, 0, out, err);
}

void tws_block_row_group_info(const tws_block *b, uint64_t i, tws_rg_info *out) {
    const uint8_t *e = b->index + i * TWS_IDX_ENTRY;
    out->bytes = tws_get_le64(e + 40);
    out->traces = (uint32_t)tws_get_le32(e + 48);
    out->spans = (uint32_t)tws_get_le32(e + 52);
    out->start_ns = tws_get_le64(e + 56);
    out->end_ns = tws_get_le64(e + 64);
}

/* ---- selective scans (block.h) ------------------------------------------------- */

int tws_rg_open(tws_block *b, uint64_t i, tws_rg **out, char err[256]) {
    err[0] = 0;
    *out = NULL;
    if (i >= b->meta.row_groups || b->meta.kind != TWS_BLOCK_SPANS) return TW_EINVAL;
    tws_rg *r = tw__malloc(sizeof *r);
    if (!r) return TW_ENOMEM;
    int rc = tws__rg_fetch(b, i, NULL, r, err, false);
    r->out = &r->own;
    tws_batch_init(&r->own);
    if (rc) {
        tws_rg_close(r);
        return rc;
    }
    *out = r;
    return TW_OK;
}

void tws_rg_close(tws_rg *r) {
    if (!r) return;
    tws__rg_free(r);
    tws_batch_free(&r->own);
    tw__free(r);
}

uint32_t tws_rg_n_spans(const tws_rg *r) { return r->n_spans; }
uint32_t tws_rg_n_traces(const tws_rg *r) { return r->n_traces; }

int tws_rg_decode(tws_rg *r, const uint8_t *keep, unsigned parts, tws_batch *out, char err[256]) {
    err[0] = 0;
    r->err = err;
    if (r->decoded) return TW_EINVAL;
    r->decoded = true;
    int rc = rg_spans(r, keep, 0, r->n_spans, 0, 0, parts);
    if (rc) return rc;
    *out = r->own; /* the batch moves to the caller; the row group's strings went into it */
    tws_batch_init(&r->own);
    return TW_OK;
}
