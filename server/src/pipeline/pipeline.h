/*
 * pipeline.h — running the compiled pipelines of pconfig.h.
 *
 * A batch enters an entry pipeline in two steps. Before the write-ahead
 * log, tws_pipeline_prefix() applies the pipeline's leading stateless
 * processors (redaction, attributes), so the WAL only ever holds what they
 * let through. Once the WAL made the batch durable, tws_pipeline_run()
 * continues from there: the remaining processors (a tail_sampling holds
 * the batch until its traces are decided, then the run resumes behind it),
 * then the pipeline's exporters and connectors: spanmetrics and
 * servicegraph read the batch, the store and every forward connector's
 * pipeline each take a batch of their own (a clone for all but the last).
 * A WAL replay re-enters at the same place with the same LSN.
 *
 * A batch given with info->wal_section is exactly that section of its WAL
 * record, and stays so (through forward connectors too) until a processor
 * changes it or a tail_sampling hands it on with its marks: while it is, a
 * tail_sampling frees it and reads it back when decided (sinks.reload);
 * after, a tail_sampling keeps it in memory.
 *
 * Invariants: every batch given to run() is either handed to exactly one
 * owner or freed; tws_pipeline_oldest_lsn() is the lowest WAL position of
 * any batch still held by a processor, so the WAL is never released past
 * a span that has not reached the store; not thread-safe (the server's
 * loop thread owns it).
 */
#ifndef TWS_PIPELINE_H
#define TWS_PIPELINE_H

#include "common/buf.h"
#include "pipeline/pconfig.h"

typedef struct tws_pipeline_sinks {
    void *user;
    /* The tracewire exporter: take ownership of *b (a batch of `signal`
     * TWS_PIPE_*) into the store. */
    void (*store)(void *user, int signal, tws_batch *b, const tws_ts_batch_info *info);
    /* The connectors that derive metrics: read only. */
    void (*spanmetrics)(void *user, const tws_batch *b);
    void (*servicegraph)(void *user, const tws_batch *b);
    /* A forwarding exporter (tws_pipelines.exps[exporter]): read only. */
    void (*exporter)(void *user, uint32_t exporter, int signal, const tws_batch *b, const tws_ts_batch_info *info);
    /* Read a batch back from its WAL section (info->lsn, info->wal_section),
     * as it was given to tws_pipeline_run; may be NULL (then tail sampling
     * keeps every batch it waits on in memory). */
    tws_ts_reload_fn reload;
    /* Is there room downstream for a decided batch of `bytes`? May be NULL
     * (always). A tail_sampling holds what finds none (tailsample.h). */
    tws_ts_room_fn room;
} tws_pipeline_sinks;

typedef struct tws_pipeline_rt tws_pipeline_rt;

/* `p` must outlive the runtime. TW_OK or TW_ENOMEM. */
int tws_pipeline_rt_new(const tws_pipelines *p, const tws_pipeline_sinks *sinks, tws_pipeline_rt **out);
/* Frees batches still held (their WAL records stay: a restart replays them). */
void tws_pipeline_rt_free(tws_pipeline_rt *rt);

/* Apply pipeline `pipe`'s stateless prefix to `b` in place. TW_OK, or
 * TW_ENOMEM (the batch is then partly processed: refuse the request). */
int tws_pipeline_prefix(tws_pipeline_rt *rt, uint32_t pipe, tws_batch *b);

/* Continue pipeline `pipe` at processor `from` (its n_prefix after the WAL;
 * 0 for a forward connector's copy), taking ownership of *b. */
void tws_pipeline_run(tws_pipeline_rt *rt, uint32_t pipe, uint32_t from, tws_batch *b, const tws_ts_batch_info *info,
                      uint64_t now_ms);

/* Decide what has waited long enough (call a few times a second). */
void tws_pipeline_tick(tws_pipeline_rt *rt, uint64_t now_ms);
/* Decide everything now (shutdown). */
void tws_pipeline_flush(tws_pipeline_rt *rt, uint64_t now_ms);
/* The lowest LSN still held, or UINT64_MAX. */
uint64_t tws_pipeline_oldest_lsn(const tws_pipeline_rt *rt);
/* Memory of the batches held, and how many decided ones wait for room
 * downstream (push back while there are any). */
void tws_pipeline_held(const tws_pipeline_rt *rt, uint64_t *bytes, uint64_t *waiting_room);
/* The index of the pipeline named `id`, or -1. */
int tws_pipeline_find(const tws_pipelines *p, const char *id, size_t id_len);

/* Prometheus text: redaction counts and tail-sampling decisions, per
 * processor and policy. */
void tws_pipeline_render(const tws_pipeline_rt *rt, tw__buf *out);

#endif
