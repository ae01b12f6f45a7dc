/*
 * ring.c — the consistent-hash ring (ring.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "forward/ring.h"

enum { POINTS = 128 };

typedef struct point {
    uint64_t h;
    uint32_t owner;
} point;

struct tws_ring {
    point *pts;
    size_t n;
};

static int cmp_point(const void *a, const void *b) {
    const point *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return (x->owner > y->owner) - (x->owner < y->owner); /* a tie (never seen) still orders the same everywhere */
}

tws_ring *tws_ring_new(const char *const *endpoints, uint32_t n) {
    tws_ring *r = calloc(1, sizeof *r);
    if (!r || !(r->pts = malloc((size_t)(n ? n : 1) * POINTS * sizeof *r->pts))) {
        free(r);
        return NULL;
    }
    for (uint32_t e = 0; e < n; e++)
        for (int i = 0; i < POINTS; i++) {
            char name[600];
            int len = snprintf(name, sizeof name, "%s#%d", endpoints[e], i);
            r->pts[r->n++] = (point){XXH3_64bits(name, (size_t)len), e};
        }
    qsort(r->pts, r->n, sizeof *r->pts, cmp_point);
    return r;
}

void tws_ring_free(tws_ring *r) {
    if (!r) return;
    free(r->pts);
    free(r);
}

uint32_t tws_ring_pick(const tws_ring *r, const void *key, size_t len) {
    uint64_t h = XXH3_64bits(key, len);
    size_t lo = 0, hi = r->n; /* first point with .h >= h */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->pts[mid].h < h) lo = mid + 1;
        else hi = mid;
    }
    return r->pts[lo == r->n ? 0 : lo].owner;
}
