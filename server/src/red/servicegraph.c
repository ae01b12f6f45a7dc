/*
 * servicegraph.c — service-graph metrics (servicegraph.h).
 *
 * Waiting spans live in a fixed array of `max_items` slots with a chained
 * hash index over (trace id, call id) and a free list; edges in a small
 * array searched linearly (services, not spans, make the edges). A slot's
 * key, chain link and deadline are kept apart from its payload (names,
 * durations: ~450 bytes), in an array of 40-byte keys that lookups and the
 * expiry sweep walk: a full waiting room of 10,000 is 400 KB of keys
 * instead of 4.5 MB of slots, so a lookup on the ingest path stays in the
 * cache.
 */
#include <stdio.h>
#include <stdlib.h>

#include "red/promwrite.h"
#include "red/servicegraph.h"

#define NAME 128
#define N_BUCKETS 8
static const double buckets_s[N_BUCKETS] = {0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8};

typedef struct ikey {
    uint8_t trace[16], call[8];
    uint32_t next; /* chain (index + 1), or the free list */
    bool used;
    uint64_t expires_ms;
} ikey;

typedef struct item {
    bool has_client, has_server, client_failed, server_failed, messaging;
    char client[NAME], server[NAME], peer[NAME];
    bool peer_is_db;
    double client_s, server_s;
} item;

typedef struct hist {
    double b[N_BUCKETS + 1], sum, count;
} hist;

typedef struct edge {
    char client[NAME], server[NAME];
    const char *type; /* "", "messaging_system", "database", "virtual_node" */
    double total, failed;
    hist server_h, client_h;
} edge;

struct tws_servicegraph {
    tws_servicegraph_options o;
    item *items;
    ikey *keys; /* keys[i] is items[i]'s */
    uint32_t *heads, n_heads; /* power of two */
    uint32_t free_list, waiting;
    edge *edges;
    uint32_t n_edges;
    uint64_t unpaired, dropped;
};

int tws_servicegraph_new(const tws_servicegraph_options *o, tws_servicegraph **out) {
    tws_servicegraph *sg = tw__calloc(1, sizeof *sg);
    if (!sg) return TW_ENOMEM;
    if (o) sg->o = *o;
    if (!sg->o.wait_ms) sg->o.wait_ms = 10000;
    if (!sg->o.max_items) sg->o.max_items = 10000;
    if (!sg->o.max_edges) sg->o.max_edges = 1000;
    sg->n_heads = 16;
    while (sg->n_heads < sg->o.max_items * 2) sg->n_heads *= 2;
    sg->items = tw__calloc(sg->o.max_items, sizeof *sg->items);
    sg->keys = tw__calloc(sg->o.max_items, sizeof *sg->keys);
    sg->heads = tw__calloc(sg->n_heads, sizeof *sg->heads);
    sg->edges = tw__calloc(sg->o.max_edges, sizeof *sg->edges);
    if (!sg->items || !sg->keys || !sg->heads || !sg->edges) {
        tws_servicegraph_free(sg);
        return TW_ENOMEM;
    }
    for (uint32_t i = 0; i < sg->o.max_items; i++) sg->keys[i].next = i + 1 < sg->o.max_items ? i + 2 : 0;
    sg->free_list = 1;
    *out = sg;
    return TW_OK;
}

void tws_servicegraph_free(tws_servicegraph *sg) {
    if (!sg) return;
    tw__free(sg->items);
    tw__free(sg->keys);
    tw__free(sg->heads);
    tw__free(sg->edges);
    tw__free(sg);
}

static uint32_t slot(const tws_servicegraph *sg, const uint8_t trace[16], const uint8_t call[8]) {
    return (uint32_t)tw__mix64(tw__load_le64(trace) ^ tw__load_le64(trace + 8) * 31 ^ tw__load_le64(call)) &
           (sg->n_heads - 1);
}

static item *find(tws_servicegraph *sg, const uint8_t trace[16], const uint8_t call[8]) {
    for (uint32_t i = sg->heads[slot(sg, trace, call)]; i; i = sg->keys[i - 1].next) {
        const ikey *k = &sg->keys[i - 1];
        if (!memcmp(k->trace, trace, 16) && !memcmp(k->call, call, 8)) return &sg->items[i - 1];
    }
    return NULL;
}

static item *insert(tws_servicegraph *sg, const uint8_t trace[16], const uint8_t call[8], uint64_t now_ms) {
    if (!sg->free_list) {
        sg->dropped++;
        return NULL;
    }
    uint32_t i = sg->free_list;
    item *it = &sg->items[i - 1];
    ikey *k = &sg->keys[i - 1];
    sg->free_list = k->next;
    /* only the flags and the first byte of each name: the rest is written when used */
    it->has_client = it->has_server = it->client_failed = it->server_failed = it->messaging = it->peer_is_db = false;
    it->client[0] = it->server[0] = it->peer[0] = 0;
    memcpy(k->trace, trace, 16);
    memcpy(k->call, call, 8);
    k->expires_ms = now_ms + sg->o.wait_ms;
    k->used = true;
    uint32_t h = slot(sg, trace, call);
    k->next = sg->heads[h];
    sg->heads[h] = i;
    sg->waiting++;
    return it;
}

static void release(tws_servicegraph *sg, item *it) {
    uint32_t idx = (uint32_t)(it - sg->items) + 1;
    ikey *k = &sg->keys[idx - 1];
    uint32_t *p = &sg->heads[slot(sg, k->trace, k->call)];
    while (*p && *p != idx) p = &sg->keys[*p - 1].next;
    if (*p) *p = k->next;
    k->used = false;
    k->next = sg->free_list;
    sg->free_list = idx;
    sg->waiting--;
}

static edge *edge_of(tws_servicegraph *sg, const char *client, const char *server, const char *type) {
    for (uint32_t i = 0; i < sg->n_edges; i++) {
        edge *e = &sg->edges[i];
        if (!strcmp(e->client, client) && !strcmp(e->server, server) && e->type == type) return e;
    }
    if (sg->n_edges == sg->o.max_edges) return NULL;
    edge *e = &sg->edges[sg->n_edges++];
    snprintf(e->client, NAME, "%s", client);
    snprintf(e->server, NAME, "%s", server);
    e->type = type;
    return e;
}

static void observe(hist *h, double s) {
    uint32_t i = 0;
    while (i < N_BUCKETS && s > buckets_s[i]) i++;
    h->b[i]++;
    h->sum += s;
    h->count++;
}

/* A request over an edge; client_s / server_s < 0 when that side is unseen. */
static void count(tws_servicegraph *sg, const char *client, const char *server, const char *type, bool failed,
                  double client_s, double server_s) {
    edge *e = edge_of(sg, client, server, type);
    if (!e) {
        sg->dropped++;
        return;
    }
    e->total++;
    if (failed) e->failed++;
    if (client_s >= 0) observe(&e->client_h, client_s);
    if (server_s >= 0) observe(&e->server_h, server_s);
}

/* Copy a string into a NAME buffer (cut to fit). */
static void set_name(char out[NAME], const char *p, size_t n) {
    if (n > NAME - 1) n = NAME - 1;
    memcpy(out, p, n);
    out[n] = 0;
}

/* The string attribute `key` of `a`, or NULL. */
static const tw_str *str_attr(const tws_attrs *a, const char *key) {
    const tws_value *v = tws_attrs_find(a, key);
    return v && v->type == TWS_STRING ? &v->u.s : NULL;
}

static void text_attr(const tws_attrs *a, const char *key, char out[NAME]) {
    const tw_str *v = str_attr(a, key);
    if (v) set_name(out, v->ptr, v->len);
}

void tws_servicegraph_add(tws_servicegraph *sg, const tws_batch *b, uint64_t now_ms) {
    uint32_t res_idx = UINT32_MAX;
    const tw_str *sv = NULL;
    char svc[NAME];
    for (uint32_t i = 0; i < b->n_spans; i++) {
        const tws_span *s = &b->spans[i];
        if (s->reject) continue;
        bool client = s->kind == 3 || s->kind == 4, server = s->kind == 2 || s->kind == 5;
        if (!client && !server) continue;
        uint32_t ri = b->scopes[s->scope_idx].resource_idx;
        if (ri != res_idx) { /* the service name, once per run of spans of one resource */
            res_idx = ri;
            sv = str_attr(&b->resources[ri].attrs, "service.name");
            if (sv) set_name(svc, sv->ptr, sv->len);
            else memcpy(svc, "unknown_service", 16);
        }
        double secs = s->end_ns > s->start_ns ? (double)(s->end_ns - s->start_ns) / 1e9 : 0;
        bool failed = s->status_code == 2;
        if (server && !s->has_parent) { /* a root: called by a user, not by a traced service */
            count(sg, "user", svc, "virtual_node", failed, -1, secs);
            continue;
        }
        const uint8_t *call = client ? s->span_id : s->parent_span_id;
        item *it = find(sg, s->trace_id, call);
        if (!it && !(it = insert(sg, s->trace_id, call, now_ms))) continue;
        if (client && !it->has_client) {
            it->has_client = true;
            it->client_failed = failed;
            it->client_s = secs;
            it->messaging = s->kind == 4;
            memcpy(it->client, svc, strlen(svc) + 1);
            text_attr(&s->attrs, "server.address", it->peer);
            char db[NAME] = "";
            text_attr(&s->attrs, "db.system", db);
            if (db[0]) memcpy(it->peer, db, strlen(db) + 1), it->peer_is_db = true;
            char ps[NAME] = "";
            text_attr(&s->attrs, "peer.service", ps);
            if (ps[0]) memcpy(it->peer, ps, strlen(ps) + 1), it->peer_is_db = false;
        } else if (server && !it->has_server) {
            it->has_server = true;
            it->server_failed = failed;
            it->server_s = secs;
            it->messaging = it->messaging || s->kind == 5;
            memcpy(it->server, svc, strlen(svc) + 1);
        }
        if (it->has_client && it->has_server) {
            count(sg, it->client, it->server, it->messaging ? "messaging_system" : "", it->client_failed || it->server_failed,
                  it->client_s, it->server_s);
            release(sg, it);
        }
    }
}

void tws_servicegraph_expire(tws_servicegraph *sg, uint64_t now_ms) {
    for (uint32_t i = 0; i < sg->o.max_items; i++) {
        if (!sg->keys[i].used || sg->keys[i].expires_ms > now_ms) continue;
        item *it = &sg->items[i];
        if (it->has_client && it->peer[0])
            count(sg, it->client, it->peer, it->peer_is_db ? "database" : "virtual_node", it->client_failed, it->client_s, -1);
        else
            sg->unpaired++;
        release(sg, it);
    }
}

/* ---- rendering ----------------------------------------------------------------------- */

static void labels(tw__buf *o, const edge *e) {
    tw__buf_puts(o, "client=\"");
    tws_prom_escape(o, e->client, strlen(e->client));
    tw__buf_puts(o, "\",server=\"");
    tws_prom_escape(o, e->server, strlen(e->server));
    tw__buf_putc(o, '"');
    if (e->type[0]) tw__buf_printf(o, ",connection_type=\"%s\"", e->type);
}

static void render_hist(const tws_servicegraph *sg, tw__buf *o, const char *name, bool server) {
    tw__buf_printf(o, "# HELP %s Request durations over service-graph edges, as the %s side saw them.\n"
                      "# TYPE %s histogram\n", name, server ? "server" : "client", name);
    for (uint32_t i = 0; i < sg->n_edges; i++) {
        const edge *e = &sg->edges[i];
        const hist *h = server ? &e->server_h : &e->client_h;
        if (!h->count) continue;
        double cum = 0;
        for (uint32_t b = 0; b <= N_BUCKETS; b++) {
            cum += h->b[b];
            tw__buf_printf(o, "%s_bucket{", name);
            labels(o, e);
            if (b < N_BUCKETS) tw__buf_printf(o, ",le=\"%g\"} %.15g\n", buckets_s[b], cum);
            else tw__buf_printf(o, ",le=\"+Inf\"} %.15g\n", cum);
        }
        tw__buf_printf(o, "%s_sum{", name);
        labels(o, e);
        tw__buf_printf(o, "} %.15g\n%s_count{", h->sum, name);
        labels(o, e);
        tw__buf_printf(o, "} %.15g\n", h->count);
    }
}

int tws_servicegraph_render(const tws_servicegraph *sg, tw__buf *o) {
    static const char *const names[2] = {"traces_service_graph_request_total", "traces_service_graph_request_failed_total"};
    static const char *const helps[2] = {"Requests between two services.", "Failed requests between two services."};
    for (int k = 0; k < 2; k++) {
        tw__buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n", names[k], helps[k], names[k]);
        for (uint32_t i = 0; i < sg->n_edges; i++) {
            tw__buf_printf(o, "%s{", names[k]);
            labels(o, &sg->edges[i]);
            tw__buf_printf(o, "} %.15g\n", k ? sg->edges[i].failed : sg->edges[i].total);
        }
    }
    render_hist(sg, o, "traces_service_graph_request_server_seconds", true);
    render_hist(sg, o, "traces_service_graph_request_client_seconds", false);
    tw__buf_printf(o,
                   "# HELP traces_service_graph_unpaired_spans_total Client spans that found no server side in time.\n"
                   "# TYPE traces_service_graph_unpaired_spans_total counter\ntraces_service_graph_unpaired_spans_total %llu\n"
                   "# HELP traces_service_graph_dropped_spans_total Spans not paired for lack of room.\n"
                   "# TYPE traces_service_graph_dropped_spans_total counter\ntraces_service_graph_dropped_spans_total %llu\n",
                   (unsigned long long)sg->unpaired, (unsigned long long)sg->dropped);
    return o->failed;
}

void tws_servicegraph_get_stats(const tws_servicegraph *sg, tws_servicegraph_stats *out) {
    out->waiting = sg->waiting;
    out->edges = sg->n_edges;
    out->unpaired = sg->unpaired;
    out->dropped = sg->dropped;
}

/* ---- remote_write -------------------------------------------------------------------- */

static size_t edge_labels(const edge *e, tws_pw_label l[4]) {
    size_t n = 0;
    l[n++] = (tws_pw_label){"client", e->client};
    l[n++] = (tws_pw_label){"server", e->server};
    if (e->type[0]) l[n++] = (tws_pw_label){"connection_type", e->type};
    return n;
}

static void pw_hist(tw__buf *o, const char *name, const edge *e, const hist *h, int64_t ts_ms) {
    if (!h->count) return;
    tws_pw_label l[4];
    size_t n = edge_labels(e, l);
    char metric[96], le[32];
    double cum = 0;
    snprintf(metric, sizeof metric, "%s_bucket", name);
    for (uint32_t b = 0; b <= N_BUCKETS; b++) {
        cum += h->b[b];
        if (b < N_BUCKETS) snprintf(le, sizeof le, "%g", buckets_s[b]);
        else strcpy(le, "+Inf");
        l[n] = (tws_pw_label){"le", le};
        tws_pw_series(o, metric, l, n + 1, cum, ts_ms, NULL);
    }
    snprintf(metric, sizeof metric, "%s_sum", name);
    tws_pw_series(o, metric, l, n, h->sum, ts_ms, NULL);
    snprintf(metric, sizeof metric, "%s_count", name);
    tws_pw_series(o, metric, l, n, h->count, ts_ms, NULL);
}

int tws_servicegraph_encode_remote_write(const tws_servicegraph *sg, int64_t now_ms, tw__buf *out) {
    for (uint32_t i = 0; i < sg->n_edges; i++) {
        const edge *e = &sg->edges[i];
        tws_pw_label l[4];
        size_t n = edge_labels(e, l);
        tws_pw_series(out, "traces_service_graph_request_total", l, n, e->total, now_ms, NULL);
        tws_pw_series(out, "traces_service_graph_request_failed_total", l, n, e->failed, now_ms, NULL);
        pw_hist(out, "traces_service_graph_request_server_seconds", e, &e->server_h, now_ms);
        pw_hist(out, "traces_service_graph_request_client_seconds", e, &e->client_h, now_ms);
    }
    return out->failed;
}
