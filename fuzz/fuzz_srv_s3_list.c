/*
 * fuzz_srv_s3_list.c — the parser of an S3 ListObjectsV2 answer
 * (objstore/s3.c) on arbitrary bytes, which a misbehaving or hostile
 * endpoint can send: never reads outside the answer, hands the caller only
 * NUL-terminated keys with a size, and either accepts the page (a truncated
 * one always with a non-empty continuation token) or refuses it with a
 * message.
 */
#include <stdlib.h>
#include <string.h>

#include "objstore/s3.h"
#include "tracewire/tw_common.h"

static int on_key(void *user, const char *key, uint64_t size) {
    (void)size;
    size_t *n = user;
    if (strlen(key) >= 1100) abort();
    ++*n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *xml = malloc(size ? size : 1); /* exactly `size` bytes: no terminator to lean on */
    if (!xml) return 0;
    if (size) memcpy(xml, data, size);
    size_t keys = 0;
    bool more = true;
    char token[1024];
    tws_objstore_err err = {{0}};
    int rc = tws_s3_parse_list(xml, size, on_key, &keys, &more, token, sizeof token, &err);
    if (rc != TW_OK && rc != TW_EINVAL) abort();
    if (rc == TW_EINVAL && !err.msg[0]) abort();
    if (rc == TW_OK && more && (!memchr(token, 0, sizeof token) || !token[0])) abort();
    free(xml);
    return 0;
}
