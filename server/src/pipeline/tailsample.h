/*
 * tailsample.h — the Collector's tail_sampling processor: hold the spans of
 * each trace for `decision_wait` after its first span arrived, then decide
 * on the whole trace with a list of policies.
 *
 * The rule is the Collector's: a trace is dropped when any policy says
 * drop; otherwise it is kept when any policy says sample; otherwise it is
 * not kept. A decided trace's id stays in a decision cache (one for kept,
 * one for not kept traces, each of bounded size, oldest forgotten first), so
 * spans that arrive late follow the decision their trace already got.
 *
 * Batches, not spans, are what flows: the sampler takes ownership of each
 * batch it is given, and hands it on (`emit`) once every span in it has a
 * decision — the spans of traces that were not kept are then marked
 * TWS_REJECT_SAMPLED, so everything downstream (encoders, the head, the
 * exporters) skips them without a copy. A batch therefore waits at most
 * `decision_wait` plus one tick.
 *
 * Where a batch waits: a batch that is durable somewhere else (the WAL
 * section named by info.wal_section) is not kept in memory when the
 * sampler has a reload function — it is freed at once and read back when
 * its traces are decided, so a waiting span costs only its share of its
 * trace's summary and of its batch's slots (tens of bytes, not the ~2 KB a
 * decoded span takes). Any other batch is kept in memory until then.
 *
 * Invariants:
 *  - memory is bounded by `num_traces`: a new trace beyond it forces the
 *    decision of the oldest trace in memory (counted as evicted); a trace's
 *    summary does not grow with its spans;
 *  - a span is never dropped unjudged: a span the sampler could not record
 *    (out of memory) or does not recognise in a reloaded batch is kept;
 *  - `probabilistic` hashes the trace id (and the salt) only, so every
 *    instance, and every replay, reaches the same verdict for a trace;
 *  - traces of different tenants never share a decision;
 *  - not thread-safe: one thread owns a sampler (the server's loop).
 */
#ifndef TWS_TAILSAMPLE_H
#define TWS_TAILSAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "otlp/model.h"
#include "regex/regex.h"

typedef enum tws_ts_type {
    TWS_TS_ALWAYS_SAMPLE,
    TWS_TS_LATENCY,
    TWS_TS_STATUS_CODE,
    TWS_TS_PROBABILISTIC,
    TWS_TS_STRING_ATTRIBUTE,
    TWS_TS_NUMERIC_ATTRIBUTE,
    TWS_TS_BOOLEAN_ATTRIBUTE,
    TWS_TS_SPAN_COUNT,
    TWS_TS_RATE_LIMITING,
    TWS_TS_TRACE_STATE,
    TWS_TS_AND,
    TWS_TS_COMPOSITE,
    TWS_TS_DROP,
    TWS_TS_NOT,
    TWS_TS_N_TYPES
} tws_ts_type;

/* "always_sample", "latency", ... as the configuration spells them; NULL-safe lookup the other way. */
extern const char *const tws_ts_type_names[TWS_TS_N_TYPES];

/*
 * One policy. Strings and arrays are owned by the policy (freed by
 * tws_ts_policy_free). A policy's verdict on a trace is sample or not,
 * except `drop`, whose verdict is drop or not.
 *   latency            earliest start to latest end >= threshold_ms, and <= upper_threshold_ms when that is > 0
 *   status_code        some span has one of the codes (bit 1 << OTLP code: UNSET 0, OK 1, ERROR 2)
 *   probabilistic      hash(salt, trace id) falls in the first `percentage` percent
 *   string_attribute   some span or resource attribute `key` is one of `values` (exact),
 *                      or matches one of `regexes` (unanchored, as Go's MatchString)
 *   numeric_attribute  some int/double attribute `key` in [min, max] (a missing bound is open)
 *   boolean_attribute  some bool attribute `key` equals `bool_value`
 *   span_count         min_spans <= spans <= max_spans (max 0: no upper bound)
 *   rate_limiting      the trace's spans fit in what is left of spans_per_second this second
 *   trace_state        some span's tracestate has `key` with one of `values`
 *   and                every sub-policy samples
 *   drop               every sub-policy samples -> the trace is dropped
 *   not                the sub-policy (subs[0]) does not sample
 *   composite          sub-policies in order; the first that samples keeps the trace if its
 *                      share (rate_percent[i] of max_total_spans_per_second, or an equal share
 *                      when none is given) still has room this second
 * invert_match (attribute policies) negates the policy's verdict.
 */
typedef struct tws_ts_policy {
    char *name;
    tws_ts_type type;
    int64_t threshold_ms, upper_threshold_ms;
    uint8_t status_mask;
    double percentage;
    char *salt;
    char *key;
    char **values;
    uint32_t n_values;
    tws_regex **regexes; /* string_attribute with enabled_regex_matching: one per value */
    bool invert;
    bool has_min, has_max;
    double min_value, max_value;
    bool bool_value;
    int64_t min_spans, max_spans;
    int64_t spans_per_second;          /* rate_limiting; composite: max_total_spans_per_second */
    struct tws_ts_policy *subs;        /* and, drop, not (one), composite */
    uint32_t n_subs;
    double *rate_percent;              /* composite: per sub-policy, or NULL */
} tws_ts_policy;

void tws_ts_policy_free(tws_ts_policy *p); /* its contents, not p itself */

typedef struct tws_ts_config {
    uint64_t decision_wait_ms;  /* 30 s, the Collector's default */
    uint32_t num_traces;        /* 50,000 */
    uint32_t sampled_cache;     /* decision cache sizes: num_traces when 0 */
    uint32_t not_sampled_cache;
    tws_ts_policy *policies;    /* borrowed: must outlive the sampler */
    uint32_t n_policies;
} tws_ts_config;

/* What an emitted batch carries along: given with the batch, handed back. */
typedef struct tws_ts_batch_info {
    char tenant[160];
    uint64_t bytes; /* memory the batch holds */
    uint64_t lsn;   /* of the WAL record it came from */
    /* 1 + the index of the section of that WAL record that holds exactly
     * this batch, so it can be read back instead of kept; 0: it cannot. */
    uint32_t wal_section;
} tws_ts_batch_info;

/* Read back the batch a held record stands for: the spans given to
 * tws_tailsampler_add with this info (in any order; spans that were
 * rejected then may be left out), into *out (initialised, empty). TW_OK,
 * or an error: the callee reports it (and keeps the WAL record for a
 * restart); the sampler counts it and emits nothing for that record. */
typedef int (*tws_ts_reload_fn)(void *user, const tws_ts_batch_info *info, tws_batch *out);

/* Ownership of *b passes to the callee (it is left for the callee to free). */
typedef void (*tws_ts_emit_fn)(void *user, tws_batch *b, const tws_ts_batch_info *info);

typedef struct tws_tailsampler tws_tailsampler;

int tws_tailsampler_new(const tws_ts_config *c, tws_ts_emit_fn emit, void *user, tws_tailsampler **out);
/* Frees held batches without emitting them. */
void tws_tailsampler_free(tws_tailsampler *t);
/* Batches added from now on with a wal_section are freed at once and read
 * back through `fn` when decided (NULL: every batch is kept in memory). */
void tws_tailsampler_set_reload(tws_tailsampler *t, tws_ts_reload_fn fn, void *user);

/* Is there room downstream for a batch of `bytes` (its info.bytes)? */
typedef bool (*tws_ts_room_fn)(void *user, uint64_t bytes);
/* With `fn`, a decided batch is handed on only when fn says there is room;
 * otherwise it waits, decided (a reloaded one still costs only its slots),
 * behind any others that wait, and is offered again at every tick and
 * flush, in order. So a store that falls behind slows the sampler's
 * output instead of overflowing; the caller sees the backlog in
 * batches_waiting_room (and should push back on new input). */
void tws_tailsampler_set_room(tws_tailsampler *t, tws_ts_room_fn fn, void *user);

/* Take ownership of *b (left empty). Spans of decided traces are settled
 * at once; the batch is emitted, possibly from inside this call, when none
 * of its spans waits any more. TW_OK or TW_ENOMEM (the batch is then
 * emitted undecided: its spans kept, nothing lost). */
int tws_tailsampler_add(tws_tailsampler *t, tws_batch *b, const tws_ts_batch_info *info, uint64_t now_ms);
/* Hand on what waited for room (while there is), then decide every trace
 * whose wait is over. */
void tws_tailsampler_tick(tws_tailsampler *t, uint64_t now_ms);
/* Decide everything now (shutdown); what finds no room downstream stays
 * held (freed by tws_tailsampler_free; its WAL record replays it). */
void tws_tailsampler_flush(tws_tailsampler *t, uint64_t now_ms);
/* The lowest LSN of a batch still held, or UINT64_MAX. */
uint64_t tws_tailsampler_oldest_lsn(const tws_tailsampler *t);

typedef struct tws_ts_policy_stats {
    uint64_t sampled, not_sampled, dropped; /* verdicts of this top-level policy, one per decided trace */
} tws_ts_policy_stats;

typedef struct tws_ts_stats {
    uint64_t traces_sampled, traces_not_sampled, traces_dropped; /* final decisions */
    uint64_t spans_sampled, spans_not_sampled;
    uint64_t late_spans_sampled, late_spans_not_sampled; /* settled by the decision cache */
    uint64_t evicted;      /* decided before their wait was over: num_traces was reached */
    uint64_t traces_in_memory, batches_held, bytes_held;
    uint64_t reloads, reload_failures; /* batches read back at emission; reads that failed */
    uint64_t batches_waiting_room, room_waits; /* decided, waiting for room downstream: now; ever */
} tws_ts_stats;

void tws_tailsampler_get_stats(const tws_tailsampler *t, tws_ts_stats *out);
/* Per top-level policy, in configuration order (n_policies entries). */
const tws_ts_policy_stats *tws_tailsampler_policy_stats(const tws_tailsampler *t);

#endif
