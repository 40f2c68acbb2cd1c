/* promise.c - the promise-to-pay and instalment-plan state machines (rules in promise.h).
 *
 * Both machines work the same way: an operation first updates what was paid and the as-of day,
 * then one settle function derives the state the promise or plan must be in from those values
 * and reports the single transition (event and counter changes) that takes it there. Keeping
 * the rules in one place per machine is what makes the boundaries exact whichever operation
 * reaches them (a payment, a reversal, a tick or a cancel). */
#include <stdio.h>
#include <string.h>

#include "money.h"
#include "promise.h"
#include "vocab.h"
#include "calendar.h"

/* ---- Shared helpers ------------------------------------------------------------------------ */

static bool day_ok(int64_t day)
{
    return day >= PROMISE_DAY_MIN && day <= PROMISE_DAY_MAX;
}

static int64_t max_day(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Copies an id of 1..PROMISE_ID_MAX bytes; false when it is NULL, empty or too long. */
static bool copy_id(char *dst, const char *id)
{
    size_t n;

    if (id == NULL)
        return false;
    n = strlen(id);
    if (n == 0 || n > PROMISE_ID_MAX)
        return false;
    memcpy(dst, id, n + 1);
    return true;
}

char *promise_format_day(int64_t day, char *buf, size_t size)
{
    if (buf == NULL || size == 0)
        return buf;
    buf[0] = '\0';
    if (!day_ok(day) || size < 11)
        return buf;
    return cal_format_day(day, buf, size);
}

const char *promise_event_type_name(promise_event_type_t type)
{
    switch (type) {
    case PROMISE_EVENT_KEPT:
        return "promise.kept";
    case PROMISE_EVENT_BROKEN:
        return "promise.broken";
    case PROMISE_EVENT_PLAN_DEFAULTED:
        return "plan.defaulted";
    case PROMISE_EVENT_NONE:
        break;
    }
    return NULL;
}

/* Sets obj[key] to a new value, stealing it; false when the value is NULL or setting fails. */
static bool set_new(json_t *obj, const char *key, json_t *value)
{
    return value != NULL && json_object_set_new(obj, key, value) == 0;
}

static bool set_money(json_t *obj, const char *key, int64_t minor, const char *currency)
{
    char buf[MONEY_FMT_MAX];

    if (money_format(minor, currency, buf, sizeof(buf)) < 0)
        return false;
    return set_new(obj, key, json_string(buf));
}

static bool set_day(json_t *obj, const char *key, int64_t day)
{
    char buf[16];

    if (promise_format_day(day, buf, sizeof(buf))[0] == '\0')
        return false;
    return set_new(obj, key, json_string(buf));
}

/* Fills o with the data of a plan.defaulted event. Returns false when a value cannot be
 * formatted or set (o is then partly filled; the caller frees it). */
static bool plan_defaulted_fill(json_t *o, const promise_event_t *ev, const char *at)
{
    return set_new(o, "plan_id", json_string(ev->id)) &&
           set_new(o, "currency", json_string(ev->currency)) &&
           set_new(o, "missed_installments", json_integer(ev->missed)) &&
           set_money(o, "outstanding", ev->amount - ev->paid, ev->currency) &&
           set_new(o, "at", json_string(at)) && set_money(o, "amount", ev->amount, ev->currency) &&
           set_money(o, "paid", ev->paid, ev->currency) &&
           set_day(o, "first_missed_due_on", ev->due_day);
}

/* The promise_id of a kept or broken promise, into buf: the promise's own id, or for a plan's
 * down payment "<plan>-down" and for its instalment n "<plan>-<n>". */
static void outcome_promise_id(const promise_event_t *ev, char *buf, size_t size)
{
    if (!ev->of_plan)
        snprintf(buf, size, "%s", ev->id);
    else if (ev->installment == 0)
        snprintf(buf, size, "%s-down", ev->id);
    else
        snprintf(buf, size, "%s-%d", ev->id, (int)ev->installment);
}

/* Fills o with the data of a promise.kept or promise.broken event, and for a plan's
 * instalment the plan it belongs to. Returns false as plan_defaulted_fill() does. */
static bool promise_outcome_fill(json_t *o, const promise_event_t *ev, const char *at)
{
    char promise_id[PROMISE_ID_MAX + 16];
    bool kept = ev->type == PROMISE_EVENT_KEPT;
    const char *outcome = kept ? "kept" : ev->partial ? "partially_kept" : "broken";

    outcome_promise_id(ev, promise_id, sizeof(promise_id));
    if (!(set_new(o, "promise_id", json_string(promise_id)) &&
          set_new(o, "currency", json_string(ev->currency)) &&
          set_money(o, "amount", ev->amount, ev->currency) &&
          set_money(o, "paid", ev->paid, ev->currency) && set_day(o, "due_on", ev->due_day) &&
          set_new(o, "at", json_string(at)) &&
          (kept || set_new(o, "partial", json_boolean(ev->partial))) &&
          set_new(o, "outcome", json_string(outcome)) &&
          set_new(o, "revised", json_boolean(ev->revised))))
        return false;
    if (!ev->of_plan)
        return true;
    return set_new(o, "plan_id", json_string(ev->id)) &&
           (ev->installment == 0 ? set_new(o, "down_payment", json_true())
                                 : set_new(o, "installment", json_integer(ev->installment)));
}

json_t *promise_event_to_json(const promise_event_t *ev, const char *at)
{
    json_t *o;
    bool ok;

    if (ev == NULL || ev->type == PROMISE_EVENT_NONE || !money_currency_known(ev->currency) ||
        cal_parse_instant(at, NULL, NULL) != 0)
        return NULL;
    o = json_object();
    if (o == NULL)
        return NULL;
    ok = ev->type == PROMISE_EVENT_PLAN_DEFAULTED ? plan_defaulted_fill(o, ev, at)
                                                  : promise_outcome_fill(o, ev, at);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- Promises ------------------------------------------------------------------------------ */

static const char *const promise_state_names[] = {
    [PROMISE_PENDING] = "pending",
    [PROMISE_KEPT] = "kept",
    [PROMISE_PARTIALLY_KEPT] = "partially_kept",
    [PROMISE_BROKEN] = "broken",
    [PROMISE_CANCELLED] = "cancelled",
};

const char *promise_state_name(promise_state_t state)
{
    if ((unsigned)state >= sizeof(promise_state_names) / sizeof(promise_state_names[0]))
        return NULL;
    return promise_state_names[state];
}

int promise_state_from_name(const char *name, promise_state_t *out)
{
    int i = vocab_index(promise_state_names,
                        (int)(sizeof(promise_state_names) / sizeof(promise_state_names[0])), name);

    if (i < 0 || out == NULL)
        return -1;
    *out = (promise_state_t)i;
    return 0;
}

const char *promise_cancel_reason_name(promise_cancel_reason_t reason)
{
    switch (reason) {
    case PROMISE_CANCEL_NEW_PROMISE:
        return "superseded_by_promise";
    case PROMISE_CANCEL_PLAN:
        return "superseded_by_plan";
    case PROMISE_CANCEL_DISPUTE:
        return "disputed";
    case PROMISE_CANCEL_NONE:
        break;
    }
    return NULL;
}

int promise_init(promise_t *p, const char *id, const char *currency, int64_t amount,
                 int64_t made_day, int64_t due_day, int32_t grace_days)
{
    promise_t tmp;

    if (p == NULL || !money_currency_known(currency) || amount <= 0 || !day_ok(made_day) ||
        !day_ok(due_day) || due_day < made_day || grace_days < 0 || grace_days > PROMISE_GRACE_MAX)
        return PROMISE_EINVAL;
    memset(&tmp, 0, sizeof(tmp));
    if (!copy_id(tmp.id, id))
        return PROMISE_EINVAL;
    memcpy(tmp.currency, currency, 4);
    tmp.amount = amount;
    tmp.made_day = made_day;
    tmp.due_day = due_day;
    tmp.grace_days = grace_days;
    tmp.state = PROMISE_PENDING;
    tmp.as_of = made_day;
    tmp.settled_day = made_day;
    tmp.last_reported = PROMISE_PENDING;
    tmp.cancel_reason = PROMISE_CANCEL_NONE;
    *p = tmp;
    return PROMISE_OK;
}

int64_t promise_deadline(const promise_t *p)
{
    return p->due_day + p->grace_days;
}

/* The counter a settled state lives in, moved by `by`. */
static void count_state(promise_counts_t *c, promise_state_t s, int32_t by)
{
    if (s == PROMISE_KEPT)
        c->kept += by;
    else if (s == PROMISE_BROKEN)
        c->broken += by;
    else if (s == PROMISE_PARTIALLY_KEPT)
        c->partially_kept += by;
}

/* The state a promise (or an instalment) in `state` must be in, given what counted toward its
 * `amount`, its as-of day and its deadline: the whole of promise.h's rules in one place. */
static promise_state_t settle_target(promise_state_t state, int64_t paid, int64_t amount,
                                     int64_t as_of, int64_t deadline)
{
    switch (state) {
    case PROMISE_CANCELLED:
    case PROMISE_BROKEN:
        return state;
    case PROMISE_PARTIALLY_KEPT:
        return paid > 0 ? PROMISE_PARTIALLY_KEPT : PROMISE_BROKEN;
    case PROMISE_PENDING:
    case PROMISE_KEPT:
        break;
    }
    if (paid >= amount)
        return PROMISE_KEPT;
    if (as_of <= deadline)
        return PROMISE_PENDING;
    return paid > 0 ? PROMISE_PARTIALLY_KEPT : PROMISE_BROKEN;
}

/* The event a settled state asks for: kept, broken (partially kept too), or none. */
static promise_event_type_t event_for(promise_state_t to)
{
    if (to == PROMISE_KEPT)
        return PROMISE_EVENT_KEPT;
    if (to == PROMISE_PARTIALLY_KEPT || to == PROMISE_BROKEN)
        return PROMISE_EVENT_BROKEN;
    return PROMISE_EVENT_NONE;
}

/* Moves the promise to its target state and fills *res (not NULL) with that transition. */
static void promise_settle(promise_t *p, promise_result_t *res)
{
    promise_state_t from = p->state;
    promise_state_t to =
        settle_target(from, p->paid_toward, p->amount, p->as_of, promise_deadline(p));
    promise_event_t *ev = &res->event;

    res->from = from;
    res->to = to;
    if (to == from)
        return;
    p->state = to;
    p->settled_day = p->as_of;
    count_state(&res->delta, from, -1);
    count_state(&res->delta, to, +1);
    ev->type = event_for(to);
    if (ev->type == PROMISE_EVENT_NONE)
        return; /* back to pending after a reversal: it settles again later */
    memcpy(ev->id, p->id, sizeof(ev->id));
    memcpy(ev->currency, p->currency, sizeof(ev->currency));
    ev->amount = p->amount;
    ev->paid = p->paid_toward;
    ev->due_day = p->due_day;
    ev->day = p->as_of;
    ev->partial = to == PROMISE_PARTIALLY_KEPT;
    ev->revised = p->last_reported != PROMISE_PENDING;
    p->last_reported = to;
}

int promise_apply_payment(promise_t *p, int64_t amount, int64_t day, promise_result_t *res)
{
    promise_result_t local;
    int64_t as_of, sum = 0;
    bool counts;

    if (p == NULL || amount <= 0 || !day_ok(day))
        return PROMISE_EINVAL;
    as_of = max_day(p->as_of, day);
    counts =
        (p->state == PROMISE_PENDING || p->state == PROMISE_KEPT) && as_of <= promise_deadline(p);
    if (counts && !money_add(p->paid_toward, amount, &sum))
        return PROMISE_EOVERFLOW;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof(*res));
    p->as_of = as_of;
    if (counts) {
        p->paid_toward = sum;
        res->applied = amount;
    }
    promise_settle(p, res);
    return PROMISE_OK;
}

int promise_apply_reversal(promise_t *p, int64_t amount, int64_t day, promise_result_t *res)
{
    promise_result_t local;

    if (p == NULL || amount <= 0 || amount > p->paid_toward || !day_ok(day))
        return PROMISE_EINVAL;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof(*res));
    p->as_of = max_day(p->as_of, day);
    p->paid_toward -= amount;
    res->applied = amount;
    promise_settle(p, res);
    return PROMISE_OK;
}

int promise_evaluate(promise_t *p, int64_t day, promise_result_t *res)
{
    promise_result_t local;

    if (p == NULL || !day_ok(day))
        return PROMISE_EINVAL;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof(*res));
    p->as_of = max_day(p->as_of, day);
    promise_settle(p, res);
    return PROMISE_OK;
}

int promise_cancel(promise_t *p, promise_cancel_reason_t reason, int64_t day, promise_result_t *res)
{
    promise_result_t local;

    if (p == NULL || promise_cancel_reason_name(reason) == NULL || !day_ok(day))
        return PROMISE_EINVAL;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof(*res));
    p->as_of = max_day(p->as_of, day);
    promise_settle(p, res);
    if (p->state != PROMISE_PENDING)
        return PROMISE_OK; /* settled already, or by this day: the outcome stands */
    p->state = PROMISE_CANCELLED;
    p->cancel_reason = reason;
    p->settled_day = p->as_of;
    res->to = PROMISE_CANCELLED;
    return PROMISE_OK;
}

/* ---- Instalment plans ---------------------------------------------------------------------- */

static const char *const plan_state_names[] = {
    [PLAN_ACTIVE] = "active",
    [PLAN_COMPLETED] = "completed",
    [PLAN_DEFAULTED] = "defaulted",
    [PLAN_CANCELLED] = "cancelled",
};

const char *plan_state_name(plan_state_t state)
{
    if ((unsigned)state >= sizeof(plan_state_names) / sizeof(plan_state_names[0]))
        return NULL;
    return plan_state_names[state];
}

int plan_state_from_name(const char *name, plan_state_t *out)
{
    int i = vocab_index(plan_state_names,
                        (int)(sizeof(plan_state_names) / sizeof(plan_state_names[0])), name);

    if (i < 0 || out == NULL)
        return -1;
    *out = (plan_state_t)i;
    return 0;
}

int plan_init(plan_t *pl, const char *id, const char *currency, int64_t agreed_day,
              int64_t down_payment, const policy_installment_t *installments, size_t n,
              int32_t grace_days, int32_t default_missed)
{
    plan_t tmp; /* staged, so that *pl is untouched on error */
    size_t slot = 0;

    if (pl == NULL || !money_currency_known(currency) || !day_ok(agreed_day) || down_payment < 0 ||
        installments == NULL || n == 0 || n > PLAN_MAX_INSTALLMENTS || grace_days < 0 ||
        grace_days > PROMISE_GRACE_MAX || default_missed < 1)
        return PROMISE_EINVAL;
    memset(&tmp, 0, sizeof(tmp));
    if (!copy_id(tmp.id, id))
        return PROMISE_EINVAL;
    memcpy(tmp.currency, currency, 4);
    tmp.agreed_day = agreed_day;
    tmp.grace_days = grace_days;
    tmp.default_missed = default_missed;
    if (down_payment > 0) {
        tmp.has_down_payment = true;
        tmp.installments[slot].due_day = agreed_day;
        tmp.installments[slot].amount = down_payment;
        tmp.total = down_payment;
        slot++;
    }
    for (size_t i = 0; i < n; i++, slot++) {
        int64_t due = installments[i].due_day;

        if (installments[i].amount <= 0 || !day_ok(due) || due < agreed_day ||
            (i > 0 && due <= installments[i - 1].due_day))
            return PROMISE_EINVAL;
        if (!money_add(tmp.total, installments[i].amount, &tmp.total))
            return PROMISE_EOVERFLOW;
        tmp.installments[slot].due_day = due;
        tmp.installments[slot].amount = installments[i].amount;
    }
    tmp.n = slot;
    tmp.state = PLAN_ACTIVE;
    tmp.as_of = agreed_day;
    tmp.settled_day = agreed_day;
    *pl = tmp;
    return PROMISE_OK;
}

int plan_init_with_policy(plan_t *pl, const policy_t *policy, const char *id, const char *currency,
                          int64_t agreed_day, int64_t down_payment,
                          const policy_installment_t *installments, size_t n)
{
    if (policy == NULL)
        return PROMISE_EINVAL;
    return plan_init(pl, id, currency, agreed_day, down_payment, installments, n,
                     policy->promise_grace_days, policy->plan_default_missed_installments);
}

/* Records that instalment `slot` went from `from` to `to` in this operation (one record per
 * instalment: a second change in the same operation updates the first). */
static void record_change(plan_result_t *res, uint32_t slot, promise_state_t from,
                          promise_state_t to, bool revised)
{
    plan_change_t *ch = NULL;

    for (size_t k = 0; k < res->nchanges; k++)
        if (res->changes[k].slot == slot)
            ch = &res->changes[k];
    if (ch == NULL) {
        ch = &res->changes[res->nchanges++];
        ch->slot = slot;
        ch->from = from;
    }
    ch->to = to;
    ch->event = event_for(to);
    ch->revised = revised;
}

/* Settles every instalment as a promise with the plan's grace, and counts the new misses. */
static void plan_settle_installments(plan_t *pl, plan_result_t *res)
{
    for (size_t i = 0; i < pl->n; i++) {
        plan_installment_t *in = &pl->installments[i];
        promise_state_t from = in->state;
        promise_state_t to =
            settle_target(from, in->paid, in->amount, pl->as_of, in->due_day + pl->grace_days);
        bool revised = false;

        if (to == from)
            continue;
        in->state = to;
        if (event_for(to) != PROMISE_EVENT_NONE) {
            revised = in->last_reported != PROMISE_PENDING;
            in->last_reported = to;
        }
        record_change(res, (uint32_t)i, from, to, revised);
        if ((to == PROMISE_BROKEN || to == PROMISE_PARTIALLY_KEPT) && !in->missed) {
            in->missed = true;
            pl->missed++;
            res->newly_missed++;
        }
    }
}

int plan_installment_event(const plan_t *pl, const plan_change_t *ch, promise_event_t *ev)
{
    const plan_installment_t *in;

    if (pl == NULL || ch == NULL || ev == NULL || ch->slot >= pl->n)
        return PROMISE_EINVAL;
    memset(ev, 0, sizeof(*ev));
    ev->type = ch->event;
    if (ev->type == PROMISE_EVENT_NONE)
        return PROMISE_OK;
    in = &pl->installments[ch->slot];
    memcpy(ev->id, pl->id, sizeof(ev->id));
    memcpy(ev->currency, pl->currency, sizeof(ev->currency));
    ev->of_plan = true;
    ev->installment = (int32_t)ch->slot + (pl->has_down_payment ? 0 : 1);
    ev->amount = in->amount;
    ev->paid = in->paid;
    ev->due_day = in->due_day;
    ev->day = pl->as_of;
    ev->partial = ch->to == PROMISE_PARTIALLY_KEPT;
    ev->revised = ch->revised;
    return PROMISE_OK;
}

/* Moves an active or completed plan to the state its payments, misses and as-of day call for,
 * and records the transition in *res (its from is left to the caller). Defaulted and cancelled
 * are final. */
static void plan_settle(plan_t *pl, plan_result_t *res)
{
    plan_state_t to;
    promise_event_t *ev = &res->event;

    res->to = pl->state;
    if (pl->state == PLAN_DEFAULTED || pl->state == PLAN_CANCELLED)
        return;
    plan_settle_installments(pl, res);
    if (pl->missed >= pl->default_missed)
        to = PLAN_DEFAULTED;
    else if (pl->paid == pl->total)
        to = PLAN_COMPLETED;
    else
        to = PLAN_ACTIVE;
    res->to = to;
    if (to == pl->state)
        return;
    pl->state = to;
    pl->settled_day = pl->as_of;
    if (to != PLAN_DEFAULTED)
        return;
    res->delta.plan_defaulted += 1;
    ev->type = PROMISE_EVENT_PLAN_DEFAULTED;
    memcpy(ev->id, pl->id, sizeof(ev->id));
    memcpy(ev->currency, pl->currency, sizeof(ev->currency));
    ev->amount = pl->total;
    ev->paid = pl->paid;
    ev->day = pl->as_of;
    ev->missed = pl->missed;
    for (size_t i = 0; i < pl->n; i++) {
        if (pl->installments[i].missed) {
            ev->due_day = pl->installments[i].due_day;
            break;
        }
    }
    ev->revised = pl->reported;
    pl->reported = true;
}

int plan_apply_payment(plan_t *pl, int64_t amount, int64_t day, plan_line_t *lines, size_t cap,
                       plan_result_t *res)
{
    plan_result_t local;
    plan_state_t from;
    int64_t left = amount;
    size_t nlines = 0;

    if (pl == NULL || amount <= 0 || !day_ok(day) || (lines == NULL && cap > 0))
        return PROMISE_EINVAL;
    if (pl->state == PLAN_ACTIVE) {
        /* Check the room for lines before changing anything: all or nothing. */
        size_t need = 0;
        int64_t rest = amount;

        for (size_t i = 0; i < pl->n && rest > 0; i++) {
            int64_t open = pl->installments[i].amount - pl->installments[i].paid;

            if (open > 0) {
                need++;
                rest -= open < rest ? open : rest;
            }
        }
        if (need > cap)
            return PROMISE_EINVAL;
    }
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof(*res));
    from = pl->state;
    pl->as_of = max_day(pl->as_of, day);
    plan_settle(pl, res); /* late instalments are missed before this payment fills them */
    if (pl->state == PLAN_ACTIVE) {
        for (size_t i = 0; i < pl->n && left > 0; i++) {
            plan_installment_t *in = &pl->installments[i];
            int64_t open = in->amount - in->paid, take;

            if (open <= 0)
                continue;
            take = open < left ? open : left;
            in->paid += take;
            left -= take;
            lines[nlines].slot = (uint32_t)i;
            lines[nlines].amount = take;
            nlines++;
        }
        pl->paid += amount - left;
        plan_settle(pl, res);
    }
    res->from = from;
    res->applied = amount - left;
    res->nlines = nlines;
    return PROMISE_OK;
}

int plan_apply_reversal(plan_t *pl, const plan_line_t *lines, size_t nlines, int64_t day,
                        plan_result_t *res)
{
    plan_result_t local;
    int64_t taken[PLAN_MAX_SLOTS] = {0};
    int64_t total = 0;

    if (pl == NULL || (lines == NULL && nlines > 0) || !day_ok(day))
        return PROMISE_EINVAL;
    for (size_t k = 0; k < nlines; k++) {
        uint32_t s = lines[k].slot;

        if (s >= pl->n || lines[k].amount <= 0 ||
            lines[k].amount > pl->installments[s].paid - taken[s])
            return PROMISE_EINVAL;
        taken[s] += lines[k].amount;
        total += lines[k].amount; /* <= the plan's paid: no overflow */
    }
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof(*res));
    res->from = pl->state;
    for (size_t i = 0; i < pl->n; i++)
        pl->installments[i].paid -= taken[i];
    pl->paid -= total;
    pl->as_of = max_day(pl->as_of, day);
    res->applied = total;
    plan_settle(pl, res);
    return PROMISE_OK;
}

int plan_evaluate(plan_t *pl, int64_t day, plan_result_t *res)
{
    plan_result_t local;

    if (pl == NULL || !day_ok(day))
        return PROMISE_EINVAL;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof(*res));
    res->from = pl->state;
    pl->as_of = max_day(pl->as_of, day);
    plan_settle(pl, res);
    return PROMISE_OK;
}

int plan_cancel(plan_t *pl, int64_t day, plan_result_t *res)
{
    plan_result_t local;

    if (pl == NULL || !day_ok(day))
        return PROMISE_EINVAL;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof(*res));
    res->from = pl->state;
    pl->as_of = max_day(pl->as_of, day);
    plan_settle(pl, res);
    if (pl->state != PLAN_ACTIVE)
        return PROMISE_OK; /* completed or defaulted by now: the outcome stands */
    pl->state = PLAN_CANCELLED;
    pl->settled_day = pl->as_of;
    res->to = PLAN_CANCELLED;
    return PROMISE_OK;
}
