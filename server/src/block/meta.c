/*
 * meta.c — what surrounds a block's data: meta.json (written, parsed and
 * checked), object keys, block ids, the trace-id bloom filter, deletion.
 *
 * meta.json is the block's commit record: it is put after the data object,
 * so its presence means the data is complete. Nanosecond times are decimal
 * strings (JSON numbers lose precision past 2^53 in most readers).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "block/block.h"
#include "common/json.h"

/* ---- keys and ids ------------------------------------------------------------------ */

void tws_block_key(char *out, size_t cap, const char *tenant, const char *id, const char *object) {
    snprintf(out, cap, "%s/%s/%s", tenant, id, object);
}

void tws_block_new_id(char out[TWS_BLOCK_ID_LEN + 1]) {
    uint8_t r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n > 0) got += (size_t)n;
    }
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80); /* variant 10 */
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        *p++ = tw__hexdigits[r[i] >> 4];
        *p++ = tw__hexdigits[r[i] & 15];
    }
    *p = 0;
}

bool tws_block_id_valid(const char *id) {
    if (strlen(id) != TWS_BLOCK_ID_LEN) return false;
    for (int i = 0; i < TWS_BLOCK_ID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? id[i] != '-' : !(isdigit((unsigned char)id[i]) || (id[i] >= 'a' && id[i] <= 'f'))) return false;
    }
    return true;
}

/* ---- bloom filter ------------------------------------------------------------------ */

int tws_bloom_init(tws_bloom *b, uint64_t n_items) {
    uint64_t words = (n_items * 10 + 63) / 64; /* 10 bits per item, 7 probes: ~0.8% false positives */
    if (words == 0) words = 1;
    if (words > UINT32_MAX) return TW_EINVAL;
    b->words = tw__calloc((size_t)words, 8);
    if (!b->words) return TW_ENOMEM;
    b->n_words = (uint32_t)words;
    b->k = 7;
    return TW_OK;
}

static void probes(const tws_bloom *b, const uint8_t id[16], uint64_t *h1, uint64_t *h2) {
    (void)b;
    *h1 = tw__mix64(tw__load_le64(id));
    *h2 = tw__mix64(tw__load_le64(id + 8) ^ 0x9e3779b97f4a7c15ull) | 1;
}

void tws_bloom_add(tws_bloom *b, const uint8_t id[16]) {
    uint64_t h1, h2, bits = (uint64_t)b->n_words * 64;
    probes(b, id, &h1, &h2);
    for (uint32_t i = 0; i < b->k; i++) {
        uint64_t bit = (h1 + i * h2) % bits;
        b->words[bit / 64] |= 1ull << (bit % 64);
    }
}

bool tws_bloom_test(const tws_bloom *b, const uint8_t id[16]) {
    uint64_t h1, h2, bits = (uint64_t)b->n_words * 64;
    probes(b, id, &h1, &h2);
    for (uint32_t i = 0; i < b->k; i++) {
        uint64_t bit = (h1 + i * h2) % bits;
        if (!(b->words[bit / 64] & (1ull << (bit % 64)))) return false;
    }
    return true;
}

void tws_bloom_free(tws_bloom *b) {
    tw__free(b->words);
    memset(b, 0, sizeof *b);
}

/* ---- meta.json --------------------------------------------------------------------- */

int tws_block_meta_json(const tws_block_meta *m, tw__buf *out) {
    tw__json j;
    tw__json_init(&j, out);
    tw__json_begin_object(&j);
#define KEY(k) tw__json_key(&j, k, sizeof k - 1)
    KEY("format"), tw__json_string(&j, "tracewire-block", 15);
    KEY("version"), tw__json_uint64(&j, m->version);
    KEY("blockID"), tw__json_string(&j, m->id, strlen(m->id));
    KEY("tenantID"), tw__json_string(&j, m->tenant, strlen(m->tenant));
    if (m->kind == TWS_BLOCK_LOGS) KEY("kind"), tw__json_string(&j, "logs", 4);
    KEY("compactionLevel"), tw__json_uint64(&j, m->level);
    KEY("startTimeUnixNano"), tw__json_uint64_string(&j, m->start_ns);
    KEY("endTimeUnixNano"), tw__json_uint64_string(&j, m->end_ns);
    KEY("minTraceID"), tw__json_hex(&j, m->min_trace, 16);
    KEY("maxTraceID"), tw__json_hex(&j, m->max_trace, 16);
    KEY("totalSpans"), tw__json_uint64(&j, m->spans);
    KEY("totalTraces"), tw__json_uint64(&j, m->traces);
    KEY("rowGroups"), tw__json_uint64(&j, m->row_groups);
    KEY("size"), tw__json_uint64(&j, m->size);
    KEY("indexOffset"), tw__json_uint64(&j, m->index_off);
    KEY("indexLength"), tw__json_uint64(&j, m->index_len);
    KEY("bloomOffset"), tw__json_uint64(&j, m->bloom_off);
    KEY("bloomLength"), tw__json_uint64(&j, m->bloom_len);
    if (m->kind == TWS_BLOCK_LOGS) KEY("tracePages"), tw__json_uint64(&j, m->trace_pages);
    KEY("createdAt"), tw__json_int64(&j, m->created);
#undef KEY
    tw__json_end_object(&j);
    return out->failed;
}

static int get_u64(tw_str obj, const char *key, uint64_t *v, char err[256]) {
    tw_str s;
    int64_t x;
    if (tw__json_get(obj, key, &s) || tw__json_to_int64(s, &x) || x < 0) {
        snprintf(err, 256, "meta.json: \"%s\" is missing or not a non-negative integer", key);
        return TW_EPARSE;
    }
    *v = (uint64_t)x;
    return TW_OK;
}

static int get_str(tw_str obj, const char *key, char *out, size_t cap, char err[256]) {
    tw_str s;
    tw__buf b;
    tw__buf_init(&b, cap - 1);
    int rc = tw__json_get(obj, key, &s) || tw__json_unquote(s, &b) ? TW_EPARSE : TW_OK;
    if (rc == TW_OK) {
        memcpy(out, b.data, b.len);
        out[b.len] = 0;
        if (memchr(out, 0, b.len)) rc = TW_EPARSE;
    }
    tw__buf_free(&b);
    if (rc) snprintf(err, 256, "meta.json: \"%s\" is missing or not a string of at most %zu bytes", key, cap - 1);
    return rc;
}

static int get_id(tw_str obj, const char *key, uint8_t id[16], char err[256]) {
    char hex[40];
    if (get_str(obj, key, hex, sizeof hex, err)) return TW_EPARSE;
    tw_trace_id t;
    if (tw_trace_id_from_hex(hex, strlen(hex), &t)) {
        snprintf(err, 256, "meta.json: \"%s\" is not 32 hex digits", key);
        return TW_EPARSE;
    }
    memcpy(id, &t, 16);
    return TW_OK;
}

int tws_block_meta_parse(const char *json, size_t len, tws_block_meta *m, char err[256]) {
    memset(m, 0, sizeof *m);
    tw_str o = {json, len};
    char format[32];
    if (get_str(o, "format", format, sizeof format, err)) return TW_EPARSE;
    if (strcmp(format, "tracewire-block") != 0) {
        snprintf(err, 256, "meta.json: format \"%s\" is not a tracewire block", format);
        return TW_EPARSE;
    }
    uint64_t v, level;
    if (get_u64(o, "version", &v, err)) return TW_EPARSE;
    if (v < TWS_BLOCK_VERSION_MIN || v > TWS_BLOCK_VERSION) {
        snprintf(err, 256, "meta.json: block format version %llu is not supported (this build reads %d to %d)",
                 (unsigned long long)v, TWS_BLOCK_VERSION_MIN, TWS_BLOCK_VERSION);
        return TW_ENOTSUP;
    }
    m->version = (uint32_t)v;
    int64_t created;
    tw_str cs;
    if (get_str(o, "blockID", m->id, sizeof m->id, err) || get_str(o, "tenantID", m->tenant, sizeof m->tenant, err) ||
        get_u64(o, "compactionLevel", &level, err) || get_u64(o, "startTimeUnixNano", &m->start_ns, err) ||
        get_u64(o, "endTimeUnixNano", &m->end_ns, err) || get_id(o, "minTraceID", m->min_trace, err) ||
        get_id(o, "maxTraceID", m->max_trace, err) || get_u64(o, "totalSpans", &m->spans, err) ||
        get_u64(o, "totalTraces", &m->traces, err) || get_u64(o, "rowGroups", &m->row_groups, err) ||
        get_u64(o, "size", &m->size, err) || get_u64(o, "indexOffset", &m->index_off, err) ||
        get_u64(o, "indexLength", &m->index_len, err) || get_u64(o, "bloomOffset", &m->bloom_off, err) ||
        get_u64(o, "bloomLength", &m->bloom_len, err))
        return TW_EPARSE;
    tw_str ks;
    if (tw__json_get(o, "kind", &ks) == 0) { /* absent: a trace block */
        char kind[16];
        if (get_str(o, "kind", kind, sizeof kind, err)) return TW_EPARSE;
        if (strcmp(kind, "logs") != 0) {
            snprintf(err, 256, "meta.json: kind \"%s\" is not a block kind this build reads (logs, or none for traces)", kind);
            return TW_EPARSE;
        }
        m->kind = TWS_BLOCK_LOGS;
        if (get_u64(o, "tracePages", &m->trace_pages, err)) return TW_EPARSE;
    }
    if (tw__json_get(o, "createdAt", &cs) == 0 && tw__json_to_int64(cs, &created) == 0) m->created = created;
    m->level = level > 1000 ? 1000 : (uint32_t)level;
    if (!tws_block_id_valid(m->id)) {
        snprintf(err, 256, "meta.json: blockID \"%s\" is not a block id", m->id);
        return TW_EPARSE;
    }
    return TW_OK;
}

/* ---- deletion ---------------------------------------------------------------------- */

int tws_block_delete(tws_objstore *store, const char *tenant, const char *id, char err[256]) {
    static const char *const objects[] = {"meta.json", "data"};
    char key[512];
    for (size_t i = 0; i < 2; i++) {
        tws_objstore_err oe = {{0}};
        tws_block_key(key, sizeof key, tenant, id, objects[i]);
        int rc = tws_obj_del(store, key, &oe);
        if (rc) {
            if (oe.msg[0]) snprintf(err, 256, "%.255s", oe.msg); /* names the key */
            else snprintf(err, 256, "deleting %.200s: %s", key, tw_strerror(rc));
            return rc;
        }
    }
    return TW_OK;
}
