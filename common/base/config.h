/* config.h - every setting of every service, read from the environment (12-factor) through one
 * declarative table that also writes the --help text and the error for a bad value.
 *
 * CONTRACT.md lists the public variables; the table in config.c adds the tuning knobs (batching,
 * backoff, TTLs). Any RECOBRO_KAFKA_<PROPERTY> other than RECOBRO_KAFKA_BROKERS is a librdkafka
 * property passed through ("_" becomes "."); librdkafka itself judges it when the client is
 * built (kafka.h), and the error names the variable. */
#ifndef RECOBRO_CONFIG_H
#define RECOBRO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

#define CONFIG_MAX_KAFKA_PROPS 64

typedef struct config_kafka_prop {
    char env[128];  /* the variable it came from, e.g. RECOBRO_KAFKA_SECURITY_PROTOCOL */
    char name[128]; /* the librdkafka property, e.g. security.protocol */
    char value[512];
} config_kafka_prop_t;

typedef struct config {
    char service[32];
    char kafka_brokers[512];
    char pg_dsn[1024];
    char redis_url[512];
    char redis_tls_ca[512];   /* CA file for rediss://; "" the system's CAs */
    char redis_tls_cert[512]; /* client certificate for rediss://; "" none */
    char redis_tls_key[512];  /* its private key; "" none */
    char group_id[256];
    char http_addr[128];
    log_level_t log_level;
    char now[64];     /* RECOBRO_NOW as given, "" when unset */
    int64_t now_unix; /* its value, valid when now[0] != '\0' */
    /* Topic names (RECOBRO_TOPIC_<NAME>). */
    char topic_invoices[250];
    char topic_payments[250];
    char topic_interactions[250];
    char topic_tasks[250];
    char topic_case_events[250];
    char topic_dlq[250];
    int topic_partitions;
    int topic_replication;
    /* The worker runtime. */
    int batch_max; /* messages per transaction */
    int batch_ms;  /* longest wait to fill a batch */
    int backoff_initial_ms;
    int backoff_max_ms;
    int cache_ttl_s;
    int shutdown_timeout_ms;
    int poison_attempts;    /* crashes on one message before it is sent to the DLQ as poison */
    int dedupe_retention_s; /* how long an applied event's (source, id) is remembered */
    /* The relay. */
    int relay_batch;
    int relay_poll_ms;
    int outbox_retention_s;
    /* The scheduler. */
    int scheduler_period_ms;     /* between two due-work sweeps */
    int snapshot_retention_days; /* daily case snapshots kept this long; 0: forever */
    char policy_file[512];
    config_kafka_prop_t kafka_props[CONFIG_MAX_KAFKA_PROPS];
    int n_kafka_props;
} config_t;

/* Checks one value: 0, or -1 with why it is wrong in `why` (never echoing a secret). */
typedef int (*config_check_fn)(const char *value, char *why, size_t whylen);

/* The check of libpq connection strings (RECOBRO_PG_DSN). libpq's own parser is the authority,
 * and base may not link libpq: the store lends pg_check_dsn() (pg.h), which service_init() sets
 * before config_load(). NULL (the default) accepts any string. */
extern config_check_fn config_dsn_check;

/* Reads where a variable's value comes from: getenv() in services, a table in tests. */
typedef const char *(*config_getenv_fn)(const char *name, void *ud);

/* Fills *cfg for `service` (e.g. "overdue") from `get` (NULL means getenv), applying defaults.
 * `environ_list` (NULL-terminated "NAME=value" strings, may be NULL) is scanned for
 * RECOBRO_KAFKA_* pass-through properties. Returns 0, or -1 with a one-line message naming the
 * variable in err. */
__attribute__((warn_unused_result)) int config_load(config_t *cfg, const char *service,
                                                    config_getenv_fn get, void *ud,
                                                    char *const *environ_list, char *err,
                                                    size_t errlen);

/* Prints the table (variable, default, meaning) for --help. */
void config_print_help(FILE *out, const char *service);

/* The default /metrics address of a service ("127.0.0.1:91xx"); "" for unknown services. */
const char *config_default_http_addr(const char *service);

/* Parses "host:port" (host may be "*" or empty for any, or [v6]) into host and port.
 * Returns 0 or -1. */
int config_parse_addr(const char *s, char *host, size_t hostlen, int *port);

/* A Redis URL, parsed. */
typedef struct config_redis_url {
    bool tls;           /* rediss:// */
    char host[256];     /* without the brackets of an IPv6 address */
    int port;           /* 6379 when absent */
    char user[128];     /* ACL user; "" the default user */
    char password[256]; /* "" none */
    int db;             /* 0 when absent */
} config_redis_url_t;

/* Parses "redis[s]://[[user]:password@]host[:port][/db]" into *out. "user@" without a password
 * is refused: a user cannot AUTH without one, and an older "redis://password@host" must fail
 * at start, not run unauthenticated. Returns 0 or -1 (*out then undefined). */
int config_parse_redis_url(const char *s, config_redis_url_t *out);

#endif
