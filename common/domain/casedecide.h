/* casedecide.h - the pure decision of each input event type over one case, in the one shape the
 * case pipeline's handler tables call (pipeline.h): read the event's fields, decide with the
 * rules of casefile.h (invoices), casepay.h (payments, promises, plans) and caseinteract.h
 * (contacts, disputes, preferences, forbearances), and leave the result in memory: the case
 * changed, the rows it needed (casefile.h, "rows") marked for the store, the outputs appended to
 * the plan. No I/O, no clock: the pipeline loads the rows each decision asks for before the call
 * and saves what it marked after, in the batch's transaction.
 *
 * Every decision returns RESULT_OK; RESULT_REJECTED with *why filled (code and detail, no personal
 * data) when the event is refused as a business error: nothing of it may be saved; or
 * RESULT_PERMANENT with *why filled ("processing_error", out of memory, a case whose zone cannot
 * place a day) when retrying will not help. A decision whose rows were not loaded fails as
 * RESULT_PERMANENT. */
#ifndef RECOBRO_CASEDECIDE_H
#define RECOBRO_CASEDECIDE_H

#include <jansson.h>
#include <stdint.h>

#include "casefile.h"
#include "policy.h"
#include "result.h"

/* The event in hand and what the decision may know besides the case (all borrowed). */
typedef struct casedecide_in {
    const char *type;   /* "payment.received"...; "scheduler.tick" for the scheduler's sweep */
    const json_t *data; /* the event's data; NULL for the scheduler's tick */
    const policy_t *policy;
    int64_t now;        /* Unix seconds: the worker's clock */
    const char *source; /* the acting service's CloudEvents source, for the outputs */
} casedecide_in_t;

/* The shape of every decision (see the top of this file). */
typedef int (*casedecide_fn)(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                             reason_t *why);

/* ---- recobro-overdue ------------------------------------------------------------------------ */

/* invoice.overdue / invoice.adjusted / invoice.cancelled: casefile_apply_event(), then the
 * case's credit pays what is open (casepay_use_credit()). Rows: none. */
int casedecide_invoice(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                       reason_t *why);

/* ---- recobro-payments ----------------------------------------------------------------------- */

/* payment.received: a payment_id already stored (or reversed before it arrived) has no
 * second effect; else allocation, credit, the open promise and plan counted toward; the payment
 * row marked for insert. Rows: CASEFILE_ROW_PAYMENT, OPEN_PROMISE, OPEN_PLAN. Rejects:
 * "schema_violation", "invalid_amount", "currency_mismatch". */
int casedecide_payment_received(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                                reason_t *why);

/* payment.reversed: an unknown payment becomes a reversed stub; a reversed one has no second
 * effect; else casepay_reverse() over its stored lines, promise and plan. Rows:
 * CASEFILE_ROW_PAYMENT (which brings the promise and plan it counted toward). */
int casedecide_payment_reversed(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                                reason_t *why);

/* ---- recobro-interactions ------------------------------------------------------------------- */

/* promise.made: a repeat (or one still waiting for approval) has no effect; else decided against
 * the negotiation limits: recorded for a supervisor, or applied (the other pending promises
 * cancelled as superseded). Rows: CASEFILE_ROW_PROMISE (named by promise_id), PENDING. Rejects:
 * "schema_violation", "invalid_amount", "invalid_promise", "currency_mismatch". */
int casedecide_promise_made(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                            reason_t *why);

/* plan.agreed, the same way; an applied plan cancels the pending promises and the previous active
 * plan. Rows: CASEFILE_ROW_PLAN (named by plan_id), PENDING, OPEN_PLAN. Rejects:
 * "schema_violation", "invalid_plan", "invalid_amount", "currency_mismatch". */
int casedecide_plan_agreed(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                           reason_t *why);

/* contact.attempted (caseinteract_contact()); the event becomes a contact_log row and
 * rows.task_report says what it did to its task. Rows: none. */
int casedecide_contact(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                       reason_t *why);

/* debt.disputed: caseinteract_dispute_opened(); the event becomes a dispute row. */
int casedecide_dispute_opened(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                              reason_t *why);

/* dispute.resolved: resolves the open disputes it is about (those of its invoice_id plus the
 * whole-debt ones, or every open one when it names none), marking them for the store, then
 * caseinteract_dispute_resolved() with the invoices they named. Rows: CASEFILE_ROW_DISPUTES. */
int casedecide_dispute_resolved(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                                reason_t *why);

/* contact.preferences: caseinteract_preferences(); the event is merged into the preferences. */
int casedecide_preferences(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                           reason_t *why);

/* forbearance.granted: caseinteract_forbearance(); the event becomes a forbearance row. Rejects:
 * "invalid_date". */
int casedecide_forbearance(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                           reason_t *why);

/* forbearance.ended (version 2): forbear_end() over the case's forbearances; the event marks the
 * period it ended for the store. Rejects: "invalid_date". */
int casedecide_forbearance_ended(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                                 reason_t *why);

/* ---- recobro-scheduler ---------------------------------------------------------------------- */

/* The scheduler's tick: settles the open promise (when pending) and the active plan as of the
 * local day of `now` (casepay_evaluate()). Rows: CASEFILE_ROW_OPEN_PROMISE, OPEN_PLAN. */
int casedecide_tick(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                    reason_t *why);

#endif
