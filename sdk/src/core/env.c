/*
 * env.c — OTEL_* variable parsing with warnings for bad values.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/env.h"

void tw__warn(const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    fprintf(stderr, "tracewire: %s\n", line);
}

const char *tw__env(const char *name) {
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}

void tw__trim(const char **s, size_t *n) {
    while (*n && ((*s)[0] == ' ' || (*s)[0] == '\t')) (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

bool tw__strieq_n(const char *s, size_t n, const char *lit) {
    size_t l = strlen(lit);
    if (l != n) return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)s[i]) != tolower((unsigned char)lit[i])) return false;
    return true;
}

uint64_t tw__env_uint(const char *name, uint64_t def) {
    const char *v = tw__env(name);
    if (!v) return def;
    const char *s = v;
    size_t n = strlen(s);
    tw__trim(&s, &n);
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (n == 0 || *s == '-' || errno || end != s + n) {
        tw__warn("%s=\"%s\" is not a non-negative integer; using %llu", name, v,
                 (unsigned long long)def);
        return def;
    }
    return x;
}

uint32_t tw__env_limit(const char *specific, const char *general, uint32_t def) {
    uint64_t v = tw__env_uint(general, def);
    v = tw__env_uint(specific, v);
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

double tw__env_double(const char *name, double def) {
    const char *v = tw__env(name);
    if (!v) return def;
    const char *s = v;
    size_t n = strlen(s);
    tw__trim(&s, &n);
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (n == 0 || errno || end != s + n || x != x) {
        tw__warn("%s=\"%s\" is not a number; using %g", name, v, def);
        return def;
    }
    return x;
}

bool tw__env_bool(const char *name, bool def) {
    const char *v = tw__env(name);
    if (!v) return def;
    size_t n = strlen(v);
    const char *s = v;
    tw__trim(&s, &n);
    if (tw__strieq_n(s, n, "true")) return true;
    if (tw__strieq_n(s, n, "false")) return false;
    tw__warn("%s=\"%s\" is not true or false; using %s", name, v, def ? "true" : "false");
    return def;
}
