/*
 * test_config.c — `tracewire serve` settings: defaults, flags, the YAML
 * file with every setting, units, precedence of flags over the file, and
 * each refusal with its message (file, line, column, key).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "serve/config.h"
#include "serve/scrape_check.h"

static const char full[] = "# every setting\n"
                           "data_dir: /var/lib/tracewire\n"
                           "otlp:\n"
                           "  http_listen: 0.0.0.0:14318\n"
                           "  grpc_listen: '[::1]:14317'\n"
                           "query:\n"
                           "  http_listen: 127.0.0.1:13200\n"
                           "limits:\n"
                           "  max_request_bytes: 8MiB\n"
                           "  max_decompressed_bytes: 32MB\n"
                           "  max_attr_value_len: 4096\n"
                           "  max_trace_bytes: 6000000\n"
                           "wal:\n"
                           "  segment_bytes: 16KiB\n"
                           "  max_pending: 1GB\n"
                           "  free_segments: 0\n"
                           "tenants:\n"
                           "  default: acme\n"
                           "head:\n"
                           "  max_bytes: 2GiB\n"
                           "  flush_bytes: 128MiB\n"
                           "  flush_interval: 5m\n"
                           "blocks:\n"
                           "  retention: 14d\n"
                           "  compaction_interval: 45s\n"
                           "  compaction_window: 2h\n"
                           "  max_spans: 1000000\n"
                           "spanmetrics:\n"
                           "  buckets: [5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2s, 5s]\n"
                           "  dimensions:\n"
                           "    - name: http.route\n"
                           "    - name: http.response.status_code\n"
                           "      default: '0'\n"
                           "  max_series: 500\n"
                           "  enabled: false\n"
                           "service_graph:\n"
                           "  enabled: false\n"
                           "  wait: 3s\n"
                           "logs:\n"
                           "  head_max_bytes: 64MiB\n"
                           "  span_start_shift: 2m\n"
                           "  span_end_shift: 30s\n"
                           "  index_labels: [service.name, k8s.namespace.name, cloud.region]\n";

static void test_defaults(void **state) {
    tws_config c;
    tws_config_defaults(&c);
    assert_string_equal(c.data_dir, "./tracewire-data");
    assert_string_equal(c.otlp_http_listen, "127.0.0.1:4318");
    assert_string_equal(c.otlp_grpc_listen, "127.0.0.1:4317");
    assert_string_equal(c.http_listen, "127.0.0.1:3200");
    assert_int_equal(c.max_trace_bytes, 5000000);
    assert_int_equal(c.max_attr_value_len, 2048);
    assert_string_equal(c.default_tenant, "single-tenant");
    assert_int_equal(c.wal_free_segments, 4);
}

static void test_every_setting_from_yaml(void **state) {
    tws_config c;
    tws_config_defaults(&c);
    char err[300] = "";
    assert_int_equal(tws_config_load_yaml(&c, "full.yaml", full, sizeof full - 1, err, sizeof err), 0);
    assert_string_equal(c.data_dir, "/var/lib/tracewire");
    assert_string_equal(c.otlp_http_listen, "0.0.0.0:14318");
    assert_string_equal(c.otlp_grpc_listen, "[::1]:14317");
    assert_string_equal(c.http_listen, "127.0.0.1:13200");
    assert_int_equal(c.max_request_bytes, 8u << 20);
    assert_int_equal(c.max_decompressed_bytes, 32000000);
    assert_int_equal(c.max_attr_value_len, 4096);
    assert_int_equal(c.max_trace_bytes, 6000000);
    assert_int_equal(c.head_max_bytes, 2ull << 30);
    assert_int_equal(c.wal_segment_bytes, 16384);
    assert_int_equal(c.wal_max_pending, 1000000000);
    assert_int_equal(c.wal_free_segments, 0);
    assert_string_equal(c.default_tenant, "acme");
    assert_int_equal(c.head_flush_bytes, 128u << 20);
    assert_int_equal(c.head_flush_interval_s, 300);
    assert_int_equal(c.retention_s, 14 * 86400);
    assert_int_equal(c.compaction_interval_s, 45);
    assert_int_equal(c.compaction_window_s, 7200);
    assert_int_equal(c.block_max_spans, 1000000);
    assert_int_equal(c.spanmetrics.n_buckets, 10); /* the article's list, as written */
    assert_true(c.spanmetrics.buckets_ms[0] == 5 && c.spanmetrics.buckets_ms[7] == 1000 && c.spanmetrics.buckets_ms[9] == 5000);
    assert_int_equal(c.spanmetrics.n_dims, 2);
    assert_string_equal(c.spanmetrics.dims[0].name, "http.route");
    assert_string_equal(c.spanmetrics.dims[0].fallback, "");
    assert_string_equal(c.spanmetrics.dims[1].name, "http.response.status_code");
    assert_string_equal(c.spanmetrics.dims[1].fallback, "0");
    assert_int_equal(c.spanmetrics.max_series, 500);
    assert_false(c.spanmetrics_enabled);
    assert_false(c.service_graph_enabled);
    assert_int_equal(c.service_graph_wait_s, 3);
    assert_int_equal(c.log_head_max_bytes, 64u << 20);
    assert_int_equal(c.logs_start_shift_s, 120);
    assert_int_equal(c.logs_end_shift_s, 30);
    assert_int_equal(c.n_log_index_attrs, 3);
    assert_string_equal(c.log_index_attrs[0], "service.name");
    assert_string_equal(c.log_index_attrs[2], "cloud.region");
}

static void expect_error(const char *yaml, const char *want) {
    tws_config c, before;
    tws_config_defaults(&c);
    before = c;
    char err[300] = "";
    assert_int_equal(tws_config_load_yaml(&c, "t.yaml", yaml, strlen(yaml), err, sizeof err), -1);
    if (!strstr(err, want)) fail_msg("error \"%s\" does not contain \"%s\"", err, want);
    assert_memory_equal(&c, &before, sizeof c); /* nothing of a refused file is applied */
}

static void test_refusals(void **state) {
    expect_error("data_dir: /x\nlimits:\n  max_trace_byts: 5\n", "t.yaml:3:3: key 'limits.max_trace_byts': unknown setting");
    expect_error("limits:\n  max_trace_bytes: lots\n", "t.yaml:2:20: key 'limits.max_trace_bytes': \"lots\" is not a size");
    expect_error("limits:\n  max_trace_bytes: -5\n", "is not a size");
    expect_error("limits:\n  max_trace_bytes: 5 MiB\n", "is not a size");
    expect_error("limits:\n  max_trace_bytes: 99999999999999999999\n", "is not a size");
    expect_error("limits:\n  max_attr_value_len: 5GiB\n", "is not an integer up to 4294967295");
    expect_error("otlp:\n  http_listen: localhost\n", "key 'otlp.http_listen': \"localhost\" is not HOST:PORT");
    expect_error("otlp:\n  http_listen: 127.0.0.1:99999\n", "is not HOST:PORT");
    expect_error("head:\n  max_bytes: 1GiB\nhead:\n  max_bytes: 2GiB\n", "key 'head.max_bytes': given twice");
    expect_error("data_dir: [a, b]\n", "key 'data_dir': expected a value or a section");
    expect_error("- data_dir\n", "the top level must be a mapping");
    expect_error("data_dir: x\n---\ndata_dir: y\n", "only one YAML document");
    expect_error("data_dir: 'unterminated\n", "malformed YAML");
    expect_error("a: &x 1\nb: *x\n", "key 'a': unknown setting");
    expect_error("wal:\n  segment_bytes:\n    deeper: 1\n", "t.yaml:2:3: key 'wal.segment_bytes': expected a value or a section");
    expect_error("tenants:\n  default: ''\n", "key 'tenants.default': empty or too long");
    expect_error("spanmetrics:\n  buckets: [5ms, 1s, 500ms]\n", "t.yaml:2:22: key 'spanmetrics.buckets': buckets must be in ascending order");
    expect_error("spanmetrics:\n  buckets: [5 ms]\n", "a bucket is a duration such as 5ms");
    expect_error("spanmetrics:\n  buckets: []\n", "needs at least one bucket");
    expect_error("spanmetrics:\n  buckets: [1ms]\n  buckets: [2ms]\n", "key 'spanmetrics.buckets': given twice");
    expect_error("spanmetrics:\n  dimensions:\n    - http.route\n", "each dimension is a mapping with a name");
    expect_error("spanmetrics:\n  dimensions:\n    - default: x\n", "a dimension needs a name");
    expect_error("spanmetrics:\n  dimensions:\n    - name: a\n      color: red\n", "t.yaml:4:7: key 'spanmetrics.dimensions': a dimension has only name and default");
    expect_error("spanmetrics:\n  max_series: many\n", "is not an integer");
    expect_error("logs:\n  index_labels: []\n", "t.yaml:2:3: key 'logs.index_labels': needs at least one attribute name");
    expect_error("logs:\n  index_labels: [service.name, service.name]\n",
                 "t.yaml:2:32: key 'logs.index_labels': service.name is given twice");
    expect_error("logs:\n  index_labels: [a, {b: c}]\n", "each entry is a resource attribute name such as service.name");
    expect_error("logs:\n  index_labels: ['']\n", "each entry is a resource attribute name");
    expect_error("logs:\n  index_labels: [a]\n  index_labels: [b]\n", "key 'logs.index_labels': given twice");
    expect_error("spanmetrics:\n  enabled: yes\n", "\"yes\" is not true or false");
    expect_error("blocks:\n  retention: 2 weeks\n", "key 'blocks.retention': \"2 weeks\" is not a duration");
    expect_error("blocks:\n  retention: 0s\n", "is not a duration");
    expect_error("head:\n  flush_interval: 1.5s\n", "is not a duration");
    expect_error("blocks:\n  compaction_window: 99999999999999999999d\n", "is not a duration");
}

static void test_empty_file_changes_nothing(void **state) {
    tws_config c, before;
    tws_config_defaults(&c);
    before = c;
    char err[300] = "";
    assert_int_equal(tws_config_load_yaml(&c, "e.yaml", "", 0, err, sizeof err), 0);
    assert_int_equal(tws_config_load_yaml(&c, "e.yaml", "# only a comment\n", 17, err, sizeof err), 0);
    assert_memory_equal(&c, &before, sizeof c);
}

static void test_flags_override_the_file_in_any_order(void **state) {
    char path[] = "/tmp/tw-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, full, sizeof full - 1), (ssize_t)(sizeof full - 1));
    close(fd);
    char *argv[] = {"serve", "--max-trace-bytes", "7", "--config", path, "--data-dir=/flag/dir", NULL};
    tws_config c;
    tws_config_defaults(&c);
    char err[300] = "";
    assert_int_equal(tws_config_parse_args(&c, 6, argv, err, sizeof err), 0);
    assert_int_equal(c.max_trace_bytes, 7);              /* flag, although given before --config */
    assert_string_equal(c.data_dir, "/flag/dir");         /* flag */
    assert_string_equal(c.default_tenant, "acme");        /* file */
    char eq[600];
    snprintf(eq, sizeof eq, "--config=%s", path);
    char *argv2[] = {"serve", eq, NULL};
    tws_config_defaults(&c);
    assert_int_equal(tws_config_parse_args(&c, 2, argv2, err, sizeof err), 0);
    assert_string_equal(c.data_dir, "/var/lib/tracewire");
    unlink(path);
    char *argv3[] = {"serve", "--config", "/nonexistent/tw.yaml", NULL};
    assert_int_equal(tws_config_parse_args(&c, 3, argv3, err, sizeof err), -1);
    assert_non_null(strstr(err, "--config /nonexistent/tw.yaml: No such file or directory"));
}

static void test_flag_errors(void **state) {
    tws_config c;
    tws_config_defaults(&c);
    char err[300] = "";
    char *a1[] = {"serve", "--bogus", "1", NULL};
    assert_int_equal(tws_config_parse_args(&c, 3, a1, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown flag --bogus"));
    char *a2[] = {"serve", "--otlp-http-listen", "nope", NULL};
    assert_int_equal(tws_config_parse_args(&c, 3, a2, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not HOST:PORT"));
    char *a3[] = {"serve", "--max-request-bytes", NULL};
    assert_int_equal(tws_config_parse_args(&c, 2, a3, err, sizeof err), -1);
    assert_non_null(strstr(err, "needs a value"));
    char *a4[] = {"serve", "--max-trace-bytes", "12x", NULL};
    assert_int_equal(tws_config_parse_args(&c, 3, a4, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a non-negative integer"));
    char *a5[] = {"serve", "--retention", "forever", NULL};
    assert_int_equal(tws_config_parse_args(&c, 3, a5, err, sizeof err), -1);
    assert_non_null(strstr(err, "--retention: \"forever\" is not a duration"));
    char *a6[] = {"serve", "--retention", "36h", NULL};
    assert_int_equal(tws_config_parse_args(&c, 3, a6, err, sizeof err), 0);
    assert_int_equal(c.retention_s, 36 * 3600);
}

/* The RED series take one path unless both are asked for; settings that
 * would send them nowhere are refused, each with its reason. */
static void test_red_export(void **state) {
    static const struct {
        const char *yaml;
        int rc;
        uint8_t export;
        const char *msg;
    } cases[] = {
        {"", 0, TWS_RED_SCRAPE, NULL},
        {"spanmetrics:\n  remote_write_url: http://p:9090/api/v1/write\n", 0, TWS_RED_PUSH, NULL},
        {"spanmetrics:\n  export: scrape\n", 0, TWS_RED_SCRAPE, NULL},
        {"spanmetrics:\n  export: remote_write\n  remote_write_url: http://p:9090/api/v1/write\n", 0, TWS_RED_PUSH, NULL},
        {"spanmetrics:\n  export: both\n  remote_write_url: https://p/api/v1/write\n", 0,
         TWS_RED_SCRAPE | TWS_RED_PUSH, NULL},
        {"spanmetrics:\n  export: remote_write\n", -1, 0,
         "spanmetrics.export is remote_write but spanmetrics.remote_write_url is not set: there is nowhere to push"},
        {"spanmetrics:\n  export: both\n", -1, 0, "spanmetrics.export is both but spanmetrics.remote_write_url is not set"},
        {"spanmetrics:\n  export: scrape\n  remote_write_url: http://p:9090/api/v1/write\n", -1, 0,
         "spanmetrics.remote_write_url is set but spanmetrics.export is scrape: the metrics would not be pushed"},
        {"spanmetrics:\n  export: push\n", -1, 0, "spanmetrics.export: \"push\" is not scrape, remote_write or both"},
        {"spanmetrics:\n  enabled: false\n  remote_write_url: http://p:9090/api/v1/write\n", -1, 0,
         "spanmetrics.enabled is false: there is nothing to push"},
        {"spanmetrics:\n  remote_write_url: p:9090/api/v1/write\n", -1, 0, "is not an http:// or https:// URL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tws_config c;
        tws_config_defaults(&c);
        char err[400] = "";
        assert_int_equal(tws_config_load_yaml(&c, "r.yaml", cases[i].yaml, strlen(cases[i].yaml), err, sizeof err), 0);
        int rc = tws_config_check(&c, err, sizeof err);
        if (rc != cases[i].rc) fail_msg("case %zu: rc %d, err %s", i, rc, err);
        if (cases[i].msg && !strstr(err, cases[i].msg)) fail_msg("case %zu: got \"%s\"", i, err);
        if (rc == 0) assert_int_equal(c.red_export, cases[i].export);
    }
}

/* storage.backend and storage.s3: parsed, then checked as a whole. */
static void test_storage(void **state) {
    static const char s3[] = "storage:\n  backend: s3\n  s3:\n    endpoint: http://127.0.0.1:9000\n    bucket: traces\n"
                             "    region: eu-west-1\n    prefix: team-a/\n    access_key: AK\n    secret_key: SK\n"
                             "    list_page_size: 500\n    poll_interval: 2m\nblocks:\n  compactor: false\n";
    tws_config c;
    tws_config_defaults(&c);
    assert_string_equal(c.storage_backend, "local");
    assert_int_equal(c.s3.poll_interval_s, 30);
    assert_true(c.compactor);
    char err[400] = "";
    assert_int_equal(tws_config_load_yaml(&c, "s.yaml", s3, sizeof s3 - 1, err, sizeof err), 0);
    assert_int_equal(tws_config_check(&c, err, sizeof err), 0);
    assert_string_equal(c.storage_backend, "s3");
    assert_string_equal(c.s3.endpoint, "http://127.0.0.1:9000");
    assert_string_equal(c.s3.bucket, "traces");
    assert_string_equal(c.s3.region, "eu-west-1");
    assert_string_equal(c.s3.prefix, "team-a/");
    assert_string_equal(c.s3.access_key, "AK");
    assert_string_equal(c.s3.secret_key, "SK");
    assert_int_equal(c.s3.list_page_size, 500);
    assert_int_equal(c.s3.poll_interval_s, 120);
    assert_false(c.compactor);
    tws_config_free(&c);

    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"storage:\n  backend: disk\n", "storage.backend: \"disk\" is not local or s3"},
        {"storage:\n  backend: s3\n  s3:\n    bucket: b\n", "storage.backend is s3 but storage.s3.endpoint is not set"},
        {"storage:\n  backend: s3\n  s3:\n    endpoint: http://h:1\n", "storage.s3.bucket is not set"},
        {"storage:\n  s3:\n    bucket: b\n", "storage.s3 is set but storage.backend is local"},
        {"storage:\n  backend: s3\n  s3:\n    endpoint: http://h:1\n    bucket: b\n    prefix: a\n",
         "storage.s3.prefix \"a\": must end in '/'"},
        {"storage:\n  backend: s3\n  s3:\n    endpoint: http://h:1\n    bucket: b\n    prefix: a/../\n",
         "storage.s3.prefix \"a/../\": must end in '/' and be a valid key path"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tws_config_defaults(&c);
        err[0] = 0;
        assert_int_equal(tws_config_load_yaml(&c, "s.yaml", bad[i].yaml, strlen(bad[i].yaml), err, sizeof err), 0);
        if (tws_config_check(&c, err, sizeof err) != -1 || !strstr(err, bad[i].msg))
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
        tws_config_free(&c);
    }
    expect_error("storage:\n  s3:\n    bucket_name: b\n", "key 'storage.s3.bucket_name': unknown setting");
}

/* Which scrape URLs name a listener: by address and port, loopback names
 * alike, a wildcard listener standing for this host. */
static void test_scrape_url_matching(void **state) {
    static const struct {
        const char *url, *listen;
        int is;
    } cases[] = {
        {"http://127.0.0.1:3200/metrics", "127.0.0.1:3200", 1},
        {"http://localhost:3200/metrics", "127.0.0.1:3200", 1},
        {"http://[::1]:3200/metrics", "127.0.0.1:3200", 1},
        {"http://127.0.0.2:3200/metrics?x=1", "127.0.0.1:3200", 1},
        {"http://127.0.0.1:3200/metrics", "0.0.0.0:3200", 1},
        {"http://127.0.0.1:80/metrics", "[::]:80", 1},
        {"http://127.0.0.1/metrics", "127.0.0.1:80", 1},
        {"http://127.0.0.1:3201/metrics", "127.0.0.1:3200", 0},
        {"http://127.0.0.1:3200/federate", "127.0.0.1:3200", 0},
        {"http://127.0.0.1:3200/metricsx", "127.0.0.1:3200", 0},
        {"http://192.0.2.7:3200/metrics", "127.0.0.1:3200", 0},
        {"no scheme", "127.0.0.1:3200", 0},
        {"http://127.0.0.1:3200", "127.0.0.1:3200", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (tws_scrape_url_is(cases[i].url, cases[i].listen) != cases[i].is)
            fail_msg("%s against %s: expected %d", cases[i].url, cases[i].listen, cases[i].is);
    char d[200];
    assert_int_equal(tws_prometheus_scrapes_us("http://127.0.0.1:9/api/v1/push", "127.0.0.1:3200", 500, d, sizeof d),
                     TW_EINVAL);
    assert_non_null(strstr(d, "does not end in /api/v1/write"));
    /* port 9 (discard) on loopback: nothing listens, the check says it could not tell */
    assert_int_equal(tws_prometheus_scrapes_us("http://127.0.0.1:9/api/v1/write", "127.0.0.1:3200", 500, d, sizeof d),
                     TW_EIO);
    assert_non_null(strstr(d, "http://127.0.0.1:9/api/v1/targets?state=active"));
}

static void test_durations_ms(void **state) {
    double v;
    static const struct {
        const char *in;
        double ms;
    } ok[] = {{"5ms", 5}, {"1s", 1000}, {"1.5s", 1500}, {"250us", 0.25}, {"2m", 120000}, {"100ns", 0.0001}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        assert_int_equal(tws_parse_duration_ms(ok[i].in, &v), 0);
        assert_true(v > ok[i].ms * 0.999999 && v < ok[i].ms * 1.000001);
    }
    static const char *const bad[] = {"", "5", "ms", "-1ms", "5 ms", "5d", "nan", "1e99s"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(tws_parse_duration_ms(bad[i], &v), -1);
}

static void test_durations(void **state) {
    uint64_t v;
    static const struct {
        const char *in;
        uint64_t s;
    } ok[] = {{"45", 45}, {"45s", 45}, {"5m", 300}, {"336h", 336 * 3600}, {"14d", 14 * 86400}, {"2w", 14 * 86400}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        assert_int_equal(tws_parse_duration_s(ok[i].in, &v), 0);
        assert_int_equal(v, ok[i].s);
    }
    static const char *const bad[] = {"", "s", "-5s", "5 s", "5ms", "1.5h", "5y", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(tws_parse_duration_s(bad[i], &v), -1);
}

static void test_sizes(void **state) {
    uint64_t v;
    assert_int_equal(tws_parse_size("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(tws_parse_size("3KB", &v), 0);
    assert_int_equal(v, 3000);
    assert_int_equal(tws_parse_size("3KiB", &v), 0);
    assert_int_equal(v, 3072);
    assert_int_equal(tws_parse_size("16GiB", &v), 0);
    assert_int_equal(v, 16ull << 30);
    assert_int_equal(tws_parse_size("17179869184GiB", &v), -1); /* overflows */
    assert_int_equal(tws_parse_size("1.5GB", &v), -1);
    assert_int_equal(tws_parse_size("1kb", &v), -1);
    assert_int_equal(tws_parse_size("", &v), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_setting_from_yaml),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_empty_file_changes_nothing),
        cmocka_unit_test(test_flags_override_the_file_in_any_order),
        cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_durations_ms),
        cmocka_unit_test(test_red_export), cmocka_unit_test(test_storage),
        cmocka_unit_test(test_scrape_url_matching),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
