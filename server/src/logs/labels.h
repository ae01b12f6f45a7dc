/*
 * labels.h — the stream labels of a log record, its log line and its
 * structured metadata, as Loki makes them from what it ingests; and the
 * label-set type the LogQL evaluator (logql/logql.h) works on.
 *
 * A tws_labels is a Prometheus label set: pairs sorted by name (bytewise),
 * names unique, and a value that is empty means the label is absent (as
 * in Prometheus: setting a label to "" removes it). The set owns copies of
 * its names and values, so it never points into the record it was built
 * from; reset keeps the memory for the next record (no malloc per record
 * once warm).
 *
 * Its canonical text is Loki's print of stream labels,
 * `{level="error", service_name="checkout"}`: values in double quotes with
 * backslash, double quote and newline escaped (the Prometheus text-format
 * escaping, red/promwrite.h); `{}` for the empty set.
 *
 * OTLP mapping (tws_resource_labels / tws_log_labels), as Loki's OTLP
 * endpoint does with its default configuration:
 *  - a resource with labels_verbatim (a Loki push stream): every attribute
 *    is a label as named, nothing added;
 *  - otherwise the resource attributes named in the index list (default
 *    TWS_LOKI_INDEX_ATTRS, Loki's default_resource_attributes_as_index_labels)
 *    become labels, their names normalized as Loki does (otlptranslator's
 *    NormalizeLabel: every character outside [A-Za-z0-9_] becomes `_`, a
 *    leading digit gets `key_` and a single leading `_` gets `key`);
 *    kvlist values flatten into name_member labels; other non-string
 *    values are written as text (tws_value_text);
 *  - service_name: from service.name when it is set and not empty; else,
 *    as Loki's discover_service_name does, the value of the first index
 *    label (in attribute order) named service, app, application, app_name,
 *    name, app_kubernetes_io_name, container, container_name,
 *    k8s_container_name, component, workload, job or k8s_job_name; else
 *    "unknown_service";
 *  - level (tws_log_labels, OTLP resources only): severity_text in ASCII
 *    lower case when set, else from severity_number (1-4 trace, 5-8 debug,
 *    9-12 info, 13-16 warn, 17-20 error, 21-24 fatal), absent when neither.
 *    Deviation: Loki keeps this as structured metadata `detected_level`
 *    (and takes the number first); here it is the stream label `level`,
 *    which is what Grafana's log-volume queries group by.
 *
 * Structured metadata (tws_log_metadata), Loki's list for OTLP records
 * (pkg/loghttp/push/otlp.go), in its order, the first of a name kept:
 *   the record's attributes (flattened and normalized as above),
 *   observed_timestamp (decimal ns, when both timestamps are set),
 *   severity_number (when not 0), severity_text (when set),
 *   dropped_attributes_count, flags (when not 0),
 *   trace_id, span_id (lowercase hex, when set),
 *   the resource attributes that are not index labels,
 *   the scope's attributes, scope_name, scope_version,
 *   scope_dropped_attributes_count (when set / not 0).
 * For a labels_verbatim resource (a Loki push) the metadata is the
 * record's attributes as pushed, nothing added. Deviation: Loki adds
 * nothing for event_name either; neither is it added here.
 */
#ifndef TWS_LOGS_LABELS_H
#define TWS_LOGS_LABELS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "otlp/model.h"

/* One pair: offsets into the set's text. */
typedef struct tws_label_ref {
    uint32_t name_off, name_len, value_off, value_len;
} tws_label_ref;

typedef struct tws_labels {
    tws_label_ref *items; /* sorted by name */
    uint32_t n, cap;
    tw__buf text; /* names and values; replaced values stay until reset */
} tws_labels;

void tws_labels_init(tws_labels *l);
void tws_labels_free(tws_labels *l);
/* Empty the set; memory is kept. */
void tws_labels_reset(tws_labels *l);

static inline tw_str tws_labels_name(const tws_labels *l, uint32_t i) {
    return (tw_str){(const char *)l->text.data + l->items[i].name_off, l->items[i].name_len};
}
static inline tw_str tws_labels_value(const tws_labels *l, uint32_t i) {
    return (tw_str){(const char *)l->text.data + l->items[i].value_off, l->items[i].value_len};
}

/* Set name to value (replacing it); an empty value removes the label.
 * 0 or TW_ENOMEM / TW_ERANGE (the text passed 4 GiB). Strings are copied. */
int tws_labels_set(tws_labels *l, const char *name, size_t name_len, const char *value, size_t value_len);
/* The same, but a name already present keeps its value. */
int tws_labels_add(tws_labels *l, const char *name, size_t name_len, const char *value, size_t value_len);
/* Remove name (absent: nothing happens). */
void tws_labels_del(tws_labels *l, const char *name, size_t name_len);
/* Index of name, or -1. */
long tws_labels_find(const tws_labels *l, const char *name, size_t name_len);
/* The value of name, or an empty string ("" is also what an absent label
 * compares as, in Prometheus and LogQL). Valid until the set changes. */
tw_str tws_labels_get(const tws_labels *l, const char *name, size_t name_len);
/* dst = src (dst's memory reused). 0 or an error. */
int tws_labels_copy(tws_labels *dst, const tws_labels *src);
bool tws_labels_equal(const tws_labels *a, const tws_labels *b);

/* Append the canonical text to out; returns out->failed. */
int tws_labels_write(const tws_labels *l, tw__buf *out);
/* The canonical text back into a set (out reset first): 0, TW_EPARSE when
 * it is not what tws_labels_write writes, TW_ENOMEM. */
int tws_labels_parse(const char *s, size_t n, tws_labels *out);

/* ---- from the log model ---------------------------------------------------------- */

/* Loki's default index labels (18 names), NULL-terminated. */
extern const char *const TWS_LOKI_INDEX_ATTRS[];

typedef struct tws_label_config {
    const char *const *index_attrs; /* NULL-terminated; NULL: TWS_LOKI_INDEX_ATTRS */
} tws_label_config;

/* Attribute name as a label name (NormalizeLabel, above), appended to out. */
void tws_label_name_normalize(const char *s, size_t n, tw__buf *out);

/* A value as text, appended to out (Loki's AsString of the OTel collector):
 * a string as is, integers in decimal, doubles in the shortest form that
 * reads back, true/false, bytes in standard base64, arrays and kvlists as
 * compact JSON (kvlist members sorted by key, as Go's encoding/json writes
 * maps; bytes inside as base64 strings, empty as null), empty as "".
 * Returns out->failed. */
int tws_value_text(const tws_value *v, tw__buf *out);

/* The labels of resource `res` of `b` (without level), into out (reset
 * first). cfg may be NULL. 0 or an error. */
int tws_resource_labels(const tws_batch *b, uint32_t res, const tws_label_config *cfg, tws_labels *out);
/* The stream labels of record `i` of b->logs: its resource's labels and,
 * for OTLP resources, level. 0 or an error. */
int tws_log_labels(const tws_batch *b, uint32_t i, const tws_label_config *cfg, tws_labels *out);
/* The structured metadata of record `i`, into out (reset first). */
int tws_log_metadata(const tws_batch *b, uint32_t i, const tws_label_config *cfg, tws_labels *out);
/* The log line of record `i`, appended to out: tws_value_text of its body
 * (a string body as is; the empty body ""). Returns out->failed. */
int tws_log_line(const tws_batch *b, uint32_t i, tw__buf *out);

#endif
