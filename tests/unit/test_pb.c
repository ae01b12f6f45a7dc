/*
 * test_pb.c — the protobuf wire-format writer and reader: varint edge
 * values, every field type against hand-computed bytes, nested messages
 * whose length guess is too small or too large (canonical output either
 * way), the sticky buffer error and allocation failure, malformed input for
 * the reader, and a randomised write/read round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/pb.h"

static void assert_bytes(const tw__buf *b, const char *hex) {
    size_t n = strlen(hex) / 2;
    assert_int_equal(b->failed, 0);
    if (b->len != n) fail_msg("length %zu, expected %zu (%s)", b->len, n, hex);
    for (size_t i = 0; i < n; i++) {
        int v = tw__hexval((unsigned char)hex[2 * i]) << 4 | tw__hexval((unsigned char)hex[2 * i + 1]);
        if (b->data[i] != v) fail_msg("byte %zu is %02x, expected %02x (%s)", i, b->data[i], v, hex);
    }
}

static void test_varint(void **state) {
    static const struct { uint64_t v; const char *hex; } cases[] = {
        {0, "00"},
        {1, "01"},
        {127, "7f"},
        {128, "8001"},
        {150, "9601"},
        {300, "ac02"},
        {16383, "ff7f"},
        {16384, "808001"},
        {UINT32_MAX, "ffffffff0f"},
        {(uint64_t)1 << 63, "80808080808080808001"},
        {UINT64_MAX, "ffffffffffffffffff01"},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(cases); i++) {
        tw__buf b;
        tw__buf_init(&b, 0);
        tw__pb_varint(&b, cases[i].v);
        assert_bytes(&b, cases[i].hex);
        assert_int_equal(tw__pb_varint_size(cases[i].v), b.len);
        const uint8_t *p = b.data;
        uint64_t v;
        assert_int_equal(tw__pb_read_varint(&p, b.data + b.len, &v), 0);
        assert_true(v == cases[i].v);
        assert_ptr_equal(p, b.data + b.len);
        tw__buf_free(&b);
    }
}

static void test_fields(void **state) {
    tw__buf b;
    tw__buf_init(&b, 0);
    tw__pb_uint64(&b, 1, 150); /* the encoding guide's example */
    assert_bytes(&b, "089601");
    tw__buf_reset(&b);
    tw__pb_bytes(&b, 2, "testing", 7);
    assert_bytes(&b, "120774657374696e67");
    tw__buf_reset(&b);
    tw__pb_uint64(&b, 3, (uint64_t)(int64_t)-1); /* int64 -1: ten bytes */
    assert_bytes(&b, "18ffffffffffffffffff01");
    tw__buf_reset(&b);
    tw__pb_fixed32(&b, 16, 0x301); /* field 16: a two-byte tag */
    assert_bytes(&b, "850101030000");
    tw__buf_reset(&b);
    tw__pb_fixed64(&b, 7, 0x0102030405060708ull);
    assert_bytes(&b, "390807060504030201");
    tw__buf_reset(&b);
    tw__pb_double(&b, 4, 1.0);
    assert_bytes(&b, "21000000000000f03f");
    tw__buf_reset(&b);
    tw__pb_bytes(&b, 1, NULL, 0);
    assert_bytes(&b, "0a00");
    tw__buf_reset(&b);
    tw__pb_uint64(&b, 0x1fffffff, 1); /* the largest field number */
    assert_bytes(&b, "f8ffffff0f01");
    tw__buf_reset(&b);
    tw__pb_len_header(&b, 5, 3);
    tw__pb_uint64(&b, 1, 1);
    tw__buf_putc(&b, 0);
    assert_bytes(&b, "2a03080100");
    tw__buf_free(&b);
}

/* A nested message of `n` payload bytes written with each width guess must
 * come out exactly as with a known length. */
static void test_nested_every_guess(void **state) {
    static const size_t sizes[] = {0, 1, 127, 128, 300, 16383, 16384, 70000, (size_t)1 << 21};
    uint8_t *payload = malloc(sizes[TW_ARRAY_LEN(sizes) - 1]);
    for (size_t i = 0; i < sizes[TW_ARRAY_LEN(sizes) - 1]; i++) payload[i] = (uint8_t)(i * 7 + 3);
    for (size_t s = 0; s < TW_ARRAY_LEN(sizes); s++) {
        tw__buf want;
        tw__buf_init(&want, 0);
        tw__pb_uint64(&want, 9, 42);
        tw__pb_bytes(&want, 3, payload, sizes[s]);
        tw__pb_uint64(&want, 9, 43);
        for (unsigned w = 1; w <= 5; w++) {
            tw__buf b;
            tw__buf_init(&b, 0);
            tw__pb_uint64(&b, 9, 42);
            tw__pb_mark m = tw__pb_begin(&b, 3, w);
            tw__buf_append(&b, payload, sizes[s]);
            tw__pb_end(&b, m);
            tw__pb_uint64(&b, 9, 43);
            assert_int_equal(b.failed, 0);
            assert_int_equal(b.len, want.len);
            assert_memory_equal(b.data, want.data, want.len);
            tw__buf_free(&b);
        }
        tw__buf_free(&want);
    }
    free(payload);
}

/* Messages nested three deep, each with a wrong guess, read back. */
static void test_nested_deep(void **state) {
    tw__buf b;
    tw__buf_init(&b, 0);
    tw__pb_mark a = tw__pb_begin(&b, 1, 5);
    tw__pb_mark c = tw__pb_begin(&b, 2, 1);
    tw__pb_mark d = tw__pb_begin(&b, 3, 1);
    for (int i = 0; i < 100; i++) tw__pb_bytes(&b, 4, "0123456789", 10);
    tw__pb_end(&b, d);
    tw__pb_uint64(&b, 5, 7);
    tw__pb_end(&b, c);
    tw__pb_end(&b, a);
    assert_int_equal(b.failed, 0);

    tw__pb_reader r;
    tw__pb_field f;
    tw__pb_reader_init(&r, b.data, b.len);
    assert_int_equal(tw__pb_next(&r, &f), 1);
    assert_int_equal(f.num, 1);
    assert_int_equal(f.wire, TW_PB_LEN);
    assert_ptr_equal(f.data + f.len, b.data + b.len);
    assert_int_equal(tw__pb_next(&r, &f), 0);
    tw__pb_reader_init(&r, b.data + 3, f.len); /* 1-byte tag, 2-byte length */
    assert_int_equal(tw__pb_next(&r, &f), 1);
    assert_int_equal(f.num, 2);
    tw__pb_reader r2;
    tw__pb_reader_init(&r2, f.data, f.len);
    assert_int_equal(tw__pb_next(&r2, &f), 1);
    assert_int_equal(f.num, 3);
    assert_int_equal(f.len, 1200);
    tw__pb_reader r3;
    tw__pb_reader_init(&r3, f.data, f.len);
    int n = 0;
    while (tw__pb_next(&r3, &f) == 1) {
        assert_int_equal(f.num, 4);
        assert_memory_equal(f.data, "0123456789", 10);
        n++;
    }
    assert_int_equal(n, 100);
    assert_int_equal(tw__pb_next(&r2, &f), 1);
    assert_int_equal(f.num, 5);
    assert_int_equal(f.u, 7);
    assert_int_equal(tw__pb_next(&r2, &f), 0);
    tw__buf_free(&b);
}

/* (Caps of at least 256: below that tw__buf's first allocation is 256
 * bytes, more than the cap, and cap checks only start past it.) */
static void test_sticky_error_and_cap(void **state) {
    char big[280];
    memset(big, 'x', sizeof big);
    tw__buf b;
    tw__buf_init(&b, 300);
    tw__pb_bytes(&b, 1, big, sizeof big); /* 283 bytes */
    assert_int_equal(b.failed, 0);
    tw__pb_mark m = tw__pb_begin(&b, 2, 1); /* 285 */
    assert_int_equal(b.failed, 0);
    tw__pb_bytes(&b, 1, "0123456789012345678", 19); /* 21 more: passes the cap */
    assert_int_equal(b.failed, TW_ERANGE);
    size_t len = b.len;
    tw__pb_end(&b, m);
    tw__pb_uint64(&b, 1, 1);
    tw__pb_fixed64(&b, 1, 1);
    tw__pb_fixed32(&b, 1, 1);
    tw__pb_varint(&b, 1);
    tw__pb_len_header(&b, 1, 1);
    assert_int_equal(b.len, len);
    assert_int_equal(b.failed, TW_ERANGE);
    tw__buf_free(&b);

    /* Exactly full is fine. */
    tw__buf_init(&b, 300);
    tw__pb_bytes(&b, 1, big, 280);
    tw__pb_bytes(&b, 1, big, 15); /* 283 + 17 = 300 */
    assert_int_equal(b.failed, 0);
    assert_int_equal(b.len, 300);
    tw__buf_free(&b);

    /* A nested message that passes the cap only when its prefix widens. */
    tw__buf_init(&b, 300);
    m = tw__pb_begin(&b, 1, 1);
    tw__buf_append(&b, big, 280);
    tw__buf_append(&b, big, 18); /* 2 + 298 = 300: full */
    assert_int_equal(b.failed, 0);
    tw__pb_end(&b, m); /* needs a 2-byte length: 301 > 300 */
    assert_int_equal(b.failed, TW_ERANGE);
    tw__buf_free(&b);
}

static void test_alloc_failure(void **state) {
    tw__buf b;
    tw__buf_init(&b, 0);
    tw__alloc_fail_after(0);
    tw__pb_bytes(&b, 1, "x", 1);
    tw__pb_mark m = tw__pb_begin(&b, 1, 1);
    tw__pb_end(&b, m);
    tw__alloc_fail_after(-1);
    assert_int_equal(b.failed, TW_ENOMEM);
    assert_int_equal(b.len, 0);
    tw__buf_free(&b);
}

static int read_one(const char *hex, tw__pb_field *f) {
    uint8_t bytes[64];
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++)
        bytes[i] = (uint8_t)(tw__hexval((unsigned char)hex[2 * i]) << 4 | tw__hexval((unsigned char)hex[2 * i + 1]));
    tw__pb_reader r;
    tw__pb_reader_init(&r, bytes, n);
    int rc = tw__pb_next(&r, f);
    if (rc < 0) assert_ptr_equal(r.p, bytes); /* stays put on error */
    return rc;
}

static void test_reader_malformed(void **state) {
    tw__pb_field f;
    assert_int_equal(read_one("", &f), 0);
    assert_int_equal(read_one("08", &f), TW_EPARSE);                     /* value missing */
    assert_int_equal(read_one("0880", &f), TW_EPARSE);                   /* truncated varint */
    assert_int_equal(read_one("08ffffffffffffffffff02", &f), TW_EPARSE); /* beyond 64 bits */
    assert_int_equal(read_one("08ffffffffffffffffffff01", &f), TW_EPARSE); /* 11 bytes */
    assert_int_equal(read_one("0a05616263", &f), TW_EPARSE);             /* LEN past the end */
    assert_int_equal(read_one("0affffffffffffffffff01", &f), TW_EPARSE); /* huge LEN */
    assert_int_equal(read_one("0001", &f), TW_EPARSE);                   /* field 0 */
    assert_int_equal(read_one("0b", &f), TW_EPARSE);                     /* group start */
    assert_int_equal(read_one("0c", &f), TW_EPARSE);                     /* group end */
    assert_int_equal(read_one("0e00", &f), TW_EPARSE);                   /* wire type 6 */
    assert_int_equal(read_one("0f00", &f), TW_EPARSE);                   /* wire type 7 */
    assert_int_equal(read_one("0d010203", &f), TW_EPARSE);               /* short fixed32 */
    assert_int_equal(read_one("0901020304050607", &f), TW_EPARSE);       /* short fixed64 */
    assert_int_equal(read_one("808080808001", &f), TW_EPARSE);           /* field > 2^29-1 */

    assert_int_equal(read_one("08ffffffffffffffffff01", &f), 1);
    assert_true(f.u == UINT64_MAX);
    assert_int_equal(read_one("0d04030201", &f), 1);
    assert_int_equal(f.wire, TW_PB_I32);
    assert_int_equal(f.u, 0x01020304);
    assert_int_equal(read_one("0a00", &f), 1);
    assert_int_equal(f.len, 0);
    assert_int_equal(read_one("8880800001", &f), 1); /* a non-minimal tag is still valid */
    assert_int_equal(f.num, 1);
}

/* Random messages written with the writer read back identically. */
static void test_random_roundtrip(void **state) {
    srand(12345);
    for (int iter = 0; iter < 200; iter++) {
        struct { uint32_t num; unsigned wire; uint64_t u; size_t len; } want[64];
        int nf = rand() % 64;
        uint8_t payload[300];
        for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)rand();
        tw__buf b;
        tw__buf_init(&b, 0);
        for (int i = 0; i < nf; i++) {
            uint32_t num = 1 + (uint32_t)rand() % (rand() % 2 ? 15 : 0x1ffffffe);
            uint64_t u = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 11) ^ (uint64_t)rand();
            u >>= rand() % 64;
            switch (rand() % 4) {
            case 0: tw__pb_uint64(&b, num, u); want[i].wire = TW_PB_VARINT; break;
            case 1: tw__pb_fixed64(&b, num, u); want[i].wire = TW_PB_I64; break;
            case 2: tw__pb_fixed32(&b, num, (uint32_t)u); u = (uint32_t)u; want[i].wire = TW_PB_I32; break;
            default: {
                size_t len = (size_t)rand() % sizeof payload;
                tw__pb_mark m = tw__pb_begin(&b, num, 1 + (unsigned)rand() % 3);
                tw__buf_append(&b, payload, len);
                tw__pb_end(&b, m);
                want[i].wire = TW_PB_LEN;
                want[i].len = len;
            }
            }
            want[i].num = num;
            want[i].u = u;
        }
        assert_int_equal(b.failed, 0);
        tw__pb_reader r;
        tw__pb_field f;
        tw__pb_reader_init(&r, b.data, b.len);
        for (int i = 0; i < nf; i++) {
            assert_int_equal(tw__pb_next(&r, &f), 1);
            assert_int_equal(f.num, want[i].num);
            assert_int_equal(f.wire, want[i].wire);
            if (f.wire == TW_PB_LEN) {
                assert_int_equal(f.len, want[i].len);
                if (f.len) assert_memory_equal(f.data, payload, f.len);
            } else {
                assert_true(f.u == want[i].u);
            }
        }
        assert_int_equal(tw__pb_next(&r, &f), 0);
        tw__buf_free(&b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_nested_every_guess),
        cmocka_unit_test(test_nested_deep),
        cmocka_unit_test(test_sticky_error_and_cap),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_reader_malformed),
        cmocka_unit_test(test_random_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
