/*
 * ingest_pipeline.c — the ingest path when the configuration has
 * Collector-shaped pipelines (pipeline/pconfig.h); without them ingest.c
 * stores every batch directly.
 *
 * A request is given to every pipeline that receives from its receiver.
 * Each gets its own batch (the last the decoded one, the others clones),
 * and its stateless prefix runs at once; the results are written as ONE
 * WAL record with one section per pipeline, so the request is acknowledged
 * when that record is durable and what is on disk is already redacted:
 *
 *   0 1 version (2)   1 1 tenant length T   2 T tenant   2+T 1 sections S
 *   then S times:     1 name length N, N pipeline id, 1 flags (1: the
 *                     resources are Loki label sets), 4 length L (LE),
 *                     L the section's records as OTLP protobuf (an
 *                     ExportTraceServiceRequest or ExportLogsServiceRequest)
 *
 * Once durable (or when replayed), each section continues its pipeline
 * after the prefix, with the record's LSN and its section number: tail
 * sampling holds only what it decides by and reads the section back from
 * the WAL when its traces are decided (reload_sink), the exporters store
 * it. A section naming a pipeline the configuration no
 * longer has goes straight to the store, so a changed configuration never
 * loses an acknowledged span. Span metrics are counted when a request is
 * acknowledged, never again on replay.
 *
 * Forwarding exporters (otlphttp, otlp, loadbalancing) each have a queue on disk
 * per endpoint under <data>/exporters/<id>/ (forward/queue.h); a batch
 * reaching one is encoded and queued (loadbalancing: split by a consistent
 * hash of the trace id, forward/ring.h). The WAL is kept until every queue
 * holds what it was given, and the receivers answer 429 while a queue is
 * nearly full, so a slow or dead backend pushes back instead of losing.
 */
#include <stdio.h>
#include <stdlib.h>

#include <errno.h>

#include "common/clock.h"
#include "forward/queue.h"
#include "forward/ring.h"
#include "pipeline/pipeline.h"
#include "serve/server_int.h"

enum { WAL_V2 = 2, SECT_VERBATIM = 1 };

/* ---- the sinks -------------------------------------------------------------------------- */

static void store_sink(void *user, int signal, tws_batch *b, const tws_ts_batch_info *info) {
    tws_server *s = user;
    if (signal == TWS_PIPE_LOGS) {
        int rc = tws_loghead_add(s->logs, info->tenant, b, info->bytes);
        if (rc == TW_EFULL && s->replaying && s->log_store && tws_log_flush_now(s, info->lsn) == TW_OK)
            rc = tws_loghead_add(s->logs, info->tenant, b, info->bytes);
        if (rc == TW_OK) {
            tws_log_flush_note_add(s);
            return;
        }
        fprintf(stderr, "tracewire: a durable logs batch could not enter the log head (%s); it will be "
                        "readable after a restart\n", tw_strerror(rc));
        if (info->lsn < s->log_pin_lsn) s->log_pin_lsn = info->lsn; /* its WAL record must stay */
        return;
    }
    int rc = tws_head_add(s->head, info->tenant, b, info->bytes);
    if (rc == TW_EFULL && s->replaying && s->store) {
        uint64_t cut = info->lsn, held = tws_pipeline_oldest_lsn(s->pipes);
        if (held < cut) cut = held;
        if (tws_flush_now(s, cut) == TW_OK) rc = tws_head_add(s->head, info->tenant, b, info->bytes);
    }
    if (rc == TW_OK) {
        tws_flush_note_add(s);
        return;
    }
    fprintf(stderr, "tracewire: a durable batch could not enter the in-memory head (%s); it will be readable "
                    "after a restart\n", tw_strerror(rc));
    if (info->lsn < s->pin_lsn) s->pin_lsn = info->lsn; /* its WAL record must stay */
}

static int reload_sink(void *user, const tws_ts_batch_info *info, tws_batch *out);

static bool room_sink(void *user, uint64_t bytes) { return tws_flush_room_for_decided(user, bytes); }

static void spanmetrics_sink(void *user, const tws_batch *b) {
    tws_server *s = user;
    if (s->spanmetrics && !s->replaying) tws_spanmetrics_add(s->spanmetrics, b);
}

static void servicegraph_sink(void *user, const tws_batch *b) {
    tws_server *s = user;
    if (s->servicegraph && !s->replaying) tws_servicegraph_add(s->servicegraph, b, tw__mono_ms());
}

/* ---- forwarding exporters ---------------------------------------------------------------- */

typedef struct fwd_exp {
    tws_fwd **q;     /* one per endpoint */
    char **names;    /* the endpoints, for /metrics */
    uint32_t n;
    tws_ring *ring;  /* loadbalancing */
    uint64_t dropped; /* spans a full or failed queue could not take */
} fwd_exp;

struct tws_forwarders {
    fwd_exp *e;
    uint32_t n;
};

/* A component id or host:port as one directory name. */
static void dir_name(char *out, size_t cap, const char *s) {
    snprintf(out, cap, "%s", s);
    for (char *p = out; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
            *p = '_';
}

static int forwarders_start(tws_server *s) {
    const tws_pipelines *p = s->cfg.pipelines;
    if (!p->n_exps) return TW_OK;
    struct tws_forwarders *fw = tw__calloc(1, sizeof *fw);
    if (!fw || !(fw->e = tw__calloc(p->n_exps, sizeof *fw->e))) {
        tw__free(fw);
        return TW_ENOMEM;
    }
    s->fwd = fw;
    for (uint32_t i = 0; i < p->n_exps; i++) {
        const tws_exp_def *d = &p->exps[i];
        fwd_exp *fe = &fw->e[i];
        fw->n = i + 1;
        uint32_t n = d->kind == TWS_EXP_LOADBALANCING ? d->n_hosts : 1;
        if (!(fe->q = tw__calloc(n, sizeof *fe->q)) || !(fe->names = tw__calloc(n, sizeof *fe->names))) return TW_ENOMEM;
        for (uint32_t k = 0; k < n; k++) {
            tws_fwd_options o = {.queue_bytes = d->queue_bytes, .initial_interval_ms = d->initial_interval_ms,
                                 .max_interval_ms = d->max_interval_ms, .max_elapsed_ms = d->max_elapsed_ms,
                                 .timeout_ms = (uint32_t)d->timeout_ms, .gzip = d->gzip, .grpc = d->grpc,
                                 .no_sync = s->cfg.wal_no_sync,
                                 .headers = (const char *const *)d->headers};
            char id[100], host[220];
            dir_name(id, sizeof id, d->id);
            int n1, n2;
            if (d->kind == TWS_EXP_LOADBALANCING) {
                n1 = snprintf(o.endpoint, sizeof o.endpoint, "%s://%s", d->tls ? "https" : "http", d->hosts[k]);
                dir_name(host, sizeof host, d->hosts[k]);
                n2 = snprintf(o.dir, sizeof o.dir, "%s/exporters/%s/%s", s->cfg.data_dir, id, host);
            } else {
                n1 = snprintf(o.endpoint, sizeof o.endpoint, "%s", d->endpoint);
                n2 = snprintf(o.dir, sizeof o.dir, "%s/exporters/%s", s->cfg.data_dir, id);
            }
            if (n1 < 0 || (size_t)n1 >= sizeof o.endpoint || n2 < 0 || (size_t)n2 >= sizeof o.dir) {
                fprintf(stderr, "tracewire: exporter %s: its queue directory path is too long\n", d->id);
                return TW_EINVAL;
            }
            char err[256] = "";
            if (tws_mkdir_p(o.dir) != 0) {
                fprintf(stderr, "tracewire: cannot create %s: %s\n", o.dir, strerror(errno));
                return TW_EIO;
            }
            int rc = tws_fwd_open(&o, &fe->q[k], err);
            if (rc != TW_OK) {
                fprintf(stderr, "tracewire: exporter %s: %s\n", d->id, err);
                return rc;
            }
            if (!(fe->names[k] = tw__strndup(o.endpoint, strlen(o.endpoint)))) return TW_ENOMEM;
            fe->n = k + 1;
            tws_fwd_stats st;
            tws_fwd_get_stats(fe->q[k], &st);
            if (st.queued)
                fprintf(stderr, "tracewire: exporter %s: %llu request(s) for %s still queued from before\n", d->id,
                        (unsigned long long)st.queued, o.endpoint);
        }
        if (d->kind == TWS_EXP_LOADBALANCING && !(fe->ring = tws_ring_new((const char *const *)d->hosts, d->n_hosts)))
            return TW_ENOMEM;
    }
    return TW_OK;
}

static void forwarders_stop(tws_server *s) {
    struct tws_forwarders *fw = s->fwd;
    if (!fw) return;
    for (uint32_t i = 0; i < fw->n; i++) {
        for (uint32_t k = 0; k < fw->e[i].n; k++) {
            tws_fwd_close(fw->e[i].q[k]);
            tw__free(fw->e[i].names[k]);
        }
        tw__free(fw->e[i].q);
        tw__free(fw->e[i].names);
        tws_ring_free(fw->e[i].ring);
    }
    tw__free(fw->e);
    tw__free(fw);
    s->fwd = NULL;
}

static void enqueue(tws_server *s, fwd_exp *fe, uint32_t k, int signal, const tws_selection *sel, const tws_batch *b,
                    const tws_ts_batch_info *info, uint64_t spans) {
    tw__buf pb;
    tw__buf_init(&pb, TWS_WAL_MAX_RECORD);
    int rc = signal == TWS_PIPE_LOGS ? tws_otlp_encode_logs_pb(b, 1, &pb) : tws_otlp_encode_pb(sel, 1, 1, &pb);
    if (rc == TW_OK && pb.len)
        rc = tws_fwd_enqueue(fe->q[k], signal == TWS_PIPE_LOGS ? TWS_FWD_LOGS : TWS_FWD_TRACES, info->tenant, pb.data,
                             pb.len, info->lsn);
    if (rc != TW_OK) {
        if (!fe->dropped)
            fprintf(stderr, "tracewire: forwarding to %s: %llu item(s) could not be queued (%s)\n", fe->names[k],
                    (unsigned long long)spans, tw_strerror(rc));
        fe->dropped += spans;
    }
    tw__buf_free(&pb);
}

static void exporter_sink(void *user, uint32_t exporter, int signal, const tws_batch *b, const tws_ts_batch_info *info) {
    tws_server *s = user;
    fwd_exp *fe = &s->fwd->e[exporter];
    if (!fe->ring) {
        tws_selection sel = {b, NULL, 0};
        enqueue(s, fe, 0, signal, &sel, b, info, signal == TWS_PIPE_LOGS ? b->n_logs : b->n_spans);
        return;
    }
    /* loadbalancing (traces only, pconfig.c): the spans of each backend */
    uint32_t *idx = tw__malloc((b->n_spans ? b->n_spans : 1) * sizeof *idx);
    uint8_t *owner = tw__malloc(b->n_spans ? b->n_spans : 1);
    if (!idx || !owner) {
        fe->dropped += b->n_spans;
        tw__free(idx);
        tw__free(owner);
        return;
    }
    for (uint32_t i = 0; i < b->n_spans; i++)
        owner[i] = (uint8_t)tws_ring_pick(fe->ring, b->spans[i].trace_id, 16);
    for (uint32_t k = 0; k < fe->n; k++) {
        size_t n = 0;
        for (uint32_t i = 0; i < b->n_spans; i++)
            if (owner[i] == k && !b->spans[i].reject) idx[n++] = i;
        if (!n) continue;
        tws_selection sel = {b, idx, n};
        enqueue(s, fe, k, signal, &sel, b, info, n);
    }
    tw__free(idx);
    tw__free(owner);
}

uint64_t tws_forward_oldest_lsn(const tws_server *s, int signal) {
    uint64_t lsn = UINT64_MAX;
    for (uint32_t i = 0; s->fwd && i < s->fwd->n; i++)
        for (uint32_t k = 0; k < s->fwd->e[i].n; k++) {
            uint64_t l = tws_fwd_oldest_pending(s->fwd->e[i].q[k], signal);
            if (l < lsn) lsn = l;
        }
    return lsn;
}

bool tws_forward_full(const tws_server *s) {
    for (uint32_t i = 0; s->fwd && i < s->fwd->n; i++)
        for (uint32_t k = 0; k < s->fwd->e[i].n; k++) {
            tws_fwd_stats st;
            tws_fwd_get_stats(s->fwd->e[i].q[k], &st);
            if (st.queued_bytes > s->cfg.pipelines->exps[i].queue_bytes / 10 * 9) return true;
        }
    return false;
}

void tws_forward_render(const tws_server *s, tw__buf *o) {
    if (!s->fwd) return;
    static const char *const outcomes[] = {"sent", "retried", "refused", "given_up", "failed"};
    tw__buf_printf(o, "# HELP tracewire_exporter_requests_total OTLP requests a forwarding exporter sent, retried, saw "
                      "refused, gave up or could not queue.\n# TYPE tracewire_exporter_requests_total counter\n");
    for (uint32_t i = 0; i < s->fwd->n; i++)
        for (uint32_t k = 0; k < s->fwd->e[i].n; k++) {
            tws_fwd_stats st;
            tws_fwd_get_stats(s->fwd->e[i].q[k], &st);
            uint64_t v[5] = {st.sent, st.retries, st.refused, st.given_up, st.failed};
            for (int j = 0; j < 5; j++)
                tw__buf_printf(o, "tracewire_exporter_requests_total{exporter=\"%s\",endpoint=\"%s\",outcome=\"%s\"} %llu\n",
                               s->cfg.pipelines->exps[i].id, s->fwd->e[i].names[k], outcomes[j], (unsigned long long)v[j]);
        }
    tw__buf_printf(o, "# HELP tracewire_exporter_queue_bytes Bytes waiting in a forwarding exporter's queue on disk.\n"
                      "# TYPE tracewire_exporter_queue_bytes gauge\n");
    for (uint32_t i = 0; i < s->fwd->n; i++)
        for (uint32_t k = 0; k < s->fwd->e[i].n; k++) {
            tws_fwd_stats st;
            tws_fwd_get_stats(s->fwd->e[i].q[k], &st);
            tw__buf_printf(o, "tracewire_exporter_queue_bytes{exporter=\"%s\",endpoint=\"%s\"} %llu\n",
                           s->cfg.pipelines->exps[i].id, s->fwd->e[i].names[k], (unsigned long long)st.queued_bytes);
        }
    tw__buf_printf(o, "# HELP tracewire_exporter_dropped_total Spans or log records a forwarding exporter could not queue.\n"
                      "# TYPE tracewire_exporter_dropped_total counter\n");
    for (uint32_t i = 0; i < s->fwd->n; i++)
        tw__buf_printf(o, "tracewire_exporter_dropped_total{exporter=\"%s\"} %llu\n", s->cfg.pipelines->exps[i].id,
                       (unsigned long long)s->fwd->e[i].dropped);
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
    tws_server *s = arg;
    tws_pipeline_tick(s->pipes, tw__mono_ms());
    tws_flush_maybe(s);
}

int tws_ingest_pipelines_start(tws_server *s) {
    if (!s->cfg.pipelines) return TW_OK;
    tws_pipeline_sinks sk = {s, store_sink, spanmetrics_sink, servicegraph_sink, exporter_sink, reload_sink, room_sink};
    char wal_dir[600];
    snprintf(wal_dir, sizeof wal_dir, "%s/wal", s->cfg.data_dir);
    tw__buf_init(&s->reload_buf, 0);
    int rc = tws_wal_reader_open(wal_dir, &s->wal_reader);
    if (rc == TW_OK) rc = forwarders_start(s);
    if (rc == TW_OK) rc = tws_pipeline_rt_new(s->cfg.pipelines, &sk, &s->pipes);
    if (rc != TW_OK) return rc;
    s->pipeline_timer = event_new(s->base, -1, EV_PERSIST, on_tick, s);
    struct timeval tv = {0, 100000};
    return s->pipeline_timer && event_add(s->pipeline_timer, &tv) == 0 ? TW_OK : TW_ENOMEM;
}

void tws_ingest_pipelines_stop(tws_server *s) {
    if (s->pipeline_timer) event_free(s->pipeline_timer);
    s->pipeline_timer = NULL;
    tws_pipeline_rt_free(s->pipes); /* held batches stay in the WAL: a restart replays them */
    s->pipes = NULL;
    tws_wal_reader_close(s->wal_reader);
    s->wal_reader = NULL;
    tw__buf_free(&s->reload_buf);
    forwarders_stop(s); /* what is queued stays on disk */
}

/* ---- sections ---------------------------------------------------------------------------- */

void tws_sections_free(tws_sections *sc) {
    if (!sc) return;
    for (uint32_t i = 0; i < sc->n; i++) tws_batch_free(&sc->batch[i]);
    tw__free(sc);
}

static bool receives(const tws_pipe_def *pd, int signal, int proto) {
    if (pd->signal != (signal == TWS_SIG_LOGS ? TWS_PIPE_LOGS : TWS_PIPE_TRACES)) return false;
    return proto == TWS_PROTO_LOKI_JSON || proto == TWS_PROTO_LOKI_PROTOBUF ? pd->from_loki : pd->from_otlp;
}

static int put_u32(tw__buf *b, uint32_t v) {
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return tw__buf_append(b, le, 4);
}

int tws_ingest_sections(tws_server *s, int signal, int proto, const char *tenant, tws_batch *batch, tw__buf *out,
                        tws_sections **sections) {
    const tws_pipelines *p = s->cfg.pipelines;
    uint32_t entry[TWS_MAX_SECTIONS], n = 0;
    for (uint32_t i = 0; i < p->n_pipes && n < TWS_MAX_SECTIONS; i++)
        if (receives(&p->pipes[i], signal, proto)) entry[n++] = i;
    if (!n) return TW_ENOTFOUND;
    tws_sections *sc = tw__calloc(1, sizeof *sc);
    if (!sc) return TW_ENOMEM;
    int rc = TW_OK;
    for (uint32_t k = 0; k < n && rc == TW_OK; k++) {
        sc->pipe[k] = entry[k];
        if (k + 1 < n) {
            rc = tws_batch_clone(batch, &sc->batch[k]);
        } else {
            sc->batch[k] = *batch;
            tws_batch_init(batch);
        }
        if (rc == TW_OK) {
            sc->n = k + 1;
            rc = tws_pipeline_prefix(s->pipes, entry[k], &sc->batch[k]);
        }
    }
    size_t tl = strlen(tenant);
    uint8_t hdr[3] = {WAL_V2, (uint8_t)tl, (uint8_t)n};
    if (rc == TW_OK) rc = tw__buf_append(out, hdr, 2);
    if (rc == TW_OK) rc = tw__buf_append(out, tenant, tl);
    if (rc == TW_OK) rc = tw__buf_append(out, hdr + 2, 1);
    for (uint32_t k = 0; k < n && rc == TW_OK; k++) {
        const tws_batch *b = &sc->batch[k];
        const char *id = p->pipes[entry[k]].id;
        uint8_t nl = (uint8_t)strlen(id);
        uint8_t flags = b->n_resources && b->resources[0].labels_verbatim ? SECT_VERBATIM : 0;
        rc = tw__buf_append(out, &nl, 1);
        if (rc == TW_OK) rc = tw__buf_append(out, id, nl);
        if (rc == TW_OK) rc = tw__buf_append(out, &flags, 1);
        size_t at = out->len;
        if (rc == TW_OK) rc = put_u32(out, 0);
        if (rc == TW_OK)
            rc = signal == TWS_SIG_LOGS ? tws_otlp_encode_logs_pb(b, 1, out)
                                        : tws_otlp_encode_pb(&(tws_selection){b, NULL, 0}, 1, 1, out);
        if (rc == TW_OK) {
            uint32_t L = (uint32_t)(out->len - at - 4);
            uint8_t le[4] = {(uint8_t)L, (uint8_t)(L >> 8), (uint8_t)(L >> 16), (uint8_t)(L >> 24)};
            memcpy(out->data + at, le, 4);
        }
    }
    if (rc == TW_OK && out->len > TWS_WAL_MAX_RECORD) rc = TW_ERANGE;
    if (rc != TW_OK) {
        tws_sections_free(sc);
        return rc; /* TW_ERANGE: over the buffer's cap, the record limit */
    }
    *sections = sc;
    return TW_OK;
}

void tws_ingest_sections_run(tws_server *s, tws_sections *sc, const char *tenant, uint64_t bytes, uint64_t lsn) {
    tws_ts_batch_info info = {.bytes = bytes, .lsn = lsn};
    snprintf(info.tenant, sizeof info.tenant, "%s", tenant);
    uint64_t now = tw__mono_ms();
    for (uint32_t k = 0; k < sc->n; k++) {
        uint64_t mem = tws_batch_mem(&sc->batch[k]); /* what tail sampling holding it costs */
        info.bytes = mem > bytes ? mem : bytes;
        info.wal_section = k + 1; /* the record's sections are these batches, in this order */
        tws_pipeline_run(s->pipes, sc->pipe[k], s->cfg.pipelines->pipes[sc->pipe[k]].n_prefix, &sc->batch[k], &info, now);
    }
    sc->n = 0;
}

/* ---- reading version-2 records ----------------------------------------------------------- */

bool tws_ingest_is_v2(const uint8_t *p, size_t len) { return len > 0 && p[0] == WAL_V2; }

typedef struct v2_section {
    const char *id; /* the pipeline id, id_len bytes */
    size_t id_len;
    uint8_t flags;
    const uint8_t *data;
    uint32_t len;
} v2_section;

/* The tenant and section count of record p; *off: where the sections start. */
static int v2_head(const uint8_t *p, size_t len, char tenant[256], uint32_t *n, size_t *off, char *err, size_t err_len) {
    if (len < 3 || (size_t)p[1] + 3 > len) {
        snprintf(err, err_len, "a pipeline record has a bad tenant length");
        return TW_EPARSE;
    }
    memcpy(tenant, p + 2, p[1]);
    tenant[p[1]] = '\0';
    *off = 3 + (size_t)p[1];
    *n = p[2 + p[1]];
    return TW_OK;
}

/* Section k, at *off, which moves past it. */
static int v2_next(const uint8_t *p, size_t len, size_t *off, uint32_t k, v2_section *sc, char *err, size_t err_len) {
    size_t o = *off;
    if (o + 1 > len || o + 1 + p[o] + 5 > len) {
        snprintf(err, err_len, "pipeline record section %u is cut short", k);
        return TW_EPARSE;
    }
    sc->id = (const char *)p + o + 1;
    sc->id_len = p[o];
    sc->flags = p[o + 1 + sc->id_len];
    const uint8_t *lp = p + o + 2 + sc->id_len;
    sc->len = (uint32_t)lp[0] | (uint32_t)lp[1] << 8 | (uint32_t)lp[2] << 16 | (uint32_t)lp[3] << 24;
    o += 6 + sc->id_len;
    if (sc->len > len - o) {
        snprintf(err, err_len, "pipeline record section %u is cut short", k);
        return TW_EPARSE;
    }
    sc->data = p + o;
    *off = o + sc->len;
    return TW_OK;
}

/* The batch of section k (b initialised). */
static int v2_decode(int signal, const v2_section *sc, uint32_t k, tws_batch *b, char *err, size_t err_len) {
    tws_decode_options dopt = {0};
    tws_decode_error derr = {{0}};
    int rc = signal == TWS_SIG_LOGS ? tws_otlp_decode_logs_pb(sc->data, sc->len, &dopt, b, &derr)
                                    : tws_otlp_decode_pb(sc->data, sc->len, &dopt, b, &derr);
    if (rc != TW_OK) {
        snprintf(err, err_len, "pipeline record section %u: %s", k, rc == TW_EPARSE ? derr.msg : tw_strerror(rc));
        return rc;
    }
    if (sc->flags & SECT_VERBATIM)
        for (uint32_t i = 0; i < b->n_resources; i++) b->resources[i].labels_verbatim = true;
    return TW_OK;
}

/* Tail sampling's read-back of a held batch: section wal_section - 1 of the
 * traces WAL record at info->lsn. A failure is reported here, and the
 * record pinned so the batch comes back after a restart. */
static int reload_sink(void *user, const tws_ts_batch_info *info, tws_batch *out) {
    tws_server *s = user;
    char err[256] = "", tenant[256];
    uint8_t type = 0;
    uint32_t n = 0, want = info->wal_section - 1;
    size_t off = 0;
    int rc = tws_wal_reader_read(s->wal_reader, info->lsn, &type, &s->reload_buf, err);
    const uint8_t *p = s->reload_buf.data;
    size_t len = s->reload_buf.len;
    if (rc == TW_OK && (type != TWS_WAL_TRACES || !tws_ingest_is_v2(p, len))) {
        snprintf(err, sizeof err, "the record is not a traces pipeline record (type %u)", type);
        rc = TW_EPARSE;
    }
    if (rc == TW_OK) rc = v2_head(p, len, tenant, &n, &off, err, sizeof err);
    if (rc == TW_OK && want >= n) {
        snprintf(err, sizeof err, "the record has %u sections, not %u", n, want + 1);
        rc = TW_EPARSE;
    }
    v2_section sc = {0};
    for (uint32_t k = 0; rc == TW_OK && k <= want; k++) rc = v2_next(p, len, &off, k, &sc, err, sizeof err);
    if (rc == TW_OK) rc = v2_decode(TWS_SIG_TRACES, &sc, want, out, err, sizeof err);
    if (s->reload_buf.cap > (4u << 20)) { /* keep a usual record's room, not a rare huge one's */
        tw__buf_free(&s->reload_buf);
        tw__buf_init(&s->reload_buf, 0);
    }
    if (rc != TW_OK) {
        fprintf(stderr, "tracewire: tail sampling could not read back its batch (WAL record %llu, section %u): %s; "
                        "the record stays in the write-ahead log and is replayed at the next start\n",
                (unsigned long long)info->lsn, info->wal_section, err[0] ? err : tw_strerror(rc));
        if (info->lsn < s->pin_lsn) s->pin_lsn = info->lsn;
    }
    return rc;
}

/* ---- replay ------------------------------------------------------------------------------ */

int tws_ingest_replay_v2(tws_server *s, int signal, const uint8_t *p, size_t len, uint64_t lsn, char *err,
                         size_t err_len) {
    char tenant[256];
    uint32_t n;
    size_t off;
    int rc = v2_head(p, len, tenant, &n, &off, err, err_len);
    if (rc != TW_OK) return rc;
    for (uint32_t k = 0; k < n; k++) {
        v2_section sc;
        if ((rc = v2_next(p, len, &off, k, &sc, err, err_len)) != TW_OK) return rc;
        tws_batch b;
        tws_batch_init(&b);
        if ((rc = v2_decode(signal, &sc, k, &b, err, err_len)) != TW_OK) {
            tws_batch_free(&b);
            return rc;
        }
        const char *id = sc.id;
        size_t nl = sc.id_len;
        uint32_t L = sc.len;
        uint64_t bytes = signal == TWS_SIG_LOGS ? tws_logs_batch_bytes(&b, L)
                                                : (uint64_t)L * 3 + (uint64_t)b.n_spans * sizeof(tws_span) + 4096;
        uint64_t mem = tws_batch_mem(&b);
        tws_ts_batch_info info = {.bytes = mem > bytes ? mem : bytes, .lsn = lsn, .wal_section = k + 1};
        if (strlen(tenant) >= sizeof info.tenant) {
            snprintf(err, err_len, "a pipeline record has a tenant id longer than 150 characters");
            tws_batch_free(&b);
            return TW_EPARSE;
        }
        memcpy(info.tenant, tenant, strlen(tenant) + 1);
        int pipe = s->pipes ? tws_pipeline_find(s->cfg.pipelines, id, nl) : -1;
        if (pipe < 0) {
            if (!s->warned_missing_pipeline)
                fprintf(stderr, "tracewire: the write-ahead log names pipeline '%.*s', which the configuration does "
                                "not have: its records go straight to the store\n", (int)nl, id);
            s->warned_missing_pipeline = true;
            store_sink(s, signal == TWS_SIG_LOGS ? TWS_PIPE_LOGS : TWS_PIPE_TRACES, &b, &info);
        } else {
            tws_pipeline_run(s->pipes, (uint32_t)pipe, s->cfg.pipelines->pipes[pipe].n_prefix, &b, &info, tw__mono_ms());
        }
        tws_batch_free(&b);
    }
    return TW_OK;
}
