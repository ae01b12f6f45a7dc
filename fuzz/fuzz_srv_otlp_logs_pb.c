/*
 * fuzz_srv_otlp_logs_pb.c — the server's OTLP/protobuf logs decoder
 * (tws_otlp_decode_logs_pb in otlp/decode_pb.c). Input: an
 * ExportLogsServiceRequest as is; odd lengths borrow the input, lengths
 * divisible by 3 cut attribute string values at 8 bytes.
 *
 * Properties checked (abort() on violation):
 *  - the result is success or TW_EPARSE; a refusal has a message with
 *    " at byte N", N inside the input, and leaves the batch empty;
 *  - an accepted batch keeps the invariants of fuzz_logs_common.h.
 */
#include <stdio.h>

#include "fuzz_logs_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tws_decode_options o = {.borrow_input = size % 2 == 1, .max_value_len = size % 3 == 0 ? 8 : 0};
    tws_batch b;
    tws_decode_error err;
    int rc = tws_otlp_decode_logs_pb(data, size, &o, &b, &err);
    check(rc == TW_OK || rc == TW_EPARSE);
    if (rc == TW_EPARSE) {
        const char *at = strstr(err.msg, " at byte ");
        check(at != NULL);
        check(strtoull(at + 9, NULL, 10) <= size);
        check(b.n_logs == 0 && b.logs == NULL);
        return 0;
    }
    check_logs_batch(&b, o.max_value_len);
    tws_batch_free(&b);
    return 0;
}
