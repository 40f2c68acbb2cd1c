/* paystore.h - the PostgreSQL side of payments, promises and instalment plans (tables in
 * deploy/migrations/0003_payments.sql): record and reverse payments, record promise.made and
 * plan.agreed, settle promises and plans as time passes, and keep the case's over-payment
 * credit. The decisions are casepay.h's (pure); this module loads, calls them, and saves.
 *
 * How a caller uses it (the payments worker, the interactions worker, the scheduler): inside
 * its batch transaction, load and lock the case (casestore_load(..., lock = true, &cf)), call
 * ONE of the paystore_* operations below with an empty casefile_plan_t, then casefile_plan()
 * (re-segments and re-plans: a case at zero is resolved there), casestore_save(), and publish
 * every plan.outputs[i] to its topic through the outbox (tasks to RECOBRO_TOPIC_TASKS, case
 * events to RECOBRO_TOPIC_CASE_EVENTS), then queue casefile_cache_new() for the cache. The
 * operations append their own outputs (promise.kept / promise.broken / plan.defaulted case
 * events, supervisor_review tasks) to the plan, update the case's features (payments_count,
 * partial_payments, promises_kept, promises_broken, promises_partially_kept, plan_active,
 * plan_defaulted_count) and the case's credit; casestore_save() persists features and credit.
 *
 * `source` is the output events' CloudEvents source ("recobro/payments",
 * "recobro/interactions", "recobro/scheduler"). `now` is the clock (clock_now()); the day a
 * promise or plan sees is the debtor's local day of `now` (UTC while the case has no zone),
 * except for payments, which happen on the local day of their received_at.
 *
 * Errors: 0 on success; RESULT_REJECTED when the event is refused as a business error, with
 * *rej filled (code and detail, no personal data): the caller passes it to wk_reject() and
 * must not save the case; -1 for a failure retrying will not fix, RESULT_TRANSIENT for a
 * lost connection or serialization failure, both with a one-line text in err. Every
 * statement is prepared (paystore_prepare()), parameterised, and scoped by creditor_id. */
#ifndef RECOBRO_PAYSTORE_H
#define RECOBRO_PAYSTORE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

#include "casefile.h"
#include "cloudevent.h"
#include "policy.h"

/* Prepares this module's statements on `conn` (call after each connection, after
 * casestore_prepare()). Returns 0, -1 or RESULT_TRANSIENT. */
__attribute__((warn_unused_result)) int paystore_prepare(PGconn *conn, char *err, size_t errlen);

/* ---- For the payments worker ---------------------------------------------------------------- */

/* payment.received on the locked case *cf. Allocates to the named invoices, then oldest first;
 * keeps what is left as the payment's credit; counts it toward the open promise and the active
 * plan; moves the features. A payment_id already recorded has no second effect (returns 0 with
 * nothing changed). Rejects: "currency_mismatch" (the case has another currency),
 * "schema_violation" (an id too long), "invalid_amount". */
__attribute__((warn_unused_result)) int
paystore_payment_received(PGconn *conn, casefile_t *cf, const policy_t *policy,
                          const ce_event_t *ev, int64_t now, const char *source,
                          casefile_plan_t *plan, reason_t *rej, char *err, size_t errlen);

/* payment.reversed on the locked case *cf: undoes exactly what the payment did (re-opens the
 * invoices its stored allocation lines paid, takes its remaining credit back, un-counts it from
 * the promise and plan it counted toward, which may break them), and moves the features. A
 * payment not known yet is recorded as reversed, so its late payment.received does nothing; a
 * payment already reversed has no second effect. */
__attribute__((warn_unused_result)) int
paystore_payment_reversed(PGconn *conn, casefile_t *cf, const policy_t *policy,
                          const ce_event_t *ev, int64_t now, const char *source,
                          casefile_plan_t *plan, reason_t *rej, char *err, size_t errlen);

/* ---- For the interactions worker ------------------------------------------------------------ */

/* promise.made on the locked case *cf (see casepay.h for the rules). Rejects with
 * "invalid_promise" (due date in the past, amount <= 0 or above the balance, case with nothing
 * owed) or "currency_mismatch". Inside the negotiation limits (or with approved_by): applied,
 * the previous pending promise cancelled (superseded). Outside them and not approved: recorded
 * with pending_approval and a supervisor_review task (channel internal) appended to the plan.
 * The same promise_id again with approved_by applies the recorded one; any other repeat of a
 * promise_id has no effect. */
__attribute__((warn_unused_result)) int
paystore_record_promise(PGconn *conn, casefile_t *cf, const policy_t *policy, const ce_event_t *ev,
                        int64_t now, const char *source, casefile_plan_t *plan, reason_t *rej,
                        char *err, size_t errlen);

/* plan.agreed on the locked case *cf, the same way: "invalid_plan" for dates in the past or out
 * of order, amounts <= 0 or a total above the balance; applied (previous active plan and pending
 * promise cancelled, plan_active set) or recorded for a supervisor. */
__attribute__((warn_unused_result)) int
paystore_record_plan(PGconn *conn, casefile_t *cf, const policy_t *policy, const ce_event_t *ev,
                     int64_t now, const char *source, casefile_plan_t *plan, reason_t *rej,
                     char *err, size_t errlen);

/* ---- For the scheduler --------------------------------------------------------------------- */

/* Settles the case's pending promise and active plan as of the local day of `now`
 * (promise_evaluate() / plan_evaluate()): emits promise.kept / promise.broken / plan.defaulted
 * and moves the counters. Nothing to do returns 0 with the plan untouched. */
__attribute__((warn_unused_result)) int paystore_evaluate(PGconn *conn, casefile_t *cf,
                                                          const policy_t *policy, int64_t now,
                                                          const char *source, casefile_plan_t *plan,
                                                          char *err, size_t errlen);

/* ---- For casestore (the case's credit) ------------------------------------------------------ */

/* Loads the case's payments side into *cf: the credits (received payments with unallocated >
 * 0) and the cache's open_promise / active_plan documents. casestore_load() calls it. */
__attribute__((warn_unused_result)) int paystore_load_case(PGconn *conn, casefile_t *cf, char *err,
                                                           size_t errlen);

/* Saves the credits marked dirty and inserts cf->credit_lines (allocation lines made out of
 * credit since loading), then clears those marks. casestore_save() calls it. */
__attribute__((warn_unused_result)) int paystore_save_case(PGconn *conn, casefile_t *cf, char *err,
                                                           size_t errlen);

#endif
