/*
 * test_spanmetrics.c — RED metrics from spans.
 *
 * Covered: one series per (service, name, kind, status) with counts, sum
 * and cumulative buckets; dimensions looked up in span then resource
 * attributes, with a fallback or no label; label values escaped and label
 * names made valid; the cardinality limit (10,000 distinct values give the
 * limit plus one overflow series holding the rest); adjusted counts from
 * `ot=th` thresholds (and malformed ones counting 1); rejected spans not
 * counted; exemplars only in OpenMetrics, in the bucket the span landed in;
 * the OpenMetrics rewrite of counter family names and the closing # EOF.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch_fixture.h"
#include "red/spanmetrics.h"
#include "serve/metrics.h"

static tw_str S(const char *s) { return (tw_str){s, strlen(s)}; }

/* One span of `dur_ms`, service `svc`, attribute route=`route` (NULL: none). */
static void one_span(tws_batch *b, const char *svc, const char *name, const char *route, double dur_ms,
                     const char *tracestate) {
    make_batch(b, 0x11, 1, 1, "v", 1000000000);
    tws_kv *r = tws_batch_alloc(b, sizeof *r);
    *r = (tws_kv){S("service.name"), {.type = TWS_STRING, .u.s = str(b, svc)}};
    b->resources[0].attrs = (tws_attrs){r, 1, 0};
    tws_span *s = &b->spans[0];
    s->name = str(b, name);
    s->end_ns = s->start_ns + (uint64_t)(dur_ms * 1e6);
    if (route) s->attrs.items[0] = (tws_kv){S("http.route"), {.type = TWS_STRING, .u.s = str(b, route)}};
    else s->attrs.n = 0;
    if (tracestate) s->trace_state = str(b, tracestate);
}

static char *render(tws_spanmetrics *sm, bool om) {
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_int_equal(tws_spanmetrics_render(sm, om, &b), 0);
    tw__buf_putc(&b, 0);
    return (char *)b.data;
}

static void test_series_counts_and_buckets(void **state) {
    tws_spanmetrics *sm;
    assert_int_equal(tws_spanmetrics_new(NULL, &sm), TW_OK);
    double durs[] = {3, 7, 7, 300, 9000};
    for (size_t i = 0; i < 5; i++) {
        tws_batch b;
        one_span(&b, "checkout", "GET /x", NULL, durs[i], NULL);
        tws_spanmetrics_add(sm, &b);
        tws_batch_free(&b);
    }
    tws_batch b; /* a rejected span is not counted */
    one_span(&b, "checkout", "GET /x", NULL, 1, NULL);
    b.spans[0].reject = TWS_REJECT_LIMIT;
    tws_spanmetrics_add(sm, &b);
    tws_batch_free(&b);
    char *t = render(sm, false);
    const char *l = "service_name=\"checkout\",span_name=\"GET /x\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\"";
    char want[512];
    snprintf(want, sizeof want, "traces_span_metrics_calls_total{%s} 5\n", l);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof want, "_bucket{%s,le=\"5\"} 1\n", l);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof want, "_bucket{%s,le=\"10\"} 3\n", l);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof want, "_bucket{%s,le=\"500\"} 4\n", l);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof want, "_bucket{%s,le=\"5000\"} 4\n", l);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof want, "_bucket{%s,le=\"+Inf\"} 5\n", l);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof want, "_sum{%s} 9317\n", l);
    assert_non_null(strstr(t, want));
    assert_null(strstr(t, "# {trace_id")); /* no exemplars in the Prometheus text format */
    assert_non_null(strstr(t, "# TYPE traces_span_metrics_calls_total counter"));
    free(t);
    t = render(sm, true);
    assert_non_null(strstr(t, "# TYPE traces_span_metrics_calls counter"));
    /* the 9 s span's exemplar is on the +Inf bucket, with its ids and value */
    snprintf(want, sizeof want,
             "_bucket{%s,le=\"+Inf\"} 5 # {trace_id=\"11111111111111111111111111111111\",span_id=\"0101010101010101\"} 9000 ", l);
    assert_non_null(strstr(t, want));
    free(t);
    tws_spanmetrics_free(sm);
}

static void test_dimensions(void **state) {
    tws_spanmetrics_options o = {.n_dims = 2};
    strcpy(o.dims[0].name, "http.route");
    strcpy(o.dims[1].name, "deployment.environment");
    strcpy(o.dims[1].fallback, "none");
    tws_spanmetrics *sm;
    assert_int_equal(tws_spanmetrics_new(&o, &sm), TW_OK);
    tws_batch b;
    one_span(&b, "a\"b\\c", "op", "/orders/{id}", 1, NULL);
    tws_kv *r = tws_batch_alloc(&b, 2 * sizeof *r); /* the environment from the resource */
    r[0] = b.resources[0].attrs.items[0];
    r[1] = (tws_kv){S("deployment.environment"), {.type = TWS_STRING, .u.s = S("prod")}};
    b.resources[0].attrs = (tws_attrs){r, 2, 0};
    tws_spanmetrics_add(sm, &b);
    tws_batch_free(&b);
    one_span(&b, "svc", "op", NULL, 1, NULL); /* no route: no label; no environment: the fallback */
    tws_spanmetrics_add(sm, &b);
    tws_batch_free(&b);
    char *t = render(sm, false);
    assert_non_null(strstr(t, "{service_name=\"a\\\"b\\\\c\",span_name=\"op\",span_kind=\"SPAN_KIND_SERVER\","
                              "status_code=\"STATUS_CODE_UNSET\",http_route=\"/orders/{id}\",deployment_environment=\"prod\"} 1\n"));
    assert_non_null(strstr(t, "{service_name=\"svc\",span_name=\"op\",span_kind=\"SPAN_KIND_SERVER\","
                              "status_code=\"STATUS_CODE_UNSET\",deployment_environment=\"none\"} 1\n"));
    free(t);
    tws_spanmetrics_free(sm);
}

static void test_cardinality_limit(void **state) {
    tws_spanmetrics_options o = {.n_dims = 1, .max_series = 100};
    strcpy(o.dims[0].name, "http.route");
    tws_spanmetrics *sm;
    assert_int_equal(tws_spanmetrics_new(&o, &sm), TW_OK);
    for (int i = 0; i < 10000; i++) {
        char route[32];
        snprintf(route, sizeof route, "/user/%d", i);
        tws_batch b;
        one_span(&b, "svc", "op", route, 1, NULL);
        tws_spanmetrics_add(sm, &b);
        tws_batch_free(&b);
    }
    tws_spanmetrics_stats st;
    tws_spanmetrics_get_stats(sm, &st);
    assert_int_equal(st.series, 101);
    assert_int_equal(st.overflowed_spans, 9900);
    char *t = render(sm, false);
    assert_non_null(strstr(t, "traces_span_metrics_calls_total{otel_metric_overflow=\"true\"} 9900\n"));
    free(t);
    tws_spanmetrics_free(sm);
}

static void test_adjusted_counts(void **state) {
    struct {
        const char *ts;
        double want;
    } cases[] = {
        {"", 1}, {"ot=th:8", 2}, {"ot=th:c", 4}, {"ot=th:e", 8}, {"ot=th:0", 1},
        {"rojo=00f067aa0ba902b7,ot=rv:abcdef01234567;th:fc", 64}, {"ot=th:", 1}, {"ot=th:zz", 1},
        {"ot=th:123456789abcdef0", 1}, {"congo=t61rcWkgMzE,ot=th:8", 2}, {"xot=th:8", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double got = tws_adjusted_count(S(cases[i].ts));
        if (got < cases[i].want - 1e-9 || got > cases[i].want + 1e-9)
            fail_msg("\"%s\": %g, expected %g", cases[i].ts, got, cases[i].want);
    }
    tws_spanmetrics *sm;
    assert_int_equal(tws_spanmetrics_new(NULL, &sm), TW_OK);
    tws_batch b;
    one_span(&b, "svc", "sampled", NULL, 1, "ot=th:c");
    tws_spanmetrics_add(sm, &b);
    tws_batch_free(&b);
    char *t = render(sm, false);
    assert_non_null(strstr(t, "span_name=\"sampled\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\"} 4\n"));
    free(t);
    tws_spanmetrics_free(sm);
}

static void test_openmetrics_rewrite(void **state) {
    tw__buf in, out;
    tw__buf_init(&in, 0);
    tw__buf_init(&out, 0);
    tw__buf_puts(&in, "# HELP a_total Things.\n# TYPE a_total counter\na_total 3\n# TYPE g gauge\ng 1\n");
    tws_metrics_to_openmetrics(&in, &out);
    tw__buf_putc(&out, 0);
    assert_string_equal((char *)out.data, "# HELP a Things.\n# TYPE a counter\na_total 3\n# TYPE g gauge\ng 1\n# EOF\n");
    tw__buf_free(&in);
    tw__buf_free(&out);
}

static void test_bad_options(void **state) {
    tws_spanmetrics_options o = {.n_buckets = 2, .buckets_ms = {10, 5}};
    tws_spanmetrics *sm;
    assert_int_equal(tws_spanmetrics_new(&o, &sm), TW_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_counts_and_buckets), cmocka_unit_test(test_dimensions),
        cmocka_unit_test(test_cardinality_limit),         cmocka_unit_test(test_adjusted_counts),
        cmocka_unit_test(test_openmetrics_rewrite),       cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
