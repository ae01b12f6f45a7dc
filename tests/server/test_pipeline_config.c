/*
 * test_pipeline_config.c — the Collector-shaped sections of the
 * configuration (pipeline/pconfig.c through tws_config_load_yaml): the
 * article's gateway loads into the graph it describes (processors
 * compiled, the stateless prefix before the WAL, forward connectors
 * resolved, receiver protocols setting the listeners); and invalid
 * configurations, each refused with the file, line, column, key and what
 * was wrong — unknown types and keys, undeclared components, wrong
 * signals, cycles, and span metrics after tail sampling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline/pconfig.h"
#include "serve/config.h"

static const char GATEWAY[] =
    "data_dir: /tmp/tw\n"                                                     /* 1 */
    "receivers:\n"                                                            /* 2 */
    "  otlp:\n"                                                               /* 3 */
    "    protocols:\n"                                                        /* 4 */
    "      http: { endpoint: 127.0.0.1:14318 }\n"                             /* 5 */
    "      grpc:\n"                                                           /* 6 */
    "processors:\n"                                                           /* 7 */
    "  batch: {}\n"                                                           /* 8 */
    "  redaction/pii:\n"                                                      /* 9 */
    "    allow_all_keys: true\n"                                              /* 10 */
    "    blocked_values: ['@email', '@jwt', '@bearer', '@card']\n"            /* 11 */
    "    hash_function: sha256\n"                                             /* 12 */
    "  attributes/env:\n"                                                     /* 13 */
    "    actions:\n"                                                          /* 14 */
    "      - { key: deployment.environment, value: prod, action: upsert }\n"  /* 15 */
    "      - { key: retries, value: 3, action: insert }\n"                    /* 16 */
    "  tail_sampling:\n"                                                      /* 17 */
    "    decision_wait: 10s\n"                                                /* 18 */
    "    num_traces: 50000\n"                                                 /* 19 */
    "    decision_cache: { sampled_cache_size: 1000, non_sampled_cache_size: 2000 }\n"
    "    policies:\n"
    "      - name: drop-health\n"
    "        type: drop\n"
    "        drop:\n"
    "          drop_sub_policy:\n"
    "            - { name: health, type: string_attribute, string_attribute: { key: http.route, values: ['^/health'], "
    "enabled_regex_matching: true } }\n"
    "      - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }\n"
    "      - { name: slow, type: latency, latency: { threshold_ms: 500 } }\n"
    "      - { name: baseline, type: probabilistic, probabilistic: { sampling_percentage: 5 } }\n"
    "      - name: budget\n"
    "        type: composite\n"
    "        composite:\n"
    "          max_total_spans_per_second: 1000\n"
    "          policy_order: [b, a]\n"
    "          composite_sub_policy:\n"
    "            - { name: a, type: always_sample }\n"
    "            - { name: b, type: not, not: { not_sub_policy: { name: n, type: span_count, span_count: { min_spans: 2 } } } }\n"
    "          rate_allocation: [{ policy: b, percent: 30 }]\n"
    "exporters:\n"
    "  tracewire:\n"
    "connectors:\n"
    "  forward/sample:\n"
    "  spanmetrics:\n"
    "  servicegraph:\n"
    "service:\n"
    "  pipelines:\n"
    "    traces/in:\n"
    "      receivers: [otlp]\n"
    "      processors: [redaction/pii, attributes/env, batch]\n"
    "      exporters: [spanmetrics, servicegraph, forward/sample]\n"
    "    traces/sampled:\n"
    "      receivers: [forward/sample]\n"
    "      processors: [tail_sampling]\n"
    "      exporters: [tracewire]\n"
    "    logs:\n"
    "      receivers: [otlp]\n"
    "      processors: [redaction/pii]\n"
    "      exporters: [tracewire]\n";

static void test_gateway(void **state) {
    (void)state;
    tws_config c;
    tws_config_defaults(&c);
    char err[400] = "";
    if (tws_config_load_yaml(&c, "gw.yaml", GATEWAY, sizeof GATEWAY - 1, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(c.data_dir, "/tmp/tw");
    assert_string_equal(c.otlp_http_listen, "127.0.0.1:14318");
    assert_string_equal(c.otlp_grpc_listen, "127.0.0.1:4317"); /* listed without an endpoint: the default */
    const tws_pipelines *p = c.pipelines;
    assert_non_null(p);
    assert_int_equal(p->n_warnings, 0);
    assert_int_equal(p->n_procs, 4);
    assert_int_equal(p->n_pipes, 3);
    assert_true(p->spanmetrics && p->servicegraph);
    const tws_pipe_def *in = &p->pipes[0], *sampled = &p->pipes[1], *logs = &p->pipes[2];
    assert_string_equal(in->id, "traces/in");
    assert_true(in->from_otlp);
    assert_int_equal(in->n_procs, 3);
    assert_int_equal(in->n_prefix, 3); /* all stateless: before the WAL */
    assert_int_equal(in->n_sinks, 3);
    assert_int_equal(in->sinks[0].kind, TWS_SINK_SPANMETRICS);
    assert_int_equal(in->sinks[1].kind, TWS_SINK_SERVICEGRAPH);
    assert_int_equal(in->sinks[2].kind, TWS_SINK_PIPELINE);
    assert_int_equal(in->sinks[2].pipe, 1);
    assert_false(sampled->from_otlp);
    assert_int_equal(sampled->n_prefix, 0);
    assert_int_equal(p->procs[sampled->procs[0]].kind, TWS_PROC_TAIL_SAMPLING);
    assert_int_equal(sampled->sinks[0].kind, TWS_SINK_STORE);
    assert_int_equal(logs->signal, TWS_PIPE_LOGS);
    assert_int_equal(logs->n_prefix, 1);

    const tws_ts_config *ts = &p->procs[sampled->procs[0]].tail;
    assert_int_equal(ts->decision_wait_ms, 10000);
    assert_int_equal(ts->num_traces, 50000);
    assert_int_equal(ts->sampled_cache, 1000);
    assert_int_equal(ts->not_sampled_cache, 2000);
    assert_int_equal(ts->n_policies, 5);
    assert_int_equal(ts->policies[0].type, TWS_TS_DROP);
    assert_int_equal(ts->policies[0].subs[0].type, TWS_TS_STRING_ATTRIBUTE);
    assert_non_null(ts->policies[0].subs[0].regexes);
    assert_int_equal(ts->policies[1].status_mask, 4);
    assert_int_equal(ts->policies[2].threshold_ms, 500);
    assert_true(ts->policies[3].percentage == 5);
    const tws_ts_policy *comp = &ts->policies[4];
    assert_int_equal(comp->spans_per_second, 1000);
    assert_string_equal(comp->subs[0].name, "b"); /* policy_order */
    assert_int_equal(comp->subs[0].type, TWS_TS_NOT);
    assert_int_equal(comp->subs[0].subs[0].min_spans, 2);
    assert_true(comp->rate_percent[0] == 30 && comp->rate_percent[1] < 0);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    tws_pipelines_describe(p, f);
    fclose(f);
    assert_non_null(strstr(text, "pipeline traces/in: from otlp; processors redaction/pii (before the WAL), "
                                 "attributes/env (before the WAL), batch (before the WAL); to spanmetrics, "
                                 "servicegraph, pipeline traces/sampled\n"));
    assert_non_null(strstr(text, "pipeline traces/sampled: from pipeline traces/in; processors tail_sampling; to the "
                                 "tracewire store\n"));
    free(text);
    tws_config_free(&c);
    assert_null(c.pipelines);
}

static void test_forwarding_exporters(void **state) {
    (void)state;
    tws_config c;
    tws_config_defaults(&c);
    char err[400] = "";
    static const char y[] =
        "receivers: { otlp: { protocols: { http: } } }\n"
        "exporters:\n"
        "  otlphttp/tempo:\n"
        "    endpoint: http://tempo:4318/\n"
        "    compression: none\n"
        "    headers: { Authorization: 'Bearer x' }\n"
        "    retry_on_failure: { initial_interval: 200ms, max_interval: 2s, max_elapsed_time: 1m }\n"
        "    sending_queue: { max_bytes: 64MiB }\n"
        "  loadbalancing:\n"
        "    routing_key: traceID\n"
        "    protocol: { otlphttp: { timeout: 2s } }\n"
        "    resolver: { static: { hostnames: [10.0.0.1:4318, 10.0.0.2:4318] } }\n"
        "  otlp/plain: { endpoint: 'jaeger:4317', tls: { insecure: true } }\n"
        "  otlp/secure: { endpoint: 'tempo.example:443', compression: none }\n"
        "  otlp/scheme: { endpoint: 'http://[::1]:4317' }\n"
        "  loadbalancing/grpc:\n"
        "    protocol: { otlp: { tls: { insecure: true } } }\n"
        "    resolver: { static: { hostnames: [10.0.0.1:4317] } }\n"
        "  loadbalancing/grpcs:\n"
        "    protocol: { otlp: }\n"
        "    resolver: { static: { hostnames: [10.0.0.1:4317] } }\n"
        "service: { pipelines: { traces: { receivers: [otlp], exporters: [otlphttp/tempo, loadbalancing, otlp/plain,\n"
        "  otlp/secure, otlp/scheme, loadbalancing/grpc, loadbalancing/grpcs] } } }\n";
    if (tws_config_load_yaml(&c, "f.yaml", y, sizeof y - 1, err, sizeof err)) fail_msg("%s", err);
    const tws_pipelines *p = c.pipelines;
    assert_int_equal(p->n_exps, 7);
    const tws_exp_def *t = &p->exps[0], *lb = &p->exps[1];
    assert_int_equal(t->kind, TWS_EXP_OTLPHTTP);
    assert_string_equal(t->endpoint, "http://tempo:4318/");
    assert_false(t->gzip);
    assert_string_equal(t->headers[0], "Authorization: Bearer x");
    assert_null(t->headers[1]);
    assert_int_equal(t->initial_interval_ms, 200);
    assert_int_equal(t->max_interval_ms, 2000);
    assert_int_equal(t->max_elapsed_ms, 60000);
    assert_int_equal(t->queue_bytes, 64u << 20);
    assert_int_equal(lb->kind, TWS_EXP_LOADBALANCING);
    assert_true(lb->gzip);
    assert_int_equal(lb->timeout_ms, 2000);
    assert_int_equal(lb->n_hosts, 2);
    assert_string_equal(lb->hosts[1], "10.0.0.2:4318");
    assert_false(t->grpc);
    assert_false(lb->grpc);
    assert_false(lb->tls);
    const tws_exp_def *g = &p->exps[2];
    assert_int_equal(g->kind, TWS_EXP_OTLPHTTP);
    assert_true(g->grpc);
    assert_true(g->gzip);
    assert_string_equal(g->endpoint, "http://jaeger:4317"); /* tls.insecure: cleartext HTTP/2 */
    assert_string_equal(p->exps[3].endpoint, "https://tempo.example:443"); /* TLS unless insecure, as the Collector */
    assert_false(p->exps[3].gzip);
    assert_string_equal(p->exps[4].endpoint, "http://[::1]:4317");
    assert_int_equal(p->exps[5].kind, TWS_EXP_LOADBALANCING);
    assert_true(p->exps[5].grpc);
    assert_false(p->exps[5].tls);
    assert_true(p->exps[6].grpc);
    assert_true(p->exps[6].tls);
    assert_int_equal(p->pipes[0].n_sinks, 7);
    assert_int_equal(p->pipes[0].sinks[0].kind, TWS_SINK_EXPORTER);
    assert_int_equal(p->pipes[0].sinks[1].pipe, 1);
    tws_config_free(&c);
}

static void test_protocols_and_warnings(void **state) {
    (void)state;
    tws_config c;
    tws_config_defaults(&c);
    char err[400] = "";
    static const char y[] = "receivers: { otlp: { protocols: { grpc: { endpoint: 127.0.0.1:24317 } } } }\n"
                            "processors:\n"
                            "  redaction: { allow_all_keys: true, blocked_values: ['@email'] }\n"
                            "  tail_sampling: { policies: [{ name: all, type: always_sample }] }\n"
                            "  batch/unused:\n"
                            "exporters: { tracewire: }\n"
                            "service: { pipelines: { traces: { receivers: [otlp], processors: [tail_sampling, redaction], "
                            "exporters: [tracewire] } } }\n";
    if (tws_config_load_yaml(&c, "w.yaml", y, sizeof y - 1, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(c.otlp_http_listen, ""); /* http not listed: off */
    assert_string_equal(c.otlp_grpc_listen, "127.0.0.1:24317");
    assert_int_equal(c.pipelines->pipes[0].n_prefix, 0);
    assert_int_equal(c.pipelines->n_warnings, 2);
    assert_non_null(strstr(c.pipelines->warnings[0], "processor 'redaction' runs after the write-ahead log"));
    assert_non_null(strstr(c.pipelines->warnings[1], "w.yaml:5: processor 'batch/unused' is declared but no pipeline uses it"));
    tws_config_free(&c);

    /* no pipeline sections: no pipelines, the default */
    tws_config_defaults(&c);
    assert_int_equal(tws_config_load_yaml(&c, "d.yaml", "data_dir: x\n", 12, err, sizeof err), 0);
    assert_null(c.pipelines);
}

typedef struct bad {
    const char *yaml;
    const char *msg; /* the whole message */
} bad;

#define SVC(pipes) "exporters: { tracewire: }\nservice:\n  pipelines:\n" pipes

static const bad BAD[] = {
    {"receivers: { jaeger: }\n" SVC("    traces: { receivers: [jaeger], exporters: [tracewire] }\n"),
     "b.yaml:1:14: key 'receivers.jaeger': unknown receiver type 'jaeger' (tracewire has otlp and loki)"},
    {"receivers: { otlp: { protocols: { http: } } }\n" SVC("    traces: { receivers: [otlp], exporters: [nope] }\n"),
     "b.yaml:5:46: key 'service.pipelines.traces.exporters': 'nope' is not a declared exporter or connector"},
    {"receivers: { otlp: { protocols: { http: } } }\n" SVC("    traces: { receivers: [otlp, kafka], exporters: [tracewire] }\n"),
     "b.yaml:5:33: key 'service.pipelines.traces.receivers': 'kafka' is not a declared receiver or connector"},
    {"receivers: { otlp: { protocols: { http: } } }\nprocessors: { tail_sampling: { policies: [{ name: a, type: always_sample }] } }\n"
     SVC("    logs: { receivers: [otlp], processors: [tail_sampling], exporters: [tracewire] }\n"),
     "b.yaml:6:45: key 'service.pipelines.logs.processors': 'tail_sampling' samples traces: it cannot be in a logs pipeline"},
    {"receivers: { otlp: { protocols: { http: } } }\nprocessors: { tail_sampling: { decision_wait: soon, policies: [] } }\n"
     SVC("    traces: { receivers: [otlp], processors: [tail_sampling], exporters: [tracewire] }\n"),
     "b.yaml:2:47: key 'processors.tail_sampling.decision_wait': \"soon\" is not a duration up to 24h (e.g. 10s, 500ms, 1m)"},
    {"receivers: { otlp: { protocols: { http: } } }\nprocessors:\n  tail_sampling:\n    policies:\n"
     "      - { name: slow, type: latency, latency: { threshold: 5 } }\n"
     SVC("    traces: { receivers: [otlp], processors: [tail_sampling], exporters: [tracewire] }\n"),
     "b.yaml:5:49: key 'processors.tail_sampling.policies[0].latency': unknown key 'threshold' (expected one of: "
     "threshold_ms, upper_threshold_ms)"},
    {"receivers: { otlp: { protocols: { http: } } }\nprocessors:\n  tail_sampling:\n    policies:\n"
     "      - { name: p, type: sometimes }\n"
     SVC("    traces: { receivers: [otlp], processors: [tail_sampling], exporters: [tracewire] }\n"),
     "b.yaml:5:26: key 'processors.tail_sampling.policies[0]': \"sometimes\" is not a policy type (always_sample, "
     "latency, status_code, probabilistic, string_attribute, numeric_attribute, boolean_attribute, span_count, "
     "rate_limiting, trace_state, and, composite, drop, not)"},
    {"receivers: { otlp: { protocols: { http: } } }\nprocessors:\n  tail_sampling:\n    policies:\n"
     "      - { name: p, type: probabilistic, probabilistic: { sampling_percentage: 150 } }\n"
     SVC("    traces: { receivers: [otlp], processors: [tail_sampling], exporters: [tracewire] }\n"),
     "b.yaml:5:79: key 'processors.tail_sampling.policies[0].probabilistic.sampling_percentage': \"150\" is not a "
     "number from 0 to 100"},
    {"receivers: { otlp: { protocols: { http: } } }\nprocessors:\n  tail_sampling:\n    policies:\n"
     "      - { name: r, type: string_attribute, string_attribute: { key: k, values: ['(a'], enabled_regex_matching: true } }\n"
     SVC("    traces: { receivers: [otlp], processors: [tail_sampling], exporters: [tracewire] }\n"),
     "b.yaml:5:80: key 'processors.tail_sampling.policies[0].string_attribute.values[0]': not a regular expression: "
     "missing closing parenthesis at offset 2"},
    {"receivers: { otlp: { protocols: { http: } } }\nprocessors:\n  tail_sampling:\n    policies:\n"
     "      - { name: e, type: status_code, status_code: { status_codes: [FAILED] } }\n"
     SVC("    traces: { receivers: [otlp], processors: [tail_sampling], exporters: [tracewire] }\n"),
     "b.yaml:5:68: key 'processors.tail_sampling.policies[0].status_code': \"FAILED\" is not OK, ERROR or UNSET"},
    {"receivers: { otlp: { protocols: { http: } } }\nprocessors: { redaction: { blocked_values: ['(x'] } }\n"
     SVC("    traces: { receivers: [otlp], processors: [redaction], exporters: [tracewire] }\n"),
     "b.yaml:2:26: key 'processors.redaction': blocked_values[0]: missing closing parenthesis at offset 2"},
    {"receivers: { otlp: { protocols: { http: } } }\nprocessors: { attributes: { actions: [{ key: a, action: rename }] } }\n"
     SVC("    traces: { receivers: [otlp], processors: [attributes], exporters: [tracewire] }\n"),
     "b.yaml:2:39: key 'processors.attributes.actions[0]': action \"rename\" is not insert, update, upsert, delete, "
     "hash, extract or convert"},
    {"receivers: { otlp: { protocols: { http: } } }\nexporters: { otlp/tempo: { compression: gzip } }\n"
     "service: { pipelines: { traces: { receivers: [otlp], exporters: [otlp/tempo] } } }\n",
     "b.yaml:2:26: key 'exporters.otlp/tempo': otlp needs an endpoint (host:4317)"},
    {"receivers: { otlp: { protocols: { http: } } }\nexporters: { otlp/tempo: { endpoint: 'http://tempo' } }\n"
     "service: { pipelines: { traces: { receivers: [otlp], exporters: [otlp/tempo] } } }\n",
     "b.yaml:2:38: key 'exporters.otlp/tempo.endpoint': \"http://tempo\" is not host:port (or http://host:port)"},
    {"receivers: { otlp: { protocols: { http: } } }\nexporters: { otlp: { endpoint: t:4317, tls: { ca_file: x } } }\n"
     "service: { pipelines: { traces: { receivers: [otlp], exporters: [otlp] } } }\n",
     "b.yaml:2:47: key 'exporters.otlp.tls': unknown key 'ca_file' (expected one of: insecure)"},
    {"receivers: { otlp: { protocols: { http: } } }\nexporters: { otlphttp: { endpoint: 'http://t:4318', tls: { insecure: true } } }\n"
     "service: { pipelines: { traces: { receivers: [otlp], exporters: [otlphttp] } } }\n",
     "b.yaml:2:58: key 'exporters.otlphttp': tls is set by the endpoint's scheme here (http:// or https://)"},
    {"receivers: { otlp: { protocols: { http: } } }\n"
     "exporters: { loadbalancing: { protocol: { otlp: , otlphttp: }, resolver: { static: { hostnames: [a:1] } } } }\n"
     "service: { pipelines: { traces: { receivers: [otlp], exporters: [loadbalancing] } } }\n",
     "b.yaml:2:41: key 'exporters.loadbalancing.protocol': choose one protocol: otlp (gRPC) or otlphttp"},
    {"receivers: { otlp: { protocols: { http: } } }\nexporters: { otlphttp: { endpoint: tempo:4318 } }\n"
     "service: { pipelines: { traces: { receivers: [otlp], exporters: [otlphttp] } } }\n",
     "b.yaml:2:36: key 'exporters.otlphttp.endpoint': \"tempo:4318\" is not an http:// or https:// URL"},
    {"receivers: { otlp: { protocols: { http: } } }\nexporters: { otlphttp: { endpoint: 'http://t:4318', retry_on_failure: { enabled: false } } }\n"
     "service: { pipelines: { traces: { receivers: [otlp], exporters: [otlphttp] } } }\n",
     "b.yaml:2:71: key 'exporters.otlphttp.retry_on_failure': retries cannot be turned off: a forwarded span is only "
     "dropped when the receiver refuses it"},
    {"receivers: { otlp: { protocols: { http: } } }\nexporters: { loadbalancing: { routing_key: service, resolver: { static: { hostnames: [a:1] } } } }\n"
     "service: { pipelines: { traces: { receivers: [otlp], exporters: [loadbalancing] } } }\n",
     "b.yaml:2:44: key 'exporters.loadbalancing.routing_key': \"service\": only traceID (every span of a trace to one backend)"},
    {"receivers: { otlp: { protocols: { http: } } }\nexporters: { loadbalancing: { resolver: { static: { hostnames: [a:1, a:1] } } } }\n"
     "service: { pipelines: { logs: { receivers: [otlp], exporters: [loadbalancing] } } }\n",
     "b.yaml:2:64: key 'exporters.loadbalancing.resolver.static': \"a:1\" is listed twice"},
    {"receivers: { otlp: { protocols: { http: } } }\nexporters: { loadbalancing: { resolver: { static: { hostnames: [a:1] } } } }\n"
     "service: { pipelines: { logs: { receivers: [otlp], exporters: [loadbalancing] } } }\n",
     "b.yaml:3:64: key 'service.pipelines.logs.exporters': 'loadbalancing' routes traces by their id: not in a logs pipeline"},
    {"receivers: { otlp: { protocols: { http: } } }\nconnectors: { spanmetrics: }\n"
     "processors: { tail_sampling: { policies: [{ name: a, type: always_sample }] } }\n"
     SVC("    traces: { receivers: [otlp], processors: [tail_sampling], exporters: [spanmetrics, tracewire] }\n"),
     "b.yaml:7:74: key 'service.pipelines.traces.exporters': pipeline 'traces' sends spans to spanmetrics after tail sampling: span "
     "metrics must see every span before tail sampling drops any (export to the connector from the receiving pipeline "
     "and forward to a pipeline that samples)"},
    {"receivers: { otlp: { protocols: { http: } } }\nconnectors: { spanmetrics: , forward: }\n"
     "processors: { tail_sampling: { policies: [{ name: a, type: always_sample }] } }\n"
     SVC("    traces: { receivers: [otlp], processors: [tail_sampling], exporters: [forward] }\n"
         "    traces/2: { receivers: [forward], exporters: [spanmetrics, tracewire] }\n"),
     "b.yaml:8:50: key 'service.pipelines.traces/2.exporters': pipeline 'traces/2' sends spans to spanmetrics after tail sampling: span "
     "metrics must see every span before tail sampling drops any (export to the connector from the receiving pipeline "
     "and forward to a pipeline that samples)"},
    {"receivers: { otlp: { protocols: { http: } } }\nconnectors: { forward/a: , forward/b: }\n"
     SVC("    traces: { receivers: [otlp, forward/b], exporters: [forward/a] }\n"
         "    traces/2: { receivers: [forward/a], exporters: [forward/b, tracewire] }\n"),
     "b.yaml:6:13: key 'service.pipelines.traces': the forward connectors make a cycle through 'traces'"},
    {"receivers: { otlp: { protocols: { http: } } }\nconnectors: { forward: }\n"
     SVC("    traces: { receivers: [otlp], exporters: [forward, tracewire] }\n"),
     "b.yaml:6:46: key 'service.pipelines.traces.exporters': connector 'forward' is an exporter here but no pipeline "
     "receives from it"},
    {"receivers: { otlp: { protocols: { http: } } }\nconnectors: { forward: }\n"
     SVC("    traces: { receivers: [otlp], exporters: [forward] }\n    logs: { receivers: [forward], exporters: [tracewire] }\n"),
     "b.yaml:6:46: key 'service.pipelines.traces.exporters': connector 'forward' joins a traces pipeline to logs "
     "pipeline 'logs'"},
    {"receivers: { otlp: { protocols: { http: } } }\n" SVC("    metrics: { receivers: [otlp], exporters: [tracewire] }\n"),
     "b.yaml:5:5: key 'service.pipelines': metrics pipelines are not supported: the spanmetrics and servicegraph "
     "connectors' series are served on /metrics and pushed by spanmetrics.remote_write_url"},
    {"receivers: { otlp: { protocols: { http: } } }\n" SVC("    traces: { receivers: [otlp] }\n"),
     "b.yaml:5:13: key 'service.pipelines.traces.exporters': a pipeline needs a list of exporters"},
    {"receivers: { otlp: { protocols: { http: } } }\nprocessors: { batch: &b {}, batch/2: *b }\n"
     SVC("    traces: { receivers: [otlp], exporters: [tracewire] }\n"),
     "b.yaml:2:22: this value is used again through a YAML alias (*name): aliases are not supported; write it out"},
    {"receivers: { otlp: { protocols: { http: } } }\n",
     "b.yaml:1:1: the file declares pipeline components but has no service.pipelines"},
    {"receivers: { otlp: { protocols: { http: { endpoint: 127.0.0.1:1 } } } }\notlp: { http_listen: 127.0.0.1:2 }\n"
     SVC("    traces: { receivers: [otlp], exporters: [tracewire] }\n"),
     "b.yaml: otlp.http_listen and receivers.otlp.protocols.http disagree: say it once"},
    {"receivers: { otlp: { protocols: { http: } } }\n"
     SVC("    traces: { receivers: [otlp], exporters: [tracewire] }\n    traces: { receivers: [otlp], exporters: [tracewire] }\n"),
     "b.yaml:6:5: key 'service.pipelines': 'traces' is given twice"},
};

static void test_invalid(void **state) {
    (void)state;
    int n_wrong = 0;
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        tws_config c, before;
        tws_config_defaults(&c);
        before = c;
        char err[600] = "";
        int rc = tws_config_load_yaml(&c, "b.yaml", BAD[i].yaml, strlen(BAD[i].yaml), err, sizeof err);
        if (rc != -1) fail_msg("case %zu was accepted", i);
        if (strcmp(err, BAD[i].msg)) print_error("case %zu:\n got: %s\nwant: %s\n", i, err, BAD[i].msg), n_wrong++;
        assert_memory_equal(&c, &before, sizeof c); /* nothing applied */
    }
    assert_int_equal(n_wrong, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway),
        cmocka_unit_test(test_protocols_and_warnings),
        cmocka_unit_test(test_forwarding_exporters),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
