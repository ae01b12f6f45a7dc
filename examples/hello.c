/*
 * hello.c — the smallest useful libtracewire program: the article's checkout
 * request as a trace, printed as OTLP JSON by the console exporter (or sent
 * over OTLP/HTTP when OTEL_TRACES_EXPORTER=otlp), with two log lines written
 * inside its spans as JSON on stderr (and exported as OTLP logs when
 * OTEL_LOGS_EXPORTER=otlp).
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdio.h>
#include <stdlib.h>

#include <tracewire/tracewire.h>

int main(void) {
    if (!getenv("OTEL_TRACES_EXPORTER")) setenv("OTEL_TRACES_EXPORTER", "console", 1);
    if (!getenv("OTEL_SERVICE_NAME")) setenv("OTEL_SERVICE_NAME", "checkout", 1);
    tw_provider *provider;
    int rc = tw_provider_from_env(&provider);
    if (rc) {
        fprintf(stderr, "hello: cannot create the tracer provider: %s\n", tw_strerror(rc));
        return 1;
    }
    tw_provider_set_global(provider);
    tw_tracer *tracer = tw_tracer_get(NULL, "hello", TW_VERSION_STRING);
    tw_logger *log = NULL;
    tw_logger_new(&(tw_logger_options){.fd = 2, .provider = provider}, &log);

    tw_span *root = tw_span_start(tracer, "GET /checkout", &(tw_span_options){.kind = TW_SPAN_KIND_SERVER});
    tw_span_set_str(root, "http.request.method", "GET");
    tw_span_set_str(root, "http.route", "/checkout");
    int tok = tw_span_attach(root);

    tw_span *validate = tw_span_start(tracer, "validate-cart", NULL);
    tw_span_set_int(validate, "cart.items", 3);
    tw_span_end(validate);

    tw_span *reserve = tw_span_start(tracer, "POST inventory.Reserve", &(tw_span_options){.kind = TW_SPAN_KIND_CLIENT});
    tw_span_set_str(reserve, "server.address", "inventory");
    tw_span_set_int(reserve, "http.response.status_code", 503);
    tw_span_record_exception(reserve, "InventoryUnavailable", "inventory backend unreachable", NULL, NULL, 0);
    tw_span_set_status(reserve, TW_STATUS_ERROR, "inventory backend unreachable");
    int tok2 = tw_span_attach(reserve);
    tw_log(log, TW_LOG_ERROR, "inventory reserve failed", NULL, 0);
    tw_detach(tok2);
    tw_span_end(reserve);

    tw_span_set_int(root, "http.response.status_code", 503);
    tw_log(log, TW_LOG_WARN, "responding with 503", (tw_attribute[]){TW_ATTR_INT("http.response.status_code", 503)}, 1);
    tw_detach(tok);
    tw_span_end(root);

    tw_logger_destroy(log); /* exports its queued records */
    tw_provider_set_global(NULL);
    tw_provider_destroy(provider); /* flushes the batch processor */
    return 0;
}
