/*
 * test_logql.c — the LogQL conformance table (logql/logql.h).
 *
 * A fixed set of seven records in three streams (JSON lines, logfmt lines,
 * plain text, structured metadata with trace ids) and, for each query, the
 * exact set of records it returns; for some, the exact labels of a result
 * (what `| json`, `keep`, `drop` and a clash with a stream label make).
 * Metric queries are checked point by point, windows being (t - range, t].
 * Invalid queries are checked against their exact messages, which follow
 * Loki's ("parse error at line L, col C: syntax error: unexpected X,
 * expecting Y"). The expectations come from Loki's documented semantics
 * (docs/sources/query/log_queries, metric_queries) and its source, not from
 * this implementation's output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "logql/logql.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SEC 1000000000ll

typedef struct record {
    int stream;
    int64_t t_s;
    const char *line;
    const char *trace_id; /* structured metadata trace_id, or NULL */
} record;

/* S0 {level="error", service_name="checkout"}, S1 {level="info",
 * service_name="checkout"}, S2 {env="prod", level="info",
 * service_name="payments"} */
static const char *const STREAMS[3][3][2] = {
    {{"service_name", "checkout"}, {"level", "error"}, {NULL, NULL}},
    {{"service_name", "checkout"}, {"level", "info"}, {NULL, NULL}},
    {{"service_name", "payments"}, {"level", "info"}, {"env", "prod"}},
};

static const record RECS[] = {
    /* 0 */ {1, 10,
             "{\"level\":\"info\",\"msg\":\"order placed\",\"user\":{\"id\":\"u-1\"},\"status\":200,"
             "\"latency\":\"120ms\",\"size\":\"1KB\",\"tags\":[1,2],\"trace_id\":\"" TID "\"}",
             TID},
    /* 1 */ {0, 20, "{\"level\":\"error\",\"msg\":\"inventory reserve failed\",\"status\":500,\"latency\":\"2.5s\"}", TID},
    /* 2 */ {2, 30, "method=POST path=/charge status=502 duration=1.2s msg=\"card declined\"", NULL},
    /* 3 */ {2, 40, "method=GET path=/health status=200 duration=3ms", NULL},
    /* 4 */ {1, 50, "plain text line mentioning timeout", NULL},
    /* 5 */ {0, 60, "{\"msg\":\"db timeout\",\"status\":\"abc\",\"http.method\":\"GET\",\"2xx\":true}", NULL},
    /* 6 */ {2, 70, "level=warn msg=\"retry \\\"quoted\\\"\" attempt=3", NULL},
};
#define N_RECS (sizeof RECS / sizeof *RECS)

static tws_labels streams[3], metadata[N_RECS];

static int setup(void **state) {
    (void)state;
    for (int s = 0; s < 3; s++) {
        tws_labels_init(&streams[s]);
        for (int i = 0; i < 3 && STREAMS[s][i][0]; i++)
            assert_int_equal(tws_labels_set(&streams[s], STREAMS[s][i][0], strlen(STREAMS[s][i][0]), STREAMS[s][i][1],
                                            strlen(STREAMS[s][i][1])),
                             0);
    }
    for (size_t r = 0; r < N_RECS; r++) {
        tws_labels_init(&metadata[r]);
        if (RECS[r].trace_id) assert_int_equal(tws_labels_set(&metadata[r], "trace_id", 8, RECS[r].trace_id, 32), 0);
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int s = 0; s < 3; s++) tws_labels_free(&streams[s]);
    for (size_t r = 0; r < N_RECS; r++) tws_labels_free(&metadata[r]);
    return 0;
}

static lq_query *parse_ok(const char *q) {
    lq_query *out = NULL;
    char err[256] = "";
    int rc = lq_parse(q, strlen(q), &out, err);
    if (rc != TW_OK) fail_msg("%s: refused: %s", q, err);
    return out;
}

/* Which records q returns, as a bit set; the labels of record `want_rec`
 * (when >= 0) in canonical text into labels_out. */
static unsigned run(const lq_query *q, int want_rec, char *labels_out, size_t cap) {
    lq_eval *e;
    assert_int_equal(lq_eval_new(&e), TW_OK);
    unsigned got = 0;
    for (size_t r = 0; r < N_RECS; r++) {
        const tws_labels *st = &streams[RECS[r].stream], *out = NULL;
        if (!lq_selector_matches(q, st)) continue;
        tw_str line = {RECS[r].line, strlen(RECS[r].line)};
        int rc = lq_eval_record(e, q, st, line, &metadata[r], &out);
        assert_true(rc == 0 || rc == 1);
        if (!rc) continue;
        got |= 1u << r;
        if ((int)r == want_rec) {
            tw__buf b;
            tw__buf_init(&b, 0);
            tws_labels_write(out, &b);
            tw__buf_append(&b, "", 1);
            snprintf(labels_out, cap, "%s", (const char *)b.data);
            tw__buf_free(&b);
        }
    }
    lq_eval_free(e);
    return got;
}

/* "0 1 4" -> the bit set of those records */
static unsigned bits(const char *r) {
    unsigned b = 0;
    for (char *end; *r; r = end) {
        long i = strtol(r, &end, 10);
        if (end == r) break;
        b |= 1u << i;
    }
    return b;
}
#define NONE ""

static const struct {
    const char *q;
    const char *want; /* the records returned */
} LOG_QUERIES[] = {
    /* stream selectors */
    {"{service_name=\"checkout\"}", "0 1 4 5"},
    {"{service_name=\"payments\"}", "2 3 6"},
    {"{service_name=~\".+\", service_name!=\"checkout\"}", "2 3 6"},
    {"{service_name=~\"check.*\"}", "0 1 4 5"},
    {"{service_name=~\"check\"}", NONE}, /* label regexes are anchored */
    {"{service_name=~\"checkout|payments\"}", "0 1 2 3 4 5 6"},
    {"{service_name=\"checkout\", level!~\"err.*\"}", "0 4"},
    {"{service_name=\"checkout\", level!=\"error\"}", "0 4"},
    {"{env=\"prod\"}", "2 3 6"},
    {"{env=\"\", service_name=~\".+\"}", "0 1 4 5"}, /* an absent label is "" */
    {"{nosuch=\"x\"}", NONE},
    {"{ service_name = \"checkout\" , level = \"error\" }", "1 5"},
    {"{service_name=`checkout`}", "0 1 4 5"},
    /* line filters: substrings and unanchored regexes */
    {"{service_name=~\".+\"} |= \"timeout\"", "4 5"},
    {"{service_name=~\".+\"} != \"timeout\"", "0 1 2 3 6"},
    {"{service_name=~\".+\"} |~ \"status=5\\\\d\\\\d\"", "2"},
    {"{service_name=~\".+\"} |~ `status=\\d{3}`", "2 3"},
    {"{service_name=~\".+\"} !~ \"^\\\\{\"", "2 3 4 6"},
    {"{service_name=~\".+\"} |~ \"(?i)TIMEOUT\"", "4 5"},
    {"{service_name=~\".+\"} |= \"timeout\" or \"declined\"", "2 4 5"},
    {"{service_name=~\".+\"} != \"timeout\" or \"declined\"", "0 1 3 6"},
    {"{service_name=~\".+\"} |= \"GET\" |= \"health\"", "3"},
    {"{service_name=~\".+\"} |= \"\"", "0 1 2 3 4 5 6"},
    {"{service_name=~\".+\"} |= \"" TID "\"", "0"},
    {"{service_name=~\".+\"} |= \"\\\"quoted\\\"\"", NONE}, /* the line has \"quoted\" */
    {"{service_name=~\".+\"} |= `\\\"quoted\\\"`", "6"},
    {"{service_name=\"payments\"} # a comment\n |= \"GET\"", "3"},
    {"({service_name=\"checkout\"} |= \"timeout\")", "4 5"},
    /* | json and label filters on what it extracts */
    {"{service_name=\"checkout\"} | json | status >= 500", "1 4 5"}, /* errors pass numeric filters */
    {"{service_name=\"checkout\"} | json | __error__=\"\" | status >= 500", "1 5"},
    {"{service_name=\"checkout\"} | json | status >= 500 | __error__=\"\"", "1"},
    {"{service_name=\"checkout\"} | json | __error__=\"JSONParserErr\"", "4"},
    {"{service_name=\"checkout\"} | json | __error__!=\"\"", "4"},
    {"{service_name=\"checkout\"} | json | msg=~\".*timeout.*\"", "5"},
    {"{service_name=\"checkout\"} | json | msg=\"order placed\"", "0"},
    {"{service_name=\"checkout\"} | json | user_id=\"u-1\"", "0"},
    {"{service_name=\"checkout\"} | json | http_method=\"GET\"", "5"},
    {"{service_name=\"checkout\"} | json | _2xx=\"true\"", "5"},
    {"{service_name=\"checkout\"} | json | tags=\"\"", "1 4 5 0"}, /* arrays are skipped */
    {"{service_name=\"checkout\"} | json | latency > 1s", "1 4"},
    {"{service_name=\"checkout\"} | json | latency <= 120ms", "0 4"},
    {"{service_name=\"checkout\"} | json | size >= 1KB", "0 4"},
    {"{service_name=\"checkout\"} | json | size > 1KiB", "4"},
    {"{service_name=\"checkout\"} | json | status == 200", "0 4 5"},
    {"{service_name=\"checkout\"} | json | status != 200 | __error__=\"\"", "1"},
    {"{service_name=\"checkout\"} | json | status=\"200\"", "0"},
    {"{service_name=\"checkout\"} | json | level=\"error\", msg=~\".*failed\"", "1"},
    {"{service_name=\"checkout\"} | json | level_extracted=\"info\"", "0"},
    {"{service_name=\"checkout\"} | json | __error__=\"\" | status=500 or msg=\"order placed\"", "0 1 5"},
    {"{service_name=\"checkout\"} | json | __error__=\"\" | status=500 or msg=\"order placed\" | __error__=\"\"",
     "0 1"},
    {"{service_name=\"checkout\"} | json | msg=\"order placed\" or msg=\"db timeout\" and status=\"abc\"", "0 5"},
    {"{service_name=\"checkout\"} | json | (msg=\"order placed\" or msg=\"db timeout\") and status=\"200\"", "0"},
    {"{service_name=\"checkout\"} | json | msg=\"db timeout\" and status=\"abc\"", "5"},
    {"{service_name=\"checkout\"} | json | status > 100 and status < 300", "0 4 5"},
    {"{service_name=\"checkout\"} | json code=\"status\" | code == 500 | __error__=\"\"", "1"},
    {"{service_name=\"checkout\"} | json m=\"msg\", u=\"user.id\" | u=\"u-1\" | m=\"order placed\"", "0"},
    {"{service_name=\"checkout\"} | json m=\"msg\" | status=\"200\"", NONE}, /* only m is extracted */
    /* | logfmt */
    {"{env=\"prod\"} | logfmt | status=502", "2"},
    {"{env=\"prod\"} | logfmt | duration < 10ms", "3"},
    {"{env=\"prod\"} | logfmt | msg=\"card declined\"", "2"},
    {"{env=\"prod\"} | logfmt | msg=\"retry \\\"quoted\\\"\"", "6"},
    {"{env=\"prod\"} | logfmt | level_extracted=\"warn\"", "6"},
    {"{env=\"prod\"} | logfmt | attempt >= 3", "6"},
    {"{env=\"prod\"} | logfmt p=\"path\" | p=\"/health\"", "3"},
    {"{env=\"prod\"} | logfmt | method=~\"P.*\"", "2"},
    {"{env=\"prod\"} | logfmt | method=~\"P\"", NONE}, /* label-filter regexes are anchored */
    /* structured metadata */
    {"{service_name=~\".+\"} | trace_id=\"" TID "\"", "0 1"},
    {"{service_name=~\".+\"} | trace_id!=\"\"", "0 1"},
    /* drop / keep */
    {"{service_name=\"checkout\"} | json | drop __error__", "0 1 4 5"},
    {"{service_name=\"checkout\"} | json | keep msg | msg=~\".+\"", "0 1 5"},
    {"{service_name=\"checkout\"} | json | drop status | status=\"200\"", NONE},
};

/* The exact labels of one result. */
static const struct {
    const char *q;
    int rec;
    const char *labels;
} LABELS[] = {
    {"{service_name=\"checkout\"}", 0, "{level=\"info\", service_name=\"checkout\", trace_id=\"" TID "\"}"},
    {"{service_name=\"checkout\"} | json", 1,
     "{latency=\"2.5s\", level=\"error\", level_extracted=\"error\", msg=\"inventory reserve failed\", "
     "service_name=\"checkout\", status=\"500\", trace_id=\"" TID "\"}"},
    {"{service_name=\"checkout\"} | json", 4, "{__error__=\"JSONParserErr\", level=\"info\", service_name=\"checkout\"}"},
    {"{service_name=\"checkout\"} | json | drop __error__", 4, "{level=\"info\", service_name=\"checkout\"}"},
    {"{service_name=\"checkout\"} | json | keep msg", 0, "{msg=\"order placed\"}"},
    {"{service_name=\"checkout\"} | json | keep msg, level=\"info\"", 0, "{level=\"info\", msg=\"order placed\"}"},
    {"{service_name=\"checkout\"} | json | drop level, status, user_id, size, latency, trace_id", 0,
     "{level_extracted=\"info\", msg=\"order placed\", service_name=\"checkout\"}"},
    {"{service_name=\"checkout\"} | json | status > 1", 5,
     "{_2xx=\"true\", __error__=\"LabelFilterErr\", http_method=\"GET\", level=\"error\", "
     "msg=\"db timeout\", service_name=\"checkout\", status=\"abc\"}"},
    {"{env=\"prod\"} | logfmt", 2,
     "{duration=\"1.2s\", env=\"prod\", level=\"info\", method=\"POST\", msg=\"card declined\", path=\"/charge\", "
     "service_name=\"payments\", status=\"502\"}"},
    {"{env=\"prod\"} | logfmt m=\"msg\"", 6, "{env=\"prod\", level=\"info\", m=\"retry \\\"quoted\\\"\", service_name=\"payments\"}"},
    {"{service_name=\"checkout\"} | json u=\"user.id\", t=\"tags\"", 0,
     "{level=\"info\", service_name=\"checkout\", t=\"[1,2]\", trace_id=\"" TID "\", u=\"u-1\"}"},
};

static void test_log_queries(void **state) {
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof LOG_QUERIES / sizeof *LOG_QUERIES; i++) {
        lq_query *q = parse_ok(LOG_QUERIES[i].q);
        assert_null(lq_query_metric(q));
        unsigned got = run(q, -1, NULL, 0);
        if (got != bits(LOG_QUERIES[i].want)) {
            print_message("%s: got 0x%x, want {%s}\n", LOG_QUERIES[i].q, got, LOG_QUERIES[i].want);
            failures++;
        }
        lq_query_free(q);
    }
    assert_int_equal(failures, 0);
}

static void test_result_labels(void **state) {
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof LABELS / sizeof *LABELS; i++) {
        lq_query *q = parse_ok(LABELS[i].q);
        char got[1024] = "(record not returned)";
        run(q, LABELS[i].rec, got, sizeof got);
        if (strcmp(got, LABELS[i].labels)) {
            print_message("%s, record %d:\n  got  %s\n  want %s\n", LABELS[i].q, LABELS[i].rec, got, LABELS[i].labels);
            failures++;
        }
        lq_query_free(q);
    }
    assert_int_equal(failures, 0);
}

/* What a store may use an index for. */
static void test_trace_hints(void **state) {
    (void)state;
    static const struct {
        const char *q;
        lq_trace_hint want;
    } H[] = {
        {"{a=\"b\"} | trace_id=\"" TID "\"", LQ_HINT_LABEL},
        {"{a=\"b\"} | json | trace_id=\"" TID "\"", LQ_HINT_LABEL},
        {"{a=\"b\"} |= \"" TID "\"", LQ_HINT_LINE},
        {"{a=\"b\"} |= \"x\" |= \"" TID "\"", LQ_HINT_LINE},
        {"{a=\"b\"} | trace_id=\"" TID "\" or level=\"error\"", LQ_HINT_NONE}, /* not every match has it */
        {"{a=\"b\"} |= \"" TID "\" or \"other\"", LQ_HINT_NONE},
        {"{a=\"b\"} != \"" TID "\"", LQ_HINT_NONE},
        {"{a=\"b\"} | trace_id=~\"" TID "\"", LQ_HINT_NONE},
        {"{a=\"b\"} | trace_id=\"not-hex\"", LQ_HINT_NONE},
        {"{a=\"b\"} |= \"00000000000000000000000000000000\"", LQ_HINT_NONE},
        {"{a=\"b\"}", LQ_HINT_NONE},
    };
    static const uint8_t want_id[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                        0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
    for (size_t i = 0; i < sizeof H / sizeof *H; i++) {
        lq_query *q = parse_ok(H[i].q);
        uint8_t id[16] = {0};
        lq_trace_hint h = lq_trace_id(q, id);
        if (h != H[i].want) fail_msg("%s: hint %d, want %d", H[i].q, h, H[i].want);
        if (h != LQ_HINT_NONE) assert_memory_equal(id, want_id, 16);
        lq_query_free(q);
    }
}

/* ---- metric queries ------------------------------------------------------------------ */

typedef struct series_want {
    const char *labels;
    const char *values; /* one per step, "-" for no point */
} series_want;

static void check_metric(const char *query, int64_t start_s, int64_t end_s, int64_t step_s, const series_want *want,
                         size_t n_want) {
    lq_query *q = parse_ok(query);
    assert_non_null(lq_query_metric(q));
    lq_acc *a;
    assert_int_equal(lq_acc_new(q, start_s * SEC, end_s * SEC, step_s * SEC, 0, &a), TW_OK);
    lq_eval *e;
    assert_int_equal(lq_eval_new(&e), TW_OK);
    for (size_t r = 0; r < N_RECS; r++) {
        const tws_labels *st = &streams[RECS[r].stream], *out;
        if (!lq_selector_matches(q, st)) continue;
        tw_str line = {RECS[r].line, strlen(RECS[r].line)};
        if (lq_eval_record(e, q, st, line, &metadata[r], &out) != 1) continue;
        assert_int_equal(lq_acc_add(a, RECS[r].t_s * SEC, out, line.len), TW_OK);
    }
    if (lq_acc_n_series(a) != n_want) fail_msg("%s: %u series, want %zu", query, lq_acc_n_series(a), n_want);
    for (uint32_t s = 0; s < n_want; s++) {
        tw__buf b;
        tw__buf_init(&b, 0);
        tws_labels_write(lq_acc_labels(a, s), &b);
        for (uint32_t k = 0; k < lq_acc_n_steps(a); k++) {
            double v;
            char txt[32] = "-";
            if (lq_acc_value(a, s, k, &v)) snprintf(txt, sizeof txt, "%g", v);
            tw__buf_append(&b, " ", 1);
            tw__buf_append(&b, txt, strlen(txt));
        }
        tw__buf_append(&b, "", 1);
        char want_txt[512];
        snprintf(want_txt, sizeof want_txt, "%s %s", want[s].labels, want[s].values);
        if (strcmp((const char *)b.data, want_txt)) fail_msg("%s:\n  got  %s\n  want %s", query, b.data, want_txt);
        tw__buf_free(&b);
    }
    lq_eval_free(e);
    lq_acc_free(a);
    lq_query_free(q);
}

static void test_metric_queries(void **state) {
    (void)state;
    /* an instant at 60s: (30s, 60s] holds records 4 and 5, one per stream */
    check_metric("count_over_time({service_name=\"checkout\"}[30s])", 60, 60, 0,
                 (series_want[]){{"{level=\"info\", service_name=\"checkout\"}", "1"},
                                 {"{level=\"error\", service_name=\"checkout\"}", "1"}},
                 2);
    /* (10s, 70s]: the record at 10s is outside */
    check_metric("sum(count_over_time({service_name=~\".+\"}[1m]))", 70, 70, 0, (series_want[]){{"{}", "6"}}, 1);
    check_metric("sum by (level) (count_over_time({service_name=~\".+\"}[1m]))", 70, 70, 0,
                 (series_want[]){{"{level=\"error\"}", "2"}, {"{level=\"info\"}", "4"}}, 2);
    check_metric("sum(count_over_time({service_name=~\".+\"}[1m])) by (level)", 70, 70, 0,
                 (series_want[]){{"{level=\"error\"}", "2"}, {"{level=\"info\"}", "4"}}, 2);
    check_metric("sum without (level, env) (count_over_time({service_name=~\".+\"}[2m]))", 70, 70, 0,
                 (series_want[]){{"{service_name=\"checkout\", trace_id=\"" TID "\"}", "2"},
                                 {"{service_name=\"payments\"}", "3"},
                                 {"{service_name=\"checkout\"}", "2"}},
                 3);
    check_metric("rate({env=\"prod\"}[10s])", 30, 30, 0,
                 (series_want[]){{"{env=\"prod\", level=\"info\", service_name=\"payments\"}", "0.1"}}, 1);
    /* bytes: the line lengths 69 + 47 + 43 */
    check_metric("bytes_over_time({env=\"prod\"}[1m])", 70, 70, 0,
                 (series_want[]){{"{env=\"prod\", level=\"info\", service_name=\"payments\"}", "159"}}, 1);
    check_metric("bytes_rate({env=\"prod\"}[1m])", 70, 70, 0,
                 (series_want[]){{"{env=\"prod\", level=\"info\", service_name=\"payments\"}", "2.65"}}, 1);
    /* the pipeline runs before counting: record 4 is not JSON and is dropped */
    check_metric("sum(count_over_time({service_name=\"checkout\"} | json | __error__=\"\" [1m]))", 60, 60, 0,
                 (series_want[]){{"{}", "3"}}, 1);
    check_metric("sum(count_over_time({service_name=\"checkout\"}[1m] |= \"timeout\"))", 60, 60, 0,
                 (series_want[]){{"{}", "2"}}, 1);
    /* a range every 10s from 20s to 70s, a [10s] window holding one record */
    check_metric("sum by (service_name) (count_over_time({service_name=~\".+\"}[10s]))", 20, 70, 10,
                 (series_want[]){{"{service_name=\"checkout\"}", "1 - - 1 1 -"},
                                 {"{service_name=\"payments\"}", "- 1 1 - - 1"}},
                 2);
    /* extracted labels group too */
    check_metric("sum by (method) (count_over_time({env=\"prod\"} | logfmt | __error__=\"\" [1m]))", 70, 70, 0,
                 (series_want[]){{"{method=\"POST\"}", "1"}, {"{method=\"GET\"}", "1"}, {"{}", "1"}}, 3);
}

/* A metric query over a pipeline error fails, as in Loki; too many series too. */
static void test_metric_errors(void **state) {
    (void)state;
    lq_query *q = parse_ok("count_over_time({service_name=\"checkout\"} | json [1m])");
    lq_acc *a;
    assert_int_equal(lq_acc_new(q, 60 * SEC, 60 * SEC, 0, 0, &a), TW_OK);
    lq_eval *e;
    assert_int_equal(lq_eval_new(&e), TW_OK);
    const tws_labels *out;
    tw_str line = {RECS[4].line, strlen(RECS[4].line)};
    assert_int_equal(lq_eval_record(e, q, &streams[1], line, NULL, &out), 1);
    assert_int_equal(lq_acc_add(a, 50 * SEC, out, line.len), TW_EINVAL);
    assert_non_null(strstr(lq_acc_error(a), "JSONParserErr"));
    lq_acc_free(a);
    lq_query_free(q);

    q = parse_ok("count_over_time({service_name=~\".+\"}[1m])");
    assert_int_equal(lq_acc_new(q, 60 * SEC, 60 * SEC, 0, 2, &a), TW_OK);
    for (int s = 0; s < 3; s++) {
        int rc = lq_acc_add(a, 50 * SEC, &streams[s], 10);
        assert_int_equal(rc, s < 2 ? TW_OK : TW_ERANGE);
    }
    assert_string_equal(lq_acc_error(a), "maximum of series (2) reached for a single query");
    lq_acc_free(a);
    /* a log query is not a metric query; too many steps; end before start */
    assert_int_equal(lq_acc_new(q, 0, 12000 * SEC, 1 * SEC, 0, &a), TW_ERANGE);
    assert_int_equal(lq_acc_new(q, 10 * SEC, 5 * SEC, 1 * SEC, 0, &a), TW_ERANGE);
    lq_query_free(q);
    q = parse_ok("{a=\"b\"}");
    assert_int_equal(lq_acc_new(q, 0, 60 * SEC, SEC, 0, &a), TW_ERANGE);
    lq_query_free(q);
    lq_eval_free(e);
}

/* ---- invalid queries ----------------------------------------------------------------- */

#define EMPTY_COMPATIBLE                                                                                              \
    "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible " \
    "value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"

static const struct {
    const char *q, *err;
} INVALID[] = {
    {"{}", EMPTY_COMPATIBLE},
    {"{service_name!=\"checkout\"}", EMPTY_COMPATIBLE},
    {"{service_name=~\".*\"}", EMPTY_COMPATIBLE},
    {"{service_name=\"\"}", EMPTY_COMPATIBLE},
    {"", "parse error at line 1, col 1: syntax error: unexpected $end"},
    {"{service_name=\"checkout\"", "parse error at line 1, col 25: syntax error: unexpected $end, expecting } or ,"},
    {"{service_name=\"checkout\",}", "parse error at line 1, col 26: syntax error: unexpected }, expecting IDENTIFIER"},
    {"{service_name}", "parse error at line 1, col 14: syntax error: unexpected }, expecting = or =~ or !~ or !="},
    {"{service_name=checkout}", "parse error at line 1, col 15: syntax error: unexpected IDENTIFIER, expecting STRING"},
    {"{a=\"b\"} |=", "parse error at line 1, col 11: syntax error: unexpected $end, expecting STRING or ip"},
    {"{a=\"b\"} |= \"x", "parse error at line 1, col 12: literal not terminated"},
    {"{a=\"b\"} |= \"\\q\"", "parse error at line 1, col 12: invalid char escape"},
    {"{a=\"b\"}\n| json\n| status >", "parse error at line 3, col 11: syntax error: unexpected $end, expecting NUMBER or DURATION or BYTES"},
    {"{a=~\"(\"}", "parse error at line 1, col 5: error parsing regexp: missing closing parenthesis at offset 1: `(`"},
    {"{a=\"b\"} | line_format \"{{.msg}}\"", "parse error at line 1, col 11: syntax error: the line_format stage is not supported"},
    {"{a=\"b\"} | pattern \"<ip> <_>\"", "parse error at line 1, col 11: syntax error: the pattern stage is not supported"},
    {"{a=\"b\"} |> \"<_> error\"", "parse error at line 1, col 9: pattern line filters (|> and !>) are not supported"},
    {"count_over_time({a=\"b\"})", "parse error at line 1, col 24: syntax error: unexpected )"},
    {"count_over_time({a=\"b\"}[5x])", "parse error at line 1, col 24: unknown unit \"x\" in duration \"5x\""},
    {"count_over_time({a=\"b\"}[5m)", "parse error at line 1, col 24: missing closing ']' in duration"},
    {"{a=\"b\"}[5m]", "parse error at line 1, col 8: syntax error: unexpected RANGE"},
    {"topk(2, count_over_time({a=\"b\"}[1m]))", "parse error at line 1, col 1: syntax error: topk is not supported"},
    {"sum(count_over_time({a=\"b\"}[1m])) > 1", "parse error at line 1, col 35: binary operations are not supported"},
    /* from Loki's own parser tests (pkg/logql/syntax/parser_test.go) */
    {"{foo=\"bar\"", "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"},
    {"{foo=\"bar}", "parse error at line 1, col 6: literal not terminated"},
    {"{foo=\"bar\"} |~", "parse error at line 1, col 15: syntax error: unexpected $end, expecting STRING or ip"},
    {"{foo=\"bar\"} \"foo\"", "parse error at line 1, col 13: syntax error: unexpected STRING"},
    {"{foo=\"bar\"} foo", "parse error at line 1, col 13: syntax error: unexpected IDENTIFIER"},
    {"unk({ foo = \"bar\" }[5m])", "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"},
    {"rate({ foo = \"bar\" }[5minutes])", "parse error at line 1, col 21: unknown unit \"minutes\" in duration \"5minutes\""},
    {"rate({ foo = \"bar\" }[5)", "parse error at line 1, col 21: missing closing ']' in duration"},
    {"{a=\"b\"} | json | latency > 5xyz", "parse error at line 1, col 28: invalid number \"5xyz\": not a duration (10s, 1h30m) nor a size (20KB, 1MiB)"},
};

static void test_invalid(void **state) {
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof INVALID / sizeof *INVALID; i++) {
        lq_query *q = NULL;
        char err[256] = "";
        int rc = lq_parse(INVALID[i].q, strlen(INVALID[i].q), &q, err);
        if (rc != TW_EPARSE || strcmp(err, INVALID[i].err)) {
            print_message("%s:\n  got  %d \"%s\"\n  want \"%s\"\n", INVALID[i].q, rc, err, INVALID[i].err);
            failures++;
        }
        lq_query_free(q);
    }
    assert_int_equal(failures, 0);
    /* limits: length and nesting */
    size_t n = LQ_MAX_QUERY + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    lq_query *q = NULL;
    char err[256];
    assert_int_equal(lq_parse(big, n, &q, err), TW_EPARSE);
    memset(big, '(', 200);
    memcpy(big + 200, "{a=\"b\"}", 7);
    assert_int_equal(lq_parse(big, 207, &q, err), TW_EPARSE);
    assert_non_null(strstr(err, "nests deeper than 64 levels"));
    free(big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_queries),    cmocka_unit_test(test_result_labels),
        cmocka_unit_test(test_trace_hints),    cmocka_unit_test(test_metric_queries),
        cmocka_unit_test(test_metric_errors),  cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests_name("logql", tests, setup, teardown);
}
