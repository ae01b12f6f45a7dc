/*
 * traceql.h — TraceQL, Tempo's query language for traces: the parsed form
 * of a query and the one-trace-at-a-time evaluator behind search and
 * TraceQL metrics.
 *
 * A query is parsed once (tq_parse) into a tree of nodes held by the
 * query's own arena; it is then immutable and may be evaluated from several
 * threads at once, each with its own tq_eval scratch state.
 *
 * Evaluation takes one trace (or the piece of a trace that one source
 * holds: a head, a block) as a tq_trace and yields its spansets: groups of
 * matching spans, with the labels of by() and the attributes of select().
 *
 * Invariants:
 *  - Parsing never trusts its input: any byte string yields either a query
 *    or TW_EPARSE with "parse error at line L, col C: ..." naming what was
 *    expected; nesting is bounded (TQ_MAX_DEPTH) so recursion cannot
 *    exhaust the stack.
 *  - Regular expressions are fully anchored, as in Tempo, compiled once at
 *    parse time with a bounded match effort (a pathological pattern fails
 *    to match instead of hanging a query).
 *  - Evaluation allocates only from its tq_eval (reset per trace), so a
 *    trace's evaluation costs no malloc in the steady state.
 */
#ifndef TWS_TRACEQL_H
#define TWS_TRACEQL_H

#include <stdbool.h>
#include <stdint.h>

#include "otlp/model.h"

#define TQ_MAX_DEPTH 64

/* Value types of TraceQL. */
typedef enum tq_type {
    TQ_NIL = 0,
    TQ_BOOL,
    TQ_INT,
    TQ_FLOAT,
    TQ_STRING,
    TQ_DURATION, /* nanoseconds in u.i */
    TQ_STATUS,   /* OTLP status code in u.i: 0 unset, 1 ok, 2 error */
    TQ_KIND,     /* OTLP span kind in u.i: 0 unspecified .. 5 consumer */
    TQ_ARRAY,    /* an attribute holding an array: u.arr (compares as "any element") */
} tq_type;

typedef struct tq_val {
    tq_type t;
    uint32_t n; /* string length / array length */
    union {
        bool b;
        int64_t i;
        double f;
        const char *s;
        const tws_value *arr;
    } u;
} tq_val;

/* Attribute scopes. */
typedef enum tq_scope {
    TQ_SCOPE_NONE = 0, /* .x: span first, then resource */
    TQ_SCOPE_SPAN,
    TQ_SCOPE_RESOURCE,
    TQ_SCOPE_EVENT,
    TQ_SCOPE_LINK,
    TQ_SCOPE_INSTRUMENTATION,
} tq_scope;

/* Intrinsics. */
typedef enum tq_intrinsic {
    TQ_I_NAME = 1,
    TQ_I_STATUS,
    TQ_I_STATUS_MESSAGE,
    TQ_I_KIND,
    TQ_I_DURATION,
    TQ_I_TRACE_DURATION,
    TQ_I_ROOT_NAME,
    TQ_I_ROOT_SERVICE_NAME,
    TQ_I_SPAN_ID,
    TQ_I_PARENT_ID,
    TQ_I_TRACE_ID,
    TQ_I_EVENT_NAME,
    TQ_I_EVENT_TIME_SINCE_START,
    TQ_I_LINK_TRACE_ID,
    TQ_I_LINK_SPAN_ID,
    TQ_I_SCOPE_NAME,
    TQ_I_SCOPE_VERSION,
    TQ_I_PARENT,     /* "parent": nil for a root span, as Tempo's { parent = nil } */
    TQ_I_NESTED_LEFT,
    TQ_I_NESTED_RIGHT,
    TQ_I_NESTED_PARENT,
    TQ_I__COUNT
} tq_intrinsic;

/* Operators. */
typedef enum tq_op {
    TQ_OP_NONE = 0,
    /* field: logic */
    TQ_OP_AND, TQ_OP_OR, TQ_OP_NOT,
    /* field: comparison */
    TQ_OP_EQ, TQ_OP_NEQ, TQ_OP_LT, TQ_OP_LTE, TQ_OP_GT, TQ_OP_GTE, TQ_OP_RE, TQ_OP_NRE,
    /* field: arithmetic */
    TQ_OP_ADD, TQ_OP_SUB, TQ_OP_MUL, TQ_OP_DIV, TQ_OP_MOD, TQ_OP_POW, TQ_OP_NEG,
    /* spanset: structural (the right side's spans, unless union) */
    TQ_OP_CHILD, TQ_OP_DESC, TQ_OP_PARENT, TQ_OP_ANCE, TQ_OP_SIBL,
    TQ_OP_NOT_CHILD, TQ_OP_NOT_DESC, TQ_OP_NOT_PARENT, TQ_OP_NOT_ANCE, TQ_OP_NOT_SIBL,
    TQ_OP_UNION_CHILD, TQ_OP_UNION_DESC, TQ_OP_UNION_PARENT, TQ_OP_UNION_ANCE, TQ_OP_UNION_SIBL,
    TQ_OP__COUNT
} tq_op;

/* Node kinds. */
typedef enum tq_kind {
    /* field expressions (inside { }) */
    TQN_LIT = 1, /* lit */
    TQN_ATTR,    /* scope, name */
    TQN_INTR,    /* intrinsic */
    TQN_BIN,     /* op, l, r */
    TQN_UN,      /* op (NOT, NEG), l */
    /* spanset expressions */
    TQN_FILTER,  /* { l } (l NULL: {}) */
    TQN_SSOP,    /* l op r: && || and the structural operators */
    TQN_PIPE,    /* l | r: r applied to the spansets l yields */
    TQN_SCALAR_FILTER, /* l op r over aggregates: count() > 2 */
    TQN_AGG,     /* agg of l (NULL for count()) */
    TQN_BY,      /* by(args) */
    TQN_SELECT,  /* select(args) */
    TQN_COALESCE,
    /* metrics (the query's last stage) */
    TQN_METRICS,
} tq_kind;

typedef enum tq_agg { TQ_AGG_COUNT = 1, TQ_AGG_AVG, TQ_AGG_MIN, TQ_AGG_MAX, TQ_AGG_SUM } tq_agg;

typedef enum tq_metric_fn {
    TQ_M_RATE = 1,
    TQ_M_COUNT_OVER_TIME,
    TQ_M_MIN_OVER_TIME,
    TQ_M_MAX_OVER_TIME,
    TQ_M_AVG_OVER_TIME,
    TQ_M_SUM_OVER_TIME,
    TQ_M_QUANTILE_OVER_TIME,
    TQ_M_HISTOGRAM_OVER_TIME,
} tq_metric_fn;

enum { TQ_USES_EVENTS = 1, TQ_USES_LINKS = 2 };

typedef struct tq_node tq_node;
struct tq_node {
    tq_kind kind;
    tq_op op;
    uint8_t scope;     /* TQN_ATTR */
    uint8_t intrinsic; /* TQN_INTR */
    uint8_t agg;       /* TQN_AGG */
    uint8_t fn;        /* TQN_METRICS */
    uint8_t uses;      /* TQN_FILTER: TQ_USES_* of its condition */
    tq_val lit;        /* TQN_LIT */
    const char *name;  /* TQN_ATTR: the key (NUL-terminated, in the arena) */
    uint32_t name_len;
    uint32_t pos;      /* byte offset in the query text */
    tq_node *l, *r;
    tq_node **args;    /* TQN_BY, TQN_SELECT, TQN_METRICS (by) */
    uint32_t n_args;
    double *qs;        /* TQN_METRICS quantiles */
    uint32_t n_qs;
    void *re;          /* TQN_BIN with RE/NRE: compiled pattern of the literal side */
    uint16_t id;       /* TQN_BY/TQN_SELECT: distinct per node */
    tq_node *re_next;  /* every node holding a compiled pattern, for freeing */
};

/* The second stage of a metrics query: topk(n) / bottomk(n). */
typedef enum tq_second { TQ_SECOND_NONE = 0, TQ_SECOND_TOPK, TQ_SECOND_BOTTOMK } tq_second;

typedef struct tq_query tq_query;
struct tq_query {
    tq_node *root;    /* the spanset pipeline */
    tq_node *metrics; /* TQN_METRICS, or NULL for a search query */
    tq_second second;
    uint32_t second_n;
    /* What the query reads, for planning: */
    bool needs_events, needs_links, needs_structure, needs_trace; /* trace: rootName, traceDuration... */
    /* Filled by the parser from the query's filters (the attributes to show with matched spans). */
    tq_node **shown;
    uint32_t n_shown;
    tq_node *res; /* nodes with compiled patterns (re_next chain) */
    struct tq_arena *arena;
    char *text;
};

/* Parse `q` (`len` bytes). TW_OK with *out; TW_EPARSE with `err` ("parse
 * error at line 1, col 7: ..."); TW_ENOMEM. */
int tq_parse(const char *q, size_t len, tq_query **out, char err[256]);
void tq_query_free(tq_query *q);

/* ---- evaluation --------------------------------------------------------- */

/* One span of the trace being evaluated. */
typedef struct tq_span {
    const tws_span *s;
    const tws_scope *scope;
    const tws_resource *res;
    int32_t parent; /* index of the parent in the trace, -1: none (root or not present) */
} tq_span;

/* One trace, or the part of it a source holds. */
typedef struct tq_trace {
    tq_span *spans;
    uint32_t n;
    int32_t root;            /* index of the root span (no parent id), -1 if none */
    uint64_t start_ns, end_ns;
} tq_trace;

/* A label of a spanset: by() value or select()ed/aggregated attribute. */
typedef struct tq_label {
    const tq_node *node; /* the expression (its text is the label's name) */
    tq_val val;
} tq_label;

typedef struct tq_spanset {
    uint32_t *spans; /* indices into the trace, ascending */
    uint32_t n;
    tq_label *labels; /* by() values */
    uint32_t n_labels;
    tq_label *scalars; /* aggregate values from scalar filters (count() etc.) */
    uint32_t n_scalars;
} tq_spanset;

typedef struct tq_eval tq_eval;
int tq_eval_new(tq_eval **out);
void tq_eval_free(tq_eval *e);

/* Build a tq_trace over `refs` (the spans of one trace, any order): links
 * each span to its parent, finds the root and the time range. The trace's
 * arrays live in `e` until the next tq_eval_trace / tq_trace_build. */
int tq_trace_build(tq_eval *e, const tws_span_ref *refs, uint32_t n, tq_trace *out);

/* Evaluate the query's spanset pipeline on `t`: *out receives *n spansets
 * (memory in `e`, valid until the next call). TW_OK, TW_ENOMEM. */
int tq_eval_trace(tq_eval *e, const tq_query *q, const tq_trace *t, tq_spanset **out, uint32_t *n);

/* The value of a field expression for span `i` of `t` (for select() and
 * the attributes shown with a match). */
tq_val tq_eval_field(tq_eval *e, const tq_node *f, const tq_trace *t, uint32_t i);

/* The comparison node n (TQN_BIN, op = .. !~) applied to a (its left
 * side's value) and b (its right side's), with TraceQL's rules for nil,
 * arrays and mixed numbers: what evaluation would answer. */
bool tq_compare(const tq_node *n, tq_val a, tq_val b);

/* An OTLP attribute value as a TraceQL value (kvlists and bytes: nil). */
tq_val tq_val_from(const tws_value *v);
/* The span's resource service.name, or nil. */
tq_val tq_span_service(const tq_span *sp);

/* Write a node back as TraceQL text (labels, error messages). */
struct tw__buf;
void tq_node_text(const tq_node *n, struct tw__buf *out);
/* Write a value as text (for labels) */
void tq_val_text(const tq_val *v, struct tw__buf *out);
const char *tq_type_name(tq_type t);
const char *tq_op_text(tq_op op);
const char *tq_intrinsic_name(uint8_t i);
tq_type tq_intrinsic_type(uint8_t i);

#endif
