/*
 * queue.c — the forwarding queue and its sender (queue.h).
 *
 * Queue record (WAL type 1):
 *   0 1 version (1)   1 1 signal (TWS_FWD_*)   2 1 tenant length T   3 T tenant
 *   3+T 8 source LSN (LE)   11+T .. the OTLP request, protobuf
 * <dir>/delivered: "tracewire-delivered 1 <queue LSN>\n" — records below it
 * were delivered (or given up); written by rename, so it is whole or old.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "common/clock.h"
#include "forward/grpc_reply.h"
#include "forward/http_reply.h"
#include "forward/queue.h"
#include "wal/wal.h"

typedef struct entry {
    struct entry *next;
    uint64_t qlsn, next_qlsn; /* its queue record, and where the next one starts */
    uint64_t source_lsn;
    int signal;
    char tenant[160];
    uint8_t *body;
    size_t len;
    uint64_t first_try_ms;
} entry;

struct tws_fwd {
    tws_fwd_options o;
    char url_traces[600], url_logs[600];
    tws_wal *wal;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    bool started, stop;
    entry *head, *tail;       /* durable, waiting to be sent, in queue order */
    uint64_t *pending;        /* appends not yet durable: pkey(signal, source LSN) */
    size_t n_pending, cap_pending;
    uint64_t bytes;           /* queued, durable or not */
    uint64_t delivered_lsn;
    tws_fwd_stats st;
    CURL *curl;
    long retry_after_s;       /* HTTP: Retry-After of the last answer */
    uint64_t retry_after_ms;  /* the delay the last answer asked for (0: none) */
    tws_grpc_reply grpc;      /* gRPC: the last call's status */
    char last_error[300];     /* why the last request was not delivered */
};

enum { REC_TYPE = 1, REC_V1 = 1 };
#define MAX_THROTTLE_MS (5 * 60 * 1000) /* a receiver asking for longer gets 5 minutes */

/* ---- the delivered cursor ------------------------------------------------------------------ */

static int read_cursor(tws_fwd *f, char err[256]) {
    char path[700], text[80];
    snprintf(path, sizeof path, "%s/delivered", f->o.dir);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        if (errno == ENOENT) return TW_OK;
        snprintf(err, 256, "%.200s: %s", path, strerror(errno));
        return TW_EIO;
    }
    unsigned long long v;
    char tail;
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    if (sscanf(text, "tracewire-delivered 1 %llu%c", &v, &tail) != 2 || tail != '\n') {
        snprintf(err, 256, "%.200s is damaged (expected \"tracewire-delivered 1 <lsn>\")", path);
        return TW_EINVAL;
    }
    f->delivered_lsn = v;
    return TW_OK;
}

static void write_cursor(tws_fwd *f, uint64_t lsn) {
    char path[700], tmp[720], text[80];
    snprintf(path, sizeof path, "%s/delivered", f->o.dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int n = snprintf(text, sizeof text, "tracewire-delivered 1 %llu\n", (unsigned long long)lsn);
    FILE *fp = fopen(tmp, "w");
    bool ok = fp && fwrite(text, 1, (size_t)n, fp) == (size_t)n;
    if (fp && fclose(fp) != 0) ok = false;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "tracewire: cannot record delivery in %s (%s): those requests may be sent again after a restart\n",
                path, strerror(errno));
        return;
    }
    if (tws_wal_release_before(f->wal, lsn) != TW_OK)
        fprintf(stderr, "tracewire: old forwarding queue segments in %s could not be deleted\n", f->o.dir);
}

/* ---- sending ---------------------------------------------------------------------------- */

static int gzip_body(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len) {
    z_stream z = {0};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return TW_ENOMEM;
    size_t cap = deflateBound(&z, (uLong)len) + 32;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return TW_ENOMEM;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (r != Z_STREAM_END) {
        free(buf);
        return TW_ENOMEM;
    }
    *out = buf;
    return TW_OK;
}

/* The gRPC request body: one message, its 5-byte prefix (compressed flag,
 * big-endian length) and the request, gzip-compressed when `gz` is set. */
static uint8_t *grpc_frame(const entry *e, const uint8_t *gz, size_t gzlen, size_t *out_len) {
    const uint8_t *m = gz ? gz : e->body;
    size_t len = gz ? gzlen : e->len;
    uint8_t *w = malloc(len + 5);
    if (!w) return NULL;
    w[0] = gz ? 1 : 0;
    w[1] = (uint8_t)(len >> 24), w[2] = (uint8_t)(len >> 16), w[3] = (uint8_t)(len >> 8), w[4] = (uint8_t)len;
    memcpy(w + 5, m, len);
    *out_len = len + 5;
    return w;
}

/* One request: 1 delivered, 0 retry later, -1 refused (f->last_error says why). */
static int post(tws_fwd *f, const entry *e) {
    CURL *c = f->curl;
    uint8_t *zbody = NULL, *frame = NULL;
    size_t zlen = 0, flen = 0;
    if (f->o.gzip && gzip_body(e->body, e->len, &zbody, &zlen) != TW_OK) return 0;
    if (f->o.grpc && !(frame = grpc_frame(e, zbody, zlen, &flen))) {
        free(zbody);
        return 0;
    }
    struct curl_slist *h = NULL;
    char line[200];
    if (f->o.grpc) {
        h = curl_slist_append(h, "Content-Type: application/grpc");
        h = curl_slist_append(h, "TE: trailers");
        if (f->o.gzip) h = curl_slist_append(h, "grpc-encoding: gzip");
        snprintf(line, sizeof line, "grpc-timeout: %um", (unsigned)f->o.timeout_ms);
        h = curl_slist_append(h, line);
    } else {
        h = curl_slist_append(h, "Content-Type: application/x-protobuf");
        if (f->o.gzip) h = curl_slist_append(h, "Content-Encoding: gzip");
    }
    snprintf(line, sizeof line, "X-Scope-OrgID: %s", e->tenant);
    h = curl_slist_append(h, line);
    for (size_t i = 0; f->o.headers && f->o.headers[i]; i++) h = curl_slist_append(h, f->o.headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, e->signal == TWS_FWD_LOGS ? f->url_logs : f->url_traces);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    const uint8_t *body = frame ? frame : zbody ? zbody : e->body;
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(frame ? flen : zbody ? zlen : e->len));
    f->retry_after_s = 0;
    f->retry_after_ms = 0;
    tws_grpc_reply_reset(&f->grpc);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    free(zbody);
    free(frame);
    if (f->o.grpc) {
        int r = tws_grpc_outcome(&f->grpc, code);
        if (r == 1) return 1;
        if (f->grpc.status >= 0)
            snprintf(f->last_error, sizeof f->last_error, "grpc-status %d: %.200s", f->grpc.status, f->grpc.message);
        else if (rc != CURLE_OK)
            snprintf(f->last_error, sizeof f->last_error, "%.200s", curl_easy_strerror(rc));
        else
            snprintf(f->last_error, sizeof f->last_error, "HTTP %ld without a gRPC status", code);
        f->retry_after_ms = f->grpc.retry_ms;
        return r;
    }
    if (rc != CURLE_OK) {
        snprintf(f->last_error, sizeof f->last_error, "%.200s", curl_easy_strerror(rc));
        return 0;
    }
    if (code >= 200 && code < 300) return 1;
    if (f->retry_after_s > 0) f->retry_after_ms = (uint64_t)f->retry_after_s * 1000;
    snprintf(f->last_error, sizeof f->last_error, "HTTP %ld", code);
    return code == 429 || code >= 500 ? 0 : -1;
}

/* Sleep `ms` (the lock held; released meanwhile), woken early only by
 * close: the same condition variable announces new requests, which must
 * not cut a backoff short. */
static void wait_ms(tws_fwd *f, uint64_t ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    while (!f->stop && pthread_cond_timedwait(&f->cv, &f->mu, &until) != ETIMEDOUT) {
    }
}

static void *sender(void *arg) {
    tws_fwd *f = arg;
    uint64_t backoff = f->o.initial_interval_ms;
    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        if (!f->head) {
            pthread_cond_wait(&f->cv, &f->mu);
            continue;
        }
        entry *e = f->head; /* stays queued until it is done with */
        if (!e->first_try_ms) e->first_try_ms = tw__mono_ms();
        pthread_mutex_unlock(&f->mu);
        int r = post(f, e);
        pthread_mutex_lock(&f->mu);
        if (r == 0) {
            f->st.retries++;
            if (f->o.max_elapsed_ms && tw__mono_ms() - e->first_try_ms >= f->o.max_elapsed_ms) {
                f->st.given_up++;
                fprintf(stderr, "tracewire: forwarding to %s: a request was given up after retrying for %llu ms (%s)\n",
                        f->o.endpoint, (unsigned long long)f->o.max_elapsed_ms, f->last_error);
            } else {
                /* The receiver's own delay (Retry-After, RetryInfo) wins over
                 * the backoff when longer, as the Collector's exporters do. */
                uint64_t ms = backoff > f->o.max_interval_ms ? f->o.max_interval_ms : backoff;
                if (f->retry_after_ms > ms) ms = f->retry_after_ms < MAX_THROTTLE_MS ? f->retry_after_ms : MAX_THROTTLE_MS;
                backoff = backoff * 2 > f->o.max_interval_ms ? f->o.max_interval_ms : backoff * 2;
                wait_ms(f, ms);
                continue;
            }
        } else if (r < 0) {
            f->st.refused++;
            fprintf(stderr, "tracewire: forwarding to %s: the receiver refused a request (%s; not retried)\n",
                    f->o.endpoint, f->last_error);
        } else {
            f->st.sent++;
        }
        backoff = f->o.initial_interval_ms;
        f->head = e->next;
        if (!f->head) f->tail = NULL;
        f->bytes -= e->len;
        f->st.queued--;
        uint64_t cursor = e->next_qlsn;
        free(e->body);
        free(e);
        pthread_mutex_unlock(&f->mu);
        write_cursor(f, cursor);
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* ---- the queue ------------------------------------------------------------------------- */

/* Parse a queue record into a new entry (NULL on a malformed one). */
static entry *entry_from(const uint8_t *p, size_t len, uint64_t qlsn) {
    if (len < 11 || p[0] != REC_V1 || (p[1] != TWS_FWD_TRACES && p[1] != TWS_FWD_LOGS) || (size_t)p[2] + 11 > len)
        return NULL;
    entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    size_t tl = p[2], off = 3 + tl;
    e->signal = p[1];
    memcpy(e->tenant, p + 3, tl);
    e->tenant[tl] = '\0';
    for (int i = 0; i < 8; i++) e->source_lsn |= (uint64_t)p[off + i] << (8 * i);
    off += 8;
    e->len = len - off;
    e->body = malloc(e->len ? e->len : 1);
    if (!e->body) {
        free(e);
        return NULL;
    }
    memcpy(e->body, p + off, e->len);
    e->qlsn = qlsn;
    e->next_qlsn = qlsn + 12 + len;
    return e;
}

static void push(tws_fwd *f, entry *e) {
    if (f->tail) f->tail->next = e;
    else f->head = e;
    f->tail = e;
    f->st.queued++;
}

static int on_replay(void *user, uint8_t type, const uint8_t *p, size_t len, uint64_t lsn) {
    tws_fwd *f = user;
    if (type != REC_TYPE || lsn < f->delivered_lsn) return TW_OK;
    entry *e = entry_from(p, len, lsn);
    if (!e) {
        fprintf(stderr, "tracewire: %s: a queued request at %llu is malformed: skipped\n", f->o.dir,
                (unsigned long long)lsn);
        return TW_OK;
    }
    push(f, e);
    f->bytes += e->len;
    return TW_OK;
}

typedef struct append_ctx {
    tws_fwd *f;
    entry *e;
} append_ctx;

/* Traces and logs come from two WALs, each with its own LSNs. */
static uint64_t pkey(int signal, uint64_t lsn) { return lsn << 1 | (signal == TWS_FWD_LOGS); }

static void drop_pending(tws_fwd *f, int signal, uint64_t source_lsn) {
    for (size_t i = 0; i < f->n_pending; i++)
        if (f->pending[i] == pkey(signal, source_lsn)) {
            f->pending[i] = f->pending[--f->n_pending];
            return;
        }
}

/* On the queue WAL's flusher thread. */
static void on_durable(void *user, int rc, uint64_t lsn) {
    append_ctx *a = user;
    tws_fwd *f = a->f;
    entry *e = a->e;
    free(a);
    pthread_mutex_lock(&f->mu);
    drop_pending(f, e->signal, e->source_lsn);
    if (rc == TW_OK) {
        e->qlsn = lsn;
        e->next_qlsn = lsn + 12 + 11 + strlen(e->tenant) + e->len;
        push(f, e);
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        return;
    }
    f->st.failed++;
    f->bytes -= e->len;
    pthread_mutex_unlock(&f->mu);
    fprintf(stderr, "tracewire: the forwarding queue in %s failed (%s): a request was not queued\n", f->o.dir,
            tw_strerror(rc));
    free(e->body);
    free(e);
}

int tws_fwd_enqueue(tws_fwd *f, int signal, const char *tenant, const uint8_t *pb, size_t len, uint64_t source_lsn) {
    size_t tl = strlen(tenant);
    if (tl >= sizeof ((entry *)0)->tenant) return TW_EINVAL;
    pthread_mutex_lock(&f->mu);
    bool full = f->bytes + len > f->o.queue_bytes;
    if (!full && f->n_pending == f->cap_pending) {
        size_t cap = f->cap_pending ? f->cap_pending * 2 : 16;
        uint64_t *p = realloc(f->pending, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&f->mu);
            return TW_ENOMEM;
        }
        f->pending = p;
        f->cap_pending = cap;
    }
    if (full) {
        pthread_mutex_unlock(&f->mu);
        return TW_EFULL;
    }
    f->pending[f->n_pending++] = pkey(signal, source_lsn);
    f->bytes += len;
    pthread_mutex_unlock(&f->mu);

    entry *e = calloc(1, sizeof *e);
    append_ctx *a = malloc(sizeof *a);
    uint8_t hdr[3 + 160 + 8];
    int rc = e && a && (e->body = malloc(len ? len : 1)) ? TW_OK : TW_ENOMEM;
    if (rc == TW_OK) {
        e->signal = signal;
        memcpy(e->tenant, tenant, tl + 1);
        e->source_lsn = source_lsn;
        e->len = len;
        memcpy(e->body, pb, len);
        hdr[0] = REC_V1;
        hdr[1] = (uint8_t)signal;
        hdr[2] = (uint8_t)tl;
        memcpy(hdr + 3, tenant, tl);
        for (int i = 0; i < 8; i++) hdr[3 + tl + i] = (uint8_t)(source_lsn >> (8 * i));
        tw_str parts[2] = {{(const char *)hdr, 11 + tl}, {(const char *)pb, len}};
        *a = (append_ctx){f, e};
        rc = tws_wal_append_async(f->wal, REC_TYPE, parts, 2, on_durable, a, NULL);
    }
    if (rc != TW_OK) {
        pthread_mutex_lock(&f->mu);
        drop_pending(f, signal, source_lsn);
        f->bytes -= len;
        pthread_mutex_unlock(&f->mu);
        if (e) free(e->body);
        free(e);
        free(a);
        return rc;
    }
    pthread_mutex_lock(&f->mu);
    f->st.enqueued++;
    pthread_mutex_unlock(&f->mu);
    return TW_OK;
}

uint64_t tws_fwd_oldest_pending(tws_fwd *f, int signal) {
    pthread_mutex_lock(&f->mu);
    uint64_t m = UINT64_MAX;
    for (size_t i = 0; i < f->n_pending; i++)
        if ((f->pending[i] & 1) == (signal == TWS_FWD_LOGS) && f->pending[i] >> 1 < m) m = f->pending[i] >> 1;
    pthread_mutex_unlock(&f->mu);
    return m;
}

void tws_fwd_get_stats(tws_fwd *f, tws_fwd_stats *out) {
    pthread_mutex_lock(&f->mu);
    *out = f->st;
    out->queued_bytes = f->bytes;
    pthread_mutex_unlock(&f->mu);
}

int tws_fwd_open(const tws_fwd_options *o, tws_fwd **out, char err[256]) {
    tws_fwd *f = calloc(1, sizeof *f);
    if (!f) return TW_ENOMEM;
    f->o = *o;
    if (!f->o.queue_bytes) f->o.queue_bytes = 256u << 20;
    if (!f->o.initial_interval_ms) f->o.initial_interval_ms = 5000;
    if (!f->o.max_interval_ms) f->o.max_interval_ms = 30000;
    if (f->o.max_interval_ms < f->o.initial_interval_ms) f->o.max_interval_ms = f->o.initial_interval_ms;
    if (!f->o.timeout_ms) f->o.timeout_ms = 5000;
    size_t el = strlen(f->o.endpoint);
    while (el && f->o.endpoint[el - 1] == '/') f->o.endpoint[--el] = '\0';
    snprintf(f->url_traces, sizeof f->url_traces, "%s%s", f->o.endpoint,
             f->o.grpc ? "/opentelemetry.proto.collector.trace.v1.TraceService/Export" : "/v1/traces");
    snprintf(f->url_logs, sizeof f->url_logs, "%s%s", f->o.endpoint,
             f->o.grpc ? "/opentelemetry.proto.collector.logs.v1.LogsService/Export" : "/v1/logs");
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    int rc = read_cursor(f, err);
    tws_wal_replay rp = {.record = on_replay, .user = f};
    tws_wal_options wo = {.segment_bytes = 8u << 20, .max_pending = f->o.queue_bytes, .no_sync = o->no_sync,
                          .min_lsn = f->delivered_lsn};
    char msg[256] = "";
    if (rc == TW_OK && (rc = tws_wal_open(f->o.dir, &wo, &rp, &f->wal, msg)) != TW_OK)
        snprintf(err, 256, "the forwarding queue in %.120s: %.100s", f->o.dir, msg[0] ? msg : tw_strerror(rc));
    if (rc == TW_OK && !(f->curl = curl_easy_init())) rc = TW_ENOMEM;
    if (rc == TW_OK) {
        curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, tws_http_discard);
        if (f->o.grpc) {
            curl_easy_setopt(f->curl, CURLOPT_HEADERFUNCTION, tws_grpc_on_header);
            curl_easy_setopt(f->curl, CURLOPT_HEADERDATA, &f->grpc);
            curl_easy_setopt(f->curl, CURLOPT_HTTP_VERSION, strncmp(f->o.endpoint, "https://", 8)
                                                                 ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                                                                 : (long)CURL_HTTP_VERSION_2TLS);
            /* libcurl before 8.0 fails (CURLE_HTTP2) every request that
             * reuses a prior-knowledge HTTP/2 connection (curl issue 10634,
             * fixed by curl PR 10643): one cleartext connection per call there. */
            if (strncmp(f->o.endpoint, "https://", 8) && curl_version_info(CURLVERSION_NOW)->version_num < 0x080000)
                curl_easy_setopt(f->curl, CURLOPT_FORBID_REUSE, 1L);
        } else {
            curl_easy_setopt(f->curl, CURLOPT_HEADERFUNCTION, tws_http_on_header);
            curl_easy_setopt(f->curl, CURLOPT_HEADERDATA, &f->retry_after_s);
        }
        curl_easy_setopt(f->curl, CURLOPT_TIMEOUT_MS, (long)f->o.timeout_ms);
        curl_easy_setopt(f->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(f->o.timeout_ms < 3000 ? f->o.timeout_ms : 3000));
        curl_easy_setopt(f->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(f->curl, CURLOPT_USERAGENT, "tracewire/" TW_VERSION_STRING);
        if (pthread_create(&f->th, NULL, sender, f) != 0) rc = TW_ENOMEM;
        else f->started = true;
    }
    if (rc != TW_OK) {
        if (!err[0]) snprintf(err, 256, "%s", tw_strerror(rc));
        tws_fwd_close(f);
        return rc;
    }
    *out = f;
    return TW_OK;
}

void tws_fwd_close(tws_fwd *f) {
    if (!f) return;
    if (f->started) {
        pthread_mutex_lock(&f->mu);
        f->stop = true;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->th, NULL);
    }
    if (f->wal) tws_wal_close(f->wal); /* completes appends still queued */
    if (f->curl) curl_easy_cleanup(f->curl);
    for (entry *e = f->head, *nx; e; e = nx) {
        nx = e->next;
        free(e->body);
        free(e);
    }
    free(f->pending);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}
