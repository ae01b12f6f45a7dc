/*
 * grpc_reply.h — what a gRPC server answered to one unary call made with
 * libcurl over HTTP/2 (the otlp exporter, forward/queue.c), and whether the
 * call is delivered, to be retried, or refused.
 *
 * The status of a gRPC call is not the HTTP status: it is the grpc-status
 * header of the trailers (or of a Trailers-Only response), with
 * grpc-message (percent-encoded text) and grpc-status-details-bin (base64
 * of a google.rpc.Status whose details may hold a google.rpc.RetryInfo
 * with the delay the server asks for). libcurl hands both the headers and
 * the trailers to the header callback, so one callback reads all three.
 *
 * The outcome follows the OTLP specification's table of retryable codes:
 * CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and
 * DATA_LOSS are retried; RESOURCE_EXHAUSTED is retried when the server sent
 * a RetryInfo (it can recover), and refused otherwise; every other code is
 * refused. A reply with no grpc-status at all (a proxy's error page, a
 * connection cut mid-stream) is retried.
 */
#ifndef TWS_FORWARD_GRPC_REPLY_H
#define TWS_FORWARD_GRPC_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tws_grpc_reply {
    int status;            /* grpc-status, or -1 when none came */
    bool retry_info;       /* a google.rpc.RetryInfo was in the details */
    uint64_t retry_ms;     /* its delay (0: none given) */
    char message[256];     /* grpc-message, percent-decoded, truncated */
} tws_grpc_reply;

/* Forget the previous call's answer. */
void tws_grpc_reply_reset(tws_grpc_reply *r);

/* CURLOPT_HEADERFUNCTION with CURLOPT_HEADERDATA a tws_grpc_reply *. */
size_t tws_grpc_on_header(char *p, size_t size, size_t n, void *reply);

/* Read one "Name: value" header line (without or with its CRLF). */
void tws_grpc_reply_header(tws_grpc_reply *r, const char *line, size_t len);

/* The delay from a google.rpc.Status in protobuf (its RetryInfo detail):
 * true and *ms set when there is one. */
bool tws_grpc_retry_delay(const uint8_t *status_pb, size_t len, uint64_t *ms);

/* 1 delivered, 0 retry later, -1 refused; `http_status` is the response's
 * :status (0 when the transfer failed before one arrived). */
int tws_grpc_outcome(const tws_grpc_reply *r, long http_status);

#endif
