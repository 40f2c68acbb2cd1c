/* sweep.c - one due-work sweep of the scheduler (see sweep.h). */
#include "sweep.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cacheowe.h"
#include "calendar.h"
#include "casefile.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "pg.h"
#include "pipeline.h"
#include "snapshot.h"

/* The next due case no other scheduler holds, locked for this transaction. */
#define SQL_NEXT_DUE                                                                               \
    "SELECT creditor_id, debtor_id FROM debt_case "                                                \
    "WHERE next_due_at <= to_timestamp($1::bigint) "                                               \
    "ORDER BY next_due_at LIMIT 1 FOR UPDATE SKIP LOCKED"

/* Up to $2 due cases no other scheduler holds, oldest due first, locked for this transaction. */
#define SQL_DUE                                                                                    \
    "SELECT creditor_id, debtor_id FROM debt_case "                                                \
    "WHERE next_due_at <= to_timestamp($1::bigint) "                                               \
    "ORDER BY next_due_at LIMIT $2 FOR UPDATE SKIP LOCKED"

/* Sets a case that could not be planned aside until $3 (updated_at unchanged: the trigger keeps
 * the value). */
#define SQL_SET_ASIDE                                                                              \
    "UPDATE debt_case SET next_due_at = to_timestamp($3::bigint) "                                 \
    "WHERE creditor_id = $1 AND debtor_id = $2"

int sweep_prepare(PGconn *conn, char *err, size_t errlen)
{
    static const struct {
        const char *name, *sql;
    } stmts[] = {
        {"sw_next_due", SQL_NEXT_DUE}, {"sw_due", SQL_DUE}, {"sw_set_aside", SQL_SET_ASIDE}};
    int rc = pipeline_prepare(conn, err, errlen);

    if (rc != 0)
        return rc == RESULT_TRANSIENT ? RESULT_TRANSIENT : RESULT_PERMANENT;
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
        PGresult *res = PQprepare(conn, stmts[i].name, stmts[i].sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            return pg_fail(conn, res, stmts[i].name, err, errlen);
        PQclear(res);
    }
    rc = snapshot_prepare(conn, err, errlen);
    return rc == 0 ? 0 : rc == RESULT_TRANSIENT ? RESULT_TRANSIENT : RESULT_PERMANENT;
}

/* Runs `sql` without parameters expecting COMMAND_OK. Returns 0, RESULT_PERMANENT or
 * RESULT_TRANSIENT. */
static int exec_cmd(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        return 0;
    }
    return pg_fail(conn, res, sql, err, errlen);
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
    pipeline_count_plan(plan);
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
    return pg_fail(conn, res, "sw_set_aside", err, errlen);
}

/* The scheduler's handler: the open promise and the active plan settled as of the tick, then
 * the pipeline plans the case as of `now` (the ladder steps whose day has come). */
static const pipeline_handler_t tick_handler = {"scheduler.tick",
                                                CASEFILE_ROW_OPEN_PROMISE | CASEFILE_ROW_OPEN_PLAN,
                                                NULL, casedecide_tick, NULL};

/* Remembers a hot-case write that failed (cache_pending). Returns 0, or -1 when it could not be
 * remembered either. */
static int remember(PGconn *conn, const cache_entry_t *e, sweep_stats_t *stats)
{
    char err[600], esc[700];

    stats->cache_failed++;
    metrics_inc("recobro_cache_errors_total", "Hot-case writes that failed", NULL, 1);
    if (cache_remember(conn, e->key, e->json, e->version, err, sizeof(err)) == 0)
        return 0;
    LOG_WARN("cache.remember_failed", "\"error\":\"%s\"", log_json_escape(err, esc, sizeof(esc)));
    return -1;
}

/* Writes the n hot cases after the commit in one pipelined Redis round trip (cache_put_many());
 * a failed write is remembered in cache_pending. Returns 0, or -1 when a write failed and could
 * not be remembered either (or memory ran out: the cache_owed record then re-writes them). */
static int write_caches(PGconn *conn, const sweep_opts_t *opts, const policyset_t *policies,
                        const casefile_t *cfs, size_t n, int64_t now, sweep_stats_t *stats)
{
    typedef char cache_key_buf_t[2 * CASEFILE_ID_MAX + 16];
    cache_entry_t *es = opts->cache != NULL ? calloc(n + 1, sizeof(*es)) : NULL;
    cache_key_buf_t *keys = es != NULL ? calloc(n + 1, sizeof(*keys)) : NULL;
    size_t m = 0;
    int rc = 0;

    if (opts->cache == NULL)
        return 0;
    for (size_t i = 0; keys != NULL && i < n; i++) {
        const casefile_t *cf = &cfs[i];
        char *json = pipeline_cache_json(cf, policyset_for(policies, cf->creditor_id), now);
        if (json == NULL)
            continue; /* nothing the cache shows */
        pipeline_cache_key(cf, keys[m], sizeof(keys[m]));
        es[m] = (cache_entry_t){keys[m], json, cf->version, -1};
        m++;
    }
    if (keys == NULL)
        rc = -1;
    else if (m > 0 && cache_put_many(opts->cache, es, m) > 0)
        for (size_t i = 0; i < m; i++)
            if (es[i].result < 0 && remember(conn, &es[i], stats) < 0)
                rc = -1;
    for (size_t i = 0; i < m; i++)
        free((char *)es[i].json);
    free(keys);
    free(es);
    return rc;
}

/* COMMITs the batch of n cases, recording in the same round trip the cases whose cache writes
 * it owes (cacheowe.h: a kill before they are written leaves them to be re-written). Returns 0
 * with *owed_id (0: nothing recorded), or pg_fail()'s code. */
static int commit_owing(PGconn *conn, const sweep_opts_t *opts, const casefile_t *cfs, size_t n,
                        int64_t *owed_id, char *err, size_t errlen)
{
    const char **ids = opts->cache != NULL ? calloc(2 * n + 1, sizeof(*ids)) : NULL;

    *owed_id = 0;
    if (ids == NULL)
        return exec_cmd(conn, "COMMIT", err, errlen);
    for (size_t i = 0; i < n; i++) {
        ids[i] = cfs[i].creditor_id;
        ids[n + i] = cfs[i].debtor_id;
    }
    int64_t id = cacheowe_id();
    PGresult *res = cacheowe_commit(conn, id, ids, ids + n, n);
    free(ids);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return pg_fail(conn, res, "COMMIT", err, errlen);
    PQclear(res);
    *owed_id = id;
    return 0;
}

/* Outcome of one case: planned, nothing due, set aside, or a database failure (rc). */
typedef enum { ONE_DONE, ONE_NONE, ONE_FAILED, ONE_ERROR } one_t;

/* Opens the case's transaction and takes the next due case no other scheduler holds into
 * creditor_id / debtor_id. Returns ONE_DONE with a case in hand (transaction open), ONE_NONE
 * when none is due (committed), ONE_ERROR with *rc (rolled back). */
static one_t claim_next(PGconn *conn, int64_t now, char creditor_id[CASEFILE_ID_MAX],
                        char debtor_id[CASEFILE_ID_MAX], int *rc, char *err, size_t errlen)
{
    char nowtxt[24];

    if ((*rc = exec_cmd(conn, "BEGIN", err, errlen)) != 0)
        return ONE_ERROR;
    snprintf(nowtxt, sizeof(nowtxt), "%" PRId64, now);
    const char *p[1] = {nowtxt};
    PGresult *res = PQexecPrepared(conn, "sw_next_due", 1, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *rc = pg_fail(conn, res, "sw_next_due", err, errlen);
        rollback(conn);
        return ONE_ERROR;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *rc = exec_cmd(conn, "COMMIT", err, errlen);
        return *rc == 0 ? ONE_NONE : ONE_ERROR;
    }
    snprintf(creditor_id, CASEFILE_ID_MAX, "%s", PQgetvalue(res, 0, PQfnumber(res, "creditor_id")));
    snprintf(debtor_id, CASEFILE_ID_MAX, "%s", PQgetvalue(res, 0, PQfnumber(res, "debtor_id")));
    PQclear(res);
    return ONE_DONE;
}

/* A case that cannot be planned as it stands: rolled back and set aside; the sweep goes on. */
static one_t case_failed(PGconn *conn, const char *creditor_id, const char *debtor_id, int64_t now,
                         sweep_stats_t *stats, int *rc, char *err, size_t errlen)
{
    char esc1[300], esc2[300], esc3[700];

    rollback(conn);
    LOG_WARN("case.sweep_failed", "\"creditor_id\":\"%s\",\"debtor_id\":\"%s\",\"error\":\"%s\"",
             log_json_escape(creditor_id, esc1, sizeof(esc1)),
             log_json_escape(debtor_id, esc2, sizeof(esc2)),
             log_json_escape(err, esc3, sizeof(esc3)));
    stats->failed++;
    metrics_inc("recobro_scheduler_cases_failed_total", "Due cases that could not be planned", NULL,
                1);
    *rc = set_aside(conn, creditor_id, debtor_id, now, err, errlen);
    return *rc == 0 ? ONE_FAILED : ONE_ERROR;
}

/* The day's snapshot of the n planned cases (snapshot.h), in the transaction that planned them:
 * one statement for the batch. Returns 0, RESULT_TRANSIENT or RESULT_PERMANENT. */
static int write_snapshot(PGconn *conn, const casefile_t *cfs, size_t n, int64_t now, char *err,
                          size_t errlen)
{
    const char **ids = calloc(2 * n + 1, sizeof(*ids));
    int rc;

    if (ids == NULL) {
        snprintf(err, errlen, "out of memory");
        return RESULT_TRANSIENT;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = cfs[i].creditor_id;
        ids[n + i] = cfs[i].debtor_id;
    }
    rc = snapshot_write(conn, ids, ids + n, n, now, err, errlen);
    free(ids);
    return rc == 0 ? 0 : rc == RESULT_TRANSIENT ? RESULT_TRANSIENT : RESULT_PERMANENT;
}

/* Writes the day's snapshot and the outbox and commits the cases; then, for each, the stats and
 * the hot case. */
static one_t commit_cases(PGconn *conn, const policyset_t *policies, int64_t now,
                          const sweep_opts_t *opts, outbox_t *ob, const casefile_t *cfs,
                          const casefile_plan_t *plans, size_t n, sweep_stats_t *stats, int *rc,
                          char *err, size_t errlen)
{
    char esc1[300], esc2[300];
    int64_t owed_id = 0;
    int unwritten = 0;

    *rc = write_snapshot(conn, cfs, n, now, err, errlen);
    if (*rc == 0 && outbox_count(ob) > 0 && (*rc = outbox_flush(ob, conn, err, errlen)) != 0)
        *rc = *rc == RESULT_TRANSIENT ? RESULT_TRANSIENT : RESULT_PERMANENT;
    else if (*rc == 0)
        *rc = commit_owing(conn, opts, cfs, n, &owed_id, err, errlen);
    if (*rc != 0) {
        rollback(conn);
        return ONE_ERROR;
    }
    if (owed_id != 0)
        cacheowe_test_crash_point();
    for (size_t i = 0; i < n; i++) {
        const casefile_t *cf = &cfs[i];
        stats->cases++;
        count(&plans[i], stats);
        LOG_DEBUG("case.swept",
                  "\"creditor_id\":\"%s\",\"debtor_id\":\"%s\",\"segment\":\"%s\",\"outputs\":%zu",
                  log_json_escape(cf->creditor_id, esc1, sizeof(esc1)),
                  log_json_escape(cf->debtor_id, esc2, sizeof(esc2)),
                  cf->segmented ? segment_name(cf->segment) : "", plans[i].n_outputs);
    }
    if (write_caches(conn, opts, policies, cfs, n, now, stats) < 0)
        unwritten = 1;
    /* Written or remembered: the record is done with (lost, it costs a redundant re-write). */
    if (owed_id != 0 && !unwritten && cacheowe_clear(conn, owed_id) < 0)
        LOG_DEBUG("cache.owed_not_cleared", NULL);
    return ONE_DONE;
}

/* Takes the next due case and plans it through the case pipeline in one transaction. */
static one_t sweep_one(PGconn *conn, const policyset_t *policies, int64_t now,
                       const sweep_opts_t *opts, outbox_t *ob, sweep_stats_t *stats, int *rc,
                       char *err, size_t errlen)
{
    const pipeline_ctx_t ctx = {policies->fallback,      now, SWEEP_SOURCE, opts->topic_tasks,
                                opts->topic_case_events, ob,  policies};
    char creditor_id[CASEFILE_ID_MAX], debtor_id[CASEFILE_ID_MAX];
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    reason_t rej;
    one_t r = claim_next(conn, now, creditor_id, debtor_id, rc, err, errlen);

    if (r != ONE_DONE)
        return r;
    /* The row is ours until the commit: the pipeline's load locks it again (a no-op). */
    memset(&cf, 0, sizeof(cf));
    outbox_clear(ob);
    *rc = pipeline_run_case(&ctx, conn, creditor_id, debtor_id, &tick_handler, NULL, &cf, &plan,
                            &rej, err, errlen);
    if (*rc == RESULT_REJECTED)
        snprintf(err, errlen, "%s: %s", rej.code, rej.detail);
    if (*rc == RESULT_TRANSIENT) {
        rollback(conn);
        outbox_clear(ob);
        r = ONE_ERROR;
    } else if (*rc != RESULT_OK) {
        r = case_failed(conn, creditor_id, debtor_id, now, stats, rc, err, errlen);
    } else {
        r = commit_cases(conn, policies, now, opts, ob, &cf, &plan, 1, stats, rc, err, errlen);
    }
    if (r == ONE_ERROR)
        outbox_clear(ob);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
    return r;
}

/* A claimed due case. */
typedef struct sweep_case {
    char creditor_id[CASEFILE_ID_MAX], debtor_id[CASEFILE_ID_MAX];
} sweep_case_t;

/* Opens the batch's transaction and claims up to `want` due cases no other scheduler holds into
 * cases[0..*got). Returns ONE_DONE with cases in hand (transaction open), ONE_NONE when none is
 * due (committed), ONE_ERROR with *rc (rolled back). */
static one_t claim_due(PGconn *conn, int64_t now, int want, sweep_case_t *cases, int *got, int *rc,
                       char *err, size_t errlen)
{
    char nowtxt[24], limit[16];

    if ((*rc = exec_cmd(conn, "BEGIN", err, errlen)) != 0)
        return ONE_ERROR;
    snprintf(nowtxt, sizeof(nowtxt), "%" PRId64, now);
    snprintf(limit, sizeof(limit), "%d", want);
    const char *p[2] = {nowtxt, limit};
    PGresult *res = PQexecPrepared(conn, "sw_due", 2, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *rc = pg_fail(conn, res, "sw_due", err, errlen);
        rollback(conn);
        return ONE_ERROR;
    }
    int fc = PQfnumber(res, "creditor_id"), fd = PQfnumber(res, "debtor_id");
    *got = PQntuples(res);
    for (int i = 0; i < *got; i++) {
        snprintf(cases[i].creditor_id, CASEFILE_ID_MAX, "%s", PQgetvalue(res, i, fc));
        snprintf(cases[i].debtor_id, CASEFILE_ID_MAX, "%s", PQgetvalue(res, i, fd));
    }
    PQclear(res);
    if (*got > 0)
        return ONE_DONE;
    *rc = exec_cmd(conn, "COMMIT", err, errlen);
    return *rc == 0 ? ONE_NONE : ONE_ERROR;
}

/* Plans the claimed cases through the pipeline at once and commits them. ONE_FAILED: one of them
 * could not be planned (rolled back: the caller takes them one at a time, so that only that one
 * is set aside). */
static one_t plan_claimed(PGconn *conn, const pipeline_ctx_t *ctx, const sweep_opts_t *opts,
                          const sweep_case_t *cases, int n, sweep_stats_t *stats, int *rc,
                          char *err, size_t errlen)
{
    pipeline_item_t *items = calloc((size_t)n, sizeof(*items));
    casefile_t *cfs = calloc((size_t)n, sizeof(*cfs));
    casefile_plan_t *plans = calloc((size_t)n, sizeof(*plans)); /* zeroed: CASEFILE_PLAN_INIT */
    one_t r = ONE_ERROR;

    *rc = items != NULL && cfs != NULL && plans != NULL ? RESULT_OK : RESULT_TRANSIENT;
    for (int i = 0; i < n && *rc == RESULT_OK; i++)
        items[i] = (pipeline_item_t){
            cases[i].creditor_id, cases[i].debtor_id, &tick_handler, NULL, &cfs[i], &plans[i],
            {NULL, ""},           RESULT_OK,          NULL};
    outbox_clear(ctx->outbox);
    if (*rc == RESULT_OK)
        *rc = pipeline_run_cases(ctx, conn, items, (size_t)n, err, errlen);
    for (int i = 0; i < n && *rc == RESULT_OK; i++)
        if (items[i].rc != RESULT_OK)
            *rc = RESULT_PERMANENT;
    if (*rc == RESULT_OK) {
        r = commit_cases(conn, ctx->policies, ctx->now, opts, ctx->outbox, cfs, plans, (size_t)n,
                         stats, rc, err, errlen);
    } else {
        rollback(conn);
        r = *rc == RESULT_TRANSIENT ? ONE_ERROR : ONE_FAILED;
    }
    if (r != ONE_DONE)
        outbox_clear(ctx->outbox);
    for (int i = 0; items != NULL && cfs != NULL && plans != NULL && i < n; i++) {
        casefile_plan_clear(&plans[i]);
        casefile_clear(&cfs[i]);
    }
    free(items);
    free(cfs);
    free(plans);
    return r;
}

/* Claims up to `want` due cases and plans them in one transaction (*got: how many were
 * claimed). */
static one_t sweep_batch(PGconn *conn, const policyset_t *policies, int64_t now,
                         const sweep_opts_t *opts, outbox_t *ob, int want, int *got,
                         sweep_stats_t *stats, int *rc, char *err, size_t errlen)
{
    const pipeline_ctx_t ctx = {policies->fallback,      now, SWEEP_SOURCE, opts->topic_tasks,
                                opts->topic_case_events, ob,  policies};
    sweep_case_t *cases = calloc((size_t)want, sizeof(*cases));
    one_t r;

    *got = 0;
    if (cases == NULL) {
        snprintf(err, errlen, "out of memory");
        *rc = RESULT_TRANSIENT;
        return ONE_ERROR;
    }
    r = claim_due(conn, now, want, cases, got, rc, err, errlen);
    if (r == ONE_DONE)
        r = plan_claimed(conn, &ctx, opts, cases, *got, stats, rc, err, errlen);
    free(cases);
    return r;
}

/* After a batch that could not be planned as a whole: its `n` cases one per transaction, so that
 * only the one that fails is set aside. */
static one_t sweep_singly(PGconn *conn, const policyset_t *policies, int64_t now,
                          const sweep_opts_t *opts, outbox_t *ob, int n, sweep_stats_t *stats,
                          int *rc, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        if (opts->stop != NULL && *opts->stop)
            return ONE_NONE;
        one_t r = sweep_one(conn, policies, now, opts, ob, stats, rc, err, errlen);
        if (r == ONE_NONE || r == ONE_ERROR)
            return r;
        if (r == ONE_DONE)
            metrics_inc("recobro_scheduler_cases_swept_total", "Due cases planned by the scheduler",
                        NULL, 1);
    }
    return ONE_DONE;
}

/* ---- Sweepers at once ------------------------------------------------------------------------ */

/* What the sweepers of one sweep_run() share (under `lock`). */
typedef struct sweep_share {
    pthread_mutex_t lock;
    long budget; /* cases the sweep may still claim */
    int rc;      /* the first database failure (RESULT_OK: none) */
    char err[600];
} sweep_share_t;

/* Takes up to one batch from the budget: 0 when it is spent. */
static int share_take(sweep_share_t *sh)
{
    pthread_mutex_lock(&sh->lock);
    int want = sh->budget < SWEEP_BATCH ? (int)sh->budget : SWEEP_BATCH;
    sh->budget -= want;
    pthread_mutex_unlock(&sh->lock);
    return want;
}

/* Gives back what a batch took and did not claim; records the first failure. */
static void share_settle(sweep_share_t *sh, int unused, int rc, const char *err)
{
    pthread_mutex_lock(&sh->lock);
    sh->budget += unused;
    if (rc != RESULT_OK && sh->rc == RESULT_OK) {
        sh->rc = rc;
        snprintf(sh->err, sizeof(sh->err), "%s", err);
    }
    pthread_mutex_unlock(&sh->lock);
}

struct sweep_helpers;
static void helpers_start(struct sweep_helpers *h);

/* One sweeper's batches on `conn` until nothing is due, the budget is spent, a stop is asked or
 * the database fails (recorded in sh). After the first full batch, `helpers` (NULL in a helper)
 * are started: more than one batch is due. */
static void sweep_loop(PGconn *conn, const policyset_t *policies, int64_t now,
                       const sweep_opts_t *opts, sweep_share_t *sh, sweep_stats_t *stats,
                       struct sweep_helpers *helpers)
{
    outbox_t *ob = outbox_new();
    char err[600] = "out of memory";
    int rc = ob != NULL ? RESULT_OK : RESULT_TRANSIENT;

    while (rc == RESULT_OK && !(opts->stop != NULL && *opts->stop)) {
        int want = share_take(sh), got = 0;
        if (want == 0)
            break;
        one_t r =
            sweep_batch(conn, policies, now, opts, ob, want, &got, stats, &rc, err, sizeof(err));
        if (r == ONE_FAILED)
            r = sweep_singly(conn, policies, now, opts, ob, got, stats, &rc, err, sizeof(err));
        else if (r == ONE_DONE)
            metrics_inc("recobro_scheduler_cases_swept_total", "Due cases planned by the scheduler",
                        NULL, got);
        share_settle(sh, want - got, RESULT_OK, "");
        if (r == ONE_NONE || r == ONE_ERROR)
            break;
        if (helpers != NULL && got == SWEEP_BATCH) {
            helpers_start(helpers);
            helpers = NULL;
        }
    }
    share_settle(sh, 0, rc, err);
    outbox_free(ob);
}

/* The helper sweepers of one sweep_run(): each on a connection of its own, opened with the
 * caller's connection's parameters, and a cache client of its own. */
typedef struct sweep_helper {
    pthread_t thread;
    bool started;
    struct sweep_helpers *all;
    sweep_stats_t stats;
} sweep_helper_t;

typedef struct sweep_helpers {
    const char **keys, **vals; /* the caller's connection parameters (PQconninfo) */
    PQconninfoOption *info;
    const policyset_t *policies;
    int64_t now;
    const sweep_opts_t *opts;
    sweep_share_t *sh;
    sweep_helper_t h[SWEEP_SWEEPERS > 1 ? SWEEP_SWEEPERS - 1 : 1];
} sweep_helpers_t;

static void *helper_main(void *arg)
{
    sweep_helper_t *me = arg;
    sweep_helpers_t *all = me->all;
    char err[600];
    PGconn *conn = PQconnectdbParams(all->keys, all->vals, 0);
    sweep_opts_t opts = *all->opts;

    opts.cache = all->opts->cache != NULL ? cache_dup(all->opts->cache) : NULL;
    if (PQstatus(conn) != CONNECTION_OK || (all->opts->cache != NULL && opts.cache == NULL) ||
        sweep_prepare(conn, err, sizeof(err)) != 0) {
        /* Not a failure of the sweep: the caller's sweeper does the work alone. */
        LOG_WARN("sweep.helper_unavailable", NULL);
    } else {
        sweep_loop(conn, all->policies, all->now, &opts, all->sh, &me->stats, NULL);
    }
    cache_free(opts.cache);
    PQfinish(conn);
    return NULL;
}

/* Starts the helpers (none when the connection's parameters cannot be read). */
static void helpers_start(sweep_helpers_t *hs)
{
    for (size_t i = 0; hs->keys != NULL && i < sizeof(hs->h) / sizeof(hs->h[0]); i++) {
        hs->h[i].all = hs;
        hs->h[i].started = SWEEP_SWEEPERS > 1 &&
                           pthread_create(&hs->h[i].thread, NULL, helper_main, &hs->h[i]) == 0;
    }
}

/* Reads the caller's connection parameters for the helpers (keys NULL when it cannot). */
static void helpers_init(sweep_helpers_t *hs, PGconn *conn)
{
    size_t n = 0, k = 0;

    hs->info = PQconninfo(conn);
    for (; hs->info != NULL && hs->info[n].keyword != NULL; n++)
        ;
    hs->keys = hs->info != NULL ? calloc(n + 1, sizeof(*hs->keys)) : NULL;
    hs->vals = hs->keys != NULL ? calloc(n + 1, sizeof(*hs->vals)) : NULL;
    if (hs->vals == NULL) {
        free(hs->keys);
        hs->keys = NULL;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (hs->info[i].val != NULL && hs->info[i].val[0] != '\0') {
            hs->keys[k] = hs->info[i].keyword;
            hs->vals[k++] = hs->info[i].val;
        }
}

/* Waits for the helpers that were started and adds their counts to *stats. */
static void helpers_join(sweep_helpers_t *hs, sweep_stats_t *stats)
{
    for (size_t i = 0; i < sizeof(hs->h) / sizeof(hs->h[0]); i++) {
        const sweep_stats_t *s = &hs->h[i].stats;
        if (!hs->h[i].started)
            continue;
        pthread_join(hs->h[i].thread, NULL);
        stats->cases += s->cases;
        stats->failed += s->failed;
        stats->tasks_created += s->tasks_created;
        stats->tasks_cancelled += s->tasks_cancelled;
        stats->segment_changes += s->segment_changes;
        stats->case_events += s->case_events;
        stats->promises_settled += s->promises_settled;
        stats->cache_failed += s->cache_failed;
    }
    free(hs->keys);
    free(hs->vals);
    PQconninfoFree(hs->info);
}

int sweep_run(PGconn *conn, const policyset_t *policies, int64_t now, const sweep_opts_t *opts,
              sweep_stats_t *stats, char *err, size_t errlen)
{
    sweep_share_t sh = {PTHREAD_MUTEX_INITIALIZER, opts->max_cases > 0 ? opts->max_cases : LONG_MAX,
                        RESULT_OK, ""};
    sweep_helpers_t hs;
    int rc;

    hs = (sweep_helpers_t){.policies = policies, .now = now, .opts = opts, .sh = &sh};
    helpers_init(&hs, conn);
    sweep_loop(conn, policies, now, opts, &sh, stats, &hs);
    helpers_join(&hs, stats);
    pthread_mutex_destroy(&sh.lock);
    rc = sh.rc;
    if (rc != RESULT_OK)
        snprintf(err, errlen, "%s", sh.err);
    if (rc == RESULT_OK && opts->snapshot_retention_days > 0) {
        long pruned = snapshot_prune(conn, now, opts->snapshot_retention_days,
                                     SWEEP_SNAPSHOT_PRUNE_MAX, err, errlen);
        if (pruned < 0)
            rc = pruned == RESULT_TRANSIENT ? RESULT_TRANSIENT : RESULT_PERMANENT;
        else
            stats->snapshots_pruned += pruned;
    }
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
