/*
 * test_context.c — the thread's current context: nesting, out-of-order
 * detach, attaching remote contexts, copies handed to other threads,
 * baggage carried through attach.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "memory_exporter.h"
#include "trace/trace_int.h"

static tw_provider *provider;
static tw_tracer *tracer;
static tw_test_mem *mem;

static int setup(void **state) {
    tw_provider_options o = {.sampler = tw_sampler_always_on()};
    assert_int_equal(tw_provider_new(&o, &provider), TW_OK);
    tw_processor *proc;
    tw_processor_simple_new(tw_test_mem_new(&mem, 0), &proc);
    tw_provider_add_processor(provider, proc);
    tracer = tw_tracer_get(provider, "ctx", NULL);
    return 0;
}

static int teardown(void **state) {
    tw_provider_destroy(provider);
    return 0;
}

static void test_empty_current(void **state) {
    tw_span *s = tw_current_span();
    assert_non_null(s);
    assert_false(tw_span_context_is_valid(tw_span_get_context(s)));
    tw_context c;
    tw_current_context(&c);
    assert_false(tw_span_context_is_valid(&c.span));
    assert_null(c.baggage);
    tw_context_release(&c);
}

static void test_nesting(void **state) {
    tw_span *a = tw_span_start(tracer, "a", NULL);
    int ta = tw_span_attach(a);
    tw_span *b = tw_span_start(tracer, "b", NULL);
    int tb = tw_span_attach(b);
    assert_ptr_equal(tw_current_span(), b);
    assert_int_equal(tw_detach(tb), TW_OK);
    assert_ptr_equal(tw_current_span(), a);
    assert_int_equal(tw_detach(ta), TW_OK);
    assert_false(tw_span_context_is_valid(tw_span_get_context(tw_current_span())));
    tw_span_end(b);
    tw_span_end(a);
}

static void test_detach_out_of_order_repairs(void **state) {
    tw_span *a = tw_span_start(tracer, "a", NULL);
    int ta = tw_span_attach(a);
    int tb = tw_span_attach(a);
    int tc = tw_span_attach(a);
    assert_true(ta < tb && tb < tc);
    /* Detaching b while c is on top is a bug in the caller: reported, and
     * the stack is cut back to below b. */
    assert_int_equal(tw_detach(tb), TW_EINVAL);
    assert_ptr_equal(tw_current_span(), a);
    assert_int_equal(tw_detach(tc), TW_EINVAL); /* already gone */
    assert_int_equal(tw_detach(ta), TW_OK);
    assert_int_equal(tw_detach(ta), TW_EINVAL);
    assert_int_equal(tw_detach(0), TW_EINVAL);
    tw_span_end(a);
}

static void test_deep_nesting_grows(void **state) {
    tw_span *s = tw_span_start(tracer, "deep", NULL);
    int tokens[100];
    for (int i = 0; i < 100; i++) tokens[i] = tw_span_attach(s);
    for (int i = 99; i >= 0; i--) assert_int_equal(tw_detach(tokens[i]), TW_OK);
    tw_span_end(s);
}

static void test_attach_remote_context(void **state) {
    tw_context remote = TW_CONTEXT_INIT;
    tw_trace_id_from_hex("4bf92f3577b34da6a3ce929d0e0e4736", 32, &remote.span.trace_id);
    tw_span_id_from_hex("00f067aa0ba902b7", 16, &remote.span.span_id);
    remote.span.flags = TW_FLAG_SAMPLED;
    remote.span.is_remote = true;
    int tok = tw_context_attach(&remote);
    tw_span *cur = tw_current_span();
    assert_false(tw_span_is_recording(cur));
    assert_memory_equal(tw_span_get_context(cur)->span_id.bytes, remote.span.span_id.bytes, 8);
    tw_span *child = tw_span_start(tracer, "server", &(tw_span_options){.kind = TW_SPAN_KIND_SERVER});
    assert_true(child->parent_is_remote);
    assert_memory_equal(child->parent_id.bytes, remote.span.span_id.bytes, 8);
    tw_span_end(child);
    assert_int_equal(tw_detach(tok), TW_OK);
}

typedef struct handoff {
    tw_context ctx;
    tw_span_id child_parent;
    tw_trace_id child_trace;
} handoff;

static void *worker(void *arg) {
    handoff *h = arg;
    tw_span *s = tw_span_start(tracer, "in-pool", &(tw_span_options){.parent = &h->ctx});
    h->child_parent = s->parent_id;
    h->child_trace = tw_span_get_context(s)->trace_id;
    tw_span_end(s);
    tw_context_release(&h->ctx);
    return NULL;
}

static void test_context_handed_to_another_thread(void **state) {
    tw_span *s = tw_span_start(tracer, "request", NULL);
    int tok = tw_span_attach(s);
    handoff h;
    tw_current_context(&h.ctx);
    tw_detach(tok);
    tw_span_end(s); /* the copy outlives the span */
    pthread_t th;
    pthread_create(&th, NULL, worker, &h);
    pthread_join(th, NULL);
    assert_memory_equal(h.child_parent.bytes, tw_span_get_context(tw_test_mem_find(mem, "request"))->span_id.bytes, 8);
    assert_memory_equal(h.child_trace.bytes, tw_span_get_context(tw_test_mem_find(mem, "request"))->trace_id.bytes, 16);
}

static void test_baggage_kept_across_span_attach(void **state) {
    tw_baggage *bg = NULL;
    assert_int_equal(tw_baggage_set(NULL, "tenant.id", "acme", NULL, &bg), TW_OK);
    tw_context c = TW_CONTEXT_INIT;
    tw_context_set_baggage(&c, bg);
    tw_baggage_unref(bg);
    int t1 = tw_context_attach(&c);
    tw_context_release(&c);
    tw_span *s = tw_span_start(tracer, "with-baggage", NULL);
    int t2 = tw_span_attach(s);
    tw_str v;
    assert_int_equal(tw_baggage_get(tw_current_baggage(), "tenant.id", &v), TW_OK);
    assert_int_equal(v.len, 4);
    assert_memory_equal(v.ptr, "acme", 4);
    tw_detach(t2);
    tw_span_end(s);
    tw_detach(t1);
    assert_null(tw_current_baggage());
}

static void test_context_set_span(void **state) {
    tw_span *s = tw_span_start(tracer, "s", NULL);
    tw_context c = TW_CONTEXT_INIT;
    tw_context_set_span(&c, s);
    assert_memory_equal(c.span.span_id.bytes, tw_span_get_context(s)->span_id.bytes, 8);
    tw_context copy;
    tw_context_copy(&copy, &c);
    tw_context_release(&c);
    assert_memory_equal(copy.span.span_id.bytes, tw_span_get_context(s)->span_id.bytes, 8);
    tw_context_release(&copy);
    assert_false(tw_span_context_is_valid(&copy.span));
    tw_span_end(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_current),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_detach_out_of_order_repairs),
        cmocka_unit_test(test_deep_nesting_grows),
        cmocka_unit_test(test_attach_remote_context),
        cmocka_unit_test(test_context_handed_to_another_thread),
        cmocka_unit_test(test_baggage_kept_across_span_attach),
        cmocka_unit_test(test_context_set_span),
    };
    return cmocka_run_group_tests_name("context", tests, setup, teardown);
}
