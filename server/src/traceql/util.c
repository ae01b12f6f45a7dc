/*
 * util.c — the TraceQL support pieces: the bump arena that owns a query
 * (and an evaluation's scratch memory), PCRE2 regular expressions compiled
 * fully anchored with a bounded match effort, and the text forms of nodes,
 * values and types used in labels and messages.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <inttypes.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "traceql/traceql_int.h"

/* ---- arena -------------------------------------------------------------- */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} chunk;

struct tq_arena {
    chunk *head;
};

enum { CHUNK_MIN = 16 * 1024 };

tq_arena *tq_arena_new(void) { return tw__calloc(1, sizeof(tq_arena)); }

void *tq_arena_alloc(tq_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (!n) n = 16;
    chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
        if (c && c->cap * 2 > cap && c->cap < (64u << 20)) cap = c->cap * 2 > n ? c->cap * 2 : n;
        chunk *nc = tw__malloc(sizeof *nc + cap);
        if (!nc) return NULL;
        nc->next = c;
        nc->used = 0;
        nc->cap = cap;
        a->head = c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void tq_arena_reset(tq_arena *a) {
    if (!a->head) return;
    /* Keep the newest (largest) chunk. */
    chunk *keep = a->head, *c = keep->next;
    while (c) {
        chunk *nx = c->next;
        tw__free(c);
        c = nx;
    }
    keep->next = NULL;
    keep->used = 0;
}

void tq_arena_free(tq_arena *a) {
    if (!a) return;
    for (chunk *c = a->head; c;) {
        chunk *nx = c->next;
        tw__free(c);
        c = nx;
    }
    tw__free(a);
}

/* ---- regular expressions ------------------------------------------------ */

typedef struct tq_re {
    pcre2_code *code;
    pcre2_match_context *mctx;
} tq_re;

/* One match-data block per thread, big enough for "did it match". */
static _Thread_local pcre2_match_data *tls_md;

void *tq_re_compile(const char *pattern, size_t len, char *err, size_t err_len) {
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF |
                                     PCRE2_DOTALL, &ec, &eo, NULL);
    if (!code) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, err_len, "%s at offset %zu", (const char *)msg, (size_t)eo);
        return NULL;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter when JIT is unavailable */
    tq_re *re = tw__calloc(1, sizeof *re);
    pcre2_match_context *mctx = pcre2_match_context_create(NULL);
    if (!re || !mctx) {
        pcre2_code_free(code);
        pcre2_match_context_free(mctx);
        tw__free(re);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    pcre2_set_match_limit(mctx, 100000);
    pcre2_set_depth_limit(mctx, 10000);
    re->code = code;
    re->mctx = mctx;
    return re;
}

void tq_re_free(void *p) {
    tq_re *re = p;
    if (!re) return;
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    tw__free(re);
}

bool tq_re_match(void *p, const char *s, size_t len) {
    tq_re *re = p;
    if (!tls_md && !(tls_md = pcre2_match_data_create(1, NULL))) return false;
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(s ? s : ""), len, 0, 0, tls_md, re->mctx);
    return rc >= 0;
}

/* ---- text --------------------------------------------------------------- */

const char *tq_type_name(tq_type t) {
    switch (t) {
    case TQ_NIL: return "nil";
    case TQ_BOOL: return "bool";
    case TQ_INT: return "int";
    case TQ_FLOAT: return "float";
    case TQ_STRING: return "string";
    case TQ_DURATION: return "duration";
    case TQ_STATUS: return "status";
    case TQ_KIND: return "kind";
    case TQ_ARRAY: return "array";
    }
    return "?";
}

static const char *const STATUS[] = {"unset", "ok", "error"};
static const char *const KINDS[] = {"unspecified", "internal", "server", "client", "producer", "consumer"};

/* Go's time.Duration.String(), as Tempo prints durations: 1.5s, 150ms, 1m30s. */
static void duration_text(int64_t ns, tw__buf *out) {
    if (ns == 0) {
        tw__buf_puts(out, "0s");
        return;
    }
    if (ns < 0) {
        tw__buf_putc(out, '-');
        ns = ns == INT64_MIN ? INT64_MAX : -ns;
    }
    uint64_t u = (uint64_t)ns;
    if (u < 1000) { tw__buf_printf(out, "%" PRIu64 "ns", u); return; }
    if (u < 1000000) { tw__buf_printf(out, "%gµs", (double)u / 1e3); return; }
    if (u < 1000000000) { tw__buf_printf(out, "%gms", (double)u / 1e6); return; }
    uint64_t h = u / 3600000000000ull, m = u / 60000000000ull % 60;
    double s = (double)(u % 60000000000ull) / 1e9;
    if (h) tw__buf_printf(out, "%" PRIu64 "h%" PRIu64 "m%gs", h, m, s);
    else if (m) tw__buf_printf(out, "%" PRIu64 "m%gs", m, s);
    else tw__buf_printf(out, "%gs", s);
}

void tq_val_text(const tq_val *v, tw__buf *out) {
    switch (v->t) {
    case TQ_NIL: tw__buf_puts(out, "nil"); break;
    case TQ_BOOL: tw__buf_puts(out, v->u.b ? "true" : "false"); break;
    case TQ_INT: tw__buf_printf(out, "%" PRId64, v->u.i); break;
    case TQ_FLOAT: tw__buf_printf(out, "%.17g", v->u.f); break;
    case TQ_STRING: tw__buf_append(out, v->u.s, v->n); break;
    case TQ_DURATION: duration_text(v->u.i, out); break;
    case TQ_STATUS: tw__buf_puts(out, v->u.i >= 0 && v->u.i < 3 ? STATUS[v->u.i] : "unset"); break;
    case TQ_KIND: tw__buf_puts(out, v->u.i >= 0 && v->u.i < 6 ? KINDS[v->u.i] : "unspecified"); break;
    case TQ_ARRAY: tw__buf_puts(out, "[...]"); break;
    }
}

static const char *const SCOPE_PREFIX[] = {".", "span.", "resource.", "event.", "link.", "instrumentation."};

void tq_node_text(const tq_node *n, tw__buf *out) {
    if (!n) return;
    switch (n->kind) {
    case TQN_LIT:
        if (n->lit.t == TQ_STRING) {
            tw__buf_putc(out, '"');
            for (uint32_t i = 0; i < n->lit.n; i++) {
                char c = n->lit.u.s[i];
                if (c == '"' || c == '\\') tw__buf_putc(out, '\\');
                tw__buf_putc(out, (uint8_t)c);
            }
            tw__buf_putc(out, '"');
        } else {
            tq_val_text(&n->lit, out);
        }
        break;
    case TQN_ATTR: {
        tw__buf_puts(out, SCOPE_PREFIX[n->scope < 6 ? n->scope : 0]);
        bool plain = n->name_len > 0;
        for (uint32_t i = 0; i < n->name_len; i++)
            if (strchr(" \t\n{}()=~!<>&|^,\"", n->name[i])) plain = false;
        if (plain) {
            tw__buf_append(out, n->name, n->name_len);
        } else {
            tw__buf_putc(out, '"');
            for (uint32_t i = 0; i < n->name_len; i++) {
                if (n->name[i] == '"' || n->name[i] == '\\') tw__buf_putc(out, '\\');
                tw__buf_putc(out, (uint8_t)n->name[i]);
            }
            tw__buf_putc(out, '"');
        }
        break;
    }
    case TQN_INTR: tw__buf_puts(out, tq_intrinsic_name(n->intrinsic)); break;
    case TQN_UN:
        tw__buf_puts(out, tq_op_text(n->op));
        tq_node_text(n->l, out);
        break;
    case TQN_BIN:
        tq_node_text(n->l, out);
        tw__buf_printf(out, " %s ", tq_op_text(n->op));
        tq_node_text(n->r, out);
        break;
    case TQN_AGG: {
        static const char *const AGG[] = {"", "count", "avg", "min", "max", "sum"};
        tw__buf_printf(out, "%s(", AGG[n->agg < 6 ? n->agg : 0]);
        tq_node_text(n->l, out);
        tw__buf_putc(out, ')');
        break;
    }
    case TQN_BY:
    case TQN_SELECT:
        tw__buf_puts(out, n->kind == TQN_BY ? "by(" : "select(");
        for (uint32_t i = 0; i < n->n_args; i++) {
            if (i) tw__buf_puts(out, ", ");
            tq_node_text(n->args[i], out);
        }
        tw__buf_putc(out, ')');
        break;
    default: tw__buf_puts(out, "?"); break;
    }
}
