/*
 * w3c_service.c — the service that the W3C Trace Context test suite
 * (w3c/trace-context, test/test.py) drives, built on libtracewire.
 *
 *   w3c_service PORT        (0: any free port; the chosen one is printed)
 *
 * It listens on 127.0.0.1:PORT. The harness sends
 *
 *   POST /test   traceparent / tracestate headers under test
 *   [{"url": "http://harness/callback/...", "arguments": [...]}, ...]
 *
 * and for each element the service must POST `arguments` (JSON; [] when
 * absent or null) to `url`, propagating its trace context, then answer. The
 * harness checks the headers of those callbacks: the incoming trace id kept
 * with a new parent id when the incoming traceparent was valid, a new trace
 * id otherwise, and the tracestate carried over, or dropped when invalid.
 *
 * So: extract with the tracecontext propagator, start a SERVER span with the
 * result as its parent, and for each callback start a CLIENT span under it
 * and inject that span's context into the request. Everything else (the
 * parse rules, what an invalid header means) is the SDK's.
 *
 * Configuration is libtracewire's environment (README.md), with two
 * defaults changed for a test service: OTEL_TRACES_EXPORTER=none (nothing to
 * export to) and OTEL_SERVICE_NAME=w3c_service. The sampler is the SDK's
 * default, parentbased_always_on, so the sampled flag follows the caller's.
 *
 * HTTP server: libevent's evhttp, one thread. Callbacks: libcurl, blocking,
 * one at a time with a 5 s timeout, http(s) only. A callback URL that
 * points back at this service would deadlock until that timeout: the
 * harness never does that. SIGINT / SIGTERM stop the loop and flush.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include <tracewire/tracewire.h>

#define LISTEN_ADDR "127.0.0.1"
#define MAX_BODY (1 << 20)
#define CALLBACK_TIMEOUT_MS 5000L

typedef struct service {
    tw_tracer *tracer;
    const tw_propagator *prop;
} service;

/* ---- helpers -------------------------------------------------------------- */

/* A reply with a short JSON body; `body` may be NULL for an empty one. */
static void reply(struct evhttp_request *req, int code, const char *reason, const char *body) {
    struct evbuffer *out = evbuffer_new();
    if (out && body) evbuffer_add(out, body, strlen(body));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, code, reason, out);
    if (out) evbuffer_free(out);
}

static void reply_error(struct evhttp_request *req, int code, const char *reason, const char *msg) {
    json_t *j = json_pack("{s:s}", "error", msg);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    reply(req, code, reason, body);
    free(body);
    json_decref(j);
}

/* The request's header lines, duplicates kept apart, in a tw carrier list. */
static int copy_headers(struct evhttp_request *req, tw_http_headers *h) {
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next) {
        int rc = tw_http_headers_add(h, kv->key, kv->value, TW_NTS);
        if (rc != TW_OK) return rc;
    }
    return TW_OK;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *user) {
    (void)ptr;
    (void)user;
    return size * nmemb;
}

/*
 * One callback: POST `body` to `url` from a CLIENT span that is a child of
 * `parent`, with that span's context injected. Returns the HTTP status, or
 * -1 when the request failed (the span then records why).
 */
static long call_back(service *svc, const tw_context *parent, const char *url, const char *body) {
    tw_span *span = tw_span_start(svc->tracer, "POST",
                                  &(tw_span_options){.kind = TW_SPAN_KIND_CLIENT, .parent = parent});
    tw_span_set_str(span, "http.request.method", "POST");
    tw_span_set_str(span, "url.full", url);

    tw_context ctx = TW_CONTEXT_INIT;
    tw_context_set_span(&ctx, span);
    tw_http_headers hdrs;
    tw_http_headers_init(&hdrs);
    tw_carrier carrier = tw_http_headers_carrier(&hdrs);
    struct curl_slist *list = NULL;
    char *line = NULL;
    long status = -1;
    CURL *curl = NULL;
    const char *err = NULL;
    size_t added = 0;

    int rc = tw_propagator_inject(svc->prop, &ctx, &carrier);
    if (rc != TW_OK) {
        err = tw_strerror(rc);
        goto out;
    }
    /* Each append copies its string; a NULL result leaves `list` intact. */
    const char *fixed[] = {"Content-Type: application/json", "Expect:" /* no 100-continue round trip */};
    const size_t nfixed = sizeof fixed / sizeof fixed[0];
    for (size_t i = 0; i < nfixed + hdrs.count; i++) {
        const char *l = i < nfixed ? fixed[i] : NULL;
        if (!l) {
            const struct tw_http_header *h = &hdrs.items[i - nfixed];
            size_t n = strlen(h->name) + 2 + h->value_len + 1;
            char *grown = realloc(line, n);
            if (!grown) break;
            line = grown;
            snprintf(line, n, "%s: %.*s", h->name, (int)h->value_len, h->value);
            l = line;
        }
        struct curl_slist *more = curl_slist_append(list, l);
        if (!more) break;
        list = more;
        added++;
    }
    if (added != nfixed + hdrs.count || !(curl = curl_easy_init())) {
        err = "out of memory";
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, CALLBACK_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        err = curl_easy_strerror(cc);
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    tw_span_set_int(span, "http.response.status_code", status);
    if (status >= 400) tw_span_set_status(span, TW_STATUS_ERROR, NULL);
out:
    if (err) {
        fprintf(stderr, "w3c_service: callback to %s failed: %s\n", url, err);
        tw_span_record_exception(span, "CallbackError", err, NULL, NULL, 0);
        tw_span_set_status(span, TW_STATUS_ERROR, err);
    }
    if (curl) curl_easy_cleanup(curl);
    curl_slist_free_all(list);
    free(line);
    tw_http_headers_free(&hdrs);
    tw_context_release(&ctx);
    tw_span_end(span);
    return status;
}

/* `body` is a JSON array whose elements are objects with a string "url" and
 * an optional "arguments"; NULL if so, else what is wrong. */
static const char *check_actions(const json_t *body) {
    if (!json_is_array(body)) return "the body is not a JSON array";
    size_t i;
    const json_t *action;
    json_array_foreach(body, i, action) {
        if (!json_is_object(action)) return "an element is not an object";
        if (!json_is_string(json_object_get(action, "url"))) return "an element has no string \"url\"";
    }
    return NULL;
}

/* ---- POST /test ------------------------------------------------------------ */

static void handle_test(struct evhttp_request *req, void *arg) {
    service *svc = arg;
    tw_http_headers in;
    tw_context parent = TW_CONTEXT_INIT;
    tw_context server_ctx = TW_CONTEXT_INIT;
    json_t *actions = NULL, *results = NULL;
    tw_span *server = NULL;
    tw_http_headers_init(&in);

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        reply_error(req, 405, "Method Not Allowed", "POST only");
        goto out;
    }
    struct evbuffer *buf = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(buf);
    const char *text = len ? (const char *)evbuffer_pullup(buf, -1) : "";
    json_error_t jerr;
    actions = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    const char *bad = actions ? check_actions(actions) : jerr.text;
    if (bad) {
        reply_error(req, 400, "Bad Request", bad);
        goto out;
    }

    /* Bad trace headers are not an error: extraction then leaves `parent`
     * empty and the server span starts a new trace. */
    tw_carrier carrier = tw_http_headers_carrier(&in);
    if (copy_headers(req, &in) != TW_OK || tw_propagator_extract(svc->prop, &carrier, &parent) != TW_OK) {
        reply_error(req, 500, "Internal Server Error", "out of memory");
        goto out;
    }
    server = tw_span_start(svc->tracer, "POST /test",
                           &(tw_span_options){.kind = TW_SPAN_KIND_SERVER, .parent = &parent});
    tw_span_set_str(server, "http.request.method", "POST");
    tw_span_set_str(server, "url.path", "/test");
    tw_context_set_span(&server_ctx, server);

    results = json_array();
    size_t i;
    json_t *action;
    json_array_foreach(actions, i, action) {
        const char *url = json_string_value(json_object_get(action, "url"));
        json_t *args = json_object_get(action, "arguments"), *empty = NULL;
        if (!args || json_is_null(args)) args = empty = json_array();
        char *body = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        json_decref(empty);
        long status = body ? call_back(svc, &server_ctx, url, body) : -1;
        free(body);
        json_array_append_new(results, json_pack("{s:s,s:I}", "url", url, "status", (json_int_t)status));
    }
    char *out_body = json_dumps(results, JSON_COMPACT);
    tw_span_set_int(server, "http.response.status_code", 200);
    reply(req, 200, "OK", out_body);
    free(out_body);
out:
    if (server) tw_span_end(server);
    json_decref(results);
    json_decref(actions);
    tw_context_release(&server_ctx);
    tw_context_release(&parent);
    tw_http_headers_free(&in);
}

static void handle_other(struct evhttp_request *req, void *arg) {
    (void)arg;
    reply_error(req, 404, "Not Found", "only POST /test is served");
}

static void on_signal(evutil_socket_t sig, short events, void *arg) {
    (void)sig;
    (void)events;
    event_base_loopbreak(arg);
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv) {
    char *end = NULL;
    long port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc != 2 || *end || port < 0 || port > 65535) {
        fprintf(stderr, "usage: %s PORT   (listens on " LISTEN_ADDR ":PORT; 0 picks a free port)\n", argv[0]);
        return 2;
    }
    setenv("OTEL_TRACES_EXPORTER", "none", 0);
    setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on", 0);
    setenv("OTEL_SERVICE_NAME", "w3c_service", 0);

    int rc = 1;
    tw_provider *provider = NULL;
    struct event_base *base = NULL;
    struct evhttp *http = NULL;
    struct event *sigint = NULL, *sigterm = NULL;
    service svc = {NULL, tw_propagator_tracecontext()};

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("w3c_service: curl_global_init failed\n", stderr);
        return 1;
    }
    int err = tw_provider_from_env(&provider);
    if (err) {
        fprintf(stderr, "w3c_service: cannot create the tracer provider: %s\n", tw_strerror(err));
        goto out;
    }
    svc.tracer = tw_tracer_get(provider, "w3c_service", TW_VERSION_STRING);

    if (!(base = event_base_new()) || !(http = evhttp_new(base))) {
        fputs("w3c_service: cannot create the event loop\n", stderr);
        goto out;
    }
    evhttp_set_max_body_size(http, MAX_BODY);
    evhttp_set_timeout(http, 30);
    evhttp_set_cb(http, "/test", handle_test, &svc);
    evhttp_set_gencb(http, handle_other, NULL);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(http, LISTEN_ADDR, (ev_uint16_t)port);
    if (!bound) {
        fprintf(stderr, "w3c_service: cannot listen on " LISTEN_ADDR ":%ld: %s\n", port, strerror(errno));
        goto out;
    }
    struct sockaddr_in sin;
    socklen_t slen = sizeof sin;
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &slen) != 0) {
        perror("w3c_service: getsockname");
        goto out;
    }
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    if (!sigint || !sigterm || event_add(sigint, NULL) || event_add(sigterm, NULL)) {
        fputs("w3c_service: cannot watch signals\n", stderr);
        goto out;
    }
    /* The line a driver waits for before it sends anything. */
    printf("w3c_service: listening on http://" LISTEN_ADDR ":%u/test\n", (unsigned)ntohs(sin.sin_port));
    fflush(stdout);

    rc = event_base_dispatch(base) < 0 ? 1 : 0;
out:
    if (sigint) event_free(sigint);
    if (sigterm) event_free(sigterm);
    if (http) evhttp_free(http);
    if (base) event_base_free(base);
    if (provider) tw_provider_destroy(provider);
    curl_global_cleanup();
    return rc;
}
