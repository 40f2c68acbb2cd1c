/* casecarry.c - one case carried in memory from one event of a batch to the next (see
 * casecarry.h). */
#include "casecarry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

void casecarry_begin(casecarry_t *cc, const casefile_t *cf, size_t batch_tasks)
{
    cc->n_old = cf->n_tasks > batch_tasks ? cf->n_tasks - batch_tasks : 0;
}

size_t casecarry_batch_tasks(const casecarry_t *cc, const casefile_t *cf)
{
    return cf->n_tasks > cc->n_old ? cf->n_tasks - cc->n_old : 0;
}

void casecarry_saved(casecarry_t *cc)
{
    for (size_t i = 0; i < cc->n_writes; i++)
        json_decref(cc->writes[i].data);
    cc->n_writes = 0;
    cc->n_recs = 0;
}

void casecarry_clear(casecarry_t *cc)
{
    if (cc == NULL)
        return;
    casecarry_saved(cc);
    free(cc->writes);
    free(cc->recs);
    *cc = (casecarry_t)CASECARRY_INIT;
}

void casecarry_swap(casefile_t *cf, casecarry_t *cc)
{
    casefile_task_t *t = cf->tasks;
    size_t n = cf->n_tasks, cap = cf->cap_tasks;

    cf->tasks = cc->writes;
    cf->n_tasks = cc->n_writes;
    cf->cap_tasks = cc->cap_writes;
    cc->writes = t;
    cc->n_writes = n;
    cc->cap_writes = cap;
}

static int add_write(casecarry_t *cc, const casefile_task_t *t)
{
    if (GROW(cc->writes, cc->cap_writes, cc->n_writes, 8) != 0)
        return -1;
    cc->writes[cc->n_writes++] = *t;
    return 0;
}

/* An insert of `id` already kept: the store would keep the first row (ON CONFLICT DO NOTHING),
 * the case in memory the second. */
static bool planned_twice(const casecarry_t *cc, const char *id)
{
    for (size_t i = 0; i < cc->n_writes; i++)
        if (cc->writes[i].is_new && strcmp(cc->writes[i].task_id, id) == 0)
            return true;
    return false;
}

/* Whether a goes after b among one transaction's tasks (the load's order: step, then id). */
static bool task_after(const casefile_task_t *a, const casefile_task_t *b)
{
    return a->step != b->step ? a->step > b->step : strcmp(a->task_id, b->task_id) > 0;
}

/* Moves every task row to write into cc (the data goes with it) and keeps the pending tasks as
 * loaded ones, in place and in order. Returns 0, CASECARRY_RELOAD or -1. */
static int settle_tasks(casefile_t *cf, casecarry_t *cc)
{
    size_t keep = 0, old = 0;
    int rc = 0;

    for (size_t i = 0; i < cf->n_tasks; i++) {
        casefile_task_t t = cf->tasks[i];
        if (t.is_new || t.status_dirty) {
            if (t.is_new && planned_twice(cc, t.task_id))
                rc = CASECARRY_RELOAD;
            if (add_write(cc, &t) < 0)
                return -1;
        }
        if (t.status != CASEFILE_TASK_PENDING) {
            if (!t.is_new && !t.status_dirty)
                json_decref(t.data);
            continue;
        }
        t.data = NULL; /* the write kept it; a loaded task has none */
        t.reason[0] = '\0';
        t.is_new = t.status_dirty = false;
        if (i < cc->n_old)
            old++;
        cf->tasks[keep++] = t;
    }
    cf->n_tasks = keep;
    cc->n_old = old;
    /* This batch's tasks share the transaction's created_at: the load orders them by step, then
     * task_id. An insertion sort: there are few. */
    for (size_t i = old + 1; i < keep; i++) {
        casefile_task_t t = cf->tasks[i];
        size_t j = i;
        while (j > old && task_after(&cf->tasks[j - 1], &t)) {
            cf->tasks[j] = cf->tasks[j - 1];
            j--;
        }
        cf->tasks[j] = t;
    }
    return rc;
}

static int by_invoice_id(const void *a, const void *b)
{
    return strcmp(((const casefile_invoice_t *)a)->id, ((const casefile_invoice_t *)b)->id);
}

/* Moves the event's record (rows.record) to the records kept: only its own fields go. Returns 0,
 * or -1 when out of memory. */
static int keep_record(casefile_t *cf, casecarry_t *cc)
{
    const casefile_rows_t *r = &cf->rows;

    if (r->record == CASEFILE_RECORD_NONE)
        return 0;
    if (GROW(cc->recs, cc->cap_recs, cc->n_recs, 4) != 0)
        return -1;
    casefile_rows_t *k = &cc->recs[cc->n_recs++];
    memset(k, 0, sizeof(*k));
    k->record = r->record;
    k->event_data = r->event_data;
    k->event_source = r->event_source;
    k->event_id = r->event_id;
    memcpy(k->ended_from, r->ended_from, sizeof(k->ended_from));
    memcpy(k->ended_until, r->ended_until, sizeof(k->ended_until));
    k->ended_on = r->ended_on;
    cf->rows.record = CASEFILE_RECORD_NONE;
    return 0;
}

/* Rows of the event, or parts of the case, that a carry cannot reproduce. */
static bool needs_reload(const casefile_t *cf)
{
    const casefile_rows_t *r = &cf->rows;

    if (r->payment || r->promise || r->plan || r->open_promise || r->open_plan || r->n_pending ||
        r->n_disputes || r->task_report != 0)
        return true;
    /* A forbearance granted or ended: a reload's forbearance_from/until are the latest granted
     * (caseload.c), not the one in force that forbear_pick() leaves in memory. */
    if (r->record == CASEFILE_RECORD_FORBEARANCE || r->record == CASEFILE_RECORD_FORBEARANCE_END)
        return true;
    if (cf->n_credits > 0 || cf->n_credit_lines > 0 || cf->charges.pay_insert ||
        cf->charges.n_credit_paid > 0 || cf->charges.pay_id[0] != '\0')
        return true;
    /* The save writes the parties only once they are complete: a reload would not see them. */
    return cf->parties_dirty && !casefile_parties_due(cf);
}

int casecarry_settle(casefile_t *cf, casecarry_t *cc)
{
    int rc = needs_reload(cf) ? CASECARRY_RELOAD : 0;
    int trc = settle_tasks(cf, cc);

    if (trc < 0 || keep_record(cf, cc) < 0)
        return -1;
    if (trc == CASECARRY_RELOAD)
        rc = CASECARRY_RELOAD;
    qsort(cf->invoices, cf->n_invoices, sizeof(*cf->invoices), by_invoice_id);
    cf->last_event[0] = '\0';
    cf->principal = 0;
    if (!cf->has_next) { /* saved as NULLs */
        cf->next_action[0] = cf->next_channel[0] = '\0';
        cf->next_not_before = 0;
    }
    if (cf->charges.dirty)
        cf->charges.loaded = true;
    /* The other rows stay: an event that had any ends the carry (needs_reload()), and what it
     * did is still read after the save (a handler's observe()). */
    return rc;
}

/* ---- Comparing ------------------------------------------------------------------------------- */

/* The first difference found, named into what; `found` keeps the first. */
typedef struct diff {
    char *what;
    size_t len;
    bool found;
} diff_t;

static void differ(diff_t *d, bool same, const char *field, size_t index)
{
    if (same || d->found)
        return;
    d->found = true;
    if (index == (size_t)-1)
        snprintf(d->what, d->len, "%s", field);
    else
        snprintf(d->what, d->len, "%s[%zu]", field, index);
}

#define SAME_STR(d, a, b, f)  differ(d, strcmp((a)->f, (b)->f) == 0, #f, (size_t)-1)
#define SAME_VAL(d, a, b, f)  differ(d, (a)->f == (b)->f, #f, (size_t)-1)
#define SAME_JSON(d, a, b, f) differ(d, json_same((a)->f, (b)->f), #f, (size_t)-1)

static bool json_same(const json_t *a, const json_t *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && json_equal(a, b));
}

static bool same_invoice(const casefile_invoice_t *a, const casefile_invoice_t *b)
{
    return strcmp(a->id, b->id) == 0 && strcmp(a->number, b->number) == 0 &&
           strcmp(a->currency, b->currency) == 0 && a->amount == b->amount &&
           a->open_amount == b->open_amount && strcmp(a->due_on, b->due_on) == 0 &&
           strcmp(a->issued_on, b->issued_on) == 0 && a->status == b->status &&
           a->adjusted == b->adjusted;
}

static bool same_task(const casefile_task_t *a, const casefile_task_t *b)
{
    return strcmp(a->task_id, b->task_id) == 0 && strcmp(a->action, b->action) == 0 &&
           strcmp(a->channel, b->channel) == 0 && strcmp(a->segment, b->segment) == 0 &&
           a->segment_seq == b->segment_seq && a->step == b->step &&
           a->not_before == b->not_before && a->not_after == b->not_after &&
           a->status == b->status && strcmp(a->reason, b->reason) == 0 &&
           strcmp(a->template_name, b->template_name) == 0 && a->priority == b->priority &&
           (a->data == NULL) == (b->data == NULL);
}

static bool same_credit(const casefile_credit_t *a, const casefile_credit_t *b)
{
    return strcmp(a->payment_id, b->payment_id) == 0 && strcmp(a->currency, b->currency) == 0 &&
           a->unallocated == b->unallocated && a->received_at == b->received_at;
}

static void diff_parties(diff_t *d, const casefile_t *a, const casefile_t *b)
{
    SAME_STR(d, a, b, creditor_id);
    SAME_STR(d, a, b, debtor_id);
    SAME_STR(d, a, b, creditor_name);
    SAME_STR(d, a, b, debtor_name);
    SAME_STR(d, a, b, phone);
    SAME_STR(d, a, b, email);
    SAME_STR(d, a, b, locale);
    SAME_STR(d, a, b, timezone);
    SAME_STR(d, a, b, debtor_zone);
    SAME_STR(d, a, b, country);
}

static void diff_standing(diff_t *d, const casefile_t *a, const casefile_t *b)
{
    SAME_STR(d, a, b, currency);
    SAME_VAL(d, a, b, balance);
    SAME_VAL(d, a, b, days_past_due);
    SAME_VAL(d, a, b, segmented);
    differ(d, !a->segmented || a->segment == b->segment, "segment", (size_t)-1);
    SAME_STR(d, a, b, rule);
    SAME_STR(d, a, b, strategy);
    SAME_STR(d, a, b, variant);
    SAME_VAL(d, a, b, policy_version);
    SAME_VAL(d, a, b, high_value);
    SAME_VAL(d, a, b, segment_since);
    SAME_VAL(d, a, b, segment_seq);
    SAME_VAL(d, a, b, last_step);
    SAME_STR(d, a, b, stage);
    SAME_VAL(d, a, b, status);
    SAME_JSON(d, a, b, features);
    SAME_VAL(d, a, b, has_next);
    SAME_STR(d, a, b, next_action);
    SAME_STR(d, a, b, next_channel);
    SAME_VAL(d, a, b, next_not_before);
    SAME_VAL(d, a, b, version);
    SAME_VAL(d, a, b, updated_at);
    SAME_STR(d, a, b, last_event);
    SAME_VAL(d, a, b, principal);
    SAME_JSON(d, a, b, followup);
    SAME_JSON(d, a, b, forbearances);
}

static void diff_contact(diff_t *d, const casefile_t *a, const casefile_t *b)
{
    SAME_VAL(d, a, b, n_call_attempts);
    for (size_t i = 0; i < a->n_call_attempts && i < b->n_call_attempts; i++)
        differ(d, a->call_attempts[i] == b->call_attempts[i], "call_attempts", i);
    SAME_VAL(d, a, b, last_rpc_at);
    SAME_VAL(d, a, b, last_contact_at);
    SAME_VAL(d, a, b, do_not_call);
    SAME_VAL(d, a, b, do_not_sms);
    SAME_VAL(d, a, b, do_not_email);
    SAME_VAL(d, a, b, cease_communication);
    SAME_STR(d, a, b, tz_override);
    SAME_STR(d, a, b, forbearance_from);
    SAME_STR(d, a, b, forbearance_until);
}

static void diff_money(diff_t *d, const casefile_t *a, const casefile_t *b)
{
    const charges_state_t *x = &a->charges, *y = &b->charges;

    SAME_VAL(d, a, b, n_credits);
    for (size_t i = 0; i < a->n_credits && i < b->n_credits; i++)
        differ(d, same_credit(&a->credits[i], &b->credits[i]), "credits", i);
    SAME_VAL(d, a, b, n_credit_lines);
    SAME_JSON(d, a, b, open_promise);
    SAME_JSON(d, a, b, active_plan);
    differ(d, x->loaded == y->loaded, "charges.loaded", (size_t)-1);
    differ(d, x->interest == y->interest && x->fees == y->fees, "charges.open", (size_t)-1);
    differ(d, x->interest_total == y->interest_total && x->fees_total == y->fees_total,
           "charges.totals", (size_t)-1);
    differ(d, x->accrued_through == y->accrued_through, "charges.accrued_through", (size_t)-1);
    differ(d, x->fee_charged == y->fee_charged, "charges.fee_charged", (size_t)-1);
    json_t *sx = charges_settlement_to_json(&x->settlement);
    json_t *sy = charges_settlement_to_json(&y->settlement);
    differ(d, sx != NULL && sy != NULL && json_equal(sx, sy), "charges.settlement", (size_t)-1);
    json_decref(sx);
    json_decref(sy);
}

int casecarry_diff(const casefile_t *a, const casefile_t *b, char *what, size_t whatlen)
{
    diff_t d = {what, whatlen, false};

    diff_parties(&d, a, b);
    diff_standing(&d, a, b);
    SAME_VAL(&d, a, b, n_invoices);
    for (size_t i = 0; i < a->n_invoices && i < b->n_invoices; i++)
        differ(&d, same_invoice(&a->invoices[i], &b->invoices[i]), "invoices", i);
    SAME_VAL(&d, a, b, n_tasks);
    for (size_t i = 0; i < a->n_tasks && i < b->n_tasks; i++)
        differ(&d, same_task(&a->tasks[i], &b->tasks[i]), "tasks", i);
    diff_contact(&d, a, b);
    diff_money(&d, a, b);
    return d.found ? 1 : 0;
}
