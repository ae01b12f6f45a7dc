/*
 * scrape_check.c — is this server one of the remote_write target's scrape
 * targets? (scrape_check.h)
 *
 * Addresses are compared, not names: the target's host and the listener's
 * host are resolved (getaddrinfo, numeric port) and two endpoints are the
 * same when their ports are equal and an address of one equals an address
 * of the other, where every loopback address equals every other, and a
 * wildcard listener (0.0.0.0, ::) stands for every address of this host's
 * interfaces (getifaddrs) and loopback.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "common/json.h"
#include "serve/scrape_check.h"
#include "serve/config.h"

/* One IPv4 or IPv6 address, as 16 bytes (IPv4 mapped into IPv6). */
typedef struct addr {
    uint8_t a[16];
} addr;

static addr from_sockaddr(const struct sockaddr *sa) {
    addr r;
    memset(&r, 0, sizeof r);
    if (sa->sa_family == AF_INET) {
        r.a[10] = r.a[11] = 0xff;
        memcpy(r.a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else {
        memcpy(r.a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
    return r;
}

static bool is_mapped_v4(const addr *x) {
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(x->a, prefix, 12) == 0;
}

static bool is_loopback(const addr *x) {
    static const uint8_t v6[16] = {[15] = 1};
    return (is_mapped_v4(x) && x->a[12] == 127) || memcmp(x->a, v6, 16) == 0;
}

static bool is_wildcard(const addr *x) {
    static const uint8_t zero[16] = {0};
    return memcmp(x->a, zero, 16) == 0 || (is_mapped_v4(x) && !memcmp(x->a + 12, zero, 4));
}

static bool same(const addr *x, const addr *y) {
    return (is_loopback(x) && is_loopback(y)) || memcmp(x->a, y->a, 16) == 0;
}

#define MAX_ADDRS 64

/* Resolve `host` (no brackets) into at most MAX_ADDRS addresses. */
static size_t resolve(const char *host, addr *out) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (!*host) return 0;
    if (getaddrinfo(host, NULL, &hints, &res) != 0) return 0;
    size_t n = 0;
    for (struct addrinfo *i = res; i && n < MAX_ADDRS; i = i->ai_next)
        if (i->ai_family == AF_INET || i->ai_family == AF_INET6) out[n++] = from_sockaddr(i->ai_addr);
    freeaddrinfo(res);
    return n;
}

/* The addresses a listener on `host` answers on. */
static size_t listener_addrs(const char *host, addr *out) {
    size_t n = resolve(host, out);
    bool wild = !*host;
    for (size_t i = 0; i < n && !wild; i++) wild = is_wildcard(&out[i]);
    if (!wild) return n;
    n = 0;
    static const uint8_t lo[16] = {[15] = 1};
    memcpy(out[n++].a, lo, 16);
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0) return n;
    for (struct ifaddrs *i = ifs; i && n < MAX_ADDRS; i = i->ifa_next)
        if (i->ifa_addr && (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6))
            out[n++] = from_sockaddr(i->ifa_addr);
    freeifaddrs(ifs);
    return n;
}

int tws_scrape_url_is(const char *scrape_url, const char *listen) {
    /* http[s]://HOST[:PORT]/metrics[?...] */
    const char *p = strstr(scrape_url, "://");
    if (!p) return 0;
    bool https = (size_t)(p - scrape_url) == 5 && !strncasecmp(scrape_url, "https", 5);
    p += 3;
    const char *path = strchr(p, '/');
    if (!path || strncmp(path, "/metrics", 8) != 0 || (path[8] && path[8] != '?')) return 0;
    char hostport[128], host[128], lhost[128];
    if ((size_t)(path - p) >= sizeof hostport) return 0;
    memcpy(hostport, p, (size_t)(path - p));
    hostport[path - p] = '\0';
    uint16_t port, lport;
    if (tws_split_hostport(hostport, host, sizeof host, &port) != 0) { /* no port: the scheme's */
        if (strchr(hostport, ':') && hostport[0] != '[') return 0;
        snprintf(host, sizeof host, "%s", hostport);
        if (host[0] == '[') { /* [::1] without a port */
            size_t hl = strlen(host);
            if (hl < 3 || host[hl - 1] != ']') return 0;
            memmove(host, host + 1, hl - 2);
            host[hl - 2] = '\0';
        }
        port = https ? 443 : 80;
    }
    if (tws_split_hostport(listen, lhost, sizeof lhost, &lport) != 0 || port != lport) return 0;
    addr a[MAX_ADDRS], b[MAX_ADDRS];
    size_t na = resolve(host, a), nb = listener_addrs(lhost, b);
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (same(&a[i], &b[j])) return 1;
    return 0;
}

static size_t collect(char *p, size_t size, size_t n, void *u) {
    tw__buf *b = u;
    return tw__buf_append(b, p, size * n) == TW_OK ? size * n : 0;
}

int tws_prometheus_scrapes_us(const char *remote_write_url, const char *listen, long timeout_ms, char *detail,
                              size_t detail_len) {
    static const char suffix[] = "/api/v1/write";
    size_t ul = strlen(remote_write_url), sl = sizeof suffix - 1;
    if (ul <= sl || ul - sl > 1024 || strcmp(remote_write_url + ul - sl, suffix) != 0) {
        snprintf(detail, detail_len, "%s does not end in %s, so its scrape targets cannot be asked for",
                 remote_write_url, suffix);
        return TW_EINVAL;
    }
    char url[1100];
    snprintf(url, sizeof url, "%.*s/api/v1/targets?state=active", (int)(ul - sl), remote_write_url);
    tw__buf body;
    tw__buf_init(&body, 64u << 20);
    int rc = TW_EIO;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(detail, detail_len, "out of memory");
        tw__buf_free(&body);
        return TW_ENOMEM;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cr = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (cr != CURLE_OK || code != 200) {
        if (cr != CURLE_OK) snprintf(detail, detail_len, "%s: %s", url, curl_easy_strerror(cr));
        else snprintf(detail, detail_len, "%s answered HTTP %ld", url, code);
        goto out;
    }
    tw_str doc = {(const char *)body.data, body.len}, data, targets, t, su, job;
    if (tw__json_get(doc, "data", &data) || tw__json_get(data, "activeTargets", &targets)) {
        snprintf(detail, detail_len, "%s: not a Prometheus targets answer (no data.activeTargets)", url);
        rc = TW_EPARSE;
        goto out;
    }
    rc = 0;
    tw__buf s;
    tw__buf_init(&s, 4096);
    for (size_t i = 0; rc == 0 && tw__json_at(targets, i, &t) == TW_OK; i++) {
        s.len = 0;
        if (tw__json_get(t, "scrapeUrl", &su) || tw__json_unquote(su, &s) || tw__buf_append(&s, "", 1)) continue;
        if (!tws_scrape_url_is((const char *)s.data, listen)) continue;
        char job_name[128] = "?";
        tw__buf jb;
        tw__buf_init(&jb, sizeof job_name - 1);
        if (!tw__json_get(t, "scrapePool", &job) && !tw__json_unquote(job, &jb) && jb.len)
            snprintf(job_name, sizeof job_name, "%.*s", (int)jb.len, (const char *)jb.data);
        tw__buf_free(&jb);
        snprintf(detail, detail_len, "its scrape job \"%s\" scrapes %s", job_name, (const char *)s.data);
        rc = 1;
    }
    tw__buf_free(&s);
out:
    tw__buf_free(&body);
    return rc;
}
