/* scheduler.c - recobro-scheduler's loop (see scheduler.h): connect, pick up the policy, sweep,
 * sleep until the next period, and stop cleanly on a signal. */
#include "scheduler.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "cache.h"
#include "cacheowed.h"
#include "clock.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "policystore.h"
#include "sweep.h"
#include "worker.h"

typedef struct scheduler {
    const config_t *cfg; /* borrowed */
    pg_session_t db;
    PGconn *conn;           /* db.conn while connected, NULL otherwise */
    policy_holder_t policy; /* the policies in force, kept current */
    cache_t *cache;         /* owned */
    http_server_t *http;    /* owned */
    backoff_t backoff;
    volatile sig_atomic_t *stop;
    atomic_int ready;
    int64_t next_log_us;
    int owed_checked; /* cache_owed looked at once since the start */
} scheduler_t;

static int is_ready(void *ud)
{
    scheduler_t *s = ud;
    return atomic_load(&s->ready);
}

static void log_error(const char *event, const char *err)
{
    char esc[700];
    LOG_WARN(event, "\"error\":\"%s\"", log_json_escape(err, esc, sizeof(esc)));
}

static void pg_drop(scheduler_t *s)
{
    pg_session_drop(&s->db);
    s->conn = NULL;
    atomic_store(&s->ready, 0);
}

static int on_connect(void *ud, PGconn *conn, char *err, size_t errlen)
{
    (void)ud;
    return sweep_prepare(conn, err, errlen) == 0 ? 0 : -1;
}

/* Connects and prepares when needed. Returns 0 when connected, -1 otherwise (logged at most
 * every 5 s). */
static int pg_ensure(scheduler_t *s)
{
    s->conn = pg_session_conn(&s->db, NULL);
    return s->conn != NULL ? 0 : -1;
}

/* Sleeps up to ms, waking early on a signal. */
static void nap(scheduler_t *s, int64_t ms)
{
    for (int64_t t = 0; t < ms && !*s->stop; t += 100)
        usleep((useconds_t)(ms - t < 100 ? ms - t : 100) * 1000);
}

/* Re-writes the hot cases killed processes owed (cacheowed.h): at start every record, then those
 * older than a live owner would leave. */
static void rewrite_owed(scheduler_t *s, int64_t now)
{
    char err[600];
    int n = cacheowed_rewrite(s->conn, s->cache, s->policy.set, now,
                              s->owed_checked ? CACHEOWED_MIN_AGE_S : 0, 100, err, sizeof(err));

    if (n >= 0)
        s->owed_checked = 1;
    if (n > 0)
        LOG_INFO("cache.owed_written", "\"cases\":%d", n);
    else if (n < 0)
        log_error("cache.owed_failed", err);
}

/* One period: policy, sweep, cache backlog. Returns 0, or -1 after a failure (retry with
 * backoff). */
static int one_period(scheduler_t *s)
{
    char err[700];
    sweep_stats_t st = SWEEP_STATS_INIT;
    sweep_opts_t opts = {s->cfg->topic_tasks,
                         s->cfg->topic_case_events,
                         s->cache,
                         0,
                         s->stop,
                         s->cfg->snapshot_retention_days};

    int prc = policystore_refresh(&s->policy, s->conn, err, sizeof(err));
    if (prc == RESULT_TRANSIENT)
        pg_drop(s);
    if (prc != 0 && s->policy.policy == NULL) {
        atomic_store(&s->ready, 0);
        if (clock_mono_us() >= s->next_log_us) {
            log_error("policy.unavailable", err);
            s->next_log_us = clock_mono_us() + 5000000;
        }
        return -1;
    }
    atomic_store(&s->ready, 1);
    int64_t now = clock_now(), t0 = clock_mono_us();
    if (s->conn == NULL)
        return -1;
    rewrite_owed(s, now);
    int rc = sweep_run(s->conn, s->policy.set, now, &opts, &st, err, sizeof(err));
    metrics_observe("recobro_scheduler_sweep_seconds", "Duration of one sweep", NULL,
                    (double)(clock_mono_us() - t0) / 1e6);
    metrics_inc("recobro_scheduler_tasks_released_total",
                "Tasks emitted by the scheduler because their day came", NULL,
                (double)st.tasks_created);
    metrics_inc("recobro_scheduler_promises_settled_total",
                "Promises and instalments settled by the scheduler", NULL,
                (double)st.promises_settled);
    metrics_inc("recobro_scheduler_segment_changes_total",
                "Segment changes found by the scheduler as days passed", NULL,
                (double)st.segment_changes);
    metrics_inc("recobro_scheduler_sweeps_total", "Sweeps, by result",
                rc == RESULT_OK ? "result=\"ok\"" : "result=\"error\"", 1);
    if (st.cases > 0 || st.failed > 0)
        LOG_INFO("sweep.done",
                 "\"cases\":%ld,\"failed\":%ld,\"tasks_created\":%ld,\"tasks_cancelled\":%ld,"
                 "\"segment_changes\":%ld",
                 st.cases, st.failed, st.tasks_created, st.tasks_cancelled, st.segment_changes);
    if (rc != RESULT_OK) {
        log_error("sweep.failed", err);
        metrics_inc("recobro_db_retries_total", "Sweeps retried after a database failure", NULL, 1);
        if (PQstatus(s->conn) != CONNECTION_OK)
            pg_drop(s);
        return -1;
    }
    /* Hot cases whose write failed earlier (here or in a worker) are re-written now. */
    if (cache_drain(s->cache, s->conn, 1000, err, sizeof(err)) < 0)
        LOG_DEBUG("cache.drain_failed", NULL);
    return 0;
}

int scheduler_run(const config_t *cfg)
{
    scheduler_t s;
    char err[600];
    int status = 1;

    memset(&s, 0, sizeof(s));
    s.cfg = cfg;
    s.db = (pg_session_t){cfg->pg_dsn, "recobro-scheduler", on_connect, NULL, NULL, 0};
    s.policy = (policy_holder_t){NULL, SCHEDULER_POLICY_CHECK_US, 0, cfg->policy_file, NULL, NULL};
    s.stop = wk_stop_flag(); /* installed by service_init() */
    backoff_init(&s.backoff, cfg->backoff_initial_ms, cfg->backoff_max_ms, (uint64_t)getpid());
    s.cache = cache_new(cfg->redis_url, cfg->cache_ttl_s, err, sizeof(err));
    if (s.cache == NULL) {
        fprintf(stderr, "recobro-scheduler: %s\n", err);
        goto out;
    }
    s.http = http_server_new(cfg->http_addr, is_ready, &s, err, sizeof(err));
    if (s.http == NULL) {
        fprintf(stderr, "recobro-scheduler: %s\n", err);
        goto out;
    }
    /* The series exist from the start, at zero. */
    metrics_inc("recobro_scheduler_cases_swept_total", "Due cases planned by the scheduler", NULL,
                0);
    metrics_inc("recobro_scheduler_tasks_released_total",
                "Tasks emitted by the scheduler because their day came", NULL, 0);
    metrics_inc("recobro_scheduler_promises_settled_total",
                "Promises and instalments settled by the scheduler", NULL, 0);
    LOG_INFO("scheduler.started", "\"http\":\"%s\",\"period_ms\":%d", cfg->http_addr,
             cfg->scheduler_period_ms);
    while (!*s.stop) {
        if (pg_ensure(&s) < 0 || one_period(&s) < 0) {
            nap(&s, backoff_next_ms(&s.backoff));
            continue;
        }
        backoff_reset(&s.backoff);
        nap(&s, cfg->scheduler_period_ms);
    }
    status = 0;
out:
    http_server_free(s.http);
    pg_drop(&s);
    policystore_holder_clear(&s.policy);
    cache_free(s.cache);
    LOG_INFO("scheduler.stopped", NULL);
    return status;
}
