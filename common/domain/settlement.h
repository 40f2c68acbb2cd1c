/* settlement.h - discounted settlements over one case file: a plan.agreed may carry
 * `settlement_amount`; the debtor pays that amount in the plan's instalments and, when the last
 * one is paid, the rest of the debt is written off (case.settled, then case.resolved).
 *
 * The rules written down here (CONTRACT.md "Additions, version 2" leaves them to us):
 *  - The settlement is checked before the negotiation limits, and refused as "invalid_plan"
 *    (never sent to a supervisor) when it is not above zero, is more than the case's balance
 *    (principal, interest and fees), differs from the plan's total (down payment included), or
 *    forgives more than the segment's max_settlement_discount_pct of the balance.
 *  - It is recorded with the case's charges (charges_settlement_t) when the plan applies; a later
 *    plan replaces it. Interest keeps accruing while it runs (it is forgiven with the rest).
 *  - When the plan completes (its last instalment paid), everything still open is written off:
 *    each open invoice's remainder (status written_off), the open interest and the open fees; a
 *    case.settled {settled_amount (what the plan collected), written_off, currency, plan_id}
 *    follows, and the planning then resolves the case (reason "settled").
 *  - A defaulted or cancelled settlement plan forgives nothing: the whole balance stays owed.
 *  - A reversed payment that takes the plan back from completed re-opens exactly what was
 *    written off (invoices, interest, fees) and the case is collected again.
 * Pure: no I/O, no clock. */
#ifndef RECOBRO_SETTLEMENT_H
#define RECOBRO_SETTLEMENT_H

#include <jansson.h>
#include <stdint.h>

#include "casefile.h"
#include "policy.h"
#include "promise.h"

/* Reads data.settlement_amount in `currency` into *amount (0 when absent). Returns 0, or -1 with
 * *err = "invalid_amount". */
__attribute__((warn_unused_result)) int settlement_read(const json_t *data, const char *currency,
                                                        int64_t *amount, reason_t *err);

/* Checks a settlement of `amount` (> 0) paid as `down` plus the n instalments, for the case as it
 * stands under `policy` (see the rules above). Returns 0, or -1 with *err = "invalid_plan" and a
 * detail naming the rule, never the amounts. */
__attribute__((warn_unused_result)) int
settlement_check(const casefile_t *cf, const policy_t *policy, int64_t amount, int64_t down,
                 const policy_installment_t *inst, size_t n, reason_t *err);

/* Records the applied plan `plan_id` as the case's settlement of `amount` (0: a plan without one,
 * which replaces a settlement not yet settled). */
void settlement_agree(casefile_t *cf, const char *plan_id, int64_t amount);

/* After a payment counted toward plan `pl` (may be NULL): when it completed the case's
 * settlement plan, writes the remainder off and appends case.settled (id stable on the plan and
 * `op`, the payment's id) to *out at `at`. Returns 0, or -1 when out of memory. */
__attribute__((warn_unused_result)) int settlement_after_payment(casefile_t *cf, const plan_t *pl,
                                                                 const char *op, int64_t at,
                                                                 casefile_plan_t *out);

/* After a reversal: when plan `pl` (may be NULL) was settled and is no longer completed, re-opens
 * what was written off. Returns 0, or -1 on overflow. */
__attribute__((warn_unused_result)) int settlement_after_reversal(casefile_t *cf, const plan_t *pl);

#endif
