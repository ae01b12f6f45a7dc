/*
 * test_span.c — spans: ids, parents, kinds, attributes of every type (and
 * the store's fast and general paths), limits with dropped counts, events,
 * exceptions, links, status precedence, rename, explicit times,
 * non-recording spans.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "memory_exporter.h"
#include "trace/pool.h"
#include "trace/trace_int.h"

typedef struct fixture {
    tw_provider *p;
    tw_tracer *t;
    tw_test_mem *mem;
} fixture;

static int setup_with(void **state, tw_sampler *sampler, const tw_span_limits *limits) {
    fixture *f = calloc(1, sizeof *f);
    tw_provider_options o = {.sampler = sampler, .limits = limits};
    assert_int_equal(tw_provider_new(&o, &f->p), TW_OK);
    tw_processor *proc;
    assert_int_equal(tw_processor_simple_new(tw_test_mem_new(&f->mem, 0), &proc), TW_OK);
    assert_int_equal(tw_provider_add_processor(f->p, proc), TW_OK);
    f->t = tw_tracer_get(f->p, "test.scope", "1.2.3");
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_with(state, tw_sampler_always_on(), NULL); }

static int teardown(void **state) {
    fixture *f = *state;
    tw_provider_destroy(f->p);
    free(f);
    return 0;
}

static const tw__kv *attr(const tw_span *s, const char *key) { return tw__kvlist_find(&s->attrs, key, strlen(key)); }

static void test_root_span_ids_and_flags(void **state) {
    fixture *f = *state;
    tw_span *s = tw_span_start(f->t, "root", NULL);
    const tw_span_context *sc = tw_span_get_context(s);
    assert_true(tw_span_context_is_valid(sc));
    assert_int_equal(sc->flags, TW_FLAG_SAMPLED | TW_FLAG_RANDOM);
    assert_false(sc->is_remote);
    assert_true(tw_span_is_recording(s));
    tw_span_end(s);
    assert_int_equal(tw_test_mem_count(f->mem), 1);
    tw_span *e = tw_test_mem_get(f->mem, 0);
    assert_false(e->has_parent);
    assert_int_equal(e->kind, TW_SPAN_KIND_INTERNAL);
    assert_true(e->end_ns >= e->start_ns);
    assert_string_equal(e->tracer->name, "test.scope");
    assert_string_equal(e->tracer->version, "1.2.3");
}

static void test_ids_differ(void **state) {
    fixture *f = *state;
    tw_span *a = tw_span_start(f->t, "a", NULL), *b = tw_span_start(f->t, "b", NULL);
    assert_memory_not_equal(tw_span_get_context(a)->trace_id.bytes, tw_span_get_context(b)->trace_id.bytes, 16);
    assert_memory_not_equal(tw_span_get_context(a)->span_id.bytes, tw_span_get_context(b)->span_id.bytes, 8);
    tw_span_end(a);
    tw_span_end(b);
}

static void test_parent_from_current_explicit_and_root(void **state) {
    fixture *f = *state;
    tw_span *parent = tw_span_start(f->t, "parent", &(tw_span_options){.kind = TW_SPAN_KIND_SERVER});
    int tok = tw_span_attach(parent);
    tw_span *child = tw_span_start(f->t, "child", NULL);
    assert_memory_equal(tw_span_get_context(child)->trace_id.bytes, tw_span_get_context(parent)->trace_id.bytes, 16);
    assert_memory_equal(child->parent_id.bytes, tw_span_get_context(parent)->span_id.bytes, 8);
    assert_true(child->has_parent);
    assert_false(child->parent_is_remote);

    tw_span *root = tw_span_start(f->t, "new-root", &(tw_span_options){.root = true});
    assert_false(root->has_parent);
    assert_memory_not_equal(tw_span_get_context(root)->trace_id.bytes, tw_span_get_context(parent)->trace_id.bytes, 16);

    /* An explicit remote parent wins over the current span. */
    tw_context remote = TW_CONTEXT_INIT;
    tw_trace_id_from_hex("4bf92f3577b34da6a3ce929d0e0e4736", 32, &remote.span.trace_id);
    tw_span_id_from_hex("00f067aa0ba902b7", 16, &remote.span.span_id);
    remote.span.flags = TW_FLAG_SAMPLED;
    remote.span.is_remote = true;
    tw_span *rc = tw_span_start(f->t, "remote-child", &(tw_span_options){.parent = &remote, .kind = TW_SPAN_KIND_CONSUMER});
    assert_memory_equal(tw_span_get_context(rc)->trace_id.bytes, remote.span.trace_id.bytes, 16);
    assert_memory_equal(rc->parent_id.bytes, remote.span.span_id.bytes, 8);
    assert_true(rc->parent_is_remote);
    /* The random flag is inherited from the parent, not invented. */
    assert_int_equal(tw_span_get_context(rc)->flags, TW_FLAG_SAMPLED);
    assert_int_equal(rc->kind, TW_SPAN_KIND_CONSUMER);

    tw_span_end(rc);
    tw_span_end(root);
    tw_span_end(child);
    tw_detach(tok);
    tw_span_end(parent);
    assert_int_equal(tw_test_mem_count(f->mem), 4);
}

static void test_every_attribute_type(void **state) {
    fixture *f = *state;
    tw_span *s = tw_span_start(f->t, "attrs", NULL);
    tw_str strs[] = {{"a", TW_NTS}, {"bc", 2}};
    bool bools[] = {true, false, true};
    int64_t ints[] = {1, -2, INT64_MAX};
    double dbls[] = {1.5, -0.25};
    tw_attribute attrs[] = {
        TW_ATTR_STR("s", "value"), TW_ATTR_BOOL("b", true), TW_ATTR_INT("i", -42),
        TW_ATTR_DOUBLE("d", 3.25), TW_ATTR_STR_ARRAY("sa", strs, 2), TW_ATTR_BOOL_ARRAY("ba", bools, 3),
        TW_ATTR_INT_ARRAY("ia", ints, 3), TW_ATTR_DOUBLE_ARRAY("da", dbls, 2),
    };
    assert_int_equal(tw_span_set_attrs(s, attrs, 8), TW_OK);
    char buf[8] = "reused";
    tw_span_set_str(s, "copied", buf);
    strcpy(buf, "XXXXXX"); /* the span must have its own copy */
    tw_span_end(s);
    tw_span *e = tw_test_mem_get(f->mem, 0);
    assert_int_equal(e->attrs.n, 9);
    assert_string_equal(attr(e, "s")->val.u.s, "value");
    assert_int_equal(attr(e, "s")->val.n, 5);
    assert_true(attr(e, "b")->val.u.b);
    assert_int_equal(attr(e, "i")->val.u.i, -42);
    assert_true(attr(e, "d")->val.u.d == 3.25);
    assert_int_equal(attr(e, "sa")->val.n, 2);
    assert_string_equal(attr(e, "sa")->val.u.sa[1].ptr, "bc");
    assert_int_equal(attr(e, "ba")->val.n, 3);
    assert_false(attr(e, "ba")->val.u.ba[1]);
    assert_true(attr(e, "ia")->val.u.ia[2] == INT64_MAX);
    assert_true(attr(e, "da")->val.u.da[1] == -0.25);
    assert_string_equal(attr(e, "copied")->val.u.s, "reused");
}

static void test_macro_and_function_forms_agree(void **state) {
    fixture *f = *state;
    char key[16] = "dyn.key", val[16] = "dyn";
    const char *null_value = NULL;
    tw_span *s = tw_span_start(f->t, "forms", &(tw_span_options){.kind = TW_SPAN_KIND_CLIENT, .root = true});
    tw_span_set_str(s, "lit", "literal");
    (tw_span_set_str)(s, "fn", "function");
    tw_span_set_str(s, key, val);   /* not literals: measured at run time */
    tw_span_set_str(s, "null", null_value);
    (tw_span_set_str)(s, "null.fn", NULL);
    tw_span_set_int(s, "i", 1 + 1);
    (tw_span_set_int)(s, "i.fn", 3);
    tw_span_set_double(s, "d", 0.5);
    (tw_span_set_double)(s, "d.fn", 1.5);
    tw_span_set_bool(s, "b", true);
    (tw_span_set_bool)(s, "b.fn", false);
    tw_span_set_str_n(s, "partial", 0, "abcdef", 3);
    tw_span_end(s);
    tw_span *fn = (tw_span_start)(f->t, "by-function", NULL);
    tw_span_end(fn);
    tw_span *e = tw_test_mem_find(f->mem, "forms");
    assert_non_null(e);
    assert_int_equal(e->kind, TW_SPAN_KIND_CLIENT);
    assert_string_equal(attr(e, "lit")->val.u.s, "literal");
    assert_string_equal(attr(e, "fn")->val.u.s, "function");
    assert_string_equal(attr(e, "dyn.key")->val.u.s, "dyn");
    assert_int_equal(attr(e, "null")->val.n, 0);
    assert_int_equal(attr(e, "null.fn")->val.n, 0);
    assert_int_equal(attr(e, "i")->val.u.i, 2);
    assert_int_equal(attr(e, "i.fn")->val.u.i, 3);
    assert_true(attr(e, "d")->val.u.d == 0.5 && attr(e, "d.fn")->val.u.d == 1.5);
    assert_true(attr(e, "b")->val.u.b && !attr(e, "b.fn")->val.u.b);
    assert_string_equal(attr(e, "partial")->val.u.s, "abc");
    assert_non_null(tw_test_mem_find(f->mem, "by-function"));
}

static void test_set_existing_key_replaces(void **state) {
    fixture *f = *state;
    tw_span *s = tw_span_start(f->t, "replace", NULL);
    tw_span_set_str(s, "k", "one");
    tw_span_set_int(s, "k", 2);
    tw_span_end(s);
    tw_span *e = tw_test_mem_get(f->mem, 0);
    assert_int_equal(e->attrs.n, 1);
    assert_int_equal(attr(e, "k")->val.type, TW_TYPE_INT);
    assert_int_equal(attr(e, "k")->val.u.i, 2);
}

/* The attribute store's call-free path (lengths known, key and value of at
 * most 32 bytes) and its general one must agree. For every key length
 * around those bounds, two keys that differ only in their middle byte stay
 * apart; replacing either (string or scalar, through either path) keeps
 * its place; lengths measured at run time give the same result. */
static void test_attribute_fast_and_general_paths_agree(void **state) {
    fixture *f = *state;
    enum { MAX_KEY = 40 };
    tw_span *s = tw_span_start(f->t, "paths", NULL);
    char key[MAX_KEY + 1], val[MAX_KEY + 2];
    for (int len = 1; len <= MAX_KEY; len++) {
        memset(key, 'k', (size_t)len);
        key[len] = '\0';
        memset(val, 'v', (size_t)len);
        val[len] = '\0';
        key[len / 2] = 'A';
        if (len % 2) /* odd lengths measured at run time, even ones given */
            assert_int_equal((tw_span_set_str)(s, key, val), TW_OK);
        else
            assert_int_equal(tw_span_set_str_n(s, key, (size_t)len, val, (size_t)len), TW_OK);
        key[len / 2] = 'B';
        tw_attribute i = {.type = TW_TYPE_INT, .v.i = len};
        assert_int_equal(tw_span_set_typed_n(s, key, len % 2 ? 0 : (size_t)len, &i), TW_OK);
    }
    assert_int_equal(s->attrs.n, 2 * MAX_KEY);
    /* Replace both keys of every length, the other way round. */
    for (int len = 1; len <= MAX_KEY; len++) {
        memset(key, 'k', (size_t)len);
        key[len] = '\0';
        key[len / 2] = 'A';
        tw_attribute d = {.type = TW_TYPE_DOUBLE, .v.d = len + 0.5};
        assert_int_equal(tw_span_set_typed_n(s, key, len % 2 ? (size_t)len : 0, &d), TW_OK);
        key[len / 2] = 'B';
        memset(val, 'w', (size_t)len + 1);
        val[len + 1] = '\0';
        if (len % 2)
            assert_int_equal(tw_span_set_str_n(s, key, (size_t)len, val, (size_t)len + 1), TW_OK);
        else
            assert_int_equal((tw_span_set_str)(s, key, val), TW_OK);
    }
    assert_int_equal(s->attrs.n, 2 * MAX_KEY);
    assert_int_equal(s->attrs.dropped, 0);
    for (int len = 1; len <= MAX_KEY; len++) {
        const tw__kv *a = &s->attrs.items[2 * (len - 1)], *b = a + 1; /* in their first places */
        assert_int_equal(a->key_len, len);
        assert_int_equal(a->key[len / 2], 'A');
        assert_int_equal(a->key[len], '\0');
        assert_int_equal(a->val.type, TW_TYPE_DOUBLE);
        assert_true(a->val.u.d == len + 0.5);
        assert_int_equal(b->key_len, len);
        assert_int_equal(b->key[len / 2], 'B');
        assert_int_equal(b->val.type, TW_TYPE_STRING);
        assert_int_equal(b->val.n, len + 1);
        assert_int_equal(strspn(b->val.u.s, "w"), len + 1);
        assert_int_equal(b->val.u.s[len + 1], '\0');
        memcpy(key, a->key, (size_t)len + 1);
        assert_ptr_equal(attr(s, key), a);
    }
    tw_span_end(s);
}

static void test_invalid_attribute_keys_refused(void **state) {
    fixture *f = *state;
    tw_span *s = tw_span_start(f->t, "keys", NULL);
    tw_attribute a = TW_ATTR_STR("", "v");
    assert_int_equal(tw_span_set_attr(s, &a), TW_EINVAL);
    a.key = NULL;
    assert_int_equal(tw_span_set_attr(s, &a), TW_EINVAL);
    tw_span_end(s);
    assert_int_equal(tw_test_mem_get(f->mem, 0)->attrs.n, 0);
}

static void test_many_attributes_overflow_inline_arena(void **state) {
    fixture *f = *state;
    tw_span *s = tw_span_start(f->t, "big", NULL);
    char key[32], val[200];
    memset(val, 'v', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "key.%d", i);
        assert_int_equal(tw_span_set_str(s, key, val), TW_OK);
    }
    tw_span_end(s);
    tw_span *e = tw_test_mem_get(f->mem, 0);
    assert_int_equal(e->attrs.n, 100);
    assert_int_equal(attr(e, "key.99")->val.n, 199);
    assert_int_equal(e->attrs.dropped, 0);
}

static void test_status_precedence(void **state) {
    fixture *f = *state;
    tw_span *s = tw_span_start(f->t, "status", NULL);
    tw_span_set_status(s, TW_STATUS_ERROR, "first failure");
    assert_int_equal(s->status, TW_STATUS_ERROR);
    assert_string_equal(s->status_msg, "first failure");
    tw_span_set_status(s, TW_STATUS_UNSET, "ignored");
    assert_int_equal(s->status, TW_STATUS_ERROR);
    tw_span_set_status(s, TW_STATUS_ERROR, "second failure");
    assert_string_equal(s->status_msg, "second failure");
    tw_span_set_status(s, TW_STATUS_OK, "descriptions only go with Error");
    assert_int_equal(s->status, TW_STATUS_OK);
    assert_null(s->status_msg);
    tw_span_set_status(s, TW_STATUS_ERROR, "Ok is final");
    assert_int_equal(s->status, TW_STATUS_OK);
    tw_span_end(s);
}

static void test_events_and_exception(void **state) {
    fixture *f = *state;
    tw_span *s = tw_span_start(f->t, "events", NULL);
    tw_attribute ea[] = {TW_ATTR_INT("batch.size", 500)};
    assert_int_equal(tw_span_add_event(s, "drained", 1234, ea, 1), TW_OK);
    tw_attribute extra[] = {TW_ATTR_BOOL("exception.escaped", true)};
    assert_int_equal(tw_span_record_exception(s, "IOError", "disk full", "at main.c:10", extra, 1), TW_OK);
    tw_span_end(s);
    tw_span *e = tw_test_mem_get(f->mem, 0);
    assert_int_equal(e->n_events, 2);
    assert_string_equal(e->events[0].name, "drained");
    assert_int_equal(e->events[0].time_ns, 1234);
    assert_int_equal(e->events[0].attrs.items[0].val.u.i, 500);
    assert_string_equal(e->events[1].name, "exception");
    assert_true(e->events[1].time_ns > 0);
    const tw__kvlist *x = &e->events[1].attrs;
    assert_string_equal(tw__kvlist_find(x, "exception.type", 14)->val.u.s, "IOError");
    assert_string_equal(tw__kvlist_find(x, "exception.message", 17)->val.u.s, "disk full");
    assert_string_equal(tw__kvlist_find(x, "exception.stacktrace", 20)->val.u.s, "at main.c:10");
    assert_true(tw__kvlist_find(x, "exception.escaped", 17)->val.u.b);
    assert_int_equal(e->status, TW_STATUS_UNSET); /* recording an exception does not set the status */
}

static void test_links_at_start_and_later(void **state) {
    fixture *f = *state;
    tw_span *p1 = tw_span_start(f->t, "producer-1", NULL), *p2 = tw_span_start(f->t, "producer-2", NULL);
    tw_attribute la[] = {TW_ATTR_STR("messaging.message.id", "m-1")};
    tw_link links[] = {{tw_span_get_context(p1), la, 1}};
    tw_span *batch = tw_span_start(f->t, "settle batch",
                                   &(tw_span_options){.kind = TW_SPAN_KIND_CONSUMER, .links = links, .n_links = 1});
    assert_int_equal(tw_span_add_link(batch, tw_span_get_context(p2), NULL, 0), TW_OK);
    tw_span_end(batch);
    tw_span *e = tw_test_mem_find(f->mem, "settle batch");
    assert_non_null(e);
    assert_int_equal(e->n_links, 2);
    assert_memory_equal(e->links[0].span_id.bytes, tw_span_get_context(p1)->span_id.bytes, 8);
    assert_memory_equal(e->links[1].trace_id.bytes, tw_span_get_context(p2)->trace_id.bytes, 16);
    assert_string_equal(e->links[0].attrs.items[0].val.u.s, "m-1");
    assert_int_equal(e->links[0].flags & TW_FLAG_SAMPLED, TW_FLAG_SAMPLED);
    tw_span_end(p1);
    tw_span_end(p2);
}

static void test_rename_and_explicit_times(void **state) {
    fixture *f = *state;
    tw_span *s = tw_span_start(f->t, "GET /users/8123", &(tw_span_options){.start_ns = 1000});
    tw_span_set_name(s, "GET /users/:id");
    tw_span_end_at(s, 5000);
    tw_span *e = tw_test_mem_get(f->mem, 0);
    assert_string_equal(e->name, "GET /users/:id");
    assert_int_equal(e->start_ns, 1000);
    assert_int_equal(e->end_ns, 5000);
}

static void test_end_before_start_clamped(void **state) {
    fixture *f = *state;
    tw_span *s = tw_span_start(f->t, "skewed", &(tw_span_options){.start_ns = 5000});
    tw_span_end_at(s, 4000);
    assert_int_equal(tw_test_mem_get(f->mem, 0)->end_ns, 5000);
}

static void test_attach_survives_end_and_calls_after_end_are_ignored(void **state) {
    fixture *f = *state;
    tw_span *s = tw_span_start(f->t, "held", NULL);
    int tok = tw_span_attach(s);
    tw_span_end(s);
    assert_ptr_equal(tw_current_span(), s);
    assert_false(tw_span_is_recording(s));
    tw_span_set_str(tw_current_span(), "late", "ignored");
    tw_span_add_event(tw_current_span(), "late", 0, NULL, 0);
    assert_int_equal(tw_test_mem_get(f->mem, 0)->attrs.n, 0);
    assert_int_equal(tw_test_mem_get(f->mem, 0)->n_events, 0);
    assert_int_equal(tw_detach(tok), TW_OK);
}

/* ---- limits -------------------------------------------------------------------- */

static int setup_small_limits(void **state) {
    static const tw_span_limits lim = {.attr_count = 2, .attr_value_len = 4, .event_count = 1, .link_count = 1,
                                       .event_attr_count = 1, .link_attr_count = 1};
    return setup_with(state, tw_sampler_always_on(), &lim);
}

static void test_limits_drop_and_count(void **state) {
    fixture *f = *state;
    tw_span *s = tw_span_start(f->t, "limited", NULL);
    assert_int_equal(tw_span_set_str(s, "a", "abcdefgh"), TW_OK);
    assert_int_equal(tw_span_set_str(s, "b", "hhh\xc3\xa9"), TW_OK); /* a cut at 4 would split é */
    assert_int_equal(tw_span_set_str(s, "c", "x"), TW_ELIMIT);
    assert_int_equal(tw_span_set_str(s, "a", "replacing is not adding"), TW_OK);
    tw_attribute ea[] = {TW_ATTR_INT("k1", 1), TW_ATTR_INT("k2", 2)};
    assert_int_equal(tw_span_add_event(s, "e1", 0, ea, 2), TW_ELIMIT);
    assert_int_equal(tw_span_add_event(s, "e2", 0, NULL, 0), TW_ELIMIT);
    tw_span_context other = *tw_span_get_context(s);
    assert_int_equal(tw_span_add_link(s, &other, ea, 2), TW_ELIMIT);
    assert_int_equal(tw_span_add_link(s, &other, NULL, 0), TW_ELIMIT);
    tw_span_end(s);
    tw_span *e = tw_test_mem_get(f->mem, 0);
    assert_int_equal(e->attrs.n, 2);
    assert_int_equal(e->attrs.dropped, 1);
    assert_string_equal(attr(e, "a")->val.u.s, "repl");
    assert_int_equal(attr(e, "b")->val.n, 3); /* cut back to the character boundary */
    assert_string_equal(attr(e, "b")->val.u.s, "hhh");
    assert_int_equal(e->n_events, 1);
    assert_int_equal(e->dropped_events, 1);
    assert_int_equal(e->events[0].attrs.dropped, 1);
    assert_int_equal(e->n_links, 1);
    assert_int_equal(e->dropped_links, 1);
    assert_int_equal(e->links[0].attrs.dropped, 1);
}

/* ---- sampling off ---------------------------------------------------------------- */

static int setup_always_off(void **state) { return setup_with(state, tw_sampler_always_off(), NULL); }

static void test_unsampled_span_propagates_but_records_nothing(void **state) {
    fixture *f = *state;
    tw_span *s = tw_span_start(f->t, "dropped", NULL);
    assert_false(tw_span_is_recording(s));
    const tw_span_context *sc = tw_span_get_context(s);
    assert_true(tw_span_context_is_valid(sc));
    assert_int_equal(sc->flags & TW_FLAG_SAMPLED, 0);
    int tok = tw_span_attach(s);
    tw_span *child = tw_span_start(f->t, "child", NULL);
    assert_memory_equal(tw_span_get_context(child)->trace_id.bytes, sc->trace_id.bytes, 16);
    assert_int_equal(tw_span_set_str(child, "k", "v"), TW_OK); /* silently ignored */
    tw_span_end(child);
    tw_detach(tok);
    tw_span_end(s);
    assert_int_equal(tw_test_mem_count(f->mem), 0);
}

/* Span start decides always_on / always_off delegates without calling the
 * sampler: the verdict must be the sampler's for every parent case, and an
 * unsampled child keeps the parent's trace id, tracestate and random flag. */
static void test_fixed_verdicts_match_the_sampler(void **state) {
    (void)state;
    tw_sampler *ps = tw_sampler_parent_based(tw_sampler_always_off(), tw_sampler_always_on(), tw_sampler_always_off(),
                                             tw_sampler_always_off(), tw_sampler_always_on());
    fixture *f;
    setup_with((void **)&f, ps, NULL);
    for (int remote = 0; remote < 2; remote++)
        for (int sampled = 0; sampled < 3; sampled++) { /* 2: no parent */
            tw_context parent = TW_CONTEXT_INIT;
            for (int i = 0; i < 16; i++) parent.span.trace_id.bytes[i] = (uint8_t)(i + 1);
            parent.span.span_id.bytes[7] = 9;
            parent.span.flags = TW_FLAG_RANDOM | (sampled == 1 ? TW_FLAG_SAMPLED : 0);
            parent.span.is_remote = remote;
            assert_int_equal(tw_tracestate_parse("vendor=v1,ot=rv:ab", 18, &parent.span.state, NULL), TW_OK);
            tw_sampling_params sp = {.parent = sampled < 2 ? &parent : NULL, .trace_id = &parent.span.trace_id};
            tw_sampling_result want = tw_sampler_should_sample(ps, &sp);
            tw_tracestate_unref(want.state);
            tw_span *s = tw_span_start(f->t, "x", sampled < 2 ? &(tw_span_options){.parent = &parent} : &(tw_span_options){.root = true});
            const tw_span_context *sc = tw_span_get_context(s);
            assert_int_equal(tw_span_is_recording(s), want.decision == TW_RECORD_AND_SAMPLE);
            assert_int_equal(!!(sc->flags & TW_FLAG_SAMPLED), want.decision == TW_RECORD_AND_SAMPLE);
            assert_true(sc->flags & TW_FLAG_RANDOM);
            assert_false(sc->is_remote);
            assert_true(tw_span_context_is_valid(sc));
            if (sampled < 2) {
                assert_memory_equal(sc->trace_id.bytes, parent.span.trace_id.bytes, 16);
                assert_memory_not_equal(sc->span_id.bytes, parent.span.span_id.bytes, 8);
                char buf[64];
                assert_int_equal(tw_tracestate_format(sc->state, 0, buf, sizeof buf), 18);
                assert_string_equal(buf, "vendor=v1,ot=rv:ab");
            } else {
                assert_memory_not_equal(sc->trace_id.bytes, parent.span.trace_id.bytes, 16);
                assert_null(sc->state);
            }
            /* the expected verdicts of this parent-based sampler */
            bool keep = sampled == 2 ? false : remote ? sampled == 1 : sampled == 0;
            assert_int_equal(tw_span_is_recording(s), keep);
            tw_span_end(s);
            tw_context_release(&parent);
        }
    teardown((void **)&f);
}

static void test_noop_tracer_without_provider(void **state) {
    (void)state;
    tw_tracer *t = tw_tracer_get(NULL, "nobody", NULL); /* no global provider */
    tw_span *s = tw_span_start(t, "noop", NULL);
    assert_non_null(s);
    assert_false(tw_span_is_recording(s));
    assert_false(tw_span_context_is_valid(tw_span_get_context(s)));
    tw_span_set_str(s, "k", "v");
    tw_span_end(s);
}

static void test_after_shutdown_spans_do_not_record(void **state) {
    fixture *f = *state;
    assert_int_equal(tw_provider_shutdown(f->p, 1000), TW_OK);
    tw_span *s = tw_span_start(f->t, "late", NULL);
    assert_false(tw_span_is_recording(s));
    tw_span_end(s);
    assert_int_equal(tw_test_mem_count(f->mem), 0);
}

static void test_out_of_memory_gives_noop_span(void **state) {
    fixture *f = *state;
    /* Drain the pool (thread cache and global list) so start needs the heap. */
    enum { HOLD = TW__POOL_GLOBAL_MAX + 4 * TW__POOL_BATCH };
    tw_span **held = malloc(HOLD * sizeof *held);
    for (int i = 0; i < HOLD; i++) held[i] = tw_span_start(f->t, "hold", NULL);
    tw__alloc_fail_after(0);
    tw_span *s = tw_span_start(f->t, "starved", NULL);
    tw__alloc_fail_after(-1);
    assert_false(tw_span_is_recording(s));
    tw_span_end(s);

    /* A recording span whose arena overflows onto a failing heap reports it. */
    tw_span *big = tw_span_start(f->t, "big", NULL);
    char val[4000];
    memset(val, 'x', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    tw__alloc_fail_after(0);
    assert_int_equal(tw_span_set_str(big, "huge", val), TW_ENOMEM);
    tw__alloc_fail_after(-1);
    assert_int_equal(tw_span_set_str(big, "huge", val), TW_OK);
    tw_span_end(big);
    for (int i = 0; i < HOLD; i++) tw_span_end(held[i]);
    free(held);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_root_span_ids_and_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parent_from_current_explicit_and_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_attribute_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_existing_key_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_macro_and_function_forms_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attribute_fast_and_general_paths_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_attribute_keys_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_attributes_overflow_inline_arena, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_and_exception, setup, teardown),
        cmocka_unit_test_setup_teardown(test_links_at_start_and_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_and_explicit_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_before_start_clamped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attach_survives_end_and_calls_after_end_are_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_drop_and_count, setup_small_limits, teardown),
        cmocka_unit_test_setup_teardown(test_unsampled_span_propagates_but_records_nothing, setup_always_off, teardown),
        cmocka_unit_test(test_fixed_verdicts_match_the_sampler),
        cmocka_unit_test(test_noop_tracer_without_provider),
        cmocka_unit_test_setup_teardown(test_after_shutdown_spans_do_not_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory_gives_noop_span, setup, teardown),
    };
    return cmocka_run_group_tests_name("span", tests, NULL, NULL);
}
