/*
 * test_http1.c — the OTLP/HTTP port's HTTP/1.1 server (serve/http1.c),
 * over socketpairs driven by a real libevent loop: bodies by length and by
 * chunks, pipelining with replies given later, keep-alive rules, 100
 * Continue, HEAD, half-closed peers, replies larger than the socket buffer,
 * requests arriving a byte at a time, and each refusal (413 before the body,
 * 413 for chunks, 400, 431, 408) with the connection closed after it.
 */
#include <errno.h>
#include <event2/event.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "serve/http1.h"

/* What the handler saw, and how it answers. */
typedef struct seen {
    int n;
    char method[8], path[64], ctype[64], tenant[64], other[128];
    char body[1 << 16];
    size_t body_len;
    bool defer;          /* keep the request; the test replies later */
    tws_h1_req *held[8]; /* deferred requests, in arrival order */
    int n_held;
    size_t reply_bytes;  /* reply with a body of this many 'x' (0: "ok:<path>") */
} seen;

static void handler(tws_h1_req *r, void *arg) {
    seen *s = arg;
    s->n++;
    snprintf(s->method, sizeof s->method, "%s", tws_h1_method_name(r));
    snprintf(s->path, sizeof s->path, "%s", tws_h1_path(r));
    const char *v = tws_h1_header(r, "content-type");
    snprintf(s->ctype, sizeof s->ctype, "%s", v ? v : "");
    v = tws_h1_header(r, "X-SCOPE-ORGID");
    snprintf(s->tenant, sizeof s->tenant, "%s", v ? v : "");
    v = tws_h1_header(r, "x-folded");
    snprintf(s->other, sizeof s->other, "%s", v ? v : "");
    const uint8_t *b = tws_h1_body(r, &s->body_len);
    assert_true(s->body_len <= sizeof s->body);
    memcpy(s->body, b, s->body_len);
    if (s->defer) {
        s->held[s->n_held++] = r;
        return;
    }
    if (s->reply_bytes) {
        char *big = malloc(s->reply_bytes);
        memset(big, 'x', s->reply_bytes);
        tws_h1_reply(r, 200, "OK", "text/plain", big, s->reply_bytes);
        free(big);
        return;
    }
    char out[96];
    int n = snprintf(out, sizeof out, "ok:%s", s->path);
    assert_int_equal(tws_h1_add_header(r, "X-Echo", "1"), 0);
    assert_int_equal(tws_h1_add_header(r, "Bad", "a\r\nInjected: 1"), -1);
    tws_h1_reply(r, 200, "OK", "text/plain", out, (size_t)n);
}

typedef struct fx {
    struct event_base *base;
    tws_h1_server *srv;
    int cl; /* the client's end */
    seen s;
} fx;

static fx *fx_new(size_t max_body, int timeout_s) {
    fx *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    tws_h1_options o = {.max_body = max_body, .timeout_s = timeout_s};
    f->srv = tws_h1_new(f->base, &o, handler, &f->s);
    assert_non_null(f->srv);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(tws_h1_adopt(f->srv, sv[1]), 0);
    f->cl = sv[0];
    return f;
}

static void fx_free(fx *f) {
    tws_h1_free(f->srv);
    event_base_free(f->base);
    if (f->cl >= 0) close(f->cl);
    free(f);
}

static void send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

static void loop_once(fx *f) { event_base_loop(f->base, EVLOOP_NONBLOCK); }

/* Run the loop and collect what the client receives until `until` appears
 * `count` times, the server closes (*closed), or `ms` pass. */
static size_t collect(fx *f, char *out, size_t cap, const char *until, int count, int ms, bool *closed) {
    size_t len = 0;
    *closed = false;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        loop_once(f);
        ssize_t n = recv(f->cl, out + len, cap - 1 - len, MSG_DONTWAIT);
        if (n > 0) len += (size_t)n;
        if (n == 0) {
            *closed = true;
            break;
        }
        out[len] = '\0';
        if (until) {
            int k = 0;
            for (const char *p = out; (p = strstr(p, until)); p++) k++;
            if (k >= count) break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms) break;
        if (n <= 0) {
            struct pollfd pf = {f->cl, POLLIN, 0};
            poll(&pf, 1, 1);
        }
    }
    out[len] = '\0';
    return len;
}

static char buf[1 << 22];

static void test_post_by_length_and_headers(void **state) {
    (void)state;
    fx *f = fx_new(1 << 20, 30);
    const char req[] = "POST /v1/traces?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type:  application/json \r\n"
                       "X-Scope-OrgID: team-a\r\nX-Folded: one\r\n two\r\nContent-Length: 5\r\n\r\nhello";
    send_all(f->cl, req, sizeof req - 1);
    bool closed;
    collect(f, buf, sizeof buf, "ok:/v1/traces", 1, 2000, &closed);
    assert_false(closed);
    assert_int_equal(f->s.n, 1);
    assert_string_equal(f->s.method, "POST");
    assert_string_equal(f->s.path, "/v1/traces");
    assert_string_equal(f->s.ctype, "application/json");
    assert_string_equal(f->s.tenant, "team-a");
    assert_string_equal(f->s.other, "one   two"); /* obs-fold: CR LF become spaces */
    assert_int_equal(f->s.body_len, 5);
    assert_memory_equal(f->s.body, "hello", 5);
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(buf, "\r\nContent-Length: 13\r\n"));
    assert_non_null(strstr(buf, "\r\nX-Echo: 1\r\n"));
    assert_null(strstr(buf, "Injected"));
    assert_null(strstr(buf, "Connection: close"));
    /* keep-alive: a second request on the same connection */
    const char req2[] = "GET /two HTTP/1.1\r\nHost: a\r\n\r\n";
    send_all(f->cl, req2, sizeof req2 - 1);
    collect(f, buf, sizeof buf, "ok:/two", 1, 2000, &closed);
    assert_int_equal(f->s.n, 2);
    assert_string_equal(f->s.method, "GET");
    assert_int_equal(f->s.body_len, 0);
    fx_free(f);
}

static void test_chunked_body_is_joined(void **state) {
    (void)state;
    fx *f = fx_new(1 << 20, 30);
    const char req[] = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\n{\"res\r\n8;ext=1\r\nourceSpa\r\n4\r\nns\":\r\n3\r\n[]}\r\n0\r\nTrailer-X: t\r\n\r\n";
    send_all(f->cl, req, sizeof req - 1);
    bool closed;
    collect(f, buf, sizeof buf, "ok:/c", 1, 2000, &closed);
    assert_int_equal(f->s.n, 1);
    assert_int_equal(f->s.body_len, 20);
    assert_memory_equal(f->s.body, "{\"resourceSpans\":[]}", 20);
    fx_free(f);
}

/* Two requests in one write; the first answered after the second arrived:
 * replies in order, the second handled only after the first is answered. */
static void test_pipelined_requests_answered_in_order(void **state) {
    (void)state;
    fx *f = fx_new(1 << 20, 30);
    f->s.defer = true;
    const char req[] = "POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nA"
                       "POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nBB";
    send_all(f->cl, req, sizeof req - 1);
    bool closed;
    collect(f, buf, sizeof buf, NULL, 0, 50, &closed);
    assert_int_equal(f->s.n, 1); /* the second waits for the first's reply */
    assert_string_equal(f->s.path, "/a");
    assert_int_equal(buf[0], '\0');
    tws_h1_reply(f->s.held[0], 202, "Accepted", NULL, "first", 5);
    collect(f, buf, sizeof buf, NULL, 0, 50, &closed);
    assert_int_equal(f->s.n, 2);
    assert_string_equal(f->s.path, "/b");
    assert_memory_equal(f->s.body, "BB", 2);
    assert_non_null(strstr(buf, "HTTP/1.1 202 Accepted\r\n"));
    assert_non_null(strstr(buf, "\r\n\r\nfirst"));
    tws_h1_reply(f->s.held[1], 200, "OK", NULL, "second", 6);
    collect(f, buf, sizeof buf, "second", 1, 2000, &closed);
    assert_non_null(strstr(buf, "second"));
    assert_false(closed);
    fx_free(f);
}

static void test_keep_alive_rules(void **state) {
    (void)state;
    bool closed;
    /* HTTP/1.0 without keep-alive: closed after the reply */
    fx *f = fx_new(1 << 20, 30);
    const char r10[] = "GET /old HTTP/1.0\r\n\r\n";
    send_all(f->cl, r10, sizeof r10 - 1);
    collect(f, buf, sizeof buf, NULL, 0, 2000, &closed);
    assert_true(closed);
    assert_non_null(strstr(buf, "Connection: close\r\n"));
    assert_non_null(strstr(buf, "ok:/old"));
    fx_free(f);
    /* HTTP/1.0 with keep-alive: said so, kept */
    f = fx_new(1 << 20, 30);
    const char r10k[] = "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    send_all(f->cl, r10k, sizeof r10k - 1);
    collect(f, buf, sizeof buf, "ok:/k", 1, 2000, &closed);
    assert_false(closed);
    assert_non_null(strstr(buf, "Connection: keep-alive\r\n"));
    fx_free(f);
    /* HTTP/1.1 Connection: close */
    f = fx_new(1 << 20, 30);
    const char r11[] = "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n";
    send_all(f->cl, r11, sizeof r11 - 1);
    collect(f, buf, sizeof buf, NULL, 0, 2000, &closed);
    assert_true(closed);
    assert_non_null(strstr(buf, "ok:/c"));
    fx_free(f);
}

static void test_expect_continue_and_head(void **state) {
    (void)state;
    fx *f = fx_new(1 << 20, 30);
    const char hdrs[] = "POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    send_all(f->cl, hdrs, sizeof hdrs - 1);
    bool closed;
    collect(f, buf, sizeof buf, "100 Continue\r\n\r\n", 1, 2000, &closed);
    assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_int_equal(f->s.n, 0);
    send_all(f->cl, "abc", 3);
    collect(f, buf, sizeof buf, "ok:/e", 1, 2000, &closed);
    assert_int_equal(f->s.n, 1);
    assert_memory_equal(f->s.body, "abc", 3);
    /* HEAD: the length of the body, not the body */
    const char head[] = "HEAD /h HTTP/1.1\r\n\r\n";
    send_all(f->cl, head, sizeof head - 1);
    collect(f, buf, sizeof buf, "\r\n\r\n", 1, 2000, &closed);
    collect(f, buf + strlen(buf), sizeof buf - strlen(buf), NULL, 0, 50, &closed);
    assert_non_null(strstr(buf, "Content-Length: 5\r\n")); /* "ok:/h" */
    assert_null(strstr(buf, "ok:/h"));
    fx_free(f);
}

/* The client sends its request and shuts its side: the reply still comes. */
static void test_half_closed_peer_gets_its_reply(void **state) {
    (void)state;
    fx *f = fx_new(1 << 20, 30);
    const char req[] = "POST /hc HTTP/1.1\r\nContent-Length: 2\r\n\r\nok";
    send_all(f->cl, req, sizeof req - 1);
    shutdown(f->cl, SHUT_WR);
    bool closed;
    collect(f, buf, sizeof buf, NULL, 0, 2000, &closed);
    assert_true(closed);
    assert_non_null(strstr(buf, "ok:/hc"));
    fx_free(f);
}

/* A reply far larger than the socket buffer is written as the client reads. */
static void test_large_reply_written_in_pieces(void **state) {
    (void)state;
    fx *f = fx_new(1 << 20, 30);
    int small = 4096;
    setsockopt(f->cl, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    f->s.reply_bytes = 3 << 20;
    const char req[] = "GET /big HTTP/1.1\r\n\r\n";
    send_all(f->cl, req, sizeof req - 1);
    bool closed;
    size_t n = collect(f, buf, sizeof buf, NULL, 0, 3000, &closed);
    char *body = strstr(buf, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    size_t got = n - (size_t)(body - buf);
    assert_int_equal(got, 3u << 20);
    for (size_t i = 0; i < got; i++)
        if (body[i] != 'x') fail_msg("byte %zu is %d", i, body[i]);
    fx_free(f);
}

/* Every byte in its own read: fields, values, the url and the body split anywhere. */
static void test_request_a_byte_at_a_time(void **state) {
    (void)state;
    fx *f = fx_new(1 << 20, 30);
    const char req[] = "POST /v1/logs HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nX-Scope-OrgID: t1\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    for (size_t i = 0; i < sizeof req - 1; i++) {
        send_all(f->cl, req + i, 1);
        for (int k = 0; k < 3; k++) loop_once(f);
    }
    bool closed;
    collect(f, buf, sizeof buf, "ok:/v1/logs", 1, 2000, &closed);
    assert_int_equal(f->s.n, 1);
    assert_string_equal(f->s.ctype, "application/x-protobuf");
    assert_string_equal(f->s.tenant, "t1");
    assert_int_equal(f->s.body_len, 5);
    assert_memory_equal(f->s.body, "abcde", 5);
    fx_free(f);
}

/* Refusals: the handler never runs, the reply says why, the connection closes. */
static void refused(size_t max_body, int timeout_s, const char *req, size_t len, const char *status, const char *why) {
    fx *f = fx_new(max_body, timeout_s);
    send_all(f->cl, req, len);
    bool closed;
    collect(f, buf, sizeof buf, NULL, 0, timeout_s * 1000 + 3000, &closed);
    assert_true(closed);
    assert_int_equal(f->s.n, 0);
    if (strncmp(buf, status, strlen(status)) != 0) fail_msg("expected %s, got: %.200s", status, buf);
    assert_non_null(strstr(buf, "Connection: close\r\n"));
    if (!strstr(buf, why)) fail_msg("no \"%s\" in: %.300s", why, buf);
    fx_free(f);
}

static void test_refusals(void **state) {
    (void)state;
    const char big[] = "POST /v1/traces HTTP/1.1\r\nContent-Length: 1000\r\n\r\n"; /* no body sent: decided at once */
    refused(100, 30, big, sizeof big - 1, "HTTP/1.1 413 ", "larger than the 100 bytes");
    char chunks[600];
    int n = snprintf(chunks, sizeof chunks, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 12; i++) n += snprintf(chunks + n, sizeof chunks - (size_t)n, "a\r\n0123456789\r\n");
    refused(100, 30, chunks, (size_t)n, "HTTP/1.1 413 ", "larger than the 100 bytes");
    const char bad[] = "POST /x HTTP/1.1\r\nContent-Length: 12x\r\n\r\n";
    refused(100, 30, bad, sizeof bad - 1, "HTTP/1.1 400 ", "malformed HTTP/1.1 request: invalid character in content-length");
    const char junk[] = "\x01\x02 nonsense\r\n\r\n";
    refused(100, 30, junk, sizeof junk - 1, "HTTP/1.1 400 ", "malformed HTTP/1.1 request");
    static char huge[100 << 10];
    n = snprintf(huge, sizeof huge, "GET / HTTP/1.1\r\nX-Big: ");
    memset(huge + n, 'a', sizeof huge - (size_t)n - 10);
    memcpy(huge + sizeof huge - 10, "\r\n\r\n", 4);
    refused(100, 30, huge, sizeof huge - 6, "HTTP/1.1 431 ", "header");
    const char slow[] = "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n012";
    refused(100, 1, slow, sizeof slow - 1, "HTTP/1.1 408 ", "did not arrive in time");
}

/* An idle keep-alive connection is closed after the timeout, quietly. */
static void test_idle_connection_closes(void **state) {
    (void)state;
    fx *f = fx_new(100, 1);
    bool closed;
    collect(f, buf, sizeof buf, NULL, 0, 3000, &closed);
    assert_true(closed);
    assert_int_equal(buf[0], '\0');
    fx_free(f);
}

/* The peer leaves while its request waits: the later reply is dropped and
 * the connection freed (ASan checks the freeing). */
static void test_peer_gone_while_pending(void **state) {
    (void)state;
    fx *f = fx_new(100, 30);
    f->s.defer = true;
    const char req[] = "POST /gone HTTP/1.1\r\nContent-Length: 1\r\n\r\nx";
    send_all(f->cl, req, sizeof req - 1);
    bool closed;
    collect(f, buf, sizeof buf, NULL, 0, 50, &closed);
    assert_int_equal(f->s.n, 1);
    close(f->cl);
    f->cl = -1;
    loop_once(f);
    tws_h1_reply(f->s.held[0], 200, "OK", NULL, "late", 4);
    loop_once(f);
    fx_free(f);
}

/* A real listener on a loopback port. */
static void test_listen_on_loopback(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    seen s = {0};
    tws_h1_server *srv = tws_h1_new(base, NULL, handler, &s);
    assert_int_equal(tws_h1_bind(srv, "127.0.0.1", 0), 0);
    uint16_t port = tws_h1_port(srv);
    assert_true(port > 0);
    tws_h1_server *again = tws_h1_new(base, NULL, handler, &s);
    assert_int_equal(tws_h1_bind(again, "127.0.0.1", port), -1); /* taken */
    tws_h1_free(again);
    int cl = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
    assert_int_equal(connect(cl, (struct sockaddr *)&a, sizeof a), 0);
    const char req[] = "GET /l HTTP/1.1\r\n\r\n";
    send_all(cl, req, sizeof req - 1);
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < 2000 && !strstr(buf, "ok:/l"); i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        ssize_t n = recv(cl, buf + len, sizeof buf - 1 - len, MSG_DONTWAIT);
        if (n > 0) len += (size_t)n;
        buf[len] = '\0';
        struct pollfd pf = {cl, POLLIN, 0};
        poll(&pf, 1, 1);
    }
    assert_non_null(strstr(buf, "ok:/l"));
    assert_int_equal(s.n, 1);
    close(cl);
    tws_h1_free(srv);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_by_length_and_headers),
        cmocka_unit_test(test_chunked_body_is_joined),
        cmocka_unit_test(test_pipelined_requests_answered_in_order),
        cmocka_unit_test(test_keep_alive_rules),
        cmocka_unit_test(test_expect_continue_and_head),
        cmocka_unit_test(test_half_closed_peer_gets_its_reply),
        cmocka_unit_test(test_large_reply_written_in_pieces),
        cmocka_unit_test(test_request_a_byte_at_a_time),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_idle_connection_closes),
        cmocka_unit_test(test_peer_gone_while_pending),
        cmocka_unit_test(test_listen_on_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
