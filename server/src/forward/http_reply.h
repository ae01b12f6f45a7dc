/*
 * http_reply.h — reading an HTTP reply with libcurl for the senders that
 * retry (forward/queue.c, red/remote_write.c): the body is not needed,
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

/* CURLOPT_HEADERFUNCTION with CURLOPT_HEADERDATA a `long *`: set to the
 * seconds of a "Retry-After: N" header (the caller zeroes it before each request). */
static inline size_t tws_http_on_header(char *p, size_t size, size_t n, void *retry_after_s) {
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) *(long *)retry_after_s = strtol(p + 12, NULL, 10);
    return len;
}

#endif
