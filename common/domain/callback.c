/* callback.c - callbacks the debtor asked for (see callback.h). */
#include "callback.h"

#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "contact.h"
#include "hold.h"

#define CALLBACK_SECONDS 3600 /* the least a callback's window lasts */
#define CALLBACK_TRIES   32   /* windows looked at for a whole hour */

int callback_note(casefile_t *cf, const json_t *data)
{
    const char *outcome = json_string_value(json_object_get(data, "outcome"));
    const char *at_s = json_string_value(json_object_get(data, "callback_at"));
    int64_t at;

    if (outcome == NULL || strcmp(outcome, "callback_requested") != 0 || at_s == NULL ||
        cal_parse_instant(at_s, &at, NULL) < 0)
        return 0;
    const json_t *old = json_object_get(cf->followup, "callback");
    json_t *cb = json_pack("{s:I}", "at", (json_int_t)at);
    if (cb == NULL)
        return -1;
    const char *old_id = json_string_value(json_object_get(old, "task_id"));
    if (old_id != NULL)
        json_object_set_new(cb, "replaces", json_string(old_id));
    cf->followup_dirty = true;
    return json_object_set_new(cf->followup, "callback", cb);
}

bool callback_is_task(const casefile_t *cf, const casefile_task_t *t)
{
    const char *id =
        json_string_value(json_object_get(json_object_get(cf->followup, "callback"), "task_id"));
    return id != NULL && strcmp(id, t->task_id) == 0;
}

void callback_consent_state(contact_state_t *cs)
{
    cs->call_attempts = NULL;
    cs->n_call_attempts = 0;
    cs->last_rpc_at = 0;
}

/* The callback's window from `from`: an allowed hour, the first one at or after `from`. */
static int callback_window(const casefile_t *cf, const policy_t *policy, int64_t from,
                           contact_decision_t *d)
{
    contact_state_t cs;

    casefile_contact_state(cf, &cs);
    callback_consent_state(&cs);
    for (int i = 0; i < CALLBACK_TRIES; i++) {
        if (contact_decide(&policy->contact, &cs, "call", VOCAB_CHANNEL_PHONE, from, cf->timezone,
                           d) < 0)
            return -1;
        if (d->verdict == CONTACT_SUPPRESS || d->not_after - d->not_before >= CALLBACK_SECONDS) {
            if (d->verdict != CONTACT_SUPPRESS)
                d->not_after = d->not_before + CALLBACK_SECONDS;
            return 0;
        }
        from = d->not_after; /* less than an hour left: the next window */
    }
    d->verdict = CONTACT_SUPPRESS;
    d->reason = CONTACT_REASON_NO_ALLOWED_MOMENT;
    d->not_before = d->not_after = 0;
    return 0;
}

/* Withdraws the task a new callback replaces, when still pending. */
static int withdraw_replaced(casefile_t *cf, const char *id, int64_t now, casefile_plan_t *plan)
{
    for (size_t i = 0; id != NULL && i < cf->n_tasks; i++) {
        casefile_task_t *t = &cf->tasks[i];
        if (t->status == CASEFILE_TASK_PENDING && strcmp(t->task_id, id) == 0)
            return casefile_cancel_task(cf, plan, t, now, "superseded");
    }
    return 0;
}

/* Withdraws the other pending calls that would act before the callback's window ends: no other
 * call comes before the one the debtor asked for. */
static int withdraw_earlier_calls(casefile_t *cf, int64_t until, int64_t now, casefile_plan_t *plan)
{
    for (size_t i = 0; i < cf->n_tasks; i++) {
        casefile_task_t *t = &cf->tasks[i];
        if (t->status != CASEFILE_TASK_PENDING || t->not_after <= now || t->not_before >= until ||
            strcmp(t->action, "call") != 0 || callback_is_task(cf, t))
            continue;
        if (casefile_cancel_task(cf, plan, t, now, "callback") < 0)
            return -1;
    }
    return 0;
}

int callback_plan(casefile_t *cf, const policy_t *policy, int64_t now, casefile_plan_t *plan)
{
    json_t *cb = json_object_get(cf->followup, "callback");
    int64_t at = json_integer_value(json_object_get(cb, "at"));
    contact_decision_t d;
    casefile_task_t t;
    char key[32];

    if (at <= 0 || json_object_get(cb, "task_id") != NULL || !cf->segmented ||
        cf->segment == SEGMENT_RESOLVED)
        return 0;
    if (withdraw_replaced(cf, json_string_value(json_object_get(cb, "replaces")), now, plan) < 0 ||
        callback_window(cf, policy, at > now ? at : now, &d) < 0)
        return -1;
    memset(&t, 0, sizeof(t));
    snprintf(key, sizeof(key), "%lld", (long long)at);
    hold_task_id(cf, "callback", key, t.task_id);
    snprintf(t.action, sizeof(t.action), "call");
    snprintf(t.channel, sizeof(t.channel), "phone");
    snprintf(t.template_name, sizeof(t.template_name), "callback");
    t.priority = 1;
    t.not_before = d.not_before;
    t.not_after = d.not_after;
    if (d.verdict == CONTACT_SUPPRESS) {
        t.status = CASEFILE_TASK_SUPPRESSED;
        snprintf(t.reason, sizeof(t.reason), "%s", d.reason);
    }
    json_object_del(cb, "replaces");
    if (json_object_set_new(cb, "task_id", json_string(t.task_id)) < 0 ||
        json_object_set_new(cb, "until", json_integer(d.not_after)) < 0)
        return -1;
    cf->followup_dirty = true;
    if (d.verdict != CONTACT_SUPPRESS && withdraw_earlier_calls(cf, d.not_after, now, plan) < 0)
        return -1;
    /* Deferred only when a rule moved it from the moment asked for (or now, when that passed). */
    const char *deferred =
        d.verdict == CONTACT_SUPPRESS || d.not_before > (at > now ? at : now) ? d.reason : NULL;
    return casefile_emit_task(cf, &t, "callback", deferred, NULL, now, plan);
}
