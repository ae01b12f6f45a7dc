/*
 * local.c — the object store in a local directory: key "a/b/c" is the file
 * <root>/a/b/c. Directories are made on put (0755) and removed by del when
 * they become empty; objects are files (0644, less the umask).
 *
 * Invariants:
 *  - An object's file appears only by rename(2) of a complete, fsynced
 *    temporary file in the same directory, and put returns TW_OK only after
 *    that directory, and the parent of every directory the put created, are
 *    fsynced: readers and crashes see the whole old object or the whole new.
 *  - Temporary files are named ".tmp.<pid>.<instance>.<counter>". No valid
 *    key has a segment starting with ".tmp." (tws_objstore_key_valid
 *    reserves it), so no object is ever taken for one: list skips them and
 *    open removes those no live put can own (see tmp_in_flight).
 *  - del unlinks, fsyncs the parent, then removes directories that became
 *    empty, up to but not including the root. A put racing with that removal
 *    sees ENOENT when it creates in the vanished directory and starts again,
 *    so a concurrent del never makes a put fail.
 *  - map is mmap(2) of the file: since files are only ever replaced by
 *    rename and removed by unlink, a view keeps reading the object as it
 *    was when mapped.
 *  - Thread-safe without locks: every operation uses its own descriptors,
 *    relative to the root's descriptor (opened once, never read from or
 *    moved); the only shared mutable state is the atomic temp-name counter
 *    (and the process's instance token, written once).
 *
 * Limits of the mapping onto a file system: "a" and "a/b" cannot both be
 * objects (the second put is TW_EIO: a file is in the way of a directory,
 * or a directory in the way of the file), and a segment longer than the
 * file system's NAME_MAX (255) cannot be put (TW_EIO) and is never found.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "objstore/objstore.h"

#define KEY_MAX 1024
#define TMP_PREFIX ".tmp."
#define TMP_PREFIX_LEN 5
/* How often one put starts again because concurrent deletes removed the
 * directory it was creating in. Each restart means a del made progress, so
 * the bound is only a guard: 32 was reached under ThreadSanitizer's
 * slowdown with four threads deleting the same directories non-stop. */
#define PUT_ATTEMPTS 10000
#define RETRY 1 /* internal: a directory vanished under us; start again */
/* Directories deeper than this are not searched when sweeping temporary
 * files (a valid key has at most 512 segments). */
#define SWEEP_DEPTH 600
#define SHOWN_KEY "%.160s" /* keys in messages are cut so the reason fits */

typedef struct local_store {
    tws_objstore base;
    int rootfd;
} local_store;

static _Atomic uint64_t tmp_counter;
/* Drawn once per process: tells this process's temporary files from those
 * of an earlier process that had the same pid (a restarted container). */
static uint64_t instance;
static pthread_once_t instance_once = PTHREAD_ONCE_INIT;

static void instance_init(void) {
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 40);
    }
    instance = v;
}

/* ---- errors -------------------------------------------------------------- */

static int fail(tws_objstore_err *err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(tws_objstore_err *err, int rc, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* TW_EIO: "<op> <key>: <what>: <reason>". */
static int sys_fail(tws_objstore_err *err, const char *op, const char *key, const char *what, int e) {
    return fail(err, TW_EIO, "%s " SHOWN_KEY ": %s: %s", op, key, what, strerror(e));
}

static int not_found(tws_objstore_err *err, const char *op, const char *key) {
    return fail(err, TW_ENOTFOUND, "%s " SHOWN_KEY ": no such object", op, key);
}

/* TW_EINVAL naming the key, its control bytes shown as '?'. */
static int invalid(tws_objstore_err *err, const char *op, const char *key) {
    char shown[64];
    size_t i = 0;
    for (; key && key[i] && i < sizeof shown - 1; i++) {
        unsigned char c = (unsigned char)key[i];
        shown[i] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
    }
    shown[i] = '\0';
    return fail(err, TW_EINVAL, "%s: invalid key \"%s%s\"", op, shown, key && key[i] ? "..." : "");
}

/* ---- keys ---------------------------------------------------------------- */

/* One segment: not empty, not "." or "..", not a temporary file's name.
 * (Bytes are checked by the caller.) */
static bool segment_ok(const char *s, size_t n) {
    if (n == 0) return false;
    if (s[0] == '.' && (n == 1 || (n == 2 && s[1] == '.'))) return false;
    return !(n >= TMP_PREFIX_LEN && memcmp(s, TMP_PREFIX, TMP_PREFIX_LEN) == 0);
}

static bool bytes_ok(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

static bool key_valid_n(const char *k, size_t n) {
    if (n == 0 || n > KEY_MAX || !bytes_ok(k, n)) return false;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] != '/') continue;
        if (!segment_ok(k + start, i - start)) return false;
        start = i + 1;
    }
    return segment_ok(k + start, n - start);
}

/* The header's rules, and one more: no segment starts with ".tmp.", the
 * local store's temporary files (a key like that would be invisible to list
 * and removed by the next open). */
bool tws_objstore_key_valid(const char *key) { return key && key_valid_n(key, strnlen(key, KEY_MAX + 1)); }

/* A list prefix: "", or a key, or a key followed by one '/'. Its last
 * segment is matched as a string prefix of names but obeys the same rules
 * (so "a/." and "a/.." are refused although "a/.x" is a valid key). */
static bool prefix_valid(const char *p) {
    if (!p) return false;
    size_t n = strnlen(p, KEY_MAX + 2);
    if (n == 0) return true;
    if (p[n - 1] == '/') n--;
    return key_valid_n(p, n);
}

/* A directory entry's name as one segment of a key. */
static bool name_ok(const char *name, size_t n) { return segment_ok(name, n) && bytes_ok(name, n); }

/* ---- small helpers ------------------------------------------------------- */

/* Write all of p[0..n): short writes continue, EINTR retries. -1 with errno. */
static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (k == 0) {
            errno = EIO;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Read exactly n bytes at off. 1 when the file ends first, -1 with errno. */
static int pread_all(int fd, uint8_t *p, size_t n, uint64_t off) {
    while (n) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (k == 0) return 1;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static int sync_fd(int fd) {
    while (fsync(fd) != 0)
        if (errno != EINTR) return -1;
    return 0;
}

static void close_keep_errno(int fd) {
    int e = errno;
    close(fd);
    errno = e;
}

static void close_dir(local_store *s, int fd) {
    if (fd >= 0 && fd != s->rootfd) close_keep_errno(fd);
}

/* True when temporary file `name` may belong to a put in flight: one of this
 * process (same pid and instance) or of another live process. Others are
 * crash leftovers, and so are names that do not parse. (A dead process's
 * pid reused by a live one keeps its leftovers until a later open.) */
static bool tmp_in_flight(const char *name) {
    long pid;
    unsigned long long inst, ctr;
    int end = 0;
    const char *p = name + TMP_PREFIX_LEN;
    if (*p < '1' || *p > '9') return false;
    if (sscanf(p, "%ld.%16llx.%llu%n", &pid, &inst, &ctr, &end) != 3 || p[end] != '\0') return false;
    if (pid <= 0 || pid > INT_MAX) return false;
    if (pid == (long)getpid()) return inst == instance;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* ---- put ----------------------------------------------------------------- */

/*
 * Open directory `dir` below the root (a key's directory part, modified and
 * restored here), making it and its missing parents. 0 with *out; RETRY when
 * a concurrent del removed a directory on the way; -1 with errno and *what.
 *
 * The walk fsyncs the parent of every directory it passes, made by it or
 * found made: another put may have just made that directory and not yet
 * synced its parent, and this put must not return before the entry is
 * durable. Puts into existing directories take the first openat and no walk.
 */
static int open_dir_make(local_store *s, char *dir, int *out, const char **what) {
    int fd = openat(s->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        *out = fd;
        return 0;
    }
    if (errno != ENOENT) {
        *what = "open directory";
        return -1;
    }
    int cur = s->rootfd;
    char *seg = dir;
    for (;;) {
        char *slash = strchr(seg, '/');
        if (slash) *slash = '\0';
        int next = -1, rc = 0, e = 0;
        if (mkdirat(cur, seg, 0755) != 0 && errno != EEXIST) {
            e = errno; /* ENOENT: `cur` was removed since we opened it */
            rc = e == ENOENT ? RETRY : -1;
            *what = "make directory";
        } else if ((next = openat(cur, seg, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            e = errno; /* ENOENT: removed again right after mkdir; ENOTDIR: a file is in the way */
            rc = e == ENOENT ? RETRY : -1;
            *what = "open directory";
        } else if (sync_fd(cur) != 0) {
            e = errno;
            rc = -1;
            *what = "sync directory";
        }
        if (slash) *slash = '/';
        close_dir(s, cur);
        if (rc) {
            if (next >= 0) close(next);
            errno = e;
            return rc;
        }
        cur = next;
        if (!slash) break;
        seg = slash + 1;
    }
    *out = cur;
    return 0;
}

static int put_once(local_store *s, const char *key, const uint8_t *data, size_t len, tws_objstore_err *err) {
    const char *slash = strrchr(key, '/');
    const char *name = slash ? slash + 1 : key;
    const char *what = NULL;
    int dfd = s->rootfd, e;
    if (slash) {
        char dir[KEY_MAX + 1];
        size_t dn = (size_t)(slash - key);
        memcpy(dir, key, dn);
        dir[dn] = '\0';
        int rc = open_dir_make(s, dir, &dfd, &what);
        if (rc == RETRY) return RETRY;
        if (rc) return sys_fail(err, "put", key, what, errno);
    }

    char tmp[80];
    int fd = -1;
    for (int i = 0; i < 8 && fd < 0; i++) { /* EEXIST: a leftover that has our name */
        unsigned long long n = atomic_fetch_add_explicit(&tmp_counter, 1, memory_order_relaxed);
        snprintf(tmp, sizeof tmp, TMP_PREFIX "%ld.%016llx.%llu", (long)getpid(), (unsigned long long)instance, n);
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        e = errno;
        close_dir(s, dfd);
        if (e == ENOENT && slash) return RETRY; /* the directory was removed after we opened it */
        return sys_fail(err, "put", key, "create temporary file", e);
    }

    if (write_all(fd, data, len) != 0) what = "write";
    else if (sync_fd(fd) != 0) what = "sync";
    e = errno;
    if (close(fd) != 0 && !what) {
        what = "close";
        e = errno;
    }
    if (!what && renameat(dfd, tmp, dfd, name) != 0) {
        what = "rename"; /* EISDIR: a directory of other keys has this name */
        e = errno;
    }
    if (what) {
        unlinkat(dfd, tmp, 0);
        close_dir(s, dfd);
        return sys_fail(err, "put", key, what, e);
    }
    /* The object is in place; if this fails its durability is unknown and
     * TW_EIO says so (a reader may already see it). */
    int rc = TW_OK;
    if (sync_fd(dfd) != 0) rc = sys_fail(err, "put", key, "sync directory", errno);
    close_dir(s, dfd);
    return rc;
}

static int local_put(tws_objstore *base, const char *key, const void *data, size_t len, tws_objstore_err *err) {
    local_store *s = (local_store *)base;
    if (!tws_objstore_key_valid(key)) return invalid(err, "put", key);
    if (!data && len) return fail(err, TW_EINVAL, "put " SHOWN_KEY ": no data", key);
    for (int i = 0; i < PUT_ATTEMPTS; i++) {
        int rc = put_once(s, key, data, len, err);
        if (rc != RETRY) return rc;
    }
    return fail(err, TW_EIO, "put " SHOWN_KEY ": its directory was removed by concurrent deletes %d times", key,
                PUT_ATTEMPTS);
}

/* ---- get ----------------------------------------------------------------- */

/* Open object `key` for reading. A missing file, a file in the way of a
 * directory, a directory (of other keys) and a name too long for the file
 * system (which no put can have made) are all "no such object".
 * O_NONBLOCK only keeps a stray FIFO from blocking the open. */
static int open_obj(local_store *s, const char *op, const char *key, int *fd_out, struct stat *st,
                    tws_objstore_err *err) {
    int fd = openat(s->rootfd, key, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG) return not_found(err, op, key);
        return sys_fail(err, op, key, "open", e);
    }
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return sys_fail(err, op, key, "stat", e);
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return not_found(err, op, key);
    }
    *fd_out = fd;
    return TW_OK;
}

/*
 * On TW_OK *data is never NULL, even for an empty object (then it is a
 * one-byte allocation and *len is 0): callers free it unconditionally and
 * never take an empty object for a failure. On failure *data is NULL and
 * *len 0.
 */
static int local_get(tws_objstore *base, const char *key, uint8_t **data, size_t *len, tws_objstore_err *err) {
    local_store *s = (local_store *)base;
    if (!data || !len) return fail(err, TW_EINVAL, "get: no output");
    *data = NULL;
    *len = 0;
    if (!tws_objstore_key_valid(key)) return invalid(err, "get", key);
    int fd;
    struct stat st;
    int rc = open_obj(s, "get", key, &fd, &st, err);
    if (rc) return rc;
    if ((uint64_t)st.st_size >= SIZE_MAX) {
        close(fd);
        return fail(err, TW_ENOMEM, "get " SHOWN_KEY ": %llu bytes do not fit in memory", key,
                    (unsigned long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = tw__malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return fail(err, TW_ENOMEM, "get " SHOWN_KEY ": out of memory for %zu bytes", key, n);
    }
    /* Objects are replaced by rename, never rewritten: the open file keeps
     * the size fstat saw. Shorter means someone else truncated it. */
    int r = pread_all(fd, buf, n, 0);
    int e = errno;
    close(fd);
    if (r) {
        tw__free(buf);
        return r < 0 ? sys_fail(err, "get", key, "read", e)
                     : fail(err, TW_EIO, "get " SHOWN_KEY ": the file shrank while being read", key);
    }
    *data = buf;
    *len = n;
    return TW_OK;
}

static int local_get_range(tws_objstore *base, const char *key, uint64_t off, size_t len, void *out,
                           tws_objstore_err *err) {
    local_store *s = (local_store *)base;
    if (!tws_objstore_key_valid(key)) return invalid(err, "get_range", key);
    if (!out && len) return fail(err, TW_EINVAL, "get_range " SHOWN_KEY ": no output", key);
    int fd;
    struct stat st;
    int rc = open_obj(s, "get_range", key, &fd, &st, err);
    if (rc) return rc;
    uint64_t size = (uint64_t)st.st_size;
    if (off > size || len > size - off) {
        close(fd);
        return fail(err, TW_ENOTFOUND, "get_range " SHOWN_KEY ": bytes %llu+%zu are past the end (%llu bytes)", key,
                    (unsigned long long)off, len, (unsigned long long)size);
    }
    int r = pread_all(fd, out, len, off);
    int e = errno;
    close(fd);
    if (r < 0) return sys_fail(err, "get_range", key, "read", e);
    if (r > 0) return fail(err, TW_ENOTFOUND, "get_range " SHOWN_KEY ": the object ended early", key);
    return TW_OK;
}

/* A shared read-only mapping: a put replaces the file (rename), a delete
 * unlinks it, and neither changes the pages a view already has. */
static int local_map(tws_objstore *base, const char *key, const uint8_t **data, size_t *len, tws_objstore_err *err) {
    local_store *s = (local_store *)base;
    *data = NULL;
    *len = 0;
    if (!tws_objstore_key_valid(key)) return invalid(err, "map", key);
    int fd;
    struct stat st;
    int rc = open_obj(s, "map", key, &fd, &st, err);
    if (rc) return rc;
    if (st.st_size == 0) {
        close(fd);
        return TW_OK;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return fail(err, TW_ENOTSUP, "map " SHOWN_KEY ": too large to map", key);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return sys_fail(err, "map", key, "mmap", e);
    *data = p;
    *len = (size_t)st.st_size;
    return TW_OK;
}

static void local_unmap(tws_objstore *base, const uint8_t *data, size_t len) {
    (void)base;
    munmap((void *)(uintptr_t)data, len);
}

/* ---- list ---------------------------------------------------------------- */

typedef struct lister {
    tws_objstore_list_fn fn;
    void *user;
    const char *prefix;
    tws_objstore_err *err;
    char key[KEY_MAX + 1]; /* the key being built; the callback must copy it */
} lister;

static int list_fail(lister *L, size_t klen, const char *what, int e) {
    return fail(L->err, TW_EIO, "list \"" SHOWN_KEY "\": %s in \"%.*s\": %s", L->prefix, what,
                (int)TW_MIN(klen, (size_t)60), L->key, strerror(e));
}

/*
 * Report the objects below directory `fd` (owned, closed here), whose keys
 * begin with L->key[0..klen). Only entries whose names begin with `want`
 * are considered (the prefix's last, partial segment; "" below the first
 * level). Entries that cannot make a valid key (temporary files, control
 * bytes, too long) are skipped, and so are symbolic links (never followed:
 * a loop would list forever) and special files.
 * Entries removed while we read are skipped too.
 */
static int list_dir(lister *L, int fd, size_t klen, const char *want, size_t wlen) {
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return list_fail(L, klen, "opendir", e);
    }
    int rc = TW_OK;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) rc = list_fail(L, klen, "readdir", errno);
            break;
        }
        const char *name = de->d_name;
        size_t nlen = strlen(name);
        if (nlen < wlen || memcmp(name, want, wlen) != 0) continue;
        if (klen + nlen > KEY_MAX || !name_ok(name, nlen)) continue;
        unsigned char type = de->d_type;
        struct stat st;
        if (type == DT_UNKNOWN || type == DT_REG) {
            if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) continue;
                rc = list_fail(L, klen, "stat", errno);
                break;
            }
            type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_UNKNOWN;
        }
        memcpy(L->key + klen, name, nlen);
        if (type == DT_REG) {
            L->key[klen + nlen] = '\0';
            if ((rc = L->fn(L->user, L->key, (uint64_t)st.st_size)) != 0) break;
        } else if (type == DT_DIR && klen + nlen + 2 <= KEY_MAX) { /* room for "/x" */
            int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                if (errno == ENOENT || errno == ENOTDIR) continue;
                rc = list_fail(L, klen, "open directory", errno);
                break;
            }
            L->key[klen + nlen] = '/';
            if ((rc = list_dir(L, sub, klen + nlen + 1, "", 0)) != 0) break;
        }
    }
    closedir(d);
    return rc;
}

/* Only the directory named by the prefix's complete segments is opened, and
 * below it only entries that extend the partial last segment are entered.
 * A callback's stop code is returned as it is and leaves err alone. */
static int local_list(tws_objstore *base, const char *prefix, tws_objstore_list_fn fn, void *user,
                      tws_objstore_err *err) {
    local_store *s = (local_store *)base;
    if (!prefix_valid(prefix)) return invalid(err, "list", prefix);
    if (!fn) return fail(err, TW_EINVAL, "list: no callback");
    lister L = {.fn = fn, .user = user, .prefix = prefix, .err = err};
    const char *slash = strrchr(prefix, '/');
    size_t klen = 0;
    int fd;
    if (slash) {
        size_t dn = (size_t)(slash - prefix);
        memcpy(L.key, prefix, dn);
        L.key[dn] = '\0';
        fd = openat(s->rootfd, L.key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        L.key[dn] = '/';
        klen = dn + 1;
    } else {
        fd = openat(s->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* its own position for readdir */
    }
    if (fd < 0) { /* ELOOP: a symbolic link, which is not followed */
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == ENAMETOOLONG) return TW_OK;
        return list_fail(&L, klen ? klen - 1 : 0, "open directory", errno);
    }
    return list_dir(&L, fd, klen, prefix + klen, strlen(prefix + klen));
}

/* ---- del ----------------------------------------------------------------- */

/*
 * Unlink through the parent's descriptor and fsync it, so the delete is
 * durable even if a concurrent del removes the parent meanwhile. Then remove
 * the directories that became empty, bottom up, stopping at the first that
 * is not (ENOTEMPTY: another object or a put in flight; ENOENT: another del
 * got there first and goes on upwards). Those removals are not synced: an
 * empty directory that a crash brings back holds no key and is harmless.
 */
static int local_del(tws_objstore *base, const char *key, tws_objstore_err *err) {
    local_store *s = (local_store *)base;
    if (!tws_objstore_key_valid(key)) return invalid(err, "del", key);
    char path[KEY_MAX + 1];
    size_t n = strlen(key);
    memcpy(path, key, n + 1);
    char *slash = strrchr(path, '/');
    int dfd = s->rootfd;
    if (slash) {
        *slash = '\0';
        dfd = openat(s->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        *slash = '/';
        if (dfd < 0) {
            if (errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG) return TW_OK;
            return sys_fail(err, "del", key, "open directory", errno);
        }
    }
    const char *name = slash ? slash + 1 : path;
    if (unlinkat(dfd, name, 0) != 0) {
        int e = errno;
        close_dir(s, dfd);
        /* EISDIR: a directory of other keys, no object */
        if (e == ENOENT || e == EISDIR || e == ENAMETOOLONG) return TW_OK;
        return sys_fail(err, "del", key, "unlink", e);
    }
    if (sync_fd(dfd) != 0) {
        int e = errno;
        close_dir(s, dfd);
        return sys_fail(err, "del", key, "sync directory", e);
    }
    close_dir(s, dfd);
    while ((slash = strrchr(path, '/')) != NULL) {
        *slash = '\0';
        if (unlinkat(s->rootfd, path, AT_REMOVEDIR) != 0) break;
    }
    return TW_OK;
}

/* ---- open, close --------------------------------------------------------- */

static void local_close(tws_objstore *base) {
    local_store *s = (local_store *)base;
    close(s->rootfd);
    tw__free(s);
}

static const tws_objstore_ops local_ops = {
    .put = local_put,
    .get = local_get,
    .get_range = local_get_range,
    .list = local_list,
    .del = local_del,
    .close = local_close,
    .map = local_map,
    .unmap = local_unmap,
};

/* fsync the directory holding `path` (which it modifies and restores). */
static int sync_parent(char *path) {
    char *slash = strrchr(path, '/');
    const char *dir = ".";
    if (slash == path) dir = "/";
    if (slash && slash != path) {
        *slash = '\0';
        dir = path;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (slash && slash != path) *slash = '/';
    if (fd < 0) return -1;
    int r = sync_fd(fd);
    close_keep_errno(fd);
    return r;
}

/* mkdir -p, syncing the parent of every directory made. -1 with errno and
 * `p` cut after the component that failed. */
static int mkdir_p(char *p) {
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0') continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(p, 0755) == 0) {
            if (sync_parent(p) != 0) return -1;
        } else if (errno != EEXIST) {
            return -1;
        }
        *c = saved;
        if (!saved) return 0;
    }
}

/* Remove crash leftovers: temporary files no live put owns (tmp_in_flight),
 * in directory `fd` (owned) and below. Directories named like temporary
 * files are not ours and are left alone. */
static int sweep(int fd, int depth, const char *root, tws_objstore_err *err) {
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return fail(err, TW_EIO, "objstore %.200s: removing temporary files: %s", root, strerror(e));
    }
    int rc = TW_OK, e = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            e = errno;
            break;
        }
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
        unsigned char type = de->d_type;
        if (type == DT_UNKNOWN) {
            struct stat st;
            if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) continue;
                e = errno;
                break;
            }
            type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_UNKNOWN;
        }
        if (!strncmp(name, TMP_PREFIX, TMP_PREFIX_LEN)) {
            if (type == DT_REG && !tmp_in_flight(name) && unlinkat(dirfd(d), name, 0) != 0 && errno != ENOENT) {
                e = errno;
                break;
            }
        } else if (type == DT_DIR && depth < SWEEP_DEPTH) {
            int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                if (errno == ENOENT || errno == ENOTDIR) continue;
                e = errno;
                break;
            }
            if ((rc = sweep(sub, depth + 1, root, err)) != TW_OK) break;
        }
    }
    closedir(d);
    if (rc == TW_OK && e) rc = fail(err, TW_EIO, "objstore %.200s: removing temporary files: %s", root, strerror(e));
    return rc;
}

/* Opening walks the whole tree once to sweep temporary files (readdir, with
 * a stat only where the file system gives no d_type). */
int tws_objstore_local_open(const char *root, tws_objstore **out, tws_objstore_err *err) {
    if (!out) return fail(err, TW_EINVAL, "objstore: no output");
    *out = NULL;
    if (!root || !*root) return fail(err, TW_EINVAL, "objstore: no root directory");
    pthread_once(&instance_once, instance_init);

    char *p = tw__strndup(root, strlen(root));
    if (!p) return fail(err, TW_ENOMEM, "objstore: out of memory");
    if (mkdir_p(p) != 0) {
        int e = errno;
        int rc = fail(err, TW_EIO, "objstore: making directory %.200s: %s", p, strerror(e));
        tw__free(p);
        return rc;
    }
    tw__free(p);
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail(err, TW_EIO, "objstore %.200s: %s", root, strerror(errno));

    int sfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = sfd < 0 ? fail(err, TW_EIO, "objstore %.200s: %s", root, strerror(errno)) : sweep(sfd, 0, root, err);
    local_store *s = rc ? NULL : tw__calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return rc ? rc : fail(err, TW_ENOMEM, "objstore: out of memory");
    }
    s->base.ops = &local_ops;
    s->base.kind = "local";
    s->rootfd = fd;
    *out = &s->base;
    return TW_OK;
}
