/*
 * digest.c — tws_sha256_hex over OpenSSL's libcrypto.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "pipeline/digest.h"

bool tws_sha256_hex(const void *s, size_t n, const char *key, size_t key_len, char out[TWS_SHA256_HEX + 1]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    bool ok = key ? HMAC(EVP_sha256(), key, (int)key_len, s, n, md, &md_len) != NULL
                  : EVP_Digest(s, n, md, &md_len, EVP_sha256(), NULL) == 1;
    if (!ok || md_len * 2 != TWS_SHA256_HEX) return false;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < md_len; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[TWS_SHA256_HEX] = '\0';
    return true;
}
