/*
 * fuzz_srv_http1.c — the OTLP/HTTP port's HTTP/1.1 server (serve/http1.c)
 * on arbitrary bytes, sent over a socketpair in pieces whose size the first
 * byte picks, then the client's side shut: never crashes or leaks, never
 * hands the handler a body over the limit, every reply starts with a
 * status line, and the connection always ends (the server answers what it
 * has and closes). Some requests are answered at once, some later (the
 * WAL's path), so both reply paths run.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve/http1.h"

enum { MAX_BODY = 4096, HELD = 16 };
static tws_h1_req *held[HELD];
static int n_held;

static void handler(tws_h1_req *r, void *arg) {
    (void)arg;
    size_t n;
    const uint8_t *b = tws_h1_body(r, &n);
    if (n > MAX_BODY || !tws_h1_path(r) || !tws_h1_method_name(r)) abort();
    const char *ct = tws_h1_header(r, "content-type");
    if (ct && strlen(ct) > 100000) abort();
    if ((n & 1) && n_held < HELD) { /* answered later */
        held[n_held++] = r;
        return;
    }
    tws_h1_add_header(r, "X-Len", "1");
    tws_h1_reply(r, 200, "OK", "application/octet-stream", b, n > 64 ? 64 : n);
}

static void answer_held(void) {
    int n = n_held;
    n_held = 0; /* a reply may start the next request, which may be held again */
    for (int i = 0; i < n; i++) tws_h1_reply(held[i], 202, "Accepted", NULL, "", 0);
}

/* Read what the server sent; false once it closed. */
static bool drain(int fd, bool *first, bool *bad) {
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) return false;
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        if (*first && (n < 9 || memcmp(buf, "HTTP/1.1 ", 9) != 0)) *bad = true;
        *first = false;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct event_base *base;
    if (!base && !(base = event_base_new())) abort();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
    tws_h1_options o = {.max_body = MAX_BODY, .timeout_s = 5};
    tws_h1_server *srv = tws_h1_new(base, &o, handler, NULL);
    if (!srv || tws_h1_adopt(srv, sv[1]) != 0) abort();
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    size_t piece = size ? (size_t)(data[0] % 16) * 97 + 1 : 1, off = size ? 1 : 0;
    bool first = true, bad = false, open = true;
    for (int spins = 0; off < size && open && spins < 100000; spins++) {
        size_t k = size - off < piece ? size - off : piece;
        ssize_t w = send(sv[0], data + off, k, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) off += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break; /* the server closed */
        event_base_loop(base, EVLOOP_NONBLOCK);
        answer_held();
        open = drain(sv[0], &first, &bad);
    }
    shutdown(sv[0], SHUT_WR);
    for (int spins = 0; open && spins < 100000; spins++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        answer_held();
        open = drain(sv[0], &first, &bad);
    }
    if (open || bad) abort(); /* the connection must end; replies start with a status line */
    close(sv[0]);
    tws_h1_free(srv);
    n_held = 0;
    return 0;
}
