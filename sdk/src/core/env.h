/*
 * env.h — reading OTEL_* environment variables the way the OpenTelemetry
 * specification says: empty means unset, names are case-insensitive where
 * the spec says so, and an unparsable value falls back to the default with a
 * warning on stderr (never a crash, never a silent surprise).
 */
#ifndef TW_ENV_H
#define TW_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include "common/tw_base.h"

/* The value, or NULL when unset or empty. */
TW_HIDDEN const char *tw__env(const char *name);
/* A non-negative integer; `def` when unset or invalid (warned). */
TW_HIDDEN uint64_t tw__env_uint(const char *name, uint64_t def);
/* A limit: `specific` (e.g. OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT), else `general`
 * (e.g. OTEL_ATTRIBUTE_COUNT_LIMIT), else `def`; capped at UINT32_MAX. */
TW_HIDDEN uint32_t tw__env_limit(const char *specific, const char *general, uint32_t def);
TW_HIDDEN double tw__env_double(const char *name, double def);
/* "true"/"false" case-insensitively; anything else is `def` (warned). */
TW_HIDDEN bool tw__env_bool(const char *name, bool def);
/* Case-insensitive comparison of the first `n` bytes of `s` with NUL-terminated `lit`. */
TW_HIDDEN bool tw__strieq_n(const char *s, size_t n, const char *lit);
/* Trim spaces and tabs at both ends of [*s, *s+*n). */
TW_HIDDEN void tw__trim(const char **s, size_t *n);
/* Print one diagnostic line "tracewire: ..." to stderr. */
TW_HIDDEN void tw__warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
