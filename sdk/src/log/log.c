/*
 * log.c — one structured JSON line per call, carrying the trace_id and
 * span_id of the active span so logs join their traces (the article's
 * section 7). Each line is built in memory and written with one write(2),
 * so lines from concurrent threads never interleave. When OTLP export is
 * on, the same call also queues a log record (log_export.c).
 */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"
#include "log/log_int.h"
#include "trace/trace_int.h"

#define MAX_LINE (1u << 20)

struct tw_logger {
    int fd;
    tw_log_level min_level;
    char *service;
    tw__log_exporter *otlp; /* NULL: export off */
};

const char *tw_log_level_name(tw_log_level level) {
    if (level >= TW_LOG_FATAL) return "fatal";
    if (level >= TW_LOG_ERROR) return "error";
    if (level >= TW_LOG_WARN) return "warn";
    if (level >= TW_LOG_INFO) return "info";
    if (level >= TW_LOG_DEBUG) return "debug";
    return "trace";
}

int tw_logger_new(const tw_logger_options *o, tw_logger **out) {
    if (!out) return TW_EINVAL;
    *out = NULL;
    tw_logger *lg = tw__calloc(1, sizeof *lg);
    if (!lg) return TW_ENOMEM;
    lg->fd = o ? o->fd : 1;
    lg->min_level = o && o->min_level ? o->min_level : TW_LOG_INFO;
    tw_provider *prov = o && o->provider ? o->provider : tw_provider_global();
    const char *svc = o ? o->service : NULL;
    if (!svc) svc = tw_provider_resource_str(prov, "service.name");
    int rc = TW_OK;
    if (svc && !(lg->service = tw__strndup(svc, strlen(svc)))) rc = TW_ENOMEM;
    if (!rc && tw__log_export_wanted(o ? o->export_mode : TW_LOG_EXPORT_ENV))
        rc = tw__log_exporter_new(o, prov, &lg->otlp);
    if (rc) {
        tw_logger_destroy(lg);
        return rc;
    }
    *out = lg;
    return TW_OK;
}

void tw_logger_destroy(tw_logger *lg) {
    if (!lg) return;
    tw__log_exporter_destroy(lg->otlp);
    tw__free(lg->service);
    tw__free(lg);
}

int tw_logger_flush(tw_logger *lg, uint32_t timeout_ms) {
    if (!lg) return TW_EINVAL;
    return lg->otlp ? tw__log_exporter_flush(lg->otlp, timeout_ms) : TW_OK;
}

void tw_logger_get_stats(const tw_logger *lg, tw_processor_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (lg && lg->otlp) tw__log_exporter_stats(lg->otlp, out);
}

static void timestamp(tw__json *j, uint64_t ns) {
    time_t secs = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[40];
    int n = snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ns % 1000000000u));
    tw__json_string(j, ts, (size_t)n);
}

static void field(tw__json *j, const tw_attribute *a) {
    if (!a->key) return;
    tw__json_key(j, a->key, TW_NTS);
    switch (a->type) {
    case TW_TYPE_STRING: tw__json_string(j, a->v.s.ptr ? a->v.s.ptr : "", a->v.s.ptr ? a->v.s.len : 0); return;
    case TW_TYPE_BOOL: tw__json_bool(j, a->v.b); return;
    case TW_TYPE_INT: tw__json_int64(j, a->v.i); return;
    case TW_TYPE_DOUBLE: tw__json_double(j, a->v.d); return;
    default: break;
    }
    tw__json_begin_array(j);
    for (size_t i = 0; i < a->v.sa.n; i++) {
        switch (a->type) {
        case TW_TYPE_STRING_ARRAY: tw__json_string(j, a->v.sa.items[i].ptr, a->v.sa.items[i].len); break;
        case TW_TYPE_BOOL_ARRAY: tw__json_bool(j, a->v.ba.items[i]); break;
        case TW_TYPE_INT_ARRAY: tw__json_int64(j, a->v.ia.items[i]); break;
        default: tw__json_double(j, a->v.da.items[i]); break;
        }
    }
    tw__json_end_array(j);
}

static int build(tw_logger *lg, tw_log_level level, const char *msg, const tw_attribute *fields, size_t n,
                 const tw_context *ctx, uint64_t time_ns, tw__buf *b) {
    tw__json j;
    tw__json_init(&j, b);
    tw__json_begin_object(&j);
    tw__json_key(&j, "timestamp", TW_NTS);
    timestamp(&j, time_ns ? time_ns : tw_now_ns());
    tw__json_key(&j, "level", TW_NTS);
    tw__json_string(&j, tw_log_level_name(level), TW_NTS);
    tw__json_key(&j, "msg", TW_NTS);
    tw__json_string(&j, msg ? msg : "", TW_NTS);
    tw__json_key(&j, "service", TW_NTS);
    tw__json_string(&j, lg->service ? lg->service : "", TW_NTS);
    const tw_span_context *sc = &(ctx ? ctx : tw__current())->span;
    bool valid = tw_span_context_is_valid(sc);
    tw__json_key(&j, "trace_id", TW_NTS);
    if (valid) tw__json_hex(&j, sc->trace_id.bytes, TW_TRACE_ID_SIZE);
    else tw__json_string(&j, "", 0);
    tw__json_key(&j, "span_id", TW_NTS);
    if (valid) tw__json_hex(&j, sc->span_id.bytes, TW_SPAN_ID_SIZE);
    else tw__json_string(&j, "", 0);
    for (size_t i = 0; i < n; i++) field(&j, &fields[i]);
    tw__json_end_object(&j);
    tw__buf_putc(b, '\n');
    return b->failed;
}

int tw_log_format(tw_logger *lg, tw_log_level level, const char *msg, const tw_attribute *fields, size_t n,
                  const tw_context *ctx, uint64_t time_ns, char *buf, size_t buf_len) {
    if (!lg || (!buf && buf_len)) return TW_EINVAL;
    tw__buf b;
    tw__buf_init(&b, MAX_LINE);
    int rc = build(lg, level, msg, fields, n, ctx, time_ns, &b);
    if (rc == TW_OK && b.len > buf_len) rc = TW_ERANGE;
    if (rc == TW_OK) {
        memcpy(buf, b.data, b.len);
        rc = (int)b.len;
    }
    tw__buf_free(&b);
    return rc;
}

int tw_log(tw_logger *lg, tw_log_level level, const char *msg, const tw_attribute *fields, size_t n) {
    if (!lg) return TW_EINVAL;
    if (level < lg->min_level) return TW_OK;
    int orc = lg->otlp ? tw__log_export(lg->otlp, level, msg, fields, n, &tw__current()->span, 0) : TW_OK;
    if (lg->fd < 0) return orc;
    tw__buf b;
    tw__buf_init(&b, MAX_LINE);
    int rc = build(lg, level, msg, fields, n, NULL, 0, &b);
    size_t off = 0;
    while (rc == TW_OK && off < b.len) {
        ssize_t w = write(lg->fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) rc = TW_EIO;
        else off += (size_t)w;
    }
    tw__buf_free(&b);
    return rc ? rc : orc;
}
