/*
 * carrier_http.c — a carrier over an owning array of HTTP header lines.
 *
 * Names compare ASCII case-insensitively (RFC 9110); several lines of one
 * name are kept apart, in order, as HTTP allows. Each value is a heap copy
 * with a NUL after it, so it can also be used as a C string.
 *
 * Names are looked up on every extract, so they are compared a word at a
 * time: each name this file stores is a heap copy zero-filled up to the next
 * multiple of 8 bytes, and the key is copied, folded to lowercase, into a
 * zero-padded buffer. Two padded names are equal ignoring case exactly when
 * their folded words are, and the comparison stops at the first word that
 * differs, which for a shorter name is the one holding its NUL, so no read
 * leaves either buffer. Consequently items[].name must only ever be set by
 * these functions (as "owning" already implies).
 */
#include "propagation/propagation_int.h"

#define KEY_WORDS 8 /* keys up to 63 characters take the word path */

/* Lowercase every ASCII capital of 8 bytes at once: a byte y < 0x80 plus
 * 0x3f reaches 0x80 iff y >= 'A', plus 0x25 iff y > 'Z', with no carry
 * between lanes; bytes >= 0x80 are left alone. */
static inline uint64_t fold8(uint64_t x) {
    const uint64_t ones = 0x0101010101010101u, high = ones * 0x80;
    uint64_t y = x & ~high;
    uint64_t upper = (y + ones * (0x80 - 'A')) & ~(y + ones * (0x7f - 'Z')) & ~x & high;
    return x | (upper >> 2);
}

/* A name copy zero-filled to a multiple of 8 bytes (at least one NUL). */
static char *name_dup(const char *name) {
    size_t n = strlen(name), cap = (n + 8) & ~(size_t)7;
    char *p = tw__malloc(cap);
    if (!p) return NULL;
    memcpy(p, name, n);
    memset(p + n, 0, cap - n);
    return p;
}

/* The key zero-padded, as is and folded; n = 0 when too long for words. */
typedef struct key_words {
    uint64_t raw[KEY_WORDS], folded[KEY_WORDS];
    size_t n;
} key_words;

static void key_prepare(const char *key, key_words *k) {
    size_t len = 0;
    while (key[len] && len < sizeof k->raw) len++;
    k->n = 0;
    if (len == sizeof k->raw) return;
    k->n = len / 8 + 1;
    for (size_t i = 0; i < k->n; i++) {
        uint64_t w = 0;
        for (size_t b = 0; b < 8 && 8 * i + b < len; b++) w |= (uint64_t)(unsigned char)key[8 * i + b] << (8 * b);
        k->raw[i] = w;
        k->folded[i] = fold8(w);
    }
}

/* 0 different, 1 equal but for case, 2 byte-identical (as tw__name_cmp). */
static int name_cmp(const char *name, const char *key, const key_words *k) {
    if (k->n == 0) return tw__name_cmp(name, key);
    bool exact = true;
    for (size_t i = 0; i < k->n; i++) {
        uint64_t x;
        memcpy(&x, name + 8 * i, 8);
        if (fold8(x) != k->folded[i]) return 0;
        exact &= x == k->raw[i];
    }
    return exact ? 2 : 1;
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
    char *n = name_dup(name);
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
    key_words k;
    key_prepare(key, &k);
    size_t found = 0;
    for (size_t i = 0; i < h->count && found < max; i++) {
        const struct tw_http_header *it = &h->items[i];
        if (name_cmp(it->name, key, &k)) out[found++] = (tw_str){it->value, it->value_len};
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
    key_words k;
    key_prepare(key, &k);
    size_t f = 0;
    int same = 0;
    while (f < h->count && !(same = name_cmp(h->items[f].name, key, &k))) f++;
    if (f == h->count) return append(h, key, value, value_len);

    struct tw_http_header *it = &h->items[f];
    char *nv = NULL, *nn = NULL;
    if (value_len > it->value_len && !(nv = tw__malloc(value_len + 1))) return TW_ENOMEM;
    if (same != 2 && !(nn = name_dup(key))) {
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
        if (name_cmp(h->items[i].name, key, &k)) {
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
