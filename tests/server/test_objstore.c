/*
 * test_objstore.c — the local-directory object store.
 *
 * Covered: put/get round trips (empty, small, 5 MB; file and directory
 * modes; persistence across reopen; out of memory); overwrite; get_range
 * (middle, end, empty at the end, past the end, overflowing offsets, missing
 * key, a directory); map (a view that outlives a replace and a delete,
 * refusals, an empty object); list with prefixes (exact directory, partial string
 * prefix, "", nested keys, a whole key, missing directories), skipping
 * temporary files, symbolic links and names that are no key; the
 * callback's stop code; del (idempotent, empty parents removed up to but not
 * including the root, non-empty ones kept); invalid keys and prefixes
 * refused by every operation; the longest key; open making the root with its
 * parents and sweeping crash leftovers (keeping temporary files of live
 * puts); open errors; which directories a put and a del fsync; I/O failures
 * (a file in the way of a directory, a directory in the way of an object, a
 * name too long, a failing fsync of the file, of the directory and in del,
 * a write failing under RLIMIT_FSIZE in a child, a read-only root when not
 * root); four threads putting, getting, listing and deleting in shared
 * directories, checked against each thread's model of its own keys, with no
 * temporary file or empty directory left over; and four threads making and
 * removing the same directories as fast as they can (puts meeting a
 * directory that a del removes under them), none failing.
 *
 * fsync is interposed below (the test program's definition wins over
 * libc's for the statically linked store): it can fail on request and
 * record which files and directories were synced.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs_util.h"

#include "objstore/objstore.h"

/* ---- the fsync shim ------------------------------------------------------ */

static _Atomic int fsync_fail_at; /* > 0: the fsync that many calls from now fails with EIO */
static _Atomic int fsync_record;  /* record what is synced */
static _Atomic int fsync_skip;    /* succeed without syncing: faster churn */
static pthread_mutex_t rec_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    dev_t dev;
    ino_t ino;
} recs[64];
static int nrecs;

int fsync(int fd) {
    if (atomic_load(&fsync_record)) {
        struct stat st;
        if (fstat(fd, &st) == 0) {
            pthread_mutex_lock(&rec_mu);
            if (nrecs < 64) {
                recs[nrecs].dev = st.st_dev;
                recs[nrecs].ino = st.st_ino;
                nrecs++;
            }
            pthread_mutex_unlock(&rec_mu);
        }
    }
    if (atomic_load(&fsync_fail_at) > 0 && atomic_fetch_sub(&fsync_fail_at, 1) == 1) {
        errno = EIO;
        return -1;
    }
    if (atomic_load(&fsync_skip)) return 0;
    return (int)syscall(SYS_fsync, fd);
}

static void rec_start(void) {
    pthread_mutex_lock(&rec_mu);
    nrecs = 0;
    pthread_mutex_unlock(&rec_mu);
    atomic_store(&fsync_record, 1);
}

/* Was `path` fsynced since rec_start? */
static bool synced(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    bool found = false;
    pthread_mutex_lock(&rec_mu);
    for (int i = 0; i < nrecs; i++) found |= recs[i].dev == st.st_dev && recs[i].ino == st.st_ino;
    pthread_mutex_unlock(&rec_mu);
    return found;
}

static int rec_count(void) {
    pthread_mutex_lock(&rec_mu);
    int n = nrecs;
    pthread_mutex_unlock(&rec_mu);
    return n;
}

/* ---- helpers ------------------------------------------------------------- */

static char *new_dir(void) {
    char *p = malloc(4096);
    snprintf(p, 4096, "/tmp/tw-objstore-test-XXXXXX");
    assert_non_null(mkdtemp(p));
    return p;
}

static void free_dir(char *p) {
    rm_rf(p);
    free(p);
}

static char *path_of(const char *dir, const char *rel) {
    char *p = malloc(8192);
    snprintf(p, 8192, "%s/%s", dir, rel);
    return p;
}

static bool exists(const char *dir, const char *rel) {
    char *p = path_of(dir, rel);
    struct stat st;
    bool r = lstat(p, &st) == 0;
    free(p);
    return r;
}

static void write_file(const char *dir, const char *rel, const void *data, size_t n) {
    char *p = path_of(dir, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    free(p);
}

static void make_dirs(const char *dir, const char *rel) {
    char *p = path_of(dir, rel);
    for (char *c = p + strlen(dir) + 1;; c++) {
        if (*c != '/' && *c != '\0') continue;
        char saved = *c;
        *c = '\0';
        assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
        *c = saved;
        if (!saved) break;
    }
    free(p);
}

/* Temporary files and empty directories below `path` (not counting it). */
static void scan(const char *path, int *tmp, int *empty_dirs) {
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[8192];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat st;
        assert_int_equal(lstat(sub, &st), 0);
        if (!strncmp(e->d_name, ".tmp.", 5)) (*tmp)++;
        if (S_ISDIR(st.st_mode)) {
            DIR *c = opendir(sub);
            int n = 0;
            struct dirent *f;
            while ((f = readdir(c)))
                if (strcmp(f->d_name, ".") && strcmp(f->d_name, "..")) n++;
            closedir(c);
            if (!n) (*empty_dirs)++;
            scan(sub, tmp, empty_dirs);
        }
    }
    closedir(d);
}

static int count_tmp(const char *path) {
    int t = 0, e = 0;
    scan(path, &t, &e);
    return t;
}

static tws_objstore *open_store(const char *root) {
    tws_objstore *s = NULL;
    tws_objstore_err err = {{0}};
    int rc = tws_objstore_local_open(root, &s, &err);
    if (rc) fail_msg("open %s: %d %s", root, rc, err.msg);
    assert_non_null(s);
    assert_string_equal(s->kind, "local");
    return s;
}


static void fill(uint8_t *p, size_t n, uint64_t seed) {
    uint64_t s = tw__mix64(seed) | 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p[i] = (uint8_t)(s >> 32);
    }
}

static void put_ok(tws_objstore *s, const char *key, const void *data, size_t n) {
    tws_objstore_err err = {{0}};
    int rc = tws_obj_put(s, key, data, n, &err);
    if (rc) fail_msg("put %s: %d %s", key, rc, err.msg);
}

static void put_str(tws_objstore *s, const char *key, const char *v) { put_ok(s, key, v, strlen(v)); }

/* Get `key` and compare with want[0..n). */
static void get_eq(tws_objstore *s, const char *key, const void *want, size_t n) {
    tws_objstore_err err = {{0}};
    uint8_t *data = NULL;
    size_t len = 99;
    int rc = tws_obj_get(s, key, &data, &len, &err);
    if (rc) fail_msg("get %s: %d %s", key, rc, err.msg);
    assert_non_null(data);
    assert_int_equal(len, n);
    if (n) assert_memory_equal(data, want, n);
    tw__free(data);
}

static void get_missing(tws_objstore *s, const char *key) {
    tws_objstore_err err = {{0}};
    uint8_t *data = (uint8_t *)&err;
    size_t len = 99;
    assert_int_equal(tws_obj_get(s, key, &data, &len, &err), TW_ENOTFOUND);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err.msg, key));
}

/* ---- list collection ----------------------------------------------------- */

typedef struct coll {
    char *keys[512];
    uint64_t sizes[512];
    int n;
    int stop_after, stop_code; /* stop_after > 0: return stop_code at that call */
} coll;

static int collect(void *user, const char *key, uint64_t size) {
    coll *c = user;
    if (c->n < 512) {
        c->keys[c->n] = strdup(key);
        c->sizes[c->n] = size;
    }
    c->n++;
    if (c->stop_after && c->n == c->stop_after) return c->stop_code;
    return 0;
}

static void coll_free(coll *c) {
    for (int i = 0; i < c->n && i < 512; i++) free(c->keys[i]);
    c->n = 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "key:size key:size ..." sorted by key, for comparing a listing at once. */
static char *listing(tws_objstore *s, const char *prefix) {
    coll c = {0};
    tws_objstore_err err = {{0}};
    int rc = tws_obj_list(s, prefix, collect, &c, &err);
    if (rc) fail_msg("list \"%s\": %d %s", prefix, rc, err.msg);
    char **lines = calloc((size_t)c.n + 1, sizeof *lines);
    for (int i = 0; i < c.n; i++) {
        lines[i] = malloc(strlen(c.keys[i]) + 32);
        sprintf(lines[i], "%s:%llu", c.keys[i], (unsigned long long)c.sizes[i]);
    }
    qsort(lines, (size_t)c.n, sizeof *lines, cmp_str);
    char *out = calloc(1, 65536);
    for (int i = 0; i < c.n; i++) {
        if (i) strcat(out, " ");
        strcat(out, lines[i]);
        free(lines[i]);
    }
    free(lines);
    coll_free(&c);
    return out;
}

static void list_eq(tws_objstore *s, const char *prefix, const char *want) {
    char *got = listing(s, prefix);
    if (strcmp(got, want)) fail_msg("list \"%s\":\n got  \"%s\"\n want \"%s\"", prefix, got, want);
    free(got);
}

/* ---- tests --------------------------------------------------------------- */

static void test_round_trip(void **state) {
    char *dir = new_dir();
    char *root = path_of(dir, "x/y/root"); /* made with its parents */
    tws_objstore *s = open_store(root);
    struct stat st;
    assert_int_equal(stat(root, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    put_ok(s, "empty", NULL, 0);
    get_eq(s, "empty", "", 0);
    put_ok(s, "empty2", "x", 0);
    get_eq(s, "empty2", "", 0);
    put_str(s, "small/hello", "hello, world");
    get_eq(s, "small/hello", "hello, world", 12);

    size_t big = 5u << 20;
    uint8_t *p = malloc(big);
    fill(p, big, 42);
    put_ok(s, "tenant/block/data", p, big);
    get_eq(s, "tenant/block/data", p, big);

    /* modes: files 0644, directories 0755 (umask 022, set in main) */
    char *f = path_of(root, "tenant/block/data");
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal((uint64_t)st.st_size, big);
    free(f);
    f = path_of(root, "tenant/block");
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);
    free(f);

    /* missing keys, a directory, a file in the way of a directory */
    get_missing(s, "nope");
    get_missing(s, "tenant/nope/data");
    get_missing(s, "tenant/block");
    get_missing(s, "small/hello/x");
    uint8_t *data;
    size_t len;
    assert_int_equal(tws_obj_get(s, "nope", &data, &len, NULL), TW_ENOTFOUND); /* err may be NULL */
    assert_int_equal(tws_obj_get(s, "nope", NULL, &len, NULL), TW_EINVAL);

    /* out of memory */
    tws_objstore_err err = {{0}};
    tw__alloc_fail_after(0);
    data = (uint8_t *)&err;
    assert_int_equal(tws_obj_get(s, "small/hello", &data, &len, &err), TW_ENOMEM);
    tw__alloc_fail_after(-1);
    assert_null(data);
    assert_non_null(strstr(err.msg, "small/hello"));

    assert_int_equal(count_tmp(root), 0);
    tws_obj_close(s);

    /* survives a reopen */
    s = open_store(root);
    get_eq(s, "tenant/block/data", p, big);
    get_eq(s, "empty", "", 0);
    get_eq(s, "small/hello", "hello, world", 12);
    tws_obj_close(s);
    tws_obj_close(NULL);
    free(p);
    free(root);
    free_dir(dir);
}

static void test_overwrite(void **state) {
    char *dir = new_dir();
    tws_objstore *s = open_store(dir);
    uint8_t a[100], b[10];
    fill(a, sizeof a, 1);
    fill(b, sizeof b, 2);
    put_ok(s, "m/meta", a, sizeof a);
    get_eq(s, "m/meta", a, sizeof a);
    put_ok(s, "m/meta", b, sizeof b);
    get_eq(s, "m/meta", b, sizeof b);
    put_ok(s, "m/meta", NULL, 0);
    get_eq(s, "m/meta", "", 0);
    put_ok(s, "m/meta", a, sizeof a);
    get_eq(s, "m/meta", a, sizeof a);
    list_eq(s, "", "m/meta:100");
    /* the directory holds the object alone */
    char *m = path_of(dir, "m");
    DIR *d = opendir(m);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    assert_int_equal(n, 1);
    free(m);
    tws_obj_close(s);
    free_dir(dir);
}

static void test_get_range(void **state) {
    char *dir = new_dir();
    tws_objstore *s = open_store(dir);
    uint8_t p[1000], out[1000];
    fill(p, sizeof p, 7);
    put_ok(s, "r/obj", p, sizeof p);
    tws_objstore_err err = {{0}};

    assert_int_equal(tws_obj_get_range(s, "r/obj", 100, 200, out, &err), TW_OK); /* middle */
    assert_memory_equal(out, p + 100, 200);
    assert_int_equal(tws_obj_get_range(s, "r/obj", 900, 100, out, &err), TW_OK); /* up to the end */
    assert_memory_equal(out, p + 900, 100);
    assert_int_equal(tws_obj_get_range(s, "r/obj", 0, 1000, out, &err), TW_OK); /* all */
    assert_memory_equal(out, p, 1000);
    assert_int_equal(tws_obj_get_range(s, "r/obj", 1000, 0, out, &err), TW_OK); /* empty at the end */
    assert_int_equal(tws_obj_get_range(s, "r/obj", 1000, 0, NULL, NULL), TW_OK);

    err.msg[0] = '\0';
    assert_int_equal(tws_obj_get_range(s, "r/obj", 901, 100, out, &err), TW_ENOTFOUND); /* one past */
    assert_non_null(strstr(err.msg, "r/obj"));
    assert_int_equal(tws_obj_get_range(s, "r/obj", 1001, 0, out, &err), TW_ENOTFOUND);
    assert_int_equal(tws_obj_get_range(s, "r/obj", 0, 1001, out, &err), TW_ENOTFOUND);
    assert_int_equal(tws_obj_get_range(s, "r/obj", UINT64_MAX, 2, out, &err), TW_ENOTFOUND); /* overflow */
    assert_int_equal(tws_obj_get_range(s, "r/obj", 10, SIZE_MAX, out, &err), TW_ENOTFOUND);
    assert_int_equal(tws_obj_get_range(s, "r/obj", (uint64_t)1 << 63, 1, out, NULL), TW_ENOTFOUND);

    err.msg[0] = '\0';
    assert_int_equal(tws_obj_get_range(s, "r/missing", 0, 1, out, &err), TW_ENOTFOUND);
    assert_non_null(strstr(err.msg, "r/missing"));
    assert_int_equal(tws_obj_get_range(s, "r", 0, 1, out, &err), TW_ENOTFOUND); /* a directory */
    assert_int_equal(tws_obj_get_range(s, "r/obj/x", 0, 1, out, &err), TW_ENOTFOUND);

    put_ok(s, "r/empty", NULL, 0);
    assert_int_equal(tws_obj_get_range(s, "r/empty", 0, 0, out, &err), TW_OK);
    assert_int_equal(tws_obj_get_range(s, "r/empty", 0, 1, out, &err), TW_ENOTFOUND);
    tws_obj_close(s);
    free_dir(dir);
}

/* A view shows the object as it was when mapped, also after the object is
 * replaced or deleted; a missing key, a directory and an invalid key are
 * refused; an empty object maps to nothing. */
static void test_map(void **state) {
    char *dir = new_dir();
    tws_objstore *s = open_store(dir);
    uint8_t p[5000], q[5000];
    fill(p, sizeof p, 3);
    fill(q, sizeof q, 4);
    put_ok(s, "m/obj", p, sizeof p);
    tws_objstore_err err = {{0}};
    const uint8_t *v = NULL;
    size_t n = 0;
    assert_int_equal(tws_obj_map(s, "m/obj", &v, &n, &err), TW_OK);
    assert_non_null(v);
    assert_int_equal(n, sizeof p);
    assert_memory_equal(v, p, sizeof p);
    put_ok(s, "m/obj", q, 100); /* replaced */
    assert_memory_equal(v, p, sizeof p);
    assert_int_equal(tws_obj_del(s, "m/obj", &err), TW_OK); /* deleted */
    assert_memory_equal(v, p, sizeof p);
    tws_obj_unmap(s, v, n);

    err.msg[0] = '\0';
    assert_int_equal(tws_obj_map(s, "m/missing", &v, &n, &err), TW_ENOTFOUND);
    assert_null(v);
    assert_non_null(strstr(err.msg, "m/missing"));
    put_ok(s, "m/dir/x", p, 1);
    assert_int_equal(tws_obj_map(s, "m/dir", &v, &n, &err), TW_ENOTFOUND);
    assert_int_equal(tws_obj_map(s, "../etc/passwd", &v, &n, &err), TW_EINVAL);
    put_ok(s, "m/empty", NULL, 0);
    assert_int_equal(tws_obj_map(s, "m/empty", &v, &n, &err), TW_OK);
    assert_null(v);
    assert_int_equal(n, 0);
    tws_obj_unmap(s, v, n); /* nothing to undo */
    tws_obj_close(s);
    free_dir(dir);
}

static void test_list(void **state) {
    char *dir = new_dir();
    tws_objstore *s = open_store(dir);
    put_str(s, "tenant/b1/data", "12345");
    put_str(s, "tenant/b1/meta", "12");
    put_str(s, "tenant/b2/data", "");
    put_str(s, "tenant/b2/deep/er/key", "abc");
    put_str(s, "tenantx/y", "1");
    put_str(s, "other/z", "1234");
    put_str(s, "top", "xy");

    /* things that are no key: temporary files (ours or not), a symbolic
     * link, a name with a control byte, a reserved directory name */
    write_file(dir, "tenant/b1/.tmp.1.0000000000000000.7", "partial", 7);
    write_file(dir, ".tmp.junk", "j", 1);
    make_dirs(dir, ".tmp.dir");
    write_file(dir, ".tmp.dir/inside", "i", 1);
    write_file(dir, "tenant/bad\001name", "b", 1);
    char *link = path_of(dir, "tenant/link");
    assert_int_equal(symlink("b1", link), 0);
    free(link);
    make_dirs(dir, "emptydir/sub"); /* empty directories list nothing */

    const char *all = "other/z:4 tenant/b1/data:5 tenant/b1/meta:2 tenant/b2/data:0 tenant/b2/deep/er/key:3 "
                      "tenantx/y:1 top:2";
    list_eq(s, "", all);
    list_eq(s, "tenant/", "tenant/b1/data:5 tenant/b1/meta:2 tenant/b2/data:0 tenant/b2/deep/er/key:3");
    list_eq(s, "ten", "tenant/b1/data:5 tenant/b1/meta:2 tenant/b2/data:0 tenant/b2/deep/er/key:3 tenantx/y:1");
    list_eq(s, "tenant", "tenant/b1/data:5 tenant/b1/meta:2 tenant/b2/data:0 tenant/b2/deep/er/key:3 tenantx/y:1");
    list_eq(s, "t", "tenant/b1/data:5 tenant/b1/meta:2 tenant/b2/data:0 tenant/b2/deep/er/key:3 tenantx/y:1 top:2");
    list_eq(s, "tenant/b1/", "tenant/b1/data:5 tenant/b1/meta:2");
    list_eq(s, "tenant/b1", "tenant/b1/data:5 tenant/b1/meta:2");
    list_eq(s, "tenant/b", "tenant/b1/data:5 tenant/b1/meta:2 tenant/b2/data:0 tenant/b2/deep/er/key:3");
    list_eq(s, "tenant/b1/d", "tenant/b1/data:5");
    list_eq(s, "tenant/b1/data", "tenant/b1/data:5"); /* a whole key */
    list_eq(s, "tenant/b2/deep/", "tenant/b2/deep/er/key:3");
    list_eq(s, "tenant/b2/deep/er/key", "tenant/b2/deep/er/key:3");
    list_eq(s, "top", "top:2");
    list_eq(s, "nope/", "");
    list_eq(s, "nope/deeper/", "");
    list_eq(s, "tenant/b3", "");
    list_eq(s, "top/", "");          /* a file where the directory would be */
    list_eq(s, "tenant/b1/data/", "");
    list_eq(s, "emptydir/", "");
    list_eq(s, "tenant/link/", ""); /* not followed */
    list_eq(s, ".tm", "");
    tws_obj_close(s);
    free_dir(dir);
}

static void test_list_stop(void **state) {
    char *dir = new_dir();
    tws_objstore *s = open_store(dir);
    put_str(s, "a/1", "x");
    put_str(s, "a/2", "x");
    put_str(s, "a/b/3", "x");
    put_str(s, "c", "x");
    tws_objstore_err err = {{0}};

    coll c = {.stop_after = 2, .stop_code = TW_ELIMIT};
    assert_int_equal(tws_obj_list(s, "", collect, &c, &err), TW_ELIMIT);
    assert_int_equal(c.n, 2);
    assert_string_equal(err.msg, ""); /* a callback's stop is not a failure of the store */
    coll_free(&c);

    for (int stop = 1; stop <= 4; stop++) { /* every position, nested ones included */
        c = (coll){.stop_after = stop, .stop_code = 7};
        assert_int_equal(tws_obj_list(s, "", collect, &c, NULL), 7);
        assert_int_equal(c.n, stop);
        coll_free(&c);
    }
    c = (coll){.stop_after = 5, .stop_code = 7}; /* never reached */
    assert_int_equal(tws_obj_list(s, "", collect, &c, NULL), TW_OK);
    assert_int_equal(c.n, 4);
    coll_free(&c);
    assert_int_equal(tws_obj_list(s, "", NULL, NULL, &err), TW_EINVAL);
    tws_obj_close(s);
    free_dir(dir);
}

static void test_del(void **state) {
    char *dir = new_dir();
    tws_objstore *s = open_store(dir);
    tws_objstore_err err = {{0}};
    assert_int_equal(tws_obj_del(s, "missing", &err), TW_OK);
    assert_int_equal(tws_obj_del(s, "missing/deeper/key", &err), TW_OK);

    put_str(s, "a/b/c/d", "x");
    put_str(s, "top", "x");
    assert_int_equal(tws_obj_del(s, "a/b/c/d", &err), TW_OK);
    get_missing(s, "a/b/c/d");
    assert_false(exists(dir, "a")); /* every parent that became empty */
    assert_true(exists(dir, ""));   /* the root stays */
    assert_int_equal(tws_obj_del(s, "a/b/c/d", &err), TW_OK); /* idempotent */
    assert_int_equal(tws_obj_del(s, "top", NULL), TW_OK);
    assert_int_equal(tws_obj_del(s, "top", NULL), TW_OK);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    list_eq(s, "", "");

    put_str(s, "x/y/1", "1");
    put_str(s, "x/y/2", "2");
    put_str(s, "x/z", "z");
    assert_int_equal(tws_obj_del(s, "x/y/1", &err), TW_OK);
    assert_true(exists(dir, "x/y/2"));
    assert_int_equal(tws_obj_del(s, "x/y", &err), TW_OK); /* a directory is no object */
    assert_int_equal(tws_obj_del(s, "x", &err), TW_OK);
    assert_true(exists(dir, "x/y/2"));
    assert_int_equal(tws_obj_del(s, "x/y/2", &err), TW_OK);
    assert_false(exists(dir, "x/y"));
    assert_true(exists(dir, "x")); /* still holds x/z */
    assert_int_equal(tws_obj_del(s, "x/z/w", &err), TW_OK); /* a file in the way */
    list_eq(s, "", "x/z:1");
    assert_int_equal(tws_obj_del(s, "x/z", &err), TW_OK);
    assert_false(exists(dir, "x"));

    /* a directory with something that is no key in it is kept */
    put_str(s, "k/obj", "1");
    write_file(dir, "k/.tmp.1.0000000000000000.1", "t", 1);
    assert_int_equal(tws_obj_del(s, "k/obj", &err), TW_OK);
    assert_true(exists(dir, "k"));
    list_eq(s, "", "");
    tws_obj_close(s);
    free_dir(dir);
}

static const char *const bad_keys[] = {
    "", "/a", "a/", "a//b", "/", "//", ".", "..", "../x", "a/../b", "a/./b", "a/.", "a/..", "./a",
    "a\nb", "a\tb", "\x01", "a\x7f", "a/\x1f/b", ".tmp.x", "a/.tmp.1.2.3", "a/.tmp./b",
};

static void test_invalid_keys(void **state) {
    char *dir = new_dir();
    tws_objstore *s = open_store(dir);
    char long_key[1026];
    memset(long_key, 'k', 1025);
    long_key[1025] = '\0';
    uint8_t buf[4];
    for (size_t i = 0; i <= TW_ARRAY_LEN(bad_keys); i++) {
        const char *k = i < TW_ARRAY_LEN(bad_keys) ? bad_keys[i] : long_key;
        tws_objstore_err err = {{0}};
        assert_false(tws_objstore_key_valid(k));
        assert_int_equal(tws_obj_put(s, k, "x", 1, &err), TW_EINVAL);
        assert_non_null(strstr(err.msg, "invalid key"));
        uint8_t *data = buf;
        size_t len = 9;
        err.msg[0] = '\0';
        assert_int_equal(tws_obj_get(s, k, &data, &len, &err), TW_EINVAL);
        assert_null(data);
        assert_int_equal(len, 0);
        assert_true(err.msg[0]);
        err.msg[0] = '\0';
        assert_int_equal(tws_obj_get_range(s, k, 0, 1, buf, &err), TW_EINVAL);
        assert_true(err.msg[0]);
        err.msg[0] = '\0';
        assert_int_equal(tws_obj_del(s, k, &err), TW_EINVAL);
        assert_true(err.msg[0]);
        assert_int_equal(tws_obj_put(s, k, "x", 1, NULL), TW_EINVAL); /* err may be NULL */
        assert_int_equal(tws_obj_del(s, k, NULL), TW_EINVAL);
    }
    assert_false(tws_objstore_key_valid(NULL));
    assert_int_equal(tws_obj_put(s, NULL, "x", 1, NULL), TW_EINVAL);
    assert_int_equal(tws_obj_put(s, "ok", NULL, 1, NULL), TW_EINVAL);
    assert_int_equal(tws_obj_list(s, NULL, collect, NULL, NULL), TW_EINVAL);

    /* prefixes: "" and a trailing '/' are allowed; the rest as for keys */
    static const char *const bad_prefixes[] = {"/", "//", "a//", "/a", "../", "..", "a/../", "a/..", "a/./",
                                               "a\n", "a\nb/", "\x7f", "a/.tmp.", ".tmp.x/"};
    for (size_t i = 0; i < TW_ARRAY_LEN(bad_prefixes); i++) {
        tws_objstore_err err = {{0}};
        coll c = {0};
        assert_int_equal(tws_obj_list(s, bad_prefixes[i], collect, &c, &err), TW_EINVAL);
        assert_non_null(strstr(err.msg, "invalid key"));
        assert_int_equal(c.n, 0);
    }
    char long_prefix[1027];
    memset(long_prefix, 'p', 1025);
    long_prefix[1025] = '/';
    long_prefix[1026] = '\0';
    assert_int_equal(tws_obj_list(s, long_prefix, collect, NULL, NULL), TW_EINVAL);
    long_prefix[1024] = '/';
    long_prefix[1025] = '\0'; /* 1024 bytes and the '/' */
    assert_int_equal(tws_obj_list(s, long_prefix, collect, NULL, NULL), TW_OK);

    /* valid, if unusual */
    static const char *const good[] = {"g", "h/b", "h/.hidden", "h/..b", "h/b..", "...", ".tmp", "x/.tmpx",
                                       "\xc3\xbc/\xc3\x9f", "sp ace/ok", "i/b/c/d/e/f"};
    for (size_t i = 0; i < TW_ARRAY_LEN(good); i++) {
        assert_true(tws_objstore_key_valid(good[i]));
        put_str(s, good[i], good[i]);
        get_eq(s, good[i], good[i], strlen(good[i]));
    }
    static const char *const good_prefixes[] = {"", "a", "a/", "a/.h", "a/b/", "\xc3\xbc/", ".tm"};
    for (size_t i = 0; i < TW_ARRAY_LEN(good_prefixes); i++) {
        coll c = {0};
        assert_int_equal(tws_obj_list(s, good_prefixes[i], collect, &c, NULL), TW_OK);
        coll_free(&c);
    }
    list_eq(s, "h/", "h/..b:5 h/.hidden:9 h/b..:5 h/b:3");
    list_eq(s, "h/.h", "h/.hidden:9");
    for (size_t i = 0; i < TW_ARRAY_LEN(good); i++) assert_int_equal(tws_obj_del(s, good[i], NULL), TW_OK);
    list_eq(s, "", "");
    assert_int_equal(count_tmp(dir), 0);
    tws_obj_close(s);
    free_dir(dir);
}

/* 1024 bytes: ten segments of 99 bytes and one of 34, each under NAME_MAX. */
static void test_longest_key(void **state) {
    char *dir = new_dir();
    tws_objstore *s = open_store(dir);
    char key[1025];
    size_t n = 0;
    for (int seg = 0; n < 1024; seg++) {
        if (seg) key[n++] = '/';
        for (int i = 0; i < 99 && n < 1024; i++) key[n++] = (char)('a' + seg);
    }
    key[n] = '\0';
    assert_int_equal(strlen(key), 1024);
    assert_true(tws_objstore_key_valid(key));
    put_str(s, key, "long");
    get_eq(s, key, "long", 4);
    uint8_t out[2];
    assert_int_equal(tws_obj_get_range(s, key, 1, 2, out, NULL), TW_OK);
    assert_memory_equal(out, "on", 2);
    coll c = {0};
    assert_int_equal(tws_obj_list(s, "", collect, &c, NULL), TW_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.keys[0], key);
    coll_free(&c);
    assert_int_equal(tws_obj_list(s, key, collect, &c, NULL), TW_OK);
    assert_int_equal(c.n, 1);
    coll_free(&c);
    assert_int_equal(tws_obj_del(s, key, NULL), TW_OK);
    list_eq(s, "", "");
    assert_false(exists(dir, "a"));
    tws_obj_close(s);
    free_dir(dir);
}

static void test_open_sweeps_leftovers(void **state) {
    char *dir = new_dir();
    tws_objstore *s = open_store(dir);
    put_str(s, "a/b/obj", "keep");
    put_str(s, "c/obj", "keep");
    tws_obj_close(s);

    /* a dead process's pid: a child that has exited and been reaped */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    char dead[128], mine[128];
    snprintf(dead, sizeof dead, "a/b/.tmp.%ld.00000000deadbeef.3", (long)child);
    snprintf(mine, sizeof mine, ".tmp.%ld.0123456789abcdef.1", (long)getpid()); /* our pid, another instance */

    write_file(dir, "a/b/.tmp.garbage", "g", 1);   /* does not parse */
    write_file(dir, dead, "d", 1);                 /* its process is gone */
    write_file(dir, mine, "m", 1);                 /* an earlier process with our pid */
    write_file(dir, "c/.tmp.1.0000000000000000.5", "l", 1); /* pid 1 lives: a put in flight */
    make_dirs(dir, "deep/er/still");
    write_file(dir, "deep/er/still/.tmp.0.0.0", "z", 1);
    make_dirs(dir, ".tmp.notours");               /* a directory, not a temporary file */
    assert_int_equal(count_tmp(dir), 6);

    s = open_store(dir);
    assert_false(exists(dir, "a/b/.tmp.garbage"));
    assert_false(exists(dir, dead));
    assert_false(exists(dir, mine));
    assert_false(exists(dir, "deep/er/still/.tmp.0.0.0"));
    assert_true(exists(dir, "c/.tmp.1.0000000000000000.5"));
    assert_true(exists(dir, ".tmp.notours"));
    get_eq(s, "a/b/obj", "keep", 4);
    get_eq(s, "c/obj", "keep", 4);
    list_eq(s, "", "a/b/obj:4 c/obj:4");

    /* a second open in the same process keeps the first one's puts (none in
     * flight here, but its own temporary names must survive) */
    tws_objstore *s2 = open_store(dir);
    list_eq(s2, "", "a/b/obj:4 c/obj:4");
    tws_obj_close(s2);
    tws_obj_close(s);
    free_dir(dir);
}

static void test_open_errors(void **state) {
    char *dir = new_dir();
    tws_objstore *s = (tws_objstore *)dir;
    tws_objstore_err err = {{0}};
    write_file(dir, "file", "f", 1);
    char *p = path_of(dir, "file");
    assert_int_equal(tws_objstore_local_open(p, &s, &err), TW_EIO);
    assert_null(s);
    assert_true(err.msg[0]);
    free(p);
    p = path_of(dir, "file/sub/root");
    err.msg[0] = '\0';
    assert_int_equal(tws_objstore_local_open(p, &s, &err), TW_EIO);
    assert_non_null(strstr(err.msg, "file"));
    free(p);
    assert_int_equal(tws_objstore_local_open("", &s, &err), TW_EINVAL);
    assert_int_equal(tws_objstore_local_open(NULL, &s, NULL), TW_EINVAL);
    assert_int_equal(tws_objstore_local_open(dir, NULL, NULL), TW_EINVAL);
    /* a root with a trailing slash */
    char root[4200];
    snprintf(root, sizeof root, "%s/r/", dir);
    s = open_store(root);
    put_str(s, "k", "v");
    tws_obj_close(s);
    assert_true(exists(dir, "r/k"));
    free_dir(dir);
}

/* A put syncs the file, its directory, and the parent of each directory it
 * made; a put into an existing directory syncs the file and the directory;
 * a del syncs the directory it unlinked from. */
static void test_syncs(void **state) {
    char *dir = new_dir();
    tws_objstore *s = open_store(dir);
    rec_start();
    put_str(s, "n1/n2/k", "v");
    char *n1 = path_of(dir, "n1"), *n2 = path_of(dir, "n1/n2"), *k = path_of(dir, "n1/n2/k");
    assert_true(synced(k));
    assert_true(synced(n2));
    assert_true(synced(n1));
    assert_true(synced(dir));

    rec_start();
    put_str(s, "n1/n2/k2", "v");
    char *k2 = path_of(dir, "n1/n2/k2");
    assert_true(synced(k2));
    assert_true(synced(n2));
    assert_int_equal(rec_count(), 2);

    rec_start();
    assert_int_equal(tws_obj_del(s, "n1/n2/k", NULL), TW_OK);
    assert_true(synced(n2));
    atomic_store(&fsync_record, 0);
    free(n1);
    free(n2);
    free(k);
    free(k2);
    tws_obj_close(s);
    free_dir(dir);
}

static void test_io_errors(void **state) {
    char *dir = new_dir();
    tws_objstore *s = open_store(dir);
    tws_objstore_err err = {{0}};

    /* a file where a directory must be */
    put_str(s, "a", "file");
    assert_int_equal(tws_obj_put(s, "a/b", "x", 1, &err), TW_EIO);
    assert_non_null(strstr(err.msg, "a/b"));
    assert_non_null(strstr(err.msg, strerror(ENOTDIR)));
    assert_int_equal(tws_obj_put(s, "a/b/c", "x", 1, NULL), TW_EIO);
    get_missing(s, "a/b");
    assert_int_equal(tws_obj_del(s, "a/b", &err), TW_OK);
    list_eq(s, "a/", "");

    /* a directory of other keys where the object must be */
    put_str(s, "x/y", "y");
    err.msg[0] = '\0';
    assert_int_equal(tws_obj_put(s, "x", "x", 1, &err), TW_EIO);
    assert_non_null(strstr(err.msg, "put x:"));
    get_eq(s, "x/y", "y", 1);

    /* a segment longer than the file system allows (valid as a key) */
    char longname[400];
    memset(longname, 'n', 300);
    memcpy(longname + 300, "/k", 3);
    err.msg[0] = '\0';
    assert_int_equal(tws_obj_put(s, longname, "x", 1, &err), TW_EIO);
    assert_non_null(strstr(err.msg, "nnnnnnnn"));
    uint8_t *d0;
    size_t n0;
    assert_int_equal(tws_obj_get(s, longname, &d0, &n0, NULL), TW_ENOTFOUND); /* no put can have made it */
    assert_int_equal(tws_obj_del(s, longname, &err), TW_OK);
    assert_int_equal(tws_obj_put(s, longname + 290, "x", 1, &err), TW_OK); /* 10 + "/k" is fine */

    /* a failing fsync of the file: the old object stays */
    put_str(s, "f/k", "v1");
    atomic_store(&fsync_fail_at, 1);
    err.msg[0] = '\0';
    assert_int_equal(tws_obj_put(s, "f/k", "v2", 2, &err), TW_EIO);
    assert_int_equal(atomic_load(&fsync_fail_at), 0);
    assert_non_null(strstr(err.msg, "f/k"));
    assert_non_null(strstr(err.msg, "sync"));
    get_eq(s, "f/k", "v1", 2);
    /* a failing fsync of the directory: the object is in place, its
     * durability unknown */
    atomic_store(&fsync_fail_at, 2);
    assert_int_equal(tws_obj_put(s, "f/k", "v3", 2, &err), TW_EIO);
    assert_non_null(strstr(err.msg, "sync directory"));
    get_eq(s, "f/k", "v3", 2);
    /* a failing fsync while making a directory */
    atomic_store(&fsync_fail_at, 1);
    assert_int_equal(tws_obj_put(s, "new/dir/k", "v", 1, &err), TW_EIO);
    assert_non_null(strstr(err.msg, "new/dir/k"));
    get_missing(s, "new/dir/k");
    put_str(s, "new/dir/k", "v"); /* the next attempt goes through */
    /* a failing fsync in del: reported, the object is gone */
    atomic_store(&fsync_fail_at, 1);
    assert_int_equal(tws_obj_del(s, "f/k", &err), TW_EIO);
    assert_non_null(strstr(err.msg, "f/k"));
    get_missing(s, "f/k");
    assert_int_equal(tws_obj_del(s, "f/k", &err), TW_OK);
    assert_int_equal(count_tmp(dir), 0);

    /* a write that fails half way (RLIMIT_FSIZE, in a child) */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {.rlim_cur = 4096, .rlim_max = 4096};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(10);
        static uint8_t big[100000];
        tws_objstore_err e = {{0}};
        if (tws_obj_put(s, "w/k", big, sizeof big, &e) != TW_EIO) _exit(11);
        if (!strstr(e.msg, "w/k") || !strstr(e.msg, "write")) _exit(12);
        uint8_t *d;
        size_t n;
        if (tws_obj_get(s, "w/k", &d, &n, NULL) != TW_ENOTFOUND) _exit(13);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_tmp(dir), 0);

    /* permissions, which root does not feel */
    if (geteuid() != 0) {
        assert_int_equal(chmod(dir, 0555), 0);
        err.msg[0] = '\0';
        assert_int_equal(tws_obj_put(s, "ro/k", "x", 1, &err), TW_EIO);
        assert_non_null(strstr(err.msg, "ro/k"));
        assert_int_equal(tws_obj_put(s, "rootkey", "x", 1, &err), TW_EIO);
        assert_non_null(strstr(err.msg, "rootkey"));
        assert_int_equal(chmod(dir, 0755), 0);
        char *f = path_of(dir, "x/y");
        assert_int_equal(chmod(f, 0), 0);
        uint8_t *d;
        size_t n;
        assert_int_equal(tws_obj_get(s, "x/y", &d, &n, &err), TW_EIO);
        assert_non_null(strstr(err.msg, "x/y"));
        free(f);
    } else {
        print_message("running as root: the read-only directory checks are skipped\n");
    }
    assert_int_equal(count_tmp(dir), 0);
    tws_obj_close(s);
    free_dir(dir);
}

/* ---- threads ------------------------------------------------------------- */

#define CT_THREADS 4
#define CT_OPS 400
#define CT_OWN 12 /* keys per thread: 2 x 2 directories x 3 */

typedef struct ct_arg {
    tws_objstore *s;
    int id;
    uint32_t ver[CT_OWN];
    bool present[CT_OWN];
    int failures;
    char msg[512];
    uint32_t puts, gets, dels, lists;
} ct_arg;

static void own_key(int id, int k, char *out, size_t n) {
    snprintf(out, n, "d%d/e%d/t%d-k%d", k % 2, (k / 2) % 2, id, k / 4);
}

/* The object for (key, version): the version in its first 4 bytes, then
 * bytes drawn from both; its length too. */
static uint8_t *ct_gen(const char *key, uint32_t ver, size_t *len) {
    uint64_t h = 1469598103934665603ull;
    for (const char *c = key; *c; c++) h = (h ^ (uint8_t)*c) * 1099511628211ull;
    *len = 4 + (size_t)(tw__mix64(h ^ ver) % 3000);
    uint8_t *p = malloc(*len);
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(ver >> (8 * i));
    fill(p + 4, *len - 4, h ^ ((uint64_t)ver << 32));
    return p;
}

/* The version of an intact object for `key`, or -1. */
static long ct_check(const char *key, const uint8_t *p, size_t len) {
    if (len < 4) return -1;
    uint32_t ver = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    size_t n;
    uint8_t *want = ct_gen(key, ver, &n);
    long r = n == len && !memcmp(want, p, n) ? (long)ver : -1;
    free(want);
    return r;
}

static void ct_fail(ct_arg *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ct_fail(ct_arg *a, const char *fmt, ...) {
    if (!a->failures++) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(a->msg, sizeof a->msg, fmt, ap);
        va_end(ap);
    }
}

static void *ct_thread(void *arg) {
    ct_arg *a = arg;
    uint64_t rng = tw__mix64((uint64_t)a->id + 100);
    uint32_t next_ver = (uint32_t)a->id << 24;
    for (int i = 0; i < CT_OPS; i++) {
        rng = tw__mix64(rng + (uint64_t)i);
        int op = (int)(rng % 10), k = (int)((rng >> 8) % CT_OWN);
        bool shared = (rng >> 20) % 5 == 0;
        char key[64];
        if (shared)
            snprintf(key, sizeof key, "d%d/e%d/shared", k % 2, (k / 2) % 2);
        else
            own_key(a->id, k, key, sizeof key);
        tws_objstore_err err = {{0}};
        int rc;
        if (op < 4) { /* put */
            uint32_t ver = ++next_ver;
            size_t len;
            uint8_t *p = ct_gen(key, ver, &len);
            if ((rc = tws_obj_put(a->s, key, p, len, &err)) != TW_OK) ct_fail(a, "put %s: %d %s", key, rc, err.msg);
            free(p);
            if (!shared) {
                a->ver[k] = ver;
                a->present[k] = true;
            }
            a->puts++;
        } else if (op < 7) { /* get */
            uint8_t *p = NULL;
            size_t len = 0;
            rc = tws_obj_get(a->s, key, &p, &len, &err);
            a->gets++;
            if (rc == TW_OK) {
                long v = ct_check(key, p, len);
                if (v < 0) ct_fail(a, "get %s: not an intact object (%zu bytes)", key, len);
                else if (!shared && (!a->present[k] || (uint32_t)v != a->ver[k]))
                    ct_fail(a, "get %s: version %ld, the model says %s %u", key, v,
                            a->present[k] ? "present" : "absent", a->ver[k]);
                tw__free(p);
            } else if (rc != TW_ENOTFOUND || (!shared && a->present[k])) {
                ct_fail(a, "get %s: %d %s", key, rc, err.msg);
            }
        } else if (op == 7) { /* get_range: the version */
            uint8_t v4[4];
            rc = tws_obj_get_range(a->s, key, 0, 4, v4, &err);
            if (!shared) {
                uint32_t v = (uint32_t)v4[0] | (uint32_t)v4[1] << 8 | (uint32_t)v4[2] << 16 | (uint32_t)v4[3] << 24;
                if (a->present[k] ? rc != TW_OK || v != a->ver[k] : rc != TW_ENOTFOUND)
                    ct_fail(a, "get_range %s: %d %s", key, rc, err.msg);
            } else if (rc != TW_OK && rc != TW_ENOTFOUND) {
                ct_fail(a, "get_range %s: %d %s", key, rc, err.msg);
            }
        } else if (op == 8) { /* del */
            if ((rc = tws_obj_del(a->s, key, &err)) != TW_OK) ct_fail(a, "del %s: %d %s", key, rc, err.msg);
            if (!shared) a->present[k] = false;
            a->dels++;
        } else { /* list a directory: this thread's keys in it are exactly the model's */
            char prefix[16];
            snprintf(prefix, sizeof prefix, "d%d/", k % 2);
            coll c = {0};
            if ((rc = tws_obj_list(a->s, prefix, collect, &c, &err)) != TW_OK)
                ct_fail(a, "list %s: %d %s", prefix, rc, err.msg);
            a->lists++;
            for (int j = 0; j < CT_OWN; j++) {
                if (j % 2 != k % 2) continue;
                own_key(a->id, j, key, sizeof key);
                int seen = 0;
                for (int m = 0; m < c.n && m < 512; m++) seen += !strcmp(c.keys[m], key);
                if (seen != (int)a->present[j]) ct_fail(a, "list %s: %s seen %d times", prefix, key, seen);
            }
            coll_free(&c);
        }
    }
    return NULL;
}

static void test_threads(void **state) {
    char *dir = new_dir();
    tws_objstore *s = open_store(dir);
    pthread_t th[CT_THREADS];
    ct_arg args[CT_THREADS];
    memset(args, 0, sizeof args);
    for (int t = 0; t < CT_THREADS; t++) {
        args[t].s = s;
        args[t].id = t;
        assert_int_equal(pthread_create(&th[t], NULL, ct_thread, &args[t]), 0);
    }
    uint32_t puts = 0, dels = 0;
    for (int t = 0; t < CT_THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        if (args[t].failures) fail_msg("thread %d: %d failures, first: %s", t, args[t].failures, args[t].msg);
        puts += args[t].puts;
        dels += args[t].dels;
    }
    print_message("threads: %u puts, %u dels, no failures\n", puts, dels);

    /* The final state: every thread's model, and intact shared objects. */
    coll c = {0};
    assert_int_equal(tws_obj_list(s, "", collect, &c, NULL), TW_OK);
    assert_true(c.n < 512);
    int own = 0;
    for (int m = 0; m < c.n; m++) {
        uint8_t *p;
        size_t len;
        assert_int_equal(tws_obj_get(s, c.keys[m], &p, &len, NULL), TW_OK);
        assert_int_equal(len, c.sizes[m]);
        long v = ct_check(c.keys[m], p, len);
        assert_true(v >= 0);
        tw__free(p);
        if (strstr(c.keys[m], "shared")) continue;
        int t = -1, k = -1;
        for (int tt = 0; tt < CT_THREADS; tt++)
            for (int kk = 0; kk < CT_OWN; kk++) {
                char key[64];
                own_key(tt, kk, key, sizeof key);
                if (!strcmp(key, c.keys[m])) t = tt, k = kk;
            }
        assert_true(t >= 0);
        assert_true(args[t].present[k]);
        assert_int_equal((uint32_t)v, args[t].ver[k]);
        own++;
    }
    int want = 0;
    for (int t = 0; t < CT_THREADS; t++)
        for (int k = 0; k < CT_OWN; k++) want += args[t].present[k];
    assert_int_equal(own, want);
    coll_free(&c);

    int tmp = 0, empty = 0;
    scan(dir, &tmp, &empty);
    assert_int_equal(tmp, 0);
    assert_int_equal(empty, 0);

    /* delete everything: nothing is left below the root */
    assert_int_equal(tws_obj_list(s, "", collect, &c, NULL), TW_OK);
    for (int m = 0; m < c.n; m++) assert_int_equal(tws_obj_del(s, c.keys[m], NULL), TW_OK);
    coll_free(&c);
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    assert_int_equal(n, 0);
    tws_obj_close(s);
    free_dir(dir);
}

/* Directory churn: every thread puts and deletes its own key in the same few
 * directories, so they are made and removed all the time and puts meet
 * directories that a del is removing under them. No operation may fail. */
#define CH_OPS 4000

typedef struct ch_arg {
    tws_objstore *s;
    int id;
    int failures;
    char msg[512];
} ch_arg;

static void *ch_thread(void *arg) {
    ch_arg *a = arg;
    for (int i = 0; i < CH_OPS; i++) {
        char key[64];
        snprintf(key, sizeof key, "p/q%d/r%d/t%d", i % 2, (i / 2) % 2, a->id);
        tws_objstore_err err = {{0}};
        int rc = tws_obj_put(a->s, key, key, strlen(key), &err);
        if (rc && !a->failures++) snprintf(a->msg, sizeof a->msg, "put %s: %d %s", key, rc, err.msg);
        uint8_t buf[64];
        rc = tws_obj_get_range(a->s, key, 0, strlen(key), buf, &err);
        if ((rc || memcmp(buf, key, strlen(key))) && !a->failures++)
            snprintf(a->msg, sizeof a->msg, "get_range %s: %d %s", key, rc, err.msg);
        rc = tws_obj_del(a->s, key, &err);
        if (rc && !a->failures++) snprintf(a->msg, sizeof a->msg, "del %s: %d %s", key, rc, err.msg);
    }
    return NULL;
}

static void test_threads_dir_churn(void **state) {
    char *dir = new_dir();
    tws_objstore *s = open_store(dir);
    atomic_store(&fsync_skip, 1);
    pthread_t th[CT_THREADS];
    ch_arg args[CT_THREADS];
    memset(args, 0, sizeof args);
    for (int t = 0; t < CT_THREADS; t++) {
        args[t].s = s;
        args[t].id = t;
        assert_int_equal(pthread_create(&th[t], NULL, ch_thread, &args[t]), 0);
    }
    for (int t = 0; t < CT_THREADS; t++) assert_int_equal(pthread_join(th[t], NULL), 0);
    atomic_store(&fsync_skip, 0);
    for (int t = 0; t < CT_THREADS; t++)
        if (args[t].failures) fail_msg("thread %d: %d failures, first: %s", t, args[t].failures, args[t].msg);
    list_eq(s, "", "");
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    assert_int_equal(n, 0); /* every directory removed again */
    tws_obj_close(s);
    free_dir(dir);
}

int main(void) {
    umask(022);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_overwrite),
        cmocka_unit_test(test_get_range),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_list_stop),
        cmocka_unit_test(test_del),
        cmocka_unit_test(test_invalid_keys),
        cmocka_unit_test(test_longest_key),
        cmocka_unit_test(test_open_sweeps_leftovers),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_syncs),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_threads_dir_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
