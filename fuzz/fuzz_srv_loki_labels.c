/*
 * fuzz_srv_loki_labels.c — the Prometheus label-set parser Loki's protobuf
 * streams name themselves with (tws_loki_parse_labels, logs/loki_push.c).
 * Input: a label string as is.
 *
 * Properties checked (abort() on violation):
 *  - 0 or TW_EPARSE; a refusal has a message, and an offset in it lies
 *    inside the input;
 *  - an accepted set is sorted, unique, with valid names and non-empty
 *    valid UTF-8 values, every value pointing into the input or the arena;
 *  - written back with the escapes it needs, it parses to the same set.
 */
#include "fuzz_loki_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tws_batch b;
    tws_attrs a, again;
    char msg[160];
    tws_batch_init(&b);
    int rc = tws_loki_parse_labels((const char *)data, size, &b, &a, msg, sizeof msg);
    if (rc) {
        check(rc == TW_EPARSE && msg[0] != '\0' && a.n == 0);
        check(trailing_offset(msg, " at offset ") <= (long long)size);
        tws_batch_free(&b);
        return 0;
    }
    check_labels(&a);
    tw__buf text;
    tw__buf_init(&text, 0);
    write_labels(&a, &text);
    check(text.failed == 0);
    uint32_t repairs = b.utf8_repairs;
    check(tws_loki_parse_labels((const char *)text.data, text.len, &b, &again, msg, sizeof msg) == 0);
    check(b.utf8_repairs == repairs && kvs_same(&a, &again));
    tw__buf_free(&text);
    tws_batch_free(&b);
    return 0;
}
