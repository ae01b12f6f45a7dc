/*
 * promwrite.c — remote-write TimeSeries encoding (promwrite.h).
 */
#include <stdlib.h>

#include "common/pb.h"
#include "red/promwrite.h"

void tws_prom_escape(tw__buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\') tw__buf_puts(b, "\\\\");
        else if (c == '"') tw__buf_puts(b, "\\\"");
        else if (c == '\n') tw__buf_puts(b, "\\n");
        else tw__buf_putc(b, (uint8_t)c);
    }
}

static int cmp_label(const void *x, const void *y) {
    return strcmp(((const tws_pw_label *)x)->name, ((const tws_pw_label *)y)->name);
}

static void pb_label(tw__buf *o, const char *name, const char *value) {
    tw__pb_mark m = tw__pb_begin(o, 1, 2);
    tw__pb_bytes(o, 1, name, strlen(name));
    tw__pb_bytes(o, 2, value, strlen(value));
    tw__pb_end(o, m);
}

void tws_pw_series(tw__buf *o, const char *metric, const tws_pw_label *labels, size_t n, double v, int64_t ts_ms,
                   const tws_pw_exemplar *ex) {
    tws_pw_label all[TWS_PW_MAX_LABELS];
    size_t k = 0;
    all[k++] = (tws_pw_label){"__name__", metric};
    for (size_t i = 0; i < n && k < TWS_PW_MAX_LABELS; i++) all[k++] = labels[i];
    qsort(all, k, sizeof *all, cmp_label);
    tw__pb_mark m = tw__pb_begin(o, 1, 3); /* TimeSeries */
    for (size_t i = 0; i < k; i++) pb_label(o, all[i].name, all[i].value);
    tw__pb_mark sm = tw__pb_begin(o, 2, 1); /* Sample */
    tw__pb_double(o, 1, v);
    tw__pb_uint64(o, 2, (uint64_t)ts_ms);
    tw__pb_end(o, sm);
    if (ex) { /* Exemplar */
        char t[33], sp[17];
        tw__hex_encode(ex->trace, 16, t);
        tw__hex_encode(ex->span, 8, sp);
        t[32] = sp[16] = 0;
        tw__pb_mark em = tw__pb_begin(o, 3, 2);
        pb_label(o, "trace_id", t);
        pb_label(o, "span_id", sp);
        tw__pb_double(o, 2, ex->value);
        tw__pb_uint64(o, 3, (uint64_t)ex->ts_ms);
        tw__pb_end(o, em);
    }
    tw__pb_end(o, m);
}
