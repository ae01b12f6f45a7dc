/*
 * server.c — `tracewire serve`: open the data directory, replay the WAL
 * into the head (with progress), listen for OTLP/HTTP, OTLP/gRPC and the
 * query API, and on SIGTERM/SIGINT stop accepting, let in-flight writes
 * finish, sync and exit 0.
 */
#include <errno.h>
#include <malloc.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objstore/s3.h"
#include "serve/server.h"
#include "serve/scrape_check.h"
#include "serve/http1.h"
#include "serve/server_int.h"

int tws_mkdir_p(const char *path) {
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- WAL replay ------------------------------------------------------------------- */

typedef struct replay_ctx {
    tws_server *s;
    uint64_t records, bad, skipped;
    int last_pct;
} replay_ctx;

static int on_record(void *user, uint8_t type, const uint8_t *p, size_t len, uint64_t lsn) {
    replay_ctx *c = user;
    c->records++;
    if (type != TWS_WAL_TRACES) return TW_OK; /* written by a newer version: skip */
    if (lsn < c->s->checkpoint_lsn) { /* already in a block */
        c->skipped++;
        return TW_OK;
    }
    char err[256];
    if (tws_ingest_replay(c->s, p, len, lsn, err, sizeof err) != TW_OK) {
        c->bad++;
        fprintf(stderr, "tracewire: WAL record at %llu skipped: %s\n", (unsigned long long)lsn, err);
    }
    return TW_OK;
}

/* The logs WAL: records not yet in log blocks go to the log head. */
static int on_log_record(void *user, uint8_t type, const uint8_t *p, size_t len, uint64_t lsn) {
    replay_ctx *c = user;
    c->records++;
    if (type != TWS_WAL_LOGS) return TW_OK; /* written by a newer version: skip */
    if (lsn < c->s->log_checkpoint_lsn) { /* already in a log block */
        c->skipped++;
        return TW_OK;
    }
    char err[256];
    int rc = tws_ingest_replay_logs(c->s, p, len, lsn, err, sizeof err);
    if (rc == TW_EFULL) { /* it fits nowhere: refuse to start rather than drop acknowledged logs */
        fprintf(stderr, "tracewire: %s\n", err);
        return rc;
    }
    if (rc != TW_OK) {
        c->bad++;
        fprintf(stderr, "tracewire: logs WAL record at %llu skipped: %s\n", (unsigned long long)lsn, err);
    }
    return TW_OK;
}

static void on_warn(void *user, const char *msg) { fprintf(stderr, "tracewire: write-ahead log: %s\n", msg); }

static void store_log(const char *msg) { fprintf(stderr, "tracewire: blocks: %s\n", msg); }

/* One server per data directory: the store deletes unfinished blocks at
 * open, which is only right when no other process is writing them. */
static int lock_data_dir(const char *dir) {
    char path[600];
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "tracewire: cannot lock %s: %s (is another tracewire serve using this data directory?)\n",
                path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd; /* held until the process exits */
}

static void log_store_log(const char *msg) { fprintf(stderr, "tracewire: log blocks: %s\n", msg); }

/* The trace store in <data>/blocks (checkpoint in <data>/state), or the
 * log store in <data>/log-blocks (checkpoint in <data>/state-logs); with
 * storage.backend s3 the blocks are in the bucket under <prefix>blocks/ and
 * <prefix>log-blocks/, the checkpoints stay local. */
static int open_store(tws_server *s, bool logs) {
    const tws_config *c = &s->cfg;
    const char *sub = logs ? "log-blocks" : "blocks";
    char dir[600], state[600], err[256] = "";
    snprintf(state, sizeof state, "%s/%s", c->data_dir, logs ? "state-logs" : "state");
    tws_objstore *obj;
    tws_objstore_err oe = {{0}};
    int rc;
    if (!strcmp(c->storage_backend, "s3")) {
        snprintf(dir, sizeof dir, "%s%s/", c->s3.prefix, sub);
        tws_s3_options so = {.endpoint = c->s3.endpoint, .bucket = c->s3.bucket, .region = c->s3.region,
                             .prefix = dir, .access_key = c->s3.access_key[0] ? c->s3.access_key : NULL,
                             .secret_key = c->s3.secret_key[0] ? c->s3.secret_key : NULL,
                             .list_page_size = c->s3.list_page_size};
        rc = tws_objstore_s3_open(&so, &obj, &oe);
        if (rc) {
            fprintf(stderr, "tracewire: cannot use the S3 bucket %s at %s (prefix %s): %s\n", c->s3.bucket,
                    c->s3.endpoint, dir, oe.msg[0] ? oe.msg : tw_strerror(rc));
            return rc;
        }
    } else {
        snprintf(dir, sizeof dir, "%s/%s", c->data_dir, sub);
        rc = tws_objstore_local_open(dir, &obj, &oe);
        if (rc) {
            fprintf(stderr, "tracewire: cannot open the block directory %s: %s\n", dir, oe.msg[0] ? oe.msg : tw_strerror(rc));
            return rc;
        }
    }
    tws_store_options so = {.retention_s = c->retention_s, .maintenance_ms = c->compaction_interval_s * 1000,
                            .compact_window_s = c->compaction_window_s, .block_max_spans = c->block_max_spans,
                            .no_maintenance = !c->compactor};
    if (!strcmp(c->storage_backend, "s3")) so.poll_ms = c->s3.poll_interval_s * 1000;
    if (logs) {
        so.logs = true;
        if (c->log_retention_s) so.retention_s = c->log_retention_s;
        so.block_max_spans = c->log_block_max_records;
        so.compact_zstd_level = 3; /* log lines compress well at 3; 9 costs the ingest a core (bench/RESULTS.md) */
    }
    rc = tws_store_open(obj, state, &so, logs ? log_store_log : store_log, logs ? &s->log_store : &s->store,
                        logs ? &s->log_checkpoint_lsn : &s->checkpoint_lsn, err);
    if (rc) fprintf(stderr, "tracewire: cannot open the %s store: %s\n", logs ? "log block" : "block",
                    err[0] ? err : tw_strerror(rc));
    return rc;
}

static void on_progress(void *user, uint64_t done, uint64_t total) {
    replay_ctx *c = user;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (pct / 10 == c->last_pct / 10 && pct != 100) return;
    c->last_pct = pct;
    fprintf(stderr, "tracewire: replaying the write-ahead log: %d%% (%llu of %llu bytes)\n", pct,
            (unsigned long long)done, (unsigned long long)total);
}

/* ---- listeners -------------------------------------------------------------------- */

static void cannot_listen(const char *what, const char *addr) {
    fprintf(stderr, "tracewire: cannot listen for %s on %s: %s (is another server running? choose "
                    "another address with the flag)\n", what, addr, strerror(errno));
}

static bool split_addr(const char *addr, const char *what, char *host, size_t host_len, uint16_t *port) {
    if (tws_split_hostport(addr, host, host_len, port) == 0) return true;
    fprintf(stderr, "tracewire: %s address \"%s\" is not HOST:PORT\n", what, addr);
    return false;
}

/* The OTLP/HTTP port: http1.c, not evhttp (see http1.h for why). */
static int listen_otlp_http(tws_server *s, const char *addr) {
    char host[128];
    uint16_t port;
    if (!split_addr(addr, "OTLP/HTTP", host, sizeof host, &port)) return -1;
    if ((s->otlp_http = tws_ingest_http_listen(s, host, port))) return 0;
    cannot_listen("OTLP/HTTP", addr);
    return -1;
}

static struct evhttp *listen_http(tws_server *s, const char *addr, const char *what) {
    char host[128];
    uint16_t port;
    if (!split_addr(addr, what, host, sizeof host, &port)) return NULL;
    struct evhttp *h = evhttp_new(s->base);
    if (!h) return NULL;
    evhttp_set_max_body_size(h, (ev_ssize_t)s->cfg.max_request_bytes);
    evhttp_set_timeout(h, 30); /* slow clients are cut off, not waited for */
    evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                      EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
    if (!evhttp_bind_socket_with_handle(h, host, port)) {
        cannot_listen(what, addr);
        evhttp_free(h);
        return NULL;
    }
    return h;
}

/* ---- RED metrics pushed by remote_write ---------------------------------------------------- */

static void push_metrics(evutil_socket_t fd, short what, void *arg) {
    tws_server *s = arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tw__buf b;
    tw__buf_init(&b, 64u << 20);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    tws_spanmetrics_encode_remote_write(s->spanmetrics, now, &b);
    if (s->servicegraph) tws_servicegraph_encode_remote_write(s->servicegraph, now, &b);
    if (!b.failed && b.len && tws_remote_write_push(s->remote_write, b.data, b.len) == TW_EFULL)
        fprintf(stderr, "tracewire: remote_write queue full: a push of RED metrics was dropped\n");
    tw__buf_free(&b);
}

static int start_remote_write(tws_server *s) {
    if (!(s->cfg.red_export & TWS_RED_PUSH) || !s->spanmetrics) return TW_OK;
    tws_remote_write_options o;
    memset(&o, 0, sizeof o);
    snprintf(o.url, sizeof o.url, "%s", s->cfg.remote_write_url);
    if (tws_remote_write_new(&o, &s->remote_write) != TW_OK) return TW_ENOMEM;
    s->remote_write_timer = event_new(s->base, -1, EV_PERSIST, push_metrics, s);
    struct timeval tv = {(time_t)s->cfg.remote_write_interval_s, 0};
    return s->remote_write_timer && event_add(s->remote_write_timer, &tv) == 0 ? TW_OK : TW_ENOMEM;
}

/* ---- the service graph's expiry ------------------------------------------------------------- */

static void expire_graph(evutil_socket_t fd, short what, void *arg) {
    tws_server *s = arg;
    tws_servicegraph_expire(s->servicegraph, tw__mono_ms());
}

static int start_servicegraph(tws_server *s) {
    if (!s->cfg.service_graph_enabled) return TW_OK;
    tws_servicegraph_options o = {.wait_ms = s->cfg.service_graph_wait_s * 1000};
    if (tws_servicegraph_new(&o, &s->servicegraph) != TW_OK) return TW_ENOMEM;
    s->servicegraph_timer = event_new(s->base, -1, EV_PERSIST, expire_graph, s);
    struct timeval tv = {0, 250000};
    return s->servicegraph_timer && event_add(s->servicegraph_timer, &tv) == 0 ? TW_OK : TW_ENOMEM;
}

/* ---- shutdown --------------------------------------------------------------------- */

static void check_drained(evutil_socket_t fd, short what, void *arg) {
    tws_server *s = arg;
    static int waited;
    if (s->inflight == 0 || ++waited > 3000) /* at most ~30 s */
        event_base_loopexit(s->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    tws_server *s = arg;
    if (s->stopping) return;
    s->stopping = 1;
    fprintf(stderr, "tracewire: %s received: finishing %u in-flight write(s) and stopping\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", s->inflight);
    /* Stop accepting: new requests on open connections get 503 (ingest.c)
     * or UNAVAILABLE (grpc.c); no new gRPC connections. */
    tws_grpc_stop_accepting(s);
    s->drain_timer = event_new(s->base, -1, EV_PERSIST, check_drained, s);
    struct timeval tv = {0, 10000};
    if (s->drain_timer) event_add(s->drain_timer, &tv);
    else event_base_loopexit(s->base, NULL);
}

/* `export: both` sends the RED series to two places; if the Prometheus
 * they are pushed to is also scraping them from us, it would hold every
 * span's counts twice: refuse to start, and say what to change. When it
 * cannot be asked, start and say so. */
static int check_one_red_path(const tws_config *c) {
    if (c->red_export != (TWS_RED_SCRAPE | TWS_RED_PUSH)) return 0;
    char detail[400];
    int r = tws_prometheus_scrapes_us(c->remote_write_url, c->http_listen, 3000, detail, sizeof detail);
    if (r == 1) {
        fprintf(stderr,
                "tracewire serve: spanmetrics.export is both, but the Prometheus at %s also scrapes this "
                "server's /metrics (%s): it would count every span twice. Set spanmetrics.export to remote_write, "
                "or remove that scrape job and keep export: scrape\n",
                c->remote_write_url, detail);
        return -1;
    }
    if (r < 0)
        fprintf(stderr, "tracewire: spanmetrics.export is both and it could not be checked that %s does not also "
                        "scrape this server (%s); if it does, every RED number will be doubled there\n",
                c->remote_write_url, detail);
    return 0;
}

void tws_tune_allocator(void) {
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
}

int tws_serve(const tws_config *cfg) {
    signal(SIGPIPE, SIG_IGN);
    tws_tune_allocator();
    tws_server *s = tw__calloc(1, sizeof *s);
    if (!s) return 1;
    s->cfg = *cfg;
    int exit_code = 1, lock_fd = -1;
    char wal_dir[600], why[600] = "";
    if (tws_config_check(&s->cfg, why, sizeof why) != 0 || check_one_red_path(&s->cfg) != 0) {
        if (why[0]) fprintf(stderr, "tracewire serve: %s\n", why);
        goto out;
    }
    snprintf(wal_dir, sizeof wal_dir, "%s/wal", cfg->data_dir);
    if (tws_mkdir_p(wal_dir) != 0) {
        fprintf(stderr, "tracewire: cannot create the data directory %s: %s\n", wal_dir, strerror(errno));
        goto out;
    }
    if (evthread_use_pthreads() != 0 || !(s->base = event_base_new())) {
        fprintf(stderr, "tracewire: cannot start the event loop\n");
        goto out;
    }
    tws_head_options ho = {.max_bytes = cfg->head_max_bytes, .max_trace_bytes = cfg->max_trace_bytes};
    if (tws_head_new(&ho, &s->head) != TW_OK || tws_flush_start(s) != TW_OK ||
        (cfg->spanmetrics_enabled && tws_spanmetrics_new(&cfg->spanmetrics, &s->spanmetrics) != TW_OK) ||
        start_remote_write(s) != TW_OK ||
        start_servicegraph(s) != TW_OK || tws_ingest_pipelines_start(s) != TW_OK)
        goto out;
    for (uint32_t i = 0; i < cfg->n_log_index_attrs; i++) s->log_index[i] = s->cfg.log_index_attrs[i];
    s->log_index[cfg->n_log_index_attrs] = NULL;
    s->labels.index_attrs = cfg->n_log_index_attrs ? s->log_index : NULL; /* NULL: Loki's default list */
    if (tws_log_head_new(s, &s->logs) != TW_OK) goto out;
    /* Blocks first: the checkpoint says which WAL records they already hold. */
    if ((lock_fd = lock_data_dir(cfg->data_dir)) < 0 || open_store(s, false) != TW_OK || open_store(s, true) != TW_OK)
        goto out;

    s->replaying = true; /* until both WALs are read */
    replay_ctx rc = {.s = s, .last_pct = -10};
    tws_wal_replay replay = {.record = on_record, .progress = on_progress, .warn = on_warn, .user = &rc};
    tws_wal_options wo = {.segment_bytes = cfg->wal_segment_bytes, .max_pending = cfg->wal_max_pending,
                          .no_sync = cfg->wal_no_sync, .min_lsn = s->checkpoint_lsn,
                          .free_segments = cfg->wal_free_segments ? (int)TW_MIN(cfg->wal_free_segments, 1024u) : -1};
    char msg[256] = "";
    int r = tws_wal_open(wal_dir, &wo, &replay, &s->wal, msg);
    if (r != TW_OK) {
        fprintf(stderr, "tracewire: cannot open the write-ahead log in %s: %s\n", wal_dir, msg[0] ? msg : tw_strerror(r));
        goto out;
    }
    if (replay.torn_bytes_cut)
        fprintf(stderr, "tracewire: cut a torn WAL tail of %llu bytes (a write interrupted by a crash; it was never acknowledged)\n",
                (unsigned long long)replay.torn_bytes_cut);
    {
        tws_wal_stats ws;
        tws_wal_get_stats(s->wal, &ws);
        if (ws.next_lsn < s->checkpoint_lsn)
            fprintf(stderr, "tracewire: the checkpoint (%llu) is past the end of the write-ahead log (%llu): the "
                            "log was replaced; records below the checkpoint were not replayed\n",
                    (unsigned long long)s->checkpoint_lsn, (unsigned long long)ws.next_lsn);
    }
    if (rc.skipped)
        fprintf(stderr, "tracewire: %llu WAL record(s) already in blocks were not replayed\n",
                (unsigned long long)rc.skipped);
    tws_head_stats hs;
    tws_head_get_stats(s->head, &hs);
    {
        char log_dir[620];
        snprintf(log_dir, sizeof log_dir, "%s/wal-logs", cfg->data_dir);
        replay_ctx lc = {.s = s, .last_pct = -10};
        tws_wal_replay lrp = {.record = on_log_record, .progress = on_progress, .warn = on_warn, .user = &lc};
        tws_wal_options lwo = {.segment_bytes = cfg->wal_segment_bytes, .max_pending = cfg->wal_max_pending,
                               .no_sync = cfg->wal_no_sync, .min_lsn = s->log_checkpoint_lsn,
                               .free_segments = wo.free_segments};
        msg[0] = '\0';
        r = tws_wal_open(log_dir, &lwo, &lrp, &s->log_wal, msg);
        if (r != TW_OK) {
            fprintf(stderr, "tracewire: cannot open the logs write-ahead log in %s: %s\n", log_dir,
                    msg[0] ? msg : tw_strerror(r));
            goto out;
        }
        tws_loghead_stats ls;
        tws_loghead_get_stats(s->logs, &ls);
        if (ls.records || lrp.torn_bytes_cut || lc.skipped)
            fprintf(stderr, "tracewire: %llu log records recovered from %llu logs WAL records (%llu already in log "
                            "blocks)%s\n",
                    (unsigned long long)ls.records, (unsigned long long)lrp.records, (unsigned long long)lc.skipped,
                    lrp.torn_bytes_cut ? " (a torn tail, never acknowledged, was cut)" : "");
    }

    s->replaying = false;
    if ((cfg->otlp_http_listen[0] && listen_otlp_http(s, cfg->otlp_http_listen) != 0) ||
        !(s->api_http = listen_http(s, cfg->http_listen, "the query API")) || tws_grpc_listen(s) != TW_OK)
        goto out;
    tws_query_register(s);
    s->sig_term = evsignal_new(s->base, SIGTERM, on_signal, s);
    s->sig_int = evsignal_new(s->base, SIGINT, on_signal, s);
    if (!s->sig_term || !s->sig_int || event_add(s->sig_term, NULL) || event_add(s->sig_int, NULL)) goto out;

    fprintf(stderr,
            "tracewire serve %s: OTLP/HTTP on http://%s/v1/traces and /v1/logs, OTLP/gRPC on %s, Tempo and Loki APIs on http://%s, "
            "data in %s (%llu spans of %llu traces recovered from %llu WAL records)\n",
            TW_VERSION_STRING, cfg->otlp_http_listen[0] ? cfg->otlp_http_listen : "(off)",
            cfg->otlp_grpc_listen[0] ? cfg->otlp_grpc_listen : "(off)", cfg->http_listen, cfg->data_dir, (unsigned long long)hs.spans,
            (unsigned long long)hs.traces, (unsigned long long)replay.records);
    event_base_dispatch(s->base);
    exit_code = 0;
out:
    if (s->wal) tws_wal_close(s->wal); /* drains and syncs what is queued */
    if (s->log_wal) tws_wal_close(s->log_wal);
    tws_store_close(s->store); /* an unfinished flush is abandoned: its records stay in the WAL */
    tws_store_close(s->log_store);
    tws_head_free(s->frozen);
    tws_loghead_free(s->log_frozen);
    if (s->log_flush_done_ev) event_free(s->log_flush_done_ev);
    if (s->flush_done_ev) event_free(s->flush_done_ev);
    if (s->flush_timer) event_free(s->flush_timer);
    if (s->sig_term) event_free(s->sig_term);
    if (s->sig_int) event_free(s->sig_int);
    if (s->drain_timer) event_free(s->drain_timer);
    tws_grpc_free(s);
    tws_h1_free(s->otlp_http);
    if (s->api_http) evhttp_free(s->api_http);
    tws_ingest_pipelines_stop(s); /* before the head its store sink feeds */
    tws_head_free(s->head);
    tws_loghead_free(s->logs);
    if (s->remote_write_timer) event_free(s->remote_write_timer);
    if (s->remote_write && s->spanmetrics) push_metrics(-1, 0, s); /* the last counts, then drain */
    tws_remote_write_free(s->remote_write);
    tws_spanmetrics_free(s->spanmetrics);
    if (s->servicegraph_timer) event_free(s->servicegraph_timer);
    tws_servicegraph_free(s->servicegraph);
    if (s->base) event_base_free(s->base);
    tw__free(s);
    if (lock_fd >= 0) close(lock_fd);
    if (exit_code == 0) fprintf(stderr, "tracewire: stopped\n");
    return exit_code;
}
