/*
 * fuzz_srv_wal_replay.c — WAL replay over arbitrary segment bytes.
 *
 * Each input is laid out three ways in a scratch directory and opened:
 *  1. as the only segment, 0000000000000000.wal, exactly as given;
 *  2. the same with a valid segment header (LSN 0) in front: of version 1,
 *     and of version 2 (marked reused when the input's first byte is odd);
 *  3. as an older segment, followed by an empty newest segment.
 * Properties checked (abort() on violation):
 *  - open either succeeds, or fails with a message;
 *  - every replayed record is, byte for byte, a record of the input at the
 *    offset its LSN names, with a non-zero type, zero padding and a good CRC
 *    (from version 2 on, one that covers the LSN);
 *  - LSNs are replayed in increasing order, without overlap;
 *  - opening again replays the same records and cuts nothing (the first
 *    open repaired the tail for good), and a record appended then is
 *    replayed after them.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "wal/wal.h"

static void check(int cond) {
    if (!cond) abort();
}

typedef struct seen {
    const uint8_t *file; /* the first segment's bytes */
    size_t size;
    uint64_t next; /* no record may start below this */
    uint64_t records;
} seen;

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int on_record(void *user, uint8_t type, const uint8_t *payload, size_t len, uint64_t lsn) {
    seen *s = user;
    check(lsn >= s->next && type != 0 && len <= TWS_WAL_MAX_RECORD);
    /* Only the first segment (LSN 0) can hold records here. */
    check(lsn <= s->size && 16 + lsn + 12 + len <= s->size);
    const uint8_t *r = s->file + 16 + lsn;
    check(le32(r) == len && r[8] == type && r[9] == 0 && r[10] == 0 && r[11] == 0);
    uint32_t crc = tw__crc32c(0, r + 8, 4 + len);
    if (s->size >= 8 && s->file[7] >= 2) {
        uint8_t b[8];
        for (int i = 0; i < 8; i++) b[i] = (uint8_t)(lsn >> (8 * i));
        crc = tw__crc32c(crc, b, 8);
    }
    check(le32(r + 4) == crc);
    check(len == 0 || memcmp(r + 12, payload, len) == 0);
    s->next = lsn + 12 + len;
    s->records++;
    return 0;
}

static void on_progress(void *user, uint64_t done, uint64_t total) {
    (void)user;
    check(done <= total);
}

static void on_warn(void *user, const char *msg) {
    (void)user;
    check(msg && *msg);
}

static char dir[64];

static void clear_dir(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[400];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
}

static void remove_dir(void) {
    clear_dir();
    rmdir(dir);
}

static void put(const char *name, const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    check(fd >= 0);
    check(write(fd, a, an) == (ssize_t)an);
    check(bn == 0 || write(fd, b, bn) == (ssize_t)bn);
    close(fd);
}

static int count_record(void *user, uint8_t type, const uint8_t *payload, size_t len, uint64_t lsn) {
    (void)type, (void)payload, (void)len, (void)lsn;
    ++*(uint64_t *)user;
    return 0;
}

/* Open, reopen, append, reopen; `file` is the first segment's bytes. */
static void run(const uint8_t *file, size_t size) {
    tws_wal_options o = {.no_sync = true, .segment_bytes = 4096, .max_pending = 1 << 20};
    uint64_t records = 0, corrupt = 0;
    char msg[256];
    for (int round = 0; round < 2; round++) {
        /* The second open sees the file cut at the first bad record, whose
         * bytes before the cut are the input's: the same records again. */
        seen s = {.file = file, .size = size};
        tws_wal_replay rp = {.record = on_record, .progress = on_progress, .warn = on_warn, .user = &s};
        tws_wal *w = NULL;
        int rc = tws_wal_open(dir, &o, &rp, &w, msg);
        if (rc != TW_OK) {
            check(w == NULL && msg[0] != '\0' && round == 0);
            return;
        }
        check(rp.records == s.records);
        if (round == 0) {
            records = s.records;
            corrupt = rp.corrupt_segments;
        } else {
            check(s.records == records && rp.torn_bytes_cut == 0 && rp.reused_bytes_cut == 0 &&
                  rp.corrupt_segments == corrupt);
            tw_str part = {"after", 5};
            check(tws_wal_append(w, 1, &part, 1, NULL) == TW_OK);
        }
        tws_wal_close(w);
    }
    /* What was appended after the repair is replayed after the rest. */
    uint64_t n = 0;
    tws_wal_replay rp = {.record = count_record, .user = &n};
    tws_wal *w = NULL;
    check(tws_wal_open(dir, &o, &rp, &w, msg) == TW_OK);
    check(n == records + 1 && rp.torn_bytes_cut == 0 && rp.reused_bytes_cut == 0 && rp.corrupt_segments == corrupt);
    tws_wal_close(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/tw-fuzz-wal-XXXXXX", t && *t && strlen(t) < 30 ? t : "/tmp");
        check(mkdtemp(dir) != NULL);
        atexit(remove_dir);
    }
    static const uint8_t hdr0[16] = {'T', 'W', 'W', 'A', 'L', 0, 0, 1};
    static const uint8_t hdr_next[16] = {'T', 'W', 'W', 'A', 'L', 0, 0, 1, 0, 0, 0, 1}; /* LSN 2^24 */
    uint8_t *buf = malloc(size + 16);
    check(buf != NULL);

    /* 1: the input as the only segment. */
    clear_dir();
    put("0000000000000000.wal", data, size, NULL, 0);
    if (size) memcpy(buf, data, size);
    run(buf, size);

    /* 2: behind a valid header, of version 1 and of version 2. */
    clear_dir();
    memcpy(buf, hdr0, 16);
    if (size) memcpy(buf + 16, data, size);
    put("0000000000000000.wal", buf, size + 16, NULL, 0);
    run(buf, size + 16);
    clear_dir();
    buf[6] = size && (data[0] & 1); /* reused */
    buf[7] = 2;
    put("0000000000000000.wal", buf, size + 16, NULL, 0);
    run(buf, size + 16);
    memcpy(buf, hdr0, 16);

    /* 3: as an older segment: corruption is reported and skipped, and the
     * newest segment after it is still opened. */
    clear_dir();
    put("0000000000000000.wal", buf, size + 16, NULL, 0);
    put("0000000001000000.wal", hdr_next, 16, NULL, 0);
    run(buf, size + 16);

    clear_dir();
    free(buf);
    return 0;
}
