/*
 * test_grpc_reply.c — reading a gRPC call's outcome (forward/grpc_reply.c):
 * grpc-status from headers or trailers, grpc-message percent-decoded,
 * google.rpc.RetryInfo out of grpc-status-details-bin, and the OTLP table
 * of retryable codes (RESOURCE_EXHAUSTED only with a RetryInfo).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"
#include "common/pb.h"
#include "forward/grpc_reply.h"

/* A google.rpc.Status{code, message, details[Any{type_url, RetryInfo{retry_delay{s, ns}}}]}. */
static void status_pb(tw__buf *b, const char *type_url, uint64_t s, uint32_t ns) {
    tw__buf d, ri, any;
    tw__buf_init(&d, 1 << 10), tw__buf_init(&ri, 1 << 10), tw__buf_init(&any, 1 << 10);
    if (s) tw__pb_uint64(&d, 1, s);
    if (ns) tw__pb_uint64(&d, 2, ns);
    tw__pb_bytes(&ri, 1, d.data, d.len);
    tw__pb_bytes(&any, 1, type_url, strlen(type_url));
    tw__pb_bytes(&any, 2, ri.data, ri.len);
    tw__pb_uint64(b, 1, 8);
    tw__pb_bytes(b, 2, "busy", 4);
    tw__pb_bytes(b, 3, any.data, any.len);
    tw__buf_free(&d), tw__buf_free(&ri), tw__buf_free(&any);
}

/* The header line "grpc-status-details-bin: <base64 of pb>". */
static void details_line(char *out, size_t cap, const tw__buf *pb) {
    tw__buf jb;
    tw__json j;
    tw__buf_init(&jb, 1 << 12);
    tw__json_init(&j, &jb);
    tw__json_base64(&j, pb->data, pb->len); /* "…" with padding: the decoder takes both forms */
    assert_false(jb.failed);
    snprintf(out, cap, "grpc-status-details-bin: %.*s\r\n", (int)(jb.len - 2), (const char *)jb.data + 1);
    tw__buf_free(&jb);
}

static void test_status_and_message(void **state) {
    (void)state;
    tws_grpc_reply r;
    tws_grpc_reply_reset(&r);
    assert_int_equal(r.status, -1);
    assert_int_equal(tws_grpc_outcome(&r, 200), 0); /* no status: the call did not complete */
    const char *lines[] = {"HTTP/2 200 \r\n", "content-type: application/grpc\r\n", "\r\n",
                           "Grpc-Status:  3 \r\n", "grpc-message: bad%20span%3A id%zz%0Aend\r\n"};
    for (size_t i = 0; i < 5; i++) tws_grpc_on_header((char *)lines[i], 1, strlen(lines[i]), &r);
    assert_int_equal(r.status, 3);
    assert_string_equal(r.message, "bad span: id%zz end"); /* a broken escape kept, a newline made a space */
    assert_int_equal(tws_grpc_outcome(&r, 200), -1);   /* INVALID_ARGUMENT: refused */
    tws_grpc_reply_header(&r, "grpc-status: x1", 15);
    assert_int_equal(r.status, 2); /* unreadable: UNKNOWN, refused */
    tws_grpc_reply_header(&r, "grpc-status: 0", 14);
    assert_int_equal(tws_grpc_outcome(&r, 200), 1);
    assert_int_equal(tws_grpc_outcome(&r, 503), 0); /* OK under a non-200 :status is not an answer */
    tws_grpc_reply_reset(&r);
    assert_int_equal(r.message[0], '\0');
    assert_false(r.retry_info);
}

static void test_retryable_codes(void **state) {
    (void)state;
    static const struct { int code; int outcome; } table[] = {
        {0, 1}, {1, 0}, {2, -1}, {3, -1}, {4, 0}, {5, -1}, {6, -1}, {7, -1}, {8, -1}, {9, -1},
        {10, 0}, {11, 0}, {12, -1}, {13, -1}, {14, 0}, {15, 0}, {16, -1},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        tws_grpc_reply r;
        tws_grpc_reply_reset(&r);
        r.status = table[i].code;
        if (tws_grpc_outcome(&r, 200) != table[i].outcome) fail_msg("grpc-status %d", table[i].code);
    }
}

static void test_retry_info(void **state) {
    (void)state;
    tw__buf pb;
    char line[2048];
    tws_grpc_reply r;

    tw__buf_init(&pb, 1 << 12);
    status_pb(&pb, "type.googleapis.com/google.rpc.RetryInfo", 2, 500000001);
    uint64_t ms = 0;
    assert_true(tws_grpc_retry_delay(pb.data, pb.len, &ms));
    assert_int_equal(ms, 2501); /* rounded up */
    tws_grpc_reply_reset(&r);
    tws_grpc_reply_header(&r, "grpc-status: 8", 14);
    assert_int_equal(tws_grpc_outcome(&r, 200), -1); /* RESOURCE_EXHAUSTED without RetryInfo: refused */
    details_line(line, sizeof line, &pb);
    tws_grpc_reply_header(&r, line, strlen(line));
    assert_true(r.retry_info);
    assert_int_equal(r.retry_ms, 2501);
    assert_int_equal(tws_grpc_outcome(&r, 200), 0); /* …with one: retried after the delay */

    tw__buf_reset(&pb);
    status_pb(&pb, "type.googleapis.com/google.rpc.DebugInfo", 2, 0);
    assert_false(tws_grpc_retry_delay(pb.data, pb.len, &ms));
    tws_grpc_reply_reset(&r);
    details_line(line, sizeof line, &pb);
    tws_grpc_reply_header(&r, line, strlen(line));
    assert_false(r.retry_info);

    static const uint8_t junk[] = {0x1a, 0x7f, 0x00};
    assert_false(tws_grpc_retry_delay(junk, sizeof junk, &ms)); /* a LEN past the end: nothing read */
    tws_grpc_reply_header(&r, "grpc-status-details-bin: !!!", 28);
    assert_false(r.retry_info);
    tw__buf_free(&pb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_message),
        cmocka_unit_test(test_retryable_codes),
        cmocka_unit_test(test_retry_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
