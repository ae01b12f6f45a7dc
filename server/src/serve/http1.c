/*
 * http1.c — the HTTP/1.1 server of http1.h.
 *
 * A connection is a small state machine driven by step(): write what is
 * left of a reply; else wait while the handler holds a request; else parse
 * the buffered bytes (http-parser, paused at the end of each message so
 * that pipelined requests are taken one at a time) and either call the
 * handler, refuse, or wait for more bytes. Every entry point (readable,
 * writable, timeout, a later reply) ends in step(), and only step() frees
 * a connection, so a reply made inside the handler never frees what its
 * caller is still using.
 *
 * Offsets, not pointers, name the bytes of the request being parsed: the
 * buffer grows with realloc while a request arrives. The buffer is:
 *   [0, parsed) given to the parser   [parsed, len) received, not yet parsed
 * and the body is [body_off, body_off + body_len) inside the parsed part
 * (chunk framing squeezed out as the chunks are parsed).
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <fcntl.h>
#include <http_parser.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/tw_base.h"
#include "serve/http1.h"

#define READ_MIN (64u << 10)    /* a fresh buffer; also what an idle connection keeps */
#define READ_SPARE (16u << 10)  /* grow when less than this is free */
#define HEADER_MAX (80u << 10)  /* http-parser's own limit on the header block */

typedef struct hdr {
    uint32_t name, value; /* offsets into meta */
} hdr;

struct tws_h1_req {
    struct h1_conn *c;
    int method;
    tw__buf meta; /* each header as lowercased name and value, then the path, all NUL-terminated */
    size_t path_off; /* of the path in meta */
    hdr *h;
    uint32_t nh, cap_h;
    tw__buf extra; /* reply header lines added by the handler */
    size_t body_off, body_len;
};

typedef struct h1_conn {
    tws_h1_server *srv;
    evutil_socket_t fd;
    struct event *rev, *wev;
    struct h1_conn *prev, *next;
    http_parser p;
    uint8_t *in;
    size_t len, cap, parsed;
    /* the request being parsed */
    size_t url_off, url_len, f_off, f_len, v_off, v_len;
    bool in_value, headers_done, started, complete;
    int reject;      /* a status to refuse the request with */
    bool keep_alive; /* after this request */
    bool pending;    /* the handler holds the request */
    bool answered;   /* the reply is built (maybe still being written) */
    bool want_close; /* peer gone, error, timeout: close once nothing is pending */
    bool eof;        /* the peer shut its side: no more requests */
    int in_handler;  /* the handler is running (a reply made now is finished by step()) */
    tws_h1_req req;
    uint8_t *out;
    size_t out_len, out_off;
} h1_conn;

struct tws_h1_server {
    struct event_base *base;
    struct evconnlistener *lis;
    tws_h1_options opt;
    tws_h1_handler handler;
    void *arg;
    h1_conn *conns;
    uint16_t port;
};

static void step(h1_conn *c);

/* ---- replies ------------------------------------------------------------------------------ */

/* "Date: ..." for this second, formatted once per second. */
static const char *date_line(void) {
    static _Thread_local time_t last;
    static _Thread_local char line[64];
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(line, sizeof line, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        last = now;
    }
    return line;
}

/* Build the reply in c->out (replacing nothing: one reply per request). */
static void build_reply(h1_conn *c, int code, const char *reason, const char *ctype, const void *body, size_t len) {
    tw__buf b;
    tw__buf_init(&b, 0);
    tw__buf_printf(&b, "HTTP/1.1 %d %s\r\n%s", code, reason ? reason : "", date_line());
    if (ctype) tw__buf_printf(&b, "Content-Type: %s\r\n", ctype);
    if (c->req.extra.len) tw__buf_append(&b, c->req.extra.data, c->req.extra.len);
    tw__buf_printf(&b, "Content-Length: %zu\r\n%s\r\n", len,
                   !c->keep_alive ? "Connection: close\r\n" : c->p.http_minor == 0 ? "Connection: keep-alive\r\n" : "");
    if (c->req.method != TWS_H1_HEAD && len) tw__buf_append(&b, body, len); /* HEAD: the length only */
    if (b.failed) { /* no memory: the client sees the connection close */
        tw__buf_free(&b);
        c->want_close = true;
        c->keep_alive = false;
        c->answered = true;
        return;
    }
    tw__free(c->out);
    c->out = b.data;
    c->out_len = b.len;
    c->out_off = 0;
    c->answered = true;
}

/* Write what the socket takes. Errors (the peer went away) drop the reply. */
static void flush(h1_conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            c->want_close = true;
            c->out_off = c->out_len;
        }
    }
}

/* A refusal made here (the handler never sees the request): the connection
 * closes after it, since the rest of the stream cannot be trusted. */
static void refuse(h1_conn *c, int code, const char *reason, const char *msg) {
    c->keep_alive = false;
    char body[256];
    int n = snprintf(body, sizeof body, "%s\n", msg);
    build_reply(c, code, reason, "text/plain; charset=utf-8", body, (size_t)n < sizeof body ? (size_t)n : sizeof body - 1);
    flush(c);
}

/* ---- the parser's callbacks --------------------------------------------------------------- */

static h1_conn *conn_of(http_parser *p) { return p->data; }
static size_t off_of(const h1_conn *c, const char *at) { return (size_t)((const uint8_t *)at - c->in); }

static int commit_header(h1_conn *c) {
    tws_h1_req *r = &c->req;
    if (r->nh == r->cap_h) {
        uint32_t cap = r->cap_h ? r->cap_h * 2 : 16;
        hdr *h = tw__realloc(r->h, cap * sizeof *h);
        if (!h) return -1;
        r->h = h;
        r->cap_h = cap;
    }
    /* obs-fold leaves CR LF inside a value: each becomes a space; trailing blanks go */
    size_t vl = c->v_len;
    const uint8_t *v = c->in + c->v_off;
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r' || v[vl - 1] == '\n')) vl--;
    hdr e = {(uint32_t)r->meta.len, 0};
    for (size_t i = 0; i < c->f_len; i++) {
        uint8_t ch = c->in[c->f_off + i];
        tw__buf_putc(&r->meta, (uint8_t)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch));
    }
    tw__buf_putc(&r->meta, 0);
    e.value = (uint32_t)r->meta.len;
    for (size_t i = 0; i < vl; i++) tw__buf_putc(&r->meta, v[i] == '\r' || v[i] == '\n' ? ' ' : v[i]);
    tw__buf_putc(&r->meta, 0);
    if (r->meta.failed) return -1;
    r->h[r->nh++] = e;
    c->in_value = false;
    c->f_len = c->v_len = 0;
    return 0;
}

static int on_message_begin(http_parser *p) {
    conn_of(p)->started = true;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
    h1_conn *c = conn_of(p);
    if (!c->url_len) c->url_off = off_of(c, at);
    c->url_len = off_of(c, at) + len - c->url_off;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
    h1_conn *c = conn_of(p);
    if (c->headers_done) return 0; /* trailers of a chunked body are not kept */
    if (c->in_value && commit_header(c) != 0) return -1;
    if (!c->f_len) c->f_off = off_of(c, at);
    c->f_len = off_of(c, at) + len - c->f_off;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
    h1_conn *c = conn_of(p);
    if (c->headers_done) return 0;
    if (!c->in_value) {
        c->in_value = true;
        c->v_off = off_of(c, at);
    }
    c->v_len = off_of(c, at) + len - c->v_off;
    return 0;
}

static int on_headers_complete(http_parser *p) {
    h1_conn *c = conn_of(p);
    tws_h1_req *r = &c->req;
    if (c->in_value && commit_header(c) != 0) return -1;
    c->headers_done = true;
    /* the path: the target up to '?' */
    const uint8_t *u = c->in + c->url_off;
    size_t ul = 0;
    while (ul < c->url_len && u[ul] != '?' && u[ul] != '#') ul++;
    size_t path_at = r->meta.len;
    tw__buf_append(&r->meta, u, ul);
    tw__buf_putc(&r->meta, 0);
    if (r->meta.failed) return -1;
    r->method = p->method == HTTP_GET ? TWS_H1_GET : p->method == HTTP_HEAD ? TWS_H1_HEAD
              : p->method == HTTP_POST ? TWS_H1_POST : TWS_H1_OTHER;
    c->keep_alive = http_should_keep_alive(p) != 0;
    r->path_off = path_at;
    bool chunked = (p->flags & F_CHUNKED) != 0;
    if (!chunked && (p->flags & F_CONTENTLENGTH) && p->content_length > c->srv->opt.max_body) {
        c->reject = 413;
        http_parser_pause(p, 1);
        return 0;
    }
    const char *expect = tws_h1_header(r, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_minor >= 1 &&
        (chunked || p->content_length > 0)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        /* Nothing else is ever queued on the socket while a request is read,
         * so these few bytes fit; if not, the stream is lost. */
        if (send(c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof cont - 1)) return -1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
    h1_conn *c = conn_of(p);
    tws_h1_req *r = &c->req;
    if (len > c->srv->opt.max_body - r->body_len) {
        c->reject = 413;
        http_parser_pause(p, 1);
        return 0;
    }
    size_t off = off_of(c, at);
    if (!r->body_len) r->body_off = off;
    else if (off != r->body_off + r->body_len) memmove(c->in + r->body_off + r->body_len, at, len); /* chunks joined */
    r->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p) {
    h1_conn *c = conn_of(p);
    c->complete = true;
    http_parser_pause(p, 1); /* one request at a time */
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- connections -------------------------------------------------------------------------- */

static void request_reset(h1_conn *c) {
    tws_h1_req *r = &c->req;
    tw__buf_reset(&r->meta);
    tw__buf_reset(&r->extra);
    r->nh = 0;
    r->body_off = r->body_len = r->path_off = 0;
    r->method = TWS_H1_OTHER;
    c->url_off = c->url_len = c->f_off = c->f_len = c->v_off = c->v_len = 0;
    c->in_value = c->headers_done = c->started = c->complete = false;
    c->reject = 0;
    c->keep_alive = true;
    c->answered = false;
}

static void conn_free(h1_conn *c) {
    tws_h1_server *s = c->srv;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->rev) event_free(c->rev);
    if (c->wev) event_free(c->wev);
    if (c->fd >= 0) evutil_closesocket(c->fd);
    tw__buf_free(&c->req.meta);
    tw__buf_free(&c->req.extra);
    tw__free(c->req.h);
    tw__free(c->in);
    tw__free(c->out);
    tw__free(c);
}

static void arm(struct event *ev, int timeout_s) {
    struct timeval tv = {timeout_s, 0};
    event_add(ev, &tv);
}

/* Room to read into. Once a Content-Length is known the buffer is made
 * large enough for the whole message, so it comes in one read. false when
 * the buffer is at its limit with no room (the request is refused). */
static bool make_room(h1_conn *c) {
    size_t limit = (size_t)HEADER_MAX + c->srv->opt.max_body + READ_MIN;
    size_t want = c->len + READ_SPARE;
    if (c->headers_done && !(c->p.flags & F_CHUNKED) && c->p.content_length != ULLONG_MAX)
        want = TW_MAX(want, c->parsed + (size_t)c->p.content_length);
    if (want <= c->cap) return true;
    if (c->headers_done && c->req.body_len && c->parsed > c->req.body_off + c->req.body_len) {
        /* chunk framing between the joined body and the parse point: drop it */
        size_t end = c->req.body_off + c->req.body_len;
        memmove(c->in + end, c->in + c->parsed, c->len - c->parsed);
        c->len -= c->parsed - end;
        c->parsed = end;
        want = c->len + READ_SPARE;
        if (want <= c->cap) return true;
    }
    if (c->cap >= limit && c->len >= c->cap) return false;
    size_t cap = TW_MAX((size_t)READ_MIN, c->cap * 2);
    cap = TW_MAX(cap, want);
    if (cap > limit) cap = TW_MAX(limit, c->len + 1);
    uint8_t *in = tw__realloc(c->in, cap);
    if (!in) return false;
    c->in = in;
    c->cap = cap;
    return true;
}

/* Parse what is buffered. */
static void parse(h1_conn *c) {
    if (c->parsed < c->len) {
        size_t n = http_parser_execute(&c->p, &settings, (const char *)c->in + c->parsed, c->len - c->parsed);
        c->parsed += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->p);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->p, 0);
        } else if (e != HPE_OK) {
            char msg[200];
            snprintf(msg, sizeof msg, "malformed HTTP/1.1 request: %s (%s)", http_errno_description(e),
                     http_errno_name(e));
            if (e == HPE_HEADER_OVERFLOW) refuse(c, 431, "Request Header Fields Too Large", msg);
            else refuse(c, 400, "Bad Request", msg);
            return;
        }
    }
    if (c->reject == 413) {
        char msg[160];
        snprintf(msg, sizeof msg, "the request body is larger than the %zu bytes this port accepts",
                 c->srv->opt.max_body);
        refuse(c, 413, "Payload Too Large", msg);
    }
}

/* After a reply is written: the next request, or the end. */
static void next_request(h1_conn *c) {
    memmove(c->in, c->in + c->parsed, c->len - c->parsed);
    c->len -= c->parsed;
    c->parsed = 0;
    if (c->len == 0 && c->cap > READ_MIN) { /* idle: keep a small buffer */
        tw__free(c->in);
        c->in = NULL;
        c->cap = 0;
    }
    tw__free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    request_reset(c);
}

static void step(h1_conn *c) {
    for (;;) {
        if (c->out_off < c->out_len) { /* the socket is full: wait until it drains */
            arm(c->wev, c->srv->opt.timeout_s);
            return;
        }
        event_del(c->wev);
        /* Waiting for the handler: the read event stays as it is (no system
         * call); if bytes come meanwhile, on_read takes it off then. */
        if (c->pending) return;
        if (c->answered) {
            if (!c->keep_alive) c->want_close = true;
            else next_request(c);
        }
        if (c->want_close) {
            conn_free(c);
            return;
        }
        parse(c);
        if (c->answered) continue; /* refused */
        if (c->complete) {
            c->pending = true;
            tws_h1_server *s = c->srv;
            c->in_handler++;
            s->handler(&c->req, s->arg); /* may reply at once */
            c->in_handler--;
            continue;
        }
        if (c->eof) { /* the peer sends no more: an unfinished request is dropped */
            c->want_close = true;
            continue;
        }
        arm(c->rev, c->srv->opt.timeout_s); /* more bytes needed */
        return;
    }
}

static void on_read(evutil_socket_t fd, short what, void *arg) {
    h1_conn *c = arg;
    if (c->pending || c->out_off < c->out_len) { /* not now: step() arms it again */
        if (what & EV_READ) event_del(c->rev);
        return;
    }
    if (what & EV_TIMEOUT) {
        if (c->started || c->len > c->parsed) refuse(c, 408, "Request Timeout", "the request did not arrive in time");
        else c->want_close = true; /* an idle keep-alive connection */
        step(c);
        return;
    }
    if (!make_room(c)) {
        refuse(c, 413, "Payload Too Large", "the request is larger than this port accepts");
        step(c);
        return;
    }
    ssize_t n = recv(fd, c->in + c->len, c->cap - c->len, 0);
    if (n > 0) {
        c->len += (size_t)n;
    } else if (n == 0) {
        c->eof = true; /* answer what is buffered, then close */
        event_del(c->rev);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        c->want_close = true;
    }
    step(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    h1_conn *c = arg;
    if (what & EV_TIMEOUT) {
        c->want_close = true;
        c->out_off = c->out_len;
    } else {
        flush(c);
    }
    step(c);
}

int tws_h1_adopt(tws_h1_server *s, int fd) {
    h1_conn *c = tw__calloc(1, sizeof *c);
    if (!c || evutil_make_socket_nonblocking(fd) != 0) {
        tw__free(c);
        evutil_closesocket(fd);
        return -1;
    }
    c->srv = s;
    c->fd = fd;
    tw__buf_init(&c->req.meta, HEADER_MAX * 2);
    tw__buf_init(&c->req.extra, 16 << 10);
    c->req.c = c;
    http_parser_init(&c->p, HTTP_REQUEST);
    c->p.data = c;
    request_reset(c);
    c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->wev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    if (!c->rev || !c->wev) {
        conn_free(c);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on a socketpair */
    arm(c->rev, s->opt.timeout_s);
    return 0;
}

/* ---- the request API ---------------------------------------------------------------------- */

int tws_h1_method(const tws_h1_req *r) { return r->method; }
const char *tws_h1_method_name(const tws_h1_req *r) { return http_method_str((enum http_method)r->c->p.method); }
const char *tws_h1_path(const tws_h1_req *r) { return (const char *)r->meta.data + r->path_off; }

const char *tws_h1_header(const tws_h1_req *r, const char *name) {
    for (uint32_t i = 0; i < r->nh; i++)
        if (strcasecmp((const char *)r->meta.data + r->h[i].name, name) == 0)
            return (const char *)r->meta.data + r->h[i].value;
    return NULL;
}

const uint8_t *tws_h1_body(const tws_h1_req *r, size_t *len) {
    *len = r->body_len;
    return r->body_len ? r->c->in + r->body_off : (const uint8_t *)"";
}

int tws_h1_add_header(tws_h1_req *r, const char *name, const char *value) {
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return -1;
    tw__buf_printf(&r->extra, "%s: %s\r\n", name, value);
    return r->extra.failed ? -1 : 0;
}

void tws_h1_reply(tws_h1_req *r, int code, const char *reason, const char *content_type, const void *body,
                  size_t len) {
    h1_conn *c = r->c;
    c->pending = false;
    build_reply(c, code, reason, content_type, body, len);
    flush(c);
    /* Inside the handler step() is on the stack and carries on; a later
     * reply drives the connection from here. */
    if (!c->in_handler) step(c);
}

/* ---- the server --------------------------------------------------------------------------- */

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg) {
    (void)lis;
    (void)sa;
    (void)len;
    tws_h1_adopt(arg, fd); /* out of memory: the connection is closed */
}

tws_h1_server *tws_h1_new(struct event_base *base, const tws_h1_options *opt, tws_h1_handler handler, void *arg) {
    tws_h1_server *s = tw__calloc(1, sizeof *s);
    if (!s) return NULL;
    s->base = base;
    if (opt) s->opt = *opt;
    if (!s->opt.max_body) s->opt.max_body = 4u << 20;
    if (s->opt.timeout_s <= 0) s->opt.timeout_s = 30;
    s->handler = handler;
    s->arg = arg;
    return s;
}

int tws_h1_bind(tws_h1_server *s, const char *host, uint16_t port) {
    if (s->lis) {
        errno = EALREADY;
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    int gai = getaddrinfo(host && *host ? host : NULL, ps, &hints, &ai);
    if (gai != 0) {
        errno = gai == EAI_SYSTEM ? errno : EADDRNOTAVAIL;
        return -1;
    }
    for (struct addrinfo *a = ai; a && !s->lis; a = a->ai_next)
        s->lis = evconnlistener_new_bind(s->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
                                         a->ai_addr, (int)a->ai_addrlen);
    int err = errno;
    freeaddrinfo(ai);
    if (!s->lis) {
        errno = err;
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&ss, &sl) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

uint16_t tws_h1_port(const tws_h1_server *s) { return s->port; }

void tws_h1_free(tws_h1_server *s) {
    if (!s) return;
    if (s->lis) evconnlistener_free(s->lis);
    while (s->conns) conn_free(s->conns);
    tw__free(s);
}
