/*
 * otlp_json.c — ExportTraceServiceRequest and ExportLogsServiceRequest in
 * OTLP/JSON.
 *
 * The protobuf JSON mapping with OTLP's deviations
 * (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
 *  - member names are the lowerCamelCase JSON names (traceId, scopeSpans);
 *  - traceId, spanId and parentSpanId are lowercase hex strings, not base64;
 *  - enums (kind, status code) are integers;
 * and the mapping's own rules: int64 and fixed64 values (intValue, times)
 * are decimal strings, uint32/fixed32 are numbers, doubles are numbers with
 * NaN/Infinity as strings, and fields holding their default value are
 * omitted, except a set member of the AnyValue oneof.
 *
 * Same structure and grouping as otlp_pb.c (see the field table there).
 */
#include "common/buf.h"
#include "export/export_int.h"
#include "common/json.h"
#include "export/otlp_int.h"

static void put_value(tw__json *j, const tw__value *v) {
    tw__json_begin_object(j);
    switch (v->type) {
    case TW_TYPE_STRING:
        tw__json_key_plain(j, "stringValue", 11);
        tw__json_string(j, v->u.s, v->n);
        break;
    case TW_TYPE_BOOL:
        tw__json_key_plain(j, "boolValue", 9);
        tw__json_bool(j, v->u.b);
        break;
    case TW_TYPE_INT:
        tw__json_key_plain(j, "intValue", 8);
        tw__json_int64_string(j, v->u.i);
        break;
    case TW_TYPE_DOUBLE:
        tw__json_key_plain(j, "doubleValue", 11);
        tw__json_double(j, v->u.d);
        break;
    default:
        tw__json_key_plain(j, "arrayValue", 10);
        tw__json_begin_object(j);
        if (v->n) {
            tw__json_key_plain(j, "values", 6);
            tw__json_begin_array(j);
            for (uint32_t i = 0; i < v->n; i++) {
                tw__json_begin_object(j);
                switch (v->type) {
                case TW_TYPE_STRING_ARRAY:
                    tw__json_key_plain(j, "stringValue", 11);
                    tw__json_string(j, v->u.sa[i].ptr, tw__str_len(v->u.sa[i]));
                    break;
                case TW_TYPE_BOOL_ARRAY:
                    tw__json_key_plain(j, "boolValue", 9);
                    tw__json_bool(j, v->u.ba[i]);
                    break;
                case TW_TYPE_INT_ARRAY:
                    tw__json_key_plain(j, "intValue", 8);
                    tw__json_int64_string(j, v->u.ia[i]);
                    break;
                case TW_TYPE_DOUBLE_ARRAY:
                    tw__json_key_plain(j, "doubleValue", 11);
                    tw__json_double(j, v->u.da[i]);
                    break;
                default: break;
                }
                tw__json_end_object(j);
            }
            tw__json_end_array(j);
        }
        tw__json_end_object(j);
        break;
    }
    tw__json_end_object(j);
}

static void put_attributes(tw__json *j, const tw__kvlist *l) {
    if (l->n) {
        tw__json_key_plain(j, "attributes", 10);
        tw__json_begin_array(j);
        for (uint32_t i = 0; i < l->n; i++) {
            tw__json_begin_object(j);
            tw__json_key_plain(j, "key", 3);
            tw__json_string(j, l->items[i].key, l->items[i].key_len);
            tw__json_key_plain(j, "value", 5);
            put_value(j, &l->items[i].val);
            tw__json_end_object(j);
        }
        tw__json_end_array(j);
    }
    if (l->dropped) {
        tw__json_key_plain(j, "droppedAttributesCount", 22);
        tw__json_uint64(j, l->dropped);
    }
}

static int put_span(tw__json *j, const tw_span *s) {
    char small[512], *heap;
    const char *ts;
    int rc = 0;
    tw__json_begin_object(j);
    tw__json_key_plain(j, "traceId", 7);
    tw__json_hex(j, s->ctx.trace_id.bytes, TW_TRACE_ID_SIZE);
    tw__json_key_plain(j, "spanId", 6);
    tw__json_hex(j, s->ctx.span_id.bytes, TW_SPAN_ID_SIZE);
    int tn = tw__otlp_tracestate(s->ctx.state, small, sizeof small, &heap, &ts);
    if (tn > 0) {
        tw__json_key_plain(j, "traceState", 10);
        tw__json_string(j, ts, (size_t)tn);
    } else if (tn < 0) {
        rc = tn;
    }
    tw__free(heap);
    if (s->has_parent) {
        tw__json_key_plain(j, "parentSpanId", 12);
        tw__json_hex(j, s->parent_id.bytes, TW_SPAN_ID_SIZE);
    }
    tw__json_key_plain(j, "flags", 5);
    tw__json_uint64(j, tw__otlp_span_flags(s));
    if (s->name_len) {
        tw__json_key_plain(j, "name", 4);
        tw__json_string(j, s->name, s->name_len);
    }
    if (s->kind) {
        tw__json_key_plain(j, "kind", 4);
        tw__json_uint64(j, s->kind);
    }
    if (s->start_ns) {
        tw__json_key_plain(j, "startTimeUnixNano", 17);
        tw__json_uint64_string(j, s->start_ns);
    }
    if (s->end_ns) {
        tw__json_key_plain(j, "endTimeUnixNano", 15);
        tw__json_uint64_string(j, s->end_ns);
    }
    put_attributes(j, &s->attrs);
    if (s->n_events) {
        tw__json_key_plain(j, "events", 6);
        tw__json_begin_array(j);
        for (uint32_t i = 0; i < s->n_events; i++) {
            const tw__event *ev = &s->events[i];
            tw__json_begin_object(j);
            if (ev->time_ns) {
                tw__json_key_plain(j, "timeUnixNano", 12);
                tw__json_uint64_string(j, ev->time_ns);
            }
            if (ev->name_len) {
                tw__json_key_plain(j, "name", 4);
                tw__json_string(j, ev->name, ev->name_len);
            }
            put_attributes(j, &ev->attrs);
            tw__json_end_object(j);
        }
        tw__json_end_array(j);
    }
    if (s->dropped_events) {
        tw__json_key_plain(j, "droppedEventsCount", 18);
        tw__json_uint64(j, s->dropped_events);
    }
    if (s->n_links) {
        tw__json_key_plain(j, "links", 5);
        tw__json_begin_array(j);
        for (uint32_t i = 0; i < s->n_links; i++) {
            const tw__link *l = &s->links[i];
            tw__json_begin_object(j);
            tw__json_key_plain(j, "traceId", 7);
            tw__json_hex(j, l->trace_id.bytes, TW_TRACE_ID_SIZE);
            tw__json_key_plain(j, "spanId", 6);
            tw__json_hex(j, l->span_id.bytes, TW_SPAN_ID_SIZE);
            if (l->state_len) {
                tw__json_key_plain(j, "traceState", 10);
                tw__json_string(j, l->state, l->state_len);
            }
            put_attributes(j, &l->attrs);
            tw__json_key_plain(j, "flags", 5);
            tw__json_uint64(j, tw__otlp_link_flags(l));
            tw__json_end_object(j);
        }
        tw__json_end_array(j);
    }
    if (s->dropped_links) {
        tw__json_key_plain(j, "droppedLinksCount", 17);
        tw__json_uint64(j, s->dropped_links);
    }
    if (s->status != TW_STATUS_UNSET || s->status_msg_len) {
        tw__json_key_plain(j, "status", 6);
        tw__json_begin_object(j);
        if (s->status_msg_len) {
            tw__json_key_plain(j, "message", 7);
            tw__json_string(j, s->status_msg, s->status_msg_len);
        }
        if (s->status) {
            tw__json_key_plain(j, "code", 4);
            tw__json_uint64(j, s->status);
        }
        tw__json_end_object(j);
    }
    tw__json_end_object(j);
    return rc;
}

/* "resource":{attributes} */
static void put_resource(tw__json *j, const tw__kvlist *attrs) {
    tw__json_key_plain(j, "resource", 8);
    tw__json_begin_object(j);
    if (attrs) put_attributes(j, attrs);
    tw__json_end_object(j);
}

/* "scope":{name, version}; NULL or empty strings are omitted. */
static void put_scope(tw__json *j, const char *name, const char *version) {
    tw__json_key_plain(j, "scope", 5);
    tw__json_begin_object(j);
    if (name && name[0]) {
        tw__json_key_plain(j, "name", 4);
        tw__json_string(j, name, TW_NTS);
    }
    if (version && version[0]) {
        tw__json_key_plain(j, "version", 7);
        tw__json_string(j, version, TW_NTS);
    }
    tw__json_end_object(j);
}

int tw__otlp_traces_json(tw__buf *out, tw_span *const *spans, size_t n) {
    tw__otlp_groups g;
    int rc = tw__otlp_group(&g, spans, n);
    if (rc) return out->failed ? out->failed : (out->failed = rc);
    tw__json j;
    tw__json_init(&j, out);
    tw__json_begin_object(&j);
    if (g.n_res) {
        tw__json_key_plain(&j, "resourceSpans", 13);
        tw__json_begin_array(&j);
    }
    for (uint32_t r = 0; r < g.n_res; r++) {
        tw__json_begin_object(&j);
        put_resource(&j, tw__span_resource(spans[g.scopes[g.res_start[r]].first]));
        tw__json_key_plain(&j, "scopeSpans", 10);
        tw__json_begin_array(&j);
        for (uint32_t s = g.res_start[r]; s < g.res_start[r + 1]; s++) {
            const tw__otlp_scope *sc = &g.scopes[s];
            const struct tw_tracer *t = sc->tracer;
            tw__json_begin_object(&j);
            put_scope(&j, t ? t->name : NULL, t ? t->version : NULL);
            tw__json_key_plain(&j, "spans", 5);
            tw__json_begin_array(&j);
            for (uint32_t i = sc->first; i != TW__OTLP_END; i = g.next[i]) {
                int e = put_span(&j, spans[i]);
                if (e && !rc) rc = e;
            }
            tw__json_end_array(&j);
            tw__json_end_object(&j);
        }
        tw__json_end_array(&j);
        tw__json_end_object(&j);
    }
    if (g.n_res) tw__json_end_array(&j);
    tw__json_end_object(&j);
    tw__otlp_groups_free(&g);
    if (rc && !out->failed) out->failed = rc;
    return out->failed;
}

/* ---- logs ------------------------------------------------------------------- */

static void put_log_record(tw__json *j, const tw__log_record *r) {
    tw__json_begin_object(j);
    if (r->time_ns) {
        tw__json_key_plain(j, "timeUnixNano", 12);
        tw__json_uint64_string(j, r->time_ns);
    }
    if (r->observed_ns) {
        tw__json_key_plain(j, "observedTimeUnixNano", 20);
        tw__json_uint64_string(j, r->observed_ns);
    }
    if (r->severity) {
        tw__json_key_plain(j, "severityNumber", 14);
        tw__json_uint64(j, r->severity);
    }
    tw__json_key_plain(j, "severityText", 12);
    tw__json_string(j, tw__log_severity_text(r->severity), TW_NTS);
    tw__json_key_plain(j, "body", 4);
    put_value(j, &(tw__value){.type = TW_TYPE_STRING, .n = r->body_len, .u.s = r->body});
    put_attributes(j, &r->attrs);
    if (r->has_trace) {
        tw__json_key_plain(j, "flags", 5);
        tw__json_uint64(j, r->trace_flags);
        tw__json_key_plain(j, "traceId", 7);
        tw__json_hex(j, r->trace_id.bytes, TW_TRACE_ID_SIZE);
        tw__json_key_plain(j, "spanId", 6);
        tw__json_hex(j, r->span_id.bytes, TW_SPAN_ID_SIZE);
    }
    tw__json_end_object(j);
}

int tw__otlp_logs_json(tw__buf *out, const tw__log_batch *lb) {
    tw__json j;
    tw__json_init(&j, out);
    tw__json_begin_object(&j);
    if (lb->n) {
        tw__json_key_plain(&j, "resourceLogs", 12);
        tw__json_begin_array(&j);
        tw__json_begin_object(&j);
        put_resource(&j, lb->resource);
        tw__json_key_plain(&j, "scopeLogs", 9);
        tw__json_begin_array(&j);
        tw__json_begin_object(&j);
        put_scope(&j, lb->scope_name, lb->scope_version);
        tw__json_key_plain(&j, "logRecords", 10);
        tw__json_begin_array(&j);
        for (size_t i = 0; i < lb->n; i++) put_log_record(&j, lb->records[i]);
        tw__json_end_array(&j);
        tw__json_end_object(&j);
        tw__json_end_array(&j);
        tw__json_end_object(&j);
        tw__json_end_array(&j);
    }
    tw__json_end_object(&j);
    return out->failed;
}
