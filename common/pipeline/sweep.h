/* sweep.h - one due-work sweep of the scheduler (DESIGN.md, "Services"): finds the cases whose
 * time has come in PostgreSQL and re-plans them as of `now`, up to SWEEP_BATCH cases per short
 * transaction. Shared by recobro-scheduler (every period) and `recobroctl scheduler tick`.
 *
 * How due work is found: debt_case.next_due_at (deploy/migrations/0005_scheduler.sql) is the next
 * local midnight after a case's last planning, written with the case row by every save
 * (nextdue.h, casestore's cs_case; a trigger before migration 0013); the sweep takes
 * `next_due_at <= now` cases, up to SWEEP_BATCH at a time, with `FOR UPDATE SKIP LOCKED` (index
 * debt_case_due), so several schedulers share the work, never hold one case at once, and the cost
 * grows with the cases due, not the portfolio. The claimed cases go through the case pipeline
 * together (pipeline_run_cases(): one round trip loads them, one saves them) with the scheduler's
 * own handler: loaded with its open promise
 * and active plan, those settled as of `now` (casedecide_tick(): due date plus grace passed),
 * planned (casefile_plan(): days past due in the debtor's zone, re-segmentation, the ladder
 * steps whose day has come), saved, and its tasks and case events written to the outbox in the
 * same transaction; the hot case is written to Redis after the commit. Planning saves the
 * ladder position and task ids are stable, so a case planned twice never emits a step twice.
 *
 * Deferred tasks need no release: the contact rules emit a deferred task at once with its later
 * window (casefile.h), and the notifier acts inside it. A forbearance needs no resume either:
 * while it lasts, planning defers or suppresses the steps (caseinteract.h); the first sweep after
 * its last day plans the ladder again.
 *
 * Every batch also writes the day's snapshot of its cases (snapshot.h: days-past-due bucket,
 * segment, variant, balance) with one INSERT ... SELECT in the same transaction, so the report's
 * roll rates are exact; a sweep that ends well deletes the snapshots older than
 * sweep_opts_t.snapshot_retention_days (RECOBRO_SNAPSHOT_RETENTION_DAYS). */
#ifndef RECOBRO_SWEEP_H
#define RECOBRO_SWEEP_H

#include <libpq-fe.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

#include "cache.h"
#include "policy.h"
#include "policyset.h"

/* What a case that could not be planned (a permanent failure) waits before its next try. */
#define SWEEP_RETRY_S 3600

#define SWEEP_SOURCE "recobro/scheduler"

/* Most due cases one transaction claims and plans through the pipeline at once (one round trip
 * to load them, one to save them). */
#define SWEEP_BATCH 500

/* Sweepers one sweep runs at once once more than a batch is due: the caller's, and helpers on
 * connections of their own (opened with the caller's connection's parameters) and Redis clients
 * of their own, each claiming its batches with SKIP LOCKED like another scheduler would. A batch
 * is one client's planning then one server's statements, in turn: two sweepers keep both of a
 * two-core machine busy (11,885 due cases: 2.6 s with one sweeper, 1.8 s with two). */
#define SWEEP_SWEEPERS 2

/* Most old daily snapshots one sweep deletes (the rest go in the next sweeps). */
#define SWEEP_SNAPSHOT_PRUNE_MAX 50000

/* Where the outputs go and how far one sweep goes. */
typedef struct sweep_opts {
    const char *topic_tasks;       /* outbox topic of task.created / task.cancelled */
    const char *topic_case_events; /* outbox topic of case events */
    cache_t *cache;                /* hot case cache, borrowed; NULL: not written */
    int max_cases;                 /* most cases one sweep plans; 0: until none is due */
    volatile sig_atomic_t *stop;   /* when set (may be NULL), the sweep ends after its case */
    int snapshot_retention_days;   /* daily snapshots older than this are deleted; 0: kept */
} sweep_opts_t;

/* What one sweep did (added to, so a caller may total several sweeps). */
typedef struct sweep_stats {
    long cases;            /* cases planned and committed */
    long failed;           /* cases that could not be planned (retried after SWEEP_RETRY_S) */
    long tasks_created;    /* task.created emitted ("released": their day came) */
    long tasks_cancelled;  /* task.cancelled emitted */
    long segment_changes;  /* case.segment_changed emitted */
    long case_events;      /* every case event emitted */
    long promises_settled; /* promise.kept / promise.broken / plan.* events emitted */
    long cache_failed;     /* hot-case writes that failed (remembered in cache_pending) */
    long snapshots_pruned; /* daily snapshots deleted as older than the retention */
} sweep_stats_t;

#define SWEEP_STATS_INIT                                                                           \
    {                                                                                              \
        0                                                                                          \
    }

/* Prepares the pipeline's and the sweep's statements on `conn` (after each connection). Returns 0,
 * RESULT_PERMANENT or RESULT_TRANSIENT with err filled. */
__attribute__((warn_unused_result)) int sweep_prepare(PGconn *conn, char *err, size_t errlen);

/* Plans every case due at `now` (Unix seconds), each under its creditor's policy in `policies`
 * (borrowed; its default must be set), up to SWEEP_BATCH cases
 * per transaction (when one of them cannot be planned, that batch is redone one case per
 * transaction), adding to *stats. `conn` must be idle (no transaction open) and prepared. A case
 * whose planning fails permanently is logged, counted in stats->failed and set aside for
 * SWEEP_RETRY_S; the sweep goes on. Returns RESULT_OK when no due case is left (or max_cases /
 * stop ended it), or RESULT_TRANSIENT / RESULT_PERMANENT with err filled when the database failed
 * (the case in hand was rolled back; the cases before it stay committed). */
__attribute__((warn_unused_result)) int sweep_run(PGconn *conn, const policyset_t *policies,
                                                  int64_t now, const sweep_opts_t *opts,
                                                  sweep_stats_t *stats, char *err, size_t errlen);

/* The stats as a one-line JSON object (a new malloc'd string, free() it; NULL when out of
 * memory): {"now": RFC 3339 UTC, "cases", "failed", "tasks_created", "tasks_cancelled",
 * "segment_changes", "case_events", "promises_settled", "cache_failed"}. */
char *sweep_stats_json(const sweep_stats_t *stats, int64_t now);

#endif
