/*
 * provider.c — the tracer provider: resource, sampler, limits, processors
 * and the tracers handed out per instrumentation scope.
 *
 * Resource precedence (lowest to highest): SDK defaults (service.name =
 * unknown_service:<process>, telemetry.sdk.*), OTEL_RESOURCE_ATTRIBUTES,
 * attributes passed in the options, OTEL_SERVICE_NAME.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/env.h"
#include "trace/trace_int.h"

/* ---- limits ----------------------------------------------------------------- */

void tw_span_limits_from_env(tw_span_limits *out) {
    out->attr_count = tw__env_limit("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT", 128);
    out->attr_value_len =
        tw__env_limit("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", 0);
    out->event_count = tw__env_limit("OTEL_SPAN_EVENT_COUNT_LIMIT", "OTEL_SPAN_EVENT_COUNT_LIMIT", 128);
    out->link_count = tw__env_limit("OTEL_SPAN_LINK_COUNT_LIMIT", "OTEL_SPAN_LINK_COUNT_LIMIT", 128);
    out->event_attr_count =
        tw__env_limit("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", 128);
    out->link_attr_count = tw__env_limit("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", 128);
}

/* ---- resource --------------------------------------------------------------- */

static int res_set(tw_provider *p, const char *key, const char *val, size_t len) {
    tw_attribute a = TW_ATTR_STRN(key, val, len);
    return tw__kvlist_set(&p->arena, &p->resource, &a, UINT32_MAX, 0);
}

/* Percent-decode s[0..n) into out (at least n bytes); -1 on a bad escape. */
static long pct_decode(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        if (i + 2 >= n) return -1;
        int hi = tw__hexval((unsigned char)s[i + 1]), lo = tw__hexval((unsigned char)s[i + 2]);
        if (hi < 0 || lo < 0) return -1;
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    return (long)o;
}

/* OTEL_RESOURCE_ATTRIBUTES: "k1=v1,k2=v2", values percent-encoded. On any
 * error the whole variable is discarded, as the specification asks. */
static int res_from_env(tw_provider *p) {
    const char *env = tw__env("OTEL_RESOURCE_ATTRIBUTES");
    if (!env) return TW_OK;
    size_t total = strlen(env);
    char *scratch = tw__malloc(2 * total + 2);
    if (!scratch) return TW_ENOMEM;
    /* First pass validates, second applies. */
    int rc = TW_OK;
    for (int apply = 0; apply < 2 && rc == TW_OK; apply++) {
        const char *s = env, *end = env + total;
        while (s < end) {
            const char *comma = memchr(s, ',', (size_t)(end - s));
            const char *item_end = comma ? comma : end;
            const char *eq = memchr(s, '=', (size_t)(item_end - s));
            const char *k = s, *v = eq ? eq + 1 : NULL;
            size_t kl = eq ? (size_t)(eq - s) : 0, vl = eq ? (size_t)(item_end - v) : 0;
            tw__trim(&k, &kl);
            if (v) tw__trim(&v, &vl);
            if (!eq || kl == 0) {
                if (item_end - s > 0 || comma) {
                    tw__warn("OTEL_RESOURCE_ATTRIBUTES: \"%.*s\" is not key=value; variable ignored",
                             (int)(item_end - s), s);
                    rc = TW_EPARSE;
                    break;
                }
            } else {
                memcpy(scratch, k, kl);
                scratch[kl] = '\0';
                long dl = pct_decode(v, vl, scratch + kl + 1);
                if (dl < 0) {
                    tw__warn("OTEL_RESOURCE_ATTRIBUTES: bad percent-encoding in the value of %s; "
                             "variable ignored", scratch);
                    rc = TW_EPARSE;
                    break;
                }
                if (apply && (rc = res_set(p, scratch, scratch + kl + 1, (size_t)dl)) != TW_OK) break;
            }
            s = item_end + 1;
        }
    }
    tw__free(scratch);
    return rc == TW_EPARSE ? TW_OK : rc;
}

static int build_resource(tw_provider *p, const tw_provider_options *o) {
    extern char *program_invocation_short_name;
    char svc[300];
    snprintf(svc, sizeof svc, "unknown_service:%s",
             program_invocation_short_name ? program_invocation_short_name : "c");
    int rc = res_set(p, "service.name", svc, strlen(svc));
    if (!rc) rc = res_set(p, "telemetry.sdk.name", "tracewire", 9);
    if (!rc) rc = res_set(p, "telemetry.sdk.language", "c", 1);
    if (!rc) rc = res_set(p, "telemetry.sdk.version", TW_VERSION_STRING, strlen(TW_VERSION_STRING));
    if (!rc) rc = res_from_env(p);
    for (size_t i = 0; !rc && o && i < o->n_resource; i++)
        rc = tw__kvlist_set(&p->arena, &p->resource, &o->resource[i], UINT32_MAX, 0);
    const char *name = tw__env("OTEL_SERVICE_NAME");
    if (!rc && name) rc = res_set(p, "service.name", name, strlen(name));
    return rc;
}

const char *tw_provider_resource_str(const tw_provider *p, const char *key) {
    if (!p || !key) return NULL;
    const tw__kv *kv = tw__kvlist_find(&p->resource, key, strlen(key));
    return kv && kv->val.type == TW_TYPE_STRING ? kv->val.u.s : NULL; /* stored NUL-terminated */
}

/* ---- provider ---------------------------------------------------------------- */

int tw_provider_new(const tw_provider_options *o, tw_provider **out) {
    if (!out) return TW_EINVAL;
    *out = NULL;
    tw_provider *p = tw__calloc(1, sizeof *p);
    if (!p) {
        if (o) tw_sampler_destroy(o->sampler);
        return TW_ENOMEM;
    }
    tw__arena_init(&p->arena, NULL, 0);
    pthread_mutex_init(&p->lock, NULL);
    if (o && o->limits) p->limits = *o->limits;
    else tw_span_limits_from_env(&p->limits);
    p->sampler = o && o->sampler ? o->sampler : tw_sampler_from_env(NULL);
    tw__sampler_fixed(p->sampler, p->fixed);
    int rc = p->sampler ? build_resource(p, o) : TW_ENOMEM;
    if (rc) {
        tw_provider_destroy(p);
        return rc;
    }
    *out = p;
    return TW_OK;
}

int tw_provider_add_processor(tw_provider *p, tw_processor *proc) {
    if (!p || !proc) return TW_EINVAL;
    tw_processor **tail = &p->processors;
    while (*tail) tail = &(*tail)->next;
    proc->next = NULL;
    *tail = proc;
    if (proc->ops->on_start) p->has_on_start = true;
    return TW_OK;
}

int tw_provider_force_flush(tw_provider *p, uint32_t timeout_ms) {
    if (!p) return TW_EINVAL;
    int rc = TW_OK;
    for (tw_processor *proc = p->processors; proc; proc = proc->next) {
        int r = proc->ops->force_flush ? proc->ops->force_flush(proc, timeout_ms) : TW_OK;
        if (r && !rc) rc = r;
    }
    return rc;
}

int tw_provider_shutdown(tw_provider *p, uint32_t timeout_ms) {
    if (!p) return TW_EINVAL;
    if (atomic_exchange(&p->shut_down, 1)) return TW_OK;
    int rc = TW_OK;
    for (tw_processor *proc = p->processors; proc; proc = proc->next) {
        int r = proc->ops->shutdown ? proc->ops->shutdown(proc, timeout_ms) : TW_OK;
        if (r && !rc) rc = r;
    }
    return rc;
}

void tw_provider_destroy(tw_provider *p) {
    if (!p) return;
    tw_provider_shutdown(p, 30000);
    tw_processor *proc = p->processors;
    while (proc) {
        tw_processor *next = proc->next;
        proc->ops->destroy(proc);
        proc = next;
    }
    tw_tracer *t = p->tracers;
    while (t) {
        tw_tracer *next = t->next;
        tw__free(t->name);
        tw__free(t->version);
        tw__free(t);
        t = next;
    }
    tw_sampler_destroy(p->sampler);
    tw__arena_release(&p->arena);
    pthread_mutex_destroy(&p->lock);
    tw__free(p);
}

/* ---- tracers ------------------------------------------------------------------ */

static _Atomic(tw_provider *) global_provider;
static struct tw_tracer noop_tracer;

void tw_provider_set_global(tw_provider *p) { atomic_store(&global_provider, p); }
tw_provider *tw_provider_global(void) { return atomic_load(&global_provider); }

static bool same(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

tw_tracer *tw_tracer_get(tw_provider *p, const char *name, const char *version) {
    if (!p) p = tw_provider_global();
    if (!p) return &noop_tracer;
    if (!name) name = "";
    pthread_mutex_lock(&p->lock);
    tw_tracer *t = p->tracers;
    while (t && !(same(t->name, name) && same(t->version, version))) t = t->next;
    if (!t && (t = tw__calloc(1, sizeof *t))) {
        t->provider = p;
        t->name = tw__strndup(name, strlen(name));
        t->version = version ? tw__strndup(version, strlen(version)) : NULL;
        if (!t->name || (version && !t->version)) {
            tw__free(t->name);
            tw__free(t->version);
            tw__free(t);
            t = NULL;
        } else {
            t->next = p->tracers;
            p->tracers = t;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return t ? t : &noop_tracer;
}

/* ---- everything from the environment ------------------------------------------- */

int tw_provider_from_env(tw_provider **out) {
    int rc = tw_provider_new(NULL, out);
    if (rc) return rc;
    if (tw__env_bool("OTEL_SDK_DISABLED", false)) { /* a no-op SDK, as the spec asks */
        atomic_store(&(*out)->shut_down, 1);
        return TW_OK;
    }
    const char *exp = tw__env("OTEL_TRACES_EXPORTER");
    if (!exp) exp = "otlp";
    tw_exporter *e = NULL;
    if (strcmp(exp, "none") == 0) return TW_OK;
    if (strcmp(exp, "console") == 0 || strcmp(exp, "logging") == 0) {
        rc = tw_exporter_console_new(stdout, &e);
    } else {
        if (strcmp(exp, "otlp") != 0)
            tw__warn("OTEL_TRACES_EXPORTER=%s is not supported (otlp, console, none); using otlp", exp);
        rc = tw_exporter_otlp_http_new(NULL, &e);
    }
    tw_processor *proc = NULL;
    if (!rc) rc = tw_processor_batch_new(e, NULL, &proc);
    if (!rc) rc = tw_provider_add_processor(*out, proc);
    if (rc) {
        tw_provider_destroy(*out);
        *out = NULL;
    }
    return rc;
}
