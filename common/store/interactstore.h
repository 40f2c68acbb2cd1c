/* interactstore.h - the PostgreSQL side of interactions (tables in
 * deploy/migrations/0004_interactions.sql): the contact log, disputes, contact preferences and
 * forbearances. It decides nothing: the interactions decisions (casedecide.h, caseinteract.h)
 * mark in the case file what to write (casefile.h, "rows": the event itself as a row, the open
 * disputes a resolution resolved) and casestore_save() calls interactstore_save_rows(). It also
 * loads the open disputes a resolution needs, and the recent contacts `recobroctl case show`
 * prints. The contact state every worker plans with is read by casestore_load() itself (one
 * round trip with the case) and decoded by caseinteract_state_from_json().
 *
 * Every statement is prepared once per connection (interactstore_prepare()), parameterised and
 * scoped by (creditor_id, debtor_id). Free-text reasons are stored, never logged. Errors:
 * functions return 0, -1 for a failure retrying will not fix, or RESULT_TRANSIENT
 * (connection lost, serialization failure...), with a one-line text in err. Every result is
 * cleared inside. */
#ifndef RECOBRO_INTERACTSTORE_H
#define RECOBRO_INTERACTSTORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "result.h"

#include "casefile.h"
#include "pgpipe.h"

/* Prepares the statements on `conn` (call after each connection). */
__attribute__((warn_unused_result)) int interactstore_prepare(PGconn *conn, char *err,
                                                              size_t errlen);

/* The targets of one interactstore_queue_disputes_many(): free them after the pipeline ran. */
typedef struct interactstore_disputes interactstore_disputes_t;

/* Queues on `pp` one query of the open disputes of the `n` cases (none: nothing is sent); its
 * result fills each cf->rows.disputes (oldest first) when the caller runs the pipeline. *out
 * gets the targets (also on failure: interactstore_disputes_free() them). */
__attribute__((warn_unused_result)) int
interactstore_queue_disputes_many(pgpipe_t *pp, casefile_t *const *cfs, size_t n,
                                  interactstore_disputes_t **out, char *err, size_t errlen);

void interactstore_disputes_free(interactstore_disputes_t *ds); /* NULL is a no-op */

/* Writes what the decision marked: the event as its row (rows.record: a contact_log row, an
 * open dispute, the preferences merged (only the fields the event carries change), a
 * forbearance; a repeat of the same (source, id) is ignored), and the disputes it resolved. */
__attribute__((warn_unused_result)) int interactstore_save_rows(PGconn *conn, casefile_t *cf,
                                                                char *err, size_t errlen);

/* Writes one event's record as interactstore_save_rows() does (rows->record, with the event's
 * data; the disputes aside), for the case (creditor_id, debtor_id): the records a case carried
 * through several events in memory kept aside (casecarry.h), in their order. */
__attribute__((warn_unused_result)) int
interactstore_save_record(PGconn *conn, const char *creditor_id, const char *debtor_id,
                          const casefile_rows_t *r, char *err, size_t errlen);

/* The case's most recent contacts (up to `limit`, newest first) as a new JSON array of
 * {at, channel, outcome, agent_id, stage, techniques, objections, task_id} into *out. */
__attribute__((warn_unused_result)) int
interactstore_recent_contacts(PGconn *conn, const char *creditor_id, const char *debtor_id,
                              int limit, json_t **out, char *err, size_t errlen);

#endif
