/* commands.c - recobroctl's commands (see commands.h). Each prints its result on stdout and any
 * error on stderr in one line. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casefile.h"
#include "casestore.h"
#include "interactstore.h"
#include "clock.h"
#include "kafka.h"
#include "migrate.h"
#include "money.h"
#include "pg.h"
#include "policy.h"
#include "policystore.h"
#include "service.h"
#include "sweep.h"
#include "calendar.h"

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
    /* Inputs and outputs keep a week; the DLQ keeps a month, time to look and replay. With three
     * replicas or more, a write (acks=all) needs two of them in sync, so one broker may stop
     * without losing an acknowledged message or refusing new ones. */
    static const char *const week1[] = {"retention.ms", "604800000", NULL};
    static const char *const week3[] = {"retention.ms", "604800000", "min.insync.replicas", "2",
                                        NULL};
    /* The DLQ keeps every rejected message whole, including ones over the input topics' size
     * limit set by a producer's own topic settings. */
    static const char *const month1[] = {"retention.ms", "2592000000", "max.message.bytes",
                                         "16777216", NULL};
    static const char *const month3[] = {"retention.ms",
                                         "2592000000",
                                         "max.message.bytes",
                                         "16777216",
                                         "min.insync.replicas",
                                         "2",
                                         NULL};
    const char *const *week = cfg->topic_replication >= 3 ? week3 : week1;
    const char *const *month = cfg->topic_replication >= 3 ? month3 : month1;
    const struct {
        const char *topic;
        const char *const *configs;
    } topics[] = {
        {cfg->topic_invoices, week},     {cfg->topic_payments, week},
        {cfg->topic_interactions, week}, {cfg->topic_tasks, week},
        {cfg->topic_case_events, week},  {cfg->topic_dlq, month},
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

/* ---- Policy and cases (issue 4) ---------------------------------------------------------- */

/* Connects for a command; prints the reason and returns NULL on failure. */
static PGconn *ctl_connect(const config_t *cfg)
{
    char err[600];
    PGconn *conn = pg_connect(cfg->pg_dsn, "recobroctl", err, sizeof(err));
    if (conn == NULL)
        fprintf(stderr, "recobroctl: %s\n", err);
    return conn;
}

/* A money column of row r as a decimal string in its currency (a new reference). */
static json_t *money_col(PGresult *res, int r, const char *name, const char *currency)
{
    char buf[MONEY_FMT_MAX];
    int64_t minor = strtoll(PQgetvalue(res, r, PQfnumber(res, name)), NULL, 10);
    if (money_format(minor, currency, buf, sizeof(buf)) < 0)
        return json_null();
    return json_string(buf);
}

/* A text column of row r, or null. */
static json_t *text_col(PGresult *res, int r, const char *name)
{
    int f = PQfnumber(res, name);
    return PQgetisnull(res, r, f) ? json_null() : json_string(PQgetvalue(res, r, f));
}

/* The case's promises (newest first, at most 20) into *promises, and its latest plan with its
 * instalments (or null) into *plan: new references. Returns 0, or -1 with err. */
static int case_agreements(PGconn *conn, const char *creditor_id, const char *debtor_id,
                           json_t **promises, json_t **plan, char *err, size_t errlen)
{
    const char *p2[2] = {creditor_id, debtor_id};
    PGresult *res = PQexecParams(
        conn,
        "SELECT promise_id, amount, currency, due_on::text AS due_on, made_on::text AS made_on, "
        "paid_toward, state, pending_approval, approved_by, agent_id, cancel_reason "
        "FROM promise WHERE creditor_id = $1 AND debtor_id = $2 "
        "ORDER BY made_on DESC, created_at DESC LIMIT 20",
        2, NULL, p2, NULL, NULL, 0);
    if (pg_expect(res, PGRES_TUPLES_OK, "case.promises", err, errlen) < 0)
        return -1;
    *promises = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        const char *cur = PQgetvalue(res, r, PQfnumber(res, "currency"));
        json_array_append_new(
            *promises,
            json_pack("{s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o}", "promise_id",
                      text_col(res, r, "promise_id"), "amount", money_col(res, r, "amount", cur),
                      "currency", cur, "due_on", text_col(res, r, "due_on"), "made_on",
                      text_col(res, r, "made_on"), "paid", money_col(res, r, "paid_toward", cur),
                      "state", text_col(res, r, "state"), "pending_approval",
                      strcmp(PQgetvalue(res, r, PQfnumber(res, "pending_approval")), "t") == 0,
                      "approved_by", text_col(res, r, "approved_by"), "agent_id",
                      text_col(res, r, "agent_id"), "cancel_reason",
                      text_col(res, r, "cancel_reason")));
    }
    PQclear(res);
    *plan = json_null();
    res =
        PQexecParams(conn,
                     "SELECT plan_id, currency, agreed_on::text AS agreed_on, total, paid, missed, "
                     "state, pending_approval FROM plan WHERE creditor_id = $1 AND "
                     "debtor_id = $2 ORDER BY created_at DESC LIMIT 1",
                     2, NULL, p2, NULL, NULL, 0);
    if (pg_expect(res, PGRES_TUPLES_OK, "case.plan", err, errlen) < 0)
        return -1;
    if (PQntuples(res) == 1) {
        char cur[8];
        snprintf(cur, sizeof(cur), "%s", PQgetvalue(res, 0, PQfnumber(res, "currency")));
        const char *p3[3] = {creditor_id, debtor_id, PQgetvalue(res, 0, PQfnumber(res, "plan_id"))};
        json_decref(*plan);
        *plan = json_pack("{s:o, s:s, s:o, s:o, s:o, s:i, s:o, s:b}", "plan_id",
                          text_col(res, 0, "plan_id"), "currency", cur, "agreed_on",
                          text_col(res, 0, "agreed_on"), "total", money_col(res, 0, "total", cur),
                          "paid", money_col(res, 0, "paid", cur), "missed",
                          atoi(PQgetvalue(res, 0, PQfnumber(res, "missed"))), "state",
                          text_col(res, 0, "state"), "pending_approval",
                          strcmp(PQgetvalue(res, 0, PQfnumber(res, "pending_approval")), "t") == 0);
        PGresult *ins = PQexecParams(conn,
                                     "SELECT slot, due_on::text AS due_on, amount, paid, state, "
                                     "missed FROM plan_installment WHERE creditor_id = $1 AND "
                                     "debtor_id = $2 AND plan_id = $3 ORDER BY slot",
                                     3, NULL, p3, NULL, NULL, 0);
        PQclear(res);
        if (pg_expect(ins, PGRES_TUPLES_OK, "case.installments", err, errlen) < 0)
            return -1;
        json_t *list = json_array();
        for (int r = 0; r < PQntuples(ins); r++)
            json_array_append_new(
                list,
                json_pack("{s:i, s:o, s:o, s:o, s:o, s:b}", "slot",
                          atoi(PQgetvalue(ins, r, PQfnumber(ins, "slot"))), "due_on",
                          text_col(ins, r, "due_on"), "amount", money_col(ins, r, "amount", cur),
                          "paid", money_col(ins, r, "paid", cur), "state",
                          text_col(ins, r, "state"), "missed",
                          strcmp(PQgetvalue(ins, r, PQfnumber(ins, "missed")), "t") == 0));
        PQclear(ins);
        json_object_set_new(*plan, "installments", list);
        return 0;
    }
    PQclear(res);
    return 0;
}

/* The case as an agent wants it: the hot cache's fields, open invoices, promises, plan, recent
 * contacts and tasks. */
static json_t *case_show_new(PGconn *conn, const char *creditor_id, const char *debtor_id, int *rc,
                             char *err, size_t errlen)
{
    casefile_t cf;
    policy_t *p = NULL;
    json_t *tasks = NULL, *out = NULL, *contacts = NULL, *promises = NULL, *plan = NULL;

    *rc = casestore_prepare(conn, err, errlen);
    if (*rc == 0) /* interactions */
        *rc = interactstore_prepare(conn, err, errlen);
    if (*rc == 0)
        *rc = casestore_load(conn, creditor_id, debtor_id, false, &cf, err, errlen);
    else
        memset(&cf, 0, sizeof(cf));
    if (*rc == 0)
        *rc = casestore_tasks_json(conn, creditor_id, debtor_id, 50, &tasks, err, errlen);
    if (*rc == 0) /* interactions: calls_left_7d and next_allowed come with the cache fields */
        *rc =
            interactstore_recent_contacts(conn, creditor_id, debtor_id, 20, &contacts, err, errlen);
    if (*rc == 0)
        *rc = case_agreements(conn, creditor_id, debtor_id, &promises, &plan, err, errlen);
    if (*rc == 0 && policystore_load_for(conn, creditor_id, &p, NULL, NULL, err, errlen) != 0)
        p = NULL; /* calls_left_7d then uses the default contact rules */
    if (*rc == 0) {
        out = casefile_cache_new(&cf, p, clock_now());
        if (out == NULL) {
            /* Known facts only: no invoice.overdue yet. */
            out = json_pack("{s:s, s:s, s:o, s:s, s:n}", "creditor_id", cf.creditor_id, "debtor_id",
                            cf.debtor_id, "currency",
                            cf.currency[0] ? json_string(cf.currency) : json_null(), "status",
                            casefile_status_name(cf.status), "segment");
        }
        if (out != NULL) {
            json_object_set_new(out, "creditor_name", json_string(cf.creditor_name));
            json_object_set_new(out, "timezone", json_string(cf.timezone));
            json_object_set_new(out, "rule", json_string(cf.rule));
            json_object_set_new(out, "strategy", json_string(cf.strategy));
            json_object_set_new(out, "variant", json_string(cf.variant));
            json_object_set_new(out, "invoices", casefile_invoices_new(&cf));
            json_object_set(out, "promises", promises);
            json_object_set(out, "plan", plan);
            json_object_set(out, "recent_contacts", contacts);
            json_object_set(out, "tasks", tasks);
            *rc = ctl_case_extras(conn, creditor_id, debtor_id, out, err, errlen);
        }
    }
    json_decref(tasks);
    json_decref(contacts);
    json_decref(promises);
    json_decref(plan);
    policy_free(p);
    casefile_clear(&cf);
    return out;
}

static int cmd_case_show(const config_t *cfg, int argc, char **argv)
{
    char err[600];
    int rc;

    if (argc != 2) {
        fprintf(stderr, "recobroctl: usage: recobroctl case show CREDITOR DEBTOR\n");
        return EXIT_USAGE;
    }
    PGconn *conn = ctl_connect(cfg);
    if (conn == NULL)
        return EXIT_FAIL;
    json_t *doc = case_show_new(conn, argv[0], argv[1], &rc, err, sizeof(err));
    PQfinish(conn);
    if (rc == CASESTORE_NOT_FOUND) {
        fprintf(stderr, "recobroctl: no case for creditor %s and debtor %s\n", argv[0], argv[1]);
        return EXIT_FAIL;
    }
    if (rc != 0 || doc == NULL) {
        fprintf(stderr, "recobroctl: %s\n", rc != 0 ? err : "out of memory");
        json_decref(doc);
        return EXIT_FAIL;
    }
    return ctl_print_json(doc);
}

/* ---- The scheduler (issue 5) ------------------------------------------------------------- */

/* One due-work sweep as of --now (default: the clock), printed as a one-line JSON summary. Exit 1
 * when the database failed or a due case could not be planned. */
static int cmd_scheduler_tick(const config_t *cfg, int argc, char **argv)
{
    static const char *const usage = "recobroctl: usage: recobroctl scheduler tick "
                                     "[--now INSTANT] (RFC 3339 with an offset)\n";
    char err[700];
    int64_t now = clock_now();
    policyset_t *p = NULL;

    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--now") == 0 && i + 1 < argc)
            v = argv[++i];
        else if (strncmp(argv[i], "--now=", 6) == 0)
            v = argv[i] + 6;
        if (v == NULL || cal_parse_instant(v, &now, NULL) < 0) {
            fputs(usage, stderr);
            return EXIT_USAGE;
        }
    }
    PGconn *conn = ctl_connect(cfg);
    if (conn == NULL)
        return EXIT_FAIL;
    int rc = sweep_prepare(conn, err, sizeof(err));
    if (rc == 0 && (rc = policystore_load_set(conn, &p, err, sizeof(err))) != 0) {
        if (rc == POLICYSTORE_NONE)
            snprintf(err, sizeof(err), "no policy: load one with `recobroctl policy load FILE`");
        rc = -1;
    }
    if (rc != 0) {
        fprintf(stderr, "recobroctl: %s\n", err);
        policyset_free(p);
        PQfinish(conn);
        return EXIT_FAIL;
    }
    cache_t *cache = cache_new(cfg->redis_url, cfg->cache_ttl_s, err, sizeof(err));
    sweep_opts_t opts = {
        cfg->topic_tasks, cfg->topic_case_events, cache, 0, NULL, cfg->snapshot_retention_days};
    sweep_stats_t st = SWEEP_STATS_INIT;
    rc = sweep_run(conn, p, now, &opts, &st, err, sizeof(err));
    char *summary = sweep_stats_json(&st, now);
    if (summary != NULL)
        printf("%s\n", summary);
    free(summary);
    if (rc != RESULT_OK)
        fprintf(stderr, "recobroctl: %s\n", err);
    else if (st.failed > 0)
        fprintf(stderr, "recobroctl: %ld due case(s) could not be planned (see the log)\n",
                st.failed);
    cache_free(cache);
    policyset_free(p);
    PQfinish(conn);
    return rc == RESULT_OK && st.failed == 0 ? EXIT_OK : EXIT_FAIL;
}

/* Longer commands first (ctl_find() takes the first match), each with its usage. */
static const ctl_command_t commands[] = {
    {{"migrate", "status", NULL},
     2,
     cmd_migrate_status,
     "",
     "print the schema version of the database and of this build"},
    {{"migrate", NULL, NULL},
     1,
     cmd_migrate,
     "",
     "create or upgrade the database schema (idempotent)"},
    {{"topics", "ensure", NULL},
     2,
     cmd_topics_ensure,
     "",
     "create the contract's topics if missing (idempotent)"},
    {{"policy", "load", NULL},
     2,
     ctl_policy_load,
     "FILE [--creditor CREDITOR_ID]",
     "check a policy and make it the active default, or the policy of one creditor (its cases "
     "are planned under it; every other creditor's under the default)"},
    {{"policy", "show", NULL},
     2,
     ctl_policy_show,
     "[--creditor CREDITOR_ID]",
     "print the active default policy, or the one the creditor's cases are planned under"},
    {{"policy", "list", NULL},
     2,
     ctl_policy_list,
     "",
     "print which policy (policy_id, policy_version) is the default and which creditors have "
     "their own (JSON)"},
    {{"case", "show", NULL},
     2,
     cmd_case_show,
     "CREDITOR DEBTOR",
     "print a case as an agent sees it (JSON): balance, segment and the policy it is planned "
     "under, invoices, promises, plan, payments with their allocations, disputes, segment "
     "history, contacts, tasks"},
    {{"scheduler", "tick", NULL},
     2,
     cmd_scheduler_tick,
     "[--now INSTANT]",
     "run one due-work sweep as of INSTANT (RFC 3339 with an offset; default now), print a "
     "JSON summary"},
    {{"dlq", "replay", NULL},
     2,
     ctl_dlq_replay,
     "[--reason CODE] [--source-topic TOPIC] [--to TOPIC] [--limit N] [--dry-run]",
     "send rejected messages back to their input topic"},
    {{"report", NULL, NULL},
     1,
     ctl_report,
     "[--creditor ID] [--from DATE] [--to DATE] [--format json|text|csv|html] [--out FILE]",
     "print the business measures and analytics (JSON by default; html: one page with charts)"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* "case show CREDITOR DEBTOR" into buf. */
static const char *synopsis(const ctl_command_t *c, char *buf, size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    for (int w = 0; w < c->words && n < size; w++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", w ? " " : "", c->word[w]);
    if (c->args[0] != '\0' && n < size)
        snprintf(buf + n, size - n, " %s", c->args);
    return buf;
}

void ctl_usage(FILE *out)
{
    char syn[256];

    for (size_t i = 0; i < N_COMMANDS; i++) {
        synopsis(&commands[i], syn, sizeof(syn));
        if (strlen(syn) <= 20)
            fprintf(out, "  %-20s %s\n", syn, commands[i].about);
        else
            fprintf(out, "  %s\n  %-20s %s\n", syn, "", commands[i].about);
    }
}

void ctl_command_usage(FILE *out, const ctl_command_t *cmd)
{
    char syn[256];

    fprintf(out, "usage: recobroctl %s\n%s\n", synopsis(cmd, syn, sizeof(syn)), cmd->about);
}

const ctl_command_t *ctl_find(int argc, char **argv)
{
    /* The table lists longer commands first, so the first match is the longest. */
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const ctl_command_t *c = &commands[i];
        int ok = argc >= c->words;
        for (int w = 0; ok && w < c->words; w++)
            ok = strcmp(argv[w], c->word[w]) == 0;
        if (ok)
            return c;
    }
    return NULL;
}

int ctl_print_json(json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    json_decref(doc);
    if (text == NULL) {
        fprintf(stderr, "recobroctl: out of memory\n");
        return EXIT_FAIL;
    }
    printf("%s\n", text);
    free(text);
    return EXIT_OK;
}
