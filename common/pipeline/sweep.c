/* sweep.c - one due-work sweep of the scheduler (see sweep.h). */
#include "sweep.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casefile.h"
#include "casestore.h"
#include "caseworker.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "paystore.h"
#include "pg.h"
#include "calendar.h"

/* The next due case no other scheduler holds, locked for this transaction. */
#define SQL_NEXT_DUE                                                                               \
    "SELECT creditor_id, debtor_id FROM debt_case "                                                \
    "WHERE next_due_at <= to_timestamp($1::bigint) "                                               \
    "ORDER BY next_due_at LIMIT 1 FOR UPDATE SKIP LOCKED"

/* Sets a case that could not be planned aside until $3 (updated_at unchanged: the trigger keeps
 * the value). */
#define SQL_SET_ASIDE                                                                              \
    "UPDATE debt_case SET next_due_at = to_timestamp($3::bigint) "                                 \
    "WHERE creditor_id = $1 AND debtor_id = $2"

int sweep_prepare(PGconn *conn, char *err, size_t errlen)
{
    static const struct {
        const char *name, *sql;
    } stmts[] = {{"sw_next_due", SQL_NEXT_DUE}, {"sw_set_aside", SQL_SET_ASIDE}};
    int rc = casestore_prepare(conn, err, errlen); /* paystore's statements too */

    if (rc != 0)
        return rc == RESULT_TRANSIENT ? RESULT_TRANSIENT : RESULT_PERMANENT;
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
        PGresult *res = PQprepare(conn, stmts[i].name, stmts[i].sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            int transient = pg_is_transient(conn, res);
            snprintf(err, errlen, "prepare %s: %s", stmts[i].name,
                     pg_oneline(PQresultErrorMessage(res)));
            PQclear(res);
            return transient ? RESULT_TRANSIENT : RESULT_PERMANENT;
        }
        PQclear(res);
    }
    return 0;
}

/* Runs `sql` without parameters expecting COMMAND_OK. Returns 0 or a SWEEP_ error. */
static int exec_cmd(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        return 0;
    }
    int transient = pg_is_transient(conn, res);
    snprintf(err, errlen, "%s: %s", sql, pg_oneline(PQresultErrorMessage(res)));
    PQclear(res);
    return transient ? RESULT_TRANSIENT : RESULT_PERMANENT;
}

static void rollback(PGconn *conn)
{
    if (PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, "ROLLBACK"));
}

/* Adds what one planning produced to the stats and the metrics. */
static void count(const casefile_plan_t *plan, sweep_stats_t *stats)
{
    for (size_t i = 0; i < plan->n_outputs; i++) {
        const char *type = plan->outputs[i].type;
        if (plan->outputs[i].topic == CASEFILE_TOPIC_CASE_EVENTS) {
            stats->case_events++;
            if (type != NULL && strcmp(type, "case.segment_changed") == 0)
                stats->segment_changes++;
            else if (type != NULL &&
                     (strncmp(type, "promise.", 8) == 0 || strncmp(type, "plan.", 5) == 0))
                stats->promises_settled++;
        } else if (type != NULL && strcmp(type, "task.cancelled") == 0) {
            stats->tasks_cancelled++;
        }
    }
    stats->tasks_created += (long)plan->n_created;
    caseworker_count_plan(plan);
}

/* Sets a case that failed permanently aside for SWEEP_RETRY_S, in its own statement. */
static int set_aside(PGconn *conn, const char *creditor_id, const char *debtor_id, int64_t now,
                     char *err, size_t errlen)
{
    char until[24];
    snprintf(until, sizeof(until), "%" PRId64, now + SWEEP_RETRY_S);
    const char *p[3] = {creditor_id, debtor_id, until};
    PGresult *res = PQexecPrepared(conn, "sw_set_aside", 3, p, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        return 0;
    }
    int transient = pg_is_transient(conn, res);
    snprintf(err, errlen, "sw_set_aside: %s", pg_oneline(PQresultErrorMessage(res)));
    PQclear(res);
    return transient ? RESULT_TRANSIENT : RESULT_PERMANENT;
}

/* Writes the hot case after the commit; a failed write is remembered in cache_pending. */
static void write_cache(PGconn *conn, const sweep_opts_t *opts, const casefile_t *cf,
                        const policy_t *policy, int64_t now, sweep_stats_t *stats)
{
    char key[2 * CASEFILE_ID_MAX + 16], err[600];

    if (opts->cache == NULL)
        return;
    json_t *doc = casefile_cache_new(cf, policy, now);
    char *json = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (json == NULL)
        return;
    snprintf(key, sizeof(key), "recobro:case:%s:%s", cf->creditor_id, cf->debtor_id);
    if (cache_put(opts->cache, key, json, cf->version) < 0) {
        stats->cache_failed++;
        metrics_inc("recobro_cache_errors_total", "Hot-case writes that failed", NULL, 1);
        if (cache_remember(conn, key, json, cf->version, err, sizeof(err)) < 0) {
            char esc[700];
            LOG_WARN("cache.remember_failed", "\"error\":\"%s\"",
                     log_json_escape(err, esc, sizeof(esc)));
        }
    }
    free(json);
}

/* Outcome of one case: planned, nothing due, set aside, or a database failure (rc). */
typedef enum { ONE_DONE, ONE_NONE, ONE_FAILED, ONE_ERROR } one_t;

/* Takes the next due case and plans it in one transaction. */
static one_t sweep_one(PGconn *conn, const policy_t *policy, int64_t now, const sweep_opts_t *opts,
                       outbox_t *ob, sweep_stats_t *stats, int *rc, char *err, size_t errlen)
{
    char nowtxt[24], creditor_id[CASEFILE_ID_MAX], debtor_id[CASEFILE_ID_MAX];
    char key[2 * CASEFILE_ID_MAX + 2], esc1[300], esc2[300], esc3[700];
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    const char *what = "plan";

    memset(&cf, 0, sizeof(cf));
    if ((*rc = exec_cmd(conn, "BEGIN", err, errlen)) != 0)
        return ONE_ERROR;
    snprintf(nowtxt, sizeof(nowtxt), "%" PRId64, now);
    const char *p[1] = {nowtxt};
    PGresult *res = PQexecPrepared(conn, "sw_next_due", 1, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *rc = pg_is_transient(conn, res) ? RESULT_TRANSIENT : RESULT_PERMANENT;
        snprintf(err, errlen, "sw_next_due: %s", pg_oneline(PQresultErrorMessage(res)));
        PQclear(res);
        rollback(conn);
        return ONE_ERROR;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *rc = exec_cmd(conn, "COMMIT", err, errlen);
        return *rc == 0 ? ONE_NONE : ONE_ERROR;
    }
    snprintf(creditor_id, sizeof(creditor_id), "%s",
             PQgetvalue(res, 0, PQfnumber(res, "creditor_id")));
    snprintf(debtor_id, sizeof(debtor_id), "%s", PQgetvalue(res, 0, PQfnumber(res, "debtor_id")));
    PQclear(res);

    /* The row is ours until the commit: load (locks it again, a no-op), plan, save. */
    *rc = casestore_load(conn, creditor_id, debtor_id, true, &cf, err, errlen);
    if (*rc != 0) {
        what = "load";
        goto case_failed;
    }
    /* Promises and instalments whose due date plus grace has passed (promise.kept / .broken,
     * plan.defaulted, and the features that re-segment the case). */
    *rc = paystore_evaluate(conn, &cf, policy, now, SWEEP_SOURCE, &plan, err, errlen);
    if (*rc != 0) {
        what = "promises";
        goto case_failed;
    }
    if (casefile_plan(&cf, policy, now, &plan, err, errlen) < 0) {
        *rc = RESULT_PERMANENT;
        goto case_failed;
    }
    *rc = casestore_save(conn, &cf, &plan, err, errlen);
    if (*rc != 0) {
        what = "save";
        goto case_failed;
    }
    snprintf(key, sizeof(key), "%s/%s", cf.creditor_id, cf.debtor_id);
    outbox_clear(ob);
    for (size_t i = 0; i < plan.n_outputs; i++) {
        const char *topic = plan.outputs[i].topic == CASEFILE_TOPIC_TASKS ? opts->topic_tasks
                                                                          : opts->topic_case_events;
        const casefile_output_t *o = &plan.outputs[i];
        json_t *ev = ce_case_output_new(o->id, SWEEP_SOURCE, o->type, o->at, cf.creditor_id,
                                        cf.debtor_id, o->data);
        int added = ev != NULL ? outbox_add_event(ob, topic, key, ev) : -1;
        json_decref(ev);
        if (added < 0) {
            snprintf(err, errlen, "out of memory");
            *rc = RESULT_TRANSIENT;
            goto db_error;
        }
    }
    if (outbox_count(ob) > 0 && (*rc = outbox_flush(ob, conn, err, errlen)) != 0) {
        *rc = *rc == RESULT_TRANSIENT ? RESULT_TRANSIENT : RESULT_PERMANENT;
        goto db_error;
    }
    if ((*rc = exec_cmd(conn, "COMMIT", err, errlen)) != 0)
        goto db_error;
    stats->cases++;
    count(&plan, stats);
    write_cache(conn, opts, &cf, policy, now, stats);
    LOG_DEBUG("case.swept",
              "\"creditor_id\":\"%s\",\"debtor_id\":\"%s\",\"segment\":\"%s\",\"outputs\":%zu",
              log_json_escape(creditor_id, esc1, sizeof(esc1)),
              log_json_escape(debtor_id, esc2, sizeof(esc2)),
              cf.segmented ? segment_name(cf.segment) : "", plan.n_outputs);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
    return ONE_DONE;

case_failed:
    if (*rc == RESULT_TRANSIENT) {
        *rc = RESULT_TRANSIENT;
        goto db_error;
    }
    /* This case cannot be planned as it stands: set it aside, go on with the others. */
    rollback(conn);
    LOG_WARN("case.sweep_failed",
             "\"creditor_id\":\"%s\",\"debtor_id\":\"%s\",\"what\":\"%s\",\"error\":\"%s\"",
             log_json_escape(creditor_id, esc1, sizeof(esc1)),
             log_json_escape(debtor_id, esc2, sizeof(esc2)), what,
             log_json_escape(err, esc3, sizeof(esc3)));
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
    stats->failed++;
    metrics_inc("recobro_scheduler_cases_failed_total", "Due cases that could not be planned", NULL,
                1);
    *rc = set_aside(conn, creditor_id, debtor_id, now, err, errlen);
    return *rc == 0 ? ONE_FAILED : ONE_ERROR;

db_error:
    rollback(conn);
    outbox_clear(ob);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
    return ONE_ERROR;
}

int sweep_run(PGconn *conn, const policy_t *policy, int64_t now, const sweep_opts_t *opts,
              sweep_stats_t *stats, char *err, size_t errlen)
{
    outbox_t *ob = outbox_new();
    int rc = RESULT_OK;

    if (ob == NULL) {
        snprintf(err, errlen, "out of memory");
        return RESULT_TRANSIENT;
    }
    for (int n = 0; opts->max_cases <= 0 || n < opts->max_cases; n++) {
        if (opts->stop != NULL && *opts->stop)
            break;
        one_t r = sweep_one(conn, policy, now, opts, ob, stats, &rc, err, errlen);
        if (r == ONE_NONE || r == ONE_ERROR)
            break;
        if (r == ONE_DONE)
            metrics_inc("recobro_scheduler_cases_swept_total", "Due cases planned by the scheduler",
                        NULL, 1);
    }
    outbox_free(ob);
    return rc;
}

char *sweep_stats_json(const sweep_stats_t *s, int64_t now)
{
    char at[32];

    cal_format_utc(now, at, sizeof(at));
    json_t *o =
        json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "now", at, "cases",
                  (json_int_t)s->cases, "failed", (json_int_t)s->failed, "tasks_created",
                  (json_int_t)s->tasks_created, "tasks_cancelled", (json_int_t)s->tasks_cancelled,
                  "segment_changes", (json_int_t)s->segment_changes, "case_events",
                  (json_int_t)s->case_events, "promises_settled", (json_int_t)s->promises_settled,
                  "cache_failed", (json_int_t)s->cache_failed);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}
