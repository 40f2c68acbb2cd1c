/* casepay.c - payments, credit, reversals and agreements over one case file (see casepay.h). */
#include "casepay.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casecharge.h"
#include "contact.h"
#include "grow.h"
#include "money.h"
#include "calendar.h"
#include "settlement.h"

/* ---- Small helpers --------------------------------------------------------------------------- */

/* A UUIDv5 of (kind, case, a, b). */
static void id_of(char out[CASEFILE_UUID_MAX], const char *kind, const casefile_t *cf,
                  const char *a, const char *b)
{
    char name[1024];
    snprintf(name, sizeof(name), "%s\x1f%s\x1f%s\x1f%s\x1f%s", kind, cf->creditor_id, cf->debtor_id,
             a, b);
    casefile_uuid5(name, out);
}

int casepay_feature_add(casefile_t *cf, const char *name, int delta)
{
    json_int_t v = json_integer_value(json_object_get(cf->features, name)) + delta;
    if (delta == 0)
        return 0;
    cf->features_dirty = true;
    return json_object_set_new(cf->features, name, json_integer(v < 0 ? 0 : v));
}

int casepay_feature_set_bool(casefile_t *cf, const char *name, bool value)
{
    cf->features_dirty = true;
    return json_object_set_new(cf->features, name, json_boolean(value));
}

static int add_counts(casefile_t *cf, const promise_counts_t *d)
{
    return casepay_feature_add(cf, "promises_kept", d->kept) |
           casepay_feature_add(cf, "promises_broken", d->broken) |
           casepay_feature_add(cf, "promises_partially_kept", d->partially_kept) |
           casepay_feature_add(cf, "plan_defaulted_count", d->plan_defaulted);
}

/* Appends the case event of a promise or plan transition. `op` names the operation that caused
 * it ("pay:<payment_id>", "rev:<payment_id>", "tick:<day>") for the stable id. */
static int emit(casefile_t *cf, const promise_event_t *ev, const char *op, int64_t at,
                const char *source, casefile_plan_t *out)
{
    char when[32], id[CASEFILE_UUID_MAX], key[PROMISE_ID_MAX + 32];
    const char *type = promise_event_type_name(ev->type);

    if (type == NULL)
        return 0;
    cal_format_utc(at, when, sizeof(when));
    json_t *data = promise_event_to_json(ev, when);
    if (data == NULL)
        return -1;
    json_object_set_new(data, "creditor_id", json_string(cf->creditor_id));
    json_object_set_new(data, "debtor_id", json_string(cf->debtor_id));
    snprintf(key, sizeof(key), "%s\x1f%d\x1f%s", ev->id, (int)ev->installment, type);
    id_of(id, "pay_event", cf, key, op);
    return casefile_emit(out, CASEFILE_TOPIC_CASE_EVENTS, type, id, at, data);
}

static int emit_promise(casefile_t *cf, const promise_result_t *r, const char *op, int64_t at,
                        const char *source, casefile_plan_t *out)
{
    if (add_counts(cf, &r->delta) != 0)
        return -1;
    return r->event.type == PROMISE_EVENT_NONE ? 0 : emit(cf, &r->event, op, at, source, out);
}

static int emit_plan(casefile_t *cf, const plan_t *pl, const plan_result_t *r, const char *op,
                     int64_t at, const char *source, casefile_plan_t *out)
{
    if (add_counts(cf, &r->delta) != 0 ||
        casepay_feature_set_bool(cf, "plan_active", pl->state == PLAN_ACTIVE) != 0)
        return -1;
    for (size_t i = 0; i < r->nchanges; i++) {
        promise_event_t ev;
        if (plan_installment_event(pl, &r->changes[i], &ev) != PROMISE_OK)
            return -1;
        if (ev.type != PROMISE_EVENT_NONE && emit(cf, &ev, op, at, source, out) < 0)
            return -1;
    }
    return r->event.type == PROMISE_EVENT_NONE ? 0 : emit(cf, &r->event, op, at, source, out);
}

/* ---- Invoices and credit --------------------------------------------------------------------- */

static bool documented(const casefile_invoice_t *inv)
{
    return inv->due_on[0] != '\0' && inv->status != CASEFILE_INVOICE_CANCELLED &&
           inv->open_amount >= 0;
}

/* The documented, not cancelled invoices as allocation input (ids borrowed from cf). Returns
 * a new array (free() it; NULL with *n 0 when there are none) or NULL with *n SIZE_MAX on OOM. */
static alloc_invoice_t *alloc_view(const casefile_t *cf, size_t **index, size_t *n)
{
    alloc_invoice_t *v = malloc((cf->n_invoices + 1) * sizeof(*v));
    size_t *ix = malloc((cf->n_invoices + 1) * sizeof(*ix));
    *n = 0;
    if (v == NULL || ix == NULL) {
        free(v);
        free(ix);
        *n = SIZE_MAX;
        return NULL;
    }
    for (size_t i = 0; i < cf->n_invoices; i++) {
        const casefile_invoice_t *inv = &cf->invoices[i];
        int y, m, d;
        if (!documented(inv) || cal_parse_date(inv->due_on, &y, &m, &d) < 0)
            continue;
        v[*n].id = inv->id;
        v[*n].due_day = cal_days_from_civil(y, m, d);
        v[*n].open_amount = inv->status == CASEFILE_INVOICE_OPEN ? inv->open_amount : 0;
        ix[*n] = i;
        (*n)++;
    }
    *index = ix;
    return v;
}

/* Writes the allocation view's open amounts back to the invoices that changed. */
static void write_back(casefile_t *cf, const alloc_invoice_t *v, const size_t *ix, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        casefile_invoice_t *inv = &cf->invoices[ix[k]];
        int64_t before = inv->status == CASEFILE_INVOICE_OPEN ? inv->open_amount : 0;
        if (v[k].open_amount == before)
            continue;
        inv->open_amount = v[k].open_amount;
        inv->status = inv->open_amount == 0 ? CASEFILE_INVOICE_PAID : CASEFILE_INVOICE_OPEN;
        inv->dirty = true;
    }
}

static int cmp_credit(const void *a, const void *b)
{
    const casefile_credit_t *x = a, *y = b;
    if (x->received_at != y->received_at)
        return x->received_at < y->received_at ? -1 : 1;
    return strcmp(x->payment_id, y->payment_id);
}

int casepay_use_credit(casefile_t *cf)
{
    size_t n, *ix = NULL;
    int rc = 0;

    if (cf->n_credits == 0 || cf->currency[0] == '\0')
        return 0;
    alloc_invoice_t *v = alloc_view(cf, &ix, &n);
    if (n == SIZE_MAX)
        return -1;
    alloc_line_t *lines = malloc((n + 1) * sizeof(*lines));
    if (lines == NULL) {
        free(v);
        free(ix);
        return -1;
    }
    qsort(cf->credits, cf->n_credits, sizeof(*cf->credits), cmp_credit);
    for (size_t c = 0; c < cf->n_credits && rc == 0; c++) {
        casefile_credit_t *cr = &cf->credits[c];
        alloc_result_t res;
        if (cr->unallocated <= 0 || strcmp(cr->currency, cf->currency) != 0 || n == 0)
            continue;
        if (alloc_credit(v, n, cr->unallocated, lines, n, &res) != ALLOC_OK) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < res.nlines && rc == 0; i++) {
            if (GROW(cf->credit_lines, cf->cap_credit_lines, cf->n_credit_lines, 8) < 0) {
                rc = -1;
                break;
            }
            casefile_credit_line_t *l = &cf->credit_lines[cf->n_credit_lines++];
            snprintf(l->payment_id, sizeof(l->payment_id), "%s", cr->payment_id);
            snprintf(l->invoice_id, sizeof(l->invoice_id), "%s", lines[i].invoice_id);
            l->amount = lines[i].amount;
        }
        if (res.allocated > 0) {
            cr->unallocated = res.credit;
            cr->dirty = true;
        }
    }
    if (rc == 0)
        write_back(cf, v, ix, n);
    free(lines);
    free(v);
    free(ix);
    /* money: what is left of the credit pays the open interest and fees (casecharge.h). */
    return rc == 0 ? casecharge_use_credit(cf) : rc;
}

static int64_t documented_balance(const casefile_t *cf)
{
    int64_t b = 0;
    for (size_t i = 0; i < cf->n_invoices; i++) {
        const casefile_invoice_t *inv = &cf->invoices[i];
        if (documented(inv) && inv->status == CASEFILE_INVOICE_OPEN && inv->open_amount > 0 &&
            !money_add(b, inv->open_amount, &b))
            return INT64_MAX;
    }
    /* money: the open interest and fees are owed too (casecharge.h). */
    if (!money_add(b, cf->charges.interest, &b) || !money_add(b, cf->charges.fees, &b))
        return INT64_MAX;
    return b;
}

/* ---- Payments -------------------------------------------------------------------------------- */

void casepay_effect_clear(casepay_effect_t *e)
{
    if (e == NULL)
        return;
    free(e->lines);
    free(e->plan_lines);
    memset(e, 0, sizeof(*e));
}

/* What the debtor was expected to pay now: the promise's remainder, else the plan's next
 * unpaid instalment, else the balance. */
static int64_t amount_due(const promise_t *p, const plan_t *pl, int64_t balance)
{
    if (p != NULL && p->state == PROMISE_PENDING)
        return p->amount - p->paid_toward;
    if (pl != NULL && pl->state == PLAN_ACTIVE)
        for (size_t i = 0; i < pl->n; i++)
            if (pl->installments[i].paid < pl->installments[i].amount)
                return pl->installments[i].amount - pl->installments[i].paid;
    return balance;
}

/* Allocates the payment to the case's open documented invoices (none when the case has no
 * currency yet: then it is all credit), writing the invoices back; the lines and the credit into
 * *eff. Returns 0, or -1 with *err filled. */
static int allocate(casefile_t *cf, const casepay_payment_t *pay, int64_t amount,
                    casepay_effect_t *eff, reason_t *err)
{
    size_t n = 0, *ix = NULL;
    alloc_result_t res = {0, 0, amount, 0};
    alloc_invoice_t *v = cf->currency[0] != '\0' ? alloc_view(cf, &ix, &n) : NULL;

    if (n == SIZE_MAX)
        return reason_set(err, "processing_error", "out of memory");
    eff->lines = malloc((n + 1) * sizeof(*eff->lines));
    int rc = eff->lines == NULL ? reason_set(err, "processing_error", "out of memory") : 0;
    if (rc == 0 && amount > 0 && /* money: 0 when charges took it all */
        alloc_payment(v, n, amount, pay->named, pay->nnamed, eff->lines, n, &res) != ALLOC_OK)
        rc = reason_set(err, "processing_error", "allocation refused the payment");
    if (rc == 0) {
        write_back(cf, v, ix, n);
        eff->nlines = res.nlines;
        eff->allocated = res.allocated;
        eff->credit = res.credit;
    } else {
        casepay_effect_clear(eff);
    }
    free(v);
    free(ix);
    return rc;
}

/* What the payment did not allocate becomes its credit (a new cf->credits entry). */
static int keep_credit(casefile_t *cf, const casepay_payment_t *pay, int64_t credit)
{
    if (credit <= 0)
        return 0;
    if (GROW(cf->credits, cf->cap_credits, cf->n_credits, 8) < 0)
        return -1;
    casefile_credit_t *cr = &cf->credits[cf->n_credits++];
    memset(cr, 0, sizeof(*cr));
    snprintf(cr->payment_id, sizeof(cr->payment_id), "%s", pay->payment_id);
    snprintf(cr->currency, sizeof(cr->currency), "%s", pay->currency);
    cr->unallocated = credit;
    cr->received_at = pay->received_at;
    cr->dirty = true;
    return 0;
}

/* Counts the payment toward the promise (pending or kept), with its case event. */
static int pay_promise(casefile_t *cf, const casepay_payment_t *pay, promise_t *p, const char *op,
                       const char *source, casefile_plan_t *out, casepay_effect_t *eff,
                       reason_t *err)
{
    promise_result_t pr;

    if (p == NULL || (p->state != PROMISE_PENDING && p->state != PROMISE_KEPT))
        return 0;
    if (promise_apply_payment(p, pay->amount, pay->day, &pr) != PROMISE_OK)
        return reason_set(err, "processing_error", "promise refused the payment");
    eff->promise_applied = pr.applied;
    if (emit_promise(cf, &pr, op, pay->received_at, source, out) < 0)
        return reason_set(err, "processing_error", "out of memory");
    return 0;
}

/* Counts the payment toward the active plan's instalments, with its case events. */
static int pay_plan(casefile_t *cf, const casepay_payment_t *pay, plan_t *pl, const char *op,
                    const char *source, casefile_plan_t *out, casepay_effect_t *eff, reason_t *err)
{
    if (pl == NULL || pl->state != PLAN_ACTIVE)
        return 0;
    plan_result_t *r = malloc(sizeof(*r));
    eff->plan_lines = malloc((pl->n + 1) * sizeof(*eff->plan_lines));
    int rc = r == NULL || eff->plan_lines == NULL
                 ? reason_set(err, "processing_error", "out of memory")
                 : 0;
    if (rc == 0 &&
        plan_apply_payment(pl, pay->amount, pay->day, eff->plan_lines, pl->n, r) != PROMISE_OK)
        rc = reason_set(err, "processing_error", "plan refused the payment");
    if (rc == 0) {
        eff->n_plan_lines = r->nlines;
        if (emit_plan(cf, pl, r, op, pay->received_at, source, out) < 0)
            rc = reason_set(err, "processing_error", "out of memory");
    }
    free(r);
    return rc;
}

int casepay_receive(casefile_t *cf, const casepay_payment_t *pay, promise_t *p, plan_t *pl,
                    const char *source, casefile_plan_t *out, casepay_effect_t *eff, reason_t *err)
{
    char op[CASEFILE_ID_MAX + 8];

    memset(eff, 0, sizeof(*eff));
    if (cf->currency[0] != '\0' && strcmp(cf->currency, pay->currency) != 0)
        return reason_set(err, "currency_mismatch", "data.currency: the case is in %s",
                          cf->currency);
    if (strlen(pay->payment_id) >= CASEFILE_ID_MAX)
        return reason_set(err, "schema_violation", "data.payment_id: too long");
    int64_t balance = documented_balance(cf);
    bool same_currency = cf->currency[0] != '\0';
    /* money: the policy's allocation order shares the payment with interest and fees. */
    int64_t interest_paid = 0, fees_paid = 0;
    int64_t to_invoices = same_currency ? casecharge_pay_before(cf, pay->charges, pay->amount,
                                                                &interest_paid, &fees_paid)
                                        : pay->amount;
    if (allocate(cf, pay, to_invoices, eff, err) < 0)
        return -1;
    if (same_currency)
        eff->credit =
            casecharge_pay_after(cf, pay->charges, eff->credit, &interest_paid, &fees_paid);
    eff->interest_paid = interest_paid;
    eff->fees_paid = fees_paid;
    if (keep_credit(cf, pay, eff->credit) < 0)
        return reason_set(err, "processing_error", "out of memory");
    int64_t due = amount_due(p, pl, balance);
    eff->partial = same_currency && pay->amount < balance && pay->amount < due;
    if (casepay_feature_add(cf, "payments_count", 1) != 0 ||
        casepay_feature_add(cf, "partial_payments", eff->partial ? 1 : 0) != 0)
        return reason_set(err, "processing_error", "out of memory");
    snprintf(op, sizeof(op), "pay:%s", pay->payment_id);
    if (pay_promise(cf, pay, p, op, source, out, eff, err) < 0)
        return -1;
    return pay_plan(cf, pay, pl, op, source, out, eff, err);
}

/* Re-opens what the payment's stored lines paid (paid invoices take part: they are the ones a
 * reversal re-opens; a cancelled one stays cancelled). Returns 0, or -1 with *err filled. */
static int reopen_lines(casefile_t *cf, const casepay_undo_t *u, reason_t *err)
{
    size_t n, *ix = NULL;
    alloc_reversal_t rr;
    alloc_invoice_t *v = alloc_view(cf, &ix, &n);

    if (n == SIZE_MAX)
        return reason_set(err, "processing_error", "out of memory");
    for (size_t k = 0; k < n; k++)
        v[k].open_amount = cf->invoices[ix[k]].open_amount;
    int rc = 0;
    if (u->nlines > 0 && alloc_reverse(v, n, u->lines, u->nlines, &rr) != ALLOC_OK)
        rc = reason_set(err, "processing_error", "the stored allocation does not reverse");
    for (size_t k = 0; k < n && rc == 0; k++) {
        casefile_invoice_t *inv = &cf->invoices[ix[k]];
        if (v[k].open_amount == inv->open_amount)
            continue;
        inv->open_amount = v[k].open_amount;
        inv->status = inv->open_amount == 0 ? CASEFILE_INVOICE_PAID : CASEFILE_INVOICE_OPEN;
        inv->dirty = true;
    }
    free(v);
    free(ix);
    return rc;
}

/* Takes back what the payment counted toward the promise, with its case event. */
static int unpay_promise(casefile_t *cf, const casepay_undo_t *u, promise_t *p, const char *op,
                         const char *source, casefile_plan_t *out, reason_t *err)
{
    promise_result_t pr;

    if (p == NULL || u->promise_applied <= 0)
        return 0;
    int64_t amount = u->promise_applied < p->paid_toward ? u->promise_applied : p->paid_toward;
    if (amount <= 0)
        return 0;
    if (promise_apply_reversal(p, amount, u->day, &pr) != PROMISE_OK)
        return reason_set(err, "processing_error", "promise refused the reversal");
    if (emit_promise(cf, &pr, op, u->at, source, out) < 0)
        return reason_set(err, "processing_error", "out of memory");
    return 0;
}

/* Takes back the instalments the payment filled, with the case events. */
static int unpay_plan(casefile_t *cf, const casepay_undo_t *u, plan_t *pl, const char *op,
                      const char *source, casefile_plan_t *out, reason_t *err)
{
    if (pl == NULL || u->n_plan_lines == 0)
        return 0;
    plan_result_t *r = malloc(sizeof(*r));
    if (r == NULL)
        return reason_set(err, "processing_error", "out of memory");
    int rc = 0;
    if (plan_apply_reversal(pl, u->plan_lines, u->n_plan_lines, u->day, r) != PROMISE_OK)
        rc = reason_set(err, "processing_error", "plan refused the reversal");
    else if (emit_plan(cf, pl, r, op, u->at, source, out) < 0)
        rc = reason_set(err, "processing_error", "out of memory");
    free(r);
    return rc;
}

int casepay_reverse(casefile_t *cf, const casepay_undo_t *u, promise_t *p, plan_t *pl,
                    const char *source, casefile_plan_t *out, reason_t *err)
{
    char op[CASEFILE_ID_MAX + 8];

    if (reopen_lines(cf, u, err) < 0)
        return -1;
    if (casecharge_reopen(cf, u->interest_paid, u->fees_paid) < 0) /* money */
        return reason_set(err, "processing_error", "charges overflow");
    for (size_t c = 0; c < cf->n_credits; c++)
        if (strcmp(cf->credits[c].payment_id, u->payment_id) == 0) {
            cf->credits[c].unallocated = 0;
            cf->credits[c].dirty = true;
        }
    if (casepay_feature_add(cf, "payments_count", -1) != 0)
        return reason_set(err, "processing_error", "out of memory");
    snprintf(op, sizeof(op), "rev:%s", u->payment_id);
    if (unpay_promise(cf, u, p, op, source, out, err) < 0 ||
        unpay_plan(cf, u, pl, op, source, out, err) < 0)
        return -1;
    /* money: a settlement the reversal undid re-opens what it wrote off, before the case's
     * credit meets what is open again (oldest first, the write-off included). */
    if (settlement_after_reversal(cf, pl) < 0)
        return reason_set(err, "processing_error", "charges overflow");
    if (casepay_use_credit(cf) < 0)
        return reason_set(err, "processing_error", "out of memory");
    return 0;
}

int casepay_evaluate(casefile_t *cf, promise_t *p, plan_t *pl, int64_t day, int64_t now,
                     const char *source, casefile_plan_t *out, reason_t *err)
{
    char op[32];
    snprintf(op, sizeof(op), "tick:%" PRId64, day);
    if (p != NULL) {
        promise_result_t pr;
        if (promise_evaluate(p, day, &pr) != PROMISE_OK)
            return reason_set(err, "processing_error", "promise refused the tick");
        if (emit_promise(cf, &pr, op, now, source, out) < 0)
            return reason_set(err, "processing_error", "out of memory");
    }
    if (pl != NULL) {
        plan_result_t *r = malloc(sizeof(*r));
        if (r == NULL)
            return reason_set(err, "processing_error", "out of memory");
        if (plan_evaluate(pl, day, r) != PROMISE_OK) {
            free(r);
            return reason_set(err, "processing_error", "plan refused the tick");
        }
        int rc = emit_plan(cf, pl, r, op, now, source, out);
        free(r);
        if (rc < 0)
            return reason_set(err, "processing_error", "out of memory");
    }
    return 0;
}

int casepay_cancel_promise(casefile_t *cf, promise_t *p, promise_cancel_reason_t reason,
                           int64_t day, int64_t now, const char *source, casefile_plan_t *out,
                           reason_t *err)
{
    char op[32];
    promise_result_t pr;
    snprintf(op, sizeof(op), "cancel:%" PRId64, day);
    if (promise_cancel(p, reason, day, &pr) != PROMISE_OK)
        return reason_set(err, "processing_error", "promise refused the cancellation");
    if (emit_promise(cf, &pr, op, now, source, out) < 0)
        return reason_set(err, "processing_error", "out of memory");
    return 0;
}

int casepay_cancel_plan(casefile_t *cf, plan_t *pl, int64_t day, int64_t now, const char *source,
                        casefile_plan_t *out, reason_t *err)
{
    char op[32];
    plan_result_t *r = malloc(sizeof(*r));
    if (r == NULL)
        return reason_set(err, "processing_error", "out of memory");
    snprintf(op, sizeof(op), "cancel:%" PRId64, day);
    if (plan_cancel(pl, day, r) != PROMISE_OK) {
        free(r);
        return reason_set(err, "processing_error", "plan refused the cancellation");
    }
    int rc = emit_plan(cf, pl, r, op, now, source, out);
    free(r);
    return rc < 0 ? reason_set(err, "processing_error", "out of memory") : 0;
}

/* ---- Agreements ------------------------------------------------------------------------------ */

/* The limits a supervisor may waive; the others make the agreement invalid. */
static bool waivable(policy_limit_t l)
{
    return l != POLICY_LIMIT_INVALID_AMOUNT && l != POLICY_LIMIT_EXCEEDS_BALANCE &&
           l != POLICY_LIMIT_INVALID_DATE;
}

/* Why an agreement breaking a limit no supervisor can waive is refused, for the DLQ detail:
 * the limit, never the amounts (the policy check's own detail quotes them, and a DLQ detail
 * carries no personal or financial data). */
static const char *unwaivable_why(policy_limit_t l)
{
    switch (l) {
    case POLICY_LIMIT_INVALID_AMOUNT:
        return "an amount is not positive, or the total does not fit";
    case POLICY_LIMIT_EXCEEDS_BALANCE:
        return "the amount agreed is above the case's documented balance";
    default:
        return "a date is in the past, or the dates are out of order";
    }
}

static int decide(const casefile_t *cf, const char *currency, const char *code, bool approved,
                  int rc, policy_check_t *check, reason_t *err)
{
    if (rc < 0)
        return reason_set(err, code, "the case cannot be checked against the policy");
    if (check->limit == POLICY_LIMIT_OK)
        return CASEPAY_APPLY;
    if (!waivable(check->limit))
        return reason_set(err, code, "%s: %s", policy_limit_name(check->limit),
                          unwaivable_why(check->limit));
    (void)cf;
    (void)currency;
    return approved ? CASEPAY_APPLY : CASEPAY_REVIEW;
}

static int case_ready(const casefile_t *cf, const char *currency, const char *code, reason_t *err)
{
    if (cf->currency[0] != '\0' && strcmp(cf->currency, currency) != 0)
        return reason_set(err, "currency_mismatch", "data.currency: the case is in %s",
                          cf->currency);
    if (!cf->segmented || cf->currency[0] == '\0' || documented_balance(cf) <= 0)
        return reason_set(err, code, "the case owes nothing documented");
    return 0;
}

int casepay_decide_promise(const casefile_t *cf, const policy_t *policy, const char *currency,
                           int64_t amount, int64_t due_day, int64_t today, bool approved,
                           policy_check_t *check, reason_t *err)
{
    if (case_ready(cf, currency, "invalid_promise", err) < 0)
        return -1;
    if (due_day < today)
        return reason_set(err, "invalid_promise", "data.due_on: in the past");
    int rc = policy_check_promise(policy, cf->segment, currency, documented_balance(cf), amount,
                                  (int32_t)today, (int32_t)due_day, check);
    return decide(cf, currency, "invalid_promise", approved, rc, check, err);
}

int casepay_decide_plan(const casefile_t *cf, const policy_t *policy, const char *currency,
                        int64_t down_payment, const policy_installment_t *inst, size_t n,
                        int64_t today, bool approved, policy_check_t *check, reason_t *err)
{
    if (case_ready(cf, currency, "invalid_plan", err) < 0)
        return -1;
    if (n == 0 || n > PLAN_MAX_INSTALLMENTS)
        return reason_set(err, "invalid_plan", "data.installments: 1..%d expected",
                          PLAN_MAX_INSTALLMENTS);
    for (size_t i = 0; i < n; i++)
        if (inst[i].due_day < today || (i > 0 && inst[i].due_day <= inst[i - 1].due_day))
            return reason_set(err, "invalid_plan",
                              "data.installments[%zu].due_on: past or not in "
                              "order",
                              i);
    int rc = policy_check_plan(policy, cf->segment, currency, documented_balance(cf), down_payment,
                               inst, n, (int32_t)today, check);
    return decide(cf, currency, "invalid_plan", approved, rc, check, err);
}

int casepay_supervisor_task(casefile_t *cf, const char *kind, const char *id,
                            const policy_check_t *check, int64_t now, const char *source,
                            casefile_plan_t *out)
{
    casefile_task_t t;
    char nb[CONTACT_INSTANT_MAX], na[CONTACT_INSTANT_MAX], bal[MONEY_FMT_MAX], reason[300];
    const char *zone = cf->timezone[0] ? cf->timezone : "UTC";

    for (size_t i = 0; i < cf->n_tasks; i++) {
        char tid[CASEFILE_UUID_MAX];
        id_of(tid, "supervisor_review", cf, kind, id);
        if (strcmp(cf->tasks[i].task_id, tid) == 0)
            return 0; /* already asked */
    }
    memset(&t, 0, sizeof(t));
    id_of(t.task_id, "supervisor_review", cf, kind, id);
    snprintf(t.action, sizeof(t.action), "%s", vocab_action_name(VOCAB_ACTION_SUPERVISOR_REVIEW));
    snprintf(t.channel, sizeof(t.channel), "%s", vocab_channel_name(VOCAB_CHANNEL_INTERNAL));
    snprintf(t.segment, sizeof(t.segment), "%s", cf->segmented ? segment_name(cf->segment) : "");
    snprintf(t.template_name, sizeof(t.template_name), "%s.supervisor_review", kind);
    t.segment_seq = cf->segment_seq;
    t.step = 0;
    t.priority = 1;
    t.not_before = now;
    t.not_after = now + 3 * 86400;
    t.status = CASEFILE_TASK_PENDING;
    t.is_new = true;
    if (contact_format_instant(t.not_before, zone, nb, sizeof(nb)) < 0 ||
        contact_format_instant(t.not_after, zone, na, sizeof(na)) < 0 ||
        money_format(cf->balance, cf->currency, bal, sizeof(bal)) < 0)
        return -1;
    snprintf(reason, sizeof(reason), "%s %s outside the negotiation limits (%s): %s", kind, id,
             policy_limit_name(check->limit), check->detail);
    t.data = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s,"
        " s:i, s:i, s:s, s:s, s:s, s:i, s:o, s:{s:s, s:s, s:s}}",
        "task_id", t.task_id, "creditor_id", cf->creditor_id, "creditor_name", cf->creditor_name,
        "debtor_id", cf->debtor_id, "channel", t.channel, "action", t.action, "template",
        t.template_name, "priority", t.priority, "not_before", nb, "not_after", na, "segment",
        t.segment, "strategy", cf->strategy, "variant", cf->variant, "step", 0, "policy_version",
        cf->policy_version, "reason", reason, "currency", cf->currency, "balance", bal,
        "days_past_due", (int)cf->days_past_due, "invoices", casefile_invoices_new(cf), "review",
        "kind", kind, "id", id, "limit", policy_limit_name(check->limit));
    if (t.data == NULL)
        return -1;
    json_t *data = json_incref(t.data);
    if (casefile_add_task(cf, &t) == NULL) {
        json_decref(t.data);
        json_decref(data);
        return -1;
    }
    return casefile_emit(out, CASEFILE_TOPIC_TASKS, "task.created", t.task_id, now, data);
}

/* ---- Cache documents ------------------------------------------------------------------------- */

json_t *casepay_promise_json(const promise_t *p)
{
    char amount[MONEY_FMT_MAX], paid[MONEY_FMT_MAX], due[16];
    if (money_format(p->amount, p->currency, amount, sizeof(amount)) < 0 ||
        money_format(p->paid_toward, p->currency, paid, sizeof(paid)) < 0)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "promise_id", p->id, "amount", amount,
                     "currency", p->currency, "paid", paid, "due_on",
                     promise_format_day(p->due_day, due, sizeof(due)), "state",
                     promise_state_name(p->state));
}

json_t *casepay_plan_json(const plan_t *pl)
{
    char total[MONEY_FMT_MAX], paid[MONEY_FMT_MAX], due[16] = "", next[MONEY_FMT_MAX] = "";
    int left = 0;
    if (money_format(pl->total, pl->currency, total, sizeof(total)) < 0 ||
        money_format(pl->paid, pl->currency, paid, sizeof(paid)) < 0)
        return NULL;
    for (size_t i = 0; i < pl->n; i++)
        left += pl->installments[i].paid < pl->installments[i].amount;
    for (size_t i = 0; i < pl->n; i++)
        if (pl->installments[i].paid < pl->installments[i].amount) {
            promise_format_day(pl->installments[i].due_day, due, sizeof(due));
            /* version 2: what the next instalment still needs (its promise_reminder). */
            if (money_format(pl->installments[i].amount - pl->installments[i].paid, pl->currency,
                             next, sizeof(next)) < 0)
                next[0] = '\0';
            break;
        }
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:s?, s:s?}", "plan_id", pl->id,
                     "currency", pl->currency, "total", total, "paid", paid, "installments",
                     (int)pl->n, "installments_left", left, "missed", (int)pl->missed, "state",
                     plan_state_name(pl->state), "next_due_on", due[0] ? due : NULL, "next_amount",
                     next[0] ? next : NULL);
}
