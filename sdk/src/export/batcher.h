/*
 * batcher.h — a bounded queue drained in batches by a background thread:
 * the engine of the batch span processor and of the logger's OTLP export.
 *
 * Items are opaque pointers. Producers push without locks (a full queue
 * refuses the item, counted as dropped, never waited for); one worker thread
 * hands batches of up to `batch_size` to the sink every `delay_ms`, as soon
 * as a batch is full, on flush and at shutdown. After the sink returns, each
 * item is released through the sink's `release`.
 *
 * Fork safety: around fork() every batcher's lock is held; in the child the
 * worker (which does not exist there) is forgotten, the parent's queued
 * items are released unexported (the parent exports them), and the sink is
 * told so it can drop inherited connections. The next push starts a worker.
 */
#ifndef TW_BATCHER_H
#define TW_BATCHER_H

#include "common/tw_base.h"
#include "export/export_int.h"

typedef struct tw__batch_sink {
    /* Export n items, until deadline_ns at the latest; TW_OK or the error
     * that made it give up. Called from the worker thread only. */
    int (*export_items)(void *ctx, void *const *items, size_t n, uint64_t deadline_ns);
    /* Give back one item, exported or not. */
    void (*release)(void *item);
    void *ctx;
    /* The exporter behind export_items: shut down to cut retries short
     * when the flush at shutdown times out, and told of a fork. */
    tw_exporter *exp;
} tw__batch_sink;

/* Settings; a 0 field takes the variable <env_prefix>MAX_QUEUE_SIZE,
 * SCHEDULE_DELAY, EXPORT_TIMEOUT, MAX_EXPORT_BATCH_SIZE (e.g. prefix
 * "OTEL_BSP_"), else 2048, `default_delay_ms`, 30000, 512. */
typedef struct tw__batch_config {
    const char *env_prefix;
    uint32_t default_delay_ms;
    tw_batch_options given;
} tw__batch_config;

typedef struct tw__batcher tw__batcher;

/* NULL on ENOMEM. The sink is copied. */
TW_HIDDEN tw__batcher *tw__batcher_new(const tw__batch_sink *sink, const tw__batch_config *cfg);
/* Queue an item. False when refused (full, or shut down): the item was not
 * taken and the caller still owns it. Never blocks. */
TW_HIDDEN bool tw__batcher_push(tw__batcher *b, void *item);
/* Wait until everything queued before the call has been handed to the sink. */
TW_HIDDEN int tw__batcher_flush(tw__batcher *b, uint32_t timeout_ms);
/* Flush (bounded by the export timeout or `timeout_ms`), then stop the
 * worker. Later pushes are refused. Idempotent. */
TW_HIDDEN int tw__batcher_shutdown(tw__batcher *b, uint32_t timeout_ms);
TW_HIDDEN uint32_t tw__batcher_batch_size(const tw__batcher *b);
TW_HIDDEN void tw__batcher_stats(const tw__batcher *b, tw_processor_stats *out);
/* Shuts down, releases what is left. */
TW_HIDDEN void tw__batcher_destroy(tw__batcher *b);

#endif
