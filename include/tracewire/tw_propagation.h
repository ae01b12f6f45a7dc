/*
 * tw_propagation.h — getting a context across a process boundary.
 *
 * W3C Trace Context (traceparent, tracestate), W3C Baggage, B3 (single and
 * multi header), and a composite of them, read from and written to any
 * carrier through two callbacks. Ready carriers exist for an array of HTTP
 * headers and, when built with librdkafka, for Kafka message headers.
 *
 * tracestate and baggage values are immutable and reference-counted: every
 * "modifying" call returns a new object and leaves its input untouched, so
 * they can be shared between threads and contexts freely.
 */
#ifndef TW_PROPAGATION_H
#define TW_PROPAGATION_H

#include "tw_trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- traceparent ---------------------------------------------------------- */

#define TW_TRACEPARENT_LEN 55 /* "00-" 32 "-" 16 "-" 2 */

/*
 * Parse one traceparent header value by the rules of W3C Trace Context:
 * version 00 must be exactly 55 characters; a higher version is parsed by its
 * first 55 characters when followed by '-' or the end; version ff, uppercase
 * hex, all-zero ids and a malformed field are refused. Leading and trailing
 * spaces/tabs are ignored. On success fills trace_id, span_id and flags of
 * `out` (state and is_remote untouched). On failure returns TW_EPARSE and,
 * when `why` is not NULL, points it to a static reason.
 */
TW_API int tw_traceparent_parse(const char *s, size_t len, tw_span_context *out, const char **why);
/* Writes 55 characters and a NUL: version 00. */
TW_API void tw_traceparent_format(const tw_span_context *sc, char out[TW_TRACEPARENT_LEN + 1]);

/* ---- tracestate ------------------------------------------------------------ */

#define TW_TRACESTATE_MAX_MEMBERS 32

/*
 * Parse a tracestate header (several header lines joined by ','). Empty
 * members and optional whitespace are allowed; an invalid key or value, a
 * duplicated key or more than 32 members make the whole header invalid
 * (TW_EPARSE, *out = NULL, reason in *why). An empty header gives *out = NULL
 * and TW_OK. The result holds one reference for the caller.
 */
TW_API int tw_tracestate_parse(const char *s, size_t len, tw_tracestate **out, const char **why);
TW_API tw_tracestate *tw_tracestate_ref(tw_tracestate *ts); /* NULL-safe */
TW_API void tw_tracestate_unref(tw_tracestate *ts);         /* NULL-safe */
TW_API size_t tw_tracestate_count(const tw_tracestate *ts);
/* Borrowed pointer into ts (not NUL-terminated); TW_ENOTFOUND if absent. */
TW_API int tw_tracestate_get(const tw_tracestate *ts, const char *key, tw_str *value);
/* The member at `index` (0 = leftmost); TW_ENOTFOUND past the end. */
TW_API int tw_tracestate_at(const tw_tracestate *ts, size_t index, tw_str *key, tw_str *value);
/*
 * A new tracestate with key=value as the leftmost member (an existing entry
 * for key is removed first: "mutation moves left"). When that would exceed 32
 * members the rightmost are dropped. TW_EINVAL for an invalid key or value.
 */
TW_API int tw_tracestate_set(const tw_tracestate *ts, const char *key, const char *value,
                             size_t value_len, tw_tracestate **out);
TW_API int tw_tracestate_remove(const tw_tracestate *ts, const char *key, tw_tracestate **out);
/*
 * Serialise into `buf` with no whitespace. When the result would exceed
 * `max_len` (512 is the spec's recommendation, 0 = no limit), whole entries
 * are dropped: first entries longer than 128 characters from the right, then
 * entries from the right. Returns the length written (without NUL) or
 * TW_ERANGE when buf is too small.
 */
TW_API int tw_tracestate_format(const tw_tracestate *ts, size_t max_len, char *buf, size_t buf_len);

/* ---- baggage --------------------------------------------------------------- */

#define TW_BAGGAGE_MAX_MEMBERS 64 /* limits we always propagate */
#define TW_BAGGAGE_MAX_BYTES 8192

/*
 * Parse a W3C baggage header (several header lines joined by ','). Values are
 * percent-decoded; properties are kept verbatim. A malformed member is
 * skipped (counted in *skipped when not NULL) and never partially kept; an
 * entirely unparsable header gives *out = NULL. Members beyond 64 or 8192
 * bytes are dropped whole. TW_OK unless memory fails.
 */
TW_API int tw_baggage_parse(const char *s, size_t len, tw_baggage **out, size_t *skipped);
TW_API tw_baggage *tw_baggage_ref(tw_baggage *bg); /* NULL-safe */
TW_API void tw_baggage_unref(tw_baggage *bg);      /* NULL-safe */
TW_API size_t tw_baggage_count(const tw_baggage *bg);
/* Borrowed, decoded value; TW_ENOTFOUND if absent. */
TW_API int tw_baggage_get(const tw_baggage *bg, const char *key, tw_str *value);
/* Entry by index in insertion order; metadata (properties) may be empty. */
TW_API int tw_baggage_at(const tw_baggage *bg, size_t index, tw_str *key, tw_str *value,
                         tw_str *metadata);
/* A new baggage with key set to value (replacing an existing entry).
 * `bg` may be NULL. TW_EINVAL when the key is not a valid token. */
TW_API int tw_baggage_set(const tw_baggage *bg, const char *key, const char *value,
                          const char *metadata, tw_baggage **out);
TW_API int tw_baggage_remove(const tw_baggage *bg, const char *key, tw_baggage **out);
/* Serialise (percent-encoding values) into buf, dropping whole members that
 * would break 64 members / 8192 bytes. Length written or TW_ERANGE. */
TW_API int tw_baggage_format(const tw_baggage *bg, char *buf, size_t buf_len);

/* Baggage of the thread's current context; borrowed (NULL when empty). */
TW_API tw_baggage *tw_current_baggage(void);

/* ---- carriers -------------------------------------------------------------- */

/*
 * A carrier is anything that holds named string values: HTTP headers,
 * message headers, a map. `get` stores up to `max` values of `key` (for
 * HTTP, case-insensitively) in `out` and returns how many it found (several
 * header lines of one name count separately). `set` stores one value,
 * replacing any existing one; it returns 0 or a TW_E* code.
 */
typedef struct tw_carrier {
    void *self;
    size_t (*get)(void *self, const char *key, tw_str *out, size_t max);
    int (*set)(void *self, const char *key, const char *value, size_t value_len);
} tw_carrier;

/* An owning, growable list of HTTP headers (name and value copied). */
typedef struct tw_http_headers {
    struct tw_http_header { char *name; char *value; size_t value_len; } *items;
    size_t count, cap;
} tw_http_headers;

TW_API void tw_http_headers_init(tw_http_headers *h);
TW_API void tw_http_headers_free(tw_http_headers *h);
/* Appends (a second line of the same name is kept, as HTTP allows). */
TW_API int tw_http_headers_add(tw_http_headers *h, const char *name, const char *value, size_t value_len);
/* A carrier over `h`: get is case-insensitive, set replaces every line of that name. */
TW_API tw_carrier tw_http_headers_carrier(tw_http_headers *h);

#ifdef TW_HAVE_RDKAFKA
/* A carrier over a librdkafka header list (rd_kafka_headers_t *): set removes
 * existing values of the key and adds one; get returns every value. */
struct rd_kafka_headers_s;
TW_API tw_carrier tw_kafka_headers_carrier(struct rd_kafka_headers_s *hdrs);
#endif

/* ---- propagators ------------------------------------------------------------ */

typedef struct tw_propagator tw_propagator;

TW_API tw_propagator *tw_propagator_tracecontext(void); /* traceparent + tracestate */
TW_API tw_propagator *tw_propagator_baggage(void);
TW_API tw_propagator *tw_propagator_b3(void);       /* single header `b3` */
TW_API tw_propagator *tw_propagator_b3multi(void);  /* X-B3-* headers */
/* Takes ownership of the `n` members; NULL on memory failure. */
TW_API tw_propagator *tw_propagator_composite(tw_propagator **members, size_t n);
/*
 * From OTEL_PROPAGATORS (comma list: tracecontext, baggage, b3, b3multi,
 * none; default "tracecontext,baggage"). Unknown names are skipped and
 * reported via *err_msg (static) when not NULL.
 */
TW_API tw_propagator *tw_propagator_from_env(const char **err_msg);
TW_API void tw_propagator_destroy(tw_propagator *p);

/*
 * Read the carrier into `ctx`: a propagator that finds its headers replaces
 * the part of the context it owns (span context, or baggage) and leaves the
 * rest; one that finds nothing valid leaves ctx as it was. An extracted span
 * context has is_remote set. Never fails on bad input (bad headers are
 * ignored, as the specs require); returns TW_ENOMEM only.
 */
TW_API int tw_propagator_extract(const tw_propagator *p, const tw_carrier *c, tw_context *ctx);
/* Write `ctx` into the carrier. An invalid span context writes nothing. */
TW_API int tw_propagator_inject(const tw_propagator *p, const tw_context *ctx, const tw_carrier *c);

/* The process-wide propagator (default: from the environment on first use). */
TW_API void tw_propagator_set_global(tw_propagator *p); /* takes ownership */
TW_API tw_propagator *tw_propagator_global(void);

#ifdef __cplusplus
}
#endif
#endif /* TW_PROPAGATION_H */
