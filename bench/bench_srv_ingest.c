/*
 * bench_srv_ingest.c — OTLP/HTTP ingest throughput of `tracewire serve`,
 * acknowledged = durable (every 200 came after the WAL's fdatasync).
 *
 * Starts the server (path in argv[1] or TW_SERVER) on loopback ports with a
 * fresh data directory, then N client threads (TW_INGEST_CLIENTS, default 32), each on one keep-alive
 * connection, POST 100-span ExportTraceServiceRequests of realistic spans
 * for TW_INGEST_SECONDS (default 20: long enough for the head to be
 * flushed into blocks several times, so the figure is a sustained one).
 * The request is the one of bench/otlp_workload.h; every request sent gets
 * fresh trace and span ids (a unique seed patched into the body), so the
 * store sees new spans, never resends. The server runs with its default
 * limits (1 GiB head, flushed at a quarter) and RED metrics on;
 * TW_INGEST_CONFIG names a YAML file to give it instead. Prints:
 *   ingest_spans_per_s   spans acknowledged per second
 *   ingest_requests_per_s
 *   ingest_p99_ms        request latency (send to 200), 99th percentile
 *   ingest_server_rss_mb the server's resident memory at the end
 *   ingest_flushes       heads written to blocks during the run (from /metrics)
 *   ingest_partial       200 answers that refused some spans (must be 0)
 *   startup_replay_s     time for a restarted server to replay that WAL and listen
 * Bodies are built before the clock starts, with distinct trace ids, so the
 * client spends its time sending, not encoding.
 *
 * TW_INGEST_SIGNAL=logs measures logs instead: POST /v1/logs with
 * ExportLogsServiceRequests of LOG_LINES records (the article's JSON line
 * as the body, a severity, an attribute, trace and span ids with the
 * seed), and prints ingest_lines_per_s (acknowledged = in the fsync'd logs
 * WAL) and the server's bytes per line in memory; with the lines flushed
 * into log blocks as they come (the default: a quarter of logs.head_max_bytes
 * or a minute), also what the log blocks hold (log_block_lines,
 * log_block_bytes_per_line: data objects and meta.json over their lines,
 * from /metrics) and data_dir_bytes_per_line (every file of the data
 * directory: blocks, the WAL's unreleased segments, state); and the latency
 * of "all logs of this trace" over everything stored (head and blocks).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/pb.h"
#include "otlp_workload.h"

extern char **environ;

enum { SPANS = TW_BENCH_SPANS, LOG_LINES = 500, MAX_THREADS = 256, SEED_TAG = 0x5a000000 };

/* Where each record's time_unix_nano (fixed64) is in the logs request:
 * every request gets the wall-clock time it is sent, a microsecond apart
 * per record, so stored lines are as recent (and as spread) as real ones. */
static size_t time_at[LOG_LINES];

/* ExportLogsServiceRequest: one resource, one scope, LOG_LINES records
 * whose trace id (16 bytes) and span id (8) hold the 4-byte seed. */
static void logs_request(tw__buf *b, uint32_t seed) {
    tw__pb_mark rl = tw__pb_begin(b, 1, 3);
    tw__pb_mark res = tw__pb_begin(b, 1, 1);
    kv_str(b, 1, "service.name", "checkout");
    kv_str(b, 1, "deployment.environment", "production");
    tw__pb_end(b, res);
    tw__pb_mark sl = tw__pb_begin(b, 2, 3);
    tw__pb_mark sc = tw__pb_begin(b, 1, 1);
    tw__pb_bytes(b, 1, "checkout.logger", 15);
    tw__pb_end(b, sc);
    for (int i = 0; i < LOG_LINES; i++) {
        uint8_t tid[16] = {0x4b, 0xf9, 0x2f, 0x35, 0, 0, 0, 0, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, (uint8_t)(i / 10)};
        uint8_t sid[8] = {0x00, 0xf0, 0, 0, 0, 0, 0x02, (uint8_t)i};
        memcpy(tid + 4, &seed, 4);
        memcpy(sid + 2, &seed, 4);
        char line[256];
        int n = snprintf(line, sizeof line,
                         "{\"level\":\"%s\",\"msg\":\"%s\",\"service\":\"checkout\",\"order_id\":%d,"
                         "\"latency_ms\":%d}",
                         i % 10 ? "info" : "error", i % 10 ? "order placed" : "inventory reserve failed", 100000 + i,
                         i % 97);
        tw__pb_mark m = tw__pb_begin(b, 2, 2);
        time_at[i] = b->len + 1; /* after the one-byte tag */
        tw__pb_fixed64(b, 1, 1733390000000000000ull + (uint64_t)i * 1000);
        tw__pb_uint64(b, 2, i % 10 ? 9 : 17);
        tw__pb_bytes(b, 3, i % 10 ? "INFO" : "ERROR", i % 10 ? 4 : 5);
        tw__pb_mark av = tw__pb_begin(b, 5, 2);
        tw__pb_bytes(b, 1, line, (size_t)n);
        tw__pb_end(b, av);
        kv_str(b, 6, "http.route", "/checkout");
        tw__pb_fixed32(b, 8, 1);
        tw__pb_bytes(b, 9, tid, 16);
        tw__pb_bytes(b, 10, sid, 8);
        tw__pb_end(b, m);
    }
    tw__pb_end(b, sl);
    tw__pb_end(b, rl);
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The request, and where its 4-byte seed sits (in every trace, span and
 * parent id): patching those gives a request with new ids. */
typedef struct template {
    tw__buf b;
    size_t *at;
    size_t n_at;
} template;

typedef struct worker {
    int port;
    bool logs;
    const template *tmpl;
    uint32_t seed_base;
    uint64_t deadline, requests, spans, errors, partial, *lat, n_lat, cap_lat;
    int first_error; /* the status of the first non-200 answer */
} worker;

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int write_all(int fd, const void *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read one response; returns the status code or -1; *body_len its body's length. */
static int read_response(int fd, char *buf, size_t cap, size_t *body_len) {
    size_t have = 0;
    char *hdr_end = NULL;
    while (!hdr_end) {
        ssize_t r = read(fd, buf + have, cap - have - 1);
        if (r <= 0) return -1;
        have += (size_t)r;
        buf[have] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
    }
    int status = atoi(buf + 9);
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t body = cl ? (size_t)atol(cl + 15) : 0, got = have - (size_t)(hdr_end + 4 - buf);
    *body_len = body;
    while (got < body) {
        ssize_t r = read(fd, buf, cap - 1);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return status;
}

static void *run(void *arg) {
    worker *w = arg;
    int fd = connect_to(w->port);
    char head[256], resp[4096];
    tw__buf own;
    tw__buf_init(&own, 0);
    tw__buf_append(&own, w->tmpl->b.data, w->tmpl->b.len);
    tw__buf *b = &own;
    while (fd >= 0 && mono_ns() < w->deadline) {
        /* unique per acknowledged request: a refused one (429 while the head
         * is written out) is sent again with the same ids, as a client retries */
        uint32_t seed = w->seed_base + (uint32_t)w->requests;
        for (size_t i = 0; i < w->tmpl->n_at; i++) memcpy(b->data + w->tmpl->at[i], &seed, 4);
        if (w->logs) {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            uint64_t t = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
            for (int i = 0; i < LOG_LINES; i++) {
                uint64_t v = t + (uint64_t)i * 1000;
                for (int k = 0; k < 8; k++) b->data[time_at[i] + k] = (uint8_t)(v >> (8 * k));
            }
        }
        int hl = snprintf(head, sizeof head,
                          "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
                          "Content-Length: %zu\r\n\r\n", w->logs ? "/v1/logs" : "/v1/traces", b->len);
        uint64_t t0 = mono_ns();
        if (write_all(fd, head, (size_t)hl) || write_all(fd, b->data, b->len)) break;
        size_t body_len = 0;
        int st = read_response(fd, resp, sizeof resp, &body_len);
        if (st < 0) break;
        if (st == 200 && body_len > 0) w->partial++; /* a partial_success: some spans refused */
        if (st != 200) {
            if (!w->errors++) w->first_error = st; /* shown at the end: what pushed back */
            continue;
        }
        if (w->n_lat == w->cap_lat) {
            w->cap_lat = w->cap_lat ? w->cap_lat * 2 : 4096;
            w->lat = realloc(w->lat, w->cap_lat * sizeof *w->lat);
        }
        w->lat[w->n_lat++] = mono_ns() - t0;
        w->requests++;
        w->spans += w->logs ? LOG_LINES : SPANS;
    }
    if (fd >= 0) close(fd);
    tw__buf_free(&own);
    return NULL;
}

/* Logs mode: the latency of GET /api/traces/<id>/logs ("all logs of this
 * trace") for `n` traces picked from the requests acknowledged, with every
 * line of the run stored; each answer must hold the trace's 10 lines.
 * Latencies (ns) into lat[0..n); returns how many answers were wrong. */
static int trace_logs_latency(int port, const worker *w, int threads, uint64_t *lat, int n) {
    int fd = connect_to(port), wrong = 0;
    static char resp[1 << 20];
    for (int k = 0; k < n && fd >= 0; k++) {
        const worker *x = &w[k % threads];
        if (!x->requests) continue;
        uint32_t seed = x->seed_base + (uint32_t)((uint64_t)k * 7919 % x->requests); /* an acknowledged request */
        uint8_t tid[16] = {0x4b, 0xf9, 0x2f, 0x35, 0, 0, 0, 0, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, (uint8_t)(k % 50)};
        memcpy(tid + 4, &seed, 4);
        char hex[33], req[256];
        for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", tid[i]);
        int rl = snprintf(req, sizeof req, "GET /api/traces/%s/logs?limit=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", hex);
        uint64_t t0 = mono_ns();
        if (write_all(fd, req, (size_t)rl)) break;
        /* read the whole answer to count its lines */
        size_t have = 0, body = 0;
        char *hdr_end = NULL;
        for (;;) {
            ssize_t r = read(fd, resp + have, sizeof resp - 1 - have);
            if (r <= 0) break;
            have += (size_t)r;
            resp[have] = 0;
            if (!hdr_end && (hdr_end = strstr(resp, "\r\n\r\n"))) {
                const char *cl = strcasestr(resp, "Content-Length:");
                body = cl ? (size_t)atol(cl + 15) : 0;
            }
            if (hdr_end && have - (size_t)(hdr_end + 4 - resp) >= body) break;
        }
        lat[k] = mono_ns() - t0;
        int lines = 0;
        for (const char *p = resp; (p = strstr(p, "order placed")); p++) lines++;
        for (const char *p = resp; (p = strstr(p, "inventory reserve failed")); p++) lines++;
        if (atoi(resp + 9) != 200 || lines != 10) wrong++;
    }
    if (fd >= 0) close(fd);
    return wrong;
}

/* GET /metrics and the value of one sample line, or -1. */
static long long metric(int port, const char *name) {
    int fd = connect_to(port);
    if (fd < 0) return -1;
    const char *req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    static char buf[1 << 20];
    size_t have = 0;
    if (write_all(fd, req, strlen(req)) == 0)
        for (ssize_t r; have < sizeof buf - 1 && (r = read(fd, buf + have, sizeof buf - 1 - have)) > 0;) have += (size_t)r;
    close(fd);
    buf[have] = 0;
    for (const char *p = buf; (p = strstr(p, name)); p++) /* a sample line, not the HELP line that names it */
        if (p == buf || p[-1] == '\n') return atoll(p + strlen(name));
    return -1;
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t l = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static uint64_t tree_bytes;
static int add_file(const char *path, const struct stat *st, int flag, struct FTW *f) {
    if (flag == FTW_F) tree_bytes += (uint64_t)st->st_size;
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static long rss_kb(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

int main(int argc, char **argv) {
    const char *server = argc > 1 ? argv[1] : getenv("TW_SERVER");
    if (!server) {
        fprintf(stderr, "usage: bench_srv_ingest PATH-TO-tracewire (or TW_SERVER=...)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/tw-ingest-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    int otlp = free_port(), api = free_port();
    char a1[64], a2[64];
    snprintf(a1, sizeof a1, "127.0.0.1:%d", otlp);
    snprintf(a2, sizeof a2, "127.0.0.1:%d", api);
    char a3[64];
    snprintf(a3, sizeof a3, "127.0.0.1:%d", free_port());
    /* TW_INGEST_CONFIG: a YAML file for the server (e.g. span metrics off, to compare) */
    const char *cfg = getenv("TW_INGEST_CONFIG");
    char *args[] = {(char *)server, "serve", "--data-dir", dir, "--otlp-http-listen", a1, "--http-listen", a2,
                    "--otlp-grpc-listen", a3, cfg ? "--config" : NULL, (char *)cfg, NULL};
    pid_t pid;
    if (posix_spawn(&pid, server, NULL, NULL, args, environ) != 0) return 1;
    for (int i = 0; i < 200; i++) { /* wait until it listens */
        int fd = connect_to(otlp);
        if (fd >= 0) {
            close(fd);
            break;
        }
        usleep(20000);
    }

    template tmpl = {0};
    tw__buf_init(&tmpl.b, 0);
    uint32_t tag = SEED_TAG; /* a seed no other bytes of the request contain */
    const char *sig = getenv("TW_INGEST_SIGNAL");
    bool logs = sig && !strcmp(sig, "logs");
    if (logs) logs_request(&tmpl.b, tag);
    else tw_bench_otlp_request(&tmpl.b, tag);
    tmpl.at = malloc(tmpl.b.len * sizeof *tmpl.at);
    for (size_t i = 0; i + 4 <= tmpl.b.len; i++)
        if (!memcmp(tmpl.b.data + i, &tag, 4)) tmpl.at[tmpl.n_at++] = i;
    size_t want_at = logs ? 2 * LOG_LINES : 3 * SPANS; /* trace, span (and parent) id of every item */
    if (tmpl.n_at != want_at) {
        fprintf(stderr, "the seed was found %zu times, expected %zu\n", tmpl.n_at, want_at);
        return 1;
    }
    size_t bytes = tmpl.b.len;
    int seconds = getenv("TW_INGEST_SECONDS") ? atoi(getenv("TW_INGEST_SECONDS")) : 20;
    if (seconds < 1) seconds = 20;
    int threads = getenv("TW_INGEST_CLIENTS") ? atoi(getenv("TW_INGEST_CLIENTS")) : 32;
    if (threads < 1 || threads > MAX_THREADS) threads = 32;
    static worker w[MAX_THREADS];
    static pthread_t th[MAX_THREADS];
    uint64_t t0 = mono_ns();
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){.port = otlp, .logs = logs, .tmpl = &tmpl, .deadline = t0 + (uint64_t)seconds * 1000000000ull,
                        .seed_base = (uint32_t)i << 24};
        pthread_create(&th[i], NULL, run, &w[i]);
    }
    uint64_t spans = 0, reqs = 0, errors = 0, n_lat = 0, partial = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        spans += w[i].spans;
        reqs += w[i].requests;
        errors += w[i].errors;
        partial += w[i].partial;
        n_lat += w[i].n_lat;
    }
    double secs = (double)(mono_ns() - t0) / 1e9;
    uint64_t *lat = malloc((n_lat ? n_lat : 1) * sizeof *lat);
    size_t k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(lat + k, w[i].lat, w[i].n_lat * sizeof *lat);
        k += w[i].n_lat;
        free(w[i].lat);
    }
    qsort(lat, n_lat, sizeof *lat, cmp_u64);
    long rss = rss_kb(pid);
    enum { PROBES = 2000 };
    static uint64_t tl[PROBES];
    int tl_wrong = logs ? trace_logs_latency(api, w, threads, tl, PROBES) : 0;
    if (logs) qsort(tl, PROBES, sizeof *tl, cmp_u64);
    long long flushes = metric(api, "tracewire_head_flushes_total{result=\"ok\"} ");
    long long log_flushes = metric(api, "tracewire_log_head_flushes_total{result=\"ok\"} ");
    long long log_compactions = metric(api, "tracewire_log_compactions_total{result=\"ok\"} ");
    long long log_block_lines = metric(api, "tracewire_log_block_records ");
    long long log_block_bytes = metric(api, "tracewire_log_block_bytes ");
    long long log_blocks = metric(api, "tracewire_log_blocks ");
    tree_bytes = 0;
    nftw(dir, add_file, 16, FTW_PHYS);
    uint64_t dir_bytes = tree_bytes;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);

    /* Start-up with everything just written still in the WAL: time from
     * exec until the receiver accepts connections (it listens after replay). */
    uint64_t r0 = mono_ns();
    if (posix_spawn(&pid, server, NULL, NULL, args, environ) != 0) return 1;
    double replay_s = -1;
    for (int i = 0; i < 30000; i++) {
        int fd = connect_to(otlp);
        if (fd >= 0) {
            close(fd);
            replay_s = (double)(mono_ns() - r0) / 1e9;
            break;
        }
        usleep(2000);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    printf("ingest_clients %d connections\n", threads);
    if (logs) {
        printf("ingest_lines_per_s %.0f lines/s\n", (double)spans / secs);
        printf("ingest_log_request_bytes %zu bytes (%d lines)\n", bytes, LOG_LINES);
        printf("ingest_server_rss_per_line %.0f bytes/line in memory\n", rss * 1024.0 / (double)(spans ? spans : 1));
        printf("trace_logs_p50_ms %.3f ms (all logs of one trace, %llu lines stored)\n", (double)tl[PROBES / 2] / 1e6,
               (unsigned long long)spans);
        printf("trace_logs_p99_ms %.3f ms\n", (double)tl[PROBES * 99 / 100] / 1e6);
        printf("trace_logs_wrong %d of %d answers (must be 0)\n", tl_wrong, PROBES);
        printf("log_block_lines %lld lines in %lld log blocks (%lld flushes, %lld compactions)\n", log_block_lines,
               log_blocks, log_flushes, log_compactions);
        printf("log_block_bytes_per_line %.1f bytes/line\n",
               log_block_lines > 0 ? (double)log_block_bytes / (double)log_block_lines : 0.0);
        printf("data_dir_bytes_per_line %.1f bytes/line (%llu bytes: blocks, unreleased WAL, state)\n",
               (double)dir_bytes / (double)(spans ? spans : 1), (unsigned long long)dir_bytes);
    }
    printf("ingest_spans_per_s %.0f spans/s\n", (double)spans / secs);
    printf("ingest_requests_per_s %.0f requests/s\n", (double)reqs / secs);
    printf("ingest_p99_ms %.2f ms\n", n_lat ? (double)lat[n_lat * 99 / 100] / 1e6 : 0.0);
    int first_error = 0;
    for (int i = 0; i < threads && !first_error; i++) first_error = w[i].first_error;
    printf("ingest_non_200 %llu requests", (unsigned long long)errors);
    if (errors) printf(" (the first: %d)", first_error);
    printf("\n");
    printf("ingest_partial %llu requests\n", (unsigned long long)partial);
    printf("ingest_flushes %lld\n", flushes);
    printf("ingest_request_bytes %zu bytes\n", bytes);
    printf("ingest_server_rss_mb %.0f MB\n", rss / 1024.0);
    printf("startup_replay_s %.2f s for %llu spans in the WAL\n", replay_s, (unsigned long long)spans);
    tw__buf_free(&tmpl.b);
    free(tmpl.at);
    free(lat);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
