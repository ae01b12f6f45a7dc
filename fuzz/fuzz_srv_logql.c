/*
 * fuzz_srv_logql.c — the LogQL parser (logql/parse.c, lex.c) on arbitrary
 * bytes, and the evaluator on every query it accepts.
 *
 * Properties checked (abort() on violation):
 *  - lq_parse returns TW_OK or TW_EPARSE; a refusal's message starts with
 *    "parse error " (Loki's prefix);
 *  - an accepted query has a selector of at least one matcher; it runs on a
 *    JSON line, a logfmt line and a plain line of a stream it may or may
 *    not select, and every result is a label set in canonical form that
 *    reads back equal (tws_labels_parse);
 *  - a metric query accumulates those results over a short range without
 *    failing other than by a pipeline error, and its points are finite.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "logql/logql.h"

static void check(int cond) {
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lq_query *q = NULL;
    char err[256] = "";
    int rc = lq_parse((const char *)data, size, &q, err);
    check(rc == TW_OK || rc == TW_EPARSE);
    if (rc != TW_OK) {
        check(q == NULL && strncmp(err, "parse error ", 12) == 0);
        return 0;
    }
    uint32_t n_sel;
    check(lq_selector(q, &n_sel) != NULL && n_sel >= 1);
    static const char *const lines[] = {
        ("{\"level\":\"error\",\"msg\":\"db timeout\",\"status\":500,\"latency\":\"1.5s\",\"user\":{\"id\":\"u-1\"},"
         "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}"),
        "method=GET status=200 duration=3ms size=1KB msg=\"all \\\"good\\\"\"",
        "plain line with 4bf92f3577b34da6a3ce929d0e0e4736 in it",
    };
    tws_labels stream, meta, back;
    tws_labels_init(&stream);
    tws_labels_init(&meta);
    tws_labels_init(&back);
    tws_labels_set(&stream, "service_name", 12, "checkout", 8);
    tws_labels_set(&stream, "level", 5, "error", 5);
    tws_labels_set(&meta, "trace_id", 8, "4bf92f3577b34da6a3ce929d0e0e4736", 32);
    const lq_metric *m = lq_query_metric(q);
    lq_acc *acc = NULL;
    if (m) check(lq_acc_new(q, 0, 60000000000ll, 15000000000ll, 100, &acc) == TW_OK);
    lq_eval *e;
    check(lq_eval_new(&e) == TW_OK);
    tw__buf text;
    tw__buf_init(&text, 0);
    bool selected = lq_selector_matches(q, &stream);
    for (int i = 0; i < 3; i++) {
        const tws_labels *out;
        tw_str line = {lines[i], strlen(lines[i])};
        rc = lq_eval_record(e, q, &stream, line, i == 0 ? &meta : NULL, &out);
        check(rc == 0 || rc == 1);
        if (rc != 1) continue;
        text.len = 0;
        check(tws_labels_write(out, &text) == 0);
        check(tws_labels_parse((const char *)text.data, text.len, &back) == 0);
        check(tws_labels_equal(out, &back));
        if (acc && selected) {
            int ar = lq_acc_add(acc, (int64_t)(i + 1) * 10000000000ll, out, line.len);
            check(ar == TW_OK || ar == TW_EINVAL || ar == TW_ERANGE);
        }
    }
    if (acc) {
        for (uint32_t s = 0; s < lq_acc_n_series(acc); s++)
            for (uint32_t k = 0; k < lq_acc_n_steps(acc); k++) {
                double v;
                if (lq_acc_value(acc, s, k, &v)) check(isfinite(v) && v >= 0);
            }
        lq_acc_free(acc);
    }
    tw__buf_free(&text);
    lq_eval_free(e);
    tws_labels_free(&stream);
    tws_labels_free(&meta);
    tws_labels_free(&back);
    lq_query_free(q);
    return 0;
}
