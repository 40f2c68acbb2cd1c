/* casepay.h - the pure decisions of money and agreements over one case file: allocate a payment
 * and keep its over-payment as credit, use that credit for later invoices, undo a payment
 * exactly, count payments toward the open promise and the active plan, decide whether a
 * promise or plan may be applied, and build the case events and supervisor tasks that follow.
 * No I/O, no clock: the event decisions (casedecide.h) call them over the rows the pipeline
 * loaded (casefile.h, "rows"); paystore.h loads and saves those rows.
 *
 * The rules written down here (DOMAIN.md and CONTRACT.md leave them to us):
 *  - Allocation is allocation.h's: named invoices first, then oldest due first. Only documented
 *    invoices (an invoice.overdue gave their due date) that are open take money; a payment
 *    naming an invoice not known yet pays the others by age and keeps the rest as credit.
 *  - Credit is per payment (casefile_credit_t), so a reversal takes back exactly that payment's
 *    unused credit, and the lines paid out of credit later are stored with their payment.
 *    Credits are used oldest payment first, by every invoice event (casedecide.h's invoice
 *    decision and caseinteract.h's upheld dispute call casepay_use_credit() after
 *    casefile_apply_event()), and only in the case's currency.
 *  - A payment to a case with no currency yet (it arrived before any invoice) is all credit,
 *    and does not fix the case's currency; a payment in another currency than the case's is
 *    refused ("currency_mismatch").
 *  - Features: payments_count counts received payments not reversed; partial_payments counts
 *    payments smaller than both the balance they found and what was due (the open promise's
 *    remainder, else the active plan's next unpaid instalment, else the balance). A reversal
 *    takes payments_count back, not partial_payments (it was a fact about the payment).
 *  - promise.made is refused as "invalid_promise" when the case owes nothing documented, the
 *    amount is not above zero or above the balance, or the due date is before the debtor's
 *    local today (today itself is accepted: "I pay today" is a precise date). Other limits of
 *    policy_check_promise() send it to a supervisor unless approved_by is present.
 *    plan.agreed likewise with "invalid_plan" and policy_check_plan().
 *
 * Output events are whole CloudEvents appended to a casefile_plan_t (the same outputs the
 * overdue planning produces), with stable UUIDv5 ids built from the operation that caused them,
 * so that a replayed batch produces the same ids. */
#ifndef RECOBRO_CASEPAY_H
#define RECOBRO_CASEPAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocation.h"
#include "casefile.h"
#include "policy.h"
#include "promise.h"

/* Uses the case's credits (oldest payment first, case currency only) for its open documented
 * invoices, oldest due first; appends the lines to cf->credit_lines and marks the credits and
 * invoices dirty. Returns 0 (also when there is nothing to do), or -1 when out of memory. */
__attribute__((warn_unused_result)) int casepay_use_credit(casefile_t *cf);

/* A payment as received. `named` (borrowed) holds the invoice_ids to pay first. */
typedef struct casepay_payment {
    const char *payment_id;
    const char *currency;
    int64_t amount;      /* > 0 */
    int64_t received_at; /* Unix seconds */
    int64_t day;         /* the debtor's local day of received_at (promise.h day number) */
    const char *const *named;
    size_t nnamed;
    const charges_rules_t *charges; /* money: the policy's allocation order (NULL: none) */
} casepay_payment_t;

/* What a payment did, to store with it for its reversal. Release with casepay_effect_clear(). */
typedef struct casepay_effect {
    alloc_line_t *lines; /* owned: invoice lines made at receipt */
    size_t nlines;
    int64_t allocated;       /* sum of the lines */
    int64_t credit;          /* kept as the payment's credit */
    bool partial;            /* counted in partial_payments */
    int64_t promise_applied; /* counted toward the promise given (0 when none) */
    plan_line_t *plan_lines; /* owned: instalments filled in the plan given */
    size_t n_plan_lines;
    int64_t interest_paid, fees_paid; /* money: what it paid of the case's charges */
} casepay_effect_t;

void casepay_effect_clear(casepay_effect_t *e);

/* Applies a payment to *cf: allocation, credit (a new cf->credits entry), features; and when
 * given (may be NULL), counts it toward the promise `p` (pending or kept) and the plan `pl`
 * (active), appending their case events (source `source`, at the payment's received_at) to
 * *out. Returns 0, or -1 with *err filled ("currency_mismatch", "processing_error" for out of
 * memory or a failed state machine) and nothing changed in *cf on currency_mismatch. */
__attribute__((warn_unused_result)) int
casepay_receive(casefile_t *cf, const casepay_payment_t *pay, promise_t *p, plan_t *pl,
                const char *source, casefile_plan_t *out, casepay_effect_t *eff, reason_t *err);

/* What the reversal of one stored payment must undo. */
typedef struct casepay_undo {
    const char *payment_id;
    const alloc_line_t *lines; /* every allocation line of the payment (receipt and credit) */
    size_t nlines;
    int64_t promise_applied; /* what counted toward `p` */
    const plan_line_t *plan_lines;
    size_t n_plan_lines;
    int64_t day;                      /* the reversal's local day */
    int64_t at;                       /* the reversal's instant (events' "at") */
    int64_t interest_paid, fees_paid; /* money: the charges it paid, re-opened */
} casepay_undo_t;

/* Undoes a payment: re-opens the invoices its lines paid (a cancelled one stays cancelled),
 * drops its credit, un-counts it from `p` and `pl` (may be NULL; promise.broken /
 * plan.defaulted appended to *out when it comes to that), payments_count - 1, and then lets the
 * other payments' credit pay what re-opened. Returns 0, or -1 with *err filled. */
__attribute__((warn_unused_result)) int casepay_reverse(casefile_t *cf, const casepay_undo_t *u,
                                                        promise_t *p, plan_t *pl,
                                                        const char *source, casefile_plan_t *out,
                                                        reason_t *err);

/* Settles `p` and `pl` (may be NULL) as of `day` (the scheduler's tick at `now`), appending
 * events and moving counters. Returns 0, or -1 with *err filled. */
__attribute__((warn_unused_result)) int casepay_evaluate(casefile_t *cf, promise_t *p, plan_t *pl,
                                                         int64_t day, int64_t now,
                                                         const char *source, casefile_plan_t *out,
                                                         reason_t *err);

/* Cancels `p` on `day` for `reason` (a pending promise; one that settles by then keeps its
 * outcome, with its event), or `pl` (an active plan), moving counters and appending events.
 * Return 0, or -1 with *err filled. */
__attribute__((warn_unused_result)) int
casepay_cancel_promise(casefile_t *cf, promise_t *p, promise_cancel_reason_t reason, int64_t day,
                       int64_t now, const char *source, casefile_plan_t *out, reason_t *err);
__attribute__((warn_unused_result)) int casepay_cancel_plan(casefile_t *cf, plan_t *pl, int64_t day,
                                                            int64_t now, const char *source,
                                                            casefile_plan_t *out, reason_t *err);

/* The verdict on an agreement. */
typedef enum {
    CASEPAY_APPLY = 0, /* within limits, or approved */
    CASEPAY_REVIEW,    /* outside the limits: record it pending approval, ask a supervisor */
} casepay_verdict_t;

/* Decides on a promise of `amount` in `currency` due on `due_day`, made `today` (local days),
 * with `approved` when approved_by is set. Returns the verdict (check->limit says which limit
 * sent it to review), or -1 with *err filled ("invalid_promise", "currency_mismatch"). */
__attribute__((warn_unused_result)) int
casepay_decide_promise(const casefile_t *cf, const policy_t *policy, const char *currency,
                       int64_t amount, int64_t due_day, int64_t today, bool approved,
                       policy_check_t *check, reason_t *err);

/* The same for a plan: down payment (0 for none) and n instalments. Errors: "invalid_plan",
 * "currency_mismatch". */
__attribute__((warn_unused_result)) int
casepay_decide_plan(const casefile_t *cf, const policy_t *policy, const char *currency,
                    int64_t down_payment, const policy_installment_t *inst, size_t n, int64_t today,
                    bool approved, policy_check_t *check, reason_t *err);

/* Adds a pending supervisor_review task (channel internal, priority 1, window now .. now + 3
 * days) for agreement `kind` ("promise" / "plan") `id`, with the broken limit's code and
 * sentence, to cf->tasks and its task.created to *out. The task id is a UUIDv5 of the case,
 * kind and id, so a re-sent event makes the same task (saved once). Returns 0 or -1 (OOM). */
__attribute__((warn_unused_result)) int casepay_supervisor_task(casefile_t *cf, const char *kind,
                                                                const char *id,
                                                                const policy_check_t *check,
                                                                int64_t now, const char *source,
                                                                casefile_plan_t *out);

/* The cache's open_promise / active_plan documents (new references; NULL when out of memory). */
json_t *casepay_promise_json(const promise_t *p);
json_t *casepay_plan_json(const plan_t *pl);

/* Adds `delta` to the integer feature `name` of cf->features (never below 0), or sets the
 * boolean feature `name` with casepay_feature_set_bool(). Return 0 or -1 (OOM). */
__attribute__((warn_unused_result)) int casepay_feature_add(casefile_t *cf, const char *name,
                                                            int delta);
__attribute__((warn_unused_result)) int casepay_feature_set_bool(casefile_t *cf, const char *name,
                                                                 bool value);

#endif
