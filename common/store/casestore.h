/* casestore.h - the PostgreSQL side of a case file (casefile.h): load a case with its debtor,
 * creditor, invoices and pending tasks, and the rows its event's decision needs; save what the
 * decision and the planning changed, in one call; read tasks for tools.
 * Tables in deploy/migrations/0002_cases.sql. Every statement is prepared once per connection
 * (casestore_prepare()), parameterised, and scoped by creditor_id.
 *
 * Errors: functions return 0, CASESTORE_NOT_FOUND where said, -1 for a failure retrying will not
 * fix, or RESULT_TRANSIENT (connection lost, serialization failure...), with a one-line text
 * in err. Every result is cleared inside. */
#ifndef RECOBRO_CASESTORE_H
#define RECOBRO_CASESTORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "result.h"

#include "casefile.h"
#include "pgpipe.h"

#define CASESTORE_NOT_FOUND 1

/* Prepares the statements on `conn` (call after each connection). Returns 0, -1 or
 * RESULT_TRANSIENT. */
__attribute__((warn_unused_result)) int casestore_prepare(PGconn *conn, char *err, size_t errlen);

/* Loads case (creditor_id, debtor_id) into *cf, which it initialises (casefile_clear() it after
 * any return but -1 before init... always safe to clear: it is zeroed first). With `lock`, inside
 * the caller's transaction, the case row is created when missing and locked (FOR UPDATE), so two
 * workers never plan one case at once; without it, a missing case returns CASESTORE_NOT_FOUND.
 * Pending tasks only are loaded. */
__attribute__((warn_unused_result)) int casestore_load(PGconn *conn, const char *creditor_id,
                                                       const char *debtor_id, bool lock,
                                                       casefile_t *cf, char *err, size_t errlen);

/* One case of a batch to load and lock (casestore_load_many()). */
typedef struct casestore_req {
    const char *creditor_id, *debtor_id; /* borrowed */
    unsigned need;    /* CASEFILE_ROW_* flags: the rows its event's decision reads */
    const char *name; /* the id its event names (payment_id, promise_id, plan_id) or NULL */
    casefile_t *cf;   /* zeroed by the caller; initialised and filled here (casefile_clear() it) */
    PGconn *conn;     /* set by casestore_load_many() */
} casestore_req_t;

/* casestore_load(..., lock) plus the rows each event's decision needs (cf->rows, casefile.h:
 * CASEFILE_ROW_* flags and the id the event names) for `n` cases in one round trip (libpq's
 * pipeline mode, pgpipe.h; a received payment's lines, promise and plan take a second one),
 * inside the caller's transaction. Each case row is created when missing and locked FOR UPDATE
 * in the order given: callers sort the requests by (creditor_id, debtor_id), so that replicas
 * take locks in one order and cannot deadlock. Returns 0, -1 or RESULT_TRANSIENT (the
 * transaction is then aborted: roll it back). */
__attribute__((warn_unused_result)) int casestore_load_many(PGconn *conn, casestore_req_t *reqs,
                                                            size_t n, char *err, size_t errlen);

/* Saves *cf after casefile_plan(): the rows the decision marked (paystore_save_rows(),
 * interactstore_save_rows()), then parties, the case row, dirty invoices, new tasks (a task_id
 * already present is left alone, so a replay never duplicates), cancelled tasks, and the segment
 * history row when `plan` says the segment changed. Clears the dirty marks. */
__attribute__((warn_unused_result)) int
casestore_save(PGconn *conn, casefile_t *cf, const casefile_plan_t *plan, char *err, size_t errlen);

/* casestore_save() of `n` cases (cfs[i] with plans[i]; a NULL cfs[i] is skipped) in one round
 * trip: every statement is sent in pipeline mode (pgpipe.h) and the results are checked at the
 * end. Returns 0, -1 or RESULT_TRANSIENT (the transaction is then aborted: roll it back). */
__attribute__((warn_unused_result)) int casestore_save_many(PGconn *conn, casefile_t *const *cfs,
                                                            const casefile_plan_t *const *plans,
                                                            size_t n, char *err, size_t errlen);

/* A segment_history row to write: `cf` as it stood right after the planning `plan` that changed
 * its segment (only its scalar fields are read: a shallow copy will do). */
typedef struct casestore_hist {
    const casefile_t *cf;
    const casefile_plan_t *plan;
} casestore_hist_t;

/* casestore_save_many(), plus the `nhist` segment_history rows of `hist`: for a case that went
 * through several events in memory and is saved once (pipeline.c), each event's segment change
 * keeps its own row, as the case stood after that event. */
__attribute__((warn_unused_result)) int casestore_save_batch(PGconn *conn, casefile_t *const *cfs,
                                                             const casefile_plan_t *const *plans,
                                                             size_t n, const casestore_hist_t *hist,
                                                             size_t nhist, char *err,
                                                             size_t errlen);

/* An event's record (interactstore_save_record()) kept aside for case cf's save. */
typedef struct casestore_rec {
    const casefile_t *cf;
    const casefile_rows_t *rows;
} casestore_rec_t;

/* casestore_save_batch(), plus the `nrecs` records of `recs` written first, in their order:
 * the rows of events a case went through in memory before the one its cf->rows still holds. */
__attribute__((warn_unused_result)) int
casestore_save_carried(PGconn *conn, casefile_t *const *cfs, const casefile_plan_t *const *plans,
                       size_t n, const casestore_hist_t *hist, size_t nhist,
                       const casestore_rec_t *recs, size_t nrecs, char *err, size_t errlen);

/* casestore_save_carried() in two halves, so the caller can work while PostgreSQL runs the save:
 * casestore_save_send() does everything but reading the results (every row is built and sent,
 * the cases' dirty marks are cleared as by the save) and returns 0 with *saving set, or the
 * failure (-1 / RESULT_TRANSIENT, *saving NULL, the transaction aborted: roll it back). Then
 * casestore_save_wait() reads the results and frees *saving, returning what
 * casestore_save_carried() would have (NULL: 0). Between the two nothing else may be sent on
 * `conn`, and the case files must not change; the arguments of the send may be freed. */
typedef struct casestore_saving casestore_saving_t;

__attribute__((warn_unused_result)) int
casestore_save_send(PGconn *conn, casefile_t *const *cfs, const casefile_plan_t *const *plans,
                    size_t n, const casestore_hist_t *hist, size_t nhist,
                    const casestore_rec_t *recs, size_t nrecs, casestore_saving_t **saving,
                    char *err, size_t errlen);
__attribute__((warn_unused_result)) int casestore_save_wait(casestore_saving_t *saving, char *err,
                                                            size_t errlen);

/* The case's most recent tasks (up to `limit`, newest first) as a new JSON array of
 * {task_id, status, reason, action, channel, step, segment, not_before, not_after, created_at}
 * into *out. Returns 0, -1 or RESULT_TRANSIENT. */
__attribute__((warn_unused_result)) int casestore_tasks_json(PGconn *conn, const char *creditor_id,
                                                             const char *debtor_id, int limit,
                                                             json_t **out, char *err,
                                                             size_t errlen);

#endif
