/*
 * test_servicegraph.c — service-graph metrics.
 *
 * Covered: a client/server pair in either order makes one edge with both
 * durations; a failure on either side counts as failed; producer/consumer
 * pairs are messaging_system edges; a root server span is an edge from
 * "user"; a lone client span becomes, after the wait, an edge to its
 * peer.service, db.system (database) or server.address (virtual_node),
 * and without any is counted unpaired; nothing expires before the wait;
 * the waiting room is bounded (dropped spans counted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch_fixture.h"
#include "red/servicegraph.h"

/* One span of service `svc`: kind, span id byte, parent id byte (0: root),
 * status, duration, and one string attribute (key NULL: none). */
static void span_of(tws_batch *b, const char *svc, int kind, uint8_t id, uint8_t parent, int status, double ms,
                    const char *key, const char *val) {
    make_batch(b, 0x77, id, 1, "v", 1000000000);
    tws_kv *r = tws_batch_alloc(b, sizeof *r);
    *r = (tws_kv){{"service.name", 12}, {.type = TWS_STRING, .u.s = str(b, svc)}};
    b->resources[0].attrs = (tws_attrs){r, 1, 0};
    tws_span *s = &b->spans[0];
    s->kind = (uint8_t)kind;
    s->has_parent = parent != 0;
    memset(s->parent_span_id, parent, 8);
    s->status_code = (uint8_t)status;
    s->end_ns = s->start_ns + (uint64_t)(ms * 1e6);
    if (key) s->attrs.items[0] = (tws_kv){str(b, key), {.type = TWS_STRING, .u.s = str(b, val)}};
    else s->attrs.n = 0;
}

static void add(tws_servicegraph *sg, const char *svc, int kind, uint8_t id, uint8_t parent, int status, double ms,
                const char *key, const char *val, uint64_t now) {
    tws_batch b;
    span_of(&b, svc, kind, id, parent, status, ms, key, val);
    tws_servicegraph_add(sg, &b, now);
    tws_batch_free(&b);
}

static char *render(tws_servicegraph *sg) {
    tw__buf b;
    tw__buf_init(&b, 0);
    assert_int_equal(tws_servicegraph_render(sg, &b), 0);
    tw__buf_putc(&b, 0);
    return (char *)b.data;
}

static void has(const char *text, const char *line) {
    if (!strstr(text, line)) fail_msg("missing \"%s\" in:\n%s", line, text);
}

static void test_pairs_and_virtual_nodes(void **state) {
    tws_servicegraph *sg;
    tws_servicegraph_options o = {.wait_ms = 1000};
    assert_int_equal(tws_servicegraph_new(&o, &sg), TW_OK);
    add(sg, "checkout", 2, 1, 0, 0, 50, NULL, NULL, 0);                 /* root: user -> checkout */
    add(sg, "checkout", 3, 2, 1, 2, 30, NULL, NULL, 0);                 /* client, failed */
    add(sg, "inventory", 2, 3, 2, 0, 20, NULL, NULL, 10);               /* its server side */
    add(sg, "payments", 2, 5, 4, 0, 100, NULL, NULL, 20);               /* server first ... */
    add(sg, "checkout", 3, 4, 1, 0, 120, NULL, NULL, 30);               /* ... then its client */
    add(sg, "orders-api", 4, 6, 1, 0, 1, NULL, NULL, 40);               /* producer */
    add(sg, "settlement", 5, 7, 6, 0, 900, NULL, NULL, 50);             /* consumer */
    add(sg, "inventory", 3, 8, 3, 0, 4, "db.system", "postgresql", 60); /* uninstrumented peers */
    add(sg, "checkout", 3, 9, 1, 0, 4, "peer.service", "fraud", 60);
    add(sg, "checkout", 3, 10, 1, 0, 4, "server.address", "cache.internal", 60);
    add(sg, "checkout", 3, 11, 1, 0, 4, NULL, NULL, 60);                /* nothing to name: unpaired */
    tws_servicegraph_expire(sg, 500); /* before the wait: nothing yet */
    tws_servicegraph_stats st;
    tws_servicegraph_get_stats(sg, &st);
    assert_int_equal(st.waiting, 4);
    assert_int_equal(st.unpaired, 0);
    tws_servicegraph_expire(sg, 2000);
    tws_servicegraph_get_stats(sg, &st);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.unpaired, 1);
    char *t = render(sg);
    has(t, "traces_service_graph_request_total{client=\"user\",server=\"checkout\",connection_type=\"virtual_node\"} 1\n");
    has(t, "traces_service_graph_request_total{client=\"checkout\",server=\"inventory\"} 1\n");
    has(t, "traces_service_graph_request_failed_total{client=\"checkout\",server=\"inventory\"} 1\n");
    has(t, "traces_service_graph_request_total{client=\"checkout\",server=\"payments\"} 1\n");
    has(t, "traces_service_graph_request_failed_total{client=\"checkout\",server=\"payments\"} 0\n");
    has(t, "traces_service_graph_request_total{client=\"orders-api\",server=\"settlement\",connection_type=\"messaging_system\"} 1\n");
    has(t, "traces_service_graph_request_total{client=\"inventory\",server=\"postgresql\",connection_type=\"database\"} 1\n");
    has(t, "traces_service_graph_request_total{client=\"checkout\",server=\"fraud\",connection_type=\"virtual_node\"} 1\n");
    has(t, "traces_service_graph_request_total{client=\"checkout\",server=\"cache.internal\",connection_type=\"virtual_node\"} 1\n");
    /* both sides' durations: 20 ms server, 30 ms client */
    has(t, "traces_service_graph_request_server_seconds_bucket{client=\"checkout\",server=\"inventory\",le=\"0.1\"} 1\n");
    has(t, "traces_service_graph_request_server_seconds_sum{client=\"checkout\",server=\"inventory\"} 0.02\n");
    has(t, "traces_service_graph_request_client_seconds_sum{client=\"checkout\",server=\"inventory\"} 0.03\n");
    /* the 900 ms consumer side lands past 0.8 s */
    has(t, "traces_service_graph_request_server_seconds_bucket{client=\"orders-api\",server=\"settlement\",connection_type=\"messaging_system\",le=\"0.8\"} 0\n");
    has(t, "traces_service_graph_request_server_seconds_bucket{client=\"orders-api\",server=\"settlement\",connection_type=\"messaging_system\",le=\"1.6\"} 1\n");
    has(t, "traces_service_graph_unpaired_spans_total 1\n");
    free(t);
    tws_servicegraph_free(sg);
}

static void test_bounded(void **state) {
    tws_servicegraph *sg;
    tws_servicegraph_options o = {.wait_ms = 1000, .max_items = 3};
    assert_int_equal(tws_servicegraph_new(&o, &sg), TW_OK);
    for (uint8_t i = 1; i <= 5; i++) add(sg, "a", 3, i, 100, 0, 1, NULL, NULL, 0); /* 5 lone clients, room for 3 */
    tws_servicegraph_stats st;
    tws_servicegraph_get_stats(sg, &st);
    assert_int_equal(st.waiting, 3);
    assert_int_equal(st.dropped, 2);
    tws_servicegraph_expire(sg, 5000); /* room again */
    add(sg, "a", 3, 9, 100, 0, 1, NULL, NULL, 6000);
    add(sg, "b", 2, 10, 9, 0, 1, NULL, NULL, 6000);
    tws_servicegraph_get_stats(sg, &st);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.edges, 1);
    tws_servicegraph_free(sg);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pairs_and_virtual_nodes), cmocka_unit_test(test_bounded)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
