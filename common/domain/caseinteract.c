/* caseinteract.c - pure decisions of interaction events over a case file (see caseinteract.h). */
#include "caseinteract.h"

#include <stdio.h>
#include <string.h>

#include "casepay.h"
#include "forbear.h"
#include "segment.h"
#include "strategy.h"
#include "calendar.h"

static const char *str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* ---- Features -------------------------------------------------------------------------------- */

static int feature_add(casefile_t *cf, const char *key, json_int_t by)
{
    json_int_t v = json_integer_value(json_object_get(cf->features, key));
    cf->features_dirty = true;
    return json_object_set_new(cf->features, key, json_integer(v + by));
}

static int feature_set_int(casefile_t *cf, const char *key, json_int_t v)
{
    cf->features_dirty = true;
    return json_object_set_new(cf->features, key, json_integer(v));
}

static int feature_set_bool(casefile_t *cf, const char *key, bool v)
{
    cf->features_dirty = true;
    return json_object_set_new(cf->features, key, json_boolean(v));
}

static bool is_right_party(const char *outcome)
{
    return strcmp(outcome, "right_party") == 0 || strcmp(outcome, "refused") == 0 ||
           strcmp(outcome, "callback_requested") == 0;
}

/* Keeps the newest CASEFILE_MAX_CALLS phone attempts, newest first. */
static void add_call(casefile_t *cf, int64_t at)
{
    size_t i = 0;
    while (i < cf->n_call_attempts && cf->call_attempts[i] >= at)
        i++;
    if (i >= CASEFILE_MAX_CALLS)
        return; /* older than every attempt kept: it can no longer matter */
    size_t n =
        cf->n_call_attempts < CASEFILE_MAX_CALLS ? cf->n_call_attempts : CASEFILE_MAX_CALLS - 1;
    memmove(&cf->call_attempts[i + 1], &cf->call_attempts[i], (n - i) * sizeof(int64_t));
    cf->call_attempts[i] = at;
    cf->n_call_attempts = n + 1;
}

static casefile_task_t *find_pending(casefile_t *cf, const char *task_id)
{
    for (size_t i = 0; task_id && i < cf->n_tasks; i++)
        if (cf->tasks[i].status == CASEFILE_TASK_PENDING &&
            strcmp(cf->tasks[i].task_id, task_id) == 0)
            return &cf->tasks[i];
    return NULL;
}

/* Moves the outcome counters of one contact attempt (segment.h's features). Returns 0, or
 * non-zero when out of memory. */
static int count_outcome(casefile_t *cf, const char *channel, const char *outcome, int64_t at)
{
    int rc = feature_add(cf, "contact_attempts", 1);

    if (is_right_party(outcome)) {
        rc |= feature_add(cf, "right_party_contacts", 1);
        rc |= feature_set_int(cf, "attempts_without_answer", 0);
        rc |= feature_set_bool(cf, "ever_contacted", true);
        /* A callback asked for is consent, not a conversation: no quiet period (callback.h). */
        if (strcmp(channel, vocab_channel_name(VOCAB_CHANNEL_PHONE)) == 0 && at > cf->last_rpc_at &&
            strcmp(outcome, "callback_requested") != 0)
            cf->last_rpc_at = at;
    } else if (strcmp(outcome, "no_answer") == 0 || strcmp(outcome, "voicemail") == 0) {
        rc |= feature_add(cf, "attempts_without_answer", 1);
    } else if (strcmp(outcome, "wrong_party") == 0) {
        rc |= feature_add(cf, "wrong_party_contacts", 1);
    } else if (strcmp(outcome, "delivery_failed") == 0) {
        rc |= feature_add(cf, "delivery_failures", 1);
    }
    if (strcmp(outcome, "refused") == 0)
        rc |= feature_add(cf, "refusal_count", 1);
    return rc;
}

/* Closes the loop of the task a notifier reports on: done, or failed on delivery_failed; a task
 * not pending (unknown, already closed) is only reported. */
static caseinteract_task_t close_task(casefile_t *cf, const char *task_id, const char *outcome)
{
    if (task_id == NULL)
        return CASEINTERACT_TASK_NONE;
    casefile_task_t *t = find_pending(cf, task_id);
    if (t == NULL)
        return CASEINTERACT_TASK_NOT_PENDING;
    bool failed = strcmp(outcome, "delivery_failed") == 0;
    t->status = failed ? CASEFILE_TASK_FAILED : CASEFILE_TASK_DONE;
    snprintf(t->reason, sizeof(t->reason), "%s", outcome);
    t->status_dirty = true;
    return failed ? CASEINTERACT_TASK_FAILED : CASEINTERACT_TASK_DONE;
}

int caseinteract_contact(casefile_t *cf, const json_t *data, caseinteract_task_t *task,
                         reason_t *err)
{
    const char *channel = str_at(data, "channel"), *outcome = str_at(data, "outcome");
    int64_t at;
    int rc;

    *task = CASEINTERACT_TASK_NONE;
    if (channel == NULL || outcome == NULL || cal_parse_instant(str_at(data, "at"), &at, NULL) < 0)
        return reason_set(err, "schema_violation", "data: channel, at and outcome are required");
    rc = count_outcome(cf, channel, outcome, at);
    if (strcmp(channel, vocab_channel_name(VOCAB_CHANNEL_PHONE)) == 0)
        add_call(cf, at);
    if (at > cf->last_contact_at)
        cf->last_contact_at = at;
    *task = close_task(cf, str_at(data, "task_id"), outcome);
    if (rc != 0)
        return reason_set(err, "processing_error", "out of memory");
    return 0;
}

/* ---- Disputes -------------------------------------------------------------------------------- */

int caseinteract_dispute_opened(casefile_t *cf, int64_t now, casefile_plan_t *plan)
{
    if (feature_set_bool(cf, "open_dispute", true) < 0 ||
        casefile_withdraw(cf, plan, now, false, "disputed") < 0)
        return -1;
    /* Tracing a debtor is collecting too: a pending skip_trace is withdrawn (the unreached rule
     * plans the next). It is not a collection action for the other withdrawals: a segment change
     * must not drop it. */
    for (size_t i = 0; i < cf->n_tasks; i++) {
        casefile_task_t *t = &cf->tasks[i];
        if (t->status == CASEFILE_TASK_PENDING && t->not_after > now &&
            strcmp(t->action, vocab_action_name(VOCAB_ACTION_SKIP_TRACE)) == 0 &&
            casefile_cancel_task(cf, plan, t, now, "disputed") < 0)
            return -1;
    }
    return 0;
}

/* Cancels one invoice through casefile_apply_event(), as an invoice.cancelled would (then the
 * case's credit is offered to what is open, as after every invoice event). */
static int cancel_invoice(casefile_t *cf, const char *invoice_id, reason_t *err)
{
    json_t *data = json_pack("{s:s, s:s, s:s, s:s}", "creditor_id", cf->creditor_id, "debtor_id",
                             cf->debtor_id, "invoice_id", invoice_id, "reason", "dispute_upheld");
    if (data == NULL)
        return reason_set(err, "processing_error", "out of memory");
    int rc = casefile_apply_event(cf, "invoice.cancelled", data, err);
    json_decref(data);
    if (rc == 0 && casepay_use_credit(cf) < 0)
        return reason_set(err, "processing_error", "out of memory");
    return rc;
}

int caseinteract_dispute_resolved(casefile_t *cf, bool upheld, const char *invoice_id,
                                  const char *const *disputed, size_t n, bool still_open,
                                  reason_t *err)
{
    if (upheld) {
        if (invoice_id != NULL) {
            if (cancel_invoice(cf, invoice_id, err) < 0)
                return -1;
        } else if (n > 0) {
            for (size_t i = 0; i < n; i++)
                if (cancel_invoice(cf, disputed[i], err) < 0)
                    return -1;
        } else {
            /* The whole debt was disputed and upheld: every open invoice goes. Ids are copied
             * first: cancelling may not move the array, but stay safe. */
            for (size_t i = 0; i < cf->n_invoices; i++) {
                char id[CASEFILE_ID_MAX];
                if (cf->invoices[i].status != CASEFILE_INVOICE_OPEN)
                    continue;
                memcpy(id, cf->invoices[i].id, sizeof(id));
                if (cancel_invoice(cf, id, err) < 0)
                    return -1;
            }
        }
    }
    if (feature_set_bool(cf, "open_dispute", still_open) < 0)
        return reason_set(err, "processing_error", "out of memory");
    return 0;
}

/* ---- Preferences and forbearance ------------------------------------------------------------- */

int caseinteract_preferences(casefile_t *cf, const json_t *data, const contact_rules_t *rules,
                             int64_t now, casefile_plan_t *plan)
{
    json_t *v;
    if ((v = json_object_get(data, "do_not_call")) != NULL)
        cf->do_not_call = json_is_true(v);
    if ((v = json_object_get(data, "do_not_sms")) != NULL)
        cf->do_not_sms = json_is_true(v);
    if ((v = json_object_get(data, "do_not_email")) != NULL)
        cf->do_not_email = json_is_true(v);
    if ((v = json_object_get(data, "cease_communication")) != NULL)
        cf->cease_communication = json_is_true(v);
    if (str_at(data, "timezone") != NULL) {
        snprintf(cf->tz_override, sizeof(cf->tz_override), "%s", str_at(data, "timezone"));
        snprintf(cf->timezone, sizeof(cf->timezone), "%s", cf->tz_override);
    }
    if (cf->timezone[0] == '\0')
        return 0; /* nothing planned yet: nothing to withdraw */
    contact_state_t st;
    casefile_contact_state(cf, &st);
    for (size_t i = 0; i < cf->n_tasks; i++) {
        casefile_task_t *t = &cf->tasks[i];
        vocab_channel_t ch;
        contact_decision_t d;
        if (t->status != CASEFILE_TASK_PENDING || t->not_after <= now ||
            vocab_channel_from_name(t->channel, &ch) < 0)
            continue;
        int64_t at = t->not_before > now ? t->not_before : now;
        if (contact_decide(rules, &st, t->action, ch, at, cf->timezone, &d) < 0 ||
            d.verdict != CONTACT_SUPPRESS)
            continue;
        /* Only what this event can change: opt-outs and cease (a dispute has its own reason). */
        if (strncmp(d.reason, "opt_out_", 8) != 0 && strcmp(d.reason, CONTACT_REASON_CEASE) != 0)
            continue;
        if (casefile_cancel_task(cf, plan, t, now, d.reason) < 0)
            return -1;
    }
    return 0;
}

int caseinteract_forbearance(casefile_t *cf, const char *from, const char *until,
                             const contact_rules_t *rules, int64_t now, casefile_plan_t *plan,
                             reason_t *err)
{
    int64_t ff = 0, fu = 0;
    if (cf->timezone[0] != '\0' &&
        contact_forbearance_interval(cf->timezone, from, until, &ff, &fu) < 0)
        return reason_set(err, "invalid_date",
                          "data.from/data.until: not a pause in the case's zone");
    /* version 2: every period is kept, planning obeys the one in force (forbear.h); an already
     * ended back-dated one no longer replaces it. */
    if (forbear_add(cf, from, until, now) < 0)
        return reason_set(err, "processing_error", "out of memory");
    if (cf->timezone[0] == '\0' || fu <= now)
        return 0; /* nothing planned yet, or a pause that is already over */
    for (size_t i = 0; i < cf->n_tasks; i++) {
        casefile_task_t *t = &cf->tasks[i];
        vocab_action_t a;
        if (t->status != CASEFILE_TASK_PENDING || t->not_after <= now)
            continue;
        if (vocab_action_from_name(t->action, &a) == 0 &&
            (rules->forbearance_exempt & contact_action_bit(a)) != 0)
            continue;
        if (t->not_after <= ff || t->not_before >= fu)
            continue; /* its window does not meet the pause */
        if (casefile_cancel_task(cf, plan, t, now, CONTACT_REASON_FORBEARANCE) < 0)
            return reason_set(err, "processing_error", "out of memory");
    }
    return 0;
}

/* ---- Loading --------------------------------------------------------------------------------- */

int caseinteract_state_from_json(casefile_t *cf, const json_t *doc)
{
    size_t i;
    json_t *v;

    if (doc == NULL || json_is_null(doc))
        return 0;
    if (!json_is_object(doc))
        return -1;
    cf->n_call_attempts = 0;
    json_array_foreach(json_object_get(doc, "calls"), i, v)
    {
        if (json_is_integer(v))
            add_call(cf, json_integer_value(v));
    }
    cf->last_rpc_at = json_integer_value(json_object_get(doc, "last_rpc_at"));
    cf->last_contact_at = json_integer_value(json_object_get(doc, "last_contact_at"));
    const json_t *p = json_object_get(doc, "prefs");
    if (json_is_object(p)) {
        cf->do_not_call = json_is_true(json_object_get(p, "do_not_call"));
        cf->do_not_sms = json_is_true(json_object_get(p, "do_not_sms"));
        cf->do_not_email = json_is_true(json_object_get(p, "do_not_email"));
        cf->cease_communication = json_is_true(json_object_get(p, "cease_communication"));
        const char *tz = str_at(p, "timezone");
        if (tz != NULL && tz[0] != '\0') {
            snprintf(cf->tz_override, sizeof(cf->tz_override), "%s", tz);
            snprintf(cf->timezone, sizeof(cf->timezone), "%s", tz);
        }
    }
    if (forbear_load(cf, json_object_get(doc, "forbearances")) < 0) /* version 2 */
        return -1;
    const json_t *f = json_object_get(doc, "forbearance");
    if (json_is_object(f) && str_at(f, "from") && str_at(f, "until")) {
        snprintf(cf->forbearance_from, sizeof(cf->forbearance_from), "%s", str_at(f, "from"));
        snprintf(cf->forbearance_until, sizeof(cf->forbearance_until), "%s", str_at(f, "until"));
    }
    return 0;
}
