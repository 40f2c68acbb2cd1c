/* caseworker.h - what every case-keeping worker (overdue, payments, interactions) does around
 * the one thing that differs between them: per event, inside the batch's transaction, load and
 * lock the case, let the service apply the event, plan (casefile_plan), save, queue the tasks
 * and case events in the outbox and the hot case for the cache, and count what planning did.
 * The policy is held current (policystore.h) and every output carries the service's source. */
#ifndef RECOBRO_CASEWORKER_H
#define RECOBRO_CASEWORKER_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "casefile.h"
#include "config.h"
#include "policy.h"
#include "worker.h"

/* How often, at most, a worker checks whether a newer policy version was loaded. */
#define CASEWORKER_POLICY_CHECK_US (3 * 1000000LL)

typedef struct caseworker caseworker_t;

/* The service's part: apply event `m` to the loaded, locked case `cf` (and the service's own
 * tables on `conn`), adding to `plan` what it emits itself. Returns RESULT_OK (m may have been
 * rejected with wk_reject(), before anything was written), RESULT_TRANSIENT or RESULT_PERMANENT. */
typedef int (*caseworker_apply_fn)(void *ud, const policy_t *policy, PGconn *conn, casefile_t *cf,
                                   wk_msg_t *m, int64_t now, casefile_plan_t *plan);

/* The service's extra statements to prepare on a new connection (besides casestore's); may be
 * NULL. Returns 0 or -1 with err. */
typedef int (*caseworker_prepare_fn)(PGconn *conn, char *err, size_t errlen);

typedef struct caseworker_spec {
    const char *service;      /* "payments" */
    const char *source;       /* "recobro/payments": output events' source */
    const char *const *types; /* the event types consumed */
    size_t ntypes;
    caseworker_prepare_fn prepare; /* may be NULL */
    caseworker_apply_fn apply;
    void *ud;
} caseworker_spec_t;

/* A new case worker for `spec` (copied; its strings and ud borrowed). Connects once to read the
 * active policy (importing RECOBRO_POLICY_FILE into an empty table). Returns NULL with a one-line
 * reason in err (no policy anywhere, a refused file, the database unreachable or not
 * migrated). Free with caseworker_free() (NULL is a no-op). */
caseworker_t *caseworker_new(const config_t *cfg, const caseworker_spec_t *spec, char *err,
                             size_t errlen);
void caseworker_free(caseworker_t *cw);

/* Fills *h with the handler for wk_run(); `cw` is borrowed and must outlive the run. */
void caseworker_handler(caseworker_t *cw, wk_handler_t *h);

/* Maps a store's failure (RESULT_TRANSIENT or not) to the runtime's result, logging `what`. */
int caseworker_store_error(int rc, const char *what, const char *err);

/* Counts what one planning did in /metrics: tasks created by action, deferred and suppressed by
 * reason. */
void caseworker_count_plan(const casefile_plan_t *plan);

#endif
