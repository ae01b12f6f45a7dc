/*
 * pconfig.c — loading the Collector-shaped sections (see pconfig.h) with
 * libyaml's document loader: the whole tree is in memory, each node with
 * its line and column, so every message can point at the key it is about.
 *
 * Order: the tree is checked for aliases first (a node reached twice is an
 * alias: refused, which also rules out alias bombs); then components are
 * declared section by section (each processor compiled as it is read),
 * then pipelines are read and their references resolved, then the graph is
 * checked as a whole (connectors used on both sides, no cycles, span
 * metrics before tail sampling).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "pipeline/pconfig.h"
#include "serve/config.h"

typedef struct decl {
    char id[96];
    const char *type; /* static name of the component type */
    const yaml_node_t *node;
    bool used_in, used_out; /* as a pipeline's receiver / exporter */
    uint32_t proc;          /* processors: index in tws_pipelines.procs; exporters: in .exps */
} decl;

typedef struct ctx {
    yaml_document_t doc;
    const char *file;
    char *err;
    size_t err_len;
    tws_pipelines *p;
    decl *recv, *exp, *conn, *proc;
    uint32_t n_recv, n_exp, n_conn, n_proc;
    uint8_t *seen; /* per node: reached once (alias check) */
    const yaml_node_t **pipe_nodes; /* per pipeline: its mapping */
} ctx;

/* ---- the tree -------------------------------------------------------------------------------- */

static yaml_node_t *node_at(ctx *c, int i) { return yaml_document_get_node(&c->doc, i); }

static int fail(ctx *c, const yaml_node_t *n, const char *path, const char *fmt, ...) {
    char what[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    size_t line = n ? n->start_mark.line + 1 : 1, col = n ? n->start_mark.column + 1 : 1;
    if (path && path[0]) snprintf(c->err, c->err_len, "%s:%zu:%zu: key '%s': %s", c->file, line, col, path, what);
    else snprintf(c->err, c->err_len, "%s:%zu:%zu: %s", c->file, line, col, what);
    return -1;
}

static void warn(ctx *c, const yaml_node_t *n, const char *fmt, ...) {
    tws_pipelines *p = c->p;
    if (p->n_warnings == TWS_PCONFIG_MAX_WARNINGS) return;
    char what[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->warnings[p->n_warnings++], sizeof p->warnings[0], "%s:%zu: %s", c->file, n->start_mark.line + 1, what);
}

static const char *scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* "key:" with nothing after it, "~", "null". */
static bool is_null(const yaml_node_t *n) {
    const char *s = scalar(n);
    return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (!*s || !strcmp(s, "~") || !strcmp(s, "null"));
}

static int check_aliases(ctx *c, int i, int depth) {
    yaml_node_t *n = node_at(c, i);
    if (!n) return 0;
    if (depth > 64) return fail(c, n, NULL, "nested more than 64 levels deep");
    size_t k = (size_t)(i - 1);
    if (c->seen[k]) return fail(c, n, NULL, "this value is used again through a YAML alias (*name): aliases are not supported; write it out");
    c->seen[k] = 1;
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
            if (check_aliases(c, *it, depth + 1)) return -1;
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++)
            if (check_aliases(c, pr->key, depth + 1) || check_aliases(c, pr->value, depth + 1)) return -1;
    }
    return 0;
}

/* A mapping (or null: an empty one) whose keys are all in `allowed`
 * (NULL-terminated; NULL list: any key), each once. */
static int check_map(ctx *c, const yaml_node_t *n, const char *path, const char *const *allowed) {
    if (!n || is_null(n)) return 0; /* absent or empty */
    if (n->type != YAML_MAPPING_NODE) return fail(c, n, path, "expected a mapping");
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = node_at(c, pr->key);
        const char *k = scalar(kn);
        if (!k) return fail(c, kn, path, "a key must be a plain string");
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < pr; q++)
            if (!strcmp(scalar(node_at(c, q->key)), k)) return fail(c, kn, path, "'%.60s' is given twice", k);
        if (!allowed) continue;
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], k)) i++;
        if (allowed[i]) continue;
        char list[200] = "";
        for (size_t j = 0; allowed[j]; j++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", allowed[j]);
        return fail(c, kn, path, "unknown key '%.60s' (expected one of: %s)", k, list);
    }
    return 0;
}

static yaml_node_t *get(ctx *c, const yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        const char *k = scalar(node_at(c, pr->key));
        if (k && !strcmp(k, key)) return node_at(c, pr->value);
    }
    return NULL;
}

/* "path.key" (or "key" at the top), cut to fit `cap`. */
static void subpath(char *out, size_t cap, const char *path, const char *key) {
    size_t n = 0;
    for (const char *s = path; *s && n + 1 < cap; s++) out[n++] = *s;
    if (path[0] && n + 1 < cap) out[n++] = '.';
    for (const char *s = key; *s && n + 1 < cap; s++) out[n++] = *s;
    out[n] = '\0';
}

/* The scalar at map[key] as text (NULL when absent); a non-scalar is an error. */
static int get_text(ctx *c, const yaml_node_t *map, const char *path, const char *key, const char **out) {
    yaml_node_t *v = get(c, map, key);
    *out = NULL;
    if (!v) return 0;
    char p[256];
    subpath(p, sizeof p, path, key);
    if (!scalar(v)) return fail(c, v, p, "expected a value, not a list or mapping");
    *out = scalar(v);
    return 0;
}

static int get_str(ctx *c, const yaml_node_t *map, const char *path, const char *key, char **out) {
    const char *s;
    if (get_text(c, map, path, key, &s)) return -1;
    if (!s) return 0;
    free(*out);
    *out = strdup(s);
    return *out ? 0 : fail(c, map, path, "out of memory");
}

static int get_bool(ctx *c, const yaml_node_t *map, const char *path, const char *key, bool *out) {
    const char *s;
    if (get_text(c, map, path, key, &s)) return -1;
    if (!s) return 0;
    char p[256];
    subpath(p, sizeof p, path, key);
    if (!strcmp(s, "true")) *out = true;
    else if (!strcmp(s, "false")) *out = false;
    else return fail(c, get(c, map, key), p, "\"%.60s\" is not true or false", s);
    return 0;
}

static int get_double(ctx *c, const yaml_node_t *map, const char *path, const char *key, double lo, double hi,
                      bool *present, double *out) {
    const char *s;
    if (get_text(c, map, path, key, &s)) return -1;
    if (present) *present = s != NULL;
    if (!s) return 0;
    char p[256], *end;
    subpath(p, sizeof p, path, key);
    errno = 0;
    double d = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(d) || d < lo || d > hi)
        return fail(c, get(c, map, key), p, "\"%.60s\" is not a number from %g to %g", s, lo, hi);
    *out = d;
    return 0;
}

static int get_int(ctx *c, const yaml_node_t *map, const char *path, const char *key, int64_t lo, int64_t hi,
                   int64_t *out) {
    const char *s;
    if (get_text(c, map, path, key, &s)) return -1;
    if (!s) return 0;
    char p[256], *end;
    subpath(p, sizeof p, path, key);
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return fail(c, get(c, map, key), p, "\"%.60s\" is not an integer from %lld to %lld", s, (long long)lo,
                    (long long)hi);
    *out = v;
    return 0;
}

static int get_duration_ms(ctx *c, const yaml_node_t *map, const char *path, const char *key, uint64_t *out) {
    const char *s;
    if (get_text(c, map, path, key, &s)) return -1;
    if (!s) return 0;
    char p[256];
    subpath(p, sizeof p, path, key);
    double ms;
    if (tws_parse_duration_ms(s, &ms) != 0 || ms > 86400e3)
        return fail(c, get(c, map, key), p, "\"%.60s\" is not a duration up to 24h (e.g. 10s, 500ms, 1m)", s);
    *out = (uint64_t)ms;
    return 0;
}

static void free_strlist(char **items, uint32_t n);

/* A list of strings at map[key]: *items (each strdup'd) and *n; on an
 * error nothing is allocated. */
static int get_strlist(ctx *c, const yaml_node_t *map, const char *path, const char *key, char ***items, uint32_t *n) {
    yaml_node_t *v = get(c, map, key);
    if (!v || is_null(v)) return 0;
    char p[256];
    subpath(p, sizeof p, path, key);
    if (v->type != YAML_SEQUENCE_NODE) return fail(c, v, p, "expected a list");
    size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    char **out = calloc(cnt ? cnt : 1, sizeof *out);
    if (!out) return fail(c, v, p, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *it = node_at(c, v->data.sequence.items.start[i]);
        int rc = 0;
        if (!scalar(it)) {
            char q[280];
            snprintf(q, sizeof q, "%s[%zu]", p, i);
            rc = fail(c, it, q, "expected a string");
        } else if (!(out[i] = strdup(scalar(it)))) {
            rc = fail(c, it, p, "out of memory");
        }
        if (rc) { /* nothing half-built is left to the caller */
            for (size_t k = 0; k < i; k++) free(out[k]);
            free(out);
            return rc;
        }
    }
    free_strlist(*items, *n); /* given twice is refused earlier; this keeps ownership simple */
    *items = out;
    *n = (uint32_t)cnt;
    return 0;
}

static void free_strlist(char **items, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) free(items[i]);
    free(items);
}

static size_t seq_len(const yaml_node_t *n) {
    return n && n->type == YAML_SEQUENCE_NODE ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) : 0;
}

/* ---- processors ---------------------------------------------------------------------------- */

static int load_redaction(ctx *c, const yaml_node_t *n, const char *path, tws_proc_def *pd) {
    static const char *const keys[] = {"allow_all_keys", "allowed_keys", "ignored_keys", "blocked_values",
                                       "allowed_values", "blocked_key_patterns", "hash_function", "hmac_key",
                                       "summary", NULL};
    if (check_map(c, n, path, keys)) return -1;
    tws_redaction_config rc = {0};
    char **lists[5] = {0};
    uint32_t lens[5] = {0};
    static const char *const list_keys[5] = {"allowed_keys", "ignored_keys", "blocked_values", "allowed_values",
                                             "blocked_key_patterns"};
    const char *hash = NULL, *summary = NULL, *hmac = NULL;
    int ret = get_bool(c, n, path, "allow_all_keys", &rc.allow_all_keys);
    for (int i = 0; !ret && i < 5; i++) ret = get_strlist(c, n, path, list_keys[i], &lists[i], &lens[i]);
    if (!ret) ret = get_text(c, n, path, "hash_function", &hash);
    if (!ret) ret = get_text(c, n, path, "summary", &summary);
    if (!ret) ret = get_text(c, n, path, "hmac_key", &hmac);
    char p[256];
    if (!ret && hash) {
        subpath(p, sizeof p, path, "hash_function");
        if (!strcmp(hash, "sha256")) rc.hash_function = TWS_REDACT_HASH_SHA256;
        else if (!strcmp(hash, "hmac-sha256")) rc.hash_function = TWS_REDACT_HASH_HMAC_SHA256;
        else if (!*hash || !strcmp(hash, "none")) rc.hash_function = TWS_REDACT_HASH_NONE;
        else ret = fail(c, get(c, n, "hash_function"), p, "\"%.40s\" is not sha256 or hmac-sha256", hash);
    }
    if (!ret && summary) {
        subpath(p, sizeof p, path, "summary");
        if (!strcmp(summary, "info")) rc.summary = TWS_REDACT_SUMMARY_INFO;
        else if (!strcmp(summary, "debug")) rc.summary = TWS_REDACT_SUMMARY_DEBUG;
        else if (!strcmp(summary, "silent")) rc.summary = TWS_REDACT_SUMMARY_SILENT;
        else ret = fail(c, get(c, n, "summary"), p, "\"%.40s\" is not info, debug or silent", summary);
    }
    if (!ret) {
        rc.allowed_keys = (tws_strlist){(const char *const *)lists[0], lens[0]};
        rc.ignored_keys = (tws_strlist){(const char *const *)lists[1], lens[1]};
        rc.blocked_values = (tws_strlist){(const char *const *)lists[2], lens[2]};
        rc.allowed_values = (tws_strlist){(const char *const *)lists[3], lens[3]};
        rc.blocked_key_patterns = (tws_strlist){(const char *const *)lists[4], lens[4]};
        rc.hmac_key = hmac;
        char msg[240];
        int r = tws_redaction_new(&rc, &pd->redaction, msg, sizeof msg);
        if (r != TW_OK) ret = fail(c, n, path, "%s", r == TW_ENOMEM ? "out of memory" : msg);
    }
    for (int i = 0; i < 5; i++) free_strlist(lists[i], lens[i]);
    return ret;
}

/* An attributes action's `value`: a plain scalar is typed as YAML types it
 * (true/false, integers, floats), a quoted one is a string. */
static int action_value(ctx *c, const yaml_node_t *v, const char *path, tws_value *out) {
    const char *s = scalar(v);
    if (!s) return fail(c, v, path, "a value is a string, number or boolean");
    *out = (tws_value){.type = TWS_STRING, .u.s = {s, strlen(s)}};
    if (v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    char *end;
    if (!strcmp(s, "true") || !strcmp(s, "false")) {
        *out = (tws_value){.type = TWS_BOOL, .u.b = s[0] == 't'};
        return 0;
    }
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (*s && !*end && !errno) {
        *out = (tws_value){.type = TWS_INT, .u.i = i};
        return 0;
    }
    double d = strtod(s, &end);
    if (*s && !*end && isfinite(d)) *out = (tws_value){.type = TWS_DOUBLE, .u.d = d};
    return 0;
}

static int load_attributes(ctx *c, const yaml_node_t *n, const char *path, tws_proc_def *pd) {
    static const char *const keys[] = {"actions", NULL};
    if (check_map(c, n, path, keys)) return -1;
    yaml_node_t *acts = get(c, n, "actions");
    char p[256];
    subpath(p, sizeof p, path, "actions");
    if (!acts || acts->type != YAML_SEQUENCE_NODE || !seq_len(acts))
        return fail(c, acts ? acts : n, p, "the attributes processor needs a list of actions");
    size_t cnt = seq_len(acts);
    tws_attr_action *a = calloc(cnt, sizeof *a);
    if (!a) return fail(c, n, path, "out of memory");
    static const char *const akeys[] = {"key", "action", "value", "from_attribute", "pattern", "converted_type", NULL};
    static const char *const names[] = {"insert", "update", "upsert", "delete", "hash", "extract", "convert"};
    int ret = 0;
    for (size_t i = 0; !ret && i < cnt; i++) {
        yaml_node_t *an = node_at(c, acts->data.sequence.items.start[i]);
        char q[280];
        snprintf(q, sizeof q, "%s[%zu]", p, i);
        if (!an || an->type != YAML_MAPPING_NODE) {
            ret = fail(c, an, q, "each action is a mapping with key and action");
            break;
        }
        const char *act = NULL, *ct = NULL;
        if ((ret = check_map(c, an, q, akeys)) || (ret = get_text(c, an, q, "action", &act)) ||
            (ret = get_text(c, an, q, "key", &a[i].key)) ||
            (ret = get_text(c, an, q, "from_attribute", &a[i].from_attribute)) ||
            (ret = get_text(c, an, q, "pattern", &a[i].pattern)) || (ret = get_text(c, an, q, "converted_type", &ct)))
            break;
        size_t k = 0;
        while (act && k < 7 && strcmp(names[k], act)) k++;
        if (!act || k == 7) {
            ret = fail(c, an, q, "action \"%.30s\" is not insert, update, upsert, delete, hash, extract or convert",
                       act ? act : "");
            break;
        }
        a[i].action = (tws_attr_action_kind)k;
        yaml_node_t *v = get(c, an, "value");
        char vp[300];
        snprintf(vp, sizeof vp, "%s.value", q);
        if (v && (ret = action_value(c, v, vp, &a[i].value))) break;
        bool sets = k <= TWS_ATTR_UPSERT;
        if (sets && !v && !a[i].from_attribute) {
            ret = fail(c, an, q, "%s needs a value or a from_attribute", act);
            break;
        }
        if (!sets && (v || a[i].from_attribute)) {
            ret = fail(c, an, q, "%s takes no value or from_attribute", act);
            break;
        }
        if (k == TWS_ATTR_CONVERT) {
            if (!ct || (strcmp(ct, "int") && strcmp(ct, "double") && strcmp(ct, "string"))) {
                ret = fail(c, an, q, "convert needs converted_type: int, double or string");
                break;
            }
            a[i].converted_type = ct[0] == 'i' ? TWS_INT : ct[0] == 'd' ? TWS_DOUBLE : TWS_STRING;
        } else if (ct) {
            ret = fail(c, an, q, "converted_type belongs to the convert action");
            break;
        }
    }
    if (!ret) {
        char msg[240];
        int r = tws_attributes_new(a, cnt, &pd->attributes, msg, sizeof msg);
        if (r != TW_OK) ret = fail(c, acts, p, "%s", r == TW_ENOMEM ? "out of memory" : msg);
    }
    free(a);
    return ret;
}

static int load_policy(ctx *c, const yaml_node_t *n, const char *path, tws_ts_policy *pol, int depth);

/* A list of sub-policies at map[key]. */
static int load_subs(ctx *c, const yaml_node_t *map, const char *path, const char *key, tws_ts_policy *pol,
                     int depth) {
    yaml_node_t *v = get(c, map, key);
    char p[256];
    subpath(p, sizeof p, path, key);
    if (!v || v->type != YAML_SEQUENCE_NODE || !seq_len(v))
        return fail(c, v ? v : map, p, "needs a list of sub-policies");
    size_t cnt = seq_len(v);
    pol->subs = calloc(cnt, sizeof *pol->subs);
    if (!pol->subs) return fail(c, v, p, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        char q[280];
        snprintf(q, sizeof q, "%s[%zu]", p, i);
        pol->n_subs = (uint32_t)i + 1;
        if (load_policy(c, node_at(c, v->data.sequence.items.start[i]), q, &pol->subs[i], depth + 1)) return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(pol->subs[j].name, pol->subs[i].name))
                return fail(c, node_at(c, v->data.sequence.items.start[i]), q, "a sub-policy named \"%.60s\" is given twice",
                            pol->subs[i].name);
    }
    return 0;
}

static int load_composite(ctx *c, const yaml_node_t *cfg, const char *path, tws_ts_policy *pol, int depth) {
    static const char *const keys[] = {"max_total_spans_per_second", "policy_order", "composite_sub_policy",
                                       "rate_allocation", NULL};
    if (check_map(c, cfg, path, keys)) return -1;
    if (get_int(c, cfg, path, "max_total_spans_per_second", 1, INT32_MAX, &pol->spans_per_second)) return -1;
    char p[256];
    if (!get(c, cfg, "max_total_spans_per_second"))
        return fail(c, cfg, path, "composite needs max_total_spans_per_second");
    if (load_subs(c, cfg, path, "composite_sub_policy", pol, depth)) return -1;
    /* policy_order: the sub-policies' names, each once, in evaluation order */
    char **order = NULL;
    uint32_t n_order = 0;
    if (get_strlist(c, cfg, path, "policy_order", &order, &n_order)) return -1;
    int ret = 0;
    subpath(p, sizeof p, path, "policy_order");
    if (order && n_order != pol->n_subs)
        ret = fail(c, get(c, cfg, "policy_order"), p, "names %u policies; composite_sub_policy has %u", n_order,
                   pol->n_subs);
    for (uint32_t i = 0; !ret && order && i < n_order; i++) {
        uint32_t j = i;
        while (j < pol->n_subs && strcmp(pol->subs[j].name, order[i])) j++;
        if (j == pol->n_subs) {
            ret = fail(c, get(c, cfg, "policy_order"), p, "\"%.60s\" is not a composite_sub_policy (or is given twice)",
                       order[i]);
            break;
        }
        tws_ts_policy t = pol->subs[i];
        pol->subs[i] = pol->subs[j];
        pol->subs[j] = t;
    }
    free_strlist(order, n_order);
    if (ret) return ret;
    yaml_node_t *ra = get(c, cfg, "rate_allocation");
    subpath(p, sizeof p, path, "rate_allocation");
    if (!ra || is_null(ra)) return 0;
    if (ra->type != YAML_SEQUENCE_NODE) return fail(c, ra, p, "expected a list of {policy, percent}");
    pol->rate_percent = malloc(pol->n_subs * sizeof *pol->rate_percent);
    if (!pol->rate_percent) return fail(c, ra, p, "out of memory");
    for (uint32_t i = 0; i < pol->n_subs; i++) pol->rate_percent[i] = -1;
    double total = 0;
    static const char *const rkeys[] = {"policy", "percent", NULL};
    for (size_t i = 0; i < seq_len(ra); i++) {
        yaml_node_t *e = node_at(c, ra->data.sequence.items.start[i]);
        char q[280];
        snprintf(q, sizeof q, "%s[%zu]", p, i);
        const char *name = NULL;
        double pct = 0;
        bool has = false;
        if (!e || e->type != YAML_MAPPING_NODE) return fail(c, e, q, "expected {policy, percent}");
        if (check_map(c, e, q, rkeys) || get_text(c, e, q, "policy", &name) ||
            get_double(c, e, q, "percent", 0, 100, &has, &pct))
            return -1;
        if (!name || !has) return fail(c, e, q, "needs policy and percent");
        uint32_t j = 0;
        while (j < pol->n_subs && strcmp(pol->subs[j].name, name)) j++;
        if (j == pol->n_subs) return fail(c, e, q, "\"%.60s\" is not a composite_sub_policy", name);
        if (pol->rate_percent[j] >= 0) return fail(c, e, q, "\"%.60s\" is given twice", name);
        pol->rate_percent[j] = pct;
        total += pct;
    }
    if (total > 100) return fail(c, ra, p, "the percentages add up to %g, more than 100", total);
    return 0;
}

static int load_policy(ctx *c, const yaml_node_t *n, const char *path, tws_ts_policy *pol, int depth) {
    if (!n || n->type != YAML_MAPPING_NODE) return fail(c, n, path, "a policy is a mapping with name and type");
    if (depth > 4) return fail(c, n, path, "policies nest at most 4 levels deep");
    const char *name = NULL, *type = NULL;
    if (get_text(c, n, path, "name", &name) || get_text(c, n, path, "type", &type)) return -1;
    if (!name || !*name) return fail(c, n, path, "a policy needs a name");
    if (!(pol->name = strdup(name))) return fail(c, n, path, "out of memory");
    if (!type) return fail(c, n, path, "policy \"%.60s\" needs a type", name);
    size_t t = 0;
    while (t < TWS_TS_N_TYPES && strcmp(tws_ts_type_names[t], type)) t++;
    if (t == TWS_TS_N_TYPES)
        return fail(c, get(c, n, "type"), path,
                    "\"%.40s\" is not a policy type (always_sample, latency, status_code, probabilistic, "
                    "string_attribute, numeric_attribute, boolean_attribute, span_count, rate_limiting, trace_state, "
                    "and, composite, drop, not)", type);
    pol->type = (tws_ts_type)t;
    /* name, type and the section named as the type */
    const char *const keys[] = {"name", "type", type, NULL};
    if (check_map(c, n, path, keys)) return -1;
    yaml_node_t *cfg = get(c, n, type);
    char p[256];
    subpath(p, sizeof p, path, type);
    if (pol->type != TWS_TS_ALWAYS_SAMPLE && (!cfg || is_null(cfg)))
        return fail(c, n, path, "policy \"%.60s\" of type %s needs its %s section", name, type, type);
    if (cfg && !is_null(cfg) && cfg->type != YAML_MAPPING_NODE) return fail(c, cfg, p, "expected a mapping");
    switch (pol->type) {
    case TWS_TS_ALWAYS_SAMPLE: return check_map(c, cfg, p, (const char *const[]){NULL});
    case TWS_TS_LATENCY: {
        static const char *const k[] = {"threshold_ms", "upper_threshold_ms", NULL};
        if (check_map(c, cfg, p, k) || get_int(c, cfg, p, "threshold_ms", 0, INT64_MAX / 2, &pol->threshold_ms) ||
            get_int(c, cfg, p, "upper_threshold_ms", 0, INT64_MAX / 2, &pol->upper_threshold_ms))
            return -1;
        if (!get(c, cfg, "threshold_ms") && !get(c, cfg, "upper_threshold_ms"))
            return fail(c, cfg, p, "needs threshold_ms (and/or upper_threshold_ms)");
        if (pol->upper_threshold_ms && pol->upper_threshold_ms < pol->threshold_ms)
            return fail(c, cfg, p, "upper_threshold_ms is below threshold_ms");
        return 0;
    }
    case TWS_TS_STATUS_CODE: {
        static const char *const k[] = {"status_codes", NULL};
        char **codes = NULL;
        uint32_t nc = 0;
        if (check_map(c, cfg, p, k) || get_strlist(c, cfg, p, "status_codes", &codes, &nc)) return -1;
        int ret = nc ? 0 : fail(c, cfg, p, "needs status_codes: a list of OK, ERROR, UNSET");
        for (uint32_t i = 0; !ret && i < nc; i++) {
            if (!strcmp(codes[i], "UNSET")) pol->status_mask |= 1;
            else if (!strcmp(codes[i], "OK")) pol->status_mask |= 2;
            else if (!strcmp(codes[i], "ERROR")) pol->status_mask |= 4;
            else ret = fail(c, get(c, cfg, "status_codes"), p, "\"%.40s\" is not OK, ERROR or UNSET", codes[i]);
        }
        free_strlist(codes, nc);
        return ret;
    }
    case TWS_TS_PROBABILISTIC: {
        static const char *const k[] = {"sampling_percentage", "hash_salt", NULL};
        bool has = false;
        if (check_map(c, cfg, p, k) || get_double(c, cfg, p, "sampling_percentage", 0, 100, &has, &pol->percentage) ||
            get_str(c, cfg, p, "hash_salt", &pol->salt))
            return -1;
        return has ? 0 : fail(c, cfg, p, "needs sampling_percentage (0 to 100)");
    }
    case TWS_TS_STRING_ATTRIBUTE: {
        static const char *const k[] = {"key", "values", "enabled_regex_matching", "cache_max_size", "invert_match", NULL};
        bool regex = false;
        int64_t cache = 0;
        if (check_map(c, cfg, p, k) || get_str(c, cfg, p, "key", &pol->key) ||
            get_strlist(c, cfg, p, "values", &pol->values, &pol->n_values) ||
            get_bool(c, cfg, p, "enabled_regex_matching", &regex) ||
            get_int(c, cfg, p, "cache_max_size", 0, INT32_MAX, &cache) || get_bool(c, cfg, p, "invert_match", &pol->invert))
            return -1;
        if (!pol->key || !pol->key[0] || !pol->n_values) return fail(c, cfg, p, "needs key and values");
        if (!regex) return 0;
        pol->regexes = calloc(pol->n_values, sizeof *pol->regexes);
        if (!pol->regexes) return fail(c, cfg, p, "out of memory");
        for (uint32_t i = 0; i < pol->n_values; i++) {
            char msg[160];
            if (!(pol->regexes[i] = tws_regex_compile(pol->values[i], strlen(pol->values[i]), TWS_RE_INVALID_UTF, msg,
                                                      sizeof msg))) {
                char q[280];
                snprintf(q, sizeof q, "%s.values[%u]", p, i);
                return fail(c, get(c, cfg, "values"), q, "not a regular expression: %s", msg);
            }
        }
        return 0;
    }
    case TWS_TS_NUMERIC_ATTRIBUTE: {
        static const char *const k[] = {"key", "min_value", "max_value", "invert_match", NULL};
        if (check_map(c, cfg, p, k) || get_str(c, cfg, p, "key", &pol->key) ||
            get_double(c, cfg, p, "min_value", -1e300, 1e300, &pol->has_min, &pol->min_value) ||
            get_double(c, cfg, p, "max_value", -1e300, 1e300, &pol->has_max, &pol->max_value) ||
            get_bool(c, cfg, p, "invert_match", &pol->invert))
            return -1;
        if (!pol->key || !pol->key[0]) return fail(c, cfg, p, "needs key");
        if (!pol->has_min && !pol->has_max) return fail(c, cfg, p, "needs min_value and/or max_value");
        if (pol->has_min && pol->has_max && pol->max_value < pol->min_value)
            return fail(c, cfg, p, "max_value is below min_value");
        return 0;
    }
    case TWS_TS_BOOLEAN_ATTRIBUTE: {
        static const char *const k[] = {"key", "value", "invert_match", NULL};
        if (check_map(c, cfg, p, k) || get_str(c, cfg, p, "key", &pol->key) ||
            get_bool(c, cfg, p, "value", &pol->bool_value) || get_bool(c, cfg, p, "invert_match", &pol->invert))
            return -1;
        if (!pol->key || !pol->key[0] || !get(c, cfg, "value")) return fail(c, cfg, p, "needs key and value");
        return 0;
    }
    case TWS_TS_SPAN_COUNT: {
        static const char *const k[] = {"min_spans", "max_spans", NULL};
        if (check_map(c, cfg, p, k) || get_int(c, cfg, p, "min_spans", 0, INT32_MAX, &pol->min_spans) ||
            get_int(c, cfg, p, "max_spans", 0, INT32_MAX, &pol->max_spans))
            return -1;
        if (!get(c, cfg, "min_spans")) return fail(c, cfg, p, "needs min_spans");
        if (pol->max_spans && pol->max_spans < pol->min_spans) return fail(c, cfg, p, "max_spans is below min_spans");
        return 0;
    }
    case TWS_TS_RATE_LIMITING: {
        static const char *const k[] = {"spans_per_second", NULL};
        if (check_map(c, cfg, p, k) || get_int(c, cfg, p, "spans_per_second", 1, INT32_MAX, &pol->spans_per_second))
            return -1;
        return get(c, cfg, "spans_per_second") ? 0 : fail(c, cfg, p, "needs spans_per_second");
    }
    case TWS_TS_TRACE_STATE: {
        static const char *const k[] = {"key", "values", NULL};
        if (check_map(c, cfg, p, k) || get_str(c, cfg, p, "key", &pol->key) ||
            get_strlist(c, cfg, p, "values", &pol->values, &pol->n_values))
            return -1;
        return pol->key && pol->key[0] && pol->n_values ? 0 : fail(c, cfg, p, "needs key and values");
    }
    case TWS_TS_AND: return check_map(c, cfg, p, (const char *const[]){"and_sub_policy", NULL}) ||
                            load_subs(c, cfg, p, "and_sub_policy", pol, depth);
    case TWS_TS_DROP: return check_map(c, cfg, p, (const char *const[]){"drop_sub_policy", NULL}) ||
                             load_subs(c, cfg, p, "drop_sub_policy", pol, depth);
    case TWS_TS_NOT: {
        if (check_map(c, cfg, p, (const char *const[]){"not_sub_policy", NULL})) return -1;
        yaml_node_t *sub = get(c, cfg, "not_sub_policy");
        char q[280];
        snprintf(q, sizeof q, "%s.not_sub_policy", p);
        if (!sub) return fail(c, cfg, p, "needs not_sub_policy");
        if (!(pol->subs = calloc(1, sizeof *pol->subs))) return fail(c, cfg, p, "out of memory");
        pol->n_subs = 1;
        return load_policy(c, sub, q, &pol->subs[0], depth + 1);
    }
    case TWS_TS_COMPOSITE: return load_composite(c, cfg, p, pol, depth);
    case TWS_TS_N_TYPES: break;
    }
    return -1;
}

static int load_tail_sampling(ctx *c, const yaml_node_t *n, const char *path, tws_proc_def *pd) {
    static const char *const keys[] = {"decision_wait", "num_traces", "expected_new_traces_per_sec",
                                       "decision_cache", "policies", NULL};
    if (check_map(c, n, path, keys)) return -1;
    tws_ts_config *t = &pd->tail;
    t->decision_wait_ms = 30000;
    int64_t num = 50000, expected = 0, sc = 0, nsc = 0;
    if (get_duration_ms(c, n, path, "decision_wait", &t->decision_wait_ms) ||
        get_int(c, n, path, "num_traces", 1, 100000000, &num) ||
        get_int(c, n, path, "expected_new_traces_per_sec", 0, INT32_MAX, &expected))
        return -1;
    t->num_traces = (uint32_t)num;
    yaml_node_t *dc = get(c, n, "decision_cache");
    char p[256];
    subpath(p, sizeof p, path, "decision_cache");
    static const char *const dkeys[] = {"sampled_cache_size", "non_sampled_cache_size", NULL};
    if (dc && (check_map(c, dc, p, dkeys) || get_int(c, dc, p, "sampled_cache_size", 1, 100000000, &sc) ||
               get_int(c, dc, p, "non_sampled_cache_size", 1, 100000000, &nsc)))
        return -1;
    t->sampled_cache = (uint32_t)sc;
    t->not_sampled_cache = (uint32_t)nsc;
    yaml_node_t *pols = get(c, n, "policies");
    subpath(p, sizeof p, path, "policies");
    if (!pols || pols->type != YAML_SEQUENCE_NODE || !seq_len(pols))
        return fail(c, pols ? pols : n, p, "tail_sampling needs a list of policies");
    size_t cnt = seq_len(pols);
    if (!(t->policies = calloc(cnt, sizeof *t->policies))) return fail(c, n, path, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        char q[280];
        snprintf(q, sizeof q, "%s[%zu]", p, i);
        t->n_policies = (uint32_t)i + 1;
        yaml_node_t *pn = node_at(c, pols->data.sequence.items.start[i]);
        if (load_policy(c, pn, q, &t->policies[i], 1)) return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(t->policies[j].name, t->policies[i].name))
                return fail(c, pn, q, "a policy named \"%.60s\" is given twice", t->policies[i].name);
    }
    return 0;
}

static int load_batch(ctx *c, const yaml_node_t *n, const char *path) {
    static const char *const keys[] = {"send_batch_size", "send_batch_max_size", "timeout", NULL};
    int64_t v;
    uint64_t ms;
    return check_map(c, n, path, keys) || get_int(c, n, path, "send_batch_size", 0, INT32_MAX, &v) ||
           get_int(c, n, path, "send_batch_max_size", 0, INT32_MAX, &v) || get_duration_ms(c, n, path, "timeout", &ms);
}

/* ---- components ---------------------------------------------------------------------------- */

/* "type" or "type/name": the type into `type`. */
static int split_id(ctx *c, const yaml_node_t *kn, const char *path, const char *id, char *type, size_t cap) {
    const char *slash = strchr(id, '/');
    size_t tl = slash ? (size_t)(slash - id) : strlen(id);
    if (!tl || tl >= cap || strlen(id) >= 96 || (slash && !slash[1]))
        return fail(c, kn, path, "\"%.60s\" is not a component id (type or type/name)", id);
    memcpy(type, id, tl);
    type[tl] = '\0';
    return 0;
}

static const char *known(const char *type, const char *const *types) {
    for (size_t i = 0; types[i]; i++)
        if (!strcmp(types[i], type)) return types[i];
    return NULL;
}

static int declare(ctx *c, const yaml_node_t *sec, const char *section, decl **out, uint32_t *n_out) {
    if (check_map(c, sec, section, NULL)) return -1;
    if (!sec || is_null(sec)) return 0;
    size_t cnt = (size_t)(sec->data.mapping.pairs.top - sec->data.mapping.pairs.start);
    decl *d = calloc(cnt ? cnt : 1, sizeof *d);
    if (!d) return fail(c, sec, section, "out of memory");
    *out = d;
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_pair_t *pr = &sec->data.mapping.pairs.start[i];
        const char *id = scalar(node_at(c, pr->key));
        char type[64], path[256];
        subpath(path, sizeof path, section, id);
        if (split_id(c, node_at(c, pr->key), section, id, type, sizeof type)) return -1;
        snprintf(d[i].id, sizeof d[i].id, "%s", id);
        d[i].node = node_at(c, pr->value);
        *n_out = (uint32_t)i + 1;
        static const char *const recv[] = {"otlp", "loki", NULL};
        static const char *const exps[] = {"tracewire", "otlphttp", "otlp", "loadbalancing", NULL};
        static const char *const conns[] = {"forward", "spanmetrics", "servicegraph", NULL};
        static const char *const procs[] = {"batch", "redaction", "attributes", "tail_sampling", NULL};
        if (!strcmp(section, "receivers")) {
            if (!(d[i].type = known(type, recv)))
                return fail(c, node_at(c, pr->key), path, "unknown receiver type '%.40s' (tracewire has otlp and loki)", type);
        } else if (!strcmp(section, "exporters")) {
            if (!(d[i].type = known(type, exps)))
                return fail(c, node_at(c, pr->key), path,
                            "unknown exporter type '%.40s' (tracewire has tracewire, otlphttp, otlp, loadbalancing)", type);
            if (!strcmp(type, "tracewire") && check_map(c, d[i].node, path, (const char *const[]){NULL})) return -1;
        } else if (!strcmp(section, "connectors")) {
            if (!(d[i].type = known(type, conns)))
                return fail(c, node_at(c, pr->key), path,
                            "unknown connector type '%.40s' (tracewire has forward, spanmetrics, servicegraph)", type);
            if (!is_null(d[i].node))
                return fail(c, d[i].node, path, "%s takes no settings here%s", type,
                            strcmp(type, "forward") ? ": they are in the top-level spanmetrics and service_graph sections"
                                                    : "");
        } else {
            if (!(d[i].type = known(type, procs)))
                return fail(c, node_at(c, pr->key), path,
                            "unknown processor type '%.40s' (tracewire has attributes, batch, redaction, tail_sampling)",
                            type);
        }
    }
    return 0;
}

/* tls: only `insecure` (true: cleartext HTTP/2; false, the default: TLS
 * with the system's certificate authorities). */
static int load_tls(ctx *c, const yaml_node_t *n, const char *path, bool *insecure) {
    yaml_node_t *t = get(c, n, "tls");
    char p[256];
    subpath(p, sizeof p, path, "tls");
    *insecure = false;
    if (!t) return 0;
    if (check_map(c, t, p, (const char *const[]){"insecure", NULL})) return -1;
    return get_bool(c, t, p, "insecure", insecure);
}

/* The settings of otlphttp and otlp (gRPC) — also loadbalancing's
 * protocol.otlphttp / protocol.otlp, without an endpoint there. An otlp
 * endpoint is host:port (TLS unless tls.insecure), http://host:port
 * (cleartext) or https://host:port. */
static int load_otlp_exporter(ctx *c, const yaml_node_t *n, const char *path, tws_exp_def *e, bool endpoint) {
    static const char *const keys[] = {"endpoint", "compression", "headers", "timeout", "retry_on_failure",
                                       "sending_queue", "tls", NULL};
    if (check_map(c, n, path, keys + (endpoint ? 0 : 1))) return -1;
    if (!e->grpc && get(c, n, "tls"))
        return fail(c, get(c, n, "tls"), path, "tls is set by the endpoint's scheme here (http:// or https://)");
    const char *ep = NULL, *comp = NULL;
    if (get_text(c, n, path, "endpoint", &ep) || get_text(c, n, path, "compression", &comp)) return -1;
    char p[256];
    bool insecure = false;
    if (e->grpc && load_tls(c, n, path, &insecure)) return -1;
    e->tls = !insecure;
    if (endpoint && e->grpc) {
        subpath(p, sizeof p, path, "endpoint");
        if (!ep) return fail(c, n, path, "otlp needs an endpoint (host:4317)");
        const char *hp = ep, *scheme = insecure ? "http://" : "https://";
        if (!strncmp(ep, "http://", 7)) hp = ep + 7, scheme = "http://";
        else if (!strncmp(ep, "https://", 8)) hp = ep + 8, scheme = "https://";
        char host[256];
        uint16_t port;
        if (strlen(hp) > 300 || tws_split_hostport(hp, host, sizeof host, &port))
            return fail(c, get(c, n, "endpoint"), p, "\"%.80s\" is not host:port (or http://host:port)", ep);
        snprintf(e->endpoint, sizeof e->endpoint, "%s%s", scheme, hp);
    } else if (endpoint) {
        subpath(p, sizeof p, path, "endpoint");
        if (!ep) return fail(c, n, path, "otlphttp needs an endpoint (http://host:4318)");
        if ((strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)) || strlen(ep) >= sizeof e->endpoint ||
            !ep[strncmp(ep, "http://", 7) ? 8 : 7])
            return fail(c, get(c, n, "endpoint"), p, "\"%.80s\" is not an http:// or https:// URL", ep);
        snprintf(e->endpoint, sizeof e->endpoint, "%s", ep);
    }
    e->gzip = true;
    if (comp) {
        subpath(p, sizeof p, path, "compression");
        if (!strcmp(comp, "none") || !*comp) e->gzip = false;
        else if (strcmp(comp, "gzip")) return fail(c, get(c, n, "compression"), p, "\"%.40s\" is not gzip or none", comp);
    }
    e->timeout_ms = 5000;
    if (get_duration_ms(c, n, path, "timeout", &e->timeout_ms)) return -1;
    yaml_node_t *h = get(c, n, "headers");
    subpath(p, sizeof p, path, "headers");
    if (h && check_map(c, h, p, NULL)) return -1;
    if (h && !is_null(h)) {
        size_t cnt = (size_t)(h->data.mapping.pairs.top - h->data.mapping.pairs.start);
        if (!(e->headers = calloc(cnt + 1, sizeof *e->headers))) return fail(c, h, p, "out of memory");
        for (size_t i = 0; i < cnt; i++) {
            const char *k = scalar(node_at(c, h->data.mapping.pairs.start[i].key));
            const char *v = scalar(node_at(c, h->data.mapping.pairs.start[i].value));
            if (!v || strpbrk(k, ": \r\n") || strpbrk(v, "\r\n"))
                return fail(c, node_at(c, h->data.mapping.pairs.start[i].key), p, "a header is name: value, on one line");
            size_t len = strlen(k) + strlen(v) + 3;
            if (!(e->headers[i] = malloc(len))) return fail(c, h, p, "out of memory");
            snprintf(e->headers[i], len, "%s: %s", k, v);
            e->n_headers = (uint32_t)i + 1;
        }
    }
    yaml_node_t *r = get(c, n, "retry_on_failure");
    subpath(p, sizeof p, path, "retry_on_failure");
    static const char *const rkeys[] = {"enabled", "initial_interval", "max_interval", "max_elapsed_time", NULL};
    bool enabled = true;
    e->initial_interval_ms = 5000, e->max_interval_ms = 30000, e->max_elapsed_ms = 0;
    if (r && (check_map(c, r, p, rkeys) || get_bool(c, r, p, "enabled", &enabled) ||
              get_duration_ms(c, r, p, "initial_interval", &e->initial_interval_ms) ||
              get_duration_ms(c, r, p, "max_interval", &e->max_interval_ms) ||
              get_duration_ms(c, r, p, "max_elapsed_time", &e->max_elapsed_ms)))
        return -1;
    if (!enabled) return fail(c, r, p, "retries cannot be turned off: a forwarded span is only dropped when the receiver refuses it");
    if (!e->initial_interval_ms) return fail(c, r, p, "initial_interval must be above 0");
    if (e->max_interval_ms < e->initial_interval_ms) return fail(c, r, p, "max_interval is below initial_interval");
    yaml_node_t *q = get(c, n, "sending_queue");
    subpath(p, sizeof p, path, "sending_queue");
    static const char *const qkeys[] = {"enabled", "max_bytes", NULL};
    bool qon = true;
    const char *mb = NULL;
    if (q && (check_map(c, q, p, qkeys) || get_bool(c, q, p, "enabled", &qon) || get_text(c, q, p, "max_bytes", &mb)))
        return -1;
    if (!qon) return fail(c, q, p, "the queue on disk cannot be turned off: it is what keeps forwarded spans across restarts");
    e->queue_bytes = 256u << 20;
    if (mb && (tws_parse_size(mb, &e->queue_bytes) || e->queue_bytes < 4096))
        return fail(c, get(c, q, "max_bytes"), p, "\"%.40s\" is not a size of at least 4KiB (e.g. 256MiB)", mb);
    return 0;
}

static int load_loadbalancing(ctx *c, const yaml_node_t *n, const char *path, tws_exp_def *e) {
    static const char *const keys[] = {"routing_key", "protocol", "resolver", NULL};
    if (check_map(c, n, path, keys)) return -1;
    const char *rk = NULL;
    char p[256];
    if (get_text(c, n, path, "routing_key", &rk)) return -1;
    subpath(p, sizeof p, path, "routing_key");
    if (rk && strcmp(rk, "traceID"))
        return fail(c, get(c, n, "routing_key"), p, "\"%.40s\": only traceID (every span of a trace to one backend)", rk);
    yaml_node_t *proto = get(c, n, "protocol");
    subpath(p, sizeof p, path, "protocol");
    if (proto && check_map(c, proto, p, (const char *const[]){"otlphttp", "otlp", NULL})) return -1;
    if (get(c, proto, "otlp") && get(c, proto, "otlphttp"))
        return fail(c, proto, p, "choose one protocol: otlp (gRPC) or otlphttp");
    e->grpc = get(c, proto, "otlp") != NULL;
    char q[280];
    snprintf(q, sizeof q, "%s.%s", p, e->grpc ? "otlp" : "otlphttp");
    if (load_otlp_exporter(c, get(c, proto, e->grpc ? "otlp" : "otlphttp"), q, e, false)) return -1;
    if (!e->grpc) e->tls = false;
    yaml_node_t *res = get(c, n, "resolver");
    subpath(p, sizeof p, path, "resolver");
    if (!res || check_map(c, res, p, (const char *const[]){"static", NULL}))
        return res ? -1 : fail(c, n, path, "loadbalancing needs resolver.static.hostnames");
    yaml_node_t *st = get(c, res, "static");
    snprintf(q, sizeof q, "%s.static", p);
    if (!st || check_map(c, st, q, (const char *const[]){"hostnames", NULL}))
        return st ? -1 : fail(c, res, p, "only the static resolver (hostnames) is available");
    if (get_strlist(c, st, q, "hostnames", &e->hosts, &e->n_hosts)) return -1;
    if (!e->n_hosts) return fail(c, st, q, "needs hostnames: a list of host:port");
    for (uint32_t i = 0; i < e->n_hosts; i++) {
        char host[128];
        uint16_t port;
        if (tws_split_hostport(e->hosts[i], host, sizeof host, &port) || strlen(e->hosts[i]) > 200)
            return fail(c, get(c, st, "hostnames"), q, "\"%.60s\" is not host:port", e->hosts[i]);
        for (uint32_t k = 0; k < i; k++)
            if (!strcmp(e->hosts[k], e->hosts[i])) return fail(c, get(c, st, "hostnames"), q, "\"%.60s\" is listed twice", e->hosts[i]);
    }
    return 0;
}

static int load_exporters(ctx *c) {
    tws_pipelines *p = c->p;
    p->exps = calloc(c->n_exp ? c->n_exp : 1, sizeof *p->exps);
    if (!p->exps) return fail(c, NULL, NULL, "out of memory");
    for (uint32_t i = 0; i < c->n_exp; i++) {
        decl *d = &c->exp[i];
        if (!strcmp(d->type, "tracewire")) continue;
        tws_exp_def *e = &p->exps[p->n_exps];
        d->proc = p->n_exps++;
        snprintf(e->id, sizeof e->id, "%s", d->id);
        char path[256];
        subpath(path, sizeof path, "exporters", d->id);
        bool lb = !strcmp(d->type, "loadbalancing");
        e->kind = lb ? TWS_EXP_LOADBALANCING : TWS_EXP_OTLPHTTP;
        e->grpc = !strcmp(d->type, "otlp");
        if (lb ? load_loadbalancing(c, d->node, path, e) : load_otlp_exporter(c, d->node, path, e, true)) return -1;
    }
    return 0;
}

static int load_receivers(ctx *c) {
    tws_pipelines *p = c->p;
    bool otlp = false, loki = false;
    for (uint32_t i = 0; i < c->n_recv; i++) {
        decl *d = &c->recv[i];
        char path[256];
        subpath(path, sizeof path, "receivers", d->id);
        bool is_otlp = !strcmp(d->type, "otlp");
        if (is_otlp ? otlp : loki)
            return fail(c, d->node, path, "only one %s receiver: it owns the server's %s", d->type,
                        is_otlp ? "OTLP ports" : "Loki push API");
        if (is_otlp) otlp = true;
        else loki = true;
        if (check_map(c, d->node, path, (const char *const[]){"protocols", NULL})) return -1;
        yaml_node_t *pr = get(c, d->node, "protocols");
        char pp[280];
        snprintf(pp, sizeof pp, "%s.protocols", path);
        if (!is_otlp) {
            if (pr && (check_map(c, pr, pp, (const char *const[]){"http", NULL}) ||
                       check_map(c, get(c, pr, "http"), pp, (const char *const[]){NULL})))
                return -1;
            p->loki = true; /* served on query.http_listen */
            continue;
        }
        if (!pr || is_null(pr)) return fail(c, d->node, path, "the otlp receiver needs protocols: grpc and/or http");
        if (check_map(c, pr, pp, (const char *const[]){"grpc", "http", NULL})) return -1;
        for (int k = 0; k < 2; k++) {
            const char *proto = k ? "http" : "grpc";
            yaml_node_t *pn = get(c, pr, proto);
            if (!pn) continue;
            char q[300];
            snprintf(q, sizeof q, "%s.%s", pp, proto);
            const char *ep = NULL;
            if (check_map(c, pn, q, (const char *const[]){"endpoint", NULL}) || get_text(c, pn, q, "endpoint", &ep))
                return -1;
            char host[128];
            uint16_t port;
            if (ep && (strlen(ep) >= sizeof p->otlp_http_endpoint || tws_split_hostport(ep, host, sizeof host, &port)))
                return fail(c, get(c, pn, "endpoint"), q, "\"%.60s\" is not HOST:PORT", ep);
            snprintf(k ? p->otlp_http_endpoint : p->otlp_grpc_endpoint, sizeof p->otlp_http_endpoint, "%s", ep ? ep : "");
            *(k ? &p->otlp_http : &p->otlp_grpc) = true;
        }
        if (!p->otlp_http && !p->otlp_grpc) return fail(c, pr, pp, "list grpc and/or http");
    }
    return 0;
}

static int load_processors(ctx *c) {
    tws_pipelines *p = c->p;
    p->procs = calloc(c->n_proc ? c->n_proc : 1, sizeof *p->procs);
    if (!p->procs) return fail(c, NULL, NULL, "out of memory");
    for (uint32_t i = 0; i < c->n_proc; i++) {
        decl *d = &c->proc[i];
        tws_proc_def *pd = &p->procs[i];
        p->n_procs = i + 1;
        d->proc = i;
        snprintf(pd->id, sizeof pd->id, "%s", d->id);
        char path[256];
        subpath(path, sizeof path, "processors", d->id);
        int rc;
        if (!strcmp(d->type, "redaction")) pd->kind = TWS_PROC_REDACTION, rc = load_redaction(c, d->node, path, pd);
        else if (!strcmp(d->type, "attributes")) pd->kind = TWS_PROC_ATTRIBUTES, rc = load_attributes(c, d->node, path, pd);
        else if (!strcmp(d->type, "tail_sampling"))
            pd->kind = TWS_PROC_TAIL_SAMPLING, rc = load_tail_sampling(c, d->node, path, pd);
        else pd->kind = TWS_PROC_BATCH, rc = load_batch(c, d->node, path);
        if (rc) return -1;
    }
    return 0;
}

/* ---- pipelines ---------------------------------------------------------------------------- */

static decl *find_decl(decl *d, uint32_t n, const char *id) {
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(d[i].id, id)) return &d[i];
    return NULL;
}

static int add_sink(tws_pipe_def *pd, tws_sink_kind kind, uint32_t pipe) {
    for (uint32_t i = 0; i < pd->n_sinks; i++)
        if (pd->sinks[i].kind == kind && pd->sinks[i].pipe == pipe) return 0;
    tws_pipe_sink *s = realloc(pd->sinks, (pd->n_sinks + 1) * sizeof *s);
    if (!s) return -1;
    pd->sinks = s;
    s[pd->n_sinks++] = (tws_pipe_sink){kind, pipe};
    return 0;
}

/* The list of ids at pipeline[key] (each a scalar), for iteration. */
static int id_list(ctx *c, const yaml_node_t *pn, const char *path, const char *key, bool required,
                   const yaml_node_t **list) {
    yaml_node_t *v = get(c, pn, key);
    char p[256];
    subpath(p, sizeof p, path, key);
    *list = NULL;
    if ((!v || is_null(v)) && !required) return 0;
    if (!v || v->type != YAML_SEQUENCE_NODE || !seq_len(v))
        return fail(c, v ? v : pn, p, "a pipeline needs a list of %s", key);
    for (size_t i = 0; i < seq_len(v); i++) {
        yaml_node_t *it = node_at(c, v->data.sequence.items.start[i]);
        if (!scalar(it)) return fail(c, it, p, "expected a component id");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(scalar(node_at(c, v->data.sequence.items.start[j])), scalar(it)))
                return fail(c, it, p, "'%.60s' is listed twice", scalar(it));
    }
    *list = v;
    return 0;
}

static const char *item(ctx *c, const yaml_node_t *list, size_t i, const yaml_node_t **node) {
    *node = node_at(c, list->data.sequence.items.start[i]);
    return scalar(*node);
}

static int load_pipes(ctx *c, const yaml_node_t *svc) {
    tws_pipelines *p = c->p;
    if (check_map(c, svc, "service", (const char *const[]){"pipelines", NULL})) return -1;
    yaml_node_t *pl = get(c, svc, "pipelines");
    if (!pl || is_null(pl) || (pl->type == YAML_MAPPING_NODE && pl->data.mapping.pairs.top == pl->data.mapping.pairs.start))
        return fail(c, svc, "service.pipelines", "at least one pipeline is needed");
    if (check_map(c, pl, "service.pipelines", NULL)) return -1;
    size_t cnt = (size_t)(pl->data.mapping.pairs.top - pl->data.mapping.pairs.start);
    p->pipes = calloc(cnt, sizeof *p->pipes);
    if (!p->pipes) return fail(c, pl, "service.pipelines", "out of memory");
    p->n_pipes = (uint32_t)cnt;
    if (!(c->pipe_nodes = calloc(cnt, sizeof *c->pipe_nodes))) return fail(c, pl, "service.pipelines", "out of memory");
    /* ids and signals first, so that connectors can name any pipeline */
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *kn = node_at(c, pl->data.mapping.pairs.start[i].key);
        const char *id = scalar(kn);
        char type[64];
        if (split_id(c, kn, "service.pipelines", id, type, sizeof type)) return -1;
        if (!strcmp(type, "metrics"))
            return fail(c, kn, "service.pipelines", "metrics pipelines are not supported: the spanmetrics and "
                        "servicegraph connectors' series are served on /metrics and pushed by spanmetrics.remote_write_url");
        if (strcmp(type, "traces") && strcmp(type, "logs"))
            return fail(c, kn, "service.pipelines", "\"%.60s\": a pipeline is traces[/name] or logs[/name]", id);
        snprintf(p->pipes[i].id, sizeof p->pipes[i].id, "%s", id);
        p->pipes[i].signal = type[0] == 't' ? TWS_PIPE_TRACES : TWS_PIPE_LOGS;
    }
    for (size_t i = 0; i < cnt; i++) {
        tws_pipe_def *pd = &p->pipes[i];
        yaml_node_t *pn = node_at(c, pl->data.mapping.pairs.start[i].value);
        c->pipe_nodes[i] = pn;
        char path[256];
        subpath(path, sizeof path, "service.pipelines", pd->id);
        bool traces = pd->signal == TWS_PIPE_TRACES;
        const yaml_node_t *recv, *procs, *exps, *it;
        if (check_map(c, pn, path, (const char *const[]){"receivers", "processors", "exporters", NULL}) ||
            id_list(c, pn, path, "receivers", true, &recv) || id_list(c, pn, path, "processors", false, &procs) ||
            id_list(c, pn, path, "exporters", true, &exps))
            return -1;
        char rp[280], pp[280], ep[280];
        snprintf(rp, sizeof rp, "%s.receivers", path);
        snprintf(pp, sizeof pp, "%s.processors", path);
        snprintf(ep, sizeof ep, "%s.exporters", path);
        for (size_t k = 0; k < seq_len(recv); k++) {
            const char *id = item(c, recv, k, &it);
            decl *d = find_decl(c->recv, c->n_recv, id);
            decl *cn = d ? NULL : find_decl(c->conn, c->n_conn, id);
            if (!d && !cn) return fail(c, it, rp, "'%.60s' is not a declared receiver or connector", id);
            if (cn && strcmp(cn->type, "forward"))
                return fail(c, it, rp, "connector '%.60s' produces metrics: a %s pipeline cannot receive from it", id,
                            traces ? "traces" : "logs");
            if (d && !strcmp(d->type, "loki") && traces)
                return fail(c, it, rp, "receiver '%.60s' receives logs, not traces", id);
            (d ? d : cn)->used_in = true;
            if (d && !strcmp(d->type, "otlp")) pd->from_otlp = true;
            if (d && !strcmp(d->type, "loki")) pd->from_loki = true;
        }
        size_t np = seq_len(procs);
        pd->procs = calloc(np ? np : 1, sizeof *pd->procs);
        if (!pd->procs) return fail(c, pn, path, "out of memory");
        bool stateful = false;
        for (size_t k = 0; k < np; k++) {
            const char *id = item(c, procs, k, &it);
            decl *d = find_decl(c->proc, c->n_proc, id);
            if (!d) return fail(c, it, pp, "'%.60s' is not a declared processor", id);
            const tws_proc_def *def = &p->procs[d->proc];
            if (def->kind == TWS_PROC_TAIL_SAMPLING && !traces)
                return fail(c, it, pp, "'%.60s' samples traces: it cannot be in a logs pipeline", id);
            d->used_in = true;
            pd->procs[pd->n_procs++] = d->proc;
            if (def->kind == TWS_PROC_TAIL_SAMPLING) stateful = true;
            if (!stateful) pd->n_prefix++;
        }
        for (size_t k = 0; k < seq_len(exps); k++) {
            const char *id = item(c, exps, k, &it);
            decl *d = find_decl(c->exp, c->n_exp, id);
            decl *cn = d ? NULL : find_decl(c->conn, c->n_conn, id);
            if (!d && !cn) return fail(c, it, ep, "'%.60s' is not a declared exporter or connector", id);
            (d ? d : cn)->used_out = true;
            int rc = 0;
            if (d && !strcmp(d->type, "tracewire")) {
                rc = add_sink(pd, TWS_SINK_STORE, 0);
            } else if (d) {
                if (!traces && !strcmp(d->type, "loadbalancing"))
                    return fail(c, it, ep, "'%.60s' routes traces by their id: not in a logs pipeline", id);
                rc = add_sink(pd, TWS_SINK_EXPORTER, d->proc);
            } else if (!strcmp(cn->type, "forward")) {
                /* every pipeline that receives from this connector */
                bool any = false;
                for (uint32_t q = 0; q < p->n_pipes && !rc; q++) {
                    yaml_node_t *qn = node_at(c, pl->data.mapping.pairs.start[q].value);
                    yaml_node_t *qr = get(c, qn, "receivers");
                    for (size_t r = 0; r < seq_len(qr); r++) {
                        const yaml_node_t *rn;
                        if (!item(c, qr, r, &rn) || strcmp(scalar(rn), id)) continue;
                        if (p->pipes[q].signal != pd->signal)
                            return fail(c, it, ep, "connector '%.60s' joins a %s pipeline to %s pipeline '%s'", id,
                                        traces ? "traces" : "logs", traces ? "logs" : "traces", p->pipes[q].id);
                        if (q == i) return fail(c, it, ep, "pipeline '%s' forwards to itself", pd->id);
                        rc = add_sink(pd, TWS_SINK_PIPELINE, q);
                        any = true;
                    }
                }
                if (!rc && !any)
                    return fail(c, it, ep, "connector '%.60s' is an exporter here but no pipeline receives from it", id);
            } else {
                if (!traces) return fail(c, it, ep, "connector '%.60s' derives metrics from spans: not in a logs pipeline", id);
                bool sm = !strcmp(cn->type, "spanmetrics");
                rc = add_sink(pd, sm ? TWS_SINK_SPANMETRICS : TWS_SINK_SERVICEGRAPH, 0);
                if (sm) p->spanmetrics = true;
                else p->servicegraph = true;
            }
            if (rc) return fail(c, it, ep, "out of memory");
        }
        if (!pd->from_otlp && !pd->from_loki) pd->n_prefix = 0; /* fed only by connectors: everything after the WAL */
        uint32_t same = 0;
        for (uint32_t q = 0; q <= i; q++)
            same += p->pipes[q].signal == pd->signal &&
                    ((pd->from_otlp && p->pipes[q].from_otlp) || (pd->from_loki && p->pipes[q].from_loki));
        if (same > TWS_PCONFIG_MAX_ENTRY)
            return fail(c, pn, path, "more than %d %s pipelines receive from the same receiver", TWS_PCONFIG_MAX_ENTRY,
                        traces ? "traces" : "logs");
    }
    return 0;
}

/* ---- the graph as a whole ------------------------------------------------------------------ */

static bool has_tail(const tws_pipelines *p, const tws_pipe_def *pd) {
    for (uint32_t i = 0; i < pd->n_procs; i++)
        if (p->procs[pd->procs[i]].kind == TWS_PROC_TAIL_SAMPLING) return true;
    return false;
}

/* Depth-first over forward edges: a cycle is an error. */
static int visit(ctx *c, uint32_t i, uint8_t *state, const yaml_node_t *at) {
    tws_pipelines *p = c->p;
    char path[256];
    subpath(path, sizeof path, "service.pipelines", p->pipes[i].id);
    if (state[i] == 1) return fail(c, c->pipe_nodes[i], path, "the forward connectors make a cycle through '%s'", p->pipes[i].id);
    if (state[i] == 2) return 0;
    state[i] = 1;
    for (uint32_t k = 0; k < p->pipes[i].n_sinks; k++)
        if (p->pipes[i].sinks[k].kind == TWS_SINK_PIPELINE && visit(c, p->pipes[i].sinks[k].pipe, state, at)) return -1;
    state[i] = 2;
    return 0;
}

static int check_graph(ctx *c, const yaml_node_t *svc) {
    tws_pipelines *p = c->p;
    const yaml_node_t *at = get(c, svc, "pipelines");
    uint8_t *state = calloc(p->n_pipes, 1);
    bool *sampled = calloc(p->n_pipes, sizeof *sampled);
    int rc = state && sampled ? 0 : fail(c, at, "service.pipelines", "out of memory");
    for (uint32_t i = 0; !rc && i < p->n_pipes; i++) rc = visit(c, i, state, at);
    /* sampled[q]: some path reaches q after a tail_sampling (no cycles: n rounds settle it) */
    for (uint32_t round = 0; !rc && round < p->n_pipes; round++)
        for (uint32_t i = 0; i < p->n_pipes; i++)
            for (uint32_t k = 0; k < p->pipes[i].n_sinks; k++)
                if (p->pipes[i].sinks[k].kind == TWS_SINK_PIPELINE && (sampled[i] || has_tail(p, &p->pipes[i])))
                    sampled[p->pipes[i].sinks[k].pipe] = true;
    for (uint32_t i = 0; !rc && i < p->n_pipes; i++) {
        const tws_pipe_def *pd = &p->pipes[i];
        bool after = sampled[i] || has_tail(p, pd);
        char ep[256];
        snprintf(ep, sizeof ep, "service.pipelines.%s.exporters", pd->id);
        for (uint32_t k = 0; k < pd->n_sinks && !rc; k++) {
            tws_sink_kind kd = pd->sinks[k].kind;
            if (after && (kd == TWS_SINK_SPANMETRICS || kd == TWS_SINK_SERVICEGRAPH))
                rc = fail(c, get(c, c->pipe_nodes[i], "exporters"), ep,
                          "pipeline '%s' sends spans to %s after tail sampling: span metrics must see every span before "
                          "tail sampling drops any (export to the connector from the receiving pipeline and forward to "
                          "a pipeline that samples)", pd->id, kd == TWS_SINK_SPANMETRICS ? "spanmetrics" : "servicegraph");
        }
        for (uint32_t k = pd->n_prefix; k < pd->n_procs && !rc; k++)
            if (p->procs[pd->procs[k]].kind == TWS_PROC_REDACTION)
                warn(c, get(c, c->pipe_nodes[i], "processors"), "pipeline '%s': processor '%s' runs after the write-ahead log (it is not in the leading "
                            "stateless processors of a pipeline fed by a receiver): unredacted values are written to disk",
                     pd->id, p->procs[pd->procs[k]].id);
    }
    free(state);
    free(sampled);
    if (rc) return rc;
    const struct {
        decl *d;
        uint32_t n;
        const char *what;
    } sets[] = {{c->recv, c->n_recv, "receiver"}, {c->proc, c->n_proc, "processor"}, {c->exp, c->n_exp, "exporter"},
                {c->conn, c->n_conn, "connector"}};
    for (size_t s = 0; s < 4; s++)
        for (uint32_t i = 0; i < sets[s].n; i++) {
            decl *d = &sets[s].d[i];
            if (s == 3 && !strcmp(d->type, "forward") && d->used_in != d->used_out)
                return fail(c, d->node, "connectors", "connector '%s' is used only as %s: a forward connector joins "
                            "a pipeline that exports to it and one that receives from it", d->id,
                            d->used_in ? "a receiver" : "an exporter");
            if (!d->used_in && !d->used_out) warn(c, d->node, "%s '%s' is declared but no pipeline uses it", sets[s].what, d->id);
        }
    return 0;
}

/* ---- entry points ------------------------------------------------------------------------- */

static const char *const sections[] = {"receivers", "processors", "exporters", "connectors", "service", NULL};

void tws_pipelines_describe(const tws_pipelines *p, FILE *out) {
    if (!p) {
        fprintf(out, "pipelines: the default (OTLP and Loki receivers -> spanmetrics, servicegraph -> tracewire store)\n");
        return;
    }
    for (uint32_t i = 0; i < p->n_pipes; i++) {
        const tws_pipe_def *pd = &p->pipes[i];
        fprintf(out, "pipeline %s: from", pd->id);
        bool fed = false;
        if (pd->from_otlp) fprintf(out, " otlp"), fed = true;
        if (pd->from_loki) fprintf(out, "%s loki", fed ? "," : ""), fed = true;
        for (uint32_t q = 0; q < p->n_pipes; q++)
            for (uint32_t k = 0; k < p->pipes[q].n_sinks; k++)
                if (p->pipes[q].sinks[k].kind == TWS_SINK_PIPELINE && p->pipes[q].sinks[k].pipe == i)
                    fprintf(out, "%s pipeline %s", fed ? "," : "", p->pipes[q].id), fed = true;
        for (uint32_t k = 0; k < pd->n_procs; k++)
            fprintf(out, "%s %s%s", k ? "," : "; processors", p->procs[pd->procs[k]].id,
                    k < pd->n_prefix ? " (before the WAL)" : "");
        fprintf(out, "; to");
        for (uint32_t k = 0; k < pd->n_sinks; k++) {
            const tws_pipe_sink *sk = &pd->sinks[k];
            const char *what = sk->kind == TWS_SINK_STORE         ? "the tracewire store"
                               : sk->kind == TWS_SINK_EXPORTER    ? p->exps[sk->pipe].id
                               : sk->kind == TWS_SINK_SPANMETRICS ? "spanmetrics"
                               : sk->kind == TWS_SINK_SERVICEGRAPH ? "servicegraph"
                                                                  : "pipeline ";
            fprintf(out, "%s %s%s", k ? "," : "", what, sk->kind == TWS_SINK_PIPELINE ? p->pipes[sk->pipe].id : "");
        }
        fputc('\n', out);
    }
}

bool tws_pipelines_section(const char *key) { return known(key, sections) != NULL; }

void tws_pipelines_free(tws_pipelines *p) {
    if (!p) return;
    for (uint32_t i = 0; i < p->n_procs; i++) {
        tws_redaction_free(p->procs[i].redaction);
        tws_attributes_free(p->procs[i].attributes);
        for (uint32_t k = 0; k < p->procs[i].tail.n_policies; k++) tws_ts_policy_free(&p->procs[i].tail.policies[k]);
        free(p->procs[i].tail.policies);
    }
    free(p->procs);
    for (uint32_t i = 0; i < p->n_pipes; i++) {
        free(p->pipes[i].procs);
        free(p->pipes[i].sinks);
    }
    free(p->pipes);
    for (uint32_t i = 0; p->exps && i < p->n_exps; i++) {
        free_strlist(p->exps[i].hosts, p->exps[i].n_hosts);
        free_strlist(p->exps[i].headers, p->exps[i].n_headers);
    }
    free(p->exps);
    free(p);
}

static int load(ctx *c, tws_pipelines **out) {
    yaml_node_t *root = yaml_document_get_root_node(&c->doc);
    if (!root || root->type != YAML_MAPPING_NODE) return 0; /* config_yaml.c reports what is wrong with it */
    size_t n_nodes = (size_t)(c->doc.nodes.top - c->doc.nodes.start);
    if (!(c->seen = calloc(n_nodes ? n_nodes : 1, 1))) return fail(c, root, NULL, "out of memory");
    if (check_aliases(c, 1, 0)) return -1;
    yaml_node_t *sec[5];
    bool any = false;
    for (int i = 0; i < 5; i++) any |= (sec[i] = get(c, root, sections[i])) != NULL;
    if (!any) return 0;
    if (!sec[4]) return fail(c, root, NULL, "the file declares pipeline components but has no service.pipelines");
    if (!(c->p = calloc(1, sizeof *c->p))) return fail(c, root, NULL, "out of memory");
    if (declare(c, sec[0], "receivers", &c->recv, &c->n_recv) || declare(c, sec[1], "processors", &c->proc, &c->n_proc) ||
        declare(c, sec[2], "exporters", &c->exp, &c->n_exp) || declare(c, sec[3], "connectors", &c->conn, &c->n_conn) ||
        load_receivers(c) || load_processors(c) || load_exporters(c) || load_pipes(c, sec[4]) || check_graph(c, sec[4]))
        return -1;
    *out = c->p;
    c->p = NULL;
    return 0;
}

int tws_pipelines_load(const char *file, const char *text, size_t len, tws_pipelines **out, char *err,
                       size_t err_len) {
    *out = NULL;
    ctx c = {.file = file, .err = err, .err_len = err_len};
    err[0] = '\0';
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, err_len, "%s: out of memory", file);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &c.doc)) {
        snprintf(err, err_len, "%s:%zu:%zu: malformed YAML: %s", file, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        return -1;
    }
    int rc = load(&c, out);
    yaml_document_delete(&c.doc);
    yaml_parser_delete(&parser);
    tws_pipelines_free(c.p);
    free(c.recv);
    free(c.exp);
    free(c.conn);
    free(c.proc);
    free(c.seen);
    free(c.pipe_nodes);
    return rc;
}
