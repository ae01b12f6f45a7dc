/*
 * test_otlp_http.c — the OTLP/HTTP exporter against the test HTTP server:
 * the request it sends (method, path, content type, user agent, body,
 * gzip, custom headers, keep-alive), which answers it retries (429, 502,
 * 503, 504, connection errors, timeouts) and which it does not (other 4xx,
 * 500), Retry-After as delta-seconds and HTTP-date, the deadline, partial
 * success (protobuf and JSON) with its counters and deduplicated message,
 * prompt shutdown, fork, and the OTEL_EXPORTER_OTLP_* environment rules.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "export/export_int.h"
#include "export/otlp_int.h"
#include "http_server.h"
#include "trace/trace_int.h"

/* ---- spans ---------------------------------------------------------------------- */

static tw__kv res_attrs[] = {{"service.name", 12, {.type = TW_TYPE_STRING, .n = 4, .u.s = "http"}}};
static struct tw_provider prov = {.resource = {res_attrs, 1, 1, 0}};
static struct tw_tracer tracer = {&prov, "http.test", "1", NULL};
static tw_span span_store[4];
static tw_span *spans[4];

static void make_spans(void) {
    for (int i = 0; i < 4; i++) {
        tw_span *s = &span_store[i];
        memset(s, 0, sizeof *s);
        s->recording = s->ended = 1;
        s->kind = TW_SPAN_KIND_CLIENT;
        for (int k = 0; k < 16; k++) s->ctx.trace_id.bytes[k] = (uint8_t)(k + 1);
        s->ctx.span_id.bytes[7] = (uint8_t)(i + 1);
        s->ctx.flags = TW_FLAG_SAMPLED;
        s->start_ns = 1000 + (uint64_t)i;
        s->end_ns = 2000 + (uint64_t)i;
        s->tracer = &tracer;
        s->name = "op";
        s->name_len = 2;
        spans[i] = s;
    }
}

/* ---- fixture ---------------------------------------------------------------------- */

typedef struct fx {
    tw_test_server *srv;
    char url[128];
} fx;

static const char *const otlp_env[] = {
    "OTEL_EXPORTER_OTLP_ENDPOINT",    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_HEADERS",     "OTEL_EXPORTER_OTLP_TRACES_HEADERS",  "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
};

static void clear_env(void) {
    for (size_t i = 0; i < TW_ARRAY_LEN(otlp_env); i++) unsetenv(otlp_env[i]);
}

static int setup(void **state) {
    clear_env();
    make_spans();
    fx *f = calloc(1, sizeof *f);
    assert_int_equal(tw_test_server_start(&f->srv), 0);
    tw_test_server_url(f->srv, "/v1/traces", f->url, sizeof f->url);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    tw_test_server_stop(f->srv);
    free(f);
    clear_env();
    return 0;
}

static tw_exporter *exporter(fx *f, tw_otlp_options o) {
    if (!o.endpoint) o.endpoint = f->url;
    if (!o.initial_backoff_ms) o.initial_backoff_ms = 10;
    tw_exporter *e;
    assert_int_equal(tw_exporter_otlp_http_new(&o, &e), TW_OK);
    return e;
}

static uint64_t in_ms(uint64_t ms) { return tw_now_ns() + ms * 1000000u; }

static int export_n(tw_exporter *e, size_t n, uint64_t deadline_ns) {
    return e->ops->export_spans(e, spans, n, deadline_ns);
}

static tw_exporter_stats stats(tw_exporter *e) {
    tw_exporter_stats s;
    tw_exporter_get_stats(e, &s);
    return s;
}

static double gap_s(fx *f, size_t i) {
    const tw_test_request *a = tw_test_server_request(f->srv, i - 1), *b = tw_test_server_request(f->srv, i);
    return (double)(b->recv_ns - a->recv_ns) / 1e9;
}

static void expect_body(const tw_test_request *r, bool json, size_t n) {
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_int_equal(json ? tw__otlp_traces_json(&b, spans, n) : tw__otlp_traces_pb(&b, spans, n), 0);
    assert_int_equal(r->body_len, b.len);
    assert_memory_equal(r->body, b.data, b.len);
    tw__buf_free(&b);
}

/* ---- requests ---------------------------------------------------------------------- */

static void test_protobuf_post_keepalive(void **state) {
    fx *f = *state;
    tw_exporter *e = exporter(f, (tw_otlp_options){0});
    for (int i = 0; i < 3; i++) assert_int_equal(export_n(e, 2, in_ms(5000)), TW_OK);
    assert_int_equal(tw_test_server_count(f->srv), 3);
    const tw_test_request *r = tw_test_server_request(f->srv, 0);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->path, "/v1/traces");
    assert_string_equal(tw_test_request_header(r, "Content-Type"), "application/x-protobuf");
    assert_string_equal(tw_test_request_header(r, "User-Agent"), "tracewire-c/0.1.0");
    assert_null(tw_test_request_header(r, "Content-Encoding"));
    assert_null(tw_test_request_header(r, "Expect"));
    assert_false(r->gzipped);
    expect_body(r, false, 2);
    /* One connection, kept alive. */
    assert_int_equal(tw_test_server_connections(f->srv), 1);
    tw_exporter_stats s = stats(e);
    assert_int_equal(s.spans_exported, 6);
    assert_int_equal(s.requests, 3);
    assert_int_equal(s.retries, 0);
    assert_int_equal(s.spans_failed, 0);
    tw_exporter_destroy(e);
}

static void test_json_protocol(void **state) {
    fx *f = *state;
    tw_exporter *e = exporter(f, (tw_otlp_options){.protocol = TW_OTLP_HTTP_JSON});
    static const char reply[] = "{\"partialSuccess\":{\"rejectedSpans\":\"1\",\"errorMessage\":\"json says no\"}}";
    tw_test_server_script(f->srv, &(tw_test_response){.status = 200, .body = reply, .body_len = (size_t)-1}, 1);
    assert_int_equal(export_n(e, 3, in_ms(5000)), TW_OK);
    const tw_test_request *r = tw_test_server_request(f->srv, 0);
    assert_string_equal(tw_test_request_header(r, "Content-Type"), "application/json");
    expect_body(r, true, 3);
    tw_exporter_stats s = stats(e);
    assert_int_equal(s.spans_rejected, 1);
    assert_int_equal(s.spans_exported, 2);
    tw_exporter_destroy(e);
}

static void test_gzip(void **state) {
    fx *f = *state;
    tw_exporter *e = exporter(f, (tw_otlp_options){.compression_gzip = 1});
    assert_int_equal(export_n(e, 4, in_ms(5000)), TW_OK);
    const tw_test_request *r = tw_test_server_request(f->srv, 0);
    assert_string_equal(tw_test_request_header(r, "Content-Encoding"), "gzip");
    assert_true(r->gzipped);
    assert_false(r->gzip_error);
    assert_int_equal(r->raw_body[0], 0x1f); /* the gzip magic */
    assert_int_equal(r->raw_body[1], 0x8b);
    expect_body(r, false, 4);
    tw_exporter_destroy(e);
}

static void test_custom_headers(void **state) {
    fx *f = *state;
    tw_exporter *e = exporter(
        f, (tw_otlp_options){.headers = " x-api-key = secret ,x-b=a%20b%2Cc%zz,bad,=x,,x-empty=,content-type=text/x"});
    assert_int_equal(export_n(e, 1, in_ms(5000)), TW_OK);
    const tw_test_request *r = tw_test_server_request(f->srv, 0);
    assert_string_equal(tw_test_request_header(r, "x-api-key"), "secret");
    assert_string_equal(tw_test_request_header(r, "x-b"), "a b,c%zz");
    assert_string_equal(tw_test_request_header(r, "x-empty"), "");
    assert_null(tw_test_request_header(r, "bad"));
    assert_string_equal(tw_test_request_header(r, "Content-Type"), "application/x-protobuf");
    tw_exporter_destroy(e);
}

/* ---- retries ----------------------------------------------------------------------- */

static void test_retry_after_seconds(void **state) {
    fx *f = *state;
    tw_test_response script[] = {
        {.status = 503, .headers = "Retry-After: 1\r\n"},
        {.status = 200},
    };
    tw_test_server_script(f->srv, script, 2);
    tw_exporter *e = exporter(f, (tw_otlp_options){0});
    assert_int_equal(export_n(e, 2, in_ms(10000)), TW_OK);
    assert_int_equal(tw_test_server_count(f->srv), 2);
    double gap = gap_s(f, 1);
    if (gap < 0.95 || gap > 3) fail_msg("waited %.3f s for Retry-After: 1", gap);
    expect_body(tw_test_server_request(f->srv, 1), false, 2); /* the same batch again */
    tw_exporter_stats s = stats(e);
    assert_int_equal(s.requests, 2);
    assert_int_equal(s.retries, 1);
    assert_int_equal(s.spans_exported, 2);
    assert_int_equal(s.spans_failed, 0);
    tw_exporter_destroy(e);
}

static void test_retry_after_http_date(void **state) {
    fx *f = *state;
    char hdr[96];
    time_t when = time(NULL) + 2;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(hdr, sizeof hdr, "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    tw_test_response script[] = {{.status = 429, .headers = hdr}, {.status = 200}};
    tw_test_server_script(f->srv, script, 2);
    tw_exporter *e = exporter(f, (tw_otlp_options){0});
    assert_int_equal(export_n(e, 1, in_ms(10000)), TW_OK);
    double gap = gap_s(f, 1);
    /* One-second resolution: the wait ends between 1 and 2 s from now. */
    if (gap < 0.9 || gap > 3.5) fail_msg("waited %.3f s for a Retry-After date 2 s ahead", gap);
    tw_exporter_destroy(e);
}

static void test_retryable_statuses(void **state) {
    fx *f = *state;
    static const int codes[] = {429, 502, 503, 504};
    tw_exporter *e = exporter(f, (tw_otlp_options){0});
    for (size_t i = 0; i < TW_ARRAY_LEN(codes); i++) {
        tw_test_response script[] = {{.status = codes[i]}, {.status = codes[i]}, {.status = 200}};
        tw_test_server_script(f->srv, script, 3);
        assert_int_equal(export_n(e, 1, in_ms(10000)), TW_OK);
    }
    assert_int_equal(tw_test_server_count(f->srv), 12);
    tw_exporter_stats s = stats(e);
    assert_int_equal(s.requests, 12);
    assert_int_equal(s.retries, 8);
    assert_int_equal(s.spans_exported, 4);
    tw_exporter_destroy(e);
}

static void test_not_retried(void **state) {
    fx *f = *state;
    static const int codes[] = {400, 401, 404, 413, 500, 501};
    tw_exporter *e = exporter(f, (tw_otlp_options){0});
    for (size_t i = 0; i < TW_ARRAY_LEN(codes); i++) {
        tw_test_response r = {.status = codes[i], .body = "nope", .body_len = (size_t)-1};
        tw_test_server_script(f->srv, &r, 1);
        assert_int_equal(export_n(e, 2, in_ms(10000)), TW_EREJECTED);
    }
    assert_int_equal(tw_test_server_count(f->srv), TW_ARRAY_LEN(codes));
    tw_exporter_stats s = stats(e);
    assert_int_equal(s.requests, TW_ARRAY_LEN(codes));
    assert_int_equal(s.retries, 0);
    assert_int_equal(s.spans_failed, 2 * TW_ARRAY_LEN(codes));
    assert_int_equal(s.spans_exported, 0);
    tw_exporter_destroy(e);
}

/* A Retry-After that ends past the deadline: give up now, do not sleep. */
static void test_retry_after_past_deadline(void **state) {
    fx *f = *state;
    tw_test_response r = {.status = 503, .headers = "Retry-After: 30\r\n"};
    tw_test_server_set_default(f->srv, &r);
    tw_exporter *e = exporter(f, (tw_otlp_options){0});
    uint64_t t0 = tw_test_monotonic_ns();
    assert_int_equal(export_n(e, 1, in_ms(3000)), TW_ETIMEDOUT);
    double took = (double)(tw_test_monotonic_ns() - t0) / 1e9;
    if (took > 0.5) fail_msg("took %.3f s", took);
    assert_int_equal(tw_test_server_count(f->srv), 1);
    assert_int_equal(stats(e).spans_failed, 1);
    tw_exporter_destroy(e);
}

static void test_connection_refused_until_deadline(void **state) {
    fx *f = *state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/traces", (unsigned)tw_test_unused_port());
    tw_exporter *e = exporter(f, (tw_otlp_options){.endpoint = url, .initial_backoff_ms = 20});
    uint64_t t0 = tw_test_monotonic_ns();
    assert_int_equal(export_n(e, 3, in_ms(1200)), TW_ETIMEDOUT);
    double took = (double)(tw_test_monotonic_ns() - t0) / 1e9;
    if (took > 1.4) fail_msg("went past the deadline: %.3f s", took);
    tw_exporter_stats s = stats(e);
    if (s.requests < 3) fail_msg("only %llu attempts", (unsigned long long)s.requests);
    assert_int_equal(s.retries, s.requests - 1);
    assert_int_equal(s.spans_failed, 3);
    tw_exporter_destroy(e);
}

/* max_elapsed_ms bounds the retrying even with a far deadline. */
static void test_max_elapsed(void **state) {
    fx *f = *state;
    tw_test_server_set_default(f->srv, &(tw_test_response){.status = 503});
    tw_exporter *e = exporter(f, (tw_otlp_options){.max_elapsed_ms = 500, .initial_backoff_ms = 20});
    uint64_t t0 = tw_test_monotonic_ns();
    assert_int_equal(export_n(e, 1, in_ms(60000)), TW_ETIMEDOUT);
    double took = (double)(tw_test_monotonic_ns() - t0) / 1e9;
    if (took > 0.8) fail_msg("took %.3f s", took);
    assert_true(stats(e).requests >= 2);
    tw_exporter_destroy(e);
}

/* An attempt that times out is retried (on a new connection). */
static void test_attempt_timeout_retried(void **state) {
    fx *f = *state;
    tw_test_response script[] = {{.status = 200, .delay_ms = 1500}, {.status = 200}};
    tw_test_server_script(f->srv, script, 2);
    tw_exporter *e = exporter(f, (tw_otlp_options){.timeout_ms = 200});
    uint64_t t0 = tw_test_monotonic_ns();
    assert_int_equal(export_n(e, 1, in_ms(10000)), TW_OK);
    double took = (double)(tw_test_monotonic_ns() - t0) / 1e9;
    if (took > 1.2) fail_msg("took %.3f s: the slow answer was awaited", took);
    assert_int_equal(tw_test_server_count(f->srv), 2);
    assert_int_equal(stats(e).retries, 1);
    tw_exporter_destroy(e);
}

/* ---- partial success ---------------------------------------------------------------- */

/* ExportTraceServiceResponse{partial_success{rejected_spans, error_message}} */
static size_t partial_pb(uint8_t *out, int64_t rejected, const char *msg) {
    size_t ml = strlen(msg), inner = 2 + (ml ? 2 + ml : 0);
    size_t n = 0;
    out[n++] = 0x0a;
    out[n++] = (uint8_t)inner;
    out[n++] = 0x08;
    out[n++] = (uint8_t)rejected;
    if (ml) {
        out[n++] = 0x12;
        out[n++] = (uint8_t)ml;
        memcpy(out + n, msg, ml);
        n += ml;
    }
    return n;
}

static int count_lines(const char *path, const char *needle) {
    FILE *fp = fopen(path, "r");
    char line[512];
    int n = 0;
    while (fp && fgets(line, sizeof line, fp))
        if (strstr(line, needle)) n++;
    if (fp) fclose(fp);
    return n;
}

static void test_partial_success_pb(void **state) {
    fx *f = *state;
    uint8_t a[64], b[64];
    size_t al = partial_pb(a, 2, "too old"), bl = partial_pb(b, 1, "too big");
    tw_test_response script[] = {
        {.status = 200, .body = a, .body_len = al},
        {.status = 200, .body = a, .body_len = al},
        {.status = 200, .body = b, .body_len = bl},
        {.status = 200, .body = "", .body_len = 0},
    };
    tw_test_server_script(f->srv, script, 4);
    tw_exporter *e = exporter(f, (tw_otlp_options){0});

    char path[] = "/tmp/tw_test_stderr_XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    fflush(stderr);
    dup2(fd, 2);
    for (int i = 0; i < 4; i++) assert_int_equal(export_n(e, 4, in_ms(5000)), TW_OK);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    /* One line per distinct message. */
    assert_int_equal(count_lines(path, "too old"), 1);
    assert_int_equal(count_lines(path, "too big"), 1);
    unlink(path);
    tw_exporter_stats s = stats(e);
    assert_int_equal(s.spans_rejected, 5);
    assert_int_equal(s.spans_exported, 16 - 5);
    assert_int_equal(s.spans_failed, 0);
    tw_exporter_destroy(e);
}

/* ---- shutdown, fork ------------------------------------------------------------------ */

typedef struct later {
    tw_exporter *e;
    unsigned ms;
} later;

static void *shutdown_later(void *arg) {
    later *l = arg;
    usleep(l->ms * 1000);
    l->e->ops->shutdown(l->e);
    return NULL;
}

static void test_shutdown_interrupts_backoff(void **state) {
    fx *f = *state;
    tw_test_server_set_default(f->srv, &(tw_test_response){.status = 503, .headers = "Retry-After: 10\r\n"});
    tw_exporter *e = exporter(f, (tw_otlp_options){0});
    later l = {e, 300};
    pthread_t t;
    pthread_create(&t, NULL, shutdown_later, &l);
    uint64_t t0 = tw_test_monotonic_ns();
    assert_int_equal(export_n(e, 2, in_ms(30000)), TW_ESHUTDOWN);
    double took = (double)(tw_test_monotonic_ns() - t0) / 1e9;
    pthread_join(t, NULL);
    if (took > 1.0) fail_msg("shutdown took %.3f s to stop the retries", took);
    assert_int_equal(export_n(e, 1, in_ms(30000)), TW_ESHUTDOWN);
    assert_int_equal(stats(e).spans_failed, 3);
    tw_exporter_destroy(e);
}

static void test_shutdown_interrupts_request(void **state) {
    fx *f = *state;
    tw_test_server_set_default(f->srv, &(tw_test_response){.status = 200, .delay_ms = 5000});
    tw_exporter *e = exporter(f, (tw_otlp_options){.timeout_ms = 8000});
    later l = {e, 300};
    pthread_t t;
    pthread_create(&t, NULL, shutdown_later, &l);
    uint64_t t0 = tw_test_monotonic_ns();
    assert_int_equal(export_n(e, 1, in_ms(30000)), TW_ESHUTDOWN);
    double took = (double)(tw_test_monotonic_ns() - t0) / 1e9;
    pthread_join(t, NULL);
    if (took > 0.6) fail_msg("shutdown took %.3f s to abort the request", took);
    tw_exporter_destroy(e);
}

/* After fork, the child makes its own connection and leaves the parent's
 * kept-alive connection intact. */
static void test_fork_child(void **state) {
    fx *f = *state;
    tw_exporter *e = exporter(f, (tw_otlp_options){0});
    assert_int_equal(export_n(e, 1, in_ms(5000)), TW_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        e->ops->after_fork_child(e);
        int rc = export_n(e, 2, in_ms(5000));
        tw_exporter_destroy(e);
        _exit(rc == TW_OK ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(export_n(e, 3, in_ms(5000)), TW_OK);
    assert_int_equal(tw_test_server_count(f->srv), 3);
    const tw_test_request *first = tw_test_server_request(f->srv, 0), *child = tw_test_server_request(f->srv, 1),
                          *last = tw_test_server_request(f->srv, 2);
    assert_int_not_equal(child->conn_id, first->conn_id);
    assert_int_equal(last->conn_id, first->conn_id);
    expect_body(child, false, 2);
    tw_exporter_destroy(e);
}

/* ---- environment -------------------------------------------------------------------- */

static void expect_endpoint(const char *opt, const char *want) {
    char *url = tw__otlp_endpoint(TW__OTLP_TRACES, opt);
    assert_non_null(url);
    assert_string_equal(url, want);
    tw__free(url);
}

static void test_endpoint_rules(void **state) {
    expect_endpoint(NULL, "http://localhost:4318/v1/traces");
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", 1);
    expect_endpoint(NULL, "http://collector:4318/v1/traces");
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/", 1);
    expect_endpoint(NULL, "http://collector:4318/v1/traces");
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://gw.example/otlp/", 1);
    expect_endpoint(NULL, "https://gw.example/otlp/v1/traces");
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/custom/path", 1);
    expect_endpoint(NULL, "http://traces:9999/custom/path"); /* as is, and it wins */
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", 1);     /* empty means unset */
    expect_endpoint(NULL, "https://gw.example/otlp/v1/traces");
    expect_endpoint("http://explicit/x", "http://explicit/x");
}

static void test_options_from_env(void **state) {
    tw_otlp_options o;
    tw_otlp_options_from_env(&o);
    assert_null(o.endpoint);
    assert_int_equal(o.protocol, TW_OTLP_HTTP_PROTOBUF);
    assert_int_equal(o.compression_gzip, 0);
    assert_null(o.headers);
    assert_int_equal(o.timeout_ms, 0);

    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", 1);
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=1", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t/v1/traces", 1);
    tw_otlp_options_from_env(&o);
    assert_string_equal(o.endpoint, "http://t/v1/traces");
    assert_int_equal(o.protocol, TW_OTLP_HTTP_JSON);
    assert_int_equal(o.compression_gzip, 1);
    assert_string_equal(o.headers, "a=1");
    assert_int_equal(o.timeout_ms, 2500);

    /* Signal-specific variables win. */
    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=2", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700", 1);
    tw_otlp_options_from_env(&o);
    assert_int_equal(o.protocol, TW_OTLP_HTTP_PROTOBUF);
    assert_int_equal(o.compression_gzip, 0);
    assert_string_equal(o.headers, "b=2");
    assert_int_equal(o.timeout_ms, 700);

    /* gRPC is not built in: protobuf over HTTP instead (with a warning). */
    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc", 1);
    tw_otlp_options_from_env(&o);
    assert_int_equal(o.protocol, TW_OTLP_HTTP_PROTOBUF);
    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "carrier-pigeon", 1);
    tw_otlp_options_from_env(&o);
    assert_int_equal(o.protocol, TW_OTLP_HTTP_PROTOBUF);
}

/* With no options at all, everything comes from the environment. */
static void test_env_end_to_end(void **state) {
    fx *f = *state;
    char base[128];
    tw_test_server_url(f->srv, "/base/", base, sizeof base);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base, 1);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", 1);
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0ken", 1);
    tw_exporter *e;
    assert_int_equal(tw_exporter_otlp_http_new(NULL, &e), TW_OK);
    assert_int_equal(export_n(e, 2, in_ms(5000)), TW_OK);
    const tw_test_request *r = tw_test_server_request(f->srv, 0);
    assert_string_equal(r->path, "/base/v1/traces");
    assert_string_equal(tw_test_request_header(r, "Content-Type"), "application/json");
    assert_true(r->gzipped);
    assert_string_equal(tw_test_request_header(r, "authorization"), "Bearer t0ken");
    expect_body(r, true, 2);
    tw_exporter_destroy(e);
}

static void test_console(void **state) {
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    tw_exporter *e;
    assert_int_equal(tw_exporter_console_new(mem, &e), TW_OK);
    assert_int_equal(export_n(e, 2, in_ms(1000)), TW_OK);
    assert_int_equal(export_n(e, 1, in_ms(1000)), TW_OK);
    e->ops->shutdown(e);
    assert_int_equal(export_n(e, 1, in_ms(1000)), TW_ESHUTDOWN);
    tw_exporter_stats s = stats(e);
    assert_int_equal(s.spans_exported, 3);
    assert_int_equal(s.spans_failed, 1);
    tw_exporter_destroy(e);
    fclose(mem);
    /* Two lines, each one OTLP/JSON request. */
    tw__buf want;
    tw__buf_init(&want, 0);
    tw__otlp_traces_json(&want, spans, 2);
    tw__buf_putc(&want, '\n');
    tw__otlp_traces_json(&want, spans, 1);
    tw__buf_putc(&want, '\n');
    assert_int_equal(len, want.len);
    assert_memory_equal(text, want.data, len);
    tw__buf_free(&want);
    free(text);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_protobuf_post_keepalive),
        T(test_json_protocol),
        T(test_gzip),
        T(test_custom_headers),
        T(test_retry_after_seconds),
        T(test_retry_after_http_date),
        T(test_retryable_statuses),
        T(test_not_retried),
        T(test_retry_after_past_deadline),
        T(test_connection_refused_until_deadline),
        T(test_max_elapsed),
        T(test_attempt_timeout_retried),
        T(test_partial_success_pb),
        T(test_shutdown_interrupts_backoff),
        T(test_shutdown_interrupts_request),
        T(test_fork_child),
        T(test_endpoint_rules),
        T(test_options_from_env),
        T(test_env_end_to_end),
        T(test_console),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
