/*
 * tw_traffic.c — root spans through libtracewire as the environment
 * configures it (OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_ENDPOINT, ...),
 * for tests that need the SDK's own sampling decisions on real traffic.
 *
 *   tw_traffic COUNT NAME
 *       Starts and ends COUNT root server spans named NAME (each a new
 *       trace, attribute http.route = NAME), then shuts the provider down,
 *       which exports what is queued. Prints one JSON line:
 *       {"spans":COUNT,"sampled":N} — N spans were recording (sampled).
 *
 * The batch queue is sized by OTEL_BSP_MAX_QUEUE_SIZE; a test that wants
 * every sampled span delivered sets it above COUNT's sampled share.
 * Exit status: 0 done, 1 the SDK failed, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>

#include <tracewire/tracewire.h>

int main(int argc, char **argv) {
    if (argc != 3 || atol(argv[1]) <= 0) {
        fprintf(stderr, "usage: tw_traffic COUNT NAME\n");
        return 2;
    }
    long count = atol(argv[1]);
    tw_provider *p;
    if (tw_provider_from_env(&p) != TW_OK) {
        fprintf(stderr, "tw_traffic: cannot make a provider from the environment\n");
        return 1;
    }
    tw_tracer *t = tw_tracer_get(p, "tw_traffic", "1.0.0");
    long sampled = 0;
    for (long i = 0; i < count; i++) {
        tw_span *s = tw_span_start(t, argv[2], &(tw_span_options){.kind = TW_SPAN_KIND_SERVER, .root = true});
        if (tw_span_is_recording(s)) sampled++;
        tw_span_set_str(s, "http.route", argv[2]);
        tw_span_end(s);
    }
    tw_provider_destroy(p);
    printf("{\"spans\":%ld,\"sampled\":%ld}\n", count, sampled);
    return 0;
}
