/*
 * s3.h — the object-store interface (objstore.h) over an S3-compatible
 * bucket: AWS S3, MinIO, Ceph RGW, s3rver. Requests are signed with
 * libcurl's built-in AWS Signature Version 4; URLs are path-style
 * (ENDPOINT/BUCKET/PREFIX/KEY), which every S3-compatible server accepts.
 *
 * Invariants (in addition to objstore.h's):
 *  - put is one PutObject with the whole object: S3 makes it visible whole
 *    or not at all, and a 200 means it is stored durably.
 *  - A request that fails in transport or with 500/502/503/504 (SlowDown,
 *    InternalError) is retried up to 4 times with backoff; other answers
 *    are final and their S3 error code and message reach `err`.
 *  - Every key sent is percent-encoded per SigV4's rules, so the canonical
 *    request libcurl signs is the one the server checks.
 *  - Thread-safe: each operation takes a curl handle from a small pool, so
 *    concurrent operations use their own connections and keep them alive.
 */
#ifndef TWS_OBJSTORE_S3_H
#define TWS_OBJSTORE_S3_H

#include "objstore/objstore.h"

typedef struct tws_s3_options {
    const char *endpoint;      /* "http://127.0.0.1:9000" or "s3.eu-west-1.amazonaws.com" (https assumed) */
    const char *bucket;        /* must exist */
    const char *region;        /* NULL or "": us-east-1 */
    const char *prefix;        /* every key lives under it ("tenant-a/blocks/"); NULL or "" for the root */
    const char *access_key;    /* NULL: $AWS_ACCESS_KEY_ID */
    const char *secret_key;    /* NULL: $AWS_SECRET_ACCESS_KEY */
    const char *session_token; /* NULL: $AWS_SESSION_TOKEN (absent: none) */
    uint32_t list_page_size;   /* keys per ListObjectsV2 page: 0 = 1000 */
    uint32_t timeout_ms;       /* per request: 0 = 30 s */
} tws_s3_options;

/* Open a store on the bucket and check it answers (one ListObjectsV2 of at
 * most one key): a wrong endpoint, bucket or key pair fails here with the
 * server's reason (TW_EIO), not at the first flush. TW_EINVAL for missing
 * or malformed options. */
int tws_objstore_s3_open(const tws_s3_options *o, tws_objstore **out, tws_objstore_err *err);

/* A store prefix is "" or a key path ending in '/' ("team-a/"), at most
 * 512 bytes. */
bool tws_s3_prefix_valid(const char *prefix);

/* One page of a ListObjectsV2 answer, parsed (exposed for tests and the
 * fuzzer). `fn` is called for each <Contents> with its decoded <Key> and
 * <Size>; *truncated and `next_token` (NUL-terminated, "" when absent)
 * tell whether another page follows. 0, a non-zero return of `fn`, or
 * TW_EINVAL with a message in err for an answer that is not a listing. */
int tws_s3_parse_list(const char *xml, size_t len, tws_objstore_list_fn fn, void *user, bool *truncated,
                      char *next_token, size_t token_len, tws_objstore_err *err);

#endif
