/* commands.c - recobroctl's commands (see commands.h). Each prints its result on stdout and any
 * error on stderr in one line. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

#include "kafka.h"
#include "migrate.h"
#include "pg.h"
#include "service.h"

static int cmd_migrate(const config_t *cfg, int argc, char **argv)
{
    char err[600];
    int from, to;

    (void)argv;
    if (argc != 0) {
        fprintf(stderr, "recobroctl: usage: recobroctl migrate\n");
        return EXIT_USAGE;
    }
    PGconn *conn = pg_connect(cfg->pg_dsn, "recobroctl", err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "recobroctl: %s\n", err);
        return EXIT_FAIL;
    }
    int rc = migrate_run(conn, &from, &to, err, sizeof(err));
    PQfinish(conn);
    if (rc < 0) {
        fprintf(stderr, "recobroctl: %s\n", err);
        return EXIT_FAIL;
    }
    if (from == to)
        printf("schema is up to date (version %d)\n", to);
    else
        printf("schema migrated from version %d to %d\n", from, to);
    return EXIT_OK;
}

static int cmd_migrate_status(const config_t *cfg, int argc, char **argv)
{
    char err[600];
    int version;

    (void)argv;
    if (argc != 0) {
        fprintf(stderr, "recobroctl: usage: recobroctl migrate status\n");
        return EXIT_USAGE;
    }
    PGconn *conn = pg_connect(cfg->pg_dsn, "recobroctl", err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "recobroctl: %s\n", err);
        return EXIT_FAIL;
    }
    int rc = migrate_current(conn, &version, err, sizeof(err));
    PQfinish(conn);
    if (rc < 0) {
        fprintf(stderr, "recobroctl: %s\n", err);
        return EXIT_FAIL;
    }
    printf("database version %d, build version %d\n", version, migrate_latest_version());
    return version > migrate_latest_version() ? EXIT_FAIL : EXIT_OK;
}

static int cmd_topics_ensure(const config_t *cfg, int argc, char **argv)
{
    char err[600];
    int created = 0, existing = 0;
    /* Inputs and outputs keep a week; the DLQ keeps a month, time to look and replay. */
    static const char *const week[] = {"retention.ms", "604800000", NULL};
    /* The DLQ keeps every rejected message whole, including ones over the input topics' size
     * limit set by a producer's own topic settings. */
    static const char *const month[] = {"retention.ms", "2592000000", "max.message.bytes",
                                        "16777216", NULL};
    const struct {
        const char *topic;
        const char *const *configs;
    } topics[] = {
        {cfg->topic_invoices, week}, {cfg->topic_payments, week},
        {cfg->topic_interactions, week}, {cfg->topic_tasks, week},
        {cfg->topic_case_events, week}, {cfg->topic_dlq, month},
    };

    (void)argv;
    if (argc != 0) {
        fprintf(stderr, "recobroctl: usage: recobroctl topics ensure\n");
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        int c, e;
        if (kafka_topics_ensure(cfg, &topics[i].topic, 1, cfg->topic_partitions,
                                cfg->topic_replication, topics[i].configs, &c, &e, err,
                                sizeof(err)) < 0) {
            fprintf(stderr, "recobroctl: %s\n", err);
            return EXIT_FAIL;
        }
        created += c;
        existing += e;
    }
    printf("topics: %d created, %d already present\n", created, existing);
    return EXIT_OK;
}

static const ctl_command_t commands[] = {
    {{"migrate", "status", NULL}, 2, cmd_migrate_status},
    {{"migrate", NULL, NULL}, 1, cmd_migrate},
    {{"topics", "ensure", NULL}, 2, cmd_topics_ensure},
};

const ctl_command_t *ctl_find(int argc, char **argv)
{
    /* The table lists longer commands first, so the first match is the longest. */
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        const ctl_command_t *c = &commands[i];
        int ok = argc >= c->words;
        for (int w = 0; ok && w < c->words; w++)
            ok = strcmp(argv[w], c->word[w]) == 0;
        if (ok)
            return c;
    }
    return NULL;
}
