/*
 * batch.c — the memory of a decoded batch: a chunked bump arena.
 *
 * Every allocation of a batch (arrays, repaired strings, a copy of the
 * input) comes from a singly linked list of chunks and is freed with the
 * batch, all at once (h2o's pool, nginx's ngx_pool_t).
 *
 * Memory is NOT zeroed: decoders write every field or memset what they
 * need (zeroing whole chunks cost the protobuf decoder 15% of its time, most
 * of it on bytes that are overwritten or never used).
 *
 * Sizing: a new chunk is as large as everything the batch holds so far,
 * between ARENA_MIN and ARENA_MAX, so a batch of any size needs O(log n)
 * mallocs and wastes at most ARENA_MAX bytes, or half its memory when
 * smaller, at the end of its last chunk. A request larger than a quarter
 * of that gets a chunk of its own, linked behind the current one so that
 * the space left in the current chunk stays in use.
 *
 * The batch struct holds only the head pointer, so a batch may be moved
 * by value (the store takes batches over that way).
 */
#include <stdatomic.h>
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

#include "otlp/model.h"

#define ARENA_MIN ((size_t)16 << 10)
#define ARENA_MAX ((size_t)1 << 20)

struct tws_arena_chunk {
    tws_arena_chunk *next;
    size_t used, cap; /* bytes of data[] handed out / available */
    uint64_t data[];  /* 8-byte aligned */
};

static _Atomic uint64_t next_batch_id = 1;

void tws_batch_init(tws_batch *b) {
    memset(b, 0, sizeof *b);
    b->id = atomic_fetch_add_explicit(&next_batch_id, 1, memory_order_relaxed);
}

void tws_batch_free(tws_batch *b) {
    tws_arena_chunk *c = b->arena;
    while (c) {
        tws_arena_chunk *next = c->next;
        tw__free(c);
        c = next;
    }
    tws_batch_init(b);
}

/* Bytes held by the chunks of `b` (their capacity). */
static size_t arena_total(const tws_arena_chunk *c) {
    size_t t = 0;
    for (; c; c = c->next) t += c->cap;
    return t;
}

static tws_arena_chunk *chunk_new(size_t cap) {
    if (cap > SIZE_MAX - sizeof(tws_arena_chunk)) return NULL;
    tws_arena_chunk *c = tw__malloc(sizeof *c + cap);
    if (c) c->next = NULL, c->used = 0, c->cap = cap;
    return c;
}

void *tws_batch_alloc(tws_batch *b, size_t n) {
    if (n > SIZE_MAX - 7) return NULL;
    n = (n + 7) & ~(size_t)7;
    if (n == 0) n = 8; /* a distinct, non-NULL pointer even for 0 bytes */
    tws_arena_chunk *c = b->arena;
    if (TW_LIKELY(c && c->cap - c->used >= n)) {
        void *p = (uint8_t *)c->data + c->used;
        c->used += n;
        return p;
    }
    /* The walk is over O(log size) chunks and happens once per new chunk. */
    size_t grow = TW_MIN(TW_MAX(arena_total(c), ARENA_MIN), ARENA_MAX);
    if (n > grow / 4 && c) {
        /* Big: its own chunk, behind the head, whose free space stays usable. */
        tws_arena_chunk *big = chunk_new(n);
        if (!big) return NULL;
        big->used = n;
        big->next = c->next;
        c->next = big;
        return big->data;
    }
    tws_arena_chunk *nc = chunk_new(TW_MAX(n, grow));
    if (!nc) return NULL;
    nc->used = n;
    nc->next = c;
    b->arena = nc;
    assert(((uintptr_t)nc->data & 7) == 0);
    return nc->data;
}

uint64_t tws_batch_mem(const tws_batch *b) { return arena_total(b->arena); }

int tws_batch_str(tws_batch *b, const void *s, size_t n, tw_str *out) {
    char *c = tws_batch_alloc(b, n + 1);
    if (!c) return TW_ENOMEM;
    if (n) memcpy(c, s, n);
    c[n] = '\0';
    *out = (tw_str){c, n};
    return TW_OK;
}

bool tws_value_scalar_text(const tws_value *v, char *tmp, size_t tmp_len, tw_str *out) {
    switch (v->type) {
    case TWS_STRING: *out = v->u.s; return true;
    case TWS_INT: *out = (tw_str){tmp, (size_t)snprintf(tmp, tmp_len, "%" PRId64, v->u.i)}; return true;
    case TWS_DOUBLE: *out = (tw_str){tmp, (size_t)snprintf(tmp, tmp_len, "%.17g", v->u.d)}; return true;
    case TWS_BOOL: *out = v->u.b ? (tw_str){"true", 4} : (tw_str){"false", 5}; return true;
    default: return false;
    }
}
