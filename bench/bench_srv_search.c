/*
 * bench_srv_search.c — TraceQL search over a block store, one line per
 * figure ("name value unit"):
 *
 *   search_store_spans               spans in the store searched
 *   search_<q>_spans_per_cpu_s       spans in the store / process CPU time of
 *                                    one search (all scanner threads): spans
 *                                    scanned per second per core
 *   search_<q>_spans_per_s           spans in the store / wall time
 *   search_<q>_p50_ms, _p99_ms       wall time of a whole search (limit 20,
 *                                    the store's whole time range), over
 *                                    TW_SEARCH_RUNS runs (default 10), after
 *                                    one run that is not counted
 *   search_<q>_first_ms              wall time of that first run (the
 *                                    mapped blocks' pages come in)
 *   search_<q>_pruned_pct            row groups ruled out by the push-down
 *                                    without decoding a span
 *   search_<q>_matches               traces returned (≤ 20)
 *   search_trace_by_id_p50_ms, _p99_ms, _max_ms, _missing
 *                                    tws_store_find of TW_SEARCH_LOOKUPS
 *                                    (2000) stored trace ids (TW_SEARCH_ONLY=
 *                                    trace_by_id runs only these)
 *
 * TW_SEARCH_ONLY=<name> runs one query. The store: TW_SEARCH_STORE names a directory that bench_srv_store left
 * (TW_BENCH_KEEP=1); without it, bench_srv_store (next to this program) is
 * run first with TW_STORE_SPANS = TW_SEARCH_SPANS (default 2,000,000) and
 * its store is removed at the end. The workload is bench_srv_store's: 12
 * services, ~8.4 spans per trace, ~10 attributes per span with realistic
 * cardinality (see that file).
 *
 * Queries (the names in the figures):
 *   eq_rare     { span.url.path = "/api/v1/orders/4242424" }   one id in ten million
 *   eq_absent_value { span.http.request.method = "TRACE" }    a low-cardinality column, no match
 *   eq_absent_key   { span.no.such.key = "x" }                the dictionary alone answers
 *   eq_common   { span.http.request.method = "DELETE" }        a few % of spans
 *   eq_error    { resource.service.name = "payments" && status = error }
 *   regex       { span.url.path =~ "/api/v1/orders/42424.*" }
 *   structural  { resource.service.name = "frontend" } >> { span.db.system = "postgresql" && status = error }
 *   all         { }                                            no push-down possible
 *   quantile    { } | quantile_over_time(duration, .99) by (resource.service.name)
 *   rate_filtered { span.http.request.method = "DELETE" } | rate() by (resource.service.name)
 * The metrics queries run over the last 2 hours in 60 s steps (the store's
 * spans are 15..25 minutes old when it is made).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "objstore/objstore.h"
#include "search/metrics.h"
#include "search/search.h"
#include "serve/server.h"
#include "store/store.h"
#include "traceql/traceql.h"

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double process_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e-6;
}

static void figure(const char *name, const char *q, double v, const char *unit) {
    printf("search_%s%s%s %.6g %s\n", q ? q : "", q ? "_" : "", name, v, unit);
    fflush(stdout);
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static void quiet(const char *msg) { (void)msg; }

/* Make a store with bench_srv_store; its directory goes to root. */
static int make_store(char *root, size_t cap) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash) return 1;
    *slash = 0;
    const char *spans = getenv("TW_SEARCH_SPANS");
    char log[] = "/tmp/tw-bench-search-log-XXXXXX";
    int fd = mkstemp(log);
    if (fd < 0) return 1;
    close(fd);
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "TW_BENCH_KEEP=1 TW_STORE_LOOKUPS=10 TW_STORE_SPANS=%s %s/bench_srv_store >/dev/null 2>%s",
             spans && *spans ? spans : "2000000", self, log);
    fprintf(stderr, "bench_srv_search: making a store: %s\n", cmd);
    int rc = system(cmd);
    FILE *f = fopen(log, "r");
    char line[4400];
    root[0] = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "kept ", 5)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(root, cap, "%s", line + 5);
        }
    if (f) fclose(f);
    unlink(log);
    return rc != 0 || !root[0];
}

static const struct {
    const char *name, *q;
} QUERIES[] = {
    {"eq_rare", "{ span.url.path = \"/api/v1/orders/4242424\" }"},
    {"eq_absent_value", "{ span.http.request.method = \"TRACE\" }"},
    {"eq_absent_key", "{ span.no.such.key = \"x\" }"},
    {"eq_common", "{ span.http.request.method = \"DELETE\" }"},
    {"eq_error", "{ resource.service.name = \"payments\" && status = error }"},
    {"regex", "{ span.url.path =~ \"/api/v1/orders/42424.*\" }"},
    {"structural", "{ resource.service.name = \"frontend\" } >> { span.db.system = \"postgresql\" && status = error }"},
    {"all", "{ }"},
    {"quantile", "{ } | quantile_over_time(duration, .99) by (resource.service.name)"},
    {"rate_filtered", "{ span.http.request.method = \"DELETE\" } | rate() by (resource.service.name)"},
};

/* One search or metrics query; TW_OK and its stats and answer size. */
static int run_query(tws_store *st, const tq_query *q, tws_search_stats *stats, uint32_t *n, char err[256]) {
    if (!q->metrics) {
        tws_search_req req = {.q = q, .tenant = "single-tenant", .limit = 20};
        tws_search_result res;
        int rc = tws_search_run(&req, NULL, NULL, st, &res, err);
        *stats = res.stats;
        *n = res.n;
        tws_search_result_free(&res);
        return rc;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t end = (uint64_t)now.tv_sec * 1000000000ull, step = 60ull * 1000000000ull;
    tws_tqm_req req = {.q = q, .tenant = "single-tenant", .start_ns = end - 120 * step, .end_ns = end, .step_ns = step,
                       .max_exemplars = 100};
    tws_tqm_result res;
    int rc = tws_tqm_run(&req, NULL, NULL, st, &res, err);
    *stats = res.stats;
    *n = res.n;
    tws_tqm_result_free(&res);
    return rc;
}

/* Trace by id over the store: TW_SEARCH_LOOKUPS (default 2000) ids of
 * stored traces, 10 from each of as many random row groups (read before
 * the timing), then each looked up with tws_store_find as the query API
 * does, in a random order. */
static void trace_by_id(tws_store *st) {
    uint32_t want = 2000;
    if (getenv("TW_SEARCH_LOOKUPS")) want = (uint32_t)strtoul(getenv("TW_SEARCH_LOOKUPS"), NULL, 10);
    if (!want) return;
    tws_store_snap snap;
    if (tws_store_snapshot(st, "single-tenant", 0, 0, &snap) || !snap.n) return;
    uint8_t(*ids)[16] = malloc((size_t)want * 16);
    double *lat = malloc(want * sizeof *lat);
    uint64_t rng = 0x853c49e6748fea9bull;
    uint32_t n = 0;
    char err[256];
    while (n < want) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        tws_block *b = snap.blocks[(rng >> 33) % snap.n];
        uint64_t rgs = tws_block_get_meta(b)->row_groups;
        tws_batch out;
        tws_batch_init(&out);
        if (tws_block_read_row_group(b, (rng >> 17) % rgs, &out, err) == TW_OK && out.n_spans)
            for (int k = 0; k < 10 && n < want; k++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                memcpy(ids[n++], out.spans[(rng >> 33) % out.n_spans].trace_id, 16);
            }
        tws_batch_free(&out);
    }
    tws_store_snap_release(st, &snap);
    for (uint32_t i = n; i > 1; i--) { /* shuffled: neighbours come from other row groups */
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t j = (uint32_t)((rng >> 33) % i);
        uint8_t t[16];
        memcpy(t, ids[i - 1], 16);
        memcpy(ids[i - 1], ids[j], 16);
        memcpy(ids[j], t, 16);
    }
    uint32_t missing = 0;
    for (uint32_t i = 0; i < n; i++) {
        tws_batch *bs;
        size_t nb;
        double w0 = wall_s();
        int rc = tws_store_find(st, "single-tenant", ids[i], 0, 0, &bs, &nb, err);
        lat[i] = wall_s() - w0;
        if (rc) {
            fprintf(stderr, "trace_by_id: %s\n", err);
            break;
        }
        size_t spans = 0;
        for (size_t k = 0; k < nb; k++) {
            spans += bs[k].n_spans;
            tws_batch_free(&bs[k]);
        }
        tw__free(bs);
        missing += spans == 0;
    }
    qsort(lat, n, sizeof *lat, cmp_double);
    figure("p50_ms", "trace_by_id", lat[(n - 1) / 2] * 1e3, "ms");
    figure("p99_ms", "trace_by_id", lat[(size_t)ceil(0.99 * n) - 1] * 1e3, "ms");
    figure("max_ms", "trace_by_id", lat[n - 1] * 1e3, "ms");
    figure("missing", "trace_by_id", missing, "traces");
    free(ids);
    free(lat);
}

int main(void) {
    tws_tune_allocator();
    char root[4400];
    const char *given = getenv("TW_SEARCH_STORE");
    bool made = !given || !*given;
    if (made) {
        if (make_store(root, sizeof root)) {
            fprintf(stderr, "bench_srv_search: bench_srv_store failed\n");
            return 1;
        }
    } else {
        snprintf(root, sizeof root, "%s", given);
    }
    char blocks[4500], state[4500], err[256];
    snprintf(blocks, sizeof blocks, "%s/blocks", root);
    snprintf(state, sizeof state, "%s/state", root);
    tws_objstore *obj;
    tws_objstore_err oe = {{0}};
    if (tws_objstore_local_open(blocks, &obj, &oe)) {
        fprintf(stderr, "objstore: %s\n", oe.msg);
        return 1;
    }
    tws_store_options so = {.retention_s = 10ull * 365 * 24 * 3600, .maintenance_ms = 24ull * 3600 * 1000};
    tws_store *st;
    uint64_t cp;
    if (tws_store_open(obj, state, &so, quiet, &st, &cp, err)) {
        fprintf(stderr, "tws_store_open: %s\n", err);
        return 1;
    }
    tws_store_stats ss;
    tws_store_get_stats(st, &ss);
    double spans = (double)ss.block_spans;
    figure("store_spans", NULL, spans, "spans");
    figure("store_blocks", NULL, (double)ss.blocks, "blocks");
    uint32_t runs = 10;
    if (getenv("TW_SEARCH_RUNS")) runs = (uint32_t)strtoul(getenv("TW_SEARCH_RUNS"), NULL, 10);
    if (runs < 1) runs = 1;
    double *lat = calloc(runs, sizeof *lat);
    const char *only = getenv("TW_SEARCH_ONLY"); /* one query by name */
    for (size_t k = 0; k < sizeof QUERIES / sizeof *QUERIES; k++) {
        if (only && strcmp(only, QUERIES[k].name)) continue;
        tq_query *q;
        if (tq_parse(QUERIES[k].q, strlen(QUERIES[k].q), &q, err)) {
            fprintf(stderr, "%s: %s\n", QUERIES[k].q, err);
            return 1;
        }
        double cpu = 0;
        tws_search_stats last = {0};
        uint32_t matches = 0;
        /* one run first, not counted: on a local store blocks are mapped,
         * and the first pass over a column faults its pages into this
         * process (a running server has them from earlier queries) */
        double f0 = wall_s();
        int rc0 = run_query(st, q, &last, &matches, err);
        double first = wall_s() - f0;
        if (rc0) {
            fprintf(stderr, "%s: %s (%s)\n", QUERIES[k].name, err, tw_strerror(rc0));
            return 1;
        }
        for (uint32_t r = 0; r < runs; r++) {
            double w0 = wall_s(), c0 = process_cpu_s();
            int rc = run_query(st, q, &last, &matches, err);
            lat[r] = wall_s() - w0;
            cpu += process_cpu_s() - c0;
            if (rc) {
                fprintf(stderr, "%s: %s (%s)\n", QUERIES[k].name, err, tw_strerror(rc));
                return 1;
            }
        }
        qsort(lat, runs, sizeof *lat, cmp_double);
        double sum = 0;
        for (uint32_t r = 0; r < runs; r++) sum += lat[r];
        const char *n = QUERIES[k].name;
        fprintf(stderr, "  %-10s %s\n", n, QUERIES[k].q);
        figure("spans_per_cpu_s", n, spans * runs / cpu, "spans/s");
        figure("spans_per_s", n, spans * runs / sum, "spans/s");
        figure("p50_ms", n, lat[(runs - 1) / 2] * 1e3, "ms");
        figure("p99_ms", n, lat[(size_t)ceil(0.99 * runs) - 1] * 1e3, "ms");
        figure("first_ms", n, first * 1e3, "ms");
        double rgs = (double)(last.row_groups_read + last.row_groups_skipped);
        figure("pruned_pct", n, rgs ? 100.0 * (double)last.row_groups_pruned / rgs : 0, "%");
        figure("matches", n, matches, q->metrics ? "series" : "traces");
        tq_query_free(q);
    }
    free(lat);
    if (!only || !strcmp(only, "trace_by_id")) trace_by_id(st);
    tws_store_close(st);
    if (made) {
        char cmd[4600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        if (system(cmd)) fprintf(stderr, "could not remove %s\n", root);
    }
    return 0;
}
