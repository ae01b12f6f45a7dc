/*
 * prefilter.c — the necessary condition of a TraceQL query (prefilter.h),
 * derived from its tree and run on a row group's columns.
 *
 * Derivation, for a spanset expression E, need(E):
 *   { f }            any(cond(f))            some span passes f
 *   A && B, A || B   need(A) and/or need(B)  (spanset operators)
 *   A > B, A >> B, A < B, A << B, A ~ B and their union forms
 *                    need(A) and need(B)     a related pair exists
 *   A !> B ... (negations)
 *                    need(B)                 the result is spans of B
 *   A | B            need(A) and need(B)     B only ever sees A's spans
 *   anything else    true
 * and for a field expression f, cond(f):
 *   a && b, a || b   cond(a) and/or cond(b)
 *   x op literal     a leaf, when x is an attribute or one of name, status,
 *                    statusMessage, kind, duration, event:name, and a
 *                    missing value makes the comparison false (any literal
 *                    but nil; "!= nil" is an existence test and qualifies)
 *   anything else    true
 * An unscoped attribute .x is looked for where evaluation looks: the span,
 * its resource, events, links and instrumentation scope (an OR).
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "search/prefilter.h"
#include "traceql/traceql_int.h"

typedef enum pf_kind { PF_TRUE = 0, PF_LEAF, PF_AND, PF_OR, PF_ANY } pf_kind;

typedef struct pf pf;
struct pf {
    pf_kind k;
    pf *l, *r; /* AND, OR; ANY: l */
    /* PF_LEAF */
    const tq_node *cmp; /* the comparison */
    const tq_node *field;
    bool field_left;
    tws_field fields[5];
    uint8_t n_fields;
};

struct tws_prefilter {
    tq_arena *arena;
    pf *root;
};

static pf TRUE_NODE = {.k = PF_TRUE};

static pf *mk(tws_prefilter *p, pf_kind k, pf *l, pf *r) {
    if (k == PF_AND) {
        if (l->k == PF_TRUE) return r;
        if (r->k == PF_TRUE) return l;
    } else if (k == PF_OR) {
        if (l->k == PF_TRUE || r->k == PF_TRUE) return &TRUE_NODE;
    } else if (k == PF_ANY && l->k == PF_TRUE) {
        return &TRUE_NODE; /* every trace has a span */
    }
    pf *n = tq_arena_alloc(p->arena, sizeof *n);
    if (!n) return NULL;
    n->k = k;
    n->l = l;
    n->r = r;
    return n;
}

static bool is_field(const tq_node *n) {
    if (n->kind == TQN_ATTR) return true;
    if (n->kind != TQN_INTR) return false;
    switch (n->intrinsic) {
    case TQ_I_NAME: case TQ_I_STATUS: case TQ_I_STATUS_MESSAGE: case TQ_I_KIND: case TQ_I_DURATION:
    case TQ_I_EVENT_NAME:
        return true;
    default: return false;
    }
}

/* A literal that a missing value compares false against. */
static bool usable_literal(const tq_node *lit, tq_op op) {
    return lit->kind == TQN_LIT && (lit->lit.t != TQ_NIL || op == TQ_OP_NEQ);
}

static pf *leaf(tws_prefilter *p, const tq_node *cmp) {
    bool fl = is_field(cmp->l) && usable_literal(cmp->r, cmp->op);
    bool fr = !fl && is_field(cmp->r) && usable_literal(cmp->l, cmp->op);
    if (!fl && !fr) return &TRUE_NODE;
    pf *n = tq_arena_alloc(p->arena, sizeof *n);
    if (!n) return NULL;
    n->k = PF_LEAF;
    n->cmp = cmp;
    n->field_left = fl;
    n->field = fl ? cmp->l : cmp->r;
    const tq_node *f = n->field;
    if (f->kind == TQN_INTR) {
        static const struct {
            uint8_t i;
            tws_field f;
        } map[] = {{TQ_I_NAME, TWS_F_NAME},         {TQ_I_STATUS, TWS_F_STATUS},
                   {TQ_I_STATUS_MESSAGE, TWS_F_STATUS_MSG}, {TQ_I_KIND, TWS_F_KIND},
                   {TQ_I_DURATION, TWS_F_DURATION}, {TQ_I_EVENT_NAME, TWS_F_EVENT_NAME}};
        for (size_t i = 0; i < sizeof map / sizeof *map; i++)
            if (map[i].i == f->intrinsic) n->fields[n->n_fields++] = map[i].f;
        return n;
    }
    switch (f->scope) {
    case TQ_SCOPE_SPAN: n->fields[n->n_fields++] = TWS_F_SPAN_ATTR; break;
    case TQ_SCOPE_RESOURCE: n->fields[n->n_fields++] = TWS_F_RESOURCE_ATTR; break;
    case TQ_SCOPE_EVENT: n->fields[n->n_fields++] = TWS_F_EVENT_ATTR; break;
    case TQ_SCOPE_LINK: n->fields[n->n_fields++] = TWS_F_LINK_ATTR; break;
    case TQ_SCOPE_INSTRUMENTATION: n->fields[n->n_fields++] = TWS_F_SCOPE_ATTR; break;
    default: {
        static const tws_field all[] = {TWS_F_SPAN_ATTR, TWS_F_RESOURCE_ATTR, TWS_F_EVENT_ATTR, TWS_F_LINK_ATTR,
                                        TWS_F_SCOPE_ATTR};
        memcpy(n->fields, all, sizeof all);
        n->n_fields = 5;
    }
    }
    return n;
}

static pf *cond(tws_prefilter *p, const tq_node *f, int depth) {
    if (!f || depth > TQ_MAX_DEPTH * 4 || f->kind != TQN_BIN) return &TRUE_NODE;
    if (f->op == TQ_OP_AND || f->op == TQ_OP_OR) {
        pf *l = cond(p, f->l, depth + 1), *r = l ? cond(p, f->r, depth + 1) : NULL;
        return r ? mk(p, f->op == TQ_OP_AND ? PF_AND : PF_OR, l, r) : NULL;
    }
    if (f->op >= TQ_OP_EQ && f->op <= TQ_OP_NRE) return leaf(p, f);
    return &TRUE_NODE;
}

static pf *need(tws_prefilter *p, const tq_node *e, int depth) {
    if (!e || depth > TQ_MAX_DEPTH * 4) return &TRUE_NODE;
    switch (e->kind) {
    case TQN_FILTER: {
        pf *c = cond(p, e->l, depth + 1);
        return c ? mk(p, PF_ANY, c, NULL) : NULL;
    }
    case TQN_SSOP: {
        pf *r = need(p, e->r, depth + 1);
        if (!r) return NULL;
        if (e->op >= TQ_OP_NOT_CHILD && e->op <= TQ_OP_NOT_SIBL) return r;
        pf *l = need(p, e->l, depth + 1);
        return l ? mk(p, e->op == TQ_OP_OR ? PF_OR : PF_AND, l, r) : NULL;
    }
    case TQN_PIPE: {
        pf *l = need(p, e->l, depth + 1), *r = l ? need(p, e->r, depth + 1) : NULL;
        return r ? mk(p, PF_AND, l, r) : NULL;
    }
    default: return &TRUE_NODE;
    }
}

int tws_prefilter_new(const tq_query *q, tws_prefilter **out) {
    *out = NULL;
    tws_prefilter *p = tw__calloc(1, sizeof *p);
    if (!p || !(p->arena = tq_arena_new())) {
        tw__free(p);
        return TW_ENOMEM;
    }
    p->root = need(p, q->root, 0);
    if (!p->root || p->root->k == PF_TRUE) {
        int rc = p->root ? TW_OK : TW_ENOMEM;
        tws_prefilter_free(p);
        return rc;
    }
    *out = p;
    return TW_OK;
}

void tws_prefilter_free(tws_prefilter *p) {
    if (!p) return;
    tq_arena_free(p->arena);
    tw__free(p);
}

/* ---- running it ------------------------------------------------------------ */

/* The leaf's comparison on one stored value. */
static bool test_value(void *ctx, const tws_value *v) {
    const pf *n = ctx;
    tq_val x;
    if (n->field->kind == TQN_INTR && v->type == TWS_INT) {
        tq_type t = n->field->intrinsic == TQ_I_STATUS ? TQ_STATUS
                    : n->field->intrinsic == TQ_I_KIND ? TQ_KIND
                                                       : TQ_DURATION;
        x = (tq_val){.t = t, .u.i = v->u.i};
    } else {
        x = tq_val_from(v);
    }
    const tq_val lit = n->field_left ? n->cmp->r->lit : n->cmp->l->lit;
    return n->field_left ? tq_compare(n->cmp, x, lit) : tq_compare(n->cmp, lit, x);
}

typedef struct run {
    tws_rg *g;
    uint32_t n_spans, n_traces;
    char *err;
} run;

/* Span marks of a span-level condition into m (zeroed first). */
static int spans_of(run *r, const pf *n, uint8_t *m) {
    memset(m, 0, r->n_spans);
    if (n->k == PF_LEAF) {
        const tq_node *f = n->field;
        const char *key = f->kind == TQN_ATTR ? f->name : NULL;
        size_t key_len = f->kind == TQN_ATTR ? f->name_len : 0;
        /* `= "literal"`: a string value passes exactly when it is equal */
        const tq_val lit = n->field_left ? n->cmp->r->lit : n->cmp->l->lit;
        tw_str eq = {lit.u.s, lit.n};
        bool by_eq = n->cmp->op == TQ_OP_EQ && lit.t == TQ_STRING && f->kind == TQN_ATTR;
        for (uint8_t i = 0; i < n->n_fields; i++) {
            int rc = tws_rg_mark_eq(r->g, n->fields[i], key, key_len, test_value, (void *)n, by_eq ? &eq : NULL, m,
                                    r->err);
            if (rc) return rc;
        }
        return TW_OK;
    }
    uint8_t *o = tw__malloc(r->n_spans ? r->n_spans : 1);
    if (!o) return TW_ENOMEM;
    int rc = spans_of(r, n->l, m);
    if (!rc) rc = spans_of(r, n->r, o);
    if (!rc)
        for (uint32_t i = 0; i < r->n_spans; i++) m[i] = n->k == PF_AND ? (m[i] & o[i]) : (m[i] | o[i]);
    tw__free(o);
    return rc;
}

/* Trace marks of a trace-level condition into m (zeroed first). */
static int traces_of(run *r, const pf *n, uint8_t *m) {
    memset(m, 0, r->n_traces);
    if (n->k == PF_ANY) {
        uint8_t *s = tw__malloc(r->n_spans ? r->n_spans : 1);
        if (!s) return TW_ENOMEM;
        int rc = spans_of(r, n->l, s);
        if (!rc && memchr(s, 1, r->n_spans)) rc = tws_rg_mark_traces(r->g, s, m, r->err);
        tw__free(s);
        return rc;
    }
    int rc = traces_of(r, n->l, m);
    bool any = false;
    for (uint32_t i = 0; !rc && i < r->n_traces && !any; i++) any = m[i] != 0;
    if (rc || (n->k == PF_AND && !any)) return rc; /* nothing left to narrow */
    uint8_t *o = tw__malloc(r->n_traces ? r->n_traces : 1);
    if (!o) return TW_ENOMEM;
    rc = traces_of(r, n->r, o);
    if (!rc)
        for (uint32_t i = 0; i < r->n_traces; i++) m[i] = n->k == PF_AND ? (m[i] & o[i]) : (m[i] | o[i]);
    tw__free(o);
    return rc;
}

int tws_prefilter_run(const tws_prefilter *p, tws_rg *g, uint8_t *keep, uint32_t *n_kept, char err[256]) {
    err[0] = 0;
    run r = {g, tws_rg_n_spans(g), tws_rg_n_traces(g), err};
    int rc = traces_of(&r, p->root, keep);
    uint32_t k = 0;
    for (uint32_t i = 0; !rc && i < r.n_traces; i++) k += keep[i] != 0;
    *n_kept = k;
    return rc;
}

/* ---- text ------------------------------------------------------------------- */

static void text(const pf *n, tw__buf *b, bool top) {
    switch (n->k) {
    case PF_TRUE: tw__buf_puts(b, "true"); return;
    case PF_LEAF: tq_node_text(n->cmp, b); return;
    case PF_ANY:
        tw__buf_puts(b, "any(");
        text(n->l, b, true);
        tw__buf_putc(b, ')');
        return;
    default:
        if (!top) tw__buf_putc(b, '(');
        text(n->l, b, false);
        tw__buf_puts(b, n->k == PF_AND ? " && " : " || ");
        text(n->r, b, false);
        if (!top) tw__buf_putc(b, ')');
    }
}

void tws_prefilter_text(const tws_prefilter *p, tw__buf *out) {
    if (!p) tw__buf_puts(out, "true");
    else text(p->root, out, true);
}
