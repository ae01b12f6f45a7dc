/*
 * redaction.h — the Collector's redaction processor over a decoded batch:
 * no email, token or card number reaches the store or a vendor.
 *
 * For every attribute list of a batch — resource, span, event, link and
 * log-record attributes — and for string log bodies:
 *  1. keys on `ignored_keys` pass untouched;
 *  2. unless `allow_all_keys`, keys not on `allowed_keys` are deleted
 *     (an empty list deletes every key that is not ignored: it fails closed);
 *  3. a value whose key matches a `blocked_key_patterns` regex is masked
 *     whole;
 *  4. in every other value, each match of a `blocked_values` regex is
 *     masked, unless the whole value matches an `allowed_values` regex.
 *     Numbers and booleans are checked in their decimal text (a card number
 *     sent as an int is caught) and become strings when masked; arrays and
 *     key-value lists are walked to their leaves.
 * Masking writes "****", or with `hash_function` the lowercase hex SHA-256
 * (or HMAC-SHA256 under `hmac_key`) of the masked text, so equal secrets
 * stay joinable without being readable. With `summary` info (the default)
 * a list that changed gains redaction.redacted.count and
 * redaction.masked.count; debug adds redaction.redacted.keys and
 * redaction.masked.keys (sorted, comma-separated); silent adds nothing.
 *
 * Presets usable in blocked_values: "@email", "@bearer" (Authorization
 * bearer tokens), "@jwt", "@card" (13 to 19 digits, spaces or dashes
 * between, that pass the Luhn check).
 *
 * Invariants: a compiled redaction is immutable and may be applied from
 * several threads at once; new strings and lists live in the batch's
 * arena, the input's strings are never written to.
 */
#ifndef TWS_REDACTION_H
#define TWS_REDACTION_H

#include "otlp/model.h"

typedef enum tws_redact_hash {
    TWS_REDACT_HASH_NONE = 0,
    TWS_REDACT_HASH_SHA256,
    TWS_REDACT_HASH_HMAC_SHA256,
} tws_redact_hash;

typedef enum tws_redact_summary {
    TWS_REDACT_SUMMARY_INFO = 0,
    TWS_REDACT_SUMMARY_DEBUG,
    TWS_REDACT_SUMMARY_SILENT,
} tws_redact_summary;

typedef struct tws_strlist {
    const char *const *items;
    size_t n;
} tws_strlist;

typedef struct tws_redaction_config {
    bool allow_all_keys;
    tws_strlist allowed_keys, ignored_keys;
    tws_strlist blocked_values, allowed_values, blocked_key_patterns; /* regexes (PCRE2, RE2-like) */
    tws_redact_hash hash_function;
    const char *hmac_key; /* required for HMAC-SHA256 */
    tws_redact_summary summary;
} tws_redaction_config;

typedef struct tws_redaction tws_redaction;

/* TW_OK, or TW_EINVAL with a message naming the bad entry in err
 * ("blocked_values[2]: missing closing parenthesis at offset 3"), or
 * TW_ENOMEM. */
int tws_redaction_new(const tws_redaction_config *c, tws_redaction **out, char *err, size_t err_len);
void tws_redaction_free(tws_redaction *r);

typedef struct tws_redaction_stats {
    uint64_t keys_redacted; /* attributes deleted */
    uint64_t values_masked; /* values with at least one masked part */
} tws_redaction_stats;

/* Redact `b` in place; `st` (may be NULL) is added to. TW_OK or TW_ENOMEM
 * (the batch is then partly redacted: the caller must not pass it on). */
int tws_redaction_apply(const tws_redaction *r, tws_batch *b, tws_redaction_stats *st);

#endif
