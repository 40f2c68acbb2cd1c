/* pipeline.h - the one case pipeline. Every case-keeping worker (overdue, payments,
 * interactions) and the scheduler's sweep (sweep.h) run each case event through it:
 *
 *   load and lock the case with the rows its handler asks for (casestore_load_many())
 *   -> the handler's PURE decision (casedecide.h) -> casefile_plan() (re-segment, plan the
 *   ladder) -> ONE save of everything the decision and the planning marked (casestore_save())
 *   -> the outputs into the outbox, wrapped in the CloudEvents envelope with the service's
 *   source -> the hot case for the cache (written after the commit).
 *
 * A service is a declarative table, like Redis' command table: one pipeline_handler_t per event
 * type it consumes, {type, rows to load, the data field naming the row, decision, observer}.
 * pipeline_find() is the one dispatcher; nothing dispatches with a chain of strcmp. A service's
 * main.c only calls pipeline_main() with its pipeline_spec_t. */
#ifndef RECOBRO_PIPELINE_H
#define RECOBRO_PIPELINE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "casedecide.h"
#include "casefile.h"
#include "cloudevent.h"
#include "config.h"
#include "outbox.h"
#include "policy.h"
#include "policyset.h"

/* How often, at most, a worker checks whether a newer policy version was loaded. */
#define PIPELINE_POLICY_CHECK_US (3 * 1000000LL)

/* One row of a service's handler table. */
typedef struct pipeline_handler {
    const char *type;     /* the event type, "payment.received" */
    unsigned load;        /* CASEFILE_ROW_* flags: the rows the decision reads */
    const char *names;    /* the data field naming the row to load ("payment_id"), or NULL */
    casedecide_fn decide; /* the pure decision */
    /* Called after the case was saved, e.g. to count what the decision did in /metrics; may be
     * NULL. */
    void (*observe)(const casefile_t *cf);
} pipeline_handler_t;

/* A case worker: its names, its input topic and its handler table (all borrowed, static). */
typedef struct pipeline_spec {
    const char *service; /* "payments": also the DLQ's recobro-service and the log's service */
    const char *about;   /* one line for --help */
    const char *source;  /* "recobro/payments": the outputs' CloudEvents source */
    size_t topic;        /* offsetof(config_t, topic_payments): the topic consumed */
    const pipeline_handler_t *handlers;
    size_t nhandlers;
} pipeline_spec_t;

/* The handler of `type` in the spec's table, or NULL when the service does not consume it. */
const pipeline_handler_t *pipeline_find(const pipeline_spec_t *spec, const char *type);

/* Prepares every statement the pipeline runs (casestore, paystore, interactstore) on a new
 * connection. Returns 0, -1 or RESULT_TRANSIENT with err filled. */
__attribute__((warn_unused_result)) int pipeline_prepare(PGconn *conn, char *err, size_t errlen);

/* What one pass needs besides the case and the event (all borrowed). */
typedef struct pipeline_ctx {
    const policy_t *policy; /* the default policy */
    int64_t now;
    const char *source;            /* the outputs' CloudEvents source */
    const char *topic_tasks;       /* outbox topic of task.created / task.cancelled */
    const char *topic_case_events; /* outbox topic of case events */
    outbox_t *outbox;              /* the outputs go here, written in the same transaction */
    /* Every policy in force (policyset.h): a case is planned under its creditor's own policy,
     * else under `policy`. NULL: every case under `policy`. */
    const policyset_t *policies;
} pipeline_ctx_t;

/* The policy a case of `creditor_id` is planned under in `ctx` (borrowed). */
const policy_t *pipeline_policy_for(const pipeline_ctx_t *ctx, const char *creditor_id);

/* One case through the pipeline, inside the caller's transaction on `conn`: load and lock
 * (creditor_id, debtor_id) into *cf with the rows `h` asks for, h->decide() on event `ev` (NULL
 * for the scheduler's tick), casefile_plan() into *plan, casestore_save(), the outputs into
 * ctx->outbox, then h->observe(). *cf and *plan are the caller's to clear afterwards, whatever
 * the result. Returns RESULT_OK; RESULT_REJECTED with *rej filled when the decision refused the
 * event (nothing was saved); RESULT_PERMANENT or RESULT_TRANSIENT with a one-line text in err
 * (logged already, with what failed: load, decide, plan, save, outbox). */
__attribute__((warn_unused_result)) int
pipeline_run_case(const pipeline_ctx_t *ctx, PGconn *conn, const char *creditor_id,
                  const char *debtor_id, const pipeline_handler_t *h, const ce_event_t *ev,
                  casefile_t *cf, casefile_plan_t *plan, reason_t *rej, char *err, size_t errlen);

/* One case of a batch through the pipeline (pipeline_run_cases()). */
typedef struct pipeline_item {
    const char *creditor_id, *debtor_id; /* borrowed */
    const pipeline_handler_t *h;         /* borrowed */
    const ce_event_t *ev;                /* borrowed; NULL for the scheduler's tick */
    casefile_t *cf;                      /* the caller's; zeroed and filled here, caller clears */
    casefile_plan_t *plan;               /* the caller's (CASEFILE_PLAN_INIT); caller clears */
    reason_t rej;                        /* why, when rc is RESULT_REJECTED */
    int rc;                              /* RESULT_OK, or RESULT_REJECTED: nothing of it saved */
    void *ud;                            /* the caller's, e.g. the message the event came in */
} pipeline_item_t;

/* pipeline_run_case() for `n` DIFFERENT cases at once, inside the caller's transaction on `conn`:
 * every case loaded and locked in one round trip (in (creditor_id, debtor_id) order, so replicas
 * lock in one order), every decision and planning in memory, one save of them all in one round
 * trip (casestore_load_many(), casestore_save_many()), then the outputs into ctx->outbox in the
 * items' order. An item's rejection is its own outcome (items[i].rc, rej); the call returns
 * RESULT_OK, or RESULT_PERMANENT / RESULT_TRANSIENT when any case failed (logged; the caller rolls
 * the transaction back). Several events of one case go through successive calls, in order: each
 * call loads what the previous one saved. */
__attribute__((warn_unused_result)) int pipeline_run_cases(const pipeline_ctx_t *ctx, PGconn *conn,
                                                           pipeline_item_t *items, size_t n,
                                                           char *err, size_t errlen);

/* The hot case's cache key, "recobro:case:<creditor_id>:<debtor_id>" (CONTRACT.md), into key. */
void pipeline_cache_key(const casefile_t *cf, char *key, size_t size);

/* The hot case's document as compact JSON (a new string, free() it), or NULL for a case not yet
 * complete or when out of memory. */
char *pipeline_cache_json(const casefile_t *cf, const policy_t *policy, int64_t now);

/* Counts what one planning did in /metrics: tasks created by action, deferred and suppressed by
 * reason. */
void pipeline_count_plan(const casefile_plan_t *plan);

/* The whole life of a case worker: parse the command line and the configuration, install the
 * signals (service.h), read the policy, then consume spec->topic through the pipeline until
 * SIGTERM/SIGINT (worker.h). Returns the process exit status. */
int pipeline_main(int argc, char **argv, const pipeline_spec_t *spec);

#endif
