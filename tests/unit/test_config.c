/* test_config.c - the settings table: defaults, every kind of bad value, pass-through of
 * librdkafka properties. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "config.h"
#include "pg.h"

/* A fake environment: NULL-terminated "NAME=value" strings. */
static const char *fake_getenv(const char *name, void *ud)
{
    char *const *env = ud;
    size_t n = strlen(name);
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

static int load(config_t *cfg, char **env, char *err)
{
    config_dsn_check = pg_check_dsn; /* as service_init() sets it */
    return config_load(cfg, "overdue", fake_getenv, env, env, err, 512);
}

static void defaults(void **state)
{
    config_t cfg;
    char err[512];
    char *env[] = {NULL};

    (void)state;
    assert_int_equal(load(&cfg, env, err), 0);
    assert_string_equal(cfg.kafka_brokers, "127.0.0.1:19092");
    assert_string_equal(cfg.group_id, "recobro-overdue");
    assert_string_equal(cfg.http_addr, "127.0.0.1:9101");
    assert_string_equal(cfg.topic_invoices, "recobro.invoices");
    assert_string_equal(cfg.topic_case_events, "recobro.case-events");
    assert_string_equal(cfg.topic_dlq, "recobro.dlq");
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_int_equal(cfg.batch_max, 500);
    assert_int_equal(cfg.cache_ttl_s, 604800);
    assert_string_equal(cfg.now, "");
    assert_int_equal(cfg.n_kafka_props, 0);
}

static void overrides(void **state)
{
    config_t cfg;
    char err[512];
    char *env[] = {"RECOBRO_GROUP_ID=g1",
                   "RECOBRO_TOPIC_TASKS=my.tasks",
                   "RECOBRO_LOG_LEVEL=debug",
                   "RECOBRO_NOW=2026-11-20T10:00:00+01:00",
                   "RECOBRO_BATCH_MAX=1000",
                   "RECOBRO_KAFKA_SECURITY_PROTOCOL=SASL_SSL",
                   "RECOBRO_KAFKA_BROKERS=k1:9092,k2:9092",
                   "RECOBRO_REDIS_URL=redis://:secret@cache:6380/2",
                   "OTHER=1",
                   NULL};

    (void)state;
    assert_int_equal(load(&cfg, env, err), 0);
    assert_string_equal(cfg.group_id, "g1");
    assert_string_equal(cfg.topic_tasks, "my.tasks");
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_int_equal(cfg.now_unix, 1795165200); /* 2026-11-20T09:00:00Z */
    assert_int_equal(cfg.batch_max, 1000);
    assert_string_equal(cfg.kafka_brokers, "k1:9092,k2:9092");
    assert_int_equal(cfg.n_kafka_props, 1); /* BROKERS is not passed through */
    assert_string_equal(cfg.kafka_props[0].name, "security.protocol");
    assert_string_equal(cfg.kafka_props[0].value, "SASL_SSL");
    assert_string_equal(cfg.kafka_props[0].env, "RECOBRO_KAFKA_SECURITY_PROTOCOL");
}

/* Each bad setting is refused with one line that starts with the variable's name. */
static void bad_values(void **state)
{
    static const char *const bad[][2] = {
        {"RECOBRO_LOG_LEVEL=verbose", "RECOBRO_LOG_LEVEL"},
        {"RECOBRO_LOG_LEVEL=", "RECOBRO_LOG_LEVEL"},
        {"RECOBRO_BATCH_MAX=0", "RECOBRO_BATCH_MAX"},
        {"RECOBRO_BATCH_MAX=ten", "RECOBRO_BATCH_MAX"},
        {"RECOBRO_BATCH_MAX=12x", "RECOBRO_BATCH_MAX"},
        {"RECOBRO_BATCH_MAX=99999999999999999999", "RECOBRO_BATCH_MAX"},
        {"RECOBRO_BATCH_MS=-5", "RECOBRO_BATCH_MS"},
        {"RECOBRO_CACHE_TTL=0", "RECOBRO_CACHE_TTL"},
        {"RECOBRO_HTTP_ADDR=9101", "RECOBRO_HTTP_ADDR"},
        {"RECOBRO_HTTP_ADDR=localhost:99999", "RECOBRO_HTTP_ADDR"},
        {"RECOBRO_HTTP_ADDR=host:", "RECOBRO_HTTP_ADDR"},
        {"RECOBRO_REDIS_URL=http://x:1", "RECOBRO_REDIS_URL"},
        {"RECOBRO_REDIS_URL=redis://", "RECOBRO_REDIS_URL"},
        {"RECOBRO_REDIS_URL=redis://h:1/x", "RECOBRO_REDIS_URL"},
        {"RECOBRO_PG_DSN=host=x port", "RECOBRO_PG_DSN"},
        {"RECOBRO_PG_DSN=nonsense=1", "RECOBRO_PG_DSN"},
        {"RECOBRO_NOW=yesterday", "RECOBRO_NOW"},
        {"RECOBRO_NOW=2026-11-20T10:00:00", "RECOBRO_NOW"},
        {"RECOBRO_NOW=2026-02-30T10:00:00Z", "RECOBRO_NOW"},
        {"RECOBRO_TOPIC_TASKS=bad topic", "RECOBRO_TOPIC_TASKS"},
        {"RECOBRO_TOPIC_DLQ=", "RECOBRO_TOPIC_DLQ"},
        {"RECOBRO_KAFKA_BROKERS=", "RECOBRO_KAFKA_BROKERS"},
        {"RECOBRO_TOPIC_PARTITIONS=0", "RECOBRO_TOPIC_PARTITIONS"},
        {"RECOBRO_KAFKA_BAD-NAME=1", "RECOBRO_KAFKA_BAD-NAME"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        config_t cfg;
        char err[512] = "";
        char *env[] = {(char *)bad[i][0], NULL};
        assert_int_equal(load(&cfg, env, err), -1);
        if (strncmp(err, bad[i][1], strlen(bad[i][1])) != 0)
            fail_msg("for %s the message was: %s", bad[i][0], err);
        assert_null(strchr(err, '\n'));
    }
}

/* A Redis password never appears in an error message. */
static void no_secret_in_errors(void **state)
{
    config_t cfg;
    char err[512];
    char *env[] = {"RECOBRO_REDIS_URL=redis://:hunter2@host:notaport", NULL};

    (void)state;
    assert_int_equal(load(&cfg, env, err), -1);
    assert_null(strstr(err, "hunter2"));
}

static void addresses(void **state)
{
    char host[64], pw[64];
    int port, db;

    (void)state;
    assert_int_equal(config_parse_addr("127.0.0.1:9101", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9101);
    assert_int_equal(config_parse_addr(":8080", host, sizeof(host), &port), 0);
    assert_string_equal(host, "");
    assert_int_equal(config_parse_addr("[::1]:80", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(config_parse_addr("nohost", host, sizeof(host), &port), -1);
    assert_int_equal(config_parse_redis_url("redis://127.0.0.1:16379/0", host, sizeof(host), &port,
                                            pw, sizeof(pw), &db),
                     0);
    assert_int_equal(port, 16379);
    assert_int_equal(db, 0);
    assert_string_equal(pw, "");
    assert_int_equal(
        config_parse_redis_url("redis://user:pw@h", host, sizeof(host), &port, pw, sizeof(pw), &db),
        0);
    assert_string_equal(pw, "pw");
    assert_string_equal(host, "h");
    assert_int_equal(port, 6379);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),   cmocka_unit_test(overrides),
        cmocka_unit_test(bad_values), cmocka_unit_test(no_secret_in_errors),
        cmocka_unit_test(addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
