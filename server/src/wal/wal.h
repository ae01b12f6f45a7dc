/*
 * wal.h — the write-ahead log: "acknowledged means durable".
 *
 * Records are appended to numbered segment files in one directory. Each
 * record carries a length and a CRC-32C of its type and payload, so replay
 * can tell a complete record from a torn or corrupt one. Appends from many
 * threads are gathered by one flusher thread into a single write() and a
 * single fdatasync() (group commit); an append completes only after the
 * fdatasync that covers it has returned.
 *
 * On-disk format (also in docs/FORMAT.md):
 *   segment file  <dir>/<first-lsn as 16 hex digits>.wal
 *   segment header (16 bytes)
 *     0   6  magic "TWWAL\0"
 *     6   1  flags: bit 0 set when the file held an older segment before (reused)
 *     7   1  format version: 2 (version 1, flags 0, is still read)
 *     8   8  first LSN of the segment (the LSN of its first record), LE
 *   record (12-byte header + payload, no padding)
 *     0   4  payload length N, little-endian (at most TWS_WAL_MAX_RECORD)
 *     4   4  CRC-32C of record bytes 8 .. 12+N (type, the zero bytes, payload)
 *            followed by the record's LSN as 8 bytes LE (version 1: no LSN)
 *     8   1  type (caller-defined, 1..255; 0 is never written)
 *     9   3  zero
 *    12   N  payload
 * An LSN is the byte offset of a record in the log as if the records of all
 * segments were one file (segment headers are not counted, so a segment's
 * first LSN is where the previous one ended); it only grows.
 * Released segments may be kept as <dir>/<old first LSN>.free (up to
 * `free_segments` of them) and renamed into the next new segment, whose
 * records then overwrite the old ones in place: an fdatasync of a file whose
 * size and blocks do not change needs no journal commit (on ext4 here 0.27
 * against 0.43 ms for 190 KB). The CRC covers the LSN, so the old records
 * after the log's end never pass for records of the new segment.
 * Files in the directory whose names are not exactly <16 lowercase hex>.wal
 * or .free are not ours: they are ignored (a warning, `ignored_files`), never
 * deleted. Free files beyond `free_segments`, or shorter than a segment, are
 * deleted at open. A segment whose header is not ours is corruption like any other
 * (reported and skipped); if it is the newest, it is kept as it is and a new
 * segment starts after it. A newest segment of version 1 with records is
 * also followed by a new segment (appends are always version 2). A segment
 * of an unknown version or with unknown flags is refused.
 * One process at a time: tws_wal_open takes an flock on the directory.
 *
 * Invariants:
 *  - A record is durable when its completion has been reported.
 *  - Replay stops a segment at the first record that is incomplete or fails
 *    its CRC, and at the LSN where the next segment begins. In the newest
 *    segment a failing record is a torn tail from a crash (or, in a reused
 *    file, where the old records begin): the file is truncated there and
 *    appends continue after it. A clean close cuts a reused file's old
 *    records itself. In an older
 *    segment it is corruption: reported (with the segment and offset) and
 *    the rest of that segment is skipped; later segments are still read.
 *  - Memory is bounded: at most `max_pending` bytes wait for the flusher;
 *    beyond that an append fails at once with TW_EFULL (the caller answers
 *    429/RESOURCE_EXHAUSTED rather than growing). A record stops counting
 *    once durable; the WAL's buffers never exceed 2 x max_pending (one
 *    batch filling, one being written).
 *  - A failed write() or fdatasync() completes every record of that batch
 *    with TW_EIO and leaves the WAL failed: every later append fails with
 *    TW_EIO, until it is closed and opened again (replay then cuts whatever
 *    half-written tail the failure left). Nothing is written after a failed
 *    write, so nothing can be acknowledged behind a torn record, and after a
 *    failed fdatasync the kernel's dirty pages are unknown, so a later sync
 *    proves nothing. Records completed with TW_EIO may or may not be found
 *    by a later replay.
 */
#ifndef TWS_WAL_H
#define TWS_WAL_H

#include <stdint.h>

#include "common/buf.h"
#include "common/tw_base.h"

#define TWS_WAL_MAX_RECORD (64u << 20)

typedef struct tws_wal tws_wal;

typedef struct tws_wal_options {
    uint64_t segment_bytes; /* rotate after this size; 0: 64 MiB */
    uint64_t max_pending;   /* bytes queued for the flusher; 0: 64 MiB */
    bool no_sync;           /* tests and benchmarks only: skip fdatasync */
    uint64_t min_lsn;       /* a new log (no segment yet) starts at this LSN, so LSNs
                               stay above any the owner recorded for an older log */
    int free_segments;      /* released segment files kept to be overwritten by new
                               segments (at least segment_bytes long): 0: 4; < 0: none */
} tws_wal_options;

/* Called once per record in log order during replay. Return 0 to go on, or
 * a TW_E* code to stop replay (tws_wal_open then fails with it). */
typedef int (*tws_wal_replay_fn)(void *user, uint8_t type, const uint8_t *payload, size_t len, uint64_t lsn);
/* Progress of replay: bytes read so far of `total`, about every 1% or
 * 4 MiB, whichever comes first, and once at the end. May be NULL. */
typedef void (*tws_wal_progress_fn)(void *user, uint64_t done, uint64_t total);
/* A problem that replay repaired or skipped (a cut torn tail, a corrupt
 * segment, an ignored file), naming the file and offset. May be NULL. */
typedef void (*tws_wal_warn_fn)(void *user, const char *msg);

typedef struct tws_wal_replay {
    tws_wal_replay_fn record;
    tws_wal_progress_fn progress;
    void *user;
    tws_wal_warn_fn warn;
    /* Filled by tws_wal_open: what replay found (`bytes`: record bytes,
     * headers included, of the records replayed). */
    uint64_t records, bytes, torn_bytes_cut, corrupt_segments, ignored_files;
    /* Bytes cut after the log's end in a reused file: its earlier records
     * (and a torn write, if a crash cut one short there). */
    uint64_t reused_bytes_cut;
} tws_wal_replay;

/*
 * Open (creating `dir` if needed), replay every record through `replay`
 * (may be NULL), cut a torn tail, and start the flusher. Errors name the
 * file and what was wrong in *msg (static or a buffer of 256 bytes).
 * The payload given to `replay->record` is valid only during the call.
 */
int tws_wal_open(const char *dir, const tws_wal_options *o, tws_wal_replay *replay, tws_wal **out,
                 char msg[256]);

/* Completion: `rc` is TW_OK once durable, or TW_EIO (the write or sync
 * failed: the record must be treated as not stored). Called on the flusher
 * thread; it must be quick and must not call back into the WAL. */
typedef void (*tws_wal_done_fn)(void *user, int rc, uint64_t lsn);

/* Append one record made of `n` parts (concatenated; copied before the
 * call returns). *lsn (may be NULL) receives its LSN on TW_OK. Returns at once: TW_OK (done, unless NULL, will be called),
 * TW_EFULL (over max_pending: nothing queued, done not called), TW_EINVAL
 * (type 0, or larger than TWS_WAL_MAX_RECORD or than max_pending can ever
 * hold), TW_EIO (the WAL has failed, see above), TW_ESHUTDOWN, TW_ENOMEM. */
int tws_wal_append_async(tws_wal *w, uint8_t type, const tw_str *parts, size_t n, tws_wal_done_fn done,
                         void *user, uint64_t *lsn);
/* The same, waiting for durability. Returns TW_OK, TW_EFULL, TW_EIO, ...
 * *lsn (may be NULL) receives the record's LSN. */
int tws_wal_append(tws_wal *w, uint8_t type, const tw_str *parts, size_t n, uint64_t *lsn);

/* Every record below `lsn` is stored elsewhere: whole segments below it are
 * released (the current segment never is): kept as free files for reuse, up
 * to `free_segments`, or deleted. TW_EIO if an unlink, a rename or the
 * directory's sync failed. */
int tws_wal_release_before(tws_wal *w, uint64_t lsn);

typedef struct tws_wal_stats {
    uint64_t appends, bytes, syncs, pending_bytes, full_refusals, segments, next_lsn;
    uint64_t free_segments;   /* released files waiting to be reused */
    uint64_t reused_segments; /* segments started in a reused file since open */
    uint64_t release_from; /* the lowest LSN whose release deletes a segment; UINT64_MAX: one segment */
} tws_wal_stats;
void tws_wal_get_stats(tws_wal *w, tws_wal_stats *out);

/* Flush and sync what is queued, stop the flusher, close files. */
void tws_wal_close(tws_wal *w);

/*
 * Reading one durable record back by its LSN, for a consumer that keeps
 * only the LSN of what it still needs (tail sampling holds LSNs, not
 * spans). Independent of the writer: it works on the directory alone, so
 * it can be used while tws_wal_open replays and while the flusher appends
 * (a record is read only once it is durable, and its segment is not
 * released while the caller still holds its LSN). It keeps the segment
 * list and one open segment, and lists the directory again when an LSN is
 * past what it knows. Not thread-safe: one reader per thread.
 */
typedef struct tws_wal_reader tws_wal_reader;

int tws_wal_reader_open(const char *dir, tws_wal_reader **out);
/* Read the record at `lsn` into `out` (reset first) and its type into
 * *type. TW_OK; TW_ENOTFOUND (no segment holds that LSN: released, or
 * never written); TW_EPARSE (no intact record starts there: bad length,
 * CRC mismatch, cut short); TW_EIO; TW_ENOMEM. *msg says which file and
 * offset, and what was wrong. */
int tws_wal_reader_read(tws_wal_reader *r, uint64_t lsn, uint8_t *type, tw__buf *out, char msg[256]);
void tws_wal_reader_close(tws_wal_reader *r);

#endif
