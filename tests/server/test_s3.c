/*
 * test_s3.c — the S3-compatible object store against a real S3 server:
 * s3rver from npm (tests/interop/s3rver.mjs). s3rver checks the access key
 * id of a SigV4 request and the x-amz-content-sha256 header, but not the
 * signature itself (its V4 check is unimplemented): the signing is
 * libcurl's, and a real S3 is where it is proven. Needs node and tests/interop/node_modules (scripts/deps --test).
 *
 * Covered: open refusing a wrong key pair, a missing bucket, an endpoint
 * nobody listens on and malformed options, each with its reason; put/get
 * round trips (empty, small, 3 MB of binary) and overwrite; get_range
 * (middle, the last byte, past the end, a missing key); list across pages
 * of two keys, with prefixes, and with keys that need percent-encoding
 * (spaces, '+', '&', '=', UTF-8) in the path and in the query; the
 * callback's stop code; del (idempotent); two stores with different
 * prefixes in one bucket never seeing each other's keys; four threads at
 * once; and the ListObjectsV2 parser on entities, malformed and truncated
 * answers.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs_util.h"

#include "objstore/s3.h"

static pid_t s3_pid;
static int s3_stdin = -1;
static char endpoint[64];
static char s3_dir[256];

/* Start s3rver on a free port; its standard input is our pipe, so it stops
 * when this process goes away. */
static int start_s3rver(void **state) {
    (void)state;
    const char *src = getenv("TW_SOURCE_DIR");
    if (!src) {
        fprintf(stderr, "TW_SOURCE_DIR is not set (run through ctest)\n");
        return -1;
    }
    snprintf(s3_dir, sizeof s3_dir, "%s/tw-s3-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(s3_dir)) return -1;
    char script[600];
    snprintf(script, sizeof script, "%s/tests/interop/s3rver.mjs", src);
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return -1;
    s3_pid = fork();
    if (s3_pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execlp("node", "node", "--openssl-legacy-provider", script, s3_dir, "tracewire", (char *)NULL);
        perror("node (scripts/deps --test installs it)");
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s3_stdin = in[1];
    char line[32] = "";
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t r = read(out[0], line + n, 1);
        if (r <= 0 || line[n] == '\n') break;
        n++;
    }
    close(out[0]);
    line[n] = 0;
    int port = atoi(line);
    if (port <= 0) {
        fprintf(stderr, "s3rver did not start (is tests/interop/node_modules installed?)\n");
        return -1;
    }
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    return 0;
}

static int stop_s3rver(void **state) {
    (void)state;
    if (s3_stdin >= 0) close(s3_stdin);
    if (s3_pid > 0) waitpid(s3_pid, NULL, 0);
    rm_rf(s3_dir);
    return 0;
}

static tws_s3_options opts(const char *prefix) {
    tws_s3_options o = {.endpoint = endpoint, .bucket = "tracewire", .prefix = prefix, .access_key = "S3RVER",
                        .secret_key = "S3RVER", .list_page_size = 2, .timeout_ms = 10000};
    return o;
}

static tws_objstore *open_ok(const char *prefix) {
    tws_s3_options o = opts(prefix);
    tws_objstore *s = NULL;
    tws_objstore_err err = {{0}};
    int rc = tws_objstore_s3_open(&o, &s, &err);
    if (rc) fprintf(stderr, "open: %s\n", err.msg);
    assert_int_equal(rc, TW_OK);
    assert_string_equal(s->kind, "s3");
    return s;
}

static void fill(uint8_t *p, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (uint8_t)(seed >> 56);
    }
}

static void put_ok(tws_objstore *s, const char *key, const void *d, size_t n) {
    tws_objstore_err err = {{0}};
    int rc = tws_obj_put(s, key, d, n, &err);
    if (rc) fprintf(stderr, "put %s: %s\n", key, err.msg);
    assert_int_equal(rc, TW_OK);
}

static void get_eq(tws_objstore *s, const char *key, const void *want, size_t n) {
    uint8_t *d = NULL;
    size_t len = 99;
    tws_objstore_err err = {{0}};
    int rc = tws_obj_get(s, key, &d, &len, &err);
    if (rc) fprintf(stderr, "get %s: %s\n", key, err.msg);
    assert_int_equal(rc, TW_OK);
    assert_non_null(d);
    assert_int_equal(len, n);
    if (n) assert_memory_equal(d, want, n);
    free(d);
}

typedef struct coll {
    char keys[64][256];
    uint64_t sizes[64];
    int n, stop_at;
} coll;

static int collect(void *user, const char *key, uint64_t size) {
    coll *c = user;
    if (c->stop_at && c->n == c->stop_at) return TW_EFULL;
    assert_true(c->n < 64);
    snprintf(c->keys[c->n], 256, "%s", key);
    c->sizes[c->n++] = size;
    return TW_OK;
}

static bool has(const coll *c, const char *key, uint64_t size) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->keys[i], key) == 0) return c->sizes[i] == size;
    return false;
}

static void test_open_errors(void **state) {
    (void)state;
    tws_objstore *s = NULL;
    tws_objstore_err err = {{0}};
    tws_s3_options o = opts("");
    o.access_key = "WRONG";
    assert_int_equal(tws_objstore_s3_open(&o, &s, &err), TW_EIO);
    assert_non_null(strstr(err.msg, "HTTP 403"));
    assert_non_null(strstr(err.msg, "InvalidAccessKeyId"));

    o = opts("");
    o.bucket = "no-such-bucket";
    memset(&err, 0, sizeof err);
    assert_int_equal(tws_objstore_s3_open(&o, &s, &err), TW_EIO);
    assert_non_null(strstr(err.msg, "NoSuchBucket"));

    o = opts("");
    o.endpoint = "http://127.0.0.1:1"; /* nobody listens */
    o.timeout_ms = 2000;
    memset(&err, 0, sizeof err);
    assert_int_equal(tws_objstore_s3_open(&o, &s, &err), TW_EIO);
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));

    const struct {
        const char *endpoint, *bucket, *prefix, *ak, *want;
    } bad[] = {
        {NULL, "b", "", "k", "endpoint"},
        {"http://x", "", "", "k", "bucket"},
        {"http://x", "a b", "", "k", "bucket"},
        {"http://x", "b", "p", "k", "prefix"},
        {"http://x", "b", "a//", "k", "prefix"},
        {"http://x", "b", "../", "k", "prefix"},
        {"http://x", "b", "", "", "credentials"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tws_s3_options b = opts(bad[i].prefix);
        b.endpoint = bad[i].endpoint;
        b.bucket = bad[i].bucket;
        b.access_key = bad[i].ak;
        memset(&err, 0, sizeof err);
        assert_int_equal(tws_objstore_s3_open(&b, &s, &err), TW_EINVAL);
        if (!strstr(err.msg, bad[i].want)) fail_msg("case %zu: \"%s\" does not name %s", i, err.msg, bad[i].want);
    }
}

static void test_round_trip(void **state) {
    (void)state;
    tws_objstore *s = open_ok("rt/");
    size_t big = 3u << 20;
    uint8_t *d = malloc(big);
    fill(d, big, 7);
    put_ok(s, "t/a/data", d, big);
    put_ok(s, "t/a/empty", "", 0);
    put_ok(s, "t/a/meta.json", "{\"v\":1}", 7);
    get_eq(s, "t/a/data", d, big);
    get_eq(s, "t/a/empty", "", 0);
    get_eq(s, "t/a/meta.json", "{\"v\":1}", 7);
    put_ok(s, "t/a/meta.json", "{\"v\":22}", 8); /* replaced whole */
    get_eq(s, "t/a/meta.json", "{\"v\":22}", 8);

    uint8_t r[4096];
    tws_objstore_err err = {{0}};
    assert_int_equal(tws_obj_get_range(s, "t/a/data", 12345, sizeof r, r, &err), TW_OK);
    assert_memory_equal(r, d + 12345, sizeof r);
    assert_int_equal(tws_obj_get_range(s, "t/a/data", big - 1, 1, r, &err), TW_OK);
    assert_int_equal(r[0], d[big - 1]);
    int rc = tws_obj_get_range(s, "t/a/data", big - 10, 11, r, &err);
    if (rc != TW_ENOTFOUND) fail_msg("range over the end: %d %s", rc, err.msg);
    rc = tws_obj_get_range(s, "t/a/data", big + 10, 4, r, &err);
    if (rc != TW_ENOTFOUND) fail_msg("range past the end: %d %s", rc, err.msg);
    assert_int_equal(tws_obj_get_range(s, "t/a/data", big, 0, r, &err), TW_OK);
    assert_int_equal(tws_obj_get_range(s, "t/a/nothing", 0, 4, r, &err), TW_ENOTFOUND);
    uint8_t *g;
    size_t gl;
    assert_int_equal(tws_obj_get(s, "t/a/nothing", &g, &gl, &err), TW_ENOTFOUND);
    assert_int_equal(tws_obj_put(s, "../x", "x", 1, &err), TW_EINVAL);
    assert_int_equal(tws_obj_get(s, "a//b", &g, &gl, &err), TW_EINVAL);

    assert_int_equal(tws_obj_del(s, "t/a/data", &err), TW_OK);
    assert_int_equal(tws_obj_del(s, "t/a/data", &err), TW_OK); /* idempotent */
    assert_int_equal(tws_obj_get(s, "t/a/data", &g, &gl, &err), TW_ENOTFOUND);
    free(d);
    tws_obj_close(s);
}

static void test_list(void **state) {
    (void)state;
    tws_objstore *s = open_ok("ls/");
    const char *keys[] = {"t1/b1/data", "t1/b1/meta.json", "t1/b2/data", "t1/b2/meta.json", "t2/b3/data",
                          "t2/b a+b&c=d/x", "t2/\xc3\xa9t\xc3\xa9/y", "t2/<&>'\"/z"};
    size_t nk = sizeof keys / sizeof *keys;
    for (size_t i = 0; i < nk; i++) put_ok(s, keys[i], keys[i], strlen(keys[i]));
    coll c = {0};
    tws_objstore_err err = {{0}};
    int rc = tws_obj_list(s, "", collect, &c, &err); /* four pages of two */
    if (rc) fail_msg("list: %s", err.msg);
    assert_int_equal(c.n, (int)nk);
    for (size_t i = 0; i < nk; i++) {
        if (!has(&c, keys[i], strlen(keys[i]))) fail_msg("key \"%s\" missing from the listing", keys[i]);
        get_eq(s, keys[i], keys[i], strlen(keys[i]));
    }
    memset(&c, 0, sizeof c);
    assert_int_equal(tws_obj_list(s, "t1/", collect, &c, &err), TW_OK);
    assert_int_equal(c.n, 4);
    memset(&c, 0, sizeof c);
    assert_int_equal(tws_obj_list(s, "t2/b a+b&c=d/", collect, &c, &err), TW_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.keys[0], "t2/b a+b&c=d/x");
    memset(&c, 0, sizeof c);
    assert_int_equal(tws_obj_list(s, "t3/", collect, &c, &err), TW_OK);
    assert_int_equal(c.n, 0);
    memset(&c, 0, sizeof c);
    c.stop_at = 3;
    assert_int_equal(tws_obj_list(s, "", collect, &c, &err), TW_EFULL);
    assert_int_equal(c.n, 3);

    /* Another prefix in the same bucket sees none of it. */
    tws_objstore *o = open_ok("other/");
    put_ok(o, "t1/b1/data", "x", 1);
    memset(&c, 0, sizeof c);
    assert_int_equal(tws_obj_list(o, "", collect, &c, &err), TW_OK);
    assert_int_equal(c.n, 1);
    get_eq(s, "t1/b1/data", "t1/b1/data", 10);
    tws_obj_close(o);
    tws_obj_close(s);
}

typedef struct th_arg {
    tws_objstore *s;
    int id, failures;
} th_arg;

static void *th_main(void *p) {
    th_arg *a = p;
    uint8_t d[20000], *g;
    size_t gl;
    tws_objstore_err err;
    for (int k = 0; k < 15; k++) {
        char key[64];
        snprintf(key, sizeof key, "th%d/k%d/data", a->id, k);
        fill(d, sizeof d, (uint64_t)(a->id * 100 + k));
        if (tws_obj_put(a->s, key, d, sizeof d, &err)) a->failures++;
        if (tws_obj_get(a->s, key, &g, &gl, &err)) {
            a->failures++;
            continue;
        }
        if (gl != sizeof d || memcmp(g, d, gl)) a->failures++;
        free(g);
        if (k % 2 && tws_obj_del(a->s, key, &err)) a->failures++;
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    tws_objstore *s = open_ok("th/");
    pthread_t t[4];
    th_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (th_arg){s, i, 0};
        pthread_create(&t[i], NULL, th_main, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].failures, 0);
    }
    coll c = {0};
    tws_objstore_err err = {{0}};
    assert_int_equal(tws_obj_list(s, "", collect, &c, &err), TW_OK);
    assert_int_equal(c.n, 4 * 8); /* the even ones of each thread remain */
    tws_obj_close(s);
}

static int count_fn(void *user, const char *key, uint64_t size) {
    coll *c = user;
    return collect(c, key, size);
}

static void test_parse_list(void **state) {
    (void)state;
    const char *ok = "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                     "<IsTruncated>true</IsTruncated><Contents><Key>a&amp;b&lt;&gt;&quot;&apos;&#233;&#x41;</Key>"
                     "<Size>12</Size></Contents><Contents><Key>c</Key><Size>0</Size></Contents>"
                     "<NextContinuationToken>tok/+=</NextContinuationToken></ListBucketResult>";
    coll c = {0};
    bool more;
    char tok[64];
    tws_objstore_err err = {{0}};
    assert_int_equal(tws_s3_parse_list(ok, strlen(ok), count_fn, &c, &more, tok, sizeof tok, &err), TW_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.keys[0], "a&b<>\"'\xc3\xa9" "A");
    assert_int_equal(c.sizes[0], 12);
    assert_true(more);
    assert_string_equal(tok, "tok/+=");

    const struct {
        const char *xml, *want;
    } bad[] = {
        {"<Error><Code>AccessDenied</Code></Error>", "not a ListBucketResult"},
        {"<ListBucketResult><Contents><Key>a</Key><Size>1</Size>", "not closed"},
        {"<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>", "<Size>"},
        {"<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents></ListBucketResult>", "<Key>"},
        {"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>", "not a number"},
        {"<ListBucketResult><Contents><Key>a</Key><Size>1x</Size></Contents></ListBucketResult>", "not a number"},
        {"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", "NextContinuationToken"},
        {"<ListBucketResult><Contents><Key>a</Key><Size>18446744073709551616</Size></Contents></ListBucketResult>",
         "not a number"},
        {"<ListBucketResult><Contents><Key>a&#0;b</Key><Size>1</Size></Contents></ListBucketResult>", "<Key>"},
        {"<ListBucketResult><Contents><Key>a&#xD800;</Key><Size>1</Size></Contents></ListBucketResult>", "<Key>"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&c, 0, sizeof c);
        memset(&err, 0, sizeof err);
        assert_int_equal(tws_s3_parse_list(bad[i].xml, strlen(bad[i].xml), count_fn, &c, &more, tok, sizeof tok, &err),
                         TW_EINVAL);
        if (!strstr(err.msg, bad[i].want)) fail_msg("case %zu: \"%s\" does not say %s", i, err.msg, bad[i].want);
    }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_list), cmocka_unit_test(test_open_errors), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_list),       cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, start_s3rver, stop_s3rver);
}
