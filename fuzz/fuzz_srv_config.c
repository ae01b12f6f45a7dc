/*
 * fuzz_srv_config.c — the YAML configuration loader on arbitrary bytes:
 * never crashes, and either applies a configuration whose strings are
 * terminated and within their buffers, or refuses with a message and
 * leaves the configuration exactly as it was. The Collector-shaped
 * pipeline sections (pipeline/pconfig.c) are part of the same text.
 */
#include <stdlib.h>
#include <string.h>

#include "serve/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tws_config c, before;
    tws_config_defaults(&c);
    before = c;
    char err[300] = "";
    int rc = tws_config_load_yaml(&c, "fuzz.yaml", (const char *)data, size, err, sizeof err);
    if (rc != 0) {
        if (!err[0] || memcmp(&c, &before, sizeof c) != 0) abort();
        return 0;
    }
    if (!memchr(c.data_dir, 0, sizeof c.data_dir) || !memchr(c.otlp_http_listen, 0, sizeof c.otlp_http_listen) ||
        !memchr(c.http_listen, 0, sizeof c.http_listen) || !memchr(c.default_tenant, 0, sizeof c.default_tenant) ||
        !c.data_dir[0] || !c.default_tenant[0])
        abort();
    tws_config_free(&c);
    return 0;
}
