/* interactions.c - the interactions worker's handler table (see interactions.h). */
#include "interactions.h"

#include <stddef.h>
#include <stdio.h>

#include "caseinteract.h"
#include "metrics.h"

/* Counts what a contact.attempted carrying a task_id did to its task. */
static void count_task_report(const casefile_t *cf)
{
    static const char *const names[] = {NULL, "done", "failed", "not_pending"};
    char labels[64];
    caseinteract_task_t t = (caseinteract_task_t)cf->rows.task_report;

    if (t == CASEINTERACT_TASK_NONE)
        return;
    snprintf(labels, sizeof(labels), "result=\"%s\"", names[t]);
    metrics_inc("recobro_task_reports_total",
                "contact.attempted reports carrying a task_id, by what they did to the task",
                labels, 1);
}

static const pipeline_handler_t handlers[] = {
    {"contact.attempted", 0, NULL, casedecide_contact, count_task_report},
    {"promise.made", CASEFILE_ROW_PROMISE | CASEFILE_ROW_PENDING, "promise_id",
     casedecide_promise_made, NULL},
    {"plan.agreed", CASEFILE_ROW_PLAN | CASEFILE_ROW_PENDING | CASEFILE_ROW_OPEN_PLAN, "plan_id",
     casedecide_plan_agreed, NULL},
    {"debt.disputed", 0, NULL, casedecide_dispute_opened, NULL},
    {"dispute.resolved", CASEFILE_ROW_DISPUTES, NULL, casedecide_dispute_resolved, NULL},
    {"contact.preferences", 0, NULL, casedecide_preferences, NULL},
    {"forbearance.granted", 0, NULL, casedecide_forbearance, NULL},
    {"forbearance.ended", 0, NULL, casedecide_forbearance_ended, NULL},
};

const pipeline_spec_t interactions_spec = {
    "interactions",
    "Records contact attempts, disputes, contact preferences, forbearances, promises and plans, "
    "and re-plans each case's compliant tasks.",
    INTERACTIONS_SOURCE,
    offsetof(config_t, topic_interactions),
    handlers,
    sizeof(handlers) / sizeof(handlers[0]),
};
