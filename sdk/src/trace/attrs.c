/*
 * attrs.c — the span arena and typed attribute storage.
 *
 * Attributes are copied into the span's arena so the caller's buffers can be
 * reused at once. Lookup by key is linear: spans carry few attributes and a
 * length check plus a short compare over contiguous records beats hashing
 * at these sizes. A new string attribute's key and value share one arena
 * block; scalars need only the key's. The common case (lengths known, short
 * key and value, room in the span's inline block) runs without a call; the
 * span's attribute setters live here so that it inlines into them.
 */
#include "trace/trace_int.h"

void *tw__arena_alloc_slow(tw__arena *a, size_t n) {
    n = (n + 7u) & ~(size_t)7u;
    size_t size = n > 4096 - sizeof(tw__chunk) ? n + sizeof(tw__chunk) : 4096;
    tw__chunk *c = tw__malloc(size);
    if (!c) return NULL;
    c->next = a->overflow;
    c->size = size;
    a->overflow = c;
    char *base = (char *)(c + 1);
    a->cur = base + n;
    a->end = (char *)c + size;
    return base;
}

void tw__arena_release(tw__arena *a) {
    tw__chunk *c = a->overflow;
    while (c) {
        tw__chunk *next = c->next;
        tw__free(c);
        c = next;
    }
    a->overflow = NULL;
    a->cur = a->end = NULL;
}

/* Longest prefix of s[0..n) not longer than max that ends on a UTF-8
 * character boundary. */
static size_t utf8_truncate(const char *s, size_t n, size_t max) {
    if (n <= max) return n;
    size_t cut = max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
    return cut;
}

/* n cut to the value length limit (0 = unlimited), on a UTF-8 boundary. */
static inline size_t limit_len(const char *s, size_t n, uint32_t max_len) {
    size_t cap = max_len ? max_len : UINT32_MAX;
    return n <= cap ? n : utf8_truncate(s, n, cap);
}

int tw__value_copy(tw__arena *a, tw__value *dst, const tw_attribute *src, uint32_t max_len) {
    size_t cap = max_len ? max_len : UINT32_MAX;
    dst->type = src->type;
    switch (src->type) {
    case TW_TYPE_STRING: {
        size_t n = utf8_truncate(src->v.s.ptr, tw__str_len(src->v.s), cap);
        if (!(dst->u.s = tw__arena_strdup(a, src->v.s.ptr, n))) return TW_ENOMEM;
        dst->n = (uint32_t)n;
        return TW_OK;
    }
    case TW_TYPE_BOOL: dst->u.b = src->v.b; dst->n = 0; return TW_OK;
    case TW_TYPE_INT: dst->u.i = src->v.i; dst->n = 0; return TW_OK;
    case TW_TYPE_DOUBLE: dst->u.d = src->v.d; dst->n = 0; return TW_OK;
    case TW_TYPE_STRING_ARRAY: {
        size_t cnt = src->v.sa.n;
        if (cnt > UINT32_MAX || (cnt && !src->v.sa.items)) return TW_EINVAL;
        tw_str *items = tw__arena_alloc(a, cnt * sizeof *items + 1);
        if (!items) return TW_ENOMEM;
        for (size_t i = 0; i < cnt; i++) {
            size_t n = utf8_truncate(src->v.sa.items[i].ptr, tw__str_len(src->v.sa.items[i]), cap);
            if (!(items[i].ptr = tw__arena_strdup(a, src->v.sa.items[i].ptr, n))) return TW_ENOMEM;
            items[i].len = n;
        }
        dst->u.sa = items;
        dst->n = (uint32_t)cnt;
        return TW_OK;
    }
    case TW_TYPE_BOOL_ARRAY:
    case TW_TYPE_INT_ARRAY:
    case TW_TYPE_DOUBLE_ARRAY: {
        size_t cnt = src->v.ba.n, size = src->type == TW_TYPE_BOOL_ARRAY ? sizeof(bool) : 8;
        const void *items = src->type == TW_TYPE_BOOL_ARRAY  ? (const void *)src->v.ba.items
                            : src->type == TW_TYPE_INT_ARRAY ? (const void *)src->v.ia.items
                                                             : (const void *)src->v.da.items;
        if (cnt > UINT32_MAX || (cnt && !items)) return TW_EINVAL;
        void *copy = tw__arena_alloc(a, cnt * size + 1);
        if (!copy) return TW_ENOMEM;
        if (cnt) memcpy(copy, items, cnt * size);
        dst->u.ba = copy;
        dst->n = (uint32_t)cnt;
        return TW_OK;
    }
    }
    return TW_EINVAL;
}

static inline bool eq8(const char *a, const char *b) {
    uint64_t x, y;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    return x == y;
}

static inline bool eq4(const char *a, const char *b) {
    uint32_t x, y;
    memcpy(&x, a, 4);
    memcpy(&y, b, 4);
    return x == y;
}

/* Equality of two keys of length n: (possibly overlapping) 8-byte compares
 * settle keys of up to 32 bytes without a call; longer ones end in memcmp. */
static inline bool key_eq(const char *a, const char *b, size_t n) {
    if (n >= 16)
        return eq8(a, b) && eq8(a + 8, b + 8) && eq8(a + n - 16, b + n - 16) && eq8(a + n - 8, b + n - 8) &&
               (n <= 32 || memcmp(a + 16, b + 16, n - 32) == 0);
    if (n >= 8) return eq8(a, b) && eq8(a + n - 8, b + n - 8);
    if (n >= 4) return eq4(a, b) && eq4(a + n - 4, b + n - 4);
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

static inline tw__kv *find(const tw__kvlist *list, const char *key, size_t key_len) {
    for (uint32_t i = 0; i < list->n; i++) { /* (items is NULL while n is 0) */
        tw__kv *kv = &list->items[i];
        if (kv->key_len == key_len && key_eq(kv->key, key, key_len)) return kv;
    }
    return NULL;
}

const tw__kv *tw__kvlist_find(const tw__kvlist *list, const char *key, size_t key_len) {
    return find(list, key, key_len);
}

/* ---- the common case, without a call ---------------------------------------- */

/* Keys and string values up to this long can take the fast path. */
#define SHORT 32

/* n bytes from the arena's current block; NULL when it has no room (no
 * chunk is allocated here). */
static inline char *take_inline(tw__arena *a, size_t n) {
    n = (n + 7u) & ~(size_t)7u;
    if (!a->cur || (size_t)(a->end - a->cur) < n) return NULL;
    char *p = a->cur;
    a->cur += n;
    return p;
}

/* Set a key of 1..SHORT bytes (key_len given) to `val`: for a string, `v`
 * holds its v_len <= SHORT bytes, already within the length limit, to copy;
 * NULL for a scalar. Done inline when the arena's current block has room
 * and the list needs no growing beyond its first allocation; otherwise
 * false, with nothing changed, for the general path (which also counts
 * drops). */
static inline bool set_fast(tw__arena *a, tw__kvlist *list, const char *key, size_t key_len, const char *v,
                            size_t v_len, tw__value val, uint32_t limit) {
    tw__kv *kv = find(list, key, key_len);
    if (kv) { /* replace in place */
        if (v) {
            char *copy = take_inline(a, v_len + 1);
            if (!copy) return false;
            tw__copy_small(copy, v, v_len);
            copy[v_len] = '\0';
            val.u.s = copy;
        }
        kv->val = val;
        return true;
    }
    if (list->n >= limit) return false;
    uint32_t cap = list->cap;
    size_t items_size = 0;
    if (list->n == cap) {
        if (cap) return false; /* growing copies the items: the general path */
        cap = limit < 8 ? limit : 8;
        items_size = cap * sizeof(tw__kv);
    }
    /* [the first items array] "key\0" ["value\0"] in one block */
    char *block = take_inline(a, items_size + key_len + 1 + (v ? v_len + 1 : 0));
    if (!block) return false;
    if (items_size) {
        list->items = (tw__kv *)(void *)block;
        list->cap = cap;
        block += items_size;
    }
    tw__copy_small(block, key, key_len);
    block[key_len] = '\0';
    if (v) {
        char *d = block + key_len + 1;
        tw__copy_small(d, v, v_len);
        d[v_len] = '\0';
        val.u.s = d;
    }
    kv = &list->items[list->n++];
    kv->key = block;
    kv->key_len = (uint32_t)key_len;
    kv->val = val;
    return true;
}

/* ---- the general case ------------------------------------------------------- */

/* The slot for a new item in *out; TW_ELIMIT (counted as dropped) when the
 * list is full, TW_ENOMEM. */
static inline int new_slot(tw__arena *a, tw__kvlist *list, uint32_t limit, tw__kv **out) {
    if (list->n >= limit) {
        list->dropped++;
        return TW_ELIMIT;
    }
    if (list->n == list->cap) {
        uint32_t cap = list->cap ? list->cap * 2 : 8;
        if (cap > limit) cap = limit;
        tw__kv *items = tw__arena_alloc(a, cap * sizeof *items);
        if (!items) return TW_ENOMEM;
        if (list->n) memcpy(items, list->items, list->n * sizeof *items);
        list->items = items;
        list->cap = cap;
    }
    *out = &list->items[list->n];
    return TW_OK;
}

/* Out of line, so the fast path saves no registers for it. */
__attribute__((noinline)) static int set_str(tw__arena *a, tw__kvlist *list, const char *key, size_t key_len,
                                             const char *v, size_t v_len, uint32_t limit, uint32_t max_len) {
    if (!key || !key[0]) return TW_EINVAL;
    if (!key_len) key_len = strlen(key);
    if (v_len == TW_NTS) v_len = strlen(v);
    v_len = limit_len(v, v_len, max_len);
    tw__kv *kv = find(list, key, key_len);
    if (kv) { /* replace in place, only once the copy succeeded */
        const char *copy = tw__arena_strdup(a, v, v_len);
        if (!copy) return TW_ENOMEM;
        kv->val = (tw__value){.type = TW_TYPE_STRING, .n = (uint32_t)v_len, .u.s = copy};
        return TW_OK;
    }
    int rc = new_slot(a, list, limit, &kv);
    if (rc) return rc;
    /* key and value in one block: "key\0value\0" */
    char *block = tw__arena_alloc(a, key_len + v_len + 2);
    if (!block) return TW_ENOMEM;
    tw__copy_small(block, key, key_len);
    block[key_len] = '\0';
    tw__copy_small(block + key_len + 1, v, v_len);
    block[key_len + 1 + v_len] = '\0';
    kv->key = block;
    kv->key_len = (uint32_t)key_len;
    kv->val = (tw__value){.type = TW_TYPE_STRING, .n = (uint32_t)v_len, .u.s = block + key_len + 1};
    list->n++;
    return TW_OK;
}

__attribute__((noinline)) static int set_value(tw__arena *a, tw__kvlist *list, const char *key, size_t key_len,
                                               const tw_attribute *value, uint32_t limit, uint32_t max_len) {
    if (!key || !key[0]) return TW_EINVAL;
    if (!key_len) key_len = strlen(key);
    tw__kv *kv = find(list, key, key_len);
    if (kv) { /* replace in place, only once the copy succeeded */
        tw__value v;
        int rc = tw__value_copy(a, &v, value, max_len);
        if (rc == TW_OK) kv->val = v;
        return rc;
    }
    int rc = new_slot(a, list, limit, &kv);
    if (rc) return rc;
    if (!(kv->key = tw__arena_strdup(a, key, key_len))) return TW_ENOMEM;
    kv->key_len = (uint32_t)key_len;
    if ((rc = tw__value_copy(a, &kv->val, value, max_len))) return rc;
    list->n++;
    return TW_OK;
}

/* ---- entry points ------------------------------------------------------------- */

static inline int kvlist_set_str(tw__arena *a, tw__kvlist *list, const char *key, size_t key_len,
                                 const char *v, size_t v_len, uint32_t limit, uint32_t max_len) {
    /* key_len 0 and v_len TW_NTS (to be measured) fail the length tests too. */
    if (key_len - 1 < SHORT && v_len <= SHORT && (!max_len || v_len <= max_len) && key && key[0] &&
        set_fast(a, list, key, key_len, v, v_len, (tw__value){.type = TW_TYPE_STRING, .n = (uint32_t)v_len},
                 limit))
        return TW_OK;
    return set_str(a, list, key, key_len, v, v_len, limit, max_len);
}

static inline int kvlist_set_value(tw__arena *a, tw__kvlist *list, const char *key, size_t key_len,
                                   const tw_attribute *value, uint32_t limit, uint32_t max_len) {
    if (value->type == TW_TYPE_STRING && value->v.s.ptr)
        return kvlist_set_str(a, list, key, key_len, value->v.s.ptr, value->v.s.len, limit, max_len);
    tw__value val = {.type = value->type};
    bool scalar = true;
    switch (value->type) {
    case TW_TYPE_BOOL: val.u.b = value->v.b; break;
    case TW_TYPE_INT: val.u.i = value->v.i; break;
    case TW_TYPE_DOUBLE: val.u.d = value->v.d; break;
    default: scalar = false; break;
    }
    if (scalar && key_len - 1 < SHORT && key && key[0] && set_fast(a, list, key, key_len, NULL, 0, val, limit))
        return TW_OK;
    return set_value(a, list, key, key_len, value, limit, max_len);
}

int tw__kvlist_set(tw__arena *a, tw__kvlist *list, const tw_attribute *attr, uint32_t limit,
                   uint32_t max_len) {
    if (!attr) return TW_EINVAL;
    return kvlist_set_value(a, list, attr->key, attr->key_len, attr, limit, max_len);
}

/* ---- the span's setters ---------------------------------------------------------- */

/* Here rather than in span.c so that the fast path above inlines into them:
 * a span attribute costs one call. */

int tw_span_set_attr(tw_span *s, const tw_attribute *a) {
    if (!tw__span_writable(s)) return TW_OK;
    if (!a) return TW_EINVAL;
    const tw_span_limits *l = tw__span_limits(s);
    return kvlist_set_value(&s->arena, &s->attrs, a->key, a->key_len, a, l->attr_count, l->attr_value_len);
}

int tw_span_set_str_n(tw_span *s, const char *key, size_t key_len, const char *v, size_t v_len) {
    if (!tw__span_writable(s)) return TW_OK;
    if (!v) v = "", v_len = 0;
    const tw_span_limits *l = tw__span_limits(s);
    return kvlist_set_str(&s->arena, &s->attrs, key, key_len, v, v_len, l->attr_count, l->attr_value_len);
}

int tw_span_set_typed_n(tw_span *s, const char *key, size_t key_len, const tw_attribute *value) {
    if (!value) return TW_EINVAL;
    if (!tw__span_writable(s)) return TW_OK;
    const tw_span_limits *l = tw__span_limits(s);
    return kvlist_set_value(&s->arena, &s->attrs, key, key_len, value, l->attr_count, l->attr_value_len);
}

int (tw_span_set_str)(tw_span *s, const char *k, const char *v) { return tw_span_set_str_n(s, k, 0, v, TW_NTS); }
int (tw_span_set_int)(tw_span *s, const char *k, int64_t v) {
    return tw_span_set_typed_n(s, k, 0, &(tw_attribute){.type = TW_TYPE_INT, .v.i = v});
}
int (tw_span_set_double)(tw_span *s, const char *k, double v) {
    return tw_span_set_typed_n(s, k, 0, &(tw_attribute){.type = TW_TYPE_DOUBLE, .v.d = v});
}
int (tw_span_set_bool)(tw_span *s, const char *k, bool v) {
    return tw_span_set_typed_n(s, k, 0, &(tw_attribute){.type = TW_TYPE_BOOL, .v.b = v});
}
