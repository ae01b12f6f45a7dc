/*
 * eval.c — a TraceQL spanset pipeline evaluated on one trace.
 *
 * Values: an attribute's value is looked up per span (unscoped `.x`: the
 * span's attributes, then its resource's); a missing attribute is nil.
 * A comparison with nil, or between values of different kinds, is false —
 * for != as well, as in Tempo — except the explicit `= nil` / `!= nil`
 * existence tests. Integers, floats and durations compare with each other.
 * An array attribute matches when any element does (= < > =~ ...) and
 * != / !~ hold when no element is equal / matches.
 *
 * Conditions on event.* or link.* fields hold for a span when one event
 * (one link) makes the whole condition true: { event.a = 1 && event.b = 2 }
 * needs both on the same event.
 *
 * Spansets: a pipeline stage maps each input spanset to output spansets;
 * a filter keeps the spans that match (dropping empty sets); && and ||
 * between spansets keep the union of both sides when both (either) match;
 * structural operators return the right side's spans that stand in the
 * relation to some left-side span (& forms: the spans of both sides that
 * do; ! forms: the right side's spans that do not).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "traceql/traceql_int.h"

struct tq_eval {
    tq_arena *a;
    /* per trace */
    const tq_trace *t;
    uint8_t *mark_a, *mark_b, *mark_c; /* n bytes each */
    uint32_t *count;                   /* n */
    int32_t *nested_left, *nested_right;
    uint32_t cap;
};

int tq_eval_new(tq_eval **out) {
    tq_eval *e = tw__calloc(1, sizeof *e);
    if (!e || !(e->a = tq_arena_new())) {
        tw__free(e);
        return TW_ENOMEM;
    }
    *out = e;
    return TW_OK;
}

void tq_eval_free(tq_eval *e) {
    if (!e) return;
    tq_arena_free(e->a);
    tw__free(e);
}

/* ---- the trace ---------------------------------------------------------- */

typedef struct id_ix {
    uint64_t id;
    uint32_t i;
} id_ix;

static int cmp_id_ix(const void *x, const void *y) {
    const id_ix *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

int tq_trace_build(tq_eval *e, const tws_span_ref *refs, uint32_t n, tq_trace *out) {
    tq_arena_reset(e->a);
    e->t = NULL;
    e->nested_left = e->nested_right = NULL;
    memset(out, 0, sizeof *out);
    out->root = -1;
    tq_span *sp = tq_arena_alloc(e->a, (n ? n : 1) * sizeof *sp);
    id_ix *ix = tq_arena_alloc(e->a, (n ? n : 1) * sizeof *ix);
    e->mark_a = tq_arena_alloc(e->a, n + 1);
    e->mark_b = tq_arena_alloc(e->a, n + 1);
    e->mark_c = tq_arena_alloc(e->a, n + 1);
    e->count = tq_arena_alloc(e->a, (n + 1) * sizeof *e->count);
    if (!sp || !ix || !e->mark_a || !e->mark_b || !e->mark_c || !e->count) return TW_ENOMEM;
    e->cap = n;
    uint64_t start = UINT64_MAX, end = 0;
    for (uint32_t i = 0; i < n; i++) {
        const tws_batch *b = refs[i].batch;
        const tws_span *s = refs[i].span;
        sp[i].s = s;
        sp[i].scope = s->scope_idx < b->n_scopes ? &b->scopes[s->scope_idx] : NULL;
        sp[i].res = sp[i].scope && sp[i].scope->resource_idx < b->n_resources ? &b->resources[sp[i].scope->resource_idx]
                                                                               : NULL;
        sp[i].parent = -1;
        ix[i].id = tw__load_be64(s->span_id);
        ix[i].i = i;
        if (s->start_ns < start) start = s->start_ns;
        if (s->end_ns > end) end = s->end_ns;
        if (s->start_ns > end) end = s->start_ns;
        if (!s->has_parent && (out->root < 0 || s->start_ns < sp[out->root].s->start_ns)) out->root = (int32_t)i;
    }
    qsort(ix, n, sizeof *ix, cmp_id_ix);
    for (uint32_t i = 0; i < n; i++) {
        const tws_span *s = sp[i].s;
        if (!s->has_parent) continue;
        uint64_t pid = tw__load_be64(s->parent_span_id);
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (ix[mid].id < pid) lo = mid + 1;
            else hi = mid;
        }
        if (lo < n && ix[lo].id == pid && ix[lo].i != i) sp[i].parent = (int32_t)ix[lo].i;
    }
    out->spans = sp;
    out->n = n;
    out->start_ns = n ? start : 0;
    out->end_ns = end;
    return TW_OK;
}

/* Nested-set numbers (pre-order, as Tempo's nestedSetLeft/Right), made on
 * first use for the current trace. */
static int nested_build(tq_eval *e, const tq_trace *t) {
    uint32_t n = t->n;
    int32_t *left = tq_arena_alloc(e->a, (n + 1) * sizeof *left), *right = tq_arena_alloc(e->a, (n + 1) * sizeof *right);
    uint32_t *first = tq_arena_alloc(e->a, (n + 1) * sizeof *first), *next = tq_arena_alloc(e->a, (n + 1) * sizeof *next);
    uint32_t *stack = tq_arena_alloc(e->a, (n + 1) * sizeof *stack);
    if (!left || !right || !first || !next || !stack) return TW_ENOMEM;
    const uint32_t NONE = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) first[i] = NONE;
    /* children lists, in reverse so the walk visits them in order */
    for (uint32_t i = n; i-- > 0;) {
        int32_t p = t->spans[i].parent;
        if (p >= 0) {
            next[i] = first[p];
            first[p] = i;
        }
    }
    int32_t counter = 1;
    for (uint32_t r = 0; r < n; r++) { /* from the true roots only: orphans keep 0, as in Tempo */
        if (t->spans[r].parent >= 0 || t->spans[r].s->has_parent) continue;
        /* iterative DFS; state: left assigned on push, right on pop */
        uint32_t sp = 0;
        stack[sp++] = r;
        left[r] = counter++;
        while (sp) {
            uint32_t x = stack[sp - 1];
            uint32_t c = first[x];
            if (c != NONE) {
                first[x] = next[c]; /* consume the child */
                left[c] = counter++;
                stack[sp++] = c;
            } else {
                right[x] = counter++;
                sp--;
            }
        }
    }
    /* spans in a parent cycle were never reached */
    for (uint32_t i = 0; i < n; i++)
        if (!left[i]) left[i] = right[i] = 0;
    e->nested_left = left;
    e->nested_right = right;
    return TW_OK;
}

/* ---- values ------------------------------------------------------------- */

typedef struct ctx {
    const tq_trace *t;
    uint32_t i;  /* the span */
    int32_t ev;  /* its event being looked at, or -1 */
    int32_t ln;  /* its link, or -1 */
} ctx;

static tq_val nil(void) { return (tq_val){.t = TQ_NIL}; }

tq_val tq_val_from(const tws_value *v) {
    tq_val r = {0};
    switch (v->type) {
    case TWS_STRING: r.t = TQ_STRING; r.u.s = v->u.s.ptr; r.n = (uint32_t)v->u.s.len; break;
    case TWS_BOOL: r.t = TQ_BOOL; r.u.b = v->u.b; break;
    case TWS_INT: r.t = TQ_INT; r.u.i = v->u.i; break;
    case TWS_DOUBLE: r.t = TQ_FLOAT; r.u.f = v->u.d; break;
    case TWS_ARRAY: r.t = TQ_ARRAY; r.u.arr = v->u.arr; r.n = v->n; break;
    default: r.t = TQ_NIL; break;
    }
    return r;
}

static const tws_value *find(const tws_attrs *a, const char *k, uint32_t n) {
    for (uint32_t i = 0; i < a->n; i++)
        if (a->items[i].key.len == n && !memcmp(a->items[i].key.ptr, k, n)) return &a->items[i].val;
    return NULL;
}

static tq_val attr_value(const ctx *c, const tq_node *n) {
    const tq_span *sp = &c->t->spans[c->i];
    const tws_value *v = NULL;
    switch (n->scope) {
    case TQ_SCOPE_NONE: /* span, resource, events, links, instrumentation: the first that has it */
        v = find(&sp->s->attrs, n->name, n->name_len);
        if (!v && sp->res) v = find(&sp->res->attrs, n->name, n->name_len);
        for (uint32_t k = 0; !v && k < sp->s->n_events; k++) v = find(&sp->s->events[k].attrs, n->name, n->name_len);
        for (uint32_t k = 0; !v && k < sp->s->n_links; k++) v = find(&sp->s->links[k].attrs, n->name, n->name_len);
        if (!v && sp->scope) v = find(&sp->scope->attrs, n->name, n->name_len);
        break;
    case TQ_SCOPE_SPAN: v = find(&sp->s->attrs, n->name, n->name_len); break;
    case TQ_SCOPE_RESOURCE: v = sp->res ? find(&sp->res->attrs, n->name, n->name_len) : NULL; break;
    case TQ_SCOPE_INSTRUMENTATION: v = sp->scope ? find(&sp->scope->attrs, n->name, n->name_len) : NULL; break;
    case TQ_SCOPE_EVENT:
        if (c->ev >= 0) v = find(&sp->s->events[c->ev].attrs, n->name, n->name_len);
        break;
    case TQ_SCOPE_LINK:
        if (c->ln >= 0) v = find(&sp->s->links[c->ln].attrs, n->name, n->name_len);
        break;
    }
    return v ? tq_val_from(v) : nil();
}

static tq_val str_val(const char *s, size_t n) { return (tq_val){.t = TQ_STRING, .n = (uint32_t)n, .u.s = s}; }

/* Lowercase hex; trace ids (16 bytes) without leading zeros, as Tempo
 * writes them, span ids (8 bytes) at full width. */
static tq_val hex_val(tq_eval *e, const uint8_t *id, size_t n) {
    char *h = tq_arena_alloc(e->a, 2 * n + 1);
    if (!h) return nil();
    static const char X[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        h[2 * i] = X[id[i] >> 4];
        h[2 * i + 1] = X[id[i] & 15];
    }
    size_t skip = 0;
    if (n == 16)
        while (skip < 2 * n - 1 && h[skip] == '0') skip++;
    return str_val(h + skip, 2 * n - skip);
}

tq_val tq_span_service(const tq_span *sp) {
    const tws_value *v = sp->res ? find(&sp->res->attrs, "service.name", 12) : NULL;
    return v && v->type == TWS_STRING ? tq_val_from(v) : nil();
}

static tq_val intrinsic_value(tq_eval *e, const ctx *c, uint8_t which) {
    const tq_trace *t = c->t;
    const tq_span *sp = &t->spans[c->i];
    const tws_span *s = sp->s;
    switch (which) {
    case TQ_I_NAME: return str_val(s->name.ptr, s->name.len);
    case TQ_I_STATUS: return (tq_val){.t = TQ_STATUS, .u.i = s->status_code};
    case TQ_I_STATUS_MESSAGE: return str_val(s->status_message.ptr, s->status_message.len);
    case TQ_I_KIND: return (tq_val){.t = TQ_KIND, .u.i = s->kind};
    case TQ_I_DURATION:
        return (tq_val){.t = TQ_DURATION, .u.i = s->end_ns > s->start_ns ? (int64_t)(s->end_ns - s->start_ns) : 0};
    case TQ_I_TRACE_DURATION:
        return (tq_val){.t = TQ_DURATION, .u.i = t->end_ns > t->start_ns ? (int64_t)(t->end_ns - t->start_ns) : 0};
    case TQ_I_ROOT_NAME:
        return t->root >= 0 ? str_val(t->spans[t->root].s->name.ptr, t->spans[t->root].s->name.len) : nil();
    case TQ_I_ROOT_SERVICE_NAME: return t->root >= 0 ? tq_span_service(&t->spans[t->root]) : nil();
    case TQ_I_SPAN_ID: return hex_val(e, s->span_id, 8);
    case TQ_I_PARENT_ID: return s->has_parent ? hex_val(e, s->parent_span_id, 8) : nil();
    case TQ_I_TRACE_ID: return hex_val(e, s->trace_id, 16);
    case TQ_I_EVENT_NAME: return c->ev >= 0 ? str_val(s->events[c->ev].name.ptr, s->events[c->ev].name.len) : nil();
    case TQ_I_EVENT_TIME_SINCE_START:
        if (c->ev < 0) return nil();
        return (tq_val){.t = TQ_DURATION,
                        .u.i = s->events[c->ev].time_ns > s->start_ns ? (int64_t)(s->events[c->ev].time_ns - s->start_ns) : 0};
    case TQ_I_LINK_TRACE_ID: return c->ln >= 0 ? hex_val(e, s->links[c->ln].trace_id, 16) : nil();
    case TQ_I_LINK_SPAN_ID: return c->ln >= 0 ? hex_val(e, s->links[c->ln].span_id, 8) : nil();
    case TQ_I_SCOPE_NAME: return sp->scope ? str_val(sp->scope->name.ptr, sp->scope->name.len) : nil();
    case TQ_I_SCOPE_VERSION: return sp->scope ? str_val(sp->scope->version.ptr, sp->scope->version.len) : nil();
    case TQ_I_PARENT: return sp->parent >= 0 ? (tq_val){.t = TQ_BOOL, .u.b = true} : nil();
    case TQ_I_NESTED_LEFT:
    case TQ_I_NESTED_RIGHT:
    case TQ_I_NESTED_PARENT:
        if (!e->nested_left && nested_build(e, t) != TW_OK) return nil();
        if (which == TQ_I_NESTED_LEFT) return (tq_val){.t = TQ_INT, .u.i = e->nested_left[c->i]};
        if (which == TQ_I_NESTED_RIGHT) return (tq_val){.t = TQ_INT, .u.i = e->nested_right[c->i]};
        if (!e->nested_left[c->i]) return (tq_val){.t = TQ_INT, .u.i = 0}; /* not connected to a root */
        return (tq_val){.t = TQ_INT, .u.i = sp->parent >= 0 ? e->nested_left[sp->parent] : -1};
    }
    return nil();
}

static bool is_num(const tq_val *v) { return v->t == TQ_INT || v->t == TQ_FLOAT || v->t == TQ_DURATION; }
static double as_f(const tq_val *v) { return v->t == TQ_FLOAT ? v->u.f : (double)v->u.i; }

static tq_val arith(tq_op op, tq_val a, tq_val b) {
    if (!is_num(&a) || !is_num(&b)) return nil();
    tq_type rt = (a.t == TQ_DURATION || b.t == TQ_DURATION) ? TQ_DURATION : TQ_INT;
    bool ints = a.t != TQ_FLOAT && b.t != TQ_FLOAT;
    if (ints && op != TQ_OP_POW) { /* integer arithmetic; division truncates, as in Tempo */
        int64_t x = a.u.i, y = b.u.i, r;
        switch (op) {
        case TQ_OP_ADD: if (__builtin_add_overflow(x, y, &r)) return nil(); break;
        case TQ_OP_SUB: if (__builtin_sub_overflow(x, y, &r)) return nil(); break;
        case TQ_OP_MUL: if (__builtin_mul_overflow(x, y, &r)) return nil(); break;
        default:
            if (y == 0 || (x == INT64_MIN && y == -1)) return nil();
            r = op == TQ_OP_DIV ? x / y : x % y;
            break;
        }
        return (tq_val){.t = rt, .u.i = r};
    }
    double x = as_f(&a), y = as_f(&b), r;
    switch (op) {
    case TQ_OP_ADD: r = x + y; break;
    case TQ_OP_SUB: r = x - y; break;
    case TQ_OP_MUL: r = x * y; break;
    case TQ_OP_DIV: if (y == 0) return nil(); r = x / y; break;
    case TQ_OP_MOD: if (y == 0) return nil(); r = fmod(x, y); break;
    case TQ_OP_POW: r = pow(x, y); break;
    default: return nil();
    }
    if (rt == TQ_DURATION && op != TQ_OP_DIV && op != TQ_OP_POW && fabs(r) < 9.2e18) return (tq_val){.t = TQ_DURATION, .u.i = (int64_t)r};
    return (tq_val){.t = TQ_FLOAT, .u.f = r};
}

/* Compare two scalar (non-array) values; false on a kind mismatch. */
static bool cmp_scalar(tq_op op, const tq_val *a, const tq_val *b, const tq_node *n) {
    if (op == TQ_OP_RE || op == TQ_OP_NRE) {
        if (a->t != TQ_STRING) return false;
        bool m = tq_re_match(n->re, a->u.s, a->n);
        return op == TQ_OP_RE ? m : !m;
    }
    int c;
    if (is_num(a) && is_num(b)) {
        if (a->t != TQ_FLOAT && b->t != TQ_FLOAT) c = (a->u.i > b->u.i) - (a->u.i < b->u.i);
        else {
            double x = as_f(a), y = as_f(b);
            if (isnan(x) || isnan(y)) return op == TQ_OP_NEQ;
            c = (x > y) - (x < y);
        }
    } else if (a->t != b->t) {
        return false;
    } else if (a->t == TQ_STRING) {
        size_t m = a->n < b->n ? a->n : b->n;
        c = m ? memcmp(a->u.s, b->u.s, m) : 0;
        if (!c) c = (a->n > b->n) - (a->n < b->n);
    } else if (a->t == TQ_BOOL) {
        if (op != TQ_OP_EQ && op != TQ_OP_NEQ) return false;
        c = a->u.b != b->u.b;
    } else { /* status, kind */
        if (op != TQ_OP_EQ && op != TQ_OP_NEQ) return false;
        c = a->u.i != b->u.i;
    }
    switch (op) {
    case TQ_OP_EQ: return c == 0;
    case TQ_OP_NEQ: return c != 0;
    case TQ_OP_LT: return c < 0;
    case TQ_OP_LTE: return c <= 0;
    case TQ_OP_GT: return c > 0;
    case TQ_OP_GTE: return c >= 0;
    default: return false;
    }
}

static bool compare(tq_op op, tq_val a, tq_val b, const tq_node *n) {
    bool lnil = n->l->kind == TQN_LIT && n->l->lit.t == TQ_NIL, rnil = n->r->kind == TQN_LIT && n->r->lit.t == TQ_NIL;
    if (lnil || rnil) { /* existence tests */
        const tq_val *o = lnil ? &b : &a;
        if (lnil && rnil) return false; /* nil = nil and nil != nil are both false, as in Tempo */
        bool missing = o->t == TQ_NIL;
        return op == TQ_OP_EQ ? missing : !missing;
    }
    if (a.t == TQ_NIL || b.t == TQ_NIL) return false;
    if (a.t == TQ_ARRAY || b.t == TQ_ARRAY) {
        bool neg = op == TQ_OP_NEQ || op == TQ_OP_NRE;
        tq_op pos = op == TQ_OP_NEQ ? TQ_OP_EQ : op == TQ_OP_NRE ? TQ_OP_RE : op;
        const tq_val *arr = a.t == TQ_ARRAY ? &a : &b;
        bool any = false, seen = false;
        for (uint32_t k = 0; k < arr->n && !any; k++) {
            tq_val el = tq_val_from(&arr->u.arr[k]);
            if (el.t == TQ_NIL || el.t == TQ_ARRAY) continue;
            tq_val x = a.t == TQ_ARRAY ? el : a, y = b.t == TQ_ARRAY ? el : b;
            if (x.t == TQ_ARRAY || y.t == TQ_ARRAY) continue;
            /* a kind mismatch makes neither = nor != true */
            if (!(is_num(&x) && is_num(&y)) && x.t != y.t) continue;
            seen = true;
            any = cmp_scalar(pos, &x, &y, n);
        }
        return neg ? seen && !any : any;
    }
    return cmp_scalar(op, &a, &b, n);
}

bool tq_compare(const tq_node *n, tq_val a, tq_val b) { return compare(n->op, a, b, n); }

static bool truthy(const tq_val *v) { return v->t == TQ_BOOL && v->u.b; }

static tq_val eval_value(tq_eval *e, const ctx *c, const tq_node *n);

static tq_val bool_val(bool b) { return (tq_val){.t = TQ_BOOL, .u.b = b}; }

static tq_val eval_value(tq_eval *e, const ctx *c, const tq_node *n) {
    switch (n->kind) {
    case TQN_LIT: return n->lit;
    case TQN_ATTR: return attr_value(c, n);
    case TQN_INTR: return intrinsic_value(e, c, n->intrinsic);
    case TQN_UN: {
        tq_val x = eval_value(e, c, n->l);
        if (n->op == TQ_OP_NOT) return x.t == TQ_BOOL ? bool_val(!x.u.b) : nil();
        if (x.t == TQ_FLOAT) return (tq_val){.t = TQ_FLOAT, .u.f = -x.u.f};
        if ((x.t == TQ_INT || x.t == TQ_DURATION) && x.u.i != INT64_MIN) return (tq_val){.t = x.t, .u.i = -x.u.i};
        return nil();
    }
    case TQN_BIN:
        if (n->op == TQ_OP_AND) {
            tq_val l = eval_value(e, c, n->l);
            if (!truthy(&l)) return bool_val(false);
            tq_val r = eval_value(e, c, n->r);
            return bool_val(truthy(&r));
        }
        if (n->op == TQ_OP_OR) {
            tq_val l = eval_value(e, c, n->l);
            if (truthy(&l)) return bool_val(true);
            tq_val r = eval_value(e, c, n->r);
            return bool_val(truthy(&r));
        }
        if (n->op >= TQ_OP_EQ && n->op <= TQ_OP_NRE)
            return bool_val(compare(n->op, eval_value(e, c, n->l), eval_value(e, c, n->r), n));
        return arith(n->op, eval_value(e, c, n->l), eval_value(e, c, n->r));
    default: return nil();
    }
}

tq_val tq_eval_field(tq_eval *e, const tq_node *f, const tq_trace *t, uint32_t i) {
    ctx c = {t, i, -1, -1};
    return eval_value(e, &c, f);
}

/* Does span i satisfy filter f (over its events and links when it reads them)? */
static bool span_matches(tq_eval *e, const tq_node *f, const tq_trace *t, uint32_t i) {
    if (!f->l) return true;
    const tws_span *s = t->spans[i].s;
    int32_t n_ev = (f->uses & TQ_USES_EVENTS) ? (int32_t)s->n_events : 0;
    int32_t n_ln = (f->uses & TQ_USES_LINKS) ? (int32_t)s->n_links : 0;
    for (int32_t ev = n_ev ? 0 : -1; ev < n_ev; ev++)
        for (int32_t ln = n_ln ? 0 : -1; ln < n_ln; ln++) {
            ctx c = {t, i, ev, ln};
            tq_val v = eval_value(e, &c, f->l);
            if (truthy(&v)) return true;
        }
    return false;
}

/* ---- spansets ----------------------------------------------------------- */

typedef struct ss_list {
    tq_spanset *v;
    uint32_t n, cap;
} ss_list;

static int push(tq_eval *e, ss_list *l, const tq_spanset *s) {
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 4;
        tq_spanset *v = tq_arena_alloc(e->a, cap * sizeof *v);
        if (!v) return TW_ENOMEM;
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *s;
    return TW_OK;
}

/* The spans marked in `m` (ascending) as a new index array. */
static uint32_t *collect(tq_eval *e, const uint8_t *m, uint32_t n, uint32_t *out_n) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) k += m[i] != 0;
    uint32_t *v = tq_arena_alloc(e->a, (k ? k : 1) * sizeof *v);
    if (!v) return NULL;
    k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (m[i]) v[k++] = i;
    *out_n = k;
    return v;
}

static void mark_all(uint8_t *m, const ss_list *l) {
    for (uint32_t i = 0; i < l->n; i++)
        for (uint32_t j = 0; j < l->v[i].n; j++) m[l->v[i].spans[j]] = 1;
}

static int eval_stage(tq_eval *e, const tq_node *n, const tq_trace *t, const tq_spanset *in, ss_list *out, int depth);

static int eval_list(tq_eval *e, const tq_node *n, const tq_trace *t, const ss_list *in, ss_list *out, int depth) {
    for (uint32_t i = 0; i < in->n; i++) {
        int rc = eval_stage(e, n, t, &in->v[i], out, depth);
        if (rc) return rc;
    }
    return TW_OK;
}

static bool is_ancestor(const tq_trace *t, uint32_t anc, uint32_t x) {
    int32_t p = t->spans[x].parent;
    for (uint32_t steps = 0; p >= 0 && steps < t->n; steps++, p = t->spans[p].parent)
        if ((uint32_t)p == anc) return true;
    return false;
}

static int32_t sib_group(const tq_trace *t, uint32_t i) {
    if (t->spans[i].parent >= 0) return t->spans[i].parent;
    return t->spans[i].s->has_parent ? -1 : (int32_t)t->n;
}

/* A structural operator: A = lhs spans (mark_a), B = rhs spans (mark_b);
 * mark_c receives the result. */
static void structural(tq_eval *e, tq_op op, const tq_trace *t) {
    uint32_t n = t->n;
    uint8_t *A = e->mark_a, *B = e->mark_b, *R = e->mark_c;
    memset(R, 0, n);
    bool uni = op >= TQ_OP_UNION_CHILD, neg = op >= TQ_OP_NOT_CHILD && op <= TQ_OP_NOT_SIBL;
    tq_op base = uni ? (tq_op)(op - TQ_OP_UNION_CHILD + TQ_OP_CHILD) : neg ? (tq_op)(op - TQ_OP_NOT_CHILD + TQ_OP_CHILD) : op;
    /* count[i]: how many A spans have parent i (siblings), or marks */
    uint32_t *cnt = e->count;
    memset(cnt, 0, n * sizeof *cnt);
    /* sibling groups: the parent's index, or n for the true roots (no
     * parent id), which are siblings of each other as in Tempo */
    if (base == TQ_OP_SIBL)
        for (uint32_t a = 0; a < n; a++)
            if (A[a] && sib_group(t, a) >= 0) cnt[sib_group(t, a)]++;
    if (base == TQ_OP_PARENT)
        for (uint32_t a = 0; a < n; a++)
            if (A[a] && t->spans[a].parent >= 0) cnt[t->spans[a].parent] = 1;
    if (base == TQ_OP_ANCE)
        for (uint32_t a = 0; a < n; a++) {
            if (!A[a]) continue;
            int32_t p = t->spans[a].parent;
            for (uint32_t steps = 0; p >= 0 && steps < n && !cnt[p]; steps++, p = t->spans[p].parent) cnt[p] = 1;
        }
    for (uint32_t b = 0; b < n; b++) {
        if (!B[b]) continue;
        int32_t p = t->spans[b].parent;
        bool rel = false;
        switch (base) {
        case TQ_OP_CHILD: rel = p >= 0 && A[p]; break;
        case TQ_OP_DESC:
            for (uint32_t steps = 0; p >= 0 && steps < n && !rel; steps++, p = t->spans[p].parent) rel = A[p];
            break;
        case TQ_OP_PARENT: case TQ_OP_ANCE: rel = cnt[b] != 0; break;
        case TQ_OP_SIBL: {
            int32_t g = sib_group(t, b);
            rel = g >= 0 && cnt[g] > (uint32_t)(A[b] ? 1 : 0);
            break;
        }
        default: break;
        }
        if (rel != neg) R[b] = 1;
    }
    if (!uni) return;
    /* the left-side spans that take part in a relation with a matched right-side span */
    for (uint32_t a = 0; a < n; a++) {
        if (!A[a]) continue;
        int32_t p = t->spans[a].parent;
        bool rel = false;
        switch (base) {
        case TQ_OP_CHILD: /* a is the parent of a matched b */
            for (uint32_t b = 0; b < n && !rel; b++) rel = R[b] && B[b] && t->spans[b].parent == (int32_t)a;
            break;
        case TQ_OP_DESC:
            for (uint32_t b = 0; b < n && !rel; b++) rel = R[b] && B[b] && is_ancestor(t, a, b);
            break;
        case TQ_OP_PARENT: rel = p >= 0 && R[p] && B[p]; break;
        case TQ_OP_ANCE:
            for (uint32_t steps = 0; p >= 0 && steps < n && !rel; steps++, p = t->spans[p].parent) rel = R[p] && B[p];
            break;
        case TQ_OP_SIBL:
            for (uint32_t b = 0; b < n && !rel; b++) rel = b != a && R[b] && B[b] && sib_group(t, a) >= 0 && sib_group(t, b) == sib_group(t, a);
            break;
        default: break;
        }
        if (rel) R[a] = 2;
    }
}

typedef struct agg_acc {
    double sum;
    int64_t isum;
    tq_val min, max;
    uint64_t n;
    bool dur, ints;
} agg_acc;

static tq_val eval_scalar(tq_eval *e, const tq_node *n, const tq_trace *t, const tq_spanset *ss) {
    if (n->kind == TQN_LIT) return n->lit;
    if (n->kind == TQN_BIN) return arith(n->op, eval_scalar(e, n->l, t, ss), eval_scalar(e, n->r, t, ss));
    if (n->kind != TQN_AGG) return nil();
    if (n->agg == TQ_AGG_COUNT) return (tq_val){.t = TQ_INT, .u.i = ss->n};
    agg_acc a = {.ints = true};
    for (uint32_t k = 0; k < ss->n; k++) {
        ctx c = {t, ss->spans[k], -1, -1};
        tq_val v = eval_value(e, &c, n->l);
        if (!is_num(&v)) continue;
        if (v.t == TQ_DURATION) a.dur = true;
        if (!a.n || cmp_scalar(TQ_OP_LT, &v, &a.min, n)) a.min = v;
        if (!a.n || cmp_scalar(TQ_OP_GT, &v, &a.max, n)) a.max = v;
        a.sum += as_f(&v);
        if (v.t != TQ_INT || __builtin_add_overflow(a.isum, v.u.i, &a.isum)) a.ints = false;
        a.n++;
    }
    if (!a.n) return nil();
    switch (n->agg) {
    case TQ_AGG_MIN: return a.min;
    case TQ_AGG_MAX: return a.max;
    case TQ_AGG_SUM:
    case TQ_AGG_AVG: {
        if (n->agg == TQ_AGG_SUM && a.ints) return (tq_val){.t = TQ_INT, .u.i = a.isum};
        double r = n->agg == TQ_AGG_SUM ? a.sum : a.sum / (double)a.n;
        if (a.dur) return (tq_val){.t = TQ_DURATION, .u.i = (int64_t)llround(r)};
        return (tq_val){.t = TQ_FLOAT, .u.f = r};
    }
    default: return nil();
    }
}

static bool val_equal(const tq_val *a, const tq_val *b) {
    if (a->t != b->t) return false;
    switch (a->t) {
    case TQ_NIL: return true;
    case TQ_BOOL: return a->u.b == b->u.b;
    case TQ_FLOAT: return a->u.f == b->u.f || (isnan(a->u.f) && isnan(b->u.f));
    case TQ_STRING: return a->n == b->n && (!a->n || !memcmp(a->u.s, b->u.s, a->n));
    case TQ_ARRAY: return a->u.arr == b->u.arr;
    default: return a->u.i == b->u.i;
    }
}

static int eval_by(tq_eval *e, const tq_node *n, const tq_trace *t, const tq_spanset *in, ss_list *out) {
    uint32_t k = n->n_args;
    /* group id per span: a linear scan over the groups seen (few in practice) */
    tq_val *keys = tq_arena_alloc(e->a, ((size_t)in->n * k + 1) * sizeof *keys);
    uint32_t *group = tq_arena_alloc(e->a, (in->n + 1) * sizeof *group);
    uint32_t *first = tq_arena_alloc(e->a, (in->n + 1) * sizeof *first), *size = tq_arena_alloc(e->a, (in->n + 1) * sizeof *size);
    if (!keys || !group || !first || !size) return TW_ENOMEM;
    uint32_t n_groups = 0;
    for (uint32_t s = 0; s < in->n; s++) {
        for (uint32_t a = 0; a < k; a++) keys[(size_t)s * k + a] = tq_eval_field(e, n->args[a], t, in->spans[s]);
        uint32_t g = 0;
        for (; g < n_groups; g++) {
            bool same = true;
            for (uint32_t a = 0; a < k && same; a++) same = val_equal(&keys[(size_t)first[g] * k + a], &keys[(size_t)s * k + a]);
            if (same) break;
        }
        if (g == n_groups) {
            first[g] = s;
            size[g] = 0;
            n_groups++;
        }
        group[s] = g;
        size[g]++;
    }
    for (uint32_t g = 0; g < n_groups; g++) {
        tq_spanset o = {0};
        o.spans = tq_arena_alloc(e->a, size[g] * sizeof *o.spans);
        o.labels = tq_arena_alloc(e->a, (in->n_labels + k) * sizeof *o.labels);
        if (!o.spans || !o.labels) return TW_ENOMEM;
        for (uint32_t s = 0; s < in->n; s++)
            if (group[s] == g) o.spans[o.n++] = in->spans[s];
        if (in->n_labels) memcpy(o.labels, in->labels, in->n_labels * sizeof *o.labels);
        for (uint32_t a = 0; a < k; a++) o.labels[in->n_labels + a] = (tq_label){n->args[a], keys[(size_t)first[g] * k + a]};
        o.n_labels = in->n_labels + k;
        o.scalars = in->scalars;
        o.n_scalars = in->n_scalars;
        if (push(e, out, &o)) return TW_ENOMEM;
    }
    return TW_OK;
}

static int eval_stage(tq_eval *e, const tq_node *n, const tq_trace *t, const tq_spanset *in, ss_list *out, int depth) {
    if (depth > 4 * TQ_MAX_DEPTH) return TW_EINVAL;
    switch (n->kind) {
    case TQN_FILTER: {
        tq_spanset o = *in;
        o.spans = tq_arena_alloc(e->a, (in->n ? in->n : 1) * sizeof *o.spans);
        if (!o.spans) return TW_ENOMEM;
        o.n = 0;
        for (uint32_t k = 0; k < in->n; k++)
            if (span_matches(e, n, t, in->spans[k])) o.spans[o.n++] = in->spans[k];
        return o.n ? push(e, out, &o) : TW_OK;
    }
    case TQN_PIPE: {
        ss_list mid = {0};
        int rc = eval_stage(e, n->l, t, in, &mid, depth + 1);
        return rc ? rc : eval_list(e, n->r, t, &mid, out, depth + 1);
    }
    case TQN_SSOP: {
        ss_list l = {0}, r = {0};
        int rc = eval_stage(e, n->l, t, in, &l, depth + 1);
        if (!rc) rc = eval_stage(e, n->r, t, in, &r, depth + 1);
        if (rc) return rc;
        memset(e->mark_a, 0, t->n);
        memset(e->mark_b, 0, t->n);
        mark_all(e->mark_a, &l);
        mark_all(e->mark_b, &r);
        uint8_t *res;
        if (n->op == TQ_OP_AND || n->op == TQ_OP_OR) {
            if (n->op == TQ_OP_AND ? !(l.n && r.n) : !(l.n || r.n)) return TW_OK;
            for (uint32_t i = 0; i < t->n; i++) e->mark_a[i] |= e->mark_b[i];
            res = e->mark_a;
        } else {
            structural(e, n->op, t);
            res = e->mark_c;
        }
        tq_spanset o = *in;
        o.spans = collect(e, res, t->n, &o.n);
        if (!o.spans) return TW_ENOMEM;
        return o.n ? push(e, out, &o) : TW_OK;
    }
    case TQN_SCALAR_FILTER: {
        tq_val l = eval_scalar(e, n->l, t, in), r = eval_scalar(e, n->r, t, in);
        if (!compare(n->op, l, r, n)) return TW_OK;
        tq_spanset o = *in;
        o.scalars = tq_arena_alloc(e->a, (in->n_scalars + 1) * sizeof *o.scalars);
        if (!o.scalars) return TW_ENOMEM;
        if (in->n_scalars) memcpy(o.scalars, in->scalars, in->n_scalars * sizeof *o.scalars);
        o.scalars[o.n_scalars++] = (tq_label){n->l, l};
        return push(e, out, &o);
    }
    case TQN_BY: return eval_by(e, n, t, in, out);
    case TQN_SELECT: return push(e, out, in);
    case TQN_COALESCE: {
        /* Merging happens across spansets: done by the list form below. */
        return push(e, out, in);
    }
    default: return TW_EINVAL;
    }
}

/* coalesce() merges every spanset it is given into one: find it in the
 * pipeline's spine and apply it to whole lists. */
static int eval_pipeline(tq_eval *e, const tq_node *n, const tq_trace *t, const ss_list *in, ss_list *out, int depth) {
    if (depth > 4 * TQ_MAX_DEPTH) return TW_EINVAL;
    if (n->kind == TQN_PIPE) {
        ss_list mid = {0};
        int rc = eval_pipeline(e, n->l, t, in, &mid, depth + 1);
        return rc ? rc : eval_pipeline(e, n->r, t, &mid, out, depth + 1);
    }
    if (n->kind == TQN_COALESCE) {
        if (!in->n) return TW_OK;
        memset(e->mark_a, 0, t->n);
        mark_all(e->mark_a, in);
        tq_spanset o = {0};
        o.spans = collect(e, e->mark_a, t->n, &o.n);
        return o.spans ? push(e, out, &o) : TW_ENOMEM;
    }
    return eval_list(e, n, t, in, out, depth);
}

int tq_eval_trace(tq_eval *e, const tq_query *q, const tq_trace *t, tq_spanset **out, uint32_t *n) {
    *out = NULL;
    *n = 0;
    tq_spanset all = {0};
    all.spans = tq_arena_alloc(e->a, (t->n ? t->n : 1) * sizeof *all.spans);
    if (!all.spans) return TW_ENOMEM;
    for (uint32_t i = 0; i < t->n; i++) all.spans[i] = i;
    all.n = t->n;
    ss_list in = {0}, res = {0};
    if (push(e, &in, &all)) return TW_ENOMEM;
    int rc = eval_pipeline(e, q->root, t, &in, &res, 0);
    if (rc) return rc;
    *out = res.v;
    *n = res.n;
    return TW_OK;
}
