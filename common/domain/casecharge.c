/* casecharge.c - late interest and fees over one case file (see casecharge.h). */
#include "casecharge.h"

#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "money.h"

static int64_t day_of(const char *date)
{
    int y, m, d;
    return date != NULL && date[0] && cal_parse_date(date, &y, &m, &d) == 0
               ? cal_days_from_civil(y, m, d)
               : -1;
}

static bool within(const char *from, const char *until, int64_t day)
{
    int64_t f = day_of(from), u = day_of(until);
    return f >= 0 && u >= 0 && f <= day && day <= u;
}

/* Whether local day `day` lies in a forbearance: any of the periods the case has held
 * (forbear.h: every one is kept, an early end already shortens its until), not only the one
 * planning picked at the last pass (two periods between two passes both pause). Only a case
 * without that list (stored before every period was kept) falls back to its one period: a loaded
 * case's forbearance_from/until is the latest granted with its until as granted, so with the list
 * there it would pause the days after an early end, until planning picks again. */
static bool in_forbearance(const casefile_t *cf, int64_t day)
{
    size_t i;
    json_t *p;

    if (json_array_size(cf->forbearances) == 0)
        return within(cf->forbearance_from, cf->forbearance_until, day);
    json_array_foreach(cf->forbearances, i, p)
    {
        if (within(json_string_value(json_object_get(p, "from")),
                   json_string_value(json_object_get(p, "until")), day))
            return true;
    }
    return false;
}

/* Whether local day `day` accrues nothing: a forbearance, or an open dispute. A dispute opens
 * and ends only with an event, and every event first accrues the days before it (pipeline.c):
 * the days since the last pass all had the dispute state the case has now, so each dispute
 * period the case has held paused exactly its own days. */
static bool paused(const casefile_t *cf, int64_t day)
{
    return json_is_true(json_object_get(cf->features, "open_dispute")) || in_forbearance(cf, day);
}

/* The open principal of the documented invoices past due on `day` (due_on < day). */
static int past_due_principal(const casefile_t *cf, int64_t day, int64_t *out)
{
    int64_t p = 0;
    for (size_t i = 0; i < cf->n_invoices; i++) {
        const casefile_invoice_t *inv = &cf->invoices[i];
        int64_t due = day_of(inv->due_on);
        if (inv->status != CASEFILE_INVOICE_OPEN || inv->open_amount <= 0 || due < 0 || due >= day)
            continue;
        if (!money_add(p, inv->open_amount, &p))
            return -1;
    }
    *out = p;
    return 0;
}

int64_t casecharge_day_interest(const casefile_t *cf, const charges_rules_t *rules, int64_t day)
{
    int64_t p;
    if (rules == NULL || rules->rate_e4 == 0 || paused(cf, day) ||
        past_due_principal(cf, day, &p) < 0 || p == 0)
        return 0;
    return charges_daily_interest(p, rules->rate_e4);
}

int casecharge_accrue(casefile_t *cf, const charges_rules_t *rules, int64_t now)
{
    charges_state_t *c = &cf->charges;
    int64_t today, total = c->interest, ever = c->interest_total;

    if (cf->timezone[0] == '\0' || cf->currency[0] == '\0' ||
        cal_local_day(cf->timezone, now, &today) < 0)
        return 0;
    if (c->accrued_through == 0 || c->accrued_through >= today - 1) {
        if (c->accrued_through == 0) { /* the first pass: accrual starts today */
            c->accrued_through = today - 1;
            c->dirty = true;
        }
        return 0;
    }
    /* The days in between share one principal (nothing changed without a pass), but an invoice
     * falls past due and a forbearance starts or ends on a day of its own: day by day. */
    for (int64_t d = c->accrued_through + 1; d <= today - 1; d++) {
        int64_t i = casecharge_day_interest(cf, rules, d);
        if (i < 0 || !money_add(total, i, &total) || !money_add(ever, i, &ever))
            return -1;
    }
    c->interest = total;
    c->interest_total = ever;
    c->accrued_through = today - 1;
    c->dirty = true;
    return 0;
}

int casecharge_on_invoice(casefile_t *cf, const charges_rules_t *rules, const char *type,
                          const json_t *data)
{
    charges_state_t *c = &cf->charges;
    const json_t *inv = json_object_get(data, "invoice");

    if (strcmp(type, "invoice.overdue") != 0 || c->fee_charged ||
        !json_is_true(json_object_get(inv, "fees_agreed")))
        return 0;
    int64_t fee = charges_fee_in(rules, cf->currency);
    if (fee <= 0)
        return 0;
    if (!money_add(c->fees, fee, &c->fees) || !money_add(c->fees_total, fee, &c->fees_total))
        return -1;
    c->fee_charged = true;
    c->dirty = true;
    return 0;
}

int64_t casecharge_pay_before(casefile_t *cf, const charges_rules_t *rules, int64_t amount,
                              int64_t *paid_interest, int64_t *paid_fees)
{
    int64_t ti, tf;
    if (rules == NULL || rules->order != CHARGES_INTEREST_FIRST)
        return amount;
    charges_take(amount, &cf->charges.interest, &cf->charges.fees, &ti, &tf);
    *paid_interest += ti;
    *paid_fees += tf;
    if (ti || tf)
        cf->charges.dirty = true;
    return amount - ti - tf;
}

int64_t casecharge_pay_after(casefile_t *cf, const charges_rules_t *rules, int64_t left,
                             int64_t *paid_interest, int64_t *paid_fees)
{
    int64_t ti, tf;
    /* interest_first took what it could before the invoices; a payment that found no invoice
     * (credit) may still meet charges either way. */
    (void)rules;
    charges_take(left, &cf->charges.interest, &cf->charges.fees, &ti, &tf);
    *paid_interest += ti;
    *paid_fees += tf;
    if (ti || tf)
        cf->charges.dirty = true;
    return left - ti - tf;
}

/* The index of `payment_id`'s credit_paid entry, added when new; -1 when the list is full. */
static int credit_slot(charges_state_t *c, const char *payment_id)
{
    for (size_t i = 0; i < c->n_credit_paid; i++)
        if (strcmp(c->credit_paid[i].payment_id, payment_id) == 0)
            return (int)i;
    if (c->n_credit_paid == CHARGES_MAX_CREDIT_PAID)
        return -1;
    size_t i = c->n_credit_paid++;
    snprintf(c->credit_paid[i].payment_id, sizeof(c->credit_paid[i].payment_id), "%s", payment_id);
    c->credit_paid[i].interest = c->credit_paid[i].fees = 0;
    return (int)i;
}

int casecharge_use_credit(casefile_t *cf)
{
    charges_state_t *c = &cf->charges;

    for (size_t k = 0; k < cf->n_credits && (c->interest > 0 || c->fees > 0); k++) {
        casefile_credit_t *cr = &cf->credits[k];
        int64_t ti, tf;
        int slot;
        if (cr->unallocated <= 0 || strcmp(cr->currency, cf->currency) != 0 ||
            (slot = credit_slot(c, cr->payment_id)) < 0)
            continue;
        charges_take(cr->unallocated, &c->interest, &c->fees, &ti, &tf);
        cr->unallocated -= ti + tf;
        cr->dirty = true;
        c->credit_paid[slot].interest += ti;
        c->credit_paid[slot].fees += tf;
        c->dirty = true;
    }
    return 0;
}

int casecharge_reopen(casefile_t *cf, int64_t interest, int64_t fees)
{
    charges_state_t *c = &cf->charges;
    int64_t i, f;
    if (interest <= 0 && fees <= 0)
        return 0;
    if (!money_add(c->interest, interest > 0 ? interest : 0, &i) ||
        !money_add(c->fees, fees > 0 ? fees : 0, &f))
        return -1;
    c->interest = i;
    c->fees = f;
    c->dirty = true;
    return 0;
}

static json_t *money_of(int64_t minor, const char *currency)
{
    char buf[MONEY_FMT_MAX];
    return money_format(minor, currency, buf, sizeof(buf)) < 0 ? json_null() : json_string(buf);
}

int casecharge_annotate(const casefile_t *cf, json_t *doc)
{
    int64_t charged = 0, principal;
    char through[16];

    if (doc == NULL || cf->currency[0] == '\0')
        return doc == NULL ? -1 : 0;
    /* The balance is the stored truth (principal + interest + fees, see casefile's recompute);
     * the principal follows from it, also for a case loaded from the store, where
     * cf->principal is not kept. */
    if (!money_add(cf->charges.interest, cf->charges.fees, &charged) ||
        !money_sub(cf->balance, charged, &principal))
        return -1;
    int64_t balance = cf->balance;
    int rc = json_object_set_new(doc, "principal", money_of(principal, cf->currency)) |
             json_object_set_new(doc, "interest", money_of(cf->charges.interest, cf->currency)) |
             json_object_set_new(doc, "fees", money_of(cf->charges.fees, cf->currency)) |
             json_object_set_new(doc, "balance", money_of(balance, cf->currency));
    if (cf->charges.accrued_through > 0) {
        int64_t y;
        int m, d;
        cal_civil_from_days(cf->charges.accrued_through, &y, &m, &d);
        snprintf(through, sizeof(through), "%04d-%02d-%02d", (int)y, m, d);
    }
    rc |= json_object_set_new(doc, "interest_through",
                              cf->charges.accrued_through > 0 ? json_string(through) : json_null());
    return rc == 0 ? 0 : -1;
}

int casecharge_annotate_plan(const casefile_t *cf, casefile_plan_t *plan)
{
    for (size_t i = 0; i < plan->n_outputs; i++) {
        casefile_output_t *o = &plan->outputs[i];
        if (o->topic == CASEFILE_TOPIC_TASKS && strcmp(o->type, "task.created") == 0 &&
            casecharge_annotate(cf, o->data) < 0)
            return -1;
    }
    return 0;
}

int casecharge_cache(const casefile_t *cf, json_t *doc)
{
    const charges_settlement_t *s = &cf->charges.settlement;
    json_t *st = json_null();

    if (casecharge_annotate(cf, doc) < 0)
        return -1;
    if (s->plan_id[0] != '\0')
        st = json_pack("{s:s, s:o, s:b, s:o}", "plan_id", s->plan_id, "settlement_amount",
                       money_of(s->amount, cf->currency), "settled", (int)s->settled, "written_off",
                       money_of(s->written_off, cf->currency));
    return json_object_set_new(doc, "settlement", st) == 0 ? 0 : -1;
}
