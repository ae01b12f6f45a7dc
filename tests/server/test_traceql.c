/*
 * test_traceql.c — TraceQL conformance: a fixed data set of five traces
 * (a checkout, a failing checkout with events and a link, a Kafka
 * producer/consumer pair with its own instrumentation scope, a trace whose
 * root has not arrived, a one-span cron job) and a table of queries, each
 * with the exact spans it must return per trace; then invalid queries
 * with the place and the message of their error.
 *
 * Expected results are written "1:ab 2:a": trace 1 matches with one
 * spanset of spans a and b, trace 2 with span a. Several spansets of one
 * trace are separated by commas ("1:a,bc") and compared in sorted order.
 *
 * The same table then runs through blocks as a search does (predicate
 * push-down, then decoding only the traces kept and only the parts of a
 * span the query reads), and must give the same
 * answers; a second table states exactly which traces the push-down keeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "block/block.h"
#include "common/buf.h"
#include "fs_util.h"
#include "objstore/objstore.h"
#include "search/prefilter.h"
#include "search/search.h"
#include "traceql/traceql.h"

/* ---- the data set ---------------------------------------------------------- */

typedef struct fx {
    int trace;
    char id, parent; /* parent 0: root; a letter not in the trace: a missing parent */
    const char *svc, *name;
    int kind, status;
    const char *msg;
    uint64_t start_us, dur_us;
    const char *attrs;  /* "k=s:v|k=i:3|k=d:0.5|k=b:1|k=a:x,y" */
    const char *events; /* "name:attrs;name:attrs" */
    const char *links;  /* "T:S:attrs" */
} fx;

static const fx DATA[] = {
    {1, 'a', 0, "frontend", "GET /checkout", 2, 0, "", 0, 500000, "http.method=s:GET|http.route=s:/checkout|http.status_code=i:200", NULL, NULL},
    {1, 'b', 'a', "frontend", "checkout.place_order", 1, 0, "", 10000, 450000, "user.id=s:u-42|cart.items=i:3|cart.total=d:59.9|vip=b:1", NULL, NULL},
    {1, 'c', 'b', "payments", "POST /charge", 3, 0, "", 20000, 200000, "peer.service=s:stripe|http.status_code=i:200|tags=a:a,b", NULL, NULL},
    {1, 'd', 'b', "inventory", "SELECT stock", 3, 0, "", 230000, 30000, "db.system=s:postgresql|db.statement=s:SELECT * FROM stock WHERE id = $1", NULL, NULL},
    {1, 'e', 'c', "payments", "charge", 2, 0, "", 25000, 180000, "http.status_code=i:200", NULL, NULL},
    {2, 'a', 0, "frontend", "GET /checkout", 2, 2, "upstream failed", 1000000, 2000000, "http.status_code=i:500|http.method=s:GET", NULL, NULL},
    {2, 'b', 'a', "payments", "POST /charge", 3, 2, "", 1010000, 1900000, "http.status_code=i:503",
     "exception:exception.type=s:TimeoutError|exception.message=s:deadline exceeded", NULL},
    {2, 'c', 'b', "payments", "charge", 2, 2, "", 1020000, 1800000, "", "retry:attempt=i:1;retry:attempt=i:2", NULL},
    {2, 'd', 'a', "frontend", "render", 1, 1, "", 2900000, 5000, "", NULL, "1:a:link.kind=s:follows"},
    {3, 'a', 0, "orders", "publish orders", 4, 0, "", 5000000, 10000, "messaging.system=s:kafka|messaging.destination.name=s:orders", NULL, NULL},
    {3, 'b', 'a', "billing", "process orders", 5, 0, "", 5020000, 50000, "messaging.system=s:kafka", NULL, NULL},
    {3, 'c', 'b', "billing", "UPDATE ledger", 3, 0, "", 5030000, 20000, "db.system=s:postgresql", NULL, NULL},
    {4, 'a', 'z', "frontend", "GET /health", 2, 0, "", 8000000, 1000, "http.route=s:/health|http.status_code=i:200", NULL, NULL},
    {4, 'b', 'a', "frontend", "cache.get", 3, 0, "", 8000100, 500, "cache.hit=b:0", NULL, NULL},
    {5, 'a', 0, "cron", "nightly job", 1, 1, "", 9000000, 180000000, "a b=s:spaced|job.retries=i:0|ratio=d:0.25", NULL, NULL},
};
#define N_TRACES 5
#define BASE_NS 1700000000000000000ull

static tw_str bdup(tws_batch *b, const char *s, size_t n) {
    char *d = tws_batch_alloc(b, n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return (tw_str){d, n};
}

/* Parse the attribute DSL into `a`. */
static void attrs(tws_batch *b, const char *spec, tws_attrs *a) {
    memset(a, 0, sizeof *a);
    if (!spec || !*spec) return;
    size_t n = 1;
    for (const char *p = spec; *p; p++) n += *p == '|';
    a->items = tws_batch_alloc(b, n * sizeof *a->items);
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, '|');
        if (!end) end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        assert_non_null(eq);
        tws_kv *kv = &a->items[a->n++];
        kv->key = bdup(b, p, (size_t)(eq - p));
        char type = eq[1];
        const char *v = eq + 3;
        size_t vn = (size_t)(end - v);
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%.*s", (int)vn, v);
        switch (type) {
        case 's': kv->val = (tws_value){.type = TWS_STRING, .u.s = bdup(b, v, vn)}; break;
        case 'i': kv->val = (tws_value){.type = TWS_INT, .u.i = strtoll(tmp, NULL, 10)}; break;
        case 'd': kv->val = (tws_value){.type = TWS_DOUBLE, .u.d = strtod(tmp, NULL)}; break;
        case 'b': kv->val = (tws_value){.type = TWS_BOOL, .u.b = tmp[0] == '1'}; break;
        case 'a': {
            tws_value *arr = tws_batch_alloc(b, 8 * sizeof *arr);
            uint32_t k = 0;
            for (char *tok = strtok(tmp, ","); tok && k < 8; tok = strtok(NULL, ","))
                arr[k++] = (tws_value){.type = TWS_STRING, .u.s = bdup(b, tok, strlen(tok))};
            kv->val = (tws_value){.type = TWS_ARRAY, .n = k, .u.arr = arr};
            break;
        }
        default: fail();
        }
        p = *end ? end + 1 : end;
    }
}

static void span_id(uint8_t out[8], int trace, char id) {
    memset(out, 0, 8);
    out[0] = (uint8_t)trace;
    out[7] = (uint8_t)id;
}

/* One batch per trace: a resource and a scope per service. */
static void build_trace(tws_batch *b, int trace) {
    tws_batch_init(b);
    size_t n = 0;
    for (size_t i = 0; i < TW_ARRAY_LEN(DATA); i++) n += DATA[i].trace == trace;
    b->spans = tws_batch_alloc(b, n * sizeof *b->spans);
    b->resources = tws_batch_alloc(b, n * sizeof *b->resources);
    b->scopes = tws_batch_alloc(b, n * sizeof *b->scopes);
    memset(b->spans, 0, n * sizeof *b->spans);
    for (size_t i = 0; i < TW_ARRAY_LEN(DATA); i++) {
        const fx *f = &DATA[i];
        if (f->trace != trace) continue;
        uint32_t r = 0;
        while (r < b->n_resources && strcmp(b->resources[r].attrs.items[0].val.u.s.ptr, f->svc)) r++;
        if (r == b->n_resources) {
            char spec[200];
            snprintf(spec, sizeof spec, "service.name=s:%s%s", f->svc,
                     !strcmp(f->svc, "frontend") ? "|deployment.environment=s:prod"
                     : !strcmp(f->svc, "cron") ? "|k8s.namespace.name=s:batch" : "");
            memset(&b->resources[r], 0, sizeof b->resources[r]);
            attrs(b, spec, &b->resources[r].attrs);
            bool kafka = !strcmp(f->svc, "orders") || !strcmp(f->svc, "billing");
            tws_scope *sc = &b->scopes[r];
            memset(sc, 0, sizeof *sc);
            sc->name = bdup(b, kafka ? "tracewire-kafka" : "app", kafka ? 15 : 3);
            sc->version = bdup(b, kafka ? "1.0" : "0.1", 3);
            sc->resource_idx = r;
            if (kafka) attrs(b, "messaging.lib=s:librdkafka", &sc->attrs);
            b->n_resources++;
            b->n_scopes++;
        }
        tws_span *s = &b->spans[b->n_spans++];
        memset(s->trace_id, 0, 16);
        s->trace_id[15] = (uint8_t)trace;
        span_id(s->span_id, trace, f->id);
        if (f->parent) {
            s->has_parent = true;
            span_id(s->parent_span_id, trace, f->parent);
        }
        s->scope_idx = r;
        s->name = bdup(b, f->name, strlen(f->name));
        s->kind = (uint8_t)f->kind;
        s->status_code = (uint8_t)f->status;
        s->status_message = bdup(b, f->msg, strlen(f->msg));
        s->start_ns = BASE_NS + f->start_us * 1000;
        s->end_ns = s->start_ns + f->dur_us * 1000;
        attrs(b, f->attrs, &s->attrs);
        if (f->events) {
            char tmp[256];
            snprintf(tmp, sizeof tmp, "%s", f->events);
            s->events = tws_batch_alloc(b, 4 * sizeof *s->events);
            char *save = NULL;
            for (char *ev = strtok_r(tmp, ";", &save); ev; ev = strtok_r(NULL, ";", &save)) {
                tws_event *e = &s->events[s->n_events];
                char *colon = strchr(ev, ':');
                *colon = 0;
                e->name = bdup(b, ev, strlen(ev));
                e->time_ns = s->start_ns + 1000000ull * (s->n_events + 1);
                attrs(b, colon + 1, &e->attrs);
                s->n_events++;
            }
        }
        if (f->links) {
            s->links = tws_batch_alloc(b, sizeof *s->links);
            memset(s->links, 0, sizeof *s->links);
            tws_link *l = &s->links[0];
            l->trace_id[15] = (uint8_t)(f->links[0] - '0');
            span_id(l->span_id, f->links[0] - '0', f->links[2]);
            attrs(b, f->links + 4, &l->attrs);
            s->n_links = 1;
        }
    }
}

static tws_batch TRACES[N_TRACES + 1];

static int setup(void **state) {
    (void)state;
    for (int t = 1; t <= N_TRACES; t++) build_trace(&TRACES[t], t);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int t = 1; t <= N_TRACES; t++) tws_batch_free(&TRACES[t]);
    return 0;
}

static int cmp_cstr(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* Evaluate `q` on one trace (spans [first, first + n) of `b`) and append its
 * result in the table's form ("t:ab,c") to out. */
static void eval_one(tq_eval *e, const tq_query *q, const tws_batch *b, uint32_t first, uint32_t n_spans, char *out,
                     size_t cap, size_t *len) {
    tws_span_ref refs[16];
    assert_true(n_spans > 0 && n_spans <= 16);
    for (uint32_t i = 0; i < n_spans; i++) refs[i] = (tws_span_ref){b, &b->spans[first + i]};
    tq_trace tr;
    assert_int_equal(tq_trace_build(e, refs, n_spans, &tr), TW_OK);
    tq_spanset *sets;
    uint32_t n;
    assert_int_equal(tq_eval_trace(e, q, &tr, &sets, &n), TW_OK);
    if (!n) return;
    char setbuf[16][32], *setp[16];
    assert_true(n <= 16);
    for (uint32_t k = 0; k < n; k++) {
        char ids[32];
        uint32_t m = 0;
        for (uint32_t i = 0; i < sets[k].n && m < 31; i++) ids[m++] = (char)tr.spans[sets[k].spans[i]].s->span_id[7];
        ids[m] = 0;
        /* letters sorted */
        for (uint32_t x = 0; x < m; x++)
            for (uint32_t y = x + 1; y < m; y++)
                if (ids[y] < ids[x]) {
                    char c = ids[x];
                    ids[x] = ids[y];
                    ids[y] = c;
                }
        snprintf(setbuf[k], sizeof setbuf[k], "%s", ids);
        setp[k] = setbuf[k];
    }
    qsort(setp, n, sizeof *setp, cmp_cstr);
    *len += (size_t)snprintf(out + *len, cap - *len, "%s%d:", *len ? " " : "", b->spans[first].trace_id[15]);
    for (uint32_t k = 0; k < n; k++) *len += (size_t)snprintf(out + *len, cap - *len, "%s%s", k ? "," : "", setp[k]);
}

static tq_query *parse_ok(const char *query) {
    tq_query *q;
    char err[256];
    int rc = tq_parse(query, strlen(query), &q, err);
    if (rc != TW_OK) fail_msg("%s: %s", query, err);
    return q;
}

/* Evaluate `query` on every trace and write the result in the table's form. */
static void run(const char *query, char *out, size_t cap) {
    tq_query *q = parse_ok(query);
    tq_eval *e;
    assert_int_equal(tq_eval_new(&e), TW_OK);
    out[0] = 0;
    size_t len = 0;
    for (int t = 1; t <= N_TRACES; t++) eval_one(e, q, &TRACES[t], 0, TRACES[t].n_spans, out, cap, &len);
    tq_eval_free(e);
    tq_query_free(q);
}

typedef struct qcase {
    const char *q, *want;
} qcase;

static const qcase CASES[] = {
    /* everything, nothing */
    {"{}", "1:abcde 2:abcd 3:abc 4:ab 5:a"},
    {"{ }", "1:abcde 2:abcd 3:abc 4:ab 5:a"},
    {"{ true }", "1:abcde 2:abcd 3:abc 4:ab 5:a"},
    {"{ false }", ""},
    {"{ true && false }", ""},
    {"{ true || false }", "1:abcde 2:abcd 3:abc 4:ab 5:a"},
    /* name */
    {"{ name = \"GET /checkout\" }", "1:a 2:a"},
    {"{ span:name = \"charge\" }", "1:e 2:c"},
    {"{ name != \"GET /checkout\" }", "1:bcde 2:bcd 3:abc 4:ab 5:a"},
    {"{ name =~ \"GET.*\" }", "1:a 2:a 4:a"},
    {"{ name =~ \"GET\" }", ""},
    {"{ name !~ \".*(charge|stock).*\" }", "1:ab 2:ad 3:abc 4:ab 5:a"},
    {"{ name =~ \"(?i)get /CHECKOUT\" }", "1:a 2:a"},
    {"{ name > \"process\" }", "2:d 3:ab"},
    {"{ name <= \"UPDATE ledger\" }", "1:acd 2:ab 3:c 4:a"},
    {"{ name = `GET /health` }", "4:a"},
    /* status */
    {"{ status = error }", "2:abc"},
    {"{ span:status = ok }", "2:d 5:a"},
    {"{ status = unset }", "1:abcde 3:abc 4:ab"},
    {"{ status != error }", "1:abcde 2:d 3:abc 4:ab 5:a"},
    {"{ statusMessage = \"upstream failed\" }", "2:a"},
    {"{ span:statusMessage =~ \"up.*\" }", "2:a"},
    {"{ statusMessage = \"\" }", "1:abcde 2:bcd 3:abc 4:ab 5:a"},
    /* kind */
    {"{ kind = server }", "1:ae 2:ac 4:a"},
    {"{ kind = client }", "1:cd 2:b 3:c 4:b"},
    {"{ span:kind = producer }", "3:a"},
    {"{ kind = consumer }", "3:b"},
    {"{ kind = internal }", "1:b 2:d 5:a"},
    {"{ kind = unspecified }", ""},
    {"{ kind != server && kind != client }", "1:b 2:d 3:ab 5:a"},
    /* duration */
    {"{ duration > 1s }", "2:abc 5:a"},
    {"{ duration >= 500ms }", "1:a 2:abc 5:a"},
    {"{ duration < 1ms }", "4:b"},
    {"{ duration <= 1ms }", "4:ab"},
    {"{ duration = 30ms }", "1:d"},
    {"{ span:duration > 2m }", "5:a"},
    {"{ duration > 1.5s }", "2:abc 5:a"},
    {"{ duration > 1h }", ""},
    {"{ duration > 100000000 }", "1:abce 2:abc 5:a"},
    {"{ duration < 500us }", ""},
    {"{ duration <= 500µs }", "4:b"},
    {"{ duration >= 1m30s }", "5:a"},
    /* trace level */
    {"{ traceDuration > 1s }", "2:abcd 5:a"},
    {"{ rootName = \"GET /checkout\" }", "1:abcde 2:abcd"},
    {"{ trace:rootName = \"publish orders\" }", "3:abc"},
    {"{ rootServiceName = \"cron\" }", "5:a"},
    {"{ trace:rootService = \"frontend\" && kind = client }", "1:cd 2:b"},
    {"{ rootName != nil }", "1:abcde 2:abcd 3:abc 5:a"},
    {"{ rootName = nil }", "4:ab"},
    {"{ trace:duration < 100ms }", "3:abc 4:ab"},
    /* span attributes by type */
    {"{ span.http.status_code = 200 }", "1:ace 4:a"},
    {"{ span.http.status_code >= 500 }", "2:ab"},
    {"{ span.http.status_code > 499 && span.http.status_code < 600 }", "2:ab"},
    {"{ span.http.status_code = 200.0 }", "1:ace 4:a"},
    {"{ span.http.status_code = \"200\" }", ""},
    {"{ span.http.status_code != 200 }", "2:ab"},
    {"{ span.cart.items = 3 }", "1:b"},
    {"{ span.cart.total > 50 }", "1:b"},
    {"{ span.cart.total = 59.9 }", "1:b"},
    {"{ span.cart.total < 59.95 && span.cart.total > 59.85 }", "1:b"},
    {"{ span.vip = true }", "1:b"},
    {"{ span.vip }", "1:b"},
    {"{ span.vip != false }", "1:b"},
    {"{ span.cache.hit = false }", "4:b"},
    {"{ span.cache.hit }", ""},
    {"{ !span.cache.hit }", "4:b"},
    {"{ span.user.id = \"u-42\" }", "1:b"},
    {"{ span.user.id =~ \"u-[0-9]+\" }", "1:b"},
    {"{ span.user.id !~ \"u-[0-9]+\" }", ""},
    {"{ span.db.statement =~ \"SELECT .* FROM stock.*\" }", "1:d"},
    {"{ span.db.statement = \"SELECT * FROM stock WHERE id = $1\" }", "1:d"},
    {"{ span.job.retries = 0 }", "5:a"},
    {"{ span.ratio = 0.25 }", "5:a"},
    {"{ span.ratio * 4 = 1 }", "5:a"},
    {"{ span.\"a b\" = \"spaced\" }", "5:a"},
    {"{ .\"a b\" = \"spaced\" }", "5:a"},
    {"{ span.missing = \"x\" }", ""},
    {"{ span.missing != \"x\" }", ""},
    {"{ span.missing > 1 }", ""},
    /* arrays */
    {"{ span.tags = \"a\" }", "1:c"},
    {"{ span.tags = \"b\" }", "1:c"},
    {"{ span.tags = \"c\" }", ""},
    {"{ span.tags != \"c\" }", "1:c"},
    {"{ span.tags != \"a\" }", ""},
    {"{ span.tags =~ \"[ab]\" }", "1:c"},
    /* existence */
    {"{ span.db.system != nil }", "1:d 3:c"},
    {"{ span.db.system = nil }", "1:abce 2:abcd 3:ab 4:ab 5:a"},
    {"{ nil != span.peer.service }", "1:c"},
    {"{ .db.system != nil && .messaging.system != nil }", ""},
    {"{ nil = nil }", ""},
    /* resource and unscoped */
    {"{ resource.service.name = \"payments\" }", "1:ce 2:bc"},
    {"{ .service.name = \"payments\" }", "1:ce 2:bc"},
    {"{ resource.deployment.environment = \"prod\" }", "1:ab 2:ad 4:ab"},
    {"{ resource.k8s.namespace.name = \"batch\" }", "5:a"},
    {"{ resource.http.status_code = 200 }", ""},
    {"{ span.service.name = \"payments\" }", ""},
    {"{ .http.status_code = 503 }", "2:b"},
    {"{ .messaging.system = \"kafka\" && .service.name = \"billing\" }", "3:b"},
    {"{ resource.service.name =~ \"pay.*|inv.*\" }", "1:cde 2:bc"},
    {"{ resource.service.name != \"frontend\" }", "1:cde 2:bc 3:abc 5:a"},
    /* instrumentation */
    {"{ instrumentation:name = \"tracewire-kafka\" }", "3:abc"},
    {"{ instrumentation:version = \"0.1\" && kind = server }", "1:ae 2:ac 4:a"},
    {"{ instrumentation.messaging.lib = \"librdkafka\" }", "3:abc"},
    {"{ .messaging.lib = \"librdkafka\" }", "3:abc"},
    /* events */
    {"{ event:name = \"exception\" }", "2:b"},
    {"{ event:name = \"retry\" }", "2:c"},
    {"{ event.exception.type = \"TimeoutError\" }", "2:b"},
    {"{ event.exception.message =~ \"deadline.*\" }", "2:b"},
    {"{ event.attempt = 2 }", "2:c"},
    {"{ event.attempt > 1 && event:name = \"retry\" }", "2:c"},
    {"{ event:name = \"exception\" && event.attempt = 1 }", ""},
    {"{ event:name != nil }", "2:bc"},
    {"{ event:timeSinceStart >= 2ms }", "2:c"},
    {"{ .exception.type = \"TimeoutError\" }", "2:b"},
    /* links */
    {"{ link.link.kind = \"follows\" }", "2:d"},
    {"{ link:traceID = \"1\" }", "2:d"},
    {"{ link:traceID = \"00000000000000000000000000000001\" }", "2:d"},
    {"{ link:spanID = \"0100000000000061\" }", "2:d"},
    {"{ link:traceID != nil }", "2:d"},
    /* ids */
    {"{ trace:id = \"2\" }", "2:abcd"},
    {"{ trace:id = \"0000000000000000000000000000000002\" }", "2:abcd"},
    {"{ span:id = \"0100000000000061\" }", "1:a"},
    {"{ span:id = \"0100000000000061\" || span:id = \"0200000000000062\" }", "1:a 2:b"},
    {"{ span:parentID = \"0100000000000062\" }", "1:cd"},
    {"{ span:parentID = nil }", "1:a 2:a 3:a 5:a"},
    {"{ span:parentID = \"040000000000007a\" }", "4:a"},
    /* arithmetic and precedence */
    {"{ 1 + 1 = 2 }", "1:abcde 2:abcd 3:abc 4:ab 5:a"},
    {"{ 1 / 10 = 0 }", "1:abcde 2:abcd 3:abc 4:ab 5:a"},
    {"{ 10 % 3 = 1 }", "1:abcde 2:abcd 3:abc 4:ab 5:a"},
    {"{ 2 ^ 3 = 8 }", "1:abcde 2:abcd 3:abc 4:ab 5:a"},
    {"{ 2m * 2 = 4m }", "1:abcde 2:abcd 3:abc 4:ab 5:a"},
    {"{ 1 = 1.0 }", "1:abcde 2:abcd 3:abc 4:ab 5:a"},
    {"{ -1 < 0 }", "1:abcde 2:abcd 3:abc 4:ab 5:a"},
    {"{ span.http.status_code - 300 = 200 }", "2:a"},
    {"{ span.cart.items * 2 + 1 = 7 }", "1:b"},
    {"{ span.http.status_code / 100 = 5 }", "2:ab"},
    {"{ duration > 2 * 100ms }", "1:ab 2:abc 5:a"},
    {"{ kind = server || kind = client && status = error }", "2:abc"},
    {"{ kind = server || (kind = client && status = error) }", "1:ae 2:abc 4:a"},
    {"{ status = error && kind = server || kind = producer }", "2:ac 3:a"},
    {"{ !(kind = server) && resource.service.name = \"frontend\" }", "1:b 2:d 4:b"},
    {"{ !(status = error || status = ok) }", "1:abcde 3:abc 4:ab"},
    /* spanset && || */
    {"{ kind = producer } && { kind = consumer }", "3:ab"},
    {"{ name = \"render\" } && { status = error }", "2:abcd"},
    {"{ name = \"render\" } && { name = \"nope\" }", ""},
    {"{ name = \"cache.get\" } || { name = \"nightly job\" }", "4:b 5:a"},
    {"{ kind = producer } || { kind = server } && { status = error }", "2:abc"},
    {"{ span.db.system = \"postgresql\" } && { kind = server }", "1:ade"},
    /* structural */
    {"{ kind = server } > { kind = client }", "2:b 4:b"},
    {"{ name = \"GET /checkout\" } >> { kind = server }", "1:e 2:c"},
    {"{ kind = client } < { kind = server }", "2:a 4:a"},
    {"{ kind = server } < { kind = client }", "1:c 2:b"},
    {"{ name = \"charge\" } << { }", "1:abc 2:ab"},
    {"{ name = \"SELECT stock\" } ~ { }", "1:c"},
    {"{ } ~ { }", "1:cd 2:bd"},
    {"{ resource.service.name = \"frontend\" } > { resource.service.name = \"payments\" }", "1:c 2:b"},
    {"{ kind = producer } > { kind = consumer } > { kind = client }", "3:c"},
    {"{ kind = producer } >> { .db.system = \"postgresql\" }", "3:c"},
    {"{ } !> { kind = client }", ""},
    {"{ kind = server } !> { kind = client }", "1:cd 3:c"},
    {"{ } !< { }", "1:de 2:cd 3:c 4:b 5:a"},
    {"{ kind = server } !>> { }", "1:a 2:a 3:abc 4:a 5:a"},
    {"{ kind = client } !<< { }", "1:cde 2:bcd 3:c 4:b 5:a"},
    {"{ name = \"render\" } !~ { }", "1:abcde 2:acd 3:abc 4:ab 5:a"},
    {"{ kind = server } &> { kind = client }", "2:ab 4:ab"},
    {"{ kind = client } &< { kind = server }", "2:ab 4:ab"},
    {"{ kind = producer } &>> { kind = client }", "3:ac"},
    {"{ name = \"SELECT stock\" } &~ { }", "1:cd"},
    {"{ name = \"UPDATE ledger\" } &<< { kind = producer }", "3:ac"},
    /* pipelines */
    {"{ } | count() > 4", "1:abcde"},
    {"{ } | count() = 1", "5:a"},
    {"{ status = error } | count() >= 2", "2:abc"},
    {"count() > 3", "1:abcde 2:abcd"},
    {"{ } | avg(duration) > 1s", "2:abcd 5:a"},
    {"{ } | max(duration) >= 2s", "2:abcd 5:a"},
    {"{ } | min(duration) < 1ms", "4:ab"},
    {"{ } | sum(span.http.status_code) = 600", "1:abcde"},
    {"{ } | sum(span.http.status_code) > 1000", "2:abcd"},
    {"{ } | avg(span.cart.items) = 3", "1:abcde"},
    {"{ } | min(span.missing) > 0", ""},
    {"{ } | { kind = server }", "1:ae 2:ac 4:a"},
    {"{ } | { kind = server } | { status = error }", "2:ac"},
    {"{ kind = server } | count() > 1", "1:ae 2:ac"},
    {"{ } | by(resource.service.name)", "1:ab,ce,d 2:ad,bc 3:a,bc 4:ab 5:a"},
    {"{ } | by(kind) | count() > 1", "1:ae,cd 2:ac"},
    {"{ } | by(resource.service.name) | count() > 1", "1:ab,ce 2:ad,bc 3:bc 4:ab"},
    {"{ } | by(resource.service.name) | count() > 1 | coalesce()", "1:abce 2:abcd 3:bc 4:ab"},
    {"{ } | by(status) | by(kind)", "1:ae,b,cd 2:ac,b,d 3:a,b,c 4:a,b 5:a"},
    {"{ } | by(span.http.status_code)", "1:ace,bd 2:a,b,cd 3:abc 4:a,b 5:a"},
    {"{ } | select(span.http.method)", "1:abcde 2:abcd 3:abc 4:ab 5:a"},
    {"{ status = error } | select(resource.service.name, name)", "2:abc"},
    {"({ kind = server } | count() > 1) && { status = error }", "2:abc"},
    {"({ kind = producer }) && ({ kind = consumer } | count() = 1)", "3:ab"},
    {"{ kind = server } | by(resource.service.name) | avg(duration) > 1s", "2:a,c"},
    /* comments, quoting, layout */
    {"{ // a comment\n name = \"render\" }", "2:d"},
    {"{ /* inline */ name = \"render\" }", "2:d"},
    {"{\n  kind = server\n  && status = error\n}", "2:ac"},
    {"{ span.\"http.status_code\" = 200 }", "1:ace 4:a"},
    {"{ name = \"GET \\u002fcheckout\" }", "1:a 2:a"},
    {"{ name = \"charge\" } | { true }", "1:e 2:c"},
    {"{ nestedSetParent = -1 }", "1:a 2:a 3:a 5:a"},
    {"{ nestedSetLeft = 1 }", "1:a 2:a 3:a 5:a"},
};

static void test_conformance(void **state) {
    (void)state;
    char got[512];
    int failures = 0;
    for (size_t i = 0; i < TW_ARRAY_LEN(CASES); i++) {
        run(CASES[i].q, got, sizeof got);
        if (strcmp(got, CASES[i].want)) {
            print_message("query %zu: %s\n  want: %s\n  got:  %s\n", i, CASES[i].q, CASES[i].want, got);
            failures++;
        }
    }
    print_message("%zu queries, %d wrong\n", TW_ARRAY_LEN(CASES), failures);
    assert_int_equal(failures, 0);
    assert_true(TW_ARRAY_LEN(CASES) >= 150);
}

/* Invalid queries: the place and what the message says. */
static const struct {
    const char *q, *want;
} ERRORS[] = {
    {"", "parse error at line 1, col 1: empty query"},
    {"{", "parse error at line 1, col 2: expected an attribute, an intrinsic or a value, found the end of the query"},
    {"{ .a = 1", "parse error at line 1, col 9: expected '}', && or ||, found the end of the query"},
    {"{ .a | .b }", "parse error at line 1, col 6: expected '}', && or ||, found '|'"},
    {"wharblgarbl", "parse error at line 1, col 1: expected a spanset filter '{ ... }', found 'wharblgarbl'"},
    {"{ foo = 1 }", "parse error at line 1, col 3: unknown word 'foo': attributes need a scope, as .foo or span.foo"},
    {"{ 1 + 1 }", "parse error at line 1, col 5: a filter must be a condition, found int"},
    {"{ \"foo\" }", "parse error at line 1, col 3: a filter must be a condition, found string"},
    {"{ 1 = \"foo\" }", "parse error at line 1, col 5: cannot compare int with string"},
    {"{ status = \"error\" }", "parse error at line 1, col 10: cannot compare status with string (statuses are ok, error and unset, unquoted)"},
    {"{ kind = \"server\" }", "cannot compare kind with string (kinds are server"},
    {"{ status > ok }", "parse error at line 1, col 10: status compares only with = and !="},
    {"{ .a =~ 1 }", "parse error at line 1, col 9: '=~' takes a regular expression in a string, found int"},
    {"{ .a =~ \"(\" }", "parse error at line 1, col 9: invalid regular expression: missing closing parenthesis"},
    {"{ duration =~ \"1s\" }", "parse error at line 1, col 12: '=~' matches strings, found duration"},
    {"{ .a = nil + 1 }", "arithmetic needs numbers or durations, found nil and int"},
    {"{ .a > nil }", "parse error at line 1, col 6: nil compares only with = and !="},
    {"{ .a = 1 = 2 }", "parse error at line 1, col 10: comparisons do not chain"},
    {"{ .foo = \"bar }", "parse error at line 1, col 10: unterminated string"},
    {"{ .foo = \"a\\qb\" }", "invalid escape in string"},
    {"{ . foo }", "parse error at line 1, col 3: expected an attribute name after the scope"},
    {"{ .a } &&", "parse error at line 1, col 10: expected a spanset filter '{ ... }', found the end of the query"},
    {"{ } > 10", "parse error at line 1, col 7: expected a spanset filter '{ ... }', found the number 10"},
    {"{ } | count(", "parse error at line 1, col 13: expected ')', found the end of the query"},
    {"{ } | count() > ", "expected count(), avg(), min(), max(), sum() or a number, found the end of the query"},
    {"{ } | avg() > 1", "parse error at line 1, col 11: expected an attribute, an intrinsic or a value, found ')'"},
    {"{ } | sum(\"x\") > 1", "parse error at line 1, col 11: an aggregate takes an attribute or an intrinsic, found a literal"},
    {"{ } | by()", "parse error at line 1, col 10: expected an attribute, an intrinsic or a value, found ')'"},
    {"{ } | by(1)", "parse error at line 1, col 10: by() takes an attribute or an intrinsic, found a literal"},
    {"{ } | coalesce", "parse error at line 1, col 15: expected '(', found the end of the query"},
    {"{ } | wat()", "parse error at line 1, col 7: expected a spanset filter, an aggregate, by(), select(), coalesce() or a metrics function, found 'wat'"},
    {"{ } | rate() | topk(-1)", "parse error at line 1, col 21: expected a positive count"},
    {"{ } | rate() | { }", "expected topk() or bottomk() after a metrics function"},
    {"({ } | rate())", "a metrics function ends the query"},
    {"{ } | quantile_over_time(duration)", "expected ',' and at least one quantile"},
    {"{ } | quantile_over_time(duration, 1.5)", "a quantile is between 0 and 1, found 1.5"},
    {"{ } | rate() by", "parse error at line 1, col 16: expected '(', found the end of the query"},
    {"{ duration > 1x }", "invalid number: unexpected letter"},
    {"{ duration > 1.5.5s }", "parse error at line 1, col 17: expected '}', && or ||, found the number .5s"},
    {"{ .a = 1 } }", "expected '|', && , || , a structural operator or the end of the query, found '}'"},
    {"{ .a = 1 }\n| count() >", "parse error at line 2, col 12: expected count()"},
    {"{ 1 && .a }", "'&&' joins conditions, found int && attribute"},
    {"{ !1 }", "'!' negates a condition, found int"},
    {"{ -\"a\" = 1 }", "'-' negates a number or a duration, found string"},
    {"{ /* open", "unterminated comment"},
    {"{ span.\"a }", "unterminated quoted attribute name"},
};

static void test_errors(void **state) {
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < TW_ARRAY_LEN(ERRORS); i++) {
        tq_query *q = NULL;
        char err[256] = "";
        int rc = tq_parse(ERRORS[i].q, strlen(ERRORS[i].q), &q, err);
        if (rc != TW_EPARSE || !strstr(err, ERRORS[i].want)) {
            print_message("invalid query %zu: %s\n  want: %s\n  got:  %s (rc %d)\n", i, ERRORS[i].q, ERRORS[i].want, err, rc);
            failures++;
        }
        if (q) tq_query_free(q);
    }
    assert_int_equal(failures, 0);
}

/* Metrics queries parse into their function, quantiles and by() labels. */
static void test_metrics_parse(void **state) {
    (void)state;
    tq_query *q;
    char err[256];
    const char *text = "{ kind = server } | quantile_over_time(duration, .5, 0.99) by (resource.service.name, name) | topk(5)";
    assert_int_equal(tq_parse(text, strlen(text), &q, err), TW_OK);
    assert_non_null(q->metrics);
    assert_int_equal(q->metrics->fn, TQ_M_QUANTILE_OVER_TIME);
    assert_int_equal(q->metrics->n_qs, 2);
    assert_true(q->metrics->qs[0] == 0.5 && q->metrics->qs[1] == 0.99);
    assert_int_equal(q->metrics->n_args, 2);
    assert_int_equal(q->second, TQ_SECOND_TOPK);
    assert_int_equal(q->second_n, 5);
    tw__buf b;
    tw__buf_init(&b, 1024);
    tq_node_text(q->metrics->args[0], &b);
    tw__buf_putc(&b, 0);
    assert_string_equal((const char *)b.data, "resource.service.name");
    tw__buf_free(&b);
    tq_query_free(q);
    const char *rate = "{ } | rate() with (sample=true)";
    assert_int_equal(tq_parse(rate, strlen(rate), &q, err), TW_OK);
    assert_int_equal(q->metrics->fn, TQ_M_RATE);
    tq_query_free(q);
}

/* Deep nesting is refused, not a stack overflow. */
static void test_depth(void **state) {
    (void)state;
    char text[4096];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "{ ");
    for (int i = 0; i < 500; i++) text[n++] = '(';
    n += (size_t)snprintf(text + n, sizeof text - n, "true");
    for (int i = 0; i < 500; i++) text[n++] = ')';
    n += (size_t)snprintf(text + n, sizeof text - n, " }");
    tq_query *q = NULL;
    char err[256];
    assert_int_equal(tq_parse(text, n, &q, err), TW_EPARSE);
    assert_non_null(strstr(err, "nests deeper than"));
}

/* ---- push-down: the same table through blocks and the prefilter ------------ */

/* The five traces in two blocks: one row group per trace, and one row group
 * for all of them. */
static struct {
    char dir[64];
    tws_objstore *st;
    tws_block *blk[2];
} PD;

static int cmp_ref(const void *x, const void *y) {
    const tws_span_ref *a = x, *b = y;
    return memcmp(a->span->trace_id, b->span->trace_id, 16);
}

static void pd_open(void) {
    snprintf(PD.dir, sizeof PD.dir, "/tmp/tw-traceql-XXXXXX");
    assert_non_null(mkdtemp(PD.dir));
    tws_objstore_err oe;
    assert_int_equal(tws_objstore_local_open(PD.dir, &PD.st, &oe), TW_OK);
    for (int k = 0; k < 2; k++) {
        tws_block_writer_options o = {.row_group_spans = k == 0 ? 1 : 0};
        tws_block_writer *w;
        assert_int_equal(tws_block_writer_new("t", &o, &w), TW_OK);
        for (int t = 1; t <= N_TRACES; t++) {
            tws_span_ref refs[16];
            for (uint32_t i = 0; i < TRACES[t].n_spans; i++) refs[i] = (tws_span_ref){&TRACES[t], &TRACES[t].spans[i]};
            qsort(refs, TRACES[t].n_spans, sizeof *refs, cmp_ref);
            assert_int_equal(tws_block_writer_add_trace(w, refs, TRACES[t].n_spans), TW_OK);
        }
        tws_block_meta m;
        char err[256];
        assert_int_equal(tws_block_writer_finish(w, PD.st, &m, err), TW_OK);
        tws_block_writer_free(w);
        assert_int_equal(m.row_groups, k == 0 ? N_TRACES : 1);
        assert_int_equal(tws_block_open(PD.st, "t", m.id, &PD.blk[k], err), TW_OK);
    }
}

static void pd_close(void) {
    for (int k = 0; k < 2; k++) tws_block_close(PD.blk[k]);
    tws_obj_close(PD.st);
    rm_rf(PD.dir);
}

/* Run `query` over block k as a search does: prefilter each row group,
 * decode the traces it keeps, evaluate them. out: the table's form; kept:
 * the kept trace numbers ("1 3"); *pruned: row groups ruled out whole. */
static void run_block(int k, const char *query, char *out, size_t cap, char *kept, size_t kcap, uint32_t *pruned) {
    tq_query *q = parse_ok(query);
    tws_prefilter *pf;
    assert_int_equal(tws_prefilter_new(q, &pf), TW_OK);
    tq_eval *e;
    assert_int_equal(tq_eval_new(&e), TW_OK);
    size_t len = 0, klen = 0;
    out[0] = kept[0] = 0;
    *pruned = 0;
    tws_block *blk = PD.blk[k];
    for (uint64_t g = 0; g < tws_block_get_meta(blk)->row_groups; g++) {
        char err[256];
        tws_rg *rg;
        assert_int_equal(tws_rg_open(blk, g, &rg, err), TW_OK);
        uint8_t keep[N_TRACES];
        uint32_t n_kept = tws_rg_n_traces(rg);
        if (pf) assert_int_equal(tws_prefilter_run(pf, rg, keep, &n_kept, err), TW_OK);
        if (!n_kept) {
            ++*pruned;
            tws_rg_close(rg);
            continue;
        }
        tws_batch b;
        tws_batch_init(&b);
        assert_int_equal(tws_rg_decode(rg, pf ? keep : NULL, tws_search_parts(q), &b, err), TW_OK);
        tws_rg_close(rg);
        for (uint32_t i = 0, j; i < b.n_spans; i = j) {
            for (j = i + 1; j < b.n_spans && !memcmp(b.spans[j].trace_id, b.spans[i].trace_id, 16); j++) {
            }
            klen += (size_t)snprintf(kept + klen, kcap - klen, "%s%d", klen ? " " : "", b.spans[i].trace_id[15]);
            eval_one(e, q, &b, i, j - i, out, cap, &len);
        }
        tws_batch_free(&b);
    }
    tq_eval_free(e);
    tws_prefilter_free(pf);
    tq_query_free(q);
}

/* Every query of the conformance table gives the same answer through the
 * blocks, and the prefilter rules whole row groups out for many of them. */
static void test_pushdown_conformance(void **state) {
    (void)state;
    pd_open();
    char got[512], kept[64];
    int failures = 0;
    size_t pruning = 0;
    for (size_t i = 0; i < TW_ARRAY_LEN(CASES); i++)
        for (int k = 0; k < 2; k++) {
            uint32_t pruned;
            run_block(k, CASES[i].q, got, sizeof got, kept, sizeof kept, &pruned);
            if (strcmp(got, CASES[i].want)) {
                print_message("block %d, query %zu: %s\n  want: %s\n  got:  %s\n", k, i, CASES[i].q, CASES[i].want, got);
                failures++;
            }
            pruning += k == 0 && pruned > 0;
        }
    print_message("%zu queries through blocks, %d wrong, %zu pruned row groups\n", TW_ARRAY_LEN(CASES), failures, pruning);
    assert_int_equal(failures, 0);
    assert_true(pruning >= 100);
    pd_close();
}

/* Exactly which traces the prefilter keeps, and its plan. */
static const struct {
    const char *q, *kept, *plan;
} KEEP[] = {
    {"{ span.user.id = \"u-42\" }", "1", "any(span.user.id = \"u-42\")"},
    {"{ span.user.id = \"nobody\" }", "", NULL},
    {"{ resource.service.name = \"cron\" }", "5", NULL},
    {"{ name =~ \"GET.*\" }", "1 2 4", NULL},
    {"{ status = error }", "2", "any(status = error)"},
    {"{ statusMessage = \"upstream failed\" }", "2", NULL},
    {"{ statusMessage = \"\" }", "1 2 3 4 5", NULL},
    {"{ kind = consumer }", "3", NULL},
    {"{ duration > 1s }", "2 5", NULL},
    {"{ event.exception.type = \"TimeoutError\" }", "2", NULL},
    {"{ event:name = \"retry\" }", "2", NULL},
    {"{ link.link.kind = \"follows\" }", "2", NULL},
    {"{ link.kind = \"follows\" }", "", NULL},
    {"{ instrumentation.messaging.lib = \"librdkafka\" }", "3", NULL},
    {"{ .db.system = \"postgresql\" }", "1 3", NULL},
    {"{ .deployment.environment = \"prod\" }", "1 2 4", NULL},
    {"{ span.http.status_code >= 500 }", "2", NULL},
    {"{ span.tags = \"b\" }", "1", NULL},
    {"{ span.vip = true }", "1", NULL},
    {"{ span.cart.total > 50.0 }", "1", NULL},
    {"{ span.cart.items > 2.5 }", "1", NULL},
    {"{ span.\"a b\" = \"spaced\" }", "5", NULL},
    {"{ span.http.method != nil }", "1 2", "any(span.http.method != nil)"},
    {"{ span.http.method = nil }", "1 2 3 4 5", "true"},
    {"{ !(span.vip = true) }", "1 2 3 4 5", "true"},
    {"{ rootName = \"GET /checkout\" }", "1 2 3 4 5", "true"},
    {"{ span.http.status_code = 200 && name = \"charge\" }", "1", NULL},
    {"{ span.http.status_code = 200 || name = \"render\" }", "1 2 4", NULL},
    {"{ span.http.status_code = 200 } | count() > 1", "1 4", NULL},
    {"{ span.user.id = \"u-42\" } && { resource.service.name = \"payments\" }", "1",
     "any(span.user.id = \"u-42\") && any(resource.service.name = \"payments\")"},
    {"{ resource.service.name = \"cron\" } || { kind = consumer }", "3 5", NULL},
    {"{ resource.service.name = \"frontend\" } > { resource.service.name = \"payments\" }", "1 2", NULL},
    {"{ resource.service.name = \"cron\" } !> { resource.service.name = \"payments\" }", "1 2",
     "any(resource.service.name = \"payments\")"},
    {"{ resource.service.name = \"billing\" } | rate() by (name)", "3", NULL},
    {"{ resource.service.name = \"frontend\" } >> { span.db.system = \"postgresql\" && status = error }", "",
     "any(resource.service.name = \"frontend\") && any(span.db.system = \"postgresql\" && status = error)"},
};

static void test_pushdown_keeps(void **state) {
    (void)state;
    pd_open();
    char got[512], kept[64];
    for (size_t i = 0; i < TW_ARRAY_LEN(KEEP); i++)
        for (int k = 0; k < 2; k++) {
            uint32_t pruned;
            run_block(k, KEEP[i].q, got, sizeof got, kept, sizeof kept, &pruned);
            if (strcmp(kept, KEEP[i].kept)) fail_msg("block %d: %s keeps \"%s\", want \"%s\"", k, KEEP[i].q, kept, KEEP[i].kept);
            run(KEEP[i].q, got + 256, 256); /* what it keeps includes what matches */
            char want[64];
            size_t wl = 0;
            want[0] = 0;
            for (const char *p = got + 256; *p; p++)
                if (*p >= '1' && *p <= '9' && p[1] == ':') wl += (size_t)snprintf(want + wl, sizeof want - wl, "%s%c", wl ? " " : "", *p);
            for (const char *w = want; *w; w++)
                if (*w != ' ' && !strchr(kept, *w)) fail_msg("%s matches trace %c, which it does not keep", KEEP[i].q, *w);
        }
    for (size_t i = 0; i < TW_ARRAY_LEN(KEEP); i++) {
        if (!KEEP[i].plan) continue;
        tq_query *q = parse_ok(KEEP[i].q);
        tws_prefilter *pf;
        assert_int_equal(tws_prefilter_new(q, &pf), TW_OK);
        tw__buf b;
        tw__buf_init(&b, 4096);
        tws_prefilter_text(pf, &b);
        tw__buf_putc(&b, 0);
        assert_string_equal((const char *)b.data, KEEP[i].plan);
        tw__buf_free(&b);
        tws_prefilter_free(pf);
        tq_query_free(q);
    }
    pd_close();
}

/* Search over a store of blocks on two scanner threads (the TSan build runs
 * this): 100 copies of the five traces, row groups of 64 spans, each
 * holding copies of one trace, so that selective queries rule some out. */
static void test_search_store(void **state) {
    (void)state;
    char dir[64], sub[96], err[256];
    snprintf(dir, sizeof dir, "/tmp/tw-search-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/blocks", dir);
    tws_objstore *obj;
    tws_objstore_err oe;
    assert_int_equal(tws_objstore_local_open(sub, &obj, &oe), TW_OK);
    snprintf(sub, sizeof sub, "%s/state", dir);
    tws_store_options so = {.retention_s = 100ull * 365 * 24 * 3600, .maintenance_ms = 3600000, .row_group_spans = 64};
    tws_store *st;
    uint64_t cp;
    assert_int_equal(tws_store_open(obj, sub, &so, NULL, &st, &cp, err), TW_OK);
    tws_head *h;
    assert_int_equal(tws_head_new(NULL, &h), TW_OK);
    for (int k = 1; k <= 100; k++)
        for (int t = 1; t <= N_TRACES; t++) {
            tws_batch b;
            build_trace(&b, t);
            for (uint32_t i = 0; i < b.n_spans; i++) { /* sorted by kind of trace: row groups of one kind */
                b.spans[i].trace_id[0] = (uint8_t)t;
                b.spans[i].trace_id[1] = (uint8_t)k;
            }
            assert_int_equal(tws_head_add(h, "t", &b, 4096), TW_OK);
        }
    assert_int_equal(tws_store_flush_now(st, h, 1, err), TW_OK);
    tws_head_free(h);
    static const struct {
        const char *q;
        uint32_t traces;
        bool prunes;
    } cases[] = {
        {"{ span.user.id = \"u-42\" }", 100, true},
        {"{ status = error }", 100, true},
        {"{ resource.service.name = \"cron\" } || { kind = consumer }", 200, true},
        {"{ .db.system = \"postgresql\" } && { span.nothing = 1 }", 0, true},
        {"{ }", 500, false},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(cases); i++) {
        tq_query *q = parse_ok(cases[i].q);
        tws_search_req req = {.q = q, .tenant = "t", .limit = 1000, .threads = 2};
        tws_search_result res;
        assert_int_equal(tws_search_run(&req, NULL, NULL, st, &res, err), TW_OK);
        if (res.n != cases[i].traces) fail_msg("%s: %u traces, want %u", cases[i].q, res.n, cases[i].traces);
        assert_true(res.stats.row_groups_read > 1);
        assert_int_equal(res.stats.row_groups_pruned > 0, cases[i].prunes);
        tws_search_result_free(&res);
        tq_query_free(q);
    }
    tws_store_close(st);
    rm_rf(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_metrics_parse),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_pushdown_conformance),
        cmocka_unit_test(test_pushdown_keeps),
        cmocka_unit_test(test_search_store),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
