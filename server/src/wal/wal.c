/*
 * wal.c — segment files, replay, and group commit.
 *
 * Threads: appenders copy records into `queue` (one of two batch buffers)
 * under `mu`; the flusher thread swaps the buffers, writes the whole batch
 * with one write() (more only when a segment rotates inside it), runs one
 * fdatasync(), and then calls every record's completion. While it writes,
 * appenders fill the other buffer, so the next batch is as large as the
 * disk is slow: that is the group commit. The flusher alone touches the
 * current segment's file descriptor; `seg_mu` guards the list of segment
 * files, which the flusher extends and tws_wal_release_before shortens.
 *
 * The format is described in wal.h.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "wal/wal.h"

#define SEG_HDR 16u
#define REC_HDR 12u
#define DEFAULT_BYTES (64u << 20)
#define READ_CHUNK (1u << 20)
#define SEG_NAME_LEN 20 /* 16 hex digits + ".wal" (a free file: ".free", one more) */
#define NAME_CAP (SEG_NAME_LEN + 2)
#define VERSION 2u      /* written; version 1 segments are still read */
#define FLAG_REUSED 1u  /* header byte 6: the file held an older segment before */
#define DEFAULT_FREE 4
#define SPARE_UNUSABLE 1 /* not a TW_* code: the free file could not be used */
/* LSNs from names at or above this are refused as not ours, so that
 * first + file size never overflows (2^62 bytes will not be written). */
#define LSN_LIMIT ((uint64_t)1 << 62)

/* Bytes 0..5 of every header; byte 6 is flags (0 in version 1), byte 7 the version. */
static const uint8_t seg_magic[6] = {'T', 'W', 'W', 'A', 'L', 0};

typedef struct entry {
    uint64_t lsn;
    size_t size; /* record bytes, header included */
    tws_wal_done_fn done;
    void *user;
} entry;

/* One batch: the bytes of consecutive records and who to tell. */
typedef struct batch {
    uint8_t *data;
    size_t len, cap;
    entry *ent;
    size_t n, ent_cap;
} batch;

struct tws_wal {
    int dirfd; /* holds the flock */
    char *dir;
    uint64_t segment_bytes, max_pending, min_lsn;
    bool no_sync;

    pthread_mutex_t mu; /* guards the fields down to `full_refusals` */
    pthread_cond_t work; /* the flusher waits here for records or close */
    batch bufs[2];
    batch *queue; /* the batch appenders fill; the other is being written */
    uint64_t next_lsn, pending_bytes;
    bool closing, failed;
    uint64_t appends, bytes, syncs, full_refusals;

    pthread_mutex_t seg_mu; /* guards segs, the free files, and `reused` */
    uint64_t *segs;         /* first LSN of every segment file, ascending */
    size_t nsegs, segs_cap;
    uint64_t *free;         /* names (old first LSNs) of the released files kept for reuse */
    size_t nfree, free_max;
    uint64_t reused;        /* segments started in a free file */

    /* The flusher's alone once it runs. */
    int fd; /* the newest segment, positioned at its end */
    uint64_t seg_first, seg_size;
    pthread_t flusher;
};

/* ---- small helpers ------------------------------------------------------- */

static void store_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void store_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t load_le64(const uint8_t *p) { return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32; }

static void seg_name(uint64_t first, char out[NAME_CAP]) {
    snprintf(out, NAME_CAP, "%016llx.wal", (unsigned long long)first);
}
static void free_name(uint64_t first, char out[NAME_CAP]) {
    snprintf(out, NAME_CAP, "%016llx.free", (unsigned long long)first);
}

/* Exactly 16 lowercase hex digits and `ext`: one name per LSN. */
static bool parse_name(const char *name, const char *ext, uint64_t *first) {
    if (strlen(name) != 16 + strlen(ext) || strcmp(name + 16, ext) != 0) return false;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (d < 0) return false;
        v = v << 4 | (uint64_t)d;
    }
    *first = v;
    return v < LSN_LIMIT;
}

static bool parse_seg_name(const char *name, uint64_t *first) { return parse_name(name, ".wal", first); }

static void seg_header(uint64_t first, unsigned version, unsigned flags, uint8_t out[SEG_HDR]) {
    memcpy(out, seg_magic, 6);
    out[6] = (uint8_t)flags;
    out[7] = (uint8_t)version;
    store_le64(out + 8, first);
}

/* A record's checksum: CRC-32C of its bytes from the type on (`crc`, as
 * computed over them), then, from version 2 on, of its LSN: a record is
 * valid only where it was written, so the old records of a reused file
 * never pass for new ones. */
static uint32_t crc_at(uint32_t crc, unsigned version, uint64_t lsn) {
    if (version < 2) return crc;
    uint8_t b[8];
    store_le64(b, lsn);
    return tw__crc32c(crc, b, 8);
}

/* Write all of p[0..n): short writes continue, EINTR retries. */
static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return TW_EIO;
        }
        if (k == 0) return TW_EIO;
        p += k;
        n -= (size_t)k;
    }
    return TW_OK;
}

static int sync_data(int fd) {
    while (fdatasync(fd) != 0)
        if (errno != EINTR) return TW_EIO;
    return TW_OK;
}

static int sync_dir(tws_wal *w) {
    if (w->no_sync) return TW_OK;
    while (fsync(w->dirfd) != 0)
        if (errno != EINTR) return TW_EIO;
    return TW_OK;
}

/* Room for one more first LSN in the segment list (called with seg_mu). */
static int segs_reserve(tws_wal *w) {
    if (w->nsegs < w->segs_cap) return TW_OK;
    size_t cap = w->segs_cap ? w->segs_cap * 2 : 16;
    uint64_t *s = tw__realloc(w->segs, cap * sizeof *s);
    if (!s) return TW_ENOMEM;
    w->segs = s;
    w->segs_cap = cap;
    return TW_OK;
}

/* Create the segment file starting at `first`, header written, its directory
 * entry synced; the header's data is synced with the first batch. */
static int create_segment(tws_wal *w, uint64_t first, int *fd_out) {
    char name[NAME_CAP];
    uint8_t hdr[SEG_HDR];
    seg_name(first, name);
    seg_header(first, VERSION, 0, hdr);
    int fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return TW_EIO;
    int rc = write_all(fd, hdr, SEG_HDR);
    if (!rc) rc = sync_dir(w);
    if (rc) {
        int e = errno;
        close(fd);
        errno = e;
        return rc;
    }
    *fd_out = fd;
    return TW_OK;
}

/*
 * Start the segment at `first` in the free file `spare`: its new header is
 * written and synced before the file is renamed, so a segment name never
 * shows an old header, and the rename is synced before any record goes in.
 * Records then overwrite the old ones in place, and an fdatasync of a file
 * whose size and blocks do not change flushes data without a journal commit.
 * The old records after the new ones fail their CRC (it covers the LSN), so
 * replay ends there. A free file that cannot be opened or renamed is passed
 * over (the caller makes a new file); a failed write or sync fails the log.
 */
static int reuse_segment(tws_wal *w, uint64_t spare, uint64_t first, int *fd_out) {
    char from[NAME_CAP], to[NAME_CAP];
    uint8_t hdr[SEG_HDR];
    free_name(spare, from);
    seg_name(first, to);
    seg_header(first, VERSION, FLAG_REUSED, hdr);
    int fd = openat(w->dirfd, from, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return SPARE_UNUSABLE; /* left where it is; the next open lists it again */
    /* A failed write or sync fails the log, as it would in any segment. */
    int rc = pwrite(fd, hdr, SEG_HDR, 0) == (ssize_t)SEG_HDR ? TW_OK : TW_EIO;
    if (rc == TW_OK && !w->no_sync) rc = sync_data(fd);
    if (rc == TW_OK && renameat(w->dirfd, from, w->dirfd, to) != 0) {
        close(fd);
        unlinkat(w->dirfd, from, 0);
        return SPARE_UNUSABLE;
    }
    /* Once renamed it is a segment, even if the directory's sync fails:
     * the caller's error path treats it as one. */
    if (rc == TW_OK && (rc = sync_dir(w)) == TW_OK && lseek(fd, SEG_HDR, SEEK_SET) != (off_t)SEG_HDR) rc = TW_EIO;
    if (rc != TW_OK) {
        int e = errno;
        close(fd);
        errno = e;
        return rc;
    }
    *fd_out = fd;
    return TW_OK;
}

/* ---- replay -------------------------------------------------------------- */

/* Read up to n bytes at off into p (short only at the end of the file); *got the count. */
static int pread_all(int fd, uint8_t *p, size_t n, uint64_t off, size_t *got) {
    *got = 0;
    while (*got < n) {
        ssize_t k = pread(fd, p + *got, n - *got, (off_t)(off + *got));
        if (k < 0) {
            if (errno == EINTR) continue;
            return TW_EIO;
        }
        if (k == 0) break;
        *got += (size_t)k;
    }
    return TW_OK;
}

typedef struct reader {
    int fd;
    uint64_t size;
    uint8_t *buf;
    size_t cap, len;
    uint64_t base; /* file offset of buf[0] */
} reader;

/* Point *p at bytes [off, off+n) of the file (off + n <= size, checked by
 * the caller). TW_EPARSE if the file turned out shorter. */
static int rd_get(reader *r, uint64_t off, size_t n, const uint8_t **p) {
    if (off >= r->base && off + n <= r->base + r->len) {
        *p = r->buf + (off - r->base);
        return TW_OK;
    }
    size_t want = n > READ_CHUNK ? n : READ_CHUNK;
    if (want > r->size - off) want = (size_t)(r->size - off);
    if (want > r->cap) {
        tw__free(r->buf);
        r->len = r->cap = 0;
        if (!(r->buf = tw__malloc(want))) return TW_ENOMEM;
        r->cap = want;
    }
    size_t got;
    r->len = 0;
    if (pread_all(r->fd, r->buf, want, off, &got) != TW_OK) return TW_EIO;
    r->base = off;
    r->len = got;
    if (got < n) return TW_EPARSE;
    *p = r->buf;
    return TW_OK;
}

typedef struct replay_ctx {
    tws_wal *w;
    tws_wal_replay *rp; /* may be NULL */
    char *msg;
    reader rd;
    uint64_t total, done, step, next_report, reported;
} replay_ctx;

static int failf(replay_ctx *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(replay_ctx *c, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, 256, fmt, ap);
    va_end(ap);
    return rc;
}

static void warnf(replay_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(replay_ctx *c, const char *fmt, ...) {
    if (!c->rp || !c->rp->warn) return;
    char m[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    c->rp->warn(c->rp->user, m);
}

static void progress(replay_ctx *c, uint64_t done) {
    c->done = done;
    if (!c->rp || !c->rp->progress || done < c->next_report) return;
    c->rp->progress(c->rp->user, done, c->total);
    c->reported = done;
    c->next_report = done + c->step;
}

/*
 * Replay one segment. `next_first` is the first LSN of the following segment
 * (UINT64_MAX for the newest, `last`). On return *end is where appends would
 * continue after it, and *bad tells that the newest segment's header is not
 * ours (so a new segment must start after it), *seg_version its format
 * version (an older one with records also needs a new segment after it).
 * The newest segment's fd is kept in *keep_fd, positioned at its (possibly
 * cut) end.
 */
static int replay_segment(replay_ctx *c, uint64_t first, bool last, uint64_t next_first, uint64_t *end,
                          bool *bad, unsigned *seg_version, int *keep_fd) {
    tws_wal *w = c->w;
    tws_wal_replay *rp = c->rp;
    char name[NAME_CAP];
    seg_name(first, name);
    uint64_t base_done = c->done;
    int rc = TW_OK;
    *bad = false;
    int fd = openat(w->dirfd, name, (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = failf(c, TW_EIO, "%s/%s: %s", w->dir, name, strerror(errno));
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size, off = SEG_HDR;
    const uint8_t *p = NULL;
    const char *why = NULL;
    c->rd.fd = fd;
    c->rd.size = size;
    c->rd.len = 0;
    *end = first + (size > SEG_HDR ? size - SEG_HDR : 0);

    /* The header. A newest segment shorter than a header that holds a prefix
     * of one we would write (or a version 1 build wrote) was cut by a crash
     * while being created; reused files get their header before their name. */
    uint8_t want[SEG_HDR], want1[SEG_HDR];
    seg_header(first, VERSION, 0, want);
    seg_header(first, 1, 0, want1);
    unsigned version = VERSION, flags = 0;
    size_t hn = (size_t)TW_MIN(size, (uint64_t)SEG_HDR);
    if (hn && (rc = rd_get(&c->rd, 0, hn, &p)) != TW_OK) goto io_error;
    if (size < SEG_HDR) {
        why = "segment header incomplete";
        *bad = !(last && (hn == 0 || memcmp(p, want, hn) == 0 || memcmp(p, want1, hn) == 0));
        if (!*bad) off = 0; /* cut to nothing, the header written again */
    } else if (memcmp(p, seg_magic, 6) != 0) {
        why = "not a WAL segment (bad magic)";
        *bad = true;
    } else if ((version = p[7]) < 1 || version > VERSION || (flags = p[6]) & ~(version < 2 ? 0u : FLAG_REUSED)) {
        rc = failf(c, TW_ENOTSUP, "%s/%s: WAL format version %u (flags %#x); this build reads versions 1 to %u",
                   w->dir, name, p[7], p[6], VERSION);
        goto out;
    } else if (load_le64(p + 8) != first) {
        why = "the header's first LSN does not match the file name";
        *bad = true;
    }
    *seg_version = version;

    /* The records: stop at the first one that is not whole and intact, and
     * where the next segment begins (a reused file goes on with old bytes). */
    while (!why && off < size && first + off - SEG_HDR < next_first) {
        uint64_t lsn = first + off - SEG_HDR;
        if (size - off < REC_HDR) {
            why = "incomplete record header";
            break;
        }
        if ((rc = rd_get(&c->rd, off, REC_HDR, &p)) != TW_OK) goto io_error;
        uint32_t len = load_le32(p);
        uint64_t rec = REC_HDR + (uint64_t)len;
        if (len > TWS_WAL_MAX_RECORD) {
            why = "record length out of range";
        } else if (rec > size - off) {
            why = "incomplete record";
        } else if (rec > next_first - lsn) {
            why = "record runs into the next segment's LSNs";
        } else if ((rc = rd_get(&c->rd, off, (size_t)rec, &p)) != TW_OK) {
            goto io_error;
        } else if (crc_at(tw__crc32c(0, p + 8, (size_t)rec - 8), version, lsn) != load_le32(p + 4)) {
            why = "CRC mismatch";
        } else if (p[8] == 0 || p[9] || p[10] || p[11]) {
            why = "malformed record header";
        }
        if (why) break;
        if (rp && rp->record && (rc = rp->record(rp->user, p[8], p + REC_HDR, len, lsn)) != TW_OK) {
            rc = failf(c, rc, "%s/%s: replay stopped at offset %llu (LSN %llu): %s", w->dir, name,
                       (unsigned long long)off, (unsigned long long)lsn, tw_strerror(rc));
            goto out;
        }
        if (rp) {
            rp->records++;
            rp->bytes += rec;
        }
        off += rec;
        progress(c, base_done + off);
    }

    bool reused = flags & FLAG_REUSED;
    bool rest = !why && off < size; /* stopped where the next segment begins */
    if (rest) *end = next_first;
    if (why && *bad) {
        if (rp) rp->corrupt_segments++;
        warnf(c, "%s/%s: %s; the segment (%llu bytes) is skipped", w->dir, name, why, (unsigned long long)size);
    } else if (why && last) {
        /* A torn tail: nothing after it was acknowledged (each batch is synced
         * before its completions), so it is cut and appends go on from here.
         * In a reused file the bytes after the log's end are mostly the
         * file's earlier records; they are cut as well. */
        if (ftruncate(fd, (off_t)off) != 0 || (!w->no_sync && sync_data(fd) != TW_OK)) {
            rc = failf(c, TW_EIO, "%s/%s: cutting the torn tail: %s", w->dir, name, strerror(errno));
            goto out;
        }
        if (off == 0 && ((rc = write_all(fd, want, SEG_HDR)) != TW_OK || (!w->no_sync && sync_data(fd) != TW_OK))) {
            rc = failf(c, TW_EIO, "%s/%s: rewriting the header: %s", w->dir, name, strerror(errno));
            goto out;
        }
        if (reused) {
            if (rp) rp->reused_bytes_cut += size - off;
            warnf(c, "%s/%s: the log ends at offset %llu of a reused file; the %llu bytes after it (its earlier "
                  "records, and any write a crash cut short) are cut", w->dir, name, (unsigned long long)off,
                  (unsigned long long)(size - off));
        } else {
            if (rp) rp->torn_bytes_cut += size - off;
            warnf(c, "%s/%s: torn tail cut at offset %llu (%llu bytes: %s)", w->dir, name, (unsigned long long)off,
                  (unsigned long long)(size - off), why);
        }
        if (off == 0) off = SEG_HDR;
        *end = first + off - SEG_HDR;
    } else if (why) {
        if (rp) rp->corrupt_segments++;
        warnf(c, "%s/%s: corrupt at offset %llu (LSN %llu): %s; the remaining %llu bytes are skipped", w->dir,
              name, (unsigned long long)off, (unsigned long long)(first + off - SEG_HDR), why,
              (unsigned long long)(size - off));
    } else if (rest && !reused) {
        if (rp) rp->corrupt_segments++;
        warnf(c, "%s/%s: %llu bytes after LSN %llu, where the next segment begins, are skipped", w->dir, name,
              (unsigned long long)(size - off), (unsigned long long)next_first);
    } else if (!last && *end != next_first) {
        /* Whole records, but fewer than the next segment's name promises:
         * the file lost its end. */
        if (rp) rp->corrupt_segments++;
        warnf(c, "%s/%s: ends at LSN %llu but the next segment starts at LSN %llu; records are missing", w->dir,
              name, (unsigned long long)*end, (unsigned long long)next_first);
    }
    if (last && !*bad && version < VERSION && off == SEG_HDR) {
        /* An empty segment of an older version becomes one of this version. */
        if (pwrite(fd, want, SEG_HDR, 0) != (ssize_t)SEG_HDR || (!w->no_sync && sync_data(fd) != TW_OK)) {
            rc = failf(c, TW_EIO, "%s/%s: rewriting the header: %s", w->dir, name, strerror(errno));
            goto out;
        }
        *seg_version = VERSION;
    }
    progress(c, base_done + size);
    if (last && !*bad) {
        if (lseek(fd, 0, SEEK_END) < 0) {
            rc = failf(c, TW_EIO, "%s/%s: %s", w->dir, name, strerror(errno));
            goto out;
        }
        w->seg_first = first;
        w->seg_size = off;
        *keep_fd = fd;
        fd = -1;
    }
    goto out;
io_error:
    if (rc == TW_EPARSE) rc = TW_EIO; /* shrank while we read it */
    rc = failf(c, rc, "%s/%s: reading: %s", w->dir, name, rc == TW_ENOMEM ? "out of memory" : strerror(errno));
out:
    if (fd >= 0) close(fd);
    return rc;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* List the segment files (sorted into w->segs) and their total size. */
static int list_segments(replay_ctx *c) {
    tws_wal *w = c->w;
    int dfd = dup(w->dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0) close(dfd);
        return failf(c, TW_EIO, "%s: %s", w->dir, strerror(errno));
    }
    int rc = TW_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) rc = failf(c, TW_EIO, "%s: %s", w->dir, strerror(errno));
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        uint64_t first;
        struct stat st;
        bool seg = parse_seg_name(e->d_name, &first);
        if (fstatat(w->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = failf(c, TW_EIO, "%s/%s: %s", w->dir, e->d_name, strerror(errno));
            break;
        }
        if (!seg && parse_name(e->d_name, ".free", &first) && S_ISREG(st.st_mode)) {
            /* A released segment kept for reuse; beyond the number kept, deleted. */
            if (w->nfree < w->free_max && (uint64_t)st.st_size >= w->segment_bytes) w->free[w->nfree++] = first;
            else if (unlinkat(w->dirfd, e->d_name, 0) != 0 && errno != ENOENT)
                warnf(c, "%s/%s: cannot delete an unused free file: %s", w->dir, e->d_name, strerror(errno));
            continue;
        }
        if (!seg || !S_ISREG(st.st_mode)) {
            bool named = seg || parse_name(e->d_name, ".free", &first);
            if (c->rp) c->rp->ignored_files++;
            warnf(c, "%s/%s: not a WAL segment (%s); ignored", w->dir, e->d_name,
                  named ? "not a regular file" : "name is not <16 lowercase hex digits>.wal below 2^62");
            continue;
        }
        if ((rc = segs_reserve(w)) != TW_OK) {
            failf(c, rc, "%s: out of memory", w->dir);
            break;
        }
        w->segs[w->nsegs++] = first;
        c->total += (uint64_t)st.st_size;
    }
    closedir(d);
    if (w->nsegs) qsort(w->segs, w->nsegs, sizeof *w->segs, cmp_u64);
    return rc;
}

static int replay_all(replay_ctx *c) {
    tws_wal *w = c->w;
    int rc = list_segments(c);
    if (rc) return rc;
    c->step = TW_MAX(TW_MIN(c->total / 100, (uint64_t)4 << 20), 1);
    c->next_report = c->step;
    uint64_t start = 0;
    bool bad = false;
    unsigned version = VERSION;
    for (size_t i = 0; i < w->nsegs; i++) {
        bool last = i + 1 == w->nsegs;
        rc = replay_segment(c, w->segs[i], last, last ? UINT64_MAX : w->segs[i + 1], &start, &bad, &version,
                            &w->fd);
        if (rc) return rc;
    }
    if (c->rp && c->rp->progress && c->reported != c->total) c->rp->progress(c->rp->user, c->total, c->total);
    if (w->nsegs && !bad && version == VERSION) {
        w->next_lsn = start;
        return TW_OK;
    }
    if (w->fd >= 0) { /* the newest segment is of an older version: appends go to a new one after it */
        close(w->fd);
        w->fd = -1;
    }
    /* No segment yet, or the newest is not ours: start one after it (its
     * size bounds any LSN it could have held). */
    if (w->nsegs && bad) {
        uint64_t first = w->segs[w->nsegs - 1];
        struct stat st;
        char name[NAME_CAP];
        seg_name(first, name);
        uint64_t size = fstatat(w->dirfd, name, &st, 0) == 0 ? (uint64_t)st.st_size : 0;
        start = first + TW_MAX(size, (uint64_t)1);
    }
    start = TW_MAX(start, w->min_lsn); /* never below what the owner has already seen */
    char name[NAME_CAP];
    seg_name(start, name);
    if ((rc = segs_reserve(w)) != TW_OK) return failf(c, rc, "%s: out of memory", w->dir);
    if ((rc = create_segment(w, start, &w->fd)) != TW_OK)
        return failf(c, rc, "%s/%s: creating: %s", w->dir, name, strerror(errno));
    w->segs[w->nsegs++] = start;
    w->seg_first = start;
    w->seg_size = SEG_HDR;
    w->next_lsn = start;
    return TW_OK;
}

/* ---- the flusher --------------------------------------------------------- */

/* Close the current segment (synced) and start one at `first`. Without
 * memory for the list entry the segment just grows past its size. */
static int rotate(tws_wal *w, uint64_t first, uint64_t *syncs) {
    pthread_mutex_lock(&w->seg_mu);
    int rc = segs_reserve(w);
    pthread_mutex_unlock(&w->seg_mu);
    if (rc) return TW_OK;
    if (!w->no_sync) {
        if ((rc = sync_data(w->fd)) != TW_OK) return rc;
        (*syncs)++;
    }
    int fd;
    rc = SPARE_UNUSABLE;
    for (;;) {
        pthread_mutex_lock(&w->seg_mu);
        bool have = w->nfree > 0;
        uint64_t spare = have ? w->free[--w->nfree] : 0;
        pthread_mutex_unlock(&w->seg_mu);
        if (!have || (rc = reuse_segment(w, spare, first, &fd)) != SPARE_UNUSABLE) break;
    }
    if (rc == TW_OK) {
        pthread_mutex_lock(&w->seg_mu);
        w->reused++;
        pthread_mutex_unlock(&w->seg_mu);
    } else if (rc != SPARE_UNUSABLE || (rc = create_segment(w, first, &fd)) != TW_OK) {
        return rc;
    }
    close(w->fd);
    w->fd = fd;
    w->seg_first = first;
    w->seg_size = SEG_HDR;
    pthread_mutex_lock(&w->seg_mu);
    w->segs[w->nsegs++] = first;
    pthread_mutex_unlock(&w->seg_mu);
    return TW_OK;
}

/* Write batch `b` to the log and sync it. */
static int write_batch(tws_wal *w, batch *b, uint64_t *syncs) {
    size_t i = 0, off = 0;
    int rc;
    while (i < b->n) {
        if (w->seg_size >= w->segment_bytes && w->seg_size > SEG_HDR &&
            (rc = rotate(w, b->ent[i].lsn, syncs)) != TW_OK)
            return rc;
        /* Whole records, at least one, up to the segment size. */
        assert(b->ent[i].lsn == w->seg_first + w->seg_size - SEG_HDR);
        size_t start = off;
        do {
            off += b->ent[i++].size;
        } while (i < b->n && w->seg_size + (off - start) < w->segment_bytes);
        if ((rc = write_all(w->fd, b->data + start, off - start)) != TW_OK) return rc;
        w->seg_size += off - start;
    }
    if (!w->no_sync) {
        if ((rc = sync_data(w->fd)) != TW_OK) return rc;
        (*syncs)++;
    }
    return TW_OK;
}

static void *flusher_main(void *arg) {
    tws_wal *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->queue->n == 0 && !w->closing) pthread_cond_wait(&w->work, &w->mu);
        if (w->queue->n == 0) break; /* closing, and everything is written */
        batch *b = w->queue;
        w->queue = b == &w->bufs[0] ? &w->bufs[1] : &w->bufs[0];
        bool failed = w->failed;
        pthread_mutex_unlock(&w->mu);

        uint64_t syncs = 0;
        int rc = failed ? TW_EIO : write_batch(w, b, &syncs);

        /* Settled before anyone hears of it: a client that appends again
         * at once finds room, and after a failure no append can succeed.
         * (`b` itself is ours until the next swap, which it must be empty
         * for; both buffers stay within max_pending.) */
        pthread_mutex_lock(&w->mu);
        w->syncs += syncs;
        w->pending_bytes -= b->len;
        if (rc) w->failed = true;
        pthread_mutex_unlock(&w->mu);
        for (size_t i = 0; i < b->n; i++)
            if (b->ent[i].done) b->ent[i].done(b->ent[i].user, rc, b->ent[i].lsn);
        b->len = b->n = 0;
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- the API ------------------------------------------------------------- */

/* mkdir -p; syncs the parent of each directory it creates. */
static int make_dirs(const char *dir, bool no_sync) {
    size_t n = strlen(dir);
    char *p = tw__strndup(dir, n);
    if (!p) return TW_ENOMEM;
    int rc = TW_OK;
    for (size_t i = 1; i <= n && !rc; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        if (p[i - 1] == '/') continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) == 0) {
            if (!no_sync) {
                char *slash = strrchr(p, '/');
                const char *parent = slash ? (slash == p ? "/" : p) : ".";
                if (slash && slash != p) *slash = '\0';
                int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pfd >= 0) {
                    if (fsync(pfd) != 0) rc = TW_EIO;
                    close(pfd);
                }
                if (slash && slash != p) *slash = '/';
            }
        } else if (errno != EEXIST) {
            rc = TW_EIO;
        }
        p[i] = c;
    }
    tw__free(p);
    return rc;
}

static void wal_free(tws_wal *w) {
    if (w->fd >= 0) close(w->fd);
    if (w->dirfd >= 0) close(w->dirfd); /* drops the flock */
    for (int i = 0; i < 2; i++) {
        tw__free(w->bufs[i].data);
        tw__free(w->bufs[i].ent);
    }
    tw__free(w->segs);
    tw__free(w->free);
    tw__free(w->dir);
    tw__free(w);
}

int tws_wal_open(const char *dir, const tws_wal_options *o, tws_wal_replay *rp, tws_wal **out, char msg[256]) {
    char scratch[256];
    replay_ctx c = {.rp = rp, .msg = msg ? msg : scratch, .rd = {.fd = -1}};
    c.msg[0] = '\0';
    *out = NULL;
    if (!dir || !*dir) return failf(&c, TW_EINVAL, "no WAL directory given");
    if (rp)
        rp->records = rp->bytes = rp->torn_bytes_cut = rp->corrupt_segments = rp->ignored_files =
            rp->reused_bytes_cut = 0;
    tws_wal *w = tw__calloc(1, sizeof *w);
    if (!w) return failf(&c, TW_ENOMEM, "out of memory");
    c.w = w;
    w->fd = w->dirfd = -1;
    w->segment_bytes = o && o->segment_bytes ? o->segment_bytes : DEFAULT_BYTES;
    w->max_pending = o && o->max_pending ? o->max_pending : DEFAULT_BYTES;
    w->no_sync = o && o->no_sync;
    w->min_lsn = o ? o->min_lsn : 0;
    w->free_max = !o || !o->free_segments ? DEFAULT_FREE : o->free_segments < 0 ? 0 : (size_t)o->free_segments;
    w->queue = &w->bufs[0];
    int rc = TW_OK;
    bool mu_ok = false;
    if (!(w->dir = tw__strndup(dir, strlen(dir))) ||
        (w->free_max && !(w->free = tw__calloc(w->free_max, sizeof *w->free)))) {
        rc = failf(&c, TW_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = make_dirs(dir, w->no_sync)) != TW_OK) {
        rc = failf(&c, rc, "%s: creating the directory: %s", dir, rc == TW_ENOMEM ? "out of memory" : strerror(errno));
        goto fail;
    }
    if ((w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = failf(&c, TW_EIO, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    if (flock(w->dirfd, LOCK_EX | LOCK_NB) != 0) {
        rc = failf(&c, TW_EIO, "%s: %s", dir,
                   errno == EWOULDBLOCK ? "the WAL is in use by another process or handle" : strerror(errno));
        goto fail;
    }
    if ((rc = replay_all(&c)) != TW_OK) goto fail;
    tw__free(c.rd.buf);
    c.rd.buf = NULL;

    if (pthread_mutex_init(&w->mu, NULL) || pthread_mutex_init(&w->seg_mu, NULL) ||
        pthread_cond_init(&w->work, NULL)) {
        rc = failf(&c, TW_ENOMEM, "%s: cannot create locks", dir); /* (they cannot fail on Linux) */
        goto fail;
    }
    mu_ok = true;
    if (pthread_create(&w->flusher, NULL, flusher_main, w) != 0) {
        rc = failf(&c, TW_ENOMEM, "%s: cannot start the flusher thread", dir);
        goto fail;
    }
    *out = w;
    return TW_OK;
fail:
    tw__free(c.rd.buf);
    if (mu_ok) {
        pthread_mutex_destroy(&w->mu);
        pthread_mutex_destroy(&w->seg_mu);
        pthread_cond_destroy(&w->work);
    }
    wal_free(w);
    return rc;
}

/* Room for `rec` more bytes and one more entry in `b` (called with mu). */
static int batch_reserve(batch *b, size_t rec, uint64_t limit) {
    if (rec > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 64 << 10;
        while (cap < b->len + rec) cap *= 2;
        if (cap > limit) cap = (size_t)limit; /* len + rec <= pending <= limit */
        uint8_t *d = tw__realloc(b->data, cap);
        if (!d) return TW_ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    if (b->n == b->ent_cap) {
        size_t cap = b->ent_cap ? b->ent_cap * 2 : 64;
        entry *e = tw__realloc(b->ent, cap * sizeof *e);
        if (!e) return TW_ENOMEM;
        b->ent = e;
        b->ent_cap = cap;
    }
    return TW_OK;
}

int tws_wal_append_async(tws_wal *w, uint8_t type, const tw_str *parts, size_t n, tws_wal_done_fn done,
                         void *user, uint64_t *lsn) {
    if (!w || type == 0 || (n && !parts)) return TW_EINVAL;
    uint64_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = tw__str_len(parts[i]);
        if (l > TWS_WAL_MAX_RECORD || (len += l) > TWS_WAL_MAX_RECORD) return TW_EINVAL;
    }
    size_t rec = REC_HDR + (size_t)len;
    if (rec > w->max_pending) return TW_EINVAL; /* could never be queued */
    /* The checksum of the bytes is computed before taking the lock; the
     * LSN's 8 bytes are added under it. */
    uint8_t hdr[REC_HDR] = {0};
    hdr[8] = type;
    uint32_t crc = tw__crc32c(0, hdr + 8, 4);
    for (size_t i = 0; i < n; i++) crc = tw__crc32c(crc, parts[i].ptr, tw__str_len(parts[i]));
    store_le32(hdr, (uint32_t)len);

    int rc = TW_OK;
    pthread_mutex_lock(&w->mu);
    if (w->closing) {
        rc = TW_ESHUTDOWN;
    } else if (w->failed) {
        rc = TW_EIO;
    } else if (rec > w->max_pending - w->pending_bytes) {
        w->full_refusals++;
        rc = TW_EFULL;
    } else if ((rc = batch_reserve(w->queue, rec, w->max_pending)) == TW_OK) {
        batch *b = w->queue;
        uint8_t *d = b->data + b->len;
        store_le32(hdr + 4, crc_at(crc, VERSION, w->next_lsn));
        memcpy(d, hdr, REC_HDR);
        d += REC_HDR;
        for (size_t i = 0; i < n; i++) {
            size_t l = tw__str_len(parts[i]);
            if (l) memcpy(d, parts[i].ptr, l);
            d += l;
        }
        b->ent[b->n++] = (entry){.lsn = w->next_lsn, .size = rec, .done = done, .user = user};
        if (lsn) *lsn = w->next_lsn;
        b->len += rec;
        w->next_lsn += rec;
        w->pending_bytes += rec;
        w->appends++;
        w->bytes += rec;
        if (b->n == 1) pthread_cond_signal(&w->work);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int rc;
    uint64_t lsn;
} waiter;

static void waiter_done(void *user, int rc, uint64_t lsn) {
    waiter *x = user;
    pthread_mutex_lock(&x->mu);
    x->rc = rc;
    x->lsn = lsn;
    x->done = true;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

int tws_wal_append(tws_wal *w, uint8_t type, const tw_str *parts, size_t n, uint64_t *lsn) {
    waiter x = {.done = false};
    pthread_mutex_init(&x.mu, NULL);
    pthread_cond_init(&x.cv, NULL);
    int rc = tws_wal_append_async(w, type, parts, n, waiter_done, &x, NULL);
    if (rc == TW_OK) {
        pthread_mutex_lock(&x.mu);
        while (!x.done) pthread_cond_wait(&x.cv, &x.mu);
        pthread_mutex_unlock(&x.mu);
        rc = x.rc;
        if (lsn) *lsn = x.lsn;
    }
    pthread_cond_destroy(&x.cv);
    pthread_mutex_destroy(&x.mu);
    return rc;
}

int tws_wal_release_before(tws_wal *w, uint64_t lsn) {
    int rc = TW_OK;
    size_t gone = 0, nkept = 0;
    uint64_t small[16], *kept = w->free_max <= 16 ? small : tw__malloc(w->free_max * sizeof *kept);
    pthread_mutex_lock(&w->seg_mu);
    /* Segment k holds LSNs below segs[k + 1]; the newest is never deleted. */
    while (gone + 1 < w->nsegs && w->segs[gone + 1] <= lsn) {
        char name[NAME_CAP], to[NAME_CAP];
        uint64_t first = w->segs[gone];
        seg_name(first, name);
        free_name(first, to);
        /* Kept for reuse when there is room and the file is a whole
         * segment long (a shorter one would grow again when reused). */
        struct stat st;
        if (kept && w->nfree + nkept < w->free_max && fstatat(w->dirfd, name, &st, 0) == 0 &&
            (uint64_t)st.st_size >= w->segment_bytes && renameat(w->dirfd, name, w->dirfd, to) == 0) {
            kept[nkept++] = first;
            gone++;
            continue;
        }
        if (unlinkat(w->dirfd, name, 0) != 0 && errno != ENOENT) {
            rc = TW_EIO;
            break;
        }
        gone++;
    }
    if (gone) {
        memmove(w->segs, w->segs + gone, (w->nsegs - gone) * sizeof *w->segs);
        w->nsegs -= gone;
    }
    pthread_mutex_unlock(&w->seg_mu);
    if (gone && sync_dir(w) != TW_OK) rc = TW_EIO;
    if (nkept) {
        /* Free files go to the flusher only once their renames are durable:
         * a new header written into a file whose rename a power cut undid
         * would make a released segment look corrupt. Any the list has no
         * room for (another release filled it meanwhile) are deleted. */
        size_t extra = 0;
        pthread_mutex_lock(&w->seg_mu);
        for (size_t i = 0; i < nkept; i++) {
            if (rc == TW_OK && w->nfree < w->free_max) w->free[w->nfree++] = kept[i];
            else kept[extra++] = kept[i];
        }
        pthread_mutex_unlock(&w->seg_mu);
        for (size_t i = 0; i < extra; i++) {
            char name[NAME_CAP];
            free_name(kept[i], name);
            unlinkat(w->dirfd, name, 0);
        }
    }
    if (kept != small) tw__free(kept);
    return rc;
}

void tws_wal_get_stats(tws_wal *w, tws_wal_stats *out) {
    pthread_mutex_lock(&w->mu);
    out->appends = w->appends;
    out->bytes = w->bytes;
    out->syncs = w->syncs;
    out->pending_bytes = w->pending_bytes;
    out->full_refusals = w->full_refusals;
    out->next_lsn = w->next_lsn;
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_lock(&w->seg_mu);
    out->segments = w->nsegs;
    out->free_segments = w->nfree;
    out->reused_segments = w->reused;
    out->release_from = w->nsegs > 1 ? w->segs[1] : UINT64_MAX;
    pthread_mutex_unlock(&w->seg_mu);
}

void tws_wal_close(tws_wal *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->closing = true;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->flusher, NULL);
    /* A reused file still holds old records after the log's end: cut them,
     * so that the next open finds the log ending where the file does. */
    struct stat st;
    if (!w->failed && w->fd >= 0 && fstat(w->fd, &st) == 0 && (uint64_t)st.st_size > w->seg_size &&
        ftruncate(w->fd, (off_t)w->seg_size) == 0 && !w->no_sync)
        (void)sync_data(w->fd);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->seg_mu);
    pthread_cond_destroy(&w->work);
    wal_free(w);
}

/* ---- reading records back by LSN ----------------------------------------- */

#define TRY_AGAIN 1 /* not a TW_* code: list the directory again */

struct tws_wal_reader {
    char *dir;
    uint64_t *segs; /* first LSN of every segment at the last listing, ascending */
    size_t nsegs, cap;
    int fd;         /* the segment last read, or -1 */
    uint64_t fd_first;
    unsigned fd_version;
};

int tws_wal_reader_open(const char *dir, tws_wal_reader **out) {
    tws_wal_reader *r = tw__calloc(1, sizeof *r);
    if (!r || !(r->dir = tw__strndup(dir, strlen(dir)))) {
        tw__free(r);
        return TW_ENOMEM;
    }
    r->fd = -1;
    *out = r;
    return TW_OK;
}

void tws_wal_reader_close(tws_wal_reader *r) {
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    tw__free(r->segs);
    tw__free(r->dir);
    tw__free(r);
}

static int reader_list(tws_wal_reader *r, char msg[256]) {
    DIR *d = opendir(r->dir);
    if (!d) {
        snprintf(msg, 256, "%s: %s", r->dir, strerror(errno));
        return TW_EIO;
    }
    r->nsegs = 0;
    int rc = TW_OK;
    struct dirent *e;
    while (rc == TW_OK && (e = readdir(d))) {
        uint64_t first;
        if (!parse_seg_name(e->d_name, &first)) continue;
        if (r->nsegs == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 16;
            uint64_t *s = tw__realloc(r->segs, cap * sizeof *s);
            if (!s) {
                rc = TW_ENOMEM;
                break;
            }
            r->segs = s;
            r->cap = cap;
        }
        r->segs[r->nsegs++] = first;
    }
    closedir(d);
    if (r->nsegs) qsort(r->segs, r->nsegs, sizeof *r->segs, cmp_u64);
    if (rc != TW_OK) snprintf(msg, 256, "%s: out of memory", r->dir);
    return rc;
}

/* The first LSN of the segment that would hold `lsn`, by the last listing. */
static bool reader_find(const tws_wal_reader *r, uint64_t lsn, uint64_t *first) {
    size_t lo = 0, hi = r->nsegs;
    while (lo < hi) { /* the number of segments starting at or below lsn */
        size_t mid = lo + (hi - lo) / 2;
        if (r->segs[mid] <= lsn) lo = mid + 1;
        else hi = mid;
    }
    if (!lo) return false;
    *first = r->segs[lo - 1];
    return true;
}

/* One attempt with the current listing; TRY_AGAIN: list again and retry.
 * With an old listing, the file found may hold another segment by now (it
 * was released, and reused for a newer one), so on the `first` attempt a
 * failure only asks for a new listing; the second reports it. */
static int reader_try(tws_wal_reader *r, uint64_t lsn, uint8_t *type, tw__buf *out, char msg[256], bool first_try) {
    uint64_t first;
    if (!reader_find(r, lsn, &first)) return TRY_AGAIN;
    char name[NAME_CAP];
    seg_name(first, name);
    if (r->fd < 0 || r->fd_first != first) {
        if (r->fd >= 0) close(r->fd);
        r->fd = -1;
        int dfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd = dfd >= 0 ? openat(dfd, name, O_RDONLY | O_CLOEXEC) : -1;
        int e = errno;
        if (dfd >= 0) close(dfd);
        if (fd < 0) {
            if (e == ENOENT) return TRY_AGAIN; /* released since the listing */
            snprintf(msg, 256, "%s/%s: %s", r->dir, name, strerror(e));
            return TW_EIO;
        }
        uint8_t h[SEG_HDR];
        size_t hn;
        if (pread_all(fd, h, SEG_HDR, 0, &hn) != TW_OK) {
            snprintf(msg, 256, "%s/%s: %s", r->dir, name, strerror(errno));
            close(fd);
            return TW_EIO;
        }
        if (hn < SEG_HDR || memcmp(h, seg_magic, 6) != 0 || h[7] < 1 || h[7] > VERSION ||
            (h[6] & ~(h[7] < 2 ? 0u : FLAG_REUSED)) || load_le64(h + 8) != first) {
            close(fd);
            if (first_try) return TRY_AGAIN; /* renamed away and reused since the listing */
            snprintf(msg, 256, "%s/%s: not a segment of this log (its header)", r->dir, name);
            return TW_EPARSE;
        }
        r->fd = fd;
        r->fd_first = first;
        r->fd_version = h[7];
    }
    uint64_t off = SEG_HDR + (lsn - first);
    uint8_t hdr[REC_HDR];
    size_t got;
    if (pread_all(r->fd, hdr, REC_HDR, off, &got) != TW_OK) {
        snprintf(msg, 256, "%s/%s: %s", r->dir, name, strerror(errno));
        return TW_EIO;
    }
    if (got == 0) return TRY_AGAIN; /* past this segment's end: a later one may hold it */
    uint32_t len = load_le32(hdr);
    const char *why = NULL;
    if (got < REC_HDR) why = "the record header is cut short";
    else if (len > TWS_WAL_MAX_RECORD) why = "the record length is out of range";
    else if (hdr[8] == 0 || hdr[9] || hdr[10] || hdr[11]) why = "the record header is malformed";
    if (!why) {
        tw__buf_reset(out);
        int rc = tw__buf_reserve(out, len);
        if (rc != TW_OK) {
            snprintf(msg, 256, "%s/%s: no memory for a record of %u bytes", r->dir, name, len);
            return TW_ENOMEM;
        }
        if (pread_all(r->fd, out->data, len, off + REC_HDR, &got) != TW_OK) {
            snprintf(msg, 256, "%s/%s: %s", r->dir, name, strerror(errno));
            return TW_EIO;
        }
        out->len = got;
        uint32_t crc = tw__crc32c(0, hdr + 8, 4);
        if (got < len) why = "the record is cut short";
        else if (crc_at(tw__crc32c(crc, out->data, len), r->fd_version, lsn) != load_le32(hdr + 4))
            why = "CRC mismatch";
    }
    if (why && first_try) {
        close(r->fd);
        r->fd = -1;
        tw__buf_reset(out);
        return TRY_AGAIN;
    }
    if (why) {
        snprintf(msg, 256, "%s/%s: no intact record at offset %llu (LSN %llu): %s", r->dir, name,
                 (unsigned long long)off, (unsigned long long)lsn, why);
        tw__buf_reset(out);
        return TW_EPARSE;
    }
    *type = hdr[8];
    return TW_OK;
}

int tws_wal_reader_read(tws_wal_reader *r, uint64_t lsn, uint8_t *type, tw__buf *out, char msg[256]) {
    msg[0] = '\0';
    int rc = reader_try(r, lsn, type, out, msg, true);
    if (rc != TRY_AGAIN) return rc;
    if ((rc = reader_list(r, msg)) != TW_OK) return rc;
    rc = reader_try(r, lsn, type, out, msg, false);
    if (rc == TRY_AGAIN) {
        snprintf(msg, 256, "%s: no segment holds LSN %llu (released, or never written)", r->dir,
                 (unsigned long long)lsn);
        rc = TW_ENOTFOUND;
    }
    return rc;
}
