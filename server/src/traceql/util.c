/*
 * util.c — the TraceQL support pieces: the bump arena that owns a query
 * (and an evaluation's scratch memory), its regular expressions (regex/
 * regex.h, fully anchored), and the text forms of nodes,
 * values and types used in labels and messages.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "regex/regex.h"
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

/* TraceQL's =~ and !~ are fully anchored, as Tempo's (regex/regex.h). */
void *tq_re_compile(const char *pattern, size_t len, char *err, size_t err_len) {
    return tws_regex_compile(pattern, len, TWS_RE_ANCHORED, err, err_len);
}

void tq_re_free(void *re) { tws_regex_free(re); }

bool tq_re_match(void *re, const char *s, size_t len) { return tws_regex_match(re, s, len); }

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
