/* interactstore.h - the PostgreSQL side of interactions (tables in
 * deploy/migrations/0004_interactions.sql): the contact log, disputes, contact preferences and
 * forbearances, written by recobro-interactions, and the recent contacts `recobroctl case show`
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

#include "cloudevent.h"

/* Prepares the statements on `conn` (call after each connection). */
__attribute__((warn_unused_result)) int interactstore_prepare(PGconn *conn, char *err,
                                                              size_t errlen);

/* Records a validated contact.attempted (ev borrowed) in the contact log; a repeat of the same
 * (source, id) is ignored. */
__attribute__((warn_unused_result)) int
interactstore_log_contact(PGconn *conn, const char *creditor_id, const char *debtor_id,
                          const ce_event_t *ev, char *err, size_t errlen);

/* Records a validated debt.disputed (ev borrowed) as an open dispute. */
__attribute__((warn_unused_result)) int
interactstore_open_dispute(PGconn *conn, const char *creditor_id, const char *debtor_id,
                           const ce_event_t *ev, char *err, size_t errlen);

/* Resolves the open disputes a validated dispute.resolved (ev borrowed) is about: those of its
 * invoice_id plus the whole-debt ones, or every open one when it names none. *invoices gets a
 * new JSON array of the distinct invoice ids those disputes named, *still_open whether some
 * other dispute stays open. */
__attribute__((warn_unused_result)) int
interactstore_resolve_disputes(PGconn *conn, const char *creditor_id, const char *debtor_id,
                               const ce_event_t *ev, json_t **invoices, bool *still_open, char *err,
                               size_t errlen);

/* Merges a validated contact.preferences (ev borrowed) into the case's preferences: only the
 * fields it carries change. */
__attribute__((warn_unused_result)) int
interactstore_save_preferences(PGconn *conn, const char *creditor_id, const char *debtor_id,
                               const ce_event_t *ev, char *err, size_t errlen);

/* Records a validated forbearance.granted (ev borrowed). */
__attribute__((warn_unused_result)) int
interactstore_add_forbearance(PGconn *conn, const char *creditor_id, const char *debtor_id,
                              const ce_event_t *ev, char *err, size_t errlen);

/* The case's most recent contacts (up to `limit`, newest first) as a new JSON array of
 * {at, channel, outcome, agent_id, stage, techniques, objections, task_id} into *out. */
__attribute__((warn_unused_result)) int
interactstore_recent_contacts(PGconn *conn, const char *creditor_id, const char *debtor_id,
                              int limit, json_t **out, char *err, size_t errlen);

#endif
