/*
 * test_tqmetrics.c — TraceQL metrics over a fixed data set in a head:
 * every function's exact values per interval, by() with one and two
 * labels and nil values, the Prometheus label strings and their order,
 * quantiles by the log2-bucket algorithm (interpolation included),
 * histogram buckets, topk/bottomk per interval with ties, exemplars (one
 * per trace, their values, the cap), interval boundaries, the series cap,
 * and the same answers from a block, also while the frozen head the block
 * was written from is still readable (each span counted once), and from
 * blocks scanned by several threads for every function.
 *
 * The window is (T0, T0 + 60 s] in steps of 10 s: six intervals, stamped
 * T0 + 10 s ... T0 + 60 s. Spans (offset from T0, duration):
 *
 *   trace svc   route  bytes  offset  duration  interval
 *   1     api   /a     100    1 s     100 ms    0
 *   1     api   /a     300    5 s     300 ms    0
 *   1     api   /b     50     10 s    1 s       0   (exactly at an interval's end)
 *   2     api   /b            15 s    50 ms     1
 *   2     api          20     20 s    200 ms    1
 *   3     db                  0 s     10 ms     -   (exactly at start: out)
 *   3     db           7      25 s    10 ms     2
 *   3     db                  59 s    2 s       5
 *   4     db    /a            60 s    400 ms    5   (exactly at end: in)
 *   4     db                  61 s    1 ms      -   (after end: out)
 *   5     (no service.name)   35 s    5 ms      3
 *   6     api   /c            41 s    3 ms      4
 *   6     api   /c            42-44 s 10 ms x3  4
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fs_util.h"
#include "search/metrics.h"

#define S 1000000000ull
#define MS 1000000ull
#define T0 (1700000000ull * S)

typedef struct fx {
    int trace;
    const char *svc, *route;
    int bytes; /* -1: none */
    uint64_t off_ms, dur_ms;
} fx;

static const fx DATA[] = {
    {1, "api", "/a", 100, 1000, 100},  {1, "api", "/a", 300, 5000, 300},   {1, "api", "/b", 50, 10000, 1000},
    {2, "api", "/b", -1, 15000, 50},   {2, "api", NULL, 20, 20000, 200},   {3, "db", NULL, -1, 0, 10},
    {3, "db", NULL, 7, 25000, 10},     {3, "db", NULL, -1, 59000, 2000},   {4, "db", "/a", -1, 60000, 400},
    {4, "db", NULL, -1, 61000, 1},     {5, NULL, NULL, -1, 35000, 5},      {6, "api", "/c", -1, 41000, 3},
    {6, "api", "/c", -1, 42000, 10},   {6, "api", "/c", -1, 43000, 10},    {6, "api", "/c", -1, 44000, 10},
};

static tws_head *HEAD;

static tw_str bstr(tws_batch *b, const char *s) {
    size_t n = strlen(s);
    char *d = tws_batch_alloc(b, n + 1);
    memcpy(d, s, n + 1);
    return (tw_str){d, n};
}

static void add_trace(int trace) {
    tws_batch b;
    tws_batch_init(&b);
    uint32_t n = 0;
    const char *svc = NULL;
    for (size_t i = 0; i < TW_ARRAY_LEN(DATA); i++)
        if (DATA[i].trace == trace) n++, svc = DATA[i].svc;
    b.resources = tws_batch_alloc(&b, sizeof *b.resources);
    memset(b.resources, 0, sizeof *b.resources);
    b.n_resources = 1;
    if (svc) {
        b.resources[0].attrs.items = tws_batch_alloc(&b, sizeof(tws_kv));
        b.resources[0].attrs.items[0] = (tws_kv){bstr(&b, "service.name"), {.type = TWS_STRING, .u.s = bstr(&b, svc)}};
        b.resources[0].attrs.n = 1;
    }
    b.scopes = tws_batch_alloc(&b, sizeof *b.scopes);
    memset(b.scopes, 0, sizeof *b.scopes);
    b.n_scopes = 1;
    b.spans = tws_batch_alloc(&b, n * sizeof *b.spans);
    memset(b.spans, 0, n * sizeof *b.spans);
    for (size_t i = 0; i < TW_ARRAY_LEN(DATA); i++) {
        const fx *f = &DATA[i];
        if (f->trace != trace) continue;
        tws_span *s = &b.spans[b.n_spans];
        s->trace_id[0] = 0xab; /* no leading zeros in hex */
        s->trace_id[15] = (uint8_t)trace;
        s->span_id[0] = (uint8_t)trace;
        s->span_id[7] = (uint8_t)(b.n_spans + 1);
        s->name = bstr(&b, "op");
        s->kind = 2;
        s->start_ns = T0 + f->off_ms * MS;
        s->end_ns = s->start_ns + f->dur_ms * MS;
        s->attrs.items = tws_batch_alloc(&b, 2 * sizeof(tws_kv));
        if (f->route)
            s->attrs.items[s->attrs.n++] = (tws_kv){bstr(&b, "http.route"), {.type = TWS_STRING, .u.s = bstr(&b, f->route)}};
        if (f->bytes >= 0)
            s->attrs.items[s->attrs.n++] = (tws_kv){bstr(&b, "bytes"), {.type = TWS_INT, .u.i = f->bytes}};
        b.n_spans++;
    }
    assert_int_equal(tws_head_add(HEAD, "t", &b, 4096), TW_OK);
}

static int setup(void **state) {
    (void)state;
    if (tws_head_new(NULL, &HEAD)) return -1;
    for (int t = 1; t <= 6; t++) add_trace(t);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tws_head_free(HEAD);
    return 0;
}

/* ---- running a query ------------------------------------------------------------ */

typedef struct run_opts {
    uint64_t start, end, step;
    uint32_t exemplars, max_series;
} run_opts;

static tq_query *QUERY;

static tws_tqm_result run_opt(const char *text, run_opts o) {
    char err[256];
    assert_int_equal(tq_parse(text, strlen(text), &QUERY, err), TW_OK);
    tws_tqm_req req = {.q = QUERY, .tenant = "t", .start_ns = o.start ? o.start : T0,
                       .end_ns = o.end ? o.end : T0 + 60 * S, .step_ns = o.step ? o.step : 10 * S,
                       .max_exemplars = o.exemplars, .max_series = o.max_series};
    tws_tqm_result r;
    int rc = tws_tqm_run(&req, HEAD, NULL, NULL, &r, err);
    if (rc) fail_msg("%s: %s", text, err);
    assert_string_equal(err, "");
    return r;
}

static tws_tqm_result run(const char *text) { return run_opt(text, (run_opts){0}); }

static void done(tws_tqm_result *r) {
    tws_tqm_result_free(r);
    tq_query_free(QUERY);
    QUERY = NULL;
}

static void prom_is(const tws_tqm_series *s, const char *want) {
    char got[512];
    snprintf(got, sizeof got, "%.*s", (int)s->prom_len, s->prom);
    assert_string_equal(got, want);
}

/* Values per interval; NAN where there must be no sample. */
static void values_are(const tws_tqm_series *s, uint32_t n, const double *want) {
    for (uint32_t i = 0; i < n; i++) {
        if (isnan(want[i])) {
            if (!isnan(s->values[i])) fail_msg("interval %u: expected no sample, got %.17g", i, s->values[i]);
        } else if (isnan(s->values[i]) || fabs(s->values[i] - want[i]) > 1e-12 * fmax(1, fabs(want[i]))) {
            fail_msg("interval %u: expected %.17g, got %.17g", i, want[i], s->values[i]);
        }
    }
}

#define N6 6
#define X NAN

/* ---- the functions ---------------------------------------------------------------- */

static void test_rate_and_count(void **state) {
    (void)state;
    tws_tqm_result r = run("{ } | count_over_time()");
    assert_int_equal(r.n_intervals, 6);
    assert_int_equal(r.n, 1);
    prom_is(&r.series[0], "{__name__=\"count_over_time\"}");
    assert_int_equal(r.series[0].n_labels, 1);
    assert_string_equal(r.series[0].labels[0].key, "__name__");
    assert_int_equal(r.series[0].labels[0].val.t, TQ_STRING);
    values_are(&r.series[0], N6, (double[]){3, 2, 1, 1, 4, 2});
    assert_int_equal(r.spans, 13);
    assert_int_equal(tws_tqm_interval_end(&r, 0), T0 + 10 * S);
    assert_int_equal(tws_tqm_interval_end(&r, 5), T0 + 60 * S);
    done(&r);

    r = run("{ } | rate()");
    prom_is(&r.series[0], "{__name__=\"rate\"}");
    values_are(&r.series[0], N6, (double[]){0.3, 0.2, 0.1, 0.1, 0.4, 0.2});
    done(&r);

    /* a filter: errors only — none — still one line of zeros */
    r = run("{ status = error } | rate()");
    assert_int_equal(r.n, 1);
    values_are(&r.series[0], N6, (double[]){0, 0, 0, 0, 0, 0});
    done(&r);

    r = run("{ span.http.route = \"/a\" } | count_over_time()");
    values_are(&r.series[0], N6, (double[]){2, 0, 0, 0, 0, 1});
    done(&r);
}

static void test_over_time_duration(void **state) {
    (void)state;
    tws_tqm_result r = run("{ } | min_over_time(duration)");
    assert_int_equal(r.n, 1);
    prom_is(&r.series[0], "{__name__=\"min_over_time\"}");
    values_are(&r.series[0], N6, (double[]){0.1, 0.05, 0.01, 0.005, 0.003, 0.4});
    done(&r);
    r = run("{ } | max_over_time(duration)");
    values_are(&r.series[0], N6, (double[]){1.0, 0.2, 0.01, 0.005, 0.01, 2.0});
    done(&r);
    r = run("{ } | sum_over_time(duration)");
    values_are(&r.series[0], N6, (double[]){1.4, 0.25, 0.01, 0.005, 0.033, 2.4});
    done(&r);
    r = run("{ } | avg_over_time(duration)");
    values_are(&r.series[0], N6, (double[]){1.4 / 3, 0.125, 0.01, 0.005, 0.00825, 1.2});
    done(&r);
}

static void test_over_time_attribute(void **state) {
    (void)state;
    /* only spans with the attribute count; intervals without one have no sample */
    tws_tqm_result r = run("{ } | sum_over_time(span.bytes)");
    values_are(&r.series[0], N6, (double[]){450, 20, 7, X, X, X});
    done(&r);
    r = run("{ } | min_over_time(span.bytes)");
    values_are(&r.series[0], N6, (double[]){50, 20, 7, X, X, X});
    done(&r);
    r = run("{ } | max_over_time(.bytes)");
    values_are(&r.series[0], N6, (double[]){300, 20, 7, X, X, X});
    done(&r);
    r = run("{ } | avg_over_time(span.bytes) by (resource.service.name)");
    assert_int_equal(r.n, 2); /* the no-service span has no bytes: no series */
    prom_is(&r.series[0], "{\"resource.service.name\"=\"api\"}");
    values_are(&r.series[0], N6, (double[]){150, 20, X, X, X, X});
    prom_is(&r.series[1], "{\"resource.service.name\"=\"db\"}");
    values_are(&r.series[1], N6, (double[]){X, X, 7, X, X, X});
    done(&r);
    /* a series with no sample at all is dropped */
    r = run("{ } | max_over_time(span.nothing)");
    assert_int_equal(r.n, 0);
    done(&r);
}

static void test_log2_quantile(void **state) {
    (void)state;
    /* Tempo's own case: 128, 256 and 512 ns in one interval */
    double b[3] = {128e-9, 256e-9, 512e-9};
    uint64_t c[3] = {1, 1, 1};
    assert_true(tws_tqm_log2_quantile(0, b, c, 3) == 128e-9);
    assert_true(tws_tqm_log2_quantile(0.5, b, c, 3) == 256e-9);
    assert_true(tws_tqm_log2_quantile(1, b, c, 3) == 512e-9);
    /* inside the first bucket: from half its bound, exponentially */
    double b1[1] = {8};
    uint64_t c1[1] = {4};
    assert_true(fabs(tws_tqm_log2_quantile(0.5, b1, c1, 1) - pow(2, 2 + 0.5)) < 1e-12);
    /* inside a later bucket: from the previous bound */
    double b2[2] = {2, 32};
    uint64_t c2[2] = {1, 4};
    /* 5 samples, p 0.6: want 3; 1 below, 2 of the 4 in (2, 32] -> 2^(1 + 4 * 0.5) */
    assert_true(fabs(tws_tqm_log2_quantile(0.6, b2, c2, 2) - 8) < 1e-12);
    assert_true(tws_tqm_log2_quantile(0.5, b2, c2, 0) == 0);
    assert_true(tws_tqm_log2_quantile(1.5, b2, c2, 2) == 0);
}

static void test_quantile_over_time(void **state) {
    (void)state;
    tws_tqm_result r = run("{ } | quantile_over_time(duration, .5, .9, .99)");
    assert_int_equal(r.n, 3);
    prom_is(&r.series[0], "{p=\"0.5\"}");
    prom_is(&r.series[1], "{p=\"0.9\"}");
    prom_is(&r.series[2], "{p=\"0.99\"}");
    assert_int_equal(r.series[0].n_labels, 1);
    assert_string_equal(r.series[0].labels[0].key, "p");
    assert_int_equal(r.series[0].labels[0].val.t, TQ_FLOAT);
    assert_true(r.series[0].labels[0].val.u.f == 0.5);
    /* buckets (seconds): 100 ms -> 2^27 ns, 300 ms -> 2^29, 1 s -> 2^30, 50 ms -> 2^26,
     * 200 ms -> 2^28, 10 ms -> 2^24, 5 ms -> 2^23, 3 ms -> 2^22, 400 ms -> 2^29, 2 s -> 2^31 */
    const double b22 = 4194304e-9, b23 = 8388608e-9, b24 = 16777216e-9, b26 = 67108864e-9, b28 = 268435456e-9,
                 b29 = 536870912e-9, b30 = 1073741824e-9, b31 = 2147483648e-9;
    /* interval 4: one 3 ms, three 10 ms; p 0.5 wants 2: 1 below, 1 of 3 in (2^22, 2^24] */
    double p50_4 = pow(2, log2(b22) + (log2(b24) - log2(b22)) / 3);
    values_are(&r.series[0], N6, (double[]){b29, b26, b24, b23, p50_4, b29});
    values_are(&r.series[1], N6, (double[]){b30, b28, b24, b23, b24, b31});
    values_are(&r.series[2], N6, (double[]){b30, b28, b24, b23, b24, b31});
    done(&r);

    /* with by(): empty intervals are 0 (a sample without a value), as Tempo's */
    r = run("{ } | quantile_over_time(duration, 1) by (resource.service.name)");
    assert_int_equal(r.n, 3);
    prom_is(&r.series[0], "{p=\"1.0\", \"resource.service.name\"=\"api\"}"); /* names sorted */
    values_are(&r.series[0], N6, (double[]){b30, b28, 0, 0, b24, 0});
    prom_is(&r.series[1], "{p=\"1.0\", \"resource.service.name\"=\"db\"}");
    values_are(&r.series[1], N6, (double[]){0, 0, b24, 0, 0, b31});
    /* the nil service: no by() label left, only p */
    prom_is(&r.series[2], "{p=\"1.0\"}");
    values_are(&r.series[2], N6, (double[]){0, 0, 0, b23, 0, 0});
    assert_int_equal(r.series[0].n_labels, 2);
    assert_string_equal(r.series[0].labels[1].key, "p");
    done(&r);

    /* integers bucket as they are: 100 -> 128, 300 -> 512, 50 -> 64, 20 -> 32, 7 -> 8 */
    r = run("{ } | quantile_over_time(span.bytes, 0.5)");
    values_are(&r.series[0], N6, (double[]){128, 32, 8, 0, 0, 0});
    done(&r);
}

static void test_histogram_over_time(void **state) {
    (void)state;
    tws_tqm_result r = run("{ } | histogram_over_time(duration)");
    /* nine distinct buckets, sorted by their text */
    assert_int_equal(r.n, 9);
    const char *want[] = {"{__bucket=\"0.004194304\"}", "{__bucket=\"0.008388608\"}", "{__bucket=\"0.016777216\"}",
                          "{__bucket=\"0.067108864\"}", "{__bucket=\"0.134217728\"}", "{__bucket=\"0.268435456\"}",
                          "{__bucket=\"0.536870912\"}", "{__bucket=\"1.073741824\"}", "{__bucket=\"2.147483648\"}"};
    for (uint32_t i = 0; i < r.n; i++) prom_is(&r.series[i], want[i]);
    assert_string_equal(r.series[2].labels[0].key, "__bucket");
    assert_int_equal(r.series[2].labels[0].val.t, TQ_FLOAT);
    assert_true(r.series[2].labels[0].val.u.f == 16777216e-9);
    values_are(&r.series[2], N6, (double[]){0, 0, 1, 0, 3, 0});
    values_are(&r.series[6], N6, (double[]){1, 0, 0, 0, 0, 1});
    assert_int_equal(r.series[2].n_exemplars, 0);
    done(&r);

    r = run_opt("{ } | histogram_over_time(duration) by (resource.service.name)", (run_opts){.exemplars = 10});
    prom_is(&r.series[0], "{__bucket=\"0.004194304\", \"resource.service.name\"=\"api\"}");
    for (uint32_t i = 0; i < r.n; i++) assert_int_equal(r.series[i].n_exemplars, 0); /* histograms carry none */
    done(&r);
}

/* ---- labels --------------------------------------------------------------------------- */

static void test_by_one_label(void **state) {
    (void)state;
    tws_tqm_result r = run("{ } | count_over_time() by (resource.service.name)");
    assert_int_equal(r.n, 3);
    /* "<nil>" sorts before letters */
    prom_is(&r.series[0], "{\"resource.service.name\"=\"<nil>\"}");
    assert_int_equal(r.series[0].n_labels, 1);
    assert_string_equal(r.series[0].labels[0].key, "resource.service.name");
    assert_int_equal(r.series[0].labels[0].val.t, TQ_NIL);
    assert_int_equal(r.series[0].n_by, 0);
    values_are(&r.series[0], N6, (double[]){0, 0, 0, 1, 0, 0});
    prom_is(&r.series[1], "{\"resource.service.name\"=\"api\"}");
    assert_int_equal(r.series[1].labels[0].val.t, TQ_STRING);
    assert_int_equal(r.series[1].n_by, 1);
    values_are(&r.series[1], N6, (double[]){3, 2, 0, 0, 4, 0});
    prom_is(&r.series[2], "{\"resource.service.name\"=\"db\"}");
    values_are(&r.series[2], N6, (double[]){0, 0, 1, 0, 0, 2});
    done(&r);

    /* unscoped and intrinsic keys, exactly as written */
    r = run("{ } | count_over_time() by (.http.route)");
    prom_is(&r.series[0], "{\".http.route\"=\"/a\"}");
    done(&r);
    r = run("{ resource.service.name = \"db\" } | count_over_time() by (status)");
    assert_int_equal(r.n, 1);
    prom_is(&r.series[0], "{status=\"unset\"}");
    assert_int_equal(r.series[0].labels[0].val.t, TQ_STATUS);
    done(&r);
    /* an integer label */
    r = run("{ } | count_over_time() by (span.bytes)");
    prom_is(&r.series[0], "{\"span.bytes\"=\"100\"}");
    assert_int_equal(r.series[0].labels[0].val.t, TQ_INT);
    done(&r);
}

static void test_by_two_labels_and_nils(void **state) {
    (void)state;
    tws_tqm_result r = run("{ } | count_over_time() by (resource.service.name, span.http.route)");
    const char *want[] = {
        "{\"resource.service.name\"=\"<nil>\"}",
        "{\"resource.service.name\"=\"api\", \"span.http.route\"=\"/a\"}",
        "{\"resource.service.name\"=\"api\", \"span.http.route\"=\"/b\"}",
        "{\"resource.service.name\"=\"api\", \"span.http.route\"=\"/c\"}",
        "{\"resource.service.name\"=\"api\"}",
        "{\"resource.service.name\"=\"db\", \"span.http.route\"=\"/a\"}",
        "{\"resource.service.name\"=\"db\"}",
    };
    assert_int_equal(r.n, 7);
    for (uint32_t i = 0; i < r.n; i++) prom_is(&r.series[i], want[i]);
    values_are(&r.series[1], N6, (double[]){2, 0, 0, 0, 0, 0});
    values_are(&r.series[2], N6, (double[]){1, 1, 0, 0, 0, 0});
    values_are(&r.series[4], N6, (double[]){0, 1, 0, 0, 0, 0}); /* api without a route */
    values_are(&r.series[6], N6, (double[]){0, 0, 1, 0, 0, 1});
    /* label order is the by() order; nil labels are left out */
    assert_int_equal(r.series[1].n_labels, 2);
    assert_string_equal(r.series[1].labels[0].key, "resource.service.name");
    assert_string_equal(r.series[1].labels[1].key, "span.http.route");
    assert_int_equal(r.series[4].n_labels, 1);
    done(&r);

    /* every value nil: the first label, nil */
    r = run("{ } | count_over_time() by (span.http.route, span.nothing)");
    prom_is(&r.series[0], "{\"span.http.route\"=\"/a\"}");
    prom_is(&r.series[3], "{\"span.http.route\"=\"<nil>\"}");
    assert_int_equal(r.series[3].labels[0].val.t, TQ_NIL);
    values_are(&r.series[3], N6, (double[]){0, 1, 1, 1, 0, 1});
    done(&r);
}

/* ---- second stage ---------------------------------------------------------------------- */

static void test_topk_bottomk(void **state) {
    (void)state;
    tws_tqm_result r = run("{ } | count_over_time() by (resource.service.name) | topk(1)");
    assert_int_equal(r.n, 3);
    prom_is(&r.series[0], "{\"resource.service.name\"=\"<nil>\"}");
    values_are(&r.series[0], N6, (double[]){X, X, X, 1, X, X});
    prom_is(&r.series[1], "{\"resource.service.name\"=\"api\"}");
    values_are(&r.series[1], N6, (double[]){3, 2, X, X, 4, X});
    values_are(&r.series[2], N6, (double[]){X, X, 1, X, X, 2});
    done(&r);

    /* the smallest: zeros tie, and the series that sorts first wins; db never ranks */
    r = run("{ } | count_over_time() by (resource.service.name) | bottomk(1)");
    assert_int_equal(r.n, 2);
    prom_is(&r.series[0], "{\"resource.service.name\"=\"<nil>\"}");
    values_are(&r.series[0], N6, (double[]){0, 0, 0, X, 0, 0});
    prom_is(&r.series[1], "{\"resource.service.name\"=\"api\"}");
    values_are(&r.series[1], N6, (double[]){X, X, X, 0, X, X});
    done(&r);

    /* over values that are missing in places */
    r = run("{ } | max_over_time(duration) by (resource.service.name) | bottomk(1)");
    assert_int_equal(r.n, 3);
    values_are(&r.series[1], N6, (double[]){1.0, 0.2, X, X, 0.01, X});
    values_are(&r.series[2], N6, (double[]){X, X, 0.01, X, X, 2.0});
    done(&r);
}

/* ---- exemplars ------------------------------------------------------------------------- */

static bool has_span_of(int trace, uint64_t ts_ms) {
    for (size_t i = 0; i < TW_ARRAY_LEN(DATA); i++)
        if (DATA[i].trace == trace && (T0 + DATA[i].off_ms * MS) / MS == ts_ms && DATA[i].off_ms > 0 &&
            DATA[i].off_ms <= 60000)
            return true;
    return false;
}

static void check_exemplar_trace(const tws_tqm_exemplar *e, int *seen) {
    assert_int_equal(e->trace_id[0], 0xab);
    int t = e->trace_id[15];
    assert_true(t >= 1 && t <= 6);
    assert_false(seen[t]); /* one per trace */
    seen[t] = 1;
    assert_true(has_span_of(t, e->ts_ms)); /* a span of that trace, inside the window */
}

static void test_exemplars(void **state) {
    (void)state;
    tws_tqm_result r = run_opt("{ } | count_over_time()", (run_opts){.exemplars = 100});
    int seen[8] = {0};
    assert_int_equal(r.series[0].n_exemplars, 6);
    for (uint32_t i = 0; i < r.series[0].n_exemplars; i++) {
        const tws_tqm_exemplar *e = &r.series[0].exemplars[i];
        check_exemplar_trace(e, seen);
        /* count and rate: the sample's value of the exemplar's interval */
        assert_true(e->value == r.series[0].values[e->interval]);
        assert_int_equal((T0 + 10 * S * e->interval) / MS < e->ts_ms, 1);
        assert_true(e->ts_ms <= tws_tqm_interval_end(&r, e->interval) / MS);
    }
    done(&r);

    /* the cap */
    r = run_opt("{ } | rate()", (run_opts){.exemplars = 2});
    assert_int_equal(r.series[0].n_exemplars, 2);
    done(&r);
    r = run("{ } | rate()");
    assert_int_equal(r.series[0].n_exemplars, 0);
    done(&r);

    /* by(): each exemplar in its span's series; the value is the span's duration */
    r = run_opt("{ } | max_over_time(duration) by (resource.service.name)", (run_opts){.exemplars = 100});
    memset(seen, 0, sizeof seen);
    uint32_t total = 0;
    for (uint32_t k = 0; k < r.n; k++) {
        for (uint32_t i = 0; i < r.series[k].n_exemplars; i++) {
            const tws_tqm_exemplar *e = &r.series[k].exemplars[i];
            check_exemplar_trace(e, seen);
            int t = e->trace_id[15];
            const char *svc = t == 5 ? NULL : (t == 3 || t == 4) ? "db" : "api";
            if (svc) assert_int_equal(memcmp(r.series[k].labels[0].val.u.s, svc, strlen(svc)), 0);
            else assert_int_equal(r.series[k].labels[0].val.t, TQ_NIL);
            bool match = false;
            for (size_t d = 0; d < TW_ARRAY_LEN(DATA); d++)
                if (DATA[d].trace == t && (T0 + DATA[d].off_ms * MS) / MS == e->ts_ms)
                    match |= fabs((double)DATA[d].dur_ms / 1000 - e->value) < 1e-12;
            assert_true(match);
            total++;
        }
    }
    assert_int_equal(total, 6);
    done(&r);

    /* quantiles: each exemplar goes to one quantile's series */
    r = run_opt("{ } | quantile_over_time(duration, .5, .99)", (run_opts){.exemplars = 100});
    assert_int_equal(r.n, 2);
    assert_int_equal(r.series[0].n_exemplars + r.series[1].n_exemplars, 6);
    done(&r);
}

/* ---- the window and the caps ------------------------------------------------------------ */

static void test_interval_boundaries(void **state) {
    (void)state;
    /* (T0 + 10 s, T0 + 20 s]: 15 s and 20 s, not the span at 10 s */
    tws_tqm_result r = run_opt("{ } | count_over_time()", (run_opts){.start = T0 + 10 * S, .end = T0 + 20 * S});
    assert_int_equal(r.n_intervals, 1);
    values_are(&r.series[0], 1, (double[]){2});
    done(&r);
    /* a step that does not divide the range: the last interval runs past end, spans after end still out */
    r = run_opt("{ } | count_over_time()", (run_opts){.step = 25 * S});
    assert_int_equal(r.n_intervals, 3);
    values_are(&r.series[0], 3, (double[]){6, 5, 2});
    done(&r);
    /* one step: an instant query */
    r = run_opt("{ } | rate()", (run_opts){.step = 60 * S});
    values_are(&r.series[0], 1, (double[]){13.0 / 60});
    done(&r);
}

static void test_series_cap(void **state) {
    (void)state;
    tws_tqm_result r = run_opt("{ } | count_over_time() by (span.http.route)", (run_opts){.max_series = 2});
    assert_true(r.partial);
    assert_int_equal(r.max_series, 2);
    assert_int_equal(r.n, 2);
    done(&r);
    r = run_opt("{ } | count_over_time() by (span.http.route)", (run_opts){.max_series = 4});
    assert_false(r.partial);
    assert_int_equal(r.n, 4);
    done(&r);
    r = run_opt("{ } | histogram_over_time(duration)", (run_opts){.max_series = 3});
    assert_true(r.partial);
    assert_int_equal(r.n, 3);
    done(&r);
}

/* A store in a fresh directory (its name into dir) holding HEAD's spans in
 * a block of row groups of `rg_spans` spans (0: the default). */
static tws_store *store_of_head(char dir[64], uint32_t rg_spans) {
    char blocks[96], st_dir[96], err[256];
    strcpy(dir, "/tmp/tw-tqm-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(blocks, sizeof blocks, "%s/blocks", dir);
    snprintf(st_dir, sizeof st_dir, "%s/state", dir);
    tws_objstore *obj;
    tws_objstore_err oe;
    assert_int_equal(tws_objstore_local_open(blocks, &obj, &oe), TW_OK);
    tws_store *st;
    uint64_t lsn;
    tws_store_options so = {.maintenance_ms = 3600000, .retention_s = 100ull * 365 * 86400, .row_group_spans = rg_spans};
    assert_int_equal(tws_store_open(obj, st_dir, &so, NULL, &st, &lsn, err), TW_OK);
    assert_int_equal(tws_store_flush_now(st, HEAD, 1, err), TW_OK);
    return st;
}

/* The same spans in a block: the same answer; and while a flush is in
 * progress (the block written, the frozen head not yet freed) each span
 * still counts once. */
static void test_blocks_and_a_flush_in_progress(void **state) {
    (void)state;
    char dir[64], err[256];
    tws_store *st = store_of_head(dir, 0);
    tws_head *empty;
    assert_int_equal(tws_head_new(NULL, &empty), TW_OK);
    const char *text = "{ } | count_over_time() by (resource.service.name)";
    tq_query *q;
    assert_int_equal(tq_parse(text, strlen(text), &q, err), TW_OK);
    tws_tqm_req req = {.q = q, .tenant = "t", .start_ns = T0, .end_ns = T0 + 60 * S, .step_ns = 10 * S,
                       .max_exemplars = 100, .threads = 2};
    const tws_head *heads[2] = {NULL, HEAD}; /* blocks alone; blocks and the frozen head they came from */
    for (int k = 0; k < 2; k++) {
        tws_tqm_result r;
        assert_int_equal(tws_tqm_run(&req, empty, heads[k], st, &r, err), TW_OK);
        assert_int_equal(r.n, 3);
        values_are(&r.series[0], N6, (double[]){0, 0, 0, 1, 0, 0});
        values_are(&r.series[1], N6, (double[]){3, 2, 0, 0, 4, 0});
        values_are(&r.series[2], N6, (double[]){0, 0, 1, 0, 0, 2});
        assert_int_equal(r.spans, 13);
        assert_true(r.stats.total_blocks >= 1);
        uint32_t ex = 0;
        for (uint32_t i = 0; i < r.n; i++) ex += r.series[i].n_exemplars;
        assert_int_equal(ex, 6);
        tws_tqm_result_free(&r);
    }
    tq_query_free(q);
    tws_head_free(empty);
    tws_store_close(st);
    rm_rf(dir);
}

/* Every function over blocks scanned by several threads (one row group per
 * trace, so the scanners share the work and each folds into an
 * accumulator of its own) answers what the head answers. */
static void test_blocks_scanned_in_parallel_match_the_head(void **state) {
    (void)state;
    char dir[64], err[256];
    tws_store *st = store_of_head(dir, 1);
    tws_head *empty;
    assert_int_equal(tws_head_new(NULL, &empty), TW_OK);
    static const char *queries[] = {
        "{ } | rate() by (resource.service.name)",
        "{ } | count_over_time()",
        "{ } | min_over_time(span.bytes) by (resource.service.name)",
        "{ } | max_over_time(duration) by (span.route)",
        "{ } | sum_over_time(span.bytes)",
        "{ } | avg_over_time(duration) by (resource.service.name)",
        "{ } | quantile_over_time(duration, .5, .99) by (resource.service.name)",
        "{ } | histogram_over_time(duration)",
    };
    for (size_t k = 0; k < sizeof queries / sizeof *queries; k++) {
        tq_query *q;
        assert_int_equal(tq_parse(queries[k], strlen(queries[k]), &q, err), TW_OK);
        tws_tqm_req req = {.q = q, .tenant = "t", .start_ns = T0, .end_ns = T0 + 60 * S, .step_ns = 10 * S,
                           .max_exemplars = 100, .threads = 4};
        tws_tqm_result h, b;
        assert_int_equal(tws_tqm_run(&req, HEAD, NULL, NULL, &h, err), TW_OK);
        assert_int_equal(tws_tqm_run(&req, empty, NULL, st, &b, err), TW_OK);
        assert_true(b.stats.row_groups_read >= 6);
        assert_int_equal(b.spans, h.spans);
        assert_int_equal(b.n, h.n);
        uint32_t ex_h = 0, ex_b = 0; /* one per trace; which series gets it is a random pick */
        for (uint32_t i = 0; i < h.n; i++) {
            char *want = strndup(h.series[i].prom, h.series[i].prom_len);
            prom_is(&b.series[i], want);
            free(want);
            values_are(&b.series[i], N6, h.series[i].values);
            ex_h += h.series[i].n_exemplars;
            ex_b += b.series[i].n_exemplars;
        }
        assert_int_equal(ex_b, ex_h);
        tws_tqm_result_free(&h);
        tws_tqm_result_free(&b);
        tq_query_free(q);
    }
    tws_head_free(empty);
    tws_store_close(st);
    rm_rf(dir);
}

static void test_refusals(void **state) {
    (void)state;
    char err[256];
    tq_query *q;
    assert_int_equal(tq_parse("{ }", 3, &q, err), TW_OK);
    tws_tqm_req req = {.q = q, .tenant = "t", .start_ns = T0, .end_ns = T0 + S, .step_ns = S};
    tws_tqm_result r;
    assert_int_equal(tws_tqm_run(&req, HEAD, NULL, NULL, &r, err), TW_EINVAL);
    assert_string_equal(err, "not a metrics query");
    tq_query_free(q);
    const char *text = "{ } | rate()";
    assert_int_equal(tq_parse(text, strlen(text), &q, err), TW_OK);
    req.q = q;
    req.end_ns = T0;
    assert_int_equal(tws_tqm_run(&req, HEAD, NULL, NULL, &r, err), TW_EINVAL);
    assert_string_equal(err, "end must be greater than start");
    req.end_ns = T0 + 1000000 * S;
    req.step_ns = 1 * S;
    assert_int_equal(tws_tqm_run(&req, HEAD, NULL, NULL, &r, err), TW_EINVAL);
    /* another tenant: the zero line only */
    req.tenant = "other";
    req.end_ns = T0 + 60 * S;
    req.step_ns = 10 * S;
    assert_int_equal(tws_tqm_run(&req, HEAD, NULL, NULL, &r, err), TW_OK);
    assert_int_equal(r.spans, 0);
    values_are(&r.series[0], N6, (double[]){0, 0, 0, 0, 0, 0});
    tws_tqm_result_free(&r);
    tq_query_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_and_count),     cmocka_unit_test(test_over_time_duration),
        cmocka_unit_test(test_over_time_attribute), cmocka_unit_test(test_log2_quantile),
        cmocka_unit_test(test_quantile_over_time), cmocka_unit_test(test_histogram_over_time),
        cmocka_unit_test(test_by_one_label),       cmocka_unit_test(test_by_two_labels_and_nils),
        cmocka_unit_test(test_topk_bottomk),       cmocka_unit_test(test_exemplars),
        cmocka_unit_test(test_interval_boundaries), cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_blocks_and_a_flush_in_progress), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_blocks_scanned_in_parallel_match_the_head),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
