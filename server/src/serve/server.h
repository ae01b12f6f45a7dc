/*
 * server.h — run `tracewire serve` until SIGTERM/SIGINT. Returns the
 * process exit code (0 after a clean stop).
 */
#ifndef TWS_SERVER_H
#define TWS_SERVER_H

#include "serve/config.h"

int tws_serve(const tws_config *cfg);

/* The allocator settings of the server process (called by tws_serve; the
 * benchmarks call it too, so they measure what the server runs with).
 * Decoded batches are ~100 KB-1 MB and come and go thousands of times a
 * second: glibc's defaults would hand the heap top back to the kernel and
 * fault it in again each time. Free memory up to 256 MiB stays in the
 * process (the head's own cap bounds the rest). */
void tws_tune_allocator(void);

#endif
