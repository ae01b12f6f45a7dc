/*
 * config.c — defaults and flags of `tracewire serve`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objstore/s3.h"
#include "pipeline/pconfig.h"
#include "serve/config.h"

const char tws_serve_usage[] =
    "usage: tracewire serve [flags]\n"
    "\n"
    "Receive OTLP, store traces durably, answer Tempo's HTTP API.\n"
    "\n"
    "  --data-dir DIR               where the WAL and blocks live (./tracewire-data)\n"
    "  --otlp-http-listen HOST:PORT OTLP/HTTP receiver (127.0.0.1:4318)\n"
    "  --otlp-grpc-listen HOST:PORT OTLP/gRPC receiver (127.0.0.1:4317)\n"
    "  --http-listen HOST:PORT      query API, /metrics, /ready (127.0.0.1:3200)\n"
    "  --max-request-bytes N        request body limit, 413 above (16777216)\n"
    "  --max-trace-bytes N          per-trace limit, excess spans refused (5000000)\n"
    "  --max-attr-value-len N       attribute values truncated beyond (2048)\n"
    "  --head-max-bytes N           memory for spans not yet in blocks; 429 above (1073741824)\n"
    "  --retention DURATION         delete blocks whose newest span is older (14d)\n"
    "  --config FILE                YAML file with any of these settings and Collector-shaped\n"
    "                               pipelines (receivers, processors, exporters, connectors,\n"
    "                               service); flags override it\n"
    "  --check                      validate the configuration, print what it sets up, and exit\n"
    "  --help                       this text\n";

void tws_config_defaults(tws_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->data_dir, sizeof c->data_dir, "./tracewire-data");
    snprintf(c->storage_backend, sizeof c->storage_backend, "local");
    snprintf(c->otlp_http_listen, sizeof c->otlp_http_listen, "127.0.0.1:4318");
    snprintf(c->otlp_grpc_listen, sizeof c->otlp_grpc_listen, "127.0.0.1:4317");
    snprintf(c->http_listen, sizeof c->http_listen, "127.0.0.1:3200");
    c->max_request_bytes = 16u << 20;
    c->max_decompressed_bytes = 64u << 20;
    c->max_attr_value_len = 2048;
    c->max_trace_bytes = 5000000;
    c->head_max_bytes = 1ull << 30;
    c->wal_segment_bytes = 64u << 20;
    c->wal_max_pending = 64u << 20;
    c->wal_free_segments = 4;
    snprintf(c->default_tenant, sizeof c->default_tenant, "single-tenant");
    c->head_flush_interval_s = 60;
    c->retention_s = 14 * 24 * 3600;
    c->compaction_interval_s = 30;
    c->compactor = true;
    c->s3.poll_interval_s = 30;
    c->compaction_window_s = 3600;
    c->block_max_spans = 5000000;
    c->remote_write_interval_s = 15;
    c->service_graph_wait_s = 10;
    c->spanmetrics_enabled = c->service_graph_enabled = true;
    c->log_head_max_bytes = 256u << 20;
    c->log_block_max_records = 1000000;
    c->logs_start_shift_s = c->logs_end_shift_s = 300;
}

void tws_config_free(tws_config *c) {
    tws_pipelines_free(c->pipelines);
    c->pipelines = NULL;
}

int tws_split_hostport(const char *s, char *host, size_t host_len, uint16_t *port) {
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return -1;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (*h == '[') { /* [v6]:port */
        if (hl < 2 || h[hl - 1] != ']') return -1;
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= host_len) return -1;
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p > 65535) return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return 0;
}

static int set_duration(const char *flag, const char *v, uint64_t *out, char *err, size_t n) {
    uint64_t d;
    if (tws_parse_duration_s(v, &d) != 0 || d == 0) {
        snprintf(err, n, "%s: \"%.80s\" is not a duration (e.g. 60s, 90m, 336h, 14d)", flag, v);
        return -1;
    }
    *out = d;
    return 0;
}

static int set_uint(const char *flag, const char *v, uint64_t *out, char *err, size_t n) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || end == v || *v == '-') {
        snprintf(err, n, "%s: \"%s\" is not a non-negative integer", flag, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int set_addr(const char *flag, const char *v, char *dst, size_t dst_len, char *err, size_t n) {
    char host[128];
    uint16_t port;
    if (tws_split_hostport(v, host, sizeof host, &port) != 0) {
        snprintf(err, n, "%s: \"%s\" is not HOST:PORT (e.g. 127.0.0.1:4318 or [::1]:4318)", flag, v);
        return -1;
    }
    snprintf(dst, dst_len, "%s", v);
    return 0;
}

int tws_config_parse_args(tws_config *c, int argc, char **argv, char *err, size_t n) {
    /* The file first, so that flags win whatever their order. */
    for (int i = 1; i < argc; i++) {
        const char *file = NULL;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0) file = argv[i] + 9;
        if (file && tws_config_load_file(c, file, err, n) != 0) return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(tws_serve_usage, stdout);
            return 1;
        }
        if (strcmp(a, "--check") == 0) {
            c->check_only = true;
            continue;
        }
        /* Every other flag takes a value: --flag VALUE or --flag=VALUE. */
        const char *eq = strchr(a, '=');
        char name[64];
        const char *v;
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, n, "unexpected argument \"%s\" (see tracewire serve --help)", a);
            return -1;
        }
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            v = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (i + 1 >= argc) {
                snprintf(err, n, "%s needs a value", a);
                return -1;
            }
            v = argv[++i];
        }
        uint64_t x;
        if (strcmp(name, "--data-dir") == 0) {
            if (!*v || strlen(v) >= sizeof c->data_dir) {
                snprintf(err, n, "--data-dir: the path is empty or too long");
                return -1;
            }
            snprintf(c->data_dir, sizeof c->data_dir, "%s", v);
        } else if (strcmp(name, "--otlp-http-listen") == 0) {
            if (set_addr(name, v, c->otlp_http_listen, sizeof c->otlp_http_listen, err, n)) return -1;
        } else if (strcmp(name, "--otlp-grpc-listen") == 0) {
            if (set_addr(name, v, c->otlp_grpc_listen, sizeof c->otlp_grpc_listen, err, n)) return -1;
        } else if (strcmp(name, "--http-listen") == 0) {
            if (set_addr(name, v, c->http_listen, sizeof c->http_listen, err, n)) return -1;
        } else if (strcmp(name, "--max-request-bytes") == 0) {
            if (set_uint(name, v, &c->max_request_bytes, err, n)) return -1;
        } else if (strcmp(name, "--max-trace-bytes") == 0) {
            if (set_uint(name, v, &c->max_trace_bytes, err, n)) return -1;
        } else if (strcmp(name, "--head-max-bytes") == 0) {
            if (set_uint(name, v, &c->head_max_bytes, err, n)) return -1;
        } else if (strcmp(name, "--max-attr-value-len") == 0) {
            if (set_uint(name, v, &x, err, n)) return -1;
            c->max_attr_value_len = x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
        } else if (strcmp(name, "--retention") == 0) {
            if (set_duration(name, v, &c->retention_s, err, n)) return -1;
        } else if (strcmp(name, "--head-flush-interval") == 0) { /* tests; in the YAML as head.flush_interval */
            if (set_duration(name, v, &c->head_flush_interval_s, err, n)) return -1;
        } else if (strcmp(name, "--wal-no-sync") == 0) { /* benchmarks only; undocumented */
            c->wal_no_sync = strcmp(v, "true") == 0;
        } else if (strcmp(name, "--config") == 0) {
            /* loaded above */
        } else {
            snprintf(err, n, "unknown flag %s (see tracewire serve --help)", name);
            return -1;
        }
    }
    return tws_config_check(c, err, n);
}

int tws_config_check(tws_config *c, char *err, size_t n) {
    if (strcmp(c->storage_backend, "local") != 0 && strcmp(c->storage_backend, "s3") != 0) {
        snprintf(err, n, "storage.backend: \"%s\" is not local or s3", c->storage_backend);
        return -1;
    }
    if (!strcmp(c->storage_backend, "s3") && (!c->s3.endpoint[0] || !c->s3.bucket[0])) {
        snprintf(err, n, "storage.backend is s3 but storage.s3.%s is not set", c->s3.endpoint[0] ? "bucket" : "endpoint");
        return -1;
    }
    if (!strcmp(c->storage_backend, "local") && (c->s3.endpoint[0] || c->s3.bucket[0])) {
        snprintf(err, n, "storage.s3 is set but storage.backend is local: say backend: s3 to use the bucket");
        return -1;
    }
    if (!tws_s3_prefix_valid(c->s3.prefix)) {
        snprintf(err, n, "storage.s3.prefix \"%s\": must end in '/' and be a valid key path (no empty segment, "
                 "\".\" or \"..\")", c->s3.prefix);
        return -1;
    }
    if (c->pipelines) { /* the connectors say where RED metrics are derived */
        c->spanmetrics_enabled = c->pipelines->spanmetrics;
        c->service_graph_enabled = c->pipelines->servicegraph;
    }
    const char *e = c->spanmetrics_export;
    bool url = c->remote_write_url[0] != '\0';
    if (!*e) c->red_export = url ? TWS_RED_PUSH : TWS_RED_SCRAPE; /* one path unless told otherwise */
    else if (!strcmp(e, "scrape")) c->red_export = TWS_RED_SCRAPE;
    else if (!strcmp(e, "remote_write")) c->red_export = TWS_RED_PUSH;
    else if (!strcmp(e, "both")) c->red_export = TWS_RED_SCRAPE | TWS_RED_PUSH;
    else {
        snprintf(err, n, "spanmetrics.export: \"%s\" is not scrape, remote_write or both", e);
        return -1;
    }
    if ((c->red_export & TWS_RED_PUSH) && !url) {
        snprintf(err, n, "spanmetrics.export is %s but spanmetrics.remote_write_url is not set: "
                         "there is nowhere to push the RED metrics", e);
        return -1;
    }
    if (url && !(c->red_export & TWS_RED_PUSH)) {
        snprintf(err, n, "spanmetrics.remote_write_url is set but spanmetrics.export is scrape: "
                         "the metrics would not be pushed; say remote_write (or both, for two different Prometheus servers)");
        return -1;
    }
    if (url && !c->spanmetrics_enabled) {
        snprintf(err, n, "spanmetrics.remote_write_url is set but spanmetrics.enabled is false: there is nothing to push");
        return -1;
    }
    if (url && strncmp(c->remote_write_url, "http://", 7) != 0 && strncmp(c->remote_write_url, "https://", 8) != 0) {
        snprintf(err, n, "spanmetrics.remote_write_url: \"%.200s\" is not an http:// or https:// URL", c->remote_write_url);
        return -1;
    }
    return 0;
}
