/*
 * rand.h — fast per-thread random numbers for trace and span ids.
 *
 * Each thread keeps its own generator, seeded from the kernel (getrandom)
 * on first use. After fork() every thread of the child reseeds, so a
 * pre-forking server's workers never repeat their parent's ids.
 * Not cryptographic; ids need to be unique, not secret.
 */
#ifndef TW_RAND_H
#define TW_RAND_H

#include <stdint.h>

#include "common/tw_base.h"

TW_HIDDEN uint64_t tw__rand64(void);
/* A new span id and, when `trace` is not NULL, a new trace id; never all
 * zero. One call, so the per-thread state is looked up once. */
TW_HIDDEN void tw__new_ids(tw_trace_id *trace, tw_span_id *span);

#endif
