/*
 * span.c — starting, recording and ending spans: the SDK's hot path.
 * (The attribute setters are in attrs.c, next to the store they inline.)
 *
 * A sampled span with a few attributes costs two clock reads, two random
 * numbers, one pool pop and copies into its inline arena; at its end, a
 * last processor that queues it takes over the starter's reference, so no
 * atomic read-modify-write is spent on it. An unsampled span costs the
 * sampler decision, one random number and a pool pop, and never calls
 * malloc once the pool is warm.
 */
#include <stdio.h>

#include "common/clock.h"
#include "core/rand.h"
#include "trace/pool.h"
#include "trace/trace_int.h"

#define HEADER_SIZE ((sizeof(struct tw_span) + 15u) & ~(size_t)15u)

static struct tw_span noop = {.refs = 1u << 30};

tw_span *tw__noop_span(void) { return &noop; }

static inline tw_span *nonrecording_init(tw_span *s) {
    atomic_init(&s->refs, 1);
    s->recording = 0;
    s->ended = 0;
    return s;
}

tw_span *tw__span_nonrecording(const tw_span_context *sc) {
    tw_span *s = tw__pool_get();
    if (!s) return NULL;
    nonrecording_init(s);
    tw__sc_copy(&s->ctx, sc);
    return s;
}

void tw__span_unref(tw_span *s) {
    if (s == &noop) return;
    /* References are only ever taken by a holder of one, so reading 1 means
     * ours is the last: no other thread can race us, skip the atomic RMW. */
    if (atomic_load_explicit(&s->refs, memory_order_acquire) != 1 &&
        atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    tw_tracestate_unref(s->ctx.state);
    /* The inline block needs no release; skipping it leaves the header's
     * cache lines clean on the (exporter) thread that often drops last. */
    if (s->recording && s->arena.overflow) tw__arena_release(&s->arena);
    tw__pool_put(s);
}

const tw__kvlist *tw__span_resource(const tw_span *s) { return &s->tracer->provider->resource; }

/* ---- start ----------------------------------------------------------------- */

static tw_span *start_nonrecording_child(const tw_span_context *parent_sc) {
    tw_span *s = parent_sc ? tw__span_nonrecording(parent_sc) : NULL;
    return s ? s : &noop;
}

static int copy_link(tw_span *s, const tw_span_context *sc, const tw_attribute *attrs, size_t n);

/* A new span's ids and flags under `parent` (NULL: a root); tracestate left to the caller. */
static inline void new_context(tw_span_context *sc, const tw_span_context *parent) {
    if (parent) {
        sc->trace_id = parent->trace_id;
        sc->flags = parent->flags & TW_FLAG_RANDOM;
        tw__new_ids(NULL, &sc->span_id);
    } else {
        tw__new_ids(&sc->trace_id, &sc->span_id);
        sc->flags = TW_FLAG_RANDOM;
    }
    sc->is_remote = false;
}

tw_span *(tw_span_start)(tw_tracer *tr, const char *name, const tw_span_options *o) {
    return tw_span_start_n(tr, name, TW_NTS, o);
}

tw_span *tw_span_start_n(tw_tracer *tr, const char *name, size_t name_len, const tw_span_options *o) {
    static const tw_span_options defaults = {0};
    if (!o) o = &defaults;

    const tw_context *parent_ctx = o->root ? NULL : o->parent ? o->parent : tw__current();
    const tw_span_context *parent = parent_ctx ? &parent_ctx->span : NULL;
    if (parent && !tw__trace_id_valid(&parent->trace_id)) parent = NULL;

    tw_provider *p = tr ? tr->provider : NULL;
    if (TW_UNLIKELY(!p || atomic_load_explicit(&p->shut_down, memory_order_relaxed)))
        return start_nonrecording_child(parent);

    tw_span_kind kind = o->kind ? o->kind : TW_SPAN_KIND_INTERNAL;
    int fixed = p->fixed[tw__parent_case(parent)];
    if (fixed == TW__FIXED_DROP) { /* the unsampled fast path: ids and the parent's tracestate, nothing else */
        tw_span *s = tw__pool_get();
        if (TW_UNLIKELY(!s)) return &noop;
        nonrecording_init(s);
        new_context(&s->ctx, parent);
        s->ctx.state = parent && parent->state ? tw_tracestate_ref(parent->state) : NULL;
        return s;
    }
    tw_span_context sc;
    new_context(&sc, parent);

    tw_sampling_result r = {TW_RECORD_AND_SAMPLE, NULL};
    if (fixed == TW__FIXED_ASK) {
        tw_sampling_params sp = {
            .parent = parent ? parent_ctx : NULL, .trace_id = &sc.trace_id, .name = name,
            .kind = kind, .attrs = o->attrs, .n_attrs = o->n_attrs, .links = o->links,
            .n_links = o->n_links,
        };
        r = tw_sampler_should_sample(p->sampler, &sp);
    }
    sc.state = r.state ? r.state : parent ? tw_tracestate_ref(parent->state) : NULL;
    if (r.decision == TW_RECORD_AND_SAMPLE) sc.flags |= TW_FLAG_SAMPLED;

    tw_span *s = tw__pool_get();
    if (TW_UNLIKELY(!s)) {
        tw_tracestate_unref(sc.state);
        return &noop;
    }
    if (r.decision == TW_DROP) {
        nonrecording_init(s)->ctx = sc;
        return s;
    }

    atomic_init(&s->refs, 1);
    s->recording = 1;
    s->ended = 0;
    s->kind = (uint8_t)kind;
    s->status = TW_STATUS_UNSET;
    s->ctx = sc;
    s->has_parent = parent != NULL;
    s->parent_is_remote = parent && parent->is_remote;
    if (parent) s->parent_id = parent->span_id;
    s->start_ns = o->start_ns ? o->start_ns : tw__clock_ns(); /* tw_now_ns, without the extra call */
    s->end_ns = 0;
    s->tracer = tr;
    s->status_msg = NULL;
    s->status_msg_len = 0;
    memset(&s->attrs, 0, sizeof s->attrs);
    s->events = NULL;
    s->n_events = s->cap_events = s->dropped_events = 0;
    s->links = NULL;
    s->n_links = s->cap_links = s->dropped_links = 0;
    tw__arena_init(&s->arena, (char *)s + HEADER_SIZE, TW__SPAN_OBJECT_SIZE - HEADER_SIZE);

    if (name_len == TW_NTS) name_len = name ? strlen(name) : 0;
    s->name = tw__arena_strdup(&s->arena, name, name_len);
    s->name_len = s->name ? (uint32_t)name_len : 0;

    for (size_t i = 0; i < o->n_attrs; i++)
        tw__kvlist_set(&s->arena, &s->attrs, &o->attrs[i], p->limits.attr_count, p->limits.attr_value_len);
    for (size_t i = 0; i < o->n_links; i++)
        if (o->links[i].context) copy_link(s, o->links[i].context, o->links[i].attrs, o->links[i].n_attrs);

    if (p->has_on_start) {
        static const tw_context empty = TW_CONTEXT_INIT;
        const tw_context *pc = parent_ctx ? parent_ctx : &empty;
        for (tw_processor *proc = p->processors; proc; proc = proc->next)
            if (proc->ops->on_start) proc->ops->on_start(proc, s, pc);
    }
    return s;
}

/* ---- end ------------------------------------------------------------------- */

void tw_span_end_at(tw_span *s, uint64_t end_ns) {
    if (!s || s == &noop) return;
    if (!s->recording || s->ended) {
        tw__span_unref(s);
        return;
    }
    s->end_ns = end_ns ? end_ns : tw__clock_ns();
    if (s->end_ns < s->start_ns) s->end_ns = s->start_ns;
    s->ended = 1;
    for (tw_processor *proc = s->tracer->provider->processors; proc; proc = proc->next) {
        if (!proc->next && proc->ops->on_end_owned) {
            proc->ops->on_end_owned(proc, s); /* takes over our reference */
            return;
        }
        if (proc->ops->on_end) proc->ops->on_end(proc, s);
    }
    tw__span_unref(s);
}

void tw_span_end(tw_span *s) { tw_span_end_at(s, 0); }

/* ---- recording ------------------------------------------------------------- */

static inline bool writable(const tw_span *s) { return tw__span_writable(s); }
static inline const tw_span_limits *limits(const tw_span *s) { return tw__span_limits(s); }

bool tw_span_is_recording(const tw_span *s) { return writable(s); }

const tw_span_context *tw_span_get_context(const tw_span *s) { return s ? &s->ctx : &noop.ctx; }

void tw_span_set_name(tw_span *s, const char *name) {
    if (!writable(s) || !name) return;
    size_t n = strlen(name);
    const char *nm = tw__arena_strdup(&s->arena, name, n);
    if (!nm) return;
    s->name = nm;
    s->name_len = (uint32_t)n;
}

int tw_span_set_attrs(tw_span *s, const tw_attribute *a, size_t n) {
    int rc = TW_OK;
    for (size_t i = 0; i < n; i++) {
        int r = tw_span_set_attr(s, &a[i]);
        if (r && !rc) rc = r;
    }
    return rc;
}


/* Grow an arena array of `size`-byte items to hold one more, up to `limit`. */
static void *grow(tw__arena *a, void *items, uint32_t n, uint32_t *cap, size_t size, uint32_t limit) {
    if (n < *cap) return items;
    uint32_t c = *cap ? *cap * 2 : 4;
    if (c > limit) c = limit;
    void *d = tw__arena_alloc(a, c * size);
    if (!d) return NULL;
    if (n) memcpy(d, items, n * size);
    *cap = c;
    return d;
}

static int set_list(tw_span *s, tw__kvlist *list, const tw_attribute *attrs, size_t n, uint32_t limit) {
    int rc = TW_OK;
    for (size_t i = 0; i < n; i++) {
        int r = tw__kvlist_set(&s->arena, list, &attrs[i], limit, limits(s)->attr_value_len);
        if (r == TW_ENOMEM) return r;
        if (r && !rc) rc = r;
    }
    return rc;
}

static int add_event(tw_span *s, const char *name, uint64_t t, const tw_attribute *a1, size_t n1,
                     const tw_attribute *a2, size_t n2) {
    if (!writable(s)) return TW_OK;
    if (s->n_events >= limits(s)->event_count) {
        s->dropped_events++;
        return TW_ELIMIT;
    }
    tw__event *ev = grow(&s->arena, s->events, s->n_events, &s->cap_events, sizeof *ev,
                         limits(s)->event_count);
    if (!ev) return TW_ENOMEM;
    s->events = ev;
    ev = &s->events[s->n_events];
    memset(ev, 0, sizeof *ev);
    size_t len = name ? strlen(name) : 0;
    if (!(ev->name = tw__arena_strdup(&s->arena, name, len))) return TW_ENOMEM;
    ev->name_len = (uint32_t)len;
    ev->time_ns = t ? t : tw_now_ns();
    s->n_events++;
    int rc = set_list(s, &ev->attrs, a1, n1, limits(s)->event_attr_count);
    int rc2 = set_list(s, &ev->attrs, a2, n2, limits(s)->event_attr_count);
    return rc ? rc : rc2;
}

int tw_span_add_event(tw_span *s, const char *name, uint64_t t, const tw_attribute *attrs, size_t n) {
    return add_event(s, name, t, attrs, n, NULL, 0);
}

int tw_span_record_exception(tw_span *s, const char *type, const char *message, const char *stacktrace,
                             const tw_attribute *extra, size_t n) {
    tw_attribute a[3];
    size_t k = 0;
    if (type) a[k++] = TW_ATTR_STR("exception.type", type);
    if (message) a[k++] = TW_ATTR_STR("exception.message", message);
    if (stacktrace) a[k++] = TW_ATTR_STR("exception.stacktrace", stacktrace);
    return add_event(s, "exception", 0, a, k, extra, n);
}

static int copy_link(tw_span *s, const tw_span_context *sc, const tw_attribute *attrs, size_t n) {
    if (s->n_links >= limits(s)->link_count) {
        s->dropped_links++;
        return TW_ELIMIT;
    }
    tw__link *l = grow(&s->arena, s->links, s->n_links, &s->cap_links, sizeof *l, limits(s)->link_count);
    if (!l) return TW_ENOMEM;
    s->links = l;
    l = &s->links[s->n_links];
    memset(l, 0, sizeof *l);
    l->trace_id = sc->trace_id;
    l->span_id = sc->span_id;
    l->flags = sc->flags;
    l->is_remote = sc->is_remote;
    if (sc->state && tw_tracestate_count(sc->state)) {
        char small[512];
        int len = tw_tracestate_format(sc->state, 0, small, sizeof small);
        char *dst = NULL;
        if (len >= 0) {
            dst = (char *)tw__arena_strdup(&s->arena, small, (size_t)len);
        } else if (len == TW_ERANGE) {
            size_t cap = 32 * 514 + 1;
            dst = tw__arena_alloc(&s->arena, cap);
            len = dst ? tw_tracestate_format(sc->state, 0, dst, cap) : -1;
        }
        if (dst && len >= 0) {
            l->state = dst;
            l->state_len = (uint32_t)len;
        }
    }
    s->n_links++;
    return set_list(s, &l->attrs, attrs, n, limits(s)->link_attr_count);
}

int tw_span_add_link(tw_span *s, const tw_span_context *sc, const tw_attribute *attrs, size_t n) {
    if (!writable(s) || !sc) return TW_OK;
    return copy_link(s, sc, attrs, n);
}

void tw_span_set_status(tw_span *s, tw_status_code code, const char *desc) {
    if (!writable(s) || s->status == TW_STATUS_OK || code == TW_STATUS_UNSET) return;
    s->status = (uint8_t)code;
    s->status_msg = NULL;
    s->status_msg_len = 0;
    if (code != TW_STATUS_ERROR || !desc) return;
    size_t n = strlen(desc);
    if (!(s->status_msg = tw__arena_strdup(&s->arena, desc, n))) return;
    s->status_msg_len = (uint32_t)n;
}
