/*
 * digest.h — the hex SHA-256 (or HMAC-SHA256) the processors write in
 * place of a value they hash: lowercase, 64 characters, stable across
 * instances and restarts so hashed values stay joinable.
 */
#ifndef TWS_DIGEST_H
#define TWS_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define TWS_SHA256_HEX 64

/* SHA-256 of s[0..n), or HMAC-SHA256 under key[0..key_len) when `key` is
 * not NULL, into out (NUL-terminated). False only when libcrypto fails. */
bool tws_sha256_hex(const void *s, size_t n, const char *key, size_t key_len, char out[TWS_SHA256_HEX + 1]);

#endif
