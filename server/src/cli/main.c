/*
 * main.c — the `tracewire` command: one binary, several commands.
 *   tracewire serve [flags]   the server (see tracewire serve --help)
 *   tracewire version
 */
#include <stdio.h>
#include <string.h>

#include "pipeline/pconfig.h"
#include "serve/server.h"
#include "tracewire/tw_common.h"

#ifndef TW_VERSION_STRING
#define TW_VERSION_STRING "0.1.0"
#endif

static const char usage[] = "usage: tracewire <command> [flags]\n"
                            "\n"
                            "commands:\n"
                            "  serve     receive OTLP, store traces, answer Tempo's API (tracewire serve --help)\n"
                            "  version   print the version\n";

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("tracewire %s\n", TW_VERSION_STRING);
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0) {
        tws_config cfg;
        tws_config_defaults(&cfg);
        char err[512];
        int rc = tws_config_parse_args(&cfg, argc - 1, argv + 1, err, sizeof err);
        if (rc == 1) return 0;
        if (rc < 0) {
            fprintf(stderr, "tracewire serve: %s\n", err);
            tws_config_free(&cfg);
            return 2;
        }
        if (cfg.pipelines)
            for (uint32_t i = 0; i < cfg.pipelines->n_warnings; i++)
                fprintf(stderr, "tracewire serve: warning: %s\n", cfg.pipelines->warnings[i]);
        if (cfg.check_only) {
            printf("configuration is valid\n");
            if (!strcmp(cfg.storage_backend, "s3"))
                printf("storage: blocks in s3://%s/%sblocks/ at %s (the bucket is not contacted by --check); "
                       "WAL in %s\n",
                       cfg.s3.bucket, cfg.s3.prefix, cfg.s3.endpoint, cfg.data_dir);
            else
                printf("storage: blocks and WAL in %s\n", cfg.data_dir);
            tws_pipelines_describe(cfg.pipelines, stdout);
            tws_config_free(&cfg);
            return 0;
        }
        rc = tws_serve(&cfg);
        tws_config_free(&cfg);
        return rc;
    }
    fprintf(stderr, "tracewire: unknown command \"%s\"\n\n%s", argv[1], usage);
    return 2;
}
