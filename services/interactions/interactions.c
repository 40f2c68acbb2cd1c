/* interactions.c - the interactions worker's part (see interactions.h): an interaction applied
 * to its case (caseinteract.h) and recorded (interactstore.h); promises and plans go to the
 * payments side (paystore.h). */
#include "interactions.h"

#include <stdio.h>
#include <string.h>

#include "caseinteract.h"
#include "casestore.h"
#include "interactstore.h"
#include "log.h"
#include "metrics.h"
#include "paystore.h"

static const char *const consumed_types[] = {
    "contact.attempted", "promise.made",        "plan.agreed",        "debt.disputed",
    "dispute.resolved",  "contact.preferences", "forbearance.granted"};

static void count_task_outcome(caseinteract_task_t t)
{
    static const char *const names[] = {NULL, "done", "failed", "not_pending"};
    char labels[64];
    if (t == CASEINTERACT_TASK_NONE)
        return;
    snprintf(labels, sizeof(labels), "result=\"%s\"", names[t]);
    metrics_inc("recobro_task_reports_total",
                "contact.attempted reports carrying a task_id, by what they did to the task",
                labels, 1);
}

/* Applies the interaction itself to the locked case: the pure decision and its rows. Returns
 * RESULT_OK (maybe with m rejected), RESULT_TRANSIENT or RESULT_PERMANENT. */
static int interactions_apply(void *ud, const policy_t *policy, PGconn *conn, casefile_t *cf,
                              wk_msg_t *m, int64_t now, casefile_plan_t *plan)
{
    const ce_event_t *ev = &m->ev;
    const contact_rules_t *rules = &policy->contact;
    reason_t cerr;
    char err[600];
    int rc = 0;

    (void)ud;

    if (strcmp(ev->type, "contact.attempted") == 0) {
        caseinteract_task_t task;
        if (caseinteract_contact(cf, ev->data, &task, &cerr) < 0) {
            wk_reject(m, cerr.code, "%s", cerr.detail);
            return RESULT_OK;
        }
        count_task_outcome(task);
        rc = interactstore_log_contact(conn, cf->creditor_id, cf->debtor_id, ev, err, sizeof(err));
    } else if (strcmp(ev->type, "debt.disputed") == 0) {
        if (caseinteract_dispute_opened(cf, now, plan) < 0)
            return RESULT_PERMANENT;
        rc = interactstore_open_dispute(conn, cf->creditor_id, cf->debtor_id, ev, err, sizeof(err));
    } else if (strcmp(ev->type, "dispute.resolved") == 0) {
        json_t *invoices = NULL;
        bool still_open = false;
        rc = interactstore_resolve_disputes(conn, cf->creditor_id, cf->debtor_id, ev, &invoices,
                                            &still_open, err, sizeof(err));
        if (rc == 0) {
            const char *ids[64];
            size_t n = 0, i;
            json_t *v;
            json_array_foreach(invoices, i, v)
            {
                if (n < sizeof(ids) / sizeof(ids[0]))
                    ids[n++] = json_string_value(v);
            }
            bool upheld =
                strcmp(json_string_value(json_object_get(ev->data, "outcome")), "upheld") == 0;
            int r = caseinteract_dispute_resolved(
                cf, upheld, json_string_value(json_object_get(ev->data, "invoice_id")), ids, n,
                still_open, &cerr);
            json_decref(invoices);
            if (r < 0) {
                LOG_WARN("dispute.resolve_failed", "\"code\":\"%s\"", cerr.code);
                return RESULT_PERMANENT;
            }
        }
    } else if (strcmp(ev->type, "contact.preferences") == 0) {
        if (caseinteract_preferences(cf, ev->data, rules, now, plan) < 0)
            return RESULT_PERMANENT;
        rc = interactstore_save_preferences(conn, cf->creditor_id, cf->debtor_id, ev, err,
                                            sizeof(err));
    } else if (strcmp(ev->type, "forbearance.granted") == 0) {
        if (caseinteract_forbearance(cf, json_string_value(json_object_get(ev->data, "from")),
                                     json_string_value(json_object_get(ev->data, "until")), rules,
                                     now, plan, &cerr) < 0) {
            wk_reject(m, cerr.code, "%s", cerr.detail);
            return RESULT_OK;
        }
        rc = interactstore_add_forbearance(conn, cf->creditor_id, cf->debtor_id, ev, err,
                                           sizeof(err));
    } else {
        /* promise.made / plan.agreed: recorded, checked against the negotiation limits and
         * applied (or sent to a supervisor) by the payments side. */
        bool promise = strcmp(ev->type, "promise.made") == 0;
        rc = promise ? paystore_record_promise(conn, cf, policy, ev, now, INTERACTIONS_SOURCE, plan,
                                               &cerr, err, sizeof(err))
                     : paystore_record_plan(conn, cf, policy, ev, now, INTERACTIONS_SOURCE, plan,
                                            &cerr, err, sizeof(err));
        if (rc == RESULT_REJECTED) {
            wk_reject(m, cerr.code, "%s", cerr.detail);
            return RESULT_OK;
        }
        if (rc == RESULT_TRANSIENT)
            rc = RESULT_TRANSIENT;
    }
    return rc == 0 ? RESULT_OK : caseworker_store_error(rc, ev->type, err);
}

void interactions_spec(caseworker_spec_t *spec)
{
    *spec = (caseworker_spec_t){"interactions",
                                INTERACTIONS_SOURCE,
                                consumed_types,
                                sizeof(consumed_types) / sizeof(consumed_types[0]),
                                interactstore_prepare,
                                interactions_apply,
                                NULL};
}
