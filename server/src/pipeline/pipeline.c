/*
 * pipeline.c — running the pipelines (see pipeline.h).
 *
 * State per pipeline: for each tail_sampling in it, a sampler and the
 * stage the run resumes at when the sampler hands a batch on; per
 * processor declaration: what redaction did. Everything else is in the
 * immutable tws_pipelines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"

typedef struct stage {
    tws_pipeline_rt *rt;
    uint32_t pipe, next; /* where the run resumes */
    tws_tailsampler *sampler;
} stage;

struct tws_pipeline_rt {
    const tws_pipelines *p;
    tws_pipeline_sinks sinks;
    stage **stages;           /* per pipeline, per processor position: a sampler's stage or NULL */
    tws_redaction_stats *red; /* per processor declaration */
    uint64_t *failures;       /* per pipeline: batches lost to a processor running out of memory */
    uint64_t now_ms;          /* of the run in progress, for samplers' emissions */
};

static void run_from(tws_pipeline_rt *rt, uint32_t pipe, uint32_t from, tws_batch *b, const tws_ts_batch_info *info);

static void on_emit(void *user, tws_batch *b, const tws_ts_batch_info *info) {
    stage *st = user;
    tws_ts_batch_info marked = *info;
    marked.wal_section = 0; /* it carries the sampler's marks now: no longer what the WAL holds */
    run_from(st->rt, st->pipe, st->next, b, &marked);
}

int tws_pipeline_rt_new(const tws_pipelines *p, const tws_pipeline_sinks *sinks, tws_pipeline_rt **out) {
    tws_pipeline_rt *rt = calloc(1, sizeof *rt);
    if (!rt) return TW_ENOMEM;
    rt->p = p;
    rt->sinks = *sinks;
    rt->stages = calloc(p->n_pipes ? p->n_pipes : 1, sizeof *rt->stages);
    rt->red = calloc(p->n_procs ? p->n_procs : 1, sizeof *rt->red);
    rt->failures = calloc(p->n_pipes ? p->n_pipes : 1, sizeof *rt->failures);
    int rc = rt->stages && rt->red && rt->failures ? TW_OK : TW_ENOMEM;
    for (uint32_t i = 0; rc == TW_OK && i < p->n_pipes; i++) {
        const tws_pipe_def *pd = &p->pipes[i];
        if (!(rt->stages[i] = calloc(pd->n_procs ? pd->n_procs : 1, sizeof *rt->stages[i]))) rc = TW_ENOMEM;
        for (uint32_t k = 0; rc == TW_OK && k < pd->n_procs; k++) {
            const tws_proc_def *def = &p->procs[pd->procs[k]];
            if (def->kind != TWS_PROC_TAIL_SAMPLING) continue;
            stage *st = &rt->stages[i][k];
            *st = (stage){rt, i, k + 1, NULL};
            rc = tws_tailsampler_new(&def->tail, on_emit, st, &st->sampler);
            /* batches that are still exactly their WAL section are read back, not kept */
            if (rc == TW_OK && sinks->reload) tws_tailsampler_set_reload(st->sampler, sinks->reload, sinks->user);
            if (rc == TW_OK && sinks->room) tws_tailsampler_set_room(st->sampler, sinks->room, sinks->user);
        }
    }
    if (rc != TW_OK) {
        tws_pipeline_rt_free(rt);
        return rc;
    }
    *out = rt;
    return TW_OK;
}

void tws_pipeline_rt_free(tws_pipeline_rt *rt) {
    if (!rt) return;
    for (uint32_t i = 0; rt->stages && i < rt->p->n_pipes; i++) {
        if (!rt->stages[i]) continue;
        for (uint32_t k = 0; k < rt->p->pipes[i].n_procs; k++) tws_tailsampler_free(rt->stages[i][k].sampler);
        free(rt->stages[i]);
    }
    free(rt->stages);
    free(rt->red);
    free(rt->failures);
    free(rt);
}

/* One stateless processor. */
static int apply(tws_pipeline_rt *rt, uint32_t proc, tws_batch *b) {
    const tws_proc_def *def = &rt->p->procs[proc];
    switch (def->kind) {
    case TWS_PROC_REDACTION: return tws_redaction_apply(def->redaction, b, &rt->red[proc]);
    case TWS_PROC_ATTRIBUTES: return tws_attributes_apply(def->attributes, b);
    default: return TW_OK;
    }
}

int tws_pipeline_prefix(tws_pipeline_rt *rt, uint32_t pipe, tws_batch *b) {
    const tws_pipe_def *pd = &rt->p->pipes[pipe];
    for (uint32_t k = 0; k < pd->n_prefix; k++) {
        int rc = apply(rt, pd->procs[k], b);
        if (rc != TW_OK) return rc;
    }
    return TW_OK;
}

/* The exporters and connectors of `pipe`. */
static void deliver(tws_pipeline_rt *rt, uint32_t pipe, tws_batch *b, const tws_ts_batch_info *info) {
    const tws_pipe_def *pd = &rt->p->pipes[pipe];
    int last = -1;
    for (uint32_t k = 0; k < pd->n_sinks; k++) {
        const tws_pipe_sink *sk = &pd->sinks[k];
        if (sk->kind == TWS_SINK_SPANMETRICS && rt->sinks.spanmetrics) rt->sinks.spanmetrics(rt->sinks.user, b);
        else if (sk->kind == TWS_SINK_SERVICEGRAPH && rt->sinks.servicegraph) rt->sinks.servicegraph(rt->sinks.user, b);
        else if (sk->kind == TWS_SINK_EXPORTER && rt->sinks.exporter)
            rt->sinks.exporter(rt->sinks.user, sk->pipe, pd->signal, b, info);
        else if (sk->kind == TWS_SINK_STORE || sk->kind == TWS_SINK_PIPELINE) last = (int)k;
    }
    for (int k = 0; k <= last; k++) {
        const tws_pipe_sink *sk = &pd->sinks[k];
        if (sk->kind != TWS_SINK_STORE && sk->kind != TWS_SINK_PIPELINE) continue;
        tws_batch copy, *mine = b;
        if (k != last) {
            if (tws_batch_clone(b, &copy) != TW_OK) {
                rt->failures[pipe]++;
                continue;
            }
            mine = &copy;
        }
        if (sk->kind == TWS_SINK_STORE) {
            rt->sinks.store(rt->sinks.user, pd->signal, mine, info);
        } else {
            run_from(rt, sk->pipe, 0, mine, info); /* a copy of the same spans: still its WAL section, if it was */
        }
        tws_batch_free(mine); /* whatever the owner left */
    }
    if (last < 0) tws_batch_free(b);
}

static void run_from(tws_pipeline_rt *rt, uint32_t pipe, uint32_t from, tws_batch *b, const tws_ts_batch_info *info) {
    const tws_pipe_def *pd = &rt->p->pipes[pipe];
    tws_ts_batch_info mine = *info;
    for (uint32_t k = from; k < pd->n_procs; k++) {
        stage *st = &rt->stages[pipe][k];
        if (st->sampler) {
            tws_tailsampler_add(st->sampler, b, &mine, rt->now_ms); /* resumes at k + 1 through on_emit */
            return;
        }
        mine.wal_section = 0; /* changed after the WAL: it cannot be read back from there */
        if (apply(rt, pd->procs[k], b) != TW_OK) {
            rt->failures[pipe]++; /* partly processed: not passed on (its WAL record replays it after a restart) */
            tws_batch_free(b);
            return;
        }
    }
    deliver(rt, pipe, b, &mine);
}

void tws_pipeline_run(tws_pipeline_rt *rt, uint32_t pipe, uint32_t from, tws_batch *b, const tws_ts_batch_info *info,
                      uint64_t now_ms) {
    rt->now_ms = now_ms;
    run_from(rt, pipe, from, b, info);
}

/* Call fn on every sampler of every pipeline. */
static void each_sampler(const tws_pipeline_rt *rt, void (*fn)(tws_tailsampler *t, void *arg), void *arg) {
    for (uint32_t i = 0; i < rt->p->n_pipes; i++)
        for (uint32_t k = 0; k < rt->p->pipes[i].n_procs; k++)
            if (rt->stages[i][k].sampler) fn(rt->stages[i][k].sampler, arg);
}

static void tick_one(tws_tailsampler *t, void *now) { tws_tailsampler_tick(t, *(uint64_t *)now); }
static void flush_one(tws_tailsampler *t, void *now) { tws_tailsampler_flush(t, *(uint64_t *)now); }

static void oldest_one(tws_tailsampler *t, void *lsn) {
    uint64_t l = tws_tailsampler_oldest_lsn(t);
    if (l < *(uint64_t *)lsn) *(uint64_t *)lsn = l;
}

static void held_one(tws_tailsampler *t, void *sum) {
    tws_ts_stats st;
    tws_tailsampler_get_stats(t, &st);
    ((uint64_t *)sum)[0] += st.bytes_held;
    ((uint64_t *)sum)[1] += st.batches_waiting_room;
}

void tws_pipeline_tick(tws_pipeline_rt *rt, uint64_t now_ms) {
    rt->now_ms = now_ms;
    each_sampler(rt, tick_one, &now_ms);
}

void tws_pipeline_flush(tws_pipeline_rt *rt, uint64_t now_ms) {
    rt->now_ms = now_ms;
    each_sampler(rt, flush_one, &now_ms);
}

uint64_t tws_pipeline_oldest_lsn(const tws_pipeline_rt *rt) {
    uint64_t lsn = UINT64_MAX;
    each_sampler(rt, oldest_one, &lsn);
    return lsn;
}

void tws_pipeline_held(const tws_pipeline_rt *rt, uint64_t *bytes, uint64_t *waiting_room) {
    uint64_t sum[2] = {0, 0};
    each_sampler(rt, held_one, sum);
    *bytes = sum[0];
    *waiting_room = sum[1];
}

int tws_pipeline_find(const tws_pipelines *p, const char *id, size_t id_len) {
    for (uint32_t i = 0; i < p->n_pipes; i++)
        if (strlen(p->pipes[i].id) == id_len && !memcmp(p->pipes[i].id, id, id_len)) return (int)i;
    return -1;
}

void tws_pipeline_render(const tws_pipeline_rt *rt, tw__buf *o) {
    const tws_pipelines *p = rt->p;
    static const struct {
        const char *name, *help;
    } red[2] = {{"tracewire_redaction_keys_redacted_total", "Attributes deleted by a redaction processor."},
                {"tracewire_redaction_values_masked_total", "Attribute values masked by a redaction processor."}};
    for (int m = 0; m < 2; m++) {
        tw__buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n", red[m].name, red[m].help, red[m].name);
        for (uint32_t i = 0; i < p->n_procs; i++)
            if (p->procs[i].kind == TWS_PROC_REDACTION)
                tw__buf_printf(o, "%s{processor=\"%s\"} %llu\n", red[m].name, p->procs[i].id,
                               (unsigned long long)(m ? rt->red[i].values_masked : rt->red[i].keys_redacted));
    }
    tw__buf_printf(o, "# HELP tracewire_pipeline_failures_total Batches a pipeline could not pass on (out of memory).\n"
                      "# TYPE tracewire_pipeline_failures_total counter\n");
    for (uint32_t i = 0; i < p->n_pipes; i++)
        tw__buf_printf(o, "tracewire_pipeline_failures_total{pipeline=\"%s\"} %llu\n", p->pipes[i].id,
                       (unsigned long long)rt->failures[i]);
    static const char *const heads[] = {
        "# HELP tracewire_tail_sampling_policy_decisions_total Verdicts of each tail-sampling policy, one per decided trace.\n"
        "# TYPE tracewire_tail_sampling_policy_decisions_total counter\n",
        "# HELP tracewire_tail_sampling_traces_total Traces decided by tail sampling.\n"
        "# TYPE tracewire_tail_sampling_traces_total counter\n",
        "# HELP tracewire_tail_sampling_spans_total Spans decided with their trace.\n"
        "# TYPE tracewire_tail_sampling_spans_total counter\n",
        "# HELP tracewire_tail_sampling_late_spans_total Spans that arrived after their trace's decision and followed it.\n"
        "# TYPE tracewire_tail_sampling_late_spans_total counter\n",
        "# HELP tracewire_tail_sampling_evicted_total Traces decided before decision_wait because num_traces was reached.\n"
        "# TYPE tracewire_tail_sampling_evicted_total counter\n",
        "# HELP tracewire_tail_sampling_traces_in_memory Traces waiting for a decision.\n"
        "# TYPE tracewire_tail_sampling_traces_in_memory gauge\n",
        "# HELP tracewire_tail_sampling_held_bytes Memory of the batches tail sampling holds (batches it reads back from the WAL count only their slots).\n"
        "# TYPE tracewire_tail_sampling_held_bytes gauge\n",
        "# HELP tracewire_tail_sampling_reload_failures_total Held batches that could not be read back from the write-ahead log (replayed at the next start).\n"
        "# TYPE tracewire_tail_sampling_reload_failures_total counter\n",
    };
    for (int h = 0; h < 8; h++) {
        tw__buf_printf(o, "%s", heads[h]);
        for (uint32_t i = 0; i < p->n_pipes; i++)
            for (uint32_t k = 0; k < p->pipes[i].n_procs; k++) {
                const tws_tailsampler *t = rt->stages[i][k].sampler;
                if (!t) continue;
                const tws_proc_def *def = &p->procs[p->pipes[i].procs[k]];
                char lbl[256];
                snprintf(lbl, sizeof lbl, "pipeline=\"%s\",processor=\"%s\"", p->pipes[i].id, def->id);
                tws_ts_stats st;
                tws_tailsampler_get_stats(t, &st);
                const tws_ts_policy_stats *ps = tws_tailsampler_policy_stats(t);
                switch (h) {
                case 0:
                    for (uint32_t q = 0; q < def->tail.n_policies; q++) {
                        const char *name = def->tail.policies[q].name;
                        tw__buf_printf(o,
                                       "tracewire_tail_sampling_policy_decisions_total{%s,policy=\"%s\",decision=\"sampled\"} %llu\n"
                                       "tracewire_tail_sampling_policy_decisions_total{%s,policy=\"%s\",decision=\"not_sampled\"} %llu\n",
                                       lbl, name, (unsigned long long)ps[q].sampled, lbl, name,
                                       (unsigned long long)ps[q].not_sampled);
                        if (def->tail.policies[q].type == TWS_TS_DROP)
                            tw__buf_printf(o,
                                           "tracewire_tail_sampling_policy_decisions_total{%s,policy=\"%s\",decision=\"dropped\"} %llu\n",
                                           lbl, name, (unsigned long long)ps[q].dropped);
                    }
                    break;
                case 1:
                    tw__buf_printf(o,
                                   "tracewire_tail_sampling_traces_total{%s,decision=\"sampled\"} %llu\n"
                                   "tracewire_tail_sampling_traces_total{%s,decision=\"not_sampled\"} %llu\n"
                                   "tracewire_tail_sampling_traces_total{%s,decision=\"dropped\"} %llu\n",
                                   lbl, (unsigned long long)st.traces_sampled, lbl,
                                   (unsigned long long)st.traces_not_sampled, lbl, (unsigned long long)st.traces_dropped);
                    break;
                case 2:
                    tw__buf_printf(o,
                                   "tracewire_tail_sampling_spans_total{%s,decision=\"sampled\"} %llu\n"
                                   "tracewire_tail_sampling_spans_total{%s,decision=\"not_sampled\"} %llu\n",
                                   lbl, (unsigned long long)st.spans_sampled, lbl, (unsigned long long)st.spans_not_sampled);
                    break;
                case 3:
                    tw__buf_printf(o,
                                   "tracewire_tail_sampling_late_spans_total{%s,decision=\"sampled\"} %llu\n"
                                   "tracewire_tail_sampling_late_spans_total{%s,decision=\"not_sampled\"} %llu\n",
                                   lbl, (unsigned long long)st.late_spans_sampled, lbl,
                                   (unsigned long long)st.late_spans_not_sampled);
                    break;
                case 4: tw__buf_printf(o, "tracewire_tail_sampling_evicted_total{%s} %llu\n", lbl, (unsigned long long)st.evicted); break;
                case 5:
                    tw__buf_printf(o, "tracewire_tail_sampling_traces_in_memory{%s} %llu\n", lbl,
                                   (unsigned long long)st.traces_in_memory);
                    break;
                case 6:
                    tw__buf_printf(o, "tracewire_tail_sampling_held_bytes{%s} %llu\n", lbl, (unsigned long long)st.bytes_held);
                    break;
                default:
                    tw__buf_printf(o, "tracewire_tail_sampling_reload_failures_total{%s} %llu\n", lbl,
                                   (unsigned long long)st.reload_failures);
                }
            }
    }
}
