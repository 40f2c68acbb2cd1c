/* service.c - common start-up of the service binaries (see service.h). */
#include "service.h"

#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "metrics_catalog.h"
#include "pg.h"
#include "worker.h"

extern char **environ;

int service_init(config_t *cfg, const char *service, const char *about, int argc, char **argv)
{
    char err[600];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: recobro-%s [--help] [--version]\n%s\n\n", service, about);
            config_print_help(stdout, service);
            return EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("recobro-%s %s\n", service, RECOBRO_VERSION);
            return EXIT_OK;
        }
        fprintf(stderr, "recobro-%s: unknown argument '%s' (try --help)\n", service, argv[i]);
        return EXIT_USAGE;
    }
    config_dsn_check = pg_check_dsn;
    if (config_load(cfg, service, NULL, NULL, environ, err, sizeof(err)) < 0) {
        fprintf(stderr, "recobro-%s: bad setting %s\n", service, err);
        return EXIT_USAGE;
    }
    /* librdkafka judges the pass-through properties; ask it now, not at first use. */
    rd_kafka_conf_t *kconf = kafka_conf_new(cfg, err, sizeof(err));
    if (kconf == NULL) {
        fprintf(stderr, "recobro-%s: bad setting %s\n", service, err);
        return EXIT_USAGE;
    }
    rd_kafka_conf_destroy(kconf);
    cache_set_tls(cfg->redis_tls_ca, cfg->redis_tls_cert, cfg->redis_tls_key);
    log_min_level = cfg->log_level;
    log_set_service(service);
    metrics_catalog_register(service);
    if (cfg->now[0] != '\0')
        clock_fix(1, cfg->now_unix);
    wk_install_signals();
    return -1;
}
