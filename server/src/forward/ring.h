/*
 * ring.h — a consistent-hash ring over a fixed list of endpoints: the
 * loadbalancing exporter's choice of backend for a trace id.
 *
 * Each endpoint owns 128 points (xxh3 of "<endpoint>#<i>"); a key goes to
 * the owner of the first point at or after its hash, wrapping. The choice
 * depends only on the endpoint names and the key, so every gateway
 * instance with the same list sends a trace to the same backend, and
 * removing one endpoint moves only the keys it owned.
 */
#ifndef TWS_FORWARD_RING_H
#define TWS_FORWARD_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct tws_ring tws_ring;

/* NULL on out-of-memory. */
tws_ring *tws_ring_new(const char *const *endpoints, uint32_t n);
void tws_ring_free(tws_ring *r);
/* The index (into `endpoints`) that owns `key`. */
uint32_t tws_ring_pick(const tws_ring *r, const void *key, size_t len);

#endif
