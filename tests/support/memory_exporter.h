/*
 * memory_exporter.h — an exporter for tests that keeps every exported span
 * (holding a reference) so a test can inspect exactly what would have gone
 * over the wire. Thread-safe.
 */
#ifndef TW_TEST_MEMORY_EXPORTER_H
#define TW_TEST_MEMORY_EXPORTER_H

#include "export/export_int.h"

typedef struct tw_test_mem tw_test_mem;

/* `fail_with`: 0 to succeed, or the TW_E* code every export returns. */
tw_exporter *tw_test_mem_new(tw_test_mem **handle, int fail_with);
size_t tw_test_mem_count(tw_test_mem *m);
/* Borrowed; valid until tw_test_mem_clear or the exporter's destruction. */
tw_span *tw_test_mem_get(tw_test_mem *m, size_t i);
/* The first exported span with this name, or NULL. */
tw_span *tw_test_mem_find(tw_test_mem *m, const char *name);
void tw_test_mem_clear(tw_test_mem *m);
/* Number of export calls so far. */
size_t tw_test_mem_calls(tw_test_mem *m);
/* Make each export call sleep this long first (to hold the worker busy). */
void tw_test_mem_set_delay_ms(tw_test_mem *m, unsigned ms);

#endif
