/* hold.c - promises steer the work: the held ladder, promise reminders, follow-ups (hold.h). */
#include "hold.h"

#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "contact.h"
#include "strategy.h"

#define HOLD_SENT_MAX 32

/* ---- The follow-up state --------------------------------------------------------------------- */

bool hold_sent(const casefile_t *cf, const char *key)
{
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(cf->followup, "sent"), i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), key) == 0)
            return true;
    }
    return false;
}

int hold_followup_push(casefile_t *cf, const char *name, json_t *value, size_t max)
{
    json_t *arr = json_object_get(cf->followup, name);

    if (!json_is_array(arr) &&
        ((arr = json_array()) == NULL || json_object_set_new(cf->followup, name, arr) < 0)) {
        json_decref(value);
        return -1;
    }
    if (json_array_append_new(arr, value) < 0)
        return -1;
    while (json_array_size(arr) > max)
        json_array_remove(arr, 0);
    cf->followup_dirty = true;
    return 0;
}

int hold_mark_sent(casefile_t *cf, const char *key)
{
    return hold_followup_push(cf, "sent", json_string(key), HOLD_SENT_MAX);
}

void hold_task_id(const casefile_t *cf, const char *kind, const char *key,
                  char out[CASEFILE_UUID_MAX])
{
    char name[1024];
    snprintf(name, sizeof(name), "%s\x1f%s\x1f%s\x1f%s", kind, cf->creditor_id, cf->debtor_id, key);
    casefile_uuid5(name, out);
}

/* ---- Holds ----------------------------------------------------------------------------------- */

bool hold_action_is_held(vocab_action_t a)
{
    return a == VOCAB_ACTION_REMINDER || a == VOCAB_ACTION_CALL || a == VOCAB_ACTION_FINAL_NOTICE ||
           a == VOCAB_ACTION_PLAN_OFFER || a == VOCAB_ACTION_RESTRICT_SERVICE ||
           a == VOCAB_ACTION_LEGAL_REVIEW;
}

/* The first instant of local day `day` in `zone` into *out. Returns 0 or -1. */
static int day_start(const char *zone, int64_t day, int64_t *out)
{
    char buf[16];
    return contact_local_day_start(zone, cal_format_day(day, buf, sizeof(buf)), out);
}

/* The end of the hold of an agreement due on `due_on` (YYYY-MM-DD; NULL: none): the start of
 * the local day after due_on + grace. 0 when there is none. */
static int64_t end_of(const casefile_t *cf, const policy_t *policy, const char *due_on)
{
    int64_t due, end;

    if (due_on == NULL || cal_parse_day(due_on, &due) < 0 ||
        day_start(cf->timezone, due + policy->promise_grace_days + 1, &end) < 0)
        return 0;
    return end;
}

static const char *doc_str(const json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

static bool doc_in_state(const json_t *doc, const char *state)
{
    const char *s = doc_str(doc, "state");
    return doc != NULL && s != NULL && strcmp(s, state) == 0;
}

int64_t hold_agreement_end(const casefile_t *cf, const policy_t *policy, int64_t now)
{
    int64_t end = 0;

    if (cf->timezone[0] == '\0')
        return 0;
    if (doc_in_state(cf->open_promise, "pending"))
        end = end_of(cf, policy, doc_str(cf->open_promise, "due_on"));
    if (doc_in_state(cf->active_plan, "active")) {
        int64_t e = end_of(cf, policy, doc_str(cf->active_plan, "next_due_on"));
        if (e > end)
            end = e;
    }
    return end > now ? end : 0;
}

/* The end of the window of the callback planned for the case, when it is still ahead. */
static int64_t callback_until(const casefile_t *cf, int64_t now)
{
    const json_t *cb = json_object_get(cf->followup, "callback");
    int64_t until = json_integer_value(json_object_get(cb, "until"));
    int64_t at = json_integer_value(json_object_get(cb, "at"));

    if (until == 0 && at > 0)
        until = at + 3600; /* noted, not planned yet: at least its hour */
    return until > now ? until : 0;
}

bool hold_blocks(const casefile_t *cf, const policy_t *policy, vocab_action_t action, int64_t now,
                 int64_t *until)
{
    int64_t end = hold_action_is_held(action) ? hold_agreement_end(cf, policy, now) : 0;

    if (action == VOCAB_ACTION_CALL) {
        int64_t cb = callback_until(cf, now);
        if (cb > end)
            end = cb;
    }
    *until = end;
    return end > 0;
}

/* True for the callback task the debtor asked for (callback.h): no hold withdraws it. */
static bool is_callback(const casefile_t *cf, const casefile_task_t *t)
{
    const char *id = doc_str(json_object_get(cf->followup, "callback"), "task_id");
    return id != NULL && strcmp(id, t->task_id) == 0;
}

/* Withdraws the pending held tasks that would act before `end`. */
static int withdraw_held(casefile_t *cf, int64_t end, int64_t now, casefile_plan_t *plan)
{
    for (size_t i = 0; i < cf->n_tasks; i++) {
        casefile_task_t *t = &cf->tasks[i];
        vocab_action_t a;
        if (t->status != CASEFILE_TASK_PENDING || t->not_after <= now || t->not_before >= end ||
            vocab_action_from_name(t->action, &a) != 0 || !hold_action_is_held(a) ||
            is_callback(cf, t))
            continue;
        if (casefile_cancel_task(cf, plan, t, now, "promise_pending") < 0)
            return -1;
    }
    return 0;
}

/* ---- Reminders ------------------------------------------------------------------------------- */

/* One reminder to plan: what it is about. */
typedef struct reminder {
    const char *key;    /* "promise:<id>" or "plan:<id>:<due_on>" */
    const char *id;     /* the promise's or plan's id */
    const char *plan;   /* the plan's id, or NULL */
    const char *amount; /* what is due (text), currency and due date */
    const char *currency;
    const char *due_on;
} reminder_t;

/* Decides the reminder's channel and window: the policy's channel, else the other of sms and
 * email. Returns 0 or -1 (the zone cannot be placed). */
static int reminder_decide(const casefile_t *cf, const policy_t *policy, int64_t from,
                           vocab_channel_t *ch, contact_decision_t *d)
{
    contact_state_t cs;
    const char *action = vocab_action_name(VOCAB_ACTION_PROMISE_REMINDER);

    casefile_contact_state(cf, &cs);
    *ch = policy->planning.reminder_channel;
    if (contact_decide(&policy->contact, &cs, action, *ch, from, cf->timezone, d) < 0)
        return -1;
    if (d->verdict != CONTACT_SUPPRESS)
        return 0;
    contact_decision_t other;
    vocab_channel_t alt = *ch == VOCAB_CHANNEL_SMS ? VOCAB_CHANNEL_EMAIL : VOCAB_CHANNEL_SMS;
    if (contact_decide(&policy->contact, &cs, action, alt, from, cf->timezone, &other) < 0)
        return -1;
    if (other.verdict != CONTACT_SUPPRESS) {
        *ch = alt;
        *d = other;
    }
    return 0;
}

/* The case's next action becomes the reminder at `at` when nothing comes sooner. */
static void next_is_reminder(casefile_t *cf, const policy_t *policy, int64_t at)
{
    if (cf->has_next && cf->next_not_before <= at)
        return;
    cf->has_next = true;
    snprintf(cf->next_action, sizeof(cf->next_action), "%s",
             vocab_action_name(VOCAB_ACTION_PROMISE_REMINDER));
    snprintf(cf->next_channel, sizeof(cf->next_channel), "%s",
             vocab_channel_name(policy->planning.reminder_channel));
    cf->next_not_before = at;
}

/* The task's `promise` field (new reference). */
static json_t *promise_field(const reminder_t *rm)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "promise_id", rm->id, "amount", rm->amount,
                          "currency", rm->currency, "due_on", rm->due_on);
    if (o != NULL && rm->plan != NULL)
        json_object_set_new(o, "plan_id", json_string(rm->plan));
    return o;
}

/* Plans reminder `rm` when its day has come and it was not planned yet. */
static int remind(casefile_t *cf, const policy_t *policy, const reminder_t *rm, int64_t now,
                  casefile_plan_t *plan)
{
    int64_t due, today, opens, due_end;
    char reason[300];

    if (rm->amount == NULL || rm->due_on == NULL || cal_parse_day(rm->due_on, &due) < 0)
        return 0;
    if (cal_local_day(cf->timezone, now, &today) < 0 ||
        day_start(cf->timezone, due - policy->planning.reminder_days_before, &opens) < 0 ||
        day_start(cf->timezone, due + 1, &due_end) < 0)
        return -1;
    if (now < opens) {
        next_is_reminder(cf, policy, opens);
        return 0;
    }
    if (today > due || hold_sent(cf, rm->key))
        return 0;
    casefile_task_t t;
    contact_decision_t d;
    vocab_channel_t ch;
    if (reminder_decide(cf, policy, now, &ch, &d) < 0 || hold_mark_sent(cf, rm->key) < 0)
        return -1;
    if (d.verdict != CONTACT_SUPPRESS && d.not_before >= due_end)
        return 0; /* the first allowed moment is after the due day: too late to remind */
    memset(&t, 0, sizeof(t));
    hold_task_id(cf, "promise_reminder", rm->key, t.task_id);
    snprintf(t.action, sizeof(t.action), "%s", vocab_action_name(VOCAB_ACTION_PROMISE_REMINDER));
    snprintf(t.channel, sizeof(t.channel), "%s", vocab_channel_name(ch));
    snprintf(t.template_name, sizeof(t.template_name), "%s", policy->planning.reminder_template);
    t.priority = 3;
    t.not_before = d.not_before;
    t.not_after = d.not_after;
    if (d.verdict == CONTACT_SUPPRESS) {
        t.status = CASEFILE_TASK_SUPPRESSED;
        snprintf(t.reason, sizeof(t.reason), "%s", d.reason);
    }
    if (rm->plan != NULL)
        snprintf(reason, sizeof(reason), "plan %s instalment due %s", rm->plan, rm->due_on);
    else
        snprintf(reason, sizeof(reason), "promise %s due %s", rm->id, rm->due_on);
    return casefile_emit_task(cf, &t, reason, d.verdict != CONTACT_ALLOW ? d.reason : NULL,
                              promise_field(rm), now, plan);
}

static int reminders(casefile_t *cf, const policy_t *policy, int64_t now, casefile_plan_t *plan)
{
    char key[300];
    const json_t *p = cf->open_promise, *pl = cf->active_plan;

    if (doc_in_state(p, "pending") && doc_str(p, "promise_id") != NULL) {
        snprintf(key, sizeof(key), "promise:%s", doc_str(p, "promise_id"));
        reminder_t rm = {key,
                         doc_str(p, "promise_id"),
                         NULL,
                         doc_str(p, "amount"),
                         doc_str(p, "currency"),
                         doc_str(p, "due_on")};
        if (remind(cf, policy, &rm, now, plan) < 0)
            return -1;
    }
    if (doc_in_state(pl, "active") && doc_str(pl, "plan_id") != NULL &&
        doc_str(pl, "next_due_on") != NULL) {
        snprintf(key, sizeof(key), "plan:%s:%s", doc_str(pl, "plan_id"),
                 doc_str(pl, "next_due_on"));
        reminder_t rm = {key,
                         doc_str(pl, "plan_id"),
                         doc_str(pl, "plan_id"),
                         doc_str(pl, "next_amount"),
                         doc_str(pl, "currency"),
                         doc_str(pl, "next_due_on")};
        if (remind(cf, policy, &rm, now, plan) < 0)
            return -1;
    }
    return 0;
}

/* ---- Follow-up after a break ----------------------------------------------------------------- */

/* The follow-up step: the policy's, or the first call of the case's ladder. False: none. */
static bool follow_up_step(const casefile_t *cf, const policy_t *policy, strategy_step_t *out)
{
    const planrules_t *pr = &policy->planning;

    if (!pr->has_follow_up)
        return false;
    if (!pr->follow_up_from_ladder) {
        out->action = pr->follow_up_action;
        out->channel = pr->follow_up_channel;
        out->template_name = (char *)pr->follow_up_template;
        out->priority = pr->follow_up_priority;
        return true;
    }
    const strategy_t *s = policy_strategy_for(policy, cf->segment);
    for (size_t v = 0; s != NULL && v < s->nvariants; v++) {
        if (strcmp(s->variants[v].name, cf->variant) != 0)
            continue;
        for (size_t i = 0; i < s->variants[v].nsteps; i++)
            if (s->variants[v].steps[i].action == VOCAB_ACTION_CALL) {
                *out = s->variants[v].steps[i];
                return true;
            }
    }
    return false;
}

/* The broken promise or defaulted plan of this planning: its key and reason into buffers. */
static bool broken_in(const casefile_plan_t *plan, char *key, size_t klen, char *reason,
                      size_t rlen)
{
    for (size_t i = 0; i < plan->n_outputs; i++) {
        const casefile_output_t *o = &plan->outputs[i];
        const char *pid = doc_str(o->data, "promise_id"), *plid = doc_str(o->data, "plan_id");
        if (strcmp(o->type, "promise.broken") == 0 && pid != NULL) {
            snprintf(key, klen, "follow_up:%s", pid);
            snprintf(reason, rlen, "promise %s broken: follow-up", pid);
            return true;
        }
        if (strcmp(o->type, "plan.defaulted") == 0 && plid != NULL) {
            snprintf(key, klen, "follow_up:plan:%s", plid);
            snprintf(reason, rlen, "plan %s defaulted: follow-up", plid);
            return true;
        }
    }
    return false;
}

static int follow_up(casefile_t *cf, const policy_t *policy, int64_t now, casefile_plan_t *plan)
{
    char key[300], reason[300];
    strategy_step_t st;
    contact_state_t cs;
    contact_decision_t d;
    casefile_task_t t;

    if (!broken_in(plan, key, sizeof(key), reason, sizeof(reason)) || hold_sent(cf, key) ||
        !follow_up_step(cf, policy, &st))
        return 0;
    for (size_t i = 0; i < cf->n_tasks; i++) /* the ladder's own call of this planning serves */
        if (cf->tasks[i].is_new && cf->tasks[i].status == CASEFILE_TASK_PENDING &&
            strcmp(cf->tasks[i].action, vocab_action_name(st.action)) == 0)
            return hold_mark_sent(cf, key);
    casefile_contact_state(cf, &cs);
    int64_t from = now, cb = callback_until(cf, now);
    if (st.action == VOCAB_ACTION_CALL && cb > now)
        from = cb; /* no call before the callback the debtor asked for */
    if (contact_decide(&policy->contact, &cs, vocab_action_name(st.action), st.channel, from,
                       cf->timezone, &d) < 0 ||
        hold_mark_sent(cf, key) < 0)
        return -1;
    memset(&t, 0, sizeof(t));
    hold_task_id(cf, "follow_up", key, t.task_id);
    snprintf(t.action, sizeof(t.action), "%s", vocab_action_name(st.action));
    snprintf(t.channel, sizeof(t.channel), "%s", vocab_channel_name(st.channel));
    snprintf(t.template_name, sizeof(t.template_name), "%s", st.template_name);
    t.priority = st.priority;
    t.not_before = d.not_before;
    t.not_after = d.not_after;
    if (d.verdict == CONTACT_SUPPRESS) {
        t.status = CASEFILE_TASK_SUPPRESSED;
        snprintf(t.reason, sizeof(t.reason), "%s", d.reason);
    } else if (d.verdict == CONTACT_DEFER) {
        size_t n = strlen(reason);
        snprintf(reason + n, sizeof(reason) - n, ", deferred (%s)", d.reason);
    }
    return casefile_emit_task(cf, &t, reason, d.verdict != CONTACT_ALLOW ? d.reason : NULL, NULL,
                              now, plan);
}

int hold_plan(casefile_t *cf, const policy_t *policy, int64_t now, casefile_plan_t *plan)
{
    if (!cf->segmented || cf->segment == SEGMENT_RESOLVED || cf->timezone[0] == '\0')
        return 0;
    int64_t end = hold_agreement_end(cf, policy, now);
    if (end > 0 && withdraw_held(cf, end, now, plan) < 0)
        return -1;
    if (reminders(cf, policy, now, plan) < 0)
        return -1;
    return follow_up(cf, policy, now, plan);
}
