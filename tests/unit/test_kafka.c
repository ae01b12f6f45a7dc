/*
 * test_kafka.c — the article's enterprise scenario over a real librdkafka
 * client and its mock cluster: the producer writes traceparent into the
 * record headers, one consumer continues the trace as a child, and a batch
 * consumer links its "settle batch" span to every producer's context
 * instead of parenting a 500-wide fan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "memory_exporter.h"
#include "trace/trace_int.h"

enum { RECORDS = 20 };

static tw_provider *provider;
static tw_tracer *tracer;
static tw_test_mem *mem;
static tw_propagator *prop;
static rd_kafka_t *mock_owner;
static rd_kafka_mock_cluster_t *cluster;
static char bootstraps[256];

static rd_kafka_t *client(rd_kafka_type_t type, const char *group) {
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof err), RD_KAFKA_CONF_OK);
    if (group) {
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    assert_non_null(rk);
    return rk;
}

static int setup(void **state) {
    tw_provider_options o = {.sampler = tw_sampler_always_on()};
    assert_int_equal(tw_provider_new(&o, &provider), TW_OK);
    tw_processor *proc;
    tw_processor_simple_new(tw_test_mem_new(&mem, 0), &proc);
    tw_provider_add_processor(provider, proc);
    tracer = tw_tracer_get(provider, "settlement", "1.0.0");
    tw_propagator *members[] = {tw_propagator_tracecontext(), tw_propagator_baggage()};
    prop = tw_propagator_composite(members, 2);

    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(mock_owner);
    cluster = rd_kafka_mock_cluster_new(mock_owner, 1);
    assert_non_null(cluster);
    snprintf(bootstraps, sizeof bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(cluster));
    assert_int_equal(rd_kafka_mock_topic_create(cluster, "order.placed", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    return 0;
}

static int teardown(void **state) {
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(mock_owner);
    tw_propagator_destroy(prop);
    tw_provider_destroy(provider);
    return 0;
}

/* Publish RECORDS order.placed events, each from its own PRODUCER span. */
static void produce(tw_span_context producers[RECORDS]) {
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, NULL);
    for (int i = 0; i < RECORDS; i++) {
        tw_span *api = tw_span_start(tracer, "POST /orders", &(tw_span_options){.kind = TW_SPAN_KIND_SERVER, .root = true});
        int tok = tw_span_attach(api);
        tw_span *pub = tw_span_start(tracer, "order.placed publish", &(tw_span_options){.kind = TW_SPAN_KIND_PRODUCER});
        tw_span_set_str(pub, "messaging.system", "kafka");
        tw_span_set_str(pub, "messaging.destination.name", "order.placed");
        tw__sc_copy(&producers[i], tw_span_get_context(pub));

        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
        tw_carrier c = tw_kafka_headers_carrier(hdrs);
        tw_context ctx;
        tw_current_context(&ctx);
        tw_context_set_span(&ctx, pub);
        tw_baggage *bg = NULL;
        tw_baggage_set(NULL, "tenant.id", "acme", NULL, &bg);
        tw_context_set_baggage(&ctx, bg);
        tw_baggage_unref(bg);
        assert_int_equal(tw_propagator_inject(prop, &ctx, &c), TW_OK);
        tw_context_release(&ctx);

        char payload[32];
        int n = snprintf(payload, sizeof payload, "order-%d", i);
        rd_kafka_resp_err_t err =
            rd_kafka_producev(p, RD_KAFKA_V_TOPIC("order.placed"), RD_KAFKA_V_VALUE(payload, (size_t)n),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR); /* the headers now belong to the message */
        tw_span_end(pub);
        tw_detach(tok);
        tw_span_end(api);
    }
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

/* Poll until `want` records arrived (or 15 s passed). */
static int consume(rd_kafka_t *c, rd_kafka_message_t **out, int want) {
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, "order.placed", RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(c, topics), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(topics);
    int got = 0;
    uint64_t deadline = tw_now_ns() + 15000000000ull;
    while (got < want && tw_now_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m) continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        out[got++] = m;
    }
    return got;
}

static tw_context extract_record(rd_kafka_message_t *m) {
    rd_kafka_headers_t *hdrs = NULL;
    tw_context ctx = TW_CONTEXT_INIT;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        tw_carrier c = tw_kafka_headers_carrier(hdrs);
        assert_int_equal(tw_propagator_extract(prop, &c, &ctx), TW_OK);
    }
    return ctx;
}

static void test_batch_consumer_links_every_producer(void **state) {
    tw_span_context producers[RECORDS];
    produce(producers);
    rd_kafka_t *c = client(RD_KAFKA_CONSUMER, "settlers");
    rd_kafka_message_t *msgs[RECORDS];
    int got = consume(c, msgs, RECORDS);
    assert_int_equal(got, RECORDS);

    /* One batch span, linked (not parented) to each record's producer. */
    tw_link links[RECORDS];
    tw_context ctxs[RECORDS];
    for (int i = 0; i < got; i++) {
        ctxs[i] = extract_record(msgs[i]);
        assert_true(tw_span_context_is_valid(&ctxs[i].span));
        assert_true(ctxs[i].span.is_remote);
        tw_str v;
        assert_int_equal(tw_baggage_get(ctxs[i].baggage, "tenant.id", &v), TW_OK);
        links[i] = (tw_link){&ctxs[i].span, NULL, 0};
    }
    tw_span *batch = tw_span_start(tracer, "settle batch",
                                   &(tw_span_options){.kind = TW_SPAN_KIND_CONSUMER, .root = true, .links = links,
                                                      .n_links = (size_t)got});
    tw_span_set_int(batch, "messaging.batch.message_count", got);
    tw_span_end(batch);

    tw_span *e = tw_test_mem_find(mem, "settle batch");
    assert_non_null(e);
    assert_false(e->has_parent);
    assert_int_equal(e->n_links, RECORDS);
    for (int i = 0; i < RECORDS; i++) {
        bool found = false;
        for (uint32_t k = 0; k < e->n_links; k++)
            found |= memcmp(e->links[k].span_id.bytes, producers[i].span_id.bytes, 8) == 0 &&
                     memcmp(e->links[k].trace_id.bytes, producers[i].trace_id.bytes, 16) == 0 &&
                     e->links[k].is_remote;
        assert_true(found);
        tw_tracestate_unref(producers[i].state);
    }

    /* A single-record consumer continues the producer's trace as a child. */
    tw_span *one = tw_span_start(tracer, "process order",
                                 &(tw_span_options){.kind = TW_SPAN_KIND_CONSUMER, .parent = &ctxs[0]});
    assert_memory_equal(tw_span_get_context(one)->trace_id.bytes, ctxs[0].span.trace_id.bytes, 16);
    assert_memory_equal(one->parent_id.bytes, ctxs[0].span.span_id.bytes, 8);
    assert_true(one->parent_is_remote);
    tw_span_end(one);

    for (int i = 0; i < got; i++) {
        tw_context_release(&ctxs[i]);
        rd_kafka_message_destroy(msgs[i]);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

static void test_carrier_set_replaces_and_get_returns_all(void **state) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    tw_carrier c = tw_kafka_headers_carrier(h);
    assert_int_equal(c.set(c.self, "traceparent", "first", 5), TW_OK);
    assert_int_equal(c.set(c.self, "traceparent", "second", 6), TW_OK);
    rd_kafka_header_add(h, "tracestate", -1, "a=1", 3);
    rd_kafka_header_add(h, "tracestate", -1, "b=2", 3);
    tw_str vals[4];
    assert_int_equal(c.get(c.self, "traceparent", vals, 4), 1);
    assert_int_equal(vals[0].len, 6);
    assert_memory_equal(vals[0].ptr, "second", 6);
    assert_int_equal(c.get(c.self, "tracestate", vals, 4), 2);
    assert_int_equal(c.get(c.self, "absent", vals, 4), 0);
    rd_kafka_headers_destroy(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_carrier_set_replaces_and_get_returns_all),
        cmocka_unit_test(test_batch_consumer_links_every_producer),
    };
    return cmocka_run_group_tests_name("kafka", tests, setup, teardown);
}
