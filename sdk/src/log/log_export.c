/*
 * log_export.c — OTLP export of log records (see log_int.h).
 *
 * Ownership: a record belongs to the caller of tw__log_export until the
 * batcher accepts it, then to the batcher, which gives it back through
 * record_release once it has been exported or given up on (or dropped in a
 * forked child). A record is never shared, so it needs no reference count.
 */
#include <stdalign.h>

#include "core/env.h"
#include "export/batcher.h"
#include "export/otlp_int.h"
#include "log/log_int.h"
#include "trace/trace_int.h"

#define RECORD_INLINE 512 /* arena bytes inside a record: a typical line fits */
#define DEFAULT_SCOPE "tracewire.log"

typedef struct record_obj {
    tw__log_record r;
    alignas(8) char mem[RECORD_INLINE];
} record_obj;

struct tw__log_exporter {
    tw_exporter *exp;
    tw__batcher *q;
    const tw__kvlist *resource;
    char *scope_name;
    uint32_t attr_limit, value_limit;
    tw__log_record **typed; /* the worker's batch, as record pointers */
};

static const char *const SEVERITY_TEXT[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};

const char *tw__log_severity_text(uint8_t severity) {
    if (severity < 1) return SEVERITY_TEXT[0];
    if (severity > 24) return SEVERITY_TEXT[5];
    return SEVERITY_TEXT[(severity - 1) / 4];
}

bool tw__log_export_wanted(tw_log_export mode) {
    if (mode != TW_LOG_EXPORT_ENV) return mode == TW_LOG_EXPORT_OTLP;
    const char *v = tw__env("OTEL_LOGS_EXPORTER");
    bool otlp = false;
    while (v && *v) {
        const char *comma = strchr(v, ','), *end = comma ? comma : v + strlen(v), *s = v;
        size_t n = (size_t)(end - v);
        tw__trim(&s, &n);
        if (tw__strieq_n(s, n, "otlp")) otlp = true;
        else if (n && !tw__strieq_n(s, n, "none") && !tw__strieq_n(s, n, "console"))
            tw__warn("OTEL_LOGS_EXPORTER lists \"%.*s\", which is not otlp, console or none; ignored", (int)n, s);
        v = comma ? comma + 1 : end;
    }
    return otlp;
}

/* ---- records ---------------------------------------------------------------------- */

static void record_release(void *item) {
    tw__log_record *r = item;
    tw__arena_release(&r->arena);
    tw__free(r);
}

static tw__log_record *record_new(const tw__log_exporter *x, tw_log_level level, const char *msg,
                                  const tw_attribute *fields, size_t n, const tw_span_context *sc,
                                  uint64_t time_ns) {
    record_obj *o = tw__malloc(sizeof *o);
    if (!o) return NULL;
    tw__log_record *r = &o->r;
    memset(r, 0, sizeof *r);
    tw__arena_init(&r->arena, o->mem, sizeof o->mem);
    r->observed_ns = tw_now_ns();
    r->time_ns = time_ns ? time_ns : r->observed_ns;
    r->severity = (uint8_t)(level < 1 ? 1 : level > 24 ? 24 : level);
    if (tw_span_context_is_valid(sc)) {
        r->has_trace = true;
        r->trace_id = sc->trace_id;
        r->span_id = sc->span_id;
        r->trace_flags = sc->flags;
    }
    size_t len = msg ? strlen(msg) : 0; /* the attribute value limit is not for the body */
    r->body = tw__arena_strdup(&r->arena, msg ? msg : "", len);
    r->body_len = (uint32_t)len;
    bool ok = r->body != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        if (!fields[i].key) continue;
        int rc = tw__kvlist_set(&r->arena, &r->attrs, &fields[i], x->attr_limit, x->value_limit);
        ok = rc != TW_ENOMEM;
    }
    if (!ok) {
        record_release(r);
        return NULL;
    }
    return r;
}

/* ---- the batcher's sink ------------------------------------------------------------ */

static int sink_export(void *ctx, void *const *items, size_t n, uint64_t deadline_ns) {
    tw__log_exporter *x = ctx;
    for (size_t i = 0; i < n; i++) x->typed[i] = items[i];
    tw__log_batch b = {x->resource, x->scope_name, TW_VERSION_STRING, x->typed, n};
    return x->exp->ops->export_logs(x->exp, &b, deadline_ns);
}

/* ---- interface -------------------------------------------------------------------- */

int tw__log_exporter_new(const tw_logger_options *o, const tw_provider *prov, tw__log_exporter **out) {
    *out = NULL;
    tw__log_exporter *x = tw__calloc(1, sizeof *x);
    if (!x) return TW_ENOMEM;
    int rc = tw__otlp_http_new(TW__OTLP_LOGS, o ? o->otlp : NULL, &x->exp);
    if (rc) goto fail;
    rc = TW_ENOMEM;
    x->resource = prov ? &prov->resource : NULL;
    const char *scope = o && o->scope_name ? o->scope_name : DEFAULT_SCOPE;
    if (!(x->scope_name = tw__strndup(scope, strlen(scope)))) goto fail;
    x->attr_limit = tw__env_limit("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT", 128);
    x->value_limit = tw__env_limit("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", 0);
    tw__batch_sink sink = {sink_export, record_release, x, x->exp};
    tw__batch_config cfg = {"OTEL_BLRP_", 1000, o && o->batch ? *o->batch : (tw_batch_options){0}};
    if (!(x->q = tw__batcher_new(&sink, &cfg))) goto fail;
    if (!(x->typed = tw__malloc(tw__batcher_batch_size(x->q) * sizeof *x->typed))) goto fail;
    *out = x;
    return TW_OK;
fail:
    tw__log_exporter_destroy(x);
    return rc;
}

int tw__log_export(tw__log_exporter *x, tw_log_level level, const char *msg, const tw_attribute *fields,
                   size_t n, const tw_span_context *sc, uint64_t time_ns) {
    tw__log_record *r = record_new(x, level, msg, fields, n, sc, time_ns);
    if (!r) return TW_ENOMEM;
    if (!tw__batcher_push(x->q, r)) record_release(r); /* counted as dropped */
    return TW_OK;
}

int tw__log_exporter_flush(tw__log_exporter *x, uint32_t timeout_ms) { return tw__batcher_flush(x->q, timeout_ms); }

void tw__log_exporter_stats(const tw__log_exporter *x, tw_processor_stats *out) { tw__batcher_stats(x->q, out); }

void tw__log_exporter_destroy(tw__log_exporter *x) {
    if (!x) return;
    tw__batcher_destroy(x->q); /* exports what is queued first */
    tw_exporter_destroy(x->exp);
    tw__free(x->scope_name);
    tw__free(x->typed);
    tw__free(x);
}
