/*
 * attrs.c — the span arena and typed attribute storage.
 *
 * Attributes are copied into the span's arena so the caller's buffers can be
 * reused at once. Lookup by key is linear: spans carry few attributes and a
 * short memcmp over contiguous records beats hashing at these sizes.
 */
#include "trace/span_int.h"

void tw__arena_init(tw__arena *a, void *mem, size_t size) {
    a->cur = mem;
    a->end = mem ? (char *)mem + size : NULL; /* no arithmetic on NULL */
    a->overflow = NULL;
}

void *tw__arena_alloc(tw__arena *a, size_t n) {
    n = (n + 7u) & ~(size_t)7u;
    if (TW_LIKELY(a->cur != NULL) && (size_t)(a->end - a->cur) >= n) {
        void *p = a->cur;
        a->cur += n;
        return p;
    }
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

const char *tw__arena_strdup(tw__arena *a, const char *s, size_t n) {
    char *d = tw__arena_alloc(a, n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

int tw__value_copy(tw__arena *a, tw__value *dst, const tw_attribute *src, uint32_t max_len) {
    size_t cap = max_len ? max_len : UINT32_MAX;
    dst->type = src->type;
    switch (src->type) {
    case TW_TYPE_STRING: {
        size_t n = tw__str_len(src->v.s);
        n = utf8_truncate(src->v.s.ptr, n, cap);
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

const tw__kv *tw__kvlist_find(const tw__kvlist *list, const char *key, size_t key_len) {
    for (uint32_t i = 0; i < list->n; i++) {
        const tw__kv *kv = &list->items[i];
        if (kv->key_len == key_len && memcmp(kv->key, key, key_len) == 0) return kv;
    }
    return NULL;
}

int tw__kvlist_set(tw__arena *a, tw__kvlist *list, const tw_attribute *attr, uint32_t limit,
                   uint32_t max_len) {
    if (!attr || !attr->key || !attr->key[0]) return TW_EINVAL;
    size_t key_len = attr->key_len ? attr->key_len : strlen(attr->key);
    tw__kv *kv = (tw__kv *)tw__kvlist_find(list, attr->key, key_len);
    if (kv) { /* replace only once the copy succeeded */
        tw__value v;
        int rc = tw__value_copy(a, &v, attr, max_len);
        if (rc == TW_OK) kv->val = v;
        return rc;
    }
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
    kv = &list->items[list->n];
    if (attr->type == TW_TYPE_STRING && attr->v.s.ptr) {
        /* The common case: key and value in one arena block. */
        size_t vl = tw__str_len(attr->v.s);
        if (max_len && vl > max_len) vl = utf8_truncate(attr->v.s.ptr, vl, max_len);
        char *block = tw__arena_alloc(a, key_len + vl + 2);
        if (!block) return TW_ENOMEM;
        memcpy(block, attr->key, key_len);
        block[key_len] = '\0';
        memcpy(block + key_len + 1, attr->v.s.ptr, vl);
        block[key_len + 1 + vl] = '\0';
        kv->key = block;
        kv->key_len = (uint32_t)key_len;
        kv->val.type = TW_TYPE_STRING;
        kv->val.n = (uint32_t)vl;
        kv->val.u.s = block + key_len + 1;
        list->n++;
        return TW_OK;
    }
    if (!(kv->key = tw__arena_strdup(a, attr->key, key_len))) return TW_ENOMEM;
    kv->key_len = (uint32_t)key_len;
    int rc = tw__value_copy(a, &kv->val, attr, max_len);
    if (rc) return rc;
    list->n++;
    return TW_OK;
}
