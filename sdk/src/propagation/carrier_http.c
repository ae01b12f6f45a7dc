/*
 * carrier_http.c — a carrier over an owning array of HTTP header lines.
 *
 * Names compare ASCII case-insensitively (RFC 9110); several lines of one
 * name are kept apart, in order, as HTTP allows. Each value is a heap copy
 * with a NUL after it, so it can also be used as a C string.
 */
#include "propagation/propagation_int.h"

/* ASCII letters folded to lowercase, other bytes kept: the first byte of a
 * name is compared this way before the whole name is. */
static inline unsigned char fold(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c | 0x20 : c; }

/* 0 different, 1 equal but for case, 2 byte-identical. */
static inline int name_cmp(const char *name, const char *key) {
    if (fold((unsigned char)name[0]) != fold((unsigned char)key[0])) return 0;
    return tw__name_cmp(name, key);
}

void tw_http_headers_init(tw_http_headers *h) {
    h->items = NULL;
    h->count = h->cap = 0;
}

void tw_http_headers_free(tw_http_headers *h) {
    if (!h) return;
    for (size_t i = 0; i < h->count; i++) {
        tw__free(h->items[i].name);
        tw__free(h->items[i].value);
    }
    tw__free(h->items);
    tw_http_headers_init(h);
}

static int reserve_one(tw_http_headers *h) {
    if (h->count < h->cap) return TW_OK;
    size_t cap = h->cap ? h->cap * 2 : 8;
    struct tw_http_header *items = tw__realloc(h->items, cap * sizeof *items);
    if (!items) return TW_ENOMEM;
    h->items = items;
    h->cap = cap;
    return TW_OK;
}

/* Copies of name and value in a new slot at the end; nothing changes on failure. */
static int append(tw_http_headers *h, const char *name, const char *value, size_t value_len) {
    if (reserve_one(h) != TW_OK) return TW_ENOMEM;
    char *n = tw__strndup(name, strlen(name));
    char *v = n ? tw__strndup(value, value_len) : NULL;
    if (!v) {
        tw__free(n);
        return TW_ENOMEM;
    }
    h->items[h->count++] = (struct tw_http_header){n, v, value_len};
    return TW_OK;
}

static void value_args(const char **value, size_t *value_len) {
    if (!*value) *value = "", *value_len = 0;
    else if (*value_len == TW_NTS) *value_len = strlen(*value);
}

int tw_http_headers_add(tw_http_headers *h, const char *name, const char *value, size_t value_len) {
    if (!h || !name) return TW_EINVAL;
    value_args(&value, &value_len);
    return append(h, name, value, value_len);
}

static size_t http_get(void *self, const char *key, tw_str *out, size_t max) {
    const tw_http_headers *h = self;
    size_t found = 0;
    for (size_t i = 0; i < h->count && found < max; i++) {
        const struct tw_http_header *it = &h->items[i];
        if (name_cmp(it->name, key)) out[found++] = (tw_str){it->value, it->value_len};
    }
    return found;
}

/*
 * Replace every line of `key` by one. The first such line is reused: its
 * value buffer when the new value fits (a propagator injecting into the same
 * headers again allocates nothing), its name when spelled the same. All
 * allocation happens before anything changes, so on a memory failure the
 * carrier is left exactly as it was.
 */
static int http_set(void *self, const char *key, const char *value, size_t value_len) {
    tw_http_headers *h = self;
    if (!key) return TW_EINVAL;
    value_args(&value, &value_len);
    size_t f = 0;
    int same = 0;
    while (f < h->count && !(same = name_cmp(h->items[f].name, key))) f++;
    if (f == h->count) return append(h, key, value, value_len);

    struct tw_http_header *it = &h->items[f];
    char *nv = NULL, *nn = NULL;
    if (value_len > it->value_len && !(nv = tw__malloc(value_len + 1))) return TW_ENOMEM;
    if (same != 2 && !(nn = tw__strndup(key, strlen(key)))) {
        tw__free(nv);
        return TW_ENOMEM;
    }
    if (nv) {
        memcpy(nv, value, value_len);
        tw__free(it->value);
        it->value = nv;
    } else {
        memmove(it->value, value, value_len); /* value may point into this buffer */
    }
    it->value[value_len] = '\0';
    it->value_len = value_len;
    if (nn) {
        tw__free(it->name);
        it->name = nn;
    }
    size_t w = f + 1;
    for (size_t i = f + 1; i < h->count; i++) {
        if (name_cmp(h->items[i].name, key)) {
            tw__free(h->items[i].name);
            tw__free(h->items[i].value);
            continue;
        }
        h->items[w++] = h->items[i];
    }
    h->count = w;
    return TW_OK;
}

tw_carrier tw_http_headers_carrier(tw_http_headers *h) { return (tw_carrier){h, http_get, http_set}; }
