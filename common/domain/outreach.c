/* outreach.c - skip tracing and restoring a restricted service (see outreach.h). */
#include "outreach.h"

#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "contact.h"
#include "hold.h"

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
    json_t *arr = json_object_get(cf->followup, "unreached");
    if (!json_is_array(arr) &&
        ((arr = json_array()) == NULL || json_object_set_new(cf->followup, "unreached", arr) < 0))
        return -1;
    if (json_array_append_new(arr, json_integer(at)) < 0)
        return -1;
    while (json_array_size(arr) > OUTREACH_KEEP)
        json_array_remove(arr, 0);
    cf->followup_dirty = true;
    return 0;
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
    if (action == VOCAB_ACTION_RESTORE_SERVICE) /* ends a pressure: nothing pauses it */
        cs.dispute_open = false, cs.forbearance_from = cs.forbearance_until = 0;
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
    return casefile_emit_task(cf, &t, reason, d.verdict == CONTACT_DEFER ? d.reason : NULL, NULL,
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

int outreach_plan(casefile_t *cf, const policy_t *policy, int64_t now, casefile_plan_t *plan)
{
    if (!cf->segmented || cf->timezone[0] == '\0')
        return 0;
    if (restore(cf, policy, now, plan) < 0)
        return -1;
    if (cf->segment == SEGMENT_RESOLVED)
        return 0;
    return skip_trace(cf, policy, now, plan);
}
