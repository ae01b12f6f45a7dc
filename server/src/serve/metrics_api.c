/*
 * metrics_api.c — Tempo's TraceQL metrics endpoints on the query port, in
 * the shapes Grafana's Tempo data source reads:
 *   GET /api/metrics/query_range   q= (or query=), start, end, since, step,
 *                                  exemplars -> series of samples
 *   GET /api/metrics/query         the same without step: one value per series
 *
 * Parameters as Tempo's pkg/api/http.go reads them: start and end are float
 * seconds (with a '.'), Unix seconds (up to 10 digits), Unix nanoseconds
 * (longer) or RFC 3339; without end, now; without start, end (or now, if
 * end is later) minus since (default 1h). step is seconds or a duration
 * (30, 0.5, 30s, 1m); without it, (end - start) / 240 rounded down to 5 s,
 * else to 1 s, at least 1 s. Then, as Tempo's frontend: end must be after
 * start, at most 10,000 intervals, and the range is aligned to the step
 * with one leading interval added (AlignRequest); the engine
 * (search/metrics.c) does the rest.
 *
 * JSON as Tempo writes it (protobuf JSON mapping): 64-bit numbers as
 * strings, zero values left out (a sample of 0 has no "value"). Errors are
 * 400 text/plain with Tempo's messages.
 */
#include <errno.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/queue.h>
#include <time.h>

#include "common/clock.h"
#include "common/json.h"
#include "search/metrics.h"
#include "serve/server_int.h"

#define NS 1000000000ull
enum { MAX_INTERVALS = 10000, MAX_EXEMPLARS = 100, MAX_SERIES = 1000 };

static void reply_json(struct evhttp_request *req, tw__buf *b) {
    if (b->failed) tws_reply_text(req, 500, "Internal Server Error", "text/plain", "out of memory\n", 14);
    else tws_reply_text(req, 200, "OK", "application/json", (const char *)b->data, b->len);
}

static void bad_request(struct evhttp_request *req, const char *msg) {
    tws_reply_text(req, 400, "Bad Request", "text/plain", msg, strlen(msg));
}

static const char *tenant_of(tws_server *s, struct evhttp_request *req) {
    const char *t = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Scope-OrgID");
    return t && *t ? t : s->cfg.default_tenant;
}

static const char *param(struct evkeyvalq *q, const char *name) {
    const char *v = evhttp_find_header(q, name);
    return v && *v ? v : NULL;
}

/* ---- times and durations ------------------------------------------------------- */

/* Go's time.Duration.String(): 1h0m0s, 2m30s, 1.5s, 36ms, 1.25µs, 100ns. */
static void go_duration(int64_t d, char out[64]) {
    char *p = out;
    size_t room = 64;
    if (d == 0) {
        snprintf(out, 64, "0s");
        return;
    }
    uint64_t u = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
    if (d < 0) {
        *p++ = '-';
        room--;
    }
    /* v / 10^digits with the fraction's trailing zeros dropped */
    char frac[16] = "";
    uint64_t whole;
    const char *unit;
    int digits;
    if (u < 1000) {
        snprintf(p, room, "%lluns", (unsigned long long)u);
        return;
    } else if (u < 1000000) {
        digits = 3, unit = "µs";
    } else if (u < NS) {
        digits = 6, unit = "ms";
    } else {
        uint64_t h = u / (3600 * NS), m = u / (60 * NS) % 60;
        int n = 0;
        if (h) n = snprintf(p, room, "%lluh%llum", (unsigned long long)h, (unsigned long long)m);
        else if (m) n = snprintf(p, room, "%llum", (unsigned long long)m);
        p += n;
        room -= (size_t)n;
        u %= 60 * NS;
        digits = 9, unit = "s";
    }
    uint64_t scale = 1;
    for (int i = 0; i < digits; i++) scale *= 10;
    whole = u / scale;
    uint64_t rest = u % scale;
    if (rest) {
        snprintf(frac, sizeof frac, ".%0*llu", digits, (unsigned long long)rest);
        size_t n = strlen(frac);
        while (n > 1 && frac[n - 1] == '0') frac[--n] = 0;
    }
    snprintf(p, room, "%llu%s%s", (unsigned long long)whole, frac, unit);
}

/* A duration: Go's (1h30m, 1.5s, 500ms, 10us) and Prometheus' units (d, w,
 * y) in any sequence. 0 or -1. */
static int parse_duration(const char *s, int64_t *out) {
    static const struct { const char *u; double ns; } UNITS[] = {
        {"ns", 1}, {"us", 1e3}, {"µs", 1e3}, {"μs", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9},
        {"h", 3600e9}, {"d", 86400e9}, {"w", 604800e9}, {"y", 365 * 86400e9},
    };
    double total = 0;
    bool neg = *s == '-';
    if (*s == '-' || *s == '+') s++;
    if (!*s) return -1;
    if (!strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    while (*s) {
        if (!((*s >= '0' && *s <= '9') || *s == '.')) return -1;
        char *end;
        errno = 0;
        double x = strtod(s, &end);
        if (end == s || errno) return -1;
        for (const char *c = s; c < end; c++)
            if (!((*c >= '0' && *c <= '9') || *c == '.')) return -1; /* no exponents, no hex */
        s = end;
        size_t k = 0, best = SIZE_MAX, best_len = 0;
        for (; k < TW_ARRAY_LEN(UNITS); k++) {
            size_t n = strlen(UNITS[k].u);
            if (!strncmp(s, UNITS[k].u, n) && n > best_len) {
                best = k;
                best_len = n;
            }
        }
        if (best == SIZE_MAX) return -1;
        total += x * UNITS[best].ns;
        s += best_len;
    }
    if (total > 9.2e18) return -1;
    *out = neg ? -(int64_t)total : (int64_t)total;
    return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* RFC 3339 (Go's RFC3339Nano layout): 2024-05-06T12:30:00.5Z, +02:00. */
static int parse_rfc3339(const char *s, uint64_t *ns) {
    int y, mo, d, h, mi, sec;
    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
        s[16] != ':' || !digits(s + 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) return -1;
    const char *p = s + 19;
    uint64_t frac = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 9) frac = frac * 10 + (uint64_t)(*p - '0'), n++;
            p++;
        }
        if (!n) return -1;
        while (n++ < 9) frac *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om)) return -1;
        off = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p) return -1;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - off;
    if (secs < 0) return -1;
    *ns = (uint64_t)secs * NS + frac;
    return 0;
}

int tws_api_parse_time(const char *v, uint64_t *ns) {
    char *end;
    errno = 0;
    if (strchr(v, '.')) {
        double t = strtod(v, &end);
        if (!errno && !*end && end != v) {
            if (!(t >= 0) || t > 9.2e9) return -1;
            double whole = floor(t);
            double ms = round((t - whole) * 1000); /* Tempo keeps milliseconds */
            *ns = (uint64_t)whole * NS + (uint64_t)ms * 1000000;
            return 0;
        }
        errno = 0; /* not a number: RFC 3339 with a fraction, perhaps */
    }
    long long x = strtoll(v, &end, 10);
    if (!errno && !*end && end != v) {
        if (x < 0) return -1;
        if (strlen(v) <= 10) {
            *ns = (uint64_t)x * NS;
        } else {
            *ns = (uint64_t)x;
        }
        return 0;
    }
    return parse_rfc3339(v, ns);
}

/* Tempo's DefaultQueryRangeStep: about 240 points, in steps of 5 s (or of
 * 1 s below that), at least 1 s. */
static uint64_t default_step(uint64_t start, uint64_t end) {
    uint64_t base = (end - start) / 240;
    uint64_t step = base / (5 * NS) * (5 * NS);
    if (step < 5 * NS) step = base / NS * NS;
    return step < NS ? NS : step;
}

/* ---- the answer ------------------------------------------------------------------ */

static void label_json(tw__json *j, const char *key, size_t key_len, const tq_val *v) {
    tw__json_begin_object(j);
    tw__json_key(j, "key", TW_NTS);
    tw__json_string(j, key, key_len);
    tw__json_key(j, "value", TW_NTS);
    tws_api_val_json(j, v);
    tw__json_end_object(j);
}

static void labels_json(tw__json *j, const tws_tqm_series *s) {
    tw__json_key(j, "labels", TW_NTS);
    tw__json_begin_array(j);
    for (uint32_t i = 0; i < s->n_labels; i++) label_json(j, s->labels[i].key, s->labels[i].key_len, &s->labels[i].val);
    tw__json_end_array(j);
}

/* Hex without leading zeros, as Tempo writes trace ids. */
static void trace_id_hex(const uint8_t id[16], char out[33]) {
    static const char X[] = "0123456789abcdef";
    char h[33];
    for (int i = 0; i < 16; i++) {
        h[2 * i] = X[id[i] >> 4];
        h[2 * i + 1] = X[id[i] & 15];
    }
    h[32] = 0;
    int skip = 0;
    while (skip < 31 && h[skip] == '0') skip++;
    memcpy(out, h + skip, (size_t)(33 - skip));
}

static void exemplars_json(tw__json *j, const tws_tqm_series *s) {
    if (!s->n_exemplars) return;
    tw__json_key(j, "exemplars", TW_NTS);
    tw__json_begin_array(j);
    for (uint32_t x = 0; x < s->n_exemplars; x++) {
        const tws_tqm_exemplar *e = &s->exemplars[x];
        char hex[33];
        trace_id_hex(e->trace_id, hex);
        tq_val id = {.t = TQ_STRING, .n = (uint32_t)strlen(hex), .u.s = hex};
        tw__json_begin_object(j);
        tw__json_key(j, "labels", TW_NTS);
        tw__json_begin_array(j);
        label_json(j, "trace:id", 8, &id);
        for (uint32_t i = 0; i < s->n_by; i++) label_json(j, s->labels[i].key, s->labels[i].key_len, &s->labels[i].val);
        tw__json_end_array(j);
        if (e->value != 0) {
            tw__json_key(j, "value", TW_NTS);
            tw__json_double(j, e->value);
        }
        tw__json_key(j, "timestampMs", TW_NTS);
        tw__json_uint64_string(j, e->ts_ms);
        tw__json_end_object(j);
    }
    tw__json_end_array(j);
}

static void tail_json(tw__json *j, const tws_tqm_result *r) {
    const tws_search_stats *st = &r->stats;
    tw__json_key(j, "metrics", TW_NTS);
    tw__json_begin_object(j);
    if (st->inspected_traces) {
        tw__json_key(j, "inspectedTraces", TW_NTS);
        tw__json_uint64(j, st->inspected_traces);
    }
    if (st->inspected_bytes) {
        tw__json_key(j, "inspectedBytes", TW_NTS);
        tw__json_uint64_string(j, st->inspected_bytes);
    }
    if (st->total_blocks) {
        tw__json_key(j, "totalBlocks", TW_NTS);
        tw__json_uint64(j, st->total_blocks);
        tw__json_key(j, "totalBlockBytes", TW_NTS);
        tw__json_uint64_string(j, st->total_block_bytes);
    }
    if (st->inspected_spans) {
        tw__json_key(j, "inspectedSpans", TW_NTS);
        tw__json_uint64_string(j, st->inspected_spans);
    }
    tw__json_end_object(j);
    if (r->partial) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "Response exceeds maximum series limit of %u, a partial response is returned. Warning: the accuracy "
                 "of each individual value is not guaranteed.",
                 r->max_series);
        tw__json_key(j, "status", TW_NTS);
        tw__json_string(j, "PARTIAL", TW_NTS);
        tw__json_key(j, "message", TW_NTS);
        tw__json_string(j, msg, TW_NTS);
    }
}

static void range_json(const tws_tqm_result *r, tw__buf *b) {
    tw__json j;
    tw__json_init(&j, b);
    tw__json_begin_object(&j);
    if (r->n) {
        tw__json_key(&j, "series", TW_NTS);
        tw__json_begin_array(&j);
        for (uint32_t k = 0; k < r->n; k++) {
            const tws_tqm_series *s = &r->series[k];
            tw__json_begin_object(&j);
            labels_json(&j, s);
            tw__json_key(&j, "samples", TW_NTS);
            tw__json_begin_array(&j);
            for (uint32_t i = 0; i < r->n_intervals; i++) {
                if (isnan(s->values[i])) continue;
                tw__json_begin_object(&j);
                tw__json_key(&j, "timestampMs", TW_NTS);
                tw__json_uint64_string(&j, tws_tqm_interval_end(r, i) / 1000000);
                if (s->values[i] != 0) {
                    tw__json_key(&j, "value", TW_NTS);
                    tw__json_double(&j, s->values[i]);
                }
                tw__json_end_object(&j);
            }
            tw__json_end_array(&j);
            tw__json_key(&j, "promLabels", TW_NTS);
            tw__json_string(&j, s->prom, s->prom_len);
            exemplars_json(&j, s);
            tw__json_end_object(&j);
        }
        tw__json_end_array(&j);
    }
    tail_json(&j, r);
    tw__json_end_object(&j);
}

/* One value per series: its first sample; a series without one is left out. */
static void instant_json(const tws_tqm_result *r, tw__buf *b) {
    tw__json j;
    tw__json_init(&j, b);
    tw__json_begin_object(&j);
    bool any = false;
    for (uint32_t k = 0; k < r->n; k++) {
        const tws_tqm_series *s = &r->series[k];
        uint32_t i = 0;
        while (i < r->n_intervals && isnan(s->values[i])) i++;
        if (i == r->n_intervals) continue;
        if (!any) {
            tw__json_key(&j, "series", TW_NTS);
            tw__json_begin_array(&j);
            any = true;
        }
        tw__json_begin_object(&j);
        labels_json(&j, s);
        if (s->values[i] != 0) {
            tw__json_key(&j, "value", TW_NTS);
            tw__json_double(&j, s->values[i]);
        }
        tw__json_key(&j, "promLabels", TW_NTS);
        tw__json_string(&j, s->prom, s->prom_len);
        tw__json_end_object(&j);
    }
    if (any) tw__json_end_array(&j);
    tail_json(&j, r);
    tw__json_end_object(&j);
}

/* ---- the handler ---------------------------------------------------------------- */

static void handle_query(tws_server *s, struct evhttp_request *req, struct evkeyvalq *params, bool instant) {
    char msg[512];
    /* q wins over query (Tempo reads query first, then q) */
    const char *qs = param(params, "q");
    if (!qs) qs = param(params, "query");
    uint64_t now = tw__clock_ns(), start, end, step;
    int64_t since = 3600 * (int64_t)NS;
    const char *v;
    if ((v = param(params, "since")) && (parse_duration(v, &since) || since < 0)) {
        snprintf(msg, sizeof msg, "could not parse 'since' parameter: not a duration: %.100s\n", v);
        return bad_request(req, msg);
    }
    end = now;
    if ((v = param(params, "end")) && tws_api_parse_time(v, &end)) {
        snprintf(msg, sizeof msg, "could not parse 'end' parameter: %.100s\n", v);
        return bad_request(req, msg);
    }
    uint64_t end_or_now = end < now ? end : now;
    start = end_or_now > (uint64_t)since ? end_or_now - (uint64_t)since : 0;
    if ((v = param(params, "start")) && tws_api_parse_time(v, &start)) {
        snprintf(msg, sizeof msg, "could not parse 'start' parameter: %.100s\n", v);
        return bad_request(req, msg);
    }
    if (start >= end) return bad_request(req, "end must be greater than start\n");
    if (instant) {
        step = end - start;
    } else if ((v = param(params, "step"))) {
        char *e;
        errno = 0;
        double secs = strtod(v, &e);
        int64_t d;
        if (!errno && !*e && e != v) {
            if (!(fabs(secs) * 1e9 < 9.2e18)) {
                snprintf(msg, sizeof msg, "cannot parse \"%.100s\" to a valid duration. It overflows int64\n", v);
                return bad_request(req, msg);
            }
            d = (int64_t)(secs * 1e9);
        } else if (parse_duration(v, &d)) {
            snprintf(msg, sizeof msg, "cannot parse \"%.100s\" to a valid duration\n", v);
            return bad_request(req, msg);
        }
        if (d <= 0 || (end - start) / (uint64_t)d > MAX_INTERVALS) {
            char a[64], b[64];
            go_duration(d, a);
            go_duration((int64_t)((end - start) / MAX_INTERVALS), b);
            snprintf(msg, sizeof msg, "step of %s is too small, minimum step for given range is %s\n", a, b);
            return bad_request(req, msg);
        }
        step = (uint64_t)d;
    } else {
        step = default_step(start, end); /* about 240 intervals: within the limit */
    }
    tq_query *q;
    char err[256];
    int rc = tq_parse(qs ? qs : "", qs ? strlen(qs) : 0, &q, err);
    if (rc == TW_EPARSE) {
        snprintf(msg, sizeof msg, "compiling query: %s\n", err);
        return bad_request(req, msg);
    }
    if (rc) return tws_reply_text(req, 500, "Internal Server Error", "text/plain", "out of memory\n", 14);
    if (!q->metrics) {
        tq_query_free(q);
        return bad_request(req, "not a metrics query\n");
    }
    if (!instant && end - start != step) { /* Tempo's AlignRequest; a single step stays as it is */
        start -= start % step;
        if (end % step) end += step - end % step;
        if (start > step) start -= step; /* a leading interval */
    }
    long ex = 0;
    if (!instant) {
        ex = MAX_EXEMPLARS;
        if ((v = param(params, "exemplars"))) {
            long x = strtol(v, NULL, 10);
            if (x > 0 && x < ex) ex = x;
        }
    }
    tws_tqm_req mr = {.q = q, .tenant = tenant_of(s, req), .start_ns = start, .end_ns = end, .step_ns = step,
                      .max_exemplars = (uint32_t)ex, .max_series = MAX_SERIES};
    tws_tqm_result res;
    rc = tws_tqm_run(&mr, s->head, s->frozen, s->store, &res, err);
    tq_query_free(q);
    if (rc == TW_EINVAL) {
        snprintf(msg, sizeof msg, "%s\n", err);
        return bad_request(req, msg);
    }
    if (rc) return tws_reply_text(req, 500, "Internal Server Error", "text/plain", "out of memory\n", 14);
    if (err[0]) fprintf(stderr, "tracewire: metrics query: %s\n", err);
    tw__buf b;
    tw__buf_init(&b, 1u << 30);
    if (instant) instant_json(&res, &b);
    else range_json(&res, &b);
    reply_json(req, &b);
    tw__buf_free(&b);
    tws_tqm_result_free(&res);
}

bool tws_metrics_api_route(tws_server *s, struct evhttp_request *req, const char *path, const char *query) {
    bool range = !strcmp(path, "/api/metrics/query_range");
    if (!range && strcmp(path, "/api/metrics/query")) return false;
    struct evkeyvalq params;
    TAILQ_INIT(&params);
    if (query) evhttp_parse_query_str(query, &params);
    handle_query(s, req, &params, !range);
    evhttp_clear_headers(&params);
    return true;
}
