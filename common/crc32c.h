/*
 * crc32c.h — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of every WAL record (iSCSI, ext4 and LevelDB use the same one).
 *
 * tw__crc32c uses the SSE4.2 crc32 instruction when the CPU has it (checked
 * at run time) and a slicing-by-8 table otherwise; both give the same value.
 * Chaining: tw__crc32c(tw__crc32c(0, a, n), b, m) equals the CRC of a||b,
 * and tw__crc32c(0, "123456789", 9) == 0xE3069283.
 */
#ifndef TW_CRC32C_H
#define TW_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#include "common/tw_base.h"

TW_HIDDEN uint32_t tw__crc32c(uint32_t crc, const void *data, size_t n);

/* The two implementations, exposed for tests and benchmarks.
 * tw__crc32c_hw returns the same as tw__crc32c_sw; call it only when
 * tw__crc32c_have_hw() is true. */
TW_HIDDEN uint32_t tw__crc32c_sw(uint32_t crc, const void *data, size_t n);
TW_HIDDEN uint32_t tw__crc32c_hw(uint32_t crc, const void *data, size_t n);
TW_HIDDEN bool tw__crc32c_have_hw(void);

#endif
