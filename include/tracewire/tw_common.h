/*
 * tw_common.h — the vocabulary shared by every libtracewire header:
 * error codes, identifiers, typed attributes and time.
 *
 * Conventions (they hold for the whole public API):
 *  - Functions that can fail return int: 0 (TW_OK) on success, a negative
 *    TW_E* code on failure; tw_strerror() names the code.
 *  - Instrumentation calls never fail loudly: a span call on a full or
 *    non-recording span is a silent no-op, because tracing must never break
 *    the program it observes.
 *  - Strings passed in are copied before the call returns unless a comment
 *    says otherwise; the caller keeps ownership of what it passed.
 *  - Pointers returned as "borrowed" stay valid only as long as the object
 *    they came from, and must not be freed.
 */
#ifndef TW_COMMON_H
#define TW_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TW_API __attribute__((visibility("default")))
#else
#define TW_API
#endif

/* ---- errors -------------------------------------------------------------- */

enum {
    TW_OK = 0,
    TW_EINVAL = -1,    /* an argument is malformed or out of range */
    TW_ENOMEM = -2,    /* an allocation failed */
    TW_EPARSE = -3,    /* input text does not follow its grammar */
    TW_ELIMIT = -4,    /* a configured limit was reached; the item was dropped */
    TW_EFULL = -5,     /* a bounded queue is full; the item was dropped */
    TW_ETIMEDOUT = -6, /* the deadline passed before the work finished */
    TW_EIO = -7,       /* a system call or the network failed */
    TW_ESHUTDOWN = -8, /* the object was shut down */
    TW_ENOTSUP = -9,   /* not supported in this build or configuration */
    TW_EREJECTED = -10,/* the peer refused the data and retrying will not help */
    TW_ENOTFOUND = -11,/* the key or item does not exist */
    TW_ERANGE = -12,   /* a buffer is too small; nothing was written */
};

/* A static, human-readable name for an error code. Never NULL. */
TW_API const char *tw_strerror(int err);

/* ---- identifiers --------------------------------------------------------- */

#define TW_TRACE_ID_SIZE 16
#define TW_SPAN_ID_SIZE 8
#define TW_TRACE_ID_HEX_LEN 32
#define TW_SPAN_ID_HEX_LEN 16

typedef struct tw_trace_id { uint8_t bytes[TW_TRACE_ID_SIZE]; } tw_trace_id;
typedef struct tw_span_id { uint8_t bytes[TW_SPAN_ID_SIZE]; } tw_span_id;

/* W3C trace-flags bits. */
#define TW_FLAG_SAMPLED 0x01u
#define TW_FLAG_RANDOM 0x02u /* the trace id's rightmost 7 bytes are random */

TW_API bool tw_trace_id_is_valid(const tw_trace_id *id); /* not all zero */
TW_API bool tw_span_id_is_valid(const tw_span_id *id);   /* not all zero */

/* Lowercase hex; `out` receives 32 (resp. 16) characters plus a NUL. */
TW_API void tw_trace_id_to_hex(const tw_trace_id *id, char out[TW_TRACE_ID_HEX_LEN + 1]);
TW_API void tw_span_id_to_hex(const tw_span_id *id, char out[TW_SPAN_ID_HEX_LEN + 1]);
/* Parse exactly 32 (resp. 16) lowercase-or-uppercase hex digits. TW_EPARSE otherwise. */
TW_API int tw_trace_id_from_hex(const char *hex, size_t len, tw_trace_id *out);
TW_API int tw_span_id_from_hex(const char *hex, size_t len, tw_span_id *out);

/* ---- attributes ---------------------------------------------------------- */

typedef enum tw_value_type {
    TW_TYPE_STRING = 1,
    TW_TYPE_BOOL,
    TW_TYPE_INT,
    TW_TYPE_DOUBLE,
    TW_TYPE_STRING_ARRAY,
    TW_TYPE_BOOL_ARRAY,
    TW_TYPE_INT_ARRAY,
    TW_TYPE_DOUBLE_ARRAY,
} tw_value_type;

/* A string slice. `len == TW_NTS` means "NUL-terminated, measure it". */
#define TW_NTS ((size_t)-1)
typedef struct tw_str { const char *ptr; size_t len; } tw_str;

/*
 * One typed key/value pair as passed *into* the SDK. Nothing here is owned:
 * the SDK copies key and value (strings and arrays included) before the call
 * that receives it returns. Build them with the TW_ATTR_* macros.
 */
typedef struct tw_attribute {
    const char *key; /* NUL-terminated */
    size_t key_len;  /* strlen(key), or 0 to have it measured */
    tw_value_type type;
    union {
        tw_str s;
        bool b;
        int64_t i;
        double d;
        struct { const tw_str *items; size_t n; } sa;
        struct { const bool *items; size_t n; } ba;
        struct { const int64_t *items; size_t n; } ia;
        struct { const double *items; size_t n; } da;
    } v;
} tw_attribute;

/* The length of a string literal at compile time; TW_NTS (resp. 0 for keys)
 * for anything else, so it is measured at run time. */
#if defined(__GNUC__)
/* (-Wnonnull is silenced for a constant NULL, which then takes `other`.) */
#define TW__CONST_LEN(s, other)                                                                  \
    (__extension__({                                                                            \
        _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wnonnull\"") size_t \
            tw__len_ = __builtin_constant_p(__builtin_strlen(s)) ? __builtin_strlen(s) : (other);   \
        _Pragma("GCC diagnostic pop") tw__len_;                                                  \
    }))
#else
#define TW__CONST_LEN(s, other) (other)
#endif
#define TW__KEY(k) .key = (k), .key_len = TW__CONST_LEN(k, 0)

#define TW_ATTR_STR(k, val) \
    ((tw_attribute){TW__KEY(k), .type = TW_TYPE_STRING, .v.s = {(val), TW__CONST_LEN(val, TW_NTS)}})
#define TW_ATTR_STRN(k, val, n) ((tw_attribute){TW__KEY(k), .type = TW_TYPE_STRING, .v.s = {(val), (n)}})
#define TW_ATTR_BOOL(k, val) ((tw_attribute){TW__KEY(k), .type = TW_TYPE_BOOL, .v.b = (val)})
#define TW_ATTR_INT(k, val) ((tw_attribute){TW__KEY(k), .type = TW_TYPE_INT, .v.i = (val)})
#define TW_ATTR_DOUBLE(k, val) ((tw_attribute){TW__KEY(k), .type = TW_TYPE_DOUBLE, .v.d = (val)})
#define TW_ATTR_STR_ARRAY(k, arr, cnt) \
    ((tw_attribute){TW__KEY(k), .type = TW_TYPE_STRING_ARRAY, .v.sa = {(arr), (cnt)}})
#define TW_ATTR_BOOL_ARRAY(k, arr, cnt) \
    ((tw_attribute){TW__KEY(k), .type = TW_TYPE_BOOL_ARRAY, .v.ba = {(arr), (cnt)}})
#define TW_ATTR_INT_ARRAY(k, arr, cnt) \
    ((tw_attribute){TW__KEY(k), .type = TW_TYPE_INT_ARRAY, .v.ia = {(arr), (cnt)}})
#define TW_ATTR_DOUBLE_ARRAY(k, arr, cnt) \
    ((tw_attribute){TW__KEY(k), .type = TW_TYPE_DOUBLE_ARRAY, .v.da = {(arr), (cnt)}})

/* ---- time ---------------------------------------------------------------- */

/* Wall-clock time in nanoseconds since the Unix epoch. */
TW_API uint64_t tw_now_ns(void);

#ifdef __cplusplus
}
#endif
#endif /* TW_COMMON_H */
