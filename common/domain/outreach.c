/* outreach.c - skip tracing and restoring a restricted service (see outreach.h). */
#include "outreach.h"

#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "contact.h"
#include "hold.h"
#include "strategy.h"

#define OUTREACH_KEEP 100 /* unreached attempts remembered: the most unreached.attempts allows */

static int64_t fu_int(const casefile_t *cf, const char *key)
{
    return json_integer_value(json_object_get(cf->followup, key));
}

static int fu_set_int(casefile_t *cf, const char *key, int64_t v)
{
    cf->followup_dirty = true;
    return json_object_set_new(cf->followup, key, json_integer(v));
}

static bool is_one_of(const char *s, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

int outreach_note(casefile_t *cf, const json_t *data)
{
    static const char *const unreached[] = {"no_answer", "voicemail", "wrong_party",
                                            "delivery_failed", NULL};
    static const char *const reached[] = {"right_party", "refused", "callback_requested", NULL};
    const char *outcome = json_string_value(json_object_get(data, "outcome"));
    int64_t at;

    if (outcome == NULL ||
        cal_parse_instant(json_string_value(json_object_get(data, "at")), &at, NULL) < 0)
        return 0;
    if (is_one_of(outcome, reached))
        return at > fu_int(cf, "reached_at") ? fu_set_int(cf, "reached_at", at) : 0;
    if (!is_one_of(outcome, unreached))
        return 0;
    if (strcmp(outcome, "wrong_party") == 0 && at > fu_int(cf, "wrong_party_at") &&
        fu_set_int(cf, "wrong_party_at", at) < 0)
        return -1;
    return hold_followup_push(cf, "unreached", json_integer(at), OUTREACH_KEEP);
}

/* Attempts that reached nobody after `since`. */
static int unreached_since(const casefile_t *cf, int64_t since)
{
    size_t i;
    json_t *v;
    int n = 0;

    json_array_foreach(json_object_get(cf->followup, "unreached"), i, v)
    {
        if (json_integer_value(v) > since)
            n++;
    }
    return n;
}

/* An internal task of `action` now, with its stable key, template and reason. */
static int internal_task(casefile_t *cf, const policy_t *policy, vocab_action_t action,
                         const char *key, const char *reason, int64_t now, casefile_plan_t *plan)
{
    contact_state_t cs;
    contact_decision_t d;
    casefile_task_t t;
    const char *name = vocab_action_name(action);

    casefile_contact_state(cf, &cs);
    if (contact_decide(&policy->contact, &cs, name, VOCAB_CHANNEL_INTERNAL, now, cf->timezone, &d) <
        0)
        return -1;
    memset(&t, 0, sizeof(t));
    hold_task_id(cf, name, key, t.task_id);
    snprintf(t.action, sizeof(t.action), "%s", name);
    snprintf(t.channel, sizeof(t.channel), "internal");
    snprintf(t.template_name, sizeof(t.template_name), "%s", name);
    t.priority = 3;
    t.not_before = d.not_before;
    t.not_after = d.not_after;
    if (d.verdict == CONTACT_SUPPRESS) {
        t.status = CASEFILE_TASK_SUPPRESSED;
        snprintf(t.reason, sizeof(t.reason), "%s", d.reason);
    }
    return casefile_emit_task(cf, &t, reason, d.verdict != CONTACT_ALLOW ? d.reason : NULL, NULL,
                              now, plan);
}

static int skip_trace(casefile_t *cf, const policy_t *policy, int64_t now, casefile_plan_t *plan)
{
    const planrules_t *pr = &policy->planning;
    int64_t period = (int64_t)pr->unreached_days * 86400, last = fu_int(cf, "skip_trace_at");
    int64_t reached = fu_int(cf, "reached_at"), since = now - period;
    char reason[128], key[32];

    if (last > 0 && now - last < period)
        return 0;
    int n = unreached_since(cf, since > reached ? since : reached);
    bool wrong = fu_int(cf, "wrong_party_at") > last && fu_int(cf, "wrong_party_at") > reached;
    if (n < pr->unreached_attempts && !wrong)
        return 0;
    if (wrong)
        snprintf(reason, sizeof(reason), "wrong party reached: skip trace");
    else
        snprintf(reason, sizeof(reason), "unreached: %d attempts in %d days", n,
                 pr->unreached_days);
    snprintf(key, sizeof(key), "%lld", (long long)now);
    if (fu_set_int(cf, "skip_trace_at", now) < 0)
        return -1;
    return internal_task(cf, policy, VOCAB_ACTION_SKIP_TRACE, key, reason, now, plan);
}

/* True when a restrict_service task was planned in this planning. */
static bool restricted_now(const casefile_t *cf)
{
    for (size_t i = 0; i < cf->n_tasks; i++)
        if (cf->tasks[i].is_new && cf->tasks[i].status == CASEFILE_TASK_PENDING &&
            strcmp(cf->tasks[i].action, "restrict_service") == 0)
            return true;
    return false;
}

static int restore(casefile_t *cf, const policy_t *policy, int64_t now, casefile_plan_t *plan)
{
    const char *plan_state = json_string_value(json_object_get(cf->active_plan, "state"));
    bool plan_active = plan_state != NULL && strcmp(plan_state, "active") == 0;
    char key[32];

    if (restricted_now(cf) && !json_is_true(json_object_get(cf->followup, "restricted"))) {
        cf->followup_dirty = true;
        if (json_object_set_new(cf->followup, "restricted", json_true()) < 0)
            return -1;
    }
    if (!json_is_true(json_object_get(cf->followup, "restricted")) ||
        (cf->segment != SEGMENT_RESOLVED && !plan_active))
        return 0;
    int64_t n = fu_int(cf, "restores") + 1;
    snprintf(key, sizeof(key), "%lld", (long long)n);
    if (fu_set_int(cf, "restores", n) < 0 ||
        json_object_set_new(cf->followup, "restricted", json_false()) < 0)
        return -1;
    return internal_task(cf, policy, VOCAB_ACTION_RESTORE_SERVICE, key,
                         cf->segment == SEGMENT_RESOLVED ? "restore service: case resolved"
                                                         : "restore service: plan agreed",
                         now, plan);
}

/* ---- Delivery fallback ---------------------------------------------------------------------- */

/* The ladder step task `t` (of the current entry) was planned from, or NULL. */
static const strategy_step_t *step_of(const casefile_t *cf, const policy_t *policy,
                                      const casefile_task_t *t)
{
    const strategy_t *s = policy_strategy_for(policy, cf->segment);

    if (s == NULL || t->step <= 0 || t->segment_seq != cf->segment_seq ||
        strcmp(t->segment, segment_name(cf->segment)) != 0)
        return NULL;
    for (size_t v = 0; v < s->nvariants; v++)
        if (strcmp(s->variants[v].name, cf->variant) == 0) {
            size_t i = (size_t)t->step <= s->variants[v].nsteps ? (size_t)t->step - 1
                                                                : s->variants[v].nsteps - 1;
            return &s->variants[v].steps[i];
        }
    return NULL;
}

/* The channel after `ch` in the step's order (its channel, then its fallback_channels). */
static bool next_channel(const strategy_step_t *st, const char *ch, vocab_channel_t *out)
{
    vocab_channel_t order[VOCAB_CHANNEL_COUNT + 1];
    int n = 0;

    order[n++] = st->channel;
    for (int k = 0; k < st->n_fallback; k++)
        order[n++] = st->fallback[k];
    for (int k = 0; k + 1 < n; k++)
        if (strcmp(vocab_channel_name(order[k]), ch) == 0) {
            *out = order[k + 1];
            return true;
        }
    return false;
}

/* Plans the next channel of the step of a task reported delivery_failed by this event. */
static int fallback_one(casefile_t *cf, const policy_t *policy, const casefile_task_t *failed,
                        int64_t now, casefile_plan_t *plan)
{
    const strategy_step_t *st = step_of(cf, policy, failed);
    vocab_channel_t ch;
    contact_state_t cs;
    contact_decision_t d;
    casefile_task_t t;
    char key[128], reason[160];

    if (st == NULL || !next_channel(st, failed->channel, &ch))
        return 0;
    casefile_contact_state(cf, &cs);
    if (contact_decide(&policy->contact, &cs, failed->action, ch, now, cf->timezone, &d) < 0)
        return -1;
    memset(&t, 0, sizeof(t));
    snprintf(key, sizeof(key), "%s:%s", failed->task_id, vocab_channel_name(ch));
    hold_task_id(cf, "fallback", key, t.task_id);
    snprintf(t.action, sizeof(t.action), "%s", failed->action);
    snprintf(t.channel, sizeof(t.channel), "%s", vocab_channel_name(ch));
    snprintf(t.template_name, sizeof(t.template_name), "%s", failed->template_name);
    t.priority = failed->priority;
    t.step = failed->step;
    t.not_before = d.not_before;
    t.not_after = d.not_after;
    if (d.verdict == CONTACT_SUPPRESS) {
        t.status = CASEFILE_TASK_SUPPRESSED;
        snprintf(t.reason, sizeof(t.reason), "%s", d.reason);
    }
    snprintf(reason, sizeof(reason), "step %d: %s failed, fallback to %s", failed->step,
             failed->channel, vocab_channel_name(ch));
    return casefile_emit_task(cf, &t, reason, d.verdict != CONTACT_ALLOW ? d.reason : NULL, NULL,
                              now, plan);
}

static int fallback(casefile_t *cf, const policy_t *policy, int64_t now, casefile_plan_t *plan)
{
    if (!policy->planning.delivery_fallback)
        return 0;
    size_t n = cf->n_tasks; /* the tasks planned here are not failures of this event */
    for (size_t i = 0; i < n; i++) {
        casefile_task_t failed = cf->tasks[i]; /* a copy: planning may move the array */
        if (failed.status == CASEFILE_TASK_FAILED && failed.status_dirty &&
            fallback_one(cf, policy, &failed, now, plan) < 0)
            return -1;
    }
    return 0;
}

int outreach_plan(casefile_t *cf, const policy_t *policy, int64_t now, casefile_plan_t *plan)
{
    if (!cf->segmented || cf->timezone[0] == '\0')
        return 0;
    if (restore(cf, policy, now, plan) < 0)
        return -1;
    if (cf->segment == SEGMENT_RESOLVED)
        return 0;
    if (fallback(cf, policy, now, plan) < 0)
        return -1;
    return skip_trace(cf, policy, now, plan);
}
