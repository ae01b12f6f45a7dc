/*
 * http_server.h — a tiny HTTP/1.1 server for tests.
 *
 * One background thread serves loopback connections on an ephemeral port
 * (keep-alive, several connections at once, Content-Length or chunked
 * request bodies). Every request is recorded — method, path, headers, body
 * (gunzipped when sent with Content-Encoding: gzip) and the monotonic time it
 * was complete — and answered from, in order of precedence: a handler
 * callback, a queue of scripted responses, or the default response (200 with
 * an empty body unless changed). A response can be delayed, can close the
 * connection after it, or can be "dropped": the connection is closed without
 * an answer, which a client sees as a connection error.
 *
 * Threading: the calls below may be made from any thread. A recorded
 * request is immutable and stays valid until tw_test_server_clear() or
 * tw_test_server_stop().
 */
#ifndef TW_TEST_HTTP_SERVER_H
#define TW_TEST_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tw_test_server tw_test_server;

typedef struct tw_test_header {
    char *name;  /* as received */
    char *value; /* trimmed */
} tw_test_header;

typedef struct tw_test_request {
    char *method;
    char *path; /* the request target, query included */
    tw_test_header *headers;
    size_t n_headers;
    uint8_t *body; /* gunzipped when Content-Encoding: gzip (NUL-terminated for convenience) */
    size_t body_len;
    uint8_t *raw_body; /* as sent, after de-chunking */
    size_t raw_body_len;
    bool gzipped;      /* Content-Encoding: gzip and the body inflated cleanly */
    bool gzip_error;   /* Content-Encoding: gzip but the body did not inflate */
    uint64_t recv_ns;  /* tw_test_monotonic_ns() when the request was complete */
    unsigned conn_id;  /* 1, 2, ... per accepted connection */
} tw_test_request;

typedef struct tw_test_response {
    int status;          /* 0 means 200 */
    const char *headers; /* extra header lines, each ending in "\r\n"; may be NULL */
    const void *body;    /* may be NULL */
    size_t body_len;     /* (size_t)-1: strlen(body) */
    uint32_t delay_ms;   /* wait this long before answering */
    bool close;          /* close the connection after the answer */
    bool drop;           /* close the connection instead of answering */
} tw_test_response;

/* Called on the server thread for each request. Fill `resp` (pre-set to the
 * default response); what it points to must stay valid until the handler is
 * called again or the server stops. */
typedef void (*tw_test_handler)(void *user, const tw_test_request *req, tw_test_response *resp);

/* Start listening on 127.0.0.1 with a free port. 0 or -1 (errno set). */
int tw_test_server_start(tw_test_server **out);
/* Stop the thread, close every connection, free everything. NULL-safe. */
void tw_test_server_stop(tw_test_server *s);

uint16_t tw_test_server_port(const tw_test_server *s);
/* "http://127.0.0.1:<port><path>" into buf; returns buf. */
char *tw_test_server_url(const tw_test_server *s, const char *path, char *buf, size_t len);

/* Queue responses (copied), used one per request in order. */
void tw_test_server_script(tw_test_server *s, const tw_test_response *r, size_t n);
/* The response once the queue is empty (copied). */
void tw_test_server_set_default(tw_test_server *s, const tw_test_response *r);
/* Answer every request through `fn` instead (NULL to go back to the script). */
void tw_test_server_set_handler(tw_test_server *s, tw_test_handler fn, void *user);

/* Requests recorded so far. */
size_t tw_test_server_count(tw_test_server *s);
/* Wait until at least `n` requests were recorded; false on timeout. */
bool tw_test_server_wait(tw_test_server *s, size_t n, uint32_t timeout_ms);
/* The i-th request (0 = first), or NULL. Borrowed. */
const tw_test_request *tw_test_server_request(tw_test_server *s, size_t i);
/* Forget the recorded requests and the scripted responses not yet used. */
void tw_test_server_clear(tw_test_server *s);
/* Connections accepted so far. */
unsigned tw_test_server_connections(tw_test_server *s);

/* First header of that name (case-insensitive), or NULL. */
const char *tw_test_request_header(const tw_test_request *r, const char *name);

/* CLOCK_MONOTONIC in nanoseconds (the clock of recv_ns). */
uint64_t tw_test_monotonic_ns(void);
/* A loopback port on which nothing listens (for connection-refused tests). */
uint16_t tw_test_unused_port(void);

#endif
