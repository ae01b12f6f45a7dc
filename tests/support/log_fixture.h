/*
 * log_fixture.h — generated log records for the server's unit tests
 * (header-only): every body type, attributes, trace and span ids or none,
 * severity number and text, event names, flags, observed times, over 3
 * resources and 6 scopes; deterministic (a fixed xorshift seed).
 */
#ifndef TW_TEST_LOG_FIXTURE_H
#define TW_TEST_LOG_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "batch_fixture.h"

static uint64_t log_rng = 0x2545f4914f6cdd1dull;
static inline uint64_t log_next(void) {
    log_rng ^= log_rng << 13;
    log_rng ^= log_rng >> 7;
    log_rng ^= log_rng << 17;
    return log_rng;
}

static inline tw_str strf(tws_batch *b, const char *fmt, unsigned long v) {
    char tmp[128];
    snprintf(tmp, sizeof tmp, fmt, v);
    return str(b, tmp);
}

static inline void random_value(tws_batch *b, tws_value *v, int depth) {
    memset(v, 0, sizeof *v);
    switch (log_next() % (depth < 2 ? 7 : 5)) {
    case 0: v->type = TWS_STRING, v->u.s = strf(b, "GET /checkout took %lu ms", log_next() % 500); break;
    case 1: v->type = TWS_INT, v->u.i = (int64_t)log_next(); break;
    case 2: v->type = TWS_DOUBLE, v->u.d = (double)(int64_t)log_next() / 7.0; break;
    case 3: v->type = TWS_BOOL, v->u.b = log_next() & 1; break;
    case 4: v->type = TWS_EMPTY; break;
    case 5:
        v->type = TWS_ARRAY;
        v->n = (uint32_t)(log_next() % 4);
        v->u.arr = tws_batch_alloc(b, (v->n + 1) * sizeof *v->u.arr);
        for (uint32_t i = 0; i < v->n; i++) random_value(b, &v->u.arr[i], depth + 1);
        break;
    default:
        v->type = TWS_KVLIST;
        v->n = (uint32_t)(log_next() % 4);
        v->u.kv = tws_batch_alloc(b, (v->n + 1) * sizeof *v->u.kv);
        for (uint32_t i = 0; i < v->n; i++) {
            v->u.kv[i].key = strf(b, "field.%lu", i);
            random_value(b, &v->u.kv[i].val, depth + 1);
        }
    }
}

#define N_STREAMS 12
#define N_TRACES 9000

/* `n` records over 3 resources (2 scopes each); record i's stream is
 * keys[stream[i]]. */
static inline void make_logs(tws_batch *b, uint32_t n, uint32_t *stream) {
    tws_batch_init(b);
    b->n_resources = 3;
    b->resources = tws_batch_alloc(b, 3 * sizeof *b->resources);
    memset(b->resources, 0, 3 * sizeof *b->resources);
    b->n_scopes = 6;
    b->scopes = tws_batch_alloc(b, 6 * sizeof *b->scopes);
    memset(b->scopes, 0, 6 * sizeof *b->scopes);
    for (uint32_t r = 0; r < 3; r++) {
        tws_attrs *a = &b->resources[r].attrs;
        a->n = 2;
        a->items = tws_batch_alloc(b, 2 * sizeof *a->items);
        a->items[0] = (tws_kv){str(b, "service.name"), {.type = TWS_STRING, .u.s = strf(b, "svc-%lu", r)}};
        a->items[1] = (tws_kv){str(b, "host.id"), {.type = TWS_INT, .u.i = (int64_t)r * 1000}};
        b->resources[r].schema_url = str(b, "https://opentelemetry.io/schemas/1.26.0");
        b->resources[r].labels_verbatim = r == 2; /* as a Loki push's */
    }
    for (uint32_t s = 0; s < 6; s++) {
        b->scopes[s].resource_idx = s / 2;
        b->scopes[s].name = strf(b, "logger-%lu", s);
        b->scopes[s].version = str(b, "1.0");
    }
    b->n_logs = n;
    b->logs = tws_batch_alloc(b, n * sizeof *b->logs);
    memset(b->logs, 0, n * sizeof *b->logs);
    for (uint32_t i = 0; i < n; i++) {
        tws_log *l = &b->logs[i];
        l->scope_idx = (uint32_t)(log_next() % 6);
        l->severity = (uint8_t)(log_next() % 25);
        stream[i] = (l->scope_idx / 2) * 4 + l->severity % 4; /* resource x severity: N_STREAMS */
        l->time_ns = 1700000000000000000ull + log_next() % 600000000000ull;
        if (i % 17 == 0) l->time_ns = 0; /* observed time only */
        l->observed_ns = i % 5 ? 1700000000000000000ull + log_next() % 600000000000ull : 0;
        if (!l->time_ns && !l->observed_ns) l->observed_ns = 1700000000000000001ull;
        if (i % 7) {
            uint64_t t = log_next() % N_TRACES;
            memset(l->trace_id, 0, 16);
            memcpy(l->trace_id, &t, sizeof t);
            l->trace_id[15] = 1;
            l->has_trace_id = true;
            if (i % 3) {
                uint64_t s = log_next();
                memcpy(l->span_id, &s, 8);
                l->has_span_id = true;
            }
        }
        if (i % 4 == 0) l->severity_text = str(b, i % 8 ? "INFO" : "ERROR");
        if (i % 50 == 0) l->event_name = str(b, "checkout.completed");
        l->flags = i % 3 == 0 ? 1 : 0;
        random_value(b, &l->body, 0);
        l->attrs.n = (uint32_t)(log_next() % 4);
        l->attrs.items = tws_batch_alloc(b, (l->attrs.n + 1) * sizeof(tws_kv));
        for (uint32_t k = 0; k < l->attrs.n; k++) {
            l->attrs.items[k].key = strf(b, "attr.%lu", k);
            random_value(b, &l->attrs.items[k].val, 1);
        }
        l->attrs.dropped = i % 11 == 0 ? 2 : 0;
    }
}

/* The canonical labels of stream s of make_logs. */
static inline void log_stream_key(uint32_t s, char *out, size_t cap) {
    static const char *const levels[] = {"debug", "error", "info", "warn"};
    snprintf(out, cap, "{level=\"%s\", service_name=\"svc-%u\"}", levels[s % 4], s / 4);
}

#endif
