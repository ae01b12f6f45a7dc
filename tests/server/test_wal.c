/*
 * test_wal.c — the write-ahead log and its checksum.
 *
 * Covered: CRC-32C known answers and hardware/table agreement; append and
 * replay across segment rotation; group commit (many threads, far fewer
 * syncs than appends, every completion after the sync that covers it);
 * a torn tail at every byte of the last record and of the segment header;
 * a flipped byte in every byte of the last record; a flipped byte in an
 * old segment; TW_EFULL without allocation; release_before; many
 * close/reopen cycles; empty and missing directories; files that are not
 * segments; a second opener; write and sync failures (RLIMIT_FSIZE in a
 * child, a failing fdatasync); and kill -9 of a child process appending
 * with real fdatasync, checking every acknowledged record after each crash.
 *
 * fdatasync is interposed below (the test program's definition wins over
 * libc's for the statically linked WAL): it counts, remembers how much of
 * the file was synced, and can add latency or fail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs_util.h"

#include "common/crc32c.h"
#include "wal/wal.h"

/* ---- the fdatasync shim -------------------------------------------------- */

static _Atomic int sync_delay_us;     /* sleep before syncing: a slow disk */
static _Atomic int sync_fail;         /* fail every sync with EIO */
static _Atomic uint64_t sync_fail_at; /* > 0: fail the sync that makes sync_calls this */
static _Atomic uint64_t sync_calls;   /* every call */
static _Atomic uint64_t synced_size;  /* file size at the latest successful sync */

int fdatasync(int fd) {
    uint64_t nth = atomic_fetch_add(&sync_calls, 1) + 1;
    if (atomic_load(&sync_fail) || nth == atomic_load(&sync_fail_at)) {
        errno = EIO;
        return -1;
    }
    int d = atomic_load(&sync_delay_us);
    if (d) usleep((useconds_t)d);
    struct stat st;
    int have = fstat(fd, &st) == 0; /* the size before the sync is what it covers */
    if (syscall(SYS_fdatasync, fd) != 0) return -1;
    if (have) atomic_store(&synced_size, (uint64_t)st.st_size);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char *new_dir(void) {
    const char *t = getenv("TMPDIR");
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/tw-wal-test-XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(p));
    return p;
}

static void free_dir(char *p) {
    rm_rf(p);
    free(p);
}

static uint8_t *read_file(const char *path, size_t *n) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
    close(fd);
    *n = (size_t)st.st_size;
    return b;
}

static void write_file(const char *path, const void *p, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static uint64_t file_size(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static void seg_path(const char *dir, uint64_t first, char *out, size_t n) {
    snprintf(out, n, "%s/%016llx.wal", dir, (unsigned long long)first);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* First LSNs of the segment files in `dir`, sorted; returns the count. */
static size_t list_segs(const char *dir, uint64_t *out, size_t max) {
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    while (d && (e = readdir(d))) {
        unsigned long long v;
        char tail[8];
        if (strlen(e->d_name) == 20 && sscanf(e->d_name, "%16llx%7s", &v, tail) == 2 && !strcmp(tail, ".wal") &&
            n < max)
            out[n++] = v;
    }
    if (d) closedir(d);
    qsort(out, n, sizeof *out, cmp_u64);
    return n;
}

/* Test records describe themselves: id (8 bytes LE), length (4), then
 * bytes drawn from the id. Type is 1 + id % 254; type 255 is an empty record. */

static void make_payload(uint64_t id, uint8_t *p, size_t len) {
    if (len < 12) abort();
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(id >> (8 * i));
    for (int i = 0; i < 4; i++) p[8 + i] = (uint8_t)(len >> (8 * i));
    uint64_t s = tw__mix64(id) | 1;
    for (size_t i = 12; i < len; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p[i] = (uint8_t)(s >> 32);
    }
}

static uint8_t type_of(uint64_t id) { return (uint8_t)(1 + id % 254); }

/* The id of an intact test record, or UINT64_MAX when it is not one. */
static uint64_t check_payload(uint8_t type, const uint8_t *p, size_t len) {
    if (type == 255 && len == 0) return UINT64_MAX - 1;
    if (len < 12) return UINT64_MAX;
    uint64_t id = 0;
    uint32_t l = 0;
    for (int i = 0; i < 8; i++) id |= (uint64_t)p[i] << (8 * i);
    for (int i = 0; i < 4; i++) l |= (uint32_t)p[8 + i] << (8 * i);
    if (l != len || type != type_of(id) || len > (1u << 20)) return UINT64_MAX;
    uint8_t *want = malloc(len);
    make_payload(id, want, len);
    int same = memcmp(want, p, len) == 0;
    free(want);
    return same ? id : UINT64_MAX;
}

/* Append test record `id` of `len` bytes split into up to three parts. */
static int append_id(tws_wal *w, uint64_t id, size_t len, uint64_t *lsn) {
    uint8_t *p = malloc(len);
    make_payload(id, p, len);
    size_t a = (size_t)(tw__mix64(id + 1) % (len + 1)), b = a + (size_t)(tw__mix64(id + 2) % (len - a + 1));
    tw_str parts[3] = {{(const char *)p, a}, {(const char *)p + a, b - a}, {(const char *)p + b, len - b}};
    int rc = tws_wal_append(w, type_of(id), parts, 3, lsn);
    free(p);
    return rc;
}

/* What a replay saw. */
typedef struct rrec {
    uint64_t lsn, id;
    uint32_t len;
} rrec;

typedef struct coll {
    rrec *r;
    size_t n, cap;
    int bad;            /* records that were not intact test records */
    int order;          /* LSNs out of order */
    uint64_t prog_last, prog_total;
    int prog_calls, prog_backwards;
    char warns[16][256];
    int nwarn;
    int stop_after; /* > 0: fail replay with TW_EIO after this many */
} coll;

static int on_record(void *u, uint8_t type, const uint8_t *p, size_t len, uint64_t lsn) {
    coll *c = u;
    uint64_t id = check_payload(type, p, len);
    if (id == UINT64_MAX) c->bad++;
    if (c->n && lsn <= c->r[c->n - 1].lsn) c->order++;
    if (c->n && lsn < c->r[c->n - 1].lsn + 12 + c->r[c->n - 1].len) c->order++;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->r = realloc(c->r, c->cap * sizeof *c->r);
    }
    c->r[c->n++] = (rrec){.lsn = lsn, .id = id, .len = (uint32_t)len};
    if (c->stop_after && (int)c->n == c->stop_after) return TW_EIO;
    return TW_OK;
}

static void on_progress(void *u, uint64_t done, uint64_t total) {
    coll *c = u;
    if (done < c->prog_last || done > total) c->prog_backwards++;
    c->prog_last = done;
    c->prog_total = total;
    c->prog_calls++;
}

static void on_warn(void *u, const char *msg) {
    coll *c = u;
    if (c->nwarn < 16) snprintf(c->warns[c->nwarn], 256, "%s", msg);
    c->nwarn++;
}

static void coll_reset(coll *c) {
    free(c->r);
    memset(c, 0, sizeof *c);
}

static tws_wal *open_ok(const char *dir, const tws_wal_options *o, coll *c, tws_wal_replay *rp) {
    tws_wal_replay local;
    if (!rp) rp = &local;
    *rp = (tws_wal_replay){.record = on_record, .progress = on_progress, .warn = on_warn, .user = c};
    tws_wal *w = NULL;
    char msg[256];
    int rc = tws_wal_open(dir, o, rp, &w, msg);
    if (rc) print_message("open %s: %s (%s)\n", dir, tw_strerror(rc), msg);
    assert_int_equal(rc, TW_OK);
    assert_non_null(w);
    assert_int_equal(c->bad, 0);
    assert_int_equal(c->order, 0);
    return w;
}

static bool warned(const coll *c, const char *needle) {
    for (int i = 0; i < c->nwarn && i < 16; i++)
        if (strstr(c->warns[i], needle)) return true;
    return false;
}

/* ---- CRC-32C ------------------------------------------------------------- */

static uint32_t crc_bitwise(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static void test_crc32c(void **state) {
    (void)state;
    bool hw = tw__crc32c_have_hw();
    print_message("crc32c: hardware %s\n", hw ? "yes (sse4.2)" : "no, tables");
    const char *s = "123456789";
    assert_int_equal(tw__crc32c(0, s, 9), 0xE3069283u);
    assert_int_equal(tw__crc32c_sw(0, s, 9), 0xE3069283u);
    if (hw) assert_int_equal(tw__crc32c_hw(0, s, 9), 0xE3069283u);
    assert_int_equal(tw__crc32c(0, "", 0), 0);
    /* RFC 3720 (iSCSI) B.4 vectors. */
    uint8_t v[32];
    memset(v, 0, 32);
    assert_int_equal(tw__crc32c(0, v, 32), 0x8A9136AAu);
    memset(v, 0xff, 32);
    assert_int_equal(tw__crc32c(0, v, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) v[i] = (uint8_t)i;
    assert_int_equal(tw__crc32c_sw(0, v, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) v[i] = (uint8_t)(31 - i);
    assert_int_equal(tw__crc32c_sw(0, v, 32), 0x113FDB5Cu);

    /* Every length up to 300 at every alignment, and chaining. */
    uint8_t buf[1100];
    uint64_t x = 42;
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)((x = tw__mix64(x + i)) >> 24);
    for (size_t al = 0; al < 8; al++) {
        for (size_t n = 0; n <= 300; n++) {
            uint32_t want = crc_bitwise(buf + al, n);
            assert_int_equal(tw__crc32c_sw(0, buf + al, n), want);
            if (hw) assert_int_equal(tw__crc32c_hw(0, buf + al, n), want);
            size_t cut = n / 3;
            assert_int_equal(tw__crc32c(tw__crc32c(0, buf + al, cut), buf + al + cut, n - cut), want);
            assert_int_equal(tw__crc32c_sw(tw__crc32c_sw(0, buf + al, cut), buf + al + cut, n - cut), want);
        }
    }
    assert_int_equal(tw__crc32c_sw(0, buf + 3, 1090), crc_bitwise(buf + 3, 1090));
    if (hw) assert_int_equal(tw__crc32c_hw(0, buf + 5, 1090), crc_bitwise(buf + 5, 1090));
}

/* ---- round trip ---------------------------------------------------------- */

static void test_round_trip_rotation(void **state) {
    (void)state;
    char *dir = new_dir();
    tws_wal_options o = {.segment_bytes = 4096, .no_sync = true};
    coll c = {0};
    tws_wal *w = open_ok(dir, &o, &c, NULL);
    assert_int_equal(c.n, 0);
    enum { N = 1500 };
    static uint64_t lsns[N], ids[N];
    static uint32_t lens[N];
    uint64_t next = 0;
    for (int i = 0; i < N; i++) {
        if (i % 97 == 5) { /* an empty record */
            assert_int_equal(tws_wal_append(w, 255, NULL, 0, &lsns[i]), TW_OK);
            ids[i] = UINT64_MAX - 1;
            lens[i] = 0;
        } else {
            ids[i] = 1000 + (uint64_t)i;
            lens[i] = (uint32_t)(12 + tw__mix64((uint64_t)i) % (i % 50 == 0 ? 9000 : 700));
            assert_int_equal(append_id(w, ids[i], lens[i], &lsns[i]), TW_OK);
        }
        assert_int_equal(lsns[i], next);
        next += 12 + lens[i];
    }
    tws_wal_stats st;
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.appends, N);
    assert_int_equal(st.next_lsn, next);
    assert_int_equal(st.bytes, next);
    assert_int_equal(st.pending_bytes, 0);
    assert_int_equal(st.syncs, 0); /* no_sync */
    assert_true(st.segments > 50);
    tws_wal_close(w);

    /* The files: contiguous LSN ranges, each header naming its file, each
     * segment at most one record past the size. */
    static uint64_t segs[4096];
    size_t ns = list_segs(dir, segs, 4096);
    assert_int_equal(ns, st.segments);
    assert_int_equal(segs[0], 0);
    for (size_t i = 0; i < ns; i++) {
        char p[4200];
        seg_path(dir, segs[i], p, sizeof p);
        size_t n;
        uint8_t *b = read_file(p, &n);
        assert_true(n >= 16);
        assert_memory_equal(b, "TWWAL\0\0\2", 8); /* version 2, not a reused file */
        uint64_t first = 0;
        for (int k = 0; k < 8; k++) first |= (uint64_t)b[8 + k] << (8 * k);
        assert_int_equal(first, segs[i]);
        uint64_t end = i + 1 < ns ? segs[i + 1] : next;
        assert_int_equal(first + n - 16, end);
        assert_true(n <= 4096 + 12 + 9000);
        free(b);
    }

    tws_wal_replay rp;
    w = open_ok(dir, &o, &c, &rp);
    assert_int_equal(c.n, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(c.r[i].lsn, lsns[i]);
        assert_int_equal(c.r[i].id, ids[i]);
        assert_int_equal(c.r[i].len, lens[i]);
    }
    assert_int_equal(rp.records, N);
    assert_int_equal(rp.bytes, next);
    assert_int_equal(rp.torn_bytes_cut, 0);
    assert_int_equal(rp.corrupt_segments, 0);
    assert_int_equal(rp.ignored_files, 0);
    assert_int_equal(c.nwarn, 0);
    /* Progress: forwards, ends at the total, about every 1%. */
    assert_int_equal(c.prog_backwards, 0);
    assert_int_equal(c.prog_last, c.prog_total);
    assert_int_equal(c.prog_total, next + 16 * ns);
    assert_true(c.prog_calls >= 50 && c.prog_calls <= 102);
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.next_lsn, next);
    assert_int_equal(st.segments, ns);
    /* Appends continue where the log ended. */
    uint64_t lsn;
    assert_int_equal(append_id(w, 7, 40, &lsn), TW_OK);
    assert_int_equal(lsn, next);
    tws_wal_close(w);
    coll_reset(&c);

    /* A replay callback can stop the open. */
    c.stop_after = 10;
    tws_wal_replay rp2 = {.record = on_record, .user = &c};
    char msg[256];
    tws_wal *w2 = NULL;
    assert_int_equal(tws_wal_open(dir, &o, &rp2, &w2, msg), TW_EIO);
    assert_null(w2);
    assert_non_null(strstr(msg, "replay stopped"));
    coll_reset(&c);
    free_dir(dir);
}

static void test_invalid(void **state) {
    (void)state;
    char *dir = new_dir();
    tws_wal_options o = {.no_sync = true, .max_pending = 4096};
    coll c = {0};
    tws_wal *w = open_ok(dir, &o, &c, NULL);
    tw_str big = {"x", TWS_WAL_MAX_RECORD + 1u};
    tw_str two[2] = {{"x", TWS_WAL_MAX_RECORD / 2 + 1}, {"x", TWS_WAL_MAX_RECORD / 2 + 1}};
    tw_str fits = {"hello", TW_NTS};
    char over[4096 - 12 + 1];
    memset(over, 'a', sizeof over);
    tw_str over1 = {over, sizeof over}, max1 = {over, sizeof over - 1};
    assert_int_equal(tws_wal_append(w, 0, &fits, 1, NULL), TW_EINVAL);
    assert_int_equal(tws_wal_append(w, 1, &big, 1, NULL), TW_EINVAL);
    assert_int_equal(tws_wal_append(w, 1, two, 2, NULL), TW_EINVAL);
    assert_int_equal(tws_wal_append(w, 1, &over1, 1, NULL), TW_EINVAL); /* more than max_pending */
    assert_int_equal(tws_wal_append(w, 1, &max1, 1, NULL), TW_OK);      /* exactly max_pending */
    uint64_t lsn;
    assert_int_equal(tws_wal_append(w, 9, &fits, 1, &lsn), TW_OK); /* TW_NTS parts */
    assert_int_equal(lsn, 4096);
    tws_wal_close(w);
    /* A second handle on the same directory is refused while one is open. */
    tws_wal *w2 = NULL;
    char msg[256];
    assert_int_equal(tws_wal_open(dir, &o, NULL, &w, msg), TW_OK);
    assert_int_equal(tws_wal_open(dir, &o, NULL, &w2, msg), TW_EIO);
    assert_non_null(strstr(msg, "in use"));
    tws_wal_close(w);
    assert_int_equal(tws_wal_open("", &o, NULL, &w2, msg), TW_EINVAL);
    /* A path through a regular file cannot be a directory. */
    char p[4200];
    snprintf(p, sizeof p, "%s/file", dir);
    write_file(p, "x", 1);
    snprintf(p, sizeof p, "%s/file/wal", dir);
    assert_int_equal(tws_wal_open(p, &o, NULL, &w2, msg), TW_EIO);
    assert_non_null(strstr(msg, "file/wal"));
    coll_reset(&c);
    free_dir(dir);
}

/* ---- group commit --------------------------------------------------------- */

typedef struct gc_rig {
    tws_wal *w;
    _Atomic int failures;   /* an append failed or completed before its sync */
    _Atomic int completions;
    int thread;
} gc_rig;

enum { GC_THREADS = 16, GC_PER_THREAD = 60, GC_LEN = 1000 };

static bool covered(uint64_t lsn, size_t len) { return 16 + lsn + 12 + len <= atomic_load(&synced_size); }

static void gc_done(void *user, int rc, uint64_t lsn) {
    gc_rig *g = user;
    if (rc != TW_OK || !covered(lsn, GC_LEN)) atomic_fetch_add(&g->failures, 1);
    atomic_fetch_add(&g->completions, 1);
}

typedef struct gc_arg {
    gc_rig *g;
    int t;
} gc_arg;

static void *gc_thread(void *p) {
    gc_arg *a = p;
    uint8_t buf[GC_LEN];
    for (int i = 0; i < GC_PER_THREAD; i++) {
        uint64_t id = (uint64_t)a->t << 32 | (uint64_t)i, lsn;
        make_payload(id, buf, GC_LEN);
        tw_str part = {(const char *)buf, GC_LEN};
        if (i % 3 == 2) {
            if (tws_wal_append_async(a->g->w, type_of(id), &part, 1, gc_done, a->g, NULL) != TW_OK)
                atomic_fetch_add(&a->g->failures, 1);
            continue;
        }
        /* The synchronous wrapper returns only after the sync that covers it. */
        if (tws_wal_append(a->g->w, type_of(id), &part, 1, &lsn) != TW_OK || !covered(lsn, GC_LEN))
            atomic_fetch_add(&a->g->failures, 1);
        atomic_fetch_add(&a->g->completions, 1);
    }
    return NULL;
}

static void test_group_commit(void **state) {
    (void)state;
    char *dir = new_dir();
    tws_wal_options o = {.segment_bytes = 1u << 30}; /* one segment, real syncs */
    coll c = {0};
    atomic_store(&synced_size, 0);
    tws_wal *w = open_ok(dir, &o, &c, NULL);
    atomic_store(&sync_delay_us, 2000); /* a 2 ms disk, whatever /tmp is */
    uint64_t calls0 = atomic_load(&sync_calls);
    gc_rig g = {.w = w};
    pthread_t th[GC_THREADS];
    gc_arg args[GC_THREADS];
    for (int t = 0; t < GC_THREADS; t++) {
        args[t] = (gc_arg){&g, t};
        assert_int_equal(pthread_create(&th[t], NULL, gc_thread, &args[t]), 0);
    }
    for (int t = 0; t < GC_THREADS; t++) pthread_join(th[t], NULL);
    tws_wal_stats st;
    tws_wal_get_stats(w, &st);
    tws_wal_close(w); /* drains the last async appends */
    atomic_store(&sync_delay_us, 0);
    uint64_t calls = atomic_load(&sync_calls) - calls0;
    print_message("group commit: %d appends, %llu syncs (shim saw %llu)\n", GC_THREADS * GC_PER_THREAD,
                  (unsigned long long)st.syncs, (unsigned long long)calls);
    assert_int_equal(atomic_load(&g.completions), GC_THREADS * GC_PER_THREAD);
    assert_int_equal(atomic_load(&g.failures), 0);
    assert_int_equal(st.appends, GC_THREADS * GC_PER_THREAD);
    assert_true(st.syncs > 0);
    assert_true(st.syncs * 4 < st.appends);
    assert_true(calls >= st.syncs && calls <= st.syncs + 2);
    w = open_ok(dir, &o, &c, NULL);
    assert_int_equal(c.n, GC_THREADS * GC_PER_THREAD);
    tws_wal_close(w);
    coll_reset(&c);
    free_dir(dir);
}

/* ---- torn tails and flipped bytes ---------------------------------------- */

static void test_torn_tail_every_offset(void **state) {
    (void)state;
    char *dir = new_dir(), seg[4200];
    seg_path(dir, 0, seg, sizeof seg);
    tws_wal_options o = {.no_sync = true};
    coll c = {0};
    tws_wal *w = open_ok(dir, &o, &c, NULL);
    uint64_t lsn[3];
    assert_int_equal(append_id(w, 1, 100, &lsn[0]), TW_OK);
    assert_int_equal(append_id(w, 2, 50, &lsn[1]), TW_OK);
    assert_int_equal(append_id(w, 3, 120, &lsn[2]), TW_OK);
    tws_wal_close(w);
    size_t size;
    uint8_t *orig = read_file(seg, &size);
    size_t last = 16 + (size_t)lsn[2];
    assert_int_equal(size, last + 12 + 120);

    for (int mode = 0; mode < 2; mode++) {
        for (size_t k = last; k < size; k++) {
            uint8_t *b = malloc(size);
            memcpy(b, orig, size);
            size_t n = size;
            if (mode == 0) {
                n = k; /* the file ends at k */
            } else {
                b[k] ^= (uint8_t)(1u << (k % 8)); /* one bit flipped at k */
            }
            write_file(seg, b, n);
            free(b);
            tws_wal_replay rp;
            w = open_ok(dir, &o, &c, &rp);
            assert_int_equal(c.n, 2);
            assert_int_equal(rp.records, 2);
            assert_int_equal(rp.torn_bytes_cut, n - last);
            assert_int_equal(rp.corrupt_segments, 0);
            assert_true(n == last || warned(&c, "torn tail cut")); /* n == last: not torn at all */
            assert_int_equal(file_size(seg), last);
            uint64_t l;
            assert_int_equal(append_id(w, 77, 30 + k % 7, &l), TW_OK);
            assert_int_equal(l, lsn[2]);
            tws_wal_close(w);
            coll_reset(&c);
            w = open_ok(dir, &o, &c, &rp);
            assert_int_equal(c.n, 3);
            assert_int_equal(c.r[2].id, 77);
            assert_int_equal(c.r[2].lsn, lsn[2]);
            assert_int_equal(rp.torn_bytes_cut, 0);
            assert_int_equal(c.nwarn, 0);
            tws_wal_close(w);
            coll_reset(&c);
        }
    }

    /* A crash while the first segment was being created: any prefix of its
     * header (or nothing) is an empty log. */
    for (size_t k = 0; k <= 16; k++) {
        write_file(seg, orig, k);
        tws_wal_replay rp;
        w = open_ok(dir, &o, &c, &rp);
        assert_int_equal(c.n, 0);
        assert_int_equal(rp.torn_bytes_cut, k < 16 ? k : 0);
        assert_int_equal(rp.corrupt_segments, 0);
        assert_int_equal(file_size(seg), 16);
        uint64_t l;
        assert_int_equal(append_id(w, 5, 20, &l), TW_OK);
        assert_int_equal(l, 0);
        tws_wal_close(w);
        coll_reset(&c);
        w = open_ok(dir, &o, &c, &rp);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.r[0].id, 5);
        tws_wal_close(w);
        coll_reset(&c);
    }
    free(orig);
    free_dir(dir);
}

static void test_corrupt_old_segment(void **state) {
    (void)state;
    char *dir = new_dir();
    tws_wal_options o = {.segment_bytes = 2048, .no_sync = true};
    coll c = {0};
    tws_wal *w = open_ok(dir, &o, &c, NULL);
    enum { N = 300 };
    uint64_t lsn[N];
    uint32_t len[N];
    for (int i = 0; i < N; i++) {
        len[i] = (uint32_t)(100 + tw__mix64((uint64_t)i) % 200);
        assert_int_equal(append_id(w, (uint64_t)i, len[i], &lsn[i]), TW_OK);
    }
    tws_wal_close(w);
    uint64_t segs[256];
    size_t ns = list_segs(dir, segs, 256);
    assert_true(ns >= 10);
    /* A record in the middle of the third segment. */
    int first_in = -1, last_in = -1;
    for (int i = 0; i < N; i++)
        if (lsn[i] >= segs[2] && lsn[i] < segs[3]) {
            if (first_in < 0) first_in = i;
            last_in = i;
        }
    assert_true(last_in - first_in >= 4);
    int victim = (first_in + last_in) / 2;
    char p[4200];
    seg_path(dir, segs[2], p, sizeof p);
    size_t n;
    uint8_t *b = read_file(p, &n);
    size_t off = 16 + (size_t)(lsn[victim] - segs[2]);
    b[off + 12 + 20] ^= 0x40;
    write_file(p, b, n);
    free(b);

    for (int round = 0; round < 2; round++) {
        tws_wal_replay rp;
        w = open_ok(dir, &o, &c, &rp);
        int lost = last_in - victim + 1;
        assert_int_equal(c.n, (size_t)(N - lost + round));
        assert_int_equal(rp.corrupt_segments, 1);
        assert_int_equal(rp.torn_bytes_cut, 0);
        char where[64];
        snprintf(where, sizeof where, "%016llx.wal: corrupt at offset %zu", (unsigned long long)segs[2], off);
        assert_true(warned(&c, where));
        assert_true(warned(&c, "CRC mismatch"));
        /* Before the victim everything; after its segment everything. */
        size_t j = 0;
        for (int i = 0; i < N; i++) {
            if (i >= victim && i <= last_in) continue;
            assert_int_equal(c.r[j].id, (uint64_t)i);
            assert_int_equal(c.r[j].lsn, lsn[i]);
            j++;
        }
        if (round == 0) {
            uint64_t l;
            assert_int_equal(append_id(w, 999, 50, &l), TW_OK);
            assert_int_equal(l, lsn[N - 1] + 12 + len[N - 1]);
        } else {
            assert_int_equal(c.r[j].id, 999);
        }
        tws_wal_close(w);
        coll_reset(&c);
    }

    /* An old segment that lost its end (cut at a record boundary) is
     * reported too: its records do not reach the next segment's name. */
    seg_path(dir, segs[5], p, sizeof p);
    int in5 = -1;
    for (int i = 0; i < N; i++)
        if (lsn[i] > segs[5] && lsn[i] < segs[6]) {
            in5 = i;
            break;
        }
    assert_true(in5 > 0);
    assert_int_equal(truncate(p, (off_t)(16 + lsn[in5] - segs[5])), 0);
    tws_wal_replay rp;
    w = open_ok(dir, &o, &c, &rp);
    assert_int_equal(rp.corrupt_segments, 2);
    assert_true(warned(&c, "records are missing"));
    tws_wal_close(w);
    coll_reset(&c);
    free_dir(dir);
}

/* ---- a full queue ---------------------------------------------------------- */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, open;
    int done_ok, done_other;
} gate;

static void gate_done(void *user, int rc, uint64_t lsn) {
    (void)lsn;
    gate *g = user;
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
    if (rc == TW_OK) g->done_ok++;
    else g->done_other++;
    pthread_mutex_unlock(&g->mu);
}

static void count_done(void *user, int rc, uint64_t lsn) {
    (void)lsn;
    gate *g = user;
    pthread_mutex_lock(&g->mu);
    if (rc == TW_OK) g->done_ok++;
    else g->done_other++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void test_full(void **state) {
    (void)state;
    char *dir = new_dir();
    enum { MAXP = 64 << 10, LEN = 1000 };
    tws_wal_options o = {.no_sync = true, .max_pending = MAXP};
    coll c = {0};
    tws_wal *w = open_ok(dir, &o, &c, NULL);
    gate g = {.entered = false};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    uint8_t buf[LEN];
    make_payload(1, buf, LEN);
    tw_str part = {(const char *)buf, LEN};
    /* The flusher stalls in the first completion, like a stalled disk. */
    assert_int_equal(tws_wal_append_async(w, type_of(1), &part, 1, gate_done, &g, NULL), TW_OK);
    pthread_mutex_lock(&g.mu);
    while (!g.entered) pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);

    int accepted = 0, rc;
    while ((rc = tws_wal_append_async(w, type_of(1), &part, 1, count_done, &g, NULL)) == TW_OK) accepted++;
    assert_int_equal(rc, TW_EFULL);
    /* The stalled record is durable already: it no longer counts. */
    assert_int_equal(accepted, MAXP / (LEN + 12));
    tws_wal_stats st;
    tws_wal_get_stats(w, &st);
    assert_true(st.pending_bytes <= MAXP && st.pending_bytes + LEN + 12 > MAXP);
    assert_int_equal(st.full_refusals, 1);
    /* Refusing allocates nothing: with every allocation failing, the answer
     * is still TW_EFULL, never TW_ENOMEM. A sync append is refused too. */
    tw__alloc_fail_after(0);
    int refused = 0;
    for (int i = 0; i < 20000; i++) refused += tws_wal_append_async(w, 2, &part, 1, count_done, &g, NULL) == TW_EFULL;
    refused += tws_wal_append(w, 2, &part, 1, NULL) == TW_EFULL;
    tw__alloc_fail_after(-1);
    assert_int_equal(refused, 20001);
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.full_refusals, 20002);
    assert_int_equal(st.appends, (uint64_t)accepted + 1);

    pthread_mutex_lock(&g.mu);
    g.open = true;
    pthread_cond_broadcast(&g.cv);
    while (g.done_ok + g.done_other < accepted + 1) pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    assert_int_equal(g.done_ok, accepted + 1);
    assert_int_equal(g.done_other, 0);
    /* Drained: appends are accepted again. */
    assert_int_equal(tws_wal_append(w, type_of(1), &part, 1, NULL), TW_OK);
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.pending_bytes, 0);
    tws_wal_close(w);
    w = open_ok(dir, &o, &c, NULL);
    assert_int_equal(c.n, (size_t)accepted + 2);
    tws_wal_close(w);
    pthread_mutex_destroy(&g.mu);
    pthread_cond_destroy(&g.cv);
    coll_reset(&c);
    free_dir(dir);
}

/* ---- release_before, reopen, empty and foreign ----------------------------- */

static void test_release_before(void **state) {
    (void)state;
    char *dir = new_dir();
    tws_wal_options o = {.segment_bytes = 1024, .no_sync = true};
    coll c = {0};
    tws_wal *w = open_ok(dir, &o, &c, NULL);
    enum { N = 200 };
    uint64_t lsn[N];
    for (int i = 0; i < N; i++) assert_int_equal(append_id(w, (uint64_t)i, 100, &lsn[i]), TW_OK);
    tws_wal_stats st;
    tws_wal_get_stats(w, &st);
    uint64_t segs[256];
    size_t ns = list_segs(dir, segs, 256);
    assert_int_equal(ns, st.segments);
    assert_true(ns > 15);
    assert_int_equal(tws_wal_release_before(w, 0), TW_OK);
    assert_int_equal(list_segs(dir, segs, 256), ns);
    /* Below record 100: segments that end at or before it go. */
    uint64_t cut = lsn[100];
    size_t keep_from = 0;
    while (keep_from + 1 < ns && segs[keep_from + 1] <= cut) keep_from++;
    uint64_t kept_first = segs[keep_from];
    assert_int_equal(tws_wal_release_before(w, cut), TW_OK);
    assert_int_equal(list_segs(dir, segs, 256), ns - keep_from);
    assert_int_equal(segs[0], kept_first);
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.segments, ns - keep_from);
    assert_int_equal(tws_wal_release_before(w, cut), TW_OK); /* again: nothing more */
    assert_int_equal(list_segs(dir, segs, 256), ns - keep_from);
    tws_wal_close(w);

    tws_wal_replay rp;
    w = open_ok(dir, &o, &c, &rp);
    assert_int_equal(rp.corrupt_segments, 0);
    size_t j = 0;
    for (int i = 0; i < N; i++) {
        if (lsn[i] < kept_first) continue;
        assert_int_equal(c.r[j].id, (uint64_t)i);
        assert_int_equal(c.r[j].lsn, lsn[i]);
        j++;
    }
    assert_int_equal(c.n, j);
    assert_true(c.r[0].lsn <= cut);
    /* Everything: only the current segment stays, and the log goes on. */
    assert_int_equal(tws_wal_release_before(w, UINT64_MAX), TW_OK);
    assert_int_equal(list_segs(dir, segs, 256), 1);
    uint64_t l;
    assert_int_equal(append_id(w, 5000, 100, &l), TW_OK);
    assert_int_equal(l, lsn[N - 1] + 112);
    tws_wal_close(w);
    coll_reset(&c);
    w = open_ok(dir, &o, &c, &rp);
    assert_true(c.n >= 1);
    assert_int_equal(c.r[c.n - 1].id, 5000);
    assert_int_equal(rp.corrupt_segments, 0);
    tws_wal_close(w);
    coll_reset(&c);
    free_dir(dir);
}

/* ---- reading records back by LSN ------------------------------------------- */

static uint64_t read_id(tws_wal_reader *r, uint64_t lsn, tw__buf *b, int *rc_out, char msg[256]) {
    uint8_t type = 0;
    int rc = tws_wal_reader_read(r, lsn, &type, b, msg);
    *rc_out = rc;
    return rc == TW_OK ? check_payload(type, b->data, b->len) : UINT64_MAX;
}

static void test_reader(void **state) {
    (void)state;
    char *dir = new_dir();
    tws_wal_reader *r;
    assert_int_equal(tws_wal_reader_open(dir, &r), TW_OK);
    tws_wal_options o = {.segment_bytes = 1024, .no_sync = true};
    coll c = {0};
    tws_wal *w = open_ok(dir, &o, &c, NULL);
    enum { N = 120 };
    uint64_t lsn[N];
    tw__buf b;
    tw__buf_init(&b, 0);
    char msg[256];
    int rc;
    /* read while the log grows: every record, in every segment, also the newest */
    for (int i = 0; i < N; i++) {
        assert_int_equal(append_id(w, (uint64_t)i, 60 + (size_t)(i % 7) * 20, &lsn[i]), TW_OK);
        assert_int_equal(read_id(r, lsn[i], &b, &rc, msg), (uint64_t)i);
        if (i >= 3) assert_int_equal(read_id(r, lsn[i - 3], &b, &rc, msg), (uint64_t)(i - 3));
    }
    for (int i = N - 1; i >= 0; i -= 5) assert_int_equal(read_id(r, lsn[i], &b, &rc, msg), (uint64_t)i);
    /* not at a record: refused with what was wrong, nothing returned */
    assert_int_equal(read_id(r, lsn[10] + 1, &b, &rc, msg), UINT64_MAX);
    assert_int_equal(rc, TW_EPARSE);
    assert_non_null(strstr(msg, "no intact record"));
    assert_int_equal(b.len, 0);
    /* past the end of the log */
    assert_int_equal(read_id(r, lsn[N - 1] + 5000, &b, &rc, msg), UINT64_MAX);
    assert_int_equal(rc, TW_ENOTFOUND);
    assert_non_null(strstr(msg, "no segment holds LSN"));
    /* released: the old segments are gone, the kept records still read */
    assert_int_equal(tws_wal_release_before(w, lsn[60]), TW_OK);
    assert_int_equal(read_id(r, lsn[0], &b, &rc, msg), UINT64_MAX);
    assert_int_equal(rc, TW_ENOTFOUND);
    for (int i = 60; i < N; i++) assert_int_equal(read_id(r, lsn[i], &b, &rc, msg), (uint64_t)i);
    tws_wal_close(w);
    /* a flipped byte in a payload: a CRC mismatch naming the file */
    uint64_t segs[64];
    size_t ns = list_segs(dir, segs, 64);
    assert_true(ns >= 2);
    char path[512];
    seg_path(dir, segs[ns - 1], path, sizeof path);
    size_t n;
    uint8_t *f = read_file(path, &n);
    int last = N - 1;
    assert_true(lsn[last] >= segs[ns - 1]);
    f[16 + (lsn[last] - segs[ns - 1]) + 12 + 20] ^= 0x40;
    write_file(path, f, n);
    free(f);
    assert_int_equal(read_id(r, lsn[last], &b, &rc, msg), UINT64_MAX);
    assert_int_equal(rc, TW_EPARSE);
    assert_non_null(strstr(msg, "CRC mismatch"));
    assert_non_null(strstr(msg, ".wal"));
    assert_int_equal(read_id(r, lsn[last - 1], &b, &rc, msg), (uint64_t)(last - 1));
    tws_wal_reader_close(r);
    tw__buf_free(&b);
    coll_reset(&c);
    free_dir(dir);
}

static void async_count(void *user, int rc, uint64_t lsn) {
    (void)lsn;
    if (rc == TW_OK) atomic_fetch_add((_Atomic int *)user, 1);
}

static void test_reopen_many(void **state) {
    (void)state;
    char *dir = new_dir();
    coll c = {0};
    uint64_t expect_next = 0;
    size_t expect_n = 0;
    _Atomic int ok = 0;
    for (int cycle = 0; cycle < 150; cycle++) {
        /* Small segments on some cycles, large on others: both reopen. */
        tws_wal_options o = {.segment_bytes = cycle % 3 ? 0 : 600, .no_sync = cycle % 10 != 0};
        tws_wal_replay rp;
        tws_wal *w = open_ok(dir, &o, &c, &rp);
        assert_int_equal(c.n, expect_n);
        assert_int_equal(rp.torn_bytes_cut, 0);
        assert_int_equal(rp.corrupt_segments, 0);
        for (size_t i = 0; i < c.n; i++) assert_int_equal(c.r[i].id, (uint64_t)i);
        tws_wal_stats st;
        tws_wal_get_stats(w, &st);
        assert_int_equal(st.next_lsn, expect_next);
        if (cycle % 7 != 6) { /* some cycles append nothing */
            uint64_t l;
            size_t len = 12 + (size_t)cycle;
            assert_int_equal(append_id(w, expect_n, len, &l), TW_OK);
            assert_int_equal(l, expect_next);
            expect_next += 12 + len;
            uint8_t buf[64];
            make_payload(expect_n + 1, buf, 64);
            tw_str part = {(const char *)buf, 64};
            assert_int_equal(tws_wal_append_async(w, type_of(expect_n + 1), &part, 1, async_count, &ok, NULL), TW_OK);
            expect_next += 76;
            expect_n += 2;
        }
        tws_wal_close(w); /* drains the async one */
        coll_reset(&c);
    }
    assert_int_equal(atomic_load(&ok), (int)(expect_n / 2));
    uint64_t segs[512];
    size_t ns = list_segs(dir, segs, 512);
    assert_true(ns < 100);
    free_dir(dir);
}

static void test_empty_dir(void **state) {
    (void)state;
    char *root = new_dir(), dir[4200], seg[4300];
    snprintf(dir, sizeof dir, "%s/a/b/wal", root); /* does not exist yet */
    coll c = {0};
    tws_wal_options o = {0};
    for (int round = 0; round < 3; round++) {
        tws_wal_replay rp;
        tws_wal *w = open_ok(dir, &o, &c, &rp);
        assert_int_equal(c.n, 0);
        assert_int_equal(rp.records + rp.torn_bytes_cut + rp.corrupt_segments + rp.ignored_files, 0);
        assert_int_equal(c.nwarn, 0);
        tws_wal_stats st;
        tws_wal_get_stats(w, &st);
        assert_int_equal(st.next_lsn, 0);
        assert_int_equal(st.segments, 1);
        assert_int_equal(st.appends + st.bytes + st.syncs + st.pending_bytes + st.full_refusals, 0);
        tws_wal_close(w);
        seg_path(dir, 0, seg, sizeof seg);
        assert_int_equal(file_size(seg), 16);
        coll_reset(&c);
    }
    /* An existing empty directory. */
    rm_rf(dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    tws_wal *w = open_ok(dir, &o, &c, NULL);
    assert_int_equal(c.n, 0);
    tws_wal_close(w);
    coll_reset(&c);
    free_dir(root);
}

static void test_foreign_files(void **state) {
    (void)state;
    char *dir = new_dir(), p[4200];
    const char *names[] = {"README.txt", "0000000000000000.wal.bak", "00000000000000AB.wal", "4000000000000000.wal",
                           "000000000000001.wal"};
    for (size_t i = 0; i < TW_ARRAY_LEN(names); i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        write_file(p, "not a segment\n", 14);
    }
    snprintf(p, sizeof p, "%s/lost+found", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/0000000000001000.wal", dir);
    assert_int_equal(symlink("README.txt", p), 0);
    tws_wal_options o = {.segment_bytes = 512, .no_sync = true};
    coll c = {0};
    for (int round = 0; round < 2; round++) {
        tws_wal_replay rp;
        tws_wal *w = open_ok(dir, &o, &c, &rp);
        assert_int_equal(rp.ignored_files, 7);
        assert_int_equal(c.nwarn, 7);
        assert_true(warned(&c, "README.txt: not a WAL segment"));
        assert_true(warned(&c, "lost+found"));
        assert_true(warned(&c, "0000000000001000.wal: not a WAL segment (not a regular file)"));
        assert_int_equal(rp.corrupt_segments, 0);
        assert_int_equal(c.n, (size_t)round * 20);
        for (int i = 0; i < 20; i++) assert_int_equal(append_id(w, (uint64_t)i, 100, NULL), TW_OK);
        if (round == 1) assert_int_equal(tws_wal_release_before(w, UINT64_MAX), TW_OK);
        tws_wal_close(w);
        coll_reset(&c);
    }
    /* Foreign files are never deleted. */
    for (size_t i = 0; i < TW_ARRAY_LEN(names); i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        assert_int_equal(file_size(p), 14);
    }
    free_dir(dir);

    /* A segment-named file that is not ours, newest: kept untouched, skipped
     * as corrupt, and the log starts after it. */
    dir = new_dir();
    seg_path(dir, 0, p, sizeof p);
    write_file(p, "hello, not a wal file", 21);
    for (int round = 0; round < 2; round++) {
        tws_wal_replay rp;
        tws_wal *w = open_ok(dir, &o, &c, &rp);
        assert_int_equal(rp.corrupt_segments, 1);
        assert_true(warned(&c, "bad magic"));
        assert_int_equal(c.n, (size_t)round);
        uint64_t l;
        assert_int_equal(append_id(w, (uint64_t)round, 30, &l), TW_OK);
        if (round == 0) assert_int_equal(l, 21);
        tws_wal_close(w);
        coll_reset(&c);
    }
    assert_int_equal(file_size(p), 21);
    free_dir(dir);

    /* Another format version is refused, not skipped. */
    dir = new_dir();
    seg_path(dir, 0, p, sizeof p);
    write_file(p, "TWWAL\0\0\3\0\0\0\0\0\0\0\0", 16);
    tws_wal *w = NULL;
    char msg[256];
    assert_int_equal(tws_wal_open(dir, &o, NULL, &w, msg), TW_ENOTSUP);
    assert_null(w);
    assert_non_null(strstr(msg, "version 3"));
    /* So are flags this build does not know, and flags in a version 1 header. */
    write_file(p, "TWWAL\0\2\2\0\0\0\0\0\0\0\0", 16);
    assert_int_equal(tws_wal_open(dir, &o, NULL, &w, msg), TW_ENOTSUP);
    assert_non_null(strstr(msg, "flags 0x2"));
    write_file(p, "TWWAL\0\1\1\0\0\0\0\0\0\0\0", 16);
    assert_int_equal(tws_wal_open(dir, &o, NULL, &w, msg), TW_ENOTSUP);
    /* And a header whose LSN disagrees with the file name is corruption. */
    write_file(p, "TWWAL\0\0\1\5\0\0\0\0\0\0\0", 16);
    tws_wal_replay rp;
    w = open_ok(dir, &o, &c, &rp);
    assert_int_equal(rp.corrupt_segments, 1);
    assert_true(warned(&c, "does not match"));
    tws_wal_close(w);
    coll_reset(&c);
    free_dir(dir);
}

/* ---- reused segment files -------------------------------------------------- */

static size_t count_ext(const char *dir, const char *ext) {
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0, el = strlen(ext);
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > el && strcmp(e->d_name + l - el, ext) == 0) n++;
    }
    if (d) closedir(d);
    return n;
}

/* Header byte 6 (flags) and 7 (version) of the segment starting at `first`. */
static void seg_flags(const char *dir, uint64_t first, int *flags, int *version) {
    char p[4200];
    seg_path(dir, first, p, sizeof p);
    size_t n;
    uint8_t *b = read_file(p, &n);
    assert_true(n >= 16);
    *flags = b[6];
    *version = b[7];
    free(b);
}

static void expect_ids(const coll *c, uint64_t from, uint64_t to) {
    assert_int_equal(c->n, to - from);
    for (size_t i = 0; i < c->n; i++) assert_int_equal(c->r[i].id, from + i);
}

static void test_reuse(void **state) {
    (void)state;
    char *dir = new_dir(), p[4200];
    /* 100-byte payloads: 112-byte records, 37 to a 4096-byte segment, so a
     * reused file's old records lie at the same offsets as the new ones and
     * the first old record after the log's end is whole, with a CRC that was
     * right where it was first written. */
    tws_wal_options o = {.segment_bytes = 4096, .free_segments = 2};
    enum { LEN = 100, REC = 112, PER = 37 };
    coll c = {0};
    tws_wal *w = open_ok(dir, &o, &c, NULL);
    static uint64_t lsn[600];
    for (int i = 0; i < 200; i++) assert_int_equal(append_id(w, (uint64_t)i, LEN, &lsn[i]), TW_OK);
    tws_wal_stats st;
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.segments, 6); /* 0..36, 37..73, ..., 185..199 */
    /* Segments 0..3 are released: two are kept (the option), two deleted. */
    assert_int_equal(tws_wal_release_before(w, lsn[4 * PER]), TW_OK);
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.segments, 2);
    assert_int_equal(st.free_segments, 2);
    assert_int_equal(count_ext(dir, ".free"), 2);
    assert_int_equal(count_ext(dir, ".wal"), 2);
    /* The next two segments go into them, the one after into a new file. */
    for (int i = 200; i < 230; i++) assert_int_equal(append_id(w, (uint64_t)i, LEN, &lsn[i]), TW_OK);
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.reused_segments, 1);
    assert_int_equal(st.free_segments, 1);
    uint64_t newest = lsn[6 * PER];
    int flags, version;
    seg_flags(dir, newest, &flags, &version);
    assert_int_equal(flags, 1);
    assert_int_equal(version, 2);
    seg_path(dir, newest, p, sizeof p);
    assert_int_equal(file_size(p), 16 + PER * REC); /* the old file's size: nothing grew */

    /* A crash now leaves the newest segment with its old records after the
     * new ones: its bytes as they are, put back after the close cut them. */
    size_t n;
    uint8_t *crashed = read_file(p, &n);
    tws_wal_close(w);
    uint64_t end = 16 + (230 - 6 * PER) * REC;
    assert_int_equal(file_size(p), end); /* a clean close cuts the old records */
    write_file(p, crashed, n);
    free(crashed);
    coll_reset(&c);
    tws_wal_replay rp;
    w = open_ok(dir, &o, &c, &rp);
    expect_ids(&c, 4 * PER, 230); /* none of the old records: their CRCs cover their old LSNs */
    assert_int_equal(rp.reused_bytes_cut, n - end);
    assert_int_equal(rp.torn_bytes_cut, 0);
    assert_int_equal(rp.corrupt_segments, 0);
    assert_int_equal(c.nwarn, 1);
    assert_true(warned(&c, "of a reused file"));
    assert_int_equal(file_size(p), end);
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.free_segments, 1); /* the free file is still known after a restart */

    /* More: the last free file is used, then new ones; a clean reopen is quiet. */
    for (int i = 230; i < 450; i++) assert_int_equal(append_id(w, (uint64_t)i, LEN, &lsn[i]), TW_OK);
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.reused_segments, 1);
    assert_int_equal(st.free_segments, 0);
    assert_int_equal(count_ext(dir, ".free"), 0);
    tws_wal_close(w);
    coll_reset(&c);
    w = open_ok(dir, &o, &c, &rp);
    expect_ids(&c, 4 * PER, 450);
    assert_int_equal(c.nwarn, 0);
    assert_int_equal(rp.reused_bytes_cut + rp.torn_bytes_cut + rp.corrupt_segments + rp.ignored_files, 0);
    size_t reused = 0;
    uint64_t segs[64];
    size_t ns = list_segs(dir, segs, 64);
    for (size_t i = 0; i < ns; i++) {
        seg_flags(dir, segs[i], &flags, &version);
        reused += (size_t)flags;
    }
    assert_int_equal(reused, 2);
    /* Every record reads back by LSN, also in the reused files. */
    tws_wal_reader *r;
    assert_int_equal(tws_wal_reader_open(dir, &r), TW_OK);
    tw__buf b;
    tw__buf_init(&b, 0);
    char msg[256];
    int rc;
    for (int i = 4 * PER; i < 450; i++) assert_int_equal(read_id(r, lsn[i], &b, &rc, msg), (uint64_t)i);
    tws_wal_reader_close(r);
    tw__buf_free(&b);

    /* Released files beyond the number kept are deleted, at release and at
     * open, and so are files shorter than a segment. */
    assert_int_equal(tws_wal_release_before(w, UINT64_MAX), TW_OK);
    assert_int_equal(count_ext(dir, ".free"), 2);
    tws_wal_close(w);
    tws_wal_options one = o;
    one.free_segments = 1;
    coll_reset(&c);
    w = open_ok(dir, &one, &c, &rp);
    assert_int_equal(count_ext(dir, ".free"), 1);
    assert_int_equal(rp.ignored_files + (uint64_t)c.nwarn, 0);
    tws_wal_close(w);
    tws_wal_options larger = o;
    larger.segment_bytes = 8192;
    coll_reset(&c);
    w = open_ok(dir, &larger, &c, &rp);
    assert_int_equal(count_ext(dir, ".free"), 0);
    tws_wal_close(w);
    /* free_segments < 0: nothing is kept. */
    tws_wal_options none = o;
    none.free_segments = -1;
    coll_reset(&c);
    w = open_ok(dir, &none, &c, &rp);
    for (int i = 0; i < 200; i++) assert_int_equal(append_id(w, (uint64_t)i, LEN, NULL), TW_OK);
    assert_int_equal(tws_wal_release_before(w, UINT64_MAX), TW_OK);
    assert_int_equal(count_ext(dir, ".free"), 0);
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.free_segments, 0);
    tws_wal_close(w);
    coll_reset(&c);
    free_dir(dir);
}

/* A log of 1,024-byte segments that keeps 4 free files, and a reader on it. */
typedef struct reader_fix {
    char *dir;
    coll c;
    tws_wal *w;
    tws_wal_reader *r;
    tw__buf b;
    char msg[256];
    int rc;
    uint64_t lsn[40];
} reader_fix;

static void reader_fix_open(reader_fix *f) {
    memset(f, 0, sizeof *f);
    f->dir = new_dir();
    tws_wal_options o = {.segment_bytes = 1024, .free_segments = 4, .no_sync = true};
    f->w = open_ok(f->dir, &o, &f->c, NULL);
    assert_int_equal(tws_wal_reader_open(f->dir, &f->r), TW_OK);
    tw__buf_init(&f->b, 0);
}

static void reader_fix_close(reader_fix *f) {
    tws_wal_reader_close(f->r);
    tw__buf_free(&f->b);
    tws_wal_close(f->w);
    coll_reset(&f->c);
    free_dir(f->dir);
}

/* Records from..to-1 of `len` bytes, their LSNs in f->lsn. */
static void append_ids(reader_fix *f, int from, int to, size_t len) {
    for (int i = from; i < to; i++) assert_int_equal(append_id(f->w, (uint64_t)i, len, &f->lsn[i]), TW_OK);
}

static uint64_t fix_read(reader_fix *f, int i) { return read_id(f->r, f->lsn[i], &f->b, &f->rc, f->msg); }

/* A reader keeps the segment it read last open. When that file is released
 * and reused for a newer segment that grows past where the old one ended,
 * an LSN of the newer segment must not be read at the old file's offsets. */
static void test_reader_reused_file(void **state) {
    (void)state;
    reader_fix f;
    reader_fix_open(&f);
    /* 9 records of 112 bytes to a segment: 0..8, 9..17, 18..26, ... */
    append_ids(&f, 0, 9, 100);
    assert_int_equal(fix_read(&f, 0), 0); /* lists one segment, keeps it open */
    append_ids(&f, 9, 27, 100);
    assert_int_equal(tws_wal_release_before(f.w, f.lsn[18]), TW_OK); /* 0..8 and 9..17 to the free files */
    append_ids(&f, 27, 36, 100);
    /* Record 36 starts the segment in the first segment's old file, and is
     * large enough to cover the offset LSN 36 has in that old segment. */
    append_ids(&f, 36, 37, 5000);
    tws_wal_stats st;
    tws_wal_get_stats(f.w, &st);
    assert_int_equal(st.reused_segments, 2);
    assert_true(16 + f.lsn[36] < 16 + 5012);
    assert_int_equal(fix_read(&f, 36), 36);
    assert_int_equal(f.rc, TW_OK);
    for (int i = 18; i < 37; i++) assert_int_equal(fix_read(&f, i), (uint64_t)i);
    reader_fix_close(&f);
}

/* A reader whose listing ends at a segment in a reused file that is longer
 * than that segment's records (the file's old segment ended with a larger
 * record) is asked for an LSN of the next segment, which it has not listed:
 * the offset lands in the file's old bytes, which must send it to list the
 * directory again rather than report a corrupt record. */
static void test_reader_stale_listing(void **state) {
    (void)state;
    reader_fix f;
    reader_fix_open(&f);
    append_ids(&f, 0, 17, 100);
    append_ids(&f, 17, 18, 500); /* the second segment's file: 1,424 bytes */
    append_ids(&f, 18, 27, 100);
    assert_int_equal(tws_wal_release_before(f.w, f.lsn[18]), TW_OK);
    append_ids(&f, 27, 36, 100);
    /* listed now: the third segment and the fourth (in the second's file, 1,424 bytes long) */
    assert_int_equal(fix_read(&f, 27), 27);
    assert_int_equal(fix_read(&f, 18), 18);
    append_ids(&f, 36, 37, 100); /* the fifth segment, not listed */
    tws_wal_stats st;
    tws_wal_get_stats(f.w, &st);
    assert_int_equal(st.reused_segments, 2);
    assert_int_equal(fix_read(&f, 36), 36);
    assert_int_equal(f.rc, TW_OK);
    reader_fix_close(&f);
}

/* ---- version 1 segments ------------------------------------------------------- */

/* Append test record `id` as version 1 wrote it (the CRC without the LSN). */
static size_t put_v1(uint8_t *f, size_t off, uint64_t id, size_t len) {
    uint8_t *r = f + off;
    memset(r, 0, 12);
    for (int i = 0; i < 4; i++) r[i] = (uint8_t)(len >> (8 * i));
    r[8] = type_of(id);
    make_payload(id, r + 12, len);
    uint32_t crc = tw__crc32c(0, r + 8, 4 + len);
    for (int i = 0; i < 4; i++) r[4 + i] = (uint8_t)(crc >> (8 * i));
    return off + 12 + len;
}

static size_t v1_segment(uint8_t *f, uint64_t first, uint64_t id0, int nrec) {
    memcpy(f, "TWWAL\0\0\1", 8);
    for (int i = 0; i < 8; i++) f[8 + i] = (uint8_t)(first >> (8 * i));
    size_t off = 16;
    for (int i = 0; i < nrec; i++) off = put_v1(f, off, id0 + (uint64_t)i, 60);
    return off;
}

static void test_version1_segments(void **state) {
    (void)state;
    char *dir = new_dir(), p[4200];
    static uint8_t f[4096];
    /* Two segments a version 1 build wrote: ids 0..4 (LSN 0..360), 5..7. */
    size_t n = v1_segment(f, 0, 0, 5);
    seg_path(dir, 0, p, sizeof p);
    write_file(p, f, n);
    n = v1_segment(f, 360, 5, 3);
    seg_path(dir, 360, p, sizeof p);
    write_file(p, f, n);
    tws_wal_options o = {.segment_bytes = 4096};
    coll c = {0};
    tws_wal_replay rp;
    tws_wal *w = open_ok(dir, &o, &c, &rp);
    expect_ids(&c, 0, 8);
    assert_int_equal(rp.torn_bytes_cut + rp.corrupt_segments + (uint64_t)c.nwarn, 0);
    /* Appends go to a new segment of version 2 after them; the old one is untouched. */
    uint64_t l;
    assert_int_equal(append_id(w, 8, 60, &l), TW_OK);
    assert_int_equal(l, 576);
    tws_wal_close(w);
    assert_int_equal(file_size(p), n);
    int flags, version;
    seg_flags(dir, 576, &flags, &version);
    assert_int_equal(version, 2);
    seg_flags(dir, 360, &flags, &version);
    assert_int_equal(version, 1);
    coll_reset(&c);
    w = open_ok(dir, &o, &c, &rp);
    expect_ids(&c, 0, 9);
    assert_int_equal(c.nwarn, 0);
    tws_wal_close(w);

    /* Whole records in an older segment past the LSN the next one starts at
     * are not replayed (they would overlap it): reported. */
    n = v1_segment(f, 0, 0, 6);
    seg_path(dir, 0, p, sizeof p);
    write_file(p, f, n);
    coll_reset(&c);
    w = open_ok(dir, &o, &c, &rp);
    expect_ids(&c, 0, 9);
    assert_int_equal(rp.corrupt_segments, 1);
    assert_true(warned(&c, "72 bytes after LSN 360, where the next segment begins"));
    tws_wal_close(w);
    coll_reset(&c);
    free_dir(dir);

    /* An empty newest segment of version 1 becomes one of version 2 in place. */
    dir = new_dir();
    n = v1_segment(f, 0, 0, 0);
    seg_path(dir, 0, p, sizeof p);
    write_file(p, f, n);
    w = open_ok(dir, &o, &c, &rp);
    assert_int_equal(append_id(w, 0, 60, &l), TW_OK);
    assert_int_equal(l, 0);
    tws_wal_close(w);
    seg_flags(dir, 0, &flags, &version);
    assert_int_equal(version, 2);
    coll_reset(&c);
    w = open_ok(dir, &o, &c, &rp);
    expect_ids(&c, 0, 1);
    tws_wal_close(w);
    coll_reset(&c);
    free_dir(dir);
}

/* ---- I/O errors ------------------------------------------------------------ */

static void test_write_error(void **state) {
    (void)state;
    char *dir = new_dir();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child: a 64 KiB file size limit makes write() fail part-way. */
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {64 << 10, 64 << 10};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(10);
        tws_wal_options o = {.segment_bytes = 1u << 20};
        tws_wal *w;
        char msg[256];
        if (tws_wal_open(dir, &o, NULL, &w, msg) != TW_OK) _exit(11);
        int rc;
        uint64_t id = 0, lsn;
        while ((rc = append_id(w, id, 1000, &lsn)) == TW_OK) {
            if (write(fds[1], &id, sizeof id) != sizeof id) _exit(12);
            id++;
        }
        if (rc != TW_EIO) _exit(13);
        /* Failed for good: later appends fail at once, sync or async. */
        for (int i = 0; i < 10; i++)
            if (append_id(w, 1000 + (uint64_t)i, 20, NULL) != TW_EIO) _exit(14);
        uint8_t b[20];
        make_payload(5000, b, 20);
        tw_str part = {(const char *)b, 20};
        if (tws_wal_append_async(w, type_of(5000), &part, 1, NULL, NULL, NULL) != TW_EIO) _exit(15);
        tws_wal_close(w);
        _exit(0);
    }
    close(fds[1]);
    uint64_t acked = 0, id;
    while (read(fds[0], &id, sizeof id) == sizeof id) {
        assert_int_equal(id, acked);
        acked++;
    }
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(acked, ((64 << 10) - 16) / 1012);

    /* Reopened without the limit: every acknowledged record, the torn
     * half-record cut, and the log goes on. */
    coll c = {0};
    tws_wal_options o = {.no_sync = true};
    tws_wal_replay rp;
    tws_wal *w = open_ok(dir, &o, &c, &rp);
    assert_int_equal(c.n, acked);
    assert_int_equal(rp.torn_bytes_cut, (64 << 10) - 16 - acked * 1012);
    for (size_t i = 0; i < c.n; i++) assert_int_equal(c.r[i].id, i);
    uint64_t l;
    assert_int_equal(append_id(w, acked, 1000, &l), TW_OK);
    assert_int_equal(l, acked * 1012);
    tws_wal_close(w);
    coll_reset(&c);
    free_dir(dir);
}

static void test_sync_error(void **state) {
    (void)state;
    char *dir = new_dir();
    coll c = {0};
    tws_wal_options o = {0};
    tws_wal *w = open_ok(dir, &o, &c, NULL);
    assert_int_equal(append_id(w, 0, 100, NULL), TW_OK);
    atomic_store(&sync_fail, 1);
    assert_int_equal(append_id(w, 1, 100, NULL), TW_EIO);
    atomic_store(&sync_fail, 0);
    /* The disk "works" again, but what the failed sync covered is unknown. */
    assert_int_equal(append_id(w, 2, 100, NULL), TW_EIO);
    tws_wal_stats st;
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.appends, 2);
    tws_wal_close(w);
    w = open_ok(dir, &o, &c, NULL);
    assert_true(c.n >= 1 && c.n <= 2); /* record 1 may or may not be there */
    assert_int_equal(c.r[0].id, 0);
    assert_int_equal(append_id(w, 3, 100, NULL), TW_OK);
    tws_wal_close(w);
    coll_reset(&c);
    free_dir(dir);

    /* The sync of a reused file's new header fails: the log fails with it
     * (the rotation's first sync, of the old segment, succeeds). */
    dir = new_dir();
    tws_wal_options ro = {.segment_bytes = 1024};
    w = open_ok(dir, &ro, &c, NULL);
    for (int i = 0; i < 27; i++) assert_int_equal(append_id(w, (uint64_t)i, 100, NULL), TW_OK); /* 3 segments of 9 */
    uint64_t keep;
    assert_int_equal(append_id(w, 27, 100, &keep), TW_OK);
    assert_int_equal(tws_wal_release_before(w, keep), TW_OK);
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.free_segments, 3);
    for (int i = 28; i < 36; i++) assert_int_equal(append_id(w, (uint64_t)i, 100, NULL), TW_OK); /* fills it */
    atomic_store(&sync_fail_at, atomic_load(&sync_calls) + 2);
    assert_int_equal(append_id(w, 36, 100, NULL), TW_EIO);
    atomic_store(&sync_fail_at, 0);
    assert_int_equal(append_id(w, 37, 100, NULL), TW_EIO);
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.reused_segments, 0);
    tws_wal_close(w);
    coll_reset(&c);
    tws_wal_replay rp;
    w = open_ok(dir, &ro, &c, &rp);
    expect_ids(&c, 27, 36); /* every acknowledged record from the kept segment on; the free files untouched */
    assert_int_equal(rp.corrupt_segments + rp.ignored_files, 0);
    assert_int_equal(count_ext(dir, ".free"), 3);
    assert_int_equal(append_id(w, 36, 100, NULL), TW_OK);
    tws_wal_get_stats(w, &st);
    assert_int_equal(st.reused_segments, 1);
    tws_wal_close(w);
    coll_reset(&c);
    free_dir(dir);
}

/* ---- many threads, rotation and release at once (for TSan) ----------------- */

typedef struct mix_arg {
    tws_wal *w;
    int t;
    _Atomic int *errors;
    uint64_t last_lsn; /* of the thread's last record */
} mix_arg;

enum { MIX_THREADS = 8, MIX_PER = 400 };

static void mix_done(void *user, int rc, uint64_t lsn) {
    (void)lsn;
    if (rc != TW_OK) atomic_fetch_add((_Atomic int *)user, 1);
}

static void *mix_thread(void *p) {
    mix_arg *a = p;
    uint8_t buf[600];
    for (int i = 0; i < MIX_PER; i++) {
        uint64_t id = (uint64_t)a->t << 32 | (uint64_t)i;
        size_t len = 12 + (size_t)(tw__mix64(id) % 580);
        make_payload(id, buf, len);
        tw_str part = {(const char *)buf, len};
        int rc;
        if (i % 2) {
            while ((rc = tws_wal_append_async(a->w, type_of(id), &part, 1, mix_done, a->errors, &a->last_lsn)) ==
                   TW_EFULL)
                sched_yield();
        } else {
            while ((rc = tws_wal_append(a->w, type_of(id), &part, 1, &a->last_lsn)) == TW_EFULL) sched_yield();
        }
        if (rc != TW_OK) atomic_fetch_add(a->errors, 1);
    }
    return NULL;
}

static void test_threads_rotate_release(void **state) {
    (void)state;
    char *dir = new_dir();
    coll c = {0};
    tws_wal_options o = {.segment_bytes = 8192, .max_pending = 32 << 10, .no_sync = true};
    tws_wal *w = open_ok(dir, &o, &c, NULL);
    _Atomic int errors = 0;
    pthread_t th[MIX_THREADS];
    mix_arg args[MIX_THREADS];
    for (int t = 0; t < MIX_THREADS; t++) {
        args[t] = (mix_arg){w, t, &errors, 0};
        assert_int_equal(pthread_create(&th[t], NULL, mix_thread, &args[t]), 0);
    }
    uint64_t released = 0;
    for (int k = 0; k < 200; k++) {
        tws_wal_stats st;
        tws_wal_get_stats(w, &st);
        released = st.next_lsn / 2;
        assert_int_equal(tws_wal_release_before(w, released), TW_OK);
        usleep(200);
    }
    for (int t = 0; t < MIX_THREADS; t++) pthread_join(th[t], NULL);
    tws_wal_close(w);
    assert_int_equal(atomic_load(&errors), 0);
    tws_wal_replay rp;
    w = open_ok(dir, &o, &c, &rp);
    assert_int_equal(rp.corrupt_segments, 0);
    assert_true(c.n > 0);
    assert_true(c.r[0].lsn <= released);
    /* Per thread, the replayed ids are increasing (one thread's appends are
     * ordered) and they end at its last record, unless the release took all
     * of them (a thread that finished below the released segments). */
    int64_t last[MIX_THREADS];
    for (int t = 0; t < MIX_THREADS; t++) last[t] = -1;
    for (size_t i = 0; i < c.n; i++) {
        int t = (int)(c.r[i].id >> 32);
        int64_t s = (int64_t)(c.r[i].id & 0xffffffffu);
        assert_true(t < MIX_THREADS && s > last[t]);
        last[t] = s;
    }
    for (int t = 0; t < MIX_THREADS; t++)
        assert_int_equal(last[t], args[t].last_lsn >= c.r[0].lsn ? MIX_PER - 1 : -1);
    tws_wal_close(w);
    coll_reset(&c);
    free_dir(dir);
}

/* ---- kill -9 ---------------------------------------------------------------- */

typedef struct ack {
    uint64_t lsn, id;
} ack;
#define RELEASED UINT64_MAX /* an "ack" that names a release point, not a record */

typedef struct crash_arg {
    tws_wal *w;
    int fd;
    uint64_t base;
} crash_arg;

static void *crash_appender(void *p) {
    crash_arg *a = p;
    for (uint64_t i = 0;; i++) {
        uint64_t id = a->base | i, lsn;
        size_t len = 12 + (size_t)(tw__mix64(id) % 6000);
        int rc = append_id(a->w, id, len, &lsn);
        if (rc == TW_EFULL) continue;
        if (rc != TW_OK) _exit(20);
        ack k = {lsn, id};
        if (write(a->fd, &k, sizeof k) != sizeof k) _exit(21); /* atomic: below PIPE_BUF */
    }
    return NULL;
}

static int cmp_ack(const void *a, const void *b) { return cmp_u64(&((const ack *)a)->lsn, &((const ack *)b)->lsn); }

static void test_crash_kill9(void **state) {
    (void)state;
    char *dir = new_dir();
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    size_t nacks = 0, cap = 1 << 16;
    ack *acks = malloc(cap * sizeof *acks);
    uint64_t t0 = now_ms(), torn_total = 0, replayed = 0, released = 0, reused_seen = 0, reused_cut = 0;
    int cycles = 0, torn_cycles = 0, nosync_cycles = 0;
    tws_wal_options o = {.segment_bytes = 256 << 10};
    while (cycles < 12 && now_ms() - t0 < 12000) {
        /* Two cycles in three sync for real. In the third the child skips
         * fdatasync: a killed process leaves the page cache behind, so its
         * acknowledged records must survive all the same, and with no sync
         * to wait for, the kill mostly lands inside write(), tearing a tail. */
        bool nosync = cycles % 3 == 2;
        o.no_sync = nosync;
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            tws_wal *w;
            char msg[256];
            if (tws_wal_open(dir, &o, NULL, &w, msg) != TW_OK) _exit(30);
            pthread_t th[4];
            crash_arg args[4];
            for (int t = 0; t < 4; t++) {
                args[t] = (crash_arg){w, fds[1], (uint64_t)(cycles + 1) << 40 | (uint64_t)t << 32};
                if (pthread_create(&th[t], NULL, crash_appender, &args[t])) _exit(31);
            }
            /* Meanwhile the log is released behind the writers, as the
             * server's checkpoints do, so released files are reused: the
             * parent hears of each release point before it is made. */
            for (;;) {
                usleep(10000);
                tws_wal_stats st;
                tws_wal_get_stats(w, &st);
                if (st.next_lsn < (512u << 10)) continue;
                ack k = {st.next_lsn - (512u << 10), RELEASED};
                if (write(fds[1], &k, sizeof k) != sizeof k) _exit(22);
                if (tws_wal_release_before(w, k.lsn) != TW_OK) _exit(23);
            }
        }
        close(fds[1]);
        /* Let it run 30..400 ms after its first acknowledgement, reading
         * acknowledgements all the while, then kill it mid-flight. */
        uint64_t kill_at = 0, started = now_ms();
        uint64_t delay = nosync ? 5 + (uint64_t)(rand() % 40) : 30 + (uint64_t)(rand() % 370);
        for (;;) {
            struct pollfd pf = {fds[0], POLLIN, 0};
            int pr = poll(&pf, 1, 5);
            if (pr > 0) {
                if (nacks + 512 > cap) acks = realloc(acks, (cap *= 2) * sizeof *acks);
                ssize_t r = read(fds[0], acks + nacks, 512 * sizeof *acks);
                if (r <= 0) break; /* the child died on its own: checked below */
                assert_int_equal(r % (ssize_t)sizeof(ack), 0);
                if (!kill_at) kill_at = now_ms() + delay;
                nacks += (size_t)r / sizeof(ack);
            }
            if ((kill_at && now_ms() >= kill_at) || now_ms() - started > 5000) break;
        }
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            fail_msg("crash child exited by itself: status %d", status);
        for (;;) { /* what it acknowledged before it died */
            if (nacks + 512 > cap) acks = realloc(acks, (cap *= 2) * sizeof *acks);
            ssize_t r = read(fds[0], acks + nacks, 512 * sizeof *acks);
            if (r <= 0) break;
            nacks += (size_t)r / sizeof(ack);
        }
        close(fds[0]);
        cycles++;

        /* Every acknowledged record that was not released is replayed
         * intact at its LSN. */
        size_t kept = 0;
        for (size_t i = 0; i < nacks; i++) {
            if (acks[i].id == RELEASED) released = TW_MAX(released, acks[i].lsn);
            else acks[kept++] = acks[i];
        }
        nacks = kept;
        coll c = {0};
        tws_wal_replay rp;
        tws_wal *w = open_ok(dir, &o, &c, &rp);
        assert_int_equal(rp.corrupt_segments, 0);
        uint64_t segs[256];
        size_t ns = list_segs(dir, segs, 256);
        for (size_t i = 0; i < ns; i++) {
            int flags, version;
            seg_flags(dir, segs[i], &flags, &version);
            reused_seen += (uint64_t)flags;
        }
        reused_cut += rp.reused_bytes_cut;
        if (rp.torn_bytes_cut) torn_cycles++;
        if (nosync) nosync_cycles++;
        torn_total += rp.torn_bytes_cut;
        replayed = c.n;
        qsort(acks, nacks, sizeof *acks, cmp_ack);
        size_t j = 0;
        for (size_t i = 0; i < nacks; i++) {
            if (acks[i].lsn < released) continue;
            while (j < c.n && c.r[j].lsn < acks[i].lsn) j++;
            if (j == c.n || c.r[j].lsn != acks[i].lsn || c.r[j].id != acks[i].id)
                fail_msg("acknowledged record %llx at LSN %llu not replayed (cycle %d)",
                         (unsigned long long)acks[i].id, (unsigned long long)acks[i].lsn, cycles);
        }
        tws_wal_close(w);
        coll_reset(&c);
    }
    print_message("kill -9: %d cycles (%d without fdatasync) in %llu ms, %zu acknowledged, %llu replayed, all "
                  "found; torn tails cut after %d kills (%llu bytes); reused segment files seen %llu times, %llu bytes "
                  "of theirs cut\n",
                  cycles, nosync_cycles, (unsigned long long)(now_ms() - t0), nacks, (unsigned long long)replayed,
                  torn_cycles, (unsigned long long)torn_total, (unsigned long long)reused_seen,
                  (unsigned long long)reused_cut);
    assert_true(cycles >= 3);
    assert_true(reused_seen > 0);
    assert_true(nacks > 0);
    free(acks);
    free_dir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_round_trip_rotation),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_torn_tail_every_offset),
        cmocka_unit_test(test_corrupt_old_segment),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_release_before),
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_reopen_many),
        cmocka_unit_test(test_empty_dir),
        cmocka_unit_test(test_foreign_files),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_reader_reused_file),
        cmocka_unit_test(test_reader_stale_listing),
        cmocka_unit_test(test_version1_segments),
        cmocka_unit_test(test_write_error),
        cmocka_unit_test(test_sync_error),
        cmocka_unit_test(test_threads_rotate_release),
        cmocka_unit_test(test_crash_kill9),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
