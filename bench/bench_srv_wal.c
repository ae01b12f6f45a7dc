/*
 * bench_srv_wal.c — write-ahead log throughput with real fdatasync:
 *
 *   wal_append_sync       records/s: 8 threads, each appending 30 KB records
 *                         (about one 100-span OTLP request) and waiting for
 *                         each to be durable, for 3 s (TW_BENCH_SECONDS)
 *   wal_append_bytes      the same in MB/s of record bytes
 *   wal_records_per_sync  how many records one fdatasync covered (the
 *                         group commit at work)
 *
 * The log lives in a fresh directory under $TMPDIR or /tmp, removed at the
 * end; the figures are those of that directory's disk.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "wal/wal.h"

enum { THREADS = 8, RECORD = 30 * 1024 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct arg {
    tws_wal *w;
    double until;
    uint64_t done;
    int failed;
} arg;

static void *appender(void *p) {
    arg *a = p;
    static _Thread_local uint8_t buf[RECORD];
    for (size_t i = 0; i < RECORD; i++) buf[i] = (uint8_t)(i * 131 + (uintptr_t)a);
    tw_str part = {(const char *)buf, RECORD};
    while (now_s() < a->until) {
        int rc = tws_wal_append(a->w, 1, &part, 1, NULL);
        if (rc == TW_EFULL) continue;
        if (rc != TW_OK) {
            a->failed = rc;
            break;
        }
        a->done++;
    }
    return NULL;
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[4200];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

int main(void) {
    const char *t = getenv("TMPDIR"), *secs = getenv("TW_BENCH_SECONDS");
    double seconds = secs ? atof(secs) : 3.0;
    if (seconds <= 0) seconds = 3.0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tw-bench-wal-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    tws_wal *w;
    char msg[256];
    tws_wal_options o = {0}; /* 64 MiB segments, 64 MiB pending, real fdatasync */
    int rc = tws_wal_open(dir, &o, NULL, &w, msg);
    if (rc != TW_OK) {
        fprintf(stderr, "open: %s\n", msg);
        remove_dir(dir);
        return 1;
    }
    pthread_t th[THREADS];
    arg args[THREADS];
    double t0 = now_s();
    for (int i = 0; i < THREADS; i++) {
        args[i] = (arg){.w = w, .until = t0 + seconds};
        pthread_create(&th[i], NULL, appender, &args[i]);
    }
    uint64_t n = 0;
    int failed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        n += args[i].done;
        if (args[i].failed) failed = args[i].failed;
    }
    double el = now_s() - t0;
    tws_wal_stats st;
    tws_wal_get_stats(w, &st);
    tws_wal_close(w);
    remove_dir(dir);
    if (failed) {
        fprintf(stderr, "append failed: %s\n", tw_strerror(failed));
        return 1;
    }
    printf("wal_append_sync %.0f records/s\n", (double)n / el);
    printf("wal_append_bytes %.1f MB/s\n", (double)n * (RECORD + 12) / el / 1e6);
    printf("wal_records_per_sync %.1f records\n", st.syncs ? (double)st.appends / (double)st.syncs : 0.0);
    return 0;
}
