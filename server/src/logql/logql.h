/*
 * logql.h — LogQL, Loki's query language, the subset a Loki-compatible
 * query API needs: log queries (a stream selector and a pipeline) and the
 * metric forms Grafana sends for log volume.
 *
 * Accepted:
 *   query     := logquery | metric
 *   logquery  := selector { stage } | '(' logquery ')'
 *   selector  := '{' matcher { ',' matcher } '}'      matcher := name (= != =~ !~) string
 *   stage     := line filter: (|= != |~ !~) string { or string }
 *              | '|' json [ label [= "path"] { , ... } ]
 *              | '|' logfmt [--strict] [--keep-empty] [ label [= "key"] { , ... } ]
 *              | '|' label filter                 (and, or, ',' or a blank between two, parentheses)
 *              | '|' drop name [op string] { , ... }  |  '|' keep name [op string] { , ... }
 *   label filter operand := name (= != =~ !~) string
 *              | name (= == != > >= < <=) number | duration (10s, 1h30m) | bytes (20KB, 1MiB)
 *   metric    := sum [by|without (names)] '(' range ')' [by|without (names)] | sum '(' range ')'
 *              | range | '(' metric ')'
 *   range     := (count_over_time | rate | bytes_over_time | bytes_rate) '(' logrange ')'
 *   logrange  := selector [stages] '[' duration ']' | selector '[' duration ']' [stages]
 *              | '(' logquery ')' '[' duration ']' | '(' logrange ')'
 * Strings are in double quotes with Go's escapes or in backquotes (raw);
 * `#` starts a comment that runs to the end of the line.
 *
 * Not supported (refused with a positioned message saying so): the other
 * stages (line_format, label_format, pattern, regexp, unpack, decolorize,
 * unwrap, xml, ip()), pattern line filters (|> !>), offset, other
 * aggregations (count, avg, min, max, topk, ...), binary operations and
 * literals, nested aggregations.
 *
 * Semantics, as Loki's:
 *  - a selector needs at least one matcher that does not match the empty
 *    string; `{}` and `{a=~".*"}` are refused with Loki's message;
 *  - label matchers and label-filter regexes are fully anchored (Prometheus:
 *    `^(?s:re)$`); line-filter regexes are unanchored (Loki); patterns are
 *    RE2-like syntax run by PCRE2 ($ matches only at the end, \w \d ASCII),
 *    with a bounded match effort (a runaway pattern does not match);
 *  - `|= "a" or "b"`: either; `!= "a" or "b"`: neither;
 *  - `| json`: every member of the line's JSON object, nested objects
 *    flattened with `_` (a.b -> a_b), arrays skipped, names sanitized
 *    (characters outside [A-Za-z0-9_] to `_`, a leading digit prefixed
 *    with `_`); a line that is not a JSON object sets
 *    __error__="JSONParserErr" and extracts nothing;
 *  - `| logfmt`: key=value pairs (values bare or in double quotes with Go
 *    escapes); malformed pairs are skipped, or with --strict the parse stops
 *    and sets __error__="LogfmtParserErr";
 *  - an extracted name that is already a stream label gets `_extracted`;
 *    structured metadata of that name is replaced by the extracted value;
 *  - label filters see stream labels, structured metadata and extracted
 *    labels; an absent label compares as ""; a numeric / duration / bytes
 *    filter on an absent label is false, on a value that does not parse
 *    sets __error__="LabelFilterErr" and passes, and passes any line that
 *    already has an __error__ (only string filters can drop those); `and`
 *    evaluates both sides (errors of both are set), `or` stops at a true left;
 *  - precedence: `and` binds tighter than `or`; ',' and a blank have the
 *    lowest and take everything to their right (Loki's grammar:
 *    `a, b or c` is a and (b or c));
 *  - `keep` keeps __error__.
 * Deviations: labels with an empty value are absent (tws_labels), so a
 * `| json x="missing"` adds no label where Loki shows x="";
 * __error_details__ is not set.
 *
 * Errors: "parse error at line L, col C: syntax error: unexpected X,
 * expecting A or B" (tokens named as Loki names them: IDENTIFIER, STRING,
 * NUMBER, DURATION, RANGE, $end, or their text), lexical errors as Loki's
 * ("literal not terminated", "invalid char escape", "missing closing ']' in
 * duration"), and Loki's own text for the empty-compatible selector
 * ("parse error : queries require at least one regexp or equality matcher
 * ..."). The parser never trusts its input: queries longer than
 * LQ_MAX_QUERY bytes are refused and nesting is bounded by LQ_MAX_DEPTH.
 *
 * A parsed query is immutable and may be used from several threads at
 * once, each with its own lq_eval.
 */
#ifndef TWS_LOGQL_H
#define TWS_LOGQL_H

#include <stdbool.h>
#include <stdint.h>

#include "logs/labels.h"

#define LQ_MAX_DEPTH 64
#define LQ_MAX_QUERY (64 * 1024)
#define LQ_MAX_STEPS 11000 /* points per series, as Prometheus and Loki */

typedef struct lq_query lq_query;

/* Parse q[0..len). TW_OK with *out (free with lq_query_free); TW_EPARSE
 * with the message in err (NUL-terminated); TW_ENOMEM. */
int lq_parse(const char *q, size_t len, lq_query **out, char err[256]);
void lq_query_free(lq_query *q);

/* A duration: Go's time.ParseDuration ("1h30m", "250ms"), plus d, w, y
 * when allow_days (as LogQL literals take them). The whole of s[0..n) or
 * false. */
bool lq_scan_duration(const char *s, size_t n, bool allow_days, int64_t *ns);

/* ---- the stream selector ------------------------------------------------------------ */

typedef enum lq_match_op { LQ_EQ = 1, LQ_NEQ, LQ_RE, LQ_NRE } lq_match_op;

typedef struct lq_re lq_re;

typedef struct lq_matcher {
    tw_str name;
    lq_match_op op;
    tw_str value;
    lq_re *re; /* LQ_RE / LQ_NRE: the compiled, anchored pattern */
} lq_matcher;

/* The selector's matchers (*n of them, at least one), in query order;
 * they live as long as the query. */
const lq_matcher *lq_selector(const lq_query *q, uint32_t *n);
/* Does `value` (the label's value, "" when absent) satisfy m? */
bool lq_matcher_matches(const lq_matcher *m, tw_str value);
/* Does a stream with these labels satisfy every matcher of the selector?
 * (What a store runs per stream before reading any line.) */
bool lq_selector_matches(const lq_query *q, const tws_labels *stream);

/* A trace id the query names, for a caller that can use a trace-id index
 * instead of a scan. LQ_HINT_LABEL: a label filter `trace_id="<32 hex>"`
 * that every match must pass (not under an `or`); LQ_HINT_LINE: a line
 * filter `|= "<32 hex>"` (one alternative): every match contains the id in
 * its line, so an index of the ids records carry (in their fields or, see
 * logs/log_ids.h, in their content) finds all but lines that mention the
 * id some other way. The id is written to `id` (16 bytes). */
typedef enum lq_trace_hint { LQ_HINT_NONE = 0, LQ_HINT_LINE, LQ_HINT_LABEL } lq_trace_hint;
lq_trace_hint lq_trace_id(const lq_query *q, uint8_t id[16]);

/* ---- metric queries ----------------------------------------------------------------- */

typedef enum lq_range_fn { LQ_COUNT_OVER_TIME = 1, LQ_RATE, LQ_BYTES_OVER_TIME, LQ_BYTES_RATE } lq_range_fn;

typedef enum lq_grouping {
    LQ_GROUP_NONE = 0, /* no aggregation: one series per distinct label set */
    LQ_GROUP_ALL,      /* sum(...): one series without labels */
    LQ_GROUP_BY,       /* sum by (labels) */
    LQ_GROUP_WITHOUT,  /* sum without (labels) */
} lq_grouping;

typedef struct lq_metric {
    lq_range_fn fn;
    int64_t range_ns; /* the [range], > 0 */
    lq_grouping grouping;
    const tw_str *labels; /* by / without names */
    uint32_t n_labels;
} lq_metric;

/* The metric part of a metric query, NULL for a log query. */
const lq_metric *lq_query_metric(const lq_query *q);

/* ---- evaluation, one record at a time ----------------------------------------------- */

typedef struct lq_eval lq_eval;
int lq_eval_new(lq_eval **out); /* TW_OK or TW_ENOMEM */
void lq_eval_free(lq_eval *e);

/*
 * Run q's pipeline on one record of a stream that satisfies the selector
 * (the selector is not checked here: see lq_selector_matches). `stream`:
 * the record's stream labels; `metadata`: its structured metadata (may be
 * NULL); `line`: its log line. Returns 1 when the record passes, with
 * *out = its resulting labels (stream labels, then metadata that does not
 * clash with them, then extracted labels, then __error__ if set; owned by
 * `e`, valid until its next call); 0 when it does not; TW_ENOMEM.
 */
int lq_eval_record(lq_eval *e, const lq_query *q, const tws_labels *stream, tw_str line, const tws_labels *metadata,
                   const tws_labels **out);

/*
 * A metric query's series over [start, end] every `step` (step 0: one
 * point, at end). Records that passed lq_eval_record are added with their
 * time and resulting labels; each point t sums the records in (t - range,
 * t]: count_over_time counts them, rate divides that by the range in
 * seconds, bytes_over_time adds their line lengths, bytes_rate divides
 * that by the range in seconds; then sum groups the series.
 */
typedef struct lq_acc lq_acc;
/* TW_OK; TW_ERANGE when the query is not a metric query, end < start, or
 * the points per series would pass LQ_MAX_STEPS; TW_ENOMEM. max_series 0:
 * no limit. */
int lq_acc_new(const lq_query *q, int64_t start_ns, int64_t end_ns, int64_t step_ns, uint32_t max_series, lq_acc **out);
void lq_acc_free(lq_acc *a);
/* TW_OK; TW_EINVAL when the labels carry __error__ (as Loki, a metric
 * query fails on a pipeline error: lq_acc_error says which; filter or drop
 * __error__ in the query to go on); TW_ERANGE past max_series; TW_ENOMEM. */
int lq_acc_add(lq_acc *a, int64_t ts_ns, const tws_labels *labels, size_t line_len);
/* The message of the last error of lq_acc_add ("" when none). */
const char *lq_acc_error(const lq_acc *a);
uint32_t lq_acc_n_series(const lq_acc *a);
uint32_t lq_acc_n_steps(const lq_acc *a);
int64_t lq_acc_step_time(const lq_acc *a, uint32_t step);
/* Series i's labels (in order of first appearance). */
const tws_labels *lq_acc_labels(const lq_acc *a, uint32_t series);
/* Its value at a step; false when the series has no point there (no record
 * in the window). */
bool lq_acc_value(const lq_acc *a, uint32_t series, uint32_t step, double *v);

#endif
