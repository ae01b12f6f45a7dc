/*
 * otlp_http.c — the OTLP/HTTP exporter (protobuf or JSON) over libcurl, for
 * spans (POST /v1/traces) and for log records (POST /v1/logs): the two
 * differ only in their URL, their OTEL_EXPORTER_OTLP_{TRACES,LOGS}_*
 * variables, their encoder and the name of the partial-success count.
 *
 * One curl easy handle per exporter, driven through its own multi handle
 * and reused so that its connection stays alive between batches. A batch
 * is encoded once (and gzipped once) and POSTed until the peer answers:
 *   2xx                 done; a partial_success in the body is counted and
 *                       its message printed once per distinct text;
 *   429, 502, 503, 504,
 *   connection errors
 *   and timeouts        retried after an exponential backoff with full
 *                       jitter (a random wait in [0, b], b = initial x 2^k
 *                       capped at 30 s), never shorter than Retry-After
 *                       (delta-seconds or HTTP-date); given up when the
 *                       wait would end past the deadline;
 *   anything else       given up at once (TW_EREJECTED).
 * Each attempt is bounded by the per-attempt timeout and by the deadline.
 *
 * Options: `opts` NULL takes everything from the environment
 * (tw_otlp_options_from_env). Otherwise NULL endpoint, compression -1 and
 * timeout 0 fall back to the environment field by field; headers NULL means
 * no extra headers; max_elapsed and initial backoff 0 mean their defaults.
 *
 * Shutdown may come from another thread while an export is retrying: the
 * backoff sleeps on a condition variable that shutdown signals, and a
 * transfer in flight waits in curl_multi_poll, which shutdown interrupts
 * with curl_multi_wakeup, so shutdown is prompt.
 *
 * Fork: in the child, the inherited handle shares its sockets (and TLS
 * sessions) with the parent. after_fork_child only marks them stale; before
 * the child next uses or destroys the exporter, the stale handle's sockets,
 * which we track through curl's open/close socket callbacks, are pointed at
 * /dev/null with dup2 so that whatever curl sends while closing them (a TLS
 * close_notify) cannot reach the parent's connection, and the handle is
 * cleaned up; a fresh handle is made on demand. Only if the fork happened
 * in the middle of a request (the handle's state then is a snapshot of
 * another thread's work) is that handle's memory abandoned, never touched.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/buf.h"
#include "core/env.h"
#include "core/rand.h"
#include "export/export_int.h"
#include "common/json.h"
#include "export/otlp_int.h"
#include "common/pb.h"

#define DEFAULT_BASE "http://localhost:4318"
#define DEFAULT_TIMEOUT_MS 10000u
#define DEFAULT_MAX_ELAPSED_MS 60000u
#define DEFAULT_INITIAL_BACKOFF_MS 1000u
#define MAX_BACKOFF_MS 30000u
#define MAX_BODY ((size_t)64 << 20)     /* request body cap */
#define MAX_RESPONSE ((size_t)64 << 10) /* response bytes kept */
#define MAX_FDS 8
#define SEEN_MESSAGES 32
#define WARN_INTERVAL_NS 10000000000ull

/* An easy handle and the multi handle that drives it (and owns the
 * connection cache). */
typedef struct handles {
    CURL *easy;
    CURLM *multi;
} handles;

typedef struct otlp_http {
    tw_exporter base;
    tw__otlp_signal sig;
    char *url;
    bool json, gzip;
    uint32_t timeout_ms, max_elapsed_ms, initial_backoff_ms;
    struct curl_slist *headers;

    pthread_mutex_t mu; /* guards busy, cur, stale and the sleep */
    pthread_cond_t cv;  /* shutdown wakes a backoff sleep */
    bool busy;          /* an export is running */
    _Atomic bool shut;
    handles cur;
    handles stale;      /* inherited through fork, not yet dropped */
    bool stale_busy;    /* ...and they were in the middle of a request */
    int fds[MAX_FDS];   /* sockets curl opened through us */
    int n_fds;

    tw__buf body, gz, resp;
    int64_t retry_after_ms; /* of the last response; -1 when absent */
    uint64_t seen[SEEN_MESSAGES]; /* hashes of partial_success messages printed */
    unsigned n_seen;
    uint64_t last_warn_ns;
} otlp_http;

/* ---- options ------------------------------------------------------------------- */

static const struct signal_info {
    const char *env;      /* OTEL_EXPORTER_OTLP_<env>_* */
    const char *path;     /* appended to the generic endpoint */
    const char *rejected; /* the partial-success count in OTLP/JSON */
    const char *noun;
} SIGNALS[] = {
    [TW__OTLP_TRACES] = {"TRACES", "/v1/traces", "rejectedSpans", "span(s)"},
    [TW__OTLP_LOGS] = {"LOGS", "/v1/logs", "rejectedLogRecords", "log record(s)"},
};

/* OTEL_EXPORTER_OTLP_<SIGNAL>_<what>, else OTEL_EXPORTER_OTLP_<what>. */
static const char *env_pick(tw__otlp_signal sig, const char *what, const char **name) {
    static _Thread_local char n1[64], n2[64];
    snprintf(n1, sizeof n1, "OTEL_EXPORTER_OTLP_%s_%s", SIGNALS[sig].env, what);
    snprintf(n2, sizeof n2, "OTEL_EXPORTER_OTLP_%s", what);
    const char *v = tw__env(n1);
    *name = n1;
    if (!v) v = tw__env(n2), *name = n2;
    return v;
}

static tw_otlp_protocol env_protocol(tw__otlp_signal sig) {
    const char *name, *v = env_pick(sig, "PROTOCOL", &name);
    if (!v) return TW_OTLP_HTTP_PROTOBUF;
    size_t n = strlen(v);
    tw__trim(&v, &n);
    if (tw__strieq_n(v, n, "http/json")) return TW_OTLP_HTTP_JSON;
    if (tw__strieq_n(v, n, "grpc"))
        tw__warn("%s=grpc is not supported by this build; using http/protobuf", name);
    else if (!tw__strieq_n(v, n, "http/protobuf"))
        tw__warn("%s=\"%s\" is not http/protobuf, http/json or grpc; using http/protobuf", name, v);
    return TW_OTLP_HTTP_PROTOBUF;
}

static int env_gzip(tw__otlp_signal sig) {
    const char *name, *v = env_pick(sig, "COMPRESSION", &name);
    if (!v) return 0;
    size_t n = strlen(v);
    tw__trim(&v, &n);
    if (tw__strieq_n(v, n, "gzip")) return 1;
    if (!tw__strieq_n(v, n, "none")) tw__warn("%s=\"%s\" is not gzip or none; using none", name, v);
    return 0;
}

static uint32_t env_timeout_ms(tw__otlp_signal sig) {
    const char *name;
    return env_pick(sig, "TIMEOUT", &name) ? (uint32_t)TW_MIN(tw__env_uint(name, 0), UINT32_MAX) : 0;
}

static const char *env_endpoint(tw__otlp_signal sig) {
    char name[64];
    snprintf(name, sizeof name, "OTEL_EXPORTER_OTLP_%s_ENDPOINT", SIGNALS[sig].env);
    return tw__env(name);
}

void tw__otlp_options_from_env(tw__otlp_signal sig, tw_otlp_options *o) {
    const char *name;
    memset(o, 0, sizeof *o);
    /* The generic endpoint needs the signal's path appended: left NULL
     * here, tw__otlp_endpoint applies that rule. */
    o->endpoint = env_endpoint(sig);
    o->protocol = env_protocol(sig);
    o->compression_gzip = env_gzip(sig);
    o->headers = env_pick(sig, "HEADERS", &name);
    o->timeout_ms = env_timeout_ms(sig);
}

void tw_otlp_options_from_env(tw_otlp_options *o) { tw__otlp_options_from_env(TW__OTLP_TRACES, o); }

char *tw__otlp_endpoint(tw__otlp_signal sig, const char *endpoint) {
    const char *v = endpoint;
    if (!v) v = env_endpoint(sig);
    if (v) {
        size_t n = strlen(v);
        tw__trim(&v, &n);
        return tw__strndup(v, n);
    }
    if (!(v = tw__env("OTEL_EXPORTER_OTLP_ENDPOINT"))) v = DEFAULT_BASE;
    size_t n = strlen(v), pn = strlen(SIGNALS[sig].path);
    tw__trim(&v, &n);
    while (n && v[n - 1] == '/') n--;
    char *url = tw__malloc(n + pn + 1);
    if (url) {
        memcpy(url, v, n);
        memcpy(url + n, SIGNALS[sig].path, pn + 1);
    }
    return url;
}

static bool is_token_char(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* "k1=v1,k2=v2" (values percent-decoded) appended to *list as header lines. */
int tw__otlp_parse_headers(const char *s, struct curl_slist **list) {
    int rc = 0;
    while (s && *s) {
        const char *comma = strchr(s, ','), *end = comma ? comma : s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(end - s));
        const char *k = s, *v = eq ? eq + 1 : end;
        size_t kn = (size_t)((eq ? eq : end) - s), vn = (size_t)(end - v);
        s = comma ? comma + 1 : end;
        tw__trim(&k, &kn);
        tw__trim(&v, &vn);
        if (!eq && kn == 0) continue; /* an empty member */
        bool ok = eq && kn > 0;
        for (size_t i = 0; ok && i < kn; i++) ok = is_token_char((unsigned char)k[i]);
        if (!ok) {
            tw__warn("OTLP header \"%.*s\" is not key=value with a valid key; skipped", (int)(end - k), k);
            continue;
        }
        if (tw__strieq_n(k, kn, "content-type") || tw__strieq_n(k, kn, "content-encoding") ||
            tw__strieq_n(k, kn, "content-length")) {
            tw__warn("OTLP header %.*s is set by the exporter; skipped", (int)kn, k);
            continue;
        }
        char *line = tw__malloc(kn + vn + 3);
        if (!line) return TW_ENOMEM;
        memcpy(line, k, kn);
        size_t o = kn;
        line[o++] = vn ? ':' : ';'; /* curl: "Name;" sends an empty value */
        if (vn) line[o++] = ' ';
        for (size_t i = 0; i < vn; i++) {
            int hi, lo;
            if (v[i] == '%' && i + 2 < vn && (hi = tw__hexval((unsigned char)v[i + 1])) >= 0 &&
                (lo = tw__hexval((unsigned char)v[i + 2])) >= 0) {
                line[o++] = (char)(hi << 4 | lo);
                i += 2;
            } else {
                line[o++] = v[i];
            }
        }
        line[o] = '\0';
        if (strpbrk(line, "\r\n") || strlen(line) != o) {
            tw__warn("OTLP header %.*s has a control character in its value; skipped", (int)kn, k);
            tw__free(line);
            continue;
        }
        struct curl_slist *l = curl_slist_append(*list, line);
        tw__free(line);
        if (!l) return TW_ENOMEM;
        *list = l;
    }
    return rc;
}

/* ---- curl handle ----------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static curl_socket_t open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *a) {
    otlp_http *h = user;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0) return CURL_SOCKET_BAD;
    if (h->n_fds < MAX_FDS) h->fds[h->n_fds++] = fd;
    return fd;
}

static int close_socket(void *user, curl_socket_t fd) {
    otlp_http *h = user;
    for (int i = 0; i < h->n_fds; i++) {
        if (h->fds[i] == fd) {
            h->fds[i] = h->fds[--h->n_fds];
            break;
        }
    }
    return close(fd);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *user) {
    otlp_http *h = user;
    size_t n = size * nmemb;
    if (h->resp.len < MAX_RESPONSE) tw__buf_append(&h->resp, p, TW_MIN(n, MAX_RESPONSE - h->resp.len));
    return n;
}

/* Retry-After: delta-seconds or an HTTP-date; kept in ms, capped at an hour. */
static int64_t parse_retry_after(const char *v, size_t n) {
    tw__trim(&v, &n);
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n')) n--;
    if (n == 0 || n > 64) return -1;
    char tmp[65];
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    int64_t secs;
    if (strspn(tmp, "0123456789") == n) {
        secs = n > 5 ? 3600 : strtol(tmp, NULL, 10);
    } else {
        time_t t = curl_getdate(tmp, NULL);
        if (t < 0) return -1;
        secs = (int64_t)t - (int64_t)time(NULL);
        if (secs < 0) secs = 0;
    }
    return TW_MIN(secs, 3600) * 1000;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *user) {
    otlp_http *h = user;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) h->retry_after_ms = -1; /* a new response */
    if (n > 12 && tw__strieq_n(p, 12, "retry-after:")) h->retry_after_ms = parse_retry_after(p + 12, n - 12);
    return n;
}

static void free_handles(handles *x) {
    if (x->easy) curl_easy_cleanup(x->easy);
    if (x->multi) curl_multi_cleanup(x->multi); /* closes the cached connection */
    x->easy = NULL;
    x->multi = NULL;
}

static int make_handles(otlp_http *h) {
    CURL *c = h->cur.easy = curl_easy_init();
    h->cur.multi = curl_multi_init();
    if (!c || !h->cur.multi) {
        free_handles(&h->cur);
        return TW_ENOMEM;
    }
    curl_easy_setopt(c, CURLOPT_URL, h->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tracewire-c/" TW_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_MAXCONNECTS, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, h);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, h);
    curl_multi_setopt(h->cur.multi, CURLMOPT_MAXCONNECTS, 1L);
    return 0;
}

/* Release a handle inherited from the parent (see the top of the file).
 * Called with h->mu held, never while a request runs. */
static void drop_stale(otlp_http *h) {
    if (!h->stale.easy) return;
    if (h->stale_busy) {
        for (int i = 0; i < h->n_fds; i++) close(h->fds[i]);
    } else {
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int i = 0; null_fd >= 0 && i < h->n_fds; i++) dup2(null_fd, h->fds[i]);
        if (null_fd >= 0) close(null_fd);
        free_handles(&h->stale);
    }
    h->n_fds = 0;
    h->stale = (handles){NULL, NULL};
    h->stale_busy = false;
}

/* One transfer. Like curl_easy_perform, except that shutdown interrupts
 * the wait (CURLE_ABORTED_BY_CALLBACK). */
static CURLcode perform(otlp_http *h) {
    CURLM *m = h->cur.multi;
    CURLcode res = CURLE_OK;
    if (curl_multi_add_handle(m, h->cur.easy) != CURLM_OK) return CURLE_OUT_OF_MEMORY;
    for (;;) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(m, &running);
        if (mc != CURLM_OK) {
            res = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_RECV_ERROR;
            break;
        }
        if (!running) {
            int left;
            CURLMsg *msg;
            while ((msg = curl_multi_info_read(m, &left)))
                if (msg->msg == CURLMSG_DONE) res = msg->data.result;
            break;
        }
        if (atomic_load(&h->shut)) {
            res = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        /* curl shortens the wait to its own timers (the attempt timeout). */
        if (curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK) {
            res = CURLE_RECV_ERROR;
            break;
        }
    }
    curl_multi_remove_handle(m, h->cur.easy);
    return res;
}

/* ---- one batch -------------------------------------------------------------------- */

static int gzip_body(otlp_http *h) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return TW_ENOMEM;
    int rc = 0;
    tw__buf_reset(&h->gz);
    size_t bound = deflateBound(&z, (uLong)h->body.len);
    if ((rc = tw__buf_reserve(&h->gz, bound))) goto out;
    z.next_in = h->body.data;
    z.avail_in = (uInt)h->body.len;
    z.next_out = h->gz.data;
    z.avail_out = (uInt)bound;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        rc = TW_ENOMEM;
        goto out;
    }
    h->gz.len = bound - z.avail_out;
out:
    deflateEnd(&z);
    return rc;
}

static uint64_t hash_msg(const char *s, size_t n) {
    uint64_t x = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) x = (x ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return x;
}

/* Count the rejected spans (at most n) and print the message once; returns
 * how many of the n spans were rejected. */
static size_t partial_success(otlp_http *h, int64_t rejected, const char *msg, size_t msg_len, size_t n) {
    size_t r = rejected > 0 ? (size_t)TW_MIN((uint64_t)rejected, n) : 0;
    if (r == 0 && msg_len == 0) return 0;
    atomic_fetch_add(&h->base.counters.spans_rejected, r);
    uint64_t x = hash_msg(msg, msg_len);
    for (unsigned i = 0; i < TW_MIN(h->n_seen, SEEN_MESSAGES); i++)
        if (h->seen[i] == x) return r;
    h->seen[h->n_seen++ % SEEN_MESSAGES] = x;
    char clean[256];
    size_t cn = 0;
    for (size_t i = 0; i < msg_len && cn < sizeof clean - 1; i++)
        clean[cn++] = (unsigned char)msg[i] < 0x20 ? ' ' : msg[i];
    clean[cn] = '\0';
    tw__warn("OTLP peer %s rejected %zu %s: %s", h->url, r, SIGNALS[h->sig].noun, cn ? clean : "(no message)");
    return r;
}

/* ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1 }
 * ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2 }
 * and the same numbers in ExportLogsServiceResponse / ExportLogsPartialSuccess
 * (rejected_log_records = 1). */
static size_t parse_response(otlp_http *h, size_t n) {
    int64_t rejected = 0;
    const char *msg = NULL;
    size_t msg_len = 0;
    tw__buf tmp;
    tw__buf_init(&tmp, MAX_RESPONSE);
    if (!h->json) {
        tw__pb_reader r, ps;
        tw__pb_field f;
        tw__pb_reader_init(&r, h->resp.data, h->resp.len);
        while (tw__pb_next(&r, &f) == 1) {
            if (f.num != 1 || f.wire != TW_PB_LEN) continue;
            tw__pb_reader_init(&ps, f.data, f.len);
            while (tw__pb_next(&ps, &f) == 1) {
                if (f.num == 1 && f.wire == TW_PB_VARINT) rejected = (int64_t)f.u;
                if (f.num == 2 && f.wire == TW_PB_LEN) msg = (const char *)f.data, msg_len = f.len;
            }
        }
    } else if (h->resp.len) {
        tw_str body = {(const char *)h->resp.data, h->resp.len}, ps, v;
        if (tw__json_get(body, "partialSuccess", &ps) == 0) {
            if (tw__json_get(ps, SIGNALS[h->sig].rejected, &v) == 0) tw__json_to_int64(v, &rejected);
            if (tw__json_get(ps, "errorMessage", &v) == 0 && tw__json_unquote(v, &tmp) == 0)
                msg = (const char *)tmp.data, msg_len = tmp.len;
        }
    }
    size_t r = partial_success(h, rejected, msg, msg_len, n);
    tw__buf_free(&tmp);
    return r;
}

static bool transient(CURLcode c) {
    switch (c) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return true;
    default: return false;
    }
}

static void warn_limited(otlp_http *h, const char *what, long status, CURLcode cc) {
    uint64_t now = tw_now_ns();
    if (h->last_warn_ns && now - h->last_warn_ns < WARN_INTERVAL_NS) return;
    h->last_warn_ns = now;
    if (cc != CURLE_OK) {
        tw__warn("OTLP export to %s %s: %s", h->url, what, curl_easy_strerror(cc));
    } else {
        int bl = (int)TW_MIN(h->resp.len, 200);
        for (int i = 0; i < bl; i++)
            if (h->resp.data[i] < 0x20) h->resp.data[i] = ' ';
        tw__warn("OTLP export to %s %s: HTTP %ld%s%.*s", h->url, what, status, bl ? ": " : "", bl,
                 bl ? (const char *)h->resp.data : "");
    }
}

/* Sleep up to `ms`; true when shutdown interrupted it. */
static bool backoff_sleep(otlp_http *h, uint64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&h->mu);
    while (!atomic_load(&h->shut))
        if (pthread_cond_timedwait(&h->cv, &h->mu, &ts) == ETIMEDOUT) break;
    bool shut = atomic_load(&h->shut);
    pthread_mutex_unlock(&h->mu);
    return shut;
}

static uint64_t now_ms(void) { return tw_now_ns() / 1000000u; }

/* Claim the handle for one export: drops a stale one, makes one if needed. */
static int begin_use(otlp_http *h) {
    int rc = 0;
    pthread_mutex_lock(&h->mu);
    if (atomic_load(&h->shut)) {
        rc = TW_ESHUTDOWN;
    } else {
        drop_stale(h);
        if (!h->cur.easy) rc = make_handles(h);
        if (!rc) h->busy = true;
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static void end_use(otlp_http *h) {
    pthread_mutex_lock(&h->mu);
    h->busy = false;
    if (atomic_load(&h->shut)) free_handles(&h->cur);
    pthread_mutex_unlock(&h->mu);
    /* Do not hold on to the memory of one unusually large batch. */
    if (h->body.cap > (size_t)4 << 20) tw__buf_free(&h->body);
    if (h->gz.cap > (size_t)4 << 20) tw__buf_free(&h->gz);
}

/* Writes the request body for a batch of n items into `out`. */
typedef int (*encode_fn)(tw__buf *out, bool json, const void *batch);

/* Encode a batch of n items, POST it with retries, count the outcome. */
static int post(otlp_http *h, size_t n, uint64_t deadline_ns, encode_fn encode, const void *batch) {
    tw__exporter_counters *ctr = &h->base.counters;
    int rc = begin_use(h);
    if (rc) {
        atomic_fetch_add(&ctr->spans_failed, n);
        return rc;
    }
    tw__buf_reset(&h->body);
    rc = encode(&h->body, h->json, batch);
    if (!rc && h->gzip) rc = gzip_body(h);
    if (rc) goto out;
    const tw__buf *send = h->gzip ? &h->gz : &h->body;
    CURL *c = h->cur.easy;
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)send->data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)send->len);

    uint64_t start = now_ms(), dl = deadline_ns / 1000000u;
    if (start + h->max_elapsed_ms < dl) dl = start + h->max_elapsed_ms;
    uint64_t backoff = h->initial_backoff_ms;
    size_t rejected = 0;
    for (unsigned attempt = 0;; attempt++) {
        uint64_t now = now_ms();
        if (atomic_load(&h->shut)) {
            rc = TW_ESHUTDOWN;
            break;
        }
        if (now >= dl) {
            rc = TW_ETIMEDOUT;
            break;
        }
        long t = (long)TW_MIN((uint64_t)h->timeout_ms, dl - now);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, t);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, t);
        tw__buf_reset(&h->resp);
        h->retry_after_ms = -1;
        if (attempt) atomic_fetch_add(&ctr->retries, 1);
        atomic_fetch_add(&ctr->requests, 1);
        CURLcode cc = perform(h);
        long status = 0;
        if (cc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (cc == CURLE_OK && status >= 200 && status < 300) {
            rejected = parse_response(h, n);
            rc = TW_OK;
            break;
        }
        if (cc == CURLE_ABORTED_BY_CALLBACK) {
            rc = TW_ESHUTDOWN;
            break;
        }
        bool retry = cc != CURLE_OK ? transient(cc)
                                    : (status == 429 || status == 502 || status == 503 || status == 504);
        if (!retry) {
            warn_limited(h, "failed", status, cc);
            rc = cc != CURLE_OK ? (cc == CURLE_OUT_OF_MEMORY ? TW_ENOMEM : TW_EIO) : TW_EREJECTED;
            break;
        }
        uint64_t cap = TW_MIN(backoff, (uint64_t)MAX_BACKOFF_MS);
        uint64_t wait = tw__rand64() % (cap + 1); /* full jitter */
        backoff = TW_MIN(backoff * 2, (uint64_t)MAX_BACKOFF_MS);
        if (h->retry_after_ms >= 0 && wait < (uint64_t)h->retry_after_ms) wait = (uint64_t)h->retry_after_ms;
        if (now_ms() + wait >= dl) {
            warn_limited(h, "gave up retrying", status, cc);
            rc = TW_ETIMEDOUT;
            break;
        }
        if (backoff_sleep(h, wait)) {
            rc = TW_ESHUTDOWN;
            break;
        }
    }
out:
    if (rc == TW_OK) {
        atomic_fetch_add(&ctr->spans_exported, n - rejected); /* rejected: counted apart */
    } else {
        atomic_fetch_add(&ctr->spans_failed, n);
    }
    end_use(h);
    return rc;
}

typedef struct span_batch {
    tw_span *const *spans;
    size_t n;
} span_batch;

static int encode_spans(tw__buf *out, bool json, const void *batch) {
    const span_batch *sb = batch;
    return json ? tw__otlp_traces_json(out, sb->spans, sb->n) : tw__otlp_traces_pb(out, sb->spans, sb->n);
}

static int http_export(tw_exporter *e, tw_span *const *spans, size_t n, uint64_t deadline_ns) {
    otlp_http *h = (otlp_http *)e;
    if (h->sig != TW__OTLP_TRACES) return TW_EINVAL;
    return post(h, n, deadline_ns, encode_spans, &(span_batch){spans, n});
}

static int encode_logs(tw__buf *out, bool json, const void *batch) {
    return json ? tw__otlp_logs_json(out, batch) : tw__otlp_logs_pb(out, batch);
}

static int http_export_logs(tw_exporter *e, const tw__log_batch *b, uint64_t deadline_ns) {
    otlp_http *h = (otlp_http *)e;
    if (h->sig != TW__OTLP_LOGS) return TW_EINVAL;
    return post(h, b->n, deadline_ns, encode_logs, b);
}

/* ---- lifecycle --------------------------------------------------------------------- */

static void http_shutdown(tw_exporter *e) {
    otlp_http *h = (otlp_http *)e;
    pthread_mutex_lock(&h->mu);
    atomic_store(&h->shut, true);
    pthread_cond_broadcast(&h->cv);
    if (h->busy) {
        curl_multi_wakeup(h->cur.multi); /* out of curl_multi_poll */
    } else {
        drop_stale(h);
        free_handles(&h->cur);
    }
    pthread_mutex_unlock(&h->mu);
}

static void init_sync(otlp_http *h) {
    pthread_condattr_t ca;
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
}

static void http_after_fork_child(tw_exporter *e) {
    otlp_http *h = (otlp_http *)e;
    /* This process has one thread: whoever held the lock is gone. */
    init_sync(h);
    if (h->cur.easy) {
        if (h->stale.easy) drop_stale(h); /* forked twice without using it */
        h->stale = h->cur;
        h->stale_busy = h->busy;
        h->cur = (handles){NULL, NULL};
    }
    if (h->busy) {
        /* The buffers were being written by a thread that is not here. */
        tw__buf_init(&h->body, MAX_BODY);
        tw__buf_init(&h->gz, 0);
        tw__buf_init(&h->resp, MAX_RESPONSE);
        h->busy = false;
    }
}

static void http_destroy(tw_exporter *e) {
    otlp_http *h = (otlp_http *)e;
    http_shutdown(e);
    pthread_mutex_lock(&h->mu);
    drop_stale(h);
    pthread_mutex_unlock(&h->mu);
    curl_slist_free_all(h->headers);
    tw__buf_free(&h->body);
    tw__buf_free(&h->gz);
    tw__buf_free(&h->resp);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    tw__free(h->url);
    tw__free(h);
}

static const tw__exporter_ops http_ops = {
    .export_spans = http_export,
    .export_logs = http_export_logs,
    .shutdown = http_shutdown,
    .after_fork_child = http_after_fork_child,
    .destroy = http_destroy,
};

int tw__otlp_http_new(tw__otlp_signal sig, const tw_otlp_options *opts, tw_exporter **out) {
    tw_otlp_options env;
    const tw_otlp_options *o = opts;
    int rc = TW_ENOMEM;
    if (!out) return TW_EINVAL;
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) return TW_ENOMEM;
    if (!o) {
        tw__otlp_options_from_env(sig, &env);
        o = &env;
    }
    otlp_http *h = tw__calloc(1, sizeof *h);
    if (!h) return TW_ENOMEM;
    h->base.ops = &http_ops;
    h->sig = sig;
    init_sync(h);
    tw__buf_init(&h->body, MAX_BODY);
    tw__buf_init(&h->gz, 0);
    tw__buf_init(&h->resp, MAX_RESPONSE);
    h->json = o->protocol == TW_OTLP_HTTP_JSON;
    h->gzip = (o->compression_gzip < 0 ? env_gzip(sig) : o->compression_gzip) > 0;
    h->timeout_ms = o->timeout_ms ? o->timeout_ms : env_timeout_ms(sig);
    if (!h->timeout_ms) h->timeout_ms = DEFAULT_TIMEOUT_MS;
    h->max_elapsed_ms = o->max_elapsed_ms ? o->max_elapsed_ms : DEFAULT_MAX_ELAPSED_MS;
    h->initial_backoff_ms = o->initial_backoff_ms ? o->initial_backoff_ms : DEFAULT_INITIAL_BACKOFF_MS;
    if (!(h->url = tw__otlp_endpoint(sig, o->endpoint))) goto fail;
    const char *fixed[] = {
        h->json ? "Content-Type: application/json" : "Content-Type: application/x-protobuf",
        "Expect:", /* no 100-continue round trip */
        h->gzip ? "Content-Encoding: gzip" : NULL,
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(fixed); i++) {
        if (!fixed[i]) continue;
        struct curl_slist *l = curl_slist_append(h->headers, fixed[i]);
        if (!l) goto fail;
        h->headers = l;
    }
    if ((rc = tw__otlp_parse_headers(o->headers, &h->headers))) goto fail;
    *out = &h->base;
    return TW_OK;
fail:
    http_destroy(&h->base);
    return rc;
}

int tw_exporter_otlp_http_new(const tw_otlp_options *opts, tw_exporter **out) {
    return tw__otlp_http_new(TW__OTLP_TRACES, opts, out);
}
