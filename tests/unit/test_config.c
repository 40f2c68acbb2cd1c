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
    assert_int_equal(cfg.snapshot_retention_days, 731);
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
        {"RECOBRO_SNAPSHOT_RETENTION_DAYS=-1", "RECOBRO_SNAPSHOT_RETENTION_DAYS"},
        {"RECOBRO_SNAPSHOT_RETENTION_DAYS=a year", "RECOBRO_SNAPSHOT_RETENTION_DAYS"},
        {"RECOBRO_SNAPSHOT_RETENTION_DAYS=36601", "RECOBRO_SNAPSHOT_RETENTION_DAYS"},
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

/* The exact text of each kind of error: operators grep for these. */
static void error_texts(void **state)
{
    static char long_addr[200], long_topic[300];
    static const char *const cases[][2] = {
        {"RECOBRO_BATCH_MAX=0", "RECOBRO_BATCH_MAX: \"0\" is not an integer between 1 and 100000"},
        {"RECOBRO_LOG_LEVEL=verbose",
         "RECOBRO_LOG_LEVEL: \"verbose\" is not one of debug, info, warn, error"},
        {"RECOBRO_HTTP_ADDR=9101", "RECOBRO_HTTP_ADDR: \"9101\" is not host:port"},
        {"RECOBRO_REDIS_URL=redis://",
         "RECOBRO_REDIS_URL: not a URL of the form redis[s]://[[user]:password@]host:port[/db]"},
        {"RECOBRO_NOW=yesterday",
         "RECOBRO_NOW: \"yesterday\" is not an RFC 3339 instant with an offset"},
        {"RECOBRO_TOPIC_TASKS=bad topic",
         "RECOBRO_TOPIC_TASKS: \"bad topic\" is not a valid Kafka topic name"},
        {"RECOBRO_TOPIC_DLQ=", "RECOBRO_TOPIC_DLQ: is set but empty"},
        {"RECOBRO_HTTP_ADDR=", "RECOBRO_HTTP_ADDR: is set but empty"},
        {"RECOBRO_KAFKA_BROKERS=", "RECOBRO_KAFKA_BROKERS: is set but empty"},
        {"RECOBRO_KAFKA_BAD-NAME=1", "RECOBRO_KAFKA_BAD-NAME: not a librdkafka property name"},
        {"RECOBRO_KAFKA_=1", "RECOBRO_KAFKA_: not a librdkafka property name"},
        {long_addr, "RECOBRO_HTTP_ADDR: value is too long (at most 127 characters)"},
        {long_topic, "RECOBRO_TOPIC_TASKS: value is too long (at most 249 characters)"},
    };

    (void)state;
    snprintf(long_addr, sizeof(long_addr), "RECOBRO_HTTP_ADDR=%0150d", 1);
    snprintf(long_topic, sizeof(long_topic), "RECOBRO_TOPIC_TASKS=%0250d", 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config_t cfg;
        char err[512] = "";
        char *env[] = {(char *)cases[i][0], NULL};
        assert_int_equal(load(&cfg, env, err), -1);
        assert_string_equal(err, cases[i][1]);
    }
}

/* Empty strings are allowed where "unset" makes sense (RECOBRO_NOW, the policy file). */
static void empty_allowed(void **state)
{
    config_t cfg;
    char err[512];
    char *env[] = {"RECOBRO_NOW=", "RECOBRO_POLICY_FILE=", "RECOBRO_KAFKA_CLIENT_RACK=", NULL};

    (void)state;
    assert_int_equal(load(&cfg, env, err), 0);
    assert_string_equal(cfg.now, "");
    assert_int_equal(cfg.now_unix, 0);
    assert_string_equal(cfg.policy_file, "");
    assert_int_equal(cfg.n_kafka_props, 1);
    assert_string_equal(cfg.kafka_props[0].name, "client.rack");
    assert_string_equal(cfg.kafka_props[0].value, "");
}

/* At most CONFIG_MAX_KAFKA_PROPS pass-through properties. */
static void too_many_kafka_props(void **state)
{
    static char vars[CONFIG_MAX_KAFKA_PROPS + 1][40];
    char *env[CONFIG_MAX_KAFKA_PROPS + 2];
    config_t cfg;
    char err[512];

    (void)state;
    for (int i = 0; i <= CONFIG_MAX_KAFKA_PROPS; i++) {
        snprintf(vars[i], sizeof(vars[i]), "RECOBRO_KAFKA_P%d=1", i);
        env[i] = vars[i];
    }
    env[CONFIG_MAX_KAFKA_PROPS + 1] = NULL;
    assert_int_equal(load(&cfg, env, err), -1);
    assert_string_equal(err, "RECOBRO_KAFKA_*: more than 64 properties");
    env[CONFIG_MAX_KAFKA_PROPS] = NULL;
    assert_int_equal(load(&cfg, env, err), 0);
    assert_int_equal(cfg.n_kafka_props, CONFIG_MAX_KAFKA_PROPS);
}

/* Every form of Redis URL we accept or refuse. */
static void redis_urls(void **state)
{
    static const struct {
        const char *url;
        int rc;
        const char *host, *user, *pw;
        int port, db, tls;
    } cases[] = {
        {"redis://h", 0, "h", "", "", 6379, 0, 0},
        {"redis://h/", 0, "h", "", "", 6379, 0, 0},
        {"redis://:pw@h:1/2", 0, "h", "", "pw", 1, 2, 0},
        {"redis://user:pw@h:1/2", 0, "h", "user", "pw", 1, 2, 0},
        {"rediss://user:pw@127.0.0.1:6390/0", 0, "127.0.0.1", "user", "pw", 6390, 0, 1},
        {"rediss://h", 0, "h", "", "", 6379, 0, 1},
        /* "word@" is a user name without a password (RFC 3986), which cannot AUTH: refused
         * rather than read as a password, as it was before */
        {"redis://pw@h", -1, NULL, NULL, NULL, 0, 0, 0},
        {"redis://user:@h", -1, NULL, NULL, NULL, 0, 0, 0},
        {"redis://:a@b@h:7", 0, "h", "", "a@b", 7, 0, 0},
        /* RFC 3986 user-info, percent-decoded by GLib's parser; raw '/', '?', '#' kept too */
        {"redis://us%65r:p%40ss%25w@h", 0, "h", "user", "p@ss%w", 6379, 0, 0},
        {"redis://:a/b?c#d@h:7/1", 0, "h", "", "a/b?c#d", 7, 1, 0},
        {"redis://:pw@h/1?x=1", -1, NULL, NULL, NULL, 0, 0, 0},
        {"redis://:pw@h/1#f", -1, NULL, NULL, NULL, 0, 0, 0},
        {"redis://:p%zzw@h", -1, NULL, NULL, NULL, 0, 0, 0},
        {"redis://:pw@h:65536", -1, NULL, NULL, NULL, 0, 0, 0},
        {"REDISS://h", 0, "h", "", "", 6379, 0, 1}, /* schemes are case-insensitive */
        {"redis:h", -1, NULL, NULL, NULL, 0, 0, 0},
        {"redis://[::1]:6380/3", 0, "::1", "", "", 6380, 3, 0},
        {"redis://h:6379/1000", 0, "h", "", "", 6379, 1000, 0},
        {"redis://h:0", -1, NULL, NULL, NULL, 0, 0, 0},
        {"redis://:1", -1, NULL, NULL, NULL, 0, 0, 0},
        {"redis://h/1001", -1, NULL, NULL, NULL, 0, 0, 0},
        {"redis://h/-1", -1, NULL, NULL, NULL, 0, 0, 0},
        {"redis://h/1x", -1, NULL, NULL, NULL, 0, 0, 0},
        {"redis:///0", -1, NULL, NULL, NULL, 0, 0, 0},
        {"redisx://h", -1, NULL, NULL, NULL, 0, 0, 0},
        {NULL, -1, NULL, NULL, NULL, 0, 0, 0},
    };
    char longpw[400];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config_redis_url_t u;
        int rc = config_parse_redis_url(cases[i].url, &u);
        if (rc != cases[i].rc)
            fail_msg("%s: %d", cases[i].url ? cases[i].url : "NULL", rc);
        if (rc == 0) {
            assert_string_equal(u.host, cases[i].host);
            assert_string_equal(u.user, cases[i].user);
            assert_string_equal(u.password, cases[i].pw);
            assert_int_equal(u.port, cases[i].port);
            assert_int_equal(u.db, cases[i].db);
            assert_int_equal(u.tls, cases[i].tls);
        }
    }
    config_redis_url_t u;
    snprintf(longpw, sizeof(longpw), "redis://:%0300d@h", 1);
    assert_int_equal(config_parse_redis_url(longpw, &u), -1);
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

/* No piece of a PostgreSQL password appears in the error for a connection string libpq cannot
 * parse, whatever libpq quotes from it (before: "missing \"=\" after \"er2\"", or the whole
 * URI). */
static void no_dsn_secret_in_errors(void **state)
{
    static const char *const dsns[] = {
        "RECOBRO_PG_DSN=host=x password=hunt er2",
        "RECOBRO_PG_DSN=host=x password=hunter2 oops",
        "RECOBRO_PG_DSN=host=x password='hunter2",
        "RECOBRO_PG_DSN=host=x hunter2=1",
        "RECOBRO_PG_DSN=postgresql://u:hunter2@h:5432/db?hunter2=1",
        "RECOBRO_PG_DSN=postgresql://u:hun%zzter2@h/db",
        "RECOBRO_PG_DSN=postgresql://u:hunter2@[h/db",
    };
    static const char *const pieces[] = {"hunt", "er2", "zzter"};

    (void)state;
    for (size_t i = 0; i < sizeof(dsns) / sizeof(dsns[0]); i++) {
        config_t cfg;
        char err[512] = "";
        char *env[] = {(char *)dsns[i], NULL};
        assert_int_equal(load(&cfg, env, err), -1);
        assert_true(strncmp(err, "RECOBRO_PG_DSN: not a valid libpq connection string (", 53) == 0);
        for (size_t j = 0; j < sizeof(pieces) / sizeof(pieces[0]); j++)
            if (strstr(err, pieces[j]) != NULL)
                fail_msg("for %s the message was: %s", dsns[i], err);
    }
    config_t cfg;
    char err[512] = "";
    char *env[] = {"RECOBRO_PG_DSN=host=x password=hunt er2", NULL};
    assert_int_equal(load(&cfg, env, err), -1);
    assert_string_equal(err, "RECOBRO_PG_DSN: not a valid libpq connection string (missing \"=\" "
                             "after \"...\" in connection info string)");
}

static void addresses(void **state)
{
    char host[64];
    int port;

    (void)state;
    assert_int_equal(config_parse_addr("127.0.0.1:9101", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9101);
    assert_int_equal(config_parse_addr(":8080", host, sizeof(host), &port), 0);
    assert_string_equal(host, "");
    assert_int_equal(config_parse_addr("[::1]:80", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(config_parse_addr("nohost", host, sizeof(host), &port), -1);
    config_redis_url_t u;
    assert_int_equal(config_parse_redis_url("redis://127.0.0.1:16379/0", &u), 0);
    assert_int_equal(u.port, 16379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.password, "");
    assert_int_equal(config_parse_redis_url("redis://user:pw@h", &u), 0);
    assert_string_equal(u.user, "user");
    assert_string_equal(u.password, "pw");
    assert_string_equal(u.host, "h");
    assert_int_equal(u.port, 6379);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),      cmocka_unit_test(overrides),
        cmocka_unit_test(bad_values),    cmocka_unit_test(no_secret_in_errors),
        cmocka_unit_test(addresses),     cmocka_unit_test(error_texts),
        cmocka_unit_test(empty_allowed), cmocka_unit_test(too_many_kafka_props),
        cmocka_unit_test(redis_urls),    cmocka_unit_test(no_dsn_secret_in_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
