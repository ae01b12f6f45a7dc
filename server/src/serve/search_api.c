/*
 * search_api.c — Tempo's search and tag-discovery endpoints on the query
 * port, in the shapes Grafana's Tempo data source reads (docs/API.md):
 *   GET /api/search                        TraceQL (q=) or the older tags= /
 *                                          minDuration= / maxDuration= form
 *   GET /api/search/tags, /api/v2/search/tags
 *   GET /api/search/tag/<tag>/values, /api/v2/search/tag/<tag>/values
 * JSON as Tempo writes it (protobuf JSON mapping): 64-bit numbers as
 * strings, zero values left out. A query that does not parse is answered
 * 400 with "invalid TraceQL query: " and the parser's message.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/queue.h>

#include "common/clock.h"
#include "common/json.h"
#include "search/search.h"
#include "serve/server_int.h"
#include "traceql/traceql_int.h"

static void reply_json(struct evhttp_request *req, tw__buf *b) {
    if (b->failed) tws_reply_text(req, 500, "Internal Server Error", "text/plain", "out of memory\n", 14);
    else tws_reply_text(req, 200, "OK", "application/json", (const char *)b->data, b->len);
}

static void bad_request(struct evhttp_request *req, const char *fmt, const char *arg) {
    char msg[512];
    int n = snprintf(msg, sizeof msg, fmt, arg);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
    tws_reply_text(req, 400, "Bad Request", "text/plain", msg, (size_t)n);
}

static const char *tenant_of(tws_server *s, struct evhttp_request *req) {
    const char *t = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Scope-OrgID");
    return t && *t ? t : s->cfg.default_tenant;
}

/* A positive integer parameter (absent: def). -1 when malformed. */
static long uint_param(struct evkeyvalq *q, const char *name, long def) {
    const char *v = evhttp_find_header(q, name);
    if (!v || !*v) return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x <= 0) return -1;
    return x;
}

/* start/end in Unix seconds (Tempo's search API). */
static int range_params(struct evhttp_request *req, struct evkeyvalq *q, uint64_t *start, uint64_t *end) {
    *start = *end = 0;
    const char *names[2] = {"start", "end"};
    uint64_t *out[2] = {start, end};
    for (int i = 0; i < 2; i++) {
        const char *v = evhttp_find_header(q, names[i]);
        if (!v || !*v) continue;
        char *e;
        errno = 0;
        unsigned long long x = strtoull(v, &e, 10);
        if (errno || *e || *v == '-' || x > 18446744073ull) {
            bad_request(req, "invalid %s: expected Unix seconds\n", names[i]);
            return -1;
        }
        *out[i] = x * 1000000000ull;
    }
    if (*end && *start > *end) {
        bad_request(req, "%s", "http parameter start must be before end\n");
        return -1;
    }
    if (*start && !*end) *end = UINT64_MAX;
    return 0;
}

void tws_api_val_json(tw__json *j, const tq_val *v) {
    tw__json_begin_object(j);
    switch (v->t) {
    case TQ_INT:
        tw__json_key(j, "intValue", TW_NTS);
        tw__json_int64_string(j, v->u.i);
        break;
    case TQ_FLOAT:
        tw__json_key(j, "doubleValue", TW_NTS);
        tw__json_double(j, v->u.f);
        break;
    case TQ_BOOL:
        tw__json_key(j, "boolValue", TW_NTS);
        tw__json_bool(j, v->u.b);
        break;
    default: {
        tw__buf t;
        tw__buf_init(&t, 1u << 20);
        tq_val_text(v, &t);
        tw__json_key(j, "stringValue", TW_NTS);
        tw__json_string(j, t.data ? (const char *)t.data : "", t.len);
        tw__buf_free(&t);
        break;
    }
    }
    tw__json_end_object(j);
}

static void attrs_json(tw__json *j, const tws_found_attr *a, uint32_t n) {
    if (!n) return;
    tw__json_key(j, "attributes", TW_NTS);
    tw__json_begin_array(j);
    for (uint32_t i = 0; i < n; i++) {
        tw__json_begin_object(j);
        tw__json_key(j, "key", TW_NTS);
        tw__json_string(j, a[i].key, a[i].key_len);
        tw__json_key(j, "value", TW_NTS);
        tws_api_val_json(j, &a[i].val);
        tw__json_end_object(j);
    }
    tw__json_end_array(j);
}

static void set_json(tw__json *j, const tws_found_set *set) {
    tw__json_begin_object(j);
    tw__json_key(j, "spans", TW_NTS);
    tw__json_begin_array(j);
    for (uint32_t i = 0; i < set->n_spans; i++) {
        const tws_found_span *sp = &set->spans[i];
        tw__json_begin_object(j);
        tw__json_key(j, "spanID", TW_NTS);
        tw__json_hex(j, sp->span_id, 8);
        if (sp->name_len) {
            tw__json_key(j, "name", TW_NTS);
            tw__json_string(j, sp->name, sp->name_len);
        }
        tw__json_key(j, "startTimeUnixNano", TW_NTS);
        tw__json_uint64_string(j, sp->start_ns);
        tw__json_key(j, "durationNanos", TW_NTS);
        tw__json_uint64_string(j, sp->dur_ns);
        attrs_json(j, sp->attrs, sp->n_attrs);
        tw__json_end_object(j);
    }
    tw__json_end_array(j);
    if (set->matched) {
        tw__json_key(j, "matched", TW_NTS);
        tw__json_uint64(j, set->matched);
    }
    attrs_json(j, set->attrs, set->n_attrs);
    tw__json_end_object(j);
}

/* Hex without leading zeros, as Tempo writes trace ids. */
static void trace_id_json(tw__json *j, const uint8_t id[16]) {
    static const char X[] = "0123456789abcdef";
    char h[33];
    for (int i = 0; i < 16; i++) {
        h[2 * i] = X[id[i] >> 4];
        h[2 * i + 1] = X[id[i] & 15];
    }
    int skip = 0;
    while (skip < 31 && h[skip] == '0') skip++;
    tw__json_string(j, h + skip, (size_t)(32 - skip));
}

static void search_json(const tws_search_result *r, tw__buf *b) {
    tw__json j;
    tw__json_init(&j, b);
    tw__json_begin_object(&j);
    if (r->n) {
        tw__json_key(&j, "traces", TW_NTS);
        tw__json_begin_array(&j);
        for (uint32_t i = 0; i < r->n; i++) {
            const tws_found_trace *t = &r->traces[i];
            tw__json_begin_object(&j);
            tw__json_key(&j, "traceID", TW_NTS);
            trace_id_json(&j, t->id);
            tw__json_key(&j, "rootServiceName", TW_NTS);
            if (t->has_root && t->root_service_len) tw__json_string(&j, t->root_service, t->root_service_len);
            else tw__json_string(&j, "<root span not yet received>", TW_NTS);
            if (t->has_root && t->root_name_len) {
                tw__json_key(&j, "rootTraceName", TW_NTS);
                tw__json_string(&j, t->root_name, t->root_name_len);
            }
            tw__json_key(&j, "startTimeUnixNano", TW_NTS);
            tw__json_uint64_string(&j, t->start_ns);
            uint64_t ms = (t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 0) / 1000000;
            if (ms) {
                tw__json_key(&j, "durationMs", TW_NTS);
                tw__json_uint64(&j, ms);
            }
            if (t->n_sets) {
                tw__json_key(&j, "spanSet", TW_NTS); /* the first, for older clients */
                set_json(&j, &t->sets[0]);
                tw__json_key(&j, "spanSets", TW_NTS);
                tw__json_begin_array(&j);
                for (uint32_t k = 0; k < t->n_sets; k++) set_json(&j, &t->sets[k]);
                tw__json_end_array(&j);
            }
            if (t->n_services) {
                tw__json_key(&j, "serviceStats", TW_NTS);
                tw__json_begin_object(&j);
                for (uint32_t k = 0; k < t->n_services; k++) {
                    const tws_found_service *sv = &t->services[k];
                    tw__json_key(&j, sv->name, sv->name_len);
                    tw__json_begin_object(&j);
                    tw__json_key(&j, "spanCount", TW_NTS);
                    tw__json_uint64(&j, sv->spans);
                    if (sv->errors) {
                        tw__json_key(&j, "errorCount", TW_NTS);
                        tw__json_uint64(&j, sv->errors);
                    }
                    tw__json_end_object(&j);
                }
                tw__json_end_object(&j);
            }
            tw__json_end_object(&j);
        }
        tw__json_end_array(&j);
    }
    const tws_search_stats *st = &r->stats;
    tw__json_key(&j, "metrics", TW_NTS);
    tw__json_begin_object(&j);
    if (st->inspected_traces) {
        tw__json_key(&j, "inspectedTraces", TW_NTS);
        tw__json_uint64(&j, st->inspected_traces);
    }
    if (st->inspected_bytes) {
        tw__json_key(&j, "inspectedBytes", TW_NTS);
        tw__json_uint64_string(&j, st->inspected_bytes);
    }
    if (st->inspected_spans) {
        tw__json_key(&j, "inspectedSpans", TW_NTS);
        tw__json_uint64_string(&j, st->inspected_spans);
    }
    if (st->total_blocks) {
        tw__json_key(&j, "totalBlocks", TW_NTS);
        tw__json_uint64(&j, st->total_blocks);
        tw__json_key(&j, "totalBlockBytes", TW_NTS);
        tw__json_uint64_string(&j, st->total_block_bytes);
    }
    tw__json_end_object(&j);
    tw__json_end_object(&j);
}

/* ---- the older search form: tags= (logfmt), minDuration, maxDuration ----- */

/* Append s as the body of a TraceQL string literal holding a regular
 * expression that matches s literally. */
static void regex_literal(tw__buf *q, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (strchr("\\.^$|?*+()[]{}", c)) tw__buf_puts(q, "\\\\");
        if (c == '"') tw__buf_putc(q, '\\');
        tw__buf_putc(q, (uint8_t)c);
    }
}

/* tags: key=value pairs separated by spaces, values optionally quoted.
 * Each becomes a case-insensitive substring match, as Tempo's tag search. */
static int legacy_query(struct evkeyvalq *params, tw__buf *q, char *err, size_t err_len) {
    const char *tags = evhttp_find_header(params, "tags");
    const char *mind = evhttp_find_header(params, "minDuration");
    const char *maxd = evhttp_find_header(params, "maxDuration");
    int terms = 0;
    tw__buf_puts(q, "{ ");
    for (const char *p = tags ? tags : ""; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *k = p;
        while (*p && *p != '=' && *p != ' ') p++;
        size_t kn = (size_t)(p - k);
        const char *v = "";
        size_t vn = 0;
        if (*p == '=') {
            p++;
            if (*p == '"') {
                v = ++p;
                while (*p && *p != '"') p++;
                if (!*p) {
                    snprintf(err, err_len, "invalid tags: unterminated quote");
                    return -1;
                }
                vn = (size_t)(p - v);
                p++;
            } else {
                v = p;
                while (*p && *p != ' ') p++;
                vn = (size_t)(p - v);
            }
        }
        if (!kn) {
            snprintf(err, err_len, "invalid tags: a key is missing before '='");
            return -1;
        }
        if (terms++) tw__buf_puts(q, " && ");
        if (kn == 5 && !memcmp(k, "error", 5)) {
            tw__buf_puts(q, "status = error");
            continue;
        }
        if (kn == 11 && !memcmp(k, "status.code", 11)) {
            tw__buf_puts(q, "status = ");
            tw__buf_append(q, vn ? v : "unset", vn ? vn : 5);
            continue;
        }
        if (kn == 4 && !memcmp(k, "name", 4)) tw__buf_puts(q, "name");
        else {
            tw__buf_puts(q, ".\"");
            for (size_t i = 0; i < kn; i++) {
                if (k[i] == '"' || k[i] == '\\') tw__buf_putc(q, '\\');
                tw__buf_putc(q, (uint8_t)k[i]);
            }
            tw__buf_putc(q, '"');
        }
        tw__buf_puts(q, " =~ \"(?i).*");
        regex_literal(q, v, vn);
        tw__buf_puts(q, ".*\"");
    }
    const char *durs[2] = {mind, maxd};
    for (int i = 0; i < 2; i++) {
        if (!durs[i] || !*durs[i]) continue;
        /* a Go duration: checked by the TraceQL lexer as a duration literal */
        tq_arena *a = tq_arena_new();
        tq_lexer lx = {.src = durs[i], .len = strlen(durs[i]), .arena = a};
        tq_tok t = a ? tq_lex_next(&lx) : (tq_tok){.kind = TK_ERROR};
        bool ok = t.kind == TK_DURATION && tq_lex_next(&lx).kind == TK_EOF;
        tq_arena_free(a);
        if (!ok) {
            snprintf(err, err_len, "invalid %s: expected a duration such as 100ms or 1.5s", i ? "maxDuration" : "minDuration");
            return -1;
        }
        if (terms++) tw__buf_puts(q, " && ");
        tw__buf_printf(q, "traceDuration %s %s", i ? "<=" : ">=", durs[i]);
    }
    tw__buf_puts(q, " }");
    return 0;
}

static void handle_search(tws_server *s, struct evhttp_request *req, struct evkeyvalq *params) {
    long limit = uint_param(params, "limit", 20), spss = uint_param(params, "spss", 3);
    if (limit < 0) return bad_request(req, "%s", "invalid limit: must be a positive number\n");
    if (spss < 0) return bad_request(req, "%s", "invalid spss: must be a positive number\n");
    if (limit > 100000) limit = 100000;
    if (spss > 100000) spss = 100000;
    uint64_t start, end;
    if (range_params(req, params, &start, &end)) return;
    const char *qs = evhttp_find_header(params, "q");
    if (qs && *qs && evhttp_find_header(params, "tags"))
        return bad_request(req, "%s", "invalid request: can't specify tags and q in the same query\n");
    tw__buf text;
    tw__buf_init(&text, 1u << 20);
    char err[256];
    if (qs && *qs) {
        tw__buf_append(&text, qs, strlen(qs));
    } else if (legacy_query(params, &text, err, sizeof err)) {
        tw__buf_free(&text);
        return bad_request(req, "%s\n", err);
    }
    tq_query *q;
    int rc = text.failed ? TW_ENOMEM : tq_parse((const char *)text.data, text.len, &q, err);
    tw__buf_free(&text);
    if (rc == TW_EPARSE) return bad_request(req, "invalid TraceQL query: %s\n", err);
    if (rc) return tws_reply_text(req, 500, "Internal Server Error", "text/plain", "out of memory\n", 14);
    if (q->metrics) {
        tq_query_free(q);
        return bad_request(req, "%s", "invalid TraceQL query: a metrics query belongs to /api/metrics/query_range\n");
    }
    tws_search_req sr = {.q = q, .tenant = tenant_of(s, req), .start_ns = start, .end_ns = end,
                         .limit = (uint32_t)limit, .spss = (uint32_t)spss};
    tws_search_result res;
    rc = tws_search_run(&sr, s->head, s->frozen, s->store, &res, err);
    tq_query_free(q);
    if (rc == TW_ENOMEM) return tws_reply_text(req, 500, "Internal Server Error", "text/plain", "out of memory\n", 14);
    if (err[0]) fprintf(stderr, "tracewire: search: %s\n", err);
    tw__buf b;
    tw__buf_init(&b, 1u << 30);
    search_json(&res, &b);
    reply_json(req, &b);
    tw__buf_free(&b);
    tws_search_result_free(&res);
}

/* ---- tags ------------------------------------------------------------------ */

/* A set of distinct strings (with a type tag), in arrival order. */
typedef struct strset {
    tw__buf data;    /* the strings, each NUL-terminated */
    uint32_t *off;   /* offsets into data, per item */
    uint8_t *type;   /* tq_type per item */
    uint32_t n, cap;
    uint32_t *slots; /* open addressing: item + 1, 0 empty */
    uint32_t n_slots;
    uint32_t limit;
    bool failed;
} strset;

static uint64_t str_hash(const char *s, size_t n, uint8_t type) {
    uint64_t h = 1469598103934665603ull ^ type;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return tw__mix64(h);
}

/* Add (s, type); false once the set is at its limit. */
static bool strset_add(strset *ss, const char *s, size_t n, uint8_t type) {
    if (ss->failed) return false;
    if (ss->n_slots < 2 * (ss->n + 1)) {
        uint32_t ns = ss->n_slots ? ss->n_slots * 2 : 64;
        uint32_t *sl = tw__calloc(ns, sizeof *sl);
        if (!sl) return !(ss->failed = true);
        for (uint32_t i = 0; i < ss->n; i++) {
            const char *p = (const char *)ss->data.data + ss->off[i];
            uint32_t h = (uint32_t)str_hash(p, strlen(p), ss->type[i]) & (ns - 1);
            while (sl[h]) h = (h + 1) & (ns - 1);
            sl[h] = i + 1;
        }
        tw__free(ss->slots);
        ss->slots = sl;
        ss->n_slots = ns;
    }
    uint32_t h = (uint32_t)str_hash(s, n, type) & (ss->n_slots - 1);
    while (ss->slots[h]) {
        uint32_t i = ss->slots[h] - 1;
        const char *p = (const char *)ss->data.data + ss->off[i];
        if (ss->type[i] == type && strlen(p) == n && !memcmp(p, s, n)) return true;
        h = (h + 1) & (ss->n_slots - 1);
    }
    if (ss->n >= ss->limit) return false;
    if (memchr(s, 0, n)) return true; /* not representable as text */
    if (ss->n == ss->cap) {
        uint32_t cap = ss->cap ? ss->cap * 2 : 64;
        uint32_t *off = tw__realloc(ss->off, cap * sizeof *off);
        if (off) ss->off = off;
        uint8_t *ty = off ? tw__realloc(ss->type, cap) : NULL;
        if (ty) ss->type = ty;
        if (!off || !ty) return !(ss->failed = true);
        ss->cap = cap;
    }
    ss->off[ss->n] = (uint32_t)ss->data.len;
    ss->type[ss->n] = type;
    tw__buf_append(&ss->data, s, n);
    tw__buf_putc(&ss->data, 0);
    if (ss->data.failed) return !(ss->failed = true);
    ss->slots[h] = ++ss->n;
    return true;
}

static void strset_free(strset *ss) {
    tw__buf_free(&ss->data);
    tw__free(ss->off);
    tw__free(ss->type);
    tw__free(ss->slots);
}

static const char *item(const strset *ss, uint32_t i) { return (const char *)ss->data.data + ss->off[i]; }

static int cmp_str(const void *x, const void *y) { return strcmp(*(const char *const *)x, *(const char *const *)y); }

enum { SC_SPAN, SC_RESOURCE, SC_EVENT, SC_LINK, SC_INSTRUMENTATION, SC__N };
static const char *const SCOPE_NAMES[SC__N] = {"span", "resource", "event", "link", "instrumentation"};

typedef struct tag_visit {
    strset sets[SC__N];
    bool want[SC__N];
} tag_visit;

static void add_keys(strset *ss, const tws_attrs *a) {
    for (uint32_t i = 0; i < a->n; i++) strset_add(ss, a->items[i].key.ptr, a->items[i].key.len, 0);
}

static int on_tags(void *user, tq_eval *e, const tq_trace *t, const tq_spanset *sets, uint32_t n_sets) {
    tag_visit *v = user;
    (void)e;
    for (uint32_t k = 0; k < n_sets; k++)
        for (uint32_t i = 0; i < sets[k].n; i++) {
            const tq_span *sp = &t->spans[sets[k].spans[i]];
            if (v->want[SC_SPAN]) add_keys(&v->sets[SC_SPAN], &sp->s->attrs);
            if (v->want[SC_RESOURCE] && sp->res) add_keys(&v->sets[SC_RESOURCE], &sp->res->attrs);
            if (v->want[SC_INSTRUMENTATION] && sp->scope) add_keys(&v->sets[SC_INSTRUMENTATION], &sp->scope->attrs);
            for (uint32_t x = 0; v->want[SC_EVENT] && x < sp->s->n_events; x++) add_keys(&v->sets[SC_EVENT], &sp->s->events[x].attrs);
            for (uint32_t x = 0; v->want[SC_LINK] && x < sp->s->n_links; x++) add_keys(&v->sets[SC_LINK], &sp->s->links[x].attrs);
        }
    bool room = false;
    for (int sc = 0; sc < SC__N; sc++) room |= v->want[sc] && v->sets[sc].n < v->sets[sc].limit && !v->sets[sc].failed;
    return room ? 0 : 1;
}

/* Tempo's intrinsic names for the v2 "intrinsic" scope. */
static const char *const INTRINSIC_TAGS[] = {
    "duration", "event:name", "event:timeSinceStart", "instrumentation:name", "instrumentation:version", "kind",
    "name", "rootName", "rootServiceName", "span:duration", "span:kind", "span:name", "span:status",
    "span:statusMessage", "status", "statusMessage", "trace:duration", "trace:rootName", "trace:rootService",
    "traceDuration",
};

/* The query that picks the spans tags are read from: q= when it is a
 * spanset filter that parses (Tempo ignores a q that does not), else all. */
static tq_query *filter_query(struct evkeyvalq *params, const char *suffix) {
    const char *qs = params ? evhttp_find_header(params, "q") : NULL;
    char err[256];
    tq_query *q = NULL;
    tw__buf t;
    tw__buf_init(&t, 1u << 20);
    for (int attempt = 0; attempt < 2 && !q; attempt++) {
        tw__buf_reset(&t);
        tw__buf_puts(&t, attempt == 0 && qs && *qs ? qs : "{ }");
        tw__buf_puts(&t, suffix);
        if (t.failed || tq_parse((const char *)t.data, t.len, &q, err) != TW_OK) q = NULL;
        else if (q->metrics) {
            tq_query_free(q);
            q = NULL;
        }
    }
    tw__buf_free(&t);
    return q;
}

/* Without start/end, tag discovery reads recent data only, as Tempo's
 * does (its ingesters): the head and the blocks of the last hour. */
static int tag_range(struct evhttp_request *req, struct evkeyvalq *params, uint64_t *start, uint64_t *end) {
    if (range_params(req, params, start, end)) return -1;
    if (!*end) {
        *start = tw__clock_ns() - 3600ull * 1000000000ull;
        *end = UINT64_MAX;
    }
    return 0;
}

/* Run `fn` over every span set `q` matches in the tenant's data. */
static void visit(tws_server *s, struct evhttp_request *req, const tq_query *q, uint64_t start, uint64_t end,
                  tws_visit_fn fn, void *user, const char *what) {
    char err[256] = "";
    tws_search_req sr = {.q = q, .tenant = tenant_of(s, req), .start_ns = start, .end_ns = end};
    tws_search_visit(&sr, s->head, s->frozen, s->store, fn, user, NULL, err);
    if (err[0]) fprintf(stderr, "tracewire: %s: %s\n", what, err);
}

/* Close a tag answer: an empty "metrics" object, as Tempo's, and reply. */
static void finish_tags(struct evhttp_request *req, tw__json *j, tw__buf *b) {
    tw__json_key(j, "metrics", TW_NTS);
    tw__json_begin_object(j);
    tw__json_end_object(j);
    tw__json_end_object(j);
    reply_json(req, b);
    tw__buf_free(b);
}

static void handle_tags(tws_server *s, struct evhttp_request *req, struct evkeyvalq *params, bool v2) {
    const char *scope = evhttp_find_header(params, "scope");
    long limit = uint_param(params, "limit", 5000);
    if (limit < 0) return bad_request(req, "%s", "invalid limit: must be a positive number\n");
    uint64_t start, end;
    if (tag_range(req, params, &start, &end)) return;
    tag_visit v;
    memset(&v, 0, sizeof v);
    bool intrinsic = false;
    if (!scope || !*scope || !strcmp(scope, "none") || !strcmp(scope, "all")) {
        v.want[SC_SPAN] = v.want[SC_RESOURCE] = true;
        if (v2) v.want[SC_EVENT] = v.want[SC_LINK] = v.want[SC_INSTRUMENTATION] = intrinsic = true;
    } else if (!strcmp(scope, "intrinsic")) {
        intrinsic = true;
    } else {
        int k = 0;
        while (k < SC__N && strcmp(scope, SCOPE_NAMES[k])) k++;
        if (k == SC__N) return bad_request(req, "unknown scope: %.100s\n", scope);
        v.want[k] = true;
    }
    for (int k = 0; k < SC__N; k++) {
        v.sets[k].limit = (uint32_t)limit;
        tw__buf_init(&v.sets[k].data, 1u << 28);
    }
    tq_query *q = v2 ? filter_query(params, "") : filter_query(NULL, "");
    bool any = false;
    for (int k = 0; k < SC__N; k++) any |= v.want[k];
    if (q && any) visit(s, req, q, start, end, on_tags, &v, "tags");
    tq_query_free(q);
    tw__buf b;
    tw__buf_init(&b, 1u << 28);
    tw__json j;
    tw__json_init(&j, &b);
    tw__json_begin_object(&j);
    const char **names = NULL;
    if (!v2) {
        /* v1: span and resource names together, sorted, distinct */
        strset all = {.limit = (uint32_t)limit};
        tw__buf_init(&all.data, 1u << 28);
        for (int k = 0; k < SC__N; k++)
            for (uint32_t i = 0; i < v.sets[k].n; i++) strset_add(&all, item(&v.sets[k], i), strlen(item(&v.sets[k], i)), 0);
        if (intrinsic)
            for (size_t i = 0; i < TW_ARRAY_LEN(INTRINSIC_TAGS); i++) strset_add(&all, INTRINSIC_TAGS[i], strlen(INTRINSIC_TAGS[i]), 0);
        names = tw__malloc((all.n + 1) * sizeof *names);
        tw__json_key(&j, "tagNames", TW_NTS);
        tw__json_begin_array(&j);
        if (names) {
            for (uint32_t i = 0; i < all.n; i++) names[i] = item(&all, i);
            qsort(names, all.n, sizeof *names, cmp_str);
            for (uint32_t i = 0; i < all.n; i++) tw__json_string(&j, names[i], TW_NTS);
        }
        tw__json_end_array(&j);
        tw__free(names);
        strset_free(&all);
    } else {
        tw__json_key(&j, "scopes", TW_NTS);
        tw__json_begin_array(&j);
        for (int k = 0; k < SC__N; k++) {
            if (!v.want[k] || (!v.sets[k].n && (!scope || !*scope))) continue;
            names = tw__malloc((v.sets[k].n + 1) * sizeof *names);
            if (!names) continue;
            for (uint32_t i = 0; i < v.sets[k].n; i++) names[i] = item(&v.sets[k], i);
            qsort(names, v.sets[k].n, sizeof *names, cmp_str);
            tw__json_begin_object(&j);
            tw__json_key(&j, "name", TW_NTS);
            tw__json_string(&j, SCOPE_NAMES[k], TW_NTS);
            tw__json_key(&j, "tags", TW_NTS);
            tw__json_begin_array(&j);
            for (uint32_t i = 0; i < v.sets[k].n; i++) tw__json_string(&j, names[i], TW_NTS);
            tw__json_end_array(&j);
            tw__json_end_object(&j);
            tw__free(names);
        }
        if (intrinsic) {
            tw__json_begin_object(&j);
            tw__json_key(&j, "name", TW_NTS);
            tw__json_string(&j, "intrinsic", TW_NTS);
            tw__json_key(&j, "tags", TW_NTS);
            tw__json_begin_array(&j);
            for (size_t i = 0; i < TW_ARRAY_LEN(INTRINSIC_TAGS) && i < (size_t)limit; i++)
                tw__json_string(&j, INTRINSIC_TAGS[i], TW_NTS);
            tw__json_end_array(&j);
            tw__json_end_object(&j);
        }
        tw__json_end_array(&j);
    }
    finish_tags(req, &j, &b);
    for (int k = 0; k < SC__N; k++) strset_free(&v.sets[k]);
}

/* ---- tag values ------------------------------------------------------------ */

typedef struct value_visit {
    strset set;
    const tq_node *tag;
} value_visit;

static const char *type_word(tq_type t) {
    switch (t) {
    case TQ_INT: return "int";
    case TQ_FLOAT: return "float";
    case TQ_BOOL: return "bool";
    case TQ_DURATION: return "duration";
    case TQ_STATUS: case TQ_KIND: return "keyword";
    default: return "string";
    }
}

static void add_value(value_visit *v, const tq_val *x) {
    if (x->t == TQ_NIL || x->t == TQ_ARRAY) return;
    if (x->t == TQ_STRING) {
        strset_add(&v->set, x->u.s, x->n, TQ_STRING);
        return;
    }
    tw__buf t;
    tw__buf_init(&t, 1024);
    tq_val_text(x, &t);
    if (!t.failed) strset_add(&v->set, (const char *)t.data, t.len, (uint8_t)x->t);
    tw__buf_free(&t);
}

static int on_values(void *user, tq_eval *e, const tq_trace *t, const tq_spanset *sets, uint32_t n_sets) {
    value_visit *v = user;
    const tq_node *tag = v->tag;
    for (uint32_t k = 0; k < n_sets; k++)
        for (uint32_t i = 0; i < sets[k].n; i++) {
            uint32_t si = sets[k].spans[i];
            const tws_span *s = t->spans[si].s;
            if (tag->kind == TQN_ATTR && (tag->scope == TQ_SCOPE_EVENT || tag->scope == TQ_SCOPE_LINK)) {
                uint32_t n = tag->scope == TQ_SCOPE_EVENT ? s->n_events : s->n_links;
                for (uint32_t x = 0; x < n; x++) {
                    const tws_attrs *a = tag->scope == TQ_SCOPE_EVENT ? &s->events[x].attrs : &s->links[x].attrs;
                    for (uint32_t y = 0; y < a->n; y++) {
                        if (a->items[y].key.len != tag->name_len || memcmp(a->items[y].key.ptr, tag->name, tag->name_len)) continue;
                        tq_val tv = tq_val_from(&a->items[y].val);
                        add_value(v, &tv);
                    }
                }
                continue;
            }
            tq_val x = tq_eval_field(e, tag, t, si);
            add_value(v, &x);
        }
    return v->set.n >= v->set.limit || v->set.failed ? 1 : 0;
}

static void handle_tag_values(tws_server *s, struct evhttp_request *req, const char *tag_enc,
                              struct evkeyvalq *params, bool v2) {
    long limit = uint_param(params, "limit", 5000);
    if (limit < 0) return bad_request(req, "%s", "invalid limit: must be a positive number\n");
    uint64_t start, end;
    if (tag_range(req, params, &start, &end)) return;
    char *tag = evhttp_uridecode(tag_enc, 0, NULL);
    if (!tag) return tws_reply_text(req, 500, "Internal Server Error", "text/plain", "out of memory\n", 14);
    /* Grafana encodes the name twice; a name with '%' left decodes once more. */
    if (strchr(tag, '%')) {
        char *again = evhttp_uridecode(tag, 0, NULL);
        if (again) {
            free(tag);
            tag = again;
        }
    }
    /* The tag as a TraceQL field: v2 names are TraceQL ("resource.x", "name");
     * v1 names are bare attribute names (".x"). */
    tw__buf sel;
    tw__buf_init(&sel, 1u << 16);
    tw__buf_puts(&sel, " | select(");
    if (!v2) tw__buf_putc(&sel, '.');
    tw__buf_puts(&sel, tag);
    tw__buf_putc(&sel, ')');
    tw__buf_putc(&sel, 0);
    sel.len--; /* a C string for filter_query, the length without the NUL */
    tq_query *q = sel.failed ? NULL : filter_query(v2 ? params : NULL, (const char *)sel.data);
    if (q && v2) { /* q= must not be what made the select fail: check the tag alone */
        tq_query *alone = NULL;
        char e2[256];
        tw__buf t;
        tw__buf_init(&t, 1u << 16);
        tw__buf_puts(&t, "{ }");
        tw__buf_append(&t, sel.data, sel.len);
        if (!t.failed && tq_parse((const char *)t.data, t.len, &alone, e2) == TW_OK) tq_query_free(alone);
        else {
            tq_query_free(q);
            q = NULL;
        }
        tw__buf_free(&t);
    }
    tw__buf_free(&sel);
    if (!q) {
        bad_request(req, "invalid tag: %.200s\n", tag);
        free(tag);
        return;
    }
    free(tag);
    /* the select() stage is the pipeline's last: its argument is the tag */
    const tq_node *tagn = q->root->kind == TQN_PIPE ? q->root->r->args[0] : NULL;
    value_visit v = {.set = {.limit = (uint32_t)limit}, .tag = tagn};
    tw__buf_init(&v.set.data, 1u << 28);
    bool fixed = false;
    static const char *const STATUS[] = {"error", "ok", "unset"};
    static const char *const KINDS[] = {"client", "consumer", "internal", "producer", "server", "unspecified"};
    if (tagn && tagn->kind == TQN_INTR) {
        fixed = true;
        if (tagn->intrinsic == TQ_I_STATUS)
            for (size_t i = 0; i < 3; i++) strset_add(&v.set, STATUS[i], strlen(STATUS[i]), TQ_STATUS);
        else if (tagn->intrinsic == TQ_I_KIND)
            for (size_t i = 0; i < 6; i++) strset_add(&v.set, KINDS[i], strlen(KINDS[i]), TQ_KIND);
        else if (tq_intrinsic_type(tagn->intrinsic) != TQ_DURATION)
            fixed = false;
    }
    if (tagn && !fixed) visit(s, req, q, start, end, on_values, &v, "tag values");
    tq_query_free(q);
    tw__buf b;
    tw__buf_init(&b, 1u << 28);
    tw__json j;
    tw__json_init(&j, &b);
    tw__json_begin_object(&j);
    tw__json_key(&j, "tagValues", TW_NTS);
    tw__json_begin_array(&j);
    for (uint32_t i = 0; i < v.set.n; i++) {
        if (!*item(&v.set, i)) continue;
        if (v2) {
            tw__json_begin_object(&j);
            tw__json_key(&j, "type", TW_NTS);
            tw__json_string(&j, type_word((tq_type)v.set.type[i]), TW_NTS);
            tw__json_key(&j, "value", TW_NTS);
            tw__json_string(&j, item(&v.set, i), TW_NTS);
            tw__json_end_object(&j);
        } else {
            tw__json_string(&j, item(&v.set, i), TW_NTS);
        }
    }
    tw__json_end_array(&j);
    finish_tags(req, &j, &b);
    strset_free(&v.set);
}

bool tws_search_api_route(tws_server *s, struct evhttp_request *req, const char *path, const char *query) {
    struct evkeyvalq params;
    TAILQ_INIT(&params);
    if (query) evhttp_parse_query_str(query, &params);
    bool handled = true;
    size_t n = strlen(path);
    if (!strcmp(path, "/api/search")) {
        handle_search(s, req, &params);
    } else if (!strcmp(path, "/api/search/tags")) {
        handle_tags(s, req, &params, false);
    } else if (!strcmp(path, "/api/v2/search/tags")) {
        handle_tags(s, req, &params, true);
    } else if (n > 27 && !strncmp(path, "/api/v2/search/tag/", 19) && !strcmp(path + n - 7, "/values")) {
        char tag[1024];
        snprintf(tag, sizeof tag, "%.*s", (int)TW_MIN(n - 26, sizeof tag - 1), path + 19);
        handle_tag_values(s, req, tag, &params, true);
    } else if (n > 24 && !strncmp(path, "/api/search/tag/", 16) && !strcmp(path + n - 7, "/values")) {
        char tag[1024];
        snprintf(tag, sizeof tag, "%.*s", (int)TW_MIN(n - 23, sizeof tag - 1), path + 16);
        handle_tag_values(s, req, tag, &params, false);
    } else {
        handled = false;
    }
    evhttp_clear_headers(&params);
    return handled;
}
