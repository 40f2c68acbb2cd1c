/* settlement.c - discounted settlements over one case file (see settlement.h). */
#include "settlement.h"

#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "money.h"

int settlement_read(const json_t *data, const char *currency, int64_t *amount, reason_t *err)
{
    const char *s = json_string_value(json_object_get(data, "settlement_amount"));

    *amount = 0;
    if (json_object_get(data, "settlement_amount") == NULL)
        return 0;
    if (s == NULL || currency == NULL || money_parse(s, currency, 0, amount) != MONEY_OK)
        return reason_set(err, "invalid_amount", "data.settlement_amount: not an amount");
    return 0;
}

/* What the case owes: open documented principal, interest and fees; -1 on overflow. */
static int64_t owed(const casefile_t *cf)
{
    int64_t b = 0;
    for (size_t i = 0; i < cf->n_invoices; i++) {
        const casefile_invoice_t *inv = &cf->invoices[i];
        if (inv->status == CASEFILE_INVOICE_OPEN && inv->due_on[0] && inv->open_amount > 0 &&
            !money_add(b, inv->open_amount, &b))
            return -1;
    }
    if (!money_add(b, cf->charges.interest, &b) || !money_add(b, cf->charges.fees, &b))
        return -1;
    return b;
}

int settlement_check(const casefile_t *cf, const policy_t *policy, int64_t amount, int64_t down,
                     const policy_installment_t *inst, size_t n, reason_t *err)
{
    int64_t balance = owed(cf), total = down;
    const policy_limits_t *l = policy_limits_for(policy, cf->segment);

    if (amount <= 0)
        return reason_set(err, "invalid_plan", "data.settlement_amount: must be above zero");
    if (balance < 0 || amount > balance)
        return reason_set(err, "invalid_plan",
                          "data.settlement_amount: above the case's balance (no discount)");
    for (size_t i = 0; i < n; i++)
        if (!money_add(total, inst[i].amount, &total))
            return reason_set(err, "invalid_plan", "data.installments: the total does not fit");
    if (total != amount)
        return reason_set(err, "invalid_plan",
                          "data.settlement_amount: differs from the plan's total (down payment "
                          "and instalments)");
    /* forgiven * 100 <= pct * balance, exactly (128-bit). */
    __int128 forgiven = (__int128)(balance - amount) * 100;
    if (l == NULL || forgiven > (__int128)l->max_settlement_discount_pct * balance)
        return reason_set(err, "invalid_plan",
                          "max_settlement_discount_pct: the settlement forgives more than the "
                          "segment's limit of %d%%",
                          l ? l->max_settlement_discount_pct : 0);
    return 0;
}

void settlement_agree(casefile_t *cf, const char *plan_id, int64_t amount)
{
    charges_settlement_t *s = &cf->charges.settlement;

    if (amount == 0 && (s->plan_id[0] == '\0' || s->settled))
        return; /* nothing to replace (a settled one stays as the case's record) */
    memset(s, 0, sizeof(*s));
    if (amount > 0) {
        snprintf(s->plan_id, sizeof(s->plan_id), "%s", plan_id);
        s->amount = amount;
    }
    cf->charges.dirty = true;
}

/* Writes off what is still open; returns 0 or -1 (overflow, too many invoices). */
static int write_off(casefile_t *cf, charges_settlement_t *s)
{
    int64_t total = 0;

    s->n_lines = 0;
    for (size_t i = 0; i < cf->n_invoices; i++) {
        casefile_invoice_t *inv = &cf->invoices[i];
        if (inv->status != CASEFILE_INVOICE_OPEN || inv->due_on[0] == '\0' || inv->open_amount <= 0)
            continue;
        if (s->n_lines == CHARGES_MAX_WRITEOFF_LINES || !money_add(total, inv->open_amount, &total))
            return -1;
        snprintf(s->lines[s->n_lines].invoice_id, sizeof(s->lines[0].invoice_id), "%s", inv->id);
        s->lines[s->n_lines++].amount = inv->open_amount;
    }
    if (!money_add(total, cf->charges.interest, &total) ||
        !money_add(total, cf->charges.fees, &total))
        return -1;
    for (size_t k = 0; k < s->n_lines; k++) {
        casefile_invoice_t *inv = casefile_find_invoice(cf, s->lines[k].invoice_id);
        inv->open_amount = 0;
        inv->status = CASEFILE_INVOICE_WRITTEN_OFF;
        inv->dirty = true;
    }
    s->wo_interest = cf->charges.interest;
    s->wo_fees = cf->charges.fees;
    cf->charges.interest = cf->charges.fees = 0;
    s->written_off = total;
    s->settled = true;
    cf->charges.dirty = true;
    return 0;
}

int settlement_after_payment(casefile_t *cf, const plan_t *pl, const char *op, int64_t at,
                             casefile_plan_t *out)
{
    charges_settlement_t *s = &cf->charges.settlement;
    char when[32], id[CASEFILE_UUID_MAX], name[600], amount[MONEY_FMT_MAX], off[MONEY_FMT_MAX];

    if (pl == NULL || s->settled || s->plan_id[0] == '\0' || strcmp(s->plan_id, pl->id) != 0 ||
        pl->state != PLAN_COMPLETED)
        return 0;
    if (write_off(cf, s) < 0)
        return -1;
    cal_format_utc(at, when, sizeof(when));
    snprintf(name, sizeof(name), "case_settled\x1f%s\x1f%s\x1f%s\x1f%s", cf->creditor_id,
             cf->debtor_id, pl->id, op);
    casefile_uuid5(name, id);
    if (money_format(pl->paid, cf->currency, amount, sizeof(amount)) < 0 ||
        money_format(s->written_off, cf->currency, off, sizeof(off)) < 0)
        return -1;
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "creditor_id", cf->creditor_id,
                             "debtor_id", cf->debtor_id, "plan_id", pl->id, "settled_amount",
                             amount, "written_off", off, "currency", cf->currency, "at", when);
    return casefile_emit(out, CASEFILE_TOPIC_CASE_EVENTS, "case.settled", id, at, data);
}

int settlement_after_reversal(casefile_t *cf, const plan_t *pl)
{
    charges_settlement_t *s = &cf->charges.settlement;

    if (pl == NULL || !s->settled || strcmp(s->plan_id, pl->id) != 0 || pl->state == PLAN_COMPLETED)
        return 0;
    for (size_t k = 0; k < s->n_lines; k++) {
        casefile_invoice_t *inv = casefile_find_invoice(cf, s->lines[k].invoice_id);
        if (inv == NULL || inv->status == CASEFILE_INVOICE_CANCELLED)
            continue; /* cancelled since: owed no more */
        if (!money_add(inv->open_amount, s->lines[k].amount, &inv->open_amount))
            return -1;
        inv->status = inv->open_amount > 0 ? CASEFILE_INVOICE_OPEN : CASEFILE_INVOICE_PAID;
        inv->dirty = true;
    }
    if (!money_add(cf->charges.interest, s->wo_interest, &cf->charges.interest) ||
        !money_add(cf->charges.fees, s->wo_fees, &cf->charges.fees))
        return -1;
    int64_t amount = s->amount;
    char plan_id[sizeof(s->plan_id)];
    memcpy(plan_id, s->plan_id, sizeof(plan_id));
    memset(s, 0, sizeof(*s));
    memcpy(s->plan_id, plan_id, sizeof(plan_id)); /* still the plan's settlement, not settled */
    s->amount = amount;
    cf->charges.dirty = true;
    return 0;
}
