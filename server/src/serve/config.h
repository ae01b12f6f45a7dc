/*
 * config.h — every setting of `tracewire serve`, its default, and the
 * command-line flags that override it.
 *
 * Defaults make `tracewire serve` work with no configuration: OTLP/HTTP on
 * 127.0.0.1:4318, the query API on 127.0.0.1:3200, data in ./tracewire-data.
 */
#ifndef TWS_CONFIG_H
#define TWS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "red/spanmetrics.h"

#define TWS_MAX_INDEX_LABELS 32

typedef struct tws_config {
    char data_dir[512];
    char otlp_http_listen[128]; /* host:port */
    char otlp_grpc_listen[128];
    char http_listen[128];      /* query API, /metrics, /ready */
    uint64_t max_request_bytes;  /* compressed or not; 413 above: 16 MiB */
    uint64_t max_decompressed_bytes; /* gzip bomb guard: 64 MiB */
    uint32_t max_attr_value_len; /* attribute values truncated beyond: 2048 */
    uint64_t max_trace_bytes;    /* per trace: 5 MB */
    uint64_t head_max_bytes;     /* memory for unflushed spans: 1 GiB */
    uint64_t wal_segment_bytes;  /* 64 MiB */
    uint64_t wal_max_pending;    /* bytes waiting for fsync before 429: 64 MiB */
    uint32_t wal_free_segments;  /* released segment files kept to be reused: 4; 0: none */
    bool wal_no_sync;            /* benchmarks only */
    char default_tenant[64];     /* when X-Scope-OrgID is absent: "single-tenant" */
    /* blocks */
    uint64_t head_flush_bytes;     /* flush the head to blocks at this size: 0 = head_max_bytes / 4 */
    uint64_t head_flush_interval_s; /* ... or when its oldest batch is this old: 60 */
    uint64_t retention_s;          /* blocks deleted once their newest span is this old: 14 days */
    uint64_t compaction_interval_s; /* compaction and retention run this often: 30 */
    bool compactor;                /* blocks.compactor: this server compacts and applies retention: true
                                    * (false on all but one server sharing a bucket) */
    uint64_t compaction_window_s;  /* only blocks starting in one window merge: 1 h */
    uint64_t block_max_spans;      /* spans per compacted block: 5,000,000 (a block is built in memory: ~150 MB) */
    /* storage: where blocks live. backend "local" (default): <data_dir>/blocks
     * and <data_dir>/log-blocks; "s3": the bucket, under <prefix>blocks/ and
     * <prefix>log-blocks/. The WAL and the checkpoints stay in data_dir. One
     * writing instance per bucket prefix (its lock is local). */
    char storage_backend[16];        /* storage.backend: local | s3 */
    struct {
        char endpoint[256];          /* storage.s3.endpoint: http://host:port or a host (https) */
        char bucket[64];             /* storage.s3.bucket (must exist) */
        char region[64];             /* storage.s3.region: us-east-1 */
        char prefix[256];            /* storage.s3.prefix: "" or ending in '/' */
        char access_key[128];        /* storage.s3.access_key: $AWS_ACCESS_KEY_ID when empty */
        char secret_key[128];        /* storage.s3.secret_key: $AWS_SECRET_ACCESS_KEY when empty */
        uint32_t list_page_size;     /* storage.s3.list_page_size: keys per listing page, 1000 */
        uint64_t poll_interval_s;    /* storage.s3.poll_interval: the bucket is listed again this often, for
                                      * blocks other servers wrote or removed: 30 */
    } s3;
    /* RED metrics: spanmetrics.buckets (durations), .dimensions (- name: K
     * [default: V]), .max_series; zeros mean spanmetrics.h's defaults */
    tws_spanmetrics_options spanmetrics;
    char remote_write_url[512];      /* spanmetrics.remote_write_url: push the RED metrics there ("" = off) */
    uint64_t remote_write_interval_s; /* spanmetrics.remote_write_interval: 15 */
    char spanmetrics_export[16];     /* spanmetrics.export: scrape | remote_write | both ("": remote_write
                                        when remote_write_url is set, else scrape) */
    uint8_t red_export;              /* resolved by tws_config_check: TWS_RED_SCRAPE and/or TWS_RED_PUSH */
    bool spanmetrics_enabled;        /* spanmetrics.enabled: true */
    bool service_graph_enabled;      /* service_graph.enabled: true */
    uint64_t service_graph_wait_s;   /* service_graph.wait: how long a call's two sides wait for each other: 10 */
    /* logs */
    uint64_t log_head_max_bytes;     /* logs.head_max_bytes: memory for log records; 429 above: 256 MiB */
    uint64_t log_flush_bytes;        /* logs.flush_bytes: write the log head to blocks at this size: 0 = a quarter
                                        of logs.head_max_bytes */
    uint64_t log_flush_interval_s;   /* logs.flush_interval: ... or when its oldest record is this old: 0 = as
                                        head.flush_interval */
    uint64_t log_retention_s;        /* logs.retention: log blocks deleted once their newest record is this old:
                                        0 = as blocks.retention */
    uint64_t log_block_max_records;  /* logs.block_max_records: records per compacted log block: 1,000,000 */
    uint64_t logs_start_shift_s;     /* logs.span_start_shift: a span's logs are looked for from its start
                                        minus this: 5m (the article's spanStartTimeShift) */
    uint64_t logs_end_shift_s;       /* logs.span_end_shift: ... to its end plus this: 5m */
    /* logs.index_labels: the resource attributes that become stream labels
     * of OTLP records (as Loki's default_resource_attributes_as_index_labels);
     * 0 of them: Loki's default list (TWS_LOKI_INDEX_ATTRS) */
    char log_index_attrs[TWS_MAX_INDEX_LABELS][128];
    uint32_t n_log_index_attrs;
    /* The Collector-shaped pipelines (pipeline/pconfig.h), owned; NULL: the
     * default pipeline (every receiver -> span metrics, service graph -> the
     * store). An empty otlp_http_listen / otlp_grpc_listen is a receiver
     * protocol the pipelines leave off. */
    struct tws_pipelines *pipelines;
    bool check_only;                 /* --check: validate the configuration and exit */
} tws_config;

/* Where the RED series (span metrics and the service graph) go. */
enum { TWS_RED_SCRAPE = 1, TWS_RED_PUSH = 2 };

void tws_config_defaults(tws_config *c);
/* What a configuration owns (its pipelines). */
void tws_config_free(tws_config *c);

/*
 * Check the settings as a whole, once the file and the flags are applied
 * (tws_config_parse_args calls it last): resolves red_export and refuses
 * settings that contradict each other — in particular any that would send
 * the RED series nowhere or count the same spans twice. 0, or -1 with a
 * message naming the settings and what to change.
 */
int tws_config_check(tws_config *c, char *err, size_t err_len);

/* Parse `serve` flags (argv[0] is "serve"). On an error, writes a message
 * naming the flag to `err` and returns -1; 1 when --help was printed; 0 ok. */
int tws_config_parse_args(tws_config *c, int argc, char **argv, char *err, size_t err_len);

/* Apply a YAML configuration (see config_yaml.c for its shape). Nothing is
 * applied unless the whole text is valid; errors read
 * "FILE:LINE:COL: key 'a.b': what was wrong". 0 or -1. */
int tws_config_load_yaml(tws_config *c, const char *file, const char *text, size_t len, char *err, size_t err_len);
int tws_config_load_file(tws_config *c, const char *file, char *err, size_t err_len);
/* "5000000", "64MiB", "1GB" -> bytes. 0 or -1. */
int tws_parse_size(const char *s, uint64_t *out);

/* "30s", "5m", "336h", "14d", or plain seconds -> seconds. 0 or -1. */
int tws_parse_duration_s(const char *s, uint64_t *out);

/* "250us", "5ms", "1.5s", "2m" -> milliseconds (Go-style durations, as the
 * Collector's bucket lists are written). 0 or -1. */
int tws_parse_duration_ms(const char *s, double *out);

/* Split "host:port" (IPv6 as "[::1]:4318"). 0 or -1. */
int tws_split_hostport(const char *s, char *host, size_t host_len, uint16_t *port);

extern const char tws_serve_usage[];

#endif
