/*
 * fuzz_srv_loki_pb.c — Loki's push protobuf decoder and the capped snappy
 * reader in front of it (logs/loki_push.c). Input: a PushRequest as
 * protobuf, uncompressed (what the decoder sees after snappy); the same
 * bytes are also given to the snappy reader, and whatever it accepts is
 * decoded too. Odd lengths borrow the input, lengths divisible by 3 cut
 * values at 8 bytes.
 *
 * Properties checked (abort() on violation):
 *  - success or TW_EPARSE; a refusal leaves the batch empty and any byte
 *    offset in its message lies inside the input;
 *  - the invariants of a push (fuzz_loki_common.h);
 *  - written back as protobuf and as JSON it decodes to the same batch;
 *    the protobuf, snappy-compressed, comes back through the capped reader
 *    byte for byte, and is refused with TW_ERANGE under a cap one short;
 *  - the snappy reader returns 0, TW_EPARSE or TW_ERANGE, never more than
 *    its cap, and leaves the buffer as it was when it fails;
 *  - ids found in the content are well formed.
 */
#include <snappy-c.h>

#include "fuzz_loki_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SNAPPY_CAP (1u << 20)

static void decode_and_check(const uint8_t *data, size_t size) {
    tws_decode_options o = {.borrow_input = size & 1, .max_value_len = size % 3 == 0 ? 8 : 0};
    tws_batch a;
    tws_decode_error err;
    int rc = tws_loki_decode_pb(data, size, &o, &a, &err);
    if (rc) {
        check_refusal(rc, &a, &err, size);
        return;
    }
    check_push(&a, &o);
    check_round_trip(&a, write_pb, tws_loki_decode_pb, &o);
    check_round_trip(&a, write_json, decode_json_bytes, &o);

    tw__buf enc, back;
    tw__buf_init(&enc, 0);
    tw__buf_init(&back, 0);
    write_pb(&a, &enc);
    size_t cn = snappy_max_compressed_length(enc.len);
    char *c = malloc(cn ? cn : 1);
    check(c && snappy_compress((const char *)enc.data, enc.len, c, &cn) == SNAPPY_OK);
    check(tws_snappy_uncompress_capped((const uint8_t *)c, cn, enc.len, &back) == 0);
    check(back.len == enc.len && (enc.len == 0 || memcmp(back.data, enc.data, enc.len) == 0));
    if (enc.len) {
        tw__buf_reset(&back);
        check(tws_snappy_uncompress_capped((const uint8_t *)c, cn, enc.len - 1, &back) == TW_ERANGE);
    }
    free(c);
    tw__buf_free(&enc);
    tw__buf_free(&back);
    check_ids(&a);
    tws_batch_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    decode_and_check(data, size);
    tw__buf raw;
    tw__buf_init(&raw, 0);
    tw__buf_append(&raw, "x", 1); /* appended after, kept on failure */
    int rc = tws_snappy_uncompress_capped(data, size, SNAPPY_CAP, &raw);
    check(rc == 0 || rc == TW_EPARSE || rc == TW_ERANGE);
    if (rc) {
        check(raw.len == 1 && raw.data[0] == 'x');
    } else {
        check(raw.len - 1 <= SNAPPY_CAP);
        decode_and_check(raw.data + 1, raw.len - 1);
    }
    tw__buf_free(&raw);
    return 0;
}
