/* casedecide.c - the pure decision of each input event type over one case (see casedecide.h). */
#include "casedecide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "casecharge.h"
#include "callback.h"
#include "caseinteract.h"
#include "casepay.h"
#include "forbear.h"
#include "money.h"
#include "settlement.h"
#include "outreach.h"

/* ---- Event fields and small helpers ---------------------------------------------------------- */

static const char *dstr(const casedecide_in_t *in, const char *key)
{
    return json_string_value(json_object_get(in->data, key));
}

static int day_of_date(const char *s, int64_t *day)
{
    int y, m, d;
    if (s == NULL || cal_parse_date(s, &y, &m, &d) < 0)
        return -1;
    *day = cal_days_from_civil(y, m, d);
    return 0;
}

/* The debtor's local day of `now` (UTC while the case has no zone). */
static int today_of(const casefile_t *cf, int64_t now, int64_t *today, reason_t *why)
{
    if (cal_local_day(cf->timezone, now, today) < 0) {
        reason_set(why, "processing_error", "unknown time zone of the case");
        return RESULT_PERMANENT;
    }
    return RESULT_OK;
}

static int rejected(reason_t *why, const reason_t *e)
{
    *why = *e;
    return RESULT_REJECTED;
}

static int failed(reason_t *why, const reason_t *e)
{
    reason_set(why, "processing_error", "%s: %s", e->code, e->detail);
    return RESULT_PERMANENT;
}

static int out_of_memory(reason_t *why)
{
    reason_set(why, "processing_error", "out of memory");
    return RESULT_PERMANENT;
}

static int not_loaded(reason_t *why, const char *what)
{
    reason_set(why, "processing_error", "%s: its rows were not loaded", what);
    return RESULT_PERMANENT;
}

/* money: the policy's charges section, or NULL without a policy. */
static const charges_rules_t *charges_of(const casedecide_in_t *in)
{
    return in->policy != NULL ? &in->policy->charges : NULL;
}

static void note_event(casefile_t *cf, const char *type)
{
    snprintf(cf->last_event, sizeof(cf->last_event), "%s", type);
}

/* Replaces cf->open_promise / cf->active_plan (steals doc; NULL clears). */
static void set_doc(json_t **slot, json_t *doc)
{
    json_decref(*slot);
    *slot = doc;
}

/* Refreshes the cache documents from the promise and plan as they now stand (NULL: unchanged). */
static void refresh_docs(casefile_t *cf, const casefile_promise_row_t *sp,
                         const casefile_plan_row_t *spl)
{
    if (sp != NULL)
        set_doc(&cf->open_promise, sp->p.state == PROMISE_PENDING && !sp->pending_approval
                                       ? casepay_promise_json(&sp->p)
                                       : NULL);
    if (spl != NULL)
        set_doc(&cf->active_plan, spl->pl.state == PLAN_ACTIVE && !spl->pending_approval
                                      ? casepay_plan_json(&spl->pl)
                                      : NULL);
}

/* The credit entry of `payment_id` is written with its payment row: not again as credit. */
static void credit_in_row(casefile_t *cf, const char *payment_id)
{
    for (size_t i = 0; i < cf->n_credits; i++)
        if (strcmp(cf->credits[i].payment_id, payment_id) == 0)
            cf->credits[i].dirty = false;
}

/* ---- Invoices -------------------------------------------------------------------------------- */

int casedecide_invoice(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                       reason_t *why)
{
    (void)plan;
    if (casefile_apply_event(cf, in->type, in->data, why) < 0)
        return RESULT_REJECTED;
    /* money: an invoice that says fees_agreed brings the policy's fixed fee, once per case. */
    if (casecharge_on_invoice(cf, charges_of(in), in->type, in->data) < 0)
        return reason_set(why, "processing_error", "fees overflow"), RESULT_PERMANENT;
    /* payments: a new or re-opened invoice first uses the case's over-payment credit. */
    if (casepay_use_credit(cf) < 0)
        return reason_set(why, "processing_error", "out of memory"), RESULT_REJECTED;
    return RESULT_OK;
}

/* ---- Payments -------------------------------------------------------------------------------- */

/* The payment's fields, checked in the order the payments worker always checked them. */
static int read_payment(const casefile_t *cf, const casedecide_in_t *in, casepay_payment_t *pay,
                        reason_t *why)
{
    const char *payment_id = dstr(in, "payment_id"), *currency = dstr(in, "currency");
    const char *amount_s = dstr(in, "amount"), *received_s = dstr(in, "received_at");

    memset(pay, 0, sizeof(*pay));
    if (payment_id == NULL || currency == NULL || amount_s == NULL || received_s == NULL ||
        strlen(payment_id) >= CASEFILE_ID_MAX)
        return reason_set(why, "schema_violation", "data.payment_id: missing or too long"),
               RESULT_REJECTED;
    if (money_parse(amount_s, currency, 0, &pay->amount) != MONEY_OK || pay->amount <= 0)
        return reason_set(why, "invalid_amount", "data.amount: not a positive amount"),
               RESULT_REJECTED;
    if (cal_parse_instant(received_s, &pay->received_at, NULL) < 0)
        return reason_set(why, "schema_violation", "data.received_at: not an RFC 3339 instant"),
               RESULT_REJECTED;
    if (cf->currency[0] != '\0' && strcmp(cf->currency, currency) != 0)
        return reason_set(why, "currency_mismatch", "data.currency: the case is in %s",
                          cf->currency),
               RESULT_REJECTED;
    pay->payment_id = payment_id;
    pay->currency = currency;
    return RESULT_OK;
}

/* The payment row to insert, with what the payment did (steals eff's arrays). */
static void mark_receipt(casefile_payment_row_t *row, const casedecide_in_t *in,
                         const casepay_payment_t *pay, casepay_effect_t *eff,
                         const casefile_promise_row_t *sp, const casefile_plan_row_t *spl)
{
    row->write = CASEFILE_PAYMENT_INSERT;
    row->amount = pay->amount;
    row->currency = pay->currency;
    row->received_at = pay->received_at;
    row->method = dstr(in, "method");
    row->invoice_ids = json_object_get(in->data, "invoice_ids");
    row->unallocated = eff->credit;
    snprintf(row->promise_id, sizeof(row->promise_id), "%s",
             sp != NULL && eff->promise_applied > 0 ? sp->p.id : "");
    row->promise_applied = eff->promise_applied;
    snprintf(row->plan_id, sizeof(row->plan_id), "%s",
             spl != NULL && eff->n_plan_lines > 0 ? spl->pl.id : "");
    free(row->lines);
    free(row->plan_lines);
    row->lines = eff->lines;
    row->nlines = eff->nlines;
    row->plan_lines = eff->plan_lines;
    row->n_plan_lines = eff->n_plan_lines;
    eff->lines = NULL;
    eff->plan_lines = NULL;
}

/* money: the charges a received payment paid, to store with it for its reversal. */
static void note_charges_paid(casefile_t *cf, const casepay_payment_t *pay,
                              const casepay_effect_t *eff)
{
    charges_state_t *c = &cf->charges;
    snprintf(c->pay_id, sizeof(c->pay_id), "%s", pay->payment_id);
    c->pay_interest = eff->interest_paid;
    c->pay_fees = eff->fees_paid;
    c->pay_insert = eff->interest_paid > 0 || eff->fees_paid > 0;
}

/* The invoice_ids to pay first (a new array of borrowed strings into *named; NULL for none). */
static int named_invoices(const casedecide_in_t *in, casepay_payment_t *pay, const char ***named)
{
    const json_t *names = json_object_get(in->data, "invoice_ids");
    size_t i;
    json_t *v;

    *named = NULL;
    if (!json_is_array(names) || json_array_size(names) == 0)
        return 0;
    if ((*named = calloc(json_array_size(names), sizeof(**named))) == NULL)
        return -1;
    json_array_foreach(names, i, v)
    {
        if (json_is_string(v))
            (*named)[pay->nnamed++] = json_string_value(v);
    }
    pay->named = *named;
    return 0;
}

int casedecide_payment_received(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                                reason_t *why)
{
    casefile_payment_row_t *row = cf->rows.payment;
    casefile_promise_row_t *sp = cf->rows.open_promise;
    casefile_plan_row_t *spl = cf->rows.open_plan;
    casepay_payment_t pay;
    casepay_effect_t eff;
    const char **named = NULL;
    reason_t e;
    int rc = read_payment(cf, in, &pay, why);

    if (rc != RESULT_OK)
        return rc;
    if (row == NULL)
        return not_loaded(why, in->type);
    if (row->known) { /* a repeat, or reversed before it arrived: no second effect */
        note_event(cf, in->type);
        return RESULT_OK;
    }
    if ((rc = today_of(cf, pay.received_at, &pay.day, why)) != RESULT_OK)
        return rc;
    if (named_invoices(in, &pay, &named) < 0)
        return out_of_memory(why);
    pay.charges = charges_of(in); /* money: the allocation order */
    rc = casepay_receive(cf, &pay, sp ? &sp->p : NULL, spl ? &spl->pl : NULL, in->source, plan,
                         &eff, &e);
    free(named);
    if (rc < 0) {
        casepay_effect_clear(&eff);
        return rejected(why, &e);
    }
    note_charges_paid(cf, &pay, &eff);
    mark_receipt(row, in, &pay, &eff, sp, spl);
    casepay_effect_clear(&eff);
    /* money: a payment that completes a settlement plan writes the remainder off. */
    if (settlement_after_payment(cf, spl ? &spl->pl : NULL, pay.payment_id, pay.received_at, plan) <
        0)
        return out_of_memory(why);
    credit_in_row(cf, pay.payment_id);
    if (sp != NULL)
        sp->dirty = true;
    if (spl != NULL)
        spl->dirty = true;
    refresh_docs(cf, sp, spl);
    note_event(cf, in->type);
    return RESULT_OK;
}

int casedecide_payment_reversed(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                                reason_t *why)
{
    const char *payment_id = dstr(in, "payment_id");
    casefile_payment_row_t *row = cf->rows.payment;
    casefile_promise_row_t *sp = cf->rows.promise;
    casefile_plan_row_t *spl = cf->rows.plan;
    casepay_undo_t u;
    reason_t e;
    int rc;

    if (payment_id == NULL || strlen(payment_id) >= CASEFILE_ID_MAX)
        return reason_set(why, "schema_violation", "data.payment_id: missing or too long"),
               RESULT_REJECTED;
    if (row == NULL)
        return not_loaded(why, in->type);
    row->at = in->now;
    row->reason = dstr(in, "reason");
    if (!row->known || !row->received) {
        /* Not known yet: a reversed stub, so its late payment.received does nothing. Reversed
         * already: no second effect. */
        row->write = row->known ? CASEFILE_PAYMENT_KEEP : CASEFILE_PAYMENT_STUB;
        note_event(cf, in->type);
        return RESULT_OK;
    }
    memset(&u, 0, sizeof(u));
    if ((rc = today_of(cf, in->now, &u.day, why)) != RESULT_OK)
        return rc;
    u.payment_id = payment_id;
    u.lines = row->lines;
    u.nlines = row->nlines;
    u.promise_applied = row->promise_applied;
    u.plan_lines = row->plan_lines;
    u.n_plan_lines = row->n_plan_lines;
    u.at = in->now;
    if (strcmp(cf->charges.pay_id, payment_id) == 0) { /* money: the charges it paid */
        u.interest_paid = cf->charges.pay_interest;
        u.fees_paid = cf->charges.pay_fees;
    }
    if (casepay_reverse(cf, &u, sp ? &sp->p : NULL, spl ? &spl->pl : NULL, in->source, plan, &e) <
        0)
        return rejected(why, &e);
    if (settlement_after_reversal(cf, spl ? &spl->pl : NULL) < 0) /* money: re-opens it */
        return reason_set(why, "processing_error", "charges overflow"), RESULT_PERMANENT;
    row->write = CASEFILE_PAYMENT_REVERSE;
    credit_in_row(cf, payment_id); /* the reversal zeroes it */
    if (sp != NULL)
        sp->dirty = true;
    if (spl != NULL)
        spl->dirty = true;
    refresh_docs(cf, sp, spl);
    note_event(cf, in->type);
    return RESULT_OK;
}

/* ---- Promises and plans ---------------------------------------------------------------------- */

/* Cancels the case's pending applied promises (all but `keep`, may be NULL) on `today`. */
static int cancel_pending(casefile_t *cf, const casedecide_in_t *in, const char *keep,
                          promise_cancel_reason_t reason, int64_t today, casefile_plan_t *plan,
                          reason_t *why)
{
    for (size_t i = 0; i < cf->rows.n_pending; i++) {
        casefile_promise_row_t *sp = &cf->rows.pending[i];
        reason_t e;
        if (keep != NULL && strcmp(sp->p.id, keep) == 0)
            continue;
        if (casepay_cancel_promise(cf, &sp->p, reason, today, in->now, in->source, plan, &e) < 0)
            return failed(why, &e);
        sp->dirty = true;
    }
    return RESULT_OK;
}

/* promise.made's fields. */
static int read_promise(const casedecide_in_t *in, int64_t *amount, int64_t *due_day, reason_t *why)
{
    const char *promise_id = dstr(in, "promise_id"), *currency = dstr(in, "currency");

    if (promise_id == NULL || currency == NULL || strlen(promise_id) >= CASEFILE_ID_MAX)
        return reason_set(why, "schema_violation", "data.promise_id: missing or too long"),
               RESULT_REJECTED;
    if (dstr(in, "amount") == NULL ||
        money_parse(dstr(in, "amount"), currency, 0, amount) != MONEY_OK)
        return reason_set(why, "invalid_amount", "data.amount: not an amount"), RESULT_REJECTED;
    if (day_of_date(dstr(in, "due_on"), due_day) < 0)
        return reason_set(why, "schema_violation", "data.due_on: not a date"), RESULT_REJECTED;
    return RESULT_OK;
}

/* A known agreement is applied again only when it waits for approval and this one approves it:
 * any other repeat has no second effect. */
static bool is_repeat(bool known, bool pending_approval, const char *approved_by)
{
    return known && !(pending_approval && approved_by != NULL);
}

/* An agreement outside the limits: recorded pending approval, a supervisor_review task. */
static int to_supervisor(casefile_t *cf, const casedecide_in_t *in, const char *kind,
                         const char *id, const policy_check_t *check, casefile_plan_t *plan,
                         reason_t *why)
{
    if (casepay_supervisor_task(cf, kind, id, check, in->now, in->source, plan) < 0)
        return out_of_memory(why);
    return RESULT_OK;
}

/* The promise row of the event: the loaded one, or a new one (nothing applied yet). */
static casefile_promise_row_t *promise_row(casefile_t *cf)
{
    if (cf->rows.promise == NULL)
        cf->rows.promise = calloc(1, sizeof(*cf->rows.promise));
    return cf->rows.promise;
}

int casedecide_promise_made(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                            reason_t *why)
{
    const char *promise_id = dstr(in, "promise_id"), *currency = dstr(in, "currency");
    const char *approved_by = dstr(in, "approved_by");
    int64_t amount, due_day, today;
    policy_check_t check;
    bool known = cf->rows.promise != NULL;
    int rc;

    if ((rc = read_promise(in, &amount, &due_day, why)) != RESULT_OK ||
        (rc = today_of(cf, in->now, &today, why)) != RESULT_OK)
        return rc;
    if (is_repeat(known, known && cf->rows.promise->pending_approval, approved_by))
        return RESULT_OK;
    int verdict = casepay_decide_promise(cf, in->policy, currency, amount, due_day, today,
                                         approved_by != NULL, &check, why);
    if (verdict < 0)
        return RESULT_REJECTED;
    casefile_promise_row_t *sp = promise_row(cf);
    if (sp == NULL)
        return out_of_memory(why);
    if (!known && promise_init(&sp->p, promise_id, currency, amount, today, due_day,
                               (int32_t)in->policy->promise_grace_days) != PROMISE_OK)
        return reason_set(why, "invalid_promise", "data: not a valid promise"), RESULT_REJECTED;
    sp->dirty = true;
    sp->agent_id = dstr(in, "agent_id");
    sp->channel = dstr(in, "channel");
    sp->techniques = json_object_get(in->data, "techniques"); /* stored with the promise */
    if (verdict == CASEPAY_REVIEW) {
        sp->pending_approval = true;
        sp->limit = policy_limit_name(check.limit);
        return to_supervisor(cf, in, "promise", promise_id, &check, plan, why);
    }
    sp->pending_approval = false;
    sp->approved_by = approved_by;
    rc = cancel_pending(cf, in, promise_id, PROMISE_CANCEL_NEW_PROMISE, today, plan, why);
    if (rc == RESULT_OK)
        refresh_docs(cf, sp, NULL);
    return rc;
}

/* plan.agreed's fields: the instalments (n of them into inst) and the down payment. */
static int read_plan(const casedecide_in_t *in, policy_installment_t *inst, size_t *n,
                     int64_t *down, reason_t *why)
{
    const char *plan_id = dstr(in, "plan_id"), *currency = dstr(in, "currency");
    const json_t *arr = json_object_get(in->data, "installments");
    size_t i;
    json_t *o;

    if (plan_id == NULL || currency == NULL || strlen(plan_id) >= CASEFILE_ID_MAX)
        return reason_set(why, "schema_violation", "data.plan_id: missing or too long"),
               RESULT_REJECTED;
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > PLAN_MAX_INSTALLMENTS)
        return reason_set(why, "invalid_plan", "data.installments: 1..%d expected",
                          PLAN_MAX_INSTALLMENTS),
               RESULT_REJECTED;
    *n = 0;
    json_array_foreach(arr, i, o)
    {
        int64_t day;
        const char *a = json_string_value(json_object_get(o, "amount"));
        if (day_of_date(json_string_value(json_object_get(o, "due_on")), &day) < 0 || a == NULL ||
            money_parse(a, currency, 0, &inst[*n].amount) != MONEY_OK)
            return reason_set(why, "invalid_plan", "data.installments[%zu]: bad date or amount", i),
                   RESULT_REJECTED;
        inst[(*n)++].due_day = (int32_t)day;
    }
    *down = 0;
    if (dstr(in, "down_payment") != NULL &&
        money_parse(dstr(in, "down_payment"), currency, 0, down) != MONEY_OK)
        return reason_set(why, "invalid_amount", "data.down_payment: not an amount"),
               RESULT_REJECTED;
    return RESULT_OK;
}

/* An applied plan supersedes the pending promises and the previous active plan. */
static int supersede_for_plan(casefile_t *cf, const casedecide_in_t *in, const char *plan_id,
                              int64_t today, casefile_plan_t *plan, reason_t *why)
{
    casefile_plan_row_t *old = cf->rows.open_plan;
    reason_t e;
    int rc = cancel_pending(cf, in, NULL, PROMISE_CANCEL_PLAN, today, plan, why);

    if (rc != RESULT_OK)
        return rc;
    if (old != NULL && strcmp(old->pl.id, plan_id) != 0) {
        if (casepay_cancel_plan(cf, &old->pl, today, in->now, in->source, plan, &e) < 0)
            return failed(why, &e);
        old->dirty = true;
    }
    if (casepay_feature_set_bool(cf, "plan_active", true) != 0)
        return out_of_memory(why);
    return RESULT_OK;
}

/* Decides plan.agreed once its fields are read; *known says whether the plan row was loaded. */
static int decide_plan(casefile_t *cf, const casedecide_in_t *in, const policy_installment_t *inst,
                       size_t n, int64_t down, int64_t today, casefile_plan_t *plan, reason_t *why)
{
    const char *plan_id = dstr(in, "plan_id"), *currency = dstr(in, "currency");
    const char *approved_by = dstr(in, "approved_by");
    bool known = cf->rows.plan != NULL;
    policy_check_t check;

    if (is_repeat(known, known && cf->rows.plan->pending_approval, approved_by))
        return RESULT_OK;
    int64_t settle; /* money: a discounted settlement, checked before the limits */
    if (settlement_read(in->data, currency, &settle, why) < 0 ||
        (settle > 0 && strcmp(cf->currency, currency) == 0 &&
         settlement_check(cf, in->policy, settle, down, inst, n, why) < 0))
        return RESULT_REJECTED;
    int verdict = casepay_decide_plan(cf, in->policy, currency, down, inst, n, today,
                                      approved_by != NULL, &check, why);
    if (verdict < 0)
        return RESULT_REJECTED;
    if (!known && (cf->rows.plan = calloc(1, sizeof(*cf->rows.plan))) == NULL)
        return out_of_memory(why);
    casefile_plan_row_t *sp = cf->rows.plan;
    if (!known && plan_init_with_policy(&sp->pl, in->policy, plan_id, currency, today, down, inst,
                                        n) != PROMISE_OK)
        return reason_set(why, "invalid_plan", "data: not a valid plan"), RESULT_REJECTED;
    sp->dirty = true;
    sp->agent_id = dstr(in, "agent_id");
    if (verdict == CASEPAY_REVIEW) {
        sp->pending_approval = true;
        sp->limit = policy_limit_name(check.limit);
        return to_supervisor(cf, in, "plan", plan_id, &check, plan, why);
    }
    sp->pending_approval = false;
    sp->approved_by = approved_by;
    int rc = supersede_for_plan(cf, in, plan_id, today, plan, why);
    if (rc == RESULT_OK) {
        set_doc(&cf->open_promise, NULL);
        refresh_docs(cf, NULL, sp);
        settlement_agree(cf, plan_id, settle);
    }
    return rc;
}

int casedecide_plan_agreed(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                           reason_t *why)
{
    policy_installment_t *inst = malloc(PLAN_MAX_INSTALLMENTS * sizeof(*inst));
    int64_t down, today;
    size_t n;
    int rc;

    if (inst == NULL)
        return out_of_memory(why);
    if ((rc = read_plan(in, inst, &n, &down, why)) == RESULT_OK &&
        (rc = today_of(cf, in->now, &today, why)) == RESULT_OK)
        rc = decide_plan(cf, in, inst, n, down, today, plan, why);
    free(inst);
    return rc;
}

/* ---- Interactions ---------------------------------------------------------------------------- */

int casedecide_contact(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                       reason_t *why)
{
    caseinteract_task_t task;

    (void)plan;
    if (caseinteract_contact(cf, in->data, &task, why) < 0)
        return RESULT_REJECTED;
    /* version 2: a callback asked for, and whether the debtor was reached (callback.h,
     * outreach.h). */
    if (callback_note(cf, in->data) < 0 || outreach_note(cf, in->data) < 0)
        return out_of_memory(why);
    cf->rows.task_report = (int)task;
    cf->rows.record = CASEFILE_RECORD_CONTACT;
    return RESULT_OK;
}

int casedecide_dispute_opened(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                              reason_t *why)
{
    if (caseinteract_dispute_opened(cf, in->now, plan) < 0)
        return out_of_memory(why);
    cf->rows.record = CASEFILE_RECORD_DISPUTE;
    return RESULT_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Marks the open disputes `invoice_id` (NULL: every one) resolves: its own and the whole-debt
 * ones. Fills ids (cap of them, borrowed) with the distinct invoices they named, sorted, and
 * returns how many; *still_open says whether another stays open. */
static size_t resolve_disputes(casefile_rows_t *r, const char *invoice_id, const char **ids,
                               size_t cap, bool *still_open)
{
    size_t n = 0;

    *still_open = false;
    for (size_t i = 0; i < r->n_disputes; i++) {
        casefile_dispute_row_t *d = &r->disputes[i];
        d->resolved = invoice_id == NULL || d->invoice_id[0] == '\0' ||
                      strcmp(d->invoice_id, invoice_id) == 0;
        *still_open = *still_open || !d->resolved;
        if (!d->resolved || d->invoice_id[0] == '\0')
            continue;
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp(ids[k], d->invoice_id) == 0;
        if (!seen && n < cap)
            ids[n++] = d->invoice_id;
    }
    qsort(ids, n, sizeof(*ids), cmp_str);
    return n;
}

int casedecide_dispute_resolved(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                                reason_t *why)
{
    const char *ids[64], *invoice_id = dstr(in, "invoice_id"), *outcome = dstr(in, "outcome");
    bool still_open;
    reason_t e;

    (void)plan;
    size_t n =
        resolve_disputes(&cf->rows, invoice_id, ids, sizeof(ids) / sizeof(ids[0]), &still_open);
    cf->rows.resolved_at = dstr(in, "at");
    cf->rows.outcome = outcome;
    bool upheld = outcome != NULL && strcmp(outcome, "upheld") == 0;
    if (caseinteract_dispute_resolved(cf, upheld, invoice_id, ids, n, still_open, &e) < 0)
        return failed(why, &e);
    return RESULT_OK;
}

int casedecide_preferences(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                           reason_t *why)
{
    if (caseinteract_preferences(cf, in->data, &in->policy->contact, in->now, plan) < 0)
        return out_of_memory(why);
    cf->rows.record = CASEFILE_RECORD_PREFERENCES;
    return RESULT_OK;
}

int casedecide_forbearance(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                           reason_t *why)
{
    if (caseinteract_forbearance(cf, dstr(in, "from"), dstr(in, "until"), &in->policy->contact,
                                 in->now, plan, why) < 0)
        return RESULT_REJECTED;
    cf->rows.record = CASEFILE_RECORD_FORBEARANCE;
    return RESULT_OK;
}

int casedecide_forbearance_ended(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                                 reason_t *why)
{
    (void)plan;
    if (forbear_end(cf, dstr(in, "on"), in->now, cf->rows.ended_from, cf->rows.ended_until) < 0)
        return reason_set(why, "invalid_date", "data.on: not a date"), RESULT_REJECTED;
    cf->rows.ended_on = dstr(in, "on");
    cf->rows.record = CASEFILE_RECORD_FORBEARANCE_END;
    return RESULT_OK;
}

/* ---- The scheduler's tick -------------------------------------------------------------------- */

int casedecide_tick(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan, reason_t *why)
{
    casefile_promise_row_t *sp = cf->rows.open_promise;
    casefile_plan_row_t *spl = cf->rows.open_plan;
    int64_t today;
    reason_t e;
    int rc = today_of(cf, in->now, &today, why);

    if (rc != RESULT_OK)
        return rc;
    if (sp != NULL && sp->p.state != PROMISE_PENDING)
        sp = NULL; /* kept already: nothing left to settle */
    if (sp == NULL && spl == NULL)
        return RESULT_OK;
    if (casepay_evaluate(cf, sp ? &sp->p : NULL, spl ? &spl->pl : NULL, today, in->now, in->source,
                         plan, &e) < 0)
        return failed(why, &e);
    if (sp != NULL)
        sp->dirty = true;
    if (spl != NULL)
        spl->dirty = true;
    refresh_docs(cf, sp, spl);
    return RESULT_OK;
}
