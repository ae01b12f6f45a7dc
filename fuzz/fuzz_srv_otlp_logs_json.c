/*
 * fuzz_srv_otlp_logs_json.c — the server's OTLP/JSON logs decoder
 * (tws_otlp_decode_logs_json in otlp/decode_json.c). Input: a JSON text;
 * odd lengths borrow the input, lengths divisible by 3 cut attribute
 * string values at 8 bytes.
 *
 * Properties checked (abort() on violation):
 *  - the result is TW_OK or TW_EPARSE; a refusal has a message and leaves
 *    the batch empty;
 *  - an accepted batch keeps the invariants of fuzz_logs_common.h, and a
 *    rejected record comes with a message naming it;
 *  - the same text read as a traces request yields no log records.
 */
#include "fuzz_logs_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tws_decode_options o = {.borrow_input = size % 2 == 1, .max_value_len = size % 3 == 0 ? 8 : 0};
    tws_batch b;
    tws_decode_error err;
    int rc = tws_otlp_decode_logs_json((const char *)data, size, &o, &b, &err);
    check(rc == TW_OK || rc == TW_EPARSE);
    if (rc == TW_EPARSE) {
        check(err.msg[0] != '\0');
        check(b.n_logs == 0 && b.logs == NULL && b.n_resources == 0 && b.arena == NULL);
    } else {
        check_logs_batch(&b, o.max_value_len);
        check(b.n_rejected == 0 || strstr(err.msg, "logRecords[") != NULL);
        tws_batch_free(&b);
    }
    if (tws_otlp_decode_json((const char *)data, size, &o, &b, &err) == TW_OK) {
        check(b.n_logs == 0);
        tws_batch_free(&b);
    }
    return 0;
}
