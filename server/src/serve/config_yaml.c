/*
 * config_yaml.c — `tracewire serve --config FILE`: every setting of
 * tws_config from a YAML file, read with libyaml's event parser.
 *
 *   data_dir: ./tracewire-data
 *   otlp:   { http_listen: 127.0.0.1:4318, grpc_listen: 127.0.0.1:4317 }
 *   query:  { http_listen: 127.0.0.1:3200 }
 *   limits: { max_request_bytes: 16MiB, max_decompressed_bytes: 64MiB,
 *             max_attr_value_len: 2048, max_trace_bytes: 5MB }
 *   head:   { max_bytes: 1GiB }
 *   wal:    { segment_bytes: 64MiB, max_pending: 64MiB, free_segments: 4 }
 *   tenants: { default: single-tenant }
 *   storage: { backend: s3, s3: { endpoint: http://127.0.0.1:9000, bucket: traces,
 *              region: us-east-1, prefix: tracewire/, access_key: …, secret_key: …,
 *              list_page_size: 1000, poll_interval: 30s } }
 *   blocks: { compactor: true }   # false on all but one server sharing a bucket
 *
 * The Collector-shaped sections (receivers, processors, exporters,
 * connectors, service) are skipped here and loaded by pipeline/pconfig.c
 * from the same text; receivers.otlp.protocols sets the OTLP listeners
 * (a protocol not listed is off).
 *
 * Strict: an unknown key, a wrong type, a duplicate key or a malformed file
 * is refused with "FILE:LINE:COL: key 'a.b': what was wrong"; nothing of a
 * refused file is applied. Sizes take B, KB, MB, GB (powers of 1000) and
 * KiB, MiB, GiB (powers of 1024).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>

#include "pipeline/pconfig.h"
#include "serve/config.h"

typedef enum { K_STR, K_ADDR, K_SIZE, K_U32, K_DUR, K_BOOL } kind;

typedef struct setting {
    const char *path; /* "limits.max_trace_bytes" */
    kind k;
    size_t off;   /* offset in tws_config */
    size_t len;   /* for strings: buffer size */
} setting;

#define STR(p, f) {p, K_STR, offsetof(tws_config, f), sizeof(((tws_config *)0)->f)}
#define ADDR(p, f) {p, K_ADDR, offsetof(tws_config, f), sizeof(((tws_config *)0)->f)}
#define SIZE(p, f) {p, K_SIZE, offsetof(tws_config, f), 0}
#define U32(p, f) {p, K_U32, offsetof(tws_config, f), 0}
#define DUR(p, f) {p, K_DUR, offsetof(tws_config, f), 0}
#define BOOL(p, f) {p, K_BOOL, offsetof(tws_config, f), 0}

static const setting settings[] = {
    STR("data_dir", data_dir),
    ADDR("otlp.http_listen", otlp_http_listen),
    ADDR("otlp.grpc_listen", otlp_grpc_listen),
    ADDR("query.http_listen", http_listen),
    SIZE("limits.max_request_bytes", max_request_bytes),
    SIZE("limits.max_decompressed_bytes", max_decompressed_bytes),
    U32("limits.max_attr_value_len", max_attr_value_len),
    SIZE("limits.max_trace_bytes", max_trace_bytes),
    SIZE("head.max_bytes", head_max_bytes),
    SIZE("wal.segment_bytes", wal_segment_bytes),
    SIZE("wal.max_pending", wal_max_pending),
    U32("wal.free_segments", wal_free_segments),
    STR("tenants.default", default_tenant),
    SIZE("head.flush_bytes", head_flush_bytes),
    DUR("head.flush_interval", head_flush_interval_s),
    DUR("blocks.retention", retention_s),
    DUR("blocks.compaction_interval", compaction_interval_s),
    BOOL("blocks.compactor", compactor),
    DUR("blocks.compaction_window", compaction_window_s),
    SIZE("blocks.max_spans", block_max_spans),
    U32("spanmetrics.max_series", spanmetrics.max_series),
    STR("spanmetrics.remote_write_url", remote_write_url),
    STR("spanmetrics.export", spanmetrics_export),
    DUR("spanmetrics.remote_write_interval", remote_write_interval_s),
    DUR("service_graph.wait", service_graph_wait_s),
    BOOL("spanmetrics.enabled", spanmetrics_enabled),
    BOOL("service_graph.enabled", service_graph_enabled),
    SIZE("logs.head_max_bytes", log_head_max_bytes),
    SIZE("logs.flush_bytes", log_flush_bytes),
    DUR("logs.flush_interval", log_flush_interval_s),
    DUR("logs.retention", log_retention_s),
    SIZE("logs.block_max_records", log_block_max_records),
    DUR("logs.span_start_shift", logs_start_shift_s),
    STR("storage.backend", storage_backend),
    STR("storage.s3.endpoint", s3.endpoint),
    STR("storage.s3.bucket", s3.bucket),
    STR("storage.s3.region", s3.region),
    STR("storage.s3.prefix", s3.prefix),
    STR("storage.s3.access_key", s3.access_key),
    STR("storage.s3.secret_key", s3.secret_key),
    U32("storage.s3.list_page_size", s3.list_page_size),
    DUR("storage.s3.poll_interval", s3.poll_interval_s),
    DUR("logs.span_end_shift", logs_end_shift_s),
};

typedef struct unit {
    const char *u;
    uint64_t m;
} unit;

/* A decimal number followed by exactly one of `units` (no space); the
 * product must stay below `max`. 0 or -1. */
static int parse_with_units(const char *s, const unit *units, size_t n_units, uint64_t max, uint64_t *out) {
    char *end;
    errno = 0;
    if (!*s || *s == '-' || *s == '+' || *s == ' ') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return -1;
    for (size_t i = 0; i < n_units; i++) {
        if (strcmp(end, units[i].u) != 0) continue;
        if (v > max / units[i].m) return -1;
        *out = v * units[i].m;
        return 0;
    }
    return -1;
}

int tws_parse_size(const char *s, uint64_t *out) {
    static const unit units[] = {
        {"", 1}, {"B", 1}, {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000}, {"KiB", 1024},
        {"MiB", 1024 * 1024}, {"GiB", 1024ull * 1024 * 1024},
    };
    return parse_with_units(s, units, sizeof units / sizeof *units, UINT64_MAX, out);
}

int tws_parse_duration_s(const char *s, uint64_t *out) {
    static const unit units[] = {{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 7 * 86400}};
    /* kept in nanoseconds elsewhere: seconds times 1e9 must fit */
    return parse_with_units(s, units, sizeof units / sizeof *units, UINT64_MAX / 1000000000ull, out);
}

typedef struct walker {
    const char *file;
    char *err;
    size_t err_len;
    tws_config next; /* applied only when the whole file is good */
    bool seen[sizeof settings / sizeof settings[0]];
    bool seen_buckets, seen_dims, seen_index;
} walker;

static int fail(walker *w, const yaml_mark_t *m, const char *key, const char *fmt, const char *detail) {
    char what[200];
    snprintf(what, sizeof what, fmt, detail);
    if (key) snprintf(w->err, w->err_len, "%s:%zu:%zu: key '%s': %s", w->file, m->line + 1, m->column + 1, key, what);
    else snprintf(w->err, w->err_len, "%s:%zu:%zu: %s", w->file, m->line + 1, m->column + 1, what);
    return -1;
}

/* Errors about the key point at the key; errors about the value at it. */
static int set_value(walker *w, const char *path, const yaml_event_t *ev, const yaml_mark_t *key_mark) {
    size_t i = 0;
    while (i < sizeof settings / sizeof settings[0] && strcmp(settings[i].path, path) != 0) i++;
    if (i == sizeof settings / sizeof settings[0]) return fail(w, key_mark, path, "%sunknown setting", "");
    if (w->seen[i]) return fail(w, key_mark, path, "%sgiven twice", "");
    w->seen[i] = true;
    const setting *st = &settings[i];
    const char *v = (const char *)ev->data.scalar.value;
    char *dst = (char *)&w->next + st->off;
    uint64_t n;
    switch (st->k) {
    case K_STR:
        if (!*v || strlen(v) >= st->len) return fail(w, &ev->start_mark, path, "%sempty or too long", "");
        memcpy(dst, v, strlen(v) + 1);
        return 0;
    case K_ADDR: {
        char host[128];
        uint16_t port;
        if (strlen(v) >= st->len || tws_split_hostport(v, host, sizeof host, &port) != 0)
            return fail(w, &ev->start_mark, path, "\"%.80s\" is not HOST:PORT", v);
        memcpy(dst, v, strlen(v) + 1);
        return 0;
    }
    case K_SIZE:
        if (tws_parse_size(v, &n) != 0)
            return fail(w, &ev->start_mark, path, "\"%.80s\" is not a size (e.g. 5000000, 64MiB, 1GB)", v);
        memcpy(dst, &n, sizeof n);
        return 0;
    case K_U32:
        if (tws_parse_size(v, &n) != 0 || n > UINT32_MAX)
            return fail(w, &ev->start_mark, path, "\"%.80s\" is not an integer up to 4294967295", v);
        uint32_t u = (uint32_t)n;
        memcpy(dst, &u, sizeof u);
        return 0;
    case K_BOOL: {
        bool b;
        if (!strcmp(v, "true")) b = true;
        else if (!strcmp(v, "false")) b = false;
        else return fail(w, &ev->start_mark, path, "\"%.80s\" is not true or false", v);
        memcpy(dst, &b, sizeof b);
        return 0;
    }
    case K_DUR:
        if (tws_parse_duration_s(v, &n) != 0 || n == 0)
            return fail(w, &ev->start_mark, path, "\"%.80s\" is not a duration (e.g. 30s, 5m, 336h, 14d)", v);
        memcpy(dst, &n, sizeof n);
        return 0;
    }
    return -1;
}

int tws_parse_duration_ms(const char *s, double *out) {
    char *end;
    if (!*s || *s == '-' || *s == '+' || *s == ' ') return -1;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || v > 1e12) return -1;
    static const struct {
        const char *u;
        double ms;
    } units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1}, {"s", 1e3}, {"m", 6e4}, {"h", 3.6e6}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (strcmp(end, units[i].u) == 0) {
            *out = v * units[i].ms;
            return 0;
        }
    return -1;
}

/* The next event, which must be a scalar; its text into out. */
static int next_scalar(walker *w, yaml_parser_t *p, const char *path, char *out, size_t cap, yaml_mark_t *m) {
    yaml_event_t ev;
    if (!yaml_parser_parse(p, &ev)) return fail(w, &p->problem_mark, NULL, "malformed YAML: %s", p->problem);
    *m = ev.start_mark;
    int rc = 0;
    if (ev.type != YAML_SCALAR_EVENT) rc = fail(w, &ev.start_mark, path, "%sexpected a value", "");
    else if (strlen((const char *)ev.data.scalar.value) >= cap) rc = fail(w, &ev.start_mark, path, "%stoo long", "");
    else strcpy(out, (const char *)ev.data.scalar.value);
    yaml_event_delete(&ev);
    return rc;
}

/* spanmetrics.buckets: [5ms, 10ms, ...], ascending. The sequence-start
 * event has been consumed. */
static int walk_buckets(walker *w, yaml_parser_t *p, const char *path, const yaml_mark_t *key_mark) {
    tws_spanmetrics_options *o = &w->next.spanmetrics;
    o->n_buckets = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev)) return fail(w, &p->problem_mark, NULL, "malformed YAML: %s", p->problem);
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return o->n_buckets ? 0 : fail(w, key_mark, path, "%sneeds at least one bucket", "");
        }
        double ms = 0;
        int rc = 0;
        if (ev.type != YAML_SCALAR_EVENT || tws_parse_duration_ms((const char *)ev.data.scalar.value, &ms) != 0)
            rc = fail(w, &ev.start_mark, path, "%sa bucket is a duration such as 5ms, 250us or 1.5s", "");
        else if (o->n_buckets == TWS_SM_MAX_BUCKETS)
            rc = fail(w, &ev.start_mark, path, "%sat most 64 buckets", "");
        else if (o->n_buckets && ms <= o->buckets_ms[o->n_buckets - 1])
            rc = fail(w, &ev.start_mark, path, "%sbuckets must be in ascending order", "");
        else
            o->buckets_ms[o->n_buckets++] = ms;
        yaml_event_delete(&ev);
        if (rc) return rc;
    }
}

/* logs.index_labels: [service.name, k8s.namespace.name, ...]: attribute
 * names, unique, at most TWS_MAX_INDEX_LABELS. */
static int walk_index_labels(walker *w, yaml_parser_t *p, const char *path, const yaml_mark_t *key_mark) {
    tws_config *c = &w->next;
    c->n_log_index_attrs = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev)) return fail(w, &p->problem_mark, NULL, "malformed YAML: %s", p->problem);
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return c->n_log_index_attrs ? 0 : fail(w, key_mark, path, "%sneeds at least one attribute name", "");
        }
        const char *v = ev.type == YAML_SCALAR_EVENT ? (const char *)ev.data.scalar.value : NULL;
        int rc = 0;
        if (!v || !v[0])
            rc = fail(w, &ev.start_mark, path, "%seach entry is a resource attribute name such as service.name", "");
        else if (strlen(v) >= sizeof c->log_index_attrs[0])
            rc = fail(w, &ev.start_mark, path, "%san attribute name is too long", "");
        else if (c->n_log_index_attrs == TWS_MAX_INDEX_LABELS)
            rc = fail(w, &ev.start_mark, path, "%sat most 32 attributes", "");
        for (uint32_t i = 0; !rc && i < c->n_log_index_attrs; i++)
            if (!strcmp(c->log_index_attrs[i], v)) rc = fail(w, &ev.start_mark, path, "%s is given twice", v);
        if (!rc) strcpy(c->log_index_attrs[c->n_log_index_attrs++], v);
        yaml_event_delete(&ev);
        if (rc) return rc;
    }
}

/* spanmetrics.dimensions: [{name: http.route, default: "x"}, ...]. */
static int walk_dimensions(walker *w, yaml_parser_t *p, const char *path) {
    tws_spanmetrics_options *o = &w->next.spanmetrics;
    o->n_dims = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev)) return fail(w, &p->problem_mark, NULL, "malformed YAML: %s", p->problem);
        yaml_event_type_t t = ev.type;
        yaml_mark_t m = ev.start_mark;
        yaml_event_delete(&ev);
        if (t == YAML_SEQUENCE_END_EVENT) return 0;
        if (t != YAML_MAPPING_START_EVENT) return fail(w, &m, path, "%seach dimension is a mapping with a name", "");
        if (o->n_dims == TWS_SM_MAX_DIMS) return fail(w, &m, path, "%sat most 16 dimensions", "");
        tws_sm_dimension *d = &o->dims[o->n_dims];
        memset(d, 0, sizeof *d);
        for (;;) {
            char k[32];
            yaml_event_t kev;
            if (!yaml_parser_parse(p, &kev)) return fail(w, &p->problem_mark, NULL, "malformed YAML: %s", p->problem);
            if (kev.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&kev);
                break;
            }
            bool scalar = kev.type == YAML_SCALAR_EVENT && strlen((const char *)kev.data.scalar.value) < sizeof k;
            if (scalar) strcpy(k, (const char *)kev.data.scalar.value);
            yaml_mark_t km = kev.start_mark;
            yaml_event_delete(&kev);
            yaml_mark_t vm;
            if (scalar && strcmp(k, "name") == 0) {
                if (next_scalar(w, p, path, d->name, sizeof d->name, &vm)) return -1;
                if (!d->name[0]) return fail(w, &vm, path, "%sa dimension's name is empty", "");
            } else if (scalar && strcmp(k, "default") == 0) {
                if (next_scalar(w, p, path, d->fallback, sizeof d->fallback, &vm)) return -1;
            } else {
                return fail(w, &km, path, "%sa dimension has only name and default", "");
            }
        }
        if (!d->name[0]) return fail(w, &m, path, "%sa dimension needs a name", "");
        o->n_dims++;
    }
}

/* Consume the value that starts with `first` (already parsed): a scalar,
 * or a whole mapping or sequence. */
static int skip_value(walker *w, yaml_parser_t *p, const yaml_event_t *first) {
    int depth = first->type == YAML_MAPPING_START_EVENT || first->type == YAML_SEQUENCE_START_EVENT;
    while (depth > 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev)) return fail(w, &p->problem_mark, NULL, "malformed YAML: %s", p->problem);
        if (ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_SEQUENCE_START_EVENT) depth++;
        else if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) depth--;
        yaml_event_delete(&ev);
    }
    return 0;
}

/* Walk one mapping whose keys extend `prefix`. The mapping-start event has
 * been consumed. Sections nest one level (head.flush_bytes), storage.s3 two
 * (storage.s3.bucket); anything deeper is refused. */
static int walk_mapping(walker *w, yaml_parser_t *p, const char *prefix, int depth) {
    for (;;) {
        yaml_event_t key;
        if (!yaml_parser_parse(p, &key)) return fail(w, &p->problem_mark, NULL, "malformed YAML: %s", p->problem);
        if (key.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&key);
            return 0;
        }
        if (key.type != YAML_SCALAR_EVENT) {
            int rc = fail(w, &key.start_mark, prefix[0] ? prefix : NULL, "%sexpected a key", "");
            yaml_event_delete(&key);
            return rc;
        }
        char path[160];
        int pn = snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", (const char *)key.data.scalar.value);
        yaml_mark_t key_mark = key.start_mark;
        yaml_event_delete(&key);
        if (pn < 0 || (size_t)pn >= sizeof path) return fail(w, &key_mark, NULL, "%sa key path is too long", "");
        yaml_event_t val;
        if (!yaml_parser_parse(p, &val)) return fail(w, &p->problem_mark, NULL, "malformed YAML: %s", p->problem);
        int rc = 0;
        if (!prefix[0] && tws_pipelines_section(path)) {
            rc = skip_value(w, p, &val); /* pipeline/pconfig.c reads it */
        } else if (val.type == YAML_SCALAR_EVENT) {
            rc = set_value(w, path, &val, &key_mark);
        } else if (val.type == YAML_MAPPING_START_EVENT && (depth < 2 || strcmp(path, "storage.s3") == 0)) {
            rc = walk_mapping(w, p, path, depth + 1);
        } else if (val.type == YAML_SEQUENCE_START_EVENT && strcmp(path, "spanmetrics.buckets") == 0) {
            rc = w->seen_buckets ? fail(w, &key_mark, path, "%sgiven twice", "") : walk_buckets(w, p, path, &key_mark);
            w->seen_buckets = true;
        } else if (val.type == YAML_SEQUENCE_START_EVENT && strcmp(path, "spanmetrics.dimensions") == 0) {
            rc = w->seen_dims ? fail(w, &key_mark, path, "%sgiven twice", "") : walk_dimensions(w, p, path);
            w->seen_dims = true;
        } else if (val.type == YAML_SEQUENCE_START_EVENT && strcmp(path, "logs.index_labels") == 0) {
            rc = w->seen_index ? fail(w, &key_mark, path, "%sgiven twice", "") : walk_index_labels(w, p, path, &key_mark);
            w->seen_index = true;
        } else if (val.type == YAML_ALIAS_EVENT) {
            rc = fail(w, &key_mark, path, "%saliases are not supported", "");
        } else {
            rc = fail(w, &key_mark, path, "%sexpected a value or a section", "");
        }
        yaml_event_delete(&val);
        if (rc) return rc;
    }
}

static int parse(walker *w, yaml_parser_t *p) {
    yaml_event_t ev;
    bool in_doc = false;
    for (;;) {
        if (!yaml_parser_parse(p, &ev)) return fail(w, &p->problem_mark, NULL, "malformed YAML: %s", p->problem);
        yaml_event_type_t t = ev.type;
        yaml_mark_t m = ev.start_mark;
        yaml_event_delete(&ev);
        switch (t) {
        case YAML_STREAM_START_EVENT: break;
        case YAML_DOCUMENT_START_EVENT:
            if (in_doc) return fail(w, &m, NULL, "%sonly one YAML document is allowed", "");
            in_doc = true;
            break;
        case YAML_MAPPING_START_EVENT:
            if (walk_mapping(w, p, "", 1)) return -1;
            break;
        case YAML_DOCUMENT_END_EVENT: break;
        case YAML_STREAM_END_EVENT: return 0;
        case YAML_SCALAR_EVENT:
            /* An empty file is a single null scalar: nothing to set. */
            break;
        default: return fail(w, &m, NULL, "%sthe top level must be a mapping of settings", "");
        }
    }
}

/* receivers.otlp.protocols: the listeners (a protocol not listed is off);
 * an endpoint there and the same listener in the otlp section must agree. */
static int apply_receivers(walker *w, const tws_pipelines *pl) {
    static const struct {
        const char *key;
        size_t off;
    } l[2] = {{"otlp.http_listen", offsetof(tws_config, otlp_http_listen)},
              {"otlp.grpc_listen", offsetof(tws_config, otlp_grpc_listen)}};
    for (int k = 0; k < 2; k++) {
        bool on = k ? pl->otlp_grpc : pl->otlp_http;
        const char *ep = k ? pl->otlp_grpc_endpoint : pl->otlp_http_endpoint;
        char *dst = (char *)&w->next + l[k].off;
        size_t i = 0;
        while (strcmp(settings[i].path, l[k].key)) i++;
        if (w->seen[i] && (!on || (ep[0] && strcmp(ep, dst)))) {
            snprintf(w->err, w->err_len, "%s: %s and receivers.otlp.protocols.%s disagree: say it once", w->file,
                     l[k].key, k ? "grpc" : "http");
            return -1;
        }
        if (!on) dst[0] = '\0';
        else if (ep[0]) snprintf(dst, sizeof w->next.otlp_http_listen, "%s", ep);
    }
    return 0;
}

int tws_config_load_yaml(tws_config *c, const char *file, const char *text, size_t len, char *err, size_t err_len) {
    walker w = {.file = file, .err = err, .err_len = err_len, .next = *c};
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        snprintf(err, err_len, "%s: out of memory", file);
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = parse(&w, &p);
    yaml_parser_delete(&p);
    tws_pipelines *pl = NULL;
    if (rc == 0) rc = tws_pipelines_load(file, text, len, &pl, err, err_len);
    if (rc == 0 && pl) rc = apply_receivers(&w, pl);
    if (rc != 0) {
        tws_pipelines_free(pl);
        return rc;
    }
    if (pl) {
        tws_pipelines_free(c->pipelines); /* a second --config replaces the first's pipelines */
        w.next.pipelines = pl;
    }
    *c = w.next;
    return 0;
}

int tws_config_load_file(tws_config *c, const char *file, char *err, size_t err_len) {
    FILE *f = fopen(file, "rb");
    if (!f) {
        snprintf(err, err_len, "--config %s: %s", file, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            if (cap > (1u << 20)) { /* a configuration is small; refuse anything huge */
                fclose(f);
                free(text);
                snprintf(err, err_len, "--config %s: larger than 1 MiB", file);
                return -1;
            }
            char *t = realloc(text, cap);
            if (!t) {
                fclose(f);
                free(text);
                snprintf(err, err_len, "--config %s: out of memory", file);
                return -1;
            }
            text = t;
        }
        size_t r = fread(text + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    fclose(f);
    int rc = tws_config_load_yaml(c, file, text ? text : "", len, err, err_len);
    free(text);
    return rc;
}
