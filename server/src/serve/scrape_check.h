/*
 * scrape_check.h — does the Prometheus we push RED metrics to also scrape
 * them from us?
 *
 * With `spanmetrics.export: both` the same series leave the server twice:
 * scraped from /metrics and pushed by remote_write. That is right when two
 * different Prometheus servers take them, and doubles every RED number
 * when one server takes both (the scraped copy gains job/instance labels,
 * so the two copies are separate series that sum() adds up — the
 * article's "double-counted span metrics"). This asks the remote_write
 * target's own API (`GET <base>/api/v1/targets?state=active`, the base
 * being the remote_write URL without its `/api/v1/write`) whether any of
 * its scrape targets is this server's /metrics.
 */
#ifndef TWS_SCRAPE_CHECK_H
#define TWS_SCRAPE_CHECK_H

#include <stddef.h>

/*
 * `listen` is this server's query listener (HOST:PORT, where /metrics is
 * served). Returns 1 when the Prometheus behind `remote_write_url` scrapes
 * it (`detail` names the target's scrape URL and job), 0 when it does not,
 * or a negative TW_E* code when it could not tell (not reachable within
 * `timeout_ms`, not a Prometheus API, a URL not ending in /api/v1/write;
 * `detail` says which). Blocking: call it at start, before serving.
 */
int tws_prometheus_scrapes_us(const char *remote_write_url, const char *listen, long timeout_ms, char *detail,
                              size_t detail_len);

/* The scrape URL `scrape_url` ("http://127.0.0.1:3200/metrics") names the
 * listener `listen`: same port, /metrics, and the same host — where a
 * wildcard listener (0.0.0.0, [::], empty) or a loopback one matches any
 * loopback name (localhost, 127.x, [::1]). Exposed for tests. */
int tws_scrape_url_is(const char *scrape_url, const char *listen);

#endif
