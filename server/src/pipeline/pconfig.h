/*
 * pconfig.h — the Collector-shaped part of a configuration file: the
 * `receivers`, `processors`, `exporters`, `connectors` and
 * `service.pipelines` sections, validated and compiled into a graph the
 * server runs (pipeline/pipeline.h).
 *
 *   receivers:  otlp (protocols.grpc.endpoint, protocols.http.endpoint), loki
 *   processors: redaction, attributes, tail_sampling, batch
 *   exporters:  tracewire (this server's store); otlphttp (forward to another
 *               OTLP/HTTP endpoint through a queue on disk); loadbalancing
 *               (routing_key traceID over resolver.static.hostnames, each
 *               reached as protocol.otlphttp says)
 *   connectors: forward (traces -> traces, logs -> logs), spanmetrics and
 *               servicegraph (the RED series of the spans that reach them,
 *               served on /metrics and pushed as the spanmetrics section says)
 *   service:    pipelines: {traces[/name]: {receivers, processors, exporters}, logs[/name]: ...}
 *
 * Component ids are "type" or "type/name", as in the Collector. Every
 * problem is reported as "FILE:LINE:COL: key 'processors.tail_sampling
 * .policies[1].latency.threshold_ms': what was wrong" — unknown keys,
 * wrong types, undeclared or unused components, a component in a pipeline
 * of the wrong signal, connector cycles, and the article's pitfall: span
 * metrics placed where tail sampling has already dropped spans.
 *
 * Invariants of a loaded tws_pipelines: every reference resolves; the
 * graph of pipelines joined by forward connectors has no cycle; a
 * pipeline's `n_prefix` leading processors are stateless (they run before
 * the write-ahead log, so what is written is already redacted); the whole
 * structure is immutable and owned by the tws_pipelines.
 */
#ifndef TWS_PCONFIG_H
#define TWS_PCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pipeline/attributes.h"
#include "pipeline/redaction.h"
#include "pipeline/tailsample.h"

typedef enum tws_proc_kind {
    TWS_PROC_BATCH,         /* accepted for compatibility: the WAL's group commit batches already */
    TWS_PROC_REDACTION,
    TWS_PROC_ATTRIBUTES,
    TWS_PROC_TAIL_SAMPLING, /* stateful: runs after the WAL */
} tws_proc_kind;

typedef struct tws_proc_def {
    char id[96];
    tws_proc_kind kind;
    tws_redaction *redaction;
    tws_attributes *attributes;
    tws_ts_config tail; /* its policies are owned here */
} tws_proc_def;

typedef enum tws_exp_kind {
    TWS_EXP_STORE,         /* tracewire */
    TWS_EXP_OTLPHTTP,      /* one endpoint: otlphttp, or otlp (gRPC) */
    TWS_EXP_LOADBALANCING, /* hosts[] by a consistent hash of the trace id */
} tws_exp_kind;

typedef struct tws_exp_def {
    char id[96];
    tws_exp_kind kind;
    char endpoint[512];            /* one endpoint: http(s)://host:port[/prefix] (gRPC: no prefix) */
    char **hosts;                  /* loadbalancing: host:port, reached as http(s)://host:port */
    bool grpc;                     /* OTLP/gRPC (otlp, protocol.otlp) rather than OTLP/HTTP */
    bool tls;                      /* loadbalancing: the hosts are reached over https */
    uint32_t n_hosts;
    char **headers;                /* "Name: value", NULL-terminated (or NULL) */
    uint32_t n_headers;
    bool gzip;                     /* compression: gzip (the default) or none */
    uint64_t timeout_ms, initial_interval_ms, max_interval_ms, max_elapsed_ms, queue_bytes;
} tws_exp_def;

typedef enum tws_sink_kind {
    TWS_SINK_STORE,        /* the tracewire exporter */
    TWS_SINK_EXPORTER,     /* a forwarding exporter: `pipe` is its index in tws_pipelines.exps */
    TWS_SINK_PIPELINE,     /* a forward connector: `pipe` receives a copy */
    TWS_SINK_SPANMETRICS,  /* the spanmetrics connector */
    TWS_SINK_SERVICEGRAPH, /* the servicegraph connector */
} tws_sink_kind;

typedef struct tws_pipe_sink {
    tws_sink_kind kind;
    uint32_t pipe;
} tws_pipe_sink;

enum { TWS_PIPE_TRACES, TWS_PIPE_LOGS };

typedef struct tws_pipe_def {
    char id[96];            /* "traces", "traces/sampled" */
    int signal;             /* TWS_PIPE_* */
    bool from_otlp, from_loki; /* fed by those receivers (the others feed it through forward connectors) */
    uint32_t *procs;        /* indices into tws_pipelines.procs, in order */
    uint32_t n_procs;
    uint32_t n_prefix;      /* leading stateless processors: run before the WAL when fed by a receiver */
    tws_pipe_sink *sinks;   /* exporters and connectors, in order, each distinct sink once */
    uint32_t n_sinks;
} tws_pipe_def;

#define TWS_PCONFIG_MAX_WARNINGS 8
#define TWS_PCONFIG_MAX_ENTRY 8 /* pipelines fed by one receiver, per signal */

typedef struct tws_pipelines {
    tws_proc_def *procs;
    uint32_t n_procs;
    tws_pipe_def *pipes;
    uint32_t n_pipes;
    tws_exp_def *exps;   /* the forwarding exporters used (not tracewire) */
    uint32_t n_exps;
    /* receivers.otlp.protocols: a protocol not listed is off; "" = its default address */
    bool otlp_http, otlp_grpc, loki;
    char otlp_http_endpoint[128], otlp_grpc_endpoint[128];
    bool spanmetrics, servicegraph; /* a connector of that type is used */
    char warnings[TWS_PCONFIG_MAX_WARNINGS][320];
    uint32_t n_warnings;
} tws_pipelines;

/*
 * Load the pipeline sections of a YAML text (the rest of the file is the
 * server's settings: config_yaml.c). *out is NULL when the text has none of
 * the sections; otherwise a compiled tws_pipelines. 0, or -1 with the
 * message in err.
 */
int tws_pipelines_load(const char *file, const char *text, size_t len, tws_pipelines **out, char *err,
                       size_t err_len);
void tws_pipelines_free(tws_pipelines *p);

/* What the pipelines do, one line per pipeline, for `serve --check`
 * (NULL: the default pipeline). */
void tws_pipelines_describe(const tws_pipelines *p, FILE *out);

/* Is `key` one of the top-level keys tws_pipelines_load reads? */
bool tws_pipelines_section(const char *key);

#endif
