/*
 * pool.h — fixed-size span objects without malloc on the hot path.
 *
 * Each thread keeps a small stack of free objects; it refills from and
 * spills to one global list of chains of TW__POOL_BATCH objects, under a
 * mutex taken about once per 32 spans. The exporter thread frees what
 * producer threads allocate, so objects flow back through the global list;
 * since their memory was last written on that thread's core, each get
 * prefetches (for writing) an object a few gets ahead. The global list is
 * capped: beyond TW__POOL_GLOBAL_MAX free objects, memory goes back to the
 * heap. A thread's cache holds at most two batches; what is left at thread
 * exit goes to the global list.
 * The global mutex is taken around fork() so a child never inherits it held.
 */
#ifndef TW_POOL_H
#define TW_POOL_H

#include "trace/span_int.h"

/* An uninitialised object of TW__SPAN_OBJECT_SIZE bytes, or NULL. */
TW_HIDDEN tw_span *tw__pool_get(void);
TW_HIDDEN void tw__pool_put(tw_span *s);
/* Chains on the global list now (for tests). */
TW_HIDDEN uint32_t tw__pool_global_chains(void);

#define TW__POOL_BATCH 32
#define TW__POOL_GLOBAL_MAX 8192
/* Bytes of the next free object prefetched by each get. */
#define TW__POOL_PREFETCH_BYTES 512

#endif
