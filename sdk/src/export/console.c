/*
 * console.c — an exporter that writes each batch as one OTLP/JSON
 * ExportTraceServiceRequest line on a FILE, flushed, for debugging.
 * The output can be fed to any OTLP/JSON reader (or collector file receiver).
 */
#include <stdio.h>

#include "common/buf.h"
#include "export/export_int.h"

typedef struct console_exporter {
    tw_exporter base;
    FILE *f;
    _Atomic bool shut;
    tw__buf buf; /* reused across batches; export_spans is never concurrent */
} console_exporter;

static int console_export(tw_exporter *e, tw_span *const *spans, size_t n, uint64_t deadline_ns) {
    console_exporter *c = (console_exporter *)e;
    int rc;
    if (atomic_load(&c->shut)) {
        rc = TW_ESHUTDOWN;
        goto out;
    }
    tw__buf_reset(&c->buf);
    rc = tw__otlp_traces_json(&c->buf, spans, n);
    if (rc) goto out;
    tw__buf_putc(&c->buf, '\n');
    if ((rc = c->buf.failed)) goto out;
    if (fwrite(c->buf.data, 1, c->buf.len, c->f) != c->buf.len || fflush(c->f)) rc = TW_EIO;
out:
    atomic_fetch_add(&c->base.counters.requests, 1);
    if (rc)
        atomic_fetch_add(&c->base.counters.spans_failed, n);
    else
        atomic_fetch_add(&c->base.counters.spans_exported, n);
    /* Keep one large batch's memory from being held forever. */
    if (c->buf.cap > (size_t)4 << 20) tw__buf_free(&c->buf);
    return rc;
}

static void console_shutdown(tw_exporter *e) {
    console_exporter *c = (console_exporter *)e;
    atomic_store(&c->shut, true);
}

static void console_destroy(tw_exporter *e) {
    console_exporter *c = (console_exporter *)e;
    tw__buf_free(&c->buf);
    tw__free(c);
}

static const tw__exporter_ops console_ops = {
    .export_spans = console_export,
    .shutdown = console_shutdown,
    .after_fork_child = NULL,
    .destroy = console_destroy,
};

int tw_exporter_console_new(FILE *f, tw_exporter **out) {
    if (!f || !out) return TW_EINVAL;
    console_exporter *c = tw__calloc(1, sizeof *c);
    if (!c) return TW_ENOMEM;
    c->base.ops = &console_ops;
    c->f = f;
    tw__buf_init(&c->buf, 0);
    *out = &c->base;
    return TW_OK;
}
