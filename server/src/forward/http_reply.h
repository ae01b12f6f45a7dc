/*
 * http_reply.h — reading an HTTP reply with libcurl for the senders that
 * retry (forward/otlphttp.c, red/remote_write.c): the body is not needed,
 * only the status and a Retry-After header.
 */
#ifndef TWS_FORWARD_HTTP_REPLY_H
#define TWS_FORWARD_HTTP_REPLY_H

#include <stdlib.h>
#include <strings.h>

/* CURLOPT_WRITEFUNCTION that drops the body. */
static inline size_t tws_http_discard(char *p, size_t size, size_t n, void *u) {
    (void)p, (void)u;
    return size * n;
}

/* The seconds of a "Retry-After: N" header line, or -1 when `p` is another header. */
static inline long tws_http_retry_after(const char *p, size_t len) {
    return len > 12 && strncasecmp(p, "Retry-After:", 12) == 0 ? strtol(p + 12, NULL, 10) : -1;
}

#endif
