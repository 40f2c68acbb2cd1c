/* charges.h - late interest and fees on a case: the policy's `charges` section, the exact daily
 * interest arithmetic, and the case's charges state (what is owed beside the invoices' principal).
 *
 * The policy section (CONTRACT.md "Additions, version 2", proto/policy.schema.json):
 *
 *   "charges": {
 *     "late_interest_annual_pct": "3.25",     percent a year, a decimal string (<= 4 decimals)
 *     "late_interest_cap_annual_pct": "6.25", optional: a rate above it refuses the policy
 *     "fixed_fee": {"EUR": "30.00"},          optional: once per case, by currency, only when
 *                                             an invoice.overdue says invoice.fees_agreed: true
 *     "allocation_order": "interest_first",   or "principal_first"
 *     "description": "..."
 *   }
 * No section: no interest, no fees, interest_first.
 *
 * The rules written down here (the contract leaves them to us):
 *  - Simple interest, Actual/365 fixed: the interest of one local day (the debtor's zone) is
 *    P * pct / 100 / 365, where P is the principal open at the END of that day on the case's
 *    documented invoices already past due on it (due_on < the day), rounded half-even to the
 *    currency's minor unit once per day, for the whole case. Integer arithmetic only (a 128-bit
 *    product), never floating point.
 *  - Where it accrues: lazily, on every pass of the case through the pipeline (each event of any
 *    worker, and each scheduler sweep of the case), BEFORE the event applies, for the whole local
 *    days between the last accrued day (`accrued_through`, stored with the case in the same
 *    transaction) and yesterday. A day is accrued once, by the first pass after it ended, with the
 *    principal as it then stands, which is its end-of-day principal (every change to the principal
 *    is itself a pass). So the result does not depend on how often the sweep runs, a replayed or
 *    re-sent event finds accrued_through already moved (exactly once), and a SIGKILL before the
 *    commit loses the accrual together with the event that carried it.
 *  - A case starts accruing on the day of its first pass; an invoice is charged from the first
 *    local day it was both known to recobro and past due (the interest of the days before it was
 *    placed is the creditor's, inside its open_amount).
 *  - A day accrues nothing while the case is disputed (an open dispute at the pass that accrues
 *    it) or in forbearance (the day inside the forbearance's from..until dates).
 *  - Payments: `interest_first` pays open interest, then fees, then the invoices; `principal_first`
 *    the invoices, then interest, then fees. What a payment paid of each is stored with it, so a
 *    reversal re-opens exactly that. Interest is never lost: the case is resolved only when
 *    principal, interest and fees are all zero.
 *
 * Pure: no I/O, no clock. chargestore.h loads and saves the state. */
#ifndef RECOBRO_CHARGES_H
#define RECOBRO_CHARGES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Percents are held as integer ten-thousandths of a percent: "3.25" is 32500. */
#define CHARGES_PCT_SCALE          10000
#define CHARGES_MAX_FEE_CURRENCIES 32
#define CHARGES_DAYS_PER_YEAR      365

typedef enum {
    CHARGES_INTEREST_FIRST = 0,
    CHARGES_PRINCIPAL_FIRST,
} charges_order_t;

/* The policy's charges section (immutable once loaded). */
typedef struct charges_rules {
    int64_t rate_e4; /* late_interest_annual_pct * 10^4; 0 = no interest */
    bool has_cap;    /* late_interest_cap_annual_pct given */
    int64_t cap_e4;  /* its value * 10^4 */
    charges_order_t order;
    size_t n_fees; /* fixed_fee entries */
    struct {
        char currency[4];
        int64_t minor;
    } fees[CHARGES_MAX_FEE_CURRENCIES];
} charges_rules_t;

/* Reads the policy's "charges" member (NULL: no charges) into *out. Returns 0, or -1 with err =
 * "charges.<key>: <problem>" (a rate above its cap: "charges.late_interest_annual_pct: 9.5 is
 * above late_interest_cap_annual_pct 6.25"). */
__attribute__((warn_unused_result)) int
charges_rules_from_json(const json_t *obj, charges_rules_t *out, char *err, size_t errlen);

/* The fixed fee in `currency`, in minor units; 0 when the policy has none for it. */
int64_t charges_fee_in(const charges_rules_t *rules, const char *currency);

/* Parses a percent ("3.25", "0", "12.5": at most 4 decimals, 0..1000) into ten-thousandths.
 * Returns 0 or -1. */
__attribute__((warn_unused_result)) int charges_parse_pct(const char *s, int64_t *out_e4);

/* Writes a percent in ten-thousandths back as the shortest decimal ("3.25"). Returns buf. */
char *charges_format_pct(int64_t e4, char *buf, size_t size);

/* The interest of one day on `principal` minor units at `rate_e4`: principal * rate / 100 / 365,
 * rounded half-even to the minor unit. Returns -1 for a negative argument. */
int64_t charges_daily_interest(int64_t principal, int64_t rate_e4);

/* A write-off line: what a settlement forgave on one invoice. */
typedef struct charges_writeoff_line {
    char invoice_id[129];
    int64_t amount;
} charges_writeoff_line_t;

#define CHARGES_MAX_WRITEOFF_LINES 64

/* The settlement agreed or in force on a case (settlement.h decides; stored with the charges). */
typedef struct charges_settlement {
    char plan_id[129]; /* "" = none */
    int64_t amount;    /* settlement_amount agreed */
    bool settled;      /* its last instalment was paid: the remainder is written off */
    int64_t written_off;
    int64_t wo_interest, wo_fees; /* the parts of written_off that were interest and fees */
    size_t n_lines;
    charges_writeoff_line_t lines[CHARGES_MAX_WRITEOFF_LINES]; /* the principal written off */
} charges_settlement_t;

/* The charges of one case. */
typedef struct charges_state {
    bool loaded;             /* a row was read (else defaults) */
    int64_t interest;        /* open interest, minor units */
    int64_t fees;            /* open fees */
    int64_t interest_total;  /* ever accrued (reporting) */
    int64_t fees_total;      /* ever charged */
    int64_t accrued_through; /* the last local day (day number) accrued; 0 = not started */
    bool fee_charged;        /* the case's fixed fee was charged */
    charges_settlement_t settlement;
    /* The payment the event names: its stored charge parts (loaded), or the parts a received
     * payment paid (to insert with it). */
    char pay_id[129];
    int64_t pay_interest, pay_fees;
    bool pay_insert;
    bool dirty; /* changed: chargestore saves the row */
} charges_state_t;

/* The state as JSON for the store ({interest, fees, ..., settlement}) and back. _to_json returns
 * a new reference (NULL when out of memory); _from_json returns 0 or -1 (not an object). */
json_t *charges_settlement_to_json(const charges_settlement_t *s);
__attribute__((warn_unused_result)) int charges_settlement_from_json(const json_t *doc,
                                                                     charges_settlement_t *s);

/* Splits `amount` of a payment between open interest and fees before (interest_first) or after
 * (principal_first) the invoices: takes from *interest then *fees (interest_first: both before
 * the principal) at most `amount` in total, writing what it took into *took_interest and
 * *took_fees. Pure arithmetic, for casepay's allocation. */
void charges_take(int64_t amount, int64_t *interest, int64_t *fees, int64_t *took_interest,
                  int64_t *took_fees);

#endif
