/*
 * http1.h — a small HTTP/1.1 server for the ingest port (OTLP/HTTP), on
 * libevent's core loop and the Debian http-parser library.
 *
 * Why not evhttp: libevent 2.1's evbuffer reads at most 4 KiB per read(2)
 * (plus a FIONREAD ioctl before each), whatever bufferevent_set_max_single_read
 * says, so a 48 KB OTLP request cost a dozen reads, a dozen ioctls and as
 * many trips round the loop. Here a connection reads into one contiguous
 * buffer, as much as the socket has (the whole request once its
 * Content-Length is known), and the body is handed to the handler in place.
 *
 * What it does: request line and headers (http-parser), Content-Length and
 * chunked bodies (a chunked body is joined in place, so every body is one
 * contiguous run of bytes), keep-alive as HTTP/1.0 and 1.1 define it,
 * pipelined requests answered in order, `Expect: 100-continue`, HEAD
 * replies without a body. Refused without calling the handler: a body over
 * `max_body` (413, decided from Content-Length before the body is read, or
 * once chunks pass it), headers over 80 KiB (431), anything http-parser
 * rejects (400, naming what was wrong); a connection then closes.
 *
 * Invariants:
 *  - The handler is called once per complete request; the request stays
 *    valid until tws_h1_reply is called for it, exactly once, from the loop
 *    thread, now or later (a reply may wait for the WAL).
 *  - While a request awaits its reply the connection reads nothing more,
 *    so its buffer (and the body the handler holds) does not move.
 *  - A peer that went away while its request waited is noticed when the
 *    reply is written: the connection is then closed and freed.
 *  - A request not complete within `timeout_s` of the connection's last
 *    progress gets 408 and the connection closes; an idle keep-alive
 *    connection closes after the same time; a reply the client does not
 *    read within it closes the connection.
 *  - Memory per connection: its buffered request (at most the headers plus
 *    max_body) and one reply; an idle connection keeps at most 64 KiB.
 */
#ifndef TWS_HTTP1_H
#define TWS_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct tws_h1_server tws_h1_server;
typedef struct tws_h1_req tws_h1_req;

typedef void (*tws_h1_handler)(tws_h1_req *req, void *arg);

typedef struct tws_h1_options {
    size_t max_body; /* bytes; 0: 4 MiB */
    int timeout_s;   /* 0: 30 */
} tws_h1_options;

/* A server on `base` calling `handler` for each request; NULL without memory. */
tws_h1_server *tws_h1_new(struct event_base *base, const tws_h1_options *opt, tws_h1_handler handler, void *arg);
/* Listen on host:port (a name or an address; port 0 picks one, see
 * tws_h1_port). 0, or -1 with errno set. At most one listener. */
int tws_h1_bind(tws_h1_server *s, const char *host, uint16_t port);
uint16_t tws_h1_port(const tws_h1_server *s);
/* Serve an already connected socket (made non-blocking here; closed by the
 * server): how the tests and the fuzz target talk to it. 0 or -1. */
int tws_h1_adopt(tws_h1_server *s, int fd);
/* Close the listener and every connection. Requests still waiting for a
 * reply must not be answered afterwards. NULL is fine. */
void tws_h1_free(tws_h1_server *s);

enum { TWS_H1_OTHER = 0, TWS_H1_GET, TWS_H1_HEAD, TWS_H1_POST };
int tws_h1_method(const tws_h1_req *r);
const char *tws_h1_method_name(const tws_h1_req *r);
/* The request target up to '?' (as sent, not percent-decoded). */
const char *tws_h1_path(const tws_h1_req *r);
/* The first header of that name (case-insensitive), NUL-terminated, or NULL. */
const char *tws_h1_header(const tws_h1_req *r, const char *name);
/* The body (chunks joined); valid until the reply. Never NULL. */
const uint8_t *tws_h1_body(const tws_h1_req *r, size_t *len);

/* A header for the reply (before tws_h1_reply). 0, or -1 when the name or
 * value has a CR or LF, or there is no memory. */
int tws_h1_add_header(tws_h1_req *r, const char *name, const char *value);
/* Answer the request: status, reason, Content-Type (NULL: none) and body.
 * The request is invalid afterwards. */
void tws_h1_reply(tws_h1_req *r, int code, const char *reason, const char *content_type, const void *body,
                  size_t len);

#endif
