/*
 * log_sources.h — where a log query finds records: the log head, the
 * frozen log head being written to blocks, and the log store's blocks, seen
 * through one table of streams.
 *
 * A stream is its canonical label key; the same key in two sources is one
 * stream, numbered from 0 in the order the query meets it. Records are
 * handed out as tws_log_ref whose `stream` is that number; the batches they
 * point to are the heads' (valid while the loop thread does not add to
 * them, i.e. for the request) or row groups decoded for the query (owned
 * here until tws_logsrc_free).
 *
 * A record can be in two sources for a moment (a frozen head whose blocks
 * are already in the store): callers drop exact duplicates, as Loki does
 * for entries with the same time, stream and line.
 *
 * Not thread-safe: one query on the loop thread.
 */
#ifndef TWS_SERVE_LOG_SOURCES_H
#define TWS_SERVE_LOG_SOURCES_H

#include "serve/server_int.h"

typedef struct tws_logsrc {
    tws_server *s;
    const char *tenant;
    struct lsrc_stream *st; /* the streams met so far */
    uint32_t n_st, cap_st;
    uint32_t *slots; /* key hash -> stream + 1 */
    uint32_t n_slots;
    uint32_t *map[2]; /* head / frozen head stream number -> stream + 1 (0: not met yet) */
    size_t n_map[2];
    tws_log_found found; /* row groups decoded for this query */
    uint64_t row_groups;  /* how many were read */
} tws_logsrc;

/* Decides whether a stream's records are wanted (for a scan). */
typedef bool (*tws_logsrc_want_fn)(void *user, uint32_t stream);

/* A growing array of records. */
typedef struct tws_logrefs {
    tws_log_ref *r;
    size_t n, cap;
} tws_logrefs;

int tws_logsrc_init(tws_logsrc *ls, tws_server *s, const char *tenant);
void tws_logsrc_free(tws_logsrc *ls);

uint32_t tws_logsrc_n_streams(const tws_logsrc *ls);
tw_str tws_logsrc_key(const tws_logsrc *ls, uint32_t stream);

/* The records of `trace_id` (and `span_id`, unless NULL) with a time in
 * [start_ns, end_ns] (end 0: any), from every source, appended to *out.
 * TW_OK, TW_ENOMEM; a damaged block is skipped (TW_EPARSE is returned
 * after the rest was read, *err says which). */
int tws_logsrc_by_trace(tws_logsrc *ls, const uint8_t trace_id[16], const uint8_t *span_id, uint64_t start_ns,
                        uint64_t end_ns, tws_logrefs *out, char err[256]);

/* The records in [start_ns, end_ns] of every stream `want` accepts (asked
 * once per stream, before any of its records is read), appended to *out. */
int tws_logsrc_scan(tws_logsrc *ls, uint64_t start_ns, uint64_t end_ns, tws_logsrc_want_fn want, void *user,
                    tws_logrefs *out, char err[256]);

/* Meet every stream with records in [start_ns, end_ns] (reading only the
 * blocks' stream tables), so that tws_logsrc_n_streams / _key list them. */
int tws_logsrc_list_streams(tws_logsrc *ls, uint64_t start_ns, uint64_t end_ns, char err[256]);

void tws_logrefs_free(tws_logrefs *r);

#endif
