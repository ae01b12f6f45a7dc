/*
 * bench_srv_store.c — the block store on a realistic workload, one line per
 * figure ("name value unit"):
 *
 *   store_spans                     spans written (TW_STORE_SPANS, default 2,000,000)
 *   otlp_pb_bytes_per_span          the same spans as OTLP protobuf (uncompressed), for scale
 *   store_bytes_per_span_flush      bytes on disk per span (every data object and
 *                                   meta.json) after flushing heads of ~200k spans
 *                                   (TW_STORE_HEAD_SPANS) into level-0 blocks
 *   store_flush_spans_per_s         spans/s of tws_store_flush_now, wall time of the
 *                                   calling thread (sorting, encoding, zstd, fsync)
 *   store_flush_cpu_spans_per_s     the same over the thread's CPU time
 *   trace_by_id_l0_*_ms             trace by id over the level-0 blocks
 *   store_bytes_per_span_compacted  after tws_store_maintain (compaction until one
 *                                   block per window; the server's default of 8
 *                                   inputs per merge, TW_STORE_COMPACT_INPUTS)
 *   store_compact_spans_per_s       spans stored / wall time of that maintenance
 *   store_compact_cpu_s             process CPU time of it (the worker thread's)
 *   store_open_ms                   tws_store_open on the compacted store (warm cache)
 *   store_rss_mb                    VmRSS after that open; store_open_rss_delta_mb
 *                                   is what the open added
 *   store_index_bytes               sum over blocks of index + bloom filter sizes
 *   trace_by_id_cold_*_ms           2000 lookups (TW_STORE_LOOKUPS) of stored trace
 *                                   ids, each after posix_fadvise(DONTNEED) on every
 *                                   block file (what the device, and in a VM the
 *                                   host's cache, gives)
 *   trace_by_id_p50/p99/max_ms      the same lookups again, page cache warm
 *   trace_by_id_absent_p99_ms       lookups of random ids that are not stored
 *   bench_peak_rss_mb               VmHWM of the whole run (generator, heads, flushes,
 *                                   compaction)
 *
 * The workload: random 16-byte trace ids and 8-byte span ids (xorshift,
 * TW_STORE_SEED), traces of 1..20 spans (mean ~8.4) whose spans have a proper
 * tree (a root HTTP server span, children pointing at earlier spans: HTTP
 * client calls answered by server spans in another service, database calls,
 * internal operations, Kafka produce/consume), 12 services x 3 pods (resource:
 * service.name, service.version, host.name, k8s.pod.name,
 * telemetry.sdk.language and 6 more), 50 routes, ~2% errors with a message,
 * an exception event on ~10% of spans, start times spread over 10 minutes
 * ending ~15 minutes ago, children inside their parent's interval,
 * log-normal durations between 100 us and 2 s, ~10 semantic-convention
 * attributes per span with realistic cardinality (url.path, client.address,
 * network.peer.port, message keys and offsets are high-cardinality). Each
 * span goes to the export queue of its service instance, and a queue is
 * exported as one batch (one resource) when it holds 100 spans, like an SDK's
 * batch processor, so a trace's spans arrive in several batches and may land
 * in different heads. Nothing but the current head and at most 100k sampled
 * trace ids (TW_STORE_SAMPLE) is kept in memory, so 10M+ spans work.
 *
 * The store lives in a fresh directory under $TW_BENCH_DIR, $TMPDIR or /tmp,
 * removed at the end unless TW_BENCH_KEEP is set. Progress goes to stderr.
 */
#include <fcntl.h>
#include <ftw.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "objstore/objstore.h"
#include "serve/server.h"
#include "store/head.h"
#include "store/store.h"

#define TENANT "single-tenant"
#define BATCH_SPANS 100
#define MAX_TRACE 20
#define PODS 3
#define SPREAD_NS (600ull * 1000000000ull)

/* ---- clocks and memory ------------------------------------------------------------ */

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double process_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* A field of /proc/self/status in MB ("VmRSS", "VmHWM"). */
static double proc_status_mb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double mb = 0;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') mb = atof(line + n + 1) / 1024.0;
    if (f) fclose(f);
    return mb;
}

static void trim(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static uint64_t env_u64(const char *name, uint64_t def) {
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end;
    double d = strtod(v, &end); /* accepts 1e7 */
    return d > 0 && *end == 0 ? (uint64_t)d : def;
}

static void figure(const char *name, double v, const char *unit) {
    if (v >= 1000 || v == floor(v)) printf("%s %.0f %s\n", name, v, unit);
    else if (v >= 10) printf("%s %.1f %s\n", name, v, unit);
    else printf("%s %.3f %s\n", name, v, unit);
    fflush(stdout);
}

/* ---- random numbers ------------------------------------------------------------------ */

static uint64_t next_u64(uint64_t *s) { /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}
static uint32_t rnd_below(uint64_t *s, uint32_t n) { return (uint32_t)((next_u64(s) >> 32) * n >> 32); }
static double rnd_unit(uint64_t *s) { return (double)(next_u64(s) >> 11) * 0x1p-53; }
static bool rnd_chance(uint64_t *s, double p) { return rnd_unit(s) < p; }

static double rnd_normal(uint64_t *s) {
    double u = rnd_unit(s), v = rnd_unit(s);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Log-normal around `median_ns`, clipped to [100 us, 2 s]. */
static uint64_t rnd_duration(uint64_t *s, double median_ns, double sigma) {
    double d = median_ns * exp(sigma * rnd_normal(s));
    if (d < 100e3) d = 100e3;
    if (d > 2e9) d = 2e9;
    return (uint64_t)d;
}

/* ---- the world: services, pods, routes, statements ------------------------------------ */

enum { L_GO, L_JAVA, L_PYTHON, L_NODEJS, L_DOTNET, N_LANGS };
static const char *const LANG_NAME[N_LANGS] = {"go", "java", "python", "nodejs", "dotnet"};
static const char *const LANG_SDK_VERSION[N_LANGS] = {"1.31.0", "1.42.1", "1.27.0", "1.26.0", "1.9.0"};
/* user_agent.original of a service calling another, by the caller's language */
static const char *const LANG_UA[N_LANGS] = {"Go-http-client/1.1", "okhttp/4.12.0", "python-requests/2.32.3",
                                             "axios/1.7.7", "dotnet-httpclient/8.0"};
/* instrumentation scopes by class: http, db, app, messaging */
static const char *const SCOPE_NAME[N_LANGS][4] = {
    {"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "github.com/XSAM/otelsql", "shop/app",
     "github.com/IBM/sarama/otelsarama"},
    {"io.opentelemetry.tomcat-10.0", "io.opentelemetry.jdbc", "shop.app", "io.opentelemetry.kafka-clients-2.6"},
    {"opentelemetry.instrumentation.flask", "opentelemetry.instrumentation.psycopg2", "shop.app",
     "opentelemetry.instrumentation.kafka"},
    {"@opentelemetry/instrumentation-http", "@opentelemetry/instrumentation-pg", "shop-app",
     "@opentelemetry/instrumentation-kafkajs"},
    {"OpenTelemetry.Instrumentation.AspNetCore", "StackExchange.Redis", "Shop.App", "Confluent.Kafka"},
};
static const char *const SCOPE_VERSION[N_LANGS][4] = {
    {"0.53.0", "0.34.0", "", "0.53.0"},
    {"2.8.0-alpha", "2.8.0-alpha", "", "2.8.0-alpha"},
    {"0.48b0", "0.48b0", "", "0.48b0"},
    {"0.53.0", "0.46.0", "", "0.41.0"},
    {"1.9.0", "1.0.0-rc9.15", "", "0.1.0-alpha.2"},
};

enum { S_FRONTEND, S_GATEWAY, S_ORDERS, S_PAYMENTS, S_INVENTORY, S_USERS, S_CART, S_SHIPPING, S_NOTIFY, S_SEARCH,
       S_RECS, S_AUTH, N_SERVICES };
static const struct {
    const char *name, *version;
    int lang;
    const char *host; /* server.address of its HTTP server spans */
} SVC[N_SERVICES] = {
    {"frontend", "1.42.0", L_NODEJS, "www.shop.example.com"},
    {"api-gateway", "3.8.2", L_GO, "api.shop.example.com"},
    {"orders", "2.14.1", L_GO, "orders.shop.svc.cluster.local"},
    {"payments", "5.2.0", L_JAVA, "payments.shop.svc.cluster.local"},
    {"inventory", "1.9.7", L_JAVA, "inventory.shop.svc.cluster.local"},
    {"users", "0.33.2", L_PYTHON, "users.shop.svc.cluster.local"},
    {"cart", "4.1.0", L_DOTNET, "cart.shop.svc.cluster.local"},
    {"shipping", "2.0.3", L_GO, "shipping.shop.svc.cluster.local"},
    {"notifications", "1.5.11", L_PYTHON, "notifications.shop.svc.cluster.local"},
    {"search", "7.3.0", L_JAVA, "search.shop.svc.cluster.local"},
    {"recommendations", "0.9.4", L_PYTHON, "recommendations.shop.svc.cluster.local"},
    {"auth", "2.2.8", L_GO, "auth.shop.svc.cluster.local"},
};

typedef struct route {
    int svc;
    const char *method, *route;
} route;
static const route ROUTES[] = {
    {S_FRONTEND, "GET", "/"},
    {S_FRONTEND, "GET", "/products"},
    {S_FRONTEND, "GET", "/products/{id}"},
    {S_FRONTEND, "GET", "/cart"},
    {S_FRONTEND, "POST", "/cart/items"},
    {S_FRONTEND, "POST", "/checkout"},
    {S_FRONTEND, "GET", "/account/orders"},
    {S_FRONTEND, "GET", "/account/orders/{id}"},
    {S_FRONTEND, "GET", "/search"},
    {S_FRONTEND, "GET", "/health"},
    {S_GATEWAY, "GET", "/api/v1/products/{id}"},
    {S_GATEWAY, "GET", "/api/v1/products"},
    {S_GATEWAY, "POST", "/api/v1/orders"},
    {S_GATEWAY, "GET", "/api/v1/orders/{id}"},
    {S_GATEWAY, "GET", "/api/v1/users/{id}"},
    {S_GATEWAY, "PUT", "/api/v1/users/{id}"},
    {S_ORDERS, "GET", "/api/v1/orders/{id}"},
    {S_ORDERS, "POST", "/api/v1/orders"},
    {S_ORDERS, "GET", "/api/v1/orders"},
    {S_ORDERS, "PATCH", "/api/v1/orders/{id}"},
    {S_ORDERS, "DELETE", "/api/v1/orders/{id}"},
    {S_ORDERS, "GET", "/api/v1/orders/{id}/status"},
    {S_PAYMENTS, "POST", "/api/v1/payments"},
    {S_PAYMENTS, "GET", "/api/v1/payments/{id}"},
    {S_PAYMENTS, "POST", "/api/v1/payments/{id}/capture"},
    {S_PAYMENTS, "POST", "/api/v1/refunds"},
    {S_INVENTORY, "GET", "/api/v1/stock/{id}"},
    {S_INVENTORY, "GET", "/api/v1/stock"},
    {S_INVENTORY, "POST", "/api/v1/reservations"},
    {S_INVENTORY, "DELETE", "/api/v1/reservations/{id}"},
    {S_USERS, "GET", "/api/v1/users/{id}"},
    {S_USERS, "PUT", "/api/v1/users/{id}"},
    {S_USERS, "GET", "/api/v1/users/{id}/addresses"},
    {S_USERS, "POST", "/api/v1/sessions"},
    {S_CART, "GET", "/api/v1/carts/{id}"},
    {S_CART, "POST", "/api/v1/carts/{id}/items"},
    {S_CART, "DELETE", "/api/v1/carts/{id}/items"},
    {S_SHIPPING, "POST", "/api/v1/quotes"},
    {S_SHIPPING, "GET", "/api/v1/shipments/{id}"},
    {S_SHIPPING, "POST", "/api/v1/shipments"},
    {S_NOTIFY, "POST", "/api/v1/emails"},
    {S_NOTIFY, "POST", "/api/v1/push"},
    {S_SEARCH, "GET", "/api/v1/search"},
    {S_SEARCH, "GET", "/api/v1/suggest"},
    {S_RECS, "GET", "/api/v1/recommendations/{id}"},
    {S_RECS, "GET", "/api/v1/trending"},
    {S_AUTH, "POST", "/oauth/token"},
    {S_AUTH, "GET", "/oauth/userinfo"},
    {S_AUTH, "POST", "/api/v1/tokens/verify"},
    {S_AUTH, "GET", "/.well-known/jwks.json"},
};
#define N_ROUTES (sizeof ROUTES / sizeof ROUTES[0])

typedef struct stmt {
    int svc;
    const char *system, *name, *op, *collection, *text;
} stmt;
static const stmt STMTS[] = {
    {S_ORDERS, "postgresql", "SELECT orders", "SELECT", "orders",
     "SELECT id, customer_id, status, total_cents, created_at FROM orders WHERE id = $1"},
    {S_ORDERS, "postgresql", "INSERT orders", "INSERT", "orders",
     "INSERT INTO orders (customer_id, status, total_cents) VALUES ($1, $2, $3) RETURNING id"},
    {S_ORDERS, "postgresql", "UPDATE orders", "UPDATE", "orders",
     "UPDATE orders SET status = $1, updated_at = now() WHERE id = $2"},
    {S_ORDERS, "postgresql", "SELECT order_items", "SELECT", "order_items",
     "SELECT product_id, quantity, price_cents FROM order_items WHERE order_id = $1"},
    {S_PAYMENTS, "postgresql", "INSERT payments", "INSERT", "payments",
     "INSERT INTO payments (order_id, amount_cents, currency, provider) VALUES ($1, $2, $3, $4)"},
    {S_PAYMENTS, "postgresql", "SELECT payments", "SELECT", "payments",
     "SELECT id, status FROM payments WHERE order_id = $1 FOR UPDATE"},
    {S_PAYMENTS, "postgresql", "UPDATE payments", "UPDATE", "payments", "UPDATE payments SET status = $1 WHERE id = $2"},
    {S_INVENTORY, "mysql", "SELECT stock", "SELECT", "stock", "SELECT sku, available FROM stock WHERE sku IN (?, ?, ?)"},
    {S_INVENTORY, "mysql", "UPDATE stock", "UPDATE", "stock",
     "UPDATE stock SET available = available - ? WHERE sku = ? AND available >= ?"},
    {S_INVENTORY, "mysql", "INSERT reservations", "INSERT", "reservations",
     "INSERT INTO reservations (order_id, sku, quantity) VALUES (?, ?, ?)"},
    {S_USERS, "postgresql", "SELECT users", "SELECT", "users", "SELECT id, email, name, locale FROM users WHERE id = $1"},
    {S_USERS, "postgresql", "SELECT addresses", "SELECT", "addresses",
     "SELECT line1, city, postal_code, country FROM addresses WHERE user_id = $1"},
    {S_USERS, "postgresql", "UPDATE users", "UPDATE", "users", "UPDATE users SET last_seen_at = now() WHERE id = $1"},
    {S_CART, "redis", "HGETALL", "HGETALL", NULL, "HGETALL cart:?"},
    {S_CART, "redis", "HSET", "HSET", NULL, "HSET cart:? ? ?"},
    {S_SHIPPING, "postgresql", "SELECT shipping_rates", "SELECT", "shipping_rates",
     "SELECT zone, price_cents FROM shipping_rates WHERE country = $1 AND weight_g <= $2 ORDER BY weight_g LIMIT 1"},
    {S_SEARCH, "elasticsearch", "search products", "search", "products",
     "{\"query\":{\"multi_match\":{\"query\":\"?\",\"fields\":[\"name^3\",\"description\"]}},\"size\":20}"},
    {S_AUTH, "redis", "GET", "GET", NULL, "GET session:?"},
    {S_AUTH, "redis", "SETEX", "SETEX", NULL, "SETEX session:? 3600 ?"},
    {S_RECS, "redis", "ZREVRANGE", "ZREVRANGE", NULL, "ZREVRANGE trending:products 0 19"},
};
#define N_STMTS (sizeof STMTS / sizeof STMTS[0])

static const char *const OPS[] = {"validate_order", "compute_totals", "apply_discounts", "serialize_response",
                                  "render product_page", "cache.get", "cache.set", "auth.verify_jwt",
                                  "price.convert_currency", "fraud.score", "feature_flags.evaluate",
                                  "template.render", "json.decode", "rate_limiter.check", "build_recommendations"};
#define N_OPS (sizeof OPS / sizeof OPS[0])

/* Kafka: the topic a service produces and who consumes it. */
static const struct {
    int producer, consumer;
    const char *topic;
} TOPICS[] = {{S_ORDERS, S_INVENTORY, "orders.created"},
              {S_PAYMENTS, S_SHIPPING, "orders.paid"},
              {S_INVENTORY, S_ORDERS, "inventory.reserved"},
              {S_SHIPPING, S_NOTIFY, "shipments.dispatched"}};
#define N_TOPICS (sizeof TOPICS / sizeof TOPICS[0])

static const char *const BROWSER_UA[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "ShopApp/5.12.0 (iOS 18.1; iPhone15,2)",
    "ShopApp/5.12.0 (Android 14; Pixel 8)",
    "ShopApp/5.11.2 (Android 13; SM-A536B)",
    "curl/8.5.0",
};
#define N_BROWSER_UA (sizeof BROWSER_UA / sizeof BROWSER_UA[0]) /* + N_LANGS = 20 */

static const char *const ERROR_MSG[] = {"upstream request timeout",
                                        "connection refused",
                                        "context deadline exceeded",
                                        "context canceled",
                                        "pq: deadlock detected",
                                        "java.net.SocketTimeoutException: Read timed out",
                                        "HTTP 503 Service Unavailable",
                                        "insufficient stock for requested quantity"};
#define N_ERROR_MSG (sizeof ERROR_MSG / sizeof ERROR_MSG[0])

static const char *const EXC_TYPE[N_LANGS][3] = {
    {"*net.OpError", "context.deadlineExceededError", "*pq.Error"},
    {"java.net.SocketTimeoutException", "org.postgresql.util.PSQLException", "java.lang.IllegalStateException"},
    {"requests.exceptions.ConnectionError", "redis.exceptions.TimeoutError", "ValueError"},
    {"Error", "FetchError", "TypeError"},
    {"System.TimeoutException", "StackExchange.Redis.RedisConnectionException", "System.Net.Http.HttpRequestException"},
};

static char g_pod[N_SERVICES][PODS][64], g_pod_ip[N_SERVICES][PODS][20], g_node[N_SERVICES][PODS][64];
static char g_db_host[N_SERVICES][80], g_db_ip[N_SERVICES][20];

static void world_init(uint64_t *rng) {
    static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
    for (int s = 0; s < N_SERVICES; s++) {
        char rs[11];
        for (int k = 0; k < 10; k++) rs[k] = alnum[rnd_below(rng, sizeof alnum - 1)];
        rs[10] = 0;
        for (int p = 0; p < PODS; p++) {
            char suf[6];
            for (int k = 0; k < 5; k++) suf[k] = alnum[rnd_below(rng, sizeof alnum - 1)];
            suf[5] = 0;
            snprintf(g_pod[s][p], sizeof g_pod[s][p], "%s-%s-%s", SVC[s].name, rs, suf);
            unsigned node = rnd_below(rng, 6);
            snprintf(g_pod_ip[s][p], sizeof g_pod_ip[s][p], "10.244.%u.%u", node, 2 + rnd_below(rng, 250));
            snprintf(g_node[s][p], sizeof g_node[s][p], "ip-10-0-%u-%u.eu-west-1.compute.internal", 16 + node,
                     10 + 17 * node);
        }
        snprintf(g_db_host[s], sizeof g_db_host[s], "%s-db.cluster-c9xk2mq7a1bd.eu-west-1.rds.amazonaws.com",
                 SVC[s].name);
        snprintf(g_db_ip[s], sizeof g_db_ip[s], "10.0.3.%d", 10 + s);
    }
}

/* ---- span descriptors and traces ------------------------------------------------------ */

enum { T_HTTP_SERVER, T_HTTP_CLIENT, T_DB, T_INTERNAL, T_PRODUCER, T_CONSUMER };

/* What a span is, before it is built into a batch; attribute values that
 * need no coordination with other spans are drawn from `seed` then. */
typedef struct sdesc {
    uint8_t trace_id[16], span_id[8], parent_id[8];
    uint64_t start, end;
    uint64_t seed;
    uint32_t entity; /* the trace's business id (order, product, user) */
    uint32_t client_ip;
    uint8_t has_parent, type, svc, pod, status, remote_parent, has_child, event;
    uint8_t what;   /* HTTP: route; DB: statement; internal: operation; messaging: topic */
    uint8_t caller; /* HTTP server: calling service, 0xff from outside; client: the target */
    uint8_t caller_pod, err_msg;
} sdesc;

typedef struct sample {
    uint8_t id[16];
    uint8_t n;
} sample;

typedef struct bench {
    uint64_t rng, sample_rng;
    /* export queues, one per service instance */
    sdesc queue[N_SERVICES * PODS][BATCH_SPANS];
    uint32_t queued[N_SERVICES * PODS];
    /* sampled trace ids */
    sample *samples;
    uint64_t n_samples, cap_samples, traces_seen;
    /* the store */
    tws_store *st;
    tws_head *head;
    uint64_t head_spans, lsn;
    /* totals */
    uint64_t spans, batches, attrs, events, errors, pb_bytes;
    uint64_t kinds[6];
    double flush_wall, flush_cpu;
    uint64_t flushes;
    tw__buf enc;
} bench;

static uint64_t offset_ns(uint64_t *rng, uint64_t dur, double frac) { return (uint64_t)(rnd_unit(rng) * frac * (double)dur); }

static int pick_route(uint64_t *rng, int svc) {
    int idx[N_ROUTES], n = 0;
    for (size_t i = 0; i < N_ROUTES; i++)
        if (ROUTES[i].svc == svc) idx[n++] = (int)i;
    return idx[rnd_below(rng, (uint32_t)n)];
}

static int pick_stmt(uint64_t *rng, int svc) {
    int idx[N_STMTS], n = 0;
    for (size_t i = 0; i < N_STMTS; i++)
        if (STMTS[i].svc == svc) idx[n++] = (int)i;
    return n ? idx[rnd_below(rng, (uint32_t)n)] : -1;
}

static int producer_topic(int svc) {
    for (size_t i = 0; i < N_TOPICS; i++)
        if (TOPICS[i].producer == svc) return (int)i;
    return -1;
}

/* Expected spans per trace of trace_len(). */
static double mean_trace_len(void) {
    double e = 1;
    for (int k = 1; k < MAX_TRACE; k++) e += 1 - pow((double)k / (MAX_TRACE - 1), 1 / 1.4);
    return e;
}
static uint32_t trace_len(uint64_t *rng) {
    uint32_t n = 1 + (uint32_t)((MAX_TRACE - 1) * pow(rnd_unit(rng), 1.4));
    return n > MAX_TRACE ? MAX_TRACE : n;
}

static void new_span_id(uint64_t *rng, uint8_t id[8]) {
    uint64_t v;
    do v = next_u64(rng);
    while (v == 0);
    memcpy(id, &v, 8);
}

/* Fill t[0..n) with one trace starting at `start`; returns n. */
static uint32_t gen_trace(uint64_t *rng, sdesc *t, uint64_t start) {
    uint32_t n = trace_len(rng);
    memset(t, 0, n * sizeof *t);
    uint8_t tid[16];
    uint64_t a = next_u64(rng), b = next_u64(rng);
    memcpy(tid, &a, 8);
    memcpy(tid + 8, &b, 8);
    uint32_t entity = 100000 + rnd_below(rng, 9900000); /* 6-7 digits */
    uint32_t client_ip = rnd_below(rng, 65536);
    for (uint32_t i = 0; i < n; i++) {
        sdesc *s = &t[i];
        memcpy(s->trace_id, tid, 16);
        new_span_id(rng, s->span_id);
        s->seed = next_u64(rng) | 1;
        s->entity = entity;
        s->client_ip = client_ip;
        if (i == 0) { /* the root: a request from outside */
            s->type = T_HTTP_SERVER;
            s->svc = rnd_chance(rng, 0.7) ? S_FRONTEND : S_GATEWAY;
            s->pod = (uint8_t)rnd_below(rng, PODS);
            s->what = (uint8_t)pick_route(rng, s->svc);
            s->caller = 0xff;
            s->start = start;
            s->end = start + rnd_duration(rng, 60e6, 0.9);
        } else {
            sdesc *p = &t[0];
            /* an outgoing call or message not yet answered is usually where
             * the trace goes next (its server / consumer side) */
            uint32_t open_calls[MAX_TRACE], n_open = 0;
            for (uint32_t j = 0; j < i; j++)
                if ((t[j].type == T_HTTP_CLIENT || t[j].type == T_PRODUCER) && !t[j].has_child) open_calls[n_open++] = j;
            if (n_open && rnd_chance(rng, 0.75)) {
                p = &t[open_calls[rnd_below(rng, n_open)]];
            } else {
                for (int tries = 0; tries < 8; tries++) { /* else any earlier span that can have children */
                    sdesc *c = &t[rnd_below(rng, i)];
                    bool leaf = c->type == T_DB || ((c->type == T_HTTP_CLIENT || c->type == T_PRODUCER) && c->has_child);
                    if (!leaf) {
                        p = c;
                        break;
                    }
                }
            }
            s->has_parent = 1;
            memcpy(s->parent_id, p->span_id, 8);
            uint64_t pdur = p->end - p->start;
            if (p->type == T_HTTP_CLIENT || p->type == T_PRODUCER) { /* the other side of the call */
                p->has_child = 1;
                s->remote_parent = 1;
                s->type = p->type == T_HTTP_CLIENT ? T_HTTP_SERVER : T_CONSUMER;
                s->svc = p->type == T_HTTP_CLIENT ? ROUTES[p->what].svc : (uint8_t)TOPICS[p->what].consumer;
                s->pod = (uint8_t)rnd_below(rng, PODS);
                s->what = p->what;
                s->caller = p->svc;
                s->caller_pod = p->pod;
                uint64_t lead = pdur / 20 < 300000 ? pdur / 20 : 300000;
                s->start = p->start + lead;
                s->end = s->start + (uint64_t)((double)(pdur - lead) * (0.85 + 0.13 * rnd_unit(rng)));
            } else {
                s->svc = p->svc;
                s->pod = p->pod;
                double r = rnd_unit(rng);
                int st = pick_stmt(rng, p->svc), topic = producer_topic(p->svc);
                double median;
                if (st >= 0 && r < 0.30) {
                    s->type = T_DB, s->what = (uint8_t)st, median = 2e6;
                } else if (r < 0.65) {
                    int rt;
                    do rt = (int)rnd_below(rng, N_ROUTES);
                    while (ROUTES[rt].svc == p->svc || ROUTES[rt].svc == S_FRONTEND);
                    s->type = T_HTTP_CLIENT, s->what = (uint8_t)rt, s->caller = (uint8_t)ROUTES[rt].svc, median = 15e6;
                } else if (r < 0.93 || topic < 0) {
                    s->type = T_INTERNAL, s->what = (uint8_t)rnd_below(rng, N_OPS), median = 0.5e6;
                } else {
                    s->type = T_PRODUCER, s->what = (uint8_t)topic, median = 1e6;
                }
                s->start = p->start + offset_ns(rng, pdur, 0.7);
                uint64_t d = rnd_duration(rng, median, 1.0), room = p->end - s->start;
                s->end = s->start + (d < room ? d : room);
            }
        }
        if (rnd_chance(rng, 0.02)) {
            s->status = 2;
            s->err_msg = (uint8_t)rnd_below(rng, N_ERROR_MSG);
            s->event = 1;
        } else if (rnd_chance(rng, 0.08)) {
            s->event = 1; /* a handled exception */
        }
    }
    return n;
}

/* ---- building a batch ----------------------------------------------------------------- */

static tw_str bstr(tws_batch *b, const char *s, size_t n) {
    char *d = tws_batch_alloc(b, n + 1);
    if (!d) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    memcpy(d, s, n);
    d[n] = 0;
    return (tw_str){d, n};
}
static tw_str bcstr(tws_batch *b, const char *s) { return bstr(b, s, strlen(s)); }

typedef struct attrs_b {
    tws_batch *b;
    tws_kv *kv;
    uint32_t n, cap;
} attrs_b;

static attrs_b ab_begin(tws_batch *b, uint32_t cap) {
    attrs_b a = {b, tws_batch_alloc(b, cap * sizeof(tws_kv)), 0, cap};
    return a;
}
static tws_kv *ab_next(attrs_b *a, const char *key) {
    if (a->n == a->cap) {
        fprintf(stderr, "too many attributes for %s\n", key);
        exit(1);
    }
    tws_kv *kv = &a->kv[a->n++];
    memset(kv, 0, sizeof *kv);
    kv->key = bcstr(a->b, key);
    return kv;
}
static void ab_str(attrs_b *a, const char *key, const char *v) {
    tws_kv *kv = ab_next(a, key);
    kv->val.type = TWS_STRING;
    kv->val.u.s = bcstr(a->b, v);
}
static void ab_int(attrs_b *a, const char *key, int64_t v) {
    tws_kv *kv = ab_next(a, key);
    kv->val.type = TWS_INT;
    kv->val.u.i = v;
}
static void ab_bool(attrs_b *a, const char *key, bool v) {
    tws_kv *kv = ab_next(a, key);
    kv->val.type = TWS_BOOL;
    kv->val.u.b = v;
}
static tws_attrs ab_end(attrs_b *a) { return (tws_attrs){a->kv, a->n, 0}; }

/* A route with {id} replaced by a number. */
static void url_path(char *out, size_t cap, const char *rt, uint32_t id) {
    const char *p = strstr(rt, "{id}");
    size_t pre = p ? (size_t)(p - rt) : strlen(rt);
    if (pre >= cap) pre = cap - 1;
    memcpy(out, rt, pre);
    out[pre] = 0;
    if (p) snprintf(out + pre, cap - pre, "%u%s", id, p + 4);
}

static uint16_t http_status(uint64_t *r, const sdesc *d) {
    if (d->status == 2) {
        static const uint16_t e[] = {500, 502, 503, 504};
        return e[rnd_below(r, 4)];
    }
    double u = rnd_unit(r);
    if (u < 0.02) return 400;
    if (u < 0.05) return 404;
    if (u < 0.06) return 401;
    if (u < 0.065) return 429;
    if (u < 0.08) return 304;
    const char *m = ROUTES[d->what].method;
    if (!strcmp(m, "POST")) return 201;
    if (!strcmp(m, "DELETE")) return 204;
    return 200;
}

static void build_span(bench *B, tws_batch *b, tws_span *s, const sdesc *d, const uint32_t scope_of[4]) {
    uint64_t r = d->seed;
    int lang = SVC[d->svc].lang;
    char tmp[256], tmp2[64];
    memset(s, 0, sizeof *s);
    memcpy(s->trace_id, d->trace_id, 16);
    memcpy(s->span_id, d->span_id, 8);
    if (d->has_parent) {
        s->has_parent = true;
        memcpy(s->parent_span_id, d->parent_id, 8);
    }
    s->flags = d->remote_parent ? 0x301 : 0x101;
    s->start_ns = d->start;
    s->end_ns = d->end;
    s->status_code = d->status;
    if (d->status == 2) s->status_message = bcstr(b, ERROR_MSG[d->err_msg]);
    attrs_b a = ab_begin(b, 14);
    uint32_t id = rnd_chance(&r, 0.5) ? d->entity : 100000 + rnd_below(&r, 9900000);
    switch (d->type) {
    case T_HTTP_SERVER: {
        const route *rt = &ROUTES[d->what];
        bool external = d->caller == 0xff;
        s->kind = 2;
        s->scope_idx = scope_of[0];
        snprintf(tmp, sizeof tmp, "%s %s", rt->method, rt->route);
        s->name = bcstr(b, tmp);
        ab_str(&a, "http.request.method", rt->method);
        ab_str(&a, "http.route", rt->route);
        url_path(tmp, sizeof tmp, rt->route, id);
        ab_str(&a, "url.path", tmp);
        ab_str(&a, "url.scheme", external ? "https" : "http");
        ab_int(&a, "http.response.status_code", http_status(&r, d));
        ab_str(&a, "server.address",
               d->svc == S_FRONTEND && rnd_chance(&r, 0.3) ? "shop.example.com" : SVC[d->svc].host);
        ab_int(&a, "server.port", external ? 443 : 8080);
        if (external) {
            snprintf(tmp2, sizeof tmp2, "10.20.%u.%u", d->client_ip >> 8, d->client_ip & 255);
            ab_str(&a, "client.address", tmp2);
            snprintf(tmp2, sizeof tmp2, "10.0.1.%u", 10 + rnd_below(&r, 3)); /* the load balancer */
            ab_str(&a, "network.peer.address", tmp2);
            ab_str(&a, "user_agent.original", BROWSER_UA[d->client_ip % N_BROWSER_UA]);
            ab_str(&a, "network.protocol.version", d->client_ip % 5 < 3 ? "2" : "1.1");
        } else {
            ab_str(&a, "client.address", g_pod_ip[d->caller][d->caller_pod]);
            ab_str(&a, "network.peer.address", g_pod_ip[d->caller][d->caller_pod]);
            ab_str(&a, "user_agent.original", LANG_UA[SVC[d->caller].lang]);
            ab_str(&a, "network.protocol.version", "1.1");
        }
        ab_int(&a, "network.peer.port", 32768 + rnd_below(&r, 28232));
        break;
    }
    case T_HTTP_CLIENT: {
        const route *rt = &ROUTES[d->what];
        s->kind = 3;
        s->scope_idx = scope_of[0];
        s->name = bcstr(b, rt->method);
        ab_str(&a, "http.request.method", rt->method);
        url_path(tmp2, sizeof tmp2, rt->route, id);
        snprintf(tmp, sizeof tmp, "http://%s:8080%s", SVC[rt->svc].host, tmp2);
        ab_str(&a, "url.full", tmp);
        ab_str(&a, "server.address", SVC[rt->svc].host);
        ab_int(&a, "server.port", 8080);
        ab_int(&a, "http.response.status_code", http_status(&r, d));
        ab_str(&a, "network.protocol.version", "1.1");
        ab_str(&a, "network.peer.address", g_pod_ip[rt->svc][rnd_below(&r, PODS)]);
        ab_int(&a, "network.peer.port", 8080);
        ab_str(&a, "user_agent.original", LANG_UA[lang]);
        break;
    }
    case T_DB: {
        const stmt *q = &STMTS[d->what];
        bool redis = !strcmp(q->system, "redis"), es = !strcmp(q->system, "elasticsearch");
        s->kind = 3;
        s->scope_idx = scope_of[1];
        s->name = bcstr(b, q->name);
        ab_str(&a, "db.system", q->system);
        ab_str(&a, "db.statement", q->text);
        ab_str(&a, "db.operation.name", q->op);
        if (q->collection) ab_str(&a, "db.collection.name", q->collection);
        if (!redis) ab_str(&a, "db.namespace", SVC[d->svc].name);
        else ab_int(&a, "db.redis.database_index", 0);
        if (!redis && !es) {
            snprintf(tmp2, sizeof tmp2, "%s_app", SVC[d->svc].name);
            ab_str(&a, "db.user", tmp2);
        }
        ab_str(&a, "server.address", g_db_host[d->svc]);
        ab_int(&a, "server.port", redis ? 6379 : es ? 9200 : !strcmp(q->system, "mysql") ? 3306 : 5432);
        ab_str(&a, "network.peer.address", g_db_ip[d->svc]);
        break;
    }
    case T_INTERNAL: {
        const char *op = OPS[d->what];
        s->kind = 1;
        s->scope_idx = scope_of[2];
        s->name = bcstr(b, op);
        ab_str(&a, "code.function", op);
        snprintf(tmp, sizeof tmp, "shop.%s.%s", SVC[d->svc].name, d->what < 5 ? "handlers" : "internal");
        ab_str(&a, "code.namespace", tmp);
        ab_int(&a, "thread.id", 1 + rnd_below(&r, 64));
        if (!strncmp(op, "cache.", 6)) {
            snprintf(tmp, sizeof tmp, "product:%u", id);
            ab_str(&a, "app.cache.key", tmp);
            ab_bool(&a, "app.cache.hit", rnd_chance(&r, 0.8));
        } else {
            ab_int(&a, "app.items.count", 1 + rnd_below(&r, 20));
        }
        break;
    }
    default: { /* producer / consumer */
        bool prod = d->type == T_PRODUCER;
        const char *topic = TOPICS[d->what].topic;
        s->kind = prod ? 4 : 5;
        s->scope_idx = scope_of[3];
        snprintf(tmp, sizeof tmp, "%s %s", prod ? "publish" : "process", topic);
        s->name = bcstr(b, tmp);
        ab_str(&a, "messaging.system", "kafka");
        ab_str(&a, "messaging.destination.name", topic);
        ab_str(&a, "messaging.operation.type", prod ? "publish" : "process");
        ab_str(&a, "messaging.client.id", g_pod[d->svc][d->pod]);
        snprintf(tmp2, sizeof tmp2, "%u", d->entity);
        ab_str(&a, "messaging.kafka.message.key", tmp2);
        snprintf(tmp2, sizeof tmp2, "%u", (unsigned)(d->entity % 12));
        ab_str(&a, "messaging.destination.partition.id", tmp2);
        ab_int(&a, "messaging.kafka.offset", (int64_t)(d->start / 1000000) % 100000000);
        if (!prod) ab_str(&a, "messaging.consumer.group.name", SVC[d->svc].name);
        snprintf(tmp2, sizeof tmp2, "kafka-%u.kafka.shop.svc.cluster.local", (unsigned)(d->entity % 3));
        ab_str(&a, "server.address", tmp2);
        ab_int(&a, "server.port", 9092);
        break;
    }
    }
    s->attrs = ab_end(&a);
    B->attrs += a.n;
    if (d->event) {
        s->n_events = 1;
        s->events = tws_batch_alloc(b, sizeof *s->events);
        memset(s->events, 0, sizeof *s->events);
        uint64_t dur = d->end - d->start;
        s->events[0].time_ns = d->start + dur / 2 + rnd_below(&r, (uint32_t)(dur / 2 < UINT32_MAX ? dur / 2 + 1 : UINT32_MAX));
        s->events[0].name = bcstr(b, "exception");
        attrs_b ea = ab_begin(b, 2);
        ab_str(&ea, "exception.type", EXC_TYPE[lang][rnd_below(&r, 3)]);
        switch (rnd_below(&r, 4)) {
        case 0: snprintf(tmp, sizeof tmp, "order %u not found", d->entity); break;
        case 1:
            snprintf(tmp, sizeof tmp, "read tcp %s:%u->%s:5432: i/o timeout", g_pod_ip[d->svc][d->pod],
                     32768 + rnd_below(&r, 28232), g_db_ip[d->svc]);
            break;
        case 2: snprintf(tmp, sizeof tmp, "%s", d->status == 2 ? ERROR_MSG[d->err_msg] : "connection reset by peer"); break;
        default: snprintf(tmp, sizeof tmp, "invalid quantity for sku %u: %u", id, 1 + rnd_below(&r, 99)); break;
        }
        ab_str(&ea, "exception.message", tmp);
        s->events[0].attrs = ab_end(&ea);
        B->events++;
    }
    if (d->status == 2) B->errors++;
    B->kinds[d->type]++;
}

static void build_batch(bench *B, tws_batch *b, int qi, const sdesc *d, uint32_t n) {
    int svc = qi / PODS, pod = qi % PODS, lang = SVC[svc].lang;
    tws_batch_init(b);
    b->n_resources = 1;
    b->resources = tws_batch_alloc(b, sizeof *b->resources);
    memset(b->resources, 0, sizeof *b->resources);
    attrs_b a = ab_begin(b, 11);
    ab_str(&a, "service.name", SVC[svc].name);
    ab_str(&a, "service.namespace", "shop");
    ab_str(&a, "service.version", SVC[svc].version);
    ab_str(&a, "deployment.environment.name", "production");
    ab_str(&a, "host.name", g_node[svc][pod]);
    ab_str(&a, "k8s.namespace.name", "shop");
    ab_str(&a, "k8s.pod.name", g_pod[svc][pod]);
    ab_str(&a, "k8s.deployment.name", SVC[svc].name);
    ab_str(&a, "telemetry.sdk.language", LANG_NAME[lang]);
    ab_str(&a, "telemetry.sdk.name", "opentelemetry");
    ab_str(&a, "telemetry.sdk.version", LANG_SDK_VERSION[lang]);
    b->resources[0].attrs = ab_end(&a);
    b->resources[0].schema_url = bcstr(b, "https://opentelemetry.io/schemas/1.26.0");
    /* only the scopes that have spans in this batch, in order of first use */
    static const int class_of[] = {0, 0, 1, 2, 3, 3};
    uint32_t scope_of[4] = {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX};
    b->scopes = tws_batch_alloc(b, 4 * sizeof *b->scopes);
    for (uint32_t i = 0; i < n; i++) {
        int c = class_of[d[i].type];
        if (scope_of[c] != UINT32_MAX) continue;
        tws_scope *sc = &b->scopes[b->n_scopes];
        memset(sc, 0, sizeof *sc);
        sc->name = bcstr(b, SCOPE_NAME[lang][c]);
        sc->version = bcstr(b, c == 2 ? SVC[svc].version : SCOPE_VERSION[lang][c]);
        scope_of[c] = b->n_scopes++;
    }
    b->spans = tws_batch_alloc(b, n * sizeof *b->spans);
    b->n_spans = n;
    for (uint32_t i = 0; i < n; i++) build_span(B, b, &b->spans[i], &d[i], scope_of);
}

/* ---- the store -------------------------------------------------------------------------- */

static void new_head(bench *B) {
    tws_head_options ho = {.max_bytes = 1ull << 40};
    if (tws_head_new(&ho, &B->head)) {
        fprintf(stderr, "tws_head_new failed\n");
        exit(1);
    }
    B->head_spans = 0;
}

static void flush_head(bench *B) {
    if (!B->head_spans) return;
    char err[256];
    double w0 = wall_s(), c0 = thread_cpu_s();
    int rc = tws_store_flush_now(B->st, B->head, ++B->lsn, err);
    B->flush_cpu += thread_cpu_s() - c0;
    B->flush_wall += wall_s() - w0;
    B->flushes++;
    if (rc) {
        fprintf(stderr, "flush failed: %s (%s)\n", err, tw_strerror(rc));
        exit(1);
    }
    tws_head_free(B->head);
    new_head(B);
}

static void export_queue(bench *B, int qi, uint64_t head_max) {
    uint32_t n = B->queued[qi];
    if (!n) return;
    tws_batch b;
    build_batch(B, &b, qi, B->queue[qi], n);
    B->queued[qi] = 0;
    tws_selection sel = {&b, NULL, 0};
    tw__buf_reset(&B->enc);
    if (tws_otlp_encode_pb(&sel, 1, 1, &B->enc)) {
        fprintf(stderr, "encode failed\n");
        exit(1);
    }
    B->pb_bytes += B->enc.len;
    /* `bytes`: an estimate of the memory the batch holds (about twice its protobuf) */
    int rc = tws_head_add(B->head, TENANT, &b, 2 * (uint64_t)B->enc.len);
    if (rc) {
        fprintf(stderr, "tws_head_add: %s\n", tw_strerror(rc));
        exit(1);
    }
    B->head_spans += n;
    B->spans += n;
    B->batches++;
    if (B->head_spans >= head_max) flush_head(B);
}

static void remember(bench *B, const sdesc *root, uint32_t n) {
    B->traces_seen++;
    uint64_t slot;
    if (B->n_samples < B->cap_samples) slot = B->n_samples++;
    else if ((slot = next_u64(&B->sample_rng) % B->traces_seen) >= B->cap_samples) return; /* reservoir */
    memcpy(B->samples[slot].id, root->trace_id, 16);
    B->samples[slot].n = (uint8_t)n;
}

/* ---- the directory ------------------------------------------------------------------------ */

static struct {
    uint64_t bytes, data_bytes, meta_bytes, n_data, n_meta, index_bytes, bad_meta;
    int evicted;
} g_walk;

static int walk_fn(const char *path, const struct stat *sb, int type, struct FTW *f) {
    if (type != FTW_F) return 0;
    const char *base = path + f->base;
    if (!strncmp(base, ".tmp.", 5)) return 0;
    g_walk.bytes += (uint64_t)sb->st_size;
    if (!strcmp(base, "data")) {
        g_walk.data_bytes += (uint64_t)sb->st_size;
        g_walk.n_data++;
    } else if (!strcmp(base, "meta.json")) {
        g_walk.meta_bytes += (uint64_t)sb->st_size;
        g_walk.n_meta++;
        char buf[8192];
        FILE *fp = fopen(path, "rb");
        size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
        if (fp) fclose(fp);
        tws_block_meta m;
        char err[256];
        if (n && n < sizeof buf && tws_block_meta_parse(buf, n, &m, err) == TW_OK)
            g_walk.index_bytes += m.index_len + m.bloom_len;
        else g_walk.bad_meta++;
    }
    return 0;
}

static void walk(const char *dir) {
    memset(&g_walk, 0, sizeof g_walk);
    if (nftw(dir, walk_fn, 16, FTW_PHYS) != 0) perror(dir);
}

/* Drop the block files from the page cache (they are clean: put syncs them). */
static int evict_fn(const char *path, const struct stat *sb, int type, struct FTW *f) {
    if (type != FTW_F) return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0) g_walk.evicted++;
        close(fd);
    }
    return 0;
}

static int rm_fn(const char *path, const struct stat *sb, int type, struct FTW *f) {
    if (remove(path) != 0) perror(path);
    return 0;
}

/* ---- lookups ------------------------------------------------------------------------------- */

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* `count` lookups of sampled ids (or of random absent ones); prints
 * <prefix>_p50_ms, _p99_ms, _max_ms (only p99 for absent ones when `brief`). */
static void lookups(bench *B, const char *prefix, uint32_t count, bool absent, uint64_t seed, bool brief,
                    const char *evict_dir) {
    double *lat = malloc(count * sizeof *lat);
    uint64_t r = seed, wrong = 0, failed = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t id[16];
        uint32_t want = 0;
        if (absent) {
            uint64_t a = next_u64(&r), b = next_u64(&r);
            memcpy(id, &a, 8);
            memcpy(id + 8, &b, 8);
        } else {
            const sample *s = &B->samples[next_u64(&r) % B->n_samples];
            memcpy(id, s->id, 16);
            want = s->n;
        }
        tws_batch *out;
        size_t n;
        char err[256];
        if (evict_dir) nftw(evict_dir, evict_fn, 16, FTW_PHYS); /* every lookup reads from the device */
        double t0 = wall_s();
        int rc = tws_store_find(B->st, TENANT, id, 0, 0, &out, &n, err);
        lat[i] = (wall_s() - t0) * 1e3;
        if (rc) {
            if (!failed++) fprintf(stderr, "find: %s (%s)\n", err, tw_strerror(rc));
            continue;
        }
        uint64_t got = 0;
        for (size_t k = 0; k < n; k++) {
            got += out[k].n_spans;
            tws_batch_free(&out[k]);
        }
        tw__free(out);
        if (got != want) {
            if (!wrong++)
                fprintf(stderr, "%s: a lookup returned %llu spans, %u expected\n", prefix, (unsigned long long)got,
                        want);
        }
    }
    qsort(lat, count, sizeof *lat, cmp_double);
    char name[128];
    if (!brief) {
        snprintf(name, sizeof name, "%s_p50_ms", prefix);
        figure(name, lat[count / 2], "ms");
    }
    snprintf(name, sizeof name, "%s_p99_ms", prefix);
    figure(name, lat[(size_t)((double)count * 0.99)], "ms");
    if (!brief) {
        snprintf(name, sizeof name, "%s_max_ms", prefix);
        figure(name, lat[count - 1], "ms");
    }
    if (wrong || failed) {
        snprintf(name, sizeof name, "%s_wrong", prefix);
        figure(name, (double)(wrong + failed), "lookups");
    }
    free(lat);
}

static void store_log(const char *msg) {
    if (getenv("TW_BENCH_VERBOSE")) fprintf(stderr, "store: %s\n", msg);
}

static int open_store(bench *B, const char *root, const tws_store_options *so) {
    char blocks[4200], state[4200], err[256];
    snprintf(blocks, sizeof blocks, "%s/blocks", root);
    snprintf(state, sizeof state, "%s/state", root);
    tws_objstore *obj;
    tws_objstore_err oe = {{0}};
    if (tws_objstore_local_open(blocks, &obj, &oe)) {
        fprintf(stderr, "objstore: %s\n", oe.msg);
        return 1;
    }
    uint64_t cp;
    int rc = tws_store_open(obj, state, so, store_log, &B->st, &cp, err);
    if (rc) {
        fprintf(stderr, "tws_store_open: %s (%s)\n", err, tw_strerror(rc));
        return 1;
    }
    return 0;
}

/* ---- main ------------------------------------------------------------------------------------ */

int main(void) {
    tws_tune_allocator();
    uint64_t target = env_u64("TW_STORE_SPANS", 2000000), head_max = env_u64("TW_STORE_HEAD_SPANS", 200000);
    uint32_t n_lookups = (uint32_t)env_u64("TW_STORE_LOOKUPS", 2000);
    bench *B = calloc(1, sizeof *B);
    B->rng = env_u64("TW_STORE_SEED", 0x9e3779b97f4a7c15ull) | 1;
    B->sample_rng = 0x2545f4914f6cdd1dull;
    B->cap_samples = env_u64("TW_STORE_SAMPLE", 100000);
    B->samples = malloc(B->cap_samples * sizeof *B->samples);
    tw__buf_init(&B->enc, 0);
    world_init(&B->rng);

    const char *base = getenv("TW_BENCH_DIR");
    if (!base || !*base) base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    char root[4096];
    snprintf(root, sizeof root, "%s/tw-bench-store-XXXXXX", base);
    if (!mkdtemp(root)) {
        perror(root);
        return 1;
    }
    tws_store_options so = {
        .retention_s = 10ull * 365 * 24 * 3600,
        .maintenance_ms = 24ull * 3600 * 1000, /* the worker never compacts on its own */
        .compact_max_inputs = (uint32_t)env_u64("TW_STORE_COMPACT_INPUTS", 0),
        .compact_window_s = 365ull * 24 * 3600,
        .block_max_spans = env_u64("TW_STORE_BLOCK_MAX_SPANS", 1ull << 40),
    };
    if (open_store(B, root, &so)) return 1;
    new_head(B);
    fprintf(stderr, "bench_srv_store: %llu spans into %s (heads of %llu spans)\n", (unsigned long long)target, root,
            (unsigned long long)head_max);

    /* ---- generate, export, flush ---- */
    double mean = mean_trace_len(), est_traces = (double)target / mean;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t t0 = (uint64_t)now.tv_sec * 1000000000ull - 25ull * 60 * 1000000000ull; /* 25..15 min ago */
    double g0 = wall_s();
    uint64_t generated = 0, k = 0, next_report = target / 10;
    sdesc trace[MAX_TRACE];
    while (generated < target) {
        uint64_t start = t0 + (uint64_t)((double)SPREAD_NS * ((double)k / est_traces)) + rnd_below(&B->rng, 1000000);
        k++;
        uint32_t n = gen_trace(&B->rng, trace, start);
        remember(B, &trace[0], n);
        generated += n;
        /* export order: a span is queued when it ends */
        uint8_t order[MAX_TRACE];
        for (uint32_t i = 0; i < n; i++) {
            uint32_t j = i;
            while (j > 0 && trace[order[j - 1]].end > trace[i].end) order[j] = order[j - 1], j--;
            order[j] = (uint8_t)i;
        }
        for (uint32_t i = 0; i < n; i++) {
            const sdesc *d = &trace[order[i]];
            int qi = d->svc * PODS + d->pod;
            B->queue[qi][B->queued[qi]++] = *d;
            if (B->queued[qi] == BATCH_SPANS) export_queue(B, qi, head_max);
        }
        if (B->spans >= next_report) {
            fprintf(stderr, "  %3.0f%%  %llu spans stored, %llu flushes, %.1f s\n", 100.0 * (double)B->spans / (double)target,
                    (unsigned long long)B->spans, (unsigned long long)B->flushes, wall_s() - g0);
            next_report += target / 10;
        }
    }
    for (int qi = 0; qi < N_SERVICES * PODS; qi++) export_queue(B, qi, UINT64_MAX);
    flush_head(B);
    double gen_wall = wall_s() - g0;
    fprintf(stderr, "  generated %llu spans in %llu traces (%.2f spans/trace, %.1f attributes/span), %llu batches, "
                    "%llu flushes, %.1f s (flushing %.1f s)\n",
            (unsigned long long)B->spans, (unsigned long long)B->traces_seen,
            (double)B->spans / (double)B->traces_seen, (double)B->attrs / (double)B->spans,
            (unsigned long long)B->batches, (unsigned long long)B->flushes, gen_wall, B->flush_wall);
    fprintf(stderr, "  kinds: server %llu client %llu db %llu internal %llu producer %llu consumer %llu; "
                    "errors %.2f%%, events %.2f%%\n",
            (unsigned long long)B->kinds[0], (unsigned long long)B->kinds[1], (unsigned long long)B->kinds[2],
            (unsigned long long)B->kinds[3], (unsigned long long)B->kinds[4], (unsigned long long)B->kinds[5],
            100.0 * (double)B->errors / (double)B->spans, 100.0 * (double)B->events / (double)B->spans);

    double spans = (double)B->spans;
    char blocks_dir[4200];
    snprintf(blocks_dir, sizeof blocks_dir, "%s/blocks", root);
    tws_store_stats ss;
    tws_store_get_stats(B->st, &ss);
    walk(blocks_dir);
    figure("store_spans", spans, "spans");
    figure("store_traces", (double)B->traces_seen, "traces");
    figure("workload_attrs_per_span", (double)B->attrs / spans, "attributes");
    figure("otlp_pb_bytes_per_span", (double)B->pb_bytes / spans, "bytes");
    figure("store_blocks_flush", (double)g_walk.n_meta, "blocks");
    figure("store_bytes_per_span_flush", (double)g_walk.bytes / spans, "bytes");
    figure("store_flush_spans_per_s", spans / B->flush_wall, "spans/s");
    figure("store_flush_cpu_spans_per_s", spans / B->flush_cpu, "spans/s");
    if (ss.block_spans != B->spans)
        fprintf(stderr, "WARNING: the store holds %llu spans, %llu were flushed\n", (unsigned long long)ss.block_spans,
                (unsigned long long)B->spans);
    lookups(B, "trace_by_id_l0", n_lookups, false, 11, false, NULL);

    /* ---- compaction ---- */
    fprintf(stderr, "  compacting %llu blocks...\n", (unsigned long long)ss.blocks);
    double w0 = wall_s(), c0 = process_cpu_s();
    tws_store_maintain(B->st);
    double cw = wall_s() - w0, cc = process_cpu_s() - c0;
    tws_store_stats cs;
    tws_store_get_stats(B->st, &cs);
    walk(blocks_dir);
    fprintf(stderr, "  compaction: %llu merges, %llu failures, %.1f s wall, %.1f s CPU\n",
            (unsigned long long)cs.compactions, (unsigned long long)cs.compaction_failures, cw, cc);
    if (cs.block_spans != B->spans)
        fprintf(stderr, "WARNING: after compaction the store holds %llu spans, %llu were flushed\n",
                (unsigned long long)cs.block_spans, (unsigned long long)B->spans);
    figure("store_blocks_compacted", (double)g_walk.n_meta, "blocks");
    figure("store_bytes_per_span_compacted", (double)g_walk.bytes / spans, "bytes");
    figure("store_compact_spans_per_s", spans / cw, "spans/s");
    figure("store_compact_cpu_s", cc, "s");
    figure("store_index_bytes", (double)g_walk.index_bytes, "bytes");

    /* ---- reopen ---- */
    tws_store_close(B->st);
    B->st = NULL;
    tws_head_free(B->head);
    B->head = NULL;
    tw__buf_free(&B->enc);
    trim();
    double rss0 = proc_status_mb("VmRSS");
    w0 = wall_s();
    if (open_store(B, root, &so)) return 1;
    double open_ms = (wall_s() - w0) * 1e3;
    trim();
    double rss1 = proc_status_mb("VmRSS");
    figure("store_open_ms", open_ms, "ms");
    figure("store_rss_mb", rss1, "MB");
    figure("store_open_rss_delta_mb", rss1 - rss0, "MB");

    /* ---- trace by id ---- */
    g_walk.evicted = 0;
    lookups(B, "trace_by_id_cold", n_lookups, false, 22, false, blocks_dir);
    fprintf(stderr, "  cold lookups: %d fadvise(DONTNEED) calls on block files\n", g_walk.evicted);
    lookups(B, "trace_by_id", n_lookups, false, 33, false, NULL);
    lookups(B, "trace_by_id_absent", n_lookups, true, 44, true, NULL);
    figure("bench_peak_rss_mb", proc_status_mb("VmHWM"), "MB");

    tws_store_close(B->st);
    free(B->samples);
    free(B);
    if (getenv("TW_BENCH_KEEP")) {
        fprintf(stderr, "kept %s\n", root);
    } else {
        nftw(root, rm_fn, 16, FTW_DEPTH | FTW_PHYS);
    }
    return 0;
}
