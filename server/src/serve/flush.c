/*
 * flush.c — moving the in-memory head into blocks, on the loop thread.
 *
 * When the head holds head_flush_bytes, or its oldest batch is
 * head_flush_interval old, it is frozen (a new empty head takes its place)
 * and handed to the store's worker with a cut LSN: every WAL record below
 * the cut is in the frozen head, in an earlier block, or was never
 * acknowledged. The cut is the LSN of the oldest request still waiting for
 * the WAL (its spans will enter the new head), or the WAL's end when none
 * waits — lowered to any durable record that failed to enter the head,
 * to the oldest record whose spans tail sampling still holds, and to the
 * oldest not yet durable in a forwarding exporter's queue.
 *
 * When the worker reports success the frozen head is freed and the WAL is
 * released below the cut; until then queries read the frozen head as well,
 * so there is no moment at which an acknowledged span cannot be found. On
 * failure the frozen head stays and the flush is retried every second;
 * meanwhile the new head fills up to head_max_bytes (counting the frozen
 * one) and the receivers answer 429.
 *
 * Logs live the same way on their own WAL, head and store: the log head is
 * frozen at logs.flush_bytes or logs.flush_interval, written to log blocks,
 * and the logs WAL released below its cut (the oldest logs request still
 * waiting for the logs WAL, a durable record that failed to enter the log
 * head, the oldest not yet durable in a forwarding queue).
 */
#include <stdio.h>
#include <time.h>

#include "forward/queue.h"
#include "pipeline/pipeline.h"
#include "serve/server_int.h"

bool tws_flush_has_room(const tws_server *s, uint64_t bytes) {
    if (tws_forward_full(s)) return false; /* a backend is behind: push back rather than lose */
    uint64_t held = 0, waiting = 0; /* what tail sampling holds; decided batches waiting for the head */
    if (s->pipes) tws_pipeline_held(s->pipes, &held, &waiting);
    if (waiting) return false;
    return tws_head_has_room(s->head, s->head_reserved + s->frozen_bytes + held + bytes);
}

bool tws_flush_room_for_decided(const tws_server *s, uint64_t bytes) {
    if (s->replaying) return true; /* the store sink makes room itself (a flush in place) */
    return !tws_forward_full(s) && tws_head_has_room(s->head, s->head_reserved + s->frozen_bytes + bytes);
}

void tws_flush_note_add(tws_server *s) {
    if (!s->head_since_ms) s->head_since_ms = tw__mono_ms();
}

/* On the worker thread (the store has logged a failure's message). */
static void on_flushed(void *user, int rc, const char *err) {
    tws_server *s = user;
    s->flush_rc = rc;
    event_active(s->flush_done_ev, EV_TIMEOUT, 0);
}

static void submit(tws_server *s) {
    if (tws_store_flush(s->store, s->frozen, s->frozen_lsn, on_flushed, s) != TW_OK)
        fprintf(stderr, "tracewire: a flush is already running (not expected); retrying\n");
}

/* On the loop thread, once the worker answered. */
static void on_flushed_loop(evutil_socket_t fd, short what, void *arg) {
    tws_server *s = arg;
    if (!s->frozen) return;
    if (s->flush_rc != TW_OK) {
        s->flush_rc = 1; /* "failed, retry at the next tick" (never a TW_* code) */
        return;
    }
    int rc = tws_wal_release_before(s->wal, s->frozen_lsn);
    if (rc != TW_OK)
        fprintf(stderr, "tracewire: old write-ahead log segments could not be deleted (%s); retried after the "
                        "next flush\n", tw_strerror(rc));
    tws_head_free(s->frozen);
    s->frozen = NULL;
    s->frozen_bytes = 0;
    tws_flush_maybe(s); /* the new head may already be due */
}

void tws_flush_maybe(tws_server *s) {
    if (!s->store) return;
    if (s->frozen) {
        if (s->flush_rc == 1) { /* the last attempt failed: try again */
            s->flush_rc = 0;
            submit(s);
        }
        return;
    }
    tws_head_stats hs;
    tws_head_get_stats(s->head, &hs);
    tws_wal_stats ws;
    tws_wal_get_stats(s->wal, &ws);
    /* With pipelines the WAL may hold records that never reach the head
     * (forwarded, or not kept by sampling): an empty "flush" moves the
     * checkpoint past them once that frees a segment (not before: each
     * flush writes a checkpoint). */
    bool release_only = !hs.batches && s->pipes && ws.release_from != UINT64_MAX;
    if (!hs.batches && !release_only) return;
    uint64_t limit = s->cfg.head_flush_bytes ? s->cfg.head_flush_bytes : s->cfg.head_max_bytes / 4;
    bool old = s->head_since_ms && tw__mono_ms() - s->head_since_ms >= s->cfg.head_flush_interval_s * 1000;
    if (hs.bytes < limit && !old && !release_only) return;
    uint64_t cut = ws.next_lsn, oldest = tws_ingest_oldest_lsn(s);
    if (oldest < cut) cut = oldest;
    if (s->pin_lsn < cut) cut = s->pin_lsn;
    uint64_t held = s->pipes ? tws_pipeline_oldest_lsn(s->pipes) : UINT64_MAX; /* still sampling */
    if (held < cut) cut = held;
    uint64_t queued = tws_forward_oldest_lsn(s, TWS_FWD_TRACES); /* not yet in a forwarding queue */
    if (queued < cut) cut = queued;
    if (release_only && cut < ws.release_from) return; /* it would free nothing */
    tws_head *fresh;
    tws_head_options ho = {.max_bytes = s->cfg.head_max_bytes, .max_trace_bytes = s->cfg.max_trace_bytes};
    if (tws_head_new(&ho, &fresh) != TW_OK) return; /* out of memory: try at the next tick */
    s->frozen = s->head;
    s->frozen_bytes = hs.bytes;
    s->frozen_lsn = cut;
    s->head = fresh;
    s->head_since_ms = 0;
    s->flush_rc = 0;
    submit(s);
}

int tws_flush_now(tws_server *s, uint64_t cut) {
    tws_head *fresh;
    tws_head_options ho = {.max_bytes = s->cfg.head_max_bytes, .max_trace_bytes = s->cfg.max_trace_bytes};
    int rc = tws_head_new(&ho, &fresh);
    if (rc) return rc;
    char err[256] = "";
    tws_head_stats hs;
    tws_head_get_stats(s->head, &hs);
    fprintf(stderr, "tracewire: the head is full during replay: writing %llu spans to blocks\n",
            (unsigned long long)hs.spans);
    if ((rc = tws_store_flush_now(s->store, s->head, cut, err)) != TW_OK) {
        fprintf(stderr, "tracewire: %s\n", err[0] ? err : tw_strerror(rc));
        tws_head_free(fresh);
        return rc;
    }
    tws_head_free(s->head);
    s->head = fresh;
    s->head_since_ms = 0;
    return TW_OK;
}

/* ---- logs ----------------------------------------------------------------------------- */

bool tws_log_flush_has_room(const tws_server *s, uint64_t bytes) {
    if (tws_forward_full(s)) return false;
    return tws_loghead_has_room(s->logs, s->log_head_reserved + s->log_frozen_bytes + bytes);
}

void tws_log_flush_note_add(tws_server *s) {
    if (!s->log_since_ms) s->log_since_ms = tw__mono_ms();
}

int tws_log_head_new(tws_server *s, tws_loghead **out) {
    tws_loghead_options lo = {.max_bytes = s->cfg.log_head_max_bytes, .stream_key = tws_logs_stream_key, .user = s};
    return tws_loghead_new(&lo, out);
}

static void on_log_flushed(void *user, int rc, const char *err) { /* on the worker thread */
    tws_server *s = user;
    s->log_flush_rc = rc;
    event_active(s->log_flush_done_ev, EV_TIMEOUT, 0);
}

static void log_submit(tws_server *s) {
    if (tws_store_flush_logs(s->log_store, s->log_frozen, s->log_frozen_lsn, on_log_flushed, s) != TW_OK)
        fprintf(stderr, "tracewire: a log flush is already running (not expected); retrying\n");
}

static void on_log_flushed_loop(evutil_socket_t fd, short what, void *arg) {
    tws_server *s = arg;
    if (!s->log_frozen) return;
    if (s->log_flush_rc != TW_OK) {
        s->log_flush_rc = 1; /* retry at the next tick */
        return;
    }
    int rc = tws_wal_release_before(s->log_wal, s->log_frozen_lsn);
    if (rc != TW_OK)
        fprintf(stderr, "tracewire: old logs write-ahead log segments could not be deleted (%s); retried after "
                        "the next flush\n", tw_strerror(rc));
    tws_loghead_free(s->log_frozen);
    s->log_frozen = NULL;
    s->log_frozen_bytes = 0;
    tws_log_flush_maybe(s);
}

void tws_log_flush_maybe(tws_server *s) {
    if (!s->log_store || !s->log_wal) return;
    if (s->log_frozen) {
        if (s->log_flush_rc == 1) {
            s->log_flush_rc = 0;
            log_submit(s);
        }
        return;
    }
    tws_loghead_stats ls;
    tws_loghead_get_stats(s->logs, &ls);
    tws_wal_stats ws;
    tws_wal_get_stats(s->log_wal, &ws);
    /* forwarded logs need not enter the head: an empty "flush" moves the checkpoint past them */
    bool release_only = !ls.records && s->pipes && ws.segments > 1;
    if (!ls.records && !release_only) return;
    uint64_t limit = s->cfg.log_flush_bytes ? s->cfg.log_flush_bytes : s->cfg.log_head_max_bytes / 4;
    uint64_t interval = s->cfg.log_flush_interval_s ? s->cfg.log_flush_interval_s : s->cfg.head_flush_interval_s;
    bool old = s->log_since_ms && tw__mono_ms() - s->log_since_ms >= interval * 1000;
    if (ls.bytes < limit && !old && !release_only) return;
    tws_loghead *fresh;
    if (tws_log_head_new(s, &fresh) != TW_OK) return;
    uint64_t cut = ws.next_lsn;
    cut = TW_MIN(cut, tws_ingest_oldest_log_lsn(s));
    cut = TW_MIN(cut, s->log_pin_lsn);
    cut = TW_MIN(cut, tws_forward_oldest_lsn(s, TWS_FWD_LOGS));
    s->log_frozen = s->logs;
    s->log_frozen_bytes = ls.bytes;
    s->log_frozen_lsn = cut;
    s->logs = fresh;
    s->log_since_ms = 0;
    s->log_flush_rc = 0;
    log_submit(s);
}

int tws_log_flush_now(tws_server *s, uint64_t cut) {
    tws_loghead *fresh;
    int rc = tws_log_head_new(s, &fresh);
    if (rc) return rc;
    char err[256] = "";
    tws_loghead_stats ls;
    tws_loghead_get_stats(s->logs, &ls);
    fprintf(stderr, "tracewire: the log head is full during replay: writing %llu log records to blocks\n",
            (unsigned long long)ls.records);
    if ((rc = tws_store_flush_logs_now(s->log_store, s->logs, cut, err)) != TW_OK) {
        fprintf(stderr, "tracewire: %s\n", err[0] ? err : tw_strerror(rc));
        tws_loghead_free(fresh);
        return rc;
    }
    tws_loghead_free(s->logs);
    s->logs = fresh;
    s->log_since_ms = 0;
    return TW_OK;
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
    tws_flush_maybe(arg);
    tws_log_flush_maybe(arg);
}

int tws_flush_start(tws_server *s) {
    s->pin_lsn = s->log_pin_lsn = UINT64_MAX;
    s->flush_done_ev = event_new(s->base, -1, 0, on_flushed_loop, s);
    s->log_flush_done_ev = event_new(s->base, -1, 0, on_log_flushed_loop, s);
    s->flush_timer = event_new(s->base, -1, EV_PERSIST, on_tick, s);
    struct timeval tv = {1, 0};
    if (!s->flush_done_ev || !s->log_flush_done_ev || !s->flush_timer || event_add(s->flush_timer, &tv))
        return TW_ENOMEM;
    return TW_OK;
}
