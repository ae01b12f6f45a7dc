/*
 * search.c — the search executor: feeds each trace piece of each source to
 * the TraceQL evaluator and folds the answers into the most recent `limit`
 * traces (see search.h for the contract).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "search/prefilter.h"
#include "search/search.h"
#include "traceql/traceql_int.h"

typedef struct collector {
    const tws_search_req *req;
    uint32_t limit, spss;
    pthread_mutex_t mu;
    tq_arena *arena;
    tws_found_trace *v; /* candidates */
    uint32_t n, cap;
    int32_t *slots; /* open addressing over v by trace id: index or -1 */
    uint32_t n_slots;
    _Atomic bool full;          /* pruned at least once: `threshold` applies */
    _Atomic uint64_t threshold; /* the oldest kept start once full */
    tws_search_stats stats;
    tws_visit_fn fn; /* visit mode: every match goes here instead */
    void *user;
    void *const *users; /* tws_search_visit_each: worker w calls fn(users[w]), unlocked */
    uint32_t n_users;
    _Atomic bool stop; /* the visitor has enough */
    char err[256];
} collector;

static uint64_t id_hash(const uint8_t id[16]) { return tw__mix64(tw__load_le64(id) ^ tw__load_le64(id + 8)); }

static int32_t *slot_of(collector *c, const uint8_t id[16]) {
    uint32_t mask = c->n_slots - 1;
    for (uint32_t i = (uint32_t)id_hash(id) & mask;; i = (i + 1) & mask) {
        int32_t k = c->slots[i];
        if (k < 0 || !memcmp(c->v[k].id, id, 16)) return &c->slots[i];
    }
}

static int rebuild_slots(collector *c, uint32_t want) {
    uint32_t n = 64;
    while (n < want * 2) n *= 2;
    int32_t *s = tw__malloc(n * sizeof *s);
    if (!s) return TW_ENOMEM;
    memset(s, 0xff, n * sizeof *s);
    tw__free(c->slots);
    c->slots = s;
    c->n_slots = n;
    for (uint32_t k = 0; k < c->n; k++) *slot_of(c, c->v[k].id) = (int32_t)k;
    return TW_OK;
}

/* Most recent first; ties by trace id. */
static int cmp_found(const void *x, const void *y) {
    const tws_found_trace *a = x, *b = y;
    if (a->start_ns != b->start_ns) return a->start_ns < b->start_ns ? 1 : -1;
    return memcmp(a->id, b->id, 16);
}

static int prune(collector *c) {
    qsort(c->v, c->n, sizeof *c->v, cmp_found);
    if (c->n > c->limit) c->n = c->limit;
    if (c->n == c->limit) {
        c->full = true;
        atomic_store(&c->threshold, c->v[c->n - 1].start_ns);
    }
    return rebuild_slots(c, c->cap);
}

static char *copy_str(collector *c, const char *s, uint32_t n) {
    char *o = tq_arena_alloc(c->arena, n + 1);
    if (o && n) memcpy(o, s, n);
    return o;
}

static int copy_val(collector *c, tq_val *v) {
    if (v->t == TQ_STRING) {
        char *s = copy_str(c, v->u.s, v->n);
        if (!s) return TW_ENOMEM;
        v->u.s = s;
    } else if (v->t == TQ_ARRAY) {
        v->t = TQ_NIL; /* arrays are not shown with a match */
    }
    return TW_OK;
}

/* The key an attribute is shown under: its name without the scope. */
static void shown_key(const tq_node *n, tws_found_attr *a) {
    if (n->kind == TQN_ATTR) {
        a->key = n->name;
        a->key_len = n->name_len;
    } else {
        a->key = tq_intrinsic_name(n->intrinsic);
        a->key_len = (uint32_t)strlen(a->key);
    }
}

static bool shown_at_span_level(const tq_node *n) {
    if (n->kind != TQN_INTR) return true;
    switch (n->intrinsic) {
    case TQ_I_ROOT_NAME: case TQ_I_ROOT_SERVICE_NAME: case TQ_I_TRACE_DURATION: case TQ_I_TRACE_ID:
    case TQ_I_SPAN_ID: case TQ_I_NESTED_LEFT: case TQ_I_NESTED_RIGHT: case TQ_I_NESTED_PARENT: case TQ_I_PARENT:
        return false;
    default: return true;
    }
}

typedef struct by_start {
    uint64_t start;
    uint32_t i;
} by_start;

static int cmp_by_start(const void *x, const void *y) {
    const by_start *a = x, *b = y;
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

static int label_attr(collector *c, const tq_label *l, bool by, tws_found_attr *a) {
    tw__buf b;
    tw__buf_init(&b, 4096);
    if (by) tw__buf_puts(&b, "by(");
    tq_node_text(l->node, &b);
    if (by) tw__buf_putc(&b, ')');
    int rc = b.failed ? TW_ENOMEM : TW_OK;
    if (!rc) {
        a->key = copy_str(c, (const char *)b.data, (uint32_t)b.len);
        a->key_len = (uint32_t)b.len;
        a->val = l->val;
        rc = a->key ? copy_val(c, &a->val) : TW_ENOMEM;
    }
    tw__buf_free(&b);
    return rc;
}

static int make_set(collector *c, tq_eval *e, const tq_trace *t, const tq_spanset *ss, tws_found_set *out) {
    const tq_query *q = c->req->q;
    memset(out, 0, sizeof *out);
    out->matched = ss->n;
    uint32_t k = ss->n < c->spss ? ss->n : c->spss;
    by_start *order = tw__malloc((ss->n ? ss->n : 1) * sizeof *order);
    if (!order) return TW_ENOMEM;
    for (uint32_t i = 0; i < ss->n; i++) order[i] = (by_start){t->spans[ss->spans[i]].s->start_ns, ss->spans[i]};
    qsort(order, ss->n, sizeof *order, cmp_by_start);
    out->spans = tq_arena_alloc(c->arena, (k ? k : 1) * sizeof *out->spans);
    int rc = out->spans ? TW_OK : TW_ENOMEM;
    for (uint32_t i = 0; rc == TW_OK && i < k; i++) {
        const tws_span *s = t->spans[order[i].i].s;
        tws_found_span *f = &out->spans[i];
        memcpy(f->span_id, s->span_id, 8);
        f->name = copy_str(c, s->name.ptr, (uint32_t)s->name.len);
        f->name_len = (uint32_t)s->name.len;
        f->start_ns = s->start_ns;
        f->dur_ns = s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
        f->attrs = tq_arena_alloc(c->arena, (q->n_shown ? q->n_shown : 1) * sizeof *f->attrs);
        if (!f->name || !f->attrs) {
            rc = TW_ENOMEM;
            break;
        }
        for (uint32_t a = 0; a < q->n_shown; a++) {
            const tq_node *n = q->shown[a];
            if (!shown_at_span_level(n)) continue;
            tq_val v = tq_eval_field(e, n, t, order[i].i);
            if (v.t == TQ_NIL || v.t == TQ_ARRAY) continue;
            tws_found_attr *fa = &f->attrs[f->n_attrs];
            shown_key(n, fa);
            if (!(fa->key = copy_str(c, fa->key, fa->key_len))) { /* the query may go before the result */
                rc = TW_ENOMEM;
                break;
            }
            fa->val = v;
            if ((rc = copy_val(c, &fa->val))) break;
            f->n_attrs++;
        }
    }
    out->n_spans = k;
    tw__free(order);
    if (rc) return rc;
    out->attrs = tq_arena_alloc(c->arena, (ss->n_labels + ss->n_scalars + 1) * sizeof *out->attrs);
    if (!out->attrs) return TW_ENOMEM;
    for (uint32_t i = 0; i < ss->n_labels; i++)
        if ((rc = label_attr(c, &ss->labels[i], true, &out->attrs[out->n_attrs++]))) return rc;
    for (uint32_t i = 0; i < ss->n_scalars; i++)
        if ((rc = label_attr(c, &ss->scalars[i], false, &out->attrs[out->n_attrs++]))) return rc;
    return TW_OK;
}

/* Fold service statistics of the piece into f (merging with what it has). */
static int add_services(collector *c, tws_found_trace *f, const tq_trace *t) {
    for (uint32_t i = 0; i < t->n; i++) {
        tq_val sv = tq_span_service(&t->spans[i]);
        const char *name = sv.t == TQ_STRING ? sv.u.s : "";
        uint32_t len = sv.t == TQ_STRING ? sv.n : 0;
        uint32_t k = 0;
        while (k < f->n_services && !(f->services[k].name_len == len && !memcmp(f->services[k].name, name, len))) k++;
        if (k == f->n_services) {
            if (k == 64) continue; /* a trace of more than 64 services: the rest are not listed */
            if ((k & (k - 1)) == 0) { /* grow at powers of two */
                tws_found_service *nv = tq_arena_alloc(c->arena, (k ? 2 * k : 4) * sizeof *nv);
                if (!nv) return TW_ENOMEM;
                if (k) memcpy(nv, f->services, k * sizeof *nv);
                f->services = nv;
            }
            f->services[k] = (tws_found_service){copy_str(c, name, len), len, 0, 0};
            if (!f->services[k].name) return TW_ENOMEM;
            f->n_services++;
        }
        f->services[k].spans++;
        if (t->spans[i].s->status_code == 2) f->services[k].errors++;
    }
    return TW_OK;
}

/* Add one evaluated piece (under the lock). */
static int collect(collector *c, tq_eval *e, const tq_trace *t, const tq_spanset *sets, uint32_t n_sets) {
    const uint8_t *id = t->spans[0].s->trace_id;
    int32_t *slot = slot_of(c, id);
    tws_found_trace *f;
    if (*slot < 0) {
        if (c->full && t->start_ns < atomic_load(&c->threshold)) return TW_OK;
        if (c->n == c->cap) {
            uint32_t cap = c->cap ? c->cap * 2 : 2 * c->limit + 16;
            tws_found_trace *v = tw__realloc(c->v, cap * sizeof *v);
            if (!v) return TW_ENOMEM;
            c->v = v;
            c->cap = cap;
            if (rebuild_slots(c, cap)) return TW_ENOMEM;
            slot = slot_of(c, id);
        }
        f = &c->v[c->n];
        memset(f, 0, sizeof *f);
        memcpy(f->id, id, 16);
        f->start_ns = t->start_ns;
        f->end_ns = t->end_ns;
        *slot = (int32_t)c->n++;
    } else {
        f = &c->v[*slot];
        if (t->start_ns < f->start_ns) f->start_ns = t->start_ns;
        if (t->end_ns > f->end_ns) f->end_ns = t->end_ns;
    }
    if (t->root >= 0 && !f->has_root) {
        const tq_span *r = &t->spans[t->root];
        tq_val sv = tq_span_service(r);
        f->has_root = true;
        f->root_name = copy_str(c, r->s->name.ptr, (uint32_t)r->s->name.len);
        f->root_name_len = (uint32_t)r->s->name.len;
        f->root_service = copy_str(c, sv.t == TQ_STRING ? sv.u.s : "", sv.t == TQ_STRING ? sv.n : 0);
        f->root_service_len = sv.t == TQ_STRING ? sv.n : 0;
        if (!f->root_name || !f->root_service) return TW_ENOMEM;
    }
    uint32_t total = f->n_sets + n_sets;
    if (total > 256) total = 256; /* a bound on spansets kept per trace */
    if (total > f->n_sets) {
        tws_found_set *v = tq_arena_alloc(c->arena, total * sizeof *v);
        if (!v) return TW_ENOMEM;
        if (f->n_sets) memcpy(v, f->sets, f->n_sets * sizeof *v);
        for (uint32_t i = 0; f->n_sets + i < total; i++) {
            int rc = make_set(c, e, t, &sets[i], &v[f->n_sets + i]);
            if (rc) return rc;
        }
        f->sets = v;
        f->n_sets = total;
    }
    int rc = add_services(c, f, t);
    if (rc) return rc;
    if (c->n >= 2 * c->limit + 16) return prune(c);
    return TW_OK;
}

/* Evaluate one piece: refs all share a trace id. */
static int eval_piece(collector *c, tq_eval *e, const tws_span_ref *refs, uint32_t n, tws_search_stats *st,
                      uint32_t worker) {
    tq_trace t;
    int rc = tq_trace_build(e, refs, n, &t);
    if (rc) return rc;
    const tws_search_req *r = c->req;
    if (r->end_ns && (t.end_ns < r->start_ns || t.start_ns > r->end_ns)) return TW_OK;
    st->inspected_traces++;
    st->inspected_spans += n;
    if (c->full && t.start_ns < atomic_load(&c->threshold)) {
        /* cannot enter the result unless it is a piece of a kept trace */
        pthread_mutex_lock(&c->mu);
        bool kept = *slot_of(c, t.spans[0].s->trace_id) >= 0;
        pthread_mutex_unlock(&c->mu);
        if (!kept) return TW_OK;
    }
    tq_spanset *sets;
    uint32_t n_sets;
    if ((rc = tq_eval_trace(e, r->q, &t, &sets, &n_sets)) || !n_sets) return rc;
    bool locked = !c->users; /* one visitor per worker needs no lock */
    if (locked) pthread_mutex_lock(&c->mu);
    if (c->fn) {
        void *user = c->users ? c->users[worker] : c->user;
        rc = atomic_load(&c->stop) ? 0 : c->fn(user, e, &t, sets, n_sets);
        if (rc == 1) {
            atomic_store(&c->stop, true);
            rc = TW_OK;
        }
    } else {
        rc = collect(c, e, &t, sets, n_sets);
    }
    if (locked) pthread_mutex_unlock(&c->mu);
    return rc;
}

/* refs: spans with each trace's spans contiguous. */
static int eval_refs(collector *c, tq_eval *e, const tws_span_ref *refs, size_t n, tws_search_stats *st,
                     uint32_t worker) {
    size_t i = 0;
    while (i < n && !atomic_load(&c->stop)) {
        size_t j = i + 1;
        while (j < n && !memcmp(refs[j].span->trace_id, refs[i].span->trace_id, 16)) j++;
        int rc = eval_piece(c, e, refs + i, (uint32_t)(j - i), st, worker);
        if (rc) return rc;
        i = j;
    }
    return TW_OK;
}

static int scan_head(collector *c, tq_eval *e, const tws_head *h) {
    if (!h) return TW_OK;
    size_t nt = tws_head_n_tenants(h), k = 0;
    while (k < nt && strcmp(tws_head_tenant(h, k), c->req->tenant)) k++;
    if (k == nt) return TW_OK;
    tws_span_ref *refs;
    size_t n;
    int rc = tws_head_tenant_spans(h, k, &refs, &n);
    if (rc) return rc;
    rc = eval_refs(c, e, refs, n, &c->stats, 0); /* the caller's thread: worker 0 */
    tw__free(refs);
    return rc;
}

/* ---- blocks, on every core ------------------------------------------------ */

static unsigned parts_of(const tq_node *n, int depth) {
    if (!n || depth > 4 * TQ_MAX_DEPTH) return 0;
    unsigned p = 0;
    if (n->kind == TQN_ATTR) {
        switch (n->scope) {
        case TQ_SCOPE_NONE: p = TWS_PART_ALL; break; /* looked for everywhere */
        case TQ_SCOPE_SPAN: p = TWS_PART_ATTRS; break;
        case TQ_SCOPE_EVENT: p = TWS_PART_EVENTS; break;
        case TQ_SCOPE_LINK: p = TWS_PART_LINKS; break;
        default: break; /* resource and scope attributes come with every span */
        }
    } else if (n->kind == TQN_INTR) {
        if (n->intrinsic == TQ_I_EVENT_NAME || n->intrinsic == TQ_I_EVENT_TIME_SINCE_START) p = TWS_PART_EVENTS;
        if (n->intrinsic == TQ_I_LINK_TRACE_ID || n->intrinsic == TQ_I_LINK_SPAN_ID) p = TWS_PART_LINKS;
    }
    p |= parts_of(n->l, depth + 1) | parts_of(n->r, depth + 1);
    for (uint32_t i = 0; i < n->n_args; i++) p |= parts_of(n->args[i], depth + 1);
    return p;
}

unsigned tws_search_parts(const tq_query *q) { return parts_of(q->root, 0) | parts_of(q->metrics, 0); }

typedef struct rg_job {
    tws_block *b;
    uint64_t rg;
    tws_rg_info info;
} rg_job;

typedef struct scan {
    collector *c;
    const tws_prefilter *pf; /* NULL: every trace may match */
    unsigned parts;          /* what of a span the query reads (TWS_PART_*) */
    rg_job *jobs;
    size_t n_jobs;
    _Atomic size_t next;
    _Atomic bool stop;
} scan;

typedef struct worker {
    scan *s;
    uint32_t index;
    tws_search_stats st;
    int rc;
    char err[256];
} worker;

static void *scan_main(void *arg) {
    worker *w = arg;
    scan *s = w->s;
    collector *c = s->c;
    tq_eval *e;
    if ((w->rc = tq_eval_new(&e))) return NULL;
    tws_span_ref *refs = NULL;
    size_t refs_cap = 0;
    uint8_t *keep = NULL;
    uint32_t keep_cap = 0;
    for (;;) {
        size_t k = atomic_fetch_add(&s->next, 1);
        if (k >= s->n_jobs || atomic_load(&s->stop) || atomic_load(&c->stop)) break;
        rg_job *j = &s->jobs[k];
        if (c->full && j->info.end_ns < atomic_load(&c->threshold)) {
            w->st.row_groups_skipped++;
            continue;
        }
        tws_batch b;
        tws_batch_init(&b);
        char err[256];
        uint32_t kept = 1;
        tws_rg *g = NULL;
        int rc = tws_rg_open(j->b, j->rg, &g, err);
        if (rc == TW_OK && s->pf) { /* rule traces out on the columns the query names */
            uint32_t nt = tws_rg_n_traces(g);
            if (nt > keep_cap) {
                uint8_t *nk = tw__realloc(keep, nt);
                if (nk) {
                    keep = nk;
                    keep_cap = nt;
                } else {
                    rc = TW_ENOMEM;
                }
            }
            if (rc == TW_OK) rc = tws_prefilter_run(s->pf, g, keep, &kept, err);
        }
        if (rc == TW_OK) {
            w->st.row_groups_read++;
            w->st.inspected_bytes += j->info.bytes;
            if (!kept) w->st.row_groups_pruned++;
            else rc = tws_rg_decode(g, s->pf ? keep : NULL, s->parts, &b, err);
            /* the traces ruled out were inspected too, on their columns */
            w->st.inspected_traces += tws_rg_n_traces(g) - (s->pf ? kept : tws_rg_n_traces(g));
            if (rc == TW_OK && tws_rg_n_spans(g) > b.n_spans) w->st.inspected_spans += tws_rg_n_spans(g) - b.n_spans;
        }
        tws_rg_close(g);
        if (rc == TW_OK && kept) {
            if (b.n_spans > refs_cap) {
                tws_span_ref *nr = tw__realloc(refs, b.n_spans * sizeof *nr);
                if (nr) {
                    refs = nr;
                    refs_cap = b.n_spans;
                } else {
                    rc = TW_ENOMEM;
                }
            }
            if (rc == TW_OK) {
                for (uint32_t i = 0; i < b.n_spans; i++) refs[i] = (tws_span_ref){&b, &b.spans[i]};
                rc = eval_refs(c, e, refs, b.n_spans, &w->st, w->index);
            }
        } else if (rc && rc != TW_ENOMEM && !w->err[0]) {
            snprintf(w->err, sizeof w->err, "block %s: %.200s", tws_block_get_meta(j->b)->id, err);
        }
        tws_batch_free(&b);
        if (rc == TW_ENOMEM) {
            w->rc = rc;
            atomic_store(&s->stop, true);
        } else if (rc && !w->rc) {
            w->rc = rc; /* a damaged block: note it, go on with the others */
        }
    }
    tw__free(refs);
    tw__free(keep);
    tq_eval_free(e);
    return NULL;
}

uint32_t tws_search_threads(const tws_search_req *r) {
    uint32_t nt = r->threads;
    if (!nt) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        nt = cpus > 0 ? (uint32_t)cpus : 1;
    }
    return nt > 16 ? 16 : nt;
}

static int scan_blocks(collector *c, tws_store *st) {
    if (!st) return TW_OK;
    const tws_search_req *r = c->req;
    tws_store_snap snap;
    int rc = tws_store_snapshot(st, r->tenant, r->start_ns, r->end_ns, &snap);
    if (rc) return rc;
    size_t n_jobs = 0;
    for (size_t i = 0; i < snap.n; i++) n_jobs += tws_block_get_meta(snap.blocks[i])->row_groups;
    scan s = {.c = c, .jobs = tw__malloc((n_jobs ? n_jobs : 1) * sizeof(rg_job))};
    tws_prefilter *pf = NULL;
    if (!s.jobs || tws_prefilter_new(r->q, &pf)) {
        tw__free(s.jobs);
        tws_store_snap_release(st, &snap);
        return TW_ENOMEM;
    }
    s.pf = pf;
    s.parts = tws_search_parts(r->q);
    for (size_t i = 0; i < snap.n; i++) {
        const tws_block_meta *m = tws_block_get_meta(snap.blocks[i]);
        c->stats.total_blocks++;
        c->stats.total_block_bytes += m->size;
        for (uint64_t g = 0; g < m->row_groups; g++) {
            rg_job j = {snap.blocks[i], g, {0}};
            tws_block_row_group_info(snap.blocks[i], g, &j.info);
            if (r->end_ns && (j.info.start_ns > r->end_ns || j.info.end_ns < r->start_ns)) {
                c->stats.row_groups_skipped++;
                continue;
            }
            s.jobs[s.n_jobs++] = j;
        }
    }
    uint32_t nt = tws_search_threads(r);
    if (c->users && nt > c->n_users) nt = c->n_users;
    if (nt > s.n_jobs) nt = s.n_jobs ? (uint32_t)s.n_jobs : 1;
    worker w[16];
    pthread_t th[16];
    memset(w, 0, sizeof w);
    uint32_t started = 0;
    for (uint32_t i = 0; i < nt; i++) {
        w[i].s = &s;
        w[i].index = i;
        if (i == 0 || pthread_create(&th[i], NULL, scan_main, &w[i]) != 0) continue;
        started |= 1u << i;
    }
    scan_main(&w[0]); /* this thread is a scanner too */
    for (uint32_t i = 1; i < nt; i++)
        if (started & (1u << i)) pthread_join(th[i], NULL);
    for (uint32_t i = 0; i < nt; i++) {
        c->stats.inspected_traces += w[i].st.inspected_traces;
        c->stats.inspected_spans += w[i].st.inspected_spans;
        c->stats.inspected_bytes += w[i].st.inspected_bytes;
        c->stats.row_groups_read += w[i].st.row_groups_read;
        c->stats.row_groups_skipped += w[i].st.row_groups_skipped;
        c->stats.row_groups_pruned += w[i].st.row_groups_pruned;
        if (w[i].rc && (!rc || w[i].rc == TW_ENOMEM)) rc = w[i].rc;
        if (w[i].err[0] && !c->err[0]) snprintf(c->err, sizeof c->err, "%s", w[i].err);
    }
    tws_store_note_reads(st, c->stats.row_groups_read);
    tws_prefilter_free(pf);
    tw__free(s.jobs);
    tws_store_snap_release(st, &snap);
    return rc;
}

static int scan_all(collector *c, const tws_head *head, const tws_head *frozen, tws_store *store) {
    tq_eval *e = NULL;
    int rc = tq_eval_new(&e);
    if (!rc) rc = rebuild_slots(c, 64);
    if (!rc) rc = scan_head(c, e, head);
    if (!rc && !atomic_load(&c->stop)) rc = scan_head(c, e, frozen);
    if (!rc && !atomic_load(&c->stop)) rc = scan_blocks(c, store);
    tq_eval_free(e);
    return rc;
}

/* A visit with collector c set up by the caller (fn, user or users). */
static int visit(collector *c, const tws_head *head, const tws_head *frozen, tws_store *store,
                 tws_search_stats *stats, char err[256]) {
    pthread_mutex_init(&c->mu, NULL);
    int rc = scan_all(c, head, frozen, store);
    pthread_mutex_destroy(&c->mu);
    tw__free(c->slots);
    if (stats) *stats = c->stats;
    if (c->err[0]) snprintf(err, 256, "%s", c->err);
    return rc;
}

int tws_search_visit(const tws_search_req *req, const tws_head *head, const tws_head *frozen, tws_store *store,
                     tws_visit_fn fn, void *user, tws_search_stats *stats, char err[256]) {
    err[0] = 0;
    collector c = {.req = req, .limit = 1, .spss = 1, .fn = fn, .user = user};
    return visit(&c, head, frozen, store, stats, err);
}

int tws_search_visit_each(const tws_search_req *req, const tws_head *head, const tws_head *frozen, tws_store *store,
                          tws_visit_fn fn, void *const *users, uint32_t n_users, tws_search_stats *stats,
                          char err[256]) {
    err[0] = 0;
    if (!n_users) return TW_EINVAL;
    collector c = {.req = req, .limit = 1, .spss = 1, .fn = fn, .users = users, .n_users = n_users};
    return visit(&c, head, frozen, store, stats, err);
}

int tws_search_run(const tws_search_req *req, const tws_head *head, const tws_head *frozen, tws_store *store,
                   tws_search_result *out, char err[256]) {
    memset(out, 0, sizeof *out);
    err[0] = 0;
    collector c = {.req = req, .limit = req->limit ? req->limit : 20, .spss = req->spss ? req->spss : 3};
    pthread_mutex_init(&c.mu, NULL);
    c.arena = tq_arena_new();
    int rc = c.arena ? scan_all(&c, head, frozen, store) : TW_ENOMEM;
    pthread_mutex_destroy(&c.mu);
    if (rc == TW_ENOMEM) {
        tw__free(c.v);
        tw__free(c.slots);
        tq_arena_free(c.arena);
        return rc;
    }
    if (c.n) qsort(c.v, c.n, sizeof *c.v, cmp_found);
    if (c.n > c.limit) c.n = c.limit;
    tws_found_trace *v = tq_arena_alloc(c.arena, (c.n ? c.n : 1) * sizeof *v);
    if (!v) {
        tw__free(c.v);
        tw__free(c.slots);
        tq_arena_free(c.arena);
        return TW_ENOMEM;
    }
    if (c.n) memcpy(v, c.v, c.n * sizeof *v);
    tw__free(c.v);
    tw__free(c.slots);
    out->traces = v;
    out->n = c.n;
    out->stats = c.stats;
    out->arena = c.arena;
    if (c.err[0]) snprintf(err, 256, "%s", c.err);
    return rc;
}

void tws_search_result_free(tws_search_result *r) {
    if (r) tq_arena_free(r->arena);
    memset(r, 0, sizeof *r);
}
