/* casecharge.h - late interest and fees over one case file: accrue the days since the last pass,
 * charge the fixed fee an invoice agreed, split a payment between charges and invoices in the
 * policy's allocation order, re-open what a reversed payment paid of them, and put principal,
 * interest and fees into the documents (tasks, the hot cache). The rules are charges.h's.
 *
 * Pure (no I/O, no clock). The pipeline calls casecharge_accrue() before every decision and
 * casecharge_annotate_plan() after every planning; casepay.c calls the payment functions. */
#ifndef RECOBRO_CASECHARGE_H
#define RECOBRO_CASECHARGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "casefile.h"
#include "charges.h"

/* Accrues the interest of the local days after cf->charges.accrued_through up to the day before
 * `now`'s local day (charges.h), and moves accrued_through there. A case without a zone or a
 * currency is left alone; a case that never accrued starts at yesterday. Returns 0, or -1 when
 * the sum overflows (nothing changed). `rules` may be NULL (no interest: the day only moves). */
__attribute__((warn_unused_result)) int
casecharge_accrue(casefile_t *cf, const charges_rules_t *rules, int64_t now);

/* The interest one local day `day` would accrue on the case as it stands (0 when paused, no
 * principal past due, or no rate). For tests and `case show`. */
int64_t casecharge_day_interest(const casefile_t *cf, const charges_rules_t *rules, int64_t day);

/* After an applied invoice.overdue whose invoice says fees_agreed: true, charges the policy's
 * fixed fee in the case's currency once per case. Returns 0, or -1 on overflow. */
__attribute__((warn_unused_result)) int casecharge_on_invoice(casefile_t *cf,
                                                              const charges_rules_t *rules,
                                                              const char *type, const json_t *data);

/* The part of a payment of `amount` that goes to charges BEFORE the invoices (interest_first:
 * interest then fees; principal_first: none), taken off cf->charges; adds it to *paid_interest
 * and *paid_fees. Returns what is left for the invoices. */
int64_t casecharge_pay_before(casefile_t *cf, const charges_rules_t *rules, int64_t amount,
                              int64_t *paid_interest, int64_t *paid_fees);

/* The part of what the invoices left (`left`) that goes to charges AFTER them (principal_first:
 * interest then fees; interest_first: whatever the first pass left, i.e. none). Returns what is
 * left as credit. */
int64_t casecharge_pay_after(casefile_t *cf, const charges_rules_t *rules, int64_t left,
                             int64_t *paid_interest, int64_t *paid_fees);

/* Re-opens the interest and fees a reversed payment had paid. Returns 0 or -1 (overflow). */
__attribute__((warn_unused_result)) int casecharge_reopen(casefile_t *cf, int64_t interest,
                                                          int64_t fees);

/* Sets "principal", "interest", "fees" and "balance" (their sum) of document `doc` from the
 * case, and "interest_through" (the last day accrued, or null). Returns 0 or -1 (OOM). */
int casecharge_annotate(const casefile_t *cf, json_t *doc);

/* casecharge_annotate() plus the case's "settlement" ({plan_id, settlement_amount, settled,
 * written_off} or null), for the hot-cache document. Returns 0 or -1. */
int casecharge_cache(const casefile_t *cf, json_t *doc);

/* casecharge_annotate() on every task.created the plan emits (their data is the task row's
 * payload too). Returns 0 or -1. */
int casecharge_annotate_plan(const casefile_t *cf, casefile_plan_t *plan);

#endif
