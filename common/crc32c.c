/*
 * crc32c.c — CRC-32C: the SSE4.2 instruction, or slicing-by-8 tables.
 *
 * Slicing-by-8 (Intel's 2006 technique): table[k][b] is the CRC of byte b
 * followed by k zero bytes, so eight input bytes fold into the CRC with
 * eight independent lookups instead of eight dependent ones.
 */
#include <pthread.h>

#include "common/crc32c.h"

#define POLY 0x82F63B78u /* 0x1EDC6F41 bit-reversed */

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void) {
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int i = 0; i < 8; i++) c = (c >> 1) ^ (POLY & (0u - (c & 1u)));
        table[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++) table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xff];
}

#define load_le64 tw__load_le64

uint32_t tw__crc32c_sw(uint32_t crc, const void *data, size_t n) {
    pthread_once(&table_once, table_init);
    const uint8_t *p = data;
    uint32_t c = ~crc;
    for (; n && ((uintptr_t)p & 7); n--) c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v = load_le64(p) ^ c;
        c = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^ table[5][(v >> 16) & 0xff] ^
            table[4][(v >> 24) & 0xff] ^ table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
            table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
    }
    for (; n; n--) c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
    return ~c;
}

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) uint32_t tw__crc32c_hw(uint32_t crc, const void *data, size_t n) {
    const uint8_t *p = data;
    uint32_t c = ~crc;
    for (; n && ((uintptr_t)p & 7); n--) c = _mm_crc32_u8(c, *p++);
#if defined(__x86_64__)
    uint64_t c64 = c;
    for (; n >= 32; n -= 32, p += 32) {
        uint64_t a, b, d, e;
        memcpy(&a, p, 8);
        memcpy(&b, p + 8, 8);
        memcpy(&d, p + 16, 8);
        memcpy(&e, p + 24, 8);
        c64 = _mm_crc32_u64(c64, a);
        c64 = _mm_crc32_u64(c64, b);
        c64 = _mm_crc32_u64(c64, d);
        c64 = _mm_crc32_u64(c64, e);
    }
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t a;
        memcpy(&a, p, 8);
        c64 = _mm_crc32_u64(c64, a);
    }
    c = (uint32_t)c64;
#endif
    for (; n >= 4; n -= 4, p += 4) {
        uint32_t a;
        memcpy(&a, p, 4);
        c = _mm_crc32_u32(c, a);
    }
    for (; n; n--) c = _mm_crc32_u8(c, *p++);
    return ~c;
}

bool tw__crc32c_have_hw(void) { return __builtin_cpu_supports("sse4.2"); }
#else
uint32_t tw__crc32c_hw(uint32_t crc, const void *data, size_t n) { return tw__crc32c_sw(crc, data, n); }
bool tw__crc32c_have_hw(void) { return false; }
#endif

uint32_t tw__crc32c(uint32_t crc, const void *data, size_t n) {
    if (TW_LIKELY(tw__crc32c_have_hw())) return tw__crc32c_hw(crc, data, n);
    return tw__crc32c_sw(crc, data, n);
}
