/*
 * bench_sdk.c — the SDK's hot paths, one line per figure: "name value unit".
 *
 *   clock_now              one span timestamp (rdtsc + anchor where usable),
 *                          beside clock_gettime(CLOCK_REALTIME)
 *   cache_line_handoff     one cache line passed between two threads (the
 *                          machine's cross-core cost, which the next moves with)
 *   span_sampled_4attrs    a sampled span, 4 attributes, start to end into
 *                          the batch queue (a worker drains it meanwhile)
 *   span_unsampled         start + end of a span the sampler dropped
 *   span_unsampled_allocs  malloc calls per unsampled span (must be 0)
 *   traceparent_parse / _format           the header codec alone
 *   tracecontext_extract / _inject        through the propagator and an
 *                                          HTTP header carrier
 *   baggage_parse_10       a 10-entry baggage header
 *
 * Each figure is the best of 5 runs (least disturbed by the other core's
 * work). malloc/calloc/realloc are wrapped at link time to count calls.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "export/export_int.h"
#include "trace/trace_int.h"

/* ---- allocation counting (-Wl,--wrap=malloc,...) ---------------------------------- */

static _Atomic uint64_t allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t s);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n) {
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t s) {
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __real_calloc(n, s);
}
void *__wrap_realloc(void *p, size_t n) {
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __real_realloc(p, n);
}

/* ---- a discarding exporter ------------------------------------------------------------ */

static int discard_export(tw_exporter *e, tw_span *const *spans, size_t n, uint64_t deadline) { return TW_OK; }
static void discard_shutdown(tw_exporter *e) {}
static void discard_destroy(tw_exporter *e) { free(e); }
static const tw__exporter_ops discard_ops = {
    .export_spans = discard_export, .shutdown = discard_shutdown, .destroy = discard_destroy};

static tw_exporter *discard_new(void) {
    tw_exporter *e = calloc(1, sizeof *e);
    e->ops = &discard_ops;
    return e;
}

/* ---- timing ----------------------------------------------------------------------------- */

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define BEST_OF(result_ns_per_op, iters, body)                         \
    do {                                                               \
        double best_ = 1e30;                                           \
        for (int run_ = 0; run_ < 5; run_++) {                         \
            uint64_t t0_ = mono_ns();                                  \
            for (long i_ = 0; i_ < (iters); i_++) { body; }            \
            double per_ = (double)(mono_ns() - t0_) / (double)(iters); \
            if (per_ < best_) best_ = per_;                            \
        }                                                              \
        (result_ns_per_op) = best_;                                    \
    } while (0)

static volatile int sink;

static void bench_sampled(void) {
    tw_provider *p;
    tw_provider_new(&(tw_provider_options){.sampler = tw_sampler_always_on()}, &p);
    tw_processor *proc;
    tw_processor_batch_new(discard_new(), &(tw_batch_options){.max_queue_size = 1 << 20, .schedule_delay_ms = 50}, &proc);
    tw_provider_add_processor(p, proc);
    tw_tracer *t = tw_tracer_get(p, "bench", NULL);
    const long iters = 200000;
    double ns;
    BEST_OF(ns, iters, {
        tw_span *s = tw_span_start(t, "GET /checkout", NULL);
        tw_span_set_str(s, "http.request.method", "GET");
        tw_span_set_str(s, "http.route", "/checkout");
        tw_span_set_int(s, "http.response.status_code", 200);
        tw_span_set_str(s, "server.address", "checkout.internal");
        tw_span_end(s);
    });
    tw_provider_force_flush(p, 10000);
    tw_processor_stats st;
    tw_processor_get_stats(proc, &st);
    printf("span_sampled_4attrs %.1f ns/span\n", ns);
    printf("span_sampled_dropped %llu spans\n", (unsigned long long)st.spans_dropped);
    tw_provider_destroy(p);
}

static void bench_unsampled(void) {
    tw_provider *p;
    tw_provider_new(&(tw_provider_options){.sampler = tw_sampler_always_off()}, &p);
    tw_processor *proc;
    tw_processor_batch_new(discard_new(), NULL, &proc);
    tw_provider_add_processor(p, proc);
    tw_tracer *t = tw_tracer_get(p, "bench", NULL);
    const long iters = 2000000;
    double ns;
    tw_span_end(tw_span_start(t, "warm", NULL));
    BEST_OF(ns, iters, {
        tw_span *s = tw_span_start(t, "GET /checkout", NULL);
        tw_span_end(s);
    });
    uint64_t a0 = atomic_load(&allocs);
    for (long i = 0; i < iters; i++) tw_span_end(tw_span_start(t, "GET /checkout", NULL));
    uint64_t a1 = atomic_load(&allocs);
    printf("span_unsampled %.1f ns/span\n", ns);
    printf("span_unsampled_allocs %.3f allocs/span\n", (double)(a1 - a0) / (double)iters);
    tw_provider_destroy(p);
}

static void bench_propagation(void) {
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const long iters = 5000000;
    double ns;
    tw_span_context sc = {0};
    BEST_OF(ns, iters, { sink += tw_traceparent_parse(tp, 55, &sc, NULL); });
    printf("traceparent_parse %.1f ns/op\n", ns);
    char out[TW_TRACEPARENT_LEN + 1];
    BEST_OF(ns, iters, {
        sc.span_id.bytes[0] = (uint8_t)i_;
        tw_traceparent_format(&sc, out);
        sink += out[40];
    });
    printf("traceparent_format %.1f ns/op\n", ns);

    tw_propagator *prop = tw_propagator_tracecontext();
    tw_http_headers h;
    tw_http_headers_init(&h);
    tw_http_headers_add(&h, "content-type", "application/json", 16);
    tw_http_headers_add(&h, "traceparent", tp, 55);
    tw_http_headers_add(&h, "user-agent", "bench", 5);
    tw_carrier c = tw_http_headers_carrier(&h);
    BEST_OF(ns, iters / 5, {
        tw_context ctx = TW_CONTEXT_INIT;
        tw_propagator_extract(prop, &c, &ctx);
        sink += ctx.span.flags;
        tw_context_release(&ctx);
    });
    printf("tracecontext_extract %.1f ns/op\n", ns);
    tw_context ctx = TW_CONTEXT_INIT;
    tw_propagator_extract(prop, &c, &ctx);
    tw_http_headers out_h;
    tw_http_headers_init(&out_h);
    tw_carrier oc = tw_http_headers_carrier(&out_h);
    tw_propagator_inject(prop, &ctx, &oc); /* first inject allocates the header slot */
    BEST_OF(ns, iters / 5, { tw_propagator_inject(prop, &ctx, &oc); });
    printf("tracecontext_inject %.1f ns/op\n", ns);
    tw_context_release(&ctx);
    tw_http_headers_free(&out_h);
    tw_http_headers_free(&h);
    tw_propagator_destroy(prop);

    const char *bg = "tenant.id=acme,enduser.role=admin,region=eu-west-1,az=eu-west-1a,tier=gold,"
                     "feature.flag=new-checkout,request.priority=high,client.version=4.2.1,"
                     "experiment=blue%20green;p=1,locale=de-DE";
    size_t bl = strlen(bg);
    BEST_OF(ns, iters / 20, {
        tw_baggage *b = NULL;
        tw_baggage_parse(bg, bl, &b, NULL);
        sink += (int)tw_baggage_count(b);
        tw_baggage_unref(b);
    });
    printf("baggage_parse_10 %.1f ns/op\n", ns);
}

/* The machine's cross-core cost: two threads pass one cache line back and
 * forth; the time per one-way hand-off. The sampled-span figure depends on
 * it (the batch worker on the other core frees what the caller reuses). */
static _Atomic long handoff __attribute__((aligned(64)));
#define HANDOFFS 2000000L
static void *handoff_peer(void *arg) {
    (void)arg;
    for (long i = 1; i < HANDOFFS; i += 2) {
        while (atomic_load_explicit(&handoff, memory_order_acquire) != i) {}
        atomic_store_explicit(&handoff, i + 1, memory_order_release);
    }
    return NULL;
}
static void bench_handoff(void) {
    pthread_t t;
    atomic_store(&handoff, 0);
    pthread_create(&t, NULL, handoff_peer, NULL);
    uint64_t t0 = mono_ns();
    for (long i = 0; i < HANDOFFS; i += 2) {
        while (atomic_load_explicit(&handoff, memory_order_acquire) != i) {}
        atomic_store_explicit(&handoff, i + 1, memory_order_release);
    }
    pthread_join(t, NULL);
    printf("cache_line_handoff %.1f ns/one-way\n", (double)(mono_ns() - t0) / (double)HANDOFFS);
}

/* One timestamp as spans take it, and the system call it replaces. */
static void bench_clock(void) {
    const long iters = 2000000;
    double ns, sys_ns;
    uint64_t acc = 0;
    for (int i = 0; i < 1000 && tw__clock_source() != TW_CLOCK_TSC; i++) { /* past calibration */
        acc += tw__clock_ns();
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    }
    BEST_OF(ns, iters, { acc += tw__clock_ns(); });
    BEST_OF(sys_ns, iters, {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        acc += (uint64_t)ts.tv_nsec;
    });
    sink += (int)acc;
    static const char *const names[] = {"system", "calibrating", "tsc"};
    printf("clock_now %.1f ns/read (%s)\n", ns, names[tw__clock_source()]);
    printf("clock_gettime_realtime %.1f ns/read\n", sys_ns);
}

/* With an argument, only that group runs (for profiling): clock, unsampled,
 * sampled (with the hand-off figure), propagation. */
int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL;
    if (!only || strcmp(only, "clock") == 0) bench_clock();
    if (!only || strcmp(only, "sampled") == 0) bench_handoff();
    if (!only || strcmp(only, "unsampled") == 0) bench_unsampled();
    if (!only || strcmp(only, "sampled") == 0) bench_sampled();
    if (!only || strcmp(only, "propagation") == 0) bench_propagation();
    return 0;
}
