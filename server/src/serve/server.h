/*
 * server.h — run `tracewire serve` until SIGTERM/SIGINT. Returns the
 * process exit code (0 after a clean stop).
 */
#ifndef TWS_SERVER_H
#define TWS_SERVER_H

#include "serve/config.h"

int tws_serve(const tws_config *cfg);

#endif
