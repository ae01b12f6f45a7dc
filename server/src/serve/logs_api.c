/*
 * logs_api.c — the logs' read side on the query port: the subset of
 * Loki's HTTP API that Grafana's Loki data source and LogQL clients use,
 * and trace-to-logs.
 *
 *   GET /loki/api/v1/query_range  query, start, end, limit (100), direction
 *                                 (backward), step: streams, or a matrix
 *                                 for a metric query
 *   GET /loki/api/v1/query        query, time, limit, direction: streams
 *                                 of the hour before `time`, or a vector
 *   GET /loki/api/v1/labels       start, end, query: label names
 *   GET /loki/api/v1/label/<name>/values   start, end, query
 *   GET /api/traces/<id>/logs     spanID, shiftStart, shiftEnd: the logs of
 *                                 a trace (or one span) over its time
 *                                 window widened by the shifts (default
 *                                 logs.span_start_shift / span_end_shift)
 *
 * Responses have Loki's JSON shape ({"status":"success","data":{...}});
 * errors are 400 with the parser's message as plain text, as Loki does.
 * A record's labels in a response are its stream labels, its structured
 * metadata and what the pipeline extracted, merged (Loki's answer without
 * the categorize-labels flag), so trace_id and span_id are among them and
 * a log line leads back to its trace through /api/traces/<trace_id>.
 *
 * Execution (log_sources.h): records come from the log head, a frozen log
 * head being written out and the log blocks. The tenant's streams are
 * matched by their labels first (the selector never reads a line; in a
 * block, a row group's stream table decides before any record is
 * decoded); a query that names a trace id (`|= "<32 hex>"` or
 * `| trace_id="<32 hex>"`) takes the records from the heads' trace-id
 * index and the blocks' trace index instead of scanning the streams.
 * Matches are sorted by time, exact duplicates dropped (a record briefly in
 * a frozen head and its block), and cut at `limit` in the asked direction
 * before any output is built.
 */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/queue.h>
#include <time.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/clock.h"
#include "common/json.h"
#include "logql/logql.h"
#include "logs/labels.h"
#include "serve/log_sources.h"

#define NS 1000000000ull
#define DEFAULT_LIMIT 100
#define MAX_LIMIT 5000      /* Loki's max_entries_limit_per_query */
#define MAX_SERIES 500      /* Loki's max_query_series */
#define DEFAULT_SINCE (3600 * NS)

int tws_logs_stream_key(void *user, const tws_batch *b, uint32_t i, tw__buf *key) {
    const tws_server *s = user;
    tws_labels l;
    tws_labels_init(&l);
    int rc = tws_log_labels(b, i, &s->labels, &l);
    if (rc == 0) rc = tws_labels_write(&l, key);
    tws_labels_free(&l);
    return rc;
}

/* ---- replies ------------------------------------------------------------------------------ */

static void reply_json(struct evhttp_request *req, tw__buf *b) {
    if (b->failed) tws_reply_text(req, 500, "Internal Server Error", "text/plain", "out of memory\n", 14);
    else tws_reply_text(req, 200, "OK", "application/json", (const char *)b->data, b->len);
}

__attribute__((format(printf, 2, 3))) static void bad_request(struct evhttp_request *req, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof msg - 1) n = sizeof msg - 2;
    msg[n++] = '\n';
    tws_reply_text(req, 400, "Bad Request", "text/plain; charset=utf-8", msg, (size_t)n);
}

static void labels_json(tw__json *j, const tws_labels *l) {
    tw__json_begin_object(j);
    for (uint32_t i = 0; i < l->n; i++) {
        tw_str n = tws_labels_name(l, i), v = tws_labels_value(l, i);
        tw__json_key(j, n.ptr, n.len);
        tw__json_string(j, v.ptr, v.len);
    }
    tw__json_end_object(j);
}

/* A sample value as Prometheus writes it (strconv 'f', -1). */
static void value_text(double v, char out[40]) {
    if (v == floor(v) && fabs(v) < 1e15) snprintf(out, 40, "%.0f", v);
    else {
        snprintf(out, 40, "%.15g", v);
        if (strtod(out, NULL) != v) snprintf(out, 40, "%.17g", v);
    }
}

/* ---- parameters -------------------------------------------------------------------------- */

typedef struct params {
    struct evkeyvalq q;
    const char *tenant;
    const char *query;
    uint64_t start, end, step, time;
    long limit;
    bool forward;
} params;

/* Read the parameters every endpoint shares; false when one is malformed
 * (answered). `instant`: `time` instead of start/end. */
static bool read_params(tws_server *s, struct evhttp_request *req, const char *query, bool instant, params *p) {
    memset(p, 0, sizeof *p);
    TAILQ_INIT(&p->q);
    if (query) evhttp_parse_query_str(query, &p->q);
    const char *t = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Scope-OrgID");
    p->tenant = t && *t ? t : s->cfg.default_tenant;
    if (!tws_tenant_valid(p->tenant)) {
        bad_request(req, "X-Scope-OrgID: a tenant id is 1 to 150 of the characters A-Z a-z 0-9 ! - _ . * ' ( )");
        return false;
    }
    p->query = evhttp_find_header(&p->q, "query");
    uint64_t now = tw__clock_ns();
    const char *v;
    p->end = p->time = now;
    if (instant) {
        if ((v = evhttp_find_header(&p->q, "time")) && *v && tws_api_parse_time(v, &p->time)) {
            bad_request(req, "invalid parameter \"time\": cannot parse \"%.60s\" to a valid timestamp", v);
            return false;
        }
        p->end = p->time;
        p->start = p->end > DEFAULT_SINCE ? p->end - DEFAULT_SINCE : 0;
    } else {
        if ((v = evhttp_find_header(&p->q, "end")) && *v && tws_api_parse_time(v, &p->end)) {
            bad_request(req, "invalid parameter \"end\": cannot parse \"%.60s\" to a valid timestamp", v);
            return false;
        }
        p->start = p->end > DEFAULT_SINCE ? p->end - DEFAULT_SINCE : 0;
        if ((v = evhttp_find_header(&p->q, "start")) && *v && tws_api_parse_time(v, &p->start)) {
            bad_request(req, "invalid parameter \"start\": cannot parse \"%.60s\" to a valid timestamp", v);
            return false;
        }
        if (p->end < p->start) {
            bad_request(req, "end timestamp must not be before or equal to start time");
            return false;
        }
    }
    p->limit = DEFAULT_LIMIT;
    if ((v = evhttp_find_header(&p->q, "limit")) && *v) {
        char *e;
        errno = 0;
        long x = strtol(v, &e, 10);
        if (errno || *e || x <= 0) {
            bad_request(req, "invalid parameter \"limit\": \"%.40s\" is not a positive integer", v);
            return false;
        }
        if (x > MAX_LIMIT) {
            bad_request(req, "max entries limit per query exceeded, limit > max_entries_limit_per_query (%ld > %d)", x,
                        MAX_LIMIT);
            return false;
        }
        p->limit = x;
    }
    if ((v = evhttp_find_header(&p->q, "direction")) && *v) {
        if (!strcasecmp(v, "forward")) p->forward = true;
        else if (strcasecmp(v, "backward")) {
            bad_request(req, "invalid parameter \"direction\": \"%.40s\" is neither forward nor backward", v);
            return false;
        }
    }
    /* step: a duration ("30s") or seconds ("30", "0.5"); default max(1s, range / 250) in whole seconds */
    p->step = (p->end - p->start) / NS / 250 * NS;
    if (p->step < NS) p->step = NS;
    if ((v = evhttp_find_header(&p->q, "step")) && *v) {
        char *e;
        errno = 0;
        double sec = strtod(v, &e);
        int64_t ns;
        if (!errno && !*e && e != v && sec > 0 && sec < 1e10) p->step = (uint64_t)llround(sec * 1e9);
        else if (lq_scan_duration(v, strlen(v), true, &ns) && ns > 0) p->step = (uint64_t)ns;
        else {
            bad_request(req, "invalid parameter \"step\": cannot parse \"%.40s\" to a valid duration", v);
            return false;
        }
        if (p->step == 0) p->step = 1;
    }
    return true;
}

/* ---- the scan ---------------------------------------------------------------------------- */

typedef struct match {
    uint64_t ts;
    const tws_batch *b;
    uint32_t idx, stream;
    uint32_t seq; /* the order it was met in: ties in time keep it, so answers are deterministic */
} match;

/* What one query touches, reused from record to record. */
typedef struct scan {
    tws_server *s;
    const params *p;
    const lq_query *q;
    lq_eval *e;
    tws_logsrc src;     /* head, frozen head and blocks; stream numbers are its */
    tws_labels stream, meta;
    uint32_t stream_no; /* the stream parsed into `stream`, UINT32_MAX: none */
    int8_t *selected;   /* per stream: 0 unknown, 1 matches the selector, -1 does not */
    size_t n_selected;
    tw__buf line;
    uint64_t lines_seen, bytes_seen;
    match *m;
    size_t n_m, cap_m;
} scan;

static int scan_init(scan *sc, tws_server *s, const params *p, const lq_query *q) {
    memset(sc, 0, sizeof *sc);
    sc->s = s, sc->p = p, sc->q = q;
    sc->stream_no = UINT32_MAX;
    tws_labels_init(&sc->stream);
    tws_labels_init(&sc->meta);
    tw__buf_init(&sc->line, UINT32_MAX);
    int rc = tws_logsrc_init(&sc->src, s, p->tenant);
    return rc ? rc : lq_eval_new(&sc->e);
}

static void scan_free(scan *sc) {
    lq_eval_free(sc->e);
    tws_labels_free(&sc->stream);
    tws_labels_free(&sc->meta);
    tw__buf_free(&sc->line);
    tw__free(sc->selected);
    tw__free(sc->m);
    tws_logsrc_free(&sc->src);
}

/* Stream `no`'s labels into sc->stream. */
static int load_stream(scan *sc, uint32_t no) {
    if (sc->stream_no == no) return 0;
    tw_str key = tws_logsrc_key(&sc->src, no);
    sc->stream_no = UINT32_MAX;
    int rc = tws_labels_parse(key.ptr, key.len, &sc->stream);
    if (rc == 0) sc->stream_no = no;
    return rc;
}

static bool stream_selected(void *user, uint32_t no) {
    scan *sc = user;
    if (no >= tws_logsrc_n_streams(&sc->src)) return false;
    if (no >= sc->n_selected) {
        size_t n = TW_MAX((size_t)no + 1, sc->n_selected * 2);
        int8_t *x = tw__realloc(sc->selected, n);
        if (!x) return false;
        memset(x + sc->n_selected, 0, n - sc->n_selected);
        sc->selected = x, sc->n_selected = n;
    }
    if (!sc->selected[no]) sc->selected[no] = load_stream(sc, no) == 0 && lq_selector_matches(sc->q, &sc->stream) ? 1 : -1;
    return sc->selected[no] > 0;
}

/* Run the pipeline on one record; 1 passes (*out its labels), 0, or an error. */
static int eval_ref(scan *sc, const tws_batch *b, uint32_t idx, uint32_t stream, const tws_labels **out) {
    int rc = load_stream(sc, stream);
    if (rc) return rc;
    sc->line.len = 0;
    if ((rc = tws_log_line(b, idx, &sc->line)) || (rc = tws_log_metadata(b, idx, &sc->s->labels, &sc->meta))) return rc;
    sc->lines_seen++;
    sc->bytes_seen += sc->line.len;
    tw_str line = {sc->line.len ? (const char *)sc->line.data : "", sc->line.len};
    return lq_eval_record(sc->e, sc->q, &sc->stream, line, &sc->meta, out);
}

/* A damaged block is left out of the answer, and said so in the log. */
static int tolerate_damage(int rc, const char *err) {
    if (rc != TW_EPARSE) return rc;
    fprintf(stderr, "tracewire: a log query skipped what it could not read: %s\n", err);
    return TW_OK;
}

/* The candidate records of the query in [start, end], in no order: from
 * the trace-id index when the query names a trace, else every selected
 * stream's. */
static int candidates(scan *sc, uint64_t start, uint64_t end, tws_logrefs *refs) {
    uint8_t id[16];
    char err[256];
    if (lq_trace_id(sc->q, id) != LQ_HINT_NONE)
        return tolerate_damage(tws_logsrc_by_trace(&sc->src, id, NULL, start, end, refs, err), err);
    return tolerate_damage(tws_logsrc_scan(&sc->src, start, end, stream_selected, sc, refs, err), err);
}

static int cmp_match(const void *x, const void *y) {
    const match *a = x, *b = y;
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static int add_match(scan *sc, const tws_log_ref *r) {
    if (sc->n_m == sc->cap_m) {
        size_t cap = sc->cap_m ? sc->cap_m * 2 : 256;
        match *m = tw__realloc(sc->m, cap * sizeof *m);
        if (!m) return TW_ENOMEM;
        sc->m = m, sc->cap_m = cap;
    }
    sc->m[sc->n_m] = (match){tws_log_time(&r->batch->logs[r->idx]), r->batch, r->idx, r->stream, (uint32_t)sc->n_m};
    sc->n_m++;
    return TW_OK;
}

/* Sort the matches by time and drop exact duplicates (the same record in
 * a frozen head and in its new block, or flushed twice around a crash):
 * Loki's rule, one entry per time, stream and content. */
static void sort_matches(scan *sc) {
    if (sc->n_m > 1) qsort(sc->m, sc->n_m, sizeof *sc->m, cmp_match);
    size_t kept = 0;
    for (size_t i = 0, run = 0; i < sc->n_m; i++) {
        if (!kept || sc->m[kept - 1].ts != sc->m[i].ts) run = kept; /* the first kept match of this time */
        bool dup = false;
        for (size_t j = run; j < kept && !dup; j++)
            dup = sc->m[j].stream == sc->m[i].stream &&
                  tws_log_equal(&sc->m[j].b->logs[sc->m[j].idx], &sc->m[i].b->logs[sc->m[i].idx]);
        if (!dup) sc->m[kept++] = sc->m[i];
    }
    sc->n_m = kept;
}

/* Every record that passes the pipeline, in sc->m, by time. */
static int collect(scan *sc, uint64_t start, uint64_t end) {
    tws_logrefs refs = {0};
    int rc = candidates(sc, start, end, &refs);
    for (size_t i = 0; i < refs.n && rc == 0; i++) {
        if (!stream_selected(sc, refs.r[i].stream)) continue;
        const tws_labels *out;
        int r = eval_ref(sc, refs.r[i].batch, refs.r[i].idx, refs.r[i].stream, &out);
        if (r < 0) rc = r;
        if (r == 1) rc = add_match(sc, &refs.r[i]);
    }
    tws_logrefs_free(&refs);
    if (rc == 0) sort_matches(sc);
    return rc;
}

/* ---- streams ----------------------------------------------------------------------------- */

typedef struct out_stream {
    char *key; /* canonical labels */
    size_t key_len;
    uint32_t *items; /* indices into the kept matches */
    uint32_t n, cap;
} out_stream;

static int reserve_items(out_stream *o) {
    uint32_t cap = o->cap ? o->cap * 2 : 16;
    uint32_t *x = tw__realloc(o->items, cap * sizeof *x);
    if (!x) return TW_ENOMEM;
    o->items = x, o->cap = cap;
    return 0;
}

static int cmp_out(const void *x, const void *y) {
    const out_stream *a = x, *b = y;
    size_t n = TW_MIN(a->key_len, b->key_len);
    int c = memcmp(a->key, b->key, n);
    return c ? c : a->key_len < b->key_len ? -1 : a->key_len > b->key_len;
}

static void stats_json(tw__json *j, const scan *sc, size_t returned, uint64_t t0) {
    tw__json_key(j, "stats", TW_NTS);
    tw__json_begin_object(j);
    tw__json_key(j, "summary", TW_NTS);
    tw__json_begin_object(j);
    tw__json_key(j, "totalEntriesReturned", TW_NTS);
    tw__json_uint64(j, returned);
    tw__json_key(j, "totalLinesProcessed", TW_NTS);
    tw__json_uint64(j, sc->lines_seen);
    tw__json_key(j, "totalBytesProcessed", TW_NTS);
    tw__json_uint64(j, sc->bytes_seen);
    tw__json_key(j, "execTime", TW_NTS);
    tw__json_double(j, (double)(tw__mono_ns() - t0) / 1e9);
    tw__json_end_object(j);
    tw__json_end_object(j);
}

/* The kept matches (sc->m[first .. first+n), in output order) grouped by
 * their labels after the pipeline, as Loki's "streams" result. */
static int write_streams(scan *sc, const uint32_t *order, size_t n, tw__json *j) {
    out_stream *os = NULL;
    size_t n_os = 0, cap_os = 0;
    tw__buf key;
    tw__buf_init(&key, UINT32_MAX);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const match *m = &sc->m[order[i]];
        const tws_labels *labels;
        int r = eval_ref(sc, m->b, m->idx, m->stream, &labels);
        if (r != 1) {
            rc = r < 0 ? r : TW_EINVAL; /* the same record passed a moment ago */
            break;
        }
        key.len = 0;
        if ((rc = tws_labels_write(labels, &key))) break;
        size_t k = 0;
        while (k < n_os && !(os[k].key_len == key.len && !memcmp(os[k].key, key.data, key.len))) k++;
        if (k == n_os) {
            if (n_os == cap_os) {
                size_t cap = cap_os ? cap_os * 2 : 8;
                out_stream *x = tw__realloc(os, cap * sizeof *x);
                if (!x) {
                    rc = TW_ENOMEM;
                    break;
                }
                os = x, cap_os = cap;
            }
            os[n_os] = (out_stream){tw__malloc(key.len), key.len, NULL, 0, 0};
            if (!os[n_os].key) {
                rc = TW_ENOMEM;
                break;
            }
            memcpy(os[n_os++].key, key.data, key.len);
        }
        out_stream *o = &os[k];
        if (o->n == o->cap && reserve_items(o)) {
            rc = TW_ENOMEM;
            break;
        }
        o->items[o->n++] = order[i];
    }
    if (rc == 0 && n_os > 1) qsort(os, n_os, sizeof *os, cmp_out);
    tw__json_begin_array(j);
    for (size_t k = 0; k < n_os && rc == 0; k++) {
        tw__json_begin_object(j);
        tw__json_key(j, "stream", TW_NTS);
        if ((rc = tws_labels_parse(os[k].key, os[k].key_len, &sc->meta))) break;
        labels_json(j, &sc->meta);
        tw__json_key(j, "values", TW_NTS);
        tw__json_begin_array(j);
        for (uint32_t i = 0; i < os[k].n; i++) {
            const match *m = &sc->m[os[k].items[i]];
            sc->line.len = 0;
            tws_log_line(m->b, m->idx, &sc->line);
            tw__json_begin_array(j);
            tw__json_uint64_string(j, m->ts);
            tw__json_string(j, sc->line.len ? (const char *)sc->line.data : "", sc->line.len);
            tw__json_end_array(j);
        }
        tw__json_end_array(j);
        tw__json_end_object(j);
    }
    tw__json_end_array(j);
    for (size_t k = 0; k < n_os; k++) {
        tw__free(os[k].key);
        tw__free(os[k].items);
    }
    tw__free(os);
    tw__buf_free(&key);
    return rc;
}

/* The newest (backward) or oldest (forward) `limit` matches, in that order. */
static uint32_t *pick(const scan *sc, size_t limit, bool forward, size_t *n) {
    *n = TW_MIN(limit, sc->n_m);
    uint32_t *o = tw__malloc((*n ? *n : 1) * sizeof *o);
    if (!o) return NULL;
    for (size_t i = 0; i < *n; i++) o[i] = (uint32_t)(forward ? i : sc->n_m - 1 - i);
    return o;
}

/* Loki's envelope: {"status":"success","data": ...; the caller writes the
 * data and closes the outer object, then finish_answer replies. */
static void begin_answer(tw__buf *b, tw__json *j) {
    tw__buf_init(b, 1u << 30);
    tw__json_init(j, b);
    tw__json_begin_object(j);
    tw__json_key(j, "status", TW_NTS);
    tw__json_string(j, "success", TW_NTS);
    tw__json_key(j, "data", TW_NTS);
}

/* 200 with the answer, or 500 when rc says the query failed; frees b. */
static void finish_answer(struct evhttp_request *req, tw__buf *b, int rc) {
    if (rc) tws_reply_text(req, 500, "Internal Server Error", "text/plain", "the query failed\n", 17);
    else reply_json(req, b);
    tw__buf_free(b);
}

/* The window of a trace-to-logs answer (NULL for a plain query). */
typedef struct trace_window {
    bool found;
    uint64_t start, end;
} trace_window;

/* A streams answer of the n matches in `order` (freed here), or 500 when
 * rc says the query failed. */
static void reply_streams(scan *sc, struct evhttp_request *req, int rc, uint32_t *order, size_t n,
                          const trace_window *w, uint64_t t0) {
    tw__buf b;
    tw__json j;
    begin_answer(&b, &j);
    tw__json_begin_object(&j);
    tw__json_key(&j, "resultType", TW_NTS);
    tw__json_string(&j, "streams", TW_NTS);
    if (w) {
        tw__json_key(&j, "traceFound", TW_NTS);
        tw__json_bool(&j, w->found);
        tw__json_key(&j, "start", TW_NTS);
        tw__json_uint64_string(&j, w->start);
        tw__json_key(&j, "end", TW_NTS);
        tw__json_uint64_string(&j, w->end);
    }
    tw__json_key(&j, "result", TW_NTS);
    if (!rc) rc = write_streams(sc, order, n, &j);
    stats_json(&j, sc, n, t0);
    tw__json_end_object(&j);
    tw__json_end_object(&j);
    finish_answer(req, &b, rc);
    tw__free(order);
}

static void run_log_query(scan *sc, struct evhttp_request *req, uint64_t t0) {
    const params *p = sc->p;
    int rc = collect(sc, p->start, p->end);
    size_t n = 0;
    uint32_t *order = rc ? NULL : pick(sc, (size_t)p->limit, p->forward, &n);
    if (!rc && !order) rc = TW_ENOMEM;
    reply_streams(sc, req, rc, order, n, NULL, t0);
}

static void run_metric_query(scan *sc, struct evhttp_request *req, bool instant, uint64_t t0) {
    const params *p = sc->p;
    const lq_metric *m = lq_query_metric(sc->q);
    uint64_t start = instant ? p->time : p->start, end = instant ? p->time : p->end;
    lq_acc *acc = NULL;
    int rc = lq_acc_new(sc->q, (int64_t)start, (int64_t)end, instant ? 0 : (int64_t)p->step, MAX_SERIES, &acc);
    if (rc == TW_ERANGE) {
        bad_request(req, "exceeded maximum resolution of 11,000 points per time series. Try increasing the value "
                         "of the step parameter");
        return;
    }
    uint64_t from = start > (uint64_t)m->range_ns ? start - (uint64_t)m->range_ns : 0;
    if (rc == 0) rc = collect(sc, from, end);
    for (size_t i = 0; i < sc->n_m && rc == 0; i++) {
        const tws_labels *labels;
        int r = eval_ref(sc, sc->m[i].b, sc->m[i].idx, sc->m[i].stream, &labels);
        if (r == 1) rc = lq_acc_add(acc, (int64_t)sc->m[i].ts, labels, sc->line.len);
        else if (r < 0) rc = r;
    }
    if (rc == TW_EINVAL || (rc == TW_ERANGE && acc)) {
        bad_request(req, "%s", lq_acc_error(acc));
        lq_acc_free(acc);
        return;
    }
    tw__buf b;
    tw__json j;
    begin_answer(&b, &j);
    tw__json_begin_object(&j);
    tw__json_key(&j, "resultType", TW_NTS);
    tw__json_string(&j, instant ? "vector" : "matrix", TW_NTS);
    tw__json_key(&j, "result", TW_NTS);
    tw__json_begin_array(&j);
    uint32_t ns = rc ? 0 : lq_acc_n_series(acc);
    for (uint32_t s = 0; s < ns; s++) {
        double v;
        char num[40];
        if (instant && !lq_acc_value(acc, s, 0, &v)) continue;
        tw__json_begin_object(&j);
        tw__json_key(&j, "metric", TW_NTS);
        labels_json(&j, lq_acc_labels(acc, s));
        tw__json_key(&j, instant ? "value" : "values", TW_NTS);
        if (!instant) tw__json_begin_array(&j);
        for (uint32_t k = 0; k < lq_acc_n_steps(acc); k++) {
            if (!lq_acc_value(acc, s, k, &v)) continue;
            value_text(v, num);
            tw__json_begin_array(&j);
            tw__json_double(&j, (double)lq_acc_step_time(acc, k) / 1e9);
            tw__json_string(&j, num, TW_NTS);
            tw__json_end_array(&j);
        }
        if (!instant) tw__json_end_array(&j);
        tw__json_end_object(&j);
    }
    tw__json_end_array(&j);
    stats_json(&j, sc, 0, t0);
    tw__json_end_object(&j);
    tw__json_end_object(&j);
    finish_answer(req, &b, rc);
    lq_acc_free(acc);
}

/* Parse `text` (NULL: the caller wants every stream) or answer 400. */
static bool parse_or_answer(struct evhttp_request *req, const char *text, lq_query **q) {
    char err[256];
    int rc = lq_parse(text, strlen(text), q, err);
    if (rc == TW_OK) return true;
    if (rc == TW_ENOMEM) tws_reply_text(req, 500, "Internal Server Error", "text/plain", "out of memory\n", 14);
    else bad_request(req, "%s", err);
    return false;
}

static void handle_query(tws_server *s, struct evhttp_request *req, const char *query, bool instant) {
    uint64_t t0 = tw__mono_ns();
    params p;
    if (!read_params(s, req, query, instant, &p)) goto out;
    if (!p.query || !*p.query) {
        bad_request(req, "query parameter is missing");
        goto out;
    }
    lq_query *q;
    if (!parse_or_answer(req, p.query, &q)) goto out;
    atomic_fetch_add(&s->metrics.queries, 1);
    scan sc;
    if (scan_init(&sc, s, &p, q) != TW_OK) tws_reply_text(req, 500, "Internal Server Error", "text/plain", "out of memory\n", 14);
    else if (lq_query_metric(q)) run_metric_query(&sc, req, instant, t0);
    else run_log_query(&sc, req, t0);
    scan_free(&sc);
    lq_query_free(q);
out:
    evhttp_clear_headers(&p.q);
}

/* /labels and /label/<name>/values: names (or values of `name`) of the
 * streams with records in [start, end] (that match `query`, when given). */
static void handle_labels(tws_server *s, struct evhttp_request *req, const char *query, const char *name) {
    params p;
    if (!read_params(s, req, query, false, &p)) goto out;
    lq_query *q = NULL;
    if (p.query && *p.query && !parse_or_answer(req, p.query, &q)) goto out;
    tws_labels seen, cur;
    tws_labels_init(&seen);
    tws_labels_init(&cur);
    tws_logsrc src;
    char err[256];
    int rc = tws_logsrc_init(&src, s, p.tenant);
    if (rc == 0) rc = tolerate_damage(tws_logsrc_list_streams(&src, p.start, p.end, err), err);
    for (uint32_t i = 0; rc == 0 && i < tws_logsrc_n_streams(&src); i++) {
        tw_str key = tws_logsrc_key(&src, i);
        if ((rc = tws_labels_parse(key.ptr, key.len, &cur))) break;
        if (q && !lq_selector_matches(q, &cur)) continue;
        for (uint32_t k = 0; k < cur.n && rc == 0; k++) {
            tw_str ln = tws_labels_name(&cur, k), lv = tws_labels_value(&cur, k);
            if (!name) rc = tws_labels_set(&seen, ln.ptr, ln.len, "1", 1);
            else if (ln.len == strlen(name) && !memcmp(ln.ptr, name, ln.len)) rc = tws_labels_set(&seen, lv.ptr, lv.len, "1", 1);
        }
    }
    tws_logsrc_free(&src);
    tw__buf b;
    tw__json j;
    begin_answer(&b, &j);
    tw__json_begin_array(&j);
    for (uint32_t k = 0; k < seen.n; k++) { /* a label set is sorted by name: the answer is sorted */
        tw_str v = tws_labels_name(&seen, k);
        tw__json_string(&j, v.ptr, v.len);
    }
    tw__json_end_array(&j);
    tw__json_end_object(&j);
    finish_answer(req, &b, rc);
    tws_labels_free(&seen);
    tws_labels_free(&cur);
    lq_query_free(q);
out:
    evhttp_clear_headers(&p.q);
}

/* A duration parameter ("5m", "-5m", "300s"), absent: def. false when malformed. */
static bool shift_param(struct evkeyvalq *q, const char *name, uint64_t def, uint64_t *out) {
    const char *v = evhttp_find_header(q, name);
    *out = def;
    if (!v || !*v) return true;
    if (*v == '-') v++;
    int64_t ns;
    if (!lq_scan_duration(v, strlen(v), true, &ns) || ns < 0) return false;
    *out = (uint64_t)ns;
    return true;
}

/* GET /api/traces/<id>/logs[?spanID=]: the records carrying the trace (or
 * span) id over its window widened by the shifts. */
static void handle_trace_logs(tws_server *s, struct evhttp_request *req, const char *id_hex, size_t id_len,
                              const char *query) {
    uint64_t t0 = tw__mono_ns();
    params p;
    if (!read_params(s, req, query, false, &p)) goto out;
    tw_trace_id tid;
    char hex[33];
    if (id_len == 0 || id_len > 32) {
        bad_request(req, "invalid trace id: expected up to 32 hex digits");
        goto out;
    }
    memset(hex, '0', 32);
    memcpy(hex + 32 - id_len, id_hex, id_len);
    hex[32] = '\0';
    if (tw_trace_id_from_hex(hex, 32, &tid) != TW_OK) {
        bad_request(req, "invalid trace id \"%.40s\": expected up to 32 hex digits", hex);
        goto out;
    }
    const char *sid_hex = evhttp_find_header(&p.q, "spanID");
    tw_span_id sid;
    if (sid_hex && *sid_hex && tw_span_id_from_hex(sid_hex, strlen(sid_hex), &sid) != TW_OK) {
        bad_request(req, "invalid spanID \"%.40s\": expected 16 hex digits", sid_hex);
        goto out;
    }
    const uint8_t *span = sid_hex && *sid_hex ? sid.bytes : NULL;
    uint64_t before, after;
    if (!shift_param(&p.q, "shiftStart", s->cfg.logs_start_shift_s * NS, &before) ||
        !shift_param(&p.q, "shiftEnd", s->cfg.logs_end_shift_s * NS, &after)) {
        bad_request(req, "shiftStart and shiftEnd are durations such as 5m or 30s");
        goto out;
    }
    uint64_t start = 0, end = 0;
    int rc = tws_trace_time_range(s, p.tenant, tid.bytes, span, &start, &end);
    bool known = rc == TW_OK;
    if (rc != TW_OK && rc != TW_ENOTFOUND) {
        tws_reply_text(req, 500, "Internal Server Error", "text/plain", "reading the trace failed\n", 25);
        goto out;
    }
    /* a trace not (yet) stored: its logs at any time */
    uint64_t from = known ? (start > before ? start - before : 0) : 0;
    uint64_t to = known ? (end > UINT64_MAX - after ? UINT64_MAX : end + after) : 0;
    lq_query *q = NULL;
    char err[256];
    scan sc;
    memset(&sc, 0, sizeof sc);
    tws_logrefs refs = {0};
    rc = lq_parse("{service_name=~\".+\"}", 20, &q, err);
    if (rc == 0) rc = scan_init(&sc, s, &p, q);
    if (rc == 0) rc = tolerate_damage(tws_logsrc_by_trace(&sc.src, tid.bytes, span, from, to, &refs, err), err);
    for (size_t i = 0; i < refs.n && rc == 0; i++) rc = add_match(&sc, &refs.r[i]);
    tws_logrefs_free(&refs);
    if (rc == 0) sort_matches(&sc);
    size_t nk = 0;
    uint32_t *order = rc ? NULL : pick(&sc, sc.n_m, true, &nk);
    if (!rc && !order) rc = TW_ENOMEM;
    trace_window w = {known, from, to};
    reply_streams(&sc, req, rc, order, nk, &w, t0);
    if (q) scan_free(&sc);
    lq_query_free(q);
out:
    evhttp_clear_headers(&p.q);
}

bool tws_logs_api_route(tws_server *s, struct evhttp_request *req, const char *path, const char *query) {
    if (!strcmp(path, "/loki/api/v1/query_range")) handle_query(s, req, query, false);
    else if (!strcmp(path, "/loki/api/v1/query")) handle_query(s, req, query, true);
    else if (!strcmp(path, "/loki/api/v1/labels") || !strcmp(path, "/loki/api/v1/label")) handle_labels(s, req, query, NULL);
    else if (!strncmp(path, "/loki/api/v1/label/", 19)) {
        const char *name = path + 19, *slash = strchr(name, '/');
        if (!slash || strcmp(slash, "/values") || slash == name) return false;
        char buf[256];
        size_t n = (size_t)(slash - name);
        if (n >= sizeof buf) n = sizeof buf - 1;
        memcpy(buf, name, n);
        buf[n] = '\0';
        handle_labels(s, req, query, buf);
    } else if (!strncmp(path, "/api/traces/", 12)) {
        const char *id = path + 12, *slash = strchr(id, '/');
        if (!slash || strcmp(slash, "/logs")) return false;
        handle_trace_logs(s, req, id, (size_t)(slash - id), query);
    } else {
        return false;
    }
    return true;
}
