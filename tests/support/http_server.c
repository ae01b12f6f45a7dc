/*
 * http_server.c — the test HTTP/1.1 server (see http_server.h).
 *
 * One thread runs a poll() loop over the listening socket, a wake-up pipe
 * and up to MAX_CONNS client connections. Each connection accumulates
 * input until a whole request is there, records it, and holds the chosen
 * response until its due time (delay_ms), then writes it. Test code only:
 * it trusts its clients and aborts on allocation failure.
 */
#include "http_server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_CONNS 32

typedef struct conn {
    int fd;
    unsigned id;
    char *in;
    size_t in_len, in_cap;
    bool pending; /* a response waits for its due time */
    char *out;
    size_t out_len;
    uint64_t due_ns;
    bool close_after, drop;
} conn;

struct tw_test_server {
    int listen_fd;
    int wake[2];
    uint16_t port;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a request was recorded */
    bool stop;

    tw_test_request **reqs;
    size_t n_reqs, cap_reqs;
    tw_test_response *script; /* copies with owned headers/body */
    size_t n_script, cap_script, script_pos;
    tw_test_response def;
    tw_test_handler handler;
    void *handler_user;
    unsigned n_conns_accepted;

    conn conns[MAX_CONNS];
    size_t n_conns;
};

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) abort();
    return p;
}

static char *xstrndup(const char *s, size_t n) {
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

uint64_t tw_test_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- responses --------------------------------------------------------------------- */

static size_t body_len_of(const tw_test_response *r) {
    if (!r->body) return 0;
    return r->body_len == (size_t)-1 ? strlen(r->body) : r->body_len;
}

/* A deep copy whose strings the server owns. */
static tw_test_response copy_response(const tw_test_response *r) {
    tw_test_response c = *r;
    size_t bl = body_len_of(r);
    c.headers = r->headers ? xstrndup(r->headers, strlen(r->headers)) : NULL;
    c.body = r->body ? xstrndup(r->body, bl) : NULL;
    c.body_len = bl;
    return c;
}

static void free_response(tw_test_response *r) {
    free((void *)r->headers);
    free((void *)r->body);
}

static const char *reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

/* ---- requests ---------------------------------------------------------------------- */

static void free_request(tw_test_request *r) {
    if (!r) return;
    free(r->method);
    free(r->path);
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    free(r->raw_body);
    free(r);
}

const char *tw_test_request_header(const tw_test_request *r, const char *name) {
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
    return NULL;
}

static bool gunzip(const uint8_t *in, size_t n, uint8_t **out, size_t *out_len) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK) return false;
    size_t cap = n * 4 + 64, len = 0;
    uint8_t *buf = xmalloc(cap + 1);
    z.next_in = (uint8_t *)in;
    z.avail_in = (uInt)n;
    int rc;
    do {
        if (cap - len < 1024) cap *= 2, buf = xrealloc(buf, cap + 1);
        z.next_out = buf + len;
        z.avail_out = (uInt)(cap - len);
        rc = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
    } while (rc == Z_OK);
    inflateEnd(&z);
    if (rc != Z_STREAM_END || z.avail_in != 0) {
        free(buf);
        return false;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return true;
}

static const char *find_crlf(const char *p, const char *end) {
    for (; p + 1 < end; p++)
        if (p[0] == '\r' && p[1] == '\n') return p;
    return NULL;
}

/* Decode a chunked body starting at p; returns bytes consumed, 0 when more
 * input is needed, -1 when malformed. */
static long dechunk(const char *p, const char *end, uint8_t **body, size_t *body_len) {
    const char *start = p;
    size_t cap = 256, len = 0;
    uint8_t *b = xmalloc(cap);
    for (;;) {
        const char *eol = find_crlf(p, end);
        if (!eol) goto more;
        char *num_end;
        unsigned long sz = strtoul(p, &num_end, 16);
        if (num_end == p) goto bad;
        p = eol + 2;
        if (sz == 0) {
            /* trailers until an empty line */
            for (;;) {
                eol = find_crlf(p, end);
                if (!eol) goto more;
                bool empty = eol == p;
                p = eol + 2;
                if (empty) break;
            }
            *body = b;
            *body_len = len;
            return (long)(p - start);
        }
        if ((size_t)(end - p) < sz + 2) goto more;
        if (len + sz > cap) {
            while (len + sz > cap) cap *= 2;
            b = xrealloc(b, cap);
        }
        memcpy(b + len, p, sz);
        len += sz;
        p += sz + 2;
    }
more:
    free(b);
    return 0;
bad:
    free(b);
    return -1;
}

/* Parse one complete request from c->in. Returns the request (consuming its
 * bytes), NULL when more input is needed; sets *bad on garbage. */
static tw_test_request *parse_request(conn *c, bool *bad) {
    *bad = false;
    if (c->in_len == 0) return NULL;
    const char *p = c->in, *end = c->in + c->in_len, *hdr_end = NULL;
    for (const char *q = p; q + 3 < end; q++)
        if (memcmp(q, "\r\n\r\n", 4) == 0) {
            hdr_end = q;
            break;
        }
    if (!hdr_end) return NULL;
    tw_test_request *r = calloc(1, sizeof *r);
    if (!r) abort();
    const char *eol = find_crlf(p, hdr_end + 2);
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp1 || !sp2) goto bad;
    r->method = xstrndup(p, (size_t)(sp1 - p));
    r->path = xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    size_t cap = 8;
    r->headers = xmalloc(cap * sizeof *r->headers);
    for (p = eol + 2; p < hdr_end + 2; p = eol + 2) {
        eol = find_crlf(p, hdr_end + 2);
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon) goto bad;
        const char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t')) v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        if (r->n_headers == cap) cap *= 2, r->headers = xrealloc(r->headers, cap * sizeof *r->headers);
        r->headers[r->n_headers].name = xstrndup(p, (size_t)(colon - p));
        r->headers[r->n_headers].value = xstrndup(v, (size_t)(ve - v));
        r->n_headers++;
    }
    const char *body = hdr_end + 4;
    size_t consumed;
    const char *te = tw_test_request_header(r, "Transfer-Encoding");
    const char *cl = tw_test_request_header(r, "Content-Length");
    if (te && strcasestr(te, "chunked")) {
        long k = dechunk(body, end, &r->raw_body, &r->raw_body_len);
        if (k < 0) goto bad;
        if (k == 0) goto more;
        consumed = (size_t)(body - c->in) + (size_t)k;
    } else {
        size_t n = cl ? strtoul(cl, NULL, 10) : 0;
        if ((size_t)(end - body) < n) goto more;
        r->raw_body = xmalloc(n + 1);
        memcpy(r->raw_body, body, n);
        r->raw_body_len = n;
        consumed = (size_t)(body - c->in) + n;
    }
    const char *ce = tw_test_request_header(r, "Content-Encoding");
    if (ce && strcasecmp(ce, "gzip") == 0) {
        if (gunzip(r->raw_body, r->raw_body_len, &r->body, &r->body_len))
            r->gzipped = true;
        else
            r->gzip_error = true;
    }
    if (!r->body) {
        r->body = xmalloc(r->raw_body_len + 1);
        memcpy(r->body, r->raw_body, r->raw_body_len);
        r->body[r->raw_body_len] = '\0';
        r->body_len = r->raw_body_len;
    }
    memmove(c->in, c->in + consumed, c->in_len - consumed);
    c->in_len -= consumed;
    r->recv_ns = tw_test_monotonic_ns();
    r->conn_id = c->id;
    return r;
more:
    free_request(r);
    return NULL;
bad:
    free_request(r);
    *bad = true;
    return NULL;
}

/* ---- the loop ------------------------------------------------------------------------ */

static void close_conn(tw_test_server *s, size_t i) {
    conn *c = &s->conns[i];
    close(c->fd);
    free(c->in);
    free(c->out);
    s->conns[i] = s->conns[--s->n_conns];
}

/* Format `resp` as c's pending answer to `r`. */
static void queue_answer(conn *c, const tw_test_request *r, const tw_test_response *resp) {
    int status = resp->status ? resp->status : 200;
    size_t bl = body_len_of(resp);
    const char *conn_hdr = tw_test_request_header(r, "Connection");
    c->close_after = resp->close || (conn_hdr && strcasecmp(conn_hdr, "close") == 0);
    c->drop = resp->drop;
    char head[512];
    int hl = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s", status, reason(status),
                      bl, c->close_after ? "Connection: close\r\n" : "");
    size_t xl = resp->headers ? strlen(resp->headers) : 0;
    c->out = xmalloc((size_t)hl + xl + 2 + bl);
    memcpy(c->out, head, (size_t)hl);
    if (xl) memcpy(c->out + hl, resp->headers, xl);
    memcpy(c->out + hl + xl, "\r\n", 2);
    if (bl) memcpy(c->out + hl + xl + 2, resp->body, bl);
    c->out_len = (size_t)hl + xl + 2 + bl;
    c->due_ns = tw_test_monotonic_ns() + (uint64_t)resp->delay_ms * 1000000u;
    c->pending = true;
}

/* Record `r` and queue its answer on c. Scripted and default responses are
 * formatted under the lock (clear() and set_default() free them). */
static void respond(tw_test_server *s, conn *c, tw_test_request *r) {
    pthread_mutex_lock(&s->mu);
    if (s->n_reqs == s->cap_reqs) {
        s->cap_reqs = s->cap_reqs ? 2 * s->cap_reqs : 16;
        s->reqs = xrealloc(s->reqs, s->cap_reqs * sizeof *s->reqs);
    }
    s->reqs[s->n_reqs++] = r;
    pthread_cond_broadcast(&s->cv);
    tw_test_handler fn = s->handler;
    void *user = s->handler_user;
    if (!fn) {
        queue_answer(c, r, s->script_pos < s->n_script ? &s->script[s->script_pos++] : &s->def);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    tw_test_response resp = copy_response(&s->def);
    pthread_mutex_unlock(&s->mu);
    /* The handler runs unlocked: it may call back into the server. */
    tw_test_response dflt = resp;
    fn(user, r, &resp);
    queue_answer(c, r, &resp);
    free_response(&dflt);
}

static bool send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* Answer c if due, then look for the next request in its input. Returns
 * false when the connection must be closed. */
static bool service(tw_test_server *s, conn *c, uint64_t now) {
    for (;;) {
        if (c->pending) {
            if (c->due_ns > now) return true;
            c->pending = false;
            bool ok = !c->drop && send_all(c->fd, c->out, c->out_len);
            free(c->out);
            c->out = NULL;
            if (!ok || c->close_after) return false;
        }
        bool bad;
        tw_test_request *r = parse_request(c, &bad);
        if (bad) return false;
        if (!r) return true;
        respond(s, c, r);
    }
}

static void *serve(void *arg) {
    tw_test_server *s = arg;
    struct pollfd pfd[MAX_CONNS + 2];
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        uint64_t now = tw_test_monotonic_ns();
        int timeout = -1;
        for (size_t i = 0; i < s->n_conns; i++) {
            if (!s->conns[i].pending) continue;
            uint64_t due = s->conns[i].due_ns;
            int ms = due <= now ? 0 : (int)((due - now + 999999) / 1000000);
            if (timeout < 0 || ms < timeout) timeout = ms;
        }
        pfd[0] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = s->listen_fd, .events = s->n_conns < MAX_CONNS ? POLLIN : 0};
        for (size_t i = 0; i < s->n_conns; i++) pfd[i + 2] = (struct pollfd){.fd = s->conns[i].fd, .events = POLLIN};
        size_t npfd = s->n_conns + 2;
        if (poll(pfd, npfd, timeout) < 0 && errno != EINTR) break;
        if (pfd[0].revents) {
            char tmp[16];
            while (read(s->wake[0], tmp, sizeof tmp) > 0) {
            }
        }
        /* Read from the connections polled (indexes shift when one closes:
         * walk backwards over the ones that were in pfd). */
        for (size_t i = npfd - 2; i-- > 0;) {
            if (!pfd[i + 2].revents) continue;
            conn *c = &s->conns[i];
            if (c->in_cap - c->in_len < 65536) {
                c->in_cap = c->in_cap * 2 + 65536;
                c->in = xrealloc(c->in, c->in_cap);
            }
            ssize_t k = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
            if (k <= 0) {
                if (k < 0 && errno == EINTR) continue;
                close_conn(s, i);
                continue;
            }
            c->in_len += (size_t)k;
        }
        if (pfd[1].revents & POLLIN) {
            int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                pthread_mutex_lock(&s->mu);
                unsigned id = ++s->n_conns_accepted;
                pthread_mutex_unlock(&s->mu);
                s->conns[s->n_conns++] = (conn){.fd = fd, .id = id};
            }
        }
        now = tw_test_monotonic_ns();
        for (size_t i = s->n_conns; i-- > 0;)
            if (!service(s, &s->conns[i], now)) close_conn(s, i);
    }
    while (s->n_conns) close_conn(s, s->n_conns - 1);
    return NULL;
}

/* ---- API ---------------------------------------------------------------------------- */

int tw_test_server_start(tw_test_server **out) {
    tw_test_server *s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->def.status = 200;
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0) goto fail;
    int one = 1;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) || listen(s->listen_fd, 64) ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &al))
        goto fail;
    s->port = ntohs(a.sin_port);
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK)) goto fail;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&s->thread, NULL, serve, s)) goto fail;
    *out = s;
    return 0;
fail:
    if (s->listen_fd >= 0) close(s->listen_fd);
    free(s);
    return -1;
}

static void wake(tw_test_server *s) {
    ssize_t k = write(s->wake[1], "x", 1);
    (void)k;
}

void tw_test_server_stop(tw_test_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_mutex_unlock(&s->mu);
    wake(s);
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    close(s->wake[0]);
    close(s->wake[1]);
    tw_test_server_clear(s);
    free(s->reqs);
    free(s->script);
    free_response(&s->def);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

uint16_t tw_test_server_port(const tw_test_server *s) { return s->port; }

char *tw_test_server_url(const tw_test_server *s, const char *path, char *buf, size_t len) {
    snprintf(buf, len, "http://127.0.0.1:%u%s", (unsigned)s->port, path ? path : "");
    return buf;
}

void tw_test_server_script(tw_test_server *s, const tw_test_response *r, size_t n) {
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        if (s->n_script == s->cap_script) {
            s->cap_script = s->cap_script ? 2 * s->cap_script : 8;
            s->script = xrealloc(s->script, s->cap_script * sizeof *s->script);
        }
        s->script[s->n_script++] = copy_response(&r[i]);
    }
    pthread_mutex_unlock(&s->mu);
}

void tw_test_server_set_default(tw_test_server *s, const tw_test_response *r) {
    tw_test_response c = copy_response(r);
    pthread_mutex_lock(&s->mu);
    free_response(&s->def);
    s->def = c;
    pthread_mutex_unlock(&s->mu);
}

void tw_test_server_set_handler(tw_test_server *s, tw_test_handler fn, void *user) {
    pthread_mutex_lock(&s->mu);
    s->handler = fn;
    s->handler_user = user;
    pthread_mutex_unlock(&s->mu);
}

size_t tw_test_server_count(tw_test_server *s) {
    pthread_mutex_lock(&s->mu);
    size_t n = s->n_reqs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

bool tw_test_server_wait(tw_test_server *s, size_t n, uint32_t timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&s->mu);
    while (s->n_reqs < n)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT) break;
    bool ok = s->n_reqs >= n;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

const tw_test_request *tw_test_server_request(tw_test_server *s, size_t i) {
    pthread_mutex_lock(&s->mu);
    const tw_test_request *r = i < s->n_reqs ? s->reqs[i] : NULL;
    pthread_mutex_unlock(&s->mu);
    return r;
}

void tw_test_server_clear(tw_test_server *s) {
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_reqs; i++) free_request(s->reqs[i]);
    s->n_reqs = 0;
    for (size_t i = 0; i < s->n_script; i++) free_response(&s->script[i]);
    s->n_script = s->script_pos = 0;
    pthread_mutex_unlock(&s->mu);
}

unsigned tw_test_server_connections(tw_test_server *s) {
    pthread_mutex_lock(&s->mu);
    unsigned n = s->n_conns_accepted;
    pthread_mutex_unlock(&s->mu);
    return n;
}

uint16_t tw_test_unused_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}
