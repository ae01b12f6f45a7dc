/*
 * test_tailsample.c — the tail_sampling processor (pipeline/tailsample.c):
 * the article's "every error, every slow trace, 5% of the rest" over
 * 20,000 traces whose spans arrive in several batches (kept traces arrive
 * whole, healthy ones at 5% ± 1%); late spans follow their trace's
 * decision through the cache; drop beats sample; each policy type on
 * traces made to match or not; num_traces bounds memory with an eviction
 * count; tenants never share a decision; the oldest held LSN.
 *
 * Every test runs twice: with batches kept in memory, and with batches
 * "in the WAL" (encoded here, freed by the sampler, read back in reverse
 * span order by a reload function when decided), where the sampler must
 * hold only tens of bytes per span; plus a failing read-back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "pipeline/tailsample.h"

/* ---- building batches --------------------------------------------------------------------- */

typedef struct spec {
    uint32_t trace;      /* trace number: the id is derived from it */
    uint8_t status;      /* OTLP status code */
    uint64_t start_ms, end_ms;
    const char *str_key, *str_val; /* one string attribute, or NULL */
    const char *num_key;
    int64_t num_val;
    const char *trace_state;
} spec;

static void trace_id(uint32_t n, uint8_t id[16]) {
    memset(id, 0, 16);
    /* spread the bits so the ids look random to the hash */
    uint64_t x = (uint64_t)n * 0x9E3779B97F4A7C15ull + 1;
    memcpy(id, &x, 8);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    memcpy(id + 8, &x, 8);
}

static tw_str str(tws_batch *b, const char *s) {
    tw_str out;
    assert_int_equal(tws_batch_str(b, s, strlen(s), &out), TW_OK);
    return out;
}

static void make_batch(tws_batch *b, const spec *sp, size_t n) {
    tws_batch_init(b);
    b->resources = tws_batch_alloc(b, sizeof *b->resources);
    b->scopes = tws_batch_alloc(b, sizeof *b->scopes);
    b->spans = tws_batch_alloc(b, n * sizeof *b->spans + 1);
    assert_non_null(b->resources);
    assert_non_null(b->scopes);
    assert_non_null(b->spans);
    memset(b->resources, 0, sizeof *b->resources);
    memset(b->scopes, 0, sizeof *b->scopes);
    b->n_resources = b->n_scopes = 1;
    for (size_t i = 0; i < n; i++) {
        tws_span *s = &b->spans[i];
        memset(s, 0, sizeof *s);
        trace_id(sp[i].trace, s->trace_id);
        s->span_id[0] = (uint8_t)(i + 1);
        s->span_id[7] = 1;
        s->status_code = sp[i].status;
        s->start_ns = sp[i].start_ms * 1000000ull;
        s->end_ns = sp[i].end_ms * 1000000ull;
        s->name = str(b, "op");
        uint32_t na = (sp[i].str_key != NULL) + (sp[i].num_key != NULL);
        if (na) {
            s->attrs.items = tws_batch_alloc(b, na * sizeof(tws_kv));
            assert_non_null(s->attrs.items);
            if (sp[i].str_key) {
                tws_kv *kv = &s->attrs.items[s->attrs.n++];
                kv->key = str(b, sp[i].str_key);
                kv->val = (tws_value){.type = TWS_STRING, .u.s = str(b, sp[i].str_val)};
            }
            if (sp[i].num_key) {
                tws_kv *kv = &s->attrs.items[s->attrs.n++];
                kv->key = str(b, sp[i].num_key);
                kv->val = (tws_value){.type = TWS_INT, .u.i = sp[i].num_val};
            }
        }
        if (sp[i].trace_state) s->trace_state = str(b, sp[i].trace_state);
    }
    b->n_spans = (uint32_t)n;
}

/* ---- what comes out ------------------------------------------------------------------------- */

#define MAX_TRACES 20000

typedef struct sink {
    uint32_t kept[MAX_TRACES], seen[MAX_TRACES]; /* spans per trace number */
    uint32_t batches;
    uint64_t last_lsn;
    char last_tenant[160];
} sink;

static uint32_t trace_number(const uint8_t id[16]) {
    /* ids are made from numbers below MAX_TRACES: find it back */
    static uint8_t ids[MAX_TRACES][16];
    static int ready;
    if (!ready) {
        for (uint32_t i = 0; i < MAX_TRACES; i++) trace_id(i, ids[i]);
        ready = 1;
    }
    uint64_t x;
    memcpy(&x, id, 8);
    uint32_t n = (uint32_t)((x - 1) * 0xF1DE83E19937733Dull); /* the inverse of the golden multiplier mod 2^64 */
    assert_true(n < MAX_TRACES);
    assert_memory_equal(ids[n], id, 16);
    return n;
}

static void on_emit(void *user, tws_batch *b, const tws_ts_batch_info *info) {
    sink *s = user;
    s->batches++;
    s->last_lsn = info->lsn;
    snprintf(s->last_tenant, sizeof s->last_tenant, "%s", info->tenant);
    for (uint32_t i = 0; i < b->n_spans; i++) {
        uint32_t n = trace_number(b->spans[i].trace_id);
        s->seen[n]++;
        if (!b->spans[i].reject) s->kept[n]++;
        else assert_int_equal(b->spans[i].reject, TWS_REJECT_SAMPLED);
    }
    tws_batch_free(b);
}

/* ---- batches read back instead of kept ------------------------------------------------------- */

static int reload_mode;    /* set by the group's setup */
static int reload_fail_at; /* this wal_section fails to read back; 0: none */

typedef struct stored {
    uint8_t *p;
    size_t n;
} stored;
static stored *saved;
static uint32_t n_saved, cap_saved;

static int reload_fn(void *user, const tws_ts_batch_info *info, tws_batch *out) {
    (void)user;
    assert_true(info->wal_section >= 1 && info->wal_section <= n_saved);
    stored *st = &saved[info->wal_section - 1];
    assert_non_null(st->p); /* each batch is read back once */
    if ((int)info->wal_section == reload_fail_at) return TW_EIO;
    tws_decode_options o = {0};
    tws_decode_error e;
    assert_int_equal(tws_otlp_decode_pb(st->p, st->n, &o, out, &e), TW_OK);
    free(st->p);
    st->p = NULL;
    for (uint32_t i = 0; i < out->n_spans / 2; i++) { /* the order it comes back in must not matter */
        tws_span x = out->spans[i];
        out->spans[i] = out->spans[out->n_spans - 1 - i];
        out->spans[out->n_spans - 1 - i] = x;
    }
    return TW_OK;
}

static int setup_memory(void **state) {
    (void)state;
    reload_mode = 0;
    return 0;
}

static int setup_reload(void **state) {
    (void)state;
    reload_mode = 1;
    reload_fail_at = 0;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (uint32_t i = 0; i < n_saved; i++) free(saved[i].p);
    free(saved);
    saved = NULL;
    n_saved = cap_saved = 0;
    return 0;
}

static tws_tailsampler *new_sampler(const tws_ts_config *c, sink *out) {
    tws_tailsampler *t;
    assert_int_equal(tws_tailsampler_new(c, on_emit, out, &t), TW_OK);
    if (reload_mode) tws_tailsampler_set_reload(t, reload_fn, NULL);
    return t;
}

/* Give b to the sampler; in reload mode "write it to the WAL" first. */
static int give(tws_tailsampler *t, tws_batch *b, tws_ts_batch_info *info, uint64_t now_ms) {
    if (reload_mode) {
        tw__buf buf;
        tw__buf_init(&buf, 0);
        assert_int_equal(tws_otlp_encode_pb(&(tws_selection){b, NULL, 0}, 1, 1, &buf), TW_OK);
        if (n_saved == cap_saved) {
            cap_saved = cap_saved ? cap_saved * 2 : 256;
            saved = realloc(saved, cap_saved * sizeof *saved);
        }
        saved[n_saved++] = (stored){buf.data, buf.len};
        info->wal_section = n_saved;
    }
    int rc = tws_tailsampler_add(t, b, info, now_ms);
    assert_int_equal(b->n_spans, 0); /* taken */
    return rc;
}

static void add(tws_tailsampler *t, const spec *sp, size_t n, uint64_t lsn, uint64_t now_ms) {
    tws_batch b;
    make_batch(&b, sp, n);
    tws_ts_batch_info info = {.tenant = "t", .bytes = 1000, .lsn = lsn};
    assert_int_equal(give(t, &b, &info, now_ms), TW_OK);
}

static tws_ts_policy policy(const char *name, tws_ts_type type) {
    tws_ts_policy p = {.name = strdup(name), .type = type};
    return p;
}

static void set_values(tws_ts_policy *p, const char *key, const char *const *vals, uint32_t n) {
    p->key = strdup(key);
    p->values = calloc(n, sizeof *p->values);
    for (uint32_t i = 0; i < n; i++) p->values[i] = strdup(vals[i]);
    p->n_values = n;
}

/* ---- the article's policy: errors + slow + 5% ------------------------------------------------ */

static void test_errors_slow_baseline(void **state) {
    (void)state;
    tws_ts_policy pol[3] = {policy("errors", TWS_TS_STATUS_CODE), policy("slow", TWS_TS_LATENCY),
                            policy("baseline", TWS_TS_PROBABILISTIC)};
    pol[0].status_mask = 1u << 2;
    pol[1].threshold_ms = 500;
    pol[2].percentage = 5;
    tws_ts_config c = {.decision_wait_ms = 10000, .num_traces = 50000, .policies = pol, .n_policies = 3};
    sink *out = calloc(1, sizeof *out);
    tws_tailsampler *t;
    t = new_sampler(&c, out);

    /* 20,000 traces of 3 spans; each batch holds spans of 100 traces, a
     * trace's three spans in three consecutive batches (as a service's
     * spans reach the gateway in different exports). Trace n is an error
     * when n % 100 == 7, slow when n % 100 == 42. */
    enum { N = MAX_TRACES, PER = 100 };
    spec *sp = calloc(PER, sizeof *sp);
    uint64_t lsn = 1, now = 1000;
    for (uint32_t first = 0; first < N; first += PER) {
        for (uint32_t part = 0; part < 3; part++) {
            for (uint32_t k = 0; k < PER; k++) {
                uint32_t n = first + k;
                bool slow = n % 100 == 42;
                sp[k] = (spec){.trace = n, .start_ms = 100, .end_ms = part == 0 ? (slow ? 900 : 110) : 105,
                               .status = (n % 100 == 7 && part == 2) ? 2 : 0};
            }
            add(t, sp, PER, lsn++, now);
        }
        now += 1; /* 200 traces a second ... */
    }
    tws_ts_stats st;
    tws_tailsampler_get_stats(t, &st);
    assert_int_equal(st.traces_in_memory, N);
    assert_int_equal(out->batches, 0); /* nothing decided before the wait */
    assert_int_equal(st.batches_held, 3 * N / PER);
    if (reload_mode) { /* only the sampler's records: tens of bytes per span */
        if (st.bytes_held > 40ull * 3 * N) fail_msg("%llu bytes held for %u spans", (unsigned long long)st.bytes_held, 3 * N);
    } else {
        assert_true(st.bytes_held >= 1000ull * 3 * N / PER); /* the batches themselves */
    }
    assert_int_equal(tws_tailsampler_oldest_lsn(t), 1);
    tws_tailsampler_tick(t, now + 10000);

    uint32_t healthy = 0, healthy_kept = 0;
    for (uint32_t n = 0; n < N; n++) {
        assert_int_equal(out->seen[n], 3);
        assert_true(out->kept[n] == 0 || out->kept[n] == 3); /* a trace is kept whole or not at all */
        if (n % 100 == 7 || n % 100 == 42) {
            if (out->kept[n] != 3) fail_msg("trace %u (error or slow) was not kept", n);
        } else {
            healthy++;
            healthy_kept += out->kept[n] == 3;
        }
    }
    double pct = 100.0 * healthy_kept / healthy;
    if (pct < 4 || pct > 6) fail_msg("healthy traces kept at %.2f%%, want 5%% +- 1%%", pct);
    tws_tailsampler_get_stats(t, &st);
    assert_int_equal(st.traces_in_memory, 0);
    assert_int_equal(st.batches_held, 0);
    assert_int_equal(st.evicted, 0);
    assert_int_equal(st.reloads, reload_mode ? 3 * N / PER : 0); /* every batch came back from "the WAL" */
    assert_int_equal(st.traces_sampled, 400 + healthy_kept);
    assert_int_equal(st.traces_not_sampled, N - 400 - healthy_kept);
    assert_int_equal(tws_tailsampler_oldest_lsn(t), UINT64_MAX);
    const tws_ts_policy_stats *ps = tws_tailsampler_policy_stats(t);
    assert_int_equal(ps[0].sampled, 200);
    assert_int_equal(ps[0].not_sampled, N - 200);
    assert_int_equal(ps[1].sampled, 200);
    assert_int_equal(ps[2].sampled + ps[2].not_sampled, N);

    /* Late spans: one more span for each of the first 1,000 traces follows
     * the decision (the error ones are kept, most healthy ones are not). */
    memset(out->kept, 0, sizeof out->kept);
    uint32_t was[1000];
    for (uint32_t n = 0; n < 1000; n++) was[n] = out->seen[n] = 0;
    for (uint32_t first = 0; first < 1000; first += PER) {
        for (uint32_t k = 0; k < PER; k++) sp[k] = (spec){.trace = first + k, .start_ms = 100, .end_ms = 101};
        add(t, sp, PER, lsn++, now + 20000);
    }
    for (uint32_t n = 0; n < 1000; n++) was[n] = out->kept[n];
    tws_tailsampler_get_stats(t, &st);
    assert_int_equal(st.traces_in_memory, 0); /* settled at once, from the cache */
    assert_int_equal(st.late_spans_sampled + st.late_spans_not_sampled, 1000);
    for (uint32_t n = 0; n < 1000; n++) {
        assert_int_equal(out->seen[n], 1);
        if (n % 100 == 7 || n % 100 == 42) assert_int_equal(was[n], 1);
    }
    /* the same verdicts as before, trace by trace */
    tws_tailsampler *t2;
    sink *out2 = calloc(1, sizeof *out2);
    t2 = new_sampler(&c, out2);
    for (uint32_t first = 0; first < 1000; first += PER) {
        for (uint32_t k = 0; k < PER; k++) sp[k] = (spec){.trace = first + k, .start_ms = 100, .end_ms = 101};
        add(t2, sp, PER, 1, 0);
    }
    tws_tailsampler_flush(t2, 1);
    for (uint32_t n = 0; n < 1000; n++)
        if (n % 100 != 7 && n % 100 != 42) assert_int_equal(out2->kept[n], was[n]); /* the hash alone decided */
    tws_tailsampler_free(t2);
    free(out2);

    tws_tailsampler_free(t);
    for (int i = 0; i < 3; i++) tws_ts_policy_free(&pol[i]);
    free(sp);
    free(out);
}

/* ---- one policy at a time ------------------------------------------------------------------ */

/* Decide one trace made of `sp` under `pol`: kept? */
static bool kept_by(tws_ts_policy *pol, uint32_t n_pol, const spec *sp, size_t n) {
    tws_ts_config c = {.decision_wait_ms = 1, .num_traces = 10, .policies = pol, .n_policies = n_pol};
    sink *out = calloc(1, sizeof *out);
    tws_tailsampler *t;
    t = new_sampler(&c, out);
    add(t, sp, n, 1, 0);
    tws_tailsampler_tick(t, 5);
    bool k = out->kept[sp[0].trace] == n;
    assert_true(k || out->kept[sp[0].trace] == 0);
    tws_tailsampler_free(t);
    free(out);
    return k;
}

static void test_policies(void **state) {
    (void)state;
    spec plain[2] = {{.trace = 1, .start_ms = 0, .end_ms = 10}, {.trace = 1, .start_ms = 2, .end_ms = 8}};
    spec attr[2] = {{.trace = 2, .end_ms = 5, .str_key = "http.route", .str_val = "/api/orders/17"},
                    {.trace = 2, .end_ms = 5, .num_key = "http.status_code", .num_val = 503,
                     .trace_state = "rojo=00f067aa0ba902b7, vendor=tier:gold"}};

    tws_ts_policy p = policy("always", TWS_TS_ALWAYS_SAMPLE);
    assert_true(kept_by(&p, 1, plain, 2));
    tws_ts_policy_free(&p);

    p = policy("lat", TWS_TS_LATENCY);
    p.threshold_ms = 10;
    assert_true(kept_by(&p, 1, plain, 2)); /* 0 .. 10 ms */
    p.threshold_ms = 11;
    assert_false(kept_by(&p, 1, plain, 2));
    p.threshold_ms = 5, p.upper_threshold_ms = 9;
    assert_false(kept_by(&p, 1, plain, 2)); /* above the upper threshold */
    tws_ts_policy_free(&p);

    p = policy("str", TWS_TS_STRING_ATTRIBUTE);
    set_values(&p, "http.route", (const char *const[]){"/api/orders/17", "/x"}, 2);
    assert_true(kept_by(&p, 1, attr, 2));
    assert_false(kept_by(&p, 1, plain, 2));
    p.invert = true;
    assert_false(kept_by(&p, 1, attr, 2));
    assert_true(kept_by(&p, 1, plain, 2));
    tws_ts_policy_free(&p);

    p = policy("re", TWS_TS_STRING_ATTRIBUTE);
    set_values(&p, "http.route", (const char *const[]){"orders/[0-9]+"}, 1);
    char err[200];
    p.regexes = calloc(1, sizeof *p.regexes);
    p.regexes[0] = tws_regex_compile(p.values[0], strlen(p.values[0]), 0, err, sizeof err);
    assert_non_null(p.regexes[0]);
    assert_true(kept_by(&p, 1, attr, 2)); /* unanchored, as Go's MatchString */
    tws_ts_policy_free(&p);

    p = policy("num", TWS_TS_NUMERIC_ATTRIBUTE);
    p.key = strdup("http.status_code");
    p.has_min = true, p.min_value = 500, p.has_max = true, p.max_value = 599;
    assert_true(kept_by(&p, 1, attr, 2));
    p.min_value = 504;
    assert_false(kept_by(&p, 1, attr, 2));
    p.has_max = false, p.min_value = 503;
    assert_true(kept_by(&p, 1, attr, 2)); /* open above */
    tws_ts_policy_free(&p);

    p = policy("count", TWS_TS_SPAN_COUNT);
    p.min_spans = 2;
    assert_true(kept_by(&p, 1, plain, 2));
    p.min_spans = 3;
    assert_false(kept_by(&p, 1, plain, 2));
    p.min_spans = 1, p.max_spans = 1;
    assert_false(kept_by(&p, 1, plain, 2));
    tws_ts_policy_free(&p);

    p = policy("ts", TWS_TS_TRACE_STATE);
    set_values(&p, "vendor", (const char *const[]){"tier:gold"}, 1);
    assert_true(kept_by(&p, 1, attr, 2));
    assert_false(kept_by(&p, 1, plain, 2));
    tws_ts_policy_free(&p);

    p = policy("st", TWS_TS_STATUS_CODE);
    p.status_mask = 1u << 0; /* UNSET */
    assert_true(kept_by(&p, 1, plain, 2));
    p.status_mask = 1u << 2;
    assert_false(kept_by(&p, 1, plain, 2));
    tws_ts_policy_free(&p);

    /* and: both; not: the opposite; drop beats always_sample */
    tws_ts_policy two[2];
    two[0] = policy("and", TWS_TS_AND);
    two[0].subs = calloc(2, sizeof *two[0].subs);
    two[0].n_subs = 2;
    two[0].subs[0] = policy("a", TWS_TS_SPAN_COUNT);
    two[0].subs[0].min_spans = 2;
    two[0].subs[1] = policy("b", TWS_TS_LATENCY);
    two[0].subs[1].threshold_ms = 5;
    assert_true(kept_by(&two[0], 1, plain, 2));
    two[0].subs[1].threshold_ms = 50;
    assert_false(kept_by(&two[0], 1, plain, 2));
    two[0].type = TWS_TS_DROP;
    two[0].subs[1].threshold_ms = 5;
    two[1] = policy("all", TWS_TS_ALWAYS_SAMPLE);
    assert_false(kept_by(two, 2, plain, 2)); /* every drop sub-policy matched: dropped */
    two[0].subs[1].threshold_ms = 50;
    assert_true(kept_by(two, 2, plain, 2)); /* the drop did not match: always_sample keeps it */
    tws_ts_policy_free(&two[0]);
    tws_ts_policy_free(&two[1]);

    p = policy("not", TWS_TS_NOT);
    p.subs = calloc(1, sizeof *p.subs);
    p.n_subs = 1;
    p.subs[0] = policy("lat", TWS_TS_LATENCY);
    p.subs[0].threshold_ms = 50;
    assert_true(kept_by(&p, 1, plain, 2));
    p.subs[0].threshold_ms = 5;
    assert_false(kept_by(&p, 1, plain, 2));
    tws_ts_policy_free(&p);
}

static void test_rate_limits(void **state) {
    (void)state;
    /* rate_limiting: 10 spans a second; traces of 3 spans: 3 fit, the 4th not, the next second again */
    tws_ts_policy p = policy("rate", TWS_TS_RATE_LIMITING);
    p.spans_per_second = 10;
    tws_ts_config c = {.decision_wait_ms = 0, .num_traces = 100, .policies = &p, .n_policies = 1};
    sink *out = calloc(1, sizeof *out);
    tws_tailsampler *t;
    t = new_sampler(&c, out);
    spec sp[3];
    for (uint32_t n = 0; n < 5; n++) {
        for (int k = 0; k < 3; k++) sp[k] = (spec){.trace = n, .end_ms = 1};
        add(t, sp, 3, 1, n < 4 ? 1000 : 2000);
        tws_tailsampler_tick(t, n < 4 ? 1000 : 2000);
    }
    assert_int_equal(out->kept[0] + out->kept[1] + out->kept[2], 9);
    assert_int_equal(out->kept[3], 0);
    assert_int_equal(out->kept[4], 3);
    tws_tailsampler_free(t);
    tws_ts_policy_free(&p);

    /* composite: 10 spans a second, 60% to errors, the rest to always_sample */
    memset(out, 0, sizeof *out);
    p = policy("comp", TWS_TS_COMPOSITE);
    p.spans_per_second = 10;
    p.subs = calloc(2, sizeof *p.subs);
    p.n_subs = 2;
    p.subs[0] = policy("errors", TWS_TS_STATUS_CODE);
    p.subs[0].status_mask = 1u << 2;
    p.subs[1] = policy("rest", TWS_TS_ALWAYS_SAMPLE);
    p.rate_percent = malloc(2 * sizeof *p.rate_percent);
    p.rate_percent[0] = 60, p.rate_percent[1] = -1; /* the rest: 40% */
    c.policies = &p;
    t = new_sampler(&c, out);
    for (uint32_t n = 0; n < 6; n++) { /* traces of 2 spans: 3 error traces fit 6 spans; 2 healthy fit 4 */
        for (int k = 0; k < 2; k++) sp[k] = (spec){.trace = n, .end_ms = 1, .status = n < 4 ? 2 : 0};
        add(t, sp, 2, 1, 5000);
        tws_tailsampler_tick(t, 5000);
    }
    assert_int_equal(out->kept[0] + out->kept[1] + out->kept[2], 6);
    assert_int_equal(out->kept[3], 2); /* the errors' share is spent: taken by the second sub-policy */
    assert_int_equal(out->kept[4], 2);
    assert_int_equal(out->kept[5], 0); /* both shares spent */
    tws_tailsampler_free(t);
    tws_ts_policy_free(&p);
    free(out);
}

static void test_bounds_and_tenants(void **state) {
    (void)state;
    tws_ts_policy p = policy("str", TWS_TS_STRING_ATTRIBUTE);
    set_values(&p, "keep", (const char *const[]){"yes"}, 1);
    tws_ts_config c = {.decision_wait_ms = 60000, .num_traces = 10, .policies = &p, .n_policies = 1};
    sink *out = calloc(1, sizeof *out);
    tws_tailsampler *t;
    t = new_sampler(&c, out);
    spec sp[1];
    for (uint32_t n = 0; n < 25; n++) {
        sp[0] = (spec){.trace = n, .end_ms = 1, .str_key = "keep", .str_val = "yes"};
        add(t, sp, 1, 100 + n, 0);
        tws_ts_stats st;
        tws_tailsampler_get_stats(t, &st);
        assert_true(st.traces_in_memory <= 10);
    }
    tws_ts_stats st;
    tws_tailsampler_get_stats(t, &st);
    assert_int_equal(st.evicted, 15);
    assert_int_equal(st.traces_sampled, 15); /* evicted traces are decided, not lost */
    assert_int_equal(tws_tailsampler_oldest_lsn(t), 115);
    for (uint32_t n = 0; n < 15; n++) assert_int_equal(out->kept[n], 1);

    /* the same trace id in two tenants: decided apart */
    tws_batch b;
    sp[0] = (spec){.trace = 100, .end_ms = 1, .str_key = "keep", .str_val = "yes"};
    make_batch(&b, sp, 1);
    tws_ts_batch_info a = {.tenant = "a", .lsn = 1};
    assert_int_equal(give(t, &b, &a, 0), TW_OK);
    sp[0] = (spec){.trace = 100, .end_ms = 1};
    make_batch(&b, sp, 1);
    tws_ts_batch_info bb = {.tenant = "b", .lsn = 2};
    assert_int_equal(give(t, &b, &bb, 0), TW_OK);
    tws_tailsampler_flush(t, 1);
    assert_int_equal(out->seen[100], 2);
    assert_int_equal(out->kept[100], 1); /* tenant a's span only */
    tws_tailsampler_get_stats(t, &st);
    assert_int_equal(st.traces_in_memory, 0);
    tws_tailsampler_free(t);
    tws_ts_policy_free(&p);
    free(out);
}

/* A batch that cannot be read back is counted and not emitted; the others are. */
static void test_reload_failure(void **state) {
    (void)state;
    tws_ts_policy p = policy("all", TWS_TS_ALWAYS_SAMPLE);
    tws_ts_config c = {.decision_wait_ms = 10, .num_traces = 100, .policies = &p, .n_policies = 1};
    sink *out = calloc(1, sizeof *out);
    tws_tailsampler *t = new_sampler(&c, out);
    reload_fail_at = 2;
    spec sp[2];
    for (uint32_t n = 0; n < 3; n++) {
        sp[0] = sp[1] = (spec){.trace = n, .end_ms = 1};
        add(t, sp, 2, 10 + n, 0);
    }
    /* a batch without a WAL section stays in memory and comes out as given */
    tws_batch b;
    sp[0] = sp[1] = (spec){.trace = 3, .end_ms = 1};
    make_batch(&b, sp, 2);
    tws_ts_batch_info info = {.tenant = "t", .bytes = 1000, .lsn = 13};
    assert_int_equal(tws_tailsampler_add(t, &b, &info, 0), TW_OK);
    tws_tailsampler_tick(t, 100);
    tws_ts_stats st;
    tws_tailsampler_get_stats(t, &st);
    assert_int_equal(st.reloads, 3);
    assert_int_equal(st.reload_failures, 1);
    assert_int_equal(st.batches_held, 0);
    assert_int_equal(out->batches, 3);
    assert_int_equal(out->kept[0], 2);
    assert_int_equal(out->seen[1], 0);
    assert_int_equal(out->kept[2], 2);
    assert_int_equal(out->kept[3], 2);
    tws_tailsampler_free(t);
    tws_ts_policy_free(&p);
    free(out);
}

/* No room downstream: decided batches wait, in order, and go when there is room. */
static bool room_open;
static uint64_t room_asked;
static bool room_fn(void *user, uint64_t bytes) {
    (void)user;
    assert_int_equal(bytes, 1000); /* the batch's info.bytes */
    room_asked++;
    return room_open;
}

static void test_room(void **state) {
    (void)state;
    tws_ts_policy p = policy("all", TWS_TS_ALWAYS_SAMPLE);
    tws_ts_config c = {.decision_wait_ms = 10, .num_traces = 100, .policies = &p, .n_policies = 1};
    sink *out = calloc(1, sizeof *out);
    tws_tailsampler *t = new_sampler(&c, out);
    tws_tailsampler_set_room(t, room_fn, NULL);
    room_open = false;
    room_asked = 0;
    spec sp[1];
    for (uint32_t n = 0; n < 5; n++) {
        sp[0] = (spec){.trace = n, .end_ms = 1};
        add(t, sp, 1, 20 + n, 0);
    }
    tws_tailsampler_tick(t, 100); /* decided, but no room */
    tws_ts_stats st;
    tws_tailsampler_get_stats(t, &st);
    assert_int_equal(st.traces_in_memory, 0);
    assert_int_equal(st.traces_sampled, 5);
    assert_int_equal(st.batches_waiting_room, 5);
    assert_int_equal(st.batches_held, 5);
    assert_int_equal(out->batches, 0);
    assert_int_equal(tws_tailsampler_oldest_lsn(t), 20); /* their WAL records stay */
    tws_tailsampler_tick(t, 200);
    assert_int_equal(out->batches, 0);
    room_open = true;
    tws_tailsampler_tick(t, 300);
    tws_tailsampler_get_stats(t, &st);
    assert_int_equal(st.batches_waiting_room, 0);
    assert_int_equal(st.room_waits, 5);
    assert_int_equal(out->batches, 5);
    assert_int_equal(out->last_lsn, 24); /* in order: the last one last */
    for (uint32_t n = 0; n < 5; n++) assert_int_equal(out->kept[n], 1);
    assert_int_equal(tws_tailsampler_oldest_lsn(t), UINT64_MAX);
    assert_true(room_asked >= 7);
    tws_tailsampler_free(t);
    tws_ts_policy_free(&p);
    free(out);
}

#define BOTH(f) cmocka_unit_test_setup_teardown(f, setup_memory, teardown), \
                cmocka_unit_test_setup_teardown(f, setup_reload, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        BOTH(test_errors_slow_baseline),
        BOTH(test_policies),
        BOTH(test_rate_limits),
        BOTH(test_bounds_and_tenants),
        BOTH(test_room),
        cmocka_unit_test_setup_teardown(test_reload_failure, setup_reload, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
