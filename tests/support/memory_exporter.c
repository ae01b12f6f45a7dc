/*
 * memory_exporter.c — see memory_exporter.h.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "memory_exporter.h"

struct tw_test_mem {
    tw_exporter base;
    pthread_mutex_t lock;
    tw_span **spans;
    size_t n, cap, calls;
    int fail_with;
    unsigned delay_ms;
};

static int mem_export(tw_exporter *e, tw_span *const *spans, size_t n, uint64_t deadline) {
    tw_test_mem *m = (tw_test_mem *)e;
    if (m->delay_ms) nanosleep(&(struct timespec){m->delay_ms / 1000, (long)(m->delay_ms % 1000) * 1000000L}, NULL);
    pthread_mutex_lock(&m->lock);
    m->calls++;
    if (m->fail_with) {
        pthread_mutex_unlock(&m->lock);
        return m->fail_with;
    }
    if (m->n + n > m->cap) {
        size_t cap = (m->n + n) * 2;
        m->spans = realloc(m->spans, cap * sizeof *m->spans);
        m->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        tw__span_ref(spans[i]);
        m->spans[m->n++] = spans[i];
    }
    pthread_mutex_unlock(&m->lock);
    atomic_fetch_add(&e->counters.spans_exported, n);
    return TW_OK;
}

static void mem_shutdown(tw_exporter *e) { (void)e; }

void tw_test_mem_clear(tw_test_mem *m) {
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++) tw__span_unref(m->spans[i]);
    m->n = 0;
    pthread_mutex_unlock(&m->lock);
}

static void mem_destroy(tw_exporter *e) {
    tw_test_mem *m = (tw_test_mem *)e;
    tw_test_mem_clear(m);
    free(m->spans);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static const tw__exporter_ops mem_ops = {
    .export_spans = mem_export, .shutdown = mem_shutdown, .destroy = mem_destroy,
};

tw_exporter *tw_test_mem_new(tw_test_mem **handle, int fail_with) {
    tw_test_mem *m = calloc(1, sizeof *m);
    m->base.ops = &mem_ops;
    m->fail_with = fail_with;
    pthread_mutex_init(&m->lock, NULL);
    *handle = m;
    return &m->base;
}

size_t tw_test_mem_count(tw_test_mem *m) {
    pthread_mutex_lock(&m->lock);
    size_t n = m->n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

size_t tw_test_mem_calls(tw_test_mem *m) {
    pthread_mutex_lock(&m->lock);
    size_t n = m->calls;
    pthread_mutex_unlock(&m->lock);
    return n;
}

tw_span *tw_test_mem_get(tw_test_mem *m, size_t i) {
    pthread_mutex_lock(&m->lock);
    tw_span *s = i < m->n ? m->spans[i] : NULL;
    pthread_mutex_unlock(&m->lock);
    return s;
}

tw_span *tw_test_mem_find(tw_test_mem *m, const char *name) {
    tw_span *found = NULL;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n && !found; i++)
        if (m->spans[i]->name_len == strlen(name) && memcmp(m->spans[i]->name, name, m->spans[i]->name_len) == 0)
            found = m->spans[i];
    pthread_mutex_unlock(&m->lock);
    return found;
}

void tw_test_mem_set_delay_ms(tw_test_mem *m, unsigned ms) { m->delay_ms = ms; }
