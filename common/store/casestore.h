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

/* Loads into cf->rows (casefile.h, "rows") what an event's decision needs: `need` is a set of
 * CASEFILE_ROW_* flags, `name` the id the event names (payment_id, promise_id, plan_id; may be
 * NULL). Call after casestore_load(); the rows are freed by casefile_clear(). */
__attribute__((warn_unused_result)) int casestore_load_rows(PGconn *conn, casefile_t *cf,
                                                            unsigned need, const char *name,
                                                            char *err, size_t errlen);

/* Saves *cf after casefile_plan(): the rows the decision marked (paystore_save_rows(),
 * interactstore_save_rows()), then parties, the case row, dirty invoices, new tasks (a task_id
 * already present is left alone, so a replay never duplicates), cancelled tasks, and the segment
 * history row when `plan` says the segment changed. Clears the dirty marks. */
__attribute__((warn_unused_result)) int
casestore_save(PGconn *conn, casefile_t *cf, const casefile_plan_t *plan, char *err, size_t errlen);

/* The case's most recent tasks (up to `limit`, newest first) as a new JSON array of
 * {task_id, status, reason, action, channel, step, segment, not_before, not_after, created_at}
 * into *out. Returns 0, -1 or RESULT_TRANSIENT. */
__attribute__((warn_unused_result)) int casestore_tasks_json(PGconn *conn, const char *creditor_id,
                                                             const char *debtor_id, int limit,
                                                             json_t **out, char *err,
                                                             size_t errlen);

#endif
