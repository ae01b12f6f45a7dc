/*
 * fuzz_srv_loki_json.c — Loki's push JSON decoder (logs/loki_push.c) and
 * the id finder run after it (logs/log_ids.c). Input: a push body as is.
 * Options come from the input's length, so the corpus stays plain JSON: odd
 * lengths borrow the input, lengths divisible by 3 cut values at 8 bytes.
 *
 * Properties checked (abort() on violation):
 *  - the result is success or TW_EPARSE; a refusal leaves the batch empty
 *    and has a message whose byte offsets lie inside the input;
 *  - an accepted batch keeps the invariants of a push (fuzz_loki_common.h:
 *    labels sorted, unique, valid; strings valid UTF-8 within the limit;
 *    entries grouped by stream);
 *  - written back as push JSON and as push protobuf, it decodes to the
 *    same streams and entries with nothing repaired or cut again;
 *  - ids found in the content are well formed.
 */
#include "fuzz_loki_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tws_decode_options o = {.borrow_input = size & 1, .max_value_len = size % 3 == 0 ? 8 : 0};
    tws_batch a;
    tws_decode_error err;
    int rc = tws_loki_decode_json((const char *)data, size, &o, &a, &err);
    if (rc) {
        check_refusal(rc, &a, &err, size);
        return 0;
    }
    check_push(&a, &o);
    check_round_trip(&a, write_json, decode_json_bytes, &o);
    check_round_trip(&a, write_pb, tws_loki_decode_pb, &o);
    check_ids(&a);
    tws_batch_free(&a);
    return 0;
}
