/*
 * tw_trace.h — spans, contexts, tracers, providers and samplers.
 *
 * The model is OpenTelemetry's: a provider owns the resource, the sampler,
 * the span limits and the processors; a tracer (one per instrumentation
 * scope) starts spans; a span is one timed unit of work in a trace.
 *
 * Threading: providers, tracers, samplers and contexts may be used from any
 * thread. A single span is not internally locked: only one thread at a time
 * may call the mutating functions (set_*, add_*, record_*, end) on it.
 * Reading its span context is always safe, because it never changes.
 */
#ifndef TW_TRACE_H
#define TW_TRACE_H

#include "tw_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tw_provider tw_provider;
typedef struct tw_tracer tw_tracer;
typedef struct tw_span tw_span;
typedef struct tw_sampler tw_sampler;
typedef struct tw_processor tw_processor; /* see tw_export.h */
typedef struct tw_tracestate tw_tracestate; /* see tw_propagation.h */
typedef struct tw_baggage tw_baggage;       /* see tw_propagation.h */

/* ---- span context and context -------------------------------------------- */

/*
 * What travels between processes. `state` is an immutable, reference-counted
 * W3C tracestate (NULL when empty); whoever owns the enclosing struct owns
 * one reference to it.
 */
typedef struct tw_span_context {
    tw_trace_id trace_id;
    tw_span_id span_id;
    uint8_t flags;  /* TW_FLAG_* */
    bool is_remote; /* came from another process through a propagator */
    tw_tracestate *state;
} tw_span_context;

TW_API bool tw_span_context_is_valid(const tw_span_context *sc);

/*
 * A context is a value: a span context plus baggage. It can be copied into a
 * struct, handed to another thread, a pool or a callback. Copies made with
 * tw_context_copy() hold their own references and must be released with
 * tw_context_release(). TW_CONTEXT_INIT is an empty context.
 */
typedef struct tw_context {
    tw_span_context span;
    tw_baggage *baggage; /* NULL when empty; one reference owned */
} tw_context;

#define TW_CONTEXT_INIT {{{{0}}, {{0}}, 0, false, NULL}, NULL}

TW_API void tw_context_copy(tw_context *dst, const tw_context *src);
TW_API void tw_context_release(tw_context *ctx); /* drops references; leaves ctx empty */
/* Replace the baggage of `ctx` (takes a new reference to `bg`, which may be NULL). */
TW_API void tw_context_set_baggage(tw_context *ctx, tw_baggage *bg);
/* A context whose span context is that of `span` (baggage left as it was). */
TW_API void tw_context_set_span(tw_context *ctx, const tw_span *span);

/* ---- the thread's current context ---------------------------------------- */

/*
 * Each thread has a stack of current contexts. attach pushes and returns a
 * token; detach pops it and must be given the most recent token (it returns
 * TW_EINVAL and repairs the stack by popping down to that token otherwise).
 * Attaching a span keeps a reference to it until detached, so
 * tw_current_span() stays valid even after the span has been ended.
 */
TW_API int tw_span_attach(tw_span *span);
TW_API int tw_context_attach(const tw_context *ctx);
TW_API int tw_detach(int token);

/* Borrowed; never NULL (a shared non-recording span when nothing is current). */
TW_API tw_span *tw_current_span(void);
/* A copy of the current context; release it with tw_context_release(). */
TW_API void tw_current_context(tw_context *out);

/* ---- spans --------------------------------------------------------------- */

typedef enum tw_span_kind {
    TW_SPAN_KIND_INTERNAL = 1, /* values are OTLP's SpanKind */
    TW_SPAN_KIND_SERVER = 2,
    TW_SPAN_KIND_CLIENT = 3,
    TW_SPAN_KIND_PRODUCER = 4,
    TW_SPAN_KIND_CONSUMER = 5,
} tw_span_kind;

typedef enum tw_status_code {
    TW_STATUS_UNSET = 0, /* values are OTLP's StatusCode */
    TW_STATUS_OK = 1,
    TW_STATUS_ERROR = 2,
} tw_status_code;

typedef struct tw_link {
    const tw_span_context *context;
    const tw_attribute *attrs;
    size_t n_attrs;
} tw_link;

typedef struct tw_span_options {
    tw_span_kind kind;        /* 0 means INTERNAL */
    const tw_context *parent; /* explicit parent; NULL: the thread's current context */
    bool root;                /* start a new trace, ignoring any current context */
    uint64_t start_ns;        /* 0: now */
    const tw_attribute *attrs; /* known at start; the sampler sees them */
    size_t n_attrs;
    const tw_link *links; /* the sampler sees them too */
    size_t n_links;
} tw_span_options;

/*
 * Start a span. Never returns NULL: if the span is not sampled, or memory is
 * short, a non-recording span is returned, which still carries a valid span
 * context for propagation and costs no allocation. `opts` may be NULL.
 * The caller owns the span and must call tw_span_end() exactly once; after
 * that the pointer must not be used (unless attached: see tw_span_attach).
 */
TW_API tw_span *tw_span_start(tw_tracer *tracer, const char *name, const tw_span_options *opts);
/* The same with the name's length given (TW_NTS: measure it). */
TW_API tw_span *tw_span_start_n(tw_tracer *tracer, const char *name, size_t name_len,
                                const tw_span_options *opts);

TW_API void tw_span_end(tw_span *span);
TW_API void tw_span_end_at(tw_span *span, uint64_t end_ns);

TW_API bool tw_span_is_recording(const tw_span *span);
/* Borrowed; lives as long as the span. */
TW_API const tw_span_context *tw_span_get_context(const tw_span *span);

TW_API void tw_span_set_name(tw_span *span, const char *name);
/* Setting an existing key replaces its value. TW_ELIMIT when the attribute
 * limit dropped it (the drop is counted and exported). */
TW_API int tw_span_set_attr(tw_span *span, const tw_attribute *attr);
TW_API int tw_span_set_attrs(tw_span *span, const tw_attribute *attrs, size_t n);
/* Shorthands. A NULL string value is stored as "". */
TW_API int tw_span_set_str(tw_span *span, const char *key, const char *value);
TW_API int tw_span_set_int(tw_span *span, const char *key, int64_t value);
TW_API int tw_span_set_double(tw_span *span, const char *key, double value);
TW_API int tw_span_set_bool(tw_span *span, const char *key, bool value);
/* As tw_span_set_str with lengths given (key_len 0 / value_len TW_NTS: measure). */
TW_API int tw_span_set_str_n(tw_span *span, const char *key, size_t key_len, const char *value,
                             size_t value_len);
TW_API int tw_span_set_typed_n(tw_span *span, const char *key, size_t key_len, const tw_attribute *value);

/*
 * The same names as macros, so that string-literal keys, values and span
 * names are measured at compile time at the call site (a measurable part of
 * a span's cost). `(tw_span_set_str)(...)` reaches the function itself;
 * define TW_NO_MACROS to use only functions. Arguments are evaluated once.
 */
#if defined(__GNUC__) && !defined(TW_NO_MACROS)
/* The last parameter is variadic so a compound literal's commas pass through. */
#define tw_span_start(tracer, name, ...) \
    tw_span_start_n((tracer), (name), TW__CONST_LEN(name, TW_NTS), __VA_ARGS__)
#define tw_span_set_str(span, key, ...) \
    tw_span_set_str_n((span), (key), TW__CONST_LEN(key, 0), (__VA_ARGS__), TW__CONST_LEN((__VA_ARGS__), TW_NTS))
#define tw_span_set_int(span, key, ...) \
    tw_span_set_typed_n((span), (key), TW__CONST_LEN(key, 0), &(tw_attribute){.type = TW_TYPE_INT, .v.i = (__VA_ARGS__)})
#define tw_span_set_double(span, key, ...) \
    tw_span_set_typed_n((span), (key), TW__CONST_LEN(key, 0), &(tw_attribute){.type = TW_TYPE_DOUBLE, .v.d = (__VA_ARGS__)})
#define tw_span_set_bool(span, key, ...) \
    tw_span_set_typed_n((span), (key), TW__CONST_LEN(key, 0), &(tw_attribute){.type = TW_TYPE_BOOL, .v.b = (__VA_ARGS__)})
#endif

/* time_ns 0: now. */
TW_API int tw_span_add_event(tw_span *span, const char *name, uint64_t time_ns,
                             const tw_attribute *attrs, size_t n);
TW_API int tw_span_add_link(tw_span *span, const tw_span_context *ctx,
                            const tw_attribute *attrs, size_t n);
/* An `exception` event with exception.type / .message / .stacktrace (each may
 * be NULL) and any extra attributes. Does not change the status. */
TW_API int tw_span_record_exception(tw_span *span, const char *type, const char *message,
                                    const char *stacktrace, const tw_attribute *extra, size_t n);
/*
 * The specification's precedence: Ok is final and wins over anything set
 * later; Error may replace Unset or Error; Unset is ignored. A description
 * is kept only with Error.
 */
TW_API void tw_span_set_status(tw_span *span, tw_status_code code, const char *description);

/* ---- samplers ------------------------------------------------------------ */

typedef enum tw_sampling_decision {
    TW_DROP = 0,
    TW_RECORD_ONLY = 1,
    TW_RECORD_AND_SAMPLE = 2,
} tw_sampling_decision;

typedef struct tw_sampling_params {
    const tw_context *parent; /* NULL or an invalid span context: this is a root */
    const tw_trace_id *trace_id;
    const char *name;
    tw_span_kind kind;
    const tw_attribute *attrs;
    size_t n_attrs;
    const tw_link *links;
    size_t n_links;
} tw_sampling_params;

typedef struct tw_sampling_result {
    tw_sampling_decision decision;
    /* A new tracestate for the span, or NULL to inherit the parent's.
     * The sampler hands one reference to the SDK. */
    tw_tracestate *state;
} tw_sampling_result;

/* A custom sampler: `fn` must be thread-safe and fast. */
typedef tw_sampling_result (*tw_sample_fn)(void *user, const tw_sampling_params *p);

/* Constructors return NULL only when memory is exhausted. A sampler passed to
 * another constructor or to a provider is owned by it afterwards. */
TW_API tw_sampler *tw_sampler_always_on(void);
TW_API tw_sampler *tw_sampler_always_off(void);
/* OpenTelemetry's TraceIdRatioBased: the same decision as the Go and Java SDKs
 * for the same trace id (the rightmost 8 bytes against ratio * 2^63). */
TW_API tw_sampler *tw_sampler_traceidratio(double ratio);
/*
 * Consistent probability sampling (tracestate `ot=th:`): R is the rightmost
 * 56 bits of the trace id or the `ot=rv:` value; keeps R >= T where
 * T = (1 - p) * 2^56, and writes `th` into the span's tracestate so every
 * sampled span carries its adjusted count 1/p.
 */
TW_API tw_sampler *tw_sampler_probability(double p);
/* NULL delegates take the defaults: remote/local sampled -> always_on,
 * remote/local not sampled -> always_off. */
TW_API tw_sampler *tw_sampler_parent_based(tw_sampler *root, tw_sampler *remote_sampled,
                                           tw_sampler *remote_not_sampled,
                                           tw_sampler *local_sampled,
                                           tw_sampler *local_not_sampled);
TW_API tw_sampler *tw_sampler_custom(tw_sample_fn fn, void *user, const char *description);
/* From OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG; default parentbased_always_on.
 * An unknown name falls back to the default and is reported via *err_msg
 * (a static string, or NULL when all was well). */
TW_API tw_sampler *tw_sampler_from_env(const char **err_msg);
TW_API tw_sampling_result tw_sampler_should_sample(const tw_sampler *s, const tw_sampling_params *p);
/* e.g. "ParentBased{root=TraceIdRatioBased{0.1},...}"; borrowed. */
TW_API const char *tw_sampler_description(const tw_sampler *s);
TW_API void tw_sampler_destroy(tw_sampler *s);

/* ---- provider and tracers ------------------------------------------------- */

typedef struct tw_span_limits {
    uint32_t attr_count;       /* default 128 (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT) */
    uint32_t attr_value_len;   /* 0 = unlimited (OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT) */
    uint32_t event_count;      /* default 128 (OTEL_SPAN_EVENT_COUNT_LIMIT) */
    uint32_t link_count;       /* default 128 (OTEL_SPAN_LINK_COUNT_LIMIT) */
    uint32_t event_attr_count; /* default 128 (OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT) */
    uint32_t link_attr_count;  /* default 128 (OTEL_LINK_ATTRIBUTE_COUNT_LIMIT) */
} tw_span_limits;

/* Defaults, overridden by the OTEL_* limit variables that are set. */
TW_API void tw_span_limits_from_env(tw_span_limits *out);

typedef struct tw_provider_options {
    /* Resource attributes; these win over OTEL_RESOURCE_ATTRIBUTES, and
     * OTEL_SERVICE_NAME wins over both for service.name. */
    const tw_attribute *resource;
    size_t n_resource;
    tw_sampler *sampler;          /* owned by the provider; NULL: tw_sampler_from_env() */
    const tw_span_limits *limits; /* NULL: tw_span_limits_from_env() */
} tw_provider_options;

/* `opts` may be NULL. The provider starts with no processor. */
TW_API int tw_provider_new(const tw_provider_options *opts, tw_provider **out);
/*
 * Everything from the environment: resource, sampler, limits, and one batch
 * processor with the exporter named by OTEL_TRACES_EXPORTER (otlp, console,
 * none; default otlp) configured from OTEL_EXPORTER_OTLP_* and OTEL_BSP_*.
 * With OTEL_SDK_DISABLED=true every span is non-recording.
 */
TW_API int tw_provider_from_env(tw_provider **out);
/* Takes ownership of `proc`. Add processors before starting spans. */
TW_API int tw_provider_add_processor(tw_provider *p, tw_processor *proc);
TW_API int tw_provider_force_flush(tw_provider *p, uint32_t timeout_ms);
/* Flushes and shuts down every processor; spans started afterwards are
 * non-recording. Idempotent. */
TW_API int tw_provider_shutdown(tw_provider *p, uint32_t timeout_ms);
/* Shuts down if needed and frees. Tracers from it become invalid. */
TW_API void tw_provider_destroy(tw_provider *p);

/* The value of a resource attribute as a string (service.name, ...); borrowed. */
TW_API const char *tw_provider_resource_str(const tw_provider *p, const char *key);

/* The process-wide provider used by tw_tracer_get(NULL, ...). Not owned by
 * the library: set it to NULL before destroying it. */
TW_API void tw_provider_set_global(tw_provider *p);
TW_API tw_provider *tw_provider_global(void);

/* One tracer per instrumentation scope; owned by the provider, repeated calls
 * with the same name and version return the same tracer. `p` NULL: global;
 * with no global provider a no-op tracer is returned. Never NULL. */
TW_API tw_tracer *tw_tracer_get(tw_provider *p, const char *scope_name, const char *scope_version);

#ifdef __cplusplus
}
#endif
#endif /* TW_TRACE_H */
